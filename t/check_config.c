/*
 * check_config: every variable's default, every accepted form and every bad
 * value of config.c, and the exit status of the die paths (log.c).
 */
#include <arpa/inet.h>
#include <check.h>

#include "t/check.h"
#include "t/conf_table.h"
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define MAX_VARS 16

static int load(struct conf *conf, char *err, const char *const *env)
{
	conf_table_env = env;
	return conf_load(conf, conf_table_get, err, CONF_ERR_SIZE);
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
	ck_assert_ptr_null(conf.allow.text);
	ck_assert_uint_eq(conf.allow.count, 0);
	ck_assert_int_eq(conf.metrics_port, 0);
	ck_assert_int_eq(conf.resolve_interval, 0);
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
		"RUN_AS=1000:2000", "ALLOW_FROM=198.18.1.0/24\t2001:db8::/32 app_1",
		"METRICS_PORT=9100", "RESOLVE_INTERVAL=30", NULL
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
	ck_assert_str_eq(conf.allow.text, "198.18.1.0/24\t2001:db8::/32 app_1");
	ck_assert_uint_eq(conf.allow.count, 2);	/* the name is names.h's to look up */
	ck_assert_int_eq(conf.allow.has_names, 1);
	ck_assert_int_eq(conf.metrics_port, 9100);
	ck_assert_int_eq(conf.resolve_interval, 30);
}
END_TEST

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

/* Several names or a wildcard: routed mode, each entry normalized, the probed one exact. */
START_TEST(test_routed_targets)
{
	static const char *const env[] = { "TARGET= *.Fonts.example  Fonts.GoogleAPIs.com.\tb.test *",
					   "ROUTE_TIMEOUT=3", "ROUTE_ALLOW_PRIVATE=1", NULL };
	static const char *const one[] = { "TARGET=*.example.com", NULL };
	static const char *const single[] = { "TARGET=Fonts.GoogleAPIs.com.", NULL };
	static struct conf conf;
	char err[CONF_ERR_SIZE];

	ck_assert_msg(load(&conf, err, env) == 0, "%s", err);
	ck_assert_int_eq(conf.routed, 1);
	ck_assert_uint_eq(conf.nroutes, 4);
	ck_assert_int_eq(conf.routes[0].kind, CONF_ROUTE_SUFFIX);
	ck_assert_str_eq(conf.routes[0].pattern, "*.fonts.example");
	ck_assert_int_eq(conf.routes[1].kind, CONF_ROUTE_EXACT);
	ck_assert_str_eq(conf.routes[1].pattern, "fonts.googleapis.com");
	ck_assert_int_eq(conf.routes[3].kind, CONF_ROUTE_ANY);
	ck_assert_str_eq(conf.target, "fonts.googleapis.com");	/* the first exact one */
	ck_assert_str_eq(conf.targets, "*.fonts.example fonts.googleapis.com b.test *");
	ck_assert_int_eq(conf.route_timeout, 3);
	ck_assert_int_eq(conf.route_allow_private, 1);
	ck_assert_msg(load(&conf, err, one) == 0, "%s", err);
	ck_assert_int_eq(conf.routed, 1);
	ck_assert_str_eq(conf.target, "*.example.com");
	ck_assert_int_eq(conf.route_timeout, 10);
	ck_assert_int_eq(conf.route_allow_private, 0);
	ck_assert_msg(load(&conf, err, single) == 0, "%s", err);
	ck_assert_int_eq(conf.routed, 0);	/* one name: the classic mode, no peeking */
	ck_assert_str_eq(conf.target, "Fonts.GoogleAPIs.com.");
}
END_TEST

