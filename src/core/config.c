/* webrtc2d configuration: the embedded defaults, freeing, the cross-field
 * rules (docs/operations.md, "Configuration") and the small helpers that the
 * YAML reader (config_yaml.c) and the environment (config_env.c) share
 * through config_int.h.
 *
 * Nothing here keeps state between calls. */
#include "core/config.h"
#include "core/config_int.h"

#include "core/alloc.h"
#include "core/error.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct w2_limits k_default_limits = {
    .max_message_bytes = 65536,
    .max_queued_bytes = 1048576,
    .messages_per_second = 50,
    .message_burst = 200,
    .sessions_per_user = 10,
    .rooms_per_session = 32,
    .room_size = 256,
    .max_connections = 19000,
    .abuse_threshold = 20,
    .hello_timeout_ms = 10000,
    .ping_interval_ms = 30000,
    .ping_timeout_ms = 75000,
};

/* Listeners, relay address, realm and secret are derived at start-up
 * (w2_config_resolve_turn) from the rest of the config. */
static const struct w2_turn_settings k_default_turn = {
    .enabled = true,
    .min_port = 49152,
    .max_port = 65535,
    .credential_ttl_s = W2_GUEST_TTL_DEFAULT,
    .max_allocations = 4096,
    .max_allocations_per_user = 32,
    .max_permissions = 64,
    .max_channels = 64,
    .max_lifetime_s = 3600,
    .bandwidth_bytes_per_s = 12500000, /* 100 Mbit/s */
    .unauth_requests_per_s = 50,
};

/* ---- small helpers ------------------------------------------------------- */

/* Writes a sentence into err (W2_CONFIG_ERR_MAX bytes); returns W2_ECONFIG. */
W2__PRINTF(2, 3)
int w2__config_set_err(char *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, W2_CONFIG_ERR_MAX, fmt, ap);
	va_end(ap);
	return W2_ECONFIG;
}

int w2__config_set_nomem(char *err)
{
	snprintf(err, W2_CONFIG_ERR_MAX, "out of memory");
	return W2_ENOMEM;
}

/* Copies at most 40 bytes of a user value, in quotes, for an error message.
 * Control characters become '?' so a message cannot carry terminal escapes;
 * a cut never splits a UTF-8 sequence. Returns out. */
const char *w2__config_quoted(const char *s, size_t len, char out[W2__QUOTE_MAX])
{
	size_t cut = len, n = 0;

	if (cut > 40) {
		cut = 40;
		while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
			cut--;
	}
	out[n++] = '"';
	for (size_t i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];

		out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (cut < len) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n++] = '"';
	out[n] = '\0';
	return out;
}

/* Newlines, tabs and escapes in a name or path are typing accidents (or a
 * YAML block scalar's trailing newline), never intended. */
bool w2__config_has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

/* Returns arr grown to n + 1 elements of `size` bytes, the last one zeroed,
 * or NULL (arr untouched) when out of memory. */
void *w2__config_grow_array(void *arr, size_t n, size_t size)
{
	char *a = w2_realloc(arr, (n + 1) * size);

	if (a)
		memset(a + n * size, 0, size);
	return a;
}

/* Strict decimal: digits only, no sign, no leading zero (YAML 1.1 would read
 * "010" as octal), no 0x, 1_000 or 1e3. Returns 0, W2_EINVAL or W2_ELIMIT. */
int w2__config_parse_u32(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0 || (len > 1 && s[0] == '0'))
		return W2_EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return W2_EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return W2_ELIMIT;
	}
	*out = (uint32_t)v;
	return 0;
}

static bool is_alnum_ascii(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 1035 §2.3.1 host name (letters, digits, inner hyphens; labels of 1..63
 * bytes; 253 in all; no trailing dot), which includes "localhost". */
bool w2__config_dns_name_valid(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!is_alnum_ascii(s[i]) && (s[i] != '-' || label == 0))
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0 && s[len - 1] != '-';
}

bool w2_host_is_loopback(const char *host)
{
	static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	unsigned char a[16];

	if (!host)
		return false;
	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) != 1)
		return false;
	if (memcmp(a, v4_mapped, sizeof(v4_mapped)) == 0)
		return a[12] == 127; /* ::ffff:127.0.0.0/104 */
	for (int i = 0; i < 15; i++)
		if (a[i])
			return false;
	return a[15] == 1;
}

