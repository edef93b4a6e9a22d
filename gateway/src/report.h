/*
 * report.h - a module's figures, each named once, turned into metrics and a stats line.
 *
 * Every module that counts exports a collector next to its stats struct, e.g.
 *     void coap_ingest_collect(const struct coap_ingest_stats *s, struct report *r);
 * which calls the functions below once per figure, in the order of its stats line. Each
 * call names the figure once and says where it goes: into the metrics list (metrics.h,
 * a Prometheus-style name: what sensorbroctl status and a metrics endpoint show) and/or
 * into the module's stats log line (a few words for humans before the value). A report
 * wants either or both: main.c asks for the metrics every few seconds and for the line
 * once a minute, from the same collector, so a counter added in one place shows in both.
 *
 * Figures the metrics list does not carry (a module's finer split of a counter) have no
 * metric name; figures the line leaves out (the same count again, by transport) have no
 * log words. The line reads as the words and values in call order:
 *     report_counter(r, "sensorbro_lns_events_total", "events ", 7);
 *     report_counter(r, NULL, " (journaled ", 2);     -> "events 7 (journaled 2"
 *
 * Ownership: a report points at the caller's metrics list and line buffer; it keeps
 * nothing. Threads: touches only what it is given. Errors: a line that does not fit is
 * cut (it is for humans); a metrics list that is full drops the figure (METRICS_MAX is
 * sized for every module: a programming error the unit test would show).
 */
#ifndef SENSORBRO_REPORT_H
#define SENSORBRO_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

struct report {
    struct metrics *metrics; /* NULL: no metrics wanted */
    char *line;              /* NULL: no stats line wanted */
    size_t line_size;
    size_t line_used;
};

/* A report into m (may be NULL) and into line (line_size bytes, may be NULL), which starts
 * empty. m is appended to, not cleared. */
void report_init(struct report *r, struct metrics *m, char *line, size_t line_size);

/* A counter: the metric name (NULL: in the line only) and the words before its value in
 * the line (NULL: not in the line). */
void report_counter(struct report *r, const char *metric, const char *words, uint64_t value);
/* A counter of a labelled family, e.g. sensorbro_frames_received_total{transport="coap"}. */
void report_labelled(struct report *r, const char *metric, const char *label,
                     const char *label_value, const char *words, uint64_t value);
/* A member of a family of reasons (drops, refusals): the metric with its label, and in the
 * line " <label_value>=<value>" when the value is not 0, so that a quiet line stays short.
 * Returns whether it went into the line. */
bool report_reason(struct report *r, const char *metric, const char *label, const char *label_value,
                   uint64_t value);
/* A gauge (a value that goes up and down), in the line as a number after words. */
void report_gauge(struct report *r, const char *metric, const char *words, double value);
/* A gauge of bytes, in the line in MiB with one decimal ("journal 12.5 MiB"). */
void report_bytes(struct report *r, const char *metric, const char *words, int64_t bytes);
/* Words in the line alone (a state such as "connected", a closing parenthesis). */
void report_text(struct report *r, const char *text);

/* The process's own figures, first in the daemon's list: sensorbro_up (0 in the last
 * snapshot of a clean stop), sensorbro_pid, sensorbro_start_time_seconds (started_ms, wall
 * clock) and sensorbro_snapshot_time_seconds (now). */
void report_daemon(struct report *r, bool running, int64_t started_ms);

#endif
