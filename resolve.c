/*
 * resolve.c: the DNS stub resolver behind PRE_RESOLVE=1.
 *
 * On the internal Docker network the system resolver answers the proxy's own
 * alias for TARGET, so this file asks NAMESERVERS itself. It builds one query
 * (RFC 1035 4.1), sends it over UDP from a fresh socket with a random ID and a
 * random source port chosen by the kernel, and accepts only a reply that comes
 * from the address and port asked and echoes the same ID and question; any
 * other datagram is dropped and the wait goes on. A truncated reply is asked
 * again over TCP. The parser bound-checks every read, follows CNAMEs inside
 * the answer section and only lets compression pointers move backwards, so a
 * hostile packet can neither read outside the buffer nor make it loop.
 * A library: it never prints and never exits; every failure is a dns_status.
 */
#include "resolve.h"

#include "addr.h"
#include "process.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define DNS_HEADER_LEN 12
#define DNS_QFIXED_LEN 4	/* QTYPE and QCLASS after the question name */
#define DNS_RRFIXED_LEN 10	/* TYPE, CLASS, TTL and RDLENGTH after the owner */
#define DNS_MAX_WIRE 255	/* encoded name, length octets included (RFC 1035 2.3.4) */
#define DNS_MAX_LABEL 63
#define DNS_MAX_POINTERS 128	/* a 255-octet name has at most 127 labels to point at */
#define DNS_MAX_CNAMES 16	/* longer chains are loops or abuse */
#define DNS_MSG_MAX 65535	/* the TCP length prefix is 16 bits */
#define DNS_CLASS_IN 1
#define DNS_FLAG_QR 0x8000
#define DNS_MASK_OPCODE 0x7800
#define DNS_FLAG_TC 0x0200
#define DNS_FLAG_RD 0x0100
#define DNS_MASK_RCODE 0x000f
#define DNS_RCODE_NXDOMAIN 3
#define DNS_LABEL_POINTER 0xc0
#define DNS_DEFAULT_TIMEOUT_MS 5000
#define DNS_DEFAULT_ATTEMPTS 2

/* A name in wire form (length-prefixed labels, final zero), case kept. */
struct dns_name {
	uint8_t wire[DNS_MAX_WIRE];
	size_t len;
};

/* One resource record; its rdata stays in the packet. */
struct dns_rr {
	struct dns_name owner;
	uint16_t type;
	uint16_t rclass;
	size_t rdata;		/* offset of the rdata in the packet */
	size_t rdlen;
};

/* One question on its way to the servers, shared by the UDP and TCP paths. */
struct dns_ask {
	const char *name;
	uint16_t qtype;
	uint16_t id;
	uint8_t query[DNS_HEADER_LEN + DNS_MAX_WIRE + DNS_QFIXED_LEN];
	size_t qlen;
	uint8_t reply[DNS_MSG_MAX];
	struct dns_result *out;
	const int *cancel_fd;	/* see dns_options */
};

/* How the tries of one dns_query() went, to pick the status when all failed. */
struct dns_outcome {
	int answer_error;	/* last DNS_ESERVFAIL or DNS_EBADREPLY, or 0 */
	int timed_out;
	int sys_errno;		/* errno of the last DNS_ESYSTEM, or 0 */
};

static uint16_t dns_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void dns_put16(uint8_t *p, uint16_t value)
{
	p[0] = (uint8_t)(value >> 8);
	p[1] = (uint8_t)value;
}

/* ASCII-only lower case: DNS compares names without regard to locale. */
static uint8_t dns_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c;
}

/* Encodes a dotted name into wire form: 0, or -1 when it cannot be queried. */
static int dns_encode_name(const char *text, struct dns_name *out)
{
	const char *label = text;
	size_t len = 0;

	/* "" names nothing; "." alone is the root, one zero octet. */
	if (text == NULL || text[0] == '\0')
		return -1;
	if (strcmp(text, ".") == 0)
		label = "";
	while (*label != '\0') {
		size_t n = strcspn(label, ".");

		/* An empty label would put the terminating zero inside the name. */
		if (n == 0 || n > DNS_MAX_LABEL)
			return -1;
		/* Room for this label and the final zero within 255 octets. */
		if (len + 1 + n + 1 > DNS_MAX_WIRE)
			return -1;
		out->wire[len++] = (uint8_t)n;
		memcpy(out->wire + len, label, n);
		len += n;
		label += n;
		if (*label == '.')
			label++;	/* a trailing dot just ends the name */
	}
	out->wire[len++] = 0;
	out->len = len;
	return 0;
}

