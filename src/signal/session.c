/* Sessions: their lifecycle (hello, refresh, expiry, close), per-session
 * limits (token bucket, abuse counter) and message dispatch. The router
 * (router.c) and rooms (rooms.c) work on the sessions kept here. */
#include "signal/signal_int.h"

#include "core/alloc.h"
#include "core/dlist.h"
#include "core/error.h"
#include "core/log.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MOD "signal"

/* ---- output helpers ---------------------------------------------------- */

void w2__send_raw(struct w2_signal *s, struct w2_session *ss, const char *text, size_t len)
{
	struct iovec iov = {(void *)text, len};

	if (ss->ops->send_text(ss->conn, &iov, 1) == 0)
		s->metrics->messages_out_total++;
}

/* Counts a client-caused error; past the threshold within the window the
 * connection is closed with 1008. peer-unavailable is not counted: it is
 * the normal outcome of a race with a peer going offline. */
static void count_abuse(struct w2_signal *s, struct w2_session *ss, enum w2_perr code,
			uint64_t now_ms)
{
	if (code == W2_PERR_PEER_UNAVAILABLE || ss->detached)
		return;
	if (now_ms - ss->abuse_window_ms >= W2_ABUSE_WINDOW_MS) {
		ss->abuse_window_ms = now_ms;
		ss->abuse_count = 0;
	}
	if (++ss->abuse_count > s->cfg->limits.abuse_threshold)
		w2__close_session(s, ss, W2_CLOSE_POLICY, "too many bad messages");
}

void w2__send_error(struct w2_signal *s, struct w2_session *ss, enum w2_perr code,
		    const char *message, const struct w2_req *req)
{
	char out[768];
	char msg_esc[512];
	long mlen = w2_json_escape(message, strlen(message), msg_esc, sizeof(msg_esc));
	int n;

	if (mlen < 0)
		mlen = 0;
	msg_esc[mlen] = '\0';
	if (req && req->msg->id.present && req->msg->id.len <= W2_ID_MAX)
		n = snprintf(out, sizeof(out),
			     "{\"type\":\"error\",\"code\":\"%s\",\"message\":\"%s\",\"ref\":\"%.*s\"}",
			     w2_perr_name(code), msg_esc, (int)req->msg->id.len,
			     req->buf + req->msg->id.off);
	else
		n = snprintf(out, sizeof(out), "{\"type\":\"error\",\"code\":\"%s\",\"message\":\"%s\"}",
			     w2_perr_name(code), msg_esc);
	if (n > 0 && (size_t)n < sizeof(out))
		w2__send_raw(s, ss, out, (size_t)n);
	s->metrics->errors_total[code]++;
	count_abuse(s, ss, code, s->now_ms);
}

long w2__span_string(const struct w2_req *req, struct w2_span sp, char *out, size_t cap)
{
	const char *raw = req->buf + sp.off;

	/* Fast path: no escapes, copy as is. */
	if (!memchr(raw, '\\', sp.len)) {
		if (sp.len >= cap)
			return -1;
		memcpy(out, raw, sp.len);
		out[sp.len] = '\0';
		return (long)sp.len;
	}
	return w2_json_unescape(raw, sp.len, out, cap);
}

