/*
 * t/check_sniff.c: the Check suite for sniff.c (the dispatcher) and
 * sniff_normalize.c (what a routable name is), and the real captures.
 *
 * The captures are first flights of real clients recorded by
 * t/captures/record.py (openssl s_client, curl, Python's ssl), read at run
 * time from CAPTURE_DIR. Each must give its expected answer; every strict
 * prefix must say NEED_MORE (nothing is final before the whole ClientHello
 * or head); bytes after it change nothing; the TLS ones re-cut into records
 * of several sizes give the same name; and any octet corrupted never gives
 * a crash or an invalid name.
 */
#include "sniff.h"

#include <check.h>

#include "t/check.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sniff_kit.h"

#define CAPTURE_MAX 8192

/* ---- sniff_normalize_name ---- */

struct norm_case {
	const char *in;
	size_t len;		/* 0: strlen(in) */
	const char *out;	/* NULL: invalid */
};

#define L63 "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabc"
#define L50 "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"
#define L49 "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghi"
#define N253 L50 "." L50 "." L50 "." L50 "." L49

static const struct norm_case norm_cases[] = {
	{ "example.com", 0, "example.com" },
	{ "EXAMPLE.Com", 0, "example.com" },
	{ "example.com.", 0, "example.com" },
	{ "example.com..", 0, NULL },
	{ ".example.com", 0, NULL },
	{ "example..com", 0, NULL },
	{ ".", 0, NULL },
	{ "", 0, NULL },
	{ "localhost", 0, "localhost" },
	{ "a", 0, "a" },
	{ "A.", 0, "a" },
	{ "a-b.example", 0, "a-b.example" },
	{ "-a.example", 0, NULL },
	{ "a-.example", 0, NULL },
	{ "a.example-", 0, NULL },
	{ "a.-example", 0, NULL },
	{ "_dmarc.example", 0, "_dmarc.example" },
	{ "a_.example", 0, "a_.example" },
	{ "xn--bcher-kva.example", 0, "xn--bcher-kva.example" },
	{ "b\xc3\xbc" "cher.example", 0, NULL },
	{ "a b.example", 0, NULL },
	{ "a\tb.example", 0, NULL },
	{ "a\0b.example", 11, NULL },
	{ "a.example\0", 10, NULL },
	{ "a.example", 5, "a.exa" },	/* only len octets count */
	{ "a:80", 0, NULL },
	{ "u@a.example", 0, NULL },
	{ "a.example/", 0, NULL },
	{ "a%2eexample", 0, NULL },
	{ "*.example", 0, NULL },
	{ "192.0.2.1", 0, NULL },
	{ "192.0.2.1.", 0, NULL },
	{ "127.1", 0, NULL },
	{ "10", 0, NULL },
	{ "0x7f000001", 0, NULL },
	{ "0X7F.1", 0, NULL },
	{ "1.0x1f", 0, NULL },
	{ "0x", 0, NULL },
	{ "0xg.example", 0, "0xg.example" },
	{ "example.0xg", 0, "example.0xg" },
	{ "1.2.3.4a", 0, "1.2.3.4a" },
	{ "4a.3.2.1", 0, NULL },
	{ "123.example", 0, "123.example" },
	{ "::1", 0, NULL },
	{ "[::1]", 0, NULL },
	{ "2001:db8::1", 0, NULL },
	{ L63 ".example", 0, L63 ".example" },
	{ L63 "d.example", 0, NULL },
	{ "example." L63, 0, "example." L63 },
	/* 253 characters, and 253 with the root's dot, are fine; 254 is too long */
	{ N253, 0, N253 },
	{ N253 ".", 0, N253 },
	{ N253 "a", 0, NULL },
	{ N253 "a.", 0, NULL },
	{ N253 "..", 0, NULL },
};
#define NNORM (int)(sizeof norm_cases / sizeof norm_cases[0])

