/* The HTTP/WebSocket/TLS front of webrtc2d (docs/decisions/0001-transport.md).
 *
 * Built on libuv with wslay for WebSocket frames, http-parser for requests
 * and OpenSSL memory BIOs for TLS 1.3. It owns sockets and bytes; it hands
 * whole text messages to the signaling engine and serves /healthz, /metrics
 * and static files itself. Runs on one loop thread; not thread-safe. */
#ifndef W2_TRANSPORT_TRANSPORT_H
#define W2_TRANSPORT_TRANSPORT_H

#include "core/config.h"
#include "signal/metrics.h"
#include "signal/signal.h"

#include <uv.h>

struct w2_server;

/* Creates a server on loop for cfg (borrowed; see w2_server_reconfigure),
 * delivering messages to engine and counting into metrics (both borrowed).
 * Loads the TLS certificate when a listener needs it. */
int w2_server_create(struct w2_server **out, uv_loop_t *loop, const struct w2_config *cfg,
		     struct w2_signal *engine, struct w2_metrics *metrics);

/* Binds and listens on every configured address. On failure writes a
 * sentence naming the address into err (256 bytes). */
int w2_server_start(struct w2_server *srv, char *err);

/* Takes a new config (SIGHUP): limits, TLS certificate, web root. Listen
 * addresses are not rebound. Returns 0, or an error (the old config stays). */
int w2_server_reconfigure(struct w2_server *srv, const struct w2_config *cfg, char *err);

/* Stops accepting, answers /healthz with 503, closes every WebSocket with
 * 1001 and calls done(arg) once every connection is gone or the drain
 * timeout passed. */
void w2_server_drain(struct w2_server *srv, void (*done)(void *arg), void *arg);

/* Closes all handles; call, then run the loop until it has no more handles,
 * then w2_server_destroy(). */
void w2_server_stop(struct w2_server *srv);
void w2_server_destroy(struct w2_server *srv);

#endif
