/*
 * shared.h: the memory every process of the proxy shares, and the contract
 * with the healthcheck, in one place.
 *
 * One MAP_SHARED region, made by the main process before its first fork, so
 * every listener and relay sees the same pages at the same address and fork
 * never copies them. It holds per-entry counters (served by METRICS_PORT;
 * an entry of PORT: a port, a pair, a range, "*"),
 * TARGET's current address (PRE_RESOLVE=1, rewritten every RESOLVE_INTERVAL)
 * and what the healthcheck needs to judge the proxy: the main pid, each
 * entry's listener pid and every one of its listening sockets, the loop
 * guard's last event.
 *
 * The region is a file, /dev/shm/whitelist-PID-XXXXXX.state, because the
 * healthcheck runs in the container without CAP_SYS_PTRACE: it cannot look
 * into the proxy's processes (their fds, their namespaces) once they run as
 * RUN_AS, but it can read this file (mode 0644), /proc/PID/stat and
 * /proc/net. /dev/shm is a tmpfs in every container engine, writable with a
 * read-only root, and never written back to a disk: on a disk, writeback
 * would write-protect the pages under the seqlock's writer. Without it, the
 * temp dir ($TMPDIR, /tmp) serves.
 * The healthcheck believes a file only when it is a regular file of the
 * proxy's user (RUN_AS) or root that nobody else may write; it proves that
 * the file is not stale by the main pid's start time in the pid namespace it
 * records, that it is in the proxy's network namespace by finding the
 * published listening sockets' inodes in its own /proc/net tables, and that
 * it is the proxy of its own configuration (ports, TARGET, mode: two proxies
 * may share a network namespace and /dev/shm, as sidecars of a pod do).
 *
 * Counters are C11 atomics updated with relaxed ordering: each is an
 * independent total, so no ordering between them is needed, only that no
 * increment is lost.
 */
#ifndef WHITELIST_SHARED_H
#define WHITELIST_SHARED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "config.h"
#include "guard.h"
#include "policy.h"

#define SHARED_LINE 64		/* ports never share a cache line */
#define SHARED_MAGIC 0x776c7374	/* "wlst": the region is complete */
#define SHARED_VERSION 9	/* the layout below; the healthcheck refuses another */

/* Process names (comm), for people reading ps; the healthcheck goes by pid. */
#define SHARED_MAIN_COMM "whitelist"		/* the executable's name */
#define SHARED_METRICS_COMM "whitelist-stats"
#define SHARED_NAMES_COMM "whitelist-names"	/* POLICY's and ALLOW_FROM's names, every 30 s */
/* An entry's listener, and so its relays: "whitelist:443", "whitelist:20000-" (15 bytes at most). */
#define SHARED_LISTENER_COMM "whitelist:%s"

/* How long a loop-guard event keeps the healthcheck unhealthy, and its log quiet. */
#define SHARED_LOOP_WINDOW_MS 60000

/* Why a client got no upstream connection: whitelist_connections_refused_total{reason}. */
enum shared_refusal {
	SHARED_REFUSED_ALLOW_FROM,	/* not in ALLOW_FROM */
	SHARED_REFUSED_LOOP,		/* TARGET is this proxy itself */
	SHARED_REFUSED_NOT_ALLOWED,	/* routed: a name no entry covers */
	SHARED_REFUSED_NO_NAME,		/* routed: no SNI, no Host, or a name that is none */
	SHARED_REFUSED_AMBIGUOUS,	/* routed: two names (two Hosts, Host against the URL) */
	SHARED_REFUSED_NOT_TLS_OR_HTTP,	/* routed: neither a ClientHello nor an HTTP/1.x request */
	SHARED_REFUSED_TIMEOUT,		/* routed: no name within ROUTE_TIMEOUT */
	SHARED_REFUSED_PRIVATE,		/* routed: a wildcard's name led to a private address */
	SHARED_REFUSED_SELF,		/* routed: a wildcard's name led to this proxy itself */
	SHARED_REFUSED_MALFORMED,	/* routed: TLS or HTTP that breaks its format */
	SHARED_REFUSED_POLICY,		/* POLICY: the entry is not for this client */
	SHARED_REFUSED_BAD_REQUEST,	/* CONNECT_PORT: no proxy request (400) */
	SHARED_REFUSED_PORT,		/* CONNECT_PORT: a port not among PORT's (403) */
	SHARED_REFUSED_AUTH,		/* CONNECT_PORT: credentials missing or wrong (407) */
	SHARED_REFUSED_UNREACHABLE,	/* CONNECT_PORT: no address, or refused (502) */
	SHARED_REFUSED_CONNECT_TIMEOUT,	/* CONNECT_PORT: connecting took ROUTE_TIMEOUT (504) */
	SHARED_REFUSALS
};

