/* STUN (RFC 8489) and TURN (RFC 8656) message codec.
 *
 * Pure functions over bytes: no I/O, no allocation, no clock, so the TURN
 * server, the SFU's ICE-lite and the native client share it and a fuzzer can
 * drive it. Parsing never trusts the input: every length is checked against
 * the buffer, and a parsed message only records offsets into the caller's
 * buffer (it borrows `buf`, which must outlive the w2_stun_msg).
 *
 * Thread-safety: every function is reentrant; nothing is shared.
 * Errors: 0 or a negative W2_E* code (core/error.h). */
#ifndef W2_STUN_STUN_H
#define W2_STUN_STUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define W2_STUN_HEADER_LEN 20
#define W2_STUN_MAGIC 0x2112A442u
#define W2_STUN_TXID_LEN 12
#define W2_STUN_MAX_ATTRS 40   /* a message with more attributes is rejected */
#define W2_STUN_MAX_UNKNOWN 8  /* comprehension-required unknowns remembered */
#define W2_STUN_SHA1_LEN 20
#define W2_STUN_SHA256_LEN 32
#define W2_STUN_FINGERPRINT_XOR 0x5354554Eu /* RFC 8489 section 14.7 */

/* ChannelData (RFC 8656 section 12.4): 4-byte header, then the data. Over
 * TCP/TLS a ChannelData message is padded to a multiple of 4 bytes.
 *
 * Channel numbers: RFC 8656 section 12 lets clients bind 0x4000-0x4FFF,
 * RFC 5766 allowed 0x4000-0x7FFF, and clients of that era still use the
 * upper part (coturn's turnutils_uclient binds 0x7018). Every number of
 * the old range starts with the bits 01, so none can be mistaken for STUN
 * on a TURN port: this server accepts the old range, for interoperation. */
#define W2_TURN_CHANNELDATA_HDR 4
#define W2_TURN_CHANNEL_MIN 0x4000
#define W2_TURN_CHANNEL_MAX 0x7FFF

/* Message classes (RFC 8489 section 5). */
enum w2_stun_class {
	W2_STUN_REQUEST = 0,
	W2_STUN_INDICATION = 1,
	W2_STUN_SUCCESS = 2,
	W2_STUN_ERROR = 3,
};

/* Methods (RFC 8489, RFC 8656 section 17, RFC 6062 section 6.1). */
enum w2_stun_method {
	W2_STUN_BINDING = 0x001,
	W2_TURN_ALLOCATE = 0x003,
	W2_TURN_REFRESH = 0x004,
	W2_TURN_SEND = 0x006,
	W2_TURN_DATA = 0x007,
	W2_TURN_CREATE_PERMISSION = 0x008,
	W2_TURN_CHANNEL_BIND = 0x009,
	W2_TURN_CONNECT = 0x00A,
	W2_TURN_CONNECTION_BIND = 0x00B,
	W2_TURN_CONNECTION_ATTEMPT = 0x00C,
};

/* Attribute types. 0x0000-0x7FFF are comprehension-required, 0x8000-0xFFFF
 * comprehension-optional (RFC 8489 section 14). */
