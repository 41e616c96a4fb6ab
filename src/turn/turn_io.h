/* The TURN role's I/O: sockets and a libuv loop on a thread of its own,
 * around the protocol engine of turn.h.
 *
 * UDP is read with recvmmsg and written with sendmmsg in batches (one
 * syscall per batch, not per packet); every datagram buffer is allocated
 * once at start. TCP and TLS (RFC 8656 section 3.1) share a stream framer.
 * Each allocation owns one UDP relay socket bound in the configured port
 * range.
 *
 * Threads: create/start/stop/destroy are called from the daemon's main
 * thread; everything else runs on the TURN thread. The only shared state is
 * the published counters (w2_turn_server_stats), copied under a mutex once a
 * second. */
#ifndef W2_TURN_TURN_IO_H
#define W2_TURN_TURN_IO_H

#include "core/config.h"
#include "turn/turn.h"

#include <stddef.h>

/* Streams (TCP + TLS) served at once; more are refused at accept. Bounded so
 * that relay sockets and signaling keep their share of descriptors. */
#define W2_TURN_MAX_STREAMS 4096

struct w2_turn_server;

/* Opens every listening socket of cfg->turn now, on the calling thread, so
 * that "address in use" is an error at start-up with a sentence in err
 * (W2_CONFIG_ERR_MAX bytes). Borrows cfg, which must outlive the server
 * (the TURN settings are not reloaded: a change needs a restart). Returns 0,
 * W2_EIO, W2_ETLS (certificate) or W2_ENOMEM. */
int w2_turn_server_create(struct w2_turn_server **out, const struct w2_config *cfg, char *err);

/* Starts the TURN thread. Returns 0 or W2_EIO. */
int w2_turn_server_start(struct w2_turn_server *s);

/* Stops the thread (every allocation is dropped) and waits for it. Safe to
 * call when it never started, and twice. */
void w2_turn_server_stop(struct w2_turn_server *s);

/* Frees s (stopping it first). Accepts NULL. */
void w2_turn_server_destroy(struct w2_turn_server *s);

/* Copies the counters last published by the TURN thread (at most a second
 * old). Any thread. */
void w2_turn_server_stats(struct w2_turn_server *s, struct w2_turn_stats *out,
			  uint64_t *streams);

/* Appends the TURN series to a Prometheus text page; returns the bytes
 * written, or -1 if cap is too small. Any thread. `arg` is the server (a
 * signature that fits w2_metrics' extra renderer). */
long w2_turn_server_render_metrics(void *arg, char *out, size_t cap);

#endif
