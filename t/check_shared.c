/*
 * check_shared: the memory shared by the proxy's processes. Counters added
 * from many processes at once lose nothing; a reader never sees a target
 * address half old and half new while the main process rewrites it.
 */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process.h"
#include "shared.h"
#include "t/check.h"

#define ADDERS 4
#define ADDS_EACH 200000
#define TORN_READ_MS 1000	/* reads against the writer this long */
#define TORN_READ_MAX_MS 8000	/* and longer until both addresses were seen */

static char temp_dir[] = "/tmp/check-shared-XXXXXX";
static const struct conf_port seen_entries[] = { { 80, 80, 0, "80" }, { 443, 443, 0, "443" },
						 { 8080, 8080, 0, "8080" } };	/* make()'s */

/* The region of three ports, published in a temp dir of the test's own. */
static struct shared *make(void)
{
	struct shared *shared;
	int published;

	ck_assert_ptr_nonnull(mkdtemp(temp_dir));
	setenv("TMPDIR", temp_dir, 1);
	shared = shared_create(seen_entries, 3, SOCK_STREAM, geteuid(), &published);
	ck_assert_ptr_nonnull(shared);
	ck_assert_int_eq(published, 1);
	return shared;
}

static void unmake(struct shared *shared)
{
	shared_unpublish(shared);
	rmdir(temp_dir);
	strcpy(temp_dir + strlen(temp_dir) - 6, "XXXXXX");
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
	struct shared_port *counters = shared_port_of(shared, 443);

	ck_assert_uint_eq(shared->nports, 3);
	ck_assert_ptr_eq(counters, &shared->ports[1]);
	ck_assert_uint_eq(counters->port, 443);
	ck_assert_ptr_null(shared_port_of(shared, 81));
	ck_assert_uint_eq(shared_get(&counters->connections_total), 0);
	ck_assert_uint_eq(shared_get(&counters->bytes_down), 0);
	/* One cache line each: ports updated by different listeners never share one. */
	ck_assert_uint_eq((uintptr_t)&shared->ports[1] % SHARED_LINE, 0);
	ck_assert_uint_eq(sizeof shared->ports[0] % SHARED_LINE, 0);
	unmake(shared);
}
END_TEST

/* Children add at once, as relays of one port do; the total is exact. */
START_TEST(test_counters_exact_across_processes)
{
	struct shared *shared = make();
	struct shared_port *counters = shared_port_of(shared, 80);
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
	unmake(shared);
}
END_TEST

