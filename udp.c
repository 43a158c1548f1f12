/*
 * udp.c: see udp.h.
 *
 * UDP_ANSWERS=1: the listener reads every datagram and hands it to the
 * session of its client (address and port) through a socketpair. A new
 * client gets a session (udp_session.h): a slot taken, a child forked with
 * its first datagram. Only the listener reads the port's socket, so one
 * client gets exactly one session however fast it sends (socat forked
 * duplicates). At MAX_CONNECTIONS, datagrams of new clients wait in a FIFO
 * bounded by real memory (session.h), then in the kernel, and go out when a
 * session ends; nothing is refused. The fast path, where the kernel hands a
 * session its client's datagrams directly, is udp_handover.h.
 *
 * A session that ended normally may leave datagrams it never read in the
 * pair: they are taken back and passed on, in order. One that could not
 * reach TARGET, or died, leaves them dropped and counted: they would only
 * start the same failure again. After a session could not reach TARGET, no
 * new session starts for UDP_RETRY_MS: a client that keeps sending costs at
 * most one fork and one connection attempt per second, never one per datagram.
 *
 * UDP_ANSWERS=0: one process, no children: every datagram goes to TARGET
 * from one socket; answers are read and dropped (socat exited on them).
 *
 * ALLOW_FROM: a datagram from a client without a session is checked before
 * a session is made for it (one-way: every datagram); others are dropped.
 */
#include "udp.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "process.h"
#include "session.h"
#include "target.h"
#include "udp_batch.h"
#include "udp_handover.h"
#include "udp_session.h"

#define UDP_PAIR_BUFFER (1 << 20)	/* socketpair: room for bursts of large datagrams */
#define UDP_READ_BURST 64		/* datagrams per wake-up before signals are looked at */
#define UDP_RETRY_MS 1000		/* after TARGET could not be reached: the next attempt */
#define UDP_DROPS_EVERY_MS 1000		/* the kernel's drops, counted while the queue is full */

struct udp_state {
	const struct conf *conf;
	const struct target *target;
	struct listener_core core;
	const struct conf_port *entry;	/* its PORT entry */
	const struct listener_sockets *sockets;	/* a range has one a port */
	struct listener_set set;
	int fd;				/* sockets->fds[0]: the one socket of a port or a pair */
	uint16_t port;			/* the one it listens on (a range: its first) */
	struct session_table sessions;
	struct pending_queue pending;
	int fork_failing;
	long long retry_ms;		/* no session (or upstream socket) before this */
	struct udp_batch *batch;	/* the listener's reads */
	int notify_rd, notify_wr;	/* sessions -> listener: pids whose socket is connected */
	int marker_fd;			/* -1: no fast path */
	struct sockaddr_storage marker_to, marker_from;	/* from: as our socket sees it */
	socklen_t marker_to_len;
	uint32_t target_version;	/* one-way: the shared address its socket was made for */
	uint32_t *kernel_drops;		/* each socket's drop count (SO_MEMINFO), as last seen */
	int *upstreams;			/* one-way: a socket to TARGET per listening socket */
	uint8_t buf[UDP_MAX_DATAGRAM + 2];	/* a datagram, with the tag byte */
};

/* Counts datagrams dropped for a reason. */
static void udp_drop(struct udp_state *state, enum shared_drop reason, uint64_t count)
{
	shared_add(&state->core.stats->dropped[reason], count);
}

/* --- sessions --- */

static void udp_close_others(struct udp_state *state, const struct session *mine)
{
	for (size_t i = 0; i < state->sessions.count; i++) {
		const struct session *other = &state->sessions.items[i];

		if (other != mine)
			close(other->child_fd);
		close(other->parent_fd);
	}
}

/* Where a datagram to the entry's socket `socket` goes on TARGET. */
static uint16_t udp_to_port(const struct udp_state *state, uint16_t socket)
{
	return conf_port_target(state->entry, (uint16_t)(state->entry->first + socket));
}

