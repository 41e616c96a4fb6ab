/* Unit tests of src/stun/: the STUN message codec (RFC 8489) and TURN
 * ChannelData (RFC 8656), against the RFC 5769 test vectors and RFC 8489
 * Appendix B.1, plus every refusal of the parser, the check functions and
 * the writer. */
#include "core/error.h"
#include "stun/stun.h"
#include "stun/stun_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- the vectors ---- */

/* RFC 5769 section 2.1: short-term credentials, padding with spaces. */
static const uint8_t rfc5769_request[108] = {
	0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
	0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e,
	0x20, 0x74, 0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74, 0x00, 0x24,
	0x00, 0x04, 0x6e, 0x00, 0x01, 0xff, 0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1,
	0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68,
	0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14, 0x9a, 0xea, 0xa7, 0x0c,
	0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5,
	0x71, 0xa2, 0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
};

/* RFC 5769 section 2.2: IPv4 response, 192.0.2.1 port 32853. */
static const uint8_t rfc5769_ipv4[80] = {
	0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
	0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
	0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08, 0x00, 0x01,
	0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43, 0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
	0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9, 0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b,
	0xe7, 0xd7, 0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* RFC 5769 section 2.3: IPv6 response, 2001:db8:1234:5678:11:2233:4455:6677
 * port 32853. */
static const uint8_t rfc5769_ipv6[92] = {
	0x01, 0x01, 0x00, 0x48, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
	0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b, 0x74, 0x65, 0x73, 0x74,
	0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x14, 0x00, 0x02,
	0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa, 0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5,
	0xbe, 0xd2, 0xb9, 0xd9, 0x00, 0x08, 0x00, 0x14, 0xa3, 0x82, 0x95, 0x4e, 0x4b, 0xe6,
	0x7b, 0xf1, 0x17, 0x84, 0xc9, 0x7c, 0x82, 0x92, 0xc2, 0x75, 0xbf, 0xe3, 0xed, 0x41,
	0x80, 0x28, 0x00, 0x04, 0xc8, 0xfb, 0x0b, 0x4c,
};

/* RFC 5769 section 2.4: long-term credentials, zero padding, no
 * FINGERPRINT. */
static const uint8_t rfc5769_long_term[116] = {
	0x00, 0x01, 0x00, 0x60, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad,
	0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x06, 0x00, 0x12, 0xe3, 0x83, 0x9e, 0xe3,
	0x83, 0x88, 0xe3, 0x83, 0xaa, 0xe3, 0x83, 0x83, 0xe3, 0x82, 0xaf, 0xe3, 0x82, 0xb9,
	0x00, 0x00, 0x00, 0x15, 0x00, 0x1c, 0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39,
	0x35, 0x34, 0x64, 0x36, 0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54,
	0x76, 0x79, 0x36, 0x34, 0x73, 0x41, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d,
	0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00, 0x00, 0x08, 0x00, 0x14, 0xf6, 0x70,
	0x24, 0x65, 0x6d, 0xd6, 0x4a, 0x3e, 0x02, 0xb8, 0xe0, 0x71, 0x2e, 0x85, 0xc9, 0xa2,
	0x8c, 0xa8, 0x96, 0x66,
};

/* RFC 8489 Appendix B.1: USERHASH, PASSWORD-ALGORITHM SHA-256 and
 * MESSAGE-INTEGRITY-SHA256. */
static const uint8_t rfc8489_b1[164] = {
	0x00, 0x01, 0x00, 0x90, 0x21, 0x12, 0xa4, 0x42, 0x78, 0xad, 0x34, 0x33, 0xc6, 0xad,
	0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e, 0x00, 0x1e, 0x00, 0x20, 0x4a, 0x3c, 0xf3, 0x8f,
	0xef, 0x69, 0x92, 0xbd, 0xa9, 0x52, 0xc6, 0x78, 0x04, 0x17, 0xda, 0x0f, 0x24, 0x81,
	0x94, 0x15, 0x56, 0x9e, 0x60, 0xb2, 0x05, 0xc4, 0x6e, 0x41, 0x40, 0x7f, 0x17, 0x04,
	0x00, 0x15, 0x00, 0x29, 0x6f, 0x62, 0x4d, 0x61, 0x74, 0x4a, 0x6f, 0x73, 0x32, 0x41,
	0x41, 0x41, 0x43, 0x66, 0x2f, 0x2f, 0x34, 0x39, 0x39, 0x6b, 0x39, 0x35, 0x34, 0x64,
	0x36, 0x4f, 0x4c, 0x33, 0x34, 0x6f, 0x4c, 0x39, 0x46, 0x53, 0x54, 0x76, 0x79, 0x36,
	0x34, 0x73, 0x41, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d,
	0x70, 0x6c, 0x65, 0x2e, 0x6f, 0x72, 0x67, 0x00, 0x00, 0x1d, 0x00, 0x04, 0x00, 0x02,
	0x00, 0x00, 0x00, 0x1c, 0x00, 0x20, 0xb5, 0xc7, 0xbf, 0x00, 0x5b, 0x6c, 0x52, 0xa2,
	0x1c, 0x51, 0xc5, 0xe8, 0x92, 0xf8, 0x19, 0x24, 0x13, 0x62, 0x96, 0xcb, 0x92, 0x7c,
	0x43, 0x14, 0x93, 0x09, 0x27, 0x8c, 0xc6, 0x51, 0x8e, 0x65,
};

#define SHORT_TERM_PASS "VOkJxbRl1RmTxUk/WvJxBt"
#define LT_USER "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9"
#define LT_REALM "example.org"
#define LT_PASS "TheMatrIX"
#define LT_NONCE "f//499k954d6OL34oL9FSTvy64sA"
#define B1_NONCE "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA"

static const uint8_t txid_a[W2_STUN_TXID_LEN] = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
						  0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};
static const uint8_t txid_b[W2_STUN_TXID_LEN] = {0x78, 0xad, 0x34, 0x33, 0xc6, 0xad,
						  0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e};

/* ---- helpers ---- */

static const uint8_t *short_key(void)
{
	return (const uint8_t *)SHORT_TERM_PASS;
}

static size_t short_key_len(void)
{
	return strlen(SHORT_TERM_PASS);
}

/* The value of the first attribute of `type` equals the n bytes expect. */
static void assert_attr_bytes(const struct w2_stun_msg *m, uint16_t type, const void *expect,
			      size_t n)
{
	const struct w2_stun_attr *a = w2_stun_find(m, type);

	assert_non_null(a);
	assert_int_equal(a->len, n);
	assert_memory_equal(w2_stun_attr_value(m, a), expect, n);
}

static void assert_attr_str(const struct w2_stun_msg *m, uint16_t type, const char *s)
{
	assert_attr_bytes(m, type, s, strlen(s));
}

/* Copies the padding bytes of every attribute of vector message m into buf:
 * RFC 5769 pads with spaces where the writer pads with zeros (both are
 * allowed, RFC 8489 section 14), and the HMAC and CRC cover the padding. */
static void copy_padding(uint8_t *buf, const struct w2_stun_msg *m, size_t upto)
{
	for (size_t i = 0; i < m->n_attrs; i++) {
		size_t start = m->attrs[i].off + m->attrs[i].len;
		size_t end = m->attrs[i].off + w2__pad4(m->attrs[i].len);

		if (end <= upto)
			memcpy(buf + start, m->buf + start, end - start);
	}
}

static void make_sin(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
}

/* ss holds ip:port. */
static void assert_addr(const struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_storage want;

	make_sin(&want, ip, port);
	assert_int_equal(ss->ss_family, want.ss_family);
	if (want.ss_family == AF_INET)
		assert_memory_equal(ss, &want, sizeof(struct sockaddr_in));
	else
		assert_memory_equal(ss, &want, sizeof(struct sockaddr_in6));
}