/* Matching: exact first, then the longest suffix, then "*"; a suffix never covers its domain. */
START_TEST(test_route_match)
{
	static const char *const env[] = { "TARGET=api.example.com *.example.com "
					   "*.eu.example.com other.test", NULL };
	static const char *const any[] = { "TARGET=* a.test", NULL };
	static struct conf conf;
	char err[CONF_ERR_SIZE];

	ck_assert_msg(load(&conf, err, env) == 0, "%s", err);
	ck_assert_int_eq(conf_route_match(&conf, "api.example.com"), 0);
	ck_assert_int_eq(conf_route_match(&conf, "www.example.com"), 1);
	ck_assert_int_eq(conf_route_match(&conf, "a.b.example.com"), 1);
	ck_assert_int_eq(conf_route_match(&conf, "x.eu.example.com"), 2);
	ck_assert_int_eq(conf_route_match(&conf, "eu.example.com"), 1);
	ck_assert_int_eq(conf_route_match(&conf, "example.com"), -1);
	ck_assert_int_eq(conf_route_match(&conf, "badexample.com"), -1);
	ck_assert_int_eq(conf_route_match(&conf, "other.test"), 3);
	ck_assert_int_eq(conf_route_match(&conf, "x.other.test"), -1);
	ck_assert_int_eq(conf_route_match(&conf, "example.com.evil"), -1);
	ck_assert_msg(load(&conf, err, any) == 0, "%s", err);
	ck_assert_int_eq(conf_route_match(&conf, "a.test"), 1);
	ck_assert_int_eq(conf_route_match(&conf, "anything.at.all"), 0);
}
END_TEST

/*
 * Values are read alike whatever surrounds them: blanks around any value
 * (compose leaves them), MODE in any case (socat took either); RUN_AS=0:GID
 * keeps the gid (main applies it).
 */
