/*
 * fuzz_chirpstack.c - any bytes as a ChirpStack v4 uplink event (the payload of
 * application/+/device/+/event/up) through chirpstack_parse_uplink
 * (gateway/src/ingest/chirpstack.c), as ingest/lns_mqtt.c hands it every message of its
 * subscription; then the heard time and the downlink command built for that device.
 *
 * Invariants beyond the sanitizers:
 * - the result is 0 (data), 1 (no data) or -1 with a non-empty printable reason;
 * - what is kept lies within chirpstack.h's bounds, on -1 too: devEui 16 lower-case hex,
 *   deduplicationId 1-64 printable characters, no control character in the device name,
 *   an applicationId that chirpstack_is_application_id takes (or none), at most
 *   FRAME_MAX_GATEWAYS receiving gateways, each 16 lower-case hex and listed once, rssi and
 *   snr of the best within range, a datr "SF<5-12>BW<kHz>", times -1 or not before 1970;
 * - with data: 1..CHIRPSTACK_MAX_DATA_BYTES bytes and fPort 1..255, and the same fCnt, fPort
 *   and devEui as an independent read of the JSON (cJSON) finds;
 * - chirpstack_heard_time takes a time within its window, names where it came from, and
 *   refuses one outside it;
 * - a downlink command for the device is JSON naming it, with the payload base64-encoded.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ingest/chirpstack.h"
#include "util/base64.h"

#include "fuzz_support.h"

/* The harness's name for the parser: the one place to change if it moves again. */
#define parse_event chirpstack_parse_uplink

static void check_fields(const struct chirpstack_uplink *ev)
{
    size_t n = strlen(ev->device);
    FUZZ_CHECK(n == 0 || (n == 16 && fuzz_is_lower_hex(ev->device, 16)), "devEui %s", ev->device);
    n = strnlen(ev->dedup_id, sizeof(ev->dedup_id));
    FUZZ_CHECK(n < sizeof(ev->dedup_id), "deduplicationId not terminated");
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(ev->dedup_id[i] > 0x20 && ev->dedup_id[i] < 0x7f, "deduplicationId byte %zu", i);
    n = strnlen(ev->device_name, sizeof(ev->device_name));
    FUZZ_CHECK(n < sizeof(ev->device_name), "device name not terminated");
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK((unsigned char)ev->device_name[i] >= 0x20 && ev->device_name[i] != 0x7f,
                   "a control character in the device name");
    n = strnlen(ev->application_id, sizeof(ev->application_id));
    FUZZ_CHECK(n == 0 || chirpstack_is_application_id(ev->application_id, n), "applicationId %s",
               ev->application_id);
    FUZZ_CHECK(ev->time_ms >= -1 && ev->gw_time_ms >= -1 && ev->ns_time_ms >= -1, "times");
    FUZZ_CHECK(ev->data_len <= CHIRPSTACK_MAX_DATA_BYTES, "data %zu", ev->data_len);

    const struct frame_radio *r = &ev->radio;
    FUZZ_CHECK(r->n_gateways <= FRAME_MAX_GATEWAYS, "%u gateways", r->n_gateways);
    for (size_t i = 0; i < r->n_gateways; i++) {
        FUZZ_CHECK(strlen(r->gateways[i]) == 16 && fuzz_is_lower_hex(r->gateways[i], 16),
                   "gateway %s", r->gateways[i]);
        for (size_t j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(r->gateways[i], r->gateways[j]) != 0, "gateway %s twice",
                       r->gateways[i]);
    }
    if (r->n_gateways > 0)
        FUZZ_CHECK(r->rssi_dbm >= -200 && r->rssi_dbm <= 50 && r->snr_db >= -50 && r->snr_db <= 50,
                   "rssi %d, snr %g", r->rssi_dbm, (double)r->snr_db);
    n = strnlen(r->datr, sizeof(r->datr));
    FUZZ_CHECK(n < sizeof(r->datr), "datr not terminated");
    if (n > 0) {
        unsigned sf = 0, bw = 0;
        char tail = 0;
        FUZZ_CHECK(sscanf(r->datr, "SF%uBW%u%c", &sf, &bw, &tail) == 2 && sf >= 5 && sf <= 12 &&
                       bw >= 1 && bw <= 1625,
                   "datr %s", r->datr);
    }
}

