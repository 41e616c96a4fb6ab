/* UTF-8 validation (RFC 3629): text frames must be valid UTF-8 (RFC 6455
 * section 8.1). */
#ifndef W2_CORE_UTF8_H
#define W2_CORE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True if s[0..len) is valid UTF-8: no overlong forms, no surrogates, no
 * code point above U+10FFFF, no truncated sequence. */
bool w2_utf8_valid(const unsigned char *s, size_t len);

#endif
