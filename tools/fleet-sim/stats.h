/*
 * stats.h - what a fleet run counts, and the summary printed at its end.
 *
 * Latencies go into a log-linear histogram (the idea of HdrHistogram) rather than a list:
 * a run may go on without limit, and percentiles within 1.6 % are all a benchmark needs.
 * Memory is fixed (about 30 KiB) whatever the run's length.
 */
#ifndef FLEET_SIM_STATS_H
#define FLEET_SIM_STATS_H

#include <stdint.h>
#include <stdio.h>

/* Values below 2^(LATENCY_SUB_BUCKET_BITS + 1) us are counted exactly; above, each power of
 * two is split into 2^LATENCY_SUB_BUCKET_BITS buckets. */
#define LATENCY_SUB_BUCKET_BITS 6
#define LATENCY_BUCKETS         ((64 - LATENCY_SUB_BUCKET_BITS) << LATENCY_SUB_BUCKET_BITS)

struct latency_histogram {
    uint64_t counts[LATENCY_BUCKETS];
    uint64_t total;
    int64_t max_us;
};

/* Counted over a run. Attempts are transmissions of a request; an uplink may need several. */
struct fleet_stats {
    uint64_t sensors;
    uint64_t sent;                    /* uplinks sent at least once */
    uint64_t attempts;                /* transmissions, re-sends included */
    uint64_t delivered;               /* uplinks answered 2.04 Changed */
    uint64_t rejected;                /* uplinks answered 4.xx, not re-sent */
    uint64_t rejected_by_detail[32];  /* 4.dd, by dd */
    uint64_t unavailable;             /* re-sends after a 5.03 */
    uint64_t timeouts;                /* attempts unanswered within the timeout */
    uint64_t undeliverable;           /* of those, reported undeliverable by libcoap */
    uint64_t failed;                  /* uplinks given up: retries spent, or odd answer */
    uint64_t unfinished;              /* uplinks still pending when the run was stopped */
    uint64_t late_answers;            /* answers that matched no request in flight */
    int64_t wall_us;                  /* from the first send to the end */
    struct latency_histogram latency; /* first transmission to 2.04, per uplink */
};

void latency_record(struct latency_histogram *h, int64_t latency_us);

/* The smallest recorded latency that at least percent % of the records do not exceed (to
 * the histogram's resolution, and never above the maximum). 0 when nothing was recorded. */
int64_t latency_percentile_us(const struct latency_histogram *h, double percent);

/* The end-of-run summary, a few lines for a human. */
void stats_print_summary(const struct fleet_stats *stats, FILE *out);

#endif
