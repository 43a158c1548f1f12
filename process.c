/*
 * process.c: see process.h.
 */
#include "process.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#if defined(__GLIBC__) && defined(__has_include)
#if __has_include(<sys/rseq.h>)
#include <sys/rseq.h>	/* glibc 2.35 and later; musl registers no rseq area */
#define PROC_GLIBC_RSEQ 1
#endif
#endif
#include <sys/syscall.h>
#include <time.h>

#define PROC_STAT_SIZE 1024
#define PROC_STAT_STARTTIME 19	/* fields after ") ": state is the 1st, starttime the 20th */

/*
 * The system call, not the vDSO: the vDSO reads the kernel's clock page, and
 * once a process has that page mapped ([vvar], a VM_PFNMAP mapping) fork
 * copies its page-table entries into every child: three page-table pages
 * per relay for a region no relay needs. A relay reads the clock a few times.
 */
long long proc_now_ms(void)
{
	struct timespec now;

	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void proc_signals_child(void)
{
	sigset_t none;

	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGINT, SIG_IGN);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

void proc_signals_unblock(void)
{
	uint64_t none = 0;	/* the kernel's sigset: 64 bits, on the stack (a page already in) */

	/* The system call itself: libc's sigprocmask, sigemptyset are two more text pages to fault in. */
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof none);
}

int proc_batch_scheduling(void)
{
	struct sched_param param = { .sched_priority = 0 };

	return sched_setscheduler(0, SCHED_BATCH, &param);
}

#define PROC_PAGE 4096UL
#define PROC_CHILD_STACK (128 * 1024)	/* the deepest relay path uses a few kB */

/* Where the next low mapping ends: the first page of the program, then lower. */
static uintptr_t proc_low_end;
/* The top of the stack children start on; NULL: they are forked as usual. */
static char *proc_child_stack_top;
/* environ and its strings are on the heap, not on the first stack. */
static int proc_environ_moved;

void *proc_map_low(size_t size, int prot, int flags, int fd)
{
	extern const char __executable_start[];	/* defined by the linker */
	uintptr_t length = (size + PROC_PAGE - 1) & ~(PROC_PAGE - 1), start;
	void *region;

	if (!proc_low_end)
		proc_low_end = (uintptr_t)__executable_start & ~(PROC_PAGE - 1);
	if (proc_low_end < length + (1UL << 20))	/* never near page zero */
		return mmap(NULL, size, prot, flags, fd, 0);
	start = proc_low_end - length;
	region = mmap((void *)start, size, prot, flags | MAP_FIXED_NOREPLACE, fd, 0);
	if (region == (void *)start)
		proc_low_end = start;
	else if (region == MAP_FAILED && errno == EEXIST)
		region = mmap(NULL, size, prot, flags, fd, 0);
	return region;
}

/*
 * MADV_DONTFORK on this process's mappings named one of names (as
 * /proc/self/maps shows them). Whatever it cannot mark is merely inherited:
 * the children never use it, it costs them memory, nothing else.
 */
static void proc_dontfork(const char *const *names)
{
	FILE *maps = fopen("/proc/self/maps", "re");
	unsigned long start, end;
	char line[512], *name;

	if (!maps)
		return;
	while (fgets(line, sizeof line, maps)) {
		line[strcspn(line, "\n")] = '\0';
		name = strrchr(line, ' ');
		if (!name || sscanf(line, "%lx-%lx", &start, &end) != 2)
			continue;
		for (const char *const *wanted = names; *wanted; wanted++)
			if (strcmp(name + 1, *wanted) == 0)
				madvise((void *)start, end - start, MADV_DONTFORK);
	}
	fclose(maps);
}

/*
 * glibc registers a restartable-sequences area in the thread block, which
 * static glibc keeps in the heap; the kernel writes the CPU number there
 * whenever the process comes back from the scheduler. In a relay that write
 * is the first to its copy of the heap page: a fault and a private copy
 * (4 kB) in every relay, idle ones included, for an area nothing here reads
 * (sched_getcpu works without it). Unregistered once in the listener, its
 * children are born without one. The length must be the one registered:
 * glibc 2.35-2.39 registered 32 bytes, later ones __rseq_size.
 */
