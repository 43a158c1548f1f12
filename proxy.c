/*
 * proxy.c: see proxy.h. What explicit proxy mode does in a relay child
 * between reading the head and relaying: credentials, the match against
 * TARGET and PORT, the answers, and the first bytes of the way.
 */
#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "guard.h"
#include "log.h"
#include "sniff.h"

#define PROXY_WRITE_MS 2000	/* an answer or a head that cannot be written by then is lost */

/* Writes all of data (a non-blocking socket waits in poll, a while at most). */
static int proxy_write_all(int fd, const void *data, size_t len)
{
	const char *at = data;

	while (len > 0) {
		ssize_t sent = send(fd, at, len, MSG_NOSIGNAL);
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		if (sent > 0) {
			at += sent;
			len -= (size_t)sent;
		} else if (sent < 0 && errno == EINTR) {
			continue;
		} else if (sent < 0 && errno == EAGAIN) {
			if (poll(&pfd, 1, PROXY_WRITE_MS) <= 0)
				return -1;
		} else {
			return -1;
		}
	}
	return 0;
}

int proxy_consume(int fd, uint8_t *peeked, size_t len)
{
	while (len > 0) {
		/* The same bytes as were peeked: read over them, no other page is touched. */
		ssize_t got = recv(fd, peeked, len, MSG_DONTWAIT);

		if (got <= 0 && !(got < 0 && errno == EINTR))
			return -1;	/* peeked, so there: anything else is an error */
		if (got > 0) {
			peeked += got;
			len -= (size_t)got;
		}
	}
	return 0;
}

/* 1 when a[0..a_len) equals b[0..b_len); the time depends on no byte of either. */
static int proxy_same(const char *a, size_t a_len, const char *b, size_t b_len)
{
	volatile unsigned diff = a_len != b_len;

	for (size_t i = 0; i < CONF_USER_SIZE; i++) {
		unsigned char x = i < a_len ? (unsigned char)a[i] : 0;
		unsigned char y = i < b_len ? (unsigned char)b[i] : 0;

		diff |= (unsigned)(x ^ y);
	}
	return diff == 0;
}

int proxy_authorized(const struct conf *conf, const uint8_t *data, const struct proxy_head *head)
{
	char given[PROXY_CREDENTIALS_SIZE];
	int len, match = PROXY_AUTH_REFUSED;

	if (conf->nusers == 0)
		return PROXY_AUTH_NONE_SET;
	if (!head->has_authorization)
		return PROXY_AUTH_REFUSED;
	len = proxy_head_basic(data + head->authorization.off, head->authorization.len, given,
			       sizeof given);
	if (len < 0 || len >= CONF_USER_SIZE)
		return PROXY_AUTH_REFUSED;
	for (size_t i = 0; i < conf->nusers; i++) {	/* every pair, whichever matches */
		int same = proxy_same(given, (size_t)len, conf->users[i].pair, conf->users[i].len);

		match = same ? (int)i : match;
	}
	return match;
}

/* Classic mode: the host is the one TARGET (a name as normalized, a literal by its bytes). */
static int proxy_is_target(const struct conf *conf, const struct proxy_head *head)
{
	char name[SNIFF_NAME_SIZE];
	uint8_t want[16], got[16];

	if (head->host_family)
		return inet_pton(head->host_family, conf->target, want) == 1 &&
		       inet_pton(head->host_family, head->host, got) == 1 &&
		       memcmp(want, got, head->host_family == AF_INET ? 4 : 16) == 0;
	return sniff_normalize_name(conf->target, strlen(conf->target), name, sizeof name) == 0 &&
	       strcmp(name, head->host) == 0;
}

int proxy_match(const struct conf *conf, const struct proxy_head *head, int *route,
		enum shared_refusal *why)
{
	*route = -1;
	*why = SHARED_REFUSED_NOT_ALLOWED;
	/* Routed mode lists names only: "*" covers every name, never an address. */
	if (conf->routed ? head->host_family || (*route = conf_route_match(conf, head->host)) < 0
			 : !proxy_is_target(conf, head))
		return -1;
	if (!conf_has_target_port(conf, head->port)) {
		*why = SHARED_REFUSED_PORT;
		return -1;
	}
	return 0;
}

