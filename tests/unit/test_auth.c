/* Unit tests of src/signal/auth.c: JWT verification and the libjwt traps it
 * closes (docs/security-auth.md). Keys are generated at test time; the clock
 * is the fixed NOW. */
#include "core/alloc.h"
#include "core/config.h"
#include "core/error.h"
#include "signal/auth.h"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW 1700000000LL
#define DOMAIN "example.org"
#define SECRET1 "first-secret-of-at-least-32-bytes!!"
#define SECRET2 "second-secret-of-at-least-32-bytes!"

/* PEM texts generated once for the whole group (test_state). */
struct keys {
	char *rsa_priv, *rsa_pub;
	char *ec_priv, *ec_pub;
	char *p384_pub;   /* EC, wrong curve for ES256 */
	char *rsa1024_pub; /* too short for RS256 */
};

/* ---- helpers ---- */

static char *pem_of(EVP_PKEY *pkey, int private_key)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data = NULL, *copy;
	long n;

	assert_non_null(bio);
	if (private_key)
		assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
	else
		assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
	n = BIO_get_mem_data(bio, &data);
	assert_true(n > 0);
	copy = calloc(1, (size_t)n + 1);
	assert_non_null(copy);
	memcpy(copy, data, (size_t)n);
	BIO_free(bio);
	return copy;
}

static void keypair(EVP_PKEY *pkey, char **priv, char **pub)
{
	assert_non_null(pkey);
	if (priv)
		*priv = pem_of(pkey, 1);
	*pub = pem_of(pkey, 0);
	EVP_PKEY_free(pkey);
}

static int group_setup(void **state)
{
	struct keys *k = calloc(1, sizeof(*k));

	assert_non_null(k);
	keypair(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), &k->rsa_priv, &k->rsa_pub);
	keypair(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), &k->ec_priv, &k->ec_pub);
	keypair(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), NULL, &k->p384_pub);
	keypair(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024), NULL, &k->rsa1024_pub);
	*state = k;
	return 0;
}

static int group_teardown(void **state)
{
	struct keys *k = *state;

	free(k->rsa_priv);
	free(k->rsa_pub);
	free(k->ec_priv);
	free(k->ec_pub);
	free(k->p384_pub);
	free(k->rsa1024_pub);
	free(k);
	return 0;
}

static struct w2_auth_key key(enum w2_jwt_alg alg, const char *kid, const char *material)
{
	struct w2_auth_key k;

	memset(&k, 0, sizeof(k));
	k.kid = (char *)kid;
	k.alg = alg;
	k.material = (unsigned char *)material;
	k.material_len = strlen(material);
	return k;
}

/* A config built by hand: zeroed, then the fields auth reads. */
static struct w2_config config(struct w2_auth_key *keys, size_t n, const char *aud,
			       const char *iss, uint32_t skew)
{
	struct w2_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.keys = keys;
	cfg.n_keys = n;
	cfg.audience = (char *)aud;
	cfg.issuer = (char *)iss;
	cfg.clock_skew_s = skew;
	cfg.domain = (char *)DOMAIN;
	return cfg;
}

static struct w2_auth *auth_new(struct w2_auth_key *keys, size_t n, const char *aud,
				const char *iss, uint32_t skew)
{
	struct w2_config cfg = config(keys, n, aud, iss, skew);
	struct w2_auth *auth = NULL;

	assert_int_equal(w2_auth_create(&auth, &cfg), 0);
	assert_non_null(auth);
	return auth;
}

static int create_rc(struct w2_auth_key k)
{
	struct w2_config cfg = config(&k, 1, NULL, NULL, 0);
	struct w2_auth *auth = NULL;
	int rc = w2_auth_create(&auth, &cfg);

	assert_true(rc != 0 || auth != NULL);
	w2_auth_destroy(auth);
	return rc;
}

/* Signs `claims` (JSON) with libjwt; returns a malloc()ed token. */
static char *sign(jwt_alg_t alg, const char *material, const char *kid, const char *claims)
{
	jwt_t *jwt = NULL;
	char *tok;

	assert_int_equal(jwt_new(&jwt), 0);
	assert_int_equal(jwt_add_grants_json(jwt, claims), 0);
	if (kid)
		assert_int_equal(jwt_add_header(jwt, "kid", kid), 0);
	assert_int_equal(
		jwt_set_alg(jwt, alg, (const unsigned char *)material, (int)strlen(material)), 0);
	tok = jwt_encode_str(jwt);
	assert_non_null(tok);
	jwt_free(jwt);
	return tok;
}

/* printf into a static-size buffer owned by the caller. */
static const char *fmt(char *buf, size_t cap, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(buf, cap, f, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < cap);
	return buf;
}

static enum w2_auth_fail verify(const struct w2_auth *auth, const char *tok,
				struct w2_identity *id)
{
	struct w2_identity scratch;

