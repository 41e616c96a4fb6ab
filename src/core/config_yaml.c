/* webrtc2d configuration: the YAML file (docs/operations.md, "Configuration").
 *
 * The YAML file is read through libyaml's event API by a small recursive
 * descent: every mapping of the schema is a static table of {key, handler},
 * so an unknown key is an error (with a suggestion) and each handler checks
 * its value where it stands, with the line of the event that carried it.
 * The descent only follows the schema, so nesting depth is bounded by it;
 * aliases are refused outright, which rules out "billion laughs" documents;
 * and the number of events is capped as a last line of defence.
 *
 * Nothing here keeps state between calls: the parser context lives on the
 * stack of w2_config_parse(). */
#include "core/config_int.h"

#include "core/alloc.h"
#include "core/error.h"

#include <yaml.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define W2__CONFIG_FILE_MAX ((size_t)1024 * 1024) /* bytes of YAML */
#define W2__EVENTS_MAX 100000                     /* far above any valid config */
#define W2__KEYS_MAX 32
#define W2__ICE_MAX 16
#define W2__URLS_MAX 16
#define W2__KEYPATH_MAX 96 /* "auth.keys[31].public_key_file" */
#define W2__FIELDS_MAX 16

/* ---- files ------------------------------------------------------------------ */

/* Reads a whole file of at most `cap` bytes into a NUL-terminated heap
 * buffer. With `regular_only`, anything but a regular file is refused (a key
 * path must not block on a FIFO or read /dev/zero). Returns 0, W2_ENOMEM,
 * W2_ELIMIT (too large) or W2_EIO with the reason in `why`. */
static int read_file(const char *path, size_t cap, bool regular_only, char **out, size_t *out_len,
                     char *why, size_t why_cap)
{
	struct stat st;
	size_t len = 0;
	ssize_t n = 1;
	char *buf = NULL;
	int fd, rc = W2_EIO;

	/* O_NONBLOCK keeps open() from waiting for a FIFO's writer. */
	fd = open(path, O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0));
	if (fd < 0 || fstat(fd, &st) != 0)
		goto fail_errno;
	if (S_ISDIR(st.st_mode) || (regular_only && !S_ISREG(st.st_mode))) {
		snprintf(why, why_cap, "not a regular file");
		goto fail;
	}
	buf = w2_malloc(cap + 2);
	rc = W2_ENOMEM;
	if (!buf)
		goto fail;
	while (len <= cap && n != 0) {
		n = read(fd, buf + len, cap + 1 - len);
		if (n < 0 && errno != EINTR) {
			rc = W2_EIO;
			goto fail_errno;
		}
		len += n > 0 ? (size_t)n : 0;
	}
	rc = W2_ELIMIT;
	if (len > cap)
		goto fail;
	close(fd);
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
fail_errno:
	if (strerror_r(errno, why, why_cap) != 0)
		snprintf(why, why_cap, "error %d", errno);
fail:
	if (fd >= 0)
		close(fd);
	if (buf)
		explicit_bzero(buf, cap + 2);
	w2_free(buf);
	return rc;
}

/* Returns `path` joined to `base` unless it is absolute or base is empty. */
static char *resolve_path(const char *base, const char *path, size_t len)
{
	size_t bl, slash;
	char *s;

	if (path[0] == '/' || !base || !base[0])
		return w2_strndup(path, len);
	bl = strlen(base);
	while (bl > 1 && base[bl - 1] == '/')
		bl--;
	slash = base[bl - 1] != '/'; /* "/" as base needs no second one */
	s = w2_malloc(bl + slash + len + 1);
	if (!s)
		return NULL;
	memcpy(s, base, bl);
	s[bl] = '/';
	memcpy(s + bl + slash, path, len);
	s[bl + slash + len] = '\0';
	return s;
}

/* ---- the YAML walker ------------------------------------------------------- */

struct pctx {
	yaml_parser_t yp;
	struct w2_config *cfg;
	const char *text;
	size_t len;
	const char *base_dir;
	char *err;
	unsigned long events;
	size_t path_len;
	char path[W2__KEYPATH_MAX]; /* "auth.keys[1].alg": where the walker is */
};

/* A handler checks one value event (the first event of the value) and
 * stores it at dst; for a mapping or list it pulls the rest itself. */
typedef int (*value_fn)(struct pctx *p, const yaml_event_t *ev, void *dst);
/* Called for item `index` of a list; obj is what the list belongs to. */
typedef int (*item_fn)(struct pctx *p, const yaml_event_t *ev, void *obj, size_t index);

struct field {
	const char *name;
	value_fn handle;
	size_t offset; /* of the destination inside the mapping's object */
};

static unsigned long ev_line(const yaml_event_t *ev)
{
	return (unsigned long)ev->start_mark.line + 1;
}

static const char *sc_text(const yaml_event_t *ev)
{
	return (const char *)ev->data.scalar.value;
}

static size_t sc_len(const yaml_event_t *ev)
{
	return ev->data.scalar.length;
}

/* A plain empty, "~" or "null" scalar: YAML's null. */
static bool sc_is_null(const yaml_event_t *ev)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

	if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(sc_text(ev), nulls[i]) == 0)
			return true;
	return false;
}

static void path_set(struct pctx *p, size_t old, int n)
{
	if (n < 0)
		n = 0;
	p->path_len = old + (size_t)n;
	if (p->path_len >= sizeof(p->path))
		p->path_len = sizeof(p->path) - 1;
}

/* Appends ".name" (or "name" at the top) to the path; returns the old length. */
static size_t path_push(struct pctx *p, const char *name)
{
	size_t old = p->path_len;

	path_set(p, old,
	         snprintf(p->path + old, sizeof(p->path) - old, "%s%s", old ? "." : "", name));
	return old;
}

static size_t path_push_index(struct pctx *p, size_t index)
{
	size_t old = p->path_len;

	path_set(p, old, snprintf(p->path + old, sizeof(p->path) - old, "[%zu]", index));
	return old;
}

static void path_pop(struct pctx *p, size_t old)
{
	p->path_len = old;
	p->path[old] = '\0';
}

