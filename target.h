/*
 * target.h: everything about reaching TARGET.
 *
 * The main process decides, before the first fork, whether connections go
 * to one address kept in shared memory (an IP literal, or PRE_RESOLVE=1
 * through NAMESERVERS, refreshed every RESOLVE_INTERVAL) or whether each
 * connection resolves TARGET itself with the system resolver. Children then
 * call target_connect, which also holds the loop guard: an address that
 * leads back to this proxy (the network alias trap, 127.0.0.1, 0.0.0.0, the
 * proxy's own address) is never connected to.
 */
#ifndef WHITELIST_TARGET_H
#define WHITELIST_TARGET_H

#include "addr.h"
#include "config.h"
#include "shared.h"

/* How connections reach TARGET: made by main, read by every child after fork. */
struct target {
	const struct conf *conf;
	struct shared *shared;
	int fixed;	/* 1: connections go to shared->target; 0: each resolves TARGET */
	int literal;	/* TARGET is an IP address: nothing to resolve, ever */
};

enum target_status {
	TARGET_FAILED = -1,	/* unreachable or unresolvable: logged, counted as an upstream error */
	TARGET_SELF = -2,	/* it is this proxy itself: refused, counted, logged once a minute */
	TARGET_STOPPING = -3,	/* target_setup: SIGTERM or SIGINT came during the lookup */
	TARGET_PRIVATE = -4,	/* routed: a wildcard's name led only to guarded addresses */
	TARGET_SELF_CHOSEN = -5,	/* routed: a wildcard's name led to this proxy itself */
	TARGET_TIMEOUT = -6,	/* target_connect_port: the deadline came first (counted as failed) */
};

/*
 * Main, at start: stores TARGET's one address when it is an IP literal or
 * PRE_RESOLVE=1 (through NAMESERVERS, given up when cancel_fd turns
 * readable: TARGET_STOPPING). 0, or dies when TARGET does not resolve.
 */
int target_setup(struct target *target, const struct conf *conf, struct shared *shared,
		 int cancel_fd);

/* 1 when TARGET is asked again every RESOLVE_INTERVAL: PRE_RESOLVE=1 of a name. */
int target_resolves_again(const struct target *target);

/*
 * 1 when target_refresh has something to do every RESOLVE_INTERVAL: resolve
 * again, or read the proxy's networks again (routed mode's destination guard).
 */
int target_refreshes(const struct target *target);

/*
 * RESOLVE_INTERVAL: asks NAMESERVERS again (a failure keeps the address in
 * use); routed mode: reads the proxy's networks again (ifnets.h).
 */
void target_refresh(struct target *target, int cancel_fd);

/*
 * A child: a socket of the type connected to TARGET on to_port (the PORT
 * entry's target port for the port the client came to; counted in port): the
 * shared address, or each of getaddrinfo's (IPv4 first). The fd, with the
 * address used in *used; or TARGET_FAILED or TARGET_SELF, already logged and
 * counted in port.
 */
int target_connect(const struct target *target, struct shared_port *port, uint16_t to_port,
		   int socktype, struct endpoint *used);

/*
 * In a listener, when its relays use the system resolver
 * (target_uses_system_resolver; else nothing): one lookup of
 * "localhost" (in every /etc/hosts: no DNS query), so that libc has read
 * nsswitch.conf, host.conf and resolv.conf and found no nscd before the
 * first fork. Each relay is a fresh copy of the listener: what libc sets up
 * lazily, every relay did again (about 25 system calls, their page faults
 * and allocations). libc still checks those files for changes in each
 * lookup (a stat each) and reads /etc/hosts, so nothing goes stale.
 */
void target_warm_resolver(const struct target *target);

/*
 * 1 when a child may call the system resolver (getaddrinfo): PRE_RESOLVE=0
 * and a TARGET that is a name. glibc then reads the clock through the vDSO
 * (its query ids), so those children must keep it (process.h).
 */
int target_uses_system_resolver(const struct target *target);

/*
 * Routed mode, a child: a TCP connection to the name a client asked for,
 * which conf->routes[route] covers, on to_port. An exact entry is the
 * operator's choice: it goes anywhere but to this proxy (the loop guard:
 * TARGET_SELF, logged, counted, seen by the healthcheck). A wildcard's name
 * is the client's: not to a private range nor into one of the proxy's own
 * networks (guard.h, ifnets.h) unless ROUTE_ALLOW_PRIVATE=1
 * (TARGET_PRIVATE), and never to this proxy (TARGET_SELF_CHOSEN); both for
 * the caller to refuse, and never the loop guard's event. Each address is
 * checked before it is connected to, and the one connected to is the one
 * checked. The fd, or one of those, or TARGET_FAILED (logged, counted).
 */
int target_connect_name(const struct target *target, struct shared_port *port, uint16_t to_port,
			int route, const char *name, struct endpoint *used);

/*
 * Explicit proxy mode, a child: a TCP connection to the TARGET entry a
 * client asked for, on the port it asked for (to). route >= 0: as
 * target_connect_name (conf->routes[route] covers name: an exact entry is
 * the operator's choice, a wildcard's name the client's); -1: the one
 * TARGET of the classic mode, as target_connect. Connecting gives up at
 * deadline_ms (proc_now_ms): TARGET_TIMEOUT. Otherwise the answers of
 * target_connect_name.
 */
int target_connect_port(const struct target *target, struct shared_port *port, int route,
			const char *name, uint16_t to, long long deadline_ms, struct endpoint *used);

/*
 * Why the destination guard refused addr, for a refusal's text: a fixed
 * range's name ("loopback (127.0.0.0/8)"), "this proxy's network
 * 198.18.1.0/24" (written in out), or "this proxy".
 */
const char *target_guard_reason(const struct target *target, const struct sockaddr *addr,
				char *out, size_t size);

/*
 * 1 when a connection to addr would end at this host: loopback, "any", or
 * an address of this host (the kernel, asked for a route there without a
 * packet being sent, picks that same address as our source).
 */
int target_is_self(const struct sockaddr *addr, socklen_t len);

#endif
