/* Helpers shared by the STUN codec's files (stun.c, stun_auth.c,
 * stun_write.c); not part of the public API.
 *
 * Byte order helpers read and write big-endian fields at a position the
 * caller has already bounds-checked; they exist so no code casts a struct
 * onto packet bytes. */
#ifndef W2_STUN_STUN_INT_H
#define W2_STUN_STUN_INT_H

#include <stddef.h>
#include <stdint.h>

static inline uint16_t w2__be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t w2__be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void w2__put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void w2__put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Attribute values are padded to a multiple of 4 bytes (RFC 8489
 * section 14). */
static inline size_t w2__pad4(size_t n)
{
	return (n + 3) & ~(size_t)3;
}

/* CRC-32 as zlib and ISO-HDLC compute it (reflected polynomial 0xEDB88320,
 * initial value and final XOR 0xFFFFFFFF), which FINGERPRINT uses (RFC 8489
 * section 14.7). */
uint32_t w2__stun_crc32(const uint8_t *p, size_t n);

#endif
