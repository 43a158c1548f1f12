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
#include <sys/time.h>
#include <unistd.h>

#include "guard.h"
#include "ifnets.h"
#include "log.h"
#include "process.h"
#include "resolve.h"

/*
 * A refresh runs in the main process, which meanwhile neither reaps nor sees
 * SIGTERM: bounded so a stop still fits in Docker's 10 s with the grace period.
 */
#define TARGET_REFRESH_TIMEOUT_MS 2000
#define TARGET_MAX_ADDRS 16	/* addresses of one name tried, at most: a relay's stack stays small */

/*
 * Explicit proxy mode: when connecting gives up (proc_now_ms; 0: never, as
 * socat) and whether it did. A relay child carries one connection, so this
 * is its own state; target_connect_port sets it.
 */
static long long target_deadline_ms;
static int target_timed_out;

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

/* Stores an address (4 or 16 bytes) in slot, with the loop guard's verdict on it. */
static void target_store(struct target *target, struct shared_addr *slot, int family,
			 const uint8_t *bytes)
{
	struct sockaddr_storage addr;
	socklen_t len = addr_make(&addr, family, bytes, target->conf->ports[0]);

	shared_addr_store(slot, (struct sockaddr *)&addr, target_is_self((struct sockaddr *)&addr, len));
}

/* 1 and the address stored when TARGET is an IP literal (v4 or v6). */
static int target_use_literal(struct target *target)
{
	uint8_t addr[16];

	if (inet_pton(AF_INET, target->conf->target, addr) == 1)
		target_store(target, &target->shared->target, AF_INET, addr);
	else if (inet_pton(AF_INET6, target->conf->target, addr) == 1)
		target_store(target, &target->shared->target, AF_INET6, addr);
	else
		return 0;
	target->literal = target->fixed = 1;
	return 1;
}

/* "198.18.2.2": the address in slot, for logs. */
static const char *target_shown(const struct shared_addr *slot, char *out, size_t size)
{
	struct sockaddr_storage addr;
	socklen_t len;

	if (shared_addr_load(slot, &addr, &len, NULL) < 0)
		return "no address";
	return log_host((struct sockaddr *)&addr, out, size);
}

/* One of the answer's addresses, chosen at random, as the old image did. */
static void target_pick(struct target *target, struct shared_addr *slot,
			const struct dns_result *result)
{
	uint32_t pick = 0;

	if (getrandom(&pick, sizeof pick, 0) != sizeof pick)
		pick = (uint32_t)getpid();
	target_store(target, slot, result->family, result->addrs[pick % (uint32_t)result->count]);
}

/* 1 when the address in slot is among the answer's. */
static int target_in_result(const struct shared_addr *slot, const struct dns_result *result)
{
	struct sockaddr_storage addr;
	uint8_t bytes[16];
	socklen_t len;

	if (shared_addr_load(slot, &addr, &len, NULL) < 0 ||
	    addr_host_bytes((struct sockaddr *)&addr, bytes) != result->family)
		return 0;
	for (size_t i = 0; i < result->count; i++)
		if (memcmp(result->addrs[i], bytes, result->family == AF_INET ? 4 : 16) == 0)
			return 1;
	return 0;
}

/*
 * Resolves name through NAMESERVERS into slot: at start (refresh 0) a
 * failure is fatal; at a refresh it keeps the address in use, and an
 * address still among the answers is kept (DNS round-robin must not move us
 * at every interval). TARGET_STOPPING when cancel_fd turned readable.
 */
