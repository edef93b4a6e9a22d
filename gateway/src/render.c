/*
 * render.c - the `json` and `senml` profiles, written straight into the caller's buffer.
 *
 * Why not cJSON: profiling the publisher showed cJSON's tree building and number printing
 * (printf, then sscanf to check the round trip, for every value) at ~28 us per message,
 * 75 times the protobuf decode, and the largest CPU cost of publishing. Every value here is
 * a scaled integer (wire value / 10^k), so it is printed exactly with integer arithmetic:
 * 2153 / 100 is "21.53", -500 / 100 is "-5", never "21.530000000000001". Strings are our
 * own (device ids, validated gateway ids, fixed names) and are escaped all the same.
 * cJSON is still what parses this output in the tests, as an independent check.
 *
 * Samples are published as rows, one per sampling instant, because every series of an
 * uplink ends at the same instant and shares one interval: row k holds every series that
 * has a sample at that time. A dashboard or OS2iot decoder can then read a row as "the
 * readings at time T" without lining series up itself.
 */
#include "render.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/clock.h"

static const char *const status_flag_names[] = {"low_battery", "sensor_fault", "rebooted",
                                                "nvm_reset", "clock_unsynced"};

/* A bounded output buffer: writes past the end are dropped and remembered. */
struct out {
    char *buf;
    size_t size;
    size_t len;
    bool overflow;
};

static void put(struct out *o, const char *text, size_t n)
{
    if (o->overflow || n >= o->size - o->len) {
        o->overflow = true;
        return;
    }
    memcpy(o->buf + o->len, text, n);
    o->len += n;
}

static void put_str(struct out *o, const char *text)
{
    put(o, text, strlen(text));
}

static void put_char(struct out *o, char c)
{
    put(o, &c, 1);
}

/* A JSON string, escaped. */
static void put_json_string(struct out *o, const char *text)
{
    static const char hex[] = "0123456789abcdef";
    put_char(o, '"');
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            put(o, esc, 2);
        } else if (*p < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            put(o, esc, 6);
        } else {
            put_char(o, (char)*p);
        }
    }
    put_char(o, '"');
}

/* "key": */
static void put_key(struct out *o, const char *key)
{
    put_json_string(o, key);
    put_char(o, ':');
}

