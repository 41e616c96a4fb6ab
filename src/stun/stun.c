/* STUN message parsing, attribute getters, stream framing and names
 * (RFC 8489, RFC 8656). The integrity checks are in stun_auth.c, the writer
 * and ChannelData in stun_write.c.
 *
 * Every read goes through the reader below, which refuses to step past the
 * end of the message, so a hostile length field can at worst make a message
 * invalid, never make us read outside the caller's buffer. */
#include "stun/stun.h"

#include "core/error.h"
#include "stun/stun_int.h"

#include <netinet/in.h>
#include <string.h>

/* ---- bounds-checked reader ---------------------------------------------- */

struct stun_reader {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

static bool reader_has(const struct stun_reader *r, size_t n)
{
	return r->len - r->pos >= n;
}

static bool reader_u16(struct stun_reader *r, uint16_t *v)
{
	if (!reader_has(r, 2))
		return false;
	*v = w2__be16(r->p + r->pos);
	r->pos += 2;
	return true;
}

static bool reader_skip(struct stun_reader *r, size_t n)
{
	if (!reader_has(r, n))
		return false;
	r->pos += n;
	return true;
}

/* ---- recognizing and framing -------------------------------------------- */

bool w2_stun_is_stun(const uint8_t *buf, size_t len)
{
	/* RFC 8489 section 5: the two most significant bits are zero, the length
	 * counts whole 4-byte words, and the cookie follows. */
	if (!buf || len < W2_STUN_HEADER_LEN)
		return false;
	return (buf[0] & 0xC0) == 0 && (w2__be16(buf + 2) & 3) == 0 &&
	       w2__be32(buf + 4) == W2_STUN_MAGIC;
}

bool w2_stun_is_channeldata(const uint8_t *buf, size_t len)
{
	/* RFC 8656 section 12.4: channel numbers start with the bits 01, which
	 * no STUN message (00), DTLS or RTP packet (RFC 7983) starts with. */
	return buf && len >= W2_TURN_CHANNELDATA_HDR && (buf[0] & 0xC0) == 0x40;
}

/* A STUN frame on a stream: its length field must count whole words and,
 * once the cookie has arrived, the cookie must be right; otherwise the
 * stream carries garbage and resynchronizing is impossible. */
static long stun_frame_len(const uint8_t *buf, size_t len)
{
	size_t body = w2__be16(buf + 2);

	if (body % 4 != 0)
		return W2_EPROTO;
	if (len >= 8 && w2__be32(buf + 4) != W2_STUN_MAGIC)
		return W2_EPROTO;
	if (len < W2_STUN_HEADER_LEN + body)
		return 0;
	return (long)(W2_STUN_HEADER_LEN + body);
}

long w2_stun_stream_frame_len(const uint8_t *buf, size_t len)
{
	size_t frame;

	if (!buf || len < 4)
		return 0;
	if ((buf[0] & 0xC0) == 0)
		return stun_frame_len(buf, len);
	if ((buf[0] & 0xC0) != 0x40)
		return W2_EPROTO;
	/* RFC 8656 section 12.5: over TCP and TLS a ChannelData message is
	 * padded to a multiple of 4 bytes; the padding is not in the length. An
	 * out-of-range channel still frames, so the stream stays in sync and
	 * w2_turn_channeldata_parse() drops just that message. */
	frame = W2_TURN_CHANNELDATA_HDR + w2__pad4(w2__be16(buf + 2));
	return len < frame ? 0 : (long)frame;
}

/* ---- parsing ------------------------------------------------------------ */

/* The comprehension-required attributes this codec knows: every type below
 * 0x8000 in enum w2_stun_attr_type. */
static const uint16_t known_required[] = {
	W2_STUN_A_MAPPED_ADDRESS,
	W2_STUN_A_USERNAME,
	W2_STUN_A_MESSAGE_INTEGRITY,
	W2_STUN_A_ERROR_CODE,
	W2_STUN_A_UNKNOWN_ATTRIBUTES,
	W2_STUN_A_CHANNEL_NUMBER,
	W2_STUN_A_LIFETIME,
	W2_STUN_A_XOR_PEER_ADDRESS,
	W2_STUN_A_DATA,
	W2_STUN_A_REALM,
	W2_STUN_A_NONCE,
	W2_STUN_A_XOR_RELAYED_ADDRESS,
	W2_STUN_A_REQUESTED_ADDRESS_FAMILY,
	W2_STUN_A_EVEN_PORT,
	W2_STUN_A_REQUESTED_TRANSPORT,
	W2_STUN_A_DONT_FRAGMENT,
	W2_STUN_A_MESSAGE_INTEGRITY_SHA256,
	W2_STUN_A_PASSWORD_ALGORITHM,
	W2_STUN_A_USERHASH,
	W2_STUN_A_XOR_MAPPED_ADDRESS,
	W2_STUN_A_RESERVATION_TOKEN,
	W2_STUN_A_PRIORITY,
	W2_STUN_A_USE_CANDIDATE,
	W2_STUN_A_CONNECTION_ID,
};

static bool is_known_required(uint16_t type)
{
	for (size_t i = 0; i < sizeof(known_required) / sizeof(known_required[0]); i++)
		if (known_required[i] == type)
			return true;
	return false;
}

/* Remembers an unknown comprehension-required type once (RFC 8489 section
 * 6.3.1: the 420 answer lists each); beyond W2_STUN_MAX_UNKNOWN the 420 is
 * still sent, with the first ones listed. */
static void note_unknown(struct w2_stun_msg *m, uint16_t type)
{
	if (type >= 0x8000 || is_known_required(type))
		return;
	for (size_t i = 0; i < m->n_unknown; i++)
		if (m->unknown[i] == type)
			return;
	if (m->n_unknown < W2_STUN_MAX_UNKNOWN)
		m->unknown[m->n_unknown++] = type;
}

/* RFC 8489 sections 14.5 to 14.7: after MESSAGE-INTEGRITY only
 * MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count, after
 * MESSAGE-INTEGRITY-SHA256 only FINGERPRINT; the rest is ignored. */
static bool ignored_after_integrity(const struct w2_stun_msg *m, uint16_t type)
{
	if (type == W2_STUN_A_FINGERPRINT)
		return false;
	if (m->integrity_sha256 >= 0)
		return true;
	return m->integrity >= 0 && type != W2_STUN_A_MESSAGE_INTEGRITY_SHA256;
}

/* Records one attribute whose value lies within the message. */
static int record_attr(struct w2_stun_msg *m, uint16_t type, uint16_t len, size_t off)
{
	int idx = (int)m->n_attrs;

	if (ignored_after_integrity(m, type))
		return 0;
	/* Section 14.7: FINGERPRINT is a 32-bit CRC; section 14.5:
	 * MESSAGE-INTEGRITY is a 20-byte HMAC-SHA1. Another length cannot be
	 * checked, so the message is malformed. */
	if (type == W2_STUN_A_FINGERPRINT && len != 4)
		return W2_EPROTO;
	if (type == W2_STUN_A_MESSAGE_INTEGRITY && len != W2_STUN_SHA1_LEN)
		return W2_EPROTO;
	m->attrs[m->n_attrs].type = type;
	m->attrs[m->n_attrs].len = len;
	m->attrs[m->n_attrs].off = (uint32_t)off;
	m->n_attrs++;
	if (type == W2_STUN_A_FINGERPRINT)
		m->fingerprint = idx;
	else if (type == W2_STUN_A_MESSAGE_INTEGRITY)
		m->integrity = idx;
	else if (type == W2_STUN_A_MESSAGE_INTEGRITY_SHA256)
		m->integrity_sha256 = idx;
	else
		note_unknown(m, type);
	return 0;
}

/* Walks the attributes (RFC 8489 section 14): each is type, length, value,
 * padding to 4 bytes, all inside the message. */
static int parse_attrs(struct w2_stun_msg *m)
{
	struct stun_reader r = {m->buf, m->len, W2_STUN_HEADER_LEN};
	size_t walked = 0;
	uint16_t type, len;
	int rc;

	while (r.pos < r.len) {
		/* Section 14.7: FINGERPRINT is the last attribute. */
		if (m->fingerprint >= 0)
			return W2_EPROTO;
		if (++walked > W2_STUN_MAX_ATTRS)
			return W2_EPROTO;
		if (!reader_u16(&r, &type) || !reader_u16(&r, &len))
			return W2_EPROTO;
		if (!reader_has(&r, w2__pad4(len)))
			return W2_EPROTO;
		rc = record_attr(m, type, len, r.pos);
		if (rc != 0)
			return rc;
		reader_skip(&r, w2__pad4(len));
	}
	return 0;
}

/* RFC 8489 section 5: the 14-bit type interleaves the class bits C1 (bit 8)
 * and C0 (bit 4) with the 12 method bits. */
static void decode_type(uint16_t t, uint16_t *method, enum w2_stun_class *cls)
{
	*method = (uint16_t)((t & 0x000F) | ((t & 0x00E0) >> 1) | ((t & 0x3E00) >> 2));
	*cls = (enum w2_stun_class)(((t >> 4) & 1) | ((t >> 7) & 2));
}

int w2_stun_parse(const uint8_t *buf, size_t len, struct w2_stun_msg *out)
{
	int rc;

	if (!out)
		return W2_EINVAL;
	memset(out, 0, sizeof(*out));
	out->integrity = out->integrity_sha256 = out->fingerprint = -1;
	if (!w2_stun_is_stun(buf, len) || w2__be16(buf + 2) != len - W2_STUN_HEADER_LEN)
		return W2_EPROTO;
	out->buf = buf;
	out->len = len;
	decode_type(w2__be16(buf), &out->method, &out->cls);
	memcpy(out->txid, buf + 8, W2_STUN_TXID_LEN);
	rc = parse_attrs(out);
	if (rc != 0) {
		/* A half-walked message must not look usable to a caller that
		 * ignores the return value. */
		out->n_attrs = out->n_unknown = 0;
		out->integrity = out->integrity_sha256 = out->fingerprint = -1;
	}
	return rc;
}

/* ---- getters ------------------------------------------------------------ */

const struct w2_stun_attr *w2_stun_find(const struct w2_stun_msg *m, uint16_t type)
{
	for (size_t i = 0; i < m->n_attrs; i++)
		if (m->attrs[i].type == type)
			return &m->attrs[i];
	return NULL;
}

const uint8_t *w2_stun_attr_value(const struct w2_stun_msg *m, const struct w2_stun_attr *a)
{
	return m->buf + a->off;
}

int w2_stun_get_u32(const struct w2_stun_msg *m, uint16_t type, uint32_t *out)
{
	const struct w2_stun_attr *a = w2_stun_find(m, type);

	if (!a)
		return W2_ENOENT;
	if (a->len != 4)
		return W2_EPROTO;
	*out = w2__be32(w2_stun_attr_value(m, a));
	return 0;
}

/* XOR-MAPPED-ADDRESS and kin (RFC 8489 section 14.2): the port is XOR-ed
 * with the cookie's top 16 bits, an IPv4 address with the cookie, an IPv6
 * address with the cookie followed by the transaction id. */
static void xor_addr(const struct w2_stun_msg *m, uint8_t *addr, size_t n)
{
	uint8_t pad[16];

	w2__put_be32(pad, W2_STUN_MAGIC);
	memcpy(pad + 4, m->txid, W2_STUN_TXID_LEN);
	for (size_t i = 0; i < n; i++)
		addr[i] ^= pad[i];
}

int w2_stun_attr_addr(const struct w2_stun_msg *m, const struct w2_stun_attr *a, bool xored,
		      struct sockaddr_storage *out)
{
	const uint8_t *v = w2_stun_attr_value(m, a);
	uint16_t port;

