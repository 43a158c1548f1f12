/*
 * udp.c: MODE=udp, the listener process of one UDP port.
 *
 * UDP_ANSWERS=1: the listener reads every datagram and hands it to the
 * session of its client (address and port) through a socketpair. A new
 * client gets a session: a slot taken, a child forked with an upstream
 * socket connected to TARGET:PORT, relaying answers back to the client from
 * the listening socket. Only the listener reads that socket, so one client
 * gets exactly one session however fast it sends (socat forked duplicates).
 * At MAX_CONNECTIONS, datagrams of new clients wait in a FIFO (then in the
 * kernel) and go out when a session ends; nothing is refused.
 * A session ends after UDP_TIMEOUT seconds without traffic either way. The
 * listener keeps the child's end of the socketpair, so datagrams the child
 * never read are taken back when it is reaped and passed on, in order.
 *
 * UDP_ANSWERS=0: one process, no children: every datagram goes to TARGET
 * from one socket; answers are read and dropped (socat exited on them).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "session.h"

#define UDP_MAX_DATAGRAM 65535
#define UDP_PAIR_BUFFER (1 << 20)	/* socketpair: room for bursts of large datagrams */
#define UDP_READ_BURST 64		/* datagrams per wake-up before signals are looked at */

struct udp_state {
	const struct proxy *proxy;
	struct listener_core core;
	uint16_t port;
	int fd;
	struct session_table sessions;
	struct pending_queue pending;
	int fork_failing;
	uint8_t buf[UDP_MAX_DATAGRAM + 1];
};

struct udp_counts {
	unsigned long datagrams;
	unsigned long long bytes;
};

/* --- the session child --- */

static void udp_close_others(struct udp_state *state, const struct session *mine)
{
	for (size_t i = 0; i < state->sessions.count; i++) {
		const struct session *other = &state->sessions.items[i];

		if (other != mine)
			close(other->child_fd);
		close(other->parent_fd);
	}
}

/* One datagram from the listener to the target. 0, or -1 when the listener is gone. */
static int udp_forward_up(int pair_fd, int upstream_fd, uint8_t *buf, struct udp_counts *up,
			  int verbose)
{
	ssize_t got = recv(pair_fd, buf, UDP_MAX_DATAGRAM, MSG_DONTWAIT);

	if (got < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (verbose >= 2)
		log_dump('>', up->bytes, buf, (size_t)got);
	/* ECONNREFUSED here reports an ICMP error of an earlier datagram: go on. */
	send(upstream_fd, buf, (size_t)got, MSG_DONTWAIT);
	up->datagrams++;
	up->bytes += (unsigned long long)got;
	return 0;
}

static void udp_forward_down(int upstream_fd, int listen_fd, const struct session *session,
			     uint8_t *buf, struct udp_counts *down, int verbose)
{
	ssize_t got = recv(upstream_fd, buf, UDP_MAX_DATAGRAM, MSG_DONTWAIT);

	if (got < 0)
		return;	/* EAGAIN, or ECONNREFUSED: the target's port is closed for now */
	if (verbose >= 2)
		log_dump('<', down->bytes, buf, (size_t)got);
	sendto(listen_fd, buf, (size_t)got, 0, (const struct sockaddr *)&session->client,
	       session->client_len);
	down->datagrams++;
	down->bytes += (unsigned long long)got;
}

static void udp_session_loop(struct udp_state *state, const struct session *session,
			     int upstream_fd, struct udp_counts *up, struct udp_counts *down)
{
	struct pollfd pfds[2] = { { .fd = session->child_fd, .events = POLLIN },
				  { .fd = upstream_fd, .events = POLLIN } };
	long timeout_s = state->proxy->conf->udp_timeout;
	int verbose = state->proxy->conf->verbose;

	/* Without traffic either way for UDP_TIMEOUT, the session ends. */
	while (poll(pfds, 2, timeout_s > 0 ? (int)(timeout_s * 1000) : -1) > 0) {
		if (pfds[0].revents && udp_forward_up(session->child_fd, upstream_fd, state->buf,
						      up, verbose) < 0)
			return;
		if (pfds[1].revents)
			udp_forward_down(upstream_fd, state->fd, session, state->buf, down,
					 verbose);
	}
}

static _Noreturn void udp_session_child(struct udp_state *state, const struct session *session)
{
	const struct conf *conf = state->proxy->conf;
	char client[LOG_ADDR_SIZE], target_shown[LOG_ADDR_SIZE];
	struct udp_counts up = { 0 }, down = { 0 };
	long long started = proxy_now_ms();
	struct endpoint target;
	int upstream_fd;

	udp_close_others(state, session);
	close(state->core.signal_fd);
	proxy_signals_child();
	log_addr((const struct sockaddr *)&session->client, client, sizeof client);
	upstream_fd = target_connect(state->proxy, SOCK_DGRAM, state->port, &target);
	if (upstream_fd < 0)
		_exit(1);	/* logged; the datagrams of this client are dropped as UDP allows */
	log_addr((const struct sockaddr *)&target.addr, target_shown, sizeof target_shown);
	if (conf->verbose >= 1)
		log_msg("session %s -> %u -> %s", client, state->port, target_shown);
	udp_session_loop(state, session, upstream_fd, &up, &down);
	if (conf->verbose >= 1)
		log_msg("session end %s -> %u -> %s: %lu datagrams (%llu bytes) up, "
			"%lu datagrams (%llu bytes) down, %.3f s",
			client, state->port, target_shown, up.datagrams, up.bytes, down.datagrams,
			down.bytes, (double)(proxy_now_ms() - started) / 1000.0);
	_exit(0);
}

/* --- the listener --- */

static int udp_pair(struct session *session)
{
	int fds[2], size = UDP_PAIR_BUFFER;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds) < 0)
		return -1;
	setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	session->parent_fd = fds[0];
	session->child_fd = fds[1];
	return 0;
}

