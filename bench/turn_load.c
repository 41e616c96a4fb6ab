/* turn_load: a UDP TURN load generator for webrtc2d's relay and coturn
 * (bench/turn_bench.sh runs it). A bench tool, not a test.
 *
 * One process, one thread, one epoll loop, non-blocking sockets, all on
 * loopback. Every client is a UDP socket that speaks TURN to the server
 * (RFC 8656) with a TURN REST credential (username "<expiry>:userK",
 * password base64(HMAC-SHA1(secret, username)), the long-term key
 * MD5(username:realm:password), RFC 8489 section 9.2.2). Every client in
 * the data modes has its own peer socket in this process.
 *
 * Modes:
 *  - throughput: --clients sockets each do 401 -> Allocate -> CreatePermission
 *    -> ChannelBind (channel 0x4000 to its peer socket), then send
 *    ChannelData of --payload bytes in sendmmsg bursts. With --window W
 *    (default) at most W packets per client are unanswered (closed loop:
 *    the peer's receipt, or with --echo the echo's receipt, answers); with
 *    --rate R the total is paced at R packets/s instead. The peer sockets
 *    count what arrives (recvmmsg); with --echo they send every packet back
 *    to the client's relayed address, so the server relays both ways.
 *    Reports relayed packets/s *delivered*, loss, and the server's CPU time
 *    (utime + stime of --pid, all its threads, from /proc/PID/stat).
 *  - latency: the same set-up; open loop at --rate relayed round trips/s:
 *    client -> relay -> peer, the peer echoes to the relayed address ->
 *    relay -> client, each packet stamped with its CLOCK_MONOTONIC send
 *    time. In the same run, at a quarter of that rate, the same client
 *    sockets send the same packets straight to their peers, which echo them
 *    straight back: the direct round trip over the same sockets, loop and
 *    load. Added latency per pass through the relay is
 *    (relay RTT - direct RTT) / 2, read off the percentiles.
 *  - allocs: --window slots, each cycling: new socket, Allocate (401),
 *    Allocate with credentials, Refresh LIFETIME=0 (frees it), close.
 *    Reports completed cycles/s and the errors by STUN code.
 *
 * Each mode warms up for --warmup s, measures for --duration s, then stops
 * by itself; every wait has a timeout. The hot loops allocate nothing: all
 * buffers are made before the first packet. Output: a few human lines on
 * stderr and one JSON line on stdout. */
#define _GNU_SOURCE

#include "stun/stun.h"
#include "turn/turn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 4096
#define BURST 16     /* datagrams per sendmmsg in throughput mode */
#define RX_BATCH 64  /* datagrams per recvmmsg */
#define RX_SLOT 2048 /* bytes per receive buffer: payloads are <= 1400 */
#define MAX_PAYLOAD 1400
#define MIN_PAYLOAD 24 /* kind, client, seq, send time */
#define CHANNEL 0x4000
#define SOCKBUF (4 << 20)
#define SETUP_TIMEOUT_NS (10 * NS_PER_S)
#define RETRANSMIT_NS (250 * 1000000ull)
#define SETUP_TRIES 4
#define ALLOC_TIMEOUT_NS (1000 * 1000000ull)
#define STALL_NS (50 * 1000000ull) /* a window this long without progress: lost */
#define DRAIN_NS (200 * 1000000ull)
#define NS_PER_S 1000000000ull
#define MAX_SAMPLES (8u << 20)
#define KIND_RELAY 0xA1 /* first byte of a packet's data */
#define KIND_DIRECT 0xA2

enum mode { MODE_THROUGHPUT, MODE_LATENCY, MODE_ALLOCS };

/* The steps of a client's TURN conversation. */
enum step { ST_ALLOC0, ST_ALLOC, ST_PERM, ST_BIND, ST_REFRESH0, ST_READY };

struct opts {
	enum mode mode;
	struct sockaddr_in server;
	const char *secret;
	long pid;
	int clients;
	int payload;
	double duration, warmup;
	double rate;
	int window;
	bool echo;
	struct in_addr peer_ip;
};

struct client {
	int cfd, pfd;                 /* client socket, peer socket (-1: none) */
	struct sockaddr_in peer_addr; /* the peer socket's address */
	struct sockaddr_in relayed;   /* XOR-RELAYED-ADDRESS */
	enum step step;
	uint8_t txid[W2_STUN_TXID_LEN];
	uint64_t sent_at, first_sent_at;
	int tries;
	char user[W2_TURN_REST_USER_MAX];
	char pass[W2_TURN_REST_PASS_MAX];
	char nonce[128];
	size_t nonce_len;
	uint8_t key[32];
	size_t key_len;
	/* data phase */
	uint64_t seq;  /* next sequence number = packets sent */
	uint64_t high; /* highest answered sequence + 1 */
	uint64_t last_progress;
};

/* Counters of one run; `m` copies are taken at the start and end of the
 * measured window. */
struct counters {
	uint64_t sent, direct_sent, peer_rx, client_rx, stalls, send_fail;
	uint64_t completed;
};

/* Jiffies of the first two CPUs from /proc/stat, as bench/run.sh counts
 * them: busy = user nice system irq softirq; total adds idle, iowait and
 * steal. */
struct cpustat {
	unsigned long long busy[2], total[2];
};