/* Why the UDP listener dropped datagrams: whitelist_datagrams_dropped_total{reason}. */
enum shared_drop {
	SHARED_DROPPED_QUEUE_FULL,	/* no room to wait for a session slot */
	SHARED_DROPPED_UPSTREAM_DOWN,	/* TARGET could not be reached: no session for a while */
	SHARED_DROPPED_SESSION_LOST,	/* its session died before reading it */
	SHARED_DROPS
};

/* The metrics' label values of the reasons above, in their order. */
extern const char *const shared_refusal_names[SHARED_REFUSALS];
extern const char *const shared_drop_names[SHARED_DROPS];

/* An address under a seqlock: one writer (see shared_addr_store), any readers. */
struct shared_addr {
	_Atomic uint32_t seq;
	_Atomic uint32_t family;	/* 0 until an address is stored */
	_Atomic uint32_t words[4];	/* the address in network order; 1 word for AF_INET */
	_Atomic uint32_t is_self;	/* it leads back to this proxy (target.c decides) */
};

struct shared_port {
	_Alignas(SHARED_LINE) _Atomic uint64_t connections_total; /* TCP accepts, UDP sessions */
	_Atomic int64_t connections_active;	/* +1 when a child has its slot, -1 when reaped */
	_Atomic uint64_t upstream_errors;	/* connections to TARGET that failed */
	_Atomic uint64_t bytes_up;		/* written to the target */
	_Atomic uint64_t bytes_down;		/* written to clients */
	_Atomic uint64_t refused[SHARED_REFUSALS];
	_Atomic uint64_t dropped[SHARED_DROPS];
	_Atomic uint64_t routed[CONF_MAX_ROUTES];	/* routed mode: connections per TARGET entry */
	_Atomic uint64_t routed_grant[POLICY_MAX_GRANTS];	/* routed, POLICY: per rule's client */
	_Atomic int64_t refused_logged_ms[SHARED_REFUSALS];	/* routed: a line a second per reason */
	_Atomic int64_t loop_last_ms;		/* last loop-guard event (proc_now_ms), 0: none */
	_Atomic int64_t loop_logged_ms;		/* last log line about it: one a minute */
	struct shared_addr loop_addr;		/* where it led, for the log and the healthcheck */
	_Atomic uint64_t loop_name[(CONF_TARGET_SIZE + 7) / 8];	/* the name that led there */
	_Atomic int32_t listener_pid;		/* written by main when it starts the listener */
	uint32_t first_socket, nsockets;	/* its sockets: shared_sockets(shared)[first...] */
	uint16_t port;				/* its first listening port (0: PORT=*), for logs */
	uint16_t last;				/* its last listening port */
	char name[CONF_PORT_TEXT];		/* the entry as written: metrics' and healthcheck's */
};

/* One listening socket of an entry, as /proc/net/{tcp,udp}* show it: for the healthcheck. */
struct shared_socket {
	_Atomic uint64_t inode;			/* written by main before its listener starts */
	_Atomic uint32_t port;			/* PORT=*: the port the kernel chose, once bound */
	uint32_t entry;				/* index in ports[] */
};

/*
 * Routed mode: the addresses of a name a wildcard allowed, resolved through
 * NAMESERVERS by one relay and reused by the next ones until the answer's
 * TTL (at most SHARED_NAME_MAX_TTL_S) runs out. A direct-mapped cache:
 * a name's slot is its hash. Any process writes, so a writer first claims
 * the slot by making seq odd; readers treat a slot being written as a miss.
 */
#define SHARED_NAMES 64
#define SHARED_NAME_ADDRS 8
#define SHARED_NAME_MAX_TTL_S 60
struct shared_name {
	_Atomic uint32_t seq;
	_Atomic uint32_t family;
	_Atomic uint32_t count;
	_Atomic int64_t expires_ms;
	_Atomic uint64_t name[(CONF_TARGET_SIZE + 7) / 8];
	_Atomic uint32_t addrs[SHARED_NAME_ADDRS][4];
};