	return w2_auth_verify(auth, tok, strlen(tok), NOW, id ? id : &scratch);
}

/* Signs claims with `secret` (HS256) and verifies them with `auth`. */
static enum w2_auth_fail verify_hs(const struct w2_auth *auth, const char *secret,
				   const char *claims)
{
	char *tok = sign(JWT_ALG_HS256, secret, NULL, claims);
	enum w2_auth_fail why = verify(auth, tok, NULL);

	free(tok);
	return why;
}

static void b64url(const char *in, char *out, size_t cap)
{
	size_t n = strlen(in), j = 0;
	int len;

	assert_true(cap > (n + 2) / 3 * 4);
	len = EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)in, (int)n);
	for (int i = 0; i < len; i++) {
		char c = out[i];

		if (c == '=')
			break;
		out[j++] = c == '+' ? '-' : c == '/' ? '_' : c;
	}
	out[j] = '\0';
}

/* Builds "b64(header).b64(claims).sig" by hand. */
static const char *hand_token(char *buf, size_t cap, const char *header, const char *claims,
			      const char *sig)
{
	char h[512], c[512];

	b64url(header, h, sizeof(h));
	b64url(claims, c, sizeof(c));
	return fmt(buf, cap, "%s.%s.%s", h, c, sig);
}

/* ---- tests ---- */

static void test_hs256_good(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, NULL, NULL, 0);
	struct w2_identity id;
	char claims[256];
	char *tok, *padded;
	size_t len;

	fmt(claims, sizeof(claims), "{\"sub\":\"alice\",\"iat\":%lld,\"exp\":%lld}", NOW, NOW + 600);
	tok = sign(JWT_ALG_HS256, SECRET1, NULL, claims);
	assert_int_equal(verify(auth, tok, &id), W2_AUTH_OK);
	assert_string_equal(id.user, "alice");
	assert_int_equal(id.expires_at, NOW + 600);
	/* The token need not be NUL-terminated: bytes past len are not read. */
	len = strlen(tok);
	padded = malloc(len + 5);
	assert_non_null(padded);
	memcpy(padded, tok, len);
	memcpy(padded + len, "+++++", 5);
	assert_int_equal(w2_auth_verify(auth, padded, len, NOW, &id), W2_AUTH_OK);
	free(padded);
	free(tok);
	w2_auth_destroy(auth);
}

static void test_mint_roundtrip(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, "webrtc2", "https://idp.example.org", 0);
	struct w2_identity id;
	char *tok = NULL;

	assert_int_equal(w2_auth_mint_hs256((const unsigned char *)SECRET1, strlen(SECRET1),
					    "bob", NOW, 3600, "webrtc2",
					    "https://idp.example.org", &tok),
			 0);
	assert_non_null(tok);
	assert_int_equal(verify(auth, tok, &id), W2_AUTH_OK);
	assert_string_equal(id.user, "bob");
	assert_int_equal(id.expires_at, NOW + 3600);
	assert_int_equal(w2_auth_verify(auth, tok, strlen(tok), NOW + 3600, &id), W2_AUTH_EXPIRED);
	w2_free(tok);
	w2_auth_destroy(auth);
}

static void test_mint_refuses_bad_arguments(void **state)
{
	const unsigned char *s = (const unsigned char *)SECRET1;
	char *tok = (char *)"unchanged";

	assert_int_equal(w2_auth_mint_hs256(s, 31, "bob", NOW, 60, NULL, NULL, &tok), W2_EINVAL);
	assert_null(tok);
	assert_int_equal(w2_auth_mint_hs256(s, 32, "b b", NOW, 60, NULL, NULL, &tok), W2_EINVAL);
	assert_int_equal(w2_auth_mint_hs256(s, 32, "", NOW, 60, NULL, NULL, &tok), W2_EINVAL);
	assert_int_equal(w2_auth_mint_hs256(s, 32, NULL, NOW, 60, NULL, NULL, &tok), W2_EINVAL);
	assert_int_equal(w2_auth_mint_hs256(s, 32, "bob", NOW, 0, NULL, NULL, &tok), W2_EINVAL);
	assert_int_equal(w2_auth_mint_hs256(s, 32, "bob", INT64_MAX, 10, NULL, NULL, &tok),
			 W2_EINVAL);
	assert_int_equal(w2_auth_mint_hs256(NULL, 32, "bob", NOW, 60, NULL, NULL, &tok), W2_EINVAL);
	assert_int_equal(w2_auth_mint_hs256(s, 32, "bob", NOW, 60, NULL, NULL, NULL), W2_EINVAL);
}

