/* Internal structures of the signaling engine, shared by session.c,
 * router.c and rooms.c. Not part of any public interface. */
#ifndef W2_SIGNAL_SIGNAL_INT_H
#define W2_SIGNAL_SIGNAL_INT_H

#include "core/map.h"
#include "signal/auth.h"
#include "signal/msg.h"
#include "signal/proto.h"
#include "signal/signal.h"

#include <stdbool.h>

#define W2_DEVICE_MAX 32
#define W2_ID_MAX 128     /* bytes of a client request id */
#define W2_REF_FIELD_MAX (W2_ID_MAX + 16) /* ,"ref":"<id>" */
#define W2_ROOM_MAX 128   /* bytes of a decoded room name */
#define W2_SESSION_ID_LEN 22
#define W2_ABUSE_WINDOW_MS 10000

struct w2_user {
	struct w2_map_entry entry; /* key: name */
	char name[W2_USER_MAX + 1];
	struct w2_session *sessions; /* linked by next_of_user */
	uint32_t n_sessions;
};

struct w2_room {
	struct w2_map_entry entry; /* key: decoded name */
	char *name;                /* decoded UTF-8, NUL-terminated */
	char *name_json;           /* escaped for output, without quotes */
	size_t name_json_len;
	struct w2_session **members;
	uint32_t n_members, cap_members;
};

struct w2_session {
	struct w2_conn *conn;
	const struct w2_conn_ops *ops;
	struct w2_session *prev_all, *next_all;       /* every session */
	struct w2_session *prev_of_user, *next_of_user;
	struct w2_user *user; /* NULL until hello succeeds */
	bool detached;        /* closing: no longer routable */
	char id[W2_SESSION_ID_LEN + 1];
	char device[W2_DEVICE_MAX + 1];
	int64_t expires_at;   /* token exp, Unix seconds */
	uint64_t opened_ms;
	uint64_t bucket_ms;   /* token bucket: last refill */
	uint64_t bucket_milli; /* tokens x 1000 */
	uint64_t abuse_window_ms;
	uint32_t abuse_count;
	struct w2_room **rooms;
	uint32_t n_rooms, cap_rooms;
	/* {"type":"signal","from":"<peer>","fromDevice":"<device>","data": */
	char *relay_prefix;
	size_t relay_prefix_len;
	char *peer_json; /* "<user>@<domain>" (no escaping needed) */
};

struct w2_signal {
	const struct w2_config *cfg;
	const struct w2_auth *auth;
	struct w2_metrics *metrics;
	struct w2_msg_parser *parser;
	struct w2_map users;
	struct w2_map rooms;
	struct w2_session *all;
	char *welcome_tail; /* ,"iceServers":[...],"limits":{...}} */
	size_t welcome_tail_len;
	size_t ice_at;       /* offset of the configured servers in welcome_tail */
	size_t ice_end;      /* offset just after them (the closing ']') */
	char *turn_urls;     /* ["turn:...",...] of the own relay, or NULL */
	uint64_t now_ms; /* the latest time given to the engine (Unix ms) */
	unsigned char pseudonym_key[32];
	int64_t pseudonym_day;
	uint64_t guest_bucket_ms;    /* guest sign-in token bucket: last refill */
	uint64_t guest_bucket_milli; /* tokens x 1000 */
};

#define W2__ICE_TURN_MAX 1200 /* bytes of one rendered TURN entry */

/* Renders s->turn_urls from the config (NULL when no TURN credentials are
 * handed out). Returns 0, W2_ENOMEM or W2_ELIMIT. (ice.c) */
int w2__ice_render_turn_urls(struct w2_signal *s);

/* Writes the JSON object of the own relay with a credential for `user`
 * valid from now_s for turn.credential_ttl; returns its length, or 0 when
 * there is none to give. */
size_t w2__ice_turn_entry(const struct w2_signal *s, const char *user, int64_t now_s, char *out,
			  size_t cap);

/* One request being handled: the frame and its parsed envelope. */
struct w2_req {
	const char *buf;
	const struct w2_msg *msg;
	uint64_t now_ms;
};

/* session.c */
/* The user named name[0..len), or NULL if no session of theirs is live. */
struct w2_user *w2__user_find(struct w2_signal *s, const char *name, size_t len);
void w2__send_raw(struct w2_signal *s, struct w2_session *ss, const char *text, size_t len);
void w2__send_error(struct w2_signal *s, struct w2_session *ss, enum w2_perr code,
		    const char *message, const struct w2_req *req);
void w2__close_session(struct w2_signal *s, struct w2_session *ss, uint16_t code,
		       const char *reason);
/* Writes ,"ref":"<id>" for a request that had an id (else "") into out;
 * returns its length. Every answer to a request carries it. */
int w2__ref_field(const struct w2_req *req, char *out, size_t cap);
/* Decodes a string span; returns length or -1. */
long w2__span_string(const struct w2_req *req, struct w2_span sp, char *out, size_t cap);
int w2__device_valid(const char *d, size_t len);

/* router.c */
void w2__handle_signal(struct w2_signal *s, struct w2_session *ss, const struct w2_req *req);

/* rooms.c */
void w2__handle_join(struct w2_signal *s, struct w2_session *ss, const struct w2_req *req);
void w2__handle_leave(struct w2_signal *s, struct w2_session *ss, const struct w2_req *req);
void w2__rooms_leave_all(struct w2_signal *s, struct w2_session *ss);

#endif