/* Addresses of one name, all of one family, as the cache keeps them. */
struct shared_addrs {
	int family;
	size_t count;
	uint8_t addrs[SHARED_NAME_ADDRS][16];
};

/*
 * Routed mode's destination guard: the networks this proxy is attached to
 * (but the way out), read by main at start and every RESOLVE_INTERVAL
 * (target.c), under a seqlock like an address; relays read them per
 * connection. At most SHARED_NETS; the rest are dropped (and logged).
 */
#define SHARED_NETS 32
struct shared_nets {
	_Atomic uint32_t seq;
	_Atomic uint32_t count;
	_Atomic uint32_t kind[SHARED_NETS];	/* family << 8 | prefix length */
	_Atomic uint32_t words[SHARED_NETS][4];	/* the prefix, network order */
};

/*
 * The host names of POLICY and ALLOW_FROM (policy.h's names, same index)
 * and their addresses, looked up again every POLICY_REFRESH_S by main, the
 * one writer (names.c); listeners and relays only read, so no connection
 * makes a lookup. A seqlock per name, as shared_addr's: a reader that sees
 * seq odd or changed reads again.
 */
#define SHARED_CLIENT_ADDRS 16
struct shared_client_name {
	_Atomic uint32_t seq;
	_Atomic uint32_t count;
	_Atomic uint32_t families[SHARED_CLIENT_ADDRS];	/* AF_INET (1 word used) or AF_INET6 */
	_Atomic uint32_t addrs[SHARED_CLIENT_ADDRS][4];	/* network order */
};

struct shared {
	uint32_t magic;			/* SHARED_MAGIC, written last */
	uint32_t version;
	uint64_t size;			/* of the whole region, ports included */
	int32_t main_pid;
	uint64_t main_starttime;	/* /proc/PID/stat: tells a reused pid apart */
	uint64_t pidns;			/* main's pid namespace (its inode): where main_pid means it */
	uint64_t conf_hash;		/* shared_conf_hash: which configuration this proxy serves */
	char targets[256];		/* TARGET's entries (cut), for the healthcheck's messages */
	uint32_t mode;			/* SOCK_STREAM or SOCK_DGRAM */
	struct shared_addr target;	/* TARGET's one address, when it has one */
	struct shared_addr routes[CONF_MAX_ROUTES];	/* routed, PRE_RESOLVE=1: exact entries' */
	struct shared_name names[SHARED_NAMES];		/* routed, PRE_RESOLVE=1: wildcards' */
	_Atomic uint64_t resolve_failures;	/* RESOLVE_INTERVAL lookups that failed */
	struct shared_nets nets;		/* routed: the proxy's own networks (guard.h) */
	struct shared_client_name client_names[POLICY_MAX_NAMES];	/* POLICY, ALLOW_FROM */
	_Atomic uint64_t client_name_failures;	/* their lookups that failed (addresses kept) */
	uint32_t nports;		/* PORT's entries */
	uint32_t nsockets;		/* their listening sockets, after ports[] */
	struct shared_port ports[];	/* in PORT's order; then nsockets struct shared_socket */
};

/* The sockets of every entry, in order: after the last entry. */
static inline struct shared_socket *shared_sockets(const struct shared *shared)
{
	return (struct shared_socket *)(void *)&((struct shared *)shared)->ports[shared->nports];
}

/*
 * The region for conf's entries (conf_listener_entries: PORT's, then
 * CONNECT_PORT's) and their sockets, zeroed, for a proxy whose sockets are
 * of conf's mode, with the configuration's identity (shared_conf_hash).
 * Published as a file in shared_dir() whose name nobody else can have made
 * ("whitelist-PID-XXXXXX.state", shared_published), its memory committed
 * at once (no page of a full tmpfs is ever first touched through the
 * mapping: that would be a SIGBUS), created as fsuid `owner` (the main
 * process can then remove it after becoming RUN_AS). When that fails:
 * anonymous memory, committed too, and *published = 0 (errno says why;
 * ENOSPC or EDQUOT: an empty state file says so to the healthcheck). NULL
 * with errno when no memory can be mapped at all.
 */
struct shared *shared_create_conf(const struct conf *conf, uid_t owner, int *published);

/* The same for bare entries (the unit tests): no TARGET in its identity. */
struct shared *shared_create(const struct conf_port *entries, size_t nentries, int mode,
			     uid_t owner, int *published);

