/* The STUN message writer (RFC 8489 sections 5, 14) and the ChannelData
 * message (RFC 8656 section 12.4).
 *
 * Errors are sticky so a caller can append a whole message and check once
 * at w2_stun_writer_finish(). The header's length field is kept current
 * after every attribute, which is exactly what MESSAGE-INTEGRITY and
 * FINGERPRINT need: each covers the message with the length already
 * counting itself (RFC 8489 sections 14.5, 14.7). */
#include "stun/stun.h"

#include "core/error.h"
#include "stun/stun_int.h"

#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <string.h>

/* RFC 8489 section 14.8: the reason phrase is at most 763 bytes. */
#define STUN_REASON_MAX 763

/* RFC 8489 section 5: the class bits C1 C0 sit at bits 8 and 4 of the
 * 14-bit type, between the method's bits. */
static uint16_t encode_type(uint16_t method, enum w2_stun_class cls)
{
	unsigned c = (unsigned)cls & 3, m = method & 0x0FFF;

	return (uint16_t)((m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) |
			  ((c & 1) << 4) | ((c & 2) << 7));
}

void w2_stun_writer_init(struct w2_stun_writer *w, uint8_t *buf, size_t cap, uint16_t method,
			 enum w2_stun_class cls, const uint8_t txid[W2_STUN_TXID_LEN])
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->err = 0;
	if (!buf || cap < W2_STUN_HEADER_LEN) {
		w->err = W2_ELIMIT;
		return;
	}
	w2__put_be16(buf, encode_type(method, cls));
	w2__put_be16(buf + 2, 0);
	w2__put_be32(buf + 4, W2_STUN_MAGIC);
	memcpy(buf + 8, txid, W2_STUN_TXID_LEN);
	w->len = W2_STUN_HEADER_LEN;
}

/* Appends an attribute header and room for `len` value bytes (padding
 * zeroed), updates the header's length, and returns where the value goes;
 * NULL (with the sticky error set) when it does not fit the buffer or the
 * 16-bit length fields. */
static uint8_t *reserve(struct w2_stun_writer *w, uint16_t type, size_t len)
{
	size_t need = 4 + w2__pad4(len);
	uint8_t *p;

	if (w->err)
		return NULL;
	if (len > 0xFFFF || w->cap - w->len < need ||
	    w->len + need - W2_STUN_HEADER_LEN > 0xFFFF) {
		w->err = W2_ELIMIT;
		return NULL;
	}
	p = w->buf + w->len;
	w2__put_be16(p, type);
	w2__put_be16(p + 2, (uint16_t)len);
	memset(p + 4, 0, w2__pad4(len));
	w->len += need;
	w2__put_be16(w->buf + 2, (uint16_t)(w->len - W2_STUN_HEADER_LEN));
	return p + 4;
}

void w2_stun_put(struct w2_stun_writer *w, uint16_t type, const void *value, size_t len)
{
	uint8_t *v = reserve(w, type, len);

	/* A NULL value leaves the reserved bytes zero. */
	if (v && value && len)
		memcpy(v, value, len);
}

void w2_stun_put_u32(struct w2_stun_writer *w, uint16_t type, uint32_t v)
{
	uint8_t *p = reserve(w, type, 4);

	if (p)
		w2__put_be32(p, v);
}

/* The XOR pad of RFC 8489 section 14.2 for the message being written: the
 * cookie, then the transaction id (which init copied into the header). */
static void writer_xor(const struct w2_stun_writer *w, uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		bytes[i] ^= w->buf[4 + i];
}

void w2_stun_put_addr(struct w2_stun_writer *w, uint16_t type, const struct sockaddr *sa,
		      bool xored)
{
	uint8_t v[20] = {0};
	size_t n;

	if (w->err)
		return;
	/* RFC 8489 section 14.1: reserved byte, family, port, address. */
	if (sa && sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		v[1] = 1;
		memcpy(v + 2, &sin->sin_port, 2);
		memcpy(v + 4, &sin->sin_addr, 4);
		n = 4;
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		v[1] = 2;
		memcpy(v + 2, &sin6->sin6_port, 2);
		memcpy(v + 4, &sin6->sin6_addr, 16);
		n = 16;
	} else {
		w->err = W2_EINVAL;
		return;
	}
	/* The port XORs with the cookie's top half, the address with the pad
	 * starting at the cookie: both are the header bytes from offset 4. */
	if (xored) {
		writer_xor(w, v + 2, 2);
		writer_xor(w, v + 4, n);
	}
	w2_stun_put(w, type, v, 4 + n);
}