static void test_expired(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, NULL, NULL, 0);
	char c[256];

	fmt(c, sizeof(c), "{\"sub\":\"alice\",\"exp\":%lld}", NOW - 1);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_EXPIRED);
	/* RFC 7519 §4.1.4: valid only while now is *before* exp. */
	fmt(c, sizeof(c), "{\"sub\":\"alice\",\"exp\":%lld}", NOW);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_EXPIRED);
	fmt(c, sizeof(c), "{\"sub\":\"alice\",\"exp\":%lld}", NOW + 1);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_OK);
	/* A NumericDate may carry a fraction. */
	fmt(c, sizeof(c), "{\"sub\":\"alice\",\"exp\":%lld.5}", NOW + 1);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_OK);
	fmt(c, sizeof(c), "{\"sub\":\"alice\",\"exp\":%lld.5}", NOW - 1);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_EXPIRED);
	assert_non_null(strstr(w2_auth_fail_message(W2_AUTH_EXPIRED), "expired"));
	w2_auth_destroy(auth);
}

static void test_exp_missing_or_bad(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, NULL, NULL, 3600);
	const char *msg = w2_auth_fail_message(W2_AUTH_EXPIRED);

	assert_int_equal(verify_hs(auth, SECRET1, "{\"sub\":\"alice\"}"), W2_AUTH_EXPIRED);
	assert_non_null(strstr(msg, "\"exp\""));
	assert_non_null(strstr(msg, "required"));
	assert_int_equal(verify_hs(auth, SECRET1, "{\"sub\":\"alice\",\"exp\":\"2099-01-01\"}"),
			 W2_AUTH_MALFORMED);
	assert_int_equal(verify_hs(auth, SECRET1, "{\"sub\":\"alice\",\"exp\":true}"),
			 W2_AUTH_MALFORMED);
	assert_int_equal(verify_hs(auth, SECRET1, "{\"sub\":\"alice\",\"exp\":1e300}"),
			 W2_AUTH_MALFORMED);
	assert_int_equal(verify_hs(auth, SECRET1, "{\"sub\":\"alice\",\"exp\":null}"),
			 W2_AUTH_MALFORMED);
	/* Extreme values do not overflow the skew arithmetic. */
	assert_int_equal(
		verify_hs(auth, SECRET1, "{\"sub\":\"alice\",\"exp\":9223372036854775807}"),
		W2_AUTH_OK);
	assert_int_equal(
		verify_hs(auth, SECRET1, "{\"sub\":\"alice\",\"exp\":-9223372036854775807}"),
		W2_AUTH_EXPIRED);
	w2_auth_destroy(auth);
}

static void test_nbf_iat_future(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, NULL, NULL, 0);
	char c[256];

	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld,\"nbf\":%lld}", NOW + 600, NOW + 10);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_NOT_YET_VALID);
	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld,\"nbf\":%lld}", NOW + 600, NOW);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_OK);
	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld,\"iat\":%lld}", NOW + 600, NOW + 10);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_NOT_YET_VALID);
	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld,\"nbf\":\"later\"}", NOW + 600);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_MALFORMED);
	w2_auth_destroy(auth);
}

static void test_clock_skew_both_ways(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, NULL, NULL, 60);
	char c[256];

	/* exp a little in the past: within the skew, accepted. */
	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld}", NOW - 30);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_OK);
	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld}", NOW - 60);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_EXPIRED);
	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld}", NOW - 61);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_EXPIRED);
	/* nbf/iat a little in the future: the issuer's clock runs ahead. */
	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld,\"nbf\":%lld,\"iat\":%lld}", NOW + 600,
	    NOW + 60, NOW + 30);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_OK);
	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld,\"nbf\":%lld}", NOW + 600, NOW + 61);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_NOT_YET_VALID);
	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld,\"iat\":%lld}", NOW + 600, NOW + 61);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_NOT_YET_VALID);
	w2_auth_destroy(auth);
}

static void test_wrong_key(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, NULL, NULL, 0);
	char c[256];

	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld}", NOW + 600);
	assert_int_equal(verify_hs(auth, SECRET2, c), W2_AUTH_BAD_SIGNATURE);
	w2_auth_destroy(auth);
}

static void test_audience(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, "webrtc2", NULL, 0);
	static const struct {
		const char *aud; /* JSON, NULL: claim absent */
		enum w2_auth_fail want;
	} cases[] = {
		{"\"webrtc2\"", W2_AUTH_OK},
		{"\"other\"", W2_AUTH_WRONG_AUDIENCE},
		{"\"webrtc2x\"", W2_AUTH_WRONG_AUDIENCE},
		{"[\"a\",\"b\"]", W2_AUTH_WRONG_AUDIENCE},
		{"[\"a\",\"webrtc2\"]", W2_AUTH_OK},
		{"[1,{},\"webrtc2\"]", W2_AUTH_OK},
		{"[]", W2_AUTH_WRONG_AUDIENCE},
		{"7", W2_AUTH_WRONG_AUDIENCE},
		{NULL, W2_AUTH_WRONG_AUDIENCE},
	};
	char c[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].aud)
			fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld,\"aud\":%s}", NOW + 60,
			    cases[i].aud);
		else
			fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld}", NOW + 60);
		assert_int_equal(verify_hs(auth, SECRET1, c), cases[i].want);
	}
	assert_non_null(strstr(w2_auth_fail_message(W2_AUTH_WRONG_AUDIENCE), "audience"));
	w2_auth_destroy(auth);
}

