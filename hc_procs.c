/*
 * hc_procs.c: see hc_procs.h.
 */
#include "hc_procs.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hc_report.h"
#include "log.h"
#include "process.h"

#define HC_TCP_LISTEN 0x0A		/* /proc/net/tcp state of a listening socket */
#define HC_UDP_UNCONNECTED 0x07		/* TCP_CLOSE: a bound UDP socket with no peer */

struct hc_socket {
	unsigned port;
	unsigned long inode;
};

struct hc_sockets {
	struct hc_socket *list;
	size_t count, capacity;
};

/* Every process /proc shows: to count a listener's children, to name a lone proxy. */
struct hc_procs {
	struct proc_stat *list;
	size_t count, capacity;
};

/* What looking for the proxy found, for the line that says why it was not found. */
struct hc_search {
	char dir[512];
	uint64_t conf_hash;	/* the configuration we look for (shared_conf_hash) */
	uint64_t pidns;		/* ours: a state's main pid means something only there */
	int unreadable;		/* of which could not be read: errno in read_errno */
	int read_errno;
	char unreadable_path[820];
	int refused;		/* not believed: a stranger's, or a file others may write */
	char refused_path[820];
	char refused_why[160];
	long no_room_pid;	/* a live proxy here that had no room (its empty state file) */
	long other_pid;		/* a live proxy here of another configuration */
	char other[320];	/* what it serves: "tcp 8080 -> other.example" */
	long seen[64];		/* live main pids with a state file (or an empty one) */
	size_t nseen;
};

/* ---- /proc/net ---- */