struct gen {
	struct opts o;
	struct client *cl;
	int n;
	int ep;
	char realm[128];
	size_t realm_len;
	uint64_t txn; /* transaction counter */
	struct counters c;
	int errors[700];      /* by STUN code, 300..699 */
	int rr, rr_direct;    /* next client to send (round-robin) */
	uint64_t direct_done; /* direct probes tried */
	uint32_t src_cursor;  /* allocs: next source address */
	uint64_t timeouts, bad_responses, socket_errors;
	/* receive and send batches, made once */
	uint8_t *rxbuf;
	struct mmsghdr rxmsg[RX_BATCH], txmsg[RX_BATCH > BURST ? RX_BATCH : BURST];
	struct iovec rxiov[RX_BATCH], txiov[RX_BATCH > BURST ? RX_BATCH : BURST];
	struct sockaddr_in rxname[RX_BATCH];
	uint8_t *txbuf;
	/* latency samples (ns), by send time within the measured window */
	uint32_t *rtt_relay, *rtt_direct;
	size_t n_relay, n_direct, cap_samples;
	uint64_t t_measure, t_end;
	struct cpustat cs0, cs1; /* /proc/stat at the window's start, end */
	bool measuring;
	bool stopping; /* freeing the allocations at the end */
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "turn_load: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* utime + stime of every thread of pid, in seconds; -1 if unreadable. */
static double proc_cpu_s(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut = 0, st = 0;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces: fields count from the last ')'. */
	p = strrchr(buf, ')');
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void read_cpustat(struct cpustat *cs)
{
	char line[256];
	FILE *f = fopen("/proc/stat", "r");

	memset(cs, 0, sizeof(*cs));
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v[8] = {0};
		int cpu;

		if (sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0],
		           &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 9 ||
		    cpu < 0 || cpu > 1)
			continue;
		for (int i = 0; i < 8; i++)
			cs->total[cpu] += v[i];
		cs->busy[cpu] = cs->total[cpu] - v[3] - v[4] - v[7];
	}
	fclose(f);
}

/* Fraction of each of the two cores busy between a and b, as JSON. */
static void print_core_busy(const struct cpustat *a, const struct cpustat *b)
{
	double f[2];

	for (int i = 0; i < 2; i++) {
		unsigned long long t = b->total[i] - a->total[i];

		f[i] = t ? (double)(b->busy[i] - a->busy[i]) / (double)t : -1;
	}
	printf(",\"core_busy\":[%.3f,%.3f]", f[0], f[1]);
}

static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

/* ---- sockets ------------------------------------------------------------- */

/* A non-blocking UDP socket on ip:port (network order; ip 0: 127.0.0.1,
 * port 0: ephemeral), with big buffers for the data modes. */
static int udp_socket(uint32_t ip, uint16_t port, bool big, struct sockaddr_in *bound)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = ip ? ip : htonl(INADDR_LOOPBACK),
	                        .sin_port = port};
	socklen_t len = sizeof(a);
	int v = SOCKBUF;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (big && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (big && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) != 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	if (bound)
		getsockname(fd, (struct sockaddr *)bound, &len);
	return fd;
}

