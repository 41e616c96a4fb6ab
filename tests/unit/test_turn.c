/* Unit tests of src/turn/: the STUN/TURN engine driven through fake I/O ops
 * (sent messages recorded, relay sockets with fake ports, relay_open
 * failure on demand) and a fake clock. Requests are built and responses
 * checked with the STUN codec (src/stun/). */
#include "core/alloc.h"
#include "core/cidr.h"
#include "core/error.h"
#include "stun/stun.h"
#include "turn/turn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW0 1700000000000ull /* wall clock, ms: REST expiries are Unix time */
#define REALM "example.org"
#define SECRET "s3cret"
#define MAX_SENT 64
#define RELAY_PORT0 50000
/* REQUESTED-TRANSPORT values: protocol in the first byte, 3 bytes RFFU. */
#define PROTO_UDP_WORD (17u << 24)
#define PROTO_TCP_WORD (6u << 24)

/* ---- fake I/O ------------------------------------------------------------ */

struct sent {
	struct w2_turn_client c;
	uint8_t buf[70000];
	size_t len;
};

struct relayed {
	void *relay;
	struct sockaddr_storage peer;
	const uint8_t *ptr;
	size_t len;
};

struct fake {
	struct sent sent[MAX_SENT];
	size_t n_sent;
	struct relayed relayed[MAX_SENT];
	size_t n_relayed;
	int open_err; /* relay_open fails with this when non-zero */
	int n_open, n_close;
	struct w2_turn_alloc *last_alloc;
};

static void fake_send(void *io, const struct w2_turn_client *c, const uint8_t *buf, size_t len)
{
	struct fake *f = io;

	assert_true(len <= sizeof(f->sent[0].buf));
	if (f->n_sent == MAX_SENT)
		return;
	f->sent[f->n_sent].c = *c;
	memcpy(f->sent[f->n_sent].buf, buf, len);
	f->sent[f->n_sent++].len = len;
}

static void *fake_relay_open(void *io, struct w2_turn_alloc *a, int family,
			     struct sockaddr_storage *relayed, int *err)
{
	struct fake *f = io;

	if (f->open_err) {
		*err = f->open_err;
		return NULL;
	}
	memset(relayed, 0, sizeof(*relayed));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)relayed;

		s4->sin_family = AF_INET;
		inet_pton(AF_INET, "192.0.2.1", &s4->sin_addr);
		s4->sin_port = htons((uint16_t)(RELAY_PORT0 + f->n_open));
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)relayed;

		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, "2001:db8::1", &s6->sin6_addr);
		s6->sin6_port = htons((uint16_t)(RELAY_PORT0 + f->n_open));
	}
	f->last_alloc = a;
	f->n_open++;
	return (void *)(uintptr_t)(0x1000 + f->n_open);
}

static void fake_relay_send(void *io, void *relay, const struct sockaddr *peer, const uint8_t *buf,
			    size_t len)
{
	struct fake *f = io;
	struct relayed *r;

	if (f->n_relayed == MAX_SENT)
		return;
	r = &f->relayed[f->n_relayed++];
	r->relay = relay;
	memcpy(&r->peer, peer, peer->sa_family == AF_INET ? sizeof(struct sockaddr_in)
							   : sizeof(struct sockaddr_in6));
	r->ptr = buf;
	r->len = len;
}

static void fake_relay_close(void *io, void *relay)
{
	struct fake *f = io;

	assert_non_null(relay);
	f->n_close++;
}

static const struct w2_turn_ops fake_ops = {
	.send_to_client = fake_send,
	.relay_open = fake_relay_open,
	.relay_send = fake_relay_send,
	.relay_close = fake_relay_close,
};

/* ---- fixture ----------------------------------------------------------------- */

struct fx {
	struct w2_turn_settings cfg;
	struct w2_turn_user users[1];
	struct w2_cidr allowed[1];
	struct w2_cidr denied[1];
	struct sockaddr_storage self[2];
	struct w2_turn *t;
	struct fake io;
	uint64_t now;
	struct w2_turn_client udp;
	char user[W2_TURN_REST_USER_MAX];
	char pass[W2_TURN_REST_PASS_MAX];
	char nonce[64];
	uint8_t txid_seq;
};

static void set_addr(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
		s6->sin6_port = htons(port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
		s4->sin_port = htons(port);
	}
}

static void fx_config(struct fx *x)
{
	struct w2_turn_settings *c = &x->cfg;

	c->enabled = true;
	c->realm = REALM;
	c->secret = (unsigned char *)SECRET;
	c->secret_len = strlen(SECRET);
	c->min_port = 49152;
	c->max_port = 49200;
	x->users[0].name = "alice";
	x->users[0].password = "wonderland";
	c->users = x->users;
	c->n_users = 1;
	c->max_allocations = 4;
	c->max_allocations_per_user = 2;
	c->max_permissions = 4;
	c->max_channels = 2;
	c->max_lifetime_s = 3600;
	c->unauth_requests_per_s = 1000;
	assert_int_equal(w2_cidr_parse("127.0.0.0/8", 11, &x->allowed[0]), 0);
	assert_int_equal(w2_cidr_parse("127.0.0.9", 9, &x->denied[0]), 0);
	c->allowed_peers = x->allowed;
	c->n_allowed_peers = 1;
	c->denied_peers = x->denied;
	c->n_denied_peers = 1;
	set_addr(&x->self[0], "127.0.0.1", 3478);
	set_addr(&x->self[1], "192.0.2.1", 0);
}

static int fx_create(struct fx *x)
{
	return w2_turn_create(&x->t, &x->cfg, &fake_ops, &x->io, x->self, 2);
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	if (!x)
		return -1;
	fx_config(x);
	if (fx_create(x) != 0)
		return -1;
	x->now = NOW0;
	x->udp.transport = W2_TURN_UDP;
	x->udp.conn = (void *)(uintptr_t)0x77;
	set_addr(&x->udp.addr, "203.0.113.5", 40000);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	w2_turn_destroy(x->t);
	/* Every relay the engine opened was closed. */
	assert_int_equal(x->io.n_open, x->io.n_close);
	free(x);
	return 0;
}

/* Recreates the engine after the test changed the config. */
static void fx_recreate(struct fx *x)
{
	w2_turn_destroy(x->t);
	x->io.n_open = x->io.n_close = 0;
	assert_int_equal(fx_create(x), 0);
}

/* ---- building requests ---------------------------------------------------- */

struct req {
	uint8_t buf[1024];
	struct w2_stun_writer w;
	uint8_t txid[W2_STUN_TXID_LEN];
};

static void req_begin(struct fx *x, struct req *q, uint16_t method, enum w2_stun_class cls)
{
	memset(q->txid, 0, sizeof(q->txid));
	q->txid[0] = ++x->txid_seq;
	q->txid[1] = (uint8_t)method;
	w2_stun_writer_init(&q->w, q->buf, sizeof(q->buf), method, cls, q->txid);
}

