/* Unit tests of src/files: file transfer v1 (docs/file-transfer.md).
 *
 * The shared vectors (tests/vectors/file-transfer-v1.json, found through
 * W2_SOURCE_DIR) are checked both ways: what they list is what this side
 * computes, and what they say must be refused is refused. Then every error
 * path of the manifest, keys, sealing, frames and control messages, and
 * allocation failure where src/files allocates (ranges). */
#include "core/alloc.h"
#include "core/error.h"
#include "files/files.h"
#include "files/files_int.h"

#include <jansson.h>
#include <sodium.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define ID_HEX "000102030405060708090a0b0c0d0e0f"

/* ---- helpers ---- */

static json_t *vectors;

static int group_setup(void **state)
{
	const char *dir = getenv("W2_SOURCE_DIR");
	char path[4096];
	json_error_t err;

	snprintf(path, sizeof(path), "%s/tests/vectors/file-transfer-v1.json", dir ? dir : ".");
	vectors = json_load_file(path, 0, &err);
	if (!vectors)
		fprintf(stderr, "cannot read %s: %s\n", path, err.text);
	return vectors && sodium_init() >= 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	json_decref(vectors);
	return 0;
}

static const char *vstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	assert_non_null(s);
	return s;
}

/* Hex of a vector into a fresh buffer (freed by the caller). */
static uint8_t *vhex(const json_t *o, const char *key, size_t *len)
{
	const char *s = vstr(o, key);
	uint8_t *b = malloc(strlen(s) / 2 + 1);

	assert_non_null(b);
	assert_int_equal(w2__file_unhex(s, b, strlen(s) / 2), 0);
	*len = strlen(s) / 2;
	return b;
}

static void vkey(const json_t *o, const char *key, uint8_t out[32])
{
	assert_int_equal(w2__file_unhex(vstr(o, key), out, 32), 0);
}

static void file_bytes(uint64_t offset, uint8_t *out, size_t n)
{
	for (size_t k = 0; k < n; k++)
		out[k] = (uint8_t)((offset + k) % 251);
}

/* A valid manifest: 3 chunks of 16384, 16384 and 1000 bytes. */
static void small_manifest(struct w2_file_manifest *m)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < 16; i++)
		m->id[i] = (uint8_t)i;
	m->size = 2 * 16384 + 1000;
	m->chunk_size = 16384;
	m->enc = W2_FILE_ENC_CHACHA;
	snprintf(m->name, sizeof(m->name), "a.txt");
}

static const json_t *manifest_vector(const char *name)
{
	const json_t *arr = json_object_get(vectors, "manifests");

	for (size_t i = 0; i < json_array_size(arr); i++)
		if (strcmp(vstr(json_array_get(arr, i), "name"), name) == 0)
			return json_array_get(arr, i);
	fail_msg("no manifest vector %s", name);
	return NULL;
}

static void vector_manifest(const json_t *mv, struct w2_file_manifest *m)
{
	char detail[W2_FILE_DETAIL_MAX];

	assert_int_equal(w2__file_manifest_from_json(json_object_get(mv, "fields"), m, detail), 0);
}

/* ---- vectors ---- */

static void check_vector_frame(const json_t *fr, const struct w2_file_manifest *m,
			       const uint8_t key[32])
{
	static uint8_t plain[W2_FILE_CHUNK_MAX], out[W2_FILE_FRAME_MAX], back[W2_FILE_CHUNK_MAX];
	uint64_t index = (uint64_t)json_integer_value(json_object_get(fr, "index"));
	size_t len, want_len, plen, flen, blen;
	uint8_t *want;
	struct w2_file_frame f;

	if (!json_object_get(fr, "frame"))
		return;
	want = vhex(fr, "frame", &want_len);
	assert_int_equal(w2_file_chunk_len(m, index, &len), 0);
	assert_int_equal(len, json_integer_value(json_object_get(fr, "length")));
	file_bytes(w2_file_chunk_offset(m, index), plain, len);
	/* Sealing: the same bytes as the vector. */
	assert_int_equal(w2_file_chunk_seal(key, m, index, plain, len, out + 26, sizeof(out) - 26,
					    &plen),
			 0);
	assert_int_equal(w2_file_frame_encode(m, index, out + 26, plen, out, sizeof(out), &flen), 0);
	assert_int_equal(flen, want_len);
	assert_memory_equal(out, want, flen);
	/* Opening the vector's frame gives the plaintext back. */
	assert_int_equal(w2_file_frame_parse(want, want_len, &f, NULL), 0);
	assert_int_equal(w2_file_frame_check(&f, m, NULL), 0);
	assert_int_equal(f.index, index);
	assert_int_equal(w2_file_chunk_open(key, m, f.index, f.payload, f.payload_len, back,
					    sizeof(back), &blen),
			 0);
	assert_int_equal(blen, len);
	assert_memory_equal(back, plain, len);
	free(want);
}

