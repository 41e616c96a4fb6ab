/* Internals of the TURN engine shared by its files; not part of the API.
 *
 *   turn.c        create/destroy, demultiplexing, request dispatch, replies
 *   turn_auth.c   long-term credentials, stateless nonces, REST passwords,
 *                 the unauthenticated rate limit
 *   turn_table.c  the allocation table (5-tuple hash), allocation lifetime,
 *                 bookkeeping sweep
 *   turn_alloc.c  Allocate and Refresh (RFC 8656 sections 7.2, 8.2)
 *   turn_relay.c  peer policy, permissions, channels, CreatePermission,
 *                 ChannelBind, Send/Data indications, ChannelData
 *
 * Everything here runs on the engine's one thread. */
#ifndef W2_TURN_TURN_INT_H
#define W2_TURN_TURN_INT_H

#include "core/map.h"
#include "stun/stun.h"
#include "turn/turn.h"

#include <netinet/in.h>
#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define W2__TURN_MOD "turn"

/* A cached Allocate success response: 20 header + XOR-RELAYED-ADDRESS (24
 * for IPv6) + LIFETIME 8 + XOR-MAPPED-ADDRESS 24 + MESSAGE-INTEGRITY 24 or
 * -SHA256 36 + FINGERPRINT 8 = 144 at most. */
#define W2__TURN_RESP_MAX 144
/* Longest USERNAME accepted (RFC 8489 section 14.3 allows 509 bytes; no
 * credential we issue or a config holds comes close). */
#define W2__TURN_USERNAME_MAX 255
/* Unauthenticated rate limit: fixed table of token buckets, indexed by a
 * keyed hash of the source IP; no allocation per source. */
#define W2__TURN_RATE_SLOTS 4096
/* Allocations looked at per bookkeeping call (see turn_table.c). */
#define W2__TURN_SWEEP_SLICE 512
/* Refresh(lifetime 0) responses kept for retransmissions (RFC 8656
 * section 8.2's idempotency note). */
#define W2__TURN_TOMBSTONES 8
/* Nonce: 8 hex digits of the expiry (Unix seconds) and 16 of the MAC. */
#define W2__TURN_NONCE_LEN 24
#define W2__TURN_NONCE_MAC 8
/* Scratch space for one reply: the largest we build is an error with REALM
 * (<= 763 bytes, RFC 8489 section 14.9), NONCE, UNKNOWN-ATTRIBUTES, the
 * integrity attributes and FINGERPRINT. */
#define W2__TURN_SCRATCH 1280
#define W2__TURN_REALM_MAX 763
/* REQUESTED-TRANSPORT protocol numbers (RFC 8656 section 18.11). */
#define W2__TURN_PROTO_UDP 17
/* REQUESTED-ADDRESS-FAMILY values (RFC 8656 section 18.8). */
#define W2__TURN_FAMILY_IPV4 0x01
#define W2__TURN_FAMILY_IPV6 0x02
/* Minimum bucket of the bandwidth cap: a second's worth, at least 64 KiB,
 * so that one full-size datagram always fits. */
#define W2__TURN_BW_MIN_BURST 65536u

/* A permission: the peer's IP (ports are ignored, RFC 8656 section 9). */
struct w2__turn_perm {
	bool active; /* counted in stats.permissions */
	uint8_t family;
	uint8_t ip[16];
	uint64_t expires_ms;
};

/* A channel slot. number == 0: free. Bound while now < expires_ms; after
 * that, reserved until expires_ms + W2_TURN_CHANNEL_REUSE_WAIT_S (RFC 8656
 * section 12), then free. */
struct w2__turn_chan {
	uint16_t number;
	bool counted; /* counted in stats.channels */
	struct sockaddr_storage peer;
	uint64_t expires_ms;
};

/* Allocation count per user for max_allocations_per_user. */
struct w2__turn_user {
	struct w2_map_entry entry;
	uint32_t count;
	char name[]; /* entry.key points here */
};

struct w2_turn_alloc {
	struct w2_turn_alloc *hnext;      /* hash chain */
	struct w2_turn_alloc *prev, *next; /* list of all, for bookkeeping */
	uint64_t hash;
	struct w2_turn_client client;
	void *relay;
	struct sockaddr_storage relayed;
	int family;
	uint64_t expires_ms;
	uint8_t txid[W2_STUN_TXID_LEN]; /* of the Allocate that created it */
	uint8_t resp[W2__TURN_RESP_MAX]; /* its success response, for resends */
	size_t resp_len;
	char username[W2__TURN_USERNAME_MAX + 1];
	size_t username_len;
	uint8_t key[32]; /* long-term key used at creation */
	size_t key_len;
	struct w2__turn_user *user;
	uint64_t bw_tokens, bw_last_ms;
	struct w2__turn_perm *perms; /* cfg->max_permissions, same block */
	struct w2__turn_chan *chans; /* cfg->max_channels, same block */
};

struct w2__turn_rate {
	bool seen;
	uint64_t millitokens;
	uint64_t last_ms;
};

struct w2__turn_tomb {
	bool used;
	struct w2_turn_client client;
	uint8_t txid[W2_STUN_TXID_LEN];
	uint8_t resp[W2__TURN_RESP_MAX];
	size_t resp_len;
};

