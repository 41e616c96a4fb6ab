/* Relaying: the peer address policy, permissions (RFC 8656 section 9),
 * channels (section 12), CreatePermission (section 10), ChannelBind, Send
 * and Data indications (section 11), ChannelData, and the bandwidth cap.
 *
 * Hot paths (Send, ChannelData, peer data) allocate nothing and copy no
 * payload: data goes to relay_send from the client's buffer, and replies to
 * the client are framed in the headroom of the peer's buffer. Permission
 * and channel lookups scan the allocation's arrays (at most max_permissions
 * and max_channels entries, a few dozen); an index by channel number would
 * cost 4096 entries per allocation for no measurable gain at that size. */
#include "turn/turn_int.h"

#include "core/cidr.h"
#include "core/error.h"
#include "core/log.h"

#include <arpa/inet.h>
#include <string.h>

#define CHANNEL_WAIT_MS ((uint64_t)W2_TURN_CHANNEL_REUSE_WAIT_S * 1000)

/* ---- addresses ---------------------------------------------------------- */

bool w2__turn_ip_view(const struct sockaddr *sa, int *family, const uint8_t **ip, uint16_t *port)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		*family = AF_INET;
		*ip = (const uint8_t *)&s4->sin_addr;
		*port = ntohs(s4->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		bool mapped = memcmp(s6->sin6_addr.s6_addr, v4mapped, sizeof(v4mapped)) == 0;

		/* An IPv4-mapped address is the IPv4 address: it must match
		 * the same permissions and policy entries. */
		*family = mapped ? AF_INET : AF_INET6;
		*ip = s6->sin6_addr.s6_addr + (mapped ? 12 : 0);
		*port = ntohs(s6->sin6_port);
		return true;
	}
	return false;
}

bool w2__turn_ip_equal(const struct sockaddr *x, const struct sockaddr *y)
{
	const uint8_t *ix, *iy;
	uint16_t px, py;
	int fx, fy;

	if (!w2__turn_ip_view(x, &fx, &ix, &px) || !w2__turn_ip_view(y, &fy, &iy, &py))
		return false;
	return fx == fy && memcmp(ix, iy, fx == AF_INET ? 4 : 16) == 0;
}

bool w2__turn_addr_equal(const struct sockaddr *x, const struct sockaddr *y)
{
	const uint8_t *ix, *iy;
	uint16_t px, py;
	int fx, fy;

	if (!w2__turn_ip_view(x, &fx, &ix, &px) || !w2__turn_ip_view(y, &fy, &iy, &py))
		return false;
	return fx == fy && px == py && memcmp(ix, iy, fx == AF_INET ? 4 : 16) == 0;
}

/* ---- peer policy --------------------------------------------------------- */

static bool ip_unspecified(int family, const uint8_t *ip)
{
	static const uint8_t zero[16];

	return memcmp(ip, zero, family == AF_INET ? 4 : 16) == 0;
}

enum self_match { SELF_NONE, SELF_LISTENER, SELF_RELAY_PORT, SELF_OTHER_PORT };

/* Where a peer address lands on this server, if it does. `self` holds the
 * listening addresses (with their ports) and the relay addresses (port 0).
 * A wildcard entry (0.0.0.0, ::) stands for every local IP we do not know;
 * it is taken to cover the internal addresses (loopback, private), while a
 * public IP of this host is expected in the list itself. */
static enum self_match self_match(const struct w2_turn *t, const struct sockaddr *peer)
{
	const struct w2_turn_settings *cfg = t->cfg;
	enum self_match found = SELF_NONE;
	bool relay_ip = false;
	const uint8_t *ip, *sip;
	uint16_t port, sport;
	int fam, sfam;

