/* webrtc2d configuration: parsed from YAML, overridden by WEBRTC2_* environment
 * variables, validated, then frozen and passed around as `const struct
 * w2_config *`. No module keeps a global copy.
 *
 * Every string is owned by the config and freed by w2_config_destroy(). */
#ifndef W2_CORE_CONFIG_H
#define W2_CORE_CONFIG_H

#include "core/cidr.h"
#include "core/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define W2_CONFIG_ERR_MAX 256
#define W2_GUEST_TTL_DEFAULT 43200     /* seconds: 12 hours */
#define W2_GUEST_TTL_MAX (366 * 86400) /* what `webrtc2d token --ttl` allows */

/* One listening socket. `host` is a numeric IPv4/IPv6 address or "localhost". */
struct w2_listen {
	char *host;
	uint16_t port;
	bool tls; /* forced true for any non-loopback address (see validation) */
};

enum w2_jwt_alg {
	W2_JWT_HS256 = 1,
	W2_JWT_RS256,
	W2_JWT_ES256,
};

/* A key that may sign users' tokens. HS256 keys hold a shared secret;
 * RS256/ES256 keys hold a PEM public key. A token is only accepted by a key
 * whose `alg` equals the token's header algorithm. */
struct w2_auth_key {
	char *kid;          /* optional: matches the JWT header "kid" */
	enum w2_jwt_alg alg;
	unsigned char *material; /* HS: secret bytes; RS/ES: PEM text */
	size_t material_len;
};

struct w2_ice_server {
	char **urls;
	size_t n_urls;
	char *username;   /* optional */
	char *credential; /* optional */
};

struct w2_limits {
	uint32_t max_message_bytes;    /* largest accepted frame payload */
	uint32_t max_queued_bytes;     /* per connection; a slower reader is dropped */
	uint32_t messages_per_second;  /* token bucket refill rate per session */
	uint32_t message_burst;        /* token bucket size */
	uint32_t sessions_per_user;
	uint32_t rooms_per_session;
	uint32_t room_size;
	uint32_t max_connections;      /* per process */
	uint32_t abuse_threshold;      /* client errors before a 1008 close */
	uint32_t hello_timeout_ms;     /* time allowed between connect and hello */
	uint32_t ping_interval_ms;     /* WebSocket ping period */
	uint32_t ping_timeout_ms;      /* no pong for this long: drop the peer */
};

/* A long-term TURN user from the config, for clients that cannot fetch
 * REST credentials from signaling (RFC 8489 section 9.2). */
struct w2_turn_user {
	char *name;
	char *password;
};

/* The STUN/TURN role (src/turn/, docs/turn.md). Frozen like the rest. */
struct w2_turn_settings {
	bool enabled;                 /* the role runs (roles: [..., turn]) */
	struct w2_listen *listen;     /* UDP and TCP on each; tls: TLS over TCP */
	size_t n_listen;
	char *relay_ip;               /* relay sockets bind here (numeric) */
	char *external_ip;            /* advertised instead of relay_ip (NAT); NULL: none */
	char *public_host;            /* host put in turn: URLs handed to clients */
	uint16_t min_port, max_port;  /* relay port range, inclusive */
	char *realm;                  /* defaults to the domain */
	unsigned char *secret;        /* TURN REST API shared secret (NULL: generated) */
	size_t secret_len;
	uint32_t credential_ttl_s;    /* lifetime of credentials handed out in welcome */
	struct w2_turn_user *users;
	size_t n_users;
	uint32_t max_allocations;           /* in total */
	uint32_t max_allocations_per_user;
	uint32_t max_permissions;           /* per allocation */
	uint32_t max_channels;              /* per allocation */
	uint32_t max_lifetime_s;            /* longest LIFETIME granted (default 3600) */
	uint32_t bandwidth_bytes_per_s;     /* per allocation, both directions; 0: no cap */
	uint32_t unauth_requests_per_s;     /* per source address, unauthenticated */
	struct w2_cidr *allowed_peers;      /* exceptions to the internal-address ban */
	size_t n_allowed_peers;
	struct w2_cidr *denied_peers;       /* refused even when public */
	size_t n_denied_peers;
};

enum w2_conn_logging {
	W2_CONN_LOG_NONE = 0,      /* no per-connection log lines at all */
	W2_CONN_LOG_ANONYMOUS,     /* connect/disconnect events without identity */
	W2_CONN_LOG_PSEUDONYMOUS,  /* plus a keyed hash of the user, key rotated daily */
};

