/*
 * whitelist: forwards the PORTs to TARGET, as the tecnativa/whitelist image
 * did with one socat per port, configured by the same environment variables.
 *
 * The main process reads the configuration, resolves ALLOW_FROM's names and
 * TARGET (PRE_RESOLVE=1, target.h), makes the shared memory (shared.h),
 * binds every port and METRICS_PORT (so any error stops it before it
 * serves), becomes RUN_AS, then forks one listener process per port (tcp.h
 * or udp.h), and the metrics server (metrics.h), and supervises them: it may
 * be PID 1 of a container, so it reaps every process handed to it, forwards
 * SIGTERM/SIGINT for a graceful stop, and exits non-zero when one of them
 * dies on its own so that the restart policy acts. Between signals it
 * resolves TARGET again every RESOLVE_INTERVAL, and the client names of
 * POLICY and ALLOW_FROM every POLICY_REFRESH_S (names.h, in a child of its
 * own: whitelist-names). Nothing calls
 * into this file.
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "every_port.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "names.h"
#include "policy.h"
#include "process.h"
#include "shared.h"
#include "target.h"
#include "tcp.h"
#include "udp.h"

/* Set by the signal handlers of the main process; read outside them. */
static volatile sig_atomic_t main_stopping;

/* One listener process: a PORT entry's, or the metrics server. */
struct main_listener {
	const char *name;	/* the entry as written ("20000-20100"), or METRICS_PORT's */
	size_t entry;		/* index in conf->entries and shared->ports */
	int *fds;		/* its sockets: within main_state.fds; -1 once handed over */
	size_t nfds;
	pid_t pid;	/* 0 once reaped */
	int is_metrics;	/* the METRICS_PORT server, not a forwarded port */
};

/* What main works with once set up. */
struct main_state {
	struct conf *conf;
	struct shared *shared;
	struct target target;
	int cancel_fd;		/* a signalfd of SIGTERM and SIGINT: ends a lookup at once */
	sigset_t wait_mask;	/* the mask while waiting: SIGTERM, SIGINT, SIGCHLD let in */
	struct main_listener listeners[CONF_MAX_ENTRIES + 2];	/* PORT's, CONNECT_PORT, METRICS_PORT */
	size_t count;
	int fds[CONF_MAX_PORTS + 2];	/* every listening socket, entry after entry */
	char metrics_name[8];
	pid_t names_pid;	/* the client names' lookup under way (refresh_names), 0: none */
};

static volatile sig_atomic_t main_stop_signal;	/* SIGTERM or SIGINT, once one came */

static void on_stop(int signo)
{
	main_stop_signal = signo;
	main_stopping = 1;
}

/* VERBOSE=1: the line that says a signal began the stop. */
static void log_stop(const struct conf *conf)
{
	const char *name = main_stop_signal == SIGINT ? "SIGINT" : "SIGTERM";

	if (main_stop_signal && conf->verbose >= 1)
		log_event(LOG_INFO, "stop", LOG_FIELDS(LOG_STR("signal", name)), "stopping on %s",
			  name);
}

/* SIGCHLD only needs to wake ppoll; the loop reaps after every wake-up. */
static void on_child(int signo)
{
	(void)signo;
}

/*
 * Blocks the handled signals, installs the handlers, and ignores the ones a
 * PID 1 would ignore anyway: the same behaviour under `docker run --init`.
 */
static void main_signals(struct main_state *state)
{
	static const int ignored[] = { SIGPIPE, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM, SIGQUIT };
	struct sigaction stop = { .sa_handler = on_stop };
	struct sigaction child = { .sa_handler = on_child };
	sigset_t handled, cancel;

	sigemptyset(&handled);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGCHLD);
	sigprocmask(SIG_BLOCK, &handled, &state->wait_mask);
	sigdelset(&state->wait_mask, SIGTERM);
	sigdelset(&state->wait_mask, SIGINT);
	sigdelset(&state->wait_mask, SIGCHLD);
	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGCHLD, &child, NULL);
	for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		signal(ignored[i], SIG_IGN);
	/* Readable while SIGTERM or SIGINT is pending (blocked): a lookup watches it. */
	sigemptyset(&cancel);
	sigaddset(&cancel, SIGTERM);
	sigaddset(&cancel, SIGINT);
	state->cancel_fd = signalfd(-1, &cancel, SFD_CLOEXEC | SFD_NONBLOCK);
	if (state->cancel_fd < 0)
		die_errno("signalfd");
}

