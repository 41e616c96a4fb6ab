/* TURN over TCP and TLS (RFC 8656 section 3.1): one framer for both.
 *
 * Bytes read (decrypted first for TLS) are collected until
 * w2_stun_stream_frame_len() sees a whole STUN or padded ChannelData
 * message, which goes to the engine. Output goes through a pooled queue;
 * a client whose queue passes IO_STREAM_OUT_MAX is dropped, because a relay
 * must not buffer without bound for a reader that does not keep up.
 *
 * Streams are never closed from inside an engine call (the engine would be
 * re-entered through w2_turn_handle_closed): they are marked doomed and
 * closed in w2__turn_streams_after_dispatch(). */
#include "turn/turn_io_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "stun/stun.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#define MOD "turn"
#define WRITE_BUFS 16

/* ---- TLS ------------------------------------------------------------------ */

int w2__turn_tls_init(struct w2_turn_server *s, char *err)
{
	const struct w2_config *cfg = s->cfg;
	bool need = false;

	for (size_t i = 0; i < s->n_tcp; i++)
		need |= s->tcp_tls[i];
	if (!need)
		return 0;
	if (!cfg->tls_cert_file || !cfg->tls_key_file) {
		snprintf(err, W2_CONFIG_ERR_MAX, "turn: a TLS listener needs tls.cert_file and "
			 "tls.key_file");
		return W2_ETLS;
	}
	s->tls_ctx = SSL_CTX_new(TLS_server_method());
	if (!s->tls_ctx)
		return W2_ENOMEM;
	/* TLS 1.2 as well as 1.3: TURN clients (coturn's, older devices) still
	 * use 1.2, and what is relayed is DTLS-protected inside anyway. */
	SSL_CTX_set_min_proto_version(s->tls_ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(s->tls_ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(s->tls_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	if (SSL_CTX_use_certificate_chain_file(s->tls_ctx, cfg->tls_cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(s->tls_ctx, cfg->tls_key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(s->tls_ctx) != 1) {
		snprintf(err, W2_CONFIG_ERR_MAX, "turn: cannot load the TLS certificate or key (%s)",
			 cfg->tls_cert_file);
		ERR_clear_error();
		return W2_ETLS;
	}
	return 0;
}

/* Moves ciphertext OpenSSL produced into the output queue. */
static void tls_drain(struct w2_turn_server *s, struct io_stream *st)
{
	BIO *wb = SSL_get_wbio(st->ssl);
	uint8_t buf[16384];
	int n;

	while ((n = BIO_read(wb, buf, sizeof(buf))) > 0)
		if (w2_outq_append(&s->pool, &st->out, buf, (size_t)n) != 0)
			st->doomed = true;
}

/* ---- lifecycle -------------------------------------------------------------- */

static void mark_pending(struct w2_turn_server *s, struct io_stream *st)
{
	if (st->queued)
		return;
	st->queued = true;
	st->next_pending = s->pending;
	s->pending = st;
}

static void on_stream_closed(uv_handle_t *h)
{
	struct io_stream *st = h->data;
	struct w2_turn_server *s = st->srv;

	w2_outq_clear(&s->pool, &st->out);
	if (st->ssl)
		SSL_free(st->ssl);
	w2_free(st->in);
	w2_free(st);
}

static void stream_close(struct w2_turn_server *s, struct io_stream *st)
{
	if (st->closing)
		return;
	st->closing = true;
	if (s->engine)
		w2_turn_handle_closed(s->engine, st);
	if (st->prev)
		st->prev->next = st->next;
	else
		s->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	s->n_streams--;
	uv_close((uv_handle_t *)&st->tcp, on_stream_closed);
}

/* ---- writing ---------------------------------------------------------------- */

static void stream_flush(struct w2_turn_server *s, struct io_stream *st);

static void on_written(uv_write_t *req, int status)
{
	struct io_stream *st = req->data;
	struct w2_turn_server *s = st->srv;

	st->writing = false;
	if (st->closing)
		return;
	w2_outq_consume(&s->pool, &st->out, st->inflight);
	st->inflight = 0;
	if (status != 0) {
		stream_close(s, st);
		return;
	}
	stream_flush(s, st);
}

static void stream_flush(struct w2_turn_server *s, struct io_stream *st)
{
	uv_buf_t bufs[WRITE_BUFS];
	unsigned n;

	if (st->writing || st->closing || st->out.bytes == 0)
		return;
	n = w2_outq_bufs(&st->out, bufs, WRITE_BUFS);
	st->inflight = 0;
	for (unsigned i = 0; i < n; i++)
		st->inflight += bufs[i].len;
	st->wreq.data = st;
	if (uv_write(&st->wreq, (uv_stream_t *)&st->tcp, bufs, n, on_written) != 0) {
		st->inflight = 0;
		stream_close(s, st);
		return;
	}
	st->writing = true;
}

void w2__turn_stream_send(struct w2_turn_server *s, struct io_stream *st, const uint8_t *buf,
			  size_t len)
{
	if (st->closing || st->doomed)
		return;
	if (st->out.bytes + len > IO_STREAM_OUT_MAX) {
		W2_LOG_DEBUG(MOD, "stream client too slow: dropping its connection");
		mark_pending(s, st);
		st->doomed = true;
		return;
	}
	if (st->ssl) {
		if (SSL_write(st->ssl, buf, (int)len) != (int)len) {
			st->doomed = true;
			ERR_clear_error();
		}
		tls_drain(s, st);
	} else if (w2_outq_append(&s->pool, &st->out, buf, len) != 0) {
		st->doomed = true;
	}
	mark_pending(s, st);
}

void w2__turn_streams_after_dispatch(struct w2_turn_server *s)
{
	struct io_stream *st = s->pending;

	s->pending = NULL;
	while (st) {
		struct io_stream *next = st->next_pending;

		st->next_pending = NULL;
		st->queued = false;
		if (st->doomed)
			stream_close(s, st);
		else
			stream_flush(s, st);
		st = next;
	}
}

/* ---- reading ---------------------------------------------------------------- */

/* Hands every whole frame in st->in to the engine; keeps the partial tail. */
static void deliver_frames(struct w2_turn_server *s, struct io_stream *st, uint64_t now)
{
	struct w2_turn_client c = {.transport = st->tls ? W2_TURN_TLS : W2_TURN_TCP, .conn = st};
	size_t off = 0;
	long n = 0;

	c.addr = st->peer;
	while (!st->doomed && (n = w2_stun_stream_frame_len(st->in + off, st->in_len - off)) > 0) {
		st->spoke = true;
		w2_turn_handle_client(s->engine, &c, st->in + off, (size_t)n, now);
		off += (size_t)n;
	}
	if (n < 0 || (off == 0 && st->in_len == IO_STREAM_IN)) {
		/* Neither STUN nor ChannelData: the stream cannot be resynchronised. */
		st->doomed = true;
		mark_pending(s, st);
	}
	if (off > 0) {
		memmove(st->in, st->in + off, st->in_len - off);
		st->in_len -= off;
	}
}

/* Appends plaintext to the frame buffer, delivering as it fills. */
static void take_plain(struct w2_turn_server *s, struct io_stream *st, const uint8_t *p,
		       size_t len, uint64_t now)
{
	while (len > 0 && !st->doomed) {
		size_t room = IO_STREAM_IN - st->in_len;
		size_t k = len < room ? len : room;

		memcpy(st->in + st->in_len, p, k);
		st->in_len += k;
		p += k;
		len -= k;
		deliver_frames(s, st, now);
	}
}

static void take_tls(struct w2_turn_server *s, struct io_stream *st, const uint8_t *p,
		     size_t len, uint64_t now)
{
	uint8_t plain[16384];
	int n;

	if (BIO_write(SSL_get_rbio(st->ssl), p, (int)len) != (int)len) {
		st->doomed = true;
		return;
	}
	while (!st->doomed && (n = SSL_read(st->ssl, plain, sizeof(plain))) > 0)
		take_plain(s, st, plain, (size_t)n, now);
	if (!st->doomed && n <= 0) {
		int e = SSL_get_error(st->ssl, n);

		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			st->doomed = true;
		ERR_clear_error();
	}
	tls_drain(s, st); /* handshake records, alerts */
	mark_pending(s, st);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct io_stream *st = h->data;

	/* One read buffer for every stream: reads are processed at once. */
	buf->base = (char *)st->srv->stream_rbuf;
	buf->len = 65536;
}

static void on_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct io_stream *st = h->data;
	struct w2_turn_server *s = st->srv;
	uint64_t now;

	if (nread == 0)
		return;
	if (nread < 0) {
		stream_close(s, st);
		w2__turn_io_after_dispatch(s);
		return;
	}
	now = w2__turn_now_ms();
	st->last_in_ms = now;
	if (st->ssl)
		take_tls(s, st, (const uint8_t *)buf->base, (size_t)nread, now);
	else
		take_plain(s, st, (const uint8_t *)buf->base, (size_t)nread, now);
	if (st->doomed)
		mark_pending(s, st);
	w2__turn_io_after_dispatch(s);
}

/* ---- accepting -------------------------------------------------------------- */

static int stream_init_tls(struct w2_turn_server *s, struct io_stream *st)
{
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());

	st->ssl = SSL_new(s->tls_ctx);
	if (!st->ssl || !rb || !wb) {
		BIO_free(rb);
		BIO_free(wb);
		return W2_ENOMEM;
	}
	SSL_set_bio(st->ssl, rb, wb);
	SSL_set_accept_state(st->ssl);
	return 0;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct w2_turn_server *s = server->data;
	bool tls = s->tcp_tls[(uv_tcp_t *)server - s->tcp];
	struct io_stream *st;
	int alen;

	if (status != 0)
		return;
	st = w2_calloc(1, sizeof(*st));
	if (!st)
		return; /* the connection waits in the backlog */
	st->in = w2_malloc(IO_STREAM_IN);
	st->srv = s;
	st->tls = tls;
	st->tcp.data = st;
	uv_tcp_init(&s->loop, &st->tcp);
	if (!st->in || uv_accept(server, (uv_stream_t *)&st->tcp) != 0 ||
	    s->n_streams >= W2_TURN_MAX_STREAMS || (tls && stream_init_tls(s, st) != 0)) {
		/* Accepted only to be closed: the backlog must not fill. */
		uv_close((uv_handle_t *)&st->tcp, on_stream_closed);
		return;
	}
	st->last_in_ms = w2__turn_now_ms();
	alen = sizeof(st->peer);
	uv_tcp_getpeername(&st->tcp, (struct sockaddr *)&st->peer, &alen);
	st->next = s->streams;
	if (s->streams)
		s->streams->prev = st;
	s->streams = st;
	s->n_streams++;
	uv_tcp_nodelay(&st->tcp, 1);
	uv_read_start((uv_stream_t *)&st->tcp, on_alloc, on_read);
}

int w2__turn_streams_start(struct w2_turn_server *s)
{
	for (size_t i = 0; i < s->n_tcp; i++) {
		uv_tcp_init(&s->loop, &s->tcp[i]);
		s->tcp[i].data = s;
		if (uv_tcp_open(&s->tcp[i], s->tcp_fds[i]) != 0 ||
		    uv_listen((uv_stream_t *)&s->tcp[i], 511, on_connection) != 0)
			return W2_EIO;
		s->tcp_fds[i] = -1; /* the handle owns it now */
	}
	return 0;
}

void w2__turn_streams_sweep(struct w2_turn_server *s, uint64_t now_ms)
{
	uint64_t idle_ms = ((uint64_t)s->cfg->turn.max_lifetime_s + 60) * 1000;
	struct io_stream *st = s->streams;

	while (st) {
		struct io_stream *next = st->next;
		uint64_t quiet = now_ms > st->last_in_ms ? now_ms - st->last_in_ms : 0;

		/* Silent since connecting, or silent longer than any allocation
		 * can live without a Refresh: nothing is being served. */
		if ((!st->spoke && quiet > IO_STREAM_HELLO_MS) || quiet > idle_ms)
			stream_close(s, st);
		st = next;
	}
}

void w2__turn_streams_close_all(struct w2_turn_server *s)
{
	while (s->streams)
		stream_close(s, s->streams);
	s->pending = NULL;
	for (size_t i = 0; i < s->n_tcp; i++)
		uv_close((uv_handle_t *)&s->tcp[i], NULL);
}
