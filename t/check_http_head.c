/*
 * t/check_http_head.c: the Check suite for http_head.c, the HTTP/1.x
 * request-head peeker of routed mode.
 *
 * One table of request heads and the answer each must get. Every head is
 * fed prefix by prefix from a buffer of its exact size (t/sniff_kit.c), to
 * http_head_host() and to the dispatcher: each prefix must say NEED_MORE
 * until the one answer the case expects, and neither more prefix bytes nor
 * bytes after the head may change it. Then the heads at the 16 KiB cap, and
 * every octet of valid heads corrupted.
 */
#include "http_head.h"

#include <check.h>

#include "t/check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sniff_kit.h"

#define END "\r\n\r\n"
#define H11 " HTTP/1.1\r\n"

struct http_case {
	const char *what;
	const char *head;
	size_t len;		/* 0: strlen(head) */
	int status;
	const char *name;
};

static const struct http_case http_cases[] = {
	/* the Host field */
	{ "Host", "GET /" H11 "Host: a.example" END, 0, SNIFF_FOUND, "a.example" },
	{ "Host among others", "GET /x?y=1" H11 "User-Agent: t\r\nHost: a.example\r\nAccept: */*"
	  END, 0, SNIFF_FOUND, "a.example" },
	{ "LF alone", "GET / HTTP/1.1\nHost: a.example\n\n", 0, SNIFF_FOUND, "a.example" },
	{ "CRLF and LF mixed", "GET / HTTP/1.1\nHost: a.example\r\n\n", 0, SNIFF_FOUND,
	  "a.example" },
	{ "empty lines first", "\r\n\r\n\nGET /" H11 "Host: a.example" END, 0, SNIFF_FOUND,
	  "a.example" },
	{ "HTTP/1.0 with Host", "GET / HTTP/1.0\r\nHost: a.example" END, 0, SNIFF_FOUND,
	  "a.example" },
	{ "HTTP/1.0 without Host", "GET / HTTP/1.0" END, 0, SNIFF_NO_NAME, NULL },
	{ "HTTP/1.1 without Host", "GET /" H11 "Accept: */*" END, 0, SNIFF_NO_NAME, NULL },
	{ "no field at all", "GET /" H11 "\r\n", 0, SNIFF_NO_NAME, NULL },
	{ "port stripped", "GET /" H11 "Host: a.example:8080" END, 0, SNIFF_FOUND, "a.example" },
	{ "port 65535", "GET /" H11 "Host: a.example:65535" END, 0, SNIFF_FOUND, "a.example" },
	{ "empty port", "GET /" H11 "Host: a.example:" END, 0, SNIFF_FOUND, "a.example" },
	{ "port 65536", "GET /" H11 "Host: a.example:65536" END, 0, SNIFF_BAD_NAME, NULL },
	{ "port of 6 digits", "GET /" H11 "Host: a.example:000080" END, 0, SNIFF_BAD_NAME, NULL },
	{ "port not digits", "GET /" H11 "Host: a.example:http" END, 0, SNIFF_BAD_NAME, NULL },
	{ "two ports", "GET /" H11 "Host: a.example:80:80" END, 0, SNIFF_BAD_NAME, NULL },
	{ "OWS trimmed", "GET /" H11 "Host: \t a.example \t" END, 0, SNIFF_FOUND, "a.example" },
	{ "no OWS", "GET /" H11 "Host:a.example" END, 0, SNIFF_FOUND, "a.example" },
	{ "field name in capitals", "GET /" H11 "HOST: A.Example.COM" END, 0, SNIFF_FOUND,
	  "a.example.com" },
	{ "field name mixed case", "GET /" H11 "hOsT: a.example" END, 0, SNIFF_FOUND,
	  "a.example" },
	{ "trailing dot", "GET /" H11 "Host: a.example.:80" END, 0, SNIFF_FOUND, "a.example" },
	{ "underscore", "GET /" H11 "Host: _x.a.example" END, 0, SNIFF_FOUND, "_x.a.example" },
	{ "IPv4 literal", "GET /" H11 "Host: 192.0.2.1" END, 0, SNIFF_BAD_NAME, NULL },
	{ "IPv4 literal and port", "GET /" H11 "Host: 127.0.0.1:80" END, 0, SNIFF_BAD_NAME, NULL },
	{ "bracketed IPv6 and port", "GET /" H11 "Host: [::1]:80" END, 0, SNIFF_BAD_NAME, NULL },
	{ "bracketed IPv6", "GET /" H11 "Host: [2001:db8::1]" END, 0, SNIFF_BAD_NAME, NULL },
	{ "bare IPv6", "GET /" H11 "Host: ::1" END, 0, SNIFF_BAD_NAME, NULL },
	{ "empty Host", "GET /" H11 "Host:" END, 0, SNIFF_BAD_NAME, NULL },
	{ "blank Host", "GET /" H11 "Host:   " END, 0, SNIFF_BAD_NAME, NULL },
	{ "userinfo in Host", "GET /" H11 "Host: u@a.example" END, 0, SNIFF_BAD_NAME, NULL },
	{ "a list in Host", "GET /" H11 "Host: a.example, b.example" END, 0, SNIFF_BAD_NAME, NULL },
	{ "space inside Host", "GET /" H11 "Host: a .example" END, 0, SNIFF_BAD_NAME, NULL },
	{ "8-bit Host", "GET /" H11 "Host: b\xc3\xbc" "cher.example" END, 0, SNIFF_BAD_NAME, NULL },
	{ "label of 64", "GET /" H11 "Host: "
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example" END, 0,
	  SNIFF_BAD_NAME, NULL },
	{ "two Host fields", "GET /" H11 "Host: a.example\r\nHost: b.example" END, 0,
	  SNIFF_AMBIGUOUS, NULL },
	{ "the same Host twice", "GET /" H11 "Host: a.example\r\nHost: a.example" END, 0,
	  SNIFF_AMBIGUOUS, NULL },
	{ "two Hosts far apart", "GET /" H11 "Host: a.example\r\nA: 1\r\nB: 2\r\nhost: a.example"
	  END, 0, SNIFF_AMBIGUOUS, NULL },
	{ "second Host empty", "GET /" H11 "Host: a.example\r\nHost:" END, 0, SNIFF_AMBIGUOUS,
	  NULL },
	{ "Host-like fields", "GET /" H11 "X-Host: b.example\r\nHostname: c.example\r\nHost2: d"
	  "\r\nHost: a.example\r\nX-Forwarded-Host: e.example" END, 0, SNIFF_FOUND, "a.example" },
	{ "8-bit value elsewhere", "GET /" H11 "X-N: caf\xc3\xa9\r\nHost: a.example" END, 0,
	  SNIFF_FOUND, "a.example" },
	{ "body after the head", "POST /" H11 "Host: a.example\r\nContent-Length: 17" END
	  "Host: b.example\r\n", 0, SNIFF_FOUND, "a.example" },
	/* format errors */
	{ "space before colon", "GET /" H11 "Host : a.example" END, 0, SNIFF_MALFORMED, NULL },
	{ "tab before colon", "GET /" H11 "Host\t: a.example" END, 0, SNIFF_MALFORMED, NULL },
	{ "space before another colon", "GET /" H11 "Accept : */*\r\nHost: a.example" END, 0,
	  SNIFF_MALFORMED, NULL },
	{ "line without colon", "GET /" H11 "Host a.example" END, 0, SNIFF_MALFORMED, NULL },
	{ "empty field name", "GET /" H11 ": a.example" END, 0, SNIFF_MALFORMED, NULL },
	{ "quote in field name", "GET /" H11 "Ho\"st: a.example" END, 0, SNIFF_MALFORMED, NULL },
	{ "NUL in a value", "GET /" H11 "Host: a.example\r\nX: a\0b" END, sizeof("GET /" H11
	  "Host: a.example\r\nX: a\0b" END) - 1, SNIFF_MALFORMED, NULL },
	{ "NUL in Host", "GET /" H11 "Host: a\0.example" END, sizeof("GET /" H11
	  "Host: a\0.example" END) - 1, SNIFF_MALFORMED, NULL },
	{ "control character in a value", "GET /" H11 "X: \x01" END, 0, SNIFF_MALFORMED, NULL },
	{ "DEL in a value", "GET /" H11 "X: \x7f" END, 0, SNIFF_MALFORMED, NULL },
	{ "bare CR in Host", "GET /" H11 "Host: a.example\rb.example" END, 0, SNIFF_MALFORMED,
	  NULL },
	{ "CR without LF at the end", "GET /" H11 "Host: a.example\r\n\rX", 0, SNIFF_MALFORMED,
	  NULL },
	{ "obs-fold of Host", "GET /" H11 "Host: a.example\r\n b.example" END, 0, SNIFF_MALFORMED,
	  NULL },
	{ "obs-fold of Host, tab", "GET /" H11 "Host: a.example\r\n\t.b" END, 0, SNIFF_MALFORMED,
	  NULL },
	{ "obs-fold of another field", "GET /" H11 "X-Long: a\r\n continued\r\n\tand more\r\n"
	  "Host: a.example" END, 0, SNIFF_FOUND, "a.example" },
	{ "obs-fold after Host's neighbour", "GET /" H11 "Host: a.example\r\nX: b\r\n c" END, 0,
	  SNIFF_FOUND, "a.example" },
	{ "obs-fold hiding a Host", "GET /" H11 "X: b\r\n Host: c.example\r\nHost: a.example" END,
	  0, SNIFF_FOUND, "a.example" },
	{ "whitespace before the first field", "GET /" H11 " Host: a.example" END, 0,
	  SNIFF_MALFORMED, NULL },
	{ "control character in obs-fold", "GET /" H11 "X: b\r\n \x01" END, 0, SNIFF_MALFORMED,
	  NULL },
	/* absolute-form */
	{ "absolute-form alone", "GET http://a.example/x" H11 "\r\n", 0, SNIFF_FOUND,
	  "a.example" },
	{ "absolute-form and the same Host", "GET http://a.example/x" H11 "Host: a.example" END,
	  0, SNIFF_FOUND, "a.example" },
	{ "absolute-form, ports differ", "GET http://a.example:8080/" H11 "Host: A.example.:80"
	  END, 0, SNIFF_FOUND, "a.example" },
	{ "absolute-form and another Host", "GET http://a.example/" H11 "Host: b.example" END, 0,
	  SNIFF_AMBIGUOUS, NULL },
	{ "absolute-form and an empty Host", "GET http://a.example/" H11 "Host:" END, 0,
	  SNIFF_BAD_NAME, NULL },
	{ "absolute-form and an IP Host", "GET http://a.example/" H11 "Host: 192.0.2.1" END, 0,
	  SNIFF_BAD_NAME, NULL },
	{ "absolute-form and two Hosts", "GET http://a.example/" H11 "Host: a.example\r\n"
	  "Host: a.example" END, 0, SNIFF_AMBIGUOUS, NULL },
	{ "https absolute-form", "GET https://a.example/" H11 "\r\n", 0, SNIFF_FOUND,
	  "a.example" },
	{ "scheme in capitals", "GET HTTP://A.EXAMPLE/" H11 "\r\n", 0, SNIFF_FOUND, "a.example" },
	{ "absolute-form without path", "GET http://a.example" H11 "\r\n", 0, SNIFF_FOUND,
	  "a.example" },
	{ "absolute-form with query only", "GET http://a.example?x=/" H11 "\r\n", 0, SNIFF_FOUND,
	  "a.example" },
	{ "absolute-form with port", "GET http://a.example:81" H11 "\r\n", 0, SNIFF_FOUND,
	  "a.example" },
	{ "'@' after the authority", "GET http://a.example/x@y" H11 "\r\n", 0, SNIFF_FOUND,
	  "a.example" },
	{ "userinfo", "GET http://u:p@a.example/" H11 "\r\n", 0, SNIFF_MALFORMED, NULL },
	{ "userinfo hiding a host", "GET http://a.example@b.example/" H11 "Host: b.example"
	  END, 0, SNIFF_MALFORMED, NULL },
	{ "empty authority", "GET http:///x" H11 "\r\n", 0, SNIFF_BAD_NAME, NULL },
	{ "IPv6 authority", "GET http://[::1]/" H11 "\r\n", 0, SNIFF_BAD_NAME, NULL },
	{ "IPv4 authority", "GET http://127.0.0.1/" H11 "Host: a.example" END, 0, SNIFF_BAD_NAME,
	  NULL },
	{ "authority with a bad port", "GET http://a.example:x/" H11 "\r\n", 0, SNIFF_BAD_NAME,
	  NULL },
	{ "another scheme", "GET ftp://a.example/" H11 "\r\n", 0, SNIFF_MALFORMED, NULL },
	{ "scheme without //", "GET http:a.example" H11 "\r\n", 0, SNIFF_MALFORMED, NULL },
	{ "bare host as target", "GET a.example" H11 "Host: a.example" END, 0, SNIFF_MALFORMED,
	  NULL },
	/* authority-form and asterisk-form */
	{ "CONNECT", "CONNECT a.example:443" H11 "\r\n", 0, SNIFF_FOUND, "a.example" },
	{ "CONNECT and its Host", "CONNECT a.example:443" H11 "Host: a.example:443" END, 0,
	  SNIFF_FOUND, "a.example" },
	{ "CONNECT and another Host", "CONNECT a.example:443" H11 "Host: b.example:443" END, 0,
	  SNIFF_AMBIGUOUS, NULL },
	{ "CONNECT without port", "CONNECT a.example" H11 "\r\n", 0, SNIFF_MALFORMED, NULL },
	{ "CONNECT with a path", "CONNECT /" H11 "Host: a.example" END, 0, SNIFF_MALFORMED,
	  NULL },
	{ "CONNECT with userinfo", "CONNECT u@a.example:443" H11 "\r\n", 0, SNIFF_MALFORMED,
	  NULL },
	{ "CONNECT to IPv6", "CONNECT [::1]:443" H11 "\r\n", 0, SNIFF_BAD_NAME, NULL },
	{ "CONNECT to IPv4", "CONNECT 10.0.0.1:443" H11 "\r\n", 0, SNIFF_BAD_NAME, NULL },
	{ "CONNECT to a named port", "CONNECT a.example:https" H11 "\r\n", 0, SNIFF_BAD_NAME,
	  NULL },
	{ "connect is not CONNECT", "connect a.example:443" H11 "Host: a.example" END, 0,
	  SNIFF_MALFORMED, NULL },
	{ "OPTIONS *", "OPTIONS *" H11 "Host: a.example" END, 0, SNIFF_FOUND, "a.example" },
	{ "OPTIONS * without Host", "OPTIONS *" H11 "\r\n", 0, SNIFF_NO_NAME, NULL },
	{ "GET *", "GET *" H11 "Host: a.example" END, 0, SNIFF_MALFORMED, NULL },
	/* methods */
	{ "lower-case method", "get /" H11 "Host: a.example" END, 0, SNIFF_FOUND, "a.example" },
	{ "unknown method", "BREW-COFFEE /pot" H11 "Host: a.example" END, 0, SNIFF_FOUND,
	  "a.example" },
	{ "method of 32", "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345 /" H11 "Host: a.example" END, 0,
	  SNIFF_FOUND, "a.example" },
	{ "method of 33", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456 /" H11 "Host: a.example" END, 0,
	  SNIFF_NOT_THIS, NULL },
	/* an HTTP/1.x request line that ends wrong: malformed (routed mode answers 400) */
	{ "space after the version", "GET / HTTP/1.1 \r\n", 0, SNIFF_MALFORMED, NULL },
	{ "CR alone after the version", "GET / HTTP/1.1\rHost: a.example" END, 0, SNIFF_MALFORMED,
	  NULL },
	{ "octet after the version", "GET / HTTP/1.10\r\n", 0, SNIFF_MALFORMED, NULL },
	/* not HTTP/1.x */
	{ "HTTP/0.9", "GET /\r\n", 0, SNIFF_NOT_THIS, NULL },
	{ "HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, SNIFF_NOT_THIS, NULL },
	{ "HTTP/1.2", "GET / HTTP/1.2\r\nHost: a.example" END, 0, SNIFF_NOT_THIS, NULL },
	{ "HTTP/2", "GET / HTTP/2\r\n", 0, SNIFF_NOT_THIS, NULL },
	{ "version in lower case", "GET / http/1.1\r\n", 0, SNIFF_NOT_THIS, NULL },
	{ "two spaces", "GET  / HTTP/1.1\r\n", 0, SNIFF_NOT_THIS, NULL },
	{ "space in the target", "GET /a b HTTP/1.1\r\n", 0, SNIFF_NOT_THIS, NULL },
	{ "tab after the method", "GET\t/ HTTP/1.1\r\n", 0, SNIFF_NOT_THIS, NULL },
	{ "8-bit target", "GET /\xc3\xa9 HTTP/1.1\r\n", 0, SNIFF_NOT_THIS, NULL },
	{ "control in the target", "GET /\x01 HTTP/1.1\r\n", 0, SNIFF_NOT_THIS, NULL },
	{ "SSH banner", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", 0, SNIFF_NOT_THIS, NULL },
	{ "SSH banner, no comment", "SSH-2.0-OpenSSH_9.2p1\r\n", 0, SNIFF_NOT_THIS, NULL },
	{ "SMTP", "EHLO mail.example\r\n", 0, SNIFF_NOT_THIS, NULL },
	{ "binary", "\x00\x01\x02\x03", 4, SNIFF_NOT_THIS, NULL },
	{ "SSLv2 hello", "\x80\x2e\x01\x03\x01", 0, SNIFF_NOT_THIS, NULL },
	{ "CR alone first", "\rGET /" H11 "Host: a.example" END, 0, SNIFF_NOT_THIS, NULL },
	{ "space first", " GET /" H11, 0, SNIFF_NOT_THIS, NULL },
	/* unfinished heads wait */
	{ "no empty line yet", "GET /" H11 "Host: a.example\r\n", 0, SNIFF_NEED_MORE, NULL },
	{ "CR of the empty line", "GET /" H11 "Host: a.example\r\n\r", 0, SNIFF_NEED_MORE, NULL },
	{ "request line only", "GET /" H11, 0, SNIFF_NEED_MORE, NULL },
	{ "empty lines only", "\r\n\r\n\n", 0, SNIFF_NEED_MORE, NULL },
	{ "a method so far", "OPTIONS", 0, SNIFF_NEED_MORE, NULL },
	{ "SSH banner so far", "SSH-2.0-OpenSSH_9.2p1", 0, SNIFF_NEED_MORE, NULL },
};
#define NHTTP (int)(sizeof http_cases / sizeof http_cases[0])

START_TEST(test_http_table)
{
	const struct http_case *c = &http_cases[_i];
	size_t len = c->len != 0 ? c->len : strlen(c->head);
	const uint8_t *head = (const uint8_t *)c->head;
	struct sniff_result out;
	int status;

	kit_stream(http_head_host, c->what, head, len, c->status, c->name);
	kit_stream(sniff_name, c->what, head, len, c->status, c->name);
	kit_extended(http_head_host, c->what, head, len);
	status = kit_call(sniff_name, head, len, &out);
	ck_assert_int_eq(out.proto, status == SNIFF_NOT_THIS ? SNIFF_PROTO_NONE : SNIFF_PROTO_HTTP);
	ck_assert_uint_eq(out.tls_version, 0);
}
END_TEST

/* A head of exactly len octets: a request line, a Host, a cookie to fill, the empty line. */
static size_t big_head(uint8_t *buf, size_t len)
{
	static const char start[] = "GET /" H11 "Host: a.example\r\nCookie: ";
	size_t fill = len - (sizeof start - 1) - 4;

	memcpy(buf, start, sizeof start - 1);
	memset(buf + sizeof start - 1, 'c', fill);
	memcpy(buf + len - 4, END, 4);
	return len;
}

/* The cap: a head that ends within 16 KiB is read, one that does not waits. */
START_TEST(test_cap)
{
	static uint8_t buf[SNIFF_MAX_PEEK + 100];
	struct sniff_result out;
	size_t len = big_head(buf, SNIFF_MAX_PEEK);

	ck_assert_int_eq(kit_call(http_head_host, buf, len, &out), SNIFF_FOUND);
	ck_assert_str_eq(out.name, "a.example");
	ck_assert_int_eq(kit_call(http_head_host, buf, len - 1, &out), SNIFF_NEED_MORE);
	/* one octet longer: the caller refuses at its cap, still waiting */
	len = big_head(buf, SNIFF_MAX_PEEK + 1);
	ck_assert_int_eq(kit_call(http_head_host, buf, SNIFF_MAX_PEEK, &out), SNIFF_NEED_MORE);
	ck_assert_int_eq(kit_call(http_head_host, buf, len, &out), SNIFF_NEED_MORE);
	ck_assert_int_eq(kit_call(sniff_name, buf, len + 50, &out), SNIFF_NEED_MORE);
	/* 16 KiB of empty lines: no request line yet */
	memset(buf, '\n', sizeof buf);
	ck_assert_int_eq(kit_call(http_head_host, buf, sizeof buf, &out), SNIFF_NEED_MORE);
}
END_TEST

START_TEST(test_args)
{
	struct sniff_result out;

	ck_assert_int_eq(http_head_host((const uint8_t *)"G", 1, NULL), SNIFF_NOT_THIS);
	memset(&out, 0xa5, sizeof out);
	ck_assert_int_eq(http_head_host(NULL, 5, &out), SNIFF_NEED_MORE);	/* NULL: empty */
	ck_assert_int_eq(out.proto, SNIFF_PROTO_NONE);
	ck_assert_str_eq(out.name, "");
}
END_TEST

/* ---- corruption: any octet of valid heads set to awkward values ---- */

static const char *const valid_heads[] = {
	"GET /x" H11 "Host: a.example:80\r\nAccept: */*" END,
	"GET http://a.example/" H11 "Host: a.example\r\nX: 1\r\n 2" END,
	"CONNECT a.example:443" H11 "Host: a.example:443" END,
};
#define NVALID (int)(sizeof valid_heads / sizeof valid_heads[0])

START_TEST(test_corruptions)
{
	static const uint8_t values[] = { 0x00, '\t', '\n', '\r', ' ', '.', '/', ':', '@', '[',
					  'H', 0x7f, 0xff };
	const char *head = valid_heads[_i];
	size_t len = strlen(head);
	uint8_t bad[256];
	struct sniff_result out;

	ck_assert_int_eq(kit_call(http_head_host, (const uint8_t *)head, len, &out), SNIFF_FOUND);
	for (size_t pos = 0; pos < len; pos++) {
		for (size_t v = 0; v <= sizeof values; v++) {
			int status;

			memcpy(bad, head, len);
			bad[pos] = v < sizeof values ? values[v] : (uint8_t)(head[pos] ^ 0x20);
			status = kit_call(http_head_host, bad, len, &out);
			kit_stream(http_head_host, "corrupted", bad, len, status,
				   status == SNIFF_FOUND ? out.name : NULL);
		}
	}
}
END_TEST

Suite *http_head_suite(void)
{
	Suite *suite = suite_create("http_head");
	TCase *tc;

	tc = tcase_create("table");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_http_table, 0, NHTTP);
	tcase_add_test(tc, test_cap);
	tcase_add_test(tc, test_args);
	suite_add_tcase(suite, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_corruptions, 0, NVALID);
	suite_add_tcase(suite, tc);
	return suite;
}
