/*
 * listener.c: see listener.h. What the TCP and UDP listeners share.
 *
 * Signals arrive through a signalfd in the same poll as the sockets:
 * reaping and stopping happen at one place in each loop, never racing
 * accept/fork, and no handler writes to memory that every fork would then
 * copy. The port's counters (shared.h) are kept here where they can be
 * exact: a connection is active from its fork until its child is reaped,
 * however the child ends.
 */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "names.h"
#include "policy.h"
#include "process.h"

static int listener_socket(int family, int type, uint16_t port)
{
	struct sockaddr_storage addr = { 0 };
	socklen_t len;
	int fd = socket(family, type | SOCK_CLOEXEC, 0), on = 1, off = 0;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	/* UDP: sessions join the port with sockets of their own (udp.c, the fast path). */
	if (type == SOCK_DGRAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = in6addr_any;
		len = sizeof *sin6;
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		len = sizeof *sin;
	}
	if (bind(fd, (struct sockaddr *)&addr, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, LISTENER_BACKLOG) < 0)) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int listener_bind(enum conf_mode mode, uint16_t port)
{
	int type = mode == CONF_MODE_TCP ? SOCK_STREAM : SOCK_DGRAM;
	int fd = listener_socket(AF_INET6, type, port);

	if (fd >= 0 || errno == EADDRINUSE || errno == EACCES)
		return fd;
	return listener_socket(AF_INET, type, port);
}

void listener_slot_bind(struct listener_core *core, pid_t pid)
{
	slots_bind(&core->slots, pid);
	atomic_fetch_add_explicit(&core->stats->connections_active, 1, memory_order_relaxed);
}

pid_t listener_next_exited(struct listener_core *core, int *status)
{
	pid_t pid;

	/* Every child of a listener holds a slot: none held, no child to ask about. */
	if (core->slots.used == 0)
		return 0;
	pid = waitpid(-1, status, WNOHANG);
	if (pid <= 0)
		return 0;
	/* Every child of a listener took a slot; slots_give checks it anyway. */
	if (slots_give(&core->slots, pid))
		atomic_fetch_sub_explicit(&core->stats->connections_active, 1,
					  memory_order_relaxed);
	return pid;
}

/* The refusals not logged one by one, once their second is over. */
static void listener_refused_summary(struct listener_core *core, long long now)
{
	if (core->refused_unlogged == 0 || now < core->refused_window_end)
		return;
	log_event(LOG_WARN, "refuse",
		  LOG_FIELDS(LOG_STR("port", core->name),
			     LOG_STR("reason", shared_refusal_names[SHARED_REFUSED_ALLOW_FROM]),
			     LOG_NUM("count", core->refused_unlogged)),
		  "refused %lu more -> %s: not in ALLOW_FROM (logged once a second)",
		  core->refused_unlogged, core->name);
	core->refused_unlogged = 0;
	core->refused_window_end = now + LISTENER_REFUSED_LOG_MS;
}

/* ALLOW_FROM: its IPs and CIDRs (conf_allow_match), then its host names' addresses. */
static int listener_allow_from(const struct listener_core *core, const struct sockaddr *client,
			       const struct conf_net *from)
{
	struct policy_names names = names_view(core->shared);

	return conf_allow_match(core->allow, client) ||
	       policy_allow_from_names(core->policy, &names, from);
}

/* Classic mode's POLICY: a rule for the one TARGET narrows who may connect. */
static int listener_policy(struct listener_core *core, const struct sockaddr *client,
			   const struct conf_net *from)
{
	struct policy_names names = names_view(core->shared);
	char shown[LOG_ADDR_SIZE];
	int known;

	if (!core->policy_here || policy_allows(core->policy, &names, from, NULL, 0) !=
				  POLICY_REFUSED)
		return 1;
	shared_add(&core->stats->refused[SHARED_REFUSED_POLICY], 1);
	if (!shared_claim_log(&core->stats->refused_logged_ms[SHARED_REFUSED_POLICY],
			      proc_now_ms(), LISTENER_REFUSED_LOG_MS))
		return 0;
	known = policy_client_of(core->policy, &names, from, NULL);
	log_event(LOG_WARN, "refuse",
		  LOG_FIELDS(LOG_STR("client", log_addr(client, shown, sizeof shown)),
			     LOG_STR("port", core->name), LOG_STR("target", core->target),
			     LOG_STR("reason", shared_refusal_names[SHARED_REFUSED_POLICY]),
			     LOG_STR("rule_client", known >= 0 ? core->policy->clients[known].text
							       : NULL)),
		  "port %s: refused %s: \"%s\" is not for this client (POLICY%s%s) (policy; "
		  "logged once a second)", core->name, shown, core->target,
		  known >= 0 ? ": client " : "", known >= 0 ? core->policy->clients[known].text : "");
	return 0;
}

