/*
 * proxy.h: what the proxy's files share. whitelist.c parses the config,
 * binds and supervises; listener.c runs one listener process per port;
 * relay.c is the child that relays one TCP connection; udp.c the UDP modes.
 */
#ifndef WHITELIST_PROXY_H
#define WHITELIST_PROXY_H

#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "slots.h"

#define PROXY_GRACE_MS 5000	/* SIGTERM: open connections get this long, within Docker's 10 s */
#define PROXY_LINGER_MS 500	/* socat -t: after EOF one way, idle time that ends the other */
#define PROXY_BACKLOG 4096	/* socat used 5: waiting clients must finish their handshake */

struct proxy {
	const struct conf *conf;
	/* PRE_RESOLVE=1: the address every connection goes to (port unset). */
	int has_fixed_target;
	struct sockaddr_storage fixed_target;
	socklen_t fixed_target_len;
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
};

/* In a new listener process: its name for the healthcheck, its signals, its slots. */
void listener_become(struct listener_core *core, uint16_t port, const struct conf *conf);
/* poll() on fds (at most 2) plus the signals; the result counts fds only. */
int listener_poll(struct listener_core *core, struct pollfd *fds, nfds_t nfds, int timeout_ms);
/* "3/100": children now, and the limit. */
const char *listener_count(const struct listener_core *core);
_Noreturn void listener_tcp_serve(const struct proxy *proxy, int listen_fd, uint16_t port);
/* The socket is closed: children get PROXY_GRACE_MS, the rest are killed; exits 0. */
_Noreturn void listener_finish(struct listener_core *core);

/* relay.c */
/* Connects a socket of the type to TARGET:port (IPv4 addresses first); fd or -1 (logged). */
int target_connect(const struct proxy *proxy, int socktype, uint16_t port,
		   struct endpoint *used);
_Noreturn void relay_tcp_child(const struct proxy *proxy, uint16_t port, int client_fd,
			       const struct endpoint *client);

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
