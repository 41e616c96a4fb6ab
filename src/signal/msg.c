/* Protocol v1 envelope parser (docs/protocol.md), the daemon's hot path.
 *
 * One frame costs one jsmn pass and one linear walk over its tokens, with no
 * allocation: the token scratch is sized at create for the largest frame.
 *
 * jsmn only tokenizes. Even with JSMN_STRICT it accepts `{"a":1,}`, `[1 2]`,
 * `{"a":tru}`, `{"a":01}`, raw control characters, bad escapes and `{}{}`.
 * So the walk re-reads every byte of the frame against the RFC 8259 grammar:
 * the whitespace and the single ',' or ':' between two tokens, every string
 * (escapes, surrogate pairs, UTF-8 per RFC 3629) and every number or literal,
 * and that the one top-level value spans the whole frame. The tokens only
 * tell the walk where strings and primitives end and where containers were
 * closed; whatever jsmn made of a malformed frame, the walk accepts a frame
 * only if its bytes are JSON. tests/fuzz/fuzz_msg.c checks every verdict
 * against jansson.
 *
 * This is the one file that includes jsmn.h without JSMN_HEADER, so the
 * jsmn functions are defined here. */
#include "signal/msg.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/utf8.h"

#include <jsmn.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define NO_BAD SIZE_MAX /* "no invalid byte found" */

struct w2_msg_parser {
	jsmntok_t *tok;
	unsigned int ntok;
	size_t max_bytes;
};

/* ---- envelope fields ----------------------------------------------------- */

enum field_id { F_TYPE, F_V, F_TO, F_ID, F_ROOM, F_TOKEN, F_DEVICE, F_DATA, F_COUNT };
enum field_kind { K_STRING, K_INT, K_ANY };

#define FBIT(f) (1u << (f))
#define NO_SPAN 0xFFFF

/* Known top-level fields, matched by length then memcmp. `span` is the
 * offset of the field's w2_span in struct w2_msg. */
static const struct field_def {
	const char *name;
	uint8_t len;
	uint8_t kind;
	uint16_t span;
} k_fields[F_COUNT] = {
	[F_TYPE] = {"type", 4, K_STRING, offsetof(struct w2_msg, type_str)},
	[F_V] = {"v", 1, K_INT, NO_SPAN},
	[F_TO] = {"to", 2, K_STRING, offsetof(struct w2_msg, to)},
	[F_ID] = {"id", 2, K_STRING, offsetof(struct w2_msg, id)},
	[F_ROOM] = {"room", 4, K_STRING, offsetof(struct w2_msg, room)},
	[F_TOKEN] = {"token", 5, K_STRING, offsetof(struct w2_msg, token)},
	[F_DEVICE] = {"device", 6, K_STRING, offsetof(struct w2_msg, device)},
	[F_DATA] = {"data", 4, K_ANY, offsetof(struct w2_msg, data)},
};

/* Message types and the fields each one requires (docs/protocol.md). */
static const struct type_def {
	const char *name;
	uint8_t len;
	uint32_t required;
} k_types[] = {
	[W2_MSG_UNKNOWN] = {"", 0, 0},
	[W2_MSG_HELLO] = {"hello", 5, FBIT(F_V) | FBIT(F_TOKEN)},
	[W2_MSG_SIGNAL] = {"signal", 6, FBIT(F_TO) | FBIT(F_DATA)},
	[W2_MSG_JOIN] = {"join", 4, FBIT(F_ROOM)},
	[W2_MSG_LEAVE] = {"leave", 5, FBIT(F_ROOM)},
	[W2_MSG_PING] = {"ping", 4, 0},
	[W2_MSG_REFRESH] = {"refresh", 7, FBIT(F_TOKEN)},
};

#define TYPE_COUNT (sizeof(k_types) / sizeof(k_types[0]))

/* Key token of each known field seen at the top level (-1: absent). */
struct fields {
	int key[F_COUNT];
	uint32_t dups;  /* fields seen more than once */
	int first_dup;  /* the first of them in document order, or -1 */
};

/* ---- the validating walk ------------------------------------------------- */

enum walk_state {
	WS_VALUE,  /* a value must come next */
	WS_OPENED, /* just after '{' or '[': a member or the closer */
	WS_AFTER,  /* after a value: ',' or a closer, or the end at depth 0 */
};

