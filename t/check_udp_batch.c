/*
 * check_udp_batch: datagrams in batches (udp_batch.h): equal sizes leave as
 * one GSO send and arrive one by one; an ICMP error left pending from an
 * earlier datagram does not cost a batch; the socketpair's end is seen as
 * the end, not as an endless run of empty datagrams.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "t/check.h"
#include "udp_batch.h"

/* A UDP socket on 127.0.0.1, its port in *port. */
static int udp_bound(uint16_t *port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof addr;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, len), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
	*port = ntohs(addr.sin_port);
	return fd;
}

static int udp_connected(uint16_t port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof addr), 0);
	return fd;
}

/* count datagrams of size bytes each, filled with their index, as a batch. */
static void batch_fill(struct udp_batch *batch, int count, size_t size)
{
	for (int i = 0; i < count; i++) {
		memset(batch->buf + (size_t)i * UDP_SLOT, 'a' + i, size);
		batch->iov[i][1] = (struct iovec){ batch->buf + (size_t)i * UDP_SLOT, size };
	}
}

/* Datagrams waiting on fd, each checked to be one of batch_fill's, in order. */
static int received(int fd, size_t size)
{
	char buf[2048];
	int count = 0;
	ssize_t got;

	while ((got = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) >= 0) {
		ck_assert_int_eq(got, (ssize_t)size);
		ck_assert_int_eq(buf[0], 'a' + count);
		count++;
	}
	return count;
}

START_TEST(test_equal_sizes_arrive_one_by_one)
{
	struct udp_batch *batch = udp_batch_new();
	uint16_t port;
	int receiver = udp_bound(&port), sender = udp_connected(port);

	batch_fill(batch, 10, 1000);
	udp_batch_send(batch, 10, sender, NULL, 0);
	usleep(50 * 1000);
	ck_assert_int_eq(received(receiver, 1000), 10);
	close(sender);
	close(receiver);
	udp_batch_free(batch);
}
END_TEST

/*
 * An earlier datagram met a closed port: its ICMP error waits on the socket,
 * and the next send reports it instead of sending. The batch must go anyway.
 */
START_TEST(test_a_pending_icmp_error_costs_no_batch)
{
	struct udp_batch *batch = udp_batch_new();
	struct pollfd pfd;
	uint16_t port;
	int closed = udp_bound(&port), sender;

	close(closed);	/* nothing listens on port now */
	sender = udp_connected(port);
	ck_assert_int_eq(send(sender, "x", 1, 0), 1);
	pfd = (struct pollfd){ .fd = sender, .events = 0 };
	ck_assert_int_eq(poll(&pfd, 1, 2000), 1);	/* the ICMP error is in: POLLERR, unread */
	ck_assert(pfd.revents & POLLERR);
	{
		struct sockaddr_in addr = { .sin_family = AF_INET,
					    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		struct sockaddr_in peer;
		socklen_t len = sizeof peer;
		int receiver = socket(AF_INET, SOCK_DGRAM, 0);

		ck_assert_int_eq(getpeername(sender, (struct sockaddr *)&peer, &len), 0);
		addr.sin_port = peer.sin_port;
		ck_assert_int_eq(bind(receiver, (struct sockaddr *)&addr, sizeof addr), 0);
		batch_fill(batch, 8, 500);
		udp_batch_send(batch, 8, sender, NULL, 0);
		usleep(50 * 1000);
		ck_assert_int_eq(received(receiver, 500), 8);
		close(receiver);
	}
	close(sender);
	udp_batch_free(batch);
}
END_TEST

START_TEST(test_the_pair_s_end_is_the_end)
{
	struct udp_batch *batch = udp_batch_new();
	int fds[2], closed = 0, got;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds), 0);
	ck_assert_int_eq(udp_pair_send(fds[0], UDP_PAIR_DATAGRAM, (const uint8_t *)"one", 3), 0);
	ck_assert_int_eq(udp_pair_send(fds[0], UDP_PAIR_DATAGRAM, NULL, 0), 0);	/* empty */
	close(fds[0]);
	got = udp_batch_recv(batch, fds[1], 1, &closed);
	ck_assert_int_eq(got, 2);	/* the two messages, then the end: not 32 empty ones */
	ck_assert_uint_eq(batch->iov[0][1].iov_len, 3);
	ck_assert_uint_eq(batch->iov[1][1].iov_len, 0);
	ck_assert_int_eq(closed, 1);
	closed = 0;
	ck_assert_int_eq(udp_batch_recv(batch, fds[1], 1, &closed), 0);
	ck_assert_int_eq(closed, 1);
	close(fds[1]);
	udp_batch_free(batch);
}
END_TEST

Suite *udp_batch_suite(void)
{
	Suite *suite = suite_create("udp_batch");
	TCase *tc = tcase_create("batches");

	tcase_add_test(tc, test_equal_sizes_arrive_one_by_one);
	tcase_add_test(tc, test_a_pending_icmp_error_costs_no_batch);
	tcase_add_test(tc, test_the_pair_s_end_is_the_end);
	suite_add_tcase(suite, tc);
	return suite;
}
