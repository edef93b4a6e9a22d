/*
 * main.c - sensorbro-fleet-sim: simulated sensor nodes posting Uplinks to the gateway.
 *
 * Wires the modules together: the command line (options.c), the nodes (node.c over
 * signals.c and uplink.c), then either the networked run (fleet.c over coap_client.c) or
 * the offline --encode-only printer below, which shares the nodes and so their sequencing
 * and signals. The one mutable global is the signal counter: the handlers only count, and
 * the loops poll it.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "fleet.h"
#include "node.h"
#include "options.h"
#include "stats.h"
#include "uplink.h"

#define PROGRAM                "sensorbro-fleet-sim"
#define EXIT_ALL_DELIVERED     0
#define EXIT_NOT_ALL_DELIVERED 1 /* also run-time errors */
#define EXIT_USAGE             2
/* Open files besides the sensors' sockets: stdio, libcoap's epoll, the --log-sent file. */
#define SPARE_FILES 16

static volatile sig_atomic_t stop_requests;

static void on_stop_signal(int signo)
{
    (void)signo;
    if (stop_requests < 2)
        stop_requests = stop_requests + 1;
}

static int install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a signal cuts the wait for traffic short */
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0) {
        fprintf(stderr, PROGRAM ": cannot install signal handlers: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* Every sensor has its own socket: raise the soft limit on open files to the hard one and
 * check that the fleet fits. */
static int raise_open_files_limit(uint32_t sensors)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
        fprintf(stderr, PROGRAM ": getrlimit(RLIMIT_NOFILE): %s\n", strerror(errno));
        return -1;
    }
    if (limit.rlim_cur != limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
            fprintf(stderr, PROGRAM ": setrlimit(RLIMIT_NOFILE) to %ju: %s\n",
                    (uintmax_t)limit.rlim_max, strerror(errno));
            return -1;
        }
    }
    if (limit.rlim_cur != RLIM_INFINITY && (rlim_t)sensors + SPARE_FILES > limit.rlim_cur) {
        fprintf(stderr,
                PROGRAM ": --sensors %" PRIu32 " needs %" PRIu32 " open files, the limit is %ju"
                        " (raise the hard limit, e.g. ulimit -Hn, or use fewer sensors)\n",
                sensors, sensors + SPARE_FILES, (uintmax_t)limit.rlim_cur);
        return -1;
    }
    return 0;
}

/* Writes "<eui> <payload hex>\n". Returns 0, or -1 when the write failed. */
static int print_uplink(FILE *out, const char *eui, const uint8_t *payload, size_t len)
{
    static const char hex_digits[] = "0123456789abcdef";
    char line[NODE_EUI_DIGITS + 1 + 2 * OPTIONS_MAX_PAYLOAD_BYTES + 2];
    if (NODE_EUI_DIGITS + 1 + 2 * len + 2 > sizeof(line))
        return -1;
    size_t at = 0;
    memcpy(line, eui, NODE_EUI_DIGITS);
    at += NODE_EUI_DIGITS;
    line[at++] = ' ';
    for (size_t i = 0; i < len; i++) {
        line[at++] = hex_digits[payload[i] >> 4];
        line[at++] = hex_digits[payload[i] & 0x0f];
    }
    line[at++] = '\n';
    return fwrite(line, 1, at, out) == at ? 0 : -1;
}

/* --encode-only: the uplinks the fleet would send, on a virtual clock that advances 1/rate
 * seconds per uplink (there are no answers to pace it). */
static int run_encode_only(const struct fleet_options *o, struct node *nodes)
{
    uint8_t payload[OPTIONS_MAX_PAYLOAD_BYTES];
    uint64_t i = 0;
    for (; i < o->count && stop_requests == 0; i++) {
        struct node *node = &nodes[i % o->sensors];
        double virtual_elapsed_s = (double)i / o->rate_per_s;
        int64_t send_s = o->start_time_s + (int64_t)floor(virtual_elapsed_s * o->speed);
        struct uplink_frame frame;
        node_next_uplink(node, &o->shape, send_s, &frame);
        size_t len = uplink_encode(&frame, payload, o->max_payload_bytes);
        if (len == 0) {
            /* options_parse checked the worst case: this is a bug, not bad input. */
            fprintf(stderr, PROGRAM ": internal error: uplink exceeds --max-payload\n");
            return -1;
        }
        if (print_uplink(stdout, node->eui, payload, len) != 0)
            break; /* reported below */
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, PROGRAM ": writing to stdout: %s\n", strerror(errno));
        return -1;
    }
    if (i < o->count) {
        fprintf(stderr, PROGRAM ": stopped by a signal after %" PRIu64 " of %" PRIu64 " uplinks\n",
                i, o->count);
        return -1;
    }
    return 0;
}

