/*
 * target.c: see target.h.
 */
#include "target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "process.h"
#include "resolve.h"

/*
 * A refresh runs in the main process, which meanwhile neither reaps nor sees
 * SIGTERM: bounded so a stop still fits in Docker's 10 s with the grace period.
 */
#define TARGET_REFRESH_TIMEOUT_MS 2000
#define TARGET_MAX_ADDRS 64

int target_is_self(const struct sockaddr *addr, socklen_t len)
{
	struct sockaddr_storage local;
	socklen_t local_len = sizeof local;
	int fd, self = 0;

	if (addr_is_loopback(addr) || addr_is_unspecified(addr))
		return 1;
	/* A UDP connect only looks the route up: nothing is sent. */
	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	if (connect(fd, addr, len) == 0 &&
	    getsockname(fd, (struct sockaddr *)&local, &local_len) == 0)
		self = addr_same_host((struct sockaddr *)&local, addr);
	close(fd);
	return self;
}

/* Stores an address (4 or 16 bytes) as the one every new connection uses. */
static void target_store(struct target *target, int family, const uint8_t *bytes)
{
	struct sockaddr_storage addr;
	socklen_t len = addr_make(&addr, family, bytes, target->conf->ports[0]);

	shared_addr_store(&target->shared->target, (struct sockaddr *)&addr,
			  target_is_self((struct sockaddr *)&addr, len));
	target->fixed = 1;
}

/* 1 and the address stored when TARGET is an IP literal (v4 or v6). */
static int target_use_literal(struct target *target)
{
	uint8_t addr[16];

	if (inet_pton(AF_INET, target->conf->target, addr) == 1)
		target_store(target, AF_INET, addr);
	else if (inet_pton(AF_INET6, target->conf->target, addr) == 1)
		target_store(target, AF_INET6, addr);
	else
		return 0;
	target->literal = 1;
	return 1;
}

/* "198.18.2.2": the address in use, for logs. */
static const char *target_shown(const struct target *target, char *out, size_t size)
{
	struct sockaddr_storage addr;
	socklen_t len;

	if (shared_addr_load(&target->shared->target, &addr, &len, NULL) < 0)
		return "no address";
	return log_host((struct sockaddr *)&addr, out, size);
}

/* One of the answer's addresses, chosen at random, as the old image did. */
static void target_pick(struct target *target, const struct dns_result *result)
{
	uint32_t pick = 0;

	if (getrandom(&pick, sizeof pick, 0) != sizeof pick)
		pick = (uint32_t)getpid();
	target_store(target, result->family, result->addrs[pick % (uint32_t)result->count]);
}

int target_setup(struct target *target, const struct conf *conf, struct shared *shared,
		 int cancel_fd)
{
	struct dns_options opts = { .cancel_fd = &cancel_fd };
	static struct dns_result result;
	char shown[LOG_ADDR_SIZE];
	int status;

	*target = (struct target){ .conf = conf, .shared = shared };
	if (target_use_literal(target)) {
		/* An IP literal needs no lookup (and would get NXDOMAIN). */
		if (conf->pre_resolve)
			log_msg("resolved %s to itself: an IP address", conf->target);
		return 0;
	}
	if (!conf->pre_resolve)
		return 0;	/* each connection asks the system resolver */
	status = dns_resolve(conf->target, conf->nameservers, conf->nnameservers, &opts, &result);
	if (status == DNS_ECANCELED)
		return TARGET_STOPPING;
	if (status != DNS_OK)
		die("TARGET: unable to resolve \"%s\" through NAMESERVERS: %s", conf->target,
		    dns_strerror(status));
	target_pick(target, &result);
	log_msg("resolved %s to %s", conf->target, target_shown(target, shown, sizeof shown));
	return 0;
}

int target_refreshes(const struct target *target)
{
	return target->conf->pre_resolve && target->conf->resolve_interval > 0 && !target->literal;
}

/* 1 when the address in use is among the answer's. */
static int target_in_result(const struct target *target, const struct dns_result *result)
{
	struct sockaddr_storage addr;
	uint8_t bytes[16];
	socklen_t len;

	if (shared_addr_load(&target->shared->target, &addr, &len, NULL) < 0 ||
	    addr_host_bytes((struct sockaddr *)&addr, bytes) != result->family)
		return 0;
	for (size_t i = 0; i < result->count; i++)
		if (memcmp(result->addrs[i], bytes, result->family == AF_INET ? 4 : 16) == 0)
			return 1;
	return 0;
}

void target_refresh(struct target *target, int cancel_fd)
{
	const struct conf *conf = target->conf;
	struct dns_options opts = { .timeout_ms = TARGET_REFRESH_TIMEOUT_MS,
				    .cancel_fd = &cancel_fd };
	static struct dns_result result;
	char shown[LOG_ADDR_SIZE];
	int status;

	status = dns_resolve(conf->target, conf->nameservers, conf->nnameservers, &opts, &result);
	if (status == DNS_ECANCELED)
		return;	/* stopping: the address in use serves the last connections */
	if (status != DNS_OK) {
		/* A passing DNS outage must not stop the forwarding: the old address may work. */
		shared_add(&target->shared->resolve_failures, 1);
		log_msg("TARGET: lookup of %s failed (%s), keeping %s", conf->target,
			dns_strerror(status), target_shown(target, shown, sizeof shown));
		return;
	}
	/* Still valid: no change, so DNS round-robin does not move us at every interval. */
	if (target_in_result(target, &result))
		return;
	target_pick(target, &result);
	log_msg("resolved %s to %s", conf->target, target_shown(target, shown, sizeof shown));
}

