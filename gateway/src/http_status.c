/*
 * http_status.c - the status page, /metrics and /healthz (see http_status.h).
 */
#include "http_status.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "decode.h"
#include "frame.h"
#include "lorawan/registry.h"
#include "quantity.h"
#include "store/journal.h"
#include "util/clock.h"
#include "util/log.h"

#define READ_BATCH     32
#define READ_PERIOD_MS 1000
#define HISTORY_S      (24 * 3600)
#define WHY_SIZE       256
#define LABEL_SIZE     65
#define PASSWORD_SIZE  256
#define BATTERY_ID     7 /* quantity.c: battery, volts */
#define RECENT_SHOWN   40

struct point {
    int64_t t_s;
    double value;
};

/* One quantity (and channel) of a device: its latest value and a ring of 15 min buckets,
 * each holding the bucket's last sample. */
struct series_view {
    const struct quantity *quantity;
    uint32_t channel;
    double latest;
    int64_t latest_s;
    size_t count, head; /* points[head] is the oldest when count is full */
    struct point points[HTTP_STATUS_HISTORY_POINTS];
};

struct device_view {
    char eui[FRAME_DEVICE_ID_SIZE];
    char name[REGISTRY_NAME_SIZE];
    char building[LABEL_SIZE];
    char room[LABEL_SIZE];
    char transport[FRAME_TRANSPORT_SIZE];
    int64_t last_seen_ms;
    uint32_t last_seq;
    bool has_radio;
    int16_t rssi_dbm;
    float snr_db;
    bool has_battery;
    double battery_v;
    size_t n_series;
    struct series_view series[HTTP_STATUS_MAX_SERIES];
};

struct http_status {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the reader waits on it; stop signals it */
    /* --- under lock --- */
    bool stopping;
    bool has_verdict;
    bool alive;
    char why[WHY_SIZE];
    struct metrics metrics;
    bool has_journal_stats;
    struct journal_stats journal_stats;
    size_t n_devices;
    uint64_t devices_not_shown; /* frames of devices beyond HTTP_STATUS_MAX_DEVICES */
    bool labels_stale;          /* a device was added: read the registry again */
    struct device_view devices[HTTP_STATUS_MAX_DEVICES];
    /* --- reader thread only --- */
    struct journal *journal;
    struct registry *registry;
    int64_t cursor;
    int64_t registry_generation;
    struct decoder decoder;
    struct decoded_uplink uplink;
    struct journal_frame batch[READ_BATCH];
    /* --- set at start, then read-only --- */
    bool danish;
    char gateway_id[64];
    char user[64];
    char password[PASSWORD_SIZE];
    pthread_t reader;
    bool reader_started;
    struct MHD_Daemon *mhd;
};

/* ---- words ---- */

/* The status page's words in each language (http.language). */
struct words {
    const char *lang;
    const char *title;
    const char *health;
    const char *pipeline;
    const char *ok;
    const char *stalled;
    const char *outputs;
    const char *connected;
    const char *disconnected;
    const char *pending;
    const char *oldest;
    const char *drops;
    const char *devices;
    const char *name;
    const char *last_seen;
    const char *battery;
    const char *signal;
    const char *values;
    const char *no_building;
    const char *no_room;
    const char *never;
    const char *ago_before; /* "for 5 min siden", "5 min ago" */
    const char *ago;
    const char *samples;
    const char *time;
    const char *value;
    const char *back;
    const char *no_devices;
    const char *quantity;
    const char *transport;
    const char *unknown;
    const char *location;
};

static const struct words words_da = {
    .lang = "da",
    .title = "Sensorbro status",
    .health = "Gateway",
    .pipeline = "Dataflow",
    .ok = "kører",
    .stalled = "går i stå",
    .outputs = "Udgange",
    .connected = "forbundet",
    .disconnected = "ikke forbundet",
    .pending = "Ventende i journalen",
    .oldest = "ældste venter",
    .drops = "Tabt",
    .devices = "Enheder",
    .name = "Navn",
    .last_seen = "Sidst hørt",
    .battery = "Batteri",
    .signal = "Signal",
    .values = "Seneste værdier",
    .no_building = "(ingen bygning)",
    .no_room = "(intet rum)",
    .never = "aldrig",
    .ago_before = "for ",
    .ago = "siden",
    .samples = "Seneste målinger",
    .time = "Tid",
    .value = "Værdi",
    .back = "Tilbage til oversigten",
    .no_devices = "Ingen enheder har sendt data endnu.",
    .quantity = "Måling",
    .transport = "Transport",
    .unknown = "ukendt",
    .location = "Placering",
};
static const struct words words_en = {
    .lang = "en",
    .title = "Sensorbro status",
    .health = "Gateway",
    .pipeline = "Pipeline",
    .ok = "running",
    .stalled = "stalled",
    .outputs = "Outputs",
    .connected = "connected",
    .disconnected = "not connected",
    .pending = "Pending in the journal",
    .oldest = "oldest waiting",
    .drops = "Dropped",
    .devices = "Devices",
    .name = "Name",
    .last_seen = "Last seen",
    .battery = "Battery",
    .signal = "Signal",
    .values = "Latest values",
    .no_building = "(no building)",
    .no_room = "(no room)",
    .never = "never",
    .ago_before = "",
    .ago = "ago",
    .samples = "Recent samples",
    .time = "Time",
    .value = "Value",
    .back = "Back to the overview",
    .no_devices = "No device has sent data yet.",
    .quantity = "Quantity",
    .transport = "Transport",
    .unknown = "unknown",
    .location = "Location",
};

