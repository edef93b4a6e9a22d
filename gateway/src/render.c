/*
 * render.c - the `json` profile, built with cJSON.
 *
 * Samples are published as rows, one per sampling instant, because every series of an
 * uplink ends at the same instant and shares one interval: row k holds every series that
 * has a sample at that time. A dashboard or OS2iot decoder can then read a row as "the
 * readings at time T" without lining series up itself.
 */
#include "render.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"

static const char *const status_flag_names[] = {"low_battery", "sensor_fault", "rebooted",
                                                "nvm_reset", "clock_unsynced"};

void render_message_id(const char *device, uint32_t seq, char out[RENDER_MESSAGE_ID_SIZE])
{
    snprintf(out, RENDER_MESSAGE_ID_SIZE, "%.16s-%" PRIu32, device, seq);
}

void render_series_key(const struct decoded_series *s, char *out, size_t out_size)
{
    if (s->channel == 0)
        snprintf(out, out_size, "%s", s->quantity->json_key);
    else
        snprintf(out, out_size, "%s_ch%" PRIu32, s->quantity->json_key, s->channel);
}

static bool add_number(cJSON *obj, const char *key, const struct quantity *q, int32_t wire_value)
{
    /* int / power of ten is correctly rounded in IEEE double, so cJSON prints the shortest
     * decimal: 2153 / 100 prints as 21.53. */
    return cJSON_AddNumberToObject(obj, key, (double)wire_value / (double)q->divisor) != NULL;
}

static bool add_time(cJSON *obj, const char *key, int64_t unix_ms, int with_ms)
{
    char text[CLOCK_RFC3339_SIZE];
    if (clock_format_rfc3339(unix_ms, with_ms, text) != 0)
        return false;
    return cJSON_AddStringToObject(obj, key, text) != NULL;
}

static bool add_status(cJSON *root, uint32_t status)
{
    cJSON *flags = cJSON_AddArrayToObject(root, "status");
    if (flags == NULL)
        return false;
    for (unsigned bit = 0; bit < 32; bit++) {
        if ((status & (1u << bit)) == 0)
            continue;
        char unknown[16];
        const char *name = unknown;
        if (bit < sizeof(status_flag_names) / sizeof(status_flag_names[0]))
            name = status_flag_names[bit];
        else
            snprintf(unknown, sizeof(unknown), "bit%u", bit);
        cJSON *item = cJSON_CreateString(name);
        if (item == NULL || !cJSON_AddItemToArray(flags, item)) {
            cJSON_Delete(item);
            return false;
        }
    }
    return true;
}

static bool add_values(cJSON *root, const struct decoded_uplink *u)
{
    cJSON *values = cJSON_AddObjectToObject(root, "values");
    if (values == NULL)
        return false;
    for (size_t i = 0; i < u->series_count; i++) {
        const struct decoded_series *s = &u->series[i];
        char key[64];
        render_series_key(s, key, sizeof(key));
        if (!add_number(values, key, s->quantity, s->values[s->count - 1]))
            return false;
    }
    return true;
}

static bool add_samples(cJSON *root, const struct decoded_uplink *u)
{
    cJSON *rows = cJSON_AddArrayToObject(root, "samples");
    if (rows == NULL)
        return false;
    for (size_t k = 0; k < u->max_count; k++) {
        cJSON *row = cJSON_CreateObject();
        if (row == NULL || !cJSON_AddItemToArray(rows, row)) {
            cJSON_Delete(row);
            return false;
        }
        int64_t t_s = u->last_sample_s - (int64_t)(u->max_count - 1 - k) * u->interval_s;
        if (!add_time(row, "time", t_s * 1000, 0))
            return false;
        for (size_t i = 0; i < u->series_count; i++) {
            const struct decoded_series *s = &u->series[i];
            size_t missing = u->max_count - s->count; /* shorter series start later */
            if (k < missing)
                continue;
            char key[64];
            render_series_key(s, key, sizeof(key));
            if (!add_number(row, key, s->quantity, s->values[k - missing]))
                return false;
        }
    }
    return true;
}

static bool build_json(cJSON *root, const struct decoded_uplink *u, const struct render_meta *meta)
{
    char id[RENDER_MESSAGE_ID_SIZE];
    render_message_id(meta->device, u->seq, id);
    int64_t first_sample_s =
        u->last_sample_s - (u->max_count > 1 ? (int64_t)(u->max_count - 1) * u->interval_s : 0);

    return cJSON_AddStringToObject(root, "id", id) != NULL &&
           cJSON_AddStringToObject(root, "device", meta->device) != NULL &&
           cJSON_AddStringToObject(root, "gateway", meta->gateway) != NULL &&
           cJSON_AddNumberToObject(root, "seq", u->seq) != NULL &&
           add_time(root, "time", first_sample_s * 1000, 0) &&
           add_time(root, "received", meta->received_ms, 1) &&
           cJSON_AddStringToObject(root, "transport", meta->transport) != NULL &&
           cJSON_AddNumberToObject(root, "interval_s", u->interval_s) != NULL &&
           add_status(root, u->status) && cJSON_AddBoolToObject(root, "alert", u->alert) != NULL &&
           (u->config_version == 0 ||
            cJSON_AddNumberToObject(root, "config_version", u->config_version) != NULL) &&
           add_values(root, u) && add_samples(root, u);
}

int render_json(const struct decoded_uplink *u, const struct render_meta *meta, char *out,
                size_t out_size, size_t *out_len, char reason[RENDER_REASON_SIZE])
{
    cJSON *root = cJSON_CreateObject();
    if (root == NULL || !build_json(root, u, meta)) {
        cJSON_Delete(root);
        snprintf(reason, RENDER_REASON_SIZE, "out of memory or a time outside years 0-9999");
        return -1;
    }
    /* cJSON asks for 5 bytes of slack in a preallocated buffer. */
    int printed = out_size > 5 && out_size - 5 <= INT32_MAX &&
                  cJSON_PrintPreallocated(root, out, (int)(out_size - 5), 0);
    cJSON_Delete(root);
    if (!printed) {
        snprintf(reason, RENDER_REASON_SIZE, "JSON does not fit %zu bytes", out_size);
        return -1;
    }
    *out_len = strlen(out);
    return 0;
}