/* A Binding request with the given attributes; returns its length. */
static size_t build(uint8_t *buf, size_t cap, void (*fill)(struct w2_stun_writer *))
{
	struct w2_stun_writer w;
	size_t len = 0;

	w2_stun_writer_init(&w, buf, cap, W2_STUN_BINDING, W2_STUN_REQUEST, txid_a);
	if (fill)
		fill(&w);
	assert_int_equal(w2_stun_writer_finish(&w, &len), 0);
	return len;
}

static void fill_user_mi_fp(struct w2_stun_writer *w)
{
	w2_stun_put(w, W2_STUN_A_USERNAME, "alice", 5);
	w2_stun_put_integrity(w, short_key(), short_key_len());
	w2_stun_put_fingerprint(w);
}

/* ---- RFC 5769 ---- */

static void test_rfc5769_request_parse(void **state)
{
	struct w2_stun_msg m;
	uint32_t prio = 0;

	(void)state;
	assert_int_equal(w2_stun_parse(rfc5769_request, sizeof(rfc5769_request), &m), 0);
	assert_int_equal(m.method, W2_STUN_BINDING);
	assert_int_equal(m.cls, W2_STUN_REQUEST);
	assert_memory_equal(m.txid, txid_a, W2_STUN_TXID_LEN);
	assert_int_equal(m.n_attrs, 6);
	assert_int_equal(m.n_unknown, 0);
	assert_attr_str(&m, W2_STUN_A_SOFTWARE, "STUN test client");
	assert_attr_str(&m, W2_STUN_A_USERNAME, "evtj:h6vY");
	assert_attr_bytes(&m, W2_STUN_A_ICE_CONTROLLED, rfc5769_request + 52, 8);
	assert_int_equal(w2_stun_get_u32(&m, W2_STUN_A_PRIORITY, &prio), 0);
	assert_int_equal(prio, 0x6e0001ff);
	assert_int_equal(m.integrity, 4);
	assert_int_equal(m.fingerprint, 5);
	assert_int_equal(m.integrity_sha256, -1);
	assert_int_equal(w2_stun_check_integrity(&m, short_key(), short_key_len()), 0);
	assert_int_equal(w2_stun_check_integrity(&m, (const uint8_t *)"wrong", 5), W2_EAUTH);
	assert_int_equal(w2_stun_check_integrity_sha256(&m, short_key(), short_key_len()),
			 W2_ENOENT);
	assert_int_equal(w2_stun_check_fingerprint(&m), 0);
}

static void test_rfc5769_request_write(void **state)
{
	struct w2_stun_msg m;
	struct w2_stun_writer w;
	uint8_t buf[256];
	size_t len = 0;

	(void)state;
	assert_int_equal(w2_stun_parse(rfc5769_request, sizeof(rfc5769_request), &m), 0);
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_STUN_BINDING, W2_STUN_REQUEST, txid_a);
	w2_stun_put(&w, W2_STUN_A_SOFTWARE, "STUN test client", 16);
	w2_stun_put_u32(&w, W2_STUN_A_PRIORITY, 0x6e0001ff);
	w2_stun_put(&w, W2_STUN_A_ICE_CONTROLLED, rfc5769_request + 52, 8);
	w2_stun_put(&w, W2_STUN_A_USERNAME, "evtj:h6vY", 9);
	/* Up to here only the padding differs (zeros instead of spaces). */
	assert_int_equal(w.len, 76);
	assert_memory_equal(buf + 4, rfc5769_request + 4, 73 - 4);
	copy_padding(buf, &m, w.len);
	w2_stun_put_integrity(&w, short_key(), short_key_len());
	w2_stun_put_fingerprint(&w);
	assert_int_equal(w2_stun_writer_finish(&w, &len), 0);
	assert_int_equal(len, sizeof(rfc5769_request));
	assert_memory_equal(buf, rfc5769_request, len);
}

/* Parses an RFC 5769 response, checks it and its XOR-MAPPED-ADDRESS. */
static void check_response(const uint8_t *vec, size_t n, const char *ip)
{
	struct w2_stun_msg m;
	struct sockaddr_storage ss;
	const struct w2_stun_attr *a;

	assert_int_equal(w2_stun_parse(vec, n, &m), 0);
	assert_int_equal(m.method, W2_STUN_BINDING);
	assert_int_equal(m.cls, W2_STUN_SUCCESS);
	assert_int_equal(m.n_attrs, 4);
	assert_attr_str(&m, W2_STUN_A_SOFTWARE, "test vector");
	a = w2_stun_find(&m, W2_STUN_A_XOR_MAPPED_ADDRESS);
	assert_non_null(a);
	assert_int_equal(w2_stun_attr_addr(&m, a, true, &ss), 0);
	assert_addr(&ss, ip, 32853);
	assert_int_equal(w2_stun_check_integrity(&m, short_key(), short_key_len()), 0);
	assert_int_equal(w2_stun_check_fingerprint(&m), 0);
}

/* Writes the same response with the writer: identical bytes once the
 * vector's space padding is copied in. */
static void rewrite_response(const uint8_t *vec, size_t n, const char *ip)
{
	struct w2_stun_msg m;
	struct w2_stun_writer w;
	struct sockaddr_storage ss;
	uint8_t buf[256];
	size_t len = 0;

	assert_int_equal(w2_stun_parse(vec, n, &m), 0);
	make_sin(&ss, ip, 32853);
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_STUN_BINDING, W2_STUN_SUCCESS, txid_a);
	w2_stun_put(&w, W2_STUN_A_SOFTWARE, "test vector", 11);
	w2_stun_put_addr(&w, W2_STUN_A_XOR_MAPPED_ADDRESS, (struct sockaddr *)&ss, true);
	copy_padding(buf, &m, w.len);
	assert_memory_equal(buf + 4, vec + 4, w.len - 4); /* the length grows yet */
	w2_stun_put_integrity(&w, short_key(), short_key_len());
	w2_stun_put_fingerprint(&w);
	assert_int_equal(w2_stun_writer_finish(&w, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(buf, vec, n);
}

static void test_rfc5769_ipv4_response(void **state)
{
	(void)state;
	check_response(rfc5769_ipv4, sizeof(rfc5769_ipv4), "192.0.2.1");
	rewrite_response(rfc5769_ipv4, sizeof(rfc5769_ipv4), "192.0.2.1");
}

static void test_rfc5769_ipv6_response(void **state)
{
	(void)state;
	check_response(rfc5769_ipv6, sizeof(rfc5769_ipv6), "2001:db8:1234:5678:11:2233:4455:6677");
	rewrite_response(rfc5769_ipv6, sizeof(rfc5769_ipv6),
			 "2001:db8:1234:5678:11:2233:4455:6677");
}

static void lt_key(enum w2_stun_password_alg alg, uint8_t key[32], size_t *key_len)
{
	assert_int_equal(w2_stun_long_term_key(alg, LT_USER, strlen(LT_USER), LT_REALM,
					       strlen(LT_REALM), LT_PASS, strlen(LT_PASS), key,
					       key_len),
			 0);
}

static void test_rfc5769_long_term(void **state)
{
	struct w2_stun_msg m;
	struct w2_stun_writer w;
	uint8_t key[32], buf[256];
	size_t key_len = 0, len = 0;

	(void)state;
	lt_key(W2_STUN_PW_MD5, key, &key_len);
	assert_int_equal(key_len, 16);
	assert_int_equal(w2_stun_parse(rfc5769_long_term, sizeof(rfc5769_long_term), &m), 0);
	assert_int_equal(m.n_attrs, 4);
	assert_attr_str(&m, W2_STUN_A_USERNAME, LT_USER);
	assert_attr_str(&m, W2_STUN_A_NONCE, LT_NONCE);
	assert_attr_str(&m, W2_STUN_A_REALM, LT_REALM);
	assert_int_equal(w2_stun_check_integrity(&m, key, key_len), 0);
	assert_int_equal(w2_stun_check_fingerprint(&m), W2_ENOENT);
	/* Zero padding throughout: the writer reproduces it byte for byte. */
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_STUN_BINDING, W2_STUN_REQUEST, txid_b);
	w2_stun_put(&w, W2_STUN_A_USERNAME, LT_USER, strlen(LT_USER));
	w2_stun_put(&w, W2_STUN_A_NONCE, LT_NONCE, strlen(LT_NONCE));
	w2_stun_put(&w, W2_STUN_A_REALM, LT_REALM, strlen(LT_REALM));
	w2_stun_put_integrity(&w, key, key_len);
	assert_int_equal(w2_stun_writer_finish(&w, &len), 0);
	assert_int_equal(len, sizeof(rfc5769_long_term));
	assert_memory_equal(buf, rfc5769_long_term, len);
}

