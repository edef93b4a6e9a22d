/*
 * mqtt_output.c - the MQTT output: journal to broker, over one MQTT session
 * (output/mqtt_session.h). Named for its type (output/output.h); "the publisher" in the
 * rest of the house.
 *
 * Concurrency. Two threads touch a publisher: its own thread, which reads the journal,
 * drives the session (connects, reconnects) and publishes, and Paho's callback thread,
 * which reports PUBACKs and the loss of the connection. The state they share sits under
 * p->lock. Paho invokes callbacks while holding its own mutex, so this file never calls
 * into the session with p->lock held (that order would deadlock).
 *
 * Tickets. Each publish carries a ticket (its session request) naming the frame and the
 * connection epoch it was sent in. A connection loss bumps the epoch: callbacks for older
 * tickets are then ignored, except a success, which is still a real PUBACK and marks the
 * frame. The session destroys the lost Paho client before it makes a new one and before it
 * reports the loss, and after that no callback for it can arrive (during it, Paho does
 * report what it discards), so every ticket and event of an old client is dropped when the
 * loss (or a failed connect) reaches this thread. The invariant, checked by
 * mqtt_output_ok(): at most mqtt.max_inflight publishes are in flight, and exactly the busy
 * tickets of the current epoch are.
 *
 * Order. The cursor is the id of the last frame handed to Paho in this epoch; frames are
 * read strictly after it, oldest first, so it only grows within an epoch, except for a
 * rewind (which bumps rewind_generation). A loss rewinds the cursor to 0 (everything
 * pending goes again, in order); a refused publish rewinds it to just before the refused
 * frame and pauses sending with backoff.
 *
 * Delivery marks. A PUBACK marks its frame delivered by this output (journal_writer.h),
 * which moves the output's position for the frame's device: so no frame may be marked
 * while an earlier frame of its device, sent in the same connection, failed. A failed
 * ticket holds its device back (p->held) for the rest of its epoch: a later PUBACK of that
 * device in that epoch is not marked, and its frame goes again after the rewind, with the
 * one that failed. (Paho writes nothing after a refusal on a connection, so this does not
 * happen with it; the rule does not count on it.) Frames the output's progress says it
 * delivered already are skipped, not sent.
 */
#include "output/mqtt_output.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode.h"
#include "output/mqtt_session.h"
#include "render.h"
#include "report.h"
#include "store/journal.h"
#include "store/journal_writer.h"
#include "util/backoff.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/topic.h"

#define FETCH_BATCH   64
#define IDLE_WAKE_MS  1000
#define STOP_DRAIN_MS 2000 /* at most, for PUBACKs when stopping */
#define TOPIC_SIZE    512

struct ticket {
    struct mqtt_session_request request; /* its context is the ticket */
    struct mqtt_output *owner;
    int64_t frame_id;
    uint64_t epoch;
    bool busy;
    char device[FRAME_DEVICE_ID_SIZE];
};

/* A device whose frame failed in an epoch: its later frames acked in that epoch are not
 * marked delivered (see the top of the file). */
struct held_back {
    uint64_t epoch;
    int64_t frame_id; /* the first that failed */
    char device[FRAME_DEVICE_ID_SIZE];
};

struct mqtt_output {
    struct output_context ctx;      /* its name, index, gateway id, journal (output.h) */
    const struct config_mqtt *opts; /* ctx.options: the [mqtt] section */
    struct journal_writer *writer;
    struct mqtt_session *session;
    char status_topic[TOPIC_SIZE];

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake_cond;

    /* --- shared, under lock --- */
    bool stopping;
    bool wake;
    bool refused_event; /* a publish was refused: start over on a new connection */
    bool status_refusal_logged;
    enum mqtt_output_state state;
    uint64_t epoch;
    uint64_t rewind_generation;
    struct ticket *tickets;
    size_t n_tickets;
    struct held_back *held; /* n_held of them, at most n_tickets (one per failed ticket) */
    size_t n_held;
    bool held_overflow; /* more failures than that: no marks at all until the next loss */
    uint32_t in_flight;
    int64_t cursor;
    int64_t paused_until_mono_ms;
    uint32_t refusal_streak;
    struct backoff_rng rng; /* spreads the pauses after refusals */
    struct mqtt_output_stats stats;
    /* mqtt.max_rate as a token bucket, in thousandths of a publish so that whole
     * milliseconds refill it exactly at any rate */
    int64_t rate_tokens_milli;
    int64_t rate_refilled_mono_ms;
    int64_t rate_resume_mono_ms; /* no token until then: the thread sleeps until it */

