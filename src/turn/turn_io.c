/* The TURN role's thread, its UDP sockets and the engine's I/O functions.
 *
 * Every readiness callback follows one shape: take the time once, read a
 * batch with recvmmsg, hand each datagram to the engine (which answers by
 * queueing datagrams or stream bytes), then flush everything queued with as
 * few sendmmsg calls as there are distinct sockets in a row. Nothing on
 * that path allocates: receive slots and the send slab are made at create. */
#include "turn/turn_io_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "stun/stun.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define MOD "turn"
#define TICK_MS 1000
#define PORT_TRIES 64 /* binds tried before a relay_open gives up (508) */
#define SELF_MAX 20   /* listeners (at most 16) and the relay addresses */

uint64_t w2__turn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static socklen_t sa_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static int sa_from_host(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		return 0;
	}
	return W2_EINVAL;
}

static void sa_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons(port);
}

/* Bigger kernel buffers absorb bursts between two loop turns. As root the
 * FORCE variants pass net.core.rmem_max; otherwise the plain ones cap. */
static void grow_buffers(int fd)
{
	int v = IO_SOCKBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static int open_socket(const struct sockaddr_storage *ss, int type)
{
	int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;

	if (fd < 0)
		return -errno;
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sa_len((const struct sockaddr *)ss)) != 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	return fd;
}

/* ---- batched sends ------------------------------------------------------- */

static void flush_datagrams(struct w2_turn_server *s)
{
	size_t i = 0;

	while (i < s->n_send) {
		size_t j = i + 1;
		int n;

		while (j < s->n_send && s->sfd[j] == s->sfd[i])
			j++;
		n = sendmmsg(s->sfd[i], &s->smsg[i], (unsigned)(j - i), MSG_DONTWAIT);
		if (n < 0) {
			/* A full socket buffer loses the rest, as the network
			 * would; a datagram is never worth blocking the loop. */
			s->send_drops += j - i;
			i = j;
		} else {
			if (n == 0)
				n = 1, s->send_drops++;
			i += (size_t)n;
		}
	}
	s->n_send = 0;
	s->slab_used = 0;
}

void w2__turn_io_queue(struct w2_turn_server *s, int fd, const struct sockaddr *addr,
		       const uint8_t *buf, size_t len)
{
	size_t k;

	if (len > IO_DGRAM_MAX)
		return;
	if (s->n_send == IO_SEND_SLOTS || s->slab_used + len > IO_SEND_SLAB)
		flush_datagrams(s);
	k = s->n_send++;
	memcpy(s->slab + s->slab_used, buf, len);
	memcpy(&s->saddr[k], addr, sa_len(addr));
	s->siov[k].iov_base = s->slab + s->slab_used;
	s->siov[k].iov_len = len;
	s->smsg[k].msg_hdr = (struct msghdr){.msg_name = &s->saddr[k],
					      .msg_namelen = sa_len(addr),
					      .msg_iov = &s->siov[k],
					      .msg_iovlen = 1};
	s->sfd[k] = fd;
	s->slab_used += len;
}

void w2__turn_io_after_dispatch(struct w2_turn_server *s)
{
	flush_datagrams(s);
	w2__turn_streams_after_dispatch(s);
}

/* ---- the engine's I/O functions ---------------------------------------- */

static void op_send_to_client(void *io, const struct w2_turn_client *c, const uint8_t *buf,
			      size_t len)
{
	struct w2_turn_server *s = io;

	if (c->transport == W2_TURN_UDP)
		w2__turn_io_queue(s, ((struct io_udp *)c->conn)->fd,
				  (const struct sockaddr *)&c->addr, buf, len);
	else
		w2__turn_stream_send(s, c->conn, buf, len);
}

static void on_relay_readable(uv_poll_t *h, int status, int events);

/* Binds a relay socket on an even port of the range (so that EVEN-PORT is
 * always satisfied: turn_alloc.c), starting from a rotating cursor so that
 * a just-freed port is not handed out again at once. */
static int bind_relay(struct w2_turn_server *s, const struct sockaddr_storage *base)
{
	const struct w2_turn_settings *t = &s->cfg->turn;
	uint32_t first = t->min_port + (t->min_port & 1u);
	uint32_t span = t->max_port >= first ? (t->max_port - first) / 2 + 1 : 0;
	struct sockaddr_storage ss = *base;
	int fd = -EADDRINUSE;

	for (int i = 0; span && i < PORT_TRIES && fd == -EADDRINUSE; i++) {
		sa_set_port(&ss, (uint16_t)(first + 2 * (s->next_port++ % span)));
		fd = open_socket(&ss, SOCK_DGRAM);
	}
	return fd;
}

