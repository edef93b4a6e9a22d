/*
 * wire.h - a minimal protobuf wire reader for Uplink messages, written for the tests from
 * the protobuf encoding spec, so that the firmware's encoder (nanopb) is checked by code
 * that shares nothing with it. Series come back as absolute values, summed in 64 bits.
 */
#ifndef WIRE_H
#define WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAX_SERIES  16
#define WIRE_MAX_SAMPLES 256

struct wire_series {
    uint32_t quantity;
    uint32_t channel;
    size_t count;
    int64_t values[WIRE_MAX_SAMPLES];
};

struct wire_uplink {
    uint32_t seq, interval_s, age_s, status, time_s, config_version;
    bool alert;
    size_t series_count;
    struct wire_series series[WIRE_MAX_SERIES];
};

/* False on anything malformed (truncation, wire type mismatch, overflow). */
bool wire_parse_uplink(const uint8_t *buf, size_t len, struct wire_uplink *out);

/* The series of quantity/channel, or NULL. */
const struct wire_series *wire_find(const struct wire_uplink *u, uint32_t quantity,
                                    uint32_t channel);

/* Bytes of a varint / of a zigzag-encoded sint32. */
size_t wire_varint_size(uint64_t v);
size_t wire_sint32_size(int64_t v);

#endif