	if (!w2__turn_ip_view(peer, &fam, &ip, &port))
		return SELF_LISTENER;
	for (size_t i = 0; i < t->n_self; i++) {
		bool same_ip;

		if (!w2__turn_ip_view((const struct sockaddr *)&t->self[i], &sfam, &sip, &sport))
			continue;
		same_ip = sfam == fam && memcmp(sip, ip, fam == AF_INET ? 4 : 16) == 0;
		/* Port 0 marks a relay address: exact, never a wildcard. */
		relay_ip |= same_ip && sport == 0;
		if (!same_ip && ip_unspecified(sfam, sip))
			same_ip = w2_cidr_is_internal(peer);
		if (!same_ip)
			continue;
		if (sport != 0 && port == sport)
			return SELF_LISTENER;
		found = SELF_OTHER_PORT;
	}
	if (relay_ip && port >= cfg->min_port && port <= cfg->max_port)
		return SELF_RELAY_PORT;
	return found;
}

/* RFC 8656 section 21 (security considerations): a relay must not become a
 * way into the operator's own networks. In order:
 * - the deny list wins over everything;
 * - our own listeners are never reachable (the relay would talk to itself);
 * - another allocation's relay port on our own IP is allowed: both callers
 *   relaying through this server is the common case, and it is a TURN
 *   client's socket, not a service of the host;
 * - any other port on our own IP (ssh, a database, the signaling port) only
 *   through the allow list, like the internal ranges.
 * Returns true when the peer is allowed. */
static bool peer_allowed(const struct w2_turn *t, const struct sockaddr *peer)
{
	const struct w2_turn_settings *cfg = t->cfg;
	bool allowed = w2_cidr_match_any(cfg->allowed_peers, cfg->n_allowed_peers, peer);

	if (w2_cidr_match_any(cfg->denied_peers, cfg->n_denied_peers, peer))
		return false;
	switch (self_match(t, peer)) {
	case SELF_LISTENER:
		return false;
	case SELF_RELAY_PORT:
		return true;
	case SELF_OTHER_PORT:
		return allowed;
	case SELF_NONE:
		break;
	}
	return allowed || !w2_cidr_is_internal(peer);
}

/* ---- permissions ---------------------------------------------------------- */

static bool perm_matches(const struct w2__turn_perm *p, int family, const uint8_t *ip)
{
	return p->family == family && memcmp(p->ip, ip, family == AF_INET ? 4 : 16) == 0;
}

static struct w2__turn_perm *perm_find(const struct w2_turn *t, struct w2_turn_alloc *a,
				       const struct sockaddr *peer, uint64_t now_ms)
{
	const uint8_t *ip;
	uint16_t port;
	int fam;

	if (!w2__turn_ip_view(peer, &fam, &ip, &port))
		return NULL;
	for (size_t i = 0; i < t->cfg->max_permissions; i++) {
		struct w2__turn_perm *p = &a->perms[i];

		if (p->active && now_ms < p->expires_ms && perm_matches(p, fam, ip))
			return p;
	}
	return NULL;
}

static size_t perm_free_slots(const struct w2_turn *t, const struct w2_turn_alloc *a,
			      uint64_t now_ms)
{
	size_t n = 0;

	for (size_t i = 0; i < t->cfg->max_permissions; i++)
		if (!a->perms[i].active || now_ms >= a->perms[i].expires_ms)
			n++;
	return n;
}

/* Installs or refreshes the permission for peer's IP (lifetime 300 s).
 * Returns 0 or W2_ELIMIT (no free slot). */
static int perm_install(struct w2_turn *t, struct w2_turn_alloc *a, const struct sockaddr *peer,
			uint64_t now_ms)
{
	struct w2__turn_perm *p = perm_find(t, a, peer, now_ms);
	const uint8_t *ip;
	uint16_t port;
	int fam;

	if (!p) {
		for (size_t i = 0; i < t->cfg->max_permissions && !p; i++)
			if (!a->perms[i].active || now_ms >= a->perms[i].expires_ms)
				p = &a->perms[i];
		if (!p || !w2__turn_ip_view(peer, &fam, &ip, &port))
			return W2_ELIMIT;
		if (!p->active)
			t->stats.permissions++;
		p->active = true;
		p->family = (uint8_t)fam;
		memcpy(p->ip, ip, fam == AF_INET ? 4 : 16);
	}
	p->expires_ms = now_ms + (uint64_t)W2_TURN_PERMISSION_LIFETIME_S * 1000;
	return 0;
}

