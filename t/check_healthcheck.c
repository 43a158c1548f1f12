/*
 * check_healthcheck: unit tests of the healthcheck's pure parts: the probe
 * URL and port rule, the libcurl pin (hc_probe.h), the PRE_RESOLVE rule
 * (hc_dns.h), and the names and /proc/net lines it reads (hc_procs.h). The
 * e2e tests run the binary.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hc_dns.h"
#include "hc_probe.h"
#include "hc_procs.h"

#include "t/check.h"

/* ---- configuration from a table, as the proxy would read its environment ---- */

static const char *const *check_env;

static const char *check_getter(const char *name)
{
	for (size_t i = 0; check_env[i]; i += 2)
		if (strcmp(check_env[i], name) == 0)
			return check_env[i + 1];
	return NULL;
}

static void check_load(struct conf *conf, const char *const *env)
{
	char err[CONF_ERR_SIZE];

	check_env = env;
	ck_assert_msg(conf_load(conf, check_getter, err, sizeof err) == 0, "conf_load: %s", err);
}

/* ---- probe URL and port ---- */

struct url_case {
	const char *name;
	const char *env[10];		/* name, value, ..., NULL */
	int smtp;			/* 0: the http probe, 1: the smtp probe */
	const char *url;		/* expected; NULL when an error is expected */
	const char *host;
	unsigned port;
	int written;
	const char *error;		/* a part of the expected error */
};

