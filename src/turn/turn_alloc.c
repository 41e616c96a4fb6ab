/* Allocate (RFC 8656 section 7.2) and Refresh (section 8.2). */
#include "turn/turn_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"

#include <string.h>

/* Attributes we do not implement and so answer with 420, as RFC 8656
 * section 7.2 allows for DONT-FRAGMENT ("treat as an unknown
 * comprehension-required attribute"). RESERVATION-TOKEN would need a port
 * pair reserved across allocations; no WebRTC client asks for one (RTP and
 * RTCP are multiplexed), so it gets the same. EVEN-PORT is handled in
 * even_port_ok(). */
static const uint16_t unsupported_attrs[] = {
	W2_STUN_A_DONT_FRAGMENT,
	W2_STUN_A_RESERVATION_TOKEN,
};

/* EVEN-PORT (RFC 8656 section 7.2, 14.6): the I/O layer binds relay
 * sockets on even ports only, so a plain EVEN-PORT is always satisfied
 * (coturn's uclient sends one with every Allocate). Its R bit asks to keep
 * the next port for a second allocation, which we do not: 508, as the RFC
 * says for a request the server cannot satisfy. */
static bool even_port_ok(struct w2__turn_req *r)
{
	const struct w2_stun_attr *a = w2_stun_find(r->m, W2_STUN_A_EVEN_PORT);

	if (!a)
		return true;
	if (a->len < 1) {
		w2__turn_reply_error(r, W2_STUN_ERR_BAD_REQUEST);
		return false;
	}
	if (w2_stun_attr_value(r->m, a)[0] & 0x80) {
		w2__turn_reply_error(r, W2_STUN_ERR_INSUFFICIENT_CAPACITY);
		return false;
	}
	return true;
}

#define N_UNSUPPORTED (sizeof(unsupported_attrs) / sizeof(unsupported_attrs[0]))

static bool reject_unsupported(struct w2__turn_req *r)
{
	uint16_t found[N_UNSUPPORTED];
	size_t n = 0;
	struct w2_stun_writer w;

	for (size_t i = 0; i < N_UNSUPPORTED; i++)
		if (w2_stun_find(r->m, unsupported_attrs[i]))
			found[n++] = unsupported_attrs[i];
	if (n == 0)
		return false;
	w2__turn_reply_begin(r, &w, W2_STUN_ERROR);
	w2_stun_put_error(&w, W2_STUN_ERR_UNKNOWN_ATTRIBUTE, NULL);
	w2_stun_put_unknown(&w, found, n);
	w2__turn_reply_send(r, &w);
	return true;
}

/* REQUESTED-ADDRESS-FAMILY (RFC 8656 section 7.2 step 8): AF_INET when
 * absent, 0 for a value we do not serve (440). ADDITIONAL-ADDRESS-FAMILY
 * (dual allocations) is not supported: it gets 440 too, which the RFC
 * reserves for an unsupported family; the client then allocates one
 * family at a time. */
static int requested_family(const struct w2_stun_msg *m, bool *present)
{
	const struct w2_stun_attr *a = w2_stun_find(m, W2_STUN_A_REQUESTED_ADDRESS_FAMILY);
	uint8_t v;

	*present = a != NULL;
	if (w2_stun_find(m, W2_STUN_A_ADDITIONAL_ADDRESS_FAMILY))
		return 0;
	if (!a)
		return AF_INET;
	if (a->len != 4)
		return 0;
	v = w2_stun_attr_value(m, a)[0];
	if (v == W2__TURN_FAMILY_IPV4)
		return AF_INET;
	if (v == W2__TURN_FAMILY_IPV6)
		return AF_INET6;
	return 0;
}

/* RFC 8656 section 7.2 step 9: the requested lifetime, raised to the
 * default and capped by the configured maximum. 0 stays 0 (Refresh). */