START_TEST(test_target_store_and_load)
{
	struct shared *shared = make();
	struct sockaddr_storage in = addr_of("198.18.2.2"), out;
	socklen_t len;
	uint32_t version = shared_addr_version(&shared->target);

	ck_assert_int_eq(shared_addr_load(&shared->target, &out, &len, NULL), -1);
	((struct sockaddr_in *)&in)->sin_port = htons(80);	/* ignored */
	shared_addr_store(&shared->target, (struct sockaddr *)&in, 0);
	ck_assert_int_eq(shared_addr_load(&shared->target, &out, &len, NULL), 0);
	ck_assert_int_eq(out.ss_family, AF_INET);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(((struct sockaddr_in *)&out)->sin_port, 0);
	ck_assert_int_eq(memcmp(&((struct sockaddr_in *)&out)->sin_addr,
				&((struct sockaddr_in *)&in)->sin_addr, 4), 0);
	ck_assert_uint_ne(shared_addr_version(&shared->target), version);
	ck_assert_uint_eq(shared_addr_version(&shared->target) % 2, 0);

	in = addr_of("2001:db8:2::2");
	version = shared_addr_version(&shared->target);
	shared_addr_store(&shared->target, (struct sockaddr *)&in, 0);
	ck_assert_int_eq(shared_addr_load(&shared->target, &out, &len, NULL), 0);
	ck_assert_int_eq(out.ss_family, AF_INET6);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
	ck_assert_int_eq(memcmp(&((struct sockaddr_in6 *)&out)->sin6_addr,
				&((struct sockaddr_in6 *)&in)->sin6_addr, 16), 0);
	ck_assert_uint_ne(shared_addr_version(&shared->target), version);
	unmake(shared);
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
 * A writer process flips between a v4 and a v6 address without pause; every
 * read is one of them, whole. Bounded by time, not by a count of reads: a
 * seqlock reader may starve against a writer that never pauses (main
 * rewrites once per RESOLVE_INTERVAL), and a loaded or sanitized machine
 * reads far fewer times a second. A read that gave up (-1) is no torn one;
 * seeing both addresses shows the reads did overlap the writes.
 */
START_TEST(test_target_never_torn)
{
	struct shared *shared = make();
	struct sockaddr_storage v4 = addr_of("198.18.2.2"), v6 = addr_of("2001:db8:ffff:eeee::dddd"),
				out;
	long long start, elapsed;
	long mixes = 0, whole = 0, seen[2] = { 0, 0 };
	socklen_t len;
	pid_t writer;

	shared_addr_store(&shared->target, (struct sockaddr *)&v4, 0);
	writer = fork();
	ck_assert_int_ge(writer, 0);
	if (writer == 0)
		for (unsigned long i = 0;; i++)
			shared_addr_store(&shared->target, (struct sockaddr *)(i % 2 ? &v4 : &v6), 0);
	start = proc_now_ms();
	do {
		memset(&out, 0xa5, sizeof out);
		if (shared_addr_load(&shared->target, &out, &len, NULL) == 0) {
			whole++;
			if (!one_of(&out, &v4, &v6))
				mixes++;
			else
				seen[out.ss_family == AF_INET6]++;
		}
		elapsed = proc_now_ms() - start;
	} while (elapsed < TORN_READ_MS ||
		 ((!seen[0] || !seen[1]) && elapsed < TORN_READ_MAX_MS));
	kill(writer, SIGKILL);
	waitpid(writer, NULL, 0);
	ck_assert_int_eq(mixes, 0);
	ck_assert_msg(seen[0] && seen[1], "%ld whole reads, v4 %ld, v6 %ld: the reads never "
		      "overlapped the writer", whole, seen[0], seen[1]);
	unmake(shared);
}
END_TEST

/* The guard's networks: none at first; a writer flips two lists, every read is one whole. */
START_TEST(test_nets_never_torn)
{
	struct shared *shared = make();
	struct guard_net one[1] = { { AF_INET, 24, { 198, 18, 1 } } };
	struct guard_net three[3] = { { AF_INET6, 64, { 0x20, 0x01, 0x0d, 0xb8, 0, 1 } },
				      { AF_INET, 16, { 203, 0 } }, { AF_INET, 32, { 1, 2, 3, 4 } } };
	struct guard_net out[SHARED_NETS];
	long mixes = 0;
	pid_t writer;

	ck_assert_uint_eq(shared_nets_load(&shared->nets, out), 0);
	shared_nets_store(&shared->nets, three, 3);
	ck_assert_uint_eq(shared_nets_load(&shared->nets, out), 3);
	ck_assert_mem_eq(out, three, sizeof three);
	writer = fork();
	ck_assert_int_ge(writer, 0);
	if (writer == 0)
		for (unsigned long i = 0;; i++)
			shared_nets_store(&shared->nets, i % 2 ? one : three, i % 2 ? 1 : 3);
	for (int i = 0; i < 500000; i++) {
		size_t count = shared_nets_load(&shared->nets, out);

		if (!(count == 1 && memcmp(out, one, sizeof one) == 0) &&
		    !(count == 3 && memcmp(out, three, sizeof three) == 0))
			mixes++;
	}
	kill(writer, SIGKILL);
	waitpid(writer, NULL, 0);
	ck_assert_int_eq(mixes, 0);
	unmake(shared);
}
END_TEST

/* The healthcheck's view: the same region, read-only, from the file. */
START_TEST(test_published_for_the_healthcheck)
{
	struct shared *shared = make();
	struct sockaddr_storage in = addr_of("127.0.0.1"), out;
	const struct shared *seen;
	char path[512], prefix[64];
	uid_t owner = geteuid();
	struct stat info;
	socklen_t len;
	int is_self;

	ck_assert_ptr_nonnull(shared_published());
	snprintf(path, sizeof path, "%s", shared_published());
	snprintf(prefix, sizeof prefix, "/whitelist-%ld-", (long)getpid());
	ck_assert_ptr_nonnull(strstr(path, prefix));
	ck_assert_str_eq(path + strlen(path) - 6, ".state");
	shared_add(&shared_port_of(shared, 443)->upstream_errors, 5);
	shared_addr_store(&shared->target, (struct sockaddr *)&in, 1);
	seen = shared_open(path, &owner, 1, &info);
	ck_assert_ptr_nonnull(seen);
	ck_assert_uint_eq(info.st_uid, geteuid());
	ck_assert_uint_eq(info.st_mode & 07777, 0644);
	/* Committed at start: no page is first allocated by a write through the mapping. */
	ck_assert_int_ge((long long)info.st_blocks * 512, (long long)info.st_size);
	ck_assert_int_eq(seen->main_pid, getpid());
	ck_assert_uint_gt(seen->main_starttime, 0);
	ck_assert_uint_eq(seen->pidns, shared_pidns());
	ck_assert_uint_eq(seen->conf_hash, shared_conf_hash(SOCK_STREAM, seen_entries, 3, NULL));
	ck_assert_uint_eq(seen->nports, 3);
	ck_assert_uint_eq(shared_get(&seen->ports[1].upstream_errors), 5);
	ck_assert_int_eq(shared_addr_load(&seen->target, &out, &len, &is_self), 0);
	ck_assert_int_eq(is_self, 1);
	/* Live: what the proxy adds later shows through the same mapping. */
	shared_add(&shared_port_of(shared, 443)->upstream_errors, 1);
	ck_assert_uint_eq(shared_get(&seen->ports[1].upstream_errors), 6);
	shared_close(seen);
	unmake(shared);
	ck_assert_ptr_null(shared_open(path, &owner, 1, &info));
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* Each configuration its own identity: ports, their order, the mode, TARGET. */
START_TEST(test_conf_hash_tells_configurations_apart)
{
	static const struct conf_port one[] = { { 80, 80, 0, "80" }, { 443, 443, 0, "443" } },
				      other[] = { { 443, 443, 0, "443" }, { 80, 80, 0, "80" } },
				      longer[] = { { 80, 80, 0, "80" }, { 443, 443, 0, "443" },
						   { 1, 1, 0, "1" } },
				      pair[] = { { 80, 80, 0, "80" }, { 443, 443, 8443, "443:8443" } };
	uint64_t base = shared_conf_hash(SOCK_STREAM, one, 2, "a.example");

	ck_assert_uint_eq(base, shared_conf_hash(SOCK_STREAM, one, 2, "a.example"));
	ck_assert_uint_ne(base, shared_conf_hash(SOCK_STREAM, other, 2, "a.example"));
	ck_assert_uint_ne(base, shared_conf_hash(SOCK_STREAM, longer, 3, "a.example"));
	ck_assert_uint_ne(base, shared_conf_hash(SOCK_DGRAM, one, 2, "a.example"));
	ck_assert_uint_ne(base, shared_conf_hash(SOCK_STREAM, one, 2, "b.example"));
	ck_assert_uint_ne(base, shared_conf_hash(SOCK_STREAM, pair, 2, "a.example"));
	ck_assert_uint_ne(base, shared_conf_hash(SOCK_STREAM, one, 1, "a.example"));
}
END_TEST

START_TEST(test_open_refuses_what_is_not_a_state)
{
	char path[] = "/tmp/check-shared-junk-XXXXXX", linked[64];
	static char junk[8192];
	uid_t owner = geteuid();
	struct stat info;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_null(shared_open(path, &owner, 1, &info));	/* empty: a proxy that had no room */
	ck_assert_int_eq(errno, ENODATA);
	ck_assert_uint_eq(info.st_uid, geteuid());
	memset(junk, 0x77, sizeof junk);
	ck_assert_int_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);
	ck_assert_ptr_null(shared_open(path, &owner, 1, &info));
	ck_assert_int_eq(errno, EPROTO);
	truncate(path, 10);	/* shorter than the header */
	ck_assert_ptr_null(shared_open(path, &owner, 1, &info));
	ck_assert_int_eq(errno, EPROTO);
	/* Others may write it: whoever they are, nothing in it is believed. */
	chmod(path, 0664);
	ck_assert_ptr_null(shared_open(path, &owner, 1, &info));
	ck_assert_int_eq(errno, EPERM);
	chmod(path, 0644);
	snprintf(linked, sizeof linked, "%s.link", path);
	ck_assert_int_eq(link(path, linked), 0);
	ck_assert_ptr_null(shared_open(path, &owner, 1, &info));
	ck_assert_int_eq(errno, EPERM);
	unlink(linked);
	/* A stranger's: refused before it is mapped, its owner told. */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(path, 4242, 4242), 0);
		ck_assert_ptr_null(shared_open(path, &owner, 1, &info));
		ck_assert_int_eq(errno, EPERM);
		ck_assert_uint_eq(info.st_uid, 4242);
	}
	unlink(path);
}
END_TEST