/* Names in wire form are equal when their labels match, ignoring ASCII case. */
static int dns_name_equal(const struct dns_name *a, const struct dns_name *b)
{
	size_t i;

	if (a->len != b->len)
		return 0;
	/* Length octets are at most 63, below 'A', so lower-casing leaves them alone. */
	for (i = 0; i < a->len; i++)
		if (dns_lower(a->wire[i]) != dns_lower(b->wire[i]))
			return 0;
	return 1;
}

/*
 * Reads the possibly compressed name at off into out. Returns the offset just
 * after the name where it appears, or 0 when it is malformed.
 */
static size_t dns_read_name(const uint8_t *pkt, size_t len, size_t off, struct dns_name *out)
{
	size_t pos = off;	/* next length octet to read */
	size_t start = off;	/* start of the stretch being read */
	size_t next = 0;	/* offset after the name, fixed by the first pointer */
	int hops = 0;

	out->len = 0;
	for (;;) {
		uint8_t c;

		if (pos >= len)
			return 0;	/* the name runs past the packet */
		c = pkt[pos];
		if ((c & DNS_LABEL_POINTER) == DNS_LABEL_POINTER) {
			size_t target;

			if (pos + 1 >= len)
				return 0;
			target = (size_t)(c & ~DNS_LABEL_POINTER) << 8 | pkt[pos + 1];
			/*
			 * A pointer must land before the stretch that holds it (so at
			 * itself is refused) and after the header, which holds no
			 * names: each jump lowers start, so pointers cannot loop.
			 */
			if (target >= start || target < DNS_HEADER_LEN || ++hops > DNS_MAX_POINTERS)
				return 0;
			if (next == 0)
				next = pos + 2;
			pos = start = target;
			continue;
		}
		/* 0x40 (extended, RFC 6891 retired it) and 0x80 are not labels. */
		if (c & DNS_LABEL_POINTER)
			return 0;
		/* So c <= 63; the decoded name must fit in 255 octets. */
		if (out->len + 1 + c > DNS_MAX_WIRE || c >= len - pos)
			return 0;
		memcpy(out->wire + out->len, pkt + pos, (size_t)1 + c);
		out->len += (size_t)1 + c;
		pos += (size_t)1 + c;
		if (c == 0)
			return next != 0 ? next : pos;
	}
}

/* Reads the record at off into rr: the offset after it, or 0 when malformed. */
static size_t dns_read_rr(const uint8_t *pkt, size_t len, size_t off, struct dns_rr *rr)
{
	off = dns_read_name(pkt, len, off, &rr->owner);
	/* The fixed fields must be there, and the rdata must end inside the packet. */
	if (off == 0 || len - off < DNS_RRFIXED_LEN)
		return 0;
	rr->type = dns_get16(pkt + off);
	rr->rclass = dns_get16(pkt + off + 2);
	rr->rdlen = dns_get16(pkt + off + 8);
	rr->rdata = off + DNS_RRFIXED_LEN;
	if (rr->rdlen > len - rr->rdata)
		return 0;
	return rr->rdata + rr->rdlen;
}

/* The target of a CNAME record: 0, or -1 when its rdata is not exactly one name. */
static int dns_cname_target(const uint8_t *pkt, size_t len, const struct dns_rr *rr,
			    struct dns_name *out)
{
	size_t end = dns_read_name(pkt, len, rr->rdata, out);

	/* A name that runs past the rdata, or leaves octets after it, is malformed. */
	return end != 0 && end == rr->rdata + rr->rdlen ? 0 : -1;
}

/*
 * Checks the header and question against our query. Returns the offset of
 * the answer section, or 0 when the packet is not a reply to that query.
 */
