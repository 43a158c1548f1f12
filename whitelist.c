/*
 * whitelist: forwards the PORTs to TARGET, as the tecnativa/whitelist image
 * did with one socat per port, configured by the same environment variables.
 *
 * The main process reads the configuration, resolves ALLOW_FROM's names and
 * TARGET (PRE_RESOLVE=1), makes the shared memory (shared.h), binds every
 * port and METRICS_PORT (so any error stops it before it serves), becomes
 * RUN_AS, then forks one listener process per port, and the metrics server,
 * and supervises them: it may be PID 1 of a container, so it reaps every
 * process handed to it, forwards SIGTERM/SIGINT for a graceful stop, and
 * exits non-zero when one of them dies on its own so that the restart policy
 * acts. Between signals it resolves TARGET again every RESOLVE_INTERVAL
 * (target.c).
 */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proxy.h"

/* Set by the signal handlers of the main process; read outside them. */
static volatile sig_atomic_t proxy_stopping;
static volatile sig_atomic_t proxy_child_exited;

struct listener {
	uint16_t port;
	int fd;
	pid_t pid;	/* 0 once reaped */
	int is_metrics;	/* the METRICS_PORT server, not a forwarded port */
};

static void on_stop(int signo)
{
	(void)signo;
	proxy_stopping = 1;
}

static void on_child(int signo)
{
	(void)signo;
	proxy_child_exited = 1;
}

