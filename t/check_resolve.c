/*
 * t/check_resolve.c: the Check suite for resolve.c, the DNS stub resolver.
 *
 * Replies are built byte by byte with a small packet builder (header,
 * question, records, compression pointers) and fed to dns_parse_reply()
 * from a buffer of their exact size, so a sanitizer catches any read past
 * the end. The tables cover the hostile cases: wrong ID or question, TC,
 * error rcodes, CNAME chains and loops, pointer loops, oversized labels and
 * names, every truncation of valid replies and single-byte corruptions.
 * The network cases fork tiny scripted UDP/TCP responders on loopback ports
 * and run dns_query() against them: decoys, dead servers, SERVFAIL, the TCP
 * retry, NXDOMAIN and the total timeout. Every responder is killed and reaped.
 */
#include "resolve.h"
#include "t/dns_packet.h"

#include <arpa/inet.h>
#include <check.h>

#include "t/check.h"
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define QNAME "example.com"
#define QID 0x1234
#define Q_OFF 12		/* the question name, target of most pointers */
#define ANS_OFF (12 + 13 + 4)	/* answer section after the QNAME question */
#define CLASS_IN PKT_CLASS_IN
#define CLASS_CH 3
#define TYPE_MX 15
#define TYPE_TXT 16
#define TYPE_OPAQUE 99		/* a type the parser must skip, rdata left raw */
#define FL_QR 0x8000
#define FL_TC 0x0200
#define FL_RD 0x0100
#define FL_RA 0x0080
#define RCODE_FORMERR 1
#define RCODE_SERVFAIL 2
#define RCODE_NXDOMAIN 3
#define RCODE_NOTIMP 4
#define RCODE_REFUSED 5

/* Header and the QNAME question of a reply to QID. */
static void reply_start(struct pkt *p, unsigned qtype, unsigned flags, unsigned ancount)
{
	pkt_header(p, QID, FL_QR | FL_RD | FL_RA | flags, 1, ancount, 0, 0);
	pkt_question(p, QNAME, qtype, CLASS_IN);
}

static void addr_text(int family, const unsigned char *addr, char *buf, size_t size)
{
	ck_assert_ptr_nonnull(inet_ntop(family, addr, buf, (socklen_t)size));
}

/* Parses the first len octets of p from a heap copy of exactly that size. */
static int parse_exact(const struct pkt *p, size_t len, const char *name, uint16_t qtype,
		       struct dns_result *out)
{
	uint8_t *copy = malloc(len > 0 ? len : 1);
	int status;

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, p->b, len);
	status = dns_parse_reply(copy, len, QID, name, qtype, out);
	free(copy);
	return status;
}

static long long now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- reply builders for the parse table ---- */

static void b_plain_a(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 1);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "192.0.2.1");
}

static void b_several_a(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 3);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "192.0.2.1");
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "192.0.2.2");
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "192.0.2.3");
}

static void b_aaaa(struct pkt *p)
{
	reply_start(p, DNS_TYPE_AAAA, 0, 2);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_AAAA, "2001:db8::1");
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_AAAA, "2001:db8::2");
}

static void b_owner_plain(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 1);
	pkt_rr_addr_named(p, QNAME, DNS_TYPE_A, "192.0.2.1");
}

static void b_owner_case(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 1);
	pkt_rr_addr_named(p, "ExAmPlE.COM", DNS_TYPE_A, "192.0.2.1");
}

static void b_question_case(struct pkt *p)
{
	pkt_header(p, QID, FL_QR | FL_RD | FL_RA, 1, 1, 0, 0);
	pkt_question(p, "EXAMPLE.Com", DNS_TYPE_A, CLASS_IN);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "192.0.2.1");
}

/* example.com CNAME www.example.com (compressed); www.example.com (a pointer to that) A. */
static void b_compressed(struct pkt *p)
{
	size_t mark, www;

	reply_start(p, DNS_TYPE_A, 0, 2);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, DNS_TYPE_CNAME, CLASS_IN);
	www = p->len;
	pkt_labels(p, "www");
	pkt_ptr(p, Q_OFF);
	pkt_rr_end(p, mark);
	pkt_rr_addr_at(p, www, DNS_TYPE_A, "192.0.2.7");
}

/* A suffix pointer: "mail" then a pointer into the middle of a name ("example.com" -> "com"). */
static void b_suffix_ptr(struct pkt *p)
{
	size_t mark;

	reply_start(p, DNS_TYPE_A, 0, 2);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, DNS_TYPE_CNAME, CLASS_IN);
	pkt_labels(p, "mail");
	pkt_ptr(p, Q_OFF + 8);	/* "\3com\0" */
	pkt_rr_end(p, mark);
	pkt_labels(p, "mail");
	pkt_ptr(p, Q_OFF + 8);
	mark = pkt_rr_begin(p, DNS_TYPE_A, CLASS_IN);
	pkt_addr(p, "192.0.2.8");
	pkt_rr_end(p, mark);
}

static void b_cname_chain3(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 4);
	pkt_rr_cname(p, QNAME, "a.example.net");
	pkt_rr_cname(p, "a.example.net", "b.example.org");
	pkt_rr_cname(p, "b.example.org", "c.example.org");
	pkt_rr_addr_named(p, "c.example.org", DNS_TYPE_A, "192.0.2.3");
}

static void b_cname_unordered(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 5);
	pkt_rr_addr_named(p, "c.example.org", DNS_TYPE_A, "192.0.2.3");
	pkt_rr_cname(p, "b.example.org", "c.example.org");
	pkt_rr_addr_named(p, "b.example.org", DNS_TYPE_A, "6.6.6.6");
	pkt_rr_cname(p, QNAME, "a.example.net");
	pkt_rr_cname(p, "a.example.net", "b.example.org");
}

static void b_cname_aaaa(struct pkt *p)
{
	reply_start(p, DNS_TYPE_AAAA, 0, 2);
	pkt_rr_addr_named(p, "v6.example.net", DNS_TYPE_AAAA, "2001:db8::6");
	pkt_rr_cname(p, QNAME, "v6.example.net");
}

/* The alias's own A record is not the answer: only the end of the chain counts. */
static void b_cname_alias_addr(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 2);
	pkt_rr_cname(p, QNAME, "x.example.net");
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "6.6.6.6");
}

static void b_cname_loop(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 3);
	pkt_rr_cname(p, QNAME, "a.example.net");
	pkt_rr_cname(p, "a.example.net", QNAME);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "6.6.6.6");
}

static void b_cname_self(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 2);
	pkt_rr_cname(p, QNAME, QNAME);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "6.6.6.6");
}

/* QNAME -> h1 -> ... -> h<hops-1> -> end, then end A. */
static void cname_chain(struct pkt *p, int hops)
{
	char owner[32], target[32];
	int i;

	reply_start(p, DNS_TYPE_A, 0, (unsigned)hops + 1);
	for (i = 0; i < hops; i++) {
		snprintf(owner, sizeof owner, i == 0 ? QNAME : "h%d.example.net", i);
		snprintf(target, sizeof target,
			 i == hops - 1 ? "end.example.net" : "h%d.example.net", i + 1);
		pkt_rr_cname(p, owner, target);
	}
	pkt_rr_addr_named(p, "end.example.net", DNS_TYPE_A, "192.0.2.16");
}

static void b_cname_16(struct pkt *p)
{
	cname_chain(p, 16);
}

static void b_cname_17(struct pkt *p)
{
	cname_chain(p, 17);
}

/* CNAME rdata one octet longer than its name. */
static void b_cname_trailing(struct pkt *p)
{
	size_t mark;

	reply_start(p, DNS_TYPE_A, 0, 1);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, DNS_TYPE_CNAME, CLASS_IN);
	pkt_name(p, "x.example.net");
	pkt_put8(p, 0);
	pkt_rr_end(p, mark);
}

/* CNAME rdata shorter than its name: the name runs into the next record. */
static void b_cname_overrun(struct pkt *p)
{
	size_t mark;

	reply_start(p, DNS_TYPE_A, 0, 2);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, DNS_TYPE_CNAME, CLASS_IN);
	pkt_name(p, "x.example.net");
	pkt_rr_end(p, mark);
	pkt_set16(p, mark, 3);
	pkt_rr_addr_named(p, "x.example.net", DNS_TYPE_A, "6.6.6.6");
}

static void b_cname_other_class(struct pkt *p)
{
	size_t mark;

	reply_start(p, DNS_TYPE_A, 0, 2);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, DNS_TYPE_CNAME, CLASS_CH);
	pkt_name(p, "x.example.net");
	pkt_rr_end(p, mark);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "192.0.2.1");
}

static void b_tc(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, FL_TC, 0);
}

static void b_tc_with_answer(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, FL_TC, 1);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "192.0.2.1");
}

static void b_tc_cut(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, FL_TC, 5);
	pkt_ptr(p, Q_OFF);
}

static void b_wrong_id(struct pkt *p)
{
	b_plain_a(p);
	pkt_set16(p, 0, QID ^ 0x0100);
}

static void b_qr_clear(struct pkt *p)
{
	b_plain_a(p);
	pkt_set16(p, 2, FL_RD);
}

static void b_opcode(struct pkt *p)
{
	b_plain_a(p);
	pkt_set16(p, 2, FL_QR | FL_RD | FL_RA | 2 << 11);
}

static void b_qd0(struct pkt *p)
{
	pkt_header(p, QID, FL_QR | FL_RD | FL_RA, 0, 1, 0, 0);
	pkt_rr_addr_named(p, QNAME, DNS_TYPE_A, "6.6.6.6");
}

static void b_qd0_refused(struct pkt *p)
{
	pkt_header(p, QID, FL_QR | FL_RD | RCODE_REFUSED, 0, 0, 0, 0);
}

static void b_qd2(struct pkt *p)
{
	pkt_header(p, QID, FL_QR | FL_RD | FL_RA, 2, 1, 0, 0);
	pkt_question(p, QNAME, DNS_TYPE_A, CLASS_IN);
	pkt_question(p, QNAME, DNS_TYPE_A, CLASS_IN);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "6.6.6.6");
}

