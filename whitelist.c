/*
 * whitelist: forwards the PORTs to TARGET, as the tecnativa/whitelist image
 * did with one socat per port, configured by the same environment variables.
 *
 * The main process reads the configuration, resolves TARGET when
 * PRE_RESOLVE=1, binds every port (so any error stops it before it serves),
 * then forks one listener process per port and supervises them: it may be
 * PID 1 of a container, so it reaps every process handed to it, forwards
 * SIGTERM/SIGINT to the listeners for a graceful stop, and exits non-zero
 * when a listener dies on its own so that the restart policy acts.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proxy.h"
#include "resolve.h"

/* Set by the signal handlers of the main process; read outside them. */
static volatile sig_atomic_t proxy_stopping;
static volatile sig_atomic_t proxy_child_exited;

struct listener {
	uint16_t port;
	int fd;
	pid_t pid;	/* 0 once reaped */
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

/* Stores a resolved address (4 or 16 bytes) as the fixed target of every connection. */
static void set_fixed_target(struct proxy *proxy, int family, const unsigned char *addr)
{
	memset(&proxy->fixed_target, 0, sizeof proxy->fixed_target);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&proxy->fixed_target;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr, 4);
		proxy->fixed_target_len = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&proxy->fixed_target;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr, 16);
		proxy->fixed_target_len = sizeof *sin6;
	}
	proxy->has_fixed_target = 1;
}

/* 1 and the address set when TARGET is an IP literal (v4 or v6). */
static int use_literal_target(struct proxy *proxy)
{
	unsigned char addr[16];

	if (inet_pton(AF_INET, proxy->conf->target, addr) == 1)
		set_fixed_target(proxy, AF_INET, addr);
	else if (inet_pton(AF_INET6, proxy->conf->target, addr) == 1)
		set_fixed_target(proxy, AF_INET6, addr);
	else
		return 0;
	return 1;
}

/* PRE_RESOLVE=1: one of TARGET's addresses from NAMESERVERS, chosen at random. */
static void pre_resolve(struct proxy *proxy)
{
	const struct conf *conf = proxy->conf;
	struct dns_result result;
	char shown[LOG_ADDR_SIZE];
	uint32_t pick = 0;
	int status;

	if (use_literal_target(proxy)) {
		/* An IP literal needs no lookup (and would get NXDOMAIN). */
		log_msg("resolved %s to itself: an IP address", conf->target);
		return;
	}
	status = dns_resolve(conf->target, conf->nameservers, conf->nnameservers, NULL, &result);
	if (status != DNS_OK)
		die("TARGET: unable to resolve \"%s\" through NAMESERVERS: %s", conf->target,
		    dns_strerror(status));
	if (getrandom(&pick, sizeof pick, 0) != sizeof pick)
		pick = (uint32_t)getpid();
	set_fixed_target(proxy, result.family, result.addrs[pick % (uint32_t)result.count]);
	log_msg("resolved %s to %s", conf->target,
		log_host((struct sockaddr *)&proxy->fixed_target, shown, sizeof shown));
}

/* Records the address in use for the healthcheck (written whole, then renamed). */
static void write_target_file(const struct proxy *proxy)
{
	char path[512], partial[520], shown[LOG_ADDR_SIZE];
	int fd;

	if (conf_target_file(path, sizeof path, (long)getpid()) < 0)
		return;
	snprintf(partial, sizeof partial, "%s.new", path);
	fd = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_errno("unable to write %s (the healthcheck reads it)", partial);
		return;
	}
	dprintf(fd, "%s\n", log_host((const struct sockaddr *)&proxy->fixed_target, shown,
				     sizeof shown));
	close(fd);
	if (rename(partial, path) < 0)
		log_errno("unable to write %s (the healthcheck reads it)", path);
}

static void remove_target_file(void)
{
	char path[512];

	if (conf_target_file(path, sizeof path, (long)getpid()) == 0)
		unlink(path);
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

static void bind_all(const struct conf *conf, struct listener *listeners)
{
	/*
	 * Sockets owned by RUN_AS (a socket's owner is the fsuid that made it):
	 * UDP sessions, running as RUN_AS, may only join a port's reuseport group
	 * when its owner is theirs. Binding below 1024 still uses root's rights.
	 */
	if (geteuid() == 0)
		setfsuid((uid_t)conf->run_uid);
	for (size_t i = 0; i < conf->nports; i++) {
		listeners[i].port = conf->ports[i];
		listeners[i].pid = 0;
		listeners[i].fd = listener_bind(conf->mode, conf->ports[i]);
		if (listeners[i].fd < 0)
			die_errno("unable to bind %s port %u", conf->mode == CONF_MODE_TCP ? "tcp" : "udp",
				  conf->ports[i]);
	}
	if (geteuid() == 0)
		setfsuid(0);
}

static void start_listener(const struct proxy *proxy, struct listener *listener)
{
	pid_t pid = fork();

	if (pid < 0)
		die_errno("unable to start the listener of port %u", listener->port);
	if (pid == 0) {
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
				log_msg("fatal: the listener of port %u ended (%s %d)", listeners[i].port,
					WIFSIGNALED(status) ? "signal" : "status",
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

/* Until every listener has ended. 0 after a requested stop, 1 when one died by itself. */
static int supervise(struct listener *listeners, size_t count, const sigset_t *wait_mask)
{
	long long deadline = 0;
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
		if (alive > 0)
			sigsuspend(wait_mask);
	}
	reap_orphans(deadline);
	return failed;
}

int main(void)
{
	static struct conf conf;
	static struct listener listeners[CONF_MAX_PORTS];
	struct proxy proxy = { .conf = &conf };
	char err[CONF_ERR_SIZE];
	sigset_t wait_mask;
	int status;

	log_init("whitelist");
	if (conf_load(&conf, env_get, err, sizeof err) < 0)
		die_config("%s", err);
	raise_fd_limit();
	proxy_signals_block(&wait_mask);
	if (conf.pre_resolve)
		pre_resolve(&proxy);
	else
		use_literal_target(&proxy);	/* no lookup in every connection */
	bind_all(&conf, listeners);
	drop_privileges(&conf);
	if (conf.pre_resolve)
		write_target_file(&proxy);	/* as RUN_AS, so it can be rewritten later */
	/* Relays whose listener died are re-parented to us, not lost as zombies. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	for (size_t i = 0; i < conf.nports; i++)
		start_listener(&proxy, &listeners[i]);
	log_msg("forwarding %zu %s port%s to %s", conf.nports,
		conf.mode == CONF_MODE_TCP ? "tcp" : "udp", conf.nports > 1 ? "s" : "", conf.target);
	status = supervise(listeners, conf.nports, &wait_mask);
	if (conf.pre_resolve)
		remove_target_file();
	return status;
}
