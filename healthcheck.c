/*
 * healthcheck: the image's HEALTHCHECK program, also run by hand with
 * `docker exec`. It reads the proxy's own environment (config.c), looks at the
 * proxy from inside the container and prints one line per check: stdout when
 * it passes, stderr ("unhealthy: ...") when it fails. Exit 0 is healthy and 1
 * unhealthy; Docker reserves 2, so a bad variable is reported as 1 too.
 *
 * - processes: the proxy is found through /proc, not through a file it writes,
 *   so a proxy that died cannot leave a stale "healthy" behind. Its main
 *   process has comm "whitelist" and shares our network namespace; each PORT
 *   needs a live child "whitelist:PORT" that holds a socket listening on that
 *   port (/proc/net/{tcp,tcp6} or {udp,udp6}, matched by inode against the
 *   child's fds) and has at most MAX_CONNECTIONS children (its connections).
 * - dns (PRE_RESOLVE=1): the address the proxy wrote to its target file must
 *   still be among TARGET's addresses at NAMESERVERS; see hc_dns_judge.
 * - http, smtp: one libcurl request to the URL through the proxy itself: the
 *   URL's host is pinned to 127.0.0.1, which reaches the dual-stack listener.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "resolve.h"

#define HC_LINE_SIZE 2048
#define HC_PROXY_COMM "whitelist"	/* the main process: its executable's name */
#define HC_LISTENER_PREFIX "whitelist:"	/* listener.c names each port's process so */
#define HC_COMM_SIZE 16			/* the kernel's TASK_COMM_LEN */
#define HC_NS_SIZE 64			/* "net:[4026531840]" */
#define HC_TCP_LISTEN 0x0A		/* /proc/net/tcp state of a listening socket */
#define HC_UDP_UNCONNECTED 0x07		/* TCP_CLOSE: a bound UDP socket with no peer */
#define HC_DNS_TIMEOUT_MS 2000		/* per question: two of them fit Docker's 30 s easily */
#define HC_BALANCED_FLAG "whitelist-dns-balanced"
#define HC_LOOPBACK "127.0.0.1"
#define HC_SHOWN_ADDRS 8		/* addresses printed from one DNS answer */

/* ---- reporting: one line per check ---- */

static void hc_report(int fd, const char *check, const char *verdict, const char *fmt,
		      va_list ap)
{
	char line[HC_LINE_SIZE];
	int len = snprintf(line, sizeof line, "healthcheck: %s: %s", check, verdict);

	if (len < 0)
		return;
	if ((size_t)len < sizeof line)
		vsnprintf(line + len, sizeof line - (size_t)len, fmt, ap);
	dprintf(fd, "%s\n", line);
}

