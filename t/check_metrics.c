/*
 * check_metrics: the METRICS_PORT page (Prometheus text format, every
 * counter of every port, the target) and the routing of requests.
 */
#include <arpa/inet.h>
#include <check.h>

#include "t/check.h"
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics.h"
#include "policy.h"

static struct conf conf;
static struct shared *shared;
static struct metrics_buf page;

/* The region, its file removed at once: the mapping is all the page needs. */
static void setup_ports(size_t count)
{
	int published;

	memset(&conf, 0, sizeof conf);
	conf.target = "target.test";
	strcpy(conf.targets, conf.target);
	conf.nports = conf.nentries = count;
	for (size_t i = 0; i < count; i++) {
		conf.ports[i] = (uint16_t)(i == 0 ? 80 : 1000 + i);
		conf.entries[i] = (struct conf_port){ conf.ports[i], conf.ports[i], 0, "" };
		snprintf(conf.entries[i].text, sizeof conf.entries[i].text, "%u", conf.ports[i]);
	}
	shared = shared_create(conf.entries, count, SOCK_STREAM, geteuid(), &published);
	ck_assert_ptr_nonnull(shared);
	shared_unpublish(shared);
}

static void render(void)
{
	ck_assert_int_eq(metrics_render(&page, &conf, shared), 0);
	ck_assert_int_eq(metrics_printf(&page, "%c", '\0'), 0);	/* a C string to search */
}

static void assert_line(const char *line)
{
	char wanted[512];

	snprintf(wanted, sizeof wanted, "\n%s\n", line);
	ck_assert_msg(strstr(page.data, wanted) != NULL, "no line \"%s\" in:\n%s", line, page.data);
}

static size_t count_of(const char *text)
{
	size_t count = 0;

	for (const char *at = page.data; (at = strstr(at, text)); at++)
		count++;
	return count;
}

START_TEST(test_every_counter_of_every_port)
{
	struct shared_port *web;

	setup_ports(2);
	conf.max_connections = 50;
	web = shared_port_of(shared, 80);
	shared_add(&web->connections_total, 500);
	atomic_store(&web->connections_active, 3);
	shared_add(&web->refused[SHARED_REFUSED_ALLOW_FROM], 7);
	shared_add(&web->refused[SHARED_REFUSED_LOOP], 4);
	shared_add(&web->dropped[SHARED_DROPPED_QUEUE_FULL], 9);
	shared_add(&web->upstream_errors, 2);
	shared_add(&web->bytes_up, 11500);
	shared_add(&web->bytes_down, 123456789012ULL);
	render();
	assert_line("# TYPE whitelist_connections_total counter");
	assert_line("whitelist_connections_total{port=\"80\"} 500");
	assert_line("whitelist_connections_total{port=\"1001\"} 0");
	assert_line("# TYPE whitelist_connections_active gauge");
	assert_line("whitelist_connections_active{port=\"80\"} 3");
	assert_line("whitelist_connections_refused_total{port=\"80\",reason=\"allow_from\"} 7");
	assert_line("whitelist_connections_refused_total{port=\"80\",reason=\"loop\"} 4");
	assert_line("whitelist_datagrams_dropped_total{port=\"80\",reason=\"queue_full\"} 9");
	assert_line("whitelist_datagrams_dropped_total{port=\"1001\",reason=\"upstream_down\"} 0");
	assert_line("whitelist_upstream_errors_total{port=\"80\"} 2");
	assert_line("whitelist_bytes_total{port=\"80\",direction=\"up\"} 11500");
	assert_line("whitelist_bytes_total{port=\"80\",direction=\"down\"} 123456789012");
	assert_line("whitelist_bytes_total{port=\"1001\",direction=\"down\"} 0");
	assert_line("whitelist_resolve_failures_total 0");
	assert_line("# TYPE whitelist_connections_max gauge");
	assert_line("whitelist_connections_max{port=\"80\"} 50");
	assert_line("whitelist_connections_max{port=\"1001\"} 50");
	/* One HELP and TYPE per metric, however many label sets it has. */
	ck_assert_uint_eq(count_of("# TYPE whitelist_bytes_total "), 1);
	ck_assert_uint_eq(count_of("# HELP whitelist_bytes_total "), 1);
	ck_assert_uint_eq(count_of("# TYPE "), 9);
	ck_assert_int_eq(page.data[page.len - 2], '\n');
}
END_TEST

