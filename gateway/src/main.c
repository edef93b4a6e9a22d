/*
 * main.c - the sensorbro daemon: configuration, start-up order, signals, shutdown.
 *
 * Start order follows the data: the journal writer first (it creates the database), then
 * the publisher (it reads what the writer commits), then the ingest adapters (they feed the
 * writer). Shutdown runs the other way, so that every frame an adapter accepted is committed
 * and answered before the writer goes, and the publisher gets a chance to see PUBACKs for
 * what it has in flight. SIGINT and SIGTERM are taken by sigwait on the main thread only;
 * SIGHUP reloads the configuration file (what a reload can change: service.c).
 *
 * Under systemd (packaging/sensorbro.service) the main loop also feeds the watchdog and the
 * status line through service.h; whether the pipeline is alive is decided here, in
 * pipeline_alive, from the modules' own progress stamps.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"
#include "config.h"
#include "ingest/coap.h"
#include "ingest/semtech_udp.h"
#include "util/eui_host.h"
#include "ingest/lns_mqtt.h"
#include "store/journal_writer.h"
#include "util/log.h"
#include "metrics.h"
#include "metrics_collect.h"
#include "output/mqtt_session.h"
#include "output/publish.h"
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

#ifndef SENSORBRO_VERSION
#define SENSORBRO_VERSION "unknown"
#endif

/* Every module's counters, as last read: live while the module runs, then the final
 * figures its stop function gives, so that the last snapshot counts everything. */
struct gateway_stats {
    struct journal_writer_stats writer;
    struct publisher_stats publisher;
    struct coap_ingest_stats coap;
    struct semtech_udp_stats semtech;
    struct lns_mqtt_stats lns;
};

struct gateway {
    struct config cfg;
    struct journal_writer *writer;
    _Atomic(struct publisher *) publisher;
    struct coap_ingest *coap;
    struct semtech_udp *semtech;
    struct lns_mqtt *lns;
    /* --- main thread only --- */
    const char *config_path; /* -c, NULL when none: read again on SIGHUP */
    const char *sets[MAX_SETS];
    int n_sets;
    struct service service;
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
                 "\n"
                 "Receives sensor uplinks (CoAP, LoRaWAN through a Semtech UDP packet\n"
                 "forwarder, a LoRaWAN network server's MQTT feed), keeps each in an SQLite\n"
                 "journal before acknowledging it, and publishes it as JSON over MQTT.\n"
                 "\n"
                 "  -c, --config FILE     INI configuration file (default: built-in defaults)\n"
                 "  -s, --set S.K=V       override a key, e.g. mqtt.port=1884 (once per key)\n"
                 "  -p, --print-config    print the effective configuration and exit\n"
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
    struct publisher *p = atomic_load(&gw->publisher);
    if (p)
        publisher_notify(p);
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
    if (config_finish(cfg, err) != 0) {
        char why[CONFIG_ERROR_SIZE];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, CONFIG_ERROR_SIZE, "%s%s%.400s", gw->config_path ? gw->config_path : "",
                 gw->config_path ? ": " : "", why);
        return -1;
    }
    return 0;
}

/* Loads configuration from the command line. Returns 0, 1 to exit successfully (help,
 * version, print-config) or -1 for a usage or configuration error (already reported). */