static const char *env_get(const char *name)
{
	return getenv(name);
}

/* One child per connection, each with a few descriptors: allow what the hard limit does. */
static void raise_fd_limit(void)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
		limit.rlim_cur = limit.rlim_max;
		setrlimit(RLIMIT_NOFILE, &limit);
	}
}

/* RUN_AS=0:GID: root keeps its uid, and takes the gid asked for. */
static void drop_to_gid(gid_t gid)
{
	if (gid == 0)
		return;
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0) {
		if (errno != EPERM)
			die_errno("RUN_AS: unable to become gid %u", (unsigned)gid);
		log_msg("RUN_AS: no CAP_SETGID, staying gid 0");
	}
}

/*
 * As root, after binding: become RUN_AS, so no connection is ever handled
 * with root's rights; no_new_privs in every case. Without CAP_SETUID
 * (cap_drop: ALL) uid 0 has no capabilities left to lose: say so, go on.
 */
static void drop_privileges(const struct conf *conf)
{
	gid_t gid = (gid_t)conf->run_gid;

	if (geteuid() == 0 && conf->run_uid == 0) {
		drop_to_gid(gid);
	} else if (geteuid() == 0) {
		if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid((uid_t)conf->run_uid) < 0) {
			if (errno != EPERM)
				die_errno("RUN_AS: unable to become %ld:%ld", conf->run_uid,
					  conf->run_gid);
			log_msg("RUN_AS: no CAP_SETUID/CAP_SETGID, staying uid 0 without them");
		} else if (setuid(0) == 0) {
			die("RUN_AS: uid 0 could be regained after dropping it");
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die_errno("unable to set no_new_privs");
}

/* Who owns what main creates before dropping privileges: RUN_AS, so it can be removed. */
static uid_t main_owner(const struct conf *conf)
{
	return geteuid() == 0 ? (uid_t)conf->run_uid : geteuid();
}

/* Binds one socket of an entry; dies naming the entry when it cannot. */
static int bind_one(const struct conf *conf, const struct conf_port *entry, uint16_t port)
{
	/* PORT=*: any free port, which the redirect rule then names (every_port.h). */
	int fd = listener_bind(conf->mode, entry->first ? port : 0);

	if (fd < 0 && entry->first != entry->last)
		die_errno("unable to bind %s port %u (PORT entry %s)",
			  conf->mode == CONF_MODE_TCP ? "tcp" : "udp", port, entry->text);
	if (fd < 0)
		die_errno("unable to bind %s port %s", conf->mode == CONF_MODE_TCP ? "tcp" : "udp",
			  entry->text);
	return fd;
}

/*
 * Every entry's sockets (PORT's, then CONNECT_PORT's), then METRICS_PORT
 * (tcp, dual-stack too). The sockets are owned by RUN_AS (a socket's owner
 * is the fsuid that made it): UDP sessions, running as RUN_AS, may only
 * join a port's reuseport group when its owner is theirs. Binding below
 * 1024 still uses root's rights.
 */
static void bind_all(struct main_state *state)
{
	const struct conf *conf = state->conf;
	uid_t before = (uid_t)setfsuid(main_owner(conf));
	int *next = state->fds;

	for (size_t i = 0; i < conf_listener_entries(conf); i++) {
		const struct conf_port *entry = &conf->entries[i];
		struct main_listener *listener = &state->listeners[i];

		*listener = (struct main_listener){ .name = entry->text, .entry = i, .fds = next,
						    .nfds = conf_port_sockets(entry) };
		for (size_t j = 0; j < listener->nfds; j++)
			*next++ = bind_one(conf, entry, (uint16_t)(entry->first + j));
	}
	state->count = conf_listener_entries(conf);
	if (conf->metrics_port) {
		struct main_listener *metrics = &state->listeners[state->count++];

		snprintf(state->metrics_name, sizeof state->metrics_name, "%u", conf->metrics_port);
		*metrics = (struct main_listener){ .name = state->metrics_name, .fds = next,
						   .nfds = 1, .is_metrics = 1 };
		*next = listener_bind(CONF_MODE_TCP, conf->metrics_port);
		if (*next < 0)
			die_errno("unable to bind METRICS_PORT %u", conf->metrics_port);
	}
	setfsuid(before);
}

/* Closes listener's sockets (main's copies once handed over; a neighbour's in a listener). */
static void close_sockets(struct main_listener *listener)
{
	for (size_t i = 0; i < listener->nfds; i++)
		if (listener->fds[i] >= 0) {
			close(listener->fds[i]);
			listener->fds[i] = -1;
		}
}

/* In the new child of listeners[index]: the others' sockets closed, then its loop. */
static _Noreturn void run_listener(struct main_state *state, size_t index)
{
	struct main_listener *listener = &state->listeners[index];
	/* Static: relays start without the listener's stack, and read it (tcp.c). */
	static struct listener_sockets sockets;

	sockets = (struct listener_sockets){ .entry = listener->entry, .fds = listener->fds,
					     .count = listener->nfds };
	/* Else a port would stay open in its neighbours after its own listener ended. */
	for (size_t i = 0; i < state->count; i++)
		if (i != index)
			close_sockets(&state->listeners[i]);
	close(state->cancel_fd);
	if (listener->is_metrics) {
		proc_signals_child();
		metrics_serve(state->conf, state->shared, listener->fds[0]);
	}
	if (state->conf->mode == CONF_MODE_TCP)
		tcp_serve(state->conf, &state->target, state->shared, &sockets);
	udp_serve(state->conf, &state->target, state->shared, &sockets);
}

/* The port a socket is bound to: PORT=*'s, which the kernel chose. */
static uint16_t bound_port(int fd)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof addr;

	if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
		die_errno("getsockname");
	return addr_port((struct sockaddr *)&addr);
}

