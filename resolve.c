/*
 * resolve.c: the DNS stub resolver behind PRE_RESOLVE=1.
 *
 * On the internal Docker network the system resolver answers the proxy's own
 * alias for TARGET, so this file asks NAMESERVERS itself. It builds one query
 * (RFC 1035 4.1), sends it over UDP from a fresh socket with a random ID and a
 * random source port chosen by the kernel, and accepts only a reply that comes
 * from the address and port asked and echoes the same ID and question; any
 * other datagram is dropped and the wait goes on. A truncated reply is asked
 * again over TCP. The messages themselves are dns_wire.c's.
 * A library: it never prints and never exits; every failure is a dns_status.
 */
#include "resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "addr.h"
#include "process.h"

#define DNS_DEFAULT_TIMEOUT_MS 5000
#define DNS_DEFAULT_ATTEMPTS 2

/* One question on its way to the servers, shared by the UDP and TCP paths. */
struct dns_ask {
	const char *name;
	uint16_t qtype;
	uint16_t id;
	uint8_t query[DNS_QUERY_MAX];
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
	long long tries = (long long)dns_attempts(opts) * (long long)nservers;
	long long try;

	out->count = 0;
	out->family = qtype == DNS_TYPE_AAAA ? AF_INET6 : AF_INET;
	if ((qtype != DNS_TYPE_A && qtype != DNS_TYPE_AAAA) ||
	    !dns_build_query(ask.query, sizeof ask.query, 0, name, qtype) ||
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
