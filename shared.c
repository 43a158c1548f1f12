/*
 * shared.c: see shared.h. The target seqlock follows Boehm's "Can seqlocks
 * get along with programming language memory models?" (2012): relaxed data
 * accesses, a release fence after making seq odd, an acquire fence before
 * reading seq the second time.
 */
#include "shared.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>

#define SHARED_MAX_TRIES 10000000L

struct shared *shared_create(const struct conf *conf)
{
	size_t size = sizeof(struct shared) + conf->nports * sizeof(struct shared_counters);
	struct shared *shared = mmap(NULL, size, PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (shared == MAP_FAILED)
		return NULL;
	/* Fresh anonymous pages are zero: every counter starts at 0, no address yet. */
	shared->nports = conf->nports;
	for (size_t i = 0; i < conf->nports; i++)
		shared->ports[i].port = conf->ports[i];
	return shared;
}

struct shared_counters *shared_counters_of(struct shared *shared, uint16_t port)
{
	for (size_t i = 0; i < shared->nports; i++)
		if (shared->ports[i].port == port)
			return &shared->ports[i];
	return NULL;
}

void shared_target_store(struct shared *shared, const struct sockaddr *addr)
{
	struct shared_target *target = &shared->target;
	uint32_t words[4] = { 0 };
	uint32_t seq = atomic_load_explicit(&target->seq, memory_order_relaxed);

	if (addr->sa_family == AF_INET)
		memcpy(words, &((const struct sockaddr_in *)addr)->sin_addr, 4);
	else
		memcpy(words, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
	atomic_store_explicit(&target->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&target->family, addr->sa_family, memory_order_relaxed);
	for (int i = 0; i < 4; i++)
		atomic_store_explicit(&target->words[i], words[i], memory_order_relaxed);
	atomic_store_explicit(&target->seq, seq + 2, memory_order_release);
}

static void shared_target_fill(struct sockaddr_storage *out, socklen_t *len, uint32_t family,
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

int shared_target_load(struct shared *shared, struct sockaddr_storage *out, socklen_t *len)
{
	struct shared_target *target = &shared->target;
	uint32_t before, after, family, words[4];
	long tries = 0;

	do {
		/* A store takes nanoseconds; seq stuck odd means main died mid-store. */
		if (tries++ == SHARED_MAX_TRIES)
			return -1;
		before = atomic_load_explicit(&target->seq, memory_order_acquire);
		family = atomic_load_explicit(&target->family, memory_order_relaxed);
		for (int i = 0; i < 4; i++)
			words[i] = atomic_load_explicit(&target->words[i], memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		after = atomic_load_explicit(&target->seq, memory_order_relaxed);
	} while ((before & 1) || before != after);
	if (family != AF_INET && family != AF_INET6)
		return -1;
	shared_target_fill(out, len, family, words);
	return 0;
}

uint32_t shared_target_version(struct shared *shared)
{
	return atomic_load_explicit(&shared->target.seq, memory_order_acquire);
}
