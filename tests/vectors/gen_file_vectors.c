/* Writes tests/vectors/file-transfer-v1.json, the shared test vectors of
 * file transfer v1 (docs/file-transfer.md), to stdout:
 *
 *   build/gen_file_vectors > tests/vectors/file-transfer-v1.json
 *
 * Everything is fixed (keys, ids, contents), so re-running it changes
 * nothing in git unless this file or src/files changed. The values come
 * from src/files; tests/vectors/check_file_vectors.py recomputes them with
 * another library (Python's cryptography) so that they do not only agree
 * with themselves. Negative cases are sealed here with libsodium directly
 * (a wrong `last` bit, a wrong key), since src/files cannot make them. */
#include "files/files.h"
#include "files/files_int.h"

#include <jansson.h>
#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 3

static const char *const DESCRIPTION =
	"Test vectors of the webrtc2 file transfer protocol, version 1 (docs/file-transfer.md). "
	"Byte strings are lowercase hex; integers are JSON numbers. "
	"keys: {sender_sk, sender_pk, receiver_sk, receiver_pk, shared}: the fixed X25519 key "
	"pairs of both sides and X25519(sender_sk, receiver_pk). "
	"plaintext: how file contents are made: byte k of every file is k mod 251. "
	"manifests[]: {name, fields: the offer's manifest fields exactly as in an offer (id, name, "
	"size, chunkSize, enc, optional sha256 and path), manifest: the manifest bytes, transcript: "
	"SHA-256(manifest || sender_pk || receiver_pk), key: the session key, chunk_count, "
	"last_chunk_len, frames[]: {index, offset, length (plaintext bytes), last (the AD bit), "
	"nonce, ad, frame: the whole binary frame (header || payload)}}. A manifest may list no "
	"frame (empty or huge files) or a frame with only index, nonce and ad. "
	"frames_invalid[]: {name, manifest (a manifests[].name), frame, expect, why}: frames a "
	"receiver of that manifest's session (key above) must refuse; expect 'reject' means the "
	"frame check fails before any decryption (version, type, id, index >= n, payload length), "
	"'auth' means the frame passes the check and fails to verify. "
	"keys_invalid[]: {own_sk, peer_pk, why}: X25519 inputs whose shared secret is all zero: "
	"the session must fail. "
	"control_valid[]: {json, t}: control messages that must parse (and that this generator "
	"wrote: the compact form of the C serializer). "
	"control_invalid[]: {json, answer, why}: control messages that must be refused, answered "
	"with `error` of code answer ('bad-message' or 'unsupported'); why names the rule.";

static uint8_t sender_sk[32], sender_pk[32], receiver_sk[32], receiver_pk[32];

static void die(const char *what)
{
	fprintf(stderr, "gen_file_vectors: %s\n", what);
	exit(1);
}

static json_t *hexj(const uint8_t *b, size_t n)
{
	char *s = malloc(2 * n + 1);
	json_t *j;

	if (!s)
		die("out of memory");
	w2__file_hex(b, n, s);
	j = json_string(s);
	free(s);
	return j;
}

static void file_bytes(uint64_t offset, uint8_t *out, size_t n)
{
	for (size_t k = 0; k < n; k++)
		out[k] = (uint8_t)((offset + k) % 251);
}

static void file_sha256(uint64_t size, uint8_t out[32])
{
	crypto_hash_sha256_state st;
	uint8_t buf[4096];

	crypto_hash_sha256_init(&st);
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);

		file_bytes(off, buf, n);
		crypto_hash_sha256_update(&st, buf, n);
	}
	crypto_hash_sha256_final(&st, out);
}

struct spec {
	const char *label;
	uint8_t id_byte;
	uint64_t size;
	uint32_t chunk_size;
	enum w2_file_enc enc;
	bool has_hash;
	const char *name;
	const char *path;
	bool frames; /* seal chunks 0, 1 and the last */
};

