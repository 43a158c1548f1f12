/*
 * check_config: every variable's default, every accepted form and every bad
 * value of config.c, and the exit status of the die paths (log.c).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

#define MAX_VARS 16

/* The environment of one case: NAME=value pairs, NULL-terminated. */
static const char *const *case_env;

static const char *table_get(const char *name)
{
	size_t len = strlen(name);

	for (const char *const *entry = case_env; entry && *entry; entry++)
		if (strncmp(*entry, name, len) == 0 && (*entry)[len] == '=')
			return *entry + len + 1;
	return NULL;
}

static int load(struct conf *conf, char *err, const char *const *env)
{
	case_env = env;
	return conf_load(conf, table_get, err, CONF_ERR_SIZE);
}

START_TEST(test_defaults)
{
	static const char *const env[] = { "TARGET=example.com", NULL };
	static struct conf conf;
	char err[CONF_ERR_SIZE];

	ck_assert_int_eq(load(&conf, err, env), 0);
	ck_assert_str_eq(conf.target, "example.com");
	ck_assert_uint_eq(conf.nports, 2);
	ck_assert_uint_eq(conf.ports[0], 80);
	ck_assert_uint_eq(conf.ports[1], 443);
	ck_assert_int_eq(conf.mode, CONF_MODE_TCP);
	ck_assert_int_eq(conf.max_connections, 100);
	ck_assert_int_eq(conf.pre_resolve, 0);
	ck_assert_uint_eq(conf.nnameservers, 4);
	ck_assert_int_eq(conf.udp_answers, 1);
	ck_assert_int_eq(conf.udp_timeout, 30);
	ck_assert_int_eq(conf.verbose, 0);
	ck_assert_int_eq(conf.http_healthcheck, 0);
	ck_assert_str_eq(conf.http_url, "http://example.com/");
	ck_assert_int_eq(conf.http_timeout_ms, 2000);
	ck_assert_int_eq(conf.smtp_healthcheck, 0);
	ck_assert_str_eq(conf.smtp_url, "smtp://example.com/");
	ck_assert_str_eq(conf.smtp_command, "HELP");
	ck_assert_int_eq(conf.smtp_timeout_ms, 2000);
	ck_assert_int_eq(conf.run_uid, 65534);
	ck_assert_int_eq(conf.run_gid, 65534);
}
END_TEST

START_TEST(test_every_variable_set)
{
	static const char *const env[] = {
		"TARGET=2001:db8::5", "PORT= 25\t587 ", "MODE=udp", "MAX_CONNECTIONS=0",
		"PRE_RESOLVE=1", "NAMESERVERS=198.18.0.1 2001:db8::53", "UDP_ANSWERS=0",
		"UDP_TIMEOUT=0", "VERBOSE=2", "HTTP_HEALTHCHECK=1",
		"HTTP_HEALTHCHECK_URL=https://$TARGET:8443/$TARGET", "HTTP_HEALTHCHECK_TIMEOUT_MS=200",
		"SMTP_HEALTHCHECK=1", "SMTP_HEALTHCHECK_COMMAND=QUIT", "SMTP_HEALTHCHECK_TIMEOUT_MS=1",
		"RUN_AS=1000:2000", NULL
	};
	static struct conf conf;
	char err[CONF_ERR_SIZE];

	ck_assert_msg(load(&conf, err, env) == 0, "%s", err);
	ck_assert_uint_eq(conf.nports, 2);
	ck_assert_uint_eq(conf.ports[1], 587);
	ck_assert_int_eq(conf.mode, CONF_MODE_UDP);
	ck_assert_int_eq(conf.max_connections, 0);
	ck_assert_int_eq(conf.pre_resolve, 1);
	ck_assert_uint_eq(conf.nnameservers, 2);
	ck_assert_int_eq(conf.nameservers[1].addr.ss_family, AF_INET6);
	ck_assert_int_eq(conf.udp_answers, 0);
	ck_assert_int_eq(conf.udp_timeout, 0);
	ck_assert_int_eq(conf.verbose, 2);
	ck_assert_str_eq(conf.http_url, "https://2001:db8::5:8443/2001:db8::5");
	ck_assert_int_eq(conf.http_timeout_ms, 200);
	ck_assert_str_eq(conf.smtp_command, "QUIT");
	ck_assert_int_eq(conf.smtp_timeout_ms, 1);
	ck_assert_int_eq(conf.run_uid, 1000);
	ck_assert_int_eq(conf.run_gid, 2000);
}