static void hc_pass(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int hc_fail(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void hc_pass(const char *check, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hc_report(STDOUT_FILENO, check, "", fmt, ap);
	va_end(ap);
}

/* Reports a failed check; returns 1, the exit status it earns. */
static int hc_fail(const char *check, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hc_report(STDERR_FILENO, check, "unhealthy: ", fmt, ap);
	va_end(ap);
	return 1;
}

/* Appends text to a "; "-separated list in buf; a full buffer just stops growing. */
static void hc_append(char *buf, size_t size, const char *text)
{
	size_t used = strlen(buf);

	if (used > 0 && used + 2 < size) {
		strcpy(buf + used, "; ");
		used += 2;
	}
	if (used < size)
		snprintf(buf + used, size - used, "%s", text);
}

static long long hc_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- processes: /proc ---- */

struct hc_proc {
	long pid;
	long ppid;
	char state;
	char comm[HC_COMM_SIZE];
};

struct hc_procs {
	struct hc_proc *list;
	size_t count;
};

/* Parses /proc/PID/stat: "pid (comm) state ppid ...". comm may hold spaces and ')'. */
static int hc_parse_stat(const char *text, struct hc_proc *out)
{
	const char *open = strchr(text, '('), *close = strrchr(text, ')');
	char *end;
	size_t len;

	if (!open || !close || close < open)
		return -1;
	out->pid = strtol(text, &end, 10);
	if (end == text || out->pid <= 0)
		return -1;
	len = (size_t)(close - open - 1);
	if (len >= sizeof out->comm)	/* the kernel cuts comm at 15 bytes: not a stat line */
		return -1;
	memcpy(out->comm, open + 1, len);
	out->comm[len] = '\0';
	if (sscanf(close + 1, " %c %ld", &out->state, &out->ppid) != 2)
		return -1;
	return 0;
}

/* Reads a small /proc file whole into buf (NUL-terminated); -1 when it is gone. */
static int hc_read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t len;

	if (fd < 0)
		return -1;
	len = read(fd, buf, size - 1);
	close(fd);
	if (len < 0)
		return -1;
	buf[len] = '\0';
	return 0;
}

static int hc_procs_add(struct hc_procs *procs, size_t *capacity, const struct hc_proc *proc)
{
	if (procs->count == *capacity) {
		size_t bigger = *capacity ? *capacity * 2 : 256;
		struct hc_proc *list = realloc(procs->list, bigger * sizeof *list);

		if (!list)
			return -1;
		procs->list = list;
		*capacity = bigger;
	}
	procs->list[procs->count++] = *proc;
	return 0;
}

/* Every process /proc shows; those that end while we read are left out. */
static int hc_procs_load(struct hc_procs *procs)
{
	DIR *proc = opendir("/proc");
	struct dirent *entry;
	size_t capacity = 0;

	procs->list = NULL;
	procs->count = 0;
	if (!proc)
		return -1;
	while ((entry = readdir(proc))) {
		char path[64], text[512];
		long pid = strtol(entry->d_name, NULL, 10);
		struct hc_proc one;

		if (pid <= 0)
			continue;	/* not a process: "self", "net", ... */
		snprintf(path, sizeof path, "/proc/%ld/stat", pid);
		if (hc_read_small(path, text, sizeof text) < 0 || hc_parse_stat(text, &one) < 0)
			continue;
		if (hc_procs_add(procs, &capacity, &one) < 0) {
			closedir(proc);
			return -1;
		}
	}
	closedir(proc);
	return 0;
}

static int hc_alive(const struct hc_proc *proc)
{
	return proc->state != 'Z' && proc->state != 'X';
}

/* Live children of ppid; only those whose comm starts with prefix, when given. */
static size_t hc_count_children(const struct hc_procs *procs, long ppid, const char *prefix)
{
	size_t count = 0;

	for (size_t i = 0; i < procs->count; i++) {
		const struct hc_proc *proc = &procs->list[i];

		if (proc->ppid == ppid && hc_alive(proc) &&
		    (!prefix || strncmp(proc->comm, prefix, strlen(prefix)) == 0))
			count++;
	}
	return count;
}

/* 1 when pid is in the network namespace whose link is self_ns (unreadable: 0). */
static int hc_same_netns(long pid, const char *self_ns)
{
	char path[64], link[HC_NS_SIZE];
	ssize_t len;

	snprintf(path, sizeof path, "/proc/%ld/ns/net", pid);
	len = readlink(path, link, sizeof link - 1);
	if (len < 0)
		return 0;
	link[len] = '\0';
	return strcmp(link, self_ns) == 0;
}

/*
 * The proxy's main process: comm "whitelist", alive, in our network namespace
 * (other proxies may run on the same machine in other namespaces). Among
 * several, the one with the most listener children, then the lowest pid. 0: none.
 */
static long hc_find_proxy(const struct hc_procs *procs)
{
	char self_ns[HC_NS_SIZE];
	ssize_t len = readlink("/proc/self/ns/net", self_ns, sizeof self_ns - 1);
	long best = 0;
	size_t best_listeners = 0;

	if (len < 0)
		return 0;
	self_ns[len] = '\0';
	for (size_t i = 0; i < procs->count; i++) {
		const struct hc_proc *proc = &procs->list[i];
		size_t listeners;

		if (strcmp(proc->comm, HC_PROXY_COMM) != 0 || !hc_alive(proc) ||
		    !hc_same_netns(proc->pid, self_ns))
			continue;
		listeners = hc_count_children(procs, proc->pid, HC_LISTENER_PREFIX);
		if (!best || listeners > best_listeners ||
		    (listeners == best_listeners && proc->pid < best)) {
			best = proc->pid;
			best_listeners = listeners;
		}
	}
	return best;
}

/* ---- processes: listening sockets ---- */

struct hc_socket {
	unsigned port;
	unsigned long inode;
};

struct hc_sockets {
	struct hc_socket *list;
	size_t count;
	size_t capacity;
};

/*
 * One line of /proc/net/{tcp,tcp6,udp,udp6}:
 * "  0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0  0 1234 ..."
 * gives the local port, the state and the inode; -1 for the header or junk.
 */
static int hc_parse_net_line(const char *line, unsigned *port, unsigned *state,
			     unsigned long *inode)
{
	if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
		   port, state, inode) != 3)
		return -1;
	return *port <= 65535 ? 0 : -1;
}

