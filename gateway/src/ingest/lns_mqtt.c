/*
 * ingest/lns_mqtt.c - the ChirpStack v4 MQTT feed behind ingest/lns_mqtt.h.
 *
 * Parts: the event parser (pure, unit-tested), the recent-deduplicationId set, the map of
 * each device's applicationId (for downlinks), and the adapter: its MQTT session
 * (output/mqtt_session.h) and its thread.
 *
 * Concurrency. The adapter's thread drives the session (connects, reconnects), subscribes
 * on every connect and reacts to the subscription's result; Paho's callbacks only record
 * under lm->lock and wake it, except the message callback, which does the work of an event
 * on Paho's receive thread and waits there for the commit. Paho calls callbacks while
 * holding its own mutex, so nothing here calls into the session with lm->lock held. The
 * session keeps its client safe for downlink senders on any thread.
 */
#include "ingest/lns_mqtt.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#include "decode.h"
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

/* ---- base64 ---- */

static bool is_base64_char(unsigned char c)
{
    return isalnum(c) || c == '+' || c == '/';
}

/* Decodes standard padded base64. Returns the decoded length, or -1 (reason written) for
 * bad characters, bad padding or more than max bytes. */
static int decode_base64(const char *text, size_t len, uint8_t *out, size_t max,
                         char reason[LNS_MQTT_REASON_SIZE])
{
    if (len % 4 != 0) {
        snprintf(reason, LNS_MQTT_REASON_SIZE, "data: base64 length %zu is not a multiple of 4",
                 len);
        return -1;
    }
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '=' && i + 2 >= len) {
            pad++;
            continue;
        }
        if (!is_base64_char(c) || pad > 0) {
            snprintf(reason, LNS_MQTT_REASON_SIZE, "data: not base64 (character %zu)", i);
            return -1;
        }
    }
    size_t decoded = len / 4 * 3 - pad;
    if (decoded > max) {
        snprintf(reason, LNS_MQTT_REASON_SIZE, "data: %zu bytes (max %zu)", decoded, max);
        return -1;
    }
    if (len == 0)
        return 0;
    /* EVP_DecodeBlock writes whole 3-byte groups, the padding ones included */
    uint8_t buf[(LNS_MQTT_MAX_DATA_BYTES + 2) / 3 * 3 + 3];
    if (len / 4 * 3 > sizeof(buf) ||
        EVP_DecodeBlock(buf, (const unsigned char *)text, (int)len) != (int)(len / 4 * 3)) {
        snprintf(reason, LNS_MQTT_REASON_SIZE, "data: not base64");
        return -1;
    }
    memcpy(out, buf, decoded);
    return (int)decoded;
}

/* ---- JSON helpers ---- */

/* A JSON number that is a whole number within [lo, hi]. */
static bool json_integer(const cJSON *item, double lo, double hi, int64_t *out)
{
    if (!cJSON_IsNumber(item))
        return false;
    double d = item->valuedouble;
    if (!(d >= lo && d <= hi) || (double)(int64_t)d != d)
        return false; /* NaN fails the first test */
    *out = (int64_t)d;
    return true;
}

static bool json_real(const cJSON *item, double lo, double hi, double *out)
{
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= lo && item->valuedouble <= hi))
        return false;
    *out = item->valuedouble;
    return true;
}

static const char *json_string(const cJSON *item, size_t *len)
{
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return NULL;
    *len = strlen(item->valuestring);
    return item->valuestring;
}

/* Parses RFC 3339 ("2026-11-23T09:17:03.123456Z", "+01:00" offsets too) into unix ms. */
static int64_t parse_rfc3339_ms(const char *s, size_t len)
{
    if (len < 20 || len > 40)
        return -1;
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    const char *p = s + 19;
    int64_t ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++) {
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        }
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, m = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &m) != 2 || m != 5 || oh > 23 || om > 59)
            return -1;
        offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1;
    }
    if ((size_t)(p - s) != len)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    return ((int64_t)t - offset_s) * 1000 + ms;
}

/* Copies at most out_size - 1 bytes of text, cut on a UTF-8 boundary, control characters
 * replaced: names go into logs. */
