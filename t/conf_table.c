/* conf_table.c: see conf_table.h. */
#include "conf_table.h"

#include <string.h>

const char *const *conf_table_env;

const char *conf_table_get(const char *name)
{
	size_t len = strlen(name);

	for (const char *const *entry = conf_table_env; entry && *entry; entry++)
		if (strncmp(*entry, name, len) == 0 && (*entry)[len] == '=')
			return *entry + len + 1;
	return NULL;
}
