/* loadgen: a WebSocket signaling load generator for webrtc2d, PeerJS and the
 * libwebsockets baseline (bench/lws_relay.c). A bench tool, not a test.
 *
 * One process, one thread, one epoll loop, non-blocking sockets. A process
 * may hold at most RLIMIT_NOFILE sockets (the hard limit is 20,000 on the
 * bench machine), so more connections mean more processes, each with its own
 * --user-base; `loadgen --merge FILE...` adds up their JSON result lines.
 *
 * Phases: (1) connect --conns connections, at most --concurrency handshakes
 * at a time (TCP, TLS, HTTP upgrade, then hello/welcome or PeerJS OPEN);
 * (2) traffic: the first 2*--pairs connections form pairs (0,1), (2,3), ...
 * that send signals to each other; the rest stay idle but authenticated;
 * (3) after --warmup seconds the counters restart, and after --duration
 * more seconds the run ends and prints a report plus one JSON line.
 *
 * Two traffic shapes:
 *  - --rate 0 (closed loop): --window messages circulate in every pair; a
 *    message received is answered at once with a new one to the sender. This
 *    finds the maximum relay rate.
 *  - --rate R (open loop): R messages per second in total, paced every
 *    100 us and spread round-robin over the pairs and both directions,
 *    whatever the replies do. This measures latency at a given load.
 *
 * Every signal's data carries its send time (CLOCK_MONOTONIC nanoseconds,
 * the same clock in every process of the machine); the receiver records
 * now - t into a log-bucket histogram (HDR-style, 1/64 relative precision,
 * no allocation per message).
 *
 * Client frames are masked with a fresh random key per frame as RFC 6455
 * section 5.3 requires (xoshiro256** seeded from getrandom(): good enough
 * for a load generator that talks to loopback only). */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "signal/auth.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24 /* linux/in.h; glibc's netinet/in.h lacks it */
#endif

#define LG_RBUF (256 * 1024)          /* one shared read buffer */
#define LG_MAX_MSG (1024 * 1024)      /* largest server message we accept */
#define LG_OUT_CAP (8 * 1024 * 1024)  /* per connection: past this, open-loop sends are skipped */
#define LG_MAX_PAYLOAD 60000          /* --payload cap (one 16-bit-length frame) */
#define LG_MAX_SRC 256                /* source addresses */
#define LG_MAX_ERRKINDS 32            /* distinct error names counted */
#define LG_HS_TIMEOUT_NS (20LL * 1000000000LL) /* per connection handshake */
#define LG_TICK_NS 100000LL           /* open-loop pacing: 100 us */
#define NS 1000000000LL

/* ---------------------------------------------------------------- clock */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* ---------------------------------------------------------------- random */

/* xoshiro256** (Blackman & Vigna): fast mask keys and PeerJS tokens. */
struct rng {
	uint64_t s[4];
};

static uint64_t rotl64(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl64(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl64(s[3], 45);
	return result;
}

static void rng_seed(struct rng *r)
{
	if (getrandom(r->s, sizeof(r->s), 0) != (ssize_t)sizeof(r->s)) {
		/* getrandom() never fails for 32 bytes on Linux >= 3.17; be safe anyway. */
		r->s[0] = (uint64_t)now_ns();
		r->s[1] = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL;
		r->s[2] = 0xD1B54A32D192ED03ULL;
		r->s[3] = 0x8CB92BA72F3D8DD7ULL;
	}
}

/* ---------------------------------------------------------------- histogram */

/* Log-linear buckets as in HdrHistogram: values below 64 have their own
 * bucket; above, each power of two is split into 64 sub-buckets, so a
 * recorded value is known within 1/64 (1.6 %). 59 * 64 buckets cover all of
 * uint64_t; recording is a count increment, no allocation. */
#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t count[HIST_BUCKETS];
	uint64_t n;
	uint64_t max;
	double sum;
};