static void put_peer(struct req *q, const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;

	set_addr(&ss, ip, port);
	w2_stun_put_addr(&q->w, W2_STUN_A_XOR_PEER_ADDRESS, (const struct sockaddr *)&ss, true);
}

/* USERNAME, REALM, NONCE and MESSAGE-INTEGRITY with x's credential. */
static void put_auth(struct fx *x, struct req *q)
{
	uint8_t key[32];
	size_t key_len;

	w2_stun_put(&q->w, W2_STUN_A_USERNAME, x->user, strlen(x->user));
	w2_stun_put(&q->w, W2_STUN_A_REALM, REALM, strlen(REALM));
	w2_stun_put(&q->w, W2_STUN_A_NONCE, x->nonce, strlen(x->nonce));
	assert_int_equal(w2_stun_long_term_key(W2_STUN_PW_MD5, x->user, strlen(x->user), REALM,
					       strlen(REALM), x->pass, strlen(x->pass), key,
					       &key_len),
			 0);
	w2_stun_put_integrity(&q->w, key, key_len);
}

static void deliver(struct fx *x, const struct w2_turn_client *c, struct req *q)
{
	size_t len;

	assert_int_equal(w2_stun_writer_finish(&q->w, &len), 0);
	w2_turn_handle_client(x->t, c, q->buf, len, x->now);
}

static void send_auth(struct fx *x, const struct w2_turn_client *c, struct req *q)
{
	put_auth(x, q);
	deliver(x, c, q);
}

/* The last message sent to a client, parsed. */
static struct w2_stun_msg last(struct fx *x)
{
	struct w2_stun_msg m;

	assert_true(x->io.n_sent > 0);
	assert_int_equal(w2_stun_parse(x->io.sent[x->io.n_sent - 1].buf,
				       x->io.sent[x->io.n_sent - 1].len, &m),
			 0);
	return m;
}

static int last_error(struct fx *x)
{
	struct w2_stun_msg m = last(x);
	const char *reason;
	size_t reason_len;
	int code = 0;

	assert_int_equal(m.cls, W2_STUN_ERROR);
	assert_int_equal(w2_stun_get_error(&m, &code, &reason, &reason_len), 0);
	return code;
}

/* Takes the NONCE of the last response (a 401 or 438). */
static void take_nonce(struct fx *x)
{
	struct w2_stun_msg m = last(x);
	const struct w2_stun_attr *n = w2_stun_find(&m, W2_STUN_A_NONCE);

	assert_non_null(n);
	assert_true(n->len < sizeof(x->nonce));
	memcpy(x->nonce, w2_stun_attr_value(&m, n), n->len);
	x->nonce[n->len] = '\0';
	assert_non_null(w2_stun_find(&m, W2_STUN_A_REALM));
}

static void use_rest(struct fx *x, const char *name, int64_t expires_at)
{
	assert_int_equal(w2_turn_rest_credential((const uint8_t *)SECRET, strlen(SECRET), name,
						 expires_at, x->user, x->pass),
			 0);
}

/* An unauthenticated Allocate: 401 with REALM and NONCE, which x keeps. */
static void get_nonce(struct fx *x, const struct w2_turn_client *c)
{
	struct req q;

	req_begin(x, &q, W2_TURN_ALLOCATE, W2_STUN_REQUEST);
	w2_stun_put_u32(&q.w, W2_STUN_A_REQUESTED_TRANSPORT, PROTO_UDP_WORD);
	deliver(x, c, &q);
	assert_int_equal(last_error(x), W2_STUN_ERR_UNAUTHORIZED);
	take_nonce(x);
}

static void verify_mi(struct fx *x, const struct w2_stun_msg *m)
{
	uint8_t key[32];
	size_t key_len;

	assert_int_equal(w2_stun_long_term_key(W2_STUN_PW_MD5, x->user, strlen(x->user), REALM,
					       strlen(REALM), x->pass, strlen(x->pass), key,
					       &key_len),
			 0);
	assert_int_equal(w2_stun_check_integrity(m, key, key_len), 0);
}

static void allocate_req(struct fx *x, struct req *q, uint32_t transport_word)
{
	req_begin(x, q, W2_TURN_ALLOCATE, W2_STUN_REQUEST);
	w2_stun_put_u32(&q->w, W2_STUN_A_REQUESTED_TRANSPORT, transport_word);
}

/* A full Allocate for client c with x's credential; returns the response. */
static struct w2_stun_msg do_allocate(struct fx *x, const struct w2_turn_client *c)
{
	struct req q;
	struct w2_stun_msg m;

	if (x->nonce[0] == '\0')
		get_nonce(x, c);
	allocate_req(x, &q, PROTO_UDP_WORD);
	send_auth(x, c, &q);
	m = last(x);
	return m;
}

static void assert_allocated(struct fx *x, const struct w2_turn_client *c)
{
	struct w2_stun_msg m = do_allocate(x, c);

	assert_int_equal(m.method, W2_TURN_ALLOCATE);
	assert_int_equal(m.cls, W2_STUN_SUCCESS);
	verify_mi(x, &m);
}

static void create_permission(struct fx *x, const struct w2_turn_client *c, const char *ip,
			      uint16_t port)
{
	struct req q;

	req_begin(x, &q, W2_TURN_CREATE_PERMISSION, W2_STUN_REQUEST);
	put_peer(&q, ip, port);
	send_auth(x, c, &q);
}

static void channel_bind(struct fx *x, const struct w2_turn_client *c, uint16_t number,
			 const char *ip, uint16_t port)
{
	struct req q;

	req_begin(x, &q, W2_TURN_CHANNEL_BIND, W2_STUN_REQUEST);
	w2_stun_put_u32(&q.w, W2_STUN_A_CHANNEL_NUMBER, (uint32_t)number << 16);
	put_peer(&q, ip, port);
	send_auth(x, c, &q);
}

static void refresh(struct fx *x, const struct w2_turn_client *c, uint32_t lifetime)
{
	struct req q;

	req_begin(x, &q, W2_TURN_REFRESH, W2_STUN_REQUEST);
	w2_stun_put_u32(&q.w, W2_STUN_A_LIFETIME, lifetime);
	send_auth(x, c, &q);
}

static void send_indication(struct fx *x, const struct w2_turn_client *c, const char *ip,
			    uint16_t port, const char *data, struct req *q)
{
	req_begin(x, q, W2_TURN_SEND, W2_STUN_INDICATION);
	put_peer(q, ip, port);
	w2_stun_put(&q->w, W2_STUN_A_DATA, data, strlen(data));
	deliver(x, c, q);
}