int w2__device_valid(const char *d, size_t len)
{
	if (len == 0 || len > W2_DEVICE_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = d[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* ---- privacy-aware connection logging ----------------------------------- */

/* A keyed hash of the user that cannot be linked across days: the key is
 * random, kept only in memory, and replaced when the UTC day changes. */
static void pseudonym(struct w2_signal *s, const char *user, uint64_t now_ms, char out[17])
{
	int64_t day = (int64_t)(now_ms / 86400000ULL);
	unsigned char h[8];

	if (day != s->pseudonym_day) {
		randombytes_buf(s->pseudonym_key, sizeof(s->pseudonym_key));
		s->pseudonym_day = day;
	}
	crypto_generichash(h, sizeof(h), (const unsigned char *)user, strlen(user),
			   s->pseudonym_key, sizeof(s->pseudonym_key));
	sodium_bin2hex(out, 17, h, sizeof(h));
}

static void log_session(struct w2_signal *s, struct w2_session *ss, const char *event,
			uint64_t now_ms)
{
	char p[17];

	switch (s->cfg->conn_logging) {
	case W2_CONN_LOG_NONE:
		return;
	case W2_CONN_LOG_ANONYMOUS:
		W2_LOG_INFO(MOD, "%s sessions=%llu", event, (unsigned long long)s->metrics->sessions);
		return;
	case W2_CONN_LOG_PSEUDONYMOUS:
		pseudonym(s, ss->user->name, now_ms, p);
		W2_LOG_INFO(MOD, "%s user=%s sessions=%llu", event, p,
			    (unsigned long long)s->metrics->sessions);
		return;
	}
}

/* ---- engine lifecycle -------------------------------------------------- */

/* Appends the escaped JSON string s (with quotes) at buf+*n; cap is ample
 * by construction (see welcome_tail_cap). */
static void put_json_string(char *buf, size_t *n, size_t cap, const char *s)
{
	long e;

	buf[(*n)++] = '"';
	e = w2_json_escape(s, strlen(s), buf + *n, cap - *n);
	*n += e > 0 ? (size_t)e : 0;
	buf[(*n)++] = '"';
}

/* An upper bound of the rendered tail: escaping grows a byte to at most 6. */
static size_t welcome_tail_cap(const struct w2_config *c)
{
	size_t cap = 512;

	for (size_t i = 0; i < c->n_ice_servers; i++) {
		const struct w2_ice_server *is = &c->ice_servers[i];

		cap += 64 + 6 * (is->username ? strlen(is->username) : 0) +
		       6 * (is->credential ? strlen(is->credential) : 0);
		for (size_t u = 0; u < is->n_urls; u++)
			cap += 8 + 6 * strlen(is->urls[u]);
	}
	return cap;
}

/* Renders the part of `welcome` that depends only on the config. */
static int render_welcome_tail(struct w2_signal *s)
{
	const struct w2_config *c = s->cfg;
	const struct w2_limits *l = &c->limits;
	size_t cap = welcome_tail_cap(c);
	char *buf = w2_malloc(cap);
	size_t n = 0;

	if (!buf)
		return W2_ENOMEM;
	n += (size_t)snprintf(buf, cap, ",\"iceServers\":[");
	s->ice_at = n;
	for (size_t i = 0; i < c->n_ice_servers; i++) {
		const struct w2_ice_server *is = &c->ice_servers[i];

		n += (size_t)snprintf(buf + n, cap - n, "%s{\"urls\":[", i ? "," : "");
		for (size_t u = 0; u < is->n_urls; u++) {
			if (u)
				buf[n++] = ',';
			put_json_string(buf, &n, cap, is->urls[u]);
		}
		buf[n++] = ']';
		if (is->username) {
			n += (size_t)snprintf(buf + n, cap - n, ",\"username\":");
			put_json_string(buf, &n, cap, is->username);
			n += (size_t)snprintf(buf + n, cap - n, ",\"credential\":");
			put_json_string(buf, &n, cap, is->credential ? is->credential : "");
		}
		buf[n++] = '}';
	}
	s->ice_end = n;
	n += (size_t)snprintf(buf + n, cap - n,
			      "],\"limits\":{\"maxMessageBytes\":%u,\"maxQueuedBytes\":%u,"
			      "\"messagesPerSecond\":%u,\"messageBurst\":%u,\"sessionsPerUser\":%u,"
			      "\"roomsPerSession\":%u,\"roomSize\":%u}}",
			      l->max_message_bytes, l->max_queued_bytes, l->messages_per_second,
			      l->message_burst, l->sessions_per_user, l->rooms_per_session, l->room_size);
	w2_free(s->welcome_tail);
	s->welcome_tail = buf;
	s->welcome_tail_len = n;
	return 0;
}

int w2_signal_create(struct w2_signal **out, const struct w2_config *cfg,
		     const struct w2_auth *auth, struct w2_metrics *metrics)
{
	struct w2_signal *s = w2_calloc(1, sizeof(*s));
	int rc = W2_ENOMEM;

	*out = NULL;
	if (!s)
		return W2_ENOMEM;
	s->cfg = cfg;
	s->auth = auth;
	s->metrics = metrics;
	s->pseudonym_day = -1;
	s->guest_bucket_milli = (uint64_t)W2_GUEST_RATE * 1000;
	if (w2_msg_parser_create(&s->parser, cfg->limits.max_message_bytes) != 0)
		goto fail;
	if (w2_map_init(&s->users) != 0 || w2_map_init(&s->rooms) != 0)
		goto fail;
	rc = render_welcome_tail(s);
	if (rc == 0)
		rc = w2__ice_render_turn_urls(s);
	if (rc != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	w2_signal_destroy(s);
	return rc;
}

void w2_signal_destroy(struct w2_signal *s)
{
	if (!s)
		return;
	w2_msg_parser_destroy(s->parser);
	w2_map_deinit(&s->users);
	w2_map_deinit(&s->rooms);
	w2_free(s->welcome_tail);
	w2_free(s->turn_urls);
	w2_free(s);
}

void w2_signal_reconfigure(struct w2_signal *s, const struct w2_config *cfg,
			   const struct w2_auth *auth)
{
	struct w2_msg_parser *p = NULL;

	s->cfg = cfg;
	s->auth = auth;
	if (w2_msg_parser_create(&p, cfg->limits.max_message_bytes) == 0) {
		w2_msg_parser_destroy(s->parser);
		s->parser = p;
	}
	if (render_welcome_tail(s) != 0 || w2__ice_render_turn_urls(s) != 0)
		W2_LOG_ERROR(MOD, "could not render the welcome message after reload");
}

/* ---- session lifecycle ------------------------------------------------- */

struct w2_session *w2_signal_open(struct w2_signal *s, struct w2_conn *conn,
				  const struct w2_conn_ops *ops, uint64_t now_ms)
{
	struct w2_session *ss = w2_calloc(1, sizeof(*ss));
	unsigned char raw[16];

	if (!ss)
		return NULL;
	s->now_ms = now_ms;
	ss->conn = conn;
	ss->ops = ops;
	ss->opened_ms = now_ms;
	ss->bucket_ms = now_ms;
	ss->bucket_milli = (uint64_t)s->cfg->limits.message_burst * 1000;
	ss->abuse_window_ms = now_ms;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(ss->id, sizeof(ss->id), raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	W2_DLIST_PUSH(s->all, ss, prev_all, next_all);
	return ss;
}

static void user_unlink(struct w2_signal *s, struct w2_session *ss)
{
	struct w2_user *u = ss->user;

	W2_DLIST_REMOVE(u->sessions, ss, prev_of_user, next_of_user);
	s->metrics->sessions--;
	if (--u->n_sessions == 0) {
		w2_map_remove(&s->users, &u->entry);
		w2_free(u);
	}
}

/* Makes a session unreachable: out of its user's list and its rooms. It
 * stays in the all-sessions list until the transport reports the close. */
static void session_detach(struct w2_signal *s, struct w2_session *ss, uint64_t now_ms)
{
	if (ss->detached)
		return;
	ss->detached = true;
	if (!ss->user)
		return;
	w2__rooms_leave_all(s, ss);
	log_session(s, ss, "session closed", now_ms);
	user_unlink(s, ss);
}

void w2__close_session(struct w2_signal *s, struct w2_session *ss, uint16_t code,
		       const char *reason)
{
	if (ss->detached)
		return;
	session_detach(s, ss, s->now_ms);
	ss->ops->close(ss->conn, code, reason);
}

void w2_signal_closed(struct w2_signal *s, struct w2_session *ss)
{
	if (!ss)
		return;
	session_detach(s, ss, s->now_ms);
	W2_DLIST_REMOVE(s->all, ss, prev_all, next_all);
	ss->user = NULL;
	w2_free(ss->rooms);
	w2_free(ss->relay_prefix);
	w2_free(ss->peer_json);
	w2_free(ss);
}

void w2_signal_close_all(struct w2_signal *s, uint16_t code, const char *reason)
{
	for (struct w2_session *ss = s->all; ss; ss = ss->next_all)
		w2__close_session(s, ss, code, reason);
}

size_t w2_signal_bookkeeping(struct w2_signal *s, uint64_t now_ms)
{
	size_t live = 0;
	int64_t now_s = (int64_t)(now_ms / 1000);

	s->now_ms = now_ms;

	for (struct w2_session *ss = s->all; ss; ss = ss->next_all) {
		if (ss->detached)
			continue;
		if (!ss->user) {
			if (now_ms - ss->opened_ms >= s->cfg->limits.hello_timeout_ms)
				w2__close_session(s, ss, W2_CLOSE_HELLO_TIMEOUT, "no hello in time");
			continue;
		}
		/* The verifier accepts a token until exp + clock skew; the
		 * session lives exactly as long. */
		if (now_s >= ss->expires_at + (int64_t)s->cfg->clock_skew_s) {
			w2__send_error(s, ss, W2_PERR_TOKEN_EXPIRED,
				       "the session's token has expired; sign in again", NULL);
			w2__close_session(s, ss, W2_CLOSE_TOKEN_EXPIRED, "token expired");
			continue;
		}
		live++;
	}
	return live;
}

/* ---- hello and refresh ------------------------------------------------- */

static int build_identity_strings(struct w2_signal *s, struct w2_session *ss)
{
	char buf[512];
	int n;

	n = snprintf(buf, sizeof(buf), "%s@%s", ss->user->name, s->cfg->domain);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return W2_EINVAL;
	ss->peer_json = w2_strndup(buf, (size_t)n);
	n = snprintf(buf, sizeof(buf), "{\"type\":\"signal\",\"from\":\"%s\",\"fromDevice\":\"%s\",\"data\":",
		     ss->peer_json ? ss->peer_json : "", ss->device);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return W2_EINVAL;
	ss->relay_prefix = w2_strndup(buf, (size_t)n);
	ss->relay_prefix_len = (size_t)n;
	return ss->peer_json && ss->relay_prefix ? 0 : W2_ENOMEM;
}

struct w2_user *w2__user_find(struct w2_signal *s, const char *name, size_t len)
{
	struct w2_map_entry *e = w2_map_find(&s->users, name, len);

	return e ? (struct w2_user *)((char *)e - offsetof(struct w2_user, entry)) : NULL;
}

static struct w2_user *user_get(struct w2_signal *s, const char *name)
{
	struct w2_user *u = w2__user_find(s, name, strlen(name));

	if (u)
		return u;
	u = w2_calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->entry.key = u->name;
	u->entry.key_len = strlen(u->name);
	w2_map_insert(&s->users, &u->entry);
	return u;
}

/* Replaces a live session of the same user and device (protocol.md). */
static void replace_device(struct w2_signal *s, struct w2_user *u, const char *device)
{
	for (struct w2_session *o = u ? u->sessions : NULL; o; o = o->next_of_user) {
		if (strcmp(o->device, device) == 0) {
			w2__close_session(s, o, W2_CLOSE_REPLACED,
					  "replaced by a new session of this device");
			return;
		}
	}
}

static void send_welcome(struct w2_signal *s, struct w2_session *ss)
{
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "{\"type\":\"welcome\",\"v\":1,\"session\":\"%s\",\"peer\":\"%s\","
			 "\"device\":\"%s\",\"expires\":%lld",
			 ss->id, ss->peer_json, ss->device, (long long)ss->expires_at);
	char turn[W2__ICE_TURN_MAX + 1];
	size_t tn = w2__ice_turn_entry(s, ss->user->name, (int64_t)(s->now_ms / 1000), turn,
				       sizeof(turn) - 1);
	struct iovec iov[4] = {{head, (size_t)n},
			       {s->welcome_tail, s->ice_at},
			       {turn, tn},
			       {s->welcome_tail + s->ice_at, s->welcome_tail_len - s->ice_at}};

	/* The own relay goes first: browsers try servers in order. */
	if (tn > 0 && s->ice_end > s->ice_at)
		turn[tn++] = ',';
	iov[2].iov_len = tn;
	if (ss->ops->send_text(ss->conn, iov, 4) == 0)
		s->metrics->messages_out_total++;
}

/* Reads the optional device name of a hello into ss->device. */
static int hello_device(struct w2_signal *s, struct w2_session *ss, const struct w2_req *req)
{
	long n;

	if (!req->msg->device.present) {
		memcpy(ss->device, ss->id, 8);
		ss->device[8] = '\0';
		return 0;
	}
	n = w2__span_string(req, req->msg->device, ss->device, sizeof(ss->device));
	if (n < 0 || !w2__device_valid(ss->device, (size_t)n)) {
		ss->device[0] = '\0';
		w2__send_error(s, ss, W2_PERR_BAD_MESSAGE,
			       "field \"device\" must be 1-32 characters of A-Z a-z 0-9 . _ -", req);
		return -1;
	}
	return 0;
}

/* Signs an authenticated session in as id's user: replaces a session of the
 * same device, enforces sessionsPerUser, links it and sends welcome. */
static void session_admit(struct w2_signal *s, struct w2_session *ss,
			  const struct w2_identity *id, const struct w2_req *req)
{
	struct w2_user *u = w2__user_find(s, id->user, strlen(id->user));

	replace_device(s, u, ss->device);
	u = w2__user_find(s, id->user, strlen(id->user)); /* may be gone now */
	if (u && u->n_sessions >= s->cfg->limits.sessions_per_user) {
		w2__send_error(s, ss, W2_PERR_TOO_MANY_SESSIONS,
			       "this user has reached the limit of sessions", req);
		w2__close_session(s, ss, W2_CLOSE_TOO_MANY_SESSIONS, "too many sessions");
		return;
	}
	u = user_get(s, id->user);
	if (!u) {
		w2__close_session(s, ss, W2_CLOSE_INTERNAL, "out of memory");
		return;
	}
	ss->user = u;
	ss->expires_at = id->expires_at;
	W2_DLIST_PUSH(u->sessions, ss, prev_of_user, next_of_user);
	u->n_sessions++;
	s->metrics->sessions++;
	s->metrics->sessions_total++;
	if (build_identity_strings(s, ss) != 0) {
		w2__close_session(s, ss, W2_CLOSE_INTERNAL, "out of memory");
		return;
	}
	log_session(s, ss, "session opened", req->now_ms);
	send_welcome(s, ss);
}

static void handle_hello(struct w2_signal *s, struct w2_session *ss, const struct w2_req *req)
{
	const struct w2_msg *m = req->msg;
	struct w2_identity id;
	enum w2_auth_fail why;

	if (ss->user) {
		w2__send_error(s, ss, W2_PERR_ALREADY_AUTHENTICATED,
			       "this session is already signed in", req);
		return;
	}
	if (m->v != 1) {
		w2__send_error(s, ss, W2_PERR_UNSUPPORTED_VERSION,
			       "this server speaks protocol version 1", req);
		w2__close_session(s, ss, W2_CLOSE_BAD_VERSION, "unsupported version");
		return;
	}
	why = w2_auth_verify(s->auth, req->buf + m->token.off, m->token.len,
			     (int64_t)(req->now_ms / 1000), &id);
	if (why != W2_AUTH_OK) {
		w2__send_error(s, ss, W2_PERR_UNAUTHORIZED, w2_auth_fail_message(why), req);
		w2__close_session(s, ss, W2_CLOSE_UNAUTHORIZED, "unauthorized");
		return;
	}
	if (hello_device(s, ss, req) == 0)
		session_admit(s, ss, &id, req);
}

/* `refreshed` carries the ICE servers again, so that the relay credential
 * is renewed with the token (it would otherwise expire mid-session). */
static void send_refreshed(struct w2_signal *s, struct w2_session *ss, const char *ref)
{
	char head[96], turn[W2__ICE_TURN_MAX + 1];
	size_t tn = w2__ice_turn_entry(s, ss->user->name, (int64_t)(s->now_ms / 1000), turn,
				       sizeof(turn) - 1);
	int n = snprintf(head, sizeof(head),
			 "{\"type\":\"refreshed\",\"expires\":%lld,\"iceServers\":[",
			 (long long)ss->expires_at);
	struct iovec iov[4] = {{head, (size_t)n},
			       {turn, tn},
			       {s->welcome_tail + s->ice_at, s->ice_end - s->ice_at},
			       {(char *)ref, 0}};
	char tail[4 + W2_REF_FIELD_MAX];

	if (tn > 0 && s->ice_end > s->ice_at)
		turn[tn++] = ',';
	iov[1].iov_len = tn;
	iov[3].iov_base = tail;
	iov[3].iov_len = (size_t)snprintf(tail, sizeof(tail), "]%s}", ref);
	if (ss->ops->send_text(ss->conn, iov, 4) == 0)
		s->metrics->messages_out_total++;
}

static void handle_refresh(struct w2_signal *s, struct w2_session *ss, const struct w2_req *req)
{
	struct w2_identity id;
	enum w2_auth_fail why;
	char ref[W2_REF_FIELD_MAX];

	why = w2_auth_verify(s->auth, req->buf + req->msg->token.off, req->msg->token.len,
			     (int64_t)(req->now_ms / 1000), &id);
	if (why != W2_AUTH_OK) {
		w2__send_error(s, ss, W2_PERR_UNAUTHORIZED, w2_auth_fail_message(why), req);
		return;
	}
	if (strcmp(id.user, ss->user->name) != 0) {
		w2__send_error(s, ss, W2_PERR_UNAUTHORIZED,
			       "the new token is for another user", req);
		return;
	}
	ss->expires_at = id.expires_at;
	w2__ref_field(req, ref, sizeof(ref));
	send_refreshed(s, ss, ref);
}

int w2__ref_field(const struct w2_req *req, char *out, size_t cap)
{
	const struct w2_span *id = &req->msg->id;
	int n = 0;

	/* The id was validated as a JSON string of at most W2_ID_MAX bytes, so
	 * its raw bytes are copied as they came. */
	if (id->present && id->len <= W2_ID_MAX)
		n = snprintf(out, cap, ",\"ref\":\"%.*s\"", (int)id->len, req->buf + id->off);
	if (n <= 0 || (size_t)n >= cap) {
		out[0] = '\0';
		n = 0;
	}
	return n;
}

static void handle_ping(struct w2_signal *s, struct w2_session *ss, const struct w2_req *req)
{
	char ref[W2_REF_FIELD_MAX];
	char out[W2_REF_FIELD_MAX + 32];
	int n;

	w2__ref_field(req, ref, sizeof(ref));
	n = snprintf(out, sizeof(out), "{\"type\":\"pong\"%s}", ref);
	w2__send_raw(s, ss, out, (size_t)n);
}

static void handle_unknown(struct w2_signal *s, struct w2_session *ss, const struct w2_req *req)
{
	char msg[200];
	char t[64];
	long n = w2__span_string(req, req->msg->type_str, t, sizeof(t));

	if (n < 0)
		snprintf(msg, sizeof(msg), "unknown message type");
	else
		snprintf(msg, sizeof(msg), "unknown message type \"%s\"", t);
	w2__send_error(s, ss, W2_PERR_UNKNOWN_TYPE, msg, req);
}

/* ---- dispatch ---------------------------------------------------------- */

typedef void (*handler_fn)(struct w2_signal *, struct w2_session *, const struct w2_req *);

static const struct {
	handler_fn fn;
	bool needs_session; /* anything but hello needs a signed-in session */
} handlers[] = {
	[W2_MSG_UNKNOWN] = {handle_unknown, true},
	[W2_MSG_HELLO] = {handle_hello, false},
	[W2_MSG_SIGNAL] = {w2__handle_signal, true},
	[W2_MSG_JOIN] = {w2__handle_join, true},
	[W2_MSG_LEAVE] = {w2__handle_leave, true},
	[W2_MSG_PING] = {handle_ping, true},
	[W2_MSG_REFRESH] = {handle_refresh, true},
};

/* Token bucket (messagesPerSecond, burst messageBurst). Returns true if the
 * message may pass. */
static bool bucket_take(struct w2_signal *s, struct w2_session *ss, uint64_t now_ms)
{
	const struct w2_limits *l = &s->cfg->limits;
	uint64_t cap = (uint64_t)l->message_burst * 1000;

	if (now_ms > ss->bucket_ms) {
		ss->bucket_milli += (now_ms - ss->bucket_ms) * l->messages_per_second;
		if (ss->bucket_milli > cap)
			ss->bucket_milli = cap;
		ss->bucket_ms = now_ms;
	}
	if (ss->bucket_milli < 1000)
		return false;
	ss->bucket_milli -= 1000;
	return true;
}

static void report_parse_error(struct w2_signal *s, struct w2_session *ss, enum w2_msg_err err,
			       const char *detail, const struct w2_req *req)
{
	w2__send_error(s, ss, err == W2_MSG_ERR_BAD_JSON ? W2_PERR_BAD_JSON : W2_PERR_BAD_MESSAGE,
		       detail, req);
}

void w2_signal_handle_text(struct w2_signal *s, struct w2_session *ss, const char *buf,
			   size_t len, uint64_t now_ms)
{
	struct w2_msg msg;
	char detail[W2_MSG_DETAIL_MAX];
	struct w2_req req = {buf, &msg, now_ms};
	enum w2_msg_err err;

	if (ss->detached)
		return;
	s->now_ms = now_ms;
	s->metrics->messages_in_total++;
	memset(&msg, 0, sizeof(msg));
	/* Parse before charging the bucket so that rate-limited carries the
	 * request's ref; parsing is bounded by maxMessageBytes and allocates
	 * nothing, and a flood of garbage meets the abuse limit instead. */
	err = w2_msg_parse(s->parser, buf, len, &msg, detail);
	if (!bucket_take(s, ss, now_ms)) {
		w2__send_error(s, ss, W2_PERR_RATE_LIMITED, "too many messages; slow down",
			       err == W2_MSG_OK || msg.id.present ? &req : NULL);
		return;
	}
	if (err != W2_MSG_OK) {
		report_parse_error(s, ss, err, detail, &req);
		return;
	}
	if (msg.id.present && msg.id.len > W2_ID_MAX) {
		msg.id.present = false;
		w2__send_error(s, ss, W2_PERR_BAD_MESSAGE, "field \"id\" is longer than 128 bytes",
			       &req);
		return;
	}
	if (handlers[msg.type].needs_session && !ss->user) {
		w2__send_error(s, ss, W2_PERR_NOT_AUTHENTICATED,
			       "send hello with a token before anything else", &req);
		return;
	}
	handlers[msg.type].fn(s, ss, &req);
}

void w2_signal_handle_refused(struct w2_signal *s, struct w2_session *ss, int why,
			      uint64_t now_ms)
{
	struct w2_msg msg;
	struct w2_req req = {"", &msg, now_ms};

	if (ss->detached)
		return;
	s->now_ms = now_ms;
	memset(&msg, 0, sizeof(msg));
	s->metrics->messages_in_total++;
	if (why == W2_ELIMIT)
		w2__send_error(s, ss, W2_PERR_TOO_LARGE,
			       "the message is larger than maxMessageBytes and was discarded", &req);
	else
		w2__send_error(s, ss, W2_PERR_BAD_MESSAGE,
			       "binary frames are not part of the protocol; send JSON text", &req);
}
