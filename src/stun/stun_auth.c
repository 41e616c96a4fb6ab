/* STUN integrity: FINGERPRINT's CRC-32, the MESSAGE-INTEGRITY and
 * MESSAGE-INTEGRITY-SHA256 checks, and the long-term credential key
 * (RFC 8489 sections 9.2.2, 14.5 to 14.7).
 *
 * OpenSSL 3 does the hashing. The checks cannot use the one-shot HMAC():
 * the HMAC covers the header with its length field rewritten (to end just
 * after the integrity attribute) followed by the untouched attributes, and
 * the caller's buffer is const, so the two parts are fed to an EVP_MAC
 * context one after the other instead of being copied into a 64 KiB
 * scratch buffer. */
#include "stun/stun.h"

#include "core/error.h"
#include "stun/stun_int.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <string.h>

/* ---- CRC-32 ------------------------------------------------------------- */

/* The CRC of every 4-bit value for the reflected polynomial 0xEDB88320: a
 * 16-entry table is small and fast enough for a message of at most 64 KiB
 * (two lookups per byte). */
static const uint32_t crc_nibble[16] = {
	0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
	0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
	0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t w2__stun_crc32(const uint8_t *p, size_t n)
{
	uint32_t crc = 0xFFFFFFFFu;

	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		crc = (crc >> 4) ^ crc_nibble[crc & 0x0F];
		crc = (crc >> 4) ^ crc_nibble[crc & 0x0F];
	}
	return crc ^ 0xFFFFFFFFu;
}

/* ---- HMAC over a rewritten header --------------------------------------- */

/* HMAC with `digest` ("SHA1" or "SHA256") over a then b, into out (32 bytes
 * of room). An empty key is valid HMAC input; OpenSSL wants a non-NULL
 * pointer for it. */
static int hmac_two_parts(const char *digest, const uint8_t *key, size_t key_len,
			  const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
			  uint8_t out[W2_STUN_SHA256_LEN])
{
	static const uint8_t empty_key[1];
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2];
	size_t n = 0;
	int ok;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = ctx && EVP_MAC_init(ctx, key_len ? key : empty_key, key_len, params) &&
	     EVP_MAC_update(ctx, a, a_len) && EVP_MAC_update(ctx, b, b_len) &&
	     EVP_MAC_final(ctx, out, &n, W2_STUN_SHA256_LEN);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok ? 0 : W2_EIO;
}

/* The HMAC an integrity attribute `a` should carry: RFC 8489 section 14.5
 * (and 14.6): over the message up to the attribute's header, with the
 * header's length field set as if the message ended right after `a`. */
static int integrity_mac(const struct w2_stun_msg *m, const struct w2_stun_attr *a,
			 const char *digest, const uint8_t *key, size_t key_len,
			 uint8_t out[W2_STUN_SHA256_LEN])
{
	uint8_t hdr[W2_STUN_HEADER_LEN];
	size_t attr_start = a->off - 4;

	memcpy(hdr, m->buf, W2_STUN_HEADER_LEN);
	w2__put_be16(hdr + 2, (uint16_t)(a->off + w2__pad4(a->len) - W2_STUN_HEADER_LEN));
	return hmac_two_parts(digest, key, key_len, hdr, sizeof(hdr), m->buf + W2_STUN_HEADER_LEN,
			      attr_start - W2_STUN_HEADER_LEN, out);
}

int w2_stun_check_integrity(const struct w2_stun_msg *m, const uint8_t *key, size_t key_len)
{
	const struct w2_stun_attr *a;
	uint8_t mac[W2_STUN_SHA256_LEN];
	int rc;

	if (m->integrity < 0)
		return W2_ENOENT;
	a = &m->attrs[m->integrity];
	if (a->len != W2_STUN_SHA1_LEN)
		return W2_EPROTO; /* w2_stun_parse() refuses it; a hand-built msg may not */
	rc = integrity_mac(m, a, "SHA1", key, key_len, mac);
	if (rc != 0)
		return rc;
	/* Constant time, so the answer's timing reveals nothing of the HMAC. */
	if (CRYPTO_memcmp(mac, w2_stun_attr_value(m, a), W2_STUN_SHA1_LEN) != 0)
		return W2_EAUTH;
	return 0;
}

int w2_stun_check_integrity_sha256(const struct w2_stun_msg *m, const uint8_t *key,
				   size_t key_len)
{
	const struct w2_stun_attr *a;
	uint8_t mac[W2_STUN_SHA256_LEN];
	int rc;

	if (m->integrity_sha256 < 0)
		return W2_ENOENT;
	a = &m->attrs[m->integrity_sha256];
	/* RFC 8489 section 14.6: the HMAC may be truncated to its leading 16,
	 * 20, 24 or 28 bytes; nothing shorter, nothing in between. */
	if (a->len < 16 || a->len > W2_STUN_SHA256_LEN || a->len % 4 != 0)
		return W2_EPROTO;
	rc = integrity_mac(m, a, "SHA256", key, key_len, mac);
	if (rc != 0)
		return rc;
	if (CRYPTO_memcmp(mac, w2_stun_attr_value(m, a), a->len) != 0)
		return W2_EAUTH;
	return 0;
}

int w2_stun_check_fingerprint(const struct w2_stun_msg *m)
{
	const struct w2_stun_attr *a;
	uint32_t crc;

	if (m->fingerprint < 0)
		return W2_ENOENT;
	a = &m->attrs[m->fingerprint];
	if (a->len != 4)
		return W2_EPROTO;
	/* RFC 8489 section 14.7: FINGERPRINT is last, so the header's length
	 * already ends after it; the CRC covers everything before its header. */
	crc = w2__stun_crc32(m->buf, a->off - 4) ^ W2_STUN_FINGERPRINT_XOR;
	return crc == w2__be32(w2_stun_attr_value(m, a)) ? 0 : W2_EPROTO;
}

/* ---- long-term credentials ---------------------------------------------- */

int w2_stun_long_term_key(enum w2_stun_password_alg alg, const char *user, size_t user_len,
			  const char *realm, size_t realm_len, const char *pass, size_t pass_len,
			  uint8_t key[32], size_t *key_len)
{
	const EVP_MD *md = alg == W2_STUN_PW_MD5 ? EVP_md5()
			   : alg == W2_STUN_PW_SHA256 ? EVP_sha256()
						      : NULL;
	EVP_MD_CTX *ctx;
	unsigned n = 0;
	int ok;

	if (!md)
		return W2_EINVAL;
	/* RFC 8489 section 9.2.2: key = H(username ":" realm ":" password). */
	ctx = EVP_MD_CTX_new();
	ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, user, user_len) &&
	     EVP_DigestUpdate(ctx, ":", 1) && EVP_DigestUpdate(ctx, realm, realm_len) &&
	     EVP_DigestUpdate(ctx, ":", 1) && EVP_DigestUpdate(ctx, pass, pass_len) &&
	     EVP_DigestFinal_ex(ctx, key, &n);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return W2_EIO;
	*key_len = n;
	return 0;
}
