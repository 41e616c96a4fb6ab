/* CIDR blocks and the internal-address classes a relay refuses by default.
 *
 * A TURN server relays to any address a client names (RFC 8656 section
 * 21.3.1 warns of exactly this), so an allocation could otherwise reach the
 * operator's loopback, cloud metadata service or private network. The
 * classes below are the IANA special-purpose registries' (RFC 6890) blocks
 * that are not globally reachable, plus the IPv6 forms that carry such an
 * IPv4 address inside them. */
#include "core/cidr.h"

#include "core/error.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

/* "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" is the longest text form. */
#define CIDR_ADDR_TEXT_MAX 46

/* True if the first `bits` bits of a and b are equal. */
static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	size_t full = bits / 8;
	unsigned rest = bits % 8;
	uint8_t mask;

	if (memcmp(a, b, full) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xFF << (8 - rest));
	return ((a[full] ^ b[full]) & mask) == 0;
}

/* True if every bit of addr after the first `prefix` of `total` is zero. */
static bool host_bits_zero(const uint8_t *addr, unsigned prefix, unsigned total)
{
	for (unsigned bit = prefix; bit < total; bit++)
		if (addr[bit / 8] & (0x80 >> (bit % 8)))
			return false;
	return true;
}

/* Decimal prefix length of 1 to 3 digits, at most max. */
static int parse_prefix(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (n == 0 || n > 3)
		return W2_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return W2_EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return W2_EINVAL;
	*out = v;
	return 0;
}

int w2_cidr_parse(const char *text, size_t len, struct w2_cidr *out)
{
	char addr[CIDR_ADDR_TEXT_MAX + 1];
	const char *slash;
	size_t alen;
	unsigned total, prefix;

	if (!text || !out || memchr(text, '\0', len))
		return W2_EINVAL;
	slash = memchr(text, '/', len);
	alen = slash ? (size_t)(slash - text) : len;
	if (alen == 0 || alen > CIDR_ADDR_TEXT_MAX)
		return W2_EINVAL;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, addr, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, addr, out->addr) == 1)
		out->family = AF_INET6;
	else
		return W2_EINVAL;
	total = out->family == AF_INET ? 32 : 128;
	prefix = total;
	if (slash && parse_prefix(slash + 1, len - alen - 1, total, &prefix) != 0)
		return W2_EINVAL;
	/* "10.0.0.1/8" is almost always a typo for a host or a network. */
	if (!host_bits_zero(out->addr, prefix, total))
		return W2_EINVAL;
	out->prefix = (uint8_t)prefix;
	return 0;
}

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

/* The address of sa in the form of `family`: an IPv4-mapped IPv6 address
 * becomes its IPv4 address, and an IPv4 address its mapped IPv6 form, so a
 * rule matches whichever way the address was written. False if there is no
 * such form (another family, or IPv6 that embeds no IPv4 for an IPv4
 * rule). */
