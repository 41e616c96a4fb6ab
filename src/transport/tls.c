/* TLS 1.3 on OpenSSL memory BIOs: the socket stays with libuv, OpenSSL only
 * transforms bytes. Ciphertext read from the socket goes into the read BIO;
 * SSL_read yields plaintext; plaintext queued for the client is encrypted
 * once per flush (many frames per TLS record) into the write BIO and moved
 * to the connection's wire queue. */
#include "transport/transport_int.h"

#include "core/error.h"
#include "core/log.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#define MOD "tls"

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
	BIO *rbio, *wbio;

	c->ssl = SSL_new(c->srv->ssl_ctx);
	if (!c->ssl)
		return W2_ENOMEM;
	rbio = BIO_new(BIO_s_mem());
	wbio = BIO_new(BIO_s_mem());
	if (!rbio || !wbio) {
		BIO_free(rbio);
		BIO_free(wbio);
		return W2_ENOMEM;
	}
	/* An empty memory BIO reports "retry", not EOF. */
	BIO_set_mem_eof_return(rbio, -1);
	BIO_set_mem_eof_return(wbio, -1);
	SSL_set_bio(c->ssl, rbio, wbio);
	SSL_set_accept_state(c->ssl);
	c->state = W2_CONN_TLS_HANDSHAKE;
	return 0;
}

/* Moves ciphertext OpenSSL produced into the wire queue; mark: schedule a
 * flush (not needed when called from within one). */
static int drain_wbio(struct w2_conn *c, bool mark)
{
	BIO *wbio = SSL_get_wbio(c->ssl);
	char buf[16384];
	int n;

	while ((n = BIO_read(wbio, buf, sizeof(buf))) > 0)
		if (w2_outq_append(&c->srv->pool, &c->tls_wire, buf, (size_t)n) != 0)
			return W2_ENOMEM;
	if (mark && c->tls_wire.bytes)
		w2__conn_mark_dirty(c);
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
	if (BIO_write(SSL_get_rbio(c->ssl), data, (int)len) != (int)len)
		goto dead;
	if (c->state == W2_CONN_TLS_HANDSHAKE) {
		r = SSL_do_handshake(c->ssl);
		if (drain_wbio(c, true) != 0)
			goto dead;
		if (r != 1) {
			if (!tls_failed(c, r))
				return true;
			/* Send OpenSSL's alert (e.g. protocol_version to a TLS 1.2
			 * client) so the client learns why, then close. */
			c->close_after_flush = true;
			w2__conn_mark_dirty(c);
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
	if (c->state != W2_CONN_CLOSED && drain_wbio(c, true) != 0)
		goto dead;
	return c->state != W2_CONN_CLOSED;
dead:
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
	return drain_wbio(c, false);
}
