/*
 * log.c - formats one line per call and writes it with a single write(2), so lines from
 * different threads never interleave mid-line.
 */
#include "util/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The one piece of process-wide state outside main: set before threads start, read after. */
static _Atomic int current_level = LOG_LEVEL_INFO;

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

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    if ((int)level > atomic_load(&current_level))
        return;
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
    int n = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
    if (n < 0)
        return;
    used += (size_t)n;
    if (used > sizeof(line) - 2)
        used = sizeof(line) - 2; /* truncated: still end the line */
    line[used++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, used);
    (void)ignored;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
