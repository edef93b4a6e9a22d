/*
 * options.c - command line of sensorbro-fleet-sim (options.h), and its --help.
 *
 * --help is the tool's manual (there is no README): it says what every option does, its
 * default and range, and how simulated time relates to the timestamps the gateway
 * publishes, which is the one thing a user of the demo is sure to wonder about.
 */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet.h"
#include "uplink.h"

#define PROGRAM "sensorbro-fleet-sim"
#ifndef SENSORBRO_VERSION
#define SENSORBRO_VERSION "unknown"
#endif

#define MAX_SENSORS        1000000u
#define MAX_RATE_PER_S     1e6
#define MAX_SPEED          1e6
#define MAX_INTERVAL_S     86400u       /* the gateway refuses longer sample intervals */
#define MAX_START_TIME_S   4102444800ll /* 2100-01-01 */
#define MAX_TIMEOUT_MS     3600000u
#define MAX_RETRIES        1000u
#define DEFAULT_EUI_PREFIX "70b3d57ed0"

/* Long options without a short form. */
enum {
    OPT_HOST = 256,
    OPT_PORT,
    OPT_SENSORS,
    OPT_RATE,
    OPT_COUNT,
    OPT_DURATION,
    OPT_SAMPLES,
    OPT_INTERVAL,
    OPT_QUANTITIES,
    OPT_SEQ_START,
    OPT_SPEED,
    OPT_START_TIME,
    OPT_UTC_OFFSET,
    OPT_SEED,
    OPT_EUI_PREFIX,
    OPT_TIMEOUT,
    OPT_RETRIES,
    OPT_MAX_PAYLOAD,
    OPT_LOG_SENT,
    OPT_ENCODE_ONLY,
    OPT_VERSION,
};

