/*
 * dns_wire.c: DNS messages on the wire (RFC 1035 4.1), the pure half of the
 * resolver: a query built, a reply checked against it. The parser
 * bound-checks every read, follows CNAMEs inside the answer section and
 * only lets compression pointers move backwards, so a hostile packet can
 * neither read outside the buffer nor make it loop. resolve.c carries these
 * messages to the servers.
 */
#include "dns_wire.h"

#include <netinet/in.h>
#include <string.h>

#define DNS_QFIXED_LEN 4	/* QTYPE and QCLASS after the question name */
#define DNS_RRFIXED_LEN 10	/* TYPE, CLASS, TTL and RDLENGTH after the owner */
#define DNS_MAX_WIRE 255	/* encoded name, length octets included (RFC 1035 2.3.4) */
#define DNS_MAX_LABEL 63
#define DNS_MAX_POINTERS 128	/* a 255-octet name has at most 127 labels to point at */
#define DNS_MAX_CNAMES 16	/* longer chains are loops or abuse */
#define DNS_CLASS_IN 1
#define DNS_FLAG_QR 0x8000
#define DNS_MASK_OPCODE 0x7800
#define DNS_FLAG_TC 0x0200
#define DNS_FLAG_RD 0x0100
#define DNS_MASK_RCODE 0x000f
#define DNS_RCODE_NXDOMAIN 3
#define DNS_LABEL_POINTER 0xc0

_Static_assert(DNS_QUERY_MAX == DNS_HEADER_LEN + DNS_MAX_WIRE + DNS_QFIXED_LEN,
	       "a query is a header, one name and its type and class");

/* A name in wire form (length-prefixed labels, final zero), case kept. */
struct dns_name {
	uint8_t wire[DNS_MAX_WIRE];
	size_t len;
};

/* One resource record; its rdata stays in the packet. */
struct dns_rr {
	struct dns_name owner;
	uint16_t type;
	uint16_t rclass;
	uint32_t ttl;
	size_t rdata;		/* offset of the rdata in the packet */
	size_t rdlen;
};

/* ASCII-only lower case: DNS compares names without regard to locale. */
static uint8_t dns_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* Encodes a dotted name into wire form: 0, or -1 when it cannot be queried. */
static int dns_encode_name(const char *text, struct dns_name *out)
{
	const char *label = text;
	size_t len = 0;

	/* "" names nothing; "." alone is the root, one zero octet. */
	if (text == NULL || text[0] == '\0')
		return -1;
	if (strcmp(text, ".") == 0)
		label = "";
	while (*label != '\0') {
		size_t n = strcspn(label, ".");

		/* An empty label would put the terminating zero inside the name. */
		if (n == 0 || n > DNS_MAX_LABEL)
			return -1;
		/* Room for this label and the final zero within 255 octets. */
		if (len + 1 + n + 1 > DNS_MAX_WIRE)
			return -1;
		out->wire[len++] = (uint8_t)n;
		memcpy(out->wire + len, label, n);
		len += n;
		label += n;
		if (*label == '.')
			label++;	/* a trailing dot just ends the name */
	}
	out->wire[len++] = 0;
	out->len = len;
	return 0;
}

/* Names in wire form are equal when their labels match, ignoring ASCII case. */
static int dns_name_equal(const struct dns_name *a, const struct dns_name *b)
{
	size_t i;

	if (a->len != b->len)
		return 0;
	/* Length octets are at most 63, below 'A', so lower-casing leaves them alone. */
	for (i = 0; i < a->len; i++)
		if (dns_lower(a->wire[i]) != dns_lower(b->wire[i]))
			return 0;
	return 1;
}

/*
 * Reads the possibly compressed name at off into out. Returns the offset just
 * after the name where it appears, or 0 when it is malformed.
 */
static size_t dns_read_name(const uint8_t *pkt, size_t len, size_t off, struct dns_name *out)
{
	size_t pos = off;	/* next length octet to read */
	size_t start = off;	/* start of the stretch being read */
	size_t next = 0;	/* offset after the name, fixed by the first pointer */
	int hops = 0;

	out->len = 0;
	for (;;) {
		uint8_t c;

		if (pos >= len)
			return 0;	/* the name runs past the packet */
		c = pkt[pos];
		if ((c & DNS_LABEL_POINTER) == DNS_LABEL_POINTER) {
			size_t target;

			if (pos + 1 >= len)
				return 0;
			target = (size_t)(c & ~DNS_LABEL_POINTER) << 8 | pkt[pos + 1];
			/*
			 * A pointer must land before the stretch that holds it (so at
			 * itself is refused) and after the header, which holds no
			 * names: each jump lowers start, so pointers cannot loop.
			 */
			if (target >= start || target < DNS_HEADER_LEN || ++hops > DNS_MAX_POINTERS)
				return 0;
			if (next == 0)
				next = pos + 2;
			pos = start = target;
			continue;
		}
		/* 0x40 (extended, RFC 6891 retired it) and 0x80 are not labels. */
		if (c & DNS_LABEL_POINTER)
			return 0;
		/* So c <= 63; the decoded name must fit in 255 octets. */
		if (out->len + 1 + c > DNS_MAX_WIRE || c >= len - pos)
			return 0;
		memcpy(out->wire + out->len, pkt + pos, (size_t)1 + c);
		out->len += (size_t)1 + c;
		pos += (size_t)1 + c;
		if (c == 0)
			return next != 0 ? next : pos;
	}
}