static void copy_display_text(const char *text, char *out, size_t out_size)
{
    size_t n = strlen(text);
    if (n >= out_size) {
        n = out_size - 1;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--; /* text[n] continues a character: cut before that character */
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ? '?' : text[i];
    out[n] = '\0';
}

/* An id that goes into an MQTT topic level: letters, digits, '-', '_', '.'. */
static bool is_topic_word(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.')
            return false;
    }
    return true;
}

/* ---- the event parser ---- */

struct reception {
    char gateway[FRAME_DEVICE_ID_SIZE];
    int16_t rssi_dbm;
    float snr_db;
    int64_t gw_time_ms; /* gwTime (gateways with GNSS), -1 when absent */
    int64_t ns_time_ms; /* nsTime, -1 when absent */
};

/* An optional RFC 3339 string field: unix ms, or -1 when absent or unreadable. */
static int64_t json_time_ms(const cJSON *item)
{
    size_t len = 0;
    const char *s = json_string(item, &len);
    return s != NULL ? parse_rfc3339_ms(s, len) : -1;
}

static bool better(const struct reception *a, const struct reception *b)
{
    return a->rssi_dbm != b->rssi_dbm ? a->rssi_dbm > b->rssi_dbm : a->snr_db > b->snr_db;
}

/* Keeps the best FRAME_MAX_GATEWAYS receptions of rxInfo, best first, and the gwTime and
 * nsTime of the best of them that has one (into ev). Entries with a field missing or out
 * of range are skipped: radio metadata must not cost the data. */
static void parse_rx_info(const cJSON *rx_info, struct frame_radio *radio,
                          struct lns_uplink_event *ev)
{
    struct reception best[FRAME_MAX_GATEWAYS];
    size_t n = 0;
    const cJSON *entry;
    if (!cJSON_IsArray(rx_info))
        return;
    cJSON_ArrayForEach(entry, rx_info)
    {
        if (!cJSON_IsObject(entry))
            continue;
        struct reception r;
        size_t len = 0;
        const char *gw = json_string(cJSON_GetObjectItemCaseSensitive(entry, "gatewayId"), &len);
        int64_t rssi;
        double snr;
        if (gw == NULL || frame_parse_device_id(gw, len, r.gateway) != 0 ||
            !json_integer(cJSON_GetObjectItemCaseSensitive(entry, "rssi"), -200, 50, &rssi) ||
            !json_real(cJSON_GetObjectItemCaseSensitive(entry, "snr"), -50, 50, &snr))
            continue;
        r.rssi_dbm = (int16_t)rssi;
        r.snr_db = (float)snr;
        r.gw_time_ms = json_time_ms(cJSON_GetObjectItemCaseSensitive(entry, "gwTime"));
        r.ns_time_ms = json_time_ms(cJSON_GetObjectItemCaseSensitive(entry, "nsTime"));
        /* insertion into the sorted top list; a gateway listed twice counts once */
        bool duplicate = false;
        for (size_t i = 0; i < n; i++)
            duplicate = duplicate || strcmp(best[i].gateway, r.gateway) == 0;
        if (duplicate)
            continue;
        size_t pos = n;
        while (pos > 0 && better(&r, &best[pos - 1]))
            pos--;
        if (pos >= FRAME_MAX_GATEWAYS)
            continue;
        size_t last = n < FRAME_MAX_GATEWAYS ? n : FRAME_MAX_GATEWAYS - 1;
        memmove(&best[pos + 1], &best[pos], (last - pos) * sizeof(best[0]));
        best[pos] = r;
        if (n < FRAME_MAX_GATEWAYS)
            n++;
    }
    radio->n_gateways = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        memcpy(radio->gateways[i], best[i].gateway, FRAME_DEVICE_ID_SIZE);
        if (ev->gw_time_ms < 0)
            ev->gw_time_ms = best[i].gw_time_ms;
        if (ev->ns_time_ms < 0)
            ev->ns_time_ms = best[i].ns_time_ms;
    }
    if (n > 0) {
        radio->rssi_dbm = best[0].rssi_dbm;
        radio->snr_db = best[0].snr_db;
    }
}

