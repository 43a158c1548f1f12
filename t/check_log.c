/*
 * check_log: the socat -v dump format, the address texts of log lines, and
 * the JSON lines of LOG_FORMAT=json (escaping, every field type, the time,
 * a line cut at any size still one valid object).
 */
#include <arpa/inet.h>
#include <check.h>

#include "t/check.h"
#include <netinet/in.h>
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* --- JSON lines --- */

static const struct timeval json_now = { .tv_sec = 1764833400, .tv_usec = 1234 };

/* One string of the JSON text at *at (RFC 8259; UTF-8 sequences whole); moves past it. */
static int json_string_ok(const unsigned char **at)
{
	const unsigned char *p = *at;

	if (*p++ != '"')
		return 0;
	while (*p != '"') {
		size_t more = *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 : *p >= 0xc0 ? 1 : 0;

		if (*p < 0x20 || (*p >= 0x80 && *p < 0xc0) || *p > 0xf4)
			return 0;	/* a raw control character, a stray continuation byte */
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						return 0;
				p += 5;
			} else if (*p && strchr("\"\\/bfnrt", *p)) {
				p++;
			} else {
				return 0;
			}
			continue;
		}
		for (p++; more > 0; more--, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;	/* a cut or broken UTF-8 sequence */
	}
	*at = p + 1;
	return 1;
}

/* 1 when line is one JSON object of string, integer and null members, then "\n" and its end. */
static int json_line_ok(const char *line)
{
	const unsigned char *p = (const unsigned char *)line;

	if (*p++ != '{')
		return 0;
	while (*p != '}') {
		if (p[-1] != '{' && *p++ != ',')
			return 0;
		if (!json_string_ok(&p) || *p++ != ':')
			return 0;
		if (*p == '"') {
			if (!json_string_ok(&p))
				return 0;
		} else if (strncmp((const char *)p, "null", 4) == 0) {
			p += 4;
		} else {
			p += *p == '-';
			if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
				return 0;
			while (*p >= '0' && *p <= '9')
				p++;
		}
	}
	return strcmp((const char *)p, "}\n") == 0;
}

static const char *json_of(char *out, size_t size, const char *message)
{
	log_json_format(out, size, &json_now, LOG_INFO, "message", NULL, message);
	return out;
}

START_TEST(test_json_line_and_time)
{
	static const struct {
		struct timeval now;
		const char *stamp;
	} times[] = {
		{ { 1764833400, 1234 }, "2025-12-04T07:30:00.001234Z" },
		{ { 951782400, 999999 }, "2000-02-29T00:00:00.999999Z" },	/* a leap day */
		{ { 0, 0 }, "1970-01-01T00:00:00.000000Z" },
		{ { 4102444799, 5 }, "2099-12-31T23:59:59.000005Z" },
	};
	char out[LOG_JSON_SIZE], expected[256];

	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
		size_t len = log_json_format(out, sizeof out, &times[i].now, LOG_WARN, "refuse",
					     LOG_FIELDS(LOG_STR("reason", "no_name")), "refused");

		snprintf(expected, sizeof expected, "{\"time\":\"%s\",\"level\":\"warning\","
			 "\"event\":\"refuse\",\"reason\":\"no_name\",\"message\":\"refused\"}\n",
			 times[i].stamp);
		ck_assert_str_eq(out, expected);
		ck_assert_uint_eq(len, strlen(out));
	}
}
END_TEST