static size_t dns_match_question(const uint8_t *pkt, size_t len, uint16_t id,
				 const struct dns_name *qname, uint16_t qtype)
{
	struct dns_name name;
	uint16_t flags;
	size_t off;

	/* Too short to carry our ID: nothing ties it to our query. */
	if (len < DNS_HEADER_LEN)
		return 0;
	flags = dns_get16(pkt + 2);
	/* Another ID, a query rather than a response, another opcode, or not one question. */
	if (dns_get16(pkt) != id || !(flags & DNS_FLAG_QR) || (flags & DNS_MASK_OPCODE) != 0 ||
	    dns_get16(pkt + 4) != 1)
		return 0;
	/* A question we cannot read cannot be shown to be ours. */
	off = dns_read_name(pkt, len, DNS_HEADER_LEN, &name);
	if (off == 0 || len - off < DNS_QFIXED_LEN)
		return 0;
	/* The same name (any case), type and class as asked, or it answers something else. */
	if (!dns_name_equal(&name, qname) || dns_get16(pkt + off) != qtype ||
	    dns_get16(pkt + off + 2) != DNS_CLASS_IN)
		return 0;
	return off + DNS_QFIXED_LEN;
}

/* Checks every answer record: 0, or -1 when one is malformed. */
static int dns_check_answers(const uint8_t *pkt, size_t len, size_t off, uint16_t ancount)
{
	struct dns_rr rr;
	struct dns_name target;
	uint16_t i;

	for (i = 0; i < ancount; i++) {
		off = dns_read_rr(pkt, len, off, &rr);
		if (off == 0)
			return -1;
		if (rr.rclass != DNS_CLASS_IN)
			continue;	/* other classes are ignored, whatever they hold */
		/* An address of the wrong size cannot be copied out as one. */
		if ((rr.type == DNS_TYPE_A && rr.rdlen != 4) ||
		    (rr.type == DNS_TYPE_AAAA && rr.rdlen != 16))
			return -1;
		if (rr.type == DNS_TYPE_CNAME && dns_cname_target(pkt, len, &rr, &target) < 0)
			return -1;
	}
	return 0;
}

/*
 * Follows the CNAME chain from name through the (checked) answer section, in
 * whatever order its records come; name ends as the last name of the chain.
 * DNS_OK, or DNS_EBADREPLY when the chain is longer than DNS_MAX_CNAMES.
 */
static int dns_follow_cnames(const uint8_t *pkt, size_t len, size_t off, uint16_t ancount,
			     struct dns_name *name)
{
	int hops = 0;
	int changed = 1;

	while (changed) {
		size_t pos = off;
		uint16_t i;

		changed = 0;
		for (i = 0; i < ancount; i++) {
			struct dns_rr rr;

			pos = dns_read_rr(pkt, len, pos, &rr);
			if (pos == 0)
				return DNS_EBADREPLY;
			if (rr.type != DNS_TYPE_CNAME || rr.rclass != DNS_CLASS_IN ||
			    !dns_name_equal(&rr.owner, name))
				continue;
			/* A chain this long is a loop (a -> b -> a) or abuse. */
			if (++hops > DNS_MAX_CNAMES || dns_cname_target(pkt, len, &rr, name) < 0)
				return DNS_EBADREPLY;
			changed = 1;
		}
	}
	return DNS_OK;
}

/* Copies the (checked) addresses of qtype owned by name: DNS_OK or DNS_ENODATA. */
static int dns_collect(const uint8_t *pkt, size_t len, size_t off, uint16_t ancount,
		       const struct dns_name *name, uint16_t qtype, struct dns_result *out)
{
	uint16_t i;

	for (i = 0; i < ancount; i++) {
		struct dns_rr rr;

		off = dns_read_rr(pkt, len, off, &rr);
		if (off == 0)
			return DNS_EBADREPLY;
		if (rr.type != qtype || rr.rclass != DNS_CLASS_IN ||
		    !dns_name_equal(&rr.owner, name))
			continue;
		if (out->count == DNS_MAX_ADDRS)
			break;	/* enough to pick from; the rest are ignored */
		memcpy(out->addrs[out->count++], pkt + rr.rdata, rr.rdlen);
	}
	return out->count > 0 ? DNS_OK : DNS_ENODATA;
}