/* Writes "line N: path: message"; returns W2_ECONFIG. */
W2__PRINTF(3, 4)
static int fail_at(struct pctx *p, unsigned long line, const char *fmt, ...)
{
	char msg[W2_CONFIG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->path_len)
		return w2__config_set_err(p->err, "line %lu: %s: %s", line, p->path, msg);
	return w2__config_set_err(p->err, "line %lu: %s", line, msg);
}

/* fail_at() for the sub-key `name` of the current mapping. */
W2__PRINTF(4, 5)
static int fail_sub(struct pctx *p, unsigned long line, const char *name, const char *fmt, ...)
{
	char msg[W2_CONFIG_ERR_MAX];
	size_t old = path_push(p, name);
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rc = fail_at(p, line, "%s", msg);
	path_pop(p, old);
	return rc;
}

static int expected(struct pctx *p, const yaml_event_t *ev, const char *what)
{
	char q[W2__QUOTE_MAX];
	const char *got = "something else";

	if (ev->type == YAML_MAPPING_START_EVENT)
		got = "a mapping";
	else if (ev->type == YAML_SEQUENCE_START_EVENT)
		got = "a list";
	else if (sc_is_null(ev))
		got = "nothing";
	else if (ev->type == YAML_SCALAR_EVENT)
		got = w2__config_quoted(sc_text(ev), sc_len(ev), q);
	return fail_at(p, ev_line(ev), "expected %s, got %s", what, got);
}

/* Turns libyaml's error into "line N: YAML syntax error: problem (context)". */
static int yaml_fail(struct pctx *p)
{
	const yaml_parser_t *y = &p->yp;
	unsigned long line = (unsigned long)y->problem_mark.line + 1;
	const char *problem = y->problem ? y->problem : "malformed YAML";

	if (y->error == YAML_MEMORY_ERROR)
		return w2__config_set_nomem(p->err);
	if (y->error == YAML_READER_ERROR) {
		line = 1;
		for (size_t i = 0; i < y->problem_offset && i < p->len; i++)
			line += p->text[i] == '\n';
		return w2__config_set_err(p->err, "line %lu: YAML error: %s (at byte offset %zu)",
		                          line, problem, y->problem_offset);
	}
	if (y->context)
		return w2__config_set_err(p->err, "line %lu: YAML syntax error: %s (%s)", line,
		                          problem, y->context);
	return w2__config_set_err(p->err, "line %lu: YAML syntax error: %s", line, problem);
}

/* Pulls the next event; refuses aliases and overlong documents. */
static int next_event(struct pctx *p, yaml_event_t *ev)
{
	unsigned long line;

	if (!yaml_parser_parse(&p->yp, ev))
		return yaml_fail(p);
	line = ev_line(ev);
	if (++p->events > W2__EVENTS_MAX) {
		yaml_event_delete(ev);
		return fail_at(p, line, "the document is too large (more than %d YAML events)",
		               W2__EVENTS_MAX);
	}
	if (ev->type == YAML_ALIAS_EVENT) {
		yaml_event_delete(ev);
		return fail_at(p, line,
		               "YAML aliases (*name) are not supported here; write the "
		               "value out");
	}
	/* Every value is used as a C string, so "info\0x" must not pass as "info". */
	if (ev->type == YAML_SCALAR_EVENT && memchr(sc_text(ev), '\0', sc_len(ev))) {
		yaml_event_delete(ev);
		return fail_at(p, line, "NUL characters are not allowed in values");
	}
	return 0;
}

static size_t field_find(const struct field *fields, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(fields[i].name) == len && memcmp(fields[i].name, name, len) == 0)
			return i;
	return n;
}

static int unknown_key(struct pctx *p, const yaml_event_t *key, const struct field *fields,
                       size_t n)
{
	char q[W2__QUOTE_MAX];

	w2__config_quoted(sc_text(key), sc_len(key), q);
	for (size_t i = 0; i < n; i++)
		if (w2__config_looks_like(sc_text(key), sc_len(key), fields[i].name))
			return fail_at(p, ev_line(key), "unknown key %s (did you mean \"%s\"?)", q,
			               fields[i].name);
	return fail_at(p, ev_line(key), "unknown key %s", q);
}

/* One "key: value" pair of a mapping walked by walk_map(). */
static int map_entry(struct pctx *p, const yaml_event_t *key, const struct field *fields, size_t n,
                     void *obj, unsigned long *lines)
{
	yaml_event_t val;
	size_t i;
	int rc;

	if (key->type != YAML_SCALAR_EVENT)
		return fail_at(p, ev_line(key), "keys must be plain strings");
	i = field_find(fields, n, sc_text(key), sc_len(key));
	if (i == n)
		return unknown_key(p, key, fields, n);
	if (lines[i])
		return fail_at(p, ev_line(key), "duplicate key \"%s\" (first on line %lu)",
		               fields[i].name, lines[i]);
	lines[i] = ev_line(key);
	path_push(p, fields[i].name);
	rc = next_event(p, &val);
	if (rc)
		return rc;
	rc = fields[i].handle(p, &val, (char *)obj + fields[i].offset);
	yaml_event_delete(&val);
	return rc;
}

/* Walks a mapping whose start event is `start` with the handlers of
 * `fields`. lines[i] receives the line of key i, or 0 if it is absent. A
 * null value counts as an empty mapping (a section whose keys are all
 * commented out). */
static int walk_map(struct pctx *p, const yaml_event_t *start, const struct field *fields, size_t n,
                    void *obj, unsigned long *lines)
{
	size_t old = p->path_len;
	yaml_event_t key;
	int rc;

	memset(lines, 0, n * sizeof(*lines));
	if (sc_is_null(start))
		return 0;
	if (start->type != YAML_MAPPING_START_EVENT)
		return expected(p, start, "a mapping of keys");
	for (;;) {
		rc = next_event(p, &key);
		if (rc)
			return rc;
		if (key.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&key);
			return 0;
		}
		rc = map_entry(p, &key, fields, n, obj, lines);
		yaml_event_delete(&key);
		path_pop(p, old);
		if (rc)
			return rc;
	}
}

