/*
 * config.h - the node's configuration: what a Downlink can change, its bounds, and its
 * defaults.
 *
 * The configuration is stored in NVM in the schema's own form, as the Downlink message that
 * turns the defaults into it (config_to_downlink), and read back through the same checks a
 * Downlink from the network passes (downlink.c): one set of bounds for both.
 *
 * Defaults are build-time settings (-D...): a board or a test build may start with a short
 * sample interval; CONFIG_SAMPLE_INTERVAL_MIN_S must then be lowered with it, since the
 * defaults have to pass the same bounds.
 */
#ifndef SB_CONFIG_H
#define SB_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "sample_store.h"

#define CONFIG_MAX_THRESHOLDS 8 /* Downlink.thresholds max_count in telemetry.options */

#ifndef CONFIG_SAMPLE_INTERVAL_MIN_S
#define CONFIG_SAMPLE_INTERVAL_MIN_S 10u /* an uplink exchange takes a few seconds */
#endif
#define CONFIG_SAMPLE_INTERVAL_MAX_S 86400u        /* one sample a day, the gateway's limit */
#define CONFIG_BATCH_SPAN_MAX_S      (7u * 86400u) /* interval * samples_per_uplink */
#define CONFIG_CLOCK_MIN_UNIX_S      1577836800u   /* 2020-01-01: earlier is no real time */

#ifndef CONFIG_DEFAULT_SAMPLE_INTERVAL_S
#define CONFIG_DEFAULT_SAMPLE_INTERVAL_S 300u
#endif
#ifndef CONFIG_DEFAULT_SAMPLES_PER_UPLINK
/* As many as fit: the payload limit ends a batch long before 48 at DR0-DR3. */
#define CONFIG_DEFAULT_SAMPLES_PER_UPLINK STORE_MAX_SAMPLES
#endif

/* An alert bound on one quantity in its wire unit; at least one bound is present. */
struct threshold {
    uint8_t field; /* Uplink field number, 4-13 */
    bool has_above;
    bool has_below;
    int32_t above; /* alert when a sample goes above */
    int32_t below; /* alert when a sample goes below */
};

struct node_config {
    uint32_t config_version;
    uint32_t sample_interval_s;
    uint8_t samples_per_uplink;
    uint8_t threshold_count;
    struct threshold thresholds[CONFIG_MAX_THRESHOLDS];
};

void config_defaults(struct node_config *config);

#endif
