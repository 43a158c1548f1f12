/*
 * t/dns_packet.h: the one DNS packet builder of the C tests: the Check
 * suite of resolve.c and the fuzz target's seeds build replies byte by byte
 * with it, bad ones included (no name is checked). Writing past 64 KiB
 * aborts: a test that does is itself broken.
 */
#ifndef WHITELIST_T_DNS_PACKET_H
#define WHITELIST_T_DNS_PACKET_H

#include <stddef.h>
#include <stdint.h>

#define PKT_CLASS_IN 1

struct pkt {
	uint8_t b[65536];
	size_t len;
};

/* Big-endian fields and raw bytes, appended; pkt_set16 overwrites at off. */
void pkt_put8(struct pkt *p, unsigned value);
void pkt_put16(struct pkt *p, unsigned value);
void pkt_put32(struct pkt *p, unsigned long value);
void pkt_bytes(struct pkt *p, const void *data, size_t len);
void pkt_set16(struct pkt *p, size_t off, unsigned value);

/*
 * The labels of a dotted name without the final zero (a pointer or pkt_put8(0)
 * follows). No checks: the tests build bad names too.
 */
void pkt_labels(struct pkt *p, const char *dotted);

/* A whole name (labels and the final zero); a compression pointer to off. */
void pkt_name(struct pkt *p, const char *dotted);
void pkt_ptr(struct pkt *p, size_t off);

/* The header: ID, flags and the four counts; a question. */
void pkt_header(struct pkt *p, unsigned id, unsigned flags, unsigned qd, unsigned an,
		unsigned ns, unsigned ar);
void pkt_question(struct pkt *p, const char *name, unsigned qtype, unsigned qclass);

/* The fixed fields of a record after its owner; returns where RDLENGTH is, for pkt_rr_end(). */
size_t pkt_rr_begin(struct pkt *p, unsigned type, unsigned rclass);

/* Sets RDLENGTH to what was written since pkt_rr_begin(). */
void pkt_rr_end(struct pkt *p, size_t mark);

/* The 4 or 16 bytes of an IP literal. */
void pkt_addr(struct pkt *p, const char *text);

/* An address record whose owner is a pointer to owner_off. */
void pkt_rr_addr_at(struct pkt *p, size_t owner_off, unsigned type, const char *addr);

/* An address record with an uncompressed owner. */
void pkt_rr_addr_named(struct pkt *p, const char *owner, unsigned type, const char *addr);

/* A CNAME record, owner and target uncompressed. */
void pkt_rr_cname(struct pkt *p, const char *owner, const char *target);

#endif
