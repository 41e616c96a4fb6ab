/* HTTP/1.1 requests on http-parser: the WebSocket upgrade at /signal
 * (RFC 6455 section 4.2), /healthz, /metrics, the JSON API (api.c) and
 * static files.
 *
 * The request state is allocated when a connection starts speaking HTTP and
 * freed at the upgrade, so WebSocket connections do not carry it. */
#include "transport/transport_int.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MOD "http"
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define SUBPROTOCOL "webrtc2.v1"

/* Headers we read, by name; everything else is skipped. */
static const struct {
	const char *name;
	size_t offset;
	size_t size;
} wanted_headers[] = {
	{"sec-websocket-key", offsetof(struct w2_http, ws_key), sizeof(((struct w2_http *)0)->ws_key)},
	{"sec-websocket-version", offsetof(struct w2_http, ws_version),
	 sizeof(((struct w2_http *)0)->ws_version)},
	{"sec-websocket-protocol", offsetof(struct w2_http, ws_protocols),
	 sizeof(((struct w2_http *)0)->ws_protocols)},
	{"if-none-match", offsetof(struct w2_http, if_none_match),
	 sizeof(((struct w2_http *)0)->if_none_match)},
	{"upgrade", offsetof(struct w2_http, upgrade), sizeof(((struct w2_http *)0)->upgrade)},
	{"connection", offsetof(struct w2_http, connection),
	 sizeof(((struct w2_http *)0)->connection)},
};

#define N_WANTED (sizeof(wanted_headers) / sizeof(wanted_headers[0]))

static struct w2_conn *conn_of(http_parser *p)
{
	return p->data;
}

static int on_message_begin(http_parser *p)
{
	struct w2_http *h = conn_of(p)->http;

	h->url_len = 0;
	h->url_too_long = h->header_too_long = false;
	h->fname_len = 0;
	h->field = -1;
	h->in_value = false;
	for (size_t i = 0; i < N_WANTED; i++)
		((char *)h + wanted_headers[i].offset)[0] = '\0';
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct w2_http *h = conn_of(p)->http;

	if (h->url_len + len >= sizeof(h->url)) {
		h->url_too_long = true;
		return 0;
	}
	memcpy(h->url + h->url_len, at, len);
	h->url_len += len;
	h->url[h->url_len] = '\0';
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct w2_http *h = conn_of(p)->http;

	if (h->in_value) {
		h->in_value = false;
		h->fname_len = 0;
	}
	if (h->fname_len + len >= sizeof(h->fname)) {
		h->fname_len = sizeof(h->fname); /* too long to be one we want */
		return 0;
	}
	memcpy(h->fname + h->fname_len, at, len);
	h->fname_len += len;
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct w2_http *h = conn_of(p)->http;

	if (!h->in_value) {
		h->in_value = true;
		h->field = -1;
		for (size_t i = 0; i < N_WANTED && h->fname_len < sizeof(h->fname); i++)
			if (strlen(wanted_headers[i].name) == h->fname_len &&
			    strncasecmp(wanted_headers[i].name, h->fname, h->fname_len) == 0)
				h->field = (int)i;
	}
	if (h->field < 0)
		return 0;
	{
		char *dst = (char *)h + wanted_headers[h->field].offset;
		size_t cap = wanted_headers[h->field].size;
		size_t have = strlen(dst);

		if (have + len >= cap) {
			h->header_too_long = true;
			return 0;
		}
		memcpy(dst + have, at, len);
		dst[have + len] = '\0';
	}
	return 0;
}


/* ---- responses ---------------------------------------------------------- */

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

void w2__http_respond(struct w2_conn *c, int status, const char *type, const char *extra,
		      const void *body, size_t len, bool head, bool keep_alive)
{
	char hdr[1024];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\nServer: webrtc2d\r\nContent-Length: %zu\r\n"
			 "Content-Type: %s\r\nX-Content-Type-Options: nosniff\r\n%s%s\r\n",
			 status, status_text(status), len, type, extra ? extra : "",
			 keep_alive ? "" : "Connection: close\r\n");

	c->srv->metrics->http_requests_total++;
	if (n < 0 || (size_t)n >= sizeof(hdr) || w2__conn_queue(c, hdr, (size_t)n) != 0 ||
	    (!head && len > 0 && w2__conn_queue(c, body, len) != 0)) {
		w2__conn_hard_close(c);
		return;
	}
	if (!keep_alive)
		c->close_after_flush = true;
}

