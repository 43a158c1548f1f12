// fuzz-sources: config.c config_allow.c config_proxy.c resolve.c dns_wire.c addr.c process.c
/*
 * fuzz/fuzz_config.c: libFuzzer target for the configuration parser.
 *
 * The input is an environment: lines NAME=VALUE. conf_load() reads it
 * through a table getter, as the programs read getenv(). Contracts checked
 * on every input: success leaves ports in 1-65535, no port twice, at least
 * one port and one nameserver, limits in range; failure leaves one line
 * that names a variable. Built and run by fuzz/run.sh.
 */
#include "config.h"

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
	if (conf->nports == 0 || conf->nports > CONF_MAX_PORTS || conf->nnameservers == 0 ||
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
	if (conf_load(&conf, fuzz_get, err, sizeof err) == 0)
		fuzz_check_success(&conf);
	else if (!strchr(err, ':') || strchr(err, '\n'))
		abort();	/* an error names its variable, on one line */
	free(text);
	return 0;
}