struct walk {
	const unsigned char *s;
	size_t len, pos;
	const jsmntok_t *tok;
	int ntok, next;
	int depth, max_depth;
	jsmntype_t top;        /* type of the top-level value */
	struct fields *fields; /* NULL: validate only */
	enum w2_msg_err err;
	size_t err_at;
	const char *why;
	bool out_of_tokens;
	bool tokenized; /* jsmn took the whole frame */
	int open[W2_MSG_MAX_DEPTH + 1]; /* token index of each open container;
					 * last, so a reset need not clear it */
};

/* Escape letter -> decoded byte; 0 marks an invalid escape (RFC 8259 s. 7). */
static const unsigned char k_unescape[256] = {
	['"'] = '"', ['\\'] = '\\', ['/'] = '/', ['b'] = '\b',
	['f'] = '\f', ['n'] = '\n', ['r'] = '\r', ['t'] = '\t',
};

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static size_t skip_ws(const unsigned char *s, size_t i, size_t len)
{
	while (i < len && is_ws(s[i]))
		i++;
	return i;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The four hex digits at p as a number, or -1. */
static long hex4(const unsigned char *p, size_t n)
{
	long v = 0;

	if (n < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* Length of the escape at p (p[0] is '\\', n bytes left), 0 if invalid.
 * A \u escape of a UTF-16 high surrogate must be followed by one of a low
 * surrogate (RFC 8259 s. 7); lone surrogates are refused, as jansson and
 * every JSON-to-UTF-8 decoder must. */
static size_t escape_len(const unsigned char *p, size_t n)
{
	long hi, lo;

	if (n < 2)
		return 0;
	if (p[1] != 'u')
		return k_unescape[p[1]] ? 2 : 0;
	hi = hex4(p + 2, n - 2);
	if (hi < 0 || (hi >= 0xDC00 && hi <= 0xDFFF))
		return 0;
	if (hi < 0xD800 || hi > 0xDBFF)
		return 6;
	if (n < 12 || p[6] != '\\' || p[7] != 'u')
		return 0;
	lo = hex4(p + 8, n - 8);
	return lo >= 0xDC00 && lo <= 0xDFFF ? 12 : 0;
}

/* Length of the character, escape or run of non-ASCII bytes at s[i] inside a
 * string, 0 if invalid (then *why says why). A maximal run of bytes >= 0x80
 * is valid UTF-8 exactly when it is a sequence of complete characters. */
static size_t string_step(const unsigned char *s, size_t i, size_t end, const char **why)
{
	unsigned char c = s[i];
	size_t j = i;

	if (c == '\\') {
		size_t k = escape_len(s + i, end - i);

		if (k == 0)
			*why = "invalid escape in string";
		return k;
	}
	if (c < 0x20 || c == '"') {
		*why = c == '"' ? "unescaped quote in string" : "control character in string";
		return 0;
	}
	if (c < 0x80)
		return 1;
	while (j < end && s[j] >= 0x80)
		j++;
	if (w2_utf8_valid(s + i, j - i))
		return j - i;
	*why = "string is not valid UTF-8";
	return 0;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Nonzero if one of the eight bytes of x needs a closer look inside a string:
 * below 0x20, '"', '\\' or non-ASCII. The zero-byte tricks of "Bit Twiddling
 * Hacks" (haszero, hasless), exact as a yes/no answer. */
static inline uint64_t chunk_special(uint64_t x)
{
	uint64_t q = x ^ (ONES * '"');
	uint64_t b = x ^ (ONES * '\\');

	return (x | ((x - ONES * 0x20) & ~x) | ((q - ONES) & ~q) | ((b - ONES) & ~b)) & HIGHS;
}

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CHUNKS_LE 1
#else
#define CHUNKS_LE 0
#endif

/* How many leading bytes of a chunk whose chunk_special() mask is m are
 * plain. The lowest flagged byte is always a true one (a borrow only
 * propagates upwards), so on a little-endian machine this is exact. */
static inline size_t plain_prefix(uint64_t m)
{
#if CHUNKS_LE
	return (size_t)__builtin_ctzll(m) / 8;
#else
	(void)m;
	return 0;
#endif
}

/* Offset of the first invalid byte of the string contents s[i..end), or
 * NO_BAD. The buffer holds lim >= end bytes, so a chunk may be loaded past
 * end (the closing quote at least is there) with the bytes beyond end masked
 * off: on little-endian they are the high ones, and a borrow never runs
 * downwards. Eight plain bytes at a time; in a chunk with a special byte,
 * skip straight to it and check that character or escape alone. */
static size_t string_check(const unsigned char *s, size_t i, size_t end, size_t lim,
			   const char **why)
{
	while (i < end) {
		uint64_t x, m;
		size_t k;

		if (lim - i >= 8 && (CHUNKS_LE || end - i >= 8)) {
			memcpy(&x, s + i, 8);
			m = chunk_special(x);
			if (end - i < 8)
				m &= (1ULL << 8 * (end - i)) - 1;
			if (!m) {
				i = end - i < 8 ? end : i + 8;
				continue;
			}
			i += plain_prefix(m);
		}
		/* Two-byte escapes (\r\n in every SDP line) are the common case. */
		if (s[i] == '\\' && end - i >= 2 && k_unescape[s[i + 1]]) {
			i += 2;
			continue;
		}
		k = string_step(s, i, end, why);
		if (k == 0)
			return i;
		i += k;
	}
	return NO_BAD;
}

static size_t digits(const unsigned char *p, size_t i, size_t n)
{
	while (i < n && p[i] >= '0' && p[i] <= '9')
		i++;
	return i;
}

/* RFC 8259 s. 6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static bool number_ok(const unsigned char *p, size_t n)
{
	size_t i = 0, j;

	if (i < n && p[i] == '-')
		i++;
	if (i >= n || p[i] < '0' || p[i] > '9')
		return false;
	i = p[i] == '0' ? i + 1 : digits(p, i, n);
	if (i < n && p[i] == '.') {
		j = digits(p, i + 1, n);
		if (j == i + 1)
			return false;
		i = j;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		j = digits(p, i, n);
		if (j == i)
			return false;
		i = j;
	}
	return i == n;
}

static bool primitive_ok(const unsigned char *p, size_t n)
{
	static const struct {
		const char *text;
		size_t len;
	} lits[] = {{"true", 4}, {"false", 5}, {"null", 4}};

	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++)
		if (n == lits[i].len && memcmp(p, lits[i].text, n) == 0)
			return true;
	return number_ok(p, n);
}

static int walk_fail(struct walk *w, enum w2_msg_err err, size_t at, const char *why)
{
	w->err = err;
	w->err_at = at;
	w->why = why;
	return -1;
}

/* walk_fail for the functions that return the verdict itself. */
static enum w2_msg_err walk_error(struct walk *w, enum w2_msg_err err, size_t at,
				  const char *why)
{
	walk_fail(w, err, at, why);
	return err;
}

/* Takes the next token, which must be of `type` and start at `start`. */
static const jsmntok_t *walk_take(struct walk *w, jsmntype_t type, size_t start)
{
	const jsmntok_t *t;

	if (w->next >= w->ntok) {
		w->out_of_tokens = true;
		walk_fail(w, W2_MSG_ERR_BAD_JSON, w->pos, "unexpected character");
		return NULL;
	}
	t = &w->tok[w->next];
	if (t->type != type || t->start < 0 || (size_t)t->start != start) {
		walk_fail(w, W2_MSG_ERR_BAD_JSON, w->pos, "unexpected character");
		return NULL;
	}
	w->next++;
	return t;
}

/* jsmn refused the string at w->pos (it made no token for it): names the
 * first bad byte of it for the error sentence. */
static int string_refused(struct walk *w)
{
	const char *why = NULL;
	size_t j = w->pos + 1;

	while (j < w->len && w->s[j] != '"') {
		size_t k = string_step(w->s, j, w->len, &why);

		if (k == 0)
			return walk_fail(w, W2_MSG_ERR_BAD_JSON, j, why);
		j += k;
	}
	if (j >= w->len)
		return walk_fail(w, W2_MSG_ERR_BAD_JSON, j, NULL);
	return -1; /* the string is fine; keep walk_take's verdict */
}

/* At the opening quote of a string. */
static int walk_string(struct walk *w)
{
	const jsmntok_t *t = walk_take(w, JSMN_STRING, w->pos + 1);
	const char *why = NULL;
	size_t bad;

	if (!t)
		return w->out_of_tokens ? string_refused(w) : -1;
	if (t->end < t->start || (size_t)t->end >= w->len || w->s[t->end] != '"')
		return walk_fail(w, W2_MSG_ERR_BAD_JSON, w->pos, "unterminated string");
	bad = string_check(w->s, (size_t)t->start, (size_t)t->end, w->len, &why);
	if (bad != NO_BAD)
		return walk_fail(w, W2_MSG_ERR_BAD_JSON, bad, why);
	w->pos = (size_t)t->end + 1;
	return 0;
}

/* jsmn refused the primitive at w->pos: names the bad byte in it, if any. */
static int primitive_refused(struct walk *w)
{
	size_t j = w->pos;

	while (j < w->len && !is_ws(w->s[j]) && w->s[j] != ',' && w->s[j] != ']' &&
	       w->s[j] != '}') {
		if (w->s[j] < 0x20 || w->s[j] >= 0x7F)
			return walk_fail(w, W2_MSG_ERR_BAD_JSON, j, "unexpected character");
		j++;
	}
	if (!primitive_ok(w->s + w->pos, j - w->pos))
		return walk_fail(w, W2_MSG_ERR_BAD_JSON, w->pos, "invalid number or literal");
	if (j >= w->len)
		return walk_fail(w, W2_MSG_ERR_BAD_JSON, j, NULL);
	return -1; /* the primitive is fine; keep walk_take's verdict */
}

static int walk_primitive(struct walk *w)
{
	const jsmntok_t *t = walk_take(w, JSMN_PRIMITIVE, w->pos);

	if (!t)
		return w->out_of_tokens ? primitive_refused(w) : -1;
	if (t->end <= t->start || (size_t)t->end > w->len ||
	    !primitive_ok(w->s + t->start, (size_t)(t->end - t->start)))
		return walk_fail(w, W2_MSG_ERR_BAD_JSON, w->pos, "invalid number or literal");
	w->pos = (size_t)t->end;
	return 0;
}

static int walk_open(struct walk *w, jsmntype_t type)
{
	if (!walk_take(w, type, w->pos))
		return -1;
	if (w->depth == w->max_depth)
		return walk_fail(w, W2_MSG_ERR_TOO_DEEP, w->pos, NULL);
	w->open[w->depth++] = w->next - 1;
	w->pos++;
	return 0;
}

/* At the first byte of a value. */
static int walk_value(struct walk *w, enum walk_state *st)
{
	unsigned char c = w->s[w->pos];

	*st = WS_AFTER;
	switch (c) {
	case '{':
		*st = WS_OPENED;
		return walk_open(w, JSMN_OBJECT);
	case '[':
		*st = WS_OPENED;
		return walk_open(w, JSMN_ARRAY);
	case '"':
		return walk_string(w);
	case '}':
	case ']':
	case ',':
	case ':':
		return walk_fail(w, W2_MSG_ERR_BAD_JSON, w->pos, "a value is missing");
	default:
		return walk_primitive(w);
	}
}

static int field_match(const unsigned char *name, size_t len)
{
	for (int f = 0; f < F_COUNT; f++)
		if (k_fields[f].len == len && k_fields[f].name[0] == name[0] &&
		    memcmp(k_fields[f].name, name, len) == 0)
			return f;
	return -1;
}

/* Records a top-level key if it names a known field. Keys are compared
 * decoded, so "\u0074o" is "to"; the escaped slow path is rare. */
static void note_field(struct fields *fs, const unsigned char *s, const jsmntok_t *key, int index)
{
	const unsigned char *name = s + key->start;
	size_t len = (size_t)(key->end - key->start);
	char buf[16];
	int f;

	if (memchr(name, '\\', len)) {
		long n = len <= 6 * sizeof(buf) ? w2_json_unescape((const char *)name, len, buf,
								    sizeof(buf)) : -1;

		if (n < 0)
			return;
		name = (const unsigned char *)buf;
		len = (size_t)n;
	}
	f = field_match(name, len);
	if (f < 0)
		return;
	if (fs->key[f] < 0) {
		fs->key[f] = index;
		return;
	}
	if (fs->first_dup < 0)
		fs->first_dup = f;
	fs->dups |= FBIT(f);
}

/* At the opening quote of an object key: the key, then ':'. */
static int walk_key(struct walk *w)
{
	int index = w->next;

	if (w->s[w->pos] != '"')
		return walk_fail(w, W2_MSG_ERR_BAD_JSON, w->pos, "expected a string key");
	if (walk_string(w) != 0)
		return -1;
	if (w->fields && w->depth == 1)
		note_field(w->fields, w->s, &w->tok[index], index);
	w->pos = skip_ws(w->s, w->pos, w->len);
	if (w->pos >= w->len || w->s[w->pos] != ':')
		return walk_fail(w, W2_MSG_ERR_BAD_JSON, w->pos, "expected ':' after the key");
	w->pos++;
	return 0;
}

/* After '{', '[' or ',': an array element, or an object member's key. */
static int walk_member(struct walk *w, enum walk_state *st)
{
	*st = WS_VALUE;
	if (w->tok[w->open[w->depth - 1]].type != JSMN_OBJECT)
		return 0;
	w->pos = skip_ws(w->s, w->pos, w->len);
	if (w->pos >= w->len)
		return walk_fail(w, W2_MSG_ERR_BAD_JSON, w->pos, NULL);
	return walk_key(w);
}

/* At what must be the closer of the innermost open container; it must also
 * be where jsmn closed that container. */
static int walk_close(struct walk *w, enum walk_state *st)
{
	const jsmntok_t *t = &w->tok[w->open[w->depth - 1]];
	unsigned char want = t->type == JSMN_OBJECT ? '}' : ']';

	if (w->s[w->pos] != want)
		return walk_fail(w, W2_MSG_ERR_BAD_JSON, w->pos,
				 want == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
	if (t->end < 0 || (size_t)t->end != w->pos + 1)
		return walk_fail(w, W2_MSG_ERR_BAD_JSON, w->pos, "unexpected character");
	w->depth--;
	w->pos++;
	*st = WS_AFTER;
	return 0;
}

static int walk_step(struct walk *w, enum walk_state *st)
{
	unsigned char c = w->s[w->pos];

	switch (*st) {
	case WS_VALUE:
		return walk_value(w, st);
	case WS_OPENED:
		if (c == '}' || c == ']')
			return walk_close(w, st);
		return walk_member(w, st);
	case WS_AFTER:
	default:
		if (c != ',')
			return walk_close(w, st);
		w->pos++;
		return walk_member(w, st);
	}
}

/* The walk proper: one linear pass over bytes and tokens together, from
 * state st at w->pos. */
static enum w2_msg_err walk_from(struct walk *w, enum walk_state st)
{
	for (;;) {
		w->pos = skip_ws(w->s, w->pos, w->len);
		if (st == WS_AFTER && w->depth == 0)
			break;
		if (w->pos >= w->len)
			return walk_error(w, W2_MSG_ERR_BAD_JSON, w->pos, NULL);
		if (walk_step(w, &st) != 0)
			return w->err;
	}
	if (w->pos != w->len)
		return walk_error(w, W2_MSG_ERR_BAD_JSON, w->pos, "text after the JSON value");
	if (w->next != w->ntok)
		return walk_error(w, W2_MSG_ERR_BAD_JSON, w->pos, "unexpected character");
	return W2_MSG_OK;
}

static enum w2_msg_err walk_run(struct walk *w)
{
	w->pos = skip_ws(w->s, 0, w->len);
	if (w->pos < w->len && w->ntok > 0)
		w->top = w->tok[0].type;
	return walk_from(w, WS_VALUE);
}

/* After TOO_DEEP inside the envelope: skips the envelope member whose value
 * nests too deep, by its token's end, and walks the rest of the envelope so
 * that its fields (the "id" for "ref") are read. Needs jsmn's tokens for the
 * whole frame. Returns W2_MSG_OK if the rest is well formed; the skipped
 * bytes are not validated, so the frame stays refused. */
static enum w2_msg_err walk_past_deep(struct walk *w)
{
	int member, end, next;

	if (!w->tokenized || !w->fields || w->top != JSMN_OBJECT || w->depth < 2)
		return W2_MSG_ERR_TOO_DEEP;
	member = w->open[1]; /* the envelope member's value, at level 1 */
	end = w->tok[member].end;
	next = member + 1;
	if (end <= 0)
		return W2_MSG_ERR_TOO_DEEP;
	while (next < w->ntok && w->tok[next].start < end)
		next++;
	w->next = next;
	w->pos = (size_t)end;
	w->depth = 1;
	return walk_from(w, WS_AFTER);
}

/* A top-level number or literal. jsmn cannot take these in strict mode (it
 * wants a delimiter after a primitive), so they are checked here alone. */
static enum w2_msg_err top_primitive(struct walk *w, size_t first)
{
	size_t end = first;

	while (end < w->len && !is_ws(w->s[end]))
		end++;
	w->top = JSMN_PRIMITIVE;
	if (!primitive_ok(w->s + first, end - first))
		return walk_error(w, W2_MSG_ERR_BAD_JSON, first, "invalid number or literal");
	w->pos = skip_ws(w->s, end, w->len);
	if (w->pos != w->len)
		return walk_error(w, W2_MSG_ERR_BAD_JSON, w->pos, "text after the JSON value");
	return W2_MSG_OK;
}

/* Tokenizes buf with jsmn and walks the result. When jsmn gives up, the walk
 * still runs over the tokens it made, to name the first bad byte. */
static enum w2_msg_err validate(struct w2_msg_parser *p, const char *buf, size_t len,
				struct walk *w, struct fields *fields)
{
	jsmn_parser jp;
	enum w2_msg_err err;
	size_t first;
	int r;

	memset(w, 0, offsetof(struct walk, open));
	w->s = (const unsigned char *)buf;
	w->len = len;
	w->tok = p->tok;
	w->top = JSMN_UNDEFINED;
	w->fields = fields;
	if (len > (size_t)INT_MAX) /* jsmn offsets are int */
		return walk_error(w, W2_MSG_ERR_TOO_COMPLEX, 0, NULL);
	first = skip_ws(w->s, 0, len);
	if (first < len && buf[first] != '{' && buf[first] != '[' && buf[first] != '"')
		return top_primitive(w, first);
	/* The envelope object does not count against its values: "data" may
	 * nest as deep as any value w2_json_valid accepts (msg.h). */
	w->max_depth = W2_MSG_MAX_DEPTH + (fields && first < len && buf[first] == '{');
	jsmn_init(&jp);
	r = len ? jsmn_parse(&jp, buf, len, p->tok, p->ntok) : 0;
	w->ntok = (int)jp.toknext;
	w->tokenized = r >= 0;
	err = walk_run(w);
	if (r >= 0)
		return err;
	if (r == JSMN_ERROR_NOMEM && (err == W2_MSG_OK || w->out_of_tokens))
		err = W2_MSG_ERR_TOO_COMPLEX;
	else if (err == W2_MSG_OK) /* cannot happen: jsmn takes all valid JSON */
		err = W2_MSG_ERR_BAD_JSON;
	else
		return err;
	return walk_error(w, err, jp.pos, NULL);
}

/* ---- envelope ------------------------------------------------------------ */

static struct w2_span span_of(int off, int end)
{
	struct w2_span sp = {(uint32_t)off, (uint32_t)(end - off), true};

	return sp;
}

/* Reads a JSON number token that must be an integer into *v. Returns 0,
 * -1 if it has a fraction or exponent, -2 if it does not fit in int64_t. */
static int read_int(const unsigned char *p, size_t n, int64_t *v)
{
	bool neg = n > 0 && p[0] == '-';
	uint64_t max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	uint64_t acc = 0;

	if (n == (size_t)neg || p[neg] < '0' || p[neg] > '9')
		return -1;
	for (size_t i = neg; i < n; i++) {
		unsigned d = (unsigned)(p[i] - '0');

		if (d > 9)
			return -1;
		if (acc > (max - d) / 10)
			return -2;
		acc = acc * 10 + d;
	}
	*v = neg && acc > 0 ? -(int64_t)(acc - 1) - 1 : (int64_t)acc; /* no overflow at INT64_MIN */
	return 0;
}

static enum w2_msg_err field_error(char *detail, const char *fmt, const char *name)
{
	if (detail)
		snprintf(detail, W2_MSG_DETAIL_MAX, fmt, name);
	return W2_MSG_ERR_BAD_FIELD;
}

/* Checks the value of known field f (value token t) and stores it. */
static enum w2_msg_err take_field(const struct walk *w, int f, const jsmntok_t *t,
				  struct w2_msg *msg, char *detail)
{
	const char *name = k_fields[f].name;
	int rc;

	switch (k_fields[f].kind) {
	case K_STRING:
		if (t->type != JSMN_STRING)
			return field_error(detail, "field \"%s\" must be a string", name);
		*(struct w2_span *)((char *)msg + k_fields[f].span) = span_of(t->start, t->end);
		return W2_MSG_OK;
	case K_INT:
		rc = t->type != JSMN_PRIMITIVE ? -1
		     : read_int(w->s + t->start, (size_t)(t->end - t->start), &msg->v);
		if (rc == -2)
			return field_error(detail, "field \"%s\" is too large", name);
		if (rc != 0)
			return field_error(detail, "field \"%s\" must be an integer", name);
		msg->has_v = true;
		return W2_MSG_OK;
	case K_ANY:
	default: /* the raw value; a string with its quotes */
		*(struct w2_span *)((char *)msg + k_fields[f].span) =
			t->type == JSMN_STRING ? span_of(t->start - 1, t->end + 1)
					       : span_of(t->start, t->end);
		return W2_MSG_OK;
	}
}

static enum w2_msg_type type_match(const unsigned char *s, struct w2_span sp)
{
	const unsigned char *name = s + sp.off;
	size_t len = sp.len;
	char buf[16];

	if (memchr(name, '\\', len)) {
		long n = len <= 6 * sizeof(buf) ? w2_json_unescape((const char *)name, len, buf,
								    sizeof(buf)) : -1;

		if (n < 0)
			return W2_MSG_UNKNOWN;
		name = (const unsigned char *)buf;
		len = (size_t)n;
	}
	for (size_t t = 1; t < TYPE_COUNT; t++)
		if (k_types[t].len == len && k_types[t].name[0] == name[0] &&
		    memcmp(k_types[t].name, name, len) == 0)
			return (enum w2_msg_type)t;
	return W2_MSG_UNKNOWN;
}

/* Checks and extracts the known fields; unknown ones were never recorded. */
static enum w2_msg_err envelope(const struct walk *w, const struct fields *fs,
				struct w2_msg *msg, char *detail)
{
	uint32_t required;

	if (fs->first_dup >= 0)
		return field_error(detail, "field \"%s\" appears more than once",
				   k_fields[fs->first_dup].name);
	for (int f = 0; f < F_COUNT; f++) {
		enum w2_msg_err err;

		if (fs->key[f] < 0)
			continue;
		err = take_field(w, f, &w->tok[fs->key[f] + 1], msg, detail);
		if (err != W2_MSG_OK)
			return err;
	}
	if (!msg->type_str.present)
		return field_error(detail, "missing field \"%s\"", k_fields[F_TYPE].name);
	msg->type = type_match(w->s, msg->type_str);
	required = k_types[msg->type].required;
	for (int f = 0; f < F_COUNT; f++)
		if ((required & FBIT(f)) && fs->key[f] < 0)
			return field_error(detail, "missing field \"%s\"", k_fields[f].name);
	return W2_MSG_OK;
}

/* On a field error the message is cleared except for "id", so that the error
 * can carry "ref": only a single, string-valued id qualifies. */
static void keep_only_id(const struct walk *w, const struct fields *fs, struct w2_msg *msg)
{
	const jsmntok_t *t;

	memset(msg, 0, sizeof(*msg));
	if (fs->key[F_ID] < 0 || (fs->dups & FBIT(F_ID)))
		return;
	t = &w->tok[fs->key[F_ID] + 1];
	if (t->type == JSMN_STRING)
		msg->id = span_of(t->start, t->end);
}

static void json_detail(const struct w2_msg_parser *p, const struct walk *w, char *detail)
{
	if (!detail)
		return;
	if (w->err == W2_MSG_ERR_TOO_DEEP)
		snprintf(detail, W2_MSG_DETAIL_MAX,
			 "JSON nests deeper than %d levels at byte %zu", W2_MSG_MAX_DEPTH, w->err_at);
	else if (w->err == W2_MSG_ERR_TOO_COMPLEX)
		snprintf(detail, W2_MSG_DETAIL_MAX,
			 "message has more JSON values than the %zu-byte limit allows",
			 p->max_bytes);
	else if (w->err_at >= w->len)
		snprintf(detail, W2_MSG_DETAIL_MAX,
			 "not valid JSON: the text ends at byte %zu before the value is complete",
			 w->len);
	else if (w->why)
		snprintf(detail, W2_MSG_DETAIL_MAX, "not valid JSON at byte %zu: %s", w->err_at,
			 w->why);
	else
		snprintf(detail, W2_MSG_DETAIL_MAX, "not valid JSON at byte %zu", w->err_at);
}

/* ---- public -------------------------------------------------------------- */

int w2_msg_parser_create(struct w2_msg_parser **out, size_t max_bytes)
{
	struct w2_msg_parser *p = w2_calloc(1, sizeof(*p));
	/* Valid JSON needs at most one token per two bytes ([1,1,...] is the
	 * worst case); an invalid prefix can open up to W2_MSG_MAX_DEPTH more
	 * containers before the walk stops it. So jsmn never runs out of tokens
	 * on a frame of at most max_bytes. */
	size_t n = max_bytes / 2 + W2_MSG_MAX_DEPTH + 2;

	*out = NULL;
	if (!p)
		return W2_ENOMEM;
	if (n > UINT_MAX)
		n = UINT_MAX;
	p->tok = w2_calloc(n, sizeof(*p->tok));
	if (!p->tok) {
		w2_msg_parser_destroy(p);
		return W2_ENOMEM;
	}
	p->ntok = (unsigned int)n;
	p->max_bytes = max_bytes;
	*out = p;
	return 0;
}

void w2_msg_parser_destroy(struct w2_msg_parser *p)
{
	if (!p)
		return;
	w2_free(p->tok);
	w2_free(p);
}

enum w2_msg_err w2_msg_parse(struct w2_msg_parser *p, const char *buf, size_t len,
			     struct w2_msg *msg, char *detail)
{
	struct fields fs = {.dups = 0, .first_dup = -1};
	struct walk w;
	enum w2_msg_err err;

	memset(msg, 0, sizeof(*msg));
	if (detail)
		detail[0] = '\0';
	for (int f = 0; f < F_COUNT; f++)
		fs.key[f] = -1;
	err = validate(p, buf, len, &w, &fs);
	if (err != W2_MSG_OK) {
		json_detail(p, &w, detail);
		if (err == W2_MSG_ERR_TOO_DEEP && walk_past_deep(&w) == W2_MSG_OK)
			keep_only_id(&w, &fs, msg); /* so the error can carry "ref" */
		return err;
	}
	if (w.top != JSMN_OBJECT) {
		if (detail)
			snprintf(detail, W2_MSG_DETAIL_MAX, "message must be a JSON object");
		return W2_MSG_ERR_NOT_OBJECT;
	}
	err = envelope(&w, &fs, msg, detail);
	if (err != W2_MSG_OK)
		keep_only_id(&w, &fs, msg);
	return err;
}

bool w2_json_valid(struct w2_msg_parser *p, const char *buf, size_t len)
{
	struct walk w;

	return validate(p, buf, len, &w, NULL) == W2_MSG_OK;
}

/* ---- string escapes ------------------------------------------------------ */

/* Decodes the valid escape at p (escape_len(p, n) bytes) to a code point. */
static long escape_decode(const unsigned char *p, size_t k)
{
	long hi;

	if (k == 2)
		return k_unescape[p[1]];
	hi = hex4(p + 2, 4);
	if (k == 6)
		return hi;
	return 0x10000 + ((hi - 0xD800) << 10) + (hex4(p + 8, 4) - 0xDC00);
}

static size_t utf8_put(long cp, unsigned char *o)
{
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Bytes from s[i] that are copied as they are (no escape, valid). */
static size_t plain_run(const unsigned char *s, size_t i, size_t len)
{
	const char *why;
	size_t j = i;

	while (j < len && s[j] != '\\') {
		size_t k = string_step(s, j, len, &why);

		if (k == 0)
			break;
		j += k;
	}
	return j - i;
}

long w2_json_unescape(const char *raw, size_t len, char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)raw;
	unsigned char *o = (unsigned char *)out;
	size_t i = 0, n = 0;

	while (i < len) {
		size_t run = plain_run(s, i, len), k;
		unsigned char cp8[4];
		long cp;

		if (run > 0) {
			if (n >= cap || run >= cap - n)
				return -1;
			memcpy(o + n, s + i, run);
			n += run;
			i += run;
			continue;
		}
		k = s[i] == '\\' ? escape_len(s + i, len - i) : 0;
		cp = k ? escape_decode(s + i, k) : 0;
		if (cp == 0) /* invalid, or \u0000 which a C string cannot hold */
			return -1;
		run = utf8_put(cp, cp8);
		if (n >= cap || run >= cap - n)
			return -1;
		memcpy(o + n, cp8, run);
		n += run;
		i += k;
	}
	if (n >= cap)
		return -1;
	o[n] = '\0';
	return (long)n;
}

/* The escape for byte c, which must be escaped (RFC 8259 s. 7): the short
 * forms where JSON has one, \u00XX for the other control characters. */
static size_t escape_byte(unsigned char c, char *e)
{
	static const char hex[] = "0123456789abcdef";
	static const char shortform[0x60] = {
		['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r',
		['\t'] = 't', ['"'] = '"', ['\\'] = '\\',
	};

	e[0] = '\\';
	if (shortform[c]) {
		e[1] = shortform[c];
		return 2;
	}
	e[1] = 'u';
	e[2] = '0';
	e[3] = '0';
	e[4] = hex[c >> 4];
	e[5] = hex[c & 0xF];
	return 6;
}

long w2_json_escape(const char *s, size_t len, char *out, size_t cap)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = 0;

	if (!w2_utf8_valid(u, len))
		return -1;
	for (size_t i = 0; i < len; i++) {
		char e[6];
		size_t k;

		if (u[i] >= 0x20 && u[i] != '"' && u[i] != '\\') {
			if (n + 1 >= cap)
				return -1;
			out[n++] = (char)u[i];
			continue;
		}
		k = escape_byte(u[i], e);
		if (n + k >= cap)
			return -1;
		memcpy(out + n, e, k);
		n += k;
	}
	if (n >= cap)
		return -1;
	out[n] = '\0';
	return (long)n;
}