static int hc_sockets_add(struct hc_sockets *socks, unsigned port, unsigned long inode)
{
	if (socks->count == socks->capacity) {
		size_t bigger = socks->capacity ? socks->capacity * 2 : 64;
		struct hc_socket *list = realloc(socks->list, bigger * sizeof *list);

		if (!list)
			return -1;
		socks->list = list;
		socks->capacity = bigger;
	}
	socks->list[socks->count].port = port;
	socks->list[socks->count].inode = inode;
	socks->count++;
	return 0;
}

/* Adds the sockets of one /proc/net table in the wanted state; a missing table (no IPv6) adds none. */
static int hc_sockets_read(struct hc_sockets *socks, const char *path, unsigned want)
{
	FILE *table = fopen(path, "re");
	char line[512];
	int status = 0;

	if (!table)
		return 0;
	while (status == 0 && fgets(line, sizeof line, table)) {
		unsigned port, state;
		unsigned long inode;

		if (hc_parse_net_line(line, &port, &state, &inode) == 0 && state == want &&
		    inode != 0)
			status = hc_sockets_add(socks, port, inode);
	}
	fclose(table);
	return status;
}

/* The listening TCP sockets, or the bound unconnected UDP ones, of our namespace. */
static int hc_sockets_load(struct hc_sockets *socks, enum conf_mode mode)
{
	memset(socks, 0, sizeof *socks);
	if (mode == CONF_MODE_TCP)
		return hc_sockets_read(socks, "/proc/net/tcp", HC_TCP_LISTEN) < 0 ||
		       hc_sockets_read(socks, "/proc/net/tcp6", HC_TCP_LISTEN) < 0 ? -1 : 0;
	return hc_sockets_read(socks, "/proc/net/udp", HC_UDP_UNCONNECTED) < 0 ||
	       hc_sockets_read(socks, "/proc/net/udp6", HC_UDP_UNCONNECTED) < 0 ? -1 : 0;
}

static int hc_sockets_has(const struct hc_sockets *socks, unsigned port, unsigned long inode)
{
	for (size_t i = 0; i < socks->count; i++)
		if (socks->list[i].port == port && socks->list[i].inode == inode)
			return 1;
	return 0;
}

/* 1 when pid holds one of socks bound to port: that process, not just anyone, listens. */
static int hc_holds_socket(long pid, const struct hc_sockets *socks, unsigned port)
{
	char path[64];
	DIR *fds;
	struct dirent *entry;
	int found = 0;

	snprintf(path, sizeof path, "/proc/%ld/fd", pid);
	if (!(fds = opendir(path)))
		return 0;
	while (!found && (entry = readdir(fds))) {
		char link[64];
		unsigned long inode;
		ssize_t len = readlinkat(dirfd(fds), entry->d_name, link, sizeof link - 1);

		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &inode) == 1)
			found = hc_sockets_has(socks, port, inode);
	}
	closedir(fds);
	return found;
}

/* ---- processes: the check ---- */

enum hc_port_status {
	HC_PORT_OK,
	HC_PORT_OVER_LIMIT,
	HC_PORT_NOT_LISTENING,	/* a live "whitelist:PORT" child, but no socket on the port */
	HC_PORT_EXITED,		/* only a zombie "whitelist:PORT": it died, not reaped yet */
	HC_PORT_NO_LISTENER,
};

/* One port: its listener among the proxy's children, and that listener's connections. */
static enum hc_port_status hc_check_port(const struct hc_procs *procs,
					 const struct hc_sockets *socks, long proxy,
					 const struct conf *conf, uint16_t port,
					 size_t *connections)
{
	enum hc_port_status status = HC_PORT_NO_LISTENER;
	char comm[HC_COMM_SIZE];

	*connections = 0;
	snprintf(comm, sizeof comm, HC_LISTENER_PREFIX "%u", port);
	for (size_t i = 0; i < procs->count; i++) {
		const struct hc_proc *proc = &procs->list[i];

		if (proc->ppid != proxy || strcmp(proc->comm, comm) != 0)
			continue;
		if (!hc_alive(proc)) {
			if (status == HC_PORT_NO_LISTENER)
				status = HC_PORT_EXITED;
			continue;
		}
		/* Relays orphaned by a dead listener have its name too, but no listening socket. */
		if (!hc_holds_socket(proc->pid, socks, port)) {
			status = HC_PORT_NOT_LISTENING;
			continue;
		}
		*connections = hc_count_children(procs, proc->pid, NULL);
		if (conf->max_connections > 0 && *connections > (size_t)conf->max_connections)
			return HC_PORT_OVER_LIMIT;
		return HC_PORT_OK;
	}
	return status;
}