    /* --- publisher thread only --- */
    struct journal *journal;
    struct decoder *decoder;
    struct decoded_uplink *uplink;
    struct journal_frame *batch;
    char *json;
    int64_t session_due_mono_ms; /* when the session wants to be serviced again */
    struct mqtt_session_request status_request;
};

/* ---- small helpers ---- */

/* The window's invariant (see the top of the file). Under p->lock. Walks the tickets:
 * called from assert() only, so that release builds pay nothing. */
#ifndef NDEBUG
static bool mqtt_output_ok(const struct mqtt_output *p)
{
    if (p->in_flight > p->opts->max_inflight || p->n_held > p->n_tickets)
        return false;
    for (size_t i = 0; i < p->n_held; i++)
        if (p->held[i].epoch > p->epoch)
            return false;
    uint32_t busy = 0;
    for (size_t i = 0; i < p->n_tickets; i++)
        busy += p->tickets[i].busy && p->tickets[i].epoch == p->epoch;
    return busy == p->in_flight;
}
#endif

/* Full jitter over mqtt.reconnect_min_ms .. reconnect_max_ms. Under p->lock. */
static int64_t backoff_delay_ms(struct mqtt_output *p, uint32_t attempt)
{
    const struct config_broker *b = &p->opts->broker;
    return (int64_t)backoff_full_jitter_ms(&p->rng, b->reconnect_min_ms, b->reconnect_max_ms,
                                           attempt);
}

/* The bucket holds a tenth of a second's worth of publishes (at least one): enough to keep
 * Paho's window busy between refills, too little to turn a limit into bursts. */
static int64_t rate_capacity_milli(uint32_t rate)
{
    int64_t burst = rate / 10 > 0 ? rate / 10 : 1;
    return burst * 1000;
}

/* Takes one publish's token if mqtt.max_rate allows it now. Otherwise sets when the next
 * token will be there and returns false. Under p->lock. */
static bool take_rate_token_locked(struct mqtt_output *p, int64_t now_ms)
{
    uint32_t rate = p->opts->max_rate;
    if (rate == 0)
        return true;
    int64_t capacity = rate_capacity_milli(rate);
    int64_t elapsed_ms = now_ms - p->rate_refilled_mono_ms;
    if (elapsed_ms > 0) {
        /* rate publishes a second is rate thousandths a millisecond */
        p->rate_tokens_milli += elapsed_ms * (int64_t)rate;
        if (p->rate_tokens_milli > capacity)
            p->rate_tokens_milli = capacity;
        p->rate_refilled_mono_ms = now_ms;
    }
    if (p->rate_tokens_milli >= 1000) {
        p->rate_tokens_milli -= 1000;
        return true;
    }
    int64_t missing = 1000 - p->rate_tokens_milli;
    p->rate_resume_mono_ms = now_ms + (missing + rate - 1) / rate;
    return false;
}

/* Replaces {gateway} and {device} in a topic template. A topic that does not fit is cut
 * (the configured templates are far shorter). */
static void expand_topic(const char *template, const char *gateway, const char *device,
                         char out[TOPIC_SIZE])
{
    const struct topic_var vars[] = {{"gateway", gateway}, {"device", device ? device : ""}};
    (void)topic_expand(template, vars, 2, out, TOPIC_SIZE);
}

static void wake_locked(struct mqtt_output *p)
{
    p->wake = true;
    pthread_cond_signal(&p->wake_cond);
}

/* ---- session callbacks on Paho's thread ---- */

static void on_session_wake(void *ctx)
{
    struct mqtt_output *p = ctx;
    pthread_mutex_lock(&p->lock);
    wake_locked(p);
    pthread_mutex_unlock(&p->lock);
}

/* The connection is gone: forget the window at once, so that what Paho reports for the
 * tickets still out counts as of an old epoch. */