static unsigned hist_index(uint64_t v)
{
	if (v < HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - HIST_SUB_BITS;
	return (shift + 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
}

/* The highest value that falls into bucket idx. */
static uint64_t hist_bucket_high(unsigned idx)
{
	if (idx < HIST_SUB)
		return idx;
	unsigned shift = idx / HIST_SUB - 1;
	uint64_t low = (uint64_t)(HIST_SUB + idx % HIST_SUB) << shift;
	return low + ((uint64_t)1 << shift) - 1;
}

static void hist_record(struct hist *h, uint64_t v)
{
	h->count[hist_index(v)]++;
	h->n++;
	h->sum += (double)v;
	if (v > h->max)
		h->max = v;
}

static uint64_t hist_quantile(const struct hist *h, double q)
{
	if (h->n == 0)
		return 0;
	uint64_t rank = (uint64_t)ceil(q * (double)h->n);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank) {
			uint64_t v = hist_bucket_high(i);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

/* ---------------------------------------------------------------- options */

enum proto { PROTO_WEBRTC2, PROTO_PEERJS };

struct opts {
	const char *url;
	enum proto proto;
	uint32_t conns;
	uint32_t pairs;
	double rate;
	uint32_t window;
	double duration_s;
	double warmup_s;
	const char *secret;
	const char *src_addrs;
	uint32_t payload;
	uint32_t user_base;
	const char *domain;
	const char *peerjs_key;
	uint32_t concurrency;
	double connect_timeout_s;
	const char *ready_file;
	const char *label;
	bool quiet;
	bool spin;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loadgen [options]\n"
		"       loadgen --merge RESULT_FILE...   (sum the JSON lines of several processes)\n"
		"  --url URL            ws://127.0.0.1:8080/signal (wss:// for TLS, no verification)\n"
		"  --proto P            webrtc2 | peerjs (peerjs: URL path /peerjs, ?key=&id=&token= added)\n"
		"  --conns N            connections to open and hold (default 100)\n"
		"  --pairs P            pairs among them that relay to each other (default 0)\n"
		"  --rate R             total messages/s sent; 0 = closed loop with --window (default 0)\n"
		"  --window W           messages in flight per pair when --rate 0 (default 16)\n"
		"  --duration S         measured seconds (default 10)\n"
		"  --warmup S           traffic seconds before measuring (default 2)\n"
		"  --secret STR         HS256 secret minting tokens for users u<base>..u<base+N-1>\n"
		"  --user-base K        first user number (default 0; distinct per process)\n"
		"  --domain D           user domain for signal targets (default localhost)\n"
		"  --src-addrs A-B      bind source addresses round-robin, e.g. 127.0.0.2-127.0.0.40\n"
		"  --payload BYTES      size of each signal's data JSON (default 200)\n"
		"  --concurrency C      handshakes in progress at once (default 256)\n"
		"  --connect-timeout S  give up connecting after S seconds (default 300)\n"
		"  --ready-file PATH    written once every connection is up (before traffic)\n"
		"  --peerjs-key K       PeerJS key (default peerjs)\n"
		"  --label NAME         copied into the JSON line\n"
		"  --spin               poll without sleeping during traffic (a dedicated core: no\n"
		"                       wake-up cost or timer slack in the measured latency)\n"
		"  --quiet              no progress lines on stderr\n");
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || *end || end == s || v < 0)
		return -1;
	*out = v;
	return 0;
}

/* Parses argv into o; returns 0, or -1 after printing why. */
static int opts_parse(struct opts *o, int argc, char **argv)
{
	*o = (struct opts){
		.url = NULL, .proto = PROTO_WEBRTC2, .conns = 100, .pairs = 0, .rate = 0,
		.window = 16, .duration_s = 10, .warmup_s = 2, .secret = NULL,
		.payload = 200, .domain = "localhost", .peerjs_key = "peerjs",
		.concurrency = 256, .connect_timeout_s = 300, .label = "",
	};
	for (int i = 1; i < argc; i++) {
		const char *k = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
		if (!strcmp(k, "--quiet")) { o->quiet = true; continue; }
		if (!strcmp(k, "--spin")) { o->spin = true; continue; }
		if (!strcmp(k, "--help") || !strcmp(k, "-h")) { usage(stdout); exit(0); }
		if (!v) { fprintf(stderr, "loadgen: %s needs a value\n", k); return -1; }
		i++;
		if (!strcmp(k, "--url")) o->url = v;
		else if (!strcmp(k, "--proto")) {
			if (!strcmp(v, "webrtc2")) o->proto = PROTO_WEBRTC2;
			else if (!strcmp(v, "peerjs")) o->proto = PROTO_PEERJS;
			else bad = 1;
		}
		else if (!strcmp(k, "--conns")) bad = parse_u32(v, &o->conns);
		else if (!strcmp(k, "--pairs")) bad = parse_u32(v, &o->pairs);
		else if (!strcmp(k, "--rate")) bad = parse_double(v, &o->rate);
		else if (!strcmp(k, "--window")) bad = parse_u32(v, &o->window);
		else if (!strcmp(k, "--duration")) bad = parse_double(v, &o->duration_s);
		else if (!strcmp(k, "--warmup")) bad = parse_double(v, &o->warmup_s);
		else if (!strcmp(k, "--secret")) o->secret = v;
		else if (!strcmp(k, "--user-base")) bad = parse_u32(v, &o->user_base);
		else if (!strcmp(k, "--domain")) o->domain = v;
		else if (!strcmp(k, "--src-addrs")) o->src_addrs = v;
		else if (!strcmp(k, "--payload")) bad = parse_u32(v, &o->payload);
		else if (!strcmp(k, "--concurrency")) bad = parse_u32(v, &o->concurrency);
		else if (!strcmp(k, "--connect-timeout")) bad = parse_double(v, &o->connect_timeout_s);
		else if (!strcmp(k, "--ready-file")) o->ready_file = v;
		else if (!strcmp(k, "--peerjs-key")) o->peerjs_key = v;
		else if (!strcmp(k, "--label")) o->label = v;
		else { fprintf(stderr, "loadgen: unknown option %s\n", k); usage(stderr); return -1; }
		if (bad) { fprintf(stderr, "loadgen: bad value for %s: %s\n", k, v); return -1; }
	}
	if (!o->url)
		o->url = o->proto == PROTO_PEERJS ? "ws://127.0.0.1:9000/peerjs"
						  : "ws://127.0.0.1:8080/signal";
	if ((uint64_t)o->pairs * 2 > o->conns) {
		fprintf(stderr, "loadgen: --pairs %u needs at least %u --conns\n", o->pairs, o->pairs * 2);
		return -1;
	}
	if (o->proto == PROTO_WEBRTC2 && !o->secret) {
		fprintf(stderr, "loadgen: --proto webrtc2 needs --secret of at least %d bytes\n", W2_AUTH_MIN_SECRET);
		return -1;
	}
	if (o->payload > LG_MAX_PAYLOAD || o->concurrency == 0 || o->conns == 0) {
		fprintf(stderr, "loadgen: --payload <= %d, --concurrency and --conns > 0\n", LG_MAX_PAYLOAD);
		return -1;
	}
	if (o->rate == 0 && o->window == 0)
		o->window = 1;
	return 0;
}

/* ---------------------------------------------------------------- target */

struct target {
	bool tls;
	struct sockaddr_in addr;
	char hostport[128]; /* Host header */
	char path[512];
};

/* Accepts ws://HOST:PORT/PATH and wss://...; HOST numeric IPv4 or localhost. */
static int target_parse(struct target *t, const char *url)
{
	const char *p;
	memset(t, 0, sizeof(*t));
	if (!strncmp(url, "ws://", 5)) {
		p = url + 5;
	} else if (!strncmp(url, "wss://", 6)) {
		p = url + 6;
		t->tls = true;
	} else {
		return -1;
	}
	const char *slash = strchr(p, '/');
	size_t hp_len = slash ? (size_t)(slash - p) : strlen(p);
	if (hp_len == 0 || hp_len >= sizeof(t->hostport))
		return -1;
	memcpy(t->hostport, p, hp_len);
	snprintf(t->path, sizeof(t->path), "%s", slash ? slash : "/");

	char host[128];
	memcpy(host, p, hp_len);
	host[hp_len] = 0;
	unsigned port = t->tls ? 443 : 80;
	char *colon = strrchr(host, ':');
	if (colon) {
		*colon = 0;
		port = (unsigned)atoi(colon + 1);
	}
	if (!strcmp(host, "localhost"))
		strcpy(host, "127.0.0.1");
	t->addr.sin_family = AF_INET;
	t->addr.sin_port = htons((uint16_t)port);
	if (port == 0 || port > 65535 || inet_pton(AF_INET, host, &t->addr.sin_addr) != 1)
		return -1;
	return 0;
}

/* "127.0.0.2-127.0.0.40" or "127.0.0.2" -> list of addresses. */
static int src_addrs_parse(const char *spec, struct in_addr *out, unsigned *n_out)
{
	char a[64], b[64];
	const char *dash = strchr(spec, '-');
	if (dash) {
		size_t la = (size_t)(dash - spec);
		if (la >= sizeof(a) || strlen(dash + 1) >= sizeof(b))
			return -1;
		memcpy(a, spec, la);
		a[la] = 0;
		strcpy(b, dash + 1);
	} else {
		if (strlen(spec) >= sizeof(a))
			return -1;
		strcpy(a, spec);
		strcpy(b, spec);
	}
	struct in_addr lo, hi;
	if (inet_pton(AF_INET, a, &lo) != 1 || inet_pton(AF_INET, b, &hi) != 1)
		return -1;
	uint32_t l = ntohl(lo.s_addr), h = ntohl(hi.s_addr);
	if (h < l || h - l >= LG_MAX_SRC)
		return -1;
	for (uint32_t x = l; x <= h; x++)
		out[x - l].s_addr = htonl(x);
	*n_out = h - l + 1;
	return 0;
}

/* ---------------------------------------------------------------- state */

enum conn_state {
	ST_IDLE = 0,   /* not started */
	ST_TCP,        /* connect() in progress */
	ST_TLS,        /* TLS handshake */
	ST_UPGRADE,    /* HTTP upgrade sent, waiting for 101 */
	ST_AUTH,       /* waiting for welcome (hello sent) or PeerJS OPEN */
	ST_READY,
	ST_CLOSED,
};

struct buf {
	char *p;
	size_t len;
	size_t cap;
};

struct conn {
	int fd;
	uint8_t state;
	bool dirty;      /* on the flush list */
	bool want_out;   /* EPOLLOUT registered */
	SSL *ssl;
	uint32_t idx;
	uint32_t peer;   /* pair partner, or UINT32_MAX */
	int64_t t_start; /* connect() time */
	struct buf in;   /* unparsed bytes (partial frame or HTTP response) */
	struct buf out;  /* bytes not yet written */
	size_t out_off;
	struct buf frag; /* a fragmented message being reassembled */
	unsigned char ws_key[16];
};

struct errkind {
	char name[48];
	uint64_t n;
};

struct counters {
	uint64_t sent;
	uint64_t received;
	uint64_t skipped;    /* open loop: sender not ready or its queue full */
	struct hist lat;     /* ns */
};

struct lg {
	struct opts o;
	struct target t;
	struct in_addr src[LG_MAX_SRC];
	unsigned n_src, src_rr;
	SSL_CTX *ssl_ctx;
	struct rng rng;
	int ep;

	struct conn *conns;
	uint32_t *dirty;
	uint32_t n_dirty;

	uint32_t next_start;   /* next connection to open */
	uint32_t n_handshaking;
	uint32_t n_ready;
	uint32_t n_failed;
	uint32_t n_established_ever;
	uint32_t n_lost;       /* ready connections that closed later */
	int64_t t0, t_connected, t_traffic, t_measure, t_end;
	bool traffic, measuring;
	uint64_t rr;           /* open-loop round robin */
	uint64_t due_sent;     /* open-loop messages scheduled so far */
	int64_t max_send_lag_ns;

	struct counters c;
	struct hist connect_lat; /* ns from connect() to ready */
	struct errkind err[LG_MAX_ERRKINDS];
	unsigned n_err;
	uint64_t err_total;

	char *pad;             /* 'x' * payload */
	unsigned char *rbuf;
	double cpu_at_measure;
	double cpu_used;
};

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void err_count(struct lg *lg, const char *name)
{
	lg->err_total++;
	for (unsigned i = 0; i < lg->n_err; i++) {
		if (!strcmp(lg->err[i].name, name)) {
			lg->err[i].n++;
			return;
		}
	}
	if (lg->n_err == LG_MAX_ERRKINDS) {
		name = "other";
		for (unsigned i = 0; i < lg->n_err; i++)
			if (!strcmp(lg->err[i].name, name)) {
				lg->err[i].n++;
				return;
			}
		lg->n_err--; /* reuse the last slot for "other" */
	}
	snprintf(lg->err[lg->n_err].name, sizeof(lg->err[0].name), "%s", name);
	lg->err[lg->n_err].n = 1;
	lg->n_err++;
}

static int buf_reserve(struct buf *b, size_t extra)
{
	if (b->len + extra <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 512;
	while (cap < b->len + extra)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_append(struct buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len))
		return -1;
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static void buf_free(struct buf *b)
{
	free(b->p);
	*b = (struct buf){0};
}

/* ---------------------------------------------------------------- epoll */

static void conn_set_events(struct lg *lg, struct conn *c, bool want_out)
{
	if (c->want_out == want_out)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0u), .data.u32 = c->idx};
	if (epoll_ctl(lg->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = want_out;
}

static void mark_dirty(struct lg *lg, struct conn *c)
{
	if (!c->dirty) {
		c->dirty = true;
		lg->dirty[lg->n_dirty++] = c->idx;
	}
}

/* ---------------------------------------------------------------- close */

/* Closes c and counts why. Safe to call from inside its own callbacks: the
 * caller must stop touching c's buffers once state is ST_CLOSED. */
static void conn_fail(struct lg *lg, struct conn *c, const char *why)
{
	if (c->state == ST_CLOSED || c->state == ST_IDLE)
		return;
	err_count(lg, why);
	if (c->state == ST_READY) {
		lg->n_ready--;
		lg->n_lost++;
	} else {
		lg->n_handshaking--;
		lg->n_failed++;
	}
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0)
		close(c->fd); /* also removes it from the epoll set */
	c->fd = -1;
	c->state = ST_CLOSED;
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->frag);
	c->out_off = 0;
}

