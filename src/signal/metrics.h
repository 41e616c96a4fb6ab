/* Counters exported at GET /metrics (Prometheus text format).
 *
 * Plain integers updated by the one loop thread that owns them; the renderer
 * runs on the same thread. Names and meanings are listed in
 * docs/operations.md. */
#ifndef W2_SIGNAL_METRICS_H
#define W2_SIGNAL_METRICS_H

#include "signal/proto.h"

#include <stddef.h>
#include <stdint.h>

struct w2_metrics {
	uint64_t connections;          /* gauge: open TCP connections */
	uint64_t connections_total;
	uint64_t websockets;           /* gauge: upgraded connections */
	uint64_t sessions;             /* gauge: authenticated sessions */
	uint64_t sessions_total;
	uint64_t rooms;                /* gauge */
	uint64_t messages_in_total;
	uint64_t messages_out_total;
	uint64_t bytes_in_total;
	uint64_t bytes_out_total;
	uint64_t bytes_queued;         /* gauge: bytes waiting to be written */
	uint64_t http_requests_total;
	uint64_t slow_consumer_closes_total;
	uint64_t errors_total[W2_PERR_COUNT_];
	/* Another role's series appended to the page (the TURN role's, which
	 * live on its own thread); NULL for none. Returns bytes or -1. */
	long (*render_extra)(void *arg, char *out, size_t cap);
	void *render_extra_arg;
};

/* Renders m as Prometheus text into out (cap bytes). Returns the length, or
 * -1 if it does not fit. */
long w2_metrics_render(const struct w2_metrics *m, char *out, size_t cap);

#endif
