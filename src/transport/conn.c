/* Listeners and connections: accept, read, batched writes, liveness, close.
 *
 * Writes are batched: a message only appends to its connection's queue and
 * marks it dirty; a uv_prepare and a uv_check handle flush every dirty
 * connection once per loop iteration, with one writev (uv_try_write) each.
 * Under load this turns many small messages into few system calls. */
#include "transport/transport_int.h"

#include "core/alloc.h"
#include "core/dlist.h"
#include "core/error.h"
#include "core/log.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MOD "transport"
#define POOL_MAX_FREE 4096 /* chunks kept for reuse: 16 MiB */
#define MAX_WRITE_BUFS 64

uint64_t w2__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- closing ------------------------------------------------------------ */

/* Calls the drain callback once no WebSocket is left (or time is up). */
static void drain_check(struct w2_server *srv)
{
	void (*done)(void *) = srv->drain_done;

	if (!srv->draining || !done)
		return;
	if (srv->metrics->websockets > 0 && uv_now(srv->loop) < srv->drain_deadline_ms)
		return;
	srv->drain_done = NULL;
	done(srv->drain_arg);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct w2_conn *c = h->data;
	struct w2_server *srv = c->srv;

	/* Normally the dirty list was flushed before close callbacks run;
	 * this keeps a freed connection out of it whatever the order. */
	for (struct w2_conn **p = &srv->dirty; c->dirty && *p; p = &(*p)->next_dirty) {
		if (*p == c) {
			*p = c->next_dirty;
			break;
		}
	}
	if (c->session)
		w2_signal_closed(srv->engine, c->session);
	if (c->is_ws)
		srv->metrics->websockets--;
	w2__ws_release(c);
	w2__http_release(c);
	w2_outq_clear(&srv->pool, &c->out);
	w2_outq_clear(&srv->pool, &c->tls_wire);
	SSL_free(c->ssl);
	W2_DLIST_REMOVE(srv->conns, c, prev, next);
	srv->metrics->connections--;
	w2_free(c);
	drain_check(srv);
}

/* Closes the socket now, dropping anything unsent. Safe to call twice. */
void w2__conn_hard_close(struct w2_conn *c)
{
	if (c->state == W2_CONN_CLOSED)
		return;
	c->state = W2_CONN_CLOSED;
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

/* ---- writing ------------------------------------------------------------ */

void w2__conn_mark_dirty(struct w2_conn *c)
{
	if (c->dirty || c->state == W2_CONN_CLOSED)
		return;
	c->dirty = true;
	c->next_dirty = c->srv->dirty;
	c->srv->dirty = c;
}

int w2__conn_queue(struct w2_conn *c, const void *data, size_t len)
{
	int rc;

	if (c->state == W2_CONN_CLOSED)
		return W2_ECLOSED;
	rc = w2_outq_append(&c->srv->pool, &c->out, data, len);
	if (rc == 0)
		w2__conn_mark_dirty(c);
	return rc;
}

static void flush(struct w2_conn *c);

static void on_write_done(uv_write_t *req, int status)
{
	struct w2_conn *c = req->data;
	struct w2_outq *wire = c->ssl ? &c->tls_wire : &c->out;

	/* libuv runs this (with UV_ECANCELED on close) before the close
	 * callback, so the connection is still there. */
	w2_free(req);

	c->writing = false;
	if (c->state == W2_CONN_CLOSED) {
		c->inflight = 0;
		return;
	}
	if (status < 0) {
		w2__conn_hard_close(c);
		return;
	}
	w2_outq_consume(&c->srv->pool, wire, c->inflight);
	c->inflight = 0;
	flush(c);
}

/* Writes what the socket takes now; queues a write request for the rest. */
static void flush(struct w2_conn *c)
{
	struct w2_outq *wire = c->ssl ? &c->tls_wire : &c->out;
	uv_buf_t bufs[MAX_WRITE_BUFS];
	unsigned n;
	int r;

	if (c->writing || c->state == W2_CONN_CLOSED)
		return;
	if (c->ssl && w2__tls_encrypt_pending(c) != 0) {
		w2__conn_hard_close(c);
		return;
	}
	while ((n = w2_outq_bufs(wire, bufs, MAX_WRITE_BUFS)) > 0) {
		r = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
		if (r == UV_EAGAIN || r == UV_ENOSYS)
			break;
		if (r < 0) {
			w2__conn_hard_close(c);
			return;
		}
		c->srv->metrics->bytes_out_total += (uint64_t)r;
		w2_outq_consume(&c->srv->pool, wire, (size_t)r);
	}
	if (wire->bytes > 0) {
		n = w2_outq_bufs(wire, bufs, MAX_WRITE_BUFS);
		c->inflight = 0;
		for (unsigned i = 0; i < n; i++)
			c->inflight += bufs[i].len;
		/* The write request exists only while a socket is full, so idle
		 * connections do not carry its 192 bytes. */
		uv_write_t *req = w2_malloc(sizeof(*req));

		if (!req) {
			w2__conn_hard_close(c);
			return;
		}
		req->data = c;
		if (uv_write(req, (uv_stream_t *)&c->tcp, bufs, n, on_write_done) != 0) {
			w2_free(req);
			w2__conn_hard_close(c);
			return;
		}
		c->srv->metrics->bytes_out_total += c->inflight;
		c->writing = true;
		return;
	}
	if (c->close_after_flush)
		w2__conn_hard_close(c);
}

static void flush_dirty(struct w2_server *srv)
{
	while (srv->dirty) {
		struct w2_conn *c = srv->dirty;

		srv->dirty = c->next_dirty;
		c->dirty = false;
		c->next_dirty = NULL;
		flush(c);
	}
}

static void on_prepare(uv_prepare_t *h)
{
	flush_dirty(h->data);
}

static void on_check(uv_check_t *h)
{
	flush_dirty(h->data);
}

/* ---- reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct w2_conn *c = h->data;

	/* Every read is consumed before the callback returns, so one buffer
	 * per server serves all connections. */
	*buf = uv_buf_init((char *)c->srv->read_buf, sizeof(c->srv->read_buf));
}

