/*
 * output/mqtt_session.c - one broker connection over Paho MQTTAsync (output/mqtt_session.h).
 *
 * Paho's callbacks only record what happened under s->lock and wake the owner; the owner's
 * thread, in mqtt_session_service, turns what was recorded into events, destroys clients
 * and makes new ones (Paho forbids MQTTAsync_destroy and MQTTAsync_create inside its
 * callbacks). s->client_lock guards the client pointer for publishers on other threads
 * against the owner's thread replacing it; it is taken before Paho's mutex, never after.
 *
 * Every request carries the session in its mqtt_session_request, and s->outstanding
 * counts the requests Paho holds, so that a clean stop can wait for their acknowledgements
 * without knowing what they are.
 */
#include "output/mqtt_session.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <MQTTAsync.h>

#include "config.h"
#include "output/broker_uri.h"
#include "output/mqtt_connack.h"
#include "util/backoff.h"
#include "util/clock.h"
#include "util/host.h"

#define DISCONNECT_WAIT_MS 1000
#define FAILURE_TEXT_SIZE  160
#define TLS_ERROR_SIZE     256
#define MAX_ATTEMPT        32 /* the backoff's exponent stops growing long before */

struct mqtt_session {
    struct mqtt_session_options o; /* its strings point into the copies below */
    char host[MQTT_SESSION_HOST_SIZE];
    char ca_file[MQTT_SESSION_PATH_SIZE], cert_file[MQTT_SESSION_PATH_SIZE],
        key_file[MQTT_SESSION_PATH_SIZE];
    char username[MQTT_SESSION_ID_SIZE], password[MQTT_SESSION_PASSWORD_SIZE];
    char client_id[MQTT_SESSION_ID_SIZE];
    char will_topic[MQTT_SESSION_TOPIC_SIZE], will_payload[MQTT_SESSION_WILL_SIZE];
    struct mqtt_session_callbacks cb;

    pthread_mutex_t lock;
    pthread_cond_t cond; /* mqtt_session_stop waits on it */

    /* --- under lock: written by Paho's callbacks --- */
    bool connected;
    bool connected_event, failed_event, lost_event;
    int failure_code;   /* Paho's code of the failed connect */
    int failure_reason; /* MQTT 5 reason code or 3.1.1 CONNACK code, 0 when none */
    char failure_text[FAILURE_TEXT_SIZE];
    char tls_error[TLS_ERROR_SIZE]; /* OpenSSL's reasons during the current attempt */
    char lost_cause[FAILURE_TEXT_SIZE];
    bool disconnected; /* the stop's disconnect completed (stop_request) */

    /* --- the client: replaced by the owner's thread under client_lock --- */
    pthread_mutex_t client_lock;
    MQTTAsync client;

    _Atomic uint32_t outstanding; /* requests handed to Paho and not completed */
    atomic_bool draining;         /* mqtt_session_stop waits for outstanding to reach 0 */

    /* --- the owner's thread only --- */
    char server_uri[BROKER_URI_SIZE]; /* of the current attempt */
    uint32_t reconnect_attempt;
    uint32_t address_index; /* which of the broker's addresses the next attempt uses */
    uint32_t address_count; /* how many the broker's name had at the last attempt */
    int64_t next_connect_mono_ms;
    char last_failure[MQTT_SESSION_DESCRIBE_SIZE]; /* the last failure reported */
    struct backoff_rng rng;
    bool stopped;
    struct mqtt_session_request last_request; /* the stop's last message */
    struct mqtt_session_request stop_request; /* the stop's disconnect */
};

/* ---- options ---- */

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

void mqtt_session_options_from_config(struct mqtt_session_options *o, const struct config_broker *b)
{
    *o = (struct mqtt_session_options){
        .host = b->host,
        .port = b->port,
        .tls = b->tls,
        .ca_file = b->ca_file,
        .cert_file = b->cert_file,
        .key_file = b->key_file,
        .username = b->username,
        .password = b->password,
        .allow_insecure = b->allow_insecure,
        .client_id = b->client_id,
        .mqtt5 = b->protocol == CONFIG_MQTT_5,
        .clean_start = true,
        .keepalive_s = b->keepalive_s,
        .connect_timeout_s = b->connect_timeout_s,
        .will_qos = 1,
        .reconnect_min_ms = b->reconnect_min_ms,
        .reconnect_max_ms = b->reconnect_max_ms,
    };
}