START_TEST(test_values_read_alike)
{
	static const char *const env[] = { "TARGET= example.com ", "MODE=UDP",
		"MAX_CONNECTIONS= 50 ", "PRE_RESOLVE=1 ", "VERBOSE=\t2", "RUN_AS= 0:1000 ",
		"UDP_TIMEOUT=007", NULL };
	static const char *const bracketed[] = { "TARGET=[2001:db8::1]", "MODE= Tcp", NULL };
	static const char *const names[] = { "TARGET=Fonts.GoogleAPIs.com.", NULL };
	static struct conf conf;
	char err[CONF_ERR_SIZE];

	ck_assert_msg(load(&conf, err, env) == 0, "%s", err);
	ck_assert_str_eq(conf.target, "example.com");
	ck_assert_int_eq(conf.mode, CONF_MODE_UDP);
	ck_assert_int_eq(conf.max_connections, 50);
	ck_assert_int_eq(conf.pre_resolve, 1);
	ck_assert_int_eq(conf.verbose, 2);
	ck_assert_int_eq(conf.run_uid, 0);
	ck_assert_int_eq(conf.run_gid, 1000);
	ck_assert_int_eq(conf.udp_timeout, 7);
	ck_assert_msg(load(&conf, err, bracketed) == 0, "%s", err);
	ck_assert_str_eq(conf.target, "2001:db8::1");
	ck_assert_int_eq(conf.mode, CONF_MODE_TCP);
	ck_assert_msg(load(&conf, err, names) == 0, "%s", err);
	ck_assert_str_eq(conf.target, "Fonts.GoogleAPIs.com.");
}
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
	{ { "TARGET=a b", "MODE=udp", NULL }, "TARGET: \"a b\": several names or wildcards "
	  "need MODE=tcp" },
	{ { "TARGET=*.example.com", "MODE=udp", NULL }, "need MODE=tcp" },
	{ { "TARGET=a.example 198.18.2.2", NULL }, "TARGET: \"198.18.2.2\": an IP address is "
	  "only allowed as the single TARGET" },
	{ { "TARGET=a.example [2001:db8::1]", NULL }, "an IP address is only allowed" },
	{ { "TARGET=a.example A.Example.", NULL }, "TARGET: \"A.Example.\" is listed twice" },
	{ { "TARGET=a.example *.", NULL }, "TARGET: \"\" is not a host name" },
	{ { "TARGET=a.example **.x", NULL }, "TARGET: \"**.x\" is not a host name or IP" },
	{ { "TARGET=*example.com", NULL }, "TARGET: \"*example.com\" is not a host name or IP" },
	{ { "TARGET=a.example *.a..b", NULL }, "TARGET: \"a..b\" has an empty label" },
	{ { "TARGET=*.example.com", "HTTP_HEALTHCHECK=1", NULL },
	  "TARGET: \"*.example.com\" has no exact name for the healthcheck's $TARGET" },
	{ { "TARGET=a b", "ROUTE_TIMEOUT=0", NULL }, "ROUTE_TIMEOUT: \"0\" is not a number from 1" },
	{ { "TARGET=a b", "ROUTE_ALLOW_PRIVATE=yes", NULL }, "ROUTE_ALLOW_PRIVATE: \"yes\" is not 0" },
	{ { "TARGET=x", "PORT=http", NULL }, "PORT: \"http\" is not a port number" },
	{ { "TARGET=x", "PORT=0", NULL }, "PORT: \"0\" is not a port number" },
	{ { "TARGET=x", "PORT=65536", NULL }, "PORT: \"65536\" is not a port number" },
	{ { "TARGET=x", "PORT=-5", NULL }, "PORT: \"-5\" is not a range" },
	{ { "TARGET=x", "PORT=80 80", NULL }, "PORT: 80 is listed twice" },
	{ { "TARGET=x", "PORT=90-80", NULL }, "PORT: \"90-80\" is a reversed range" },
	{ { "TARGET=x", "PORT=1-65535", NULL }, "PORT: more than 4096 ports" },
	{ { "TARGET=x", "PORT=80x", NULL }, "PORT: \"80x\" is not a port number" },
	{ { "TARGET=x", "PORT=99999999999999999999", NULL }, "is not a port number" },
	{ { "TARGET=x", "PORT= ", NULL }, "PORT: lists no port" },
	{ { "TARGET=x", "MODE=tcp4", NULL }, "MODE: \"tcp4\" is not tcp or udp" },
	{ { "TARGET=x", "LOG_FORMAT=yaml", NULL }, "LOG_FORMAT: \"yaml\" is not text or json" },
	{ { "TARGET=x", "LOG_FORMAT=jsonl", NULL }, "LOG_FORMAT: \"jsonl\" is not text or json" },
	{ { "TARGET=example.com:443", NULL },
	  "TARGET: \"example.com:443\": a port belongs in PORT" },
	{ { "TARGET=198.18.2.2:25", NULL }, "TARGET: \"198.18.2.2:25\": a port belongs in PORT" },
	{ { "TARGET=a..b", NULL }, "TARGET: \"a..b\" has an empty label" },
	{ { "TARGET=.example.com", NULL }, "has an empty label" },
	{ { "TARGET=example.com..", NULL }, "has an empty label" },
	{ { "TARGET=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", NULL },
	  "has a label longer than 63 characters" },
	{ { "TARGET=b\xc3\xbc" "cher.de", NULL }, "is not ASCII: write an internationalized name as "
	  "punycode" },
	{ { "TARGET=-bad.example", NULL }, "has a label that starts or ends with '-'" },
	{ { "TARGET=bad-.example", NULL }, "has a label that starts or ends with '-'" },
	{ { "TARGET=010.0.0.1", NULL }, "TARGET: \"010.0.0.1\" is not a canonical IPv4 address "
	  "(it would be read as 8.0.0.1): write 8.0.0.1" },
	{ { "TARGET=1.2.3", NULL }, "(it would be read as 1.2.0.3)" },
	{ { "TARGET=0x7f.1", NULL }, "(it would be read as 127.0.0.1)" },
	{ { "TARGET=2130706433", NULL }, "(it would be read as 127.0.0.1)" },
	{ { "TARGET=1.2.3.4.5", NULL }, "its last label is a number" },
	{ { "TARGET=host.123", NULL }, "its last label is a number" },
	{ { "TARGET=[198.18.2.2]", NULL }, "is not a host name or IP address" },
	{ { "TARGET=http://example.com", NULL }, "is not a host name or IP address" },
	{ { "TARGET=example.com/x", NULL }, "is not a host name or IP address" },
	{ { "TARGET=ex!ample.com", NULL }, "is not a host name or IP address" },
	{ { "TARGET=2001:db8::1::2", NULL }, "is not a host name or IP address" },
	{ { "TARGET=010.0.0.1", "PRE_RESOLVE=1", NULL }, "is not a canonical IPv4 address" },
	{ { "TARGET=x", "MAX_CONNECTIONS=+5", NULL }, "MAX_CONNECTIONS: \"+5\" is not a number" },
	{ { "TARGET=x", "MAX_CONNECTIONS=5 5", NULL }, "MAX_CONNECTIONS: \"5 5\" is not a number" },
	{ { "TARGET=x", "MAX_CONNECTIONS=0x10", NULL }, "MAX_CONNECTIONS: \"0x10\" is not" },
	{ { "TARGET=x", "MAX_CONNECTIONS=2147483648", NULL }, "MAX_CONNECTIONS: \"2147483648\"" },
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
	{ { "TARGET=x", "ALLOW_FROM=10.0.0.0/33", NULL },
	  "ALLOW_FROM: \"10.0.0.0/33\" has a bad prefix length (0-32)" },
	{ { "TARGET=x", "ALLOW_FROM=2001:db8::/129", NULL },
	  "ALLOW_FROM: \"2001:db8::/129\" has a bad prefix length (0-128)" },
	{ { "TARGET=x", "ALLOW_FROM=10.0.0.0/", NULL }, "\"10.0.0.0/\" has a bad prefix" },
	{ { "TARGET=x", "ALLOW_FROM=10.0.0.0/-1", NULL }, "\"10.0.0.0/-1\" has a bad prefix" },
	{ { "TARGET=x", "ALLOW_FROM=10.0.0.0/+8", NULL }, "\"10.0.0.0/+8\" has a bad prefix" },
	{ { "TARGET=x", "ALLOW_FROM=10.0.0.0/8x", NULL }, "\"10.0.0.0/8x\" has a bad prefix" },
	{ { "TARGET=x", "ALLOW_FROM=10.0.0.1 app/24", NULL },
	  "ALLOW_FROM: \"app/24\" is not an IP address, CIDR or host name" },
	{ { "TARGET=x", "ALLOW_FROM=10.1", NULL },
	  "ALLOW_FROM: \"10.1\" is not an IP address, CIDR or host name" },
	{ { "TARGET=x", "ALLOW_FROM=256.1.1.1", NULL }, "\"256.1.1.1\" is not an IP address" },
	{ { "TARGET=x", "ALLOW_FROM=fe80::1%eth0", NULL }, "\"fe80::1%eth0\" is not an IP" },
	{ { "TARGET=x", "ALLOW_FROM=-app", NULL }, "\"-app\" is not an IP address" },
	{ { "TARGET=x", "ALLOW_FROM=a,b", NULL }, "ALLOW_FROM: \"a,b\" is not an IP address" },
	{ { "TARGET=x", "METRICS_PORT=0", NULL },
	  "METRICS_PORT: \"0\" is not a port number (1-65535)" },
	{ { "TARGET=x", "METRICS_PORT=65536", NULL }, "METRICS_PORT: \"65536\" is not a port" },
	{ { "TARGET=x", "METRICS_PORT=metrics", NULL }, "METRICS_PORT: \"metrics\" is not a" },
	{ { "TARGET=x", "PORT=80 9100", "METRICS_PORT=9100", NULL },
	  "METRICS_PORT: 9100 is also in PORT" },
	{ { "TARGET=x", "CONNECT_PORT=0", NULL },
	  "CONNECT_PORT: \"0\" is not a port number (1-65535)" },
	{ { "TARGET=x", "CONNECT_PORT=proxy", NULL }, "CONNECT_PORT: \"proxy\" is not a port" },
	{ { "TARGET=x", "CONNECT_PORT=443", NULL }, "CONNECT_PORT: 443 is also in PORT" },
	{ { "TARGET=x", "METRICS_PORT=3128", "CONNECT_PORT=3128", NULL },
	  "CONNECT_PORT: 3128 is also METRICS_PORT" },
	{ { "TARGET=x", "MODE=udp", "CONNECT_PORT=3128", NULL },
	  "CONNECT_PORT: 3128 needs MODE=tcp" },
	{ { "TARGET=x", "PROXY_USERS=u:p", NULL },
	  "PROXY_USERS: set, but no CONNECT_PORT" },
	{ { "TARGET=x", "CONNECT_PORT=3128", "PROXY_USERS=u:p nocolon", NULL },
	  "PROXY_USERS: \"nocolon\" is not name:password" },
	{ { "TARGET=x", "CONNECT_PORT=3128", "PROXY_USERS=:p", NULL },
	  "PROXY_USERS: \":p\" is not name:password" },
	{ { "TARGET=x", "CONNECT_PORT=3128", "PROXY_USERS_FILE=/nonexistent/users", NULL },
	  "PROXY_USERS_FILE: unable to read \"/nonexistent/users\"" },
	{ { "TARGET=x", "RESOLVE_INTERVAL=-1", NULL },
	  "RESOLVE_INTERVAL: \"-1\" is not a number" },
	{ { "TARGET=x", "RESOLVE_INTERVAL=30s", NULL },
	  "RESOLVE_INTERVAL: \"30s\" is not a number" },
};

