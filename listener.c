/*
 * listener.c: the process that owns one TCP port.
 *
 * It accepts while it has a free MAX_CONNECTIONS slot and forks one relay
 * child per connection; at the limit it takes the socket out of its poll set,
 * so new clients wait in the kernel's backlog until a child is reaped.
 * Signals are blocked except inside ppoll(), so reaping and stopping happen
 * at one place in the loop and never race with accept/fork.
 * On SIGTERM it closes the socket at once (new clients are refused), gives
 * the open connections PROXY_GRACE_MS to finish, ends the rest, exits 0.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"

#define LISTENER_BACKOFF_MS 100	/* after EMFILE or a failed fork: let resources come back */

struct listener_state {
	const struct proxy *proxy;
	uint16_t port;
	int fd;
	struct slots slots;
	sigset_t wait_mask;
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

static void listener_reap(struct listener_state *state)
{
	pid_t pid;

	proxy_child_exited = 0;
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		slots_give(&state->slots, pid);
}

static void listener_log_accept(const struct listener_state *state, const struct endpoint *client,
				pid_t pid)
{
	char shown[LOG_ADDR_SIZE];

	if (state->proxy->conf->verbose < 1)
		return;
	if (state->slots.limit > 0)
		log_msg("accept %s -> %u (child %d, %zu/%ld)",
			log_addr((const struct sockaddr *)&client->addr, shown, sizeof shown),
			state->port, (int)pid, state->slots.used, state->slots.limit);
	else
		log_msg("accept %s -> %u (child %d, %zu)",
			log_addr((const struct sockaddr *)&client->addr, shown, sizeof shown),
			state->port, (int)pid, state->slots.used);
}

/* Forks the relay of one accepted client; the parent keeps no copy of it. */
static void listener_spawn(struct listener_state *state, int client_fd,
			   const struct endpoint *client)
{
	pid_t pid;

	slots_take(&state->slots);
	pid = fork();
	if (pid == 0) {
		close(state->fd);
		proxy_signals_child();
		relay_tcp_child(state->proxy, state->port, client_fd, client);
	}
	close(client_fd);
	if (pid < 0) {
		slots_cancel(&state->slots);
		if (!state->fork_failing)
			log_errno("port %u: fork failed, closing the new connection", state->port);
		state->fork_failing = 1;
		return;
	}
	if (state->fork_failing)
		log_msg("port %u: fork works again", state->port);
	state->fork_failing = 0;
	slots_bind(&state->slots, pid);
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
			log_errno("port %u: accept failed", state->port);
		state->accept_failing = 1;
		return 1;
	}
	if (state->accept_failing)
		log_msg("port %u: accept works again", state->port);
	state->accept_failing = 0;
	listener_spawn(state, fd, &client);
	return state->fork_failing;
}

/*
 * Waits for a signal, the timeout, or (when accepting is allowed and a slot
 * is free) a new client, which it then accepts.
 */
static void listener_wait(struct listener_state *state, int timeout_ms, int may_accept)
{
	struct pollfd pfd = { .fd = state->fd, .events = POLLIN };
	struct timespec timeout = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
	nfds_t nfds = may_accept && state->fd >= 0 && !slots_full(&state->slots) ? 1 : 0;

	if (ppoll(&pfd, nfds, timeout_ms >= 0 ? &timeout : NULL, &state->wait_mask) > 0 &&
	    (pfd.revents & POLLIN) && listener_accept_one(state))
		listener_wait(state, LISTENER_BACKOFF_MS, 0);	/* signals only, no accept */
}

static void listener_kill_children(const struct slots *slots, int signo)
{
	for (size_t i = 0; i < slots->used; i++)
		if (slots->pids[i] > 0)
			kill(slots->pids[i], signo);
}

/* Waits for signals only, up to timeout_ms, then reaps. */
static void listener_pause(struct slots *slots, int timeout_ms, const sigset_t *wait_mask)
{
	struct timespec timeout = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
	pid_t pid;

	ppoll(NULL, 0, &timeout, wait_mask);
	proxy_child_exited = 0;
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		slots_give(slots, pid);
}

void listener_finish(struct slots *slots, uint16_t port, int verbose, const sigset_t *wait_mask)
{
	long long deadline = proxy_now_ms() + PROXY_GRACE_MS;

	if (slots->used > 0 && verbose >= 1)
		log_msg("port %u: stopping, %zu open", port, slots->used);
	for (long long left; slots->used > 0 && (left = deadline - proxy_now_ms()) > 0;)
		listener_pause(slots, (int)left, wait_mask);
	if (slots->used > 0) {
		log_msg("port %u: grace period over, ending %zu still open", port, slots->used);
		listener_kill_children(slots, SIGKILL);
		for (pid_t pid; slots->used > 0 && (pid = waitpid(-1, NULL, 0)) > 0;)
			slots_give(slots, pid);
	}
	_exit(0);
}

void listener_become(uint16_t port, sigset_t *wait_mask)
{
	char name[16];

	/* The healthcheck finds each port's listener by this name. */
	snprintf(name, sizeof name, "whitelist:%u", port);
	prctl(PR_SET_NAME, name);
	/* A main process killed outright must not leave listeners behind. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	proxy_signals_block(wait_mask);
}

void listener_tcp_serve(const struct proxy *proxy, int listen_fd, uint16_t port)
{
	struct listener_state state = { .proxy = proxy, .port = port, .fd = listen_fd };

	listener_become(port, &state.wait_mask);
	if (slots_init(&state.slots, proxy->conf->max_connections) < 0)
		die("port %u: out of memory", port);
	while (!proxy_stopping) {
		listener_wait(&state, -1, 1);
		listener_reap(&state);
	}
	/* Closed now, so new clients are refused while the open ones finish. */
	close(state.fd);
	listener_finish(&state.slots, port, proxy->conf->verbose, &state.wait_mask);
}