/* Formats a listener as "host:port", with IPv6 hosts in brackets. */
const char *w2__config_listen_name(const struct w2_listen *l, char *out, size_t cap)
{
	const char *h = l->host ? l->host : "?";

	snprintf(out, cap, strchr(h, ':') ? "[%s]:%u" : "%s:%u", h, (unsigned)l->port);
	return out;
}

/* Parses "host:port" or "[ipv6]:port". The host must be numeric or
 * "localhost" (the transport binds without resolving names). On W2_EINVAL
 * `why` completes the sentence "<value> ...". *host is heap-owned. */
int w2__config_address_parse(const char *s, size_t len, char **host, uint16_t *port,
                             const char **why)
{
	char h[W2__HOST_MAX];
	const char *hs = s, *colon = NULL;
	unsigned char bin[16];
	uint32_t p;
	size_t hl;

	*why = "is not host:port (IPv6 as [::1]:8443)";
	if (len > 0 && s[0] == '[') {
		const char *end = memchr(s, ']', len);

		if (!end || end + 1 == s + len || end[1] != ':')
			return W2_EINVAL;
		hs = s + 1;
		hl = (size_t)(end - hs);
		colon = end + 1;
	} else {
		for (size_t i = len; i > 0 && !colon; i--)
			if (s[i - 1] == ':')
				colon = s + i - 1;
		if (!colon)
			return W2_EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(h))
		return W2_EINVAL;
	memcpy(h, hs, hl);
	h[hl] = '\0';
	if (w2__config_parse_u32(colon + 1, (size_t)(s + len - colon - 1), &p) != 0 || p == 0 ||
	    p > 65535) {
		*why = "has no port from 1 to 65535";
		return W2_EINVAL;
	}
	if (hs != s ? inet_pton(AF_INET6, h, bin) != 1
	            : strcmp(h, "localhost") != 0 && inet_pton(AF_INET, h, bin) != 1) {
		*why = strchr(h, ':') && hs == s
		           ? "needs brackets around an IPv6 address ([::1]:8443)"
		           : "has a host that is not a numeric IP address or localhost";
		return W2_EINVAL;
	}
	*host = w2_strdup(h);
	*port = (uint16_t)p;
	return *host ? 0 : W2_ENOMEM;
}

/* Levenshtein distance of two short strings (each cut at 40 bytes). */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t row[41], prev, tmp;

	la = la > 40 ? 40 : la;
	lb = lb > 40 ? 40 : lb;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/* True if `name` is close enough to the typed `s` to suggest it. */
bool w2__config_looks_like(const char *s, size_t len, const char *name)
{
	size_t d = edit_distance(s, len, name, strlen(name));

	return d <= 2 && d < len;
}

/* ---- tables shared between the config files -------------------------------- */

/* The YAML reader and the environment accept the same spellings. */
const struct w2__config_name_value w2__config_conn_logging[W2__CONFIG_N_CONN_LOGGING] = {
    {"none", W2_CONN_LOG_NONE},
    {"anonymous", W2_CONN_LOG_ANONYMOUS},
    {"pseudonymous", W2_CONN_LOG_PSEUDONYMOUS},
};

/* Validation and the environment walk the limits by this table; the YAML
 * reader builds its own, with handlers, from the same W2__CONFIG_LIMITS. */
#define W2__LIMIT(name) {#name, offsetof(struct w2_limits, name)},

const struct w2__config_limit w2__config_limits[W2__CONFIG_N_LIMITS] = {
    W2__CONFIG_LIMITS(W2__LIMIT)};

#undef W2__LIMIT

/* Looks `s` up in a name table; names are case-sensitive (RFC 7515 §4.1.1
 * for algorithms, and one spelling everywhere for the rest). */
int w2__config_name_lookup(const struct w2__config_name_value *t, size_t n, const char *s, int *out)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(t[i].name, s) == 0) {
			*out = t[i].value;
			return 0;
		}
	}
	return W2_EINVAL;
}

/* ---- freeing --------------------------------------------------------------- */

void w2__config_key_material_set(struct w2_auth_key *k, unsigned char *material, size_t len)
{
	if (k->material) {
		explicit_bzero(k->material, k->material_len);
		w2_free(k->material);
	}
	k->material = material;
	k->material_len = len;
}

