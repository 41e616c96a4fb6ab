/* The small JSON API beside the static files (docs/protocol.md, "HTTP API"):
 *
 *   POST /auth/guest?name=NAME   a guest token for a free user name
 *   GET  /api/info               what the web app needs to pick its sign-in form
 *
 * The decisions (on or off, rate, name rules, who is online, signing) are
 * the signaling engine's (src/signal/guest.c); this file reads the request
 * and writes the answer. Every answer is JSON and never cached: a token must
 * not land in a shared cache, and the info changes with a reload. */
#include "transport/transport_int.h"

#include "core/alloc.h"
#include "core/log.h"
#include "signal/auth.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define MOD "http"
#define JSON_TYPE "application/json"
#define NO_STORE "Cache-Control: no-store\r\n"

/* Error answers of the API: status, wire code, sentence for a person. */
enum api_err {
	API_ERR_GUEST_DISABLED,
	API_ERR_RATE_LIMITED,
	API_ERR_BAD_NAME,
	API_ERR_NAME_TAKEN,
	API_ERR_INTERNAL,
	API_ERR_METHOD,
	API_ERR_BODY,
	API_ERR_COUNT_
};

static const struct {
	int status;
	const char *code;
	const char *message;
	const char *extra; /* more header lines */
} k_api_errors[API_ERR_COUNT_] = {
	[API_ERR_GUEST_DISABLED] = {404, "guest-disabled",
				    "Guest sign-in is off on this server; sign in with a token.",
				    NULL},
	[API_ERR_RATE_LIMITED] = {429, "rate-limited",
				  "Too many guest sign-ins at once; try again in a second.",
				  "Retry-After: 1\r\n"},
	[API_ERR_BAD_NAME] = {400, "bad-name",
			      "A name is 1 to 64 of the characters A-Z a-z 0-9 . _ - and does not "
			      "start with a dot.",
			      NULL},
	[API_ERR_NAME_TAKEN] = {409, "name-taken",
				"Someone with this name is signed in right now; choose another "
				"name.",
				NULL},
	[API_ERR_INTERNAL] = {500, "internal", "The server could not sign a token.", NULL},
	[API_ERR_METHOD] = {405, "method-not-allowed", "Guest sign-in takes a POST request.",
			    "Allow: POST\r\n"},
	[API_ERR_BODY] = {413, "body-not-accepted",
			  "Guest sign-in takes no request body; the name goes in the query.",
			  NULL},
};

/* The engine's outcome -> the error answered (OK has none). */
static const enum api_err k_guest_errors[W2_GUEST_RESULT_COUNT_] = {
	[W2_GUEST_DISABLED] = API_ERR_GUEST_DISABLED,
	[W2_GUEST_RATE_LIMITED] = API_ERR_RATE_LIMITED,
	[W2_GUEST_BAD_NAME] = API_ERR_BAD_NAME,
	[W2_GUEST_NAME_TAKEN] = API_ERR_NAME_TAKEN,
	[W2_GUEST_FAILED] = API_ERR_INTERNAL,
};

/* Answers error e; with head (a HEAD request) the body is left out. */
static void api_error(struct w2_conn *c, enum api_err e, bool head, bool keep_alive)
{
	char body[256], extra[64];
	int n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"message\":\"%s\"}",
			 k_api_errors[e].code, k_api_errors[e].message);

	snprintf(extra, sizeof(extra), NO_STORE "%s",
		 k_api_errors[e].extra ? k_api_errors[e].extra : "");
	W2_LOG_DEBUG(MOD, "api answer status=%d error=%s", k_api_errors[e].status,
		     k_api_errors[e].code);
	w2__http_respond(c, k_api_errors[e].status, JSON_TYPE, extra, body, (size_t)n, head,
			 keep_alive);
}

int w2__api_guest_head(struct w2_conn *c, int method, bool has_body)
{
	if (method != HTTP_POST) {
		api_error(c, API_ERR_METHOD, method == HTTP_HEAD, false);
		return -1;
	}
	if (has_body) {
		api_error(c, API_ERR_BODY, false, false);
		return -1;
	}
	return 0;
}

/* Percent-decodes the `len` bytes at s ('+' is a space, as in HTML forms)
 * into out of `cap` bytes, NUL-terminated. Returns the decoded length, or -1
 * for a bad escape, a NUL byte or a value that does not fit. */
