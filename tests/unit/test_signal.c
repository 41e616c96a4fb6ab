/* Unit tests of the signaling engine: sessions, router, rooms, limits and
 * every protocol error code. The engine does no I/O, so a recording
 * connection stands in for the transport and time is a plain number; the
 * integration tests drive the same paths through the real daemon. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/error.h"
#include "signal/auth.h"
#include "signal/signal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECRET "0123456789abcdef0123456789abcdef-unit"
#define T0 1700000000000ULL /* Unix ms */
#define MAX_FRAMES 64

struct w2_conn {
	char *frames[MAX_FRAMES];
	int n;
	int read; /* frames consumed by next_frame() */
	uint16_t close_code;
	int closes;
	struct w2_session *ss;
};

static int rec_send(struct w2_conn *c, const struct iovec *iov, int n)
{
	size_t len = 0, off = 0;
	char *f;

	if (c->closes)
		return W2_ECLOSED;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	f = malloc(len + 1);
	for (int i = 0; i < n; i++) {
		memcpy(f + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	f[len] = '\0';
	assert_true(c->n < MAX_FRAMES);
	c->frames[c->n++] = f;
	return 0;
}

static void rec_close(struct w2_conn *c, uint16_t code, const char *reason)
{
	c->close_code = code;
	c->closes++;
}

static const struct w2_conn_ops rec_ops = {rec_send, rec_close};

struct fixture {
	struct w2_config *cfg;
	struct w2_auth *auth;
	struct w2_metrics metrics;
	struct w2_signal *s;
	struct w2_conn conns[12];
	uint64_t now;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct w2_auth_key key = {.alg = W2_JWT_HS256, .material = (unsigned char *)SECRET,
				  .material_len = strlen(SECRET)};

	assert_int_equal(w2_config_default(&f->cfg), 0);
	assert_int_equal(w2_config_add_key(f->cfg, &key), 0);
	f->cfg->limits.sessions_per_user = 3;
	f->cfg->limits.rooms_per_session = 2;
	f->cfg->limits.room_size = 3;
	f->cfg->limits.message_burst = 20;
	f->cfg->limits.messages_per_second = 10;
	f->cfg->limits.abuse_threshold = 5;
	assert_int_equal(w2_auth_create(&f->auth, f->cfg), 0);
	assert_int_equal(w2_signal_create(&f->s, f->cfg, f->auth, &f->metrics), 0);
	f->now = T0;
	*state = f;
	return 0;
}

static void conn_reset(struct w2_conn *c)
{
	for (int i = 0; i < c->n; i++)
		free(c->frames[i]);
	memset(c, 0, sizeof(*c));
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 12; i++) {
		if (f->conns[i].ss)
			w2_signal_closed(f->s, f->conns[i].ss);
		conn_reset(&f->conns[i]);
	}
	assert_int_equal(f->metrics.sessions, 0);
	assert_int_equal(f->metrics.rooms, 0);
	w2_signal_destroy(f->s);
	w2_auth_destroy(f->auth);
	w2_config_destroy(f->cfg);
	free(f);
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static struct w2_conn *open_conn(struct fixture *f, int i)
{
	struct w2_conn *c = &f->conns[i];

	c->ss = w2_signal_open(f->s, c, &rec_ops, f->now);
	assert_non_null(c->ss);
	return c;
}

static void send_text(struct fixture *f, struct w2_conn *c, const char *text)
{
	w2_signal_handle_text(f->s, c->ss, text, strlen(text), f->now);
}

/* The next frame the connection received, or fails the test. */
static const char *next_frame(struct w2_conn *c)
{
	assert_true(c->read < c->n);
	return c->frames[c->read++];
}

static void expect_none(struct w2_conn *c)
{
	if (c->read < c->n)
		fail_msg("unexpected frame: %s", c->frames[c->read]);
}

static void expect_error(struct w2_conn *c, const char *code)
{
	const char *fr = next_frame(c);
	char want[64];

	snprintf(want, sizeof(want), "\"code\":\"%s\"", code);
	if (!strstr(fr, "\"type\":\"error\"") || !strstr(fr, want))
		fail_msg("expected error %s, got %s", code, fr);
}

static char *token_for(const char *user, int64_t ttl_s, uint64_t now_ms)
{
	char *tok = NULL;

	assert_int_equal(w2_auth_mint_hs256((const unsigned char *)SECRET, strlen(SECRET), user,
					    (int64_t)(now_ms / 1000), ttl_s, NULL, NULL, &tok),
			 0);
	return tok;
}

/* Opens connection i and signs user/device in; consumes the welcome. */
static struct w2_conn *sign_in(struct fixture *f, int i, const char *user, const char *device)
{
	struct w2_conn *c = open_conn(f, i);
	char *tok = token_for(user, 3600, f->now);
	char hello[4096];

	snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"v\":1,\"token\":\"%s\",\"device\":\"%s\"}",
		 tok, device);
	w2_free(tok);
	send_text(f, c, hello);
	assert_non_null(strstr(next_frame(c), "\"type\":\"welcome\""));
	return c;
}

static void closed_by_transport(struct fixture *f, struct w2_conn *c)
{
	w2_signal_closed(f->s, c->ss);
	c->ss = NULL;
}

/* ---- hello ------------------------------------------------------------- */

static void test_welcome(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *c = open_conn(f, 0);
	char *tok = token_for("alice", 600, f->now);
	char hello[4096];
	const char *w;

	snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"v\":1,\"token\":\"%s\"}", tok);
	w2_free(tok);
	send_text(f, c, hello);
	w = next_frame(c);
	assert_non_null(strstr(w, "\"type\":\"welcome\",\"v\":1,\"session\":\""));
	assert_non_null(strstr(w, "\"peer\":\"alice@localhost\""));
	assert_non_null(strstr(w, "\"maxMessageBytes\":65536"));
	assert_non_null(strstr(w, "\"sessionsPerUser\":3"));
	assert_non_null(strstr(w, "\"iceServers\":[]"));
	assert_int_equal(f->metrics.sessions, 1);
}

