/*
 * os2iot_http_output.c - the os2iot-http output (output/os2iot_http_output.h): journal to
 * OS2iot's receive-data endpoint with libcurl, one request at a time on its own thread.
 *
 * Passes. The thread walks the pending frames after its cursor, oldest first. A device that
 * was refused (4xx, no key) is put on the held list and its later frames are skipped for the
 * rest of the pass, so no frame of it is marked past one that was not delivered. When a held
 * device is due again (refused_retry_s) or the registry changed (a key was fixed), the cursor
 * goes back to 0 and a new pass starts; frames delivered already are skipped quickly
 * (journal_writer_delivery, no SQL). A failure of the destination (5xx, timeout) pauses the
 * whole output with backoff and rewinds the cursor to just before the failed frame.
 *
 * Shared state (stopping, wake, stats) sits under o->lock; the rest belongs to the thread.
 */
#include "output/os2iot_http_output.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "decode.h"
#include "lorawan/registry.h"
#include "render.h"
#include "report.h"
#include "store/journal.h"
#include "store/journal_writer.h"
#include "util/backoff.h"
#include "util/clock.h"
#include "util/log.h"

#define FETCH_BATCH  64
#define IDLE_WAKE_MS 1000
#define MAX_HELD     1024 /* held devices tracked; past it a pass stops at the first refusal */
#define KEY_SIZE     128
#define URL_SIZE     (CONFIG_PATH_SIZE + 32 + KEY_SIZE)

/* A device refused in this pass (or earlier and not yet due again). */
struct held_device {
    char device[FRAME_DEVICE_ID_SIZE];
    int64_t retry_mono_ms; /* tried again from then on */
    bool logged;
};

struct os2iot_http {
    struct output_context ctx;
    const struct config_os2iot_http *opts;
    struct journal_writer *writer;

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake_cond;
    atomic_bool stopping_flag; /* read by curl's progress callback without the lock */

    /* --- under lock --- */
    bool stopping;
    bool wake;
    struct os2iot_http_stats stats;

    /* --- the thread's --- */
    CURL *curl;
    struct curl_slist *headers;
    struct journal *journal;
    struct registry *registry;
    int64_t registry_generation;
    struct decoder *decoder;
    struct decoded_uplink *uplink;
    struct journal_frame *batch;
    char *json;
    int64_t cursor;
    int64_t paused_until_mono_ms;
    uint32_t failure_streak;
    struct backoff_rng rng;
    struct held_device *held;
    size_t n_held;
    bool held_full;
};

static void set_state(struct os2iot_http *o, enum os2iot_http_state state)
{
    pthread_mutex_lock(&o->lock);
    o->stats.state = state;
    pthread_mutex_unlock(&o->lock);
}

static struct held_device *find_held(struct os2iot_http *o, const char *device)
{
    for (size_t i = 0; i < o->n_held; i++)
        if (strcmp(o->held[i].device, device) == 0)
            return &o->held[i];
    return NULL;
}

static void count_misconfigured(struct os2iot_http *o)
{
    pthread_mutex_lock(&o->lock);
    o->stats.misconfigured_devices = (uint32_t)o->n_held;
    pthread_mutex_unlock(&o->lock);
}

/* The device delivered: it is no longer misconfigured. */
static void release_held(struct os2iot_http *o, const char *device)
{
    struct held_device *h = find_held(o, device);
    if (h == NULL)
        return;
    log_info("os2iot-http %s: device %s delivers again", o->ctx.name, device);
    *h = o->held[--o->n_held];
    count_misconfigured(o);
}

/* Refused: held until refused_retry_s from now, logged once per episode. */
static void hold_device(struct os2iot_http *o, const char *device, const char *why)
{
    struct held_device *h = find_held(o, device);
    if (h == NULL) {
        if (o->n_held == MAX_HELD) {
            o->held_full = true;
            return;
        }
        h = &o->held[o->n_held++];
        memset(h, 0, sizeof(*h));
        snprintf(h->device, sizeof(h->device), "%s", device);
    }
    h->retry_mono_ms = clock_mono_ms() + (int64_t)o->opts->refused_retry_s * 1000;
    if (!h->logged) {
        log_warn("os2iot-http %s: device %s is misconfigured (%s); its frames are held and "
                 "tried again every %" PRIu32 " s or when the registry changes",
                 o->ctx.name, device, why, o->opts->refused_retry_s);
        h->logged = true;
    }
    count_misconfigured(o);
}

