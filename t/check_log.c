/*
 * check_log: the socat -v dump format and the address texts of log lines.
 */
#include <arpa/inet.h>
#include <check.h>

#include "t/check.h"
#include <netinet/in.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void assert_matches(const char *text, const char *pattern)
{
	regex_t re;

	ck_assert_int_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_msg(regexec(&re, text, 0, NULL, 0) == 0, "\"%s\" !~ /%s/", text, pattern);
	regfree(&re);
}

START_TEST(test_dump_header_and_escapes)
{
	static const uint8_t data[] = "GET / HTTP/1.1\r\nA\\B\x01\x7f\xff\n";
	char out[256];
	size_t len = log_dump_format(out, sizeof out, '>', 100, data, sizeof data - 1);

	ck_assert_uint_eq(len, strlen(out));
	assert_matches(out, "^> [0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}  "
			    "length=23 from=100 to=122\n");
	ck_assert_ptr_nonnull(strstr(out, "\nGET / HTTP/1.1\\r\nA\\\\B...\n"));
	ck_assert_int_eq(out[len - 1], '\n');
}
END_TEST

START_TEST(test_dump_adds_final_newline_once)
{
	char out[128];

	log_dump_format(out, sizeof out, '<', 0, (const uint8_t *)"ok", 2);
	ck_assert_ptr_nonnull(strstr(out, "length=2 from=0 to=1\nok\n"));
	ck_assert_int_eq(out[0], '<');
	log_dump_format(out, sizeof out, '<', 0, (const uint8_t *)"ok\n", 3);
	ck_assert_ptr_nonnull(strstr(out, "\nok\n"));
	ck_assert_ptr_null(strstr(out, "\nok\n\n"));
}
END_TEST

START_TEST(test_dump_never_overflows)
{
	uint8_t data[300];
	char out[100];

	memset(data, '\\', sizeof data);
	for (size_t size = 1; size <= sizeof out; size++) {
		memset(out, 'Z', sizeof out);
		size_t len = log_dump_format(out, size, '>', 0, data, sizeof data);

		ck_assert_uint_lt(len, size);
		ck_assert_int_eq(out[len], '\0');
		for (size_t i = size; i < sizeof out; i++)
			ck_assert_int_eq(out[i], 'Z');
	}
}
END_TEST

START_TEST(test_addresses)
{
	struct sockaddr_in6 six = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	struct sockaddr_in four = { .sin_family = AF_INET, .sin_port = htons(80) };
	char out[LOG_ADDR_SIZE];

	inet_pton(AF_INET, "198.18.1.2", &four.sin_addr);
	ck_assert_str_eq(log_addr((struct sockaddr *)&four, out, sizeof out), "198.18.1.2:80");
	ck_assert_str_eq(log_host((struct sockaddr *)&four, out, sizeof out), "198.18.1.2");
	inet_pton(AF_INET6, "2001:db8::1", &six.sin6_addr);
	ck_assert_str_eq(log_addr((struct sockaddr *)&six, out, sizeof out), "[2001:db8::1]:443");
	ck_assert_str_eq(log_host((struct sockaddr *)&six, out, sizeof out), "2001:db8::1");
	inet_pton(AF_INET6, "::ffff:198.18.1.2", &six.sin6_addr);
	ck_assert_str_eq(log_addr((struct sockaddr *)&six, out, sizeof out), "198.18.1.2:443");
}
END_TEST

Suite *log_suite(void)
{
	Suite *suite = suite_create("log");
	TCase *tc = tcase_create("format");

	tcase_set_timeout(tc, 5);
	tcase_add_test(tc, test_dump_header_and_escapes);
	tcase_add_test(tc, test_dump_adds_final_newline_once);
	tcase_add_test(tc, test_dump_never_overflows);
	tcase_add_test(tc, test_addresses);
	suite_add_tcase(suite, tc);
	return suite;
}
