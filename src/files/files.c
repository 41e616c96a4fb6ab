/* File transfer v1: manifest, chunks, keys, sealing and frames
 * (docs/file-transfer.md). Control messages are in files_ctrl.c. */
#include "files/files.h"

#include "core/error.h"
#include "core/utf8.h"

#include <sodium.h>

#include <stdio.h>
#include <string.h>

/* The context string of the key derivation ("Keys", step 5). */
#define KDF_LABEL "webrtc2-file/1 chunk key"
#define KDF_LABEL_LEN (sizeof(KDF_LABEL) - 1)

static int fail(char *detail, int err, const char *sentence)
{
	if (detail)
		snprintf(detail, W2_FILE_DETAIL_MAX, "%s", sentence);
	return err;
}

/* ---- big-endian helpers (the doc: integers on the wire are big-endian) ---- */

static void put_be(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

/* A bounds-checked cursor over input bytes: every read first checks that
 * the bytes are there, so a short manifest cannot be over-read. */
struct reader {
	const uint8_t *buf;
	size_t len;
	size_t off;
};

static const uint8_t *take(struct reader *r, size_t n)
{
	const uint8_t *p;

	if (r->len - r->off < n)
		return NULL;
	p = r->buf + r->off;
	r->off += n;
	return p;
}

static int take_be(struct reader *r, size_t n, uint64_t *v)
{
	const uint8_t *p = take(r, n);

	if (!p)
		return W2_EINVAL;
	*v = get_be(p, n);
	return 0;
}

/* ---- manifest ---- */

/* The path rules of the offer: relative, `/`-separated, no `..` and no
 * empty segment (which also forbids a leading or trailing `/`), so that a
 * receiver joining it under its download folder stays inside it. */
static int path_validate(const char *path, size_t len, char *detail)
{
	size_t seg = 0;

	if (len == 0)
		return 0;
	if (path[0] == '/')
		return fail(detail, W2_EINVAL, "path must be relative (no leading '/')");
	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (i == seg)
			return fail(detail, W2_EINVAL, "path has an empty segment");
		if (i - seg == 2 && path[seg] == '.' && path[seg + 1] == '.')
			return fail(detail, W2_EINVAL, "path has a '..' segment");
		seg = i + 1;
	}
	return 0;
}

static int text_validate(const char *s, size_t cap, size_t max, const char *field, char *detail)
{
	size_t len = strnlen(s, cap);
	char msg[W2_FILE_DETAIL_MAX];

	if (len > max) {
		snprintf(msg, sizeof(msg), "%s is longer than %zu bytes", field, max);
		return fail(detail, W2_EINVAL, msg);
	}
	if (!w2_utf8_valid((const unsigned char *)s, len)) {
		snprintf(msg, sizeof(msg), "%s is not valid UTF-8", field);
		return fail(detail, W2_EINVAL, msg);
	}
	return 0;
}

int w2_file_manifest_validate(const struct w2_file_manifest *m, char *detail)
{
	int rc;

	if (m->size > W2_FILE_SIZE_MAX)
		return fail(detail, W2_EINVAL, "size is above 2^53 - 1");
	if (m->chunk_size < W2_FILE_CHUNK_MIN || m->chunk_size > W2_FILE_CHUNK_MAX)
		return fail(detail, W2_EINVAL, "chunkSize is outside 16384..262100");
	if (m->enc != W2_FILE_ENC_NONE && m->enc != W2_FILE_ENC_CHACHA)
		return fail(detail, W2_EINVAL, "enc is neither none nor chacha20-poly1305");
	rc = text_validate(m->name, sizeof(m->name), W2_FILE_NAME_MAX, "name", detail);
	if (rc == 0)
		rc = text_validate(m->path, sizeof(m->path), W2_FILE_PATH_MAX, "path", detail);
	if (rc == 0)
		rc = path_validate(m->path, strlen(m->path), detail);
	return rc;
}

