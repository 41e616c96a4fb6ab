/* Token authentication: JWT (RFC 7519) verification on top of libjwt 1.10.2.
 *
 * libjwt verifies a signature and nothing else, and even that only under
 * conditions it does not enforce (docs/security-auth.md lists the traps). So
 * this file does everything around the one jwt_decode() call itself:
 *   1. the token's shape (size, alphabet, three segments) is checked before
 *      libjwt sees a byte;
 *   2. the header and the payload are decoded and parsed here, strictly
 *      (canonical base64url, JSON without duplicate members), so that the
 *      algorithm and the key id are read from the same bytes libjwt reads;
 *   3. the key is chosen by us, from the header's "alg" (an allow-list) and
 *      "kid", and jwt_decode() is never called without a key;
 *   4. HS256 MACs are compared in constant time here first, because libjwt
 *      compares them with strcmp();
 *   5. after jwt_decode() the algorithm libjwt used is compared with the
 *      key's algorithm again;
 *   6. exp, nbf, iat, aud, iss and sub are checked here (RFC 7519 §4.1).
 *
 * Nothing here logs or returns any part of a token. */
#include "signal/auth.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Largest key material accepted from the configuration: jwt_decode() takes
 * the key length as an int, and no sane PEM public key comes near this. */
#define W2__AUTH_KEY_MAX 65536
/* Bytes a base64url segment of a W2_TOKEN_MAX token can decode to. */
#define W2__AUTH_DECODED_MAX (W2_TOKEN_MAX / 4 * 3 + 3)
/* Size of an HMAC-SHA256 tag (RFC 7518 §3.2). */
#define W2__HS256_LEN 32
/* Smallest RSA modulus accepted for RS256 (RFC 7518 §3.3 requires 2048). */
#define W2__RSA_MIN_BITS 2048

/* The algorithms we accept. Names are case-sensitive (RFC 7515 §4.1.1),
 * unlike libjwt's jwt_str_alg(), which is why we look them up ourselves. */
struct alg_info {
	const char *name;
	enum w2_jwt_alg alg;
	jwt_alg_t jwt;
};

static const struct alg_info k_algs[] = {
	{"HS256", W2_JWT_HS256, JWT_ALG_HS256},
	{"RS256", W2_JWT_RS256, JWT_ALG_RS256},
	{"ES256", W2_JWT_ES256, JWT_ALG_ES256},
};

#define W2__N_ALGS (sizeof(k_algs) / sizeof(k_algs[0]))

static const char *const k_fail_messages[] = {
	[W2_AUTH_OK] = "the token is valid",
	[W2_AUTH_MALFORMED] = "the token is not a well-formed JWT",
	[W2_AUTH_BAD_SIGNATURE] = "the token's signature does not match any key this server trusts",
	[W2_AUTH_WRONG_ALG] = "the token's signing algorithm is not the one this server expects "
			      "for its key",
	[W2_AUTH_EXPIRED] = "the token has expired, or has no expiry time (\"exp\" is required)",
	[W2_AUTH_NOT_YET_VALID] = "the token is not valid yet (its \"nbf\" or \"iat\" time is in "
				  "the future)",
	[W2_AUTH_WRONG_AUDIENCE] = "the token's audience is not this server",
	[W2_AUTH_WRONG_ISSUER] = "the token was not issued by the identity provider this server "
				 "trusts",
	[W2_AUTH_BAD_SUBJECT] = "the token's subject is not a valid user name of this server's "
				"domain",
};

/* A private copy of one configured key, checked at create time. */
struct auth_key {
	char *kid; /* NULL: the key has no id */
	const struct alg_info *alg;
	unsigned char *material;
	size_t material_len;
};

struct w2_auth {
	struct auth_key *keys;
	size_t n_keys;
	char *audience; /* NULL: "aud" is not checked */
	char *issuer;   /* NULL: "iss" is not checked */
	char *domain;   /* NULL: "sub" must be a bare name */
	int64_t skew_s;
};