/* Walks a list of at most `max` items; a null value is an empty list. */
static int walk_seq(struct pctx *p, const yaml_event_t *start, item_fn fn, void *obj, size_t max,
                    const char *what)
{
	size_t old = p->path_len;
	yaml_event_t item;
	int rc;

	if (sc_is_null(start))
		return 0;
	if (start->type != YAML_SEQUENCE_START_EVENT)
		return expected(p, start, what);
	for (size_t i = 0;; i++) {
		rc = next_event(p, &item);
		if (rc)
			return rc;
		if (item.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&item);
			return 0;
		}
		if (i == max)
			rc = fail_at(p, ev_line(&item), "too many items (at most %zu)", max);
		else
			path_push_index(p, i);
		if (!rc)
			rc = fn(p, &item, obj, i);
		yaml_event_delete(&item);
		path_pop(p, old);
		if (rc)
			return rc;
	}
}

/* ---- scalar handlers ------------------------------------------------------- */

enum { STR_OPTIONAL = 1, STR_PATH = 2 };

/* Stores a copy of a string value in *dst (freeing the old one). With
 * STR_OPTIONAL, null or "" store NULL; with STR_PATH a relative path is
 * resolved against the config file's directory. */
static int take_string(struct pctx *p, const yaml_event_t *ev, int flags, char **dst)
{
	char *s;

	if ((flags & STR_OPTIONAL) &&
	    (sc_is_null(ev) || (ev->type == YAML_SCALAR_EVENT && sc_len(ev) == 0))) {
		w2_free(*dst);
		*dst = NULL;
		return 0;
	}
	if (ev->type != YAML_SCALAR_EVENT || sc_is_null(ev))
		return expected(p, ev, "a string");
	if (sc_len(ev) == 0)
		return fail_at(p, ev_line(ev), "must not be empty");
	if (sc_len(ev) > W2__STRING_MAX)
		return fail_at(p, ev_line(ev), "is too long (%zu bytes, at most %d)", sc_len(ev),
		               W2__STRING_MAX);
	if (w2__config_has_control(sc_text(ev), sc_len(ev)))
		return fail_at(p, ev_line(ev),
		               "must not contain control characters (newline, tab, "
		               "...)");
	s = (flags & STR_PATH) ? resolve_path(p->base_dir, sc_text(ev), sc_len(ev))
	                       : w2_strndup(sc_text(ev), sc_len(ev));
	if (!s)
		return w2__config_set_nomem(p->err);
	w2_free(*dst);
	*dst = s;
	return 0;
}

static int h_opt_str(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	return take_string(p, ev, STR_OPTIONAL, dst);
}

static int h_path(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	return take_string(p, ev, STR_PATH, dst);
}

static int h_opt_path(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	return take_string(p, ev, STR_OPTIONAL | STR_PATH, dst);
}

static int h_domain(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	char q[W2__QUOTE_MAX];
	int rc = take_string(p, ev, 0, dst);

	if (rc == 0 && !w2__config_dns_name_valid(*(char **)dst))
		return fail_at(p, ev_line(ev), "%s is not a valid DNS name",
		               w2__config_quoted(sc_text(ev), sc_len(ev), q));
	return rc;
}

static int take_u32(struct pctx *p, const yaml_event_t *ev, uint32_t min, uint32_t max,
                    uint32_t *dst)
{
	const char *what = min ? "a positive integer" : "a non-negative integer";
	char q[W2__QUOTE_MAX];
	uint32_t v;
	int rc;

	if (ev->type != YAML_SCALAR_EVENT || sc_is_null(ev))
		return expected(p, ev, what);
	rc = w2__config_parse_u32(sc_text(ev), sc_len(ev), &v);
	if (rc == W2_EINVAL || (rc == 0 && v < min))
		return expected(p, ev, what);
	if (rc != 0 || v > max)
		return fail_at(p, ev_line(ev), "%s is out of range (at most %lu)",
		               w2__config_quoted(sc_text(ev), sc_len(ev), q), (unsigned long)max);
	*dst = v;
	return 0;
}

static int h_u32_pos(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	return take_u32(p, ev, 1, UINT32_MAX, dst);
}

static int h_u32(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	return take_u32(p, ev, 0, UINT32_MAX, dst);
}

static int h_clock_skew(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	return take_u32(p, ev, 0, W2__CLOCK_SKEW_MAX, dst);
}

static int h_bool(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	if (ev->type == YAML_SCALAR_EVENT && strcmp(sc_text(ev), "true") == 0)
		*(bool *)dst = true;
	else if (ev->type == YAML_SCALAR_EVENT && strcmp(sc_text(ev), "false") == 0)
		*(bool *)dst = false;
	else
		return expected(p, ev, "true or false");
	return 0;
}

static const struct w2__config_name_value k_algs[] = {
    {"HS256", W2_JWT_HS256},
    {"RS256", W2_JWT_RS256},
    {"ES256", W2_JWT_ES256},
};

#define W2__N_ALGS (sizeof(k_algs) / sizeof(k_algs[0]))

static const char *alg_name(enum w2_jwt_alg alg)
{
	for (size_t i = 0; i < W2__N_ALGS; i++)
		if (k_algs[i].value == (int)alg)
			return k_algs[i].name;
	return "?";
}

static int h_alg(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	char q[W2__QUOTE_MAX];
	int v;

	if (ev->type != YAML_SCALAR_EVENT || sc_is_null(ev))
		return expected(p, ev, "HS256, RS256 or ES256");
	if (w2__config_name_lookup(k_algs, W2__N_ALGS, sc_text(ev), &v) != 0)
		return fail_at(p, ev_line(ev),
		               "unsupported algorithm %s (use HS256, RS256 or ES256)",
		               w2__config_quoted(sc_text(ev), sc_len(ev), q));
	*(enum w2_jwt_alg *)dst = (enum w2_jwt_alg)v;
	return 0;
}