START_TEST(test_run_as_forms)
{
	static const char *const uid_only[] = { "TARGET=x", "RUN_AS=101", NULL };
	static const char *const root[] = { "TARGET=x", "RUN_AS=0", NULL };
	static struct conf conf;
	char err[CONF_ERR_SIZE];

	ck_assert_int_eq(load(&conf, err, uid_only), 0);
	ck_assert_int_eq(conf.run_uid, 101);
	ck_assert_int_eq(conf.run_gid, 101);
	ck_assert_int_eq(load(&conf, err, root), 0);
	ck_assert_int_eq(conf.run_uid, 0);
}
END_TEST
END_TEST

START_TEST(test_empty_means_default)
{
	static const char *const env[] = { "TARGET=x", "PORT=", "MODE=", "VERBOSE=", NULL };
	static struct conf conf;
	char err[CONF_ERR_SIZE];

	ck_assert_int_eq(load(&conf, err, env), 0);
	ck_assert_uint_eq(conf.nports, 2);
	ck_assert_int_eq(conf.mode, CONF_MODE_TCP);
}
END_TEST

START_TEST(test_port_range)
{
	static const char *const env[] = { "TARGET=x", "PORT=8000-8003 22", NULL };
	static struct conf conf;
	char err[CONF_ERR_SIZE];

	ck_assert_msg(load(&conf, err, env) == 0, "%s", err);
	ck_assert_uint_eq(conf.nports, 5);
	ck_assert_uint_eq(conf.ports[0], 8000);
	ck_assert_uint_eq(conf.ports[3], 8003);
	ck_assert_uint_eq(conf.ports[4], 22);
	ck_assert_int_eq(conf_has_port(&conf, 8002), 1);
	ck_assert_int_eq(conf_has_port(&conf, 8004), 0);
}
END_TEST

/* Each bad value: refused, and the message names the variable and the value. */
static const struct bad_case {
	const char *env[4];
	const char *message;
} bad_cases[] = {
	{ { NULL }, "TARGET: not set" },
	{ { "TARGET=", NULL }, "TARGET: not set" },
	{ { "TARGET=a b", NULL }, "TARGET: \"a b\" is not a host name or IP address" },
	{ { "TARGET=x", "PORT=http", NULL }, "PORT: \"http\" is not a port number" },
	{ { "TARGET=x", "PORT=0", NULL }, "PORT: \"0\" is not a port number" },
	{ { "TARGET=x", "PORT=65536", NULL }, "PORT: \"65536\" is not a port number" },
	{ { "TARGET=x", "PORT=-5", NULL }, "PORT: \"-5\" is not a port number" },
	{ { "TARGET=x", "PORT=80 80", NULL }, "PORT: 80 is listed twice" },
	{ { "TARGET=x", "PORT=90-80", NULL }, "PORT: \"90-80\" is not a port range" },
	{ { "TARGET=x", "PORT=1-65535", NULL }, "PORT: more than 1024 ports" },
	{ { "TARGET=x", "PORT=80x", NULL }, "PORT: \"80x\" is not a port number" },
	{ { "TARGET=x", "PORT=99999999999999999999", NULL }, "is not a port number" },
	{ { "TARGET=x", "PORT= ", NULL }, "PORT: \" \" lists no port" },
	{ { "TARGET=x", "MODE=TCP", NULL }, "MODE: \"TCP\" is not tcp or udp" },
	{ { "TARGET=x", "MAX_CONNECTIONS=-1", NULL }, "MAX_CONNECTIONS: \"-1\" is not a number" },
	{ { "TARGET=x", "MAX_CONNECTIONS=ten", NULL }, "MAX_CONNECTIONS: \"ten\" is not a number" },
	{ { "TARGET=x", "MAX_CONNECTIONS=1.5", NULL }, "MAX_CONNECTIONS: \"1.5\" is not" },
	{ { "TARGET=x", "PRE_RESOLVE=2", NULL }, "PRE_RESOLVE: \"2\" is not 0 or 1" },
	{ { "TARGET=x", "PRE_RESOLVE=true", NULL }, "PRE_RESOLVE: \"true\" is not 0 or 1" },
	{ { "TARGET=x", "NAMESERVERS=8.8.8.8 dns.google", NULL },
	  "NAMESERVERS: \"dns.google\" is not an IP address" },
	{ { "TARGET=x", "NAMESERVERS=1.2.3.4.5", NULL },
	  "NAMESERVERS: \"1.2.3.4.5\" is not an IP address" },
	{ { "TARGET=x", "NAMESERVERS=\t", NULL }, "NAMESERVERS: \"\t\" lists no server" },
	{ { "TARGET=x", "UDP_ANSWERS=no", NULL }, "UDP_ANSWERS: \"no\" is not 0 or 1" },
	{ { "TARGET=x", "UDP_TIMEOUT=-1", NULL }, "UDP_TIMEOUT: \"-1\" is not a number" },
	{ { "TARGET=x", "VERBOSE=3", NULL }, "VERBOSE: \"3\" is not a number from 0 to 2" },
	{ { "TARGET=x", "HTTP_HEALTHCHECK=yes", NULL }, "HTTP_HEALTHCHECK: \"yes\" is not 0 or 1" },
	{ { "TARGET=x", "HTTP_HEALTHCHECK_TIMEOUT_MS=0", NULL },
	  "HTTP_HEALTHCHECK_TIMEOUT_MS: \"0\" is not a number" },
	{ { "TARGET=x", "SMTP_HEALTHCHECK=on", NULL }, "SMTP_HEALTHCHECK: \"on\" is not 0 or 1" },
	{ { "TARGET=x", "SMTP_HEALTHCHECK_TIMEOUT_MS=2s", NULL },
	  "SMTP_HEALTHCHECK_TIMEOUT_MS: \"2s\" is not a number" },
	{ { "TARGET=x", "RUN_AS=nobody", NULL }, "RUN_AS: \"nobody\" is not uid or uid:gid" },
	{ { "TARGET=x", "RUN_AS=1:", NULL }, "RUN_AS: \"1:\" is not uid or uid:gid" },
	{ { "TARGET=x", "RUN_AS=-1", NULL }, "RUN_AS: \"-1\" is not uid or uid:gid" },
	{ { "TARGET=x", "RUN_AS=4294967295", NULL }, "RUN_AS: \"4294967295\" is not uid" },
};