static void assert_success(struct fx *x, uint16_t method)
{
	struct w2_stun_msg m = last(x);

	assert_int_equal(m.method, method);
	assert_int_equal(m.cls, W2_STUN_SUCCESS);
	verify_mi(x, &m);
}

static uint64_t secs(uint64_t s)
{
	return s * 1000;
}

/* A peer datagram with the engine's headroom and tailroom around it. */
struct peer_buf {
	uint8_t mem[W2_TURN_PEER_HEADROOM + 70000 + W2_TURN_PEER_TAILROOM];
};

static void from_peer(struct fx *x, const char *ip, uint16_t port, const void *data, size_t len)
{
	static struct peer_buf pb;
	struct sockaddr_storage ss;

	set_addr(&ss, ip, port);
	memcpy(pb.mem + W2_TURN_PEER_HEADROOM, data, len);
	w2_turn_handle_peer(x->t, x->io.last_alloc, (const struct sockaddr *)&ss,
			    pb.mem + W2_TURN_PEER_HEADROOM, len, x->now);
}

/* ---- tests -------------------------------------------------------------- */

static void test_binding(void **state)
{
	struct fx *x = *state;
	struct req q;
	struct w2_stun_msg m;
	struct sockaddr_storage mapped;

	req_begin(x, &q, W2_STUN_BINDING, W2_STUN_REQUEST);
	deliver(x, &x->udp, &q);
	m = last(x);
	assert_int_equal(m.cls, W2_STUN_SUCCESS);
	assert_memory_equal(m.txid, q.txid, W2_STUN_TXID_LEN);
	assert_int_equal(w2_stun_attr_addr(&m, w2_stun_find(&m, W2_STUN_A_XOR_MAPPED_ADDRESS), true,
					   &mapped),
			 0);
	assert_int_equal(((struct sockaddr_in *)&mapped)->sin_port, htons(40000));
	assert_int_equal(m.fingerprint, -1);
	assert_null(w2_stun_find(&m, W2_STUN_A_SOFTWARE));
	/* With FINGERPRINT in the request, the response has one. */
	req_begin(x, &q, W2_STUN_BINDING, W2_STUN_REQUEST);
	w2_stun_put_fingerprint(&q.w);
	deliver(x, &x->udp, &q);
	m = last(x);
	assert_true(m.fingerprint >= 0);
	assert_int_equal(w2_stun_check_fingerprint(&m), 0);
	assert_int_equal(w2_turn_stats(x->t)->binding_requests_total, 2);
}

static void test_allocate_rest(void **state)
{
	struct fx *x = *state;
	struct w2_stun_msg m;
	struct sockaddr_storage relayed, mapped;
	uint32_t lifetime;

	use_rest(x, "bob", (int64_t)(NOW0 / 1000) + 3600);
	m = do_allocate(x, &x->udp);
	assert_int_equal(m.cls, W2_STUN_SUCCESS);
	verify_mi(x, &m);
	assert_int_equal(w2_stun_attr_addr(&m, w2_stun_find(&m, W2_STUN_A_XOR_RELAYED_ADDRESS),
					   true, &relayed),
			 0);
	assert_int_equal(((struct sockaddr_in *)&relayed)->sin_port, htons(RELAY_PORT0));
	assert_int_equal(w2_stun_attr_addr(&m, w2_stun_find(&m, W2_STUN_A_XOR_MAPPED_ADDRESS), true,
					   &mapped),
			 0);
	assert_int_equal(((struct sockaddr_in *)&mapped)->sin_port, htons(40000));
	assert_int_equal(w2_stun_get_u32(&m, W2_STUN_A_LIFETIME, &lifetime), 0);
	assert_int_equal(lifetime, W2_TURN_DEFAULT_LIFETIME_S);
	assert_int_equal(w2_turn_stats(x->t)->allocations, 1);
	assert_int_equal(w2_turn_stats(x->t)->allocations_total, 1);
}

static void test_allocate_static_user(void **state)
{
	struct fx *x = *state;

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	assert_allocated(x, &x->udp);
}

static void test_wrong_password(void **state)
{
	struct fx *x = *state;
	struct w2_stun_msg m;

	strcpy(x->user, "alice");
	strcpy(x->pass, "guess");
	m = do_allocate(x, &x->udp);
	assert_int_equal(last_error(x), W2_STUN_ERR_UNAUTHORIZED);
	assert_non_null(w2_stun_find(&m, W2_STUN_A_REALM));
	assert_non_null(w2_stun_find(&m, W2_STUN_A_NONCE));
	assert_int_equal(m.integrity, -1);
	assert_int_equal(w2_turn_stats(x->t)->auth_failures_total, 1);
	/* An unknown user too. */
	strcpy(x->user, "mallory");
	do_allocate(x, &x->udp);
	assert_int_equal(last_error(x), W2_STUN_ERR_UNAUTHORIZED);
	assert_int_equal(w2_turn_stats(x->t)->auth_failures_total, 2);
	assert_int_equal(x->io.n_open, 0);
}

static void test_missing_username_400(void **state)
{
	struct fx *x = *state;
	struct req q;
	uint8_t key[16] = {0};

	allocate_req(x, &q, PROTO_UDP_WORD);
	w2_stun_put(&q.w, W2_STUN_A_REALM, REALM, strlen(REALM));
	w2_stun_put_integrity(&q.w, key, sizeof(key));
	deliver(x, &x->udp, &q);
	assert_int_equal(last_error(x), W2_STUN_ERR_BAD_REQUEST);
}

static void test_stale_nonce(void **state)
{
	struct fx *x = *state;
	struct w2_stun_msg m;
	char old[64];

	use_rest(x, "bob", (int64_t)(NOW0 / 1000) + 86400);
	get_nonce(x, &x->udp);
	x->now += secs(W2_TURN_NONCE_LIFETIME_S + 1);
	strcpy(old, x->nonce);
	m = do_allocate(x, &x->udp);
	assert_int_equal(last_error(x), W2_STUN_ERR_STALE_NONCE);
	assert_int_equal(w2_turn_stats(x->t)->stale_nonces_total, 1);
	take_nonce(x);
	assert_string_not_equal(old, x->nonce);
	/* A forged nonce is stale too. */
	x->nonce[5] ^= 1;
	do_allocate(x, &x->udp);
	assert_int_equal(last_error(x), W2_STUN_ERR_STALE_NONCE);
	take_nonce(x);
	m = do_allocate(x, &x->udp);
	assert_int_equal(m.cls, W2_STUN_SUCCESS);
	verify_mi(x, &m);
}

static void test_expired_rest_401(void **state)
{
	struct fx *x = *state;

	use_rest(x, "bob", (int64_t)(NOW0 / 1000));
	do_allocate(x, &x->udp);
	assert_int_equal(last_error(x), W2_STUN_ERR_UNAUTHORIZED);
	assert_int_equal(w2_turn_stats(x->t)->auth_failures_total, 1);
}