static int h_log_level(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	char q[W2__QUOTE_MAX];

	if (ev->type != YAML_SCALAR_EVENT || sc_is_null(ev))
		return expected(p, ev, "a log level");
	if (w2_log_level_parse(sc_text(ev), dst) != 0)
		return fail_at(p, ev_line(ev),
		               "unknown level %s (use error, warn, info, debug or "
		               "trace)",
		               w2__config_quoted(sc_text(ev), sc_len(ev), q));
	return 0;
}

static int h_conn_logging(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	char q[W2__QUOTE_MAX];
	int v;

	if (ev->type != YAML_SCALAR_EVENT || sc_is_null(ev))
		return expected(p, ev, "none, anonymous or pseudonymous");
	if (w2__config_name_lookup(w2__config_conn_logging, W2__CONFIG_N_CONN_LOGGING, sc_text(ev),
	                           &v) != 0)
		return fail_at(p, ev_line(ev),
		               "unknown mode %s (use none, anonymous or "
		               "pseudonymous)",
		               w2__config_quoted(sc_text(ev), sc_len(ev), q));
	*(enum w2_conn_logging *)dst = (enum w2_conn_logging)v;
	return 0;
}

/* ---- listen ---------------------------------------------------------------- */

static int h_address(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	struct w2_listen *l = dst;
	char q[W2__QUOTE_MAX];
	const char *why;
	char *host = NULL;
	uint16_t port;
	int rc;

	if (ev->type != YAML_SCALAR_EVENT || sc_is_null(ev))
		return expected(p, ev, "host:port");
	rc = w2__config_address_parse(sc_text(ev), sc_len(ev), &host, &port, &why);
	if (rc == W2_ENOMEM)
		return w2__config_set_nomem(p->err);
	if (rc != 0)
		return fail_at(p, ev_line(ev), "%s %s",
		               w2__config_quoted(sc_text(ev), sc_len(ev), q), why);
	w2_free(l->host);
	l->host = host;
	l->port = port;
	return 0;
}

enum { LF_ADDRESS, LF_TLS, LF_N };

static const struct field k_listen_fields[LF_N] = {
    [LF_ADDRESS] = {"address", h_address, 0},
    [LF_TLS] = {"tls", h_bool, offsetof(struct w2_listen, tls)},
};

/* One listener. Without "tls", a loopback address is plain and any other
 * address uses TLS; "tls: false" on a non-loopback address is refused. */
static int listen_item(struct pctx *p, const yaml_event_t *ev, void *obj, size_t index)
{
	struct w2_config *cfg = obj;
	unsigned long lines[LF_N];
	struct w2_listen *l;
	char name[W2__HOST_MAX + 8];
	int rc;

	l = w2__config_grow_array(cfg->listen, cfg->n_listen, sizeof(*l));
	if (!l)
		return w2__config_set_nomem(p->err);
	cfg->listen = l;
	l = &l[cfg->n_listen++];
	rc = walk_map(p, ev, k_listen_fields, LF_N, l, lines);
	if (rc)
		return rc;
	if (!lines[LF_ADDRESS])
		return fail_at(p, ev_line(ev), "missing key \"address\"");
	if (!lines[LF_TLS])
		l->tls = !w2_host_is_loopback(l->host);
	else if (!l->tls && !w2_host_is_loopback(l->host))
		return fail_at(p, lines[LF_TLS], "%s is not a loopback address and needs tls: true",
		               w2__config_listen_name(l, name, sizeof(name)));
	return 0;
}

/* The list replaces the default listener. */
static int h_listen(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	struct w2_config *cfg = dst;
	int rc;

	w2__config_listen_free(cfg);
	rc = walk_seq(p, ev, listen_item, cfg, W2__LISTEN_MAX, "a list of addresses");
	if (rc == 0 && cfg->n_listen == 0)
		return fail_at(p, ev_line(ev), "needs at least one address");
	return rc;
}

/* ---- tls, auth -------------------------------------------------------------- */

static int h_tls(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	static const struct field fields[] = {
	    {"cert_file", h_opt_path, offsetof(struct w2_config, tls_cert_file)},
	    {"key_file", h_opt_path, offsetof(struct w2_config, tls_key_file)},
	};
	unsigned long lines[2];

	return walk_map(p, ev, fields, 2, dst, lines);
}

static int h_secret(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	unsigned char *m;

	if (ev->type != YAML_SCALAR_EVENT || sc_is_null(ev) || sc_len(ev) == 0)
		return fail_at(p, ev_line(ev), "expected the secret as a non-empty string");
	m = w2_malloc(sc_len(ev) + 1);
	if (!m)
		return w2__config_set_nomem(p->err);
	memcpy(m, sc_text(ev), sc_len(ev) + 1);
	w2__config_key_material_set(dst, m, sc_len(ev));
	return 0;
}

/* Reads secret_file or public_key_file into the key's material; what the
 * bytes must look like is checked once the key's alg is known. */
static int h_key_file(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	char why[128] = "";
	char *path = NULL, *buf = NULL;
	unsigned char *m;
	size_t len;
	int rc;

	rc = take_string(p, ev, STR_PATH, &path);
	if (rc)
		return rc;
	rc = read_file(path, W2__KEY_FILE_MAX, true, &buf, &len, why, sizeof(why));
	if (rc == W2_ENOMEM)
		rc = w2__config_set_nomem(p->err);
	else if (rc == W2_ELIMIT)
		rc = fail_at(p, ev_line(ev), "%s is larger than %d bytes", path, W2__KEY_FILE_MAX);
	else if (rc)
		rc = fail_at(p, ev_line(ev), "cannot read %s: %s", path, why);
	w2_free(path);
	if (rc)
		return rc;
	m = w2_malloc(len + 1);
	if (m) {
		memcpy(m, buf, len + 1);
		w2__config_key_material_set(dst, m, len);
	}
	explicit_bzero(buf, len);
	w2_free(buf);
	return m ? 0 : w2__config_set_nomem(p->err);
}

enum { KF_ID, KF_ALG, KF_SECRET, KF_SECRET_FILE, KF_PUBLIC_KEY_FILE, KF_N };