/* ---- a growing text buffer ---- */

struct out {
    char *text;
    size_t len, cap;
    bool failed; /* out of memory: the request gets a 500 */
};

static void out_add(struct out *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 8192;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *p = realloc(o->text, cap);
        if (p == NULL) {
            o->failed = true;
            return;
        }
        o->text = p;
        o->cap = cap;
    }
    memcpy(o->text + o->len, s, n);
    o->len += n;
    o->text[o->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void outf(struct out *o, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->failed = true;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        out_add(o, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        o->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    out_add(o, big, (size_t)n);
    free(big);
}

/* Text for HTML element content and attribute values. */
static void out_html(struct out *o, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            out_add(o, "&amp;", 5);
            break;
        case '<':
            out_add(o, "&lt;", 4);
            break;
        case '>':
            out_add(o, "&gt;", 4);
            break;
        case '"':
            out_add(o, "&quot;", 6);
            break;
        case '\'':
            out_add(o, "&#39;", 5);
            break;
        default:
            out_add(o, s, 1);
        }
    }
}

/* A Prometheus label value: backslash, double quote and line feed escaped (format 0.0.4). */
static void out_label(struct out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n && s[i]; i++) {
        if (s[i] == '\\')
            out_add(o, "\\\\", 2);
        else if (s[i] == '"')
            out_add(o, "\\\"", 2);
        else if (s[i] == '\n')
            out_add(o, "\\n", 2);
        else
            out_add(o, &s[i], 1);
    }
}

static void out_number(struct out *o, double v)
{
    if (isnan(v))
        outf(o, "NaN");
    else if (isinf(v))
        outf(o, v > 0 ? "+Inf" : "-Inf");
    else
        outf(o, "%.15g", v);
}

/* ---- the reader: frames into device views ---- */

static struct device_view *find_device(struct http_status *h, const char *eui, bool add)
{
    for (size_t i = 0; i < h->n_devices; i++)
        if (strcmp(h->devices[i].eui, eui) == 0)
            return &h->devices[i];
    if (!add || h->n_devices == HTTP_STATUS_MAX_DEVICES)
        return NULL;
    struct device_view *d = &h->devices[h->n_devices++];
    memset(d, 0, sizeof(*d));
    snprintf(d->eui, sizeof(d->eui), "%s", eui);
    h->labels_stale = true;
    return d;
}

static struct series_view *find_series(struct device_view *d, const struct quantity *q,
                                       uint32_t channel)
{
    for (size_t i = 0; i < d->n_series; i++)
        if (d->series[i].quantity == q && d->series[i].channel == channel)
            return &d->series[i];
    if (d->n_series == HTTP_STATUS_MAX_SERIES)
        return NULL;
    struct series_view *s = &d->series[d->n_series++];
    memset(s, 0, sizeof(*s));
    s->quantity = q;
    s->channel = channel;
    return s;
}

static const struct point *series_point(const struct series_view *s, size_t i)
{
    return &s->points[(s->head + i) % HTTP_STATUS_HISTORY_POINTS];
}

/* One sample: the latest value when it is the newest, and the bucket's point. Samples
 * older than the ring's newest bucket (a node's late backlog) update nothing but latest's
 * choice: the ring stays in time order. */
static void series_add(struct series_view *s, int64_t t_s, double value)
{
    if (t_s >= s->latest_s) {
        s->latest_s = t_s;
        s->latest = value;
    }
    int64_t bucket = t_s / HTTP_STATUS_BUCKET_S;
    if (s->count > 0) {
        struct point *last = &s->points[(s->head + s->count - 1) % HTTP_STATUS_HISTORY_POINTS];
        int64_t last_bucket = last->t_s / HTTP_STATUS_BUCKET_S;
        if (bucket < last_bucket)
            return;
        if (bucket == last_bucket) {
            if (t_s >= last->t_s)
                *last = (struct point){t_s, value};
            return;
        }
    }
    if (s->count == HTTP_STATUS_HISTORY_POINTS) {
        s->points[s->head] = (struct point){t_s, value};
        s->head = (s->head + 1) % HTTP_STATUS_HISTORY_POINTS;
    } else {
        s->points[(s->head + s->count++) % HTTP_STATUS_HISTORY_POINTS] = (struct point){t_s, value};
    }
}

/* Under lock: what one decoded frame says of its device. */
static void absorb(struct http_status *h, const struct frame_record *rec,
                   const struct decoded_uplink *u)
{
    struct device_view *d = find_device(h, rec->device, true);
    if (d == NULL) {
        h->devices_not_shown++;
        return;
    }
    if (rec->received_ms >= d->last_seen_ms) {
        d->last_seen_ms = rec->received_ms;
        d->last_seq = u->seq;
        snprintf(d->transport, sizeof(d->transport), "%s", rec->transport);
        d->has_radio = rec->radio.has_lorawan;
        d->rssi_dbm = rec->radio.rssi_dbm;
        d->snr_db = rec->radio.snr_db;
    }
    for (size_t i = 0; i < u->series_count; i++) {
        const struct decoded_series *ds = &u->series[i];
        struct series_view *s = find_series(d, ds->quantity, ds->channel);
        if (s == NULL)
            continue;
        for (size_t k = 0; k < ds->count; k++) {
            double v = (double)ds->values[k] / (double)ds->quantity->divisor;
            series_add(s, decoded_sample_time_s(u, ds, k), v);
        }
        if (ds->quantity->id == BATTERY_ID && ds->channel == 0 && s->latest_s > 0) {
            d->has_battery = true;
            d->battery_v = s->latest;
        }
    }
}

