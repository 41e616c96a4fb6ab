/* Unit tests of src/signal/msg.c: the protocol v1 envelope parser, its JSON
 * validation where jsmn alone is too lenient, and the string escapes. */
#include "core/alloc.h"
#include "core/error.h"
#include "signal/msg.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define MAX_BYTES 65536

/* ---- helpers ---- */

static int group_setup(void **state)
{
	struct w2_msg_parser *p;

	if (w2_msg_parser_create(&p, MAX_BYTES) != 0)
		return -1;
	*state = p;
	return 0;
}

static int group_teardown(void **state)
{
	w2_msg_parser_destroy(*state);
	return 0;
}

static enum w2_msg_err parse_n(void **state, const char *s, size_t n, struct w2_msg *m,
			       char *detail)
{
	return w2_msg_parse(*state, s, n, m, detail);
}

static enum w2_msg_err parse(void **state, const char *s, struct w2_msg *m, char *detail)
{
	return parse_n(state, s, strlen(s), m, detail);
}

static bool valid(void **state, const char *s)
{
	return w2_json_valid(*state, s, strlen(s));
}

/* The bytes of span sp in buf equal expect. */
static void assert_span(const char *buf, struct w2_span sp, const char *expect)
{
	assert_true(sp.present);
	assert_int_equal(sp.len, strlen(expect));
	assert_memory_equal(buf + sp.off, expect, sp.len);
}

/* s parses to BAD_FIELD with exactly this detail sentence. */
static void assert_bad_field(void **state, const char *s, const char *detail_expect)
{
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_BAD_FIELD);
	assert_string_equal(detail, detail_expect);
}

static void assert_bad_json(void **state, const char *s, size_t n)
{
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	assert_int_equal(parse_n(state, s, n, &m, detail), W2_MSG_ERR_BAD_JSON);
	assert_non_null(strstr(detail, "not valid JSON"));
	assert_false(m.id.present);
	assert_false(w2_json_valid(*state, s, n));
}

/* ---- message types ---- */

static void test_hello(void **state)
{
	const char *s = "{\"type\":\"hello\",\"v\":1,\"token\":\"eyJ.a.b\",\"device\":\"laptop\"}";
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	assert_int_equal(parse(state, s, &m, detail), W2_MSG_OK);
	assert_int_equal(m.type, W2_MSG_HELLO);
	assert_span(s, m.type_str, "hello");
	assert_true(m.has_v);
	assert_int_equal(m.v, 1);
	assert_span(s, m.token, "eyJ.a.b");
	assert_span(s, m.device, "laptop");
	assert_false(m.to.present);
	assert_false(m.data.present);
	assert_false(m.id.present);
}

static void test_signal(void **state)
{
	const char *s = "{\"type\":\"signal\",\"to\":\"bob@example.org\",\"id\":\"42\","
			"\"data\":{\"sdp\":\"v=0\\r\\n\",\"type\":\"offer\"}}";
	const char *s2 = "{\"type\":\"signal\",\"to\":\"bob@example.org/phone\","
			 "\"data\":\"any JSON value, even a string\"}";
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	assert_int_equal(parse(state, s, &m, detail), W2_MSG_OK);
	assert_int_equal(m.type, W2_MSG_SIGNAL);
	assert_span(s, m.to, "bob@example.org");
	assert_span(s, m.id, "42");
	assert_span(s, m.data, "{\"sdp\":\"v=0\\r\\n\",\"type\":\"offer\"}");
	assert_int_equal(parse(state, s2, &m, detail), W2_MSG_OK);
	assert_span(s2, m.to, "bob@example.org/phone");
	assert_span(s2, m.data, "\"any JSON value, even a string\"");
}

static void test_join_leave_ping_refresh(void **state)
{
	const char *join = "{\"type\":\"join\",\"room\":\"R\",\"id\":\"7\"}";
	const char *leave = "{\"type\":\"leave\",\"room\":\"R\"}";
	const char *refresh = "{\"type\":\"refresh\",\"token\":\"eyJ...\"}";
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	assert_int_equal(parse(state, join, &m, detail), W2_MSG_OK);
	assert_int_equal(m.type, W2_MSG_JOIN);
	assert_span(join, m.room, "R");
	assert_span(join, m.id, "7");
	assert_int_equal(parse(state, leave, &m, detail), W2_MSG_OK);
	assert_int_equal(m.type, W2_MSG_LEAVE);
	assert_span(leave, m.room, "R");
	assert_int_equal(parse(state, "{\"type\":\"ping\"}", &m, detail), W2_MSG_OK);
	assert_int_equal(m.type, W2_MSG_PING);
	assert_int_equal(parse(state, refresh, &m, detail), W2_MSG_OK);
	assert_int_equal(m.type, W2_MSG_REFRESH);
	assert_span(refresh, m.token, "eyJ...");
}

