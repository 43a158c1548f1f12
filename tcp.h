/*
 * tcp.h: the TCP listener process of one PORT entry (a port, a pair, a
 * range's sockets, PORT=*'s one socket): the accept loop that forks one
 * relay child (conn.h) per connection while under the entry's one
 * MAX_CONNECTIONS count.
 */
#ifndef WHITELIST_TCP_H
#define WHITELIST_TCP_H

#include <stdint.h>

#include "config.h"
#include "listener.h"
#include "shared.h"
#include "target.h"

/* Serves the entry's sockets until SIGTERM or SIGINT; exits 0 after the grace period. */
_Noreturn void tcp_serve(const struct conf *conf, const struct target *target,
			 struct shared *shared, const struct listener_sockets *sockets);

#endif
