/*
 * relay.c: the child that carries one TCP connection, and the connect to
 * TARGET that TCP and UDP children share.
 *
 * Bytes move with splice() through one pipe per direction, never through
 * user space, except with VERBOSE=2 where they are read into a buffer to be
 * dumped as socat -v did. Half-close follows socat: EOF from one side is
 * passed on with shutdown(SHUT_WR), and the other direction goes on until
 * its own EOF or PROXY_LINGER_MS without any transfer.
 * Bytes are added to the port's shared counters as they are written, so the
 * totals are live during long connections and exact once each one ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"

#define RELAY_COPY_SIZE 65536	/* VERBOSE=2 buffer per direction */
#define RELAY_MAX_ADDRS 64
#define RELAY_PIPE_BULK (512 * 1024)	/* a bulk direction's pipe: fewer, larger splices */

enum { RELAY_UP, RELAY_DOWN };	/* client -> target, target -> client */

struct relay_dir {
	int from, to;
	int pipe_rd, pipe_wr;	/* splice mode */
	uint8_t *buf;		/* copy mode (VERBOSE=2) */
	size_t start, pending;	/* bytes read, not yet written */
	size_t capacity;
	int eof;		/* `from` has nothing more */
	int shut;		/* EOF passed on to `to` */
	int stalled;		/* the pipe took nothing though `from` was readable */
	int grown;		/* the pipe was offered RELAY_PIPE_BULK */
	int broken;		/* writing to `to` failed: that peer is gone */
	uint64_t bytes;		/* written to `to` */
	_Atomic uint64_t *total;	/* the port's shared counter of this direction */
	char tag;		/* '>' up, '<' down, for the dumps */
};

static void relay_set_port(struct sockaddr_storage *addr, uint16_t port)
{
	if (addr->ss_family == AF_INET)
		((struct sockaddr_in *)addr)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)addr)->sin6_port = htons(port);
}

static int relay_connect_addr(int socktype, const struct sockaddr *addr, socklen_t len)
{
	int fd = socket(addr->sa_family, socktype | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, addr, len) == 0)
		return fd;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* relay_connect_addr, and one log line naming TARGET and the address when it fails. */
static int relay_connect_logged(const struct proxy *proxy, int socktype, uint16_t port,
				const struct sockaddr *addr, socklen_t len)
{
	char shown[LOG_ADDR_SIZE];
	int fd = relay_connect_addr(socktype, addr, len);

	if (fd < 0)
		log_errno("port %u: unable to connect to %s (%s)", port, proxy->conf->target,
			  log_addr(addr, shown, sizeof shown));
	return fd;
}

/* getaddrinfo's list, IPv4 first (socat 1.8's order), otherwise as given. */
static size_t relay_order_v4_first(struct addrinfo *list, struct addrinfo **out)
{
	size_t count = 0;

	for (int pass = 0; pass < 2; pass++)
		for (struct addrinfo *ai = list; ai && count < RELAY_MAX_ADDRS; ai = ai->ai_next)
			if ((ai->ai_family == AF_INET) == (pass == 0))
				out[count++] = ai;
	return count;
}

static int relay_connect_resolved(const struct proxy *proxy, int socktype, uint16_t port,
				  struct endpoint *used)
{
	struct addrinfo hints = { .ai_socktype = socktype, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *list, *ordered[RELAY_MAX_ADDRS];
	char service[8];
	int status, fd = -1;
	size_t count;

	snprintf(service, sizeof service, "%u", port);
	status = getaddrinfo(proxy->conf->target, service, &hints, &list);
	if (status != 0) {
		log_msg("port %u: unable to resolve TARGET %s: %s", port, proxy->conf->target,
			status == EAI_SYSTEM ? strerror(errno) : gai_strerror(status));
		return -1;
	}
	count = relay_order_v4_first(list, ordered);
	for (size_t i = 0; i < count && fd < 0; i++) {
		fd = relay_connect_logged(proxy, socktype, port, ordered[i]->ai_addr,
					  ordered[i]->ai_addrlen);
		if (fd >= 0)
			memcpy(&used->addr, ordered[i]->ai_addr, used->len = ordered[i]->ai_addrlen);
	}
	freeaddrinfo(list);
	return fd;
}

/* The address main keeps in shared memory: read now, so a refresh reaches this connection. */
static int relay_connect_fixed(const struct proxy *proxy, int socktype, uint16_t port,
			       struct endpoint *used)
{
	if (shared_target_load(proxy->shared, &used->addr, &used->len) < 0) {
		log_msg("port %u: no address for TARGET %s", port, proxy->conf->target);
		return -1;
	}
	relay_set_port(&used->addr, port);
	return relay_connect_logged(proxy, socktype, port, (struct sockaddr *)&used->addr,
				    used->len);
}

int target_connect(const struct proxy *proxy, struct shared_counters *counters, int socktype,
		   struct endpoint *used)
{
	int fd = proxy->has_fixed_target
			 ? relay_connect_fixed(proxy, socktype, counters->port, used)
			 : relay_connect_resolved(proxy, socktype, counters->port, used);

