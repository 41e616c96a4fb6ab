/* Fuzz target for src/stun/: the STUN parser, every getter, the integrity
 * checks, stream framing and ChannelData.
 *
 * For every input:
 *   1. w2_stun_stream_frame_len and w2_turn_channeldata_parse stay inside
 *      the input, and a frame they report parses (or is refused) cleanly;
 *   2. w2_stun_parse either refuses it or gives attributes that all lie
 *      inside the input, with the index fields pointing at the right types;
 *   3. every getter runs on every attribute; an address that decodes is
 *      written back by w2_stun_put_addr to the same bytes;
 *   4. the check functions run with a fixed key and answer only their
 *      documented codes;
 *   5. round trip: the parsed attributes written again by the writer (with
 *      fresh MESSAGE-INTEGRITY, -SHA256 and FINGERPRINT under the fixed key)
 *      parse again to the same attributes, and every check passes.
 * Any disagreement abort()s. */
#include "core/error.h"
#include "stun/stun.h"

#include <netinet/in.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fuzz_key[] = "VOkJxbRl1RmTxUk/WvJxBt";
#define FUZZ_KEY_LEN (sizeof(fuzz_key) - 1)

/* Room for the largest message plus a grown MESSAGE-INTEGRITY-SHA256. */
#define FUZZ_OUT_CAP (W2_STUN_HEADER_LEN + 0xFFFF + 64)

static void check_framing(const uint8_t *d, size_t n)
{
	long frame = w2_stun_stream_frame_len(d, n);
	struct w2_stun_msg m;
	uint16_t ch;
	const uint8_t *cd;
	size_t cd_len;

	if (frame < 0 && frame != W2_EPROTO)
		abort();
	if (frame > 0 && (size_t)frame > n)
		abort();
	if (frame > 0 && w2_stun_is_channeldata(d, n))
		(void)w2_turn_channeldata_parse(d, (size_t)frame, &ch, &cd, &cd_len);
	else if (frame > 0)
		(void)w2_stun_parse(d, (size_t)frame, &m);
	if (w2_turn_channeldata_parse(d, n, &ch, &cd, &cd_len) == 0) {
		if (cd != d + 4 || cd_len > n - 4 || n - 4 - cd_len > 3)
			abort();
		if (ch < W2_TURN_CHANNEL_MIN || ch > W2_TURN_CHANNEL_MAX)
			abort();
		if (!w2_stun_is_channeldata(d, n))
			abort();
	}
}

/* The recorded attributes lie inside the message, and the index fields
 * name attributes of their type. */
static void check_layout(const struct w2_stun_msg *m, size_t n)
{
	if (m->len != n || m->n_attrs > W2_STUN_MAX_ATTRS || m->n_unknown > W2_STUN_MAX_UNKNOWN)
		abort();
	for (size_t i = 0; i < m->n_attrs; i++) {
		const struct w2_stun_attr *a = &m->attrs[i];

		if (a->off < W2_STUN_HEADER_LEN + 4 || a->off > n || a->len > n - a->off)
			abort();
	}
	if (m->integrity >= 0 && m->attrs[m->integrity].type != W2_STUN_A_MESSAGE_INTEGRITY)
		abort();
	if (m->integrity_sha256 >= 0 &&
	    m->attrs[m->integrity_sha256].type != W2_STUN_A_MESSAGE_INTEGRITY_SHA256)
		abort();
	if (m->fingerprint >= 0 && (size_t)m->fingerprint != m->n_attrs - 1)
		abort();
	if (!w2_stun_is_stun(m->buf, n) || w2_stun_stream_frame_len(m->buf, n) != (long)n)
		abort();
}

/* An address that decodes is encoded back to the same value bytes (the
 * reserved first byte aside). */
static void check_addr(const struct w2_stun_msg *m, const struct w2_stun_attr *a, bool xored)
{
	static uint8_t out[64];
	struct sockaddr_storage ss;
	struct w2_stun_writer w;
	size_t len;

	if (w2_stun_attr_addr(m, a, xored, &ss) != 0)
		return;
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		abort();
	w2_stun_writer_init(&w, out, sizeof(out), m->method, m->cls, m->txid);
	w2_stun_put_addr(&w, a->type, (const struct sockaddr *)&ss, xored);
	if (w2_stun_writer_finish(&w, &len) != 0 || len != W2_STUN_HEADER_LEN + 4 + (size_t)a->len)
		abort();
	if (memcmp(out + 25, w2_stun_attr_value(m, a) + 1, (size_t)a->len - 1) != 0)
		abort();
}