static void question_reply(struct pkt *p, const char *name, unsigned qtype, unsigned qclass)
{
	pkt_header(p, QID, FL_QR | FL_RD | FL_RA, 1, 1, 0, 0);
	pkt_question(p, name, qtype, qclass);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "6.6.6.6");
}

static void b_wrong_qname(struct pkt *p)
{
	question_reply(p, "example.org", DNS_TYPE_A, CLASS_IN);
}

static void b_qname_longer(struct pkt *p)
{
	question_reply(p, "www.example.com", DNS_TYPE_A, CLASS_IN);
}

static void b_qname_shorter(struct pkt *p)
{
	question_reply(p, "com", DNS_TYPE_A, CLASS_IN);
}

static void b_qname_joined(struct pkt *p)
{
	question_reply(p, "exam.ple.com", DNS_TYPE_A, CLASS_IN);
}

static void b_wrong_qtype(struct pkt *p)
{
	question_reply(p, QNAME, DNS_TYPE_AAAA, CLASS_IN);
}

static void b_wrong_qclass(struct pkt *p)
{
	question_reply(p, QNAME, DNS_TYPE_A, CLASS_CH);
}

static void b_short_header(struct pkt *p)
{
	b_plain_a(p);
	p->len = 11;
}

static void b_empty_packet(struct pkt *p)
{
	p->len = 0;
}

static void b_question_ptr(struct pkt *p)
{
	pkt_header(p, QID, FL_QR | FL_RD | FL_RA, 1, 0, 0, 0);
	pkt_ptr(p, 4);
	pkt_put16(p, DNS_TYPE_A);
	pkt_put16(p, CLASS_IN);
}

/* An A record whose owner is the raw octets given. */
static void raw_owner_reply(struct pkt *p, const uint8_t *owner, size_t len)
{
	size_t mark;

	reply_start(p, DNS_TYPE_A, 0, 1);
	pkt_bytes(p, owner, len);
	mark = pkt_rr_begin(p, DNS_TYPE_A, CLASS_IN);
	pkt_addr(p, "6.6.6.6");
	pkt_rr_end(p, mark);
}

static void b_ptr_self(struct pkt *p)
{
	uint8_t owner[2] = { 0xc0, ANS_OFF };

	raw_owner_reply(p, owner, sizeof owner);
}

/* "x" then a pointer back to that "x": backwards, yet a loop. */
static void b_ptr_back_loop(struct pkt *p)
{
	uint8_t owner[4] = { 1, 'x', 0xc0, ANS_OFF };

	raw_owner_reply(p, owner, sizeof owner);
}

static void b_ptr_forward(struct pkt *p)
{
	uint8_t owner[5] = { 0xc0, ANS_OFF + 2, 1, 'x', 0 };

	raw_owner_reply(p, owner, sizeof owner);
}

static void b_ptr_outside(struct pkt *p)
{
	uint8_t owner[2] = { 0xff, 0xff };

	raw_owner_reply(p, owner, sizeof owner);
}

static void b_ptr_header(struct pkt *p)
{
	uint8_t owner[2] = { 0xc0, 4 };

	raw_owner_reply(p, owner, sizeof owner);
}

/* Two pointers at each other, X -> Y and Y -> X, in an opaque record's rdata. */
static void b_ptr_pair(struct pkt *p)
{
	size_t mark, x;

	reply_start(p, DNS_TYPE_A, 0, 2);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, TYPE_OPAQUE, CLASS_IN);
	x = p->len;
	pkt_ptr(p, x + 2);
	pkt_ptr(p, x);
	pkt_rr_end(p, mark);
	pkt_ptr(p, x + 2);
	mark = pkt_rr_begin(p, DNS_TYPE_A, CLASS_IN);
	pkt_addr(p, "6.6.6.6");
	pkt_rr_end(p, mark);
}

/* The first octet of a pointer is the last octet of the packet. */
static void b_ptr_cut(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 1);
	pkt_put8(p, 0xc0);
}

static void label_type_reply(struct pkt *p, unsigned length_octet)
{
	uint8_t label[64];

	memset(label, 'x', sizeof label);
	reply_start(p, DNS_TYPE_A, 0, 1);
	pkt_put8(p, length_octet);
	pkt_bytes(p, label, sizeof label);
	pkt_ptr(p, Q_OFF);
	pkt_put16(p, DNS_TYPE_A);
}

static void b_label_64(struct pkt *p)
{
	label_type_reply(p, 64);
}

static void b_label_0x80(struct pkt *p)
{
	label_type_reply(p, 0x80 | 10);
}

static void b_question_label_64(struct pkt *p)
{
	uint8_t label[64];

	memset(label, 'x', sizeof label);
	pkt_header(p, QID, FL_QR | FL_RD | FL_RA, 1, 0, 0, 0);
	pkt_put8(p, 64);
	pkt_bytes(p, label, sizeof label);
	pkt_put8(p, 0);
	pkt_put16(p, DNS_TYPE_A);
	pkt_put16(p, CLASS_IN);
}

/* A dotted name of labels of the given sizes (0-terminated list), filled with letters. */
static void make_name(char *buf, size_t size, const int *sizes)
{
	size_t len = 0;
	int i, j;

	for (i = 0; sizes[i] != 0; i++) {
		if (i > 0)
			buf[len++] = '.';
		for (j = 0; j < sizes[i]; j++)
			buf[len++] = (char)('a' + (i + j) % 26);
		ck_assert_uint_lt(len, size);
	}
	buf[len] = '\0';
}

static const int name255[] = { 63, 63, 63, 61, 0 };	/* 255 octets encoded */
static const int name256[] = { 63, 63, 63, 62, 0 };

static void long_target_reply(struct pkt *p, const int *sizes)
{
	char name[300];

	make_name(name, sizeof name, sizes);
	reply_start(p, DNS_TYPE_A, 0, 2);
	pkt_rr_cname(p, QNAME, name);
	pkt_rr_addr_named(p, name, DNS_TYPE_A, "192.0.2.255");
}

static void b_name_255(struct pkt *p)
{
	long_target_reply(p, name255);
}

static void b_name_256(struct pkt *p)
{
	long_target_reply(p, name256);
}

/* A 64-octet label, then a pointer to a 205-octet name: 269 octets once expanded. */
static void b_name_long_by_ptr(struct pkt *p)
{
	static const int sizes[] = { 63, 63, 63, 11, 0 };
	char name[300];
	uint8_t label[63];
	size_t mark, far;

	make_name(name, sizeof name, sizes);
	reply_start(p, DNS_TYPE_A, 0, 2);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, TYPE_OPAQUE, CLASS_IN);
	far = p->len;
	pkt_name(p, name);
	pkt_rr_end(p, mark);
	memset(label, 'y', sizeof label);
	pkt_put8(p, sizeof label);
	pkt_bytes(p, label, sizeof label);
	pkt_ptr(p, far);
	mark = pkt_rr_begin(p, DNS_TYPE_A, CLASS_IN);
	pkt_addr(p, "6.6.6.6");
	pkt_rr_end(p, mark);
}

static void rcode_reply(struct pkt *p, unsigned rcode)
{
	reply_start(p, DNS_TYPE_A, rcode, 0);
}

static void b_servfail(struct pkt *p)
{
	rcode_reply(p, RCODE_SERVFAIL);
}

static void b_refused(struct pkt *p)
{
	rcode_reply(p, RCODE_REFUSED);
}

static void b_formerr(struct pkt *p)
{
	rcode_reply(p, RCODE_FORMERR);
}

static void b_notimp(struct pkt *p)
{
	rcode_reply(p, RCODE_NOTIMP);
}

static void b_nxdomain(struct pkt *p)
{
	rcode_reply(p, RCODE_NXDOMAIN);
}

static void b_nxdomain_cname(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, RCODE_NXDOMAIN, 1);
	pkt_rr_cname(p, QNAME, "gone.example.net");
}

static void b_servfail_answer(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, RCODE_SERVFAIL, 1);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "6.6.6.6");
}

static void b_empty_answer(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 0);
}

static void b_a_rdlen5(struct pkt *p)
{
	size_t mark;

	reply_start(p, DNS_TYPE_A, 0, 1);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, DNS_TYPE_A, CLASS_IN);
	pkt_addr(p, "192.0.2.1");
	pkt_put8(p, 0);
	pkt_rr_end(p, mark);
}

static void b_a_rdlen5_elsewhere(struct pkt *p)
{
	size_t mark;

	reply_start(p, DNS_TYPE_A, 0, 2);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "192.0.2.1");
	pkt_name(p, "other.example");
	mark = pkt_rr_begin(p, DNS_TYPE_A, CLASS_IN);
	pkt_put32(p, 0);
	pkt_put8(p, 0);
	pkt_rr_end(p, mark);
}

static void b_aaaa_rdlen4(struct pkt *p)
{
	size_t mark;

	reply_start(p, DNS_TYPE_AAAA, 0, 1);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, DNS_TYPE_AAAA, CLASS_IN);
	pkt_addr(p, "192.0.2.1");
	pkt_rr_end(p, mark);
}

static void b_other_class(struct pkt *p)
{
	size_t mark;

	reply_start(p, DNS_TYPE_A, 0, 3);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, DNS_TYPE_A, CLASS_CH);
	pkt_addr(p, "6.6.6.6");
	pkt_rr_end(p, mark);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, DNS_TYPE_A, CLASS_CH);	/* a malformed A, but not IN */
	pkt_bytes(p, "12345", 5);
	pkt_rr_end(p, mark);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "192.0.2.1");
}

static void b_only_other_class(struct pkt *p)
{
	size_t mark;

	reply_start(p, DNS_TYPE_A, 0, 1);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, DNS_TYPE_A, CLASS_CH);
	pkt_addr(p, "6.6.6.6");
	pkt_rr_end(p, mark);
}

static void b_other_types(struct pkt *p)
{
	size_t mark;

	reply_start(p, DNS_TYPE_A, 0, 4);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, TYPE_TXT, CLASS_IN);
	pkt_bytes(p, "\x05hello", 6);
	pkt_rr_end(p, mark);
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, TYPE_MX, CLASS_IN);
	pkt_put16(p, 10);
	pkt_ptr(p, Q_OFF);
	pkt_rr_end(p, mark);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_AAAA, "2001:db8::66");
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "192.0.2.1");
}