static int too_long(const char *what, const char *value, size_t size, char *err, size_t err_size)
{
    if (strlen(or_empty(value)) < size)
        return 0;
    snprintf(err, err_size, "%s: longer than %zu characters", what, size - 1);
    return -1;
}

int mqtt_session_check_options(const struct mqtt_session_options *o, char *err, size_t err_size)
{
    if (too_long("host", o->host, MQTT_SESSION_HOST_SIZE, err, err_size) ||
        too_long("ca_file", o->ca_file, MQTT_SESSION_PATH_SIZE, err, err_size) ||
        too_long("cert_file", o->cert_file, MQTT_SESSION_PATH_SIZE, err, err_size) ||
        too_long("key_file", o->key_file, MQTT_SESSION_PATH_SIZE, err, err_size) ||
        too_long("username", o->username, MQTT_SESSION_ID_SIZE, err, err_size) ||
        too_long("password", o->password, MQTT_SESSION_PASSWORD_SIZE, err, err_size) ||
        too_long("client_id", o->client_id, MQTT_SESSION_ID_SIZE, err, err_size) ||
        too_long("will_topic", o->will_topic, MQTT_SESSION_TOPIC_SIZE, err, err_size) ||
        too_long("will_payload", o->will_payload, MQTT_SESSION_WILL_SIZE, err, err_size))
        return -1;
    const char *host = or_empty(o->host);
    if (host[0] == '\0' || strpbrk(host, " \t/?#@") != NULL) {
        snprintf(err, err_size, "host: expected a host name or IP address, got \"%.100s\"", host);
        return -1;
    }
    if (o->port == 0 || o->port > 65535) {
        snprintf(err, err_size, "port: expected 1 to 65535, got %u", (unsigned)o->port);
        return -1;
    }
    if (or_empty(o->client_id)[0] == '\0') {
        snprintf(err, err_size, "client_id: required");
        return -1;
    }
    bool cert = or_empty(o->cert_file)[0] != '\0', key = or_empty(o->key_file)[0] != '\0';
    if (cert != key) {
        snprintf(err, err_size, "cert_file and key_file go together: set both or neither");
        return -1;
    }
    if (!o->tls && (cert || or_empty(o->ca_file)[0] != '\0')) {
        snprintf(err, err_size, "ca_file / cert_file are set but tls is off");
        return -1;
    }
    if (or_empty(o->password)[0] != '\0' && or_empty(o->username)[0] == '\0') {
        snprintf(err, err_size, "password is set but username is empty");
        return -1;
    }
    if (or_empty(o->password)[0] != '\0' && !o->tls && !o->allow_insecure &&
        !host_is_loopback(host)) {
        snprintf(err, err_size,
                 "password: would go in clear to %.100s, which is not loopback (tls off, "
                 "allow_insecure off)",
                 host);
        return -1;
    }
    if (o->keepalive_s > 65535) { /* MQTT's keep alive is a 16-bit number of seconds */
        snprintf(err, err_size, "keepalive_s: expected at most 65535, got %u",
                 (unsigned)o->keepalive_s);
        return -1;
    }
    if (o->connect_timeout_s == 0 || o->connect_timeout_s > INT_MAX) {
        snprintf(err, err_size, "connect_timeout_s: expected at least 1");
        return -1;
    }
    if (o->max_inflight > 65535 || o->max_buffered > INT_MAX) {
        snprintf(err, err_size, "max_inflight (at most 65535) or max_buffered out of range");
        return -1;
    }
    if (o->clean_start && o->session_expiry_s != 0) {
        snprintf(err, err_size, "session_expiry_s needs a persistent session (clean_start off)");
        return -1;
    }
    if (o->reconnect_min_ms == 0 || o->reconnect_min_ms > o->reconnect_max_ms) {
        snprintf(err, err_size,
                 "reconnect_min_ms (%u) must be at least 1 and not exceed reconnect_max_ms (%u)",
                 (unsigned)o->reconnect_min_ms, (unsigned)o->reconnect_max_ms);
        return -1;
    }
    const char *will = or_empty(o->will_topic);
    if (will[0] != '\0' && (strpbrk(will, "+#") != NULL || o->will_qos < 0 || o->will_qos > 2)) {
        snprintf(err, err_size, "will: expected a topic without wildcards and a QoS of 0 to 2");
        return -1;
    }
    return 0;
}

