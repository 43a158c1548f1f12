/*
 * names.c: see names.h. The writer (main) and the reader (listeners,
 * relays) of the client names' table in shared memory.
 *
 * Memory model, as shared_addr's seqlock (shared.c): the writer makes seq
 * odd, fences, writes the words, and makes seq even with release; a reader
 * loads seq with acquire, the words, fences, and loads seq again. Equal and
 * even: the words are one store's.
 */
#include "names.h"

#include <errno.h>
#include <netdb.h>
#include <sched.h>
#include <string.h>

#include <stdio.h>

#include "addr.h"
#include "log.h"

#define NAMES_SPINS 1000	/* reads of a slot being written before yielding to the writer */
#define NAMES_TRIES 100000	/* then give up: the writer (main) is gone */

/* What one name resolves to now: at most SHARED_CLIENT_ADDRS distinct addresses. */
struct names_answer {
	size_t count;
	struct conf_net addrs[SHARED_CLIENT_ADDRS];
};

static int names_lookup(const char *name, struct names_answer *out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *list;
	int status = getaddrinfo(name, NULL, &hints, &list);

	out->count = 0;
	if (status != 0)
		return status;
	for (struct addrinfo *ai = list; ai && out->count < SHARED_CLIENT_ADDRS; ai = ai->ai_next) {
		struct conf_net net = { .family = ai->ai_family };
		size_t i = 0;

		if (ai->ai_family == AF_INET)
			memcpy(net.addr, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, 4);
		else if (ai->ai_family == AF_INET6)
			memcpy(net.addr, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, 16);
		else
			continue;
		net.prefix = ai->ai_family == AF_INET ? 32 : 128;
		while (i < out->count && memcmp(&out->addrs[i], &net, sizeof net) != 0)
			i++;
		if (i == out->count)
			out->addrs[out->count++] = net;
	}
	freeaddrinfo(list);
	return out->count ? 0 : EAI_NONAME;
}

/* A slot's addresses as the writer sees them (no other writer: no seqlock needed). */
static void names_current(const struct shared_client_name *slot, struct names_answer *out)
{
	struct shared_client_name *s = (struct shared_client_name *)slot;

	out->count = atomic_load_explicit(&s->count, memory_order_relaxed);
	for (size_t i = 0; i < out->count; i++) {
		memset(&out->addrs[i], 0, sizeof out->addrs[i]);
		out->addrs[i].family = (int)atomic_load_explicit(&s->families[i],
								 memory_order_relaxed);
		out->addrs[i].prefix = out->addrs[i].family == AF_INET ? 32 : 128;
		for (int w = 0; w < 4; w++) {
			uint32_t word = atomic_load_explicit(&s->addrs[i][w], memory_order_relaxed);

			memcpy(out->addrs[i].addr + 4 * w, &word, 4);
		}
	}
}

static void names_store(struct shared_client_name *slot, const struct names_answer *answer)
{
	uint32_t seq = atomic_load_explicit(&slot->seq, memory_order_relaxed);

	atomic_store_explicit(&slot->seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	for (size_t i = 0; i < answer->count; i++) {
		atomic_store_explicit(&slot->families[i], (uint32_t)answer->addrs[i].family,
				      memory_order_relaxed);
		for (int w = 0; w < 4; w++) {
			uint32_t word;

			memcpy(&word, answer->addrs[i].addr + 4 * w, 4);
			atomic_store_explicit(&slot->addrs[i][w], word, memory_order_relaxed);
		}
	}
	atomic_store_explicit(&slot->count, (uint32_t)answer->count, memory_order_relaxed);
	atomic_store_explicit(&slot->seq, seq + 2, memory_order_release);
}

/* "198.18.1.2 2001:db8::2": for the log line of a change. */
static void names_show(const struct names_answer *answer, char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < answer->count && used < size; i++) {
		char host[LOG_ADDR_SIZE];
		struct sockaddr_storage addr;

		addr_make(&addr, answer->addrs[i].family, answer->addrs[i].addr, 0);
		log_host((struct sockaddr *)&addr, host, sizeof host);
		used += (size_t)snprintf(out + used, size - used, "%s%s", i ? " " : "", host);
	}
}