void w2__conn_process_plain(struct w2_conn *c, const uint8_t *data, size_t len)
{
	switch (c->state) {
	case W2_CONN_HTTP:
		w2__http_feed(c, data, len);
		break;
	case W2_CONN_WS:
	case W2_CONN_CLOSING:
		w2__ws_feed(c, data, len);
		break;
	default:
		break;
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct w2_conn *c = s->data;

	if (nread == 0)
		return;
	if (nread < 0) {
		w2__conn_hard_close(c);
		return;
	}
	c->last_rx_ms = uv_now(c->srv->loop);
	c->srv->metrics->bytes_in_total += (uint64_t)nread;
	if (c->ssl) {
		w2__tls_feed(c, (const uint8_t *)buf->base, (size_t)nread);
		return;
	}
	w2__conn_process_plain(c, (const uint8_t *)buf->base, (size_t)nread);
}

/* ---- accepting ---------------------------------------------------------- */

static void reject_connection(struct w2_listener *l)
{
	uv_tcp_t *t = w2_malloc(sizeof(*t));

	/* Accept and close at once so the backlog drains; the client sees a
	 * closed connection instead of a hang. */
	if (!t)
		return;
	uv_tcp_init(l->srv->loop, t);
	if (uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)t) == 0)
		W2_LOG_DEBUG(MOD, "connection refused: limit of %u connections reached",
			     l->srv->cfg->limits.max_connections);
	uv_close((uv_handle_t *)t, (uv_close_cb)w2_free);
}

static int conn_setup(struct w2_conn *c)
{
	if (c->listener->tls)
		return w2__tls_start(c);
	c->state = W2_CONN_HTTP;
	return w2__http_start(c);
}

/* Allocates a connection of listener l and links it into the server. */
static struct w2_conn *conn_new(struct w2_server *srv, struct w2_listener *l)
{
	struct w2_conn *c = w2_calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->srv = srv;
	c->listener = l;
	uv_tcp_init(srv->loop, &c->tcp);
	c->tcp.data = c;
	W2_DLIST_PUSH(srv->conns, c, prev, next);
	srv->metrics->connections++;
	srv->metrics->connections_total++;
	c->state = W2_CONN_HTTP;
	return c;
}

/* Starts TLS or HTTP on a connected socket and begins reading. */
static void conn_begin(struct w2_conn *c)
{
	if (conn_setup(c) != 0) {
		w2__conn_hard_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	c->last_rx_ms = uv_now(c->srv->loop);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
		w2__conn_hard_close(c);
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct w2_listener *l = ls->data;
	struct w2_server *srv = l->srv;
	struct w2_conn *c;

	if (status < 0)
		return;
	if (srv->metrics->connections >= srv->cfg->limits.max_connections) {
		reject_connection(l);
		return;
	}
	c = conn_new(srv, l);
	if (!c) {
		reject_connection(l);
		return;
	}
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
		w2__conn_hard_close(c);
		return;
	}
	conn_begin(c);
}

struct w2_conn *w2__server_adopt(struct w2_server *srv, uv_os_sock_t fd, bool tls)
{
	struct w2_conn *c;

