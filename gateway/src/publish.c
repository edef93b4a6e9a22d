/*
 * publish.c - journal to broker, with Eclipse Paho MQTTAsync.
 *
 * Concurrency. Two threads touch a publisher: its own thread, which reads the journal and
 * calls Paho, and Paho's callback thread, which reports connects, losses and PUBACKs. The
 * state they share sits under p->lock. Paho invokes callbacks while holding its own mutex,
 * so this file never calls into Paho with p->lock held (that order would deadlock).
 *
 * Tickets. Each publish carries a ticket (its Paho context) naming the frame and the
 * connection epoch it was sent in. A connection loss bumps the epoch: callbacks for older
 * tickets are then ignored, except a success, which is still a real PUBACK and marks the
 * frame. The lost Paho client is destroyed before a new one is made, and after
 * MQTTAsync_destroy no callback for it can arrive (during it, Paho does report what it
 * discards), so every ticket and event of an old client is dropped at that point.
 *
 * Order. The cursor is the id of the last frame handed to Paho in this epoch; frames are
 * read strictly after it, oldest first. A loss rewinds the cursor to 0 (everything pending
 * goes again, in order); a refused publish rewinds it to just before the refused frame and
 * pauses sending with backoff.
 */
#include "publish.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "broker_uri.h"
#include "clock.h"
#include "decode.h"
#include "journal.h"
#include "log.h"
#include "mqtt_connack.h"
#include "render.h"

#define FETCH_BATCH   64
#define IDLE_WAKE_MS  1000
#define STOP_DRAIN_MS 2000 /* at most, for PUBACKs when stopping */
#define TOPIC_SIZE    512

struct ticket {
    struct publisher *owner;
    int64_t frame_id;
    uint64_t epoch;
    bool busy;
};

struct publisher {
    const struct config *cfg;
    struct journal_writer *writer;
    bool mqtt5;
    char server_uri[BROKER_URI_SIZE]; /* of the current attempt: publisher thread only */
    char status_topic[TOPIC_SIZE];

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake_cond;

    /* --- shared, under lock --- */
    bool stopping;
    bool wake;
    bool connected_event;
    bool failed_event;
    bool lost_event;
    bool refused_event;      /* a publish was refused: start over on a new connection */
    bool shutdown_step_done; /* the "offline" PUBACK or the disconnect, while stopping */
    int failure_code;        /* Paho return code of the last connect failure */
    int failure_reason;      /* MQTT 5 reason code or 3.1.1 CONNACK code, 0 when none */
    char failure_text[160];  /* Paho's message for it, when any */
    enum publisher_state state;
    uint64_t epoch;
    uint64_t rewind_generation;
    struct ticket *tickets;
    size_t n_tickets;
    uint32_t in_flight;
    int64_t cursor;
    int64_t paused_until_mono_ms;
    uint32_t refusal_streak;
    struct publisher_stats stats;
    /* mqtt.max_rate as a token bucket, in thousandths of a publish so that whole
     * milliseconds refill it exactly at any rate */
    int64_t rate_tokens_milli;
    int64_t rate_refilled_mono_ms;
    int64_t rate_resume_mono_ms; /* no token until then: the thread sleeps until it */

    /* --- publisher thread only --- */
    MQTTAsync client; /* NULL between connections */
    struct journal *journal;
    struct decoder *decoder;
    struct decoded_uplink *uplink;
    struct journal_frame *batch;
    char *json;
    uint32_t reconnect_attempt;
    uint32_t address_index; /* which of the broker's addresses the next attempt uses */
    uint32_t address_count; /* how many the broker's name had at the last attempt */
    int64_t next_connect_mono_ms;
    char last_failure[256]; /* the connect failure last logged: repeats go to debug */
    uint64_t rng_state;
};

/* ---- small helpers ---- */