static void test_unknown_type(void **state)
{
	const char *s = "{\"moves\":[1,2],\"type\":\"dance\"}";
	const char *esc = "{\"type\":\"d\\u00e9j\\u00e0\"}";
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	assert_int_equal(parse(state, s, &m, detail), W2_MSG_OK);
	assert_int_equal(m.type, W2_MSG_UNKNOWN);
	assert_span(s, m.type_str, "dance");
	assert_int_equal(parse(state, esc, &m, detail), W2_MSG_OK);
	assert_int_equal(m.type, W2_MSG_UNKNOWN);
	assert_span(esc, m.type_str, "d\\u00e9j\\u00e0"); /* raw, not decoded */
	assert_int_equal(parse(state, "{\"type\":\"\"}", &m, detail), W2_MSG_OK);
	assert_int_equal(m.type, W2_MSG_UNKNOWN);
	assert_int_equal(parse(state, "{\"type\":\"PING\"}", &m, detail), W2_MSG_OK);
	assert_int_equal(m.type, W2_MSG_UNKNOWN);
	assert_int_equal(parse(state, "{\"type\":\"pingx\"}", &m, detail), W2_MSG_OK);
	assert_int_equal(m.type, W2_MSG_UNKNOWN);
}

/* Names are compared decoded: "\u0074o" is the field "to". */
static void test_escaped_names(void **state)
{
	const char *s = "{\"t\\u0079pe\":\"p\\u0069ng\",\"\\u0069d\":\"x\"}";
	const char *dup = "{\"type\":\"join\",\"room\":\"a\",\"r\\u006fom\":\"b\"}";
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	assert_int_equal(parse(state, s, &m, detail), W2_MSG_OK);
	assert_int_equal(m.type, W2_MSG_PING);
	assert_span(s, m.id, "x");
	assert_bad_field(state, dup, "field \"room\" appears more than once");
}

/* ---- field rules ---- */

static void test_missing_fields(void **state)
{
	assert_bad_field(state, "{}", "missing field \"type\"");
	assert_bad_field(state, "{\"v\":1}", "missing field \"type\"");
	assert_bad_field(state, "{\"type\":\"hello\",\"token\":\"t\"}", "missing field \"v\"");
	assert_bad_field(state, "{\"type\":\"hello\",\"v\":1}", "missing field \"token\"");
	assert_bad_field(state, "{\"type\":\"signal\",\"data\":1}", "missing field \"to\"");
	assert_bad_field(state, "{\"type\":\"signal\",\"to\":\"b@x\"}", "missing field \"data\"");
	assert_bad_field(state, "{\"type\":\"join\"}", "missing field \"room\"");
	assert_bad_field(state, "{\"type\":\"leave\",\"id\":\"1\"}", "missing field \"room\"");
	assert_bad_field(state, "{\"type\":\"refresh\"}", "missing field \"token\"");
}

static void test_wrong_types(void **state)
{
	static const char *const fields[] = {"type", "to", "id", "room", "token", "device"};
	static const char *const values[] = {"1", "-2.5", "true", "false", "null", "[]",
					     "{\"a\":\"b\"}", "[\"x\"]"};
	char s[128], expect[64];

	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		snprintf(expect, sizeof(expect), "field \"%s\" must be a string", fields[f]);
		for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
			snprintf(s, sizeof(s), "{\"type\":\"ping\",\"%s\":%s}", fields[f], values[v]);
			if (strcmp(fields[f], "type") == 0)
				snprintf(s, sizeof(s), "{\"type\":%s}", values[v]);
			assert_bad_field(state, s, expect);
		}
	}
}

static void test_v_integer(void **state)
{
	static const char *const bad[] = {"1.0", "1e0", "1E2", "\"1\"", "true", "null",
					  "[1]", "{}", "-0.0"};
	char s[128];
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(s, sizeof(s), "{\"type\":\"hello\",\"v\":%s,\"token\":\"t\"}", bad[i]);
		assert_bad_field(state, s, "field \"v\" must be an integer");
	}
	assert_bad_field(state, "{\"type\":\"hello\",\"v\":9223372036854775808,\"token\":\"t\"}",
			 "field \"v\" is too large");
	assert_bad_field(state, "{\"type\":\"hello\",\"v\":-9223372036854775809,\"token\":\"t\"}",
			 "field \"v\" is too large");
	assert_int_equal(parse(state, "{\"type\":\"hello\",\"v\":9223372036854775807,\"token\":\"t\"}",
			       &m, detail), W2_MSG_OK);
	assert_true(m.v == INT64_MAX);
	assert_int_equal(parse(state, "{\"type\":\"hello\",\"v\":-9223372036854775808,\"token\":\"t\"}",
			       &m, detail), W2_MSG_OK);
	assert_true(m.v == INT64_MIN);
	assert_int_equal(parse(state, "{\"type\":\"hello\",\"v\":-0,\"token\":\"t\"}", &m, detail),
			 W2_MSG_OK);
	assert_int_equal(m.v, 0);
	assert_int_equal(parse(state, "{\"type\":\"hello\",\"v\":2,\"token\":\"t\"}", &m, detail),
			 W2_MSG_OK);
	assert_int_equal(m.v, 2); /* the version itself is the session's business */
}

