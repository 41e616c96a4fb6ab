/* lws_relay: the libwebsockets baseline of the signaling benchmark.
 *
 * A minimal relay on libwebsockets 4.1.6 with the libuv event library on a
 * libuv loop this program owns (a "foreign" loop, as webrtc2d would have to
 * use to share its loop). It speaks the message shapes of docs/protocol.md
 * that bench/loadgen uses:
 *
 *   {"type":"hello","v":1,"token":"<JWT>",...} -> {"type":"welcome",...}
 *   {"type":"signal","to":"u7@localhost","data":<any>}
 *       -> to u7: {"type":"signal","from":"u3@localhost","fromDevice":"d","data":<same bytes>}
 *       -> or to the sender: {"type":"error","code":"peer-unavailable",...}
 *
 * THIS IS A TRANSPORT BASELINE, NOT A SERVER ANYONE SHOULD RUN: the token's
 * "sub" is read WITHOUT VERIFYING the signature, expiry or anything else.
 * It exists to measure what libwebsockets costs per connection and per
 * message against webrtc2d's own transport (docs/decisions/0001-transport.md).
 * The envelope is read with jsmn (a tokenizer; no full JSON validation),
 * which is cheaper than webrtc2d's validating parser: the comparison favours
 * lws, not webrtc2d.
 *
 * lws traps handled (../shared/DEPENDENCY-NOTES.md): the protocol is the
 * vhost default (pvo "default") so clients that offer no subprotocol are
 * accepted, and its callback falls through to lws_callback_http_dummy() for
 * plain HTTP; LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN is set although a
 * foreign loop installs no signal handlers; LWS_CALLBACK_CLOSED also fires for
 * upgrades that never reached ESTABLISHED, so it only unlinks what was linked;
 * lws has no maximum message size, so fragments are collected up to 64 KiB and
 * a bigger message is closed with 1009; shutdown destroys the context inside
 * the loop, lets uv_run return, destroys it again, then closes the loop.
 *
 * Usage: lws_relay [--port 8081] [--tls-port 8444 --cert F --key F]
 *                  [--domain localhost]
 *
 * Linking needs libwebsockets, which the top CMakeLists.txt gives bench
 * programs only through bench/lws.cmake (it defines W2_HAVE_LWS); without it
 * this file builds a stub that says so, and bench/run.sh compiles it itself.
 */
#ifndef W2_HAVE_LWS
#include <stdio.h>

int main(void)
{
	fputs("lws_relay: built without bench/lws.cmake (no libwebsockets); bench/run.sh builds it with cc\n",
	      stderr);
	return 3;
}
#else
#define JSMN_STATIC /* our own private copy of the tokenizer */
#include <jsmn.h>

#include <jansson.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define RELAY_MAX_MSG (64 * 1024)   /* the webrtc2 default maxMessageBytes */
#define RELAY_MAX_QUEUE (1 << 20)   /* bytes queued to one client before it is dropped */
#define RELAY_USER_MAX 64
#define RELAY_BUCKETS (1u << 16)
#define RELAY_MAX_TOKENS 128

struct out_msg {
	struct out_msg *next;
	size_t len;
	unsigned char buf[]; /* LWS_PRE bytes of headroom, then the message */
};

/* One per WebSocket connection (lws allocates it: per_session_data_size). */
struct session {
	struct lws *wsi;
	struct session *next_in_bucket;
	bool linked;
	char user[RELAY_USER_MAX + 1];
	struct out_msg *head, *tail;
	size_t queued;
	unsigned char *rx; /* fragments of the message being received */
	size_t rx_len;
};

struct relay {
	struct session *bucket[RELAY_BUCKETS];
	const char *domain;
	unsigned long sessions;
	unsigned long relayed;
};

/* ---------------------------------------------------------------- users */

static uint32_t hash_user(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h & (RELAY_BUCKETS - 1);
}

static struct session *user_find(struct relay *r, const char *user)
{
	for (struct session *s = r->bucket[hash_user(user)]; s; s = s->next_in_bucket)
		if (!strcmp(s->user, user))
			return s;
	return NULL;
}

static void user_link(struct relay *r, struct session *s)
{
	uint32_t b = hash_user(s->user);
	s->next_in_bucket = r->bucket[b];
	r->bucket[b] = s;
	s->linked = true;
	r->sessions++;
}

static void user_unlink(struct relay *r, struct session *s)
{
	if (!s->linked)
		return;
	for (struct session **pp = &r->bucket[hash_user(s->user)]; *pp; pp = &(*pp)->next_in_bucket) {
		if (*pp == s) {
			*pp = s->next_in_bucket;
			break;
		}
	}
	s->linked = false;
	r->sessions--;
}

/* ---------------------------------------------------------------- output */