static void on_session_lost(void *ctx)
{
    struct mqtt_output *p = ctx;
    pthread_mutex_lock(&p->lock);
    if (p->state != MQTT_OUTPUT_DISCONNECTED) {
        p->state = MQTT_OUTPUT_DISCONNECTED;
        p->epoch++;
        p->in_flight = 0;
        p->cursor = 0;
        p->stats.connection_losses++;
        assert(mqtt_output_ok(p));
        wake_locked(p);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Under p->lock: whether an earlier frame of t's device failed in t's epoch. */
static bool held_back_locked(const struct mqtt_output *p, const struct ticket *t)
{
    if (p->held_overflow)
        return true;
    for (size_t i = 0; i < p->n_held; i++) {
        const struct held_back *h = &p->held[i];
        if (h->epoch == t->epoch && h->frame_id < t->frame_id && strcmp(h->device, t->device) == 0)
            return true;
    }
    return false;
}

/* Under p->lock: t failed; its device's later frames of its epoch are not to be marked. */
static void hold_back_locked(struct mqtt_output *p, const struct ticket *t)
{
    for (size_t i = 0; i < p->n_held; i++) {
        struct held_back *h = &p->held[i];
        if (h->epoch == t->epoch && strcmp(h->device, t->device) == 0) {
            if (t->frame_id < h->frame_id)
                h->frame_id = t->frame_id;
            return;
        }
    }
    if (p->n_held == p->n_tickets) {
        p->held_overflow = true;
        return;
    }
    struct held_back *h = &p->held[p->n_held++];
    h->epoch = t->epoch;
    h->frame_id = t->frame_id;
    memcpy(h->device, t->device, sizeof(h->device));
}

static void on_publish_acked(struct ticket *t)
{
    struct mqtt_output *p = t->owner;
    pthread_mutex_lock(&p->lock);
    int64_t frame_id = t->frame_id;
    char device[FRAME_DEVICE_ID_SIZE];
    memcpy(device, t->device, sizeof(device));
    bool mark = !held_back_locked(p, t);
    if (t->epoch == p->epoch && p->in_flight > 0)
        p->in_flight--;
    t->busy = false;
    p->stats.published++;
    p->stats.answer_mono_ms = clock_mono_ms();
    p->refusal_streak = 0;
    assert(mqtt_output_ok(p));
    wake_locked(p);
    pthread_mutex_unlock(&p->lock);
    /* Even from an old epoch this was a real PUBACK: the frame is safe at the broker. */
    if (mark)
        journal_writer_mark_delivered(p->writer, p->ctx.index, device, frame_id, clock_wall_ms());
    else
        log_debug("mqtt: frame %" PRId64 " acknowledged after an earlier frame of %s failed: "
                  "it goes again with that one",
                  frame_id, device);
}

static void on_publish_failed(struct ticket *t, int reason_code, int paho_code)
{
    struct mqtt_output *p = t->owner;
    pthread_mutex_lock(&p->lock);
    bool current = t->epoch == p->epoch;
    bool first_refusal = false;
    int64_t frame_id = t->frame_id;
    hold_back_locked(p, t);
    t->busy = false;
    if (current) {
        if (p->in_flight > 0)
            p->in_flight--;
        p->stats.answer_mono_ms = clock_mono_ms();
        if (reason_code >= 0x80) {
            /* Refused by the broker (typically ACL): keep the frame, go back to it later. */
            p->stats.refused++;
            if (p->cursor >= frame_id)
                p->cursor = frame_id - 1;
            p->rewind_generation++;
            uint32_t streak = p->refusal_streak++;
            first_refusal = streak == 0;
            p->paused_until_mono_ms = clock_mono_ms() + backoff_delay_ms(p, streak + 3);
            p->refused_event = true;
        } else if (p->cursor >= frame_id) {
            /* Not refused: the connection is going away; the loss handler rewinds. */
            p->cursor = frame_id - 1;
            p->rewind_generation++;
        }
        wake_locked(p);
    }
    assert(mqtt_output_ok(p));
    pthread_mutex_unlock(&p->lock);
    /* One error per run of refusals (until a publish succeeds again), not one per frame. */
    if (current && reason_code >= 0x80)
        log_msg(first_refusal ? LOG_LEVEL_ERROR : LOG_LEVEL_DEBUG,
                "mqtt: broker refused the publish of frame %" PRId64 ": %s (0x%02x); it stays in "
                "the journal and is sent again later, in order",
                frame_id, mqtt_session_reason_string(reason_code), reason_code);
    else if (current)
        log_debug("mqtt: publish of frame %" PRId64 " failed: %s", frame_id,
                  mqtt_session_strerror(paho_code));
}

/* A ticket's PUBACK (or its failure), MQTT 5 and 3.1.1 alike. */
static void on_publish_done(void *ctx, const struct mqtt_session_result *result)
{
    if (result->ok)
        on_publish_acked(ctx);
    else
        on_publish_failed(ctx, result->reason_code, result->paho_code);
}

/* ---- the connection (publisher thread) ---- */

/* The session destroyed the connection's client: none of its callbacks comes any more, so
 * every ticket is free again, and everything pending goes again from the oldest. */
static void forget_connection(struct mqtt_output *p)
{
    pthread_mutex_lock(&p->lock);
    /* Paho reports what it discards while destroying (publishes, even a refusal that was
     * still queued): that belongs to the client just destroyed, not to the next one, which
     * it would otherwise tear down. */
    p->refused_event = false;
    p->epoch++;
    for (size_t i = 0; i < p->n_tickets; i++)
        p->tickets[i].busy = false;
    p->in_flight = 0;
    p->cursor = 0;
    p->rewind_generation++;
    p->state = MQTT_OUTPUT_DISCONNECTED;
    /* no ticket of an old client can report any more: nothing is held back */
    p->n_held = 0;
    p->held_overflow = false;
    assert(mqtt_output_ok(p));
    pthread_mutex_unlock(&p->lock);
    /* Let PUBACK marks queued before the loss reach the journal, so that the frames they
     * name are not sent again. */
    journal_writer_sync(p->writer);
}

/* The broker refused "online" (MQTT 5 PUBACK reason >= 0x80): typically an ACL that lets
 * this client write its data topics only, as OS2iot's per-device ACL does. Data is not
 * affected, so this is said once per run, not at every reconnect. */
static void on_status_done(void *ctx, const struct mqtt_session_result *result)
{
    struct mqtt_output *p = ctx;
    int reason = result->reason_code;
    if (result->ok || reason < 0x80)
        return; /* not a refusal: the connection went away, and its loss is reported */
    pthread_mutex_lock(&p->lock);
    bool first = !p->status_refusal_logged;
    p->status_refusal_logged = true;
    pthread_mutex_unlock(&p->lock);
    log_msg(first ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG,
            "mqtt: broker refused the status message on %s: %s (0x%02x); readings are "
            "published all the same. Allow the topic in the broker's ACL, or set "
            "mqtt.status_topic empty to send no status and no will",
            p->status_topic, mqtt_session_reason_string(reason), reason);
}

static void publish_status(struct mqtt_output *p, const char *status)
{
    if (p->status_topic[0] == '\0')
        return; /* mqtt.status_topic is empty: no status messages */
    struct mqtt_session_message m = {.topic = p->status_topic,
                                     .payload = status,
                                     .payload_len = strlen(status),
                                     .qos = 1,
                                     .retain = true};
    p->status_request = (struct mqtt_session_request){.done = on_status_done, .ctx = p};
    int rc = mqtt_session_publish(p->session, &m, &p->status_request);
    if (rc != 0)
        log_warn("mqtt: cannot publish \"%s\" to %s: %s", status, p->status_topic,
                 mqtt_session_strerror(rc));
}

static void log_connect_failure(struct mqtt_output *p, const struct mqtt_session_event *ev)
{
    if (ev->failure == MQTT_SESSION_FAILED_CREATE) {
        log_error("mqtt: cannot create a client for %s: %s", ev->server_uri, ev->description);
    } else if (ev->failure == MQTT_SESSION_FAILED_START) {
        log_warn("mqtt: cannot start connecting to %s: %s", ev->server_uri, ev->description);
    } else if (ev->next_address) {
        log_info("mqtt: cannot connect to %s: %s; trying the broker's next address", ev->server_uri,
                 ev->description);
    } else {
        enum log_level level = ev->repeated        ? LOG_LEVEL_DEBUG
                               : ev->authorisation ? LOG_LEVEL_ERROR
                                                   : LOG_LEVEL_WARN;
        log_msg(level, "mqtt: cannot connect to %s as %s: %s; retrying in %.1f s", ev->server_uri,
                p->opts->broker.client_id, ev->description, (double)ev->retry_in_ms / 1000.0);
    }
}

/* The session's connection events, on this thread (from mqtt_session_service). */
static void on_session_event(void *ctx, const struct mqtt_session_event *ev)
{
    struct mqtt_output *p = ctx;
    switch (ev->type) {
    case MQTT_SESSION_CONNECTING:
        pthread_mutex_lock(&p->lock);
        p->state = MQTT_OUTPUT_CONNECTING;
        pthread_mutex_unlock(&p->lock);
        break;
    case MQTT_SESSION_CONNECTED:
        pthread_mutex_lock(&p->lock);
        p->state = MQTT_OUTPUT_CONNECTED;
        p->stats.connects++;
        pthread_mutex_unlock(&p->lock);
        log_info("mqtt: connected to %s as %s (MQTT %s)%s", ev->server_uri,
                 p->opts->broker.client_id,
                 p->opts->broker.protocol == CONFIG_MQTT_5 ? "5" : "3.1.1",
                 ev->reconnect_attempts > 1 ? " after retrying" : "");
        publish_status(p, "online");
        break;
    case MQTT_SESSION_CONNECT_FAILED:
        if (ev->failure == MQTT_SESSION_FAILED_BROKER) {
            pthread_mutex_lock(&p->lock);
            p->stats.connect_failures++;
            pthread_mutex_unlock(&p->lock);
        }
        forget_connection(p);
        log_connect_failure(p, ev);
        break;
    case MQTT_SESSION_LOST:
        forget_connection(p);
        log_warn("mqtt: connection to %s lost; pending frames are kept and sent again after "
                 "reconnecting",
                 ev->server_uri);
        break;
    }
}

/* After a PUBACK with a failure reason code, Paho 1.3.12 writes no further publish on that
 * connection (seen with Mosquitto: nothing arrives after the refusal, and nothing is
 * reported). Start over on a fresh client once the pause is over; every pending frame
 * goes again, in order. */
static void handle_refusal(struct mqtt_output *p)
{
    pthread_mutex_lock(&p->lock);
    bool refused = p->refused_event;
    int64_t paused_until = p->paused_until_mono_ms;
    p->refused_event = false;
    pthread_mutex_unlock(&p->lock);
    if (!refused)
        return;
    mqtt_session_drop(p->session, MQTT_SESSION_RETRY_AT, paused_until);
    forget_connection(p);
    log_debug("mqtt: reconnecting after the refused publish, in %.1f s",
              (double)(paused_until - clock_mono_ms()) / 1000.0);
}

/* ---- publishing (publisher thread) ---- */

static struct ticket *take_ticket_locked(struct mqtt_output *p, const struct journal_frame *f)
{
    for (size_t i = 0; i < p->n_tickets; i++) {
        struct ticket *t = &p->tickets[i];
        if (!t->busy) {
            t->busy = true;
            t->frame_id = f->id;
            t->epoch = p->epoch;
            memcpy(t->device, f->record.device, sizeof(t->device));
            return t;
        }
    }
    return NULL;
}

static int send_json(struct mqtt_output *p, const char *topic, const char *json, size_t len,
                     const char *message_id, struct ticket *t)
{
    /* MQTT 5 only (the session leaves them out under 3.1.1) */
    const struct mqtt_session_property id = {"message-id", message_id};
    const struct mqtt_session_message m = {
        .topic = topic,
        .payload = json,
        .payload_len = len,
        .qos = 1,
        .retain = false, /* never retain data: OS2iot and dashboards would replay stale readings */
        .content_type = p->opts->profile == CONFIG_PROFILE_SENML ? "application/senml+json"
                                                                 : "application/json",
        .user_properties = &id,
        .n_user_properties = 1};
    return mqtt_session_publish(p->session, &m, &t->request);
}

/* Decodes and renders a frame. Returns 0, or -1 with the reason it cannot be published. */
static int prepare(struct mqtt_output *p, const struct journal_frame *f, size_t *json_len,
                   char reason[JOURNAL_REASON_SIZE])
{
    if (f->damaged) {
        snprintf(reason, JOURNAL_REASON_SIZE, "%s", f->damage);
        return -1;
    }
    char why[DECODE_REASON_SIZE];
    /* sample times from when the frame was heard, which a backlog delivered after an
     * outage still knows (lns-mqtt), not from when it reached sensorbro */
    if (decode_uplink(p->decoder, f->record.payload, f->record.payload_len,
                      frame_anchor_ms(&f->record), p->uplink, why) != 0) {
        snprintf(reason, JOURNAL_REASON_SIZE, "%s", why);
        return -1;
    }
    struct render_meta meta = {.device = f->record.device,
                               .gateway = p->ctx.gateway_id,
                               .transport = f->record.transport,
                               .received_ms = f->record.received_ms,
                               .heard_ms = f->record.heard_ms,
                               .epoch = f->epoch,
                               .radio = &f->record.radio};
    char render_why[RENDER_REASON_SIZE];
    int (*render)(const struct decoded_uplink *, const struct render_meta *, char *, size_t,
                  size_t *, char *) =
        p->opts->profile == CONFIG_PROFILE_SENML ? render_senml : render_json;
    if (render(p->uplink, &meta, p->json, RENDER_MAX_JSON_BYTES, json_len, render_why) != 0) {
        snprintf(reason, JOURNAL_REASON_SIZE, "render: %s", render_why);
        return -1;
    }
    return 0;
}

/* Hands pending frames to Paho until the window is full or nothing is pending. Called on
 * every PUBACK, so the window refills a frame at a time. That is on purpose: Paho 1.3's
 * send thread works through its queued commands when a new command arrives, or else only
 * about once a second; refilling in batches left PUBACKs waiting on that tick and cut the
 * drain rate from ~8,000 to a few hundred messages/s (measured, tests/bench/). */
static void fill_window(struct mqtt_output *p)
{
    for (;;) {
        pthread_mutex_lock(&p->lock);
        bool can_send = p->state == MQTT_OUTPUT_CONNECTED && !p->stopping &&
                        clock_mono_ms() >= p->paused_until_mono_ms;
        uint32_t room = p->opts->max_inflight - p->in_flight;
        int64_t after = p->cursor;
        uint64_t epoch = p->epoch, generation = p->rewind_generation;
        pthread_mutex_unlock(&p->lock);
        if (!can_send || room == 0)
            return;

        size_t count = 0;
        if (journal_read_pending(p->journal, after, p->batch,
                                 room < FETCH_BATCH ? room : FETCH_BATCH, &count) != 0) {
            log_error("publish: reading the journal failed: %s", journal_errmsg(p->journal));
            return;
        }
        if (count == 0)
            return;

        for (size_t i = 0; i < count; i++) {
            const struct journal_frame *f = &p->batch[i];
            /* delivered by this output already, and pending for another: not again */
            enum journal_delivery d =
                journal_writer_delivery(p->writer, p->ctx.index, f->record.device, f->id);
            if (d != JOURNAL_UNDELIVERED) {
                pthread_mutex_lock(&p->lock);
                bool rewound = p->epoch != epoch || p->rewind_generation != generation;
                if (!rewound) {
                    assert(f->id > p->cursor);
                    p->cursor = f->id;
                }
                pthread_mutex_unlock(&p->lock);
                if (rewound)
                    break;
                /* every output is past it, yet it is pending: its publishing was lost */
                if (d == JOURNAL_DELIVERED_ALL)
                    journal_writer_mark_delivered(p->writer, p->ctx.index, f->record.device, f->id,
                                                  clock_wall_ms());
                continue;
            }
            size_t json_len = 0;
            char reason[JOURNAL_REASON_SIZE];
            bool publishable = prepare(p, f, &json_len, reason) == 0;

            pthread_mutex_lock(&p->lock);
            if (p->epoch != epoch || p->rewind_generation != generation ||
                p->state != MQTT_OUTPUT_CONNECTED || p->stopping) {
                pthread_mutex_unlock(&p->lock);
                break; /* start over from the (rewound) cursor */
            }
            struct ticket *t = NULL;
            if (publishable && !take_rate_token_locked(p, clock_mono_ms())) {
                pthread_mutex_unlock(&p->lock);
                return; /* mqtt.max_rate: the thread wakes when the next token is due */
            }
            if (publishable) {
                t = take_ticket_locked(p, f);
                if (t == NULL) {
                    if (p->opts->max_rate > 0)
                        p->rate_tokens_milli += 1000; /* not spent after all */
                    pthread_mutex_unlock(&p->lock);
                    return; /* every ticket is out: wait for PUBACKs */
                }
                if (p->in_flight++ == 0)
                    p->stats.answer_mono_ms = clock_mono_ms(); /* the wait starts now */
                p->stats.sent++;
            } else {
                p->stats.quarantined++;
            }
            assert(f->id > p->cursor); /* no rewind in between: the cursor only grows */
            p->cursor = f->id;
            assert(mqtt_output_ok(p));
            pthread_mutex_unlock(&p->lock);

            if (!publishable) {
                log_warn("publish: frame %" PRId64 " from %s cannot be published (%s); moved to "
                         "quarantine",
                         f->id, f->record.device, reason);
                journal_writer_move_to_quarantine(p->writer, f->id, reason);
                continue;
            }
            char topic[TOPIC_SIZE], message_id[RENDER_MESSAGE_ID_SIZE];
            expand_topic(p->opts->topic, p->ctx.gateway_id, f->record.device, topic);
            render_message_id(f->record.device, f->epoch, p->uplink->seq, message_id);
            int rc = send_json(p, topic, p->json, json_len, message_id, t);
            if (rc != 0) {
                pthread_mutex_lock(&p->lock);
                t->busy = false;
                p->stats.sent--;
                if (t->epoch == p->epoch) {
                    p->in_flight--;
                    if (p->cursor >= f->id)
                        p->cursor = f->id - 1;
                    p->rewind_generation++;
                }
                assert(mqtt_output_ok(p));
                pthread_mutex_unlock(&p->lock);
                log_debug("publish: frame %" PRId64 " not handed to Paho: %s", f->id,
                          mqtt_session_strerror(rc));
                return;
            }
        }
    }
}

static int64_t next_deadline_locked(const struct mqtt_output *p)
{
    int64_t deadline = clock_mono_ms() + IDLE_WAKE_MS;
    if (p->session_due_mono_ms < deadline)
        deadline = p->session_due_mono_ms;
    if (p->paused_until_mono_ms > clock_mono_ms() && p->paused_until_mono_ms < deadline)
        deadline = p->paused_until_mono_ms;
    if (p->rate_resume_mono_ms > clock_mono_ms() && p->rate_resume_mono_ms < deadline)
        deadline = p->rate_resume_mono_ms;
    return deadline;
}

/* "offline" first (when there is a status topic), then a moment for outstanding PUBACKs:
 * whatever is not acknowledged stays pending in the journal and goes out after the next
 * start. */
static void shutdown_client(struct mqtt_output *p)
{
    const struct mqtt_session_message offline = {
        .topic = p->status_topic, .payload = "offline", .payload_len = 7, .qos = 1, .retain = true};
    mqtt_session_stop(p->session, p->status_topic[0] ? &offline : NULL, STOP_DRAIN_MS);
    forget_connection(p);
}

static void *mqtt_output_main(void *arg)
{
    struct mqtt_output *p = arg;
    pthread_setname_np(pthread_self(), "sb-publish"); /* for top -H and perf */
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->stopping && !p->wake) {
            int64_t deadline = next_deadline_locked(p);
            if (clock_mono_ms() >= deadline)
                break;
            struct timespec ts = {.tv_sec = (time_t)(deadline / 1000),
                                  .tv_nsec = (long)(deadline % 1000) * 1000000L};
            /* A deadline that passes (a pause ending, the idle tick) is itself the reason
             * to run: recomputing it after the wait would find nothing due and sleep on. */
            if (pthread_cond_timedwait(&p->wake_cond, &p->lock, &ts) == ETIMEDOUT)
                break;
        }
        p->wake = false;
        p->stats.loop_mono_ms = clock_mono_ms();
        bool stopping = p->stopping;
        pthread_mutex_unlock(&p->lock);
        if (stopping)
            break;

        handle_refusal(p);
        p->session_due_mono_ms = mqtt_session_service(p->session); /* events, connects */
        fill_window(p);
    }
    shutdown_client(p);
    return NULL;
}

