/*
 * util/backoff.h - a small pseudo-random generator and exponential backoff with full jitter.
 *
 * Many clients that lose the same broker at the same moment must not come back at the same
 * moment, or every reconnect is a storm. "Full jitter" (a delay drawn uniformly from
 * [0, min(cap, base * 2^attempt)]) spreads them best for the fewest total attempts. The
 * generator is xorshift64*: fast, no global state, good enough to spread delays, and never
 * to be used for anything secret. Each user seeds its own generator (backoff_rng_seed mixes
 * the time, the process id and a per-instance salt), so two instances in one process, or
 * two processes started together, do not draw the same sequence.
 *
 * Threads: a generator belongs to its owner; no locking inside. No allocation, no errors.
 */
#ifndef SENSORBRO_UTIL_BACKOFF_H
#define SENSORBRO_UTIL_BACKOFF_H

#include <stdint.h>

struct backoff_rng {
    uint64_t state; /* never 0 once seeded */
};

/* Seeds r from the wall clock, the process id and salt (e.g. the owner's address). */
void backoff_rng_seed(struct backoff_rng *r, uint64_t salt);
/* The next 64 pseudo-random bits. */
uint64_t backoff_random(struct backoff_rng *r);
/* A value drawn uniformly (up to a negligible modulo bias) from [lo, hi]; lo when hi <= lo. */
uint64_t backoff_uniform(struct backoff_rng *r, uint64_t lo, uint64_t hi);
/* Full jitter: uniformly from [0, min(cap_ms, base_ms * 2^attempt)]. */
uint64_t backoff_full_jitter_ms(struct backoff_rng *r, uint64_t base_ms, uint64_t cap_ms,
                                uint32_t attempt);

#endif
