/*
 * downlink.h - a sensorbro.v1.Downlink from the network: decoded with nanopb, every bound
 * checked, and turned into a complete new configuration, or refused as a whole.
 *
 * Semantics (telemetry.proto, and docs/firmware.md):
 * - sample_interval_s and samples_per_uplink absent: keep the current value. Present with
 *   0 is refused like any other out-of-range value (proto3 never sends a 0 it means as
 *   "keep"; telemetry.options gives these two fields presence on the node).
 * - sample_interval_s in [CONFIG_SAMPLE_INTERVAL_MIN_S, CONFIG_SAMPLE_INTERVAL_MAX_S],
 *   samples_per_uplink in [1, STORE_MAX_SAMPLES], and their product at most
 *   CONFIG_BATCH_SPAN_MAX_S.
 * - thresholds present: they replace the whole set. Each names a field 4-13, at most once;
 *   when both bounds are given, above >= below. A threshold without bounds clears alerts
 *   for its field (send one to clear them all).
 * - time: 0 leaves the clock alone; otherwise at least CONFIG_CLOCK_MIN_UNIX_S.
 * - config_version is taken as given and echoed in the following uplinks.
 *
 * The caller applies the result atomically: it stores `next` in NVM and only then makes it
 * the active configuration (node.c).
 */
#ifndef SB_DOWNLINK_H
#define SB_DOWNLINK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "sensorbro/v1/telemetry.pb.h"

/* The largest Downlink that can be valid: nanopb's worst case for the capped message. */
#define DOWNLINK_MAX_BYTES sensorbro_v1_Downlink_size

enum downlink_status {
    DOWNLINK_OK = 0,
    DOWNLINK_MALFORMED,     /* not a Downlink, or more thresholds than the cap */
    DOWNLINK_BAD_INTERVAL,  /* sample_interval_s out of range */
    DOWNLINK_BAD_SAMPLES,   /* samples_per_uplink out of range */
    DOWNLINK_BAD_SPAN,      /* interval * samples_per_uplink too long */
    DOWNLINK_BAD_TIME,      /* a clock sync before CONFIG_CLOCK_MIN_UNIX_S */
    DOWNLINK_BAD_THRESHOLD, /* field outside 4-13, named twice, or above < below */
};

/* Decodes buf[0..len) and, when every bound holds, writes the configuration it makes of
 * `current` to *next and the clock sync (unix s, 0 for none) to *clock_sync_s. Otherwise
 * returns why and leaves *next and *clock_sync_s alone. current and next may not overlap. */
enum downlink_status downlink_parse(const uint8_t *buf, size_t len,
                                    const struct node_config *current, struct node_config *next,
                                    uint32_t *clock_sync_s);

/* Encodes config as the Downlink that makes it from the defaults (for NVM). Returns the
 * length, or 0 when capacity is too small; DOWNLINK_MAX_BYTES always suffices. */
size_t downlink_encode_config(const struct node_config *config, uint8_t *buf, size_t capacity);

/* A short name of a status, for the log (defined when SB_TRACE is). */
const char *downlink_status_name(enum downlink_status status);

#endif