/* ---------------------------------------------------------------- framing */

/* Appends one masked client frame (RFC 6455 section 5.2) to c->out. */
static int ws_append_frame(struct lg *lg, struct conn *c, unsigned opcode, const char *data, size_t len)
{
	unsigned char hdr[14];
	size_t h = 0;
	hdr[h++] = (unsigned char)(0x80 | opcode); /* FIN */
	if (len < 126) {
		hdr[h++] = (unsigned char)(0x80 | len);
	} else if (len <= 0xffff) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	uint32_t key32 = (uint32_t)rng_next(&lg->rng);
	unsigned char key[4];
	memcpy(key, &key32, 4);
	memcpy(hdr + h, key, 4);
	h += 4;
	if (buf_reserve(&c->out, h + len))
		return -1;
	char *dst = c->out.p + c->out.len;
	memcpy(dst, hdr, h);
	dst += h;
	/* Mask 8 bytes at a time; the key repeats every 4 bytes. */
	uint64_t k8 = (uint64_t)key32 | ((uint64_t)key32 << 32);
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, data + i, 8);
		w ^= k8;
		memcpy(dst + i, &w, 8);
	}
	for (; i < len; i++)
		dst[i] = (char)(data[i] ^ key[i & 3]);
	c->out.len += h + len;
	mark_dirty(lg, c);
	return 0;
}

static size_t u64_to_dec(uint64_t v, char *out)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

static size_t append_str(char *dst, const char *s)
{
	size_t n = strlen(s);
	memcpy(dst, s, n);
	return n;
}

/* Sends one signal from c to its pair partner, stamped with the send time. */
static int send_signal(struct lg *lg, struct conn *c)
{
	char msg[LG_MAX_PAYLOAD + 512];
	char num[24];
	size_t n = 0;
	uint32_t to = lg->o.user_base + c->peer;
	int64_t t = now_ns();
	size_t tl = u64_to_dec((uint64_t)t, num);

	if (lg->o.proto == PROTO_WEBRTC2) {
		n += append_str(msg + n, "{\"type\":\"signal\",\"to\":\"u");
		n += u64_to_dec(to, msg + n);
		msg[n++] = '@';
		n += append_str(msg + n, lg->o.domain);
		n += append_str(msg + n, "\",\"data\":");
	} else {
		n += append_str(msg + n, "{\"type\":\"OFFER\",\"dst\":\"u");
		n += u64_to_dec(to, msg + n);
		n += append_str(msg + n, "\",\"payload\":");
	}
	/* data = {"t":<ns>,"p":"xxx..."}: 13 bytes of syntax + digits + pad. */
	size_t fixed = 13 + tl;
	size_t pad = lg->o.payload > fixed ? lg->o.payload - fixed : 0;
	n += append_str(msg + n, "{\"t\":");
	memcpy(msg + n, num, tl);
	n += tl;
	n += append_str(msg + n, ",\"p\":\"");
	memcpy(msg + n, lg->pad, pad);
	n += pad;
	n += append_str(msg + n, "\"}}");
	if (ws_append_frame(lg, c, 0x1, msg, n))
		return -1;
	if (lg->measuring)
		lg->c.sent++;
	return 0;
}

/* ---------------------------------------------------------------- tiny JSON peeks */

/* Finds the string value of the first "key" in a JSON text and copies it
 * (escapes not decoded, truncated to cap-1). Good enough for the server's
 * own envelopes; the payload we send has no "type" or "code" key. */