static void test_rfc8489_b1(void **state)
{
	struct w2_stun_msg m;
	struct w2_stun_writer w;
	uint8_t key[32], buf[256], userhash[32];
	size_t key_len = 0, len = 0;
	unsigned hash_len = 0;
	uint32_t alg = 0;

	(void)state;
	lt_key(W2_STUN_PW_SHA256, key, &key_len);
	assert_int_equal(key_len, 32);
	assert_int_equal(w2_stun_parse(rfc8489_b1, sizeof(rfc8489_b1), &m), 0);
	assert_int_equal(m.n_attrs, 5);
	assert_attr_str(&m, W2_STUN_A_NONCE, B1_NONCE);
	assert_attr_str(&m, W2_STUN_A_REALM, LT_REALM);
	assert_int_equal(w2_stun_get_u32(&m, W2_STUN_A_PASSWORD_ALGORITHM, &alg), 0);
	assert_int_equal(alg, (uint32_t)W2_STUN_PW_SHA256 << 16); /* algorithm 2, no params */
	/* RFC 8489 section 14.4: USERHASH = SHA-256(username ":" realm). */
	assert_int_equal(EVP_Digest(LT_USER ":" LT_REALM, strlen(LT_USER ":" LT_REALM), userhash,
				    &hash_len, EVP_sha256(), NULL),
			 1);
	assert_attr_bytes(&m, W2_STUN_A_USERHASH, userhash, 32);
	assert_int_equal(w2_stun_check_integrity_sha256(&m, key, key_len), 0);
	assert_int_equal(w2_stun_check_integrity(&m, key, key_len), W2_ENOENT);
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_STUN_BINDING, W2_STUN_REQUEST, txid_b);
	w2_stun_put(&w, W2_STUN_A_USERHASH, userhash, 32);
	w2_stun_put(&w, W2_STUN_A_NONCE, B1_NONCE, strlen(B1_NONCE));
	w2_stun_put(&w, W2_STUN_A_REALM, LT_REALM, strlen(LT_REALM));
	w2_stun_put_u32(&w, W2_STUN_A_PASSWORD_ALGORITHM, alg);
	w2_stun_put_integrity_sha256(&w, key, key_len);
	assert_int_equal(w2_stun_writer_finish(&w, &len), 0);
	assert_int_equal(len, sizeof(rfc8489_b1));
	assert_memory_equal(buf, rfc8489_b1, len);
}

static void test_long_term_key(void **state)
{
	uint8_t key[32];
	size_t key_len = 0;
	/* MD5("::"), computed independently (Python's hashlib). */
	static const uint8_t md5_empty[16] = {0x45, 0x01, 0xc0, 0x91, 0xb0, 0x36, 0x6d, 0x76,
					      0xea, 0x32, 0x18, 0xb6, 0xcf, 0xdd, 0x80, 0x97};

	(void)state;
	/* Empty strings: the key of "::". */
	assert_int_equal(w2_stun_long_term_key(W2_STUN_PW_MD5, "", 0, "", 0, "", 0, key, &key_len),
			 0);
	assert_int_equal(key_len, 16);
	assert_memory_equal(key, md5_empty, 16);
	assert_int_equal(w2_stun_long_term_key((enum w2_stun_password_alg)3, "u", 1, "r", 1, "p",
					       1, key, &key_len),
			 W2_EINVAL);
	assert_int_equal(w2_stun_long_term_key((enum w2_stun_password_alg)0, "u", 1, "r", 1, "p",
					       1, key, &key_len),
			 W2_EINVAL);
}

static void test_crc32(void **state)
{
	(void)state;
	/* The CRC-32 check value (ISO-HDLC, as zlib's crc32()). */
	assert_int_equal(w2__stun_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
	assert_int_equal(w2__stun_crc32(NULL, 0), 0);
}

/* ---- header and message type ---- */

static void test_type_round_trip(void **state)
{
	uint8_t buf[W2_STUN_HEADER_LEN];
	struct w2_stun_writer w;
	struct w2_stun_msg m;
	size_t len = 0;

	(void)state;
	for (unsigned method = 0; method <= 0xFFF; method += 0x111) {
		for (int cls = 0; cls < 4; cls++) {
			w2_stun_writer_init(&w, buf, sizeof(buf), (uint16_t)method,
					    (enum w2_stun_class)cls, txid_a);
			assert_int_equal(w2_stun_writer_finish(&w, &len), 0);
			assert_int_equal(len, 20);
			assert_int_equal(w2_stun_parse(buf, len, &m), 0);
			assert_int_equal(m.method, method);
			assert_int_equal(m.cls, cls);
			assert_int_equal(m.n_attrs, 0);
		}
	}
	/* RFC 8489 section 6: a Binding success response is 0x0101, an
	 * Allocate error response 0x0113. */
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_TURN_ALLOCATE, W2_STUN_ERROR, txid_a);
	assert_int_equal(buf[0], 0x01);
	assert_int_equal(buf[1], 0x13);
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_TURN_SEND, W2_STUN_INDICATION, txid_a);
	assert_int_equal(buf[1], 0x16);
}

static void test_parse_header_errors(void **state)
{
	uint8_t buf[64];
	struct w2_stun_msg m;
	size_t len = build(buf, sizeof(buf), NULL);

	(void)state;
	for (size_t n = 0; n < W2_STUN_HEADER_LEN; n++)
		assert_int_equal(w2_stun_parse(buf, n, &m), W2_EPROTO); /* truncated header */
	assert_int_equal(w2_stun_parse(NULL, 0, &m), W2_EPROTO);
	assert_int_equal(w2_stun_parse(buf, len, NULL), W2_EINVAL);
	buf[4] ^= 1; /* bad cookie */
	assert_int_equal(w2_stun_parse(buf, len, &m), W2_EPROTO);
	buf[4] ^= 1;
	buf[0] |= 0x40; /* top bits not zero */
	assert_int_equal(w2_stun_parse(buf, len, &m), W2_EPROTO);
	buf[0] &= 0x3F;
	buf[0] |= 0x80;
	assert_int_equal(w2_stun_parse(buf, len, &m), W2_EPROTO);
	buf[0] &= 0x3F;
	memset(buf + 20, 0, 8);
	buf[3] = 2; /* length not a multiple of 4 */
	assert_int_equal(w2_stun_parse(buf, 22, &m), W2_EPROTO);
	buf[3] = 8; /* length larger than the datagram */
	assert_int_equal(w2_stun_parse(buf, 24, &m), W2_EPROTO);
	buf[3] = 0; /* length smaller than the datagram */
	assert_int_equal(w2_stun_parse(buf, 24, &m), W2_EPROTO);
	assert_int_equal(w2_stun_parse(buf, 20, &m), 0);
}

/* ---- attribute walking ---- */

/* buf holds a header; appends a raw attribute header and `n` value bytes
 * (no padding) and fixes the header length. Returns the new length. */