static void b_only_aaaa(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 1);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_AAAA, "2001:db8::66");
}

static void b_other_owner(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 2);
	pkt_rr_addr_named(p, "other.example", DNS_TYPE_A, "6.6.6.6");
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "192.0.2.1");
}

static void b_only_other_owner(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 1);
	pkt_rr_addr_named(p, "other.example", DNS_TYPE_A, "6.6.6.6");
}

static void b_rdata_past_end(struct pkt *p)
{
	b_plain_a(p);
	pkt_set16(p, p->len - 6, 100);
}

static void b_rr_fixed_cut(struct pkt *p)
{
	reply_start(p, DNS_TYPE_A, 0, 1);
	pkt_ptr(p, Q_OFF);
	pkt_put16(p, DNS_TYPE_A);
	pkt_put16(p, CLASS_IN);
	pkt_put8(p, 0);
}

static void b_ancount_high(struct pkt *p)
{
	b_plain_a(p);
	pkt_set16(p, 6, 2);
}

/* Authority and additional sections, plus junk after them, are not read. */
static void b_extra_sections(struct pkt *p)
{
	size_t mark;

	pkt_header(p, QID, FL_QR | FL_RD | FL_RA, 1, 1, 1, 1);
	pkt_question(p, QNAME, DNS_TYPE_A, CLASS_IN);
	pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, "192.0.2.1");
	pkt_ptr(p, Q_OFF);
	mark = pkt_rr_begin(p, 2, CLASS_IN);
	pkt_name(p, "ns.example.com");
	pkt_rr_end(p, mark);
	pkt_rr_addr_named(p, "ns.example.com", DNS_TYPE_A, "6.6.6.6");
	pkt_bytes(p, "\xff\xff\xff", 3);
}

/* 300 A records 10.0.1.0, 10.0.1.1, ...: only DNS_MAX_ADDRS are kept. */
static void b_many_a(struct pkt *p)
{
	char addr[32];
	int i;

	reply_start(p, DNS_TYPE_A, 0, 300);
	for (i = 0; i < 300; i++) {
		snprintf(addr, sizeof addr, "10.0.%d.%d", 1 + i / 256, i % 256);
		pkt_rr_addr_at(p, Q_OFF, DNS_TYPE_A, addr);
	}
}

/* ---- the parse table ---- */

struct parse_case {
	const char *what;
	void (*build)(struct pkt *);
	uint16_t qtype;
	int status;
	size_t count;
	const char *first;	/* expected first and last address, when DNS_OK */
	const char *last;
	const char *name;	/* queried name; NULL for QNAME */
};

#define QT_A DNS_TYPE_A		/* short names for the tables */
#define QT_AAAA DNS_TYPE_AAAA
static const struct parse_case parse_cases[] = {
	{ "plain A", b_plain_a, QT_A, DNS_OK, 1, "192.0.2.1", "192.0.2.1", NULL },
	{ "query name with trailing dot", b_plain_a, QT_A, DNS_OK, 1,
	  "192.0.2.1", NULL, "example.com." },
	{ "query name in upper case", b_plain_a, QT_A, DNS_OK, 1,
	  "192.0.2.1", NULL, "EXAMPLE.COM" },
	{ "several A", b_several_a, QT_A, DNS_OK, 3, "192.0.2.1", "192.0.2.3", NULL },
	{ "AAAA", b_aaaa, QT_AAAA, DNS_OK, 2, "2001:db8::1", "2001:db8::2", NULL },
	{ "uncompressed owner", b_owner_plain, QT_A, DNS_OK, 1, "192.0.2.1", NULL, NULL },
	{ "owner in another case", b_owner_case, QT_A, DNS_OK, 1, "192.0.2.1", NULL, NULL },
	{ "question echoed in another case", b_question_case, QT_A, DNS_OK, 1,
	  "192.0.2.1", NULL, NULL },
	{ "compressed CNAME target and owner", b_compressed, QT_A, DNS_OK, 1,
	  "192.0.2.7", NULL, NULL },
	{ "pointer to a name's suffix", b_suffix_ptr, QT_A, DNS_OK, 1, "192.0.2.8", NULL, NULL },
	{ "CNAME chain of 3", b_cname_chain3, QT_A, DNS_OK, 1, "192.0.2.3", NULL, NULL },
	{ "CNAME chain out of order", b_cname_unordered, QT_A, DNS_OK, 1, "192.0.2.3", NULL, NULL },
	{ "CNAME to AAAA", b_cname_aaaa, QT_AAAA, DNS_OK, 1, "2001:db8::6", NULL, NULL },
	{ "CNAME chain of 16", b_cname_16, QT_A, DNS_OK, 1, "192.0.2.16", NULL, NULL },
	{ "CNAME chain of 17", b_cname_17, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "CNAME alias owns an A", b_cname_alias_addr, QT_A, DNS_ENODATA, 0, NULL, NULL, NULL },
	{ "CNAME loop a->b->a", b_cname_loop, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "CNAME to itself", b_cname_self, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "CNAME rdata with a trailing octet", b_cname_trailing, QT_A, DNS_EBADREPLY, 0,
	  NULL, NULL, NULL },
	{ "CNAME name past its rdata", b_cname_overrun, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "CNAME of class CH ignored", b_cname_other_class, QT_A, DNS_OK, 1,
	  "192.0.2.1", NULL, NULL },
	{ "TC", b_tc, QT_A, DNS_ETRUNCATED, 0, NULL, NULL, NULL },
	{ "TC with an answer", b_tc_with_answer, QT_A, DNS_ETRUNCATED, 0, NULL, NULL, NULL },
	{ "TC and cut short", b_tc_cut, QT_A, DNS_ETRUNCATED, 0, NULL, NULL, NULL },
	{ "wrong ID", b_wrong_id, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "QR clear", b_qr_clear, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "opcode not QUERY", b_opcode, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "QDCOUNT 0", b_qd0, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "QDCOUNT 0 REFUSED", b_qd0_refused, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "QDCOUNT 2", b_qd2, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "question for another name", b_wrong_qname, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "question for a longer name", b_qname_longer, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "question for a shorter name", b_qname_shorter, QT_A, DNS_EMISMATCH, 0,
	  NULL, NULL, NULL },
	{ "question with other label cuts", b_qname_joined, QT_A, DNS_EMISMATCH, 0,
	  NULL, NULL, NULL },
	{ "question for another type", b_wrong_qtype, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "question type A, asked AAAA", b_plain_a, QT_AAAA, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "question for another class", b_wrong_qclass, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "11-octet packet", b_short_header, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "empty packet", b_empty_packet, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "question name is a pointer", b_question_ptr, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "question label of 64", b_question_label_64, QT_A, DNS_EMISMATCH, 0, NULL, NULL, NULL },
	{ "pointer to itself", b_ptr_self, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "pointer back into its own name", b_ptr_back_loop, QT_A, DNS_EBADREPLY, 0,
	  NULL, NULL, NULL },
	{ "two pointers at each other", b_ptr_pair, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "forward pointer", b_ptr_forward, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "pointer out of the packet", b_ptr_outside, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "pointer into the header", b_ptr_header, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "pointer cut in half", b_ptr_cut, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "label of 64 (type 0x40)", b_label_64, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "label type 0x80", b_label_0x80, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "name of 255 octets", b_name_255, QT_A, DNS_OK, 1, "192.0.2.255", NULL, NULL },
	{ "name of 256 octets", b_name_256, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "name over 255 through a pointer", b_name_long_by_ptr, QT_A, DNS_EBADREPLY, 0,
	  NULL, NULL, NULL },
	{ "SERVFAIL", b_servfail, QT_A, DNS_ESERVFAIL, 0, NULL, NULL, NULL },
	{ "SERVFAIL with an answer", b_servfail_answer, QT_A, DNS_ESERVFAIL, 0, NULL, NULL, NULL },
	{ "REFUSED", b_refused, QT_A, DNS_ESERVFAIL, 0, NULL, NULL, NULL },
	{ "FORMERR", b_formerr, QT_A, DNS_ESERVFAIL, 0, NULL, NULL, NULL },
	{ "NOTIMP", b_notimp, QT_A, DNS_ESERVFAIL, 0, NULL, NULL, NULL },
	{ "NXDOMAIN", b_nxdomain, QT_A, DNS_ENXDOMAIN, 0, NULL, NULL, NULL },
	{ "NXDOMAIN after a CNAME", b_nxdomain_cname, QT_A, DNS_ENXDOMAIN, 0, NULL, NULL, NULL },
	{ "empty answer", b_empty_answer, QT_A, DNS_ENODATA, 0, NULL, NULL, NULL },
	{ "A with rdlength 5", b_a_rdlen5, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "A with rdlength 5, other owner", b_a_rdlen5_elsewhere, QT_A, DNS_EBADREPLY, 0,
	  NULL, NULL, NULL },
	{ "AAAA with rdlength 4", b_aaaa_rdlen4, QT_AAAA, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "records of class CH ignored", b_other_class, QT_A, DNS_OK, 1, "192.0.2.1", NULL, NULL },
	{ "only class CH", b_only_other_class, QT_A, DNS_ENODATA, 0, NULL, NULL, NULL },
	{ "TXT, MX and AAAA ignored", b_other_types, QT_A, DNS_OK, 1, "192.0.2.1", NULL, NULL },
	{ "only AAAA for an A query", b_only_aaaa, QT_A, DNS_ENODATA, 0, NULL, NULL, NULL },
	{ "A of another owner ignored", b_other_owner, QT_A, DNS_OK, 1, "192.0.2.1", NULL, NULL },
	{ "only another owner", b_only_other_owner, QT_A, DNS_ENODATA, 0, NULL, NULL, NULL },
	{ "rdata past the end", b_rdata_past_end, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "record fields cut", b_rr_fixed_cut, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "ANCOUNT above the records", b_ancount_high, QT_A, DNS_EBADREPLY, 0, NULL, NULL, NULL },
	{ "authority and additional ignored", b_extra_sections, QT_A, DNS_OK, 1,
	  "192.0.2.1", NULL, NULL },
	{ "300 A capped", b_many_a, QT_A, DNS_OK, DNS_MAX_ADDRS, "10.0.1.0", "10.0.1.255", NULL },
};
#define NPARSE (int)(sizeof parse_cases / sizeof parse_cases[0])