static const struct field k_key_fields[KF_N] = {
    [KF_ID] = {"id", h_opt_str, offsetof(struct w2_auth_key, kid)},
    [KF_ALG] = {"alg", h_alg, offsetof(struct w2_auth_key, alg)},
    [KF_SECRET] = {"secret", h_secret, 0},
    [KF_SECRET_FILE] = {"secret_file", h_key_file, 0},
    [KF_PUBLIC_KEY_FILE] = {"public_key_file", h_key_file, 0},
};

static int hs_key_finish(struct pctx *p, struct w2_auth_key *k, const unsigned long *lines,
                         unsigned long item_line)
{
	unsigned long l_sec = lines[KF_SECRET], l_file = lines[KF_SECRET_FILE];

	if (lines[KF_PUBLIC_KEY_FILE])
		return fail_sub(p, lines[KF_PUBLIC_KEY_FILE], "public_key_file",
		                "is for RS256 and ES256 keys; an HS256 key takes secret or "
		                "secret_file");
	if (l_sec && l_file)
		return fail_sub(p, l_sec > l_file ? l_sec : l_file,
		                l_sec > l_file ? "secret" : "secret_file",
		                "give either secret or secret_file, not both");
	if (!l_sec && !l_file)
		return fail_at(p, item_line, "an HS256 key needs secret or secret_file");
	/* A file written by echo or an editor ends in a newline that is not
	 * part of the secret. */
	while (
	    l_file && k->material_len > 0 &&
	    (k->material[k->material_len - 1] == '\n' || k->material[k->material_len - 1] == '\r'))
		k->material[--k->material_len] = '\0';
	if (k->material_len < W2__HS256_MIN)
		return fail_sub(p, l_file ? l_file : l_sec, l_file ? "secret_file" : "secret",
		                "an HS256 secret needs at least %d bytes, this one has %zu",
		                W2__HS256_MIN, k->material_len);
	return 0;
}

/* True if the `len` bytes at `hay` contain the string `needle`. */
static bool contains(const unsigned char *hay, size_t len, const char *needle)
{
	size_t nl = strlen(needle);

	for (size_t i = 0; i + nl <= len; i++)
		if (memcmp(hay + i, needle, nl) == 0)
			return true;
	return false;
}

static int pem_key_finish(struct pctx *p, struct w2_auth_key *k, const unsigned long *lines,
                          unsigned long item_line)
{
	static const char begin[] = "-----BEGIN PUBLIC KEY-----";
	unsigned long l_pub = lines[KF_PUBLIC_KEY_FILE];
	const char *alg = alg_name(k->alg);

	if (lines[KF_SECRET] || lines[KF_SECRET_FILE])
		return fail_sub(p, lines[KF_SECRET] ? lines[KF_SECRET] : lines[KF_SECRET_FILE],
		                lines[KF_SECRET] ? "secret" : "secret_file",
		                "is for HS256 keys; an %s key takes public_key_file", alg);
	if (!l_pub)
		return fail_at(p, item_line, "an %s key needs public_key_file", alg);
	if (contains(k->material, k->material_len, begin))
		return 0;
	if (contains(k->material, k->material_len, "PRIVATE KEY-----"))
		return fail_sub(p, l_pub, "public_key_file",
		                "holds a private key; give the "
		                "public key (openssl pkey -pubout)");
	return fail_sub(p, l_pub, "public_key_file", "is not a PEM public key (no \"%s\" line)",
	                begin);
}

static int key_item(struct pctx *p, const yaml_event_t *ev, void *obj, size_t index)
{
	struct w2_config *cfg = obj;
	unsigned long lines[KF_N];
	struct w2_auth_key *k;
	int rc;

	k = w2__config_grow_array(cfg->keys, cfg->n_keys, sizeof(*k));
	if (!k)
		return w2__config_set_nomem(p->err);
	cfg->keys = k;
	k = &k[cfg->n_keys++];
	rc = walk_map(p, ev, k_key_fields, KF_N, k, lines);
	if (rc)
		return rc;
	if (!lines[KF_ALG])
		return fail_at(p, ev_line(ev), "missing key \"alg\" (HS256, RS256 or ES256)");
	if (k->alg == W2_JWT_HS256)
		return hs_key_finish(p, k, lines, ev_line(ev));
	return pem_key_finish(p, k, lines, ev_line(ev));
}

static int h_keys(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	w2__config_keys_free(dst);
	return walk_seq(p, ev, key_item, dst, W2__KEYS_MAX, "a list of keys");
}

static int h_guest_ttl(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	return take_u32(p, ev, 1, W2_GUEST_TTL_MAX, dst);
}

enum { AF_AUDIENCE, AF_ISSUER, AF_CLOCK_SKEW, AF_KEYS, AF_GUEST_TOKENS, AF_GUEST_TTL, AF_N };

static const struct field k_auth_fields[AF_N] = {
    [AF_AUDIENCE] = {"audience", h_opt_str, offsetof(struct w2_config, audience)},
    [AF_ISSUER] = {"issuer", h_opt_str, offsetof(struct w2_config, issuer)},
    [AF_CLOCK_SKEW] = {"clock_skew", h_clock_skew, offsetof(struct w2_config, clock_skew_s)},
    [AF_KEYS] = {"keys", h_keys, 0},
    [AF_GUEST_TOKENS] = {"guest_tokens", h_bool, offsetof(struct w2_config, guest_tokens)},
    [AF_GUEST_TTL] = {"guest_token_ttl", h_guest_ttl,
                      offsetof(struct w2_config, guest_token_ttl_s)},
};

/* Guest tokens are minted by the daemon, so they need a secret it holds; a
 * deployment that only verifies an identity provider's tokens has none.
 * Checked here, once the whole section is read, to name the line. */
static int h_auth(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	const struct w2_config *cfg = dst;
	unsigned long lines[AF_N];
	int rc = walk_map(p, ev, k_auth_fields, AF_N, dst, lines);

	if (rc == 0 && cfg->guest_tokens && !w2_config_can_sign(cfg))
		return fail_sub(p, lines[AF_GUEST_TOKENS], "guest_tokens", "%s", W2__GUEST_NO_KEY);
	return rc;
}

