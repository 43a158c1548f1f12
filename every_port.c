/*
 * every_port.c: see every_port.h.
 *
 * Why the `nft` program and not libnftables: the proxy is one static
 * binary, and libnftables (with libnftnl, libmnl, gmp, jansson) is shipped
 * shared only by Debian and Alpine; linking it would make every relay map
 * those libraries. Speaking nf_tables' netlink by hand would be a few
 * hundred lines of a kernel ABI to keep right. The rule is made once at
 * start and removed once at the end, so one fork+exec of `nft -f -` at
 * each of those moments costs nothing; the image carries the nftables
 * package (docs/ports.md).
 */
#include "every_port.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

/* linux/netfilter_ipv4.h and ip6_tables.h, which clash with netinet/in.h: both 80. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#define EVERY_PORT_IP6_ORIGINAL_DST 80

#define EVERY_PORT_RULES_SIZE 1024
#define EVERY_PORT_CHAIN "every_port"

static pid_t every_port_keeper;	/* main's: the keeper's pid, 0 when none */
static pid_t every_port_main;

/* capget(2)'s kernel ABI (linux/capability.h, which not every libc's include path has). */
#define EVERY_PORT_CAP_VERSION_3 0x20080522
#define EVERY_PORT_CAP_NET_ADMIN 12

int every_port_capable(void)
{
	struct { uint32_t version; int pid; } header = { EVERY_PORT_CAP_VERSION_3, 0 };
	struct { uint32_t effective, permitted, inheritable; } data[2] = { { 0, 0, 0 } };

	if (syscall(SYS_capget, &header, data) < 0)
		return 0;
	return (data[EVERY_PORT_CAP_NET_ADMIN / 32].effective &
		(1u << (EVERY_PORT_CAP_NET_ADMIN % 32))) != 0;
}

size_t every_port_excluded(const struct conf *conf, uint16_t *out)
{
	size_t count = 0;

	if (conf->metrics_port)
		out[count++] = conf->metrics_port;
	if (conf->connect_port)
		out[count++] = conf->connect_port;
	return count;
}

/*
 * The ruleset: the table made if missing, deleted, and made again, in one
 * transaction, so a stale table of a killed predecessor is replaced, never
 * doubled. remove: only the first two lines.
 */
static int every_port_rules(const struct conf *conf, uint16_t listen_port, int remove,
			    char *out, size_t size)
{
	uint16_t excluded[EVERY_PORT_MAX_EXCLUDED];
	size_t count = every_port_excluded(conf, excluded);
	int used = snprintf(out, size, "table inet %s {}\ndelete table inet %s\n",
			    EVERY_PORT_TABLE, EVERY_PORT_TABLE);

	if (remove)
		return 0;
	used += snprintf(out + used, size - (size_t)used,
			 "table inet %s {\n chain %s {\n  type nat hook prerouting priority dstnat;"
			 " policy accept;\n", EVERY_PORT_TABLE, EVERY_PORT_CHAIN);
	for (size_t i = 0; i < count; i++)	/* the proxy's own ports stay its own */
		used += snprintf(out + used, size - (size_t)used, "  tcp dport %u return\n",
				 excluded[i]);
	used += snprintf(out + used, size - (size_t)used,
			 "  meta l4proto tcp redirect to :%u\n }\n}\n", listen_port);
	return used > 0 && (size_t)used < size ? 0 : -1;
}

