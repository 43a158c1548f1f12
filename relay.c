/*
 * relay.c: see relay.h.
 *
 * Bytes move with splice() through one pipe per direction, never through
 * user space, except in two cases: with the dump option they are read into
 * a buffer to be dumped as socat -v did; and a direction starts by copying
 * through one page, written on at once, until a read fills the page or a
 * write cannot take it all: a request and its answer then need no pipe
 * (made, and torn down at exit, two pipes cost more than the copy). The
 * loop is four short steps: fill (source into the pipe), flush (pipe into
 * the sink), the events each socket is waited for, and the end condition.
 *
 * Two rules keep it from spinning or stalling:
 * - a socket is polled only for events it can make progress on; one with
 *   nothing to wait for is left out of poll altogether, because POLLHUP and
 *   POLLERR (a reset peer) are reported whatever is asked, forever;
 * - splice() stops at TCP's urgent mark and then returns EAGAIN forever (or
 *   0, as if at the end, once the FIN is in), as tcp_read_sock() will not
 *   step over it; when that happens at the mark (SIOCATMARK) with the pipe
 *   empty, one read() steps over the mark (dropping the out-of-band byte, as
 *   socat's read() did) and its bytes go through the pipe like the rest.
 */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "process.h"

#define RELAY_COPY_SIZE 65536		/* dump mode's buffer per direction */
#define RELAY_PIPE_BULK (512 * 1024)	/* a bulk direction's pipe: fewer, larger splices */
#define RELAY_PIPE_DEFAULT 65536	/* a new pipe's capacity (16 pages) */

enum { RELAY_UP, RELAY_DOWN };	/* client -> target, target -> client */

/*
 * The page the first bytes are copied through, and the urgent mark's read:
 * static, not on the stack, so that a relay that read nothing (an idle
 * connection, or the first try that finds no bytes yet) has not touched it.
 */
static uint8_t relay_page[4096] __attribute__((aligned(4096)));

struct relay_dir {
	int from, to;
	int pipe_rd, pipe_wr;	/* splice mode */
	int piped;		/* past its first small bytes: through the pipe for good */
	uint8_t *buf;		/* copy mode (dump) */
	size_t start, pending;	/* bytes read, not yet written */
	size_t capacity;
	int eof;		/* `from` has nothing more */
	int shut;		/* EOF passed on to `to` */
	int stalled;		/* the pipe took nothing though `from` was readable */
	int grown;		/* the pipe was offered RELAY_PIPE_BULK */
	int broken;		/* writing to `to` failed: that peer is gone */
	int urgent;		/* `from` reported urgent data (POLLPRI): splice may stop at its mark */
	uint64_t bytes;		/* written to `to` */
	_Atomic uint64_t *total;
	char tag;		/* '>' up, '<' down, for the dumps */
};

static int relay_dir_init(struct relay_dir *dir, int from, int to, _Atomic uint64_t *total,
			  char tag, int copy)
{
	memset(dir, 0, sizeof *dir);
	dir->from = from;
	dir->to = to;
	dir->total = total;
	dir->tag = tag;
	dir->pipe_rd = dir->pipe_wr = -1;
	if (copy) {
		dir->piped = 1;	/* the dump's buffer is its only way */
		dir->capacity = RELAY_COPY_SIZE;
		dir->buf = malloc(dir->capacity);
		return dir->buf ? 0 : -1;
	}
	dir->capacity = RELAY_PIPE_DEFAULT;
	return 0;
}

/*
 * A direction's pipe. Its capacity is taken as the default: when the
 * user's pipe budget is spent the kernel gives less, and splice then simply
 * moves less at a time. -1 with errno.
 */
static int relay_pipe(struct relay_dir *dir)
{
	int fds[2];

	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	dir->pipe_rd = fds[0];
	dir->pipe_wr = fds[1];
	return 0;
}