static int target_lookup(struct target *target, struct shared_addr *slot, const char *name,
			 int refresh, int cancel_fd)
{
	const struct conf *conf = target->conf;
	struct dns_options opts = { .timeout_ms = refresh ? TARGET_REFRESH_TIMEOUT_MS : 0,
				    .cancel_fd = &cancel_fd };
	static struct dns_result result;
	char shown[LOG_ADDR_SIZE];
	int status = dns_resolve(name, conf->nameservers, conf->nnameservers, &opts, &result);

	if (status == DNS_ECANCELED)
		return TARGET_STOPPING;
	if (status != DNS_OK && !refresh)
		die("TARGET: unable to resolve \"%s\" through NAMESERVERS: %s", name,
		    dns_strerror(status));
	if (status != DNS_OK) {
		/* A passing DNS outage must not stop the forwarding: the old address may work. */
		shared_add(&target->shared->resolve_failures, 1);
		target_shown(slot, shown, sizeof shown);
		log_event(LOG_WARN, "resolve",
			  LOG_FIELDS(LOG_STR("target", name), LOG_STR("address", shown),
				     LOG_STR("error", dns_strerror(status))),
			  "TARGET: lookup of %s failed (%s), keeping %s", name, dns_strerror(status),
			  shown);
		return 0;
	}
	if (refresh && target_in_result(slot, &result))
		return 0;
	target_pick(target, slot, &result);
	target_shown(slot, shown, sizeof shown);
	log_event(LOG_INFO, "resolve", LOG_FIELDS(LOG_STR("target", name), LOG_STR("address", shown)),
		  "resolved %s to %s", name, shown);
	return 0;
}

/* Every exact entry of a routed TARGET (PRE_RESOLVE=1), each in its own slot. */
static int target_lookup_routes(struct target *target, int refresh, int cancel_fd)
{
	const struct conf *conf = target->conf;

	for (size_t i = 0; i < conf->nroutes; i++)
		if (conf->routes[i].kind == CONF_ROUTE_EXACT &&
		    target_lookup(target, &target->shared->routes[i], conf->routes[i].pattern,
				  refresh, cancel_fd) == TARGET_STOPPING)
			return TARGET_STOPPING;
	return 0;
}

/* 1 when routed mode's destination guard is on: wildcards' names are checked. */
static int target_guards(const struct conf *conf)
{
	return conf->routed && !conf->route_allow_private;
}

/* The networks' text ("198.18.1.0/24 2001:db8:1::/64") into out, for the log. */
static const char *target_nets_text(const struct guard_net *nets, size_t count, char *out,
				    size_t size)
{
	char net[GUARD_NET_TEXT];
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < count && used < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? " " : "",
					 guard_net_text(&nets[i], net, sizeof net));
	return count ? out : "none";
}

/*
 * Main: publishes the networks the destination guard refuses besides its
 * fixed ranges (ifnets.h), logged at start and when they change. A failed
 * read keeps the networks published before.
 */
static void target_read_networks(struct target *target, int refresh)
{
	static struct guard_net nets[SHARED_NETS], before[SHARED_NETS];
	static char text[SHARED_NETS * GUARD_NET_TEXT];
	size_t more, had = shared_nets_load(&target->shared->nets, before);
	int count = ifnets_read(nets, SHARED_NETS, &more);

	if (count < 0) {
		log_errno("destination guard: unable to read this proxy's networks");
		return;
	}
	if (refresh && (size_t)count == had && memcmp(nets, before, had * sizeof nets[0]) == 0)
		return;
	shared_nets_store(&target->shared->nets, nets, (size_t)count);
	log_msg("destination guard: wildcards' names may not lead into this proxy's networks: %s%s",
		target_nets_text(nets, (size_t)count, text, sizeof text),
		more ? " (and more, not guarded: too many)" : "");
}

int target_setup(struct target *target, const struct conf *conf, struct shared *shared,
		 int cancel_fd)
{
	*target = (struct target){ .conf = conf, .shared = shared };
	if (target_guards(conf))
		target_read_networks(target, 0);
	if (conf->routed)
		return conf->pre_resolve ? target_lookup_routes(target, 0, cancel_fd) : 0;
	if (target_use_literal(target)) {
		/* An IP literal needs no lookup (and would get NXDOMAIN). */
		if (conf->pre_resolve)
			log_msg("resolved %s to itself: an IP address", conf->target);
		return 0;
	}
	if (!conf->pre_resolve)
		return 0;	/* each connection asks the system resolver */
	target->fixed = 1;
	return target_lookup(target, &shared->target, conf->target, 0, cancel_fd);
}

int target_resolves_again(const struct target *target)
{
	return target->conf->pre_resolve && target->conf->resolve_interval > 0 && !target->literal;
}