	/* RFC 8489 section 14.1: reserved byte, family (1 or 2), port, then 4
	 * or 16 address bytes; the reserved byte is ignored on receipt. */
	if (a->len < 4)
		return W2_EPROTO;
	port = w2__be16(v + 2);
	if (xored)
		port ^= (uint16_t)(W2_STUN_MAGIC >> 16);
	memset(out, 0, sizeof(*out));
	if (v[1] == 1 && a->len == 8) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, v + 4, 4);
		if (xored)
			xor_addr(m, (uint8_t *)&sin->sin_addr, 4);
		return 0;
	}
	if (v[1] == 2 && a->len == 20) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, v + 4, 16);
		if (xored)
			xor_addr(m, (uint8_t *)&sin6->sin6_addr, 16);
		return 0;
	}
	return W2_EPROTO;
}

int w2_stun_get_error(const struct w2_stun_msg *m, int *code, const char **reason,
		      size_t *reason_len)
{
	const struct w2_stun_attr *a = w2_stun_find(m, W2_STUN_A_ERROR_CODE);
	const uint8_t *v;
	int cls, number;

	if (!a)
		return W2_ENOENT;
	if (a->len < 4)
		return W2_EPROTO;
	/* RFC 8489 section 14.8: 21 reserved bits, a 3-bit class (3..6) and a
	 * number 0..99; the code is class * 100 + number. */
	v = w2_stun_attr_value(m, a);
	cls = v[2] & 7;
	number = v[3];
	if (cls < 3 || cls > 6 || number > 99)
		return W2_EPROTO;
	*code = cls * 100 + number;
	*reason = (const char *)v + 4;
	*reason_len = (size_t)a->len - 4;
	return 0;
}

