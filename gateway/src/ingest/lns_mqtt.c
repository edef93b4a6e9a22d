/*
 * ingest/lns_mqtt.c - the ChirpStack v4 MQTT feed behind ingest/lns_mqtt.h.
 *
 * Parts: the recent-deduplicationId set, the map of each device's applicationId (for
 * downlinks), and the adapter: its MQTT session (output/mqtt_session.h) and its thread. The
 * events and commands themselves are ingest/chirpstack.c's (pure, unit-tested); the decode,
 * the journal writer and the wait for the commit are the ingest core's (ingest/ingest.h,
 * where a sensor is acknowledged, here in its blocking mode); this file moves events.
 *
 * Concurrency. The adapter's thread drives the session (connects, reconnects), subscribes
 * on every connect and reacts to the subscription's result; Paho's callbacks only record
 * under lm->lock and wake it, except the message callback, which does the work of an event
 * on Paho's receive thread and waits there for the commit. Paho calls callbacks while
 * holding its own mutex, so nothing here calls into the session with lm->lock held. The
 * session keeps its client safe for downlink senders on any thread.
 */
#include "ingest/lns_mqtt.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ingest/chirpstack.h"
#include "ingest/ingest.h"
#include "output/mqtt_session.h"
#include "report.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/topic.h"

#define IDLE_WAKE_MS           1000
#define STOP_DRAIN_MS          1000 /* at most, for downlinks' PUBACKs when stopping */
#define APPEND_RETRY_MS        5    /* the journal's queue is full: try again after this */
#define APPEND_GIVE_UP_MS      2000 /* and give up after this (the event is then lost) */
#define BAD_LOG_PERIOD_MS      60000
#define APP_MAP_SLOTS          4096 /* devices whose applicationId is remembered */
#define APP_MAP_PROBE          8
#define TOPIC_SIZE             512
#define DOWNLINK_JSON_SIZE     512
#define BAD_EVENT_REASON_EXTRA 32

/* ---- recently seen deduplicationIds ---- */

/* A ring of the last `capacity` ids with a chained hash index over it: lookups and inserts
 * in O(1), the oldest id forgotten when a new one comes. */
struct dedup_set {
    size_t capacity, mask, head, count;
    char (*ids)[CHIRPSTACK_DEDUP_ID_SIZE];
    uint32_t *hashes;
    int32_t *next;    /* chain of each ring slot */
    int32_t *buckets; /* first ring slot of each bucket, -1 none */
};

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int dedup_init(struct dedup_set *d, size_t capacity)
{
    size_t buckets = 1;
    while (buckets < capacity * 2)
        buckets *= 2;
    d->capacity = capacity;
    d->mask = buckets - 1;
    d->head = d->count = 0;
    d->ids = calloc(capacity, sizeof(*d->ids));
    d->hashes = calloc(capacity, sizeof(*d->hashes));
    d->next = calloc(capacity, sizeof(*d->next));
    d->buckets = malloc(buckets * sizeof(*d->buckets));
    if (!d->ids || !d->hashes || !d->next || !d->buckets)
        return -1;
    for (size_t i = 0; i < buckets; i++)
        d->buckets[i] = -1;
    return 0;
}

static void dedup_free(struct dedup_set *d)
{
    free(d->ids);
    free(d->hashes);
    free(d->next);
    free(d->buckets);
}

static bool dedup_contains(const struct dedup_set *d, const char *id)
{
    uint32_t h = fnv1a(id);
    for (int32_t i = d->buckets[h & d->mask]; i >= 0; i = d->next[i]) {
        if (d->hashes[i] == h && strcmp(d->ids[i], id) == 0)
            return true;
    }
    return false;
}

static void dedup_add(struct dedup_set *d, const char *id)
{
    size_t slot = d->head;
    if (d->count == d->capacity) {
        /* forget the oldest: unlink its slot from its bucket's chain */
        int32_t *link = &d->buckets[d->hashes[slot] & d->mask];
        while (*link >= 0 && *link != (int32_t)slot)
            link = &d->next[*link];
        if (*link == (int32_t)slot)
            *link = d->next[slot];
    } else {
        d->count++;
    }
    uint32_t h = fnv1a(id);
    snprintf(d->ids[slot], CHIRPSTACK_DEDUP_ID_SIZE, "%s", id);
    d->hashes[slot] = h;
    d->next[slot] = d->buckets[h & d->mask];
    d->buckets[h & d->mask] = (int32_t)slot;
    d->head = (slot + 1) % d->capacity;
}

