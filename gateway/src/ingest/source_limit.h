/*
 * source_limit.h - a token bucket per source host for the Semtech UDP adapter, and the
 * refusals counted per source, in a bounded table. No sockets, no clock, no locks: the
 * caller passes the time and serialises access; unit-tested directly
 * (tests/unit/test_source_limit.c).
 *
 * Each source (an IPv4 or IPv6 host, ports ignored: a forwarder sends from two) may send
 * burst datagrams at once and rate_per_s on average; a datagram over that is refused
 * before it is parsed. rate_per_s 0 turns the limit off (refusals are still counted per
 * source). The table holds SOURCE_LIMIT_MAX sources; a new one takes the place of the
 * least recently heard. Evicting a source whose bucket had refilled changes nothing; a
 * flood from more hosts than the table holds (or with spoofed source addresses, which UDP
 * cannot tell) is beyond what a per-source limit can stop (docs/security.md).
 */
#ifndef SENSORBRO_SOURCE_LIMIT_H
#define SENSORBRO_SOURCE_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/eui_host.h"

#define SOURCE_LIMIT_MAX     256
#define SOURCE_LIMIT_REASONS 24 /* refusal reasons counted per source (the caller's enum) */

struct source_entry {
    bool used;
    char host[EUI_HOST_HOST_SIZE];
    double tokens;
    int64_t refilled_ms;
    int64_t heard_ms;
    bool limited;         /* refusing now: the caller logs the start and the end once */
    int64_t limited_ms;   /* its last refusal */
    uint64_t limited_now; /* datagrams refused since it was last let through */
    uint64_t passed;      /* datagrams let through */
    uint64_t refused[SOURCE_LIMIT_REASONS];
};

struct source_limit {
    double rate_per_s, burst;
    struct source_entry entries[SOURCE_LIMIT_MAX];
    uint64_t evicted;
};

void source_limit_init(struct source_limit *sl, uint32_t rate_per_s, uint32_t burst);

/* The entry of host, added when new (evicting the least recently heard). Never -1. */
int source_limit_find(struct source_limit *sl, const char *host, int64_t now_ms);

/* Takes a token of entry i: true when the datagram may pass. */
bool source_limit_take(struct source_limit *sl, int i, int64_t now_ms);

/* Counts a refusal of entry i under reason (< SOURCE_LIMIT_REASONS; others ignored). */
void source_limit_count(struct source_limit *sl, int i, unsigned reason);

#endif