/* Runs `nft -f -` with rules on its stdin; its exit status, or -1. */
static int every_port_nft(const char *rules)
{
	static const char *const paths[] = { "nft", "/usr/sbin/nft", "/sbin/nft" };
	int pipe_fds[2], status;
	pid_t pid;

	if (pipe(pipe_fds) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(pipe_fds[0], 0);
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
			execvp(paths[i], (char *const[]){ (char *)"nft", (char *)"-f",
							  (char *)"-", NULL });
		log_errno("PORT=*: unable to run nft");
		_exit(127);
	}
	close(pipe_fds[0]);
	if (pid > 0 && write(pipe_fds[1], rules, strlen(rules)) < 0)
		log_errno("PORT=*: unable to write to nft");
	close(pipe_fds[1]);
	if (pid < 0 || waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Every descriptor but stdin, stdout and stderr: the keeper holds no port open. */
static void every_port_close_all(void)
{
	long max = sysconf(_SC_OPEN_MAX);

#ifdef SYS_close_range
	if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
		return;
#endif
	for (long fd = 3; fd < (max > 0 ? max : 1024); fd++)
		close((int)fd);
}

/*
 * The keeper: root, idle until main ends or tells it to, then removes the
 * rule. Its real uid is RUN_AS's, so that main, once RUN_AS, may signal it;
 * its effective and saved uids stay 0, and with them its capabilities.
 */
static _Noreturn void every_port_keep(const char *removal, uid_t main_uid)
{
	sigset_t wanted;
	int signo;

	every_port_close_all();
	if (main_uid != 0 && setresuid(main_uid, 0, 0) < 0)
		log_errno("PORT=*: the keeper cannot take uid %u: main may not reach it",
			  (unsigned)main_uid);
	prctl(PR_SET_NAME, "whitelist-nft");
	/* SIGTERM when main dies, even by SIGKILL; it is blocked (main's mask), so sigwait gets it. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigemptyset(&wanted);
	sigaddset(&wanted, SIGTERM);
	sigprocmask(SIG_BLOCK, &wanted, NULL);
	if (getppid() == every_port_main)	/* else main is gone already */
		sigwait(&wanted, &signo);
	/* nft refuses to run with real and effective uids apart (exit 111). */
	if (main_uid != 0 && setresuid(0, 0, 0) < 0)
		log_errno("PORT=*: the keeper cannot become uid 0 again");
	if (every_port_nft(removal) != 0)
		log_msg("PORT=*: unable to remove the nft table inet %s", EVERY_PORT_TABLE);
	_exit(0);
}

void every_port_setup(const struct conf *conf, uint16_t listen_port)
{
	static char rules[EVERY_PORT_RULES_SIZE], removal[EVERY_PORT_RULES_SIZE];
	uint16_t excluded[EVERY_PORT_MAX_EXCLUDED];
	pid_t pid;

	if (every_port_rules(conf, listen_port, 0, rules, sizeof rules) < 0 ||
	    every_port_rules(conf, listen_port, 1, removal, sizeof removal) < 0)
		die("PORT=*: the nft rules do not fit");
	if (every_port_nft(rules) != 0)
		die("PORT=*: nft could not make the redirect (table inet %s)", EVERY_PORT_TABLE);
	every_port_main = getpid();
	pid = fork();
	if (pid < 0) {
		every_port_nft(removal);
		die_errno("PORT=*: unable to start the process that removes the redirect");
	}
	if (pid == 0)
		every_port_keep(removal, geteuid() == 0 ? (uid_t)conf->run_uid : geteuid());
	every_port_keeper = pid;
	log_msg("PORT=*: every tcp port redirected to port %u (nft table inet %s), %zu left out",
		listen_port, EVERY_PORT_TABLE, every_port_excluded(conf, excluded));
}

void every_port_teardown(void)
{
	if (every_port_keeper <= 0 || getpid() != every_port_main)
		return;
	kill(every_port_keeper, SIGTERM);
	while (waitpid(every_port_keeper, NULL, 0) < 0 && errno == EINTR)
		;
	every_port_keeper = 0;
}

uint16_t every_port_original(int fd)
{
	struct sockaddr_storage addr;
	socklen_t len = sizeof addr;

	/* A v4 client on the dual-stack socket is NATed by the ip side: ask it first. */
	if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &addr, &len) == 0 &&
	    addr.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&addr)->sin_port);
	len = sizeof addr;
	if (getsockopt(fd, SOL_IPV6, EVERY_PORT_IP6_ORIGINAL_DST, &addr, &len) == 0 &&
	    addr.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
	return 0;
}