static void respond_text(struct w2_conn *c, int status, const char *text, bool keep_alive)
{
	w2__http_respond(c, status, "text/plain; charset=utf-8", NULL, text, strlen(text),
			 c->http && c->http->parser.method == HTTP_HEAD, keep_alive);
}

static int request_path(const char *url, size_t url_len, char *out, size_t cap);

/* True if the request goes to guest sign-in, the one path that takes POST. */
static bool is_guest_request(const struct w2_http *h)
{
	char path[sizeof(W2_API_GUEST_PATH) + 1];

	return !h->url_too_long && request_path(h->url, h->url_len, path, sizeof(path)) == 0 &&
	       strcmp(path, W2_API_GUEST_PATH) == 0;
}

/* Nothing here takes a request body, so a request with one is answered as
 * soon as its head is complete, and the connection closed: a client cannot
 * keep it busy streaming a body that would only be thrown away. Only GET and
 * HEAD are served, except POST for guest sign-in (which takes no body
 * either). A non-zero return stops the parser. */
static int on_headers_complete(http_parser *p)
{
	struct w2_conn *c = conn_of(p);
	bool has_body = (p->flags & F_CHUNKED) ||
			(p->content_length > 0 && p->content_length != ULLONG_MAX);

	c->http->complete = true;
	if (p->upgrade)
		return 0;
	if (is_guest_request(c->http))
		return w2__api_guest_head(c, p->method, has_body);
	if (p->method != HTTP_GET && p->method != HTTP_HEAD) {
		w2__http_respond(c, 405, "text/plain; charset=utf-8", "Allow: GET, HEAD\r\n",
				 "method not allowed\n", 19, false, false);
		return -1;
	}
	if (has_body) {
		respond_text(c, 413, "request bodies are not accepted here\n", false);
		return -1;
	}
	return 0;
}

/* ---- the WebSocket upgrade ---------------------------------------------- */

static bool header_has_token(const char *value, const char *token)
{
	size_t tl = strlen(token);

	for (const char *p = value; *p;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *e = p;

		while (*e && *e != ',')
			e++;
		const char *t = e;

		while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if ((size_t)(t - p) == tl && strncasecmp(p, token, tl) == 0)
			return true;
		p = e;
	}
	return false;
}

static bool ws_key_valid(const char *key)
{
	unsigned char raw[48];

	/* 16 random bytes, base64: 24 characters ending "==". */
	return strlen(key) == 24 && key[22] == '=' && key[23] == '=' &&
	       EVP_DecodeBlock(raw, (const unsigned char *)key, 24) == 18;
}

static void upgrade_accept(const char *key, char out[32])
{
	unsigned char sha[SHA_DIGEST_LENGTH];
	char cat[64 + sizeof(WS_GUID)];
	int n = snprintf(cat, sizeof(cat), "%s%s", key, WS_GUID);

	SHA1((const unsigned char *)cat, (size_t)n, sha);
	EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH);
}

/* Answers an upgrade request; returns true if the connection is now a
 * WebSocket. */