static void test_duplicates(void **state)
{
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	assert_bad_field(state, "{\"type\":\"ping\",\"type\":\"ping\"}",
			 "field \"type\" appears more than once");
	assert_bad_field(state, "{\"type\":\"signal\",\"to\":\"a\",\"data\":1,\"to\":\"b\"}",
			 "field \"to\" appears more than once");
	assert_bad_field(state, "{\"type\":\"signal\",\"to\":\"a\",\"data\":1,\"data\":2}",
			 "field \"data\" appears more than once");
	/* The first duplicate in the text is the one named. */
	assert_bad_field(state, "{\"type\":\"x\",\"v\":1,\"id\":\"a\",\"id\":\"b\",\"v\":2}",
			 "field \"id\" appears more than once");
	/* A duplicate id cannot be echoed: which one would it be? */
	assert_int_equal(parse(state, "{\"type\":\"ping\",\"id\":\"a\",\"id\":\"b\"}", &m, detail),
			 W2_MSG_ERR_BAD_FIELD);
	assert_false(m.id.present);
	/* Unknown fields may repeat; they are ignored. */
	assert_int_equal(parse(state, "{\"type\":\"ping\",\"x\":1,\"x\":2}", &m, detail), W2_MSG_OK);
}

static void test_unknown_fields_ignored(void **state)
{
	const char *s = "{\"x-future\":{\"type\":5,\"to\":[]},\"type\":\"join\",\"room\":\"r\","
			"\"typ\":1,\"types\":2,\"Type\":3,\"\":4,\"rooms\":[\"a\"]}";
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	assert_int_equal(parse(state, s, &m, detail), W2_MSG_OK);
	assert_int_equal(m.type, W2_MSG_JOIN);
	assert_span(s, m.room, "r");
	assert_false(m.to.present);
}

/* "data" is copied through byte for byte: its span must be exact. */
static void test_data_spans(void **state)
{
	static const struct {
		const char *msg;
		const char *data;
	} cases[] = {
		{"{\"type\":\"signal\",\"to\":\"b\",\"data\":{ \"a\" : [1, 2] }}", "{ \"a\" : [1, 2] }"},
		{"{\"type\":\"signal\",\"to\":\"b\",\"data\"\n:\t[ ]\r\n}", "[ ]"},
		{"{\"type\":\"signal\",\"to\":\"b\",\"data\":  \"s\\\"q\\\\\"  }", "\"s\\\"q\\\\\""},
		{"{\"type\":\"signal\",\"to\":\"b\",\"data\":\"\"}", "\"\""},
		{"{\"data\" : -1.5e+3 ,\"type\":\"signal\",\"to\":\"b\"}", "-1.5e+3"},
		{"{\"type\":\"signal\",\"to\":\"b\",\"data\":0}", "0"},
		{"{\"type\":\"signal\",\"to\":\"b\",\"data\":true }", "true"},
		{"{\"type\":\"signal\",\"to\":\"b\",\"data\":false\n}", "false"},
		{"{\"type\":\"signal\",\"to\":\"b\",\"data\":null}", "null"},
		{"{\"type\":\"signal\",\"to\":\"b\",\"data\":{}}", "{}"},
		{"{\"type\":\"signal\",\"to\":\"b\",\"data\":[[{\"x\":[]}],{}] }", "[[{\"x\":[]}],{}]"},
	};
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(state, cases[i].msg, &m, detail), W2_MSG_OK);
		assert_span(cases[i].msg, m.data, cases[i].data);
	}
}

/* The id is echoed as "ref" in errors, so it is read even when another
 * field is wrong. */