/* Removes the file this process published, or its empty no-room one (main, at exit). */
void shared_unpublish(const struct shared *shared);

/* The path this process published its state at (or its empty no-room file); NULL: none. */
const char *shared_published(void);

#define SHARED_DIR "/dev/shm"

/* Where state files are: SHARED_DIR when it is a directory we may write, else the temp dir. */
const char *shared_dir(void);

/*
 * Which configuration a proxy serves: its mode (SOCK_STREAM, SOCK_DGRAM),
 * its ports in order and TARGET's entries (conf->targets). The healthcheck
 * computes it from its own environment and looks for the proxy that has it.
 */
uint64_t shared_conf_hash(int mode, const struct conf_port *entries, size_t nentries,
			  const char *targets);

/* The random part of a state file's name: whitelist-PID-XXXXXX.state. */
#define SHARED_RANDOM 6

/* The main pid of a state file's name, "whitelist-PID-XXXXXX.state"; 0 when it is not one. */
long shared_state_pid(const char *name);

/* This process's pid namespace (the inode of /proc/self/ns/pid); 0 when unknown. */
uint64_t shared_pidns(void);

/*
 * The healthcheck's view: maps path read-only and checks it is a complete
 * region of this version. NULL with errno: ENOENT or EACCES; EPERM for a
 * file that is not a regular one with one name, owned by one of owners,
 * that only its owner may write (refused before it is mapped); ENODATA for
 * an empty one (a proxy that had no room); EPROTO for a file that is not a
 * state. info: the file's (st_uid: whose it is), zeroed when it could not
 * be opened. shared_close when done.
 */
const struct shared *shared_open(const char *path, const uid_t *owners, size_t nowners,
				 struct stat *info);
void shared_close(const struct shared *shared);

/* The entry that listens on port; NULL when none does. */
struct shared_port *shared_port_of(struct shared *shared, uint16_t port);

static inline void shared_add(_Atomic uint64_t *counter, uint64_t amount)
{
	atomic_fetch_add_explicit(counter, amount, memory_order_relaxed);
}

static inline uint64_t shared_get(const _Atomic uint64_t *counter)
{
	return atomic_load_explicit((_Atomic uint64_t *)counter, memory_order_relaxed);
}

/* One writer at a time: stores addr (port ignored) and whether it is this proxy. */
void shared_addr_store(struct shared_addr *slot, const struct sockaddr *addr, int is_self);

/* The address (port 0) into out and its is_self; -1 when none was stored. Any process. */
int shared_addr_load(const struct shared_addr *slot, struct sockaddr_storage *out,
		     socklen_t *len, int *is_self);

/* Changes with every store: a long-lived upstream socket can tell it must reconnect. */
uint32_t shared_addr_version(const struct shared_addr *slot);

/*
 * A short text in atomic words (the loop guard's name): stored by the
 * process that claimed the log line; a read racing a store may mix the two,
 * which only a message shows.
 */
void shared_text_store(_Atomic uint64_t *words, size_t count, const char *text);
void shared_text_load(const _Atomic uint64_t *words, size_t count, char *out, size_t size);

/* The cached addresses of name (lower case) when fresh at now: 0, else -1. */
int shared_name_load(const struct shared *shared, const char *name, long long now,
		     struct shared_addrs *out);

/* Caches name's addresses until expires_ms; skipped when another process is writing its slot. */
void shared_name_store(struct shared *shared, const char *name, const struct shared_addrs *addrs,
		       long long expires_ms);

/* Main (one writer): publishes the guard's networks, at most SHARED_NETS of them. */
void shared_nets_store(struct shared_nets *slot, const struct guard_net *nets, size_t count);

/* The published networks into out (room for SHARED_NETS): their count. Any process. */
size_t shared_nets_load(const struct shared_nets *slot, struct guard_net *out);

/*
 * Claims the right to log an event of a rate-limited kind: 1 when the last
 * claim (in any process) is at least period_ms old, and then it is now's.
 */
int shared_claim_log(_Atomic int64_t *last_ms, long long now, long long period_ms);

/*
 * The loop guard's sentence, the same in the proxy's log and the
 * healthcheck: "port 80: TARGET x is this proxy itself (198.18.2.1): ...",
 * with advice that depends on how TARGET was resolved.
 */
void shared_loop_sentence(char *out, size_t size, const char *port, const char *target,
			  int pre_resolve, const char *address);

#endif