/* ---- Paho's callbacks (Paho's thread) ---- */

static void wake_owner(struct mqtt_session *s)
{
    s->cb.wake(s->cb.ctx);
}

static void on_connected(struct mqtt_session *s)
{
    pthread_mutex_lock(&s->lock);
    s->connected = true;
    s->connected_event = true;
    pthread_mutex_unlock(&s->lock);
    wake_owner(s);
}

static void on_connect_failed(struct mqtt_session *s, int code, int reason, const char *message)
{
    pthread_mutex_lock(&s->lock);
    s->failed_event = true;
    s->failure_code = code;
    s->failure_reason = reason;
    snprintf(s->failure_text, sizeof(s->failure_text), "%s", or_empty(message));
    pthread_mutex_unlock(&s->lock);
    wake_owner(s);
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

/* Paho's ssl_error_cb: OpenSSL's errors of a failing handshake (or of loading a CA or key
 * file), one line each, before the connect failure itself is reported. */
static int on_tls_error(const char *line, size_t len, void *context)
{
    struct mqtt_session *s = context;
    pthread_mutex_lock(&s->lock);
    mqtt_connack_add_tls_error(s->tls_error, sizeof(s->tls_error), line, len);
    pthread_mutex_unlock(&s->lock);
    return 1; /* go on with the next error */
}

static void on_connection_lost(void *context, char *cause)
{
    struct mqtt_session *s = context;
    pthread_mutex_lock(&s->lock);
    bool was_connected = s->connected;
    if (was_connected) {
        s->connected = false;
        s->lost_event = true;
        snprintf(s->lost_cause, sizeof(s->lost_cause), "%s", or_empty(cause));
    }
    pthread_mutex_unlock(&s->lock);
    if (was_connected) {
        if (s->cb.lost)
            s->cb.lost(s->cb.ctx);
        wake_owner(s);
    }
}

static int on_message_arrived(void *context, char *topic, int topic_len, MQTTAsync_message *msg)
{
    struct mqtt_session *s = context;
    if (s->cb.message) {
        size_t tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
        s->cb.message(s->cb.ctx, topic, tlen, msg->payload,
                      msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0);
    }
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1; /* handled: a 0 would make Paho queue it, and acknowledge it before delivery */
}

/* A request completed: its owner hears of it, then a stop that waits may go on. */
static void finish_request(struct mqtt_session_request *req, bool ok, int reason_code,
                           int paho_code)
{
    struct mqtt_session *s = req->session; /* req may be gone once done returned */
    struct mqtt_session_result result = {
        .ok = ok, .reason_code = reason_code, .paho_code = paho_code};
    if (req->done)
        req->done(req->ctx, &result);
    if (atomic_fetch_sub(&s->outstanding, 1) == 1 && atomic_load(&s->draining)) {
        pthread_mutex_lock(&s->lock);
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
    }
}

/* MQTT 5: a PUBACK or SUBACK can carry a failure code (0x87 not authorised, 0x9E shared
 * subscriptions not supported, ...); Paho 1.3 reports those as failures, but the code is
 * checked here all the same. */
static void on_request_success5(void *context, MQTTAsync_successData5 *response)
{
    int reason = response ? (int)response->reasonCode : 0;
    finish_request(context, reason < 0x80, reason, 0);
}

static void on_request_failure5(void *context, MQTTAsync_failureData5 *response)
{
    finish_request(context, false, response ? (int)response->reasonCode : 0,
                   response ? response->code : MQTTASYNC_FAILURE);
}

static void on_publish_success3(void *context, MQTTAsync_successData *response)
{
    (void)response;
    finish_request(context, true, 0, 0);
}

static void on_subscribe_success3(void *context, MQTTAsync_successData *response)
{
    /* 3.1.1: a granted QoS of 0x80 is a refusal */
    int granted = response ? response->alt.qos : 0;
    finish_request(context, granted != 0x80, granted, 0);
}

static void on_request_failure3(void *context, MQTTAsync_failureData *response)
{
    finish_request(context, false, 0, response ? response->code : MQTTASYNC_FAILURE);
}

/* The stop's disconnect completed, either way. */
static void on_disconnect_done(void *ctx, const struct mqtt_session_result *result)
{
    (void)result;
    struct mqtt_session *s = ctx;
    pthread_mutex_lock(&s->lock);
    s->disconnected = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* ---- connection management (the owner's thread) ---- */

static void deliver(struct mqtt_session *s, const struct mqtt_session_event *ev)
{
    s->cb.event(s->cb.ctx, ev);
}

static void schedule_reconnect(struct mqtt_session *s, enum mqtt_session_retry retry,
                               int64_t at_mono_ms)
{
    uint64_t min = s->o.reconnect_min_ms, max = s->o.reconnect_max_ms;
    if (retry == MQTT_SESSION_RETRY_AT) {
        s->next_connect_mono_ms = at_mono_ms;
        return;
    }
    /* Hammering a broker that refused our credentials helps nobody: wait near the cap. */
    uint64_t delay = retry == MQTT_SESSION_RETRY_SLOW
                         ? backoff_uniform(&s->rng, max / 2, max)
                         : backoff_full_jitter_ms(&s->rng, min, max, s->reconnect_attempt);
    if (s->reconnect_attempt < MAX_ATTEMPT)
        s->reconnect_attempt++;
    s->next_connect_mono_ms = clock_mono_ms() + (int64_t)delay;
}

/* Destroys the client, after which none of its callbacks can run (while it is destroyed,
 * Paho completes what it discards), and forgets what it reported. */
static void destroy_client(struct mqtt_session *s)
{
    pthread_mutex_lock(&s->client_lock);
    if (s->client != NULL)
        MQTTAsync_destroy(&s->client);
    s->client = NULL;
    pthread_mutex_unlock(&s->client_lock);
    atomic_store(&s->outstanding, 0);
    pthread_mutex_lock(&s->lock);
    s->connected = false;
    s->connected_event = s->failed_event = s->lost_event = false;
    pthread_mutex_unlock(&s->lock);
}

static void describe_failure(struct mqtt_session *s, int code, int reason, const char *text,
                             char *out, size_t out_size)
{
    char tls[TLS_ERROR_SIZE];
    pthread_mutex_lock(&s->lock);
    memcpy(tls, s->tls_error, sizeof(tls));
    s->tls_error[0] = '\0';
    pthread_mutex_unlock(&s->lock);
    mqtt_connack_describe(s->o.mqtt5, code, reason, text, out, out_size);
    size_t used = strlen(out);
    if (tls[0] && used + 1 < out_size)
        snprintf(out + used, out_size - used, " (TLS: %s)", tls);
    else if (s->o.tls && code == MQTTASYNC_FAILURE && reason == 0 && used + 1 < out_size)
        /* Paho checks the broker's name against its certificate itself, after OpenSSL's
         * handshake succeeded, and says nothing when it does not match; a broker that is
         * not reachable at all fails with the same code. */
        snprintf(out + used, out_size - used,
                 " (TLS: no reason from OpenSSL: the broker is not reachable, or its "
                 "certificate does not name %.80s)",
                 s->o.host);
}

static void handle_connect_failure(struct mqtt_session *s, int code, int reason, const char *text)
{
    char why[MQTT_SESSION_DESCRIBE_SIZE];
    describe_failure(s, code, reason, text, why, sizeof(why));
    bool auth = mqtt_connack_is_authorisation(s->o.mqtt5, reason);
    s->address_index++; /* the next attempt tries the broker's next address, if any */
    destroy_client(s);
    struct mqtt_session_event ev = {.type = MQTT_SESSION_CONNECT_FAILED,
                                    .server_uri = s->server_uri,
                                    .failure = MQTT_SESSION_FAILED_BROKER,
                                    .description = why,
                                    .paho_code = code,
                                    .authorisation = auth};
    if (!auth && s->address_index % s->address_count != 0) {
        ev.next_address = true; /* an untried address: go on at once */
        s->next_connect_mono_ms = clock_mono_ms();
    } else {
        schedule_reconnect(s, auth ? MQTT_SESSION_RETRY_SLOW : MQTT_SESSION_RETRY_BACKOFF, 0);
        ev.retry_in_ms = s->next_connect_mono_ms - clock_mono_ms();
        ev.repeated = strcmp(why, s->last_failure) == 0;
        snprintf(s->last_failure, sizeof(s->last_failure), "%s", why);
    }
    deliver(s, &ev);
}

static void start_connect(struct mqtt_session *s)
{
    const struct mqtt_session_options *o = &s->o;
    broker_uri(o->host, o->port, o->tls, s->address_index, s->server_uri, &s->address_count);
    MQTTAsync_createOptions create_opts = MQTTAsync_createOptions_initializer;
    create_opts.MQTTVersion = o->mqtt5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    create_opts.sendWhileDisconnected = 0;
    if (o->max_buffered > 0)
        create_opts.maxBufferedMessages = (int)o->max_buffered;
    MQTTAsync client = NULL;
    int rc = MQTTAsync_createWithOptions(&client, s->server_uri, o->client_id,
                                         MQTTCLIENT_PERSISTENCE_NONE, NULL, &create_opts);
    if (rc != MQTTASYNC_SUCCESS) {
        schedule_reconnect(s, MQTT_SESSION_RETRY_SLOW, 0);
        struct mqtt_session_event ev = {.type = MQTT_SESSION_CONNECT_FAILED,
                                        .server_uri = s->server_uri,
                                        .failure = MQTT_SESSION_FAILED_CREATE,
                                        .description = MQTTAsync_strerror(rc),
                                        .paho_code = rc,
                                        .retry_in_ms = s->next_connect_mono_ms - clock_mono_ms()};
        deliver(s, &ev);
        return;
    }
    MQTTAsync_setCallbacks(client, s, on_connection_lost, on_message_arrived, NULL);

    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    will.topicName = o->will_topic;
    will.message = o->will_payload;
    will.retained = o->will_retain;
    will.qos = o->will_qos;

    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    ssl.enableServerCertAuth = 1;
    ssl.verify = 1; /* check the broker's host name against its certificate */
    ssl.sslVersion = MQTT_SSL_VERSION_DEFAULT; /* negotiates up to TLS 1.3 */
    if (o->ca_file[0])
        ssl.trustStore = o->ca_file;
    else
        ssl.CApath = "/etc/ssl/certs";
    if (o->cert_file[0]) {
        ssl.keyStore = o->cert_file;
        ssl.privateKey = o->key_file;
    }
    ssl.ssl_error_cb = on_tls_error;
    ssl.ssl_error_context = s;

    MQTTProperties props = MQTTProperties_initializer;
    MQTTAsync_connectOptions conn;
    if (o->mqtt5) {
        MQTTAsync_connectOptions init5 = MQTTAsync_connectOptions_initializer5;
        conn = init5;
        conn.cleanstart = o->clean_start;
        if (!o->clean_start) {
            /* a persistent session: the broker keeps the subscriptions, queues messages
             * while we are away and sends again what we had not acknowledged */
            MQTTProperty expiry = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL,
                                   .value.integer4 = o->session_expiry_s};
            MQTTProperties_add(&props, &expiry);
            conn.connectProperties = &props;
        }
        conn.onSuccess5 = on_connect_success5;
        conn.onFailure5 = on_connect_failure5;
    } else {
        MQTTAsync_connectOptions init3 = MQTTAsync_connectOptions_initializer;
        conn = init3;
        conn.cleansession = o->clean_start;
        conn.onSuccess = on_connect_success3;
        conn.onFailure = on_connect_failure3;
    }
    conn.context = s;
    conn.keepAliveInterval = (int)o->keepalive_s;
    conn.connectTimeout = (int)o->connect_timeout_s;
    if (o->max_inflight > 0)
        conn.maxInflight = (int)o->max_inflight;
    conn.automaticReconnect = 0; /* reconnects are ours: jitter, and a fresh client each time */
    conn.will = o->will_topic[0] ? &will : NULL;
    if (o->username[0]) {
        conn.username = o->username;
        conn.password = o->password;
    }
    if (o->tls)
        conn.ssl = &ssl;

    pthread_mutex_lock(&s->lock);
    s->tls_error[0] = '\0';
    pthread_mutex_unlock(&s->lock);
    struct mqtt_session_event connecting = {.type = MQTT_SESSION_CONNECTING,
                                            .server_uri = s->server_uri};
    deliver(s, &connecting);
    pthread_mutex_lock(&s->client_lock);
    s->client = client;
    pthread_mutex_unlock(&s->client_lock);
    rc = MQTTAsync_connect(client, &conn);
    MQTTProperties_free(&props); /* Paho copied them */
    if (rc != MQTTASYNC_SUCCESS) {
        s->address_index++;
        destroy_client(s);
        schedule_reconnect(s, MQTT_SESSION_RETRY_BACKOFF, 0);
        struct mqtt_session_event ev = {.type = MQTT_SESSION_CONNECT_FAILED,
                                        .server_uri = s->server_uri,
                                        .failure = MQTT_SESSION_FAILED_START,
                                        .description = MQTTAsync_strerror(rc),
                                        .paho_code = rc,
                                        .retry_in_ms = s->next_connect_mono_ms - clock_mono_ms()};
        deliver(s, &ev);
    }
}

int64_t mqtt_session_service(struct mqtt_session *s)
{
    if (s->stopped)
        return INT64_MAX;
    /* One event at a time: an event handler may drop the connection, which forgets
     * whatever else it had reported. */
    for (;;) {
        pthread_mutex_lock(&s->lock);
        bool failed = s->failed_event, connected = !failed && s->connected_event;
        bool lost = !failed && !connected && s->lost_event;
        int code = s->failure_code, reason = s->failure_reason;
        char text[FAILURE_TEXT_SIZE], cause[FAILURE_TEXT_SIZE];
        memcpy(text, s->failure_text, sizeof(text));
        memcpy(cause, s->lost_cause, sizeof(cause));
        if (failed)
            s->failed_event = false;
        else if (connected)
            s->connected_event = false;
        else if (lost)
            s->lost_event = false;
        pthread_mutex_unlock(&s->lock);

        if (failed) {
            handle_connect_failure(s, code, reason, text);
        } else if (connected) {
            struct mqtt_session_event ev = {.type = MQTT_SESSION_CONNECTED,
                                            .server_uri = s->server_uri,
                                            .reconnect_attempts = s->reconnect_attempt};
            s->reconnect_attempt = 0;
            s->last_failure[0] = '\0';
            deliver(s, &ev);
        } else if (lost) {
            destroy_client(s);
            schedule_reconnect(s, MQTT_SESSION_RETRY_BACKOFF, 0);
            struct mqtt_session_event ev = {.type = MQTT_SESSION_LOST,
                                            .server_uri = s->server_uri,
                                            .cause = cause,
                                            .retry_in_ms =
                                                s->next_connect_mono_ms - clock_mono_ms()};
            deliver(s, &ev);
        } else {
            break;
        }
    }
    if (s->client == NULL && !s->stopped && clock_mono_ms() >= s->next_connect_mono_ms)
        start_connect(s);
    return s->client == NULL && !s->stopped ? s->next_connect_mono_ms : INT64_MAX;
}

void mqtt_session_drop(struct mqtt_session *s, enum mqtt_session_retry retry, int64_t at_mono_ms)
{
    destroy_client(s);
    schedule_reconnect(s, retry, at_mono_ms);
}

bool mqtt_session_is_connected(struct mqtt_session *s)
{
    pthread_mutex_lock(&s->lock);
    bool connected = s->connected;
    pthread_mutex_unlock(&s->lock);
    return connected;
}

/* ---- requests (any thread but Paho's callbacks) ---- */

/* Paho is handed the request; on failure to hand it over, it was never outstanding. */
static void request_begin(struct mqtt_session *s, struct mqtt_session_request *req)
{
    if (req != NULL) {
        req->session = s;
        atomic_fetch_add(&s->outstanding, 1);
    }
}

static void request_abandon(struct mqtt_session *s, struct mqtt_session_request *req)
{
    if (req != NULL)
        atomic_fetch_sub(&s->outstanding, 1);
}

int mqtt_session_publish(struct mqtt_session *s, const struct mqtt_session_message *m,
                         struct mqtt_session_request *req)
{
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = (void *)m->payload;
    msg.payloadlen = (int)m->payload_len;
    msg.qos = m->qos;
    msg.retained = m->retain;
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    if (req != NULL) {
        opts.context = req;
        if (s->o.mqtt5) {
            opts.onSuccess5 = on_request_success5;
            opts.onFailure5 = on_request_failure5;
        } else {
            opts.onSuccess = on_publish_success3;
            opts.onFailure = on_request_failure3;
        }
    }
    if (s->o.mqtt5) {
        for (size_t i = 0; i < m->n_user_properties && i < MQTT_SESSION_MAX_PROPERTIES; i++) {
            MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_USER_PROPERTY};
            p.value.data.data = (char *)m->user_properties[i].key;
            p.value.data.len = (int)strlen(m->user_properties[i].key);
            p.value.value.data = (char *)m->user_properties[i].value;
            p.value.value.len = (int)strlen(m->user_properties[i].value);
            MQTTProperties_add(&msg.properties, &p);
        }
        if (m->content_type != NULL) {
            MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_CONTENT_TYPE};
            p.value.data.data = (char *)m->content_type;
            p.value.data.len = (int)strlen(m->content_type);
            MQTTProperties_add(&msg.properties, &p);
        }
    }
    request_begin(s, req);
    pthread_mutex_lock(&s->client_lock);
    int rc = s->client ? MQTTAsync_sendMessage(s->client, m->topic, &msg, &opts)
                       : MQTTASYNC_DISCONNECTED;
    pthread_mutex_unlock(&s->client_lock);
    MQTTProperties_free(&msg.properties); /* Paho copied them */
    if (rc != MQTTASYNC_SUCCESS)
        request_abandon(s, req);
    return rc;
}

