/* webrtc2d configuration: the WEBRTC2_* environment overrides
 * (docs/operations.md, "Configuration"), applied on top of the parsed file
 * and then validated again.
 *
 * Nothing here keeps state between calls. */
#include "core/config_int.h"

#include "core/alloc.h"
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define W2__ENV_PREFIX "WEBRTC2_"
#define W2__ENV_PREFIX_LEN 8

/* ---- environment ----------------------------------------------------------------- */

/* One variable being applied; `var` is its name, for error sentences. */
struct ectx {
	struct w2_config *cfg;
	const char *var;
	const char *value;
	char *err;
};

W2__PRINTF(2, 3)
static int env_fail(struct ectx *e, const char *fmt, ...)
{
	char msg[W2_CONFIG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return w2__config_set_err(e->err, "%s: %s", e->var, msg);
}

static const char *env_quoted(const struct ectx *e, char out[W2__QUOTE_MAX])
{
	return w2__config_quoted(e->value, strlen(e->value), out);
}

static int env_set_string(struct ectx *e, char **dst, bool optional)
{
	char *s = NULL;

	if (!e->value[0] && !optional)
		return env_fail(e, "must not be empty");
	if (strlen(e->value) > W2__STRING_MAX)
		return env_fail(e, "is too long (at most %d bytes)", W2__STRING_MAX);
	if (w2__config_has_control(e->value, strlen(e->value)))
		return env_fail(e, "must not contain control characters (newline, tab, ...)");
	if (e->value[0] && !(s = w2_strdup(e->value)))
		return w2__config_set_nomem(e->err);
	w2_free(*dst);
	*dst = s;
	return 0;
}

static int e_str(struct ectx *e, void *dst)
{
	return env_set_string(e, dst, false);
}

static int e_opt_str(struct ectx *e, void *dst)
{
	return env_set_string(e, dst, true);
}

static int e_domain(struct ectx *e, void *dst)
{
	char q[W2__QUOTE_MAX];

	if (!w2__config_dns_name_valid(e->value))
		return env_fail(e, "%s is not a valid DNS name", env_quoted(e, q));
	return env_set_string(e, dst, false);
}

static int e_u32_pos(struct ectx *e, void *dst)
{
	char q[W2__QUOTE_MAX];
	uint32_t v = 0;
	int rc = w2__config_parse_u32(e->value, strlen(e->value), &v);

	if (rc == W2_ELIMIT)
		return env_fail(e, "%s is out of range (at most 4294967295)", env_quoted(e, q));
	if (rc != 0 || v == 0)
		return env_fail(e, "expected a positive integer, got %s", env_quoted(e, q));
	*(uint32_t *)dst = v;
	return 0;
}

static int e_guest_tokens(struct ectx *e, void *dst)
{
	char q[W2__QUOTE_MAX];
	bool on = strcmp(e->value, "true") == 0;

	if (!on && strcmp(e->value, "false") != 0)
		return env_fail(e, "expected true or false, got %s", env_quoted(e, q));
	/* Keys come from the file only, so they are final here. */
	if (on && !w2_config_can_sign(e->cfg))
		return env_fail(e, "%s", W2__GUEST_NO_KEY);
	*(bool *)dst = on;
	return 0;
}

static int e_guest_ttl(struct ectx *e, void *dst)
{
	char q[W2__QUOTE_MAX];
	uint32_t v = 0;
	int rc = w2__config_parse_u32(e->value, strlen(e->value), &v);

	if (rc == W2_EINVAL || (rc == 0 && v == 0))
		return env_fail(e, "expected a positive integer, got %s", env_quoted(e, q));
	if (rc != 0 || v > W2_GUEST_TTL_MAX)
		return env_fail(e, "%s is out of range (at most %d)", env_quoted(e, q),
		                W2_GUEST_TTL_MAX);
	*(uint32_t *)dst = v;
	return 0;
}

static int e_log_level(struct ectx *e, void *dst)
{
	char q[W2__QUOTE_MAX];

	if (w2_log_level_parse(e->value, dst) != 0)
		return env_fail(e, "unknown level %s (use error, warn, info, debug or trace)",
		                env_quoted(e, q));
	return 0;
}

static int e_conn_logging(struct ectx *e, void *dst)
{
	char q[W2__QUOTE_MAX];
	int v;

	if (w2__config_name_lookup(w2__config_conn_logging, W2__CONFIG_N_CONN_LOGGING, e->value,
	                           &v) != 0)
		return env_fail(e, "unknown mode %s (use none, anonymous or pseudonymous)",
		                env_quoted(e, q));
	*(enum w2_conn_logging *)dst = (enum w2_conn_logging)v;
	return 0;
}

/* Parses one address of WEBRTC2_LISTEN into `l` (tls from the address). */
static int env_listen_one(struct ectx *e, const char *s, size_t len, struct w2_listen *l)
{
	char q[W2__QUOTE_MAX];
	const char *why;
	int rc;

	while (len > 0 && s[0] == ' ') {
		s++;
		len--;
	}
	while (len > 0 && s[len - 1] == ' ')
		len--;
	rc = w2__config_address_parse(s, len, &l->host, &l->port, &why);
	if (rc == W2_ENOMEM)
		return w2__config_set_nomem(e->err);
	if (rc != 0)
		return env_fail(e, "%s %s", w2__config_quoted(s, len, q), why);
	l->tls = !w2_host_is_loopback(l->host);
	return 0;
}

/* "addr,addr,...": replaces the listeners once the whole list is parsed. */
static int e_listen(struct ectx *e, void *dst)
{
	struct w2_config tmp = {0};
	const char *s = e->value;
	int rc = 0;

	do {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		struct w2_listen *l;

		if (tmp.n_listen == W2__LISTEN_MAX) {
			rc = env_fail(e, "too many addresses (at most %d)", W2__LISTEN_MAX);
			break;
		}
		l = w2__config_grow_array(tmp.listen, tmp.n_listen, sizeof(*l));
		if (!l) {
			rc = w2__config_set_nomem(e->err);
			break;
		}
		tmp.listen = l;
		rc = env_listen_one(e, s, len, &l[tmp.n_listen++]);
		s = comma ? comma + 1 : NULL;
	} while (rc == 0 && s);
	if (rc == 0) {
		w2__config_listen_free(e->cfg);
		e->cfg->listen = tmp.listen;
		e->cfg->n_listen = tmp.n_listen;
		return 0;
	}
	w2__config_listen_free(&tmp);
	return rc;
}

/* "signaling,turn": replaces the roles. */
static int e_roles(struct ectx *e, void *dst)
{
	return w2_config_set_roles(e->cfg, e->value, e->err) == 0 ? 0 : W2_ECONFIG;
}

/* "10.0.0.0/8, 127.0.0.0/8": replaces the list; "" empties it. */
static int e_cidrs(struct ectx *e, struct w2_cidr **list, size_t *n)
{
	char q[W2__QUOTE_MAX];
	struct w2_cidr *items = NULL;
	size_t count = 0, bad_len = 0;
	const char *bad = NULL;
	int rc = w2__config_cidrs_parse_list(e->value, &items, &count, &bad, &bad_len);

	if (rc == W2_ENOMEM)
		return w2__config_set_nomem(e->err);
	if (rc)
		return env_fail(e, "%s is not an address range like 10.0.0.0/8 (host bits must "
		                "be zero; at most %d ranges)", w2__config_quoted(bad, bad_len, q),
		                W2__CIDRS_MAX);
	w2_free(*list);
	*list = items;
	*n = count;
	return 0;
}

static int e_allowed_peers(struct ectx *e, void *dst)
{
	return e_cidrs(e, &e->cfg->turn.allowed_peers, &e->cfg->turn.n_allowed_peers);
}

static int e_denied_peers(struct ectx *e, void *dst)
{
	return e_cidrs(e, &e->cfg->turn.denied_peers, &e->cfg->turn.n_denied_peers);
}

static int e_turn_secret(struct ectx *e, void *dst)
{
	if (!e->value[0])
		return env_fail(e, "must not be empty");
	if (w2__config_turn_secret_set(&e->cfg->turn, e->value, strlen(e->value)) != 0)
		return w2__config_set_nomem(e->err);
	return 0;
}

/* "127.0.0.1:3478,127.0.0.1:5349/tls": replaces the TURN listeners. */
static int e_turn_listen(struct ectx *e, void *dst)
{
	struct w2_turn_settings tmp = {0};
	const char *s = e->value;
	int rc = 0;

	while (rc == 0 && s && *s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		bool tls = len > 4 && memcmp(s + len - 4, "/tls", 4) == 0;
		struct w2_listen *l = w2__config_grow_array(tmp.listen, tmp.n_listen, sizeof(*l));

		if (!l) {
			rc = w2__config_set_nomem(e->err);
			break;
		}
		tmp.listen = l;
		l = &l[tmp.n_listen++];
		rc = tmp.n_listen > W2__LISTEN_MAX
		         ? env_fail(e, "too many addresses (at most %d)", W2__LISTEN_MAX)
		         : env_listen_one(e, s, tls ? len - 4 : len, l);
		l->tls = tls;
		s = comma ? comma + 1 : NULL;
	}
	if (rc == 0) {
		w2__config_turn_listen_free(&e->cfg->turn);
		e->cfg->turn.listen = tmp.listen;
		e->cfg->turn.n_listen = tmp.n_listen;
		return 0;
	}
	w2__config_turn_listen_free(&tmp);
	return rc;
}

int w2_config_set_roles(struct w2_config *cfg, const char *list, char *err)
{
	char q[W2__QUOTE_MAX];
	bool sig = false, turn = false;
	const char *s = list;

	while (*s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);

		if (len == 9 && memcmp(s, "signaling", 9) == 0)
			sig = true;
		else if (len == 4 && memcmp(s, "turn", 4) == 0)
			turn = true;
		else
			return w2__config_set_err(err, "roles: unknown role %s (use signaling, turn "
			                          "or both, comma-separated)",
			                          w2__config_quoted(s, len, q));
		s = comma ? comma + 1 : s + len;
	}
	if (!sig && !turn)
		return w2__config_set_err(err, "roles: at least one role is needed (signaling, "
		                          "turn)");
	cfg->signaling_enabled = sig;
	cfg->turn.enabled = turn;
	return 0;
}

