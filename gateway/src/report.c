/*
 * report.c - figures into a metrics list and a stats line (see report.h).
 */
#include "report.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "util/clock.h"

void report_init(struct report *r, struct metrics *m, char *line, size_t line_size)
{
    r->metrics = m;
    r->line = line_size > 0 ? line : NULL;
    r->line_size = line_size;
    r->line_used = 0;
    if (r->line)
        r->line[0] = '\0';
}

/* Appends to the line, cutting what does not fit. */
static void line_printf(struct report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void line_printf(struct report *r, const char *fmt, ...)
{
    if (r->line == NULL || r->line_used + 1 >= r->line_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->line + r->line_used, r->line_size - r->line_used, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    r->line_used +=
        (size_t)n < r->line_size - r->line_used ? (size_t)n : r->line_size - r->line_used - 1;
}

static void add_metric(struct report *r, enum metric_kind kind, const char *metric,
                       const char *label, const char *label_value, double value)
{
    if (r->metrics && metric)
        metrics_add(r->metrics, kind, metric, label, label_value, value);
}

void report_counter(struct report *r, const char *metric, const char *words, uint64_t value)
{
    report_labelled(r, metric, NULL, NULL, words, value);
}

void report_labelled(struct report *r, const char *metric, const char *label,
                     const char *label_value, const char *words, uint64_t value)
{
    add_metric(r, METRIC_COUNTER, metric, label, label_value, (double)value);
    if (words)
        line_printf(r, "%s%" PRIu64, words, value);
}

bool report_reason(struct report *r, const char *metric, const char *label, const char *label_value,
                   uint64_t value)
{
    add_metric(r, METRIC_COUNTER, metric, label, label_value, (double)value);
    if (value == 0)
        return false;
    line_printf(r, " %s=%" PRIu64, label_value, value);
    return true;
}

void report_gauge(struct report *r, const char *metric, const char *words, double value)
{
    add_metric(r, METRIC_GAUGE, metric, NULL, NULL, value);
    if (words)
        line_printf(r, "%s%.15g", words, value);
}

void report_bytes(struct report *r, const char *metric, const char *words, int64_t bytes)
{
    add_metric(r, METRIC_GAUGE, metric, NULL, NULL, (double)bytes);
    if (words)
        line_printf(r, "%s%.1f MiB", words, (double)bytes / 1048576.0);
}

void report_text(struct report *r, const char *text)
{
    line_printf(r, "%s", text);
}

void report_daemon(struct report *r, bool running, int64_t started_ms)
{
    report_gauge(r, "sensorbro_up", NULL, running ? 1 : 0);
    report_gauge(r, "sensorbro_pid", NULL, (double)getpid());
    report_gauge(r, "sensorbro_start_time_seconds", NULL, (double)started_ms / 1000.0);
    report_gauge(r, "sensorbro_snapshot_time_seconds", NULL, (double)clock_wall_ms() / 1000.0);
}
