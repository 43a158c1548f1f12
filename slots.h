/*
 * slots.h: the MAX_CONNECTIONS counter of one listener, a semaphore that only
 * the listener process touches. A slot is taken before fork() and given back
 * when waitpid() reaps that child, so the count can never drift: a child
 * that dies of anything still gives its slot back exactly once.
 */
#ifndef WHITELIST_SLOTS_H
#define WHITELIST_SLOTS_H

#include <stddef.h>
#include <sys/types.h>

#define SLOTS_INLINE 128	/* pids kept inside the struct until more are needed: no heap page */

struct slots {
	long limit;	/* 0 = no limit */
	size_t used;	/* taken slots: children alive, plus one being forked */
	size_t cap;
	pid_t *pids;	/* the children holding a slot; 0 while forking */
	pid_t inline_pids[SLOTS_INLINE];
};

/* An empty table for limit children (0: no limit); it grows as they come. 0 (cannot fail). */
int slots_init(struct slots *slots, long limit);
void slots_free(struct slots *slots);
int slots_full(const struct slots *slots);
/* Takes a slot before fork(); -1 when full or out of memory. */
int slots_take(struct slots *slots);
/* After fork(): the slot taken last now belongs to pid. */
void slots_bind(struct slots *slots, pid_t pid);
/* fork() failed: gives back the slot taken last. */
void slots_cancel(struct slots *slots);
/* A reaped child: gives back its slot. 1 when pid held one, 0 otherwise. */
int slots_give(struct slots *slots, pid_t pid);

#endif