static bool json_peek_str(const char *s, size_t len, const char *key, char *out, size_t cap)
{
	char pat[32];
	int pl = snprintf(pat, sizeof(pat), "\"%s\"", key);
	const char *p = memmem(s, len, pat, (size_t)pl);
	if (!p)
		return false;
	const char *end = s + len;
	p += pl;
	while (p < end && (*p == ' ' || *p == ':' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	if (p >= end || *p != '"')
		return false;
	p++;
	size_t n = 0;
	while (p < end && *p != '"' && n + 1 < cap) {
		if (*p == '\\' && p + 1 < end)
			out[n++] = *p++;
		out[n++] = *p++;
		if (n + 1 >= cap)
			break;
	}
	out[n < cap ? n : cap - 1] = 0;
	return true;
}

/* Reads the send time out of a relayed signal's data: {"t":<ns>,...}. */
static bool parse_stamp(const char *s, size_t len, int64_t *t)
{
	const char *p = memmem(s, len, "{\"t\":", 5);
	if (!p)
		return false;
	p += 5;
	const char *end = s + len;
	int64_t v = 0;
	int digits = 0;
	while (p < end && *p >= '0' && *p <= '9' && digits < 19) {
		v = v * 10 + (*p++ - '0');
		digits++;
	}
	if (!digits)
		return false;
	*t = v;
	return true;
}

/* ---------------------------------------------------------------- messages */

static void conn_ready(struct lg *lg, struct conn *c)
{
	c->state = ST_READY;
	lg->n_handshaking--;
	lg->n_ready++;
	lg->n_established_ever++;
	hist_record(&lg->connect_lat, (uint64_t)(now_ns() - c->t_start));
}

static void on_relayed(struct lg *lg, struct conn *c, const char *s, size_t len)
{
	int64_t t;
	if (!parse_stamp(s, len, &t)) {
		err_count(lg, "unstamped-message");
		return;
	}
	int64_t now = now_ns();
	if (lg->measuring) {
		lg->c.received++;
		hist_record(&lg->c.lat, (uint64_t)(now > t ? now - t : 0));
	}
	/* Closed loop: answer with a new message so the window stays full. */
	if (lg->o.rate == 0 && lg->traffic && c->peer != UINT32_MAX)
		send_signal(lg, c);
}

static void on_server_error(struct lg *lg, struct conn *c, const char *s, size_t len, bool fatal)
{
	char code[40], name[48];
	if (!json_peek_str(s, len, lg->o.proto == PROTO_PEERJS ? "msg" : "code", code, sizeof(code)))
		strcpy(code, "?");
	snprintf(name, sizeof(name), "server:%s", code);
	if (fatal)
		conn_fail(lg, c, name);
	else
		err_count(lg, name);
}

static void on_text(struct lg *lg, struct conn *c, const char *s, size_t len)
{
	char type[24];
	if (!json_peek_str(s, len, "type", type, sizeof(type))) {
		err_count(lg, "untyped-message");
		return;
	}
	bool pj = lg->o.proto == PROTO_PEERJS;
	if (c->state == ST_AUTH) {
		if (!strcmp(type, pj ? "OPEN" : "welcome"))
			conn_ready(lg, c);
		else if (!strcmp(type, pj ? "ERROR" : "error") || !strcmp(type, "ID-TAKEN"))
			on_server_error(lg, c, s, len, true);
		else
			err_count(lg, "unexpected-before-ready");
		return;
	}
	if (!strcmp(type, pj ? "OFFER" : "signal"))
		on_relayed(lg, c, s, len);
	else if (!strcmp(type, pj ? "ERROR" : "error"))
		on_server_error(lg, c, s, len, false);
	else if (strcmp(type, "pong") && strcmp(type, "HEARTBEAT"))
		err_count(lg, pj ? "unexpected-peerjs-message" : "unexpected-message");
}

static void on_frame(struct lg *lg, struct conn *c, bool fin, unsigned op, const char *p, size_t len)
{
	switch (op) {
	case 0x0: /* continuation */
		if (c->frag.len == 0) {
			conn_fail(lg, c, "ws-bad-continuation");
			return;
		}
		if (buf_append(&c->frag, p, len)) {
			conn_fail(lg, c, "oom");
			return;
		}
		if (fin) {
			on_text(lg, c, c->frag.p + 1, c->frag.len - 1);
			if (c->state != ST_CLOSED)
				buf_free(&c->frag);
		}
		return;
	case 0x1:
	case 0x2:
		if (fin) {
			on_text(lg, c, p, len);
			return;
		}
		/* First fragment; byte 0 of frag marks that reassembly is running. */
		if (buf_append(&c->frag, "F", 1) || buf_append(&c->frag, p, len))
			conn_fail(lg, c, "oom");
		return;
	case 0x8: { /* close: record the code (RFC 6455 section 5.5.1) */
		char name[48];
		unsigned code = len >= 2 ? ((unsigned char)p[0] << 8 | (unsigned char)p[1]) : 1005;
		snprintf(name, sizeof(name), "closed-by-server:%u", code);
		conn_fail(lg, c, name);
		return;
	}
	case 0x9: /* ping -> pong with the same payload */
		ws_append_frame(lg, c, 0xA, p, len);
		return;
	case 0xA:
		return;
	default:
		conn_fail(lg, c, "ws-bad-opcode");
	}
}

/* Parses the server frames in buf; returns bytes consumed, or -1 if c closed. */
static long ws_parse(struct lg *lg, struct conn *c, const char *buf, size_t len)
{
	size_t off = 0;
	while (len - off >= 2) {
		const unsigned char *b = (const unsigned char *)buf + off;
		size_t avail = len - off, h = 2;
		uint64_t plen = b[1] & 0x7f;
		if (b[1] & 0x80) { /* servers must not mask (RFC 6455 section 5.1) */
			conn_fail(lg, c, "ws-masked-server-frame");
			return -1;
		}
		if (plen == 126) {
			if (avail < 4)
				break;
			plen = (uint64_t)b[2] << 8 | b[3];
			h = 4;
		} else if (plen == 127) {
			if (avail < 10)
				break;
			plen = 0;
			for (int i = 0; i < 8; i++)
				plen = plen << 8 | b[2 + i];
			h = 10;
		}
		if (plen > LG_MAX_MSG) {
			conn_fail(lg, c, "ws-frame-too-large");
			return -1;
		}
		if (avail - h < plen)
			break;
		on_frame(lg, c, b[0] & 0x80, b[0] & 0x0f, buf + off + h, (size_t)plen);
		if (c->state == ST_CLOSED)
			return -1;
		off += h + (size_t)plen;
	}
	return (long)off;
}

/* ---------------------------------------------------------------- handshake */

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static void ws_accept_for(const unsigned char key16[16], char *accept_out /* 29+ */)
{
	char key_b64[32], cat[80];
	unsigned char sha[SHA_DIGEST_LENGTH];
	EVP_EncodeBlock((unsigned char *)key_b64, key16, 16);
	int n = snprintf(cat, sizeof(cat), "%s%s", key_b64, WS_GUID);
	SHA1((unsigned char *)cat, (size_t)n, sha);
	EVP_EncodeBlock((unsigned char *)accept_out, sha, SHA_DIGEST_LENGTH);
}

static void send_upgrade(struct lg *lg, struct conn *c)
{
	char req[1024], key_b64[32], path[640];
	uint64_t r1 = rng_next(&lg->rng), r2 = rng_next(&lg->rng);
	memcpy(c->ws_key, &r1, 8);
	memcpy(c->ws_key + 8, &r2, 8);
	EVP_EncodeBlock((unsigned char *)key_b64, c->ws_key, 16);
	if (lg->o.proto == PROTO_PEERJS) {
		snprintf(path, sizeof(path), "%s%ckey=%s&id=u%u&token=%016" PRIx64, lg->t.path,
			 strchr(lg->t.path, '?') ? '&' : '?', lg->o.peerjs_key,
			 lg->o.user_base + c->idx, rng_next(&lg->rng));
	} else {
		snprintf(path, sizeof(path), "%s", lg->t.path);
	}
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
			 path, lg->t.hostport, key_b64);
	c->state = ST_UPGRADE;
	if (buf_append(&c->out, req, (size_t)n))
		conn_fail(lg, c, "oom");
	else
		mark_dirty(lg, c);
}

/* Mints the HS256 token of user u<n> with the project's own minting code,
 * valid for 6 hours (longer than any run). */
static char *mint_token(struct lg *lg, uint32_t user)
{
	char sub[32];
	char *tok = NULL;
	snprintf(sub, sizeof(sub), "u%u", user);
	if (w2_auth_mint_hs256((const unsigned char *)lg->o.secret, strlen(lg->o.secret), sub,
			       (int64_t)time(NULL) - 5, 6 * 3600, NULL, NULL, &tok))
		return NULL;
	return tok; /* freed with w2_free() */
}

static void send_hello(struct lg *lg, struct conn *c)
{
	char *tok = mint_token(lg, lg->o.user_base + c->idx);
	if (!tok) {
		conn_fail(lg, c, "token-mint-failed");
		return;
	}
	char msg[2048];
	int n = snprintf(msg, sizeof(msg), "{\"type\":\"hello\",\"v\":1,\"token\":\"%s\",\"device\":\"d\"}", tok);
	w2_free(tok);
	if (n <= 0 || (size_t)n >= sizeof(msg) || ws_append_frame(lg, c, 0x1, msg, (size_t)n))
		conn_fail(lg, c, "hello-too-large");
}

/* Checks the 101 response once its header is complete; returns the header
 * length, 0 if incomplete, -1 if c was closed. */
static long on_upgrade_response(struct lg *lg, struct conn *c)
{
	char *end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
	if (!end) {
		if (c->in.len > 16384)
			conn_fail(lg, c, "http-header-too-large");
		return c->state == ST_CLOSED ? -1 : 0;
	}
	size_t hlen = (size_t)(end - c->in.p) + 4;
	if (c->in.len < 12 || memcmp(c->in.p, "HTTP/1.1 101", 12)) {
		char name[48];
		snprintf(name, sizeof(name), "http-status:%.3s", c->in.len >= 12 ? c->in.p + 9 : "???");
		conn_fail(lg, c, name);
		return -1;
	}
	char want[40];
	ws_accept_for(c->ws_key, want);
	bool ok = false;
	for (char *line = c->in.p; line < end;) {
		char *eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
		if (!eol)
			break;
		if ((size_t)(eol - line) > 21 && !strncasecmp(line, "sec-websocket-accept:", 21)) {
			char *v = line + 21;
			while (*v == ' ')
				v++;
			ok = (size_t)(eol - v) == strlen(want) && !memcmp(v, want, strlen(want));
		}
		line = eol + 2;
	}
	if (!ok) {
		conn_fail(lg, c, "ws-bad-accept");
		return -1;
	}
	c->state = ST_AUTH;
	if (lg->o.proto == PROTO_WEBRTC2)
		send_hello(lg, c);
	return c->state == ST_CLOSED ? -1 : (long)hlen;
}

/* ---------------------------------------------------------------- input */

/* Feeds n received bytes to c. */
static void conn_feed(struct lg *lg, struct conn *c, const char *data, size_t n)
{
	if (c->state == ST_UPGRADE) {
		if (buf_append(&c->in, data, n)) {
			conn_fail(lg, c, "oom");
			return;
		}
		long h = on_upgrade_response(lg, c);
		if (h <= 0)
			return;
		memmove(c->in.p, c->in.p + h, c->in.len - (size_t)h);
		c->in.len -= (size_t)h;
		data = NULL;
		n = 0;
	}
	if (c->in.len == 0 && data) {
		/* Common case: parse straight from the read buffer. */
		long used = ws_parse(lg, c, data, n);
		if (used < 0)
			return;
		if ((size_t)used < n && buf_append(&c->in, data + used, n - (size_t)used))
			conn_fail(lg, c, "oom");
		return;
	}
	if (data && buf_append(&c->in, data, n)) {
		conn_fail(lg, c, "oom");
		return;
	}
	if (c->in.len == 0)
		return;
	long used = ws_parse(lg, c, c->in.p, c->in.len);
	if (used < 0)
		return;
	memmove(c->in.p, c->in.p + used, c->in.len - (size_t)used);
	c->in.len -= (size_t)used;
	/* Idle connections keep no buffers: memory per connection matters here. */
	if (c->in.len == 0 && c->peer == UINT32_MAX && c->state == ST_READY)
		buf_free(&c->in);
}

static void tls_step_handshake(struct lg *lg, struct conn *c)
{
	int r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		send_upgrade(lg, c);
		return;
	}
	int e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		conn_set_events(lg, c, false);
	else if (e == SSL_ERROR_WANT_WRITE)
		conn_set_events(lg, c, true);
	else {
		ERR_clear_error();
		conn_fail(lg, c, "tls-handshake-failed");
	}
}

