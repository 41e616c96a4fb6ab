#include "core/map.h"

#include "core/alloc.h"
#include "core/error.h"

#include <sodium.h>
#include <string.h>

#define MAP_INITIAL_BUCKETS 64

static uint64_t map_hash(const struct w2_map *m, const char *key, size_t len)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(out, (const unsigned char *)key, len, m->sip_key);
	memcpy(&h, out, sizeof(h));
	return h;
}

int w2_map_init(struct w2_map *m)
{
	memset(m, 0, sizeof(*m));
	if (sodium_init() < 0)
		return W2_EIO;
	m->buckets = w2_calloc(MAP_INITIAL_BUCKETS, sizeof(*m->buckets));
	if (!m->buckets)
		return W2_ENOMEM;
	m->n_buckets = MAP_INITIAL_BUCKETS;
	randombytes_buf(m->sip_key, sizeof(m->sip_key));
	return 0;
}

void w2_map_deinit(struct w2_map *m)
{
	w2_free(m->buckets);
	m->buckets = NULL;
	m->n_buckets = 0;
	m->count = 0;
}

struct w2_map_entry *w2_map_find(const struct w2_map *m, const char *key, size_t len)
{
	uint64_t h = map_hash(m, key, len);
	struct w2_map_entry *e = m->buckets[h & (m->n_buckets - 1)];

	for (; e; e = e->next)
		if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
			return e;
	return NULL;
}

/* Doubles the bucket array; on allocation failure the map keeps working
 * with longer chains. */
static void map_grow(struct w2_map *m)
{
	size_t n = m->n_buckets * 2;
	struct w2_map_entry **b = w2_calloc(n, sizeof(*b));

	if (!b)
		return;
	for (size_t i = 0; i < m->n_buckets; i++) {
		struct w2_map_entry *e = m->buckets[i];

		while (e) {
			struct w2_map_entry *next = e->next;

			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	w2_free(m->buckets);
	m->buckets = b;
	m->n_buckets = n;
}

int w2_map_insert(struct w2_map *m, struct w2_map_entry *e)
{
	size_t i;

	e->hash = map_hash(m, e->key, e->key_len);
	i = e->hash & (m->n_buckets - 1);
	e->next = m->buckets[i];
	m->buckets[i] = e;
	if (++m->count > m->n_buckets)
		map_grow(m);
	return 0;
}

void w2_map_remove(struct w2_map *m, struct w2_map_entry *e)
{
	struct w2_map_entry **p = &m->buckets[e->hash & (m->n_buckets - 1)];

	for (; *p; p = &(*p)->next) {
		if (*p == e) {
			*p = e->next;
			e->next = NULL;
			m->count--;
			return;
		}
	}
}
