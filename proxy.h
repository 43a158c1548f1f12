/*
 * proxy.h: what the proxy's files share. whitelist.c parses the config,
 * binds and supervises; listener.c runs one listener process per port;
 * relay.c is the child that relays one TCP connection; udp.c the UDP modes.
 */
#ifndef WHITELIST_PROXY_H
#define WHITELIST_PROXY_H

#include <signal.h>
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

/* Flags set by the signal handlers; read only outside them. */
extern volatile sig_atomic_t proxy_stopping;
extern volatile sig_atomic_t proxy_child_exited;

/* Blocks the handled signals, installs the handlers; returns the mask to wait with. */
void proxy_signals_block(sigset_t *wait_mask);
/* In a new child: default dispositions, nothing blocked, SIGINT ignored (drain on Ctrl-C). */
void proxy_signals_child(void);

/* listener.c */
int listener_bind(enum conf_mode mode, uint16_t port);
/* In a new listener process: its name for the healthcheck, its signals. */
void listener_become(uint16_t port, sigset_t *wait_mask);
_Noreturn void listener_tcp_serve(const struct proxy *proxy, int listen_fd, uint16_t port);
/* The socket is closed: children get PROXY_GRACE_MS, the rest are killed; exits 0. */
_Noreturn void listener_finish(struct slots *slots, uint16_t port, int verbose,
			       const sigset_t *wait_mask);

/* relay.c */
/* Connects a socket of the type to TARGET:port (IPv4 addresses first); fd or -1 (logged). */
int target_connect(const struct proxy *proxy, int socktype, uint16_t port,
		   struct endpoint *used);
_Noreturn void relay_tcp_child(const struct proxy *proxy, uint16_t port, int client_fd,
			       const struct endpoint *client);

/* udp.c */
_Noreturn void udp_serve(const struct proxy *proxy, int listen_fd, uint16_t port);

/* Milliseconds on the monotonic clock. */
long long proxy_now_ms(void);

#endif
