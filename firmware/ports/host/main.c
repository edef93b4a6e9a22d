/*
 * main.c - sensorbro-node-host: the node firmware as a Linux process, talking to the modem
 * simulator over a pty or a unix socket, with simulated sensors and a fast clock.
 *
 *   sensorbro-node-host --modem PATH [--speed F] [--seed N] [--sensor-index N]
 *                       [--epoch UNIX_S] [--utc-offset S] [--nvm FILE] [--sample-log FILE]
 *                       [--uplinks N] [--duration-s S] [--provision-seq N]
 *
 * --provision-seq writes a sequence limit into a blank NVM before the node starts, as a
 * factory tool would, so that a run (the figures) starts as a node some months into its
 * life does, with a multi-byte seq.
 * Runs until N uplinks were sent, S simulated seconds passed, or SIGINT/SIGTERM, then
 * prints the node's counters and exits 0 (1 on a set-up error).
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "host_board.h"
#include "node.h"
#include "nvm.h"
#include "sim_board.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: sensorbro-node-host --modem PATH [--speed F] [--seed N] "
                "[--sensor-index N]\n"
                "       [--epoch UNIX_S] [--utc-offset S] [--nvm FILE] [--sample-log FILE]\n"
                "       [--uplinks N] [--duration-s S] [--provision-seq N]\n");
}

static bool parse_u64(const char *text, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_i64(const char *text, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return false;
    *out = v;
    return true;
}

int main(int argc, char **argv)
{
    struct host_board_options o = {
        .speed = 1.0, .seed = 1, .epoch_s = SIM_EPOCH_S, .utc_offset_s = 3600};
    uint64_t max_uplinks = 0, duration_s = 0, provision_seq = 0, u;
    int64_t i64;
    static const struct option longopts[] = {
        {"modem", required_argument, NULL, 'm'},
        {"speed", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, 'S'},
        {"sensor-index", required_argument, NULL, 'i'},
        {"epoch", required_argument, NULL, 'e'},
        {"utc-offset", required_argument, NULL, 'u'},
        {"nvm", required_argument, NULL, 'n'},
        {"sample-log", required_argument, NULL, 'l'},
        {"uplinks", required_argument, NULL, 'N'},
        {"duration-s", required_argument, NULL, 'd'},
        {"provision-seq", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'm':
            o.modem_path = optarg;
            break;
        case 's': {
            char *end;
            o.speed = strtod(optarg, &end);
            ok = *end == '\0' && o.speed >= 1.0 && o.speed <= 100000.0;
            break;
        }
        case 'S':
            ok = parse_u64(optarg, UINT64_MAX, &o.seed);
            break;
        case 'i':
            ok = parse_u64(optarg, UINT32_MAX, &u);
            o.sensor_index = (uint32_t)u;
            break;
        case 'e':
            ok = parse_i64(optarg, &o.epoch_s);
            break;
        case 'u':
            ok = parse_i64(optarg, &i64) && i64 >= -86400 && i64 <= 86400;
            o.utc_offset_s = (int32_t)i64;
            break;
        case 'n':
            o.nvm_path = optarg;
            break;
        case 'l':
            o.sample_log_path = optarg;
            break;
        case 'N':
            ok = parse_u64(optarg, UINT32_MAX, &max_uplinks);
            break;
        case 'd':
            ok = parse_u64(optarg, UINT32_MAX, &duration_s);
            break;
        case 'p':
            ok = parse_u64(optarg, UINT32_MAX - NVM_SEQ_BLOCK, &provision_seq);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
        if (!ok) {
            fprintf(stderr, "sensorbro-node-host: bad value: %s\n", optarg);
            return 1;
        }
    }
    if (o.modem_path == NULL || optind != argc) {
        usage(stderr);
        return 1;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!host_board_open(&o))
        return 1;
    if (provision_seq != 0) {
        struct nvm nvm;
        enum nvm_state state;
        if (!nvm_open(&nvm, &state) || state != NVM_STATE_BLANK ||
            !nvm_write_seq_limit(&nvm, (uint32_t)provision_seq)) {
            fprintf(stderr, "sensorbro-node-host: --provision-seq needs a blank NVM\n");
            host_board_close();
            return 1;
        }
    }
    static struct node node;
    if (!node_init(&node)) {
        fprintf(stderr, "sensorbro-node-host: node_init failed\n");
        host_board_close();
        return 1;
    }
    uint64_t end_ms = duration_s * 1000u;
    while (!stop_requested) {
        uint32_t wake_ms = node_poll(&node);
        if (max_uplinks != 0 && node.counters.uplinks_sent >= max_uplinks)
            break;
        if (duration_s != 0 && board_time_ms() >= end_ms)
            break;
        board_sleep_until(wake_ms);
    }
    const struct node_counters *k = &node.counters;
    fprintf(stderr,
            "node counters: uplinks_sent=%" PRIu32 " uplinks_dropped=%" PRIu32
            " sets_dropped=%" PRIu32 " sets_trimmed=%" PRIu32 " ticks_missed=%" PRIu32
            " downlinks_applied=%" PRIu32 " downlinks_refused=%" PRIu32 " nvm_errors=%" PRIu32
            " modem_garbage_lines=%" PRIu32 " modem_timeouts=%" PRIu32 "\n",
            k->uplinks_sent, k->uplinks_dropped, k->sets_dropped, k->sets_trimmed, k->ticks_missed,
            k->downlinks_applied, k->downlinks_refused, k->nvm_errors, node.modem.garbage_lines,
            node.modem.timeouts);
    host_board_close();
    return 0;
}