static bool handle_upgrade(struct w2_conn *c, const char *path)
{
	struct w2_http *h = c->http;
	char accept[32];
	char resp[256];
	bool sub = header_has_token(h->ws_protocols, SUBPROTOCOL);
	int n;

	if (strcmp(path, "/signal") != 0 || !c->srv->cfg->signaling_enabled) {
		respond_text(c, 404, c->srv->cfg->signaling_enabled
			     ? "no WebSocket endpoint here; use /signal\n"
			     : "this server runs the TURN relay only: no signaling here\n", false);
		return false;
	}
	if (h->parser.method != HTTP_GET || !header_has_token(h->upgrade, "websocket")) {
		respond_text(c, 400, "expected a WebSocket upgrade (GET, Upgrade: websocket)\n", false);
		return false;
	}
	if (strcmp(h->ws_version, "13") != 0) {
		w2__http_respond(c, 426, "text/plain; charset=utf-8", "Sec-WebSocket-Version: 13\r\n",
				 "unsupported WebSocket version\n", 30, false, false);
		return false;
	}
	if (!ws_key_valid(h->ws_key)) {
		respond_text(c, 400, "missing or malformed Sec-WebSocket-Key\n", false);
		return false;
	}
	if (c->srv->draining) {
		respond_text(c, 503, "draining\n", false);
		return false;
	}
	upgrade_accept(h->ws_key, accept);
	n = snprintf(resp, sizeof(resp),
		     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
		     accept, sub ? "Sec-WebSocket-Protocol: " SUBPROTOCOL "\r\n" : "");
	if (w2__conn_queue(c, resp, (size_t)n) != 0 || w2__ws_start(c) != 0) {
		w2__conn_hard_close(c);
		return false;
	}
	return true;
}

/* ---- plain requests ----------------------------------------------------- */

int w2__http_hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Extracts and percent-decodes the path of the request URL into out.
 * Refuses NUL, backslashes and any ".." segment, so a path can never climb
 * out of the web root whatever its encoding. Returns 0 or -1. */
static int request_path(const char *url, size_t url_len, char *out, size_t cap)
{
	struct http_parser_url u;
	size_t n = 0;

	http_parser_url_init(&u);
	if (http_parser_parse_url(url, url_len, 0, &u) != 0 || !(u.field_set & (1 << UF_PATH)))
		return -1;
	const char *p = url + u.field_data[UF_PATH].off;
	size_t len = u.field_data[UF_PATH].len;

	for (size_t i = 0; i < len; i++) {
		char ch = p[i];

		if (ch == '%') {
			int a = i + 2 < len ? w2__http_hexval(p[i + 1]) : -1;
			int b = i + 2 < len ? w2__http_hexval(p[i + 2]) : -1;

			if (a < 0 || b < 0)
				return -1;
			ch = (char)(a * 16 + b);
			i += 2;
		}
		if (ch == '\0' || ch == '\\' || n + 1 >= cap)
			return -1;
		out[n++] = ch;
	}
	out[n] = '\0';
	if (out[0] != '/' || strstr(out, "/../") || strstr(out, "/./") ||
	    (n >= 3 && strcmp(out + n - 3, "/..") == 0) || (n >= 2 && strcmp(out + n - 2, "/.") == 0))
		return -1;
	return 0;
}

static void serve_metrics(struct w2_conn *c, bool head, bool keep_alive)
{
	struct w2_server *srv = c->srv;
	long n;

	if (!c->listener->loopback) {
		respond_text(c, 404, "not found\n", keep_alive);
		return;
	}
	if (!srv->scratch) {
		srv->scratch_cap = 32768;
		srv->scratch = w2_malloc(srv->scratch_cap);
		if (!srv->scratch) {
			respond_text(c, 500, "out of memory\n", false);
			return;
		}
	}
	n = w2_metrics_render(srv->metrics, srv->scratch, srv->scratch_cap);
	if (n < 0) {
		respond_text(c, 500, "metrics do not fit\n", false);
		return;
	}
	w2__http_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8",
			 "Cache-Control: no-store\r\n", srv->scratch, (size_t)n, head, keep_alive);
}

static void serve_healthz(struct w2_conn *c, bool head, bool keep_alive)
{
	bool draining = c->srv->draining;

	respond_text(c, draining ? 503 : 200, draining ? "draining\n" : "ok\n", keep_alive);
}

static void serve_signal_plain(struct w2_conn *c, bool head, bool keep_alive)
{
	w2__http_respond(c, 426, "text/plain; charset=utf-8",
			 "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
			 "this endpoint speaks WebSocket\n", 30, head, keep_alive);
}