static void udp_fork_failed(struct udp_state *state, struct session *session)
{
	if (!state->fork_failing)
		log_errno("port %u: no session for a new client", state->port);
	state->fork_failing = 1;
	slots_cancel(&state->core.slots);
	if (session->parent_fd >= 0) {
		close(session->parent_fd);
		close(session->child_fd);
	}
	session_remove(&state->sessions, session);
}

/* Starts the session of a new client with its first datagram. -1 when it could not. */
static int udp_spawn(struct udp_state *state, const struct sockaddr_storage *client,
		     socklen_t client_len, const uint8_t *data, size_t len)
{
	struct session *session;
	char shown[LOG_ADDR_SIZE];
	pid_t pid;

	if (slots_take(&state->core.slots) < 0)
		return -1;
	if (!(session = session_add(&state->sessions, client, client_len))) {
		slots_cancel(&state->core.slots);
		return -1;
	}
	if (udp_pair(session) < 0 || send(session->parent_fd, data, len, MSG_DONTWAIT) < 0 ||
	    (pid = proxy_fork()) < 0) {
		udp_fork_failed(state, session);
		return -1;
	}
	if (pid == 0)
		udp_session_child(state, session);
	session->pid = pid;
	slots_bind(&state->core.slots, pid);
	state->fork_failing = 0;
	if (state->proxy->conf->verbose >= 1)
		log_msg("accept %s -> %u (session %d, %s)",
			log_addr((const struct sockaddr *)client, shown, sizeof shown), state->port,
			(int)pid, listener_count(&state->core));
	return 0;
}

/* Where one datagram goes: its session, a new session, or the waiting queue. */
static void udp_dispatch(struct udp_state *state, const struct sockaddr_storage *client,
			 socklen_t client_len, const uint8_t *data, size_t len)
{
	struct session *session = session_find_client(&state->sessions, client);

	if (session) {
		/* Full: the child cannot keep up, and UDP may drop, as a socket buffer would. */
		send(session->parent_fd, data, len, MSG_DONTWAIT);
		return;
	}
	if (pending_has_client(&state->pending, client) ||
	    udp_spawn(state, client, client_len, data, len) < 0)
		pending_push(&state->pending, client, client_len, data, len);
}

/* After a slot freed: the waiting datagrams, in order, as far as slots allow. */
static void udp_drain_pending(struct udp_state *state)
{
	struct pending_queue waiting = state->pending;

	pending_init(&state->pending);
	for (struct pending *item; (item = pending_pop(&waiting)); free(item))
		udp_dispatch(state, &item->client, item->client_len, item->data, item->len);
}