static const struct spec specs[] = {
	{"chacha-hash", 0x00, 2 * 16384 + 1000, 16384, W2_FILE_ENC_CHACHA, true,
	 "r\xc3\xa9sum\xc3\xa9 \xe2\x80\x94 2024.txt", "", true},
	{"chacha-path-nohash", 0xf0, 3 * 16384, 16384, W2_FILE_ENC_CHACHA, false, "photo.jpg",
	 "album/2024/photo.jpg", true},
	{"none-small", 0x11, 1000, 65536, W2_FILE_ENC_NONE, true, "notes.txt", "", true},
	{"empty", 0x22, 0, 65536, W2_FILE_ENC_CHACHA, true, "empty.bin", "", false},
	{"huge", 0x33, W2_FILE_SIZE_MAX, 262100, W2_FILE_ENC_CHACHA, false, "big.iso", "a/b/c",
	 false},
};

#define SPECS (sizeof(specs) / sizeof(specs[0]))

static struct w2_file_manifest manifests[SPECS];
static uint8_t keys[SPECS][32];

static void make_manifest(const struct spec *s, struct w2_file_manifest *m)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < 16; i++)
		m->id[i] = (uint8_t)(s->id_byte + i);
	m->size = s->size;
	m->chunk_size = s->chunk_size;
	m->enc = s->enc;
	m->has_hash = s->has_hash;
	if (s->has_hash)
		file_sha256(s->size, m->sha256);
	snprintf(m->name, sizeof(m->name), "%s", s->name);
	snprintf(m->path, sizeof(m->path), "%s", s->path);
	if (w2_file_manifest_validate(m, NULL) != 0)
		die("a spec is not a valid manifest");
}

/* Seals chunk `index` of m under key with an explicit `last` bit, straight
 * through libsodium, into a whole frame; returns its length. */
static size_t seal_raw(const struct w2_file_manifest *m, const uint8_t key[32], uint64_t index,
		       uint64_t frame_index, int last, uint8_t *frame)
{
	uint8_t nonce[12] = {0}, ad[25], plain[W2_FILE_CHUNK_MAX];
	unsigned long long clen;
	size_t len;

	if (w2_file_chunk_len(m, index, &len) != 0)
		die("seal_raw: bad index");
	file_bytes(w2_file_chunk_offset(m, index), plain, len);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = ad[16 + i] = (uint8_t)(index >> (56 - 8 * i));
	memcpy(ad, m->id, 16);
	ad[24] = (uint8_t)last;
	frame[0] = 1;
	frame[1] = 1;
	memcpy(frame + 2, m->id, 16);
	for (int i = 0; i < 8; i++)
		frame[18 + i] = (uint8_t)(frame_index >> (56 - 8 * i));
	crypto_aead_chacha20poly1305_ietf_encrypt(frame + 26, &clen, plain, len, ad, sizeof(ad),
						  NULL, nonce, key);
	return 26 + (size_t)clen;
}

static json_t *nonce_ad(const struct w2_file_manifest *m, uint64_t index)
{
	uint8_t nonce[12] = {0}, ad[25];
	json_t *f = json_object();

	for (int i = 0; i < 8; i++)
		nonce[4 + i] = ad[16 + i] = (uint8_t)(index >> (56 - 8 * i));
	memcpy(ad, m->id, 16);
	ad[24] = index + 1 == w2_file_chunk_count(m);
	json_object_set_new(f, "index", json_integer((json_int_t)index));
	json_object_set_new(f, "nonce", hexj(nonce, 12));
	json_object_set_new(f, "ad", hexj(ad, 25));
	return f;
}

/* The frame of chunk `index` through the library under test. */
static json_t *frame_json(const struct w2_file_manifest *m, const uint8_t key[32], uint64_t index)
{
	static uint8_t plain[W2_FILE_CHUNK_MAX], frame[W2_FILE_FRAME_MAX];
	size_t len, plen, flen;
	json_t *f = nonce_ad(m, index);

	if (w2_file_chunk_len(m, index, &len) != 0)
		die("frame_json: bad index");
	file_bytes(w2_file_chunk_offset(m, index), plain, len);
	if (w2_file_chunk_seal(key, m, index, plain, len, frame + W2_FILE_FRAME_HEADER_LEN,
			       sizeof(frame) - W2_FILE_FRAME_HEADER_LEN, &plen) != 0 ||
	    w2_file_frame_encode(m, index, frame + W2_FILE_FRAME_HEADER_LEN, plen, frame,
				 sizeof(frame), &flen) != 0)
		die("sealing failed");
	json_object_set_new(f, "offset", json_integer((json_int_t)w2_file_chunk_offset(m, index)));
	json_object_set_new(f, "length", json_integer((json_int_t)len));
	json_object_set_new(f, "last", json_boolean(index + 1 == w2_file_chunk_count(m)));
	json_object_set_new(f, "frame", hexj(frame, flen));
	return f;
}