static void check_getters(const struct w2_stun_msg *m)
{
	uint32_t v;
	int code, rc;
	const char *reason;
	size_t rlen;

	for (size_t i = 0; i < m->n_attrs; i++) {
		const struct w2_stun_attr *a = &m->attrs[i];

		if (w2_stun_find(m, a->type) == NULL)
			abort();
		rc = w2_stun_get_u32(m, a->type, &v);
		if (rc != 0 && rc != W2_EPROTO)
			abort();
		check_addr(m, a, true);
		check_addr(m, a, false);
	}
	rc = w2_stun_get_error(m, &code, &reason, &rlen);
	if (rc == 0 && (code < 300 || code > 699 || reason < (const char *)m->buf ||
			reason + rlen > (const char *)m->buf + m->len))
		abort();
	(void)w2_stun_error_reason(rc == 0 ? code : 0);
	(void)w2_stun_method_name(m->method);
}

static void check_checks(const struct w2_stun_msg *m)
{
	int a = w2_stun_check_integrity(m, fuzz_key, FUZZ_KEY_LEN);
	int b = w2_stun_check_integrity_sha256(m, fuzz_key, FUZZ_KEY_LEN);
	int c = w2_stun_check_fingerprint(m);

	if (a != 0 && a != W2_ENOENT && a != W2_EAUTH)
		abort();
	if (b != 0 && b != W2_ENOENT && b != W2_EAUTH && b != W2_EPROTO)
		abort();
	if (c != 0 && c != W2_ENOENT && c != W2_EPROTO)
		abort();
	if ((a == W2_ENOENT) != (m->integrity < 0) || (c == W2_ENOENT) != (m->fingerprint < 0))
		abort();
}

static bool is_integrity_type(uint16_t t)
{
	return t == W2_STUN_A_MESSAGE_INTEGRITY || t == W2_STUN_A_MESSAGE_INTEGRITY_SHA256 ||
	       t == W2_STUN_A_FINGERPRINT;
}

/* Writes m's attributes again; returns the writer's verdict. */
static int rewrite(const struct w2_stun_msg *m, uint8_t *out, size_t *len)
{
	struct w2_stun_writer w;

	w2_stun_writer_init(&w, out, FUZZ_OUT_CAP, m->method, m->cls, m->txid);
	for (size_t i = 0; i < m->n_attrs; i++)
		if (!is_integrity_type(m->attrs[i].type))
			w2_stun_put(&w, m->attrs[i].type, w2_stun_attr_value(m, &m->attrs[i]),
				    m->attrs[i].len);
	if (m->integrity >= 0)
		w2_stun_put_integrity(&w, fuzz_key, FUZZ_KEY_LEN);
	if (m->integrity_sha256 >= 0)
		w2_stun_put_integrity_sha256(&w, fuzz_key, FUZZ_KEY_LEN);
	if (m->fingerprint >= 0)
		w2_stun_put_fingerprint(&w);
	return w2_stun_writer_finish(&w, len);
}

static void check_round_trip(const struct w2_stun_msg *m)
{
	static uint8_t out[FUZZ_OUT_CAP];
	struct w2_stun_msg r;
	size_t len = 0;

	if (rewrite(m, out, &len) != 0) {
		/* Only a truncated MESSAGE-INTEGRITY-SHA256 grown to 32 bytes can
		 * push the message past the 16-bit length. */
		if (m->integrity_sha256 < 0 || m->len + 32 - W2_STUN_HEADER_LEN <= 0xFFFF)
			abort();
		return;
	}
	if (w2_stun_parse(out, len, &r) != 0 || r.n_attrs != m->n_attrs ||
	    r.method != m->method || r.cls != m->cls || r.n_unknown != m->n_unknown ||
	    r.integrity != m->integrity || r.integrity_sha256 != m->integrity_sha256 ||
	    r.fingerprint != m->fingerprint || memcmp(r.txid, m->txid, W2_STUN_TXID_LEN) != 0)
		abort();
	for (size_t i = 0; i < r.n_attrs; i++) {
		const struct w2_stun_attr *a = &m->attrs[i], *b = &r.attrs[i];

		if (a->type != b->type)
			abort();
		if (!is_integrity_type(a->type) &&
		    (a->len != b->len ||
		     memcmp(w2_stun_attr_value(m, a), w2_stun_attr_value(&r, b), a->len) != 0))
			abort();
	}
	if (memcmp(r.unknown, m->unknown, m->n_unknown * sizeof(m->unknown[0])) != 0)
		abort();
	if ((r.integrity >= 0 && w2_stun_check_integrity(&r, fuzz_key, FUZZ_KEY_LEN) != 0) ||
	    (r.integrity_sha256 >= 0 &&
	     w2_stun_check_integrity_sha256(&r, fuzz_key, FUZZ_KEY_LEN) != 0) ||
	    (r.fingerprint >= 0 && w2_stun_check_fingerprint(&r) != 0))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct w2_stun_msg m;
	int rc;

	check_framing(data, size);
	rc = w2_stun_parse(data, size, &m);
	if (rc != 0) {
		if (rc != W2_EPROTO || m.n_attrs != 0)
			abort();
		return 0;
	}
	check_layout(&m, size);
	check_getters(&m);
	check_checks(&m);
	check_round_trip(&m);
	return 0;
}
