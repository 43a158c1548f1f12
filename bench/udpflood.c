/*
 * udpflood.c: make bench's UDP sender and receiver, cheap enough per
 * datagram that the proxy between them is what limits the rate (iperf3
 * sends one datagram per system call and reads the clock around each one:
 * on two cores it ran out of CPU before a batching proxy did).
 *
 *   udpflood send HOST PORT SECONDS SIZE
 *       datagrams of SIZE bytes as fast as the kernel takes them, 64 per
 *       system call: one UDP GSO buffer (UDP_SEGMENT), which the receiving
 *       socket splits into 64 datagrams, or sendmmsg where GSO is refused.
 *       Prints "sent N".
 *   udpflood sink HOST PORT SECONDS WARMUP
 *       binds HOST:PORT and counts datagrams, 64 per recvmmsg; the window is
 *       SECONDS long and starts WARMUP seconds after the first datagram.
 *       Prints "total N window W seconds S" (N: the whole run).
 *
 * Bounded: the sender stops after SECONDS, the sink after its window or
 * after 10 s without a datagram.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

#define FLOOD_BATCH 64
#define FLOOD_MAX_SIZE 1472	/* one Ethernet frame */
#define FLOOD_IDLE_S 10.0

static double flood_now(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void flood_die(const char *what)
{
	fprintf(stderr, "udpflood: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long flood_number(const char *text, long min, long max, const char *what)
{
	char *end;
	long value = strtol(text, &end, 10);

	if (end == text || *end || value < min || value > max) {
		fprintf(stderr, "udpflood: %s: \"%s\" is not a number in %ld-%ld\n", what, text,
			min, max);
		exit(2);
	}
	return value;
}

static void flood_addr(const char *host, const char *port, struct sockaddr_in *addr)
{
	memset(addr, 0, sizeof *addr);
	addr->sin_family = AF_INET;
	addr->sin_port = htons((uint16_t)flood_number(port, 1, 65535, "port"));
	if (inet_pton(AF_INET, host, &addr->sin_addr) != 1) {
		fprintf(stderr, "udpflood: \"%s\" is not an IPv4 address\n", host);
		exit(2);
	}
}

/* 64 datagrams per call: one GSO buffer, or sendmmsg once GSO was refused. */
static int flood_send_batch(int fd, char *buf, size_t size, int *gso)
{
	struct mmsghdr msgs[FLOOD_BATCH];
	struct iovec iov[FLOOD_BATCH];

	if (*gso) {
		if (send(fd, buf, size * FLOOD_BATCH, 0) >= 0)
			return FLOOD_BATCH;
		if (errno != EINVAL && errno != EIO && errno != EOPNOTSUPP)
			return 0;	/* ENOBUFS, ECONNREFUSED: try again */
		*gso = 0;
	}
	memset(msgs, 0, sizeof msgs);
	for (int i = 0; i < FLOOD_BATCH; i++) {
		iov[i] = (struct iovec){ .iov_base = buf + i * size, .iov_len = size };
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	int sent = sendmmsg(fd, msgs, FLOOD_BATCH, 0);
	return sent > 0 ? sent : 0;
}

static int flood_send(const struct sockaddr_in *to, double seconds, size_t size)
{
	static char buf[FLOOD_BATCH * FLOOD_MAX_SIZE];
	int fd = socket(AF_INET, SOCK_DGRAM, 0), gso = 1, segment = (int)size;
	unsigned long long sent = 0;
	double end = flood_now() + seconds;

	if (fd < 0 || connect(fd, (const struct sockaddr *)to, sizeof *to) < 0)
		flood_die("connect");
	if (setsockopt(fd, SOL_UDP, UDP_SEGMENT, &segment, sizeof segment) < 0)
		gso = 0;
	memset(buf, 'x', sizeof buf);
	while (flood_now() < end)
		for (int i = 0; i < 16; i++)	/* the clock once per 1024 datagrams */
			sent += (unsigned)flood_send_batch(fd, buf, size, &gso);
	printf("sent %llu gso %d\n", sent, gso);
	return 0;
}

static int flood_sink(const struct sockaddr_in *at, double seconds, double warmup)
{
	static char bufs[FLOOD_BATCH][2048];
	struct mmsghdr msgs[FLOOD_BATCH];
	struct iovec iov[FLOOD_BATCH];
	struct timeval tick = { .tv_usec = 100000 };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), big = 4 << 20;
	unsigned long long total = 0, window = 0;
	double first = 0, last = flood_now(), start = 0, end = 0;

	if (fd < 0 || bind(fd, (const struct sockaddr *)at, sizeof *at) < 0)
		flood_die("bind");
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		for (int i = 0; i < FLOOD_BATCH; i++) {
			iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = sizeof bufs[i] };
			msgs[i].msg_hdr = (struct msghdr){ .msg_iov = &iov[i], .msg_iovlen = 1 };
		}
		int got = recvmmsg(fd, msgs, FLOOD_BATCH, 0, NULL);
		double now = flood_now();

		if (got > 0) {
			if (!first) {
				first = now;
				start = first + warmup;
				end = start + seconds;
			}
			total += (unsigned)got;
			if (now >= start && now < end)
				window += (unsigned)got;
			last = now;
		}
		if ((first && now >= end) || now - last > FLOOD_IDLE_S)
			break;
	}
	printf("total %llu window %llu seconds %.3f\n", total, window, seconds);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr;

	if (argc != 6 || (strcmp(argv[1], "send") && strcmp(argv[1], "sink"))) {
		fprintf(stderr, "usage: udpflood send HOST PORT SECONDS SIZE\n"
				"       udpflood sink HOST PORT SECONDS WARMUP\n");
		return 2;
	}
	flood_addr(argv[2], argv[3], &addr);
	if (!strcmp(argv[1], "send"))
		return flood_send(&addr, (double)flood_number(argv[4], 1, 600, "seconds"),
				  (size_t)flood_number(argv[5], 1, FLOOD_MAX_SIZE, "size"));
	return flood_sink(&addr, (double)flood_number(argv[4], 1, 600, "seconds"),
			  (double)flood_number(argv[5], 0, 600, "warmup"));
}