struct env_var {
	const char *name; /* after WEBRTC2_ */
	int (*apply)(struct ectx *e, void *dst);
	size_t offset; /* of the destination in struct w2_config */
};

static const struct env_var k_env_vars[] = {
    {"DOMAIN", e_domain, offsetof(struct w2_config, domain)},
    {"STATE_DIR", e_str, offsetof(struct w2_config, state_dir)},
    {"WEB_ROOT", e_opt_str, offsetof(struct w2_config, web_root)},
    {"LISTEN", e_listen, 0},
    {"TLS_CERT_FILE", e_opt_str, offsetof(struct w2_config, tls_cert_file)},
    {"TLS_KEY_FILE", e_opt_str, offsetof(struct w2_config, tls_key_file)},
    {"AUTH_AUDIENCE", e_opt_str, offsetof(struct w2_config, audience)},
    {"AUTH_ISSUER", e_opt_str, offsetof(struct w2_config, issuer)},
    {"AUTH_GUEST_TOKENS", e_guest_tokens, offsetof(struct w2_config, guest_tokens)},
    {"AUTH_GUEST_TOKEN_TTL", e_guest_ttl, offsetof(struct w2_config, guest_token_ttl_s)},
    {"ROLES", e_roles, 0},
    {"TURN_LISTEN", e_turn_listen, 0},
    {"TURN_RELAY_IP", e_opt_str, offsetof(struct w2_config, turn.relay_ip)},
    {"TURN_EXTERNAL_IP", e_opt_str, offsetof(struct w2_config, turn.external_ip)},
    {"TURN_PUBLIC_HOST", e_opt_str, offsetof(struct w2_config, turn.public_host)},
    {"TURN_SECRET", e_turn_secret, 0},
    {"TURN_ALLOWED_PEER_RANGES", e_allowed_peers, 0},
    {"TURN_DENIED_PEER_RANGES", e_denied_peers, 0},
    {"LOG_LEVEL", e_log_level, offsetof(struct w2_config, log_level)},
    {"LOG_CONNECTIONS", e_conn_logging, offsetof(struct w2_config, conn_logging)},
};