/* Queues a copy of the n-part message for s and asks lws for a writable
 * callback. Returns -1 if s already has too much queued. */
static int queue_msg(struct session *s, const char *const *parts, const size_t *lens, int n)
{
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += lens[i];
	if (s->queued + len > RELAY_MAX_QUEUE)
		return -1;
	struct out_msg *m = malloc(sizeof(*m) + LWS_PRE + len);
	if (!m)
		return -1;
	m->next = NULL;
	m->len = len;
	unsigned char *p = m->buf + LWS_PRE;
	for (int i = 0; i < n; i++) {
		memcpy(p, parts[i], lens[i]);
		p += lens[i];
	}
	if (s->tail)
		s->tail->next = m;
	else
		s->head = m;
	s->tail = m;
	s->queued += len;
	lws_callback_on_writable(s->wsi);
	return 0;
}

static int queue_str(struct session *s, const char *str)
{
	size_t len = strlen(str);
	return queue_msg(s, &str, &len, 1);
}

/* lws allows one lws_write() per writable callback: send one, ask again. */
static int on_writable(struct session *s)
{
	struct out_msg *m = s->head;
	if (!m)
		return 0;
	if (lws_write(s->wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) < (int)m->len)
		return -1;
	s->head = m->next;
	if (!s->head)
		s->tail = NULL;
	s->queued -= m->len;
	free(m);
	if (s->head)
		lws_callback_on_writable(s->wsi);
	return 0;
}

static void session_free(struct session *s)
{
	while (s->head) {
		struct out_msg *m = s->head;
		s->head = m->next;
		free(m);
	}
	s->tail = NULL;
	free(s->rx);
	s->rx = NULL;
}

/* ---------------------------------------------------------------- envelope */

struct envelope {
	const char *type, *to, *token, *data; /* spans into the message */
	size_t type_len, to_len, token_len, data_len;
};

/* Finds the top-level "type", "to", "token" and "data" values. */
static int envelope_parse(const char *buf, size_t len, struct envelope *e)
{
	jsmn_parser p;
	jsmntok_t t[RELAY_MAX_TOKENS];
	memset(e, 0, sizeof(*e));
	jsmn_init(&p);
	int n = jsmn_parse(&p, buf, len, t, RELAY_MAX_TOKENS);
	if (n < 1 || t[0].type != JSMN_OBJECT)
		return -1;
	for (int i = 1; i + 1 < n; i++) {
		if (t[i].parent != 0 || t[i].type != JSMN_STRING)
			continue;
		const char *k = buf + t[i].start;
		size_t kl = (size_t)(t[i].end - t[i].start);
		const jsmntok_t *v = &t[i + 1];
		const char *vs = buf + v->start;
		size_t vl = (size_t)(v->end - v->start);
		if (kl == 4 && !memcmp(k, "data", 4)) {
			if (v->type == JSMN_STRING) { /* keep the quotes */
				vs--;
				vl += 2;
			}
			e->data = vs;
			e->data_len = vl;
		} else if (v->type != JSMN_STRING) {
			continue;
		} else if (kl == 4 && !memcmp(k, "type", 4)) {
			e->type = vs;
			e->type_len = vl;
		} else if (kl == 2 && !memcmp(k, "to", 2)) {
			e->to = vs;
			e->to_len = vl;
		} else if (kl == 5 && !memcmp(k, "token", 5)) {
			e->token = vs;
			e->token_len = vl;
		}
	}
	return e->type ? 0 : -1;
}

static bool span_is(const char *s, size_t len, const char *lit)
{
	return len == strlen(lit) && !memcmp(s, lit, len);
}

/* Decodes base64url (no padding) into out; returns the length or -1. */
static long b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
			: c >= '0' && c <= '9' ? c - '0' + 52 : c == '-' ? 62 : c == '_' ? 63 : -1;
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return (long)n;
}

/* Reads "sub" from the token's payload. NOT VERIFIED: see the file comment. */
static int token_subject_unverified(const char *tok, size_t len, char *user)
{
	const char *dot1 = memchr(tok, '.', len);
	if (!dot1)
		return -1;
	const char *p = dot1 + 1;
	const char *dot2 = memchr(p, '.', len - (size_t)(p - tok));
	if (!dot2)
		return -1;
	unsigned char payload[2048];
	long n = b64url_decode(p, (size_t)(dot2 - p), payload, sizeof(payload));
	if (n < 0)
		return -1;
	json_t *j = json_loadb((const char *)payload, (size_t)n, 0, NULL);
	const char *sub = json_string_value(json_object_get(j, "sub"));
	int rc = -1;
	if (sub) {
		size_t ul = strcspn(sub, "@");
		if (ul > 0 && ul <= RELAY_USER_MAX) {
			memcpy(user, sub, ul);
			user[ul] = 0;
			rc = 0;
		}
	}
	json_decref(j);
	return rc;
}

