/*
 * process.h: what every process of the proxy (and the healthcheck) needs
 * about processes: the clock, the signal state a new child starts from, the
 * fork used per connection, and reading /proc/PID/stat.
 */
#ifndef WHITELIST_PROCESS_H
#define WHITELIST_PROCESS_H

#include <sys/types.h>
#include <unistd.h>

#define PROC_COMM_SIZE 16	/* the kernel's TASK_COMM_LEN */

/* Milliseconds on the monotonic clock: the same in every process of the machine. */
long long proc_now_ms(void);

/* In a new child: default dispositions, nothing blocked, SIGINT ignored (drain on Ctrl-C). */
void proc_signals_child(void);

/*
 * In a listener's new child: nothing blocked. The listener set the
 * dispositions a child needs (proc_signals_child) before blocking the
 * signals it reads from a signalfd, so one system call is enough here.
 */
void proc_signals_unblock(void);

/*
 * fork() for the per-connection children: _Fork() skips the atfork handlers,
 * whose lock resets would dirty (copy) libc's pages in every child. Safe here:
 * the proxy is single-threaded, so no lock is held at the fork.
 */
static inline pid_t proc_fork(void)
{
	return _Fork();
}

/* The fields of /proc/PID/stat we use. */
struct proc_stat {
	long pid;
	long ppid;
	char state;			/* R S D T t Z X ... */
	char comm[PROC_COMM_SIZE];
	unsigned long long starttime;	/* clock ticks after boot: tells a reused pid apart */
};

/* Parses a /proc/PID/stat line ("pid (comm) state ppid ..."); comm may hold spaces and ')'. */
int proc_stat_parse(const char *text, struct proc_stat *out);

/* Reads /proc/PID/stat (readable for any process, whoever owns it). -1 when gone. */
int proc_stat_read(long pid, struct proc_stat *out);

/* 1 when the process has not exited (a zombie has). */
int proc_stat_alive(const struct proc_stat *stat);

#endif
