/* Unit tests of src/core/cidr.c: CIDR parsing, matching (IPv4-mapped IPv6
 * matched both ways) and the internal-address classes a relay refuses. */
#include "core/cidr.h"
#include "core/error.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* ---- helpers ---- */

static struct sockaddr_storage addr(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return ss;
}

static bool internal(const char *ip)
{
	struct sockaddr_storage ss = addr(ip);

	return w2_cidr_is_internal((struct sockaddr *)&ss);
}

static bool matches(const char *block, const char *ip)
{
	struct w2_cidr c;
	struct sockaddr_storage ss = addr(ip);

	assert_int_equal(w2_cidr_parse(block, strlen(block), &c), 0);
	return w2_cidr_match(&c, (struct sockaddr *)&ss);
}

static int parse(const char *s, struct w2_cidr *c)
{
	return w2_cidr_parse(s, strlen(s), c);
}

/* ---- parsing ---- */

static void test_parse(void **state)
{
	struct w2_cidr c;

	(void)state;
	assert_int_equal(parse("10.0.0.0/8", &c), 0);
	assert_int_equal(c.family, AF_INET);
	assert_int_equal(c.prefix, 8);
	assert_memory_equal(c.addr, "\x0a\x00\x00\x00", 4);
	assert_int_equal(parse("192.0.2.7", &c), 0);
	assert_int_equal(c.prefix, 32);
	assert_int_equal(parse("::1/128", &c), 0);
	assert_int_equal(c.family, AF_INET6);
	assert_int_equal(c.prefix, 128);
	assert_int_equal(c.addr[15], 1);
	assert_int_equal(parse("fe80::/10", &c), 0);
	assert_int_equal(c.prefix, 10);
	assert_int_equal(parse("0.0.0.0/0", &c), 0);
	assert_int_equal(parse("::/0", &c), 0);
	assert_int_equal(parse("2001:db8::", &c), 0);
	assert_int_equal(c.prefix, 128);
	assert_int_equal(parse("::ffff:10.0.0.0/104", &c), 0);
	/* Only the first len bytes count. */
	assert_int_equal(w2_cidr_parse("10.0.0.0/8 trailing", 10, &c), 0);
	assert_int_equal(c.prefix, 8);
}

static void test_parse_refusals(void **state)
{
	static const char *const bad[] = {
		"",             "/8",          "10.0.0.0/",     "10.0.0.0/33",  "10.0.0.1/8",
		"10.0.0.0/08x", "10.0.0.0/-1", "10.0.0.0/+8",   "10.0.0.0/1000", "10.0.0/8",
		"010.0.0.0/8",  "::1/129",     "fe80::1/10",    "example.org",  "10.0.0.0/8/8",
		" 10.0.0.0/8",  "10.0.0.0 /8", "1.2.3.4.5",     "gggg::/16",
		"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255:1/128",
	};
	struct w2_cidr c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(parse(bad[i], &c), W2_EINVAL);
	assert_int_equal(w2_cidr_parse("10.0.0.0\0/8", 11, &c), W2_EINVAL);
	assert_int_equal(w2_cidr_parse(NULL, 0, &c), W2_EINVAL);
	assert_int_equal(w2_cidr_parse("10.0.0.0/8", 10, NULL), W2_EINVAL);
}

/* ---- matching ---- */

static void test_match(void **state)
{
	(void)state;
	assert_true(matches("10.0.0.0/8", "10.255.1.2"));
	assert_false(matches("10.0.0.0/8", "11.0.0.0"));
	assert_true(matches("172.16.0.0/12", "172.31.255.255"));
	assert_false(matches("172.16.0.0/12", "172.32.0.0"));
	assert_true(matches("192.0.2.7", "192.0.2.7"));
	assert_false(matches("192.0.2.7", "192.0.2.6"));
	assert_true(matches("0.0.0.0/0", "8.8.8.8"));
	assert_false(matches("0.0.0.0/0", "2001:db8::1")); /* not the same family */
	assert_true(matches("::/0", "2001:db8::1"));
	assert_true(matches("2001:db8::/33", "2001:db8:7fff::1"));
	assert_false(matches("2001:db8::/33", "2001:db8:8000::1"));
	assert_true(matches("fe80::/10", "febf::1"));
	assert_false(matches("fe80::/10", "fec0::1"));
}

