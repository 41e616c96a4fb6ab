/* The one allocation hook of webrtc2.
 *
 * Every heap allocation in the project goes through these functions so that
 * tests can make the N-th allocation fail and check that every error path
 * cleans up (w2_alloc_fail_after). Not thread-safe to reconfigure while other
 * threads allocate; tests set it before starting work. */
#ifndef W2_CORE_ALLOC_H
#define W2_CORE_ALLOC_H

#include <stddef.h>

void *w2_malloc(size_t n);
void *w2_calloc(size_t count, size_t size);
void *w2_realloc(void *p, size_t n);
void w2_free(void *p);
/* Returns a heap copy of s (NULL if s is NULL or on failure); caller owns it. */
char *w2_strdup(const char *s);
/* Returns a NUL-terminated heap copy of the first n bytes of s. */
char *w2_strndup(const char *s, size_t n);

/* Test hook: after n more successful allocations, every allocation fails.
 * A negative n switches failure injection off. */
void w2_alloc_fail_after(long n);

#endif