	if (fd < 0)
		shared_add(&counters->upstream_errors, 1);
	return fd;
}

static int relay_dir_init(struct relay_dir *dir, int from, int to, _Atomic uint64_t *total,
			  char tag, int copy)
{
	int fds[2];

	memset(dir, 0, sizeof *dir);
	dir->from = from;
	dir->to = to;
	dir->total = total;
	dir->tag = tag;
	dir->pipe_rd = dir->pipe_wr = -1;
	if (copy) {
		dir->capacity = RELAY_COPY_SIZE;
		dir->buf = malloc(dir->capacity);
		return dir->buf ? 0 : -1;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	dir->pipe_rd = fds[0];
	dir->pipe_wr = fds[1];
	dir->capacity = (size_t)fcntl(dir->pipe_wr, F_GETPIPE_SZ);
	return 0;
}

/*
 * A direction that fills its pipe is a bulk transfer: give it a larger pipe,
 * once. Idle and small connections keep the default (no memory for them);
 * the per-user pipe budget (fs.pipe-user-pages-soft) bounds how many grow.
 * 1 when the pipe grew, so the caller tries again.
 */
static int relay_grow_pipe(struct relay_dir *dir)
{
	int size;

	if (dir->grown)
		return 0;
	dir->grown = 1;
	size = fcntl(dir->pipe_wr, F_SETPIPE_SZ, RELAY_PIPE_BULK);
	if (size <= 0 || (size_t)size <= dir->capacity)
		return 0;
	dir->capacity = (size_t)size;
	return 1;
}

/* Moves what `from` has into the pipe or buffer. 1 when something moved. */
static int relay_fill(struct relay_dir *dir)
{
	ssize_t got;

	if (dir->eof || dir->pending == dir->capacity)
		return 0;
	if (dir->buf) {
		if (dir->pending > 0)
			return 0;	/* one chunk at a time: it is dumped whole */
		dir->start = 0;
		got = read(dir->from, dir->buf, dir->capacity);
	} else {
		got = splice(dir->from, NULL, dir->pipe_wr, NULL, dir->capacity - dir->pending,
			     SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	}
	if (got > 0) {
		if (dir->buf)
			log_dump(dir->tag, dir->bytes, dir->buf, (size_t)got);
		else if (dir->pending == 0 && (size_t)got == dir->capacity)
			relay_grow_pipe(dir);	/* it took a whole pipe at once: bulk */
		dir->pending += (size_t)got;
		return 1;
	}
	if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
		/* `from` was readable, so it is the pipe that is full (pages, not bytes). */
		if (!dir->buf && !relay_grow_pipe(dir))
			dir->stalled = 1;
		return 0;
	}
	dir->eof = 1;	/* EOF, or a reset that the other side will see as a FIN */
	return 1;
}

/* Writes what is pending to `to`. 1 when something moved. */
static int relay_flush(struct relay_dir *dir)
{
	int moved = 0;

	while (dir->pending > 0) {
		ssize_t put = dir->buf ? write(dir->to, dir->buf + dir->start, dir->pending)
				       : splice(dir->pipe_rd, NULL, dir->to, NULL, dir->pending,
						SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (put < 0) {
			if (errno != EAGAIN && errno != EINTR)
				dir->broken = 1;
			break;
		}
		dir->pending -= (size_t)put;
		dir->start += (size_t)put;
		dir->bytes += (size_t)put;
		shared_add(dir->total, (uint64_t)put);
		dir->stalled = 0;
		moved = 1;
	}
	if (dir->eof && dir->pending == 0 && !dir->shut) {
		shutdown(dir->to, SHUT_WR);
		dir->shut = 1;
		moved = 1;
	}
	return moved;
}

/* The events one socket is waited for: readable as a source, writable as a sink. */
static short relay_events(const struct relay_dir *reading, const struct relay_dir *writing)
{
	short events = 0;

	if (!reading->eof && !reading->stalled && reading->pending < reading->capacity &&
	    !(reading->buf && reading->pending > 0))
		events |= POLLIN;
	if (writing->pending > 0)
		events |= POLLOUT;
	return events;
}

/*
 * Relays until both directions have ended, a peer is gone, or one direction
 * has ended and nothing moved for PROXY_LINGER_MS.
 */
static void relay_loop(struct relay_dir *dirs)
{
	struct pollfd pfds[2] = { { .fd = dirs[RELAY_UP].from }, { .fd = dirs[RELAY_DOWN].from } };
	long long last_transfer = proxy_now_ms();

	for (;;) {
		int moved = 0;

		for (int i = 0; i < 2; i++) {
			if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR))
				moved |= relay_fill(&dirs[i]);
			moved |= relay_flush(&dirs[i]);
		}
		if (dirs[RELAY_UP].broken || dirs[RELAY_DOWN].broken ||
		    (dirs[RELAY_UP].shut && dirs[RELAY_DOWN].shut))
			return;
		if (moved)
			last_transfer = proxy_now_ms();
		int timeout = -1;
		if (dirs[RELAY_UP].shut || dirs[RELAY_DOWN].shut) {
			timeout = (int)(last_transfer + PROXY_LINGER_MS - proxy_now_ms());
			if (timeout <= 0)
				return;
		}
		pfds[0].events = relay_events(&dirs[RELAY_UP], &dirs[RELAY_DOWN]);
		pfds[1].events = relay_events(&dirs[RELAY_DOWN], &dirs[RELAY_UP]);
		if (poll(pfds, 2, timeout) < 0 && errno != EINTR)
			return;
	}
}

static void relay_set_nonblocking(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/*
 * The target could not be reached: end the client with a FIN, not a reset,
 * which close() would send while its request sits unread.
 */
static _Noreturn void relay_refuse(int client_fd)
{
	struct pollfd pfd = { .fd = client_fd, .events = POLLIN };
	long long deadline = proxy_now_ms() + PROXY_LINGER_MS;
	char discard[4096];

	shutdown(client_fd, SHUT_WR);
	for (long long left; (left = deadline - proxy_now_ms()) > 0;) {
		if (poll(&pfd, 1, (int)left) <= 0 || read(client_fd, discard, sizeof discard) <= 0)
			break;
	}
	_exit(1);
}

void relay_tcp_child(const struct proxy *proxy, struct shared_counters *counters, int client_fd,
		     const struct endpoint *client)
{
	const struct conf *conf = proxy->conf;
	char client_shown[LOG_ADDR_SIZE], target_shown[LOG_ADDR_SIZE];
	struct endpoint target;
	struct relay_dir dirs[2];
	long long started = proxy_now_ms();
	uint16_t port = counters->port;
	int target_fd = target_connect(proxy, counters, SOCK_STREAM, &target);

	if (target_fd < 0)
		relay_refuse(client_fd);
	log_addr((const struct sockaddr *)&client->addr, client_shown, sizeof client_shown);
	log_addr((const struct sockaddr *)&target.addr, target_shown, sizeof target_shown);
	if (conf->verbose >= 1)
		log_msg("connect %s -> %u -> %s", client_shown, port, target_shown);
	relay_set_nonblocking(client_fd);
	relay_set_nonblocking(target_fd);
	if (relay_dir_init(&dirs[RELAY_UP], client_fd, target_fd, &counters->bytes_up, '>',
			   conf->verbose >= 2) < 0 ||
	    relay_dir_init(&dirs[RELAY_DOWN], target_fd, client_fd, &counters->bytes_down, '<',
			   conf->verbose >= 2) < 0) {
		log_errno("port %u: no pipe for %s", port, client_shown);
		_exit(1);
	}
	relay_loop(dirs);
	if (conf->verbose >= 1)
		log_msg("close %s -> %u -> %s: %llu bytes up, %llu bytes down, %.3f s", client_shown,
			port, target_shown, (unsigned long long)dirs[RELAY_UP].bytes,
			(unsigned long long)dirs[RELAY_DOWN].bytes,
			(double)(proxy_now_ms() - started) / 1000.0);
	_exit(0);
}