/* CONNECT_PORT and its users, from the variable and from a file. */
START_TEST(test_proxy_users)
{
	static struct conf conf;
	char err[CONF_ERR_SIZE], path[] = "/tmp/check_config_users.XXXXXX";
	int fd = mkstemp(path);
	const char *file = "# users\nbob:pass word\r\n\ncarol:x:y\n";
	char file_var[64];

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, file, strlen(file)), (int)strlen(file));
	close(fd);
	snprintf(file_var, sizeof file_var, "PROXY_USERS_FILE=%s", path);
	ck_assert_int_eq(load(&conf, err, (const char *[]){ "TARGET=x", "CONNECT_PORT= 3128 ",
			 "PROXY_USERS=alice:secret", file_var, NULL }), 0);
	unlink(path);
	ck_assert_uint_eq(conf.connect_port, 3128);
	ck_assert_uint_eq(conf.nusers, 3);
	ck_assert_str_eq(conf.users[0].pair, "alice:secret");
	ck_assert_uint_eq(conf.users[0].name_len, 5);
	ck_assert_str_eq(conf.users[1].pair, "bob:pass word");
	ck_assert_str_eq(conf.users[2].pair, "carol:x:y");
	ck_assert_uint_eq(conf.users[2].name_len, 5);
	ck_assert(conf_has_target_port(&conf, 443) && conf_has_target_port(&conf, 80));
	ck_assert(!conf_has_target_port(&conf, 3128) && !conf_has_target_port(&conf, 22));
	ck_assert_int_eq(load(&conf, err, (const char *[]){ "TARGET=x", NULL }), 0);
	ck_assert_uint_eq(conf.connect_port, 0);
	ck_assert_uint_eq(conf.nusers, 0);
}
END_TEST

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

