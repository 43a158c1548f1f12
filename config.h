/*
 * config.h: the environment variables of the tecnativa/whitelist image,
 * parsed once into one struct. Shared by the proxy and the healthcheck,
 * which run with the same environment and must agree on every default.
 */
#ifndef WHITELIST_CONFIG_H
#define WHITELIST_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "log.h"
#include "resolve.h"

struct policy;

#define CONF_MAX_PORTS 4096	/* listening sockets in all: a range is one per port */
#define CONF_MAX_ENTRIES 1024	/* PORT entries: one listener process each */
#define CONF_PORT_TEXT 12	/* an entry as the metrics name it: "65535-65535", "8443:443", "*" */
#define CONF_ERR_SIZE 256
#define CONF_URL_SIZE 2048
#define CONF_MAX_ALLOW 256	/* ALLOW_FROM networks, host names' addresses included */
#define CONF_TARGET_SIZE 254	/* a host name of 253, or an IP literal */
#define CONF_MAX_ROUTES 32	/* TARGET entries of routed mode */
#define CONF_TARGETS_SIZE 4096	/* TARGET as a whole */
#define CONF_MAX_USERS 64	/* PROXY_USERS and PROXY_USERS_FILE together */
#define CONF_USER_SIZE 256	/* "name:password" and its NUL */

enum conf_mode { CONF_MODE_TCP, CONF_MODE_UDP };

/* What a TARGET entry of routed mode covers. */
enum conf_route_kind {
	CONF_ROUTE_EXACT,	/* "api.example.com": that name */
	CONF_ROUTE_SUFFIX,	/* "*.example.com": names ending in ".example.com", not the domain */
	CONF_ROUTE_ANY,		/* "*": every name */
};

struct conf_route {
	enum conf_route_kind kind;
	/* Lower case, no trailing dot: "api.example.com", "*.example.com", "*" (the metrics' label). */
	char pattern[CONF_TARGET_SIZE + 2];
};

/*
 * One PORT entry, one listener process: "443" (first = last, to = 0),
 * "8443:443" (listen on 8443, to = 443), "20000-20100" (each port to
 * itself), "*" (every TCP port: first = last = 0, the socket's port is
 * chosen when it is bound; every_port.h).
 */
struct conf_port {
	uint16_t first, last;		/* the listening ports, inclusive */
	uint16_t to;			/* "L:T": T; 0: each port to itself */
	char text[CONF_PORT_TEXT];	/* as written, canonical: the metrics' and healthcheck's name */
};

/* One ALLOW_FROM network: an address and how many leading bits must match. */
struct conf_net {
	int family;		/* AF_INET (4 bytes of addr used) or AF_INET6 */
	unsigned prefix;	/* 0-32 or 0-128 */
	uint8_t addr[16];	/* host bits cleared */
};

struct conf_allow {
	const char *text;	/* ALLOW_FROM as given; NULL when empty (everyone) */
	int has_names;		/* some words are host names: names.h looks them up */
	size_t count;
	struct conf_net nets[CONF_MAX_ALLOW];
};

/* One PROXY_USERS pair, as Basic sends it decoded: "name:password". */
struct conf_user {
	char pair[CONF_USER_SIZE];
	size_t len;		/* of pair */
	size_t name_len;	/* the name before the first ':' */
};

struct conf {
	/*
	 * The single TARGET (a host name or IP literal, brackets removed); in
	 * routed mode the first exact entry, which the healthcheck probes, or
	 * the first entry when all are wildcards. Never empty.
	 */
	const char *target;
	char target_text[CONF_TARGET_SIZE + 2];
	char targets[CONF_TARGETS_SIZE];	/* every entry, space-separated: for logs, metrics */
	int routed;			/* two or more entries, or a wildcard: route by name */
	struct conf_route routes[CONF_MAX_ROUTES];
	size_t nroutes;
	long route_timeout;		/* ROUTE_TIMEOUT: seconds to wait for the name */
	int route_allow_private;	/* ROUTE_ALLOW_PRIVATE: wildcards may lead to private ranges */
	/* PORT, in its order; then, with CONNECT_PORT, its listener's entry (conf_listener_entries). */
	struct conf_port entries[CONF_MAX_ENTRIES + 1];
	size_t nentries;		/* PORT's */
	int every_port;			/* PORT=*: the one entry, TCP, redirected (CAP_NET_ADMIN) */
	uint16_t ports[CONF_MAX_PORTS];	/* the listening ports, in PORT's order, ranges expanded */
	size_t nports;			/* 0 with PORT=* */
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
	struct conf_allow allow;	/* ALLOW_FROM */
	uint16_t metrics_port;		/* 0 = no metrics */
	long resolve_interval;		/* seconds between PRE_RESOLVE lookups; 0 = once */
	enum log_format log_format;	/* LOG_FORMAT; read first, so set even when conf_load fails */
	const struct policy *policy;	/* POLICY (policy.h), set by main after conf_load; NULL: none */
	uint16_t connect_port;		/* CONNECT_PORT: explicit proxy mode; 0 = off */
	struct conf_user users[CONF_MAX_USERS];	/* PROXY_USERS, then PROXY_USERS_FILE's */
	size_t nusers;			/* 0: CONNECT_PORT asks for no credentials */
};

