/*
 * metrics.c: see metrics.h.
 *
 * The server is one process, forked by main like a listener, so a slow or
 * hostile scraper can stall nothing but it; inside, one poll loop serves
 * every client at once, each with its own deadlines, so an idle connection
 * never delays another's scrape. It is a minimal HTTP/1.0 responder: one
 * request per connection, one answer, close. The numbers are read from
 * shared memory at each request; nothing here writes to it.
 */
#include "metrics.h"

#include "policy.h"

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
#include "process.h"

/* One per-port sample: a field of struct shared_port under a metric name. */
struct metrics_field {
	const char *name;
	const char *type;
	const char *help;
	const char *label;		/* NULL, or the label of an array field's index */
	const char *const *values;	/* the label's values, one per array element */
	size_t count;			/* array elements (1: a plain field) */
	size_t offset;
	int is_signed;
};

static const char *const metrics_directions[] = { "up", "down" };

static const struct metrics_field metrics_fields[] = {
	{ "whitelist_connections_total", "counter",
	  "Connections accepted (TCP) or client sessions started (UDP).", NULL, NULL, 1,
	  offsetof(struct shared_port, connections_total), 0 },
	{ "whitelist_connections_active", "gauge",
	  "Connections (TCP) or client sessions (UDP) open now.", NULL, NULL, 1,
	  offsetof(struct shared_port, connections_active), 1 },
	{ "whitelist_connections_refused_total", "counter",
	  "Connections (TCP) or datagrams (UDP) refused before any upstream connection.",
	  "reason", shared_refusal_names, SHARED_REFUSALS, offsetof(struct shared_port, refused),
	  0 },
	{ "whitelist_upstream_errors_total", "counter",
	  "Connections to TARGET that failed: unreachable, refused or not resolved.", NULL, NULL,
	  1, offsetof(struct shared_port, upstream_errors), 0 },
	{ "whitelist_datagrams_dropped_total", "counter",
	  "UDP datagrams dropped by the proxy: no room to wait, TARGET down, session lost.",
	  "reason", shared_drop_names, SHARED_DROPS, offsetof(struct shared_port, dropped), 0 },
	{ "whitelist_bytes_total", "counter",
	  "Bytes relayed: up is written to TARGET, down is written to clients.", "direction",
	  metrics_directions, 2, offsetof(struct shared_port, bytes_up), 0 },
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

/* The value of element `index` of a field of one port. */
static long long metrics_value(const struct shared_port *port, const struct metrics_field *field,
			       size_t index)
{
	const char *at = (const char *)port + field->offset + index * sizeof(uint64_t);

	if (field->is_signed)
		return (long long)atomic_load_explicit((_Atomic int64_t *)at, memory_order_relaxed);
	return (long long)shared_get((const _Atomic uint64_t *)at);
}

static int metrics_render_field(struct metrics_buf *buf, const struct shared *shared,
				const struct metrics_field *field)
{
	if (metrics_printf(buf, "# HELP %s %s\n# TYPE %s %s\n", field->name, field->help,
			   field->name, field->type) < 0)
		return -1;
	for (size_t i = 0; i < shared->nports; i++) {
		const struct shared_port *port = &shared->ports[i];

		for (size_t j = 0; j < field->count; j++)
			if ((field->label
				     ? metrics_printf(buf, "%s{port=\"%s\",%s=\"%s\"} %lld\n",
						      field->name, port->name, field->label,
						      field->values[j], metrics_value(port, field, j))
				     : metrics_printf(buf, "%s{port=\"%s\"} %lld\n", field->name,
						      port->name, metrics_value(port, field, j))) < 0)
				return -1;
	}
	return 0;
}

/* MAX_CONNECTIONS per port (0: no limit), so that an alert can compare the active count with it. */
static int metrics_render_max(struct metrics_buf *buf, const struct conf *conf,
			      const struct shared *shared)
{
	if (metrics_printf(buf, "# HELP whitelist_connections_max MAX_CONNECTIONS: connections (TCP) "
			   "or client sessions (UDP) at once per port, 0 for no limit.\n"
			   "# TYPE whitelist_connections_max gauge\n") < 0)
		return -1;
	for (size_t i = 0; i < shared->nports; i++)
		if (metrics_printf(buf, "whitelist_connections_max{port=\"%s\"} %ld\n",
				   shared->ports[i].name, conf->max_connections) < 0)
			return -1;
	return 0;
}

/* One whitelist_target_info sample: target, and the address in slot ("" when none). */
static int metrics_target_sample(struct metrics_buf *buf, const char *target,
				 const struct shared_addr *slot)
{
	struct sockaddr_storage addr;
	char shown[LOG_ADDR_SIZE] = "";
	socklen_t len;

	if (slot && shared_addr_load(slot, &addr, &len, NULL) == 0)
		log_host((struct sockaddr *)&addr, shown, sizeof shown);
	if (metrics_printf(buf, "whitelist_target_info{target=\"") < 0 ||
	    metrics_label_value(buf, target) < 0)
		return -1;
	return metrics_printf(buf, "\",address=\"%s\"} 1\n", shown);
}

/*
 * TARGET, its address in use ("" when each connection resolves it), lookup
 * failures. Routed mode: a sample per entry; an exact entry's address with
 * PRE_RESOLVE=1, "" for wildcards (their names resolve per connection).
 */
static int metrics_render_target(struct metrics_buf *buf, const struct conf *conf,
				 const struct shared *shared)
{
	if (metrics_printf(buf, "# HELP whitelist_target_info TARGET (routed mode: each entry), "
			   "and the address new connections go to (empty: each connection "
			   "resolves it).\n# TYPE whitelist_target_info gauge\n") < 0)
		return -1;
	if (!conf->routed && metrics_target_sample(buf, conf->targets, &shared->target) < 0)
		return -1;
	for (size_t i = 0; conf->routed && i < conf->nroutes; i++)
		if (metrics_target_sample(buf, conf->routes[i].pattern,
					  conf->pre_resolve && conf->routes[i].kind == CONF_ROUTE_EXACT
						  ? &shared->routes[i] : NULL) < 0)
			return -1;
	return metrics_printf(buf, "# HELP whitelist_resolve_failures_total RESOLVE_INTERVAL "
			      "lookups of TARGET that failed (the address in use was kept).\n"
			      "# TYPE whitelist_resolve_failures_total counter\n"
			      "whitelist_resolve_failures_total %llu\n",
			      (unsigned long long)shared_get(&shared->resolve_failures));
}

/* One whitelist_routed_total line; client NULL: no client label (no POLICY). */
static int metrics_routed_line(struct metrics_buf *buf, const char *port, const char *target,
			       const char *client, uint64_t count)
{
	if (metrics_printf(buf, "whitelist_routed_total{port=\"%s\",target=\"", port) < 0 ||
	    metrics_label_value(buf, target) < 0)
		return -1;
	if (client && (metrics_printf(buf, "\",client=\"") < 0 ||
		       metrics_label_value(buf, client) < 0))
		return -1;
	return metrics_printf(buf, "\"} %llu\n", (unsigned long long)count);
}

/*
 * Routed mode: connections per port and TARGET entry (the pattern: label
 * values stay few). With POLICY, a client label too: the rule's client that
 * let the connection through (as written in POLICY), "" for an entry no
 * rule names.
 */
static int metrics_render_routed(struct metrics_buf *buf, const struct conf *conf,
				 const struct shared *shared)
{
	const struct policy *policy = conf->policy && conf->policy->text ? conf->policy : NULL;

	if (!conf->routed)
		return 0;
	if (metrics_printf(buf, "# HELP whitelist_routed_total Connections routed by name and "
			   "connected, per TARGET entry that matched%s.\n# TYPE whitelist_routed_total counter\n",
			   policy ? " and POLICY client that it let through" : "") < 0)
		return -1;
	for (size_t i = 0; i < shared->nports; i++) {
		const struct shared_port *port = &shared->ports[i];

		for (size_t j = 0; j < conf->nroutes; j++)
			if ((!policy || !(policy->named & (UINT32_C(1) << j))) &&
			    metrics_routed_line(buf, port->name, conf->routes[j].pattern,
						policy ? "" : NULL, shared_get(&port->routed[j])) < 0)
				return -1;
		for (size_t g = 0; policy && g < policy->ngrants; g++)
			if (metrics_routed_line(buf, port->name,
						conf->routes[policy->grants[g].entry].pattern,
						policy->clients[policy->grants[g].client].text,
						shared_get(&port->routed_grant[g])) < 0)
				return -1;
	}
	return 0;
}

int metrics_render(struct metrics_buf *buf, const struct conf *conf, const struct shared *shared)
{
	buf->len = 0;
	for (size_t i = 0; i < sizeof metrics_fields / sizeof metrics_fields[0]; i++)
		if (metrics_render_field(buf, shared, &metrics_fields[i]) < 0)
			return -1;
	if (metrics_render_max(buf, conf, shared) < 0 || metrics_render_routed(buf, conf, shared) < 0)
		return -1;
	return metrics_render_target(buf, conf, shared);
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

/* --- the server --- */

#define METRICS_CLIENTS 64		/* at once; a new one evicts the oldest still reading */
#define METRICS_REQUEST_SIZE 4096	/* headers beyond this are not read: routing needs line 1 */
#define METRICS_READ_MS 1000		/* a scraper sends its request at once */
#define METRICS_WRITE_MS 5000
#define METRICS_DRAIN_MS 500		/* after the answer: until the client closes */
#define METRICS_BACKOFF_MS 100		/* after EMFILE */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

_Static_assert(offsetof(struct shared_port, bytes_down) ==
		       offsetof(struct shared_port, bytes_up) + sizeof(uint64_t),
	       "whitelist_bytes_total reads bytes_up and bytes_down as an array");

enum metrics_phase { METRICS_FREE, METRICS_READING, METRICS_WRITING, METRICS_DRAINING };

struct metrics_client {
	int fd;
	enum metrics_phase phase;
	long long deadline;		/* of the current phase */
	long long since;		/* accepted at: the oldest reader is evicted first */
	size_t len;			/* of the request read so far */
	char request[METRICS_REQUEST_SIZE];
	struct metrics_buf answer;	/* head and body */
	size_t sent;
};

struct metrics_server {
	const struct conf *conf;
	const struct shared *shared;
	int listen_fd;
	struct metrics_client clients[METRICS_CLIENTS];
	struct metrics_buf body;
};

static void metrics_close(struct metrics_client *client)
{
	close(client->fd);
	client->fd = -1;
	client->phase = METRICS_FREE;
	client->answer.len = 0;
}

static void metrics_phase(struct metrics_client *client, enum metrics_phase phase,
			  long long timeout_ms)
{
	client->phase = phase;
	client->deadline = proc_now_ms() + timeout_ms;
}

/* The whole answer to what was read, in client->answer; the client then writes it. */
static void metrics_prepare(struct metrics_server *server, struct metrics_client *client)
{
	static const char not_found[] = "not found: the metrics are at /metrics\n";
	int found = metrics_route(client->request, client->len) == METRICS_ROUTE_METRICS;
	const char *body = not_found;
	size_t body_len = sizeof not_found - 1;

	if (found && metrics_render(&server->body, server->conf, server->shared) < 0) {
		log_msg("metrics: out of memory");
		metrics_close(client);
		return;
	}
	if (found) {
		body = server->body.data;
		body_len = server->body.len;
	}
	client->answer.len = client->sent = 0;
	if (metrics_printf(&client->answer, "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: "
			   "%zu\r\nConnection: close\r\n\r\n%.*s", found ? "200 OK" : "404 Not Found",
			   found ? METRICS_CONTENT_TYPE : "text/plain; charset=utf-8", body_len,
			   (int)body_len, body) < 0) {
		metrics_close(client);
		return;
	}
	metrics_phase(client, METRICS_WRITING, METRICS_WRITE_MS);
}

static void metrics_read(struct metrics_server *server, struct metrics_client *client)
{
	ssize_t got = recv(client->fd, client->request + client->len,
			   sizeof client->request - client->len, MSG_DONTWAIT);

	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (got <= 0) {
		metrics_close(client);	/* gone before it asked anything */
		return;
	}
	client->len += (size_t)got;
	if (metrics_request_end(client->request, client->len) || client->len == sizeof client->request)
		metrics_prepare(server, client);
}

/* Sends what is left of the answer; then a FIN, and a short wait for the client's. */
static void metrics_write(struct metrics_client *client)
{
	ssize_t put = send(client->fd, client->answer.data + client->sent,
			   client->answer.len - client->sent, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (put < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (put <= 0) {
		metrics_close(client);
		return;
	}
	client->sent += (size_t)put;
	if (client->sent < client->answer.len)
		return;
	/* A FIN, not a reset, ends the answer: the client reads it whole. */
	shutdown(client->fd, SHUT_WR);
	metrics_phase(client, METRICS_DRAINING, METRICS_DRAIN_MS);
}

static void metrics_drain(struct metrics_client *client)
{
	char discard[1024];
	ssize_t got = recv(client->fd, discard, sizeof discard, MSG_DONTWAIT);

	if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
		metrics_close(client);
}

/*
 * 1 when a new client would get a slot (metrics_slot): one is free, or
 * someone is still reading. Otherwise the listening socket stays out of the
 * poll set: a waiting client would wake poll at once, again and again.
 */
static int metrics_has_room(const struct metrics_server *server)
{
	for (size_t i = 0; i < METRICS_CLIENTS; i++)
		if (server->clients[i].phase == METRICS_FREE ||
		    server->clients[i].phase == METRICS_READING)
			return 1;
	return 0;
}

/* A free slot, or the one of the oldest client still reading (it had its chance). */
static struct metrics_client *metrics_slot(struct metrics_server *server)
{
	struct metrics_client *oldest = NULL;

	for (size_t i = 0; i < METRICS_CLIENTS; i++) {
		struct metrics_client *client = &server->clients[i];

		if (client->phase == METRICS_FREE)
			return client;
		if (client->phase == METRICS_READING && (!oldest || client->since < oldest->since))
			oldest = client;
	}
	if (oldest)
		metrics_close(oldest);
	return oldest;
}

static void metrics_accept(struct metrics_server *server)
{
	struct metrics_client *client = metrics_slot(server);
	int fd;

	if (!client)
		return;	/* every slot is answering: the new client waits in the backlog */
	fd = accept4(server->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			poll(NULL, 0, METRICS_BACKOFF_MS);
		return;
	}
	client->fd = fd;
	client->len = 0;
	client->since = proc_now_ms();
	metrics_phase(client, METRICS_READING, METRICS_READ_MS);
}

/*
 * The poll set: the listening socket first (only while metrics_has_room:
 * when every slot is answering, new clients wait in the backlog until the
 * first deadline closes the slowest), then each client for what it waits for.
 */
static nfds_t metrics_poll_set(struct metrics_server *server, struct pollfd *pfds, int *timeout)
{
	static const short events[] = { 0, POLLIN, POLLOUT, POLLIN };
	long long now = proc_now_ms(), next = -1;
	nfds_t count = 1;

	pfds[0] = (struct pollfd){ .fd = metrics_has_room(server) ? server->listen_fd : -1,
				   .events = POLLIN };
	for (size_t i = 0; i < METRICS_CLIENTS; i++) {
		struct metrics_client *client = &server->clients[i];

		pfds[i + 1] = (struct pollfd){ .fd = -1 };
		if (client->phase == METRICS_FREE)
			continue;
		pfds[i + 1] = (struct pollfd){ .fd = client->fd, .events = events[client->phase] };
		if (next < 0 || client->deadline < next)
			next = client->deadline;
		count = i + 2;
	}
	*timeout = next < 0 ? -1 : next > now ? (int)(next - now) : 0;
	return count;
}

/* Each client with something to do does it; those past their deadline are closed. */
static void metrics_step(struct metrics_server *server, const struct pollfd *pfds)
{
	long long now = proc_now_ms();

	for (size_t i = 0; i < METRICS_CLIENTS; i++) {
		struct metrics_client *client = &server->clients[i];

		if (client->phase == METRICS_FREE)
			continue;
		if (pfds[i + 1].revents && client->phase == METRICS_READING)
			metrics_read(server, client);
		else if (pfds[i + 1].revents && client->phase == METRICS_WRITING)
			metrics_write(client);
		else if (pfds[i + 1].revents && client->phase == METRICS_DRAINING)
			metrics_drain(client);
		if (client->phase != METRICS_FREE && now >= client->deadline)
			metrics_close(client);	/* a port scan, a stuck client, or done draining */
	}
}

void metrics_serve(const struct conf *conf, const struct shared *shared, int listen_fd)
{
	/*
	 * On the heap of this process only: in the binary's zeroed data it would
	 * stretch the program's address range past the 2 MB region that every
	 * relay's page table covers (proc_spawn_prepare).
	 */
	struct metrics_server *server = calloc(1, sizeof *server);
	struct pollfd pfds[METRICS_CLIENTS + 1];

	if (!server)
		die_errno("metrics: no memory for %zu clients", (size_t)METRICS_CLIENTS);
	server->conf = conf;
	server->shared = shared;
	server->listen_fd = listen_fd;
	for (size_t i = 0; i < METRICS_CLIENTS; i++)
		server->clients[i].fd = -1;
	prctl(PR_SET_NAME, SHARED_METRICS_COMM);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	for (;;) {
		int timeout;
		nfds_t count = metrics_poll_set(server, pfds, &timeout);

		if (poll(pfds, count, timeout) < 0 && errno != EINTR)
			die_errno("metrics: poll");
		metrics_step(server, pfds);
		if (pfds[0].revents & POLLIN)
			metrics_accept(server);
	}
}
