/* Protocol v1 constants: error codes and close codes (docs/protocol.md). */
#ifndef W2_SIGNAL_PROTO_H
#define W2_SIGNAL_PROTO_H

/* Error codes sent as {"type":"error","code":...}. The order is the index
 * into w2_perr_names and the metrics array. */
enum w2_perr {
	W2_PERR_NOT_AUTHENTICATED = 0,
	W2_PERR_UNAUTHORIZED,
	W2_PERR_UNSUPPORTED_VERSION,
	W2_PERR_ALREADY_AUTHENTICATED,
	W2_PERR_TOO_MANY_SESSIONS,
	W2_PERR_BAD_JSON,
	W2_PERR_BAD_MESSAGE,
	W2_PERR_UNKNOWN_TYPE,
	W2_PERR_TOO_LARGE,
	W2_PERR_RATE_LIMITED,
	W2_PERR_PEER_UNAVAILABLE,
	W2_PERR_ROOM_FULL,
	W2_PERR_TOO_MANY_ROOMS,
	W2_PERR_NOT_IN_ROOM,
	W2_PERR_TOKEN_EXPIRED,
	W2_PERR_COUNT_
};

/* The kebab-case wire name of an error code. */
const char *w2_perr_name(enum w2_perr code);

/* WebSocket close codes (RFC 6455 section 7.4 and our 4000-4999 range). */
enum w2_close {
	W2_CLOSE_NORMAL = 1000,
	W2_CLOSE_GOING_AWAY = 1001,
	W2_CLOSE_PROTOCOL = 1002,
	W2_CLOSE_BAD_DATA = 1007,
	W2_CLOSE_POLICY = 1008,
	W2_CLOSE_TOO_BIG = 1009,
	W2_CLOSE_INTERNAL = 1011,
	W2_CLOSE_BAD_VERSION = 4000,
	W2_CLOSE_UNAUTHORIZED = 4001,
	W2_CLOSE_TOKEN_EXPIRED = 4002,
	W2_CLOSE_TOO_SLOW = 4003,
	W2_CLOSE_TOO_MANY_SESSIONS = 4004,
	W2_CLOSE_HELLO_TIMEOUT = 4005,
	W2_CLOSE_REPLACED = 4006,
};

#endif
