/*
 * listener.h: the core every listener process has, TCP (tcp.c) or UDP
 * (udp.c): its port, its children's MAX_CONNECTIONS slots (slots.h), its
 * signals as a signalfd in the same poll as its sockets, ALLOW_FROM, and
 * the graceful end.
 */
#ifndef WHITELIST_LISTENER_H
#define WHITELIST_LISTENER_H

#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "shared.h"
#include "slots.h"

#define LISTENER_GRACE_MS 5000	/* SIGTERM: open connections get this long, within Docker's 10 s */
#define LISTENER_BACKLOG 4096	/* socat used 5: waiting clients must finish their handshake */
#define LISTENER_REFUSED_LOG_MS 1000	/* ALLOW_FROM refusals: one log line per second at most */
#define LISTENER_POLL_SOCKETS 4	/* an entry's sockets polled one by one; more: one epoll */

/* A PORT entry's listening sockets, as main hands them to the entry's one listener. */
struct listener_sockets {
	size_t entry;		/* index in conf->entries and shared->ports */
	const int *fds;		/* fds[i] listens on the entry's i-th port */
	size_t count;
};

/*
 * In a child of the listener: every socket of the entry closed, with no
 * more than two system calls whatever their number (close_range from the
 * lowest to the highest, around keep, which may lie in between).
 */
void listener_sockets_close(const struct listener_sockets *sockets, int keep);

/*
 * Which of an entry's sockets are ready: up to LISTENER_POLL_SOCKETS are
 * put in the poll set themselves; beyond, one epoll descriptor stands for
 * them all (a range of 1,000 ports costs one pollfd and one wake-up).
 */
struct listener_set {
	const struct listener_sockets *sockets;
	int epoll_fd;		/* -1: the sockets are polled directly */
};

struct listener_core {
	const char *name;	/* the entry as written ("20000-20100"), in shared memory */
	int verbose;
	int signal_fd;		/* SIGTERM, SIGINT, SIGCHLD as events */
	int stopping;		/* SIGTERM or SIGINT came */
	int child_exited;	/* SIGCHLD came: reap */
	struct slots slots;
	struct shared_port *stats;	/* this port's counters, in shared memory */
	const struct conf_allow *allow;
	const struct policy *policy;	/* POLICY and ALLOW_FROM's names; NULL: neither */
	int policy_here;		/* classic mode: POLICY is checked here, not in a relay */
	const struct shared *shared;	/* the client names' addresses (names.h) */
	const char *target;		/* TARGET, for classic mode's POLICY refusals */
	long long refused_window_end;	/* refusals before this are counted, not logged */
	unsigned long refused_unlogged;
};

/* The port's socket: dual-stack [::], plain 0.0.0.0 when the host has no IPv6. -1 with errno. */
int listener_bind(enum conf_mode mode, uint16_t port);

/* In a new listener process: its name, its signals, its slots. Dies when it cannot. */
void listener_become(struct listener_core *core, size_t entry, const struct conf *conf,
		     struct shared *shared);

/* The set of sockets; dies when epoll cannot be had. */
void listener_set_init(struct listener_set *set, const struct listener_sockets *sockets);

/* Fills fds (LISTENER_POLL_SOCKETS at most) with what to poll for events; returns how many. */
nfds_t listener_set_pollfds(const struct listener_set *set, struct pollfd *fds, short events);

/*
 * After listener_poll: the indices of ready sockets into ready (at most max),
 * from fds as listener_set_pollfds filled them; returns how many.
 */
size_t listener_set_ready(const struct listener_set *set, const struct pollfd *fds,
			  size_t *ready, size_t max);

/*
 * poll() on fds (at most LISTENER_POLL_SOCKETS + 1) plus the signals, with timeout_ms shortened to
 * the next summary of refused clients; the result counts fds only.
 */
int listener_poll(struct listener_core *core, struct pollfd *fds, nfds_t nfds, int timeout_ms);

/*
 * ALLOW_FROM (its host names' current addresses included), then in classic
 * mode POLICY for the one TARGET: 1 when client may pass; else counted,
 * logged (rate-limited), 0.
 */
int listener_allowed(struct listener_core *core, const struct sockaddr *client);

/* After fork: the slot taken last belongs to pid, one more connection is active. */
void listener_slot_bind(struct listener_core *core, pid_t pid);

/*
 * The next exited child (waitpid, WNOHANG), its slot given back when it held
 * one; 0 when none is left. *status as waitpid's.
 */
pid_t listener_next_exited(struct listener_core *core, int *status);

#define LISTENER_COUNT_SIZE 48

/* "3/100": children now, and the limit, into out (LISTENER_COUNT_SIZE); returns out. */
const char *listener_count(const struct listener_core *core, char *out, size_t size);

/* The socket is closed: children get LISTENER_GRACE_MS, the rest are killed; exits 0. */
_Noreturn void listener_finish(struct listener_core *core);

#endif
