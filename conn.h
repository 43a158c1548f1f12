/*
 * conn.h: the TCP relay child, the process that carries one accepted
 * connection: it reaches TARGET (target.h), then pumps bytes (relay.h).
 */
#ifndef WHITELIST_CONN_H
#define WHITELIST_CONN_H

#include "addr.h"
#include "shared.h"
#include "target.h"

/* What a relay child needs from its listener, and nothing more. */
struct conn_context {
	const struct target *target;
	struct shared_port *stats;	/* its port's counters */
	int verbose;
	int explicit_mode;		/* CONNECT_PORT: the client speaks to the proxy first */
};

/*
 * Relays the client's connection to TARGET on to_port (0: PORT=*, the port
 * the client asked for, read from the redirect: every_port.h); ends the process.
 */
_Noreturn void conn_serve(const struct conn_context *context, int client_fd,
			  const struct endpoint *client, uint16_t to_port);

#endif