int mqtt_session_subscribe(struct mqtt_session *s, const char *filter, int qos,
                           struct mqtt_session_request *req)
{
    MQTTAsync_responseOptions opts = MQTTAsync_responseOptions_initializer;
    if (req != NULL) {
        opts.context = req;
        if (s->o.mqtt5) {
            opts.onSuccess5 = on_request_success5;
            opts.onFailure5 = on_request_failure5;
        } else {
            opts.onSuccess = on_subscribe_success3;
            opts.onFailure = on_request_failure3;
        }
    }
    request_begin(s, req);
    pthread_mutex_lock(&s->client_lock);
    int rc =
        s->client ? MQTTAsync_subscribe(s->client, filter, qos, &opts) : MQTTASYNC_DISCONNECTED;
    pthread_mutex_unlock(&s->client_lock);
    if (rc != MQTTASYNC_SUCCESS)
        request_abandon(s, req);
    return rc;
}

/* ---- life cycle ---- */

void mqtt_session_global_init(void)
{
    MQTTAsync_init_options init = MQTTAsync_init_options_initializer;
    init.do_openssl_init = 1;
    MQTTAsync_global_init(&init);
}

/* Copies the option strings into the session, so that the caller's may go. */
static void copy_options(struct mqtt_session *s, const struct mqtt_session_options *o)
{
    s->o = *o;
    snprintf(s->host, sizeof(s->host), "%s", or_empty(o->host));
    snprintf(s->ca_file, sizeof(s->ca_file), "%s", or_empty(o->ca_file));
    snprintf(s->cert_file, sizeof(s->cert_file), "%s", or_empty(o->cert_file));
    snprintf(s->key_file, sizeof(s->key_file), "%s", or_empty(o->key_file));
    snprintf(s->username, sizeof(s->username), "%s", or_empty(o->username));
    snprintf(s->password, sizeof(s->password), "%s", or_empty(o->password));
    snprintf(s->client_id, sizeof(s->client_id), "%s", or_empty(o->client_id));
    snprintf(s->will_topic, sizeof(s->will_topic), "%s", or_empty(o->will_topic));
    snprintf(s->will_payload, sizeof(s->will_payload), "%s", or_empty(o->will_payload));
    s->o.host = s->host;
    s->o.ca_file = s->ca_file;
    s->o.cert_file = s->cert_file;
    s->o.key_file = s->key_file;
    s->o.username = s->username;
    s->o.password = s->password;
    s->o.client_id = s->client_id;
    s->o.will_topic = s->will_topic;
    s->o.will_payload = s->will_payload;
}

