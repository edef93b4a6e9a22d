/*
 * fuzz_fw_downlink.c - any bytes as a sensorbro.v1.Downlink payload through the node's
 * decoder, downlink_parse (firmware/core/downlink.c, nanopb), over the default
 * configuration and over one an earlier Downlink made.
 *
 * Input: the Downlink's bytes. When they are accepted over the defaults, they are parsed
 * again over the configuration they made, then over a configuration with every threshold
 * slot in use (fw_checks.c holds the invariants: bounds, refusals leave everything alone,
 * the stored form reads back the same, applying twice changes nothing).
 */
#include <string.h>

#include "fuzz_support.h"
#include "fw_checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct node_config defaults, next, again;
    config_defaults(&defaults);
    if (fw_check_downlink(data, size, &defaults, &next) == DOWNLINK_OK)
        fw_check_downlink(data, size, &next, &again);

    /* a node that has every threshold set: a Downlink without thresholds keeps them */
    struct node_config full = defaults;
    full.threshold_count = CONFIG_MAX_THRESHOLDS;
    for (uint8_t i = 0; i < CONFIG_MAX_THRESHOLDS; i++)
        full.thresholds[i] = (struct threshold){
            .field = (uint8_t)(QUANTITY_FIRST_FIXED + i), .has_above = true, .above = 100 * i};
    fw_check_downlink(data, size, &full, &next);
    return 0;
}