int target_refreshes(const struct target *target)
{
	return target_resolves_again(target) ||
	       (target_guards(target->conf) && target->conf->resolve_interval > 0);
}

void target_refresh(struct target *target, int cancel_fd)
{
	if (target_guards(target->conf))
		target_read_networks(target, 1);
	if (!target_resolves_again(target))
		return;
	if (target->conf->routed)
		target_lookup_routes(target, 1, cancel_fd);
	else
		target_lookup(target, &target->shared->target, target->conf->target, 1, cancel_fd);
}

/* --- in the children --- */

/* Addresses to try, in order, each with the port already set. */
struct target_candidates {
	size_t count;
	struct endpoint list[TARGET_MAX_ADDRS];
};

/* How the tries went, when none connected: per refusal, how many and the first. */
struct target_tally {
	size_t count[3];
	struct endpoint first[3];
};

/* Who chose the name: the operator (TARGET, an exact entry) or the client (a wildcard's). */
enum target_chooser { TARGET_BY_OPERATOR, TARGET_BY_CLIENT };

/* The networks of the destination guard, read once per connection, when first needed. */
struct target_nets {
	int loaded;
	size_t count;
	struct guard_net list[SHARED_NETS];
};

/*
 * The loop guard's reaction: counted, and one log line a minute per port, in
 * whichever process sees it first; the healthcheck reads loop_last_ms.
 */
static void target_loop_event(const struct target *target, struct shared_port *port,
			      const char *name, const struct sockaddr *addr)
{
	long long now = proc_now_ms();
	char shown[LOG_ADDR_SIZE], sentence[512];

	shared_add(&port->refused[SHARED_REFUSED_LOOP], 1);
	atomic_store_explicit(&port->loop_last_ms, now, memory_order_relaxed);
	if (!shared_claim_log(&port->loop_logged_ms, now, SHARED_LOOP_WINDOW_MS))
		return;
	shared_addr_store(&port->loop_addr, addr, 1);
	shared_text_store(port->loop_name, sizeof port->loop_name / sizeof port->loop_name[0],
			  name);
	shared_loop_sentence(sentence, sizeof sentence, port->name, name,
			     target->conf->pre_resolve, log_host(addr, shown, sizeof shown));
	log_event(LOG_ERROR, "loop", LOG_FIELDS(LOG_STR("port", port->name), LOG_STR("target", name),
						LOG_STR("address", shown)),
		  "%s", sentence);
}