/* Each socket's inode (and PORT=*'s port) in the state, for the healthcheck. */
static void publish_sockets(struct main_state *state, const struct main_listener *listener)
{
	const struct shared_port *port = &state->shared->ports[listener->entry];
	struct shared_socket *sockets = shared_sockets(state->shared) + port->first_socket;

	for (size_t i = 0; i < listener->nfds && i < port->nsockets; i++) {
		struct stat info;

		if (fstat(listener->fds[i], &info) == 0)
			atomic_store(&sockets[i].inode, (uint64_t)info.st_ino);
		if (!port->port)
			atomic_store(&sockets[i].port, bound_port(listener->fds[i]));
	}
}

/* Starts the process of listeners[index], and publishes it for the healthcheck. */
static void start_listener(struct main_state *state, size_t index)
{
	struct main_listener *listener = &state->listeners[index];
	struct shared_port *port = listener->is_metrics ? NULL
				   : &state->shared->ports[listener->entry];
	pid_t pid;

	if (port)
		publish_sockets(state, listener);
	pid = fork();
	if (pid < 0)
		die_errno("unable to start the listener of port %s", listener->name);
	if (pid == 0)
		run_listener(state, index);
	listener->pid = pid;
	if (port)
		atomic_store(&port->listener_pid, (int32_t)pid);
	/* The listener owns the sockets now; our copies would keep the ports open after it. */
	close_sockets(listener);
}

/* Reaps every exited process (ours or orphans handed to PID 1); returns listeners lost. */
static int reap(struct main_state *state, size_t *alive)
{
	int lost = 0, status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == state->names_pid)
			state->names_pid = 0;
		for (size_t i = 0; i < state->count; i++) {
			struct main_listener *listener = &state->listeners[i];

			if (listener->pid != pid)
				continue;
			listener->pid = 0;
			(*alive)--;
			if (!main_stopping) {
				log_event(LOG_FATAL, "error", LOG_FIELDS(LOG_STR("port", listener->name)),
					  "fatal: the %s of port %s ended (%s %d)",
					  listener->is_metrics ? "metrics server" : "listener",
					  listener->name, WIFSIGNALED(status) ? "signal" : "status",
					  WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
				lost++;
			}
		}
	}
	return lost;
}