static void put_uint(struct out *o, uint64_t v)
{
    char digits[24];
    size_t n = 0;
    do {
        digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    put(o, digits + sizeof(digits) - n, n);
}

/* wire_value / divisor in decimal, exactly, without trailing zeros. divisor is a power of
 * ten (quantity table); the result always parses back to the nearest double. */
static void put_scaled(struct out *o, int32_t wire_value, int32_t divisor)
{
    int64_t v = wire_value;
    if (v < 0) {
        put_char(o, '-');
        v = -v;
    }
    uint64_t whole = (uint64_t)v / (uint64_t)divisor, frac = (uint64_t)v % (uint64_t)divisor;
    put_uint(o, whole);
    if (frac == 0)
        return;
    char digits[12];
    size_t n = 0;
    for (int32_t d = divisor / 10; d > 0; d /= 10) {
        digits[n++] = (char)('0' + frac / (uint64_t)d);
        frac %= (uint64_t)d;
    }
    while (n > 0 && digits[n - 1] == '0')
        n--;
    put_char(o, '.');
    put(o, digits, n);
}

static bool put_time(struct out *o, int64_t unix_ms, int with_ms)
{
    char text[CLOCK_RFC3339_SIZE];
    if (clock_format_rfc3339(unix_ms, with_ms, text) != 0)
        return false;
    put_json_string(o, text);
    return true;
}

/* ,"fcnt":..,"fport":..,"rssi_dbm":..,"snr_db":..[,"frequency_hz":..][,"datr":..],"gateways":[..]
 * SNR is reported by forwarders in steps of 0.25 dB at best: two decimals are exact. */
static void put_radio(struct out *o, const struct frame_radio *r)
{
    put_str(o, ",\"fcnt\":");
    put_uint(o, r->fcnt);
    put_str(o, ",\"fport\":");
    put_uint(o, r->fport);
    put_str(o, ",\"rssi_dbm\":");
    put_scaled(o, r->rssi_dbm, 1);
    put_str(o, ",\"snr_db\":");
    float centi_db = r->snr_db * 100.0f;
    put_scaled(o, (int32_t)(centi_db < 0 ? centi_db - 0.5f : centi_db + 0.5f), 100);
    if (r->freq_hz > 0) {
        put_str(o, ",\"frequency_hz\":");
        put_uint(o, r->freq_hz);
    }
    if (r->datr[0] != '\0') {
        put_str(o, ",\"datr\":");
        put_json_string(o, r->datr);
    }
    put_str(o, ",\"gateways\":[");
    for (uint8_t i = 0; i < r->n_gateways && i < FRAME_MAX_GATEWAYS; i++) {
        if (i > 0)
            put_char(o, ',');
        put_json_string(o, r->gateways[i]);
    }
    put_char(o, ']');
}

void render_message_id(const char *device, int64_t epoch, uint32_t seq,
                       char out[RENDER_MESSAGE_ID_SIZE])
{
    if (epoch <= 0)
        snprintf(out, RENDER_MESSAGE_ID_SIZE, "%.16s-%" PRIu32, device, seq);
    else
        snprintf(out, RENDER_MESSAGE_ID_SIZE, "%.16s-%" PRId64 "-%" PRIu32, device, epoch, seq);
}

void render_series_key(const struct decoded_series *s, char *out, size_t out_size)
{
    if (s->channel == 0)
        snprintf(out, out_size, "%s", s->quantity->json_key);
    else
        snprintf(out, out_size, "%s_ch%" PRIu32, s->quantity->json_key, s->channel);
}

static void put_status(struct out *o, uint32_t status)
{
    put_char(o, '[');
    bool first = true;
    for (unsigned bit = 0; bit < 32; bit++) {
        if ((status & (1u << bit)) == 0)
            continue;
        char unknown[16];
        const char *name = unknown;
        if (bit < sizeof(status_flag_names) / sizeof(status_flag_names[0]))
            name = status_flag_names[bit];
        else
            snprintf(unknown, sizeof(unknown), "bit%u", bit);
        if (!first)
            put_char(o, ',');
        put_json_string(o, name);
        first = false;
    }
    put_char(o, ']');
}

static void put_values(struct out *o, const struct decoded_uplink *u)
{
    put_char(o, '{');
    for (size_t i = 0; i < u->series_count; i++) {
        const struct decoded_series *s = &u->series[i];
        char key[64];
        render_series_key(s, key, sizeof(key));
        if (i > 0)
            put_char(o, ',');
        put_key(o, key);
        put_scaled(o, s->values[s->count - 1], s->quantity->divisor);
    }
    put_char(o, '}');
}

static bool put_samples(struct out *o, const struct decoded_uplink *u)
{
    put_char(o, '[');
    for (size_t k = 0; k < u->max_count; k++) {
        if (k > 0)
            put_char(o, ',');
        put_char(o, '{');
        put_key(o, "time");
        int64_t t_s = u->last_sample_s - (int64_t)(u->max_count - 1 - k) * u->interval_s;
        if (!put_time(o, t_s * 1000, 0))
            return false;
        for (size_t i = 0; i < u->series_count; i++) {
            const struct decoded_series *s = &u->series[i];
            size_t missing = u->max_count - s->count; /* shorter series start later */
            if (k < missing)
                continue;
            char key[64];
            render_series_key(s, key, sizeof(key));
            put_char(o, ',');
            put_key(o, key);
            put_scaled(o, s->values[k - missing], s->quantity->divisor);
        }
        put_char(o, '}');
    }
    put_char(o, ']');
    return true;
}

int render_json(const struct decoded_uplink *u, const struct render_meta *meta, char *out,
                size_t out_size, size_t *out_len, char reason[RENDER_REASON_SIZE])
{
    /* The radio metadata comes from a journal row, which a damaged database can fill with
     * anything: an SNR put_radio cannot print (NaN, or past int32 in centi-dB, undefined
     * behaviour in the conversion) is refused here, so the frame is quarantined with why. */
    if (meta->radio != NULL && meta->radio->has_lorawan &&
        !(fabsf(meta->radio->snr_db) <= RENDER_MAX_ABS_SNR_DB)) {
        snprintf(reason, RENDER_REASON_SIZE, "snr_db %g is not a number within +-%d dB",
                 (double)meta->radio->snr_db, RENDER_MAX_ABS_SNR_DB);
        return -1;
    }
    struct out o = {.buf = out, .size = out_size, .len = 0, .overflow = out_size == 0};
    char id[RENDER_MESSAGE_ID_SIZE];
    render_message_id(meta->device, meta->epoch, u->seq, id);
    int64_t first_sample_s =
        u->last_sample_s - (u->max_count > 1 ? (int64_t)(u->max_count - 1) * u->interval_s : 0);

    put_char(&o, '{');
    put_key(&o, "id");
    put_json_string(&o, id);
    put_str(&o, ",\"device\":");
    put_json_string(&o, meta->device);
    put_str(&o, ",\"gateway\":");
    put_json_string(&o, meta->gateway);
    put_str(&o, ",\"seq\":");
    put_uint(&o, u->seq);
    put_str(&o, ",\"epoch\":");
    put_uint(&o, meta->epoch > 0 ? (uint64_t)meta->epoch : 0);
    put_str(&o, ",\"time\":");
    bool times_ok = put_time(&o, first_sample_s * 1000, 0);
    put_str(&o, ",\"received\":");
    times_ok = times_ok && put_time(&o, meta->received_ms, 1);
    if (meta->heard_ms != 0) {
        put_str(&o, ",\"heard\":");
        times_ok = times_ok && put_time(&o, meta->heard_ms, 1);
    }
    put_str(&o, ",\"transport\":");
    put_json_string(&o, meta->transport);
    if (meta->radio != NULL && meta->radio->has_lorawan)
        put_radio(&o, meta->radio);
    put_str(&o, ",\"interval_s\":");
    put_uint(&o, u->interval_s);
    put_str(&o, ",\"status\":");
    put_status(&o, u->status);
    put_str(&o, u->alert ? ",\"alert\":true" : ",\"alert\":false");
    if (u->config_version != 0) {
        put_str(&o, ",\"config_version\":");
        put_uint(&o, u->config_version);
    }
    put_str(&o, ",\"values\":");
    put_values(&o, u);
    put_str(&o, ",\"samples\":");
    times_ok = times_ok && put_samples(&o, u);
    put_char(&o, '}');

    if (!times_ok) {
        snprintf(reason, RENDER_REASON_SIZE, "a sample time outside years 0-9999");
        return -1;
    }
    if (o.overflow) {
        snprintf(reason, RENDER_REASON_SIZE, "JSON does not fit %zu bytes", out_size);
        return -1;
    }
    out[o.len] = '\0'; /* put() always leaves room for it */
    *out_len = o.len;
    return 0;
}

/* ---- profile senml ---- */

/* The SenML unit (RFC 8428's registry, section 12.1) of a quantity and the divisor that
 * turns its wire value into that unit; NULL where the registry has none for it (ppm, dB(A),
 * µg/m3 ...): the record then has no "u" and its name keeps the unit, as in profile json. */
static const char *senml_unit(const struct quantity *q, int32_t *divisor)
{
    static const struct {
        const char *name;
        const char *unit;
        int32_t divisor; /* wire value / divisor is in unit */
    } units[] = {
        {"temperature", "Cel", 100}, {"relative_humidity", "%RH", 10},
        {"battery", "V", 1000},      {"occupancy", "count", 1},
        {"illuminance", "lx", 1},    {"pressure", "Pa", 1},
        {"water_volume", "l", 1},    {"power", "W", 1},
        {"distance", "m", 1000},     {"motion_events", "count", 1},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(units[i].name, q->name) == 0) {
            *divisor = units[i].divisor;
            return units[i].unit;
        }
    }
    *divisor = q->divisor;
    return NULL;
}

