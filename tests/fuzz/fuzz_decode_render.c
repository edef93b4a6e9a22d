/*
 * fuzz_decode_render.c - an Uplink's bytes through decode_uplink (gateway/src/decode.c) and
 * every render profile (gateway/src/render.c), as the publisher runs them on a journaled
 * frame.
 *
 * Input: a header of HEADER_BYTES giving what the journal row holds beside the payload (the
 * reception time, heard time, message epoch, transport and the radio metadata, SNR as raw
 * float bits since a damaged row can hold any), then the Uplink bytes. Reception times lie
 * within 2020-2100, where every decoded uplink must render.
 *
 * Invariants beyond the sanitizers:
 * - decode refuses with a non-empty printable reason, or yields samples within the bounds
 *   of decode.h (series count, samples per series, the pool, interval, age, span, clock,
 *   a known quantity per series, each (quantity, channel) once, something to publish);
 * - the same bytes decode identically twice (a second decoder, a second output);
 * - every profile renders a decoded uplink: valid JSON (cJSON parses it back, nothing
 *   after it) under RENDER_MAX_JSON_BYTES, with seq, one value per series under a key of
 *   its own equal to the wire value scaled, and one sample row per sampling instant;
 *   rendering twice gives the same bytes, and a buffer one byte short is refused cleanly.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "decode.h"
#include "render.h"

#include "fuzz_support.h"

#define HEADER_BYTES  28
#define YEAR_2020_MS  1577836800000ll
#define RECEIVED_SPAN (80ll * 365 * 86400) /* seconds: up to 2100 */

/* ---- the render profiles ---- */

typedef int (*render_fn)(const struct decoded_uplink *u, const struct render_meta *meta, char *out,
                         size_t out_size, size_t *out_len, char reason[RENDER_REASON_SIZE]);

/* render.h has no table of profiles; config.h's enum config_profile is the list the daemon
 * accepts. render_profile() switches over that enum without a default, so a profile added
 * to the enum breaks this build (-Wswitch, warnings are errors) until it is fuzzed here
 * too: add it to the switch and to profiles[]. */
static render_fn render_profile(enum config_profile profile, const char **name)
{
    switch (profile) {
    case CONFIG_PROFILE_JSON:
        *name = "json";
        return render_json;
    case CONFIG_PROFILE_SENML:
        *name = "senml";
        return render_senml;
    }
    return NULL;
}

static const enum config_profile profiles[] = {CONFIG_PROFILE_JSON, CONFIG_PROFILE_SENML};

/* ---- the journal row around the payload ---- */

struct row {
    int64_t received_ms;
    struct render_meta meta;
    struct frame_radio radio;
};

static const char *const transports[] = {"coap", "semtech-udp", "lns-mqtt"};
/* What a datr column may hold, escapes included: render.c escapes every string. */
static const char *const datrs[] = {"", "SF7BW125", "SF12BW125", "SF9BW500", "\"\\\x01\x7f"};

static void read_row(struct fuzz_reader *r, struct row *row)
{
    memset(row, 0, sizeof(*row));
    uint32_t received_s = fuzz_u32(r);
    uint16_t received_frac = fuzz_u16(r);
    row->received_ms =
        YEAR_2020_MS + (int64_t)(received_s % RECEIVED_SPAN) * 1000 + received_frac % 1000;
    uint8_t heard = fuzz_u8(r);
    uint16_t heard_before_s = fuzz_u16(r);
    uint8_t epoch = fuzz_u8(r);
    uint8_t flags = fuzz_u8(r);
    struct frame_radio *radio = &row->radio;
    radio->has_lorawan = flags & 1;
    radio->fcnt = fuzz_u32(r);
    radio->fport = fuzz_u8(r);
    radio->rssi_dbm = (int16_t)fuzz_u16(r);
    uint32_t snr_bits = fuzz_u32(r);
    memcpy(&radio->snr_db, &snr_bits, sizeof(radio->snr_db));
    radio->freq_hz = fuzz_u32(r);
    uint8_t datr = fuzz_u8(r);
    snprintf(radio->datr, sizeof(radio->datr), "%s",
             datrs[datr % (sizeof(datrs) / sizeof(*datrs))]);
    radio->n_gateways = fuzz_u8(r) % 8; /* a damaged row may claim more than it holds */
    for (size_t i = 0; i < FRAME_MAX_GATEWAYS; i++)
        snprintf(radio->gateways[i], sizeof(radio->gateways[i]), "00000000000000%02zx", i);

    row->meta.device = "70b3d57ed0001234";
    row->meta.gateway = "gw-fuzz";
    row->meta.transport = transports[(flags >> 1) % 3];
    row->meta.received_ms = row->received_ms;
    row->meta.heard_ms = heard & 1 ? row->received_ms - (int64_t)heard_before_s * 1000 : 0;
    row->meta.epoch = epoch < 128 ? 0 : epoch;
    row->meta.radio = flags & 8 ? NULL : radio;
}

