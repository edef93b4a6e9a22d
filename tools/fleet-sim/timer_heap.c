/*
 * timer_heap.c - an indexed binary min-heap (timer_heap.h).
 *
 * Invariant: for every i < count, position[heap[i]] == i, and due_us of heap[i] is not
 * earlier than that of its parent heap[(i - 1) / 2]. Ids not in the heap have position
 * TIMER_HEAP_NONE.
 */
#include "timer_heap.h"

#include <assert.h>
#include <stdlib.h>

int timer_heap_init(struct timer_heap *t, size_t capacity)
{
    t->capacity = capacity;
    t->count = 0;
    t->heap = calloc(capacity ? capacity : 1, sizeof(*t->heap));
    t->position = calloc(capacity ? capacity : 1, sizeof(*t->position));
    t->due_us = calloc(capacity ? capacity : 1, sizeof(*t->due_us));
    if (t->heap == NULL || t->position == NULL || t->due_us == NULL) {
        timer_heap_free(t);
        return -1;
    }
    for (size_t i = 0; i < capacity; i++)
        t->position[i] = TIMER_HEAP_NONE;
    return 0;
}

void timer_heap_free(struct timer_heap *t)
{
    free(t->heap);
    free(t->position);
    free(t->due_us);
    t->heap = NULL;
    t->position = NULL;
    t->due_us = NULL;
    t->capacity = t->count = 0;
}

static bool earlier(const struct timer_heap *t, size_t a, size_t b)
{
    return t->due_us[t->heap[a]] < t->due_us[t->heap[b]];
}

static void swap_slots(struct timer_heap *t, size_t a, size_t b)
{
    uint32_t id = t->heap[a];
    t->heap[a] = t->heap[b];
    t->heap[b] = id;
    t->position[t->heap[a]] = a;
    t->position[t->heap[b]] = b;
}

static void sift_up(struct timer_heap *t, size_t i)
{
    while (i > 0 && earlier(t, i, (i - 1) / 2)) {
        swap_slots(t, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void sift_down(struct timer_heap *t, size_t i)
{
    for (;;) {
        size_t smallest = i, left = 2 * i + 1, right = 2 * i + 2;
        if (left < t->count && earlier(t, left, smallest))
            smallest = left;
        if (right < t->count && earlier(t, right, smallest))
            smallest = right;
        if (smallest == i)
            return;
        swap_slots(t, i, smallest);
        i = smallest;
    }
}

void timer_heap_set(struct timer_heap *t, uint32_t id, int64_t due_us)
{
    assert(id < t->capacity);
    size_t i = t->position[id];
    t->due_us[id] = due_us;
    if (i == TIMER_HEAP_NONE) {
        i = t->count++;
        t->heap[i] = id;
        t->position[id] = i;
    }
    /* The new time may be earlier or later than the old one: one of these does nothing. */
    sift_up(t, i);
    sift_down(t, t->position[id]);
}

void timer_heap_cancel(struct timer_heap *t, uint32_t id)
{
    assert(id < t->capacity);
    size_t i = t->position[id];
    if (i == TIMER_HEAP_NONE)
        return;
    size_t last = --t->count;
    if (i != last) {
        /* Fill the hole with the bottom entry, which may belong higher or lower. */
        uint32_t moved = t->heap[last];
        t->heap[i] = moved;
        t->position[moved] = i;
        sift_up(t, i);
        sift_down(t, t->position[moved]);
    }
    t->position[id] = TIMER_HEAP_NONE;
}

bool timer_heap_peek(const struct timer_heap *t, uint32_t *id, int64_t *due_us)
{
    if (t->count == 0)
        return false;
    *id = t->heap[0];
    *due_us = t->due_us[t->heap[0]];
    return true;
}
