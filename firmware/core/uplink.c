/*
 * uplink.c - the Uplink encoder: nanopb with one encode callback per series (uplink.h).
 *
 * A fixed series (Uplink fields 4-13) is a packed repeated sint32: tag with wire type 2, the
 * byte length, then the zigzag varints, which is what the store already holds. An extra
 * series is a Series submessage in Uplink.extra whose samples field is the same kind of
 * packed series; nanopb sizes the submessage by calling the callbacks twice.
 */
#include "uplink.h"

#include <stddef.h>

#include "pb_encode.h"
#include "sensorbro/v1/telemetry.pb.h"

/* Where the callback of each fixed quantity lives in the generated struct. */
static const uint16_t fixed_field_offset[QUANTITY_LAST_FIXED - QUANTITY_FIRST_FIXED + 1] = {
    offsetof(sensorbro_v1_Uplink, temperature),  offsetof(sensorbro_v1_Uplink, relative_humidity),
    offsetof(sensorbro_v1_Uplink, co2),          offsetof(sensorbro_v1_Uplink, battery),
    offsetof(sensorbro_v1_Uplink, sound_level),  offsetof(sensorbro_v1_Uplink, occupancy),
    offsetof(sensorbro_v1_Uplink, illuminance),  offsetof(sensorbro_v1_Uplink, pressure),
    offsetof(sensorbro_v1_Uplink, water_volume), offsetof(sensorbro_v1_Uplink, energy),
};

/* The field numbers are the quantity ids: a schema change that breaks this must not build. */
_Static_assert(sensorbro_v1_Uplink_temperature_tag == QUANTITY_TEMPERATURE, "field numbers");
_Static_assert(sensorbro_v1_Uplink_relative_humidity_tag == QUANTITY_RELATIVE_HUMIDITY,
               "field numbers");
_Static_assert(sensorbro_v1_Uplink_co2_tag == QUANTITY_CO2, "field numbers");
_Static_assert(sensorbro_v1_Uplink_battery_tag == QUANTITY_BATTERY, "field numbers");
_Static_assert(sensorbro_v1_Uplink_sound_level_tag == QUANTITY_SOUND_LEVEL, "field numbers");
_Static_assert(sensorbro_v1_Uplink_occupancy_tag == QUANTITY_OCCUPANCY, "field numbers");
_Static_assert(sensorbro_v1_Uplink_illuminance_tag == QUANTITY_ILLUMINANCE, "field numbers");
_Static_assert(sensorbro_v1_Uplink_pressure_tag == QUANTITY_PRESSURE, "field numbers");
_Static_assert(sensorbro_v1_Uplink_water_volume_tag == QUANTITY_WATER_VOLUME, "field numbers");
_Static_assert(sensorbro_v1_Uplink_energy_tag == QUANTITY_ENERGY, "field numbers");

/* What a series callback needs: the store and which of its series. */
struct series_ref {
    const struct sample_store *store;
    uint8_t index;
};

/* Writes one series as a packed field with tag field_number (nothing for an empty one). */
static bool encode_packed(pb_ostream_t *stream, uint32_t field_number, const struct series_ref *ref)
{
    const struct store_series *s = &ref->store->series[ref->index];
    if (s->count == 0)
        return true;
    size_t len = 0;
    const uint8_t *bytes = store_series_bytes(ref->store, ref->index, &len);
    uint8_t one[5]; /* a sint32 as a zigzag varint */
    if (s->sensor.cadence == SENSOR_ONCE_PER_UPLINK) {
        /* Its one value is kept as a number, not in the pool: the same bytes made here. */
        pb_ostream_t value = pb_ostream_from_buffer(one, sizeof(one));
        if (!pb_encode_svarint(&value, s->last_value))
            return false;
        bytes = one;
        len = value.bytes_written;
    }
    return pb_encode_tag(stream, PB_WT_STRING, field_number) &&
           pb_encode_string(stream, bytes, len);
}

/* The callback of a fixed series field and of Series.samples alike. */
static bool encode_series(pb_ostream_t *stream, const pb_field_iter_t *field, void *const *arg)
{
    return encode_packed(stream, field->tag, *arg);
}

static bool encode_extra_series(pb_ostream_t *stream, const pb_field_iter_t *field,
                                void *const *arg)
{
    const struct sample_store *store = *arg;
    for (uint8_t i = 0; i < store->series_count; i++) {
        const struct store_series *s = &store->series[i];
        if (sensor_is_fixed_field(s->sensor.quantity, s->sensor.channel) || s->count == 0)
            continue;
        struct series_ref ref = {.store = store, .index = i};
        sensorbro_v1_Series series = {
            .quantity = s->sensor.quantity,
            .channel = s->sensor.channel,
            .samples = {.funcs.encode = encode_series, .arg = &ref},
        };
        if (!pb_encode_tag_for_field(stream, field) ||
            !pb_encode_submessage(stream, sensorbro_v1_Series_fields, &series))
            return false;
    }
    return true;
}

/* Encodes header and store as an Uplink into out: a buffer stream to send, or a sizing
 * stream to measure. One function for both, so what is measured is what is sent. */
static bool encode_to(pb_ostream_t *out, const struct uplink_header *header,
                      const struct sample_store *store)
{
    sensorbro_v1_Uplink msg = sensorbro_v1_Uplink_init_zero;
    struct series_ref refs[STORE_MAX_SERIES];
    msg.seq = header->seq;
    msg.interval_s = header->interval_s;
    msg.age_s = header->age_s;
    msg.status = header->status;
    msg.time = header->time_s;
    msg.config_version = header->config_version;
    msg.alert = header->alert;
    for (uint8_t i = 0; i < store->series_count; i++) {
        const struct sensor_desc *d = &store->series[i].sensor;
        if (!sensor_is_fixed_field(d->quantity, d->channel))
            continue;
        refs[i] = (struct series_ref){.store = store, .index = i};
        pb_callback_t *cb =
            (pb_callback_t *)((char *)&msg +
                              fixed_field_offset[d->quantity - QUANTITY_FIRST_FIXED]);
        cb->funcs.encode = encode_series;
        cb->arg = &refs[i];
    }
    msg.extra.funcs.encode = encode_extra_series;
    msg.extra.arg = (void *)store; /* nanopb's arg is not const; the callback only reads */
    return pb_encode(out, sensorbro_v1_Uplink_fields, &msg);
}

size_t uplink_encode(const struct uplink_header *header, const struct sample_store *store,
                     uint8_t *buf, size_t capacity)
{
    pb_ostream_t out = pb_ostream_from_buffer(buf, capacity);
    if (!encode_to(&out, header, store))
        return 0;
    return out.bytes_written;
}

size_t uplink_encoded_size(const struct uplink_header *header, const struct sample_store *store)
{
    pb_ostream_t sizing = PB_OSTREAM_SIZING;
    if (!encode_to(&sizing, header, store))
        return SIZE_MAX; /* only on a callback failure, which the sizing stream cannot cause */
    return sizing.bytes_written;
}
