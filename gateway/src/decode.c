/*
 * decode.c - protobuf-c unpack into a bounded arena, validation, delta expansion.
 *
 * The fixed series fields (Uplink fields 4-13) are found through protobuf-c's message
 * descriptor rather than by name: every repeated sint32 field of Uplink is a series whose
 * field number is its quantity id. A field added to the schema is then decoded without a
 * change here, and quantity_find() tells whether the gateway knows how to publish it.
 */
#include "decode.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sensorbro/v1/telemetry.pb-c.h"

static void *arena_alloc(void *allocator_data, size_t size)
{
    struct decoder *d = allocator_data;
    size_t aligned = (size + 15u) & ~(size_t)15u;
    if (aligned < size || aligned > sizeof(d->arena) - d->arena_used) {
        d->arena_exhausted = true;
        return NULL;
    }
    void *p = d->arena + d->arena_used;
    d->arena_used += aligned;
    return p;
}

static void arena_free(void *allocator_data, void *pointer)
{
    /* Everything is released at once by resetting the arena before the next unpack. */
    (void)allocator_data;
    (void)pointer;
}

/* Appends one delta-coded series to out, expanding it into absolute values. */
static int add_series(struct decoded_uplink *out, const struct quantity *q, uint32_t channel,
                      const int32_t *deltas, size_t count, char reason[DECODE_REASON_SIZE])
{
    const char *name = q->name;
    if (count == 0)
        return 0; /* an empty series is the same as an absent one */
    if (count > DECODE_MAX_SAMPLES_PER_SERIES) {
        snprintf(reason, DECODE_REASON_SIZE, "%s channel %" PRIu32 ": %zu samples (max %d)", name,
                 channel, count, DECODE_MAX_SAMPLES_PER_SERIES);
        return -1;
    }
    for (size_t i = 0; i < out->series_count; i++) {
        if (out->series[i].quantity == q && out->series[i].channel == channel) {
            snprintf(reason, DECODE_REASON_SIZE, "%s channel %" PRIu32 " sent twice", name,
                     channel);
            return -1;
        }
    }
    if (out->series_count == DECODE_MAX_SERIES) {
        snprintf(reason, DECODE_REASON_SIZE, "more than %d series", DECODE_MAX_SERIES);
        return -1;
    }
    if (count > DECODE_MAX_SAMPLES - out->values_used) {
        /* Cannot happen for a frame within FRAME_MAX_PAYLOAD_BYTES; kept as a guard. */
        snprintf(reason, DECODE_REASON_SIZE, "more than %d samples in all", DECODE_MAX_SAMPLES);
        return -1;
    }
    int32_t *values = &out->values[out->values_used];
    int64_t value = 0;
    for (size_t i = 0; i < count; i++) {
        value += deltas[i];
        if (value < INT32_MIN || value > INT32_MAX) {
            snprintf(reason, DECODE_REASON_SIZE,
                     "%s channel %" PRIu32 ": delta sum leaves the sint32 range at sample %zu",
                     name, channel, i);
            return -1;
        }
        values[i] = (int32_t)value;
    }
    struct decoded_series *s = &out->series[out->series_count++];
    s->quantity = q;
    s->channel = channel;
    s->count = count;
    s->values = values;
    out->values_used += count;
    if (count > out->max_count)
        out->max_count = count;
    return 0;
}

static int add_fixed_series(struct decoded_uplink *out, const Sensorbro__V1__Uplink *msg,
                            char reason[DECODE_REASON_SIZE])
{
    const ProtobufCMessageDescriptor *desc = &sensorbro__v1__uplink__descriptor;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_SINT32)
            continue;
        size_t count = *(const size_t *)((const char *)msg + f->quantifier_offset);
        const int32_t *deltas = *(int32_t *const *)((const char *)msg + f->offset);
        const struct quantity *q = quantity_find(f->id);
        if (q == NULL) {
            /* A schema field the quantity table lacks: a gateway bug, not bad input. */
            snprintf(reason, DECODE_REASON_SIZE, "field %s (%u) has no quantity entry", f->name,
                     f->id);
            return -1;
        }
        if (add_series(out, q, 0, deltas, count, reason) != 0)
            return -1;
    }
    return 0;
}

static int add_extra_series(struct decoded_uplink *out, const Sensorbro__V1__Uplink *msg,
                            char reason[DECODE_REASON_SIZE])
{
    for (size_t i = 0; i < msg->n_extra; i++) {
        const Sensorbro__V1__Series *s = msg->extra[i];
        const struct quantity *q = quantity_find(s->quantity);
        if (q == NULL) {
            snprintf(reason, DECODE_REASON_SIZE, "extra[%zu]: unknown quantity %" PRIu32, i,
                     s->quantity);
            return -1;
        }
        if (add_series(out, q, s->channel, s->samples, s->n_samples, reason) != 0)
            return -1;
    }
    return 0;
}

