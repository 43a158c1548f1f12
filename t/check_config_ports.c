/*
 * check_config_ports: PORT's parser (config_ports.c), every form and every
 * error, from the table below; and what config.c makes of the entries
 * (listening ports expanded, PORT=* with MODE=udp refused).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "t/check.h"
#include "t/conf_table.h"

#include "config.h"

#define CASE_ENTRIES 4

/* One accepted PORT value and the entries it gives, as (first, last, to, text). */
static const struct good_case {
	const char *text;
	int count;
	struct conf_port entries[CASE_ENTRIES];
} good_cases[] = {
	{ "443", 1, { { 443, 443, 0, "443" } } },
	{ "80 443", 2, { { 80, 80, 0, "80" }, { 443, 443, 0, "443" } } },
	{ " \t80\n443\r ", 2, { { 80, 80, 0, "80" }, { 443, 443, 0, "443" } } },
	{ "8443:443", 1, { { 8443, 8443, 443, "8443:443" } } },
	{ "8443:443 443", 2, { { 8443, 8443, 443, "8443:443" }, { 443, 443, 0, "443" } } },
	{ "8080:80 8081:80", 2, { { 8080, 8080, 80, "8080:80" }, { 8081, 8081, 80, "8081:80" } } },
	{ "80:80", 1, { { 80, 80, 80, "80:80" } } },
	{ "20000-20100", 1, { { 20000, 20100, 0, "20000-20100" } } },
	{ "21 30000-30009", 2, { { 21, 21, 0, "21" }, { 30000, 30009, 0, "30000-30009" } } },
	{ "5000-5000", 1, { { 5000, 5000, 0, "5000" } } },
	{ "1-10 11-20", 2, { { 1, 10, 0, "1-10" }, { 11, 20, 0, "11-20" } } },
	{ "65535 1", 2, { { 65535, 65535, 0, "65535" }, { 1, 1, 0, "1" } } },
	{ "080", 1, { { 80, 80, 0, "80" } } },
	{ "*", 1, { { 0, 0, 0, "*" } } },
	{ " * ", 1, { { 0, 0, 0, "*" } } },
	{ "65535:1", 1, { { 65535, 65535, 1, "65535:1" } } },
	{ "1-4096", 1, { { 1, 4096, 0, "1-4096" } } },
};

START_TEST(test_good)
{
	const struct good_case *test = &good_cases[_i];
	struct conf_port entries[CASE_ENTRIES];
	char err[CONF_ERR_SIZE] = "";
	int count = conf_ports_parse(test->text, entries, CASE_ENTRIES, err, sizeof err);

	ck_assert_msg(count == test->count, "\"%s\": %d entries (%s)", test->text, count, err);
	for (int i = 0; i < count; i++) {
		ck_assert_uint_eq(entries[i].first, test->entries[i].first);
		ck_assert_uint_eq(entries[i].last, test->entries[i].last);
		ck_assert_uint_eq(entries[i].to, test->entries[i].to);
		ck_assert_str_eq(entries[i].text, test->entries[i].text);
	}
}
END_TEST

/* Each refused value, and the message (its start, or all of it) that names PORT and the entries. */
static const struct bad_case {
	const char *text;
	const char *message;
} bad_cases[] = {
	{ "", "PORT: lists no port (only blanks)" },
	{ " \t ", "PORT: lists no port (only blanks)" },
	{ "http", "PORT: \"http\" is not a port number (1-65535)" },
	{ "0", "PORT: \"0\" is not a port number" },
	{ "65536", "PORT: \"65536\" is not a port number" },
	{ "99999999999999999999", "PORT: \"99999999999999999999\" is not a port number" },
	{ "-5", "PORT: \"-5\" is not a range FIRST-LAST" },
	{ "+5", "PORT: \"+5\" is not a port number" },
	{ "80x", "PORT: \"80x\" is not a port number" },
	{ "**", "PORT: \"**\" is not a port number" },
	{ "8443:", "PORT: \"8443:\" is not a pair LISTEN:TARGET of port numbers (1-65535)" },
	{ ":443", "PORT: \":443\" is not a pair LISTEN:TARGET" },
	{ "8443:0", "PORT: \"8443:0\" is not a pair" },
	{ "0:443", "PORT: \"0:443\" is not a pair" },
	{ "8443:443:1", "PORT: \"8443:443:1\" is not a pair" },
	{ "8443:70000", "PORT: \"8443:70000\" is not a pair" },
	{ "1-2:3", "PORT: \"1-2:3\" is not a port number" },
	{ "20000-", "PORT: \"20000-\" is not a range FIRST-LAST of port numbers (1-65535)" },
	{ "-20000", "PORT: \"-20000\" is not a range" },
	{ "1-2-3", "PORT: \"1-2-3\" is not a range" },
	{ "0-10", "PORT: \"0-10\" is not a range" },
	{ "1-65536", "PORT: \"1-65536\" is not a range" },
	{ "20100-20000", "PORT: \"20100-20000\" is a reversed range (20100 > 20000)" },
	{ "80 80", "PORT: 80 is listed twice (\"80\" and \"80\")" },
	{ "8443:443 8443", "PORT: 8443 is listed twice (\"8443:443\" and \"8443\")" },
	{ "8443:443 8443:80", "PORT: 8443 is listed twice (\"8443:443\" and \"8443:80\")" },
	{ "1-10 1-10", "PORT: 1 is listed twice (\"1-10\" and \"1-10\")" },
	{ "8000-8010 8005", "PORT: \"8000-8010\" and \"8005\" overlap (port 8005)" },
	{ "8005 8000-8010", "PORT: \"8005\" and \"8000-8010\" overlap (port 8005)" },
	{ "1-10 10-20", "PORT: \"1-10\" and \"10-20\" overlap (port 10)" },
	{ "5-20 1-6", "PORT: \"5-20\" and \"1-6\" overlap (port 5)" },
	{ "1-100 50:80", "PORT: \"1-100\" and \"50:80\" overlap (port 50)" },
	{ "* 80", "PORT: \"*\" covers every port: it must be the only entry (\"80\" beside it)" },
	{ "80 *", "PORT: \"*\" covers every port: it must be the only entry (\"80\" beside it)" },
	{ "* *", "PORT: \"*\" covers every port: it must be the only entry (\"*\" beside it)" },
	{ "1 2 3 4 5", "PORT: more than 4 entries" },
	{ "1-4097", "PORT: more than 4096 ports in all (at \"1-4097\")" },
	{ "1-4000 5000-5096", "PORT: more than 4096 ports in all (at \"5000-5096\")" },
};