/* epoll data: client index << 1 | (1 for the peer socket). */
static void watch(struct gen *g, int fd, int idx, int is_peer)
{
	struct epoll_event ev = {.events = EPOLLIN,
	                         .data.u64 = (uint64_t)idx << 1 | (uint64_t)is_peer};

	if (epoll_ctl(g->ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

/* ---- TURN requests ------------------------------------------------------- */

static void new_txid(struct gen *g, struct client *c)
{
	uint64_t t = ++g->txn;
	uint32_t idx = (uint32_t)(c - g->cl);

	memcpy(c->txid, &idx, 4);
	memcpy(c->txid + 4, &t, 8);
}

static void put_auth(struct gen *g, struct client *c, struct w2_stun_writer *w)
{
	w2_stun_put(w, W2_STUN_A_USERNAME, c->user, strlen(c->user));
	w2_stun_put(w, W2_STUN_A_REALM, g->realm, g->realm_len);
	w2_stun_put(w, W2_STUN_A_NONCE, c->nonce, c->nonce_len);
	w2_stun_put_integrity(w, c->key, c->key_len);
}

/* Builds the request of c's current step into buf; returns its length. */
static size_t build_request(struct gen *g, struct client *c, uint8_t *buf, size_t cap)
{
	static const uint16_t method[] = {[ST_ALLOC0] = W2_TURN_ALLOCATE,
	                                  [ST_ALLOC] = W2_TURN_ALLOCATE,
	                                  [ST_PERM] = W2_TURN_CREATE_PERMISSION,
	                                  [ST_BIND] = W2_TURN_CHANNEL_BIND,
	                                  [ST_REFRESH0] = W2_TURN_REFRESH};
	struct w2_stun_writer w;
	size_t len = 0;

	w2_stun_writer_init(&w, buf, cap, method[c->step], W2_STUN_REQUEST, c->txid);
	if (c->step == ST_ALLOC0 || c->step == ST_ALLOC)
		w2_stun_put_u32(&w, W2_STUN_A_REQUESTED_TRANSPORT, 17u << 24); /* UDP */
	if (c->step == ST_BIND)
		w2_stun_put_u32(&w, W2_STUN_A_CHANNEL_NUMBER, (uint32_t)CHANNEL << 16);
	if (c->step == ST_PERM || c->step == ST_BIND)
		w2_stun_put_addr(&w, W2_STUN_A_XOR_PEER_ADDRESS,
		                 (const struct sockaddr *)&c->peer_addr, true);
	if (c->step == ST_REFRESH0)
		w2_stun_put_u32(&w, W2_STUN_A_LIFETIME, 0);
	if (c->step != ST_ALLOC0)
		put_auth(g, c, &w);
	w2_stun_put_fingerprint(&w);
	if (w2_stun_writer_finish(&w, &len) != 0)
		die("request does not fit");
	return len;
}

static void send_request(struct gen *g, struct client *c, bool fresh)
{
	uint8_t buf[512];
	size_t len;

	if (fresh) {
		new_txid(g, c);
		c->tries = 0;
		c->first_sent_at = now_ns();
	}
	len = build_request(g, c, buf, sizeof(buf));
	c->sent_at = now_ns();
	c->tries++;
	if (sendto(c->cfd, buf, len, 0, (struct sockaddr *)&g->o.server, sizeof(g->o.server)) < 0)
		g->socket_errors++;
}

static void make_credential(struct gen *g, struct client *c)
{
	char name[32];

	snprintf(name, sizeof(name), "user%d", (int)(c - g->cl));
	if (w2_turn_rest_credential((const uint8_t *)g->o.secret, strlen(g->o.secret), name,
	                            (int64_t)time(NULL) + 3600, c->user, c->pass) != 0)
		die("w2_turn_rest_credential failed");
	c->key_len = 0;
}

static bool attr_copy(const struct w2_stun_msg *m, uint16_t type, char *out, size_t cap,
                      size_t *len)
{
	const struct w2_stun_attr *a = w2_stun_find(m, type);

	if (!a || a->len >= cap)
		return false;
	memcpy(out, w2_stun_attr_value(m, a), a->len);
	out[a->len] = '\0';
	*len = a->len;
	return true;
}

/* A 401 or 438: take REALM and NONCE, derive the key once per realm. */
static bool take_challenge(struct gen *g, struct client *c, const struct w2_stun_msg *m)
{
	char realm[128];
	size_t realm_len;

	if (!attr_copy(m, W2_STUN_A_NONCE, c->nonce, sizeof(c->nonce), &c->nonce_len) ||
	    !attr_copy(m, W2_STUN_A_REALM, realm, sizeof(realm), &realm_len))
		return false;
	if (realm_len != g->realm_len || memcmp(realm, g->realm, realm_len) != 0) {
		memcpy(g->realm, realm, realm_len + 1);
		g->realm_len = realm_len;
		for (int i = 0; i < g->n; i++)
			g->cl[i].key_len = 0;
	}
	if (c->key_len == 0 &&
	    w2_stun_long_term_key(W2_STUN_PW_MD5, c->user, strlen(c->user), g->realm, g->realm_len,
	                          c->pass, strlen(c->pass), c->key, &c->key_len) != 0)
		return false;
	return true;
}

static void count_error(struct gen *g, int code)
{
	if (code >= 300 && code < 700)
		g->errors[code]++;
	else
		g->bad_responses++;
}

/* ---- the allocation cycle (allocs mode) ---------------------------------- */

/* Source addresses of the allocation cycles: 127.0.1.1-16, ports
 * 10000-31999 (below the kernel's ephemeral range and both servers' relay
 * ports), in turn. An ephemeral port would come back within moments, and a
 * server that still holds something for a just-closed 5-tuple (coturn
 * keeps its session a while after Refresh 0) would answer the new
 * Allocate with 437: rotating makes a 5-tuple return only after 352,000
 * cycles. */
#define SRC_IPS 16
#define SRC_PORT_MIN 10000
#define SRC_PORTS 22000

static int next_source_socket(struct gen *g)
{
	uint32_t k = g->src_cursor++ % (SRC_IPS * SRC_PORTS);
	uint32_t ip = (127u << 24) | (1u << 8) | (1 + k / SRC_PORTS);

	return udp_socket(htonl(ip), htons((uint16_t)(SRC_PORT_MIN + k % SRC_PORTS)), false, NULL);
}

/* Starts a new cycle on a new socket (the old one, if any, is closed: the
 * server frees or times out whatever it held). */
static void cycle_restart(struct gen *g, struct client *c)
{
	if (c->cfd >= 0)
		close(c->cfd);
	c->cfd = -1;
	for (int tries = 0; tries < 8 && c->cfd < 0; tries++)
		c->cfd = next_source_socket(g);
	if (c->cfd < 0) {
		g->socket_errors++;
		return; /* retried by the timeout scan */
	}
	watch(g, c->cfd, (int)(c - g->cl), 0);
	c->step = ST_ALLOC0;
	send_request(g, c, true);
}

/* A success of c's current step: next step, or the end of a cycle. */
static void step_success(struct gen *g, struct client *c, const struct w2_stun_msg *m)
{
	const struct w2_stun_attr *a;
	struct sockaddr_storage ss;

	switch (c->step) {
	case ST_ALLOC:
		a = w2_stun_find(m, W2_STUN_A_XOR_RELAYED_ADDRESS);
		if (!a || w2_stun_attr_addr(m, a, true, &ss) != 0 || ss.ss_family != AF_INET) {
			g->bad_responses++;
			if (g->o.mode != MODE_ALLOCS)
				die("client %d: Allocate success without an IPv4 relayed address",
				    (int)(c - g->cl));
			cycle_restart(g, c);
			return;
		}
		memcpy(&c->relayed, &ss, sizeof(c->relayed));
		c->step = g->o.mode == MODE_ALLOCS ? ST_REFRESH0 : ST_PERM;
		break;
	case ST_PERM:
		c->step = ST_BIND;
		break;
	case ST_BIND:
		c->step = ST_READY;
		return;
	case ST_REFRESH0:
		if (g->measuring)
			g->c.completed++;
		if (g->stopping)
			c->step = ST_READY;
		else
			cycle_restart(g, c);
		return;
	default:
		g->bad_responses++;
		return;
	}
	send_request(g, c, true);
}

static void step_error(struct gen *g, struct client *c, const struct w2_stun_msg *m)
{
	int code = 0;
	const char *reason = "";
	size_t reason_len = 0;

	if (w2_stun_get_error(m, &code, &reason, &reason_len) != 0) {
		g->bad_responses++;
		code = 0;
	}
	if (g->stopping && (c->step == ST_ALLOC0 || code != 438)) {
		c->step = ST_READY; /* nothing to free, or nothing more to try */
		return;
	}
	if ((code == 401 && c->step == ST_ALLOC0) || code == 438) {
		if (!take_challenge(g, c, m)) {
			g->bad_responses++;
			return;
		}
		if (c->step == ST_ALLOC0)
			c->step = ST_ALLOC;
		send_request(g, c, true);
		return;
	}
	count_error(g, code);
	if (g->o.mode == MODE_ALLOCS)
		cycle_restart(g, c);
	else
		die("client %d: step %d failed with %d %.*s", (int)(c - g->cl), (int)c->step, code,
		    (int)reason_len, reason);
}

static void handle_response(struct gen *g, struct client *c, const uint8_t *buf, size_t len)
{
	struct w2_stun_msg m;

	if (!w2_stun_is_stun(buf, len) || w2_stun_parse(buf, len, &m) != 0) {
		g->bad_responses++;
		return;
	}
	if (memcmp(m.txid, c->txid, W2_STUN_TXID_LEN) != 0 || c->step == ST_READY)
		return; /* a late answer to a retransmission */
	if (m.cls == W2_STUN_SUCCESS)
		step_success(g, c, &m);
	else if (m.cls == W2_STUN_ERROR)
		step_error(g, c, &m);
}

/* True once `after` ns have passed since t (t may be later than now: a
 * request sent after now was read). */
static bool elapsed(uint64_t now, uint64_t t, uint64_t after)
{
	return now > t && now - t > after;
}

/* Retransmits (set-up) or gives up (allocs) on requests left unanswered. */
static void scan_timeouts(struct gen *g, uint64_t now)
{
	for (int i = 0; i < g->n; i++) {
		struct client *c = &g->cl[i];

		if (c->step == ST_READY)
			continue;
		if (g->stopping) {
			if (elapsed(now, c->first_sent_at, ALLOC_TIMEOUT_NS)) {
				g->timeouts++;
				c->step = ST_READY;
			} else if (elapsed(now, c->sent_at, RETRANSMIT_NS)) {
				send_request(g, c, false);
			}
		} else if (g->o.mode == MODE_ALLOCS) {
			if (c->cfd < 0 || elapsed(now, c->first_sent_at, ALLOC_TIMEOUT_NS)) {
				g->timeouts += c->cfd >= 0;
				cycle_restart(g, c);
			}
		} else if (elapsed(now, c->sent_at, RETRANSMIT_NS)) {
			if (c->tries >= SETUP_TRIES)
				die("client %d: no answer to step %d after %d tries", i,
				    (int)c->step, c->tries);
			send_request(g, c, false);
		}
	}
}

/* Reads every STUN datagram waiting on a client socket. */
static void read_responses(struct gen *g, struct client *c)
{
	uint8_t buf[2048];

	for (int k = 0; k < 64 && c->cfd >= 0; k++) {
		int fd = c->cfd;
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0)
			break;
		handle_response(g, c, buf, (size_t)n);
		if (c->cfd != fd)
			break; /* the cycle restarted on a new socket */
	}
}

/* At the end: every allocation still held is freed (Refresh LIFETIME=0),
 * so that a later run whose ephemeral port happens to equal one of ours
 * does not meet a stale allocation (its Allocate would fail with 437 or
 * 441). Waits at most ~1 s. */
static void free_allocations(struct gen *g)
{
	uint64_t t0 = now_ns(), last_scan = t0;
	struct epoll_event ev[256];
	int pending = 0;

	g->stopping = true;
	g->measuring = false;
	for (int i = 0; i < g->n; i++) {
		struct client *c = &g->cl[i];

		if (c->step == ST_READY && g->o.mode != MODE_ALLOCS && c->cfd >= 0) {
			c->step = ST_REFRESH0;
			send_request(g, c, true);
		} else if (c->step == ST_ALLOC0 || c->cfd < 0) {
			c->step = ST_READY; /* no allocation yet */
		}
		pending += c->step != ST_READY;
	}
	while (pending > 0 && now_ns() - t0 < ALLOC_TIMEOUT_NS + 100 * 1000000ull) {
		int n = epoll_wait(g->ep, ev, 256, 5);
		uint64_t now = now_ns();

		for (int k = 0; k < n; k++)
			if ((ev[k].data.u64 & 1) == 0)
				read_responses(g, &g->cl[ev[k].data.u64 >> 1]);
		if (now - last_scan > 10 * 1000000ull) {
			scan_timeouts(g, now);
			last_scan = now;
		}
		pending = 0;
		for (int i = 0; i < g->n; i++)
			pending += g->cl[i].step != ST_READY;
	}
	if (pending > 0)
		fprintf(stderr, "turn_load: %d allocations not freed at the end\n", pending);
}

/* ---- set-up of the data modes -------------------------------------------- */

static void setup_clients(struct gen *g)
{
	uint64_t t0 = now_ns(), last_scan = t0;
	struct epoll_event ev[256];
	int ready = 0;

	for (int i = 0; i < g->n; i++) {
		struct client *c = &g->cl[i];

		c->cfd = udp_socket(0, 0, true, NULL);
		c->pfd = udp_socket(g->o.peer_ip.s_addr, 0, true, &c->peer_addr);
		if (c->cfd < 0 || c->pfd < 0)
			die("socket: %s (raise the open-files limit?)", strerror(errno));
		watch(g, c->cfd, i, 0);
		watch(g, c->pfd, i, 1);
		make_credential(g, c);
		c->step = ST_ALLOC0;
		send_request(g, c, true);
	}
	while (ready < g->n) {
		int n = epoll_wait(g->ep, ev, 256, 10);
		uint64_t now = now_ns();

		if (now - t0 > SETUP_TIMEOUT_NS)
			die("set-up: only %d of %d clients ready after 10 s", ready, g->n);
		for (int k = 0; k < n; k++) {
			struct client *c = &g->cl[ev[k].data.u64 >> 1];

			if ((ev[k].data.u64 & 1) == 0 && c->step != ST_READY) {
				read_responses(g, c);
				ready += c->step == ST_READY;
			}
		}
		if (now - last_scan > 10 * 1000000ull) {
			scan_timeouts(g, now);
			last_scan = now;
		}
	}
	fprintf(stderr, "turn_load: %d allocations ready in %.0f ms (realm \"%s\")\n", g->n,
	        (double)(now_ns() - t0) / 1e6, g->realm);
}

/* ---- the data path ------------------------------------------------------- */

/* Packet body (the ChannelData's data, or a direct datagram): kind,
 * client index, sequence number, send time. */
static void stamp(uint8_t *p, uint8_t kind, uint32_t idx, uint64_t seq, uint64_t ts)
{
	p[0] = kind;
	memcpy(p + 4, &idx, 4);
	memcpy(p + 8, &seq, 8);
	memcpy(p + 16, &ts, 8);
}

static void read_stamp(const uint8_t *p, uint8_t *kind, uint32_t *idx, uint64_t *seq, uint64_t *ts)
{
	*kind = p[0];
	memcpy(idx, p + 4, 4);
	memcpy(seq, p + 8, 8);
	memcpy(ts, p + 16, 8);
}

/* Sends up to `count` packets from client c in one sendmmsg; direct: to
 * its peer without TURN framing. Returns how many the kernel took. */
static int send_burst(struct gen *g, struct client *c, int count, bool direct, uint64_t now)
{
	size_t hdr = direct ? 0 : W2_TURN_CHANNELDATA_HDR;
	size_t len = hdr + (size_t)g->o.payload;
	const struct sockaddr_in *to = direct ? &c->peer_addr : &g->o.server;
	uint32_t idx = (uint32_t)(c - g->cl);
	int n;

	for (int i = 0; i < count; i++) {
		uint8_t *p = g->txbuf + (size_t)i * RX_SLOT;

		if (!direct)
			w2_turn_channeldata_header(p, CHANNEL, (size_t)g->o.payload);
		stamp(p + hdr, direct ? KIND_DIRECT : KIND_RELAY, idx,
		      direct ? 0 : c->seq + (uint64_t)i, now);
		g->txiov[i] = (struct iovec){.iov_base = p, .iov_len = len};
		g->txmsg[i].msg_hdr = (struct msghdr){.msg_name = (void *)to,
		                                      .msg_namelen = sizeof(*to),
		                                      .msg_iov = &g->txiov[i],
		                                      .msg_iovlen = 1};
	}
	n = sendmmsg(c->cfd, g->txmsg, (unsigned)count, 0);
	if (n < count)
		g->c.send_fail += (uint64_t)(count - (n < 0 ? 0 : n));
	if (n <= 0)
		return 0;
	if (direct) {
		g->c.direct_sent += (uint64_t)n;
	} else {
		c->seq += (uint64_t)n;
		g->c.sent += (uint64_t)n;
	}
	return n;
}

/* Records one round trip sent within the measured window. */
static void sample(struct gen *g, uint8_t kind, uint64_t ts, uint64_t now)
{
	uint64_t rtt = now - ts;

	if (now < ts || ts < g->t_measure || ts >= g->t_end || rtt > UINT32_MAX)
		return;
	if (kind == KIND_RELAY && g->n_relay < g->cap_samples)
		g->rtt_relay[g->n_relay++] = (uint32_t)rtt;
	else if (kind == KIND_DIRECT && g->n_direct < g->cap_samples)
		g->rtt_direct[g->n_direct++] = (uint32_t)rtt;
}

static int recv_batch(struct gen *g, int fd)
{
	for (int i = 0; i < RX_BATCH; i++) {
		g->rxiov[i] =
		    (struct iovec){.iov_base = g->rxbuf + (size_t)i * RX_SLOT, .iov_len = RX_SLOT};
		g->rxmsg[i].msg_hdr = (struct msghdr){.msg_name = &g->rxname[i],
		                                      .msg_namelen = sizeof(g->rxname[i]),
		                                      .msg_iov = &g->rxiov[i],
		                                      .msg_iovlen = 1};
	}
	return recvmmsg(fd, g->rxmsg, RX_BATCH, MSG_DONTWAIT, NULL);
}

static void progress(struct client *c, uint64_t seq, uint64_t now)
{
	if (seq + 1 > c->high) {
		c->high = seq + 1;
		c->last_progress = now;
	}
}

/* Peer socket: count, and echo what asks for it (relay packets to the
 * relayed address, direct packets to their source). */
static void on_peer_readable(struct gen *g, struct client *c, uint64_t now)
{
	bool echo = g->o.echo || g->o.mode == MODE_LATENCY;

	for (int round = 0; round < 4; round++) {
		int n = recv_batch(g, c->pfd), m = 0;

		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			uint8_t kind;
			uint32_t idx;
			uint64_t seq, ts;

			if (g->rxmsg[i].msg_len < MIN_PAYLOAD)
				continue;
			read_stamp(g->rxiov[i].iov_base, &kind, &idx, &seq, &ts);
			if (kind == KIND_RELAY) {
				g->c.peer_rx += g->measuring;
				if (!echo)
					progress(c, seq, now);
			}
			if (!echo)
				continue;
			g->txiov[m] = (struct iovec){.iov_base = g->rxiov[i].iov_base,
			                             .iov_len = g->rxmsg[i].msg_len};
			g->txmsg[m].msg_hdr =
			    (struct msghdr){.msg_name = kind == KIND_RELAY ? (void *)&c->relayed
			                                                   : (void *)&g->rxname[i],
			                    .msg_namelen = sizeof(struct sockaddr_in),
			                    .msg_iov = &g->txiov[m],
			                    .msg_iovlen = 1};
			m++;
		}
		if (m > 0 && sendmmsg(c->pfd, g->txmsg, (unsigned)m, 0) < m)
			g->c.send_fail++;
		if (n < RX_BATCH)
			return;
	}
}

/* Client socket: echoes (ChannelData from the relay, or direct ones). */
static void on_client_readable(struct gen *g, struct client *c, uint64_t now)
{
	for (int round = 0; round < 4; round++) {
		int n = recv_batch(g, c->cfd);

		if (n <= 0)
			return;
		now = now_ns(); /* the receive time of this batch */
		for (int i = 0; i < n; i++) {
			const uint8_t *p = g->rxiov[i].iov_base, *data = p;
			size_t len = g->rxmsg[i].msg_len;
			uint16_t ch;
			uint8_t kind;
			uint32_t idx;
			uint64_t seq, ts;

			/* From the server: ChannelData; from the peer: a direct echo. */
			if (g->rxname[i].sin_port == g->o.server.sin_port &&
			    g->rxname[i].sin_addr.s_addr == g->o.server.sin_addr.s_addr &&
			    w2_turn_channeldata_parse(p, len, &ch, &data, &len) != 0)
				continue;
			if (len < MIN_PAYLOAD)
				continue;
			read_stamp(data, &kind, &idx, &seq, &ts);
			if (kind == KIND_RELAY) {
				g->c.client_rx += g->measuring;
				progress(c, seq, now);
			}
			if (g->o.mode == MODE_LATENCY)
				sample(g, kind, ts, now);
		}
		if (n < RX_BATCH)
			return;
	}
}

static void poll_sockets(struct gen *g, int timeout_ms)
{
	struct epoll_event ev[256];
	int n = epoll_wait(g->ep, ev, 256, timeout_ms);
	uint64_t now = now_ns();

	for (int k = 0; k < n; k++) {
		struct client *c = &g->cl[ev[k].data.u64 >> 1];

		if (ev[k].data.u64 & 1)
			on_peer_readable(g, c, now);
		else
			on_client_readable(g, c, now);
	}
}

/* How many more packets client c may have unanswered (closed loop). */
static int window_room(struct gen *g, struct client *c, uint64_t now)
{
	uint64_t inflight = c->seq - c->high;

	if (g->o.window <= 0)
		return BURST;
	if (inflight >= (uint64_t)g->o.window && elapsed(now, c->last_progress, STALL_NS)) {
		/* Everything in flight was lost: start the window again. */
		c->high = c->seq;
		c->last_progress = now;
		g->c.stalls++;
		inflight = 0;
	}
	return inflight >= (uint64_t)g->o.window ? 0 : (int)((uint64_t)g->o.window - inflight);
}

/* One pass of sends: a closed-loop window per client, or `budget` packets
 * in total when paced. Returns the packets sent. */
static uint64_t send_pass(struct gen *g, uint64_t budget, bool paced, uint64_t now)
{
	uint64_t total = 0;

	for (int k = 0; k < g->n && (!paced || total < budget); k++) {
		struct client *c = &g->cl[g->rr];
		int room = paced ? (int)(budget - total < BURST ? budget - total : BURST)
		                 : window_room(g, c, now);

		g->rr = (g->rr + 1) % g->n;
		if (room > BURST)
			room = BURST;
		if (paced && g->o.mode == MODE_LATENCY)
			room = 1;
		if (room > 0)
			total += (uint64_t)send_burst(g, c, room, false, now);
	}
	return total;
}

/* The measured window: counters and CPU times at its start and end. */
struct window {
	struct counters c0, c1;
	double srv0, srv1, self0, self1;
	uint64_t start, end;
	bool started, ended;
};

static void window_mark(struct gen *g, struct window *w, bool start, uint64_t now)
{
	if (start) {
		w->c0 = g->c;
		w->srv0 = proc_cpu_s(g->o.pid);
		w->self0 = self_cpu_s();
		read_cpustat(&g->cs0);
		w->start = now;
		w->started = g->measuring = true;
	} else {
		w->c1 = g->c;
		w->srv1 = proc_cpu_s(g->o.pid);
		w->self1 = self_cpu_s();
		read_cpustat(&g->cs1);
		w->end = now;
		w->ended = true;
		g->measuring = false;
	}
}

/* Latency mode: direct probes at a quarter of the relay rate, at most one
 * per client per pass. */
static void send_direct_due(struct gen *g, double elapsed, uint64_t now)
{
	uint64_t due = (uint64_t)(g->o.rate / 4 * elapsed);

	for (int k = 0; k < g->n && g->direct_done < due; k++) {
		send_burst(g, &g->cl[g->rr_direct], 1, true, now);
		g->rr_direct = (g->rr_direct + 1) % g->n;
		g->direct_done++;
	}
}

/* Throughput and latency: the send/receive loop for warm-up + duration,
 * then (latency) a drain for the round trips still in flight. Fills the
 * differences of the counters over the measured window into d. */
static void run_data(struct gen *g, struct counters *d, double *srv_cpu, double *self_cpu,
                     double *secs)
{
	uint64_t t0 = now_ns();
	uint64_t drain = g->o.mode == MODE_LATENCY ? DRAIN_NS : 0;
	bool paced = g->o.rate > 0;
	struct window w = {0};

	g->t_measure = t0 + (uint64_t)(g->o.warmup * 1e9);
	g->t_end = g->t_measure + (uint64_t)(g->o.duration * 1e9);
	for (int i = 0; i < g->n; i++)
		g->cl[i].last_progress = t0;
	for (uint64_t now = t0; now < g->t_end + drain; now = now_ns()) {
		uint64_t sent = 0;

		if (!w.started && now >= g->t_measure)
			window_mark(g, &w, true, now);
		if (!w.ended && now >= g->t_end)
			window_mark(g, &w, false, now);
		if (now < g->t_end) {
			double el = (double)(now - t0) / 1e9;
			uint64_t due = paced ? (uint64_t)(g->o.rate * el) : 0;

			sent = send_pass(g, due > g->c.sent ? due - g->c.sent : 0, paced, now);
			if (g->o.mode == MODE_LATENCY)
				send_direct_due(g, el, now);
		}
		poll_sockets(g, sent || paced ? 0 : 1);
	}
	if (!w.ended)
		window_mark(g, &w, false, now_ns());
	*d = w.c1;
	d->sent -= w.c0.sent;
	d->direct_sent -= w.c0.direct_sent;
	d->stalls -= w.c0.stalls;
	d->send_fail -= w.c0.send_fail;
	/* peer_rx and client_rx only count while measuring: already differences. */
	*srv_cpu = w.srv1 - w.srv0;
	*self_cpu = w.self1 - w.self0;
	*secs = (double)(w.end - w.start) / 1e9;
}

/* ---- reports ------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double pct_us(uint32_t *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return -1;
	i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return v[i] / 1000.0;
}

static void report_throughput(struct gen *g, const struct counters *d, double srv, double self,
                              double secs)
{
	uint64_t delivered = d->peer_rx + (g->o.echo ? d->client_rx : 0);
	uint64_t expected = d->sent + (g->o.echo ? d->peer_rx : 0);
	double loss = expected ? 100.0 * (1.0 - (double)delivered / (double)expected) : 0;
	double rate = (double)delivered / secs;

	if (loss < 0)
		loss = 0; /* packets sent before the window, delivered inside it */
	fprintf(
	    stderr,
	    "turn_load: throughput payload=%d clients=%d echo=%d: %.0f relayed pkt/s delivered, "
	    "loss %.2f %%, server cpu %.2f core, %.2f us/pkt, generator cpu %.2f\n",
	    g->o.payload, g->n, g->o.echo, rate, loss, srv / secs,
	    srv > 0 && delivered ? srv * 1e6 / (double)delivered : -1, self / secs);
	printf("{\"mode\":\"throughput\",\"payload\":%d,\"clients\":%d,\"echo\":%s,\"window\":%d,"
	       "\"rate\":%.0f,\"seconds\":%.3f,\"sent\":%" PRIu64 ",\"peer_rx\":%" PRIu64
	       ",\"client_rx\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"delivered_per_s\":%.0f,"
	       "\"loss_pct\":%.3f,\"server_cpu_s\":%.3f,\"server_cpu_frac\":%.3f,"
	       "\"cpu_us_per_pkt\":%.3f,\"pkts_per_core_s\":%.0f,\"gen_cpu_frac\":%.3f,"
	       "\"stalls\":%" PRIu64 ",\"send_fail\":%" PRIu64,
	       g->o.payload, g->n, g->o.echo ? "true" : "false", g->o.window, g->o.rate, secs,
	       d->sent, d->peer_rx, d->client_rx, delivered, rate, loss, srv, srv / secs,
	       srv > 0 && delivered ? srv * 1e6 / (double)delivered : -1,
	       srv > 0 ? (double)delivered / srv : -1, self / secs, d->stalls, d->send_fail);
	print_core_busy(&g->cs0, &g->cs1);
	printf("}\n");
}

