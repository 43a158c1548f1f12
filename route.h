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
 *              no name, two names, bad name,
 *              not TLS or HTTP, or TLS / HTTP
 *              that breaks its format (malformed),
 *              nothing within ROUTE_TIMEOUT     -> REFUSED
 *   MATCH    the entry that covers the name (exact, longest suffix, "*")
 *              covered                          -> POLICY
 *              not covered                      -> REFUSED (not_allowed)
 *   POLICY   whether POLICY lets this client reach that entry (policy.h:
 *            no lookup, the client names' addresses are in shared memory)
 *              no rule names the entry,
 *              a rule's client is this one      -> CONNECT
 *              rules name it, not for this one  -> REFUSED (policy)
 *   CONNECT  resolve the name and connect (target_connect_name: an exact
 *            entry is the operator's choice, a wildcard's name the client's)
 *              connected                        -> the relay (counted in
 *                                                  whitelist_routed_total)
 *              a wildcard's name, only to private
 *              addresses or the proxy's networks -> REFUSED (private_address)
 *              a wildcard's name, to this proxy -> REFUSED (self_address)
 *              an exact entry, to this proxy    -> closed (the loop guard's
 *                                                  event: TARGET is wrong)
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
 *              covered                            -> POLICY
 *              not covered                        -> REFUSED (403 not_allowed,
 *                                                    port_not_allowed)
 *   POLICY   as above, with the PROXY_USERS name for user:NAME rules
 *              refused                            -> REFUSED (403 policy)
 *   CONNECT  as above, to the port asked for, giving up after ROUTE_TIMEOUT
 *              connected                          -> OPEN
 *              private, this proxy                -> REFUSED (403)
 *              unresolvable, refused              -> REFUSED (502 unreachable)
 *              too slow                           -> REFUSED (504 connect_timeout)
 *   OPEN     CONNECT: "200 Connection established"; absolute-form: the head
 *            in origin-form to the server       -> the relay
 *
 * A refused client gets, when it spoke TLS, a fatal alert (decode_error
 * for malformed, else unrecognized_name); when it spoke HTTP, a 400
 * (malformed) or 403 naming the host; a CONNECT_PORT client its HTTP
 * answer; otherwise just the close. Each
 * refusal is counted by reason and logged at most once a second per port
 * and reason. No upstream connection is made for any of them.
 */
#ifndef WHITELIST_ROUTE_H
#define WHITELIST_ROUTE_H

#include "addr.h"
#include "policy.h"
#include "proxy_head.h"
#include "shared.h"
#include "sniff.h"
#include "target.h"

enum route_result {
	ROUTE_CONNECTED = 0,	/* *target_fd is the upstream connection */
	ROUTE_REFUSED = -1,	/* answered (alert, 403, 400) and to be closed; counted, logged */
	ROUTE_LOOP = -2,	/* the name leads to this proxy: close at once (counted, logged) */
	ROUTE_UNREACHABLE = -3,	/* resolving or connecting failed: close with a FIN (logged) */
};

/* What route_connect() found out, for the log lines. */
struct route_outcome {
	struct sniff_result sniffed;
	int route;			/* the TARGET entry that matched, -1 before */
	char policy_client[POLICY_CLIENT_SIZE];	/* refused by POLICY: the client's name there */
	int grant;			/* let through by POLICY's grant (index), or -1: open entry */
	struct endpoint upstream;	/* the address connected to */
	uint16_t to_port;		/* the port on TARGET (PORT's L:T, a range's, PORT=*'s) */
	int explicit_mode;		/* CONNECT_PORT's client: the steps HEAD..OPEN */
	struct proxy_head head;		/* explicit: the head it sent */
	char user[CONF_USER_SIZE];	/* explicit: the PROXY_USERS name it gave, "" for none */
};

/*
 * Runs the steps above for one client (explicit_mode: a CONNECT_PORT
 * client). ROUTE_CONNECTED with the upstream fd in *target_fd; otherwise
 * what the caller does with the client.
 */
int route_connect(const struct target *target, struct shared_port *port, uint16_t to_port,
		  int client_fd, const struct endpoint *client, int explicit_mode,
		  struct route_outcome *out,
		  int *target_fd);

#endif