int listener_allowed(struct listener_core *core, const struct sockaddr *client)
{
	struct conf_net from = { 0 };
	char shown[LOG_ADDR_SIZE];
	long long now;

	from.family = addr_host_bytes(client, from.addr);
	from.prefix = from.family == AF_INET ? 32 : 128;
	if (listener_allow_from(core, client, &from))
		return listener_policy(core, client, &from);
	shared_add(&core->stats->refused[SHARED_REFUSED_ALLOW_FROM], 1);
	/* A flood must not flood the log too: one line, then a count per second. */
	now = proc_now_ms();
	listener_refused_summary(core, now);
	if (now < core->refused_window_end) {
		core->refused_unlogged++;
		return 0;
	}
	log_event(LOG_WARN, "refuse",
		  LOG_FIELDS(LOG_STR("client", log_addr(client, shown, sizeof shown)),
			     LOG_STR("port", core->name),
			     LOG_STR("reason", shared_refusal_names[SHARED_REFUSED_ALLOW_FROM])),
		  "refused %s -> %s: not in ALLOW_FROM", shown, core->name);
	core->refused_window_end = now + LISTENER_REFUSED_LOG_MS;
	return 0;
}

const char *listener_count(const struct listener_core *core, char *out, size_t size)
{
	if (core->slots.limit > 0)
		snprintf(out, size, "%zu/%ld", core->slots.used, core->slots.limit);
	else
		snprintf(out, size, "%zu", core->slots.used);
	return out;
}

int listener_poll(struct listener_core *core, struct pollfd *fds, nfds_t nfds, int timeout_ms)
{
	struct pollfd all[LISTENER_POLL_SOCKETS + 2] = { { .fd = core->signal_fd, .events = POLLIN } };
	struct signalfd_siginfo infos[8];
	ssize_t got;
	int ready;

	if (core->refused_unlogged > 0) {
		long long left = core->refused_window_end - proc_now_ms();

		left = left < 0 ? 0 : left;
		if (timeout_ms < 0 || left < timeout_ms)
			timeout_ms = (int)left;
	}
	if (nfds > 0)	/* fds may be NULL: memcpy must not see it even for 0 bytes */
		memcpy(all + 1, fds, nfds * sizeof *fds);
	ready = poll(all, nfds + 1, timeout_ms);
	if (nfds > 0)
		memcpy(fds, all + 1, nfds * sizeof *fds);
	if (core->refused_unlogged > 0)
		listener_refused_summary(core, proc_now_ms());
	if (ready > 0 && (all[0].revents & POLLIN)) {
		/* Several at once; read again only while the array came back full. */
		do {
			got = read(core->signal_fd, infos, sizeof infos);
			for (ssize_t i = 0; i < got / (ssize_t)sizeof infos[0]; i++) {
				if (infos[i].ssi_signo == SIGCHLD)
					core->child_exited = 1;
				else
					core->stopping = 1;
			}
		} while (got == (ssize_t)sizeof infos);
		ready--;
	}
	return ready;
}

static void listener_kill_children(const struct slots *slots, int signo)
{
	for (size_t i = 0; i < slots->used; i++)
		if (slots->pids[i] > 0)
			kill(slots->pids[i], signo);
}

static void listener_reap_all(struct listener_core *core)
{
	int status;

	core->child_exited = 0;
	while (listener_next_exited(core, &status) > 0)
		;
}

void listener_finish(struct listener_core *core)
{
	long long deadline = proc_now_ms() + LISTENER_GRACE_MS;

	core->refused_window_end = 0;	/* the socket is closed: no refusal comes after */
	listener_refused_summary(core, deadline);
	listener_reap_all(core);
	if (core->slots.used > 0 && core->verbose >= 1)
		log_event(LOG_INFO, "stop", LOG_FIELDS(LOG_STR("port", core->name),
						       LOG_NUM("open", core->slots.used)),
			  "port %s: stopping, %zu open", core->name, core->slots.used);
	for (long long left; core->slots.used > 0 && (left = deadline - proc_now_ms()) > 0;) {
		listener_poll(core, NULL, 0, (int)left);
		listener_reap_all(core);
	}
	if (core->slots.used > 0) {
		log_msg("port %s: grace period over, ending %zu still open", core->name,
			core->slots.used);
		listener_kill_children(&core->slots, SIGKILL);
		for (pid_t pid; core->slots.used > 0 && (pid = waitpid(-1, NULL, 0)) > 0;)
			if (slots_give(&core->slots, pid))
				atomic_fetch_sub_explicit(&core->stats->connections_active, 1,
							  memory_order_relaxed);
	}
	_exit(0);
}

