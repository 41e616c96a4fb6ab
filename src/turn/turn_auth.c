/* Long-term credentials (RFC 8489 section 9.2), stateless nonces, the TURN
 * REST API password (draft-uberti-behave-turn-rest, coturn's
 * use-auth-secret) and the per-source limit on unauthenticated requests.
 *
 * Time: now_ms is wall-clock milliseconds since the Unix epoch here,
 * because REST usernames carry a Unix expiry time. */
#include "turn/turn_int.h"

#include "core/error.h"
#include "core/log.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>

/* ---- unauthenticated rate limit ---------------------------------------- */

static size_t rate_slot(const struct w2_turn *t, const struct sockaddr *src)
{
	unsigned char h[crypto_shorthash_BYTES];
	const uint8_t *ip;
	uint16_t port;
	int family;
	uint64_t v = 0;

	if (!w2__turn_ip_view(src, &family, &ip, &port))
		return 0;
	/* Keyed (SipHash, per-engine key): a source cannot choose addresses
	 * that share a slot with a victim's. Colliding sources share one
	 * bucket, which only ever makes the limit stricter. */
	crypto_shorthash(h, ip, family == AF_INET ? 4 : 16, t->hash_key);
	memcpy(&v, h, sizeof(v));
	return (size_t)(v % W2__TURN_RATE_SLOTS);
}

bool w2__turn_rate_take(struct w2_turn *t, const struct sockaddr *src, uint64_t now_ms)
{
	uint64_t rate = t->cfg->unauth_requests_per_s;
	uint64_t cap = 2 * rate * 1000; /* burst: two seconds' worth */
	struct w2__turn_rate *b;

	if (rate == 0)
		return true; /* no limit configured */
	b = &t->rate[rate_slot(t, src)];
	if (!b->seen) {
		b->seen = true;
		b->millitokens = cap; /* a source never seen starts full */
	} else if (now_ms > b->last_ms) {
		b->millitokens += (now_ms - b->last_ms) * rate; /* 1000 per token */
	}
	if (b->millitokens > cap)
		b->millitokens = cap;
	b->last_ms = now_ms > b->last_ms ? now_ms : b->last_ms;
	if (b->millitokens < 1000) {
		t->stats.rate_limited_total++;
		return false;
	}
	b->millitokens -= 1000;
	return true;
}

/* ---- nonces ------------------------------------------------------------ */

/* MAC over the expiry and the client's IP, so a nonce is bound to the
 * address it was handed to and cannot be extended. */
static void nonce_mac(const struct w2_turn *t, uint32_t expiry_s, const struct sockaddr *src,
		      uint8_t mac[W2__TURN_NONCE_MAC])
{
	crypto_auth_hmacsha256_state st;
	uint8_t full[crypto_auth_hmacsha256_BYTES];
	uint8_t be[4] = {(uint8_t)(expiry_s >> 24), (uint8_t)(expiry_s >> 16),
			 (uint8_t)(expiry_s >> 8), (uint8_t)expiry_s};
	const uint8_t *ip;
	uint16_t port;
	int family = 0;

	crypto_auth_hmacsha256_init(&st, t->nonce_key, sizeof(t->nonce_key));
	crypto_auth_hmacsha256_update(&st, be, sizeof(be));
	if (w2__turn_ip_view(src, &family, &ip, &port))
		crypto_auth_hmacsha256_update(&st, ip, family == AF_INET ? 4 : 16);
	crypto_auth_hmacsha256_final(&st, full);
	memcpy(mac, full, W2__TURN_NONCE_MAC);
}

static void nonce_make(const struct w2_turn *t, const struct sockaddr *src, uint64_t now_ms,
		       char out[W2__TURN_NONCE_LEN + 1])
{
	uint32_t expiry_s = (uint32_t)(now_ms / 1000 + W2_TURN_NONCE_LIFETIME_S);
	uint8_t mac[W2__TURN_NONCE_MAC];

	nonce_mac(t, expiry_s, src, mac);
	snprintf(out, 9, "%08x", (unsigned)expiry_s);
	sodium_bin2hex(out + 8, W2__TURN_NONCE_LEN - 8 + 1, mac, sizeof(mac));
}