START_TEST(test_normalize_table)
{
	const struct norm_case *c = &norm_cases[_i];
	size_t len = c->len != 0 ? c->len : strlen(c->in);
	char *in = malloc(len + 1);
	char out[SNIFF_NAME_SIZE];
	int status;

	ck_assert_ptr_nonnull(in);
	memcpy(in, c->in, len);	/* exact size: a read past len is an ASan error */
	memset(out, 'x', sizeof out);
	status = sniff_normalize_name(in, len, out, sizeof out);
	free(in);
	if (c->out == NULL) {
		ck_assert_msg(status == -1, "case %d \"%s\": valid as \"%s\"", _i, c->in, out);
		ck_assert_str_eq(out, "");
	} else {
		ck_assert_msg(status == 0, "case %d \"%s\": invalid", _i, c->in);
		ck_assert_str_eq(out, c->out);
	}
}
END_TEST

START_TEST(test_normalize_args)
{
	char out[SNIFF_NAME_SIZE], small[4], big[512];

	ck_assert_int_eq(sniff_normalize_name(NULL, 3, out, sizeof out), -1);
	ck_assert_int_eq(sniff_normalize_name("a.b", 3, NULL, 10), -1);
	ck_assert_int_eq(sniff_normalize_name("a.b", 3, out, 0), -1);
	/* the output must hold the name and its NUL */
	ck_assert_int_eq(sniff_normalize_name("a.b", 3, small, 4), 0);
	ck_assert_str_eq(small, "a.b");
	ck_assert_int_eq(sniff_normalize_name("ab.c", 4, small, 4), -1);
	ck_assert_str_eq(small, "");
	ck_assert_int_eq(sniff_normalize_name("ab.c.", 5, small, 4), -1);
	/* 253 at most, however large the output */
	ck_assert_int_eq(sniff_normalize_name(N253 "a", 254, big, sizeof big), -1);
	ck_assert_int_eq(sniff_normalize_name(N253 ".", 254, big, sizeof big), 0);
	ck_assert_str_eq(big, N253);
	/* in and out may be the same buffer: a place-copy */
	strcpy(out, "A.Example.");
	ck_assert_int_eq(sniff_normalize_name(out, strlen(out), out, sizeof out), 0);
	ck_assert_str_eq(out, "a.example");
}
END_TEST

/* ---- the dispatcher ---- */

struct dispatch_case {
	const char *what;
	const char *data;
	size_t len;
	int status;
	enum sniff_proto proto;
};

static const struct dispatch_case dispatch_cases[] = {
	{ "nothing", "", 0, SNIFF_NEED_MORE, SNIFF_PROTO_NONE },
	{ "handshake byte", "\x16", 1, SNIFF_NEED_MORE, SNIFF_PROTO_TLS },
	{ "handshake record start", "\x16\x03\x01\x02\x00\x01", 6, SNIFF_NEED_MORE,
	  SNIFF_PROTO_TLS },
	{ "handshake byte, bad version", "\x16\x04", 2, SNIFF_MALFORMED, SNIFF_PROTO_TLS },
	{ "alert record", "\x15\x03\x01\x00\x02\x02\x28", 7, SNIFF_NOT_THIS, SNIFF_PROTO_NONE },
	{ "SSLv2 hello", "\x80\x2e\x01\x03\x01\x00\x15", 7, SNIFF_NOT_THIS, SNIFF_PROTO_NONE },
	{ "method letter", "G", 1, SNIFF_NEED_MORE, SNIFF_PROTO_HTTP },
	{ "empty line", "\r\n", 2, SNIFF_NEED_MORE, SNIFF_PROTO_HTTP },
	{ "HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 24, SNIFF_NOT_THIS,
	  SNIFF_PROTO_NONE },
	{ "NUL", "\0", 1, SNIFF_NOT_THIS, SNIFF_PROTO_NONE },
	{ "binary", "\x00\x01", 2, SNIFF_NOT_THIS, SNIFF_PROTO_NONE },
	{ "8-bit", "\xff\xfe", 2, SNIFF_NOT_THIS, SNIFF_PROTO_NONE },
	{ "SSH banner", "SSH-2.0-OpenSSH_9.2p1\r\n", 23, SNIFF_NOT_THIS, SNIFF_PROTO_NONE },
	{ "SMTP command", "HELO x\r\n", 8, SNIFF_NOT_THIS, SNIFF_PROTO_NONE },
	{ "JSON", "{\"a\":1}", 7, SNIFF_NOT_THIS, SNIFF_PROTO_NONE },
	{ "HTTP", "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n", 35, SNIFF_FOUND,
	  SNIFF_PROTO_HTTP },
	/* malformed is not "not this": the protocol is known, so the refusal can answer in it */
	{ "HTTP, bare CR after the version", "GET / HTTP/1.1\rHost: a\r\n\r\n", 26,
	  SNIFF_MALFORMED, SNIFF_PROTO_HTTP },
	{ "HTTP, space before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 28,
	  SNIFF_MALFORMED, SNIFF_PROTO_HTTP },
	{ "HTTP, userinfo", "GET http://u@a/ HTTP/1.1\r\n\r\n", 28, SNIFF_MALFORMED,
	  SNIFF_PROTO_HTTP },
	{ "HTTP, obs-fold of Host", "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n", 31,
	  SNIFF_MALFORMED, SNIFF_PROTO_HTTP },
	{ "TLS, a ServerHello", "\x16\x03\x01\x00\x04\x02\x00\x00\x00", 9, SNIFF_MALFORMED,
	  SNIFF_PROTO_TLS },
};
#define NDISPATCH (int)(sizeof dispatch_cases / sizeof dispatch_cases[0])

