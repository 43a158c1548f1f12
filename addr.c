/*
 * addr.c: see addr.h.
 */
#include "addr.h"

#include <netinet/in.h>
#include <string.h>

static const uint8_t addr_v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void addr_set_port(struct sockaddr_storage *addr, uint16_t port)
{
	if (addr->ss_family == AF_INET)
		((struct sockaddr_in *)addr)->sin_port = htons(port);
	else if (addr->ss_family == AF_INET6)
		((struct sockaddr_in6 *)addr)->sin6_port = htons(port);
}

uint16_t addr_port(const struct sockaddr *addr)
{
	if (addr->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)addr)->sin_port);
	if (addr->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	return 0;
}

int addr_host_bytes(const struct sockaddr *addr, uint8_t out[16])
{
	if (addr->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)addr)->sin_addr, 4);
		return AF_INET;
	}
	if (addr->sa_family == AF_INET6) {
		const uint8_t *bytes = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;

		if (memcmp(bytes, addr_v4_mapped, sizeof addr_v4_mapped) == 0) {
			memcpy(out, bytes + 12, 4);
			return AF_INET;
		}
		memcpy(out, bytes, 16);
		return AF_INET6;
	}
	return 0;
}

socklen_t addr_make(struct sockaddr_storage *out, int family, const uint8_t *bytes,
		    uint16_t port)
{
	memset(out, 0, sizeof *out);
	out->ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		memcpy(&((struct sockaddr_in *)out)->sin_addr, bytes, 4);
		addr_set_port(out, port);
		return sizeof(struct sockaddr_in);
	}
	memcpy(&((struct sockaddr_in6 *)out)->sin6_addr, bytes, 16);
	addr_set_port(out, port);
	return sizeof(struct sockaddr_in6);
}

int addr_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	uint8_t x[16], y[16];
	int family = addr_host_bytes(a, x);

	return family && family == addr_host_bytes(b, y) &&
	       memcmp(x, y, family == AF_INET ? 4 : 16) == 0;
}

int addr_is_loopback(const struct sockaddr *addr)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };
	uint8_t bytes[16];
	int family = addr_host_bytes(addr, bytes);

	return family == AF_INET ? bytes[0] == 127
			      : family == AF_INET6 && memcmp(bytes, v6_loopback, 16) == 0;
}

int addr_is_unspecified(const struct sockaddr *addr)
{
	static const uint8_t zero[16];
	uint8_t bytes[16];
	int family = addr_host_bytes(addr, bytes);

	return family && memcmp(bytes, zero, family == AF_INET ? 4 : 16) == 0;
}