/* ---- channels ------------------------------------------------------------ */

/* A slot is held while bound or in its reuse wait. */
static bool chan_held(const struct w2__turn_chan *ch, uint64_t now_ms)
{
	return ch->number != 0 && now_ms < ch->expires_ms + CHANNEL_WAIT_MS;
}

static struct w2__turn_chan *chan_by_number(const struct w2_turn *t, struct w2_turn_alloc *a,
					    uint16_t number, uint64_t now_ms)
{
	for (size_t i = 0; i < t->cfg->max_channels; i++)
		if (a->chans[i].number == number && chan_held(&a->chans[i], now_ms))
			return &a->chans[i];
	return NULL;
}

static struct w2__turn_chan *chan_by_peer(const struct w2_turn *t, struct w2_turn_alloc *a,
					  const struct sockaddr *peer, uint64_t now_ms)
{
	for (size_t i = 0; i < t->cfg->max_channels; i++)
		if (chan_held(&a->chans[i], now_ms) &&
		    w2__turn_addr_equal((const struct sockaddr *)&a->chans[i].peer, peer))
			return &a->chans[i];
	return NULL;
}

static struct w2__turn_chan *chan_free_slot(const struct w2_turn *t, struct w2_turn_alloc *a,
					    uint64_t now_ms)
{
	for (size_t i = 0; i < t->cfg->max_channels; i++)
		if (!chan_held(&a->chans[i], now_ms))
			return &a->chans[i];
	return NULL;
}

/* ---- bandwidth -------------------------------------------------------------- */

/* Byte token bucket per allocation, payload bytes of both directions.
 * Returns false (counted) when len bytes are over the cap. */
static bool bw_take(struct w2_turn *t, struct w2_turn_alloc *a, size_t len, uint64_t now_ms)
{
	uint64_t rate = t->cfg->bandwidth_bytes_per_s;
	uint64_t cap = rate > W2__TURN_BW_MIN_BURST ? rate : W2__TURN_BW_MIN_BURST;
	uint64_t elapsed, add;

	if (rate == 0)
		return true;
	elapsed = now_ms > a->bw_last_ms ? now_ms - a->bw_last_ms : 0;
	if (elapsed > 1000000)
		elapsed = 1000000; /* more than fills any bucket; no overflow */
	add = elapsed * rate / 1000;
	if (a->bw_tokens >= cap || add >= cap - a->bw_tokens)
		a->bw_tokens = cap;
	else
		a->bw_tokens += add;
	if (now_ms > a->bw_last_ms)
		a->bw_last_ms = now_ms;
	if (a->bw_tokens < len) {
		t->stats.bandwidth_drops_total++;
		return false;
	}
	a->bw_tokens -= len;
	return true;
}

static void relay_out(struct w2_turn *t, struct w2_turn_alloc *a, const struct sockaddr *peer,
		      const uint8_t *data, size_t len, uint64_t now_ms)
{
	if (!bw_take(t, a, len, now_ms))
		return;
	t->ops->relay_send(t->io, a->relay, peer, data, len);
	t->stats.relayed_packets_total++;
	t->stats.relayed_bytes_total += len;
}

/* ---- CreatePermission (RFC 8656 section 10.2) ------------------------------ */

/* Checks one XOR-PEER-ADDRESS: decodes it into peer. Returns 0 or the STUN
 * error code to answer. */
static int check_peer(struct w2__turn_req *r, const struct w2_stun_attr *at,
		      struct sockaddr_storage *peer)
{
	if (w2_stun_attr_addr(r->m, at, true, peer) != 0)
		return W2_STUN_ERR_BAD_REQUEST;
	if (peer->ss_family != r->a->family)
		return W2_STUN_ERR_PEER_ADDRESS_FAMILY_MISMATCH;
	if (!peer_allowed(r->t, (const struct sockaddr *)peer)) {
		r->t->stats.forbidden_peers_total++;
		W2_LOG_DEBUG(W2__TURN_MOD, "event=peer_forbidden");
		return W2_STUN_ERR_FORBIDDEN;
	}
	return 0;
}