static void test_retransmit_and_mismatch(void **state)
{
	struct fx *x = *state;
	struct req q;
	size_t len, n;
	uint8_t first[2048];
	size_t first_len;

	use_rest(x, "bob", (int64_t)(NOW0 / 1000) + 3600);
	get_nonce(x, &x->udp);
	allocate_req(x, &q, PROTO_UDP_WORD);
	put_auth(x, &q);
	assert_int_equal(w2_stun_writer_finish(&q.w, &len), 0);
	w2_turn_handle_client(x->t, &x->udp, q.buf, len, x->now);
	n = x->io.n_sent;
	first_len = x->io.sent[n - 1].len;
	memcpy(first, x->io.sent[n - 1].buf, first_len);
	assert_int_equal(last(x).cls, W2_STUN_SUCCESS);
	/* The same transaction again: the same bytes, no second relay. */
	x->now += 500;
	w2_turn_handle_client(x->t, &x->udp, q.buf, len, x->now);
	assert_int_equal(x->io.n_sent, n + 1);
	assert_int_equal(x->io.sent[n].len, first_len);
	assert_memory_equal(x->io.sent[n].buf, first, first_len);
	assert_int_equal(x->io.n_open, 1);
	/* A new transaction on the same 5-tuple: 437. */
	do_allocate(x, &x->udp);
	assert_int_equal(last_error(x), W2_STUN_ERR_ALLOCATION_MISMATCH);
	{
		/* An error after authentication is protected too. */
		struct w2_stun_msg m = last(x);

		verify_mi(x, &m);
	}
	/* Another user on the same 5-tuple: an Allocate gets 437 (RFC 8656
	 * section 7.2), any other request 441 (section 5). */
	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	do_allocate(x, &x->udp);
	assert_int_equal(last_error(x), W2_STUN_ERR_ALLOCATION_MISMATCH);
	create_permission(x, &x->udp, "198.51.100.7", 5000);
	assert_int_equal(last_error(x), W2_STUN_ERR_WRONG_CREDENTIALS);
}

static void test_tcp_transport_442(void **state)
{
	struct fx *x = *state;
	struct req q;

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	get_nonce(x, &x->udp);
	allocate_req(x, &q, PROTO_TCP_WORD);
	send_auth(x, &x->udp, &q);
	assert_int_equal(last_error(x), W2_STUN_ERR_UNSUPPORTED_TRANSPORT);
	assert_int_equal(x->io.n_open, 0);
}

static void test_unsupported_and_family(void **state)
{
	struct fx *x = *state;
	struct req q;
	struct w2_stun_msg m;
	const struct w2_stun_attr *u;

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	get_nonce(x, &x->udp);
	allocate_req(x, &q, PROTO_UDP_WORD);
	w2_stun_put(&q.w, W2_STUN_A_DONT_FRAGMENT, NULL, 0);
	send_auth(x, &x->udp, &q);
	assert_int_equal(last_error(x), W2_STUN_ERR_UNKNOWN_ATTRIBUTE);
	m = last(x);
	u = w2_stun_find(&m, W2_STUN_A_UNKNOWN_ATTRIBUTES);
	assert_non_null(u);
	assert_int_equal(u->len, 2);
	assert_int_equal(w2_stun_attr_value(&m, u)[1], W2_STUN_A_DONT_FRAGMENT);
	/* EVEN-PORT asking to reserve the next port: 508 (not offered). */
	allocate_req(x, &q, PROTO_UDP_WORD);
	w2_stun_put_u32(&q.w, W2_STUN_A_EVEN_PORT, 0x80u << 24);
	send_auth(x, &x->udp, &q);
	assert_int_equal(last_error(x), W2_STUN_ERR_INSUFFICIENT_CAPACITY);
	/* An unknown family: 440. */
	allocate_req(x, &q, PROTO_UDP_WORD);
	w2_stun_put_u32(&q.w, W2_STUN_A_REQUESTED_ADDRESS_FAMILY, 0x03u << 24);
	send_auth(x, &x->udp, &q);
	assert_int_equal(last_error(x), W2_STUN_ERR_ADDRESS_FAMILY_NOT_SUPPORTED);
	/* A plain EVEN-PORT is satisfied: the I/O layer binds even ports only
	 * (coturn's uclient sends one with every Allocate). */
	allocate_req(x, &q, PROTO_UDP_WORD);
	w2_stun_put(&q.w, W2_STUN_A_EVEN_PORT, "\0", 1);
	send_auth(x, &x->udp, &q);
	assert_success(x, W2_TURN_ALLOCATE);
	req_begin(x, &q, W2_TURN_REFRESH, W2_STUN_REQUEST);
	w2_stun_put_u32(&q.w, W2_STUN_A_LIFETIME, 0);
	send_auth(x, &x->udp, &q);
	assert_success(x, W2_TURN_REFRESH);
	/* IPv6: a v6 relay; an IPv4 peer is then a family mismatch (443),
	 * and so is a Refresh asking for IPv4. */
	allocate_req(x, &q, PROTO_UDP_WORD);
	w2_stun_put_u32(&q.w, W2_STUN_A_REQUESTED_ADDRESS_FAMILY, 0x02u << 24);
	send_auth(x, &x->udp, &q);
	assert_success(x, W2_TURN_ALLOCATE);
	create_permission(x, &x->udp, "198.51.100.7", 5000);
	assert_int_equal(last_error(x), W2_STUN_ERR_PEER_ADDRESS_FAMILY_MISMATCH);
	req_begin(x, &q, W2_TURN_REFRESH, W2_STUN_REQUEST);
	w2_stun_put_u32(&q.w, W2_STUN_A_REQUESTED_ADDRESS_FAMILY, 0x01u << 24);
	send_auth(x, &x->udp, &q);
	assert_int_equal(last_error(x), W2_STUN_ERR_PEER_ADDRESS_FAMILY_MISMATCH);
	create_permission(x, &x->udp, "2001:db8:5::7", 5000);
	assert_success(x, W2_TURN_CREATE_PERMISSION);
}

static void test_quotas(void **state)
{
	struct fx *x = *state;
	struct w2_turn_client c[5];

	for (int i = 0; i < 5; i++) {
		c[i] = x->udp;
		set_addr(&c[i].addr, "203.0.113.5", (uint16_t)(41000 + i));
	}
	/* Two REST credentials for bob (different expiries): one user. */
	use_rest(x, "bob", (int64_t)(NOW0 / 1000) + 3600);
	assert_allocated(x, &c[0]);
	use_rest(x, "bob", (int64_t)(NOW0 / 1000) + 7200);
	assert_allocated(x, &c[1]);
	do_allocate(x, &c[2]);
	assert_int_equal(last_error(x), W2_STUN_ERR_ALLOCATION_QUOTA_REACHED);
	/* Others until the total of 4. */
	use_rest(x, "carol", (int64_t)(NOW0 / 1000) + 3600);
	assert_allocated(x, &c[2]);
	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	assert_allocated(x, &c[3]);
	do_allocate(x, &c[4]);
	assert_int_equal(last_error(x), W2_STUN_ERR_ALLOCATION_QUOTA_REACHED);
	assert_int_equal(w2_turn_stats(x->t)->quota_rejections_total, 2);
	assert_int_equal(w2_turn_stats(x->t)->allocations, 4);
}

