/* The STUN/TURN server engine (RFC 8489 Binding, RFC 8656 TURN).
 *
 * Protocol only: it takes bytes, a source and `now_ms`, and answers through
 * a table of I/O functions (struct w2_turn_ops) supplied by the I/O layer
 * (src/turn/turn_io.c: sockets, its own libuv loop thread). Tests drive it
 * with fake ops and a fake clock.
 *
 * State: allocations keyed by their 5-tuple, each with permissions and
 * channel bindings in fixed arrays (caps from the config), a token bucket
 * for its bandwidth cap, and quota counts per user. Nonces are stateless
 * (an expiry and a keyed MAC over it and the client address), so an
 * unauthenticated request costs no memory.
 *
 * Hot paths (ChannelData, Send indications, peer data) allocate nothing:
 * replies are built in a scratch buffer owned by the engine or in the
 * headroom of the caller's buffer.
 *
 * Time: every `now_ms` is Unix time in milliseconds (CLOCK_REALTIME), because
 * REST credentials carry a Unix expiry time minted by another process.
 *
 * Thread-safety: one engine belongs to one thread (the TURN loop); nothing
 * in it is shared. */
#ifndef W2_TURN_TURN_H
#define W2_TURN_TURN_H

#include "core/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Bytes the I/O layer leaves writable before a peer datagram given to
 * w2_turn_handle_peer() (the Data indication header: 20 + XOR-PEER-ADDRESS
 * of up to 24 + DATA's 4), and after it (padding to 4). */
#define W2_TURN_PEER_HEADROOM 48
#define W2_TURN_PEER_TAILROOM 4

/* Largest datagram relayed: the UDP maximum. */
#define W2_TURN_MAX_DATAGRAM 65535

/* RFC 8656 section 7.2: default allocation lifetime; permission lifetime
 * (section 9); channel binding lifetime and the wait before a channel
 * number or peer may be bound afresh (section 12). */
#define W2_TURN_DEFAULT_LIFETIME_S 600
#define W2_TURN_PERMISSION_LIFETIME_S 300
#define W2_TURN_CHANNEL_LIFETIME_S 600
#define W2_TURN_CHANNEL_REUSE_WAIT_S 300

/* How long a nonce stays fresh before a request gets 438 Stale Nonce. */
#define W2_TURN_NONCE_LIFETIME_S 600

enum w2_turn_transport {
	W2_TURN_UDP = 0,
	W2_TURN_TCP,
	W2_TURN_TLS,
};

/* The client side of a 5-tuple, as the I/O layer sees it. */
struct w2_turn_client {
	enum w2_turn_transport transport;
	/* I/O handle: the UDP listening socket the datagram came in on, or the
	 * TCP/TLS connection. Opaque to the engine; part of the 5-tuple key. */
	void *conn;
	struct sockaddr_storage addr; /* the client's address and port */
};

struct w2_turn_alloc; /* opaque */

/* What the engine asks of the I/O layer. Calls happen synchronously inside
 * w2_turn_handle_*() / w2_turn_bookkeeping() and must not call back into
 * the engine. Buffers are borrowed for the duration of the call. */
struct w2_turn_ops {
	/* Sends one message to the client: a datagram on c->conn for UDP; for
	 * TCP/TLS, bytes appended to the stream (the engine has already padded
	 * ChannelData to 4 bytes). Failure is silent: the data is lost, as UDP
	 * would lose it; a stream that cannot keep up is the I/O layer's to
	 * close (it then calls w2_turn_handle_closed()). */
	void (*send_to_client)(void *io, const struct w2_turn_client *c, const uint8_t *buf,
			       size_t len);
	/* Opens the relay socket of a new allocation: UDP, bound to the relay
	 * address of `family` (AF_INET or AF_INET6) on a free port of the
	 * configured range. Writes the address peers see (external_ip if
	 * configured) into *relayed. Returns the I/O handle, which the I/O
	 * layer ties to `a` so that datagrams arriving on it reach
	 * w2_turn_handle_peer(a, ...); or NULL with *err = W2_ELIMIT (no free
	 * port or descriptor: answer 508), W2_EINVAL (the relay has no address
	 * of that family: answer 440) or W2_EIO (answer 500). */
	void *(*relay_open)(void *io, struct w2_turn_alloc *a, int family,
			    struct sockaddr_storage *relayed, int *err);
	/* Sends one datagram from the relay socket to a peer. */
	void (*relay_send)(void *io, void *relay, const struct sockaddr *peer, const uint8_t *buf,
			   size_t len);
	/* Closes the relay socket; its handle is not used again. */
	void (*relay_close)(void *io, void *relay);
};

/* Counters for /metrics. Plain integers written by the engine's thread; the
 * I/O layer publishes a copy to other threads (turn_io.h). */
struct w2_turn_stats {
	uint64_t allocations;            /* gauge */
	uint64_t allocations_total;
	uint64_t permissions;            /* gauge */
	uint64_t channels;               /* gauge */
	uint64_t relayed_packets_total;  /* both directions */
	uint64_t relayed_bytes_total;    /* payload bytes, both directions */
	uint64_t auth_failures_total;    /* 401 for a wrong or expired credential */
	uint64_t stale_nonces_total;
	uint64_t quota_rejections_total; /* 486 and 508 */
	uint64_t forbidden_peers_total;  /* 403: a peer address the policy refuses */
	uint64_t rate_limited_total;     /* unauthenticated requests dropped */
	uint64_t malformed_total;        /* dropped: not STUN/ChannelData, bad fields */
	uint64_t bandwidth_drops_total;  /* packets dropped by an allocation's cap */
	uint64_t no_permission_drops_total;
	uint64_t binding_requests_total;
};

struct w2_turn;

/* Creates an engine. Borrows `cfg` (it must outlive the engine) and
 * `ops`/`io`. `self` lists the server's own addresses (listening and relay
 * addresses), which are never relayed to whatever the allow list says, so
 * that a client cannot loop the relay into itself; borrowed, may be NULL
 * with n_self 0. Returns 0, W2_ENOMEM, or W2_EINVAL (no realm). */
int w2_turn_create(struct w2_turn **out, const struct w2_turn_settings *cfg,
		   const struct w2_turn_ops *ops, void *io, const struct sockaddr_storage *self,
		   size_t n_self);

/* Frees every allocation (calling relay_close for each) and the engine.
 * Accepts NULL. */
void w2_turn_destroy(struct w2_turn *t);

/* One message from a client: a whole datagram (UDP) or one frame cut by
 * w2_stun_stream_frame_len() (TCP/TLS). STUN requests are answered through
 * send_to_client; ChannelData and Send indications are relayed through
 * relay_send; anything malformed is dropped and counted, never answered
 * with more bytes than it carried. `buf` is borrowed. */
void w2_turn_handle_client(struct w2_turn *t, const struct w2_turn_client *c,
			   const uint8_t *buf, size_t len, uint64_t now_ms);

/* One datagram that arrived on allocation a's relay socket from `peer`.
 * `buf` has W2_TURN_PEER_HEADROOM writable bytes before it and
 * W2_TURN_PEER_TAILROOM after, which the engine uses to frame it as
 * ChannelData (when the peer has a channel) or a Data indication, in place.
 * Dropped (counted) without a permission for the peer's IP or over the
 * bandwidth cap. */
void w2_turn_handle_peer(struct w2_turn *t, struct w2_turn_alloc *a, const struct sockaddr *peer,
			 uint8_t *buf, size_t len, uint64_t now_ms);

/* The TCP/TLS connection `conn` is gone: its allocation, if any, is freed
 * (RFC 8656 section 7: a stream's allocation lives as long as it). */
void w2_turn_handle_closed(struct w2_turn *t, void *conn);

/* Expires allocations, permissions and channel bindings due at now_ms,
 * refills nothing else. Returns the milliseconds until the next call is
 * useful (at most 1000). */
uint64_t w2_turn_bookkeeping(struct w2_turn *t, uint64_t now_ms);

/* The engine's counters (valid until the next engine call). */
const struct w2_turn_stats *w2_turn_stats(const struct w2_turn *t);

/* ---- credentials (TURN REST API, draft-uberti-behave-turn-rest) --------- */

#define W2_TURN_REST_USER_MAX 96     /* "<expiry>:<user>" */
#define W2_TURN_REST_PASS_MAX 32     /* base64 of a 20-byte HMAC-SHA1, NUL */

/* Mints the time-limited credential coturn's `use-auth-secret` accepts:
 * username "<expires_at>:<user>", password base64(HMAC-SHA1(secret,
 * username)). Writes NUL-terminated strings into `username` (cap
 * W2_TURN_REST_USER_MAX) and `password` (cap W2_TURN_REST_PASS_MAX).
 * Returns 0 or W2_EINVAL (user too long or empty secret). */
int w2_turn_rest_credential(const uint8_t *secret, size_t secret_len, const char *user,
			    int64_t expires_at, char *username, char *password);

#endif
