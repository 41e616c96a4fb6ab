/* The STUN/TURN engine's facade: creation, demultiplexing of client input
 * (RFC 8656 section 12.4), request dispatch by method and the reply
 * helpers every method uses.
 *
 * Amplification (RFC 8656 section 21, security considerations): every reply
 * to an unauthenticated request (Binding, the 401 that starts the
 * long-term credential exchange, 400/420/438) carries nothing optional: no
 * SOFTWARE, the RFC's short reason phrases, a 24-byte nonce. A 401 is then
 * about 60 bytes plus the realm, a few times the 28-byte minimal Allocate,
 * and the per-source token bucket (turn_auth.c) caps how many a spoofed
 * source can trigger. Malformed input is never answered. */
#include "turn/turn_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"

#include <string.h>

/* ---- replies ---------------------------------------------------------- */

void w2__turn_reply_begin(struct w2__turn_req *r, struct w2_stun_writer *w, enum w2_stun_class cls)
{
	w2_stun_writer_init(w, r->t->scratch, sizeof(r->t->scratch), r->m->method, cls,
			    r->m->txid);
}

long w2__turn_reply_send(struct w2__turn_req *r, struct w2_stun_writer *w)
{
	size_t len;
	int err;

	/* RFC 8489 section 9.2.4: a response to an authenticated request is
	 * protected with the same key and the same kind of integrity. */
	if (r->authed && r->sha256)
		w2_stun_put_integrity_sha256(w, r->key, r->key_len);
	else if (r->authed)
		w2_stun_put_integrity(w, r->key, r->key_len);
	/* RFC 8489 section 7.3: FINGERPRINT only when the request had one. */
	if (r->fingerprint)
		w2_stun_put_fingerprint(w);
	err = w2_stun_writer_finish(w, &len);
	if (err != 0)
		return err;
	r->t->ops->send_to_client(r->t->io, r->c, w->buf, len);
	return (long)len;
}

void w2__turn_reply_error(struct w2__turn_req *r, int code)
{
	struct w2_stun_writer w;

	w2__turn_reply_begin(r, &w, W2_STUN_ERROR);
	w2_stun_put_error(&w, code, NULL);
	w2__turn_reply_send(r, &w);
}

/* ---- Binding (RFC 8489 section 6.3) ------------------------------------ */

static void on_binding(struct w2__turn_req *r)
{
	struct w2_stun_writer w;

	r->t->stats.binding_requests_total++;
	if (r->m->n_unknown > 0) {
		w2__turn_reply_begin(r, &w, W2_STUN_ERROR);
		w2_stun_put_error(&w, W2_STUN_ERR_UNKNOWN_ATTRIBUTE, NULL);
		w2_stun_put_unknown(&w, r->m->unknown, r->m->n_unknown);
		w2__turn_reply_send(r, &w);
		return;
	}
	w2__turn_reply_begin(r, &w, W2_STUN_SUCCESS);
	w2_stun_put_addr(&w, W2_STUN_A_XOR_MAPPED_ADDRESS, (const struct sockaddr *)&r->c->addr,
			 true);
	w2__turn_reply_send(r, &w);
}

/* ---- dispatch ---------------------------------------------------------- */

typedef void (*w2__turn_handler)(struct w2__turn_req *r);

/* Authenticated TURN requests (RFC 8656 sections 7-12). Binding is handled
 * apart: it needs no credential. */
static const struct {
	uint16_t method;
	w2__turn_handler handler;
} request_methods[] = {
	{W2_TURN_ALLOCATE, w2__turn_on_allocate},
	{W2_TURN_REFRESH, w2__turn_on_refresh},
	{W2_TURN_CREATE_PERMISSION, w2__turn_on_create_permission},
	{W2_TURN_CHANNEL_BIND, w2__turn_on_channel_bind},
};

static w2__turn_handler find_handler(uint16_t method)
{
	for (size_t i = 0; i < sizeof(request_methods) / sizeof(request_methods[0]); i++)
		if (request_methods[i].method == method)
			return request_methods[i].handler;
	return NULL;
}

/* Retransmissions answered from a cache, before authentication: the
 * transaction id (96 random bits) from the same 5-tuple identifies them,
 * and the cached bytes are what the first answer was (RFC 8656 sections
 * 7.2 and 8.2). Returns true when answered. */
static bool resend_cached(struct w2__turn_req *r)
{
	const struct w2__turn_tomb *tomb;

	if (r->m->method == W2_TURN_ALLOCATE && r->a &&
	    memcmp(r->a->txid, r->m->txid, W2_STUN_TXID_LEN) == 0 && r->a->resp_len > 0) {
		r->t->ops->send_to_client(r->t->io, r->c, r->a->resp, r->a->resp_len);
		return true;
	}
	if (r->m->method != W2_TURN_REFRESH || r->a)
		return false;
	tomb = w2__turn_tomb_find(r->t, r->c, r->m->txid);
	if (!tomb)
		return false;
	r->t->ops->send_to_client(r->t->io, r->c, tomb->resp, tomb->resp_len);
	return true;
}

static void reply_unknown_attributes(struct w2__turn_req *r)
{
	struct w2_stun_writer w;

	w2__turn_reply_begin(r, &w, W2_STUN_ERROR);
	w2_stun_put_error(&w, W2_STUN_ERR_UNKNOWN_ATTRIBUTE, NULL);
	w2_stun_put_unknown(&w, r->m->unknown, r->m->n_unknown);
	w2__turn_reply_send(r, &w);
}