static void test_id_on_bad_field(void **state)
{
	const char *s = "{\"id\":\"c1\",\"type\":\"signal\",\"to\":5,\"data\":1}";
	const char *s2 = "{\"type\":\"signal\",\"data\":1,\"id\":\"c2\"}";
	const char *s3 = "{\"type\":[],\"id\":\"c3\"}";
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_BAD_FIELD);
	assert_string_equal(detail, "field \"to\" must be a string");
	assert_span(s, m.id, "c1");
	assert_false(m.data.present);
	assert_int_equal(parse(state, s2, &m, detail), W2_MSG_ERR_BAD_FIELD);
	assert_span(s2, m.id, "c2");
	assert_int_equal(parse(state, s3, &m, detail), W2_MSG_ERR_BAD_FIELD);
	assert_span(s3, m.id, "c3");
	assert_int_equal(parse(state, "{\"type\":\"join\",\"id\":7}", &m, detail),
			 W2_MSG_ERR_BAD_FIELD);
	assert_string_equal(detail, "field \"id\" must be a string");
	assert_false(m.id.present);
	assert_int_equal(parse(state, "{\"id\":\"c4\",\"type\":\"join\",}", &m, detail),
			 W2_MSG_ERR_BAD_JSON);
	assert_false(m.id.present);
}

static void test_not_object(void **state)
{
	static const char *const cases[] = {"[]", "[{\"type\":\"ping\"}]", "\"ping\"", "1",
					    " -0.5e-3 ", "true", "false", "null", "\"\""};
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(state, cases[i], &m, detail), W2_MSG_ERR_NOT_OBJECT);
		assert_string_equal(detail, "message must be a JSON object");
		assert_true(valid(state, cases[i]));
	}
}

/* ---- JSON validation ---- */

/* Everything jsmn (strict, parent links) lets through and RFC 8259 does not. */
static void test_jsmn_lenient_cases_refused(void **state)
{
	static const char *const cases[] = {
		"{\"a\":1,}", "[1,]", "[1 2]", "{\"a\":1 \"b\":2}", "{\"a\":tru}", "{\"a\":nul}",
		"{\"a\":truee}", "{\"a\":True}", "{\"a\":01}", "[-01]", "[00]", "-", "[-]", "1.",
		"[1.]", "[.5]", "1e", "[1e]", "[1e+]", "[1E-]", "[+1]", "[0x10]", "[1.2.3]",
		"[1e5e5]", "[--1]", "[Infinity]", "[NaN]", "{}{}", "[][]", "{} {}", "{},", "[],",
		"{1:2}", "{true:1}", "{\"a\" 1}", "{\"a\"::1}", "{\"a\":}", "{:1}", "{,}", "[,]",
		"[,1]", "[1,,2]", "{\"a\":1,,\"b\":2}", "[1:2]", "{\"a\",\"b\"}", "[\"a\":1]",
		"{\"a\":1]", "[1}", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "\"\\U0041\"",
		"\"\\'\"", "\"\\\"", "\"a", "{\"a\":\"b", "[", "{", "]", "}", "", " ", "\n\t\r ",
		"'a'", "[1]x", "[1] 2", "1 2", "\"a\" \"b\"", "\"a\"b", "nulls", "tru e",
		"[\v1]", "[\f1]", "\xef\xbb\xbf{}", /* no BOM: RFC 8259 s. 8.1 */
		"[\"\\ud800\"]", "[\"\\udc00\"]", "[\"\\ud800\\u0041\"]", "[\"\\udc00\\ud800\"]",
		"[\"\\ud800\\ud800\"]", "[\"\\ud800\\\"]", "[\"\\ud800x\"]",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (valid(state, cases[i]))
			fail_msg("accepted: %s", cases[i]);
		assert_bad_json(state, cases[i], strlen(cases[i]));
	}
}

static void test_raw_control_characters_refused(void **state)
{
	char s[16];

	for (int c = 0; c < 0x20; c++) {
		snprintf(s, sizeof(s), "[\"a%cb\"]", c == 0 ? '?' : c);
		s[3] = (char)c;
		assert_bad_json(state, s, 7);
	}
	assert_bad_json(state, "{}\0", 3);
	assert_bad_json(state, "[1\0]", 4);
	assert_bad_json(state, "[true\0]", 7);
	assert_bad_json(state, "\0{}", 3);
	assert_true(valid(state, "[\"a\x7f b\"]")); /* DEL needs no escape */
}

static void test_valid_json_accepted(void **state)
{
	static const char *const cases[] = {
		"{}", "[]", " { } ", "\t[\n]\r\n", "0", "-0", "1", "-1", "12345678901234567890",
		"0.0", "-0.0e0", "1E+2", "1e-2", "1.5E10", "true", "false", "null", "\"\"",
		"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\u0000\"", "\"\\uFFFF\\uabcd\"",
		"\"\\ud83d\\ude00\"", "\"\\uDBFF\\uDFFF\"", "[1,2,[3,{\"a\":[]}]]",
		"{\"a\":{\"b\":{\"c\":null}},\"a\":1}", "{\"\":\"\"}", "[\"/\",\"</script>\"]",
		"{\"x\":[true,false,null,1,-1.5,\"s\",{},[]]}", "[1e400]", "[-1e-400]",
		"{ \"a\" : 1 , \"b\" : [ 1 , 2 ] }",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!valid(state, cases[i]))
			fail_msg("refused: %s", cases[i]);
}