static void hc_port_problem(char *buf, size_t size, enum hc_port_status status, uint16_t port,
			    size_t connections, long max_connections)
{
	char text[160];

	switch (status) {
	case HC_PORT_OVER_LIMIT:
		snprintf(text, sizeof text, "port %u: %zu connections, more than MAX_CONNECTIONS=%ld",
			 port, connections, max_connections);
		break;
	case HC_PORT_NOT_LISTENING:
		snprintf(text, sizeof text, "port %u: no process of the proxy listens on it", port);
		break;
	case HC_PORT_EXITED:
		snprintf(text, sizeof text, "port %u: its listener has exited", port);
		break;
	default:
		snprintf(text, sizeof text, "port %u: no listener process", port);
		break;
	}
	hc_append(buf, size, text);
}

/* "80 443", or "80 443 ... (1001 ports)" when the list does not fit. */
static void hc_format_ports(const struct conf *conf, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < conf->nports; i++) {
		int len = snprintf(out + used, size - used, "%s%u", i ? " " : "", conf->ports[i]);

		if (len < 0 || used + (size_t)len + 24 >= size) {
			snprintf(out + used, size - used, " ... (%zu ports)", conf->nports);
			return;
		}
		used += (size_t)len;
	}
}

/* Every PORT of the proxy's main process: a listener each, within MAX_CONNECTIONS. */
static int hc_check_ports(const struct conf *conf, const struct hc_procs *procs, long proxy)
{
	struct hc_sockets socks;
	char problems[HC_LINE_SIZE / 2] = "", ports[256];
	size_t total = 0;
	int failed = 0;

	if (hc_sockets_load(&socks, conf->mode) < 0) {
		free(socks.list);
		return hc_fail("processes", "unable to read /proc/net: %s", strerror(errno));
	}
	for (size_t i = 0; i < conf->nports; i++) {
		size_t connections;
		enum hc_port_status status = hc_check_port(procs, &socks, proxy, conf,
							   conf->ports[i], &connections);

		total += connections;
		if (status != HC_PORT_OK) {
			hc_port_problem(problems, sizeof problems, status, conf->ports[i],
					connections, conf->max_connections);
			failed = 1;
		}
	}
	free(socks.list);
	if (failed)
		return hc_fail("processes", "proxy %ld: %s", proxy, problems);
	hc_format_ports(conf, ports, sizeof ports);
	hc_pass("processes", "proxy %ld listens on %s %s (%zu connection%s)", proxy,
		conf->mode == CONF_MODE_TCP ? "tcp" : "udp", ports, total, total == 1 ? "" : "s");
	return 0;
}

/* Finds the proxy (*proxy: its pid, 0 when none) and checks its ports. */
static int hc_check_processes(const struct conf *conf, long *proxy)
{
	struct hc_procs procs;
	int failed;

	*proxy = 0;
	if (hc_procs_load(&procs) < 0) {
		free(procs.list);
		return hc_fail("processes", "unable to read /proc: %s", strerror(errno));
	}
	*proxy = hc_find_proxy(&procs);
	if (!*proxy)
		failed = hc_fail("processes", "no " HC_PROXY_COMM " process in this network "
				 "namespace: the proxy is not running");
	else
		failed = hc_check_ports(conf, &procs, *proxy);
	free(procs.list);
	return failed;
}

/* ---- dns (PRE_RESOLVE=1) ---- */

struct hc_addr {
	int family;
	unsigned char bytes[16];
};

enum hc_dns_verdict {
	HC_DNS_PRESENT,		/* the address in use is among the answer */
	HC_DNS_ASK_AGAIN,	/* missing from the first answer: one answer is not proof */
	HC_DNS_MOVED,		/* missing from two identical answers: TARGET moved */
	HC_DNS_BALANCED,	/* the answers differ: DNS load balancing, stop checking */
};

/* An IP literal, as the proxy writes it to its target file (trailing newline allowed). */
static int hc_parse_addr(const char *text, struct hc_addr *out)
{
	char copy[INET6_ADDRSTRLEN];
	size_t len = strcspn(text, " \t\r\n");

	if (len == 0 || len >= sizeof copy)
		return -1;
	memcpy(copy, text, len);
	copy[len] = '\0';
	memset(out, 0, sizeof *out);
	out->family = strchr(copy, ':') ? AF_INET6 : AF_INET;
	return inet_pton(out->family, copy, out->bytes) == 1 ? 0 : -1;
}

static int hc_dns_contains(const struct dns_result *result, int family, const unsigned char *addr)
{
	size_t len = family == AF_INET ? 4 : 16;

	if (result->family != family)
		return 0;
	for (size_t i = 0; i < result->count; i++)
		if (memcmp(result->addrs[i], addr, len) == 0)
			return 1;
	return 0;
}