static uint64_t next_random(struct publisher *p)
{
    /* xorshift64*: only used to spread reconnects (jitter), not for anything secret */
    uint64_t x = p->rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    p->rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Full jitter: a uniformly random delay in [0, min(cap, base * 2^attempt)]. */
static int64_t backoff_delay_ms(struct publisher *p, uint32_t attempt)
{
    uint64_t cap = p->cfg->mqtt.reconnect_max_ms;
    uint64_t ceiling = p->cfg->mqtt.reconnect_min_ms;
    for (uint32_t i = 0; i < attempt && ceiling < cap; i++)
        ceiling *= 2;
    if (ceiling > cap)
        ceiling = cap;
    return (int64_t)(next_random(p) % (ceiling + 1));
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
static bool take_rate_token_locked(struct publisher *p, int64_t now_ms)
{
    uint32_t rate = p->cfg->mqtt.max_rate;
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

/* Replaces {gateway} and {device} in a topic template. */
static void expand_topic(const char *template, const char *gateway, const char *device,
                         char out[TOPIC_SIZE])
{
    size_t used = 0;
    for (const char *t = template; *t && used + 1 < TOPIC_SIZE;) {
        const char *value = NULL;
        size_t skip = 1;
        if (strncmp(t, "{gateway}", 9) == 0) {
            value = gateway;
            skip = 9;
        } else if (strncmp(t, "{device}", 8) == 0) {
            value = device ? device : "";
            skip = 8;
        }
        if (value) {
            int n = snprintf(out + used, TOPIC_SIZE - used, "%s", value);
            used += n > 0 ? (size_t)n : 0;
            if (used >= TOPIC_SIZE)
                used = TOPIC_SIZE - 1;
        } else {
            out[used++] = *t;
        }
        t += skip;
    }
    out[used] = '\0';
}

static void wake_locked(struct publisher *p)
{
    p->wake = true;
    pthread_cond_signal(&p->wake_cond);
}

/* ---- Paho callbacks (Paho's thread) ---- */

static void on_connected(struct publisher *p)
{
    pthread_mutex_lock(&p->lock);
    p->state = PUBLISHER_CONNECTED;
    p->connected_event = true;
    p->stats.connects++;
    wake_locked(p);
    pthread_mutex_unlock(&p->lock);
}

static void on_connect_failed(struct publisher *p, int code, int reason, const char *message)
{
    pthread_mutex_lock(&p->lock);
    p->state = PUBLISHER_DISCONNECTED;
    p->failed_event = true;
    p->failure_code = code;
    p->failure_reason = reason;
    snprintf(p->failure_text, sizeof(p->failure_text), "%s", message ? message : "");
    p->stats.connect_failures++;
    wake_locked(p);
    pthread_mutex_unlock(&p->lock);
}

static void on_connect_success5(void *context, MQTTAsync_successData5 *response)
{
    (void)response;
    on_connected(context);
}

static void on_connect_failure5(void *context, MQTTAsync_failureData5 *response)
{
    on_connect_failed(context, response ? response->code : MQTTASYNC_FAILURE,
                      mqtt_connack_reason5(response), response ? response->message : NULL);
}

static void on_connect_success3(void *context, MQTTAsync_successData *response)
{
    (void)response;
    on_connected(context);
}

static void on_connect_failure3(void *context, MQTTAsync_failureData *response)
{
    on_connect_failed(context, response ? response->code : MQTTASYNC_FAILURE,
                      mqtt_connack_reason3(response), response ? response->message : NULL);
}

static void on_connection_lost(void *context, char *cause)
{
    (void)cause;
    struct publisher *p = context;
    pthread_mutex_lock(&p->lock);
    if (p->state != PUBLISHER_DISCONNECTED) {
        p->state = PUBLISHER_DISCONNECTED;
        p->lost_event = true;
        p->epoch++;
        p->in_flight = 0;
        p->cursor = 0;
        p->stats.connection_losses++;
        wake_locked(p);
    }
    pthread_mutex_unlock(&p->lock);
}

static int on_message_arrived(void *context, char *topic, int topic_len, MQTTAsync_message *msg)
{
    /* Nothing is subscribed yet; Paho requires the callback all the same. */
    (void)context;
    (void)topic_len;
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static void on_publish_acked(struct ticket *t)
{
    struct publisher *p = t->owner;
    pthread_mutex_lock(&p->lock);
    int64_t frame_id = t->frame_id;
    if (t->epoch == p->epoch && p->in_flight > 0)
        p->in_flight--;
    t->busy = false;
    p->stats.published++;
    p->stats.answer_mono_ms = clock_mono_ms();
    p->refusal_streak = 0;
    wake_locked(p);
    pthread_mutex_unlock(&p->lock);
    /* Even from an old epoch this was a real PUBACK: the frame is safe at the broker. */
    journal_writer_mark_published(p->writer, frame_id, clock_wall_ms());
}

static void on_publish_failed(struct ticket *t, int reason_code, int paho_code)
{
    struct publisher *p = t->owner;
    pthread_mutex_lock(&p->lock);
    bool current = t->epoch == p->epoch;
    bool first_refusal = false;
    int64_t frame_id = t->frame_id;
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
    pthread_mutex_unlock(&p->lock);
    /* One error per run of refusals (until a publish succeeds again), not one per frame. */
    if (current && reason_code >= 0x80)
        log_msg(first_refusal ? LOG_LEVEL_ERROR : LOG_LEVEL_DEBUG,
                "mqtt: broker refused the publish of frame %" PRId64 ": %s (0x%02x); it stays in "
                "the journal and is sent again later, in order",
                frame_id, MQTTReasonCode_toString((enum MQTTReasonCodes)reason_code), reason_code);
    else if (current)
        log_debug("mqtt: publish of frame %" PRId64 " failed: %s", frame_id,
                  MQTTAsync_strerror(paho_code));
}

static void on_publish_success5(void *context, MQTTAsync_successData5 *response)
{
    (void)response;
    on_publish_acked(context);
}

static void on_publish_failure5(void *context, MQTTAsync_failureData5 *response)
{
    on_publish_failed(context, response ? (int)response->reasonCode : 0,
                      response ? response->code : MQTTASYNC_FAILURE);
}

static void on_publish_success3(void *context, MQTTAsync_successData *response)
{
    (void)response;
    on_publish_acked(context);
}

static void on_publish_failure3(void *context, MQTTAsync_failureData *response)
{
    on_publish_failed(context, 0, response ? response->code : MQTTASYNC_FAILURE);
}

/* ---- connection management (publisher thread) ---- */

static void describe_connect_failure(struct publisher *p, char *out, size_t out_size)
{
    pthread_mutex_lock(&p->lock);
    int code = p->failure_code, reason = p->failure_reason;
    char text[sizeof(p->failure_text)];
    memcpy(text, p->failure_text, sizeof(text));
    pthread_mutex_unlock(&p->lock);
    mqtt_connack_describe(p->mqtt5, code, reason, text, out, out_size);
}

static void schedule_reconnect(struct publisher *p, bool slow)
{
    int64_t delay;
    if (slow) {
        /* Hammering a broker that refused our credentials helps nobody: wait near the cap. */
        uint64_t cap = p->cfg->mqtt.reconnect_max_ms;
        delay = (int64_t)(cap / 2 + next_random(p) % (cap / 2 + 1));
    } else {
        delay = backoff_delay_ms(p, p->reconnect_attempt);
    }
    if (p->reconnect_attempt < 32)
        p->reconnect_attempt++;
    p->next_connect_mono_ms = clock_mono_ms() + delay;
}

/* Destroys the Paho client, after which none of its callbacks can run, and reclaims the
 * tickets it held. */
static void drop_client(struct publisher *p)
{
    if (p->client == NULL)
        return;
    MQTTAsync_destroy(&p->client);
    p->client = NULL;
    pthread_mutex_lock(&p->lock);
    /* Paho reports what it discards while destroying (connects, publishes, even a refusal
     * that was still queued): those events belong to the client just destroyed, not to the
     * next one, which they would otherwise tear down. */
    p->connected_event = p->failed_event = p->lost_event = p->refused_event = false;
    p->epoch++;
    for (size_t i = 0; i < p->n_tickets; i++)
        p->tickets[i].busy = false;
    p->in_flight = 0;
    p->cursor = 0;
    p->rewind_generation++;
    p->state = PUBLISHER_DISCONNECTED;
    pthread_mutex_unlock(&p->lock);
    /* Let PUBACK marks queued before the loss reach the journal, so that the frames they
     * name are not sent again. */
    journal_writer_sync(p->writer);
}

static void start_connect(struct publisher *p)
{
    const struct config *cfg = p->cfg;
    broker_uri(cfg->mqtt.host, cfg->mqtt.port, cfg->mqtt.tls, p->address_index, p->server_uri,
               &p->address_count);
    MQTTAsync_createOptions create_opts = MQTTAsync_createOptions_initializer;
    create_opts.MQTTVersion = p->mqtt5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    create_opts.sendWhileDisconnected = 0;
    /* Paho refuses a send (-12) once this many commands are queued, connected or not;
     * its default of 100 would cap any window above that and turn it into retries. */
    create_opts.maxBufferedMessages = (int)cfg->mqtt.max_inflight * 2 + 16;
    int rc = MQTTAsync_createWithOptions(&p->client, p->server_uri, cfg->mqtt.client_id,
                                         MQTTCLIENT_PERSISTENCE_NONE, NULL, &create_opts);
    if (rc != MQTTASYNC_SUCCESS) {
        log_error("mqtt: cannot create a client for %s: %s", p->server_uri, MQTTAsync_strerror(rc));
        p->client = NULL;
        schedule_reconnect(p, true);
        return;
    }
    MQTTAsync_setCallbacks(p->client, p, on_connection_lost, on_message_arrived, NULL);

    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    will.topicName = p->status_topic;
    will.message = "offline";
    will.retained = 1;
    will.qos = 1;

    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    ssl.enableServerCertAuth = 1;
    ssl.verify = 1; /* check the broker's host name against its certificate */
    ssl.sslVersion = MQTT_SSL_VERSION_DEFAULT; /* negotiates up to TLS 1.3 */
    if (cfg->mqtt.ca_file[0])
        ssl.trustStore = cfg->mqtt.ca_file;
    else
        ssl.CApath = "/etc/ssl/certs";
    if (cfg->mqtt.cert_file[0]) {
        ssl.keyStore = cfg->mqtt.cert_file;
        ssl.privateKey = cfg->mqtt.key_file;
    }

    MQTTAsync_connectOptions conn;
    if (p->mqtt5) {
        MQTTAsync_connectOptions init5 = MQTTAsync_connectOptions_initializer5;
        conn = init5;
        conn.cleanstart = 1;
        conn.onSuccess5 = on_connect_success5;
        conn.onFailure5 = on_connect_failure5;
    } else {
        MQTTAsync_connectOptions init3 = MQTTAsync_connectOptions_initializer;
        conn = init3;
        conn.cleansession = 1;
        conn.onSuccess = on_connect_success3;
        conn.onFailure = on_connect_failure3;
    }
    conn.context = p;
    conn.keepAliveInterval = (int)cfg->mqtt.keepalive_s;
    conn.connectTimeout = (int)cfg->mqtt.connect_timeout_s;
    conn.maxInflight = (int)cfg->mqtt.max_inflight;
    conn.automaticReconnect = 0; /* reconnects are ours: jitter, and a fresh client each time */
    conn.will = &will;
    if (cfg->mqtt.username[0]) {
        conn.username = cfg->mqtt.username;
        conn.password = cfg->mqtt.password;
    }
    if (cfg->mqtt.tls)
        conn.ssl = &ssl;

    pthread_mutex_lock(&p->lock);
    p->state = PUBLISHER_CONNECTING;
    pthread_mutex_unlock(&p->lock);
    rc = MQTTAsync_connect(p->client, &conn);
    if (rc != MQTTASYNC_SUCCESS) {
        log_warn("mqtt: cannot start connecting to %s: %s", p->server_uri, MQTTAsync_strerror(rc));
        p->address_index++;
        drop_client(p);
        schedule_reconnect(p, false);
    }
}

static void publish_status(struct publisher *p, const char *status)
{
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    int rc = MQTTAsync_send(p->client, p->status_topic, (int)strlen(status), status, 1, 1, &opts);
    if (rc != MQTTASYNC_SUCCESS)
        log_warn("mqtt: cannot publish \"%s\" to %s: %s", status, p->status_topic,
                 MQTTAsync_strerror(rc));
}

static void handle_connection_events(struct publisher *p)
{
    pthread_mutex_lock(&p->lock);
    bool connected = p->connected_event, failed = p->failed_event, lost = p->lost_event;
    bool refused = p->refused_event;
    int reason = p->failure_reason;
    int64_t paused_until = p->paused_until_mono_ms;
    p->connected_event = p->failed_event = p->lost_event = p->refused_event = false;
    pthread_mutex_unlock(&p->lock);

    if (refused && p->client != NULL) {
        /* After a PUBACK with a failure reason code, Paho 1.3.12 writes no further publish
         * on that connection (seen with Mosquitto: nothing arrives after the refusal, and
         * nothing is reported). Start over on a fresh client once the pause is over; every
         * pending frame goes again, in order. */
        drop_client(p);
        p->next_connect_mono_ms = paused_until;
        log_debug("mqtt: reconnecting after the refused publish, in %.1f s",
                  (double)(paused_until - clock_mono_ms()) / 1000.0);
    }

    if (failed) {
        char why[256];
        describe_connect_failure(p, why, sizeof(why));
        bool auth = mqtt_connack_is_authorisation(p->mqtt5, reason);
        p->address_index++; /* the next attempt tries the broker's next address, if any */
        drop_client(p);
        if (!auth && p->address_index % p->address_count != 0) {
            p->next_connect_mono_ms = clock_mono_ms(); /* an untried address: go on at once */
            log_info("mqtt: cannot connect to %s: %s; trying the broker's next address",
                     p->server_uri, why);
        } else {
            schedule_reconnect(p, auth);
            int64_t wait_ms = p->next_connect_mono_ms - clock_mono_ms();
            bool repeated = strcmp(why, p->last_failure) == 0;
            enum log_level level =
                repeated ? LOG_LEVEL_DEBUG : (auth ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN);
            log_msg(level, "mqtt: cannot connect to %s as %s: %s; retrying in %.1f s",
                    p->server_uri, p->cfg->mqtt.client_id, why, (double)wait_ms / 1000.0);
            snprintf(p->last_failure, sizeof(p->last_failure), "%s", why);
        }
    }
    if (lost) {
        drop_client(p);
        schedule_reconnect(p, false);
        log_warn("mqtt: connection to %s lost; pending frames are kept and sent again after "
                 "reconnecting",
                 p->server_uri);
    }
    if (connected) {
        log_info("mqtt: connected to %s as %s (MQTT %s)%s", p->server_uri, p->cfg->mqtt.client_id,
                 p->mqtt5 ? "5" : "3.1.1", p->reconnect_attempt > 1 ? " after retrying" : "");
        p->reconnect_attempt = 0;
        p->last_failure[0] = '\0';
        publish_status(p, "online");
    }
}

/* ---- publishing (publisher thread) ---- */

static struct ticket *take_ticket_locked(struct publisher *p, int64_t frame_id)
{
    for (size_t i = 0; i < p->n_tickets; i++) {
        struct ticket *t = &p->tickets[i];
        if (!t->busy) {
            t->busy = true;
            t->frame_id = frame_id;
            t->epoch = p->epoch;
            return t;
        }
    }
    return NULL;
}

static int send_json(struct publisher *p, const char *topic, const char *json, size_t len,
                     const char *message_id, struct ticket *t)
{
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = (void *)json;
    msg.payloadlen = (int)len;
    msg.qos = 1;
    msg.retained = 0; /* never retain data: OS2iot and dashboards would replay stale readings */
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    opts.context = t;
    if (p->mqtt5) {
        opts.onSuccess5 = on_publish_success5;
        opts.onFailure5 = on_publish_failure5;
        MQTTProperty id = {.identifier = MQTTPROPERTY_CODE_USER_PROPERTY};
        id.value.data.data = "message-id";
        id.value.data.len = (int)strlen("message-id");
        id.value.value.data = (char *)message_id;
        id.value.value.len = (int)strlen(message_id);
        MQTTProperty type = {.identifier = MQTTPROPERTY_CODE_CONTENT_TYPE};
        type.value.data.data = "application/json";
        type.value.data.len = (int)strlen("application/json");
        MQTTProperties_add(&msg.properties, &id);
        MQTTProperties_add(&msg.properties, &type);
    } else {
        opts.onSuccess = on_publish_success3;
        opts.onFailure = on_publish_failure3;
    }
    int rc = MQTTAsync_sendMessage(p->client, topic, &msg, &opts);
    MQTTProperties_free(&msg.properties); /* Paho copied them */
    return rc;
}

/* Decodes and renders a frame. Returns 0, or -1 with the reason it cannot be published. */
static int prepare(struct publisher *p, const struct journal_frame *f, size_t *json_len,
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
                               .gateway = p->cfg->gateway.id,
                               .transport = f->record.transport,
                               .received_ms = f->record.received_ms,
                               .heard_ms = f->record.heard_ms,
                               .epoch = f->epoch,
                               .radio = &f->record.radio};
    char render_why[RENDER_REASON_SIZE];
    if (render_json(p->uplink, &meta, p->json, RENDER_MAX_JSON_BYTES, json_len, render_why) != 0) {
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
static void fill_window(struct publisher *p)
{
    for (;;) {
        pthread_mutex_lock(&p->lock);
        bool can_send = p->state == PUBLISHER_CONNECTED && !p->stopping &&
                        clock_mono_ms() >= p->paused_until_mono_ms;
        uint32_t room = p->cfg->mqtt.max_inflight - p->in_flight;
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
            size_t json_len = 0;
            char reason[JOURNAL_REASON_SIZE];
            bool publishable = prepare(p, f, &json_len, reason) == 0;

            pthread_mutex_lock(&p->lock);
            if (p->epoch != epoch || p->rewind_generation != generation ||
                p->state != PUBLISHER_CONNECTED || p->stopping) {
                pthread_mutex_unlock(&p->lock);
                break; /* start over from the (rewound) cursor */
            }
            struct ticket *t = NULL;
            if (publishable && !take_rate_token_locked(p, clock_mono_ms())) {
                pthread_mutex_unlock(&p->lock);
                return; /* mqtt.max_rate: the thread wakes when the next token is due */
            }
            if (publishable) {
                t = take_ticket_locked(p, f->id);
                if (t == NULL) {
                    if (p->cfg->mqtt.max_rate > 0)
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
            p->cursor = f->id;
            pthread_mutex_unlock(&p->lock);

            if (!publishable) {
                log_warn("publish: frame %" PRId64 " from %s cannot be published (%s); moved to "
                         "quarantine",
                         f->id, f->record.device, reason);
                journal_writer_move_to_quarantine(p->writer, f->id, reason);
                continue;
            }
            char topic[TOPIC_SIZE], message_id[RENDER_MESSAGE_ID_SIZE];
            expand_topic(p->cfg->mqtt.topic, p->cfg->gateway.id, f->record.device, topic);
            render_message_id(f->record.device, f->epoch, p->uplink->seq, message_id);
            int rc = send_json(p, topic, p->json, json_len, message_id, t);
            if (rc != MQTTASYNC_SUCCESS) {
                pthread_mutex_lock(&p->lock);
                t->busy = false;
                p->stats.sent--;
                if (t->epoch == p->epoch) {
                    p->in_flight--;
                    if (p->cursor >= f->id)
                        p->cursor = f->id - 1;
                    p->rewind_generation++;
                }
                pthread_mutex_unlock(&p->lock);
                log_debug("publish: frame %" PRId64 " not handed to Paho: %s", f->id,
                          MQTTAsync_strerror(rc));
                return;
            }
        }
    }
}

static int64_t next_deadline_locked(const struct publisher *p)
{
    int64_t deadline = clock_mono_ms() + IDLE_WAKE_MS;
    if (p->state == PUBLISHER_DISCONNECTED && p->client == NULL &&
        p->next_connect_mono_ms < deadline)
        deadline = p->next_connect_mono_ms;
    if (p->paused_until_mono_ms > clock_mono_ms() && p->paused_until_mono_ms < deadline)
        deadline = p->paused_until_mono_ms;
    if (p->rate_resume_mono_ms > clock_mono_ms() && p->rate_resume_mono_ms < deadline)
        deadline = p->rate_resume_mono_ms;
    return deadline;
}

static void on_shutdown_step(struct publisher *p)
{
    pthread_mutex_lock(&p->lock);
    p->shutdown_step_done = true;
    pthread_cond_signal(&p->wake_cond);
    pthread_mutex_unlock(&p->lock);
}

static void on_shutdown_step5(void *context, MQTTAsync_successData5 *response)
{
    (void)response;
    on_shutdown_step(context);
}

static void on_shutdown_failed5(void *context, MQTTAsync_failureData5 *response)
{
    (void)response;
    on_shutdown_step(context);
}

static void on_shutdown_step3(void *context, MQTTAsync_successData *response)
{
    (void)response;
    on_shutdown_step(context);
}

static void on_shutdown_failed3(void *context, MQTTAsync_failureData *response)
{
    (void)response;
    on_shutdown_step(context);
}

/* Waits until the last shutdown step completed (and, when asked, nothing is in flight),
 * or until timeout_ms passed. */
static void wait_for_shutdown_step(struct publisher *p, bool want_in_flight_zero,
                                   int64_t timeout_ms)
{
    int64_t deadline = clock_mono_ms() + timeout_ms;
    pthread_mutex_lock(&p->lock);
    while (clock_mono_ms() < deadline &&
           !(p->shutdown_step_done && (!want_in_flight_zero || p->in_flight == 0))) {
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000),
                              .tv_nsec = (long)(deadline % 1000) * 1000000L};
        pthread_cond_timedwait(&p->wake_cond, &p->lock, &ts);
    }
    p->shutdown_step_done = false;
    pthread_mutex_unlock(&p->lock);
}

static void shutdown_client(struct publisher *p)
{
    if (p->client == NULL)
        return;
    if (MQTTAsync_isConnected(p->client)) {
        /* "offline" first, then give outstanding PUBACKs a moment: whatever is not
         * acknowledged stays pending in the journal and goes out after the next start. */
        MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
        opts.context = p;
        if (p->mqtt5) {
            opts.onSuccess5 = on_shutdown_step5;
            opts.onFailure5 = on_shutdown_failed5;
        } else {
            opts.onSuccess = on_shutdown_step3;
            opts.onFailure = on_shutdown_failed3;
        }
        if (MQTTAsync_send(p->client, p->status_topic, 7, "offline", 1, 1, &opts) ==
            MQTTASYNC_SUCCESS)
            wait_for_shutdown_step(p, true, STOP_DRAIN_MS);

        MQTTAsync_disconnectOptions disc3 = MQTTAsync_disconnectOptions_initializer;
        MQTTAsync_disconnectOptions disc5 = MQTTAsync_disconnectOptions_initializer5;
        MQTTAsync_disconnectOptions disc = p->mqtt5 ? disc5 : disc3;
        disc.timeout = 0; /* the waiting was done above */
        disc.context = p;
        if (p->mqtt5) {
            disc.onSuccess5 = on_shutdown_step5;
            disc.onFailure5 = on_shutdown_failed5;
        } else {
            disc.onSuccess = on_shutdown_step3;
            disc.onFailure = on_shutdown_failed3;
        }
        if (MQTTAsync_disconnect(p->client, &disc) == MQTTASYNC_SUCCESS)
            wait_for_shutdown_step(p, false, 1000);
    }
    drop_client(p);
}

static void *publisher_main(void *arg)
{
    struct publisher *p = arg;
    p->next_connect_mono_ms = clock_mono_ms(); /* first attempt at once */
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

        handle_connection_events(p);
        if (p->client == NULL && clock_mono_ms() >= p->next_connect_mono_ms)
            start_connect(p);
        fill_window(p);
    }
    shutdown_client(p);
    return NULL;
}

/* ---- life cycle ---- */

static void free_publisher(struct publisher *p)
{
    journal_close(p->journal);
    free(p->decoder);
    free(p->uplink);
    free(p->batch);
    free(p->json);
    free(p->tickets);
    free(p);
}

int publisher_start(struct publisher **out, const struct config *cfg, struct journal_writer *writer,
                    char *err, size_t err_size)
{
    *out = NULL;
    struct publisher *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    p->cfg = cfg;
    p->writer = writer;
    p->mqtt5 = cfg->mqtt.protocol == CONFIG_MQTT_5;
    expand_topic(cfg->mqtt.status_topic, cfg->gateway.id, NULL, p->status_topic);
    /* Twice the window: tickets of a lost connection may still be out until it is dropped. */
    p->n_tickets = (size_t)cfg->mqtt.max_inflight * 2;
    p->tickets = calloc(p->n_tickets, sizeof(struct ticket));
    p->decoder = malloc(sizeof(struct decoder));
    p->uplink = malloc(sizeof(struct decoded_uplink));
    p->batch = malloc(sizeof(struct journal_frame) * FETCH_BATCH);
    p->json = malloc(RENDER_MAX_JSON_BYTES);
    if (!p->tickets || !p->decoder || !p->uplink || !p->batch || !p->json) {
        snprintf(err, err_size, "out of memory");
        free_publisher(p);
        return -1;
    }
    for (size_t i = 0; i < p->n_tickets; i++)
        p->tickets[i].owner = p;
    p->rng_state = ((uint64_t)clock_wall_ms() << 16) ^ (uint64_t)getpid() ^ 0x9E3779B97F4A7C15ULL;
    p->rate_tokens_milli = rate_capacity_milli(cfg->mqtt.max_rate);
    p->rate_refilled_mono_ms = clock_mono_ms();
    p->stats.loop_mono_ms = p->stats.answer_mono_ms = clock_mono_ms();

    struct journal_options jopts = {.read_only = true, .busy_timeout_ms = 5000};
    if (journal_open(&p->journal, cfg->journal.path, &jopts, err, err_size) != 0) {
        free_publisher(p);
        return -1;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake_cond, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&p->thread, NULL, publisher_main, p);
    if (rc != 0) {
        snprintf(err, err_size, "cannot start the publisher thread: %s", strerror(rc));
        pthread_cond_destroy(&p->wake_cond);
        pthread_mutex_destroy(&p->lock);
        free_publisher(p);
        return -1;
    }
    *out = p;
    return 0;
}

void publisher_notify(struct publisher *p)
{
    pthread_mutex_lock(&p->lock);
    wake_locked(p);
    pthread_mutex_unlock(&p->lock);
}

void publisher_get_stats(struct publisher *p, struct publisher_stats *stats)
{
    pthread_mutex_lock(&p->lock);
    *stats = p->stats;
    stats->state = p->state;
    stats->in_flight = p->in_flight;
    pthread_mutex_unlock(&p->lock);
}

void publisher_stop(struct publisher *p, struct publisher_stats *final_stats)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    wake_locked(p);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    if (final_stats)
        publisher_get_stats(p, final_stats);
    pthread_cond_destroy(&p->wake_cond);
    pthread_mutex_destroy(&p->lock);
    free_publisher(p);
}