/* The manifest layout of "Keys", step 3, written field by field. */
int w2_file_manifest_encode(const struct w2_file_manifest *m, uint8_t *out, size_t cap,
			    size_t *len)
{
	size_t name_len, path_len, need, off = 0;

	if (w2_file_manifest_validate(m, NULL) != 0)
		return W2_EINVAL;
	name_len = strlen(m->name);
	path_len = strlen(m->path);
	need = W2_FILE_MAGIC_LEN + W2_FILE_ID_LEN + 8 + 4 + 1 + 1 +
	       (m->has_hash ? W2_FILE_SHA256_LEN : 0) + 2 + name_len + 2 + path_len;
	if (need > cap)
		return W2_ELIMIT;
	memcpy(out, W2_FILE_MAGIC, W2_FILE_MAGIC_LEN);
	off += W2_FILE_MAGIC_LEN;
	memcpy(out + off, m->id, W2_FILE_ID_LEN);
	off += W2_FILE_ID_LEN;
	put_be(out + off, m->size, 8);
	off += 8;
	put_be(out + off, m->chunk_size, 4);
	off += 4;
	out[off++] = (uint8_t)m->enc;
	out[off++] = m->has_hash ? 1 : 0;
	if (m->has_hash) {
		memcpy(out + off, m->sha256, W2_FILE_SHA256_LEN);
		off += W2_FILE_SHA256_LEN;
	}
	put_be(out + off, name_len, 2);
	off += 2;
	memcpy(out + off, m->name, name_len);
	off += name_len;
	put_be(out + off, path_len, 2);
	off += 2;
	memcpy(out + off, m->path, path_len);
	off += path_len;
	*len = off;
	return 0;
}

/* A u16-length-prefixed string into dst (dst_cap bytes with its NUL). */
static int take_string(struct reader *r, char *dst, size_t dst_cap, const char *field,
		       char *detail)
{
	uint64_t n;
	const uint8_t *p;
	char msg[W2_FILE_DETAIL_MAX];

	snprintf(msg, sizeof(msg), "manifest is cut short in %s", field);
	if (take_be(r, 2, &n) != 0 || !(p = take(r, (size_t)n)))
		return fail(detail, W2_EINVAL, msg);
	if (n >= dst_cap) {
		snprintf(msg, sizeof(msg), "%s is too long", field);
		return fail(detail, W2_EINVAL, msg);
	}
	if (memchr(p, 0, (size_t)n)) {
		snprintf(msg, sizeof(msg), "%s contains NUL", field);
		return fail(detail, W2_EINVAL, msg);
	}
	memcpy(dst, p, (size_t)n);
	dst[n] = '\0';
	return 0;
}

static int take_fixed(struct reader *r, struct w2_file_manifest *m, char *detail)
{
	const uint8_t *p;
	uint64_t v;

	p = take(r, W2_FILE_MAGIC_LEN);
	if (!p || memcmp(p, W2_FILE_MAGIC, W2_FILE_MAGIC_LEN) != 0)
		return fail(detail, W2_EINVAL, "manifest does not start with webrtc2-file/1");
	p = take(r, W2_FILE_ID_LEN);
	if (!p || take_be(r, 8, &m->size) != 0 || take_be(r, 4, &v) != 0)
		return fail(detail, W2_EINVAL, "manifest is cut short");
	memcpy(m->id, p, W2_FILE_ID_LEN);
	m->chunk_size = (uint32_t)v;
	if (take_be(r, 1, &v) != 0 || v > W2_FILE_ENC_CHACHA)
		return fail(detail, W2_EINVAL, "manifest enc is neither 0 nor 1");
	m->enc = (enum w2_file_enc)v;
	if (take_be(r, 1, &v) != 0 || v > 1)
		return fail(detail, W2_EINVAL, "manifest hasHash is neither 0 nor 1");
	m->has_hash = v == 1;
	if (m->has_hash) {
		if (!(p = take(r, W2_FILE_SHA256_LEN)))
			return fail(detail, W2_EINVAL, "manifest is cut short in sha256");
		memcpy(m->sha256, p, W2_FILE_SHA256_LEN);
	}
	return 0;
}