/* Same addresses, in any order: round-robin rotation of one set is not a change. */
static int hc_dns_same_set(const struct dns_result *first, const struct dns_result *second)
{
	if (first->count == 0 || second->count == 0)
		return first->count == second->count;
	for (size_t i = 0; i < first->count; i++)
		if (!hc_dns_contains(second, first->family, first->addrs[i]))
			return 0;
	for (size_t i = 0; i < second->count; i++)
		if (!hc_dns_contains(first, second->family, second->addrs[i]))
			return 0;
	return 1;
}

/*
 * The PRE_RESOLVE rule. second is NULL until a second answer was asked for.
 * An empty answer (count 0: the name or its addresses are gone) is an answer.
 */
static enum hc_dns_verdict hc_dns_judge(const struct hc_addr *used,
					const struct dns_result *first,
					const struct dns_result *second)
{
	if (hc_dns_contains(first, used->family, used->bytes))
		return HC_DNS_PRESENT;
	if (!second)
		return HC_DNS_ASK_AGAIN;
	/* Two answers alike and both without it: it is gone, not a passing glitch. */
	return hc_dns_same_set(first, second) ? HC_DNS_MOVED : HC_DNS_BALANCED;
}

/* "198.18.2.3, 198.18.2.4", "no address" for an empty answer. */
static const char *hc_format_result(const struct dns_result *result, char *out, size_t size)
{
	size_t used = 0;

	snprintf(out, size, "%s", result->count ? "" : "no address");
	for (size_t i = 0; i < result->count && i < HC_SHOWN_ADDRS; i++) {
		char text[INET6_ADDRSTRLEN];

		inet_ntop(result->family, result->addrs[i], text, sizeof text);
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "", text);
		if (used >= size)
			return out;
	}
	if (result->count > HC_SHOWN_ADDRS)
		snprintf(out + used, size - used, " and %zu more", result->count - HC_SHOWN_ADDRS);
	return out;
}

/*
 * Asks NAMESERVERS for TARGET. 0 with an answer (possibly empty: the name or
 * its addresses do not exist); -1 with status when no server answered usefully.
 */
static int hc_dns_ask(const struct conf *conf, struct dns_result *out, int *status)
{
	struct dns_options opts = { .timeout_ms = HC_DNS_TIMEOUT_MS };

	*status = dns_resolve(conf->target, conf->nameservers, conf->nnameservers, &opts, out);
	if (*status == DNS_ENXDOMAIN || *status == DNS_ENODATA) {
		out->family = 0;
		out->count = 0;
	}
	return *status == DNS_OK || *status == DNS_ENXDOMAIN || *status == DNS_ENODATA ? 0 : -1;
}

/* Remembers that TARGET's answers change between queries; the file's text is for humans. */
static void hc_dns_flag(const struct conf *conf, const char *flag, const char *first,
			const char *second)
{
	int fd = open(flag, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		hc_pass("dns", "%s answers keep changing (%s, then %s): DNS load balancing; "
			"unable to write %s: %s", conf->target, first, second, flag, strerror(errno));
		return;
	}
	dprintf(fd, "%s answered %s, then %s: DNS load balancing, the healthcheck no longer "
		"compares addresses\n", conf->target, first, second);
	close(fd);
	hc_pass("dns", "%s answers keep changing (%s, then %s): DNS load balancing, check "
		"disabled from now on (%s)", conf->target, first, second, flag);
}

/* The address the proxy uses, from the file the proxy wrote; -1 reported. */
static int hc_dns_in_use(long proxy, struct hc_addr *used, char *shown, size_t size)
{
	char path[512];

	if (conf_target_file(path, sizeof path, proxy) < 0) {
		hc_fail("dns", "TMPDIR is too long");
		return -1;
	}
	if (hc_read_small(path, shown, size) < 0) {
		hc_fail("dns", "unable to read the address in use from %s: %s", path,
			strerror(errno));
		return -1;
	}
	shown[strcspn(shown, " \t\r\n")] = '\0';
	if (hc_parse_addr(shown, used) < 0) {
		hc_fail("dns", "%s holds \"%s\", not an IP address", path, shown);
		return -1;
	}
	return 0;
}

/* After two answers, the first without the address: moved (unhealthy) or balanced. */
static int hc_dns_compare(const struct conf *conf, const char *flag, const char *in_use,
			  const struct dns_result *first, const struct dns_result *second,
			  enum hc_dns_verdict verdict)
{
	char one[HC_LINE_SIZE / 4], two[HC_LINE_SIZE / 4];

