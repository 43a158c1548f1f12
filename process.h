/*
 * process.h: what every process of the proxy (and the healthcheck) needs
 * about processes: the clock, the signal state a new child starts from, the
 * fork used per connection (and where its child's memory is), and
 * reading /proc/PID/stat.
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

/*
 * A mapping placed just below the program's first page (below earlier ones
 * made here), where the binary's own page tables are: a relay that touches
 * it needs no page-table pages of its own for another region of the address
 * space. MAP_FAILED with errno; elsewhere when that range is taken.
 */
void *proc_map_low(size_t size, int prot, int flags, int fd);

/*
 * In a listener: its children will start on a stack of their own (mapped
 * low, nothing mapped below it, so an overflow faults), and the listener's
 * own stack is left out of every fork, and so is the vDSO unless
 * children_use_vdso. A child then copies no stack page and has no page
 * tables outside the binary's region; what it needs must be in static or
 * heap memory, never on the listener's stack. Without the vDSO it must read
 * the clock with system calls (proc_now_ms, log.c), never through libc's
 * clock_gettime, gettimeofday or time (getaddrinfo does). -1 when it could
 * not (children are then forked as usual, with the listener's stack).
 */
int proc_spawn_prepare(int children_use_vdso);

/*
 * A child running child() and exiting with its result; the parent gets its
 * pid, as with fork(). child's argument is a copy of arg's size bytes at the
 * top of its stack: the page the parent writes anyway to start it there.
 */
pid_t proc_spawn(int (*child)(void *), const void *arg, size_t size);

/*
 * The calling process and the children it starts from now on are scheduled
 * as SCHED_BATCH: a woken relay does not preempt the task that woke it, so
 * that task (the app writing its next request, the server its next answer)
 * runs on, and the relay reads what came meanwhile in one go. Many small
 * messages on a connection then take a fraction of the wake-ups (a context
 * switch per segment otherwise); a lone request waits for no one, since an
 * idle CPU runs it at once. -1 with errno when the kernel refused (the
 * proxy then works as before).
 */
int proc_batch_scheduling(void);

/* The environment moved to the heap, so that no pointer into the first stack is left. */
void proc_environ_to_heap(void);

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

/*
 * The calling process's own line, read as /proc/thread-self/stat (called from
 * the main thread: its start time is the process's). Not /proc/self/stat nor
 * /proc/<own pid>/stat: a user-mode emulator (qemu-user: an arm64 image run on
 * an amd64 host) answers those itself, with a start time of its own reckoning
 * that can be a tick off what every other process reads (docs/arm64.md).
 */
int proc_stat_read_self(struct proc_stat *out);

/* 1 when the process has not exited (a zombie has). */
int proc_stat_alive(const struct proc_stat *stat);

#endif
