/*
 * listener.c: the process that owns one port (TCP here; udp.c for UDP).
 *
 * It accepts while it has a free MAX_CONNECTIONS slot and forks one relay
 * child per connection; at the limit it takes the socket out of its poll set,
 * so new clients wait in the kernel's backlog until a child is reaped.
 * Signals arrive through a signalfd in the same poll as the socket: reaping
 * and stopping happen at one place in the loop, never racing accept/fork,
 * and no handler writes to memory that every fork would then copy.
 * On SIGTERM it closes the socket at once (new clients are refused), gives
 * the open connections PROXY_GRACE_MS to finish, ends the rest, exits 0.
 * A client not in ALLOW_FROM is closed right after accept(), before any fork
 * or upstream connect. The port's counters (shared.h) are kept here where
 * they can be exact: a connection is active from its fork until its child
 * is reaped, however the child ends.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"

#define LISTENER_BACKOFF_MS 100	/* after EMFILE or a failed fork: let resources come back */

struct listener_state {
	const struct proxy *proxy;
	struct listener_core core;
	int fd;
	int accept_failing;	/* log a run of failures once, not per attempt */
	int fork_failing;
};

static int listener_socket(int family, int type, uint16_t port)
{
	struct sockaddr_storage addr = { 0 };
	socklen_t len;
	int fd = socket(family, type | SOCK_CLOEXEC, 0), on = 1, off = 0;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	/* UDP: sessions join the port with sockets of their own (udp.c, the fast path). */
	if (type == SOCK_DGRAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = in6addr_any;
		len = sizeof *sin6;
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		len = sizeof *sin;
	}
	if (bind(fd, (struct sockaddr *)&addr, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, PROXY_BACKLOG) < 0)) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Dual-stack [::]; plain 0.0.0.0 when the host has no IPv6. -1 with errno set. */
int listener_bind(enum conf_mode mode, uint16_t port)
{
	int type = mode == CONF_MODE_TCP ? SOCK_STREAM : SOCK_DGRAM;
	int fd = listener_socket(AF_INET6, type, port);

	if (fd >= 0 || errno == EADDRINUSE || errno == EACCES)
		return fd;
	return listener_socket(AF_INET, type, port);
}

void listener_slot_bind(struct listener_core *core, pid_t pid)
{
	slots_bind(&core->slots, pid);
	atomic_fetch_add_explicit(&core->counters->connections_active, 1, memory_order_relaxed);
}

int listener_slot_give(struct listener_core *core, pid_t pid)
{
	if (!slots_give(&core->slots, pid))
		return 0;	/* not one of ours: an orphan handed to us */
	atomic_fetch_sub_explicit(&core->counters->connections_active, 1, memory_order_relaxed);
	return 1;
}

static void listener_reap(struct listener_core *core)
{
	pid_t pid;

	core->child_exited = 0;
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		listener_slot_give(core, pid);
}

/* The refusals not logged one by one, once their second is over. */
static void listener_refused_summary(struct listener_core *core, long long now)
{
	if (core->refused_unlogged == 0 || now < core->refused_window_end)
		return;
	log_msg("refused %lu more -> %u: not in ALLOW_FROM (logged once a second)",
		core->refused_unlogged, core->port);
	core->refused_unlogged = 0;
	core->refused_window_end = now + PROXY_REFUSED_LOG_MS;
}

int listener_allowed(struct listener_core *core, const struct sockaddr *client)
{
	char shown[LOG_ADDR_SIZE];
	long long now;

	if (conf_allow_match(core->allow, client))
		return 1;
	shared_add(&core->counters->refused_allow_from, 1);
	/* A flood must not flood the log too: one line, then a count per second. */
	now = proxy_now_ms();
	listener_refused_summary(core, now);
	if (now < core->refused_window_end) {
		core->refused_unlogged++;
		return 0;
	}
	log_msg("refused %s -> %u: not in ALLOW_FROM", log_addr(client, shown, sizeof shown),
		core->port);
	core->refused_window_end = now + PROXY_REFUSED_LOG_MS;
	return 0;
}

static void listener_log_accept(const struct listener_state *state, const struct endpoint *client,
				pid_t pid)
{
	char shown[LOG_ADDR_SIZE];

	if (state->proxy->conf->verbose >= 1)
		log_msg("accept %s -> %u (child %d, %s)",
			log_addr((const struct sockaddr *)&client->addr, shown, sizeof shown),
			state->core.port, (int)pid, listener_count(&state->core));
}

const char *listener_count(const struct listener_core *core)
{
	static char text[48];

	if (core->slots.limit > 0)
		snprintf(text, sizeof text, "%zu/%ld", core->slots.used, core->slots.limit);
	else
		snprintf(text, sizeof text, "%zu", core->slots.used);
	return text;
}

/* Forks the relay of one accepted client; the parent keeps no copy of it. */
static void listener_spawn(struct listener_state *state, int client_fd,
			   const struct endpoint *client)
{
	pid_t pid;

	slots_take(&state->core.slots);
	pid = proxy_fork();
	if (pid == 0) {
		close(state->fd);
		close(state->core.signal_fd);
		proxy_signals_child();
		relay_tcp_child(state->proxy, state->core.counters, client_fd, client);
	}
	close(client_fd);
	if (pid < 0) {
		slots_cancel(&state->core.slots);
		if (!state->fork_failing)
			log_errno("port %u: fork failed, closing the new connection",
				  state->core.port);
		state->fork_failing = 1;
		return;
	}
	if (state->fork_failing)
		log_msg("port %u: fork works again", state->core.port);
	state->fork_failing = 0;
	listener_slot_bind(&state->core, pid);
	listener_log_accept(state, client, pid);
}

