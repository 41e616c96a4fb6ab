/* w2_filecrypt: file transfer v1 chunk crypto from the command line, for
 * cross-implementation tests (the browser SDK's Node/Chromium tests seal
 * with one side and open with the other). Uses src/files, nothing else.
 *
 * Usage:
 *   w2_filecrypt seal < request.json > reply.json
 *   w2_filecrypt open < request.json > reply.json
 *
 * Request: one JSON object on stdin (at most 64 MiB):
 *   {
 *     "sk":          own X25519 secret key,
 *     "peer_pk":     the other side's public key,
 *     "sender_pk":   the sender's public key (own or peer's),
 *     "receiver_pk": the receiver's public key,
 *     "manifest":    {"id", "name", "size", "chunkSize", "enc",
 *                     optional "sha256", "path"} exactly as in an offer,
 *     "chunks":      [{"index": i, "data_b64": ...}, ...]
 *   }
 * Keys are 64 hex digits or 43 base64url characters without padding (as
 * in an offer). The manifest fields may also sit at the top level instead
 * of under "manifest". data_b64 is standard base64 with padding (Node's
 * Buffer 'base64'): for `seal` a chunk's plaintext (exactly its chunk
 * length), for `open` a whole binary frame (header || payload); `open`
 * takes the index from the frame, and checks it against "index" if given.
 *
 * Reply on stdout, one JSON object:
 *   seal: {"manifest": hex, "transcript": hex, "key": hex,
 *          "frames": [{"index": i, "data_b64": frame}, ...]}
 *   open: {"manifest": hex, "transcript": hex, "key": hex,
 *          "chunks": [{"index": i, "data_b64": plaintext}, ...]}
 * in the order of the request's chunks.
 *
 * Exit status: 0 on success; 1 when a chunk does not verify (open) or a
 * frame fails its checks; 2 on a bad request (JSON, keys, manifest, a
 * chunk of the wrong length or index, a low-order key). The reason is one
 * line on stderr; nothing is written to stdout then. */
#include "files/files.h"
#include "files/files_int.h"

#include "core/error.h"

#include <jansson.h>
#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STDIN_MAX (64u << 20)
#define EXIT_VERIFY 1
#define EXIT_REQUEST 2

struct session {
	struct w2_file_manifest m;
	uint8_t sk[32], peer_pk[32], sender_pk[32], receiver_pk[32];
	uint8_t key[32], transcript[32];
	uint8_t manifest[W2_FILE_MANIFEST_MAX];
	size_t manifest_len;
};

