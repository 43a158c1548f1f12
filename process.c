/*
 * process.c: see process.h.
 */
#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROC_STAT_SIZE 1024
#define PROC_STAT_STARTTIME 19	/* fields after ") ": state is the 1st, starttime the 20th */

long long proc_now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
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
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
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

int proc_stat_read(long pid, struct proc_stat *out)
{
	char path[64], text[PROC_STAT_SIZE];
	ssize_t len;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	len = read(fd, text, sizeof text - 1);
	close(fd);
	if (len <= 0)
		return -1;
	text[len] = '\0';
	return proc_stat_parse(text, out);
}

int proc_stat_alive(const struct proc_stat *stat)
{
	return stat->state != 'Z' && stat->state != 'X';
}
