/*
 * shared.h: the memory every process of the proxy shares: per-port counters
 * (served by METRICS_PORT) and TARGET's current address (PRE_RESOLVE=1,
 * rewritten by the main process every RESOLVE_INTERVAL).
 *
 * One anonymous MAP_SHARED mapping, made by the main process before its
 * first fork: every listener and relay sees the same pages at the same
 * address, and fork never copies them. Counters are C11 atomics updated
 * with relaxed ordering: each is an independent total, so no ordering
 * between them is needed, only that no increment is lost.
 */
#ifndef WHITELIST_SHARED_H
#define WHITELIST_SHARED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

#define SHARED_LINE 64	/* one cache line per port: ports never contend */

struct shared_counters {
	_Alignas(SHARED_LINE) _Atomic uint64_t connections_total;	/* TCP accepts, UDP sessions */
	_Atomic int64_t connections_active;	/* +1 when a child has its slot, -1 when reaped */
	_Atomic uint64_t refused_allow_from;	/* TCP connections, UDP datagrams */
	_Atomic uint64_t upstream_errors;	/* target_connect failures */
	_Atomic uint64_t bytes_up;		/* written to the target */
	_Atomic uint64_t bytes_down;		/* written to clients */
	uint16_t port;
};

/*
 * TARGET's address as a seqlock: the single writer (main) makes seq odd,
 * stores the words, makes it even again; a reader retries while seq is odd
 * or changed under it, so it never sees half of an old and half of a new
 * address. The words are atomics too: no data race, in C11's terms.
 */
struct shared_target {
	_Atomic uint32_t seq;
	_Atomic uint32_t family;	/* 0 until an address is stored */
	_Atomic uint32_t words[4];	/* the address in network order; 1 word for AF_INET */
};

struct shared {
	struct shared_target target;
	_Atomic uint64_t resolve_failures;	/* RESOLVE_INTERVAL lookups that failed */
	size_t nports;
	struct shared_counters ports[];	/* in conf's PORT order */
};

/* The region for conf's ports, zeroed; NULL with errno when mmap fails. */
struct shared *shared_create(const struct conf *conf);

/* The counters of port; NULL when it is not one of the ports. */
struct shared_counters *shared_counters_of(struct shared *shared, uint16_t port);

static inline void shared_add(_Atomic uint64_t *counter, uint64_t amount)
{
	atomic_fetch_add_explicit(counter, amount, memory_order_relaxed);
}

static inline uint64_t shared_get(_Atomic uint64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

/* Main process only: the address new connections go to (its port is ignored). */
void shared_target_store(struct shared *shared, const struct sockaddr *addr);

/* The address (port 0) into out; -1 when none was stored. Any process. */
int shared_target_load(struct shared *shared, struct sockaddr_storage *out, socklen_t *len);

/* Changes with every store: a long-lived upstream socket can tell it must reconnect. */
uint32_t shared_target_version(struct shared *shared);

#endif