static void report_latency(struct gen *g, const struct counters *d, double srv, double self,
                           double secs)
{
	double r[3], dr[3], ps[3] = {50, 99, 99.9};
	double loss = d->sent ? 100.0 * (1.0 - (double)g->n_relay / (double)d->sent) : 0;
	/* What was offered: the loop falls behind the nominal rate when its core
	 * is full (it sends at most one packet per client per pass). */
	double offered = 2.0 * (double)d->sent / secs;

	qsort(g->rtt_relay, g->n_relay, sizeof(uint32_t), cmp_u32);
	qsort(g->rtt_direct, g->n_direct, sizeof(uint32_t), cmp_u32);
	for (int i = 0; i < 3; i++) {
		r[i] = pct_us(g->rtt_relay, g->n_relay, ps[i]);
		dr[i] = pct_us(g->rtt_direct, g->n_direct, ps[i]);
	}
	fprintf(
	    stderr,
	    "turn_load: latency at %.0f round trips/s (%.0f relayed pkt/s offered of %.0f): "
	    "relay RTT p50/p99/p99.9 %.1f/%.1f/%.1f us, direct %.1f/%.1f/%.1f us, added per pass "
	    "p50 %.1f p99 %.1f us, loss %.2f %%, server cpu %.2f\n",
	    g->o.rate, offered, 2 * g->o.rate, r[0], r[1], r[2], dr[0], dr[1], dr[2],
	    (r[0] - dr[0]) / 2, (r[1] - dr[1]) / 2, loss, srv / secs);
	printf("{\"mode\":\"latency\",\"payload\":%d,\"clients\":%d,\"rate\":%.0f,"
	       "\"relayed_per_s\":%.0f,\"offered_relayed_per_s\":%.0f,\"seconds\":%.3f,"
	       "\"sent\":%" PRIu64 ",\"answered\":%zu,\"loss_pct\":%.3f,"
	       "\"relay_rtt_us\":{\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f},"
	       "\"direct_rtt_us\":{\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f},\"direct_samples\":%zu,"
	       "\"added_per_pass_us\":{\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f},"
	       "\"server_cpu_frac\":%.3f,\"gen_cpu_frac\":%.3f",
	       g->o.payload, g->n, g->o.rate, 2 * g->o.rate, offered, secs, d->sent, g->n_relay,
	       loss, r[0], r[1], r[2], dr[0], dr[1], dr[2], g->n_direct, (r[0] - dr[0]) / 2,
	       (r[1] - dr[1]) / 2, (r[2] - dr[2]) / 2, srv / secs, self / secs);
	print_core_busy(&g->cs0, &g->cs1);
	printf("}\n");
}