static void parse_tx_info(const cJSON *tx_info, struct frame_radio *radio)
{
    int64_t freq, sf, bw;
    if (!cJSON_IsObject(tx_info))
        return;
    if (json_integer(cJSON_GetObjectItemCaseSensitive(tx_info, "frequency"), 1, 4294967295.0,
                     &freq))
        radio->freq_hz = (uint32_t)freq;
    const cJSON *modulation = cJSON_GetObjectItemCaseSensitive(tx_info, "modulation");
    const cJSON *lora = cJSON_GetObjectItemCaseSensitive(modulation, "lora");
    if (cJSON_IsObject(lora) &&
        json_integer(cJSON_GetObjectItemCaseSensitive(lora, "spreadingFactor"), 5, 12, &sf) &&
        json_integer(cJSON_GetObjectItemCaseSensitive(lora, "bandwidth"), 1000, 1625000, &bw) &&
        bw % 1000 == 0)
        snprintf(radio->datr, sizeof(radio->datr), "SF%uBW%u", (unsigned)sf & 0xFu,
                 (unsigned)(bw / 1000) & 0x7FFu); /* both in range: the masks only tell gcc */
}

static int bad(char reason[LNS_MQTT_REASON_SIZE], const char *what)
{
    snprintf(reason, LNS_MQTT_REASON_SIZE, "%s", what);
    return -1;
}

static int parse_event(const cJSON *root, struct lns_uplink_event *ev,
                       char reason[LNS_MQTT_REASON_SIZE])
{
    size_t len = 0;
    const char *s;
    if (!cJSON_IsObject(root))
        return bad(reason, "event: not a JSON object");

    const cJSON *info = cJSON_GetObjectItemCaseSensitive(root, "deviceInfo");
    if (!cJSON_IsObject(info))
        return bad(reason, "deviceInfo: missing or not an object");
    s = json_string(cJSON_GetObjectItemCaseSensitive(info, "devEui"), &len);
    if (s == NULL)
        return bad(reason, "deviceInfo.devEui: missing or not a string");
    if (frame_parse_device_id(s, len, ev->device) != 0)
        return bad(reason, "deviceInfo.devEui: not 16 hex digits");
    s = json_string(cJSON_GetObjectItemCaseSensitive(info, "deviceName"), &len);
    if (s != NULL)
        copy_display_text(s, ev->device_name, sizeof(ev->device_name));
    s = json_string(cJSON_GetObjectItemCaseSensitive(info, "applicationId"), &len);
    if (s != NULL && is_topic_word(s, len, LNS_MQTT_APP_ID_SIZE - 1))
        memcpy(ev->application_id, s, len + 1);

    s = json_string(cJSON_GetObjectItemCaseSensitive(root, "deduplicationId"), &len);
    if (s == NULL)
        return bad(reason, "deduplicationId: missing or not a string");
    if (len == 0 || len >= LNS_MQTT_DEDUP_ID_SIZE)
        return bad(reason, "deduplicationId: not 1-64 characters");
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return bad(reason, "deduplicationId: not printable ASCII");
    }
    memcpy(ev->dedup_id, s, len + 1);

    ev->time_ms = json_time_ms(cJSON_GetObjectItemCaseSensitive(root, "time"));

    int64_t fcnt;
    if (!json_integer(cJSON_GetObjectItemCaseSensitive(root, "fCnt"), 0, 4294967295.0, &fcnt))
        return bad(reason, "fCnt: missing or not an integer 0..4294967295");
    ev->radio.has_lorawan = true;
    ev->radio.fcnt = (uint32_t)fcnt;
    parse_rx_info(cJSON_GetObjectItemCaseSensitive(root, "rxInfo"), &ev->radio, ev);
    parse_tx_info(cJSON_GetObjectItemCaseSensitive(root, "txInfo"), &ev->radio);

    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (data == NULL || cJSON_IsNull(data))
        return 1; /* no FRMPayload (ChirpStack leaves data and fPort out) */
    s = json_string(data, &len);
    if (s == NULL)
        return bad(reason, "data: not a string");
    if (len > (LNS_MQTT_MAX_DATA_BYTES + 2) / 3 * 4) {
        snprintf(reason, LNS_MQTT_REASON_SIZE, "data: about %zu bytes (max %d)", len / 4 * 3,
                 LNS_MQTT_MAX_DATA_BYTES);
        return -1;
    }
    int decoded = decode_base64(s, len, ev->data, sizeof(ev->data), reason);
    if (decoded < 0)
        return -1;
    ev->data_len = (size_t)decoded;
    int64_t fport;
    if (!json_integer(cJSON_GetObjectItemCaseSensitive(root, "fPort"), 1, 255, &fport))
        return bad(reason, "fPort: missing or not an integer 1..255");
    ev->radio.fport = (uint8_t)fport;
    return ev->data_len > 0 ? 0 : 1;
}