#define W2__N_ENV (sizeof(k_env_vars) / sizeof(k_env_vars[0]))
#define W2__ENV_LIMITS "LIMITS_"

/* True if `s` (len bytes) is "LIMITS_" followed by the upper-case `field`. */
static bool env_is_limit(const char *s, size_t len, const char *field)
{
	size_t pl = strlen(W2__ENV_LIMITS), fl = strlen(field);

	if (len != pl + fl || memcmp(s, W2__ENV_LIMITS, pl) != 0)
		return false;
	for (size_t i = 0; i < fl; i++) {
		char c = field[i];

		if (s[pl + i] != ((c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c))
			return false;
	}
	return true;
}

static int env_unknown(struct ectx *e, const char *s, size_t len)
{
	char cand[64];

	for (size_t i = 0; i < W2__N_ENV; i++)
		if (w2__config_looks_like(s, len, k_env_vars[i].name))
			return env_fail(e, "unknown variable (did you mean WEBRTC2_%s?)",
			                k_env_vars[i].name);
	for (size_t i = 0; i < W2__CONFIG_N_LIMITS; i++) {
		size_t n = (size_t)snprintf(cand, sizeof(cand), W2__ENV_LIMITS "%s",
		                            w2__config_limits[i].name);

		for (size_t j = 0; j < n && j < sizeof(cand); j++)
			if (cand[j] >= 'a' && cand[j] <= 'z')
				cand[j] = (char)(cand[j] - 'a' + 'A');
		if (w2__config_looks_like(s, len, cand))
			return env_fail(e, "unknown variable (did you mean WEBRTC2_%s?)", cand);
	}
	return env_fail(e, "unknown variable (docs/operations.md lists them)");
}

/* Applies one WEBRTC2_NAME=value entry; `s` is NAME, len bytes. */
static int env_apply_one(struct ectx *e, const char *s, size_t len)
{
	for (size_t i = 0; i < W2__N_ENV; i++)
		if (strlen(k_env_vars[i].name) == len && memcmp(k_env_vars[i].name, s, len) == 0)
			return k_env_vars[i].apply(e, (char *)e->cfg + k_env_vars[i].offset);
	for (size_t i = 0; i < W2__CONFIG_N_LIMITS; i++)
		if (env_is_limit(s, len, w2__config_limits[i].name))
			return e_u32_pos(e, (char *)&e->cfg->limits + w2__config_limits[i].offset);
	if (len == 6 && memcmp(s, "CONFIG", 6) == 0)
		return 0; /* the daemon's config path, read in main() */
	return env_unknown(e, s, len);
}

int w2_config_apply_env(struct w2_config *cfg, char *const *envp, char *err)
{
	char scratch[W2_CONFIG_ERR_MAX], var[64];
	struct ectx e = {.cfg = cfg, .var = var, .err = err ? err : scratch};
	int rc;

	e.err[0] = '\0';
	if (!cfg)
		return W2_EINVAL;
	for (size_t i = 0; envp && envp[i]; i++) {
		const char *eq = strchr(envp[i], '=');
		size_t len;

		if (strncmp(envp[i], W2__ENV_PREFIX, W2__ENV_PREFIX_LEN) != 0 || !eq)
			continue;
		len = (size_t)(eq - envp[i]);
		snprintf(var, sizeof(var), "%.*s%s", len < 48 ? (int)len : 48, envp[i],
		         len < 48 ? "" : "...");
		e.value = eq + 1;
		rc = env_apply_one(&e, envp[i] + W2__ENV_PREFIX_LEN, len - W2__ENV_PREFIX_LEN);
		if (rc)
			return rc;
	}
	return w2_config_validate(cfg, e.err);
}
