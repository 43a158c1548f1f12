/*
 * slots.c: see slots.h. The pids are kept so that a reaped process that is
 * not one of ours (an orphan handed to us) never frees a slot, and so that
 * the listener can end its children when the grace period runs out.
 */
#include "slots.h"

#include <stdlib.h>

#define SLOTS_INITIAL 64

int slots_init(struct slots *slots, long limit)
{
	slots->limit = limit;
	slots->used = 0;
	if (limit > 0 && limit <= SLOTS_INLINE) {
		slots->cap = SLOTS_INLINE;
		slots->pids = slots->inline_pids;
		return 0;
	}
	slots->cap = limit > 0 ? (size_t)limit : SLOTS_INITIAL;
	slots->pids = calloc(slots->cap, sizeof *slots->pids);
	return slots->pids ? 0 : -1;
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

/* Only without a limit does the table grow. */
static int slots_grow(struct slots *slots)
{
	size_t cap = slots->cap * 2;
	pid_t *pids = realloc(slots->pids, cap * sizeof *pids);

	if (!pids)
		return -1;
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
