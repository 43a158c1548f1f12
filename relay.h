/*
 * relay.h: the byte pump between two connected TCP sockets, with socat's
 * semantics. It knows nothing of configuration, slots or names: it is
 * handed two sockets, where to count bytes, and whether to dump them.
 */
#ifndef WHITELIST_RELAY_H
#define WHITELIST_RELAY_H

#include <stdatomic.h>
#include <stdint.h>

#define RELAY_LINGER_MS 500	/* socat -t: after EOF one way, idle time that ends the other */

struct relay_options {
	int dump;			/* copy through user space and dump as socat -v (VERBOSE=2) */
	_Atomic uint64_t *up_total;	/* bytes written to the target are added here... */
	_Atomic uint64_t *down_total;	/* ...and bytes written to the client here, as they go */
};

struct relay_totals {
	uint64_t up, down;		/* bytes written to the target, to the client */
};

/*
 * Relays between client_fd and target_fd until both directions have ended,
 * or one has and nothing moved for RELAY_LINGER_MS. EOF from one side is
 * passed on with shutdown(SHUT_WR); a reset reaches the other side as a FIN.
 * Urgent data (MSG_OOB) does not stop it: the stream goes on past the mark,
 * the urgent byte itself left out of band, as socat left it. Both sockets
 * must be non-blocking. 0, or -1 when the dump buffers could not be had.
 */
int relay_run(int client_fd, int target_fd, const struct relay_options *options,
	      struct relay_totals *totals);

#endif
