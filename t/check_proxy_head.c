/*
 * t/check_proxy_head.c: the Check suite for proxy_head.c, the request head
 * of explicit-proxy clients (CONNECT_PORT).
 *
 * One table of heads and the answer each must get. Every head is fed prefix
 * by prefix from a buffer of its exact size (so a read past the end trips
 * ASan): each prefix must say NEED_MORE until the answer the case expects,
 * that answer must stay for every longer prefix, and bytes behind the head
 * (an eager ClientHello) must change nothing. Then the 16 KiB cap, the
 * origin-form rewrite and the Basic credentials, each from a table.
 */
#include "proxy_head.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "t/check.h"

#define END "\r\n\r\n"
#define H11 " HTTP/1.1\r\n"
/* A refused head: no form, host or port to check. */
#define BAD PROXY_HEAD_MALFORMED, PROXY_FORM_CONNECT, NULL, 0, 0
#define HELLO "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"	/* a ClientHello's start */

struct head_case {
	const char *what;
	const char *head;
	size_t len;		/* 0: strlen(head) */
	int status;
	enum proxy_head_form form;
	const char *host;	/* FOUND: the host and port expected */
	int family;
	unsigned port;
};

static const struct head_case head_cases[] = {
	/* CONNECT */
	{ "CONNECT", "CONNECT a.example:443" H11 "Host: a.example:443" END, 0, PROXY_HEAD_FOUND,
	  PROXY_FORM_CONNECT, "a.example", 0, 443 },
	{ "CONNECT without fields", "CONNECT a.example:443" H11 "\r\n", 0, PROXY_HEAD_FOUND,
	  PROXY_FORM_CONNECT, "a.example", 0, 443 },
	{ "CONNECT HTTP/1.0", "CONNECT a.example:443 HTTP/1.0\r\n\r\n", 0, PROXY_HEAD_FOUND,
	  PROXY_FORM_CONNECT, "a.example", 0, 443 },
	{ "CONNECT, LF alone", "CONNECT a.example:443 HTTP/1.1\nUser-Agent: x\n\n", 0,
	  PROXY_HEAD_FOUND, PROXY_FORM_CONNECT, "a.example", 0, 443 },
	{ "CONNECT after empty lines", "\r\n\nCONNECT a.example:443" H11 "\r\n", 0,
	  PROXY_HEAD_FOUND, PROXY_FORM_CONNECT, "a.example", 0, 443 },
	{ "CONNECT, name normalized", "CONNECT A.Example.:8443" H11 "\r\n", 0, PROXY_HEAD_FOUND,
	  PROXY_FORM_CONNECT, "a.example", 0, 8443 },
	{ "CONNECT to an IPv4 literal", "CONNECT 198.18.0.1:443" H11 "\r\n", 0, PROXY_HEAD_FOUND,
	  PROXY_FORM_CONNECT, "198.18.0.1", AF_INET, 443 },
	{ "CONNECT to an IPv6 literal", "CONNECT [2001:DB8:0::1]:443" H11 "\r\n", 0,
	  PROXY_HEAD_FOUND, PROXY_FORM_CONNECT, "2001:db8::1", AF_INET6, 443 },
	{ "CONNECT port 1", "CONNECT a.example:1" H11 "\r\n", 0, PROXY_HEAD_FOUND,
	  PROXY_FORM_CONNECT, "a.example", 0, 1 },
	{ "CONNECT port 65535", "CONNECT a.example:65535" H11 "\r\n", 0, PROXY_HEAD_FOUND,
	  PROXY_FORM_CONNECT, "a.example", 0, 65535 },
	{ "CONNECT with credentials", "CONNECT a.example:443" H11 "Proxy-Authorization: Basic "
	  "dTpw \r\n\r\n", 0, PROXY_HEAD_FOUND, PROXY_FORM_CONNECT, "a.example", 0, 443 },
	{ "CONNECT without port", "CONNECT a.example" H11 "\r\n", 0, BAD },
	{ "CONNECT with an empty port", "CONNECT a.example:" H11 "\r\n", 0, BAD },
	{ "CONNECT port 0", "CONNECT a.example:0" H11 "\r\n", 0, BAD },
	{ "CONNECT port 65536", "CONNECT a.example:65536" H11 "\r\n", 0, BAD },
	{ "CONNECT port of 6 digits", "CONNECT a.example:000443" H11 "\r\n", 0,
	  BAD },
	{ "CONNECT port by name", "CONNECT a.example:https" H11 "\r\n", 0, BAD },
	{ "CONNECT two ports", "CONNECT a.example:1:443" H11 "\r\n", 0, BAD },
	{ "CONNECT userinfo", "CONNECT u@a.example:443" H11 "\r\n", 0, BAD },
	{ "CONNECT a URL", "CONNECT http://a.example:443/" H11 "\r\n", 0, BAD },
	{ "CONNECT IPv4 in another form", "CONNECT 127.1:443" H11 "\r\n", 0, BAD },
	{ "CONNECT IPv4 in octal", "CONNECT 010.0.0.1:443" H11 "\r\n", 0, BAD },
	{ "CONNECT IPv4 in hex", "CONNECT 0x7f000001:443" H11 "\r\n", 0, BAD },
	{ "CONNECT bare IPv6", "CONNECT ::1:443" H11 "\r\n", 0, BAD },
	{ "CONNECT IPv6 with a zone", "CONNECT [fe80::1%25eth0]:443" H11 "\r\n", 0,
	  BAD },
	{ "CONNECT IPv4 in brackets", "CONNECT [198.18.0.1]:443" H11 "\r\n", 0,
	  BAD },
	{ "CONNECT a bad name", "CONNECT a..example:443" H11 "\r\n", 0, BAD },
	{ "connect in lower case", "connect a.example:443" H11 "\r\n", 0, BAD },
	{ "CONNECT HTTP/2", "CONNECT a.example:443 HTTP/2.0\r\n\r\n", 0, BAD },
	{ "CONNECT HTTP/1.2", "CONNECT a.example:443 HTTP/1.2\r\n\r\n", 0, BAD },
	{ "two spaces", "CONNECT  a.example:443" H11 "\r\n", 0, BAD },
	{ "text after the version", "CONNECT a.example:443 HTTP/1.1 x\r\n\r\n", 0,
	  BAD },
	/* absolute-form */
	{ "GET absolute-form", "GET http://a.example/x?y=1" H11 "Host: a.example" END, 0,
	  PROXY_HEAD_FOUND, PROXY_FORM_ABSOLUTE, "a.example", 0, 80 },
	{ "absolute-form with port", "POST http://a.example:8080" H11 "\r\n", 0, PROXY_HEAD_FOUND,
	  PROXY_FORM_ABSOLUTE, "a.example", 0, 8080 },
	{ "absolute-form, empty port", "GET http://a.example:/" H11 "\r\n", 0, PROXY_HEAD_FOUND,
	  PROXY_FORM_ABSOLUTE, "a.example", 0, 80 },
	{ "scheme in capitals", "GET HTTP://A.EXAMPLE?q HTTP/1.0\r\n\r\n", 0, PROXY_HEAD_FOUND,
	  PROXY_FORM_ABSOLUTE, "a.example", 0, 80 },
	{ "absolute-form IPv6", "GET http://[2001:db8::1]:81/" H11 "\r\n", 0, PROXY_HEAD_FOUND,
	  PROXY_FORM_ABSOLUTE, "2001:db8::1", AF_INET6, 81 },
	{ "'@' in the path", "GET http://a.example/x@y" H11 "\r\n", 0, PROXY_HEAD_FOUND,
	  PROXY_FORM_ABSOLUTE, "a.example", 0, 80 },
	{ "absolute-form userinfo", "GET http://u:p@a.example/" H11 "\r\n", 0,
	  BAD },
	{ "absolute-form fragment", "GET http://a.example/#x" H11 "\r\n", 0, BAD },
	{ "https absolute-form", "GET https://a.example/" H11 "\r\n", 0, BAD },
	{ "another scheme", "GET ftp://a.example/" H11 "\r\n", 0, BAD },
	{ "empty authority", "GET http:///x" H11 "\r\n", 0, BAD },
	{ "bad port", "GET http://a.example:x/" H11 "\r\n", 0, BAD },
	/* not proxy requests */
	{ "origin-form", "GET /" H11 "Host: a.example" END, 0, BAD },
	{ "asterisk-form", "OPTIONS *" H11 "\r\n", 0, BAD },
	{ "a TLS ClientHello", HELLO, sizeof HELLO - 1, BAD },
	{ "NUL", "\0", 1, BAD },
	{ "SMTP greeting", "EHLO a.example\r\n", 0, BAD },
	{ "HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, BAD },
	{ "method of 33", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA http://a.example/" H11 "\r\n", 0,
	  BAD },
	/* field lines */
	{ "obs-fold", "CONNECT a.example:443" H11 "X: a\r\n b" END, 0, BAD },
	{ "space before colon", "CONNECT a.example:443" H11 "X : a" END, 0, BAD },
	{ "no colon", "CONNECT a.example:443" H11 "X a" END, 0, BAD },
	{ "empty name", "CONNECT a.example:443" H11 ": a" END, 0, BAD },
	{ "control character", "CONNECT a.example:443" H11 "X: \x01" END, 0, BAD },
	{ "NUL in a value", "CONNECT a.example:443" H11 "X: a\0b" END,
	  sizeof("CONNECT a.example:443" H11 "X: a\0b" END) - 1, BAD },
	{ "bare CR", "CONNECT a.example:443" H11 "X: a\rb" END, 0, BAD },
	{ "CR without LF at the end", "CONNECT a.example:443" H11 "X: a\r\n\rY", 0,
	  BAD },
	{ "two Proxy-Authorization", "CONNECT a.example:443" H11 "Proxy-Authorization: Basic "
	  "dTpw\r\nproxy-authorization: Basic dTpx" END, 0, BAD },
	{ "8-bit value", "CONNECT a.example:443" H11 "X: caf\xc3\xa9" END, 0, PROXY_HEAD_FOUND,
	  PROXY_FORM_CONNECT, "a.example", 0, 443 },
};

static size_t case_len(const struct head_case *c)
{
	return c->len ? c->len : strlen(c->head);
}

/* proxy_head_parse on a copy of exactly len bytes (ASan sees any read past them). */
static int parse_exact(const char *bytes, size_t len, struct proxy_head *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	int status;

	memcpy(copy, bytes, len);
	status = proxy_head_parse(copy, len, out);
	free(copy);
	return status;
}

static void check_found(const struct head_case *c, const struct proxy_head *out, size_t len)
{
	ck_assert_msg(out->form == c->form, "%s: form %d", c->what, out->form);
	ck_assert_msg(strcmp(out->host, c->host) == 0, "%s: host \"%s\"", c->what, out->host);
	ck_assert_msg(out->host_family == c->family, "%s: family %d", c->what, out->host_family);
	ck_assert_msg(out->port == c->port, "%s: port %u", c->what, out->port);
	ck_assert_msg(out->head_len == len, "%s: head_len %zu of %zu", c->what, out->head_len, len);
}

START_TEST(test_head_table)
{
	const struct head_case *c = &head_cases[_i];
	size_t len = case_len(c), first_final = len;
	struct proxy_head out;
	char *longer = malloc(len + sizeof HELLO);

	for (size_t cut = 0; cut <= len; cut++) {
		int status = parse_exact(c->head, cut, &out);

		if (status != PROXY_HEAD_NEED_MORE && first_final == len)
			first_final = cut;
		ck_assert_msg(status == (cut >= first_final ? c->status : PROXY_HEAD_NEED_MORE),
			      "%s: %d for %zu of %zu bytes", c->what, status, cut, len);
	}
	if (c->status == PROXY_HEAD_FOUND) {
		ck_assert_msg(first_final == len, "%s: found before its end", c->what);
		check_found(c, &out, len);
	} else {
		ck_assert_msg(out.problem != NULL && out.host[0] == '\0', "%s: no problem", c->what);
	}
	/* An eager client: its ClientHello right behind the head changes nothing. */
	memcpy(longer, c->head, len);
	memcpy(longer + len, HELLO, sizeof HELLO - 1);
	ck_assert_int_eq(parse_exact(longer, len + sizeof HELLO - 1, &out), c->status);
	if (c->status == PROXY_HEAD_FOUND)
		check_found(c, &out, len);
	free(longer);
}
END_TEST

/* A head of exactly PROXY_HEAD_MAX bytes is read; one more byte and it never ends. */
START_TEST(test_head_cap)
{
	static const char start[] = "CONNECT a.example:443" H11 "X: ";
	char *head = malloc(PROXY_HEAD_MAX + 2);
	struct proxy_head out;

	for (size_t extra = 0; extra <= 1; extra++) {
		size_t len = PROXY_HEAD_MAX + extra;

		memcpy(head, start, sizeof start - 1);
		memset(head + sizeof start - 1, 'a', len - (sizeof start - 1) - 4);
		memcpy(head + len - 4, END, 4);
		ck_assert_int_eq(parse_exact(head, len, &out),
				 extra ? PROXY_HEAD_NEED_MORE : PROXY_HEAD_FOUND);
	}
	free(head);
}
END_TEST

/* Proxy-Authorization's value, OWS trimmed. */
START_TEST(test_head_authorization)
{
	static const char head[] = "CONNECT a.example:443" H11 "proxy-AUTHORIZATION: \t Basic "
				   "dTpw \r\n\r\n";
	struct proxy_head out;

	ck_assert_int_eq(parse_exact(head, sizeof head - 1, &out), PROXY_HEAD_FOUND);
	ck_assert(out.has_authorization);
	ck_assert_uint_eq(out.authorization.len, strlen("Basic dTpw"));
	ck_assert(memcmp(head + out.authorization.off, "Basic dTpw", out.authorization.len) == 0);
	ck_assert_int_eq(parse_exact("CONNECT a.example:443" H11 "\r\n",
				     strlen("CONNECT a.example:443" H11 "\r\n"), &out),
			 PROXY_HEAD_FOUND);
	ck_assert(!out.has_authorization);
}
END_TEST

struct rewrite_case {
	const char *what;
	const char *head;
	const char *sent;	/* NULL: -1 */
};

static const struct rewrite_case rewrite_cases[] = {
	{ "path and query", "GET http://a.example/x?y=1" H11 "Host: a.example\r\nAccept: */*" END,
	  "GET /x?y=1" H11 "Host: a.example\r\nAccept: */*\r\nConnection: close" END },
	{ "no path", "GET http://a.example" H11 "\r\n",
	  "GET /" H11 "Host: a.example\r\nConnection: close" END },
	{ "query only", "GET http://a.example?q=1 HTTP/1.0\r\n\r\n",
	  "GET /?q=1 HTTP/1.0\r\nHost: a.example\r\nConnection: close" END },
	{ "port kept in Host", "GET http://A.example:8080/" H11 "Host: a.example:8080" END,
	  "GET /" H11 "Host: a.example:8080\r\nConnection: close" END },
	{ "IPv6", "GET http://[2001:db8::1]:81/" H11 "\r\n",
	  "GET /" H11 "Host: [2001:db8::1]:81\r\nConnection: close" END },
	{ "the proxy's fields dropped", "GET http://a.example/" H11 "Proxy-Authorization: Basic "
	  "dTpw\r\nProxy-Connection: keep-alive\r\nConnection: keep-alive, X-Secret\r\n"
	  "Keep-Alive: 5\r\nTE: trailers\r\nTrailer: X\r\nUpgrade: h2c\r\nX-Secret: 1\r\n"
	  "X-Kept: 2\r\nHost: b.example" END,
	  "GET /" H11 "Host: a.example\r\nX-Kept: 2\r\nConnection: close" END },
	{ "framing kept when named", "POST http://a.example/" H11 "Connection: Content-Length, "
	  "transfer-encoding\r\nContent-Length: 3\r\nTransfer-Encoding: chunked" END,
	  "POST /" H11 "Host: a.example\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
	  "Connection: close" END },
	{ "LF alone", "GET http://a.example/ HTTP/1.1\nX: 1\n\n",
	  "GET /" H11 "Host: a.example\r\nX: 1\r\nConnection: close" END },
	{ "CONNECT is no rewrite", "CONNECT a.example:443" H11 "\r\n", NULL },
};

START_TEST(test_rewrite_table)
{
	const struct rewrite_case *c = &rewrite_cases[_i];
	struct proxy_head head;
	static char out[PROXY_REWRITE_MAX];
	int len;

	ck_assert_int_eq(parse_exact(c->head, strlen(c->head), &head), PROXY_HEAD_FOUND);
	len = proxy_head_rewrite((const uint8_t *)c->head, &head, out, sizeof out);
	if (!c->sent) {
		ck_assert_int_eq(len, -1);
		return;
	}
	ck_assert_msg(len == (int)strlen(c->sent) && memcmp(out, c->sent, (size_t)len) == 0,
		      "%s: \"%.*s\"", c->what, len < 0 ? 0 : len, out);
	/* Every cut of the room: -1, never a partial head. */
	for (size_t room = 0; room < (size_t)len; room++)
		ck_assert_int_eq(proxy_head_rewrite((const uint8_t *)c->head, &head, out, room), -1);
}
END_TEST

struct basic_case {
	const char *value;
	const char *decoded;	/* NULL: -1 */
};

static const struct basic_case basic_cases[] = {
	{ "Basic dTpw", "u:p" },
	{ "basic   dTpw", "u:p" },
	{ "BASIC YWxpY2U6c2VjcmV0", "alice:secret" },
	{ "Basic YWxpY2U6", "alice:" },
	{ "Basic OnA=", ":p" },
	{ "Basic YTpiYw==", "a:bc" },
	{ "Basic YTpiY2Q=", "a:bcd" },
	{ "Basic YWxpY2U=", NULL },		/* no colon */
	{ "Basic YTpiYw=", NULL },		/* bad padding */
	{ "Basic YTpiYw", NULL },		/* no padding */
	{ "Basic YT=iYw==", NULL },		/* padding inside */
	{ "Basic YTpi*w==", NULL },
	{ "Basic ", NULL },
	{ "Basic", NULL },
	{ "Basicx dTpw", NULL },
	{ "Bearer dTpw", NULL },
	{ "Digest username=\"u\"", NULL },
	{ "Basic YQA6Yg==", NULL },		/* "a\0:b": a NUL inside */
};

START_TEST(test_basic_table)
{
	const struct basic_case *c = &basic_cases[_i];
	char out[PROXY_CREDENTIALS_SIZE];
	int len = proxy_head_basic((const uint8_t *)c->value, strlen(c->value), out, sizeof out);

	if (!c->decoded) {
		ck_assert_msg(len == -1 && out[0] == '\0', "\"%s\": %d", c->value, len);
		return;
	}
	ck_assert_msg(len == (int)strlen(c->decoded) && strcmp(out, c->decoded) == 0,
		      "\"%s\": \"%s\"", c->value, out);
	ck_assert_int_eq(proxy_head_basic((const uint8_t *)c->value, strlen(c->value), out,
					  strlen(c->decoded)), -1);	/* no room for the NUL */
}
END_TEST

Suite *proxy_head_suite(void)
{
	Suite *suite = suite_create("proxy_head");
	TCase *tc = tcase_create("proxy_head");

	tcase_add_loop_test(tc, test_head_table, 0, sizeof head_cases / sizeof head_cases[0]);
	tcase_add_test(tc, test_head_cap);
	tcase_add_test(tc, test_head_authorization);
	tcase_add_loop_test(tc, test_rewrite_table, 0,
			    sizeof rewrite_cases / sizeof rewrite_cases[0]);
	tcase_add_loop_test(tc, test_basic_table, 0, sizeof basic_cases / sizeof basic_cases[0]);
	suite_add_tcase(suite, tc);
	return suite;
}