/* All addresses are checked before any is installed: the request succeeds
 * or fails as a whole (section 10.2). Returns 0 or the code to answer. */
static int check_permissions(struct w2__turn_req *r, size_t *n_peers, size_t *n_new)
{
	struct sockaddr_storage peer;
	int code;

	*n_peers = *n_new = 0;
	for (size_t i = 0; i < r->m->n_attrs; i++) {
		if (r->m->attrs[i].type != W2_STUN_A_XOR_PEER_ADDRESS)
			continue;
		code = check_peer(r, &r->m->attrs[i], &peer);
		if (code != 0)
			return code;
		(*n_peers)++;
		if (!perm_find(r->t, r->a, (const struct sockaddr *)&peer, r->now_ms))
			(*n_new)++;
	}
	return *n_peers == 0 ? W2_STUN_ERR_BAD_REQUEST : 0;
}

static void reply_success(struct w2__turn_req *r)
{
	struct w2_stun_writer w;

	w2__turn_reply_begin(r, &w, W2_STUN_SUCCESS);
	w2__turn_reply_send(r, &w);
}

static void reply_capacity(struct w2__turn_req *r)
{
	r->t->stats.quota_rejections_total++;
	w2__turn_reply_error(r, W2_STUN_ERR_INSUFFICIENT_CAPACITY);
}

void w2__turn_on_create_permission(struct w2__turn_req *r)
{
	struct sockaddr_storage peer;
	size_t n_peers, n_new;
	int code;

	if (!r->a) {
		w2__turn_reply_error(r, W2_STUN_ERR_ALLOCATION_MISMATCH);
		return;
	}
	code = check_permissions(r, &n_peers, &n_new);
	if (code != 0) {
		w2__turn_reply_error(r, code);
		return;
	}
	/* Conservative: the same new IP twice in one request counts twice. */
	if (n_new > perm_free_slots(r->t, r->a, r->now_ms)) {
		reply_capacity(r);
		return;
	}
	for (size_t i = 0; i < r->m->n_attrs; i++) {
		if (r->m->attrs[i].type != W2_STUN_A_XOR_PEER_ADDRESS)
			continue;
		w2_stun_attr_addr(r->m, &r->m->attrs[i], true, &peer);
		perm_install(r->t, r->a, (const struct sockaddr *)&peer, r->now_ms);
	}
	W2_LOG_DEBUG(W2__TURN_MOD, "event=permissions_installed count=%zu", n_peers);
	reply_success(r);
}

/* ---- ChannelBind (RFC 8656 section 12.2) ------------------------------------ */

/* The channel slot the request may use, after the rebinding rules of
 * section 12: a number is bound to one peer transport address and a peer
 * to one number, also during the reuse wait after expiry. Returns the slot,
 * or NULL with *code set. */
static struct w2__turn_chan *channel_slot(struct w2__turn_req *r, uint16_t number,
					  const struct sockaddr *peer, int *code)
{
	struct w2__turn_chan *ch = chan_by_number(r->t, r->a, number, r->now_ms);
	struct w2__turn_chan *other = chan_by_peer(r->t, r->a, peer, r->now_ms);

	*code = W2_STUN_ERR_BAD_REQUEST;
	if (ch && !w2__turn_addr_equal((const struct sockaddr *)&ch->peer, peer))
		return NULL;
	if (other && other != ch)
		return NULL;
	if (!ch)
		ch = chan_free_slot(r->t, r->a, r->now_ms);
	if (!ch)
		*code = W2_STUN_ERR_INSUFFICIENT_CAPACITY;
	return ch;
}

static int channel_number(const struct w2_stun_msg *m, uint16_t *number)
{
	const struct w2_stun_attr *at = w2_stun_find(m, W2_STUN_A_CHANNEL_NUMBER);

	if (!at || at->len != 4)
		return W2_EPROTO;
	*number = w2__turn_be16(w2_stun_attr_value(m, at));
	if (*number < W2_TURN_CHANNEL_MIN || *number > W2_TURN_CHANNEL_MAX)
		return W2_EPROTO;
	return 0;
}