static void conn_read(struct lg *lg, struct conn *c)
{
	/* Plain sockets: a few reads per wake-up keep the loop fair. TLS: read
	 * until OpenSSL wants more bytes, or records it already holds would wait
	 * for an epoll wake-up that never comes. */
	for (int i = 0; c->ssl || i < 8; i++) {
		if (c->state == ST_CLOSED)
			return;
		if (c->ssl) {
			int r = SSL_read(c->ssl, lg->rbuf, LG_RBUF);
			if (r > 0) {
				conn_feed(lg, c, (char *)lg->rbuf, (size_t)r);
				continue;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				return;
			if (e == SSL_ERROR_WANT_WRITE) {
				conn_set_events(lg, c, true);
				return;
			}
			ERR_clear_error();
			conn_fail(lg, c, e == SSL_ERROR_ZERO_RETURN ? "eof" : "tls-read-error");
			return;
		}
		ssize_t r = read(c->fd, lg->rbuf, LG_RBUF);
		if (r > 0) {
			conn_feed(lg, c, (char *)lg->rbuf, (size_t)r);
			if (r < LG_RBUF)
				return;
			continue;
		}
		if (r == 0) {
			conn_fail(lg, c, "eof");
			return;
		}
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_fail(lg, c, errno == ECONNRESET ? "reset" : "read-error");
		return;
	}
}

/* ---------------------------------------------------------------- output */

static void conn_flush(struct lg *lg, struct conn *c)
{
	while (c->state != ST_CLOSED && c->out_off < c->out.len) {
		size_t left = c->out.len - c->out_off;
		if (c->ssl) {
			int r = SSL_write(c->ssl, c->out.p + c->out_off, left > (1u << 30) ? 1 << 30 : (int)left);
			if (r > 0) {
				c->out_off += (size_t)r;
				continue;
			}
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
				conn_set_events(lg, c, e == SSL_ERROR_WANT_WRITE);
				return;
			}
			ERR_clear_error();
			conn_fail(lg, c, "tls-write-error");
			return;
		}
		ssize_t r = write(c->fd, c->out.p + c->out_off, left);
		if (r > 0) {
			c->out_off += (size_t)r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			conn_set_events(lg, c, true);
			return;
		}
		conn_fail(lg, c, errno == EPIPE || errno == ECONNRESET ? "reset" : "write-error");
		return;
	}
	if (c->state == ST_CLOSED)
		return;
	c->out.len = 0;
	c->out_off = 0;
	if (c->peer == UINT32_MAX && c->state == ST_READY)
		buf_free(&c->out); /* idle: give the memory back */
	conn_set_events(lg, c, false);
}