/* ---- ice_servers -------------------------------------------------------------- */

/* RFC 7064 §3.1 (stun:, stuns:) and RFC 7065 §3.1 (turn:, turns:). */
static bool ice_url_valid(const char *url)
{
	static const char *const schemes[] = {"stun:", "stuns:", "turn:", "turns:"};

	for (size_t i = 0; i < 4; i++)
		if (strncmp(url, schemes[i], strlen(schemes[i])) == 0 && url[strlen(schemes[i])])
			return true;
	return false;
}

static bool ice_needs_credentials(const struct w2_ice_server *s)
{
	for (size_t i = 0; i < s->n_urls; i++)
		if (strncmp(s->urls[i], "turn", 4) == 0)
			return true;
	return false;
}

static int url_item(struct pctx *p, const yaml_event_t *ev, void *obj, size_t index)
{
	struct w2_ice_server *s = obj;
	char q[W2__QUOTE_MAX];
	char *url = NULL;
	char **urls;
	int rc;

	rc = take_string(p, ev, 0, &url);
	if (rc)
		return rc;
	if (!ice_url_valid(url)) {
		w2_free(url);
		return fail_at(p, ev_line(ev), "%s is not a stun:, stuns:, turn: or turns: URL",
		               w2__config_quoted(sc_text(ev), sc_len(ev), q));
	}
	urls = w2__config_grow_array(s->urls, s->n_urls, sizeof(*urls));
	if (!urls) {
		w2_free(url);
		return w2__config_set_nomem(p->err);
	}
	s->urls = urls;
	urls[s->n_urls++] = url;
	return 0;
}

/* A single URL or a list of them, as in RTCIceServer.urls. */
static int h_urls(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	struct w2_ice_server *s = dst;
	int rc;

	w2__config_urls_free(s);
	if (ev->type == YAML_SCALAR_EVENT && !sc_is_null(ev))
		return url_item(p, ev, s, 0);
	rc = walk_seq(p, ev, url_item, s, W2__URLS_MAX, "a URL or a list of URLs");
	if (rc == 0 && s->n_urls == 0)
		return fail_at(p, ev_line(ev), "needs at least one URL");
	return rc;
}

enum { IF_URLS, IF_USERNAME, IF_CREDENTIAL, IF_N };

static const struct field k_ice_fields[IF_N] = {
    [IF_URLS] = {"urls", h_urls, 0},
    [IF_USERNAME] = {"username", h_opt_str, offsetof(struct w2_ice_server, username)},
    [IF_CREDENTIAL] = {"credential", h_opt_str, offsetof(struct w2_ice_server, credential)},
};

static int ice_item(struct pctx *p, const yaml_event_t *ev, void *obj, size_t index)
{
	struct w2_config *cfg = obj;
	unsigned long lines[IF_N];
	struct w2_ice_server *s;
	int rc;

	s = w2__config_grow_array(cfg->ice_servers, cfg->n_ice_servers, sizeof(*s));
	if (!s)
		return w2__config_set_nomem(p->err);
	cfg->ice_servers = s;
	s = &s[cfg->n_ice_servers++];
	rc = walk_map(p, ev, k_ice_fields, IF_N, s, lines);
	if (rc)
		return rc;
	if (!lines[IF_URLS])
		return fail_at(p, ev_line(ev), "missing key \"urls\"");
	/* Browsers reject a turn: server without both (RTCIceServer). */
	if (ice_needs_credentials(s) && (!s->username || !s->credential))
		return fail_at(p, ev_line(ev),
		               "turn: and turns: URLs need username and credential");
	return 0;
}

static int h_ice_servers(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	w2__config_ice_free(dst);
	return walk_seq(p, ev, ice_item, dst, W2__ICE_MAX, "a list of ICE servers");
}

/* ---- limits, logging, shutdown, top level ------------------------------------- */

#define W2__LIMIT(name) {#name, h_u32_pos, offsetof(struct w2_limits, name)},

static const struct field k_limit_fields[] = {W2__CONFIG_LIMITS(W2__LIMIT)};

#undef W2__LIMIT

#define W2__N_LIMITS (sizeof(k_limit_fields) / sizeof(k_limit_fields[0]))

static int h_limits(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	unsigned long lines[W2__N_LIMITS];

	return walk_map(p, ev, k_limit_fields, W2__N_LIMITS,
	                (char *)dst + offsetof(struct w2_config, limits), lines);
}

static int h_logging(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	static const struct field fields[] = {
	    {"level", h_log_level, offsetof(struct w2_config, log_level)},
	    {"connections", h_conn_logging, offsetof(struct w2_config, conn_logging)},
	};
	unsigned long lines[2];

	return walk_map(p, ev, fields, 2, dst, lines);
}

static int h_shutdown(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	static const struct field fields[] = {
	    {"drain_timeout_ms", h_u32, offsetof(struct w2_config, drain_timeout_ms)},
	};
	unsigned long lines[1];

	return walk_map(p, ev, fields, 1, dst, lines);
}

/* ---- roles, turn --------------------------------------------------------------- */

static const struct w2__config_name_value k_roles[] = {
    {"signaling", W2__ROLE_SIGNALING},
    {"turn", W2__ROLE_TURN},
};

static int role_item(struct pctx *p, const yaml_event_t *ev, void *obj, size_t index)
{
	struct w2_config *cfg = obj;
	char q[W2__QUOTE_MAX];
	int v;

	if (ev->type != YAML_SCALAR_EVENT || sc_is_null(ev))
		return expected(p, ev, "a role name");
	if (w2__config_name_lookup(k_roles, 2, sc_text(ev), &v) != 0)
		return fail_at(p, ev_line(ev), "unknown role %s (use signaling or turn)",
		               w2__config_quoted(sc_text(ev), sc_len(ev), q));
	w2__config_role_set(cfg, v, true);
	return 0;
}

