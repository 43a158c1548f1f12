/*
 * check_relay: the byte pump (relay.h) between real TCP sockets on
 * loopback, in a forked child as in the proxy: what it must never do is
 * spin, stall or lose the stream's end.
 *
 *   client --- [a | relay child | b] --- target
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "process.h"
#include "relay.h"
#include "t/check.h"

struct wires {
	int client, target;	/* the test's ends */
	pid_t relay;		/* the child relaying between the other two ends */
	_Atomic uint64_t up, down;
};

/* A connected pair of TCP sockets on loopback: *near connects, *far is accepted. */
static void tcp_pair(int *near, int *far)
{
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof addr;
	int listener = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(listener, 0);
	ck_assert_int_eq(bind(listener, (struct sockaddr *)&addr, len), 0);
	ck_assert_int_eq(listen(listener, 1), 0);
	ck_assert_int_eq(getsockname(listener, (struct sockaddr *)&addr, &len), 0);
	*near = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(*near, (struct sockaddr *)&addr, len), 0);
	*far = accept(listener, NULL, NULL);
	ck_assert_int_ge(*far, 0);
	close(listener);
}

static void wires_start(struct wires *wires, int dump)
{
	int a, b;

	tcp_pair(&wires->client, &a);
	tcp_pair(&b, &wires->target);
	fcntl(a, F_SETFL, O_NONBLOCK);	/* as the proxy hands them over */
	fcntl(b, F_SETFL, O_NONBLOCK);
	wires->relay = fork();
	ck_assert_int_ge(wires->relay, 0);
	if (wires->relay == 0) {
		struct relay_options options = { .dump = dump, .up_total = &wires->up,
						  .down_total = &wires->down };
		struct relay_totals totals;

		signal(SIGPIPE, SIG_IGN);	/* as in the proxy, whose main ignores it */
		close(wires->client);
		close(wires->target);
		if (dump)
			dup2(open("/dev/null", O_WRONLY), STDERR_FILENO);
		_exit(relay_run(a, b, &options, &totals) == 0 ? 0 : 1);
	}
	close(a);
	close(b);
}

/* Everything fd sends until EOF, within 5 s (fails the test otherwise). */
static size_t read_to_eof(int fd, char *buf, size_t size)
{
	long long deadline = proc_now_ms() + 5000;
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = deadline - proc_now_ms();
		ssize_t got;

		ck_assert_msg(left > 0 && poll(&pfd, 1, (int)left) == 1, "no EOF within 5 s");
		got = recv(fd, buf + len, size - len, 0);
		if (got <= 0)
			return len;
		len += (size_t)got;
		ck_assert_uint_lt(len, size);
	}
}

/* The relay child's CPU time so far, in clock ticks (utime + stime). */
static unsigned long cpu_ticks(pid_t pid)
{
	char path[64], text[1024], *at;
	unsigned long utime, stime;
	FILE *file;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	file = fopen(path, "r");
	ck_assert_ptr_nonnull(file);
	ck_assert_ptr_nonnull(fgets(text, sizeof text, file));
	fclose(file);
	at = strrchr(text, ')');
	ck_assert_int_eq(sscanf(at + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
				&utime, &stime), 2);
	return utime + stime;
}

static int relay_exit(struct wires *wires)
{
	int status;

	ck_assert_int_eq(waitpid(wires->relay, &status, 0), wires->relay);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A byte of a stream's pattern, so that a lost, doubled or moved byte shows. */
static char pattern(size_t at)
{
	return (char)('a' + (at * 7 + at / 251) % 26);
}

/* Sends len bytes of the pattern from offset at; all of them (blocking). */
static void send_pattern(int fd, size_t at, size_t len)
{
	static char chunk[65536];

	while (len > 0) {
		size_t n = len < sizeof chunk ? len : sizeof chunk;

		for (size_t i = 0; i < n; i++)
			chunk[i] = pattern(at + i);
		ck_assert_int_eq(send(fd, chunk, n, MSG_NOSIGNAL), (ssize_t)n);
		at += n;
		len -= n;
	}
}

/* 1 when buf holds the pattern from offset at. */
static int is_pattern(const char *buf, size_t at, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != pattern(at + i))
			return 0;
	return 1;
}