static void signal_listeners(const struct main_state *state, int signo)
{
	for (size_t i = 0; i < state->count; i++)
		if (state->listeners[i].pid > 0)
			kill(state->listeners[i].pid, signo);
}

/* Sends signo to every child of ours: orphaned relays have no listener to end them. */
static void signal_orphans(int signo)
{
	DIR *proc = opendir("/proc");
	struct dirent *entry;
	long self = (long)getpid();

	if (!proc)
		return;
	while ((entry = readdir(proc))) {
		long pid = strtol(entry->d_name, NULL, 10);
		struct proc_stat stat;

		if (pid > 0 && proc_stat_read(pid, &stat) == 0 && stat.ppid == self)
			kill((pid_t)pid, signo);
	}
	closedir(proc);
}

/*
 * After the listeners: relays orphaned by a listener that died are ours now.
 * They get what is left of the grace period, then are ended.
 */
static void reap_orphans(long long deadline)
{
	struct timespec tick = { 0, 100 * 1000000L };
	sigset_t child;

	sigemptyset(&child);
	sigaddset(&child, SIGCHLD);
	for (;;) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);

		if (pid < 0)
			return;	/* ECHILD: nothing left */
		if (pid > 0)
			continue;
		if (proc_now_ms() >= deadline)
			break;
		sigtimedwait(&child, NULL, &tick);
	}
	signal_orphans(SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
}

/*
 * Sleeps until a signal comes or the time is `until` (0: no time limit).
 * ppoll unblocks the signals only while it waits, as sigsuspend does.
 */
static void wait_signal(const sigset_t *wait_mask, long long until)
{
	struct timespec timeout;
	long long left;

	if (!until) {
		ppoll(NULL, 0, NULL, wait_mask);
		return;
	}
	left = until - proc_now_ms();
	left = left < 0 ? 0 : left;
	timeout.tv_sec = left / 1000;
	timeout.tv_nsec = left % 1000 * 1000000L;
	ppoll(NULL, 0, &timeout, wait_mask);
}

/*
 * RESOLVE_INTERVAL: when due, resolves TARGET again (and routed mode reads
 * the proxy's networks again); returns when it is due next (0: never).
 */
static long long refresh_target(struct main_state *state, long long due)
{
	long long interval_ms = state->conf->resolve_interval * 1000LL;

	if (!target_refreshes(&state->target) || main_stopping)
		return 0;
	if (!due)
		return proc_now_ms() + interval_ms;
	if (proc_now_ms() < due)
		return due;
	target_refresh(&state->target, state->cancel_fd);
	return proc_now_ms() + interval_ms;
}

/*
 * The client names' lookup, in a child of its own: main must not wait on a
 * DNS that does not answer (it reaps, and forwards SIGTERM). The child is
 * the table's one writer: refresh_names starts no other while it runs.
 */
static pid_t start_names_lookup(struct main_state *state)
{
	char err[CONF_ERR_SIZE];
	pid_t pid = fork();

	if (pid < 0)
		log_errno("unable to start the lookup of POLICY's and ALLOW_FROM's names");
	if (pid != 0)
		return pid < 0 ? 0 : pid;
	prctl(PR_SET_NAME, SHARED_NAMES_COMM);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	proc_signals_child();
	close(state->cancel_fd);
	names_refresh(state->shared, state->conf->policy, 0, err, sizeof err);
	_exit(0);
}

/* Every POLICY_REFRESH_S: the client names again; returns when due next (0: never). */
static long long refresh_names(struct main_state *state, long long due)
{
	const struct policy *policy = state->conf->policy;

	if (!policy || policy->nnames == 0 || main_stopping)
		return 0;
	if (due && proc_now_ms() < due)
		return due;
	/* One still under way (a DNS that times out): this round is skipped. */
	if (due && state->names_pid == 0)
		state->names_pid = start_names_lookup(state);
	return proc_now_ms() + POLICY_REFRESH_S * 1000LL;
}