static bool addr_in_family(const struct sockaddr *sa, int family, uint8_t out[16])
{
	const uint8_t *a;

	if (sa->sa_family == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		if (family == AF_INET) {
			memcpy(out, a, 4);
			return true;
		}
		memcpy(out, v4_mapped_prefix, 12);
		memcpy(out + 12, a, 4);
		return family == AF_INET6;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	a = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (family == AF_INET6) {
		memcpy(out, a, 16);
		return true;
	}
	if (family != AF_INET || memcmp(a, v4_mapped_prefix, 12) != 0)
		return false;
	memcpy(out, a + 12, 4);
	return true;
}

bool w2_cidr_match(const struct w2_cidr *c, const struct sockaddr *sa)
{
	uint8_t bytes[16];

	if (!c || !sa || !addr_in_family(sa, c->family, bytes))
		return false;
	return prefix_equal(bytes, c->addr, c->prefix);
}

bool w2_cidr_match_any(const struct w2_cidr *list, size_t n, const struct sockaddr *sa)
{
	for (size_t i = 0; i < n; i++)
		if (w2_cidr_match(&list[i], sa))
			return true;
	return false;
}

/* ---- internal addresses ------------------------------------------------- */

struct block {
	uint8_t prefix;
	uint8_t addr[16];
};

/* IPv4 blocks that are not globally reachable (RFC 6890 and successors). */
static const struct block internal_v4[] = {
	{8, {0}},                /* 0/8 "this network" (RFC 791) */
	{8, {10}},               /* private (RFC 1918) */
	{10, {100, 64}},         /* shared carrier-grade NAT space (RFC 6598) */
	{8, {127}},              /* loopback (RFC 1122) */
	{16, {169, 254}},        /* link-local, cloud metadata (RFC 3927) */
	{12, {172, 16}},         /* private (RFC 1918) */
	{24, {192, 0, 0}},       /* IETF protocol assignments, DS-Lite (RFC 6890) */
	{16, {192, 168}},        /* private (RFC 1918) */
	{15, {198, 18}},         /* benchmarking, used inside labs (RFC 2544) */
	{4, {224}},              /* multicast (RFC 5771) */
	{4, {240}},              /* reserved, and 255.255.255.255 broadcast */
};

/* IPv6 blocks that are not globally reachable. ::/96 holds the unspecified
 * address, loopback and the deprecated IPv4-compatible form (RFC 4291
 * section 2.5.5.1), none of which is routed. */
static const struct block internal_v6[] = {
	{96, {0}},                                   /* ::, ::1, ::a.b.c.d */
	{7, {0xFC}},                                 /* unique local (RFC 4193) */
	{10, {0xFE, 0x80}},                          /* link-local */
	{10, {0xFE, 0xC0}},                          /* site-local (RFC 3879) */
	{8, {0xFF}},                                 /* multicast */
	{48, {0x00, 0x64, 0xFF, 0x9B, 0x00, 0x01}},  /* local NAT64 (RFC 8215) */
};

/* IPv6 forms whose bits carry an IPv4 address: the IPv4 is judged. */
struct embedding {
	uint8_t prefix;
	uint8_t addr[16];
	uint8_t v4_at; /* byte offset of the embedded IPv4 address */
};

static const struct embedding v4_embeddings[] = {
	{96, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}, 12},      /* mapped (RFC 4291) */
	{96, {0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0}, 12},      /* translated (RFC 2765) */
	{96, {0x00, 0x64, 0xFF, 0x9B}, 12},                         /* NAT64 (RFC 6052) */
	{16, {0x20, 0x02}, 2},                                      /* 6to4 (RFC 3056) */
};

static bool in_blocks(const struct block *b, size_t n, const uint8_t *addr)
{
	for (size_t i = 0; i < n; i++)
		if (prefix_equal(addr, b[i].addr, b[i].prefix))
			return true;
	return false;
}

static bool v4_internal(const uint8_t addr[4])
{
	return in_blocks(internal_v4, sizeof(internal_v4) / sizeof(internal_v4[0]), addr);
}

static bool v6_internal(const uint8_t addr[16])
{
	size_t n = sizeof(v4_embeddings) / sizeof(v4_embeddings[0]);

	if (in_blocks(internal_v6, sizeof(internal_v6) / sizeof(internal_v6[0]), addr))
		return true;
	for (size_t i = 0; i < n; i++)
		if (prefix_equal(addr, v4_embeddings[i].addr, v4_embeddings[i].prefix))
			return v4_internal(addr + v4_embeddings[i].v4_at);
	return false;
}

bool w2_cidr_is_internal(const struct sockaddr *sa)
{
	/* Fail closed: an address we cannot classify is not relayed to. */
	if (!sa)
		return true;
	if (sa->sa_family == AF_INET)
		return v4_internal((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
	if (sa->sa_family == AF_INET6)
		return v6_internal((const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return true;
}
