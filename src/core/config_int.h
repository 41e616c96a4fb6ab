/* Internal to the configuration module: what config.c (defaults, freeing,
 * validation), config_yaml.c (the YAML file) and config_env.c (WEBRTC2_*
 * variables) share. Nothing outside src/core/config*.c includes this; the
 * public interface is core/config.h.
 *
 * Error helpers write into a caller's buffer of W2_CONFIG_ERR_MAX bytes.
 * Strings passed in are borrowed; strings returned are heap-owned by the
 * caller unless said otherwise. */
#ifndef W2_CORE_CONFIG_INT_H
#define W2_CORE_CONFIG_INT_H

#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define W2__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define W2__PRINTF(a, b)
#endif

#define W2__KEY_FILE_MAX 65536 /* bytes of a key file: auth.c's cap */
#define W2__STRING_MAX 4096    /* bytes of one string value */
#define W2__LISTEN_MAX 16
#define W2__HS256_MIN 32 /* W2_AUTH_MIN_SECRET, RFC 7518 §3.2 */
#define W2__CLOCK_SKEW_MAX 86400
#define W2__QUOTE_MAX 48 /* a quoted user value in a message */
#define W2__HOST_MAX 64
#define W2__CIDRS_MAX 256      /* entries of a peer range list */
#define W2__TURN_USERS_MAX 1024
#define W2__TURN_SECRET_MIN 16 /* bytes: an HMAC-SHA1 key shorter than this is guessable */
/* Why guest tokens cannot be on; the start of the sentence names the key or variable. */
#define W2__GUEST_NO_KEY                                                                           \
	"needs a key the daemon can sign with (an HS256 key in auth.keys, or no keys for the "   \
	"generated one); RS256/ES256 public keys only verify"

/* A name and the enum value it stands for, as read from YAML or the environment. */
struct w2__config_name_value {
	const char *name;
	int value;
};

#define W2__CONFIG_N_CONN_LOGGING (W2_CONN_LOG_PSEUDONYMOUS + 1)

/* The spellings of enum w2_conn_logging ("none", "anonymous", "pseudonymous"). */
extern const struct w2__config_name_value w2__config_conn_logging[W2__CONFIG_N_CONN_LOGGING];

/* The keys of the limits section, in the order of struct w2_limits: one list
 * from which each file builds the table it needs (X is applied to each). */
#define W2__CONFIG_LIMITS(X)                                                                       \
	X(max_message_bytes)                                                                       \
	X(max_queued_bytes)                                                                        \
	X(messages_per_second)                                                                     \
	X(message_burst)                                                                           \
	X(sessions_per_user)                                                                       \
	X(rooms_per_session)                                                                       \
	X(room_size)                                                                               \
	X(max_connections)                                                                         \
	X(abuse_threshold)                                                                         \
	X(hello_timeout_ms)                                                                        \
	X(ping_interval_ms)                                                                        \
	X(ping_timeout_ms)

#define W2__CONFIG_LIMIT_ONE(name) +1
#define W2__CONFIG_N_LIMITS ((size_t)(0 W2__CONFIG_LIMITS(W2__CONFIG_LIMIT_ONE)))

/* One uint32_t field of struct w2_limits: its key and its offset. */
struct w2__config_limit {
	const char *name;
	size_t offset;
};

/* The fields of struct w2_limits, built from W2__CONFIG_LIMITS. */
extern const struct w2__config_limit w2__config_limits[W2__CONFIG_N_LIMITS];

/* Writes a printf-formatted sentence into err; returns W2_ECONFIG. */
W2__PRINTF(2, 3)
int w2__config_set_err(char *err, const char *fmt, ...);

/* Writes "out of memory" into err; returns W2_ENOMEM. */
int w2__config_set_nomem(char *err);

/* Quotes at most 40 bytes of a user value for a message, control bytes as '?'; returns out. */
const char *w2__config_quoted(const char *s, size_t len, char out[W2__QUOTE_MAX]);

/* True if the len bytes at s hold a control character (newline, tab, DEL, ...). */
bool w2__config_has_control(const char *s, size_t len);

/* Returns arr grown by one zeroed element of `size` bytes, or NULL (arr untouched). */
void *w2__config_grow_array(void *arr, size_t n, size_t size);

/* Strict decimal to uint32_t; returns 0, W2_EINVAL (not a number) or W2_ELIMIT. */
int w2__config_parse_u32(const char *s, size_t len, uint32_t *out);

/* True if s is an RFC 1035 host name (which includes "localhost"). */
bool w2__config_dns_name_valid(const char *s);

/* Formats l as "host:port" ("[v6]:port") into out of cap bytes; returns out. */
const char *w2__config_listen_name(const struct w2_listen *l, char *out, size_t cap);

/* Parses "host:port" or "[v6]:port" into a heap-owned *host; on W2_EINVAL *why says why. */
int w2__config_address_parse(const char *s, size_t len, char **host, uint16_t *port,
                             const char **why);

/* True if `name` is close enough to the typed s (len bytes) to suggest it. */
bool w2__config_looks_like(const char *s, size_t len, const char *name);

/* Looks s up in the table t of n names (case-sensitive); returns 0 or W2_EINVAL. */
int w2__config_name_lookup(const struct w2__config_name_value *t, size_t n, const char *s,
                           int *out);

/* Wipes and frees k's material, then takes ownership of `material` (may be NULL). */
void w2__config_key_material_set(struct w2_auth_key *k, unsigned char *material, size_t len);

/* Frees cfg's listeners and leaves it with none. */
void w2__config_listen_free(struct w2_config *cfg);

/* Frees cfg's keys (material wiped) and leaves it with none. */
void w2__config_keys_free(struct w2_config *cfg);

/* The daemon's roles, as spelled in `roles:` and WEBRTC2_ROLES. */
enum { W2__ROLE_SIGNALING = 1, W2__ROLE_TURN = 2 };

/* Switches one role on or off. */
void w2__config_role_set(struct w2_config *cfg, int role, bool on);

/* A growing list of address ranges while it is parsed. */
struct w2__config_cidrs {
	struct w2_cidr *items;
	size_t n;
};

/* Appends a copy of c; returns 0 or W2_ENOMEM. */
int w2__config_cidr_append(struct w2__config_cidrs *l, const struct w2_cidr *c);

/* Parses a comma-separated list of ranges (WEBRTC2_TURN_*_PEER_RANGES) into
 * a new heap array; on W2_EINVAL *bad/bad_len point at the faulty item. */
int w2__config_cidrs_parse_list(const char *s, struct w2_cidr **out, size_t *n,
                                const char **bad, size_t *bad_len);

/* Replaces the TURN REST secret with a copy of len bytes (old one wiped). */
int w2__config_turn_secret_set(struct w2_turn_settings *t, const char *s, size_t len);

/* Checks the TURN settings (config_turn.c). */
int w2__config_validate_turn(const struct w2_config *cfg, char *err);

/* Free the TURN listeners / static users and leave none. */
void w2__config_turn_listen_free(struct w2_turn_settings *t);
void w2__config_turn_users_free(struct w2_turn_settings *t);

/* Frees the URLs of s and leaves it with none. */
void w2__config_urls_free(struct w2_ice_server *s);

/* Frees cfg's ICE servers (credentials wiped) and leaves it with none. */
void w2__config_ice_free(struct w2_config *cfg);

#endif