/* The earlier of two times when either may be 0 (never). */
static long long earliest(long long a, long long b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/* Until every listener has ended. 0 after a requested stop, 1 when one died by itself. */
static int supervise(struct main_state *state)
{
	long long deadline = 0, refresh_due = 0, names_due = 0;
	size_t alive = state->count;
	int failed = 0;

	while (alive > 0) {
		if (reap(state, &alive) > 0 && !failed) {
			failed = 1;
			main_stopping = 1;
		}
		if (main_stopping && !deadline) {
			log_stop(state->conf);
			signal_listeners(state, SIGTERM);
			deadline = proc_now_ms() + LISTENER_GRACE_MS;
		}
		refresh_due = refresh_target(state, refresh_due);
		names_due = refresh_names(state, names_due);
		if (alive > 0)
			wait_signal(&state->wait_mask, earliest(refresh_due, names_due));
	}
	/* Nothing listens any more: the redirect goes before the last relays are waited for. */
	every_port_teardown();
	reap_orphans(deadline);
	return failed;
}

/*
 * POLICY, checked against TARGET; its host names and ALLOW_FROM's gathered
 * (policy.h). A user:NAME rule must name a PROXY_USERS user, or it could
 * never match.
 */
static void load_policy(struct conf *conf, struct policy *policy)
{
	static char names[CONF_MAX_USERS][CONF_USER_SIZE];
	const char *users[CONF_MAX_USERS];
	char err[CONF_ERR_SIZE];

	if (policy_parse(policy, env_get("POLICY"), conf, err, sizeof err) < 0)
		die_config("%s", err);
	for (size_t i = 0; i < conf->nusers; i++) {
		snprintf(names[i], sizeof names[i], "%.*s", (int)conf->users[i].name_len,
			 conf->users[i].pair);
		users[i] = names[i];
	}
	if (policy_check_users(policy, users, conf->nusers, err, sizeof err) < 0)
		die_config("%s", err);
	conf->policy = policy;
}

/*
 * The client names' first lookup, into shared memory: one that does not
 * resolve stops the proxy (a typo must not look like a working rule).
 * Then what ALLOW_FROM and POLICY allow, for the log.
 */
static void resolve_client_names(struct main_state *state)
{
	const struct conf *conf = state->conf;
	const struct policy *policy = conf->policy;
	size_t count = conf->allow.count;
	char err[CONF_ERR_SIZE];

	if (names_refresh(state->shared, policy, 1, err, sizeof err) < 0)
		die_config("%s", err);
	for (size_t i = 0; i < policy->nnames; i++)
		if (policy->allow_names & (UINT32_C(1) << i))
			count += names_count(state->shared, (unsigned)i);
	if (conf->allow.text)
		log_msg("ALLOW_FROM: %zu address%s or network%s (%s), and loopback", count,
			count == 1 ? "" : "es", count == 1 ? "" : "s", conf->allow.text);
	if (policy->text)
		log_msg("POLICY: %zu client%s, %zu client-entry pair%s; host names looked up "
			"every %d s", policy->nclients, policy->nclients == 1 ? "" : "s",
			policy->ngrants, policy->ngrants == 1 ? "" : "s", POLICY_REFRESH_S);
}

/* The state file, removed when main ends (every way but SIGKILL); its children skip it. */
static const struct shared *published_state;

static void unpublish_at_exit(void)
{
	if (published_state && (int32_t)getpid() == published_state->main_pid)
		shared_unpublish(published_state);
}

/*
 * The shared memory, published for the healthcheck when the temp dir allows;
 * else anonymous memory, and one line that says why.
 */
static void make_shared(struct main_state *state)
{
	const struct conf *conf = state->conf;
	size_t size = sizeof(struct shared) + conf->nports * sizeof(struct shared_port);
	const char *dir;
	int published, saved;

	state->shared = shared_create_conf(conf, main_owner(conf), &published);
	if (!state->shared)
		die_errno("unable to map the shared counters");
	published_state = state->shared;
	atexit(unpublish_at_exit);	/* die_config, die_errno and return alike */
	if (published)
		return;
	saved = errno;
	dir = shared_dir();
	errno = saved;
	if (errno == ENOSPC || errno == EDQUOT)
		log_msg("no room in %s for the state (%zu kB): running on anonymous memory, "
			"which the healthcheck cannot read: give %s more room (e.g. --shm-size)",
			dir, (size + 1023) / 1024, dir);
	else
		log_errno("unable to publish the state for the healthcheck in %s (make it "
			  "writable, e.g. a tmpfs): running on anonymous memory; healthcheck will "
			  "fail", dir);
}

/* PORT's entries as written, for the start line ("21 30000-30009"), cut when long. */
static const char *entries_text(const struct conf *conf, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < conf->nentries && used + CONF_PORT_TEXT + 8 < size; i++)
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? " " : "",
					 conf->entries[i].text);
	if (used + CONF_PORT_TEXT + 8 >= size)
		snprintf(out + used, size - used, " ...");
	return out;
}

