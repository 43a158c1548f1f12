/*
 * shared.c: see shared.h. The address seqlock follows Boehm's "Can seqlocks
 * get along with programming language memory models?" (2012): relaxed data
 * accesses, a release fence after making seq odd, an acquire fence before
 * reading seq the second time.
 */
#include "shared.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "process.h"

#define SHARED_SPINS 1000		/* tries before yielding the CPU to a preempted writer */
#define SHARED_GIVE_UP_MS 2000	/* seq odd this long: its writer died mid-store */

const char *const shared_refusal_names[SHARED_REFUSALS] = {
	"allow_from", "loop", "not_allowed", "no_name", "ambiguous", "not_tls_or_http", "timeout",
	"private_address"
};
const char *const shared_drop_names[SHARED_DROPS] = { "queue_full", "upstream_down",
						       "session_lost" };

const char *shared_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	struct stat info;

	/* tmpfs: no page of it is ever written back to a disk, or write-protected for it. */
	if (stat(SHARED_DIR, &info) == 0 && S_ISDIR(info.st_mode) &&
	    access(SHARED_DIR, W_OK | X_OK) == 0)
		return SHARED_DIR;
	return tmp && *tmp ? tmp : "/tmp";
}

int shared_path(char *out, size_t size, long pid)
{
	int len = snprintf(out, size, "%s/whitelist-%ld.state", shared_dir(), pid);

	return len > 0 && (size_t)len < size ? 0 : -1;
}

/*
 * A new file of size bytes at path, whole or not at all: made under a
 * temporary name (no symlink or file left by someone else is followed or
 * reused) and renamed into place. Its fd, or -1 with errno.
 */
static int shared_file(const char *path, size_t size)
{
	char partial[600];
	int fd, saved;

	if (snprintf(partial, sizeof partial, "%s.XXXXXX", path) >= (int)sizeof partial) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemp(partial, O_CLOEXEC)) < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) == 0 && fchmod(fd, 0644) == 0 && rename(partial, path) == 0)
		return fd;
	saved = errno;
	unlink(partial);
	close(fd);
	errno = saved;
	return -1;
}

/* The file-backed region, or MAP_FAILED with errno. */
static void *shared_map_file(size_t size, uid_t owner)
{
	char path[512];
	void *region = MAP_FAILED;
	uid_t before = (uid_t)setfsuid(owner);
	int fd, saved;

	if (shared_path(path, sizeof path, (long)getpid()) < 0) {
		errno = ENAMETOOLONG;
	} else if ((fd = shared_file(path, size)) >= 0) {
		region = proc_map_low(size, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
		saved = errno;
		if (region == MAP_FAILED)
			unlink(path);
		close(fd);
		errno = saved;
	}
	saved = errno;
	setfsuid(before);
	errno = saved;
	return region;
}

struct shared *shared_create(const uint16_t *ports, size_t nports, int mode, uid_t owner,
			     int *published)
{
	size_t size = sizeof(struct shared) + nports * sizeof(struct shared_port);
	struct shared *shared = shared_map_file(size, owner);
	struct proc_stat self;

	*published = shared != MAP_FAILED;
	if (shared == MAP_FAILED) {
		int saved = errno;

		shared = proc_map_low(size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);
		if (shared == MAP_FAILED)
			return NULL;
		errno = saved;
	}
	/* Fresh pages are zero: every counter starts at 0, no address yet. */
	shared->version = SHARED_VERSION;
	shared->size = size;
	shared->main_pid = (int32_t)getpid();
	shared->main_starttime = proc_stat_read_self(&self) == 0 ? self.starttime : 0;
	shared->mode = (uint32_t)mode;
	shared->nports = (uint32_t)nports;
	for (size_t i = 0; i < nports; i++)
		shared->ports[i].port = ports[i];
	atomic_thread_fence(memory_order_release);
	shared->magic = SHARED_MAGIC;
	return shared;
}

void shared_unpublish(const struct shared *shared)
{
	char path[512];

	if (shared_path(path, sizeof path, shared->main_pid) == 0)
		unlink(path);
}

/* A region the healthcheck may read: complete, this version, the size it says. */
static int shared_valid(const struct shared *shared, size_t size)
{
	return size >= sizeof *shared && shared->magic == SHARED_MAGIC &&
	       shared->version == SHARED_VERSION && shared->size == size &&
	       shared->nports <= (size - sizeof *shared) / sizeof(struct shared_port);
}

const struct shared *shared_open(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat info;
	void *region;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &info) < 0 || info.st_size < (off_t)sizeof(struct shared)) {
		close(fd);
		errno = EPROTO;
		return NULL;
	}
	region = mmap(NULL, (size_t)info.st_size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (region == MAP_FAILED)
		return NULL;
	if (!shared_valid(region, (size_t)info.st_size)) {
		munmap(region, (size_t)info.st_size);
		errno = EPROTO;
		return NULL;
	}
	return region;
}