static void die(int status, const char *fmt, const char *arg)
{
	fprintf(stderr, "w2_filecrypt: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(status);
}

static char *read_stdin(size_t *len)
{
	size_t cap = 1 << 16, n = 0, got;
	char *buf = malloc(cap);

	while (buf && (got = fread(buf + n, 1, cap - n, stdin)) > 0) {
		n += got;
		if (n == cap && cap < STDIN_MAX) {
			char *bigger = realloc(buf, cap * 2);

			if (!bigger)
				free(buf);
			buf = bigger;
			cap *= 2;
		} else if (n == cap) {
			die(EXIT_REQUEST, "%s", "the request is over 64 MiB");
		}
	}
	if (!buf)
		die(EXIT_REQUEST, "%s", "out of memory");
	*len = n;
	return buf;
}

static void key_field(const json_t *req, const char *name, uint8_t out[32])
{
	const char *s = json_string_value(json_object_get(req, name));
	size_t bin_len = 0;
	const char *end = NULL;

	if (!s)
		die(EXIT_REQUEST, "%s is missing or not a string", name);
	if (strlen(s) == 64 && w2__file_unhex(s, out, 32) == 0)
		return;
	if (strlen(s) == 43 &&
	    sodium_base642bin(out, 32, s, 43, NULL, &bin_len, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
	    bin_len == 32 && end == s + 43)
		return;
	die(EXIT_REQUEST, "%s is neither 64 hex digits nor 43 base64url characters", name);
}

static void session_start(const json_t *req, struct session *s)
{
	const json_t *mj = json_object_get(req, "manifest");
	char detail[W2_FILE_DETAIL_MAX];
	int rc;

	key_field(req, "sk", s->sk);
	key_field(req, "peer_pk", s->peer_pk);
	key_field(req, "sender_pk", s->sender_pk);
	key_field(req, "receiver_pk", s->receiver_pk);
	if (w2__file_manifest_from_json(mj ? mj : req, &s->m, detail) != 0)
		die(EXIT_REQUEST, "manifest: %s", detail);
	w2_file_manifest_encode(&s->m, s->manifest, sizeof(s->manifest), &s->manifest_len);
	w2_file_transcript(&s->m, s->sender_pk, s->receiver_pk, s->transcript);
	rc = w2_file_session_key(s->sk, s->peer_pk, &s->m, s->sender_pk, s->receiver_pk, s->key);
	if (rc == W2_EAUTH)
		die(EXIT_REQUEST, "%s", "peer_pk is a low-order point (all-zero shared secret)");
	if (rc != 0)
		die(EXIT_REQUEST, "%s", "sk's public key is not sender_pk or receiver_pk, "
					"or peer_pk is not the other one");
}

static uint8_t *chunk_data(const json_t *chunk, size_t i, size_t *len)
{
	const char *b64 = json_string_value(json_object_get(chunk, "data_b64"));
	size_t n = b64 ? strlen(b64) : 0;
	uint8_t *bin = malloc(n / 4 * 3 + 3);
	char at[32];

	snprintf(at, sizeof(at), "%zu", i);
	if (!b64)
		die(EXIT_REQUEST, "chunks[%s].data_b64 is missing or not a string", at);
	if (!bin || sodium_base642bin(bin, n / 4 * 3 + 3, b64, n, NULL, len, NULL,
				      sodium_base64_VARIANT_ORIGINAL) != 0)
		die(EXIT_REQUEST, "chunks[%s].data_b64 is not base64 with padding", at);
	return bin;
}

static json_t *b64j(const uint8_t *bin, size_t n)
{
	size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(cap);
	json_t *j;

	if (!s)
		die(EXIT_REQUEST, "%s", "out of memory");
	sodium_bin2base64(s, cap, bin, n, sodium_base64_VARIANT_ORIGINAL);
	j = json_string(s);
	free(s);
	return j;
}

static json_t *hexj(const uint8_t *bin, size_t n)
{
	char s[2 * W2_FILE_MANIFEST_MAX + 1];

	w2__file_hex(bin, n, s);
	return json_string(s);
}

static json_t *seal_one(const struct session *s, const json_t *chunk, size_t i)
{
	static uint8_t frame[W2_FILE_FRAME_MAX];
	const json_t *ij = json_object_get(chunk, "index");
	size_t len, plen, flen;
	uint8_t *plain = chunk_data(chunk, i, &len);
	char at[32];

	snprintf(at, sizeof(at), "%zu", i);
	if (!json_is_integer(ij) || json_integer_value(ij) < 0)
		die(EXIT_REQUEST, "chunks[%s].index is missing or not an integer >= 0", at);
	if (w2_file_chunk_seal(s->key, &s->m, (uint64_t)json_integer_value(ij), plain, len,
			       frame + W2_FILE_FRAME_HEADER_LEN,
			       sizeof(frame) - W2_FILE_FRAME_HEADER_LEN, &plen) != 0 ||
	    w2_file_frame_encode(&s->m, (uint64_t)json_integer_value(ij),
				 frame + W2_FILE_FRAME_HEADER_LEN, plen, frame, sizeof(frame),
				 &flen) != 0)
		die(EXIT_REQUEST, "chunks[%s]: index beyond the file or data not the chunk's length",
		    at);
	free(plain);
	return json_pack("{sO so}", "index", ij, "data_b64", b64j(frame, flen));
}

static json_t *open_one(const struct session *s, const json_t *chunk, size_t i)
{
	static uint8_t plain[W2_FILE_CHUNK_MAX];
	const json_t *ij = json_object_get(chunk, "index");
	struct w2_file_frame f;
	char detail[W2_FILE_DETAIL_MAX], at[32];
	size_t len, plen;
	uint8_t *frame = chunk_data(chunk, i, &len);
	int rc;

	snprintf(at, sizeof(at), "chunks[%zu]", i);
	if (w2_file_frame_parse(frame, len, &f, detail) != 0 ||
	    w2_file_frame_check(&f, &s->m, detail) != 0) {
		fprintf(stderr, "w2_filecrypt: %s: %s\n", at, detail);
		exit(EXIT_VERIFY);
	}
	if (ij && (!json_is_integer(ij) || (uint64_t)json_integer_value(ij) != f.index))
		die(EXIT_REQUEST, "%s.index is not the frame's index", at);
	rc = w2_file_chunk_open(s->key, &s->m, f.index, f.payload, f.payload_len, plain,
				sizeof(plain), &plen);
	if (rc != 0)
		die(EXIT_VERIFY, "%s: does not verify", at);
	free(frame);
	return json_pack("{sI so}", "index", (json_int_t)f.index, "data_b64", b64j(plain, plen));
}

int main(int argc, char **argv)
{
	static struct session s;
	json_error_t jerr;
	json_t *req, *chunks, *out, *list;
	size_t len;
	char *text;
	bool seal;

	if (argc != 2 || (strcmp(argv[1], "seal") != 0 && strcmp(argv[1], "open") != 0))
		die(EXIT_REQUEST, "%s", "usage: w2_filecrypt seal|open < request.json");
	if (sodium_init() < 0)
		die(EXIT_REQUEST, "%s", "libsodium did not start");
	seal = strcmp(argv[1], "seal") == 0;
	text = read_stdin(&len);
	req = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!json_is_object(req))
		die(EXIT_REQUEST, "the request is not a JSON object: %s", jerr.text);
	session_start(req, &s);
	chunks = json_object_get(req, "chunks");
	if (!json_is_array(chunks))
		die(EXIT_REQUEST, "%s", "chunks is missing or not an array");
	list = json_array();
	for (size_t i = 0; i < json_array_size(chunks); i++)
		json_array_append_new(list, seal ? seal_one(&s, json_array_get(chunks, i), i)
						 : open_one(&s, json_array_get(chunks, i), i));
	out = json_pack("{so so so so}", "manifest", hexj(s.manifest, s.manifest_len),
			"transcript", hexj(s.transcript, 32), "key", hexj(s.key, 32),
			seal ? "frames" : "chunks", list);
	if (!out || json_dumpf(out, stdout, JSON_COMPACT) != 0)
		die(EXIT_REQUEST, "%s", "writing the reply failed");
	putchar('\n');
	json_decref(out);
	json_decref(req);
	return 0;
}
