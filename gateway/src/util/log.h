/*
 * log.h - the gateway's one logger.
 *
 * Lines go to stderr. Under systemd (JOURNAL_STREAM set) each line carries a "<N>" syslog
 * priority prefix so that journald records the level; otherwise a UTC timestamp and the
 * level name are printed. The level is process-wide, set at start-up before any thread is
 * started and changed only by a reload (SIGHUP, service.c); it is an atomic, so log_msg
 * may be called from any thread at any time (one write(2) per line).
 *
 * Repeats are rate-limited per call site (the format string): within LOG_REPEAT_WINDOW_MS a
 * site prints at most LOG_REPEAT_BURST lines; the rest are counted, and when the window is
 * over one line says how many were held back, with the last of them ("... repeated N more
 * times in the last 60 s: <line>"). A flood of one error (a broker refusing every publish, a
 * hostile sender) thus costs a few lines a minute, and nothing is silently lost: the count
 * is always told: by the site's next line, by log_flush_repeats() on the main loop's tick, or at
 * stop. Debug lines are never limited (an operator asked for them). The table of sites is fixed
 * (LOG_REPEAT_SITES); sites beyond it are not limited.
 *
 * Never pass secrets (keys, passwords) to these functions.
 */
#ifndef SENSORBRO_LOG_H
#define SENSORBRO_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info" or "debug". Returns 0, or -1 for anything else. */
int log_level_parse(const char *text, enum log_level *out);
const char *log_level_name(enum log_level level);

#define LOG_REPEAT_WINDOW_MS 60000
#define LOG_REPEAT_BURST     5
#define LOG_REPEAT_SITES     64

/* Prints the counts of lines held back: of the sites whose window is over (all false; the
 * daemon's main loop calls this every tick so that a flood that stopped is still told), or
 * of every site now (all true: at stop). Thread-safe. */
void log_flush_repeats(bool all);

/* For tests: the clock the repeat limiter reads (milliseconds, monotonic). NULL restores
 * CLOCK_MONOTONIC. Call before threads log. */
void log_set_repeat_clock(long long (*now_ms)(void));

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
