#include "core/error.h"

const char *w2_strerror(int err)
{
	static const char *const names[] = {
		[0] = "success",
		[1] = "out of memory",
		[2] = "invalid argument or input",
		[3] = "I/O error",
		[4] = "try again",
		[5] = "not found",
		[6] = "already exists",
		[7] = "limit reached",
		[8] = "authentication failed",
		[9] = "protocol error",
		[10] = "bad configuration",
		[11] = "closed",
		[12] = "TLS error",
	};
	int i = -err;

	if (i < 0 || i >= (int)(sizeof(names) / sizeof(names[0])))
		return "unknown error";
	return names[i];
}
