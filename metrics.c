/*
 * metrics.c: METRICS_PORT, the counters of shared.h in Prometheus' text
 * format at http://ANY-ADDRESS:METRICS_PORT/metrics.
 *
 * It runs in its own process, forked by main like a listener, so a slow or
 * hostile scraper can stall nothing but itself. It is a minimal HTTP/1.0
 * responder: one request per connection, read with a short deadline, one
 * answer, close. The numbers are read from shared memory at each request;
 * nothing here writes to it.
 */
#include "metrics.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define METRICS_REQUEST_SIZE 4096	/* headers beyond this are not read: routing needs line 1 */
#define METRICS_READ_MS 1000		/* a scraper sends its request at once */
#define METRICS_WRITE_MS 5000
#define METRICS_DRAIN_MS 500		/* after the answer: until the client closes */
#define METRICS_BACKOFF_MS 100		/* after EMFILE */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* One per-port sample: a field of struct shared_counters under a metric name. */
struct metrics_field {
	const char *name;
	const char *type;
	const char *help;	/* NULL: a further label set of the metric above */
	const char *labels;	/* after port="N" */
	size_t offset;
	int is_signed;
};

static const struct metrics_field metrics_fields[] = {
	{ "whitelist_connections_total", "counter",
	  "Connections accepted (TCP) or client sessions started (UDP).", "",
	  offsetof(struct shared_counters, connections_total), 0 },
	{ "whitelist_connections_active", "gauge",
	  "Connections (TCP) or client sessions (UDP) open now.", "",
	  offsetof(struct shared_counters, connections_active), 1 },
	{ "whitelist_connections_refused_total", "counter",
	  "Connections (TCP) or datagrams (UDP) refused before any upstream connection.",
	  ",reason=\"allow_from\"", offsetof(struct shared_counters, refused_allow_from), 0 },
	{ "whitelist_upstream_errors_total", "counter",
	  "Connections to TARGET that failed: unreachable, refused or not resolved.", "",
	  offsetof(struct shared_counters, upstream_errors), 0 },
	{ "whitelist_bytes_total", "counter",
	  "Bytes relayed: up is written to TARGET, down is written to clients.",
	  ",direction=\"up\"", offsetof(struct shared_counters, bytes_up), 0 },
	{ "whitelist_bytes_total", NULL, NULL, ",direction=\"down\"",
	  offsetof(struct shared_counters, bytes_down), 0 },
};

int metrics_printf(struct metrics_buf *buf, const char *fmt, ...)
{
	va_list ap;
	int len;

	for (;;) {
		size_t room = buf->cap - buf->len;

		va_start(ap, fmt);
		len = vsnprintf(buf->data ? buf->data + buf->len : NULL, room, fmt, ap);
		va_end(ap);
		if (len < 0)
			return -1;
		if ((size_t)len < room) {
			buf->len += (size_t)len;
			return 0;
		}
		size_t cap = buf->cap ? buf->cap * 2 : 4096;
		while (cap - buf->len <= (size_t)len)
			cap *= 2;
		char *data = realloc(buf->data, cap);
		if (!data)
			return -1;
		buf->data = data;
		buf->cap = cap;
	}
}

/* A label value with \, " and newline escaped, as the text format wants. */
static int metrics_label_value(struct metrics_buf *buf, const char *value)
{
	for (; *value; value++) {
		int status = *value == '\\' ? metrics_printf(buf, "\\\\")
			   : *value == '"'  ? metrics_printf(buf, "\\\"")
			   : *value == '\n' ? metrics_printf(buf, "\\n")
					    : metrics_printf(buf, "%c", *value);
		if (status < 0)
			return -1;
	}
	return 0;
}

static int metrics_render_field(struct metrics_buf *buf, struct shared *shared,
				const struct metrics_field *field)
{
	if (field->help && metrics_printf(buf, "# HELP %s %s\n# TYPE %s %s\n", field->name,
					  field->help, field->name, field->type) < 0)
		return -1;
	for (size_t i = 0; i < shared->nports; i++) {
		char *base = (char *)&shared->ports[i];
		long long value = field->is_signed
			? (long long)atomic_load_explicit((_Atomic int64_t *)(base + field->offset),
							  memory_order_relaxed)
			: (long long)shared_get((_Atomic uint64_t *)(base + field->offset));

		if (metrics_printf(buf, "%s{port=\"%u\"%s} %lld\n", field->name,
				   shared->ports[i].port, field->labels, value) < 0)
			return -1;
	}
	return 0;
}