/* Where the variables come from: getenv in the programs, a table in the tests. */
typedef const char *(*conf_getter)(const char *name);

/*
 * Fills conf from the variables. 0 on success; -1 with one line in err that
 * names the variable and the bad value, e.g. `PORT: "http" is not a port number`.
 * conf->log_format is read first: the line that reports the error can use it.
 */
int conf_load(struct conf *conf, conf_getter get, char *err, size_t errsize);

/* Replaces every "$TARGET" in template; -1 when the result does not fit. */
int conf_expand_target(const char *template, const char *target, char *out, size_t size);

/* $TMPDIR/name (TMPDIR unset or empty: /tmp); -1 when it does not fit. */
int conf_temp_path(char *out, size_t size, const char *name);

/* Writes one error line into err (cut at size) and returns -1: `return conf_fail(...)`. */
int conf_fail(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Checks one TARGET entry: a host name (RFC 1123 labels, '_' allowed, one
 * trailing dot, any case) or a canonical IPv4 / IPv6 literal ("[v6]" is
 * taken as the literal). Copies it, brackets removed, into out. -1 with one
 * line in err saying why not: a port, an empty or long label, non-ASCII, or
 * a number the C library would read as another address ("010.0.0.1").
 */
int conf_check_host(const char *text, char *out, size_t out_size, char *err, size_t size);

/*
 * Routed mode: the entry that covers name (lower case, no trailing dot):
 * an exact entry first, then the longest suffix, then "*". Its index in
 * conf->routes, or -1 when none does.
 */
int conf_route_match(const struct conf *conf, const char *name);

/* 1 when port is one of conf's listening ports (never with PORT=*). */
int conf_has_port(const struct conf *conf, uint16_t port);

/*
 * The index of a TARGET entry written as in TARGET (any case, a trailing dot;
 * the single TARGET of classic mode is index 0): in conf->routes in routed
 * mode. -1 when TARGET has no such entry.
 */
int conf_entry_index(const struct conf *conf, const char *entry);

/* 1 when a connection may be forwarded to port on TARGET: an entry's target port, or PORT=*. */
int conf_has_target_port(const struct conf *conf, uint16_t port);

/*
 * The entries that get a listener: PORT's, then CONNECT_PORT's
 * (entries[nentries], set by conf_load when CONNECT_PORT is).
 */
size_t conf_listener_entries(const struct conf *conf);

/* 1 when entry is CONNECT_PORT's (its relays read an explicit-proxy head). */
int conf_is_connect_entry(const struct conf *conf, size_t entry);

/*
 * 1 when word can be a host name (container names included: letters,
 * digits, '-', '_', '.', at least one letter, so "10.1" is not one).
 */
int conf_is_host_name(const char *word);

/* --- explicit proxy mode (config_proxy.c) --- */

/*
 * CONNECT_PORT, PROXY_USERS and PROXY_USERS_FILE (read now, as the proxy
 * starts). Called by conf_load once PORT, MODE and METRICS_PORT are in
 * conf; -1 with err as conf_load.
 */
int conf_load_proxy(struct conf *conf, conf_getter get, char *err, size_t size);

/* --- ALLOW_FROM's networks and the match (config_allow.c) --- */

enum conf_net_status { CONF_NET_OK = 0, CONF_NET_NOT_IP = -1, CONF_NET_BAD_PREFIX = -2 };

/*
 * Parses "198.18.1.0/24", "2001:db8::/32" or a lone address (a /32 or /128).
 * A v4-mapped v6 network of /96 or longer becomes the v4 network it maps,
 * so it matches v4 clients. Host bits are cleared.
 */
int conf_parse_net(const char *text, struct conf_net *out);

/* 1 when net (an address: a /32 or /128) is inside one of allow's networks. */
int conf_allow_match_net(const struct conf_allow *allow, const struct conf_net *net);

/*
 * 1 when a client may connect: ALLOW_FROM is empty, the client is on
 * loopback (the healthcheck, from inside the container), or it is in one of
 * the networks. A v4 client on the dual-stack socket (::ffff:a.b.c.d) is
 * matched as the v4 address it is. Runs once per accept or new UDP client.
 */
int conf_allow_match(const struct conf_allow *allow, const struct sockaddr *addr);

/* --- PORT's entries (config_ports.c) --- */

/*
 * Parses PORT: entries separated by blanks, each "P", "L:T", "A-B" or "*"
 * (alone). At most max entries and CONF_MAX_PORTS listening ports in all.
 * The number of entries, or -1 with one line in err naming PORT and the
 * entries at fault: not a number, a reversed range, a port twice, two
 * entries that overlap, "*" beside another entry, an empty list.
 */
int conf_ports_parse(const char *text, struct conf_port *entries, size_t max, char *err,
		     size_t size);

/* How many listening sockets entry has: last - first + 1 (1 for "*"). */
size_t conf_port_sockets(const struct conf_port *entry);

/* Where a connection to listen_port of entry goes on TARGET: T of "L:T", else the port itself. */
uint16_t conf_port_target(const struct conf_port *entry, uint16_t listen_port);

#endif
