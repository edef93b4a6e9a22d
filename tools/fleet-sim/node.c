/*
 * node.c - a simulated sensor node (node.h).
 *
 * The sample window is anchored on the send time, not on a fixed sampling grid: a real node
 * sends right after its last sample, so age_s stays at a few seconds however often the
 * fleet makes this node send. How windows of consecutive uplinks line up then depends on
 * the run's rate (see --help); the values do not, as signals are functions of the instant.
 */
#include "node.h"

#include <assert.h>
#include <ctype.h>
#include <stdio.h>

#include "prng.h"

/* Keys the node's own draws apart from the sensors' (signals.c uses small stream ids). */
#define NODE_AGE_STREAM 0x6167655f73656564u

void node_init(struct node *node, const char *eui_prefix, uint32_t index, uint64_t fleet_seed,
               uint32_t seq_start, int64_t epoch_s, int32_t utc_offset_s)
{
    assert(index <= NODE_MAX_INDEX);
    for (size_t i = 0; i < NODE_EUI_PREFIX_DIGITS; i++)
        node->eui[i] = (char)tolower((unsigned char)eui_prefix[i]);
    snprintf(node->eui + NODE_EUI_PREFIX_DIGITS, NODE_EUI_DIGITS - NODE_EUI_PREFIX_DIGITS + 1,
             "%06x", (unsigned)index);
    node->next_seq = seq_start;
    node->age_key = prng_hash(fleet_seed, NODE_AGE_STREAM, index);
    signals_init(&node->sensors, fleet_seed, index, epoch_s, utc_offset_s);
}

void node_next_uplink(struct node *node, const struct node_shape *shape, int64_t send_s,
                      struct uplink_frame *frame)
{
    assert(shape->sample_count >= 1 && shape->sample_count <= UPLINK_MAX_SAMPLES);
    frame->seq = node->next_seq++;
    frame->interval_s = shape->interval_s;
    frame->age_s = (uint32_t)(prng_hash(node->age_key, frame->seq, 0) % (UPLINK_MAX_AGE_S + 1));
    frame->quantities = shape->quantities;
    frame->sample_count = shape->sample_count;
    int64_t last_sample_s = send_s - frame->age_s;
    for (size_t i = 0; i < shape->sample_count; i++) {
        int64_t back_s = (int64_t)(shape->sample_count - 1 - i) * shape->interval_s;
        signals_sample(&node->sensors, last_sample_s - back_s, &frame->samples[i]);
    }
}
