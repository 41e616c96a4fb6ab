/* Fuzz target: the transport's whole input path, HTTP request -> WebSocket
 * upgrade -> frames -> protocol engine, on a real libuv loop.
 *
 * The input is what a client sends. Its first byte chooses how the rest is
 * cut into reads (all at once, or chunks of 7..889 bytes), because partial
 * headers and frames split across reads are where framing code breaks. The
 * connection is a socketpair adopted as if accepted; the server's answers
 * are read from the other end and dropped. After each input the connection
 * must be closable and freed, with nothing left queued. */
#include "core/alloc.h"
#include "core/config.h"
#include "signal/auth.h"
#include "signal/signal.h"
#include "transport/transport_int.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SECRET "fuzz-secret-0123456789abcdef0123456789"

struct harness {
	uv_loop_t loop;
	struct w2_config *cfg;
	struct w2_auth *auth;
	struct w2_metrics metrics;
	struct w2_signal *engine;
	struct w2_server *srv;
};

static struct harness *harness_get(void)
{
	static struct harness h;
	static int ready;
	struct w2_auth_key key = {.alg = W2_JWT_HS256, .material = (unsigned char *)SECRET,
				  .material_len = sizeof(SECRET) - 1};

	if (ready)
		return &h;
	uv_loop_init(&h.loop);
	if (w2_config_default(&h.cfg) != 0 || w2_config_add_key(h.cfg, &key) != 0)
		abort();
	h.cfg->limits.max_message_bytes = 4096;
	h.cfg->limits.max_queued_bytes = 65536;
	if (w2_auth_create(&h.auth, h.cfg) != 0 ||
	    w2_signal_create(&h.engine, h.cfg, h.auth, &h.metrics) != 0 ||
	    w2_server_create(&h.srv, &h.loop, h.cfg, h.engine, &h.metrics) != 0)
		abort();
	ready = 1;
	return &h;
}

static void drain_peer(int fd)
{
	char buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void run_loop(struct harness *h, int peer)
{
	for (int i = 0; i < 4; i++) {
		uv_run(&h->loop, UV_RUN_NOWAIT);
		drain_peer(peer);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct harness *h = harness_get();
	int sv[2];
	struct w2_conn *c;
	size_t chunk, off = 1;

	if (size < 1 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 0;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	c = w2__server_adopt(h->srv, sv[0]);
	if (!c) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	chunk = data[0] < 128 ? size : (size_t)(data[0] - 127) * 7;
	/* Feed while the connection lives; it is freed only in uv_run. */
	while (off < size && h->metrics.connections > 0) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (c->state != W2_CONN_CLOSED)
			w2__conn_process_plain(c, data + off, n);
		off += n;
		run_loop(h, sv[1]);
	}
	if (h->metrics.connections > 0)
		w2__conn_hard_close(c);
	run_loop(h, sv[1]);
	close(sv[1]);
	if (h->metrics.connections != 0 || h->metrics.sessions != 0 || h->metrics.bytes_queued != 0)
		abort(); /* a connection, session or queued byte outlived its socket */
	return 0;
}