/* The list replaces the default (every role). */
static int h_roles(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	struct w2_config *cfg = dst;
	int rc;

	w2__config_role_set(cfg, W2__ROLE_SIGNALING, false);
	w2__config_role_set(cfg, W2__ROLE_TURN, false);
	rc = walk_seq(p, ev, role_item, cfg, 4, "a list of roles");
	if (rc == 0 && !cfg->signaling_enabled && !cfg->turn.enabled)
		return fail_at(p, ev_line(ev), "needs at least one role (signaling, turn)");
	return rc;
}

/* A TURN listener: UDP and TCP on the address, or TLS with "tls: true".
 * Unlike signaling, plain TURN on a public address is normal (media is
 * DTLS-SRTP inside; RFC 8656 section 3.1). */
static int turn_listen_item(struct pctx *p, const yaml_event_t *ev, void *obj, size_t index)
{
	struct w2_turn_settings *t = obj;
	unsigned long lines[LF_N];
	struct w2_listen *l;

	l = w2__config_grow_array(t->listen, t->n_listen, sizeof(*l));
	if (!l)
		return w2__config_set_nomem(p->err);
	int rc;

	t->listen = l;
	l = &l[t->n_listen++];
	rc = walk_map(p, ev, k_listen_fields, LF_N, l, lines);
	if (rc)
		return rc;
	if (!lines[LF_ADDRESS])
		return fail_at(p, ev_line(ev), "missing key \"address\"");
	return 0;
}

static int h_turn_listen(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	struct w2_turn_settings *t = dst;

	w2__config_turn_listen_free(t);
	return walk_seq(p, ev, turn_listen_item, t, W2__LISTEN_MAX, "a list of addresses");
}

static int cidr_item(struct pctx *p, const yaml_event_t *ev, void *obj, size_t index)
{
	struct w2__config_cidrs *l = obj;
	char q[W2__QUOTE_MAX];
	struct w2_cidr c;

	if (ev->type != YAML_SCALAR_EVENT || sc_is_null(ev))
		return expected(p, ev, "an address range like 10.0.0.0/8");
	if (w2_cidr_parse(sc_text(ev), sc_len(ev), &c) != 0)
		return fail_at(p, ev_line(ev), "%s is not an address range like 10.0.0.0/8 or "
		               "fd00::/8 (host bits must be zero)",
		               w2__config_quoted(sc_text(ev), sc_len(ev), q));
	return w2__config_cidr_append(l, &c) == 0 ? 0 : w2__config_set_nomem(p->err);
}

static int take_cidrs(struct pctx *p, const yaml_event_t *ev, struct w2_cidr **list, size_t *n)
{
	struct w2__config_cidrs l = {0};
	int rc = walk_seq(p, ev, cidr_item, &l, W2__CIDRS_MAX, "a list of address ranges");

	if (rc) {
		w2_free(l.items);
		return rc;
	}
	w2_free(*list);
	*list = l.items;
	*n = l.n;
	return 0;
}

static int h_allowed_peers(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	struct w2_turn_settings *t = dst;

	return take_cidrs(p, ev, &t->allowed_peers, &t->n_allowed_peers);
}

static int h_denied_peers(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	struct w2_turn_settings *t = dst;

	return take_cidrs(p, ev, &t->denied_peers, &t->n_denied_peers);
}

static int h_turn_secret(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	struct w2_turn_settings *t = dst;

	if (ev->type != YAML_SCALAR_EVENT || sc_is_null(ev) || sc_len(ev) == 0)
		return fail_at(p, ev_line(ev), "expected the secret as a non-empty string");
	return w2__config_turn_secret_set(t, sc_text(ev), sc_len(ev)) == 0
	           ? 0 : w2__config_set_nomem(p->err);
}

static int h_turn_secret_file(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	char why[128] = "";
	char *path = NULL, *buf = NULL;
	size_t len = 0;
	int rc;

	rc = take_string(p, ev, STR_PATH, &path);
	if (rc)
		return rc;
	rc = read_file(path, W2__KEY_FILE_MAX, true, &buf, &len, why, sizeof(why));
	if (rc == 0) {
		/* A secret file usually ends with a newline nobody meant as key. */
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		rc = len ? w2__config_turn_secret_set(dst, buf, len) : W2_EINVAL;
		if (rc == W2_EINVAL)
			rc = fail_at(p, ev_line(ev), "%s is empty", path);
		else if (rc)
			rc = w2__config_set_nomem(p->err);
	} else if (rc == W2_ENOMEM) {
		rc = w2__config_set_nomem(p->err);
	} else {
		rc = fail_at(p, ev_line(ev), "cannot read %s: %s", path, why);
	}
	if (buf)
		explicit_bzero(buf, len);
	w2_free(buf);
	w2_free(path);
	return rc;
}

static const struct field k_turn_user_fields[] = {
    {"name", h_opt_str, offsetof(struct w2_turn_user, name)},
    {"password", h_opt_str, offsetof(struct w2_turn_user, password)},
};

static int turn_user_item(struct pctx *p, const yaml_event_t *ev, void *obj, size_t index)
{
	struct w2_turn_settings *t = obj;
	struct w2_turn_user *u;
	unsigned long lines[2];

	u = w2__config_grow_array(t->users, t->n_users, sizeof(*u));
	if (!u)
		return w2__config_set_nomem(p->err);
	int rc;

	t->users = u;
	u = &u[t->n_users++];
	rc = walk_map(p, ev, k_turn_user_fields, 2, u, lines);
	if (rc)
		return rc;
	if (!u->name || !u->password)
		return fail_at(p, ev_line(ev), "a user needs \"name\" and \"password\"");
	if (strchr(u->name, ':'))
		return fail_at(p, ev_line(ev), "a user name must not contain ':' (it would read "
		               "as a time-limited REST credential)");
	return 0;
}

static int h_turn_users(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	struct w2_turn_settings *t = dst;

	w2__config_turn_users_free(t);
	return walk_seq(p, ev, turn_user_item, t, W2__TURN_USERS_MAX, "a list of users");
}

