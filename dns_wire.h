/*
 * dns_wire.h: DNS messages on the wire, the pure half of the resolver:
 * queries built and replies parsed from byte buffers, with every read
 * bound-checked. resolve.h carries them to NAMESERVERS.
 */
#ifndef WHITELIST_DNS_WIRE_H
#define WHITELIST_DNS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_AAAA 28

#define DNS_MAX_ADDRS 256	/* addresses kept from one answer; more are ignored */
#define DNS_MAX_NAME 255	/* presentation length of a name, RFC 1035 2.3.4 */
#define DNS_HEADER_LEN 12
#define DNS_QUERY_MAX (DNS_HEADER_LEN + 255 + 4)	/* header, a name, its type and class */
#define DNS_MSG_MAX 65535	/* the TCP length prefix is 16 bits */

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

/* Addresses of one answer, all of one family (AF_INET or AF_INET6). */
struct dns_result {
	int family;
	size_t count;
	uint32_t ttl;		/* the smallest TTL of the records that led to the addresses */
	unsigned char addrs[DNS_MAX_ADDRS][16];	/* 4 bytes used for AF_INET */
};

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

static inline uint16_t dns_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void dns_put16(uint8_t *p, uint16_t value)
{
	p[0] = (uint8_t)(value >> 8);
	p[1] = (uint8_t)value;
}

#endif
