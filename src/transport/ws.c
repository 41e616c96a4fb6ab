/* WebSocket connections (RFC 6455) on wslay's frame API.
 *
 * wslay parses frame headers and unmasks payloads. Its context carries a
 * 4 KiB input buffer, so it exists only while a connection is active: the
 * sweep frees it once the connection has been idle for a second with all
 * input consumed (w2__ws_idle), and the next read makes a new one. Outgoing
 * frames need no state, so their 2-10 byte header is written here
 * (section 5.2) straight into the output queue. This file enforces what
 * wslay leaves to its user: client frames must be masked (section 5.1), no
 * RSV bits without an extension (5.2), known opcodes only, continuation
 * rules (5.4), text must be UTF-8 (8.1), and the close handshake (7).
 * A message that arrives whole in one read is handed to the engine straight
 * from wslay's buffer; only fragmented or multi-read messages are copied. */
#include "transport/transport_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"
#include "core/utf8.h"
#include "signal/proto.h"

#include <string.h>

#define MOD "ws"

static ssize_t ws_recv_cb(uint8_t *buf, size_t len, int flags, void *user)
{
	struct w2_conn *c = user;
	size_t n = c->in_len < len ? c->in_len : len;

	if (n == 0)
		return -1; /* wslay: WSLAY_ERR_WANT_READ */
	memcpy(buf, c->in_ptr, n);
	c->in_ptr += n;
	c->in_len -= n;
	c->ws_given += n;
	return (ssize_t)n;
}

static const struct wslay_frame_callbacks ws_callbacks = {
	.send_callback = NULL, /* frames are written by send_frame_raw */
	.recv_callback = ws_recv_cb,
	.genmask_callback = NULL,
};

static int engine_send_text(struct w2_conn *c, const struct iovec *iov, int n);
static void engine_close(struct w2_conn *c, uint16_t code, const char *reason);

const struct w2_conn_ops w2__ws_conn_ops = {
	.send_text = engine_send_text,
	.close = engine_close,
};

int w2__ws_start(struct w2_conn *c)
{
	c->srv->metrics->websockets++;
	c->is_ws = true;
	c->state = W2_CONN_WS;
	c->last_ping_ms = uv_now(c->srv->loop);
	c->session = w2_signal_open(c->srv->engine, c, &w2__ws_conn_ops, w2__now_ms());
	return c->session ? 0 : W2_ENOMEM;
}

void w2__ws_release(struct w2_conn *c)
{
	if (c->ws)
		wslay_frame_context_free(c->ws);
	c->ws = NULL;
	w2_free(c->msg);
	c->msg = NULL;
	c->msg_len = c->msg_cap = 0;
}

void w2__ws_idle(struct w2_conn *c)
{
	/* Only at a frame boundary with every byte given to wslay consumed:
	 * then its buffer holds nothing and a fresh context can take over. */
	if (!c->ws || c->in_message || c->frame_off != 0 || c->ws_given != c->ws_used)
		return;
	wslay_frame_context_free(c->ws);
	c->ws = NULL;
	c->ws_given = c->ws_used = 0;
}

/* ---- sending ------------------------------------------------------------ */

static int send_frame_raw(struct w2_conn *c, uint8_t opcode, const struct iovec *iov, int n)
{
	uint8_t h[10];
	size_t hl = 2;
	size_t total = 0;

	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	h[0] = (uint8_t)(0x80 | opcode); /* FIN; server frames are not masked */
	if (total < 126) {
		h[1] = (uint8_t)total;
	} else if (total <= 0xffff) {
		h[1] = 126;
		h[2] = (uint8_t)(total >> 8);
		h[3] = (uint8_t)total;
		hl = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (uint8_t)((uint64_t)total >> (56 - 8 * i));
		hl = 10;
	}
	if (w2_outq_append(&c->srv->pool, &c->out, h, hl) != 0)
		goto broken;
	for (int i = 0; i < n; i++)
		if (iov[i].iov_len &&
		    w2_outq_append(&c->srv->pool, &c->out, iov[i].iov_base, iov[i].iov_len) != 0)
			goto broken;
	w2__conn_mark_dirty(c);
	return 0;
broken:
	/* A half-written frame would corrupt the stream: drop the connection. */
	w2__conn_hard_close(c);
	return W2_ENOMEM;
}

int w2__ws_send_frame(struct w2_conn *c, uint8_t opcode, const struct iovec *iov, int n)
{
	if (c->state != W2_CONN_WS && !(c->state == W2_CONN_CLOSING && opcode == WSLAY_CONNECTION_CLOSE))
		return W2_ECLOSED;
	return send_frame_raw(c, opcode, iov, n);
}

static size_t queued_bytes(const struct w2_conn *c)
{
	return c->out.bytes + c->tls_wire.bytes;
}