void proxy_describe(enum shared_refusal why, const struct conf *conf,
		    const struct proxy_head *head, const struct endpoint *upstream,
		    const char *guarded, char *text, size_t size)
{
	const char *open = head->host_family == AF_INET6 ? "[" : "";
	const char *close = head->host_family == AF_INET6 ? "]" : "";
	const char *range;
	char shown[LOG_ADDR_SIZE];

	switch (why) {
	case SHARED_REFUSED_BAD_REQUEST:
		snprintf(text, size, "not a proxy request: %s", head->problem ? head->problem
				     : "no end of the request head within 16384 bytes");
		return;
	case SHARED_REFUSED_TIMEOUT:
		snprintf(text, size, "no request head within ROUTE_TIMEOUT (%ld s)",
			 conf->route_timeout);
		return;
	case SHARED_REFUSED_AUTH:
		snprintf(text, size, "proxy credentials missing or wrong (PROXY_USERS)");
		return;
	default:
		break;
	}
	int len = snprintf(text, size, "%s%s%s:%u ", open, head->host, close, head->port);

	if (len < 0 || (size_t)len >= size)
		return;
	text += len;
	size -= (size_t)len;
	if (why == SHARED_REFUSED_NOT_ALLOWED)
		snprintf(text, size, "is not an allowed host (TARGET)");
	else if (why == SHARED_REFUSED_PORT)
		snprintf(text, size, "is refused: port %u is not one of PORT's", head->port);
	else if (why == SHARED_REFUSED_LOOP || why == SHARED_REFUSED_SELF)
		snprintf(text, size, "leads to this proxy itself");
	else if (why == SHARED_REFUSED_POLICY)
		snprintf(text, size, "is not for this client (POLICY)");
	else if (why == SHARED_REFUSED_UNREACHABLE)
		snprintf(text, size, "could not be reached (no address, or refused)");
	else if (why == SHARED_REFUSED_CONNECT_TIMEOUT)
		snprintf(text, size, "did not answer within ROUTE_TIMEOUT (%ld s)",
			 conf->route_timeout);
	else if (why == SHARED_REFUSED_PRIVATE && upstream) {
		range = guarded ? guarded : guard_range_name((const struct sockaddr *)&upstream->addr);
		snprintf(text, size, "leads to %s (%s), where a wildcard may not lead",
			 log_host((const struct sockaddr *)&upstream->addr, shown, sizeof shown),
			 range ? range : "this proxy");
	} else {
		snprintf(text, size, "is refused (%s)", shared_refusal_names[why]);
	}
}

/* The status line of a refusal. */
static const char *proxy_status(enum shared_refusal why)
{
	switch (why) {
	case SHARED_REFUSED_BAD_REQUEST:
	case SHARED_REFUSED_TIMEOUT:
		return "400 Bad Request";
	case SHARED_REFUSED_AUTH:
		return "407 Proxy Authentication Required";
	case SHARED_REFUSED_UNREACHABLE:
		return "502 Bad Gateway";
	case SHARED_REFUSED_CONNECT_TIMEOUT:
		return "504 Gateway Timeout";
	default:
		return "403 Forbidden";
	}
}

void proxy_answer(int fd, enum shared_refusal why, const char *text)
{
	char answer[768];
	int body = (int)strlen(text) + (int)sizeof "whitelist: \n" - 1;
	int len = snprintf(answer, sizeof answer, "HTTP/1.1 %s\r\n%sContent-Type: text/plain; "
			   "charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
			   "whitelist: %s\n", proxy_status(why),
			   why == SHARED_REFUSED_AUTH ? "Proxy-Authenticate: Basic realm=\"whitelist\"\r\n"
						      : "", body, text);

	if (len > 0 && (size_t)len < sizeof answer)
		proxy_write_all(fd, answer, (size_t)len);
}

int proxy_open(int client_fd, int upstream_fd, const uint8_t *data,
	       const struct proxy_head *head, struct shared_port *stats)
{
	static const char established[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	static char rewritten[PROXY_REWRITE_MAX];
	int len;

	if (head->form == PROXY_FORM_CONNECT)
		return proxy_write_all(client_fd, established, sizeof established - 1);
	len = proxy_head_rewrite(data, head, rewritten, sizeof rewritten);
	if (len < 0 || proxy_write_all(upstream_fd, rewritten, (size_t)len) < 0)
		return -1;
	shared_add(&stats->bytes_up, (uint64_t)len);
	return 0;
}