static void test_relay_open_limit_508(void **state)
{
	struct fx *x = *state;

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	x->io.open_err = W2_ELIMIT;
	do_allocate(x, &x->udp);
	assert_int_equal(last_error(x), W2_STUN_ERR_INSUFFICIENT_CAPACITY);
	assert_int_equal(w2_turn_stats(x->t)->quota_rejections_total, 1);
	assert_int_equal(w2_turn_stats(x->t)->allocations, 0);
	x->io.open_err = 0;
	assert_allocated(x, &x->udp);
}

static void test_refresh(void **state)
{
	struct fx *x = *state;
	struct w2_stun_msg m;
	uint32_t lifetime;
	struct req q;
	size_t len, n;

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	assert_allocated(x, &x->udp);
	refresh(x, &x->udp, 1200);
	assert_success(x, W2_TURN_REFRESH);
	m = last(x);
	assert_int_equal(w2_stun_get_u32(&m, W2_STUN_A_LIFETIME, &lifetime), 0);
	assert_int_equal(lifetime, 1200);
	/* Clamped to max_lifetime_s. */
	refresh(x, &x->udp, 100000);
	m = last(x);
	assert_int_equal(w2_stun_get_u32(&m, W2_STUN_A_LIFETIME, &lifetime), 0);
	assert_int_equal(lifetime, 3600);
	x->now += secs(3000);
	assert_int_equal(w2_turn_bookkeeping(x->t, x->now) <= 1000, true);
	assert_int_equal(w2_turn_stats(x->t)->allocations, 1);
	/* The nonce has gone stale meanwhile: 438 and a new one. */
	refresh(x, &x->udp, 600);
	assert_int_equal(last_error(x), W2_STUN_ERR_STALE_NONCE);
	take_nonce(x);
	/* Lifetime 0 deletes; its retransmission gets the same success. */
	req_begin(x, &q, W2_TURN_REFRESH, W2_STUN_REQUEST);
	w2_stun_put_u32(&q.w, W2_STUN_A_LIFETIME, 0);
	put_auth(x, &q);
	assert_int_equal(w2_stun_writer_finish(&q.w, &len), 0);
	w2_turn_handle_client(x->t, &x->udp, q.buf, len, x->now);
	assert_success(x, W2_TURN_REFRESH);
	assert_int_equal(x->io.n_close, 1);
	assert_int_equal(w2_turn_stats(x->t)->allocations, 0);
	n = x->io.n_sent;
	w2_turn_handle_client(x->t, &x->udp, q.buf, len, x->now);
	assert_int_equal(x->io.n_sent, n + 1);
	assert_memory_equal(x->io.sent[n].buf, x->io.sent[n - 1].buf, x->io.sent[n].len);
	/* A new Refresh: no allocation. */
	refresh(x, &x->udp, 600);
	assert_int_equal(last_error(x), W2_STUN_ERR_ALLOCATION_MISMATCH);
}

static void test_expiry_by_bookkeeping(void **state)
{
	struct fx *x = *state;

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	assert_allocated(x, &x->udp);
	x->now += secs(W2_TURN_DEFAULT_LIFETIME_S - 1);
	w2_turn_bookkeeping(x->t, x->now);
	assert_int_equal(x->io.n_close, 0);
	x->now += secs(1);
	assert_true(w2_turn_bookkeeping(x->t, x->now) <= 1000);
	assert_int_equal(x->io.n_close, 1);
	assert_int_equal(w2_turn_stats(x->t)->allocations, 0);
}

static void test_permission_and_send(void **state)
{
	struct fx *x = *state;
	struct req q;
	const struct w2_turn_stats *st = w2_turn_stats(x->t);

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	assert_allocated(x, &x->udp);
	create_permission(x, &x->udp, "198.51.100.7", 5000);
	assert_success(x, W2_TURN_CREATE_PERMISSION);
	assert_int_equal(st->permissions, 1);
	/* Any port of the permitted IP. */
	send_indication(x, &x->udp, "198.51.100.7", 6000, "hello", &q);
	assert_int_equal(x->io.n_relayed, 1);
	assert_int_equal(x->io.relayed[0].len, 5);
	assert_memory_equal(x->io.relayed[0].ptr, "hello", 5);
	/* Not copied: the pointer lies in the request's buffer. */
	assert_true(x->io.relayed[0].ptr > q.buf && x->io.relayed[0].ptr < q.buf + sizeof(q.buf));
	assert_int_equal(ntohs(((struct sockaddr_in *)&x->io.relayed[0].peer)->sin_port), 6000);
	assert_int_equal(st->relayed_packets_total, 1);
	assert_int_equal(st->relayed_bytes_total, 5);
	/* Another IP: no permission, dropped without an answer. */
	send_indication(x, &x->udp, "198.51.100.8", 5000, "hello", &q);
	assert_int_equal(x->io.n_relayed, 1);
	assert_int_equal(st->no_permission_drops_total, 1);
	/* Permissions last 300 s. */
	x->now += secs(W2_TURN_PERMISSION_LIFETIME_S);
	send_indication(x, &x->udp, "198.51.100.7", 5000, "late", &q);
	assert_int_equal(x->io.n_relayed, 1);
	assert_int_equal(st->no_permission_drops_total, 2);
	w2_turn_bookkeeping(x->t, x->now);
	assert_int_equal(st->permissions, 0);
}

static void test_permission_cap(void **state)
{
	struct fx *x = *state;
	struct req q;

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	assert_allocated(x, &x->udp);
	req_begin(x, &q, W2_TURN_CREATE_PERMISSION, W2_STUN_REQUEST);
	put_peer(&q, "198.51.100.1", 1);
	put_peer(&q, "198.51.100.2", 1);
	put_peer(&q, "198.51.100.3", 1);
	send_auth(x, &x->udp, &q);
	assert_success(x, W2_TURN_CREATE_PERMISSION);
	assert_int_equal(w2_turn_stats(x->t)->permissions, 3);
	req_begin(x, &q, W2_TURN_CREATE_PERMISSION, W2_STUN_REQUEST);
	put_peer(&q, "198.51.100.4", 1);
	put_peer(&q, "198.51.100.5", 1);
	send_auth(x, &x->udp, &q);
	assert_int_equal(last_error(x), W2_STUN_ERR_INSUFFICIENT_CAPACITY);
	assert_int_equal(w2_turn_stats(x->t)->permissions, 3); /* all or nothing */
	/* A request with no peer: 400. */
	req_begin(x, &q, W2_TURN_CREATE_PERMISSION, W2_STUN_REQUEST);
	send_auth(x, &x->udp, &q);
	assert_int_equal(last_error(x), W2_STUN_ERR_BAD_REQUEST);
}

