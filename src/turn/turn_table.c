/* The allocation table: allocations by 5-tuple (RFC 8656 section 2.2), the
 * per-user counts behind max_allocations_per_user, Refresh(0) tombstones,
 * and expiry.
 *
 * Hashing: keyed SipHash (libsodium crypto_shorthash, per-engine key),
 * because client addresses come from the network and must not be able to
 * pile onto one chain. For UDP the key is the listening socket and the
 * client's address; for TCP/TLS the connection alone identifies the
 * 5-tuple, so it alone is hashed and w2_turn_handle_closed() finds the
 * allocation from the connection without knowing the address.
 *
 * Expiry: every lookup checks the deadline itself (an expired allocation,
 * permission or channel is never used), so bookkeeping only reclaims
 * memory and keeps the gauges right. It walks at most
 * W2__TURN_SWEEP_SLICE allocations per call from a rotating cursor, so a
 * large table costs a bounded slice per call instead of a full scan, and
 * asks to be called again soon while a round is unfinished. */
#include "turn/turn_int.h"

#include "core/alloc.h"
#include "core/dlist.h"
#include "core/error.h"
#include "core/log.h"

#include <string.h>

static uint64_t tuple_hash(const struct w2_turn *t, const struct w2_turn_client *c)
{
	uint8_t in[sizeof(void *) + 1 + 16 + 2];
	unsigned char h[crypto_shorthash_BYTES];
	size_t n = sizeof(void *);
	const uint8_t *ip;
	uint16_t port;
	int family;
	uint64_t v;

	memcpy(in, &c->conn, sizeof(void *));
	if (c->transport == W2_TURN_UDP &&
	    w2__turn_ip_view((const struct sockaddr *)&c->addr, &family, &ip, &port)) {
		in[n++] = (uint8_t)family;
		memcpy(in + n, ip, family == AF_INET ? 4 : 16);
		n += family == AF_INET ? 4 : 16;
		w2__turn_put_be16(in + n, port);
		n += 2;
	}
	crypto_shorthash(h, in, n, t->hash_key);
	memcpy(&v, h, sizeof(v));
	return v;
}

static bool tuple_equal(const struct w2_turn_client *x, const struct w2_turn_client *y)
{
	if (x->conn != y->conn || (x->transport == W2_TURN_UDP) != (y->transport == W2_TURN_UDP))
		return false;
	if (x->transport != W2_TURN_UDP)
		return true; /* the connection is the 5-tuple */
	return w2__turn_addr_equal((const struct sockaddr *)&x->addr,
				   (const struct sockaddr *)&y->addr);
}

int w2__turn_table_init(struct w2_turn *t)
{
	size_t n = 64;

	/* About one allocation per chain at the configured maximum. */
	while (n < t->cfg->max_allocations && n < ((size_t)1 << 20))
		n <<= 1;
	t->buckets = w2_calloc(n, sizeof(*t->buckets));
	if (!t->buckets)
		return W2_ENOMEM;
	t->n_buckets = n;
	if (w2_map_init(&t->users) != 0) {
		w2_free(t->buckets);
		t->buckets = NULL;
		return W2_ENOMEM;
	}
	return 0;
}

void w2__turn_table_deinit(struct w2_turn *t)
{
	while (t->all)
		w2__turn_alloc_free(t, t->all);
	if (t->buckets)
		w2_map_deinit(&t->users);
	w2_free(t->buckets);
	t->buckets = NULL;
}

struct w2_turn_alloc *w2__turn_find(struct w2_turn *t, const struct w2_turn_client *c)
{
	uint64_t h = tuple_hash(t, c);

	for (struct w2_turn_alloc *a = t->buckets[h & (t->n_buckets - 1)]; a; a = a->hnext)
		if (a->hash == h && tuple_equal(&a->client, c))
			return a;
	return NULL;
}

struct w2_turn_alloc *w2__turn_alloc_new(struct w2_turn *t)
{
	size_t np = t->cfg->max_permissions, nc = t->cfg->max_channels;
	struct w2_turn_alloc *a;

	/* One block: the permission and channel arrays are sized once, so
	 * no packet ever allocates. */
	a = w2_calloc(1, sizeof(*a) + np * sizeof(*a->perms) + nc * sizeof(*a->chans));
	if (!a)
		return NULL;
	a->perms = (struct w2__turn_perm *)(a + 1);
	a->chans = (struct w2__turn_chan *)(a->perms + np);
	return a;
}

void w2__turn_insert(struct w2_turn *t, struct w2_turn_alloc *a)
{
	struct w2_turn_alloc **head;

	a->hash = tuple_hash(t, &a->client);
	head = &t->buckets[a->hash & (t->n_buckets - 1)];
	a->hnext = *head;
	*head = a;
	W2_DLIST_PUSH(t->all, a, prev, next);
	if (a->user)
		a->user->count++;
	t->stats.allocations++;
	t->stats.allocations_total++;
}

static void unhash(struct w2_turn *t, struct w2_turn_alloc *a)
{
	struct w2_turn_alloc **pp = &t->buckets[a->hash & (t->n_buckets - 1)];

	while (*pp && *pp != a)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = a->hnext;
}