int dns_parse_reply(const uint8_t *pkt, size_t len, uint16_t id, const char *name,
		    uint16_t qtype, struct dns_result *out)
{
	struct dns_name qname;
	uint16_t flags, ancount;
	size_t off;
	int status;

	out->count = 0;
	out->family = qtype == DNS_TYPE_AAAA ? AF_INET6 : AF_INET;
	if ((qtype != DNS_TYPE_A && qtype != DNS_TYPE_AAAA) || dns_encode_name(name, &qname) < 0)
		return DNS_EINVAL;
	off = dns_match_question(pkt, len, id, &qname, qtype);
	if (off == 0)
		return DNS_EMISMATCH;
	/* From here on the packet is known to answer our question. */
	flags = dns_get16(pkt + 2);
	if (flags & DNS_FLAG_TC)
		return DNS_ETRUNCATED;
	if ((flags & DNS_MASK_RCODE) == DNS_RCODE_NXDOMAIN)
		return DNS_ENXDOMAIN;
	if ((flags & DNS_MASK_RCODE) != 0)
		return DNS_ESERVFAIL;
	ancount = dns_get16(pkt + 6);
	/* Every record is checked once, so the walks below cannot meet a bad one. */
	if (dns_check_answers(pkt, len, off, ancount) < 0)
		return DNS_EBADREPLY;
	status = dns_follow_cnames(pkt, len, off, ancount, &qname);
	if (status != DNS_OK)
		return status;
	return dns_collect(pkt, len, off, ancount, &qname, qtype, out);
}

size_t dns_build_query(uint8_t *buf, size_t size, uint16_t id, const char *name, uint16_t qtype)
{
	struct dns_name qname;
	size_t len;

	if (dns_encode_name(name, &qname) < 0)
		return 0;
	len = DNS_HEADER_LEN + qname.len + DNS_QFIXED_LEN;
	if (buf == NULL || size < len)
		return 0;
	memset(buf, 0, DNS_HEADER_LEN);
	dns_put16(buf, id);
	dns_put16(buf + 2, DNS_FLAG_RD);	/* a stub asks the server to recurse */
	dns_put16(buf + 4, 1);			/* QDCOUNT; the other counts stay 0 */
	memcpy(buf + DNS_HEADER_LEN, qname.wire, qname.len);
	dns_put16(buf + DNS_HEADER_LEN + qname.len, qtype);
	dns_put16(buf + DNS_HEADER_LEN + qname.len + 2, DNS_CLASS_IN);
	return len;
}

int dns_server_parse(const char *text, struct dns_server *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->addr;

	memset(out, 0, sizeof *out);
	if (text == NULL)
		return -1;
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(DNS_PORT);
		out->len = sizeof *sin;
		return 0;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(DNS_PORT);
		out->len = sizeof *sin6;
		return 0;
	}
	return -1;
}

void dns_server_set_port(struct dns_server *server, uint16_t port)
{
	addr_set_port(&server->addr, port);
}

/* Whether a datagram's source is exactly the server asked: family, address and port. */
static int dns_same_server(const struct sockaddr_storage *from, const struct dns_server *server)
{
	if (from->ss_family != server->addr.ss_family)
		return 0;
	if (from->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)from;
		const struct sockaddr_in *b = (const struct sockaddr_in *)&server->addr;

		return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (from->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;
		const struct sockaddr_in6 *b = (const struct sockaddr_in6 *)&server->addr;

		return a->sin6_port == b->sin6_port &&
		       memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
	}
	return 0;
}

/* Closes fd without losing the errno a failure left for the caller. */
static void dns_close(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
}

/*
 * Waits until fd is ready for events: 0, DNS_ETIMEOUT at the deadline,
 * DNS_ECANCELED when the cancel fd (if any) is readable, or DNS_ESYSTEM.
 */