static void test_issuer(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, NULL, "https://idp.example.org", 0);
	char c[256];

	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld,\"iss\":\"https://idp.example.org\"}",
	    NOW + 60);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_OK);
	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld,\"iss\":\"https://evil.example\"}", NOW + 60);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_WRONG_ISSUER);
	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld}", NOW + 60);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_WRONG_ISSUER);
	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld,\"iss\":[\"https://idp.example.org\"]}",
	    NOW + 60);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_WRONG_ISSUER);
	w2_auth_destroy(auth);
}

static void test_subject(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, NULL, NULL, 0);
	static const struct {
		const char *sub; /* JSON */
		enum w2_auth_fail want;
		const char *user;
	} cases[] = {
		{"\"alice\"", W2_AUTH_OK, "alice"},
		{"\"alice@example.org\"", W2_AUTH_OK, "alice"},
		{"\"alice@EXAMPLE.org\"", W2_AUTH_OK, "alice"},
		{"\"a.l-i_c3\"", W2_AUTH_OK, "a.l-i_c3"},
		{"\"alice@evil.org\"", W2_AUTH_BAD_SUBJECT, NULL},
		{"\"alice@example.org.evil\"", W2_AUTH_BAD_SUBJECT, NULL},
		{"\"alice@\"", W2_AUTH_BAD_SUBJECT, NULL},
		{"\"@example.org\"", W2_AUTH_BAD_SUBJECT, NULL},
		{"\"al ice\"", W2_AUTH_BAD_SUBJECT, NULL},
		{"\"../etc\"", W2_AUTH_BAD_SUBJECT, NULL},
		{"\".alice\"", W2_AUTH_BAD_SUBJECT, NULL},
		{"\"al\\u00e9ce\"", W2_AUTH_BAD_SUBJECT, NULL},
		{"\"a@b@example.org\"", W2_AUTH_BAD_SUBJECT, NULL},
		{"\"\"", W2_AUTH_BAD_SUBJECT, NULL},
		{"42", W2_AUTH_BAD_SUBJECT, NULL},
		{"null", W2_AUTH_BAD_SUBJECT, NULL},
	};
	struct w2_identity id;
	char c[512], long_name[W2_USER_MAX + 2];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *tok;

		fmt(c, sizeof(c), "{\"sub\":%s,\"exp\":%lld}", cases[i].sub, NOW + 60);
		tok = sign(JWT_ALG_HS256, SECRET1, NULL, c);
		assert_int_equal(verify(auth, tok, &id), cases[i].want);
		if (cases[i].user)
			assert_string_equal(id.user, cases[i].user);
		else
			assert_string_equal(id.user, "");
		free(tok);
	}
	memset(long_name, 'x', W2_USER_MAX);
	long_name[W2_USER_MAX] = '\0';
	fmt(c, sizeof(c), "{\"sub\":\"%s\",\"exp\":%lld}", long_name, NOW + 60);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_OK);
	fmt(c, sizeof(c), "{\"sub\":\"%sx\",\"exp\":%lld}", long_name, NOW + 60);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_BAD_SUBJECT);
	fmt(c, sizeof(c), "{\"exp\":%lld}", NOW + 60);
	assert_int_equal(verify_hs(auth, SECRET1, c), W2_AUTH_BAD_SUBJECT);
	w2_auth_destroy(auth);
}

/* The classic confusion attack: the RS256 public key is public, so an
 * attacker signs an HS256 token using the PEM text as the HMAC secret. */