static size_t raw_attr(uint8_t *buf, size_t len, uint16_t type, uint16_t alen, size_t n)
{
	w2__put_be16(buf + len, type);
	w2__put_be16(buf + len + 2, alen);
	memset(buf + len + 4, 0xAB, n);
	len += 4 + n;
	w2__put_be16(buf + 2, (uint16_t)(len - 20));
	return len;
}

static void test_parse_attr_bounds(void **state)
{
	uint8_t buf[128];
	struct w2_stun_msg m;
	size_t len;

	(void)state;
	len = raw_attr(buf, build(buf, sizeof(buf), NULL), W2_STUN_A_USERNAME, 8, 4);
	assert_int_equal(w2_stun_parse(buf, len, &m), W2_EPROTO); /* value overruns */
	assert_int_equal(m.n_attrs, 0);
	len = raw_attr(buf, build(buf, sizeof(buf), NULL), W2_STUN_A_USERNAME, 5, 4);
	assert_int_equal(w2_stun_parse(buf, len, &m), W2_EPROTO); /* padding overruns */
	len = raw_attr(buf, build(buf, sizeof(buf), NULL), W2_STUN_A_USERNAME, 5, 8);
	assert_int_equal(w2_stun_parse(buf, len, &m), 0);
	assert_int_equal(m.attrs[0].len, 5);
	assert_int_equal(m.attrs[0].off, 24);
	len = raw_attr(buf, build(buf, sizeof(buf), NULL), W2_STUN_A_USERNAME, 0xFFFF, 4);
	assert_int_equal(w2_stun_parse(buf, len, &m), W2_EPROTO);
	len = raw_attr(buf, build(buf, sizeof(buf), NULL), W2_STUN_A_USE_CANDIDATE, 0, 0);
	assert_int_equal(w2_stun_parse(buf, len, &m), 0); /* empty value */
	assert_int_equal(m.attrs[0].len, 0);
}

static void test_parse_max_attrs(void **state)
{
	uint8_t buf[512];
	struct w2_stun_msg m;
	size_t len = build(buf, sizeof(buf), NULL);

	(void)state;
	for (int i = 0; i < W2_STUN_MAX_ATTRS; i++)
		len = raw_attr(buf, len, W2_STUN_A_SOFTWARE, 4, 4);
	assert_int_equal(w2_stun_parse(buf, len, &m), 0);
	assert_int_equal(m.n_attrs, W2_STUN_MAX_ATTRS);
	len = raw_attr(buf, len, W2_STUN_A_SOFTWARE, 4, 4);
	assert_int_equal(w2_stun_parse(buf, len, &m), W2_EPROTO);
	assert_int_equal(m.n_attrs, 0);
}

static void test_parse_fingerprint_last(void **state)
{
	uint8_t buf[128];
	struct w2_stun_msg m;
	size_t len = build(buf, sizeof(buf), fill_user_mi_fp);

	(void)state;
	assert_int_equal(w2_stun_parse(buf, len, &m), 0);
	assert_int_equal(w2_stun_check_fingerprint(&m), 0);
	/* Anything after FINGERPRINT, even a second FINGERPRINT. */
	assert_int_equal(w2_stun_parse(buf, raw_attr(buf, len, W2_STUN_A_SOFTWARE, 4, 4), &m),
			 W2_EPROTO);
	assert_int_equal(m.fingerprint, -1);
	assert_int_equal(w2_stun_parse(buf, raw_attr(buf, len, W2_STUN_A_FINGERPRINT, 4, 4), &m),
			 W2_EPROTO);
	/* FINGERPRINT of another length. */
	len = raw_attr(buf, build(buf, sizeof(buf), NULL), W2_STUN_A_FINGERPRINT, 8, 8);
	assert_int_equal(w2_stun_parse(buf, len, &m), W2_EPROTO);
	len = raw_attr(buf, build(buf, sizeof(buf), NULL), W2_STUN_A_FINGERPRINT, 0, 0);
	assert_int_equal(w2_stun_parse(buf, len, &m), W2_EPROTO);
}

static void test_parse_integrity_length(void **state)
{
	uint8_t buf[128];
	struct w2_stun_msg m;
	size_t len;

	(void)state;
	len = raw_attr(buf, build(buf, sizeof(buf), NULL), W2_STUN_A_MESSAGE_INTEGRITY, 16, 16);
	assert_int_equal(w2_stun_parse(buf, len, &m), W2_EPROTO);
	len = raw_attr(buf, build(buf, sizeof(buf), NULL), W2_STUN_A_MESSAGE_INTEGRITY, 32, 32);
	assert_int_equal(w2_stun_parse(buf, len, &m), W2_EPROTO);
	len = raw_attr(buf, build(buf, sizeof(buf), NULL), W2_STUN_A_MESSAGE_INTEGRITY, 20, 20);
	assert_int_equal(w2_stun_parse(buf, len, &m), 0);
	assert_int_equal(w2_stun_check_integrity(&m, short_key(), short_key_len()), W2_EAUTH);
}

static void fill_after_mi(struct w2_stun_writer *w)
{
	w2_stun_put(w, W2_STUN_A_USERNAME, "alice", 5);
	w2_stun_put_integrity(w, short_key(), short_key_len());
	w2_stun_put(w, W2_STUN_A_REALM, "ignored", 7);
	w2_stun_put(w, 0x0002, "x", 1); /* unknown, but ignored here */
	w2_stun_put_integrity_sha256(w, short_key(), short_key_len());
	w2_stun_put(w, W2_STUN_A_NONCE, "ignored", 7);
	w2_stun_put_integrity(w, short_key(), short_key_len()); /* a second MI: ignored */
	w2_stun_put_fingerprint(w);
}

static void test_parse_after_integrity(void **state)
{
	uint8_t buf[512];
	struct w2_stun_msg m;
	size_t len = build(buf, sizeof(buf), fill_after_mi);

	(void)state;
	assert_int_equal(w2_stun_parse(buf, len, &m), 0);
	/* RFC 8489 sections 14.5-14.7: only MI-SHA256 and FINGERPRINT count. */
	assert_int_equal(m.n_attrs, 4);
	assert_int_equal(m.integrity, 1);
	assert_int_equal(m.integrity_sha256, 2);
	assert_int_equal(m.fingerprint, 3);
	assert_null(w2_stun_find(&m, W2_STUN_A_REALM));
	assert_null(w2_stun_find(&m, W2_STUN_A_NONCE));
	assert_int_equal(m.n_unknown, 0);
	/* Ignored attributes are covered by the later integrity attributes but
	 * not by MESSAGE-INTEGRITY, which still checks. */
	assert_int_equal(w2_stun_check_integrity(&m, short_key(), short_key_len()), 0);
	assert_int_equal(w2_stun_check_integrity_sha256(&m, short_key(), short_key_len()), 0);
	assert_int_equal(w2_stun_check_fingerprint(&m), 0);
}

static void fill_sha256_first(struct w2_stun_writer *w)
{
	w2_stun_put_integrity_sha256(w, short_key(), short_key_len());
	w2_stun_put_integrity(w, short_key(), short_key_len());
	w2_stun_put_fingerprint(w);
}

static void test_parse_after_integrity_sha256(void **state)
{
	uint8_t buf[256];
	struct w2_stun_msg m;
	size_t len = build(buf, sizeof(buf), fill_sha256_first);

	(void)state;
	assert_int_equal(w2_stun_parse(buf, len, &m), 0);
	assert_int_equal(m.n_attrs, 2);
	assert_int_equal(m.integrity, -1);
	assert_int_equal(w2_stun_check_integrity(&m, short_key(), short_key_len()), W2_ENOENT);
	assert_int_equal(w2_stun_check_integrity_sha256(&m, short_key(), short_key_len()), 0);
	assert_int_equal(w2_stun_check_fingerprint(&m), 0);
}

