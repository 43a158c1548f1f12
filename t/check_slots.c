/*
 * check_slots: the MAX_CONNECTIONS counter. A slot is taken before fork and
 * given back once per reaped child; the count never drifts or goes negative.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slots.h"
#include "t/check.h"

START_TEST(test_limit_blocks_and_reaping_frees)
{
	struct slots slots;

	ck_assert_int_eq(slots_init(&slots, 3), 0);
	for (pid_t pid = 100; pid < 103; pid++) {
		ck_assert_int_eq(slots_full(&slots), 0);
		ck_assert_int_eq(slots_take(&slots), 0);
		slots_bind(&slots, pid);
	}
	ck_assert_int_eq(slots_full(&slots), 1);
	ck_assert_int_eq(slots_take(&slots), -1);
	ck_assert_uint_eq(slots.used, 3);
	ck_assert_int_eq(slots_give(&slots, 101), 1);
	ck_assert_uint_eq(slots.used, 2);
	ck_assert_int_eq(slots_full(&slots), 0);
	slots_free(&slots);
}
END_TEST

START_TEST(test_unknown_or_repeated_pid_frees_nothing)
{
	struct slots slots;

	ck_assert_int_eq(slots_init(&slots, 2), 0);
	slots_take(&slots);
	slots_bind(&slots, 7);
	ck_assert_int_eq(slots_give(&slots, 8), 0);	/* an orphan that is not ours */
	ck_assert_int_eq(slots_give(&slots, 7), 1);
	ck_assert_int_eq(slots_give(&slots, 7), 0);	/* reaped once, given back once */
	ck_assert_uint_eq(slots.used, 0);
	ck_assert_int_eq(slots_give(&slots, 0), 0);
	slots_free(&slots);
}
END_TEST

START_TEST(test_failed_fork_gives_back)
{
	struct slots slots;

	ck_assert_int_eq(slots_init(&slots, 1), 0);
	ck_assert_int_eq(slots_take(&slots), 0);
	ck_assert_int_eq(slots_full(&slots), 1);
	slots_cancel(&slots);
	ck_assert_uint_eq(slots.used, 0);
	ck_assert_int_eq(slots_full(&slots), 0);
	/* The pid slot of a cancelled fork is not matched by a later reap of pid 0. */
	ck_assert_int_eq(slots_give(&slots, 0), 0);
	slots_free(&slots);
}
END_TEST

START_TEST(test_no_limit_grows)
{
	struct slots slots;

	ck_assert_int_eq(slots_init(&slots, 0), 0);
	for (pid_t pid = 1; pid <= 1000; pid++) {
		ck_assert_int_eq(slots_full(&slots), 0);
		ck_assert_int_eq(slots_take(&slots), 0);
		slots_bind(&slots, pid);
	}
	ck_assert_uint_eq(slots.used, 1000);
	for (pid_t pid = 1000; pid >= 1; pid -= 2)
		ck_assert_int_eq(slots_give(&slots, pid), 1);
	ck_assert_uint_eq(slots.used, 500);
	for (pid_t pid = 1; pid <= 999; pid += 2)
		ck_assert_int_eq(slots_give(&slots, pid), 1);
	ck_assert_uint_eq(slots.used, 0);
	slots_free(&slots);
}
END_TEST

/* A huge limit allocates nothing up front; the table grows with the children, pids kept. */
START_TEST(test_huge_limit_grows_as_needed)
{
	struct slots slots;

	ck_assert_int_eq(slots_init(&slots, 2000000000L), 0);
	ck_assert_uint_le(slots.cap, SLOTS_INLINE);
	for (pid_t pid = 1; pid <= 300; pid++) {
		ck_assert_int_eq(slots_take(&slots), 0);
		slots_bind(&slots, pid);
	}
	ck_assert_uint_ge(slots.cap, 300);
	ck_assert_uint_lt(slots.cap, 1024);
	for (pid_t pid = 1; pid <= 300; pid++)
		ck_assert_int_eq(slots_give(&slots, pid), 1);
	ck_assert_uint_eq(slots.used, 0);
	slots_free(&slots);
}
END_TEST

/* Growing stops at the limit: never more room than MAX_CONNECTIONS asks for. */
START_TEST(test_growth_stops_at_the_limit)
{
	struct slots slots;

	ck_assert_int_eq(slots_init(&slots, 200), 0);
	for (pid_t pid = 1; pid <= 200; pid++) {
		ck_assert_int_eq(slots_take(&slots), 0);
		slots_bind(&slots, pid);
	}
	ck_assert_int_eq(slots_take(&slots), -1);
	ck_assert_uint_eq(slots.cap, 200);
	slots_free(&slots);
}
END_TEST

/* 1 when the page holding address is mapped in this process (mincore fails with ENOMEM if not). */
static int mapped(const void *address)
{
	unsigned char resident;
	uintptr_t page = (uintptr_t)address & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);

	return mincore((void *)page, 1, &resident) == 0;
}

START_TEST(test_a_grown_table_is_not_inherited_by_children)
{
	struct slots slots;
	pid_t child;
	int status;

	slots_init(&slots, 0);
	for (int i = 0; i < SLOTS_INLINE + 1; i++) {
		ck_assert_int_eq(slots_take(&slots), 0);
		slots_bind(&slots, 1000 + i);
	}
	ck_assert_ptr_ne(slots.pids, slots.inline_pids);
	ck_assert(mapped(slots.pids));
	child = fork();
	if (child == 0)
		_exit(mapped(slots.pids) ? 1 : 0);
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "a child inherited the table: each relay would keep a copy of its page");
	slots_free(&slots);
}
END_TEST

/* Random take/give sequences against a model count. */
START_TEST(test_random_sequences_match_a_model)
{
	struct slots slots;
	pid_t live[8];
	size_t nlive = 0;
	pid_t next = 1;

	srand(12345);
	ck_assert_int_eq(slots_init(&slots, 8), 0);
	for (int step = 0; step < 100000; step++) {
		if (rand() % 2 && nlive < 8) {
			ck_assert_int_eq(slots_take(&slots), 0);
			if (rand() % 10 == 0) {
				slots_cancel(&slots);
			} else {
				slots_bind(&slots, next);
				live[nlive++] = next++;
			}
		} else if (nlive > 0) {
			size_t victim = (size_t)rand() % nlive;

			ck_assert_int_eq(slots_give(&slots, live[victim]), 1);
			live[victim] = live[--nlive];
		}
		ck_assert_uint_eq(slots.used, nlive);
		ck_assert_int_eq(slots_full(&slots), nlive == 8);
	}
	slots_free(&slots);
}
END_TEST

Suite *slots_suite(void)
{
	Suite *suite = suite_create("slots");
	TCase *tc = tcase_create("counter");

	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_limit_blocks_and_reaping_frees);
	tcase_add_test(tc, test_unknown_or_repeated_pid_frees_nothing);
	tcase_add_test(tc, test_failed_fork_gives_back);
	tcase_add_test(tc, test_no_limit_grows);
	tcase_add_test(tc, test_huge_limit_grows_as_needed);
	tcase_add_test(tc, test_growth_stops_at_the_limit);
	tcase_add_test(tc, test_random_sequences_match_a_model);
	tcase_add_test(tc, test_a_grown_table_is_not_inherited_by_children);
	suite_add_tcase(suite, tc);
	return suite;
}