/* Names and labels of every device shown, from the registry (read without the lock). */
static void refresh_labels(struct http_status *h)
{
    char euis[HTTP_STATUS_MAX_DEVICES][FRAME_DEVICE_ID_SIZE];
    pthread_mutex_lock(&h->lock);
    size_t n = h->n_devices;
    for (size_t i = 0; i < n; i++)
        memcpy(euis[i], h->devices[i].eui, FRAME_DEVICE_ID_SIZE);
    h->labels_stale = false;
    pthread_mutex_unlock(&h->lock);
    for (size_t i = 0; i < n; i++) {
        static _Thread_local struct registry_device dev;
        bool found = false;
        char name[REGISTRY_NAME_SIZE] = "", building[LABEL_SIZE] = "", room[LABEL_SIZE] = "";
        size_t len;
        if (registry_get(h->registry, euis[i], &dev, &found) == 0 && found)
            snprintf(name, sizeof(name), "%s", dev.name);
        OPENSSL_cleanse(&dev, sizeof(dev)); /* it holds the device's keys */
        if (registry_get_setting(h->registry, euis[i], "label.building", building, sizeof(building),
                                 &len, &found) != 0 ||
            !found)
            building[0] = '\0';
        if (registry_get_setting(h->registry, euis[i], "label.room", room, sizeof(room), &len,
                                 &found) != 0 ||
            !found)
            room[0] = '\0';
        pthread_mutex_lock(&h->lock);
        struct device_view *d = find_device(h, euis[i], false);
        if (d) {
            snprintf(d->name, sizeof(d->name), "%s", name);
            snprintf(d->building, sizeof(d->building), "%s", building);
            snprintf(d->room, sizeof(d->room), "%s", room);
        }
        pthread_mutex_unlock(&h->lock);
    }
}

/* One pass: every frame committed since the last, then the journal's depth. */
static void read_journal(struct http_status *h)
{
    int64_t since_ms = clock_wall_ms() - (int64_t)HISTORY_S * 1000;
    for (int rounds = 0; rounds < 64; rounds++) { /* at most 2048 frames a second */
        size_t n = 0;
        if (journal_read_frames(h->journal, h->cursor, since_ms, h->batch, READ_BATCH, &n) != 0) {
            log_warn("http: reading the journal: %s", journal_errmsg(h->journal));
            return;
        }
        for (size_t i = 0; i < n; i++) {
            const struct journal_frame *f = &h->batch[i];
            h->cursor = f->id;
            char reason[DECODE_REASON_SIZE];
            if (f->damaged || decode_uplink(&h->decoder, f->record.payload, f->record.payload_len,
                                            frame_anchor_ms(&f->record), &h->uplink, reason) != 0)
                continue; /* the publisher quarantines it; nothing to show */
            pthread_mutex_lock(&h->lock);
            absorb(h, &f->record, &h->uplink);
            pthread_mutex_unlock(&h->lock);
        }
        if (n < READ_BATCH)
            break;
    }
    struct journal_stats js;
    if (journal_stats(h->journal, &js) == 0) {
        pthread_mutex_lock(&h->lock);
        h->journal_stats = js;
        h->has_journal_stats = true;
        pthread_mutex_unlock(&h->lock);
    }
    int64_t generation = 0;
    pthread_mutex_lock(&h->lock);
    bool stale = h->labels_stale;
    pthread_mutex_unlock(&h->lock);
    if (registry_settings_generation(h->registry, &generation) == 0 &&
        generation != h->registry_generation) {
        h->registry_generation = generation;
        stale = true;
    }
    if (stale)
        refresh_labels(h);
}

static void *reader_main(void *arg)
{
    struct http_status *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        pthread_mutex_unlock(&h->lock);
        read_journal(h);
        pthread_mutex_lock(&h->lock);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)READ_PERIOD_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (!h->stopping)
            pthread_cond_timedwait(&h->wake, &h->lock, &until);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* ---- rendering (under lock) ---- */

static void out_age(struct out *o, const struct words *w, int64_t now_ms, int64_t then_ms)
{
    if (then_ms <= 0) {
        out_html(o, w->never);
        return;
    }
    int64_t s = (now_ms - then_ms) / 1000;
    if (s < 0)
        s = 0;
    const char *ago = w->ago; /* after the amount: "5 min siden", "5 min ago" */
    if (s < 120)
        outf(o, "%s%" PRId64 " s %s", w->ago_before, s, ago);
    else if (s < 7200)
        outf(o, "%s%" PRId64 " min %s", w->ago_before, s / 60, ago);
    else if (s < 172800)
        outf(o, "%s%" PRId64 " h %s", w->ago_before, s / 3600, ago);
    else
        outf(o, "%s%" PRId64 " d %s", w->ago_before, s / 86400, ago);
}

static void out_time(struct out *o, int64_t t_s)
{
    time_t t = (time_t)t_s;
    struct tm tm;
    char text[32];
    if (localtime_r(&t, &tm) && strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &tm) > 0)
        out_add(o, text, strlen(text));
    else
        outf(o, "%" PRId64, t_s);
}

static void out_series_name(struct out *o, const struct series_view *s)
{
    out_html(o, s->quantity->json_key);
    if (s->channel)
        outf(o, "_ch%" PRIu32, s->channel);
}