int hc_parse_net_line(const char *line, unsigned *port, unsigned *state, unsigned long *inode)
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
	socks->list[socks->count++] = (struct hc_socket){ port, inode };
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
static int hc_sockets_load(struct hc_sockets *socks, int mode)
{
	memset(socks, 0, sizeof *socks);
	if (mode == SOCK_STREAM)
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

/* 1 when a published socket of the state is in our /proc/net. */
static int hc_socket_visible(const struct hc_sockets *socks, const struct shared_socket *socket)
{
	unsigned long inode = (unsigned long)atomic_load_explicit(
		(_Atomic uint64_t *)&socket->inode, memory_order_relaxed);
	unsigned port = atomic_load_explicit((_Atomic uint32_t *)&socket->port,
					     memory_order_relaxed);

	return hc_sockets_has(socks, port, inode);
}

/* ---- /proc ---- */

/* Every process; those that end while we read are left out. */
static int hc_procs_load(struct hc_procs *procs)
{
	DIR *proc = opendir("/proc");
	struct dirent *entry;

	memset(procs, 0, sizeof *procs);
	if (!proc)
		return -1;
	while ((entry = readdir(proc))) {
		long pid = strtol(entry->d_name, NULL, 10);
		struct proc_stat one;

		if (pid <= 0 || proc_stat_read(pid, &one) < 0)
			continue;	/* not a process ("self", "net"...), or gone */
		if (procs->count == procs->capacity) {
			size_t bigger = procs->capacity ? procs->capacity * 2 : 256;
			struct proc_stat *list = realloc(procs->list, bigger * sizeof *list);

			if (!list)
				break;
			procs->list = list;
			procs->capacity = bigger;
		}
		procs->list[procs->count++] = one;
	}
	closedir(proc);
	return 0;
}

/* Live children of ppid: a listener's connections. */
static size_t hc_count_children(const struct hc_procs *procs, long ppid)
{
	size_t count = 0;

	for (size_t i = 0; i < procs->count; i++)
		if (procs->list[i].ppid == ppid && proc_stat_alive(&procs->list[i]))
			count++;
	return count;
}

/*
 * 1 when pid may be in our network namespace: it is, or we may not look
 * (a process of another uid, without CAP_SYS_PTRACE: in a container, where
 * every process shares our namespace anyway).
 */
static int hc_maybe_our_netns(long pid)
{
	char path[64], theirs[64], ours[64];
	ssize_t len;

	snprintf(path, sizeof path, "/proc/%ld/ns/net", pid);
	if ((len = readlink(path, theirs, sizeof theirs - 1)) < 0)
		return errno == EACCES || errno == EPERM;
	theirs[len] = '\0';
	if ((len = readlink("/proc/self/ns/net", ours, sizeof ours - 1)) < 0)
		return 1;
	ours[len] = '\0';
	return strcmp(theirs, ours) == 0;
}

/* ---- finding the proxy ---- */

long hc_state_file_pid(const char *name)
{
	return shared_state_pid(name);
}

/* 1 when a listener of the state is a live process (it may be in another namespace). */
static int hc_listeners_alive(const struct shared *shared)
{
	for (size_t i = 0; i < shared->nports; i++) {
		struct proc_stat stat;
		long pid = atomic_load_explicit((_Atomic int32_t *)&shared->ports[i].listener_pid,
						memory_order_relaxed);

		if (pid > 0 && proc_stat_read(pid, &stat) == 0 && proc_stat_alive(&stat) &&
		    stat.ppid == shared->main_pid)
			return 1;
	}
	return 0;
}

/*
 * How many of the state's listening sockets our /proc/net shows; -1 when the
 * state is not a live proxy of this network namespace: its main process is
 * gone (a stale file, or its pid reused) or in another pid namespace, or its
 * listeners live elsewhere.
 */
static int hc_candidate_score(const struct shared *shared, const struct hc_sockets *socks,
			      const struct hc_search *search, long name_pid)
{
	struct proc_stat main;
	int visible = 0;

	if (shared->main_pid != name_pid ||
	    (shared->pidns && search->pidns && shared->pidns != search->pidns))
		return -1;
	if (proc_stat_read(shared->main_pid, &main) < 0 || !proc_stat_alive(&main) ||
	    main.starttime != shared->main_starttime)
		return -1;
	for (size_t i = 0; i < shared->nsockets; i++)
		visible += hc_socket_visible(socks, &shared_sockets(shared)[i]);
	/* None visible while a listener lives: another namespace. None alive: ours, broken. */
	return visible == 0 && hc_listeners_alive(shared) ? -1 : visible;
}

static void hc_search_note_error(struct hc_search *search, const char *path)
{
	/* Removed while we looked (its proxy just stopped), or not a state of this version. */
	if (errno == ENOENT || errno == EPROTO)
		return;
	if (!search->unreadable++) {
		search->read_errno = errno;
		snprintf(search->unreadable_path, sizeof search->unreadable_path, "%s", path);
	}
}


static void hc_search_refuse(struct hc_search *search, const char *path, const char *why)
{
	if (!search->refused++) {
		snprintf(search->refused_path, sizeof search->refused_path, "%s", path);
		snprintf(search->refused_why, sizeof search->refused_why, "%s", why);
	}
}

static void hc_search_seen(struct hc_search *search, long pid)
{
	if (search->nseen < sizeof search->seen / sizeof search->seen[0])
		search->seen[search->nseen++] = pid;
}

/* "tcp 8080 8081 -> other.example": what a proxy of another configuration serves. */
static void hc_describe(const struct shared *shared, char *out, size_t size)
{
	size_t used = (size_t)snprintf(out, size, "%s", shared->mode == SOCK_STREAM ? "tcp" : "udp");

	for (size_t i = 0; i < shared->nports && used + 16 < size; i++)
		used += (size_t)snprintf(out + used, size - used, " %u", shared->ports[i].port);
	snprintf(out + used, size - used, " -> %.*s", (int)sizeof shared->targets,
		 shared->targets[0] ? shared->targets : "?");
}

/* An empty state file: its proxy had no room for the state, if it is a live one here. */
static void hc_note_no_room(struct hc_search *search, long pid)
{
	struct proc_stat stat;

	if (!search->no_room_pid && proc_stat_read(pid, &stat) == 0 && proc_stat_alive(&stat) &&
	    strcmp(stat.comm, SHARED_MAIN_COMM) == 0 && hc_maybe_our_netns(pid))
		search->no_room_pid = pid;
}

/* Why a state file could not be opened (errno), noted for hc_not_found. */
static void hc_note_unopened(struct hc_search *search, const struct conf *conf,
			     const char *path, long pid, const struct stat *info,
			     int owner_trusted)
{
	char why[160];

	if (errno == EPERM && !owner_trusted) {
		snprintf(why, sizeof why, "owned by uid %u, neither root nor RUN_AS (%ld)",
			 (unsigned)info->st_uid, conf->run_uid);
		hc_search_refuse(search, path, why);
	} else if (errno == EPERM) {
		hc_search_refuse(search, path, "not a regular file with one name that only its "
				 "owner may write");
	} else if (errno == ENODATA) {
		hc_note_no_room(search, pid);
		hc_search_seen(search, pid);
	} else {
		hc_search_note_error(search, path);
	}
}

/*
 * One state file: NULL when it is not the live proxy of this configuration
 * in this network namespace (search notes what it was); else its state,
 * and its score (hc_candidate_score).
 */
static const struct shared *hc_consider(const struct conf *conf, const struct hc_sockets *socks,
					struct hc_search *search, const char *path, long pid,
					int *score)
{
	/*
	 * Who may have made the proxy's file: root, RUN_AS (a proxy started as
	 * root makes it as RUN_AS), or whoever runs this healthcheck (a proxy
	 * started by hand, `make run`). Anyone else may have planted it.
	 */
	const uid_t owners[] = { 0, (uid_t)conf->run_uid, geteuid() };
	const struct shared *shared;
	struct stat info;

	if (!(shared = shared_open(path, owners, sizeof owners / sizeof owners[0], &info))) {
		hc_note_unopened(search, conf, path, pid, &info,
				 info.st_uid == owners[0] || info.st_uid == owners[1] ||
					 info.st_uid == owners[2]);
		return NULL;
	}
	*score = hc_candidate_score(shared, socks, search, pid);
	if (*score >= 0)
		hc_search_seen(search, pid);	/* its main process, alive, in our namespaces */
	if (*score >= 0 && shared->conf_hash != search->conf_hash) {
		if (!search->other_pid) {
			search->other_pid = shared->main_pid;
			hc_describe(shared, search->other, sizeof search->other);
		}
		*score = -1;
	}
	if (*score < 0) {
		shared_close(shared);
		return NULL;
	}
	return shared;
}

/* The state of the live proxy of this configuration in our network namespace, or NULL. */
static const struct shared *hc_find_proxy(const struct conf *conf,
					  const struct hc_sockets *socks,
					  struct hc_search *search)
{
	const struct shared *best = NULL;
	int best_score = -1;
	struct dirent *entry;
	DIR *dir;

	snprintf(search->dir, sizeof search->dir, "%s", shared_dir());
	search->pidns = shared_pidns();
	search->conf_hash = shared_conf_hash(conf->mode == CONF_MODE_TCP ? SOCK_STREAM : SOCK_DGRAM,
					     conf->entries, conf_listener_entries(conf), conf->targets);
	if (!(dir = opendir(search->dir))) {
		hc_search_note_error(search, search->dir);
		return NULL;
	}
	while ((entry = readdir(dir))) {
		char path[sizeof search->dir + 300];
		const struct shared *shared;
		long pid = hc_state_file_pid(entry->d_name);
		int score = -1;

		if (!pid)
			continue;
		snprintf(path, sizeof path, "%s/%s", search->dir, entry->d_name);
		if (!(shared = hc_consider(conf, socks, search, path, pid, &score)))
			continue;
		if (score > best_score) {
			shared_close(best);
			best = shared;
			best_score = score;
		} else {
			shared_close(shared);
		}
	}
	closedir(dir);
	return best;
}

/* A live main process in our namespace that has no state file at all; or 0. */
static long hc_unpublished_proxy(const struct hc_procs *procs, const struct hc_search *search)
{
	for (size_t i = 0; i < procs->count; i++) {
		const struct proc_stat *proc = &procs->list[i];
		int seen = 0;

		if (strcmp(proc->comm, SHARED_MAIN_COMM) != 0 || !proc_stat_alive(proc) ||
		    !hc_maybe_our_netns(proc->pid))
			continue;
		for (size_t j = 0; j < search->nseen; j++)
			seen |= search->seen[j] == proc->pid;
		if (!seen)
			return proc->pid;
	}
	return 0;
}

/* The line for a proxy not found: what was found instead, or why nothing was. */
static int hc_not_found(const struct conf *conf, const struct hc_search *search,
			const struct hc_procs *procs)
{
	long pid = hc_unpublished_proxy(procs, search);
	char ports[256];

	if (search->unreadable)
		return hc_fail("processes", "unable to read %s: %s", search->unreadable_path,
			       strerror(search->read_errno));
	if (search->no_room_pid)
		return hc_fail("processes", "%s (pid %ld) runs on anonymous memory: %s had no room "
			       "for its state when it started, so it cannot be checked; give %s "
			       "more room (e.g. --shm-size) and restart it", SHARED_MAIN_COMM,
			       search->no_room_pid, search->dir, search->dir);
	if (search->refused)
		return hc_fail("processes", "refused %s: %s: not the proxy's state",
			       search->refused_path, search->refused_why);
	hc_format_ports(conf, ports, sizeof ports);
	if (search->other_pid)
		return hc_fail("processes", "no proxy of this configuration (%s %s -> %s) in this "
			       "network namespace; proxy %ld there serves %s",
			       conf->mode == CONF_MODE_TCP ? "tcp" : "udp", ports, conf->targets,
			       search->other_pid, search->other);
	if (pid)
		return hc_fail("processes", "%s (pid %ld) runs but published no state in %s: "
			       "it must be writable for the proxy, and the same directory for the "
			       "healthcheck", SHARED_MAIN_COMM, pid, search->dir);
	return hc_fail("processes", "no %s process in this network namespace: the proxy is "
		       "not running", SHARED_MAIN_COMM);
}

/* ---- the ports ---- */

enum hc_port_status {
	HC_PORT_OK,
	HC_PORT_OVER_LIMIT,
	HC_PORT_NOT_LISTENING,	/* its listener lives, but its socket is not open here */
	HC_PORT_STOPPED,	/* SIGSTOP: alive, and serving nobody */
	HC_PORT_EXITED,		/* its listener died (a zombie, or reaped) */
	HC_PORT_NO_LISTENER,	/* none published: not started yet */
};

/*
 * An entry's listener and every one of its sockets (a range's each); the
 * first socket not open here goes into *missing.
 */
static enum hc_port_status hc_check_port(const struct shared *shared,
					 const struct shared_port *port,
					 const struct hc_sockets *socks,
					 const struct hc_procs *procs, const struct conf *conf,
					 size_t *connections, unsigned *missing)
{
	long pid = atomic_load_explicit((_Atomic int32_t *)&port->listener_pid,
					memory_order_relaxed);
	const struct shared_socket *sockets = shared_sockets(shared) + port->first_socket;
	struct proc_stat stat;

	*connections = 0;
	if (pid <= 0)
		return HC_PORT_NO_LISTENER;
	if (proc_stat_read(pid, &stat) < 0 || !proc_stat_alive(&stat) ||
	    stat.ppid != shared->main_pid)
		return HC_PORT_EXITED;
	if (stat.state == 'T' || stat.state == 't')
		return HC_PORT_STOPPED;
	if (port->first_socket + (size_t)port->nsockets > shared->nsockets)
		return HC_PORT_NOT_LISTENING;	/* a state that is not whole */
	for (size_t i = 0; i < port->nsockets; i++)
		if (!hc_socket_visible(socks, &sockets[i])) {
			*missing = atomic_load_explicit((_Atomic uint32_t *)&sockets[i].port,
							memory_order_relaxed);
			return HC_PORT_NOT_LISTENING;
		}
	*connections = hc_count_children(procs, pid);
	if (conf->max_connections > 0 && *connections > (size_t)conf->max_connections)
		return HC_PORT_OVER_LIMIT;
	return HC_PORT_OK;
}

static void hc_port_problem(char *buf, size_t size, enum hc_port_status status,
			    const struct conf_port *entry, unsigned missing, size_t connections,
			    long max_connections)
{
	const char *port = entry->text;
	char text[160];

	switch (status) {
	case HC_PORT_OVER_LIMIT:
		snprintf(text, sizeof text, "port %s: %zu connections, more than MAX_CONNECTIONS=%ld",
			 port, connections, max_connections);
		break;
	case HC_PORT_NOT_LISTENING:
		if (entry->first != entry->last)
			snprintf(text, sizeof text, "port %s: no process of the proxy listens on %u",
				 port, missing);
		else
			snprintf(text, sizeof text, "port %s: no process of the proxy listens on it",
				 port);
		break;
	case HC_PORT_STOPPED:
		snprintf(text, sizeof text, "port %s: its listener is stopped (SIGSTOP)", port);
		break;
	case HC_PORT_EXITED:
		snprintf(text, sizeof text, "port %s: its listener has exited", port);
		break;
	default:
		snprintf(text, sizeof text, "port %s: no listener process", port);
		break;
	}
	hc_append(buf, size, text);
}

void hc_format_ports(const struct conf *conf, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < conf->nentries; i++) {
		int len = snprintf(out + used, size - used, "%s%s", i ? " " : "",
				   conf->entries[i].text);

		if (len < 0 || used + (size_t)len + 24 >= size) {
			snprintf(out + used, size - used, " ... (%zu entries)", conf->nentries);
			return;
		}
		used += (size_t)len;
	}
}