static void flush_dirty(struct lg *lg)
{
	/* Flushing can mark nothing new, so one pass empties the list. */
	for (uint32_t i = 0; i < lg->n_dirty; i++) {
		struct conn *c = &lg->conns[lg->dirty[i]];
		c->dirty = false;
		if (c->state != ST_CLOSED && c->state != ST_TCP && c->state != ST_TLS)
			conn_flush(lg, c);
	}
	lg->n_dirty = 0;
}

/* ---------------------------------------------------------------- connect */

static void conn_start(struct lg *lg, struct conn *c)
{
	int one = 1;
	c->t_start = now_ns();
	c->state = ST_TCP;
	lg->n_handshaking++;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_fail(lg, c, errno == EMFILE ? "socket-emfile" : "socket-error");
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (lg->n_src) {
		/* Delay the port choice to connect() so a port can be shared by
		 * different destinations, and spread over many source addresses to
		 * pass the ~28k ephemeral ports of one (address, destination). */
		struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = lg->src[lg->src_rr++ % lg->n_src]};
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
			conn_fail(lg, c, "bind-error");
			return;
		}
	}
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = c->idx};
	c->want_out = true;
	if (epoll_ctl(lg->ep, EPOLL_CTL_ADD, c->fd, &ev)) {
		conn_fail(lg, c, "epoll-error");
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&lg->t.addr, sizeof(lg->t.addr)) && errno != EINPROGRESS) {
		char name[48];
		snprintf(name, sizeof(name), "connect:%s", strerror(errno));
		conn_fail(lg, c, name);
	}
}

static void on_connected(struct lg *lg, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	if (err) {
		char name[48];
		snprintf(name, sizeof(name), "connect:%s", strerror(err));
		conn_fail(lg, c, name);
		return;
	}
	if (!lg->t.tls) {
		send_upgrade(lg, c);
		return;
	}
	c->ssl = SSL_new(lg->ssl_ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
		conn_fail(lg, c, "tls-setup");
		return;
	}
	SSL_set_connect_state(c->ssl);
	c->state = ST_TLS;
	tls_step_handshake(lg, c);
}

static void on_event(struct lg *lg, struct conn *c, uint32_t events)
{
	switch (c->state) {
	case ST_TCP:
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			on_connected(lg, c);
		return;
	case ST_TLS:
		tls_step_handshake(lg, c);
		return;
	case ST_CLOSED:
	case ST_IDLE:
		return;
	default:
		break;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		conn_read(lg, c);
	if (c->state != ST_CLOSED && (events & EPOLLOUT || c->out_off < c->out.len))
		mark_dirty(lg, c);
}

/* Times out handshakes that hang (a server that accepted but never answers). */
static void check_handshake_timeouts(struct lg *lg, int64_t now)
{
	for (uint32_t i = 0; i < lg->next_start; i++) {
		struct conn *c = &lg->conns[i];
		if (c->state >= ST_TCP && c->state <= ST_AUTH && now - c->t_start > LG_HS_TIMEOUT_NS)
			conn_fail(lg, c, "handshake-timeout");
	}
}

/* ---------------------------------------------------------------- traffic */

static void reset_measure(struct lg *lg)
{
	memset(&lg->c, 0, sizeof(lg->c));
	lg->measuring = true;
	lg->cpu_at_measure = cpu_seconds();
	lg->max_send_lag_ns = 0;
}

static void start_traffic(struct lg *lg, int64_t now)
{
	lg->traffic = true;
	lg->t_traffic = now;
	lg->t_measure = now + (int64_t)(lg->o.warmup_s * NS);
	lg->t_end = lg->t_measure + (int64_t)(lg->o.duration_s * NS);
	if (lg->o.warmup_s == 0)
		reset_measure(lg);
	if (lg->o.rate > 0)
		return;
	/* Closed loop: put --window messages into every pair, alternating sides. */
	for (uint32_t p = 0; p < lg->o.pairs; p++) {
		struct conn *a = &lg->conns[2 * p], *b = &lg->conns[2 * p + 1];
		if (a->state != ST_READY || b->state != ST_READY)
			continue;
		for (uint32_t w = 0; w < lg->o.window; w++)
			send_signal(lg, w & 1 ? b : a);
	}
}

/* Open loop: sends the messages due by now, round-robin over pairs and sides. */
static void pace(struct lg *lg, int64_t now)
{
	if (lg->o.pairs == 0)
		return;
	uint64_t due = (uint64_t)((double)(now - lg->t_traffic) * lg->o.rate / 1e9);
	if (due > lg->due_sent + 1) {
		int64_t lag = (int64_t)((double)(due - lg->due_sent - 1) * 1e9 / lg->o.rate);
		if (lag > lg->max_send_lag_ns)
			lg->max_send_lag_ns = lag;
	}
	for (; lg->due_sent < due; lg->due_sent++) {
		uint64_t k = lg->rr++;
		uint32_t p = (uint32_t)(k % lg->o.pairs);
		struct conn *a = &lg->conns[2 * p], *b = &lg->conns[2 * p + 1];
		struct conn *from = (k / lg->o.pairs) & 1 ? b : a;
		if (a->state != ST_READY || b->state != ST_READY || from->out.len > LG_OUT_CAP) {
			if (lg->measuring)
				lg->c.skipped++;
			continue;
		}
		send_signal(lg, from);
	}
}

/* ---------------------------------------------------------------- report */

static void print_json(struct lg *lg, FILE *f, double connect_s, double measured_s)
{
	const struct counters *k = &lg->c;
	fprintf(f, "{\"loadgen\":1,\"label\":\"%s\",\"proto\":\"%s\",\"tls\":%s,\"procs\":1,"
		   "\"conns_target\":%u,\"established\":%u,\"held\":%u,\"failed\":%u,\"lost\":%u,"
		   "\"connect_s\":%.3f,\"connect_rate\":%.1f,\"connect_p50_ms\":%.3f,\"connect_p99_ms\":%.3f,"
		   "\"pairs\":%u,\"rate_target\":%.0f,\"window\":%u,\"payload\":%u,\"measured_s\":%.3f,"
		   "\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"skipped\":%" PRIu64 ","
		   "\"msgs_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
		   "\"mean_us\":%.1f,\"max_send_lag_us\":%.1f,\"loadgen_cpu\":%.3f,\"errors_total\":%" PRIu64 ","
		   "\"errors\":{",
		lg->o.label, lg->o.proto == PROTO_PEERJS ? "peerjs" : "webrtc2", lg->t.tls ? "true" : "false",
		lg->o.conns, lg->n_established_ever, lg->n_ready, lg->n_failed, lg->n_lost, connect_s,
		connect_s > 0 ? lg->n_established_ever / connect_s : 0,
		hist_quantile(&lg->connect_lat, 0.5) / 1e6, hist_quantile(&lg->connect_lat, 0.99) / 1e6,
		lg->o.pairs, lg->o.rate, lg->o.window, lg->o.payload, measured_s, k->sent, k->received,
		k->skipped, measured_s > 0 ? k->received / measured_s : 0,
		hist_quantile(&k->lat, 0.5) / 1e3, hist_quantile(&k->lat, 0.99) / 1e3,
		hist_quantile(&k->lat, 0.999) / 1e3, k->lat.max / 1e3,
		k->lat.n ? k->lat.sum / k->lat.n / 1e3 : 0, lg->max_send_lag_ns / 1e3,
		measured_s > 0 ? lg->cpu_used / measured_s : 0, lg->err_total);
	for (unsigned i = 0; i < lg->n_err; i++)
		fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", lg->err[i].name, lg->err[i].n);
	fprintf(f, "},\"hist\":[");
	bool first = true;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		if (!k->lat.count[i])
			continue;
		fprintf(f, "%s[%u,%" PRIu64 "]", first ? "" : ",", i, k->lat.count[i]);
		first = false;
	}
	fprintf(f, "]}\n");
}

