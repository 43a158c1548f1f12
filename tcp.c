/*
 * tcp.c: see tcp.h.
 *
 * It accepts while it has a free MAX_CONNECTIONS slot and forks one relay
 * child per connection; at the limit it takes the socket out of its poll
 * set, so new clients wait in the kernel's backlog until a child is reaped.
 * On SIGTERM it closes the socket at once (new clients are refused), gives
 * the open connections the grace period to finish, ends the rest, exits 0.
 * A client not in ALLOW_FROM is closed right after accept(), before any fork
 * or upstream connect.
 */
#include "tcp.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "listener.h"
#include "log.h"
#include "process.h"
#include "target.h"

#define TCP_BACKOFF_MS 100	/* after EMFILE or a failed fork: let resources come back */

struct tcp_state {
	struct listener_core core;
	struct conn_context context;	/* what each relay child is handed */
	const struct conf_port *entry;	/* its PORT entry */
	const struct listener_sockets *sockets;
	struct listener_set set;
	int accept_failing;	/* log a run of failures once, not per attempt */
	int fork_failing;
};

/*
 * All a relay needs, copied onto its own stack by proc_spawn: it does not
 * inherit the listener's stack, where everything the listener writes per
 * connection stays (a page both write is copied).
 */
struct tcp_handoff {
	struct conn_context context;
	struct endpoint client;
	int client_fd, signal_fd, epoll_fd;
	const struct listener_sockets *sockets;	/* the listener's: closed in the relay */
	uint16_t port;		/* the one the client came to; 0 with PORT=* */
	uint16_t to_port;	/* on TARGET; 0: PORT=*, the relay reads it (every_port.h) */
	char count[LISTENER_COUNT_SIZE];	/* VERBOSE=1: the slots in use, this one included */
};

/* VERBOSE=1: logged by the new child itself, so it always comes before the child's own lines. */
static void tcp_log_accept(const struct tcp_handoff *handoff)
{
	char shown[LOG_ADDR_SIZE];

	log_addr((const struct sockaddr *)&handoff->client.addr, shown, sizeof shown);
	log_event(LOG_INFO, "accept", LOG_FIELDS(LOG_STR("client", shown),
						 LOG_STR("port", handoff->context.stats->name),
						 LOG_NUM("child", getpid())),
		  "accept %s -> %s (child %d, %s)", shown, handoff->context.stats->name,
		  (int)getpid(), handoff->count);
}

/* A failed fork (or no memory for a slot): logged once per run of failures. */
static void tcp_spawn_failed(struct tcp_state *state)
{
	if (!state->fork_failing)
		log_errno("port %s: fork failed, closing the new connection", state->core.name);
	state->fork_failing = 1;
}

/* The relay child: proc_spawn's function. */
static int tcp_relay(void *arg)
{
	const struct tcp_handoff *handoff = arg;

	listener_sockets_close(handoff->sockets, handoff->client_fd);
	close(handoff->signal_fd);
	if (handoff->epoll_fd >= 0)
		close(handoff->epoll_fd);
	proc_signals_unblock();
	if (handoff->context.verbose >= 1)
		tcp_log_accept(handoff);
	conn_serve(&handoff->context, handoff->client_fd, &handoff->client, handoff->to_port);
}

/* Starts the relay of one accepted client; the parent keeps no copy of it. */
static void tcp_spawn(struct tcp_state *state, int client_fd, const struct endpoint *client,
		      uint16_t port)
{
	struct tcp_handoff handoff = { .context = state->context, .client = *client,
				       .client_fd = client_fd, .signal_fd = state->core.signal_fd,
				       .epoll_fd = state->set.epoll_fd, .sockets = state->sockets,
				       .port = port,
				       .to_port = port ? conf_port_target(state->entry, port) : 0 };
	pid_t pid;

	if (slots_take(&state->core.slots) < 0) {
		close(client_fd);	/* polled only when not full: out of memory for the table */
		errno = ENOMEM;
		tcp_spawn_failed(state);
		return;
	}
	if (state->context.verbose >= 1)
		listener_count(&state->core, handoff.count, sizeof handoff.count);
	pid = proc_spawn(tcp_relay, &handoff, sizeof handoff);
	close(client_fd);
	if (pid < 0) {
		slots_cancel(&state->core.slots);
		tcp_spawn_failed(state);
		return;
	}
	if (state->fork_failing)
		log_msg("port %s: fork works again", state->core.name);
	state->fork_failing = 0;
	listener_slot_bind(&state->core, pid);
}

