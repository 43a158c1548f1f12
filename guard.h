/*
 * guard.h: routed mode's destination guard. A name that only a wildcard
 * (or `*`) allowed was chosen by the client, not by the user: it must not
 * lead into the networks behind the proxy, or to the proxy itself.
 */
#ifndef WHITELIST_GUARD_H
#define WHITELIST_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A network: family, prefix length and the prefix (4 or 16 bytes used). */
struct guard_net {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t bits;
	uint8_t prefix[16];
};

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

/*
 * The index of the first of nets[0..count) that holds addr (an IPv4 address
 * carried in one of the IPv6 forms above counts as that IPv4 address), or
 * -1. Pure, like the rest: the caller reads the networks (ifnets.h).
 */
int guard_in_nets(const struct sockaddr *addr, const struct guard_net *nets, size_t count);

/* "198.18.1.0/24": net for a log line, in out (at least GUARD_NET_TEXT bytes). */
#define GUARD_NET_TEXT 48
const char *guard_net_text(const struct guard_net *net, char *out, size_t size);

#endif
