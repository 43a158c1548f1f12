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
 * The fast path: a session also opens its own socket on the port, connected
 * to its client, so the kernel delivers that client's datagrams to it
 * directly (a connected socket outranks the listener's). Order is kept by a
 * handover: the child tells the listener its socket is connected; the
 * listener sends a marker datagram through its own socket's queue from
 * loopback; when it reads the marker, every datagram of that client queued
 * before the connect has been passed on, and it tells the child, in the
 * socketpair after them, to switch. Only then does the child read its socket.
 *
 * UDP_ANSWERS=0: one process, no children: every datagram goes to TARGET
 * from one socket; answers are read and dropped (socat exited on them).
 *
 * ALLOW_FROM: a datagram from a client without a session is checked before
 * a session is made for it (one-way: every datagram); others are dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#define UDP_BATCH 32			/* datagrams per recvmmsg/sendmmsg in a session */
#define UDP_ROUNDS 8			/* full batches read in a row before polling again */
#define UDP_SLOT (UDP_MAX_DATAGRAM + 1)
#define UDP_PAIR_TAG 'D'		/* first byte of a datagram on the socketpair */
#define UDP_GSO_MAX_BYTES 65000		/* one UDP_SEGMENT send: under the 64 KiB limit */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103			/* linux/udp.h, not in every libc */
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#define UDP_SWITCH_TAG 'S'		/* on the socketpair: read your own socket from now on */
#define UDP_SWITCH_LATE_MS 2000		/* no switch by then (no loopback?): take it anyway */
#define UDP_MARKER_MAGIC 0x776c6d6b	/* "wlmk", then the session's pid */

struct udp_batch;

struct udp_state {
	const struct proxy *proxy;
	struct listener_core core;
	uint16_t port;
	int fd;
	struct session_table sessions;
	struct pending_queue pending;
	int fork_failing;
	struct udp_batch *batch;	/* the listener's reads */
	int notify_rd, notify_wr;	/* sessions -> listener: pids whose socket is connected */
	int marker_fd;			/* -1: no fast path */
	struct sockaddr_storage marker_to, marker_from;	/* from: as our socket sees it */
	socklen_t marker_to_len;
	uint32_t target_version;	/* one-way: the shared address its socket was made for */
	uint8_t buf[UDP_MAX_DATAGRAM + 2];	/* a datagram, with the tag byte */
};

struct udp_counts {
	unsigned long datagrams;
	unsigned long long bytes;
};

struct udp_marker {
	uint32_t magic;
	int32_t pid;
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

/* Up to UDP_BATCH datagrams per system call: recvmmsg in, sendmmsg out. */
struct udp_batch {
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH][2];	/* [0]: the pair's tag byte, [1]: the datagram */
	uint8_t tags[UDP_BATCH];
	struct sockaddr_storage from[UDP_BATCH];
	uint8_t *buf;	/* UDP_BATCH slots of 64 KiB; only the pages used are touched */
};

static struct udp_batch *udp_batch_new(void)
{
	struct udp_batch *batch = calloc(1, sizeof *batch);

	if (!batch || !(batch->buf = malloc((size_t)UDP_BATCH * UDP_SLOT)))
		die("out of memory for UDP buffers");
	return batch;
}

/*
 * Receives what fd holds, up to UDP_BATCH datagrams; their count, or 0.
 * From the socketpair (tagged) each message starts with UDP_PAIR_TAG.
 */
static int udp_batch_recv(struct udp_batch *batch, int fd, int tagged)
{
	int got;

	for (int i = 0; i < UDP_BATCH; i++) {
		batch->iov[i][0] = (struct iovec){ &batch->tags[i], 1 };
		batch->iov[i][1] = (struct iovec){ batch->buf + (size_t)i * UDP_SLOT, UDP_SLOT };
		batch->msgs[i].msg_hdr = (struct msghdr){ .msg_name = &batch->from[i],
							  .msg_namelen = sizeof batch->from[i],
							  .msg_iov = &batch->iov[i][tagged ? 0 : 1],
							  .msg_iovlen = tagged ? 2 : 1 };
	}
	got = recvmmsg(fd, batch->msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
	for (int i = 0; i < got; i++) {
		size_t len = batch->msgs[i].msg_len;

		batch->iov[i][1].iov_len = tagged ? (len ? len - 1 : 0) : len;
	}
	return got > 0 ? got : 0;
}

/*
 * The socketpair is SOCK_SEQPACKET: a datagram socketpair queues only
 * net.unix.max_dgram_qlen (10) messages and would drop bursts. Each message
 * carries a tag byte first, so an empty UDP datagram is not read as EOF.
 */
static int udp_pair_send(int fd, uint8_t tag, const uint8_t *data, size_t len)
{
	struct iovec iov[2] = { { &tag, 1 }, { (void *)data, len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

	return sendmsg(fd, &msg, MSG_DONTWAIT) < 0 ? -1 : 0;
}

/* Sends the batch's datagrams, each to `to` (NULL: the connected peer). */
/* How many datagrams from `first` one UDP GSO send can carry: equal sizes, the last may be shorter. */
static int udp_gso_run(const struct udp_batch *batch, int first, int count)
{
	size_t size = batch->iov[first][1].iov_len, total = size;
	int end = first + 1;

	if (size == 0)
		return 1;
	while (end < count && batch->iov[end][1].iov_len <= size &&
	       total + batch->iov[end][1].iov_len <= UDP_GSO_MAX_BYTES) {
		total += batch->iov[end][1].iov_len;
		if (batch->iov[end++][1].iov_len < size)
			break;	/* a shorter one can only be last */
	}
	return end - first;
}

/*
 * Sends a run of datagrams as one UDP GSO buffer (UDP_SEGMENT): the stack
 * is crossed once and the datagrams are cut apart at the end, each as sent.
 * -1 when the kernel or the device refuses it: the caller sends them one by one.
 */
static int udp_gso_send(struct udp_batch *batch, int first, int run, int fd,
			const struct sockaddr_storage *to, socklen_t to_len)
{
	static int unsupported;
	struct iovec iov[UDP_BATCH];
	union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } control;
	struct msghdr msg = { .msg_name = (void *)to, .msg_namelen = to ? to_len : 0,
			      .msg_iov = iov, .msg_iovlen = (size_t)run,
			      .msg_control = control.buf, .msg_controllen = sizeof control.buf };
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	uint16_t segment = (uint16_t)batch->iov[first][1].iov_len;

	if (unsupported)
		return -1;
	for (int i = 0; i < run; i++)
		iov[i] = batch->iov[first + i][1];
	cmsg->cmsg_level = SOL_UDP;
	cmsg->cmsg_type = UDP_SEGMENT;
	cmsg->cmsg_len = CMSG_LEN(sizeof segment);
	memcpy(CMSG_DATA(cmsg), &segment, sizeof segment);
	if (sendmsg(fd, &msg, 0) >= 0 || errno == ECONNREFUSED)
		return 0;
	/* No GSO in this kernel or device: never again. EINVAL (a segment over the MTU): this run. */
	unsupported = errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP;
	return unsupported || errno == EINVAL || errno == EMSGSIZE ? -1 : 0;
}

static void udp_batch_send(struct udp_batch *batch, int count, int fd,
			   const struct sockaddr_storage *to, socklen_t to_len)
{
	int done = 0, errors = 0;

	for (int first = 0, run; first < count && done == first; first += run) {
		run = udp_gso_run(batch, first, count);
		if (run > 1 && udp_gso_send(batch, first, run, fd, to, to_len) == 0)
			done += run;
	}

	for (int i = 0; i < count; i++) {
		batch->msgs[i].msg_hdr.msg_name = (void *)to;
		batch->msgs[i].msg_hdr.msg_namelen = to ? to_len : 0;
		batch->msgs[i].msg_hdr.msg_iov = &batch->iov[i][1];
		batch->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	/* An error stands for one datagram (or an earlier ICMP report): skip it, go on. */
	while (done < count && errors <= count) {
		int sent = sendmmsg(fd, batch->msgs + done, (unsigned)(count - done), 0);

		if (sent > 0) {
			done += sent;
		} else {
			errors++;
			done += errno != ECONNREFUSED;
		}
	}
}

static void udp_count(struct udp_batch *batch, int count, char direction,
		      struct udp_counts *counts, _Atomic uint64_t *total, int verbose)
{
	uint64_t bytes = 0;

	for (int i = 0; i < count; i++) {
		if (verbose >= 2)
			log_dump(direction, counts->bytes, batch->iov[i][1].iov_base,
				 batch->iov[i][1].iov_len);
		counts->datagrams++;
		counts->bytes += batch->iov[i][1].iov_len;
		bytes += batch->iov[i][1].iov_len;
	}
	shared_add(total, bytes);
}

/* Drops the switch messages from a batch read from the socketpair; 1 when one was there. */
static int udp_take_switch(struct udp_batch *batch, int *count)
{
	int kept = 0, seen = 0;

	for (int i = 0; i < *count; i++) {
		if (batch->tags[i] == UDP_SWITCH_TAG) {
			seen = 1;
			continue;
		}
		batch->iov[kept][1] = batch->iov[i][1];
		kept++;
	}
	*count = kept;
	return seen;
}

/* The session's own socket: the listener's address and port, connected to the client. */
static int udp_direct_socket(const struct udp_state *state, const struct session *session)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof local;
	int fd, on = 1, off = 0;

	if (state->marker_fd < 0 || getsockname(state->fd, (struct sockaddr *)&local, &len) < 0 ||
	    (fd = socket(local.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0)
		return -1;
	/*
	 * SO_REUSEPORT alone: the bind succeeds only by joining the listener's
	 * group, whose program sends every datagram that no connected socket
	 * claims to the listener, so nothing of another client lands here in the
	 * moment between bind and connect.
	 */
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
	if (local.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
	if (bind(fd, (struct sockaddr *)&local, len) < 0 ||
	    connect(fd, (const struct sockaddr *)&session->client, session->client_len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct udp_flow {
	struct udp_state *state;
	const struct session *session;
	int upstream_fd;
	int direct_fd;		/* -1 without the fast path */
	int switched;		/* reading direct_fd, and answering through it */
	long long direct_since;
	struct udp_batch *batch;
	struct udp_counts up, down;
};

/* A full batch means more is waiting: read again, a few times, before the next poll. */
static void udp_flow_up(struct udp_flow *flow, int from_fd, int tagged)
{
	for (int rounds = 0, got = UDP_BATCH; got == UDP_BATCH && rounds < UDP_ROUNDS; rounds++) {
		int count = got = udp_batch_recv(flow->batch, from_fd, tagged);

		if (tagged && udp_take_switch(flow->batch, &count))
			flow->switched = flow->direct_fd >= 0;
		udp_count(flow->batch, count, '>', &flow->up,
			  &flow->state->core.counters->bytes_up, flow->state->proxy->conf->verbose);
		udp_batch_send(flow->batch, count, flow->upstream_fd, NULL, 0);
	}
}

/* Recv errors (ECONNREFUSED: the target's port is closed for now) drop nothing of ours. */
static void udp_flow_down(struct udp_flow *flow)
{
	int count = udp_batch_recv(flow->batch, flow->upstream_fd, 0);

	udp_count(flow->batch, count, '<', &flow->down, &flow->state->core.counters->bytes_down,
		  flow->state->proxy->conf->verbose);
	if (flow->switched)
		udp_batch_send(flow->batch, count, flow->direct_fd, NULL, 0);
	else
		udp_batch_send(flow->batch, count, flow->state->fd, &flow->session->client,
			       flow->session->client_len);
}

/* How long poll may wait (-1: forever): the idle timeout, and the late-switch deadline. */
static int udp_flow_timeout(const struct udp_flow *flow, long long last_traffic)
{
	long timeout_s = flow->state->proxy->conf->udp_timeout;
	long long now = proxy_now_ms(), wait = -1;

	if (timeout_s > 0)
		wait = last_traffic + timeout_s * 1000 - now;
	if (flow->direct_fd >= 0 && !flow->switched) {
		long long late = flow->direct_since + UDP_SWITCH_LATE_MS - now;

		if (wait < 0 || late < wait)
			wait = late;
	}
	return wait < 0 && (timeout_s > 0 || (flow->direct_fd >= 0 && !flow->switched))
		       ? 0
		       : (int)wait;
}

static void udp_session_loop(struct udp_flow *flow)
{
	long timeout_s = flow->state->proxy->conf->udp_timeout;
	long long last_traffic = proxy_now_ms();

	for (;;) {
		struct pollfd pfds[3] = { { .fd = flow->session->child_fd, .events = POLLIN },
					  { .fd = flow->upstream_fd, .events = POLLIN },
					  { .fd = flow->switched ? flow->direct_fd : -1,
					    .events = POLLIN } };
		int ready = poll(pfds, 3, udp_flow_timeout(flow, last_traffic));

		if (ready > 0) {
			last_traffic = proxy_now_ms();
			if (pfds[0].revents)
				udp_flow_up(flow, flow->session->child_fd, 1);
			if (pfds[2].revents)
				udp_flow_up(flow, flow->direct_fd, 0);
			if (pfds[1].revents)
				udp_flow_down(flow);
			continue;
		}
		if (flow->direct_fd >= 0 && !flow->switched &&
		    proxy_now_ms() >= flow->direct_since + UDP_SWITCH_LATE_MS)
			flow->switched = 1;	/* the marker never came: loopback is down */
		if (ready < 0 ? errno != EINTR
			      : timeout_s > 0 && proxy_now_ms() >= last_traffic + timeout_s * 1000)
			return;
	}
}

/* Ending: what already sits in our own socket still goes up, then it closes. */
static void udp_flow_close(struct udp_flow *flow)
{
	if (flow->direct_fd < 0)
		return;
	udp_flow_up(flow, flow->direct_fd, 0);
	close(flow->direct_fd);
}

static _Noreturn void udp_session_child(struct udp_state *state, const struct session *session)
{
	const struct conf *conf = state->proxy->conf;
	char client[LOG_ADDR_SIZE], target_shown[LOG_ADDR_SIZE];
	struct udp_flow flow = { .state = state, .session = session };
	long long started = proxy_now_ms();
	struct endpoint target;
	int upstream_fd;
	pid_t self = getpid();

	udp_close_others(state, session);
	close(state->core.signal_fd);
	close(state->notify_rd);
	close(state->marker_fd);
	proxy_signals_child();
	log_addr((const struct sockaddr *)&session->client, client, sizeof client);
	upstream_fd = target_connect(state->proxy, state->core.counters, SOCK_DGRAM, &target);
	if (upstream_fd < 0)
		_exit(1);	/* logged; the datagrams of this client are dropped as UDP allows */
	log_addr((const struct sockaddr *)&target.addr, target_shown, sizeof target_shown);
	if (conf->verbose >= 1)
		log_msg("session %s -> %u -> %s", client, state->port, target_shown);
	flow.upstream_fd = upstream_fd;
	flow.batch = udp_batch_new();
	flow.direct_fd = udp_direct_socket(state, session);
	flow.direct_since = proxy_now_ms();
	if (flow.direct_fd >= 0 && write(state->notify_wr, &self, sizeof self) != sizeof self) {
		close(flow.direct_fd);	/* the listener cannot hear us: stay on the slow path */
		flow.direct_fd = -1;
	}
	udp_session_loop(&flow);
	udp_flow_close(&flow);
	if (conf->verbose >= 1)
		log_msg("session end %s -> %u -> %s: %lu datagrams (%llu bytes) up, "
			"%lu datagrams (%llu bytes) down, %.3f s",
			client, state->port, target_shown, flow.up.datagrams, flow.up.bytes,
			flow.down.datagrams, flow.down.bytes,
			(double)(proxy_now_ms() - started) / 1000.0);
	_exit(0);
}

/* --- the listener --- */

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
	if (udp_pair(session) < 0 || udp_pair_send(session->parent_fd, UDP_PAIR_TAG, data, len) < 0 ||
	    (pid = proxy_fork()) < 0) {
		udp_fork_failed(state, session);
		return -1;
	}
	if (pid == 0)
		udp_session_child(state, session);
	session->pid = pid;
	listener_slot_bind(&state->core, pid);
	shared_add(&state->core.counters->connections_total, 1);
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
		udp_pair_send(session->parent_fd, UDP_PAIR_TAG, data, len);
		return;
	}
	if (pending_has_client(&state->pending, client) ||
	    udp_spawn(state, client, client_len, data, len) < 0)
		pending_push(&state->pending, client, client_len, data, len);
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
			batch->tags[j] = UDP_PAIR_TAG;
			out[n++].msg_hdr = (struct msghdr){ .msg_iov = batch->iov[j], .msg_iovlen = 2 };
			fds[j] = -1;
		}
		/* A full socketpair: the child cannot keep up; UDP may drop, as a socket would. */
		sendmmsg(fd, out, (unsigned)n, MSG_DONTWAIT);
	}
}

/* The handover's last step: the session may read its own socket now. */
static void udp_switch_session(struct udp_state *state, pid_t pid)
{
	struct session *session = session_find_pid(&state->sessions, pid);

	if (session)
		udp_pair_send(session->parent_fd, UDP_SWITCH_TAG, NULL, 0);
}

/* 1 (and the pid) when datagram i is our own marker, come back through the queue. */
static int udp_is_marker(const struct udp_state *state, const struct udp_batch *batch, int i,
			 pid_t *pid)
{
	struct udp_marker marker;

	if (state->marker_fd < 0 || batch->iov[i][1].iov_len != sizeof marker ||
	    !session_same_client(&batch->from[i], &state->marker_from))
		return 0;
	memcpy(&marker, batch->iov[i][1].iov_base, sizeof marker);
	*pid = marker.pid;
	return marker.magic == UDP_MARKER_MAGIC;
}

/* Sessions whose socket is now connected: a marker each, through our own queue. */
static void udp_read_notify(struct udp_state *state)
{
	pid_t pids[64];
	ssize_t got = read(state->notify_rd, pids, sizeof pids);

	for (ssize_t i = 0; i < got / (ssize_t)sizeof pids[0]; i++) {
		struct udp_marker marker = { UDP_MARKER_MAGIC, pids[i] };

		if (sendto(state->marker_fd, &marker, sizeof marker, 0,
			   (struct sockaddr *)&state->marker_to, state->marker_to_len) < 0)
			udp_switch_session(state, pids[i]);	/* no loopback: switch now */
	}
}

/* A batch from the socket: known clients' datagrams go out per session, in order. */
static void udp_dispatch_batch(struct udp_state *state, struct udp_batch *batch, int count)
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
		session = session_find_client(&state->sessions, &batch->from[i]);

		fds[i] = session ? session->parent_fd : -1;
		/* A new client: starts a session (then found by later ones) or waits. */
		if (!session && listener_allowed(&state->core, (struct sockaddr *)&batch->from[i]))
			udp_dispatch(state, &batch->from[i], batch->msgs[i].msg_hdr.msg_namelen,
				     batch->iov[i][1].iov_base, batch->iov[i][1].iov_len);
	}
	udp_flush_to_sessions(batch, count, fds);
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
	while ((got = recv(session->child_fd, state->buf, sizeof state->buf, MSG_DONTWAIT)) > 0)
		pending_push(&unread, &session->client, session->client_len, state->buf + 1,
			     (size_t)got - 1);
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
		freed |= listener_slot_give(&state->core, pid);
	}
	if (freed && state->pending.head)
		udp_drain_pending(state);
}

/* Reads what the socket holds, a batch at a time, while the queue has room. */
static void udp_read_burst(struct udp_state *state)
{
	for (int total = 0, count = UDP_BATCH; count == UDP_BATCH && total < UDP_READ_BURST &&
	     pending_has_room(&state->pending, (size_t)UDP_BATCH * UDP_MAX_DATAGRAM);
	     total += count) {
		count = udp_batch_recv(state->batch, state->fd, 0);
		udp_dispatch_batch(state, state->batch, count);
	}
}

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

static void udp_answers_serve(struct udp_state *state)
{
	while (!state->core.stopping) {
		/* With a full queue the socket is left alone: the kernel holds the rest. */
		int room = pending_has_room(&state->pending, (size_t)UDP_BATCH * UDP_MAX_DATAGRAM);
		struct pollfd pfds[2] = { { .fd = room ? state->fd : -1, .events = POLLIN },
					  { .fd = state->notify_rd, .events = POLLIN } };

		if (listener_poll(&state->core, pfds, 2, -1) > 0) {
			if (pfds[1].revents & POLLIN)
				udp_read_notify(state);
			if (pfds[0].revents & POLLIN)
				udp_read_burst(state);
		}
		if (state->core.child_exited)
			udp_reap(state);
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
 * The fast path's plumbing: a pipe on which sessions report, and a loopback
 * socket for the markers. Without them sessions stay on the socketpair.
 */
static void udp_fast_path_init(struct udp_state *state)
{
	struct sockaddr_in local = { .sin_family = AF_INET,
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_storage listen_addr;
	socklen_t len = sizeof local, listen_len = sizeof listen_addr;
	int fds[2];

	state->marker_fd = state->notify_rd = state->notify_wr = -1;
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
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

/* --- UDP_ANSWERS=0 --- */

/*
 * The upstream socket; on failure retried at the next datagram (DNS may come
 * later). It outlives any connection, so when RESOLVE_INTERVAL moves TARGET
 * it is made again for the new address.
 */
static int udp_oneway_upstream(struct udp_state *state, int upstream_fd)
{
	uint32_t version = shared_target_version(state->proxy->shared);
	struct endpoint target;

	if (upstream_fd >= 0 && version != state->target_version) {
		close(upstream_fd);
		upstream_fd = -1;
	}
	if (upstream_fd >= 0)
		return upstream_fd;
	state->target_version = version;
	upstream_fd = target_connect(state->proxy, state->core.counters, SOCK_DGRAM, &target);
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
		struct sockaddr_storage from;
		socklen_t from_len = sizeof from;
		ssize_t got;

		if (listener_poll(&state->core, pfds, upstream_fd >= 0 ? 2 : 1, -1) <= 0)
			continue;
		/* Answers, and ICMP errors, are read and dropped so they never stop us. */
		if (pfds[1].revents)
			while (recv(upstream_fd, state->buf, UDP_MAX_DATAGRAM, MSG_DONTWAIT) >= 0 ||
			       errno == ECONNREFUSED)
				;
		if (!(pfds[0].revents & POLLIN) ||
		    (got = recvfrom(state->fd, state->buf, UDP_MAX_DATAGRAM, MSG_DONTWAIT,
				    (struct sockaddr *)&from, &from_len)) < 0 ||
		    !listener_allowed(&state->core, (struct sockaddr *)&from))
			continue;
		if (state->proxy->conf->verbose >= 2)
			log_dump('>', offset, state->buf, (size_t)got);
		offset += (unsigned long long)got;
		upstream_fd = udp_oneway_upstream(state, upstream_fd);
		if (upstream_fd >= 0 && send(upstream_fd, state->buf, (size_t)got, 0) == got)
			shared_add(&state->core.counters->bytes_up, (uint64_t)got);
	}
}

void udp_serve(const struct proxy *proxy, int listen_fd, uint16_t port)
{
	struct udp_state *state = calloc(1, sizeof *state);

	if (!state)
		die("port %u: out of memory", port);
	listener_become(&state->core, port, proxy);
	state->proxy = proxy;
	state->port = port;
	state->fd = listen_fd;
	session_table_init(&state->sessions);
	pending_init(&state->pending);
	state->batch = udp_batch_new();
	if (proxy->conf->udp_answers) {
		udp_fast_path_init(state);
		udp_answers_serve(state);
	}
	else
		udp_oneway_serve(state);
	close(state->fd);
	listener_finish(&state->core);
}
