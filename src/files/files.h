/* File transfer protocol, version 1 (docs/file-transfer.md): the pure part.
 *
 * Manifest encoding, chunk arithmetic, per-session keys, chunk sealing and
 * opening, data-lane frames and control messages. No I/O, no clock, no
 * global state: the transfer engine (and a fuzzer) feeds bytes in and gets
 * bytes out. The browser SDK (web/sdk/files*.js) implements the same
 * contract; tests/vectors/file-transfer-v1.json proves the two agree.
 *
 * Thread-safety: every function is reentrant; nothing is shared. The
 * crypto functions call sodium_init(), which libsodium makes thread-safe.
 * Errors: 0 or a negative W2_E* code (core/error.h). Functions that take a
 * `detail` buffer (W2_FILE_DETAIL_MAX bytes, may be NULL) write there a
 * sentence naming the field that failed, fit to send in an `error`. */
#ifndef W2_FILES_FILES_H
#define W2_FILES_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define W2_FILE_VERSION 1
#define W2_FILE_ID_LEN 16
#define W2_FILE_PK_LEN 32  /* X25519 public key */
#define W2_FILE_SK_LEN 32  /* X25519 secret key */
#define W2_FILE_KEY_LEN 32 /* ChaCha20-Poly1305 session key */
#define W2_FILE_SHA256_LEN 32
#define W2_FILE_TAG_LEN 16 /* Poly1305 tag after each sealed chunk */
#define W2_FILE_NONCE_LEN 12
#define W2_FILE_AD_LEN (W2_FILE_ID_LEN + 8 + 1)
#define W2_FILE_NAME_MAX 1024 /* bytes of UTF-8 */
#define W2_FILE_PATH_MAX 4096 /* bytes of UTF-8 */
#define W2_FILE_CHUNK_MIN 16384u
/* A frame (26-byte header + chunk + tag) stays under Chromium's 256 KiB
 * message limit. */
#define W2_FILE_CHUNK_MAX 262100u
#define W2_FILE_CHUNK_DEFAULT 65536u
/* 2^53 - 1: the largest integer a JavaScript number holds exactly. */
#define W2_FILE_SIZE_MAX 9007199254740991ull
#define W2_FILE_MAGIC "webrtc2-file/1"
#define W2_FILE_MAGIC_LEN 14
/* The longest manifest: magic, id, size, chunkSize, enc, hasHash, hash,
 * two u16 lengths, name and path at their limits. */
#define W2_FILE_MANIFEST_MAX                                                                       \
	(W2_FILE_MAGIC_LEN + W2_FILE_ID_LEN + 8 + 4 + 1 + 1 + W2_FILE_SHA256_LEN + 2 +             \
	 W2_FILE_NAME_MAX + 2 + W2_FILE_PATH_MAX)
#define W2_FILE_FRAME_HEADER_LEN (1 + 1 + W2_FILE_ID_LEN + 8)
#define W2_FILE_FRAME_MAX (W2_FILE_FRAME_HEADER_LEN + W2_FILE_CHUNK_MAX + W2_FILE_TAG_LEN)
#define W2_FILE_FRAME_CHUNK 1 /* frame type */
#define W2_FILE_CONTROL_MAX 65536 /* bytes of one control message */
#define W2_FILE_RANGES_MAX 4096   /* [start, end) ranges in `have` / `nack` */
#define W2_FILE_MIME_MAX 255      /* RFC 6838 section 4.2: 127 + "/" + 127 */
#define W2_FILE_TEXT_MAX 512      /* `reason` / `message` kept, cut beyond */
#define W2_FILE_LANES_MAX 8
#define W2_FILE_DETAIL_MAX 160

enum w2_file_enc {
	W2_FILE_ENC_NONE = 0,
	W2_FILE_ENC_CHACHA = 1, /* "chacha20-poly1305" */
};

/* What an offer promises: the input of the manifest encoding (section
 * "Keys", step 3). Strings are NUL-terminated UTF-8; an empty path means
 * "none". Caller storage: plain data, no ownership. */
