/*
 * conf_table.h: a configuration from a table instead of the environment, for
 * the Check suites that call conf_load (config, config_ports, policy).
 */
#ifndef WHITELIST_T_CONF_TABLE_H
#define WHITELIST_T_CONF_TABLE_H

/* The environment of one case: "NAME=value" pairs, NULL-terminated. */
extern const char *const *conf_table_env;

/* conf_getter over conf_table_env: the value of name, or NULL. */
const char *conf_table_get(const char *name);

#endif