static json_t *frames_json(const struct spec *s, const struct w2_file_manifest *m,
			   const uint8_t key[32])
{
	json_t *arr = json_array();
	uint64_t n = w2_file_chunk_count(m);

	if (s->frames) {
		for (uint64_t i = 0; i < n && i < 2; i++)
			json_array_append_new(arr, frame_json(m, key, i));
		if (n > 2)
			json_array_append_new(arr, frame_json(m, key, n - 1));
	} else if (n > 0) {
		json_array_append_new(arr, nonce_ad(m, n - 1));
	}
	return arr;
}

static json_t *manifest_json(size_t i)
{
	const struct spec *s = &specs[i];
	struct w2_file_manifest *m = &manifests[i];
	uint8_t bytes[W2_FILE_MANIFEST_MAX], transcript[32], key2[32];
	size_t len, last = 0;
	json_t *o = json_object(), *fields = json_object();

	make_manifest(s, m);
	if (w2_file_manifest_encode(m, bytes, sizeof(bytes), &len) != 0 ||
	    w2_file_transcript(m, sender_pk, receiver_pk, transcript) != 0 ||
	    w2_file_session_key(sender_sk, receiver_pk, m, sender_pk, receiver_pk, keys[i]) != 0 ||
	    w2_file_session_key(receiver_sk, sender_pk, m, sender_pk, receiver_pk, key2) != 0 ||
	    memcmp(keys[i], key2, 32) != 0 || w2__file_manifest_to_json(m, fields) != 0)
		die("manifest or key derivation failed");
	if (w2_file_chunk_count(m) > 0)
		w2_file_chunk_len(m, w2_file_chunk_count(m) - 1, &last);
	json_object_set_new(o, "name", json_string(s->label));
	json_object_set_new(o, "fields", fields);
	json_object_set_new(o, "manifest", hexj(bytes, len));
	json_object_set_new(o, "transcript", hexj(transcript, 32));
	json_object_set_new(o, "key", hexj(keys[i], 32));
	json_object_set_new(o, "chunk_count", json_integer((json_int_t)w2_file_chunk_count(m)));
	json_object_set_new(o, "last_chunk_len", json_integer((json_int_t)last));
	json_object_set_new(o, "frames", frames_json(s, m, keys[i]));
	return o;
}

static void add_invalid(json_t *arr, const char *name, size_t spec, const uint8_t *frame,
			size_t len, const char *expect, const char *why)
{
	struct w2_file_frame f;
	uint8_t out[W2_FILE_CHUNK_MAX];
	size_t olen;
	int rc = w2_file_frame_parse(frame, len, &f, NULL);
	json_t *o = json_object();

	/* The library under test must refuse it the way the vector says. */
	if (rc == 0)
		rc = w2_file_frame_check(&f, &manifests[spec], NULL);
	if (strcmp(expect, "reject") == 0 ? rc == 0 : rc != 0)
		die(name);
	if (rc == 0 && w2_file_chunk_open(keys[spec], &manifests[spec], f.index, f.payload,
					  f.payload_len, out, sizeof(out), &olen) == 0)
		die(name);
	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "manifest", json_string(specs[spec].label));
	json_object_set_new(o, "frame", hexj(frame, len));
	json_object_set_new(o, "expect", json_string(expect));
	json_object_set_new(o, "why", json_string(why));
	json_array_append_new(arr, o);
}

/* Frames of manifest 0 (chacha-hash: chunks of 16384, 16384 and 1000
 * bytes) that must be refused. Most are made from the short last chunk,
 * to keep this file small. */