static uint32_t granted_lifetime(const struct w2_turn *t, const struct w2_stun_msg *m)
{
	uint32_t v, max = t->cfg->max_lifetime_s;

	if (max < W2_TURN_DEFAULT_LIFETIME_S)
		max = W2_TURN_DEFAULT_LIFETIME_S;
	if (w2_stun_get_u32(m, W2_STUN_A_LIFETIME, &v) != 0)
		return W2_TURN_DEFAULT_LIFETIME_S;
	if (v == 0)
		return 0;
	if (v < W2_TURN_DEFAULT_LIFETIME_S)
		return W2_TURN_DEFAULT_LIFETIME_S;
	return v > max ? max : v;
}

/* Checks the request's own fields (steps 2-8). Returns the family, or 0
 * after answering. */
static int check_allocate(struct w2__turn_req *r)
{
	const struct w2_stun_attr *rt = w2_stun_find(r->m, W2_STUN_A_REQUESTED_TRANSPORT);
	bool present;
	int family;

	if (!rt || rt->len != 4) {
		w2__turn_reply_error(r, W2_STUN_ERR_BAD_REQUEST);
		return 0;
	}
	/* Only UDP relaying: TCP allocations (RFC 6062) are not offered. */
	if (w2_stun_attr_value(r->m, rt)[0] != W2__TURN_PROTO_UDP) {
		w2__turn_reply_error(r, W2_STUN_ERR_UNSUPPORTED_TRANSPORT);
		return 0;
	}
	if (reject_unsupported(r) || !even_port_ok(r))
		return 0;
	family = requested_family(r->m, &present);
	if (family == 0)
		w2__turn_reply_error(r, W2_STUN_ERR_ADDRESS_FAMILY_NOT_SUPPORTED);
	return family;
}

/* Quotas (step 10): 486 for the total and the user's. */
static bool over_quota(struct w2__turn_req *r)
{
	const struct w2_turn_settings *cfg = r->t->cfg;
	struct w2__turn_user *u;

	if (r->t->stats.allocations >= cfg->max_allocations)
		return true;
	u = w2__turn_user_get(r->t, r->quota_name, r->quota_len, false);
	return u && u->count >= cfg->max_allocations_per_user;
}

static void send_allocate_success(struct w2__turn_req *r, struct w2_turn_alloc *a,
				  uint32_t lifetime)
{
	struct w2_stun_writer w;
	long len;

	w2__turn_reply_begin(r, &w, W2_STUN_SUCCESS);
	w2_stun_put_addr(&w, W2_STUN_A_XOR_RELAYED_ADDRESS, (const struct sockaddr *)&a->relayed,
			 true);
	w2_stun_put_u32(&w, W2_STUN_A_LIFETIME, lifetime);
	w2_stun_put_addr(&w, W2_STUN_A_XOR_MAPPED_ADDRESS, (const struct sockaddr *)&r->c->addr,
			 true);
	len = w2__turn_reply_send(r, &w);
	if (len > 0 && (size_t)len <= sizeof(a->resp)) {
		memcpy(a->resp, w.buf, (size_t)len);
		a->resp_len = (size_t)len;
	}
}

/* Fills the new allocation from the request. */
static void fill_alloc(struct w2__turn_req *r, struct w2_turn_alloc *a, int family,
		       uint32_t lifetime)
{
	a->client = *r->c;
	a->family = family;
	a->expires_ms = r->now_ms + (uint64_t)lifetime * 1000;
	memcpy(a->txid, r->m->txid, W2_STUN_TXID_LEN);
	memcpy(a->username, r->user, r->user_len);
	a->username[r->user_len] = '\0';
	a->username_len = r->user_len;
	memcpy(a->key, r->key, r->key_len);
	a->key_len = r->key_len;
	a->bw_last_ms = r->now_ms;
	a->bw_tokens = UINT64_MAX; /* full: clamped to the burst on first use */
}