struct w2_config {
	char *domain;         /* users are name@domain */
	char *state_dir;      /* SQLite database and generated secrets */
	char *web_root;       /* static files served at / (NULL: none) */
	struct w2_listen *listen;
	size_t n_listen;
	char *tls_cert_file;  /* NULL: self-signed cert generated in state_dir if needed */
	char *tls_key_file;

	struct w2_auth_key *keys;
	size_t n_keys;
	char *audience;       /* optional: required "aud" claim */
	char *issuer;         /* optional: required "iss" claim */
	uint32_t clock_skew_s; /* leeway for exp/nbf */
	/* POST /auth/guest hands out a token for any free user name (the web
	 * app's "sign in with a name"). On only in the embedded default; a
	 * loaded file leaves it off unless it says otherwise. Needs an HS256 key
	 * the daemon can sign with (docs/security-auth.md, "Guest sign-in"). */
	bool guest_tokens;
	uint32_t guest_token_ttl_s; /* lifetime of a guest token, 1..W2_GUEST_TTL_MAX */

	struct w2_ice_server *ice_servers;
	size_t n_ice_servers;

	struct w2_limits limits;

	bool signaling_enabled;   /* roles: signaling (HTTP, WebSocket, web app) */
	struct w2_turn_settings turn;

	enum w2_log_level log_level;
	enum w2_conn_logging conn_logging;
	uint32_t drain_timeout_ms; /* SIGTERM: time given to sessions to close */
};

/* Returns a config holding the embedded defaults (127.0.0.1:8080, domain
 * "localhost", state in ./var, web root ./web, no keys: the daemon adds the
 * generated HS256 key; guest tokens on). Caller owns the result. */
int w2_config_default(struct w2_config **out);

/* Parses YAML `text` of `len` bytes on top of the embedded defaults, except
 * that guest tokens start off (a file must ask for them).
 * On failure returns W2_ECONFIG (or W2_ENOMEM) and writes into `err` (of
 * W2_CONFIG_ERR_MAX bytes) a sentence naming the key and line, e.g.
 * "line 7: limits.room_size: expected a positive integer, got \"many\"".
 * Relative file paths in the config are resolved against `base_dir` (may be
 * NULL for the current directory); key files are read here. Cross-field rules
 * are left to w2_config_validate(), so that the environment can still apply. */
int w2_config_parse(const char *text, size_t len, const char *base_dir,
		    struct w2_config **out, char *err);

/* Reads and parses the file at `path` (see w2_config_parse). */
int w2_config_load(const char *path, struct w2_config **out, char *err);

/* Applies WEBRTC2_* environment overrides (documented in docs/operations.md)
 * taken from the NULL-terminated `envp` array, then re-validates. On failure
 * cfg may hold some of the overrides: the caller destroys it. */
int w2_config_apply_env(struct w2_config *cfg, char *const *envp, char *err);

/* Checks cross-field rules (TLS on non-loopback, limits > 0, ...). */
int w2_config_validate(const struct w2_config *cfg, char *err);

/* Derives what the TURN role leaves unset: listeners (the first signaling
 * host on 3478 for UDP and TCP, and 5349 for TLS when TLS is configured),
 * relay_ip, public_host and realm. Call after w2_config_apply_env(); the
 * REST secret is the daemon's to fill. Returns 0 or W2_ENOMEM. */
int w2_config_resolve_turn(struct w2_config *cfg, char *err);

/* Sets the roles from a comma-separated list ("signaling,turn"), as
 * `--roles` and WEBRTC2_ROLES give it. Returns 0 or W2_ECONFIG with err. */
int w2_config_set_roles(struct w2_config *cfg, const char *list, char *err);

/* Appends a copy of `key` to cfg->keys. */
int w2_config_add_key(struct w2_config *cfg, const struct w2_auth_key *key);

/* Frees cfg and everything it owns; accepts NULL. */
void w2_config_destroy(struct w2_config *cfg);

/* True if cfg holds a key the daemon can sign tokens with (an HS256 secret),
 * or no key at all (the daemon then generates an HS256 key at start). */
bool w2_config_can_sign(const struct w2_config *cfg);

/* True if host is a loopback address (127.0.0.0/8, ::1, "localhost"). */
bool w2_host_is_loopback(const char *host);

#endif
