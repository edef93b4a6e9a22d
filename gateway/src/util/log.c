/*
 * log.c - formats one line per call and writes it with a single write(2), so lines from
 * different threads never interleave mid-line.
 */
#include "util/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The one piece of process-wide state outside main: set before threads start, read after. */
static _Atomic int current_level = LOG_LEVEL_INFO;

/* The repeat limiter's table (log.h): guarded by repeats_lock, which is held only to update
 * a slot and copy a line, never during write(2) of a line that is not a summary. */
struct repeat_site {
    const char *fmt; /* the call site; NULL: free */
    enum log_level level;
    long long window_start_ms;
    unsigned printed;    /* lines printed in this window */
    unsigned held_back;  /* lines counted, not printed, in this window */
    char last_text[256]; /* the last held-back line's text (no prefix) */
};
static pthread_mutex_t repeats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct repeat_site repeat_sites[LOG_REPEAT_SITES];
static long long (*repeat_clock)(void);

static const char *const level_names[] = {"error", "warn", "info", "debug"};
/* syslog priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
static const int level_priorities[] = {3, 4, 6, 7};

void log_set_level(enum log_level level)
{
    atomic_store(&current_level, (int)level);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&current_level);
}

int log_level_parse(const char *text, enum log_level *out)
{
    for (int i = 0; i < (int)(sizeof(level_names) / sizeof(level_names[0])); i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(enum log_level level)
{
    if ((int)level < 0 || (int)level > LOG_LEVEL_DEBUG)
        return "?";
    return level_names[level];
}

void log_set_repeat_clock(long long (*now_ms)(void))
{
    repeat_clock = now_ms;
}

static long long repeat_now_ms(void)
{
    if (repeat_clock)
        return repeat_clock();
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Writes one line: the level prefix, then text, then a newline, in one write(2). */
static void write_line(enum log_level level, const char *text)
{
    char line[1024];
    size_t used;
    if (getenv("JOURNAL_STREAM") != NULL) {
        used = (size_t)snprintf(line, sizeof(line), "<%d>", level_priorities[level]);
    } else {
        struct timespec now;
        struct tm utc;
        clock_gettime(CLOCK_REALTIME, &now);
        gmtime_r(&now.tv_sec, &utc);
        used = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &utc);
        used += (size_t)snprintf(line + used, sizeof(line) - used, ".%03ldZ %-5s ",
                                 now.tv_nsec / 1000000L, level_names[level]);
    }
    int n = snprintf(line + used, sizeof(line) - used, "%s", text);
    if (n < 0)
        return;
    used += (size_t)n;
    if (used > sizeof(line) - 2)
        used = sizeof(line) - 2; /* truncated: still end the line */
    line[used++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, used);
    (void)ignored;
}

/* A summary line for site, when it held lines back; copied out under the lock. */
struct repeat_summary {
    enum log_level level;
    unsigned count;
    char text[256];
};

static void take_summary(struct repeat_site *site, struct repeat_summary *out)
{
    out->count = site->held_back;
    out->level = site->level;
    memcpy(out->text, site->last_text, sizeof(out->text));
    site->held_back = 0;
}

static void write_summary(const struct repeat_summary *s)
{
    if (s->count == 0)
        return;
    char text[400];
    snprintf(text, sizeof(text), "... repeated %u more time%s in the last %d s: %s", s->count,
             s->count == 1 ? "" : "s", LOG_REPEAT_WINDOW_MS / 1000, s->text);
    write_line(s->level, text);
}

/* Decides whether a line from fmt is printed (true) or held back. A window that ended
 * hands its count back in *summary, to be printed before the line. */
static bool repeat_admit(enum log_level level, const char *fmt, const char *text,
                         struct repeat_summary *summary)
{
    summary->count = 0;
    long long now_ms = repeat_now_ms();
    bool admit = true;
    pthread_mutex_lock(&repeats_lock);
    struct repeat_site *site = NULL, *free_site = NULL;
    for (size_t i = 0; i < LOG_REPEAT_SITES; i++) {
        if (repeat_sites[i].fmt == fmt) {
            site = &repeat_sites[i];
            break;
        }
        if (!free_site && (repeat_sites[i].fmt == NULL ||
                           (repeat_sites[i].held_back == 0 &&
                            now_ms - repeat_sites[i].window_start_ms >= LOG_REPEAT_WINDOW_MS)))
            free_site = &repeat_sites[i]; /* free, or idle for a whole window: reusable */
    }
    if (!site && free_site) {
        site = free_site;
        site->fmt = fmt;
        site->window_start_ms = now_ms;
        site->printed = 0;
        site->held_back = 0;
    }
    if (site) {
        if (now_ms - site->window_start_ms >= LOG_REPEAT_WINDOW_MS) {
            take_summary(site, summary);
            site->window_start_ms = now_ms;
            site->printed = 0;
        }
        site->level = level;
        if (site->printed < LOG_REPEAT_BURST) {
            site->printed++;
        } else {
            site->held_back++;
            size_t len = strnlen(text, sizeof(site->last_text) - 1); /* truncated: fine */
            memcpy(site->last_text, text, len);
            site->last_text[len] = '\0';
            admit = false;
        }
    }
    pthread_mutex_unlock(&repeats_lock);
    return admit;
}

void log_flush_repeats(bool all)
{
    long long now_ms = repeat_now_ms();
    for (size_t i = 0; i < LOG_REPEAT_SITES; i++) {
        struct repeat_summary summary = {0};
        pthread_mutex_lock(&repeats_lock);
        struct repeat_site *site = &repeat_sites[i];
        if (site->fmt != NULL && (all || now_ms - site->window_start_ms >= LOG_REPEAT_WINDOW_MS)) {
            take_summary(site, &summary);
            if (!all) { /* a new window, so the site's next lines print again */
                site->window_start_ms = now_ms;
                site->printed = 0;
            }
        }
        pthread_mutex_unlock(&repeats_lock);
        write_summary(&summary);
    }
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    if ((int)level < 0 || (int)level > atomic_load(&current_level))
        return;
    char text[1000];
    if (vsnprintf(text, sizeof(text), fmt, ap) < 0)
        return;
    if (level != LOG_LEVEL_DEBUG) {
        struct repeat_summary summary;
        bool admit = repeat_admit(level, fmt, text, &summary);
        write_summary(&summary);
        if (!admit)
            return;
    }
    write_line(level, text);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