static void test_utf8(void **state)
{
	static const char *const good[] = {
		"[\"\xc2\x80\"]", "[\"\xdf\xbf\"]", "[\"\xe0\xa0\x80\"]", "[\"\xef\xbf\xbf\"]",
		"[\"\xed\x9f\xbf\"]", "[\"\xee\x80\x80\"]", "[\"\xf0\x90\x80\x80\"]",
		"[\"\xf4\x8f\xbf\xbf\"]", "[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]",
		"{\"\xc3\xa9\":\"\xc3\xa9\"}",
	};
	static const char *const bad[] = {
		"[\"\x80\"]", "[\"\xbf\"]", "[\"\xc0\xaf\"]", "[\"\xc1\xbf\"]",
		"[\"\xe0\x80\xaf\"]", "[\"\xe0\x9f\xbf\"]", "[\"\xf0\x80\x80\xaf\"]",
		"[\"\xf0\x8f\xbf\xbf\"]", "[\"\xed\xa0\x80\"]", "[\"\xed\xbf\xbf\"]",
		"[\"\xf4\x90\x80\x80\"]", "[\"\xf5\x80\x80\x80\"]", "[\"\xff\"]", "[\"\xfe\"]",
		"[\"\xc3\"]", "[\"\xe2\x82\"]", "[\"\xf0\x9f\x98\"]", "[\"\xc3\xc3\xa9\"]",
		"[\"\xe2\x28\xa1\"]", "{\"\xc0\x80\":1}", "[\xc3\xa9]", "\xc3\xa9",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!valid(state, good[i]))
			fail_msg("refused good UTF-8 case %zu", i);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (valid(state, bad[i]))
			fail_msg("accepted bad UTF-8 case %zu", i);
		assert_bad_json(state, bad[i], strlen(bad[i]));
	}
}

/* A long string exercises the eight-bytes-at-a-time path at every
 * alignment of the bad byte. */
static void test_long_strings(void **state)
{
	char s[80];

	for (size_t at = 2; at < 70; at++) {
		memset(s, 'a', sizeof(s));
		s[0] = '[';
		s[1] = '"';
		s[76] = '"';
		s[77] = ']';
		assert_true(w2_json_valid(*state, s, 78));
		s[at] = '\x1f';
		assert_false(w2_json_valid(*state, s, 78));
		s[at] = '\\';
		assert_false(w2_json_valid(*state, s, 78));
		s[at] = '"';
		assert_false(w2_json_valid(*state, s, 78));
		s[at] = (char)0xe9;
		assert_false(w2_json_valid(*state, s, 78));
	}
}

static void test_error_sentences(void **state)
{
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	assert_int_equal(parse(state, "{\"type\":\"ping\",\"a\":tru}", &m, detail),
			 W2_MSG_ERR_BAD_JSON);
	assert_string_equal(detail, "not valid JSON at byte 19: invalid number or literal");
	assert_int_equal(parse(state, "{\"a\":1,}", &m, detail), W2_MSG_ERR_BAD_JSON);
	assert_string_equal(detail, "not valid JSON at byte 7: expected a string key");
	assert_int_equal(parse(state, "[1 2]", &m, detail), W2_MSG_ERR_BAD_JSON);
	assert_string_equal(detail, "not valid JSON at byte 3: expected ',' or ']'");
	assert_int_equal(parse(state, "{\"a\":\"\\x\"}", &m, detail), W2_MSG_ERR_BAD_JSON);
	assert_string_equal(detail, "not valid JSON at byte 6: invalid escape in string");
	assert_int_equal(parse(state, "{}{}", &m, detail), W2_MSG_ERR_BAD_JSON);
	assert_string_equal(detail, "not valid JSON at byte 2: text after the JSON value");
	assert_int_equal(parse(state, "{\"type\":", &m, detail), W2_MSG_ERR_BAD_JSON);
	assert_string_equal(detail,
			    "not valid JSON: the text ends at byte 8 before the value is complete");
	assert_int_equal(parse(state, "{\"a\":\"\xc0\xaf\"}", &m, detail), W2_MSG_ERR_BAD_JSON);
	assert_string_equal(detail, "not valid JSON at byte 6: string is not valid UTF-8");
	assert_int_equal(parse(state, "{\"a\":\"x\ty\"}", &m, detail), W2_MSG_ERR_BAD_JSON);
	assert_string_equal(detail, "not valid JSON at byte 7: control character in string");
	/* detail may be omitted */
	assert_int_equal(parse(state, "[", &m, NULL), W2_MSG_ERR_BAD_JSON);
}