static void test_alg_confusion_refused(void **state)
{
	struct keys *keys = *state;
	struct w2_auth_key rs = key(W2_JWT_RS256, NULL, keys->rsa_pub);
	struct w2_auth_key rs_kid = key(W2_JWT_RS256, "rsa-1", keys->rsa_pub);
	struct w2_auth_key both[2] = {key(W2_JWT_HS256, NULL, SECRET1),
				      key(W2_JWT_RS256, NULL, keys->rsa_pub)};
	struct w2_auth *auth;
	jwt_t *raw = NULL;
	char c[256], *tok, *tok_kid;

	fmt(c, sizeof(c), "{\"sub\":\"admin\",\"exp\":%lld}", NOW + 600);
	tok = sign(JWT_ALG_HS256, keys->rsa_pub, NULL, c);
	tok_kid = sign(JWT_ALG_HS256, keys->rsa_pub, "rsa-1", c);
	/* The trap is real: libjwt alone accepts this token. */
	assert_int_equal(jwt_decode(&raw, tok, (const unsigned char *)keys->rsa_pub,
				    (int)strlen(keys->rsa_pub)),
			 0);
	jwt_free(raw);

	auth = auth_new(&rs, 1, NULL, NULL, 0);
	assert_int_equal(verify(auth, tok, NULL), W2_AUTH_WRONG_ALG);
	assert_int_equal(verify(auth, tok_kid, NULL), W2_AUTH_WRONG_ALG);
	w2_auth_destroy(auth);
	auth = auth_new(&rs_kid, 1, NULL, NULL, 0);
	assert_int_equal(verify(auth, tok_kid, NULL), W2_AUTH_WRONG_ALG);
	w2_auth_destroy(auth);
	auth = auth_new(both, 2, NULL, NULL, 0);
	assert_int_equal(verify(auth, tok, NULL), W2_AUTH_BAD_SIGNATURE);
	w2_auth_destroy(auth);
	free(tok);
	free(tok_kid);
}

static void test_alg_none_refused(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, NULL, NULL, 0);
	static const char *const headers[] = {
		"{\"alg\":\"none\",\"typ\":\"JWT\"}",
		"{\"alg\":\"None\"}",
		"{\"alg\":\"hs256\"}", /* libjwt would take it; RFC 7515 names are case-sensitive */
		"{\"alg\":\"HS512\"}",
		"{\"alg\":\"PS256\"}",
		"{\"alg\":\"\"}",
	};
	char c[256], tok[1024];
	jwt_t *raw = NULL;

	fmt(c, sizeof(c), "{\"sub\":\"admin\",\"exp\":%lld}", NOW + 600);
	/* The trap is real: libjwt without a key takes an unsigned token. */
	hand_token(tok, sizeof(tok), headers[0], c, "");
	assert_int_equal(jwt_decode(&raw, tok, NULL, 0), 0);
	jwt_free(raw);
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		hand_token(tok, sizeof(tok), headers[i], c, "");
		assert_int_equal(verify(auth, tok, NULL), W2_AUTH_WRONG_ALG);
		hand_token(tok, sizeof(tok), headers[i], c, "c2lnbmF0dXJl");
		assert_int_equal(verify(auth, tok, NULL), W2_AUTH_WRONG_ALG);
	}
	w2_auth_destroy(auth);
}

static void test_tampered_refused(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, NULL, NULL, 0);
	char c[256], evil[256], forged[2048], enc[512];
	char *tok, *dot1, *dot2;

	fmt(c, sizeof(c), "{\"sub\":\"alice\",\"exp\":%lld}", NOW + 600);
	fmt(evil, sizeof(evil), "{\"sub\":\"admin\",\"exp\":%lld}", NOW + 600);
	tok = sign(JWT_ALG_HS256, SECRET1, NULL, c);
	dot1 = strchr(tok, '.');
	dot2 = strchr(dot1 + 1, '.');
	b64url(evil, enc, sizeof(enc));
	fmt(forged, sizeof(forged), "%.*s.%s%s", (int)(dot1 - tok), tok, enc, dot2);
	assert_int_equal(verify(auth, forged, NULL), W2_AUTH_BAD_SIGNATURE);
	/* A flipped signature character. */
	fmt(forged, sizeof(forged), "%s", tok);
	forged[dot2 - tok + 1] = forged[dot2 - tok + 1] == 'A' ? 'B' : 'A';
	assert_int_equal(verify(auth, forged, NULL), W2_AUTH_BAD_SIGNATURE);
	/* No signature at all. */
	fmt(forged, sizeof(forged), "%.*s", (int)(dot2 - tok + 1), tok);
	assert_int_equal(verify(auth, forged, NULL), W2_AUTH_BAD_SIGNATURE);
	free(tok);
	w2_auth_destroy(auth);
}

