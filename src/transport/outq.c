#include "transport/outq.h"

#include "core/alloc.h"
#include "core/error.h"

#include <string.h>

void w2_pool_init(struct w2_pool *p, size_t max_free, uint64_t *bytes_queued)
{
	memset(p, 0, sizeof(*p));
	p->max_free = max_free;
	p->bytes_queued = bytes_queued;
}

void w2_pool_deinit(struct w2_pool *p)
{
	while (p->free) {
		struct w2_chunk *c = p->free;

		p->free = c->next;
		w2_free(c);
	}
	p->n_free = 0;
}

static struct w2_chunk *chunk_get(struct w2_pool *p)
{
	struct w2_chunk *c = p->free;

	if (c) {
		p->free = c->next;
		p->n_free--;
	} else {
		c = w2_malloc(sizeof(*c));
		if (!c)
			return NULL;
	}
	c->next = NULL;
	c->head = c->tail = 0;
	return c;
}

static void chunk_put(struct w2_pool *p, struct w2_chunk *c)
{
	if (p->n_free >= p->max_free) {
		w2_free(c);
		return;
	}
	c->next = p->free;
	p->free = c;
	p->n_free++;
}

int w2_outq_append(struct w2_pool *p, struct w2_outq *q, const void *data, size_t len)
{
	const uint8_t *src = data;
	struct w2_chunk *start_last = q->last;
	uint32_t start_tail = q->last ? q->last->tail : 0;
	size_t left = len;

	while (left > 0) {
		struct w2_chunk *c = q->last;
		size_t room = c ? sizeof(c->data) - c->tail : 0;

		if (room == 0) {
			c = chunk_get(p);
			if (!c)
				goto fail;
			if (q->last)
				q->last->next = c;
			else
				q->first = c;
			q->last = c;
			room = sizeof(c->data);
		}
		if (room > left)
			room = left;
		memcpy(c->data + c->tail, src, room);
		c->tail += (uint32_t)room;
		src += room;
		left -= room;
	}
	q->bytes += len;
	if (p->bytes_queued)
		*p->bytes_queued += len;
	return 0;
fail:
	/* Roll back to the state before the call. */
	while (q->last && q->last != start_last) {
		struct w2_chunk *c = q->first;

		if (c == q->last) {
			q->first = q->last = NULL;
			chunk_put(p, c);
			break;
		}
		while (c->next != q->last)
			c = c->next;
		chunk_put(p, q->last);
		c->next = NULL;
		q->last = c;
	}
	if (start_last)
		start_last->tail = start_tail;
	return W2_ENOMEM;
}

unsigned w2_outq_bufs(const struct w2_outq *q, uv_buf_t *bufs, unsigned max)
{
	unsigned n = 0;

	for (struct w2_chunk *c = q->first; c && n < max; c = c->next) {
		if (c->tail == c->head)
			continue;
		bufs[n++] = uv_buf_init((char *)c->data + c->head, c->tail - c->head);
	}
	return n;
}

void w2_outq_consume(struct w2_pool *p, struct w2_outq *q, size_t n)
{
	if (n > q->bytes)
		n = q->bytes;
	q->bytes -= n;
	if (p->bytes_queued)
		*p->bytes_queued -= n;
	while (n > 0 && q->first) {
		struct w2_chunk *c = q->first;
		size_t have = c->tail - c->head;

		if (n < have) {
			c->head += (uint32_t)n;
			return;
		}
		n -= have;
		q->first = c->next;
		if (!q->first)
			q->last = NULL;
		chunk_put(p, c);
	}
	/* A fully drained last chunk is given back too. */
	if (q->first && q->first == q->last && q->first->head == q->first->tail) {
		chunk_put(p, q->first);
		q->first = q->last = NULL;
	}
}

void w2_outq_clear(struct w2_pool *p, struct w2_outq *q)
{
	w2_outq_consume(p, q, q->bytes);
	while (q->first) {
		struct w2_chunk *c = q->first;

		q->first = c->next;
		chunk_put(p, c);
	}
	q->last = NULL;
}
