/*
 * metrics.h - the gateway's counters and gauges as one flat list of named values.
 *
 * Every module keeps its own counters in its stats struct and names them in its own
 * collector (report.h), next to that struct; the daemon runs each configured module's
 * collector into one list with Prometheus-style names (sensorbro_frames_published_total,
 * sensorbro_coap_responses_total{code="2.04"}), so that whoever shows them needs no
 * knowledge of the modules: the daemon saves the list into
 * the journal for `sensorbroctl status`, and the same list is what a metrics endpoint
 * serves. This header is the value type alone: the journal stores it and sensorbroctl reads
 * it without linking any module it names.
 *
 * Counters count since the daemon started; the totals that must survive restarts (frames
 * dropped at the cap) are kept in the journal's counters table as well.
 *
 * Ownership: a struct metrics is a plain value (no pointers), safe to copy. Threads: the
 * functions touch only what they are given; a struct metrics itself is not shared.
 */
#ifndef SENSORBRO_METRICS_H
#define SENSORBRO_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX       160
#define METRIC_NAME_SIZE  96 /* name and labels, e.g. sensorbro_x_total{reason="bad_mic"} */
#define METRIC_LABEL_SIZE 48

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE };

struct metric {
    char name[METRIC_NAME_SIZE];
    enum metric_kind kind;
    double value;
};

struct metrics {
    size_t count;
    struct metric items[METRICS_MAX];
};

void metrics_clear(struct metrics *m);
/* Appends one value. name is a metric name, optionally with one label:
 * metrics_add(m, METRIC_COUNTER, "sensorbro_x_total", "reason", "bad_mic", 3) gives
 * sensorbro_x_total{reason="bad_mic"}. label may be NULL. Returns -1 when the list is full
 * or the name does not fit (a programming error: METRICS_MAX is sized for every module). */
int metrics_add(struct metrics *m, enum metric_kind kind, const char *name, const char *label,
                const char *label_value, double value);
/* The value named exactly name (with its labels), or NULL. */
const struct metric *metrics_find(const struct metrics *m, const char *name);
/* The sum of every value of the metric name (whatever its labels): 0 when none. */
double metrics_sum(const struct metrics *m, const char *name);

#endif
