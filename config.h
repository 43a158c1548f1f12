/*
 * config.h: the environment variables of the tecnativa/whitelist image,
 * parsed once into one struct. Shared by the proxy and the healthcheck,
 * which run with the same environment and must agree on every default.
 */
#ifndef WHITELIST_CONFIG_H
#define WHITELIST_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "resolve.h"

#define CONF_MAX_PORTS 1024	/* one process each; a range like 8000-9000 fits */
#define CONF_ERR_SIZE 256
#define CONF_URL_SIZE 2048

enum conf_mode { CONF_MODE_TCP, CONF_MODE_UDP };

struct conf {
	const char *target;		/* host name or IP literal, never empty */
	uint16_t ports[CONF_MAX_PORTS];	/* in PORT's order, ranges expanded */
	size_t nports;
	enum conf_mode mode;
	long max_connections;		/* per port; 0 = no limit (socat max-children=0) */
	int pre_resolve;
	struct dns_server nameservers[DNS_MAX_SERVERS];
	size_t nnameservers;
	int udp_answers;
	long udp_timeout;		/* seconds without traffic that end a session; 0 = never */
	int verbose;			/* 0, 1 (connections), 2 (data dumps) */
	long run_uid, run_gid;		/* RUN_AS: who the proxy becomes after binding, as root */
	int http_healthcheck;
	char http_url[CONF_URL_SIZE];	/* $TARGET already replaced */
	long http_timeout_ms;
	int smtp_healthcheck;
	char smtp_url[CONF_URL_SIZE];
	const char *smtp_command;
	long smtp_timeout_ms;
};

/* Where the variables come from: getenv in the programs, a table in the tests. */
typedef const char *(*conf_getter)(const char *name);

/*
 * Fills conf from the variables. 0 on success; -1 with one line in err that
 * names the variable and the bad value, e.g. `PORT: "http" is not a port number`.
 */
int conf_load(struct conf *conf, conf_getter get, char *err, size_t errsize);

/* Replaces every "$TARGET" in template; -1 when the result does not fit. */
int conf_expand_target(const char *template, const char *target, char *out, size_t size);

/*
 * Where the proxy (main process pid) records the address it forwards to with
 * PRE_RESOLVE=1, for the healthcheck: $TMPDIR/whitelist-PID.target.
 * The temp dir is the one place a read-only container still writes.
 */
int conf_target_file(char *out, size_t size, long pid);

/* 1 when port is one of conf's ports. */
int conf_has_port(const struct conf *conf, uint16_t port);

#endif
