/*
 * udp.h: MODE=udp, the listener process of one UDP port.
 */
#ifndef WHITELIST_UDP_H
#define WHITELIST_UDP_H

#include <stdint.h>

#include "config.h"
#include "listener.h"
#include "shared.h"
#include "target.h"

/* Serves the entry's socket until SIGTERM or SIGINT; exits 0 after the grace period. */
_Noreturn void udp_serve(const struct conf *conf, const struct target *target,
			 struct shared *shared, const struct listener_sockets *sockets);

#endif
