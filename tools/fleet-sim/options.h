/*
 * options.h - the fleet simulator's command line.
 *
 * options_parse() turns argv into a struct fleet_options with every value checked against
 * its range, so that the rest of the program never sees a bad one. A usage error names the
 * option and says what was expected; main exits 2 on it.
 */
#ifndef FLEET_SIM_OPTIONS_H
#define FLEET_SIM_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "node.h"

/* The largest --max-payload: the gateway's largest frame on any transport. */
#define OPTIONS_MAX_PAYLOAD_BYTES 1024u

struct fleet_options {
    const char *host; /* points into argv or a literal */
    uint16_t port;
    uint32_t sensors;
    double rate_per_s; /* uplinks per second across the fleet; 0 = as fast as answered */
    bool rate_natural; /* --rate natural: rate_per_s is derived (see options_parse) */
    uint64_t count;    /* uplinks to send in all; 0 = no limit */
    double duration_s; /* 0 = no limit */
    struct node_shape shape;
    uint32_t seq_start;
    double speed;         /* simulated seconds per wall-clock second */
    int64_t start_time_s; /* simulated unix time at start */
    int32_t utc_offset_s; /* of the simulated building's local time */
    uint64_t seed;
    char eui_prefix[NODE_EUI_PREFIX_DIGITS + 1];
    uint32_t timeout_ms;
    uint32_t retries;
    uint32_t max_payload_bytes;
    const char *log_sent_path; /* NULL: no log */
    bool quiet;
    bool encode_only;
};

enum options_result {
    OPTIONS_RUN,         /* opts is filled in */
    OPTIONS_EXIT_OK,     /* --help or --version was printed */
    OPTIONS_USAGE_ERROR, /* a message was printed to err */
};

/* Parses argv into opts. --help and --version print to out, errors to err. now_s is the
 * current unix time, the default --start-time. */
enum options_result options_parse(int argc, char **argv, struct fleet_options *opts, int64_t now_s,
                                  FILE *out, FILE *err);

#endif