/* ---- modes --------------------------------------------------------------- */

static void alloc_buffers(struct gen *g)
{
	g->rxbuf = malloc((size_t)RX_BATCH * RX_SLOT);
	g->txbuf = calloc((size_t)(RX_BATCH > BURST ? RX_BATCH : BURST), RX_SLOT);
	if (!g->rxbuf || !g->txbuf)
		die("out of memory");
	if (g->o.mode == MODE_LATENCY) {
		double want = g->o.rate * (g->o.duration + 1) * 1.2 + 1024;

		g->cap_samples = want > MAX_SAMPLES ? MAX_SAMPLES : (size_t)want;
		g->rtt_relay = malloc(g->cap_samples * sizeof(uint32_t));
		g->rtt_direct = malloc(g->cap_samples * sizeof(uint32_t));
		if (!g->rtt_relay || !g->rtt_direct)
			die("out of memory");
	}
}

static void mode_data(struct gen *g)
{
	struct counters d = {0};
	double srv = 0, self = 0, secs = 1;

	alloc_buffers(g);
	setup_clients(g);
	run_data(g, &d, &srv, &self, &secs);
	free_allocations(g);
	if (g->o.mode == MODE_LATENCY)
		report_latency(g, &d, srv, self, secs);
	else
		report_throughput(g, &d, srv, self, secs);
}

