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

static void urgent_data_passes(int dump)
{
	struct wires wires = { 0 };
	char got[64];
	size_t len;

	wires_start(&wires, dump);
	ck_assert_int_eq(send(wires.client, "abc", 3, 0), 3);
	usleep(50 * 1000);	/* "abc" first: the urgent byte then marks the middle */
	ck_assert_int_eq(send(wires.client, "!", 1, MSG_OOB), 1);
	ck_assert_int_eq(send(wires.client, "def", 3, 0), 3);
	shutdown(wires.client, SHUT_WR);
	len = read_to_eof(wires.target, got, sizeof got);
	/* As socat: the stream whole, the out-of-band byte left out of it; then the FIN. */
	ck_assert_uint_eq(len, 6);
	ck_assert_int_eq(memcmp(got, "abcdef", 6), 0);
	close(wires.target);
	ck_assert_uint_eq(read_to_eof(wires.client, got, sizeof got), 0);
	close(wires.client);
	ck_assert_int_eq(relay_exit(&wires), 0);
}

START_TEST(test_urgent_data_does_not_stall_splice)
{
	urgent_data_passes(0);
}
END_TEST

START_TEST(test_urgent_data_in_copy_mode)
{
	urgent_data_passes(1);
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
	tcase_add_test(tc, test_urgent_data_in_copy_mode);
	tcase_add_test(tc, test_a_reset_peer_does_not_make_it_spin);
	tcase_add_test(tc, test_an_exchange_ends_with_both_fins);
	suite_add_tcase(suite, tc);
	return suite;
}