int lns_mqtt_parse_uplink(const char *json, size_t len, struct lns_uplink_event *ev,
                          char reason[LNS_MQTT_REASON_SIZE])
{
    memset(ev, 0, sizeof(*ev));
    ev->time_ms = ev->gw_time_ms = ev->ns_time_ms = -1;
    reason[0] = '\0';
    if (len > LNS_MQTT_MAX_EVENT_BYTES) {
        snprintf(reason, LNS_MQTT_REASON_SIZE, "event: %zu bytes (max %d)", len,
                 LNS_MQTT_MAX_EVENT_BYTES);
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root == NULL)
        return bad(reason, "event: not JSON");
    int rc = parse_event(root, ev, reason);
    cJSON_Delete(root);
    return rc;
}

int lns_mqtt_heard_time(const struct lns_uplink_event *ev, int64_t received_ms, int64_t max_age_ms,
                        int64_t max_ahead_ms, int64_t *heard_ms, const char **source)
{
    *heard_ms = 0;
    *source = NULL;
    int64_t t = ev->time_ms;
    const char *from = "time";
    if (t < 0) {
        t = ev->gw_time_ms;
        from = "rxInfo[].gwTime";
    }
    if (t < 0) {
        t = ev->ns_time_ms;
        from = "rxInfo[].nsTime";
    }
    if (t < 0)
        return 0; /* none given: the receipt it is, nothing wrong */
    *source = from;
    /* both limits are at most 2^32 s apart from a receipt within years 1970-9999: no
     * overflow in the differences below */
    if (received_ms - t > max_age_ms || t - received_ms > max_ahead_ms)
        return -1;
    *heard_ms = t;
    return 0;
}

/* ---- the downlink command ---- */

int lns_mqtt_format_downlink(const char *dev_eui, uint8_t fport, const uint8_t *payload,
                             size_t payload_len, bool confirmed, char *out, size_t out_size,
                             char reason[LNS_MQTT_REASON_SIZE])
{
    char device[FRAME_DEVICE_ID_SIZE];
    if (dev_eui == NULL || frame_parse_device_id(dev_eui, strlen(dev_eui), device) != 0) {
        snprintf(reason, LNS_MQTT_REASON_SIZE, "devEui: not 16 hex digits");
        return -1;
    }
    if (fport < 1 || fport > 223) {
        snprintf(reason, LNS_MQTT_REASON_SIZE, "fPort %u: expected 1..223", fport);
        return -1;
    }
    if (payload_len > LNS_MQTT_MAX_DATA_BYTES || (payload_len > 0 && payload == NULL)) {
        snprintf(reason, LNS_MQTT_REASON_SIZE, "payload: %zu bytes (max %d)", payload_len,
                 LNS_MQTT_MAX_DATA_BYTES);
        return -1;
    }
    char data[(LNS_MQTT_MAX_DATA_BYTES + 2) / 3 * 4 + 1];
    int data_len =
        payload_len ? EVP_EncodeBlock((unsigned char *)data, payload, (int)payload_len) : 0;
    data[data_len] = '\0';
    int n =
        snprintf(out, out_size, "{\"devEui\":\"%s\",\"confirmed\":%s,\"fPort\":%u,\"data\":\"%s\"}",
                 device, confirmed ? "true" : "false", fport, data);
    if (n < 0 || (size_t)n >= out_size) {
        snprintf(reason, LNS_MQTT_REASON_SIZE, "downlink command does not fit %zu bytes", out_size);
        return -1;
    }
    return n;
}

