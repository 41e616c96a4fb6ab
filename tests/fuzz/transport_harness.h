/* Shared body of the transport fuzz targets (fuzz_transport.c, fuzz_tls.c):
 * a real server on a real libuv loop, one socketpair connection per input,
 * adopted as if accepted. The input's first byte chooses how the rest is cut
 * into reads (all at once, or chunks of 7..889 bytes), because partial
 * headers, frames and records split across reads are where parsers break.
 * The server's answers are read from the other end and dropped. After each
 * input the connection must be closable and freed with nothing left over. */
#ifndef W2_TESTS_FUZZ_TRANSPORT_HARNESS_H
#define W2_TESTS_FUZZ_TRANSPORT_HARNESS_H

#include "core/alloc.h"
#include "core/config.h"
#include "signal/auth.h"
#include "signal/signal.h"
#include "transport/selfsigned.h"
#include "transport/transport_int.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HARNESS_SECRET "fuzz-secret-0123456789abcdef0123456789"

struct harness {
	uv_loop_t loop;
	struct w2_config *cfg;
	struct w2_auth *auth;
	struct w2_metrics metrics;
	struct w2_signal *engine;
	struct w2_server *srv;
};

static char harness_dir[] = "/tmp/w2-fuzz-XXXXXX";

/* Removes the temporary certificate folder when the process ends. */
static void harness_cleanup(void)
{
	static const char *const files[] = {"tls/cert.pem", "tls/key.pem", "tls", ""};
	char path[sizeof(harness_dir) + 16];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", harness_dir, files[i]);
		remove(path);
	}
}

/* The config: tight limits, guest sign-in on (POST /auth/guest), and a TLS
 * listener (never bound) so that the server loads a certificate, generated
 * once into a temporary folder. */
static struct w2_config *harness_config(void)
{
	char *dir = harness_dir;
	char yaml[384], err[W2_CONFIG_ERR_MAX];
	struct w2_config *cfg;
	struct w2_auth_key key = {.alg = W2_JWT_HS256, .material = (unsigned char *)HARNESS_SECRET,
				  .material_len = sizeof(HARNESS_SECRET) - 1};

	if (!mkdtemp(dir))
		abort();
	atexit(harness_cleanup);
	snprintf(yaml, sizeof(yaml),
		 "state_dir: %s\nlisten:\n  - address: 127.0.0.1:1\n    tls: true\n"
		 "limits: {max_message_bytes: 4096, max_queued_bytes: 65536}\n"
		 "auth: {guest_tokens: true}\n", dir);
	if (w2_config_parse(yaml, strlen(yaml), NULL, &cfg, err) != 0 ||
	    w2_config_add_key(cfg, &key) != 0 || w2_selfsigned_ensure(cfg, err) != 0)
		abort();
	return cfg;
}

static struct harness *harness_get(void)
{
	static struct harness h;
	static int ready;

	if (ready)
		return &h;
	w2_log_set_level(W2_LOG_LEVEL_ERROR);
	uv_loop_init(&h.loop);
	h.cfg = harness_config();
	if (w2_auth_create(&h.auth, h.cfg) != 0 ||
	    w2_signal_create(&h.engine, h.cfg, h.auth, &h.metrics) != 0 ||
	    w2_server_create(&h.srv, &h.loop, h.cfg, h.engine, &h.metrics) != 0)
		abort();
	ready = 1;
	return &h;
}

static void harness_run_loop(struct harness *h, int peer)
{
	char buf[65536];

	for (int i = 0; i < 4; i++) {
		uv_run(&h->loop, UV_RUN_NOWAIT);
		while (read(peer, buf, sizeof(buf)) > 0)
			;
	}
}

/* Feeds one input to a fresh connection, plain or TLS. */
static int harness_one_input(const uint8_t *data, size_t size, bool tls)
{
	struct harness *h = harness_get();
	int sv[2];
	struct w2_conn *c;
	size_t chunk, off = 1;

	if (size < 1 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 0;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	c = w2__server_adopt(h->srv, sv[0], tls);
	if (!c) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	chunk = data[0] < 128 ? size : (size_t)(data[0] - 127) * 7;
	/* Feed while the connection lives; it is freed only in uv_run. */
	while (off < size && h->metrics.connections > 0) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (c->state != W2_CONN_CLOSED) {
			if (tls)
				w2__tls_feed(c, data + off, n);
			else
				w2__conn_process_plain(c, data + off, n);
		}
		off += n;
		harness_run_loop(h, sv[1]);
	}
	if (h->metrics.connections > 0)
		w2__conn_hard_close(c);
	harness_run_loop(h, sv[1]);
	close(sv[1]);
	if (h->metrics.connections != 0 || h->metrics.sessions != 0 ||
	    h->metrics.bytes_queued != 0 || h->metrics.rooms != 0)
		abort(); /* something outlived its connection */
	return 0;
}

#endif
