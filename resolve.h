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

#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_AAAA 28

#define DNS_MAX_SERVERS 16
#define DNS_MAX_ADDRS 256	/* addresses kept from one answer; more are ignored */
#define DNS_MAX_NAME 255	/* presentation length of a name, RFC 1035 2.3.4 */
#define DNS_PORT 53

/* Results; everything but DNS_OK is negative. */
enum dns_status {
	DNS_OK = 0,
	DNS_ENXDOMAIN = -1,	/* the name does not exist: final */
	DNS_ENODATA = -2,	/* the name exists but has no address of the type */
	DNS_ESERVFAIL = -3,	/* SERVFAIL, REFUSED or another error rcode: next server */
	DNS_EBADREPLY = -4,	/* the reply does not parse: next server */
	DNS_EMISMATCH = -5,	/* not an answer to our query (ID or question): ignore it */
	DNS_ETRUNCATED = -6,	/* TC bit set: ask again over TCP */
	DNS_ETIMEOUT = -7,	/* no server gave a usable answer in time */
	DNS_EINVAL = -8,	/* bad argument: a name that cannot be queried, no servers */
	DNS_ESYSTEM = -9,	/* a system call failed (socket, ...); errno tells */
	DNS_ECANCELED = -10,	/* opts->cancel_fd became readable: the caller is stopping */
};

struct dns_server {
	struct sockaddr_storage addr;	/* AF_INET or AF_INET6, port included */
	socklen_t len;
};

/* Addresses of one answer, all of one family (AF_INET or AF_INET6). */
struct dns_result {
	int family;
	size_t count;
	unsigned char addrs[DNS_MAX_ADDRS][16];	/* 4 bytes used for AF_INET */
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
 * Writes a query for name/qtype with the given ID into buf (recursion desired).
 * Returns its length, or 0 when the name is invalid (empty label, label over 63,
 * name over 255) or buf is too small.
 */
size_t dns_build_query(uint8_t *buf, size_t size, uint16_t id, const char *name, uint16_t qtype);

/*
 * Parses a reply to the query (id, name, qtype): checks the ID and question,
 * then collects the addresses of qtype owned by name or by the end of its
 * CNAME chain inside the answer section.
 * DNS_OK with out->count >= 1; DNS_ENODATA when the answer holds none;
 * otherwise one of the negative codes above. Never reads outside pkt[0..len).
 * out->family follows qtype; out->count is 0 unless DNS_OK.
 */
int dns_parse_reply(const uint8_t *pkt, size_t len, uint16_t id, const char *name,
		    uint16_t qtype, struct dns_result *out);

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