/* A reaped session: what its child left unread goes back to the front of the queue. */
static void udp_end_session(struct udp_state *state, struct session *session)
{
	struct pending_queue unread;
	ssize_t got;

	pending_init(&unread);
	while ((got = recv(session->child_fd, state->buf, UDP_MAX_DATAGRAM, MSG_DONTWAIT)) >= 0)
		pending_push(&unread, &session->client, session->client_len, state->buf,
			     (size_t)got);
	pending_prepend(&state->pending, &unread);
	close(session->parent_fd);
	close(session->child_fd);
	session_remove(&state->sessions, session);
}

static void udp_reap(struct udp_state *state)
{
	int freed = 0;
	pid_t pid;

	state->core.child_exited = 0;
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0) {
		struct session *session = session_find_pid(&state->sessions, pid);

		if (session)
			udp_end_session(state, session);
		freed |= slots_give(&state->core.slots, pid);
	}
	if (freed && state->pending.head)
		udp_drain_pending(state);
}

/* Reads what the socket holds, a burst at a time, while the queue has room. */
static void udp_read_burst(struct udp_state *state)
{
	for (int i = 0; i < UDP_READ_BURST && pending_has_room(&state->pending, UDP_MAX_DATAGRAM);
	     i++) {
		struct sockaddr_storage client;
		socklen_t client_len = sizeof client;
		ssize_t got = recvfrom(state->fd, state->buf, UDP_MAX_DATAGRAM, MSG_DONTWAIT,
				       (struct sockaddr *)&client, &client_len);

		if (got < 0)
			return;
		udp_dispatch(state, &client, client_len, state->buf, (size_t)got);
	}
}

static void udp_answers_serve(struct udp_state *state)
{
	while (!state->core.stopping) {
		struct pollfd pfd = { .fd = state->fd, .events = POLLIN };
		/* With a full queue the socket is left alone: the kernel holds the rest. */
		nfds_t nfds = pending_has_room(&state->pending, UDP_MAX_DATAGRAM) ? 1 : 0;

		if (listener_poll(&state->core, &pfd, nfds, -1) > 0 && (pfd.revents & POLLIN))
			udp_read_burst(state);
		if (state->core.child_exited)
			udp_reap(state);
	}
}

/* --- UDP_ANSWERS=0 --- */

/* The upstream socket; on failure retried at the next datagram (DNS may come later). */
static int udp_oneway_upstream(struct udp_state *state, int upstream_fd)
{
	struct endpoint target;

	if (upstream_fd >= 0)
		return upstream_fd;
	upstream_fd = target_connect(state->proxy, SOCK_DGRAM, state->port, &target);
	if (upstream_fd >= 0)
		fcntl(upstream_fd, F_SETFL, O_NONBLOCK);
	return upstream_fd;
}

static void udp_oneway_serve(struct udp_state *state)
{
	int upstream_fd = udp_oneway_upstream(state, -1);
	unsigned long long offset = 0;

	while (!state->core.stopping) {
		struct pollfd pfds[2] = { { .fd = state->fd, .events = POLLIN },
					  { .fd = upstream_fd, .events = POLLIN } };
		ssize_t got;

		if (listener_poll(&state->core, pfds, upstream_fd >= 0 ? 2 : 1, -1) <= 0)
			continue;
		/* Answers, and ICMP errors, are read and dropped so they never stop us. */
		if (pfds[1].revents)
			while (recv(upstream_fd, state->buf, UDP_MAX_DATAGRAM, MSG_DONTWAIT) >= 0 ||
			       errno == ECONNREFUSED)
				;
		if (!(pfds[0].revents & POLLIN) ||
		    (got = recv(state->fd, state->buf, UDP_MAX_DATAGRAM, MSG_DONTWAIT)) < 0)
			continue;
		if (state->proxy->conf->verbose >= 2)
			log_dump('>', offset, state->buf, (size_t)got);
		offset += (unsigned long long)got;
		upstream_fd = udp_oneway_upstream(state, upstream_fd);
		if (upstream_fd >= 0)
			send(upstream_fd, state->buf, (size_t)got, 0);
	}
}

void udp_serve(const struct proxy *proxy, int listen_fd, uint16_t port)
{
	struct udp_state *state = calloc(1, sizeof *state);

	if (!state)
		die("port %u: out of memory", port);
	listener_become(&state->core, port, proxy->conf);
	state->proxy = proxy;
	state->port = port;
	state->fd = listen_fd;
	session_table_init(&state->sessions);
	pending_init(&state->pending);
	if (proxy->conf->udp_answers)
		udp_answers_serve(state);
	else
		udp_oneway_serve(state);
	close(state->fd);
	listener_finish(&state->core);
}