static void out_value(struct out *o, const struct series_view *s, double v)
{
    outf(o, "%.*f ",
         s->quantity->divisor >= 1000  ? 3
         : s->quantity->divisor >= 100 ? 2
         : s->quantity->divisor >= 10  ? 1
                                       : 0,
         v);
    out_html(o, s->quantity->unit);
}

/* A line chart of the last 24 h of a series, width x height pixels, no script. */
static void out_sparkline(struct out *o, const struct series_view *s, int64_t now_s, int width,
                          int height)
{
    double lo = INFINITY, hi = -INFINITY;
    size_t shown = 0;
    for (size_t i = 0; i < s->count; i++) {
        const struct point *p = series_point(s, i);
        if (p->t_s < now_s - HISTORY_S)
            continue;
        lo = fmin(lo, p->value);
        hi = fmax(hi, p->value);
        shown++;
    }
    outf(o,
         "<svg class=\"spark\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
         "viewBox=\"0 0 %d %d\" role=\"img\"><title>",
         width, height, width, height);
    out_series_name(o, s);
    outf(o, " 24 h</title>");
    if (shown > 0) {
        double span = hi - lo > 0 ? hi - lo : 1;
        outf(o, "<polyline fill=\"none\" stroke=\"#1f6f8b\" stroke-width=\"1.5\" points=\"");
        double last_x = 0, last_y = 0;
        for (size_t i = 0; i < s->count; i++) {
            const struct point *p = series_point(s, i);
            if (p->t_s < now_s - HISTORY_S)
                continue;
            double x = (double)(p->t_s - (now_s - HISTORY_S)) / HISTORY_S * (width - 4) + 2;
            if (x > width - 2)
                x = width - 2;
            double y = height - 2 - (p->value - lo) / span * (height - 4);
            outf(o, "%.1f,%.1f ", x, y);
            last_x = x;
            last_y = y;
        }
        outf(o, "\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"#1f6f8b\"/>", last_x, last_y);
    }
    outf(o, "</svg>");
}

static const char page_css[] =
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}"
    "h1{font-size:1.5em}h2{margin-top:1.5em;border-bottom:2px solid #1f6f8b}h3{color:#555}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{padding:.3em .7em;text-align:left;"
    "border-bottom:1px solid #ddd;vertical-align:top}th{background:#eef3f5}"
    ".bad{color:#b00020;font-weight:bold}.good{color:#1b7f3b;font-weight:bold}"
    ".q{display:inline-block;margin:0 1em .3em 0}.q svg{vertical-align:middle}"
    "a{color:#1f6f8b}";

static void page_head(struct out *o, const struct http_status *h, const struct words *w)
{
    outf(o,
         "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">"
         "<meta name=\"viewport\" content=\"width=device-width\">"
         "<meta http-equiv=\"refresh\" content=\"60\"><title>",
         w->lang);
    out_html(o, w->title);
    outf(o, " – ");
    out_html(o, h->gateway_id);
    outf(o, "</title><style>%s</style></head><body>\n", page_css);
}

static double metric_sum(const struct metrics *m, const char *name)
{
    return metrics_sum(m, name);
}

static void render_health(struct out *o, const struct http_status *h, const struct words *w,
                          int64_t now_ms)
{
    outf(o, "<h1>");
    out_html(o, w->title);
    outf(o, " – ");
    out_html(o, h->gateway_id);
    outf(o, "</h1>\n<section id=\"health\"><h2>");
    out_html(o, w->health);
    outf(o, "</h2><table>\n<tr><th>");
    out_html(o, w->pipeline);
    if (!h->has_verdict || h->alive) {
        outf(o, "</th><td class=\"good\">");
        out_html(o, w->ok);
    } else {
        outf(o, "</th><td class=\"bad\">");
        out_html(o, w->stalled);
        outf(o, ": ");
        out_html(o, h->why);
    }
    outf(o, "</td></tr>\n<tr><th>");
    out_html(o, w->outputs);
    outf(o, "</th><td>");
    const struct metric *c = metrics_find(&h->metrics, "sensorbro_broker_connected");
    if (c) {
        outf(o, "MQTT: <span class=\"%s\">", c->value > 0 ? "good" : "bad");
        out_html(o, c->value > 0 ? w->connected : w->disconnected);
        outf(o, "</span>");
    } else {
        out_html(o, w->unknown);
    }
    outf(o, "</td></tr>\n<tr><th>");
    out_html(o, w->pending);
    outf(o, "</th><td>");
    if (h->has_journal_stats) {
        outf(o, "%" PRId64, h->journal_stats.pending_frames);
        if (h->journal_stats.oldest_pending_ms > 0) {
            outf(o, " (");
            out_html(o, w->oldest);
            outf(o, " ");
            out_age(o, w, now_ms, h->journal_stats.oldest_pending_ms);
            outf(o, ")");
        }
    } else {
        out_html(o, w->unknown);
    }
    outf(o, "</td></tr>\n<tr><th>");
    out_html(o, w->drops);
    double drops = metric_sum(&h->metrics, "sensorbro_frames_dropped_total") +
                   metric_sum(&h->metrics, "sensorbro_frames_rejected_total");
    outf(o, "</th><td class=\"%s\">%.0f</td></tr>\n</table></section>\n",
         drops > 0 ? "bad" : "good", drops);
}

