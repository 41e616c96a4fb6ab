#include "signal/metrics.h"

#include <stdarg.h>
#include <stdio.h>

struct render {
	char *out;
	size_t cap, len;
	int overflow;
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void emit(struct render *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->out + r->len, r->cap - r->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= r->cap - r->len) {
		r->overflow = 1;
		return;
	}
	r->len += (size_t)n;
}

static void series(struct render *r, const char *name, const char *kind, const char *help,
		   uint64_t v)
{
	emit(r, "# HELP webrtc2_%s %s\n# TYPE webrtc2_%s %s\nwebrtc2_%s %llu\n", name, help, name,
	     kind, name, (unsigned long long)v);
}

long w2_metrics_render(const struct w2_metrics *m, char *out, size_t cap)
{
	struct render r = {out, cap, 0, 0};

	series(&r, "connections", "gauge", "Open TCP connections.", m->connections);
	series(&r, "connections_total", "counter", "TCP connections accepted.",
	       m->connections_total);
	series(&r, "websockets", "gauge", "Connections upgraded to WebSocket.", m->websockets);
	series(&r, "sessions", "gauge", "Authenticated signaling sessions.", m->sessions);
	series(&r, "sessions_total", "counter", "Sessions authenticated.", m->sessions_total);
	series(&r, "rooms", "gauge", "Rooms with at least one member.", m->rooms);
	series(&r, "messages_in_total", "counter", "Signaling messages received.",
	       m->messages_in_total);
	series(&r, "messages_out_total", "counter", "Signaling messages sent.",
	       m->messages_out_total);
	series(&r, "bytes_in_total", "counter", "Bytes received on client sockets (TLS included).",
	       m->bytes_in_total);
	series(&r, "bytes_out_total", "counter", "Bytes written to client sockets (TLS included).",
	       m->bytes_out_total);
	series(&r, "bytes_queued", "gauge", "Bytes waiting to be written to clients.",
	       m->bytes_queued);
	series(&r, "http_requests_total", "counter", "Plain HTTP requests served.",
	       m->http_requests_total);
	series(&r, "slow_consumer_closes_total", "counter",
	       "Connections closed because they did not read (4003).",
	       m->slow_consumer_closes_total);
	emit(&r, "# HELP webrtc2_errors_total Protocol errors sent, by code.\n"
		 "# TYPE webrtc2_errors_total counter\n");
	for (int i = 0; i < W2_PERR_COUNT_; i++)
		emit(&r, "webrtc2_errors_total{code=\"%s\"} %llu\n", w2_perr_name((enum w2_perr)i),
		     (unsigned long long)m->errors_total[i]);
	if (!r.overflow && m->render_extra) {
		long n = m->render_extra(m->render_extra_arg, r.out + r.len, r.cap - r.len);

		if (n < 0)
			r.overflow = 1;
		else
			r.len += (size_t)n;
	}
	return r.overflow ? -1 : (long)r.len;
}
