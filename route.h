/*
 * route.h: routed mode in the TCP relay child (TARGET with several names or
 * a wildcard): which host the client asks for, whether TARGET covers it,
 * and the upstream connection to exactly the address checked. The client's
 * bytes are only peeked at: whatever reaches TARGET is what the client sent.
 *
 * One connection's steps, owned by route_connect():
 *
 *   PEEK     the first bytes (MSG_PEEK, at most SNIFF_MAX_PEEK, at most
 *            ROUTE_TIMEOUT), until sniff.h finds the name or refuses them
 *              found                            -> MATCH
 *              no name, two names, bad bytes,
 *              nothing within ROUTE_TIMEOUT     -> REFUSED
 *   MATCH    the entry that covers the name (exact, longest suffix, "*")
 *              covered                          -> CONNECT
 *              not covered                      -> REFUSED (not_allowed)
 *   CONNECT  resolve the name and connect (target_connect_name: the loop
 *            guard always, the destination guard for wildcards)
 *              connected                        -> the relay
 *              only private addresses           -> REFUSED (private_address)
 *              this proxy itself                -> closed (counted as a loop)
 *              unreachable, unresolvable        -> closed with a FIN
 *
 * Explicit proxy mode (CONNECT_PORT, proxy.h) joins the same machine with
 * steps of its own: the client speaks to the proxy first, so its head is
 * read and consumed instead of peeked at:
 *
 *   HEAD     peek until proxy_head.h decides (at most PROXY_HEAD_MAX, at
 *            most ROUTE_TIMEOUT), then consume the head, nothing more
 *              CONNECT host:port, GET http://... -> AUTH
 *              anything else, or 16 KiB           -> REFUSED (400 bad_request)
 *              nothing within ROUTE_TIMEOUT       -> REFUSED (closed, timeout)
 *   AUTH     PROXY_USERS set: Basic credentials, constant time
 *              one of the pairs, or none set      -> MATCH
 *              missing or wrong                   -> REFUSED (407 proxy_auth)
 *   MATCH    the host against TARGET, the port against PORT's
 *              covered                            -> CONNECT
 *              not covered                        -> REFUSED (403 not_allowed,
 *                                                    port_not_allowed)
 *   CONNECT  as above, to the port asked for, giving up after ROUTE_TIMEOUT
 *              connected                          -> OPEN
 *              private, this proxy                -> REFUSED (403)
 *              unresolvable, refused              -> REFUSED (502 unreachable)
 *              too slow                           -> REFUSED (504 connect_timeout)
 *   OPEN     CONNECT: "200 Connection established"; absolute-form: the head
 *            in origin-form to the server       -> the relay
 *
 * A refused client gets, when it spoke TLS, a fatal unrecognized_name alert;
 * when it spoke HTTP, a 403 naming the host; otherwise just the close. Each
 * refusal is counted by reason and logged at most once a second per port
 * and reason. No upstream connection is made for any of them.
 */
#ifndef WHITELIST_ROUTE_H
#define WHITELIST_ROUTE_H

#include "addr.h"
#include "proxy_head.h"
#include "shared.h"
#include "sniff.h"
#include "target.h"

enum route_result {
	ROUTE_CONNECTED = 0,	/* *target_fd is the upstream connection */
	ROUTE_REFUSED = -1,	/* answered (alert, 403) and to be closed; counted, logged */
	ROUTE_LOOP = -2,	/* the name leads to this proxy: close at once (counted, logged) */
	ROUTE_UNREACHABLE = -3,	/* resolving or connecting failed: close with a FIN (logged) */
};

/* What route_connect() found out, for the log lines. */
struct route_outcome {
	struct sniff_result sniffed;
	int route;			/* the TARGET entry that matched, -1 before */
	struct endpoint upstream;	/* the address connected to */
	int explicit_mode;		/* CONNECT_PORT's client: the steps HEAD..OPEN */
	struct proxy_head head;		/* explicit: the head it sent */
};

/*
 * Runs the steps above for one client (explicit_mode: a CONNECT_PORT
 * client). ROUTE_CONNECTED with the upstream fd in *target_fd; otherwise
 * what the caller does with the client.
 */
int route_connect(const struct target *target, struct shared_port *port, int client_fd,
		  const struct endpoint *client, int explicit_mode, struct route_outcome *out,
		  int *target_fd);

#endif