/* ---- decode ---- */

static void check_decoded(const struct decoded_uplink *u, const struct row *row)
{
    size_t total = 0, longest = 0;
    FUZZ_CHECK(u->series_count <= DECODE_MAX_SERIES, "%zu series", u->series_count);
    FUZZ_CHECK(u->series_count > 0 || u->status != 0, "nothing to publish was accepted");
    for (size_t i = 0; i < u->series_count; i++) {
        const struct decoded_series *s = &u->series[i];
        FUZZ_CHECK(s->quantity != NULL && quantity_find(s->quantity->id) == s->quantity,
                   "series %zu: not a quantity of the table", i);
        FUZZ_CHECK(s->count >= 1 && s->count <= DECODE_MAX_SAMPLES_PER_SERIES, "series %zu: %zu", i,
                   s->count);
        FUZZ_CHECK(s->values >= u->values && s->values + s->count <= u->values + u->values_used,
                   "series %zu: values outside the pool", i);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(u->series[j].quantity != s->quantity || u->series[j].channel != s->channel,
                       "series %zu and %zu are the same quantity and channel", j, i);
        total += s->count;
        if (s->count > longest)
            longest = s->count;
    }
    FUZZ_CHECK(total == u->values_used && u->values_used <= DECODE_MAX_SAMPLES, "%zu of %zu", total,
               u->values_used);
    FUZZ_CHECK(longest == u->max_count, "max_count %zu, longest %zu", u->max_count, longest);
    FUZZ_CHECK(u->interval_s <= DECODE_MAX_INTERVAL_S && u->age_s <= DECODE_MAX_AGE_S, "%u %u",
               u->interval_s, u->age_s);
    FUZZ_CHECK(u->max_count <= 1 || u->interval_s > 0, "samples without an interval");
    FUZZ_CHECK(u->max_count <= 1 ||
                   (int64_t)(u->max_count - 1) * u->interval_s <= DECODE_MAX_SPAN_S,
               "span");
    int64_t received_s = row->received_ms / 1000;
    if (u->time_s != 0) {
        FUZZ_CHECK(u->time_s >= DECODE_MIN_SYNCED_TIME_S &&
                       u->time_s <= received_s + DECODE_MAX_CLOCK_AHEAD_S,
                   "time %u", u->time_s);
        FUZZ_CHECK(u->last_sample_s == u->time_s, "last sample");
    } else {
        FUZZ_CHECK(u->last_sample_s == received_s - u->age_s, "last sample");
    }
}

/* Equal as values: the series point into their own uplink's pool. */
static bool same_uplink(const struct decoded_uplink *a, const struct decoded_uplink *b)
{
    if (a->seq != b->seq || a->interval_s != b->interval_s || a->age_s != b->age_s ||
        a->status != b->status || a->time_s != b->time_s ||
        a->config_version != b->config_version || a->alert != b->alert ||
        a->last_sample_s != b->last_sample_s || a->max_count != b->max_count ||
        a->series_count != b->series_count || a->values_used != b->values_used)
        return false;
    for (size_t i = 0; i < a->series_count; i++) {
        const struct decoded_series *x = &a->series[i], *y = &b->series[i];
        if (x->quantity != y->quantity || x->channel != y->channel || x->count != y->count ||
            memcmp(x->values, y->values, x->count * sizeof(*x->values)) != 0)
            return false;
    }
    return true;
}

/* ---- render ---- */