static void check_vector_manifest(const json_t *mv, const json_t *keys)
{
	struct w2_file_manifest m, d;
	uint8_t spk[32], ssk[32], rpk[32], rsk[32], key[32], tr[32], enc[W2_FILE_MANIFEST_MAX];
	size_t len, want_len, tr_len, key_len, last;
	uint8_t *want = vhex(mv, "manifest", &want_len), *want_tr = vhex(mv, "transcript", &tr_len);
	uint8_t *want_key = vhex(mv, "key", &key_len);
	const json_t *frames = json_object_get(mv, "frames");

	vkey(keys, "sender_pk", spk);
	vkey(keys, "sender_sk", ssk);
	vkey(keys, "receiver_pk", rpk);
	vkey(keys, "receiver_sk", rsk);
	vector_manifest(mv, &m);
	assert_int_equal(w2_file_manifest_encode(&m, enc, sizeof(enc), &len), 0);
	assert_int_equal(len, want_len);
	assert_memory_equal(enc, want, len);
	assert_int_equal(w2_file_manifest_decode(want, want_len, &d, NULL), 0);
	assert_true(w2_file_manifest_equal(&m, &d));
	assert_int_equal(w2_file_transcript(&m, spk, rpk, tr), 0);
	assert_memory_equal(tr, want_tr, 32);
	/* Both sides derive the same key. */
	assert_int_equal(w2_file_session_key(ssk, rpk, &m, spk, rpk, key), 0);
	assert_memory_equal(key, want_key, 32);
	assert_int_equal(w2_file_session_key(rsk, spk, &m, spk, rpk, key), 0);
	assert_memory_equal(key, want_key, 32);
	assert_int_equal(w2_file_chunk_count(&m), json_integer_value(json_object_get(mv, "chunk_count")));
	if (w2_file_chunk_count(&m) > 0) {
		assert_int_equal(w2_file_chunk_len(&m, w2_file_chunk_count(&m) - 1, &last), 0);
		assert_int_equal(last, json_integer_value(json_object_get(mv, "last_chunk_len")));
	}
	for (size_t i = 0; i < json_array_size(frames); i++)
		check_vector_frame(json_array_get(frames, i), &m, key);
	free(want);
	free(want_tr);
	free(want_key);
}

static void test_vectors_manifests(void **state)
{
	const json_t *arr = json_object_get(vectors, "manifests");
	const json_t *keys = json_object_get(vectors, "keys");
	uint8_t sk[32], pk[32];

	assert_true(json_array_size(arr) >= 3);
	vkey(keys, "sender_sk", sk);
	assert_int_equal(w2_file_public_key(sk, pk), 0);
	vkey(keys, "sender_pk", sk);
	assert_memory_equal(pk, sk, 32);
	for (size_t i = 0; i < json_array_size(arr); i++)
		check_vector_manifest(json_array_get(arr, i), keys);
}

static void test_vectors_frames_invalid(void **state)
{
	static uint8_t out[W2_FILE_CHUNK_MAX];
	const json_t *arr = json_object_get(vectors, "frames_invalid");

	assert_true(json_array_size(arr) >= 10);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *v = json_array_get(arr, i), *mv = manifest_vector(vstr(v, "manifest"));
		struct w2_file_manifest m;
		struct w2_file_frame f;
		uint8_t key[32], *frame;
		size_t len, olen;
		int rc;

		vector_manifest(mv, &m);
		vkey(mv, "key", key);
		frame = vhex(v, "frame", &len);
		rc = w2_file_frame_parse(frame, len, &f, NULL);
		if (rc == 0)
			rc = w2_file_frame_check(&f, &m, NULL);
		if (strcmp(vstr(v, "expect"), "reject") == 0) {
			assert_int_not_equal(rc, 0);
		} else {
			assert_int_equal(rc, 0);
			memset(out, 0xAA, sizeof(out));
			assert_int_equal(w2_file_chunk_open(key, &m, f.index, f.payload,
							    f.payload_len, out, sizeof(out), &olen),
					 W2_EAUTH);
			/* Nothing unverified is left in the output. */
			assert_true(sodium_is_zero(out, f.payload_len - W2_FILE_TAG_LEN));
		}
		free(frame);
	}
}

static void test_vectors_keys_invalid(void **state)
{
	const json_t *arr = json_object_get(vectors, "keys_invalid");
	struct w2_file_manifest m;
	uint8_t sk[32], peer[32], own[32], key[32];

	small_manifest(&m);
	assert_true(json_array_size(arr) >= 3);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		vkey(json_array_get(arr, i), "own_sk", sk);
		vkey(json_array_get(arr, i), "peer_pk", peer);
		assert_int_equal(w2_file_public_key(sk, own), 0);
		assert_int_equal(w2_file_session_key(sk, peer, &m, own, peer, key), W2_EAUTH);
		assert_int_equal(w2_file_session_key(sk, peer, &m, peer, own, key), W2_EAUTH);
	}
}

static void test_vectors_control_valid(void **state)
{
	static char s1[W2_FILE_CONTROL_MAX + 1], s2[W2_FILE_CONTROL_MAX + 1];
	const json_t *arr = json_object_get(vectors, "control_valid");

	assert_true(json_array_size(arr) >= 10);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *v = json_array_get(arr, i);
		const char *json = vstr(v, "json");
		struct w2_file_ctrl m;
		char detail[W2_FILE_DETAIL_MAX] = "";
		size_t l1, l2;

		assert_int_equal(w2_file_ctrl_parse(json, strlen(json), &m, detail), 0);
		assert_string_equal(w2_file_ctrl_type_name(m.type), vstr(v, "t"));
		/* Serializing is a fixed point after one round. */
		assert_int_equal(w2_file_ctrl_serialize(&m, s1, sizeof(s1), &l1, detail), 0);
		w2_file_ctrl_deinit(&m);
		assert_int_equal(w2_file_ctrl_parse(s1, l1, &m, detail), 0);
		assert_int_equal(w2_file_ctrl_serialize(&m, s2, sizeof(s2), &l2, detail), 0);
		w2_file_ctrl_deinit(&m);
		assert_string_equal(s1, s2);
	}
}

