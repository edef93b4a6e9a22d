/*
 * config.c - the defaults of the node's configuration (config.h).
 */
#include "config.h"

#include <string.h>

_Static_assert(CONFIG_DEFAULT_SAMPLE_INTERVAL_S >= CONFIG_SAMPLE_INTERVAL_MIN_S &&
                   CONFIG_DEFAULT_SAMPLE_INTERVAL_S <= CONFIG_SAMPLE_INTERVAL_MAX_S,
               "the default sample interval must pass the Downlink bounds");
_Static_assert(CONFIG_DEFAULT_SAMPLES_PER_UPLINK >= 1 &&
                   CONFIG_DEFAULT_SAMPLES_PER_UPLINK <= STORE_MAX_SAMPLES,
               "the default samples_per_uplink must pass the Downlink bounds");
_Static_assert(CONFIG_SAMPLE_INTERVAL_MAX_S *STORE_MAX_SAMPLES <= UINT32_MAX,
               "interval * samples_per_uplink fits 32 bits");
_Static_assert((uint64_t)CONFIG_DEFAULT_SAMPLE_INTERVAL_S *CONFIG_DEFAULT_SAMPLES_PER_UPLINK <=
                   CONFIG_BATCH_SPAN_MAX_S,
               "the default batch must span at most CONFIG_BATCH_SPAN_MAX_S");

void config_defaults(struct node_config *config)
{
    memset(config, 0, sizeof(*config));
    config->sample_interval_s = CONFIG_DEFAULT_SAMPLE_INTERVAL_S;
    config->samples_per_uplink = CONFIG_DEFAULT_SAMPLES_PER_UPLINK;
}
