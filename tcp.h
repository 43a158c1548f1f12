/*
 * tcp.h: the TCP listener process of one port: the accept loop that forks
 * one relay child (conn.h) per connection while under MAX_CONNECTIONS.
 */
#ifndef WHITELIST_TCP_H
#define WHITELIST_TCP_H

#include <stdint.h>

#include "config.h"
#include "shared.h"
#include "target.h"

/* Serves the listening socket until SIGTERM or SIGINT; exits 0 after the grace period. */
_Noreturn void tcp_serve(const struct conf *conf, const struct target *target,
			 struct shared *shared, int listen_fd, uint16_t port);

#endif
