/*
 * hc_dns.h: the healthcheck's "dns" check, with PRE_RESOLVE=1: is the
 * address the proxy forwards to (its published state) still TARGET's at
 * NAMESERVERS? One answer without it is not proof: the question is asked
 * again; two answers alike without it mean TARGET moved (unhealthy: a
 * restart resolves it again). Answers that keep changing are DNS load
 * balancing: a flag file in the temp dir turns the check off from then on,
 * so the container is not restarted in a loop. No answer at all (timeout,
 * SERVFAIL) is not unhealthy: a restarted proxy could not resolve either.
 */
#ifndef WHITELIST_HC_DNS_H
#define WHITELIST_HC_DNS_H

#include <stddef.h>

#include "config.h"
#include "resolve.h"
#include "shared.h"

#define HC_BALANCED_FLAG "whitelist-dns-balanced"

struct hc_addr {
	int family;
	unsigned char bytes[16];
};

enum hc_dns_verdict {
	HC_DNS_PRESENT,		/* the address in use is among the answer */
	HC_DNS_ASK_AGAIN,	/* missing from the first answer: one answer is not proof */
	HC_DNS_MOVED,		/* missing from two identical answers: TARGET moved */
	HC_DNS_BALANCED,	/* the answers differ: DNS load balancing, stop checking */
};

/* The check; 1 when unhealthy (reported). */
int hc_check_dns(const struct conf *conf, const struct shared *shared);

/*
 * The rule. second is NULL until a second answer was asked for. An empty
 * answer (count 0: the name or its addresses are gone) is an answer.
 */
enum hc_dns_verdict hc_dns_judge(const struct hc_addr *used, const struct dns_result *first,
				 const struct dns_result *second);

/* "198.18.2.3, 198.18.2.4", "no address" for an empty answer. */
const char *hc_dns_format_result(const struct dns_result *result, char *out, size_t size);

#endif