START_TEST(test_target_address)
{
	struct sockaddr_in6 addr = { .sin6_family = AF_INET6 };

	setup_ports(1);
	render();
	assert_line("whitelist_target_info{target=\"target.test\",address=\"\"} 1");
	inet_pton(AF_INET6, "2001:db8:2::2", &addr.sin6_addr);
	shared_addr_store(&shared->target, (struct sockaddr *)&addr, 0);
	render();
	assert_line("whitelist_target_info{target=\"target.test\",address=\"2001:db8:2::2\"} 1");
}
END_TEST

START_TEST(test_routed_counts_per_entry)
{
	setup_ports(2);
	conf.routed = 1;
	conf.nroutes = 2;
	strcpy(conf.routes[0].pattern, "fonts.googleapis.com");
	strcpy(conf.routes[1].pattern, "*.gstatic.com");
	strcpy(conf.targets, "fonts.googleapis.com *.gstatic.com");
	shared_add(&shared_port_of(shared, 80)->routed[1], 12);
	render();
	assert_line("# TYPE whitelist_routed_total counter");
	assert_line("whitelist_routed_total{port=\"80\",target=\"fonts.googleapis.com\"} 0");
	assert_line("whitelist_routed_total{port=\"80\",target=\"*.gstatic.com\"} 12");
	assert_line("whitelist_routed_total{port=\"1001\",target=\"*.gstatic.com\"} 0");
	/* Each entry is a target of its own; without PRE_RESOLVE, each resolves per connection. */
	assert_line("whitelist_target_info{target=\"fonts.googleapis.com\",address=\"\"} 1");
	assert_line("whitelist_target_info{target=\"*.gstatic.com\",address=\"\"} 1");
	ck_assert_uint_eq(count_of("whitelist_target_info{"), 2);
}
END_TEST

/* Routed with PRE_RESOLVE=1: an exact entry's address is known, a wildcard's is not. */
START_TEST(test_routed_target_addresses)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };

	setup_ports(1);
	conf.routed = conf.pre_resolve = 1;
	conf.nroutes = 2;
	conf.routes[0].kind = CONF_ROUTE_EXACT;
	strcpy(conf.routes[0].pattern, "a.test");
	conf.routes[1].kind = CONF_ROUTE_SUFFIX;
	strcpy(conf.routes[1].pattern, "*.wild.test");
	strcpy(conf.targets, "a.test *.wild.test");
	inet_pton(AF_INET, "198.18.2.2", &addr.sin_addr);
	shared_addr_store(&shared->routes[0], (struct sockaddr *)&addr, 0);
	render();
	assert_line("whitelist_target_info{target=\"a.test\",address=\"198.18.2.2\"} 1");
	assert_line("whitelist_target_info{target=\"*.wild.test\",address=\"\"} 1");
}
END_TEST

/* With POLICY: a client label, the rule's client as written, "" for entries no rule names. */
START_TEST(test_routed_counts_per_policy_client)
{
	static struct policy policy;

	setup_ports(1);
	conf.routed = 1;
	conf.nroutes = 2;
	strcpy(conf.routes[0].pattern, "api.stripe.com");
	strcpy(conf.routes[1].pattern, "open.test");
	memset(&policy, 0, sizeof policy);
	policy.text = "billing 198.18.1.0/24 = api.stripe.com";
	policy.named = 1;
	policy.nclients = 2;
	strcpy(policy.clients[0].text, "billing");
	strcpy(policy.clients[1].text, "198.18.1.0/24");
	policy.ngrants = 2;
	policy.grants[0] = (struct policy_grant){ .client = 0, .entry = 0 };
	policy.grants[1] = (struct policy_grant){ .client = 1, .entry = 0 };
	conf.policy = &policy;
	shared_add(&shared_port_of(shared, 80)->routed_grant[0], 5);
	shared_add(&shared_port_of(shared, 80)->routed[1], 3);
	render();
	conf.policy = NULL;
	assert_line("whitelist_routed_total{port=\"80\",target=\"api.stripe.com\",client=\"billing\"} 5");
	assert_line("whitelist_routed_total{port=\"80\",target=\"api.stripe.com\","
		    "client=\"198.18.1.0/24\"} 0");
	assert_line("whitelist_routed_total{port=\"80\",target=\"open.test\",client=\"\"} 3");
	/* A named entry has no line without a client: only its rules' clients reach it. */
	ck_assert_uint_eq(count_of("target=\"api.stripe.com\",client=\"\""), 0);
	ck_assert_uint_eq(count_of("whitelist_routed_total{"), 3);
}
END_TEST