static void test_kid_selection(void **state)
{
	struct w2_auth_key two[2] = {key(W2_JWT_HS256, "k1", SECRET1),
				     key(W2_JWT_HS256, "k2", SECRET2)};
	struct w2_auth_key three[3] = {two[0], two[1],
				       key(W2_JWT_HS256, NULL, "third-secret-long-enough-for-hs256")};
	struct w2_auth *auth = auth_new(two, 2, NULL, NULL, 0);
	char c[256], *tok;

	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld}", NOW + 600);
	tok = sign(JWT_ALG_HS256, SECRET2, "k2", c);
	assert_int_equal(verify(auth, tok, NULL), W2_AUTH_OK);
	free(tok);
	tok = sign(JWT_ALG_HS256, SECRET2, "k1", c); /* kid names the other key */
	assert_int_equal(verify(auth, tok, NULL), W2_AUTH_BAD_SIGNATURE);
	free(tok);
	tok = sign(JWT_ALG_HS256, SECRET2, NULL, c); /* no kid: every HS256 key is tried */
	assert_int_equal(verify(auth, tok, NULL), W2_AUTH_OK);
	free(tok);
	tok = sign(JWT_ALG_HS256, SECRET2, "k3", c); /* unknown kid, no key without id */
	assert_int_equal(verify(auth, tok, NULL), W2_AUTH_BAD_SIGNATURE);
	free(tok);
	w2_auth_destroy(auth);

	auth = auth_new(three, 3, NULL, NULL, 0);
	tok = sign(JWT_ALG_HS256, "third-secret-long-enough-for-hs256", "k3", c);
	assert_int_equal(verify(auth, tok, NULL), W2_AUTH_OK); /* falls to the key without id */
	free(tok);
	tok = sign(JWT_ALG_HS256, "third-secret-long-enough-for-hs256", "k1", c);
	assert_int_equal(verify(auth, tok, NULL), W2_AUTH_BAD_SIGNATURE);
	free(tok);
	w2_auth_destroy(auth);
}

static void check_pem_alg(const char *priv, const char *pub, enum w2_jwt_alg alg,
			  jwt_alg_t jalg)
{
	struct w2_auth_key k = key(alg, "idp-2024", pub);
	struct w2_auth *auth = auth_new(&k, 1, "webrtc2", "https://idp.example.org", 0);
	struct w2_identity id;
	char c[256], *tok;

	fmt(c, sizeof(c),
	    "{\"sub\":\"carol@example.org\",\"exp\":%lld,\"aud\":\"webrtc2\","
	    "\"iss\":\"https://idp.example.org\"}",
	    NOW + 600);
	tok = sign(jalg, priv, "idp-2024", c);
	assert_int_equal(verify(auth, tok, &id), W2_AUTH_OK);
	assert_string_equal(id.user, "carol");
	free(tok);
	tok = sign(jalg, priv, NULL, c);
	assert_int_equal(verify(auth, tok, &id), W2_AUTH_OK);
	free(tok);
	w2_auth_destroy(auth);
}

static void test_es256_good(void **state)
{
	struct keys *keys = *state;

	check_pem_alg(keys->ec_priv, keys->ec_pub, W2_JWT_ES256, JWT_ALG_ES256);
}

static void test_rs256_good(void **state)
{
	struct keys *keys = *state;

	check_pem_alg(keys->rsa_priv, keys->rsa_pub, W2_JWT_RS256, JWT_ALG_RS256);
}

static void test_es_token_for_rs_key(void **state)
{
	struct keys *keys = *state;
	struct w2_auth_key k = key(W2_JWT_RS256, NULL, keys->rsa_pub);
	struct w2_auth *auth = auth_new(&k, 1, NULL, NULL, 0);
	char c[256], *tok;

	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld}", NOW + 600);
	tok = sign(JWT_ALG_ES256, keys->ec_priv, NULL, c);
	assert_int_equal(verify(auth, tok, NULL), W2_AUTH_WRONG_ALG);
	free(tok);
	w2_auth_destroy(auth);
}

static void test_create_refuses_bad_keys(void **state)
{
	struct keys *keys = *state;
	struct w2_config cfg = config(NULL, 0, NULL, NULL, 0);
	struct w2_auth *auth = (struct w2_auth *)&cfg;
	char secret31[W2_AUTH_MIN_SECRET], secret32[W2_AUTH_MIN_SECRET + 1];

	memset(secret31, 's', sizeof(secret31) - 1);
	secret31[sizeof(secret31) - 1] = '\0';
	memset(secret32, 's', sizeof(secret32) - 1);
	secret32[sizeof(secret32) - 1] = '\0';
	assert_int_equal(create_rc(key(W2_JWT_HS256, NULL, secret31)), W2_ECONFIG);
	assert_int_equal(create_rc(key(W2_JWT_HS256, NULL, secret32)), 0);
	assert_int_equal(create_rc(key(W2_JWT_HS256, NULL, "")), W2_ECONFIG);
	assert_int_equal(create_rc(key(W2_JWT_ES256, NULL, keys->rsa_pub)), W2_ECONFIG);
	assert_int_equal(create_rc(key(W2_JWT_RS256, NULL, keys->ec_pub)), W2_ECONFIG);
	assert_int_equal(create_rc(key(W2_JWT_ES256, NULL, keys->p384_pub)), W2_ECONFIG);
	assert_int_equal(create_rc(key(W2_JWT_RS256, NULL, keys->rsa1024_pub)), W2_ECONFIG);
	assert_int_equal(create_rc(key(W2_JWT_RS256, NULL, keys->rsa_priv)), W2_ECONFIG);
	assert_int_equal(create_rc(key(W2_JWT_RS256, NULL, SECRET1)), W2_ECONFIG);
	assert_int_equal(create_rc(key((enum w2_jwt_alg)99, NULL, SECRET1)), W2_ECONFIG);
	assert_int_equal(create_rc(key(W2_JWT_ES256, NULL, keys->ec_pub)), 0);
	assert_int_equal(create_rc(key(W2_JWT_RS256, NULL, keys->rsa_pub)), 0);
	/* No key at all can never accept anything: a configuration error. */
	assert_int_equal(w2_auth_create(&auth, &cfg), W2_ECONFIG);
	assert_null(auth);
	assert_int_equal(w2_auth_create(NULL, &cfg), W2_EINVAL);
	w2_auth_destroy(NULL);
}