/* ALLOW_FROM words: the network each one becomes. */
static const struct net_case {
	const char *text;
	int family;
	unsigned prefix;
	const char *addr;	/* the stored address, host bits cleared */
} net_cases[] = {
	{ "198.18.1.9", AF_INET, 32, "198.18.1.9" },
	{ "198.18.1.9/32", AF_INET, 32, "198.18.1.9" },
	{ "198.18.1.9/24", AF_INET, 24, "198.18.1.0" },
	{ "198.18.1.9/23", AF_INET, 23, "198.18.0.0" },
	{ "198.18.255.255/15", AF_INET, 15, "198.18.0.0" },
	{ "0.0.0.0/0", AF_INET, 0, "0.0.0.0" },
	{ "10.1.2.3/0", AF_INET, 0, "0.0.0.0" },
	{ "2001:db8::1", AF_INET6, 128, "2001:db8::1" },
	{ "2001:db8::1/128", AF_INET6, 128, "2001:db8::1" },
	{ "2001:db8:ffff::1/33", AF_INET6, 33, "2001:db8:8000::" },
	{ "::/0", AF_INET6, 0, "::" },
	{ "::ffff:198.18.1.0/120", AF_INET, 24, "198.18.1.0" },
	{ "::ffff:198.18.1.7", AF_INET, 32, "198.18.1.7" },
	{ "::ffff:0:0/95", AF_INET6, 95, "::fffe:0:0" },
};

START_TEST(test_parse_net)
{
	const struct net_case *want = &net_cases[_i];
	struct conf_net net;
	char shown[INET6_ADDRSTRLEN];

	ck_assert_int_eq(conf_parse_net(want->text, &net), CONF_NET_OK);
	ck_assert_int_eq(net.family, want->family);
	ck_assert_uint_eq(net.prefix, want->prefix);
	inet_ntop(net.family, net.addr, shown, sizeof shown);
	ck_assert_str_eq(shown, want->addr);
}
END_TEST

