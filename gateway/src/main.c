/*
 * main.c - the sensorbro daemon: configuration, start-up order, signals, shutdown.
 *
 * Start order follows the data: the journal writer first (it creates the database), then
 * the outputs (they read what the writer commits), then the ingest adapters (they feed the
 * writer). Shutdown runs the other way, so that every frame an adapter accepted is committed
 * and answered before the writer goes, and each output gets a chance to see the PUBACKs for
 * what it has in flight. SIGINT and SIGTERM are taken by sigwait on the main thread only;
 * SIGHUP reloads the configuration file (what a reload can change: service.c).
 *
 * Two tables say what runs: the outputs (output/output.h: where the journal is delivered)
 * and the modules that count (each one's stats and collector, report.h).
 *
 * Under systemd (packaging/sensorbro.service) the main loop also feeds the watchdog and the
 * status line through service.h; whether the pipeline is alive is decided here, in
 * pipeline_alive, from the modules' own progress stamps.
 */
#include <assert.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "config.h"
#include "http_status.h"
#include "ingest/coap.h"
#include "ingest/semtech_udp.h"
#include "util/eui_host.h"
#include "ingest/lns_mqtt.h"
#include "store/journal_writer.h"
#include "util/log.h"
#include "metrics.h"
#include "output/mqtt_output.h"
#include "output/mqtt_session.h"
#include "output/os2iot_http_output.h"
#include "output/output.h"
#include "privilege.h"
#include "report.h"
#include "service.h"

#define EXIT_USAGE 2
/* The counters go to the journal's status table (sensorbroctl status) this often when
 * they changed, and at least every STATUS_HEARTBEAT_S when nothing did; to the log at
 * debug level every STATS_LOG_PERIOD_S. */
#define STATUS_PERIOD_S    5
#define STATUS_HEARTBEAT_S 60
#define STATS_LOG_PERIOD_S 60
/* Without a watchdog, a stall is still reported (log, status line) after this long. */
#define STALL_DEFAULT_MS 30000
#define MAX_SETS         64
/* room for one module's stats line (the Semtech adapter's, with every drop reason, is the
 * longest) */
#define STATS_LINE_SIZE 1024

#ifndef SENSORBRO_VERSION
#define SENSORBRO_VERSION "unknown"
#endif

/* The outputs the journal is delivered to. A row: the output's name (the key of its
 * progress in the journal, so never renamed), its type (output/output.h), and its section of
 * the configuration, which the type reads. [mqtt] is always the one named "mqtt"; each
 * [output NAME] section adds one more after it (configure_outputs), its type from
 * output_types. */
static const void *mqtt_section(const struct config *cfg)
{
    return &cfg->mqtt;
}

static const struct output_row {
    const char *name;
    const struct output_type *type;
    const void *(*options)(const struct config *cfg);
} output_rows[] = {
    {"mqtt", &mqtt_output_type, mqtt_section},
};

#define N_OUTPUT_ROWS (sizeof(output_rows) / sizeof(output_rows[0]))

/* The type of each enum config_output_type, and where its options sit in the section. */
static const struct output_type *output_type_of(const struct config_output *o, const void **options)
{
    switch ((enum config_output_type)o->type) {
    case CONFIG_OUTPUT_MQTT:
        *options = &o->mqtt;
        return &mqtt_output_type;
    case CONFIG_OUTPUT_OS2IOT_HTTP:
        *options = &o->http;
        return &os2iot_http_output_type;
    }
    return NULL;
}
#define MAX_OUTPUTS JOURNAL_WRITER_MAX_OUTPUTS

/* A configured output. */
struct gateway_output {
    const struct output_type *type;
    struct output_context ctx; /* ctx.index is its place in gateway.outputs */
    /* set while it runs; the writer's thread reads it to notify (on_committed) */
    _Atomic(void *) instance;
    void *stats; /* its type's stats: live while it runs, then its final figures */
};

/* Every module's counters, as last read: live while the module runs, then the final
 * figures its stop function gives, so that the last snapshot counts everything. */
struct gateway_stats {
    struct journal_writer_stats writer;
    struct coap_ingest_stats coap;
    struct semtech_udp_stats semtech;
    struct lns_mqtt_stats lns;
};

