/* Output queues of pooled fixed-size chunks.
 *
 * A connection's pending output is a list of chunks taken from its server's
 * pool and given back as soon as they are written, so an idle connection
 * holds no buffer and a busy one allocates nothing in steady state. Chunks
 * never move, so a write request may point into them while more bytes are
 * appended behind it. Not thread-safe. */
#ifndef W2_TRANSPORT_OUTQ_H
#define W2_TRANSPORT_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define W2_CHUNK_SIZE 4096

struct w2_chunk {
	struct w2_chunk *next;
	uint32_t head, tail;
	uint8_t data[W2_CHUNK_SIZE - 2 * sizeof(uint32_t) - sizeof(void *)];
};

struct w2_pool {
	struct w2_chunk *free;
	size_t n_free;
	size_t max_free; /* chunks beyond this are returned to malloc */
	uint64_t *bytes_queued; /* metrics gauge, may be NULL */
};

struct w2_outq {
	struct w2_chunk *first, *last;
	size_t bytes;
};

void w2_pool_init(struct w2_pool *p, size_t max_free, uint64_t *bytes_queued);
void w2_pool_deinit(struct w2_pool *p);

/* Appends len bytes. Returns 0 or W2_ENOMEM (nothing appended). */
int w2_outq_append(struct w2_pool *p, struct w2_outq *q, const void *data, size_t len);
/* Fills up to max uv_buf_t from the front of q; returns how many. */
unsigned w2_outq_bufs(const struct w2_outq *q, uv_buf_t *bufs, unsigned max);
/* Drops n bytes from the front, returning emptied chunks to the pool. */
void w2_outq_consume(struct w2_pool *p, struct w2_outq *q, size_t n);
/* Drops everything. */
void w2_outq_clear(struct w2_pool *p, struct w2_outq *q);

#endif