START_TEST(test_bad_values)
{
	const struct bad_case *bad = &bad_cases[_i];
	static struct conf conf;
	char err[CONF_ERR_SIZE];

	ck_assert_int_eq(load(&conf, err, bad->env), -1);
	ck_assert_msg(strstr(err, bad->message) != NULL, "case %d: got \"%s\", want \"%s\"", _i,
		      err, bad->message);
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(test_expand_target)
{
	char out[32];

	ck_assert_int_eq(conf_expand_target("http://$TARGET/$TARGETx", "h", out, sizeof out), 0);
	ck_assert_str_eq(out, "http://h/hx");
	ck_assert_int_eq(conf_expand_target("$TARGE", "h", out, sizeof out), 0);
	ck_assert_str_eq(out, "$TARGE");
	ck_assert_int_eq(conf_expand_target("$TARGET", "0123456789012345678901234567890123",
					    out, sizeof out), -1);
	ck_assert_int_eq(conf_expand_target("0123456789012345678901234567890", "", out, 32), 0);
	ck_assert_int_eq(conf_expand_target("01234567890123456789012345678901", "", out, 32), -1);
}
END_TEST

START_TEST(test_target_file)
{
	char path[64];

	setenv("TMPDIR", "/run/x", 1);
	ck_assert_int_eq(conf_target_file(path, sizeof path, 42), 0);
	ck_assert_str_eq(path, "/run/x/whitelist-42.target");
	unsetenv("TMPDIR");
	ck_assert_int_eq(conf_target_file(path, sizeof path, 7), 0);
	ck_assert_str_eq(path, "/tmp/whitelist-7.target");
	ck_assert_int_eq(conf_target_file(path, 10, 7), -1);
}
END_TEST

START_TEST(test_die_config_exits_2)
{
	die_config("PORT: \"x\" is not a port number");
}
END_TEST

START_TEST(test_die_exits_1)
{
	die("unable to bind tcp port 80");
}
END_TEST

Suite *config_suite(void)
{
	Suite *suite = suite_create("config");
	TCase *tc = tcase_create("parse");

	tcase_set_timeout(tc, 5);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_every_variable_set);
	tcase_add_test(tc, test_empty_means_default);
	tcase_add_test(tc, test_port_range);
	tcase_add_test(tc, test_run_as_forms);
	tcase_add_loop_test(tc, test_bad_values, 0, sizeof bad_cases / sizeof bad_cases[0]);
	tcase_add_test(tc, test_expand_target);
	tcase_add_test(tc, test_target_file);
	tcase_add_exit_test(tc, test_die_config_exits_2, EXIT_CONFIG);
	tcase_add_exit_test(tc, test_die_exits_1, EXIT_FATAL);
	suite_add_tcase(suite, tc);
	return suite;
}

int main(void)
{
	SRunner *runner = srunner_create(config_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