static void bind_channel(struct w2__turn_req *r, struct w2__turn_chan *ch, uint16_t number,
			 const struct sockaddr_storage *peer)
{
	ch->number = number;
	ch->peer = *peer;
	ch->expires_ms = r->now_ms + (uint64_t)W2_TURN_CHANNEL_LIFETIME_S * 1000;
	if (!ch->counted) {
		ch->counted = true;
		r->t->stats.channels++;
	}
}

void w2__turn_on_channel_bind(struct w2__turn_req *r)
{
	const struct w2_stun_attr *pa = w2_stun_find(r->m, W2_STUN_A_XOR_PEER_ADDRESS);
	struct sockaddr_storage peer;
	struct w2__turn_chan *ch;
	uint16_t number;
	int code;

	if (!r->a) {
		w2__turn_reply_error(r, W2_STUN_ERR_ALLOCATION_MISMATCH);
		return;
	}
	if (!pa || channel_number(r->m, &number) != 0) {
		w2__turn_reply_error(r, W2_STUN_ERR_BAD_REQUEST);
		return;
	}
	code = check_peer(r, pa, &peer);
	ch = code == 0 ? channel_slot(r, number, (const struct sockaddr *)&peer, &code) : NULL;
	if (!ch) {
		if (code == W2_STUN_ERR_INSUFFICIENT_CAPACITY)
			r->t->stats.quota_rejections_total++;
		w2__turn_reply_error(r, code);
		return;
	}
	/* Section 12.2: the binding installs or refreshes the permission. */
	if (perm_install(r->t, r->a, (const struct sockaddr *)&peer, r->now_ms) != 0) {
		reply_capacity(r);
		return;
	}
	bind_channel(r, ch, number, &peer);
	W2_LOG_DEBUG(W2__TURN_MOD, "event=channel_bound channel=0x%04x", (unsigned)number);
	reply_success(r);
}

/* ---- client to peer ----------------------------------------------------------- */

static struct w2_turn_alloc *live_alloc(struct w2_turn *t, const struct w2_turn_client *c,
					uint64_t now_ms)
{
	struct w2_turn_alloc *a = w2__turn_find(t, c);

	return a && now_ms < a->expires_ms ? a : NULL;
}

/* Send indication (RFC 8656 section 11.2): problems are
 * dropped silently, indications are never answered. */
void w2__turn_on_send(struct w2_turn *t, const struct w2_turn_client *c,
		      const struct w2_stun_msg *m, uint64_t now_ms)
{
	const struct w2_stun_attr *pa = w2_stun_find(m, W2_STUN_A_XOR_PEER_ADDRESS);
	const struct w2_stun_attr *da = w2_stun_find(m, W2_STUN_A_DATA);
	struct w2_turn_alloc *a = live_alloc(t, c, now_ms);
	struct sockaddr_storage peer;

	if (!a)
		return;
	if (!pa || !da || w2_stun_attr_addr(m, pa, true, &peer) != 0 ||
	    peer.ss_family != a->family) {
		t->stats.malformed_total++;
		return;
	}
	if (!peer_allowed(t, (const struct sockaddr *)&peer)) {
		t->stats.forbidden_peers_total++;
		return;
	}
	if (!perm_find(t, a, (const struct sockaddr *)&peer, now_ms)) {
		t->stats.no_permission_drops_total++;
		return;
	}
	relay_out(t, a, (const struct sockaddr *)&peer, w2_stun_attr_value(m, da), da->len, now_ms);
}

/* ChannelData from the client (section 12.6): relayed when its channel is
 * bound and the peer still has a permission. */
