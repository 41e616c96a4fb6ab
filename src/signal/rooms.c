/* Rooms: named sets of sessions with join/leave notifications
 * (docs/protocol.md, "Rooms"). A room exists while it has members. */
#include "signal/signal_int.h"

#include "core/alloc.h"

#include <stdio.h>
#include <string.h>

static struct w2_room *room_find(struct w2_signal *s, const char *name, size_t len)
{
	struct w2_map_entry *e = w2_map_find(&s->rooms, name, len);

	return e ? (struct w2_room *)((char *)e - offsetof(struct w2_room, entry)) : NULL;
}

static void room_destroy(struct w2_room *r)
{
	if (!r)
		return;
	w2_free(r->name);
	w2_free(r->name_json);
	w2_free(r->members);
	w2_free(r);
}

static struct w2_room *room_create(struct w2_signal *s, const char *name, size_t len)
{
	struct w2_room *r = w2_calloc(1, sizeof(*r));
	char esc[W2_ROOM_MAX * 6 + 1];
	long n = w2_json_escape(name, len, esc, sizeof(esc));

	if (!r || n < 0)
		goto fail;
	r->name = w2_strndup(name, len);
	r->name_json = w2_strndup(esc, (size_t)n);
	r->name_json_len = (size_t)n;
	if (!r->name || !r->name_json)
		goto fail;
	r->entry.key = r->name;
	r->entry.key_len = len;
	w2_map_insert(&s->rooms, &r->entry);
	s->metrics->rooms++;
	return r;
fail:
	room_destroy(r);
	return NULL;
}

/* Grows *arr (of element size elem) to hold at least need elements. */
static int grow(void *arr, uint32_t *cap, uint32_t need, size_t elem)
{
	void **p = arr;
	uint32_t n = *cap ? *cap : 4;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = w2_realloc(*p, (size_t)n * elem);
	if (!q)
		return -1;
	*p = q;
	*cap = n;
	return 0;
}

/* Tells every member of r but `who` that who joined or left. */
static void notify_members(struct w2_signal *s, struct w2_room *r, struct w2_session *who,
			   const char *event)
{
	char head[W2_ROOM_MAX * 6 + 64];
	char tail[512];
	int a = snprintf(head, sizeof(head), "{\"type\":\"member\",\"room\":\"%.*s\"",
			 (int)r->name_json_len, r->name_json);
	int b = snprintf(tail, sizeof(tail), ",\"peer\":\"%s\",\"device\":\"%s\",\"event\":\"%s\"}",
			 who->peer_json, who->device, event);
	struct iovec iov[2] = {{head, (size_t)a}, {tail, (size_t)b}};

	for (uint32_t i = 0; i < r->n_members; i++) {
		struct w2_session *m = r->members[i];

		if (m != who && m->ops->send_text(m->conn, iov, 2) == 0)
			s->metrics->messages_out_total++;
	}
}

/* Sends `joined` with the other members; built in pieces because a room of
 * 256 members does not fit a stack buffer. */
static void send_joined(struct w2_signal *s, struct w2_session *ss, struct w2_room *r,
			const struct w2_req *req)
{
	size_t cap = 64 + W2_REF_FIELD_MAX + r->name_json_len +
		     (size_t)r->n_members * (W2_USER_MAX + 300);
	char *out = w2_malloc(cap);
	char ref[W2_REF_FIELD_MAX];
	size_t n;
	bool first = true;

	if (!out)
		return;
	w2__ref_field(req, ref, sizeof(ref));
	n = (size_t)snprintf(out, cap, "{\"type\":\"joined\",\"room\":\"%.*s\"%s,\"members\":[",
			     (int)r->name_json_len, r->name_json, ref);
	for (uint32_t i = 0; i < r->n_members; i++) {
		struct w2_session *m = r->members[i];

		if (m == ss)
			continue;
		n += (size_t)snprintf(out + n, cap - n, "%s{\"peer\":\"%s\",\"device\":\"%s\"}",
				      first ? "" : ",", m->peer_json, m->device);
		first = false;
	}
	n += (size_t)snprintf(out + n, cap - n, "]}");
	w2__send_raw(s, ss, out, n);
	w2_free(out);
}

/* Reads and checks the room name of a join/leave. Returns its length or -1
 * (after sending bad-message). */