/* One token being verified. `text` is a NUL-terminated copy for libjwt;
 * `kid` points into `header` and lives as long as it. */
struct token {
	char text[W2_TOKEN_MAX + 1];
	size_t len;
	size_t dot1; /* offset of the '.' after the header */
	size_t dot2; /* offset of the '.' before the signature */
	json_t *header;
	json_t *claims;
	const struct alg_info *alg;
	const char *kid;
	size_t kid_len;
};

static const struct alg_info *alg_by_id(enum w2_jwt_alg alg)
{
	for (size_t i = 0; i < W2__N_ALGS; i++)
		if (k_algs[i].alg == alg)
			return &k_algs[i];
	return NULL;
}

static const struct alg_info *alg_by_name(const char *name, size_t len)
{
	for (size_t i = 0; i < W2__N_ALGS; i++)
		if (strlen(k_algs[i].name) == len && memcmp(k_algs[i].name, name, len) == 0)
			return &k_algs[i];
	return NULL;
}

/* ---- base64url (RFC 4648 §5, no padding) ---- */

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Decodes `len` base64url characters into `out` (cap bytes). Refuses
 * non-alphabet characters, impossible lengths and non-canonical encodings
 * (stray low bits in the last character), so a token has exactly one
 * spelling. Returns 0 and the decoded length, or -1. */
static int b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap,
			 size_t *out_len)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;

	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value((unsigned char)in[i]);

		if (v < 0)
			return -1;
		acc = ((acc << 6) | (uint32_t)v) & 0xffffu;
		bits += 6;
		if (bits < 8)
			continue;
		bits -= 8;
		if (n == cap)
			return -1;
		out[n++] = (unsigned char)(acc >> bits);
	}
	if (acc & ((1u << bits) - 1u))
		return -1;
	*out_len = n;
	return 0;
}

/* ---- create / destroy ---- */

static void log_key_error(const struct w2_auth_key *k, size_t index, const char *why)
{
	W2_LOG_ERROR("auth", "event=bad-key index=%zu kid=%s reason=\"%s\"", index,
		     k->kid ? k->kid : "-", why);
}

/* Returns NULL if pkey suits `alg` as libjwt will use it, else why not. */
static const char *pem_mismatch(EVP_PKEY *pkey, enum w2_jwt_alg alg)
{
	char group[80];
	size_t group_len = 0;

	if (alg == W2_JWT_RS256) {
		if (EVP_PKEY_get_id(pkey) != EVP_PKEY_RSA)
			return "RS256 needs an RSA public key";
		if (EVP_PKEY_get_bits(pkey) < W2__RSA_MIN_BITS)
			return "RS256 needs an RSA key of at least 2048 bits";
		return NULL;
	}
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_EC)
		return "ES256 needs an EC public key on curve P-256";
	if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &group_len) != 1 ||
	    strcmp(group, "prime256v1") != 0)
		return "ES256 needs an EC public key on curve P-256";
	return NULL;
}

/* Parses a PEM public key the way libjwt will (PEM_read_bio_PUBKEY) and
 * checks that its type matches the configured algorithm. */
static int pem_check(const struct w2_auth_key *k, size_t index)
{
	const char *why;
	EVP_PKEY *pkey;
	BIO *bio;

	bio = BIO_new_mem_buf(k->material, (int)k->material_len);
	if (!bio)
		return W2_ENOMEM;
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	why = pkey ? pem_mismatch(pkey, k->alg) : "not a PEM public key (BEGIN PUBLIC KEY)";
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	if (!why)
		return 0;
	log_key_error(k, index, why);
	return W2_ECONFIG;
}

