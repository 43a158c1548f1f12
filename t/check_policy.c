/*
 * t/check_policy.c: POLICY's rule parser and matcher (policy.c), and the
 * client names' table in shared memory (names.c).
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t/check.h"
#include "t/conf_table.h"

#include "config.h"
#include "names.h"
#include "policy.h"
#include "shared.h"

#define ROUTED_TARGET "TARGET=api.stripe.test fonts.cdn.test *.wild.test open.test"

static struct conf conf;
static struct policy policy;
static char err[CONF_ERR_SIZE];

/* conf from target (and allow_from when not NULL), then POLICY; policy_parse's result. */
static int parse(const char *target, const char *allow_from, const char *text)
{
	char allow[512];
	const char *env[3] = { target, NULL, NULL };

	if (allow_from) {
		snprintf(allow, sizeof allow, "ALLOW_FROM=%s", allow_from);
		env[1] = allow;
	}
	conf_table_env = env;
	ck_assert_msg(conf_load(&conf, conf_table_get, err, sizeof err) == 0, "%s", err);
	err[0] = '\0';
	return policy_parse(&policy, text, &conf, err, sizeof err);
}

static struct conf_net net(const char *text)
{
	struct conf_net out;

	ck_assert_int_eq(conf_parse_net(text, &out), CONF_NET_OK);
	return out;
}

/* A fake resolver for the matcher: name index -> one address. */
static const char *fake_addrs[POLICY_MAX_NAMES];

static int fake_has(const void *ctx, unsigned index, const struct conf_net *addr)
{
	struct conf_net want;

	(void)ctx;
	if (index >= POLICY_MAX_NAMES || !fake_addrs[index])
		return 0;
	want = net(fake_addrs[index]);
	return want.family == addr->family && memcmp(want.addr, addr->addr, 16) == 0;
}

static const struct policy_names fake = { .has = fake_has };

static int allows(const char *client, const char *user, const char *entry)
{
	struct conf_net from = net(client);

	return policy_allows(&policy, &fake, &from, user, conf_entry_index(&conf, entry));
}

/* The text of the client that let a decision through ("" for open). */
static const char *granted_to(int decision)
{
	return decision >= 0 ? policy.clients[policy.grants[decision].client].text : "";
}

START_TEST(test_parse_rules)
{
	ck_assert_msg(parse(ROUTED_TARGET, NULL, "billing = api.stripe.test\n"
			    " web 198.18.1.0/24\tuser:ci = FONTS.cdn.test. *.wild.test ;; "
			    "billing=*.wild.test") == 0, "%s", err);
	ck_assert_str_eq(policy.text, "billing = api.stripe.test\n web 198.18.1.0/24\tuser:ci = "
			 "FONTS.cdn.test. *.wild.test ;; billing=*.wild.test");
	ck_assert_uint_eq(policy.nclients, 4);
	ck_assert_str_eq(policy.clients[0].text, "billing");
	ck_assert_int_eq(policy.clients[0].kind, POLICY_CLIENT_NAME);
	ck_assert_int_eq(policy.clients[1].kind, POLICY_CLIENT_NAME);
	ck_assert_int_eq(policy.clients[2].kind, POLICY_CLIENT_NET);
	ck_assert_uint_eq(policy.clients[2].net.prefix, 24);
	ck_assert_int_eq(policy.clients[3].kind, POLICY_CLIENT_USER);
	ck_assert_str_eq(policy.clients[3].text, "user:ci");
	/* billing twice (one client), three clients of two entries: 1 + 6 + 1 pairs. */
	ck_assert_uint_eq(policy.ngrants, 8);
	ck_assert_uint_eq(policy.nnames, 2);
	ck_assert_str_eq(policy.names[policy.clients[1].name], "web");
	/* Entries 0-2 are named; open.test (3) is not. */
	ck_assert_uint_eq(policy.named, 0x7);
}
END_TEST

START_TEST(test_parse_empty_is_no_policy)
{
	ck_assert_int_eq(parse(ROUTED_TARGET, NULL, NULL), 0);
	ck_assert_ptr_null(policy.text);
	ck_assert_int_eq(parse(ROUTED_TARGET, NULL, " ;\n\t; "), 0);
	ck_assert_ptr_null(policy.text);
	ck_assert_uint_eq(policy.named, 0);
	ck_assert_int_eq(allows("198.18.1.2", NULL, "api.stripe.test"), POLICY_OPEN);
}
END_TEST