static long query_decode(const char *s, size_t len, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char ch = s[i] == '+' ? ' ' : s[i];

		if (ch == '%') {
			int a = i + 2 < len ? w2__http_hexval(s[i + 1]) : -1;
			int b = i + 2 < len ? w2__http_hexval(s[i + 2]) : -1;

			if (a < 0 || b < 0)
				return -1;
			ch = (char)(a * 16 + b);
			i += 2;
		}
		if (ch == '\0' || n + 1 >= cap)
			return -1;
		out[n++] = ch;
	}
	out[n] = '\0';
	return (long)n;
}

/* Finds the one `key=value` pair of the URL's query and decodes its value
 * into out (cap bytes). Returns its length, or -1 if it is absent, repeated
 * (which of two names would be meant?) or malformed. */
static long query_value(const char *url, size_t url_len, const char *key, char *out, size_t cap)
{
	struct http_parser_url u;
	size_t kl = strlen(key), qlen;
	const char *q;
	long found = -1;

	http_parser_url_init(&u);
	if (http_parser_parse_url(url, url_len, 0, &u) != 0 || !(u.field_set & (1 << UF_QUERY)))
		return -1;
	q = url + u.field_data[UF_QUERY].off;
	qlen = u.field_data[UF_QUERY].len;
	while (qlen > 0) {
		const char *amp = memchr(q, '&', qlen);
		size_t pl = amp ? (size_t)(amp - q) : qlen;

		if (pl > kl && memcmp(q, key, kl) == 0 && q[kl] == '=') {
			if (found >= 0)
				return -1;
			found = query_decode(q + kl + 1, pl - kl - 1, out, cap);
			if (found < 0)
				return -1;
		}
		q += pl + (amp ? 1 : 0);
		qlen -= pl + (amp ? 1 : 0);
	}
	return found;
}

/* {"token":"<JWT>","peer":"<user>@<domain>","expires":<unix>}. User names
 * and domains are plain ASCII without quotes or backslashes, and a JWT is
 * base64url and dots, so nothing needs escaping. */
static void send_grant(struct w2_conn *c, const char *user, const struct w2_guest_grant *g,
		       bool keep_alive)
{
	const char *domain = c->srv->cfg->domain;
	size_t cap = strlen(g->token) + strlen(user) + strlen(domain) + 64;
	char *body = w2_malloc(cap);
	int n;

	if (!body) {
		api_error(c, API_ERR_INTERNAL, false, false);
		return;
	}
	n = snprintf(body, cap, "{\"token\":\"%s\",\"peer\":\"%s@%s\",\"expires\":%" PRId64 "}",
		     g->token, user, domain, g->expires_at);
	w2__http_respond(c, 200, JSON_TYPE, NO_STORE, body, (size_t)n, false, keep_alive);
	explicit_bzero(body, cap); /* the token is a credential */
	w2_free(body);
}

void w2__api_guest(struct w2_conn *c, bool head, bool keep_alive)
{
	char user[W2_USER_MAX + 2]; /* one more than a name: longer is refused */
	struct w2_guest_grant g;
	enum w2_guest_result r;
	long len = query_value(c->http->url, c->http->url_len, "name", user, sizeof(user));

	if (len < 0) {
		len = 0;
		user[0] = '\0';
	}
	/* A missing name still reaches the engine: it counts against the
	 * rate limit and is answered bad-name there (or guest-disabled). */
	r = w2_signal_guest_token(c->srv->engine, user, (size_t)len, w2__now_ms(), &g);
	if (r != W2_GUEST_OK) {
		api_error(c, k_guest_errors[r], false, keep_alive && r != W2_GUEST_FAILED);
		return;
	}
	W2_LOG_DEBUG(MOD, "guest token issued");
	send_grant(c, user, &g, keep_alive);
	explicit_bzero(g.token, strlen(g.token));
	w2_free(g.token);
}

void w2__api_info(struct w2_conn *c, bool head, bool keep_alive)
{
	const struct w2_config *cfg = c->srv->cfg;
	char body[384];
	int n = snprintf(body, sizeof(body), "{\"v\":1,\"domain\":\"%s\",\"guestTokens\":%s}",
			 cfg->domain, cfg->guest_tokens ? "true" : "false");

	if (n < 0 || (size_t)n >= sizeof(body)) {
		api_error(c, API_ERR_INTERNAL, head, false);
		return;
	}
	w2__http_respond(c, 200, JSON_TYPE, NO_STORE, body, (size_t)n, head, keep_alive);
}