/* An independent read of the fields that decide what is journaled. */
static void check_against_json(const char *json, size_t len, const struct chirpstack_uplink *ev)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    FUZZ_CHECK(root != NULL, "parsed, but cJSON does not read it");
    const cJSON *fcnt = cJSON_GetObjectItemCaseSensitive(root, "fCnt");
    const cJSON *fport = cJSON_GetObjectItemCaseSensitive(root, "fPort");
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(root, "deviceInfo");
    const cJSON *eui = cJSON_GetObjectItemCaseSensitive(info, "devEui");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    FUZZ_CHECK(cJSON_IsNumber(fcnt) && fcnt->valuedouble == (double)ev->radio.fcnt, "fCnt");
    FUZZ_CHECK(cJSON_IsNumber(fport) && fport->valuedouble == (double)ev->radio.fport, "fPort");
    FUZZ_CHECK(ev->radio.fport >= 1, "fPort 0");
    FUZZ_CHECK(cJSON_IsString(eui) && strlen(eui->valuestring) == 16, "devEui");
    for (size_t i = 0; i < 16; i++)
        FUZZ_CHECK(tolower((unsigned char)eui->valuestring[i]) == ev->device[i], "devEui %s",
                   eui->valuestring);
    uint8_t bytes[CHIRPSTACK_MAX_DATA_BYTES];
    FUZZ_CHECK(cJSON_IsString(data), "data");
    long n = base64_decode(data->valuestring, strlen(data->valuestring), BASE64_STRICT, bytes,
                           sizeof(bytes), NULL);
    FUZZ_CHECK(n == (long)ev->data_len && memcmp(bytes, ev->data, ev->data_len) == 0, "data");
    cJSON_Delete(root);
}

static void check_heard(const struct chirpstack_uplink *ev, int64_t received_ms)
{
    const int64_t max_age_ms = 86400000, max_ahead_ms = 300000;
    int64_t heard = -5;
    const char *source = "unset";
    int rc = chirpstack_heard_time(ev, received_ms, max_age_ms, max_ahead_ms, &heard, &source);
    int64_t given = ev->time_ms >= 0      ? ev->time_ms
                    : ev->gw_time_ms >= 0 ? ev->gw_time_ms
                                          : ev->ns_time_ms;
    if (given < 0) {
        FUZZ_CHECK(rc == 0 && heard == 0 && source == NULL, "no time given");
        return;
    }
    bool within = received_ms - given <= max_age_ms && given - received_ms <= max_ahead_ms;
    FUZZ_CHECK(source != NULL && rc == (within ? 0 : -1) && heard == (within ? given : 0),
               "time %" PRId64 " received %" PRId64 ": rc %d heard %" PRId64, given, received_ms,
               rc, heard);
}

static void check_downlink(const struct chirpstack_uplink *ev)
{
    char out[512], reason[CHIRPSTACK_REASON_SIZE] = "";
    uint8_t fport = ev->radio.fport;
    int n = chirpstack_format_downlink(ev->device, fport, ev->data, ev->data_len,
                                       ev->radio.fcnt & 1, out, sizeof(out), reason);
    if (fport < 1 || fport > 223) {
        FUZZ_CHECK(n == -1 && fuzz_is_printable_text(reason, sizeof(reason)), "fPort %u", fport);
        return;
    }
    FUZZ_CHECK(n > 0 && (size_t)n == strlen(out) && fuzz_is_json(out, (size_t)n),
               "downlink command: %s", reason);
    cJSON *root = cJSON_Parse(out);
    const cJSON *eui = cJSON_GetObjectItemCaseSensitive(root, "devEui");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    FUZZ_CHECK(cJSON_IsString(eui) && strcmp(eui->valuestring, ev->device) == 0, "its devEui");
    uint8_t bytes[CHIRPSTACK_MAX_DATA_BYTES];
    long len = cJSON_IsString(data) ? base64_decode(data->valuestring, strlen(data->valuestring),
                                                    BASE64_STRICT, bytes, sizeof(bytes), NULL)
                                    : -1;
    FUZZ_CHECK(len == (long)ev->data_len && memcmp(bytes, ev->data, ev->data_len) == 0, "its data");
    cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    const char *json = (const char *)data;
    int rc = parse_event(json, size, &ev, reason);
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == -1, "returned %d", rc);
    check_fields(&ev);
    if (rc == -1) {
        FUZZ_CHECK(fuzz_is_printable_text(reason, sizeof(reason)), "refused without a reason");
        return 0;
    }
    FUZZ_CHECK(strlen(ev.device) == 16 && ev.dedup_id[0] != '\0' && ev.radio.has_lorawan,
               "taken without devEui, deduplicationId or fCnt");
    FUZZ_CHECK((rc == 0) == (ev.data_len > 0), "rc %d with %zu bytes", rc, ev.data_len);
    if (rc == 0)
        check_against_json(json, size, &ev);
    /* a receipt near the event's own time, and one far from it */
    int64_t anchor = ev.time_ms >= 0 ? ev.time_ms : 1767225600000; /* 2026-01-01 */
    check_heard(&ev, anchor + (int64_t)(ev.radio.fcnt % 600000) - 300000);
    check_heard(&ev, anchor + 86400000ll * 2);
    check_downlink(&ev);
    return 0;
}
