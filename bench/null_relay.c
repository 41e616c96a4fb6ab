/* null_relay: the floor of the signaling benchmark.
 *
 * The cheapest relay that still does the same work on the wire as webrtc2d:
 * one epoll loop, non-blocking sockets, the HTTP upgrade, unmasking client
 * frames, `hello` -> `welcome`, and `signal` -> the same
 * {"type":"signal","from":...,"fromDevice":...,"data":<bytes>} to the
 * receiver, writes batched once per loop iteration. It validates nothing,
 * verifies no token (it reads "sub" from the JWT payload unchecked), has no
 * limits and no TLS, and must never face a network: it exists only so that
 * bench/run.sh can show what the machine, the kernel and the load generator
 * cost by themselves, i.e. which part of a server's figures is the server's.
 *
 * Usage: null_relay [--port 8082]
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define NR_MAX_FD 65536
#define NR_MAX_USER (1u << 24)
#define NR_MAX_IN (1u << 20)  /* unparsed bytes per connection */
#define NR_MAX_OUT (8u << 20) /* queued bytes per connection: then dropped */
#define NR_MSG_MAX 65536

struct nr_buf {
	char *p;
	size_t len, cap;
};

struct nr_conn {
	struct nr_buf in, out;
	size_t out_off;
	bool open;      /* a socket lives on this fd */
	bool ws;        /* upgrade done */
	bool dirty;
	bool want_out;
	int32_t user;   /* -1 before hello */
};

struct nr {
	int ep;
	struct nr_conn *c;   /* by fd */
	int32_t *by_user;    /* user number -> fd + 1 */
	int *dirty;
	int n_dirty;
	char rbuf[1 << 18];
};

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int buf_put(struct nr_buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return -1;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
	return 0;
}

static void conn_close(struct nr *r, int fd)
{
	struct nr_conn *c = &r->c[fd];
	if (c->user >= 0 && r->by_user[c->user] == fd + 1)
		r->by_user[c->user] = 0;
	free(c->in.p);
	free(c->out.p);
	memset(c, 0, sizeof(*c));
	close(fd);
}

/* Queues an unmasked server text frame (RFC 6455 section 5.2). */
static void send_text(struct nr *r, int fd, const char *const *parts, const size_t *lens, int n)
{
	struct nr_conn *c = &r->c[fd];
	size_t len = 0;
	unsigned char h[4];
	size_t hl = 2;
	for (int i = 0; i < n; i++)
		len += lens[i];
	if (c->out.len + len > NR_MAX_OUT)
		return; /* a reader this slow loses messages; the floor has no 4003 */
	h[0] = 0x81;
	if (len < 126) {
		h[1] = (unsigned char)len;
	} else {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		hl = 4;
	}
	buf_put(&c->out, h, hl);
	for (int i = 0; i < n; i++)
		buf_put(&c->out, parts[i], lens[i]);
	if (!c->dirty) {
		c->dirty = true;
		r->dirty[r->n_dirty++] = fd;
	}
}

static long b64url_decode(const char *in, size_t len, char *out, size_t cap)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < len && n + 1 < cap; i++) {
		char ch = in[i];
		int v = ch >= 'A' && ch <= 'Z' ? ch - 'A' : ch >= 'a' && ch <= 'z' ? ch - 'a' + 26
			: ch >= '0' && ch <= '9' ? ch - '0' + 52 : ch == '-' ? 62 : ch == '_' ? 63 : -1;
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (char)(acc >> bits);
		}
	}
	out[n] = 0;
	return (long)n;
}

/* hello: the user number from the token's "sub":"u<N>", unverified. */
static void on_hello(struct nr *r, int fd, const char *m, size_t n)
{
	char payload[2048], msg[160];
	const char *t = memmem(m, n, "\"token\":\"", 9);
	const char *d1 = t ? memchr(t + 9, '.', n - (size_t)(t + 9 - m)) : NULL;
	const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - m)) : NULL;
	const char *sub;
	if (!d2 || b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), payload, sizeof(payload)) < 0 ||
	    !(sub = strstr(payload, "\"sub\":\"u")))
		return;
	long u = strtol(sub + 8, NULL, 10);
	if (u < 0 || u >= (long)NR_MAX_USER)
		return;
	r->c[fd].user = (int32_t)u;
	r->by_user[u] = fd + 1;
	int l = snprintf(msg, sizeof(msg), "{\"type\":\"welcome\",\"v\":1,\"peer\":\"u%ld@localhost\",\"device\":\"d\"}", u);
	const char *parts[1] = {msg};
	size_t lens[1] = {(size_t)l};
	send_text(r, fd, parts, lens, 1);
}