START_TEST(test_label_values_escaped)
{
	setup_ports(1);
	conf.target = "a\"b\\c";
	strcpy(conf.targets, conf.target);
	render();
	assert_line("whitelist_target_info{target=\"a\\\"b\\\\c\",address=\"\"} 1");
}
END_TEST

/* 1024 entries: the page grows past any fixed buffer and keeps every line. */
START_TEST(test_many_ports)
{
	setup_ports(CONF_MAX_ENTRIES);
	render();
	ck_assert_uint_eq(count_of("whitelist_bytes_total{"), 2 * CONF_MAX_ENTRIES);
	assert_line("whitelist_upstream_errors_total{port=\"2023\"} 0");
}
END_TEST

static const struct route_case {
	const char *request;
	enum metrics_route route;
} route_cases[] = {
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", METRICS_ROUTE_METRICS },
	{ "GET /metrics HTTP/1.0\r\n\r\n", METRICS_ROUTE_METRICS },
	{ "GET /metrics?name[]=up HTTP/1.1\r\n\r\n", METRICS_ROUTE_METRICS },
	{ "GET /metrics\r\n", METRICS_ROUTE_METRICS },
	{ "GET /metrics\n", METRICS_ROUTE_METRICS },
	{ "GET /metricsx HTTP/1.1\r\n\r\n", METRICS_ROUTE_NOT_FOUND },
	{ "GET /metrics/ HTTP/1.1\r\n\r\n", METRICS_ROUTE_NOT_FOUND },
	{ "GET / HTTP/1.1\r\n\r\n", METRICS_ROUTE_NOT_FOUND },
	{ "POST /metrics HTTP/1.1\r\n\r\n", METRICS_ROUTE_NOT_FOUND },
	{ "get /metrics HTTP/1.1\r\n\r\n", METRICS_ROUTE_NOT_FOUND },
	{ "GET /metrics", METRICS_ROUTE_NOT_FOUND },	/* cut short: no end of line */
	{ "", METRICS_ROUTE_NOT_FOUND },
	{ "\x16\x03\x01\x02\x00", METRICS_ROUTE_NOT_FOUND },	/* a TLS hello */
};

START_TEST(test_route)
{
	const struct route_case *item = &route_cases[_i];

	ck_assert_int_eq(metrics_route(item->request, strlen(item->request)), item->route);
}
END_TEST

START_TEST(test_route_nul_after_path)
{
	static const char request[] = "GET /metrics\0 HTTP/1.1\r\n\r\n";

	ck_assert_int_eq(metrics_route(request, sizeof request - 1), METRICS_ROUTE_NOT_FOUND);
}
END_TEST

START_TEST(test_request_end)
{
	ck_assert_uint_eq(metrics_request_end("GET / HTTP/1.0\r\n\r\nbody", 22), 18);
	ck_assert_uint_eq(metrics_request_end("GET /\n\n", 7), 7);
	ck_assert_uint_eq(metrics_request_end("GET / HTTP/1.0\r\nHost: x\r\n", 25), 0);
	ck_assert_uint_eq(metrics_request_end("GET / HTTP/1.0\r\n\r", 17), 0);
	ck_assert_uint_eq(metrics_request_end("", 0), 0);
}
END_TEST

Suite *metrics_suite(void)
{
	Suite *suite = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_set_timeout(tc, 5);
	tcase_add_test(tc, test_every_counter_of_every_port);
	tcase_add_test(tc, test_target_address);
	tcase_add_test(tc, test_label_values_escaped);
	tcase_add_test(tc, test_routed_counts_per_entry);
	tcase_add_test(tc, test_routed_target_addresses);
	tcase_add_test(tc, test_routed_counts_per_policy_client);
	tcase_add_test(tc, test_many_ports);
	tcase_add_loop_test(tc, test_route, 0, sizeof route_cases / sizeof route_cases[0]);
	tcase_add_test(tc, test_route_nul_after_path);
	tcase_add_test(tc, test_request_end);
	suite_add_tcase(suite, tc);
	return suite;
}
