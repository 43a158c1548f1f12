/*
 * t/check_main.c: the one runner of the Check suites (t/check.h). Without
 * arguments it runs them all; `t/unit config resolve` runs those named.
 * Exit 0 when every test passed, 1 otherwise.
 */
#include <stdio.h>
#include <string.h>

#include "t/check.h"

static const struct {
	const char *name;
	Suite *(*make)(void);
} suites[] = {
	{ "addr", addr_suite },		{ "config", config_suite },
	{ "config_ports", config_ports_suite },
	{ "guard", guard_suite },	{ "healthcheck", healthcheck_suite },
	{ "log", log_suite },
	{ "metrics", metrics_suite },	{ "process", process_suite },
	{ "relay", relay_suite },	{ "resolve", resolve_suite },
	{ "session", session_suite },	{ "shared", shared_suite },
	{ "slots", slots_suite },	{ "sniff", sniff_suite },
	{ "tls_hello", tls_hello_suite }, { "http_head", http_head_suite },
	{ "proxy_head", proxy_head_suite },
	{ "udp_batch", udp_batch_suite },
	{ "udp_handover", udp_handover_suite },
	{ "policy", policy_suite },
};

/* 1 when the suite was asked for: by name, or by no name at all. */
static int wanted(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	SRunner *runner = srunner_create(NULL);
	int failed, added = 0;

	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
		if (wanted(suites[i].name, argc, argv)) {
			srunner_add_suite(runner, suites[i].make());
			added++;
		}
	if (!added) {
		fprintf(stderr, "unit: no such suite\n");
		srunner_free(runner);
		return 1;
	}
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? 1 : 0;
}
