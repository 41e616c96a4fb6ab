/* Fuzz target for src/turn/: one engine per input, driven by a sequence of
 * events cut from the input, with fake I/O ops and a fake clock.
 *
 * Input: events of `kind` (1 byte), `n` (2 bytes, big-endian), then for
 * kinds that carry bytes, n bytes (fewer at the end of the input):
 *   kind & 7 = 0  client datagram (UDP)
 *              1  client stream bytes (TCP), cut by w2_stun_stream_frame_len
 *              2  datagram from a peer to the newest live allocation
 *              3  clock advances by n * 10 ms (no bytes)
 *              4  client STUN request over UDP, signed by the harness
 *              5  the same over TCP
 *              6  the TCP connection closes (no bytes)
 *              7  bookkeeping (no bytes)
 *   (kind >> 3) & 3 picks one of four client addresses or peer addresses.
 * "Signed" appends USERNAME (a REST credential for the fixed secret),
 * REALM, the last NONCE the engine handed out and MESSAGE-INTEGRITY, so
 * the fuzzer reaches the authenticated paths despite the engine's random
 * nonce key (tests/fuzz/gen_turn_corpus.py writes seeds in this format).
 *
 * Checked: every message sent to a client is well-formed STUN or
 * ChannelData; relay sockets are closed exactly once; the allocation gauge
 * equals the live relays. Any violation abort()s. */
#include "core/cidr.h"
#include "core/error.h"
#include "stun/stun.h"
#include "turn/turn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_SECRET "fuzz-secret"
#define FUZZ_REALM "fuzz.example"
#define FUZZ_NOW0 1700000000000ull
#define FUZZ_EXPIRY 1900000000 /* the REST credential outlives any run */
#define MAX_RELAYS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct harness {
	struct w2_turn *t;
	struct w2_turn_alloc *allocs[MAX_RELAYS];
	bool live[MAX_RELAYS];
	size_t n_relays;
	size_t n_live;
	char user[W2_TURN_REST_USER_MAX];
	char pass[W2_TURN_REST_PASS_MAX];
	uint8_t nonce[128];
	size_t nonce_len;
	uint64_t now;
};

static void check_sent(struct harness *h, const uint8_t *buf, size_t len)
{
	struct w2_stun_msg m;
	const struct w2_stun_attr *n;
	uint16_t ch;
	const uint8_t *d;
	size_t dl;

	if (w2_stun_is_channeldata(buf, len)) {
		if (w2_turn_channeldata_parse(buf, len, &ch, &d, &dl) != 0)
			abort();
		return;
	}
	if (w2_stun_parse(buf, len, &m) != 0)
		abort();
	n = w2_stun_find(&m, W2_STUN_A_NONCE);
	if (n && n->len <= sizeof(h->nonce)) {
		memcpy(h->nonce, w2_stun_attr_value(&m, n), n->len);
		h->nonce_len = n->len;
	}
}

static void fz_send(void *io, const struct w2_turn_client *c, const uint8_t *buf, size_t len)
{
	(void)c;
	check_sent(io, buf, len);
}

static void *fz_relay_open(void *io, struct w2_turn_alloc *a, int family,
			   struct sockaddr_storage *relayed, int *err)
{
	struct harness *h = io;
	size_t i = h->n_relays;

	if (i == MAX_RELAYS) {
		*err = W2_ELIMIT;
		return NULL;
	}
	memset(relayed, 0, sizeof(*relayed));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)relayed;

		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, "2001:db8::1", &s6->sin6_addr);
		s6->sin6_port = htons((uint16_t)(50000 + i));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)relayed;

		s4->sin_family = AF_INET;
		inet_pton(AF_INET, "192.0.2.1", &s4->sin_addr);
		s4->sin_port = htons((uint16_t)(50000 + i));
	}
	h->allocs[i] = a;
	h->live[i] = true;
	h->n_relays++;
	h->n_live++;
	return (void *)(uintptr_t)(i + 1);
}