static void report_allocs(struct gen *g, uint64_t completed, double srv, double self, double secs)
{
	double rate = (double)completed / secs;

	fprintf(stderr,
	        "turn_load: allocs window=%d: %.0f allocations/s (%" PRIu64 " in %.1f s), "
	        "server cpu %.2f core, %.1f us/allocation, timeouts %" PRIu64 "\n",
	        g->n, rate, completed, secs, srv / secs,
	        completed && srv > 0 ? srv * 1e6 / (double)completed : -1, g->timeouts);
	printf("{\"mode\":\"allocs\",\"window\":%d,\"seconds\":%.3f,\"completed\":%" PRIu64
	       ",\"allocs_per_s\":%.0f,\"server_cpu_frac\":%.3f,\"cpu_us_per_alloc\":%.1f,"
	       "\"gen_cpu_frac\":%.3f,\"timeouts\":%" PRIu64 ",\"bad_responses\":%" PRIu64
	       ",\"socket_errors\":%" PRIu64 ",\"errors\":{",
	       g->n, secs, completed, rate, srv / secs,
	       completed && srv > 0 ? srv * 1e6 / (double)completed : -1, self / secs, g->timeouts,
	       g->bad_responses, g->socket_errors);
	for (int code = 300, first = 1; code < 700; code++)
		if (g->errors[code]) {
			printf("%s\"%d\":%d", first ? "" : ",", code, g->errors[code]);
			first = 0;
		}
	printf("}");
	print_core_busy(&g->cs0, &g->cs1);
	printf("}\n");
}