static void *op_relay_open(void *io, struct w2_turn_alloc *a, int family,
			   struct sockaddr_storage *relayed, int *err)
{
	struct w2_turn_server *s = io;
	const struct sockaddr_storage *base = family == AF_INET6 ? &s->relay_addr6 : &s->relay_addr;
	struct io_udp *r;
	socklen_t len = sizeof(*relayed);
	int fd;

	if ((family == AF_INET6 && !s->has_relay6) || (family == AF_INET && !s->has_relay4)) {
		*err = W2_EINVAL;
		return NULL;
	}
	r = w2_calloc(1, sizeof(*r));
	if (!r) {
		*err = W2_ELIMIT;
		return NULL;
	}
	fd = bind_relay(s, base);
	if (fd < 0) {
		*err = (fd == -EADDRINUSE || fd == -EMFILE || fd == -ENFILE) ? W2_ELIMIT : W2_EIO;
		w2_free(r);
		return NULL;
	}
	grow_buffers(fd);
	getsockname(fd, (struct sockaddr *)relayed, &len);
	if (family == AF_INET && s->advertised4.ss_family == AF_INET) {
		uint16_t port = ((struct sockaddr_in *)relayed)->sin_port;

		*relayed = s->advertised4;
		((struct sockaddr_in *)relayed)->sin_port = port;
	}
	r->fd = fd;
	r->kind = IO_RELAY;
	r->srv = s;
	r->alloc = a;
	uv_poll_init(&s->loop, &r->poll, fd);
	r->poll.data = r;
	uv_poll_start(&r->poll, UV_READABLE, on_relay_readable);
	return r;
}

static void op_relay_send(void *io, void *relay, const struct sockaddr *peer, const uint8_t *buf,
			  size_t len)
{
	w2__turn_io_queue(io, ((struct io_udp *)relay)->fd, peer, buf, len);
}

static void on_relay_closed(uv_handle_t *h)
{
	struct io_udp *r = h->data;

	close(r->fd);
	w2_free(r);
}

static void op_relay_close(void *io, void *relay)
{
	struct io_udp *r = relay;
	struct w2_turn_server *s = io;

	/* Datagrams still queued for this socket must not reach a recycled
	 * descriptor: flush before the close callback can free the number. */
	flush_datagrams(s);
	r->closing = true;
	r->alloc = NULL;
	uv_poll_stop(&r->poll);
	uv_close((uv_handle_t *)&r->poll, on_relay_closed);
}

static const struct w2_turn_ops k_ops = {
    .send_to_client = op_send_to_client,
    .relay_open = op_relay_open,
    .relay_send = op_relay_send,
    .relay_close = op_relay_close,
};

/* ---- receiving ----------------------------------------------------------- */

/* Reads up to IO_RECV_ROUNDS batches from fd and hands each datagram to
 * `deliver`. A truncated datagram (larger than a slot) is dropped. */