void w2__config_listen_free(struct w2_config *cfg)
{
	for (size_t i = 0; i < cfg->n_listen; i++)
		w2_free(cfg->listen[i].host);
	w2_free(cfg->listen);
	cfg->listen = NULL;
	cfg->n_listen = 0;
}

void w2__config_keys_free(struct w2_config *cfg)
{
	for (size_t i = 0; i < cfg->n_keys; i++) {
		w2_free(cfg->keys[i].kid);
		w2__config_key_material_set(&cfg->keys[i], NULL, 0);
	}
	w2_free(cfg->keys);
	cfg->keys = NULL;
	cfg->n_keys = 0;
}

void w2__config_urls_free(struct w2_ice_server *s)
{
	for (size_t i = 0; i < s->n_urls; i++)
		w2_free(s->urls[i]);
	w2_free(s->urls);
	s->urls = NULL;
	s->n_urls = 0;
}

void w2__config_ice_free(struct w2_config *cfg)
{
	for (size_t i = 0; i < cfg->n_ice_servers; i++) {
		struct w2_ice_server *s = &cfg->ice_servers[i];

		w2__config_urls_free(s);
		w2_free(s->username);
		if (s->credential)
			explicit_bzero(s->credential, strlen(s->credential));
		w2_free(s->credential);
	}
	w2_free(cfg->ice_servers);
	cfg->ice_servers = NULL;
	cfg->n_ice_servers = 0;
}

void w2__config_role_set(struct w2_config *cfg, int role, bool on)
{
	if (role == W2__ROLE_SIGNALING)
		cfg->signaling_enabled = on;
	else if (role == W2__ROLE_TURN)
		cfg->turn.enabled = on;
}

int w2__config_cidr_append(struct w2__config_cidrs *l, const struct w2_cidr *c)
{
	struct w2_cidr *items = w2__config_grow_array(l->items, l->n, sizeof(*items));

	if (!items)
		return W2_ENOMEM;
	l->items = items;
	items[l->n++] = *c;
	return 0;
}

int w2__config_cidrs_parse_list(const char *s, struct w2_cidr **out, size_t *n,
                                const char **bad, size_t *bad_len)
{
	struct w2__config_cidrs l = {0};
	struct w2_cidr c;
	int rc = 0;

	while (rc == 0 && *s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		const char *p = s;

		while (len > 0 && *p == ' ') {
			p++;
			len--;
		}
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (l.n == W2__CIDRS_MAX || w2_cidr_parse(p, len, &c) != 0) {
			*bad = p;
			*bad_len = len;
			rc = W2_EINVAL;
		} else {
			rc = w2__config_cidr_append(&l, &c);
		}
		s = comma ? comma + 1 : s + strlen(s);
	}
	if (rc) {
		w2_free(l.items);
		return rc;
	}
	*out = l.items;
	*n = l.n;
	return 0;
}

int w2__config_turn_secret_set(struct w2_turn_settings *t, const char *s, size_t len)
{
	unsigned char *m = w2_malloc(len + 1);

	if (!m)
		return W2_ENOMEM;
	memcpy(m, s, len);
	m[len] = '\0';
	if (t->secret) {
		explicit_bzero(t->secret, t->secret_len);
		w2_free(t->secret);
	}
	t->secret = m;
	t->secret_len = len;
	return 0;
}

void w2__config_turn_listen_free(struct w2_turn_settings *t)
{
	for (size_t i = 0; i < t->n_listen; i++)
		w2_free(t->listen[i].host);
	w2_free(t->listen);
	t->listen = NULL;
	t->n_listen = 0;
}

void w2__config_turn_users_free(struct w2_turn_settings *t)
{
	for (size_t i = 0; i < t->n_users; i++) {
		w2_free(t->users[i].name);
		if (t->users[i].password)
			explicit_bzero(t->users[i].password, strlen(t->users[i].password));
		w2_free(t->users[i].password);
	}
	w2_free(t->users);
	t->users = NULL;
	t->n_users = 0;
}

static void turn_free(struct w2_turn_settings *t)
{
	w2__config_turn_listen_free(t);
	w2__config_turn_users_free(t);
	w2_free(t->relay_ip);
	w2_free(t->external_ip);
	w2_free(t->public_host);
	w2_free(t->realm);
	if (t->secret)
		explicit_bzero(t->secret, t->secret_len);
	w2_free(t->secret);
	w2_free(t->allowed_peers);
	w2_free(t->denied_peers);
}

