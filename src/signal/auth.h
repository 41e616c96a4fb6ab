/* Token authentication: JWT verification (libjwt) with the checks libjwt
 * does not make itself (see ../shared/DEPENDENCY-NOTES.md):
 *   - the header algorithm must equal the algorithm configured for the key
 *     (no HS256-with-the-RSA-public-key confusion, no "none");
 *   - a key is always supplied to jwt_decode (a NULL key skips verification);
 *   - exp is required and checked, nbf and iat checked when present, with the
 *     configured clock skew; aud and iss are checked when configured;
 *   - HS256 secrets shorter than W2_AUTH_MIN_SECRET bytes are refused.
 * The user is the "sub" claim: either "name" or "name@<our domain>".
 * Protocol code: no I/O, time is passed in. Not thread-safe per object. */
#ifndef W2_SIGNAL_AUTH_H
#define W2_SIGNAL_AUTH_H

#include "core/config.h"

#include <stddef.h>
#include <stdint.h>

#define W2_AUTH_MIN_SECRET 32 /* bytes */
#define W2_USER_MAX 64        /* bytes of a user name */
#define W2_TOKEN_MAX 8192     /* bytes of a token */

struct w2_auth;

/* Why a token was refused; each maps to a message for the client. */
enum w2_auth_fail {
	W2_AUTH_OK = 0,
	W2_AUTH_MALFORMED,     /* not a JWT */
	W2_AUTH_BAD_SIGNATURE, /* no configured key verifies it */
	W2_AUTH_WRONG_ALG,     /* header alg differs from the key's */
	W2_AUTH_EXPIRED,       /* exp in the past (or missing) */
	W2_AUTH_NOT_YET_VALID, /* nbf/iat in the future */
	W2_AUTH_WRONG_AUDIENCE,
	W2_AUTH_WRONG_ISSUER,
	W2_AUTH_BAD_SUBJECT,   /* sub missing, bad characters or another domain */
};

struct w2_identity {
	char user[W2_USER_MAX + 1]; /* the local part, e.g. "alice" */
	int64_t expires_at;         /* exp claim, seconds since the epoch */
};

/* Builds a verifier from cfg->keys, cfg->audience, cfg->issuer,
 * cfg->clock_skew_s and cfg->domain (all copied; cfg may be freed after).
 * Returns 0, W2_ENOMEM, or W2_ECONFIG if a key is unusable (bad PEM, short
 * secret). */
int w2_auth_create(struct w2_auth **out, const struct w2_config *cfg);
void w2_auth_destroy(struct w2_auth *auth);

/* Verifies `token` (len bytes, need not be NUL-terminated) at time now_s.
 * Returns W2_AUTH_OK and fills *id, or the reason it was refused. */
enum w2_auth_fail w2_auth_verify(const struct w2_auth *auth, const char *token, size_t len,
				 int64_t now_s, struct w2_identity *id);

/* A human sentence for a refusal reason (static string). */
const char *w2_auth_fail_message(enum w2_auth_fail why);

/* Signs an HS256 token for `user` valid from now_s for ttl_s seconds, with
 * aud/iss when non-NULL. Returns 0 and a heap string the caller frees with
 * w2_free(), or a negative W2_E* code. */
int w2_auth_mint_hs256(const unsigned char *secret, size_t secret_len, const char *user,
		       int64_t now_s, int64_t ttl_s, const char *aud, const char *iss,
		       char **out_token);

/* Signs a token for `user` with the first HS256 key of cfg (borrowed) and
 * cfg's audience and issuer: what `webrtc2d token` prints and what guest
 * sign-in hands out, so hello accepts both. Returns 0 and a heap string the
 * caller frees with w2_free(), W2_ENOENT if cfg has no HS256 key, or another
 * negative W2_E* code (W2_EINVAL for a bad user name or ttl). */
int w2_auth_mint_local(const struct w2_config *cfg, const char *user, int64_t now_s,
		       int64_t ttl_s, char **out_token);

/* True if name is a valid user local part: 1..W2_USER_MAX bytes of
 * [A-Za-z0-9._-], not starting with '.' */
int w2_user_name_valid(const char *name, size_t len);

#endif
