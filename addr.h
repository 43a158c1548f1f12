/*
 * addr.h: small facts about socket addresses that several modules need:
 * ports, v4-mapped v6 addresses (a v4 client of the dual-stack listener),
 * loopback and "any". Pure functions, no system calls.
 */
#ifndef WHITELIST_ADDR_H
#define WHITELIST_ADDR_H

#include <stdint.h>
#include <sys/socket.h>

/* An address and its length, as accept() and getaddrinfo() give them. */
struct endpoint {
	struct sockaddr_storage addr;
	socklen_t len;
};

/* Sets the port of an AF_INET or AF_INET6 address (others are left alone). */
void addr_set_port(struct sockaddr_storage *addr, uint16_t port);

/* The port of an AF_INET or AF_INET6 address, 0 for others. */
uint16_t addr_port(const struct sockaddr *addr);

/*
 * The host part of addr as raw bytes, with a v4-mapped v6 address
 * (::ffff:a.b.c.d) given as the v4 address it is: the family (AF_INET or
 * AF_INET6) and 4 or 16 bytes in out; 0 for any other family.
 */
int addr_host_bytes(const struct sockaddr *addr, uint8_t out[16]);

/* An address of family (AF_INET: 4 bytes, AF_INET6: 16) and port; its length. */
socklen_t addr_make(struct sockaddr_storage *out, int family, const uint8_t *bytes,
		    uint16_t port);

/* 1 when a and b are the same host (mapped v4 equal to plain v4), ports aside. */
int addr_same_host(const struct sockaddr *a, const struct sockaddr *b);

/* 1 for 127.0.0.0/8 and ::1 (mapped too). */
int addr_is_loopback(const struct sockaddr *addr);

/* 1 for 0.0.0.0 and :: (mapped too): connecting there reaches this host. */
int addr_is_unspecified(const struct sockaddr *addr);

#endif
