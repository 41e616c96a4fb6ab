/* Static files of the web app and SDK, from the configured web root.
 *
 * Files are read whole on the loop thread: they are small and hot in the
 * page cache, and the cap below bounds the worst case. The path was already
 * percent-decoded and stripped of ".." segments by http.c; realpath() then
 * makes sure symlinks do not lead out of the root either. */
#include "transport/transport_int.h"

#include "core/alloc.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATIC_MAX_BYTES (8u << 20)

static const struct {
	const char *ext;
	const char *type;
} content_types[] = {
	{".html", "text/html; charset=utf-8"},
	{".js", "text/javascript; charset=utf-8"},
	{".mjs", "text/javascript; charset=utf-8"},
	{".css", "text/css; charset=utf-8"},
	{".json", "application/json"},
	{".webmanifest", "application/manifest+json"},
	{".svg", "image/svg+xml"},
	{".png", "image/png"},
	{".ico", "image/x-icon"},
	{".wasm", "application/wasm"},
	{".txt", "text/plain; charset=utf-8"},
	{".map", "application/json"},
	{".woff2", "font/woff2"},
};

static const char *content_type(const char *path)
{
	size_t pl = strlen(path);

	for (size_t i = 0; i < sizeof(content_types) / sizeof(content_types[0]); i++) {
		size_t el = strlen(content_types[i].ext);

		if (pl > el && strcmp(path + pl - el, content_types[i].ext) == 0)
			return content_types[i].type;
	}
	return "application/octet-stream";
}

static void not_found(struct w2_conn *c, bool head, bool keep)
{
	w2__http_respond(c, 404, "text/plain; charset=utf-8", NULL, "not found\n", 10, head, keep);
}

/* Resolves path under the web root into out; returns 0, or -1 if it does
 * not exist or lies outside the root. */
static int resolve_in_root(const char *root, const char *path, char *out)
{
	char root_real[PATH_MAX];
	char joined[PATH_MAX];
	size_t rl;
	struct stat st;

	if (!realpath(root, root_real))
		return -1;
	if (snprintf(joined, sizeof(joined), "%s%s", root_real, path) >= (int)sizeof(joined))
		return -1;
	if (stat(joined, &st) == 0 && S_ISDIR(st.st_mode)) {
		size_t jl = strlen(joined);

		if (snprintf(joined + jl, sizeof(joined) - jl, "%sindex.html",
			     joined[jl - 1] == '/' ? "" : "/") >= (int)(sizeof(joined) - jl))
			return -1;
	}
	if (!realpath(joined, out))
		return -1;
	rl = strlen(root_real);
	if (strncmp(out, root_real, rl) != 0 || (out[rl] != '/' && out[rl] != '\0'))
		return -1;
	return 0;
}

void w2__static_serve(struct w2_conn *c, const char *path, const char *if_none_match,
		      bool head, bool keep)
{
	const char *root = c->srv->cfg->web_root;
	char real[PATH_MAX];
	char etag[64], extra[256];
	struct stat st;
	char *body = NULL;
	int fd = -1;

	if (!root || resolve_in_root(root, path, real) != 0)
		goto missing;
	fd = open(real, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > STATIC_MAX_BYTES)
		goto missing;
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec * 1000000000ULL +
			 (unsigned long long)st.st_mtim.tv_nsec);
	/* HTML is revalidated every time so a new release shows at once; the
	 * rest may be cached for an hour and revalidated by ETag after. */
	snprintf(extra, sizeof(extra), "ETag: %s\r\nCache-Control: %s\r\n", etag,
		 strstr(content_type(real), "text/html") ? "no-cache" : "public, max-age=3600");
	if (if_none_match[0] && strstr(if_none_match, etag)) {
		close(fd);
		w2__http_respond(c, 304, content_type(real), extra, NULL, 0, true, keep);
		return;
	}
	body = w2_malloc((size_t)st.st_size + 1);
	if (!body || read(fd, body, (size_t)st.st_size) != st.st_size) {
		w2_free(body);
		close(fd);
		w2__http_respond(c, 500, "text/plain", NULL, "read error\n", 11, head, false);
		return;
	}
	close(fd);
	w2__http_respond(c, 200, content_type(real), extra, body, (size_t)st.st_size, head, keep);
	w2_free(body);
	return;
missing:
	if (fd >= 0)
		close(fd);
	not_found(c, head, keep);
}