START_TEST(test_dispatch_table)
{
	const struct dispatch_case *c = &dispatch_cases[_i];
	struct sniff_result out;
	int status = kit_call(sniff_name, (const uint8_t *)c->data, c->len, &out);

	ck_assert_msg(status == c->status, "%s: %s, want %s", c->what, kit_status(status),
		      kit_status(c->status));
	ck_assert_msg(out.proto == c->proto, "%s: proto %d, want %d", c->what, out.proto,
		      c->proto);
	kit_stream(sniff_name, c->what, (const uint8_t *)c->data, c->len, c->status, NULL);
}
END_TEST

START_TEST(test_dispatch_args)
{
	struct sniff_result out;

	ck_assert_int_eq(sniff_name((const uint8_t *)"G", 1, NULL), SNIFF_NOT_THIS);
	memset(&out, 0xa5, sizeof out);
	ck_assert_int_eq(sniff_name(NULL, 5, &out), SNIFF_NEED_MORE);
	ck_assert_int_eq(out.proto, SNIFF_PROTO_NONE);
	ck_assert_str_eq(out.name, "");
}
END_TEST

/* Random bytes: whatever they are, the contract holds and answers are final. */
START_TEST(test_random_bytes)
{
	static uint8_t buf[512];
	struct sniff_result out;

	srandom(20240601);
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)random() % sizeof buf;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)random();
		if (round % 3 == 0 && len > 0)
			buf[0] = 0x16;	/* a third of them start as TLS */
		kit_call(sniff_name, buf, len, &out);
		kit_extended(sniff_name, "random", buf, len);
	}
}
END_TEST

/* ---- real captures ---- */

struct capture_case {
	const char *file;
	int status;
	const char *name;
	enum sniff_proto proto;
};

static const struct capture_case capture_cases[] = {
	{ "openssl_tls12_sni.bin", SNIFF_FOUND, "tls12.example.com", SNIFF_PROTO_TLS },
	{ "openssl_tls12_nosni.bin", SNIFF_NO_NAME, NULL, SNIFF_PROTO_TLS },
	{ "openssl_tls13_sni.bin", SNIFF_FOUND, "tls13.example.com", SNIFF_PROTO_TLS },
	{ "openssl_tls13_nosni.bin", SNIFF_NO_NAME, NULL, SNIFF_PROTO_TLS },
	{ "openssl_upper_dot.bin", SNIFF_FOUND, "mixed.example.com", SNIFF_PROTO_TLS },
	{ "curl_https.bin", SNIFF_FOUND, "curl.example.net", SNIFF_PROTO_TLS },
	{ "python_sni.bin", SNIFF_FOUND, "py.example.org", SNIFF_PROTO_TLS },
	{ "python_nosni.bin", SNIFF_NO_NAME, NULL, SNIFF_PROTO_TLS },
	{ "curl_http11.bin", SNIFF_FOUND, "plain.example.net", SNIFF_PROTO_HTTP },
	{ "curl_http10.bin", SNIFF_FOUND, "old.example.net", SNIFF_PROTO_HTTP },
	{ "curl_proxy_absolute.bin", SNIFF_FOUND, "absolute.example.net", SNIFF_PROTO_HTTP },
	{ "curl_proxy_connect.bin", SNIFF_FOUND, "tunnel.example.net", SNIFF_PROTO_HTTP },
};
#define NCAPTURE (int)(sizeof capture_cases / sizeof capture_cases[0])

