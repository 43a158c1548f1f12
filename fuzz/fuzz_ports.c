// fuzz-sources: config_ports.c
/*
 * fuzz/fuzz_ports.c: libFuzzer target for PORT's parser (config_ports.c),
 * the input taken as PORT's value. Contracts checked on every input:
 * success gives 1..max entries, each named (a text that ends inside its
 * buffer), "*" alone, ranges in order, no listening port in two entries,
 * CONF_MAX_PORTS sockets at most; failure leaves one line that names PORT.
 * Built and run by fuzz/run.sh.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_ENTRIES 64	/* small, so that the "too many entries" path is reached */

static void fuzz_check_entries(const struct conf_port *entries, size_t count)
{
	size_t sockets = 0;

	if (count == 0 || count > FUZZ_MAX_ENTRIES)
		abort();
	for (size_t i = 0; i < count; i++) {
		const struct conf_port *entry = &entries[i];

		if (!memchr(entry->text, '\0', sizeof entry->text) || !entry->text[0])
			abort();
		if (entry->first == 0 && (count != 1 || strcmp(entry->text, "*") != 0))
			abort();
		if (entry->first > entry->last || (entry->to && entry->first != entry->last))
			abort();
		sockets += conf_port_sockets(entry);
		for (size_t j = 0; j < i; j++)
			if (entries[j].first <= entry->last && entry->first <= entries[j].last)
				abort();
	}
	if (sockets > CONF_MAX_PORTS)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct conf_port entries[FUZZ_MAX_ENTRIES];
	char err[CONF_ERR_SIZE];
	char *text = malloc(size + 1);
	int count;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	count = conf_ports_parse(text, entries, FUZZ_MAX_ENTRIES, err, sizeof err);
	if (count >= 0)
		fuzz_check_entries(entries, (size_t)count);
	else if (strncmp(err, "PORT: ", 6) != 0 || strchr(err, '\n'))
		abort();	/* an error names PORT, on one line */
	free(text);
	return 0;
}
