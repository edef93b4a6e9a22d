/*
 * downlink.c - Downlink decoding and bounds (downlink.h).
 *
 * The new configuration is built in full before anything is reported, so a refusal at the
 * last threshold leaves nothing half-applied: the caller sees either a complete, valid
 * configuration or a reason.
 */
#include "downlink.h"

#include <string.h>

#include "pb_decode.h"
#include "pb_encode.h"

_Static_assert(sizeof(((sensorbro_v1_Downlink *)0)->thresholds) /
                       sizeof(((sensorbro_v1_Downlink *)0)->thresholds[0]) ==
                   CONFIG_MAX_THRESHOLDS,
               "telemetry.options caps Downlink.thresholds at CONFIG_MAX_THRESHOLDS");

static enum downlink_status take_thresholds(const sensorbro_v1_Downlink *msg,
                                            struct node_config *next)
{
    next->threshold_count = 0;
    for (pb_size_t i = 0; i < msg->thresholds_count; i++) {
        const sensorbro_v1_Threshold *t = &msg->thresholds[i];
        if (t->field < QUANTITY_FIRST_FIXED || t->field > QUANTITY_LAST_FIXED)
            return DOWNLINK_BAD_THRESHOLD;
        for (pb_size_t j = 0; j < i; j++) {
            if (msg->thresholds[j].field == t->field)
                return DOWNLINK_BAD_THRESHOLD;
        }
        bool has_above = t->which_upper == sensorbro_v1_Threshold_above_tag;
        bool has_below = t->which_lower == sensorbro_v1_Threshold_below_tag;
        /* above < below would alert on every sample between them: surely a mistake. */
        if (has_above && has_below && t->upper.above < t->lower.below)
            return DOWNLINK_BAD_THRESHOLD;
        if (!has_above && !has_below)
            continue; /* clears alerts for this field */
        next->thresholds[next->threshold_count++] = (struct threshold){
            .field = (uint8_t)t->field,
            .has_above = has_above,
            .has_below = has_below,
            .above = has_above ? t->upper.above : 0,
            .below = has_below ? t->lower.below : 0,
        };
    }
    return DOWNLINK_OK;
}

enum downlink_status downlink_parse(const uint8_t *buf, size_t len,
                                    const struct node_config *current, struct node_config *next,
                                    uint32_t *clock_sync_s)
{
    sensorbro_v1_Downlink msg; /* pb_decode sets every field to its default first */
    pb_istream_t in = pb_istream_from_buffer(buf, len);
    if (len > DOWNLINK_MAX_BYTES || !pb_decode(&in, sensorbro_v1_Downlink_fields, &msg))
        return DOWNLINK_MALFORMED;

    struct node_config candidate = *current;
    candidate.config_version = msg.config_version;
    if (msg.has_sample_interval_s) {
        if (msg.sample_interval_s < CONFIG_SAMPLE_INTERVAL_MIN_S ||
            msg.sample_interval_s > CONFIG_SAMPLE_INTERVAL_MAX_S)
            return DOWNLINK_BAD_INTERVAL;
        candidate.sample_interval_s = msg.sample_interval_s;
    }
    if (msg.has_samples_per_uplink) {
        if (msg.samples_per_uplink < 1 || msg.samples_per_uplink > STORE_MAX_SAMPLES)
            return DOWNLINK_BAD_SAMPLES;
        candidate.samples_per_uplink = (uint8_t)msg.samples_per_uplink;
    }
    /* Both factors are bounded above, so the product fits 32 bits. */
    if (candidate.sample_interval_s * candidate.samples_per_uplink > CONFIG_BATCH_SPAN_MAX_S)
        return DOWNLINK_BAD_SPAN;
    if (msg.time != 0 && msg.time < CONFIG_CLOCK_MIN_UNIX_S)
        return DOWNLINK_BAD_TIME;
    if (msg.thresholds_count > 0) {
        enum downlink_status st = take_thresholds(&msg, &candidate);
        if (st != DOWNLINK_OK)
            return st;
    }
    *next = candidate;
    *clock_sync_s = msg.time;
    return DOWNLINK_OK;
}

size_t downlink_encode_config(const struct node_config *config, uint8_t *buf, size_t capacity)
{
    sensorbro_v1_Downlink msg = sensorbro_v1_Downlink_init_zero;
    msg.config_version = config->config_version;
    msg.has_sample_interval_s = true;
    msg.sample_interval_s = config->sample_interval_s;
    msg.has_samples_per_uplink = true;
    msg.samples_per_uplink = config->samples_per_uplink;
    msg.thresholds_count = config->threshold_count;
    for (uint8_t i = 0; i < config->threshold_count; i++) {
        const struct threshold *t = &config->thresholds[i];
        sensorbro_v1_Threshold *m = &msg.thresholds[i];
        m->field = t->field;
        if (t->has_above) {
            m->which_upper = sensorbro_v1_Threshold_above_tag;
            m->upper.above = t->above;
        }
        if (t->has_below) {
            m->which_lower = sensorbro_v1_Threshold_below_tag;
            m->lower.below = t->below;
        }
    }
    pb_ostream_t out = pb_ostream_from_buffer(buf, capacity);
    if (!pb_encode(&out, sensorbro_v1_Downlink_fields, &msg))
        return 0;
    return out.bytes_written;
}

#if SB_TRACE
const char *downlink_status_name(enum downlink_status status)
{
    switch (status) {
    case DOWNLINK_OK:
        return "ok";
    case DOWNLINK_MALFORMED:
        return "malformed";
    case DOWNLINK_BAD_INTERVAL:
        return "sample_interval_s out of range";
    case DOWNLINK_BAD_SAMPLES:
        return "samples_per_uplink out of range";
    case DOWNLINK_BAD_SPAN:
        return "batch span too long";
    case DOWNLINK_BAD_TIME:
        return "time before 2020";
    case DOWNLINK_BAD_THRESHOLD:
        return "bad threshold";
    }
    return "?";
}
#endif