	hc_format_result(first, one, sizeof one);
	hc_format_result(second, two, sizeof two);
	if (verdict == HC_DNS_MOVED)
		return hc_fail("dns", "%s moved: now %s; proxy uses %s (asked twice)",
			       conf->target, one, in_use);
	hc_dns_flag(conf, flag, one, two);
	return 0;
}

/*
 * No usable answer (timeout, SERVFAIL...): healthy. A restarted proxy could
 * not resolve TARGET either and would stop forwarding altogether.
 */
static int hc_dns_unanswered(const struct conf *conf, int status)
{
	hc_pass("dns", "unable to check %s at NAMESERVERS (%s): not counted as unhealthy",
		conf->target, dns_strerror(status));
	return 0;
}

/* PRE_RESOLVE=1: is the address in use still TARGET's? See hc_dns_judge. */
static int hc_check_dns(const struct conf *conf, long proxy)
{
	static struct dns_result first, second;
	char flag[512], in_use[INET6_ADDRSTRLEN + 8];
	struct hc_addr used;
	int status;

	if (hc_parse_addr(conf->target, &used) == 0) {
		hc_pass("dns", "TARGET %s is an IP address: nothing to resolve", conf->target);
		return 0;
	}
	if (conf_temp_path(flag, sizeof flag, HC_BALANCED_FLAG) == 0 && access(flag, F_OK) == 0) {
		hc_pass("dns", "skipped: %s is DNS load balanced (%s exists)", conf->target, flag);
		return 0;
	}
	if (hc_dns_in_use(proxy, &used, in_use, sizeof in_use) < 0)
		return 1;
	if (hc_dns_ask(conf, &first, &status) < 0)
		return hc_dns_unanswered(conf, status);
	if (hc_dns_judge(&used, &first, NULL) == HC_DNS_PRESENT) {
		hc_pass("dns", "%s still resolves to %s", conf->target, in_use);
		return 0;
	}
	if (hc_dns_ask(conf, &second, &status) < 0)
		return hc_dns_unanswered(conf, status);
	return hc_dns_compare(conf, flag, in_use, &first, &second,
			      hc_dns_judge(&used, &first, &second));
}

/* ---- http and smtp probes ---- */

struct hc_probe {
	char url[CONF_URL_SIZE];	/* what libcurl fetches */
	char host[DNS_MAX_NAME + 3];	/* as in the URL: "[v6]" in brackets */
	uint16_t port;			/* where the proxy listens for it */
	int port_written;		/* 1 when the port was added to the URL */
};

/* One kind of probe: its report name, its variable and the schemes it accepts. */
struct hc_probe_kind {
	const char *check;
	const char *variable;
	const char *schemes[2];
};

static const struct hc_probe_kind HC_HTTP = { "http", "HTTP_HEALTHCHECK_URL", { "http", "https" } };
static const struct hc_probe_kind HC_SMTP = { "smtp", "SMTP_HEALTHCHECK_URL", { "smtp", "smtps" } };

/* 1 when text ends a URL's host: an optional ":port", then the path, query, fragment or end. */
static int hc_is_authority_end(const char *text)
{
	if (*text == ':') {
		text++;
		text += strspn(text, "0123456789");
	}
	return *text == '\0' || *text == '/' || *text == '?' || *text == '#';
}

/*
 * An IPv6 TARGET substituted for $TARGET gives "http://2001:db8::2/", which is
 * no URL: writes it with brackets, "http://[2001:db8::2]/". Anything else is
 * copied as it is. -1 when out is too small.
 */
static int hc_bracket_target(const char *url, const char *target, char *out, size_t size)
{
	unsigned char bytes[16];
	const char *host = strstr(url, "://"), *at;
	size_t target_len = strlen(target);
	int len;

	if (inet_pton(AF_INET6, target, bytes) != 1 || !host)
		return snprintf(out, size, "%s", url) < (int)size ? 0 : -1;
	host += 3;
	at = strchr(host, '@');
	if (at && at < host + strcspn(host, "/?#"))
		host = at + 1;	/* user:password@ comes first */
	if (strncmp(host, target, target_len) != 0 || !hc_is_authority_end(host + target_len))
		return snprintf(out, size, "%s", url) < (int)size ? 0 : -1;
	len = snprintf(out, size, "%.*s[%s]%s", (int)(host - url), url, target, host + target_len);
	return len >= 0 && (size_t)len < size ? 0 : -1;
}

static int hc_scheme_ok(CURLU *parsed, const struct hc_probe_kind *kind)
{
	char *scheme = NULL;
	int ok = curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
		 (strcmp(scheme, kind->schemes[0]) == 0 || strcmp(scheme, kind->schemes[1]) == 0);

	curl_free(scheme);
	return ok;
}

