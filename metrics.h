/*
 * metrics.h: METRICS_PORT, the counters of shared.h in Prometheus' text
 * format at http://ANY-ADDRESS:METRICS_PORT/metrics, served by a process of
 * its own; and its testable parts: the page and the routing of a request.
 */
#ifndef WHITELIST_METRICS_H
#define WHITELIST_METRICS_H

#include <stddef.h>

#include "config.h"
#include "shared.h"

struct metrics_buf {
	char *data;
	size_t len, cap;
};

enum metrics_route { METRICS_ROUTE_METRICS, METRICS_ROUTE_NOT_FOUND };

/* Appends to buf, growing it; -1 when out of memory. */
int metrics_printf(struct metrics_buf *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Replaces buf's text with the whole page in Prometheus' text format; -1 when out of memory. */
int metrics_render(struct metrics_buf *buf, const struct conf *conf, const struct shared *shared);

/* What the request (its head, as read) asks for: GET /metrics, or anything else. */
enum metrics_route metrics_route(const char *request, size_t len);

/* The length of the request's head up to its blank line, 0 while it is incomplete. */
size_t metrics_request_end(const char *data, size_t len);

/* The METRICS_PORT server, in its own process; ends on SIGTERM. */
_Noreturn void metrics_serve(const struct conf *conf, const struct shared *shared, int listen_fd);

#endif
