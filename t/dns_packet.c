/*
 * t/dns_packet.c: see dns_packet.h.
 */
#include "t/dns_packet.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "dns_wire.h"

void pkt_put8(struct pkt *p, unsigned value)
{
	if (p->len >= sizeof p->b)
		abort();	/* a test that builds past 64 KiB is itself broken */
	p->b[p->len++] = (uint8_t)value;
}

void pkt_put16(struct pkt *p, unsigned value)
{
	pkt_put8(p, value >> 8);
	pkt_put8(p, value & 0xff);
}

void pkt_put32(struct pkt *p, unsigned long value)
{
	pkt_put16(p, (unsigned)(value >> 16));
	pkt_put16(p, (unsigned)(value & 0xffff));
}

void pkt_bytes(struct pkt *p, const void *data, size_t len)
{
	if (len > sizeof p->b - p->len)
		abort();
	memcpy(p->b + p->len, data, len);
	p->len += len;
}

void pkt_set16(struct pkt *p, size_t off, unsigned value)
{
	p->b[off] = (uint8_t)(value >> 8);
	p->b[off + 1] = (uint8_t)value;
}

void pkt_labels(struct pkt *p, const char *dotted)
{
	while (*dotted != '\0') {
		size_t n = strcspn(dotted, ".");

		pkt_put8(p, (unsigned)n);
		pkt_bytes(p, dotted, n);
		dotted += n;
		if (*dotted == '.')
			dotted++;
	}
}

void pkt_name(struct pkt *p, const char *dotted)
{
	pkt_labels(p, dotted);
	pkt_put8(p, 0);
}

void pkt_ptr(struct pkt *p, size_t off)
{
	pkt_put16(p, 0xc000 | (unsigned)off);
}

void pkt_header(struct pkt *p, unsigned id, unsigned flags, unsigned qd, unsigned an,
		unsigned ns, unsigned ar)
{
	pkt_put16(p, id);
	pkt_put16(p, flags);
	pkt_put16(p, qd);
	pkt_put16(p, an);
	pkt_put16(p, ns);
	pkt_put16(p, ar);
}

void pkt_question(struct pkt *p, const char *name, unsigned qtype, unsigned qclass)
{
	pkt_name(p, name);
	pkt_put16(p, qtype);
	pkt_put16(p, qclass);
}

size_t pkt_rr_begin(struct pkt *p, unsigned type, unsigned rclass)
{
	size_t mark;

	pkt_put16(p, type);
	pkt_put16(p, rclass);
	pkt_put32(p, 300);
	mark = p->len;
	pkt_put16(p, 0);
	return mark;
}

void pkt_rr_end(struct pkt *p, size_t mark)
{
	pkt_set16(p, mark, (unsigned)(p->len - mark - 2));
}

void pkt_addr(struct pkt *p, const char *text)
{
	uint8_t addr[16];

	if (inet_pton(AF_INET, text, addr) == 1)
		pkt_bytes(p, addr, 4);
	else {
		if (inet_pton(AF_INET6, text, addr) != 1)
			abort();
		pkt_bytes(p, addr, 16);
	}
}

void pkt_rr_addr_at(struct pkt *p, size_t owner_off, unsigned type, const char *addr)
{
	size_t mark;

	pkt_ptr(p, owner_off);
	mark = pkt_rr_begin(p, type, PKT_CLASS_IN);
	pkt_addr(p, addr);
	pkt_rr_end(p, mark);
}

void pkt_rr_addr_named(struct pkt *p, const char *owner, unsigned type, const char *addr)
{
	size_t mark;

	pkt_name(p, owner);
	mark = pkt_rr_begin(p, type, PKT_CLASS_IN);
	pkt_addr(p, addr);
	pkt_rr_end(p, mark);
}

void pkt_rr_cname(struct pkt *p, const char *owner, const char *target)
{
	size_t mark;

	pkt_name(p, owner);
	mark = pkt_rr_begin(p, DNS_TYPE_CNAME, PKT_CLASS_IN);
	pkt_name(p, target);
	pkt_rr_end(p, mark);
}
