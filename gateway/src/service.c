/*
 * service.c - sd_notify(3) for the daemon (see service.h), and the reload comparison.
 *
 * The journal depth in STATUS= comes from a read-only connection of its own (WAL lets it
 * read beside the writer, as sensorbroctl does), read every DEPTH_PERIOD_MS rather than
 * every tick: counting the pending frames walks an index, and the main thread that asks
 * is also the one that pings the watchdog. Its busy timeout is short for the same reason.
 */
#include "service.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "util/clock.h"
#include "store/journal.h"
#include "util/log.h"

#define DEPTH_PERIOD_MS  5000
#define STATUS_REPEAT_MS 5000
#define JOURNAL_BUSY_MS  100
/* Keys whose new value a reload applies at once: each must be safe to change while the
 * daemon's threads run. log.level is an atomic read by every log call. */
static const char *const reloadable_keys[] = {"log.level"};

void service_init(struct service *s, const char *journal_path)
{
    memset(s, 0, sizeof(*s));
    s->alive = true;
    s->pending_frames = -1;
    snprintf(s->journal_path, sizeof(s->journal_path), "%s", journal_path);
    uint64_t usec = 0;
    /* > 0 only when WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is this process) */
    if (sd_watchdog_enabled(0, &usec) > 0)
        s->watchdog_ms = (int64_t)(usec / 1000);
}

int64_t service_tick_ms(const struct service *s, int64_t default_ms)
{
    if (s->watchdog_ms > 0 && s->watchdog_ms / 4 < default_ms)
        return s->watchdog_ms / 4 > 0 ? s->watchdog_ms / 4 : 1;
    return default_ms;
}

static void format_age(int64_t age_ms, char *out, size_t out_size)
{
    int64_t s = age_ms > 0 ? age_ms / 1000 : 0;
    if (s < 120)
        snprintf(out, out_size, "%" PRId64 " s", s);
    else if (s < 7200)
        snprintf(out, out_size, "%" PRId64 " min", s / 60);
    else
        snprintf(out, out_size, "%" PRId64 " h", s / 3600);
}

static void read_depth(struct service *s)
{
    int64_t now = clock_mono_ms();
    if (s->journal == NULL || (s->depth_mono_ms != 0 && now - s->depth_mono_ms < DEPTH_PERIOD_MS))
        return;
    s->depth_mono_ms = now;
    struct journal_stats st;
    if (journal_stats(s->journal, &st) != 0) {
        s->pending_frames = -1;
        return;
    }
    s->pending_frames = st.pending_frames;
    s->oldest_pending_ms = st.oldest_pending_ms;
}

/* One line, what `systemctl status sensorbro` shows under the unit's name. */
static void build_status(struct service *s, const struct journal_writer_stats *w,
                         const char *outputs, char *out, size_t out_size)
{
    size_t used = 0;
    if (!s->alive)
        used += (size_t)snprintf(out, out_size, "STALLED: %s; ", s->why_not);
    if (used < out_size && s->pending_frames < 0) {
        used += (size_t)snprintf(out + used, out_size - used, "journal depth unknown");
    } else if (used < out_size) {
        used += (size_t)snprintf(out + used, out_size - used, "%" PRId64 " frames pending",
                                 s->pending_frames);
        if (s->pending_frames > 0 && s->oldest_pending_ms > 0 && used < out_size) {
            char age[32];
            format_age(clock_wall_ms() - s->oldest_pending_ms, age, sizeof(age));
            used += (size_t)snprintf(out + used, out_size - used, ", oldest %s", age);
        }
    }
    if (used < out_size && w->full)
        used += (size_t)snprintf(out + used, out_size - used, " (journal full)");
    if (used < out_size && outputs[0] != '\0')
        snprintf(out + used, out_size - used, "; %s", outputs);
}

static void send_status(struct service *s, const struct journal_writer_stats *w,
                        const char *outputs, bool force)
{
    char text[SERVICE_TEXT_SIZE];
    read_depth(s);
    build_status(s, w, outputs, text, sizeof(text));
    int64_t now = clock_mono_ms();
    if (!force && strcmp(text, s->status) == 0 && now - s->status_mono_ms < STATUS_REPEAT_MS)
        return;
    memcpy(s->status, text, sizeof(s->status));
    s->status_mono_ms = now;
    sd_notifyf(0, "STATUS=%s", text);
}

void service_ready(struct service *s, const struct journal_writer_stats *w, const char *outputs)
{
    char err[256];
    struct journal_options opts = {.read_only = true, .busy_timeout_ms = JOURNAL_BUSY_MS};
    if (journal_open(&s->journal, s->journal_path, &opts, err, sizeof(err)) != 0) {
        log_warn("service: cannot read the journal for the status line: %s", err);
        s->journal = NULL;
    }
    read_depth(s);
    char text[SERVICE_TEXT_SIZE];
    build_status(s, w, outputs, text, sizeof(text));
    memcpy(s->status, text, sizeof(s->status));
    s->status_mono_ms = clock_mono_ms();
    sd_notifyf(0, "READY=1\nSTATUS=%s", text);
    if (s->watchdog_ms > 0)
        log_info("service: watchdog every %" PRId64 " ms, fed while the journal writer and the "
                 "outputs make progress or are idle",
                 s->watchdog_ms);
}