/* ---------------------------------------------------------------- handlers */

static int handle_hello(struct relay *r, struct session *s, const struct envelope *e)
{
	char msg[512];
	if (s->linked)
		return queue_str(s, "{\"type\":\"error\",\"code\":\"already-authenticated\",\"message\":\"second hello\"}");
	if (!e->token || token_subject_unverified(e->token, e->token_len, s->user)) {
		queue_str(s, "{\"type\":\"error\",\"code\":\"unauthorized\",\"message\":\"bad token\"}");
		return -1;
	}
	user_link(r, s);
	snprintf(msg, sizeof(msg),
		 "{\"type\":\"welcome\",\"v\":1,\"session\":\"s%lu\",\"peer\":\"%s@%s\",\"device\":\"d\",\"expires\":0}",
		 r->sessions, s->user, r->domain);
	return queue_str(s, msg);
}

static int handle_signal(struct relay *r, struct session *s, const struct envelope *e)
{
	if (!s->linked)
		return queue_str(s, "{\"type\":\"error\",\"code\":\"not-authenticated\",\"message\":\"hello first\"}");
	if (!e->to || !e->data)
		return queue_str(s, "{\"type\":\"error\",\"code\":\"bad-message\",\"message\":\"to and data required\"}");
	char user[RELAY_USER_MAX + 1];
	size_t ul = 0;
	while (ul < e->to_len && e->to[ul] != '@' && e->to[ul] != '/')
		ul++;
	if (ul == 0 || ul > RELAY_USER_MAX)
		return queue_str(s, "{\"type\":\"error\",\"code\":\"bad-message\",\"message\":\"bad to\"}");
	memcpy(user, e->to, ul);
	user[ul] = 0;
	struct session *dst = user_find(r, user);
	if (!dst)
		return queue_str(s, "{\"type\":\"error\",\"code\":\"peer-unavailable\",\"message\":\"not online\"}");
	char head[RELAY_USER_MAX + 128];
	int hl = snprintf(head, sizeof(head), "{\"type\":\"signal\",\"from\":\"%s@%s\",\"fromDevice\":\"d\",\"data\":",
			  s->user, r->domain);
	const char *parts[3] = {head, e->data, "}"};
	size_t lens[3] = {(size_t)hl, e->data_len, 1};
	if (queue_msg(dst, parts, lens, 3)) {
		/* The receiver does not read fast enough: drop it as webrtc2d does (4003). */
		lws_close_reason(dst->wsi, 4003, NULL, 0);
		lws_set_timeout(dst->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		return 0;
	}
	r->relayed++;
	return 0;
}

static int handle_message(struct relay *r, struct session *s, const char *buf, size_t len)
{
	struct envelope e;
	if (envelope_parse(buf, len, &e))
		return queue_str(s, "{\"type\":\"error\",\"code\":\"bad-json\",\"message\":\"not a JSON object with a type\"}");
	if (span_is(e.type, e.type_len, "signal"))
		return handle_signal(r, s, &e);
	if (span_is(e.type, e.type_len, "hello"))
		return handle_hello(r, s, &e);
	if (span_is(e.type, e.type_len, "ping"))
		return queue_str(s, "{\"type\":\"pong\"}");
	return queue_str(s, "{\"type\":\"error\",\"code\":\"unknown-type\",\"message\":\"unknown type\"}");
}

/* Collects fragments; hands complete messages to handle_message. */
static int on_receive(struct lws *wsi, struct relay *r, struct session *s, const char *in, size_t len)
{
	bool first = lws_is_first_fragment(wsi), final = lws_is_final_fragment(wsi);
	if (first && final && lws_remaining_packet_payload(wsi) == 0)
		return handle_message(r, s, in, len);
	if (first)
		s->rx_len = 0;
	if (s->rx_len + len + lws_remaining_packet_payload(wsi) > RELAY_MAX_MSG) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
		return -1;
	}
	if (!s->rx && !(s->rx = malloc(RELAY_MAX_MSG)))
		return -1;
	memcpy(s->rx + s->rx_len, in, len);
	s->rx_len += len;
	if (!final || lws_remaining_packet_payload(wsi))
		return 0;
	int rc = handle_message(r, s, (const char *)s->rx, s->rx_len);
	free(s->rx);
	s->rx = NULL;
	s->rx_len = 0;
	return rc;
}

