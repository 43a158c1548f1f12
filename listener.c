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
	log_msg("refused %lu more -> %u: not in ALLOW_FROM (logged once a second)",
		core->refused_unlogged, core->port);
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
	log_msg("port %u: refused %s: \"%s\" is not for this client (POLICY%s%s) (policy; "
		"logged once a second)", core->port, log_addr(client, shown, sizeof shown),
		core->target, known >= 0 ? ": client " : "",
		known >= 0 ? core->policy->clients[known].text : "");
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
	log_msg("refused %s -> %u: not in ALLOW_FROM", log_addr(client, shown, sizeof shown),
		core->port);
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
	struct pollfd all[3] = { { .fd = core->signal_fd, .events = POLLIN } };
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
		log_msg("port %u: stopping, %zu open", core->port, core->slots.used);
	for (long long left; core->slots.used > 0 && (left = deadline - proc_now_ms()) > 0;) {
		listener_poll(core, NULL, 0, (int)left);
		listener_reap_all(core);
	}
	if (core->slots.used > 0) {
		log_msg("port %u: grace period over, ending %zu still open", core->port,
			core->slots.used);
		listener_kill_children(&core->slots, SIGKILL);
		for (pid_t pid; core->slots.used > 0 && (pid = waitpid(-1, NULL, 0)) > 0;)
			if (slots_give(&core->slots, pid))
				atomic_fetch_sub_explicit(&core->stats->connections_active, 1,
							  memory_order_relaxed);
	}
	_exit(0);
}

void listener_become(struct listener_core *core, uint16_t port, const struct conf *conf,
		     struct shared *shared)
{
	sigset_t handled;
	char name[PROC_COMM_SIZE];

	memset(core, 0, sizeof *core);
	core->port = port;
	core->verbose = conf->verbose;
	core->stats = shared_port_of(shared, port);
	core->allow = &conf->allow;
	core->policy = conf->policy;
	core->policy_here = !conf->routed && conf->policy && conf->policy->text;
	core->target = conf->target;
	core->shared = shared;
	/* For people reading ps; relays inherit it. */
	snprintf(name, sizeof name, SHARED_LISTENER_COMM, port);
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
		die_errno("port %u: signalfd", port);
	if (slots_init(&core->slots, conf->max_connections) < 0)
		die("port %u: out of memory", port);
}