/* ---- each device's applicationId, for downlinks ---- */

struct app_slot {
    bool used;
    char device[FRAME_DEVICE_ID_SIZE];
    char application_id[CHIRPSTACK_APP_ID_SIZE];
};

/* ---- the adapter ---- */

struct lns_mqtt {
    const struct config *cfg;
    struct journal_writer *writer;
    struct mqtt_session *session;
    bool mqtt5;
    char filter[TOPIC_SIZE];

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake_cond; /* the adapter's thread */

    /* --- under lock --- */
    bool stopping, wake;
    bool subscribed_event, subscribe_failed_event;
    int subscribe_reason;
    bool subscribed;

    /* --- adapter thread only --- */
    int64_t session_due_mono_ms; /* when the session wants to be serviced again */
    struct mqtt_session_request subscribe_request;

    /* --- the message callback only (Paho calls it for one message at a time) --- */
    struct chirpstack_uplink event;
    struct frame_record record;
    struct ingest *ingest;       /* blocking mode: classify, submit, wait for the commit */
    struct ingest_ticket ticket; /* the event being stored */
    struct dedup_set dedup;
    int64_t bad_logged_mono_ms;
    uint64_t bad_unlogged;
    int64_t clock_logged_mono_ms;
    uint64_t clock_unlogged;

    pthread_mutex_t app_lock;
    struct app_slot *apps; /* APP_MAP_SLOTS */

    _Atomic uint64_t received, accepted, duplicates, empty, bad, quarantined, not_stored, downlinks,
        downlink_failures, connects, connection_losses, time_untrusted;
};

static void wake_locked(struct lns_mqtt *lm)
{
    lm->wake = true;
    pthread_cond_signal(&lm->wake_cond);
}

static size_t app_slot_index(const char *device)
{
    return fnv1a(device) % APP_MAP_SLOTS;
}

/* Remembers a device's applicationId. A full probe window overwrites its first slot: a
 * forgotten device needs its applicationId from the caller until its next uplink. */
static void remember_application(struct lns_mqtt *lm, const char *device, const char *app)
{
    if (app[0] == '\0')
        return;
    pthread_mutex_lock(&lm->app_lock);
    size_t start = app_slot_index(device), target = start;
    bool found = false, have_empty = false;
    for (size_t i = 0; i < APP_MAP_PROBE && !found; i++) {
        size_t slot = (start + i) % APP_MAP_SLOTS;
        const struct app_slot *s = &lm->apps[slot];
        if (s->used && strcmp(s->device, device) == 0) {
            target = slot;
            found = true;
        } else if (!s->used && !have_empty) {
            target = slot;
            have_empty = true;
        }
    }
    struct app_slot *s = &lm->apps[target];
    s->used = true;
    memcpy(s->device, device, FRAME_DEVICE_ID_SIZE);
    snprintf(s->application_id, sizeof(s->application_id), "%s", app);
    pthread_mutex_unlock(&lm->app_lock);
}

static bool recall_application(struct lns_mqtt *lm, const char *device,
                               char out[CHIRPSTACK_APP_ID_SIZE])
{
    bool found = false;
    pthread_mutex_lock(&lm->app_lock);
    size_t start = app_slot_index(device);
    for (size_t i = 0; i < APP_MAP_PROBE && !found; i++) {
        const struct app_slot *s = &lm->apps[(start + i) % APP_MAP_SLOTS];
        if (s->used && strcmp(s->device, device) == 0) {
            memcpy(out, s->application_id, CHIRPSTACK_APP_ID_SIZE);
            found = true;
        }
    }
    pthread_mutex_unlock(&lm->app_lock);
    return found;
}

/* ---- one event (the message callback, Paho's receive thread) ---- */

