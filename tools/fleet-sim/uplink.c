/*
 * uplink.c - builds a Sensorbro__V1__Uplink from a frame of samples and packs it with
 * protobuf-c.
 *
 * The message points at series arrays in a struct series_buffers on the caller's stack:
 * protobuf-c packs from caller-owned arrays, so encoding allocates nothing. The worst-case
 * size is found by packing, through the same code, a made-up frame whose every series
 * swings between 0 and SIGNALS_WIRE_MAX (the largest value and delta signals.h produces),
 * so that the bound follows the encoder rather than a hand count of tags and varints.
 */
#include "uplink.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "sensorbro/v1/telemetry.pb-c.h"

static const struct {
    const char *name;
    unsigned bit;
} quantity_names[] = {
    {"temperature", UPLINK_TEMPERATURE},
    {"relative_humidity", UPLINK_RELATIVE_HUMIDITY},
    {"co2", UPLINK_CO2},
    {"battery", UPLINK_BATTERY},
    {"occupancy", UPLINK_OCCUPANCY},
};

/* Storage for the series of one message; the message points into it. */
struct series_buffers {
    int32_t temperature[UPLINK_MAX_SAMPLES];
    int32_t relative_humidity[UPLINK_MAX_SAMPLES];
    int32_t co2[UPLINK_MAX_SAMPLES];
    int32_t occupancy[UPLINK_MAX_SAMPLES];
    int32_t battery[1];
};

/* The bit of the quantity named by the len characters at name, or 0 for none. */
static unsigned find_quantity(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(quantity_names) / sizeof(quantity_names[0]); i++) {
        if (strlen(quantity_names[i].name) == len && memcmp(quantity_names[i].name, name, len) == 0)
            return quantity_names[i].bit;
    }
    return 0;
}

int uplink_parse_quantities(const char *list, unsigned *quantities, char *err, size_t err_size)
{
    unsigned bits = 0;
    for (const char *p = list;; p++) {
        size_t len = strcspn(p, ",");
        unsigned bit = find_quantity(p, len);
        if (bit == 0) {
            if (len == 0)
                snprintf(err, err_size, "empty quantity name");
            else
                snprintf(err, err_size, "unknown quantity '%.*s'", (int)len, p);
            return -1;
        }
        bits |= bit;
        p += len;
        if (*p == '\0')
            break;
    }
    *quantities = bits;
    return 0;
}

/* In place: element 0 stays absolute, every later one becomes the difference from the
 * sample before it (the schema's delta coding). */
static void delta_code(int32_t *series, size_t count)
{
    for (size_t i = count; i-- > 1;) {
        /* Values are in [0, SIGNALS_WIRE_MAX], so the difference cannot overflow. */
        assert(series[i] >= 0 && series[i] <= SIGNALS_WIRE_MAX);
        series[i] -= series[i - 1];
    }
}

static void build_message(const struct uplink_frame *frame, struct series_buffers *buffers,
                          Sensorbro__V1__Uplink *msg)
{
    static const Sensorbro__V1__Uplink empty = SENSORBRO__V1__UPLINK__INIT;
    size_t count = frame->sample_count;
    assert(count >= 1 && count <= UPLINK_MAX_SAMPLES);

    *msg = empty;
    msg->seq = frame->seq;
    msg->interval_s = frame->interval_s;
    msg->age_s = frame->age_s;
    msg->status = UPLINK_STATUS_CLOCK_UNSYNCED; /* and `time` stays absent */

    for (size_t i = 0; i < count; i++) {
        const struct signals_sample *s = &frame->samples[i];
        buffers->temperature[i] = s->temperature_centi_c;
        buffers->relative_humidity[i] = s->humidity_deci_pct;
        buffers->co2[i] = s->co2_ppm;
        buffers->occupancy[i] = s->occupancy_people;
    }
    if (frame->quantities & UPLINK_TEMPERATURE) {
        delta_code(buffers->temperature, count);
        msg->n_temperature = count;
        msg->temperature = buffers->temperature;
    }
    if (frame->quantities & UPLINK_RELATIVE_HUMIDITY) {
        delta_code(buffers->relative_humidity, count);
        msg->n_relative_humidity = count;
        msg->relative_humidity = buffers->relative_humidity;
    }
    if (frame->quantities & UPLINK_CO2) {
        delta_code(buffers->co2, count);
        msg->n_co2 = count;
        msg->co2 = buffers->co2;
    }
    if (frame->quantities & UPLINK_OCCUPANCY) {
        delta_code(buffers->occupancy, count);
        msg->n_occupancy = count;
        msg->occupancy = buffers->occupancy;
    }
    if (frame->quantities & UPLINK_BATTERY) {
        buffers->battery[0] = frame->samples[count - 1].battery_mv;
        msg->n_battery = 1;
        msg->battery = buffers->battery;
    }
}

size_t uplink_encode(const struct uplink_frame *frame, uint8_t *buf, size_t buf_size)
{
    struct series_buffers buffers;
    Sensorbro__V1__Uplink msg;
    build_message(frame, &buffers, &msg);
    size_t size = sensorbro__v1__uplink__get_packed_size(&msg);
    if (size > buf_size)
        return 0;
    size_t packed = sensorbro__v1__uplink__pack(&msg, buf);
    assert(packed == size);
    return packed;
}

size_t uplink_worst_case_size(unsigned quantities, size_t sample_count, uint32_t interval_s,
                              uint32_t max_seq)
{
    struct uplink_frame frame = {.seq = max_seq,
                                 .interval_s = interval_s,
                                 .age_s = UPLINK_MAX_AGE_S,
                                 .quantities = quantities,
                                 .sample_count = sample_count};
    for (size_t i = 0; i < sample_count; i++) {
        /* SIGNALS_WIRE_MAX, 0, SIGNALS_WIRE_MAX, ...: the first element and every delta
         * take the longest varint any real sample can. */
        int32_t v = i % 2 == 0 ? SIGNALS_WIRE_MAX : 0;
        frame.samples[i] = (struct signals_sample){v, v, v, v, v};
    }
    struct series_buffers buffers;
    Sensorbro__V1__Uplink msg;
    build_message(&frame, &buffers, &msg);
    return sensorbro__v1__uplink__get_packed_size(&msg);
}
