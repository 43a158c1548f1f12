/*
 * resolve.h: the project's own DNS stub resolver (PRE_RESOLVE=1).
 *
 * It asks the given nameservers directly, over UDP with a TCP retry when a
 * reply is truncated, and never uses the system resolver: on the internal
 * Docker network that resolver answers the proxy's own alias address.
 * A library: it never prints and never exits; every failure is a return code.
 */
#ifndef WHITELIST_RESOLVE_H
#define WHITELIST_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns_wire.h"

#define DNS_MAX_SERVERS 16
#define DNS_PORT 53

struct dns_server {
	struct sockaddr_storage addr;	/* AF_INET or AF_INET6, port included */
	socklen_t len;
};

struct dns_options {
	int timeout_ms;		/* total time for one dns_resolve() call; 0 = default 5000 */
	int attempts;		/* rounds over all servers; 0 = default 2 */
	const int *cancel_fd;	/* NULL, or an fd that cancels the call once readable (a signalfd) */
};

/* Parses an IP literal (v4 or v6) into a server on DNS_PORT. 0, or -1 when it is not an IP. */
int dns_server_parse(const char *text, struct dns_server *out);

/* Sets the port of a server (tests use unprivileged ports). */
void dns_server_set_port(struct dns_server *server, uint16_t port);

/*
 * Asks servers, in order, for name/qtype; UDP with retries and a TCP retry on
 * truncation, all within opts->timeout_ms.
 * Returns DNS_OK, DNS_ENXDOMAIN or DNS_ENODATA as soon as one server says so.
 * When every try fails: the last DNS_ESERVFAIL or DNS_EBADREPLY a server gave;
 * else DNS_ETIMEOUT; DNS_ESYSTEM (errno set) only when every try failed
 * locally. DNS_EINVAL: qtype not A/AAAA, a bad name, no (or over
 * DNS_MAX_SERVERS) servers. opts may be NULL for the defaults.
 */
int dns_query(const char *name, uint16_t qtype, const struct dns_server *servers,
	      size_t nservers, const struct dns_options *opts, struct dns_result *out);

/*
 * A records first; AAAA when the name has none. An A query that failed at
 * every server (SERVFAIL, REFUSED, a broken reply) counts as "no A" when the
 * AAAA query succeeds: some servers refuse A for names that only have AAAA.
 * Otherwise the A query's status, or the AAAA query's after DNS_ENODATA.
 */
int dns_resolve(const char *name, const struct dns_server *servers, size_t nservers,
		const struct dns_options *opts, struct dns_result *out);

/* A short text for a status, for the caller's log line. */
const char *dns_strerror(int status);

#endif