struct w2_file_manifest {
	uint8_t id[W2_FILE_ID_LEN];
	uint64_t size;
	uint32_t chunk_size;
	enum w2_file_enc enc;
	bool has_hash;
	uint8_t sha256[W2_FILE_SHA256_LEN];
	char name[W2_FILE_NAME_MAX + 1];
	char path[W2_FILE_PATH_MAX + 1];
};

/* ---- manifest ---- */

/* 0 if m keeps every rule of the doc: size <= 2^53 - 1, chunk_size in
 * [16384, 262100], a known enc, name valid UTF-8 of at most 1024 bytes,
 * path empty or valid UTF-8 of at most 4096 bytes, relative, `/`-separated
 * without empty or `..` segments; W2_EINVAL otherwise. NUL cannot
 * occur in either string (no file system stores it in a name). */
int w2_file_manifest_validate(const struct w2_file_manifest *m, char *detail);

/* Writes the manifest bytes of m to out (cap bytes; W2_FILE_MANIFEST_MAX is
 * always enough) and their length to *len. W2_EINVAL if m is not valid,
 * W2_ELIMIT if cap is too small. */
int w2_file_manifest_encode(const struct w2_file_manifest *m, uint8_t *out, size_t cap,
			    size_t *len);

/* Reads manifest bytes (as persisted with a partial file) back into *m and
 * validates them; trailing bytes are an error. W2_EINVAL on any problem. */
int w2_file_manifest_decode(const uint8_t *buf, size_t len, struct w2_file_manifest *m,
			    char *detail);

/* True if a and b encode to the same manifest bytes (what a receiver checks
 * before resuming a transfer). */
bool w2_file_manifest_equal(const struct w2_file_manifest *a, const struct w2_file_manifest *b);

/* ---- chunks ---- */

/* n = ceil(size / chunk_size); 0 for an empty file. m must be valid. */
uint64_t w2_file_chunk_count(const struct w2_file_manifest *m);

/* Plaintext length of chunk `index` into *len; W2_EINVAL if index >= n. */
int w2_file_chunk_len(const struct w2_file_manifest *m, uint64_t index, size_t *len);

/* Byte offset of chunk `index` in the file (index * chunk_size). */
uint64_t w2_file_chunk_offset(const struct w2_file_manifest *m, uint64_t index);

/* ---- keys ---- */

/* A fresh ephemeral X25519 key pair (crypto_box_keypair). W2_EIO if
 * libsodium cannot start. */
int w2_file_keypair(uint8_t pk[W2_FILE_PK_LEN], uint8_t sk[W2_FILE_SK_LEN]);

/* The public key of secret key sk (crypto_scalarmult_base). */
int w2_file_public_key(const uint8_t sk[W2_FILE_SK_LEN], uint8_t pk[W2_FILE_PK_LEN]);

/* transcript = SHA-256(manifest || sender_pk || receiver_pk). W2_EINVAL if
 * m is not valid. */
int w2_file_transcript(const struct w2_file_manifest *m, const uint8_t sender_pk[W2_FILE_PK_LEN],
		       const uint8_t receiver_pk[W2_FILE_PK_LEN], uint8_t out[W2_FILE_SHA256_LEN]);

/* The session's chunk key:
 *   shared = X25519(own_sk, peer_pk)
 *   key = BLAKE2b-256("webrtc2-file/1 chunk key" || transcript, key = shared)
 * own_sk's public key must be sender_pk or receiver_pk and peer_pk the
 * other one (W2_EINVAL otherwise: a caller mix-up). W2_EAUTH if peer_pk is
 * a low-order point (the shared secret would be all zero). The shared
 * secret is wiped before returning. */
int w2_file_session_key(const uint8_t own_sk[W2_FILE_SK_LEN], const uint8_t peer_pk[W2_FILE_PK_LEN],
			const struct w2_file_manifest *m, const uint8_t sender_pk[W2_FILE_PK_LEN],
			const uint8_t receiver_pk[W2_FILE_PK_LEN], uint8_t key_out[W2_FILE_KEY_LEN]);

