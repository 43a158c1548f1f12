/*
 * ifnets.h: the networks this proxy is attached to, as routed mode's
 * destination guard (guard.h) needs them: every network of an interface
 * address (getifaddrs), but those of the interfaces that carry a default
 * route (/proc/net/route, /proc/net/ipv6_route): that is the way out, where
 * TARGET's hosts are. On Docker's internal network there is no default
 * route, so its network, and any other the proxy is attached to, is
 * guarded. The loopback interface is left out: the fixed ranges cover it.
 */
#ifndef WHITELIST_IFNETS_H
#define WHITELIST_IFNETS_H

#include <stddef.h>

#include "guard.h"

/*
 * Fills out[0..max) with the guarded networks, each once: their count, or
 * -1 with errno when the interfaces cannot be read. *more: how many did not
 * fit. A route file that cannot be read counts as no default route (every
 * network is then guarded).
 */
int ifnets_read(struct guard_net *out, size_t max, size_t *more);

/*
 * 1 when a line of /proc/net/route (IPv4) or /proc/net/ipv6_route (IPv6,
 * ipv6 = 1) is a usable default route; its interface's name then in
 * iface (IF_NAMESIZE bytes). Pure: for the unit tests.
 */
int ifnets_default_route(const char *line, int ipv6, char *iface);

#endif