static void read_batches(struct w2_turn_server *s, struct io_udp *u,
			 void (*deliver)(struct w2_turn_server *, struct io_udp *, size_t,
					 uint64_t))
{
	uint64_t now = w2__turn_now_ms();

	for (int round = 0; round < IO_RECV_ROUNDS && !u->closing; round++) {
		int n;

		for (size_t i = 0; i < IO_RECV_BATCH; i++)
			s->rmsg[i].msg_hdr.msg_namelen = sizeof(s->raddr[i]);
		n = recvmmsg(u->fd, s->rmsg, IO_RECV_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		for (int i = 0; i < n && !u->closing; i++)
			if (!(s->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC))
				deliver(s, u, (size_t)i, now);
		/* Each batch leaves at once: waiting for the next rounds would
		 * add their time to this batch's latency for no fewer calls. */
		w2__turn_io_after_dispatch(s);
		if (n < IO_RECV_BATCH)
			break;
	}
}

static uint8_t *slot_data(struct w2_turn_server *s, size_t i)
{
	return s->rbuf + i * IO_SLOT + W2_TURN_PEER_HEADROOM;
}

static void deliver_client(struct w2_turn_server *s, struct io_udp *u, size_t i, uint64_t now)
{
	struct w2_turn_client c = {.transport = W2_TURN_UDP, .conn = u};

	memcpy(&c.addr, &s->raddr[i], s->rmsg[i].msg_hdr.msg_namelen);
	w2_turn_handle_client(s->engine, &c, slot_data(s, i), s->rmsg[i].msg_len, now);
}

static void deliver_peer(struct w2_turn_server *s, struct io_udp *u, size_t i, uint64_t now)
{
	if (u->alloc)
		w2_turn_handle_peer(s->engine, u->alloc, (const struct sockaddr *)&s->raddr[i],
				    slot_data(s, i), s->rmsg[i].msg_len, now);
}

static void on_listen_readable(uv_poll_t *h, int status, int events)
{
	struct io_udp *u = h->data;

	if (status == 0)
		read_batches(u->srv, u, deliver_client);
}

static void on_relay_readable(uv_poll_t *h, int status, int events)
{
	struct io_udp *u = h->data;

	if (status == 0)
		read_batches(u->srv, u, deliver_peer);
}

/* ---- thread -------------------------------------------------------------- */

static void publish_stats(struct w2_turn_server *s)
{
	uv_mutex_lock(&s->stats_lock);
	s->stats = *w2_turn_stats(s->engine);
	s->stats_streams = s->n_streams;
	s->stats_send_drops = s->send_drops;
	uv_mutex_unlock(&s->stats_lock);
}

static void on_tick(uv_timer_t *h)
{
	struct w2_turn_server *s = h->data;
	uint64_t now = w2__turn_now_ms();
	uint64_t next = w2_turn_bookkeeping(s->engine, now);

	w2__turn_streams_sweep(s, now);
	w2__turn_io_after_dispatch(s);
	publish_stats(s);
	uv_timer_start(&s->tick, on_tick, next < TICK_MS ? (next ? next : 1) : TICK_MS, 0);
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, h->type == UV_POLL ? on_relay_closed : NULL);
}

/* Stop: the engine frees its allocations (closing their relay sockets),
 * then every other handle closes and uv_run returns. */
static void on_stop(uv_async_t *h)
{
	struct w2_turn_server *s = h->data;

	publish_stats(s);
	w2_turn_destroy(s->engine);
	s->engine = NULL;
	w2__turn_streams_close_all(s);
	for (size_t i = 0; i < s->n_udp; i++) {
		uv_poll_stop(&s->udp[i].poll);
		uv_close((uv_handle_t *)&s->udp[i].poll, NULL);
	}
	uv_close((uv_handle_t *)&s->tick, NULL);
	uv_close((uv_handle_t *)&s->stop_async, NULL);
}

static void thread_main(void *arg)
{
	struct w2_turn_server *s = arg;

	uv_run(&s->loop, UV_RUN_DEFAULT);
	/* Anything still open (there should be nothing) is closed here. */
	uv_walk(&s->loop, close_walk, NULL);
	uv_run(&s->loop, UV_RUN_DEFAULT);
}

/* ---- create and destroy -------------------------------------------------- */

static int open_listeners(struct w2_turn_server *s, char *err)
{
	const struct w2_turn_settings *t = &s->cfg->turn;

	s->udp = w2_calloc(t->n_listen, sizeof(*s->udp));
	s->tcp_fds = w2_calloc(t->n_listen, sizeof(*s->tcp_fds));
	s->tcp_tls = w2_calloc(t->n_listen, sizeof(*s->tcp_tls));
	s->tcp = w2_calloc(t->n_listen, sizeof(*s->tcp));
	if (!s->udp || !s->tcp_fds || !s->tcp_tls || !s->tcp)
		return W2_ENOMEM;
	for (size_t i = 0; i < t->n_listen; i++) {
		const struct w2_listen *l = &t->listen[i];
		struct sockaddr_storage ss;
		int fd;

		if (sa_from_host(l->host, l->port, &ss) != 0)
			return W2_EINVAL;
		if (!l->tls) {
			fd = open_socket(&ss, SOCK_DGRAM);
			if (fd < 0)
				goto fail;
			grow_buffers(fd);
			s->udp[s->n_udp].fd = fd;
			s->udp[s->n_udp].srv = s;
			s->udp[s->n_udp++].kind = IO_UDP_LISTEN;
		}
		fd = open_socket(&ss, SOCK_STREAM);
		if (fd >= 0 && listen(fd, 511) != 0) {
			int e = -errno;

			close(fd);
			fd = e;
		}
		if (fd < 0)
			goto fail;
		s->tcp_tls[s->n_tcp] = l->tls;
		s->tcp_fds[s->n_tcp++] = fd;
		continue;
	fail:
		snprintf(err, W2_CONFIG_ERR_MAX, "turn: cannot listen on %s:%u (%s): %s", l->host,
			 l->port, l->tls ? "TLS" : "UDP and TCP", strerror(-fd));
		return W2_EIO;
	}
	return 0;
}

