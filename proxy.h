/*
 * proxy.h: what the proxy's files share. whitelist.c parses the config,
 * binds and supervises; target.c keeps TARGET's address (PRE_RESOLVE,
 * RESOLVE_INTERVAL); listener.c runs one listener process per port;
 * relay.c is the child that relays one TCP connection; udp.c the UDP modes;
 * metrics.c the METRICS_PORT server. shared.h: the memory they all see.
 */
#ifndef WHITELIST_PROXY_H
#define WHITELIST_PROXY_H

#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "shared.h"
#include "slots.h"

#define PROXY_GRACE_MS 5000	/* SIGTERM: open connections get this long, within Docker's 10 s */
#define PROXY_LINGER_MS 500	/* socat -t: after EOF one way, idle time that ends the other */
#define PROXY_BACKLOG 4096	/* socat used 5: waiting clients must finish their handshake */
#define PROXY_REFUSED_LOG_MS 1000	/* ALLOW_FROM refusals: one log line per second at most */

struct proxy {
	const struct conf *conf;
	struct shared *shared;	/* counters, and TARGET's address */
	/*
	 * 1: connections go to shared->target (TARGET is an IP literal, or
	 * PRE_RESOLVE=1); 0: each connection resolves TARGET itself.
	 */
	int has_fixed_target;
};

struct endpoint {
	struct sockaddr_storage addr;
	socklen_t len;
};

/* In a new child: default dispositions, nothing blocked, SIGINT ignored (drain on Ctrl-C). */
void proxy_signals_child(void);

/* listener.c */
int listener_bind(enum conf_mode mode, uint16_t port);
/* What every listener process has: its port, its children's slots, its signals. */
struct listener_core {
	uint16_t port;
	int verbose;
	int signal_fd;		/* SIGTERM, SIGINT, SIGCHLD as events */
	int stopping;		/* SIGTERM or SIGINT came */
	int child_exited;	/* SIGCHLD came: reap */
	struct slots slots;
	struct shared_counters *counters;	/* this port's, in shared memory */
	const struct conf_allow *allow;
	long long refused_window_end;	/* refusals before this are counted, not logged */
	unsigned long refused_unlogged;
};

/* In a new listener process: its name for the healthcheck, its signals, its slots. */
void listener_become(struct listener_core *core, uint16_t port, const struct proxy *proxy);
/*
 * poll() on fds (at most 2) plus the signals, with timeout_ms shortened to
 * the next summary of refused clients; the result counts fds only.
 */
int listener_poll(struct listener_core *core, struct pollfd *fds, nfds_t nfds, int timeout_ms);
/* ALLOW_FROM: 1 when client may pass; else counted, logged (rate-limited), 0. */
int listener_allowed(struct listener_core *core, const struct sockaddr *client);
/* After fork: the slot taken last belongs to pid, one more connection is active. */
void listener_slot_bind(struct listener_core *core, pid_t pid);
/* A reaped child: its slot back, one connection less. 1 when pid held a slot. */
int listener_slot_give(struct listener_core *core, pid_t pid);
/* "3/100": children now, and the limit. */
const char *listener_count(const struct listener_core *core);
_Noreturn void listener_tcp_serve(const struct proxy *proxy, int listen_fd, uint16_t port);
/* The socket is closed: children get PROXY_GRACE_MS, the rest are killed; exits 0. */
_Noreturn void listener_finish(struct listener_core *core);

/* relay.c */
/*
 * Connects a socket of the type to TARGET on the counters' port: the shared
 * address, or each of getaddrinfo's (IPv4 first). fd, or -1 logged and
 * counted as an upstream error.
 */
int target_connect(const struct proxy *proxy, struct shared_counters *counters, int socktype,
		   struct endpoint *used);
_Noreturn void relay_tcp_child(const struct proxy *proxy, struct shared_counters *counters,
			       int client_fd, const struct endpoint *client);

/* target.c (main process) */
/* Stores TARGET's address when it is an IP literal or PRE_RESOLVE=1; dies when unresolvable. */
void target_setup(struct proxy *proxy);
/* RESOLVE_INTERVAL: asks NAMESERVERS again; a failure keeps the address in use. */
void target_refresh(struct proxy *proxy);
/* 1 when target_refresh has something to do: PRE_RESOLVE=1 of a name, an interval set. */
int target_refreshes(const struct proxy *proxy);
/* Records the address in use for the healthcheck, $TMPDIR/whitelist-PID.target (renamed whole). */
void target_file_write(struct proxy *proxy);
void target_file_remove(void);

/* metrics.c */
/* The METRICS_PORT server, in its own process; ends on SIGTERM. */
_Noreturn void metrics_serve(const struct proxy *proxy, int listen_fd);

/* udp.c */
_Noreturn void udp_serve(const struct proxy *proxy, int listen_fd, uint16_t port);

/*
 * fork() for the per-connection children: _Fork() skips the atfork handlers,
 * whose lock resets would dirty (copy) libc's pages in every child. Safe here:
 * the proxy is single-threaded, so no lock is held at the fork.
 */
static inline pid_t proxy_fork(void)
{
	return _Fork();
}

/* Milliseconds on the monotonic clock. */
long long proxy_now_ms(void);

#endif
