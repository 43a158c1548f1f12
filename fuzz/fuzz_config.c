// fuzz-sources: config.c config_allow.c config_ports.c config_proxy.c policy.c resolve.c dns_wire.c addr.c process.c
/*
 * fuzz/fuzz_config.c: libFuzzer target for the configuration parser.
 *
 * The input is an environment: lines NAME=VALUE. conf_load() reads it
 * through a table getter, as the programs read getenv(). Contracts checked
 * on every input: success leaves ports in 1-65535, no port twice, at least
 * one entry (one port, or PORT=*) and one nameserver, limits in range; failure leaves one line
 * that names a variable. Then POLICY (policy_parse, against that TARGET and
 * ALLOW_FROM): success leaves every pair's client and entry in range, only
 * named entries that TARGET has, unique names; failure names POLICY or
 * ALLOW_FROM. Built and run by fuzz/run.sh.
 */
#include "config.h"
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_VARS 32

static char *fuzz_names[FUZZ_VARS], *fuzz_values[FUZZ_VARS];
static size_t fuzz_count;

static const char *fuzz_get(const char *name)
{
	for (size_t i = 0; i < fuzz_count; i++)
		if (strcmp(fuzz_names[i], name) == 0)
			return fuzz_values[i];
	return NULL;
}

/* Splits a copy of the input into NAME=VALUE lines (in place). */
static void fuzz_split(char *text)
{
	fuzz_count = 0;
	for (char *line = strtok(text, "\n"); line && fuzz_count < FUZZ_VARS;
	     line = strtok(NULL, "\n")) {
		char *equals = strchr(line, '=');

		if (!equals)
			continue;
		*equals = '\0';
		fuzz_names[fuzz_count] = line;
		fuzz_values[fuzz_count++] = equals + 1;
	}
}

static void fuzz_check_success(const struct conf *conf)
{
	if ((conf->nports == 0) != conf->every_port || conf->nports > CONF_MAX_PORTS ||
	    conf->nentries == 0 || conf->nentries > CONF_MAX_ENTRIES || conf->nnameservers == 0 ||
	    !conf->target || !*conf->target || conf->max_connections < 0 ||
	    conf->udp_timeout < 0 || conf->verbose < 0 || conf->verbose > 2)
		abort();
	for (size_t i = 0; i < conf->nports; i++) {
		if (conf->ports[i] == 0)
			abort();
		for (size_t j = i + 1; j < conf->nports; j++)
			if (conf->ports[i] == conf->ports[j])
				abort();
	}
	if (!memchr(conf->http_url, '\0', sizeof conf->http_url))
		abort();
}

static void fuzz_check_policy(const struct conf *conf, const struct policy *policy)
{
	size_t entries = conf->routed ? conf->nroutes : 1;

	if (policy->nclients > POLICY_MAX_CLIENTS || policy->ngrants > POLICY_MAX_GRANTS ||
	    policy->nnames > POLICY_MAX_NAMES || (entries < 32 && policy->named >> entries) ||
	    (!policy->text && (policy->ngrants || policy->named)))
		abort();
	for (size_t i = 0; i < policy->ngrants; i++)
		if (policy->grants[i].client >= policy->nclients ||
		    policy->grants[i].entry >= entries ||
		    !(policy->named & (UINT32_C(1) << policy->grants[i].entry)))
			abort();
	for (size_t i = 0; i < policy->nclients; i++)
		if (policy->clients[i].kind == POLICY_CLIENT_NAME &&
		    policy->clients[i].name >= policy->nnames)
			abort();
	for (size_t i = 0; i < policy->nnames; i++)
		for (size_t j = i + 1; j < policy->nnames; j++)
			if (strcmp(policy->names[i], policy->names[j]) == 0)
				abort();
}

/* FUZZ_WRITE_SEEDS: environments with a POLICY, so the fuzzer starts inside it. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const seeds[] = {
		"TARGET=a.test b.test *.w.test\nALLOW_FROM=cron 198.18.1.0/24\n"
		"POLICY=web 198.18.1.2 = a.test; billing user:ci 2001:db8::/64 = *.w.test B.test.\n",
		"TARGET=smtp.test\nPOLICY=mailer = smtp.test\n",
		"TARGET=*\nPOLICY= = *;web =;x\n",
	};
	const char *dir = getenv("FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	if (dir == NULL)
		return 0;
	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		char path[4096];
		FILE *file;

		snprintf(path, sizeof path, "%s/policy-%zu", dir, i);
		if ((file = fopen(path, "w"))) {
			fputs(seeds[i], file);
			fclose(file);
		}
	}
	exit(0);
}

/* POLICY against the configuration just loaded. */
static void fuzz_policy(const struct conf *conf)
{
	static struct policy policy;
	char err[CONF_ERR_SIZE];

	if (policy_parse(&policy, fuzz_get("POLICY"), conf, err, sizeof err) == 0)
		fuzz_check_policy(conf, &policy);
	else if ((strncmp(err, "POLICY: ", 8) != 0 && strncmp(err, "ALLOW_FROM: ", 12) != 0) ||
		 strchr(err, '\n'))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf conf;
	char err[CONF_ERR_SIZE];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_split(text);
	if (conf_load(&conf, fuzz_get, err, sizeof err) == 0) {
		fuzz_check_success(&conf);
		fuzz_policy(&conf);
	} else if (!strchr(err, ':') || strchr(err, '\n'))
		abort();	/* an error names its variable, on one line */
	free(text);
	return 0;
}
