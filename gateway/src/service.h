/*
 * service.h - the daemon's side of systemd: readiness, status, watchdog, stop and reload.
 *
 * Under systemd (Type=notify, packaging/sensorbro.service) the daemon tells the service
 * manager, through sd_notify(3):
 *   READY=1       once the journal is open and every socket is bound (start succeeded), so
 *                 units ordered after sensorbro find it listening;
 *   STATUS=...    every few seconds: journal depth, the oldest pending frame's age, the
 *                 broker connection, and why the pipeline is stalled when it is
 *                 (systemctl status shows the line);
 *   WATCHDOG=1    only while the caller says the pipeline is alive. main.c decides that
 *                 from the journal writer's and the outputs' own progress, not from a
 *                 timer, so a stuck thread stops the pings and systemd restarts the daemon
 *                 WatchdogSec later; a broker outage does not (reconnecting is progress);
 *   RELOADING=1 / READY=1 around a reload (SIGHUP), STOPPING=1 when stopping.
 * Outside systemd (no NOTIFY_SOCKET) sd_notify does nothing, so the daemon started by hand
 * behaves exactly as under systemd apart from these messages.
 *
 * Reload: service_reload_config compares a freshly loaded configuration with the running
 * one key by key. Keys that can change under running threads without harm are applied
 * (today: log.level, an atomic); every other change is logged as needing a restart and
 * left as it runs. docs/operations.md says which is which and why.
 *
 * Ownership: struct service is the caller's (main's); service_close frees what it holds.
 * Threads: main thread only. Errors: a failed sd_notify is ignored (systemd sees a missing
 * ping and acts on it; there is nothing better to do); a journal that cannot be read for
 * STATUS= shows as "journal depth unknown".
 */
#ifndef SENSORBRO_SERVICE_H
#define SENSORBRO_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "store/journal_writer.h"

#define SERVICE_TEXT_SIZE 320

struct journal;

struct service {
    int64_t watchdog_ms;     /* WatchdogSec, from WATCHDOG_USEC; 0: no watchdog */
    struct journal *journal; /* read-only, for the depth in STATUS=; NULL until ready */
    char journal_path[CONFIG_PATH_SIZE];
    bool alive;                      /* the last verdict given to service_watchdog */
    char why_not[SERVICE_TEXT_SIZE]; /* its reason when not alive */
    char status[SERVICE_TEXT_SIZE];  /* the last STATUS= sent */
    int64_t status_mono_ms;          /* when it was sent */
    int64_t depth_mono_ms;           /* when the journal depth was last read */
    int64_t pending_frames;          /* as last read; -1: unknown */
    int64_t oldest_pending_ms;       /* wall clock; 0: none pending */
};

/* Reads the watchdog settings from the environment (sd_watchdog_enabled). journal_path is
 * the journal that STATUS= reports on; it is opened at service_ready. */
void service_init(struct service *s, const char *journal_path);
/* How often the main loop should call service_watchdog and service_status: default_ms, or
 * a quarter of WatchdogSec when that is shorter (systemd asks for a ping at least every
 * half). */
int64_t service_tick_ms(const struct service *s, int64_t default_ms);
/* The daemon has started: READY=1, with a first STATUS=. */
/* outputs: what the outputs are doing, one phrase (main.c builds it from their health),
 * e.g. "broker connected, 0 in flight; 120 published since start". */
void service_ready(struct service *s, const struct journal_writer_stats *w, const char *outputs);
/* The verdict of the caller's liveness check: pings the watchdog when alive; logs once when
 * the verdict turns (why says what stalled), and keeps why for STATUS=. */
void service_watchdog(struct service *s, bool alive, const char *why);
/* Sends STATUS= when its text changed or every few seconds. */
void service_status(struct service *s, const struct journal_writer_stats *w, const char *outputs);
void service_reloading(struct service *s);
/* After a reload: READY=1 again. */
void service_reloaded(struct service *s);
/* STOPPING=1; also closes the status line's read connection, so that the journal writer's
 * is the last connection and checkpoints the WAL away at a clean stop. */
void service_stopping(struct service *s);
/* Applies what can be applied of fresh to running, logs every other difference as needing
 * a restart, and returns how many differences need one. */
int service_reload_config(struct config *running, const struct config *fresh);
void service_close(struct service *s);

#endif
