/*
 * conn.c: see conn.h. Its life: connect to TARGET (in routed mode to the
 * name the client asked for, route.h), log, relay, log, exit.
 * When TARGET cannot be reached the client gets an orderly FIN; when it
 * leads back to this proxy (the loop guard) it is closed at once, before
 * any upstream connection, so a loop can never chain.
 */
#include "conn.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "every_port.h"
#include "log.h"
#include "process.h"
#include "relay.h"
#include "route.h"

/*
 * The target could not be reached, or routed mode refused the client: end
 * it with a FIN, not a reset, which close() would send while its request
 * sits unread (and which could cut short the alert or 403 just sent).
 */
static _Noreturn void conn_refuse(int client_fd)
{
	struct pollfd pfd = { .fd = client_fd, .events = POLLIN };
	long long deadline = proc_now_ms() + RELAY_LINGER_MS;
	char discard[4096];

	shutdown(client_fd, SHUT_WR);
	for (long long left; (left = deadline - proc_now_ms()) > 0;) {
		if (poll(&pfd, 1, (int)left) <= 0 || read(client_fd, discard, sizeof discard) <= 0)
			break;
	}
	_exit(1);
}

static void conn_log_close(const struct conn_context *context, const char *client,
			   const char *target, const struct relay_totals *totals, long long started)
{
	long long took = proc_now_ms() - started;

	log_event(LOG_INFO, "close",
		  LOG_FIELDS(LOG_STR("client", client), LOG_STR("port", context->stats->name),
			     LOG_STR("address", target), LOG_NUM("bytes_in", totals->up),
			     LOG_NUM("bytes_out", totals->down), LOG_NUM("duration_ms", took)),
		  "close %s -> %s -> %s: %llu bytes up, %llu bytes down, %.3f s", client,
		  context->stats->name, target, (unsigned long long)totals->up,
		  (unsigned long long)totals->down, (double)took / 1000.0);
}

/*
 * The upstream connection: to TARGET, or in routed mode to the name the
 * client asked for (route.h). Returns its fd; anything else ends the child.
 */
static int conn_upstream(const struct conn_context *context, int client_fd,
			 const struct endpoint *client, uint16_t to_port, struct endpoint *target,
			 char *route, size_t route_size)
{
	struct route_outcome outcome;
	int fd;

	route[0] = '\0';
	if (!context->target->conf->routed && !context->explicit_mode) {
		fd = target_connect(context->target, context->stats, to_port, SOCK_STREAM, target);
		if (fd == TARGET_SELF)
			_exit(1);	/* logged and counted; the client is closed with us */
		if (fd < 0)
			conn_refuse(client_fd);
		return fd;
	}
	switch (route_connect(context->target, context->stats, to_port, client_fd, client,
			      context->explicit_mode, &outcome, &fd)) {
	case ROUTE_CONNECTED:
		*target = outcome.upstream;
		snprintf(route, route_size, " (%s%s: TARGET entry %s)",
			 !context->explicit_mode ? "" : outcome.head.form == PROXY_FORM_CONNECT
			 ? "CONNECT " : "absolute-form ", outcome.sniffed.name,
			 outcome.route >= 0 ? context->target->conf->routes[outcome.route].pattern
					    : context->target->conf->target);
		return fd;
	case ROUTE_LOOP:
		_exit(1);
	default:	/* refused (answered), or unreachable (logged) */
		conn_refuse(client_fd);
	}
}

void conn_serve(const struct conn_context *context, int client_fd, const struct endpoint *client,
		uint16_t to_port)
{
	char client_shown[LOG_ADDR_SIZE], target_shown[LOG_ADDR_SIZE], route[SNIFF_NAME_SIZE + CONF_TARGET_SIZE + 48];
	struct relay_options options = { .dump = context->verbose >= 2,
					  .up_total = &context->stats->bytes_up,
					  .down_total = &context->stats->bytes_down };
	struct relay_totals totals;
	struct endpoint target;
	/* VERBOSE=0 reads no clock and formats nothing: less code and data to fault in. */
	long long started = context->verbose >= 1 ? proc_now_ms() : 0;
	int target_fd;

	if (!to_port && !(to_port = every_port_original(client_fd))) {
		log_errno("port %s: no original destination for a client", context->stats->name);
		_exit(1);
	}
	target_fd = conn_upstream(context, client_fd, client, to_port, &target, route,
				  sizeof route);

	if (context->verbose >= 1) {
		log_addr((const struct sockaddr *)&client->addr, client_shown, sizeof client_shown);
		log_addr((const struct sockaddr *)&target.addr, target_shown, sizeof target_shown);
		log_event(LOG_INFO, "connect",
			  LOG_FIELDS(LOG_STR("client", client_shown),
				     LOG_STR("port", context->stats->name),
				     LOG_STR("address", target_shown)),
			  "connect %s -> %s -> %s%s", client_shown, context->stats->name,
			  target_shown, route);
	}
	/* The client came non-blocking from accept4; the upstream socket was connected blocking. */
	fcntl(target_fd, F_SETFL, O_NONBLOCK);
	if (relay_run(client_fd, target_fd, &options, &totals) < 0) {
		log_errno("port %s: no buffer for %s", context->stats->name,
			  log_addr((const struct sockaddr *)&client->addr, client_shown,
				   sizeof client_shown));
		_exit(1);
	}
	if (context->verbose >= 1)
		conn_log_close(context, client_shown, target_shown, &totals, started);
	_exit(0);
}