/* True if the nonce is one we made for this address and has not expired. */
static bool nonce_fresh(const struct w2_turn *t, const struct sockaddr *src, const uint8_t *nonce,
			size_t len, uint64_t now_ms)
{
	uint8_t bin[4 + W2__TURN_NONCE_MAC];
	uint8_t mac[W2__TURN_NONCE_MAC];
	size_t bin_len = 0;
	uint32_t expiry_s;

	if (len != W2__TURN_NONCE_LEN ||
	    sodium_hex2bin(bin, sizeof(bin), (const char *)nonce, len, NULL, &bin_len, NULL) != 0 ||
	    bin_len != sizeof(bin))
		return false;
	expiry_s = (uint32_t)bin[0] << 24 | (uint32_t)bin[1] << 16 | (uint32_t)bin[2] << 8 | bin[3];
	nonce_mac(t, expiry_s, src, mac);
	if (sodium_memcmp(mac, bin + 4, sizeof(mac)) != 0)
		return false;
	return now_ms / 1000 < expiry_s;
}

/* 401 or 438 with REALM and a fresh NONCE (RFC 8489 section 9.2.4), no
 * integrity: the client has no key we accept yet. */
static void reply_challenge(struct w2__turn_req *r, int code)
{
	struct w2_stun_writer w;
	char nonce[W2__TURN_NONCE_LEN + 1];
	const struct sockaddr *src = (const struct sockaddr *)&r->c->addr;

	r->authed = false;
	nonce_make(r->t, src, r->now_ms, nonce);
	w2__turn_reply_begin(r, &w, W2_STUN_ERROR);
	w2_stun_put_error(&w, code, NULL);
	w2_stun_put(&w, W2_STUN_A_REALM, r->t->cfg->realm, r->t->realm_len);
	w2_stun_put(&w, W2_STUN_A_NONCE, nonce, W2__TURN_NONCE_LEN);
	w2__turn_reply_send(r, &w);
}

/* ---- passwords --------------------------------------------------------- */

static int rest_password(const uint8_t *secret, size_t secret_len, const char *user,
			 size_t user_len, char out[W2_TURN_REST_PASS_MAX])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;

	if (!HMAC(EVP_sha1(), secret, (int)secret_len, (const unsigned char *)user, user_len, mac,
		  &mac_len) ||
	    mac_len != W2_STUN_SHA1_LEN)
		return W2_EIO;
	sodium_bin2base64(out, W2_TURN_REST_PASS_MAX, mac, mac_len,
			  sodium_base64_VARIANT_ORIGINAL);
	return 0;
}

int w2_turn_rest_credential(const uint8_t *secret, size_t secret_len, const char *user,
			    int64_t expires_at, char *username, char *password)
{
	int n;

	if (!secret || secret_len == 0 || !user || user[0] == '\0' || !username || !password)
		return W2_EINVAL;
	n = snprintf(username, W2_TURN_REST_USER_MAX, "%lld:%s", (long long)expires_at, user);
	if (n < 0 || n >= W2_TURN_REST_USER_MAX) {
		username[0] = '\0';
		return W2_EINVAL;
	}
	return rest_password(secret, secret_len, username, (size_t)n, password);
}

/* Splits "<expiry>:<name>": true with the expiry and the name. */
static bool rest_split(const char *user, size_t len, int64_t *expiry, size_t *name_off)
{
	int64_t v = 0;
	size_t i = 0;

	while (i < len && i < 19 && user[i] >= '0' && user[i] <= '9')
		v = v * 10 + (user[i++] - '0');
	if (i == 0 || i >= len || user[i] != ':' || i + 1 >= len)
		return false;
	*expiry = v;
	*name_off = i + 1;
	return true;
}

/* The password for USERNAME: REST when a secret is configured and the name
 * has the REST form, else a static user. W2_EAUTH when unknown or expired;
 * sets the quota name. */
static int find_password(struct w2__turn_req *r, char pass[W2_TURN_REST_PASS_MAX],
			 const char **pw, size_t *pw_len)
{
	const struct w2_turn_settings *cfg = r->t->cfg;
	int64_t expiry;
	size_t off;

	if (cfg->secret && cfg->secret_len > 0 && rest_split(r->user, r->user_len, &expiry, &off)) {
		if (expiry <= (int64_t)(r->now_ms / 1000))
			return W2_EAUTH;
		if (rest_password(cfg->secret, cfg->secret_len, r->user, r->user_len, pass) != 0)
			return W2_EAUTH;
		*pw = pass;
		*pw_len = strlen(pass);
		r->quota_name = r->user + off;
		r->quota_len = r->user_len - off;
		return 0;
	}
	for (size_t i = 0; i < cfg->n_users; i++) {
		const char *name = cfg->users[i].name;

		if (name && strlen(name) == r->user_len && memcmp(name, r->user, r->user_len) == 0) {
			*pw = cfg->users[i].password ? cfg->users[i].password : "";
			*pw_len = strlen(*pw);
			r->quota_name = r->user;
			r->quota_len = r->user_len;
			return 0;
		}
	}
	return W2_EAUTH;
}