static void test_vectors_control_invalid(void **state)
{
	const json_t *arr = json_object_get(vectors, "control_invalid");

	assert_true(json_array_size(arr) >= 40);
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *v = json_array_get(arr, i);
		struct w2_file_ctrl m;
		char detail[W2_FILE_DETAIL_MAX] = "";
		const char *json = vstr(v, "json");
		int rc = w2_file_ctrl_parse(json, json_string_length(json_object_get(v, "json")),
					    &m, detail);

		w2_file_ctrl_deinit(&m);
		if (rc == 0 || strcmp(w2_file_ctrl_answer_code(rc), vstr(v, "answer")) != 0)
			fail_msg("%s: got %d (%s)", vstr(v, "why"), rc, detail);
		assert_true(detail[0] != '\0');
	}
}

/* ---- manifest ---- */

static void assert_invalid(const struct w2_file_manifest *m, const char *field)
{
	char detail[W2_FILE_DETAIL_MAX] = "";
	uint8_t out[W2_FILE_MANIFEST_MAX];
	size_t len;

	assert_int_equal(w2_file_manifest_validate(m, detail), W2_EINVAL);
	if (!strstr(detail, field))
		fail_msg("detail '%s' does not name %s", detail, field);
	assert_int_equal(w2_file_manifest_encode(m, out, sizeof(out), &len), W2_EINVAL);
}

static void test_manifest_rules(void **state)
{
	struct w2_file_manifest m;
	static const char *const bad_paths[] = {"/a", "a/../b", "..", "a//b", "a/", "../x", "a/.."};
	static const char *const good_paths[] = {"a", "a/b/c", "...", "a..b/..c", ".", "a/./b"};

	small_manifest(&m);
	assert_int_equal(w2_file_manifest_validate(&m, NULL), 0);
	m.size = W2_FILE_SIZE_MAX;
	assert_int_equal(w2_file_manifest_validate(&m, NULL), 0);
	m.size = W2_FILE_SIZE_MAX + 1;
	assert_invalid(&m, "size");
	small_manifest(&m);
	m.chunk_size = W2_FILE_CHUNK_MIN - 1;
	assert_invalid(&m, "chunkSize");
	m.chunk_size = W2_FILE_CHUNK_MAX + 1;
	assert_invalid(&m, "chunkSize");
	m.chunk_size = W2_FILE_CHUNK_MAX;
	assert_int_equal(w2_file_manifest_validate(&m, NULL), 0);
	m.enc = (enum w2_file_enc)2;
	assert_invalid(&m, "enc");
	small_manifest(&m);
	memset(m.name, 'x', W2_FILE_NAME_MAX);
	assert_int_equal(w2_file_manifest_validate(&m, NULL), 0);
	memset(m.name, 'x', sizeof(m.name)); /* no NUL at all */
	assert_invalid(&m, "name");
	snprintf(m.name, sizeof(m.name), "bad \xc0\xaf utf-8");
	assert_invalid(&m, "name");
	small_manifest(&m);
	memset(m.path, 'p', W2_FILE_PATH_MAX);
	assert_int_equal(w2_file_manifest_validate(&m, NULL), 0);
	memset(m.path, 'p', sizeof(m.path));
	assert_invalid(&m, "path");
	snprintf(m.path, sizeof(m.path), "a/\xed\xa0\x80"); /* a surrogate */
	assert_invalid(&m, "path");
	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		snprintf(m.path, sizeof(m.path), "%s", bad_paths[i]);
		assert_invalid(&m, "path");
	}
	for (size_t i = 0; i < sizeof(good_paths) / sizeof(good_paths[0]); i++) {
		snprintf(m.path, sizeof(m.path), "%s", good_paths[i]);
		assert_int_equal(w2_file_manifest_validate(&m, NULL), 0);
	}
}