/* A held device whose time came, or a registry change: a new pass from the start. */
static void maybe_rewind(struct os2iot_http *o)
{
    bool rewind = false;
    int64_t generation = o->registry_generation;
    if (o->registry && registry_settings_generation(o->registry, &generation) == 0 &&
        generation != o->registry_generation) {
        o->registry_generation = generation;
        for (size_t i = 0; i < o->n_held; i++)
            o->held[i].retry_mono_ms = 0;
    }
    int64_t now = clock_mono_ms();
    for (size_t i = 0; i < o->n_held; i++)
        if (o->held[i].retry_mono_ms <= now && o->held[i].retry_mono_ms >= 0) {
            o->held[i].retry_mono_ms = -1; /* due: tried once in the coming pass */
            rewind = true;
        }
    if (rewind || o->held_full) {
        o->held_full = false;
        o->cursor = 0;
    }
}

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    struct os2iot_http *o = ctx;
    pthread_mutex_lock(&o->lock);
    o->stats.loop_mono_ms = clock_mono_ms(); /* alive while the request waits */
    pthread_mutex_unlock(&o->lock);
    return atomic_load(&o->stopping_flag) ? 1 : 0; /* non-zero aborts the transfer */
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    (void)ptr, (void)ctx;
    return size * nmemb;
}

/* Percent-encodes what a key might hold outside [A-Za-z0-9-._~] (UUIDs have nothing). */
static int url_with_key(char *out, size_t out_size, const char *base, const char *key)
{
    size_t n = (size_t)snprintf(out, out_size, "%s?apiKey=", base);
    for (const unsigned char *p = (const unsigned char *)key; *p && n + 4 < out_size; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            out[n++] = (char)*p;
        else
            n += (size_t)snprintf(out + n, out_size - n, "%%%02X", *p);
    }
    if (n + 4 >= out_size)
        return -1;
    out[n] = '\0';
    return 0;
}

enum post_result { POST_DELIVERED, POST_REFUSED, POST_FAILED, POST_STOPPED };