	srv->adopt_listener.srv = srv;
	srv->adopt_listener.loopback = true;
	srv->adopt_listener.tls = tls && srv->ssl_ctx;
	c = conn_new(srv, &srv->adopt_listener);
	if (!c)
		return NULL;
	if (uv_tcp_open(&c->tcp, fd) != 0) {
		w2__conn_hard_close(c);
		return NULL;
	}
	conn_begin(c);
	return c;
}

/* ---- liveness ----------------------------------------------------------- */

static void sweep_conn(struct w2_server *srv, struct w2_conn *c, uint64_t now)
{
	const struct w2_limits *l = &srv->cfg->limits;

	if (c->state == W2_CONN_CLOSING) {
		if (now >= c->deadline_ms)
			w2__conn_hard_close(c);
		return;
	}
	if (c->state != W2_CONN_WS) {
		/* HTTP and TLS handshakes get a fixed idle allowance. */
		if (now - c->last_rx_ms >= W2_HTTP_IDLE_MS && !c->writing)
			w2__conn_hard_close(c);
		return;
	}
	if (now - c->last_rx_ms >= l->ping_timeout_ms) {
		w2__conn_hard_close(c); /* dead peer: nothing, not even a pong */
		return;
	}
	if (now - c->last_rx_ms >= 1000)
		w2__ws_idle(c);
	if (now - c->last_ping_ms >= l->ping_interval_ms &&
	    now - c->last_rx_ms >= l->ping_interval_ms) {
		c->last_ping_ms = now;
		w2__ws_send_frame(c, WSLAY_PING, NULL, 0);
	}
}

/* After a large drop in connections (a network outage, a client fleet
 * restarting) give the freed heap back to the system: glibc keeps it
 * otherwise, and the next peak may never come. At most one trim per halving,
 * so the cost (milliseconds on a large heap) is rare. */
static void trim_after_drop(struct w2_server *srv)
{
	uint64_t now = srv->metrics->connections;

	if (now > srv->conn_high_water) {
		srv->conn_high_water = now;
		return;
	}
	if (srv->conn_high_water >= 1000 && now < srv->conn_high_water / 2) {
		malloc_trim(0);
		srv->conn_high_water = now;
	}
}

static void on_sweep(uv_timer_t *t);

/* The drain timeout is checked by the sweep, which runs up to a second
 * apart: without this the drain could last that much longer than
 * shutdown.drain_timeout_ms. When the deadline comes before the next sweep,
 * the next sweep is moved to it (the period stays). */
static void sweep_at_drain_deadline(struct w2_server *srv)
{
	uint64_t now = uv_now(srv->loop), period = uv_timer_get_repeat(&srv->sweep);

	if (!srv->draining || !srv->drain_done || srv->drain_deadline_ms <= now)
		return;
	if (srv->drain_deadline_ms - now < period)
		uv_timer_start(&srv->sweep, on_sweep, srv->drain_deadline_ms - now, period);
}

static void on_sweep(uv_timer_t *t)
{
	struct w2_server *srv = t->data;
	uint64_t now = uv_now(srv->loop);
	struct w2_conn *next;

	for (struct w2_conn *c = srv->conns; c; c = next) {
		next = c->next;
		sweep_conn(srv, c, now);
	}
	w2_signal_bookkeeping(srv->engine, w2__now_ms());
	trim_after_drop(srv);
	drain_check(srv);
	sweep_at_drain_deadline(srv);
}

/* ---- server ------------------------------------------------------------- */

/* The sweep runs often enough for the ping settings (a third of the
 * shorter period), at most once a second and at least every 50 ms. */
static void sweep_schedule(struct w2_server *srv)
{
	const struct w2_limits *l = &srv->cfg->limits;
	uint64_t gap = l->ping_timeout_ms > l->ping_interval_ms ? l->ping_timeout_ms - l->ping_interval_ms
								: l->ping_timeout_ms;
	uint64_t period = (l->ping_interval_ms < gap ? l->ping_interval_ms : gap) / 3;

	if (period > 1000)
		period = 1000;
	if (period < 50)
		period = 50;
	uv_timer_start(&srv->sweep, on_sweep, period, period);
}

static bool needs_tls(const struct w2_config *cfg)
{
	for (size_t i = 0; i < cfg->n_listen; i++)
		if (cfg->listen[i].tls)
			return true;
	return false;
}

int w2_server_create(struct w2_server **out, uv_loop_t *loop, const struct w2_config *cfg,
		     struct w2_signal *engine, struct w2_metrics *metrics)
{
	struct w2_server *srv = w2_calloc(1, sizeof(*srv));
	char err[256];