static void fill_unknowns(struct w2_stun_writer *w)
{
	w2_stun_put(w, 0x0002, "a", 1);      /* RESPONSE-ADDRESS, long gone */
	w2_stun_put(w, 0x7FFF, "b", 1);
	w2_stun_put(w, 0x0002, "c", 1);      /* listed once */
	w2_stun_put(w, 0x8005, "d", 1);      /* comprehension-optional */
	w2_stun_put(w, W2_STUN_A_SOFTWARE, "e", 1);
	w2_stun_put(w, W2_STUN_A_CONNECTION_ID, "f", 1);
	for (uint16_t t = 0x0100; t < 0x0100 + 10; t++)
		w2_stun_put(w, t, NULL, 0);
}

static void test_parse_unknown(void **state)
{
	uint8_t buf[512];
	struct w2_stun_msg m;
	size_t len = build(buf, sizeof(buf), fill_unknowns);

	(void)state;
	assert_int_equal(w2_stun_parse(buf, len, &m), 0);
	assert_int_equal(m.n_attrs, 16);
	assert_int_equal(m.n_unknown, W2_STUN_MAX_UNKNOWN);
	assert_int_equal(m.unknown[0], 0x0002);
	assert_int_equal(m.unknown[1], 0x7FFF);
	assert_int_equal(m.unknown[2], 0x0100);
	assert_int_equal(m.unknown[7], 0x0105);
	assert_non_null(w2_stun_find(&m, 0x8005));
}

static void test_parse_known_required(void **state)
{
	static const uint16_t known[] = {
		0x0001, 0x0006, 0x0009, 0x000A, 0x000C, 0x000D, 0x0012, 0x0013, 0x0014, 0x0015,
		0x0016, 0x0017, 0x0018, 0x0019, 0x001A, 0x001D, 0x001E, 0x0020, 0x0022,
		0x0024, 0x0025, 0x002A, /* and 0x001C, 0x0008 below: they end the list */
	};
	uint8_t buf[512];
	struct w2_stun_msg m;
	size_t len = build(buf, sizeof(buf), NULL);

	(void)state;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		len = raw_attr(buf, len, known[i], 4, 4);
	len = raw_attr(buf, len, W2_STUN_A_MESSAGE_INTEGRITY, 20, 20);
	len = raw_attr(buf, len, W2_STUN_A_MESSAGE_INTEGRITY_SHA256, 32, 32);
	assert_int_equal(w2_stun_parse(buf, len, &m), 0);
	assert_int_equal(m.n_unknown, 0);
	assert_int_equal(m.n_attrs, sizeof(known) / sizeof(known[0]) + 2);
}

/* ---- integrity checks ---- */

static void test_integrity_mismatch(void **state)
{
	uint8_t buf[128];
	struct w2_stun_msg m;
	size_t len = build(buf, sizeof(buf), fill_user_mi_fp);

	(void)state;
	assert_int_equal(w2_stun_parse(buf, len, &m), 0);
	assert_int_equal(w2_stun_check_integrity(&m, short_key(), short_key_len()), 0);
	assert_int_equal(w2_stun_check_integrity(&m, short_key(), short_key_len() - 1), W2_EAUTH);
	assert_int_equal(w2_stun_check_integrity(&m, NULL, 0), W2_EAUTH);
	buf[24] ^= 0x20; /* "Alice": the HMAC and the CRC both see it */
	assert_int_equal(w2_stun_check_integrity(&m, short_key(), short_key_len()), W2_EAUTH);
	assert_int_equal(w2_stun_check_fingerprint(&m), W2_EPROTO);
	buf[24] ^= 0x20;
	buf[len - 1] ^= 1; /* the CRC value itself */
	assert_int_equal(w2_stun_check_fingerprint(&m), W2_EPROTO);
	assert_int_equal(w2_stun_check_integrity(&m, short_key(), short_key_len()), 0);
	buf[len - 9] ^= 1; /* the HMAC value */
	assert_int_equal(w2_stun_check_integrity(&m, short_key(), short_key_len()), W2_EAUTH);
}

static void test_integrity_empty_key(void **state)
{
	uint8_t buf[128];
	struct w2_stun_writer w;
	struct w2_stun_msg m;
	size_t len = 0;

	(void)state;
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_STUN_BINDING, W2_STUN_REQUEST, txid_a);
	w2_stun_put_integrity(&w, NULL, 0);
	w2_stun_put_integrity_sha256(&w, NULL, 0);
	assert_int_equal(w2_stun_writer_finish(&w, &len), 0);
	assert_int_equal(w2_stun_parse(buf, len, &m), 0);
	assert_int_equal(w2_stun_check_integrity(&m, NULL, 0), 0);
	assert_int_equal(w2_stun_check_integrity_sha256(&m, (const uint8_t *)"", 0), 0);
	assert_int_equal(w2_stun_check_integrity(&m, (const uint8_t *)"k", 1), W2_EAUTH);
}

/* A message with MESSAGE-INTEGRITY-SHA256 truncated to n bytes, its HMAC
 * computed here with OpenSSL directly (RFC 8489 section 14.6). */
static size_t build_truncated_sha256(uint8_t *buf, size_t cap, size_t n)
{
	struct w2_stun_writer w;
	uint8_t mac[32];
	unsigned mac_len = 0;
	size_t len = 0;

	w2_stun_writer_init(&w, buf, cap, W2_STUN_BINDING, W2_STUN_REQUEST, txid_a);
	w2_stun_put(&w, W2_STUN_A_USERNAME, "bob", 3);
	w2_stun_put(&w, W2_STUN_A_MESSAGE_INTEGRITY_SHA256, NULL, n);
	assert_int_equal(w2_stun_writer_finish(&w, &len), 0);
	assert_non_null(HMAC(EVP_sha256(), SHORT_TERM_PASS, (int)strlen(SHORT_TERM_PASS), buf,
			     len - 4 - w2__pad4(n), mac, &mac_len));
	memcpy(buf + len - w2__pad4(n), mac, n < 32 ? n : 32);
	return len;
}

static void test_integrity_sha256_truncated(void **state)
{
	uint8_t buf[256];
	struct w2_stun_msg m;

	(void)state;
	for (size_t n = 16; n <= 32; n += 4) {
		size_t len = build_truncated_sha256(buf, sizeof(buf), n);

		assert_int_equal(w2_stun_parse(buf, len, &m), 0);
		assert_int_equal(w2_stun_check_integrity_sha256(&m, short_key(), short_key_len()),
				 0);
		buf[len - 1] ^= 1;
		assert_int_equal(w2_stun_check_integrity_sha256(&m, short_key(), short_key_len()),
				 W2_EAUTH);
	}
	/* Shorter than 16, longer than 32, or not a multiple of 4. */
	static const size_t bad[] = {0, 4, 12, 15, 17, 18, 19, 30, 33, 36, 64};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = build_truncated_sha256(buf, sizeof(buf), bad[i]);

		assert_int_equal(w2_stun_parse(buf, len, &m), 0);
		assert_int_equal(w2_stun_check_integrity_sha256(&m, short_key(), short_key_len()),
				 W2_EPROTO);
	}
}

static void test_checks_absent(void **state)
{
	uint8_t buf[64];
	struct w2_stun_msg m;

	(void)state;
	assert_int_equal(w2_stun_parse(buf, build(buf, sizeof(buf), NULL), &m), 0);
	assert_int_equal(w2_stun_check_integrity(&m, short_key(), short_key_len()), W2_ENOENT);
	assert_int_equal(w2_stun_check_integrity_sha256(&m, short_key(), short_key_len()),
			 W2_ENOENT);
	assert_int_equal(w2_stun_check_fingerprint(&m), W2_ENOENT);
	/* A failed parse leaves nothing to check. */
	assert_int_equal(w2_stun_parse(buf, 3, &m), W2_EPROTO);
	assert_int_equal(w2_stun_check_integrity(&m, short_key(), short_key_len()), W2_ENOENT);
	assert_int_equal(w2_stun_check_fingerprint(&m), W2_ENOENT);
}