/* ---- life cycle ---- */

static void free_output(struct mqtt_output *p)
{
    mqtt_session_free(p->session);
    journal_close(p->journal);
    free(p->decoder);
    free(p->uplink);
    free(p->batch);
    free(p->json);
    free(p->tickets);
    free(p->held);
    free(p);
}

int mqtt_output_start(struct mqtt_output **out, const struct output_context *ctx, char *err,
                      size_t err_size)
{
    *out = NULL;
    struct mqtt_output *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    p->ctx = *ctx;
    const struct config_mqtt *opts = ctx->options;
    p->opts = opts;
    p->writer = ctx->writer;
    expand_topic(opts->status_topic, ctx->gateway_id, NULL, p->status_topic);
    /* Twice the window: tickets of a lost connection may still be out until it is dropped. */
    p->n_tickets = (size_t)opts->max_inflight * 2;
    p->tickets = calloc(p->n_tickets, sizeof(struct ticket));
    p->held = calloc(p->n_tickets, sizeof(struct held_back));
    p->decoder = malloc(sizeof(struct decoder));
    p->uplink = malloc(sizeof(struct decoded_uplink));
    p->batch = malloc(sizeof(struct journal_frame) * FETCH_BATCH);
    p->json = malloc(RENDER_MAX_JSON_BYTES);
    if (!p->tickets || !p->held || !p->decoder || !p->uplink || !p->batch || !p->json) {
        snprintf(err, err_size, "out of memory");
        free_output(p);
        return -1;
    }
    for (size_t i = 0; i < p->n_tickets; i++) {
        p->tickets[i].owner = p;
        p->tickets[i].request =
            (struct mqtt_session_request){.done = on_publish_done, .ctx = &p->tickets[i]};
    }
    backoff_rng_seed(&p->rng, (uint64_t)(uintptr_t)p);
    p->rate_tokens_milli = rate_capacity_milli(opts->max_rate);
    p->rate_refilled_mono_ms = clock_mono_ms();
    p->stats.loop_mono_ms = p->stats.answer_mono_ms = clock_mono_ms();
    p->session_due_mono_ms = clock_mono_ms(); /* the first attempt at once */

    struct mqtt_session_options so;
    mqtt_session_options_from_config(&so, &opts->broker);
    so.clean_start = true;
    so.max_inflight = opts->max_inflight;
    /* Paho refuses a send (-12) once this many commands are queued, connected or not;
     * its default of 100 would cap any window above that and turn it into retries. */
    so.max_buffered = opts->max_inflight * 2 + 16;
    so.will_topic = p->status_topic; /* "": no will */
    so.will_payload = "offline";
    so.will_retain = true;
    so.will_qos = 1;
    const struct mqtt_session_callbacks cb = {
        .ctx = p, .wake = on_session_wake, .lost = on_session_lost, .event = on_session_event};
    char why[256];
    if (mqtt_session_create(&p->session, &so, &cb, why, sizeof(why)) != 0) {
        snprintf(err, err_size, "mqtt: %s", why);
        free_output(p);
        return -1;
    }

    struct journal_options jopts = {.read_only = true, .busy_timeout_ms = 5000};
    if (journal_open(&p->journal, ctx->journal_path, &jopts, err, err_size) != 0) {
        free_output(p);
        return -1;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake_cond, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&p->thread, NULL, mqtt_output_main, p);
    if (rc != 0) {
        snprintf(err, err_size, "cannot start the publisher thread: %s", strerror(rc));
        pthread_cond_destroy(&p->wake_cond);
        pthread_mutex_destroy(&p->lock);
        free_output(p);
        return -1;
    }
    *out = p;
    return 0;
}