enum w2_stun_attr_type {
	W2_STUN_A_MAPPED_ADDRESS = 0x0001,
	W2_STUN_A_USERNAME = 0x0006,
	W2_STUN_A_MESSAGE_INTEGRITY = 0x0008,
	W2_STUN_A_ERROR_CODE = 0x0009,
	W2_STUN_A_UNKNOWN_ATTRIBUTES = 0x000A,
	W2_STUN_A_CHANNEL_NUMBER = 0x000C,
	W2_STUN_A_LIFETIME = 0x000D,
	W2_STUN_A_XOR_PEER_ADDRESS = 0x0012,
	W2_STUN_A_DATA = 0x0013,
	W2_STUN_A_REALM = 0x0014,
	W2_STUN_A_NONCE = 0x0015,
	W2_STUN_A_XOR_RELAYED_ADDRESS = 0x0016,
	W2_STUN_A_REQUESTED_ADDRESS_FAMILY = 0x0017,
	W2_STUN_A_EVEN_PORT = 0x0018,
	W2_STUN_A_REQUESTED_TRANSPORT = 0x0019,
	W2_STUN_A_DONT_FRAGMENT = 0x001A,
	W2_STUN_A_MESSAGE_INTEGRITY_SHA256 = 0x001C,
	W2_STUN_A_PASSWORD_ALGORITHM = 0x001D,
	W2_STUN_A_USERHASH = 0x001E,
	W2_STUN_A_XOR_MAPPED_ADDRESS = 0x0020,
	W2_STUN_A_RESERVATION_TOKEN = 0x0022,
	W2_STUN_A_PRIORITY = 0x0024,
	W2_STUN_A_USE_CANDIDATE = 0x0025,
	W2_STUN_A_CONNECTION_ID = 0x002A,
	W2_STUN_A_ADDITIONAL_ADDRESS_FAMILY = 0x8000,
	W2_STUN_A_ADDRESS_ERROR_CODE = 0x8001,
	W2_STUN_A_PASSWORD_ALGORITHMS = 0x8002,
	W2_STUN_A_ALTERNATE_DOMAIN = 0x8003,
	W2_STUN_A_ICMP = 0x8004,
	W2_STUN_A_SOFTWARE = 0x8022,
	W2_STUN_A_ALTERNATE_SERVER = 0x8023,
	W2_STUN_A_FINGERPRINT = 0x8028,
	W2_STUN_A_ICE_CONTROLLED = 0x8029,
	W2_STUN_A_ICE_CONTROLLING = 0x802A,
};

/* ERROR-CODE values (RFC 8489 section 14.8, RFC 8656 section 18,
 * RFC 6062 section 6.3, RFC 8445 section 7.3.1.1). */
enum w2_stun_error {
	W2_STUN_ERR_TRY_ALTERNATE = 300,
	W2_STUN_ERR_BAD_REQUEST = 400,
	W2_STUN_ERR_UNAUTHORIZED = 401,
	W2_STUN_ERR_FORBIDDEN = 403,
	W2_STUN_ERR_UNKNOWN_ATTRIBUTE = 420,
	W2_STUN_ERR_ALLOCATION_MISMATCH = 437,
	W2_STUN_ERR_STALE_NONCE = 438,
	W2_STUN_ERR_ADDRESS_FAMILY_NOT_SUPPORTED = 440,
	W2_STUN_ERR_WRONG_CREDENTIALS = 441,
	W2_STUN_ERR_UNSUPPORTED_TRANSPORT = 442,
	W2_STUN_ERR_PEER_ADDRESS_FAMILY_MISMATCH = 443,
	W2_STUN_ERR_CONNECTION_ALREADY_EXISTS = 446,
	W2_STUN_ERR_CONNECTION_TIMEOUT = 447,
	W2_STUN_ERR_ALLOCATION_QUOTA_REACHED = 486,
	W2_STUN_ERR_ROLE_CONFLICT = 487,
	W2_STUN_ERR_SERVER_ERROR = 500,
	W2_STUN_ERR_INSUFFICIENT_CAPACITY = 508,
};

/* PASSWORD-ALGORITHM values (RFC 8489 section 18.5). */
enum w2_stun_password_alg {
	W2_STUN_PW_MD5 = 0x0001,     /* key = MD5(user ":" realm ":" pass), 16 bytes */
	W2_STUN_PW_SHA256 = 0x0002,  /* key = SHA-256(same), 32 bytes */
};

/* One attribute: its type and where its value lies in the message. */
struct w2_stun_attr {
	uint16_t type;
	uint16_t len;  /* value length, without padding */
	uint32_t off;  /* offset of the value from the start of the message */
};

/* A parsed message. Borrows the buffer given to w2_stun_parse(). */
struct w2_stun_msg {
	const uint8_t *buf;
	size_t len;                      /* whole message: header + attributes */
	uint16_t method;                 /* enum w2_stun_method, or any 12-bit value */
	enum w2_stun_class cls;
	uint8_t txid[W2_STUN_TXID_LEN];
	struct w2_stun_attr attrs[W2_STUN_MAX_ATTRS];
	size_t n_attrs;
	/* Index into attrs, or -1 when absent. Attributes after
	 * MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT
	 * are not recorded, and nothing after FINGERPRINT is (RFC 8489
	 * section 14.5, 14.6, 14.7). */
	int integrity;
	int integrity_sha256;
	int fingerprint;
	/* Comprehension-required attribute types this codec does not know; a
	 * server answers a request carrying any with 420 and
	 * UNKNOWN-ATTRIBUTES (RFC 8489 section 6.3.1). */
	uint16_t unknown[W2_STUN_MAX_UNKNOWN];
	size_t n_unknown;
};