void w2_config_destroy(struct w2_config *cfg)
{
	if (!cfg)
		return;
	turn_free(&cfg->turn);
	w2_free(cfg->domain);
	w2_free(cfg->state_dir);
	w2_free(cfg->web_root);
	w2__config_listen_free(cfg);
	w2_free(cfg->tls_cert_file);
	w2_free(cfg->tls_key_file);
	w2__config_keys_free(cfg);
	w2_free(cfg->audience);
	w2_free(cfg->issuer);
	w2__config_ice_free(cfg);
	w2_free(cfg);
}

int w2_config_default(struct w2_config **out)
{
	struct w2_config *c;

	if (!out)
		return W2_EINVAL;
	*out = NULL;
	c = w2_calloc(1, sizeof(*c));
	if (!c)
		return W2_ENOMEM;
	c->domain = w2_strdup("localhost");
	c->state_dir = w2_strdup("var");
	c->web_root = w2_strdup("web");
	c->listen = w2_calloc(1, sizeof(*c->listen));
	if (c->listen) {
		c->n_listen = 1;
		c->listen[0].host = w2_strdup("127.0.0.1");
		c->listen[0].port = 8080;
	}
	c->clock_skew_s = 60;
	/* Safe here: the default listens on 127.0.0.1 only. */
	c->guest_tokens = true;
	c->guest_token_ttl_s = W2_GUEST_TTL_DEFAULT;
	c->limits = k_default_limits;
	c->log_level = W2_LOG_LEVEL_INFO;
	c->conn_logging = W2_CONN_LOG_NONE;
	c->drain_timeout_ms = 5000;
	c->signaling_enabled = true;
	c->turn = k_default_turn;
	if (!c->domain || !c->state_dir || !c->web_root || !c->listen || !c->listen[0].host) {
		w2_config_destroy(c);
		return W2_ENOMEM;
	}
	*out = c;
	return 0;
}

int w2_config_add_key(struct w2_config *cfg, const struct w2_auth_key *key)
{
	struct w2_auth_key k = {.alg = key ? key->alg : 0};
	struct w2_auth_key *keys;

	if (!cfg || !key || (!key->material && key->material_len))
		return W2_EINVAL;
	if (key->kid && !(k.kid = w2_strdup(key->kid)))
		goto fail;
	k.material = w2_malloc(key->material_len + 1);
	if (!k.material)
		goto fail;
	if (key->material_len)
		memcpy(k.material, key->material, key->material_len);
	k.material[key->material_len] = '\0';
	k.material_len = key->material_len;
	keys = w2__config_grow_array(cfg->keys, cfg->n_keys, sizeof(*keys));
	if (!keys)
		goto fail;
	cfg->keys = keys;
	keys[cfg->n_keys++] = k;
	return 0;
fail:
	w2_free(k.kid);
	w2__config_key_material_set(&k, NULL, 0);
	return W2_ENOMEM;
}

/* ---- validation ---------------------------------------------------------------- */

static int validate_listen(const struct w2_config *cfg, char *err)
{
	char name[W2__HOST_MAX + 8];

	if (!cfg->listen || cfg->n_listen == 0)
		return w2__config_set_err(err, "listen: at least one address is needed");
	for (size_t i = 0; i < cfg->n_listen; i++) {
		const struct w2_listen *l = &cfg->listen[i];

		if (!l->host || l->port == 0)
			return w2__config_set_err(err, "listen[%zu]: no address", i);
		w2__config_listen_name(l, name, sizeof(name));
		if (!l->tls && !w2_host_is_loopback(l->host))
			return w2__config_set_err(
			    err,
			    "listen[%zu]: %s is not a loopback address and needs "
			    "tls: true",
			    i, name);
		for (size_t j = 0; j < i; j++)
			if (cfg->listen[j].port == l->port && cfg->listen[j].host &&
			    strcmp(cfg->listen[j].host, l->host) == 0)
				return w2__config_set_err(err, "listen[%zu]: %s is listed twice", i,
				                          name);
	}
	return 0;
}