/* signal: to "u<N>@...", data copied through (it is the last field). */
static void on_signal_msg(struct nr *r, int fd, const char *m, size_t n)
{
	const char *to = memmem(m, n, "\"to\":\"u", 7);
	const char *data = memmem(m, n, "\"data\":", 7);
	if (!to || !data || r->c[fd].user < 0)
		return;
	long u = strtol(to + 7, NULL, 10);
	if (u < 0 || u >= (long)NR_MAX_USER || !r->by_user[u])
		return;
	char head[96];
	int hl = snprintf(head, sizeof(head), "{\"type\":\"signal\",\"from\":\"u%d@localhost\",\"fromDevice\":\"d\",\"data\":",
			  r->c[fd].user);
	const char *parts[3] = {head, data + 7, "}"};
	size_t lens[3] = {(size_t)hl, (size_t)(m + n - (data + 7) - 1), 1};
	send_text(r, r->by_user[u] - 1, parts, lens, 3);
}

/* Parses masked client frames; returns bytes used. */
static size_t on_frames(struct nr *r, int fd, unsigned char *b, size_t n)
{
	size_t off = 0;
	while (n - off >= 6) {
		size_t len = b[off + 1] & 0x7f, h = 2;
		if (len == 126) {
			if (n - off < 8)
				break;
			len = (size_t)b[off + 2] << 8 | b[off + 3];
			h = 4;
		} else if (len == 127) {
			len = NR_MSG_MAX + 1;
		}
		if (len > NR_MSG_MAX)
			return (size_t)-1;
		if (n - off < h + 4 + len)
			break;
		unsigned char *key = b + off + h, *p = key + 4;
		for (size_t i = 0; i < len; i++)
			p[i] ^= key[i & 3];
		unsigned op = b[off] & 0x0f;
		if (op == 0x8)
			return (size_t)-1;
		if (op == 0x1 && len > 16 && !memcmp(p, "{\"type\":\"signal\"", 16))
			on_signal_msg(r, fd, (char *)p, len);
		else if (op == 0x1 && len > 15 && !memcmp(p, "{\"type\":\"hello\"", 15))
			on_hello(r, fd, (char *)p, len);
		off += h + 4 + len;
	}
	return off;
}

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* The HTTP upgrade: returns the request length, 0 if incomplete, -1 if bad. */
static long on_upgrade(struct nr *r, int fd)
{
	struct nr_conn *c = &r->c[fd];
	char *end = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
	if (!end)
		return c->in.len > 16384 ? -1 : 0;
	*end = 0;
	char *k = strcasestr(c->in.p, "\r\nSec-WebSocket-Key:");
	if (!k)
		return -1;
	k += 20;
	while (*k == ' ')
		k++;
	size_t kl = strcspn(k, "\r");
	char cat[128], accept[64], resp[256];
	unsigned char sha[SHA_DIGEST_LENGTH];
	int cl = snprintf(cat, sizeof(cat), "%.*s%s", (int)(kl < 64 ? kl : 64), k, WS_GUID);
	SHA1((unsigned char *)cat, (size_t)cl, sha);
	EVP_EncodeBlock((unsigned char *)accept, sha, SHA_DIGEST_LENGTH);
	int rl = snprintf(resp, sizeof(resp),
			  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			  "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
	buf_put(&c->out, resp, (size_t)rl);
	if (!c->dirty) {
		c->dirty = true;
		r->dirty[r->n_dirty++] = fd;
	}
	c->ws = true;
	return (long)(end + 4 - c->in.p);
}

static void on_readable(struct nr *r, int fd)
{
	struct nr_conn *c = &r->c[fd];
	ssize_t got = read(fd, r->rbuf, sizeof(r->rbuf));
	if (got <= 0) {
		if (got == 0 || (errno != EAGAIN && errno != EINTR))
			conn_close(r, fd);
		return;
	}
	if (c->in.len + (size_t)got > NR_MAX_IN || buf_put(&c->in, r->rbuf, (size_t)got)) {
		conn_close(r, fd);
		return;
	}
	if (!c->ws) {
		long h = on_upgrade(r, fd);
		if (h < 0) {
			conn_close(r, fd);
			return;
		}
		memmove(c->in.p, c->in.p + h, c->in.len - (size_t)h);
		c->in.len -= (size_t)h;
		if (!c->ws)
			return;
	}
	size_t used = on_frames(r, fd, (unsigned char *)c->in.p, c->in.len);
	if (used == (size_t)-1) {
		conn_close(r, fd);
		return;
	}
	memmove(c->in.p, c->in.p + used, c->in.len - used);
	c->in.len -= used;
}

static void set_want_out(struct nr *r, int fd, bool want)
{
	struct nr_conn *c = &r->c[fd];
	if (c->want_out == want)
		return;
	struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0u), .data.fd = fd};
	epoll_ctl(r->ep, EPOLL_CTL_MOD, fd, &ev);
	c->want_out = want;
}