/* POSTs json for device with key. *status is the HTTP status (0 when none). */
static enum post_result post(struct os2iot_http *o, const char *key, const char *json, size_t len,
                             long *status, char *why, size_t why_size)
{
    char url[URL_SIZE];
    *status = 0;
    if (url_with_key(url, sizeof(url), o->opts->url, key) != 0) {
        snprintf(why, why_size, "os2iot.api_key too long");
        return POST_REFUSED;
    }
    curl_easy_setopt(o->curl, CURLOPT_URL, url);
    curl_easy_setopt(o->curl, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(o->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    pthread_mutex_lock(&o->lock);
    o->stats.sent++;
    o->stats.in_flight = 1;
    o->stats.state = OS2IOT_HTTP_DELIVERING;
    o->stats.answer_mono_ms = clock_mono_ms();
    pthread_mutex_unlock(&o->lock);
    CURLcode rc = curl_easy_perform(o->curl);
    OPENSSL_cleanse(url, sizeof(url));
    curl_easy_setopt(o->curl, CURLOPT_URL, "");
    if (rc == CURLE_OK)
        curl_easy_getinfo(o->curl, CURLINFO_RESPONSE_CODE, status);
    pthread_mutex_lock(&o->lock);
    o->stats.in_flight = 0;
    if (rc == CURLE_OK)
        o->stats.answer_mono_ms = clock_mono_ms();
    pthread_mutex_unlock(&o->lock);
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return POST_STOPPED;
    if (rc != CURLE_OK) {
        /* curl's own text only: the error buffer could quote the URL, and with it the key */
        snprintf(why, why_size, "%s", curl_easy_strerror(rc));
        return POST_FAILED;
    }
    if (*status >= 200 && *status < 300)
        return POST_DELIVERED;
    snprintf(why, why_size, "HTTP %ld", *status);
    if (*status >= 400 && *status < 500 && *status != 408 && *status != 429)
        return POST_REFUSED;
    return POST_FAILED; /* 5xx, 408, 429, and anything else unexpected */
}

/* Decodes and renders a frame into o->json. Returns 0, or -1 with the reason. */
static int prepare(struct os2iot_http *o, const struct journal_frame *f, size_t *json_len,
                   char reason[JOURNAL_REASON_SIZE])
{
    if (f->damaged) {
        snprintf(reason, JOURNAL_REASON_SIZE, "%s", f->damage);
        return -1;
    }
    char why[DECODE_REASON_SIZE];
    if (decode_uplink(o->decoder, f->record.payload, f->record.payload_len,
                      frame_anchor_ms(&f->record), o->uplink, why) != 0) {
        snprintf(reason, JOURNAL_REASON_SIZE, "%s", why);
        return -1;
    }
    struct render_meta meta = {.device = f->record.device,
                               .gateway = o->ctx.gateway_id,
                               .transport = f->record.transport,
                               .received_ms = f->record.received_ms,
                               .heard_ms = f->record.heard_ms,
                               .epoch = f->epoch,
                               .radio = &f->record.radio};
    char render_why[RENDER_REASON_SIZE];
    if (render_json(o->uplink, &meta, o->json, RENDER_MAX_JSON_BYTES, json_len, render_why) != 0) {
        snprintf(reason, JOURNAL_REASON_SIZE, "render: %s", render_why);
        return -1;
    }
    return 0;
}

static void count(struct os2iot_http *o, uint64_t *counter)
{
    pthread_mutex_lock(&o->lock);
    (*counter)++;
    pthread_mutex_unlock(&o->lock);
}

static bool is_stopping(struct os2iot_http *o)
{
    return atomic_load(&o->stopping_flag);
}

/* One frame. Returns false when the pass must stop (failure, stop). */
static bool deliver_one(struct os2iot_http *o, const struct journal_frame *f)
{
    const char *device = f->record.device;
    struct held_device *h = find_held(o, device);
    if (h != NULL && h->retry_mono_ms != -1)
        return true; /* held: its later frames wait for it */
    char route[16];
    size_t len = 0;
    bool found = false;
    if (o->registry &&
        registry_get_setting(o->registry, device, "os2iot.output", route, sizeof(route), &len,
                             &found) == 0 &&
        found && strcmp(route, "mqtt") == 0) {
        count(o, &o->stats.skipped); /* an MQTT device in OS2iot: not this output's */
        journal_writer_mark_delivered(o->writer, o->ctx.index, device, f->id, clock_wall_ms());
        return true;
    }
    size_t json_len = 0;
    char reason[JOURNAL_REASON_SIZE];
    if (prepare(o, f, &json_len, reason) != 0) {
        count(o, &o->stats.quarantined);
        log_warn("os2iot-http %s: frame %" PRId64 " from %s cannot be sent (%s); moved to "
                 "quarantine",
                 o->ctx.name, f->id, device, reason);
        journal_writer_move_to_quarantine(o->writer, f->id, reason);
        return true;
    }
    char key[KEY_SIZE];
    found = false;
    if (o->registry == NULL ||
        registry_get_setting(o->registry, device, "os2iot.api_key", key, sizeof(key), &len,
                             &found) != 0 ||
        !found) {
        count(o, &o->stats.refused);
        hold_device(o, device, "no os2iot.api_key in the registry");
        return true;
    }
    long status;
    char why[128];
    enum post_result r = post(o, key, o->json, json_len, &status, why, sizeof(why));
    OPENSSL_cleanse(key, sizeof(key));
    switch (r) {
    case POST_DELIVERED:
        pthread_mutex_lock(&o->lock);
        o->stats.delivered++;
        o->stats.state = OS2IOT_HTTP_IDLE;
        pthread_mutex_unlock(&o->lock);
        o->failure_streak = 0;
        release_held(o, device);
        journal_writer_mark_delivered(o->writer, o->ctx.index, device, f->id, clock_wall_ms());
        return true;
    case POST_REFUSED:
        count(o, &o->stats.refused);
        set_state(o, OS2IOT_HTTP_IDLE);
        hold_device(o, device, why);
        return !o->held_full;
    case POST_FAILED: {
        count(o, &o->stats.failures);
        set_state(o, OS2IOT_HTTP_RETRYING);
        uint64_t delay = backoff_full_jitter_ms(&o->rng, o->opts->retry_min_ms,
                                                o->opts->retry_max_ms, o->failure_streak);
        if (o->failure_streak++ == 0)
            log_warn("os2iot-http %s: %s (frame %" PRId64 " of %s); retrying with backoff",
                     o->ctx.name, why, f->id, device);
        else
            log_debug("os2iot-http %s: %s again; next try in %" PRIu64 " ms", o->ctx.name, why,
                      delay);
        o->paused_until_mono_ms = clock_mono_ms() + (int64_t)delay;
        o->cursor = f->id - 1;
        /* A held device that was due in this pass may have frames before the cursor that
         * the pass did not reach: due again, so that the next pass starts from 0 (else its
         * later frames would go before its earlier ones). */
        for (size_t i = 0; i < o->n_held; i++)
            if (o->held[i].retry_mono_ms == -1)
                o->held[i].retry_mono_ms = 0;
        return false;
    }
    case POST_STOPPED:
        return false;
    }
    return false;
}

/* Delivers what is pending after the cursor until none is, a failure or a stop. */
static void drain(struct os2iot_http *o)
{
    while (!is_stopping(o) && clock_mono_ms() >= o->paused_until_mono_ms) {
        size_t n = 0;
        if (journal_read_pending(o->journal, o->cursor, o->batch, FETCH_BATCH, &n) != 0) {
            log_error("os2iot-http %s: reading the journal failed: %s", o->ctx.name,
                      journal_errmsg(o->journal));
            return;
        }
        if (n == 0)
            return;
        for (size_t i = 0; i < n; i++) {
            const struct journal_frame *f = &o->batch[i];
            enum journal_delivery d =
                journal_writer_delivery(o->writer, o->ctx.index, f->record.device, f->id);
            if (d != JOURNAL_UNDELIVERED) {
                o->cursor = f->id;
                if (d == JOURNAL_DELIVERED_ALL) /* every output is past it: its mark was lost */
                    journal_writer_mark_delivered(o->writer, o->ctx.index, f->record.device, f->id,
                                                  clock_wall_ms());
                continue;
            }
            if (!deliver_one(o, f))
                return;
            o->cursor = f->id;
            pthread_mutex_lock(&o->lock);
            o->stats.loop_mono_ms = clock_mono_ms();
            pthread_mutex_unlock(&o->lock);
        }
    }
}

static void *os2iot_http_main(void *arg)
{
    struct os2iot_http *o = arg;
    for (;;) {
        pthread_mutex_lock(&o->lock);
        int64_t deadline = clock_mono_ms() + IDLE_WAKE_MS;
        if (o->paused_until_mono_ms > clock_mono_ms() && o->paused_until_mono_ms < deadline)
            deadline = o->paused_until_mono_ms;
        while (!o->stopping && !o->wake) {
            struct timespec ts = {.tv_sec = (time_t)(deadline / 1000),
                                  .tv_nsec = (long)(deadline % 1000) * 1000000L};
            if (pthread_cond_timedwait(&o->wake_cond, &o->lock, &ts) == ETIMEDOUT)
                break;
        }
        o->wake = false;
        o->stats.loop_mono_ms = clock_mono_ms();
        bool stopping = o->stopping;
        pthread_mutex_unlock(&o->lock);
        if (stopping)
            break;
        maybe_rewind(o);
        drain(o);
    }
    return NULL;
}

static void wake(struct os2iot_http *o)
{
    pthread_mutex_lock(&o->lock);
    o->wake = true;
    pthread_cond_signal(&o->wake_cond);
    pthread_mutex_unlock(&o->lock);
}

static void free_output(struct os2iot_http *o)
{
    if (o->curl)
        curl_easy_cleanup(o->curl);
    curl_slist_free_all(o->headers);
    registry_close(o->registry);
    journal_close(o->journal);
    free(o->decoder);
    free(o->uplink);
    free(o->batch);
    free(o->json);
    free(o->held);
    free(o);
}

static int setup_curl(struct os2iot_http *o, char *err, size_t err_size)
{
    o->curl = curl_easy_init();
    o->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (o->curl == NULL || o->headers == NULL) {
        snprintf(err, err_size, "cannot make a libcurl handle");
        return -1;
    }
    CURL *c = o->curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect would carry the key away */
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (o->opts->ca_file[0] != '\0')
        curl_easy_setopt(c, CURLOPT_CAINFO, o->opts->ca_file);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)o->opts->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->opts->timeout_ms);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, o->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sensorbro");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, o);
    return 0;
}