START_TEST(test_json_every_field_type)
{
	char out[LOG_JSON_SIZE];

	log_json_format(out, sizeof out, &json_now, LOG_ERROR, "close",
			LOG_FIELDS(LOG_STR("client", "198.18.1.2:40312"), LOG_NUM("port", 80),
				   LOG_NUM("bytes_in", 0), LOG_NUM("min", LLONG_MIN),
				   LOG_NUM("max", LLONG_MAX), LOG_STR("empty", ""),
				   LOG_STR("none", NULL)),
			NULL);
	ck_assert_str_eq(out, "{\"time\":\"2025-12-04T07:30:00.001234Z\",\"level\":\"error\","
			 "\"event\":\"close\",\"client\":\"198.18.1.2:40312\",\"port\":80,"
			 "\"bytes_in\":0,\"min\":-9223372036854775808,"
			 "\"max\":9223372036854775807,\"empty\":\"\",\"none\":null}\n");
	ck_assert(json_line_ok(out));
	log_json_format(out, sizeof out, &json_now, LOG_FATAL, "error", NULL, "x");
	ck_assert_ptr_nonnull(strstr(out, "\"level\":\"fatal\",\"event\":\"error\",\"message\":\"x\"}"));
	log_json_format(out, sizeof out, &json_now, LOG_INFO, "stop", LOG_FIELDS(LOG_NUM("n", -7)),
			"s");
	ck_assert_ptr_nonnull(strstr(out, "\"level\":\"info\",\"event\":\"stop\",\"n\":-7,"));
}
END_TEST

START_TEST(test_json_escapes)
{
	static const struct {
		const char *text, *json;
	} cases[] = {
		{ "plain", "plain" },
		{ "a\"b\\c/d", "a\\\"b\\\\c/d" },
		{ "\x01\n\t\r\x1f\x7f", "\\u0001\\u000a\\u0009\\u000d\\u001f\\u007f" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "\xff", "\\u00ff" },				/* never in UTF-8 */
		{ "\xa9x", "\\u00a9x" },				/* a continuation byte alone */
		{ "\xc3", "\\u00c3" },				/* a sequence cut by the end */
		{ "\xc3(", "\\u00c3(" },				/* ... or by another character */
		{ "\xc0\xaf", "\\u00c0\\u00af" },			/* overlong '/' */
		{ "\xe0\x80\xaf", "\\u00e0\\u0080\\u00af" },	/* overlong, 3 bytes */
		{ "\xf0\x82\x82\xac", "\\u00f0\\u0082\\u0082\\u00ac" },	/* overlong, 4 bytes */
		{ "\xed\xa0\x80", "\\u00ed\\u00a0\\u0080" },	/* a surrogate, U+D800 */
		{ "\xf4\x90\x80\x80", "\\u00f4\\u0090\\u0080\\u0080" },	/* beyond U+10FFFF */
		{ "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf" },		/* U+10FFFF itself */
		{ "\xef\xbf\xbd", "\xef\xbf\xbd" },			/* U+FFFD */
	};
	char out[LOG_JSON_SIZE], expected[256];

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_of(out, sizeof out, cases[i].text);
		snprintf(expected, sizeof expected, "\"message\":\"%s\"}\n", cases[i].json);
		ck_assert_msg(strstr(out, expected), "case %zu: %s", i, out);
		ck_assert_msg(json_line_ok(out), "case %zu: %s", i, out);
	}
	/* Keys are escaped as well. */
	log_json_format(out, sizeof out, &json_now, LOG_INFO, "e\"v", LOG_FIELDS(LOG_NUM("k\n", 1)),
			NULL);
	ck_assert_ptr_nonnull(strstr(out, "\"event\":\"e\\\"v\",\"k\\u000a\":1}"));
}
END_TEST