void w2__turn_alloc_free(struct w2_turn *t, struct w2_turn_alloc *a)
{
	if (t->sweep_cursor == a)
		t->sweep_cursor = a->next;
	unhash(t, a);
	W2_DLIST_REMOVE(t->all, a, prev, next);
	for (size_t i = 0; i < t->cfg->max_permissions; i++)
		if (a->perms[i].active)
			t->stats.permissions--;
	for (size_t i = 0; i < t->cfg->max_channels; i++)
		if (a->chans[i].counted)
			t->stats.channels--;
	if (a->relay)
		t->ops->relay_close(t->io, a->relay);
	if (a->user) {
		a->user->count--;
		w2__turn_user_put(t, a->user);
	}
	t->stats.allocations--;
	sodium_memzero(a->key, sizeof(a->key));
	w2_free(a);
	W2_LOG_DEBUG(W2__TURN_MOD, "event=allocation_freed");
}

/* ---- per-user counts --------------------------------------------------- */

struct w2__turn_user *w2__turn_user_get(struct w2_turn *t, const char *name, size_t len,
					bool create)
{
	struct w2_map_entry *e = w2_map_find(&t->users, name, len);
	struct w2__turn_user *u;

	if (e)
		return (struct w2__turn_user *)((char *)e - offsetof(struct w2__turn_user, entry));
	if (!create)
		return NULL;
	u = w2_calloc(1, sizeof(*u) + len + 1);
	if (!u)
		return NULL;
	memcpy(u->name, name, len);
	u->entry.key = u->name;
	u->entry.key_len = len;
	if (w2_map_insert(&t->users, &u->entry) != 0) {
		w2_free(u);
		return NULL;
	}
	return u;
}

/* Frees the count once no allocation uses it. */
void w2__turn_user_put(struct w2_turn *t, struct w2__turn_user *u)
{
	if (!u || u->count > 0)
		return;
	w2_map_remove(&t->users, &u->entry);
	w2_free(u);
}

/* ---- Refresh(0) tombstones --------------------------------------------- */

void w2__turn_tomb_add(struct w2_turn *t, const struct w2_turn_client *c, const uint8_t *txid,
		       const uint8_t *resp, size_t len)
{
	struct w2__turn_tomb *tb = &t->tombs[t->tomb_next++ % W2__TURN_TOMBSTONES];

	if (len > sizeof(tb->resp))
		return;
	tb->used = true;
	tb->client = *c;
	memcpy(tb->txid, txid, W2_STUN_TXID_LEN);
	memcpy(tb->resp, resp, len);
	tb->resp_len = len;
}

const struct w2__turn_tomb *w2__turn_tomb_find(struct w2_turn *t, const struct w2_turn_client *c,
					       const uint8_t *txid)
{
	for (size_t i = 0; i < W2__TURN_TOMBSTONES; i++) {
		const struct w2__turn_tomb *tb = &t->tombs[i];

		if (tb->used && memcmp(tb->txid, txid, W2_STUN_TXID_LEN) == 0 &&
		    tuple_equal(&tb->client, c))
			return tb;
	}
	return NULL;
}

/* ---- expiry ------------------------------------------------------------ */

void w2__turn_sweep_alloc(struct w2_turn *t, struct w2_turn_alloc *a, uint64_t now_ms)
{
	const uint64_t wait_ms = (uint64_t)W2_TURN_CHANNEL_REUSE_WAIT_S * 1000;

	for (size_t i = 0; i < t->cfg->max_permissions; i++) {
		struct w2__turn_perm *p = &a->perms[i];

		if (p->active && now_ms >= p->expires_ms) {
			p->active = false;
			t->stats.permissions--;
		}
	}
	for (size_t i = 0; i < t->cfg->max_channels; i++) {
		struct w2__turn_chan *ch = &a->chans[i];

		if (ch->counted && now_ms >= ch->expires_ms) {
			ch->counted = false;
			t->stats.channels--;
		}
		/* RFC 8656 section 12: number and peer stay reserved for a
		 * while after the binding expired, then the slot is free. */
		if (ch->number != 0 && now_ms >= ch->expires_ms + wait_ms)
			ch->number = 0;
	}
}

uint64_t w2_turn_bookkeeping(struct w2_turn *t, uint64_t now_ms)
{
	struct w2_turn_alloc *a, *next;
	size_t budget = W2__TURN_SWEEP_SLICE;

	if (!t)
		return 1000;
	a = t->sweep_cursor ? t->sweep_cursor : t->all;
	for (; a && budget > 0; a = next, budget--) {
		next = a->next;
		if (now_ms >= a->expires_ms) {
			W2_LOG_DEBUG(W2__TURN_MOD, "event=allocation_expired");
			w2__turn_alloc_free(t, a);
		} else {
			w2__turn_sweep_alloc(t, a, now_ms);
		}
	}
	t->sweep_cursor = a;
	/* An unfinished round continues soon; otherwise once a second, the
	 * resolution the lifetimes are given in. */
	return t->sweep_cursor ? 10 : 1000;
}

void w2_turn_handle_closed(struct w2_turn *t, void *conn)
{
	struct w2_turn_client c;
	struct w2_turn_alloc *a;

	if (!t)
		return;
	memset(&c, 0, sizeof(c));
	c.transport = W2_TURN_TCP; /* TLS hashes and compares the same way */
	c.conn = conn;
	a = w2__turn_find(t, &c);
	if (a) {
		W2_LOG_DEBUG(W2__TURN_MOD, "event=allocation_closed_with_stream");
		w2__turn_alloc_free(t, a);
	}
}