int w2_file_manifest_decode(const uint8_t *buf, size_t len, struct w2_file_manifest *m,
			    char *detail)
{
	struct reader r = {buf, len, 0};
	int rc;

	memset(m, 0, sizeof(*m));
	rc = take_fixed(&r, m, detail);
	if (rc == 0)
		rc = take_string(&r, m->name, sizeof(m->name), "name", detail);
	if (rc == 0)
		rc = take_string(&r, m->path, sizeof(m->path), "path", detail);
	if (rc == 0 && r.off != r.len)
		rc = fail(detail, W2_EINVAL, "manifest has trailing bytes");
	if (rc == 0)
		rc = w2_file_manifest_validate(m, detail);
	return rc;
}

bool w2_file_manifest_equal(const struct w2_file_manifest *a, const struct w2_file_manifest *b)
{
	uint8_t ea[W2_FILE_MANIFEST_MAX], eb[W2_FILE_MANIFEST_MAX];
	size_t la, lb;

	if (w2_file_manifest_encode(a, ea, sizeof(ea), &la) != 0 ||
	    w2_file_manifest_encode(b, eb, sizeof(eb), &lb) != 0)
		return false;
	return la == lb && memcmp(ea, eb, la) == 0;
}

/* ---- chunks ("Identifiers and sizes") ---- */

uint64_t w2_file_chunk_count(const struct w2_file_manifest *m)
{
	if (m->size == 0 || m->chunk_size == 0)
		return 0;
	return (m->size - 1) / m->chunk_size + 1;
}

uint64_t w2_file_chunk_offset(const struct w2_file_manifest *m, uint64_t index)
{
	return index * m->chunk_size;
}

int w2_file_chunk_len(const struct w2_file_manifest *m, uint64_t index, size_t *len)
{
	uint64_t n = w2_file_chunk_count(m), start;

	if (index >= n)
		return W2_EINVAL;
	start = index * m->chunk_size;
	*len = (size_t)(m->size - start < m->chunk_size ? m->size - start : m->chunk_size);
	return 0;
}

int w2_file_payload_len(const struct w2_file_manifest *m, uint64_t index, size_t *len)
{
	int rc = w2_file_chunk_len(m, index, len);

	if (rc == 0 && m->enc == W2_FILE_ENC_CHACHA)
		*len += W2_FILE_TAG_LEN;
	return rc;
}

/* ---- keys ("Keys", steps 1, 2, 4, 5) ---- */

int w2_file_keypair(uint8_t pk[W2_FILE_PK_LEN], uint8_t sk[W2_FILE_SK_LEN])
{
	if (sodium_init() < 0)
		return W2_EIO;
	return crypto_box_keypair(pk, sk) == 0 ? 0 : W2_EIO;
}

int w2_file_public_key(const uint8_t sk[W2_FILE_SK_LEN], uint8_t pk[W2_FILE_PK_LEN])
{
	if (sodium_init() < 0)
		return W2_EIO;
	return crypto_scalarmult_base(pk, sk) == 0 ? 0 : W2_EINVAL;
}

int w2_file_transcript(const struct w2_file_manifest *m, const uint8_t sender_pk[W2_FILE_PK_LEN],
		       const uint8_t receiver_pk[W2_FILE_PK_LEN], uint8_t out[W2_FILE_SHA256_LEN])
{
	uint8_t man[W2_FILE_MANIFEST_MAX];
	size_t len;
	crypto_hash_sha256_state st;

	if (sodium_init() < 0)
		return W2_EIO;
	if (w2_file_manifest_encode(m, man, sizeof(man), &len) != 0)
		return W2_EINVAL;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, man, len);
	crypto_hash_sha256_update(&st, sender_pk, W2_FILE_PK_LEN);
	crypto_hash_sha256_update(&st, receiver_pk, W2_FILE_PK_LEN);
	crypto_hash_sha256_final(&st, out);
	return 0;
}

/* own_sk must belong to one side of the transcript and peer_pk be the
 * other side: a key derived from mismatched inputs would only show up as
 * every chunk failing, far from the mistake. */