static int key_check(const struct w2_auth_key *k, size_t index)
{
	if (!alg_by_id(k->alg)) {
		log_key_error(k, index, "unknown algorithm");
		return W2_ECONFIG;
	}
	if (!k->material || k->material_len == 0 || k->material_len > W2__AUTH_KEY_MAX) {
		log_key_error(k, index, "key material missing or too large");
		return W2_ECONFIG;
	}
	if (k->alg != W2_JWT_HS256)
		return pem_check(k, index);
	if (k->material_len < W2_AUTH_MIN_SECRET) {
		log_key_error(k, index, "HS256 secret shorter than 32 bytes");
		return W2_ECONFIG;
	}
	return 0;
}

/* Copies a checked config key into `dst`. */
static int key_copy(struct auth_key *dst, const struct w2_auth_key *src)
{
	dst->alg = alg_by_id(src->alg);
	if (src->kid && src->kid[0]) {
		dst->kid = w2_strdup(src->kid);
		if (!dst->kid)
			return W2_ENOMEM;
	}
	dst->material = w2_malloc(src->material_len);
	if (!dst->material)
		return W2_ENOMEM;
	memcpy(dst->material, src->material, src->material_len);
	dst->material_len = src->material_len;
	return 0;
}

/* Copies an optional config string; NULL and "" both mean "not set". */
static int copy_optional(char **dst, const char *src)
{
	*dst = NULL;
	if (!src || !src[0])
		return 0;
	*dst = w2_strdup(src);
	return *dst ? 0 : W2_ENOMEM;
}

int w2_auth_create(struct w2_auth **out, const struct w2_config *cfg)
{
	struct w2_auth *auth;
	int rc;

	if (!out || !cfg)
		return W2_EINVAL;
	*out = NULL;
	if (!cfg->keys || cfg->n_keys == 0) {
		W2_LOG_ERROR("auth", "event=no-keys reason=\"no token signing key is configured\"");
		return W2_ECONFIG;
	}
	for (size_t i = 0; i < cfg->n_keys; i++) {
		rc = key_check(&cfg->keys[i], i);
		if (rc)
			return rc;
	}
	auth = w2_calloc(1, sizeof(*auth));
	if (!auth)
		return W2_ENOMEM;
	auth->skew_s = cfg->clock_skew_s;
	rc = copy_optional(&auth->audience, cfg->audience);
	if (!rc)
		rc = copy_optional(&auth->issuer, cfg->issuer);
	if (!rc)
		rc = copy_optional(&auth->domain, cfg->domain);
	if (rc)
		goto fail;
	rc = W2_ENOMEM;
	auth->keys = w2_calloc(cfg->n_keys, sizeof(*auth->keys));
	if (!auth->keys)
		goto fail;
	for (; auth->n_keys < cfg->n_keys; auth->n_keys++) {
		rc = key_copy(&auth->keys[auth->n_keys], &cfg->keys[auth->n_keys]);
		if (rc) {
			auth->n_keys++; /* so destroy frees the partial copy */
			goto fail;
		}
	}
	*out = auth;
	return 0;
fail:
	w2_auth_destroy(auth);
	return rc;
}

void w2_auth_destroy(struct w2_auth *auth)
{
	if (!auth)
		return;
	for (size_t i = 0; auth->keys && i < auth->n_keys; i++) {
		struct auth_key *k = &auth->keys[i];

		/* HS256 secrets are wiped; public keys are not secret but cheap. */
		if (k->material)
			OPENSSL_cleanse(k->material, k->material_len);
		w2_free(k->material);
		w2_free(k->kid);
	}
	w2_free(auth->keys);
	w2_free(auth->audience);
	w2_free(auth->issuer);
	w2_free(auth->domain);
	w2_free(auth);
}

/* ---- token shape and JSON segments ---- */

static int is_token_char(unsigned char c)
{
	return c == '.' || b64url_value(c) >= 0;
}

/* Copies the token and finds its two dots. Everything libjwt would otherwise
 * see first (length, alphabet, segment count) is refused here. */
