/* The daemon's state on disk: one SQLite database (WAL) in the state dir.
 *
 * Issue-2 scope: the generated secrets the embedded default needs. Nothing
 * about sessions, signals or who talked to whom is ever written here
 * (docs/privacy.md). Not thread-safe; used at start-up and reload only. */
#ifndef W2_STORE_STORE_H
#define W2_STORE_STORE_H

#include <stddef.h>

struct w2_store;

/* Creates state_dir (mode 0700) if needed and opens state_dir/webrtc2.db
 * (mode 0600). On failure writes a sentence into err (256 bytes). */
int w2_store_open(struct w2_store **out, const char *state_dir, char *err);
void w2_store_close(struct w2_store *st);

/* Returns in out the secret `name` of exactly len bytes, generating and
 * saving a random one the first time. */
int w2_store_secret(struct w2_store *st, const char *name, unsigned char *out, size_t len);

#endif