static void check_addr(const struct parse_case *c, const struct dns_result *out, size_t i,
		       const char *want)
{
	char got[INET6_ADDRSTRLEN];

	addr_text(out->family, out->addrs[i], got, sizeof got);
	ck_assert_msg(strcmp(got, want) == 0, "%s: address %zu is %s, want %s", c->what, i, got,
		      want);
}

START_TEST(test_parse_table)
{
	const struct parse_case *c = &parse_cases[_i];
	static struct pkt p;
	struct dns_result out;
	int status;

	memset(&p, 0, sizeof p);
	c->build(&p);
	memset(&out, 0xa5, sizeof out);
	status = parse_exact(&p, p.len, c->name != NULL ? c->name : QNAME, c->qtype, &out);
	ck_assert_msg(status == c->status, "%s: status %d (%s), want %d (%s)", c->what, status,
		      dns_strerror(status), c->status, dns_strerror(c->status));
	ck_assert_msg(out.count == c->count, "%s: %zu addresses, want %zu", c->what, out.count,
		      c->count);
	ck_assert_int_eq(out.family, c->qtype == QT_AAAA ? AF_INET6 : AF_INET);
	if (c->first != NULL)
		check_addr(c, &out, 0, c->first);
	if (c->last != NULL)
		check_addr(c, &out, out.count - 1, c->last);
}
END_TEST

START_TEST(test_parse_invalid_args)
{
	static struct pkt p;
	struct dns_result out;

	b_plain_a(&p);
	ck_assert_int_eq(parse_exact(&p, p.len, QNAME, TYPE_MX, &out), DNS_EINVAL);
	ck_assert_int_eq(parse_exact(&p, p.len, "", DNS_TYPE_A, &out), DNS_EINVAL);
	ck_assert_int_eq(parse_exact(&p, p.len, "a..b", DNS_TYPE_A, &out), DNS_EINVAL);
	ck_assert_int_eq(parse_exact(&p, p.len, NULL, DNS_TYPE_A, &out), DNS_EINVAL);
	ck_assert_uint_eq(out.count, 0);
}
END_TEST

/* ---- every truncation and single-octet corruption of valid replies ---- */

struct valid_case {
	void (*build)(struct pkt *);
	uint16_t qtype;
};

static const struct valid_case valid_cases[] = {
	{ b_plain_a, QT_A }, { b_several_a, QT_A }, { b_aaaa, QT_AAAA }, { b_compressed, QT_A },
	{ b_suffix_ptr, QT_A }, { b_cname_chain3, QT_A }, { b_cname_unordered, QT_A },
	{ b_cname_aaaa, QT_AAAA }, { b_name_255, QT_A }, { b_other_types, QT_A },
	{ b_other_class, QT_A }, { b_cname_16, QT_A },
};
#define NVALID (int)(sizeof valid_cases / sizeof valid_cases[0])

/* Every proper prefix fails: in the header or question it is not ours; later, malformed. */
START_TEST(test_truncations)
{
	const struct valid_case *c = &valid_cases[_i];
	static struct pkt p;
	struct dns_result out;
	size_t cut;

	memset(&p, 0, sizeof p);
	c->build(&p);
	ck_assert_int_eq(parse_exact(&p, p.len, QNAME, c->qtype, &out), DNS_OK);
	for (cut = 0; cut < p.len; cut++) {
		int status = parse_exact(&p, cut, QNAME, c->qtype, &out);
		int want = cut < ANS_OFF ? DNS_EMISMATCH : DNS_EBADREPLY;

		ck_assert_msg(status == want, "case %d cut at %zu of %zu: status %d, want %d", _i,
			      cut, p.len, status, want);
		ck_assert_uint_eq(out.count, 0);
	}
}
END_TEST

/* Any octet set to an awkward value: never a crash, and DNS_OK only with sane output. */
START_TEST(test_corruptions)
{
	static const uint8_t values[] = { 0x00, 0x01, 0x04, 0x0c, 0x10, 0x3f, 0x40, 0x80,
					  0xc0, 0xc1, 0xff };
	const struct valid_case *c = &valid_cases[_i];
	static struct pkt p, bad;
	struct dns_result out;
	size_t pos, v;

	memset(&p, 0, sizeof p);
	c->build(&p);
	for (pos = 0; pos < p.len; pos++) {
		for (v = 0; v <= sizeof values; v++) {
			int status;

			memcpy(bad.b, p.b, p.len);
			bad.len = p.len;
			bad.b[pos] = v < sizeof values ? values[v] : (uint8_t)(p.b[pos] ^ 0x20);
			status = parse_exact(&bad, bad.len, QNAME, c->qtype, &out);
			ck_assert_int_ge(status, DNS_ETRUNCATED);
			ck_assert_int_le(status, DNS_OK);
			if (status == DNS_OK) {
				ck_assert_uint_ge(out.count, 1);
				ck_assert_uint_le(out.count, DNS_MAX_ADDRS);
			} else
				ck_assert_uint_eq(out.count, 0);
		}
	}
}
END_TEST

/* ---- dns_build_query ---- */

struct build_case {
	const char *literal;	/* the name, or NULL to make it from sizes */
	int sizes[6];		/* label sizes, 0-terminated */
	int dot;		/* append a trailing dot to the made name */
	size_t len;		/* query length, 0 when refused */
};

static const struct build_case build_cases[] = {
	{ "example.com", { 0 }, 0, 29 },
	{ "example.com.", { 0 }, 0, 29 },
	{ "EXAMPLE.com", { 0 }, 0, 29 },
	{ ".", { 0 }, 0, 17 },
	{ "a", { 0 }, 0, 19 },
	{ "", { 0 }, 0, 0 },
	{ "..", { 0 }, 0, 0 },
	{ "a..b", { 0 }, 0, 0 },
	{ ".a", { 0 }, 0, 0 },
	{ "a..", { 0 }, 0, 0 },
	{ "a.b..", { 0 }, 0, 0 },
	{ NULL, { 63, 3, 0 }, 0, 12 + 64 + 4 + 1 + 4 },
	{ NULL, { 64, 3, 0 }, 0, 0 },
	{ NULL, { 3, 64, 0 }, 0, 0 },
	{ NULL, { 3, 64, 0 }, 1, 0 },
	{ NULL, { 200, 0 }, 0, 0 },
	{ NULL, { 63, 63, 63, 61, 0 }, 0, 12 + 255 + 4 },
	{ NULL, { 63, 63, 63, 61, 0 }, 1, 12 + 255 + 4 },
	{ NULL, { 63, 63, 63, 62, 0 }, 0, 0 },
	{ NULL, { 63, 63, 63, 62, 0 }, 1, 0 },
	{ NULL, { 63, 63, 63, 63, 0 }, 0, 0 },
	{ NULL, { 63, 63, 63, 63, 63, 0 }, 0, 0 },
};
#define NBUILD (int)(sizeof build_cases / sizeof build_cases[0])

static void build_case_name(const struct build_case *c, char *buf, size_t size)
{
	if (c->literal != NULL) {
		snprintf(buf, size, "%s", c->literal);
		return;
	}
	make_name(buf, size - 1, c->sizes);
	if (c->dot)
		strcat(buf, ".");
}

/* The query holds the header we want, the question as encoded, and a reply to it parses. */
START_TEST(test_build_table)
{
	const struct build_case *c = &build_cases[_i];
	static struct pkt reply;
	struct dns_result out;
	uint8_t buf[600];
	char name[400];
	size_t len;

	build_case_name(c, name, sizeof name);
	memset(buf, 0xee, sizeof buf);
	len = dns_build_query(buf, sizeof buf, 0xbeef, name, DNS_TYPE_AAAA);
	ck_assert_msg(len == c->len, "case %d \"%s\": length %zu, want %zu", _i, name, len, c->len);
	if (len == 0)
		return;
	ck_assert_int_eq(buf[0], 0xbe);
	ck_assert_int_eq(buf[1], 0xef);
	ck_assert_int_eq(buf[2], 0x01);	/* RD, nothing else */
	ck_assert_int_eq(buf[3], 0x00);
	ck_assert_mem_eq(buf + 4, "\0\1\0\0\0\0\0\0", 8);
	ck_assert_mem_eq(buf + len - 4, "\0\x1c\0\1", 4);
	ck_assert_int_eq(buf[len - 5], 0);	/* the name's final zero */
	ck_assert_int_eq(buf[len], 0xee);	/* nothing written past the query */
	/* Make it a reply and parse it back. */
	memset(&reply, 0, sizeof reply);
	pkt_bytes(&reply, buf, len);
	pkt_set16(&reply, 0, QID);
	pkt_set16(&reply, 2, FL_QR | FL_RD | FL_RA);
	pkt_set16(&reply, 6, 1);
	pkt_rr_addr_at(&reply, Q_OFF, DNS_TYPE_AAAA, "2001:db8::5");
	ck_assert_int_eq(parse_exact(&reply, reply.len, name, DNS_TYPE_AAAA, &out), DNS_OK);
	ck_assert_uint_eq(out.count, 1);
}
END_TEST

START_TEST(test_build_exact_labels)
{
	static const uint8_t want[] = "\x07" "example" "\x03" "com" "\x00" "\x00\x01" "\x00\x01";
	uint8_t buf[64];
	size_t len = dns_build_query(buf, sizeof buf, 1, "example.com", DNS_TYPE_A);

	ck_assert_uint_eq(len, 12 + sizeof want - 1);
	ck_assert_mem_eq(buf + 12, want, sizeof want - 1);
	len = dns_build_query(buf, sizeof buf, 1, ".", DNS_TYPE_A);
	ck_assert_uint_eq(len, 17);
	ck_assert_mem_eq(buf + 12, "\0\0\1\0\1", 5);
}
END_TEST