static void mode_allocs(struct gen *g)
{
	uint64_t t0 = now_ns(), last_scan = t0, now = t0;
	uint64_t warm = (uint64_t)(g->o.warmup * 1e9), dur = (uint64_t)(g->o.duration * 1e9);
	struct epoll_event ev[256];
	double srv0 = 0, self0 = 0;
	uint64_t completed;

	for (int i = 0; i < g->n; i++) {
		g->cl[i].cfd = -1;
		g->cl[i].pfd = -1;
		make_credential(g, &g->cl[i]);
		cycle_restart(g, &g->cl[i]);
	}
	while (now < t0 + warm + dur) {
		int n = epoll_wait(g->ep, ev, 256, 5);

		now = now_ns();
		for (int k = 0; k < n; k++)
			read_responses(g, &g->cl[ev[k].data.u64 >> 1]);
		if (!g->measuring && now >= t0 + warm) {
			g->measuring = true;
			g->c.completed = 0;
			srv0 = proc_cpu_s(g->o.pid);
			self0 = self_cpu_s();
			read_cpustat(&g->cs0);
			g->t_measure = now;
		}
		if (now - last_scan > 10 * 1000000ull) {
			scan_timeouts(g, now);
			last_scan = now;
		}
	}
	srv0 = proc_cpu_s(g->o.pid) - srv0;
	self0 = self_cpu_s() - self0;
	read_cpustat(&g->cs1);
	completed = g->c.completed;
	free_allocations(g);
	report_allocs(g, completed, srv0, self0, (double)(now - g->t_measure) / 1e9);
}

