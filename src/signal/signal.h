/* The signaling engine: sessions, the router and rooms (docs/protocol.md).
 *
 * Protocol code: it does no I/O. The transport hands it whole text messages
 * and the current time; it answers through the transport's ops table. One
 * engine per event-loop thread; not thread-safe.
 *
 * Ownership: the engine owns sessions; the transport owns connections. A
 * session borrows its connection from w2_signal_open() until
 * w2_signal_closed() is called for it, after which the engine never touches
 * that connection again. */
#ifndef W2_SIGNAL_SIGNAL_H
#define W2_SIGNAL_SIGNAL_H

#include "core/config.h"
#include "signal/metrics.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct w2_conn;    /* a transport connection (opaque here) */
struct w2_session; /* a signaling session (opaque to the transport) */
struct w2_signal;
struct w2_auth;

/* What the engine needs from a transport. */
struct w2_conn_ops {
	/* Queues one text message made of the concatenation of iov[0..n).
	 * Returns 0, or W2_ELIMIT if the connection's queue bound was crossed
	 * (the transport then closes it with 4003 itself), or W2_ECLOSED. */
	int (*send_text)(struct w2_conn *c, const struct iovec *iov, int n);
	/* Starts a close with a WebSocket close code and reason. The transport
	 * later calls w2_signal_closed(). */
	void (*close)(struct w2_conn *c, uint16_t code, const char *reason);
};

/* Creates an engine using cfg (borrowed: it must outlive the engine or be
 * replaced by w2_signal_reconfigure) and auth (borrowed likewise). metrics is
 * borrowed and updated in place. */
int w2_signal_create(struct w2_signal **out, const struct w2_config *cfg,
		     const struct w2_auth *auth, struct w2_metrics *metrics);
/* Frees the engine; all sessions must have been closed. Accepts NULL. */
void w2_signal_destroy(struct w2_signal *s);

/* Swaps config and verifier (SIGHUP). Existing sessions keep their identity;
 * new limits apply from the next message. Both are borrowed. */
void w2_signal_reconfigure(struct w2_signal *s, const struct w2_config *cfg,
			   const struct w2_auth *auth);

/* A WebSocket connection was established. Returns a session bound to conn,
 * or NULL when out of memory (the transport then closes with 1011). */
struct w2_session *w2_signal_open(struct w2_signal *s, struct w2_conn *conn,
				  const struct w2_conn_ops *ops, uint64_t now_ms);

/* One complete text message from the client. buf is borrowed for the call. */
void w2_signal_handle_text(struct w2_signal *s, struct w2_session *ss, const char *buf,
			   size_t len, uint64_t now_ms);

/* A message the transport refused before it could be parsed: a binary
 * frame (W2_EPROTO), or one larger than the limit (W2_ELIMIT). */
void w2_signal_handle_refused(struct w2_signal *s, struct w2_session *ss, int why,
			      uint64_t now_ms);

/* The connection is gone; frees the session and tells its rooms. */
void w2_signal_closed(struct w2_signal *s, struct w2_session *ss);

/* Closes every session with `code` (SIGTERM drain uses 1001). */
void w2_signal_close_all(struct w2_signal *s, uint16_t code, const char *reason);

/* Runs timers: hello timeouts, token expiry. Call at least once a second.
 * Returns the number of live sessions. */
size_t w2_signal_bookkeeping(struct w2_signal *s, uint64_t now_ms);

/* ---- guest sign-in (POST /auth/guest, docs/security-auth.md) ---- */

/* Outcomes of a guest sign-in; the transport maps each to an HTTP status
 * and an error code (docs/protocol.md, "HTTP API"). */
enum w2_guest_result {
	W2_GUEST_OK = 0,
	W2_GUEST_DISABLED,     /* auth.guest_tokens is off */
	W2_GUEST_RATE_LIMITED, /* more than W2_GUEST_RATE sign-ins a second, server-wide */
	W2_GUEST_BAD_NAME,     /* not a user name (docs/protocol.md) */
	W2_GUEST_NAME_TAKEN,   /* that user has a live session */
	W2_GUEST_FAILED,       /* no signing key or out of memory */
	W2_GUEST_RESULT_COUNT_
};

#define W2_GUEST_RATE 20 /* guest tokens a second, and the burst, for the whole server */

struct w2_guest_grant {
	char *token;        /* heap-owned by the caller: w2_free() it */
	int64_t expires_at; /* the token's exp, Unix seconds */
};

/* Mints a guest token for user `name` (len bytes, borrowed) at now_ms (Unix
 * ms), as `webrtc2d token` would with the guest ttl. Every call while guest
 * tokens are on takes from one server-wide token bucket, so that neither
 * minting nor probing which names are online can be done in bulk. On
 * W2_GUEST_OK fills *out; otherwise out->token is NULL. */
enum w2_guest_result w2_signal_guest_token(struct w2_signal *s, const char *name, size_t len,
					   uint64_t now_ms, struct w2_guest_grant *out);

#endif
