/*
 * check_guard: routed mode's destination guard (guard.h), address by
 * address: every private, local and reserved range, in every IPv6 form that
 * carries an IPv4 address, and the public neighbours just outside each range.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <string.h>

#include "guard.h"
#include "t/check.h"

static const struct {
	const char *addr;
	int private;
} cases[] = {
	{ "8.8.8.8", 0 },		{ "198.18.2.2", 0 },	/* benchmarking: not a private network */
	{ "0.0.0.0", 1 },		{ "0.255.1.1", 1 },
	{ "10.0.0.1", 1 },		{ "10.255.255.255", 1 },	{ "11.0.0.1", 0 },
	{ "100.64.0.1", 1 },		{ "100.127.255.255", 1 },	{ "100.128.0.1", 0 },
	{ "100.63.255.255", 0 },	{ "127.0.0.1", 1 },		{ "127.255.0.1", 1 },
	{ "169.254.169.254", 1 },	{ "169.255.0.1", 0 },		{ "172.16.0.1", 1 },
	{ "172.31.255.255", 1 },	{ "172.32.0.1", 0 },		{ "172.15.255.255", 0 },
	{ "192.168.1.1", 1 },		{ "192.169.0.1", 0 },		{ "224.0.0.1", 1 },
	{ "239.255.255.255", 1 },	{ "240.0.0.1", 1 },		{ "255.255.255.255", 1 },
	{ "223.255.255.255", 0 },
	{ "::", 1 },			{ "::1", 1 },			{ "fe80::1", 1 },
	{ "febf::1", 1 },		{ "fec0::1", 1 },		{ "fc00::1", 1 },
	{ "fdff:ffff::1", 1 },		{ "fe00::1", 0 },		{ "ff02::1", 1 },
	{ "2001:db8::1", 0 },		{ "2606:4700::1111", 0 },
	/* IPv4-mapped and IPv4-compatible */
	{ "::ffff:10.0.0.1", 1 },	{ "::ffff:127.0.0.1", 1 },	{ "::ffff:8.8.8.8", 0 },
	{ "::10.0.0.1", 1 },		{ "::8.8.8.8", 0 },
	/* NAT64, well-known and local-use prefixes */
	{ "64:ff9b::a00:1", 1 },	{ "64:ff9b::7f00:1", 1 },	{ "64:ff9b::808:808", 0 },
	{ "64:ff9b:1::a00:1", 1 },	{ "64:ff9b:1:ffff::c0a8:101", 1 },
	/* 6to4: the IPv4 address after 2002: */
	{ "2002:a00:1::1", 1 },		{ "2002:c0a8:101::", 1 },	{ "2002:808:808::1", 0 },
	/* Teredo: the server in bits 32-63, the client inverted in the last 32 */
	{ "2001:0:4136:e378:8000:63bf:3fff:fdd2", 0 },
	{ "2001:0:808:808::80ff:fffe", 1 },	/* client 127.0.0.1 */
	{ "2001:0:a00:1::f7f7:f7f7", 1 },	/* server 10.0.0.1 */
};

START_TEST(test_each_address)
{
	struct sockaddr_storage addr = { 0 };
	const char *text = cases[_i].addr;

	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&addr)->sin_addr) == 1) {
		addr.ss_family = AF_INET;
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&addr)->sin6_addr), 1);
		addr.ss_family = AF_INET6;
	}
	ck_assert_msg(guard_is_private((struct sockaddr *)&addr) == cases[_i].private,
		      "%s: expected %s", text, cases[_i].private ? "private" : "public");
	ck_assert_msg((guard_range_name((struct sockaddr *)&addr) != NULL) == cases[_i].private,
		      "%s: a name exactly when private", text);
}
END_TEST

START_TEST(test_names_say_which_range)
{
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_storage other = { .ss_family = AF_UNIX };

	inet_pton(AF_INET, "169.254.169.254", &v4.sin_addr);
	ck_assert_str_eq(guard_range_name((struct sockaddr *)&v4), "link-local (169.254.0.0/16)");
	inet_pton(AF_INET, "172.20.1.1", &v4.sin_addr);
	ck_assert_str_eq(guard_range_name((struct sockaddr *)&v4), "RFC 1918 (172.16.0.0/12)");
	ck_assert_int_eq(guard_is_private((struct sockaddr *)&other), 1);
}
END_TEST

Suite *guard_suite(void)
{
	Suite *suite = suite_create("guard");
	TCase *tc = tcase_create("ranges");

	tcase_add_loop_test(tc, test_each_address, 0, sizeof cases / sizeof cases[0]);
	tcase_add_test(tc, test_names_say_which_range);
	suite_add_tcase(suite, tc);
	return suite;
}