void listener_become(struct listener_core *core, size_t entry, const struct conf *conf,
		     struct shared *shared)
{
	sigset_t handled;
	char name[PROC_COMM_SIZE];

	memset(core, 0, sizeof *core);
	core->verbose = conf->verbose;
	core->stats = &shared->ports[entry];
	core->name = core->stats->name;
	core->allow = &conf->allow;
	core->policy = conf->policy;
	core->policy_here = !conf->routed && conf->policy && conf->policy->text;
	core->target = conf->target;
	core->shared = shared;
	/* For people reading ps; relays inherit it. */
	snprintf(name, sizeof name, SHARED_LISTENER_COMM, core->name);
	prctl(PR_SET_NAME, name);
	/* A main process killed outright must not leave listeners behind. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	/*
	 * The dispositions its children need, set once here: blocked signals are
	 * still queued for the signalfd, even SIGINT, which children ignore.
	 */
	proc_signals_child();
	sigemptyset(&handled);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGCHLD);
	sigprocmask(SIG_BLOCK, &handled, NULL);
	core->signal_fd = signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
	if (core->signal_fd < 0)
		die_errno("port %s: signalfd", core->name);
	if (slots_init(&core->slots, conf->max_connections) < 0)
		die("port %s: out of memory", core->name);
}

/* close_range(2) (Linux 5.9), one by one where the kernel lacks it. */
static void listener_close_range(int first, int last, const struct listener_sockets *sockets)
{
	if (first > last)
		return;
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)first, (unsigned)last, 0u) == 0)
		return;
#endif
	for (size_t i = 0; i < sockets->count; i++)
		if (sockets->fds[i] >= first && sockets->fds[i] <= last)
			close(sockets->fds[i]);
}

void listener_sockets_close(const struct listener_sockets *sockets, int keep)
{
	int lowest = sockets->fds[0], highest = sockets->fds[0];

	for (size_t i = 1; i < sockets->count; i++) {
		lowest = sockets->fds[i] < lowest ? sockets->fds[i] : lowest;
		highest = sockets->fds[i] > highest ? sockets->fds[i] : highest;
	}
	/* Between them, only keep can be open in a child: main's others were closed before. */
	if (keep < lowest || keep > highest) {
		listener_close_range(lowest, highest, sockets);
		return;
	}
	listener_close_range(lowest, keep - 1, sockets);
	listener_close_range(keep + 1, highest, sockets);
}

void listener_set_init(struct listener_set *set, const struct listener_sockets *sockets)
{
	set->sockets = sockets;
	set->epoll_fd = -1;
	if (sockets->count <= LISTENER_POLL_SOCKETS)
		return;
	set->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (set->epoll_fd < 0)
		die_errno("epoll_create1");
	for (size_t i = 0; i < sockets->count; i++) {
		struct epoll_event event = { .events = EPOLLIN, .data.u64 = i };

		if (epoll_ctl(set->epoll_fd, EPOLL_CTL_ADD, sockets->fds[i], &event) < 0)
			die_errno("epoll_ctl");
	}
}

nfds_t listener_set_pollfds(const struct listener_set *set, struct pollfd *fds, short events)
{
	if (set->epoll_fd >= 0) {
		fds[0] = (struct pollfd){ .fd = set->epoll_fd, .events = POLLIN };
		return 1;
	}
	for (size_t i = 0; i < set->sockets->count; i++)
		fds[i] = (struct pollfd){ .fd = set->sockets->fds[i], .events = events };
	return (nfds_t)set->sockets->count;
}

size_t listener_set_ready(const struct listener_set *set, const struct pollfd *fds,
			  size_t *ready, size_t max)
{
	struct epoll_event events[LISTENER_POLL_SOCKETS * 4];
	size_t count = 0;
	int got;

	if (set->epoll_fd < 0) {
		for (size_t i = 0; i < set->sockets->count && count < max; i++)
			if (fds[i].revents & (POLLIN | POLLERR))
				ready[count++] = i;
		return count;
	}
	if (!(fds[0].revents & POLLIN))
		return 0;
	/* Level-triggered: a socket left unread now is reported again next time. */
	got = epoll_wait(set->epoll_fd, events,
			 max < sizeof events / sizeof events[0] ? (int)max
								: (int)(sizeof events / sizeof events[0]), 0);
	for (int i = 0; i < got; i++)
		ready[count++] = (size_t)events[i].data.u64;
	return count;
}