static void test_manifest_encode_decode(void **state)
{
	struct w2_file_manifest m, d;
	uint8_t buf[W2_FILE_MANIFEST_MAX + 1], copy[W2_FILE_MANIFEST_MAX + 1];
	char detail[W2_FILE_DETAIL_MAX];
	size_t len, l2;

	small_manifest(&m);
	m.has_hash = true;
	memset(m.sha256, 0x5a, 32);
	snprintf(m.path, sizeof(m.path), "dir/a.txt");
	assert_int_equal(w2_file_manifest_encode(&m, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 14 + 16 + 8 + 4 + 2 + 32 + 2 + 5 + 2 + 9);
	assert_int_equal(w2_file_manifest_encode(&m, buf, len - 1, &l2), W2_ELIMIT);
	assert_int_equal(w2_file_manifest_decode(buf, len, &d, detail), 0);
	assert_true(w2_file_manifest_equal(&m, &d));
	d.size++;
	assert_false(w2_file_manifest_equal(&m, &d));
	d.size = W2_FILE_SIZE_MAX + 1;
	assert_false(w2_file_manifest_equal(&m, &d));
	/* Every cut is refused, and so is one byte too many. */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(w2_file_manifest_decode(buf, cut, &d, NULL), W2_EINVAL);
	buf[len] = 0;
	assert_int_equal(w2_file_manifest_decode(buf, len + 1, &d, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "trailing"));
	memcpy(copy, buf, len);
	copy[0] = 'W';
	assert_int_equal(w2_file_manifest_decode(copy, len, &d, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "webrtc2-file/1"));
	memcpy(copy, buf, len);
	copy[42] = 2; /* enc */
	assert_int_equal(w2_file_manifest_decode(copy, len, &d, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "enc"));
	memcpy(copy, buf, len);
	copy[43] = 2; /* hasHash */
	assert_int_equal(w2_file_manifest_decode(copy, len, &d, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "hasHash"));
	memcpy(copy, buf, len);
	copy[44 + 32 + 2 + 1] = 0; /* a NUL in the name */
	assert_int_equal(w2_file_manifest_decode(copy, len, &d, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "NUL"));
	memcpy(copy, buf, len);
	copy[38] = 1; /* chunkSize 16384 + 2^24: out of range */
	assert_int_equal(w2_file_manifest_decode(copy, len, &d, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "chunkSize"));
}

static void test_manifest_decode_long_name(void **state)
{
	static uint8_t buf[W2_FILE_MANIFEST_MAX + 8];
	struct w2_file_manifest m, d;
	char detail[W2_FILE_DETAIL_MAX];
	size_t len;

	small_manifest(&m);
	memset(m.name, 'n', W2_FILE_NAME_MAX);
	m.name[W2_FILE_NAME_MAX] = '\0';
	assert_int_equal(w2_file_manifest_encode(&m, buf, sizeof(buf), &len), 0);
	assert_int_equal(w2_file_manifest_decode(buf, len, &d, NULL), 0);
	/* nameLen 1025 with 1025 bytes there: too long for the doc. */
	memmove(buf + 44 + 2 + 1025, buf + 44 + 2 + 1024, len - (44 + 2 + 1024));
	buf[44 + 2 + 1024] = 'n';
	buf[44] = 1025 >> 8;
	buf[45] = 1025 & 255;
	assert_int_equal(w2_file_manifest_decode(buf, len + 1, &d, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "name"));
}

/* ---- chunks ---- */

static void test_chunks(void **state)
{
	struct w2_file_manifest m;
	size_t len;

	small_manifest(&m);
	assert_int_equal(w2_file_chunk_count(&m), 3);
	assert_int_equal(w2_file_chunk_len(&m, 0, &len), 0);
	assert_int_equal(len, 16384);
	assert_int_equal(w2_file_chunk_len(&m, 2, &len), 0);
	assert_int_equal(len, 1000);
	assert_int_equal(w2_file_chunk_offset(&m, 2), 32768);
	assert_int_equal(w2_file_chunk_len(&m, 3, &len), W2_EINVAL);
	assert_int_equal(w2_file_payload_len(&m, 2, &len), 0);
	assert_int_equal(len, 1016);
	assert_int_equal(w2_file_payload_len(&m, 3, &len), W2_EINVAL);
	m.size = 3 * 16384;
	assert_int_equal(w2_file_chunk_count(&m), 3);
	assert_int_equal(w2_file_chunk_len(&m, 2, &len), 0);
	assert_int_equal(len, 16384);
	m.size = 1;
	assert_int_equal(w2_file_chunk_count(&m), 1);
	m.size = 0;
	assert_int_equal(w2_file_chunk_count(&m), 0);
	assert_int_equal(w2_file_chunk_len(&m, 0, &len), W2_EINVAL);
	m.size = W2_FILE_SIZE_MAX;
	m.chunk_size = W2_FILE_CHUNK_MIN;
	assert_int_equal(w2_file_chunk_count(&m), (W2_FILE_SIZE_MAX >> 14) + 1);
	assert_int_equal(w2_file_chunk_len(&m, W2_FILE_SIZE_MAX >> 14, &len), 0);
	assert_int_equal(len, 16383);
	assert_int_equal(w2_file_chunk_len(&m, UINT64_MAX, &len), W2_EINVAL);
}

/* ---- keys ---- */

static void test_session_key_errors(void **state)
{
	struct w2_file_manifest m;
	uint8_t apk[32], ask[32], bpk[32], bsk[32], cpk[32], csk[32], k1[32], k2[32];
	uint8_t low[32] = {0};

	small_manifest(&m);
	assert_int_equal(w2_file_keypair(apk, ask), 0);
	assert_int_equal(w2_file_keypair(bpk, bsk), 0);
	assert_int_equal(w2_file_keypair(cpk, csk), 0);
	assert_int_equal(w2_file_session_key(ask, bpk, &m, apk, bpk, k1), 0);
	assert_int_equal(w2_file_session_key(bsk, apk, &m, apk, bpk, k2), 0);
	assert_memory_equal(k1, k2, 32);
	/* Caller mix-ups: own key on neither side, peer not the other side. */
	assert_int_equal(w2_file_session_key(csk, bpk, &m, apk, bpk, k2), W2_EINVAL);
	assert_int_equal(w2_file_session_key(ask, cpk, &m, apk, bpk, k2), W2_EINVAL);
	assert_int_equal(w2_file_session_key(ask, bpk, &m, apk, apk, k2), W2_EINVAL);
	/* A low-order point (here 1, of order 1). */
	low[0] = 1;
	assert_int_equal(w2_file_session_key(ask, low, &m, apk, low, k2), W2_EAUTH);
	/* An invalid manifest. */
	m.chunk_size = 1;
	assert_int_equal(w2_file_session_key(ask, bpk, &m, apk, bpk, k2), W2_EINVAL);
	assert_int_equal(w2_file_transcript(&m, apk, bpk, k2), W2_EINVAL);
	/* Any change of the manifest changes the key. */
	small_manifest(&m);
	m.name[0] = 'b';
	assert_int_equal(w2_file_session_key(ask, bpk, &m, apk, bpk, k2), 0);
	assert_memory_not_equal(k1, k2, 32);
	/* So does swapping the roles. */
	small_manifest(&m);
	assert_int_equal(w2_file_session_key(ask, bpk, &m, bpk, apk, k2), 0);
	assert_memory_not_equal(k1, k2, 32);
}

/* ---- sealing ---- */

static void test_seal_open_errors(void **state)
{
	static uint8_t plain[16384], buf[16384 + 16], out[16384];
	struct w2_file_manifest m;
	uint8_t key[32], other[32];
	size_t len, olen;

	small_manifest(&m);
	randombytes_buf(key, sizeof(key));
	randombytes_buf(other, sizeof(other));
	file_bytes(0, plain, sizeof(plain));
	assert_int_equal(w2_file_chunk_seal(key, &m, 0, plain, 16383, buf, sizeof(buf), &len),
			 W2_EINVAL);
	assert_int_equal(w2_file_chunk_seal(key, &m, 3, plain, 1000, buf, sizeof(buf), &len),
			 W2_EINVAL);
	assert_int_equal(w2_file_chunk_seal(key, &m, 0, plain, 16384, buf, 16384 + 15, &len),
			 W2_ELIMIT);
	assert_int_equal(w2_file_chunk_seal(key, &m, 0, plain, 16384, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 16384 + 16);
	assert_int_equal(w2_file_chunk_open(key, &m, 0, buf, len - 1, out, sizeof(out), &olen),
			 W2_EINVAL);
	assert_int_equal(w2_file_chunk_open(key, &m, 3, buf, len, out, sizeof(out), &olen),
			 W2_EINVAL);
	assert_int_equal(w2_file_chunk_open(key, &m, 0, buf, len, out, 16383, &olen), W2_ELIMIT);
	/* Wrong key, wrong index (1 has the same length), wrong id. */
	assert_int_equal(w2_file_chunk_open(other, &m, 0, buf, len, out, sizeof(out), &olen),
			 W2_EAUTH);
	assert_int_equal(w2_file_chunk_open(key, &m, 1, buf, len, out, sizeof(out), &olen),
			 W2_EAUTH);
	m.id[0] ^= 1;
	assert_int_equal(w2_file_chunk_open(key, &m, 0, buf, len, out, sizeof(out), &olen),
			 W2_EAUTH);
	m.id[0] ^= 1;
	/* In place both ways. */
	memcpy(buf, plain, 1000);
	assert_int_equal(w2_file_chunk_seal(key, &m, 2, buf, 1000, buf, sizeof(buf), &len), 0);
	assert_int_equal(w2_file_chunk_open(key, &m, 2, buf, len, buf, sizeof(buf), &olen), 0);
	assert_int_equal(olen, 1000);
	assert_memory_equal(buf, plain, 1000);
}

static void test_seal_truncation(void **state)
{
	static uint8_t plain[16384], buf[16384 + 16], out[16384];
	struct w2_file_manifest m, two;
	uint8_t key[32];
	size_t len, olen;

	small_manifest(&m);
	two = m;
	two.size = 2 * 16384;
	randombytes_buf(key, sizeof(key));
	file_bytes(16384, plain, sizeof(plain));
	/* Chunk 1 as the last chunk of a 2-chunk file does not open as chunk
	 * 1 of the 3-chunk file, nor the other way round. */
	assert_int_equal(w2_file_chunk_seal(key, &two, 1, plain, 16384, buf, sizeof(buf), &len), 0);
	assert_int_equal(w2_file_chunk_open(key, &m, 1, buf, len, out, sizeof(out), &olen),
			 W2_EAUTH);
	assert_int_equal(w2_file_chunk_open(key, &two, 1, buf, len, out, sizeof(out), &olen), 0);
	assert_int_equal(w2_file_chunk_seal(key, &m, 1, plain, 16384, buf, sizeof(buf), &len), 0);
	assert_int_equal(w2_file_chunk_open(key, &two, 1, buf, len, out, sizeof(out), &olen),
			 W2_EAUTH);
}

static void test_enc_none(void **state)
{
	static uint8_t plain[1000], buf[1100], frame[1100];
	struct w2_file_manifest m;
	struct w2_file_frame f;
	size_t len, flen;

	small_manifest(&m);
	m.enc = W2_FILE_ENC_NONE;
	m.size = 1000;
	file_bytes(0, plain, sizeof(plain));
	assert_int_equal(w2_file_chunk_seal(NULL, &m, 0, plain, 1000, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 1000);
	assert_memory_equal(buf, plain, 1000);
	assert_int_equal(w2_file_frame_encode(&m, 0, buf, len, frame, sizeof(frame), &flen), 0);
	assert_int_equal(flen, 1026);
	assert_int_equal(w2_file_frame_parse(frame, flen, &f, NULL), 0);
	assert_int_equal(w2_file_frame_check(&f, &m, NULL), 0);
	assert_int_equal(w2_file_chunk_open(NULL, &m, 0, f.payload, f.payload_len, buf, sizeof(buf),
					    &len),
			 0);
	assert_memory_equal(buf, plain, 1000);
	assert_int_equal(w2_file_chunk_open(NULL, &m, 0, f.payload, 1016, buf, sizeof(buf), &len),
			 W2_EINVAL);
}

/* ---- frames ---- */

static void test_frames(void **state)
{
	static uint8_t frame[26 + 1016 + 1], payload[1016];
	struct w2_file_manifest m;
	struct w2_file_frame f;
	char detail[W2_FILE_DETAIL_MAX];
	size_t flen;

	small_manifest(&m);
	memset(payload, 7, sizeof(payload));
	assert_int_equal(w2_file_frame_encode(&m, 2, payload, 1016, frame, 26 + 1015, &flen),
			 W2_ELIMIT);
	assert_int_equal(w2_file_frame_encode(&m, 2, payload, 1016, frame, 10, &flen), W2_ELIMIT);
	assert_int_equal(w2_file_frame_encode(&m, 2, payload, 1015, frame, sizeof(frame), &flen),
			 W2_EINVAL);
	assert_int_equal(w2_file_frame_encode(&m, 3, payload, 1016, frame, sizeof(frame), &flen),
			 W2_EINVAL);
	assert_int_equal(w2_file_frame_encode(&m, 2, payload, 1016, frame, sizeof(frame), &flen), 0);
	assert_int_equal(flen, 26 + 1016);
	assert_int_equal(frame[0], 1);
	assert_int_equal(frame[1], 1);
	assert_int_equal(frame[25], 2);
	for (size_t cut = 0; cut < 26; cut++) {
		assert_int_equal(w2_file_frame_parse(frame, cut, &f, detail), W2_EINVAL);
		assert_non_null(strstr(detail, "header"));
	}
	assert_int_equal(w2_file_frame_parse(frame, 26, &f, NULL), 0);
	assert_int_equal(f.payload_len, 0);
	assert_int_equal(w2_file_frame_check(&f, &m, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "payload length"));
	assert_int_equal(w2_file_frame_parse(frame, flen + 1, &f, NULL), 0);
	assert_int_equal(w2_file_frame_check(&f, &m, detail), W2_EINVAL);
	assert_int_equal(w2_file_frame_parse(frame, flen, &f, NULL), 0);
	assert_int_equal(w2_file_frame_check(&f, &m, NULL), 0);
	assert_ptr_equal(f.payload, frame + 26);
	frame[25] = 3;
	assert_int_equal(w2_file_frame_parse(frame, flen, &f, NULL), 0);
	assert_int_equal(w2_file_frame_check(&f, &m, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "index"));
	frame[25] = 2;
	frame[10] ^= 1;
	assert_int_equal(w2_file_frame_parse(frame, flen, &f, NULL), 0);
	assert_int_equal(w2_file_frame_check(&f, &m, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "id"));
	frame[10] ^= 1;
	frame[0] = 2;
	assert_int_equal(w2_file_frame_parse(frame, flen, &f, detail), W2_EPROTO);
	assert_non_null(strstr(detail, "version"));
	frame[0] = 1;
	frame[1] = 2;
	assert_int_equal(w2_file_frame_parse(frame, flen, &f, detail), W2_EPROTO);
	assert_non_null(strstr(detail, "type"));
	/* In place: the payload already at out + 26 is not moved. */
	memset(frame + 26, 9, 1016);
	assert_int_equal(w2_file_frame_encode(&m, 2, frame + 26, 1016, frame, sizeof(frame), &flen),
			 0);
	assert_int_equal(frame[1], 1);
	assert_int_equal(frame[26 + 1015], 9);
}

/* ---- control messages ---- */

static int parse(const char *json, struct w2_file_ctrl *m, char *detail)
{
	return w2_file_ctrl_parse(json, strlen(json), m, detail);
}

static void test_ctrl_offer_fields(void **state)
{
	const char *s = "{\"t\":\"offer\",\"v\":1,\"id\":\"" ID_HEX "\",\"name\":\"a b.txt\","
			"\"size\":70000,\"chunkSize\":65536,\"enc\":\"none\","
			"\"pk\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\",\"sha256\":\""
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\","
			"\"mime\":\"text/plain\",\"path\":\"d/a b.txt\",\"lanes\":8,\"later\":true}";
	struct w2_file_ctrl m;
	char detail[W2_FILE_DETAIL_MAX];

	assert_int_equal(parse(s, &m, detail), 0);
	assert_int_equal(m.type, W2_FILE_CTRL_OFFER);
	assert_true(m.has_id);
	assert_int_equal(m.id[15], 15);
	assert_memory_equal(m.id, m.manifest.id, 16);
	assert_string_equal(m.manifest.name, "a b.txt");
	assert_string_equal(m.manifest.path, "d/a b.txt");
	assert_int_equal(m.manifest.size, 70000);
	assert_int_equal(m.manifest.chunk_size, 65536);
	assert_int_equal(m.manifest.enc, W2_FILE_ENC_NONE);
	assert_true(m.manifest.has_hash);
	assert_int_equal(m.manifest.sha256[0], 0xe3);
	assert_int_equal(m.pk[31], 1);
	assert_string_equal(m.mime, "text/plain");
	assert_int_equal(m.lanes, 8);
	w2_file_ctrl_deinit(&m);
}

static void test_ctrl_nulls_and_ids(void **state)
{
	struct w2_file_ctrl m;
	char detail[W2_FILE_DETAIL_MAX];

	/* Optional fields as null are absent. */
	assert_int_equal(parse("{\"t\":\"offer\",\"v\":1,\"id\":\"" ID_HEX "\",\"name\":\"x\","
			       "\"size\":0,\"chunkSize\":16384,\"enc\":\"chacha20-poly1305\","
			       "\"pk\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"sha256\":null,"
			       "\"path\":null,\"mime\":null,\"lanes\":null}",
			       &m, detail),
			 0);
	assert_false(m.manifest.has_hash);
	assert_int_equal(m.lanes, 0);
	assert_string_equal(m.mime, "");
	/* A refused message still names its transfer when the id was good. */
	assert_int_equal(parse("{\"t\":\"done\",\"id\":\"" ID_HEX "\",\"sha256\":\"00\"}", &m,
			       detail),
			 W2_EINVAL);
	assert_true(m.has_id);
	assert_int_equal(m.id[1], 1);
	assert_non_null(strstr(detail, "sha256"));
	assert_int_equal(parse("{\"t\":\"dance\",\"id\":\"" ID_HEX "\"}", &m, detail), W2_EPROTO);
	assert_true(m.has_id);
	assert_non_null(strstr(detail, "dance"));
	assert_string_equal(w2_file_ctrl_answer_code(W2_EPROTO), "unsupported");
	assert_int_equal(parse("{\"t\":\"dance\"}", &m, detail), W2_EPROTO);
	assert_false(m.has_id);
	assert_int_equal(parse("{\"t\":\"dance\",\"id\":7}", &m, detail), W2_EPROTO);
	assert_false(m.has_id);
	assert_int_equal(parse("{\"t\":\"pause\",\"id\":\"zz\"}", &m, detail), W2_EINVAL);
	assert_false(m.has_id);
	assert_non_null(strstr(detail, "id"));
	assert_string_equal(w2_file_ctrl_answer_code(W2_EINVAL), "bad-message");
	assert_int_equal(parse("{\"t\":\"pause\",\"id\":\"" ID_HEX "\",\"t\":\"cancel\"}", &m,
			       detail),
			 W2_EINVAL);
	assert_non_null(strstr(detail, "JSON"));
	assert_string_equal(w2_file_ctrl_answer_code(W2_ENOMEM), "internal");
	/* An error may come without an id (a reply to unreadable input). */
	assert_int_equal(parse("{\"t\":\"error\",\"code\":\"bad-message\",\"message\":\"m\"}", &m,
			       detail),
			 0);
	assert_false(m.has_id);
	assert_int_equal(m.code, W2_FILE_CODE_BAD_MESSAGE);
	assert_int_equal(parse("{\"t\":\"error\",\"id\":\"" ID_HEX "\",\"code\":\"new-thing\","
			       "\"message\":\"m\"}",
			       &m, detail),
			 0);
	assert_true(m.has_id);
	assert_int_equal(m.code, W2_FILE_CODE_OTHER);
	assert_string_equal(m.code_str, "new-thing");
	assert_int_equal(parse("{\"t\":\"error\",\"id\":\"" ID_HEX "\",\"code\":\""
			       "a-code-that-is-far-too-long-to-keep-here\",\"message\":\"m\"}",
			       &m, detail),
			 W2_EINVAL);
	assert_non_null(strstr(detail, "code"));
}

static void test_ctrl_limits(void **state)
{
	static char big[W2_FILE_CONTROL_MAX + 2];
	static char text[2 * W2_FILE_TEXT_MAX + 100];
	struct w2_file_ctrl m;
	char detail[W2_FILE_DETAIL_MAX];
	int n;

	/* Exactly 64 KiB passes; one byte more does not. */
	n = snprintf(big, sizeof(big), "{\"t\":\"pause\",\"id\":\"" ID_HEX "\",\"x\":\"");
	memset(big + n, 'a', W2_FILE_CONTROL_MAX - (size_t)n - 2);
	memcpy(big + W2_FILE_CONTROL_MAX - 2, "\"}", 3);
	assert_int_equal(w2_file_ctrl_parse(big, W2_FILE_CONTROL_MAX, &m, detail), 0);
	assert_int_equal(w2_file_ctrl_parse(big, W2_FILE_CONTROL_MAX + 1, &m, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "64 KiB"));
	/* A long reason is cut at W2_FILE_TEXT_MAX bytes, between characters:
	 * 'x' then 3-byte characters straddling the limit. */
	n = snprintf(text, sizeof(text), "{\"t\":\"cancel\",\"id\":\"" ID_HEX "\",\"reason\":\"x");
	for (int i = 0; i < W2_FILE_TEXT_MAX / 3 + 2; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "\xe2\x9c\x8b");
	snprintf(text + n, sizeof(text) - (size_t)n, "\"}");
	assert_int_equal(parse(text, &m, detail), 0);
	assert_true(m.has_text);
	assert_int_equal(strlen(m.text), 1 + 3 * ((W2_FILE_TEXT_MAX - 1) / 3));
	/* mime at its limit and above. */
	n = snprintf(text, sizeof(text),
		     "{\"t\":\"offer\",\"v\":1,\"id\":\"" ID_HEX "\",\"name\":\"x\",\"size\":0,"
		     "\"chunkSize\":16384,\"enc\":\"none\",\"pk\":"
		     "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"mime\":\"");
	memset(text + n, 'm', W2_FILE_MIME_MAX);
	snprintf(text + n + W2_FILE_MIME_MAX, sizeof(text) - (size_t)n - W2_FILE_MIME_MAX, "\"}");
	assert_int_equal(parse(text, &m, detail), 0);
	memset(text + n, 'm', W2_FILE_MIME_MAX + 1);
	snprintf(text + n + W2_FILE_MIME_MAX + 1, sizeof(text) - (size_t)n - W2_FILE_MIME_MAX - 1,
		 "\"}");
	assert_int_equal(parse(text, &m, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "mime"));
}

static void test_ctrl_ranges(void **state)
{
	struct w2_file_ctrl m;
	char detail[W2_FILE_DETAIL_MAX];

	assert_int_equal(parse("{\"t\":\"nack\",\"id\":\"" ID_HEX "\",\"ranges\":[[0,2],[2,3],[7,9]]}",
			       &m, detail),
			 0);
	assert_int_equal(m.ranges.count, 3);
	assert_int_equal(m.ranges.v[2].start, 7);
	assert_int_equal(m.ranges.v[2].end, 9);
	assert_int_equal(w2_file_ranges_check(&m.ranges, 9, detail), 0);
	assert_int_equal(w2_file_ranges_check(&m.ranges, 8, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "beyond"));
	w2_file_ctrl_deinit(&m);
	assert_null(m.ranges.v);
	w2_file_ctrl_deinit(NULL);
	assert_int_equal(parse("{\"t\":\"nack\",\"id\":\"" ID_HEX "\",\"ranges\":[]}", &m, detail),
			 0);
	assert_int_equal(m.ranges.count, 0);
	assert_int_equal(w2_file_ranges_check(&m.ranges, 0, detail), 0);
	/* Refused ranges leave nothing allocated behind. */
	assert_int_equal(parse("{\"t\":\"nack\",\"id\":\"" ID_HEX "\",\"ranges\":[[0,2],[1,3]]}",
			       &m, detail),
			 W2_EINVAL);
	assert_null(m.ranges.v);
	assert_non_null(strstr(detail, "overlapping"));
}

static void test_ctrl_serialize(void **state)
{
	static char out[W2_FILE_CONTROL_MAX + 1];
	struct w2_file_range bad[] = {{2, 3}, {0, 1}};
	struct w2_file_ctrl m;
	char detail[W2_FILE_DETAIL_MAX];
	size_t len;

	w2_file_ctrl_init(&m);
	assert_int_equal(w2_file_ctrl_serialize(&m, out, sizeof(out), &len, detail), W2_EINVAL);
	m.type = W2_FILE_CTRL_PAUSE;
	m.id[0] = 0xab;
	assert_int_equal(w2_file_ctrl_serialize(&m, out, sizeof(out), &len, detail), 0);
	assert_string_equal(out, "{\"t\":\"pause\",\"id\":\"ab000000000000000000000000000000\"}");
	assert_int_equal(len, strlen(out));
	assert_int_equal(w2_file_ctrl_serialize(&m, out, len, &len, detail), W2_ELIMIT);
	m.type = W2_FILE_CTRL_NACK;
	m.ranges.v = bad;
	m.ranges.count = 2;
	assert_int_equal(w2_file_ctrl_serialize(&m, out, sizeof(out), &len, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "sorted"));
	m.ranges.count = 0;
	m.type = W2_FILE_CTRL_CANCEL;
	m.has_text = true;
	snprintf(m.text, sizeof(m.text), "\xff");
	assert_int_equal(w2_file_ctrl_serialize(&m, out, sizeof(out), &len, detail), W2_EINVAL);
	m.type = W2_FILE_CTRL_ERROR;
	m.code = W2_FILE_CODE_TOO_LARGE;
	snprintf(m.text, sizeof(m.text), "no room");
	assert_int_equal(w2_file_ctrl_serialize(&m, out, sizeof(out), &len, detail), 0);
	assert_string_equal(out, "{\"t\":\"error\",\"code\":\"too-large\",\"message\":\"no room\"}");
	m.type = W2_FILE_CTRL_OFFER;
	small_manifest(&m.manifest);
	m.manifest.chunk_size = 5;
	assert_int_equal(w2_file_ctrl_serialize(&m, out, sizeof(out), &len, detail), W2_EINVAL);
	assert_non_null(strstr(detail, "chunkSize"));
	assert_null(w2_file_ctrl_type_name((enum w2_file_ctrl_type)0));
	assert_null(w2_file_code_name(W2_FILE_CODE_OTHER));
	assert_null(w2_file_code_name((enum w2_file_code)99));
	assert_string_equal(w2_file_code_name(W2_FILE_CODE_INTEGRITY), "integrity");
}

/* ---- allocation failure ---- */

static void test_alloc_failure(void **state)
{
	static char out[W2_FILE_CONTROL_MAX + 1];
	const char *s = "{\"t\":\"accept\",\"id\":\"" ID_HEX "\",\"pk\":"
			"\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\",\"have\":[[0,1]]}";
	struct w2_file_ctrl m;
	char detail[W2_FILE_DETAIL_MAX];
	size_t len;
	int rc;

	w2_alloc_fail_after(0);
	rc = parse(s, &m, detail);
	w2_alloc_fail_after(-1);
	assert_int_equal(rc, W2_ENOMEM);
	assert_non_null(strstr(detail, "have"));
	assert_string_equal(w2_file_ctrl_answer_code(rc), "internal");
	assert_null(m.ranges.v);
	assert_int_equal(parse(s, &m, detail), 0);
	/* Serializing parses the result back, which allocates its ranges. */
	w2_alloc_fail_after(0);
	rc = w2_file_ctrl_serialize(&m, out, sizeof(out), &len, detail);
	w2_alloc_fail_after(-1);
	assert_int_equal(rc, W2_ENOMEM);
	assert_int_equal(w2_file_ctrl_serialize(&m, out, sizeof(out), &len, detail), 0);
	assert_string_equal(out, s);
	w2_file_ctrl_deinit(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_manifests),
		cmocka_unit_test(test_vectors_frames_invalid),
		cmocka_unit_test(test_vectors_keys_invalid),
		cmocka_unit_test(test_vectors_control_valid),
		cmocka_unit_test(test_vectors_control_invalid),
		cmocka_unit_test(test_manifest_rules),
		cmocka_unit_test(test_manifest_encode_decode),
		cmocka_unit_test(test_manifest_decode_long_name),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_session_key_errors),
		cmocka_unit_test(test_seal_open_errors),
		cmocka_unit_test(test_seal_truncation),
		cmocka_unit_test(test_enc_none),
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_ctrl_offer_fields),
		cmocka_unit_test(test_ctrl_nulls_and_ids),
		cmocka_unit_test(test_ctrl_limits),
		cmocka_unit_test(test_ctrl_ranges),
		cmocka_unit_test(test_ctrl_serialize),
		cmocka_unit_test(test_alloc_failure),
	};

	return cmocka_run_group_tests_name("files", tests, group_setup, group_teardown);
}
