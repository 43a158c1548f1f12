// fuzz-sources: dns_wire.c t/dns_packet.c
/*
 * fuzz/fuzz_resolve.c: libFuzzer target for the resolver's packet code.
 *
 * The input is a DNS reply to a query for example.com: it goes to
 * dns_parse_reply() once as an answer to an A query and once to an AAAA
 * query, with the ID taken from its own first two octets so the fuzzer gets
 * past the ID check and into the question, CNAME and address code. The same
 * octets, read as a name, go to dns_build_query(), whose query, flagged as a
 * reply, must then parse back as an answer with no address (its own question
 * is accepted). Any broken contract aborts, which libFuzzer reports as a crash.
 * Built and run by fuzz/run.sh, which first runs it with FUZZ_WRITE_SEEDS=DIR
 * so that it writes a few valid replies there as seeds: nothing binary is
 * kept in the tree. The seeds are built with the tests' packet builder
 * (t/dns_packet.h).
 */
#include "dns_wire.h"
#include "t/dns_packet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define FUZZ_NAME "example.com"
#define FUZZ_QUERY_MAX (12 + 255 + 4)
#define FUZZ_Q_OFF 12		/* the question name, target of the seeds' pointers */

/* Header and question of a reply for FUZZ_NAME. */
static void seed_start(struct pkt *seed, unsigned id, unsigned flags, unsigned ancount,
		       unsigned qtype)
{
	seed->len = 0;
	pkt_header(seed, id, 0x8180 | flags, 1, ancount, 0, 0);	/* QR RD RA */
	pkt_question(seed, FUZZ_NAME, qtype, PKT_CLASS_IN);
}

/* A record of class IN: owner (raw octets), type, rdata. */
static void seed_rr(struct pkt *seed, const void *owner, size_t owner_len, unsigned type,
		    const void *rdata, size_t rdlen)
{
	size_t mark;

	pkt_bytes(seed, owner, owner_len);
	mark = pkt_rr_begin(seed, type, PKT_CLASS_IN);
	pkt_bytes(seed, rdata, rdlen);
	pkt_rr_end(seed, mark);
}

static void seed_write(const char *dir, const char *name, const struct pkt *seed)
{
	char path[4096];
	FILE *file;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	file = fopen(path, "wb");
	if (file == NULL || fwrite(seed->b, 1, seed->len, file) != seed->len || fclose(file) != 0)
		abort();
}

/* Replies that parse: A, AAAA, several, compressed CNAME, unordered chain, many. */
static void seeds_answers(const char *dir)
{
	static const uint8_t ptr[2] = { 0xc0, 0x0c };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static struct pkt seed;
	uint8_t v4[4] = { 192, 0, 2, 1 };
	int i;

	seed_start(&seed, 0x1234, 0, 1, DNS_TYPE_A);
	seed_rr(&seed, ptr, 2, DNS_TYPE_A, v4, 4);
	seed_write(dir, "a", &seed);
	seed_start(&seed, 0x0001, 0, 1, DNS_TYPE_AAAA);
	seed_rr(&seed, ptr, 2, DNS_TYPE_AAAA, v6, 16);
	seed_write(dir, "aaaa", &seed);
	/* example.com CNAME www.<ptr>; www.example.com (pointer to that rdata) A. */
	seed_start(&seed, 0x4444, 0, 2, DNS_TYPE_A);
	seed_rr(&seed, ptr, 2, DNS_TYPE_CNAME, "\3www\xc0\x0c", 6);
	seed_rr(&seed, (const uint8_t[]){ 0xc0, (uint8_t)(seed.len - 6) }, 2, DNS_TYPE_A, v4, 4);
	seed_write(dir, "cname_compressed", &seed);
	seed_start(&seed, 0x5555, 0, 3, DNS_TYPE_A);
	seed_rr(&seed, "\1b\3org\0", 7, DNS_TYPE_A, v4, 4);
	seed_rr(&seed, ptr, 2, DNS_TYPE_CNAME, "\1a\3net\0", 7);
	seed_rr(&seed, "\1a\3net\0", 7, DNS_TYPE_CNAME, "\1b\3org\0", 7);
	seed_write(dir, "cname_chain", &seed);
	seed_start(&seed, 0x2222, 0, 300, DNS_TYPE_A);
	for (i = 0; i < 300; i++) {
		v4[3] = (uint8_t)i;
		seed_rr(&seed, ptr, 2, DNS_TYPE_A, v4, 4);
	}
	seed_write(dir, "many_a", &seed);
}

/* Replies that do not: TC, NXDOMAIN, SERVFAIL, other classes and types. */
static void seeds_errors(const char *dir)
{
	static const uint8_t ptr[2] = { 0xc0, 0x0c };
	static struct pkt seed;

	seed_start(&seed, 0x6666, 0x0200, 0, DNS_TYPE_A);
	seed_write(dir, "tc", &seed);
	seed_start(&seed, 0x7777, 3, 0, DNS_TYPE_A);
	seed_write(dir, "nxdomain", &seed);
	seed_start(&seed, 0x8888, 2, 0, DNS_TYPE_A);
	seed_write(dir, "servfail", &seed);
	seed_start(&seed, 0x9999, 0, 2, DNS_TYPE_A);
	seed_rr(&seed, ptr, 2, 16, "\5hello", 6);
	seed_rr(&seed, ptr, 2, 15, "\0\12\4mail\xc0\x0c", 9);
	seed_write(dir, "txt_mx", &seed);
}

/* FUZZ_WRITE_SEEDS=DIR: write the seeds into DIR and exit (fuzz/run.sh does this first). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_WRITE_SEEDS");

	(void)argc;
	(void)argv;
	if (dir == NULL)
		return 0;
	seeds_answers(dir);
	seeds_errors(dir);
	exit(0);
}

/* The contract of dns_parse_reply(), whatever the input. */
static void fuzz_check_result(int status, uint16_t qtype, const struct dns_result *out)
{
	if (status < DNS_ETRUNCATED || status > DNS_OK)
		abort();	/* a code dns_parse_reply() never returns */
	if (status == DNS_OK && (out->count < 1 || out->count > DNS_MAX_ADDRS))
		abort();
	if (status != DNS_OK && out->count != 0)
		abort();
	if (out->family != (qtype == DNS_TYPE_AAAA ? AF_INET6 : AF_INET))
		abort();
}

/* The input as a name: whatever dns_build_query() accepts must parse back as its question. */
static void fuzz_build(const uint8_t *data, size_t size)
{
	static struct dns_result out;
	uint8_t query[FUZZ_QUERY_MAX + 1];
	char name[512];
	size_t len;

	if (size >= sizeof name)
		return;
	memcpy(name, data, size);
	name[size] = '\0';
	len = dns_build_query(query, sizeof query, 0x4242, name, DNS_TYPE_A);
	if (len == 0)
		return;
	if (len > FUZZ_QUERY_MAX || len < 12 + 1 + 4)
		abort();
	query[2] |= 0x80;	/* QR: our own query, read as an empty reply */
	if (dns_parse_reply(query, len, 0x4242, name, DNS_TYPE_A, &out) != DNS_ENODATA)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dns_result out;
	uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 0;
	int status;

	status = dns_parse_reply(data, size, id, FUZZ_NAME, DNS_TYPE_A, &out);
	fuzz_check_result(status, DNS_TYPE_A, &out);
	status = dns_parse_reply(data, size, id, FUZZ_NAME, DNS_TYPE_AAAA, &out);
	fuzz_check_result(status, DNS_TYPE_AAAA, &out);
	fuzz_build(data, size);
	return 0;
}