/* The state's entry for a PORT entry: the one named as it is written. */
static const struct shared_port *hc_entry_of(const struct shared *shared,
					     const struct conf_port *entry)
{
	for (size_t i = 0; i < shared->nports; i++)
		if (strncmp(shared->ports[i].name, entry->text, sizeof entry->text) == 0)
			return &shared->ports[i];
	return NULL;
}

/* Every PORT entry: a listener each, serving on all its sockets, within MAX_CONNECTIONS. */
static int hc_check_ports(const struct conf *conf, const struct shared *shared,
			  const struct hc_sockets *socks, const struct hc_procs *procs)
{
	char problems[HC_LINE_SIZE / 2] = "", ports[256];
	size_t total = 0;

	/* PORT's entries, then CONNECT_PORT's listener, checked alike. */
	for (size_t i = 0; i < conf_listener_entries(conf); i++) {
		const struct shared_port *port = hc_entry_of(shared, &conf->entries[i]);
		size_t connections = 0;
		unsigned missing = 0;
		enum hc_port_status status =
			port ? hc_check_port(shared, port, socks, procs, conf, &connections, &missing)
			     : HC_PORT_NO_LISTENER;

		total += connections;
		if (status != HC_PORT_OK)
			hc_port_problem(problems, sizeof problems, status, &conf->entries[i], missing,
					connections, conf->max_connections);
	}
	if (problems[0])
		return hc_fail("processes", "proxy %d: %s", shared->main_pid, problems);
	hc_format_ports(conf, ports, sizeof ports);
	if (conf->connect_port)
		snprintf(ports + strlen(ports), sizeof ports - strlen(ports), " and CONNECT_PORT %u",
			 conf->connect_port);
	hc_pass("processes", "proxy %d listens on %s %s (%zu connection%s)", shared->main_pid,
		conf->mode == CONF_MODE_TCP ? "tcp" : "udp", ports, total, total == 1 ? "" : "s");
	return 0;
}

