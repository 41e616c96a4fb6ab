/* Fuzz target for src/signal/msg.c, differential against jansson 2.14.
 *
 * For every input:
 *   1. w2_json_valid must give jansson's verdict (json_loadb with
 *      JSON_DECODE_ANY | JSON_ALLOW_NUL), except where jansson is known to
 *      differ from RFC 8259 (see jansson_differs below);
 *   2. w2_msg_parse must agree with w2_json_valid, keep every span inside
 *      the input, and on W2_MSG_OK every field must equal what jansson
 *      decoded: strings through w2_json_unescape, "data" by json_equal on
 *      its raw bytes, "v" as an integer;
 *   3. a parser sized for 256-byte frames agrees with the big one, or
 *      reports "too complex" on a longer input;
 *   4. the input as a string: w2_json_escape then w2_json_unescape gives it
 *      back when it is valid UTF-8 without NUL, and as raw string contents
 *      w2_json_unescape decodes it exactly when jansson does.
 * Any disagreement abort()s. */
#include "core/utf8.h"
#include "signal/msg.h"

#include <jansson.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_BYTES 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct w2_msg_parser *fuzz_parser(void)
{
	static struct w2_msg_parser *p;

	if (!p && w2_msg_parser_create(&p, FUZZ_MAX_BYTES) != 0)
		abort();
	return p;
}

/* A parser for small frames: jsmn runs out of its tokens on longer inputs,
 * which exercises that path (see check_small_parser). */
#define SMALL_MAX_BYTES 256

static struct w2_msg_parser *small_parser(void)
{
	static struct w2_msg_parser *p;

	if (!p && w2_msg_parser_create(&p, SMALL_MAX_BYTES) != 0)
		abort();
	return p;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();
	return p;
}

/* Deepest nesting of [ and { outside strings, counted independently of the
 * parser under test. */
static size_t nesting_depth(const uint8_t *d, size_t n)
{
	size_t depth = 0, max = 0;
	bool in_string = false;

	for (size_t i = 0; i < n; i++) {
		if (in_string) {
			if (d[i] == '\\')
				i++;
			else if (d[i] == '"')
				in_string = false;
		} else if (d[i] == '"') {
			in_string = true;
		} else if (d[i] == '[' || d[i] == '{') {
			if (++depth > max)
				max = depth;
		} else if ((d[i] == ']' || d[i] == '}') && depth > 0) {
			depth--;
		}
	}
	return max;
}

/* True where jansson's verdict is not RFC 8259's, so no comparison is made:
 * - it refuses integers that overflow json_int_t and reals that overflow a
 *   double ("too big integer", "real number overflow"): valid JSON, refused
 *   for representation, and it stops reading there;
 *   ("\u0000 is not allowed" cannot occur: JSON_ALLOW_NUL is passed);
 * - it refuses \u0000 in object keys even with JSON_ALLOW_NUL ("NUL byte
 *   in object key not supported");
 * - running out of memory (the fuzzer's malloc limit) is no verdict;
 * - nesting beyond W2_MSG_MAX_DEPTH: we refuse it, jansson allows 2048;
 * - a raw NUL byte: never valid JSON, but jansson 2.14's stream_unget
 *   cannot push back a NUL (its one-character buffer uses NUL as the end
 *   marker), so a NUL right after a number or literal is silently skipped
 *   and "1\0" or "[true\0]" load. Only "jansson accepts" is skipped here. */
static bool jansson_differs(const uint8_t *d, size_t n, bool loaded, const json_error_t *e)
{
	if (!loaded) {
		enum json_error_code c = json_error_code(e);

		if (c == json_error_numeric_overflow || c == json_error_null_byte_in_key ||
		    c == json_error_out_of_memory)
			return true;
		if (strstr(e->text, "too big") || strstr(e->text, "overflow") ||
		    strstr(e->text, "NUL byte in object key"))
			return true;
	}
	if (nesting_depth(d, n) > W2_MSG_MAX_DEPTH)
		return true;
	return loaded && memchr(d, 0, n) != NULL;
}

static void check_span(struct w2_span sp, size_t size)
{
	if (sp.present && ((size_t)sp.off > size || (size_t)sp.len > size - sp.off))
		abort();
}

/* A string field as w2_json_unescape decodes it equals jansson's value. */
static void check_string_field(const uint8_t *d, struct w2_span sp, json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	char *out;
	long n;

	if (!sp.present) {
		if (v)
			abort();
		return;
	}
	if (!json_is_string(v))
		abort();
	out = xmalloc((size_t)sp.len + 1);
	n = w2_json_unescape((const char *)d + sp.off, sp.len, out, (size_t)sp.len + 1);
	if (memchr(json_string_value(v), 0, json_string_length(v))) {
		if (n >= 0) /* \u0000 inside: unescape must refuse */
			abort();
	} else if (n < 0 || (size_t)n != json_string_length(v) ||
		   memcmp(out, json_string_value(v), (size_t)n) != 0) {
		abort();
	}
	free(out);
}