static int engine_send_text(struct w2_conn *c, const struct iovec *iov, int n)
{
	size_t total = 0;

	if (c->state != W2_CONN_WS)
		return W2_ECLOSED;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (queued_bytes(c) + total > c->srv->cfg->limits.max_queued_bytes) {
		/* A reader this slow must not grow our memory (protocol.md). */
		c->srv->metrics->slow_consumer_closes_total++;
		W2_LOG_DEBUG(MOD, "closing a slow consumer queued=%zu", queued_bytes(c));
		w2__ws_close(c, W2_CLOSE_TOO_SLOW, "too slow: queue limit reached");
		return W2_ELIMIT;
	}
	return w2__ws_send_frame(c, WSLAY_TEXT_FRAME, iov, n);
}

static void engine_close(struct w2_conn *c, uint16_t code, const char *reason)
{
	w2__ws_close(c, code, reason);
}

void w2__ws_close(struct w2_conn *c, uint16_t code, const char *reason)
{
	uint8_t payload[125];
	size_t rlen = reason ? strlen(reason) : 0;
	struct iovec iov;

	if (c->state != W2_CONN_WS && c->state != W2_CONN_CLOSING)
		return;
	if (c->close_sent)
		return;
	if (rlen > sizeof(payload) - 2)
		rlen = sizeof(payload) - 2;
	payload[0] = (uint8_t)(code >> 8);
	payload[1] = (uint8_t)code;
	if (rlen)
		memcpy(payload + 2, reason, rlen);
	iov.iov_base = payload;
	iov.iov_len = rlen + 2;
	c->state = W2_CONN_CLOSING;
	c->close_sent = true;
	c->deadline_ms = uv_now(c->srv->loop) + W2_CLOSE_GRACE_MS;
	if (c->close_received)
		c->close_after_flush = true;
	send_frame_raw(c, WSLAY_CONNECTION_CLOSE, &iov, 1);
}

/* ---- receiving ---------------------------------------------------------- */

static void protocol_error(struct w2_conn *c, uint16_t code, const char *why)
{
	W2_LOG_DEBUG(MOD, "closing: %s", why);
	w2__ws_close(c, code, why);
	c->close_after_flush = true; /* do not wait for a broken peer */
}

static void deliver(struct w2_conn *c, const uint8_t *data, size_t len)
{
	if (c->state != W2_CONN_WS)
		return;
	if (c->msg_binary) {
		w2_signal_handle_refused(c->srv->engine, c->session, W2_EPROTO, w2__now_ms());
		return;
	}
	if (!w2_utf8_valid(data, len)) {
		protocol_error(c, W2_CLOSE_BAD_DATA, "text frame is not valid UTF-8");
		return;
	}
	w2_signal_handle_text(c->srv->engine, c->session, (const char *)data, len, w2__now_ms());
}

static void handle_control(struct w2_conn *c, uint8_t opcode, const uint8_t *p, size_t len)
{
	struct iovec iov = {(void *)p, len};
	uint16_t code = W2_CLOSE_NORMAL;

	switch (opcode) {
	case WSLAY_PING:
		w2__ws_send_frame(c, WSLAY_PONG, &iov, 1);
		return;
	case WSLAY_PONG:
		return;
	case WSLAY_CONNECTION_CLOSE:
		c->close_received = true;
		if (len == 1) {
			protocol_error(c, W2_CLOSE_PROTOCOL, "close frame of one byte");
			return;
		}
		if (len >= 2)
			code = (uint16_t)(p[0] << 8 | p[1]);
		if (c->close_sent) {
			w2__conn_hard_close(c); /* handshake complete */
			return;
		}
		w2__ws_close(c, code, NULL);
		c->close_after_flush = true;
		return;
	}
}

/* Checks the first chunk of a frame. Returns false after closing. */
static bool frame_start_ok(struct w2_conn *c, const struct wslay_frame_iocb *io)
{
	if (!io->mask)
		protocol_error(c, W2_CLOSE_PROTOCOL, "client frames must be masked");
	else if (io->rsv)
		protocol_error(c, W2_CLOSE_PROTOCOL, "reserved bits set without an extension");
	else if (io->opcode == WSLAY_CONTINUATION_FRAME && !c->in_message)
		protocol_error(c, W2_CLOSE_PROTOCOL, "continuation without a message");
	else if ((io->opcode == WSLAY_TEXT_FRAME || io->opcode == WSLAY_BINARY_FRAME) &&
		 c->in_message)
		protocol_error(c, W2_CLOSE_PROTOCOL, "new message inside a fragmented one");
	else if (io->opcode > WSLAY_BINARY_FRAME && io->opcode != WSLAY_CONNECTION_CLOSE &&
		 io->opcode != WSLAY_PING && io->opcode != WSLAY_PONG)
		protocol_error(c, W2_CLOSE_PROTOCOL, "unknown opcode");
	else
		return true;
	return false;
}

