/*
 * check_guard: routed mode's destination guard (guard.h), address by
 * address: every private, local and reserved range, in every IPv6 form that
 * carries an IPv4 address, and the public neighbours just outside each range.
 */
#include <arpa/inet.h>
#include <check.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "ifnets.h"
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

/* "198.18.1.0/24" as a guard_net. */
static struct guard_net net_of(const char *text)
{
	struct guard_net net = { 0 };
	char prefix[64];
	const char *slash = strchr(text, '/');

	memcpy(prefix, text, (size_t)(slash - text));
	prefix[slash - text] = '\0';
	net.family = strchr(prefix, ':') ? AF_INET6 : AF_INET;
	ck_assert_int_eq(inet_pton(net.family, prefix, net.prefix), 1);
	net.bits = (uint8_t)atoi(slash + 1);
	return net;
}

static int in_nets(const char *text, const struct guard_net *nets, size_t count)
{
	struct sockaddr_storage addr = { 0 };

	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&addr)->sin_addr) == 1) {
		addr.ss_family = AF_INET;
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&addr)->sin6_addr), 1);
		addr.ss_family = AF_INET6;
	}
	return guard_in_nets((struct sockaddr *)&addr, nets, count);
}

START_TEST(test_own_networks)
{
	struct guard_net nets[] = { net_of("198.18.1.0/24"), net_of("2001:db8:1::/64"),
				    net_of("203.0.113.64/27") };
	char text[GUARD_NET_TEXT];

	ck_assert_int_eq(in_nets("198.18.1.2", nets, 3), 0);
	ck_assert_int_eq(in_nets("198.18.2.2", nets, 3), -1);
	ck_assert_int_eq(in_nets("2001:db8:1::2", nets, 3), 1);
	ck_assert_int_eq(in_nets("2001:db8:2::2", nets, 3), -1);
	ck_assert_int_eq(in_nets("203.0.113.95", nets, 3), 2);
	ck_assert_int_eq(in_nets("203.0.113.96", nets, 3), -1);
	/* An IPv4 network reached through an IPv6 form that carries it. */
	ck_assert_int_eq(in_nets("::ffff:198.18.1.2", nets, 3), 0);
	ck_assert_int_eq(in_nets("64:ff9b::c612:102", nets, 3), 0);
	ck_assert_int_eq(in_nets("198.18.1.2", nets, 0), -1);
	ck_assert_str_eq(guard_net_text(&nets[1], text, sizeof text), "2001:db8:1::/64");
}
END_TEST

START_TEST(test_default_routes)
{
	char iface[IF_NAMESIZE];

	ck_assert_int_eq(ifnets_default_route("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse"
					      "\tMetric\tMask\t\tMTU\tWindow\tIRTT", 0, iface), 0);
	ck_assert_int_eq(ifnets_default_route("eth1\t00000000\t010200C0\t0003\t0\t0\t0\t00000000"
					      "\t0\t0\t0", 0, iface), 1);
	ck_assert_str_eq(iface, "eth1");
	ck_assert_int_eq(ifnets_default_route("eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF"
					      "\t0\t0\t0", 0, iface), 0);	/* a subnet's */
	ck_assert_int_eq(ifnets_default_route("eth0\t00000000\t010200C0\t0002\t0\t0\t0\t00000000"
					      "\t0\t0\t0", 0, iface), 0);	/* not up */
	ck_assert_int_eq(ifnets_default_route("00000000000000000000000000000000 00 "
		"00000000000000000000000000000000 00 20010db8000200000000000000000002 00000400 "
		"00000003 00000000 00000003     eth2", 1, iface), 1);
	ck_assert_str_eq(iface, "eth2");
	/* The kernel's unreachable default on lo is a reject route. */
	ck_assert_int_eq(ifnets_default_route("00000000000000000000000000000000 00 "
		"00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff "
		"00000001 00000000 00200200       lo", 1, iface), 0);
	ck_assert_int_eq(ifnets_default_route("fe800000000000000000000000000000 40 "
		"00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 "
		"00000001 00000000 00000001     eth0", 1, iface), 0);
}
END_TEST

Suite *guard_suite(void)
{
	Suite *suite = suite_create("guard");
	TCase *tc = tcase_create("ranges");

	tcase_add_loop_test(tc, test_each_address, 0, sizeof cases / sizeof cases[0]);
	tcase_add_test(tc, test_names_say_which_range);
	tcase_add_test(tc, test_own_networks);
	tcase_add_test(tc, test_default_routes);
	suite_add_tcase(suite, tc);
	return suite;
}