/* A blocking connect bounded by target_deadline_ms: SO_SNDTIMEO bounds connect() on Linux. */
static int target_connect_until(int fd, const struct sockaddr *addr, socklen_t len)
{
	long long left = target_deadline_ms - proc_now_ms();
	struct timeval timeout = { 0 };
	int status;

	if (left <= 0) {
		target_timed_out = 1;
		errno = ETIMEDOUT;
		return -1;
	}
	timeout.tv_sec = left / 1000;
	timeout.tv_usec = (left % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
	status = connect(fd, addr, len);
	if (status < 0 && (errno == EINPROGRESS || errno == EAGAIN)) {
		target_timed_out = 1;	/* the time ran out, not the peer */
		errno = ETIMEDOUT;
	}
	timeout = (struct timeval){ 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
	return status;
}

static int target_connect_addr(int socktype, const struct sockaddr *addr, socklen_t len)
{
	int fd = socket(addr->sa_family, socktype | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if ((target_deadline_ms ? target_connect_until(fd, addr, len) : connect(fd, addr, len)) == 0)
		return fd;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* target_connect_addr, and one log line naming the name and the address when it fails. */
static int target_connect_logged(const char *name, int socktype, uint16_t port,
				 const struct endpoint *to)
{
	char shown[LOG_ADDR_SIZE];
	int fd = target_connect_addr(socktype, (const struct sockaddr *)&to->addr, to->len);

	if (fd < 0) {
		const char *why = strerror(errno);

		log_addr((const struct sockaddr *)&to->addr, shown, sizeof shown);
		log_event(LOG_ERROR, "error",
			  LOG_FIELDS(LOG_NUM("to_port", port), LOG_STR("target", name),
				     LOG_STR("address", shown), LOG_STR("error", why)),
			  "port %u: unable to connect to %s (%s): %s", port, name, shown, why);
	}
	return fd;
}

/* 1 when addr is in one of the proxy's own networks (shared memory, read at the first call). */
static int target_in_own_nets(const struct target *target, struct target_nets *nets,
			      const struct sockaddr *addr)
{
	if (!nets->loaded) {
		nets->count = shared_nets_load(&target->shared->nets, nets->list);
		nets->loaded = 1;
	}
	return guard_in_nets(addr, nets->list, nets->count) >= 0;
}

/*
 * The guards' verdict on one address: 0 (connect), or the refusal.
 * The operator's name: only the loop guard (TARGET_SELF). The client's
 * name: the destination guard first (the fixed ranges, then the proxy's
 * own networks: TARGET_PRIVATE, lifted by ROUTE_ALLOW_PRIVATE=1), then
 * this proxy itself (TARGET_SELF_CHOSEN, never lifted): a client's choice,
 * refused like any other, never the operator's loop.
 */
static int target_judge(const struct target *target, enum target_chooser chooser,
			struct target_nets *nets, const struct endpoint *to)
{
	const struct sockaddr *addr = (const struct sockaddr *)&to->addr;

	if (chooser == TARGET_BY_CLIENT && !target->conf->route_allow_private &&
	    (guard_is_private(addr) || target_in_own_nets(target, nets, addr)))
		return TARGET_PRIVATE;
	if (target_is_self(addr, to->len))
		return chooser == TARGET_BY_CLIENT ? TARGET_SELF_CHOSEN : TARGET_SELF;
	return 0;
}

/* The tally's index of a refusal. */
static int target_tally_index(int verdict)
{
	return verdict == TARGET_SELF ? 0 : verdict == TARGET_PRIVATE ? 1 : 2;
}

/*
 * Tries the candidates in order, skipping those the guards refuse
 * (target_judge). The fd, or why none connected: when every address was
 * refused, the refusal (TARGET_PRIVATE before TARGET_SELF_CHOSEN; the first
 * such address in *used, for the caller's log line; TARGET_SELF counted as
 * the loop guard's event), else TARGET_FAILED.
 */
static int target_try(const struct target *target, struct shared_port *port, uint16_t to_port,
		      int socktype, const char *name, enum target_chooser chooser,
		      const struct target_candidates *candidates, struct endpoint *used)
{
	static const int order[] = { TARGET_PRIVATE, TARGET_SELF_CHOSEN, TARGET_SELF };
	struct target_tally tally = { .count = { 0 } };
	struct target_nets nets = { 0 };
	size_t refused = 0;

	for (size_t i = 0; i < candidates->count; i++) {
		const struct endpoint *to = &candidates->list[i];
		int verdict = target_judge(target, chooser, &nets, to), fd, at;

		if (verdict) {
			at = target_tally_index(verdict);
			if (!tally.count[at]++)
				tally.first[at] = *to;
			refused++;
		} else if ((fd = target_connect_logged(name, socktype, to_port, to)) >= 0) {
			*used = *to;
			return fd;
		}
	}
	if (candidates->count == 0 || refused < candidates->count)
		return TARGET_FAILED;
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		int at = target_tally_index(order[i]);

		if (tally.count[at]) {
			*used = tally.first[at];
			if (order[i] == TARGET_SELF)
				target_loop_event(target, port, name,
						  (const struct sockaddr *)&used->addr);
			return order[i];
		}
	}
	return TARGET_FAILED;	/* not reached: every refused address is tallied */
}

/* getaddrinfo's list, IPv4 first (socat 1.8's order), otherwise as given. */
static void target_order_v4_first(struct addrinfo *list, struct target_candidates *out)
{
	out->count = 0;
	for (int pass = 0; pass < 2; pass++)
		for (struct addrinfo *ai = list; ai && out->count < TARGET_MAX_ADDRS; ai = ai->ai_next)
			if ((ai->ai_family == AF_INET) == (pass == 0)) {
				struct endpoint *to = &out->list[out->count++];

				memcpy(&to->addr, ai->ai_addr, to->len = ai->ai_addrlen);
			}
}

/* The system resolver's addresses of name (PRE_RESOLVE=0); -1 logged when there are none. */
static int target_getaddrinfo(const char *name, int socktype, uint16_t port,
			      struct target_candidates *out)
{
	struct addrinfo hints = { .ai_socktype = socktype, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *list;
	char service[8];
	int status;

	snprintf(service, sizeof service, "%u", port);
	status = getaddrinfo(name, service, &hints, &list);
	if (status != 0) {
		const char *why = status == EAI_SYSTEM ? strerror(errno) : gai_strerror(status);

		log_event(LOG_ERROR, "error", LOG_FIELDS(LOG_NUM("to_port", port), LOG_STR("target", name),
							 LOG_STR("error", why)),
			  "port %u: unable to resolve TARGET %s: %s", port, name, why);
		return -1;
	}
	target_order_v4_first(list, out);
	freeaddrinfo(list);
	return 0;
}

/* One stored address, on port; its loop-guard verdict, known in advance. */
static int target_from_slot(const struct shared_addr *slot, uint16_t port, struct endpoint *to,
			    int *is_self)
{
	if (shared_addr_load(slot, &to->addr, &to->len, is_self) < 0)
		return -1;
	addr_set_port(&to->addr, port);
	return 0;
}

/* The address main keeps in shared memory: read now, so a refresh reaches this connection. */
static int target_connect_fixed(const struct target *target, struct shared_port *port,
				uint16_t to_port, int socktype, struct endpoint *used)
{
	int is_self, fd;

	if (target_from_slot(&target->shared->target, to_port, used, &is_self) < 0) {
		log_event(LOG_ERROR, "error", LOG_FIELDS(LOG_NUM("to_port", to_port),
							 LOG_STR("target", target->conf->target)),
			  "port %u: no address for TARGET %s", to_port, target->conf->target);
		return TARGET_FAILED;
	}
	if (is_self) {	/* decided by main when it stored it: no probe per connection */
		target_loop_event(target, port, target->conf->target,
				  (const struct sockaddr *)&used->addr);
		return TARGET_SELF;
	}
	fd = target_connect_logged(target->conf->target, socktype, to_port, used);
	return fd < 0 ? TARGET_FAILED : fd;
}

/* TARGET through the system resolver (PRE_RESOLVE=0), each address in turn. */
static int target_connect_resolved(const struct target *target, struct shared_port *port,
				   uint16_t to_port, int socktype, struct endpoint *used)
{
	struct target_candidates candidates;

	if (target_getaddrinfo(target->conf->target, socktype, to_port, &candidates) < 0)
		return TARGET_FAILED;
	return target_try(target, port, to_port, socktype, target->conf->target,
			  TARGET_BY_OPERATOR, &candidates, used);
}

int target_uses_system_resolver(const struct target *target)
{
	return target->conf->routed ? !target->conf->pre_resolve : !target->fixed;
}

void target_warm_resolver(const struct target *target)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *list;

	if (!target_uses_system_resolver(target))
		return;
	if (getaddrinfo("localhost", "1", &hints, &list) == 0)
		freeaddrinfo(list);
}

int target_connect(const struct target *target, struct shared_port *port, uint16_t to_port,
		   int socktype, struct endpoint *used)
{
	int fd = target->fixed ? target_connect_fixed(target, port, to_port, socktype, used)
			       : target_connect_resolved(target, port, to_port, socktype, used);

	if (fd == TARGET_FAILED)
		shared_add(&port->upstream_errors, 1);
	return fd;
}

/* --- routed mode, in the children --- */

/* Addresses as candidates on port. */
static void target_from_addrs(const struct shared_addrs *addrs, uint16_t port,
			      struct target_candidates *out)
{
	out->count = 0;
	for (size_t i = 0; i < addrs->count && out->count < TARGET_MAX_ADDRS; i++) {
		struct endpoint *to = &out->list[out->count++];

		to->len = addr_make(&to->addr, addrs->family, addrs->addrs[i], port);
	}
}

/*
 * A wildcard's name through NAMESERVERS (PRE_RESOLVE=1): from the shared
 * cache, or asked now and cached for the answer's TTL (bounded).
 */
static int target_resolve_name(const struct target *target, const char *name, uint16_t port,
			       struct target_candidates *out)
{
	const struct conf *conf = target->conf;
	struct dns_options opts = { .timeout_ms = TARGET_REFRESH_TIMEOUT_MS };
	static struct dns_result result;
	struct shared_addrs addrs;
	long long now = proc_now_ms();
	int status;

	if (shared_name_load(target->shared, name, now, &addrs) < 0) {
		status = dns_resolve(name, conf->nameservers, conf->nnameservers, &opts, &result);
		if (status != DNS_OK) {
			log_event(LOG_ERROR, "error",
				  LOG_FIELDS(LOG_NUM("to_port", port), LOG_STR("target", name),
					     LOG_STR("error", dns_strerror(status))),
				  "port %u: unable to resolve %s through NAMESERVERS: %s", port, name,
				  dns_strerror(status));
			return -1;
		}
		addrs.family = result.family;
		addrs.count = result.count < SHARED_NAME_ADDRS ? result.count : SHARED_NAME_ADDRS;
		memcpy(addrs.addrs, result.addrs, addrs.count * sizeof addrs.addrs[0]);
		shared_name_store(target->shared, name, &addrs, now + 1000LL *
				  (result.ttl < SHARED_NAME_MAX_TTL_S ? result.ttl : SHARED_NAME_MAX_TTL_S));
	}
	target_from_addrs(&addrs, port, out);
	return 0;
}

int target_connect_name(const struct target *target, struct shared_port *port, uint16_t to_port,
			int route, const char *name, struct endpoint *used)
{
	const struct conf *conf = target->conf;
	int exact = conf->routes[route].kind == CONF_ROUTE_EXACT;
	struct target_candidates candidates;
	int fd, is_self = 0;

	candidates.count = 1;
	if (conf->pre_resolve && exact)
		fd = target_from_slot(&target->shared->routes[route], to_port,
				      &candidates.list[0], &is_self);
	else if (conf->pre_resolve)
		fd = target_resolve_name(target, name, to_port, &candidates);
	else
		fd = target_getaddrinfo(name, SOCK_STREAM, to_port, &candidates);
	if (fd == 0)
		fd = target_try(target, port, to_port, SOCK_STREAM, name,
				exact ? TARGET_BY_OPERATOR : TARGET_BY_CLIENT, &candidates, used);
	else
		fd = TARGET_FAILED;
	if (fd == TARGET_FAILED)
		shared_add(&port->upstream_errors, 1);
	return fd;
}

const char *target_guard_reason(const struct target *target, const struct sockaddr *addr,
				char *out, size_t size)
{
	static struct guard_net nets[SHARED_NETS];
	const char *range = guard_range_name(addr);
	size_t count;
	int at;

	if (range)
		return range;
	count = shared_nets_load(&target->shared->nets, nets);
	if ((at = guard_in_nets(addr, nets, count)) < 0)
		return "this proxy";
	snprintf(out, size, "this proxy's network ");
	guard_net_text(&nets[at], out + strlen(out), size - strlen(out));
	return out;
}

int target_connect_port(const struct target *target, struct shared_port *port, int route,
			const char *name, uint16_t to, long long deadline_ms, struct endpoint *used)
{
	int fd;

	target_deadline_ms = deadline_ms;
	target_timed_out = 0;
	if (route >= 0)
		fd = target_connect_name(target, port, to, route, name, used);
	else if (target->fixed)
		fd = target_connect_fixed(target, port, to, SOCK_STREAM, used);
	else
		fd = target_connect_resolved(target, port, to, SOCK_STREAM, used);
	if (fd == TARGET_FAILED && route < 0)
		shared_add(&port->upstream_errors, 1);
	target_deadline_ms = 0;
	return fd == TARGET_FAILED && target_timed_out ? TARGET_TIMEOUT : fd;
}
