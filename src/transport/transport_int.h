/* Internals shared by the transport's files. */
#ifndef W2_TRANSPORT_TRANSPORT_INT_H
#define W2_TRANSPORT_TRANSPORT_INT_H

#include "transport/outq.h"
#include "transport/transport.h"

#include <http_parser.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <wslay/wslay.h>

#define W2_READ_BUF 65536
#define W2_HTTP_MAX_HEADER 16384  /* bytes of a request head */
#define W2_HTTP_IDLE_MS 30000
#define W2_CLOSE_GRACE_MS 2000    /* wait for the peer's close frame */

enum w2_conn_state {
	W2_CONN_TLS_HANDSHAKE, /* TLS listener, handshake not done */
	W2_CONN_HTTP,          /* reading HTTP requests */
	W2_CONN_WS,            /* WebSocket open */
	W2_CONN_CLOSING,       /* close frame sent or received; draining */
	W2_CONN_CLOSED,        /* uv_close called */
};

struct w2_listener {
	uv_tcp_t tcp;
	struct w2_server *srv;
	bool tls;
	bool loopback; /* /metrics is served on loopback listeners only */
	char name[80]; /* for errors at start-up, never logged at info */
};

/* HTTP request state; allocated only while a connection speaks HTTP. */
struct w2_http {
	http_parser parser;
	size_t head_bytes;
	bool in_value;
	int field; /* which header we are collecting, or -1 */
	char url[2048];
	size_t url_len;
	char fname[40];
	size_t fname_len;
	char ws_key[64];
	char ws_version[8];
	char ws_protocols[256];
	char if_none_match[128];
	char upgrade[32];
	char connection[128];
	bool url_too_long;
	bool header_too_long;
	bool complete;
};

struct w2_conn {
	uv_tcp_t tcp;
	struct w2_server *srv;
	struct w2_listener *listener;
	struct w2_conn *prev, *next;       /* all connections */
	struct w2_conn *next_dirty;        /* pending flush list */
	enum w2_conn_state state;
	bool dirty;
	bool writing;                      /* a uv_write is in flight */
	bool close_after_flush;            /* HTTP without keep-alive, or after close frame */
	bool close_sent, close_received;
	bool discarding;                   /* skipping an oversize message */
	bool msg_binary;
	bool in_message;                   /* a fragmented message is in progress */
	bool is_ws;                        /* upgraded (counted in websockets) */
	size_t inflight;                   /* bytes of `wire` owned by that write */
	struct w2_outq out;                /* plaintext to send */
	struct w2_outq tls_wire;           /* TLS records to send (TLS only) */
	SSL *ssl;
	struct w2_http *http;
	wslay_frame_context_ptr ws;
	const uint8_t *in_ptr;             /* bytes being fed to wslay */
	const uint8_t *tls_in;             /* ciphertext being fed to OpenSSL */
	size_t tls_in_len;
	size_t in_len;
	uint8_t *msg;                      /* message assembly (multi-chunk only) */
	size_t msg_len, msg_cap;
	uint64_t msg_size;                 /* bytes of the current message so far */
	uint64_t frame_off;                /* payload bytes of the current frame seen */
	uint64_t ws_given, ws_used;        /* bytes handed to wslay / consumed by it */
	uint8_t ctrl[125];                 /* a control frame being collected */
	uint8_t ctrl_len;
	uint64_t last_rx_ms, last_ping_ms, deadline_ms;
	struct w2_session *session;
};

struct w2_server {
	uv_loop_t *loop;
	const struct w2_config *cfg;
	struct w2_signal *engine;
	struct w2_metrics *metrics;
	SSL_CTX *ssl_ctx;
	struct w2_listener *listeners;
	size_t n_listeners;
	struct w2_listener adopt_listener; /* for w2__server_adopt */
	struct w2_conn *conns;
	struct w2_conn *dirty;
	struct w2_pool pool;
	uv_prepare_t prepare;
	uv_check_t check;
	uv_timer_t sweep;
	bool draining;
	bool stopping;
	uint64_t conn_high_water; /* connections at the last peak (heap trim) */
	uint64_t drain_deadline_ms;
	void (*drain_done)(void *);
	void *drain_arg;
	uint8_t read_buf[W2_READ_BUF];
	uint8_t plain_buf[W2_READ_BUF];
	char *scratch; /* response bodies (metrics) */
	size_t scratch_cap;
};

/* conn.c */
uint64_t w2__now_ms(void);
void w2__conn_mark_dirty(struct w2_conn *c);
int w2__conn_queue(struct w2_conn *c, const void *data, size_t len);
void w2__conn_hard_close(struct w2_conn *c);
void w2__conn_process_plain(struct w2_conn *c, const uint8_t *data, size_t len);
/* Test and fuzzing hook: wraps a connected stream socket as a connection
 * of a loopback listener, as if it had been accepted; TLS if tls is set and
 * the server has a TLS context. */
struct w2_conn *w2__server_adopt(struct w2_server *srv, uv_os_sock_t fd, bool tls);

/* ws.c */
int w2__ws_start(struct w2_conn *c);
void w2__ws_feed(struct w2_conn *c, const uint8_t *data, size_t len);
int w2__ws_send_frame(struct w2_conn *c, uint8_t opcode, const struct iovec *iov, int n);
void w2__ws_close(struct w2_conn *c, uint16_t code, const char *reason);
void w2__ws_release(struct w2_conn *c);
/* Frees the wslay context of an idle connection (see ws.c). */
void w2__ws_idle(struct w2_conn *c);
extern const struct w2_conn_ops w2__ws_conn_ops;

/* http.c */
int w2__http_start(struct w2_conn *c);
void w2__http_feed(struct w2_conn *c, const uint8_t *data, size_t len);
void w2__http_release(struct w2_conn *c);

/* Queues a complete response; extra: more header lines, each ending CRLF.
 * With head, the body is left out (its length is still announced). */
void w2__http_respond(struct w2_conn *c, int status, const char *type, const char *extra,
		      const void *body, size_t len, bool head, bool keep_alive);
/* The value of a hex digit, or -1. */
int w2__http_hexval(char ch);

/* api.c */
#define W2_API_GUEST_PATH "/auth/guest"
#define W2_API_INFO_PATH "/api/info"
/* Called when the head of a request to W2_API_GUEST_PATH is complete: answers
 * 405 (not POST) or 413 (a body) and returns -1, or returns 0 to go on. */
int w2__api_guest_head(struct w2_conn *c, int method, bool has_body);
/* Answers POST W2_API_GUEST_PATH (head is always false: HEAD got 405). */
void w2__api_guest(struct w2_conn *c, bool head, bool keep_alive);
/* Answers GET/HEAD W2_API_INFO_PATH. */
void w2__api_info(struct w2_conn *c, bool head, bool keep_alive);

/* static.c */
/* Serves path (already URL-decoded and checked) from the web root. */
void w2__static_serve(struct w2_conn *c, const char *path, const char *if_none_match,
		      bool head, bool keep_alive);

/* tls.c */
SSL_CTX *w2__tls_ctx_create(const char *cert_file, const char *key_file, char *err);
int w2__tls_start(struct w2_conn *c);
/* Decrypts data and feeds the plaintext on; false if the connection died. */
bool w2__tls_feed(struct w2_conn *c, const uint8_t *data, size_t len);
/* Encrypts c->out into c->tls_wire. */
int w2__tls_encrypt_pending(struct w2_conn *c);

#endif
