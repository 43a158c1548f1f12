/*
 * hc_dns.c: see hc_dns.h.
 */
#include "hc_dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "hc_report.h"
#include "log.h"

#define HC_DNS_TIMEOUT_MS 2000		/* per question: two of them fit Docker's 30 s easily */
#define HC_SHOWN_ADDRS 8		/* addresses printed from one DNS answer */

/* An IP literal (trailing blanks allowed). */
static int hc_parse_addr(const char *text, struct hc_addr *out)
{
	char copy[INET6_ADDRSTRLEN];
	size_t len = strcspn(text, " \t\r\n");

	if (len == 0 || len >= sizeof copy)
		return -1;
	memcpy(copy, text, len);
	copy[len] = '\0';
	memset(out, 0, sizeof *out);
	out->family = strchr(copy, ':') ? AF_INET6 : AF_INET;
	return inet_pton(out->family, copy, out->bytes) == 1 ? 0 : -1;
}

static int hc_dns_contains(const struct dns_result *result, int family, const unsigned char *addr)
{
	size_t len = family == AF_INET ? 4 : 16;

	if (result->family != family)
		return 0;
	for (size_t i = 0; i < result->count; i++)
		if (memcmp(result->addrs[i], addr, len) == 0)
			return 1;
	return 0;
}

/* Same addresses, in any order: round-robin rotation of one set is not a change. */
static int hc_dns_same_set(const struct dns_result *first, const struct dns_result *second)
{
	if (first->count == 0 || second->count == 0)
		return first->count == second->count;
	for (size_t i = 0; i < first->count; i++)
		if (!hc_dns_contains(second, first->family, first->addrs[i]))
			return 0;
	for (size_t i = 0; i < second->count; i++)
		if (!hc_dns_contains(first, second->family, second->addrs[i]))
			return 0;
	return 1;
}

enum hc_dns_verdict hc_dns_judge(const struct hc_addr *used,
					const struct dns_result *first,
					const struct dns_result *second)
{
	if (hc_dns_contains(first, used->family, used->bytes))
		return HC_DNS_PRESENT;
	if (!second)
		return HC_DNS_ASK_AGAIN;
	/* Two answers alike and both without it: it is gone, not a passing glitch. */
	return hc_dns_same_set(first, second) ? HC_DNS_MOVED : HC_DNS_BALANCED;
}

const char *hc_dns_format_result(const struct dns_result *result, char *out, size_t size)
{
	size_t used = 0;

	snprintf(out, size, "%s", result->count ? "" : "no address");
	for (size_t i = 0; i < result->count && i < HC_SHOWN_ADDRS; i++) {
		char text[INET6_ADDRSTRLEN];

		inet_ntop(result->family, result->addrs[i], text, sizeof text);
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "", text);
		if (used >= size)
			return out;
	}
	if (result->count > HC_SHOWN_ADDRS)
		snprintf(out + used, size - used, " and %zu more", result->count - HC_SHOWN_ADDRS);
	return out;
}

/* One name to check: TARGET, or in routed mode one exact entry, and its slot in the state. */
struct hc_dns_name {
	const char *name;
	const struct shared_addr *slot;
	char flag[512];		/* the temp-dir flag that says its answers keep changing */
};

/*
 * Asks NAMESERVERS for the name. 0 with an answer (possibly empty: the name
 * or its addresses do not exist); -1 with status when no server answered usefully.
 */
static int hc_dns_ask(const struct conf *conf, const char *name, struct dns_result *out,
		      int *status)
{
	struct dns_options opts = { .timeout_ms = HC_DNS_TIMEOUT_MS };

	*status = dns_resolve(name, conf->nameservers, conf->nnameservers, &opts, out);
	if (*status == DNS_ENXDOMAIN || *status == DNS_ENODATA) {
		out->family = 0;
		out->count = 0;
	}
	return *status == DNS_OK || *status == DNS_ENXDOMAIN || *status == DNS_ENODATA ? 0 : -1;
}

/* Remembers that a name's answers change between queries; the file's text is for humans. */
static void hc_dns_flag(const struct hc_dns_name *check, const char *first, const char *second)
{
	int fd = open(check->flag, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		hc_pass("dns", "%s answers keep changing (%s, then %s): DNS load balancing; "
			"unable to write %s: %s", check->name, first, second, check->flag,
			strerror(errno));
		return;
	}
	dprintf(fd, "%s answered %s, then %s: DNS load balancing, the healthcheck no longer "
		"compares addresses\n", check->name, first, second);
	close(fd);
	hc_pass("dns", "%s answers keep changing (%s, then %s): DNS load balancing, check "
		"disabled from now on (%s)", check->name, first, second, check->flag);
}