/* A FIFO planted under a state's name: refused at once, never waited on. */
START_TEST(test_open_refuses_a_fifo_without_blocking)
{
	char dir[] = "/tmp/check-shared-fifo-XXXXXX", path[64];
	uid_t owner = geteuid();
	struct stat info;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/whitelist-1-AAAAAA.state", dir);
	ck_assert_int_eq(mkfifo(path, 0644), 0);
	ck_assert_ptr_null(shared_open(path, &owner, 1, &info));
	ck_assert_int_eq(errno, EPERM);
	ck_assert(S_ISFIFO(info.st_mode));
	unlink(path);
	rmdir(dir);
}
END_TEST

/*
 * In a child, with a tmpfs of a few pages over /dev/shm (a mount namespace of
 * its own): the region is made and written whole. Exit status: 0 when it fell
 * back to anonymous memory with ENOSPC and left its empty file; 2 when it
 * could not set up; a SIGBUS kills it.
 */
static int full_shm_child(void)
{
	static const struct conf_port ports[] = { { 80, 80, 0, "80" } };
	struct shared *shared;
	struct stat info;
	int published;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", SHARED_DIR, "tmpfs", 0, "size=8k,mode=1777") < 0)
		return 2;
	shared = shared_create(ports, 1, SOCK_STREAM, geteuid(), &published);
	if (!shared)
		return 3;
	memset(shared->names, 0x5a, sizeof shared->names);	/* the wildcards' cache, far in */
	shared_add(&shared->ports[0].bytes_up, 1);
	if (published || errno != ENOSPC || !shared_published() ||
	    stat(shared_published(), &info) < 0 || info.st_size != 0)
		return 4;
	return 0;
}