static void log_started(const struct main_state *state)
{
	const struct conf *conf = state->conf;
	char ports[256];

	const char *mode = conf->routed ? "routed" : conf->mode == CONF_MODE_TCP ? "tcp" : "udp";
	const struct log_field *fields;

	entries_text(conf, ports, sizeof ports);
	fields = LOG_FIELDS(LOG_STR("mode", mode), LOG_STR("ports", ports),
			    LOG_STR("target", conf->routed ? conf->targets : conf->target));
	if (conf->routed)
		log_event(LOG_INFO, "start", fields,
			  "routing tcp port%s %s by name (TLS SNI, HTTP Host) to %s",
			  conf->nports == 1 ? "" : "s", ports, conf->targets);
	else
		log_event(LOG_INFO, "start", fields, "forwarding %s port%s %s to %s", mode,
			  conf->nports == 1 || conf->every_port ? "" : "s", ports, conf->target);
	if (conf->connect_port)
		log_event(LOG_INFO, "start",
			  LOG_FIELDS(LOG_STR("mode", "connect"),
				     LOG_STR("port", conf->entries[conf->nentries].text),
				     LOG_STR("target", conf->targets)),
			  "explicit proxy (CONNECT, absolute-form http://) on tcp port %u to %s on "
			  "PORT's ports%s", conf->connect_port, conf->targets,
			  conf->nusers ? ", with PROXY_USERS" : "");
	if (conf->metrics_port)
		log_msg("metrics at http://*:%u/metrics", conf->metrics_port);
	if (target_resolves_again(&state->target))
		log_msg("resolving %s again every %ld s", conf->target, conf->resolve_interval);
	else if (conf->resolve_interval > 0 && !conf->pre_resolve && !target_refreshes(&state->target))
		log_msg("RESOLVE_INTERVAL: no effect without PRE_RESOLVE=1 (each connection "
			"resolves TARGET already)");
}

int main(void)
{
	static struct conf conf;
	static struct main_state state = { .conf = &conf };
	static struct policy policy;
	char err[CONF_ERR_SIZE];

	/* First: what conf_load keeps must not point into the stack relays do not inherit. */
	proc_environ_to_heap();
	log_init("whitelist");
	int loaded = conf_load(&conf, env_get, err, sizeof err);

	log_set_format(conf.log_format);	/* before the first fork: every child writes in it */
	if (loaded < 0)
		die_config("%s", err);
	if (conf.every_port && !every_port_capable())
		die_config("PORT: \"*\" needs CAP_NET_ADMIN, to redirect every tcp port to the proxy "
			   "in its own network namespace (docker run --cap-add NET_ADMIN; compose: "
			   "cap_add: [NET_ADMIN])");
	load_policy(&conf, &policy);
	raise_fd_limit();
	main_signals(&state);
	/* Before the first fork: every process must map the same pages. */
	make_shared(&state);
	resolve_client_names(&state);
	if (target_setup(&state.target, &conf, state.shared, state.cancel_fd) == TARGET_STOPPING) {
		log_msg("stopped during the lookup of TARGET %s", conf.target);
		return 0;
	}
	bind_all(&state);
	if (conf.every_port) {
		/* As root still: the keeper that removes the rule stays root (every_port.h). */
		every_port_setup(&conf, bound_port(state.listeners[0].fds[0]));
		atexit(every_port_teardown);
	}
	drop_privileges(&conf);
	/* Relays whose listener died are re-parented to us, not lost as zombies. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (size_t i = 0; i < state.count; i++)
		start_listener(&state, i);
	log_started(&state);
	return supervise(&state);
}