static int type_start(void **out, const struct output_context *ctx, char *err, size_t err_size)
{
    *out = NULL;
    struct os2iot_http *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    o->ctx = *ctx;
    o->opts = ctx->options;
    o->writer = ctx->writer;
    o->decoder = malloc(sizeof(struct decoder));
    o->uplink = malloc(sizeof(struct decoded_uplink));
    o->batch = malloc(sizeof(struct journal_frame) * FETCH_BATCH);
    o->json = malloc(RENDER_MAX_JSON_BYTES);
    o->held = calloc(MAX_HELD, sizeof(struct held_device));
    if (!o->decoder || !o->uplink || !o->batch || !o->json || !o->held) {
        snprintf(err, err_size, "out of memory");
        free_output(o);
        return -1;
    }
    backoff_rng_seed(&o->rng, (uint64_t)(uintptr_t)o);
    o->stats.loop_mono_ms = o->stats.answer_mono_ms = clock_mono_ms();
    /* libcurl's global init happens in the first curl_easy_init, here on the main thread
     * before any output thread runs (Debian 12's 7.88 makes it thread-safe anyway) */
    if (setup_curl(o, err, err_size) != 0) {
        free_output(o);
        return -1;
    }
    struct journal_options jopts = {.read_only = true, .busy_timeout_ms = 5000};
    if (journal_open(&o->journal, ctx->journal_path, &jopts, err, err_size) != 0) {
        free_output(o);
        return -1;
    }
    if (registry_open(&o->registry, ctx->journal_path, true, 5000, err, err_size) != 0) {
        free_output(o);
        return -1;
    }
    registry_settings_generation(o->registry, &o->registry_generation);
    pthread_mutex_init(&o->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&o->wake_cond, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&o->thread, NULL, os2iot_http_main, o);
    if (rc != 0) {
        snprintf(err, err_size, "cannot start the os2iot-http thread: %s", strerror(rc));
        pthread_cond_destroy(&o->wake_cond);
        pthread_mutex_destroy(&o->lock);
        free_output(o);
        return -1;
    }
    *out = o;
    return 0;
}