void service_watchdog(struct service *s, bool alive, const char *why)
{
    if (alive != s->alive) {
        if (!alive && s->watchdog_ms > 0)
            log_error("service: %s; the watchdog is no longer fed, so systemd restarts "
                      "sensorbro unless this clears within %" PRId64 " ms",
                      why, s->watchdog_ms);
        else if (!alive)
            log_error("service: %s", why);
        else
            log_warn("service: the pipeline makes progress again (%s)", s->why_not);
    }
    s->alive = alive;
    if (!alive)
        snprintf(s->why_not, sizeof(s->why_not), "%s", why);
    if (alive && s->watchdog_ms > 0)
        sd_notify(0, "WATCHDOG=1");
}

void service_status(struct service *s, const struct journal_writer_stats *w, const char *outputs)
{
    send_status(s, w, outputs, false);
}

void service_reloading(struct service *s)
{
    (void)s;
    /* MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match the reload; 252 ignores
     * it */
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, (uint64_t)clock_mono_ms() * 1000);
}

void service_reloaded(struct service *s)
{
    (void)s;
    sd_notify(0, "READY=1");
}

void service_stopping(struct service *s)
{
    sd_notify(0, "STOPPING=1\nSTATUS=stopping: answering what was accepted, then closing");
    /* Let go of the read connection now: the journal writer's must be the last to close,
     * because only a writable connection checkpoints the WAL back into the database and
     * removes it, as a clean stop should leave the journal. */
    journal_close(s->journal);
    s->journal = NULL;
}

/* The configuration as config_print writes it (secrets masked), in one malloc'ed string. */
static char *printed(const struct config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return NULL;
    config_print(cfg, f);
    fclose(f);
    return text;
}

static bool reloadable(const char *key)
{
    for (size_t i = 0; i < sizeof(reloadable_keys) / sizeof(reloadable_keys[0]); i++)
        if (strcmp(key, reloadable_keys[i]) == 0)
            return true;
    return false;
}

/* Handles one key that differs. Returns 1 when it needs a restart. */
static int reload_key(struct config *running, const struct config *fresh, const char *key,
                      const char *old_value, const char *new_value)
{
    if (!reloadable(key)) {
        log_warn("reload: %s changed (%s -> %s): takes effect at the next restart", key, old_value,
                 new_value);
        return 1;
    }
    /* said before it applies, so that a quieter log.level does not hide its own change */
    log_info("reload: %s is now %s", key, new_value);
    if (strcmp(key, "log.level") == 0) {
        running->log.level = fresh->log.level;
        log_set_level((enum log_level)fresh->log.level);
    }
    return 0;
}

int service_reload_config(struct config *running, const struct config *fresh)
{
    /* config_print walks the key table, so both texts have the same lines in the same
     * order: line i of one is the same key as line i of the other. */
    char *old_text = printed(running), *new_text = printed(fresh);
    int restart = 0, changed = 0;
    if (old_text == NULL || new_text == NULL) {
        log_error("reload: out of memory comparing the configurations; nothing applied");
        free(old_text);
        free(new_text);
        return 0;
    }
    char section[64] = "";
    char *old_save = NULL, *new_save = NULL;
    char *o = strtok_r(old_text, "\n", &old_save), *n = strtok_r(new_text, "\n", &new_save);
    for (; o != NULL && n != NULL;
         o = strtok_r(NULL, "\n", &old_save), n = strtok_r(NULL, "\n", &new_save)) {
        if (o[0] == '[') {
            snprintf(section, sizeof(section), "%.*s", (int)strcspn(o + 1, "]"), o + 1);
            continue;
        }
        if (strcmp(o, n) == 0)
            continue;
        size_t name_len = strcspn(o, " =");
        char key[160];
        snprintf(key, sizeof(key), "%s.%.*s", section, (int)name_len, o);
        const char *old_value = strstr(o, " = "), *new_value = strstr(n, " = ");
        changed++;
        restart += reload_key(running, fresh, key, old_value ? old_value + 3 : "?",
                              new_value ? new_value + 3 : "?");
    }
    free(old_text);
    free(new_text);
    /* config_print masks secrets, so a changed password looks the same in both texts */
    if (strcmp(running->mqtt.broker.password, fresh->mqtt.broker.password) != 0) {
        log_warn("reload: mqtt.password changed: takes effect at the next restart");
        changed++;
        restart++;
    }
    if (strcmp(running->lns_mqtt.broker.password, fresh->lns_mqtt.broker.password) != 0) {
        log_warn("reload: lns_mqtt.password changed: takes effect at the next restart");
        changed++;
        restart++;
    }
    if (changed == 0)
        log_info("reload: the configuration is unchanged");
    else if (restart > 0)
        log_warn("reload: %d of %d changes need a restart (systemctl restart sensorbro); the "
                 "daemon runs on with the values it started with",
                 restart, changed);
    return restart;
}

void service_close(struct service *s)
{
    journal_close(s->journal);
    s->journal = NULL;
}