/* Each bad rule: exit 2 naming POLICY and the part that is wrong. */
START_TEST(test_parse_errors)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{ "web = other.test", "POLICY: \"other.test\" is not an entry of TARGET" },
		{ "web = *.other.test", "POLICY: \"*.other.test\" is not an entry of TARGET" },
		{ "web = wild.test", "POLICY: \"wild.test\" is not an entry of TARGET" },
		{ "bad!name = open.test", "POLICY: client \"bad!name\" is not a host name, an IP" },
		{ "10.1 = open.test", "POLICY: client \"10.1\" is not a host name, an IP" },
		{ "-web = open.test", "POLICY: client \"-web\" is not a host name" },
		{ "198.18.1.0/33 = open.test", "POLICY: client \"198.18.1.0/33\" has a bad prefix" },
		{ "user: = open.test", "POLICY: \"user:\" is not user:NAME" },
		{ "user:a:b = open.test", "POLICY: \"user:a:b\" is not user:NAME" },
		{ " = open.test", "POLICY: rule \"= open.test\" has no clients before '='" },
		{ "web =  ", "POLICY: rule \"web =  \" has no TARGET entries after '='" },
		{ "web open.test", "POLICY: rule \"web open.test\" is not CLIENTS = ENTRIES" },
		{ "web = open.test = x", "POLICY: rule \"web = open.test = x\" is not CLIENTS" },
		{ "web = open.test; =", "POLICY: rule \"=\" has no clients" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_msg(parse(ROUTED_TARGET, NULL, cases[i].text) == -1, "%s", cases[i].text);
		ck_assert_msg(strncmp(err, cases[i].message, strlen(cases[i].message)) == 0,
			      "%s: got \"%s\"", cases[i].text, err);
	}
}
END_TEST

START_TEST(test_parse_limits)
{
	static char text[POLICY_MAX_CLIENTS * 24 + 32];
	size_t used = 0;

	for (int i = 0; i <= POLICY_MAX_CLIENTS; i++)
		used += (size_t)snprintf(text + used, sizeof text - used, "198.18.1.%d ", i);
	snprintf(text + used, sizeof text - used, "= open.test");
	ck_assert_int_eq(parse(ROUTED_TARGET, NULL, text), -1);
	ck_assert_msg(strstr(err, "POLICY:") == err, "%s", err);
}
END_TEST

/* Classic mode: the one TARGET, written any way TARGET accepts it, is entry 0. */
START_TEST(test_parse_classic)
{
	ck_assert_msg(parse("TARGET=smtp.example.test", NULL, "mailer = SMTP.Example.test.") == 0,
		      "%s", err);
	ck_assert_uint_eq(policy.named, 1);
	ck_assert_int_eq(parse("TARGET=smtp.example.test", NULL, "mailer = other.test"), -1);
	ck_assert_msg(strstr(err, "\"other.test\" is not an entry of TARGET (smtp.example.test)"),
		      "%s", err);
	ck_assert_msg(parse("TARGET=2001:db8::5", NULL, "198.18.1.2 = [2001:db8::5]") == 0, "%s",
		      err);
	ck_assert_int_eq(allows("198.18.1.2", NULL, "2001:db8::5"), 0);
	ck_assert_int_eq(allows("198.18.1.3", NULL, "2001:db8::5"), POLICY_REFUSED);
}
END_TEST

START_TEST(test_match)
{
	ck_assert_msg(parse(ROUTED_TARGET, NULL, "billing = api.stripe.test\n"
			    "web 198.18.1.64/26 = fonts.cdn.test *.wild.test\n"
			    "user:ci = api.stripe.test") == 0, "%s", err);
	memset(fake_addrs, 0, sizeof fake_addrs);
	fake_addrs[0] = "198.18.1.2";	/* billing */
	fake_addrs[1] = "2001:db8::3";	/* web */
	/* Each client reaches its own entries... */
	ck_assert_str_eq(granted_to(allows("198.18.1.2", NULL, "api.stripe.test")), "billing");
	ck_assert_str_eq(granted_to(allows("2001:db8::3", NULL, "fonts.cdn.test")), "web");
	ck_assert_str_eq(granted_to(allows("198.18.1.70", NULL, "*.wild.test")),
			 "198.18.1.64/26");
	ck_assert_str_eq(granted_to(allows("198.18.9.9", "ci", "api.stripe.test")), "user:ci");
	/* ...not the others' */
	ck_assert_int_eq(allows("198.18.1.2", NULL, "fonts.cdn.test"), POLICY_REFUSED);
	ck_assert_int_eq(allows("2001:db8::3", NULL, "api.stripe.test"), POLICY_REFUSED);
	ck_assert_int_eq(allows("198.18.1.63", NULL, "fonts.cdn.test"), POLICY_REFUSED);
	ck_assert_int_eq(allows("198.18.9.9", "ci", "fonts.cdn.test"), POLICY_REFUSED);
	ck_assert_int_eq(allows("198.18.9.9", "cd", "api.stripe.test"), POLICY_REFUSED);
	/* An entry no rule names stays open, to every client. */
	ck_assert_int_eq(allows("198.18.1.2", NULL, "open.test"), POLICY_OPEN);
	ck_assert_int_eq(allows("198.18.9.9", NULL, "open.test"), POLICY_OPEN);
	/* Loopback is the proxy's own container (the healthcheck). */
	ck_assert_int_eq(allows("127.0.0.1", NULL, "api.stripe.test"), POLICY_OPEN);
	ck_assert_int_eq(allows("::1", NULL, "api.stripe.test"), POLICY_OPEN);
	/* A name follows its address: the one it has now, not the last one. */
	fake_addrs[0] = "198.18.1.5";
	ck_assert_int_eq(allows("198.18.1.2", NULL, "api.stripe.test"), POLICY_REFUSED);
	ck_assert_str_eq(granted_to(allows("198.18.1.5", NULL, "api.stripe.test")), "billing");
	/* No policy at all, or an entry out of range: open. */
	ck_assert_int_eq(policy_allows(NULL, &fake, NULL, NULL, 0), POLICY_OPEN);
	ck_assert_int_eq(policy_allows(&policy, &fake, NULL, NULL, -1), POLICY_OPEN);
	/* Which client a refused one is, for its log line. */
	{
		struct conf_net from = net("2001:db8::3");

		ck_assert_int_eq(policy_client_of(&policy, &fake, &from, NULL), 1);
		from = net("198.18.8.8");
		ck_assert_int_eq(policy_client_of(&policy, &fake, &from, NULL), -1);
		ck_assert_int_eq(policy_client_of(&policy, &fake, &from, "ci"), 3);
	}
}
END_TEST