void w2_stun_put_error(struct w2_stun_writer *w, int code, const char *reason)
{
	size_t rlen;
	uint8_t *v;

	if (w->err)
		return;
	if (code < 300 || code > 699) {
		w->err = W2_EINVAL;
		return;
	}
	if (!reason)
		reason = w2_stun_error_reason(code);
	rlen = strlen(reason);
	if (rlen > STUN_REASON_MAX) {
		w->err = W2_EINVAL;
		return;
	}
	/* RFC 8489 section 14.8: 21 zero bits, class (hundreds), number. */
	v = reserve(w, W2_STUN_A_ERROR_CODE, 4 + rlen);
	if (!v)
		return;
	v[2] = (uint8_t)(code / 100);
	v[3] = (uint8_t)(code % 100);
	memcpy(v + 4, reason, rlen);
}

void w2_stun_put_unknown(struct w2_stun_writer *w, const uint16_t *types, size_t n)
{
	uint8_t *v;

	if (n > 0xFFFF / 2) {
		if (!w->err)
			w->err = W2_ELIMIT;
		return;
	}
	/* RFC 8489 section 14.9: a list of 16-bit types, padded like any value. */
	v = reserve(w, W2_STUN_A_UNKNOWN_ATTRIBUTES, 2 * n);
	for (size_t i = 0; v && i < n; i++)
		w2__put_be16(v + 2 * i, types[i]);
}

/* MESSAGE-INTEGRITY(-SHA256) of `mac_len` bytes: once the attribute is
 * reserved, the header length counts it, and the HMAC covers every byte
 * before the attribute's header (RFC 8489 sections 14.5, 14.6). */
static void put_hmac(struct w2_stun_writer *w, uint16_t type, const EVP_MD *md, size_t mac_len,
		     const uint8_t *key, size_t key_len)
{
	static const uint8_t empty_key[1];
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	uint8_t *v;

	if (key_len > 0x7FFFFFFF && !w->err)
		w->err = W2_EINVAL; /* HMAC() takes an int length */
	v = reserve(w, type, mac_len);
	if (!v)
		return;
	if (!HMAC(md, key_len ? key : empty_key, (int)key_len, w->buf, (size_t)(v - 4 - w->buf),
		  mac, &n) ||
	    n < mac_len) {
		w->err = W2_EIO;
		return;
	}
	memcpy(v, mac, mac_len);
}

void w2_stun_put_integrity(struct w2_stun_writer *w, const uint8_t *key, size_t key_len)
{
	put_hmac(w, W2_STUN_A_MESSAGE_INTEGRITY, EVP_sha1(), W2_STUN_SHA1_LEN, key, key_len);
}

void w2_stun_put_integrity_sha256(struct w2_stun_writer *w, const uint8_t *key, size_t key_len)
{
	put_hmac(w, W2_STUN_A_MESSAGE_INTEGRITY_SHA256, EVP_sha256(), W2_STUN_SHA256_LEN, key,
		 key_len);
}

void w2_stun_put_fingerprint(struct w2_stun_writer *w)
{
	uint8_t *v = reserve(w, W2_STUN_A_FINGERPRINT, 4);

	if (v)
		w2__put_be32(v, w2__stun_crc32(w->buf, (size_t)(v - 4 - w->buf)) ^
					W2_STUN_FINGERPRINT_XOR);
}

int w2_stun_writer_finish(struct w2_stun_writer *w, size_t *len)
{
	if (w->err)
		return w->err;
	*len = w->len;
	return 0;
}

/* ---- ChannelData -------------------------------------------------------- */

int w2_turn_channeldata_parse(const uint8_t *buf, size_t len, uint16_t *channel,
			      const uint8_t **data, size_t *data_len)
{
	uint16_t ch, dlen;

	if (!buf || len < W2_TURN_CHANNELDATA_HDR)
		return W2_EPROTO;
	/* W2_TURN_CHANNEL_MAX (stun.h) says why RFC 5766's range is kept. */
	ch = w2__be16(buf);
	dlen = w2__be16(buf + 2);
	if (ch < W2_TURN_CHANNEL_MIN || ch > W2_TURN_CHANNEL_MAX)
		return W2_EPROTO;
	/* Section 12.4: the data follows the header, padded to 4 bytes on a
	 * stream, maybe padded on UDP. More than that padding is malformed. */
	if (dlen > len - W2_TURN_CHANNELDATA_HDR ||
	    len - W2_TURN_CHANNELDATA_HDR > w2__pad4(dlen))
		return W2_EPROTO;
	*channel = ch;
	*data = buf + W2_TURN_CHANNELDATA_HDR;
	*data_len = dlen;
	return 0;
}

void w2_turn_channeldata_header(uint8_t hdr[W2_TURN_CHANNELDATA_HDR], uint16_t channel,
				size_t data_len)
{
	/* The caller relays at most a 65535-byte datagram; the field is 16 bits. */
	w2__put_be16(hdr, channel);
	w2__put_be16(hdr + 2, (uint16_t)(data_len > 0xFFFF ? 0xFFFF : data_len));
}