int mqtt_session_create(struct mqtt_session **out, const struct mqtt_session_options *o,
                        const struct mqtt_session_callbacks *cb, char *err, size_t err_size)
{
    *out = NULL;
    if (mqtt_session_check_options(o, err, err_size) != 0)
        return -1;
    if (cb == NULL || cb->wake == NULL || cb->event == NULL) {
        snprintf(err, err_size, "callbacks: wake and event are required");
        return -1;
    }
    struct mqtt_session *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    copy_options(s, o);
    s->cb = *cb;
    s->address_count = 1;
    s->next_connect_mono_ms = clock_mono_ms(); /* the first attempt at once */
    backoff_rng_seed(&s->rng, (uint64_t)(uintptr_t)s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->client_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &attr);
    pthread_condattr_destroy(&attr);
    *out = s;
    return 0;
}

/* Waits on s->cond (s->lock held) until *flag, or outstanding is 0 (flag NULL), or
 * deadline_mono_ms. */
static void wait_locked(struct mqtt_session *s, const bool *flag, int64_t deadline_mono_ms)
{
    while (clock_mono_ms() < deadline_mono_ms &&
           (flag ? !*flag : atomic_load(&s->outstanding) > 0)) {
        struct timespec ts = {.tv_sec = (time_t)(deadline_mono_ms / 1000),
                              .tv_nsec = (long)(deadline_mono_ms % 1000) * 1000000L};
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
}

void mqtt_session_stop(struct mqtt_session *s, const struct mqtt_session_message *last,
                       uint32_t drain_ms)
{
    s->stopped = true; /* no attempt after this */
    if (s->client != NULL && MQTTAsync_isConnected(s->client)) {
        /* The last word first (when there is one), then a moment for what is outstanding:
         * whatever is not acknowledged by then is the owner's to keep. */
        atomic_store(&s->draining, true);
        s->last_request = (struct mqtt_session_request){0};
        bool drain = last == NULL || mqtt_session_publish(s, last, &s->last_request) == 0;
        if (drain) {
            pthread_mutex_lock(&s->lock);
            wait_locked(s, NULL, clock_mono_ms() + drain_ms);
            pthread_mutex_unlock(&s->lock);
        }

        MQTTAsync_disconnectOptions disc3 = MQTTAsync_disconnectOptions_initializer;
        MQTTAsync_disconnectOptions disc5 = MQTTAsync_disconnectOptions_initializer5;
        MQTTAsync_disconnectOptions disc = s->o.mqtt5 ? disc5 : disc3;
        disc.timeout = 0; /* the waiting was done above */
        s->stop_request = (struct mqtt_session_request){.done = on_disconnect_done, .ctx = s};
        disc.context = &s->stop_request;
        if (s->o.mqtt5) {
            disc.onSuccess5 = on_request_success5;
            disc.onFailure5 = on_request_failure5;
        } else {
            disc.onSuccess = on_publish_success3;
            disc.onFailure = on_request_failure3;
        }
        pthread_mutex_lock(&s->lock);
        s->disconnected = false;
        pthread_mutex_unlock(&s->lock);
        request_begin(s, &s->stop_request);
        if (MQTTAsync_disconnect(s->client, &disc) == MQTTASYNC_SUCCESS) {
            pthread_mutex_lock(&s->lock);
            wait_locked(s, &s->disconnected, clock_mono_ms() + DISCONNECT_WAIT_MS);
            pthread_mutex_unlock(&s->lock);
        } else {
            request_abandon(s, &s->stop_request);
        }
    }
    destroy_client(s);
}

void mqtt_session_free(struct mqtt_session *s)
{
    if (s == NULL)
        return;
    destroy_client(s);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->client_lock);
    free(s);
}

const char *mqtt_session_strerror(int paho_code)
{
    return MQTTAsync_strerror(paho_code);
}

const char *mqtt_session_reason_string(int reason_code)
{
    return MQTTReasonCode_toString((enum MQTTReasonCodes)reason_code);
}