/* The address the proxy uses, from its published state; -1 reported. */
static int hc_dns_in_use(const struct hc_dns_name *check, struct hc_addr *used, char *shown,
			 size_t size)
{
	struct sockaddr_storage addr;
	socklen_t len;

	if (shared_addr_load(check->slot, &addr, &len, NULL) < 0) {
		hc_fail("dns", "the proxy has published no address in use for %s", check->name);
		return -1;
	}
	memset(used, 0, sizeof *used);
	used->family = addr_host_bytes((struct sockaddr *)&addr, used->bytes);
	log_host((struct sockaddr *)&addr, shown, size);
	return 0;
}

/* After two answers, the first without the address: moved (unhealthy) or balanced. */
static int hc_dns_compare(const struct hc_dns_name *check, const char *in_use,
			  const struct dns_result *first, const struct dns_result *second,
			  enum hc_dns_verdict verdict)
{
	char one[HC_LINE_SIZE / 4], two[HC_LINE_SIZE / 4];

	hc_dns_format_result(first, one, sizeof one);
	hc_dns_format_result(second, two, sizeof two);
	if (verdict == HC_DNS_MOVED)
		return hc_fail("dns", "%s moved: now %s; proxy uses %s (asked twice)",
			       check->name, one, in_use);
	hc_dns_flag(check, one, two);
	return 0;
}

/*
 * No usable answer (timeout, SERVFAIL...): healthy. A restarted proxy could
 * not resolve the name either and would stop forwarding altogether.
 */
static int hc_dns_unanswered(const char *name, int status)
{
	hc_pass("dns", "unable to check %s at NAMESERVERS (%s): not counted as unhealthy", name,
		dns_strerror(status));
	return 0;
}

/* One name: still resolving to the address in use? */
static int hc_dns_check_name(const struct conf *conf, const struct hc_dns_name *check)
{
	static struct dns_result first, second;
	char in_use[INET6_ADDRSTRLEN + 8];
	struct hc_addr used;
	int status;

	if (access(check->flag, F_OK) == 0) {
		hc_pass("dns", "skipped: %s is DNS load balanced (%s exists)", check->name,
			check->flag);
		return 0;
	}
	if (hc_dns_in_use(check, &used, in_use, sizeof in_use) < 0)
		return 1;
	if (hc_dns_ask(conf, check->name, &first, &status) < 0)
		return hc_dns_unanswered(check->name, status);
	if (hc_dns_judge(&used, &first, NULL) == HC_DNS_PRESENT) {
		hc_pass("dns", "%s still resolves to %s", check->name, in_use);
		return 0;
	}
	if (hc_dns_ask(conf, check->name, &second, &status) < 0)
		return hc_dns_unanswered(check->name, status);
	return hc_dns_compare(check, in_use, &first, &second, hc_dns_judge(&used, &first, &second));
}

/* The flag of a name: whitelist-dns-balanced for TARGET, -NAME appended for a routed entry. */
static void hc_dns_flag_path(const char *name, int routed, char *out, size_t size)
{
	char file[sizeof HC_BALANCED_FLAG + CONF_TARGET_SIZE + 2];

	snprintf(file, sizeof file, routed ? HC_BALANCED_FLAG "-%s" : HC_BALANCED_FLAG, name);
	if (conf_temp_path(out, size, file) < 0)
		out[0] = '\0';
}

int hc_check_dns(const struct conf *conf, const struct shared *shared)
{
	struct hc_dns_name check;
	struct hc_addr literal;
	int failed = 0;

	if (!conf->routed && hc_parse_addr(conf->target, &literal) == 0) {
		hc_pass("dns", "TARGET %s is an IP address: nothing to resolve", conf->target);
		return 0;
	}
	if (!conf->routed) {
		check = (struct hc_dns_name){ .name = conf->target, .slot = &shared->target };
		hc_dns_flag_path(conf->target, 0, check.flag, sizeof check.flag);
		return hc_dns_check_name(conf, &check);
	}
	/* Routed: each exact entry; wildcards' names are the clients' choice, not probed. */
	for (size_t i = 0; i < conf->nroutes; i++) {
		if (conf->routes[i].kind != CONF_ROUTE_EXACT)
			continue;
		check = (struct hc_dns_name){ .name = conf->routes[i].pattern,
					      .slot = &shared->routes[i] };
		hc_dns_flag_path(check.name, 1, check.flag, sizeof check.flag);
		failed |= hc_dns_check_name(conf, &check);
	}
	return failed;
}