struct w2_turn {
	const struct w2_turn_settings *cfg;
	const struct w2_turn_ops *ops;
	void *io;
	struct sockaddr_storage *self;
	size_t n_self;
	size_t realm_len;
	uint8_t nonce_key[crypto_auth_hmacsha256_KEYBYTES];
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	struct w2_turn_alloc **buckets;
	size_t n_buckets; /* a power of two */
	struct w2_turn_alloc *all;
	struct w2_turn_alloc *sweep_cursor;
	struct w2_map users;
	struct w2__turn_rate rate[W2__TURN_RATE_SLOTS];
	struct w2__turn_tomb tombs[W2__TURN_TOMBSTONES];
	unsigned tomb_next;
	/* Data indications' transaction ids: a random prefix and a counter
	 * (no random draw per packet). */
	uint8_t data_txid[W2_STUN_TXID_LEN];
	uint64_t data_seq;
	struct w2_turn_stats stats;
	uint8_t scratch[W2__TURN_SCRATCH];
};

/* One request being answered. */
struct w2__turn_req {
	struct w2_turn *t;
	const struct w2_turn_client *c;
	const struct w2_stun_msg *m;
	uint64_t now_ms;
	struct w2_turn_alloc *a; /* the live allocation of this 5-tuple, or NULL */
	bool fingerprint;        /* the request carried one: so does the reply */
	bool authed;             /* replies carry MESSAGE-INTEGRITY(-SHA256) */
	bool sha256;
	uint8_t key[32];
	size_t key_len;
	const char *user; /* USERNAME, borrowed from the request */
	size_t user_len;
	const char *quota_name; /* the part of it quotas count */
	size_t quota_len;
};

/* ---- byte helpers: fields at positions already bounds-checked ---------- */

static inline uint16_t w2__turn_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline void w2__turn_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* ---- addresses (turn_relay.c) ------------------------------------------ */

/* The IP of sa as (family, 4 or 16 bytes), an IPv4-mapped IPv6 address seen
 * as IPv4; and its port. Returns false for another family. */
bool w2__turn_ip_view(const struct sockaddr *sa, int *family, const uint8_t **ip, uint16_t *port);
bool w2__turn_ip_equal(const struct sockaddr *x, const struct sockaddr *y);
/* IP and port equal. */
bool w2__turn_addr_equal(const struct sockaddr *x, const struct sockaddr *y);

/* ---- replies (turn.c) ---------------------------------------------------- */

void w2__turn_reply_begin(struct w2__turn_req *r, struct w2_stun_writer *w, enum w2_stun_class cls);
/* Adds integrity (when authenticated) and FINGERPRINT (when the request had
 * one), sends. Returns the length sent, or a negative W2_E* (nothing sent). */
long w2__turn_reply_send(struct w2__turn_req *r, struct w2_stun_writer *w);
/* An error response with only ERROR-CODE (plus integrity/FINGERPRINT). */
void w2__turn_reply_error(struct w2__turn_req *r, int code);

/* ---- authentication and rate limit (turn_auth.c) ------------------------ */

/* Charges one unauthenticated request to the source's bucket. False: over
 * the limit, counted; the caller drops the request. */
bool w2__turn_rate_take(struct w2_turn *t, const struct sockaddr *src, uint64_t now_ms);
/* RFC 8489 section 9.2.4. Returns 0 with r->authed and the key set, or a
 * negative W2_E* after answering (401, 400, 438, 441) or dropping. */
int w2__turn_authenticate(struct w2__turn_req *r);

/* ---- allocation table (turn_table.c) ------------------------------------ */

int w2__turn_table_init(struct w2_turn *t);
void w2__turn_table_deinit(struct w2_turn *t);
/* The allocation of this 5-tuple, live or expired-but-not-swept, or NULL. */
struct w2_turn_alloc *w2__turn_find(struct w2_turn *t, const struct w2_turn_client *c);
/* A new zeroed allocation with its permission and channel arrays, not yet
 * in the table. NULL on W2_ENOMEM. */
struct w2_turn_alloc *w2__turn_alloc_new(struct w2_turn *t);
/* Puts a into the table, the list and its user's count (takes a; a->user
 * already set). */
void w2__turn_insert(struct w2_turn *t, struct w2_turn_alloc *a);
/* Removes a from everything, closes its relay, updates the gauges, frees. */
void w2__turn_alloc_free(struct w2_turn *t, struct w2_turn_alloc *a);
/* The per-user count for name, created when absent. NULL on W2_ENOMEM. */
struct w2__turn_user *w2__turn_user_get(struct w2_turn *t, const char *name, size_t len,
					bool create);
void w2__turn_user_put(struct w2_turn *t, struct w2__turn_user *u);
/* Remembers a Refresh(0) response for its retransmissions. */
void w2__turn_tomb_add(struct w2_turn *t, const struct w2_turn_client *c, const uint8_t *txid,
		       const uint8_t *resp, size_t len);
const struct w2__turn_tomb *w2__turn_tomb_find(struct w2_turn *t, const struct w2_turn_client *c,
					       const uint8_t *txid);
/* Expiry of permissions and channels of a (gauges kept right). */
void w2__turn_sweep_alloc(struct w2_turn *t, struct w2_turn_alloc *a, uint64_t now_ms);

/* ---- methods ------------------------------------------------------------ */

void w2__turn_on_allocate(struct w2__turn_req *r);
void w2__turn_on_refresh(struct w2__turn_req *r);
void w2__turn_on_create_permission(struct w2__turn_req *r);
void w2__turn_on_channel_bind(struct w2__turn_req *r);
void w2__turn_on_send(struct w2_turn *t, const struct w2_turn_client *c,
		      const struct w2_stun_msg *m, uint64_t now_ms);
void w2__turn_on_channeldata(struct w2_turn *t, const struct w2_turn_client *c,
			     const uint8_t *buf, size_t len, uint64_t now_ms);

#endif