START_TEST(test_build_small_buffer)
{
	uint8_t buf[64];

	memset(buf, 0xee, sizeof buf);
	ck_assert_uint_eq(dns_build_query(buf, 28, 1, "example.com", DNS_TYPE_A), 0);
	ck_assert_int_eq(buf[0], 0xee);	/* nothing written when it does not fit */
	ck_assert_uint_eq(dns_build_query(buf, 29, 1, "example.com", DNS_TYPE_A), 29);
	ck_assert_uint_eq(dns_build_query(buf, 0, 1, "example.com", DNS_TYPE_A), 0);
	ck_assert_uint_eq(dns_build_query(NULL, 64, 1, "example.com", DNS_TYPE_A), 0);
	ck_assert_uint_eq(dns_build_query(buf, sizeof buf, 1, NULL, DNS_TYPE_A), 0);
}
END_TEST

/* ---- dns_server_parse, dns_server_set_port, dns_strerror ---- */

struct server_case {
	const char *text;
	int ok;
	int family;
};

static const struct server_case server_cases[] = {
	{ "127.0.0.1", 1, AF_INET }, { "8.8.8.8", 1, AF_INET }, { "208.67.222.222", 1, AF_INET },
	{ "::1", 1, AF_INET6 }, { "2001:4860:4860::8888", 1, AF_INET6 },
	{ "::ffff:1.2.3.4", 1, AF_INET6 }, { "", 0, 0 }, { "localhost", 0, 0 },
	{ "1.2.3", 0, 0 }, { "256.1.1.1", 0, 0 }, { "1.2.3.4 ", 0, 0 }, { " 1.2.3.4", 0, 0 },
	{ "1.2.3.4:53", 0, 0 }, { "[::1]", 0, 0 }, { "fe80::1%lo", 0, 0 }, { "::g", 0, 0 },
};
#define NSERVER (int)(sizeof server_cases / sizeof server_cases[0])

START_TEST(test_server_parse_null)
{
	struct dns_server server;

	ck_assert_int_eq(dns_server_parse(NULL, &server), -1);
	ck_assert_int_eq(dns_server_parse("1.2.3.4", &server), 0);
	ck_assert_int_eq(dns_server_parse("nope", &server), -1);
	/* A failure leaves nothing usable behind. */
	ck_assert_int_eq(server.addr.ss_family, AF_UNSPEC);
}
END_TEST

START_TEST(test_server_parse_table)
{
	const struct server_case *c = &server_cases[_i];
	struct dns_server server;
	char text[INET6_ADDRSTRLEN];

	ck_assert_int_eq(dns_server_parse(c->text, &server), c->ok ? 0 : -1);
	if (!c->ok)
		return;
	ck_assert_int_eq(server.addr.ss_family, c->family);
	if (c->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&server.addr;

		ck_assert_uint_eq(server.len, sizeof *sin);
		ck_assert_uint_eq(ntohs(sin->sin_port), 53);
		inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
		dns_server_set_port(&server, 5353);
		ck_assert_uint_eq(ntohs(sin->sin_port), 5353);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&server.addr;

		ck_assert_uint_eq(server.len, sizeof *sin6);
		ck_assert_uint_eq(ntohs(sin6->sin6_port), 53);
		inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
		dns_server_set_port(&server, 65535);
		ck_assert_uint_eq(ntohs(sin6->sin6_port), 65535);
	}
	ck_assert_str_eq(text, c->text);
}
END_TEST

START_TEST(test_strerror)
{
	int a, b;

	for (a = DNS_ESYSTEM; a <= DNS_OK; a++) {
		ck_assert_ptr_nonnull(dns_strerror(a));
		ck_assert_uint_gt(strlen(dns_strerror(a)), 0);
		for (b = DNS_ESYSTEM; b < a; b++)
			ck_assert_str_ne(dns_strerror(a), dns_strerror(b));
	}
	ck_assert_ptr_nonnull(dns_strerror(42));
	ck_assert_str_eq(dns_strerror(DNS_ETIMEOUT), "no answer from any server");
	ck_assert_ptr_nonnull(dns_strerror(-42));
}
END_TEST

/* ---- scripted responders on loopback ---- */

/* What a responder saw of one query, sent up its report pipe. */
struct sighting {
	uint16_t id;
	uint16_t port;		/* the querier's source port */
	uint16_t qtype;
	uint16_t tcp;
};

struct fake_io {
	int udp;
	int tcp;		/* listening, same address and port as udp */
	int report;		/* write end of the report pipe */
	const char *ip;
	uint16_t port;
};

struct fake {
	pid_t pid;
	int report;		/* read end of the report pipe */
	struct dns_server server;
};

struct query {
	uint8_t b[600];
	size_t len;
	struct sockaddr_storage from;
	socklen_t fromlen;
	uint16_t id;
	uint16_t qtype;
};

typedef void (*fake_script)(struct fake_io *io);

static uint16_t sockaddr_port(const struct sockaddr_storage *addr)
{
	if (addr->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)addr)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
}

/* A UDP socket on ip:0 and a TCP listener on the same port: 0, or -1 (no such address here). */
static int fake_sockets(const char *ip, struct fake_io *io)
{
	int tries;

	for (tries = 0; tries < 50; tries++) {
		struct dns_server where;
		int one = 1;

		if (dns_server_parse(ip, &where) < 0)
			return -1;
		dns_server_set_port(&where, 0);
		io->udp = socket(where.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (io->udp < 0 || bind(io->udp, (struct sockaddr *)&where.addr, where.len) < 0 ||
		    getsockname(io->udp, (struct sockaddr *)&where.addr, &where.len) < 0) {
			if (io->udp >= 0)
				close(io->udp);
			return -1;
		}
		io->port = sockaddr_port(&where.addr);
		io->tcp = socket(where.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(io->tcp, 0);
		setsockopt(io->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(io->tcp, (struct sockaddr *)&where.addr, where.len) == 0 &&
		    listen(io->tcp, 8) == 0)
			return 0;
		close(io->tcp);	/* that port is taken for TCP: try another */
		close(io->udp);
	}
	return -1;
}

/* Forks a responder running script on ip: 0, or -1 when ip cannot be bound here. */
static int fake_start(struct fake *f, const char *ip, fake_script script)
{
	struct fake_io io;
	int fds[2];

	if (fake_sockets(ip, &io) < 0)
		return -1;
	io.ip = ip;
	ck_assert_int_eq(pipe(fds), 0);
	f->pid = fork();
	ck_assert_int_ge(f->pid, 0);
	if (f->pid == 0) {
		/* Dies with the test, and never outlives a hung test by much. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		alarm(20);
		close(fds[0]);
		io.report = fds[1];
		script(&io);
		_exit(0);
	}
	close(fds[1]);
	close(io.udp);
	close(io.tcp);
	f->report = fds[0];
	ck_assert_int_eq(dns_server_parse(ip, &f->server), 0);
	dns_server_set_port(&f->server, io.port);
	return 0;
}

static void fake_stop(struct fake *f)
{
	kill(f->pid, SIGKILL);
	ck_assert_int_eq(waitpid(f->pid, NULL, 0), f->pid);
	close(f->report);
}

/* Reads up to n sightings, waiting at most wait_ms for each: how many came. */
static size_t fake_sightings(struct fake *f, struct sighting *out, size_t n, int wait_ms)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = { .fd = f->report, .events = POLLIN };

		if (poll(&pfd, 1, wait_ms) <= 0 ||
		    read(f->report, &out[got], sizeof out[got]) != (ssize_t)sizeof out[got])
			break;
		got++;
	}
	return got;
}

static void fake_report(struct fake_io *io, const struct query *q, int tcp)
{
	struct sighting s = { q->id, sockaddr_port(&q->from), q->qtype, (uint16_t)tcp };

	if (write(io->report, &s, sizeof s) != (ssize_t)sizeof s)
		_exit(4);
}

static void query_decode(struct query *q)
{
	if (q->len < 12 + 1 + 4)
		_exit(3);
	q->id = (uint16_t)(q->b[0] << 8 | q->b[1]);
	q->qtype = (uint16_t)(q->b[q->len - 4] << 8 | q->b[q->len - 3]);
}

static void fake_recv(struct fake_io *io, struct query *q)
{
	ssize_t n;

	q->fromlen = sizeof q->from;
	n = recvfrom(io->udp, q->b, sizeof q->b, 0, (struct sockaddr *)&q->from, &q->fromlen);
	if (n < 0)
		_exit(3);
	q->len = (size_t)n;
	query_decode(q);
	fake_report(io, q, 0);
}

/* Header and the query's own question, as a reply with the given ID, flags and ANCOUNT. */
static void reply_to(struct pkt *p, const struct query *q, unsigned id, unsigned flags,
		     unsigned ancount)
{
	p->len = 0;
	pkt_header(p, id, FL_QR | FL_RD | FL_RA | flags, 1, ancount, 0, 0);
	pkt_bytes(p, q->b + 12, q->len - 12);
}

static void send_from(int fd, const struct pkt *p, const struct query *q)
{
	if (sendto(fd, p->b, p->len, 0, (const struct sockaddr *)&q->from, q->fromlen) < 0)
		_exit(5);
}

/* The right answer: 192.0.2.1 for A, 2001:db8::1 for AAAA. */
static void answer(struct fake_io *io, const struct query *q)
{
	static struct pkt p;

	reply_to(&p, q, q->id, 0, 1);
	pkt_rr_addr_at(&p, Q_OFF, q->qtype, q->qtype == DNS_TYPE_AAAA ? "2001:db8::1" : "192.0.2.1");
	send_from(io->udp, &p, q);
}

static void decoy_answer(int fd, const struct query *q, unsigned id)
{
	static struct pkt p;

	reply_to(&p, q, id, 0, 1);
	pkt_rr_addr_at(&p, Q_OFF, DNS_TYPE_A, "6.6.6.6");
	send_from(fd, &p, q);
}

static void s_silent(struct fake_io *io)
{
	(void)io;
	for (;;)
		pause();
}

/* Reads and reports queries, never answers. */
static void s_mute(struct fake_io *io)
{
	struct query q;

	for (;;)
		fake_recv(io, &q);
}

static void s_answer(struct fake_io *io)
{
	struct query q;

	for (;;) {
		fake_recv(io, &q);
		answer(io, &q);
	}
}

static void rcode_loop(struct fake_io *io, unsigned rcode)
{
	static struct pkt p;
	struct query q;

	for (;;) {
		fake_recv(io, &q);
		reply_to(&p, &q, q.id, rcode, 0);
		send_from(io->udp, &p, &q);
	}
}

static void s_servfail(struct fake_io *io)
{
	rcode_loop(io, RCODE_SERVFAIL);
}

static void s_refused(struct fake_io *io)
{
	rcode_loop(io, RCODE_REFUSED);
}

static void s_nxdomain(struct fake_io *io)
{
	rcode_loop(io, RCODE_NXDOMAIN);
}

static void s_badreply(struct fake_io *io)
{
	static struct pkt p;
	struct query q;
	size_t mark;

	for (;;) {
		fake_recv(io, &q);
		reply_to(&p, &q, q.id, 0, 1);
		pkt_ptr(&p, Q_OFF);
		mark = pkt_rr_begin(&p, DNS_TYPE_A, CLASS_IN);
		pkt_bytes(&p, "\1\2\3\4\5", 5);
		pkt_rr_end(&p, mark);
		send_from(io->udp, &p, &q);
	}
}

static void s_wrong_id_first(struct fake_io *io)
{
	struct query q;

	fake_recv(io, &q);
	decoy_answer(io->udp, &q, q.id ^ 0x8001);
	answer(io, &q);
	s_silent(io);
}

static void s_wrong_question_first(struct fake_io *io)
{
	static struct pkt p;
	struct query q;

	fake_recv(io, &q);
	p.len = 0;
	pkt_header(&p, q.id, FL_QR | FL_RD | FL_RA, 1, 1, 0, 0);
	pkt_question(&p, "decoy.example.net", q.qtype, CLASS_IN);
	pkt_rr_addr_at(&p, Q_OFF, DNS_TYPE_A, "6.6.6.6");
	send_from(io->udp, &p, &q);
	answer(io, &q);
	s_silent(io);
}

/* Every kind of reply that is not ours, then ours. */
static void s_decoys(struct fake_io *io)
{
	static struct pkt p;
	struct query q;

	fake_recv(io, &q);
	decoy_answer(io->udp, &q, q.id + 1);
	reply_to(&p, &q, q.id, 0, 1);
	pkt_set16(&p, 2, FL_RD);	/* QR clear: a query, not a reply */
	pkt_rr_addr_at(&p, Q_OFF, DNS_TYPE_A, "6.6.6.6");
	send_from(io->udp, &p, &q);
	reply_to(&p, &q, q.id, 0, 1);
	pkt_set16(&p, p.len - 4, TYPE_MX);	/* another question type */
	pkt_rr_addr_at(&p, Q_OFF, DNS_TYPE_A, "6.6.6.6");
	send_from(io->udp, &p, &q);
	p.len = 3;	/* a runt */
	send_from(io->udp, &p, &q);
	reply_to(&p, &q, q.id, 0, 0);
	pkt_set16(&p, 4, 0);	/* no question */
	p.len = 12;
	send_from(io->udp, &p, &q);
	answer(io, &q);
	s_silent(io);
}

/* A reply that would be accepted, sent from another port, then the true one. */
static void s_wrong_port_first(struct fake_io *io)
{
	struct dns_server other;
	struct query q;
	int fd;

	fake_recv(io, &q);
	ck_assert_int_eq(dns_server_parse(io->ip, &other), 0);
	dns_server_set_port(&other, 0);
	fd = socket(other.addr.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&other.addr, other.len) < 0)
		_exit(6);
	decoy_answer(fd, &q, q.id);
	answer(io, &q);
	s_silent(io);
}

/* The same from 127.0.0.2 on the server's own port. */
static void s_wrong_addr_first(struct fake_io *io)
{
	struct dns_server other;
	struct query q;
	int fd;

	fake_recv(io, &q);
	ck_assert_int_eq(dns_server_parse("127.0.0.2", &other), 0);
	dns_server_set_port(&other, io->port);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&other.addr, other.len) < 0)
		_exit(6);
	decoy_answer(fd, &q, q.id);
	answer(io, &q);
	s_silent(io);
}