static const struct url_case URL_CASES[] = {
	{ "default http", { "TARGET", "198.18.2.2", NULL },
	  0, "http://198.18.2.2/", "198.18.2.2", 80, 0, NULL },
	{ "https uses 443 when in PORT", { "TARGET", "example.test", "HTTP_HEALTHCHECK_URL",
	  "https://$TARGET/health", NULL },
	  0, "https://example.test/health", "example.test", 443, 0, NULL },
	{ "https without 443 in PORT: the first PORT, written",
	  { "TARGET", "example.test", "PORT", "80", "HTTP_HEALTHCHECK_URL", "https://$TARGET/x", NULL },
	  0, "https://example.test:80/x", "example.test", 80, 1, NULL },
	{ "a single odd PORT is written into the URL", { "TARGET", "example.test", "PORT", "8080", NULL },
	  0, "http://example.test:8080/", "example.test", 8080, 1, NULL },
	{ "several PORTs without 80: the first one", { "TARGET", "example.test", "PORT",
	  "8443 8080 9000", NULL },
	  0, "http://example.test:8443/", "example.test", 8443, 1, NULL },
	{ "several PORTs with 80 not first: 80", { "TARGET", "example.test", "PORT", "8080 80", NULL },
	  0, "http://example.test/", "example.test", 80, 0, NULL },
	{ "a port range counts", { "TARGET", "example.test", "PORT", "8000-8002", NULL },
	  0, "http://example.test:8000/", "example.test", 8000, 1, NULL },
	{ "the URL's own port", { "TARGET", "example.test", "PORT", "80 8081",
	  "HTTP_HEALTHCHECK_URL", "http://$TARGET:8081/status", NULL },
	  0, "http://example.test:8081/status", "example.test", 8081, 0, NULL },
	{ "the URL's own port not in PORT", { "TARGET", "example.test", "PORT", "80",
	  "HTTP_HEALTHCHECK_URL", "http://$TARGET:8081/", NULL },
	  0, NULL, NULL, 0, 0, "port 8081 of http://example.test:8081/ is not in PORT" },
	{ "every $TARGET replaced", { "TARGET", "example.test", "HTTP_HEALTHCHECK_URL",
	  "http://$TARGET/check?name=$TARGET", NULL },
	  0, "http://example.test/check?name=example.test", "example.test", 80, 0, NULL },
	{ "another host than TARGET is pinned too", { "TARGET", "example.test",
	  "HTTP_HEALTHCHECK_URL", "http://www.example.test/", NULL },
	  0, "http://www.example.test/", "www.example.test", 80, 0, NULL },
	{ "IPv6 TARGET gets brackets", { "TARGET", "2001:db8:2::2", NULL },
	  0, "http://[2001:db8:2::2]/", "[2001:db8:2::2]", 80, 0, NULL },
	{ "IPv6 TARGET with an odd PORT", { "TARGET", "2001:db8:2::2", "PORT", "8080", NULL },
	  0, "http://[2001:db8:2::2]:8080/", "[2001:db8:2::2]", 8080, 1, NULL },
	{ "IPv6 TARGET followed by a port", { "TARGET", "2001:db8:2::2", "PORT", "80 8081",
	  "HTTP_HEALTHCHECK_URL", "http://$TARGET:8081/x", NULL },
	  0, "http://[2001:db8:2::2]:8081/x", "[2001:db8:2::2]", 8081, 0, NULL },
	{ "IPv6 TARGET already in brackets", { "TARGET", "2001:db8:2::2",
	  "HTTP_HEALTHCHECK_URL", "http://[$TARGET]/", NULL },
	  0, "http://[2001:db8:2::2]/", "[2001:db8:2::2]", 80, 0, NULL },
	{ "not an http URL", { "TARGET", "example.test", "HTTP_HEALTHCHECK_URL",
	  "ftp://$TARGET/", NULL },
	  0, NULL, NULL, 0, 0, "HTTP_HEALTHCHECK_URL: \"ftp://example.test/\" is not a http://" },
	{ "not a URL at all", { "TARGET", "example.test", "HTTP_HEALTHCHECK_URL", "$TARGET", NULL },
	  0, NULL, NULL, 0, 0, "is not a URL" },
	{ "smtp: 25 when in PORT", { "TARGET", "mail.test", "PORT", "80 25", NULL },
	  1, "smtp://mail.test/", "mail.test", 25, 0, NULL },
	{ "smtp: the first PORT without 25", { "TARGET", "mail.test", "PORT", "2525 587", NULL },
	  1, "smtp://mail.test:2525/", "mail.test", 2525, 1, NULL },
	{ "smtp: the URL's own port", { "TARGET", "mail.test", "PORT", "25 587",
	  "SMTP_HEALTHCHECK_URL", "smtp://$TARGET:587/client.test", NULL },
	  1, "smtp://mail.test:587/client.test", "mail.test", 587, 0, NULL },
	{ "smtp: user info before the host", { "TARGET", "2001:db8::25", "PORT", "25",
	  "SMTP_HEALTHCHECK_URL", "smtp://user@$TARGET/", NULL },
	  1, "smtp://user@[2001:db8::25]/", "[2001:db8::25]", 25, 0, NULL },
	{ "smtp: an http URL is refused", { "TARGET", "mail.test", "PORT", "25",
	  "SMTP_HEALTHCHECK_URL", "http://$TARGET/", NULL },
	  1, NULL, NULL, 0, 0, "SMTP_HEALTHCHECK_URL: \"http://mail.test/\" is not a smtp://" },
};

START_TEST(test_probe_url_and_port)
{
	const struct url_case *c = &URL_CASES[_i];
	struct conf conf;
	struct hc_probe probe;
	char err[256] = "";
	int status;

	check_load(&conf, c->env);
	status = hc_probe_prepare(&conf, c->smtp ? conf.smtp_url : conf.http_url,
				  c->smtp ? &HC_SMTP : &HC_HTTP, &probe, err, sizeof err);
	if (!c->url) {
		ck_assert_msg(status == -1, "%s: expected an error", c->name);
		ck_assert_msg(strstr(err, c->error), "%s: error \"%s\"", c->name, err);
		return;
	}
	ck_assert_msg(status == 0, "%s: %s", c->name, err);
	ck_assert_msg(strcmp(probe.url, c->url) == 0, "%s: url %s", c->name, probe.url);
	ck_assert_msg(strcmp(probe.host, c->host) == 0, "%s: host %s", c->name, probe.host);
	ck_assert_msg(probe.port == c->port, "%s: port %u", c->name, probe.port);
	ck_assert_msg(probe.port_written == c->written, "%s: written %d", c->name,
		      probe.port_written);
}
END_TEST