static int check_sides(const uint8_t own_sk[W2_FILE_SK_LEN], const uint8_t peer_pk[W2_FILE_PK_LEN],
		       const uint8_t sender_pk[W2_FILE_PK_LEN],
		       const uint8_t receiver_pk[W2_FILE_PK_LEN])
{
	uint8_t own_pk[W2_FILE_PK_LEN];

	if (crypto_scalarmult_base(own_pk, own_sk) != 0)
		return W2_EINVAL;
	if (sodium_memcmp(own_pk, sender_pk, W2_FILE_PK_LEN) == 0 &&
	    sodium_memcmp(peer_pk, receiver_pk, W2_FILE_PK_LEN) == 0)
		return 0;
	if (sodium_memcmp(own_pk, receiver_pk, W2_FILE_PK_LEN) == 0 &&
	    sodium_memcmp(peer_pk, sender_pk, W2_FILE_PK_LEN) == 0)
		return 0;
	return W2_EINVAL;
}

int w2_file_session_key(const uint8_t own_sk[W2_FILE_SK_LEN], const uint8_t peer_pk[W2_FILE_PK_LEN],
			const struct w2_file_manifest *m, const uint8_t sender_pk[W2_FILE_PK_LEN],
			const uint8_t receiver_pk[W2_FILE_PK_LEN], uint8_t key_out[W2_FILE_KEY_LEN])
{
	uint8_t shared[crypto_scalarmult_BYTES], transcript[W2_FILE_SHA256_LEN];
	crypto_generichash_state st;
	int rc;

	if (sodium_init() < 0)
		return W2_EIO;
	rc = w2_file_transcript(m, sender_pk, receiver_pk, transcript);
	if (rc != 0)
		return rc;
	/* libsodium refuses low-order points and an all-zero result itself;
	 * the explicit check keeps the rule of "Keys", step 2 visible here
	 * whatever the library version does. */
	if (crypto_scalarmult(shared, own_sk, peer_pk) != 0 || sodium_is_zero(shared, sizeof(shared))) {
		sodium_memzero(shared, sizeof(shared));
		return W2_EAUTH;
	}
	rc = check_sides(own_sk, peer_pk, sender_pk, receiver_pk);
	if (rc == 0) {
		crypto_generichash_init(&st, shared, sizeof(shared), W2_FILE_KEY_LEN);
		crypto_generichash_update(&st, (const uint8_t *)KDF_LABEL, KDF_LABEL_LEN);
		crypto_generichash_update(&st, transcript, sizeof(transcript));
		crypto_generichash_final(&st, key_out, W2_FILE_KEY_LEN);
		sodium_memzero(&st, sizeof(st));
	}
	sodium_memzero(shared, sizeof(shared));
	return rc;
}

/* ---- sealing ("Frames") ---- */

/* nonce = 00 00 00 00 || u64 index; ad = id || u64 index || u8 last. The
 * index in both binds a chunk to its position, `last` to the file's end. */
static void nonce_and_ad(const struct w2_file_manifest *m, uint64_t index,
			 uint8_t nonce[W2_FILE_NONCE_LEN], uint8_t ad[W2_FILE_AD_LEN])
{
	memset(nonce, 0, 4);
	put_be(nonce + 4, index, 8);
	memcpy(ad, m->id, W2_FILE_ID_LEN);
	put_be(ad + W2_FILE_ID_LEN, index, 8);
	ad[W2_FILE_ID_LEN + 8] = index + 1 == w2_file_chunk_count(m) ? 1 : 0;
}

int w2_file_chunk_seal(const uint8_t key[W2_FILE_KEY_LEN], const struct w2_file_manifest *m,
		       uint64_t index, const uint8_t *plain, size_t plain_len, uint8_t *out,
		       size_t cap, size_t *out_len)
{
	uint8_t nonce[W2_FILE_NONCE_LEN], ad[W2_FILE_AD_LEN];
	unsigned long long clen;
	size_t want;

	if (w2_file_chunk_len(m, index, &want) != 0 || want != plain_len)
		return W2_EINVAL;
	if (plain_len + (m->enc == W2_FILE_ENC_CHACHA ? W2_FILE_TAG_LEN : 0) > cap)
		return W2_ELIMIT;
	if (m->enc == W2_FILE_ENC_NONE) {
		memmove(out, plain, plain_len);
		*out_len = plain_len;
		return 0;
	}
	if (sodium_init() < 0)
		return W2_EIO;
	nonce_and_ad(m, index, nonce, ad);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, plain, plain_len, ad, sizeof(ad),
						  NULL, nonce, key);
	*out_len = (size_t)clen;
	return 0;
}