START_TEST(test_parse_net_refused)
{
	struct conf_net net;

	ck_assert_int_eq(conf_parse_net("app", &net), CONF_NET_NOT_IP);
	ck_assert_int_eq(conf_parse_net("/24", &net), CONF_NET_NOT_IP);
	ck_assert_int_eq(conf_parse_net("1.2.3/24", &net), CONF_NET_NOT_IP);
	ck_assert_int_eq(conf_parse_net("1.2.3.4/33", &net), CONF_NET_BAD_PREFIX);
	ck_assert_int_eq(conf_parse_net("1.2.3.4/ 8", &net), CONF_NET_BAD_PREFIX);
	ck_assert_int_eq(conf_parse_net("::1/129", &net), CONF_NET_BAD_PREFIX);
	ck_assert_int_eq(conf_parse_net("::1/64/64", &net), CONF_NET_BAD_PREFIX);
}
END_TEST

static struct sockaddr_storage client_addr(const char *text)
{
	struct sockaddr_storage addr = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr;

	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	return addr;
}

/* Loads ALLOW_FROM=text and tells whether client may connect. */
static int allowed(const char *text, const char *client)
{
	static struct conf conf;
	char env_allow[256], err[CONF_ERR_SIZE];
	const char *env[] = { "TARGET=x", env_allow, NULL };
	struct sockaddr_storage addr = client_addr(client);

	snprintf(env_allow, sizeof env_allow, "ALLOW_FROM=%s", text);
	ck_assert_msg(load(&conf, err, env) == 0, "%s", err);
	return conf_allow_match(&conf.allow, (struct sockaddr *)&addr);
}

START_TEST(test_allow_match)
{
	ck_assert_int_eq(allowed("", "203.0.113.5"), 1);	/* empty: everyone */
	ck_assert_int_eq(allowed(" \t", "2001:db8::5"), 1);
	ck_assert_int_eq(allowed("198.18.1.0/24", "198.18.1.200"), 1);
	ck_assert_int_eq(allowed("198.18.1.0/24", "198.18.2.1"), 0);
	ck_assert_int_eq(allowed("198.18.1.0/23", "198.18.0.1"), 1);
	ck_assert_int_eq(allowed("198.18.1.0/25", "198.18.1.128"), 0);
	ck_assert_int_eq(allowed("198.18.1.9/32", "198.18.1.9"), 1);
	ck_assert_int_eq(allowed("198.18.1.9", "198.18.1.8"), 0);
	ck_assert_int_eq(allowed("0.0.0.0/0", "203.0.113.5"), 1);
	ck_assert_int_eq(allowed("0.0.0.0/0", "2001:db8::5"), 0);
	ck_assert_int_eq(allowed("2001:db8:1::/48", "2001:db8:1:ff::9"), 1);
	ck_assert_int_eq(allowed("2001:db8:1::/48", "2001:db8:2::9"), 0);
	ck_assert_int_eq(allowed("2001:db8::9/128", "2001:db8::9"), 1);
	ck_assert_int_eq(allowed("2001:db8::9/128", "2001:db8::8"), 0);
	ck_assert_int_eq(allowed("::/0", "2001:db8::9"), 1);
	ck_assert_int_eq(allowed("::/0", "203.0.113.5"), 0);
	ck_assert_int_eq(allowed("10.0.0.1 2001:db8::/32", "2001:db8::1"), 1);
}
END_TEST

/* The dual-stack listener sees v4 clients as ::ffff:a.b.c.d. */
START_TEST(test_allow_match_v4_mapped_client)
{
	ck_assert_int_eq(allowed("198.18.1.0/24", "::ffff:198.18.1.2"), 1);
	ck_assert_int_eq(allowed("198.18.1.0/24", "::ffff:198.18.2.2"), 0);
	ck_assert_int_eq(allowed("::ffff:198.18.1.0/120", "198.18.1.2"), 1);
	ck_assert_int_eq(allowed("::ffff:198.18.1.0/120", "::ffff:198.18.1.3"), 1);
	ck_assert_int_eq(allowed("2001:db8::/32", "::ffff:198.18.1.2"), 0);
}
END_TEST