START_TEST(test_pin_names_resolve_ip_literals_connect_to)
{
	struct hc_probe probe = { .port = 8080 };
	char pin[128];

	strcpy(probe.host, "example.test");
	ck_assert_int_eq(hc_probe_pin(&probe, pin, sizeof pin), 0);
	ck_assert_str_eq(pin, "example.test:8080:127.0.0.1");
	/* A name that merely looks numeric is still a name. */
	strcpy(probe.host, "198.18.2.2.example.test");
	ck_assert_int_eq(hc_probe_pin(&probe, pin, sizeof pin), 0);
	/* CURLOPT_RESOLVE fills the DNS cache, which a literal need not consult. */
	strcpy(probe.host, "198.18.2.2");
	ck_assert_int_eq(hc_probe_pin(&probe, pin, sizeof pin), 1);
	ck_assert_str_eq(pin, "198.18.2.2:8080:127.0.0.1:8080");
	/* CURLOPT_RESOLVE cannot parse a v6 host at all. */
	strcpy(probe.host, "[2001:db8::2]");
	ck_assert_int_eq(hc_probe_pin(&probe, pin, sizeof pin), 1);
	ck_assert_str_eq(pin, "[2001:db8::2]:8080:127.0.0.1:8080");
}
END_TEST

START_TEST(test_bracket_only_the_v6_target_as_host)
{
	char out[128];

	ck_assert_int_eq(hc_bracket_target("http://2001:db8::2/", "2001:db8::2", out, sizeof out), 0);
	ck_assert_str_eq(out, "http://[2001:db8::2]/");
	hc_bracket_target("http://2001:db8::2", "2001:db8::2", out, sizeof out);
	ck_assert_str_eq(out, "http://[2001:db8::2]");
	hc_bracket_target("http://2001:db8::2?q", "2001:db8::2", out, sizeof out);
	ck_assert_str_eq(out, "http://[2001:db8::2]?q");
	/* A name or a v4 TARGET is left alone, as is a v6 that is not the host. */
	hc_bracket_target("http://example.test/2001:db8::2", "example.test", out, sizeof out);
	ck_assert_str_eq(out, "http://example.test/2001:db8::2");
	hc_bracket_target("http://other.test/?t=2001:db8::2", "2001:db8::2", out, sizeof out);
	ck_assert_str_eq(out, "http://other.test/?t=2001:db8::2");
	/* The target is only a prefix of this host: not it. */
	hc_bracket_target("http://2001:db8::23/", "2001:db8::2", out, sizeof out);
	ck_assert_str_eq(out, "http://2001:db8::23/");
	ck_assert_int_eq(hc_bracket_target("http://2001:db8::2/", "2001:db8::2", out, 20), -1);
}
END_TEST

/* ---- the PRE_RESOLVE rule ---- */

static struct dns_result check_answer(const char *a, const char *b, const char *c)
{
	const char *texts[] = { a, b, c };
	struct dns_result result = { 0 };

	for (size_t i = 0; i < 3 && texts[i]; i++) {
		result.family = strchr(texts[i], ':') ? AF_INET6 : AF_INET;
		ck_assert_int_eq(inet_pton(result.family, texts[i], result.addrs[result.count++]), 1);
	}
	return result;
}

/* An address in use, as the proxy publishes it. */
static int parse_addr(const char *text, struct hc_addr *out)
{
	memset(out, 0, sizeof *out);
	out->family = strchr(text, ':') ? AF_INET6 : AF_INET;
	return inet_pton(out->family, text, out->bytes) == 1 ? 0 : -1;
}

