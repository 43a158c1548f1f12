/*
 * bench/forkfloor.c: the machine's floor for a process per connection.
 *
 * Usage: forkfloor SECONDS LIVE
 *
 * Forks LIVE children that wait (as a listener's running relays do), then for
 * SECONDS repeats what a proxy forking per connection cannot do without: fork,
 * the child's _exit, the parent's waitpid. Prints one line:
 *   live LIVE cycles N seconds S fork_us F
 * N cycles in S seconds, and F the mean time of the fork call alone, in the
 * parent. Built static, like the proxy: no ld.so work in the child.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* LIVE children blocked on a pipe; they end when its write end closes. */
static int start_live(int live)
{
	int fds[2];
	char byte;

	if (pipe(fds) < 0) {
		perror("forkfloor: pipe");
		exit(1);
	}
	for (int i = 0; i < live; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("forkfloor: fork of a live child");
			exit(1);
		}
		if (pid == 0) {
			close(fds[1]);
			while (read(fds[0], &byte, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
	}
	close(fds[0]);
	return fds[1];
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: forkfloor SECONDS LIVE\n");
		return 2;
	}
	double seconds = atof(argv[1]);
	int live = atoi(argv[2]);
	int release = start_live(live);
	double start = now(), in_fork = 0, elapsed;
	long cycles = 0;

	do {
		double before = now();
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		in_fork += now() - before;
		if (pid < 0 || waitpid(pid, NULL, 0) != pid) {
			perror("forkfloor: fork or waitpid");
			return 1;
		}
		cycles++;
		elapsed = now() - start;
	} while (elapsed < seconds);
	printf("live %d cycles %ld seconds %.3f fork_us %.1f\n", live, cycles, elapsed,
	       in_fork / cycles * 1e6);
	fflush(stdout);
	close(release);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	return 0;
}