/*
 * Urgent data in the middle of the stream, with `before` bytes ahead of it
 * (a page or more: the direction goes through its pipe when the mark comes).
 */
static void urgent_data_passes(int dump, size_t before)
{
	static char got[256 * 1024];
	struct wires wires = { 0 };
	size_t len;

	wires_start(&wires, dump);
	send_pattern(wires.client, 0, before);
	ck_assert_int_eq(send(wires.client, "abc", 3, 0), 3);
	usleep(50 * 1000);	/* "abc" first: the urgent byte then marks the middle */
	ck_assert_int_eq(send(wires.client, "!", 1, MSG_OOB), 1);
	ck_assert_int_eq(send(wires.client, "def", 3, 0), 3);
	shutdown(wires.client, SHUT_WR);
	len = read_to_eof(wires.target, got, sizeof got);
	/* As socat: the stream whole, the out-of-band byte left out of it; then the FIN. */
	ck_assert_uint_eq(len, before + 6);
	ck_assert(is_pattern(got, 0, before));
	ck_assert_int_eq(memcmp(got + before, "abcdef", 6), 0);
	close(wires.target);
	ck_assert_uint_eq(read_to_eof(wires.client, got, sizeof got), 0);
	close(wires.client);
	ck_assert_int_eq(relay_exit(&wires), 0);
}

START_TEST(test_urgent_data_does_not_stall_splice)
{
	urgent_data_passes(0, 200 * 1024);
}
END_TEST

START_TEST(test_urgent_data_among_the_first_bytes)
{
	urgent_data_passes(0, 0);
}
END_TEST

START_TEST(test_urgent_data_in_copy_mode)
{
	urgent_data_passes(1, 0);
}
END_TEST

/* How many pipes a process holds (its /proc/PID/fd links to "pipe:[...]"). */
static int pipes_held(pid_t pid)
{
	char path[64], link[64];
	int count = 0;

	for (int fd = 0; fd < 64; fd++) {
		ssize_t len;

		snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)pid, fd);
		len = readlink(path, link, sizeof link - 1);
		if (len > 0) {
			link[len] = '\0';
			count += strncmp(link, "pipe:", 5) == 0;
		}
	}
	return count;
}

/* Reads exactly len bytes of the pattern from offset at, within 5 s each read. */
static void expect_pattern(int fd, size_t at, size_t len)
{
	static char buf[65536];

	while (len > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t got;

		ck_assert_msg(poll(&pfd, 1, 5000) == 1, "nothing within 5 s, %zu bytes short", len);
		got = recv(fd, buf, len < sizeof buf ? len : sizeof buf, 0);
		ck_assert_int_gt(got, 0);
		ck_assert_msg(is_pattern(buf, at, (size_t)got), "wrong bytes at %zu", at);
		at += (size_t)got;
		len -= (size_t)got;
	}
}

/* A request and its answer, each under a page, go through no pipe. */
START_TEST(test_a_first_exchange_makes_no_pipe)
{
	struct wires wires = { 0 };

	int inherited = pipes_held(getpid());	/* Check's own, if any */

	wires_start(&wires, 0);
	send_pattern(wires.client, 0, 700);
	expect_pattern(wires.target, 0, 700);
	send_pattern(wires.target, 0, 3000);
	expect_pattern(wires.client, 0, 3000);
	ck_assert_int_eq(pipes_held(wires.relay) - inherited, 0);
	close(wires.client);
	close(wires.target);
	ck_assert_int_eq(relay_exit(&wires), 0);
}
END_TEST

/*
 * Pieces around the page the first bytes are copied through, then a bulk
 * transfer to a sink that reads nothing for a while (writes are left short):
 * the stream arrives whole and in order, through the pipe in the end.
 */