static void proc_rseq_unregister(void)
{
#ifdef PROC_GLIBC_RSEQ
	char *area = (char *)__builtin_thread_pointer() + __rseq_offset;

	if (__rseq_size == 0)	/* not registered (glibc.pthread.rseq=0, an old kernel) */
		return;
	if (syscall(SYS_rseq, area, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) < 0)
		syscall(SYS_rseq, area, __rseq_size, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
#endif
}

int proc_spawn_prepare(int children_use_vdso)
{
	/*
	 * The listener's stack; and the vDSO with the clock pages it reads: the
	 * main process touched them (glibc's start, mkstemp), so fork would copy
	 * the page tables of that region into every child, three pages for nothing.
	 */
	static const char *const stack_only[] = { "[stack]", NULL };
	static const char *const stack_and_clock[] = { "[stack]", "[vdso]", "[vvar]",
						       "[vvar_vclock]", NULL };
	char *stack;

#ifdef __SANITIZE_ADDRESS__
	/* ASan keeps its own idea of the stack and reads the vDSO: forked as usual under it. */
	return -1;
#endif
	if (!proc_environ_moved)
		return -1;
	stack = proc_map_low(PROC_CHILD_STACK, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1);
	if (stack == MAP_FAILED)
		return -1;
	/* Only the lowest mapping has nothing below it to overflow into. */
	if ((uintptr_t)stack != proc_low_end) {
		munmap(stack, PROC_CHILD_STACK);
		return -1;
	}
	proc_dontfork(children_use_vdso ? stack_only : stack_and_clock);
	proc_rseq_unregister();
	proc_child_stack_top = stack + PROC_CHILD_STACK;
	return 0;
}

pid_t proc_spawn(int (*child)(void *), const void *arg, size_t size)
{
	char *copy;
	pid_t pid;

	if (proc_child_stack_top) {	/* size: a few hundred bytes, far less than the stack */
		copy = (char *)((uintptr_t)(proc_child_stack_top - size) & ~(uintptr_t)15);
		memcpy(copy, arg, size);
		/* SIGCHLD, no CLONE_* flag: a fork, on another stack, below the copy. */
		return clone(child, copy, SIGCHLD, copy);
	}
	pid = proc_fork();
	if (pid == 0)
		_exit(child((void *)arg));
	return pid;
}

void proc_environ_to_heap(void)
{
	extern char **environ;
	size_t count = 0;
	char **copy;

	while (environ[count])
		count++;
	if (!(copy = calloc(count + 1, sizeof *copy)))
		return;
	for (size_t i = 0; i < count; i++)
		if (!(copy[i] = strdup(environ[i])))
			return;	/* leaves environ as it was: children are then forked as usual */
	environ = copy;
	proc_environ_moved = 1;
}

/* The field'th space-separated field of text (0: the first); NULL when there are fewer. */
static const char *proc_field(const char *text, int field)
{
	while (field-- > 0) {
		text = strchr(text, ' ');
		if (!text)
			return NULL;
		text++;
	}
	return text;
}

int proc_stat_parse(const char *text, struct proc_stat *out)
{
	const char *open = strchr(text, '('), *close = strrchr(text, ')'), *start;
	char *end;
	size_t len;

	if (!open || !close || close < open || close[1] != ' ')
		return -1;
	out->pid = strtol(text, &end, 10);
	if (end == text || out->pid <= 0)
		return -1;
	len = (size_t)(close - open - 1);
	if (len >= sizeof out->comm)	/* the kernel cuts comm at 15 bytes: not a stat line */
		return -1;
	memcpy(out->comm, open + 1, len);
	out->comm[len] = '\0';
	if (sscanf(close + 2, "%c %ld", &out->state, &out->ppid) != 2)
		return -1;
	start = proc_field(close + 2, PROC_STAT_STARTTIME);
	if (!start || sscanf(start, "%llu", &out->starttime) != 1)
		return -1;
	return 0;
}

static int proc_stat_read_path(const char *path, struct proc_stat *out)
{
	char text[PROC_STAT_SIZE];
	ssize_t len;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	len = read(fd, text, sizeof text - 1);
	close(fd);
	if (len <= 0)
		return -1;
	text[len] = '\0';
	return proc_stat_parse(text, out);
}

int proc_stat_read(long pid, struct proc_stat *out)
{
	char path[64];

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	return proc_stat_read_path(path, out);
}

int proc_stat_read_self(struct proc_stat *out)
{
	return proc_stat_read_path("/proc/thread-self/stat", out);
}

int proc_stat_alive(const struct proc_stat *stat)
{
	return stat->state != 'Z' && stat->state != 'X';
}