static long room_name(struct w2_signal *s, struct w2_session *ss, const struct w2_req *req,
		      char *name, size_t cap)
{
	long n = w2__span_string(req, req->msg->room, name, cap);
	bool ok = n > 0;

	for (long i = 0; ok && i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			ok = false;
	if (!ok) {
		w2__send_error(s, ss, W2_PERR_BAD_MESSAGE,
			       "field \"room\" must be 1-128 bytes without control characters",
			       req);
		return -1;
	}
	return n;
}

static int session_in_room(const struct w2_session *ss, const struct w2_room *r)
{
	for (uint32_t i = 0; i < ss->n_rooms; i++)
		if (ss->rooms[i] == r)
			return (int)i;
	return -1;
}

void w2__handle_join(struct w2_signal *s, struct w2_session *ss, const struct w2_req *req)
{
	char name[W2_ROOM_MAX + 1];
	long n = room_name(s, ss, req, name, sizeof(name));
	struct w2_room *r;

	if (n < 0)
		return;
	r = room_find(s, name, (size_t)n);
	if (r && session_in_room(ss, r) >= 0) {
		send_joined(s, ss, r, req);
		return;
	}
	if (ss->n_rooms >= s->cfg->limits.rooms_per_session) {
		w2__send_error(s, ss, W2_PERR_TOO_MANY_ROOMS,
			       "this session is in as many rooms as the server allows", req);
		return;
	}
	if (r && r->n_members >= s->cfg->limits.room_size) {
		w2__send_error(s, ss, W2_PERR_ROOM_FULL, "the room is full", req);
		return;
	}
	if (!r)
		r = room_create(s, name, (size_t)n);
	if (!r || grow(&r->members, &r->cap_members, r->n_members + 1, sizeof(*r->members)) ||
	    grow(&ss->rooms, &ss->cap_rooms, ss->n_rooms + 1, sizeof(*ss->rooms))) {
		if (r && r->n_members == 0) {
			w2_map_remove(&s->rooms, &r->entry);
			s->metrics->rooms--;
			room_destroy(r);
		}
		w2__close_session(s, ss, W2_CLOSE_INTERNAL, "out of memory");
		return;
	}
	r->members[r->n_members++] = ss;
	ss->rooms[ss->n_rooms++] = r;
	send_joined(s, ss, r, req);
	notify_members(s, r, ss, "joined");
}

/* Removes ss from the room at index i of its list and tells the others. */
static void leave_at(struct w2_signal *s, struct w2_session *ss, uint32_t i)
{
	struct w2_room *r = ss->rooms[i];

	ss->rooms[i] = ss->rooms[--ss->n_rooms];
	for (uint32_t k = 0; k < r->n_members; k++) {
		if (r->members[k] == ss) {
			r->members[k] = r->members[--r->n_members];
			break;
		}
	}
	if (r->n_members == 0) {
		w2_map_remove(&s->rooms, &r->entry);
		s->metrics->rooms--;
		room_destroy(r);
		return;
	}
	notify_members(s, r, ss, "left");
}

void w2__handle_leave(struct w2_signal *s, struct w2_session *ss, const struct w2_req *req)
{
	char name[W2_ROOM_MAX + 1];
	char out[W2_ROOM_MAX * 6 + 48 + W2_REF_FIELD_MAX];
	char ref[W2_REF_FIELD_MAX];
	long n = room_name(s, ss, req, name, sizeof(name));
	struct w2_room *r;
	int i;
	int k;

	if (n < 0)
		return;
	r = room_find(s, name, (size_t)n);
	i = r ? session_in_room(ss, r) : -1;
	if (i < 0) {
		w2__send_error(s, ss, W2_PERR_NOT_IN_ROOM, "this session is not in that room", req);
		return;
	}
	w2__ref_field(req, ref, sizeof(ref));
	k = snprintf(out, sizeof(out), "{\"type\":\"left\",\"room\":\"%.*s\"%s}",
		     (int)r->name_json_len, r->name_json, ref);
	leave_at(s, ss, (uint32_t)i);
	w2__send_raw(s, ss, out, (size_t)k);
}

void w2__rooms_leave_all(struct w2_signal *s, struct w2_session *ss)
{
	while (ss->n_rooms > 0)
		leave_at(s, ss, ss->n_rooms - 1);
}