/* Blocks the handled signals, installs the handlers; returns the mask to wait with. */
static void proxy_signals_block(sigset_t *wait_mask)
{
	struct sigaction stop = { .sa_handler = on_stop };
	struct sigaction child = { .sa_handler = on_child };
	sigset_t handled;

	sigemptyset(&handled);
	sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	sigaddset(&handled, SIGCHLD);
	sigprocmask(SIG_BLOCK, &handled, wait_mask);
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGCHLD);
	sigaction(SIGTERM, &stop, NULL);
	sigaction(SIGINT, &stop, NULL);
	sigaction(SIGCHLD, &child, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void proxy_signals_child(void)
{
	sigset_t none;

	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGINT, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

long long proxy_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
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

/*
 * As root, after binding: become RUN_AS, so no connection is ever handled
 * with root's rights; no_new_privs in every case. Without CAP_SETUID
 * (cap_drop: ALL) uid 0 has no capabilities left to lose: say so, go on.
 */
static void drop_privileges(const struct conf *conf)
{
	if (geteuid() == 0 && conf->run_uid != 0) {
		gid_t gid = (gid_t)conf->run_gid;

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

/*
 * Every port, then METRICS_PORT (tcp, dual-stack too); returns how many
 * processes to start. The sockets are owned by RUN_AS (a socket's owner is
 * the fsuid that made it): UDP sessions, running as RUN_AS, may only join a
 * port's reuseport group when its owner is theirs. Binding below 1024 still
 * uses root's rights.
 */
static size_t bind_all(const struct conf *conf, struct listener *listeners)
{
	size_t count = conf->nports;

	if (geteuid() == 0)
		setfsuid((uid_t)conf->run_uid);

	for (size_t i = 0; i < conf->nports; i++) {
		listeners[i] = (struct listener){ .port = conf->ports[i] };
		listeners[i].fd = listener_bind(conf->mode, conf->ports[i]);
		if (listeners[i].fd < 0)
			die_errno("unable to bind %s port %u", conf->mode == CONF_MODE_TCP ? "tcp" : "udp",
				  conf->ports[i]);
	}
	if (conf->metrics_port) {
		listeners[count] = (struct listener){ .port = conf->metrics_port, .is_metrics = 1 };
		listeners[count].fd = listener_bind(CONF_MODE_TCP, conf->metrics_port);
		if (listeners[count].fd < 0)
			die_errno("unable to bind METRICS_PORT %u", conf->metrics_port);
		count++;
	}
	if (geteuid() == 0)
		setfsuid(0);
	return count;
}

/* Starts the process of listeners[index]; the others' sockets stay out of it. */
static void start_listener(const struct proxy *proxy, struct listener *listeners, size_t count,
			   size_t index)
{
	struct listener *listener = &listeners[index];
	pid_t pid = fork();

	if (pid < 0)
		die_errno("unable to start the listener of port %u", listener->port);
	if (pid == 0) {
		/* Else a port would stay open in its neighbours after its own listener ended. */
		for (size_t i = 0; i < count; i++)
			if (i != index && listeners[i].fd >= 0)
				close(listeners[i].fd);
		if (listener->is_metrics) {
			proxy_signals_child();
			metrics_serve(proxy, listener->fd);
		}
		if (proxy->conf->mode == CONF_MODE_TCP)
			listener_tcp_serve(proxy, listener->fd, listener->port);
		udp_serve(proxy, listener->fd, listener->port);
	}
	listener->pid = pid;
	/* The listener owns the socket now; our copy would keep the port open after it. */
	close(listener->fd);
	listener->fd = -1;
}

/* Reaps every exited process (ours or orphans handed to PID 1); returns listeners lost. */
static int reap(struct listener *listeners, size_t count, size_t *alive)
{
	int lost = 0, status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < count; i++) {
			if (listeners[i].pid != pid)
				continue;
			listeners[i].pid = 0;
			(*alive)--;
			if (!proxy_stopping) {
				log_msg("fatal: the %s of port %u ended (%s %d)",
					listeners[i].is_metrics ? "metrics server" : "listener",
					listeners[i].port, WIFSIGNALED(status) ? "signal" : "status",
					WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
				lost++;
			}
		}
	}
	return lost;
}

static void signal_listeners(const struct listener *listeners, size_t count, int signo)
{
	for (size_t i = 0; i < count; i++)
		if (listeners[i].pid > 0)
			kill(listeners[i].pid, signo);
}

/* Sends signo to every child of ours: orphaned relays have no listener to end them. */
static void signal_orphans(int signo)
{
	DIR *proc = opendir("/proc");
	struct dirent *entry;
	pid_t self = getpid();

	if (!proc)
		return;
	while ((entry = readdir(proc))) {
		char path[64], stat[512], *close_paren;
		long pid = strtol(entry->d_name, NULL, 10), ppid;
		FILE *file;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		if (!(file = fopen(path, "r")))
			continue;
		close_paren = fgets(stat, sizeof stat, file) ? strrchr(stat, ')') : NULL;
		fclose(file);
		if (close_paren && sscanf(close_paren, ") %*c %ld", &ppid) == 1 && ppid == self)
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
		if (proxy_now_ms() >= deadline)
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
	left = until - proxy_now_ms();
	left = left < 0 ? 0 : left;
	timeout.tv_sec = left / 1000;
	timeout.tv_nsec = left % 1000 * 1000000L;
	ppoll(NULL, 0, &timeout, wait_mask);
}

/* RESOLVE_INTERVAL: when due, resolves TARGET again; returns when it is due next (0: never). */
static long long refresh_target(struct proxy *proxy, long long due)
{
	long long interval_ms = proxy->conf->resolve_interval * 1000LL;

	if (!target_refreshes(proxy) || proxy_stopping)
		return 0;
	if (!due)
		return proxy_now_ms() + interval_ms;
	if (proxy_now_ms() < due)
		return due;
	target_refresh(proxy);
	return proxy_now_ms() + interval_ms;
}

/* Until every listener has ended. 0 after a requested stop, 1 when one died by itself. */
static int supervise(struct proxy *proxy, struct listener *listeners, size_t count,
		     const sigset_t *wait_mask)
{
	long long deadline = 0, refresh_due = 0;
	size_t alive = count;
	int failed = 0;

	while (alive > 0) {
		if (reap(listeners, count, &alive) > 0 && !failed) {
			failed = 1;
			proxy_stopping = 1;
		}
		if (proxy_stopping && !deadline) {
			signal_listeners(listeners, count, SIGTERM);
			deadline = proxy_now_ms() + PROXY_GRACE_MS;
		}
		refresh_due = refresh_target(proxy, refresh_due);
		if (alive > 0)
			wait_signal(wait_mask, refresh_due);
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

int main(void)
{
	static struct conf conf;
	static struct listener listeners[CONF_MAX_PORTS + 1];
	struct proxy proxy = { .conf = &conf };
	char err[CONF_ERR_SIZE];
	sigset_t wait_mask;
	size_t count;
	int status;

	log_init("whitelist");
	if (conf_load(&conf, env_get, err, sizeof err) < 0)
		die_config("%s", err);
	resolve_allow_from(&conf);
	raise_fd_limit();
	proxy_signals_block(&wait_mask);
	/* Before the first fork: every process must map the same pages. */
	if (!(proxy.shared = shared_create(&conf)))
		die_errno("unable to map the shared counters");
	/* TARGET's one address, when it has one: an IP literal, or PRE_RESOLVE=1. */
	target_setup(&proxy);
	count = bind_all(&conf, listeners);
	drop_privileges(&conf);
	if (conf.pre_resolve)
		target_file_write(&proxy);	/* as RUN_AS, so a refresh can replace it */
	/* Relays whose listener died are re-parented to us, not lost as zombies. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (size_t i = 0; i < count; i++)
		start_listener(&proxy, listeners, count, i);
	log_msg("forwarding %zu %s port%s to %s", conf.nports,
		conf.mode == CONF_MODE_TCP ? "tcp" : "udp", conf.nports > 1 ? "s" : "", conf.target);
	if (conf.metrics_port)
		log_msg("metrics at http://*:%u/metrics", conf.metrics_port);
	if (target_refreshes(&proxy))
		log_msg("resolving %s again every %ld s", conf.target, conf.resolve_interval);
	else if (conf.resolve_interval > 0 && !conf.pre_resolve)
		log_msg("RESOLVE_INTERVAL: no effect without PRE_RESOLVE=1 (each connection "
			"resolves TARGET already)");
	status = supervise(&proxy, listeners, count, &wait_mask);
	if (conf.pre_resolve)
		target_file_remove();
	return status;
}