/* ---- names -------------------------------------------------------------- */

struct code_name {
	int code;
	const char *name;
};

/* Reason phrases from RFC 8489 section 14.8, RFC 8656 section 18, RFC 6062
 * section 6.3 and RFC 8445 section 7.3.1.1. */
static const struct code_name error_reasons[] = {
	{W2_STUN_ERR_TRY_ALTERNATE, "Try Alternate"},
	{W2_STUN_ERR_BAD_REQUEST, "Bad Request"},
	{W2_STUN_ERR_UNAUTHORIZED, "Unauthorized"},
	{W2_STUN_ERR_FORBIDDEN, "Forbidden"},
	{W2_STUN_ERR_UNKNOWN_ATTRIBUTE, "Unknown Attribute"},
	{W2_STUN_ERR_ALLOCATION_MISMATCH, "Allocation Mismatch"},
	{W2_STUN_ERR_STALE_NONCE, "Stale Nonce"},
	{W2_STUN_ERR_ADDRESS_FAMILY_NOT_SUPPORTED, "Address Family not Supported"},
	{W2_STUN_ERR_WRONG_CREDENTIALS, "Wrong Credentials"},
	{W2_STUN_ERR_UNSUPPORTED_TRANSPORT, "Unsupported Transport Protocol"},
	{W2_STUN_ERR_PEER_ADDRESS_FAMILY_MISMATCH, "Peer Address Family Mismatch"},
	{W2_STUN_ERR_CONNECTION_ALREADY_EXISTS, "Connection Already Exists"},
	{W2_STUN_ERR_CONNECTION_TIMEOUT, "Connection Timeout or Failure"},
	{W2_STUN_ERR_ALLOCATION_QUOTA_REACHED, "Allocation Quota Reached"},
	{W2_STUN_ERR_ROLE_CONFLICT, "Role Conflict"},
	{W2_STUN_ERR_SERVER_ERROR, "Server Error"},
	{W2_STUN_ERR_INSUFFICIENT_CAPACITY, "Insufficient Capacity"},
};

static const struct code_name method_names[] = {
	{W2_STUN_BINDING, "Binding"},
	{W2_TURN_ALLOCATE, "Allocate"},
	{W2_TURN_REFRESH, "Refresh"},
	{W2_TURN_SEND, "Send"},
	{W2_TURN_DATA, "Data"},
	{W2_TURN_CREATE_PERMISSION, "CreatePermission"},
	{W2_TURN_CHANNEL_BIND, "ChannelBind"},
	{W2_TURN_CONNECT, "Connect"},
	{W2_TURN_CONNECTION_BIND, "ConnectionBind"},
	{W2_TURN_CONNECTION_ATTEMPT, "ConnectionAttempt"},
};

static const char *lookup(const struct code_name *t, size_t n, int code, const char *dflt)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].code == code)
			return t[i].name;
	return dflt;
}

const char *w2_stun_error_reason(int code)
{
	return lookup(error_reasons, sizeof(error_reasons) / sizeof(error_reasons[0]), code,
		      "Error");
}

const char *w2_stun_method_name(uint16_t method)
{
	return lookup(method_names, sizeof(method_names) / sizeof(method_names[0]), method,
		      "Unknown");
}