	*out = NULL;
	if (!srv)
		return W2_ENOMEM;
	srv->loop = loop;
	srv->cfg = cfg;
	srv->engine = engine;
	srv->metrics = metrics;
	w2_pool_init(&srv->pool, POOL_MAX_FREE, &metrics->bytes_queued);
	if (needs_tls(cfg)) {
		srv->ssl_ctx = w2__tls_ctx_create(cfg->tls_cert_file, cfg->tls_key_file, err);
		if (!srv->ssl_ctx) {
			W2_LOG_ERROR(MOD, "%s", err);
			w2_free(srv);
			return W2_ETLS;
		}
	}
	uv_prepare_init(loop, &srv->prepare);
	uv_check_init(loop, &srv->check);
	uv_timer_init(loop, &srv->sweep);
	srv->prepare.data = srv->check.data = srv->sweep.data = srv;
	uv_prepare_start(&srv->prepare, on_prepare);
	uv_check_start(&srv->check, on_check);
	*out = srv;
	return 0;
}

static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return W2_EINVAL;
}

static int listen_one(struct w2_server *srv, size_t i, char *err)
{
	const struct w2_listen *cl = &srv->cfg->listen[i];
	struct w2_listener *l = &srv->listeners[i];
	struct sockaddr_storage addr;
	int r;

	l->srv = srv;
	l->tls = cl->tls;
	l->loopback = w2_host_is_loopback(cl->host);
	snprintf(l->name, sizeof(l->name), "%s:%u", cl->host, cl->port);
	if (resolve(cl->host, cl->port, &addr) != 0) {
		snprintf(err, 256, "listen %s: not a numeric address", l->name);
		return W2_ECONFIG;
	}
	uv_tcp_init(srv->loop, &l->tcp);
	l->tcp.data = l;
	srv->n_listeners = i + 1;
	r = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&addr, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&l->tcp, 4096, on_connection);
	if (r != 0) {
		snprintf(err, 256, "listen %s: %s", l->name, uv_strerror(r));
		return W2_EIO;
	}
	return 0;
}

int w2_server_start(struct w2_server *srv, char *err)
{
	int rc;

	srv->listeners = w2_calloc(srv->cfg->n_listen, sizeof(*srv->listeners));
	if (!srv->listeners)
		return W2_ENOMEM;
	for (size_t i = 0; i < srv->cfg->n_listen; i++) {
		rc = listen_one(srv, i, err);
		if (rc != 0)
			return rc;
	}
	sweep_schedule(srv);
	return 0;
}

int w2_server_reconfigure(struct w2_server *srv, const struct w2_config *cfg, char *err)
{
	SSL_CTX *ctx = NULL;

	if (needs_tls(cfg)) {
		ctx = w2__tls_ctx_create(cfg->tls_cert_file, cfg->tls_key_file, err);
		if (!ctx)
			return W2_ETLS;
	}
	/* Live connections keep a reference to the old context. */
	SSL_CTX_free(srv->ssl_ctx);
	srv->ssl_ctx = ctx;
	srv->cfg = cfg;
	if (srv->n_listeners > 0)
		sweep_schedule(srv);
	return 0;
}

void w2_server_drain(struct w2_server *srv, void (*done)(void *arg), void *arg)
{
	/* Listeners stay open: load balancers keep polling /healthz, which now
	 * answers 503, and new upgrades are refused with 503 (http.c). The
	 * drain is over when the last WebSocket is gone. */
	srv->draining = true;
	srv->drain_done = done;
	srv->drain_arg = arg;
	srv->drain_deadline_ms = uv_now(srv->loop) + srv->cfg->drain_timeout_ms;
	w2_signal_close_all(srv->engine, W2_CLOSE_GOING_AWAY, "server shutting down");
	drain_check(srv);
	sweep_at_drain_deadline(srv);
}

void w2_server_stop(struct w2_server *srv)
{
	if (srv->stopping)
		return;
	srv->stopping = true;
	for (size_t i = 0; i < srv->n_listeners; i++)
		uv_close((uv_handle_t *)&srv->listeners[i].tcp, NULL);
	srv->n_listeners = 0;
	for (struct w2_conn *c = srv->conns; c; c = c->next)
		w2__conn_hard_close(c);
	uv_close((uv_handle_t *)&srv->prepare, NULL);
	uv_close((uv_handle_t *)&srv->check, NULL);
	uv_close((uv_handle_t *)&srv->sweep, NULL);
}

void w2_server_destroy(struct w2_server *srv)
{
	if (!srv)
		return;
	w2_pool_deinit(&srv->pool);
	SSL_CTX_free(srv->ssl_ctx);
	w2_free(srv->listeners);
	w2_free(srv->scratch);
	w2_free(srv);
}