static int compare_devices(const void *a, const void *b)
{
    const struct device_view *x = *(const struct device_view *const *)a;
    const struct device_view *y = *(const struct device_view *const *)b;
    int c;
    /* an unlabelled device after the labelled ones */
    if ((x->building[0] == '\0') != (y->building[0] == '\0'))
        return x->building[0] == '\0' ? 1 : -1;
    if ((c = strcmp(x->building, y->building)) != 0)
        return c;
    if ((x->room[0] == '\0') != (y->room[0] == '\0'))
        return x->room[0] == '\0' ? 1 : -1;
    if ((c = strcmp(x->room, y->room)) != 0)
        return c;
    const char *nx = x->name[0] ? x->name : x->eui, *ny = y->name[0] ? y->name : y->eui;
    if ((c = strcmp(nx, ny)) != 0)
        return c;
    return strcmp(x->eui, y->eui);
}

static void render_signal(struct out *o, const struct device_view *d)
{
    if (d->has_radio)
        outf(o, "%d dBm / %.1f dB", d->rssi_dbm, (double)d->snr_db);
    else
        out_html(o, d->transport[0] ? d->transport : "-");
}

static void render_index(struct out *o, struct http_status *h, const struct words *w)
{
    int64_t now_ms = clock_wall_ms();
    page_head(o, h, w);
    render_health(o, h, w, now_ms);
    outf(o, "<section id=\"devices\">");
    if (h->n_devices == 0) {
        outf(o, "<h2>");
        out_html(o, w->devices);
        outf(o, "</h2><p>");
        out_html(o, w->no_devices);
        outf(o, "</p>");
    }
    const struct device_view *sorted[HTTP_STATUS_MAX_DEVICES];
    for (size_t i = 0; i < h->n_devices; i++)
        sorted[i] = &h->devices[i];
    qsort(sorted, h->n_devices, sizeof(sorted[0]), compare_devices);
    const char *building = NULL, *room = NULL;
    for (size_t i = 0; i < h->n_devices; i++) {
        const struct device_view *d = sorted[i];
        bool new_building = building == NULL || strcmp(building, d->building) != 0;
        if (new_building || strcmp(room, d->room) != 0) {
            if (building != NULL)
                outf(o, "</table>\n");
            if (new_building) {
                outf(o, "<h2 class=\"building\">");
                out_html(o, d->building[0] ? d->building : w->no_building);
                outf(o, "</h2>\n");
            }
            outf(o, "<h3 class=\"room\">");
            out_html(o, d->room[0] ? d->room : w->no_room);
            outf(o, "</h3>\n<table class=\"devices\"><tr><th>");
            out_html(o, w->name);
            outf(o, "</th><th>");
            out_html(o, w->last_seen);
            outf(o, "</th><th>");
            out_html(o, w->battery);
            outf(o, "</th><th>");
            out_html(o, w->signal);
            outf(o, "</th><th>");
            out_html(o, w->values);
            outf(o, "</th></tr>\n");
            building = d->building;
            room = d->room;
        }
        outf(o, "<tr class=\"device\" id=\"d-%s\"><td><a href=\"/device/%s\">", d->eui, d->eui);
        out_html(o, d->name[0] ? d->name : d->eui);
        outf(o, "</a></td><td>");
        out_age(o, w, now_ms, d->last_seen_ms);
        outf(o, "</td><td>");
        if (d->has_battery)
            outf(o, "%.2f V", d->battery_v);
        else
            outf(o, "-");
        outf(o, "</td><td>");
        render_signal(o, d);
        outf(o, "</td><td>");
        for (size_t k = 0; k < d->n_series; k++) {
            const struct series_view *s = &d->series[k];
            outf(o, "<span class=\"q\" data-key=\"");
            out_series_name(o, s);
            outf(o, "\">");
            out_series_name(o, s);
            outf(o, " <b>");
            out_value(o, s, s->latest);
            outf(o, "</b> ");
            out_sparkline(o, s, now_ms / 1000, 96, 24);
            outf(o, "</span>");
        }
        outf(o, "</td></tr>\n");
    }
    if (building != NULL)
        outf(o, "</table>\n");
    outf(o, "</section></body></html>\n");
}

static void render_device(struct out *o, struct http_status *h, const struct words *w,
                          const struct device_view *d)
{
    int64_t now_ms = clock_wall_ms();
    page_head(o, h, w);
    outf(o, "<p><a href=\"/\">");
    out_html(o, w->back);
    outf(o, "</a></p><h1>");
    out_html(o, d->name[0] ? d->name : d->eui);
    outf(o, "</h1><table><tr><th>EUI</th><td>%s</td></tr><tr><th>", d->eui);
    out_html(o, w->location);
    outf(o, "</th><td>");
    out_html(o, d->building[0] ? d->building : w->no_building);
    outf(o, " / ");
    out_html(o, d->room[0] ? d->room : w->no_room);
    outf(o, "</td></tr><tr><th>");
    out_html(o, w->last_seen);
    outf(o, "</th><td>");
    out_age(o, w, now_ms, d->last_seen_ms);
    outf(o, " (seq %" PRIu32 ")</td></tr><tr><th>", d->last_seq);
    out_html(o, w->battery);
    if (d->has_battery)
        outf(o, "</th><td>%.3f V</td></tr><tr><th>", d->battery_v);
    else
        outf(o, "</th><td>-</td></tr><tr><th>");
    out_html(o, w->signal);
    outf(o, "</th><td>");
    render_signal(o, d);
    outf(o, "</td></tr></table>\n");
    for (size_t k = 0; k < d->n_series; k++) {
        const struct series_view *s = &d->series[k];
        outf(o, "<h2>");
        out_series_name(o, s);
        outf(o, "</h2>");
        out_sparkline(o, s, now_ms / 1000, 480, 80);
        outf(o, "<table class=\"samples\"><tr><th>");
        out_html(o, w->time);
        outf(o, "</th><th>");
        out_html(o, w->value);
        outf(o, "</th></tr>\n");
        size_t shown = 0;
        for (size_t i = s->count; i-- > 0 && shown < RECENT_SHOWN; shown++) {
            const struct point *p = series_point(s, i);
            outf(o, "<tr><td>");
            out_time(o, p->t_s);
            outf(o, "</td><td>");
            out_value(o, s, p->value);
            outf(o, "</td></tr>\n");
        }
        outf(o, "</table>\n");
    }
    outf(o, "</body></html>\n");
}

