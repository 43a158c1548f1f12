/*
 * udp.h: MODE=udp, the listener process of one UDP port.
 */
#ifndef WHITELIST_UDP_H
#define WHITELIST_UDP_H

#include <stdint.h>

#include "config.h"
#include "shared.h"
#include "target.h"

/* Serves the bound socket until SIGTERM or SIGINT; exits 0 after the grace period. */
_Noreturn void udp_serve(const struct conf *conf, const struct target *target,
			 struct shared *shared, int listen_fd, uint16_t port);

#endif