/* In the new child: keeps only what the session needs, and becomes it. */
static _Noreturn void udp_become_session(struct udp_state *state, const struct session *session)
{
	int listen_fd = state->sockets->fds[session->socket];
	struct udp_session_args args = {
		.target = state->target, .stats = state->core.stats, .verbose = state->conf->verbose,
		.timeout_s = state->conf->udp_timeout, .pair_fd = session->child_fd,
		.to_port = udp_to_port(state, session->socket),
		.listen_fd = listen_fd, .notify_fd = state->marker_fd >= 0 ? state->notify_wr : -1,
		.client = session->client, .client_len = session->client_len,
	};

	udp_close_others(state, session);
	if (state->sockets->count > 1) {	/* a range: its answers leave from its own port */
		listener_sockets_close(state->sockets, listen_fd);
		close(state->set.epoll_fd);
	}
	close(state->core.signal_fd);
	close(state->notify_rd);
	close(state->marker_fd);
	proc_signals_unblock();
	udp_session_run(&args);
}

static int udp_pair(struct session *session)
{
	int fds[2], size = UDP_PAIR_BUFFER;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
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
		log_errno("port %s: no session for a new client", state->core.name);
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
		     socklen_t client_len, uint16_t socket, const uint8_t *data, size_t len)
{
	struct session *session;
	char shown[LOG_ADDR_SIZE], count[LISTENER_COUNT_SIZE];
	pid_t pid;

	if (slots_take(&state->core.slots) < 0)
		return -1;
	if (!(session = session_add(&state->sessions, client, client_len, socket))) {
		slots_cancel(&state->core.slots);
		return -1;
	}
	if (udp_pair(session) < 0 ||
	    udp_pair_send(session->parent_fd, UDP_PAIR_DATAGRAM, data, len) < 0 ||
	    (pid = proc_fork()) < 0) {
		udp_fork_failed(state, session);
		return -1;
	}
	if (pid == 0) {
		/* Logged by the session itself: before its own lines, whatever the scheduler does. */
		if (state->conf->verbose >= 1)
			log_event(LOG_INFO, "accept",
				  LOG_FIELDS(LOG_STR("client", log_addr((const struct sockaddr *)client,
									 shown, sizeof shown)),
					     LOG_STR("port", state->core.name),
					     LOG_NUM("session", getpid())),
				  "accept %s -> %s (session %d, %s)", shown, state->core.name,
				  (int)getpid(), listener_count(&state->core, count, sizeof count));
		udp_become_session(state, session);
	}
	session->pid = pid;
	listener_slot_bind(&state->core, pid);
	shared_add(&state->core.stats->connections_total, 1);
	state->fork_failing = 0;
	return 0;
}

/* Where one datagram goes: its session, a new session, the waiting queue, or nowhere. */
static void udp_dispatch(struct udp_state *state, const struct sockaddr_storage *client,
			 socklen_t client_len, uint16_t socket, const uint8_t *data, size_t len)
{
	struct session *session = session_find_client(&state->sessions, client, socket);

	if (session) {
		/* Full: the child cannot keep up, and UDP may drop, as a socket buffer would. */
		udp_pair_send(session->parent_fd, UDP_PAIR_DATAGRAM, data, len);
		return;
	}
	if (proc_now_ms() < state->retry_ms) {
		udp_drop(state, SHARED_DROPPED_UPSTREAM_DOWN, 1);
		return;
	}
	if ((pending_has_client(&state->pending, client, socket) ||
	     udp_spawn(state, client, client_len, socket, data, len) < 0) &&
	    pending_push(&state->pending, client, client_len, socket, data, len) < 0)
		udp_drop(state, SHARED_DROPPED_QUEUE_FULL, 1);
}

/* Sends, with one sendmmsg per session, the datagrams marked with that session's fd. */
static void udp_flush_to_sessions(struct udp_batch *batch, int count, int *fds)
{
	struct mmsghdr out[UDP_BATCH];

	for (int i = 0; i < count; i++) {
		int fd = fds[i], n = 0;

		if (fd < 0)
			continue;
		for (int j = i; j < count; j++) {
			if (fds[j] != fd)
				continue;
			batch->tags[j] = UDP_PAIR_DATAGRAM;
			out[n++].msg_hdr = (struct msghdr){ .msg_iov = batch->iov[j], .msg_iovlen = 2 };
			fds[j] = -1;
		}
		/* A full socketpair: the child cannot keep up; UDP may drop, as a socket would. */
		sendmmsg(fd, out, (unsigned)n, MSG_DONTWAIT);
	}
}