void shared_close(const struct shared *shared)
{
	if (shared)
		munmap((void *)shared, shared->size);
}

struct shared_port *shared_port_of(struct shared *shared, uint16_t port)
{
	for (size_t i = 0; i < shared->nports; i++)
		if (shared->ports[i].port == port)
			return &shared->ports[i];
	return NULL;
}

void shared_addr_store(struct shared_addr *slot, const struct sockaddr *addr, int is_self)
{
	uint32_t words[4] = { 0 };
	uint32_t seq = atomic_load_explicit(&slot->seq, memory_order_relaxed);

	if (addr->sa_family == AF_INET)
		memcpy(words, &((const struct sockaddr_in *)addr)->sin_addr, 4);
	else
		memcpy(words, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
	atomic_store_explicit(&slot->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&slot->family, addr->sa_family, memory_order_relaxed);
	atomic_store_explicit(&slot->is_self, (uint32_t)is_self, memory_order_relaxed);
	for (int i = 0; i < 4; i++)
		atomic_store_explicit(&slot->words[i], words[i], memory_order_relaxed);
	atomic_store_explicit(&slot->seq, seq + 2, memory_order_release);
}

static void shared_addr_fill(struct sockaddr_storage *out, socklen_t *len, uint32_t family,
			     const uint32_t *words)
{
	memset(out, 0, sizeof *out);
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, words, 4);
		*len = sizeof *sin;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, words, 16);
		*len = sizeof *sin6;
	}
}