/* 1 when the error is about resources (EMFILE...) and the loop should back off. */
static int listener_accept_one(struct listener_state *state)
{
	struct endpoint client = { .len = sizeof client.addr };
	int fd = accept4(state->fd, (struct sockaddr *)&client.addr, &client.len, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
			return 0;
		if (!state->accept_failing)
			log_errno("port %u: accept failed", state->core.port);
		state->accept_failing = 1;
		return 1;
	}
	if (state->accept_failing)
		log_msg("port %u: accept works again", state->core.port);
	state->accept_failing = 0;
	if (!listener_allowed(&state->core, (struct sockaddr *)&client.addr)) {
		close(fd);
		return 0;
	}
	shared_add(&state->core.counters->connections_total, 1);
	listener_spawn(state, fd, &client);
	return state->fork_failing;
}

int listener_poll(struct listener_core *core, struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
	struct pollfd all[3] = { { .fd = core->signal_fd, .events = POLLIN } };
	struct signalfd_siginfo info;
	int ready;

	if (core->refused_unlogged > 0) {
		long long left = core->refused_window_end - proxy_now_ms();

		left = left < 0 ? 0 : left;
		if (timeout_ms < 0 || left < timeout_ms)
			timeout_ms = (int)left;
	}
	if (nfds > 0)	/* fds may be NULL: memcpy must not see it even for 0 bytes */
		memcpy(all + 1, fds, nfds * sizeof *fds);
	ready = poll(all, nfds + 1, timeout_ms);
	if (nfds > 0)
		memcpy(fds, all + 1, nfds * sizeof *fds);
	if (core->refused_unlogged > 0)
		listener_refused_summary(core, proxy_now_ms());
	if (ready > 0 && (all[0].revents & POLLIN)) {
		while (read(core->signal_fd, &info, sizeof info) == sizeof info) {
			if (info.ssi_signo == SIGCHLD)
				core->child_exited = 1;
			else
				core->stopping = 1;
		}
		ready--;
	}
	return ready;
}

static void listener_kill_children(const struct slots *slots, int signo)
{
	for (size_t i = 0; i < slots->used; i++)
		if (slots->pids[i] > 0)
			kill(slots->pids[i], signo);
}

void listener_finish(struct listener_core *core)
{
	long long deadline = proxy_now_ms() + PROXY_GRACE_MS;

	core->refused_window_end = 0;	/* the socket is closed: no refusal comes after */
	listener_refused_summary(core, deadline);
	listener_reap(core);
	if (core->slots.used > 0 && core->verbose >= 1)
		log_msg("port %u: stopping, %zu open", core->port, core->slots.used);
	for (long long left; core->slots.used > 0 && (left = deadline - proxy_now_ms()) > 0;) {
		listener_poll(core, NULL, 0, (int)left);
		listener_reap(core);
	}
	if (core->slots.used > 0) {
		log_msg("port %u: grace period over, ending %zu still open", core->port,
			core->slots.used);
		listener_kill_children(&core->slots, SIGKILL);
		for (pid_t pid; core->slots.used > 0 && (pid = waitpid(-1, NULL, 0)) > 0;)
			listener_slot_give(core, pid);
	}
	_exit(0);
}

void listener_become(struct listener_core *core, uint16_t port, const struct proxy *proxy)
{
	const struct conf *conf = proxy->conf;
	sigset_t handled;
	char name[16];

	memset(core, 0, sizeof *core);
	core->port = port;
	core->verbose = conf->verbose;
	core->counters = shared_counters_of(proxy->shared, port);
	core->allow = &conf->allow;
	/* The healthcheck finds each port's listener by this name. */
	snprintf(name, sizeof name, "whitelist:%u", port);
	prctl(PR_SET_NAME, name);
	/* A main process killed outright must not leave listeners behind. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigemptyset(&handled);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGCHLD);
	sigprocmask(SIG_BLOCK, &handled, NULL);
	core->signal_fd = signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
	if (core->signal_fd < 0)
		die_errno("port %u: signalfd", port);
	if (slots_init(&core->slots, conf->max_connections) < 0)
		die("port %u: out of memory", port);
}

void listener_tcp_serve(const struct proxy *proxy, int listen_fd, uint16_t port)
{
	struct listener_state state = { .proxy = proxy, .fd = listen_fd };

	listener_become(&state.core, port, proxy);
	while (!state.core.stopping) {
		struct pollfd pfd = { .fd = state.fd, .events = POLLIN };
		/* At the limit the socket is not polled: clients wait in the backlog. */
		nfds_t nfds = slots_full(&state.core.slots) ? 0 : 1;

		if (listener_poll(&state.core, &pfd, nfds, -1) > 0 && (pfd.revents & POLLIN) &&
		    listener_accept_one(&state))
			listener_poll(&state.core, NULL, 0, LISTENER_BACKOFF_MS);
		if (state.core.child_exited)
			listener_reap(&state.core);
	}
	/* Closed now, so new clients are refused while the open ones finish. */
	close(state.fd);
	listener_finish(&state.core);
}