START_TEST(test_bad)
{
	const struct bad_case *test = &bad_cases[_i];
	struct conf_port entries[CASE_ENTRIES];
	char err[CONF_ERR_SIZE] = "";

	ck_assert_int_eq(conf_ports_parse(test->text, entries, CASE_ENTRIES, err, sizeof err), -1);
	ck_assert_msg(strncmp(err, test->message, strlen(test->message)) == 0,
		      "\"%s\": got '%s', want '%s'", test->text, err, test->message);
}
END_TEST

/* A long bad word is quoted cut, so the line stays one line of a sane length. */
START_TEST(test_long_word_cut)
{
	char text[300], err[CONF_ERR_SIZE];
	struct conf_port entries[CASE_ENTRIES];

	memset(text, '7', sizeof text - 1);
	text[sizeof text - 1] = '\0';
	ck_assert_int_eq(conf_ports_parse(text, entries, CASE_ENTRIES, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "\" is not a port number"));
	ck_assert_uint_lt(strlen(err), 200);
}
END_TEST

START_TEST(test_target_of)
{
	const struct conf_port pair = { 8443, 8443, 443, "8443:443" };
	const struct conf_port range = { 20000, 20100, 0, "20000-20100" };

	ck_assert_uint_eq(conf_port_target(&pair, 8443), 443);
	ck_assert_uint_eq(conf_port_target(&range, 20042), 20042);
	ck_assert_uint_eq(conf_port_sockets(&pair), 1);
	ck_assert_uint_eq(conf_port_sockets(&range), 101);
}
END_TEST

/* conf_load: the entries, their listening ports expanded, and which ports TARGET may get. */
START_TEST(test_conf_load_entries)
{
	static const char *const env[] = { "TARGET=x", "PORT=21 8443:443 30000-30002", NULL };
	static struct conf conf;
	char err[CONF_ERR_SIZE];

	conf_table_env = env;
	ck_assert_msg(conf_load(&conf, conf_table_get, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(conf.nentries, 3);
	ck_assert_int_eq(conf.every_port, 0);
	ck_assert_uint_eq(conf.nports, 5);
	ck_assert_uint_eq(conf.ports[1], 8443);
	ck_assert_uint_eq(conf.ports[4], 30002);
	ck_assert_int_eq(conf_has_port(&conf, 8443), 1);
	ck_assert_int_eq(conf_has_port(&conf, 443), 0);
	ck_assert_int_eq(conf_has_target_port(&conf, 443), 1);
	ck_assert_int_eq(conf_has_target_port(&conf, 8443), 0);
	ck_assert_int_eq(conf_has_target_port(&conf, 30001), 1);
	ck_assert_int_eq(conf_has_target_port(&conf, 22), 0);
}
END_TEST

START_TEST(test_conf_load_every)
{
	static const char *const env[] = { "TARGET=x", "PORT=*", "METRICS_PORT=9100", NULL };
	static const char *const udp[] = { "TARGET=x", "PORT=*", "MODE=udp", NULL };
	static struct conf conf;
	char err[CONF_ERR_SIZE];

	conf_table_env = env;
	ck_assert_msg(conf_load(&conf, conf_table_get, err, sizeof err) == 0, "%s", err);
	ck_assert_int_eq(conf.every_port, 1);
	ck_assert_uint_eq(conf.nentries, 1);
	ck_assert_uint_eq(conf.nports, 0);
	ck_assert_int_eq(conf_has_target_port(&conf, 22), 1);
	ck_assert_uint_eq(conf.metrics_port, 9100);
	conf_table_env = udp;
	ck_assert_int_eq(conf_load(&conf, conf_table_get, err, sizeof err), -1);
	ck_assert_str_eq(err, "PORT: \"*\" needs MODE=tcp (UDP has no original destination to "
			 "read back)");
}
END_TEST

Suite *config_ports_suite(void)
{
	Suite *suite = suite_create("config_ports");
	TCase *tc = tcase_create("ports");

	tcase_add_loop_test(tc, test_good, 0, sizeof good_cases / sizeof good_cases[0]);
	tcase_add_loop_test(tc, test_bad, 0, sizeof bad_cases / sizeof bad_cases[0]);
	tcase_add_test(tc, test_long_word_cut);
	tcase_add_test(tc, test_target_of);
	tcase_add_test(tc, test_conf_load_entries);
	tcase_add_test(tc, test_conf_load_every);
	suite_add_tcase(suite, tc);
	return suite;
}