START_TEST(test_a_stream_crosses_from_copy_to_pipe_whole)
{
	static const size_t pieces[] = { 1, 4095, 4096, 4097, 2 * 1024 * 1024, 3 };
	struct wires wires = { 0 };
	size_t total = 0, at = 0;
	int inherited = pipes_held(getpid());
	pid_t sender;

	wires_start(&wires, 0);
	for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
		total += pieces[i];
	sender = fork();
	ck_assert_int_ge(sender, 0);
	if (sender == 0) {
		for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
			send_pattern(wires.client, at, pieces[i]);
			at += pieces[i];
			usleep(20 * 1000);	/* each piece its own read, as far as it can be */
		}
		_exit(0);
	}
	usleep(300 * 1000);	/* the relay meets a full sink before the test reads */
	expect_pattern(wires.target, 0, total);
	ck_assert_int_eq(waitpid(sender, NULL, 0), sender);
	ck_assert_int_eq(pipes_held(wires.relay) - inherited, 2);	/* that way's pipe: its ends */
	/* The other way still starts with a copy: */
	send_pattern(wires.target, 0, 10);
	expect_pattern(wires.client, 0, 10);
	close(wires.client);
	close(wires.target);
	ck_assert_int_eq(relay_exit(&wires), 0);
}
END_TEST

/* Fills the client's way until the target's side cannot write any more. */
static size_t fill_towards_client(int target)
{
	static char chunk[65536];
	size_t total = 0;

	fcntl(target, F_SETFL, O_NONBLOCK);
	for (int idle = 0; idle < 20;) {
		ssize_t put = send(target, chunk, sizeof chunk, MSG_NOSIGNAL);

		if (put > 0) {
			total += (size_t)put;
			idle = 0;
		} else {
			idle++;
			usleep(20 * 1000);
		}
	}
	return total;
}

START_TEST(test_a_reset_peer_does_not_make_it_spin)
{
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	struct wires wires = { 0 };
	unsigned long before, spent;

	wires_start(&wires, 0);
	/* The client reads nothing: the relay holds data for it that it cannot deliver. */
	ck_assert_uint_gt(fill_towards_client(wires.target), 0);
	setsockopt(wires.target, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
	close(wires.target);	/* a reset, with the relay's pipe full */
	usleep(100 * 1000);
	before = cpu_ticks(wires.relay);
	usleep(1000 * 1000);
	spent = cpu_ticks(wires.relay) - before;
	/* Waiting for the client costs nothing; spinning on POLLHUP costs the whole second. */
	ck_assert_msg(spent < (unsigned long)sysconf(_SC_CLK_TCK) / 10,
		      "the relay used %lu ticks in 1 s", spent);
	close(wires.client);
	ck_assert_int_eq(relay_exit(&wires), 0);
}
END_TEST

START_TEST(test_an_exchange_ends_with_both_fins)
{
	struct wires wires = { 0 };
	char got[64];

	wires_start(&wires, 0);
	ck_assert_int_eq(send(wires.client, "hello", 5, 0), 5);
	shutdown(wires.client, SHUT_WR);
	ck_assert_uint_eq(read_to_eof(wires.target, got, sizeof got), 5);
	ck_assert_int_eq(send(wires.target, "hi", 2, 0), 2);
	close(wires.target);
	ck_assert_uint_eq(read_to_eof(wires.client, got, sizeof got), 2);
	close(wires.client);
	ck_assert_int_eq(relay_exit(&wires), 0);
}
END_TEST

Suite *relay_suite(void)
{
	Suite *suite = suite_create("relay");
	TCase *tc = tcase_create("pump");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_urgent_data_does_not_stall_splice);
	tcase_add_test(tc, test_urgent_data_among_the_first_bytes);
	tcase_add_test(tc, test_urgent_data_in_copy_mode);
	tcase_add_test(tc, test_a_first_exchange_makes_no_pipe);
	tcase_add_test(tc, test_a_stream_crosses_from_copy_to_pipe_whole);
	tcase_add_test(tc, test_a_reset_peer_does_not_make_it_spin);
	tcase_add_test(tc, test_an_exchange_ends_with_both_fins);
	suite_add_tcase(suite, tc);
	return suite;
}