static void test_malformed(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, NULL, NULL, 0);
	static const char *const bad[] = {
		"", ".", "..", "a.b", "a.b.c.d", "abc", ".eyJ9.sig", "eyJ9..sig",
		"eyJh bGciOiJIUzI1NiJ9.e30.sig", "eyJhbGciOiJIUzI1NiJ9=.e30.sig",
		"eyJhbGciOiJIUzI1NiJ9.e30+.sig", "eyJhbGciOiJIUzI1NiJ9.e30.si/g",
		"bm90IGpzb24.e30.sig",   /* header "not json" */
		"WzFd.e30.sig",          /* header [1] */
		"eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.sig", /* payload "not json" */
		"eyJhbGciOiJIUzI1NiJ9.WzFd.sig",        /* payload [1] */
		"eyJhbGciOiJIUzI1NiJ9.e30x.sig",        /* bad base64 length */
		"eyJhbGciOiJIUzI1NiJ9.e31.sig",         /* non-canonical base64 */
	};
	static const char *const bad_headers[] = {
		"{}", "{\"alg\":5}", "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
		"{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}",
		"{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", "{\"alg\":\"HS256\",\"kid\":7}",
	};
	char big[W2_TOKEN_MAX + 2], tok[1024], c[128];
	struct w2_identity id;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(verify(auth, bad[i], &id), W2_AUTH_MALFORMED);
	fmt(c, sizeof(c), "{\"sub\":\"a\",\"exp\":%lld}", NOW + 600);
	for (size_t i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
		hand_token(tok, sizeof(tok), bad_headers[i], c, "c2ln");
		assert_int_equal(verify(auth, tok, &id), W2_AUTH_MALFORMED);
	}
	hand_token(tok, sizeof(tok), "{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"sub\":\"b\"}", "c2ln");
	assert_int_equal(verify(auth, tok, &id), W2_AUTH_MALFORMED);
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[100] = '.';
	big[200] = '.';
	assert_int_equal(strlen(big), W2_TOKEN_MAX + 1);
	assert_int_equal(verify(auth, big, &id), W2_AUTH_MALFORMED);
	assert_int_equal(w2_auth_verify(auth, NULL, 0, NOW, &id), W2_AUTH_MALFORMED);
	assert_int_equal(w2_auth_verify(auth, "a.b.c", 5, NOW, NULL), W2_AUTH_MALFORMED);
	assert_int_equal(w2_auth_verify(auth, "a\0b.c.d", 7, NOW, &id), W2_AUTH_MALFORMED);
	w2_auth_destroy(auth);
}

/* Signs an HS256 token of exactly `want` bytes (padding claim and kid varied
 * until the length fits); returns NULL if none could be made. */
static char *token_of_length(size_t want)
{
	static const char *const kids[] = {NULL, "x", "xy", "xyz"};
	static char claims[W2_TOKEN_MAX];
	char pad[W2_TOKEN_MAX];

	for (size_t k = 0; k < sizeof(kids) / sizeof(kids[0]); k++) {
		for (size_t n = want * 3 / 4 - 200; n < want * 3 / 4; n++) {
			char *tok;

			memset(pad, 'p', n);
			pad[n] = '\0';
			fmt(claims, sizeof(claims), "{\"sub\":\"a\",\"exp\":%lld,\"pad\":\"%s\"}",
			    NOW + 60, pad);
			tok = sign(JWT_ALG_HS256, SECRET1, kids[k], claims);
			if (strlen(tok) == want)
				return tok;
			free(tok);
		}
	}
	return NULL;
}