static int setup_relay(struct w2_turn_server *s, char *err)
{
	const struct w2_turn_settings *t = &s->cfg->turn;
	uint32_t r = 0;

	if (!t->relay_ip || sa_from_host(t->relay_ip, 0, &s->relay_addr) != 0) {
		snprintf(err, W2_CONFIG_ERR_MAX, "turn.relay_ip: not set");
		return W2_ECONFIG;
	}
	if (s->relay_addr.ss_family == AF_INET6) {
		s->relay_addr6 = s->relay_addr;
		s->has_relay6 = true;
		memset(&s->relay_addr, 0, sizeof(s->relay_addr));
	} else {
		s->has_relay4 = true;
	}
	if (t->external_ip)
		sa_from_host(t->external_ip, 0, &s->advertised4);
	if (getrandom(&r, sizeof(r), 0) == (ssize_t)sizeof(r))
		s->next_port = r;
	return 0;
}

static int alloc_buffers(struct w2_turn_server *s)
{
	s->rbuf = w2_malloc((size_t)IO_RECV_BATCH * IO_SLOT);
	s->slab = w2_malloc(IO_SEND_SLAB);
	s->stream_rbuf = w2_malloc(65536);
	if (!s->rbuf || !s->slab || !s->stream_rbuf)
		return W2_ENOMEM;
	for (size_t i = 0; i < IO_RECV_BATCH; i++) {
		s->riov[i].iov_base = slot_data(s, i);
		s->riov[i].iov_len = IO_DGRAM_MAX;
		s->rmsg[i].msg_hdr = (struct msghdr){.msg_name = &s->raddr[i],
						      .msg_namelen = sizeof(s->raddr[i]),
						      .msg_iov = &s->riov[i],
						      .msg_iovlen = 1};
	}
	return 0;
}

/* The engine's `self` list: every listening address, and the relay
 * address with port 0 (the engine refuses that IP's relay port range). */
static int create_engine(struct w2_turn_server *s)
{
	const struct w2_turn_settings *t = &s->cfg->turn;
	struct sockaddr_storage self[SELF_MAX];
	size_t n = 0;

	for (size_t i = 0; i < t->n_listen && n < SELF_MAX - 2; i++)
		if (sa_from_host(t->listen[i].host, t->listen[i].port, &self[n]) == 0)
			n++;
	if (s->has_relay4)
		self[n++] = s->relay_addr;
	if (s->has_relay6)
		self[n++] = s->relay_addr6;
	return w2_turn_create(&s->engine, t, &k_ops, s, self, n);
}

int w2_turn_server_create(struct w2_turn_server **out, const struct w2_config *cfg, char *err)
{
	struct w2_turn_server *s = w2_calloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s)
		return W2_ENOMEM;
	s->cfg = cfg;
	uv_mutex_init(&s->stats_lock);
	rc = uv_loop_init(&s->loop) == 0 ? 0 : W2_EIO;
	if (rc == 0)
		rc = alloc_buffers(s);
	if (rc == 0)
		rc = setup_relay(s, err);
	if (rc == 0)
		rc = open_listeners(s, err);
	if (rc == 0)
		rc = w2__turn_tls_init(s, err);
	if (rc == 0)
		rc = create_engine(s);
	w2_pool_init(&s->pool, 1024, NULL);
	if (rc != 0) {
		if (!err[0])
			snprintf(err, W2_CONFIG_ERR_MAX, "turn: cannot start: %s", w2_strerror(rc));
		w2_turn_server_destroy(s);
		return rc;
	}
	*out = s;
	return 0;
}

int w2_turn_server_start(struct w2_turn_server *s)
{
	for (size_t i = 0; i < s->n_udp; i++) {
		uv_poll_init(&s->loop, &s->udp[i].poll, s->udp[i].fd);
		s->udp[i].poll.data = &s->udp[i];
		uv_poll_start(&s->udp[i].poll, UV_READABLE, on_listen_readable);
	}
	if (w2__turn_streams_start(s) != 0)
		return W2_EIO;
	uv_async_init(&s->loop, &s->stop_async, on_stop);
	s->stop_async.data = s;
	uv_timer_init(&s->loop, &s->tick);
	s->tick.data = s;
	uv_timer_start(&s->tick, on_tick, TICK_MS, 0);
	if (uv_thread_create(&s->thread, thread_main, s) != 0)
		return W2_EIO;
	s->started = true;
	return 0;
}