/* ---- limits ---- */

static void nest(char *s, int depth, bool object)
{
	size_t n = 0;

	for (int i = 0; i < depth; i++) {
		memcpy(s + n, object ? "{\"a\":" : "[", object ? 5 : 1);
		n += object ? 5 : 1;
	}
	s[n++] = '1';
	for (int i = 0; i < depth; i++)
		s[n++] = object ? '}' : ']';
	s[n] = '\0';
}

static void test_depth_limit(void **state)
{
	char s[8 * 1024];
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	nest(s, W2_MSG_MAX_DEPTH, false);
	assert_true(valid(state, s));
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_NOT_OBJECT);
	nest(s, W2_MSG_MAX_DEPTH + 1, false);
	assert_false(valid(state, s));
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_TOO_DEEP);
	assert_string_equal(detail, "JSON nests deeper than 64 levels at byte 64");
	nest(s, W2_MSG_MAX_DEPTH, true);
	assert_true(valid(state, s));
	nest(s, 1000, false);
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_TOO_DEEP);
	/* an unclosed deep prefix is refused as too deep, not as too complex */
	memset(s, '[', sizeof(s));
	assert_int_equal(parse_n(state, s, sizeof(s), &m, detail), W2_MSG_ERR_TOO_DEEP);
	/* The envelope does not count: "data" may nest as deep as a value
	 * w2_json_valid accepts on its own, and no deeper. */
	nest(s, W2_MSG_MAX_DEPTH + 1, true);
	assert_false(valid(state, s));
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_BAD_FIELD); /* no "type" */
	nest(s, W2_MSG_MAX_DEPTH + 2, true);
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_TOO_DEEP);
	snprintf(s, sizeof(s), "{\"type\":\"signal\",\"to\":\"b\",\"data\":");
	nest(s + strlen(s), W2_MSG_MAX_DEPTH, false);
	strcat(s, "}");
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_OK);
	assert_int_equal(m.data.len, 2 * W2_MSG_MAX_DEPTH + 1);
	assert_true(w2_json_valid(*state, s + m.data.off, m.data.len));
	snprintf(s, sizeof(s), "{\"type\":\"signal\",\"to\":\"b\",\"data\":");
	nest(s + strlen(s), W2_MSG_MAX_DEPTH + 1, false);
	strcat(s, "}");
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_TOO_DEEP);
}

/* Too deep "data" is refused with the request's id, so the error carries
 * "ref" (docs/protocol.md); the id may come before or after the data. */
static void test_depth_limit_keeps_id(void **state)
{
	char s[1024], deep[256];
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	nest(deep, W2_MSG_MAX_DEPTH + 1, false);
	snprintf(s, sizeof(s), "{\"type\":\"signal\",\"id\":\"deep65\",\"to\":\"b\",\"data\":%s}", deep);
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_TOO_DEEP);
	assert_span(s, m.id, "deep65");
	assert_false(m.data.present);
	snprintf(s, sizeof(s), "{\"type\":\"signal\",\"data\":%s , \"x\":[1,{}],\"id\":\"after\"}", deep);
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_TOO_DEEP);
	assert_string_equal(detail, "JSON nests deeper than 64 levels at byte 88");
	assert_span(s, m.id, "after");
	/* deep inside another member, then the id */
	snprintf(s, sizeof(s), "{\"x\":{\"y\":%s},\"id\":\"c\"}", deep);
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_TOO_DEEP);
	assert_span(s, m.id, "c");
	/* no id when the rest of the frame is not JSON, or the id is no string */
	snprintf(s, sizeof(s), "{\"data\":%s,\"id\":\"c\",}", deep);
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_TOO_DEEP);
	assert_false(m.id.present);
	snprintf(s, sizeof(s), "{\"data\":%s,\"id\":7}", deep);
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_TOO_DEEP);
	assert_false(m.id.present);
	snprintf(s, sizeof(s), "{\"id\":\"a\",\"data\":%s,\"id\":\"b\"}", deep);
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_TOO_DEEP);
	assert_false(m.id.present);
	/* no envelope, no id */
	snprintf(s, sizeof(s), "[{\"id\":\"c\"},%s]", deep);
	assert_int_equal(parse(state, s, &m, detail), W2_MSG_ERR_TOO_DEEP);
	assert_false(m.id.present);
}