static enum w2_auth_fail token_split(struct token *t, const char *text, size_t len)
{
	size_t dots = 0;

	if (!text || len == 0 || len > W2_TOKEN_MAX)
		return W2_AUTH_MALFORMED;
	for (size_t i = 0; i < len; i++) {
		if (!is_token_char((unsigned char)text[i]))
			return W2_AUTH_MALFORMED;
		if (text[i] != '.')
			continue;
		if (++dots > 2)
			return W2_AUTH_MALFORMED;
		if (dots == 1)
			t->dot1 = i;
		else
			t->dot2 = i;
	}
	if (dots != 2 || t->dot1 == 0 || t->dot2 == t->dot1 + 1)
		return W2_AUTH_MALFORMED;
	memcpy(t->text, text, len);
	t->text[len] = '\0';
	t->len = len;
	return W2_AUTH_OK;
}

/* Decodes one base64url segment and parses it as a JSON object. Duplicate
 * members are refused so no two parsers can read different values. */
static json_t *segment_json(const char *seg, size_t len)
{
	unsigned char buf[W2__AUTH_DECODED_MAX];
	size_t n = 0;
	json_t *v;

	if (b64url_decode(seg, len, buf, sizeof(buf), &n) != 0)
		return NULL;
	v = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
	if (v && !json_is_object(v)) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

/* Reads "alg", "kid", "typ" and "crit" from the JOSE header (RFC 7515 §4.1). */
static enum w2_auth_fail header_parse(struct token *t)
{
	json_t *alg, *kid, *typ;

	t->header = segment_json(t->text, t->dot1);
	if (!t->header)
		return W2_AUTH_MALFORMED;
	/* §4.1.11: extensions we do not understand must make us refuse. */
	if (json_object_get(t->header, "crit"))
		return W2_AUTH_MALFORMED;
	/* libjwt refuses any typ but "JWT"; say so as malformed, not as a bad
	 * signature. */
	typ = json_object_get(t->header, "typ");
	if (typ && (!json_is_string(typ) || strcasecmp(json_string_value(typ), "JWT") != 0))
		return W2_AUTH_MALFORMED;
	alg = json_object_get(t->header, "alg");
	if (!json_is_string(alg))
		return W2_AUTH_MALFORMED;
	t->alg = alg_by_name(json_string_value(alg), json_string_length(alg));
	if (!t->alg)
		return W2_AUTH_WRONG_ALG;
	kid = json_object_get(t->header, "kid");
	if (kid && !json_is_string(kid))
		return W2_AUTH_MALFORMED;
	if (kid) {
		t->kid = json_string_value(kid);
		t->kid_len = json_string_length(kid);
	}
	return W2_AUTH_OK;
}

/* ---- signature ---- */

/* HMAC-SHA256 over "header.payload", compared in constant time. libjwt
 * compares the re-encoded MAC with strcmp(), which leaks timing, so a
 * wrong MAC never reaches it. */
static int hs256_matches(const struct auth_key *k, const struct token *t)
{
	unsigned char want[EVP_MAX_MD_SIZE];
	unsigned char got[W2__HS256_LEN + 3];
	unsigned int want_len = 0;
	size_t got_len = 0;
	const char *sig = t->text + t->dot2 + 1;

	if (b64url_decode(sig, t->len - t->dot2 - 1, got, sizeof(got), &got_len) != 0 ||
	    got_len != W2__HS256_LEN)
		return 0;
	if (!HMAC(EVP_sha256(), k->material, (int)k->material_len, (const unsigned char *)t->text,
		  t->dot2, want, &want_len) ||
	    want_len != W2__HS256_LEN)
		return 0;
	return CRYPTO_memcmp(want, got, W2__HS256_LEN) == 0;
}

/* Verifies the token with one key whose alg equals the header's. Returns 1
 * if it verifies, 0 if not, -1 if libjwt used another algorithm. */
static int key_verifies(const struct auth_key *k, const struct token *t)
{
	jwt_t *jwt = NULL;
	int same_alg;

	if (k->alg->alg == W2_JWT_HS256 && !hs256_matches(k, t))
		return 0;
	/* Never without a key: a NULL or empty key verifies nothing. */
	if (!k->material || k->material_len == 0)
		return 0;
	if (jwt_decode(&jwt, t->text, k->material, (int)k->material_len) != 0 || !jwt)
		return 0;
	same_alg = jwt_get_alg(jwt) == k->alg->jwt;
	jwt_free(jwt);
	return same_alg ? 1 : -1;
}

static int kid_equals(const struct auth_key *k, const struct token *t)
{
	return k->kid && strlen(k->kid) == t->kid_len && memcmp(k->kid, t->kid, t->kid_len) == 0;
}

/* Which keys a token may be tried with: with a "kid" that names a configured
 * key, only the keys of that id; with an unknown "kid", only keys configured
 * without an id; without a "kid", every key. */
static int key_applies(const struct auth_key *k, const struct token *t, int kid_known)
{
	if (!t->kid)
		return 1;
	return kid_known ? kid_equals(k, t) : k->kid == NULL;
}

static enum w2_auth_fail signature_check(const struct w2_auth *auth, const struct token *t)
{
	int kid_known = 0, tried = 0, other_alg = 0;

	for (size_t i = 0; t->kid && i < auth->n_keys; i++)
		kid_known |= kid_equals(&auth->keys[i], t);
	for (size_t i = 0; i < auth->n_keys; i++) {
		const struct auth_key *k = &auth->keys[i];
		int r;

		if (!key_applies(k, t, kid_known))
			continue;
		if (k->alg != t->alg) {
			other_alg = 1;
			continue;
		}
		tried = 1;
		r = key_verifies(k, t);
		if (r > 0)
			return W2_AUTH_OK;
		if (r < 0)
			return W2_AUTH_WRONG_ALG;
	}
	return !tried && other_alg ? W2_AUTH_WRONG_ALG : W2_AUTH_BAD_SIGNATURE;
}

/* ---- claims (RFC 7519 §4.1) ---- */

/* Reads a NumericDate claim. Returns 1 and *out if present, 0 if absent,
 * -1 if it is not a number within +-2^53 seconds. */
static int claim_time(const json_t *claims, const char *name, int64_t *out)
{
	const json_t *v = json_object_get(claims, name);
	double d;

	if (!v)
		return 0;
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 1;
	}
	if (!json_is_real(v))
		return -1;
	d = json_real_value(v);
	if (!isfinite(d) || d > 9007199254740992.0 || d < -9007199254740992.0)
		return -1;
	*out = (int64_t)floor(d);
	return 1;
}

