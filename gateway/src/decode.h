/*
 * decode.h - turns the raw bytes of an Uplink into validated, timestamped samples.
 *
 * The bytes are untrusted (radio, network, or a journal on disk). protobuf-c unpacks them
 * into a fixed arena owned by the decoder, so a hostile frame can never make the gateway
 * allocate more than DECODE_ARENA_BYTES; then every series is checked and expanded from
 * deltas into absolute values. A frame that fails any check, or carries neither a series
 * nor a status, is refused with a one-line reason fit for the quarantine table and for a
 * CoAP 4.00 diagnostic payload.
 *
 * Threads: a struct decoder is used by one thread at a time; use one per thread.
 * Ownership: the caller owns both the decoder and the decoded_uplink; decode_uplink keeps
 * no pointer into buf after it returns.
 */
#ifndef SENSORBRO_DECODE_H
#define SENSORBRO_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "quantity.h"

/* Bounds on a valid Uplink. Each sample takes at least one byte on the wire, so the pool
 * below can never overflow for a frame within FRAME_MAX_PAYLOAD_BYTES. */
#define DECODE_MAX_SERIES             32
#define DECODE_MAX_SAMPLES_PER_SERIES 256
#define DECODE_MAX_SAMPLES            FRAME_MAX_PAYLOAD_BYTES
#define DECODE_MAX_INTERVAL_S         86400u            /* one sample a day at the slowest */
#define DECODE_MAX_AGE_S              (7u * 86400u)     /* a node holds samples a week at most */
#define DECODE_MAX_SPAN_S             (366ll * 86400ll) /* first to last sample of one uplink */
#define DECODE_MAX_CLOCK_AHEAD_S      86400             /* node clock ahead of the gateway's */
#define DECODE_MIN_SYNCED_TIME_S      1577836800ll /* 2020-01-01: earlier means clock not set */
#define DECODE_ARENA_BYTES            (64u * 1024u)

/* Uplink.status bits */
#define UPLINK_STATUS_LOW_BATTERY    0x01u
#define UPLINK_STATUS_SENSOR_FAULT   0x02u
#define UPLINK_STATUS_REBOOTED       0x04u
#define UPLINK_STATUS_NVM_RESET      0x08u
#define UPLINK_STATUS_CLOCK_UNSYNCED 0x10u

#define DECODE_REASON_SIZE 160

struct decoded_series {
    const struct quantity *quantity;
    uint32_t channel;      /* 0 for the Uplink's own field, as sent in Series.channel otherwise */
    size_t count;          /* number of samples, >= 1 */
    const int32_t *values; /* absolute wire values (not deltas), oldest first; points into
                              the decoded_uplink's own pool */
};

struct decoded_uplink {
    uint32_t seq;
    uint32_t interval_s;
    uint32_t age_s;
    uint32_t status;
    uint32_t time_s; /* as sent: 0 when the node's clock is not synced */
    uint32_t config_version;
    bool alert;
    /* Unix time (s) of the last sample of every series: time_s when sent, otherwise the
     * reception time (whole seconds) minus age_s. */
    int64_t last_sample_s;
    size_t max_count; /* samples in the longest series; 0 when there are no series */
    size_t series_count;
    struct decoded_series series[DECODE_MAX_SERIES];
    size_t values_used;
    int32_t values[DECODE_MAX_SAMPLES];
};

struct decoder {
    size_t arena_used;
    bool arena_exhausted;
    _Alignas(16) uint8_t arena[DECODE_ARENA_BYTES];
};

/* Decodes and validates one Uplink received at received_ms (unix ms): the instant sample
 * times of a node without a clock are counted back from, frame_anchor_ms() of its record.
 * An Uplink with no series and no status is refused (it has nothing to publish).
 * Returns 0 and fills out, or -1 and writes a reason into reason (DECODE_REASON_SIZE). */
int decode_uplink(struct decoder *decoder, const uint8_t *buf, size_t len, int64_t received_ms,
                  struct decoded_uplink *out, char reason[DECODE_REASON_SIZE]);

/* Unix time (s) of sample index (0 = oldest) of a series in u. */
int64_t decoded_sample_time_s(const struct decoded_uplink *u, const struct decoded_series *s,
                              size_t index);

#endif