/* ---- getters ---- */

static void fill_getters(struct w2_stun_writer *w)
{
	w2_stun_put_u32(w, W2_STUN_A_LIFETIME, 600);
	w2_stun_put(w, W2_STUN_A_PRIORITY, "ab", 2); /* wrong length */
	w2_stun_put(w, W2_STUN_A_CHANNEL_NUMBER, "\x40\x01\x00\x00", 4);
}

static void test_get_u32(void **state)
{
	uint8_t buf[128];
	struct w2_stun_msg m;
	uint32_t v = 0;

	(void)state;
	assert_int_equal(w2_stun_parse(buf, build(buf, sizeof(buf), fill_getters), &m), 0);
	assert_int_equal(w2_stun_get_u32(&m, W2_STUN_A_LIFETIME, &v), 0);
	assert_int_equal(v, 600);
	assert_int_equal(w2_stun_get_u32(&m, W2_STUN_A_CHANNEL_NUMBER, &v), 0);
	assert_int_equal(v, 0x40010000);
	assert_int_equal(w2_stun_get_u32(&m, W2_STUN_A_PRIORITY, &v), W2_EPROTO);
	assert_int_equal(w2_stun_get_u32(&m, W2_STUN_A_ICE_CONTROLLING, &v), W2_ENOENT);
	assert_null(w2_stun_find(&m, W2_STUN_A_DATA));
	assert_ptr_equal(w2_stun_attr_value(&m, &m.attrs[0]), buf + 24);
}

/* Writes addr as `type` (xored or not), parses it back and checks it. */
static void addr_round_trip(const char *ip, uint16_t port, uint16_t type, bool xored)
{
	uint8_t buf[128];
	struct w2_stun_writer w;
	struct w2_stun_msg m;
	struct sockaddr_storage in, out;
	size_t len = 0;

	make_sin(&in, ip, port);
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_TURN_CREATE_PERMISSION, W2_STUN_REQUEST,
			    txid_b);
	w2_stun_put_addr(&w, type, (struct sockaddr *)&in, xored);
	assert_int_equal(w2_stun_writer_finish(&w, &len), 0);
	assert_int_equal(w2_stun_parse(buf, len, &m), 0);
	assert_int_equal(w2_stun_attr_addr(&m, &m.attrs[0], xored, &out), 0);
	assert_addr(&out, ip, port);
	if (!xored) /* plain: the bytes are the address itself */
		assert_int_equal(w2__be16(buf + 26), port);
}

static void test_attr_addr(void **state)
{
	(void)state;
	addr_round_trip("203.0.113.7", 3478, W2_STUN_A_XOR_PEER_ADDRESS, true);
	addr_round_trip("203.0.113.7", 3478, W2_STUN_A_MAPPED_ADDRESS, false);
	addr_round_trip("2001:db8::1", 65535, W2_STUN_A_XOR_RELAYED_ADDRESS, true);
	addr_round_trip("::", 0, W2_STUN_A_ALTERNATE_SERVER, false);
	addr_round_trip("255.255.255.255", 1, W2_STUN_A_XOR_MAPPED_ADDRESS, true);
}

static void fill_bad_addrs(struct w2_stun_writer *w)
{
	w2_stun_put(w, W2_STUN_A_XOR_PEER_ADDRESS, "\x00\x03\x00\x01\x01\x02\x03\x04", 8);
	w2_stun_put(w, W2_STUN_A_XOR_PEER_ADDRESS, "\x00\x01\x00\x01\x01\x02\x03", 7);
	w2_stun_put(w, W2_STUN_A_XOR_PEER_ADDRESS, "\x00\x02\x00\x01\x01\x02\x03\x04", 8);
	w2_stun_put(w, W2_STUN_A_XOR_PEER_ADDRESS, "\x00\x01\x00", 3);
	w2_stun_put(w, W2_STUN_A_XOR_PEER_ADDRESS, NULL, 0);
	w2_stun_put(w, W2_STUN_A_XOR_PEER_ADDRESS, "\xff\x01\x00\x01\x01\x02\x03\x04", 8);
}

static void test_attr_addr_errors(void **state)
{
	uint8_t buf[256];
	struct w2_stun_msg m;
	struct sockaddr_storage ss;

	(void)state;
	assert_int_equal(w2_stun_parse(buf, build(buf, sizeof(buf), fill_bad_addrs), &m), 0);
	assert_int_equal(m.n_attrs, 6);
	for (size_t i = 0; i < 5; i++) { /* family 3, short, v6 with 4 bytes, ... */
		assert_int_equal(w2_stun_attr_addr(&m, &m.attrs[i], true, &ss), W2_EPROTO);
		assert_int_equal(w2_stun_attr_addr(&m, &m.attrs[i], false, &ss), W2_EPROTO);
	}
	/* The reserved first byte is ignored (RFC 8489 section 14.1). */
	assert_int_equal(w2_stun_attr_addr(&m, &m.attrs[5], false, &ss), 0);
	assert_addr(&ss, "1.2.3.4", 1);
}

static void fill_error(struct w2_stun_writer *w)
{
	w2_stun_put_error(w, W2_STUN_ERR_UNKNOWN_ATTRIBUTE, NULL);
}

static void test_get_error(void **state)
{
	uint8_t buf[128];
	struct w2_stun_msg m;
	int code = 0;
	const char *reason = NULL;
	size_t rlen = 0;

	(void)state;
	assert_int_equal(w2_stun_parse(buf, build(buf, sizeof(buf), fill_error), &m), 0);
	assert_int_equal(w2_stun_get_error(&m, &code, &reason, &rlen), 0);
	assert_int_equal(code, 420);
	assert_int_equal(rlen, strlen("Unknown Attribute"));
	assert_memory_equal(reason, "Unknown Attribute", rlen);
	assert_memory_equal(buf + 24, "\x00\x00\x04\x14", 4);
}

/* An ERROR-CODE attribute with raw value bytes v (n of them). */
static int error_of(const void *v, size_t n, int *code, size_t *rlen)
{
	uint8_t buf[128];
	struct w2_stun_writer w;
	struct w2_stun_msg m;
	const char *reason;
	size_t len = 0;

	w2_stun_writer_init(&w, buf, sizeof(buf), W2_TURN_ALLOCATE, W2_STUN_ERROR, txid_a);
	w2_stun_put(&w, W2_STUN_A_ERROR_CODE, v, n);
	assert_int_equal(w2_stun_writer_finish(&w, &len), 0);
	assert_int_equal(w2_stun_parse(buf, len, &m), 0);
	return w2_stun_get_error(&m, code, &reason, rlen);
}

static void test_get_error_refusals(void **state)
{
	uint8_t buf[64];
	struct w2_stun_msg m;
	int code = 0;
	size_t rlen = 9;
	const char *reason;

	(void)state;
	assert_int_equal(error_of("\x00\x00\x06\x63", 4, &code, &rlen), 0); /* 699, empty */
	assert_int_equal(code, 699);
	assert_int_equal(rlen, 0);
	assert_int_equal(error_of("\xff\xff\xfb\x2c", 4, &code, &rlen), 0); /* reserved bits */
	assert_int_equal(code, 344);
	assert_int_equal(error_of("\x00\x00\x02\x00", 4, &code, &rlen), W2_EPROTO); /* class 2 */
	assert_int_equal(error_of("\x00\x00\x07\x00", 4, &code, &rlen), W2_EPROTO); /* class 7 */
	assert_int_equal(error_of("\x00\x00\x04\x64", 4, &code, &rlen), W2_EPROTO); /* 100 */
	assert_int_equal(error_of("\x00\x00\x04", 3, &code, &rlen), W2_EPROTO);
	assert_int_equal(w2_stun_parse(buf, build(buf, sizeof(buf), NULL), &m), 0);
	assert_int_equal(w2_stun_get_error(&m, &code, &reason, &rlen), W2_ENOENT);
}