/* At every size, the line is one valid object, within size, and its text a prefix of the whole. */
START_TEST(test_json_cut_stays_valid)
{
	char message[600], whole[LOG_JSON_SIZE], out[LOG_JSON_SIZE + 8];
	const struct log_field *fields = LOG_FIELDS(LOG_STR("client", "[2001:db8::2]:40312"),
						    LOG_NUM("bytes_out", 123456789),
						    LOG_STR("reason", "not_allowed"));
	size_t whole_len;

	for (size_t i = 0; i + 8 < sizeof message; i += 8)
		memcpy(message + i, i % 16 ? "\xc3\xa9\x01\"\\\xe2\x82\xac" : "ab\xff" "cd\xf0\x9f\x98",
		       8);
	message[sizeof message - 8] = '\0';
	whole_len = log_json_format(whole, sizeof whole, &json_now, LOG_INFO, "close", fields,
				    message);
	ck_assert(json_line_ok(whole));
	for (size_t size = 5; size <= whole_len + 2; size++) {
		memset(out, 'Z', sizeof out);
		size_t len = log_json_format(out, size, &json_now, LOG_INFO, "close", fields,
					     message);

		ck_assert_uint_lt(len, size);
		ck_assert_uint_eq(len, strlen(out));
		for (size_t i = size; i < sizeof out; i++)
			ck_assert_int_eq(out[i], 'Z');
		ck_assert_msg(json_line_ok(out), "size %zu: %s", size, out);
		/* Cut: the same members, the last string shorter, nothing after it. */
		ck_assert_msg(len < 3 || strncmp(out, whole, len - 3) == 0 ||
			      strncmp(out, whole, len - 2) == 0, "size %zu: %s", size, out);
	}
	ck_assert_str_eq(out, whole);
}
END_TEST

/* log_event writes what log_msg writes in text mode, and the object in JSON mode. */
START_TEST(test_log_event_text_and_json)
{
	int fds[2], saved = dup(STDERR_FILENO);
	char text[256], json[LOG_JSON_SIZE], line[64];
	ssize_t len;

	ck_assert_int_eq(pipe(fds), 0);
	dup2(fds[1], STDERR_FILENO);
	log_msg("accept %s -> %u", "198.18.1.2:1", 80);
	log_event(LOG_INFO, "accept", LOG_FIELDS(LOG_NUM("port", 80)), "accept %s -> %u",
		  "198.18.1.2:1", 80);
	log_set_format(LOG_FORMAT_JSON);
	log_event(LOG_INFO, "accept", LOG_FIELDS(LOG_NUM("port", 80)), "accept %s -> %u",
		  "198.18.1.2:1", 80);
	log_msg("plain %d", 1);
	errno = ECONNREFUSED;
	log_errno("port %u: failed", 80);
	log_set_format(LOG_FORMAT_TEXT);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	len = read(fds[0], json, sizeof json - 1);
	close(fds[0]);
	ck_assert_int_gt(len, 0);
	json[len] = '\0';
	snprintf(text, sizeof text, "whitelist: accept 198.18.1.2:1 -> 80\n"
		 "whitelist: accept 198.18.1.2:1 -> 80\n");
	ck_assert_int_eq(strncmp(json, text, strlen(text)), 0);
	for (char *at = json + strlen(text), *end; (end = strchr(at, '\n')); at = end + 1) {
		snprintf(line, sizeof line, "%.*s", (int)(end - at + 1), at);
		ck_assert_msg(json_line_ok(line) || strlen(line) == sizeof line - 1, "%s", line);
	}
	ck_assert_ptr_nonnull(strstr(json, "\"event\":\"accept\",\"port\":80,"
				     "\"message\":\"accept 198.18.1.2:1 -> 80\"}\n"));
	ck_assert_ptr_nonnull(strstr(json, "\"level\":\"info\",\"event\":\"message\","
				     "\"message\":\"plain 1\"}\n"));
	ck_assert_ptr_nonnull(strstr(json, "\"level\":\"error\",\"event\":\"error\","
				     "\"message\":\"port 80: failed: Connection refused\"}\n"));
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
	tc = tcase_create("json");
	tcase_set_timeout(tc, 5);
	tcase_add_test(tc, test_json_line_and_time);
	tcase_add_test(tc, test_json_every_field_type);
	tcase_add_test(tc, test_json_escapes);
	tcase_add_test(tc, test_json_cut_stays_valid);
	tcase_add_test(tc, test_log_event_text_and_json);
	suite_add_tcase(suite, tc);
	return suite;
}
