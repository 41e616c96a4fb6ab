/* Logging: one family of macros, key=value context, one line per event.
 *
 * Privacy rule (docs/privacy.md): never pass tokens, SDP, payloads or, at
 * INFO and above, IP addresses to these macros. Anything that can happen per
 * packet or per message must be logged at DEBUG/TRACE or rate-limited. */
#ifndef W2_CORE_LOG_H
#define W2_CORE_LOG_H

enum w2_log_level {
	W2_LOG_LEVEL_ERROR = 0,
	W2_LOG_LEVEL_WARN,
	W2_LOG_LEVEL_INFO,
	W2_LOG_LEVEL_DEBUG,
	W2_LOG_LEVEL_TRACE,
};

/* Sets the most verbose level that is written (default INFO). */
void w2_log_set_level(enum w2_log_level level);
enum w2_log_level w2_log_get_level(void);
/* Parses "error|warn|info|debug|trace"; returns 0 or W2_EINVAL. */
int w2_log_level_parse(const char *name, enum w2_log_level *out);

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void w2_log_write(enum w2_log_level level, const char *module, const char *fmt, ...);

#define W2_LOG_(lvl, mod, ...)                                              \
	do {                                                                \
		if ((lvl) <= w2_log_get_level())                            \
			w2_log_write((lvl), (mod), __VA_ARGS__);            \
	} while (0)
#define W2_LOG_ERROR(mod, ...) W2_LOG_(W2_LOG_LEVEL_ERROR, mod, __VA_ARGS__)
#define W2_LOG_WARN(mod, ...) W2_LOG_(W2_LOG_LEVEL_WARN, mod, __VA_ARGS__)
#define W2_LOG_INFO(mod, ...) W2_LOG_(W2_LOG_LEVEL_INFO, mod, __VA_ARGS__)
#define W2_LOG_DEBUG(mod, ...) W2_LOG_(W2_LOG_LEVEL_DEBUG, mod, __VA_ARGS__)
#define W2_LOG_TRACE(mod, ...) W2_LOG_(W2_LOG_LEVEL_TRACE, mod, __VA_ARGS__)

#endif