static int h_port(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	uint32_t v;
	int rc = take_u32(p, ev, 1, 65535, &v);

	if (rc == 0)
		*(uint16_t *)dst = (uint16_t)v;
	return rc;
}

#define TS(f) offsetof(struct w2_turn_settings, f)

static const struct field k_turn_fields[] = {
    {"listen", h_turn_listen, 0},
    {"relay_ip", h_opt_str, TS(relay_ip)},
    {"external_ip", h_opt_str, TS(external_ip)},
    {"public_host", h_opt_str, TS(public_host)},
    {"min_port", h_port, TS(min_port)},
    {"max_port", h_port, TS(max_port)},
    {"realm", h_opt_str, TS(realm)},
    {"secret", h_turn_secret, 0},
    {"secret_file", h_turn_secret_file, 0},
    {"credential_ttl", h_u32_pos, TS(credential_ttl_s)},
    {"users", h_turn_users, 0},
    {"max_allocations", h_u32_pos, TS(max_allocations)},
    {"max_allocations_per_user", h_u32_pos, TS(max_allocations_per_user)},
    {"max_permissions", h_u32_pos, TS(max_permissions)},
    {"max_channels", h_u32_pos, TS(max_channels)},
    {"max_lifetime", h_u32_pos, TS(max_lifetime_s)},
    {"bandwidth_bytes_per_s", h_u32, TS(bandwidth_bytes_per_s)},
    {"unauth_requests_per_s", h_u32_pos, TS(unauth_requests_per_s)},
    {"allowed_peer_ranges", h_allowed_peers, 0},
    {"denied_peer_ranges", h_denied_peers, 0},
};

#undef TS
#define W2__N_TURN (sizeof(k_turn_fields) / sizeof(k_turn_fields[0]))

static int h_turn(struct pctx *p, const yaml_event_t *ev, void *dst)
{
	unsigned long lines[W2__N_TURN];

	return walk_map(p, ev, k_turn_fields, W2__N_TURN,
	                (char *)dst + offsetof(struct w2_config, turn), lines);
}

static const struct field k_top_fields[] = {
    {"roles", h_roles, 0},
    {"turn", h_turn, 0},
    {"domain", h_domain, offsetof(struct w2_config, domain)},
    {"state_dir", h_path, offsetof(struct w2_config, state_dir)},
    {"web_root", h_opt_path, offsetof(struct w2_config, web_root)},
    {"listen", h_listen, 0},
    {"tls", h_tls, 0},
    {"auth", h_auth, 0},
    {"ice_servers", h_ice_servers, 0},
    {"limits", h_limits, 0},
    {"logging", h_logging, 0},
    {"shutdown", h_shutdown, 0},
};

#define W2__N_TOP (sizeof(k_top_fields) / sizeof(k_top_fields[0]))

/* The stream: at most one document whose root is a mapping (or null). */
static int parse_stream(struct pctx *p)
{
	unsigned long lines[W2__N_TOP];
	bool seen_doc = false;
	yaml_event_t ev;
	int rc;

	for (;;) {
		rc = next_event(p, &ev);
		if (rc)
			return rc;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			return 0;
		case YAML_DOCUMENT_START_EVENT:
			if (seen_doc)
				rc = fail_at(p, ev_line(&ev), "only one YAML document is allowed");
			seen_doc = true;
			break;
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		default:
			if (ev.type == YAML_MAPPING_START_EVENT || sc_is_null(&ev))
				rc = walk_map(p, &ev, k_top_fields, W2__N_TOP, p->cfg, lines);
			else
				rc = expected(p, &ev, "a mapping of keys at the top level");
		}
		yaml_event_delete(&ev);
		if (rc)
			return rc;
	}
}

int w2_config_parse(const char *text, size_t len, const char *base_dir, struct w2_config **out,
                    char *err)
{
	char scratch[W2_CONFIG_ERR_MAX];
	struct pctx p;
	int rc;

	if (!err)
		err = scratch;
	err[0] = '\0';
	if (!out || (!text && len))
		return W2_EINVAL;
	*out = NULL;
	if (len > W2__CONFIG_FILE_MAX)
		return w2__config_set_err(err, "the config is larger than 1 MiB");
	memset(&p, 0, sizeof(p));
	p.text = text ? text : "";
	p.len = len;
	p.base_dir = base_dir;
	p.err = err;
	if (w2_config_default(&p.cfg) != 0 || !yaml_parser_initialize(&p.yp)) {
		w2_config_destroy(p.cfg);
		return w2__config_set_nomem(err);
	}
	/* A file usually means a server others can reach: anyone reaching it
	 * could take any free name, so guest sign-in waits to be asked for. */
	p.cfg->guest_tokens = false;
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)p.text, len);
	rc = parse_stream(&p);
	yaml_parser_delete(&p.yp);
	if (rc) {
		w2_config_destroy(p.cfg);
		return rc;
	}
	*out = p.cfg;
	return 0;
}

int w2_config_load(const char *path, struct w2_config **out, char *err)
{
	char scratch[W2_CONFIG_ERR_MAX], why[128] = "";
	const char *slash;
	char *text = NULL, *dir = NULL;
	size_t len;
	int rc;

	if (!err)
		err = scratch;
	err[0] = '\0';
	if (!path || !out)
		return W2_EINVAL;
	*out = NULL;
	rc = read_file(path, W2__CONFIG_FILE_MAX, false, &text, &len, why, sizeof(why));
	if (rc == W2_ENOMEM)
		return w2__config_set_nomem(err);
	if (rc == W2_ELIMIT)
		return w2__config_set_err(err, "config file %s is larger than 1 MiB", path);
	if (rc)
		return w2__config_set_err(err, "cannot read config file %s: %s", path, why);
	slash = strrchr(path, '/');
	if (slash && !(dir = w2_strndup(path, slash == path ? 1 : (size_t)(slash - path)))) {
		rc = w2__config_set_nomem(err);
		goto done;
	}
	rc = w2_config_parse(text, len, dir, out, err);
done:
	explicit_bzero(text, len); /* it may hold an HS256 secret */
	w2_free(text);
	w2_free(dir);
	return rc;
}