START_TEST(test_full_shm_falls_back_without_sigbus)
{
	int status;
	pid_t child = fork();

	ck_assert_int_ge(child, 0);
	if (child == 0)
		_exit(full_shm_child());
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
		return;	/* no mount namespace (not root, no CAP_SYS_ADMIN): test_state_file's */
	ck_assert_msg(!WIFSIGNALED(status), "killed by signal %d", WTERMSIG(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* The state file a child published, found by its pid in the directory; "" when none. */
static void state_of_child(pid_t child, char *out, size_t size)
{
	char prefix[64];
	struct dirent *entry;
	DIR *dir = opendir(shared_dir());

	out[0] = '\0';
	snprintf(prefix, sizeof prefix, "whitelist-%ld-", (long)child);
	while (dir && (entry = readdir(dir)))
		if (strncmp(entry->d_name, prefix, strlen(prefix)) == 0 &&
		    shared_state_pid(entry->d_name) == child)
			snprintf(out, size, "%s/%s", shared_dir(), entry->d_name);
	if (dir)
		closedir(dir);
}

/* A child that publishes a state and then waits (live) or exits at once (killed). */
static pid_t publishing_child(int wait_fd)
{
	static const struct conf_port ports[] = { { 80, 80, 0, "80" } };
	pid_t child = fork();
	int published;
	char byte;

	ck_assert_int_ge(child, 0);
	if (child == 0) {
		if (!shared_create(ports, 1, SOCK_STREAM, geteuid(), &published) || !published)
			_exit(1);
		if (wait_fd >= 0)
			(void)!read(wait_fd, &byte, 1);
		_exit(0);	/* no shared_unpublish: as after SIGKILL */
	}
	return child;
}

/* The state a proxy killed outright left is removed by the next start; a live one's stays. */
START_TEST(test_start_removes_states_of_dead_proxies_only)
{
	char dead_path[600], live_path[600];
	int status, gate[2];
	pid_t dead, live;
	struct shared *shared;

	ck_assert_int_eq(pipe(gate), 0);
	dead = publishing_child(-1);
	ck_assert_int_eq(waitpid(dead, &status, 0), dead);
	ck_assert_int_eq(status, 0);
	state_of_child(dead, dead_path, sizeof dead_path);
	ck_assert_str_ne(dead_path, "");
	live = publishing_child(gate[0]);	/* it may remove the dead one's already */
	do
		state_of_child(live, live_path, sizeof live_path);
	while (!live_path[0] && usleep(1000) == 0);
	shared = make();
	ck_assert_int_eq(access(dead_path, F_OK), -1);
	ck_assert_int_eq(access(live_path, F_OK), 0);
	ck_assert_int_eq(write(gate[1], "x", 1), 1);
	ck_assert_int_eq(waitpid(live, &status, 0), live);
	unlink(live_path);
	close(gate[0]);
	close(gate[1]);
	unmake(shared);
}
END_TEST

/* Many processes race for a log line: one wins per period, whoever it is. */
START_TEST(test_claim_log_once_per_period)
{
	_Atomic int64_t last = 0;

	ck_assert_int_eq(shared_claim_log(&last, 100000, 60000), 1);
	ck_assert_int_eq(shared_claim_log(&last, 100000, 60000), 0);
	ck_assert_int_eq(shared_claim_log(&last, 159999, 60000), 0);
	ck_assert_int_eq(shared_claim_log(&last, 160000, 60000), 1);
	ck_assert_int_eq(atomic_load(&last), 160000);
}
END_TEST

START_TEST(test_loop_sentence_names_pre_resolve)
{
	char out[512];

	shared_loop_sentence(out, sizeof out, "80", "fonts.example.com", 0, "198.18.2.1");
	ck_assert_str_eq(out, "port 80: TARGET fonts.example.com is this proxy itself "
			 "(198.18.2.1): set PRE_RESOLVE=1 so that NAMESERVERS are asked");
	shared_loop_sentence(out, sizeof out, "443", "sink.example.com", 1, "0.0.0.0");
	ck_assert_ptr_nonnull(strstr(out, "(0.0.0.0): NAMESERVERS answered it with PRE_RESOLVE=1"));
	shared_loop_sentence(out, sizeof out, "80", "198.18.2.1", 0, "198.18.2.1");
	ck_assert_ptr_nonnull(strstr(out, "an IP address of this proxy"));
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
	tcase_add_test(tc, test_nets_never_torn);
	tcase_add_test(tc, test_published_for_the_healthcheck);
	tcase_add_test(tc, test_conf_hash_tells_configurations_apart);
	tcase_add_test(tc, test_open_refuses_what_is_not_a_state);
	tcase_add_test(tc, test_open_refuses_a_fifo_without_blocking);
	tcase_add_test(tc, test_full_shm_falls_back_without_sigbus);
	tcase_add_test(tc, test_start_removes_states_of_dead_proxies_only);
	tcase_add_test(tc, test_claim_log_once_per_period);
	tcase_add_test(tc, test_loop_sentence_names_pre_resolve);
	suite_add_tcase(suite, tc);
	return suite;
}
