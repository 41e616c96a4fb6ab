/* IPv4/IPv6 address ranges (CIDR blocks) and the address classes a relay
 * must refuse by default.
 *
 * Pure functions, no allocation; reentrant. */
#ifndef W2_CORE_CIDR_H
#define W2_CORE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* One block: `prefix` leading bits of `addr` (network byte order). An IPv4
 * block keeps its 4 bytes in addr[0..3]. */
struct w2_cidr {
	int family;       /* AF_INET or AF_INET6 */
	uint8_t prefix;   /* 0..32 or 0..128 */
	uint8_t addr[16];
};

/* Parses "10.0.0.0/8", "::1/128" or a bare address (a full-length block).
 * Host bits below the prefix must be zero ("10.0.0.1/8" is refused: it is
 * almost always a typo). Returns 0 or W2_EINVAL. */
int w2_cidr_parse(const char *text, size_t len, struct w2_cidr *out);

/* True if the address in sa (sockaddr_in or sockaddr_in6) lies in c. An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is matched as the IPv4 address,
 * so a mapped form cannot slip past an IPv4 deny rule. */
bool w2_cidr_match(const struct w2_cidr *c, const struct sockaddr *sa);

/* True if sa lies in any of the n blocks. */
bool w2_cidr_match_any(const struct w2_cidr *list, size_t n, const struct sockaddr *sa);

/* True if sa is an address a TURN relay must not reach unless an operator
 * allows it (RFC 8656 section 21.3.1's advice and more): unspecified,
 * loopback, link-local, private (RFC 1918, RFC 6598 shared space, fc00::/7),
 * multicast, broadcast, the 0/8 and 240/4 blocks, and IPv6 forms that embed
 * such an IPv4 address (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16). */
bool w2_cidr_is_internal(const struct sockaddr *sa);

#endif