START_TEST(test_capture)
{
	const struct capture_case *c = &capture_cases[_i];
	static uint8_t data[CAPTURE_MAX];
	struct sniff_result out;
	size_t len = kit_load(c->file, data, sizeof data);
	int status = kit_call(sniff_name, data, len, &out);

	ck_assert_msg(status == c->status, "%s: %s, want %s", c->file, kit_status(status),
		      kit_status(c->status));
	if (c->name != NULL)
		ck_assert_str_eq(out.name, c->name);
	ck_assert_int_eq(out.proto, c->proto);
	if (c->proto == SNIFF_PROTO_TLS)
		ck_assert_uint_eq(out.tls_version, 0x0301);
	/* nothing is final before the last byte: it is all needed */
	ck_assert_uint_eq(kit_stream(sniff_name, c->file, data, len, c->status, c->name), len);
	kit_extended(sniff_name, c->file, data, len);
}
END_TEST

/* The TLS captures' hello re-cut into records of other sizes: the same answer. */
START_TEST(test_capture_records)
{
	static const size_t frags[] = { 1, 2, 3, 5, 64, 100, 255, 512 };
	const struct capture_case *c = &capture_cases[_i];
	static uint8_t data[CAPTURE_MAX], wire[8 * CAPTURE_MAX];
	struct sniff_result out;
	size_t len = kit_load(c->file, data, sizeof data), rec_len;

	if (c->proto != SNIFF_PROTO_TLS)
		return;
	rec_len = (size_t)data[3] << 8 | data[4];
	ck_assert_uint_eq(5 + rec_len, len);	/* clients send their hello in one record */
	for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++) {
		size_t wire_len = kit_records(data + 5, rec_len, frags[i], 0x0303, wire,
					      sizeof wire);
		char what[128];

		snprintf(what, sizeof what, "%s in records of %zu", c->file, frags[i]);
		ck_assert_int_eq(kit_call(sniff_name, wire, wire_len, &out), c->status);
		if (c->name != NULL)
			ck_assert_str_eq(out.name, c->name);
		ck_assert_uint_eq(out.tls_version, 0x0303);
		if (frags[i] >= 64)	/* the small ones: test_every_fragment_size */
			kit_stream(sniff_name, what, wire, wire_len, c->status, c->name);
	}
}
END_TEST

/* Any octet of a capture set to awkward values: the contract holds. */
START_TEST(test_capture_corruptions)
{
	static const uint8_t values[] = { 0x00, 0x01, 0x16, 0x20, ':', '\r', '\n', 0x7f, 0xff };
	const struct capture_case *c = &capture_cases[_i];
	static uint8_t data[CAPTURE_MAX], bad[CAPTURE_MAX];
	struct sniff_result out;
	size_t len = kit_load(c->file, data, sizeof data);

	for (size_t pos = 0; pos < len; pos++) {
		for (size_t v = 0; v <= sizeof values; v++) {
			memcpy(bad, data, len);
			bad[pos] = v < sizeof values ? values[v] : (uint8_t)(data[pos] ^ 0x20);
			kit_call(sniff_name, bad, len, &out);
			kit_extended(sniff_name, "corrupted capture", bad, len);
		}
	}
}
END_TEST

Suite *sniff_suite(void)
{
	Suite *suite = suite_create("sniff");
	TCase *tc;

	tc = tcase_create("normalize");
	tcase_set_timeout(tc, 5);
	tcase_add_loop_test(tc, test_normalize_table, 0, NNORM);
	tcase_add_test(tc, test_normalize_args);
	suite_add_tcase(suite, tc);

	tc = tcase_create("dispatch");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_dispatch_table, 0, NDISPATCH);
	tcase_add_test(tc, test_dispatch_args);
	tcase_add_test(tc, test_random_bytes);
	suite_add_tcase(suite, tc);

	tc = tcase_create("captures");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_capture, 0, NCAPTURE);
	tcase_add_loop_test(tc, test_capture_records, 0, NCAPTURE);
	tcase_add_loop_test(tc, test_capture_corruptions, 0, NCAPTURE);
	suite_add_tcase(suite, tc);
	return suite;
}
