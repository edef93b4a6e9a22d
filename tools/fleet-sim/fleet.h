/*
 * fleet.h - runs the simulated fleet against a gateway over CoAP.
 *
 * The run paces new uplinks (--rate, round robin over idle nodes), keeps at most one
 * request out per node, re-sends after timeouts and 5.03s, counts every outcome into a
 * struct fleet_stats, and stops on --count, --duration or a signal. The nodes (node.h)
 * are the caller's, so that their seq counters outlive the run.
 */
#ifndef FLEET_SIM_FLEET_H
#define FLEET_SIM_FLEET_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

#include "node.h"
#include "options.h"
#include "stats.h"

/* Re-send after a 5.03 after its Max-Age, or this when it has none, at most the cap. */
#define FLEET_DEFAULT_MAX_AGE_S 1
#define FLEET_MAX_AGE_CAP_S     60

/* Runs the fleet of opts->sensors nodes. log_sent (may be NULL) gets the --log-sent CSV,
 * header included. stop_requests counts SIGINT/SIGTERM from the caller's handler: 1 stops
 * gently (no new uplinks, requests in flight get their timeout), 2 or more stops at once.
 * Returns 0 when the run went through, whatever its outcome (which stats holds), or -1
 * with a message in err when it could not run or its I/O failed. */
int fleet_run(const struct fleet_options *opts, struct node *nodes, FILE *log_sent,
              const volatile sig_atomic_t *stop_requests, struct fleet_stats *stats, char *err,
              size_t err_size);

#endif
