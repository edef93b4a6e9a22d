/*
 * timer_heap.h - one pending deadline per id, earliest first.
 *
 * The fleet keeps one timer per node (the attempt's timeout, or when to re-send after a
 * 5.03) and must find the earliest among thousands many times a second. An indexed binary
 * heap does that in O(log n) per change with memory fixed at start: each id is in the heap
 * at most once, and moving or cancelling its timer finds it through a position table.
 */
#ifndef FLEET_SIM_TIMER_HEAP_H
#define FLEET_SIM_TIMER_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct timer_heap {
    size_t capacity; /* ids are 0 to capacity - 1 */
    size_t count;
    uint32_t *heap;   /* ids, ordered by due_us as a binary min-heap */
    size_t *position; /* of each id in heap, or TIMER_HEAP_NONE */
    int64_t *due_us;  /* of each id */
};

#define TIMER_HEAP_NONE ((size_t)-1)

/* Returns 0, or -1 when out of memory. capacity must be at most UINT32_MAX. */
int timer_heap_init(struct timer_heap *timers, size_t capacity);
void timer_heap_free(struct timer_heap *timers);

/* Sets id's timer to due_us, whether or not it had one. */
void timer_heap_set(struct timer_heap *timers, uint32_t id, int64_t due_us);
/* Removes id's timer, if any. */
void timer_heap_cancel(struct timer_heap *timers, uint32_t id);
/* The earliest timer: returns false when there is none. */
bool timer_heap_peek(const struct timer_heap *timers, uint32_t *id, int64_t *due_us);

#endif