static void type_notify(void *output)
{
    wake(output);
}

static void type_get_stats(void *output, void *stats)
{
    struct os2iot_http *o = output;
    pthread_mutex_lock(&o->lock);
    *(struct os2iot_http_stats *)stats = o->stats;
    pthread_mutex_unlock(&o->lock);
}

static void type_collect(const void *stats, struct report *r)
{
    const struct os2iot_http_stats *s = stats;
    report_labelled(r, "sensorbro_frames_quarantined_total", "stage", "os2iot-http", "quarantined ",
                    s->quarantined);
    report_counter(r, "sensorbro_os2iot_http_requests_total", ", requests ", s->sent);
    report_counter(r, "sensorbro_os2iot_http_delivered_total", ", delivered ", s->delivered);
    report_counter(r, "sensorbro_os2iot_http_refused_total", ", refused ", s->refused);
    report_counter(r, "sensorbro_os2iot_http_failures_total", ", failures ", s->failures);
    report_counter(r, "sensorbro_os2iot_http_skipped_total", ", skipped ", s->skipped);
    report_gauge(r, "sensorbro_os2iot_http_misconfigured_devices", ", misconfigured devices ",
                 s->misconfigured_devices);
    report_gauge(r, "sensorbro_os2iot_http_in_flight", ", in flight ", s->in_flight);
}

static void type_health(const void *stats, const void *options, struct output_health *h)
{
    const struct os2iot_http_stats *s = stats;
    const struct config_os2iot_http *cfg = options;
    h->destination = "OS2iot";
    h->state = s->state == OS2IOT_HTTP_RETRYING     ? "failing, retrying"
               : s->state == OS2IOT_HTTP_DELIVERING ? "delivering"
                                                    : "idle";
    h->connected = s->state != OS2IOT_HTTP_RETRYING;
    h->in_flight = s->in_flight;
    h->delivered = s->delivered;
    h->loop_mono_ms = s->loop_mono_ms;
    h->answer_mono_ms = s->answer_mono_ms;
    h->answer_grace_ms = (int64_t)cfg->timeout_ms; /* curl gives up on a request by then */
}

static void type_stop(void *output, void *final_stats)
{
    struct os2iot_http *o = output;
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->lock);
    o->stopping = true;
    atomic_store(&o->stopping_flag, true);
    pthread_cond_signal(&o->wake_cond);
    pthread_mutex_unlock(&o->lock);
    pthread_join(o->thread, NULL);
    if (final_stats)
        type_get_stats(o, final_stats);
    pthread_cond_destroy(&o->wake_cond);
    pthread_mutex_destroy(&o->lock);
    free_output(o);
}

const struct output_type os2iot_http_output_type = {
    .name = "os2iot-http",
    .stats_size = sizeof(struct os2iot_http_stats),
    .start = type_start,
    .notify = type_notify,
    .get_stats = type_get_stats,
    .collect = type_collect,
    .health = type_health,
    .stop = type_stop,
};
