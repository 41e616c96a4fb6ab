/* An intrusive string-keyed hash map.
 *
 * Entries are embedded in the caller's objects (struct w2_map_entry), so
 * inserting allocates nothing but the occasional bucket-array growth. Keys
 * come from the network (user and room names), so buckets are chosen by a
 * keyed SipHash with a random per-map key: a client cannot aim many names at
 * one bucket. Not thread-safe. */
#ifndef W2_CORE_MAP_H
#define W2_CORE_MAP_H

#include <stddef.h>
#include <stdint.h>

struct w2_map_entry {
	struct w2_map_entry *next;
	uint64_t hash;
	const char *key; /* borrowed: must live as long as the entry is in a map */
	size_t key_len;
};

struct w2_map {
	struct w2_map_entry **buckets;
	size_t n_buckets; /* a power of two */
	size_t count;
	unsigned char sip_key[16];
};

/* Initializes an empty map in caller storage. Returns 0 or W2_ENOMEM. */
int w2_map_init(struct w2_map *m);
/* Frees the bucket array; the entries belong to the caller. */
void w2_map_deinit(struct w2_map *m);

/* Finds the entry with this key, or NULL. */
struct w2_map_entry *w2_map_find(const struct w2_map *m, const char *key, size_t len);
/* Inserts e, whose key/key_len the caller has set and which must not be in
 * the map. Returns 0 or W2_ENOMEM (growth failure is not fatal: the entry is
 * still inserted and 0 returned; only the initial array can fail). */
int w2_map_insert(struct w2_map *m, struct w2_map_entry *e);
/* Removes e, which must be in the map. */
void w2_map_remove(struct w2_map *m, struct w2_map_entry *e);

#endif
