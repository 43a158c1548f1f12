/*
 * check_shared: the memory shared by the proxy's processes. Counters added
 * from many processes at once lose nothing; a reader never sees a target
 * address half old and half new while the main process rewrites it.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared.h"

#define ADDERS 4
#define ADDS_EACH 200000

static struct shared *make(void)
{
	static struct conf conf;
	struct shared *shared;

	memset(&conf, 0, sizeof conf);
	conf.nports = 3;
	conf.ports[0] = 80;
	conf.ports[1] = 443;
	conf.ports[2] = 8080;
	shared = shared_create(&conf);
	ck_assert_ptr_nonnull(shared);
	return shared;
}

static struct sockaddr_storage addr_of(const char *text)
{
	struct sockaddr_storage addr = { 0 };

	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)&addr)->sin_addr) == 1) {
		addr.ss_family = AF_INET;
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, text,
					   &((struct sockaddr_in6 *)&addr)->sin6_addr), 1);
		addr.ss_family = AF_INET6;
	}
	return addr;
}

START_TEST(test_ports_and_zeroed_counters)
{
	struct shared *shared = make();
	struct shared_counters *counters = shared_counters_of(shared, 443);

	ck_assert_uint_eq(shared->nports, 3);
	ck_assert_ptr_eq(counters, &shared->ports[1]);
	ck_assert_uint_eq(counters->port, 443);
	ck_assert_ptr_null(shared_counters_of(shared, 81));
	ck_assert_uint_eq(shared_get(&counters->connections_total), 0);
	ck_assert_uint_eq(shared_get(&counters->bytes_down), 0);
	/* One cache line each: ports updated by different listeners never share one. */
	ck_assert_uint_eq((uintptr_t)&shared->ports[1] % SHARED_LINE, 0);
	ck_assert_uint_eq(sizeof shared->ports[0] % SHARED_LINE, 0);
}
END_TEST

/* Children add at once, as relays of one port do; the total is exact. */
START_TEST(test_counters_exact_across_processes)
{
	struct shared *shared = make();
	struct shared_counters *counters = shared_counters_of(shared, 80);
	pid_t pids[ADDERS];

	for (int i = 0; i < ADDERS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			for (int add = 0; add < ADDS_EACH; add++) {
				shared_add(&counters->bytes_up, 3);
				shared_add(&counters->connections_total, 1);
			}
			_exit(0);
		}
	}
	for (int i = 0; i < ADDERS; i++) {
		int status;

		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert_int_eq(status, 0);
	}
	ck_assert_uint_eq(shared_get(&counters->connections_total), ADDERS * ADDS_EACH);
	ck_assert_uint_eq(shared_get(&counters->bytes_up), 3ULL * ADDERS * ADDS_EACH);
	ck_assert_uint_eq(shared_get(&shared->ports[1].connections_total), 0);
}
END_TEST

START_TEST(test_target_store_and_load)
{
	struct shared *shared = make();
	struct sockaddr_storage in = addr_of("198.18.2.2"), out;
	socklen_t len;
	uint32_t version = shared_target_version(shared);

	ck_assert_int_eq(shared_target_load(shared, &out, &len), -1);
	((struct sockaddr_in *)&in)->sin_port = htons(80);	/* ignored */
	shared_target_store(shared, (struct sockaddr *)&in);
	ck_assert_int_eq(shared_target_load(shared, &out, &len), 0);
	ck_assert_int_eq(out.ss_family, AF_INET);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(((struct sockaddr_in *)&out)->sin_port, 0);
	ck_assert_int_eq(memcmp(&((struct sockaddr_in *)&out)->sin_addr,
				&((struct sockaddr_in *)&in)->sin_addr, 4), 0);
	ck_assert_uint_ne(shared_target_version(shared), version);
	ck_assert_uint_eq(shared_target_version(shared) % 2, 0);

	in = addr_of("2001:db8:2::2");
	version = shared_target_version(shared);
	shared_target_store(shared, (struct sockaddr *)&in);
	ck_assert_int_eq(shared_target_load(shared, &out, &len), 0);
	ck_assert_int_eq(out.ss_family, AF_INET6);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
	ck_assert_int_eq(memcmp(&((struct sockaddr_in6 *)&out)->sin6_addr,
				&((struct sockaddr_in6 *)&in)->sin6_addr, 16), 0);
	ck_assert_uint_ne(shared_target_version(shared), version);
}
END_TEST

/* 1 when out is exactly first or second. */
static int one_of(const struct sockaddr_storage *out, const struct sockaddr_storage *first,
		  const struct sockaddr_storage *second)
{
	for (int i = 0; i < 2; i++) {
		const struct sockaddr_storage *want = i ? second : first;
		size_t len = want->ss_family == AF_INET ? sizeof(struct sockaddr_in)
							: sizeof(struct sockaddr_in6);

		if (out->ss_family == want->ss_family && memcmp(out, want, len) == 0)
			return 1;
	}
	return 0;
}

/*
 * A writer process flips between a v4 and a v6 address; every read is one of
 * them, whole. The writer yields between stores, as the main process (which
 * stores once per RESOLVE_INTERVAL) does more than enough: a writer that
 * stores nonstop has seq odd most of the time, so whenever it is descheduled
 * (another process, or the hypervisor taking the vCPU), it is mid-store, and
 * a reader gives up after SHARED_MAX_TRIES (tens of ms): on a 2-core machine
 * that failed most runs. Reads still overlap stores: up to thousands of the
 * two million on two free cores.
 */
START_TEST(test_target_never_torn)
{
	struct shared *shared = make();
	struct sockaddr_storage v4 = addr_of("198.18.2.2"), v6 = addr_of("2001:db8:ffff:eeee::dddd"),
				out;
	socklen_t len;
	long mixes = 0;
	pid_t writer;

	shared_target_store(shared, (struct sockaddr *)&v4);
	writer = fork();
	ck_assert_int_ge(writer, 0);
	if (writer == 0)
		for (unsigned long i = 0;; i++) {
			shared_target_store(shared, (struct sockaddr *)(i % 2 ? &v4 : &v6));
			sched_yield();
		}
	for (int i = 0; i < 2000000; i++) {
		memset(&out, 0xa5, sizeof out);
		ck_assert_int_eq(shared_target_load(shared, &out, &len), 0);
		if (!one_of(&out, &v4, &v6))
			mixes++;
	}
	kill(writer, SIGKILL);
	waitpid(writer, NULL, 0);
	ck_assert_int_eq(mixes, 0);
}
END_TEST

Suite *shared_suite(void)
{
	Suite *suite = suite_create("shared");
	TCase *tc = tcase_create("shared");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_ports_and_zeroed_counters);
	tcase_add_test(tc, test_counters_exact_across_processes);
	tcase_add_test(tc, test_target_store_and_load);
	tcase_add_test(tc, test_target_never_torn);
	suite_add_tcase(suite, tc);
	return suite;
}

int main(void)
{
	SRunner *runner = srunner_create(shared_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