/* ICE servers from the config reach the client as valid JSON, escaped. */
static void test_welcome_ice_servers(void **state)
{
	struct fixture *f = *state;
	static const char yaml[] =
		"ice_servers:\n"
		"  - urls: [\"stun:stun.example.org:3478\", \"turn:t.example.org?transport=tcp\"]\n"
		"    username: \"u\\\"ser\"\n"
		"    credential: \"p\\\\ss\\u00e9\"\n";
	struct w2_config *cfg;
	char err[W2_CONFIG_ERR_MAX];
	struct w2_auth_key key = {.alg = W2_JWT_HS256, .material = (unsigned char *)SECRET,
				  .material_len = strlen(SECRET)};
	json_t *root, *ice;
	json_error_t jerr;
	const char *w;

	assert_int_equal(w2_config_parse(yaml, strlen(yaml), NULL, &cfg, err), 0);
	assert_int_equal(w2_config_add_key(cfg, &key), 0);
	w2_signal_reconfigure(f->s, cfg, f->auth);
	sign_in(f, 0, "alice", "a");
	w = f->conns[0].frames[0]; /* the welcome */
	root = json_loads(w, 0, &jerr);
	assert_non_null(root);
	ice = json_object_get(root, "iceServers");
	assert_int_equal(json_array_size(ice), 1);
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(json_array_get(ice, 0), "urls"), 1)),
			    "turn:t.example.org?transport=tcp");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ice, 0), "username")),
			    "u\"ser");
	assert_string_equal(json_string_value(json_object_get(json_array_get(ice, 0), "credential")),
			    "p\\ss\xc3\xa9");
	json_decref(root);
	w2_signal_closed(f->s, f->conns[0].ss);
	f->conns[0].ss = NULL;
	w2_signal_reconfigure(f->s, f->cfg, f->auth);
	w2_config_destroy(cfg);
}

static void test_not_authenticated_then_hello(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *c = open_conn(f, 0);

	send_text(f, c, "{\"type\":\"ping\",\"id\":\"p1\"}");
	expect_error(c, "not-authenticated");
	send_text(f, c, "{\"type\":\"signal\",\"to\":\"bob@localhost\",\"data\":1}");
	expect_error(c, "not-authenticated");
	assert_int_equal(c->closes, 0);
	closed_by_transport(f, c);
	sign_in(f, 1, "alice", "a");
}

static void test_unauthorized_closes(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *c = open_conn(f, 0);

	send_text(f, c, "{\"type\":\"hello\",\"v\":1,\"token\":\"e30.e30.sig\"}");
	expect_error(c, "unauthorized");
	assert_int_equal(c->close_code, 4001);
	assert_int_equal(f->metrics.sessions, 0);
}