/* ---- recognizing and framing ------------------------------------------- */

/* True if buf starts like a STUN message: top two bits zero, length a
 * multiple of 4, and the magic cookie (RFC 8489 section 5). Cheap: used to
 * demultiplex STUN from ChannelData, DTLS and RTP on one socket. */
bool w2_stun_is_stun(const uint8_t *buf, size_t len);

/* True if buf starts with a ChannelData header (first two bits 01). */
bool w2_stun_is_channeldata(const uint8_t *buf, size_t len);

/* For stream transports (TCP, TLS): the length of the first whole STUN or
 * ChannelData message at buf, ChannelData padded to 4 bytes (RFC 8656
 * section 12.5). Returns that length (> 0) when it is all in buf, 0 when
 * more bytes are needed (fewer than 4 bytes, or a partial message), or
 * W2_EPROTO when the bytes are neither STUN nor ChannelData (the caller
 * closes the connection). */
long w2_stun_stream_frame_len(const uint8_t *buf, size_t len);

/* ---- parsing ------------------------------------------------------------ */

/* Parses one whole STUN message of exactly len bytes (a datagram, or a frame
 * from w2_stun_stream_frame_len). Checks the header (bits, cookie, length =
 * len - 20, multiple of 4), walks every attribute within bounds (padding
 * included), fills `out`. Does not check MESSAGE-INTEGRITY or FINGERPRINT
 * values: see the check functions. Returns 0, or W2_EPROTO for a malformed
 * message (truncated attribute, bad length, more than W2_STUN_MAX_ATTRS
 * attributes, FINGERPRINT not last, ...). */
int w2_stun_parse(const uint8_t *buf, size_t len, struct w2_stun_msg *out);

/* Returns the first attribute of `type`, or NULL. */
const struct w2_stun_attr *w2_stun_find(const struct w2_stun_msg *m, uint16_t type);

/* The value bytes of attribute a (borrowed from m->buf). */
const uint8_t *w2_stun_attr_value(const struct w2_stun_msg *m, const struct w2_stun_attr *a);

/* Reads a 4-byte attribute (LIFETIME, PRIORITY, ...). 0, W2_ENOENT or
 * W2_EPROTO when the value is not 4 bytes. */
int w2_stun_get_u32(const struct w2_stun_msg *m, uint16_t type, uint32_t *out);

/* Decodes an address attribute value: XOR-ed (XOR-MAPPED-ADDRESS,
 * XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS: `xored` true) or plain
 * (MAPPED-ADDRESS, ALTERNATE-SERVER). Writes a sockaddr_in or sockaddr_in6
 * into out. Returns 0, or W2_EPROTO (bad length, family other than 1/2),
 * so that several XOR-PEER-ADDRESS attributes (CreatePermission) can be read
 * one by one by walking m->attrs. */
int w2_stun_attr_addr(const struct w2_stun_msg *m, const struct w2_stun_attr *a, bool xored,
		      struct sockaddr_storage *out);

/* ERROR-CODE: the number (300..699) and the reason phrase (borrowed, not
 * NUL-terminated, may be empty). 0, W2_ENOENT or W2_EPROTO. */
int w2_stun_get_error(const struct w2_stun_msg *m, int *code, const char **reason,
		      size_t *reason_len);

/* ---- integrity ---------------------------------------------------------- */

/* Checks MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 section 14.5) with key:
 * the HMAC covers the message up to the attribute, with the header length
 * adjusted to end just after it. Constant-time compare.
 * Returns 0, W2_ENOENT (no such attribute) or W2_EAUTH (mismatch). */
int w2_stun_check_integrity(const struct w2_stun_msg *m, const uint8_t *key, size_t key_len);

/* The same for MESSAGE-INTEGRITY-SHA256 (RFC 8489 section 14.6), which may
 * be truncated to 16..32 bytes in steps of 4; W2_EPROTO for another length. */