/* Which variable a name came from, for the messages. */
static const char *names_variable(const struct policy *policy, size_t index)
{
	return policy->allow_names & (UINT32_C(1) << index) ? "ALLOW_FROM" : "POLICY";
}

static int names_refresh_one(struct shared *shared, const struct policy *policy, size_t index,
			     int at_start, char *err, size_t size)
{
	struct shared_client_name *slot = &shared->client_names[index];
	const char *name = policy->names[index];
	struct names_answer answer, before;
	char now_shown[512], was_shown[512];
	int status = names_lookup(name, &answer);

	if (status != 0 && at_start)
		return conf_fail(err, size, "%s: \"%s\" does not resolve (%s)",
				 names_variable(policy, index), name,
				 status == EAI_SYSTEM ? strerror(errno) : gai_strerror(status));
	if (status != 0) {
		shared_add(&shared->client_name_failures, 1);
		log_msg("%s: \"%s\" does not resolve (%s): keeping its last addresses",
			names_variable(policy, index), name,
			status == EAI_SYSTEM ? strerror(errno) : gai_strerror(status));
		return 0;
	}
	names_current(slot, &before);
	if (before.count == answer.count &&
	    memcmp(before.addrs, answer.addrs, answer.count * sizeof answer.addrs[0]) == 0)
		return 0;
	names_store(slot, &answer);
	names_show(&answer, now_shown, sizeof now_shown);
	names_show(&before, was_shown, sizeof was_shown);
	if (!at_start)
		log_msg("%s: \"%s\" is now %s (was %s)", names_variable(policy, index), name,
			now_shown, was_shown);
	return 0;
}

int names_refresh(struct shared *shared, const struct policy *policy, int at_start, char *err,
		  size_t size)
{
	for (size_t i = 0; i < policy->nnames; i++)
		if (names_refresh_one(shared, policy, i, at_start, err, size) < 0)
			return -1;
	return 0;
}

/* 1 when the slot, read as one store, holds addr. */
static int names_slot_has(struct shared_client_name *slot, const struct conf_net *addr)
{
	uint32_t want[4] = { 0 }, before, after;
	int found;

	memcpy(want, addr->addr, addr->family == AF_INET ? 4 : 16);
	for (long tries = 0; tries < NAMES_TRIES; tries++) {
		uint32_t count;

		if (tries >= NAMES_SPINS)
			sched_yield();
		before = atomic_load_explicit(&slot->seq, memory_order_acquire);
		count = atomic_load_explicit(&slot->count, memory_order_relaxed);
		found = 0;
		for (uint32_t i = 0; i < count && i < SHARED_CLIENT_ADDRS && !found; i++) {
			int w = 0;

			if (atomic_load_explicit(&slot->families[i], memory_order_relaxed) !=
			    (uint32_t)addr->family)
				continue;
			while (w < 4 && atomic_load_explicit(&slot->addrs[i][w],
							     memory_order_relaxed) == want[w])
				w++;
			found = w == 4;
		}
		atomic_thread_fence(memory_order_acquire);
		after = atomic_load_explicit(&slot->seq, memory_order_relaxed);
		if (!(before & 1) && before == after)
			return found;
	}
	return 0;
}

int names_has(const void *ctx, unsigned index, const struct conf_net *addr)
{
	const struct shared *shared = ctx;

	if (!shared || index >= POLICY_MAX_NAMES || !addr ||
	    (addr->family != AF_INET && addr->family != AF_INET6))
		return 0;
	return names_slot_has((struct shared_client_name *)&shared->client_names[index], addr);
}

size_t names_count(const struct shared *shared, unsigned index)
{
	struct names_answer answer;

	names_current(&shared->client_names[index], &answer);
	return answer.count;
}

struct policy_names names_view(const struct shared *shared)
{
	return (struct policy_names){ .has = names_has, .ctx = shared };
}