static void test_unsupported_version(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *c = open_conn(f, 0);

	send_text(f, c, "{\"type\":\"hello\",\"v\":2,\"token\":\"x\"}");
	expect_error(c, "unsupported-version");
	assert_int_equal(c->close_code, 4000);
}

static void test_already_authenticated(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *c = sign_in(f, 0, "alice", "a");
	char *tok = token_for("alice", 600, f->now);
	char hello[4096];

	snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"v\":1,\"token\":\"%s\"}", tok);
	w2_free(tok);
	send_text(f, c, hello);
	expect_error(c, "already-authenticated");
	assert_int_equal(c->closes, 0);
}

static void test_bad_device(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *c = open_conn(f, 0);
	char *tok = token_for("alice", 600, f->now);
	char hello[4096];

	snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"v\":1,\"token\":\"%s\",\"device\":\"a b\"}",
		 tok);
	w2_free(tok);
	send_text(f, c, hello);
	expect_error(c, "bad-message");
	assert_int_equal(f->metrics.sessions, 0);
}

static void test_too_many_sessions(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *c;

	sign_in(f, 0, "alice", "a");
	sign_in(f, 1, "alice", "b");
	sign_in(f, 2, "alice", "c");
	c = open_conn(f, 3);
	{
		char *tok = token_for("alice", 600, f->now);
		char hello[4096];

		snprintf(hello, sizeof(hello),
			 "{\"type\":\"hello\",\"v\":1,\"token\":\"%s\",\"device\":\"d\"}", tok);
		w2_free(tok);
		send_text(f, c, hello);
	}
	expect_error(c, "too-many-sessions");
	assert_int_equal(c->close_code, 4004);
	assert_int_equal(f->metrics.sessions, 3);
}

static void test_device_replaced(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *old = sign_in(f, 0, "alice", "phone");
	struct w2_conn *bob = sign_in(f, 2, "bob", "x");

	sign_in(f, 1, "alice", "phone");
	assert_int_equal(old->close_code, 4006);
	assert_int_equal(f->metrics.sessions, 2);
	/* Only the new session receives signals now. */
	send_text(f, bob, "{\"type\":\"signal\",\"to\":\"alice@localhost/phone\",\"data\":7}");
	assert_non_null(strstr(next_frame(&f->conns[1]), "\"data\":7}"));
	assert_int_equal(old->n, 1);
}

/* ---- router -------------------------------------------------------------- */

static void test_signal_bytes_pass_through(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");
	struct w2_conn *b = sign_in(f, 1, "bob", "phone");
	const char *data = "{ \"sdp\" : \"v=0\\r\\n\" , \"n\":[1, 2.50e3,\"\\u00e9\"] }";
	char msg[512], want[512];

	snprintf(msg, sizeof(msg), "{\"type\":\"signal\",\"to\":\"bob@localhost\",\"id\":\"s1\",\"data\":%s}",
		 data);
	send_text(f, a, msg);
	snprintf(want, sizeof(want),
		 "{\"type\":\"signal\",\"from\":\"alice@localhost\",\"fromDevice\":\"laptop\",\"data\":%s}",
		 data);
	assert_string_equal(next_frame(b), want);
	expect_none(a);
}

static void test_signal_fan_out_and_device(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");
	struct w2_conn *b1 = sign_in(f, 1, "bob", "phone");
	struct w2_conn *b2 = sign_in(f, 2, "bob", "desk");
	struct w2_conn *a2 = sign_in(f, 3, "alice", "tablet");

	send_text(f, a, "{\"type\":\"signal\",\"to\":\"bob@localhost\",\"data\":1}");
	next_frame(b1);
	next_frame(b2);
	send_text(f, a, "{\"type\":\"signal\",\"to\":\"bob@localhost/desk\",\"data\":2}");
	assert_non_null(strstr(next_frame(b2), "\"data\":2}"));
	expect_none(b1);
	/* To one's own user: the other devices, never the sender. */
	send_text(f, a, "{\"type\":\"signal\",\"to\":\"alice@LOCALHOST\",\"data\":3}");
	assert_non_null(strstr(next_frame(a2), "\"fromDevice\":\"laptop\""));
	expect_none(a);
}

