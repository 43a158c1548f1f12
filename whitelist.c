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
 * resolves TARGET again every RESOLVE_INTERVAL. Nothing calls into this file.
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "process.h"
#include "shared.h"
#include "target.h"
#include "tcp.h"
#include "udp.h"

/* Set by the signal handlers of the main process; read outside them. */
static volatile sig_atomic_t main_stopping;

struct main_listener {
	uint16_t port;
	int fd;
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
	struct main_listener listeners[CONF_MAX_PORTS + 1];
	size_t count;
};

static void on_stop(int signo)
{
	(void)signo;
	main_stopping = 1;
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

/*
 * Every port, then METRICS_PORT (tcp, dual-stack too). The sockets are
 * owned by RUN_AS (a socket's owner is the fsuid that made it): UDP
 * sessions, running as RUN_AS, may only join a port's reuseport group when
 * its owner is theirs. Binding below 1024 still uses root's rights.
 */
static void bind_all(struct main_state *state)
{
	const struct conf *conf = state->conf;
	uid_t before = (uid_t)setfsuid(main_owner(conf));

	for (size_t i = 0; i < conf->nports; i++) {
		state->listeners[i] = (struct main_listener){ .port = conf->ports[i] };
		state->listeners[i].fd = listener_bind(conf->mode, conf->ports[i]);
		if (state->listeners[i].fd < 0)
			die_errno("unable to bind %s port %u", conf->mode == CONF_MODE_TCP ? "tcp" : "udp",
				  conf->ports[i]);
	}
	state->count = conf->nports;
	if (conf->metrics_port) {
		struct main_listener *metrics = &state->listeners[state->count++];

		*metrics = (struct main_listener){ .port = conf->metrics_port, .is_metrics = 1 };
		metrics->fd = listener_bind(CONF_MODE_TCP, conf->metrics_port);
		if (metrics->fd < 0)
			die_errno("unable to bind METRICS_PORT %u", conf->metrics_port);
	}
	setfsuid(before);
}

/* In the new child of listeners[index]: the others' sockets closed, then its loop. */
static _Noreturn void run_listener(struct main_state *state, size_t index)
{
	struct main_listener *listener = &state->listeners[index];

	/* Else a port would stay open in its neighbours after its own listener ended. */
	for (size_t i = 0; i < state->count; i++)
		if (i != index && state->listeners[i].fd >= 0)
			close(state->listeners[i].fd);
	close(state->cancel_fd);
	if (listener->is_metrics) {
		proc_signals_child();
		metrics_serve(state->conf, state->shared, listener->fd);
	}
	if (state->conf->mode == CONF_MODE_TCP)
		tcp_serve(state->conf, &state->target, state->shared, listener->fd, listener->port);
	udp_serve(state->conf, &state->target, state->shared, listener->fd, listener->port);
}

/* Starts the process of listeners[index], and publishes it for the healthcheck. */
static void start_listener(struct main_state *state, size_t index)
{
	struct main_listener *listener = &state->listeners[index];
	struct shared_port *port = listener->is_metrics ? NULL
				   : shared_port_of(state->shared, listener->port);
	struct stat socket_info;
	pid_t pid;

	if (port && fstat(listener->fd, &socket_info) == 0)
		atomic_store(&port->listener_inode, (uint64_t)socket_info.st_ino);
	pid = fork();
	if (pid < 0)
		die_errno("unable to start the listener of port %u", listener->port);
	if (pid == 0)
		run_listener(state, index);
	listener->pid = pid;
	if (port)
		atomic_store(&port->listener_pid, (int32_t)pid);
	/* The listener owns the socket now; our copy would keep the port open after it. */
	close(listener->fd);
	listener->fd = -1;
}

/* Reaps every exited process (ours or orphans handed to PID 1); returns listeners lost. */
static int reap(struct main_state *state, size_t *alive)
{
	int lost = 0, status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < state->count; i++) {
			struct main_listener *listener = &state->listeners[i];

			if (listener->pid != pid)
				continue;
			listener->pid = 0;
			(*alive)--;
			if (!main_stopping) {
				log_msg("fatal: the %s of port %u ended (%s %d)",
					listener->is_metrics ? "metrics server" : "listener",
					listener->port, WIFSIGNALED(status) ? "signal" : "status",
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

/* RESOLVE_INTERVAL: when due, resolves TARGET again; returns when it is due next (0: never). */
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

/* Until every listener has ended. 0 after a requested stop, 1 when one died by itself. */
static int supervise(struct main_state *state)
{
	long long deadline = 0, refresh_due = 0;
	size_t alive = state->count;
	int failed = 0;

	while (alive > 0) {
		if (reap(state, &alive) > 0 && !failed) {
			failed = 1;
			main_stopping = 1;
		}
		if (main_stopping && !deadline) {
			signal_listeners(state, SIGTERM);
			deadline = proc_now_ms() + LISTENER_GRACE_MS;
		}
		refresh_due = refresh_target(state, refresh_due);
		if (alive > 0)
			wait_signal(&state->wait_mask, refresh_due);
	}
	reap_orphans(deadline);
	return failed;
}

/* ALLOW_FROM's host names, resolved once, and what it allows, for the log. */
static void resolve_allow_from(struct conf *conf)
{
	char err[CONF_ERR_SIZE];

	if (!conf->allow.text)
		return;
	if (conf_allow_resolve(conf, err, sizeof err) < 0)
		die_config("%s", err);
	log_msg("ALLOW_FROM: %zu address%s or network%s (%s), and loopback", conf->allow.count,
		conf->allow.count == 1 ? "" : "es", conf->allow.count == 1 ? "" : "s",
		conf->allow.text);
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

static void log_started(const struct main_state *state)
{
	const struct conf *conf = state->conf;

	if (conf->routed)
		log_msg("routing %zu tcp port%s by name (TLS SNI, HTTP Host) to %s", conf->nports,
			conf->nports > 1 ? "s" : "", conf->targets);
	else
		log_msg("forwarding %zu %s port%s to %s", conf->nports,
			conf->mode == CONF_MODE_TCP ? "tcp" : "udp", conf->nports > 1 ? "s" : "",
			conf->target);
	if (conf->metrics_port)
		log_msg("metrics at http://*:%u/metrics", conf->metrics_port);
	if (target_refreshes(&state->target))
		log_msg("resolving %s again every %ld s", conf->target, conf->resolve_interval);
	else if (conf->resolve_interval > 0 && !conf->pre_resolve)
		log_msg("RESOLVE_INTERVAL: no effect without PRE_RESOLVE=1 (each connection "
			"resolves TARGET already)");
}

int main(void)
{
	static struct conf conf;
	static struct main_state state = { .conf = &conf };
	char err[CONF_ERR_SIZE];

	/* First: what conf_load keeps must not point into the stack relays do not inherit. */
	proc_environ_to_heap();
	log_init("whitelist");
	if (conf_load(&conf, env_get, err, sizeof err) < 0)
		die_config("%s", err);
	resolve_allow_from(&conf);
	raise_fd_limit();
	main_signals(&state);
	/* Before the first fork: every process must map the same pages. */
	make_shared(&state);
	if (target_setup(&state.target, &conf, state.shared, state.cancel_fd) == TARGET_STOPPING) {
		log_msg("stopped during the lookup of TARGET %s", conf.target);
		return 0;
	}
	bind_all(&state);
	drop_privileges(&conf);
	/* Relays whose listener died are re-parented to us, not lost as zombies. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (size_t i = 0; i < state.count; i++)
		start_listener(&state, i);
	log_started(&state);
	return supervise(&state);
}