/* The URL's port part (flags: CURLU_DEFAULT_PORT for the scheme's own); 0 when none. */
static uint16_t hc_url_port(CURLU *parsed, unsigned flags)
{
	char *text = NULL;
	long port = 0;

	if (curl_url_get(parsed, CURLUPART_PORT, &text, flags) == CURLUE_OK)
		port = strtol(text, NULL, 10);
	curl_free(text);
	return port > 0 && port <= 65535 ? (uint16_t)port : 0;
}

/*
 * The port rule: the URL's own; else the scheme's default when it is in PORT;
 * else the first PORT, written into the URL so that the request says it too.
 */
static int hc_choose_port(CURLU *parsed, const struct conf *conf, struct hc_probe *out,
			  char *err, size_t size)
{
	char text[8], *url = NULL;

	if ((out->port = hc_url_port(parsed, 0))) {
		if (!conf_has_port(conf, out->port))
			return conf_fail(err, size, "port %u of %s is not in PORT", out->port,
					out->url);
		return 0;
	}
	out->port = hc_url_port(parsed, CURLU_DEFAULT_PORT);
	if (out->port && conf_has_port(conf, out->port))
		return 0;
	out->port = conf->ports[0];
	out->port_written = 1;
	snprintf(text, sizeof text, "%u", out->port);
	if (curl_url_set(parsed, CURLUPART_PORT, text, 0) != CURLUE_OK ||
	    curl_url_get(parsed, CURLUPART_URL, &url, 0) != CURLUE_OK ||
	    snprintf(out->url, sizeof out->url, "%s", url) >= (int)sizeof out->url) {
		curl_free(url);
		return conf_fail(err, size, "unable to add port %u to %s", out->port, out->url);
	}
	curl_free(url);
	return 0;
}

static int hc_probe_parse(CURLU *parsed, const struct conf *conf,
			  const struct hc_probe_kind *kind, struct hc_probe *out, char *err,
			  size_t size)
{
	char *host = NULL;
	int status;

	if (curl_url_set(parsed, CURLUPART_URL, out->url, 0) != CURLUE_OK)
		return conf_fail(err, size, "%s: \"%s\" is not a URL", kind->variable, out->url);
	if (!hc_scheme_ok(parsed, kind))
		return conf_fail(err, size, "%s: \"%s\" is not a %s:// or %s:// URL", kind->variable,
				out->url, kind->schemes[0], kind->schemes[1]);
	if (curl_url_get(parsed, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    snprintf(out->host, sizeof out->host, "%s", host) >= (int)sizeof out->host)
		status = conf_fail(err, size, "%s: \"%s\" has no usable host", kind->variable,
				  out->url);
	else
		status = hc_choose_port(parsed, conf, out, err, size);
	curl_free(host);
	return status;
}

/* From the configured URL ($TARGET already replaced) to what the probe fetches; -1 with err. */
static int hc_probe_prepare(const struct conf *conf, const char *url,
			    const struct hc_probe_kind *kind, struct hc_probe *out, char *err,
			    size_t size)
{
	CURLU *parsed;
	int status;

	memset(out, 0, sizeof *out);
	if (hc_bracket_target(url, conf->target, out->url, sizeof out->url) < 0)
		return conf_fail(err, size, "%s: \"%s\" is too long", kind->variable, url);
	if (!(parsed = curl_url()))
		return conf_fail(err, size, "out of memory");
	status = hc_probe_parse(parsed, conf, kind, out, err, size);
	curl_url_cleanup(parsed);
	return status;
}

/*
 * The libcurl pin that sends the probe to the proxy's own port on loopback:
 * CURLOPT_RESOLVE ("name:port:127.0.0.1", returns 0) for a host name. An IP
 * literal gets CURLOPT_CONNECT_TO ("host:port:127.0.0.1:port", returns 1):
 * CURLOPT_RESOLVE cannot parse an IPv6 host, and it only fills the DNS cache,
 * which libcurl is not bound to consult for a literal that needs no lookup.
 */
static int hc_probe_pin(const struct hc_probe *probe, char *out, size_t size)
{
	struct in_addr v4;

	if (probe->host[0] == '[' || inet_pton(AF_INET, probe->host, &v4) == 1) {
		snprintf(out, size, "%s:%u:" HC_LOOPBACK ":%u", probe->host, probe->port,
			 probe->port);
		return 1;
	}
	snprintf(out, size, "%s:%u:" HC_LOOPBACK, probe->host, probe->port);
	return 0;
}

static size_t hc_discard(char *data, size_t size, size_t count, void *user)
{
	(void)data;
	(void)user;
	return size * count;
}

static CURL *hc_curl_setup(const struct hc_probe *probe, const char *command, long timeout_ms,
			   struct curl_slist **pins, char *errbuf)
{
	char pin[sizeof probe->host + 40];
	int connect_to = hc_probe_pin(probe, pin, sizeof pin);
	CURL *curl = curl_easy_init();

	if (!curl || !(*pins = curl_slist_append(NULL, pin))) {
		curl_easy_cleanup(curl);
		return NULL;
	}
	curl_easy_setopt(curl, CURLOPT_URL, probe->url);
	curl_easy_setopt(curl, connect_to ? CURLOPT_CONNECT_TO : CURLOPT_RESOLVE, *pins);
	curl_easy_setopt(curl, CURLOPT_PROXY, "");	/* http_proxy must not divert the probe */
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, hc_discard);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "whitelist-healthcheck");
	if (command)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, command);
	return curl;
}

