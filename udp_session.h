/*
 * udp_session.h: the UDP session child, one per client (address and port)
 * of a UDP_ANSWERS=1 port: it owns an upstream socket connected to TARGET,
 * sends its client's datagrams there and every answer back to the client,
 * until UDP_TIMEOUT seconds pass without traffic either way.
 */
#ifndef WHITELIST_UDP_SESSION_H
#define WHITELIST_UDP_SESSION_H

#include <sys/socket.h>

#include "shared.h"
#include "target.h"

/* How a session ended: its exit status, read by the listener when it reaps it. */
enum udp_session_exit {
	UDP_SESSION_IDLE = 0,		/* UDP_TIMEOUT, or the listener stopping: normal */
	UDP_SESSION_NO_TARGET = 3,	/* TARGET unreachable, unresolvable, or this proxy */
};

/* What a session needs from its listener, and nothing more. */
struct udp_session_args {
	const struct target *target;
	struct shared_port *stats;	/* its port's counters */
	uint16_t to_port;		/* the port on TARGET */
	int verbose;
	long timeout_s;			/* UDP_TIMEOUT; 0 = never */
	int pair_fd;			/* its end of the socketpair: its client's datagrams */
	int listen_fd;			/* the port's socket: answers leave from it on the slow path */
	int notify_fd;			/* the listener's notify pipe (udp_handover.h); -1: slow path */
	struct sockaddr_storage client;
	socklen_t client_len;
};

/* Runs the session; ends the process with an udp_session_exit status. */
_Noreturn void udp_session_run(const struct udp_session_args *args);

#endif