struct gateway {
    struct config cfg;
    struct journal_writer *writer;
    struct gateway_output outputs[MAX_OUTPUTS];
    unsigned n_outputs;
    struct coap_ingest *coap;
    struct semtech_udp *semtech;
    struct lns_mqtt *lns;
    struct http_status *http; /* NULL: http.enabled false, or not started */
    /* --- main thread only --- */
    const char *config_path; /* -c, NULL when none: read again on SIGHUP */
    const char *sets[MAX_SETS];
    int n_sets;
    char log_level_set[32]; /* --log-level L, kept as the --set "log.level=L" it stands for */
    struct service service;
    struct privilege privilege; /* the user it becomes once its sockets are bound */
    int64_t started_ms;
    uint64_t kernel_drops_logged;
    struct gateway_stats stats;
    struct metrics status;       /* the snapshot being built */
    struct metrics status_saved; /* the last one handed to the journal writer */
    int64_t status_saved_mono_ms;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: sensorbro [-c FILE] [--set SECTION.KEY=VALUE]... [--print-config]\n"
                 "                 [--check-config]\n"
                 "\n"
                 "Receives sensor uplinks (CoAP, LoRaWAN through a Semtech UDP packet\n"
                 "forwarder, a LoRaWAN network server's MQTT feed), keeps each in an SQLite\n"
                 "journal before acknowledging it, and publishes it as JSON over MQTT.\n"
                 "\n"
                 "  -c, --config FILE     INI configuration file (default: built-in defaults)\n"
                 "  -s, --set S.K=V       override a key, e.g. mqtt.port=1884 (once per key)\n"
                 "  -l, --log-level L     error, warn, info or debug (log.level; over the file)\n"
                 "  -p, --print-config    print the effective configuration and exit\n"
                 "  -t, --check-config    check the configuration, its TLS files and the\n"
                 "                        privacy of keys and journal, then exit (0: ok)\n"
                 "  -V, --version         print the version and exit\n"
                 "  -h, --help            this text\n"
                 "\n"
                 "SIGTERM or SIGINT stops it cleanly; SIGHUP reads the file again (log.level\n"
                 "applies at once, other changes are logged as needing a restart).\n"
                 "\n"
                 "Documentation: sensorbro(8), sensorbro.ini(5), docs/configuration.md,\n"
                 "docs/operations.md, docs/protocol.md, docs/architecture.md\n");
}

static void on_committed(void *ctx)
{
    struct gateway *gw = ctx;
    for (unsigned i = 0; i < gw->n_outputs; i++) {
        void *output = atomic_load(&gw->outputs[i].instance);
        if (output)
            gw->outputs[i].type->notify(output);
    }
}

#ifndef NDEBUG
/* The outputs' table's rule: at most MAX_OUTPUTS, each at its own index, with its stats,
 * no name twice (a name is a key in the journal). */
static bool outputs_ok(const struct gateway *gw)
{
    if (gw->n_outputs > MAX_OUTPUTS)
        return false;
    for (unsigned i = 0; i < gw->n_outputs; i++) {
        const struct gateway_output *o = &gw->outputs[i];
        if (o->ctx.index != i || o->stats == NULL || o->type == NULL)
            return false;
        for (unsigned k = 0; k < i; k++)
            if (strcmp(gw->outputs[k].ctx.name, o->ctx.name) == 0)
                return false;
    }
    return true;
}
#endif

/* Fills the table of configured outputs: output_rows, then the [output NAME] sections.
 * Returns -1 when out of memory or a type is missing (reported). */
static int configure_outputs(struct gateway *gw)
{
    const struct config *cfg = &gw->cfg;
    _Static_assert(N_OUTPUT_ROWS <= MAX_OUTPUTS, "more outputs than the writer keeps");
    for (size_t i = 0; i < N_OUTPUT_ROWS; i++) {
        const struct output_row *row = &output_rows[i];
        struct gateway_output *o = &gw->outputs[gw->n_outputs];
        o->type = row->type;
        o->stats = calloc(1, row->type->stats_size);
        if (o->stats == NULL) {
            fprintf(stderr, "sensorbro: out of memory\n");
            return -1;
        }
        o->ctx = (struct output_context){.name = row->name,
                                         .index = gw->n_outputs,
                                         .options = row->options(cfg),
                                         .gateway_id = cfg->gateway.id,
                                         .journal_path = cfg->journal.path};
        atomic_store(&o->instance, NULL);
        gw->n_outputs++;
    }
    _Static_assert(N_OUTPUT_ROWS + CONFIG_MAX_OUTPUTS <= MAX_OUTPUTS,
                   "more [output NAME] sections than the writer keeps");
    for (unsigned i = 0; i < cfg->n_outputs; i++) {
        const struct config_output *section = &cfg->outputs[i];
        struct gateway_output *o = &gw->outputs[gw->n_outputs];
        const void *options = NULL;
        o->type = output_type_of(section, &options);
        if (o->type == NULL) {
            fprintf(stderr, "sensorbro: [output %s]: this build has no output of that type\n",
                    section->name);
            return -1;
        }
        o->stats = calloc(1, o->type->stats_size);
        if (o->stats == NULL) {
            fprintf(stderr, "sensorbro: out of memory\n");
            return -1;
        }
        o->ctx = (struct output_context){.name = section->name,
                                         .index = gw->n_outputs,
                                         .options = options,
                                         .gateway_id = cfg->gateway.id,
                                         .journal_path = cfg->journal.path};
        atomic_store(&o->instance, NULL);
        gw->n_outputs++;
    }
    assert(outputs_ok(gw));
    return 0;
}

/* Defaults, then the file, then the --set options, then the checks across keys. Returns 0,
 * or -1 with the message in err. */
