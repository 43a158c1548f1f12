/*
 * slots.c: see slots.h. The pids are kept so that a reaped process that is
 * not one of ours (an orphan handed to us) never frees a slot, and so that
 * the listener can end its children when the grace period runs out.
 */
#include "slots.h"

#include <stdlib.h>
#include <string.h>

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
	if (slots->pids != slots->inline_pids)
		free(slots->pids);
	slots->pids = NULL;
	slots->cap = slots->used = 0;
}

int slots_full(const struct slots *slots)
{
	return slots->limit > 0 && slots->used >= (size_t)slots->limit;
}

/* Doubles the table, never past the limit; the inline pids move to the heap. */
static int slots_grow(struct slots *slots)
{
	size_t cap = slots->cap * 2;
	pid_t *pids;

	if (slots->limit > 0 && cap > (size_t)slots->limit)
		cap = (size_t)slots->limit;
	if (slots->pids == slots->inline_pids) {
		if (!(pids = malloc(cap * sizeof *pids)))
			return -1;
		memcpy(pids, slots->inline_pids, slots->used * sizeof *pids);
	} else if (!(pids = realloc(slots->pids, cap * sizeof *pids))) {
		return -1;
	}
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