/*
 * One client from the entry's socket `index`; 1 when the error is about
 * resources (EMFILE...) and the loop should back off.
 */
static int tcp_accept_one(struct tcp_state *state, size_t index)
{
	struct endpoint client = { .len = sizeof client.addr };
	int fd = accept4(state->sockets->fds[index], (struct sockaddr *)&client.addr, &client.len,
			 SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			return 0;
		if (!state->accept_failing)
			log_errno("port %s: accept failed", state->core.name);
		state->accept_failing = 1;
		return 1;
	}
	if (state->accept_failing)
		log_msg("port %s: accept works again", state->core.name);
	state->accept_failing = 0;
	if (!listener_allowed(&state->core, (struct sockaddr *)&client.addr)) {
		close(fd);
		return 0;
	}
	shared_add(&state->core.stats->connections_total, 1);
	tcp_spawn(state, fd, &client,
		  state->entry->first ? (uint16_t)(state->entry->first + index) : 0);
	return state->fork_failing;
}

static void tcp_reap(struct tcp_state *state)
{
	int status;

	state->core.child_exited = 0;
	while (listener_next_exited(&state->core, &status) > 0)
		;
}

/* One wake-up: a client from each ready socket (one each, so no port starves the others). */
static int tcp_accept_ready(struct tcp_state *state, const struct pollfd *fds)
{
	size_t ready[LISTENER_POLL_SOCKETS * 4];
	size_t count = listener_set_ready(&state->set, fds, ready, sizeof ready / sizeof ready[0]);
	int back_off = 0;

	for (size_t i = 0; i < count && !back_off && !slots_full(&state->core.slots); i++)
		back_off = tcp_accept_one(state, ready[i]);
	return back_off;
}

void tcp_serve(const struct conf *conf, const struct target *target, struct shared *shared,
	       const struct listener_sockets *sockets)
{
	struct tcp_state state = { .entry = &conf->entries[sockets->entry], .sockets = sockets };

	listener_become(&state.core, sockets->entry, conf, shared);
	listener_set_init(&state.set, sockets);
	/* Fails under ASan or with no room below the binary: relays then take more memory. */
	proc_spawn_prepare(target_uses_system_resolver(target));
	target_warm_resolver(target);
	/* Relays inherit it: fewer wake-ups per small message (process.h, docs/performance.md). */
	if (proc_batch_scheduling() < 0 && conf->verbose >= 1)
		log_errno("port %s: SCHED_BATCH refused, relays keep the default policy",
			  state.core.name);
	state.context = (struct conn_context){ .target = target, .stats = state.core.stats,
					       .verbose = conf->verbose,
					       .explicit_mode = conf_is_connect_entry(conf, sockets->entry) };
	while (!state.core.stopping) {
		struct pollfd fds[LISTENER_POLL_SOCKETS];
		/* At the limit the sockets are not polled: clients wait in the backlog. */
		nfds_t nfds = slots_full(&state.core.slots) ? 0
			      : listener_set_pollfds(&state.set, fds, POLLIN);

		if (listener_poll(&state.core, fds, nfds, -1) > 0 && tcp_accept_ready(&state, fds))
			listener_poll(&state.core, NULL, 0, TCP_BACKOFF_MS);
		if (state.core.child_exited)
			tcp_reap(&state);
	}
	/* Closed now, so new clients are refused while the open ones finish. */
	for (size_t i = 0; i < sockets->count; i++)
		close(sockets->fds[i]);
	listener_finish(&state.core);
}
