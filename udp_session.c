/*
 * udp_session.c: see udp_session.h, and udp_handover.h for how a session
 * moves from the socketpair to a socket of its own.
 */
#include "udp_session.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <unistd.h>

#include "log.h"
#include "process.h"
#include "udp_batch.h"
#include "udp_handover.h"

#define UDP_SESSION_ROUNDS 8	/* full batches read in a row before polling again */

struct udp_flow {
	const struct udp_session_args *args;
	int upstream_fd;
	int direct_fd;			/* its own socket on the port; -1 without one */
	enum udp_handover_state handover;
	long long announced_ms;		/* when it entered UDP_HANDOVER_WAITING */
	int pair_closed;		/* the listener is gone */
	struct udp_batch *batch;
	unsigned long up_datagrams, down_datagrams;
	uint64_t up_bytes, down_bytes;
};

/* Its own socket: the listener's address and port, connected to the client (step 1). */
static int udp_session_socket(const struct udp_session_args *args)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof local;
	int fd, on = 1, off = 0;

	if (args->notify_fd < 0 || getsockname(args->listen_fd, (struct sockaddr *)&local, &len) < 0 ||
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
	    connect(fd, (const struct sockaddr *)&args->client, args->client_len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Steps 1-2 of the handover: a socket of its own, and the listener told. */
static void udp_session_announce(struct udp_flow *flow)
{
	pid_t self = getpid();

	flow->handover = UDP_HANDOVER_OFF;
	flow->direct_fd = udp_session_socket(flow->args);
	if (flow->direct_fd < 0)
		return;
	if (write(flow->args->notify_fd, &self, sizeof self) != sizeof self) {
		close(flow->direct_fd);	/* the listener cannot hear us: stay on the slow path */
		flow->direct_fd = -1;
		return;
	}
	flow->handover = udp_handover_next(flow->handover, UDP_HANDOVER_ANNOUNCED);
	flow->announced_ms = proc_now_ms();
}

/* Drops the SWITCH messages from a batch read from the pair; 1 when one was there. */
static int udp_session_take_switch(struct udp_batch *batch, int *count)
{
	int kept = 0, seen = 0;

	for (int i = 0; i < *count; i++) {
		if (batch->tags[i] == UDP_PAIR_SWITCH) {
			seen = 1;
			continue;
		}
		batch->iov[kept][1] = batch->iov[i][1];
		kept++;
	}
	*count = kept;
	return seen;
}

/* Client to target. A full batch means more is waiting: read again, a few times. */
static void udp_session_up(struct udp_flow *flow, int from_fd, int tagged)
{
	for (int rounds = 0, got = UDP_BATCH; got == UDP_BATCH && rounds < UDP_SESSION_ROUNDS;
	     rounds++) {
		int count = got = udp_batch_recv(flow->batch, from_fd, tagged, &flow->pair_closed);
		uint64_t bytes;

		if (tagged && udp_session_take_switch(flow->batch, &count))
			flow->handover = udp_handover_next(flow->handover, UDP_HANDOVER_SWITCH);
		bytes = udp_batch_bytes(flow->batch, count, '>', flow->up_bytes,
					flow->args->verbose >= 2);
		flow->up_datagrams += (unsigned long)count;
		flow->up_bytes += bytes;
		shared_add(&flow->args->stats->bytes_up, bytes);
		udp_batch_send(flow->batch, count, flow->upstream_fd, NULL, 0);
	}
}

/* Target to client. Recv errors (ECONNREFUSED: the target's port is closed for now) drop nothing. */
static void udp_session_down(struct udp_flow *flow)
{
	const struct udp_session_args *args = flow->args;
	int count = udp_batch_recv(flow->batch, flow->upstream_fd, 0, NULL);
	uint64_t bytes = udp_batch_bytes(flow->batch, count, '<', flow->down_bytes,
					 args->verbose >= 2);

	flow->down_datagrams += (unsigned long)count;
	flow->down_bytes += bytes;
	shared_add(&args->stats->bytes_down, bytes);
	if (flow->handover == UDP_HANDOVER_DIRECT)
		udp_batch_send(flow->batch, count, flow->direct_fd, NULL, 0);
	else
		udp_batch_send(flow->batch, count, args->listen_fd, &args->client,
			       args->client_len);
}

/* How long poll may wait (-1: forever): the idle timeout, and the late-switch deadline. */
static int udp_session_timeout(const struct udp_flow *flow, long long last_traffic, long long now)
{
	long long wait;
	int waiting = flow->handover == UDP_HANDOVER_WAITING;

	if (flow->args->timeout_s <= 0 && !waiting)
		return -1;
	wait = flow->args->timeout_s > 0 ? last_traffic + flow->args->timeout_s * 1000 - now
					 : UDP_HANDOVER_LATE_MS;
	if (waiting && flow->announced_ms + UDP_HANDOVER_LATE_MS - now < wait)
		wait = flow->announced_ms + UDP_HANDOVER_LATE_MS - now;
	return wait < 0 ? 0 : (int)wait;
}

/* 1 when the session is over: idle for UDP_TIMEOUT, or its listener gone. */
static int udp_session_over(const struct udp_flow *flow, long long last_traffic, long long now)
{
	long timeout_s = flow->args->timeout_s;

	return flow->pair_closed || (timeout_s > 0 && now >= last_traffic + timeout_s * 1000);
}

/* The clock is read once a wake-up (a system call: process.h). */
static void udp_session_loop(struct udp_flow *flow)
{
	long long now = proc_now_ms(), last_traffic = now;

	while (!udp_session_over(flow, last_traffic, now)) {
		int direct = flow->handover == UDP_HANDOVER_DIRECT;
		struct pollfd pfds[3] = { { .fd = flow->args->pair_fd, .events = POLLIN },
					  { .fd = flow->upstream_fd, .events = POLLIN },
					  { .fd = direct ? flow->direct_fd : -1, .events = POLLIN } };
		int ready = poll(pfds, 3, udp_session_timeout(flow, last_traffic, now));

		if (ready < 0 && errno != EINTR)
			return;
		now = proc_now_ms();
		if (ready > 0) {
			last_traffic = now;
			if (pfds[0].revents)
				udp_session_up(flow, flow->args->pair_fd, 1);
			if (pfds[0].revents & POLLHUP)
				flow->pair_closed = 1;
			if (pfds[2].revents)
				udp_session_up(flow, flow->direct_fd, 0);
			if (pfds[1].revents)
				udp_session_down(flow);
		}
		if (flow->handover == UDP_HANDOVER_WAITING &&
		    now >= flow->announced_ms + UDP_HANDOVER_LATE_MS)
			flow->handover = udp_handover_next(flow->handover, UDP_HANDOVER_LATE);
	}
}

/* Ending: what already sits in its own socket still goes up, then it closes. */
static void udp_session_close(struct udp_flow *flow)
{
	if (flow->direct_fd < 0)
		return;
	udp_session_up(flow, flow->direct_fd, 0);
	close(flow->direct_fd);
}

static void udp_session_log_end(const struct udp_flow *flow, const char *client,
				const char *target, long long started)
{
	long long took = proc_now_ms() - started;

	log_event(LOG_INFO, "close",
		  LOG_FIELDS(LOG_STR("client", client), LOG_STR("port", flow->args->stats->name),
			     LOG_STR("address", target), LOG_NUM("bytes_in", flow->up_bytes),
			     LOG_NUM("bytes_out", flow->down_bytes),
			     LOG_NUM("datagrams_in", flow->up_datagrams),
			     LOG_NUM("datagrams_out", flow->down_datagrams),
			     LOG_NUM("duration_ms", took)),
		  "session end %s -> %s -> %s: %lu datagrams (%llu bytes) up, "
		  "%lu datagrams (%llu bytes) down, %.3f s",
		  client, flow->args->stats->name, target, flow->up_datagrams,
		  (unsigned long long)flow->up_bytes, flow->down_datagrams,
		  (unsigned long long)flow->down_bytes, (double)took / 1000.0);
}

void udp_session_run(const struct udp_session_args *args)
{
	char client[LOG_ADDR_SIZE], target_shown[LOG_ADDR_SIZE];
	struct udp_flow flow = { .args = args };
	long long started = proc_now_ms();
	struct endpoint target;

	log_addr((const struct sockaddr *)&args->client, client, sizeof client);
	flow.upstream_fd = target_connect(args->target, args->stats, args->to_port, SOCK_DGRAM,
					  &target);
	if (flow.upstream_fd < 0)
		_exit(UDP_SESSION_NO_TARGET);	/* logged; the listener drops its datagrams */
	log_addr((const struct sockaddr *)&target.addr, target_shown, sizeof target_shown);
	if (args->verbose >= 1)
		log_event(LOG_INFO, "connect",
			  LOG_FIELDS(LOG_STR("client", client), LOG_STR("port", args->stats->name),
				     LOG_STR("address", target_shown)),
			  "session %s -> %s -> %s", client, args->stats->name, target_shown);
	flow.batch = udp_batch_new();
	udp_session_announce(&flow);
	udp_session_loop(&flow);
	udp_session_close(&flow);
	if (args->verbose >= 1)
		udp_session_log_end(&flow, client, target_shown, started);
	_exit(UDP_SESSION_IDLE);
}
