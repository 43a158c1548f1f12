/*
 * metrics.h: the METRICS_PORT responder's testable parts: the page, and the
 * routing of a request. metrics_serve (proxy.h) is the process around them.
 */
#ifndef WHITELIST_METRICS_H
#define WHITELIST_METRICS_H

#include <stddef.h>

#include "proxy.h"

struct metrics_buf {
	char *data;
	size_t len, cap;
};

enum metrics_route { METRICS_ROUTE_METRICS, METRICS_ROUTE_NOT_FOUND };

/* Appends to buf, growing it; -1 when out of memory. */
int metrics_printf(struct metrics_buf *buf, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Replaces buf's text with the whole page in Prometheus' text format; -1 when out of memory. */
int metrics_render(struct metrics_buf *buf, const struct proxy *proxy);

/* What the request (its head, as read) asks for: GET /metrics, or anything else. */
enum metrics_route metrics_route(const char *request, size_t len);

/* The length of the request's head up to its blank line, 0 while it is incomplete. */
size_t metrics_request_end(const char *data, size_t len);

#endif