void w2__turn_on_channeldata(struct w2_turn *t, const struct w2_turn_client *c,
			     const uint8_t *buf, size_t len, uint64_t now_ms)
{
	struct w2_turn_alloc *a;
	struct w2__turn_chan *ch;
	const uint8_t *data;
	size_t data_len;
	uint16_t number;

	if (w2_turn_channeldata_parse(buf, len, &number, &data, &data_len) != 0) {
		t->stats.malformed_total++;
		return;
	}
	a = live_alloc(t, c, now_ms);
	if (!a)
		return;
	ch = chan_by_number(t, a, number, now_ms);
	if (!ch || now_ms >= ch->expires_ms ||
	    !perm_find(t, a, (const struct sockaddr *)&ch->peer, now_ms)) {
		t->stats.no_permission_drops_total++;
		return;
	}
	relay_out(t, a, (const struct sockaddr *)&ch->peer, data, data_len, now_ms);
}

/* ---- peer to client (sections 11.3, 12.7) -------------------------------------- */

/* Frames buf as ChannelData in place. Returns the start and the length. */
static uint8_t *frame_channeldata(const struct w2_turn_alloc *a, const struct w2__turn_chan *ch,
				  uint8_t *buf, size_t len, size_t *out_len)
{
	uint8_t *start = buf - W2_TURN_CHANNELDATA_HDR;
	size_t pad = 0;

	w2_turn_channeldata_header(start, ch->number, len);
	/* Section 12.5: over a stream, ChannelData is padded to 4 bytes. */
	if (a->client.transport != W2_TURN_UDP) {
		pad = (4 - (len & 3)) & 3;
		memset(buf + len, 0, pad);
	}
	*out_len = W2_TURN_CHANNELDATA_HDR + len + pad;
	return start;
}

/* Frames buf as a Data indication (XOR-PEER-ADDRESS, DATA; no
 * FINGERPRINT) whose header is written backwards from buf into the
 * headroom. Returns the start, or NULL when it would not fit the 16-bit
 * message length. */
static uint8_t *frame_data_indication(struct w2_turn *t, const struct sockaddr *peer,
				      uint8_t *buf, size_t len, size_t *out_len)
{
	uint8_t head[W2_TURN_PEER_HEADROOM];
	struct w2_stun_writer w;
	size_t hlen, pad = (4 - (len & 3)) & 3, body;
	uint8_t *start;

	t->data_seq++;
	memcpy(t->data_txid + 4, &t->data_seq, sizeof(t->data_seq));
	w2_stun_writer_init(&w, head, sizeof(head), W2_TURN_DATA, W2_STUN_INDICATION, t->data_txid);
	w2_stun_put_addr(&w, W2_STUN_A_XOR_PEER_ADDRESS, peer, true);
	if (w2_stun_writer_finish(&w, &hlen) != 0 || hlen + 4 > W2_TURN_PEER_HEADROOM)
		return NULL;
	body = hlen - W2_STUN_HEADER_LEN + 4 + len + pad;
	if (body > 0xFFFF)
		return NULL;
	start = buf - 4 - hlen;
	memcpy(start, head, hlen);
	w2__turn_put_be16(start + 2, (uint16_t)body);
	w2__turn_put_be16(start + hlen, W2_STUN_A_DATA);
	w2__turn_put_be16(start + hlen + 2, (uint16_t)len);
	memset(buf + len, 0, pad);
	*out_len = hlen + 4 + len + pad;
	return start;
}

void w2_turn_handle_peer(struct w2_turn *t, struct w2_turn_alloc *a, const struct sockaddr *peer,
			 uint8_t *buf, size_t len, uint64_t now_ms)
{
	struct w2__turn_chan *ch;
	uint8_t *start;
	size_t out_len = 0;

	if (!t || !a || !peer || !buf || len > W2_TURN_MAX_DATAGRAM || now_ms >= a->expires_ms)
		return;
	if (!perm_find(t, a, peer, now_ms)) {
		t->stats.no_permission_drops_total++;
		return;
	}
	if (!bw_take(t, a, len, now_ms))
		return;
	ch = chan_by_peer(t, a, peer, now_ms);
	if (ch && now_ms < ch->expires_ms)
		start = frame_channeldata(a, ch, buf, len, &out_len);
	else
		start = frame_data_indication(t, peer, buf, len, &out_len);
	if (!start)
		return;
	t->ops->send_to_client(t->io, &a->client, start, out_len);
	t->stats.relayed_packets_total++;
	t->stats.relayed_bytes_total += len;
}