/* The report line of a finished transfer; 1 when it failed. Reads curl: call before cleanup. */
static int hc_probe_report(const struct hc_probe_kind *kind, const char *what, CURL *curl,
			   CURLcode result, char *err, long long started)
{
	long long elapsed = hc_now_ms() - started;
	char *peer = NULL;
	long code = 0;

	err[strcspn(err, "\n")] = '\0';
	for (size_t len = strlen(err); len > 0 && err[len - 1] == ' '; len--)
		err[len - 1] = '\0';	/* libcurl ends some messages with a space */
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(curl, CURLINFO_PRIMARY_IP, &peer);
	if (result != CURLE_OK)
		return hc_fail(kind->check, "%s: %s (%lld ms)", what,
			       err[0] ? err : curl_easy_strerror(result), elapsed);
	if (!peer || strcmp(peer, HC_LOOPBACK) != 0)
		/* The pin did not apply: the answer came around the proxy and proves nothing. */
		return hc_fail(kind->check, "%s: answered by %s, not through the proxy", what,
			       peer ? peer : "an unknown address");
	/* Any HTTP status passes, as in the old image: the target answered through us. */
	hc_pass(kind->check, "%s: %ld (%lld ms)", what, code, elapsed);
	return 0;
}

/* One probe: the request through 127.0.0.1:port, and its one report line. */
static int hc_probe_run(const struct conf *conf, const struct hc_probe_kind *kind,
			const char *url, const char *command, long timeout_ms)
{
	char err[CURL_ERROR_SIZE] = "", what[CONF_URL_SIZE + 64];
	struct curl_slist *pins = NULL;
	struct hc_probe probe;
	long long started;
	CURLcode result;
	CURL *curl;
	int failed;

	if (hc_probe_prepare(conf, url, kind, &probe, err, sizeof err) < 0)
		return hc_fail(kind->check, "%s", err);
	snprintf(what, sizeof what, "%s%s%s through " HC_LOOPBACK ":%u", probe.url,
		 command ? " " : "", command ? command : "", probe.port);
	if (!(curl = hc_curl_setup(&probe, command, timeout_ms, &pins, err)))
		return hc_fail(kind->check, "%s: unable to set up libcurl", what);
	started = hc_now_ms();
	result = curl_easy_perform(curl);
	failed = hc_probe_report(kind, what, curl, result, err, started);
	curl_easy_cleanup(curl);
	curl_slist_free_all(pins);
	return failed;
}

static const char *hc_env(const char *name)
{
	return getenv(name);
}

int main(void)
{
	static struct conf conf;
	char err[CONF_ERR_SIZE];
	long proxy;
	int failed;

	if (conf_load(&conf, hc_env, err, sizeof err) < 0)
		return hc_fail("config", "%s", err);
	failed = hc_check_processes(&conf, &proxy);
	if (!proxy)
		return 1;	/* nothing to probe through */
	if (conf.pre_resolve)
		failed |= hc_check_dns(&conf, proxy);
	if ((conf.http_healthcheck || conf.smtp_healthcheck) && curl_global_init(CURL_GLOBAL_DEFAULT))
		return hc_fail("curl", "unable to initialise libcurl");
	if (conf.http_healthcheck)
		failed |= hc_probe_run(&conf, &HC_HTTP, conf.http_url, NULL, conf.http_timeout_ms);
	if (conf.smtp_healthcheck)
		failed |= hc_probe_run(&conf, &HC_SMTP, conf.smtp_url, conf.smtp_command,
				       conf.smtp_timeout_ms);
	if (conf.http_healthcheck || conf.smtp_healthcheck)
		curl_global_cleanup();
	return failed ? 1 : 0;
}