static void test_peer_unavailable(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");
	const char *cases[] = {
		"{\"type\":\"signal\",\"to\":\"nobody@localhost\",\"id\":\"r1\",\"data\":1}",
		"{\"type\":\"signal\",\"to\":\"bob@other.example\",\"id\":\"r1\",\"data\":1}",
		"{\"type\":\"signal\",\"to\":\"alice@localhost/nodevice\",\"id\":\"r1\",\"data\":1}",
		"{\"type\":\"signal\",\"to\":\"alice@localhost\",\"id\":\"r1\",\"data\":1}",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		send_text(f, a, cases[i]);
		const char *fr = next_frame(a);

		assert_non_null(strstr(fr, "\"code\":\"peer-unavailable\""));
		assert_non_null(strstr(fr, "\"ref\":\"r1\""));
	}
	/* peer-unavailable is not abuse: many of them do not close. */
	for (int i = 0; i < 10; i++) {
		f->now += 100;
		send_text(f, a, cases[0]);
		expect_error(a, "peer-unavailable");
	}
	assert_int_equal(a->closes, 0);
}

static void test_bad_peer_ids(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");
	const char *bad[] = {"bob", "@localhost", "bob@", "b ob@localhost", "bob@localhost/",
			     "bob@localhost/a/b", "bob@local@host", "bob@-x.org"};
	char msg[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(msg, sizeof(msg), "{\"type\":\"signal\",\"to\":\"%s\",\"data\":1}", bad[i]);
		f->now += 2000; /* stay clear of the abuse limit */
		send_text(f, a, msg);
		expect_error(a, "bad-message");
	}
}

static void test_ping_pong(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");

	send_text(f, a, "{\"type\":\"ping\",\"id\":\"k\"}");
	assert_string_equal(next_frame(a), "{\"type\":\"pong\",\"ref\":\"k\"}");
}

/* ---- bad input and limits ------------------------------------------------ */

static void test_parse_errors_keep_session(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");
	const struct {
		const char *text;
		const char *code;
	} cases[] = {
		{"{\"type\":", "bad-json"},
		{"[1,2]", "bad-message"},
		{"{\"type\":\"dance\"}", "unknown-type"},
		{"{\"type\":\"signal\",\"data\":1}", "bad-message"},
		{"{\"type\":\"signal\",\"to\":5,\"data\":1}", "bad-message"},
		{"{\"type\":\"join\"}", "bad-message"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		f->now += 3000;
		send_text(f, a, cases[i].text);
		expect_error(a, cases[i].code);
	}
	w2_signal_handle_refused(f->s, a->ss, W2_ELIMIT, f->now);
	expect_error(a, "too-large");
	w2_signal_handle_refused(f->s, a->ss, W2_EPROTO, f->now);
	expect_error(a, "bad-message");
	assert_int_equal(a->closes, 0);
	send_text(f, a, "{\"type\":\"ping\"}");
	assert_string_equal(next_frame(a), "{\"type\":\"pong\"}");
}

static void test_rate_limit(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");
	int limited = 0;

	/* Burst 20 (the hello took one), then 10 per second. */
	for (int i = 0; i < 22; i++) {
		send_text(f, a, "{\"type\":\"ping\"}");
		if (strstr(next_frame(a), "rate-limited"))
			limited++;
	}
	assert_int_equal(limited, 3);
	f->now += 1000;
	for (int i = 0; i < 10; i++) {
		send_text(f, a, "{\"type\":\"ping\"}");
		assert_non_null(strstr(next_frame(a), "pong"));
	}
	send_text(f, a, "{\"type\":\"ping\"}");
	expect_error(a, "rate-limited");
}

static void test_abuse_closes_1008(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");
	struct w2_conn *b = sign_in(f, 1, "bob", "phone");

	for (int i = 0; i < 6; i++)
		send_text(f, a, "not json");
	assert_int_equal(a->close_code, 1008);
	/* Others are untouched. */
	send_text(f, b, "{\"type\":\"ping\"}");
	assert_non_null(strstr(next_frame(b), "pong"));
	assert_int_equal(b->closes, 0);
}

static void test_token_expiry(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = open_conn(f, 0);
	char *tok = token_for("alice", 5, f->now);
	char hello[4096];

	snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"v\":1,\"token\":\"%s\"}", tok);
	w2_free(tok);
	send_text(f, a, hello);
	next_frame(a);
	f->now += 4000;
	w2_signal_bookkeeping(f->s, f->now);
	expect_none(a);
	/* Closed when exp plus the configured clock skew has passed. */
	f->now += 1000 + f->cfg->clock_skew_s * 1000ULL - 1;
	w2_signal_bookkeeping(f->s, f->now);
	expect_none(a);
	f->now += 1;
	w2_signal_bookkeeping(f->s, f->now);
	expect_error(a, "token-expired");
	assert_int_equal(a->close_code, 4002);
}