static void test_size_limit(void **state)
{
	struct w2_auth_key k = key(W2_JWT_HS256, NULL, SECRET1);
	struct w2_auth *auth = auth_new(&k, 1, NULL, NULL, 0);
	char *tok;

	tok = token_of_length(W2_TOKEN_MAX);
	assert_non_null(tok);
	assert_int_equal(verify(auth, tok, NULL), W2_AUTH_OK);
	free(tok);
	tok = token_of_length(W2_TOKEN_MAX + 1);
	assert_non_null(tok);
	assert_int_equal(verify(auth, tok, NULL), W2_AUTH_MALFORMED);
	free(tok);
	w2_auth_destroy(auth);
}

static void test_fail_messages(void **state)
{
	for (int i = W2_AUTH_OK; i <= W2_AUTH_BAD_SUBJECT; i++) {
		const char *m = w2_auth_fail_message((enum w2_auth_fail)i);

		assert_non_null(m);
		assert_true(strlen(m) > 10);
		for (int j = W2_AUTH_OK; j < i; j++)
			assert_string_not_equal(m, w2_auth_fail_message((enum w2_auth_fail)j));
	}
	assert_non_null(w2_auth_fail_message((enum w2_auth_fail)1000));
	assert_non_null(strstr(w2_auth_fail_message(W2_AUTH_NOT_YET_VALID), "not valid yet"));
}

static void test_user_name_valid(void **state)
{
	assert_true(w2_user_name_valid("alice", 5));
	assert_true(w2_user_name_valid("a", 1));
	assert_true(w2_user_name_valid("Al.ice_-9", 9));
	assert_true(w2_user_name_valid("alice@x", 5)); /* only len bytes count */
	assert_false(w2_user_name_valid("", 0));
	assert_false(w2_user_name_valid(NULL, 3));
	assert_false(w2_user_name_valid(".alice", 6));
	assert_false(w2_user_name_valid("al/ice", 6));
	assert_false(w2_user_name_valid("al\0ce", 5));
	assert_false(w2_user_name_valid("alice@x", 7));
}

/* One create + mint + verify pass under allocation failure at step n. */
static int alloc_pass(const struct w2_config *cfg, const char *rs_tok, long n)
{
	struct w2_auth *auth = NULL;
	struct w2_identity id;
	char *tok = NULL;
	int rc;

	w2_alloc_fail_after(n);
	rc = w2_auth_mint_hs256((const unsigned char *)SECRET1, strlen(SECRET1), "dave", NOW, 60,
				"webrtc2", "idp", &tok);
	if (rc == 0)
		rc = w2_auth_create(&auth, cfg);
	w2_alloc_fail_after(-1);
	if (rc == 0) {
		assert_int_equal(w2_auth_verify(auth, tok, strlen(tok), NOW, &id), W2_AUTH_OK);
		assert_int_equal(verify(auth, rs_tok, &id), W2_AUTH_OK);
	}
	w2_auth_destroy(auth);
	w2_free(tok);
	return rc;
}

static void test_allocation_failures(void **state)
{
	struct keys *keys = *state;
	struct w2_auth_key k[3] = {key(W2_JWT_HS256, "hs", SECRET1),
				   key(W2_JWT_RS256, "rs", keys->rsa_pub),
				   key(W2_JWT_ES256, NULL, keys->ec_pub)};
	struct w2_config cfg = config(k, 3, "webrtc2", "idp", 5);
	char c[256], *rs_tok;
	long n;
	int rc = -1;

	fmt(c, sizeof(c), "{\"sub\":\"dave\",\"exp\":%lld,\"aud\":\"webrtc2\",\"iss\":\"idp\"}",
	    NOW + 60);
	rs_tok = sign(JWT_ALG_RS256, keys->rsa_priv, "rs", c);
	for (n = 0; n < 200 && rc != 0; n++) {
		rc = alloc_pass(&cfg, rs_tok, n);
		assert_true(rc == 0 || rc == W2_ENOMEM);
	}
	assert_int_equal(rc, 0);
	assert_true(n > 5); /* failures were really injected */
	free(rs_tok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hs256_good),
		cmocka_unit_test(test_mint_roundtrip),
		cmocka_unit_test(test_mint_refuses_bad_arguments),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_exp_missing_or_bad),
		cmocka_unit_test(test_nbf_iat_future),
		cmocka_unit_test(test_clock_skew_both_ways),
		cmocka_unit_test(test_wrong_key),
		cmocka_unit_test(test_audience),
		cmocka_unit_test(test_issuer),
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_alg_confusion_refused),
		cmocka_unit_test(test_alg_none_refused),
		cmocka_unit_test(test_tampered_refused),
		cmocka_unit_test(test_kid_selection),
		cmocka_unit_test(test_es256_good),
		cmocka_unit_test(test_rs256_good),
		cmocka_unit_test(test_es_token_for_rs_key),
		cmocka_unit_test(test_create_refuses_bad_keys),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_fail_messages),
		cmocka_unit_test(test_user_name_valid),
		cmocka_unit_test(test_allocation_failures),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