int render_senml(const struct decoded_uplink *u, const struct render_meta *meta, char *out,
                 size_t out_size, size_t *out_len, char reason[RENDER_REASON_SIZE])
{
    struct out o = {.buf = out, .size = out_size, .len = 0, .overflow = out_size == 0};
    char bn[FRAME_DEVICE_ID_SIZE + 16];
    /* RFC 9039's URN for an EUI-64; the record names follow it */
    snprintf(bn, sizeof(bn), "urn:dev:mac:%s:", meta->device);
    if (u->series_count == 0) {
        snprintf(reason, RENDER_REASON_SIZE, "no samples to render as SenML");
        return -1;
    }
    put_str(&o, "[{\"bn\":");
    put_json_string(&o, bn);
    put_str(&o, ",\"bt\":");
    /* bt: the last sample's time; each record's t is relative to it (0 or negative) */
    if (u->last_sample_s < 0) {
        snprintf(reason, RENDER_REASON_SIZE, "a sample time before 1970");
        return -1;
    }
    put_uint(&o, (uint64_t)u->last_sample_s);
    bool first = true;
    for (size_t i = 0; i < u->series_count; i++) {
        const struct decoded_series *s = &u->series[i];
        char name[64];
        render_series_key(s, name, sizeof(name));
        int32_t divisor;
        const char *unit = senml_unit(s->quantity, &divisor);
        for (size_t k = 0; k < s->count; k++) {
            put_str(&o, first ? ",\"n\":" : ",{\"n\":"); /* the first record has bn, bt */
            first = false;
            put_json_string(&o, name);
            if (unit) {
                put_str(&o, ",\"u\":");
                put_json_string(&o, unit);
            }
            put_str(&o, ",\"v\":");
            put_scaled(&o, s->values[k], divisor);
            uint64_t back_s = (uint64_t)(s->count - 1 - k) * u->interval_s;
            if (back_s > 0) {
                put_str(&o, ",\"t\":-");
                put_uint(&o, back_s);
            }
            put_char(&o, '}');
        }
    }
    put_char(&o, ']');
    if (o.overflow) {
        snprintf(reason, RENDER_REASON_SIZE, "SenML does not fit %zu bytes", out_size);
        return -1;
    }
    out[o.len] = '\0';
    *out_len = o.len;
    return 0;
}