static int64_t add_sat(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	if (b < 0 && a < INT64_MIN - b)
		return INT64_MIN;
	return a + b;
}

/* exp is required: the token is valid while now < exp + skew (§4.1.4).
 * nbf and iat, when present, must be <= now + skew (§4.1.5, §4.1.6). */
static enum w2_auth_fail times_check(const struct w2_auth *auth, const json_t *claims,
				     int64_t now_s, int64_t *exp)
{
	int64_t latest = add_sat(now_s, auth->skew_s);
	int64_t earliest = add_sat(now_s, -auth->skew_s);
	int64_t t = 0;
	int r;

	r = claim_time(claims, "exp", exp);
	if (r < 0)
		return W2_AUTH_MALFORMED;
	if (r == 0 || *exp <= earliest)
		return W2_AUTH_EXPIRED;
	r = claim_time(claims, "nbf", &t);
	if (r < 0)
		return W2_AUTH_MALFORMED;
	if (r > 0 && t > latest)
		return W2_AUTH_NOT_YET_VALID;
	r = claim_time(claims, "iat", &t);
	if (r < 0)
		return W2_AUTH_MALFORMED;
	if (r > 0 && t > latest)
		return W2_AUTH_NOT_YET_VALID;
	return W2_AUTH_OK;
}

