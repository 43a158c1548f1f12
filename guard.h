/*
 * guard.h: routed mode's destination guard. A name that only a wildcard
 * (or `*`) allowed was chosen by the client, not by the user: it must not
 * lead into the networks behind the proxy, or to the proxy itself.
 */
#ifndef WHITELIST_GUARD_H
#define WHITELIST_GUARD_H

#include <sys/socket.h>

/*
 * 1 when addr is in a range no wildcard may reach: loopback, unspecified,
 * link-local, RFC 1918, CGNAT (100.64.0.0/10), unique-local (fc00::/7),
 * multicast, reserved (240.0.0.0/4, broadcast), and any of those carried in
 * IPv4-mapped, IPv4-compatible, NAT64 (64:ff9b::/96, 64:ff9b:1::/48), 6to4
 * (2002::/16) or Teredo (2001::/32) form. Pure: no system call.
 */
int guard_is_private(const struct sockaddr *addr);

/* The range's name for a log line ("RFC 1918", "loopback"...), or NULL when it is not private. */
const char *guard_range_name(const struct sockaddr *addr);

#endif