static void check_json(const char *name, const char *json, size_t len,
                       const struct decoded_uplink *u)
{
    FUZZ_CHECK(len < RENDER_MAX_JSON_BYTES && strlen(json) == len, "%s: %zu bytes", name, len);
    FUZZ_CHECK(fuzz_is_json(json, len), "%s: not JSON: %s", name, json);
    cJSON *root = cJSON_ParseWithLength(json, len);
    FUZZ_CHECK(cJSON_IsObject(root), "%s: not an object", name);
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(root, "seq");
    FUZZ_CHECK(cJSON_IsNumber(seq) && seq->valuedouble == (double)u->seq, "%s: seq", name);
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(root, "values");
    FUZZ_CHECK(cJSON_IsObject(values) && (size_t)cJSON_GetArraySize(values) == u->series_count,
               "%s: values", name);
    for (size_t i = 0; i < u->series_count; i++) {
        const struct decoded_series *s = &u->series[i];
        char key[64];
        render_series_key(s, key, sizeof(key));
        int same_key = 0;
        const cJSON *item, *found = NULL;
        cJSON_ArrayForEach(item, values)
        {
            if (strcmp(item->string, key) == 0) {
                same_key++;
                found = item;
            }
        }
        FUZZ_CHECK(same_key == 1, "%s: key %s appears %d times", name, key, same_key);
        /* printed exactly: parses back to the nearest double of wire / divisor */
        double expected = (double)s->values[s->count - 1] / s->quantity->divisor;
        FUZZ_CHECK(cJSON_IsNumber(found) && found->valuedouble == expected, "%s: %s is %.17g", name,
                   key, found->valuedouble);
    }
    const cJSON *samples = cJSON_GetObjectItemCaseSensitive(root, "samples");
    FUZZ_CHECK(cJSON_IsArray(samples) && (size_t)cJSON_GetArraySize(samples) == u->max_count,
               "%s: samples", name);
    const cJSON *snr = cJSON_GetObjectItemCaseSensitive(root, "snr_db");
    FUZZ_CHECK(snr == NULL || cJSON_IsNumber(snr) || cJSON_IsNull(snr), "%s: snr_db", name);
    cJSON_Delete(root);
}

/* What render.h promises to print: any SNR within RENDER_MAX_ABS_SNR_DB (not NaN). */
static bool snr_printable(const struct row *row)
{
    const struct frame_radio *radio = row->meta.radio;
    return radio == NULL || !radio->has_lorawan ||
           fabsf(radio->snr_db) <= (float)RENDER_MAX_ABS_SNR_DB;
}

/* SenML (RFC 8428): one record per sample, the first carrying bn and bt, every record an n
 * and a numeric v; t relative and never positive. */
static void check_senml(const char *name, const char *json, size_t len,
                        const struct decoded_uplink *u)
{
    FUZZ_CHECK(len < RENDER_MAX_JSON_BYTES && strlen(json) == len, "%s: %zu bytes", name, len);
    FUZZ_CHECK(fuzz_is_json(json, len), "%s: not JSON: %s", name, json);
    cJSON *root = cJSON_ParseWithLength(json, len);
    FUZZ_CHECK(cJSON_IsArray(root), "%s: not an array", name);
    size_t samples = 0;
    for (size_t i = 0; i < u->series_count; i++)
        samples += u->series[i].count;
    FUZZ_CHECK((size_t)cJSON_GetArraySize(root) == samples, "%s: %d records for %zu samples", name,
               cJSON_GetArraySize(root), samples);
    const cJSON *record;
    bool first = true;
    cJSON_ArrayForEach(record, root)
    {
        FUZZ_CHECK(cJSON_IsObject(record), "%s: a record is not an object", name);
        const cJSON *bn = cJSON_GetObjectItemCaseSensitive(record, "bn");
        const cJSON *bt = cJSON_GetObjectItemCaseSensitive(record, "bt");
        FUZZ_CHECK(first ? cJSON_IsString(bn) && cJSON_IsNumber(bt) : bn == NULL && bt == NULL,
                   "%s: bn/bt on the wrong record", name);
        FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(record, "n")), "%s: n", name);
        FUZZ_CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(record, "v")), "%s: v", name);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(record, "t");
        FUZZ_CHECK(t == NULL || (cJSON_IsNumber(t) && t->valuedouble < 0), "%s: t", name);
        first = false;
    }
    cJSON_Delete(root);
}

