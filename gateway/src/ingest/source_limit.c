/*
 * source_limit.c - token buckets per source host (source_limit.h).
 */
#include "ingest/source_limit.h"

#include <stdio.h>
#include <string.h>

void source_limit_init(struct source_limit *sl, uint32_t rate_per_s, uint32_t burst)
{
    memset(sl, 0, sizeof(*sl));
    sl->rate_per_s = rate_per_s;
    sl->burst = burst < 1 ? 1 : burst;
}

int source_limit_find(struct source_limit *sl, const char *host, int64_t now_ms)
{
    int free_i = -1, oldest = 0;
    for (int i = 0; i < SOURCE_LIMIT_MAX; i++) {
        struct source_entry *e = &sl->entries[i];
        if (!e->used) {
            if (free_i < 0)
                free_i = i;
            continue;
        }
        if (strcmp(e->host, host) == 0) {
            e->heard_ms = now_ms;
            return i;
        }
        if (e->heard_ms < sl->entries[oldest].heard_ms || !sl->entries[oldest].used)
            oldest = i;
    }
    int i = free_i;
    if (i < 0) {
        i = oldest;
        sl->evicted++;
    }
    struct source_entry *e = &sl->entries[i];
    memset(e, 0, sizeof(*e));
    e->used = true;
    snprintf(e->host, sizeof(e->host), "%s", host);
    e->tokens = sl->burst;
    e->refilled_ms = now_ms;
    e->heard_ms = now_ms;
    return i;
}

bool source_limit_take(struct source_limit *sl, int i, int64_t now_ms)
{
    struct source_entry *e = &sl->entries[i];
    if (sl->rate_per_s <= 0) {
        e->passed++;
        return true;
    }
    if (now_ms > e->refilled_ms) {
        e->tokens += (double)(now_ms - e->refilled_ms) * sl->rate_per_s / 1000.0;
        if (e->tokens > sl->burst)
            e->tokens = sl->burst;
        e->refilled_ms = now_ms;
    }
    if (e->tokens >= 1.0) {
        e->tokens -= 1.0;
        e->passed++;
        return true;
    }
    return false;
}

void source_limit_count(struct source_limit *sl, int i, unsigned reason)
{
    if (reason < SOURCE_LIMIT_REASONS)
        sl->entries[i].refused[reason]++;
}