/* ---- chunk sealing ---- */

/* Payload length of chunk `index` on the wire: its plaintext length, plus
 * the tag under chacha20-poly1305. W2_EINVAL if index >= n. */
int w2_file_payload_len(const struct w2_file_manifest *m, uint64_t index, size_t *len);

/* Seals chunk `index` (plain, exactly its chunk length) into out (cap
 * bytes): ciphertext || tag, or the plaintext itself under enc none (key
 * unused, may be NULL then). out may equal plain. *out_len gets the
 * payload length. W2_EINVAL on a wrong index or length, W2_ELIMIT if cap
 * is too small. */
int w2_file_chunk_seal(const uint8_t key[W2_FILE_KEY_LEN], const struct w2_file_manifest *m,
		       uint64_t index, const uint8_t *plain, size_t plain_len, uint8_t *out,
		       size_t cap, size_t *out_len);

/* Opens the payload of chunk `index` into out (cap bytes; the chunk length
 * is enough; out may equal payload). W2_EINVAL if the index or payload
 * length is wrong, W2_EAUTH if the payload does not verify (out is then
 * zeroed: nothing unverified leaks), W2_ELIMIT if cap is too small. */
int w2_file_chunk_open(const uint8_t key[W2_FILE_KEY_LEN], const struct w2_file_manifest *m,
		       uint64_t index, const uint8_t *payload, size_t payload_len, uint8_t *out,
		       size_t cap, size_t *out_len);

/* ---- frames ---- */

/* A parsed frame: borrows the buffer it was parsed from. */
struct w2_file_frame {
	uint8_t id[W2_FILE_ID_LEN];
	uint64_t index;
	const uint8_t *payload;
	size_t payload_len;
};

/* Parses the frame header (version 1, type chunk, 26 bytes) of buf; the
 * rest is the payload. The caller then finds the transfer by frame->id and
 * calls w2_file_frame_check. W2_EINVAL on a short frame, W2_EPROTO on an
 * unknown version or type. */
int w2_file_frame_parse(const uint8_t *buf, size_t len, struct w2_file_frame *frame,
			char *detail);

/* Checks a parsed frame against its transfer's manifest: the same id,
 * index < n, payload length = the chunk's length [+ 16]. W2_EINVAL if not. */
int w2_file_frame_check(const struct w2_file_frame *frame, const struct w2_file_manifest *m,
			char *detail);

/* Writes the frame of chunk `index` with this payload to out (cap bytes)
 * after checking the payload length against m. payload may already sit at
 * out + W2_FILE_FRAME_HEADER_LEN (sealed in place): then nothing is
 * copied. W2_EINVAL on a wrong index or length, W2_ELIMIT if cap is short. */
int w2_file_frame_encode(const struct w2_file_manifest *m, uint64_t index, const uint8_t *payload,
			 size_t payload_len, uint8_t *out, size_t cap, size_t *out_len);

/* ---- control messages ---- */

enum w2_file_ctrl_type {
	W2_FILE_CTRL_OFFER = 1,
	W2_FILE_CTRL_ACCEPT,
	W2_FILE_CTRL_REJECT,
	W2_FILE_CTRL_PAUSE,
	W2_FILE_CTRL_CONTINUE,
	W2_FILE_CTRL_NACK,
	W2_FILE_CTRL_DONE,
	W2_FILE_CTRL_COMPLETE,
	W2_FILE_CTRL_CANCEL,
	W2_FILE_CTRL_ERROR,
};

/* The codes of `error` messages. An unknown code received is kept as
 * W2_FILE_CODE_OTHER (the transfer fails either way; answering an error
 * with an error could loop). */
enum w2_file_code {
	W2_FILE_CODE_OTHER = 0,
	W2_FILE_CODE_BAD_MESSAGE,
	W2_FILE_CODE_UNSUPPORTED,
	W2_FILE_CODE_INTEGRITY,
	W2_FILE_CODE_TOO_LARGE,
	W2_FILE_CODE_STORAGE,
	W2_FILE_CODE_CANCELLED,
	W2_FILE_CODE_INTERNAL,
};

