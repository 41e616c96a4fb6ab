#include "core/log.h"

#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum w2_log_level current_level = W2_LOG_LEVEL_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

void w2_log_set_level(enum w2_log_level level)
{
	current_level = level;
}

enum w2_log_level w2_log_get_level(void)
{
	return current_level;
}

int w2_log_level_parse(const char *name, enum w2_log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum w2_log_level)i;
			return 0;
		}
	}
	return W2_EINVAL;
}

void w2_log_write(enum w2_log_level level, const char *module, const char *fmt, ...)
{
	char line[1024];
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03ldZ %-5s %-9s ", stamp, ts.tv_nsec / 1000000L,
		     level_names[level], module);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One fputs per line keeps lines whole when several threads log. */
	fprintf(stderr, "%s\n", line);
}
