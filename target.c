/*
 * target.c: TARGET's address, kept by the main process.
 *
 * When TARGET is an IP literal, or PRE_RESOLVE=1, every connection goes to
 * one address that lives in shared memory (shared.h): relays read it when
 * they connect. PRE_RESOLVE=1 resolves the name through NAMESERVERS at start
 * and, with RESOLVE_INTERVAL, again every interval: new connections then use
 * the new address, open ones keep theirs. The address in use is also written
 * to $TMPDIR/whitelist-PID.target, which the healthcheck reads.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "resolve.h"

/*
 * A refresh runs in the main process, which meanwhile neither reaps nor sees
 * SIGTERM: bounded so a stop still fits in Docker's 10 s with the grace period.
 */
#define TARGET_REFRESH_TIMEOUT_MS 2000

static int target_is_literal;	/* TARGET is an IP address: nothing to resolve */

/* Stores a resolved address (4 or 16 bytes) as the one every new connection uses. */
static void target_store(struct proxy *proxy, int family, const unsigned char *bytes)
{
	struct sockaddr_storage addr = { .ss_family = (sa_family_t)family };

	if (family == AF_INET)
		memcpy(&((struct sockaddr_in *)&addr)->sin_addr, bytes, 4);
	else
		memcpy(&((struct sockaddr_in6 *)&addr)->sin6_addr, bytes, 16);
	shared_target_store(proxy->shared, (struct sockaddr *)&addr);
	proxy->has_fixed_target = 1;
}

/* 1 and the address stored when TARGET is an IP literal (v4 or v6). */
static int target_use_literal(struct proxy *proxy)
{
	unsigned char addr[16];

	if (inet_pton(AF_INET, proxy->conf->target, addr) == 1)
		target_store(proxy, AF_INET, addr);
	else if (inet_pton(AF_INET6, proxy->conf->target, addr) == 1)
		target_store(proxy, AF_INET6, addr);
	else
		return 0;
	target_is_literal = 1;
	return 1;
}

/* "198.18.2.2": the address in use, for logs, the target file and metrics. */
static const char *target_shown(struct proxy *proxy, char *out, size_t size)
{
	struct sockaddr_storage addr;
	socklen_t len;

	if (shared_target_load(proxy->shared, &addr, &len) < 0)
		return "no address";
	return log_host((struct sockaddr *)&addr, out, size);
}

void target_file_write(struct proxy *proxy)
{
	char path[512], partial[520], shown[LOG_ADDR_SIZE];
	int fd;

	if (conf_target_file(path, sizeof path, (long)getpid()) < 0)
		return;
	snprintf(partial, sizeof partial, "%s.new", path);
	fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_errno("unable to write %s (the healthcheck reads it)", partial);
		return;
	}
	dprintf(fd, "%s\n", target_shown(proxy, shown, sizeof shown));
	close(fd);
	if (rename(partial, path) < 0)
		log_errno("unable to write %s (the healthcheck reads it)", path);
}

void target_file_remove(void)
{
	char path[512];

	if (conf_target_file(path, sizeof path, (long)getpid()) == 0)
		unlink(path);
}

/* One of the answer's addresses, chosen at random, as the old image did. */
static void target_pick(struct proxy *proxy, const struct dns_result *result)
{
	uint32_t pick = 0;

	if (getrandom(&pick, sizeof pick, 0) != sizeof pick)
		pick = (uint32_t)getpid();
	target_store(proxy, result->family, result->addrs[pick % (uint32_t)result->count]);
}

void target_setup(struct proxy *proxy)
{
	const struct conf *conf = proxy->conf;
	static struct dns_result result;
	char shown[LOG_ADDR_SIZE];
	int status;

	if (target_use_literal(proxy)) {
		/* An IP literal needs no lookup (and would get NXDOMAIN). */
		if (conf->pre_resolve)
			log_msg("resolved %s to itself: an IP address", conf->target);
		return;
	}
	if (!conf->pre_resolve)
		return;	/* each connection asks the system resolver */
	status = dns_resolve(conf->target, conf->nameservers, conf->nnameservers, NULL, &result);
	if (status != DNS_OK)
		die("TARGET: unable to resolve \"%s\" through NAMESERVERS: %s", conf->target,
		    dns_strerror(status));
	target_pick(proxy, &result);
	log_msg("resolved %s to %s", conf->target, target_shown(proxy, shown, sizeof shown));
}

int target_refreshes(const struct proxy *proxy)
{
	return proxy->conf->pre_resolve && proxy->conf->resolve_interval > 0 && !target_is_literal;
}

/* 1 when the address in use is among the answer's. */
static int target_in_result(struct proxy *proxy, const struct dns_result *result)
{
	struct sockaddr_storage addr;
	socklen_t len;
	const void *bytes;

	if (shared_target_load(proxy->shared, &addr, &len) < 0 || addr.ss_family != result->family)
		return 0;
	bytes = addr.ss_family == AF_INET ? (const void *)&((struct sockaddr_in *)&addr)->sin_addr
					  : (const void *)&((struct sockaddr_in6 *)&addr)->sin6_addr;
	for (size_t i = 0; i < result->count; i++)
		if (memcmp(result->addrs[i], bytes, result->family == AF_INET ? 4 : 16) == 0)
			return 1;
	return 0;
}

void target_refresh(struct proxy *proxy)
{
	const struct conf *conf = proxy->conf;
	struct dns_options opts = { .timeout_ms = TARGET_REFRESH_TIMEOUT_MS };
	static struct dns_result result;
	char shown[LOG_ADDR_SIZE];
	int status;

	status = dns_resolve(conf->target, conf->nameservers, conf->nnameservers, &opts, &result);
	if (status != DNS_OK) {
		/* A passing DNS outage must not stop the forwarding: the old address may work. */
		shared_add(&proxy->shared->resolve_failures, 1);
		log_msg("TARGET: lookup of %s failed (%s), keeping %s", conf->target,
			dns_strerror(status), target_shown(proxy, shown, sizeof shown));
		return;
	}
	/* Still valid: no change, so DNS round-robin does not move us at every interval. */
	if (target_in_result(proxy, &result))
		return;
	target_pick(proxy, &result);
	log_msg("resolved %s to %s", conf->target, target_shown(proxy, shown, sizeof shown));
	target_file_write(proxy);
}