/* One [start, end) range of chunk indexes. */
struct w2_file_range {
	uint64_t start;
	uint64_t end;
};

/* A sorted list of non-overlapping ranges. `v` is heap memory owned by the
 * control message holding it (freed by w2_file_ctrl_deinit). */
struct w2_file_ranges {
	struct w2_file_range *v;
	size_t count;
};

/* A control message, parsed or to serialize. Which fields mean something
 * depends on `type` (the table of the doc):
 *   offer:    manifest (its id is the message's id), pk, mime, lanes
 *   accept:   pk, ranges (`have`)
 *   nack:     ranges
 *   done, complete: sha256
 *   reject, cancel: text (`reason`, when has_text)
 *   error:    code (code_str as received), text (`message`)
 * Caller storage (about 6 KiB); w2_file_ctrl_deinit frees the ranges. */
struct w2_file_ctrl {
	enum w2_file_ctrl_type type;
	bool has_id; /* false only for an `error` not tied to a transfer */
	uint8_t id[W2_FILE_ID_LEN];
	struct w2_file_manifest manifest;
	uint8_t pk[W2_FILE_PK_LEN];
	char mime[W2_FILE_MIME_MAX + 1]; /* "" when absent */
	unsigned lanes;                  /* 0 when absent, else 1..8 */
	struct w2_file_ranges ranges;
	uint8_t sha256[W2_FILE_SHA256_LEN];
	enum w2_file_code code;
	char code_str[32];
	bool has_text;
	char text[W2_FILE_TEXT_MAX + 1];
};

/* Zeroes *m (an empty message of no type). */
void w2_file_ctrl_init(struct w2_file_ctrl *m);

/* Frees what *m owns (its ranges) and zeroes it. Accepts NULL. */
void w2_file_ctrl_deinit(struct w2_file_ctrl *m);

/* Parses one control message (JSON text, at most 64 KiB) into *m, which
 * the caller must deinit whatever the result. Every field is checked:
 * types, 32 lowercase hex digits for ids, 64 for hashes, 43 base64url
 * characters without padding for keys, integer ranges, ranges sorted and
 * non-overlapping (at most 4096), names and paths as in the manifest.
 * Unknown fields are ignored; duplicate keys are refused.
 * Returns 0; W2_EINVAL for a bad message (answer `error` code
 * `bad-message`); W2_EPROTO for a well-formed message of an unknown "t" or
 * an offer of another version `v` (answer `unsupported`); W2_ENOMEM.
 * Whenever "id" could be read, m->has_id and m->id name the transfer so
 * the answer can name it too. `have`/`nack` ends are checked against n by
 * w2_file_ranges_check, since only the caller knows the transfer. */
int w2_file_ctrl_parse(const char *json, size_t len, struct w2_file_ctrl *m, char *detail);

/* The wire code of `error` to answer a w2_file_ctrl_parse result with
 * ("bad-message", "unsupported" or "internal"). */
const char *w2_file_ctrl_answer_code(int parse_result);

/* Checks every range end <= n (the transfer's chunk count). W2_EINVAL if
 * not. */
int w2_file_ranges_check(const struct w2_file_ranges *r, uint64_t n, char *detail);

/* Serializes *m as compact JSON into out (cap bytes, NUL-terminated; *len
 * excludes the NUL). The message is validated as the parser would
 * (W2_EINVAL with detail if it would not pass); W2_ELIMIT if it does not
 * fit in cap or in 64 KiB; W2_ENOMEM. */
int w2_file_ctrl_serialize(const struct w2_file_ctrl *m, char *out, size_t cap, size_t *len,
			   char *detail);

/* "offer", "accept", ...; NULL for a value out of range. */
const char *w2_file_ctrl_type_name(enum w2_file_ctrl_type t);

/* "bad-message", ...; NULL for W2_FILE_CODE_OTHER or out of range. */
const char *w2_file_code_name(enum w2_file_code c);

#endif