/* Opens the relay (step 11). Returns 0, or the STUN error to answer. */
static int open_relay(struct w2__turn_req *r, struct w2_turn_alloc *a)
{
	int err = W2_EIO;

	a->relay = r->t->ops->relay_open(r->t->io, a, a->family, &a->relayed, &err);
	if (a->relay)
		return 0;
	if (err != W2_ELIMIT)
		return W2_STUN_ERR_SERVER_ERROR;
	r->t->stats.quota_rejections_total++;
	return W2_STUN_ERR_INSUFFICIENT_CAPACITY;
}

void w2__turn_on_allocate(struct w2__turn_req *r)
{
	struct w2_turn *t = r->t;
	struct w2_turn_alloc *a, *stale;
	uint32_t lifetime = granted_lifetime(t, r->m);
	int family, code;

	/* Step 1: a live allocation on this 5-tuple (a retransmission of its
	 * Allocate was answered from the cache before authentication). */
	if (r->a) {
		w2__turn_reply_error(r, W2_STUN_ERR_ALLOCATION_MISMATCH);
		return;
	}
	family = check_allocate(r);
	if (family == 0)
		return;
	if (over_quota(r)) {
		t->stats.quota_rejections_total++;
		W2_LOG_DEBUG(W2__TURN_MOD, "event=allocate_quota");
		w2__turn_reply_error(r, W2_STUN_ERR_ALLOCATION_QUOTA_REACHED);
		return;
	}
	/* An expired allocation not yet swept must leave the table first. */
	stale = w2__turn_find(t, r->c);
	if (stale)
		w2__turn_alloc_free(t, stale);
	a = w2__turn_alloc_new(t);
	if (a)
		a->user = w2__turn_user_get(t, r->quota_name, r->quota_len, true);
	if (!a || !a->user) {
		w2_free(a);
		w2__turn_reply_error(r, W2_STUN_ERR_SERVER_ERROR);
		return;
	}
	if (lifetime == 0)
		lifetime = W2_TURN_DEFAULT_LIFETIME_S;
	fill_alloc(r, a, family, lifetime);
	code = open_relay(r, a);
	if (code != 0) {
		w2__turn_user_put(t, a->user);
		w2_free(a);
		w2__turn_reply_error(r, code);
		return;
	}
	w2__turn_insert(t, a);
	W2_LOG_DEBUG(W2__TURN_MOD, "event=allocated lifetime=%u", (unsigned)lifetime);
	send_allocate_success(r, a, lifetime);
}

/* ---- Refresh ------------------------------------------------------------ */

static void send_refresh_success(struct w2__turn_req *r, uint32_t lifetime, bool deleted)
{
	struct w2_stun_writer w;
	long len;

	w2__turn_reply_begin(r, &w, W2_STUN_SUCCESS);
	w2_stun_put_u32(&w, W2_STUN_A_LIFETIME, lifetime);
	len = w2__turn_reply_send(r, &w);
	if (deleted && len > 0)
		w2__turn_tomb_add(r->t, r->c, r->m->txid, w.buf, (size_t)len);
}

void w2__turn_on_refresh(struct w2__turn_req *r)
{
	uint32_t lifetime;
	bool present;
	int family;

	if (!r->a) {
		w2__turn_reply_error(r, W2_STUN_ERR_ALLOCATION_MISMATCH);
		return;
	}
	/* RFC 8656 section 8.2: a family other than the allocation's is a
	 * mismatch (443), not a request for a second relay. */
	family = requested_family(r->m, &present);
	if (present && family != r->a->family) {
		w2__turn_reply_error(r, W2_STUN_ERR_PEER_ADDRESS_FAMILY_MISMATCH);
		return;
	}
	lifetime = granted_lifetime(r->t, r->m);
	if (lifetime == 0) {
		W2_LOG_DEBUG(W2__TURN_MOD, "event=refresh_delete");
		w2__turn_alloc_free(r->t, r->a);
		r->a = NULL;
		send_refresh_success(r, 0, true);
		return;
	}
	r->a->expires_ms = r->now_ms + (uint64_t)lifetime * 1000;
	send_refresh_success(r, lifetime, false);
}