/* What a profile refuses, with a reason, rather than renders: json any SNR beyond
 * RENDER_MAX_ABS_SNR_DB (render.h's promise); senml an uplink with no samples or a sample
 * time before 1970 (it has no radio fields). */
static bool json_refuses(const struct decoded_uplink *u, const struct row *row)
{
    (void)u;
    return !snr_printable(row);
}

static bool senml_refuses(const struct decoded_uplink *u, const struct row *row)
{
    (void)row;
    return u->series_count == 0 || u->last_sample_s < 0;
}

struct profile_check {
    void (*check)(const char *name, const char *json, size_t len, const struct decoded_uplink *u);
    bool (*refuses)(const struct decoded_uplink *u, const struct row *row);
};

static struct profile_check profile_check(enum config_profile profile)
{
    switch (profile) {
    case CONFIG_PROFILE_JSON:
        return (struct profile_check){check_json, json_refuses};
    case CONFIG_PROFILE_SENML:
        return (struct profile_check){check_senml, senml_refuses};
    }
    return (struct profile_check){NULL, NULL};
}

static void render_all(const struct decoded_uplink *u, const struct row *row)
{
    static char out[RENDER_MAX_JSON_BYTES], again[RENDER_MAX_JSON_BYTES];
    for (size_t p = 0; p < sizeof(profiles) / sizeof(profiles[0]); p++) {
        const char *name = "?";
        render_fn render = render_profile(profiles[p], &name);
        struct profile_check pc = profile_check(profiles[p]);
        FUZZ_CHECK(render != NULL && pc.check != NULL, "profile %d has no renderer or check",
                   (int)profiles[p]);
        char reason[RENDER_REASON_SIZE] = "";
        size_t len = 0, len_again = 0;
        int rc = render(u, &row->meta, out, sizeof(out), &len, reason);
        if (pc.refuses(u, row)) {
            FUZZ_CHECK(rc == -1 && fuzz_is_printable_text(reason, sizeof(reason)),
                       "%s: rendered what it should refuse, or refused without a reason", name);
            continue;
        }
        FUZZ_CHECK(rc == 0, "%s: a decoded uplink does not render: %s", name, reason);
        pc.check(name, out, len, u);
        rc = render(u, &row->meta, again, sizeof(again), &len_again, reason);
        FUZZ_CHECK(rc == 0 && len_again == len && memcmp(out, again, len) == 0,
                   "%s: rendered differently twice", name);
        /* the exact fit (room for the NUL) renders, one byte less is refused */
        rc = render(u, &row->meta, again, len + 1, &len_again, reason);
        FUZZ_CHECK(rc == 0 && len_again == len, "%s: does not fit %zu bytes", name, len + 1);
        reason[0] = '\0';
        rc = render(u, &row->meta, again, len, &len_again, reason);
        FUZZ_CHECK(rc == -1 && fuzz_is_printable_text(reason, sizeof(reason)),
                   "%s: fits %zu bytes, or no reason", name, len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct decoder decoder, decoder_again;
    static struct decoded_uplink uplink, uplink_again;
    if (size < HEADER_BYTES)
        return 0;
    struct fuzz_reader r;
    fuzz_reader_init(&r, data, HEADER_BYTES);
    struct row row;
    read_row(&r, &row);
    const uint8_t *payload = data + HEADER_BYTES;
    size_t payload_len = size - HEADER_BYTES;

    char reason[DECODE_REASON_SIZE], reason_again[DECODE_REASON_SIZE];
    int rc = decode_uplink(&decoder, payload, payload_len, row.received_ms, &uplink, reason);
    int rc_again = decode_uplink(&decoder_again, payload, payload_len, row.received_ms,
                                 &uplink_again, reason_again);
    FUZZ_CHECK(rc == 0 || rc == -1, "decode returned %d", rc);
    FUZZ_CHECK(rc == rc_again, "decoded once as %d, once as %d", rc, rc_again);
    if (rc != 0) {
        FUZZ_CHECK(fuzz_is_printable_text(reason, sizeof(reason)), "refused without a reason");
        FUZZ_CHECK(strcmp(reason, reason_again) == 0, "two reasons: %s / %s", reason, reason_again);
        return 0;
    }
    check_decoded(&uplink, &row);
    FUZZ_CHECK(same_uplink(&uplink, &uplink_again), "decoded differently twice");
    render_all(&uplink, &row);
    return 0;
}