/* TARGET, its address in use ("" when each connection resolves it), lookup failures. */
static int metrics_render_target(struct metrics_buf *buf, const struct proxy *proxy)
{
	struct sockaddr_storage addr;
	char shown[LOG_ADDR_SIZE] = "";
	socklen_t len;

	if (proxy->has_fixed_target && shared_target_load(proxy->shared, &addr, &len) == 0)
		log_host((struct sockaddr *)&addr, shown, sizeof shown);
	if (metrics_printf(buf, "# HELP whitelist_target_info TARGET, and the address new "
			   "connections go to (empty: each connection resolves TARGET).\n"
			   "# TYPE whitelist_target_info gauge\n"
			   "whitelist_target_info{target=\"") < 0 ||
	    metrics_label_value(buf, proxy->conf->target) < 0 ||
	    metrics_printf(buf, "\",address=\"%s\"} 1\n", shown) < 0)
		return -1;
	return metrics_printf(buf, "# HELP whitelist_resolve_failures_total RESOLVE_INTERVAL "
			      "lookups of TARGET that failed (the address in use was kept).\n"
			      "# TYPE whitelist_resolve_failures_total counter\n"
			      "whitelist_resolve_failures_total %llu\n",
			      (unsigned long long)shared_get(&proxy->shared->resolve_failures));
}

int metrics_render(struct metrics_buf *buf, const struct proxy *proxy)
{
	buf->len = 0;
	for (size_t i = 0; i < sizeof metrics_fields / sizeof metrics_fields[0]; i++)
		if (metrics_render_field(buf, proxy->shared, &metrics_fields[i]) < 0)
			return -1;
	return metrics_render_target(buf, proxy);
}

enum metrics_route metrics_route(const char *request, size_t len)
{
	static const char wanted[] = "GET /metrics";
	size_t prefix = sizeof wanted - 1;

	/* "GET /metrics HTTP/1.1" or "GET /metrics?x=y ..."; HTTP/0.9's bare line too. */
	if (len > prefix && memcmp(request, wanted, prefix) == 0 &&
	    memchr(" ?\r\n", request[prefix], 4))
		return METRICS_ROUTE_METRICS;
	return METRICS_ROUTE_NOT_FOUND;
}

size_t metrics_request_end(const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (i + 4 <= len && memcmp(data + i, "\r\n\r\n", 4) == 0)
			return i + 4;
		if (i + 2 <= len && memcmp(data + i, "\n\n", 2) == 0)
			return i + 2;
	}
	return 0;
}

static long long metrics_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline; 1 ready, 0 not. */
static int metrics_wait(int fd, short events, long long deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long long left = deadline - metrics_now_ms();

	return left > 0 && poll(&pfd, 1, (int)left) == 1;
}

/* The request's head (all of it, or what fits); its length, 0 when none came in time. */
static size_t metrics_read_request(int fd, char *buf, size_t size)
{
	long long deadline = metrics_now_ms() + METRICS_READ_MS;
	size_t len = 0;

	while (len < size && metrics_wait(fd, POLLIN, deadline)) {
		ssize_t got = recv(fd, buf + len, size - len, MSG_DONTWAIT);

		if (got < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
		if (metrics_request_end(buf, len))
			break;
	}
	return len;
}

static void metrics_send(int fd, const char *data, size_t len, long long deadline)
{
	while (len > 0 && metrics_wait(fd, POLLOUT, deadline)) {
		ssize_t put = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (put < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (put <= 0)
			return;
		data += put;
		len -= (size_t)put;
	}
}

/* Ends the answer with a FIN and waits a little for the client's: no reset cuts it short. */
static void metrics_finish(int fd)
{
	long long deadline = metrics_now_ms() + METRICS_DRAIN_MS;
	char discard[1024];

	shutdown(fd, SHUT_WR);
	while (metrics_wait(fd, POLLIN, deadline) && recv(fd, discard, sizeof discard, 0) > 0)
		;
}

static void metrics_answer(const struct proxy *proxy, int fd, struct metrics_buf *body)
{
	static const char not_found[] = "not found: the metrics are at /metrics\n";
	char request[METRICS_REQUEST_SIZE], head[256];
	long long deadline;
	size_t len = metrics_read_request(fd, request, sizeof request);
	int found = metrics_route(request, len) == METRICS_ROUTE_METRICS;
	int head_len;

	if (len == 0)
		return;	/* nothing asked in time: a port scan, or a stuck client */
	if (found && metrics_render(body, proxy) < 0) {
		log_msg("metrics: out of memory");
		return;
	}
	head_len = snprintf(head, sizeof head,
			    "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			    "Connection: close\r\n\r\n", found ? "200 OK" : "404 Not Found",
			    found ? METRICS_CONTENT_TYPE : "text/plain; charset=utf-8",
			    found ? body->len : sizeof not_found - 1);
	deadline = metrics_now_ms() + METRICS_WRITE_MS;
	metrics_send(fd, head, (size_t)head_len, deadline);
	metrics_send(fd, found ? body->data : not_found, found ? body->len : sizeof not_found - 1,
		     deadline);
	metrics_finish(fd);
}

void metrics_serve(const struct proxy *proxy, int listen_fd)
{
	struct metrics_buf body = { 0 };

	/* Not "whitelist:PORT": the healthcheck must not take it for a port's listener. */
	prctl(PR_SET_NAME, "whitelist:stats");
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				poll(NULL, 0, METRICS_BACKOFF_MS);
			continue;
		}
		metrics_answer(proxy, fd, &body);
		close(fd);
	}
}