/* A direction is over when its EOF was passed on, or its sink is gone. */
static int relay_dir_done(const struct relay_dir *dir)
{
	return dir->shut || dir->broken;
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

/*
 * splice() refused a readable socket with the pipe empty: the urgent mark.
 * read() steps over it; the bytes go into the pipe (empty, so they fit).
 */
static ssize_t relay_read_past_mark(struct relay_dir *dir)
{
	ssize_t got = read(dir->from, relay_page, sizeof relay_page);	/* fits an empty pipe */

	if (got > 0 && write(dir->pipe_wr, relay_page, (size_t)got) != got)
		return -1;	/* cannot happen with an empty pipe of a page or more */
	return got;
}

/* 1 when fd's next byte is TCP's urgent mark: splice's 0 or EAGAIN was then not the end. */
static int relay_at_mark(int fd)
{
	int at_mark = 0;

	return ioctl(fd, SIOCATMARK, &at_mark) == 0 && at_mark;
}

static ssize_t relay_read(struct relay_dir *dir)
{
	ssize_t got;

	if (dir->buf) {
		dir->start = 0;
		return read(dir->from, dir->buf, dir->capacity);
	}
	got = splice(dir->from, NULL, dir->pipe_wr, NULL, dir->capacity - dir->pending,
		     SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (got > 0 || (got < 0 && errno != EAGAIN) || !dir->urgent || !relay_at_mark(dir->from))
		return got;
	/*
	 * Nothing moved at the urgent mark (splice says 0 once the FIN is in,
	 * EAGAIN before): read() steps over it, into an empty pipe.
	 */
	if (dir->pending > 0) {
		errno = EAGAIN;	/* the pipe first: relay_fill waits for the flush */
		return -1;
	}
	return relay_read_past_mark(dir);
}

/*
 * The direction goes through its pipe from now on, made now (an idle
 * connection holds none: two pipes are about 5 kB of kernel memory), with
 * the bytes the sink did not take in it.
 */
static void relay_to_pipe(struct relay_dir *dir, const uint8_t *left, size_t len)
{
	dir->piped = 1;
	if (relay_pipe(dir) < 0) {
		log_errno("no pipe to relay a connection");
		dir->broken = dir->eof = 1;	/* nothing can move this way: the relay ends */
		return;
	}
	if (len > 0 && write(dir->pipe_wr, left, len) == (ssize_t)len)
		dir->pending = len;
	else if (len > 0)
		dir->broken = 1;	/* cannot happen: an empty pipe takes a page */
}

/* Counts bytes written to `to`. */
static void relay_count(struct relay_dir *dir, size_t put)
{
	dir->bytes += put;
	atomic_fetch_add_explicit(dir->total, (uint64_t)put, memory_order_relaxed);
}

/*
 * Before the pipe: one read into relay_page, written on at once. A
 * read that filled the page (bulk), or a write that left bytes over (the
 * sink is slow), moves the direction to the pipe; the bytes left over go
 * into it (empty: they fit) and are flushed from there. 1 when something
 * moved. The urgent mark needs no care here: read() steps over it.
 */
static int relay_fill_small(struct relay_dir *dir)
{
	ssize_t got = read(dir->from, relay_page, sizeof relay_page), put = 0;

	if (got < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (got <= 0) {
		dir->eof = 1;	/* EOF, or a reset that the other side will see as a FIN */
		return 1;
	}
	while (put < got) {
		ssize_t wrote = write(dir->to, relay_page + put, (size_t)(got - put));

		if (wrote < 0 && errno == EINTR)
			continue;
		if (wrote <= 0) {
			dir->broken = wrote < 0 && errno != EAGAIN;	/* the sink is gone */
			break;
		}
		put += wrote;
	}
	relay_count(dir, (size_t)put);
	if (!dir->broken && (put < got || (size_t)got == sizeof relay_page))
		relay_to_pipe(dir, relay_page + put, (size_t)(got - put));
	return 1;
}

/* Moves what `from` has into the pipe or buffer. 1 when something moved. */
static int relay_fill(struct relay_dir *dir)
{
	ssize_t got;

	if (dir->eof || relay_dir_done(dir))
		return 0;
	if (!dir->piped)
		return relay_fill_small(dir);
	if (dir->pending == dir->capacity ||
	    (dir->buf && dir->pending > 0))	/* a buffer holds one chunk: it is dumped whole */
		return 0;
	got = relay_read(dir);
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
		if (!dir->buf && dir->pending > 0 && !relay_grow_pipe(dir))
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

	while (dir->pending > 0 && !dir->broken) {
		ssize_t put = dir->buf ? write(dir->to, dir->buf + dir->start, dir->pending)
				       : splice(dir->pipe_rd, NULL, dir->to, NULL, dir->pending,
						SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (put < 0) {
			if (errno != EAGAIN && errno != EINTR)
				dir->broken = moved = 1;	/* the sink is gone: this way is over */
			break;
		}
		dir->pending -= (size_t)put;
		dir->start += (size_t)put;
		relay_count(dir, (size_t)put);
		dir->stalled = 0;
		moved = 1;
	}
	if (dir->eof && dir->pending == 0 && !relay_dir_done(dir)) {
		shutdown(dir->to, SHUT_WR);
		dir->shut = moved = 1;
	}
	return moved;
}

/* The events one socket is waited for: readable as a source, writable as a sink. */
static short relay_events(const struct relay_dir *reading, const struct relay_dir *writing)
{
	short events = 0;

	if (!reading->eof && !relay_dir_done(reading) && !reading->stalled &&
	    reading->pending < reading->capacity && !(reading->buf && reading->pending > 0))
		events |= POLLIN | POLLPRI;	/* POLLPRI: urgent data, see relay_read */
	if (writing->pending > 0 && !writing->broken)
		events |= POLLOUT;
	return events;
}

/* Fills in one socket's poll slot; a socket with nothing to wait for is left out. */
static void relay_slot(struct pollfd *slot, int fd, short events)
{
	slot->fd = events ? fd : -1;
	slot->events = events;
	slot->revents = 0;
}

/*
 * How long poll may wait: forever while both directions run; once one is
 * over, what is left of RELAY_LINGER_MS since the last transfer (0: stop).
 * The clock is read only then.
 */
static int relay_timeout(const struct relay_dir *dirs, int moved, long long *last_transfer)
{
	long long now, left;

	if (!relay_dir_done(&dirs[RELAY_UP]) && !relay_dir_done(&dirs[RELAY_DOWN]))
		return -1;
	now = proc_now_ms();
	if (moved)	/* as it did when a direction ended */
		*last_transfer = now;
	left = *last_transfer + RELAY_LINGER_MS - now;
	return left > 0 ? (int)left : 0;
}

static void relay_loop(struct relay_dir *dirs)
{
	/*
	 * The client's first bytes are looked for before waiting: they are
	 * usually there (the client spoke while the upstream connect took its
	 * round trip). Asked with a poll that does not wait, not a read that may
	 * find nothing: a read's EAGAIN is written to errno, in the thread block
	 * on the heap page the relay otherwise shares with the listener, and an
	 * idle connection would cost a private copy of that page (4 kB).
	 */
	struct pollfd pfds[2] = { { .fd = dirs[RELAY_UP].from, .events = POLLIN | POLLPRI },
				  { .fd = -1 } };
	long long last_transfer = 0;

	if (poll(pfds, 1, 0) < 0)
		pfds[0].revents = POLLIN;	/* cannot happen; the read then tells */

	for (;;) {
		int moved = 0, timeout;

		for (int i = 0; i < 2; i++) {
			dirs[i].urgent |= (pfds[i].revents & POLLPRI) != 0;
			if (pfds[i].revents & (POLLIN | POLLPRI | POLLHUP | POLLERR))
				moved |= relay_fill(&dirs[i]);
			moved |= relay_flush(&dirs[i]);
		}
		if (relay_dir_done(&dirs[RELAY_UP]) && relay_dir_done(&dirs[RELAY_DOWN]))
			return;
		if ((timeout = relay_timeout(dirs, moved, &last_transfer)) == 0)
			return;
		relay_slot(&pfds[0], dirs[RELAY_UP].from,
			   relay_events(&dirs[RELAY_UP], &dirs[RELAY_DOWN]));
		relay_slot(&pfds[1], dirs[RELAY_DOWN].from,
			   relay_events(&dirs[RELAY_DOWN], &dirs[RELAY_UP]));
		if (poll(pfds, 2, timeout) < 0 && errno != EINTR)
			return;
	}
}

int relay_run(int client_fd, int target_fd, const struct relay_options *options,
	      struct relay_totals *totals)
{
	struct relay_dir dirs[2];

	if (relay_dir_init(&dirs[RELAY_UP], client_fd, target_fd, options->up_total, '>',
			   options->dump) < 0 ||
	    relay_dir_init(&dirs[RELAY_DOWN], target_fd, client_fd, options->down_total, '<',
			   options->dump) < 0)
		return -1;
	relay_loop(dirs);
	totals->up = dirs[RELAY_UP].bytes;
	totals->down = dirs[RELAY_DOWN].bytes;
	return 0;
}
