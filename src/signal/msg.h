/* Protocol v1 envelope parser (docs/protocol.md).
 *
 * Reads one client text frame, validates that it is exactly one well-formed
 * JSON object (RFC 8259) and extracts the envelope fields the router needs as
 * spans into the caller's buffer. The "data" value of a signal is located but
 * never decoded or rewritten: the router copies its bytes through.
 *
 * jsmn tokenizes; because jsmn is not a validator (it accepts `{"a":1,}`,
 * `[1 2]`, `{"a":tru}`, `{"a":01}`, raw control characters, `{}{}`), this
 * module checks the bytes between and inside tokens itself, and the fuzz
 * target cross-checks every verdict against jansson.
 *
 * Protocol code: no I/O, no allocation per message (the token scratch is
 * allocated once per parser). Not thread-safe per parser. */
#ifndef W2_SIGNAL_MSG_H
#define W2_SIGNAL_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deeper nesting is refused. w2_json_valid counts from the top-level value
 * (`[]` is one level); w2_msg_parse does not count the envelope object
 * itself, so a "data" value may nest W2_MSG_MAX_DEPTH levels, exactly as
 * deep as w2_json_valid accepts on its own. */
#define W2_MSG_MAX_DEPTH 64
#define W2_MSG_DETAIL_MAX 160 /* bytes of an error sentence */

enum w2_msg_type {
	W2_MSG_UNKNOWN = 0, /* a string type we do not know */
	W2_MSG_HELLO,
	W2_MSG_SIGNAL,
	W2_MSG_JOIN,
	W2_MSG_LEAVE,
	W2_MSG_PING,
	W2_MSG_REFRESH,
};

/* A byte range [off, off+len) of the frame. For string fields it covers the
 * raw string contents between the quotes, escapes not decoded. For "data" it
 * covers the whole raw JSON value (with quotes if it is a string). */
struct w2_span {
	uint32_t off;
	uint32_t len;
	bool present;
};

struct w2_msg {
	enum w2_msg_type type;
	struct w2_span type_str; /* raw "type" value, also for unknown types */
	struct w2_span to, id, room, token, device, data;
	bool has_v;
	int64_t v;
};

enum w2_msg_err {
	W2_MSG_OK = 0,
	W2_MSG_ERR_BAD_JSON,    /* not one well-formed JSON value */
	W2_MSG_ERR_NOT_OBJECT,  /* valid JSON, but not an object */
	W2_MSG_ERR_BAD_FIELD,   /* a known field is missing or has the wrong type */
	W2_MSG_ERR_TOO_DEEP,    /* nesting beyond W2_MSG_MAX_DEPTH */
	W2_MSG_ERR_TOO_COMPLEX, /* more tokens than the parser was sized for */
};

struct w2_msg_parser;

/* Creates a parser for frames up to max_bytes. Returns 0 or W2_ENOMEM. */
int w2_msg_parser_create(struct w2_msg_parser **out, size_t max_bytes);
void w2_msg_parser_destroy(struct w2_msg_parser *p);

/* Parses buf[0..len). On W2_MSG_OK fills *msg (spans point into buf; buf is
 * borrowed and must outlive the use of msg). Otherwise writes a sentence into
 * detail (W2_MSG_DETAIL_MAX bytes) naming the problem, e.g.
 * "field \"to\" must be a string", and, when it could be read, the request's
 * "id" span into msg->id so the error can carry "ref".
 *
 * Field rules: "type" string, required. "v" integer. "to", "id", "room",
 * "token", "device" strings. "data" any value. Which fields a given type
 * requires is checked here too: hello needs v and token, signal needs to and
 * data, join/leave need room, refresh needs token. Unknown fields are
 * ignored (forward compatibility). A duplicate known field is an error. */
enum w2_msg_err w2_msg_parse(struct w2_msg_parser *p, const char *buf, size_t len,
			     struct w2_msg *msg, char *detail);

/* Validates that buf[0..len) is exactly one well-formed JSON text (no
 * envelope rules). Exposed for the fuzz cross-check and tests. */
bool w2_json_valid(struct w2_msg_parser *p, const char *buf, size_t len);

/* Decodes the raw contents of a JSON string (as found by the parser, escapes
 * intact) into UTF-8 in out (cap bytes, NUL-terminated). Refuses \u0000 and
 * unpaired surrogates. Returns the decoded length, or -1 if it does not fit
 * or is invalid. Also refuses what the parser would: a bad escape, a raw
 * control character or quote, invalid UTF-8; so the output is always valid
 * UTF-8. Needs cap > the decoded length (room for the NUL). */
long w2_json_unescape(const char *raw, size_t len, char *out, size_t cap);

/* Writes s[0..len) as JSON string contents (no quotes) into out (cap bytes).
 * Returns bytes written, or -1 if it does not fit. Escapes '"', '\\' and the
 * control characters (\b \f \n \r \t, else \u00XX); UTF-8 passes through.
 * The output is NUL-terminated, so cap must exceed the result (6 * len + 1
 * always suffices). Returns -1 also if s is not valid UTF-8: the result
 * would make the frame it goes into invalid. */
long w2_json_escape(const char *s, size_t len, char *out, size_t cap);

#endif
