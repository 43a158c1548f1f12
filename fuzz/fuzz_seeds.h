/*
 * fuzz/fuzz_seeds.h: a target's own seeds, a few inputs written as files for
 * the FUZZ_WRITE_SEEDS hook (fuzz/run.sh), shared by fuzz/fuzz_http_head.c
 * and fuzz/fuzz_proxy_head.c.
 */
#ifndef WHITELIST_FUZZ_FUZZ_SEEDS_H
#define WHITELIST_FUZZ_FUZZ_SEEDS_H

#include <stdio.h>
#include <stdlib.h>

/* Writes each of count strings as DIR/head0, DIR/head1...; aborts when it cannot. */
static void fuzz_write_heads(const char *dir, const char *const *heads, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		char path[1024];
		FILE *file;

		snprintf(path, sizeof path, "%s/head%zu", dir, i);
		file = fopen(path, "wb");
		if (file == NULL)
			abort();
		fputs(heads[i], file);
		fclose(file);
	}
}

#endif
