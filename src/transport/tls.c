/* TLS 1.3 with OpenSSL on a BIO of our own: the socket stays with libuv and
 * OpenSSL only transforms bytes, with no intermediate buffers. The BIO's
 * read side hands OpenSSL the bytes of the current socket read (libuv's
 * buffer, shared by all connections); its write side appends records
 * straight to the connection's pooled wire queue. Plaintext queued for the
 * client is encrypted once per flush, so many frames share a record.
 *
 * Memory BIOs were the first design: each kept its grown buffer for the
 * life of the connection (docs/benchmarks.md has the before and after). */
#include "transport/transport_int.h"

#include "core/error.h"
#include "core/log.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#define MOD "tls"

static int bio_conn_read(BIO *b, char *out, int len)
{
	struct w2_conn *c = BIO_get_data(b);
	size_t n = c->tls_in_len < (size_t)len ? c->tls_in_len : (size_t)len;

	BIO_clear_retry_flags(b);
	if (n == 0) {
		BIO_set_retry_read(b); /* not EOF: more may come from the socket */
		return -1;
	}
	memcpy(out, c->tls_in, n);
	c->tls_in += n;
	c->tls_in_len -= n;
	return (int)n;
}

static int bio_conn_write(BIO *b, const char *in, int len)
{
	struct w2_conn *c = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	if (w2_outq_append(&c->srv->pool, &c->tls_wire, in, (size_t)len) != 0)
		return -1;
	return len;
}

static long bio_conn_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	/* OpenSSL flushes after each handshake flight: the bytes are already
	 * queued, and the connection's own flush sends them. */
	return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_conn_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

/* One method table per process, made on first use by the loop thread. */
static BIO_METHOD *bio_conn_method(void)
{
	static BIO_METHOD *m;

	if (m)
		return m;
	m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "webrtc2 connection");
	if (!m)
		return NULL;
	BIO_meth_set_read(m, bio_conn_read);
	BIO_meth_set_write(m, bio_conn_write);
	BIO_meth_set_ctrl(m, bio_conn_ctrl);
	BIO_meth_set_create(m, bio_conn_create);
	return m;
}

SSL_CTX *w2__tls_ctx_create(const char *cert_file, const char *key_file, char *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		snprintf(err, 256, "tls: cannot create a context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	/* Release idle read/write buffers: most signaling connections are idle
	 * and this is most of an SSL object's memory. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	if (!cert_file || !key_file ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		unsigned long e = ERR_get_error();

		snprintf(err, 256, "tls: cannot load certificate %s and key %s: %s",
			 cert_file ? cert_file : "(none)", key_file ? key_file : "(none)",
			 e ? ERR_reason_error_string(e) : "not configured");
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int w2__tls_start(struct w2_conn *c)
{
	BIO_METHOD *m = bio_conn_method();
	BIO *bio;

	c->ssl = SSL_new(c->srv->ssl_ctx);
	if (!c->ssl || !m)
		return W2_ENOMEM;
	bio = BIO_new(m);
	if (!bio)
		return W2_ENOMEM;
	BIO_set_data(bio, c);
	SSL_set_bio(c->ssl, bio, bio); /* one reference serves both directions */
	SSL_set_accept_state(c->ssl);
	c->state = W2_CONN_TLS_HANDSHAKE;
	return 0;
}

static bool tls_failed(struct w2_conn *c, int r)
{
	int e = SSL_get_error(c->ssl, r);

	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return false;
	W2_LOG_DEBUG(MOD, "tls error %d", e);
	ERR_clear_error();
	return true;
}

bool w2__tls_feed(struct w2_conn *c, const uint8_t *data, size_t len)
{
	uint8_t *plain = c->srv->plain_buf;
	int r;

	if (c->close_after_flush && c->state == W2_CONN_TLS_HANDSHAKE)
		return false; /* a failed handshake: only the alert is left to send */
	c->tls_in = data;
	c->tls_in_len = len;
	if (c->state == W2_CONN_TLS_HANDSHAKE) {
		r = SSL_do_handshake(c->ssl);
		if (c->tls_wire.bytes)
			w2__conn_mark_dirty(c);
		if (r != 1) {
			c->tls_in_len = 0;
			if (!tls_failed(c, r))
				return true;
			/* Send OpenSSL's alert (e.g. protocol_version to a TLS 1.2
			 * client) so the client learns why, then close. */
			c->close_after_flush = true;
			return false;
		}
		if (w2__http_start(c) != 0)
			goto dead;
	}
	while (c->state != W2_CONN_CLOSED) {
		r = SSL_read(c->ssl, plain, W2_READ_BUF);
		if (r <= 0) {
			if (tls_failed(c, r))
				goto dead;
			break;
		}
		w2__conn_process_plain(c, plain, (size_t)r);
	}
	/* OpenSSL keeps partial records itself: the input is fully consumed. */
	c->tls_in_len = 0;
	if (c->state != W2_CONN_CLOSED && c->tls_wire.bytes)
		w2__conn_mark_dirty(c);
	return c->state != W2_CONN_CLOSED;
dead:
	c->tls_in_len = 0;
	w2__conn_hard_close(c);
	return false;
}

int w2__tls_encrypt_pending(struct w2_conn *c)
{
	struct w2_pool *pool = &c->srv->pool;

	if (c->state == W2_CONN_TLS_HANDSHAKE)
		return 0;
	while (c->out.first) {
		struct w2_chunk *ch = c->out.first;
		int len = (int)(ch->tail - ch->head);
		int r;

		if (len == 0) {
			w2_outq_consume(pool, &c->out, 0);
			if (c->out.first == ch)
				break;
			continue;
		}
		r = SSL_write(c->ssl, ch->data + ch->head, len);
		if (r <= 0)
			return tls_failed(c, r) ? W2_ETLS : 0;
		w2_outq_consume(pool, &c->out, (size_t)r);
	}
	return 0;
}
