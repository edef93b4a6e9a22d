/*
 * sample_store.c - the byte pool of a batch (sample_store.h).
 *
 * Invariants (tests/firmware/test_sample_store.c checks them after every operation):
 * - every-sample series' segments are contiguous in series order: series[i].offset is the
 *   sum of the lens before it, and `used` is the sum of all of them;
 * - a segment holds exactly `count` complete zigzag varints;
 * - once-per-uplink series have len 0 and count 0 or 1.
 */
#include "sample_store.h"

#include <string.h>

#include "pb_decode.h"
#include "pb_encode.h"

#define SVARINT_MAX_BYTES 5 /* a sint32 as a zigzag varint */

static bool is_once_per_uplink(const struct store_series *s)
{
    return s->sensor.cadence == SENSOR_ONCE_PER_UPLINK;
}

/* memmove for the pool: a byte loop is all the store needs, and it keeps the 340-byte
 * library memmove out of the smallest builds. */
static void move_bytes(uint8_t *to, const uint8_t *from, size_t n)
{
    if (to < from) {
        for (size_t i = 0; i < n; i++)
            to[i] = from[i];
    } else {
        while (n-- > 0)
            to[n] = from[n];
    }
}

static bool quantity_is_series(uint8_t quantity)
{
    return (quantity >= QUANTITY_FIRST_FIXED && quantity <= QUANTITY_LAST_FIXED) ||
           quantity >= QUANTITY_FIRST_EXTRA;
}

bool store_init(struct sample_store *store, const struct sensor_desc *sensors, size_t count)
{
    memset(store, 0, sizeof(*store));
    if (count > STORE_MAX_SERIES)
        return false;
    size_t extra = 0;
    for (size_t i = 0; i < count; i++) {
        const struct sensor_desc *d = &sensors[i];
        if (!quantity_is_series(d->quantity) || d->cadence > SENSOR_ONCE_PER_UPLINK)
            return false;
        if (!sensor_is_fixed_field(d->quantity, d->channel))
            extra++;
        for (size_t j = 0; j < i; j++) {
            if (sensors[j].quantity == d->quantity && sensors[j].channel == d->channel)
                return false;
        }
        store->series[i].sensor = *d;
    }
    if (extra > STORE_MAX_EXTRA)
        return false;
    store->series_count = (uint8_t)count;
    return true;
}

void store_clear(struct sample_store *store)
{
    for (size_t i = 0; i < store->series_count; i++) {
        store->series[i].count = 0;
        store->series[i].offset = 0;
        store->series[i].len = 0;
        store->series[i].last_value = 0;
    }
    store->used = 0;
}

bool store_is_empty(const struct sample_store *store)
{
    for (size_t i = 0; i < store->series_count; i++) {
        if (store->series[i].count != 0)
            return false;
    }
    return true;
}

/* Opens a gap of n bytes at pool position `at`, moving later bytes and segments up. The
 * caller checked that n bytes are free. */
static void open_gap(struct sample_store *store, size_t index, uint16_t at, uint16_t n)
{
    move_bytes(&store->bytes[at + n], &store->bytes[at], (size_t)(store->used - at));
    for (size_t j = index + 1; j < store->series_count; j++)
        store->series[j].offset = (uint16_t)(store->series[j].offset + n);
    store->used = (uint16_t)(store->used + n);
}

/* Removes the last n bytes of series index's segment, moving later bytes and segments down. */
static void cut_tail(struct sample_store *store, size_t index, uint16_t n)
{
    struct store_series *s = &store->series[index];
    uint16_t end = (uint16_t)(s->offset + s->len);
    move_bytes(&store->bytes[end - n], &store->bytes[end], (size_t)(store->used - end));
    for (size_t j = index + 1; j < store->series_count; j++)
        store->series[j].offset = (uint16_t)(store->series[j].offset - n);
    store->used = (uint16_t)(store->used - n);
    s->len = (uint16_t)(s->len - n);
}

enum store_status store_append(struct sample_store *store, size_t index, int32_t value)
{
    struct store_series *s = &store->series[index];
    if (is_once_per_uplink(s)) {
        s->last_value = value;
        s->count = 1;
        return STORE_OK;
    }
    if (s->count >= STORE_MAX_SAMPLES)
        return STORE_FULL;
    /* The schema's deltas are sint32 and the gateway sums them without wrapping, so a step
     * beyond the sint32 range cannot be sent in this series: the batch must end first. */
    int64_t delta = s->count == 0 ? (int64_t)value : (int64_t)value - (int64_t)s->last_value;
    if (delta < INT32_MIN || delta > INT32_MAX)
        return STORE_DELTA_RANGE;

    uint8_t varint[SVARINT_MAX_BYTES];
    pb_ostream_t out = pb_ostream_from_buffer(varint, sizeof(varint));
    if (!pb_encode_svarint(&out, (int32_t)delta))
        return STORE_FULL; /* cannot happen: 5 bytes hold any sint32 */
    uint16_t n = (uint16_t)out.bytes_written;
    if (n > STORE_BYTES - store->used)
        return STORE_FULL;

    uint16_t at = (uint16_t)(s->offset + s->len);
    open_gap(store, index, at, n);
    memcpy(&store->bytes[at], varint, n);
    s->len = (uint16_t)(s->len + n);
    s->count++;
    s->last_value = value;
    return STORE_OK;
}

void store_mark(const struct sample_store *store, struct store_mark *mark)
{
    for (size_t i = 0; i < store->series_count; i++) {
        mark->count[i] = store->series[i].count;
        mark->len[i] = store->series[i].len;
        mark->last_value[i] = store->series[i].last_value;
    }
}

void store_rollback(struct sample_store *store, const struct store_mark *mark)
{
    for (size_t i = 0; i < store->series_count; i++) {
        struct store_series *s = &store->series[i];
        if (s->len > mark->len[i])
            cut_tail(store, i, (uint16_t)(s->len - mark->len[i]));
        s->count = mark->count[i];
        s->last_value = mark->last_value[i];
    }
}

void store_drop_newest(struct sample_store *store, size_t sets)
{
    for (size_t i = 0; i < store->series_count; i++) {
        struct store_series *s = &store->series[i];
        if (is_once_per_uplink(s) || s->count == 0)
            continue;
        size_t keep = s->count > sets ? s->count - sets : 0;
        /* Walk the kept varints with nanopb's decoder to find where they end and what the
         * newest kept value is (the running sum of the deltas). */
        pb_istream_t in = pb_istream_from_buffer(&store->bytes[s->offset], s->len);
        int32_t value = 0;
        for (size_t k = 0; k < keep; k++) {
            int32_t delta = 0;
            if (!pb_decode_svarint(&in, &delta))
                break; /* cannot happen: the segment holds count complete varints */
            value = (int32_t)((uint32_t)value + (uint32_t)delta);
        }
        uint16_t kept_len = (uint16_t)(s->len - in.bytes_left);
        cut_tail(store, i, (uint16_t)(s->len - kept_len));
        s->count = (uint8_t)keep;
        s->last_value = value;
    }
}

const uint8_t *store_series_bytes(const struct sample_store *store, size_t index, size_t *len)
{
    *len = store->series[index].len;
    return &store->bytes[store->series[index].offset];
}