/* --- in the children --- */

/*
 * The loop guard's reaction: counted, and one log line a minute per port, in
 * whichever process sees it first; the healthcheck reads loop_last_ms.
 */
static void target_loop_event(const struct target *target, struct shared_port *port,
			      const struct sockaddr *addr)
{
	long long now = proc_now_ms();
	char shown[LOG_ADDR_SIZE], sentence[512];

	shared_add(&port->refused[SHARED_REFUSED_LOOP], 1);
	atomic_store_explicit(&port->loop_last_ms, now, memory_order_relaxed);
	if (!shared_claim_log(&port->loop_logged_ms, now, SHARED_LOOP_WINDOW_MS))
		return;
	shared_addr_store(&port->loop_addr, addr, 1);
	shared_loop_sentence(sentence, sizeof sentence, port->port, target->conf->target,
			     target->conf->pre_resolve, log_host(addr, shown, sizeof shown));
	log_msg("%s", sentence);
}

static int target_connect_addr(int socktype, const struct sockaddr *addr, socklen_t len)
{
	int fd = socket(addr->sa_family, socktype | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, addr, len) == 0)
		return fd;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* target_connect_addr, and one log line naming TARGET and the address when it fails. */
static int target_connect_logged(const struct target *target, int socktype, uint16_t port,
				 const struct sockaddr *addr, socklen_t len)
{
	char shown[LOG_ADDR_SIZE];
	int fd = target_connect_addr(socktype, addr, len);

	if (fd < 0)
		log_errno("port %u: unable to connect to %s (%s)", port, target->conf->target,
			  log_addr(addr, shown, sizeof shown));
	return fd;
}

/* getaddrinfo's list, IPv4 first (socat 1.8's order), otherwise as given. */
static size_t target_order_v4_first(struct addrinfo *list, struct addrinfo **out)
{
	size_t count = 0;

	for (int pass = 0; pass < 2; pass++)
		for (struct addrinfo *ai = list; ai && count < TARGET_MAX_ADDRS; ai = ai->ai_next)
			if ((ai->ai_family == AF_INET) == (pass == 0))
				out[count++] = ai;
	return count;
}

/*
 * Tries the addresses in order, skipping this proxy's own: the fd, or
 * TARGET_SELF when every address was ours (the alias trap), else TARGET_FAILED.
 */
static int target_connect_list(const struct target *target, struct shared_port *port,
			       int socktype, struct addrinfo **ordered, size_t count,
			       struct endpoint *used)
{
	struct addrinfo *self = NULL;
	size_t selves = 0;

	for (size_t i = 0; i < count; i++) {
		int fd;

		if (target_is_self(ordered[i]->ai_addr, ordered[i]->ai_addrlen)) {
			self = self ? self : ordered[i];
			selves++;
			continue;
		}
		fd = target_connect_logged(target, socktype, port->port, ordered[i]->ai_addr,
					   ordered[i]->ai_addrlen);
		if (fd >= 0) {
			memcpy(&used->addr, ordered[i]->ai_addr, used->len = ordered[i]->ai_addrlen);
			return fd;
		}
	}
	if (count == 0 || selves < count)
		return TARGET_FAILED;
	target_loop_event(target, port, self->ai_addr);
	return TARGET_SELF;
}

static int target_connect_resolved(const struct target *target, struct shared_port *port,
				   int socktype, struct endpoint *used)
{
	struct addrinfo hints = { .ai_socktype = socktype, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *list, *ordered[TARGET_MAX_ADDRS];
	char service[8];
	int status, fd;

	snprintf(service, sizeof service, "%u", port->port);
	status = getaddrinfo(target->conf->target, service, &hints, &list);
	if (status != 0) {
		log_msg("port %u: unable to resolve TARGET %s: %s", port->port, target->conf->target,
			status == EAI_SYSTEM ? strerror(errno) : gai_strerror(status));
		return TARGET_FAILED;
	}
	fd = target_connect_list(target, port, socktype, ordered,
				 target_order_v4_first(list, ordered), used);
	freeaddrinfo(list);
	return fd;
}

/* The address main keeps in shared memory: read now, so a refresh reaches this connection. */
static int target_connect_fixed(const struct target *target, struct shared_port *port,
				int socktype, struct endpoint *used)
{
	int is_self;

	if (shared_addr_load(&target->shared->target, &used->addr, &used->len, &is_self) < 0) {
		log_msg("port %u: no address for TARGET %s", port->port, target->conf->target);
		return TARGET_FAILED;
	}
	addr_set_port(&used->addr, port->port);
	if (is_self) {
		target_loop_event(target, port, (struct sockaddr *)&used->addr);
		return TARGET_SELF;
	}
	int fd = target_connect_logged(target, socktype, port->port,
				       (struct sockaddr *)&used->addr, used->len);
	return fd < 0 ? TARGET_FAILED : fd;
}

int target_connect(const struct target *target, struct shared_port *port, int socktype,
		   struct endpoint *used)
{
	int fd = target->fixed ? target_connect_fixed(target, port, socktype, used)
			       : target_connect_resolved(target, port, socktype, used);

	if (fd == TARGET_FAILED)
		shared_add(&port->upstream_errors, 1);
	return fd;
}