/* ---- writer ---- */

static void test_writer_sticky(void **state)
{
	uint8_t buf[40];
	struct w2_stun_writer w;
	size_t len = 123;

	(void)state;
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_STUN_BINDING, W2_STUN_REQUEST, txid_a);
	w2_stun_put(&w, W2_STUN_A_USERNAME, "0123456789ab", 12); /* 36 bytes */
	assert_int_equal(w.len, 36);
	w2_stun_put_u32(&w, W2_STUN_A_LIFETIME, 1);  /* 44: does not fit */
	assert_int_equal(w.err, W2_ELIMIT);
	w2_stun_put(&w, W2_STUN_A_USE_CANDIDATE, NULL, 0); /* would fit: sticky */
	w2_stun_put_fingerprint(&w);
	w2_stun_put_integrity(&w, short_key(), short_key_len());
	w2_stun_put_error(&w, 400, NULL);
	w2_stun_put_unknown(&w, NULL, 0);
	w2_stun_put_addr(&w, W2_STUN_A_MAPPED_ADDRESS, NULL, false);
	assert_int_equal(w.len, 36);
	assert_int_equal(w2__be16(buf + 2), 16);
	assert_int_equal(w2_stun_writer_finish(&w, &len), W2_ELIMIT);
	assert_int_equal(len, 123);
	/* Too small for a header. */
	w2_stun_writer_init(&w, buf, 19, W2_STUN_BINDING, W2_STUN_REQUEST, txid_a);
	assert_int_equal(w2_stun_writer_finish(&w, &len), W2_ELIMIT);
	/* Exactly full is fine. */
	w2_stun_writer_init(&w, buf, 36, W2_STUN_BINDING, W2_STUN_REQUEST, txid_a);
	w2_stun_put(&w, W2_STUN_A_USERNAME, "0123456789a", 11);
	assert_int_equal(w2_stun_writer_finish(&w, &len), 0);
	assert_int_equal(len, 36);
	assert_int_equal(buf[35], 0); /* zero padding */
}

static void test_writer_invalid(void **state)
{
	uint8_t buf[128];
	struct w2_stun_writer w;
	struct sockaddr sa = {.sa_family = AF_UNIX};
	char reason[800];
	size_t len;

	(void)state;
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_STUN_BINDING, W2_STUN_REQUEST, txid_a);
	w2_stun_put_addr(&w, W2_STUN_A_MAPPED_ADDRESS, &sa, false);
	assert_int_equal(w2_stun_writer_finish(&w, &len), W2_EINVAL);
	w2_stun_put(&w, W2_STUN_A_USERNAME, "x", 1);
	assert_int_equal(w.len, 20);
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_STUN_BINDING, W2_STUN_ERROR, txid_a);
	w2_stun_put_error(&w, 299, "x");
	assert_int_equal(w2_stun_writer_finish(&w, &len), W2_EINVAL);
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_STUN_BINDING, W2_STUN_ERROR, txid_a);
	w2_stun_put_error(&w, 700, "x");
	assert_int_equal(w2_stun_writer_finish(&w, &len), W2_EINVAL);
	memset(reason, 'r', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_STUN_BINDING, W2_STUN_ERROR, txid_a);
	w2_stun_put_error(&w, 500, reason); /* longer than 763 bytes */
	assert_int_equal(w2_stun_writer_finish(&w, &len), W2_EINVAL);
	w2_stun_writer_init(&w, buf, sizeof(buf), W2_STUN_BINDING, W2_STUN_ERROR, txid_a);
	w2_stun_put_unknown(&w, NULL, 0x8000);
	assert_int_equal(w2_stun_writer_finish(&w, &len), W2_ELIMIT);
}

static void test_writer_length_limit(void **state)
{
	static uint8_t big[70000], value[0x10000];
	struct w2_stun_writer w;
	size_t len = 0;

	(void)state;
	/* The attribute length is 16 bits. */
	w2_stun_writer_init(&w, big, sizeof(big), W2_STUN_BINDING, W2_STUN_INDICATION, txid_a);
	w2_stun_put(&w, W2_STUN_A_DATA, value, 0x10000);
	assert_int_equal(w2_stun_writer_finish(&w, &len), W2_ELIMIT);
	/* So is the message length: 0xFFF8 + 4 fits exactly, 4 more do not. */
	w2_stun_writer_init(&w, big, sizeof(big), W2_STUN_BINDING, W2_STUN_INDICATION, txid_a);
	w2_stun_put(&w, W2_STUN_A_DATA, value, 0xFFF8);
	assert_int_equal(w2_stun_writer_finish(&w, &len), 0);
	assert_int_equal(len, 20 + 0xFFFC);
	w2_stun_put(&w, W2_STUN_A_USE_CANDIDATE, NULL, 0);
	assert_int_equal(w2_stun_writer_finish(&w, &len), W2_ELIMIT);
}

static void fill_error_unknown(struct w2_stun_writer *w)
{
	static const uint16_t types[] = {0x0002, 0x7FFF, 0x0003};

	w2_stun_put_error(w, 401, "Bad creds");
	w2_stun_put_unknown(w, types, 3);
	w2_stun_put_error(w, 438, NULL);
}

static void test_writer_error_unknown(void **state)
{
	uint8_t buf[128];
	struct w2_stun_msg m;
	const struct w2_stun_attr *a;
	int code = 0;
	const char *reason;
	size_t rlen = 0;

	(void)state;
	assert_int_equal(w2_stun_parse(buf, build(buf, sizeof(buf), fill_error_unknown), &m), 0);
	assert_int_equal(w2_stun_get_error(&m, &code, &reason, &rlen), 0);
	assert_int_equal(code, 401);
	assert_memory_equal(reason, "Bad creds", rlen);
	a = w2_stun_find(&m, W2_STUN_A_UNKNOWN_ATTRIBUTES);
	assert_non_null(a);
	assert_int_equal(a->len, 6);
	assert_memory_equal(w2_stun_attr_value(&m, a), "\x00\x02\x7f\xff\x00\x03\x00\x00", 8);
	a = &m.attrs[2];
	assert_memory_equal(w2_stun_attr_value(&m, a) + 4, "Stale Nonce", 11);
}

/* ---- recognizing, framing, ChannelData ---- */

static void test_is_stun_channeldata(void **state)
{
	static const uint8_t cd[4] = {0x40, 0x00, 0x00, 0x00};

	(void)state;
	assert_true(w2_stun_is_stun(rfc5769_request, sizeof(rfc5769_request)));
	assert_true(w2_stun_is_stun(rfc5769_request, 20)); /* the header is enough */
	assert_false(w2_stun_is_stun(rfc5769_request, 19));
	assert_false(w2_stun_is_stun(NULL, 100));
	assert_false(w2_stun_is_stun(cd, sizeof(cd)));
	assert_false(w2_stun_is_channeldata(rfc5769_request, sizeof(rfc5769_request)));
	assert_true(w2_stun_is_channeldata(cd, 4));
	assert_false(w2_stun_is_channeldata(cd, 3));
	assert_true(w2_stun_is_channeldata((const uint8_t *)"\x7f\xff\x00\x00", 4));
	assert_false(w2_stun_is_channeldata((const uint8_t *)"\x80\x00\x00\x00", 4));
	assert_false(w2_stun_is_channeldata(NULL, 4));
}

