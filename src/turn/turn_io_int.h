/* Internal to the TURN I/O layer: what turn_io.c (thread, UDP, relay
 * sockets, batched sends) and turn_stream.c (TCP and TLS clients) share. */
#ifndef W2_TURN_TURN_IO_INT_H
#define W2_TURN_TURN_IO_INT_H

/* recvmmsg/sendmmsg and struct mmsghdr are GNU extensions; this header is
 * included first by the files that use them. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "stun/stun.h"
#include "transport/outq.h"
#include "turn/turn_io.h"

#include <openssl/ssl.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <uv.h>

#define IO_RECV_BATCH 32          /* datagrams per recvmmsg */
#define IO_RECV_ROUNDS 8          /* recvmmsg calls per readiness event: fairness */
#define IO_SEND_SLOTS 256         /* datagrams queued before a sendmmsg flush */
#define IO_SEND_SLAB (1u << 20)   /* bytes of queued datagrams */
#define IO_DGRAM_MAX 65536
#define IO_SLOT (W2_TURN_PEER_HEADROOM + IO_DGRAM_MAX + W2_TURN_PEER_TAILROOM)
#define IO_SOCKBUF (4 << 20)      /* SO_RCVBUF/SO_SNDBUF asked for */

enum io_sock_kind { IO_UDP_LISTEN, IO_RELAY };

/* A UDP socket polled by the TURN loop: a listener or a relay socket. */
struct io_udp {
	uv_poll_t poll;
	int fd;
	enum io_sock_kind kind;
	bool closing;
	struct w2_turn_server *srv;
	struct w2_turn_alloc *alloc;  /* relay sockets: the allocation it serves */
};

/* A TCP or TLS client connection. */
struct io_stream {
	uv_tcp_t tcp;
	struct w2_turn_server *srv;
	struct io_stream *prev, *next;      /* all streams */
	struct io_stream *next_pending;     /* dirty or doomed list */
	bool tls;
	bool queued, doomed, closing, writing, spoke;
	SSL *ssl;
	uint8_t *in;                        /* frame assembly, IO_STREAM_IN bytes */
	size_t in_len;
	struct w2_outq out;                 /* bytes to write (ciphertext for TLS) */
	size_t inflight;
	uv_write_t wreq;
	uint64_t last_in_ms;
	struct sockaddr_storage peer;       /* the client's address, read at accept */
};

#define IO_STREAM_IN (W2_STUN_HEADER_LEN + 65535 + 4)
#define IO_STREAM_OUT_MAX (4u << 20)  /* a client that reads slower is dropped */
#define IO_STREAM_HELLO_MS 10000      /* time to send a first message */

struct w2_turn_server {
	const struct w2_config *cfg;
	struct w2_turn *engine;
	uv_loop_t loop;
	uv_thread_t thread;
	uv_async_t stop_async;
	uv_timer_t tick;
	bool started, stopped;

	struct io_udp *udp;                 /* listeners, n_udp */
	size_t n_udp;
	int *tcp_fds;                       /* listening TCP fds until the thread opens them */
	uv_tcp_t *tcp;                      /* n_tcp */
	bool *tcp_tls;
	size_t n_tcp;
	SSL_CTX *tls_ctx;

	/* Relay sockets: their address (port 0) and the next port to try. */
	struct sockaddr_storage relay_addr;
	struct sockaddr_storage relay_addr6;
	bool has_relay4, has_relay6;
	struct sockaddr_storage advertised4; /* external_ip when set */
	uint32_t next_port;

	/* Receive buffers, IO_RECV_BATCH slots of IO_SLOT bytes. */
	uint8_t *rbuf;
	struct mmsghdr rmsg[IO_RECV_BATCH];
	struct iovec riov[IO_RECV_BATCH];
	struct sockaddr_storage raddr[IO_RECV_BATCH];

	/* Datagrams waiting for the end-of-dispatch sendmmsg. */
	uint8_t *slab;
	size_t slab_used;
	struct mmsghdr smsg[IO_SEND_SLOTS];
	struct iovec siov[IO_SEND_SLOTS];
	struct sockaddr_storage saddr[IO_SEND_SLOTS];
	int sfd[IO_SEND_SLOTS];
	size_t n_send;
	uint64_t send_drops;

	/* Streams. */
	struct io_stream *streams;
	size_t n_streams;
	struct io_stream *pending;          /* dirty or doomed, handled after dispatch */
	struct w2_pool pool;
	uint8_t *stream_rbuf;               /* libuv read buffer, 64 KiB */
	bool stream_rbuf_busy;

	/* Published counters (read by the main thread for /metrics). The one
	 * lock of the TURN role: taken once a second by each side. */
	uv_mutex_t stats_lock;
	struct w2_turn_stats stats;
	uint64_t stats_streams;
	uint64_t stats_send_drops;
};

/* Unix time in ms: the engine's clock (turn.h). */
uint64_t w2__turn_now_ms(void);

/* Queues one datagram on fd to addr for the next flush (copied). */
void w2__turn_io_queue(struct w2_turn_server *s, int fd, const struct sockaddr *addr,
		       const uint8_t *buf, size_t len);

/* Sends queued datagrams, flushes dirty streams, closes doomed ones. Called
 * at the end of every callback that may have fed the engine. */
void w2__turn_io_after_dispatch(struct w2_turn_server *s);

/* ---- turn_stream.c ---- */

/* Creates the TLS context from the configured certificate. */
int w2__turn_tls_init(struct w2_turn_server *s, char *err);
/* Starts listening on the TCP fds (TURN thread). */
int w2__turn_streams_start(struct w2_turn_server *s);
/* Queues bytes for a stream (encrypting for TLS); an overflow dooms it. */
void w2__turn_stream_send(struct w2_turn_server *s, struct io_stream *st, const uint8_t *buf,
			  size_t len);
/* Writes dirty streams and closes doomed ones. */
void w2__turn_streams_after_dispatch(struct w2_turn_server *s);
/* Closes idle streams (once a second). */
void w2__turn_streams_sweep(struct w2_turn_server *s, uint64_t now_ms);
/* Closes every stream and listener (stop). */
void w2__turn_streams_close_all(struct w2_turn_server *s);

#endif