static void print_start(const struct fleet_options *o)
{
    bool ipv6 = strchr(o->host, ':') != NULL; /* a literal IPv6 address goes in brackets */
    time_t start = (time_t)o->start_time_s;
    struct tm utc;
    char start_text[32] = "?";
    if (gmtime_r(&start, &utc) != NULL)
        strftime(start_text, sizeof(start_text), "%Y-%m-%dT%H:%M:%SZ", &utc);
    fprintf(stderr,
            PROGRAM ": %" PRIu32
                    " sensors -> coap://%s%s%s:%u/up/%s000000..., %.3g uplinks/s%s, %zu"
                    " samples %" PRIu32 " s apart, simulated time from %s at x%g\n",
            o->sensors, ipv6 ? "[" : "", o->host, ipv6 ? "]" : "", (unsigned)o->port, o->eui_prefix,
            o->rate_per_s,
            o->rate_per_s == 0 ? " (as fast as answered)"
            : o->rate_natural  ? " (natural)"
                               : "",
            o->shape.sample_count, o->shape.interval_s, start_text, o->speed);
}

int main(int argc, char **argv)
{
    struct fleet_options opts;
    switch (options_parse(argc, argv, &opts, (int64_t)time(NULL), stdout, stderr)) {
    case OPTIONS_RUN:
        break;
    case OPTIONS_EXIT_OK:
        return fflush(stdout) == 0 ? EXIT_ALL_DELIVERED : EXIT_NOT_ALL_DELIVERED;
    case OPTIONS_USAGE_ERROR:
        return EXIT_USAGE;
    }
    if (install_signal_handlers() != 0)
        return EXIT_NOT_ALL_DELIVERED;

    struct node *nodes = calloc(opts.sensors, sizeof(*nodes));
    if (nodes == NULL) {
        fprintf(stderr, PROGRAM ": out of memory for %" PRIu32 " sensors\n", opts.sensors);
        return EXIT_NOT_ALL_DELIVERED;
    }
    for (uint32_t i = 0; i < opts.sensors; i++)
        node_init(&nodes[i], opts.eui_prefix, i, opts.seed, opts.seq_start, opts.start_time_s,
                  opts.utc_offset_s);

    if (opts.encode_only) {
        int rc = run_encode_only(&opts, nodes);
        free(nodes);
        return rc == 0 ? EXIT_ALL_DELIVERED : EXIT_NOT_ALL_DELIVERED;
    }

    if (raise_open_files_limit(opts.sensors) != 0) {
        free(nodes);
        return EXIT_NOT_ALL_DELIVERED;
    }
    FILE *log_sent = NULL;
    if (opts.log_sent_path != NULL) {
        log_sent = fopen(opts.log_sent_path, "w");
        if (log_sent == NULL) {
            fprintf(stderr, PROGRAM ": --log-sent %s: %s\n", opts.log_sent_path, strerror(errno));
            free(nodes);
            return EXIT_NOT_ALL_DELIVERED;
        }
    }
    if (!opts.quiet)
        print_start(&opts);

    struct fleet_stats stats;
    char err[256];
    int rc = fleet_run(&opts, nodes, log_sent, &stop_requests, &stats, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, PROGRAM ": %s\n", err);
    if (log_sent != NULL && fclose(log_sent) != 0) {
        fprintf(stderr, PROGRAM ": --log-sent %s: %s\n", opts.log_sent_path, strerror(errno));
        rc = -1;
    }
    if (stats.sent > 0 || rc == 0)
        stats_print_summary(&stats, stderr);
    free(nodes);
    if (rc != 0 || stats.delivered != stats.sent)
        return EXIT_NOT_ALL_DELIVERED;
    return EXIT_ALL_DELIVERED;
}