/* Step 4 of the handover: the session may read its own socket now. */
static void udp_switch_session(struct udp_state *state, pid_t pid)
{
	struct session *session = session_find_pid(&state->sessions, pid);

	if (session)
		udp_pair_send(session->parent_fd, UDP_PAIR_SWITCH, NULL, 0);
}

/* 1 (and the pid) when datagram i is our own marker, come back through the queue. */
static int udp_is_marker(const struct udp_state *state, const struct udp_batch *batch, int i,
			 pid_t *pid)
{
	struct udp_handover_marker marker;

	if (state->marker_fd < 0 || batch->iov[i][1].iov_len != sizeof marker ||
	    !session_same_client(&batch->from[i], &state->marker_from))
		return 0;
	memcpy(&marker, batch->iov[i][1].iov_base, sizeof marker);
	*pid = marker.pid;
	return marker.magic == UDP_HANDOVER_MAGIC;
}

/* Step 3 of the handover: a marker each, through our own queue, for sessions that announced. */
static void udp_read_notify(struct udp_state *state)
{
	pid_t pids[64];
	ssize_t got = read(state->notify_rd, pids, sizeof pids);

	for (ssize_t i = 0; i < got / (ssize_t)sizeof pids[0]; i++) {
		struct udp_handover_marker marker = { UDP_HANDOVER_MAGIC, pids[i] };

		if (sendto(state->marker_fd, &marker, sizeof marker, 0,
			   (struct sockaddr *)&state->marker_to, state->marker_to_len) < 0)
			udp_switch_session(state, pids[i]);	/* no loopback: switch now */
	}
}

/* A batch from the socket: known clients' datagrams go out per session, in order. */
static void udp_dispatch_batch(struct udp_state *state, struct udp_batch *batch, int count,
			       uint16_t socket)
{
	int fds[UDP_BATCH];
	pid_t pid;

	for (int i = 0; i < count; i++) {
		struct session *session;

		fds[i] = -1;
		if (udp_is_marker(state, batch, i, &pid)) {
			udp_flush_to_sessions(batch, i, fds);	/* what came before it, first */
			udp_switch_session(state, pid);
			continue;
		}
		session = session_find_client(&state->sessions, &batch->from[i], socket);
		fds[i] = session ? session->parent_fd : -1;
		/* A new client: starts a session (then found by later ones) or waits. */
		if (!session && listener_allowed(&state->core, (struct sockaddr *)&batch->from[i]))
			udp_dispatch(state, &batch->from[i], batch->msgs[i].msg_hdr.msg_namelen,
				     socket, batch->iov[i][1].iov_base, batch->iov[i][1].iov_len);
	}
	udp_flush_to_sessions(batch, count, fds);
}

/* After a slot freed: the waiting datagrams, in order, as far as slots allow. */
static void udp_drain_pending(struct udp_state *state)
{
	struct pending_queue waiting = state->pending;

	pending_init(&state->pending);
	for (struct pending *item; (item = pending_pop(&waiting)); free(item))
		udp_dispatch(state, &item->client, item->client_len, item->socket, item->data,
			     item->len);
}

/*
 * What a reaped session left unread in its pair: taken back, to go out in
 * order, when keep; otherwise dropped and counted under reason.
 */
static void udp_take_back(struct udp_state *state, struct session *session, int keep,
			  enum shared_drop reason)
{
	struct pending_queue unread;
	uint64_t lost = 0, full = 0;
	ssize_t got;

	pending_init(&unread);
	while ((got = recv(session->child_fd, state->buf, sizeof state->buf, MSG_DONTWAIT)) > 0) {
		if (state->buf[0] != UDP_PAIR_DATAGRAM)
			continue;	/* a SWITCH it never read */
		if (!keep)
			lost++;
		else if (pending_push(&unread, &session->client, session->client_len, session->socket,
				      state->buf + 1, (size_t)got - 1) < 0)
			full++;
	}
	pending_prepend(&state->pending, &unread);
	udp_drop(state, reason, lost);
	udp_drop(state, SHARED_DROPPED_QUEUE_FULL, full);
}