static void print_report(struct lg *lg, double connect_s, double measured_s)
{
	const struct counters *k = &lg->c;
	printf("loadgen %s %s%s: %u/%u connections established in %.2f s (%.0f/s; handshake p50 %.2f ms, p99 %.2f ms), %u held at the end, %u failed, %u lost\n",
	       lg->o.label, lg->o.proto == PROTO_PEERJS ? "peerjs" : "webrtc2", lg->t.tls ? " tls" : "",
	       lg->n_established_ever, lg->o.conns, connect_s,
	       connect_s > 0 ? lg->n_established_ever / connect_s : 0,
	       hist_quantile(&lg->connect_lat, 0.5) / 1e6, hist_quantile(&lg->connect_lat, 0.99) / 1e6,
	       lg->n_ready, lg->n_failed, lg->n_lost);
	if (lg->o.pairs)
		printf("relay: %u pairs, %s, payload %u B: %" PRIu64 " sent, %" PRIu64 " received in %.2f s = %.0f msg/s received; latency p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us; loadgen cpu %.0f%%\n",
		       lg->o.pairs, lg->o.rate > 0 ? "open loop" : "closed loop", lg->o.payload, k->sent,
		       k->received, measured_s, measured_s > 0 ? k->received / measured_s : 0,
		       hist_quantile(&k->lat, 0.5) / 1e3, hist_quantile(&k->lat, 0.99) / 1e3,
		       hist_quantile(&k->lat, 0.999) / 1e3, k->lat.max / 1e3,
		       measured_s > 0 ? 100 * lg->cpu_used / measured_s : 0);
	printf("errors: %" PRIu64, lg->err_total);
	for (unsigned i = 0; i < lg->n_err; i++)
		printf("%s %s=%" PRIu64, i ? "," : "", lg->err[i].name, lg->err[i].n);
	printf("\n");
	print_json(lg, stdout, connect_s, measured_s);
	fflush(stdout);
}

/* ---------------------------------------------------------------- merge */

/* Sums the last JSON line of each file (several loadgen processes). */
static int merge_results(int n, char **files)
{
	json_t *acc = NULL;
	struct hist *h = calloc(1, sizeof(*h));
	double max_us = 0, connect_s = 0, measured_s = 0, cpu = 0;
	uint64_t conns_hist_n = 0;
	double cp50 = 0, cp99 = 0;
	if (!h)
		return 1;
	for (int i = 0; i < n; i++) {
		FILE *f = fopen(files[i], "r");
		char *line = NULL, *last = NULL;
		size_t cap = 0;
		if (!f) {
			fprintf(stderr, "loadgen: cannot open %s\n", files[i]);
			continue;
		}
		while (getline(&line, &cap, f) > 0)
			if (!strncmp(line, "{\"loadgen\"", 10)) {
				free(last);
				last = strdup(line);
			}
		free(line);
		fclose(f);
		json_error_t je;
		json_t *j = last ? json_loads(last, 0, &je) : NULL;
		free(last);
		if (!j) {
			fprintf(stderr, "loadgen: no result line in %s\n", files[i]);
			continue;
		}
		if (!acc) {
			acc = json_deep_copy(j);
		} else {
			static const char *sum[] = {"conns_target", "established", "held", "failed", "lost",
						    "sent", "received", "skipped", "errors_total", "procs",
						    "pairs", "rate_target"};
			for (size_t s = 0; s < sizeof(sum) / sizeof(sum[0]); s++) {
				json_t *a = json_object_get(acc, sum[s]), *b = json_object_get(j, sum[s]);
				json_object_set_new(acc, sum[s],
					json_is_integer(a) && json_is_integer(b)
						? json_integer(json_integer_value(a) + json_integer_value(b))
						: json_real(json_number_value(a) + json_number_value(b)));
			}
			const char *key;
			json_t *v;
			json_t *errs = json_object_get(acc, "errors");
			json_object_foreach(json_object_get(j, "errors"), key, v)
				json_object_set_new(errs, key, json_integer(json_integer_value(json_object_get(errs, key)) +
									    json_integer_value(v)));
		}
		double cs = json_number_value(json_object_get(j, "connect_s"));
		double ms = json_number_value(json_object_get(j, "measured_s"));
		double mu = json_number_value(json_object_get(j, "max_us"));
		connect_s = cs > connect_s ? cs : connect_s;
		measured_s = ms > measured_s ? ms : measured_s;
		max_us = mu > max_us ? mu : max_us;
		cpu += json_number_value(json_object_get(j, "loadgen_cpu"));
		uint64_t est = (uint64_t)json_number_value(json_object_get(j, "established"));
		cp50 += json_number_value(json_object_get(j, "connect_p50_ms")) * (double)est;
		cp99 = fmax(cp99, json_number_value(json_object_get(j, "connect_p99_ms")));
		conns_hist_n += est;
		size_t idx;
		json_t *pair;
		json_array_foreach(json_object_get(j, "hist"), idx, pair) {
			unsigned b = (unsigned)json_integer_value(json_array_get(pair, 0));
			uint64_t cnt = (uint64_t)json_integer_value(json_array_get(pair, 1));
			if (b < HIST_BUCKETS) {
				h->count[b] += cnt;
				h->n += cnt;
				h->sum += (double)cnt * (double)hist_bucket_high(b);
			}
		}
		json_decref(j);
	}
	if (!acc) {
		free(h);
		return 1;
	}
	h->max = (uint64_t)(max_us * 1e3);
	double est = json_number_value(json_object_get(acc, "established"));
	double rcv = json_number_value(json_object_get(acc, "received"));
	json_object_set_new(acc, "connect_s", json_real(connect_s));
	json_object_set_new(acc, "connect_rate", json_real(connect_s > 0 ? est / connect_s : 0));
	json_object_set_new(acc, "connect_p50_ms", json_real(conns_hist_n ? cp50 / (double)conns_hist_n : 0));
	json_object_set_new(acc, "connect_p99_ms", json_real(cp99));
	json_object_set_new(acc, "measured_s", json_real(measured_s));
	json_object_set_new(acc, "msgs_per_s", json_real(measured_s > 0 ? rcv / measured_s : 0));
	json_object_set_new(acc, "p50_us", json_real(hist_quantile(h, 0.5) / 1e3));
	json_object_set_new(acc, "p99_us", json_real(hist_quantile(h, 0.99) / 1e3));
	json_object_set_new(acc, "p999_us", json_real(hist_quantile(h, 0.999) / 1e3));
	json_object_set_new(acc, "max_us", json_real(max_us));
	json_object_set_new(acc, "loadgen_cpu", json_real(cpu));
	json_object_del(acc, "hist");
	char *s = json_dumps(acc, JSON_COMPACT | JSON_REAL_PRECISION(10));
	printf("%s\n", s);
	free(s);
	json_decref(acc);
	free(h);
	return 0;
}

/* ---------------------------------------------------------------- main */