/* A frame within max_bytes never runs out of tokens; a longer one can. */
static void test_token_limit(void **state)
{
	struct w2_msg_parser *small;
	char s[512];
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];
	size_t n = 0;

	assert_int_equal(w2_msg_parser_create(&small, 64), 0);
	/* [1,1,...,1]: the most tokens per byte valid JSON can have */
	s[n++] = '[';
	while (n < 61) {
		s[n++] = '1';
		s[n++] = ',';
	}
	s[n++] = '1';
	s[n++] = ']';
	assert_int_equal(n, 63);
	assert_true(w2_json_valid(small, s, n));
	assert_int_equal(w2_msg_parse(small, s, n, &m, detail), W2_MSG_ERR_NOT_OBJECT);
	/* the worst invalid frames of 64 bytes are still judged, not "too complex" */
	memset(s, '[', 64);
	assert_int_equal(w2_msg_parse(small, s, 64, &m, detail), W2_MSG_ERR_BAD_JSON);
	memset(s, '"', 64);
	assert_int_equal(w2_msg_parse(small, s, 64, &m, detail), W2_MSG_ERR_BAD_JSON);
	for (n = 0; n < 64; n += 2)
		memcpy(s + n, "1 ", 2);
	s[0] = '[';
	assert_int_equal(w2_msg_parse(small, s, 64, &m, detail), W2_MSG_ERR_BAD_JSON);
	/* a 500-byte object of 160 members is more than a 64-byte parser holds */
	n = 0;
	s[n++] = '{';
	while (n < 480) {
		memcpy(s + n, "\"k\":1,", 6);
		n += 6;
	}
	memcpy(s + n, "\"type\":\"ping\"}", 14);
	n += 14;
	assert_int_equal(w2_msg_parse(small, s, n, &m, detail), W2_MSG_ERR_TOO_COMPLEX);
	assert_string_equal(detail, "message has more JSON values than the 64-byte limit allows");
	assert_false(w2_json_valid(small, s, n));
	assert_int_equal(w2_msg_parse(*state, s, n, &m, detail), W2_MSG_OK);
	w2_msg_parser_destroy(small);
}

static void test_create_destroy(void **state)
{
	struct w2_msg_parser *p = (struct w2_msg_parser *)state; /* anything non-NULL */

	w2_msg_parser_destroy(NULL);
	w2_alloc_fail_after(0);
	assert_int_equal(w2_msg_parser_create(&p, 1024), W2_ENOMEM);
	assert_null(p);
	w2_alloc_fail_after(1);
	assert_int_equal(w2_msg_parser_create(&p, 1024), W2_ENOMEM);
	assert_null(p);
	w2_alloc_fail_after(-1);
	assert_int_equal(w2_msg_parser_create(&p, 0), 0);
	assert_false(w2_json_valid(p, "", 0));
	assert_true(w2_json_valid(p, "{}", 2)); /* beyond max_bytes, but it fits */
	w2_msg_parser_destroy(p);
}

/* The parser keeps no state between frames. */
static void test_reuse(void **state)
{
	const char *big = "{\"type\":\"signal\",\"to\":\"b\",\"data\":[[[[1,2,3]]],{\"a\":[{}]}]}";
	struct w2_msg m;
	char detail[W2_MSG_DETAIL_MAX];

	for (int i = 0; i < 3; i++) {
		assert_int_equal(parse(state, big, &m, detail), W2_MSG_OK);
		assert_int_equal(parse(state, "[[[", &m, detail), W2_MSG_ERR_BAD_JSON);
		assert_int_equal(parse(state, "{\"type\":\"ping\"}", &m, detail), W2_MSG_OK);
		assert_string_equal(detail, "");
		assert_false(m.data.present);
	}
}

/* ---- escapes ---- */

static void test_unescape(void **state)
{
	static const struct {
		const char *raw;
		const char *out;
	} cases[] = {
		{"", ""},
		{"plain", "plain"},
		{"\\\"\\\\\\/\\b\\f\\n\\r\\t", "\"\\/\b\f\n\r\t"},
		{"\\u0041\\u00e9\\u20AC", "A\xc3\xa9\xe2\x82\xac"},
		{"\\u007f\\u0080\\u07FF\\u0800\\uFFFF", "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf"},
		{"\\ud83d\\ude00", "\xf0\x9f\x98\x80"},
		{"\\uD800\\uDC00", "\xf0\x90\x80\x80"},
		{"\\uDBFF\\uDFFF", "\xf4\x8f\xbf\xbf"},
		{"caf\xc3\xa9 \\u00e9", "caf\xc3\xa9 \xc3\xa9"},
		{"a\x7f" "b", "a\x7f" "b"},
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long n = w2_json_unescape(cases[i].raw, strlen(cases[i].raw), out, sizeof(out));

		assert_int_equal(n, strlen(cases[i].out));
		assert_string_equal(out, cases[i].out);
	}
	(void)state;
}