static int dns_wait(int fd, short events, long long deadline, const int *cancel_fd)
{
	struct pollfd pfds[2] = { { .fd = fd, .events = events },
				  { .fd = cancel_fd ? *cancel_fd : -1, .events = POLLIN } };

	for (;;) {
		long long left = deadline - proc_now_ms();
		int ready;

		if (left <= 0)
			return DNS_ETIMEOUT;
		ready = poll(pfds, 2, (int)left);
		if (ready > 0 && pfds[1].revents)
			return DNS_ECANCELED;
		/* POLLERR and POLLHUP count too: the next call reports them. */
		if (ready > 0)
			return 0;
		if (ready < 0 && errno != EINTR)
			return DNS_ESYSTEM;
	}
}

/* Waits for the answer on a UDP socket, dropping whatever is not it. */
static int dns_udp_wait_reply(int fd, struct dns_ask *ask, const struct dns_server *server,
			      long long deadline)
{
	for (;;) {
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof from;
		ssize_t n;
		int status = dns_wait(fd, POLLIN, deadline, ask->cancel_fd);

		if (status != 0)
			return status;
		n = recvfrom(fd, ask->reply, sizeof ask->reply, 0, (struct sockaddr *)&from,
			     &fromlen);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				continue;
			return DNS_ESYSTEM;
		}
		/* Only the server asked may answer: anything else is stray or forged. */
		if (!dns_same_server(&from, server))
			continue;
		status = dns_parse_reply(ask->reply, (size_t)n, ask->id, ask->name, ask->qtype,
					 ask->out);
		/* Another ID or question: stale or forged; keep waiting for ours. */
		if (status != DNS_EMISMATCH)
			return status;
	}
}