static void test_refresh(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");
	char *tok = token_for("alice", 7200, f->now);
	char *other = token_for("mallory", 7200, f->now);
	char msg[4096];

	snprintf(msg, sizeof(msg), "{\"type\":\"refresh\",\"token\":\"%s\"}", tok);
	send_text(f, a, msg);
	assert_non_null(strstr(next_frame(a), "\"type\":\"refreshed\""));
	snprintf(msg, sizeof(msg), "{\"type\":\"refresh\",\"token\":\"%s\"}", other);
	send_text(f, a, msg);
	expect_error(a, "unauthorized");
	assert_int_equal(a->closes, 0);
	/* The new expiry holds: an hour and a half later the session lives. */
	f->now += 5400 * 1000ULL;
	w2_signal_bookkeeping(f->s, f->now);
	assert_int_equal(a->closes, 0);
	w2_free(tok);
	w2_free(other);
}

static void test_hello_timeout(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = open_conn(f, 0);

	f->now += f->cfg->limits.hello_timeout_ms;
	w2_signal_bookkeeping(f->s, f->now);
	assert_int_equal(a->close_code, 4005);
}

/* ---- rooms ------------------------------------------------------------- */

static void test_rooms(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");
	struct w2_conn *b = sign_in(f, 1, "bob", "phone");

	send_text(f, a, "{\"type\":\"join\",\"room\":\"st\\u00e4ndup\"}");
	assert_string_equal(next_frame(a), "{\"type\":\"joined\",\"room\":\"st\xc3\xa4ndup\",\"members\":[]}");
	send_text(f, b, "{\"type\":\"join\",\"room\":\"st\xc3\xa4ndup\"}");
	assert_string_equal(next_frame(b), "{\"type\":\"joined\",\"room\":\"st\xc3\xa4ndup\",\"members\":"
					   "[{\"peer\":\"alice@localhost\",\"device\":\"laptop\"}]}");
	assert_string_equal(next_frame(a), "{\"type\":\"member\",\"room\":\"st\xc3\xa4ndup\",\"peer\":"
					   "\"bob@localhost\",\"device\":\"phone\",\"event\":\"joined\"}");
	/* Joining again notifies no one. */
	send_text(f, b, "{\"type\":\"join\",\"room\":\"st\xc3\xa4ndup\"}");
	assert_non_null(strstr(next_frame(b), "\"type\":\"joined\""));
	expect_none(a);
	send_text(f, b, "{\"type\":\"leave\",\"room\":\"st\xc3\xa4ndup\"}");
	assert_non_null(strstr(next_frame(b), "\"type\":\"left\""));
	assert_non_null(strstr(next_frame(a), "\"event\":\"left\""));
	send_text(f, b, "{\"type\":\"leave\",\"room\":\"st\xc3\xa4ndup\"}");
	expect_error(b, "not-in-room");
	assert_int_equal(f->metrics.rooms, 1);
}

/* Every answer to a request with an id carries it back as ref. */
static void test_answers_carry_ref(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");
	char *tok = token_for("alice", 600, f->now);
	char msg[4096];

	send_text(f, a, "{\"type\":\"join\",\"room\":\"r\",\"id\":\"j1\"}");
	assert_string_equal(next_frame(a), "{\"type\":\"joined\",\"room\":\"r\",\"ref\":\"j1\",\"members\":[]}");
	send_text(f, a, "{\"type\":\"leave\",\"room\":\"r\",\"id\":\"l\\u00e9\"}");
	assert_string_equal(next_frame(a), "{\"type\":\"left\",\"room\":\"r\",\"ref\":\"l\\u00e9\"}");
	snprintf(msg, sizeof(msg), "{\"type\":\"refresh\",\"token\":\"%s\",\"id\":\"t\"}", tok);
	send_text(f, a, msg);
	assert_non_null(strstr(next_frame(a), ",\"ref\":\"t\"}"));
	send_text(f, a, "{\"type\":\"ping\"}");
	assert_string_equal(next_frame(a), "{\"type\":\"pong\"}");
	w2_free(tok);
}