static const struct option long_options[] = {
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"sensors", required_argument, NULL, OPT_SENSORS},
    {"rate", required_argument, NULL, OPT_RATE},
    {"count", required_argument, NULL, OPT_COUNT},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"samples", required_argument, NULL, OPT_SAMPLES},
    {"interval-s", required_argument, NULL, OPT_INTERVAL},
    {"quantities", required_argument, NULL, OPT_QUANTITIES},
    {"seq-start", required_argument, NULL, OPT_SEQ_START},
    {"speed", required_argument, NULL, OPT_SPEED},
    {"start-time", required_argument, NULL, OPT_START_TIME},
    {"utc-offset", required_argument, NULL, OPT_UTC_OFFSET},
    {"seed", required_argument, NULL, OPT_SEED},
    {"eui-prefix", required_argument, NULL, OPT_EUI_PREFIX},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"max-payload", required_argument, NULL, OPT_MAX_PAYLOAD},
    {"log-sent", required_argument, NULL, OPT_LOG_SENT},
    {"encode-only", no_argument, NULL, OPT_ENCODE_ONLY},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static void print_help(FILE *out)
{
    /* Every %% below is a literal percent sign; the %u and %d take the limits, in order. */
    fprintf(
        out,
        "Usage: " PROGRAM " [OPTION]...\n"
        "Simulates a fleet of indoor-climate sensor nodes posting Sensorbro Uplinks\n"
        "(proto/sensorbro/v1/telemetry.proto) to the gateway over CoAP. Each node is its own\n"
        "CoAP endpoint and sends confirmable POST coap://HOST:PORT/up/<EUI>, one at a time.\n"
        "For the demo, integration tests (send N uplinks, check all arrive) and benchmarks.\n"
        "\n"
        "Gateway:\n"
        "      --host HOST          gateway address or host name (default 127.0.0.1)\n"
        "      --port PORT          gateway CoAP UDP port (default 5683)\n"
        "\n"
        "Fleet:\n"
        "      --sensors N          simulated nodes, 1-%u (default 10)\n"
        "      --eui-prefix HEX     10 hex digits (default " DEFAULT_EUI_PREFIX
        "); node i's EUI is the\n"
        "                           prefix and i in 6 hex digits: " DEFAULT_EUI_PREFIX
        "000000, ...001, ...\n"
        "      --seed N             seeds every signal: same seed, same readings (default 1)\n"
        "      --seq-start N        seq of each node's first uplink (default 0); seq counts up\n"
        "\n"
        "Uplinks:\n"
        "      --samples K          samples per series, 1-%d (default 10)\n"
        "      --interval-s S       simulated seconds between two samples, 1-%u (default 300)\n"
        "      --quantities LIST    comma-separated, from temperature, relative_humidity, co2,\n"
        "                           battery, occupancy; default\n"
        "                           " UPLINK_DEFAULT_QUANTITIES ";\n"
        "                           battery goes as one sample, the latest\n"
        "      --max-payload BYTES  refuse a configuration whose largest possible uplink\n"
        "                           exceeds this, 1-%u (default 242, LoRaWAN EU868 DR4);\n"
        "                           the bound counts 2 bytes per sample, the most a simulated\n"
        "                           sample can take (a real one mostly takes 1)\n"
        "\n"
        "Pace and end:\n"
        "      --rate R             new uplinks per second across the fleet, each to the node\n"
        "                           idle longest (round robin); 0 = as fast as answers come;\n"
        "                           natural = each node once per K x interval-s simulated\n"
        "                           seconds, i.e. R = sensors x speed / (K x interval-s)\n"
        "                           (default 10; natural with --encode-only). A node never\n"
        "                           has two requests out at once.\n"
        "      --count M            stop after M uplinks in all (default 0 = no limit); the\n"
        "                           run ends when all M are delivered or given up\n"
        "      --duration S         stop after S seconds (default 0 = no limit)\n"
        "  On --duration, SIGINT or SIGTERM no new uplink starts, and requests in flight get\n"
        "  up to --timeout-ms to be answered; uplinks left pending count as unfinished. A\n"
        "  second signal stops at once.\n"
        "\n"
        "Time:\n"
        "      --speed X            simulated seconds per wall-clock second (default 1)\n"
        "      --start-time T       simulated unix time at start (default now)\n"
        "      --utc-offset H       hours east of UTC of the simulated building, for the day\n"
        "                           curve and office hours (default: this machine's zone)\n"
        "  Simulated time = start-time + wall-clock seconds since start x speed. An uplink\n"
        "  sent at simulated time t carries K samples interval-s apart, the last taken at\n"
        "  t - age_s (age_s is 0-%d s). Nodes have no clock: they set status 0x10 (clock\n"
        "  unsynced) and never send `time`, so the gateway timestamps the samples from the\n"
        "  reception time minus age_s, interval_s apart. With --speed > 1 the signal shapes\n"
        "  are therefore compressed in time (a simulated day passes in 86400/speed wall-clock\n"
        "  seconds) while the timestamps the gateway publishes stay in real time, samples\n"
        "  still interval-s apart. At --rate natural the sample windows of a node's uplinks\n"
        "  follow on from each other; at a higher rate they overlap, at a lower one they\n"
        "  leave gaps.\n"
        "  Signals (seeded, every node with its own offsets and phases): temperature\n"
        "  20-22.5 degC, warmest in the afternoon; relative humidity 35-55 %%RH, slowly\n"
        "  varying, lower when warmer; occupancy 0 at night and at weekends, a few people\n"
        "  8-16 h on weekdays; CO2 from ~420 ppm, rising 25-40 ppm per person present with a\n"
        "  lag of 15-35 min; battery from ~3600 mV, falling 2-5 mV a day. Sent in the wire\n"
        "  units: 0.01 degC, 0.1 %%RH, ppm, mV, people.\n"
        "\n"
        "Delivery:\n"
        "      --timeout-ms MS      how long to wait for the answer to a transmission,\n"
        "                           1-%u (default 5000); libcoap retransmits the request\n"
        "                           within it until the gateway's ACK\n"
        "      --retries N          re-send an uplink whose transmission timed out up to N\n"
        "                           times, then count it failed, 0-%u (default 5)\n"
        "  The gateway ACKs at once and answers after its journal commit. 2.04 Changed:\n"
        "  delivered. 5.03: the same uplink is re-sent after the answer's Max-Age (1 s when\n"
        "  absent, at most %d s), without limit; the node sends nothing else meanwhile.\n"
        "  4.xx: rejected, logged once per code, not re-sent. Any other answer: failed. A\n"
        "  node re-sends after a timeout from a new local port, as a fresh CoAP endpoint.\n"
        "  The gateway may have stored the transmission that timed out: it recognises the\n"
        "  same bytes sent again (journal.resend_window_s) and stores the uplink once.\n"
        "\n"
        "Output:\n"
        "      --log-sent FILE      one CSV line per delivered uplink, after a header line:\n"
        "                           device,seq,received_ms_local,n_samples,\n"
        "                           last_temperature_wire,last_humidity_wire,last_co2_wire,\n"
        "                           battery_wire,sent_us_local (received_ms_local: unix ms\n"
        "                           when the 2.04 arrived; the latest sample of each series\n"
        "                           in wire units, empty when the quantity is not sent;\n"
        "                           sent_us_local: unix us of the uplink's first transmission)\n"
        "      --encode-only        send nothing: print each uplink as \"<device> <payload\n"
        "                           hex>\" on stdout, same sequencing and signals, on a virtual\n"
        "                           clock that advances 1/R s per uplink (R: --rate, natural\n"
        "                           when not given or 0); needs --count. Fix --start-time and\n"
        "                           --utc-offset as well as --seed for output that repeats\n"
        "                           byte for byte.\n"
        "  -q, --quiet              no per-event logs: errors and the summary only\n"
        "  -h, --help               print this help\n"
        "      --version            print the version\n"
        "\n"
        "At the end a summary goes to stderr: sensors, uplinks sent, delivered, rejected per\n"
        "code, re-sent after 5.03, timed out, failed, unfinished, wall time, achieved rate,\n"
        "and latency p50/p90/p99/max from an uplink's first transmission to its 2.04.\n"
        "Exit status: 0 when every uplink sent was delivered, 1 otherwise or on a run-time\n"
        "error, 2 on a usage error.\n",
        MAX_SENSORS, UPLINK_MAX_SAMPLES, MAX_INTERVAL_S, OPTIONS_MAX_PAYLOAD_BYTES,
        UPLINK_MAX_AGE_S, MAX_TIMEOUT_MS, MAX_RETRIES, FLEET_MAX_AGE_CAP_S);
}

