/*
 * check_addr: the address helpers (addr.h), and the loop guard's question
 * "does this address lead back to this host?" (target_is_self, target.h).
 */
#include <arpa/inet.h>
#include <check.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"
#include "t/check.h"
#include "target.h"

static struct sockaddr_storage addr_of(const char *text, uint16_t port)
{
	struct sockaddr_storage addr;
	uint8_t bytes[16];

	if (inet_pton(AF_INET, text, bytes) == 1) {
		addr_make(&addr, AF_INET, bytes, port);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, bytes), 1);
		addr_make(&addr, AF_INET6, bytes, port);
	}
	return addr;
}

#define SA(storage) ((const struct sockaddr *)&(storage))

START_TEST(test_ports)
{
	struct sockaddr_storage v4 = addr_of("198.18.2.2", 80), v6 = addr_of("2001:db8::2", 443);

	ck_assert_uint_eq(addr_port(SA(v4)), 80);
	ck_assert_uint_eq(addr_port(SA(v6)), 443);
	addr_set_port(&v4, 8080);
	addr_set_port(&v6, 8443);
	ck_assert_uint_eq(addr_port(SA(v4)), 8080);
	ck_assert_uint_eq(addr_port(SA(v6)), 8443);
}
END_TEST

START_TEST(test_mapped_is_the_v4_it_maps)
{
	struct sockaddr_storage mapped = addr_of("::ffff:198.18.1.2", 1), v4 = addr_of("198.18.1.2", 2);
	struct sockaddr_storage other = addr_of("198.18.1.3", 1), v6 = addr_of("2001:db8::1", 1);
	uint8_t bytes[16];

	ck_assert_int_eq(addr_host_bytes(SA(mapped), bytes), AF_INET);
	ck_assert_int_eq(memcmp(bytes, "\xc6\x12\x01\x02", 4), 0);
	ck_assert_int_eq(addr_same_host(SA(mapped), SA(v4)), 1);
	ck_assert_int_eq(addr_same_host(SA(mapped), SA(other)), 0);
	ck_assert_int_eq(addr_same_host(SA(v6), SA(v4)), 0);
	ck_assert_int_eq(addr_host_bytes(SA(v6), bytes), AF_INET6);
}
END_TEST

START_TEST(test_loopback_and_any)
{
	static const char *const loopback[] = { "127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1" };
	static const char *const any[] = { "0.0.0.0", "::", "::ffff:0.0.0.0" };
	static const char *const neither[] = { "198.18.2.2", "2001:db8::1", "::2", "128.0.0.1" };

	for (size_t i = 0; i < sizeof loopback / sizeof *loopback; i++) {
		struct sockaddr_storage addr = addr_of(loopback[i], 80);

		ck_assert_msg(addr_is_loopback(SA(addr)), "%s", loopback[i]);
		ck_assert_msg(!addr_is_unspecified(SA(addr)), "%s", loopback[i]);
	}
	for (size_t i = 0; i < sizeof any / sizeof *any; i++) {
		struct sockaddr_storage addr = addr_of(any[i], 80);

		ck_assert_msg(addr_is_unspecified(SA(addr)), "%s", any[i]);
	}
	for (size_t i = 0; i < sizeof neither / sizeof *neither; i++) {
		struct sockaddr_storage addr = addr_of(neither[i], 80);

		ck_assert_msg(!addr_is_loopback(SA(addr)) && !addr_is_unspecified(SA(addr)), "%s",
			      neither[i]);
	}
}
END_TEST

START_TEST(test_self_is_loopback_any_and_our_own)
{
	static const char *const self[] = { "127.0.0.1", "127.0.0.2", "::1", "0.0.0.0", "::",
					    "::ffff:127.0.0.1" };
	struct ifaddrs *list;

	for (size_t i = 0; i < sizeof self / sizeof *self; i++) {
		struct sockaddr_storage addr = addr_of(self[i], 80);

		ck_assert_msg(target_is_self(SA(addr), sizeof addr), "%s", self[i]);
	}
	/* Every IPv4 address of this host's interfaces is this host (v6 ones may be tentative). */
	ck_assert_int_eq(getifaddrs(&list), 0);
	for (struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next) {
		struct sockaddr_storage addr;
		char shown[INET6_ADDRSTRLEN];

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET)
			continue;
		memset(&addr, 0, sizeof addr);
		memcpy(&addr, ifa->ifa_addr, sizeof(struct sockaddr_in));
		addr_set_port(&addr, 80);
		ck_assert_msg(target_is_self(SA(addr), sizeof addr), "%s on %s",
			      inet_ntop(AF_INET, &((struct sockaddr_in *)&addr)->sin_addr, shown,
					sizeof shown), ifa->ifa_name);
	}
	freeifaddrs(list);
}
END_TEST

START_TEST(test_others_are_not_self)
{
	/* TEST-NET addresses: routed out or unreachable, never ours. */
	static const char *const others[] = { "192.0.2.1", "2001:db8:ffff::1", "198.51.100.7" };

	for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
		struct sockaddr_storage addr = addr_of(others[i], 80);

		ck_assert_msg(!target_is_self(SA(addr), sizeof addr), "%s", others[i]);
	}
}
END_TEST

Suite *addr_suite(void)
{
	Suite *suite = suite_create("addr");
	TCase *tc = tcase_create("addresses");

	tcase_add_test(tc, test_ports);
	tcase_add_test(tc, test_mapped_is_the_v4_it_maps);
	tcase_add_test(tc, test_loopback_and_any);
	tcase_add_test(tc, test_self_is_loopback_any_and_our_own);
	tcase_add_test(tc, test_others_are_not_self);
	suite_add_tcase(suite, tc);
	return suite;
}
