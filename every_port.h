/*
 * every_port.h: PORT=* (TCP), every port of the container through one
 * listening socket. In its own network namespace the proxy asks nftables
 * (the `nft` program) to redirect each incoming TCP connection to that
 * socket, except the ports it serves itself (every_port_excluded); a relay
 * reads the port the client asked for back (SO_ORIGINAL_DST) and forwards
 * to TARGET on it. The rule lives in a table of its own, named
 * EVERY_PORT_TABLE: made (a stale one of a killed predecessor replaced in
 * the same transaction), and removed by a keeper process that stays root
 * while the rest of the proxy runs as RUN_AS, when main ends (any way:
 * return, exit, or a SIGKILL, through PR_SET_PDEATHSIG).
 */
#ifndef WHITELIST_EVERY_PORT_H
#define WHITELIST_EVERY_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define EVERY_PORT_TABLE "whitelist"	/* nft: table inet whitelist */
#define EVERY_PORT_MAX_EXCLUDED 4

/* 1 when this process has CAP_NET_ADMIN in its effective set. */
int every_port_capable(void);

/*
 * The ports never redirected: METRICS_PORT, and CONNECT_PORT once it
 * exists (its listener is bound like METRICS_PORT: add it here). Into out
 * (EVERY_PORT_MAX_EXCLUDED); returns how many.
 */
size_t every_port_excluded(const struct conf *conf, uint16_t *out);

/*
 * Main, as root, with listen_port bound: makes the rule, then starts the
 * keeper that removes it. Dies when nft fails (exit 1, nft's message above).
 */
void every_port_setup(const struct conf *conf, uint16_t listen_port);

/* Main, at its end: the keeper removes the rule; returns once it has. No-op without one. */
void every_port_teardown(void);

/* A redirected connection's original destination port (SO_ORIGINAL_DST); 0 with errno. */
uint16_t every_port_original(int fd);

#endif