START_TEST(test_dns_rule)
{
	struct hc_addr used;
	struct dns_result same = check_answer("198.18.2.2", "198.18.2.4", NULL);
	struct dns_result moved = check_answer("198.18.2.3", NULL, NULL);
	struct dns_result moved_too = check_answer("198.18.2.3", NULL, NULL);
	struct dns_result pair = check_answer("198.18.2.3", "198.18.2.5", NULL);
	struct dns_result pair_rotated = check_answer("198.18.2.5", "198.18.2.3", NULL);
	struct dns_result other = check_answer("198.18.2.4", NULL, NULL);
	struct dns_result back = check_answer("198.18.2.2", NULL, NULL);
	struct dns_result gone = { 0 }, gone_too = { 0 };
	struct dns_result v6 = check_answer("2001:db8:2::2", NULL, NULL);

	ck_assert_int_eq(parse_addr("198.18.2.2", &used), 0);
	ck_assert_int_eq(hc_dns_judge(&used, &same, NULL), HC_DNS_PRESENT);
	ck_assert_int_eq(hc_dns_judge(&used, &same, &moved), HC_DNS_PRESENT);
	/* One answer without it is not enough: ask again. */
	ck_assert_int_eq(hc_dns_judge(&used, &moved, NULL), HC_DNS_ASK_AGAIN);
	/* Two alike, in any order, both without it: moved. */
	ck_assert_int_eq(hc_dns_judge(&used, &moved, &moved_too), HC_DNS_MOVED);
	ck_assert_int_eq(hc_dns_judge(&used, &pair, &pair_rotated), HC_DNS_MOVED);
	/* The name or its addresses gone, twice: moved too. */
	ck_assert_int_eq(hc_dns_judge(&used, &gone, &gone_too), HC_DNS_MOVED);
	/* Answers that differ: load balancing, whether or not the second has it. */
	ck_assert_int_eq(hc_dns_judge(&used, &moved, &other), HC_DNS_BALANCED);
	ck_assert_int_eq(hc_dns_judge(&used, &moved, &back), HC_DNS_BALANCED);
	ck_assert_int_eq(hc_dns_judge(&used, &pair, &moved), HC_DNS_BALANCED);
	ck_assert_int_eq(hc_dns_judge(&used, &gone, &moved), HC_DNS_BALANCED);
	/* The family counts: a v4 in use is not among AAAA answers, and v6 matches v6. */
	ck_assert_int_eq(hc_dns_judge(&used, &v6, &v6), HC_DNS_MOVED);
	ck_assert_int_eq(parse_addr("2001:db8:2::2", &used), 0);
	ck_assert_int_eq(hc_dns_judge(&used, &v6, NULL), HC_DNS_PRESENT);
}
END_TEST

START_TEST(test_dns_format_answers)
{
	struct dns_result pair = check_answer("198.18.2.3", "198.18.2.5", NULL);
	struct dns_result gone = { 0 };
	struct dns_result many = { .family = AF_INET, .count = 10 };
	char out[256];

	ck_assert_str_eq(hc_dns_format_result(&pair, out, sizeof out), "198.18.2.3, 198.18.2.5");
	ck_assert_str_eq(hc_dns_format_result(&gone, out, sizeof out), "no address");
	ck_assert_ptr_nonnull(strstr(hc_dns_format_result(&many, out, sizeof out), " and 2 more"));
}
END_TEST

START_TEST(test_state_file_names)
{
	ck_assert_int_eq(hc_state_file_pid("whitelist-1-Ab3dE9.state"), 1);
	ck_assert_int_eq(hc_state_file_pid("whitelist-123456-zzzzzz.state"), 123456);
	ck_assert_int_eq(hc_state_file_pid("whitelist-1.state"), 0);	/* another version's */
	ck_assert_int_eq(hc_state_file_pid("whitelist-1-Ab3dE9.partial"), 0);
	ck_assert_int_eq(hc_state_file_pid("whitelist-1-Ab3dE.state"), 0);
	ck_assert_int_eq(hc_state_file_pid("whitelist-1-Ab3dE99.state"), 0);
	ck_assert_int_eq(hc_state_file_pid("whitelist-1-Ab.dE9.state"), 0);
	ck_assert_int_eq(hc_state_file_pid("whitelist--Ab3dE9.state"), 0);
	ck_assert_int_eq(hc_state_file_pid("whitelist-1x-Ab3dE9.state"), 0);
	ck_assert_int_eq(hc_state_file_pid("whitelist-0-Ab3dE9.state"), 0);
	ck_assert_int_eq(hc_state_file_pid("whitelist-12345678901-Ab3dE9.state"), 0);
	ck_assert_int_eq(hc_state_file_pid("whitelist-dns-balanced"), 0);
	ck_assert_int_eq(hc_state_file_pid("other-1-Ab3dE9.state"), 0);
}
END_TEST