/* ---- /metrics ---- */

/* The family of a sample name: up to its '{'. */
static size_t family_len(const char *name)
{
    const char *brace = strchr(name, '{');
    return brace ? (size_t)(brace - name) : strlen(name);
}

static void out_family(struct out *o, const char *family, size_t len, const char *help,
                       enum metric_kind kind)
{
    outf(o, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)len, family, help, (int)len, family,
         kind == METRIC_COUNTER ? "counter" : "gauge");
}

/* One sample of the collectors' list, its label value escaped again for the format. */
static void out_sample(struct out *o, const struct metric *m)
{
    size_t flen = family_len(m->name);
    out_add(o, m->name, flen);
    const char *labels = m->name + flen;
    if (*labels == '{') {
        const char *eq = strstr(labels, "=\"");
        size_t total = strlen(labels);
        if (eq && total >= 2 && labels[total - 1] == '}' && labels[total - 2] == '"' &&
            eq + 2 <= labels + total - 2) {
            out_add(o, labels, (size_t)(eq + 2 - labels));
            out_label(o, eq + 2, (size_t)(labels + total - 2 - (eq + 2)));
            out_add(o, "\"}", 2);
        }
    }
    out_add(o, " ", 1);
    out_number(o, m->value);
    out_add(o, "\n", 1);
}

static void out_device_labels(struct out *o, const struct device_view *d)
{
    outf(o, "{device=\"%s\"}", d->eui);
}

static void render_metrics(struct out *o, struct http_status *h)
{
    const struct metrics *m = &h->metrics;
    /* Families in order of first appearance, each with all its samples together (the
     * format wants a family's samples in one group; two modules may name one family). */
    for (size_t i = 0; i < m->count; i++) {
        size_t flen = family_len(m->items[i].name);
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = family_len(m->items[k].name) == flen &&
                   strncmp(m->items[k].name, m->items[i].name, flen) == 0;
        if (seen)
            continue;
        out_family(o, m->items[i].name, flen, "sensorbro figure (docs/operations.md)",
                   m->items[i].kind);
        for (size_t k = i; k < m->count; k++) {
            if (family_len(m->items[k].name) != flen ||
                strncmp(m->items[k].name, m->items[i].name, flen) != 0)
                continue;
            bool twice = false; /* the same sample from two modules: the first one */
            for (size_t j = i; j < k && !twice; j++)
                twice = strcmp(m->items[j].name, m->items[k].name) == 0;
            if (!twice)
                out_sample(o, &m->items[k]);
        }
    }
    int64_t now_ms = clock_wall_ms();
    static const char pipeline[] = "sensorbro_pipeline_alive";
    out_family(o, pipeline, strlen(pipeline), "1 when the watchdog's verdict is alive",
               METRIC_GAUGE);
    outf(o, "%s %d\n", pipeline, !h->has_verdict || h->alive ? 1 : 0);
    if (h->has_journal_stats) {
        static const char depth[] = "sensorbro_journal_pending_frames";
        static const char age[] = "sensorbro_journal_oldest_pending_age_seconds";
        out_family(o, depth, strlen(depth), "frames not yet delivered by every output",
                   METRIC_GAUGE);
        outf(o, "%s %" PRId64 "\n", depth, h->journal_stats.pending_frames);
        out_family(o, age, strlen(age), "age of the oldest pending frame, 0 when none",
                   METRIC_GAUGE);
        double age_s = h->journal_stats.oldest_pending_ms > 0
                           ? (double)(now_ms - h->journal_stats.oldest_pending_ms) / 1000.0
                           : 0;
        outf(o, "%s %.3f\n", age, age_s > 0 ? age_s : 0);
    }
    static const char beyond[] = "sensorbro_http_frames_not_shown_total";
    out_family(o, beyond, strlen(beyond),
               "frames of devices beyond the page's table (HTTP_STATUS_MAX_DEVICES)",
               METRIC_COUNTER);
    outf(o, "%s %" PRIu64 "\n", beyond, h->devices_not_shown);
    static const char info[] = "sensorbro_device_info";
    out_family(o, info, strlen(info), "a device the gateway heard, with its registry labels",
               METRIC_GAUGE);
    for (size_t i = 0; i < h->n_devices; i++) {
        const struct device_view *d = &h->devices[i];
        outf(o, "%s{device=\"%s\",name=\"", info, d->eui);
        out_label(o, d->name, sizeof(d->name));
        outf(o, "\",building=\"");
        out_label(o, d->building, sizeof(d->building));
        outf(o, "\",room=\"");
        out_label(o, d->room, sizeof(d->room));
        outf(o, "\"} 1\n");
    }
    static const char seen[] = "sensorbro_device_last_seen_seconds";
    out_family(o, seen, strlen(seen), "unix time of the device's last frame", METRIC_GAUGE);
    for (size_t i = 0; i < h->n_devices; i++) {
        out_add(o, seen, strlen(seen));
        out_device_labels(o, &h->devices[i]);
        outf(o, " %.3f\n", (double)h->devices[i].last_seen_ms / 1000.0);
    }
    static const char rssi[] = "sensorbro_device_rssi_dbm", snr[] = "sensorbro_device_snr_db",
                      battery[] = "sensorbro_device_battery_volts";
    out_family(o, rssi, strlen(rssi), "RSSI of the last frame's best reception (LoRaWAN)",
               METRIC_GAUGE);
    for (size_t i = 0; i < h->n_devices; i++)
        if (h->devices[i].has_radio) {
            out_add(o, rssi, strlen(rssi));
            out_device_labels(o, &h->devices[i]);
            outf(o, " %d\n", h->devices[i].rssi_dbm);
        }
    out_family(o, snr, strlen(snr), "SNR of the last frame's best reception (LoRaWAN)",
               METRIC_GAUGE);
    for (size_t i = 0; i < h->n_devices; i++)
        if (h->devices[i].has_radio) {
            out_add(o, snr, strlen(snr));
            out_device_labels(o, &h->devices[i]);
            outf(o, " %.1f\n", (double)h->devices[i].snr_db);
        }
    out_family(o, battery, strlen(battery), "the device's last battery reading", METRIC_GAUGE);
    for (size_t i = 0; i < h->n_devices; i++)
        if (h->devices[i].has_battery) {
            out_add(o, battery, strlen(battery));
            out_device_labels(o, &h->devices[i]);
            outf(o, " %.3f\n", h->devices[i].battery_v);
        }
    static const char value[] = "sensorbro_device_value";
    out_family(o, value, strlen(value), "the latest value of each quantity, in its JSON unit",
               METRIC_GAUGE);
    for (size_t i = 0; i < h->n_devices; i++)
        for (size_t k = 0; k < h->devices[i].n_series; k++) {
            const struct series_view *s = &h->devices[i].series[k];
            outf(o, "%s{device=\"%s\",quantity=\"%s\",channel=\"%" PRIu32 "\"} ", value,
                 h->devices[i].eui, s->quantity->json_key, s->channel);
            out_number(o, s->latest);
            out_add(o, "\n", 1);
        }
}

