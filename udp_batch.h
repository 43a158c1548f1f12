/*
 * udp_batch.h: datagrams in batches, the I/O every UDP process shares:
 * recvmmsg in, sendmmsg or UDP GSO out, and the messages of the socketpair
 * between the UDP listener and a session.
 */
#ifndef WHITELIST_UDP_BATCH_H
#define WHITELIST_UDP_BATCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UDP_MAX_DATAGRAM 65535
#define UDP_BATCH 32		/* datagrams per recvmmsg/sendmmsg */
#define UDP_SLOT (UDP_MAX_DATAGRAM + 1)

/*
 * The socketpair (SOCK_SEQPACKET) carries messages whose first byte says
 * what they are, so that an empty UDP datagram (one tag byte) is never read
 * as the end of the pair (zero bytes).
 */
#define UDP_PAIR_DATAGRAM 'D'	/* then the datagram */
#define UDP_PAIR_SWITCH 'S'	/* the fast-path handover's last step (udp_handover.h) */

struct udp_batch {
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH][2];	/* [0]: the pair's tag byte, [1]: the datagram */
	uint8_t tags[UDP_BATCH];
	struct sockaddr_storage from[UDP_BATCH];
	uint8_t *buf;	/* UDP_BATCH slots of 64 KiB; only the pages used are touched */
};

/* A batch with its buffers; dies when out of memory. */
struct udp_batch *udp_batch_new(void);
void udp_batch_free(struct udp_batch *batch);

/*
 * Receives what fd holds, up to UDP_BATCH datagrams: their count, or 0.
 * From the socketpair (tagged) each message starts with its tag; a message
 * of zero bytes is the pair's end: the ones before it are counted, and
 * *closed is set.
 */
int udp_batch_recv(struct udp_batch *batch, int fd, int tagged, int *closed);

/*
 * Sends the batch's datagrams, each to `to` (NULL: the connected peer):
 * runs of equal size as one UDP GSO send, the rest with sendmmsg. An error
 * stands for one datagram (or a pending ICMP report): it is skipped.
 */
void udp_batch_send(struct udp_batch *batch, int count, int fd,
		    const struct sockaddr_storage *to, socklen_t to_len);

/* Sends one tagged message on the socketpair; -1 when it is full or gone. */
int udp_pair_send(int fd, uint8_t tag, const uint8_t *data, size_t len);

/* Bytes of the batch's first count datagrams, dumped as socat -v when dump. */
uint64_t udp_batch_bytes(const struct udp_batch *batch, int count, char direction,
			 uint64_t offset, int dump);

#endif
