/*
 * udp_batch.c: see udp_batch.h.
 */
#include "udp_batch.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define UDP_GSO_MAX_BYTES 65000		/* one UDP_SEGMENT send: under the 64 KiB limit */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103			/* linux/udp.h, not in every libc */
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

struct udp_batch *udp_batch_new(void)
{
	struct udp_batch *batch = calloc(1, sizeof *batch);

	if (!batch || !(batch->buf = malloc((size_t)UDP_BATCH * UDP_SLOT)))
		die("out of memory for UDP buffers");
	return batch;
}

void udp_batch_free(struct udp_batch *batch)
{
	if (batch)
		free(batch->buf);
	free(batch);
}

int udp_batch_recv(struct udp_batch *batch, int fd, int tagged, int *closed)
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

		if (tagged && len == 0) {
			/* The listener's end is closed: recvmmsg returns empty "messages" forever. */
			*closed = 1;
			return i;
		}
		batch->iov[i][1].iov_len = tagged ? len - 1 : len;
	}
	return got > 0 ? got : 0;
}

int udp_pair_send(int fd, uint8_t tag, const uint8_t *data, size_t len)
{
	struct iovec iov[2] = { { &tag, 1 }, { (void *)data, len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

	return sendmsg(fd, &msg, MSG_DONTWAIT) < 0 ? -1 : 0;
}

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

static int udp_gso_sendmsg(struct udp_batch *batch, int first, int run, int fd,
			   const struct sockaddr_storage *to, socklen_t to_len)
{
	struct iovec iov[UDP_BATCH];
	union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } control;
	struct msghdr msg = { .msg_name = (void *)to, .msg_namelen = to ? to_len : 0,
			      .msg_iov = iov, .msg_iovlen = (size_t)run,
			      .msg_control = control.buf, .msg_controllen = sizeof control.buf };
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	uint16_t segment = (uint16_t)batch->iov[first][1].iov_len;

	for (int i = 0; i < run; i++)
		iov[i] = batch->iov[first + i][1];
	cmsg->cmsg_level = SOL_UDP;
	cmsg->cmsg_type = UDP_SEGMENT;
	cmsg->cmsg_len = CMSG_LEN(sizeof segment);
	memcpy(CMSG_DATA(cmsg), &segment, sizeof segment);
	return (int)sendmsg(fd, &msg, 0);
}

/*
 * Sends a run of datagrams as one UDP GSO buffer (UDP_SEGMENT): the stack
 * is crossed once and the datagrams are cut apart at the end, each as sent.
 * 0 when sent; -1 when the kernel or the device refuses it: the caller
 * sends them one by one.
 */
static int udp_gso_send(struct udp_batch *batch, int first, int run, int fd,
			const struct sockaddr_storage *to, socklen_t to_len)
{
	static int unsupported;

	if (unsupported)
		return -1;
	if (udp_gso_sendmsg(batch, first, run, fd, to, to_len) >= 0)
		return 0;
	/*
	 * ECONNREFUSED reports an earlier datagram's ICMP error, and sends
	 * nothing: the report is consumed, so this run is sent again.
	 */
	if (errno == ECONNREFUSED && udp_gso_sendmsg(batch, first, run, fd, to, to_len) >= 0)
		return 0;
	/* No GSO in this kernel or device: never again. EINVAL (a segment over the MTU): this run. */
	unsupported = errno == EIO || errno == ENOPROTOOPT || errno == EOPNOTSUPP;
	return -1;
}

void udp_batch_send(struct udp_batch *batch, int count, int fd,
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

uint64_t udp_batch_bytes(const struct udp_batch *batch, int count, char direction,
			 uint64_t offset, int dump)
{
	uint64_t bytes = 0;

	for (int i = 0; i < count; i++) {
		if (dump)
			log_dump(direction, offset + bytes, batch->iov[i][1].iov_base,
				 batch->iov[i][1].iov_len);
		bytes += batch->iov[i][1].iov_len;
	}
	return bytes;
}