static void fz_relay_send(void *io, void *relay, const struct sockaddr *peer, const uint8_t *buf,
			  size_t len)
{
	struct harness *h = io;
	uintptr_t i = (uintptr_t)relay - 1;
	volatile uint8_t sink = 0;

	if (i >= h->n_relays || !h->live[i] || !peer)
		abort();
	for (size_t k = 0; k < len; k++)
		sink ^= buf[k]; /* the bytes must be readable */
	(void)sink;
}

static void fz_relay_close(void *io, void *relay)
{
	struct harness *h = io;
	uintptr_t i = (uintptr_t)relay - 1;

	if (i >= h->n_relays || !h->live[i])
		abort();
	h->live[i] = false;
	h->n_live--;
}

static const struct w2_turn_ops fz_ops = {
	.send_to_client = fz_send,
	.relay_open = fz_relay_open,
	.relay_send = fz_relay_send,
	.relay_close = fz_relay_close,
};

static void set_v4(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s4->sin_family = AF_INET;
	inet_pton(AF_INET, ip, &s4->sin_addr);
	s4->sin_port = htons(port);
}

static void client_for(unsigned idx, bool tcp, struct w2_turn_client *c)
{
	static const char *const ips[4] = {"203.0.113.5", "203.0.113.5", "203.0.113.6",
					   "198.51.100.200"};

	memset(c, 0, sizeof(*c));
	c->transport = tcp ? W2_TURN_TCP : W2_TURN_UDP;
	c->conn = (void *)(uintptr_t)(tcp ? 0x200 + idx : 0x100);
	set_v4(&c->addr, ips[idx], (uint16_t)(40000 + idx));
}

static void peer_for(unsigned idx, struct sockaddr_storage *ss)
{
	static const char *const ips[4] = {"198.51.100.7", "198.51.100.7", "127.0.0.1",
					   "10.0.0.1"};

	set_v4(ss, ips[idx], (uint16_t)(idx == 1 ? 5001 : 5000));
}

/* Appends the long-term credential to a request body and hands it over. */
static void signed_request(struct harness *h, const struct w2_turn_client *c, const uint8_t *p,
			   size_t n)
{
	static uint8_t buf[4096];
	struct w2_stun_writer w;
	uint8_t key[32];
	size_t key_len, len;

	if (n < 20 || n > 2048 || (n & 3) != 0)
		return;
	memcpy(buf, p, n);
	w.buf = buf;
	w.cap = sizeof(buf);
	w.len = n;
	w.err = 0;
	w2_stun_put(&w, W2_STUN_A_USERNAME, h->user, strlen(h->user));
	w2_stun_put(&w, W2_STUN_A_REALM, FUZZ_REALM, strlen(FUZZ_REALM));
	w2_stun_put(&w, W2_STUN_A_NONCE, h->nonce, h->nonce_len);
	if (w2_stun_long_term_key(W2_STUN_PW_MD5, h->user, strlen(h->user), FUZZ_REALM,
				  strlen(FUZZ_REALM), h->pass, strlen(h->pass), key, &key_len) != 0)
		abort();
	w2_stun_put_integrity(&w, key, key_len);
	if (w2_stun_writer_finish(&w, &len) == 0)
		w2_turn_handle_client(h->t, c, buf, len, h->now);
}

static void stream_bytes(struct harness *h, const struct w2_turn_client *c, const uint8_t *p,
			 size_t n)
{
	long f;

	while (n > 0 && (f = w2_stun_stream_frame_len(p, n)) > 0) {
		w2_turn_handle_client(h->t, c, p, (size_t)f, h->now);
		p += f;
		n -= (size_t)f;
	}
}