static volatile sig_atomic_t g_stop; /* the one global: set by the signal handler */

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int lg_init(struct lg *lg)
{
	rng_seed(&lg->rng);
	if (target_parse(&lg->t, lg->o.url)) {
		fprintf(stderr, "loadgen: bad --url %s (ws[s]://IPV4:PORT/PATH)\n", lg->o.url);
		return -1;
	}
	if (lg->o.src_addrs && src_addrs_parse(lg->o.src_addrs, lg->src, &lg->n_src)) {
		fprintf(stderr, "loadgen: bad --src-addrs %s\n", lg->o.src_addrs);
		return -1;
	}
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < (rlim_t)lg->o.conns + 16)
		fprintf(stderr, "loadgen: warning: RLIMIT_NOFILE %lu < %u connections + 16; run more processes\n",
			(unsigned long)rl.rlim_cur, lg->o.conns);
	if (lg->t.tls) {
		lg->ssl_ctx = SSL_CTX_new(TLS_client_method());
		if (!lg->ssl_ctx)
			return -1;
		SSL_CTX_set_verify(lg->ssl_ctx, SSL_VERIFY_NONE, NULL); /* self-signed bench cert */
		SSL_CTX_set_mode(lg->ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
					      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
		SSL_CTX_set_session_cache_mode(lg->ssl_ctx, SSL_SESS_CACHE_OFF); /* every client is new */
	}
	lg->ep = epoll_create1(EPOLL_CLOEXEC);
	lg->conns = calloc(lg->o.conns, sizeof(*lg->conns));
	lg->dirty = calloc(lg->o.conns, sizeof(*lg->dirty));
	lg->pad = malloc(lg->o.payload + 1);
	lg->rbuf = malloc(LG_RBUF);
	if (lg->ep < 0 || !lg->conns || !lg->dirty || !lg->pad || !lg->rbuf)
		return -1;
	memset(lg->pad, 'x', lg->o.payload);
	for (uint32_t i = 0; i < lg->o.conns; i++) {
		lg->conns[i].idx = i;
		lg->conns[i].fd = -1;
		lg->conns[i].peer = i < 2 * lg->o.pairs ? (i ^ 1u) : UINT32_MAX;
	}
	return 0;
}

static void lg_deinit(struct lg *lg)
{
	for (uint32_t i = 0; lg->conns && i < lg->o.conns; i++) {
		struct conn *c = &lg->conns[i];
		if (c->ssl)
			SSL_free(c->ssl);
		if (c->fd >= 0)
			close(c->fd);
		buf_free(&c->in);
		buf_free(&c->out);
		buf_free(&c->frag);
	}
	free(lg->conns);
	free(lg->dirty);
	free(lg->pad);
	free(lg->rbuf);
	if (lg->ssl_ctx)
		SSL_CTX_free(lg->ssl_ctx);
	if (lg->ep >= 0)
		close(lg->ep);
}

static void write_ready_file(struct lg *lg)
{
	if (!lg->o.ready_file)
		return;
	FILE *f = fopen(lg->o.ready_file, "w");
	if (f) {
		fprintf(f, "%u\n", lg->n_ready);
		fclose(f);
	}
}

static void progress(struct lg *lg, int64_t now, uint64_t *last_rx, int64_t *last_t)
{
	if (lg->o.quiet || now - *last_t < NS)
		return;
	double dt = (double)(now - *last_t) / 1e9;
	fprintf(stderr, "[loadgen %s %.0fs] ready %u handshaking %u failed %u lost %u | rx %.0f/s | errors %" PRIu64 "\n",
		lg->o.label, (double)(now - lg->t0) / 1e9, lg->n_ready, lg->n_handshaking, lg->n_failed,
		lg->n_lost, (double)(lg->c.received - *last_rx) / dt, lg->err_total);
	*last_rx = lg->c.received;
	*last_t = now;
}

/* Starts connections up to the concurrency limit; returns true when the
 * connect phase is over (all tried, none in progress, or timed out). */
static bool connect_phase(struct lg *lg, int64_t now)
{
	while (lg->n_handshaking < lg->o.concurrency && lg->next_start < lg->o.conns)
		conn_start(lg, &lg->conns[lg->next_start++]);
	bool done = lg->next_start == lg->o.conns && lg->n_handshaking == 0;
	if (!done && now - lg->t0 > (int64_t)(lg->o.connect_timeout_s * NS)) {
		for (uint32_t i = 0; i < lg->next_start; i++)
			if (lg->conns[i].state >= ST_TCP && lg->conns[i].state <= ST_AUTH)
				conn_fail(lg, &lg->conns[i], "connect-phase-timeout");
		lg->next_start = lg->o.conns; /* never started: counted as not established */
		done = true;
	}
	return done;
}

static int run(struct lg *lg)
{
	struct epoll_event evs[1024];
	int64_t last_hs_check = 0, last_prog = 0;
	uint64_t last_rx = 0;
	double connect_s = 0, measured_s = 0;
	bool measured_done = false;

	lg->t0 = now_ns();
	last_prog = lg->t0;
	while (!g_stop) {
		int64_t now = now_ns();
		if (!lg->traffic) {
			if (now - last_hs_check > NS / 10) {
				check_handshake_timeouts(lg, now);
				last_hs_check = now;
			}
			if (connect_phase(lg, now)) {
				lg->t_connected = now;
				connect_s = (double)(now - lg->t0) / 1e9;
				write_ready_file(lg);
				start_traffic(lg, now);
			}
		} else {
			if (!lg->measuring && now >= lg->t_measure)
				reset_measure(lg);
			if (now >= lg->t_end) {
				measured_s = (double)(now - lg->t_measure) / 1e9;
				lg->cpu_used = cpu_seconds() - lg->cpu_at_measure;
				measured_done = true;
				break;
			}
			if (lg->o.rate > 0)
				pace(lg, now);
		}
		flush_dirty(lg);
		progress(lg, now, &last_rx, &last_prog);

		struct timespec tmo = {0, 100 * 1000 * 1000};
		if (lg->traffic && lg->o.spin)
			tmo.tv_nsec = 0;
		else if (lg->traffic && lg->o.rate > 0)
			tmo.tv_nsec = LG_TICK_NS;
		else if (!lg->traffic)
			tmo.tv_nsec = 5 * 1000 * 1000;
		int n = epoll_pwait2(lg->ep, evs, 1024, &tmo, NULL);
		if (n < 0 && errno != EINTR) {
			perror("epoll_pwait2");
			return 1;
		}
		for (int i = 0; i < n; i++)
			on_event(lg, &lg->conns[evs[i].data.u32], evs[i].events);
	}
	if (!measured_done) {
		/* Interrupted: report what there is. */
		if (!lg->traffic)
			connect_s = (double)(now_ns() - lg->t0) / 1e9;
		if (lg->measuring) {
			measured_s = (double)(now_ns() - lg->t_measure) / 1e9;
			lg->cpu_used = cpu_seconds() - lg->cpu_at_measure;
		}
	}
	lg->measuring = false;
	print_report(lg, connect_s, measured_s);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "--merge"))
		return merge_results(argc - 2, argv + 2);

	static struct lg lg; /* large (histograms); static keeps it off the stack */
	if (opts_parse(&lg.o, argc, argv))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	raise_nofile();
	lg.ep = -1;
	int rc = 2;
	if (lg_init(&lg) == 0)
		rc = run(&lg);
	else
		fprintf(stderr, "loadgen: initialisation failed\n");
	lg_deinit(&lg);
	return rc;
}
