/*
 * fleet.c - the networked run of the fleet simulator (fleet.h).
 *
 * One thread, one loop: fire due timers, start the uplinks the rate allows, then let
 * libcoap wait for traffic until the next thing is due. A node is in one of three states:
 *
 *            start              2.04, 4.xx, another answer, or retries spent
 *     IDLE ────────▶ IN_FLIGHT ──────────────────────────────────────────────▶ IDLE
 *                     │  ▲  ▲
 *                5.03 │  │  └── timeout with retries left: re-send at once
 *                     ▼  │
 *                    WAITING ── Max-Age over: re-send
 *
 * A re-send carries the same bytes (same seq and samples) under a new token. On stop
 * (--duration, a signal) nodes that are WAITING give up at once and IN_FLIGHT ones at
 * their answer or timeout; --count only stops new uplinks, re-sends go on.
 *
 * Idle nodes wait in a FIFO, so new uplinks go to the node idle longest: round robin while
 * every node keeps up, and no node starves when some are slow. Every non-idle node has one
 * timer in the heap (its attempt's timeout, or the end of its 5.03 wait), so finding what
 * is due costs O(log n) however large the fleet.
 *
 * The CoAP handlers only record: they update the node and its timer and never send, so
 * that no libcoap call runs inside another; re-sends happen when their timer fires.
 */
#include "fleet.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coap_client.h"
#include "timer_heap.h"
#include "uplink.h"

#define US_PER_S          1000000
#define US_PER_MS         1000
#define MAX_LOOP_WAIT_US  (100 * US_PER_MS) /* to notice --duration and signals promptly */
#define RATE_CATCH_UP_US  US_PER_S          /* a stalled pace may catch up this much at once */
#define PROGRESS_EVERY_US (10 * US_PER_S)
#define URI_PATH_SIZE     (sizeof("up/") + NODE_EUI_DIGITS)

enum node_state {
    NODE_IDLE,      /* in the ready FIFO */
    NODE_IN_FLIGHT, /* a transmission is out; timer: its timeout */
    NODE_WAITING,   /* answered 5.03; timer: when to re-send */
};

/* A node's uplink in progress, with what --log-sent wants of it. */
struct pending {
    enum node_state state;
    uint32_t seq;
    size_t payload_len;
    uint8_t *payload; /* max_payload_bytes, in fleet.payloads */
    int64_t first_sent_us;
    int64_t first_sent_wall_us; /* the same moment on the wall clock, for --log-sent */
    uint32_t timeouts;          /* transmissions of this uplink that went unanswered */
    bool undeliverable;         /* libcoap reported the current transmission undeliverable */
    size_t sample_count;
    struct signals_sample last; /* the latest sample */
};

struct fleet {
    const struct fleet_options *opts;
    struct node *nodes;
    struct pending *pending;
    uint8_t *payloads;
    struct coap_client *client;
    struct timer_heap timers;
    struct fleet_stats *stats;
    FILE *log_sent;
    bool log_sent_failed;

    uint32_t *ready; /* FIFO ring of idle node ids */
    size_t ready_head, ready_count;
    size_t busy; /* nodes not idle */

    int64_t start_us;
    double next_start_us;  /* when the rate allows the next new uplink */
    bool stopping;         /* no new uplinks, no re-sends */
    bool logged_code[256]; /* answer codes already logged, by code byte */
    bool logged_undeliverable;
    bool logged_send_failure;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * US_PER_S + ts.tv_nsec / 1000;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * US_PER_S + ts.tv_nsec / 1000;
}