static int msg_append(struct w2_conn *c, const uint8_t *p, size_t len)
{
	if (len == 0)
		return 0; /* empty fragments are legal; nothing to copy */
	if (c->msg_len + len > c->msg_cap) {
		size_t cap = c->msg_cap ? c->msg_cap : 4096;
		uint8_t *m;

		while (cap < c->msg_len + len)
			cap *= 2;
		m = w2_realloc(c->msg, cap);
		if (!m)
			return W2_ENOMEM;
		c->msg = m;
		c->msg_cap = cap;
	}
	memcpy(c->msg + c->msg_len, p, len);
	c->msg_len += len;
	return 0;
}

/* Ends the current message: hands it on unless it was discarded. */
static void message_end(struct w2_conn *c, const uint8_t *whole, size_t whole_len)
{
	bool discarded = c->discarding;

	c->in_message = false;
	c->discarding = false;
	c->msg_size = 0;
	if (!discarded)
		deliver(c, whole ? whole : c->msg, whole ? whole_len : c->msg_len);
	c->msg_len = 0;
	/* Large assembly buffers are not kept by idle connections. */
	if (c->msg_cap > 4096) {
		w2_free(c->msg);
		c->msg = NULL;
		c->msg_cap = 0;
	}
}

/* One chunk of a data frame (text, binary or continuation). */
static void handle_data(struct w2_conn *c, const struct wslay_frame_iocb *io, uint64_t off,
			bool frame_end)
{
	uint64_t limit = c->srv->cfg->limits.max_message_bytes;

	if (off == 0 && io->opcode != WSLAY_CONTINUATION_FRAME) {
		c->in_message = true;
		c->msg_binary = io->opcode == WSLAY_BINARY_FRAME;
		c->msg_size = 0;
		c->msg_len = 0;
		/* Fast path: a whole unfragmented message in wslay's buffer. */
		if (frame_end && io->fin && io->data_length == io->payload_length &&
		    io->payload_length <= limit) {
			message_end(c, io->data, io->data_length);
			return;
		}
	}
	if (off == 0)
		c->msg_size += io->payload_length;
	if (!c->discarding && c->msg_size > limit) {
		c->discarding = true;
		c->msg_len = 0;
		if (c->state == W2_CONN_WS)
			w2_signal_handle_refused(c->srv->engine, c->session, W2_ELIMIT, w2__now_ms());
	}
	if (!c->discarding && c->state == W2_CONN_WS && msg_append(c, io->data, io->data_length)) {
		w2__conn_hard_close(c);
		return;
	}
	if (frame_end && io->fin)
		message_end(c, NULL, 0);
}

/* Bytes of the frame header wslay consumed: it refuses non-minimal length
 * encodings, so the length field's size follows from the payload length. */
static uint64_t header_len(const struct wslay_frame_iocb *io)
{
	uint64_t n = 2 + (io->mask ? 4 : 0);

	if (io->payload_length >= 65536)
		n += 8;
	else if (io->payload_length >= 126)
		n += 2;
	return n;
}

void w2__ws_feed(struct w2_conn *c, const uint8_t *data, size_t len)
{
	struct wslay_frame_iocb io;
	ssize_t r;

	/* After a protocol error or a completed close nothing more is read:
	 * the rest of a bad frame must not be parsed as if it were good. */
	if (c->close_after_flush)
		return;
	if (!c->ws && wslay_frame_context_init(&c->ws, &ws_callbacks, c) != 0) {
		w2__conn_hard_close(c);
		return;
	}
	c->in_ptr = data;
	c->in_len = len;
	while ((c->state == W2_CONN_WS || c->state == W2_CONN_CLOSING) && !c->close_after_flush) {
		r = wslay_frame_recv(c->ws, &io);
		if (r == WSLAY_ERR_WANT_READ)
			break;
		if (r < 0) {
			protocol_error(c, W2_CLOSE_PROTOCOL, "malformed frame");
			break;
		}
		uint64_t off = c->frame_off;
		bool end = off + (uint64_t)r == io.payload_length;

		c->ws_used += (off == 0 ? header_len(&io) : 0) + (uint64_t)r;

		c->frame_off = end ? 0 : off + (uint64_t)r;
		if (off == 0 && !frame_start_ok(c, &io))
			break;
		if (io.opcode >= WSLAY_CONNECTION_CLOSE) {
			/* Control frames are at most 125 bytes (wslay checks) but
			 * may arrive in pieces across reads. */
			if (off == 0)
				c->ctrl_len = 0;
			if (c->ctrl_len + io.data_length > sizeof(c->ctrl)) {
				protocol_error(c, W2_CLOSE_PROTOCOL, "control frame too long");
				break;
			}
			memcpy(c->ctrl + c->ctrl_len, io.data, io.data_length);
			c->ctrl_len += (uint8_t)io.data_length;
			if (end)
				handle_control(c, io.opcode, c->ctrl, c->ctrl_len);
			continue;
		}
		if (c->state == W2_CONN_WS)
			handle_data(c, &io, off, end);
	}
	c->in_ptr = NULL;
	c->in_len = 0;
}