int hc_check_processes(const struct conf *conf, struct hc_proxy *proxy)
{
	struct hc_search search = { .unreadable = 0 };
	struct hc_sockets socks;
	struct hc_procs procs;
	int failed;

	memset(proxy, 0, sizeof *proxy);
	if (hc_sockets_load(&socks, conf->mode == CONF_MODE_TCP ? SOCK_STREAM : SOCK_DGRAM) < 0 ||
	    hc_procs_load(&procs) < 0) {
		failed = hc_fail("processes", "unable to read /proc: %s", strerror(errno));
	} else if (!(proxy->shared = hc_find_proxy(conf, &socks, &search))) {
		failed = hc_not_found(conf, &search, &procs);
	} else {
		proxy->pid = proxy->shared->main_pid;
		failed = hc_check_ports(conf, proxy->shared, &socks, &procs);
	}
	free(socks.list);
	free(procs.list);
	return failed;
}

int hc_check_loop(const struct conf *conf, const struct hc_proxy *proxy)
{
	char problems[HC_LINE_SIZE / 2] = "";
	long long now = proc_now_ms();

	for (size_t i = 0; i < proxy->shared->nports; i++) {
		const struct shared_port *port = &proxy->shared->ports[i];
		long long last = atomic_load_explicit((_Atomic int64_t *)&port->loop_last_ms,
						      memory_order_relaxed);
		struct sockaddr_storage addr;
		char shown[LOG_ADDR_SIZE] = "?", sentence[512];
		socklen_t len;

		if (!last || now - last >= SHARED_LOOP_WINDOW_MS)
			continue;
		char name[CONF_TARGET_SIZE + 2];

		if (shared_addr_load(&port->loop_addr, &addr, &len, NULL) == 0)
			log_host((struct sockaddr *)&addr, shown, sizeof shown);
		shared_text_load(port->loop_name, sizeof port->loop_name / sizeof port->loop_name[0],
				 name, sizeof name);
		shared_loop_sentence(sentence, sizeof sentence, port->name,
				     name[0] ? name : conf->target, conf->pre_resolve, shown);
		hc_append(problems, sizeof problems, sentence);
	}
	if (problems[0])
		return hc_fail("loop", "%s", problems);
	hc_pass("loop", "no connection led back to the proxy itself in the last %d s",
		SHARED_LOOP_WINDOW_MS / 1000);
	return 0;
}

void hc_proxy_release(struct hc_proxy *proxy)
{
	shared_close(proxy->shared);
	proxy->shared = NULL;
}