/* ---- recently seen deduplicationIds ---- */

/* A ring of the last `capacity` ids with a chained hash index over it: lookups and inserts
 * in O(1), the oldest id forgotten when a new one comes. */
struct dedup_set {
    size_t capacity, mask, head, count;
    char (*ids)[LNS_MQTT_DEDUP_ID_SIZE];
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
    snprintf(d->ids[slot], LNS_MQTT_DEDUP_ID_SIZE, "%s", id);
    d->hashes[slot] = h;
    d->next[slot] = d->buckets[h & d->mask];
    d->buckets[h & d->mask] = (int32_t)slot;
    d->head = (slot + 1) % d->capacity;
}

/* ---- each device's applicationId, for downlinks ---- */

struct app_slot {
    bool used;
    char device[FRAME_DEVICE_ID_SIZE];
    char application_id[LNS_MQTT_APP_ID_SIZE];
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
    pthread_cond_t wake_cond;   /* the adapter's thread */
    pthread_cond_t commit_cond; /* the message callback waiting for its commit */

    /* --- under lock --- */
    bool stopping, wake;
    bool subscribed_event, subscribe_failed_event;
    int subscribe_reason;
    bool subscribed;
    bool commit_done;
    int commit_status;

    /* --- adapter thread only --- */
    int64_t session_due_mono_ms; /* when the session wants to be serviced again */
    struct mqtt_session_request subscribe_request;

    /* --- the message callback only (Paho calls it for one message at a time) --- */
    struct lns_uplink_event event;
    struct frame_record record;
    struct decoder decoder;
    struct decoded_uplink uplink;
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
                               char out[LNS_MQTT_APP_ID_SIZE])
{
    bool found = false;
    pthread_mutex_lock(&lm->app_lock);
    size_t start = app_slot_index(device);
    for (size_t i = 0; i < APP_MAP_PROBE && !found; i++) {
        const struct app_slot *s = &lm->apps[(start + i) % APP_MAP_SLOTS];
        if (s->used && strcmp(s->device, device) == 0) {
            memcpy(out, s->application_id, LNS_MQTT_APP_ID_SIZE);
            found = true;
        }
    }
    pthread_mutex_unlock(&lm->app_lock);
    return found;
}

/* ---- one event (the message callback, Paho's receive thread) ---- */

static void on_commit(void *ctx, int status, int64_t id)
{
    (void)id;
    struct lns_mqtt *lm = ctx;
    pthread_mutex_lock(&lm->lock);
    lm->commit_status = status;
    lm->commit_done = true;
    pthread_cond_broadcast(&lm->commit_cond);
    pthread_mutex_unlock(&lm->lock);
}

/* Hands lm->record to the journal writer and waits until it is committed. Returns 0, or -1
 * when it was not stored (queue full for APPEND_GIVE_UP_MS, or a failed commit). */
