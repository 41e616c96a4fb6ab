#include "store/store.h"

#include "core/alloc.h"
#include "core/error.h"

#include <errno.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct w2_store {
	sqlite3 *db;
};

static const char schema[] =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', '1');"
	"CREATE TABLE IF NOT EXISTS secrets(name TEXT PRIMARY KEY, value BLOB NOT NULL,"
	" created INTEGER NOT NULL);";

static int mkdir_p(const char *dir)
{
	char tmp[4096];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, dir, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

int w2_store_open(struct w2_store **out, const char *state_dir, char *err)
{
	struct w2_store *st;
	char path[4096];
	char *msg = NULL;

	*out = NULL;
	if (mkdir_p(state_dir) != 0) {
		snprintf(err, 256, "state_dir %s: cannot create it: %s", state_dir, strerror(errno));
		return W2_EIO;
	}
	snprintf(path, sizeof(path), "%s/webrtc2.db", state_dir);
	st = w2_calloc(1, sizeof(*st));
	if (!st)
		return W2_ENOMEM;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		snprintf(err, 256, "%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
		goto fail;
	}
	chmod(path, 0600);
	sqlite3_busy_timeout(st->db, 5000);
	if (sqlite3_exec(st->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, 256, "%s: %s", path, msg ? msg : "schema error");
		sqlite3_free(msg);
		goto fail;
	}
	*out = st;
	return 0;
fail:
	w2_store_close(st);
	return W2_EIO;
}

void w2_store_close(struct w2_store *st)
{
	if (!st)
		return;
	sqlite3_close(st->db);
	w2_free(st);
}

static int secret_read(struct w2_store *st, const char *name, unsigned char *out, size_t len)
{
	sqlite3_stmt *q;
	int rc = W2_ENOENT;

	if (sqlite3_prepare_v2(st->db, "SELECT value FROM secrets WHERE name=?", -1, &q, NULL) !=
	    SQLITE_OK)
		return W2_EIO;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	if (sqlite3_step(q) == SQLITE_ROW) {
		if ((size_t)sqlite3_column_bytes(q, 0) == len) {
			memcpy(out, sqlite3_column_blob(q, 0), len);
			rc = 0;
		} else {
			rc = W2_EINVAL;
		}
	}
	sqlite3_finalize(q);
	return rc;
}

int w2_store_secret(struct w2_store *st, const char *name, unsigned char *out, size_t len)
{
	sqlite3_stmt *q;
	int rc = secret_read(st, name, out, len);

	if (rc != W2_ENOENT)
		return rc;
	if (sodium_init() < 0)
		return W2_EIO;
	randombytes_buf(out, len);
	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO secrets(name, value, created) VALUES(?, ?, strftime('%s'))",
			       -1, &q, NULL) != SQLITE_OK)
		return W2_EIO;
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(q, 2, out, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : W2_EIO;
	sqlite3_finalize(q);
	/* Another process may have won the race: use what is stored. */
	return rc == 0 ? 0 : secret_read(st, name, out, len);
}