START_TEST(test_parse_net_lines)
{
	unsigned port, state;
	unsigned long inode;

	ck_assert_int_eq(hc_parse_net_line("  sl  local_address rem_address   st tx_queue "
					   "rx_queue tr tm->when retrnsmt   uid  timeout inode",
					   &port, &state, &inode), -1);
	ck_assert_int_eq(hc_parse_net_line("   0: 00000000:0050 00000000:0000 0A 00000000:00000000 "
					   "00:00000000 00000000     0        0 31337 1 "
					   "0000000000000000 100 0 0 10 0", &port, &state, &inode), 0);
	ck_assert_uint_eq(port, 80);
	ck_assert_uint_eq(state, 0x0A);	/* TCP_LISTEN */
	ck_assert_uint_eq(inode, 31337);
	ck_assert_int_eq(hc_parse_net_line("   1: 00000000000000000000000000000000:01BB "
					   "00000000000000000000000000000000:0000 0A "
					   "00000000:00000000 00:00000000 00000000     0        0 "
					   "4242 1 0000000000000000 100 0 0 10 0",
					   &port, &state, &inode), 0);
	ck_assert_uint_eq(port, 443);
	ck_assert_uint_eq(inode, 4242);
	ck_assert_int_eq(hc_parse_net_line("  120: 00000000:0202 00000000:0000 07 00000000:00000000 "
					   "00:00000000 00000000   100        0 99 2 "
					   "0000000000000000 0", &port, &state, &inode), 0);
	ck_assert_uint_eq(port, 514);
	ck_assert_uint_eq(state, 0x07);	/* TCP_CLOSE: bound, unconnected */
	ck_assert_uint_eq(inode, 99);
	ck_assert_int_eq(hc_parse_net_line("   2: 0100007F:0050", &port, &state, &inode), -1);
}
END_TEST

START_TEST(test_format_ports)
{
	struct conf conf;
	char out[64];
	static const char *const few[] = { "TARGET", "x", "PORT", "80 443", NULL };
	static const char *const range[] = { "TARGET", "x", "PORT", "21 9443:443 8000-9000", NULL };
	static const char *const many[] = { "TARGET", "x", "PORT", "8000 8001 8002 8003 8004 8005 "
					    "8006 8007 8008 8009 8010 8011 8012 8013 8014 8015", NULL };

	check_load(&conf, few);
	hc_format_ports(&conf, out, sizeof out);
	ck_assert_str_eq(out, "80 443");
	/* Entries as written: a range is one word, not a thousand. */
	check_load(&conf, range);
	hc_format_ports(&conf, out, sizeof out);
	ck_assert_str_eq(out, "21 9443:443 8000-9000");
	check_load(&conf, many);
	hc_format_ports(&conf, out, sizeof out);
	ck_assert_ptr_nonnull(strstr(out, " ... (16 entries)"));
	ck_assert_uint_lt(strlen(out), sizeof out);
}
END_TEST

Suite *healthcheck_suite(void)
{
	Suite *suite = suite_create("healthcheck");
	TCase *url = tcase_create("url");
	TCase *dns = tcase_create("dns");
	TCase *proc = tcase_create("proc");

	tcase_add_loop_test(url, test_probe_url_and_port, 0,
			    (int)(sizeof URL_CASES / sizeof URL_CASES[0]));
	tcase_add_test(url, test_pin_names_resolve_ip_literals_connect_to);
	tcase_add_test(url, test_bracket_only_the_v6_target_as_host);
	tcase_add_test(dns, test_dns_rule);
	tcase_add_test(dns, test_dns_format_answers);
	tcase_add_test(proc, test_state_file_names);
	tcase_add_test(proc, test_parse_net_lines);
	tcase_add_test(proc, test_format_ports);
	suite_add_tcase(suite, url);
	suite_add_tcase(suite, dns);
	suite_add_tcase(suite, proc);
	return suite;
}