/* One UDP exchange from a fresh socket: a dns_parse_reply() status, or a wait/system error. */
static int dns_udp_exchange(struct dns_ask *ask, const struct dns_server *server,
			    long long deadline)
{
	int status;
	int fd = socket(server->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return DNS_ESYSTEM;
	/* Unbound, the socket gets a random ephemeral port from the kernel here. */
	if (sendto(fd, ask->query, ask->qlen, 0, (const struct sockaddr *)&server->addr,
		   server->len) != (ssize_t)ask->qlen)
		status = DNS_ESYSTEM;
	else
		status = dns_udp_wait_reply(fd, ask, server, deadline);
	dns_close(fd);
	return status;
}

/* Connects a non-blocking TCP socket by the deadline: 0 or a negative status. */
static int dns_tcp_connect(int fd, const struct dns_server *server, long long deadline,
			   const int *cancel_fd)
{
	int error = 0;
	socklen_t errlen = sizeof error;
	int status;

	if (connect(fd, (const struct sockaddr *)&server->addr, server->len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return DNS_ESYSTEM;
	status = dns_wait(fd, POLLOUT, deadline, cancel_fd);
	if (status != 0)
		return status;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &errlen) < 0)
		return DNS_ESYSTEM;
	if (error != 0) {
		errno = error;
		return DNS_ESYSTEM;
	}
	return 0;
}

/* Writes all of buf by the deadline, across partial writes. */
static int dns_write_all(int fd, const uint8_t *buf, size_t len, long long deadline,
			 const int *cancel_fd)
{
	while (len > 0) {
		/* MSG_NOSIGNAL: a server that hangs up must not kill the caller with SIGPIPE. */
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		int status;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return DNS_ESYSTEM;
		status = dns_wait(fd, POLLOUT, deadline, cancel_fd);
		if (status != 0)
			return status;
	}
	return 0;
}

/* Reads exactly len octets by the deadline, across partial reads. */
static int dns_read_all(int fd, uint8_t *buf, size_t len, long long deadline,
			const int *cancel_fd)
{
	while (len > 0) {
		ssize_t n = recv(fd, buf, len, 0);
		int status;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		/* The server closed before the whole message: a broken reply. */
		if (n == 0)
			return DNS_EBADREPLY;
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return DNS_ESYSTEM;
		status = dns_wait(fd, POLLIN, deadline, cancel_fd);
		if (status != 0)
			return status;
	}
	return 0;
}

/* Sends the query and reads the reply over a connected TCP socket (RFC 1035 4.2.2). */
static int dns_tcp_transact(int fd, struct dns_ask *ask, long long deadline)
{
	uint8_t msg[2 + sizeof ask->query];
	uint8_t prefix[2];
	size_t len;
	int status;

	dns_put16(msg, (uint16_t)ask->qlen);
	memcpy(msg + 2, ask->query, ask->qlen);
	status = dns_write_all(fd, msg, 2 + ask->qlen, deadline, ask->cancel_fd);
	if (status == 0)
		status = dns_read_all(fd, prefix, sizeof prefix, deadline, ask->cancel_fd);
	if (status != 0)
		return status;
	/* The query is sent and the length read; len <= DNS_MSG_MAX fits the buffer. */
	len = dns_get16(prefix);
	status = dns_read_all(fd, ask->reply, len, deadline, ask->cancel_fd);
	if (status != 0)
		return status;
	status = dns_parse_reply(ask->reply, len, ask->id, ask->name, ask->qtype, ask->out);
	/* The stream is ours alone: another question or a second TC means a broken server. */
	if (status == DNS_EMISMATCH || status == DNS_ETRUNCATED)
		return DNS_EBADREPLY;
	return status;
}

/* Asks the same question again over TCP, after a truncated UDP reply. */
static int dns_tcp_exchange(struct dns_ask *ask, const struct dns_server *server,
			    long long deadline)
{
	int status;
	int fd = socket(server->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return DNS_ESYSTEM;
	status = dns_tcp_connect(fd, server, deadline, ask->cancel_fd);
	if (status == 0)
		status = dns_tcp_transact(fd, ask, deadline);
	dns_close(fd);
	return status;
}

/* A fresh random query ID: 0, or -1 when the kernel gives no randomness. */
static int dns_random_id(uint16_t *id)
{
	ssize_t n;

	do
		n = getrandom(id, sizeof *id, 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof *id ? 0 : -1;
}

/* One try against one server, UDP then TCP if truncated, all by the deadline. */
static int dns_ask_server(struct dns_ask *ask, const struct dns_server *server,
			  long long deadline)
{
	int status;

	/* A new ID per try, so a forger must guess it again each time. */
	if (dns_random_id(&ask->id) < 0)
		return DNS_ESYSTEM;
	ask->qlen = dns_build_query(ask->query, sizeof ask->query, ask->id, ask->name,
				    ask->qtype);
	status = dns_udp_exchange(ask, server, deadline);
	if (status == DNS_ETRUNCATED)
		status = dns_tcp_exchange(ask, server, deadline);
	return status;
}

/* Notes how a failed try ended, for dns_outcome_status(). */
static void dns_outcome_note(struct dns_outcome *outcome, int status)
{
	if (status == DNS_ESERVFAIL || status == DNS_EBADREPLY)
		outcome->answer_error = status;
	else if (status == DNS_ETIMEOUT)
		outcome->timed_out = 1;
	else if (status == DNS_ESYSTEM)
		outcome->sys_errno = errno;
}

/*
 * The status when every try failed: a server's own error (the last one) says
 * most; then a timeout; DNS_ESYSTEM, with its errno, only when every try
 * failed locally (no socket, unreachable network).
 */
static int dns_outcome_status(const struct dns_outcome *outcome)
{
	if (outcome->answer_error != 0)
		return outcome->answer_error;
	if (outcome->timed_out || outcome->sys_errno == 0)
		return DNS_ETIMEOUT;
	errno = outcome->sys_errno;
	return DNS_ESYSTEM;
}

/* Whether servers can be asked at all: one to DNS_MAX_SERVERS of them, each v4 or v6. */
static int dns_servers_valid(const struct dns_server *servers, size_t nservers)
{
	size_t i;

	if (servers == NULL || nservers == 0 || nservers > DNS_MAX_SERVERS)
		return 0;
	for (i = 0; i < nservers; i++)
		if (servers[i].addr.ss_family != AF_INET && servers[i].addr.ss_family != AF_INET6)
			return 0;
	return 1;
}

static int dns_timeout_ms(const struct dns_options *opts)
{
	return opts != NULL && opts->timeout_ms > 0 ? opts->timeout_ms : DNS_DEFAULT_TIMEOUT_MS;
}

static int dns_attempts(const struct dns_options *opts)
{
	return opts != NULL && opts->attempts > 0 ? opts->attempts : DNS_DEFAULT_ATTEMPTS;
}

/* dns_query() with an absolute deadline, so dns_resolve() can share one budget. */
static int dns_query_until(const char *name, uint16_t qtype, const struct dns_server *servers,
			   size_t nservers, const struct dns_options *opts, long long deadline,
			   struct dns_result *out)
{
	struct dns_outcome outcome = { 0, 0, 0 };
	struct dns_ask ask;
	struct dns_name check;
	long long tries = (long long)dns_attempts(opts) * (long long)nservers;
	long long try;

	out->count = 0;
	out->family = qtype == DNS_TYPE_AAAA ? AF_INET6 : AF_INET;
	if ((qtype != DNS_TYPE_A && qtype != DNS_TYPE_AAAA) || dns_encode_name(name, &check) < 0 ||
	    !dns_servers_valid(servers, nservers))
		return DNS_EINVAL;
	ask.name = name;
	ask.qtype = qtype;
	ask.out = out;
	ask.cancel_fd = opts ? opts->cancel_fd : NULL;
	for (try = 0; try < tries; try++) {
		long long now = proc_now_ms();
		int status;

		if (now >= deadline)
			break;
		/* Each try left gets an equal share of the time: no dead server eats it all. */
		status = dns_ask_server(&ask, &servers[try % (long long)nservers],
					now + (deadline - now) / (tries - try));
		/* An address, or a name that has none: final whichever server said it. */
		if (status == DNS_OK || status == DNS_ENXDOMAIN || status == DNS_ENODATA ||
		    status == DNS_ECANCELED)
			return status;
		dns_outcome_note(&outcome, status);
	}
	out->count = 0;
	if (try < tries)
		outcome.timed_out = 1;	/* the deadline came before every try was made */
	return dns_outcome_status(&outcome);
}

int dns_query(const char *name, uint16_t qtype, const struct dns_server *servers,
	      size_t nservers, const struct dns_options *opts, struct dns_result *out)
{
	return dns_query_until(name, qtype, servers, nservers, opts,
			       proc_now_ms() + dns_timeout_ms(opts), out);
}

/* 1 when a failed A query may be "no A": its servers failed, they did not say the name is gone. */
static int dns_a_failed(int status)
{
	return status == DNS_ENODATA || status == DNS_ESERVFAIL || status == DNS_EBADREPLY;
}

int dns_resolve(const char *name, const struct dns_server *servers, size_t nservers,
		const struct dns_options *opts, struct dns_result *out)
{
	/* One budget for both questions: timeout_ms bounds the whole call. */
	long long deadline = proc_now_ms() + dns_timeout_ms(opts);
	int status = dns_query_until(name, DNS_TYPE_A, servers, nservers, opts, deadline, out);
	int aaaa;

	/* The old image used A records only; AAAA serves names that have none. */
	if (!dns_a_failed(status))
		return status;
	aaaa = dns_query_until(name, DNS_TYPE_AAAA, servers, nservers, opts, deadline, out);
	if (aaaa == DNS_OK || status == DNS_ENODATA)
		return aaaa;
	out->count = 0;
	return status;	/* the A failure says more than the AAAA one */
}

const char *dns_strerror(int status)
{
	switch (status) {
	case DNS_OK:
		return "success";
	case DNS_ENXDOMAIN:
		return "no such name";
	case DNS_ENODATA:
		return "no address for the name";
	case DNS_ESERVFAIL:
		return "server failure";
	case DNS_EBADREPLY:
		return "malformed reply";
	case DNS_EMISMATCH:
		return "reply to another query";
	case DNS_ETRUNCATED:
		return "truncated reply";
	case DNS_ETIMEOUT:
		return "no answer from any server";
	case DNS_EINVAL:
		return "invalid name or server list";
	case DNS_ESYSTEM:
		return "system error";
	case DNS_ECANCELED:
		return "canceled";
	default:
		return "unknown resolver error";
	}
}
