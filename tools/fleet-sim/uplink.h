/*
 * uplink.h - one simulated uplink: its samples, and their encoding as a Sensorbro Uplink.
 *
 * A frame holds plain samples (absolute values in wire units, oldest first); uplink_encode
 * turns it into the protobuf bytes a node sends, delta-coding each series the way
 * proto/sensorbro/v1/telemetry.proto says. Which quantities a frame carries is a bit set
 * parsed from the command line's list of schema field names.
 */
#ifndef FLEET_SIM_UPLINK_H
#define FLEET_SIM_UPLINK_H

#include <stddef.h>
#include <stdint.h>

#include "signals.h"

/* Quantities a simulated node can carry, by their Uplink field names. */
enum uplink_quantity {
    UPLINK_TEMPERATURE = 1u << 0,
    UPLINK_RELATIVE_HUMIDITY = 1u << 1,
    UPLINK_CO2 = 1u << 2,
    UPLINK_BATTERY = 1u << 3, /* one sample per uplink, the latest */
    UPLINK_OCCUPANCY = 1u << 4,
};

#define UPLINK_QUANTITY_NAMES     "temperature, relative_humidity, co2, battery, occupancy"
#define UPLINK_DEFAULT_QUANTITIES "temperature,relative_humidity,co2,battery"

/* Samples per series: the firmware's cap, the largest samples_per_uplink a Downlink may set. */
#define UPLINK_MAX_SAMPLES 48

/* Status flag of a node whose clock was never synced: the gateway then timestamps the
 * samples from the reception time minus age_s. Simulated nodes never have a clock. */
#define UPLINK_STATUS_CLOCK_UNSYNCED 0x10u

/* A node sends within this many seconds of taking its last sample. */
#define UPLINK_MAX_AGE_S 3

struct uplink_frame {
    uint32_t seq;
    uint32_t interval_s;
    uint32_t age_s;
    unsigned quantities;                               /* enum uplink_quantity bits */
    size_t sample_count;                               /* 1 to UPLINK_MAX_SAMPLES */
    struct signals_sample samples[UPLINK_MAX_SAMPLES]; /* oldest first */
};

/* Parses a comma-separated list of quantity names into *quantities. Returns 0, or -1 with
 * a message naming the bad entry in err. */
int uplink_parse_quantities(const char *list, unsigned *quantities, char *err, size_t err_size);

/* Encodes frame into buf. Returns the encoded length, or 0 when it would exceed buf_size
 * (nothing is written then). */
size_t uplink_encode(const struct uplink_frame *frame, uint8_t *buf, size_t buf_size);

/* The largest encoding of any frame with these quantities, sample count and interval and
 * a seq up to max_seq, for any sample values signals.h can produce. */
size_t uplink_worst_case_size(unsigned quantities, size_t sample_count, uint32_t interval_s,
                              uint32_t max_seq);

#endif