static void test_peer_data_indication(void **state)
{
	struct fx *x = *state;
	struct w2_stun_msg m;
	struct sockaddr_storage peer;
	const struct w2_stun_attr *d;
	const struct w2_turn_stats *st = w2_turn_stats(x->t);

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	assert_allocated(x, &x->udp);
	/* No permission yet: dropped. */
	from_peer(x, "198.51.100.7", 5000, "hi!", 3);
	assert_int_equal(st->no_permission_drops_total, 1);
	create_permission(x, &x->udp, "198.51.100.7", 1);
	from_peer(x, "198.51.100.7", 5000, "hi!", 3);
	m = last(x);
	assert_int_equal(m.method, W2_TURN_DATA);
	assert_int_equal(m.cls, W2_STUN_INDICATION);
	assert_int_equal(m.fingerprint, -1);
	assert_int_equal(w2_stun_attr_addr(&m, w2_stun_find(&m, W2_STUN_A_XOR_PEER_ADDRESS), true,
					   &peer),
			 0);
	assert_int_equal(ntohs(((struct sockaddr_in *)&peer)->sin_port), 5000);
	d = w2_stun_find(&m, W2_STUN_A_DATA);
	assert_non_null(d);
	assert_int_equal(d->len, 3);
	assert_memory_equal(w2_stun_attr_value(&m, d), "hi!", 3);
	assert_int_equal(x->io.sent[x->io.n_sent - 1].len, 20 + 12 + 4 + 4);
	assert_int_equal(st->relayed_packets_total, 1);
	assert_int_equal(st->relayed_bytes_total, 3);
}

static void test_channels(void **state)
{
	struct fx *x = *state;
	const struct w2_turn_stats *st = w2_turn_stats(x->t);
	uint8_t cd[4 + 5];
	const struct sent *s;

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	assert_allocated(x, &x->udp);
	channel_bind(x, &x->udp, 0x4001, "198.51.100.7", 5000);
	assert_success(x, W2_TURN_CHANNEL_BIND);
	assert_int_equal(st->channels, 1);
	assert_int_equal(st->permissions, 1); /* the binding installed it */
	/* Client to peer. */
	w2_turn_channeldata_header(cd, 0x4001, 5);
	memcpy(cd + 4, "media", 5);
	w2_turn_handle_client(x->t, &x->udp, cd, sizeof(cd), x->now);
	assert_int_equal(x->io.n_relayed, 1);
	assert_ptr_equal(x->io.relayed[0].ptr, cd + 4);
	assert_int_equal(x->io.relayed[0].len, 5);
	/* An unbound channel: dropped. */
	w2_turn_channeldata_header(cd, 0x4002, 5);
	w2_turn_handle_client(x->t, &x->udp, cd, sizeof(cd), x->now);
	assert_int_equal(x->io.n_relayed, 1);
	/* Peer to client: ChannelData, no padding over UDP. */
	from_peer(x, "198.51.100.7", 5000, "reply", 5);
	s = &x->io.sent[x->io.n_sent - 1];
	assert_int_equal(s->len, 9);
	assert_int_equal(s->buf[0], 0x40);
	assert_int_equal(s->buf[1], 0x01);
	assert_int_equal(s->buf[3], 5);
	assert_memory_equal(s->buf + 4, "reply", 5);
	/* The same peer IP at another port has no channel: Data indication. */
	from_peer(x, "198.51.100.7", 5001, "other", 5);
	assert_int_equal(last(x).method, W2_TURN_DATA);
	/* Refresh of the binding. */
	x->now += secs(500);
	refresh(x, &x->udp, 600);
	assert_success(x, W2_TURN_REFRESH);
	channel_bind(x, &x->udp, 0x4001, "198.51.100.7", 5000);
	assert_success(x, W2_TURN_CHANNEL_BIND);
	assert_int_equal(st->channels, 1);
	x->now += secs(200); /* the first binding would have expired */
	w2_turn_handle_client(x->t, &x->udp, cd, sizeof(cd), x->now);
	w2_turn_channeldata_header(cd, 0x4001, 5);
	w2_turn_handle_client(x->t, &x->udp, cd, sizeof(cd), x->now);
	assert_int_equal(x->io.n_relayed, 2);
}

static void test_channel_tcp_padding(void **state)
{
	struct fx *x = *state;
	struct w2_turn_client tcp = x->udp;
	uint8_t cd[4 + 8];
	const struct sent *s;

	tcp.transport = W2_TURN_TCP;
	tcp.conn = (void *)(uintptr_t)0x99;
	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	assert_allocated(x, &tcp);
	channel_bind(x, &tcp, 0x4ABC, "198.51.100.7", 5000);
	assert_success(x, W2_TURN_CHANNEL_BIND);
	/* A padded frame from the client: 5 bytes of data, 3 of padding. */
	memset(cd, 0, sizeof(cd));
	w2_turn_channeldata_header(cd, 0x4ABC, 5);
	memcpy(cd + 4, "abcde", 5);
	w2_turn_handle_client(x->t, &tcp, cd, sizeof(cd), x->now);
	assert_int_equal(x->io.n_relayed, 1);
	assert_int_equal(x->io.relayed[0].len, 5);
	from_peer(x, "198.51.100.7", 5000, "fghij", 5);
	s = &x->io.sent[x->io.n_sent - 1];
	assert_int_equal(s->len, 12);
	assert_int_equal(s->buf[3], 5);
	assert_memory_equal(s->buf + 4, "fghij", 5);
	assert_memory_equal(s->buf + 9, "\0\0\0", 3);
	/* The stream closes: its allocation goes. */
	w2_turn_handle_closed(x->t, tcp.conn);
	assert_int_equal(x->io.n_close, 1);
	assert_int_equal(w2_turn_stats(x->t)->allocations, 0);
	assert_int_equal(w2_turn_stats(x->t)->channels, 0);
	assert_int_equal(w2_turn_stats(x->t)->permissions, 0);
}