int shared_addr_load(const struct shared_addr *slot, struct sockaddr_storage *out,
		     socklen_t *len, int *is_self)
{
	struct shared_addr *s = (struct shared_addr *)slot;	/* atomics are read, never written */
	uint32_t before, after, family, self, words[4];
	long long give_up = 0;
	long tries = 0;

	do {
		/*
		 * A store takes nanoseconds, unless its writer is preempted in the
		 * middle: after a few spins, yield to it; give up only when it must
		 * have died mid-store.
		 */
		if (++tries > SHARED_SPINS) {
			long long now = proc_now_ms();

			if (!give_up)
				give_up = now + SHARED_GIVE_UP_MS;
			else if (now >= give_up)
				return -1;
			sched_yield();
		}
		before = atomic_load_explicit(&s->seq, memory_order_acquire);
		family = atomic_load_explicit(&s->family, memory_order_relaxed);
		self = atomic_load_explicit(&s->is_self, memory_order_relaxed);
		for (int i = 0; i < 4; i++)
			words[i] = atomic_load_explicit(&s->words[i], memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		after = atomic_load_explicit(&s->seq, memory_order_relaxed);
	} while ((before & 1) || before != after);
	if (family != AF_INET && family != AF_INET6)
		return -1;
	shared_addr_fill(out, len, family, words);
	if (is_self)
		*is_self = (int)self;
	return 0;
}

uint32_t shared_addr_version(const struct shared_addr *slot)
{
	return atomic_load_explicit((_Atomic uint32_t *)&slot->seq, memory_order_acquire);
}

/* FNV-1a: a name's slot in the cache. */
static size_t shared_name_slot(const char *name)
{
	uint32_t hash = 2166136261u;

	for (; *name; name++)
		hash = (hash ^ (uint8_t)*name) * 16777619u;
	return hash % SHARED_NAMES;
}

/* name packed into words (zero-padded), as the cache compares it. */
static void shared_name_words(const char *name, uint64_t *words, size_t count)
{
	memset(words, 0, count * sizeof *words);
	memcpy(words, name, strnlen(name, count * sizeof *words - 1));
}

void shared_text_store(_Atomic uint64_t *words, size_t count, const char *text)
{
	uint64_t packed[64];

	if (count > 64)
		count = 64;
	shared_name_words(text, packed, count);
	for (size_t i = 0; i < count; i++)
		atomic_store_explicit(&words[i], packed[i], memory_order_relaxed);
}

void shared_text_load(const _Atomic uint64_t *words, size_t count, char *out, size_t size)
{
	uint64_t packed[64];

	if (count > 64)
		count = 64;
	for (size_t i = 0; i < count; i++)
		packed[i] = atomic_load_explicit((_Atomic uint64_t *)&words[i], memory_order_relaxed);
	snprintf(out, size, "%.*s", (int)strnlen((const char *)packed, count * 8), (const char *)packed);
}

int shared_name_load(const struct shared *shared, const char *name, long long now,
		     struct shared_addrs *out)
{
	struct shared_name *slot = (struct shared_name *)&shared->names[shared_name_slot(name)];
	enum { WORDS = sizeof slot->name / sizeof slot->name[0] };
	uint64_t want[WORDS];
	uint32_t before, after, addrs[SHARED_NAME_ADDRS][4];
	int match = 1;

	shared_name_words(name, want, WORDS);
	before = atomic_load_explicit(&slot->seq, memory_order_acquire);
	for (size_t i = 0; i < WORDS; i++)
		match &= atomic_load_explicit(&slot->name[i], memory_order_relaxed) == want[i];
	out->family = (int)atomic_load_explicit(&slot->family, memory_order_relaxed);
	out->count = atomic_load_explicit(&slot->count, memory_order_relaxed);
	match &= atomic_load_explicit(&slot->expires_ms, memory_order_relaxed) > now;
	for (size_t i = 0; i < SHARED_NAME_ADDRS; i++)
		for (size_t j = 0; j < 4; j++)
			addrs[i][j] = atomic_load_explicit(&slot->addrs[i][j], memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	after = atomic_load_explicit(&slot->seq, memory_order_relaxed);
	/* Being written, or written meanwhile, or someone else's: a miss, never a wait. */
	if ((before & 1) || before != after || !match || out->count == 0 ||
	    out->count > SHARED_NAME_ADDRS || (out->family != AF_INET && out->family != AF_INET6))
		return -1;
	for (size_t i = 0; i < out->count; i++)
		memcpy(out->addrs[i], addrs[i], 16);
	return 0;
}

void shared_name_store(struct shared *shared, const char *name, const struct shared_addrs *addrs,
		       long long expires_ms)
{
	struct shared_name *slot = &shared->names[shared_name_slot(name)];
	enum { WORDS = sizeof slot->name / sizeof slot->name[0] };
	uint32_t seq = atomic_load_explicit(&slot->seq, memory_order_relaxed), words[4];
	uint64_t packed[WORDS];

	/* Claimed by making seq odd: one writer at a time, across processes. */
	if ((seq & 1) || !atomic_compare_exchange_strong_explicit(&slot->seq, &seq, seq + 1,
								 memory_order_relaxed,
								 memory_order_relaxed))
		return;
	atomic_thread_fence(memory_order_release);
	shared_name_words(name, packed, WORDS);
	for (size_t i = 0; i < WORDS; i++)
		atomic_store_explicit(&slot->name[i], packed[i], memory_order_relaxed);
	atomic_store_explicit(&slot->family, (uint32_t)addrs->family, memory_order_relaxed);
	atomic_store_explicit(&slot->count, (uint32_t)addrs->count, memory_order_relaxed);
	atomic_store_explicit(&slot->expires_ms, expires_ms, memory_order_relaxed);
	for (size_t i = 0; i < addrs->count && i < SHARED_NAME_ADDRS; i++) {
		memcpy(words, addrs->addrs[i], 16);
		for (size_t j = 0; j < 4; j++)
			atomic_store_explicit(&slot->addrs[i][j], words[j], memory_order_relaxed);
	}
	atomic_store_explicit(&slot->seq, seq + 2, memory_order_release);
}

int shared_claim_log(_Atomic int64_t *last_ms, long long now, long long period_ms)
{
	int64_t last = atomic_load_explicit(last_ms, memory_order_relaxed);

	if (last != 0 && now - last < period_ms)
		return 0;
	/* Two processes may see the same old value: only one wins the exchange. */
	return atomic_compare_exchange_strong_explicit(last_ms, &last, now, memory_order_relaxed,
						       memory_order_relaxed);
}

void shared_loop_sentence(char *out, size_t size, uint16_t port, const char *target,
			  int pre_resolve, const char *address)
{
	unsigned char bytes[16];
	int literal = inet_pton(AF_INET, target, bytes) == 1 ||
		      inet_pton(AF_INET6, target, bytes) == 1;
	const char *advice =
		literal ? "an IP address of this proxy: TARGET must name another host"
		: pre_resolve ? "NAMESERVERS answered it with PRE_RESOLVE=1: point the name, or "
				"NAMESERVERS, elsewhere"
			      : "set PRE_RESOLVE=1 so that NAMESERVERS are asked";

	snprintf(out, size, "port %u: TARGET %s is this proxy itself (%s): %s", port, target,
		 address, advice);
}