static void test_room_limits(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");
	struct w2_conn *others[3];

	send_text(f, a, "{\"type\":\"join\",\"room\":\"r1\"}");
	send_text(f, a, "{\"type\":\"join\",\"room\":\"r2\"}");
	send_text(f, a, "{\"type\":\"join\",\"room\":\"r3\"}");
	next_frame(a);
	next_frame(a);
	expect_error(a, "too-many-rooms");
	others[0] = sign_in(f, 1, "b", "x");
	others[1] = sign_in(f, 2, "c", "x");
	others[2] = sign_in(f, 3, "d", "x");
	send_text(f, others[0], "{\"type\":\"join\",\"room\":\"r1\"}");
	send_text(f, others[1], "{\"type\":\"join\",\"room\":\"r1\"}");
	send_text(f, others[2], "{\"type\":\"join\",\"room\":\"r1\",\"id\":\"j\"}");
	next_frame(others[0]);
	next_frame(others[1]);
	{
		const char *fr = next_frame(others[2]);

		assert_non_null(strstr(fr, "room-full"));
		assert_non_null(strstr(fr, "\"ref\":\"j\""));
	}
	/* Bad names. */
	send_text(f, others[2], "{\"type\":\"join\",\"room\":\"\"}");
	expect_error(others[2], "bad-message");
	send_text(f, others[2], "{\"type\":\"join\",\"room\":\"a\\nb\"}");
	expect_error(others[2], "bad-message");
}

static void test_close_leaves_rooms(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");
	struct w2_conn *b = sign_in(f, 1, "bob", "phone");

	send_text(f, a, "{\"type\":\"join\",\"room\":\"r\"}");
	send_text(f, b, "{\"type\":\"join\",\"room\":\"r\"}");
	next_frame(a);
	next_frame(a);
	closed_by_transport(f, b);
	assert_string_equal(next_frame(a), "{\"type\":\"member\",\"room\":\"r\",\"peer\":\"bob@localhost\","
					   "\"device\":\"phone\",\"event\":\"left\"}");
	send_text(f, a, "{\"type\":\"signal\",\"to\":\"bob@localhost\",\"data\":1}");
	expect_error(a, "peer-unavailable");
	assert_int_equal(f->metrics.sessions, 1);
}

static void test_close_all(void **state)
{
	struct fixture *f = *state;
	struct w2_conn *a = sign_in(f, 0, "alice", "laptop");
	struct w2_conn *b = open_conn(f, 1);

	w2_signal_close_all(f->s, 1001, "bye");
	assert_int_equal(a->close_code, 1001);
	assert_int_equal(b->close_code, 1001);
	assert_int_equal(f->metrics.sessions, 0);
}

/* Every allocation failure inside create/hello/join fails cleanly. */
/* ---- guest sign-in ------------------------------------------------------- */

static enum w2_guest_result guest(struct fixture *f, const char *name, struct w2_guest_grant *g)
{
	enum w2_guest_result r = w2_signal_guest_token(f->s, name, strlen(name), f->now, g);

	if (r != W2_GUEST_OK)
		assert_null(g->token);
	return r;
}

static void test_guest_token(void **state)
{
	struct fixture *f = *state;
	struct w2_guest_grant g;
	struct w2_identity id;
	struct w2_conn *a;
	char hello[4096];

	f->cfg->guest_tokens = false;
	assert_int_equal(guest(f, "guest1", &g), W2_GUEST_DISABLED);
	f->cfg->guest_tokens = true;
	f->cfg->guest_token_ttl_s = 600;
	assert_int_equal(guest(f, "guest1", &g), W2_GUEST_OK);
	assert_int_equal(g.expires_at, (int64_t)(T0 / 1000) + 600);
	assert_int_equal(w2_auth_verify(f->auth, g.token, strlen(g.token), (int64_t)(T0 / 1000), &id),
			 W2_AUTH_OK);
	assert_string_equal(id.user, "guest1");
	assert_int_equal(id.expires_at, g.expires_at);
	/* hello takes it; from then on the name is taken, in exactly that case. */
	a = open_conn(f, 0);
	snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"v\":1,\"token\":\"%s\"}", g.token);
	w2_free(g.token);
	send_text(f, a, hello);
	assert_non_null(strstr(next_frame(a), "\"type\":\"welcome\""));
	assert_int_equal(guest(f, "guest1", &g), W2_GUEST_NAME_TAKEN);
	assert_int_equal(guest(f, "Guest1", &g), W2_GUEST_OK);
	w2_free(g.token);
	closed_by_transport(f, a);
	assert_int_equal(guest(f, "guest1", &g), W2_GUEST_OK);
	w2_free(g.token);
}