/* Hands lm->record, classified in lm->ticket, to the journal writer and waits until it is
 * committed. Returns 0, or -1 when it was not stored (queue full for APPEND_GIVE_UP_MS, or a
 * failed commit). */
static int commit_record(struct lns_mqtt *lm)
{
    int64_t give_up = clock_mono_ms() + APPEND_GIVE_UP_MS;
    while (ingest_submit(lm->ingest, &lm->ticket, &lm->record, lm) != INGEST_PENDING) {
        if (clock_mono_ms() >= give_up)
            return -1;
        /* the journal's queue is full: holding the event here holds back the broker too */
        struct timespec pause = {.tv_nsec = APPEND_RETRY_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    return ingest_wait(lm->ingest, &lm->ticket) == INGEST_STORED ? 0 : -1;
}

/* "mqtt:<topic>", cut to fit, anything but printable ASCII shown as '?'. */
static void format_source(const char *topic, size_t topic_len, char *out, size_t out_size)
{
    size_t n = (size_t)snprintf(out, out_size, "mqtt:");
    for (size_t i = 0; i < topic_len && n + 1 < out_size; i++) {
        unsigned char c = (unsigned char)topic[i];
        out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[n] = '\0';
}

static void log_bad_event(struct lns_mqtt *lm, const char *topic, const char *reason)
{
    int64_t now = clock_mono_ms();
    if (lm->bad_logged_mono_ms != 0 && now - lm->bad_logged_mono_ms < BAD_LOG_PERIOD_MS) {
        lm->bad_unlogged++;
        log_debug("lns-mqtt: bad event on %s: %s", topic, reason);
        return;
    }
    log_warn("lns-mqtt: bad event on %s: %s (%" PRIu64 " more since the last report; at most "
             "one report a minute)",
             topic, reason, lm->bad_unlogged);
    lm->bad_logged_mono_ms = now;
    lm->bad_unlogged = 0;
}

/* The event's reception time is too far from ours: one warning a minute at most, since a
 * network server whose clock is wrong makes every event say so. */
static void log_untrusted_time(struct lns_mqtt *lm, const struct frame_record *rec,
                               const char *source, int64_t claimed_ms)
{
    int64_t now = clock_mono_ms();
    double off_s = (double)(claimed_ms - rec->received_ms) / 1000.0;
    if (lm->clock_logged_mono_ms != 0 && now - lm->clock_logged_mono_ms < BAD_LOG_PERIOD_MS) {
        lm->clock_unlogged++;
        log_debug("lns-mqtt: event from %s: %s is %.0f s from receipt; not trusted", rec->device,
                  source, off_s);
        return;
    }
    log_warn("lns-mqtt: event from %s: %s is %.0f s from its receipt, beyond "
             "lns_mqtt.max_event_age_s / max_event_ahead_s: is the network server's clock "
             "wrong? Its samples are timed from the receipt (%" PRIu64 " more since the last "
             "report; at most one report a minute)",
             rec->device, source, off_s, lm->clock_unlogged);
    lm->clock_logged_mono_ms = now;
    lm->clock_unlogged = 0;
}

static void handle_event(struct lns_mqtt *lm, const char *topic, size_t topic_len,
                         const char *payload, size_t payload_len)
{
    struct chirpstack_uplink *ev = &lm->event;
    struct frame_record *rec = &lm->record;
    char reason[CHIRPSTACK_REASON_SIZE];
    int rc = chirpstack_parse_uplink(payload, payload_len, ev, reason);

    memset(rec, 0, offsetof(struct frame_record, payload));
    snprintf(rec->transport, sizeof(rec->transport), "lns-mqtt");
    format_source(topic, topic_len, rec->source, sizeof(rec->source));
    rec->received_ms = clock_wall_ms();
    rec->radio = ev->radio;
    snprintf(rec->device, sizeof(rec->device), "%s",
             ev->device[0] ? ev->device : LNS_MQTT_UNKNOWN_DEVICE);

    if (ev->dedup_id[0] != '\0' && dedup_contains(&lm->dedup, ev->dedup_id)) {
        atomic_fetch_add(&lm->duplicates, 1);
        log_debug("lns-mqtt: duplicate event %s from %s dropped", ev->dedup_id, rec->device);
        return;
    }
    if (rc == 1) {
        atomic_fetch_add(&lm->empty, 1);
        remember_application(lm, ev->device, ev->application_id);
        dedup_add(&lm->dedup, ev->dedup_id);
        return;
    }

    struct ingest_ticket *t = &lm->ticket;
    if (rc == 0) {
        remember_application(lm, ev->device, ev->application_id);
        rec->payload_len = ev->data_len;
        memcpy(rec->payload, ev->data, ev->data_len);
        const char *time_source = NULL;
        if (chirpstack_heard_time(ev, rec->received_ms,
                                  (int64_t)lm->cfg->lns_mqtt.max_event_age_s * 1000,
                                  (int64_t)lm->cfg->lns_mqtt.max_event_ahead_s * 1000,
                                  &rec->heard_ms, &time_source) != 0) {
            atomic_fetch_add(&lm->time_untrusted, 1);
            int64_t claimed = ev->time_ms >= 0      ? ev->time_ms
                              : ev->gw_time_ms >= 0 ? ev->gw_time_ms
                                                    : ev->ns_time_ms;
            log_untrusted_time(lm, rec, time_source, claimed);
        }
        ingest_classify(lm->ingest, rec, t); /* decoded at frame_anchor_ms: heard_ms */
    } else {
        atomic_fetch_add(&lm->bad, 1);
        char shown_topic[TOPIC_SIZE];
        format_source(topic, topic_len, shown_topic, sizeof(shown_topic));
        log_bad_event(lm, shown_topic + 5, reason);
        char why[DECODE_REASON_SIZE + BAD_EVENT_REASON_EXTRA];
        if (ev->data_len > 0) {
            /* the event was bad after its data decoded: keep the data */
            rec->payload_len = ev->data_len;
            memcpy(rec->payload, ev->data, ev->data_len);
            snprintf(why, sizeof(why), "%s", reason);
        } else if (payload_len > 0) {
            /* keep the event itself, for whoever looks into it */
            rec->payload_len =
                payload_len < FRAME_MAX_PAYLOAD_BYTES ? payload_len : FRAME_MAX_PAYLOAD_BYTES;
            memcpy(rec->payload, payload, rec->payload_len);
            snprintf(why, sizeof(why), "%s (raw event kept, %zu of %zu bytes)", reason,
                     rec->payload_len, payload_len);
        } else {
            return; /* nothing to keep */
        }
        ingest_classify_refused(rec, t, why);
    }

    if (commit_record(lm) != 0) {
        atomic_fetch_add(&lm->not_stored, 1);
        log_error("lns-mqtt: event %s from %s not stored: the journal refused it", ev->dedup_id,
                  rec->device);
        return;
    }
    if (ev->dedup_id[0] != '\0')
        dedup_add(&lm->dedup, ev->dedup_id);
    if (t->verdict == INGEST_QUARANTINE) {
        atomic_fetch_add(&lm->quarantined, 1);
        if (rc == 0)
            log_debug("lns-mqtt: event %s from %s quarantined: %s", ev->dedup_id, rec->device,
                      t->reason);
    } else {
        atomic_fetch_add(&lm->accepted, 1);
    }
}

/* Returns only after the event is committed: Paho 1.3.12 calls this (through the session)
 * from inside its handling of the PUBLISH packet and sends the PUBACK after it returns (see
 * the header). */
static void on_message(void *ctx, const char *topic, size_t topic_len, const void *payload,
                       size_t payload_len)
{
    struct lns_mqtt *lm = ctx;
    atomic_fetch_add(&lm->received, 1);
    handle_event(lm, topic, topic_len, payload, payload_len);
}

/* ---- the session's callbacks on Paho's thread ---- */

static void on_session_wake(void *ctx)
{
    struct lns_mqtt *lm = ctx;
    pthread_mutex_lock(&lm->lock);
    wake_locked(lm);
    pthread_mutex_unlock(&lm->lock);
}

static void on_session_lost(void *ctx)
{
    struct lns_mqtt *lm = ctx;
    pthread_mutex_lock(&lm->lock);
    lm->subscribed = false;
    pthread_mutex_unlock(&lm->lock);
}

static void on_subscribe_done(void *ctx, const struct mqtt_session_result *result)
{
    struct lns_mqtt *lm = ctx;
    /* MQTT 5: the SUBACK's reason (0x9E shared subscriptions not supported, ...); 3.1.1:
     * the granted QoS (0x80 a refusal), or Paho's own code */
    int reason = lm->mqtt5 || result->reason_code != 0 ? result->reason_code : result->paho_code;
    pthread_mutex_lock(&lm->lock);
    if (result->ok) {
        lm->subscribed = true;
        lm->subscribed_event = true;
    } else {
        lm->subscribe_failed_event = true;
        lm->subscribe_reason = reason;
    }
    wake_locked(lm);
    pthread_mutex_unlock(&lm->lock);
}

/* ---- the connection (adapter thread) ---- */

/* The connection's client is gone: nothing it subscribed counts any more. */
static void forget_subscription(struct lns_mqtt *lm)
{
    pthread_mutex_lock(&lm->lock);
    lm->subscribed = false;
    lm->subscribed_event = lm->subscribe_failed_event = false;
    pthread_mutex_unlock(&lm->lock);
}

static void start_subscribe(struct lns_mqtt *lm)
{
    lm->subscribe_request = (struct mqtt_session_request){.done = on_subscribe_done, .ctx = lm};
    int rc = mqtt_session_subscribe(lm->session, lm->filter, 1, &lm->subscribe_request);
    if (rc != 0) {
        log_warn("lns-mqtt: cannot subscribe to %s: %s; reconnecting", lm->filter,
                 mqtt_session_strerror(rc));
        mqtt_session_drop(lm->session, MQTT_SESSION_RETRY_BACKOFF, 0);
        forget_subscription(lm);
    }
}

static void log_connect_failure(struct lns_mqtt *lm, const struct mqtt_session_event *ev)
{
    if (ev->failure == MQTT_SESSION_FAILED_CREATE)
        log_error("lns-mqtt: cannot create a client for %s: %s", ev->server_uri, ev->description);
    else if (ev->failure == MQTT_SESSION_FAILED_START)
        log_warn("lns-mqtt: cannot start connecting to %s: %s", ev->server_uri, ev->description);
    else if (!ev->next_address) /* the broker's next address is tried at once, silently */
        log_msg(ev->repeated        ? LOG_LEVEL_DEBUG
                : ev->authorisation ? LOG_LEVEL_ERROR
                                    : LOG_LEVEL_WARN,
                "lns-mqtt: cannot connect to %s as %s: %s; retrying in %.1f s", ev->server_uri,
                lm->cfg->lns_mqtt.broker.client_id, ev->description,
                (double)ev->retry_in_ms / 1000.0);
}

/* The session's connection events, on the adapter's thread (from mqtt_session_service). */
static void on_session_event(void *ctx, const struct mqtt_session_event *ev)
{
    struct lns_mqtt *lm = ctx;
    switch (ev->type) {
    case MQTT_SESSION_CONNECTING:
        break;
    case MQTT_SESSION_CONNECTED:
        atomic_fetch_add(&lm->connects, 1);
        log_info("lns-mqtt: connected to %s as %s (MQTT %s, persistent session)", ev->server_uri,
                 lm->cfg->lns_mqtt.broker.client_id, lm->mqtt5 ? "5" : "3.1.1");
        start_subscribe(lm); /* again on every connect: cheap, and right after a lost session */
        break;
    case MQTT_SESSION_CONNECT_FAILED:
        forget_subscription(lm);
        log_connect_failure(lm, ev);
        break;
    case MQTT_SESSION_LOST:
        atomic_fetch_add(&lm->connection_losses, 1);
        forget_subscription(lm);
        log_warn("lns-mqtt: connection to %s lost; the broker keeps our session and sends "
                 "again what we had not acknowledged",
                 ev->server_uri);
        break;
    }
}

/* What the broker said to the subscription. Returns true when the connection was dropped
 * for it (a refusal: retried slowly, as refused credentials are). */
static bool handle_subscription_events(struct lns_mqtt *lm)
{
    pthread_mutex_lock(&lm->lock);
    bool subscribed = lm->subscribed_event, failed = lm->subscribe_failed_event;
    int reason = lm->subscribe_reason;
    lm->subscribed_event = lm->subscribe_failed_event = false;
    pthread_mutex_unlock(&lm->lock);
    if (failed) {
        char why[128];
        if (lm->mqtt5)
            snprintf(why, sizeof(why), "%s (reason 0x%02x)", mqtt_session_reason_string(reason),
                     (unsigned)reason);
        else
            snprintf(why, sizeof(why), "refused (SUBACK 0x%02x)", (unsigned)reason);
        log_error("lns-mqtt: the broker refused the subscription to %s: %s; retrying later",
                  lm->filter, why);
        mqtt_session_drop(lm->session, MQTT_SESSION_RETRY_SLOW, 0);
        forget_subscription(lm);
        return true;
    }
    if (subscribed)
        log_info("lns-mqtt: subscribed to %s (QoS 1)", lm->filter);
    return false;
}

static void *lns_main(void *arg)
{
    struct lns_mqtt *lm = arg;
    pthread_setname_np(pthread_self(), "sb-lns"); /* for top -H and perf */
    for (;;) {
        pthread_mutex_lock(&lm->lock);
        while (!lm->stopping && !lm->wake) {
            int64_t deadline = clock_mono_ms() + IDLE_WAKE_MS;
            if (lm->session_due_mono_ms < deadline)
                deadline = lm->session_due_mono_ms;
            if (clock_mono_ms() >= deadline)
                break;
            struct timespec ts = {.tv_sec = (time_t)(deadline / 1000),
                                  .tv_nsec = (long)(deadline % 1000) * 1000000L};
            if (pthread_cond_timedwait(&lm->wake_cond, &lm->lock, &ts) == ETIMEDOUT)
                break;
        }
        lm->wake = false;
        bool stopping = lm->stopping;
        pthread_mutex_unlock(&lm->lock);
        if (stopping)
            break;
        lm->session_due_mono_ms = mqtt_session_service(lm->session);
        if (handle_subscription_events(lm))
            lm->session_due_mono_ms = mqtt_session_service(lm->session); /* the next attempt */
    }
    /* A plain disconnect: the session (and the subscription) stays on the broker, which
     * queues events for us until session_expiry_s. */
    mqtt_session_stop(lm->session, NULL, STOP_DRAIN_MS);
    forget_subscription(lm);
    return NULL;
}

/* ---- downlinks ---- */

struct downlink_ticket {
    struct mqtt_session_request request; /* its context is the ticket */
    struct lns_mqtt *lm;
    lns_mqtt_downlink_done_fn done;
    void *ctx;
};

/* The broker's PUBACK (MQTT 5: with a success reason code), or the downlink's failure. */
static void on_downlink_done(void *ctx, const struct mqtt_session_result *result)
{
    struct downlink_ticket *t = ctx;
    atomic_fetch_add(result->ok ? &t->lm->downlinks : &t->lm->downlink_failures, 1);
    if (t->done)
        t->done(t->ctx, result->ok ? 0 : -1);
    free(t);
}

int lns_mqtt_send_downlink(struct lns_mqtt *lm, const char *dev_eui, const char *application_id,
                           uint8_t fport, const uint8_t *payload, size_t payload_len,
                           bool confirmed, lns_mqtt_downlink_done_fn done, void *ctx, char *err,
                           size_t err_size)
{
    char reason[CHIRPSTACK_REASON_SIZE], json[DOWNLINK_JSON_SIZE], topic[TOPIC_SIZE];
    char device[FRAME_DEVICE_ID_SIZE], app[CHIRPSTACK_APP_ID_SIZE];
    int len = chirpstack_format_downlink(dev_eui, fport, payload, payload_len, confirmed, json,
                                         sizeof(json), reason);
    if (len < 0) {
        snprintf(err, err_size, "lns-mqtt downlink: %s", reason);
        return -1;
    }
    frame_parse_device_id(dev_eui, strlen(dev_eui), device); /* checked by the formatter */
    if (application_id != NULL && application_id[0] != '\0') {
        if (!chirpstack_is_application_id(application_id, strlen(application_id))) {
            snprintf(err, err_size, "lns-mqtt downlink: application id is not a topic word");
            return -1;
        }
        snprintf(app, sizeof(app), "%s", application_id);
    } else if (!recall_application(lm, device, app)) {
        snprintf(err, err_size,
                 "lns-mqtt downlink: no applicationId known for %s (no uplink seen yet)", device);
        return -1;
    }
    const struct topic_var vars[] = {{"application", app}, {"device", device}};
    if (topic_expand(lm->cfg->lns_mqtt.downlink_topic, vars, 2, topic, sizeof(topic)) < 0) {
        snprintf(err, err_size, "lns-mqtt downlink: topic too long");
        return -1;
    }
    struct downlink_ticket *t = malloc(sizeof(*t));
    if (t == NULL) {
        snprintf(err, err_size, "lns-mqtt downlink: out of memory");
        return -1;
    }
    *t = (struct downlink_ticket){
        .request = {.done = on_downlink_done, .ctx = t}, .lm = lm, .done = done, .ctx = ctx};
    const struct mqtt_session_message m = {
        .topic = topic, .payload = json, .payload_len = (size_t)len, .qos = 1, .retain = false};
    int rc = mqtt_session_publish(lm->session, &m, &t->request); /* not connected: refused */
    if (rc != 0) {
        free(t);
        snprintf(err, err_size, "lns-mqtt downlink: cannot publish to %s: %s", topic,
                 mqtt_session_strerror(rc));
        return -1;
    }
    log_debug("lns-mqtt: downlink for %s on port %u (%zu bytes) handed over for %s", device, fport,
              payload_len, topic);
    return 0;
}

/* ---- life cycle ---- */

static void free_adapter(struct lns_mqtt *lm)
{
    mqtt_session_free(lm->session);
    ingest_free(lm->ingest); /* nothing outstanding: Paho's callbacks are over */
    dedup_free(&lm->dedup);
    free(lm->apps);
    free(lm);
}

int lns_mqtt_start(struct lns_mqtt **out, const struct config *cfg, struct journal_writer *writer,
                   char *err, size_t err_size)
{
    *out = NULL;
    struct lns_mqtt *lm = calloc(1, sizeof(*lm));
    if (lm == NULL) {
        snprintf(err, err_size, "lns-mqtt: out of memory");
        return -1;
    }
    lm->cfg = cfg;
    lm->writer = writer;
    lm->mqtt5 = cfg->lns_mqtt.broker.protocol == CONFIG_MQTT_5;
    int n = cfg->lns_mqtt.shared_group[0]
                ? snprintf(lm->filter, sizeof(lm->filter), "$share/%s/%s",
                           cfg->lns_mqtt.shared_group, cfg->lns_mqtt.topic)
                : snprintf(lm->filter, sizeof(lm->filter), "%s", cfg->lns_mqtt.topic);
    lm->apps = calloc(APP_MAP_SLOTS, sizeof(*lm->apps));
    const struct ingest_options io = {.writer = writer, .mode = INGEST_BLOCKING};
    if (n < 0 || (size_t)n >= sizeof(lm->filter) || lm->apps == NULL ||
        dedup_init(&lm->dedup, cfg->lns_mqtt.dedup_window) != 0 ||
        ingest_create(&lm->ingest, &io) != 0) {
        snprintf(err, err_size, "lns-mqtt: out of memory or topic too long");
        free_adapter(lm);
        return -1;
    }
    /* Events are QoS 1 on a persistent session (see the header). */
    struct mqtt_session_options so;
    mqtt_session_options_from_config(&so, &cfg->lns_mqtt.broker);
    so.clean_start = false;
    so.session_expiry_s = cfg->lns_mqtt.session_expiry_s;
    const struct mqtt_session_callbacks cb = {.ctx = lm,
                                              .wake = on_session_wake,
                                              .lost = on_session_lost,
                                              .message = on_message,
                                              .event = on_session_event};
    char why[256];
    if (mqtt_session_create(&lm->session, &so, &cb, why, sizeof(why)) != 0) {
        snprintf(err, err_size, "lns-mqtt: %s", why);
        free_adapter(lm);
        return -1;
    }
    lm->session_due_mono_ms = clock_mono_ms(); /* the first attempt at once */
    pthread_mutex_init(&lm->lock, NULL);
    pthread_mutex_init(&lm->app_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&lm->wake_cond, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&lm->thread, NULL, lns_main, lm);
    if (rc != 0) {
        snprintf(err, err_size, "lns-mqtt: cannot start thread: %s", strerror(rc));
        pthread_cond_destroy(&lm->wake_cond);
        pthread_mutex_destroy(&lm->lock);
        pthread_mutex_destroy(&lm->app_lock);
        free_adapter(lm);
        return -1;
    }
    *out = lm;
    return 0;
}

void lns_mqtt_stop(struct lns_mqtt *lm, struct lns_mqtt_stats *final_stats)
{
    if (lm == NULL)
        return;
    pthread_mutex_lock(&lm->lock);
    lm->stopping = true;
    wake_locked(lm);
    pthread_mutex_unlock(&lm->lock);
    pthread_join(lm->thread, NULL);
    if (final_stats)
        lns_mqtt_get_stats(lm, final_stats);
    pthread_cond_destroy(&lm->wake_cond);
    pthread_mutex_destroy(&lm->lock);
    pthread_mutex_destroy(&lm->app_lock);
    free_adapter(lm);
}

void lns_mqtt_get_stats(struct lns_mqtt *lm, struct lns_mqtt_stats *stats)
{
    stats->connected = mqtt_session_is_connected(lm->session);
    pthread_mutex_lock(&lm->lock);
    stats->subscribed = lm->subscribed;
    pthread_mutex_unlock(&lm->lock);
    stats->received = atomic_load(&lm->received);
    stats->accepted = atomic_load(&lm->accepted);
    stats->duplicates = atomic_load(&lm->duplicates);
    stats->empty = atomic_load(&lm->empty);
    stats->bad = atomic_load(&lm->bad);
    stats->quarantined = atomic_load(&lm->quarantined);
    stats->time_untrusted = atomic_load(&lm->time_untrusted);
    stats->not_stored = atomic_load(&lm->not_stored);
    stats->downlinks = atomic_load(&lm->downlinks);
    stats->downlink_failures = atomic_load(&lm->downlink_failures);
    stats->connects = atomic_load(&lm->connects);
    stats->connection_losses = atomic_load(&lm->connection_losses);
}

void lns_mqtt_collect(const struct lns_mqtt_stats *s, struct report *r)
{
    static const char refused[] = "sensorbro_lns_events_refused_total";
    report_labelled(r, "sensorbro_frames_received_total", "transport", "lns-mqtt", NULL,
                    s->accepted + s->quarantined + s->not_stored);
    report_counter(r, "sensorbro_lns_events_total", "events ", s->received);
    report_counter(r, NULL, " (journaled ", s->accepted);
    report_labelled(r, "sensorbro_frames_duplicate_total", "transport", "lns-mqtt", ", duplicates ",
                    s->duplicates);
    report_labelled(r, refused, "reason", "without_data", ", without data ", s->empty);
    report_labelled(r, refused, "reason", "bad", ", bad ", s->bad);
    report_counter(r, NULL, ", quarantined ", s->quarantined);
    report_labelled(r, refused, "reason", "not_stored", ", not stored ", s->not_stored);
    report_counter(r, "sensorbro_lns_event_times_untrusted_total", ", times untrusted ",
                   s->time_untrusted);
    report_text(r, ")");
    report_counter(r, "sensorbro_lns_downlinks_total", ", downlinks ", s->downlinks);
    report_counter(r, "sensorbro_lns_downlink_failures_total", " (failed ", s->downlink_failures);
    report_text(r, ")");
    report_counter(r, "sensorbro_lns_connection_losses_total", ", connection losses ",
                   s->connection_losses);
    report_gauge(r, "sensorbro_lns_subscribed", NULL, s->subscribed ? 1 : 0);
    report_text(r, s->subscribed  ? ", subscribed"
                   : s->connected ? ", connected"
                                  : ", disconnected");
}
