/* Fuzz target for src/files (file transfer v1, docs/file-transfer.md).
 *
 * The first byte picks the parser, the rest is its input:
 *   0: a control message. When it parses, serializing it must succeed and
 *      be a fixed point (serialize(parse(serialize(m))) == serialize(m)),
 *      and its ranges must pass w2_file_ranges_check for any n >= the last
 *      end;
 *   1: a data-lane frame, for the sessions of two vectors of
 *      tests/vectors/file-transfer-v1.json ("chacha-hash", "none-small"),
 *      keyed as there. A frame that passes the checks and opens must be
 *      the genuine one: sealing its plaintext again gives its payload
 *      byte for byte (a forgery would abort);
 *   2: manifest bytes. When they decode, encoding gives them back
 *      (one encoding per manifest).
 * Any disagreement abort()s. */
#include "files/files.h"

#include <sodium.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct session {
	struct w2_file_manifest m;
	uint8_t key[W2_FILE_KEY_LEN];
};

static void file_bytes(uint64_t offset, uint8_t *out, size_t n)
{
	for (size_t k = 0; k < n; k++)
		out[k] = (uint8_t)((offset + k) % 251);
}

static void make_session(struct session *s, uint8_t id_byte, uint64_t size, uint32_t chunk,
			 enum w2_file_enc enc, const char *name)
{
	uint8_t ssk[32], spk[32], rsk[32], rpk[32], buf[4096];
	crypto_hash_sha256_state st;

	memset(&s->m, 0, sizeof(s->m));
	for (int i = 0; i < 32; i++) {
		ssk[i] = (uint8_t)(i + 1);
		rsk[i] = (uint8_t)(i + 33);
	}
	for (int i = 0; i < 16; i++)
		s->m.id[i] = (uint8_t)(id_byte + i);
	s->m.size = size;
	s->m.chunk_size = chunk;
	s->m.enc = enc;
	s->m.has_hash = true;
	crypto_hash_sha256_init(&st);
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		size_t n = size - off < sizeof(buf) ? (size_t)(size - off) : sizeof(buf);

		file_bytes(off, buf, n);
		crypto_hash_sha256_update(&st, buf, n);
	}
	crypto_hash_sha256_final(&st, s->m.sha256);
	snprintf(s->m.name, sizeof(s->m.name), "%s", name);
	if (w2_file_public_key(ssk, spk) != 0 || w2_file_public_key(rsk, rpk) != 0 ||
	    w2_file_session_key(rsk, spk, &s->m, spk, rpk, s->key) != 0)
		abort();
}

static struct session *sessions(void)
{
	static struct session s[2];
	static int ready;

	if (!ready) {
		make_session(&s[0], 0x00, 2 * 16384 + 1000, 16384, W2_FILE_ENC_CHACHA,
			     "r\xc3\xa9sum\xc3\xa9 \xe2\x80\x94 2024.txt");
		make_session(&s[1], 0x11, 1000, 65536, W2_FILE_ENC_NONE, "notes.txt");
		ready = 1;
	}
	return s;
}

static void fuzz_control(const uint8_t *data, size_t size)
{
	static char s1[W2_FILE_CONTROL_MAX + 1], s2[W2_FILE_CONTROL_MAX + 1];
	struct w2_file_ctrl m;
	size_t l1, l2;
	int rc = w2_file_ctrl_parse((const char *)data, size, &m, NULL);

	if (rc != 0) {
		if (m.ranges.v)
			abort(); /* a refused message owns nothing */
		w2_file_ctrl_deinit(&m);
		return;
	}
	if (m.ranges.count > 0 &&
	    w2_file_ranges_check(&m.ranges, m.ranges.v[m.ranges.count - 1].end, NULL) != 0)
		abort();
	if (w2_file_ctrl_serialize(&m, s1, sizeof(s1), &l1, NULL) != 0)
		abort();
	w2_file_ctrl_deinit(&m);
	if (w2_file_ctrl_parse(s1, l1, &m, NULL) != 0 ||
	    w2_file_ctrl_serialize(&m, s2, sizeof(s2), &l2, NULL) != 0 || l1 != l2 ||
	    memcmp(s1, s2, l1) != 0)
		abort();
	w2_file_ctrl_deinit(&m);
}

static void fuzz_frame(const uint8_t *data, size_t size)
{
	static uint8_t plain[W2_FILE_CHUNK_MAX], again[W2_FILE_FRAME_MAX];
	struct session *s = sessions();
	struct w2_file_frame f;
	size_t plen, alen;
	int i;

	if (w2_file_frame_parse(data, size, &f, NULL) != 0)
		return;
	for (i = 0; i < 2 && memcmp(f.id, s[i].m.id, W2_FILE_ID_LEN) != 0; i++)
		;
	if (i == 2 || w2_file_frame_check(&f, &s[i].m, NULL) != 0)
		return;
	if (w2_file_chunk_open(s[i].key, &s[i].m, f.index, f.payload, f.payload_len, plain,
			       sizeof(plain), &plen) != 0)
		return;
	if (w2_file_chunk_seal(s[i].key, &s[i].m, f.index, plain, plen, again, sizeof(again),
			       &alen) != 0 ||
	    alen != f.payload_len || memcmp(again, f.payload, alen) != 0)
		abort();
}

static void fuzz_manifest(const uint8_t *data, size_t size)
{
	static uint8_t out[W2_FILE_MANIFEST_MAX];
	struct w2_file_manifest m;
	size_t len;

	if (w2_file_manifest_decode(data, size, &m, NULL) != 0)
		return;
	if (w2_file_manifest_encode(&m, out, sizeof(out), &len) != 0 || len != size ||
	    memcmp(out, data, size) != 0)
		abort();
	if (w2_file_chunk_count(&m) > 0 && w2_file_chunk_len(&m, w2_file_chunk_count(&m) - 1,
							     &len) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0]) {
	case 0:
		fuzz_control(data + 1, size - 1);
		break;
	case 1:
		fuzz_frame(data + 1, size - 1);
		break;
	case 2:
		fuzz_manifest(data + 1, size - 1);
		break;
	default:
		break;
	}
	return 0;
}