/*
 * A reaped session: one that ended normally hands back what it left; one
 * that could not reach TARGET makes the port wait UDP_RETRY_MS before the
 * next attempt; one that died loses what it left (it could die again on it).
 */
static void udp_end_session(struct udp_state *state, struct session *session, int status)
{
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;

	if (code == UDP_SESSION_NO_TARGET)
		state->retry_ms = proc_now_ms() + UDP_RETRY_MS;
	udp_take_back(state, session, code == UDP_SESSION_IDLE,
		      code == UDP_SESSION_NO_TARGET ? SHARED_DROPPED_UPSTREAM_DOWN
						    : SHARED_DROPPED_SESSION_LOST);
	close(session->parent_fd);
	close(session->child_fd);
	session_remove(&state->sessions, session);
}

static void udp_reap(struct udp_state *state)
{
	int freed = 0, status;
	pid_t pid;

	state->core.child_exited = 0;
	while ((pid = listener_next_exited(&state->core, &status)) > 0) {
		struct session *session = session_find_pid(&state->sessions, pid);

		if (session) {
			udp_end_session(state, session, status);
			freed = 1;
		}
	}
	if (freed && state->pending.head)
		udp_drain_pending(state);
}

/*
 * The datagrams the kernel dropped since last time (its buffer full while
 * the queue had no room and the socket was left alone), counted as having
 * had no room to wait.
 */
static void udp_count_kernel_drops(struct udp_state *state)
{
	/* SO_MEMINFO's fields, kernel ABI (linux/sock_diag.h: not in musl's include path). */
	enum { SK_MEMINFO_DROPS = 8, SK_MEMINFO_VARS = 9 };

	for (size_t i = 0; i < state->sockets->count; i++) {
		uint32_t meminfo[SK_MEMINFO_VARS] = { 0 };
		socklen_t len = sizeof meminfo;

		if (getsockopt(state->sockets->fds[i], SOL_SOCKET, SO_MEMINFO, meminfo, &len) < 0 ||
		    len <= SK_MEMINFO_DROPS * sizeof meminfo[0])
			continue;
		udp_drop(state, SHARED_DROPPED_QUEUE_FULL,
			 (uint32_t)(meminfo[SK_MEMINFO_DROPS] - state->kernel_drops[i]));
		state->kernel_drops[i] = meminfo[SK_MEMINFO_DROPS];
	}
}

/* Reads what the entry's socket `socket` holds, a batch at a time, while the queue has room. */
static void udp_read_burst(struct udp_state *state, uint16_t socket)
{
	for (int total = 0, count = UDP_BATCH; count == UDP_BATCH && total < UDP_READ_BURST &&
	     pending_has_room(&state->pending, UDP_BATCH, UDP_MAX_DATAGRAM);
	     total += count) {
		count = udp_batch_recv(state->batch, state->sockets->fds[socket], 0, NULL);
		udp_dispatch_batch(state, state->batch, count, socket);
	}
}

/* --- the fast path's plumbing (udp_handover.h) --- */

/* Where markers go (127.0.0.1:PORT) and how their source looks on our socket. */
static void udp_marker_addresses(struct udp_state *state, const struct sockaddr_in *from,
				 sa_family_t listen_family)
{
	struct sockaddr_in *to = (struct sockaddr_in *)&state->marker_to;

	memset(&state->marker_to, 0, sizeof state->marker_to);
	memset(&state->marker_from, 0, sizeof state->marker_from);
	to->sin_family = AF_INET;
	to->sin_port = htons(state->port);
	to->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	state->marker_to_len = sizeof *to;
	if (listen_family == AF_INET6) {	/* dual-stack: v4 shows as ::ffff:a.b.c.d */
		struct sockaddr_in6 *mapped = (struct sockaddr_in6 *)&state->marker_from;

		mapped->sin6_family = AF_INET6;
		mapped->sin6_port = from->sin_port;
		mapped->sin6_addr.s6_addr[10] = mapped->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&mapped->sin6_addr.s6_addr[12], &from->sin_addr, 4);
	} else {
		memcpy(&state->marker_from, from, sizeof *from);
	}
}

/*
 * The reuseport group's program: always socket 0, the listener (it bound
 * first and never leaves). Sessions' sockets get only what their connection
 * claims, which the kernel decides before the group's program runs.
 */