/* RFC 8489 section 18.5: the key algorithm is MD5 unless the request's
 * PASSWORD-ALGORITHM names SHA-256. */
static enum w2_stun_password_alg key_alg(const struct w2_stun_msg *m)
{
	const struct w2_stun_attr *pa = w2_stun_find(m, W2_STUN_A_PASSWORD_ALGORITHM);

	if (pa && pa->len >= 2 && w2__turn_be16(w2_stun_attr_value(m, pa)) == W2_STUN_PW_SHA256)
		return W2_STUN_PW_SHA256;
	return W2_STUN_PW_MD5;
}

/* The key: the allocation's when the same USERNAME created it (as coturn
 * does: an allocation outlives its REST credential's expiry, so a long
 * call can still refresh it), else derived from the password. */
static int derive_key(struct w2__turn_req *r)
{
	char pass[W2_TURN_REST_PASS_MAX];
	const char *pw;
	size_t pw_len;

	if (r->a && r->a->username_len == r->user_len &&
	    memcmp(r->a->username, r->user, r->user_len) == 0) {
		memcpy(r->key, r->a->key, r->a->key_len);
		r->key_len = r->a->key_len;
		r->quota_name = NULL;
		return 0;
	}
	if (find_password(r, pass, &pw, &pw_len) != 0)
		return W2_EAUTH;
	if (w2_stun_long_term_key(key_alg(r->m), r->user, r->user_len, r->t->cfg->realm,
				  r->t->realm_len, pw, pw_len, r->key, &r->key_len) != 0)
		return W2_EAUTH;
	sodium_memzero(pass, sizeof(pass));
	return 0;
}

static int check_integrity(struct w2__turn_req *r)
{
	/* RFC 8489 section 9.2.4: with both, the SHA-256 one is checked. */
	r->sha256 = r->m->integrity_sha256 >= 0;
	if (r->sha256)
		return w2_stun_check_integrity_sha256(r->m, r->key, r->key_len);
	return w2_stun_check_integrity(r->m, r->key, r->key_len);
}

/* A failure before the key is known is an unauthenticated answer: it is
 * rate-limited like any other. */
static int fail_unauth(struct w2__turn_req *r, int code, int err)
{
	if (w2__turn_rate_take(r->t, (const struct sockaddr *)&r->c->addr, r->now_ms)) {
		if (code == W2_STUN_ERR_BAD_REQUEST)
			w2__turn_reply_error(r, code);
		else
			reply_challenge(r, code);
	}
	return err;
}

int w2__turn_authenticate(struct w2__turn_req *r)
{
	const struct w2_stun_msg *m = r->m;
	const struct w2_stun_attr *user, *realm, *nonce;

	if (m->integrity < 0 && m->integrity_sha256 < 0)
		return fail_unauth(r, W2_STUN_ERR_UNAUTHORIZED, W2_EAUTH);
	user = w2_stun_find(m, W2_STUN_A_USERNAME);
	realm = w2_stun_find(m, W2_STUN_A_REALM);
	nonce = w2_stun_find(m, W2_STUN_A_NONCE);
	if (!user || !realm || !nonce || user->len == 0)
		return fail_unauth(r, W2_STUN_ERR_BAD_REQUEST, W2_EPROTO);
	r->user = (const char *)w2_stun_attr_value(m, user);
	r->user_len = user->len;
	if (r->user_len > W2__TURN_USERNAME_MAX || derive_key(r) != 0 || check_integrity(r) != 0) {
		r->t->stats.auth_failures_total++;
		W2_LOG_DEBUG(W2__TURN_MOD, "event=auth_failed method=%s",
			     w2_stun_method_name(m->method));
		return fail_unauth(r, W2_STUN_ERR_UNAUTHORIZED, W2_EAUTH);
	}
	if (!nonce_fresh(r->t, (const struct sockaddr *)&r->c->addr, w2_stun_attr_value(m, nonce),
			 nonce->len, r->now_ms)) {
		r->t->stats.stale_nonces_total++;
		return fail_unauth(r, W2_STUN_ERR_STALE_NONCE, W2_EAUTH);
	}
	r->authed = true;
	/* RFC 8656 section 5: requests on an allocation must come from the
	 * user who created it. An Allocate on a 5-tuple in use gets 437 from
	 * the Allocate handler instead (section 7.2), whoever sends it. */
	if (r->a && r->m->method != W2_TURN_ALLOCATE && (r->a->username_len != r->user_len ||
		     memcmp(r->a->username, r->user, r->user_len) != 0)) {
		w2__turn_reply_error(r, W2_STUN_ERR_WRONG_CREDENTIALS);
		return W2_EAUTH;
	}
	return 0;
}