/* On W2_MSG_OK, every extracted field equals jansson's reading. */
static void check_fields(const uint8_t *d, const struct w2_msg *m, json_t *obj)
{
	json_t *data = json_object_get(obj, "data"), *raw, *v = json_object_get(obj, "v");
	json_error_t e;

	check_string_field(d, m->type_str, obj, "type");
	check_string_field(d, m->to, obj, "to");
	check_string_field(d, m->id, obj, "id");
	check_string_field(d, m->room, obj, "room");
	check_string_field(d, m->token, obj, "token");
	check_string_field(d, m->device, obj, "device");
	if (m->has_v != (v != NULL) || (v && (!json_is_integer(v) || json_integer_value(v) != m->v)))
		abort();
	if (m->data.present != (data != NULL))
		abort();
	if (!data)
		return;
	raw = json_loadb((const char *)d + m->data.off, m->data.len,
			 JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	if (!raw || !json_equal(raw, data))
		abort();
	json_decref(raw);
}

/* First non-whitespace byte, or -1. */
static int first_byte(const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (d[i] != ' ' && d[i] != '\t' && d[i] != '\n' && d[i] != '\r')
			return d[i];
	return -1;
}

/* w2_msg_parse agrees with w2_json_valid and with jansson's tree (NULL when
 * jansson refused the input). */
static void check_parse(const uint8_t *d, size_t n, bool valid, json_t *tree)
{
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];
	enum w2_msg_err err = w2_msg_parse(fuzz_parser(), (const char *)d, n, &m, detail);
	bool judged_valid = err == W2_MSG_OK || err == W2_MSG_ERR_NOT_OBJECT ||
			    err == W2_MSG_ERR_BAD_FIELD;
	const struct w2_span *spans[] = {&m.type_str, &m.to, &m.id, &m.room,
					 &m.token, &m.device, &m.data};

	for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++)
		check_span(*spans[i], n);
	if (err != W2_MSG_OK && (detail[0] == '\0' || !memchr(detail, '\0', sizeof(detail))))
		abort();
	if (err == W2_MSG_ERR_TOO_COMPLEX && n <= FUZZ_MAX_BYTES)
		abort(); /* the token scratch is sized so this cannot happen */
	if (err == W2_MSG_ERR_TOO_DEEP && nesting_depth(d, n) <= W2_MSG_MAX_DEPTH)
		abort();
	/* An id read past a too-deep value is the one jansson reads. */
	if (err == W2_MSG_ERR_TOO_DEEP && m.id.present && json_is_object(tree))
		check_string_field(d, m.id, tree, "id");
	/* The envelope object does not count against the depth limit, so an
	 * object one level deeper than w2_json_valid allows is still a message. */
	if (valid != judged_valid &&
	    (valid || err == W2_MSG_ERR_NOT_OBJECT || first_byte(d, n) != '{' ||
	     nesting_depth(d, n) != W2_MSG_MAX_DEPTH + 1))
		abort();
	if (!judged_valid || !tree)
		return;
	if ((err == W2_MSG_ERR_NOT_OBJECT) == json_is_object(tree))
		abort();
	if (err == W2_MSG_OK)
		check_fields(d, &m, tree);
}

/* A parser sized for SMALL_MAX_BYTES gives the same verdict and sentence as
 * the big one; only on a longer input may it say "too complex" instead. This
 * tests the token bound of w2_msg_parser_create. */
static void check_small_parser(const uint8_t *d, size_t n)
{
	struct w2_msg m;
	char big[W2_MSG_DETAIL_MAX], small[W2_MSG_DETAIL_MAX];
	enum w2_msg_err eb = w2_msg_parse(fuzz_parser(), (const char *)d, n, &m, big);
	enum w2_msg_err es = w2_msg_parse(small_parser(), (const char *)d, n, &m, small);

	if (es == W2_MSG_ERR_TOO_COMPLEX && n > SMALL_MAX_BYTES)
		return;
	if (es != eb || strcmp(small, big) != 0)
		abort();
}

/* The input as string contents: escape/unescape round trip, and unescape
 * against jansson reading it between quotes. */
static void check_escapes(const uint8_t *d, size_t n)
{
	size_t cap = n * 6 + 1;
	char *esc = xmalloc(cap), *back = xmalloc(n + 1), *quoted = xmalloc(n + 2);
	long e = w2_json_escape((const char *)d, n, esc, cap);
	long u = w2_json_unescape((const char *)d, n, back, n + 1);
	json_t *s;

	if ((e >= 0) != w2_utf8_valid(d, n))
		abort();
	if (e >= 0 && !memchr(d, 0, n)) {
		char *trip = xmalloc(n + 1);
		long b = w2_json_unescape(esc, (size_t)e, trip, n + 1);

		if (b != (long)n || memcmp(trip, d, n) != 0)
			abort();
		free(trip);
	}
	quoted[0] = '"';
	memcpy(quoted + 1, d, n);
	quoted[n + 1] = '"';
	s = json_loadb(quoted, n + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!s != !w2_json_valid(fuzz_parser(), quoted, n + 2))
		abort();
	if (s) {
		const char *v = json_string_value(s);
		size_t vlen = json_string_length(s);

		if (memchr(v, 0, vlen) ? u >= 0 : (u < 0 || (size_t)u != vlen || memcmp(back, v, vlen)))
			abort(); /* unescape refuses \u0000 only */
	} else if (u >= 0) {
		abort();
	}
	json_decref(s);
	free(esc);
	free(back);
	free(quoted);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t e;
	json_t *tree = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	bool valid = w2_json_valid(fuzz_parser(), (const char *)data, size);

	if (valid != (tree != NULL) && !jansson_differs(data, size, tree != NULL, &e))
		abort();
	if (valid && memchr(data, 0, size))
		abort(); /* a raw NUL is never JSON */
	check_parse(data, size, valid, tree);
	check_small_parser(data, size);
	if (size <= 4096)
		check_escapes(data, size);
	json_decref(tree);
	return 0;
}
