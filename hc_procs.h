/*
 * hc_procs.h: the healthcheck's "processes" and "loop" checks.
 *
 * The proxy publishes its state (shared.h) in /dev/shm (else $TMPDIR) as
 * whitelist-PID-XXXXXX.state; the healthcheck needs nothing it may not read
 * without CAP_SYS_PTRACE: that file, /proc/PID/stat of any process, and
 * /proc/net of its own network namespace. A state file counts when it is a
 * regular file of root, RUN_AS or our own user that nobody else may write
 * (anyone may put files in /dev/shm), its main pid is alive with the start
 * time it recorded in our pid namespace (not a stale file, not a reused
 * pid), its listening sockets show in our /proc/net (the same network
 * namespace, still open), and it serves our configuration (mode, ports,
 * TARGET: sidecars may share the network namespace and /dev/shm).
 */
#ifndef WHITELIST_HC_PROCS_H
#define WHITELIST_HC_PROCS_H

#include <stddef.h>

#include "config.h"
#include "shared.h"

/* The proxy, as found. */
struct hc_proxy {
	long pid;			/* 0: none found */
	const struct shared *shared;	/* its published state, mapped read-only */
};

/* Finds the proxy and checks each PORT's listener; 1 when unhealthy (reported). */
int hc_check_processes(const struct conf *conf, struct hc_proxy *proxy);

/* Unhealthy while a connection found TARGET leading back to the proxy in the last minute. */
int hc_check_loop(const struct conf *conf, const struct hc_proxy *proxy);

void hc_proxy_release(struct hc_proxy *proxy);

/* --- parts, for the unit tests --- */

/*
 * One line of /proc/net/{tcp,tcp6,udp,udp6}: the local port, the state and
 * the inode; -1 for the header or junk.
 */
int hc_parse_net_line(const char *line, unsigned *port, unsigned *state, unsigned long *inode);

/* The main pid of a state file's name, "whitelist-PID-XXXXXX.state"; 0 when it is not one. */
long hc_state_file_pid(const char *name);

/* "80 443", or "80 443 ... (1001 ports)" when the list does not fit. */
void hc_format_ports(const struct conf *conf, char *out, size_t size);

#endif