static void test_match_mapped(void **state)
{
	(void)state;
	/* An IPv4-mapped address cannot slip past an IPv4 rule... */
	assert_true(matches("10.0.0.0/8", "::ffff:10.1.2.3"));
	assert_false(matches("10.0.0.0/8", "::ffff:11.1.2.3"));
	/* ...nor a plain IPv4 address past a rule written in the mapped form. */
	assert_true(matches("::ffff:10.0.0.0/104", "10.9.9.9"));
	assert_true(matches("::ffff:10.0.0.0/104", "::ffff:10.9.9.9"));
	assert_false(matches("::ffff:10.0.0.0/104", "11.9.9.9"));
	/* Other IPv6 addresses never match an IPv4 rule. */
	assert_false(matches("0.0.0.0/0", "::10.1.2.3"));
	assert_false(matches("10.0.0.0/8", "64:ff9b::10.1.2.3"));
}

static void test_match_any(void **state)
{
	struct w2_cidr list[2];
	struct sockaddr_storage a = addr("192.168.1.1"), b = addr("8.8.8.8");
	struct sockaddr_un_like {
		sa_family_t family;
	} other = {AF_UNIX};

	(void)state;
	assert_int_equal(parse("10.0.0.0/8", &list[0]), 0);
	assert_int_equal(parse("192.168.0.0/16", &list[1]), 0);
	assert_true(w2_cidr_match_any(list, 2, (struct sockaddr *)&a));
	assert_false(w2_cidr_match_any(list, 2, (struct sockaddr *)&b));
	assert_false(w2_cidr_match_any(list, 0, (struct sockaddr *)&a));
	assert_false(w2_cidr_match_any(list, 2, (struct sockaddr *)&other));
	assert_false(w2_cidr_match(&list[0], NULL));
	assert_false(w2_cidr_match(NULL, (struct sockaddr *)&a));
}

/* ---- internal addresses ---- */

static void test_internal_v4(void **state)
{
	static const char *const inside[] = {
		"0.0.0.0",       "0.1.2.3",        "10.0.0.1",        "10.255.255.255",
		"100.64.0.1",    "100.127.255.255", "127.0.0.1",      "127.255.0.1",
		"169.254.169.254", "172.16.0.1",    "172.31.255.255", "192.0.0.1",
		"192.0.0.255",   "192.168.0.1",    "198.18.0.1",      "198.19.255.255",
		"224.0.0.1",     "239.255.255.255", "240.0.0.1",      "255.255.255.255",
	};
	static const char *const outside[] = {
		"1.1.1.1",       "8.8.8.8",        "9.255.255.255",   "11.0.0.0",
		"100.63.255.255", "100.128.0.0",    "126.255.255.255", "128.0.0.0",
		"169.253.255.255", "169.255.0.0",   "172.15.255.255", "172.32.0.0",
		"192.0.1.0",     "192.0.2.1",      "192.167.255.255", "192.169.0.0",
		"198.17.255.255", "198.20.0.0",     "203.0.113.5",     "223.255.255.255",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++)
		assert_true(internal(inside[i]));
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		assert_false(internal(outside[i]));
}

static void test_internal_v6(void **state)
{
	static const char *const inside[] = {
		"::",                 "::1",                "::10.0.0.1",     "::8.8.8.8",
		"fe80::1",            "febf:ffff::1",       "fec0::1",        "fc00::1",
		"fdff:ffff::1",       "ff00::",             "ff0e::1",        "64:ff9b:1::1",
		"::ffff:127.0.0.1",   "::ffff:10.0.0.1",    "::ffff:169.254.169.254",
		"::ffff:0:192.168.1.1", "64:ff9b::127.0.0.1", "64:ff9b::10.1.2.3",
		"64:ff9b::a9fe:a9fe", "2002:7f00:1::",      "2002:a00:1::1",  "2002:c0a8:101::",
		"2002:ffff:ffff::",
	};
	static const char *const outside[] = {
		"2001:db8::1",        "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::8.8.8.8",
		"2002:808:808::1",    "fe7f:ffff::1",         "fbff::1",
		"::1:0:0:1",          "64:ff9b:2::1",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++)
		assert_true(internal(inside[i]));
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		assert_false(internal(outside[i]));
}

static void test_internal_other_family(void **state)
{
	struct sockaddr sa = {.sa_family = AF_UNIX};

	(void)state;
	/* An address that cannot be classified is refused. */
	assert_true(w2_cidr_is_internal(&sa));
	assert_true(w2_cidr_is_internal(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_match_mapped),
		cmocka_unit_test(test_match_any),
		cmocka_unit_test(test_internal_v4),
		cmocka_unit_test(test_internal_v6),
		cmocka_unit_test(test_internal_other_family),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
