/*
 * sensor.h - the sensor interface: a reading is one quantity on one channel, and a board
 * describes the sensors it has with a table of struct sensor_desc.
 *
 * Quantities are numbered as the Uplink fields of proto/sensorbro/v1/telemetry.proto that
 * carry them (4-13); quantities without a field of their own start at 32 and travel in
 * Uplink.extra, as does a second, third ... channel of any quantity. Values are in the
 * wire unit named in the schema (0.01 degC, 0.1 %RH, ppm, mV ...), never scaled here.
 */
#ifndef SB_SENSOR_H
#define SB_SENSOR_H

#include <stdbool.h>
#include <stdint.h>

enum quantity {
    QUANTITY_TEMPERATURE = 4,       /* 0.01 degC */
    QUANTITY_RELATIVE_HUMIDITY = 5, /* 0.1 %RH */
    QUANTITY_CO2 = 6,               /* 1 ppm */
    QUANTITY_BATTERY = 7,           /* 1 mV */
    QUANTITY_SOUND_LEVEL = 8,       /* 0.1 dB(A) */
    QUANTITY_OCCUPANCY = 9,         /* 1 person */
    QUANTITY_ILLUMINANCE = 10,      /* 1 lx */
    QUANTITY_PRESSURE = 11,         /* 1 Pa */
    QUANTITY_WATER_VOLUME = 12,     /* 1 L, cumulative */
    QUANTITY_ENERGY = 13,           /* 1 Wh, cumulative */
};

#define QUANTITY_FIRST_FIXED 4 /* quantities with an Uplink field of their own */
#define QUANTITY_LAST_FIXED  13
#define QUANTITY_FIRST_EXTRA 32 /* listed in docs/protocol.md, sent in Uplink.extra */

enum sensor_cadence {
    /* Read at every sample tick; every reading is sent. */
    SENSOR_EVERY_SAMPLE = 0,
    /* Read at every sample tick, but an uplink carries only the latest reading (battery):
     * it costs one value per uplink, not one per sample. */
    SENSOR_ONCE_PER_UPLINK = 1,
};

struct sensor_desc {
    uint8_t quantity; /* enum quantity, or QUANTITY_FIRST_EXTRA and up */
    uint8_t channel;  /* 0 for the first sensor of a quantity */
    uint8_t cadence;  /* enum sensor_cadence */
};

/* True when the series goes in a fixed Uplink field rather than in Uplink.extra. */
static inline bool sensor_is_fixed_field(uint8_t quantity, uint8_t channel)
{
    return channel == 0 && quantity >= QUANTITY_FIRST_FIXED && quantity <= QUANTITY_LAST_FIXED;
}

#endif