/* Reads the record at off into rr: the offset after it, or 0 when malformed. */
static size_t dns_read_rr(const uint8_t *pkt, size_t len, size_t off, struct dns_rr *rr)
{
	off = dns_read_name(pkt, len, off, &rr->owner);
	/* The fixed fields must be there, and the rdata must end inside the packet. */
	if (off == 0 || len - off < DNS_RRFIXED_LEN)
		return 0;
	rr->type = dns_get16(pkt + off);
	rr->rclass = dns_get16(pkt + off + 2);
	rr->ttl = (uint32_t)dns_get16(pkt + off + 4) << 16 | dns_get16(pkt + off + 6);
	rr->rdlen = dns_get16(pkt + off + 8);
	rr->rdata = off + DNS_RRFIXED_LEN;
	if (rr->rdlen > len - rr->rdata)
		return 0;
	return rr->rdata + rr->rdlen;
}

/* The target of a CNAME record: 0, or -1 when its rdata is not exactly one name. */
static int dns_cname_target(const uint8_t *pkt, size_t len, const struct dns_rr *rr,
			    struct dns_name *out)
{
	size_t end = dns_read_name(pkt, len, rr->rdata, out);

	/* A name that runs past the rdata, or leaves octets after it, is malformed. */
	return end != 0 && end == rr->rdata + rr->rdlen ? 0 : -1;
}

/*
 * Checks the header and question against our query. Returns the offset of
 * the answer section, or 0 when the packet is not a reply to that query.
 */
static size_t dns_match_question(const uint8_t *pkt, size_t len, uint16_t id,
				 const struct dns_name *qname, uint16_t qtype)
{
	struct dns_name name;
	uint16_t flags;
	size_t off;

	/* Too short to carry our ID: nothing ties it to our query. */
	if (len < DNS_HEADER_LEN)
		return 0;
	flags = dns_get16(pkt + 2);
	/* Another ID, a query rather than a response, another opcode, or not one question. */
	if (dns_get16(pkt) != id || !(flags & DNS_FLAG_QR) || (flags & DNS_MASK_OPCODE) != 0 ||
	    dns_get16(pkt + 4) != 1)
		return 0;
	/* A question we cannot read cannot be shown to be ours. */
	off = dns_read_name(pkt, len, DNS_HEADER_LEN, &name);
	if (off == 0 || len - off < DNS_QFIXED_LEN)
		return 0;
	/* The same name (any case), type and class as asked, or it answers something else. */
	if (!dns_name_equal(&name, qname) || dns_get16(pkt + off) != qtype ||
	    dns_get16(pkt + off + 2) != DNS_CLASS_IN)
		return 0;
	return off + DNS_QFIXED_LEN;
}

/* Checks every answer record: 0, or -1 when one is malformed. */
static int dns_check_answers(const uint8_t *pkt, size_t len, size_t off, uint16_t ancount)
{
	struct dns_rr rr;
	struct dns_name target;
	uint16_t i;

	for (i = 0; i < ancount; i++) {
		off = dns_read_rr(pkt, len, off, &rr);
		if (off == 0)
			return -1;
		if (rr.rclass != DNS_CLASS_IN)
			continue;	/* other classes are ignored, whatever they hold */
		/* An address of the wrong size cannot be copied out as one. */
		if ((rr.type == DNS_TYPE_A && rr.rdlen != 4) ||
		    (rr.type == DNS_TYPE_AAAA && rr.rdlen != 16))
			return -1;
		if (rr.type == DNS_TYPE_CNAME && dns_cname_target(pkt, len, &rr, &target) < 0)
			return -1;
	}
	return 0;
}