static int configure(struct gateway *gw, int argc, char **argv)
{
    static const struct option long_opts[] = {
        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
        {"print-config", no_argument, NULL, 'p'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    bool print_config = false;
    /* --set options apply after the file, whatever their order on the command line */
    int opt;
    while ((opt = getopt_long(argc, argv, "c:s:pVh", long_opts, NULL)) != -1) {
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
        case 'p':
            print_config = true;
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
    if (config_check_files(&gw->cfg, err) != 0) {
        fprintf(stderr, "sensorbro: %s\n", err);
        return -1;
    }
    log_set_level((enum log_level)gw->cfg.log.level);
    return 0;
}

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
    if (journal_writer_start(&gw->writer, &wopts, on_committed, gw, err, sizeof(err)) != 0) {
        log_error("journal: %s", err);
        return -1;
    }
    struct publisher *publisher;
    if (publisher_start(&publisher, cfg, gw->writer, err, sizeof(err)) != 0) {
        log_error("publish: %s", err);
        return -1;
    }
    atomic_store(&gw->publisher, publisher);
    if (cfg->coap.enabled) {
        struct coap_ingest_options copts = {.bind = cfg->coap.bind,
                                            .port = (uint16_t)cfg->coap.port,
                                            .max_payload_bytes = cfg->coap.max_payload_bytes,
                                            .receive_buffer_bytes =
                                                cfg->coap.receive_buffer_kb * 1024,
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
            .retransmission_window_ms = cfg->semtech_udp.retransmission_window_s * 1000u};
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
    if (cfg->coap.enabled)
        log_info("coap: listening on udp %s port %" PRIu32 ", POST /up/<device-eui>",
                 cfg->coap.bind, cfg->coap.port);
    return 0;
}

/* Reads the counters of every module that runs. */
static void refresh_stats(struct gateway *gw)
{
    if (gw->writer)
        journal_writer_get_stats(gw->writer, &gw->stats.writer);
    struct publisher *publisher = atomic_load(&gw->publisher);
    if (publisher)
        publisher_get_stats(publisher, &gw->stats.publisher);
    if (gw->coap)
        coap_ingest_get_stats(gw->coap, &gw->stats.coap);
    if (gw->semtech)
        semtech_udp_get_stats(gw->semtech, &gw->stats.semtech);
    if (gw->lns)
        lns_mqtt_get_stats(gw->lns, &gw->stats.lns);
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
    const struct config *cfg = &gw->cfg;
    struct metrics_sources src = {
        .started_ms = gw->started_ms,
        .running = running,
        .writer = &gw->stats.writer,
        .publisher = &gw->stats.publisher,
        .coap = cfg->coap.enabled ? &gw->stats.coap : NULL,
        .semtech = cfg->semtech_udp.enabled ? &gw->stats.semtech : NULL,
        .lns = cfg->lns_mqtt.enabled ? &gw->stats.lns : NULL,
    };
    metrics_collect(&gw->status, &src);
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
    struct publisher *publisher = atomic_exchange(&gw->publisher, NULL);
    publisher_stop(publisher, &gw->stats.publisher);
    log_debug("stop: publisher disconnected");
    refresh_stats(gw); /* the writer's, after the publisher's last marks */
    save_status(gw, false);
    journal_writer_stop(gw->writer);
    gw->writer = NULL;
    log_debug("stop: journal closed");
}

/* The Semtech UDP adapter's and the edge network server's counters: every drop reason with
 * a count above zero, so a quiet line stays short; then one line per forwarder. Each name
 * means what the metric of the same name means (gateway/src/metrics_collect.c, docs/lorawan.md). */
static void log_semtech_stats(struct semtech_udp *su, const struct semtech_udp_stats *stats,
                              enum log_level level)
{
    const struct semtech_udp_stats s = *stats;
    char drops[768] = "";
    size_t used = 0;
    for (int i = 0; i < SEMTECH_UDP_DROP_COUNT && used < sizeof(drops); i++) {
        if (s.dropped[i])
            used += (size_t)snprintf(drops + used, sizeof(drops) - used, " %s=%" PRIu64,
                                     semtech_udp_drop_name((enum semtech_udp_drop)i), s.dropped[i]);
    }
    for (int i = 0; i < EDGE_NS_DROP_COUNT && used < sizeof(drops); i++) {
        if (s.ns.dropped[i])
            used += (size_t)snprintf(drops + used, sizeof(drops) - used, " %s=%" PRIu64,
                                     edge_ns_drop_name((enum edge_ns_drop)i), s.ns.dropped[i]);
    }
    log_msg(level,
            "stats: semtech-udp datagrams %" PRIu64 " (push %" PRIu64 ", pull %" PRIu64
            ", tx_ack %" PRIu64 ", tx errors %" PRIu64 "), rxpk %" PRIu64 ", duplicates %" PRIu64
            ", frames %" PRIu64 ", uplinks %" PRIu64 " (journaled %" PRIu64 ", quarantined %" PRIu64
            ", not journaled %" PRIu64 ", retransmissions %" PRIu64 "), joins %" PRIu64
            ", downlinks %" PRIu64 " (queued %" PRIu64 ", resent %" PRIu64 "), pull_resp %" PRIu64
            ", push acks %" PRIu64 ", dropped:%s",
            s.datagrams, s.push_data, s.pull_data, s.tx_acks, s.tx_errors, s.rxpk, s.duplicates,
            s.ns.frames, s.ns.uplinks, s.journaled, s.quarantined, s.ns.not_journaled,
            s.ns.retransmissions, s.ns.joins, s.ns.downlinks, s.ns.queued_sent, s.ns.queued_resent,
            s.pull_resps, s.push_acks, drops[0] ? drops : " none");
    static struct semtech_udp_forwarder fwd[SEMTECH_UDP_MAX_FORWARDERS];
    size_t n = semtech_udp_get_forwarders(su, fwd, SEMTECH_UDP_MAX_FORWARDERS);
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

/* Logs the counters as last refreshed: every STATS_LOG_PERIOD_S at debug level, and once
 * at stop at info level. */
static void log_stats(struct gateway *gw, enum log_level level)
{
    const struct journal_writer_stats ws = gw->stats.writer;
    const struct publisher_stats ps = gw->stats.publisher;
    const struct coap_ingest_stats cs = gw->stats.coap;
    if (cs.kernel_drops > gw->kernel_drops_logged) {
        /* once per period with drops, not once per datagram */
        log_warn("coap: the kernel dropped %" PRIu64 " datagrams since the last report "
                 "(%" PRIu64 " in all): the receive buffer was full; raise coap.receive_buffer_kb "
                 "and net.core.rmem_max",
                 cs.kernel_drops - gw->kernel_drops_logged, cs.kernel_drops);
        gw->kernel_drops_logged = cs.kernel_drops;
    }
    log_msg(level,
            "stats: coap requests %" PRIu64 " (2.04 %" PRIu64 ", 4.00 %" PRIu64 ", 5.03 %" PRIu64
            ", kernel drops %" PRIu64 "), committed %" PRIu64 " in %" PRIu64
            " transactions (resends %" PRIu64 " not stored again), published %" PRIu64
            ", refused %" PRIu64 ", in flight %" PRIu32
            ", journal %.1f MiB%s, dropped full %" PRIu64 " disk %" PRIu64
            ", rejected full %" PRIu64 ", broker %s",
            cs.requests, cs.accepted, cs.quarantined, cs.unavailable, cs.kernel_drops,
            ws.frames_committed, ws.transactions, ws.resends, ps.published, ps.refused,
            ps.in_flight, (double)ws.used_bytes / 1048576.0, ws.full ? " (full)" : "",
            ws.dropped_journal_full, ws.dropped_disk_floor, ws.rejected_full,
            ps.state == PUBLISHER_CONNECTED ? "connected" : "disconnected");
    if (gw->semtech)
        log_semtech_stats(gw->semtech, &gw->stats.semtech, level);
    if (gw->lns) {
        const struct lns_mqtt_stats ls = gw->stats.lns;
        log_msg(level,
                "stats: lns-mqtt events %" PRIu64 " (journaled %" PRIu64 ", duplicates %" PRIu64
                ", without data %" PRIu64 ", bad %" PRIu64 ", quarantined %" PRIu64
                ", not stored %" PRIu64 ", times untrusted %" PRIu64 "), downlinks %" PRIu64
                " (failed %" PRIu64 "), connection losses %" PRIu64 ", %s",
                ls.received, ls.accepted, ls.duplicates, ls.empty, ls.bad, ls.quarantined,
                ls.not_stored, ls.time_untrusted, ls.downlinks, ls.downlink_failures,
                ls.connection_losses,
                ls.subscribed  ? "subscribed"
                : ls.connected ? "connected"
                               : "disconnected");
    }
}

/* The watchdog's question: is the pipeline moving, or idle by design? Alive when
 *  - the journal writer waits for work with nothing queued, or finished a transaction
 *    within stall_ms (a failed commit counts: a full disk is handled, not fixed by a
 *    restart);
 *  - the publisher's thread went round its loop within stall_ms (it does once a second,
 *    connected or not: a broker outage with reconnects scheduled is progress), and, while
 *    connected with publishes in flight, the broker answered one within stall_ms plus two
 *    keepalives (by then Paho has declared a silent broker lost; a connection that still
 *    looks up and never answers means Paho is wedged, and a restart helps).
 * Otherwise writes what stalled into why and returns false. */
static bool pipeline_alive(const struct gateway *gw, int64_t now_mono_ms, int64_t stall_ms,
                           char *why, size_t why_size)
{
    const struct journal_writer_stats *w = &gw->stats.writer;
    const struct publisher_stats *p = &gw->stats.publisher;
    int64_t writer_quiet_ms = now_mono_ms - w->progress_mono_ms;
    int64_t loop_quiet_ms = now_mono_ms - p->loop_mono_ms;
    int64_t answer_quiet_ms = now_mono_ms - p->answer_mono_ms;
    int64_t answer_limit_ms = stall_ms + 2 * (int64_t)gw->cfg.mqtt.broker.keepalive_s * 1000;
    if (gw->writer && !w->idle && writer_quiet_ms > stall_ms) {
        snprintf(why, why_size, "journal writer: busy with no transaction finished for %.1f s",
                 (double)writer_quiet_ms / 1000.0);
        return false;
    }
    if (atomic_load(&gw->publisher) && loop_quiet_ms > stall_ms) {
        snprintf(why, why_size, "publisher: its thread has not run for %.1f s",
                 (double)loop_quiet_ms / 1000.0);
        return false;
    }
    if (atomic_load(&gw->publisher) && p->state == PUBLISHER_CONNECTED && p->in_flight > 0 &&
        answer_quiet_ms > answer_limit_ms) {
        snprintf(why, why_size,
                 "publisher: connected with %" PRIu32 " publishes in flight and no answer "
                 "from the broker for %.1f s",
                 p->in_flight, (double)answer_quiet_ms / 1000.0);
        return false;
    }
    return true;
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

/* Once a tick: the watchdog when the pipeline is alive, and the status line. */
static void report_to_service(struct gateway *gw)
{
    struct service *svc = &gw->service;
    char why[SERVICE_TEXT_SIZE];
    int64_t stall_ms = svc->watchdog_ms > 0 ? svc->watchdog_ms : STALL_DEFAULT_MS;
    bool alive = pipeline_alive(gw, clock_mono_ms(), stall_ms, why, sizeof(why));
    service_watchdog(svc, alive, why);
    service_status(svc, &gw->stats.writer, &gw->stats.publisher);
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

    gw.started_ms = clock_wall_ms();
    service_init(&gw.service, gw.cfg.journal.path);
    if (start(&gw) != 0) {
        stop(&gw);
        return EXIT_FAILURE;
    }
    refresh_stats(&gw);
    save_status(&gw, true);
    service_ready(&gw.service, &gw.stats.writer, &gw.stats.publisher);
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
        if (clock_mono_ms() >= next_log_mono_ms) {
            log_stats(&gw, LOG_LEVEL_DEBUG);
            next_log_mono_ms = clock_mono_ms() + STATS_LOG_PERIOD_S * 1000;
        }
    }
    stop(&gw);
    service_close(&gw.service);
    log_info("stopped");
    return EXIT_SUCCESS;
}