static void test_channel_rules(void **state)
{
	struct fx *x = *state;
	struct req q;

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	get_nonce(x, &x->udp);
	allocate_req(x, &q, PROTO_UDP_WORD);
	w2_stun_put_u32(&q.w, W2_STUN_A_LIFETIME, 3600);
	send_auth(x, &x->udp, &q);
	assert_success(x, W2_TURN_ALLOCATE);
	channel_bind(x, &x->udp, 0x3FFF, "198.51.100.7", 5000);
	assert_int_equal(last_error(x), W2_STUN_ERR_BAD_REQUEST);
	channel_bind(x, &x->udp, 0x8000, "198.51.100.7", 5000);
	assert_int_equal(last_error(x), W2_STUN_ERR_BAD_REQUEST);
	channel_bind(x, &x->udp, 0x4000, "198.51.100.7", 5000);
	assert_success(x, W2_TURN_CHANNEL_BIND);
	/* The number is bound to another peer; the peer to another number. */
	channel_bind(x, &x->udp, 0x4000, "198.51.100.8", 5000);
	assert_int_equal(last_error(x), W2_STUN_ERR_BAD_REQUEST);
	channel_bind(x, &x->udp, 0x4001, "198.51.100.7", 5000);
	assert_int_equal(last_error(x), W2_STUN_ERR_BAD_REQUEST);
	/* After expiry both stay reserved for the reuse wait. */
	x->now += secs(W2_TURN_CHANNEL_LIFETIME_S);
	w2_turn_bookkeeping(x->t, x->now);
	assert_int_equal(w2_turn_stats(x->t)->channels, 0);
	get_nonce(x, &x->udp);
	channel_bind(x, &x->udp, 0x4000, "198.51.100.8", 5000);
	assert_int_equal(last_error(x), W2_STUN_ERR_BAD_REQUEST);
	channel_bind(x, &x->udp, 0x4001, "198.51.100.7", 5000);
	assert_int_equal(last_error(x), W2_STUN_ERR_BAD_REQUEST);
	x->now += secs(W2_TURN_CHANNEL_REUSE_WAIT_S);
	w2_turn_bookkeeping(x->t, x->now);
	get_nonce(x, &x->udp);
	channel_bind(x, &x->udp, 0x4000, "198.51.100.8", 5000);
	assert_success(x, W2_TURN_CHANNEL_BIND);
	channel_bind(x, &x->udp, 0x4001, "198.51.100.7", 5000);
	assert_success(x, W2_TURN_CHANNEL_BIND);
	/* max_channels is 2. */
	channel_bind(x, &x->udp, 0x4002, "198.51.100.9", 5000);
	assert_int_equal(last_error(x), W2_STUN_ERR_INSUFFICIENT_CAPACITY);
	assert_int_equal(w2_turn_stats(x->t)->channels, 2);
}

static void test_peer_policy(void **state)
{
	struct fx *x = *state;
	const struct w2_turn_stats *st = w2_turn_stats(x->t);
	struct req q;

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	assert_allocated(x, &x->udp);
	create_permission(x, &x->udp, "10.1.2.3", 5000); /* private, not allowed */
	assert_int_equal(last_error(x), W2_STUN_ERR_FORBIDDEN);
	create_permission(x, &x->udp, "127.0.0.1", 7000); /* allowed_peers */
	assert_success(x, W2_TURN_CREATE_PERMISSION);
	create_permission(x, &x->udp, "127.0.0.9", 7000); /* denied beats allowed */
	assert_int_equal(last_error(x), W2_STUN_ERR_FORBIDDEN);
	create_permission(x, &x->udp, "127.0.0.1", 3478); /* our listener */
	assert_int_equal(last_error(x), W2_STUN_ERR_FORBIDDEN);
	/* Another allocation on our relay IP: relay-to-relay, the common case
	 * of two callers behind restrictive NATs. */
	create_permission(x, &x->udp, "192.0.2.1", 49152);
	assert_success(x, W2_TURN_CREATE_PERMISSION);
	channel_bind(x, &x->udp, 0x4000, "192.0.2.1", 49160);
	assert_success(x, W2_TURN_CHANNEL_BIND);
	/* Any other port of our relay IP is a service of the host (ssh, ...). */
	create_permission(x, &x->udp, "192.0.2.1", 22);
	assert_int_equal(last_error(x), W2_STUN_ERR_FORBIDDEN);
	/* The allowed loopback range reaches the listener IP's other ports,
	 * the relay range included (the operator allowed 127/8). */
	channel_bind(x, &x->udp, 0x4001, "127.0.0.1", 49161);
	assert_success(x, W2_TURN_CHANNEL_BIND);
	assert_int_equal(st->forbidden_peers_total, 4);
	/* A Send to our listener through the loopback permission: dropped. */
	send_indication(x, &x->udp, "127.0.0.1", 3478, "loop", &q);
	assert_int_equal(x->io.n_relayed, 0);
	assert_int_equal(st->forbidden_peers_total, 5);
	send_indication(x, &x->udp, "127.0.0.1", 7000, "echo", &q);
	assert_int_equal(x->io.n_relayed, 1);
}

static void test_bandwidth_cap(void **state)
{
	struct fx *x = *state;
	static uint8_t big[40000];
	const struct w2_turn_stats *st;
	size_t n;

	x->cfg.bandwidth_bytes_per_s = 1000; /* burst: the 64 KiB minimum */
	fx_recreate(x);
	st = w2_turn_stats(x->t);
	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	assert_allocated(x, &x->udp);
	create_permission(x, &x->udp, "198.51.100.7", 1);
	n = x->io.n_sent;
	from_peer(x, "198.51.100.7", 5000, big, sizeof(big));
	from_peer(x, "198.51.100.7", 5000, big, sizeof(big));
	assert_int_equal(x->io.n_sent, n + 1);
	assert_int_equal(st->bandwidth_drops_total, 1);
	x->now += secs(20); /* 20000 bytes back */
	from_peer(x, "198.51.100.7", 5000, big, sizeof(big));
	assert_int_equal(x->io.n_sent, n + 2);
}

static void test_rate_limit(void **state)
{
	struct fx *x = *state;
	struct req q;

	x->cfg.unauth_requests_per_s = 1; /* burst 2 */
	fx_recreate(x);
	for (int i = 0; i < 3; i++) {
		req_begin(x, &q, W2_STUN_BINDING, W2_STUN_REQUEST);
		deliver(x, &x->udp, &q);
	}
	assert_int_equal(x->io.n_sent, 2);
	assert_int_equal(w2_turn_stats(x->t)->rate_limited_total, 1);
	/* Unauthenticated Allocates draw from the same bucket. */
	allocate_req(x, &q, PROTO_UDP_WORD);
	deliver(x, &x->udp, &q);
	assert_int_equal(x->io.n_sent, 2);
	/* Another source has its own. */
	set_addr(&x->udp.addr, "203.0.113.77", 40000);
	deliver(x, &x->udp, &q);
	assert_int_equal(x->io.n_sent, 3);
	/* Time refills. */
	x->now += secs(1);
	set_addr(&x->udp.addr, "203.0.113.5", 40000);
	req_begin(x, &q, W2_STUN_BINDING, W2_STUN_REQUEST);
	deliver(x, &x->udp, &q);
	assert_int_equal(x->io.n_sent, 4);
}

