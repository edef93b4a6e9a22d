/*
 * ingest/chirpstack.c - ChirpStack v4 uplink events and downlink commands
 * (ingest/chirpstack.h). An event is parsed once with cJSON and read field by field; radio
 * metadata that is missing or out of range is left out rather than costing the data.
 */
#include "ingest/chirpstack.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "util/base64.h"
#include "util/rfc3339.h"

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

bool chirpstack_is_application_id(const char *s, size_t len)
{
    if (len == 0 || len > CHIRPSTACK_APP_ID_SIZE - 1)
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
    int64_t ms;
    const char *s = json_string(item, &len);
    if (s == NULL || rfc3339_parse_ms(s, len, &ms) != 0 || ms < 0)
        return -1; /* before 1970 is no reception time either */
    return ms;
}

/* Keeps the best FRAME_MAX_GATEWAYS receptions of rxInfo, best first, and the gwTime and
 * nsTime of the best of them that has one (into ev). Entries with a field missing or out
 * of range are skipped: radio metadata must not cost the data. */
static void parse_rx_info(const cJSON *rx_info, struct frame_radio *radio,
                          struct chirpstack_uplink *ev)
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
        while (pos > 0 && frame_radio_better(r.rssi_dbm, r.snr_db, best[pos - 1].rssi_dbm,
                                             best[pos - 1].snr_db))
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

static int bad(char reason[CHIRPSTACK_REASON_SIZE], const char *what)
{
    snprintf(reason, CHIRPSTACK_REASON_SIZE, "%s", what);
    return -1;
}

/* `data` that is not padded base64 of at most CHIRPSTACK_MAX_DATA_BYTES. */
static int bad_base64(char reason[CHIRPSTACK_REASON_SIZE], size_t len,
                      const struct base64_error *fault)
{
    switch (fault->fault) {
    case BASE64_FAULT_LENGTH:
        snprintf(reason, CHIRPSTACK_REASON_SIZE, "data: base64 length %zu is not a multiple of 4",
                 len);
        break;
    case BASE64_FAULT_CHARACTER:
        snprintf(reason, CHIRPSTACK_REASON_SIZE, "data: not base64 (character %zu)", fault->at);
        break;
    case BASE64_FAULT_SPACE:
        snprintf(reason, CHIRPSTACK_REASON_SIZE, "data: %zu bytes (max %d)", fault->decoded_len,
                 CHIRPSTACK_MAX_DATA_BYTES);
        break;
    default:
        snprintf(reason, CHIRPSTACK_REASON_SIZE, "data: not base64");
    }
    return -1;
}

static int parse_event(const cJSON *root, struct chirpstack_uplink *ev,
                       char reason[CHIRPSTACK_REASON_SIZE])
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
    if (s != NULL && chirpstack_is_application_id(s, len))
        memcpy(ev->application_id, s, len + 1);

    s = json_string(cJSON_GetObjectItemCaseSensitive(root, "deduplicationId"), &len);
    if (s == NULL)
        return bad(reason, "deduplicationId: missing or not a string");
    if (len == 0 || len >= CHIRPSTACK_DEDUP_ID_SIZE)
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
    if (len > BASE64_ENCODED_LEN(CHIRPSTACK_MAX_DATA_BYTES)) {
        snprintf(reason, CHIRPSTACK_REASON_SIZE, "data: about %zu bytes (max %d)", len / 4 * 3,
                 CHIRPSTACK_MAX_DATA_BYTES);
        return -1;
    }
    struct base64_error fault;
    long decoded = base64_decode(s, len, BASE64_STRICT, ev->data, sizeof(ev->data), &fault);
    if (decoded < 0)
        return bad_base64(reason, len, &fault);
    ev->data_len = (size_t)decoded;
    int64_t fport;
    if (!json_integer(cJSON_GetObjectItemCaseSensitive(root, "fPort"), 1, 255, &fport))
        return bad(reason, "fPort: missing or not an integer 1..255");
    ev->radio.fport = (uint8_t)fport;
    return ev->data_len > 0 ? 0 : 1;
}

int chirpstack_parse_uplink(const char *json, size_t len, struct chirpstack_uplink *ev,
                            char reason[CHIRPSTACK_REASON_SIZE])
{
    memset(ev, 0, sizeof(*ev));
    ev->time_ms = ev->gw_time_ms = ev->ns_time_ms = -1;
    reason[0] = '\0';
    if (len > CHIRPSTACK_MAX_EVENT_BYTES) {
        snprintf(reason, CHIRPSTACK_REASON_SIZE, "event: %zu bytes (max %d)", len,
                 CHIRPSTACK_MAX_EVENT_BYTES);
        return -1;
    }
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (root == NULL)
        return bad(reason, "event: not JSON");
    int rc = parse_event(root, ev, reason);
    cJSON_Delete(root);
    return rc;
}

int chirpstack_heard_time(const struct chirpstack_uplink *ev, int64_t received_ms,
                          int64_t max_age_ms, int64_t max_ahead_ms, int64_t *heard_ms,
                          const char **source)
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

int chirpstack_format_downlink(const char *dev_eui, uint8_t fport, const uint8_t *payload,
                               size_t payload_len, bool confirmed, char *out, size_t out_size,
                               char reason[CHIRPSTACK_REASON_SIZE])
{
    char device[FRAME_DEVICE_ID_SIZE];
    if (dev_eui == NULL || frame_parse_device_id(dev_eui, strlen(dev_eui), device) != 0) {
        snprintf(reason, CHIRPSTACK_REASON_SIZE, "devEui: not 16 hex digits");
        return -1;
    }
    if (fport < 1 || fport > 223) {
        snprintf(reason, CHIRPSTACK_REASON_SIZE, "fPort %u: expected 1..223", fport);
        return -1;
    }
    if (payload_len > CHIRPSTACK_MAX_DATA_BYTES || (payload_len > 0 && payload == NULL)) {
        snprintf(reason, CHIRPSTACK_REASON_SIZE, "payload: %zu bytes (max %d)", payload_len,
                 CHIRPSTACK_MAX_DATA_BYTES);
        return -1;
    }
    char data[BASE64_ENCODED_LEN(CHIRPSTACK_MAX_DATA_BYTES) + 1];
    if (base64_encode(payload, payload_len, data, sizeof(data)) < 0) {
        snprintf(reason, CHIRPSTACK_REASON_SIZE, "payload: cannot encode");
        return -1;
    }
    int n =
        snprintf(out, out_size, "{\"devEui\":\"%s\",\"confirmed\":%s,\"fPort\":%u,\"data\":\"%s\"}",
                 device, confirmed ? "true" : "false", fport, data);
    if (n < 0 || (size_t)n >= out_size) {
        snprintf(reason, CHIRPSTACK_REASON_SIZE, "downlink command does not fit %zu bytes",
                 out_size);
        return -1;
    }
    return n;
}