static void handle_request(struct w2__turn_req *r)
{
	w2__turn_handler handler;
	const struct sockaddr *src = (const struct sockaddr *)&r->c->addr;

	if (r->m->method == W2_STUN_BINDING) {
		if (w2__turn_rate_take(r->t, src, r->now_ms))
			on_binding(r);
		return;
	}
	handler = find_handler(r->m->method);
	if (!handler) {
		/* RFC 8489 section 6.3.1: an unknown method gets 400. */
		if (w2__turn_rate_take(r->t, src, r->now_ms))
			w2__turn_reply_error(r, W2_STUN_ERR_BAD_REQUEST);
		return;
	}
	if (resend_cached(r))
		return;
	if (w2__turn_authenticate(r) != 0)
		return;
	/* RFC 8489 section 6.3.1: unknown comprehension-required attributes
	 * are checked once the credential is known to be good. */
	if (r->m->n_unknown > 0) {
		reply_unknown_attributes(r);
		return;
	}
	handler(r);
}

static void handle_stun(struct w2_turn *t, const struct w2_turn_client *c, const uint8_t *buf,
			size_t len, uint64_t now_ms)
{
	struct w2_stun_msg m;
	struct w2_turn_alloc *a;
	struct w2__turn_req r;

	if (w2_stun_parse(buf, len, &m) != 0 ||
	    (m.fingerprint >= 0 && w2_stun_check_fingerprint(&m) != 0)) {
		t->stats.malformed_total++;
		return;
	}
	if (m.cls == W2_STUN_INDICATION) {
		/* RFC 8656 section 11.2; other indications have no meaning to
		 * a server and are dropped silently. */
		if (m.method == W2_TURN_SEND)
			w2__turn_on_send(t, c, &m, now_ms);
		return;
	}
	if (m.cls != W2_STUN_REQUEST) {
		t->stats.malformed_total++; /* a response: nothing was asked */
		return;
	}
	a = w2__turn_find(t, c);
	memset(&r, 0, sizeof(r));
	r.t = t;
	r.c = c;
	r.m = &m;
	r.now_ms = now_ms;
	r.a = a && now_ms < a->expires_ms ? a : NULL;
	r.fingerprint = m.fingerprint >= 0;
	handle_request(&r);
}

void w2_turn_handle_client(struct w2_turn *t, const struct w2_turn_client *c,
			   const uint8_t *buf, size_t len, uint64_t now_ms)
{
	if (!t || !c || !buf)
		return;
	/* RFC 8656 section 12.4: the first two bits tell STUN (00) from
	 * ChannelData (01); anything else is not ours. */
	if (w2_stun_is_channeldata(buf, len))
		w2__turn_on_channeldata(t, c, buf, len, now_ms);
	else if (w2_stun_is_stun(buf, len))
		handle_stun(t, c, buf, len, now_ms);
	else
		t->stats.malformed_total++;
}

/* ---- lifetime ---------------------------------------------------------- */

static int copy_self(struct w2_turn *t, const struct sockaddr_storage *self, size_t n_self)
{
	if (!self || n_self == 0)
		return 0;
	t->self = w2_calloc(n_self, sizeof(*self));
	if (!t->self)
		return W2_ENOMEM;
	memcpy(t->self, self, n_self * sizeof(*self));
	t->n_self = n_self;
	return 0;
}

int w2_turn_create(struct w2_turn **out, const struct w2_turn_settings *cfg,
		   const struct w2_turn_ops *ops, void *io, const struct sockaddr_storage *self,
		   size_t n_self)
{
	struct w2_turn *t;
	int err;

	*out = NULL;
	if (!cfg || !ops || !cfg->realm || cfg->realm[0] == '\0' ||
	    strlen(cfg->realm) > W2__TURN_REALM_MAX)
		return W2_EINVAL;
	if (sodium_init() < 0)
		return W2_EIO;
	t = w2_calloc(1, sizeof(*t));
	if (!t)
		return W2_ENOMEM;
	t->cfg = cfg;
	t->ops = ops;
	t->io = io;
	t->realm_len = strlen(cfg->realm);
	/* Keys for the nonce MAC and the table hashes: random per engine, so
	 * nonces cannot be forged and addresses cannot be aimed at one
	 * bucket. */
	randombytes_buf(t->nonce_key, sizeof(t->nonce_key));
	randombytes_buf(t->hash_key, sizeof(t->hash_key));
	randombytes_buf(t->data_txid, sizeof(t->data_txid));
	err = copy_self(t, self, n_self);
	if (err == 0)
		err = w2__turn_table_init(t);
	if (err != 0) {
		w2_turn_destroy(t);
		return err;
	}
	*out = t;
	W2_LOG_DEBUG(W2__TURN_MOD, "event=engine_created max_allocations=%u",
		     (unsigned)cfg->max_allocations);
	return 0;
}

void w2_turn_destroy(struct w2_turn *t)
{
	if (!t)
		return;
	w2__turn_table_deinit(t);
	w2_free(t->self);
	sodium_memzero(t->nonce_key, sizeof(t->nonce_key));
	w2_free(t);
}

const struct w2_turn_stats *w2_turn_stats(const struct w2_turn *t)
{
	return &t->stats;
}
