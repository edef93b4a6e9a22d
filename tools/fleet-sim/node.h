/*
 * node.h - one simulated sensor node: its identity, its uplink counter and its sensors.
 *
 * A node is what a real one keeps: a device EUI, the seq of its next uplink (in NVM on real
 * hardware), and its sensors (signals.h). node_next_uplink() is the node's scheduler firing
 * once: it samples the last window of readings and numbers the uplink. Sending, retrying
 * and timing are the fleet's business (fleet.h), so that --encode-only uses the same nodes.
 */
#ifndef FLEET_SIM_NODE_H
#define FLEET_SIM_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "signals.h"
#include "uplink.h"

#define NODE_EUI_PREFIX_DIGITS 10 /* given on the command line */
#define NODE_EUI_DIGITS        16 /* prefix + 6 hex digits of the node's index */
#define NODE_MAX_INDEX         0xffffffu

/* What every uplink of the fleet carries. */
struct node_shape {
    unsigned quantities; /* enum uplink_quantity bits */
    size_t sample_count; /* per series, 1 to UPLINK_MAX_SAMPLES */
    uint32_t interval_s; /* between two samples, simulated time */
};

struct node {
    char eui[NODE_EUI_DIGITS + 1]; /* lower-case hex, as the gateway prints device ids */
    uint32_t next_seq;
    uint64_t age_key; /* draws each uplink's age_s from its seq */
    struct signals_sensor sensors;
};

/* eui_prefix must be NODE_EUI_PREFIX_DIGITS hex digits (either case; the caller checks);
 * index at most NODE_MAX_INDEX. epoch_s and utc_offset_s as for signals_init. */
void node_init(struct node *node, const char *eui_prefix, uint32_t index, uint64_t fleet_seed,
               uint32_t seq_start, int64_t epoch_s, int32_t utc_offset_s);

/* Fills frame with the node's next uplink as sent at simulated unix time send_s and
 * advances the node's seq. The last sample was taken age_s (0 to UPLINK_MAX_AGE_S, drawn
 * from the seq) before send_s, the others interval_s apart before it. */
void node_next_uplink(struct node *node, const struct node_shape *shape, int64_t send_s,
                      struct uplink_frame *frame);

#endif
