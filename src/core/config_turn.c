/* webrtc2d configuration: the TURN role's derived defaults and its
 * validation (docs/turn.md, "Configuration").
 *
 * The YAML and environment parsers fill struct w2_turn_settings; what is
 * left empty there is derived here from the rest of the config, once the
 * environment has been applied, so that WEBRTC2_LISTEN moves TURN along
 * with signaling. */
#include "core/config_int.h"

#include "core/alloc.h"
#include "core/error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define TURN_PORT 3478  /* RFC 8656 section 3.1: "turn" over UDP and TCP */
#define TURNS_PORT 5349 /* "turns": TLS */

static bool ip_numeric(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return s && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

static bool ip_wildcard(const char *s)
{
	return strcmp(s, "0.0.0.0") == 0 || strcmp(s, "::") == 0;
}

/* "localhost" is the only name a listener may use; sockets want numbers. */
static const char *numeric_host(const char *host)
{
	return strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
}

static bool any_tls(const struct w2_config *cfg)
{
	for (size_t i = 0; i < cfg->n_listen; i++)
		if (cfg->listen[i].tls)
			return true;
	return cfg->tls_cert_file != NULL;
}

static int add_listener(struct w2_turn_settings *t, const char *host, uint16_t port, bool tls)
{
	struct w2_listen *l = w2__config_grow_array(t->listen, t->n_listen, sizeof(*l));

	if (!l)
		return W2_ENOMEM;
	t->listen = l;
	l[t->n_listen].host = w2_strdup(host);
	if (!l[t->n_listen].host)
		return W2_ENOMEM;
	l[t->n_listen].port = port;
	l[t->n_listen].tls = tls;
	t->n_listen++;
	return 0;
}

static int set_default(char **dst, const char *value)
{
	if (*dst || !value)
		return 0;
	*dst = w2_strdup(value);
	return *dst ? 0 : W2_ENOMEM;
}

int w2_config_resolve_turn(struct w2_config *cfg, char *err)
{
	struct w2_turn_settings *t = &cfg->turn;
	const char *host = cfg->n_listen ? numeric_host(cfg->listen[0].host) : "127.0.0.1";
	int rc = 0;

	if (t->n_listen == 0) {
		rc = add_listener(t, host, TURN_PORT, false);
		if (rc == 0 && any_tls(cfg))
			rc = add_listener(t, host, TURNS_PORT, true);
	}
	for (size_t i = 0; rc == 0 && i < t->n_listen; i++) {
		const char *h = numeric_host(t->listen[i].host);

		if (h != t->listen[i].host) {
			w2_free(t->listen[i].host);
			t->listen[i].host = w2_strdup(h);
			rc = t->listen[i].host ? 0 : W2_ENOMEM;
		}
	}
	if (rc == 0 && !t->relay_ip && t->n_listen && !ip_wildcard(t->listen[0].host))
		rc = set_default(&t->relay_ip, t->listen[0].host);
	if (rc == 0)
		rc = set_default(&t->public_host, t->external_ip ? t->external_ip : t->relay_ip);
	if (rc == 0)
		rc = set_default(&t->realm, cfg->domain);
	if (rc != 0)
		return w2__config_set_nomem(err);
	if (t->enabled && !t->relay_ip)
		return w2__config_set_err(err, "turn.relay_ip: needed when TURN listens on a "
		                          "wildcard address");
	return 0;
}

static int validate_turn_addresses(const struct w2_turn_settings *t, char *err)
{
	for (size_t i = 0; i < t->n_listen; i++)
		if (!ip_numeric(t->listen[i].host))
			return w2__config_set_err(err, "turn.listen[%zu]: the host must be a numeric "
			                          "IPv4 or IPv6 address", i);
	if (t->relay_ip && (!ip_numeric(t->relay_ip) || ip_wildcard(t->relay_ip)))
		return w2__config_set_err(err, "turn.relay_ip: must be one numeric IPv4 or IPv6 "
		                          "address (not a wildcard): relayed addresses are sent "
		                          "to clients");
	if (t->external_ip && !ip_numeric(t->external_ip))
		return w2__config_set_err(err, "turn.external_ip: must be a numeric IP address");
	return 0;
}

int w2__config_validate_turn(const struct w2_config *cfg, char *err)
{
	const struct w2_turn_settings *t = &cfg->turn;
	int rc;

	if (!cfg->signaling_enabled && !t->enabled)
		return w2__config_set_err(err, "roles: at least one role is needed");
	if (t->min_port == 0 || t->min_port > t->max_port)
		return w2__config_set_err(err, "turn.min_port (%u) must be 1..turn.max_port (%u)",
		                          (unsigned)t->min_port, (unsigned)t->max_port);
	if (t->min_port == t->max_port && (t->min_port & 1u))
		return w2__config_set_err(err, "turn.min_port..turn.max_port must hold an even "
		                          "port (relay ports are even: docs/turn.md)");
	if (t->secret && t->secret_len < W2__TURN_SECRET_MIN)
		return w2__config_set_err(err, "turn.secret: needs at least %d bytes",
		                          W2__TURN_SECRET_MIN);
	if (t->max_lifetime_s < 600)
		return w2__config_set_err(err, "turn.max_lifetime: at least 600 seconds (the "
		                          "default allocation lifetime, RFC 8656 section 3.2)");
	if (t->max_allocations_per_user > t->max_allocations)
		return w2__config_set_err(err, "turn.max_allocations_per_user must not exceed "
		                          "turn.max_allocations");
	rc = validate_turn_addresses(t, err);
	for (size_t i = 0; rc == 0 && i < t->n_users; i++)
		if (!t->users[i].name || !t->users[i].name[0] || !t->users[i].password)
			rc = w2__config_set_err(err, "turn.users[%zu]: needs a name and a password", i);
	return rc;
}
