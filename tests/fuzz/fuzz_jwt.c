/* Fuzz target for src/signal/auth.c.
 *
 * Every input is verified twice by one verifier built once (HS256 with kid
 * "hs1", ES256 with kid "ec1", RS256 without kid; audience, issuer, domain
 * and clock skew set, so every check runs):
 *   1. as a token, byte for byte, which exercises the shape, base64url,
 *      header and key-selection code and libjwt's decoder;
 *   2. as "header-json\npayload-json" (or just payload-json, with an HS256
 *      header), signed here with the HS256 key, so that mutations get past
 *      the signature and reach the claim checks.
 * The clock is fixed at FUZZ_NOW so the committed valid seeds stay valid.
 * The seeds in corpus/jwt/ were signed with throwaway private keys that are
 * not kept; only the public halves below matter. */
#include "core/config.h"
#include "signal/auth.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NOW 1700000000

static const char k_hs_secret[] = "fuzz-hs256-secret-0123456789abcdef";

static const char k_ec_pub[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEj9GjivBGpMqAHKToQRbaoBU7L0O+\n"
	"QWW48+u9YSUyiDVJtcX6Kgdn9vZLTs/jnCazimD41imSRbL5UCmYmVeViA==\n"
	"-----END PUBLIC KEY-----\n";

static const char k_rsa_pub[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmYQyURDRc9EBKDkp2pUI\n"
	"PypywgfTSZ2BERqLcS7MsTwCO4JHWsHbayOp7EF8B2G4SUuKO21BSjKnDP3PDwiV\n"
	"E+HcFoKGqv/4uM1Frc15Om2vNNwUH+dVjPYnAfz7CBR2n7aRFvc+75cRSphvE9fy\n"
	"eFMiYK5px8E69afJd56deZv8ORhfVUhaG0vS8vceO6T4oh3j51sXrxJDts5m4yWo\n"
	"mEMXP0qf0Pu41A5XRHYIfi8NQw9TUgGhmVZxFefuIifpfHQFQzL0blSTViOwsWuJ\n"
	"AYoi2MFZY/f/51mrU32tse9YF7ZAHmq9/dKiTRIKIQ6Jzxsvwso5x226jZqOf6yb\n"
	"EQIDAQAB\n"
	"-----END PUBLIC KEY-----\n";

static const char k_default_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Built on first use and kept for the life of the process (libFuzzer and
 * the replay driver both call only LLVMFuzzerTestOneInput). */
static const struct w2_auth *fuzz_auth(void)
{
	static struct w2_auth *auth;
	struct w2_auth_key keys[3];
	struct w2_config cfg;

	if (auth)
		return auth;
	memset(keys, 0, sizeof(keys));
	keys[0] = (struct w2_auth_key){(char *)"hs1", W2_JWT_HS256,
				       (unsigned char *)k_hs_secret, sizeof(k_hs_secret) - 1};
	keys[1] = (struct w2_auth_key){(char *)"ec1", W2_JWT_ES256, (unsigned char *)k_ec_pub,
				       sizeof(k_ec_pub) - 1};
	keys[2] = (struct w2_auth_key){NULL, W2_JWT_RS256, (unsigned char *)k_rsa_pub,
				       sizeof(k_rsa_pub) - 1};
	memset(&cfg, 0, sizeof(cfg));
	cfg.keys = keys;
	cfg.n_keys = 3;
	cfg.audience = (char *)"webrtc2";
	cfg.issuer = (char *)"https://idp.example.org";
	cfg.domain = (char *)"example.org";
	cfg.clock_skew_s = 30;
	if (w2_auth_create(&auth, &cfg) != 0)
		abort();
	return auth;
}

/* A verdict must be consistent with the identity it fills in. */
static void check_result(enum w2_auth_fail why, const struct w2_identity *id)
{
	if (!w2_auth_fail_message(why))
		abort();
	if (why != W2_AUTH_OK) {
		if (id->user[0] || id->expires_at)
			abort();
		return;
	}
	if (!w2_user_name_valid(id->user, strlen(id->user)) || id->expires_at <= FUZZ_NOW - 30)
		abort();
}

static size_t b64url_encode(const uint8_t *in, size_t len, char *out)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t n = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	for (size_t i = 0; i < len; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[n++] = abc[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[n++] = abc[(acc << (6 - bits)) & 63];
	return n;
}

/* Encodes header and payload, signs them with the HS256 key and verifies. */
static void verify_signed(const uint8_t *hdr, size_t hdr_len, const uint8_t *body,
			  size_t body_len)
{
	static char tok[W2_TOKEN_MAX + 128];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	struct w2_identity id;
	size_t n;

	if ((hdr_len + body_len) / 3 * 4 + 64 > W2_TOKEN_MAX)
		return;
	n = b64url_encode(hdr, hdr_len, tok);
	tok[n++] = '.';
	n += b64url_encode(body, body_len, tok + n);
	if (!HMAC(EVP_sha256(), k_hs_secret, (int)sizeof(k_hs_secret) - 1,
		  (const unsigned char *)tok, n, mac, &mac_len))
		abort();
	tok[n++] = '.';
	n += b64url_encode(mac, mac_len, tok + n);
	check_result(w2_auth_verify(fuzz_auth(), tok, n, FUZZ_NOW, &id), &id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct w2_auth *auth = fuzz_auth();
	const uint8_t *nl = size ? memchr(data, '\n', size) : NULL;
	struct w2_identity id;

	check_result(w2_auth_verify(auth, (const char *)data, size, FUZZ_NOW, &id), &id);
	if (nl)
		verify_signed(data, (size_t)(nl - data), nl + 1, size - (size_t)(nl - data) - 1);
	else
		verify_signed((const uint8_t *)k_default_header, sizeof(k_default_header) - 1,
			      data, size);
	return 0;
}