/* Prints "PROGRAM: --option: expected ..., got 'text'" and returns OPTIONS_USAGE_ERROR. */
static enum options_result bad_value(FILE *err, const char *option, const char *expected,
                                     const char *text)
{
    fprintf(err, PROGRAM ": --%s: expected %s, got '%s' (see --help)\n", option, expected, text);
    return OPTIONS_USAGE_ERROR;
}

/* A whole number in [min, max], decimal or (base 0) 0x-prefixed hex; nothing else. */
static bool parse_u64(const char *text, int base, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!isdigit((unsigned char)text[0]))
        return false; /* strtoull would take a sign or blanks */
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, base);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (!parse_u64(text, 10, min, max, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

/* A finite decimal number in [min, max]. */
static bool parse_double(const char *text, double min, double max, double *out)
{
    if (text[0] == '\0' || isspace((unsigned char)text[0]))
        return false;
    errno = 0;
    char *end = NULL;
    double v = strtod(text, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool is_hex_digits(const char *text, size_t digits)
{
    for (size_t i = 0; i < digits; i++) {
        if (!isxdigit((unsigned char)text[i]))
            return false;
    }
    return text[digits] == '\0';
}

static int32_t local_utc_offset_s(int64_t at_s)
{
    time_t t = (time_t)at_s;
    struct tm local;
    if (localtime_r(&t, &local) == NULL)
        return 0;
    return (int32_t)local.tm_gmtoff;
}

static void set_defaults(struct fleet_options *o, int64_t now_s)
{
    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->port = 5683;
    o->sensors = 10;
    o->rate_per_s = 10.0;
    o->shape.sample_count = 10;
    o->shape.interval_s = 300;
    o->speed = 1.0;
    o->start_time_s = now_s;
    o->seed = 1;
    memcpy(o->eui_prefix, DEFAULT_EUI_PREFIX, sizeof(o->eui_prefix));
    o->timeout_ms = 5000;
    o->retries = 5;
    o->max_payload_bytes = 242;
}

/* Handles one option with a value. Returns OPTIONS_RUN when it was good. */
static enum options_result parse_value(struct fleet_options *o, int opt, const char *name,
                                       const char *v, bool *utc_offset_given, FILE *err)
{
    uint64_t u64;
    uint32_t u32;
    double d;
    char reason[160];
    switch (opt) {
    case OPT_HOST:
        if (v[0] == '\0')
            return bad_value(err, name, "an address or host name", v);
        o->host = v;
        break;
    case OPT_PORT:
        if (!parse_u32(v, 1, 65535, &u32))
            return bad_value(err, name, "a UDP port, 1-65535", v);
        o->port = (uint16_t)u32;
        break;
    case OPT_SENSORS:
        if (!parse_u32(v, 1, MAX_SENSORS, &o->sensors))
            return bad_value(err, name, "a whole number of sensors, 1-1000000", v);
        break;
    case OPT_RATE:
        o->rate_natural = strcmp(v, "natural") == 0;
        if (!o->rate_natural && !parse_double(v, 0.0, MAX_RATE_PER_S, &o->rate_per_s))
            return bad_value(err, name, "uplinks per second, 0-1000000, or 'natural'", v);
        break;
    case OPT_COUNT:
        if (!parse_u64(v, 10, 0, UINT64_MAX, &o->count))
            return bad_value(err, name, "a whole number of uplinks (0 = no limit)", v);
        break;
    case OPT_DURATION:
        if (!parse_double(v, 0.0, 1e9, &o->duration_s))
            return bad_value(err, name, "seconds, 0 or more (0 = no limit)", v);
        break;
    case OPT_SAMPLES:
        if (!parse_u32(v, 1, UPLINK_MAX_SAMPLES, &u32))
            return bad_value(err, name, "samples per series, 1-48", v);
        o->shape.sample_count = u32;
        break;
    case OPT_INTERVAL:
        if (!parse_u32(v, 1, MAX_INTERVAL_S, &o->shape.interval_s))
            return bad_value(err, name, "seconds between samples, 1-86400", v);
        break;
    case OPT_QUANTITIES:
        if (uplink_parse_quantities(v, &o->shape.quantities, reason, sizeof(reason)) != 0) {
            fprintf(err, PROGRAM ": --%s: %s; expected a comma-separated list of: %s\n", name,
                    reason, UPLINK_QUANTITY_NAMES);
            return OPTIONS_USAGE_ERROR;
        }
        break;
    case OPT_SEQ_START:
        if (!parse_u32(v, 0, UINT32_MAX, &o->seq_start))
            return bad_value(err, name, "a sequence number, 0-4294967295", v);
        break;
    case OPT_SPEED:
        if (!parse_double(v, 0.0, MAX_SPEED, &o->speed) || o->speed <= 0.0)
            return bad_value(err, name, "simulated seconds per second, above 0 and up to 1000000",
                             v);
        break;
    case OPT_START_TIME:
        if (!parse_u64(v, 10, 0, MAX_START_TIME_S, &u64))
            return bad_value(err, name, "a unix time in seconds, 0-4102444800", v);
        o->start_time_s = (int64_t)u64;
        break;
    case OPT_UTC_OFFSET:
        if (!parse_double(v, -12.0, 14.0, &d))
            return bad_value(err, name, "hours east of UTC, -12 to 14 (e.g. 1, -5, 5.5)", v);
        o->utc_offset_s = (int32_t)lround(d * 3600.0);
        *utc_offset_given = true;
        break;
    case OPT_SEED:
        if (!parse_u64(v, 0, 0, UINT64_MAX, &o->seed))
            return bad_value(err, name, "a whole number, decimal or 0x hex", v);
        break;
    case OPT_EUI_PREFIX:
        if (!is_hex_digits(v, NODE_EUI_PREFIX_DIGITS))
            return bad_value(err, name, "10 hex digits (the EUI's first 5 bytes)", v);
        memcpy(o->eui_prefix, v, NODE_EUI_PREFIX_DIGITS + 1);
        break;
    case OPT_TIMEOUT:
        if (!parse_u32(v, 1, MAX_TIMEOUT_MS, &o->timeout_ms))
            return bad_value(err, name, "milliseconds, 1-3600000", v);
        break;
    case OPT_RETRIES:
        if (!parse_u32(v, 0, MAX_RETRIES, &o->retries))
            return bad_value(err, name, "a whole number, 0-1000", v);
        break;
    case OPT_MAX_PAYLOAD:
        if (!parse_u32(v, 1, OPTIONS_MAX_PAYLOAD_BYTES, &o->max_payload_bytes))
            return bad_value(err, name, "bytes, 1-1024", v);
        break;
    case OPT_LOG_SENT:
        if (v[0] == '\0')
            return bad_value(err, name, "a file name", v);
        o->log_sent_path = v;
        break;
    default:
        fprintf(err, PROGRAM ": internal error: option %d has no parser\n", opt);
        return OPTIONS_USAGE_ERROR;
    }
    return OPTIONS_RUN;
}

/* Checks that concern several options, and fills in the derived values. */
static enum options_result finish(struct fleet_options *o, bool rate_given, bool utc_offset_given,
                                  const char *quantities_text, FILE *err)
{
    if (!utc_offset_given)
        o->utc_offset_s = local_utc_offset_s(o->start_time_s);
    if (o->encode_only && o->count == 0) {
        fprintf(err, PROGRAM ": --encode-only needs --count M, the number of uplinks to print\n");
        return OPTIONS_USAGE_ERROR;
    }
    if (o->encode_only && o->duration_s > 0) {
        fprintf(err, PROGRAM ": --duration has no meaning with --encode-only, which runs on a "
                             "virtual clock; use --count\n");
        return OPTIONS_USAGE_ERROR;
    }
    /* The highest seq a node can reach; without --count, the highest there is. */
    uint64_t max_seq = UINT32_MAX;
    if (o->count > 0) {
        uint64_t per_node = o->count / o->sensors + (o->count % o->sensors != 0);
        max_seq = o->seq_start + per_node - 1;
        if (max_seq > UINT32_MAX) {
            fprintf(err,
                    PROGRAM ": --seq-start %" PRIu32 " with --count %" PRIu64 " over %" PRIu32
                            " sensors would take seq past 4294967295\n",
                    o->seq_start, o->count, o->sensors);
            return OPTIONS_USAGE_ERROR;
        }
    }
    size_t worst_bytes = uplink_worst_case_size(o->shape.quantities, o->shape.sample_count,
                                                o->shape.interval_s, (uint32_t)max_seq);
    if (worst_bytes > o->max_payload_bytes) {
        fprintf(err,
                PROGRAM ": --max-payload %" PRIu32 ": an uplink of %zu samples of %s can take %zu"
                        " bytes (2 bytes a sample at worst); use fewer --samples or --quantities,"
                        " or a larger --max-payload\n",
                o->max_payload_bytes, o->shape.sample_count, quantities_text, worst_bytes);
        return OPTIONS_USAGE_ERROR;
    }
    /* --encode-only has no answers to pace it, and its output is test data best made of
     * uplinks whose sample windows join up: the natural rate unless told otherwise. */
    if (o->rate_natural || (o->encode_only && (!rate_given || o->rate_per_s == 0.0))) {
        o->rate_natural = true;
        o->rate_per_s =
            o->sensors * o->speed / ((double)o->shape.sample_count * (double)o->shape.interval_s);
    }
    return OPTIONS_RUN;
}

enum options_result options_parse(int argc, char **argv, struct fleet_options *o, int64_t now_s,
                                  FILE *out, FILE *err)
{
    set_defaults(o, now_s);
    const char *quantities_text = UPLINK_DEFAULT_QUANTITIES;
    char reason[160];
    if (uplink_parse_quantities(quantities_text, &o->shape.quantities, reason, sizeof(reason)) !=
        0) {
        fprintf(err, PROGRAM ": internal error: default quantities: %s\n", reason);
        return OPTIONS_USAGE_ERROR;
    }
    bool rate_given = false, utc_offset_given = false;

    opterr = 0; /* our messages, not getopt's */
    optind = 1;
    for (;;) {
        int index = -1;
        int opt = getopt_long(argc, argv, ":hq", long_options, &index);
        if (opt == -1)
            break;
        switch (opt) {
        case 'h':
            print_help(out);
            return OPTIONS_EXIT_OK;
        case OPT_VERSION:
            fprintf(out, PROGRAM " " SENSORBRO_VERSION "\n");
            return OPTIONS_EXIT_OK;
        case 'q':
            o->quiet = true;
            break;
        case OPT_ENCODE_ONLY:
            o->encode_only = true;
            break;
        case ':':
            fprintf(err, PROGRAM ": %s needs a value (see --help)\n", argv[optind - 1]);
            return OPTIONS_USAGE_ERROR;
        case '?':
            fprintf(err, PROGRAM ": unknown option '%s' (see --help)\n", argv[optind - 1]);
            return OPTIONS_USAGE_ERROR;
        default: {
            if (index < 0) {
                fprintf(err, PROGRAM ": unknown option '%s' (see --help)\n", argv[optind - 1]);
                return OPTIONS_USAGE_ERROR;
            }
            enum options_result r =
                parse_value(o, opt, long_options[index].name, optarg, &utc_offset_given, err);
            if (r != OPTIONS_RUN)
                return r;
            if (opt == OPT_QUANTITIES)
                quantities_text = optarg;
            if (opt == OPT_RATE)
                rate_given = true;
            break;
        }
        }
    }
    if (optind < argc) {
        fprintf(err,
                PROGRAM ": unexpected argument '%s': all settings are --options (see --help)\n",
                argv[optind]);
        return OPTIONS_USAGE_ERROR;
    }
    return finish(o, rate_given, utc_offset_given, quantities_text, err);
}