int w2_file_chunk_open(const uint8_t key[W2_FILE_KEY_LEN], const struct w2_file_manifest *m,
		       uint64_t index, const uint8_t *payload, size_t payload_len, uint8_t *out,
		       size_t cap, size_t *out_len)
{
	uint8_t nonce[W2_FILE_NONCE_LEN], ad[W2_FILE_AD_LEN];
	unsigned long long plen;
	size_t want, chunk;

	if (w2_file_payload_len(m, index, &want) != 0 || want != payload_len)
		return W2_EINVAL;
	if (w2_file_chunk_len(m, index, &chunk) != 0 || chunk > cap)
		return W2_ELIMIT;
	if (m->enc == W2_FILE_ENC_NONE) {
		memmove(out, payload, payload_len);
		*out_len = payload_len;
		return 0;
	}
	if (sodium_init() < 0)
		return W2_EIO;
	nonce_and_ad(m, index, nonce, ad);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &plen, NULL, payload, payload_len, ad,
						      sizeof(ad), nonce, key) != 0) {
		memset(out, 0, chunk);
		return W2_EAUTH;
	}
	*out_len = (size_t)plen;
	return 0;
}

/* ---- frames ("Frames") ---- */

int w2_file_frame_parse(const uint8_t *buf, size_t len, struct w2_file_frame *frame,
			char *detail)
{
	struct reader r = {buf, len, 0};
	const uint8_t *hdr = take(&r, W2_FILE_FRAME_HEADER_LEN);

	memset(frame, 0, sizeof(*frame));
	if (!hdr)
		return fail(detail, W2_EINVAL, "frame is shorter than its 26-byte header");
	if (hdr[0] != W2_FILE_VERSION)
		return fail(detail, W2_EPROTO, "frame version is not 1");
	if (hdr[1] != W2_FILE_FRAME_CHUNK)
		return fail(detail, W2_EPROTO, "frame type is not 1 (chunk)");
	memcpy(frame->id, hdr + 2, W2_FILE_ID_LEN);
	frame->index = get_be(hdr + 2 + W2_FILE_ID_LEN, 8);
	frame->payload = buf + r.off;
	frame->payload_len = len - r.off;
	return 0;
}

int w2_file_frame_check(const struct w2_file_frame *frame, const struct w2_file_manifest *m,
			char *detail)
{
	size_t want;

	if (memcmp(frame->id, m->id, W2_FILE_ID_LEN) != 0)
		return fail(detail, W2_EINVAL, "frame id is not this transfer's");
	if (w2_file_payload_len(m, frame->index, &want) != 0)
		return fail(detail, W2_EINVAL, "frame index is not below the chunk count");
	if (frame->payload_len != want)
		return fail(detail, W2_EINVAL, "frame payload length is not the chunk's");
	return 0;
}

int w2_file_frame_encode(const struct w2_file_manifest *m, uint64_t index, const uint8_t *payload,
			 size_t payload_len, uint8_t *out, size_t cap, size_t *out_len)
{
	size_t want;

	if (w2_file_payload_len(m, index, &want) != 0 || want != payload_len)
		return W2_EINVAL;
	if (cap < W2_FILE_FRAME_HEADER_LEN || cap - W2_FILE_FRAME_HEADER_LEN < payload_len)
		return W2_ELIMIT;
	/* memmove: the payload may overlap the frame when sealed in place. */
	if (payload != out + W2_FILE_FRAME_HEADER_LEN)
		memmove(out + W2_FILE_FRAME_HEADER_LEN, payload, payload_len);
	out[0] = W2_FILE_VERSION;
	out[1] = W2_FILE_FRAME_CHUNK;
	memcpy(out + 2, m->id, W2_FILE_ID_LEN);
	put_be(out + 2 + W2_FILE_ID_LEN, index, 8);
	*out_len = W2_FILE_FRAME_HEADER_LEN + payload_len;
	return 0;
}