static json_t *frames_invalid(void)
{
	static uint8_t good[W2_FILE_FRAME_MAX], bad[W2_FILE_FRAME_MAX];
	const struct w2_file_manifest *m = &manifests[0];
	uint8_t swapped[32];
	json_t *arr = json_array();
	size_t g = seal_raw(m, keys[0], 2, 2, 1, good), n;

	memcpy(bad, good, g);
	bad[g - 1] ^= 1;
	add_invalid(arr, "tampered-tag", 0, bad, g, "auth", "the last tag byte is flipped");
	memcpy(bad, good, g);
	bad[26 + 100] ^= 0x80;
	add_invalid(arr, "tampered-ciphertext", 0, bad, g, "auth", "a ciphertext bit is flipped");
	n = seal_raw(m, keys[0], 0, 1, 0, bad);
	add_invalid(arr, "wrong-index", 0, bad, n, "auth",
		    "chunk 0 sealed as index 0, in a frame saying index 1 (same length)");
	n = seal_raw(m, keys[0], 2, 2, 0, bad);
	add_invalid(arr, "wrong-last-bit", 0, bad, n, "auth",
		    "the last chunk sealed with last = 0 in its AD");
	n = seal_raw(m, keys[0], 1, 1, 1, bad);
	add_invalid(arr, "truncation", 0, bad, n, "auth",
		    "chunk 1 sealed with last = 1, as if the file ended there");
	n = seal_raw(m, keys[1], 2, 2, 1, bad);
	add_invalid(arr, "wrong-key", 0, bad, n, "auth",
		    "sealed under another manifest's session key");
	if (w2_file_session_key(sender_sk, receiver_pk, m, receiver_pk, sender_pk, swapped) != 0)
		die("swapped key");
	n = seal_raw(m, swapped, 2, 2, 1, bad);
	add_invalid(arr, "swapped-public-keys", 0, bad, n, "auth",
		    "sealed under the key of the transcript with sender and receiver pk swapped");
	memcpy(bad, good, g);
	bad[0] = 2;
	add_invalid(arr, "bad-version", 0, bad, g, "reject", "version byte 2");
	memcpy(bad, good, g);
	bad[1] = 0;
	add_invalid(arr, "bad-type", 0, bad, g, "reject", "type byte 0");
	add_invalid(arr, "short-header", 0, good, 20, "reject", "20 bytes: a cut header");
	memcpy(bad, good, g);
	bad[2] ^= 0xff;
	add_invalid(arr, "unknown-id", 0, bad, g, "reject", "another transfer's id");
	memcpy(bad, good, g);
	bad[25] = 3;
	add_invalid(arr, "index-beyond", 0, bad, g, "reject", "index 3 of a 3-chunk file");
	add_invalid(arr, "payload-short", 0, good, g - 1, "reject", "payload one byte short");
	memcpy(bad, good, g);
	bad[g] = 0;
	add_invalid(arr, "payload-long", 0, bad, g + 1, "reject", "payload one byte too long");
	memcpy(bad, good, g);
	bad[25] = 1;
	add_invalid(arr, "short-chunk-as-full", 0, bad, g, "reject",
		    "the last (1000-byte) chunk's frame labelled index 1, a full chunk");
	return arr;
}

/* Points of small order (libsodium's list): X25519 with any of them gives
 * an all-zero shared secret, which "Keys", step 2 refuses. */