/* The smaller of two TTLs: an answer lives as long as its shortest-lived record. */
static uint32_t dns_min_ttl(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/*
 * Follows the CNAME chain from name through the (checked) answer section, in
 * whatever order its records come; name ends as the last name of the chain,
 * *ttl as the smallest TTL along it. DNS_OK, or DNS_EBADREPLY when the
 * chain is longer than DNS_MAX_CNAMES.
 */
static int dns_follow_cnames(const uint8_t *pkt, size_t len, size_t off, uint16_t ancount,
			     struct dns_name *name, uint32_t *ttl)
{
	int hops = 0;
	int changed = 1;

	while (changed) {
		size_t pos = off;
		uint16_t i;

		changed = 0;
		for (i = 0; i < ancount; i++) {
			struct dns_rr rr;

			pos = dns_read_rr(pkt, len, pos, &rr);
			if (pos == 0)
				return DNS_EBADREPLY;
			if (rr.type != DNS_TYPE_CNAME || rr.rclass != DNS_CLASS_IN ||
			    !dns_name_equal(&rr.owner, name))
				continue;
			/* A chain this long is a loop (a -> b -> a) or abuse. */
			if (++hops > DNS_MAX_CNAMES || dns_cname_target(pkt, len, &rr, name) < 0)
				return DNS_EBADREPLY;
			*ttl = dns_min_ttl(*ttl, rr.ttl);
			changed = 1;
		}
	}
	return DNS_OK;
}

/* Copies the (checked) addresses of qtype owned by name: DNS_OK or DNS_ENODATA. */
static int dns_collect(const uint8_t *pkt, size_t len, size_t off, uint16_t ancount,
		       const struct dns_name *name, uint16_t qtype, struct dns_result *out)
{
	uint16_t i;

	for (i = 0; i < ancount; i++) {
		struct dns_rr rr;

		off = dns_read_rr(pkt, len, off, &rr);
		if (off == 0)
			return DNS_EBADREPLY;
		if (rr.type != qtype || rr.rclass != DNS_CLASS_IN ||
		    !dns_name_equal(&rr.owner, name))
			continue;
		if (out->count == DNS_MAX_ADDRS)
			break;	/* enough to pick from; the rest are ignored */
		out->ttl = dns_min_ttl(out->ttl, rr.ttl);
		memcpy(out->addrs[out->count++], pkt + rr.rdata, rr.rdlen);
	}
	return out->count > 0 ? DNS_OK : DNS_ENODATA;
}

int dns_parse_reply(const uint8_t *pkt, size_t len, uint16_t id, const char *name,
		    uint16_t qtype, struct dns_result *out)
{
	struct dns_name qname;
	uint16_t flags, ancount;
	size_t off;
	int status;

	out->count = 0;
	out->ttl = UINT32_MAX;
	out->family = qtype == DNS_TYPE_AAAA ? AF_INET6 : AF_INET;
	if ((qtype != DNS_TYPE_A && qtype != DNS_TYPE_AAAA) || dns_encode_name(name, &qname) < 0)
		return DNS_EINVAL;
	off = dns_match_question(pkt, len, id, &qname, qtype);
	if (off == 0)
		return DNS_EMISMATCH;
	/* From here on the packet is known to answer our question. */
	flags = dns_get16(pkt + 2);
	if (flags & DNS_FLAG_TC)
		return DNS_ETRUNCATED;
	if ((flags & DNS_MASK_RCODE) == DNS_RCODE_NXDOMAIN)
		return DNS_ENXDOMAIN;
	if ((flags & DNS_MASK_RCODE) != 0)
		return DNS_ESERVFAIL;
	ancount = dns_get16(pkt + 6);
	/* Every record is checked once, so the walks below cannot meet a bad one. */
	if (dns_check_answers(pkt, len, off, ancount) < 0)
		return DNS_EBADREPLY;
	status = dns_follow_cnames(pkt, len, off, ancount, &qname, &out->ttl);
	if (status != DNS_OK)
		return status;
	return dns_collect(pkt, len, off, ancount, &qname, qtype, out);
}

size_t dns_build_query(uint8_t *buf, size_t size, uint16_t id, const char *name, uint16_t qtype)
{
	struct dns_name qname;
	size_t len;

	if (dns_encode_name(name, &qname) < 0)
		return 0;
	len = DNS_HEADER_LEN + qname.len + DNS_QFIXED_LEN;
	if (buf == NULL || size < len)
		return 0;
	memset(buf, 0, DNS_HEADER_LEN);
	dns_put16(buf, id);
	dns_put16(buf + 2, DNS_FLAG_RD);	/* a stub asks the server to recurse */
	dns_put16(buf + 4, 1);			/* QDCOUNT; the other counts stay 0 */
	memcpy(buf + DNS_HEADER_LEN, qname.wire, qname.len);
	dns_put16(buf + DNS_HEADER_LEN + qname.len, qtype);
	dns_put16(buf + DNS_HEADER_LEN + qname.len + 2, DNS_CLASS_IN);
	return len;
}
