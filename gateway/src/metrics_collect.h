/*
 * metrics_collect.h - every module's stats read into one struct metrics (metrics.h).
 *
 * It knows every module that counts, so it sits with main.c at the top of the house (the
 * daemon library), apart from the value type that the journal and sensorbroctl use.
 *
 * Threads: touches only what it is given.
 */
#ifndef SENSORBRO_METRICS_COLLECT_H
#define SENSORBRO_METRICS_COLLECT_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"

struct journal_writer_stats;
struct publisher_stats;
struct coap_ingest_stats;
struct semtech_udp_stats;
struct lns_mqtt_stats;

/* What metrics_collect reads: each module's stats, taken by the caller (live through the
 * module's getter, or the final figures its stop function gives). NULL: not running. */
struct metrics_sources {
    int64_t started_ms; /* wall clock, when the daemon started */
    bool running;       /* false in the last snapshot of a clean stop */
    const struct journal_writer_stats *writer;
    const struct publisher_stats *publisher;
    const struct coap_ingest_stats *coap;
    const struct semtech_udp_stats *semtech;
    const struct lns_mqtt_stats *lns;
};

/* Clears out and fills it from every module's stats in src, stamped with the wall clock. */
void metrics_collect(struct metrics *out, const struct metrics_sources *src);

#endif