/* ALLOW_FROM's names share the table, POLICY's or not. */
START_TEST(test_allow_from_names)
{
	struct conf_net from = net("198.18.1.9");

	ck_assert_msg(parse(ROUTED_TARGET, "198.18.2.0/24 web Cron.", "web = open.test") == 0,
		      "%s", err);
	ck_assert_uint_eq(policy.nnames, 2);
	ck_assert_str_eq(policy.names[0], "web");
	ck_assert_str_eq(policy.names[1], "cron");
	ck_assert_uint_eq(policy.allow_names, 0x3);
	memset(fake_addrs, 0, sizeof fake_addrs);
	ck_assert_int_eq(policy_allow_from_names(&policy, &fake, &from), 0);
	fake_addrs[1] = "198.18.1.9";
	ck_assert_int_eq(policy_allow_from_names(&policy, &fake, &from), 1);
	/* Without POLICY the names are still gathered. */
	ck_assert_int_eq(parse(ROUTED_TARGET, "web", NULL), 0);
	ck_assert_uint_eq(policy.nnames, 1);
	ck_assert_uint_eq(policy.allow_names, 1);
}
END_TEST

START_TEST(test_check_users)
{
	static const char *const users[] = { "ci", "deploy" };

	ck_assert_int_eq(parse(ROUTED_TARGET, NULL, "user:ci user:deploy web = open.test"), 0);
	ck_assert_int_eq(policy_check_users(&policy, users, 2, err, sizeof err), 0);
	ck_assert_int_eq(policy_check_users(&policy, users, 1, err, sizeof err), -1);
	ck_assert_str_eq(err, "POLICY: \"user:deploy\": no such user in PROXY_USERS");
}
END_TEST

/* names.c: the first lookup fills the table; a matcher reads it through names_view. */
START_TEST(test_names_table)
{
	static struct shared shared;
	struct policy_names view = names_view(&shared);
	struct conf_net loopback = net("127.0.0.1"), other = net("198.18.1.1");

	ck_assert_int_eq(parse(ROUTED_TARGET, "localhost", NULL), 0);
	ck_assert_msg(names_refresh(&shared, &policy, 1, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_ge(names_count(&shared, 0), 1);
	ck_assert_int_eq(policy_allow_from_names(&policy, &view, &loopback), 1);
	ck_assert_int_eq(policy_allow_from_names(&policy, &view, &other), 0);
	/* At start a name that does not resolve is an error naming its variable. */
	ck_assert_int_eq(parse(ROUTED_TARGET, NULL, "missing.invalid = open.test"), 0);
	ck_assert_int_eq(names_refresh(&shared, &policy, 1, err, sizeof err), -1);
	ck_assert_msg(strncmp(err, "POLICY: \"missing.invalid\" does not resolve", 41) == 0,
		      "%s", err);
	/* Later it keeps the addresses it had (here localhost's, in slot 0). */
	ck_assert_int_eq(names_refresh(&shared, &policy, 0, err, sizeof err), 0);
	ck_assert_int_eq(names_has(&shared, 0, &loopback), 1);
	ck_assert_uint_eq(shared_get(&shared.client_name_failures), 1);
}
END_TEST

Suite *policy_suite(void)
{
	Suite *suite = suite_create("policy");
	TCase *tc = tcase_create("policy");

	tcase_add_test(tc, test_parse_rules);
	tcase_add_test(tc, test_parse_empty_is_no_policy);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_parse_limits);
	tcase_add_test(tc, test_parse_classic);
	tcase_add_test(tc, test_match);
	tcase_add_test(tc, test_allow_from_names);
	tcase_add_test(tc, test_check_users);
	tcase_add_test(tc, test_names_table);
	suite_add_tcase(suite, tc);
	return suite;
}