/* No A record (NOERROR, empty), one AAAA. */
static void s_aaaa_only(struct fake_io *io)
{
	static struct pkt p;
	struct query q;

	for (;;) {
		fake_recv(io, &q);
		if (q.qtype == DNS_TYPE_AAAA) {
			answer(io, &q);
			continue;
		}
		reply_to(&p, &q, q.id, 0, 0);
		send_from(io->udp, &p, &q);
	}
}

/* A refused (or failed) with rcode, AAAA answered: what dnsmasq without upstreams does. */
static void a_fails_aaaa_answers(struct fake_io *io, unsigned rcode)
{
	static struct pkt p;
	struct query q;

	for (;;) {
		fake_recv(io, &q);
		if (q.qtype == DNS_TYPE_AAAA) {
			answer(io, &q);
			continue;
		}
		reply_to(&p, &q, q.id, rcode, 0);
		send_from(io->udp, &p, &q);
	}
}

static void s_a_refused_aaaa_answered(struct fake_io *io)
{
	a_fails_aaaa_answers(io, RCODE_REFUSED);
}

static void s_a_servfail_aaaa_answered(struct fake_io *io)
{
	a_fails_aaaa_answers(io, RCODE_SERVFAIL);
}

static void read_exact(int fd, void *buf, size_t len)
{
	uint8_t *at = buf;

	while (len > 0) {
		ssize_t n = read(fd, at, len);

		if (n <= 0)
			_exit(7);
		at += n;
		len -= (size_t)n;
	}
}

/* Answers UDP with TC, accepts the TCP retry and reads its query. Returns the connection. */
static int tc_then_accept(struct fake_io *io, struct query *q)
{
	static struct pkt p;
	uint8_t prefix[2];
	int conn, one = 1;

	fake_recv(io, q);
	reply_to(&p, q, q->id, FL_TC, 0);
	send_from(io->udp, &p, q);
	q->fromlen = sizeof q->from;
	conn = accept(io->tcp, (struct sockaddr *)&q->from, &q->fromlen);
	if (conn < 0)
		_exit(8);
	setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	read_exact(conn, prefix, 2);
	q->len = (size_t)(prefix[0] << 8 | prefix[1]);
	if (q->len > sizeof q->b)
		_exit(8);
	read_exact(conn, q->b, q->len);
	query_decode(q);
	fake_report(io, q, 1);
	return conn;
}

/* Writes in small pieces with pauses, so the reader sees partial reads. */
static void write_slowly(int fd, const uint8_t *buf, size_t len, size_t piece)
{
	struct timespec pause_ms = { 0, 5 * 1000000 };

	while (len > 0) {
		size_t n = len < piece ? len : piece;

		if (write(fd, buf, n) != (ssize_t)n)
			_exit(9);
		buf += n;
		len -= n;
		nanosleep(&pause_ms, NULL);
	}
}

/* TC over UDP, then 100 addresses 10.0.0.0 ... 10.0.0.99 over TCP, sent in pieces. */
static void s_tc_then_tcp(struct fake_io *io)
{
	static struct pkt p;
	struct query q;
	char addr[32];
	uint8_t prefix[2];
	int conn = tc_then_accept(io, &q);
	int i;

	reply_to(&p, &q, q.id, 0, 100);
	for (i = 0; i < 100; i++) {
		snprintf(addr, sizeof addr, "10.0.0.%d", i);
		pkt_rr_addr_at(&p, Q_OFF, DNS_TYPE_A, addr);
	}
	prefix[0] = (uint8_t)(p.len >> 8);
	prefix[1] = (uint8_t)p.len;
	write_slowly(conn, prefix, 2, 1);
	write_slowly(conn, p.b, p.len, 97);
	s_silent(io);
}

/* TC over UDP, then a TCP reply that stops halfway. */
static void s_tc_then_eof(struct fake_io *io)
{
	static struct pkt p;
	struct query q;
	uint8_t prefix[2] = { 0, 200 };
	int conn = tc_then_accept(io, &q);

	reply_to(&p, &q, q.id, 0, 1);
	write_slowly(conn, prefix, 2, 2);
	write_slowly(conn, p.b, p.len, p.len);
	close(conn);
	s_silent(io);
}

/* TC over UDP, then a TCP connection that reads the query and never answers. */
static void s_tc_then_hang(struct fake_io *io)
{
	struct query q;

	tc_then_accept(io, &q);
	s_silent(io);
}

/* TC over UDP, and no TCP listener: the retry is refused. */
static void s_tc_no_tcp(struct fake_io *io)
{
	static struct pkt p;
	struct query q;

	close(io->tcp);
	for (;;) {
		fake_recv(io, &q);
		reply_to(&p, &q, q.id, FL_TC, 0);
		send_from(io->udp, &p, &q);
	}
}

/* TC over UDP, and TC again over TCP. */
static void s_tc_twice(struct fake_io *io)
{
	static struct pkt p;
	struct query q;
	uint8_t prefix[2];
	int conn = tc_then_accept(io, &q);

	reply_to(&p, &q, q.id, FL_TC, 0);
	prefix[0] = 0;
	prefix[1] = (uint8_t)p.len;
	write_slowly(conn, prefix, 2, 2);
	write_slowly(conn, p.b, p.len, p.len);
	s_silent(io);
}

/* ---- network cases ---- */

static void expect_addr(const struct dns_result *out, int family, const char *want)
{
	char got[INET6_ADDRSTRLEN];

	ck_assert_int_eq(out->family, family);
	ck_assert_uint_ge(out->count, 1);
	addr_text(family, out->addrs[0], got, sizeof got);
	ck_assert_str_eq(got, want);
}

/* One responder on 127.0.0.1 running script; dns_query for QNAME/A must give 192.0.2.1. */
static void one_server_answers(fake_script script)
{
	struct dns_options opts = { .timeout_ms = 3000, .attempts = 1 };
	struct dns_result out;
	struct fake f;
	int status;

	ck_assert_int_eq(fake_start(&f, "127.0.0.1", script), 0);
	status = dns_query(QNAME, DNS_TYPE_A, &f.server, 1, &opts, &out);
	fake_stop(&f);
	ck_assert_msg(status == DNS_OK, "status %s", dns_strerror(status));
	ck_assert_uint_eq(out.count, 1);
	expect_addr(&out, AF_INET, "192.0.2.1");
}