/* One write per dirty connection per loop iteration. */
static void flush(struct nr *r)
{
	for (int i = 0; i < r->n_dirty; i++) {
		int fd = r->dirty[i];
		struct nr_conn *c = &r->c[fd];
		c->dirty = false;
		if (!c->open || c->out_off == c->out.len)
			continue;
		ssize_t w = write(fd, c->out.p + c->out_off, c->out.len - c->out_off);
		if (w > 0)
			c->out_off += (size_t)w;
		if (c->out_off == c->out.len) {
			c->out_off = c->out.len = 0;
			set_want_out(r, fd, false);
		} else if (w >= 0 || errno == EAGAIN) {
			set_want_out(r, fd, true);
		}
	}
	r->n_dirty = 0;
}

static void on_accept(struct nr *r, int ls)
{
	int one = 1, fd;
	while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (fd >= NR_MAX_FD) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		memset(&r->c[fd], 0, sizeof(r->c[fd]));
		r->c[fd].open = true;
		r->c[fd].user = -1;
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
		epoll_ctl(r->ep, EPOLL_CTL_ADD, fd, &ev);
	}
}

int main(int argc, char **argv)
{
	static struct nr r;
	int port = argc == 3 && !strcmp(argv[1], "--port") ? atoi(argv[2]) : 8082;
	int one = 1;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	r.c = calloc(NR_MAX_FD, sizeof(*r.c));
	r.by_user = calloc(NR_MAX_USER, sizeof(*r.by_user));
	r.dirty = calloc(NR_MAX_FD, sizeof(*r.dirty));
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!r.c || !r.by_user || !r.dirty || ls < 0 || r.ep < 0 ||
	    bind(ls, (struct sockaddr *)&a, sizeof(a)) || listen(ls, 4096)) {
		perror("null_relay");
		return 1;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
	epoll_ctl(r.ep, EPOLL_CTL_ADD, ls, &ev);
	printf("null_relay: listening on 127.0.0.1:%d pid %d\n", port, (int)getpid());
	fflush(stdout);

	struct epoll_event evs[1024];
	while (!g_stop) {
		flush(&r);
		int n = epoll_wait(r.ep, evs, 1024, 200);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ls)
				on_accept(&r, ls);
			else if (r.c[fd].open && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				on_readable(&r, fd);
			if (fd != ls && r.c[fd].open && (evs[i].events & EPOLLOUT) && !r.c[fd].dirty) {
				r.c[fd].dirty = true;
				r.dirty[r.n_dirty++] = fd;
			}
		}
	}
	for (int fd = 0; fd < NR_MAX_FD; fd++)
		if (r.c[fd].open)
			conn_close(&r, fd);
	free(r.c);
	free(r.by_user);
	free(r.dirty);
	close(ls);
	close(r.ep);
	return 0;
}
