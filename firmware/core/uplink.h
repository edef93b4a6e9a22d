/*
 * uplink.h - encodes a batch as a sensorbro.v1.Uplink with nanopb.
 *
 * The header fields come from the caller; the series come straight from a sample_store
 * through nanopb encode callbacks, so no Uplink struct with sample arrays exists anywhere.
 * uplink_encoded_size() runs the same encoder on a sizing stream: the batching rules
 * (batch.c) measure a candidate batch with exactly the code that will send it.
 */
#ifndef SB_UPLINK_H
#define SB_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sample_store.h"

/* The largest payload of any data rate, and the size of the encode buffer. */
#define UPLINK_MAX_PAYLOAD_BYTES 242

/* Uplink.status flags (telemetry.proto). */
#define UPLINK_STATUS_LOW_BATTERY    0x01u
#define UPLINK_STATUS_SENSOR_FAULT   0x02u
#define UPLINK_STATUS_REBOOTED       0x04u
#define UPLINK_STATUS_NVM_RESET      0x08u
#define UPLINK_STATUS_CLOCK_UNSYNCED 0x10u

/* The non-series fields of an Uplink; 0 (false) leaves a field out, as proto3 does. */
struct uplink_header {
    uint32_t seq;
    uint32_t interval_s;
    uint32_t age_s;
    uint32_t status;
    uint32_t time_s; /* unix s of the last sample, only when the clock is synced */
    uint32_t config_version;
    bool alert;
};

/* Encodes header and store into buf. Returns the length, or 0 when the Uplink would exceed
 * capacity (buf's content is then undefined). */
size_t uplink_encode(const struct uplink_header *header, const struct sample_store *store,
                     uint8_t *buf, size_t capacity);

/* The length uplink_encode() would return given unlimited capacity. */
size_t uplink_encoded_size(const struct uplink_header *header, const struct sample_store *store);

#endif