static int relay_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct session *s = user;
	struct relay *r = lws_context_user(lws_get_context(wsi));

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		memset(s, 0, sizeof(*s));
		s->wsi = wsi;
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (lws_frame_is_binary(wsi)) {
			queue_str(s, "{\"type\":\"error\",\"code\":\"bad-message\",\"message\":\"binary frame\"}");
			return 0;
		}
		return on_receive(wsi, r, s, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_writable(s);
	case LWS_CALLBACK_CLOSED:
		/* Also fires for upgrades that never reached ESTABLISHED (s zeroed by lws). */
		if (s && s->wsi == wsi) {
			user_unlink(r, s);
			session_free(s);
		}
		return 0;
	default:
		/* Plain HTTP on the default protocol (404s, keep-alive) needs the dummy. */
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static const struct lws_protocols protocols[] = {
	{.name = "webrtc2.v1", .callback = relay_callback, .per_session_data_size = sizeof(struct session),
	 .rx_buffer_size = 4096},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* Makes webrtc2.v1 the vhost default so clients offering no subprotocol get it. */
static const struct lws_protocol_vhost_options pvo_default = {NULL, NULL, "default", "1"};
static const struct lws_protocol_vhost_options pvo = {NULL, &pvo_default, "webrtc2.v1", ""};

/* ---------------------------------------------------------------- main */

struct app {
	struct lws_context *ctx;
	uv_signal_t sigint, sigterm;
	bool stopping;
};

static void on_stop_signal(uv_signal_t *h, int signum)
{
	struct app *a = h->data;
	(void)signum;
	if (a->stopping)
		return;
	a->stopping = true;
	uv_close((uv_handle_t *)&a->sigint, NULL);
	uv_close((uv_handle_t *)&a->sigterm, NULL);
	lws_context_destroy(a->ctx); /* first call, inside the loop */
}

static int make_vhost(struct lws_context *ctx, int port, const char *cert, const char *key, const char *name)
{
	struct lws_context_creation_info vi;
	memset(&vi, 0, sizeof(vi));
	vi.port = port;
	vi.iface = "127.0.0.1";
	vi.protocols = protocols;
	vi.pvo = &pvo;
	vi.vhost_name = name;
	vi.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	if (cert) {
		/* lws 4.1 decides per vhost whether it speaks TLS from this flag. */
		vi.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		vi.ssl_cert_filepath = cert;
		vi.ssl_private_key_filepath = key;
	}
	if (!lws_create_vhost(ctx, &vi)) {
		fprintf(stderr, "lws_relay: cannot listen on 127.0.0.1:%d\n", port);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct relay relay;
	struct app app;
	uv_loop_t loop;
	int port = 8081, tls_port = 0;
	const char *cert = NULL, *key = NULL;

	relay.domain = "localhost";
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--tls-port")) tls_port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--cert")) cert = argv[i + 1];
		else if (!strcmp(argv[i], "--key")) key = argv[i + 1];
		else if (!strcmp(argv[i], "--domain")) relay.domain = argv[i + 1];
		else {
			fprintf(stderr, "usage: lws_relay [--port N] [--tls-port N --cert F --key F] [--domain D]\n");
			return 2;
		}
	}
	if (tls_port && (!cert || !key)) {
		fprintf(stderr, "lws_relay: --tls-port needs --cert and --key\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	lws_set_log_level(LLL_ERR | LLL_WARN, NULL);
	uv_loop_init(&loop);

	struct lws_context_creation_info info;
	void *foreign_loops[1] = {&loop};
	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN |
		       LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       (tls_port ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0);
	info.foreign_loops = foreign_loops;
	info.user = &relay;
	info.count_threads = 1;
	memset(&app, 0, sizeof(app));
	app.ctx = lws_create_context(&info);
	if (!app.ctx) {
		fprintf(stderr, "lws_relay: lws_create_context failed\n");
		return 1;
	}
	if (make_vhost(app.ctx, port, NULL, NULL, "plain") ||
	    (tls_port && make_vhost(app.ctx, tls_port, cert, key, "tls"))) {
		lws_context_destroy(app.ctx);
		return 1;
	}
	uv_signal_init(&loop, &app.sigint);
	uv_signal_init(&loop, &app.sigterm);
	app.sigint.data = app.sigterm.data = &app;
	uv_signal_start(&app.sigint, on_stop_signal, SIGINT);
	uv_signal_start(&app.sigterm, on_stop_signal, SIGTERM);
	printf("lws_relay: listening on 127.0.0.1:%d%s%.0d (libwebsockets %s, libuv %s) pid %d\n", port,
	       tls_port ? ", tls 127.0.0.1:" : "", tls_port, lws_get_library_version(), uv_version_string(),
	       (int)getpid());
	fflush(stdout);

	uv_run(&loop, UV_RUN_DEFAULT);
	lws_context_destroy(app.ctx); /* second call: 4.1.6 skips its last step otherwise */
	uv_loop_close(&loop);
	fprintf(stderr, "lws_relay: %lu messages relayed\n", relay.relayed);
	return 0;
}
#endif /* W2_HAVE_LWS */