static int validate_lists(const struct w2_config *cfg, char *err)
{
	for (size_t i = 0; i < cfg->n_keys; i++) {
		const struct w2_auth_key *k = &cfg->keys[i];

		if (k->alg != W2_JWT_HS256 && k->alg != W2_JWT_RS256 && k->alg != W2_JWT_ES256)
			return w2__config_set_err(err, "auth.keys[%zu]: unsupported algorithm", i);
		if (!k->material || k->material_len == 0 || k->material_len > W2__KEY_FILE_MAX)
			return w2__config_set_err(
			    err, "auth.keys[%zu]: key material missing or too large", i);
		if (k->alg == W2_JWT_HS256 && k->material_len < W2__HS256_MIN)
			return w2__config_set_err(
			    err, "auth.keys[%zu]: an HS256 secret needs at least %d bytes", i,
			    W2__HS256_MIN);
	}
	for (size_t i = 0; i < cfg->n_ice_servers; i++)
		if (cfg->ice_servers[i].n_urls == 0)
			return w2__config_set_err(err, "ice_servers[%zu]: needs at least one URL",
			                          i);
	return 0;
}

bool w2_config_can_sign(const struct w2_config *cfg)
{
	for (size_t i = 0; i < cfg->n_keys; i++)
		if (cfg->keys[i].alg == W2_JWT_HS256)
			return true;
	return cfg->n_keys == 0;
}

static int validate_guest(const struct w2_config *cfg, char *err)
{
	if (cfg->guest_token_ttl_s == 0 || cfg->guest_token_ttl_s > W2_GUEST_TTL_MAX)
		return w2__config_set_err(err, "auth.guest_token_ttl: must be 1 to %d seconds",
		                          W2_GUEST_TTL_MAX);
	if (cfg->guest_tokens && !w2_config_can_sign(cfg))
		return w2__config_set_err(err, "auth.guest_tokens: %s", W2__GUEST_NO_KEY);
	return 0;
}

static int validate_limits(const struct w2_limits *l, char *err)
{
	for (size_t i = 0; i < W2__CONFIG_N_LIMITS; i++)
		if (*(const uint32_t *)((const char *)l + w2__config_limits[i].offset) == 0)
			return w2__config_set_err(err, "limits.%s must be a positive integer",
			                          w2__config_limits[i].name);
	if (l->ping_timeout_ms <= l->ping_interval_ms)
		return w2__config_set_err(err,
		                          "limits.ping_timeout_ms (%u) must be greater than "
		                          "limits.ping_interval_ms (%u)",
		                          (unsigned)l->ping_timeout_ms,
		                          (unsigned)l->ping_interval_ms);
	if (l->max_queued_bytes < l->max_message_bytes)
		return w2__config_set_err(err,
		                          "limits.max_queued_bytes (%u) must be at least "
		                          "limits.max_message_bytes (%u)",
		                          (unsigned)l->max_queued_bytes,
		                          (unsigned)l->max_message_bytes);
	return 0;
}

int w2_config_validate(const struct w2_config *cfg, char *err)
{
	char scratch[W2_CONFIG_ERR_MAX];
	int rc;

	if (!err)
		err = scratch;
	err[0] = '\0';
	if (!cfg)
		return W2_EINVAL;
	if (!cfg->domain || !w2__config_dns_name_valid(cfg->domain))
		return w2__config_set_err(err, "domain: not a valid DNS name");
	if (!cfg->state_dir || !cfg->state_dir[0])
		return w2__config_set_err(err, "state_dir: must be set");
	if (!cfg->tls_cert_file != !cfg->tls_key_file)
		return w2__config_set_err(
		    err,
		    "tls: cert_file and key_file must be set together (only %s is "
		    "set)",
		    cfg->tls_cert_file ? "cert_file" : "key_file");
	if ((unsigned)cfg->log_level > W2_LOG_LEVEL_TRACE ||
	    (unsigned)cfg->conn_logging > W2_CONN_LOG_PSEUDONYMOUS)
		return w2__config_set_err(err, "logging: unknown level or connections mode");
	if (cfg->clock_skew_s > W2__CLOCK_SKEW_MAX)
		return w2__config_set_err(err, "auth.clock_skew: at most %d seconds",
		                          W2__CLOCK_SKEW_MAX);
	rc = validate_listen(cfg, err);
	if (rc == 0)
		rc = validate_lists(cfg, err);
	if (rc == 0)
		rc = w2__config_validate_turn(cfg, err);
	if (rc == 0)
		rc = validate_guest(cfg, err);
	if (rc == 0)
		rc = validate_limits(&cfg->limits, err);
	return rc;
}