void mqtt_output_notify(struct mqtt_output *p)
{
    pthread_mutex_lock(&p->lock);
    wake_locked(p);
    pthread_mutex_unlock(&p->lock);
}

void mqtt_output_get_stats(struct mqtt_output *p, struct mqtt_output_stats *stats)
{
    pthread_mutex_lock(&p->lock);
    *stats = p->stats;
    stats->state = p->state;
    stats->in_flight = p->in_flight;
    pthread_mutex_unlock(&p->lock);
}

void mqtt_output_collect(const struct mqtt_output_stats *s, struct report *r)
{
    report_labelled(r, "sensorbro_frames_quarantined_total", "stage", "publish", "quarantined ",
                    s->quarantined);
    report_counter(r, "sensorbro_frames_sent_total", ", sent ", s->sent);
    report_counter(r, "sensorbro_frames_published_total", ", published ", s->published);
    report_counter(r, "sensorbro_publishes_refused_total", ", refused ", s->refused);
    report_gauge(r, "sensorbro_publish_in_flight", ", in flight ", s->in_flight);
    bool connected = s->state == MQTT_OUTPUT_CONNECTED;
    report_gauge(r, "sensorbro_broker_connected", NULL, connected ? 1 : 0);
    report_text(r, connected ? ", broker connected" : ", broker disconnected");
    report_counter(r, "sensorbro_broker_connects_total", " (connects ", s->connects);
    report_counter(r, "sensorbro_broker_connect_failures_total", ", connect failures ",
                   s->connect_failures);
    report_counter(r, "sensorbro_broker_connection_losses_total", ", connection losses ",
                   s->connection_losses);
    report_text(r, ")");
}