static int udp_steer_to_listener(int fd)
{
	/* Classic BPF, the kernel's stable ABI (linux/filter.h, which libcs do not ship). */
	struct { uint16_t code; uint8_t jt, jf; uint32_t k; } code[] = { { 0x06, 0, 0, 0 } };
	struct { unsigned short len; void *filter; } program = { 1, code };	/* "ret #0" */

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program, sizeof program);
}

/*
 * A pipe on which sessions announce themselves, and a loopback socket for
 * the markers. Without them sessions stay on the slow path.
 */
static void udp_fast_path_init(struct udp_state *state)
{
	struct sockaddr_in local = { .sin_family = AF_INET,
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_storage listen_addr;
	socklen_t len = sizeof local, listen_len = sizeof listen_addr;
	int fds[2];

	state->marker_fd = state->notify_rd = state->notify_wr = -1;
	/* A range's sessions stay on the slow path: the handover is made for one socket. */
	if (state->sockets->count > 1 || pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return;
	state->notify_rd = fds[0];
	state->notify_wr = fds[1];
	state->marker_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (state->marker_fd < 0 || udp_steer_to_listener(state->fd) < 0 ||
	    bind(state->marker_fd, (struct sockaddr *)&local, len) < 0 ||
	    getsockname(state->marker_fd, (struct sockaddr *)&local, &len) < 0 ||
	    getsockname(state->fd, (struct sockaddr *)&listen_addr, &listen_len) < 0) {
		close(state->marker_fd);
		state->marker_fd = -1;
		return;
	}
	udp_marker_addresses(state, &local, listen_addr.ss_family);
}

static void udp_answers_serve(struct udp_state *state)
{
	udp_fast_path_init(state);
	while (!state->core.stopping) {
		/*
		 * With a full queue the socket is left alone: the kernel holds the
		 * rest, and what it drops is counted once a second meanwhile.
		 */
		int room = pending_has_room(&state->pending, UDP_BATCH, UDP_MAX_DATAGRAM);
		struct pollfd pfds[LISTENER_POLL_SOCKETS + 1] = { { .fd = state->notify_rd,
								    .events = POLLIN } };
		nfds_t nfds = 1 + (room ? listener_set_pollfds(&state->set, pfds + 1, POLLIN) : 0);
		size_t ready[UDP_READ_BURST];

		if (!room)
			udp_count_kernel_drops(state);
		if (listener_poll(&state->core, pfds, nfds, room ? -1 : UDP_DROPS_EVERY_MS) > 0) {
			size_t count = room ? listener_set_ready(&state->set, pfds + 1, ready,
								 sizeof ready / sizeof ready[0])
					    : 0;

			if (pfds[0].revents & POLLIN)
				udp_read_notify(state);
			for (size_t i = 0; i < count; i++)
				udp_read_burst(state, (uint16_t)ready[i]);
		}
		if (state->core.child_exited)
			udp_reap(state);
	}
}

/* --- UDP_ANSWERS=0 --- */

/*
 * The upstream socket, made again when RESOLVE_INTERVAL moved TARGET. After
 * a failure the next attempt waits UDP_RETRY_MS (until then: -1, and the
 * datagram is dropped), so a flood to a dead TARGET costs one attempt and
 * one log line a second.
 */
static int udp_oneway_upstream(struct udp_state *state, uint16_t socket)
{
	uint32_t version = shared_addr_version(&state->target->shared->target);
	int *upstream_fd = &state->upstreams[socket];
	struct endpoint target;

	if (*upstream_fd >= 0 && version != state->target_version) {
		for (size_t i = 0; i < state->sockets->count; i++)	/* all made for the old one */
			if (state->upstreams[i] >= 0) {
				close(state->upstreams[i]);
				state->upstreams[i] = -1;
			}
	}
	if (*upstream_fd >= 0 || proc_now_ms() < state->retry_ms)
		return *upstream_fd;
	state->target_version = version;
	*upstream_fd = target_connect(state->target, state->core.stats, udp_to_port(state, socket),
				      SOCK_DGRAM, &target);
	if (*upstream_fd < 0) {
		state->retry_ms = proc_now_ms() + UDP_RETRY_MS;
		return -1;
	}
	fcntl(*upstream_fd, F_SETFL, O_NONBLOCK);
	return *upstream_fd;
}

/* Answers, and ICMP errors, are read and dropped so they never stop us. */
static void udp_oneway_drain(struct udp_state *state, int upstream_fd)
{
	while (recv(upstream_fd, state->buf, UDP_MAX_DATAGRAM, MSG_DONTWAIT) >= 0 ||
	       errno == ECONNREFUSED)
		;
}

/* One datagram from a client to the entry's socket `socket`, forwarded; -1 when none was read. */
static ssize_t udp_oneway_forward(struct udp_state *state, uint16_t socket, uint64_t offset)
{
	struct sockaddr_storage from;
	socklen_t from_len = sizeof from;
	ssize_t got = recvfrom(state->sockets->fds[socket], state->buf, UDP_MAX_DATAGRAM,
			       MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
	int upstream_fd;

	if (got < 0 || !listener_allowed(&state->core, (struct sockaddr *)&from))
		return -1;
	if (state->conf->verbose >= 2)
		log_dump('>', offset, state->buf, (size_t)got);
	upstream_fd = udp_oneway_upstream(state, socket);
	if (upstream_fd < 0)
		udp_drop(state, SHARED_DROPPED_UPSTREAM_DOWN, 1);
	else if (send(upstream_fd, state->buf, (size_t)got, 0) == got)
		shared_add(&state->core.stats->bytes_up, (uint64_t)got);
	/* A range's upstream sockets are not polled: what they got is dropped now. */
	if (upstream_fd >= 0 && state->sockets->count > 1)
		udp_oneway_drain(state, upstream_fd);
	return got;
}

static void udp_oneway_serve(struct udp_state *state)
{
	uint64_t offset = 0;

	if (state->sockets->count == 1)
		udp_oneway_upstream(state, 0);
	while (!state->core.stopping) {
		struct pollfd pfds[LISTENER_POLL_SOCKETS + 1];
		nfds_t nfds = listener_set_pollfds(&state->set, pfds, POLLIN);
		size_t ready[UDP_READ_BURST], count;
		ssize_t got;

		/* One socket: its upstream is polled too, for what comes back to be dropped. */
		if (state->sockets->count == 1 && state->upstreams[0] >= 0)
			pfds[nfds++] = (struct pollfd){ .fd = state->upstreams[0], .events = POLLIN };
		if (listener_poll(&state->core, pfds, nfds, -1) <= 0)
			continue;
		if (nfds == 2 && pfds[1].revents)
			udp_oneway_drain(state, state->upstreams[0]);
		count = listener_set_ready(&state->set, pfds, ready, sizeof ready / sizeof ready[0]);
		for (size_t i = 0; i < count; i++)
			if ((got = udp_oneway_forward(state, (uint16_t)ready[i], offset)) > 0)
				offset += (uint64_t)got;
	}
}

void udp_serve(const struct conf *conf, const struct target *target, struct shared *shared,
	       const struct listener_sockets *sockets)
{
	const struct conf_port *entry = &conf->entries[sockets->entry];
	struct udp_state *state = calloc(1, sizeof *state);

	if (!state)
		die("port %s: out of memory", entry->text);
	listener_become(&state->core, sockets->entry, conf, shared);
	target_warm_resolver(target);	/* each session's lookup then skips libc's set-up */
	state->conf = conf;
	state->target = target;
	state->entry = entry;
	state->sockets = sockets;
	state->fd = sockets->fds[0];
	state->port = entry->first;
	listener_set_init(&state->set, sockets);
	state->kernel_drops = calloc(sockets->count, sizeof *state->kernel_drops);
	state->upstreams = malloc(sockets->count * sizeof *state->upstreams);
	if (!state->kernel_drops || !state->upstreams)
		die("port %s: out of memory", entry->text);
	for (size_t i = 0; i < sockets->count; i++)
		state->upstreams[i] = -1;
	session_table_init(&state->sessions);
	pending_init(&state->pending);
	state->batch = udp_batch_new();
	if (conf->udp_answers)
		udp_answers_serve(state);
	else
		udp_oneway_serve(state);
	for (size_t i = 0; i < sockets->count; i++)
		close(sockets->fds[i]);
	listener_finish(&state->core);
}