/* The healthcheck probes through 127.0.0.1: loopback is never refused. */
START_TEST(test_allow_match_loopback)
{
	ck_assert_int_eq(allowed("198.18.1.0/24", "127.0.0.1"), 1);
	ck_assert_int_eq(allowed("198.18.1.0/24", "::ffff:127.0.0.1"), 1);
	ck_assert_int_eq(allowed("198.18.1.0/24", "127.3.2.1"), 1);
	ck_assert_int_eq(allowed("198.18.1.0/24", "::1"), 1);
	ck_assert_int_eq(allowed("198.18.1.0/24", "::2"), 0);
}
END_TEST

START_TEST(test_allow_too_many)
{
	static char text[CONF_MAX_ALLOW * 16 + 16];
	static const char *env[] = { "TARGET=x", text, NULL };
	static struct conf conf;
	char err[CONF_ERR_SIZE];
	size_t used = (size_t)snprintf(text, sizeof text, "ALLOW_FROM=");

	for (int i = 0; i <= CONF_MAX_ALLOW; i++)
		used += (size_t)snprintf(text + used, sizeof text - used, "10.0.%d.%d ", i / 256,
					 i % 256);
	ck_assert_int_eq(load(&conf, err, env), -1);
	ck_assert_str_eq(err, "ALLOW_FROM: more than 256 addresses and networks");
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

START_TEST(test_temp_path)
{
	char path[64];

	setenv("TMPDIR", "/run/x", 1);
	ck_assert_int_eq(conf_temp_path(path, sizeof path, "whitelist-dns-balanced"), 0);
	ck_assert_str_eq(path, "/run/x/whitelist-dns-balanced");
	unsetenv("TMPDIR");
	ck_assert_int_eq(conf_temp_path(path, sizeof path, "f"), 0);
	ck_assert_str_eq(path, "/tmp/f");
	ck_assert_int_eq(conf_temp_path(path, 6, "ff"), -1);
}
END_TEST

/* LOG_FORMAT: text by default, either word in any case, and read before any variable fails. */
START_TEST(test_log_format)
{
	static const char *const none[] = { "TARGET=x", NULL };
	static const char *const json[] = { "TARGET=x", "LOG_FORMAT= JSON ", NULL };
	static const char *const text[] = { "TARGET=x", "LOG_FORMAT=Text", NULL };
	static const char *const empty[] = { "TARGET=x", "LOG_FORMAT=", NULL };
	static const char *const bad_port[] = { "LOG_FORMAT=json", "PORT=http", NULL };
	static struct conf conf;
	char err[CONF_ERR_SIZE];

	ck_assert_int_eq(load(&conf, err, none), 0);
	ck_assert_int_eq(conf.log_format, LOG_FORMAT_TEXT);
	ck_assert_int_eq(load(&conf, err, json), 0);
	ck_assert_int_eq(conf.log_format, LOG_FORMAT_JSON);
	ck_assert_int_eq(load(&conf, err, text), 0);
	ck_assert_int_eq(conf.log_format, LOG_FORMAT_TEXT);
	ck_assert_int_eq(load(&conf, err, empty), 0);
	ck_assert_int_eq(conf.log_format, LOG_FORMAT_TEXT);
	ck_assert_int_eq(load(&conf, err, bad_port), -1);
	ck_assert_int_eq(conf.log_format, LOG_FORMAT_JSON);	/* the error's line is JSON */
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
	tcase_add_test(tc, test_values_read_alike);
	tcase_add_test(tc, test_routed_targets);
	tcase_add_test(tc, test_log_format);
	tcase_add_test(tc, test_route_match);
	tcase_add_test(tc, test_proxy_users);
	tcase_add_loop_test(tc, test_bad_values, 0, sizeof bad_cases / sizeof bad_cases[0]);
	tcase_add_loop_test(tc, test_parse_net, 0, sizeof net_cases / sizeof net_cases[0]);
	tcase_add_test(tc, test_parse_net_refused);
	tcase_add_test(tc, test_allow_match);
	tcase_add_test(tc, test_allow_match_v4_mapped_client);
	tcase_add_test(tc, test_allow_match_loopback);
	tcase_add_test(tc, test_allow_too_many);
	tcase_add_test(tc, test_expand_target);
	tcase_add_test(tc, test_temp_path);
	tcase_add_exit_test(tc, test_die_config_exits_2, EXIT_CONFIG);
	tcase_add_exit_test(tc, test_die_exits_1, EXIT_FATAL);
	suite_add_tcase(suite, tc);
	return suite;
}