static int commit_record(struct lns_mqtt *lm, const char *quarantine_reason)
{
    int64_t give_up = clock_mono_ms() + APPEND_GIVE_UP_MS;
    pthread_mutex_lock(&lm->lock);
    lm->commit_done = false;
    pthread_mutex_unlock(&lm->lock);
    for (;;) {
        int rc = quarantine_reason ? journal_writer_quarantine(lm->writer, &lm->record,
                                                               quarantine_reason, on_commit, lm)
                                   : journal_writer_append(lm->writer, &lm->record, on_commit, lm);
        if (rc == 0)
            break;
        if (clock_mono_ms() >= give_up)
            return -1;
        /* the journal's queue is full: holding the event here holds back the broker too */
        struct timespec pause = {.tv_nsec = APPEND_RETRY_MS * 1000000L};
        nanosleep(&pause, NULL);
    }
    pthread_mutex_lock(&lm->lock);
    while (!lm->commit_done)
        pthread_cond_wait(&lm->commit_cond, &lm->lock);
    int status = lm->commit_status;
    pthread_mutex_unlock(&lm->lock);
    return status;
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
    struct lns_uplink_event *ev = &lm->event;
    struct frame_record *rec = &lm->record;
    char reason[LNS_MQTT_REASON_SIZE];
    int rc = lns_mqtt_parse_uplink(payload, payload_len, ev, reason);

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

    char why[DECODE_REASON_SIZE + BAD_EVENT_REASON_EXTRA];
    const char *quarantine_reason = NULL;
    if (rc == 0) {
        remember_application(lm, ev->device, ev->application_id);
        rec->payload_len = ev->data_len;
        memcpy(rec->payload, ev->data, ev->data_len);
        const char *time_source = NULL;
        if (lns_mqtt_heard_time(ev, rec->received_ms,
                                (int64_t)lm->cfg->lns_mqtt.max_event_age_s * 1000,
                                (int64_t)lm->cfg->lns_mqtt.max_event_ahead_s * 1000, &rec->heard_ms,
                                &time_source) != 0) {
            atomic_fetch_add(&lm->time_untrusted, 1);
            int64_t claimed = ev->time_ms >= 0      ? ev->time_ms
                              : ev->gw_time_ms >= 0 ? ev->gw_time_ms
                                                    : ev->ns_time_ms;
            log_untrusted_time(lm, rec, time_source, claimed);
        }
        char decode_why[DECODE_REASON_SIZE];
        if (decode_uplink(&lm->decoder, rec->payload, rec->payload_len, frame_anchor_ms(rec),
                          &lm->uplink, decode_why) != 0) {
            snprintf(why, sizeof(why), "%s", decode_why);
            quarantine_reason = why;
        }
        rec->has_uplink = quarantine_reason == NULL;
        rec->seq = lm->uplink.seq;
        rec->status = lm->uplink.status;
    } else {
        atomic_fetch_add(&lm->bad, 1);
        char shown_topic[TOPIC_SIZE];
        format_source(topic, topic_len, shown_topic, sizeof(shown_topic));
        log_bad_event(lm, shown_topic + 5, reason);
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
        quarantine_reason = why;
    }

    if (commit_record(lm, quarantine_reason) != 0) {
        atomic_fetch_add(&lm->not_stored, 1);
        log_error("lns-mqtt: event %s from %s not stored: the journal refused it", ev->dedup_id,
                  rec->device);
        return;
    }
    if (ev->dedup_id[0] != '\0')
        dedup_add(&lm->dedup, ev->dedup_id);
    if (quarantine_reason) {
        atomic_fetch_add(&lm->quarantined, 1);
        if (rc == 0)
            log_debug("lns-mqtt: event %s from %s quarantined: %s", ev->dedup_id, rec->device,
                      quarantine_reason);
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
    char reason[LNS_MQTT_REASON_SIZE], json[DOWNLINK_JSON_SIZE], topic[TOPIC_SIZE];
    char device[FRAME_DEVICE_ID_SIZE], app[LNS_MQTT_APP_ID_SIZE];
    int len = lns_mqtt_format_downlink(dev_eui, fport, payload, payload_len, confirmed, json,
                                       sizeof(json), reason);
    if (len < 0) {
        snprintf(err, err_size, "lns-mqtt downlink: %s", reason);
        return -1;
    }
    frame_parse_device_id(dev_eui, strlen(dev_eui), device); /* checked by the formatter */
    if (application_id != NULL && application_id[0] != '\0') {
        if (!topic_is_word(application_id, strlen(application_id), LNS_MQTT_APP_ID_SIZE - 1)) {
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
    if (n < 0 || (size_t)n >= sizeof(lm->filter) || lm->apps == NULL ||
        dedup_init(&lm->dedup, cfg->lns_mqtt.dedup_window) != 0) {
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
    pthread_cond_init(&lm->commit_cond, NULL);
    int rc = pthread_create(&lm->thread, NULL, lns_main, lm);
    if (rc != 0) {
        snprintf(err, err_size, "lns-mqtt: cannot start thread: %s", strerror(rc));
        pthread_cond_destroy(&lm->wake_cond);
        pthread_cond_destroy(&lm->commit_cond);
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
    pthread_cond_destroy(&lm->commit_cond);
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
