/*
 * guard.c: see guard.h. Two tables of prefixes, one per family, and the
 * IPv6 forms that carry an IPv4 address, unwrapped and checked as IPv4.
 */
#include "guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct guard_range {
	uint8_t prefix[16];
	unsigned bits;
	const char *name;
};

static const struct guard_range guard_v4[] = {
	{ { 0 }, 8, "unspecified (0.0.0.0/8)" },
	{ { 10 }, 8, "RFC 1918 (10.0.0.0/8)" },
	{ { 100, 64 }, 10, "CGNAT (100.64.0.0/10)" },
	{ { 127 }, 8, "loopback (127.0.0.0/8)" },
	{ { 169, 254 }, 16, "link-local (169.254.0.0/16)" },
	{ { 172, 16 }, 12, "RFC 1918 (172.16.0.0/12)" },
	{ { 192, 168 }, 16, "RFC 1918 (192.168.0.0/16)" },
	{ { 224 }, 4, "multicast (224.0.0.0/4)" },
	{ { 240 }, 4, "reserved (240.0.0.0/4)" },	/* 255.255.255.255 included */
};

static const struct guard_range guard_v6[] = {
	{ { 0 }, 128, "unspecified (::)" },
	{ { [15] = 1 }, 128, "loopback (::1)" },
	{ { 0xfc }, 7, "unique-local (fc00::/7)" },
	{ { 0xfe, 0x80 }, 10, "link-local (fe80::/10)" },
	{ { 0xfe, 0xc0 }, 10, "site-local (fec0::/10)" },
	{ { 0xff }, 8, "multicast (ff00::/8)" },
};

/* 1 when the first bits of addr are prefix's. */
static int guard_prefix_match(const uint8_t *addr, const uint8_t *prefix, unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;

	if (memcmp(addr, prefix, whole) != 0)
		return 0;
	return rest == 0 || ((addr[whole] ^ prefix[whole]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static const char *guard_lookup(const struct guard_range *table, size_t count,
				const uint8_t *addr)
{
	for (size_t i = 0; i < count; i++)
		if (guard_prefix_match(addr, table[i].prefix, table[i].bits))
			return table[i].name;
	return NULL;
}

static const char *guard_v4_name(const uint8_t *v4)
{
	return guard_lookup(guard_v4, sizeof guard_v4 / sizeof guard_v4[0], v4);
}

/*
 * The IPv4 address an IPv6 one carries, when it is in a form that routes to
 * it (into out, 4 bytes; 1), or 0. Teredo carries two: the server's (bits
 * 32-63) and the client's, inverted (the last 32 bits); the second is in
 * out + 4.
 */
static int guard_embedded_v4(const uint8_t *v6, uint8_t *out)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	static const uint8_t compat[12] = { 0 };
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	static const uint8_t nat64_local[6] = { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 };

	if (memcmp(v6, mapped, 12) == 0 || memcmp(v6, compat, 12) == 0 ||
	    memcmp(v6, nat64, 12) == 0 || memcmp(v6, nat64_local, 6) == 0) {
		memcpy(out, v6 + 12, 4);
		return 1;
	}
	if (v6[0] == 0x20 && v6[1] == 0x02) {	/* 6to4: 2002:AABB:CCDD::/48 */
		memcpy(out, v6 + 2, 4);
		return 1;
	}
	if (v6[0] == 0x20 && v6[1] == 0x01 && v6[2] == 0 && v6[3] == 0) {	/* Teredo */
		memcpy(out, v6 + 4, 4);
		for (int i = 0; i < 4; i++)
			out[4 + i] = (uint8_t)~v6[12 + i];
		return 2;
	}
	return 0;
}

const char *guard_range_name(const struct sockaddr *addr)
{
	const uint8_t *v6;
	uint8_t embedded[8];
	const char *name;
	int count;

	if (addr->sa_family == AF_INET)
		return guard_v4_name((const uint8_t *)&((const struct sockaddr_in *)addr)->sin_addr);
	if (addr->sa_family != AF_INET6)
		return "not an IP address";
	v6 = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
	if ((name = guard_lookup(guard_v6, sizeof guard_v6 / sizeof guard_v6[0], v6)))
		return name;
	count = guard_embedded_v4(v6, embedded);
	for (int i = 0; i < count; i++)
		if ((name = guard_v4_name(embedded + 4 * i)))
			return name;
	return NULL;
}

int guard_is_private(const struct sockaddr *addr)
{
	return guard_range_name(addr) != NULL;
}

/* The index of the first net of that family holding bytes, or -1. */
static int guard_net_index(int family, const uint8_t *bytes, const struct guard_net *nets,
			   size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (nets[i].family == family && nets[i].bits <= (family == AF_INET ? 32 : 128) &&
		    guard_prefix_match(bytes, nets[i].prefix, nets[i].bits))
			return (int)i;
	return -1;
}

int guard_in_nets(const struct sockaddr *addr, const struct guard_net *nets, size_t count)
{
	const uint8_t *v6;
	uint8_t embedded[8];
	int found, carried;

	if (addr->sa_family == AF_INET)
		return guard_net_index(AF_INET,
				       (const uint8_t *)&((const struct sockaddr_in *)addr)->sin_addr,
				       nets, count);
	if (addr->sa_family != AF_INET6)
		return -1;
	v6 = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
	if ((found = guard_net_index(AF_INET6, v6, nets, count)) >= 0)
		return found;
	carried = guard_embedded_v4(v6, embedded);
	for (int i = 0; i < carried; i++)
		if ((found = guard_net_index(AF_INET, embedded + 4 * i, nets, count)) >= 0)
			return found;
	return -1;
}

const char *guard_net_text(const struct guard_net *net, char *out, size_t size)
{
	char shown[INET6_ADDRSTRLEN];

	if (!inet_ntop(net->family, net->prefix, shown, sizeof shown))
		snprintf(shown, sizeof shown, "?");
	snprintf(out, size, "%s/%u", shown, net->bits);
	return out;
}