static int load_config(const struct gateway *gw, struct config *cfg, char err[CONFIG_ERROR_SIZE])
{
    config_set_defaults(cfg);
    if (gw->config_path && config_load_file(cfg, gw->config_path, err) != 0)
        return -1;
    for (int i = 0; i < gw->n_sets; i++)
        if (config_apply_option(cfg, gw->sets[i], err) != 0)
            return -1;
    return config_finish(cfg, err); /* its message names the file */
}

/* Loads configuration from the command line. Returns 0, 1 to exit successfully (help,
 * version, print-config) or -1 for a usage or configuration error (already reported). */
static int configure(struct gateway *gw, int argc, char **argv)
{
    static const struct option long_opts[] = {
        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
        {"print-config", no_argument, NULL, 'p'}, {"check-config", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'V'},      {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    bool print_config = false, check_only = false;
    /* --set options apply after the file, whatever their order on the command line */
    int opt;
    while ((opt = getopt_long(argc, argv, "c:s:l:ptVh", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            if (gw->config_path) {
                fprintf(stderr, "sensorbro: -c given twice (%s, %s): one configuration file\n",
                        gw->config_path, optarg);
                return -1;
            }
            gw->config_path = optarg;
            break;
        case 's':
            if (gw->n_sets == MAX_SETS) {
                fprintf(stderr, "sensorbro: too many --set options\n");
                return -1;
            }
            gw->sets[gw->n_sets++] = optarg;
            break;
        case 'l': {
            enum log_level level;
            if (log_level_parse(optarg, &level) != 0) {
                fprintf(stderr, "sensorbro: --log-level %s: expected error, warn, info or debug\n",
                        optarg);
                return -1;
            }
            if (gw->log_level_set[0] != '\0' || gw->n_sets == MAX_SETS) {
                fprintf(stderr, "sensorbro: --log-level given twice, or too many --set\n");
                return -1;
            }
            snprintf(gw->log_level_set, sizeof(gw->log_level_set), "log.level=%s",
                     log_level_name(level));
            gw->sets[gw->n_sets++] = gw->log_level_set;
            break;
        }
        case 'p':
            print_config = true;
            break;
        case 't':
            check_only = true;
            break;
        case 'V':
            printf("sensorbro %s\n", SENSORBRO_VERSION);
            return 1;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sensorbro: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    char err[CONFIG_ERROR_SIZE];
    if (load_config(gw, &gw->cfg, err) != 0) {
        fprintf(stderr, "sensorbro: %s\n", err);
        return -1;
    }
    if (print_config) {
        config_print(&gw->cfg, stdout);
        return 1;
    }
    /* Now, not at the first connect: a wrong certificate file would otherwise only show as
     * failing connections, long after start-up said all was well. */
    if (config_check_files(&gw->cfg, err) != 0 || config_check_private_files(&gw->cfg, err) != 0) {
        fprintf(stderr, "sensorbro: %s\n", err);
        return -1;
    }
    log_set_level((enum log_level)gw->cfg.log.level);
    config_log_warnings(&gw->cfg);
    if (check_only) {
        printf("sensorbro: configuration ok%s%s\n", gw->config_path ? ": " : "",
               gw->config_path ? gw->config_path : "");
        return 1;
    }
    return configure_outputs(gw);
}

/* The outputs' stats, once nothing reads them any more (after stop). */
static void release_outputs(struct gateway *gw)
{
    for (unsigned i = 0; i < gw->n_outputs; i++)
        free(gw->outputs[i].stats);
    gw->n_outputs = 0;
}

static int start_http(struct gateway *gw); /* with report_to_http, below */

static int start(struct gateway *gw)
{
    const struct config *cfg = &gw->cfg;
    char err[512];
    struct journal_writer_options wopts = {
        .path = cfg->journal.path,
        .journal = {.read_only = false,
                    .synchronous = cfg->journal.synchronous == CONFIG_SYNC_FULL
                                       ? JOURNAL_SYNC_FULL
                                       : JOURNAL_SYNC_NORMAL,
                    .busy_timeout_ms = 5000,
                    .check_integrity = true,
                    .resend_window_ms = (int64_t)cfg->journal.resend_window_s * 1000},
        .batch_max_rows = cfg->journal.batch_max_rows,
        .batch_max_ms = cfg->journal.batch_max_ms,
        .queue_frames = cfg->journal.queue_frames,
        .retention_ms = (int64_t)cfg->journal.retention_h * 3600 * 1000,
        .max_bytes = (int64_t)cfg->journal.max_mb * 1048576,
        .min_free_bytes = (int64_t)cfg->journal.min_free_mb * 1048576,
        .full_policy = cfg->journal.full_policy == CONFIG_REJECT_NEW ? JOURNAL_REJECT_NEW
                                                                     : JOURNAL_DROP_OLDEST,
    };
    const char *output_names[MAX_OUTPUTS];
    for (unsigned i = 0; i < gw->n_outputs; i++)
        output_names[i] = gw->outputs[i].ctx.name;
    wopts.outputs = output_names;
    wopts.n_outputs = gw->n_outputs;
    if (journal_writer_start(&gw->writer, &wopts, on_committed, gw, err, sizeof(err)) != 0) {
        log_error("journal: %s", err);
        return -1;
    }
    for (unsigned i = 0; i < gw->n_outputs; i++) {
        struct gateway_output *o = &gw->outputs[i];
        o->ctx.writer = gw->writer;
        void *output;
        if (o->type->start(&output, &o->ctx, err, sizeof(err)) != 0) {
            log_error("publish: %s", err);
            return -1;
        }
        atomic_store(&o->instance, output);
    }
    if (start_http(gw) != 0)
        return -1;
    if (cfg->coap.enabled) {
        struct coap_ingest_options copts = {.bind = cfg->coap.bind,
                                            .port = (uint16_t)cfg->coap.port,
                                            .max_payload_bytes = cfg->coap.max_payload_bytes,
                                            .receive_buffer_bytes =
                                                cfg->coap.receive_buffer_kb * 1024,
                                            .nosec = (enum coap_nosec)cfg->coap.nosec,
                                            .dtls_bind = cfg->coap.dtls_bind,
                                            .dtls_port = (uint16_t)cfg->coap.dtls_port,
                                            .journal_path = cfg->journal.path,
                                            .accept_unregistered = cfg->coap.accept_unregistered,
                                            .max_sessions = cfg->coap.max_sessions,
                                            .session_idle_s = cfg->coap.session_idle_s,
                                            .max_handshakes = cfg->coap.max_handshakes,
                                            .writer = gw->writer};
        if (coap_ingest_start(&gw->coap, &copts, err, sizeof(err)) != 0) {
            log_error("%s", err);
            return -1;
        }
    }
    if (cfg->semtech_udp.enabled) {
        struct eui_host pins[SEMTECH_UDP_MAX_FORWARDERS];
        char why[256];
        int n_pins = eui_host_parse_list(cfg->semtech_udp.forwarders, pins,
                                         SEMTECH_UDP_MAX_FORWARDERS, why, sizeof(why));
        if (n_pins < 0) { /* config_load checked it: not reached */
            log_error("semtech_udp.forwarders: %s", why);
            return -1;
        }
        struct semtech_udp_options sopts = {
            .bind = cfg->semtech_udp.bind,
            .port = (uint16_t)cfg->semtech_udp.port,
            .dedup_window_ms = cfg->semtech_udp.dedup_window_ms,
            .net_id = (uint32_t)strtoul(cfg->semtech_udp.net_id, NULL, 16),
            .journal_path = cfg->journal.path,
            .writer = gw->writer,
            .forwarder_timeout_s = cfg->semtech_udp.forwarder_timeout_s,
            .pin_forwarders = cfg->semtech_udp.pin_forwarders,
            .forwarders = pins,
            .n_forwarders = (size_t)n_pins,
            .rate_limit_per_s = cfg->semtech_udp.rate_limit_per_s,
            .rate_burst = cfg->semtech_udp.rate_burst,
            .retransmission_window_ms = cfg->semtech_udp.retransmission_window_s * 1000u,
            .receive_buffer_bytes = cfg->semtech_udp.receive_buffer_kb * 1024u};
        if (semtech_udp_start(&gw->semtech, &sopts, err, sizeof(err)) != 0) {
            log_error("%s", err);
            return -1;
        }
    }
    if (cfg->lns_mqtt.enabled && lns_mqtt_start(&gw->lns, cfg, gw->writer, err, sizeof(err)) != 0) {
        log_error("%s", err);
        return -1;
    }
    log_info("sensorbro %s started: gateway %s, journal %s, broker %s:%" PRIu32
             "%s, CoAP %s, Semtech UDP %s, LNS feed %s",
             SENSORBRO_VERSION, cfg->gateway.id, cfg->journal.path, cfg->mqtt.broker.host,
             cfg->mqtt.broker.port, cfg->mqtt.broker.tls ? " (TLS)" : "",
             cfg->coap.enabled ? "on" : "off", cfg->semtech_udp.enabled ? "on" : "off",
             cfg->lns_mqtt.enabled ? "on" : "off");
    if (cfg->semtech_udp.enabled)
        log_info("semtech-udp: listening on udp %s port %" PRIu32
                 " (packet forwarders), dedup window %" PRIu32 " ms, NetID %s",
                 cfg->semtech_udp.bind, cfg->semtech_udp.port, cfg->semtech_udp.dedup_window_ms,
                 cfg->semtech_udp.net_id);
    if (cfg->coap.enabled) {
        if (cfg->coap.dtls_port != 0)
            log_info("coap: DTLS-PSK on udp %s port %" PRIu32
                     ", PSK identity = device EUI, key = its coap.psk",
                     cfg->coap.dtls_bind, cfg->coap.dtls_port);
        if (cfg->coap.nosec == CONFIG_NOSEC_ON)
            log_warn("coap: plain CoAP (NoSec, coap.nosec = true) on udp %s port %" PRIu32
                     ": anyone on the network can post for a device without a key",
                     cfg->coap.bind, cfg->coap.port);
        else if (cfg->coap.nosec == CONFIG_NOSEC_AUTO)
            log_warn("coap: plain CoAP (NoSec, coap.nosec = auto) on udp %s port %" PRIu32
                     " until a device has a coap.psk: unauthenticated until then",
                     cfg->coap.bind, cfg->coap.port);
        if (cfg->coap.accept_unregistered)
            log_warn("coap: coap.accept_unregistered = true: devices not in the registry are "
                     "taken (the commissioning window; turn it off after)");
        log_info("coap: listening on udp %s port %" PRIu32 ", POST /up/<device-eui>",
                 cfg->coap.bind, cfg->coap.port);
    }
    return 0;
}

/* ---- the modules that count ---- */

/* A module's two adapters for its row below: its live stats into gw->stats.FIELD while it
 * runs (gw->INSTANCE set; after its stop the final figures its stop function gave stay),
 * and its collector (report.h) over that snapshot, with the signature an output type's
 * collector has (output/output.h), so that modules and outputs are rows of one list. */
#define STATS_ADAPTERS(field, instance, get_stats, collect)                                        \
    static void field##_refresh(struct gateway *gw)                                                \
    {                                                                                              \
        if (gw->instance)                                                                          \
            get_stats(gw->instance, &gw->stats.field);                                             \
    }                                                                                              \
    static void field##_collect(const void *stats, struct report *r)                               \
    {                                                                                              \
        collect(stats, r);                                                                         \
    }

STATS_ADAPTERS(writer, writer, journal_writer_get_stats, journal_writer_collect)
STATS_ADAPTERS(coap, coap, coap_ingest_get_stats, coap_ingest_collect)
STATS_ADAPTERS(semtech, semtech, semtech_udp_get_stats, semtech_udp_collect)
STATS_ADAPTERS(lns, lns, lns_mqtt_get_stats, lns_mqtt_collect)

static bool coap_enabled(const struct config *cfg)
{
    return cfg->coap.enabled;
}

static bool semtech_enabled(const struct config *cfg)
{
    return cfg->semtech_udp.enabled;
}

static bool lns_enabled(const struct config *cfg)
{
    return cfg->lns_mqtt.enabled;
}

static void log_forwarders(struct gateway *gw, enum log_level level);

/* Every module that counts, in the order of the metrics list and of the stats lines; the
 * configured outputs follow, each under its name (stats_rows). Its figures are named once,
 * in its collector; a module that is not configured to run has no figures at all (not
 * zeros). */
static const struct stats_source {
    const char *name;                          /* "stats: <name> ..." in the log */
    bool (*enabled)(const struct config *cfg); /* NULL: always runs */
    void (*refresh)(struct gateway *gw);       /* live stats, while it runs */
    size_t stats_offset;                       /* its snapshot in struct gateway_stats */
    void (*collect)(const void *stats, struct report *r);
    void (*log_more)(struct gateway *gw, enum log_level level); /* NULL, or lines of its own */
} stats_sources[] = {
    {"journal", NULL, writer_refresh, offsetof(struct gateway_stats, writer), writer_collect, NULL},
    {"coap", coap_enabled, coap_refresh, offsetof(struct gateway_stats, coap), coap_collect, NULL},
    {"semtech-udp", semtech_enabled, semtech_refresh, offsetof(struct gateway_stats, semtech),
     semtech_collect, log_forwarders},
    {"lns-mqtt", lns_enabled, lns_refresh, offsetof(struct gateway_stats, lns), lns_collect, NULL},
};

#define N_STATS_SOURCES (sizeof(stats_sources) / sizeof(stats_sources[0]))

/* One row of what counts now: a module that runs, or a configured output. */
struct stats_row {
    const char *name;  /* "stats: <name> ..." */
    const void *stats; /* the snapshot its collector reads */
    void (*collect)(const void *stats, struct report *r);
    void (*log_more)(struct gateway *gw, enum log_level level);
};

#define MAX_STATS_ROWS (N_STATS_SOURCES + MAX_OUTPUTS)

/* Fills rows (MAX_STATS_ROWS) with what counts: the modules configured to run, in the
 * table's order, then the outputs in theirs. Returns how many. */
static size_t stats_rows(const struct gateway *gw, struct stats_row *rows)
{
    size_t n = 0;
    for (size_t i = 0; i < N_STATS_SOURCES; i++) {
        const struct stats_source *src = &stats_sources[i];
        if (src->enabled != NULL && !src->enabled(&gw->cfg))
            continue;
        rows[n++] = (struct stats_row){src->name, (const char *)&gw->stats + src->stats_offset,
                                       src->collect, src->log_more};
    }
    for (unsigned i = 0; i < gw->n_outputs; i++) {
        const struct gateway_output *o = &gw->outputs[i];
        rows[n++] = (struct stats_row){o->ctx.name, o->stats, o->type->collect, NULL};
    }
    assert(n <= MAX_STATS_ROWS);
    return n;
}

/* Reads the counters of every module that runs. */
static void refresh_stats(struct gateway *gw)
{
    for (size_t i = 0; i < N_STATS_SOURCES; i++)
        stats_sources[i].refresh(gw);
    for (unsigned i = 0; i < gw->n_outputs; i++) {
        void *output = atomic_load(&gw->outputs[i].instance);
        if (output)
            gw->outputs[i].type->get_stats(output, gw->outputs[i].stats);
    }
}

/* Clears out and fills it: the daemon's own figures, then every configured module's. */
static void collect_metrics(const struct gateway *gw, bool running, struct metrics *out)
{
    metrics_clear(out);
    struct report r;
    report_init(&r, out, NULL, 0);
    report_daemon(&r, running, gw->started_ms);
    struct stats_row rows[MAX_STATS_ROWS];
    size_t n = stats_rows(gw, rows);
    for (size_t i = 0; i < n; i++)
        rows[i].collect(rows[i].stats, &r);
}

/* Two snapshots differ in anything but the moment they were taken. */
static bool status_changed(const struct metrics *a, const struct metrics *b)
{
    if (a->count != b->count)
        return true;
    for (size_t i = 0; i < a->count; i++) {
        if (strcmp(a->items[i].name, "sensorbro_snapshot_time_seconds") == 0)
            continue;
        if (a->items[i].value != b->items[i].value || strcmp(a->items[i].name, b->items[i].name))
            return true;
    }
    return false;
}

/* Hands the counters to the journal writer for the status table, when they changed or the
 * heartbeat is due, and always when stopping (running false). */
static void save_status(struct gateway *gw, bool running)
{
    if (gw->writer == NULL)
        return;
    collect_metrics(gw, running, &gw->status);
    int64_t now = clock_mono_ms();
    if (running && !status_changed(&gw->status, &gw->status_saved) &&
        now - gw->status_saved_mono_ms < STATUS_HEARTBEAT_S * 1000)
        return;
    journal_writer_save_status(gw->writer, &gw->status);
    gw->status_saved = gw->status;
    gw->status_saved_mono_ms = now;
}

static void stop(struct gateway *gw)
{
    coap_ingest_stop(gw->coap, &gw->stats.coap);
    gw->coap = NULL;
    semtech_udp_stop(gw->semtech, &gw->stats.semtech);
    gw->semtech = NULL;
    lns_mqtt_stop(gw->lns, &gw->stats.lns);
    gw->lns = NULL;
    log_debug("stop: ingest stopped, every accepted frame answered");
    http_status_stop(gw->http); /* before the outputs whose figures it shows */
    gw->http = NULL;
    for (unsigned i = gw->n_outputs; i-- > 0;) {
        struct gateway_output *o = &gw->outputs[i];
        void *output = atomic_exchange(&o->instance, NULL);
        if (output)
            o->type->stop(output, o->stats);
    }
    log_debug("stop: outputs stopped");
    refresh_stats(gw); /* the writer's, after the outputs' last marks */
    save_status(gw, false);
    journal_writer_stop(gw->writer);
    gw->writer = NULL;
    log_debug("stop: journal closed");
}

/* One line per forwarder the Semtech adapter knows (not counters: what each last said). */
static void log_forwarders(struct gateway *gw, enum log_level level)
{
    if (gw->semtech == NULL)
        return;
    static struct semtech_udp_forwarder fwd[SEMTECH_UDP_MAX_FORWARDERS];
    size_t n = semtech_udp_get_forwarders(gw->semtech, fwd, SEMTECH_UDP_MAX_FORWARDERS);
    for (size_t i = 0; i < n; i++) {
        const struct semtech_udp_forwarder *f = &fwd[i];
        log_msg(level,
                "stats: forwarder %s at %s (downlink %s): push %" PRIu64 ", pull %" PRIu64
                ", tx errors %" PRIu64 "%s rxnb %" PRIu32 " rxok %" PRIu32 " rxfw %" PRIu32
                " ackr %.1f%% dwnb %" PRIu32 " txnb %" PRIu32,
                f->eui, f->address[0] ? f->address : "-", f->downlink[0] ? f->downlink : "-",
                f->push_data, f->pull_data, f->tx_errors,
                f->has_stat ? "; last stat:" : "; no stat;", f->rxnb, f->rxok, f->rxfw, f->ackr,
                f->dwnb, f->txnb);
    }
}

/* Logs the counters as last refreshed, one line per configured module from its collector:
 * every STATS_LOG_PERIOD_S at debug level, and once at stop at info level. */
static void log_stats(struct gateway *gw, enum log_level level)
{
    const struct coap_ingest_stats cs = gw->stats.coap;
    if (cs.kernel_drops > gw->kernel_drops_logged) {
        /* once per period with drops, not once per datagram */
        log_warn("coap: the kernel dropped %" PRIu64 " datagrams since the last report "
                 "(%" PRIu64 " in all): the receive buffer was full; raise coap.receive_buffer_kb "
                 "and net.core.rmem_max",
                 cs.kernel_drops - gw->kernel_drops_logged, cs.kernel_drops);
        gw->kernel_drops_logged = cs.kernel_drops;
    }
    struct stats_row rows[MAX_STATS_ROWS];
    size_t n = stats_rows(gw, rows);
    for (size_t i = 0; i < n; i++) {
        char line[STATS_LINE_SIZE];
        struct report r;
        report_init(&r, NULL, line, sizeof(line));
        rows[i].collect(rows[i].stats, &r);
        log_msg(level, "stats: %s %s", rows[i].name, line);
        if (rows[i].log_more)
            rows[i].log_more(gw, level);
    }
}

/* The watchdog's question: is the pipeline moving, or idle by design? Alive when
 *  - the journal writer waits for work with nothing queued, or finished a transaction
 *    within stall_ms (a failed commit counts: a full disk is handled, not fixed by a
 *    restart);
 *  - each output's thread went round its loop within stall_ms (the MQTT output's does once
 *    a second, connected or not: a broker outage with reconnects scheduled is progress),
 *    and, while connected with deliveries in flight, its destination answered one within
 *    stall_ms plus the output's grace (for MQTT two keepalives: by then Paho has declared a
 *    silent broker lost; a connection that still looks up and never answers means Paho is
 *    wedged, and a restart helps).
 * Otherwise writes what stalled into why and returns false. */
static bool pipeline_alive(const struct gateway *gw, int64_t now_mono_ms, int64_t stall_ms,
                           char *why, size_t why_size)
{
    const struct journal_writer_stats *w = &gw->stats.writer;
    int64_t writer_quiet_ms = now_mono_ms - w->progress_mono_ms;
    if (gw->writer && !w->idle && writer_quiet_ms > stall_ms) {
        snprintf(why, why_size, "journal writer: busy with no transaction finished for %.1f s",
                 (double)writer_quiet_ms / 1000.0);
        return false;
    }
    for (unsigned i = 0; i < gw->n_outputs; i++) {
        const struct gateway_output *o = &gw->outputs[i];
        if (!atomic_load(&o->instance))
            continue;
        struct output_health h;
        o->type->health(o->stats, o->ctx.options, &h);
        int64_t loop_quiet_ms = now_mono_ms - h.loop_mono_ms;
        int64_t answer_quiet_ms = now_mono_ms - h.answer_mono_ms;
        if (loop_quiet_ms > stall_ms) {
            snprintf(why, why_size, "output %s: its thread has not run for %.1f s", o->ctx.name,
                     (double)loop_quiet_ms / 1000.0);
            return false;
        }
        if (h.connected && h.in_flight > 0 && answer_quiet_ms > stall_ms + h.answer_grace_ms) {
            snprintf(why, why_size,
                     "output %s: connected with %" PRIu32 " deliveries in flight and no answer "
                     "from the %s for %.1f s",
                     o->ctx.name, h.in_flight, h.destination, (double)answer_quiet_ms / 1000.0);
            return false;
        }
    }
    return true;
}

/* The outputs' part of the status line: "broker connected, 0 in flight" per output (with
 * its name first when it is not named after its type), then what was delivered. */
static void describe_outputs(const struct gateway *gw, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    uint64_t delivered = 0;
    for (unsigned i = 0; i < gw->n_outputs && used < out_size; i++) {
        const struct gateway_output *o = &gw->outputs[i];
        struct output_health h;
        o->type->health(o->stats, o->ctx.options, &h);
        bool named = strcmp(o->ctx.name, o->type->name) != 0;
        used += (size_t)snprintf(out + used, out_size - used, "%s%s%s%s %s, %" PRIu32 " in flight",
                                 i ? "; " : "", named ? o->ctx.name : "", named ? " " : "",
                                 h.destination, h.state, h.in_flight);
        if (named && used < out_size)
            used += (size_t)snprintf(out + used, out_size - used, ", %" PRIu64 " delivered",
                                     h.delivered);
        delivered = i == 0 ? h.delivered : (h.delivered < delivered ? h.delivered : delivered);
    }
    /* a frame is published once every output has it: the least delivered bounds that */
    if (gw->n_outputs > 0 && used < out_size)
        snprintf(out + used, out_size - used, "; %" PRIu64 " published since start", delivered);
}

/* SIGHUP: reads the configuration again (file and --set options, as at start) and applies
 * what can change while running; a bad file is reported and the running one kept. */
static void reload(struct gateway *gw)
{
    static struct config fresh; /* static: struct config is large */
    char err[CONFIG_ERROR_SIZE];
    service_reloading(&gw->service);
    log_info("SIGHUP received, reloading %s", gw->config_path ? gw->config_path : "(no file)");
    if (load_config(gw, &fresh, err) != 0)
        log_error("reload: %s; the running configuration stays", err);
    else
        service_reload_config(&gw->cfg, &fresh);
    service_reloaded(&gw->service);
}

/* The status page, /metrics and /healthz (http_status.h), after the outputs. */
static int start_http(struct gateway *gw)
{
    const struct config *cfg = &gw->cfg;
    if (!cfg->http.enabled)
        return 0;
    char origin[CONFIG_ERROR_SIZE / 2], err[CONFIG_ERROR_SIZE];
    config_describe_origin(cfg, "http", "password_file", origin, sizeof(origin));
    struct http_status_options hopts = {.bind = cfg->http.bind,
                                        .port = (uint16_t)cfg->http.port,
                                        .user = cfg->http.user,
                                        .password_file = cfg->http.password_file,
                                        .password_origin = origin,
                                        .danish = cfg->http.language == CONFIG_LANGUAGE_DA,
                                        .journal_path = cfg->journal.path,
                                        .gateway_id = cfg->gateway.id};
    if (http_status_start(&gw->http, &hopts, err, sizeof(err)) != 0) {
        log_error("%s", err);
        return -1;
    }
    return 0;
}

/* Once a tick, after save_status: this tick's verdict and counters for the HTTP endpoint. */
static void report_to_http(struct gateway *gw)
{
    if (gw->http == NULL)
        return;
    char why[SERVICE_TEXT_SIZE];
    int64_t stall_ms = gw->service.watchdog_ms > 0 ? gw->service.watchdog_ms : STALL_DEFAULT_MS;
    bool alive = pipeline_alive(gw, clock_mono_ms(), stall_ms, why, sizeof(why));
    http_status_update(gw->http, alive, why, &gw->status);
}

/* Once a tick: the watchdog when the pipeline is alive, and the status line. */
static void report_to_service(struct gateway *gw)
{
    struct service *svc = &gw->service;
    char why[SERVICE_TEXT_SIZE];
    int64_t stall_ms = svc->watchdog_ms > 0 ? svc->watchdog_ms : STALL_DEFAULT_MS;
    bool alive = pipeline_alive(gw, clock_mono_ms(), stall_ms, why, sizeof(why));
    service_watchdog(svc, alive, why);
    char outputs[SERVICE_TEXT_SIZE];
    describe_outputs(gw, outputs, sizeof(outputs));
    service_status(svc, &gw->stats.writer, outputs);
}

int main(int argc, char **argv)
{
    static struct gateway gw; /* static: struct config is large */
    int rc = configure(&gw, argc, argv);
    if (rc != 0)
        return rc > 0 ? EXIT_SUCCESS : EXIT_USAGE;

    /* Signals are handled here only: block them before any thread exists. */
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    mqtt_session_global_init();

    char err[CONFIG_ERROR_SIZE];
    if (privilege_prepare(&gw.privilege, &gw.cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "sensorbro: %s\n", err);
        return EXIT_USAGE;
    }
    if (gw.privilege.keep_root)
        log_warn("service.run_as_user = root: sensorbro keeps root privileges");

    gw.started_ms = clock_wall_ms();
    service_init(&gw.service, gw.cfg.journal.path);
    if (start(&gw) != 0) {
        stop(&gw);
        release_outputs(&gw);
        return EXIT_FAILURE;
    }
    if (privilege_drop(&gw.privilege, &gw.cfg, err, sizeof(err)) != 0) {
        log_error("%s", err);
        stop(&gw);
        return EXIT_FAILURE;
    }
    if (gw.privilege.drop)
        log_info("sockets bound; running as user %s (uid %u, gid %u) from now on",
                 gw.privilege.user, (unsigned)gw.privilege.uid, (unsigned)gw.privilege.gid);
    refresh_stats(&gw);
    save_status(&gw, true);
    report_to_http(&gw);
    char outputs[SERVICE_TEXT_SIZE];
    describe_outputs(&gw, outputs, sizeof(outputs));
    service_ready(&gw.service, &gw.stats.writer, outputs);
    int64_t tick_ms = service_tick_ms(&gw.service, STATUS_PERIOD_S * 1000);
    int64_t next_log_mono_ms = clock_mono_ms() + STATS_LOG_PERIOD_S * 1000;
    for (;;) {
        struct timespec period = {.tv_sec = (time_t)(tick_ms / 1000),
                                  .tv_nsec = (long)(tick_ms % 1000) * 1000000L};
        int sig = sigtimedwait(&signals, NULL, &period);
        refresh_stats(&gw);
        if (sig == SIGINT || sig == SIGTERM) {
            service_stopping(&gw.service);
            log_info("%s received, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
            log_stats(&gw, LOG_LEVEL_INFO);
            break;
        }
        if (sig == SIGHUP)
            reload(&gw);
        report_to_service(&gw);
        save_status(&gw, true);
        report_to_http(&gw);
        log_flush_repeats(false);
        if (clock_mono_ms() >= next_log_mono_ms) {
            log_stats(&gw, LOG_LEVEL_DEBUG);
            next_log_mono_ms = clock_mono_ms() + STATS_LOG_PERIOD_S * 1000;
        }
    }
    stop(&gw);
    release_outputs(&gw);
    service_close(&gw.service);
    log_flush_repeats(true);
    log_info("stopped");
    return EXIT_SUCCESS;
}