/* ---- command line -------------------------------------------------------- */

static void usage(void)
{
	fprintf(
	    stderr,
	    "usage: turn_load throughput|latency|allocs --server IP:PORT --secret S [--pid PID]\n"
	    "  [--clients N (64; allocs: outstanding cycles, 256)] [--payload BYTES (120)]\n"
	    "  [--duration S (10)] [--warmup S (2)] [--window W (16; 0: unlimited)]\n"
	    "  [--rate R (packets/s; latency: round trips/s)] [--echo] [--peer-ip IP "
	    "(127.0.0.2)]\n");
	exit(2);
}

static void parse_server(const char *s, struct sockaddr_in *out)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (!colon || (size_t)(colon - s) >= sizeof(host))
		die("--server wants IP:PORT");
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
		die("--server: not an IPv4 address: %s", host);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
	*o =
	    (struct opts){.clients = -1, .payload = 120, .duration = 10, .warmup = 2, .window = 16};
	/* Peers on another loopback address than the relay's: a relay may
	 * refuse peers on its own IP (webrtc2d did for its relay port range,
	 * where ephemeral ports fall, until 7a193a6). */
	inet_pton(AF_INET, "127.0.0.2", &o->peer_ip);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "throughput") == 0)
		o->mode = MODE_THROUGHPUT;
	else if (strcmp(argv[1], "latency") == 0)
		o->mode = MODE_LATENCY;
	else if (strcmp(argv[1], "allocs") == 0)
		o->mode = MODE_ALLOCS;
	else
		usage();
	for (int i = 2; i < argc; i++) {
		const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(k, "--echo") == 0) {
			o->echo = true;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (strcmp(k, "--server") == 0)
			parse_server(v, &o->server);
		else if (strcmp(k, "--secret") == 0)
			o->secret = v;
		else if (strcmp(k, "--pid") == 0)
			o->pid = atol(v);
		else if (strcmp(k, "--clients") == 0)
			o->clients = atoi(v);
		else if (strcmp(k, "--payload") == 0)
			o->payload = atoi(v);
		else if (strcmp(k, "--duration") == 0)
			o->duration = atof(v);
		else if (strcmp(k, "--warmup") == 0)
			o->warmup = atof(v);
		else if (strcmp(k, "--window") == 0)
			o->window = atoi(v);
		else if (strcmp(k, "--rate") == 0)
			o->rate = atof(v);
		else if (strcmp(k, "--peer-ip") == 0 && inet_pton(AF_INET, v, &o->peer_ip) == 1)
			continue;
		else
			usage();
	}
	if (o->clients < 0)
		o->clients = o->mode == MODE_ALLOCS ? 256 : 64;
	if (!o->secret || o->server.sin_family != AF_INET)
		die("--server and --secret are required");
	if (o->clients < 1 || o->clients > MAX_CLIENTS || o->payload < MIN_PAYLOAD ||
	    o->payload > MAX_PAYLOAD || o->duration <= 0 || o->duration > 600 || o->warmup < 0 ||
	    o->warmup > 60)
		die("an option is out of range (clients 1..%d, payload %d..%d, duration <= 600 s)",
		    MAX_CLIENTS, MIN_PAYLOAD, MAX_PAYLOAD);
	if (o->mode == MODE_LATENCY && o->rate <= 0)
		die("latency needs --rate");
}

int main(int argc, char **argv)
{
	struct gen g = {0};

	parse_args(argc, argv, &g.o);
	g.n = g.o.clients;
	g.cl = calloc((size_t)g.n, sizeof(*g.cl));
	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!g.cl || g.ep < 0)
		die("start-up failed");
	if (g.o.mode == MODE_ALLOCS)
		mode_allocs(&g);
	else
		mode_data(&g);
	fflush(stdout);
	return 0;
}