static void note(const struct fleet *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A per-event log line, unless --quiet. */
static void note(const struct fleet *f, const char *fmt, ...)
{
    if (f->opts->quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("sensorbro-fleet-sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- idle nodes and timers ---- */

static void make_idle(struct fleet *f, uint32_t id)
{
    assert(f->ready_count < f->opts->sensors);
    f->pending[id].state = NODE_IDLE;
    f->ready[(f->ready_head + f->ready_count) % f->opts->sensors] = id;
    f->ready_count++;
}

static uint32_t take_idle(struct fleet *f)
{
    assert(f->ready_count > 0);
    uint32_t id = f->ready[f->ready_head];
    f->ready_head = (f->ready_head + 1) % f->opts->sensors;
    f->ready_count--;
    return id;
}

/* The node's uplink is over, whatever its outcome. */
static void finish_uplink(struct fleet *f, uint32_t id)
{
    timer_heap_cancel(&f->timers, id);
    assert(f->busy > 0);
    f->busy--;
    make_idle(f, id);
}

static bool count_reached(const struct fleet *f)
{
    return f->opts->count > 0 && f->stats->sent >= f->opts->count;
}

/* ---- sending ---- */

static void transmit(struct fleet *f, uint32_t id, int64_t now_us)
{
    struct pending *p = &f->pending[id];
    char path[URI_PATH_SIZE];
    snprintf(path, sizeof(path), "up/%s", f->nodes[id].eui);
    p->state = NODE_IN_FLIGHT;
    p->undeliverable = false;
    f->stats->attempts++;
    /* A failed send is handled as an unanswered one: its timeout re-sends it. */
    if (coap_client_post(f->client, id, path, p->payload, p->payload_len) != 0 &&
        !f->logged_send_failure) {
        f->logged_send_failure = true;
        fprintf(stderr,
                "sensorbro-fleet-sim: %s seq %" PRIu32 ": libcoap could not send it; will retry"
                " after --timeout-ms (further failures are only counted as timeouts)\n",
                f->nodes[id].eui, p->seq);
    }
    timer_heap_set(&f->timers, id, now_us + (int64_t)f->opts->timeout_ms * US_PER_MS);
}

/* Simulated unix time now: start time + wall-clock time elapsed x speed. */
static int64_t simulated_now_s(const struct fleet *f, int64_t now_us)
{
    double elapsed_s = (double)(now_us - f->start_us) / US_PER_S;
    return f->opts->start_time_s + (int64_t)floor(elapsed_s * f->opts->speed);
}

static void start_uplink(struct fleet *f, uint32_t id, int64_t now_us)
{
    struct pending *p = &f->pending[id];
    struct uplink_frame frame;
    node_next_uplink(&f->nodes[id], &f->opts->shape, simulated_now_s(f, now_us), &frame);
    /* Cannot fail: options_parse refused shapes whose worst case exceeds the payload size. */
    p->payload_len = uplink_encode(&frame, p->payload, f->opts->max_payload_bytes);
    assert(p->payload_len > 0);
    p->seq = frame.seq;
    p->first_sent_us = now_us;
    p->first_sent_wall_us = wall_us();
    p->timeouts = 0;
    p->sample_count = frame.sample_count;
    p->last = frame.samples[frame.sample_count - 1];
    f->busy++;
    f->stats->sent++;
    transmit(f, id, now_us);
}

/* Starts as many new uplinks as the rate allows by now. */
static void start_uplinks(struct fleet *f, int64_t now_us)
{
    double period_us = f->opts->rate_per_s > 0 ? US_PER_S / f->opts->rate_per_s : 0.0;
    while (!f->stopping && !count_reached(f) && f->ready_count > 0) {
        if (period_us > 0) {
            /* After a stall (every node busy), catch up at most RATE_CATCH_UP_US at once. */
            if (f->next_start_us < (double)(now_us - RATE_CATCH_UP_US))
                f->next_start_us = (double)(now_us - RATE_CATCH_UP_US);
            if (f->next_start_us > (double)now_us)
                break;
            f->next_start_us += period_us;
        }
        start_uplink(f, take_idle(f), now_us);
    }
}

/* ---- outcomes ---- */

static void write_log_sent(struct fleet *f, uint32_t id, int64_t received_ms)
{
    if (f->log_sent == NULL || f->log_sent_failed)
        return;
    const struct pending *p = &f->pending[id];
    unsigned q = f->opts->shape.quantities;
    char temperature[16] = "", humidity[16] = "", co2[16] = "", battery[16] = "";
    if (q & UPLINK_TEMPERATURE)
        snprintf(temperature, sizeof(temperature), "%" PRId32, p->last.temperature_centi_c);
    if (q & UPLINK_RELATIVE_HUMIDITY)
        snprintf(humidity, sizeof(humidity), "%" PRId32, p->last.humidity_deci_pct);
    if (q & UPLINK_CO2)
        snprintf(co2, sizeof(co2), "%" PRId32, p->last.co2_ppm);
    if (q & UPLINK_BATTERY)
        snprintf(battery, sizeof(battery), "%" PRId32, p->last.battery_mv);
    if (fprintf(f->log_sent, "%s,%" PRIu32 ",%" PRId64 ",%zu,%s,%s,%s,%s,%" PRId64 "\n",
                f->nodes[id].eui, p->seq, received_ms, p->sample_count, temperature, humidity, co2,
                battery, p->first_sent_wall_us) < 0)
        f->log_sent_failed = true;
}

/* Logs the first answer with this code; later ones are only counted. */
static void note_code_once(struct fleet *f, uint32_t id, const struct coap_client_answer *a,
                           const char *what)
{
    unsigned code = (a->code_class << 5 | a->code_detail) & 0xff;
    if (f->logged_code[code])
        return;
    f->logged_code[code] = true;
    note(f, "%s seq %" PRIu32 ": %s %u.%02u '%.*s' (further %u.%02u answers are only counted)",
         f->nodes[id].eui, f->pending[id].seq, what, a->code_class, a->code_detail,
         (int)a->diagnostic_len, a->diagnostic ? (const char *)a->diagnostic : "", a->code_class,
         a->code_detail);
}

static void on_answer(void *context, size_t peer, const struct coap_client_answer *a)
{
    struct fleet *f = context;
    uint32_t id = (uint32_t)peer;
    struct pending *p = &f->pending[id];
    assert(p->state == NODE_IN_FLIGHT); /* the client passes on answers to current requests */
    int64_t now_us = mono_us();

    if (a->code_class == 2 && a->code_detail == 4) {
        f->stats->delivered++;
        latency_record(&f->stats->latency, now_us - p->first_sent_us);
        write_log_sent(f, id, wall_us() / US_PER_MS);
        finish_uplink(f, id);
    } else if (a->code_class == 5 && a->code_detail == 3) {
        if (f->stopping) {
            f->stats->unfinished++;
            finish_uplink(f, id);
            return;
        }
        uint32_t wait_s = a->has_max_age ? a->max_age_s : FLEET_DEFAULT_MAX_AGE_S;
        if (wait_s > FLEET_MAX_AGE_CAP_S)
            wait_s = FLEET_MAX_AGE_CAP_S;
        note(f, "%s seq %" PRIu32 ": 5.03 '%.*s', re-sending in %" PRIu32 " s", f->nodes[id].eui,
             p->seq, (int)a->diagnostic_len, a->diagnostic ? (const char *)a->diagnostic : "",
             wait_s);
        p->state = NODE_WAITING;
        timer_heap_set(&f->timers, id, now_us + (int64_t)wait_s * US_PER_S);
    } else if (a->code_class == 4) {
        f->stats->rejected++;
        f->stats->rejected_by_detail[a->code_detail & 31]++;
        note_code_once(f, id, a, "rejected");
        finish_uplink(f, id);
    } else {
        f->stats->failed++;
        note_code_once(f, id, a, "unexpected answer");
        finish_uplink(f, id);
    }
}

static void on_undeliverable(void *context, size_t peer, const char *reason)
{
    struct fleet *f = context;
    uint32_t id = (uint32_t)peer;
    struct pending *p = &f->pending[id];
    p->undeliverable = true;
    if (!f->logged_undeliverable) {
        f->logged_undeliverable = true;
        note(f, "%s seq %" PRIu32 ": %s (waiting for the timeout; further cases are only counted)",
             f->nodes[id].eui, p->seq, reason);
    }
}

static void on_timeout(struct fleet *f, uint32_t id, int64_t now_us)
{
    struct pending *p = &f->pending[id];
    f->stats->timeouts++;
    if (p->undeliverable)
        f->stats->undeliverable++;
    coap_client_abandon(f->client, id);
    if (f->stopping) {
        f->stats->unfinished++;
        finish_uplink(f, id);
    } else if (p->timeouts < f->opts->retries) {
        p->timeouts++;
        note(f,
             "%s seq %" PRIu32 ": no answer within %" PRIu32 " ms, re-sending (%" PRIu32
             " of %" PRIu32 ")",
             f->nodes[id].eui, p->seq, f->opts->timeout_ms, p->timeouts, f->opts->retries);
        transmit(f, id, now_us);
    } else {
        f->stats->failed++;
        note(f, "%s seq %" PRIu32 ": no answer to %" PRIu32 " transmissions, giving up",
             f->nodes[id].eui, p->seq, p->timeouts + 1);
        finish_uplink(f, id);
    }
}

static void fire_due_timers(struct fleet *f, int64_t now_us)
{
    uint32_t id;
    int64_t due_us;
    while (timer_heap_peek(&f->timers, &id, &due_us) && due_us <= now_us) {
        timer_heap_cancel(&f->timers, id);
        if (f->pending[id].state == NODE_IN_FLIGHT)
            on_timeout(f, id, now_us);
        else if (f->pending[id].state == NODE_WAITING) {
            f->stats->unavailable++;
            transmit(f, id, now_us); /* after a 5.03: the same uplink again */
        }
    }
}

/* ---- stopping ---- */

/* No new uplinks and no re-sends from now on; requests in flight keep their timeout. */
static void begin_stop(struct fleet *f)
{
    f->stopping = true;
    for (uint32_t id = 0; id < f->opts->sensors; id++) {
        if (f->pending[id].state == NODE_WAITING) {
            f->stats->unfinished++;
            finish_uplink(f, id);
        }
    }
}

static void abandon_all(struct fleet *f)
{
    for (uint32_t id = 0; id < f->opts->sensors; id++) {
        if (f->pending[id].state != NODE_IDLE) {
            f->stats->unfinished++;
            if (f->pending[id].state == NODE_IN_FLIGHT)
                coap_client_abandon(f->client, id);
            finish_uplink(f, id);
        }
    }
}

static void print_progress(const struct fleet *f, int64_t now_us)
{
    time_t sim = (time_t)simulated_now_s(f, now_us);
    struct tm utc;
    char sim_text[32] = "?";
    if (gmtime_r(&sim, &utc) != NULL)
        strftime(sim_text, sizeof(sim_text), "%Y-%m-%dT%H:%M:%SZ", &utc);
    const struct fleet_stats *s = f->stats;
    note(f,
         "%.0f s: sent %" PRIu64 ", delivered %" PRIu64
         ", in progress %zu, re-sent after 5.03 %" PRIu64 ", timeouts %" PRIu64
         ", rejected %" PRIu64 ", failed %" PRIu64 "; simulated %s",
         (double)(now_us - f->start_us) / US_PER_S, s->sent, s->delivered, f->busy, s->unavailable,
         s->timeouts, s->rejected, s->failed, sim_text);
}

/* How long libcoap may wait for traffic before something of ours is due, in ms. */
static int loop_wait_ms(struct fleet *f, int64_t now_us, int64_t stop_at_us,
                        int64_t next_progress_us)
{
    int64_t wake_us = now_us + MAX_LOOP_WAIT_US;
    uint32_t id;
    int64_t due_us;
    if (timer_heap_peek(&f->timers, &id, &due_us) && due_us < wake_us)
        wake_us = due_us;
    if (!f->stopping && !count_reached(f) && f->ready_count > 0 && f->opts->rate_per_s > 0 &&
        f->next_start_us < (double)wake_us)
        wake_us = (int64_t)ceil(f->next_start_us);
    if (!f->stopping && stop_at_us < wake_us)
        wake_us = stop_at_us;
    if (!f->opts->quiet && next_progress_us < wake_us)
        wake_us = next_progress_us;
    if (wake_us <= now_us)
        return 0;
    return (int)((wake_us - now_us + US_PER_MS - 1) / US_PER_MS); /* round up: never spin */
}

/* ---- set-up and the loop ---- */

static int open_fleet(struct fleet *f, char *err, size_t err_size)
{
    size_t n = f->opts->sensors;
    f->pending = calloc(n, sizeof(*f->pending));
    f->payloads = calloc(n, f->opts->max_payload_bytes);
    f->ready = calloc(n, sizeof(*f->ready));
    if (f->pending == NULL || f->payloads == NULL || f->ready == NULL ||
        timer_heap_init(&f->timers, n) != 0) {
        snprintf(err, err_size, "out of memory for %zu sensors", n);
        return -1;
    }
    for (uint32_t id = 0; id < n; id++) {
        f->pending[id].payload = f->payloads + (size_t)id * f->opts->max_payload_bytes;
        make_idle(f, id);
    }
    struct coap_client_handlers handlers = {
        .context = f, .on_answer = on_answer, .on_undeliverable = on_undeliverable};
    return coap_client_open(&f->client, f->opts->host, f->opts->port, n, &handlers, f->opts->quiet,
                            err, err_size);
}

static void close_fleet(struct fleet *f)
{
    coap_client_close(f->client);
    timer_heap_free(&f->timers);
    free(f->ready);
    free(f->payloads);
    free(f->pending);
}

int fleet_run(const struct fleet_options *opts, struct node *nodes, FILE *log_sent,
              const volatile sig_atomic_t *stop_requests, struct fleet_stats *stats, char *err,
              size_t err_size)
{
    struct fleet f = {.opts = opts, .nodes = nodes, .stats = stats, .log_sent = log_sent};
    memset(stats, 0, sizeof(*stats));
    stats->sensors = opts->sensors;
    if (open_fleet(&f, err, err_size) != 0) {
        close_fleet(&f);
        return -1;
    }
    if (log_sent != NULL && fputs("device,seq,received_ms_local,n_samples,last_temperature_wire,"
                                  "last_humidity_wire,last_co2_wire,battery_wire,sent_us_local\n",
                                  log_sent) == EOF)
        f.log_sent_failed = true;

    int rc = 0;
    f.start_us = mono_us();
    f.next_start_us = (double)f.start_us;
    int64_t stop_at_us =
        opts->duration_s > 0 ? f.start_us + (int64_t)(opts->duration_s * US_PER_S) : INT64_MAX;
    int64_t next_progress_us = f.start_us + PROGRESS_EVERY_US;
    for (;;) {
        int64_t now_us = mono_us();
        if (*stop_requests >= 2) {
            abandon_all(&f);
            break;
        }
        if (!f.stopping && (*stop_requests >= 1 || now_us >= stop_at_us))
            begin_stop(&f);
        fire_due_timers(&f, now_us);
        start_uplinks(&f, now_us);
        if (f.busy == 0 && (f.stopping || count_reached(&f)))
            break;
        if (!opts->quiet && now_us >= next_progress_us) {
            print_progress(&f, now_us);
            next_progress_us += PROGRESS_EVERY_US;
        }
        if (coap_client_run(f.client, loop_wait_ms(&f, now_us, stop_at_us, next_progress_us)) !=
            0) {
            snprintf(err, err_size, "libcoap's event loop failed");
            abandon_all(&f);
            rc = -1;
            break;
        }
    }
    stats->wall_us = mono_us() - f.start_us;
    stats->late_answers = coap_client_late_answers(f.client);
    if (f.log_sent_failed) {
        snprintf(err, err_size, "writing the --log-sent file failed");
        rc = -1;
    }
    close_fleet(&f);
    return rc;
}