static int json_string_equals(const json_t *v, const char *s)
{
	size_t n = strlen(s);

	return json_is_string(v) && json_string_length(v) == n &&
	       memcmp(json_string_value(v), s, n) == 0;
}

/* "aud" is a string or an array of strings (§4.1.3); ours must be in it. */
static enum w2_auth_fail audience_check(const struct w2_auth *auth, const json_t *claims)
{
	const json_t *aud, *item;
	size_t i;

	if (!auth->audience)
		return W2_AUTH_OK;
	aud = json_object_get(claims, "aud");
	if (json_string_equals(aud, auth->audience))
		return W2_AUTH_OK;
	if (!json_is_array(aud))
		return W2_AUTH_WRONG_AUDIENCE;
	json_array_foreach(aud, i, item)
		if (json_string_equals(item, auth->audience))
			return W2_AUTH_OK;
	return W2_AUTH_WRONG_AUDIENCE;
}

static enum w2_auth_fail issuer_check(const struct w2_auth *auth, const json_t *claims)
{
	if (!auth->issuer)
		return W2_AUTH_OK;
	if (json_string_equals(json_object_get(claims, "iss"), auth->issuer))
		return W2_AUTH_OK;
	return W2_AUTH_WRONG_ISSUER;
}

/* "sub" is "name" or "name@<our domain>" (domain compared ignoring ASCII
 * case); the name is copied into id->user. */
static enum w2_auth_fail subject_check(const struct w2_auth *auth, const json_t *claims,
				       struct w2_identity *id)
{
	const json_t *sub = json_object_get(claims, "sub");
	const char *s, *at;
	size_t len, name_len;

	if (!json_is_string(sub))
		return W2_AUTH_BAD_SUBJECT;
	s = json_string_value(sub);
	len = json_string_length(sub);
	at = memchr(s, '@', len);
	name_len = at ? (size_t)(at - s) : len;
	if (at) {
		size_t dom_len = len - name_len - 1;

		if (!auth->domain || strlen(auth->domain) != dom_len ||
		    strncasecmp(at + 1, auth->domain, dom_len) != 0)
			return W2_AUTH_BAD_SUBJECT;
	}
	if (!w2_user_name_valid(s, name_len))
		return W2_AUTH_BAD_SUBJECT;
	if (id) {
		memcpy(id->user, s, name_len);
		id->user[name_len] = '\0';
	}
	return W2_AUTH_OK;
}

static enum w2_auth_fail claims_check(const struct w2_auth *auth, const json_t *claims,
				      int64_t now_s, struct w2_identity *id)
{
	int64_t exp = 0;
	enum w2_auth_fail why;

	why = times_check(auth, claims, now_s, &exp);
	if (why == W2_AUTH_OK)
		why = issuer_check(auth, claims);
	if (why == W2_AUTH_OK)
		why = audience_check(auth, claims);
	if (why == W2_AUTH_OK)
		why = subject_check(auth, claims, id);
	if (why == W2_AUTH_OK && id)
		id->expires_at = exp;
	return why;
}

/* ---- verify ---- */

static enum w2_auth_fail token_check(const struct w2_auth *auth, struct token *t,
				     int64_t now_s, struct w2_identity *id)
{
	enum w2_auth_fail why;

	why = header_parse(t);
	if (why != W2_AUTH_OK)
		return why;
	t->claims = segment_json(t->text + t->dot1 + 1, t->dot2 - t->dot1 - 1);
	if (!t->claims)
		return W2_AUTH_MALFORMED;
	why = signature_check(auth, t);
	if (why != W2_AUTH_OK)
		return why;
	return claims_check(auth, t->claims, now_s, id);
}

