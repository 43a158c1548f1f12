/*
 * names.h: the host names clients are known by (POLICY's and ALLOW_FROM's,
 * policy.h gathers them) and their current addresses. Main looks every
 * name up with the system resolver (getaddrinfo: /etc/hosts, then the
 * engine's DNS, where compose services and containers have their names)
 * at start, and a child of main (whitelist-names, one at a time) again
 * every POLICY_REFRESH_S; each writes the answers into shared memory (shared.h, struct shared_client_name). Listeners and
 * relays read them there through names_view(): a connection never waits
 * for a lookup. A lookup that fails keeps the addresses of the last one
 * that answered: a container being restarted does not lock its app out.
 */
#ifndef WHITELIST_NAMES_H
#define WHITELIST_NAMES_H

#include <stddef.h>

#include "policy.h"
#include "shared.h"

/*
 * Looks up every name of policy and stores what each resolves to. At start
 * (at_start 1) a name that does not resolve is an error: -1 with err
 * naming ALLOW_FROM or POLICY and the name. Later a failure is logged and
 * counted, and the name keeps its addresses; a change of address is logged.
 * Main at start, then its whitelist-names child: one writer at a time.
 */
int names_refresh(struct shared *shared, const struct policy *policy, int at_start, char *err,
		  size_t errsize);

/* How many addresses names[index] has now (main, for its log). */
size_t names_count(const struct shared *shared, unsigned index);

/* The view policy.h's matcher reads names through; any process. */
struct policy_names names_view(const struct shared *shared);

/* names[index]'s current addresses include addr (a /32 or /128): policy_names's has(). */
int names_has(const void *shared, unsigned index, const struct conf_net *addr);

#endif