static void test_unknown_attribute_420(void **state)
{
	struct fx *x = *state;
	struct req q;
	struct w2_stun_msg m;
	const struct w2_stun_attr *u;

	req_begin(x, &q, W2_STUN_BINDING, W2_STUN_REQUEST);
	w2_stun_put_u32(&q.w, 0x0033, 1);
	deliver(x, &x->udp, &q);
	assert_int_equal(last_error(x), W2_STUN_ERR_UNKNOWN_ATTRIBUTE);
	m = last(x);
	u = w2_stun_find(&m, W2_STUN_A_UNKNOWN_ATTRIBUTES);
	assert_non_null(u);
	assert_int_equal(w2_stun_attr_value(&m, u)[1], 0x33);
	/* An authenticated Allocate with one: 420 with integrity. */
	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	get_nonce(x, &x->udp);
	allocate_req(x, &q, PROTO_UDP_WORD);
	w2_stun_put_u32(&q.w, 0x0033, 1);
	send_auth(x, &x->udp, &q);
	assert_int_equal(last_error(x), W2_STUN_ERR_UNKNOWN_ATTRIBUTE);
	m = last(x);
	verify_mi(x, &m);
	/* An indication with one is dropped without an answer. */
	allocate_req(x, &q, PROTO_UDP_WORD);
	req_begin(x, &q, W2_STUN_BINDING, W2_STUN_INDICATION);
	w2_stun_put_u32(&q.w, 0x0033, 1);
	{
		size_t n = x->io.n_sent;

		deliver(x, &x->udp, &q);
		assert_int_equal(x->io.n_sent, n);
	}
}

static void test_malformed(void **state)
{
	struct fx *x = *state;
	static const uint8_t junk[] = {0xC0, 1, 2, 3, 4, 5, 6, 7};
	uint8_t stun[20] = {0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42};
	uint8_t cd[8] = {0x40, 0x00, 0x00, 0x40}; /* length beyond the buffer */
	struct req q;
	size_t len, n;
	const struct w2_turn_stats *st = w2_turn_stats(x->t);

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	assert_allocated(x, &x->udp);
	create_permission(x, &x->udp, "198.51.100.7", 1);
	n = x->io.n_sent;
	w2_turn_handle_client(x->t, &x->udp, junk, sizeof(junk), x->now);
	w2_turn_handle_client(x->t, &x->udp, stun, sizeof(stun), x->now); /* length 8, none */
	w2_turn_handle_client(x->t, &x->udp, cd, sizeof(cd), x->now);
	w2_turn_handle_client(x->t, &x->udp, junk, 0, x->now);
	/* A Binding with a wrong FINGERPRINT. */
	req_begin(x, &q, W2_STUN_BINDING, W2_STUN_REQUEST);
	w2_stun_put_fingerprint(&q.w);
	assert_int_equal(w2_stun_writer_finish(&q.w, &len), 0);
	q.buf[len - 1] ^= 1;
	w2_turn_handle_client(x->t, &x->udp, q.buf, len, x->now);
	assert_int_equal(x->io.n_sent, n);
	assert_true(st->malformed_total >= 4);
	/* The allocation is unaffected. */
	send_indication(x, &x->udp, "198.51.100.7", 5000, "still", &q);
	assert_int_equal(x->io.n_relayed, 1);
	refresh(x, &x->udp, 600);
	assert_success(x, W2_TURN_REFRESH);
}

static void test_rest_credential(void **state)
{
	char user[W2_TURN_REST_USER_MAX], pass[W2_TURN_REST_PASS_MAX];
	char longname[W2_TURN_REST_USER_MAX + 1];

	(void)state;
	/* printf '%s' 1700000000:alice | openssl dgst -sha1 -hmac turn-secret
	 * -binary | base64 */
	assert_int_equal(w2_turn_rest_credential((const uint8_t *)"turn-secret", 11, "alice",
						 1700000000, user, pass),
			 0);
	assert_string_equal(user, "1700000000:alice");
	assert_string_equal(pass, "P/+m9gKVzGM5rBfJY3JtNseUl3o=");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(w2_turn_rest_credential((const uint8_t *)"k", 1, longname, 1, user, pass),
			 W2_EINVAL);
	assert_int_equal(w2_turn_rest_credential((const uint8_t *)"k", 0, "a", 1, user, pass),
			 W2_EINVAL);
}

static void test_allocation_failures(void **state)
{
	struct fx *x = *state;
	bool done = false;

	strcpy(x->user, "alice");
	strcpy(x->pass, "wonderland");
	get_nonce(x, &x->udp);
	for (long i = 0; i < 20 && !done; i++) {
		struct w2_stun_msg m;

		w2_alloc_fail_after(i);
		m = do_allocate(x, &x->udp);
		w2_alloc_fail_after(-1);
		done = m.cls == W2_STUN_SUCCESS;
		if (!done) {
			assert_int_equal(last_error(x), W2_STUN_ERR_SERVER_ERROR);
			assert_int_equal(w2_turn_stats(x->t)->allocations, 0);
		}
	}
	assert_true(done);
	assert_int_equal(w2_turn_stats(x->t)->allocations, 1);
}

static void test_create_errors(void **state)
{
	struct fx *x = *state;
	struct w2_turn_settings cfg = x->cfg;
	struct w2_turn *t;

	(void)state;
	cfg.realm = NULL;
	assert_int_equal(w2_turn_create(&t, &cfg, &fake_ops, NULL, NULL, 0), W2_EINVAL);
	assert_null(t);
	cfg.realm = REALM;
	for (long i = 0; i < 3; i++) {
		w2_alloc_fail_after(i);
		assert_int_equal(w2_turn_create(&t, &cfg, &fake_ops, NULL, x->self, 2), W2_ENOMEM);
		w2_alloc_fail_after(-1);
	}
	w2_turn_destroy(NULL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_binding),
		T(test_allocate_rest),
		T(test_allocate_static_user),
		T(test_wrong_password),
		T(test_missing_username_400),
		T(test_stale_nonce),
		T(test_expired_rest_401),
		T(test_retransmit_and_mismatch),
		T(test_tcp_transport_442),
		T(test_unsupported_and_family),
		T(test_quotas),
		T(test_relay_open_limit_508),
		T(test_refresh),
		T(test_expiry_by_bookkeeping),
		T(test_permission_and_send),
		T(test_permission_cap),
		T(test_peer_data_indication),
		T(test_channels),
		T(test_channel_tcp_padding),
		T(test_channel_rules),
		T(test_peer_policy),
		T(test_bandwidth_cap),
		T(test_rate_limit),
		T(test_unknown_attribute_420),
		T(test_malformed),
		T(test_rest_credential),
		T(test_allocation_failures),
		T(test_create_errors),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