START_TEST(test_net_plain)
{
	one_server_answers(s_answer);
}
END_TEST

START_TEST(test_net_wrong_id_first)
{
	one_server_answers(s_wrong_id_first);
}
END_TEST

START_TEST(test_net_wrong_question_first)
{
	one_server_answers(s_wrong_question_first);
}
END_TEST

START_TEST(test_net_decoys)
{
	one_server_answers(s_decoys);
}
END_TEST

START_TEST(test_net_wrong_port_first)
{
	one_server_answers(s_wrong_port_first);
}
END_TEST

START_TEST(test_net_wrong_addr_first)
{
	one_server_answers(s_wrong_addr_first);
}
END_TEST

/* Two responders; dns_query must end with status, within [min_ms, max_ms]. */
struct pair_case {
	const char *what;
	fake_script first, second;
	int timeout_ms, attempts;
	int status;
	const char *addr;	/* expected first address when DNS_OK */
	int min_ms, max_ms;
	int second_asked;	/* queries the second should have seen, -1 for any */
};

static const struct pair_case pair_cases[] = {
	{ "dead first server", s_mute, s_answer, 2000, 2, DNS_OK, "192.0.2.1", 450, 900, 1 },
	{ "SERVFAIL first", s_servfail, s_answer, 4000, 2, DNS_OK, "192.0.2.1", 0, 400, 1 },
	{ "REFUSED first", s_refused, s_answer, 4000, 2, DNS_OK, "192.0.2.1", 0, 400, 1 },
	{ "bad reply first", s_badreply, s_answer, 4000, 2, DNS_OK, "192.0.2.1", 0, 400, 1 },
	{ "TCP cut short first", s_tc_then_eof, s_answer, 4000, 2, DNS_OK, "192.0.2.1", 0, 800, 1 },
	{ "TCP silent first", s_tc_then_hang, s_answer, 2000, 1,
	  DNS_OK, "192.0.2.1", 950, 1400, 1 },
	{ "TCP refused first", s_tc_no_tcp, s_answer, 4000, 2, DNS_OK, "192.0.2.1", 0, 400, 1 },
	{ "TC over TCP first", s_tc_twice, s_answer, 4000, 2, DNS_OK, "192.0.2.1", 0, 800, 1 },
	{ "NXDOMAIN is final", s_nxdomain, s_answer, 4000, 2, DNS_ENXDOMAIN, NULL, 0, 400, 0 },
	{ "NODATA is final", s_aaaa_only, s_answer, 4000, 2, DNS_ENODATA, NULL, 0, 400, 0 },
	{ "all SERVFAIL", s_servfail, s_servfail, 4000, 2, DNS_ESERVFAIL, NULL, 0, 400, 2 },
	{ "all bad replies", s_badreply, s_badreply, 4000, 2, DNS_EBADREPLY, NULL, 0, 400, 2 },
	{ "SERVFAIL then silence", s_servfail, s_mute, 1000, 2, DNS_ESERVFAIL, NULL, 900, 1150, 2 },
	{ "no server answers", s_mute, s_mute, 1000, 2, DNS_ETIMEOUT, NULL, 950, 1150, 2 },
	{ "no server answers, 1 attempt", s_mute, s_mute, 600, 1, DNS_ETIMEOUT, NULL, 550, 750, 1 },
};
#define NPAIR (int)(sizeof pair_cases / sizeof pair_cases[0])

START_TEST(test_net_pairs)
{
	const struct pair_case *c = &pair_cases[_i];
	struct dns_options opts = { .timeout_ms = c->timeout_ms, .attempts = c->attempts };
	struct dns_server servers[2];
	struct sighting seen[8];
	struct dns_result out;
	struct fake first, second;
	long long start, elapsed;
	size_t asked;
	int status;

	ck_assert_int_eq(fake_start(&first, "127.0.0.1", c->first), 0);
	ck_assert_int_eq(fake_start(&second, "127.0.0.1", c->second), 0);
	servers[0] = first.server;
	servers[1] = second.server;
	start = now_ms();
	status = dns_query(QNAME, DNS_TYPE_A, servers, 2, &opts, &out);
	elapsed = now_ms() - start;
	asked = fake_sightings(&second, seen, 8, 100);
	fake_stop(&first);
	fake_stop(&second);
	ck_assert_msg(status == c->status, "%s: status %s, want %s", c->what, dns_strerror(status),
		      dns_strerror(c->status));
	ck_assert_msg(elapsed >= c->min_ms && elapsed <= c->max_ms, "%s: took %lld ms, want %d-%d",
		      c->what, elapsed, c->min_ms, c->max_ms);
	if (c->second_asked >= 0)
		ck_assert_msg(asked == (size_t)c->second_asked, "%s: second server asked %zu times",
			      c->what, asked);
	if (c->addr != NULL)
		expect_addr(&out, AF_INET, c->addr);
	else
		ck_assert_uint_eq(out.count, 0);
}
END_TEST

/* A port where nothing listens at all (bound, then closed): the next server answers. */
START_TEST(test_net_nothing_listening)
{
	struct dns_options opts = { .timeout_ms = 2000, .attempts = 1 };
	struct dns_server servers[2];
	struct dns_result out;
	struct fake f;
	long long start, elapsed;
	socklen_t len = sizeof servers[0].addr;
	int fd, status;

	ck_assert_int_eq(dns_server_parse("127.0.0.1", &servers[0]), 0);
	dns_server_set_port(&servers[0], 0);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&servers[0].addr, servers[0].len), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&servers[0].addr, &len), 0);
	close(fd);
	ck_assert_int_eq(fake_start(&f, "127.0.0.1", s_answer), 0);
	servers[1] = f.server;
	start = now_ms();
	status = dns_query(QNAME, DNS_TYPE_A, servers, 2, &opts, &out);
	elapsed = now_ms() - start;
	fake_stop(&f);
	ck_assert_int_eq(status, DNS_OK);
	expect_addr(&out, AF_INET, "192.0.2.1");
	ck_assert_int_lt(elapsed, 1500);
}
END_TEST

/* TC over UDP: the TCP retry brings all 100 addresses, read across partial reads. */
START_TEST(test_net_tcp_retry)
{
	struct dns_options opts = { .timeout_ms = 4000, .attempts = 1 };
	struct sighting seen[2];
	struct dns_result out;
	struct fake f;
	char want[32], got[INET6_ADDRSTRLEN];
	size_t i, sightings;
	int status;

	ck_assert_int_eq(fake_start(&f, "127.0.0.1", s_tc_then_tcp), 0);
	status = dns_query(QNAME, DNS_TYPE_A, &f.server, 1, &opts, &out);
	sightings = fake_sightings(&f, seen, 2, 500);
	fake_stop(&f);
	ck_assert_uint_eq(sightings, 2);
	ck_assert_msg(status == DNS_OK, "status %s", dns_strerror(status));
	ck_assert_uint_eq(out.count, 100);
	for (i = 0; i < out.count; i++) {
		snprintf(want, sizeof want, "10.0.0.%zu", i);
		addr_text(AF_INET, out.addrs[i], got, sizeof got);
		ck_assert_str_eq(got, want);
	}
	ck_assert_uint_eq(seen[0].tcp, 0);
	ck_assert_uint_eq(seen[1].tcp, 1);
	ck_assert_uint_eq(seen[1].qtype, DNS_TYPE_A);
}
END_TEST

static size_t count_distinct(const uint16_t *values, size_t n)
{
	size_t distinct = 0, i, j;

	for (i = 0; i < n; i++) {
		for (j = 0; j < i && values[j] != values[i]; j++)
			;
		distinct += j == i;
	}
	return distinct;
}

/* Eight queries: IDs and source ports are random (a repeat or two by chance is allowed). */
START_TEST(test_net_random_ids_ports)
{
	struct dns_options opts = { .timeout_ms = 2000, .attempts = 1 };
	struct sighting seen[8];
	struct dns_result out;
	uint16_t ids[8], ports[8];
	struct fake f;
	int status[8];
	size_t i, sightings;

	ck_assert_int_eq(fake_start(&f, "127.0.0.1", s_answer), 0);
	for (i = 0; i < 8; i++)
		status[i] = dns_query(QNAME, DNS_TYPE_A, &f.server, 1, &opts, &out);
	sightings = fake_sightings(&f, seen, 8, 500);
	fake_stop(&f);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(status[i], DNS_OK);
	ck_assert_uint_eq(sightings, 8);
	for (i = 0; i < 8; i++) {
		ids[i] = seen[i].id;
		ports[i] = seen[i].port;
	}
	ck_assert_uint_ge(count_distinct(ids, 8), 6);
	ck_assert_uint_ge(count_distinct(ports, 8), 6);
}
END_TEST

/* dns_resolve: A when there is one, and no AAAA question then. */
START_TEST(test_net_resolve_a)
{
	struct sighting seen[4];
	struct dns_result out;
	struct fake f;
	size_t sightings;
	int status;

	ck_assert_int_eq(fake_start(&f, "127.0.0.1", s_answer), 0);
	status = dns_resolve(QNAME, &f.server, 1, NULL, &out);
	sightings = fake_sightings(&f, seen, 4, 200);
	fake_stop(&f);
	ck_assert_int_eq(status, DNS_OK);
	ck_assert_uint_eq(sightings, 1);
	ck_assert_uint_eq(seen[0].qtype, DNS_TYPE_A);
	expect_addr(&out, AF_INET, "192.0.2.1");
}
END_TEST

/* dns_resolve: no A record, so AAAA. */
START_TEST(test_net_resolve_aaaa)
{
	struct sighting seen[4];
	struct dns_result out;
	struct fake f;
	size_t sightings;
	int status;

	ck_assert_int_eq(fake_start(&f, "127.0.0.1", s_aaaa_only), 0);
	status = dns_resolve(QNAME, &f.server, 1, NULL, &out);
	sightings = fake_sightings(&f, seen, 4, 200);
	fake_stop(&f);
	ck_assert_int_eq(status, DNS_OK);
	ck_assert_uint_eq(sightings, 2);
	ck_assert_uint_eq(seen[0].qtype, DNS_TYPE_A);
	ck_assert_uint_eq(seen[1].qtype, DNS_TYPE_AAAA);
	ck_assert_uint_eq(out.count, 1);
	expect_addr(&out, AF_INET6, "2001:db8::1");
}
END_TEST