/* The fixed paths; anything else is a static file. The first two are all a
 * relay-only daemon serves. */
static const struct {
	const char *path;
	void (*serve)(struct w2_conn *c, bool head, bool keep_alive);
} k_routes[] = {
	{"/healthz", serve_healthz},
	{"/metrics", serve_metrics},
	{W2_API_GUEST_PATH, w2__api_guest},
	{W2_API_INFO_PATH, w2__api_info},
	{"/signal", serve_signal_plain},
};

#define W2__N_ROUTES (sizeof(k_routes) / sizeof(k_routes[0]))

static void route(struct w2_conn *c)
{
	struct w2_http *h = c->http;
	bool keep = http_should_keep_alive(&h->parser) && !c->srv->draining;
	bool head = h->parser.method == HTTP_HEAD;
	char path[2048];

	if (h->parser.http_major != 1) {
		respond_text(c, 505, "only HTTP/1.x is served here\n", false);
		return;
	}
	if (h->url_too_long || h->header_too_long) {
		respond_text(c, 431, "request line or header too long\n", false);
		return;
	}
	/* Methods and bodies were refused in on_headers_complete. */
	if (request_path(h->url, h->url_len, path, sizeof(path)) != 0) {
		respond_text(c, 400, "bad request path\n", false);
		return;
	}
	/* A relay-only daemon serves its health and metrics, nothing else. */
	for (size_t i = 0; i < (c->srv->cfg->signaling_enabled ? W2__N_ROUTES : 2); i++) {
		if (strcmp(path, k_routes[i].path) == 0) {
			k_routes[i].serve(c, head, keep);
			return;
		}
	}
	if (!c->srv->cfg->signaling_enabled) {
		respond_text(c, 404, "this server runs the TURN relay only: /healthz and /metrics\n",
			     keep);
		return;
	}
	w2__static_serve(c, path, h->if_none_match, head, keep);
}

static int on_message_complete(http_parser *p)
{
	struct w2_conn *c = conn_of(p);

	c->http->complete = false;
	c->http->head_bytes = 0;
	if (p->upgrade)
		return 0; /* answered after http_parser_execute returns */
	route(c);
	/* Stop parsing further pipelined requests once we close. */
	return c->close_after_flush || c->state == W2_CONN_CLOSED ? 1 : 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

int w2__http_start(struct w2_conn *c)
{
	c->http = w2_calloc(1, sizeof(*c->http));
	if (!c->http)
		return W2_ENOMEM;
	http_parser_init(&c->http->parser, HTTP_REQUEST);
	c->http->parser.data = c;
	c->state = W2_CONN_HTTP;
	return 0;
}

void w2__http_release(struct w2_conn *c)
{
	w2_free(c->http);
	c->http = NULL;
}

void w2__http_feed(struct w2_conn *c, const uint8_t *data, size_t len)
{
	struct w2_http *h = c->http;
	size_t n;
	char path[2048];

	if (c->close_after_flush)
		return; /* a response that ends the connection is on its way */
	if (!h->complete) {
		h->head_bytes += len;
		if (h->head_bytes > W2_HTTP_MAX_HEADER) {
			respond_text(c, 431, "request head too large\n", false);
			return;
		}
	}
	n = http_parser_execute(&h->parser, &settings, (const char *)data, len);
	if (h->parser.upgrade) {
		if (request_path(h->url, h->url_len, path, sizeof(path)) != 0 || h->url_too_long) {
			respond_text(c, 400, "bad request path\n", false);
			return;
		}
		if (!handle_upgrade(c, path))
			return;
		w2__http_release(c);
		if (n < len)
			w2__ws_feed(c, data + n, len - n);
		return;
	}
	if (HTTP_PARSER_ERRNO(&h->parser) != HPE_OK && !c->close_after_flush &&
	    c->state != W2_CONN_CLOSED) {
		W2_LOG_DEBUG(MOD, "bad request: %s",
			     http_errno_description(HTTP_PARSER_ERRNO(&h->parser)));
		respond_text(c, 400, "malformed HTTP request\n", false);
	}
}
