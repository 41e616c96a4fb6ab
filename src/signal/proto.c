#include "signal/proto.h"

static const char *const perr_names[W2_PERR_COUNT_] = {
	[W2_PERR_NOT_AUTHENTICATED] = "not-authenticated",
	[W2_PERR_UNAUTHORIZED] = "unauthorized",
	[W2_PERR_UNSUPPORTED_VERSION] = "unsupported-version",
	[W2_PERR_ALREADY_AUTHENTICATED] = "already-authenticated",
	[W2_PERR_TOO_MANY_SESSIONS] = "too-many-sessions",
	[W2_PERR_BAD_JSON] = "bad-json",
	[W2_PERR_BAD_MESSAGE] = "bad-message",
	[W2_PERR_UNKNOWN_TYPE] = "unknown-type",
	[W2_PERR_TOO_LARGE] = "too-large",
	[W2_PERR_RATE_LIMITED] = "rate-limited",
	[W2_PERR_PEER_UNAVAILABLE] = "peer-unavailable",
	[W2_PERR_ROOM_FULL] = "room-full",
	[W2_PERR_TOO_MANY_ROOMS] = "too-many-rooms",
	[W2_PERR_NOT_IN_ROOM] = "not-in-room",
	[W2_PERR_TOKEN_EXPIRED] = "token-expired",
};

const char *w2_perr_name(enum w2_perr code)
{
	if ((unsigned)code >= W2_PERR_COUNT_)
		return "internal-error";
	return perr_names[code];
}