void mqtt_output_stop(struct mqtt_output *p, struct mqtt_output_stats *final_stats)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    wake_locked(p);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    if (final_stats)
        mqtt_output_get_stats(p, final_stats);
    pthread_cond_destroy(&p->wake_cond);
    pthread_mutex_destroy(&p->lock);
    free_output(p);
}

/* ---- the output type (output/output.h) ---- */

static int type_start(void **out, const struct output_context *ctx, char *err, size_t err_size)
{
    struct mqtt_output *p;
    int rc = mqtt_output_start(&p, ctx, err, err_size);
    *out = rc == 0 ? p : NULL;
    return rc;
}

static void type_notify(void *output)
{
    mqtt_output_notify(output);
}

static void type_get_stats(void *output, void *stats)
{
    mqtt_output_get_stats(output, stats);
}

static void type_collect(const void *stats, struct report *r)
{
    mqtt_output_collect(stats, r);
}

static void type_stop(void *output, void *final_stats)
{
    mqtt_output_stop(output, final_stats);
}

static void type_health(const void *stats, const void *options, struct output_health *h)
{
    const struct mqtt_output_stats *st = stats;
    const struct config_mqtt *cfg = options;
    h->destination = "broker";
    h->state = st->state == MQTT_OUTPUT_CONNECTED    ? "connected"
               : st->state == MQTT_OUTPUT_CONNECTING ? "connecting"
                                                     : "disconnected, reconnecting";
    h->connected = st->state == MQTT_OUTPUT_CONNECTED;
    h->in_flight = st->in_flight;
    h->delivered = st->published;
    h->loop_mono_ms = st->loop_mono_ms;
    h->answer_mono_ms = st->answer_mono_ms;
    h->answer_grace_ms = 2 * (int64_t)cfg->broker.keepalive_s * 1000;
}

const struct output_type mqtt_output_type = {
    .name = "mqtt",
    .stats_size = sizeof(struct mqtt_output_stats),
    .start = type_start,
    .notify = type_notify,
    .get_stats = type_get_stats,
    .collect = type_collect,
    .health = type_health,
    .stop = type_stop,
};
