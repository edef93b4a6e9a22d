/*
 * signals.h - plausible, seeded readings of one simulated indoor-climate sensor.
 *
 * A sensor is a struct of traits drawn once from the fleet seed and its index (its room's
 * size, its offsets and phases), and a sample is a pure function of those traits and the
 * simulated instant: signals_sample() has no side effects, so any instant can be sampled
 * in any order, twice, or from two threads, and gives the same values every time. The
 * same seed gives the same fleet.
 *
 * Values come in the wire units of proto/sensorbro/v1/telemetry.proto and are clamped to
 * plausible ranges, all inside [0, SIGNALS_WIRE_MAX]. Pure C11 and math.h: no I/O.
 */
#ifndef FLEET_SIM_SIGNALS_H
#define FLEET_SIM_SIGNALS_H

#include <stdint.h>

/* Every wire value lies in [0, SIGNALS_WIRE_MAX]. Then a value, and the difference of two
 * values, is a sint32 of at most 2 varint bytes, which bounds the size of an Uplink
 * (uplink_worst_case_size). */
#define SIGNALS_WIRE_MAX 8191

/* One reading of every quantity, in wire units. */
struct signals_sample {
    int32_t temperature_centi_c; /* 0.01 degC: 20-22.5 degC, warmest in the afternoon */
    int32_t humidity_deci_pct;   /* 0.1 %RH: 35-55 %RH */
    int32_t co2_ppm;             /* 1 ppm: ~420 outdoors, rising with occupancy */
    int32_t battery_mv;          /* 1 mV: ~3600, a few mV less every day */
    int32_t occupancy_people;    /* 1 person: office hours on weekdays only */
};

/* The traits of one sensor and its room. Read-only after signals_init. */
struct signals_sensor {
    uint64_t noise_key;   /* keys every per-instant draw of this sensor */
    int64_t epoch_s;      /* unix s at which the battery had battery_start_mv */
    int32_t utc_offset_s; /* of the building's local time (day curve, office hours) */

    double temp_base_c;          /* at the coldest hour of the day */
    double temp_day_amplitude_c; /* coldest to warmest hour */
    double temp_coldest_hour;    /* local hour of the daily minimum */
    double temp_wander_phase[2]; /* slow day-to-day variation */

    double humidity_base_pct;
    double humidity_wander_phase[2];

    int capacity_people;       /* at most this many in the room */
    double co2_outdoor_ppm;    /* what an empty, aired room settles to */
    double co2_per_person_ppm; /* steady-state rise for each person present */
    double co2_tau_s;          /* time constant of the room's air exchange */
    double co2_decay_per_slot; /* exp(-occupancy slot / tau), kept to save an exp() */

    double battery_start_mv;
    double battery_drain_mv_per_day;
};

/* Draws the traits of sensor sensor_index of the fleet seeded with fleet_seed. epoch_s is
 * the instant the battery reading starts from (the simulation's start); utc_offset_s
 * places the building's local time. */
void signals_init(struct signals_sensor *sensor, uint64_t fleet_seed, uint32_t sensor_index,
                  int64_t epoch_s, int32_t utc_offset_s);

/* The readings of sensor at unix time t_s. */
void signals_sample(const struct signals_sensor *sensor, int64_t t_s, struct signals_sample *out);

#endif