static void test_guest_bad_names(void **state)
{
	static const char *const bad[] = {
	    "", ".x", "a b", "a@b", "a/b", "\xc3\xa9",
	    "0123456789012345678901234567890123456789012345678901234567890123x"};
	struct fixture *f = *state;
	struct w2_guest_grant g;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(guest(f, bad[i], &g), W2_GUEST_BAD_NAME);
	assert_int_equal(w2_signal_guest_token(f->s, "ab", 1, f->now, &g), W2_GUEST_OK);
	w2_free(g.token);
	assert_int_equal(w2_signal_guest_token(f->s, NULL, 0, f->now, &g), W2_GUEST_BAD_NAME);
}

/* One bucket for the whole server: W2_GUEST_RATE at once, then one per
 * 1000 / W2_GUEST_RATE ms; refused requests (bad names too) count. */
static void test_guest_rate_limit(void **state)
{
	struct fixture *f = *state;
	struct w2_guest_grant g;

	for (int i = 0; i < W2_GUEST_RATE; i++) {
		assert_int_equal(guest(f, i % 2 ? "x" : ".bad", &g),
				 i % 2 ? W2_GUEST_OK : W2_GUEST_BAD_NAME);
		w2_free(g.token); /* NULL when refused */
	}
	assert_int_equal(guest(f, "x", &g), W2_GUEST_RATE_LIMITED);
	f->now += 1000 / W2_GUEST_RATE - 1;
	assert_int_equal(guest(f, "x", &g), W2_GUEST_RATE_LIMITED);
	f->now += 1;
	assert_int_equal(guest(f, "x", &g), W2_GUEST_OK);
	w2_free(g.token);
	assert_int_equal(guest(f, "x", &g), W2_GUEST_RATE_LIMITED);
	/* A long pause refills to the burst, not beyond. */
	f->now += 3600 * 1000;
	for (int i = 0; i < W2_GUEST_RATE; i++) {
		assert_int_equal(guest(f, "x", &g), W2_GUEST_OK);
		w2_free(g.token);
	}
	assert_int_equal(guest(f, "x", &g), W2_GUEST_RATE_LIMITED);
	/* Off means off before any counting. */
	f->cfg->guest_tokens = false;
	assert_int_equal(guest(f, "x", &g), W2_GUEST_DISABLED);
}

static void test_alloc_failures(void **state)
{
	struct fixture *f = *state;

	for (long n = 0; n < 200; n++) {
		struct w2_metrics m = {0};
		struct w2_signal *s = NULL;
		struct w2_conn c = {0};
		struct w2_session *ss;

		w2_alloc_fail_after(n);
		if (w2_signal_create(&s, f->cfg, f->auth, &m) != 0) {
			w2_alloc_fail_after(-1);
			continue;
		}
		ss = w2_signal_open(s, &c, &rec_ops, f->now);
		if (ss) {
			char *tok;
			char msg[4096];

			w2_alloc_fail_after(-1);
			tok = token_for("alice", 600, f->now);
			snprintf(msg, sizeof(msg), "{\"type\":\"hello\",\"v\":1,\"token\":\"%s\"}", tok);
			w2_free(tok);
			w2_alloc_fail_after(n / 2);
			w2_signal_handle_text(s, ss, msg, strlen(msg), f->now);
			w2_signal_handle_text(s, ss, "{\"type\":\"join\",\"room\":\"r\"}", 27, f->now);
			w2_alloc_fail_after(-1);
			w2_signal_closed(s, ss);
		}
		w2_alloc_fail_after(-1);
		assert_int_equal(m.sessions, 0);
		assert_int_equal(m.rooms, 0);
		w2_signal_destroy(s);
		conn_reset(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_welcome, setup, teardown),
		cmocka_unit_test_setup_teardown(test_welcome_ice_servers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_authenticated_then_hello, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unauthorized_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unsupported_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_already_authenticated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_bytes_pass_through, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_fan_out_and_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_unavailable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_peer_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ping_pong, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_errors_keep_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abuse_closes_1008, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hello_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rooms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answers_carry_ref, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_leaves_rooms, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_rate_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alloc_failures, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
