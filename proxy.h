/*
 * proxy.h: explicit proxy mode (CONNECT_PORT) in the TCP relay child: the
 * work of the steps route.h adds for it (HEAD, AUTH, MATCH, OPEN) beyond
 * what routed mode already does (resolving, the guards, connecting:
 * target.h). The head itself is read by proxy_head.h's pure parser.
 *
 * A client of CONNECT_PORT speaks to the proxy first: its request head is
 * for us and is consumed; then either the tunnel opens (CONNECT: "200
 * Connection established", and bytes the client sent behind its head go
 * upstream as they are) or the head goes on in origin-form (absolute-form
 * http://, one request per upstream connection, without the proxy's own
 * fields). Every refusal is an HTTP answer: 400, 403, 407, 502 or 504.
 */
#ifndef WHITELIST_PROXY_H
#define WHITELIST_PROXY_H

#include "addr.h"
#include "config.h"
#include "proxy_head.h"
#include "shared.h"

/*
 * Takes the head (len bytes, already peeked into peeked) off the client's
 * socket, reading them over the peeked copy: 0, or -1.
 */
int proxy_consume(int fd, uint8_t *peeked, size_t len);

enum proxy_auth {
	PROXY_AUTH_NONE_SET = -1,	/* no PROXY_USERS: every client may */
	PROXY_AUTH_REFUSED = -2,	/* credentials missing or not one of the pairs */
	/* >= 0: the index in conf->users of the pair the client gave */
};

/*
 * Whether the head's Basic credentials are one of PROXY_USERS' pairs
 * (compared in constant time, every pair each time): the pair's index, or
 * one of enum proxy_auth.
 */
int proxy_authorized(const struct conf *conf, const uint8_t *data, const struct proxy_head *head);

/*
 * Whether TARGET covers the host (routed: conf_route_match, IP literals
 * never; classic: the one TARGET, a literal by its address) and the port is
 * one of PORT's. 0 with the entry in *route (-1: the classic TARGET), or -1
 * with *why (SHARED_REFUSED_NOT_ALLOWED, SHARED_REFUSED_PORT).
 */
int proxy_match(const struct conf *conf, const struct proxy_head *head, int *route,
		enum shared_refusal *why);

/*
 * The sentence of a refusal, for the log and the answer's body: names
 * host:port and why. upstream: the address a guard refused, if any, and
 * guarded: why the guard refused it (target_guard_reason), or NULL.
 */
void proxy_describe(enum shared_refusal why, const struct conf *conf,
		    const struct proxy_head *head, const struct endpoint *upstream,
		    const char *guarded, char *text, size_t size);

/* The refusal's answer (400, 403, 407, 502, 504) with text as its one-line body. */
void proxy_answer(int fd, enum shared_refusal why, const char *text);

/*
 * Opens the way once upstream is connected: CONNECT gets its 200, an
 * absolute-form request goes upstream in origin-form (counted in
 * stats->bytes_up). 0, or -1 when a write failed.
 */
int proxy_open(int client_fd, int upstream_fd, const uint8_t *data,
	       const struct proxy_head *head, struct shared_port *stats);

#endif