static const char *const low_order[][2] = {
	{"0000000000000000000000000000000000000000000000000000000000000000", "zero"},
	{"0100000000000000000000000000000000000000000000000000000000000000", "one (order 1)"},
	{"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", "order 8"},
	{"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", "order 8"},
	{"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "p - 1 (order 2)"},
};

static json_t *keys_invalid(void)
{
	json_t *arr = json_array();
	uint8_t peer[32], key[32];

	for (size_t i = 0; i < sizeof(low_order) / sizeof(low_order[0]); i++) {
		json_t *o = json_object();

		if (w2__file_unhex(low_order[i][0], peer, 32) != 0)
			die("low-order hex");
		if (w2_file_session_key(sender_sk, peer, &manifests[0], sender_pk, peer, key) == 0)
			die("a low-order point was accepted");
		json_object_set_new(o, "own_sk", hexj(sender_sk, 32));
		json_object_set_new(o, "peer_pk", json_string(low_order[i][0]));
		json_object_set_new(o, "why", json_string(low_order[i][1]));
		json_array_append_new(arr, o);
	}
	return arr;
}

/* ---- control messages ---- */

static char *serialize(const struct w2_file_ctrl *m)
{
	static char buf[W2_FILE_CONTROL_MAX + 1];
	char detail[W2_FILE_DETAIL_MAX];
	size_t len;

	if (w2_file_ctrl_serialize(m, buf, sizeof(buf), &len, detail) != 0)
		die(detail);
	return buf;
}

static void add_valid(json_t *arr, const char *json, const char *t)
{
	struct w2_file_ctrl m;
	char detail[W2_FILE_DETAIL_MAX];
	json_t *o = json_object();

	if (w2_file_ctrl_parse(json, strlen(json), &m, detail) != 0)
		die(detail);
	w2_file_ctrl_deinit(&m);
	json_object_set_new(o, "json", json_string(json));
	json_object_set_new(o, "t", json_string(t));
	json_array_append_new(arr, o);
}

static void add_written(json_t *arr, struct w2_file_ctrl *m)
{
	add_valid(arr, serialize(m), w2_file_ctrl_type_name(m->type));
	w2_file_ctrl_deinit(m);
}

static struct w2_file_range two_ranges[] = {{0, 1}, {2, 3}};

static json_t *control_valid(void)
{
	json_t *arr = json_array();
	struct w2_file_ctrl m;
	enum w2_file_ctrl_type simple[] = {W2_FILE_CTRL_PAUSE, W2_FILE_CTRL_CONTINUE,
					   W2_FILE_CTRL_REJECT, W2_FILE_CTRL_CANCEL};

	for (size_t i = 0; i < 3; i++) {
		w2_file_ctrl_init(&m);
		m.type = W2_FILE_CTRL_OFFER;
		m.manifest = manifests[i];
		memcpy(m.pk, sender_pk, 32);
		if (i == 0) {
			snprintf(m.mime, sizeof(m.mime), "text/plain");
			m.lanes = 4;
		}
		add_written(arr, &m);
	}
	for (size_t i = 0; i < 2; i++) {
		w2_file_ctrl_init(&m);
		m.type = W2_FILE_CTRL_ACCEPT;
		memcpy(m.id, manifests[0].id, 16);
		memcpy(m.pk, receiver_pk, 32);
		/* The ranges are borrowed: serialize only reads them. */
		m.ranges.v = i ? two_ranges : NULL;
		m.ranges.count = i ? 2 : 0;
		add_valid(arr, serialize(&m), "accept");
	}
	for (size_t i = 0; i < sizeof(simple) / sizeof(simple[0]); i++) {
		w2_file_ctrl_init(&m);
		m.type = simple[i];
		memcpy(m.id, manifests[0].id, 16);
		add_written(arr, &m);
	}
	w2_file_ctrl_init(&m);
	m.type = W2_FILE_CTRL_NACK;
	memcpy(m.id, manifests[0].id, 16);
	m.ranges.v = two_ranges + 1;
	m.ranges.count = 1;
	add_valid(arr, serialize(&m), "nack");
	for (int t = W2_FILE_CTRL_DONE; t <= W2_FILE_CTRL_COMPLETE; t++) {
		w2_file_ctrl_init(&m);
		m.type = (enum w2_file_ctrl_type)t;
		memcpy(m.id, manifests[0].id, 16);
		memcpy(m.sha256, manifests[0].sha256, 32);
		add_written(arr, &m);
	}
	w2_file_ctrl_init(&m);
	m.type = W2_FILE_CTRL_CANCEL;
	memcpy(m.id, manifests[0].id, 16);
	m.has_text = true;
	snprintf(m.text, sizeof(m.text), "user cancelled \xe2\x9c\x8b");
	add_written(arr, &m);
	w2_file_ctrl_init(&m);
	m.type = W2_FILE_CTRL_ERROR;
	memcpy(m.id, manifests[0].id, 16);
	m.has_id = true;
	m.code = W2_FILE_CODE_INTEGRITY;
	snprintf(m.text, sizeof(m.text), "chunk 2 failed to verify 4 times");
	add_written(arr, &m);
	return arr;
}

/* Hand-written valid messages: what a parser must tolerate. */
static const char *const lenient[][2] = {
	{"{\"id\":\"000102030405060708090a0b0c0d0e0f\",\"t\":\"pause\",\"extra\":[1,{\"x\":2}]}",
	 "pause"},
	{" { \"t\" : \"continue\" , \"id\" : \"000102030405060708090a0b0c0d0e0f\" } ", "continue"},
	{"{\"t\":\"error\",\"code\":\"bad-message\",\"message\":\"not JSON\"}", "error"},
	{"{\"t\":\"error\",\"id\":\"000102030405060708090a0b0c0d0e0f\",\"code\":\"future-code\","
	 "\"message\":\"\"}",
	 "error"},
	{"{\"t\":\"nack\",\"id\":\"000102030405060708090a0b0c0d0e0f\",\"ranges\":[[0,1],[1,2]]}",
	 "nack"},
};

/* The base message of each mutation: an offer, an accept, a nack, a done,
 * an error. */
static json_t *base(const char *t)
{
	char id[33], pk[64];

	w2__file_hex(manifests[0].id, 16, id);
	sodium_bin2base64(pk, sizeof(pk), sender_pk, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	if (strcmp(t, "offer") == 0)
		return json_pack("{ss si ss ss si si ss ss}", "t", "offer", "v", 1, "id", id, "name",
				 "a.txt", "size", 100, "chunkSize", 16384, "enc",
				 "chacha20-poly1305", "pk", pk);
	if (strcmp(t, "accept") == 0)
		return json_pack("{ss ss ss s[]}", "t", "accept", "id", id, "pk", pk, "have");
	if (strcmp(t, "nack") == 0)
		return json_pack("{ss ss s[[ii]]}", "t", "nack", "id", id, "ranges", 0, 1);
	if (strcmp(t, "error") == 0)
		return json_pack("{ss ss ss ss}", "t", "error", "id", id, "code", "internal",
				 "message", "x");
	return json_pack("{ss ss s:s}", "t", t, "id", id, "sha256",
			 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* A mutation: in the base message of type t, set key to the JSON value
 * (or remove it when value is NULL). */
struct mutation {
	const char *t, *key, *value, *answer, *why;
};

static const struct mutation mutations[] = {
	{"offer", "v", NULL, "bad-message", "v is missing"},
	{"offer", "v", "2", "unsupported", "v is 2: another version"},
	{"offer", "v", "\"1\"", "bad-message", "v is a string"},
	{"offer", "id", NULL, "bad-message", "id is missing"},
	{"offer", "id", "\"000102030405060708090a0b0c0d0e0\"", "bad-message", "id has 31 digits"},
	{"offer", "id", "\"000102030405060708090A0B0C0D0E0F\"", "bad-message", "id is uppercase"},
	{"offer", "id", "16", "bad-message", "id is a number"},
	{"offer", "name", NULL, "bad-message", "name is missing"},
	{"offer", "name", "7", "bad-message", "name is a number"},
	{"offer", "name", "\"a\\u0000b\"", "bad-message", "name contains NUL"},
	{"offer", "name", "\"a\\ud800b\"", "bad-message", "name has a lone surrogate"},
	{"offer", "size", "-1", "bad-message", "size is negative"},
	{"offer", "size", "9007199254740992", "bad-message", "size is 2^53"},
	{"offer", "size", "100.5", "bad-message", "size is not an integer"},
	{"offer", "size", "\"100\"", "bad-message", "size is a string"},
	{"offer", "chunkSize", "16383", "bad-message", "chunkSize below 16384"},
	{"offer", "chunkSize", "262101", "bad-message", "chunkSize above 262100"},
	{"offer", "chunkSize", NULL, "bad-message", "chunkSize is missing"},
	{"offer", "enc", "\"aes-gcm\"", "bad-message", "enc is unknown"},
	{"offer", "enc", NULL, "bad-message", "enc is missing"},
	{"offer", "pk", NULL, "bad-message", "pk is missing"},
	{"offer", "pk", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"", "bad-message",
	 "pk has base64 padding"},
	{"offer", "pk", "\"+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"", "bad-message",
	 "pk is standard base64, not base64url"},
	{"offer", "pk", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"", "bad-message",
	 "pk is 42 characters (31 bytes)"},
	{"offer", "pk", "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB\"", "bad-message",
	 "pk has non-zero trailing bits (not canonical)"},
	{"offer", "sha256", "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85\"",
	 "bad-message", "sha256 has 63 digits"},
	{"offer", "sha256", "\"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855\"",
	 "bad-message", "sha256 is uppercase"},
	{"offer", "path", "\"/etc/passwd\"", "bad-message", "path is absolute"},
	{"offer", "path", "\"a/../../b\"", "bad-message", "path has a .. segment"},
	{"offer", "path", "\"..\"", "bad-message", "path is .."},
	{"offer", "path", "\"a//b\"", "bad-message", "path has an empty segment"},
	{"offer", "path", "\"a/b/\"", "bad-message", "path ends with /"},
	{"offer", "path", "5", "bad-message", "path is a number"},
	{"offer", "lanes", "0", "bad-message", "lanes is 0"},
	{"offer", "lanes", "9", "bad-message", "lanes is 9"},
	{"offer", "mime", "[]", "bad-message", "mime is an array"},
	{"offer", "t", "\"offers\"", "unsupported", "t is unknown"},
	{"offer", "t", "1", "bad-message", "t is a number"},
	{"offer", "t", NULL, "bad-message", "t is missing"},
	{"accept", "pk", NULL, "bad-message", "pk is missing"},
	{"accept", "have", NULL, "bad-message", "have is missing"},
	{"accept", "have", "{}", "bad-message", "have is an object"},
	{"accept", "have", "[[1,1]]", "bad-message", "an empty range"},
	{"accept", "have", "[[2,1]]", "bad-message", "start above end"},
	{"accept", "have", "[[0,2],[1,3]]", "bad-message", "overlapping ranges"},
	{"accept", "have", "[[2,3],[0,1]]", "bad-message", "unsorted ranges"},
	{"accept", "have", "[[0]]", "bad-message", "a range of one number"},
	{"accept", "have", "[[0,1,2]]", "bad-message", "a range of three numbers"},
	{"accept", "have", "[[-1,1]]", "bad-message", "a negative start"},
	{"accept", "have", "[[0,\"1\"]]", "bad-message", "an end that is a string"},
	{"accept", "have", "[[0,9007199254740992]]", "bad-message", "an end of 2^53"},
	{"accept", "id", NULL, "bad-message", "id is missing"},
	{"nack", "ranges", NULL, "bad-message", "ranges is missing"},
	{"nack", "ranges", "[[0,1.5]]", "bad-message", "a fractional end"},
	{"done", "sha256", NULL, "bad-message", "sha256 is missing"},
	{"complete", "sha256", "\"\"", "bad-message", "sha256 is empty"},
	{"pause", "id", NULL, "bad-message", "id is missing"},
	{"cancel", "reason", "false", "bad-message", "reason is a boolean"},
	{"reject", "reason", "null", NULL, NULL}, /* null counts as absent: valid */
	{"error", "code", NULL, "bad-message", "code is missing"},
	{"error", "message", NULL, "bad-message", "message is missing"},
	{"error", "code", "404", "bad-message", "code is a number"},
};

/* The value is spliced in as raw text (through a placeholder), so that
 * values jansson itself refuses, like a lone surrogate, can be written. */
static char *mutate(const struct mutation *mu)
{
	json_t *o = base(mu->t);
	char *s, *out, *at;
	const char *ph = "\"@@VALUE@@\"";

	if (mu->value)
		json_object_set_new(o, mu->key, json_string("@@VALUE@@"));
	else
		json_object_del(o, mu->key);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s || !mu->value)
		return s;
	at = strstr(s, ph);
	out = malloc(strlen(s) + strlen(mu->value) + 1);
	if (!at || !out)
		die("mutate");
	memcpy(out, s, (size_t)(at - s));
	strcpy(out + (at - s), mu->value);
	strcat(out, at + strlen(ph));
	free(s);
	return out;
}

static void add_bad(json_t *arr, const char *json, size_t len, const char *answer, const char *why)
{
	struct w2_file_ctrl m;
	json_t *o = json_object();
	int rc = w2_file_ctrl_parse(json, len, &m, NULL);

	w2_file_ctrl_deinit(&m);
	if (rc == 0 || strcmp(w2_file_ctrl_answer_code(rc), answer) != 0)
		die(why);
	json_object_set_new(o, "json", json_stringn(json, len));
	json_object_set_new(o, "answer", json_string(answer));
	json_object_set_new(o, "why", json_string(why));
	json_array_append_new(arr, o);
}

static void add_whole_messages(json_t *arr)
{
	char *s;
	json_t *o = base("pause"), *have = json_array();

	add_bad(arr, "{\"t\":\"pause\",", 13, "bad-message", "not JSON");
	add_bad(arr, "[]", 2, "bad-message", "not an object");
	add_bad(arr, "\"pause\"", 7, "bad-message", "not an object");
	/* Duplicate keys are refused by the C parser, but JSON.parse cannot
	 * see them, so they are no shared vector (tests/unit/test_files.c). */
	for (int i = 0; i <= W2_FILE_RANGES_MAX; i++)
		json_array_append_new(have, json_pack("[ii]", 2 * i, 2 * i + 1));
	json_object_set_new(o, "t", json_string("nack"));
	json_object_set_new(o, "ranges", have);
	s = json_dumps(o, JSON_COMPACT);
	add_bad(arr, s, strlen(s), "bad-message", "4097 ranges");
	free(s);
	json_decref(o);
}

static json_t *control_invalid(json_t *valid)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
		char *s = mutate(&mutations[i]);

		if (mutations[i].answer)
			add_bad(arr, s, strlen(s), mutations[i].answer, mutations[i].why);
		else
			add_valid(valid, s, mutations[i].t);
		free(s);
	}
	add_whole_messages(arr);
	return arr;
}

static json_t *keys_json(void)
{
	uint8_t shared[32];

	if (crypto_scalarmult(shared, sender_sk, receiver_pk) != 0)
		die("shared");
	return json_pack("{s o s o s o s o s o}", "sender_sk", hexj(sender_sk, 32), "sender_pk",
			 hexj(sender_pk, 32), "receiver_sk", hexj(receiver_sk, 32), "receiver_pk",
			 hexj(receiver_pk, 32), "shared", hexj(shared, 32));
}

int main(void)
{
	json_t *root, *arr, *valid;

	if (sodium_init() < 0)
		die("sodium_init");
	/* Fixed secret keys: 01..20 and 21..40 (X25519 clamps them). */
	for (int i = 0; i < 32; i++) {
		sender_sk[i] = (uint8_t)(i + 1);
		receiver_sk[i] = (uint8_t)(i + 33);
	}
	if (w2_file_public_key(sender_sk, sender_pk) != 0 ||
	    w2_file_public_key(receiver_sk, receiver_pk) != 0)
		die("public keys");
	arr = json_array();
	for (size_t i = 0; i < SPECS; i++)
		json_array_append_new(arr, manifest_json(i));
	valid = control_valid();
	for (size_t i = 0; i < sizeof(lenient) / sizeof(lenient[0]); i++)
		add_valid(valid, lenient[i][0], lenient[i][1]);
	root = json_pack("{s s s i s o s s s o s o s o}", "description", DESCRIPTION, "version", 1,
			 "keys", keys_json(), "plaintext", "byte k of a file is k mod 251",
			 "manifests", arr, "frames_invalid", frames_invalid(), "keys_invalid",
			 keys_invalid());
	json_object_set_new(root, "control_invalid", control_invalid(valid));
	json_object_set_new(root, "control_valid", valid);
	if (!root || json_dumpf(root, stdout, JSON_INDENT(1)) != 0)
		die("writing");
	putchar('\n');
	json_decref(root);
	return 0;
}
