#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

/* Countdown to the injected failure; negative means never fail. */
static long fail_countdown = -1;

static int should_fail(void)
{
	if (fail_countdown < 0)
		return 0;
	if (fail_countdown == 0)
		return 1;
	fail_countdown--;
	return 0;
}

void w2_alloc_fail_after(long n)
{
	fail_countdown = n;
}

void *w2_malloc(size_t n)
{
	return should_fail() ? NULL : malloc(n ? n : 1);
}

void *w2_calloc(size_t count, size_t size)
{
	return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *w2_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : realloc(p, n ? n : 1);
}

void w2_free(void *p)
{
	free(p);
}

char *w2_strndup(const char *s, size_t n)
{
	char *d;

	if (!s)
		return NULL;
	d = w2_malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *w2_strdup(const char *s)
{
	return s ? w2_strndup(s, strlen(s)) : NULL;
}
