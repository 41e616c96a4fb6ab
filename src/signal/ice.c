/* The ICE servers a session is given: the configured ones, and in front of
 * them the daemon's own TURN relay with a credential minted for this user
 * (TURN REST API scheme, src/turn/turn.h), in `welcome` and `refreshed`.
 *
 * The URLs are rendered once per config; only the credential is per
 * session. */
#include "signal/signal_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "turn/turn.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define URLS_CAP 2048

/* TURN credentials are handed out when a secret is known (the TURN role's,
 * or a relay elsewhere sharing turn.secret) and there is a place to send
 * clients to. */
static bool turn_offered(const struct w2_config *c)
{
	return c->turn.secret && c->turn.public_host && c->turn.n_listen > 0;
}

static int put_url(char *out, size_t cap, size_t *n, const char *scheme, const char *host,
		   uint16_t port, const char *transport)
{
	bool v6 = strchr(host, ':') != NULL;
	int k = snprintf(out + *n, cap - *n, "%s\"%s:%s%s%s:%u?transport=%s\"", *n > 1 ? "," : "",
			 scheme, v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)port, transport);

	if (k < 0 || (size_t)k >= cap - *n)
		return W2_ELIMIT;
	*n += (size_t)k;
	return 0;
}

int w2__ice_render_turn_urls(struct w2_signal *s)
{
	const struct w2_turn_settings *t = &s->cfg->turn;
	char *buf;
	size_t n = 0;
	int rc = 0;

	w2_free(s->turn_urls);
	s->turn_urls = NULL;
	if (!turn_offered(s->cfg))
		return 0;
	buf = w2_malloc(URLS_CAP);
	if (!buf)
		return W2_ENOMEM;
	buf[n++] = '[';
	for (size_t i = 0; rc == 0 && i < t->n_listen; i++) {
		const struct w2_listen *l = &t->listen[i];

		if (l->tls) {
			rc = put_url(buf, URLS_CAP, &n, "turns", t->public_host, l->port, "tcp");
			continue;
		}
		rc = put_url(buf, URLS_CAP, &n, "turn", t->public_host, l->port, "udp");
		if (rc == 0)
			rc = put_url(buf, URLS_CAP, &n, "turn", t->public_host, l->port, "tcp");
	}
	if (rc != 0 || n + 2 > URLS_CAP) {
		w2_free(buf);
		return W2_ELIMIT;
	}
	buf[n++] = ']';
	buf[n] = '\0';
	s->turn_urls = buf;
	return 0;
}

size_t w2__ice_turn_entry(const struct w2_signal *s, const char *user, int64_t now_s, char *out,
			  size_t cap)
{
	const struct w2_turn_settings *t = &s->cfg->turn;
	char username[W2_TURN_REST_USER_MAX], password[W2_TURN_REST_PASS_MAX];
	int n;

	if (!s->turn_urls ||
	    w2_turn_rest_credential(t->secret, t->secret_len, user,
				    now_s + (int64_t)t->credential_ttl_s, username, password) != 0)
		return 0;
	/* The user name is [A-Za-z0-9._-] and the rest digits, ':' and base64:
	 * nothing in either needs JSON escaping. */
	n = snprintf(out, cap, "{\"urls\":%s,\"username\":\"%s\",\"credential\":\"%s\"}",
		     s->turn_urls, username, password);
	sodium_memzero(password, sizeof(password));
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