int w2_stun_check_integrity_sha256(const struct w2_stun_msg *m, const uint8_t *key,
				   size_t key_len);

/* Checks FINGERPRINT (CRC-32 of the message before it, XOR 0x5354554E).
 * Returns 0, W2_ENOENT or W2_EPROTO (mismatch). */
int w2_stun_check_fingerprint(const struct w2_stun_msg *m);

/* The long-term credential key (RFC 8489 section 9.2.2): MD5 or SHA-256 of
 * "username:realm:password" (the strings as given: no SASLprep here; the
 * caller passes what it accepts). Writes 16 or 32 bytes into key (cap 32)
 * and their number into key_len. Returns 0 or W2_EINVAL (unknown alg). */
int w2_stun_long_term_key(enum w2_stun_password_alg alg, const char *user, size_t user_len,
			  const char *realm, size_t realm_len, const char *pass, size_t pass_len,
			  uint8_t key[32], size_t *key_len);

/* ---- writing ------------------------------------------------------------ */

/* Builds one message into caller storage. Errors are sticky: once an
 * attribute does not fit, every later call does nothing and
 * w2_stun_writer_finish() returns W2_ELIMIT. */
struct w2_stun_writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
};

/* Starts a message: writes the 20-byte header (length patched as attributes
 * are added). txid is copied. */
void w2_stun_writer_init(struct w2_stun_writer *w, uint8_t *buf, size_t cap, uint16_t method,
			 enum w2_stun_class cls, const uint8_t txid[W2_STUN_TXID_LEN]);

/* Appends an attribute with `len` bytes of value, zero-padded to 4. */
void w2_stun_put(struct w2_stun_writer *w, uint16_t type, const void *value, size_t len);
void w2_stun_put_u32(struct w2_stun_writer *w, uint16_t type, uint32_t v);
/* Appends an address attribute from a sockaddr_in/sockaddr_in6, XOR-ed with
 * the cookie and transaction id when xored is true. W2_EINVAL for another
 * family (sticky). */
void w2_stun_put_addr(struct w2_stun_writer *w, uint16_t type, const struct sockaddr *sa,
		      bool xored);
/* ERROR-CODE with the standard reason phrase of `code` when reason is NULL. */
void w2_stun_put_error(struct w2_stun_writer *w, int code, const char *reason);
/* UNKNOWN-ATTRIBUTES listing n types. */
void w2_stun_put_unknown(struct w2_stun_writer *w, const uint16_t *types, size_t n);
/* MESSAGE-INTEGRITY (HMAC-SHA1) over everything written so far. */
void w2_stun_put_integrity(struct w2_stun_writer *w, const uint8_t *key, size_t key_len);
/* MESSAGE-INTEGRITY-SHA256 (full 32 bytes). */
void w2_stun_put_integrity_sha256(struct w2_stun_writer *w, const uint8_t *key, size_t key_len);
/* FINGERPRINT: must be the last attribute. */
void w2_stun_put_fingerprint(struct w2_stun_writer *w);
/* Returns 0 and the message length in *len, or the sticky error. */
int w2_stun_writer_finish(struct w2_stun_writer *w, size_t *len);

/* ---- ChannelData -------------------------------------------------------- */

/* Parses a ChannelData message of len bytes (a datagram: padding allowed
 * but not required; a stream frame: padded). Returns 0 with the channel
 * number and a borrowed pointer to the data, or W2_EPROTO (short, length
 * field larger than the buffer, channel outside 0x4000-0x7FFF). */
int w2_turn_channeldata_parse(const uint8_t *buf, size_t len, uint16_t *channel,
			      const uint8_t **data, size_t *data_len);

/* Writes the 4-byte ChannelData header for data_len bytes into hdr. */
void w2_turn_channeldata_header(uint8_t hdr[W2_TURN_CHANNELDATA_HDR], uint16_t channel,
				size_t data_len);

/* ---- names -------------------------------------------------------------- */

/* The RFC's reason phrase for an error code ("Unauthorized", ...), or
 * "Error" for one it does not name. Static storage. */
const char *w2_stun_error_reason(int code);

/* "Binding", "Allocate", ... or "Unknown". Static storage. */
const char *w2_stun_method_name(uint16_t method);

#endif