/* ---- HTTP ---- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned code, const char *type,
                                 struct out *o)
{
    if (o->failed) {
        free(o->text);
        *o = (struct out){0};
        code = MHD_HTTP_INTERNAL_SERVER_ERROR;
        type = "text/plain; charset=utf-8";
        outf(o, "out of memory\n");
        if (o->failed)
            return MHD_NO;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(o->len, o->text ? o->text : (char *)"",
                                        o->text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(o->text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    /* no script and nothing from elsewhere, whatever a device's name holds */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'");
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static bool authorized(struct http_status *h, struct MHD_Connection *c)
{
    if (h->user[0] == '\0')
        return true;
    char *password = NULL;
    char *user = MHD_basic_auth_get_username_password(c, &password);
    bool ok = false;
    if (user && password) {
        size_t ul = strlen(user), pl = strlen(password);
        size_t hul = strlen(h->user), hpl = strlen(h->password);
        /* CRYPTO_memcmp: no early exit that times the password */
        ok = ul == hul && pl == hpl && CRYPTO_memcmp(user, h->user, ul) == 0 &&
             CRYPTO_memcmp(password, h->password, pl) == 0;
    }
    if (password) {
        OPENSSL_cleanse(password, strlen(password));
        MHD_free(password);
    }
    if (user)
        MHD_free(user);
    return ok;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    (void)version;
    (void)upload_data;
    struct http_status *h = cls;
    struct out o = {0};
    if (*req_cls == NULL) {
        /* the headers: a method other than GET and HEAD is answered now (libmicrohttpd
         * then discards its body); the others once their (empty) body is in */
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
            outf(&o, "only GET and HEAD\n");
            return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8", &o);
        }
        *req_cls = h;
        return MHD_YES;
    }
    if (*upload_data_size != 0) { /* a body on a GET: not read */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!authorized(h, c)) {
        outf(&o, "authorization required\n");
        if (o.failed) {
            free(o.text);
            return MHD_NO;
        }
        struct MHD_Response *r =
            MHD_create_response_from_buffer(o.len, o.text, MHD_RESPMEM_MUST_FREE);
        if (r == NULL) {
            free(o.text);
            return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
        enum MHD_Result ret = MHD_queue_basic_auth_fail_response(c, "sensorbro", r);
        MHD_destroy_response(r);
        return ret;
    }
    const struct words *w = h->danish ? &words_da : &words_en;
    unsigned code = MHD_HTTP_OK;
    const char *type = "text/html; charset=utf-8";
    pthread_mutex_lock(&h->lock);
    if (strcmp(url, "/healthz") == 0) {
        type = "text/plain; charset=utf-8";
        if (!h->has_verdict || h->alive) {
            outf(&o, "ok\n");
        } else {
            code = MHD_HTTP_SERVICE_UNAVAILABLE;
            outf(&o, "stalled: %s\n", h->why);
        }
    } else if (strcmp(url, "/metrics") == 0) {
        type = "text/plain; version=0.0.4; charset=utf-8";
        render_metrics(&o, h);
    } else if (strcmp(url, "/") == 0) {
        render_index(&o, h, w);
    } else if (strncmp(url, "/device/", 8) == 0) {
        char eui[FRAME_DEVICE_ID_SIZE];
        const struct device_view *d = NULL;
        if (frame_parse_device_id(url + 8, strlen(url + 8), eui) == 0)
            d = find_device(h, eui, false);
        if (d) {
            render_device(&o, h, w, d);
        } else {
            code = MHD_HTTP_NOT_FOUND;
            type = "text/plain; charset=utf-8";
            outf(&o, "no such device\n");
        }
    } else {
        code = MHD_HTTP_NOT_FOUND;
        type = "text/plain; charset=utf-8";
        outf(&o, "not found\n");
    }
    pthread_mutex_unlock(&h->lock);
    return send_text(c, code, type, &o);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char text[256];
    vsnprintf(text, sizeof(text), fmt, ap);
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == '\n')
        text[--n] = '\0';
    log_warn("http: %s", text);
}