static int check_time_base(struct decoded_uplink *out, int64_t received_ms,
                           char reason[DECODE_REASON_SIZE])
{
    if (out->max_count > 1 && out->interval_s == 0) {
        snprintf(reason, DECODE_REASON_SIZE, "interval_s is 0 but a series has %zu samples",
                 out->max_count);
        return -1;
    }
    if (out->interval_s > DECODE_MAX_INTERVAL_S) {
        snprintf(reason, DECODE_REASON_SIZE, "interval_s %" PRIu32 " exceeds %u s", out->interval_s,
                 DECODE_MAX_INTERVAL_S);
        return -1;
    }
    if (out->age_s > DECODE_MAX_AGE_S) {
        snprintf(reason, DECODE_REASON_SIZE, "age_s %" PRIu32 " exceeds %u s", out->age_s,
                 DECODE_MAX_AGE_S);
        return -1;
    }
    if (out->max_count > 1 && (int64_t)(out->max_count - 1) * out->interval_s > DECODE_MAX_SPAN_S) {
        snprintf(reason, DECODE_REASON_SIZE, "%zu samples %" PRIu32 " s apart span over a year",
                 out->max_count, out->interval_s);
        return -1;
    }
    /* floor division: reception times are never negative in practice, but be exact */
    int64_t received_s = received_ms >= 0 ? received_ms / 1000 : -((-received_ms + 999) / 1000);
    if (out->time_s != 0) {
        if ((int64_t)out->time_s < DECODE_MIN_SYNCED_TIME_S) {
            snprintf(reason, DECODE_REASON_SIZE, "time %" PRIu32 " is before 2020", out->time_s);
            return -1;
        }
        if ((int64_t)out->time_s > received_s + DECODE_MAX_CLOCK_AHEAD_S) {
            snprintf(reason, DECODE_REASON_SIZE,
                     "time %" PRIu32 " is %" PRId64 " s after reception", out->time_s,
                     (int64_t)out->time_s - received_s);
            return -1;
        }
        out->last_sample_s = out->time_s;
    } else {
        out->last_sample_s = received_s - out->age_s;
    }
    return 0;
}

int decode_uplink(struct decoder *decoder, const uint8_t *buf, size_t len, int64_t received_ms,
                  struct decoded_uplink *out, char reason[DECODE_REASON_SIZE])
{
    reason[0] = '\0';
    if (len > FRAME_MAX_PAYLOAD_BYTES) {
        snprintf(reason, DECODE_REASON_SIZE, "payload of %zu bytes exceeds %d", len,
                 FRAME_MAX_PAYLOAD_BYTES);
        return -1;
    }
    decoder->arena_used = 0;
    decoder->arena_exhausted = false;
    ProtobufCAllocator allocator = {
        .alloc = arena_alloc, .free = arena_free, .allocator_data = decoder};
    Sensorbro__V1__Uplink *msg = sensorbro__v1__uplink__unpack(&allocator, len, buf);
    if (msg == NULL) {
        if (decoder->arena_exhausted)
            snprintf(reason, DECODE_REASON_SIZE,
                     "protobuf: Uplink needs more than %u bytes to unpack", DECODE_ARENA_BYTES);
        else
            snprintf(reason, DECODE_REASON_SIZE,
                     "protobuf: not a valid Uplink (truncated or malformed)");
        return -1;
    }

    out->seq = msg->seq;
    out->interval_s = msg->interval_s;
    out->age_s = msg->age_s;
    out->status = msg->status;
    out->time_s = msg->time;
    out->config_version = msg->config_version;
    out->alert = msg->alert != 0;
    out->last_sample_s = 0;
    out->max_count = 0;
    out->series_count = 0;
    out->values_used = 0;

    /* No need to free msg: it lives in the arena, which the next call resets. */
    if (add_fixed_series(out, msg, reason) != 0 || add_extra_series(out, msg, reason) != 0)
        return -1;
    /* Nothing to publish. protobuf reads an empty or all-default message as seq 0, so such
     * a frame would be published as "seq 0, values {}" under the id of the device's real
     * seq 0. A node with nothing to say but a status (rebooted, low battery) still sends
     * the status. */
    if (out->series_count == 0 && out->status == 0) {
        snprintf(reason, DECODE_REASON_SIZE,
                 len == 0 ? "empty payload: no Uplink"
                          : "no series and no status: nothing to "
                            "publish");
        return -1;
    }
    return check_time_base(out, received_ms, reason);
}

int64_t decoded_sample_time_s(const struct decoded_uplink *u, const struct decoded_series *s,
                              size_t index)
{
    /* Every series ends at the same instant, last_sample_s. */
    return u->last_sample_s - (int64_t)(s->count - 1 - index) * u->interval_s;
}
