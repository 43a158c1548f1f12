// fuzz-sources: resolve.c
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
 * Built and run by fuzz/run.sh.
 */
#include "resolve.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define FUZZ_NAME "example.com"
#define FUZZ_QUERY_MAX (12 + 255 + 4)

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
