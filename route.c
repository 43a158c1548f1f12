/*
 * route.c: see route.h for the steps; route_connect() owns them.
 */
#include "route.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "names.h"
#include "policy.h"
#include "process.h"
#include "proxy.h"

#define ROUTE_LOG_MS 1000		/* refusals: a line a second per port and reason */
#define ROUTE_ALERT_UNRECOGNIZED_NAME 112	/* RFC 6066 3 */
#define ROUTE_ALERT_DECODE_ERROR 50		/* RFC 8446 6.2: a message that cannot be parsed */
#define ROUTE_TLS_ALERT 21		/* the record type of an alert */
#define ROUTE_TLS_FATAL 2

enum route_step {
	ROUTE_STEP_PEEK, ROUTE_STEP_HEAD, ROUTE_STEP_AUTH, ROUTE_STEP_MATCH, ROUTE_STEP_POLICY,
	ROUTE_STEP_CONNECT, ROUTE_STEP_OPEN, ROUTE_STEP_DONE
};

/* What a peek hands its bytes to: a sniff_status or proxy_head_status; 0 is "need more". */
typedef int (*route_decider)(const uint8_t *data, size_t len, void *out);

static int route_decide_name(const uint8_t *data, size_t len, void *out)
{
	return sniff_name(data, len, out);
}

static int route_decide_head(const uint8_t *data, size_t len, void *out)
{
	return proxy_head_parse(data, len, out);
}

/* How the peek ended, beyond sniff.h's answers. */
enum route_peek_end {
	ROUTE_PEEK_TIMEOUT = -10,	/* nothing decisive within ROUTE_TIMEOUT */
	ROUTE_PEEK_FULL = -11,		/* SNIFF_MAX_PEEK bytes and still no end of the head */
	ROUTE_PEEK_CLOSED = -12,	/* the client ended (or failed) before a name */
};

_Static_assert(PROXY_HEAD_MAX == SNIFF_MAX_PEEK, "one buffer serves both peeks");

/* The client's first bytes: peeked (routed mode) or the head to consume (explicit). */
static uint8_t route_peeked[SNIFF_MAX_PEEK];

/* Lets poll() wake only once more than `have` bytes wait: no spin on bytes already peeked. */
static void route_wait_for_more(int fd, size_t have)
{
	int lowat = (int)have + 1;

	setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat);
}

/*
 * Peeks at the client's first bytes until decide() does, the client ends,
 * the buffer is full, or the time is up. decide's answer or a
 * route_peek_end; the socket's low-water mark is back to 1 after it.
 */
static int route_peek(int fd, long timeout_s, uint8_t *buf, route_decider decide, void *out,
		      size_t *have)
{
	long long deadline = proc_now_ms() + timeout_s * 1000;
	int status = SNIFF_NEED_MORE, ended = 0;

	for (*have = 0; status == SNIFF_NEED_MORE;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };
		ssize_t got = recv(fd, buf, SNIFF_MAX_PEEK, MSG_PEEK | MSG_DONTWAIT);
		long long left;

		if (got > 0 && (size_t)got > *have) {
			*have = (size_t)got;
			if ((status = decide(buf, *have, out)) != SNIFF_NEED_MORE)
				break;
			if (*have == SNIFF_MAX_PEEK) {
				status = ROUTE_PEEK_FULL;
				break;
			}
		} else if (got == 0 || ended || (got < 0 && errno != EAGAIN && errno != EINTR)) {
			status = ROUTE_PEEK_CLOSED;	/* nothing more will come */
			break;
		}
		route_wait_for_more(fd, *have);
		if ((left = deadline - proc_now_ms()) <= 0 || poll(&pfd, 1, (int)left) == 0) {
			status = ROUTE_PEEK_TIMEOUT;
			break;
		}
		ended = (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
	}
	route_wait_for_more(fd, 0);
	return status;
}

/* The refusal reason of a peek that found no usable name. */
static enum shared_refusal route_peek_refusal(int status, size_t have)
{
	switch (status) {
	case SNIFF_NO_NAME:
	case SNIFF_BAD_NAME:
	case ROUTE_PEEK_FULL:
		return SHARED_REFUSED_NO_NAME;
	case SNIFF_AMBIGUOUS:
		return SHARED_REFUSED_AMBIGUOUS;
	case ROUTE_PEEK_TIMEOUT:
		return SHARED_REFUSED_TIMEOUT;
	case ROUTE_PEEK_CLOSED:
		return have ? SHARED_REFUSED_NO_NAME : SHARED_REFUSED_NOT_TLS_OR_HTTP;
	case SNIFF_MALFORMED:	/* the peeker knows the protocol: sniff.h */
		return SHARED_REFUSED_MALFORMED;
	default:	/* SNIFF_NOT_THIS */
		return SHARED_REFUSED_NOT_TLS_OR_HTTP;
	}
}

