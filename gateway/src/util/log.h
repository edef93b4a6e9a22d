/*
 * log.h - the gateway's one logger.
 *
 * Lines go to stderr. Under systemd (JOURNAL_STREAM set) each line carries a "<N>" syslog
 * priority prefix so that journald records the level; otherwise a UTC timestamp and the
 * level name are printed. The level is process-wide, set at start-up before any thread is
 * started and changed only by a reload (SIGHUP, service.c); it is an atomic, so log_msg
 * may be called from any thread at any time (one write(2) per line).
 *
 * Never pass secrets (keys, passwords) to these functions.
 */
#ifndef SENSORBRO_LOG_H
#define SENSORBRO_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info" or "debug". Returns 0, or -1 for anything else. */
int log_level_parse(const char *text, enum log_level *out);
const char *log_level_name(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
