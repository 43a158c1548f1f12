/*
 * slots.c: see slots.h. The pids are kept so that a reaped process that is
 * not one of ours (an orphan handed to us) never frees a slot, and so that
 * the listener can end its children when the grace period runs out.
 */
#include "slots.h"

#include <string.h>
#include <sys/mman.h>

/*
 * A grown table is a mapping of its own that fork leaves out: the listener
 * writes it at every fork and reap, and were it inherited, each new relay
 * would keep the page's copy of that moment (4 kB more per relay once more
 * than SLOTS_INLINE are open; the inline table is on the listener's stack,
 * which relays do not inherit either, process.h).
 */
static pid_t *slots_map(size_t cap)
{
	void *pids = mmap(NULL, cap * sizeof(pid_t), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (pids == MAP_FAILED)
		return NULL;
	madvise(pids, cap * sizeof(pid_t), MADV_DONTFORK);
	return pids;
}

static void slots_unmap(struct slots *slots)
{
	if (slots->pids != slots->inline_pids)
		munmap(slots->pids, slots->cap * sizeof(pid_t));
}

int slots_init(struct slots *slots, long limit)
{
	slots->limit = limit;
	slots->used = 0;
	/* Whatever the limit, start small: the table grows only as children come. */
	slots->cap = SLOTS_INLINE;
	slots->pids = slots->inline_pids;
	return 0;
}

void slots_free(struct slots *slots)
{
	slots_unmap(slots);
	slots->pids = NULL;
	slots->cap = slots->used = 0;
}

int slots_full(const struct slots *slots)
{
	return slots->limit > 0 && slots->used >= (size_t)slots->limit;
}

/* Doubles the table, never past the limit; the pids move to a new mapping. */
static int slots_grow(struct slots *slots)
{
	size_t cap = slots->cap * 2;
	pid_t *pids;

	if (slots->limit > 0 && cap > (size_t)slots->limit)
		cap = (size_t)slots->limit;
	if (!(pids = slots_map(cap)))
		return -1;
	memcpy(pids, slots->pids, slots->used * sizeof *pids);
	slots_unmap(slots);
	slots->pids = pids;
	slots->cap = cap;
	return 0;
}

int slots_take(struct slots *slots)
{
	if (slots_full(slots))
		return -1;
	if (slots->used == slots->cap && slots_grow(slots) < 0)
		return -1;
	slots->pids[slots->used++] = 0;
	return 0;
}

void slots_bind(struct slots *slots, pid_t pid)
{
	slots->pids[slots->used - 1] = pid;
}

void slots_cancel(struct slots *slots)
{
	slots->used--;
}

int slots_give(struct slots *slots, pid_t pid)
{
	for (size_t i = 0; i < slots->used; i++) {
		if (slots->pids[i] == pid && pid > 0) {
			slots->pids[i] = slots->pids[--slots->used];
			return 1;
		}
	}
	return 0;
}