/* ---- start, update, stop ---- */

static int read_password(struct http_status *h, const struct http_status_options *opts, char *err,
                         size_t err_size)
{
    FILE *f = fopen(opts->password_file, "r");
    if (f == NULL) {
        snprintf(err, err_size, "%s: cannot open %s: %s", opts->password_origin,
                 opts->password_file, strerror(errno));
        return -1;
    }
    bool got = fgets(h->password, sizeof(h->password), f) != NULL;
    fclose(f);
    size_t n = got ? strcspn(h->password, "\r\n") : 0;
    bool whole = got && h->password[n] != '\0';
    h->password[n] = '\0';
    if (n == 0 || (!whole && n == sizeof(h->password) - 1)) {
        snprintf(err, err_size, "%s: %s: expected a password of 1 to %zu bytes on its first line",
                 opts->password_origin, opts->password_file, sizeof(h->password) - 2);
        return -1;
    }
    return 0;
}

static int parse_bind(const char *bind, uint16_t port, struct sockaddr_storage *ss)
{
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM},
                    *res = NULL;
    char service[8];
    snprintf(service, sizeof(service), "%u", port);
    if (getaddrinfo(bind, service, &hints, &res) != 0 || res == NULL)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

int http_status_start(struct http_status **out, const struct http_status_options *opts, char *err,
                      size_t err_size)
{
    *out = NULL;
    struct http_status *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        snprintf(err, err_size, "http: out of memory");
        return -1;
    }
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->wake, &ca);
    pthread_condattr_destroy(&ca);
    h->danish = opts->danish;
    snprintf(h->gateway_id, sizeof(h->gateway_id), "%s", opts->gateway_id);
    snprintf(h->user, sizeof(h->user), "%s", opts->user ? opts->user : "");
    if (h->user[0] && read_password(h, opts, err, err_size) != 0)
        goto fail;
    struct sockaddr_storage ss;
    if (parse_bind(opts->bind, opts->port, &ss) != 0) {
        snprintf(err, err_size, "http.bind: \"%s\": expected a numeric IPv4 or IPv6 address",
                 opts->bind);
        goto fail;
    }
    struct journal_options jo = {.read_only = true, .busy_timeout_ms = 1000};
    if (journal_open(&h->journal, opts->journal_path, &jo, err, err_size) != 0)
        goto fail;
    if (registry_open(&h->registry, opts->journal_path, true, 1000, err, err_size) != 0)
        goto fail;
    read_journal(h); /* the last 24 h before the first page */
    if (pthread_create(&h->reader, NULL, reader_main, h) != 0) {
        snprintf(err, err_size, "http: cannot start the journal reader");
        goto fail;
    }
    h->reader_started = true;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    /* the logger first: libmicrohttpd logs the options after it through it */
    h->mhd = MHD_start_daemon(flags, opts->port, NULL, NULL, handle, h, MHD_OPTION_EXTERNAL_LOGGER,
                              mhd_log, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                              MHD_OPTION_CONNECTION_LIMIT, 32u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                              MHD_OPTION_END);
    if (h->mhd == NULL) {
        snprintf(err, err_size, "http: cannot listen on %s port %u (http.bind, http.port): %s",
                 opts->bind, opts->port, errno ? strerror(errno) : "libmicrohttpd refused");
        goto fail;
    }
    log_info("http: serving /, /device, /metrics and /healthz on %s%s%s:%u%s",
             ss.ss_family == AF_INET6 ? "[" : "", opts->bind, ss.ss_family == AF_INET6 ? "]" : "",
             opts->port, h->user[0] ? " (basic auth)" : "");
    *out = h;
    return 0;
fail:
    http_status_stop(h);
    return -1;
}

void http_status_update(struct http_status *h, bool alive, const char *why, const struct metrics *m)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    h->has_verdict = true;
    h->alive = alive;
    snprintf(h->why, sizeof(h->why), "%s", alive ? "" : why);
    h->metrics = *m;
    pthread_mutex_unlock(&h->lock);
}

void http_status_stop(struct http_status *h)
{
    if (h == NULL)
        return;
    if (h->mhd)
        MHD_stop_daemon(h->mhd);
    if (h->reader_started) {
        pthread_mutex_lock(&h->lock);
        h->stopping = true;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->lock);
        pthread_join(h->reader, NULL);
    }
    if (h->registry)
        registry_close(h->registry);
    if (h->journal)
        journal_close(h->journal);
    OPENSSL_cleanse(h->password, sizeof(h->password));
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