/* dns_resolve: the A question refused or failed, the AAAA one answered: that AAAA. */
START_TEST(test_net_resolve_a_failed_aaaa_answered)
{
	fake_script scripts[] = { s_a_refused_aaaa_answered, s_a_servfail_aaaa_answered };
	struct dns_result out;
	struct fake f;
	int status;

	ck_assert_int_eq(fake_start(&f, "127.0.0.1", scripts[_i]), 0);
	status = dns_resolve(QNAME, &f.server, 1, NULL, &out);
	fake_stop(&f);
	ck_assert_msg(status == DNS_OK, "script %d: %s", _i, dns_strerror(status));
	expect_addr(&out, AF_INET6, "2001:db8::1");
}
END_TEST

/* dns_resolve: both questions refused: the A question's failure is the answer. */
START_TEST(test_net_resolve_both_refused)
{
	struct dns_options opts = { .timeout_ms = 1000, .attempts = 1 };
	struct dns_result out;
	struct fake f;
	int status;

	ck_assert_int_eq(fake_start(&f, "127.0.0.1", s_refused), 0);
	status = dns_resolve(QNAME, &f.server, 1, &opts, &out);
	fake_stop(&f);
	ck_assert_int_eq(status, DNS_ESERVFAIL);
	ck_assert_uint_eq(out.count, 0);
}
END_TEST

/* A readable cancel fd (main's signalfd once SIGTERM is pending) ends the wait at once. */
START_TEST(test_net_cancel_fd)
{
	struct dns_options opts = { .timeout_ms = 3000 };
	struct dns_result out;
	struct fake f;
	long long start, elapsed;
	int fds[2], status;

	ck_assert_int_eq(pipe(fds), 0);
	opts.cancel_fd = &fds[0];
	ck_assert_int_eq(fake_start(&f, "127.0.0.1", s_silent), 0);
	ck_assert_int_eq(write(fds[1], "x", 1), 1);
	start = now_ms();
	status = dns_resolve(QNAME, &f.server, 1, &opts, &out);
	elapsed = now_ms() - start;
	fake_stop(&f);
	ck_assert_int_eq(status, DNS_ECANCELED);
	ck_assert_int_lt(elapsed, 100);
	ck_assert_uint_eq(out.count, 0);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

/* dns_resolve shares one budget between its two questions. */
START_TEST(test_net_resolve_timeout)
{
	struct dns_options opts = { .timeout_ms = 500, .attempts = 2 };
	struct dns_result out;
	struct fake f;
	long long start, elapsed;
	int status;

	ck_assert_int_eq(fake_start(&f, "127.0.0.1", s_silent), 0);
	start = now_ms();
	status = dns_resolve(QNAME, &f.server, 1, &opts, &out);
	elapsed = now_ms() - start;
	fake_stop(&f);
	ck_assert_int_eq(status, DNS_ETIMEOUT);
	ck_assert_int_ge(elapsed, 450);
	ck_assert_int_le(elapsed, 650);
}
END_TEST

/* The default budget is 5 s. */
START_TEST(test_net_default_timeout)
{
	struct dns_result out;
	struct fake f;
	long long start, elapsed;
	int status;

	ck_assert_int_eq(fake_start(&f, "127.0.0.1", s_silent), 0);
	start = now_ms();
	status = dns_query(QNAME, DNS_TYPE_A, &f.server, 1, NULL, &out);
	elapsed = now_ms() - start;
	fake_stop(&f);
	ck_assert_int_eq(status, DNS_ETIMEOUT);
	ck_assert_int_ge(elapsed, 4950);
	ck_assert_int_le(elapsed, 5150);
}
END_TEST

/* IPv6 servers on ::1, when the host has IPv6: plain, decoy port, TCP retry. */
START_TEST(test_net_ipv6)
{
	static const fake_script scripts[] = { s_answer, s_wrong_port_first, s_tc_then_tcp };
	struct dns_options opts = { .timeout_ms = 3000, .attempts = 1 };
	struct dns_result out;
	struct fake f;
	size_t i;
	int status;

	for (i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
		if (fake_start(&f, "::1", scripts[i]) < 0) {
			/* Skipped here; under CI a test that cannot run fails. */
			ck_assert_msg(!getenv("CI") || !*getenv("CI"), "no IPv6 on ::1 under CI");
			fprintf(stderr, "check_resolve: no IPv6 on ::1, IPv6 case skipped\n");
			return;
		}
		status = dns_query(QNAME, DNS_TYPE_A, &f.server, 1, &opts, &out);
		fake_stop(&f);
		ck_assert_int_eq(f.server.addr.ss_family, AF_INET6);
		ck_assert_int_eq(status, DNS_OK);
		ck_assert_uint_ge(out.count, 1);
		ck_assert_int_eq(out.addrs[0][0], i == 2 ? 10 : 192);
	}
}
END_TEST

/* sendto() to the broadcast address fails (EACCES): a local failure, then the next server. */
START_TEST(test_net_system_error)
{
	struct dns_options opts = { .timeout_ms = 2000, .attempts = 2 };
	struct dns_server servers[2];
	struct dns_result out;
	struct fake f;
	int status;

	ck_assert_int_eq(dns_server_parse("255.255.255.255", &servers[0]), 0);
	errno = 0;
	ck_assert_int_eq(dns_query(QNAME, DNS_TYPE_A, servers, 1, &opts, &out), DNS_ESYSTEM);
	ck_assert_int_eq(errno, EACCES);
	ck_assert_int_eq(fake_start(&f, "127.0.0.1", s_answer), 0);
	servers[1] = f.server;
	status = dns_query(QNAME, DNS_TYPE_A, servers, 2, &opts, &out);
	fake_stop(&f);
	ck_assert_int_eq(status, DNS_OK);
	expect_addr(&out, AF_INET, "192.0.2.1");
}
END_TEST

START_TEST(test_query_invalid)
{
	struct dns_server servers[DNS_MAX_SERVERS + 1];
	struct dns_result out;
	size_t i;

	for (i = 0; i <= DNS_MAX_SERVERS; i++)
		ck_assert_int_eq(dns_server_parse("127.0.0.1", &servers[i]), 0);
	ck_assert_int_eq(dns_query(QNAME, DNS_TYPE_A, servers, 0, NULL, &out), DNS_EINVAL);
	ck_assert_int_eq(dns_query(QNAME, DNS_TYPE_A, NULL, 1, NULL, &out), DNS_EINVAL);
	ck_assert_int_eq(dns_query(QNAME, DNS_TYPE_A, servers, DNS_MAX_SERVERS + 1, NULL, &out),
			 DNS_EINVAL);
	ck_assert_int_eq(dns_query("a..b", DNS_TYPE_A, servers, 1, NULL, &out), DNS_EINVAL);
	ck_assert_int_eq(dns_query("", DNS_TYPE_A, servers, 1, NULL, &out), DNS_EINVAL);
	ck_assert_int_eq(dns_query(QNAME, TYPE_MX, servers, 1, NULL, &out), DNS_EINVAL);
	ck_assert_int_eq(dns_resolve(NULL, servers, 1, NULL, &out), DNS_EINVAL);
	servers[0].addr.ss_family = AF_UNIX;
	ck_assert_int_eq(dns_query(QNAME, DNS_TYPE_A, servers, 1, NULL, &out), DNS_EINVAL);
	ck_assert_uint_eq(out.count, 0);
}
END_TEST

Suite *resolve_suite(void)
{
	Suite *suite = suite_create("resolve");
	TCase *tc;

	tc = tcase_create("build");
	tcase_set_timeout(tc, 5);
	tcase_add_loop_test(tc, test_build_table, 0, NBUILD);
	tcase_add_test(tc, test_build_exact_labels);
	tcase_add_test(tc, test_build_small_buffer);
	suite_add_tcase(suite, tc);

	tc = tcase_create("parse");
	tcase_set_timeout(tc, 5);
	tcase_add_loop_test(tc, test_parse_table, 0, NPARSE);
	tcase_add_test(tc, test_parse_invalid_args);
	suite_add_tcase(suite, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_truncations, 0, NVALID);
	tcase_add_loop_test(tc, test_corruptions, 0, NVALID);
	suite_add_tcase(suite, tc);

	tc = tcase_create("server");
	tcase_set_timeout(tc, 5);
	tcase_add_loop_test(tc, test_server_parse_table, 0, NSERVER);
	tcase_add_test(tc, test_server_parse_null);
	tcase_add_test(tc, test_strerror);
	tcase_add_test(tc, test_query_invalid);
	suite_add_tcase(suite, tc);

	tc = tcase_create("network");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_net_plain);
	tcase_add_test(tc, test_net_wrong_id_first);
	tcase_add_test(tc, test_net_wrong_question_first);
	tcase_add_test(tc, test_net_decoys);
	tcase_add_test(tc, test_net_wrong_port_first);
	tcase_add_test(tc, test_net_wrong_addr_first);
	tcase_add_loop_test(tc, test_net_pairs, 0, NPAIR);
	tcase_add_test(tc, test_net_nothing_listening);
	tcase_add_test(tc, test_net_tcp_retry);
	tcase_add_test(tc, test_net_random_ids_ports);
	tcase_add_test(tc, test_net_resolve_a);
	tcase_add_test(tc, test_net_resolve_aaaa);
	tcase_add_loop_test(tc, test_net_resolve_a_failed_aaaa_answered, 0, 2);
	tcase_add_test(tc, test_net_resolve_both_refused);
	tcase_add_test(tc, test_net_cancel_fd);
	tcase_add_test(tc, test_net_resolve_timeout);
	tcase_add_test(tc, test_net_ipv6);
	tcase_add_test(tc, test_net_system_error);
	suite_add_tcase(suite, tc);

	tc = tcase_create("slow");
	tcase_set_timeout(tc, 15);
	tcase_add_test(tc, test_net_default_timeout);
	suite_add_tcase(suite, tc);
	return suite;
}