static void test_unescape_refusals(void **state)
{
	static const char *const bad[] = {
		"\\u0000", "a\\u0000b", "\\ud800", "\\ud800x", "\\ud800\\u0041", "\\udc00",
		"\\udc00\\ud800", "\\ud800\\ud800", "\\x", "\\", "\\u", "\\u12", "\\u12G4",
		"\\U0041", "a\"b", "a\nb", "a\x01", "\xc0\xaf", "\xed\xa0\x80", "\xc3",
		"\xf4\x90\x80\x80", "\x80",
	};
	char out[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (w2_json_unescape(bad[i], strlen(bad[i]), out, sizeof(out)) != -1)
			fail_msg("decoded: %s", bad[i]);
	/* the output must fit with its NUL */
	assert_int_equal(w2_json_unescape("abc", 3, out, 4), 3);
	assert_int_equal(w2_json_unescape("abc", 3, out, 3), -1);
	assert_int_equal(w2_json_unescape("\\u20ac", 6, out, 4), 3);
	assert_int_equal(w2_json_unescape("\\u20ac", 6, out, 3), -1);
	assert_int_equal(w2_json_unescape("", 0, out, 1), 0);
	assert_int_equal(w2_json_unescape("", 0, out, 0), -1);
	(void)state;
}

static void test_escape(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{"", 0, ""},
		{"plain / text", 12, "plain / text"},
		{"\"\\", 2, "\\\"\\\\"},
		{"\b\f\n\r\t", 5, "\\b\\f\\n\\r\\t"},
		{"\x01\x1f\x7f", 3, "\\u0001\\u001f\x7f"},
		{"a\0b", 3, "a\\u0000b"},
		{"caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "caf\xc3\xa9 \xf0\x9f\x98\x80"},
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long n = w2_json_escape(cases[i].in, cases[i].len, out, sizeof(out));

		assert_int_equal(n, strlen(cases[i].out));
		assert_string_equal(out, cases[i].out);
	}
	assert_int_equal(w2_json_escape("ab", 2, out, 3), 2);
	assert_int_equal(w2_json_escape("ab", 2, out, 2), -1);
	assert_int_equal(w2_json_escape("\n", 1, out, 3), 2);
	assert_int_equal(w2_json_escape("\n", 1, out, 2), -1);
	assert_int_equal(w2_json_escape("\x01", 1, out, 6), -1);
	assert_int_equal(w2_json_escape("", 0, out, 0), -1);
	/* invalid UTF-8 would make the enclosing frame invalid: refused */
	assert_int_equal(w2_json_escape("\xc0\xaf", 2, out, sizeof(out)), -1);
	assert_int_equal(w2_json_escape("\xed\xa0\x80", 3, out, sizeof(out)), -1);
	assert_int_equal(w2_json_escape("\xe2\x82", 2, out, sizeof(out)), -1);
	(void)state;
}

/* Every byte value and a few multi-byte characters survive escape, are
 * valid inside quotes, and come back through unescape. */
static void test_escape_round_trip(void **state)
{
	char in[160], esc[1024], quoted[1030], back[160];
	size_t n = 0;
	long e, u;

	for (int c = 1; c < 0x80; c++)
		in[n++] = (char)c;
	memcpy(in + n, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf", 13);
	n += 13;
	e = w2_json_escape(in, n, esc, sizeof(esc));
	assert_true(e > 0);
	quoted[0] = '"';
	memcpy(quoted + 1, esc, (size_t)e);
	quoted[e + 1] = '"';
	assert_true(w2_json_valid(*state, quoted, (size_t)e + 2));
	u = w2_json_unescape(esc, (size_t)e, back, sizeof(back));
	assert_int_equal(u, n);
	assert_memory_equal(back, in, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_join_leave_ping_refresh),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_escaped_names),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_v_integer),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_unknown_fields_ignored),
		cmocka_unit_test(test_data_spans),
		cmocka_unit_test(test_id_on_bad_field),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_jsmn_lenient_cases_refused),
		cmocka_unit_test(test_raw_control_characters_refused),
		cmocka_unit_test(test_valid_json_accepted),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_long_strings),
		cmocka_unit_test(test_error_sentences),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_depth_limit_keeps_id),
		cmocka_unit_test(test_token_limit),
		cmocka_unit_test(test_create_destroy),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_unescape),
		cmocka_unit_test(test_unescape_refusals),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_round_trip),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
