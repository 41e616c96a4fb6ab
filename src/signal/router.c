/* The router: relays a signal to the sessions its "to" names.
 *
 * The payload ("data") is never decoded or re-serialised: the parser found
 * its byte range, and each receiver gets one frame gathered from three
 * pieces, the sender's precomputed prefix, the payload bytes, and "}". */
#include "signal/signal_int.h"

#include "core/map.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PEER_ID_MAX (W2_USER_MAX + 1 + 253 + 1 + W2_DEVICE_MAX + 1)

/* A parsed peer id: user@domain or user@domain/device (pointers into the
 * decoded buffer). */
struct peer_id {
	const char *user;
	size_t user_len;
	const char *domain;
	size_t domain_len;
	const char *device; /* NULL when the id names the user */
	size_t device_len;
};

/* A DNS name (RFC 1123 letters, digits, hyphens and dots), as domains are
 * compared and later resolved for federation. */
static bool domain_valid(const char *d, size_t len)
{
	if (len == 0 || len > 253 || d[0] == '.' || d[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = d[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Splits `id`; returns 0, or -1 if it is not of the form the protocol
 * allows (docs/protocol.md, "Peer ids"). */
static int peer_id_parse(const char *id, size_t len, struct peer_id *p)
{
	const char *at = memchr(id, '@', len);
	const char *slash;

	if (!at)
		return -1;
	p->user = id;
	p->user_len = (size_t)(at - id);
	p->domain = at + 1;
	slash = memchr(p->domain, '/', len - p->user_len - 1);
	p->domain_len = slash ? (size_t)(slash - p->domain) : len - p->user_len - 1;
	p->device = slash ? slash + 1 : NULL;
	p->device_len = slash ? len - (size_t)(slash + 1 - id) : 0;
	if (!w2_user_name_valid(p->user, p->user_len) || !domain_valid(p->domain, p->domain_len))
		return -1;
	if (p->device && !w2__device_valid(p->device, p->device_len))
		return -1;
	return 0;
}

static bool is_our_domain(const struct w2_signal *s, const struct peer_id *p)
{
	size_t n = strlen(s->cfg->domain);

	return n == p->domain_len && strncasecmp(s->cfg->domain, p->domain, n) == 0;
}

/* Sends the signal to every session of u that p selects, except the sender.
 * Returns how many received it. */
static unsigned fan_out(struct w2_signal *s, struct w2_session *from, struct w2_user *u,
			const struct peer_id *p, const struct w2_req *req)
{
	struct iovec iov[3] = {
		{from->relay_prefix, from->relay_prefix_len},
		{(void *)(req->buf + req->msg->data.off), req->msg->data.len},
		{"}", 1},
	};
	unsigned delivered = 0;
	struct w2_session *next;

	for (struct w2_session *to = u->sessions; to; to = next) {
		/* The receiver may be closed as a slow consumer inside send_text,
		 * which unlinks it: read the next link first. */
		next = to->next_of_user;
		if (to == from)
			continue;
		if (p->device && (strlen(to->device) != p->device_len ||
				  memcmp(to->device, p->device, p->device_len) != 0))
			continue;
		if (to->ops->send_text(to->conn, iov, 3) == 0) {
			s->metrics->messages_out_total++;
			delivered++;
		}
	}
	return delivered;
}

static void unavailable(struct w2_signal *s, struct w2_session *ss, const char *to,
			const char *why, const struct w2_req *req)
{
	char msg[PEER_ID_MAX + 64];

	snprintf(msg, sizeof(msg), "%s %s", to, why);
	w2__send_error(s, ss, W2_PERR_PEER_UNAVAILABLE, msg, req);
}

void w2__handle_signal(struct w2_signal *s, struct w2_session *ss, const struct w2_req *req)
{
	char to[PEER_ID_MAX];
	struct peer_id p;
	struct w2_user *u;
	long n = w2__span_string(req, req->msg->to, to, sizeof(to));

	if (n < 0 || peer_id_parse(to, (size_t)n, &p) != 0) {
		w2__send_error(s, ss, W2_PERR_BAD_MESSAGE,
			       "field \"to\" must be a peer id: user@domain or user@domain/device",
			       req);
		return;
	}
	if (!is_our_domain(s, &p)) {
		unavailable(s, ss, to, "is on another domain, and federation is not configured",
			    req);
		return;
	}
	u = w2__user_find(s, p.user, p.user_len);
	if (!u || fan_out(s, ss, u, &p, req) == 0)
		unavailable(s, ss, to, "is not online", req);
}
