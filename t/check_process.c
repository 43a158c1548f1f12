/*
 * check_process: the one /proc/PID/stat parser (process.h), which the main
 * process (orphans) and the healthcheck (listeners, children) both use.
 */
#include <check.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"
#include "t/check.h"

/* A stat line as the kernel writes it, with comm and the fields we read. */
#define STAT_LINE(comm, state, ppid, start) \
	"1234 (" comm ") " state " " ppid " 1234 1 0 -1 4194560 98 0 0 0 0 0 0 0 20 0 1 0 " \
	start " 3133440 364 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0"

START_TEST(test_parse_fields)
{
	struct proc_stat stat;

	ck_assert_int_eq(proc_stat_parse(STAT_LINE("whitelist:443", "S", "1233", "42031"), &stat), 0);
	ck_assert_int_eq(stat.pid, 1234);
	ck_assert_str_eq(stat.comm, "whitelist:443");
	ck_assert_int_eq(stat.state, 'S');
	ck_assert_int_eq(stat.ppid, 1233);
	ck_assert_uint_eq(stat.starttime, 42031);
	ck_assert_int_eq(proc_stat_alive(&stat), 1);
}
END_TEST

START_TEST(test_comm_holds_anything)
{
	struct proc_stat stat;

	/* comm is anything the program chose: spaces and parentheses included. */
	ck_assert_int_eq(proc_stat_parse(STAT_LINE("a) b (c", "Z", "5", "7"), &stat), 0);
	ck_assert_str_eq(stat.comm, "a) b (c");
	ck_assert_int_eq(stat.state, 'Z');
	ck_assert_int_eq(stat.ppid, 5);
	ck_assert_uint_eq(stat.starttime, 7);
	ck_assert_int_eq(proc_stat_alive(&stat), 0);
}
END_TEST

START_TEST(test_broken_lines)
{
	struct proc_stat stat;

	ck_assert_int_eq(proc_stat_parse("77 whitelist S 5", &stat), -1);
	ck_assert_int_eq(proc_stat_parse("77 (whitelist)", &stat), -1);
	ck_assert_int_eq(proc_stat_parse("(whitelist) S 5", &stat), -1);
	/* The kernel cuts comm at 15 bytes: a longer one is not a stat line. */
	ck_assert_int_eq(proc_stat_parse(STAT_LINE("0123456789abcdef", "S", "5", "9"), &stat), -1);
	/* Cut before the start time. */
	ck_assert_int_eq(proc_stat_parse("77 (whitelist) S 5 77 1 0 -1 4194560 98 0", &stat), -1);
	ck_assert_int_eq(proc_stat_parse("", &stat), -1);
}
END_TEST

START_TEST(test_reads_itself)
{
	struct proc_stat stat;

	ck_assert_int_eq(proc_stat_read(getpid(), &stat), 0);
	ck_assert_int_eq(stat.pid, getpid());
	ck_assert_int_eq(stat.ppid, getppid());
	ck_assert_int_eq(stat.state, 'R');
	ck_assert_uint_gt(stat.starttime, 0);
	ck_assert_int_eq(proc_stat_read(0, &stat), -1);
}
END_TEST

/* The kernel's own line, as another process reads it: the same start time. */
START_TEST(test_reads_itself_as_others_do)
{
	struct proc_stat self, seen;
	pid_t child;
	int status;

	ck_assert_int_eq(proc_stat_read_self(&self), 0);
	ck_assert_int_eq(self.pid, getpid());
	ck_assert_int_eq(self.ppid, getppid());
	ck_assert_int_eq(self.state, 'R');
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(proc_stat_read(getppid(), &seen) == 0 && seen.starttime == self.starttime &&
		      strcmp(seen.comm, self.comm) == 0 ? 0 : 1);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "another process reads another start time or name than ours");
}
END_TEST

Suite *process_suite(void)
{
	Suite *suite = suite_create("process");
	TCase *tc = tcase_create("stat");

	tcase_add_test(tc, test_parse_fields);
	tcase_add_test(tc, test_comm_holds_anything);
	tcase_add_test(tc, test_broken_lines);
	tcase_add_test(tc, test_reads_itself);
	tcase_add_test(tc, test_reads_itself_as_others_do);
	suite_add_tcase(suite, tc);
	return suite;
}