/* What a refusal says in the log and in a 403's body. */
static void route_describe(enum shared_refusal why, const struct route_outcome *out,
			   const struct target *target, char *text, size_t size)
{
	const struct sockaddr *upstream = (const struct sockaddr *)&out->upstream.addr;
	const char *name = out->sniffed.name;
	char host[LOG_ADDR_SIZE], range[80];

	if (out->explicit_mode) {
		proxy_describe(why, target->conf, &out->head, &out->upstream,
			       why == SHARED_REFUSED_PRIVATE
			       ? target_guard_reason(target, upstream, range, sizeof range) : NULL,
			       text, size);
		return;
	}
	switch (why) {
	case SHARED_REFUSED_NOT_ALLOWED:
		snprintf(text, size, "\"%s\" is not an allowed host", name);
		break;
	case SHARED_REFUSED_POLICY:
		snprintf(text, size, "\"%s\" is not for this client (POLICY%s%s)", name,
			 out->policy_client[0] ? ": client " : "", out->policy_client);
		break;
	case SHARED_REFUSED_NO_NAME:
		snprintf(text, size, "the request names no usable host");
		break;
	case SHARED_REFUSED_AMBIGUOUS:
		snprintf(text, size, "the request names two hosts");
		break;
	case SHARED_REFUSED_TIMEOUT:
		snprintf(text, size, "no host name within ROUTE_TIMEOUT (%ld s)",
			 target->conf->route_timeout);
		break;
	case SHARED_REFUSED_PRIVATE:
		snprintf(text, size, "\"%s\" leads to %s (%s), where a wildcard may not lead", name,
			 log_host(upstream, host, sizeof host),
			 target_guard_reason(target, upstream, range, sizeof range));
		break;
	case SHARED_REFUSED_SELF:
		snprintf(text, size, "\"%s\" leads to this proxy itself (%s)", name,
			 log_host(upstream, host, sizeof host));
		break;
	case SHARED_REFUSED_MALFORMED:
		snprintf(text, size, out->sniffed.proto == SNIFF_PROTO_TLS
				     ? "a TLS ClientHello that breaks the format"
				     : "an HTTP request head that breaks the format (RFC 9112)");
		break;
	default:
		snprintf(text, size, "neither a TLS ClientHello nor an HTTP/1.x request");
		break;
	}
}