void w2_turn_server_stop(struct w2_turn_server *s)
{
	if (!s || !s->started || s->stopped)
		return;
	s->stopped = true;
	uv_async_send(&s->stop_async);
	uv_thread_join(&s->thread);
}

void w2_turn_server_destroy(struct w2_turn_server *s)
{
	if (!s)
		return;
	w2_turn_server_stop(s);
	if (!s->started) {
		/* Never ran: close what create opened, without the loop. */
		w2_turn_destroy(s->engine);
		for (size_t i = 0; i < s->n_udp; i++)
			close(s->udp[i].fd);
		for (size_t i = 0; i < s->n_tcp; i++)
			if (s->tcp_fds[i] > 0)
				close(s->tcp_fds[i]);
	} else {
		for (size_t i = 0; i < s->n_udp; i++)
			close(s->udp[i].fd);
	}
	uv_loop_close(&s->loop);
	if (s->tls_ctx)
		SSL_CTX_free(s->tls_ctx);
	w2_pool_deinit(&s->pool);
	uv_mutex_destroy(&s->stats_lock);
	w2_free(s->udp);
	w2_free(s->tcp_fds);
	w2_free(s->tcp_tls);
	w2_free(s->tcp);
	w2_free(s->rbuf);
	w2_free(s->slab);
	w2_free(s->stream_rbuf);
	w2_free(s);
}

/* ---- counters ------------------------------------------------------------- */

void w2_turn_server_stats(struct w2_turn_server *s, struct w2_turn_stats *out, uint64_t *streams)
{
	uv_mutex_lock(&s->stats_lock);
	*out = s->stats;
	if (streams)
		*streams = s->stats_streams;
	uv_mutex_unlock(&s->stats_lock);
}

struct series {
	const char *name, *kind, *help;
	size_t offset;
};

#define SERIES(f, kind, help) {"webrtc2_turn_" #f, kind, help, offsetof(struct w2_turn_stats, f)}

static const struct series k_series[] = {
    SERIES(allocations, "gauge", "TURN allocations"),
    SERIES(allocations_total, "counter", "TURN allocations created"),
    SERIES(permissions, "gauge", "TURN permissions installed"),
    SERIES(channels, "gauge", "TURN channels bound"),
    SERIES(relayed_packets_total, "counter", "Datagrams relayed, both directions"),
    SERIES(relayed_bytes_total, "counter", "Payload bytes relayed, both directions"),
    SERIES(auth_failures_total, "counter", "Requests refused for a wrong or expired credential"),
    SERIES(stale_nonces_total, "counter", "Requests answered 438 Stale Nonce"),
    SERIES(quota_rejections_total, "counter", "Allocations refused by a quota (486, 508)"),
    SERIES(forbidden_peers_total, "counter", "Peer addresses refused by the relay policy"),
    SERIES(rate_limited_total, "counter", "Unauthenticated requests dropped by the rate limit"),
    SERIES(malformed_total, "counter", "Datagrams and frames dropped as malformed"),
    SERIES(bandwidth_drops_total, "counter", "Datagrams dropped by an allocation's cap"),
    SERIES(no_permission_drops_total, "counter", "Datagrams dropped for want of a permission"),
    SERIES(binding_requests_total, "counter", "STUN Binding requests answered"),
};

long w2_turn_server_render_metrics(void *arg, char *out, size_t cap)
{
	struct w2_turn_server *s = arg;
	struct w2_turn_stats st;
	uint64_t streams;
	size_t len = 0;

	w2_turn_server_stats(s, &st, &streams);
	for (size_t i = 0; i < sizeof(k_series) / sizeof(k_series[0]); i++) {
		const struct series *x = &k_series[i];
		int n = snprintf(out + len, cap - len, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n",
				 x->name, x->help, x->name, x->kind, x->name,
				 (unsigned long long)*(const uint64_t *)((const char *)&st +
									 x->offset));

		if (n < 0 || (size_t)n >= cap - len)
			return -1;
		len += (size_t)n;
	}
	{
		int n = snprintf(out + len, cap - len,
				 "# HELP webrtc2_turn_streams TURN TCP and TLS connections\n"
				 "# TYPE webrtc2_turn_streams gauge\nwebrtc2_turn_streams %llu\n",
				 (unsigned long long)streams);

		if (n < 0 || (size_t)n >= cap - len)
			return -1;
		len += (size_t)n;
	}
	return (long)len;
}