static void test_stream_frame_len(void **state)
{
	uint8_t buf[128];

	(void)state;
	for (size_t n = 0; n < 4; n++)
		assert_int_equal(w2_stun_stream_frame_len(rfc5769_request, n), 0);
	assert_int_equal(w2_stun_stream_frame_len(NULL, 10), 0);
	for (size_t n = 4; n < sizeof(rfc5769_request); n++)
		assert_int_equal(w2_stun_stream_frame_len(rfc5769_request, n), 0); /* partial */
	assert_int_equal(w2_stun_stream_frame_len(rfc5769_request, 108), 108);
	memcpy(buf, rfc5769_request, 108);
	memset(buf + 108, 0, 20);
	assert_int_equal(w2_stun_stream_frame_len(buf, sizeof(buf)), 108); /* first frame */
	buf[7] ^= 1; /* cookie */
	assert_int_equal(w2_stun_stream_frame_len(buf, 7), 0);
	assert_int_equal(w2_stun_stream_frame_len(buf, 8), W2_EPROTO);
	buf[7] ^= 1;
	buf[3] = 0x57; /* length not a multiple of 4 */
	assert_int_equal(w2_stun_stream_frame_len(buf, 4), W2_EPROTO);
	/* ChannelData: 5 data bytes, padded to 8 on a stream. */
	memcpy(buf, "\x40\x01\x00\x05hello\0\0\0", 12);
	assert_int_equal(w2_stun_stream_frame_len(buf, 4), 0);
	assert_int_equal(w2_stun_stream_frame_len(buf, 11), 0);
	assert_int_equal(w2_stun_stream_frame_len(buf, 12), 12);
	assert_int_equal(w2_stun_stream_frame_len(buf, 100), 12);
	memcpy(buf, "\x40\x01\x00\x00", 4);
	assert_int_equal(w2_stun_stream_frame_len(buf, 4), 4);
	memcpy(buf, "\x7f\xff\xff\xff", 4); /* reserved channel still frames */
	assert_int_equal(w2_stun_stream_frame_len(buf, 4), 0);
	buf[0] = 0x80; /* neither: DTLS, RTP or garbage */
	assert_int_equal(w2_stun_stream_frame_len(buf, 4), W2_EPROTO);
	buf[0] = 0xC0;
	assert_int_equal(w2_stun_stream_frame_len(buf, 4), W2_EPROTO);
}

static int cd_parse(const void *buf, size_t len, uint16_t *ch, size_t *dlen)
{
	const uint8_t *data = NULL;
	int rc = w2_turn_channeldata_parse(buf, len, ch, &data, dlen);

	if (rc == 0)
		assert_ptr_equal(data, (const uint8_t *)buf + 4);
	return rc;
}

static void test_channeldata_parse(void **state)
{
	uint16_t ch = 0;
	size_t dlen = 0;

	(void)state;
	assert_int_equal(cd_parse("\x40\x00\x00\x00", 4, &ch, &dlen), 0);
	assert_int_equal(ch, 0x4000);
	assert_int_equal(dlen, 0);
	assert_int_equal(cd_parse("\x4f\xff\x00\x03" "abc", 7, &ch, &dlen), 0); /* unpadded */
	assert_int_equal(ch, 0x4FFF);
	assert_int_equal(dlen, 3);
	assert_int_equal(cd_parse("\x4f\xff\x00\x03" "abc\0", 8, &ch, &dlen), 0); /* padded */
	assert_int_equal(dlen, 3);
	assert_int_equal(cd_parse("\x40\x10\x00\x01" "a\0\0\0", 8, &ch, &dlen), 0);
	assert_int_equal(cd_parse("\x40\x10\x00\x01" "a\0\0\0\0", 9, &ch, &dlen), W2_EPROTO);
	assert_int_equal(cd_parse("\x40\x10\x00\x04" "abcd\0", 9, &ch, &dlen), W2_EPROTO);
	assert_int_equal(cd_parse("\x40\x10\x00\x04" "abc", 7, &ch, &dlen), W2_EPROTO);
	assert_int_equal(cd_parse("\x3f\xff\x00\x00", 4, &ch, &dlen), W2_EPROTO);
	/* RFC 5766's upper range is accepted (stun.h: W2_TURN_CHANNEL_MAX). */
	assert_int_equal(cd_parse("\x50\x00\x00\x00", 4, &ch, &dlen), 0);
	assert_int_equal(cd_parse("\x7f\xff\x00\x00", 4, &ch, &dlen), 0);
	assert_int_equal(ch, 0x7FFF);
	assert_int_equal(cd_parse("\x80\x00\x00\x00", 4, &ch, &dlen), W2_EPROTO);
	assert_int_equal(cd_parse("\x40\x00\x00", 3, &ch, &dlen), W2_EPROTO);
	assert_int_equal(cd_parse(NULL, 0, &ch, &dlen), W2_EPROTO);
}

static void test_channeldata_header(void **state)
{
	uint8_t hdr[W2_TURN_CHANNELDATA_HDR];

	(void)state;
	w2_turn_channeldata_header(hdr, 0x4abc, 1200);
	assert_memory_equal(hdr, "\x4a\xbc\x04\xb0", 4);
	w2_turn_channeldata_header(hdr, 0x4000, 0);
	assert_memory_equal(hdr, "\x40\x00\x00\x00", 4);
	w2_turn_channeldata_header(hdr, 0x4000, 65535);
	assert_memory_equal(hdr, "\x40\x00\xff\xff", 4);
}

/* ---- names ---- */

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(w2_stun_error_reason(401), "Unauthorized");
	assert_string_equal(w2_stun_error_reason(420), "Unknown Attribute");
	assert_string_equal(w2_stun_error_reason(437), "Allocation Mismatch");
	assert_string_equal(w2_stun_error_reason(508), "Insufficient Capacity");
	assert_string_equal(w2_stun_error_reason(499), "Error");
	assert_string_equal(w2_stun_error_reason(-1), "Error");
	assert_string_equal(w2_stun_method_name(W2_STUN_BINDING), "Binding");
	assert_string_equal(w2_stun_method_name(W2_TURN_ALLOCATE), "Allocate");
	assert_string_equal(w2_stun_method_name(W2_TURN_CHANNEL_BIND), "ChannelBind");
	assert_string_equal(w2_stun_method_name(W2_TURN_CONNECTION_ATTEMPT), "ConnectionAttempt");
	assert_string_equal(w2_stun_method_name(0x002), "Unknown");
	assert_string_equal(w2_stun_method_name(0xFFF), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5769_request_parse),
		cmocka_unit_test(test_rfc5769_request_write),
		cmocka_unit_test(test_rfc5769_ipv4_response),
		cmocka_unit_test(test_rfc5769_ipv6_response),
		cmocka_unit_test(test_rfc5769_long_term),
		cmocka_unit_test(test_rfc8489_b1),
		cmocka_unit_test(test_long_term_key),
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_type_round_trip),
		cmocka_unit_test(test_parse_header_errors),
		cmocka_unit_test(test_parse_attr_bounds),
		cmocka_unit_test(test_parse_max_attrs),
		cmocka_unit_test(test_parse_fingerprint_last),
		cmocka_unit_test(test_parse_integrity_length),
		cmocka_unit_test(test_parse_after_integrity),
		cmocka_unit_test(test_parse_after_integrity_sha256),
		cmocka_unit_test(test_parse_unknown),
		cmocka_unit_test(test_parse_known_required),
		cmocka_unit_test(test_integrity_mismatch),
		cmocka_unit_test(test_integrity_empty_key),
		cmocka_unit_test(test_integrity_sha256_truncated),
		cmocka_unit_test(test_checks_absent),
		cmocka_unit_test(test_get_u32),
		cmocka_unit_test(test_attr_addr),
		cmocka_unit_test(test_attr_addr_errors),
		cmocka_unit_test(test_get_error),
		cmocka_unit_test(test_get_error_refusals),
		cmocka_unit_test(test_writer_sticky),
		cmocka_unit_test(test_writer_invalid),
		cmocka_unit_test(test_writer_length_limit),
		cmocka_unit_test(test_writer_error_unknown),
		cmocka_unit_test(test_is_stun_channeldata),
		cmocka_unit_test(test_stream_frame_len),
		cmocka_unit_test(test_channeldata_parse),
		cmocka_unit_test(test_channeldata_header),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