static void peer_datagram(struct harness *h, unsigned idx, const uint8_t *p, size_t n)
{
	static uint8_t buf[W2_TURN_PEER_HEADROOM + W2_TURN_MAX_DATAGRAM + W2_TURN_PEER_TAILROOM];
	struct sockaddr_storage peer;

	for (size_t i = h->n_relays; i-- > 0;) {
		if (!h->live[i])
			continue;
		peer_for(idx, &peer);
		memcpy(buf + W2_TURN_PEER_HEADROOM, p, n);
		w2_turn_handle_peer(h->t, h->allocs[i], (const struct sockaddr *)&peer,
				    buf + W2_TURN_PEER_HEADROOM, n, h->now);
		return;
	}
}

static void run_event(struct harness *h, uint8_t kind, uint16_t arg, const uint8_t *p, size_t n)
{
	struct w2_turn_client c;
	unsigned idx = (kind >> 3) & 3;

	switch (kind & 7) {
	case 0:
	case 4:
		client_for(idx, false, &c);
		if ((kind & 7) == 0)
			w2_turn_handle_client(h->t, &c, p, n, h->now);
		else
			signed_request(h, &c, p, n);
		break;
	case 1:
	case 5:
		client_for(idx, true, &c);
		if ((kind & 7) == 1)
			stream_bytes(h, &c, p, n);
		else
			signed_request(h, &c, p, n);
		break;
	case 2:
		peer_datagram(h, idx, p, n);
		break;
	case 3:
		h->now += (uint64_t)arg * 10;
		break;
	case 6:
		w2_turn_handle_closed(h->t, (void *)(uintptr_t)(0x200 + idx));
		break;
	default:
		if (w2_turn_bookkeeping(h->t, h->now) > 1000)
			abort();
		break;
	}
}

static bool carries_bytes(uint8_t kind)
{
	uint8_t k = kind & 7;

	return k != 3 && k != 6 && k != 7;
}

static void settings(struct w2_turn_settings *cfg, struct w2_cidr *allowed)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->enabled = true;
	cfg->realm = FUZZ_REALM;
	cfg->secret = (unsigned char *)FUZZ_SECRET;
	cfg->secret_len = strlen(FUZZ_SECRET);
	cfg->min_port = 49152;
	cfg->max_port = 49200;
	cfg->max_allocations = 8;
	cfg->max_allocations_per_user = 4;
	cfg->max_permissions = 4;
	cfg->max_channels = 4;
	cfg->max_lifetime_s = 3600;
	cfg->bandwidth_bytes_per_s = 100000;
	cfg->unauth_requests_per_s = 50;
	if (w2_cidr_parse("127.0.0.0/8", 11, allowed) == 0) {
		cfg->allowed_peers = allowed;
		cfg->n_allowed_peers = 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct harness h;
	struct w2_turn_settings cfg;
	struct w2_cidr allowed;
	struct sockaddr_storage self[1];
	size_t off = 0;

	memset(&h, 0, sizeof(h));
	h.now = FUZZ_NOW0;
	settings(&cfg, &allowed);
	set_v4(&self[0], "127.0.0.1", 3478);
	if (w2_turn_rest_credential((const uint8_t *)FUZZ_SECRET, strlen(FUZZ_SECRET), "fuzz",
				    FUZZ_EXPIRY, h.user, h.pass) != 0 ||
	    w2_turn_create(&h.t, &cfg, &fz_ops, &h, self, 1) != 0)
		abort();
	while (off + 3 <= size) {
		uint8_t kind = data[off];
		uint16_t arg = (uint16_t)(data[off + 1] << 8 | data[off + 2]);
		size_t n = 0;

		off += 3;
		if (carries_bytes(kind)) {
			n = arg < size - off ? arg : size - off;
		}
		run_event(&h, kind, arg, data + off, n);
		off += n;
	}
	if (w2_turn_stats(h.t)->allocations != h.n_live)
		abort();
	w2_turn_destroy(h.t);
	if (h.n_live != 0)
		abort();
	return 0;
}