enum w2_auth_fail w2_auth_verify(const struct w2_auth *auth, const char *token, size_t len,
				 int64_t now_s, struct w2_identity *id)
{
	struct token t;
	enum w2_auth_fail why;

	if (id)
		memset(id, 0, sizeof(*id));
	if (!auth)
		return W2_AUTH_BAD_SIGNATURE;
	memset(&t, 0, sizeof(t));
	why = token_split(&t, token, len);
	if (why == W2_AUTH_OK)
		why = token_check(auth, &t, now_s, id);
	json_decref(t.header);
	json_decref(t.claims);
	OPENSSL_cleanse(t.text, sizeof(t.text));
	if (why != W2_AUTH_OK && id)
		memset(id, 0, sizeof(*id));
	return why;
}

const char *w2_auth_fail_message(enum w2_auth_fail why)
{
	size_t n = sizeof(k_fail_messages) / sizeof(k_fail_messages[0]);

	if ((size_t)why >= n || !k_fail_messages[why])
		return "the token was refused";
	return k_fail_messages[why];
}

/* ---- mint ---- */

static int mint_claims(jwt_t *jwt, const char *user, int64_t now_s, int64_t exp,
		       const char *aud, const char *iss)
{
	if (jwt_add_grant(jwt, "sub", user) || jwt_add_grant_int(jwt, "iat", (long)now_s) ||
	    jwt_add_grant_int(jwt, "exp", (long)exp))
		return -1;
	if (aud && jwt_add_grant(jwt, "aud", aud))
		return -1;
	if (iss && jwt_add_grant(jwt, "iss", iss))
		return -1;
	return 0;
}

int w2_auth_mint_hs256(const unsigned char *secret, size_t secret_len, const char *user,
		       int64_t now_s, int64_t ttl_s, const char *aud, const char *iss,
		       char **out_token)
{
	jwt_t *jwt = NULL;
	char *raw = NULL;
	int rc = W2_EINVAL;

	if (!out_token)
		return W2_EINVAL;
	*out_token = NULL;
	if (!secret || secret_len < W2_AUTH_MIN_SECRET || secret_len > W2__AUTH_KEY_MAX)
		return W2_EINVAL;
	if (!user || !w2_user_name_valid(user, strlen(user)) || ttl_s <= 0)
		return W2_EINVAL;
	if (now_s < LONG_MIN || now_s > LONG_MAX - ttl_s)
		return W2_EINVAL;
	if (jwt_new(&jwt) != 0)
		return W2_ENOMEM;
	if (mint_claims(jwt, user, now_s, now_s + ttl_s, aud, iss) != 0 ||
	    jwt_set_alg(jwt, JWT_ALG_HS256, secret, (int)secret_len) != 0)
		goto fail;
	raw = jwt_encode_str(jwt);
	rc = W2_ENOMEM;
	if (!raw)
		goto fail;
	*out_token = w2_strdup(raw);
	if (*out_token)
		rc = 0;
fail:
	free(raw); /* libjwt allocates with malloc() */
	jwt_free(jwt);
	return rc;
}

int w2_auth_mint_local(const struct w2_config *cfg, const char *user, int64_t now_s,
		       int64_t ttl_s, char **out_token)
{
	if (!out_token)
		return W2_EINVAL;
	*out_token = NULL;
	if (!cfg)
		return W2_EINVAL;
	for (size_t i = 0; i < cfg->n_keys; i++)
		if (cfg->keys[i].alg == W2_JWT_HS256)
			return w2_auth_mint_hs256(cfg->keys[i].material, cfg->keys[i].material_len,
						  user, now_s, ttl_s, cfg->audience, cfg->issuer,
						  out_token);
	return W2_ENOENT;
}

/* ---- user names ---- */

int w2_user_name_valid(const char *name, size_t len)
{
	if (!name || len == 0 || len > W2_USER_MAX || name[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.' || c == '_' || c == '-')
			continue;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		return 0;
	}
	return 1;
}