/* A fatal alert (description), in the record version the client used. */
static void route_send_alert(int fd, uint16_t version, uint8_t description)
{
	uint8_t alert[7] = { ROUTE_TLS_ALERT, 3, 3, 0, 2, ROUTE_TLS_FATAL, description };

	if (version) {
		alert[1] = (uint8_t)(version >> 8);
		alert[2] = (uint8_t)version;
	}
	send(fd, alert, sizeof alert, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* An answer with a one-line body: "403 Forbidden", "400 Bad Request". */
static void route_send_http(int fd, const char *status, const char *text)
{
	char answer[1024];
	int body = (int)strlen(text) + (int)sizeof "whitelist: \n" - 1;
	int len = snprintf(answer, sizeof answer, "HTTP/1.1 %s\r\nContent-Type: text/plain; "
			   "charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
			   "whitelist: %s\n", status, body, text);

	if (len > 0 && (size_t)len < sizeof answer)
		send(fd, answer, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/*
 * Answers a refused client in its own protocol, when it spoke one and the
 * refusal is about what it sent: a request that breaks the format gets a
 * 400 or a decode_error alert, any other refusal a 403 or an
 * unrecognized_name alert. Counts it, and logs it once a second per port
 * and reason.
 */
static int route_refuse(const struct target *target, struct shared_port *port, int fd,
			const struct endpoint *client, enum shared_refusal why,
			const struct route_outcome *out)
{
	int answered = why != SHARED_REFUSED_TIMEOUT && why != SHARED_REFUSED_NOT_TLS_OR_HTTP;
	int malformed = why == SHARED_REFUSED_MALFORMED;
	char text[640], shown[LOG_ADDR_SIZE];

	route_describe(why, out, target, text, sizeof text);
	if (out->explicit_mode && why != SHARED_REFUSED_TIMEOUT)
		proxy_answer(fd, why, text);
	else if (answered && out->sniffed.proto == SNIFF_PROTO_TLS)
		route_send_alert(fd, out->sniffed.tls_version,
				 malformed ? ROUTE_ALERT_DECODE_ERROR : ROUTE_ALERT_UNRECOGNIZED_NAME);
	else if (answered && out->sniffed.proto == SNIFF_PROTO_HTTP)
		route_send_http(fd, malformed ? "400 Bad Request" : "403 Forbidden", text);
	shared_add(&port->refused[why], 1);
	if (shared_claim_log(&port->refused_logged_ms[why], proc_now_ms(), ROUTE_LOG_MS))
		log_event(LOG_WARN, "refuse",
			  LOG_FIELDS(LOG_STR("port", port->name),
				     LOG_STR("client", log_addr((const struct sockaddr *)&client->addr,
								shown, sizeof shown)),
				     LOG_STR("reason", shared_refusal_names[why])),
			  "port %s: refused %s: %s (%s; logged once a second)", port->name, shown,
			  text, shared_refusal_names[why]);
	return ROUTE_REFUSED;
}

/*
 * POLICY: whether this client (and, through CONNECT_PORT, the PROXY_USERS
 * name it gave) may reach the entry matched; notes the rule's grant that
 * let it through (counted once connected). On a refusal, names the client
 * when the policy knows it under another rule.
 */
static int route_policy(const struct target *target,
			const struct endpoint *client, struct route_outcome *out)
{
	const struct policy *policy = target->conf->policy;
	struct policy_names names = names_view(target->shared);
	const char *user = out->user[0] ? out->user : NULL;
	int entry = out->route >= 0 ? out->route : 0;	/* classic mode: the one TARGET */
	struct conf_net from = { 0 };
	int decision, known;

	from.family = addr_host_bytes((const struct sockaddr *)&client->addr, from.addr);
	from.prefix = from.family == AF_INET ? 32 : 128;
	decision = policy_allows(policy, &names, &from, user, entry);
	if (decision == POLICY_OPEN || decision >= 0) {
		out->grant = decision >= 0 ? decision : -1;
		return 1;
	}
	known = policy_client_of(policy, &names, &from, user);
	if (known >= 0)
		snprintf(out->policy_client, sizeof out->policy_client, "%s",
			 policy->clients[known].text);
	return 0;
}

/* A route that connected: counted by entry, or by the POLICY grant that let it through. */
static void route_count_connected(struct shared_port *port, const struct route_outcome *out)
{
	if (out->grant >= 0)
		shared_add(&port->routed_grant[out->grant], 1);
	else if (out->route >= 0)
		shared_add(&port->routed[out->route], 1);
}

/* CONNECT_PORT: the name of the PROXY_USERS pair the client gave, for user:NAME rules. */
static void route_note_user(const struct conf *conf, int pair, struct route_outcome *out)
{
	if (pair >= 0)
		snprintf(out->user, sizeof out->user, "%.*s", (int)conf->users[pair].name_len,
			 conf->users[pair].pair);
}

/* The explicit proxy's own steps: the head read and consumed, its credentials, its match. */
static enum route_step route_step_proxy(enum route_step step, const struct target *target,
					struct shared_port *port, int fd,
					const struct endpoint *client, struct route_outcome *out,
					int *result)
{
	enum shared_refusal why = SHARED_REFUSED_BAD_REQUEST;
	size_t have;
	int status;

	switch (step) {
	case ROUTE_STEP_HEAD:
		status = route_peek(fd, target->conf->route_timeout, route_peeked,
				    route_decide_head, &out->head, &have);
		if (status == PROXY_HEAD_FOUND && proxy_consume(fd, route_peeked, out->head.head_len) == 0) {
			snprintf(out->sniffed.name, sizeof out->sniffed.name, "%s", out->head.host);
			return ROUTE_STEP_AUTH;
		}
		if (status == ROUTE_PEEK_TIMEOUT)
			why = SHARED_REFUSED_TIMEOUT;
		break;
	case ROUTE_STEP_AUTH:
		status = proxy_authorized(target->conf, route_peeked, &out->head);
		route_note_user(target->conf, status, out);
		if (status != PROXY_AUTH_REFUSED)
			return ROUTE_STEP_MATCH;
		why = SHARED_REFUSED_AUTH;
		break;
	default:	/* ROUTE_STEP_MATCH */
		if (proxy_match(target->conf, &out->head, &out->route, &why) == 0)
			return ROUTE_STEP_POLICY;
		break;
	}
	*result = route_refuse(target, port, fd, client, why, out);
	return ROUTE_STEP_DONE;
}

/* The explicit proxy's connect: to the port asked for, within ROUTE_TIMEOUT; each failure answered. */
static enum route_step route_step_proxy_connect(const struct target *target,
						struct shared_port *port, int fd,
						const struct endpoint *client,
						struct route_outcome *out, int *result)
{
	char text[600];
	int status = target_connect_port(target, port, out->route, out->head.host, out->head.port,
					 proc_now_ms() + target->conf->route_timeout * 1000,
					 &out->upstream);

	if (status >= 0) {
		route_count_connected(port, out);
		*result = status;
		return ROUTE_STEP_OPEN;
	}
	if (status == TARGET_SELF) {	/* counted and logged by the loop guard */
		proxy_describe(SHARED_REFUSED_LOOP, target->conf, &out->head, NULL, NULL, text,
			       sizeof text);
		proxy_answer(fd, SHARED_REFUSED_LOOP, text);
		*result = ROUTE_REFUSED;
		return ROUTE_STEP_DONE;
	}
	*result = route_refuse(target, port, fd, client,
			       status == TARGET_PRIVATE ? SHARED_REFUSED_PRIVATE
			       : status == TARGET_SELF_CHOSEN ? SHARED_REFUSED_SELF
			       : status == TARGET_TIMEOUT ? SHARED_REFUSED_CONNECT_TIMEOUT
							  : SHARED_REFUSED_UNREACHABLE, out);
	return ROUTE_STEP_DONE;
}

/* One step of a connection's way: the next step, or DONE with *result. */
static enum route_step route_step(enum route_step step, const struct target *target,
				  struct shared_port *port, int fd, const struct endpoint *client,
				  struct route_outcome *out, int *result)
{
	size_t have;
	int status;

	if (out->explicit_mode && step != ROUTE_STEP_POLICY && step != ROUTE_STEP_CONNECT &&
	    step != ROUTE_STEP_OPEN)
		return route_step_proxy(step, target, port, fd, client, out, result);
	switch (step) {
	case ROUTE_STEP_PEEK:
		status = route_peek(fd, target->conf->route_timeout, route_peeked, route_decide_name,
				    &out->sniffed, &have);
		if (status == SNIFF_FOUND)
			return ROUTE_STEP_MATCH;
		*result = route_refuse(target, port, fd, client, route_peek_refusal(status, have), out);
		return ROUTE_STEP_DONE;
	case ROUTE_STEP_MATCH:
		out->route = conf_route_match(target->conf, out->sniffed.name);
		if (out->route >= 0)
			return ROUTE_STEP_POLICY;
		*result = route_refuse(target, port, fd, client, SHARED_REFUSED_NOT_ALLOWED, out);
		return ROUTE_STEP_DONE;
	case ROUTE_STEP_POLICY:
		if (route_policy(target, client, out))
			return ROUTE_STEP_CONNECT;
		*result = route_refuse(target, port, fd, client, SHARED_REFUSED_POLICY, out);
		return ROUTE_STEP_DONE;
	case ROUTE_STEP_OPEN:
		if (proxy_open(fd, *result, route_peeked, &out->head, port) < 0) {
			close(*result);
			*result = ROUTE_UNREACHABLE;
		}
		return ROUTE_STEP_DONE;
	default:	/* ROUTE_STEP_CONNECT */
		if (out->explicit_mode)
			return route_step_proxy_connect(target, port, fd, client, out, result);
		status = target_connect_name(target, port, out->to_port, out->route,
					     out->sniffed.name, &out->upstream);
		if (status >= 0)	/* counted once connected; refusals by their reason */
			route_count_connected(port, out);
		*result = status >= 0 ? status
			  : status == TARGET_PRIVATE ? route_refuse(target, port, fd, client,
								   SHARED_REFUSED_PRIVATE, out)
			  : status == TARGET_SELF_CHOSEN ? route_refuse(target, port, fd, client,
								       SHARED_REFUSED_SELF, out)
			  : status == TARGET_SELF ? ROUTE_LOOP
						  : ROUTE_UNREACHABLE;
		return ROUTE_STEP_DONE;
	}
}

int route_connect(const struct target *target, struct shared_port *port, uint16_t to_port,
		  int client_fd, const struct endpoint *client, int explicit_mode,
		  struct route_outcome *out,
		  int *target_fd)
{
	enum route_step step = explicit_mode ? ROUTE_STEP_HEAD : ROUTE_STEP_PEEK;
	int result = ROUTE_UNREACHABLE;

	memset(out, 0, sizeof *out);
	out->route = -1;
	out->grant = -1;
	out->to_port = to_port;
	out->explicit_mode = explicit_mode;
	while (step != ROUTE_STEP_DONE)
		step = route_step(step, target, port, client_fd, client, out, &result);
	if (result < 0)
		return result;
	*target_fd = result;
	return ROUTE_CONNECTED;
}
