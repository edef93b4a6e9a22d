/*
 * stats.c - latency histogram and the run summary (stats.h).
 *
 * Bucket b of the histogram: below 2^(S+1) (S = LATENCY_SUB_BUCKET_BITS) it holds the
 * value b exactly. Above, a value v with highest set bit h is stored with its top S+1 bits
 * m = v >> (h - S), in bucket (h - S) * 2^S + m: m runs over [2^S, 2^(S+1)), so the
 * buckets of consecutive powers of two join up, and each bucket spans at most 1/2^S of
 * its value.
 */
#include "stats.h"

#include <inttypes.h>
#include <math.h>

static unsigned bucket_of(uint64_t v)
{
    if (v < (2u << LATENCY_SUB_BUCKET_BITS))
        return (unsigned)v;
    unsigned high_bit = 0;
    while (v >> (high_bit + 1))
        high_bit++;
    unsigned shift = high_bit - LATENCY_SUB_BUCKET_BITS;
    return (shift << LATENCY_SUB_BUCKET_BITS) + (unsigned)(v >> shift);
}

/* The largest value that falls in bucket b. */
static uint64_t bucket_top(unsigned b)
{
    if (b < (2u << LATENCY_SUB_BUCKET_BITS))
        return b;
    unsigned shift = (b >> LATENCY_SUB_BUCKET_BITS) - 1;
    uint64_t mantissa =
        (b & ((1u << LATENCY_SUB_BUCKET_BITS) - 1)) + (1u << LATENCY_SUB_BUCKET_BITS);
    return ((mantissa + 1) << shift) - 1;
}

void latency_record(struct latency_histogram *h, int64_t latency_us)
{
    if (latency_us < 0)
        latency_us = 0; /* cannot happen with a monotonic clock; keep the index in range */
    h->counts[bucket_of((uint64_t)latency_us)]++;
    h->total++;
    if (latency_us > h->max_us)
        h->max_us = latency_us;
}

int64_t latency_percentile_us(const struct latency_histogram *h, double percent)
{
    if (h->total == 0)
        return 0;
    uint64_t rank = (uint64_t)ceil(percent / 100.0 * (double)h->total);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < LATENCY_BUCKETS; b++) {
        seen += h->counts[b];
        if (seen >= rank) {
            uint64_t top = bucket_top(b);
            return top < (uint64_t)h->max_us ? (int64_t)top : h->max_us;
        }
    }
    return h->max_us;
}

static double ms(int64_t us)
{
    return (double)us / 1000.0;
}

void stats_print_summary(const struct fleet_stats *s, FILE *out)
{
    double wall_s = (double)s->wall_us / 1e6;
    fprintf(out, "fleet-sim summary\n");
    fprintf(out, "  sensors              %" PRIu64 "\n", s->sensors);
    fprintf(out, "  uplinks sent         %" PRIu64 " (%" PRIu64 " transmissions)\n", s->sent,
            s->attempts);
    fprintf(out, "  delivered (2.04)     %" PRIu64 "\n", s->delivered);
    fprintf(out, "  rejected (4.xx)      %" PRIu64, s->rejected);
    const char *sep = " (";
    for (unsigned d = 0; d < 32; d++) {
        if (s->rejected_by_detail[d] == 0)
            continue;
        fprintf(out, "%s4.%02u: %" PRIu64, sep, d, s->rejected_by_detail[d]);
        sep = ", ";
    }
    fprintf(out, "%s\n", s->rejected > 0 ? ")" : "");
    fprintf(out, "  retried after 5.03   %" PRIu64 "\n", s->unavailable);
    fprintf(out,
            "  timed out            %" PRIu64 " attempts (%" PRIu64 " undeliverable), %" PRIu64
            " late answers ignored\n",
            s->timeouts, s->undeliverable, s->late_answers);
    fprintf(out, "  failed               %" PRIu64 "\n", s->failed);
    fprintf(out, "  unfinished at stop   %" PRIu64 "\n", s->unfinished);
    fprintf(out, "  wall time            %.3f s\n", wall_s);
    fprintf(out, "  achieved rate        %.1f uplinks/s sent, %.1f/s delivered\n",
            wall_s > 0 ? (double)s->sent / wall_s : 0.0,
            wall_s > 0 ? (double)s->delivered / wall_s : 0.0);
    const struct latency_histogram *h = &s->latency;
    if (h->total == 0) {
        fprintf(out, "  latency              none delivered\n");
        return;
    }
    fprintf(out,
            "  latency to 2.04 (ms) p50 %.2f  p90 %.2f  p99 %.2f  max %.2f  (first transmission"
            " to 2.04, %" PRIu64 " uplinks)\n",
            ms(latency_percentile_us(h, 50)), ms(latency_percentile_us(h, 90)),
            ms(latency_percentile_us(h, 99)), ms(h->max_us), h->total);
}
