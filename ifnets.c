/*
 * ifnets.c: see ifnets.h. Read by main only (at start and every
 * RESOLVE_INTERVAL), never by a relay: they get the result through shared
 * memory.
 */
#include "ifnets.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#define IFNETS_EXITS 8		/* interfaces with a default route, at most, remembered */
#define IFNETS_LINE 256

int ifnets_default_route(const char *line, int ipv6, char *iface)
{
	char name[IF_NAMESIZE + 1], dest[33], mask[9];
	unsigned flags, bits;

	if (ipv6) {
		/* dest destlen src srclen nexthop metric refcnt use flags iface */
		if (sscanf(line, "%32s %x %*s %*s %*s %*s %*s %*s %x %16s", dest, &bits, &flags,
			   name) != 4)
			return 0;
		if (strcmp(dest, "00000000000000000000000000000000") != 0 || bits != 0)
			return 0;
	} else {
		/* Iface Destination Gateway Flags RefCnt Use Metric Mask ... */
		if (sscanf(line, "%16s %8s %*s %x %*s %*s %*s %8s", name, dest, &flags, mask) != 4)
			return 0;
		if (strcmp(dest, "00000000") != 0 || strcmp(mask, "00000000") != 0)
			return 0;
	}
	/* Up, and not a "reject" route (the kernel's unreachable default on lo). */
	if (!(flags & RTF_UP) || (flags & RTF_REJECT) || strcmp(name, "lo") == 0 ||
	    strlen(name) >= IF_NAMESIZE)
		return 0;
	strcpy(iface, name);
	return 1;
}

/* The interfaces of the default routes in path, into exits: their count (0 when unreadable). */
static size_t ifnets_exits(const char *path, int ipv6, char exits[][IF_NAMESIZE], size_t have)
{
	char line[IFNETS_LINE];
	FILE *file = fopen(path, "re");

	if (!file)
		return have;
	while (have < IFNETS_EXITS && fgets(line, sizeof line, file))
		if (ifnets_default_route(line, ipv6, exits[have]))
			have++;
	fclose(file);
	return have;
}

static int ifnets_is_exit(const char *name, char exits[][IF_NAMESIZE], size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(name, exits[i]) == 0)
			return 1;
	return 0;
}

/* The network of an interface address (addr masked by mask): 0, or -1 for another family. */
static int ifnets_network(const struct ifaddrs *ifa, struct guard_net *net)
{
	const uint8_t *addr, *mask;
	size_t size;

	memset(net, 0, sizeof *net);
	if (!ifa->ifa_addr || !ifa->ifa_netmask)
		return -1;
	if (ifa->ifa_addr->sa_family == AF_INET) {
		addr = (const uint8_t *)&((const struct sockaddr_in *)ifa->ifa_addr)->sin_addr;
		mask = (const uint8_t *)&((const struct sockaddr_in *)ifa->ifa_netmask)->sin_addr;
		size = 4;
	} else if (ifa->ifa_addr->sa_family == AF_INET6) {
		addr = ((const struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr.s6_addr;
		mask = ((const struct sockaddr_in6 *)ifa->ifa_netmask)->sin6_addr.s6_addr;
		size = 16;
	} else {
		return -1;
	}
	net->family = (uint8_t)ifa->ifa_addr->sa_family;
	for (size_t i = 0; i < size; i++) {
		net->prefix[i] = addr[i] & mask[i];
		for (uint8_t bit = mask[i]; bit; bit <<= 1)
			net->bits++;	/* a netmask's ones are contiguous */
	}
	return 0;
}

/*
 * 1 when net is worth a place: not link-local (on every interface, and a
 * fixed range of the guard: fe80::/10, 169.254.0.0/16), not in have[0..count) yet.
 */
static int ifnets_new(const struct guard_net *net, const struct guard_net *have, size_t count)
{
	if (net->family == AF_INET6 && net->bits >= 10 && net->prefix[0] == 0xfe &&
	    (net->prefix[1] & 0xc0) == 0x80)
		return 0;
	if (net->family == AF_INET && net->bits >= 16 && net->prefix[0] == 169 &&
	    net->prefix[1] == 254)
		return 0;
	for (size_t i = 0; i < count; i++)
		if (have[i].family == net->family && have[i].bits == net->bits &&
		    memcmp(have[i].prefix, net->prefix, sizeof net->prefix) == 0)
			return 0;
	return 1;
}

int ifnets_read(struct guard_net *out, size_t max, size_t *more)
{
	char exits[IFNETS_EXITS][IF_NAMESIZE];
	struct ifaddrs *list;
	struct guard_net net;
	size_t count = 0, nexits;

	*more = 0;
	nexits = ifnets_exits("/proc/net/route", 0, exits, 0);
	nexits = ifnets_exits("/proc/net/ipv6_route", 1, exits, nexits);
	if (getifaddrs(&list) < 0)
		return -1;
	for (struct ifaddrs *ifa = list; ifa; ifa = ifa->ifa_next) {
		if ((ifa->ifa_flags & IFF_LOOPBACK) || ifnets_network(ifa, &net) < 0 ||
		    ifnets_is_exit(ifa->ifa_name, exits, nexits) || !ifnets_new(&net, out, count))
			continue;
		if (count < max)
			out[count++] = net;
		else
			++*more;
	}
	freeifaddrs(list);
	return (int)count;
}
