/*
 * util/backoff.c - xorshift64* and full-jitter exponential backoff (util/backoff.h).
 */
#include "util/backoff.h"

#include <time.h>
#include <unistd.h>

void backoff_rng_seed(struct backoff_rng *r, uint64_t salt)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) ^
                 ((uint64_t)getpid() << 32) ^ (salt * 0x9E3779B97F4A7C15ULL);
    /* splitmix64's finaliser: nearby seeds (two instances started together) diverge at once */
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    x ^= x >> 31;
    r->state = x != 0 ? x : 0x9E3779B97F4A7C15ULL; /* xorshift stays at 0 forever */
}

uint64_t backoff_random(struct backoff_rng *r)
{
    uint64_t x = r->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

uint64_t backoff_uniform(struct backoff_rng *r, uint64_t lo, uint64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = hi - lo;
    if (span == UINT64_MAX)
        return backoff_random(r);
    return lo + backoff_random(r) % (span + 1);
}

uint64_t backoff_full_jitter_ms(struct backoff_rng *r, uint64_t base_ms, uint64_t cap_ms,
                                uint32_t attempt)
{
    uint64_t ceiling = base_ms;
    for (uint32_t i = 0; i < attempt && ceiling < cap_ms; i++)
        ceiling = ceiling > cap_ms / 2 ? cap_ms : ceiling * 2; /* no overflow near the top */
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    return backoff_uniform(r, 0, ceiling);
}
