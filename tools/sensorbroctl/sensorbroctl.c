/*
 * sensorbroctl.c - the operator's command-line tool for a sensorbro gateway.
 *
 *   decode      an Uplink (hex or base64) to the JSON the daemon would publish
 *   status      journal depth, oldest pending frame, quarantine count, and the running
 *               daemon's counters (what happened to every frame since it started)
 *   quarantine  list quarantined frames with the reason each was refused
 *   watch       subscribe to the broker and print readings as they arrive
 *   device      the LoRaWAN device registry: add, list, show, remove, queue a downlink
 *
 * It links the daemon's own storage library (config, journal, registry, decode, render:
 * sensorbro_store), so what it shows is what the daemon does, and not the daemon's
 * transports. It reads the journal through a read-only connection, which is safe
 * while the daemon runs (SQLite WAL). Every command is a row of a table (command.h): the
 * dispatcher at the bottom, `help`, and each command's --help work off those rows.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include "output/mqtt_session.h"
#include "util/base64.h"
#include "util/clock.h"
#include "util/rfc3339.h"
#include "util/term.h"
#include "config.h"
#include "decode.h"
#include "device.h"
#include "os2iot.h"
#include "store/journal.h"
#include "store/salvage.h"
#include "quantity.h"
#include "render.h"
#include "util/topic.h"

#ifndef SENSORBRO_VERSION
#define SENSORBRO_VERSION "unknown"
#endif
#define MAX_SETS 64

/* ---- decode ---- */

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Parses hex (whitespace ignored) into out. Returns the length, or -1 if not hex. */
static long parse_hex(const char *text, uint8_t *out, size_t out_size)
{
    size_t n = 0;
    int high = -1;
    if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        text += 2;
    for (const char *p = text; *p; p++) {
        if (isspace((unsigned char)*p))
            continue;
        int v = hex_value((unsigned char)*p);
        if (v < 0)
            return -1;
        if (high < 0) {
            high = v;
        } else {
            if (n == out_size)
                return -1;
            out[n++] = (uint8_t)(high << 4 | v);
            high = -1;
        }
    }
    return high < 0 ? (long)n : -1;
}

/* Parses base64 as an operator pastes it: padding optional, blanks and line ends anywhere
 * ignored (util/base64.h). Returns the length or -1. */
static long parse_base64(const char *text, uint8_t *out, size_t out_size)
{
    return base64_decode(text, strlen(text), BASE64_PAD_OPTIONAL | BASE64_SKIP_WHITESPACE, out,
                         out_size, NULL);
}

/* Parses RFC 3339 ("2026-11-23T09:00:00Z", util/rfc3339.h) or unix milliseconds. */
static int parse_time_ms(const char *text, int64_t *out)
{
    char *end;
    long long ms = strtoll(text, &end, 10);
    if (*end == '\0' && end != text) {
        *out = ms;
        return 0;
    }
    return rfc3339_parse_ms(text, strlen(text), out);
}

static int read_stdin(char *buf, size_t size)
{
    size_t n = fread(buf, 1, size - 1, stdin);
    if (ferror(stdin) || n == size - 1)
        return -1;
    buf[n] = '\0';
    return 0;
}

static const struct option decode_opts[] = {{"device", required_argument, NULL, 'd'},
                                            {"received", required_argument, NULL, 'r'},
                                            {"transport", required_argument, NULL, 't'},
                                            {"pretty", no_argument, NULL, 'p'},
                                            {NULL, 0, NULL, 0}};

static int cmd_decode(struct ctl *ctl, int argc, char **argv)
{
    char device[FRAME_DEVICE_ID_SIZE] = "0000000000000000";
    const char *transport = "coap";
    int64_t received_ms = clock_wall_ms();
    bool pretty = false;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "d:r:t:p", decode_opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            if (frame_parse_device_id(optarg, strlen(optarg), device) != 0) {
                fprintf(stderr, "sensorbroctl decode: --device: expected 16 hex digits\n");
                return EXIT_USAGE;
            }
            break;
        case 'r':
            if (parse_time_ms(optarg, &received_ms) != 0) {
                fprintf(stderr, "sensorbroctl decode: --received: expected RFC 3339 "
                                "(2026-11-23T09:00:00Z) or unix milliseconds\n");
                return EXIT_USAGE;
            }
            break;
        case 't':
            transport = optarg;
            break;
        case 'p':
            pretty = true;
            break;
        default:
            return EXIT_USAGE;
        }
    }
    static char text[8 * FRAME_MAX_PAYLOAD_BYTES];
    if (optind < argc) {
        if (strlen(argv[optind]) >= sizeof(text)) {
            fprintf(stderr, "sensorbroctl decode: payload too long\n");
            return EXIT_USAGE;
        }
        snprintf(text, sizeof(text), "%s", argv[optind]);
    } else if (read_stdin(text, sizeof(text)) != 0) {
        fprintf(stderr, "sensorbroctl decode: cannot read the payload from stdin (too long?)\n");
        return EXIT_USAGE;
    }
    uint8_t payload[FRAME_MAX_PAYLOAD_BYTES];
    long len = parse_hex(text, payload, sizeof(payload));
    if (len < 0)
        len = parse_base64(text, payload, sizeof(payload));
    if (len < 0) {
        fprintf(stderr,
                "sensorbroctl decode: expected the payload in hex or base64, at most %d "
                "bytes\n",
                FRAME_MAX_PAYLOAD_BYTES);
        return EXIT_USAGE;
    }

    static struct decoder decoder;
    static struct decoded_uplink uplink;
    char reason[DECODE_REASON_SIZE];
    if (decode_uplink(&decoder, payload, (size_t)len, received_ms, &uplink, reason) != 0) {
        fprintf(stderr, "sensorbroctl decode: invalid uplink: %s\n", reason);
        return EXIT_FAILURE;
    }
    struct render_meta meta = {.device = device,
                               .gateway = ctl->cfg.gateway.id,
                               .transport = transport,
                               .received_ms = received_ms};
    static char json[RENDER_MAX_JSON_BYTES];
    size_t json_len;
    char why[RENDER_REASON_SIZE];
    if (render_json(&uplink, &meta, json, sizeof(json), &json_len, why) != 0) {
        fprintf(stderr, "sensorbroctl decode: %s\n", why);
        return EXIT_FAILURE;
    }
    if (pretty) {
        cJSON *doc = cJSON_Parse(json);
        char *formatted = doc ? cJSON_Print(doc) : NULL;
        puts(formatted ? formatted : json);
        cJSON_free(formatted);
        cJSON_Delete(doc);
    } else {
        puts(json);
    }
    return EXIT_SUCCESS;
}

/* ---- status and quarantine ---- */

static int open_journal(struct ctl *ctl, struct journal **j)
{
    char err[512];
    struct journal_options opts = {.read_only = true, .busy_timeout_ms = 5000};
    if (access(ctl->journal_path, F_OK) != 0) {
        fprintf(stderr, "sensorbroctl: no journal at %s (start sensorbro first, or give -j/-c)\n",
                ctl->journal_path);
        return -1;
    }
    if (journal_open(j, ctl->journal_path, &opts, err, sizeof(err)) != 0) {
        fprintf(stderr, "sensorbroctl: %s\n", err);
        return -1;
    }
    return 0;
}

static void format_age(int64_t age_ms, char *out, size_t out_size)
{
    int64_t s = age_ms / 1000;
    if (s < 120)
        snprintf(out, out_size, "%" PRId64 " s", s);
    else if (s < 7200)
        snprintf(out, out_size, "%" PRId64 " min", s / 60);
    else if (s < 172800)
        snprintf(out, out_size, "%.1f h", (double)s / 3600.0);
    else
        snprintf(out, out_size, "%.1f days", (double)s / 86400.0);
}

/* The daemon's state as its last status snapshot and the process table tell it. */
enum daemon_state { DAEMON_NEVER_RAN, DAEMON_RUNNING, DAEMON_STOPPED, DAEMON_GONE };

static enum daemon_state daemon_state_of(const struct metrics *m, pid_t *pid)
{
    const struct metric *up = metrics_find(m, "sensorbro_up");
    const struct metric *p = metrics_find(m, "sensorbro_pid");
    *pid = p ? (pid_t)p->value : 0;
    if (up == NULL)
        return DAEMON_NEVER_RAN;
    if (up->value == 0)
        return DAEMON_STOPPED;
    /* EPERM: the process exists but belongs to someone else (sensorbro runs as its own
     * user) */
    if (*pid > 0 && (kill(*pid, 0) == 0 || errno == EPERM))
        return DAEMON_RUNNING;
    return DAEMON_GONE;
}

static const char *const daemon_state_names[] = {"never_ran", "running", "stopped", "gone"};

static double metric(const struct metrics *m, const char *name)
{
    const struct metric *item = metrics_find(m, name);
    return item ? item->value : 0;
}

/* "total (label a, label b ...)": one family with each member that is not zero. */
static void print_family(const struct metrics *m, const char *title, const char *family)
{
    char parts[512] = "";
    size_t used = 0, len = strlen(family);
    for (size_t i = 0; i < m->count && used < sizeof(parts); i++) {
        const char *name = m->items[i].name;
        if (strncmp(name, family, len) != 0 || name[len] != '{' || m->items[i].value == 0)
            continue;
        const char *open = strchr(name + len, '"'), *close = open ? strchr(open + 1, '"') : NULL;
        if (close == NULL)
            continue;
        used +=
            (size_t)snprintf(parts + used, sizeof(parts) - used, "%s%.*s %.0f", used ? ", " : "",
                             (int)(close - open - 1), open + 1, m->items[i].value);
    }
    printf("%-26s %.0f%s%s%s\n", title, metrics_sum(m, family), parts[0] ? " (" : "", parts,
           parts[0] ? ")" : "");
}

static void print_daemon_status(const struct metrics *m, int64_t now_ms)
{
    pid_t pid;
    enum daemon_state state = daemon_state_of(m, &pid);
    char started[CLOCK_RFC3339_SIZE], taken[CLOCK_RFC3339_SIZE], age[32];
    if (state == DAEMON_NEVER_RAN) {
        printf("\nsensorbro                  no figures in this journal yet (never started with "
               "it)\n");
        return;
    }
    int64_t started_ms = (int64_t)(metric(m, "sensorbro_start_time_seconds") * 1000.0);
    int64_t taken_ms = (int64_t)(metric(m, "sensorbro_snapshot_time_seconds") * 1000.0);
    clock_format_rfc3339(started_ms, 0, started);
    clock_format_rfc3339(taken_ms, 0, taken);
    format_age(now_ms - taken_ms, age, sizeof(age));
    printf("\n");
    if (state == DAEMON_RUNNING)
        printf("sensorbro                  running, pid %d, since %s; figures from %s ago\n",
               (int)pid, started, age);
    else if (state == DAEMON_STOPPED)
        printf("sensorbro                  stopped at %s (clean stop); it ran since %s\n", taken,
               started);
    else
        printf("sensorbro                  not running: pid %d ended without a clean stop "
               "(killed or crashed); last figures from %s\n",
               (int)pid, taken);
    if (state == DAEMON_RUNNING)
        printf("broker                     %s (connects %.0f, connection losses %.0f, failed "
               "attempts %.0f), in flight %.0f\n",
               metric(m, "sensorbro_broker_connected") ? "connected" : "NOT CONNECTED",
               metric(m, "sensorbro_broker_connects_total"),
               metric(m, "sensorbro_broker_connection_losses_total"),
               metric(m, "sensorbro_broker_connect_failures_total"),
               metric(m, "sensorbro_publish_in_flight"));
    printf("since its start:\n");
    print_family(m, "frames received", "sensorbro_frames_received_total");
    printf("%-26s %.0f\n", "committed", metric(m, "sensorbro_frames_committed_total"));
    printf("%-26s %.0f\n", "resends (stored once)", metric(m, "sensorbro_frames_resends_total"));
    print_family(m, "quarantined", "sensorbro_frames_quarantined_total");
    printf("%-26s %.0f\n", "sent to the broker", metric(m, "sensorbro_frames_sent_total"));
    printf("%-26s %.0f\n", "published (PUBACK)", metric(m, "sensorbro_frames_published_total"));
    printf("%-26s %.0f\n", "refused by the broker", metric(m, "sensorbro_publishes_refused_total"));
    print_family(m, "dropped", "sensorbro_frames_dropped_total");
    print_family(m, "rejected (sender retries)", "sensorbro_frames_rejected_total");
    print_family(m, "duplicates", "sensorbro_frames_duplicate_total");
    print_family(m, "CoAP responses", "sensorbro_coap_responses_total");
    if (metrics_find(m, "sensorbro_lorawan_uplinks_total")) {
        print_family(m, "LoRaWAN frames dropped", "sensorbro_lorawan_dropped_total");
        print_family(m, "Semtech UDP dropped", "sensorbro_semtech_dropped_total");
    }
    if (metrics_find(m, "sensorbro_lns_events_total")) {
        print_family(m, "LNS events refused", "sensorbro_lns_events_refused_total");
        printf("%-26s %.0f\n", "LNS event times untrusted",
               metric(m, "sensorbro_lns_event_times_untrusted_total"));
    }
}

static const struct option status_opts[] = {{"json", no_argument, NULL, 'J'}, {NULL, 0, NULL, 0}};

static int cmd_status(struct ctl *ctl, int argc, char **argv)
{
    bool as_json = false;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "", status_opts, NULL)) != -1) {
        if (opt != 'J')
            return EXIT_USAGE;
        as_json = true;
    }
    struct journal *j;
    if (open_journal(ctl, &j) != 0)
        return EXIT_FAILURE;
    struct journal_stats st;
    int rc = journal_stats(j, &st);
    if (rc != 0) {
        fprintf(stderr, "sensorbroctl status: %s\n", journal_errmsg(j));
        journal_close(j);
        return EXIT_FAILURE;
    }
    static struct metrics daemon;
    if (journal_read_status(j, &daemon) != 0) {
        fprintf(stderr, "sensorbroctl status: %s\n", journal_errmsg(j));
        journal_close(j);
        return EXIT_FAILURE;
    }
    journal_close(j);
    int64_t now = clock_wall_ms();
    int64_t oldest_age_ms = st.oldest_pending_ms ? now - st.oldest_pending_ms : 0;
    if (as_json) {
        cJSON *doc = cJSON_CreateObject();
        cJSON_AddStringToObject(doc, "journal", ctl->journal_path);
        cJSON_AddNumberToObject(doc, "database_bytes", (double)st.database_bytes);
        cJSON_AddNumberToObject(doc, "pending_frames", (double)st.pending_frames);
        cJSON_AddNumberToObject(doc, "oldest_pending_age_s", (double)(oldest_age_ms / 1000));
        cJSON_AddNumberToObject(doc, "published_frames_retained", (double)st.published_frames);
        cJSON_AddNumberToObject(doc, "quarantined_frames", (double)st.quarantined_frames);
        cJSON_AddNumberToObject(doc, "frames_ever_journaled", (double)st.last_frame_id);
        cJSON_AddNumberToObject(doc, "dropped_journal_full", (double)st.dropped_journal_full);
        cJSON_AddNumberToObject(doc, "dropped_disk_floor", (double)st.dropped_disk_floor);
        /* the daemon: its state, and every counter by its metric name */
        pid_t pid;
        cJSON *gateway = cJSON_AddObjectToObject(doc, "sensorbro");
        cJSON_AddStringToObject(gateway, "state",
                                daemon_state_names[daemon_state_of(&daemon, &pid)]);
        cJSON *values = cJSON_AddObjectToObject(gateway, "metrics");
        for (size_t i = 0; i < daemon.count; i++)
            cJSON_AddNumberToObject(values, daemon.items[i].name, daemon.items[i].value);
        char *text = cJSON_PrintUnformatted(doc);
        if (text == NULL) {
            cJSON_Delete(doc);
            return EXIT_FAILURE;
        }
        puts(text);
        cJSON_free(text);
        cJSON_Delete(doc);
        return EXIT_SUCCESS;
    }
    char age[32] = "-", when[CLOCK_RFC3339_SIZE] = "";
    if (st.oldest_pending_ms) {
        format_age(oldest_age_ms, age, sizeof(age));
        clock_format_rfc3339(st.oldest_pending_ms, 0, when);
    }
    printf("%-26s %s (%.1f MiB)\n", "journal", ctl->journal_path,
           (double)st.database_bytes / (1024.0 * 1024.0));
    printf("%-26s %" PRId64 "\n", "pending frames", st.pending_frames);
    printf("%-26s %s%s%s%s\n", "oldest pending", age, when[0] ? " (received " : "", when,
           when[0] ? ")" : "");
    printf("%-26s %" PRId64 "\n", "published, retained", st.published_frames);
    printf("%-26s %" PRId64 "\n", "quarantined", st.quarantined_frames);
    printf("%-26s %" PRId64 "\n", "frames ever journaled", st.last_frame_id);
    printf("%-26s %" PRId64 "\n", "dropped ever: journal full", st.dropped_journal_full);
    printf("%-26s %" PRId64 "\n", "dropped ever: disk floor", st.dropped_disk_floor);
    print_daemon_status(&daemon, now);
    return EXIT_SUCCESS;
}

static const struct option quarantine_opts[] = {{"after", required_argument, NULL, 'a'},
                                                {"limit", required_argument, NULL, 'l'},
                                                {NULL, 0, NULL, 0}};

static int cmd_quarantine(struct ctl *ctl, int argc, char **argv)
{
    int64_t after = 0;
    long limit = 100;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "", quarantine_opts, NULL)) != -1) {
        char *end;
        if (opt == 'a')
            after = strtoll(optarg, &end, 10);
        else if (opt == 'l')
            limit = strtol(optarg, &end, 10);
        else
            return EXIT_USAGE;
        if (*end != '\0' || limit < 1) {
            fprintf(stderr, "sensorbroctl quarantine: expected a positive number, got \"%s\"\n",
                    optarg);
            return EXIT_USAGE;
        }
    }
    struct journal *j;
    if (open_journal(ctl, &j) != 0)
        return EXIT_FAILURE;
    static struct journal_quarantine_entry entries[64];
    long shown = 0;
    int rc = EXIT_SUCCESS;
    while (shown < limit) {
        size_t want = (size_t)(limit - shown) < 64 ? (size_t)(limit - shown) : 64, n = 0;
        if (journal_read_quarantine(j, after, entries, want, &n) != 0) {
            fprintf(stderr, "sensorbroctl quarantine: %s\n", journal_errmsg(j));
            rc = EXIT_FAILURE;
            break;
        }
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++) {
            const struct journal_quarantine_entry *e = &entries[i];
            char when[CLOCK_RFC3339_SIZE];
            clock_format_rfc3339(e->record.received_ms, 0, when);
            /* the device, source and reason came from the sender: escaped, so that none
             * can break the columns or act on the terminal */
            printf("%" PRId64 "\t%s\t", e->id, when);
            const char *fields[] = {e->record.device[0] ? e->record.device : "?",
                                    e->record.transport, e->record.source, e->reason};
            for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
                term_puts(stdout, fields[f]);
                putchar('\t');
            }
            for (size_t b = 0; b < e->record.payload_len; b++)
                printf("%02x", e->record.payload[b]);
            putchar('\n');
            after = e->id;
        }
        shown += (long)n;
    }
    journal_close(j);
    return rc;
}

/* ---- watch ---- */

/* Everything here came from the broker: topic, payload and every string in it are
 * written through util/term.h, so that none can act on the terminal. */
static void print_reading(const char *topic, const char *payload, int len, bool raw)
{
    char when[16];
    time_t now = time(NULL);
    struct tm local;
    localtime_r(&now, &local);
    strftime(when, sizeof(when), "%H:%M:%S", &local);
    cJSON *doc = raw ? NULL : cJSON_ParseWithLength(payload, (size_t)len);
    const cJSON *device = cJSON_GetObjectItemCaseSensitive(doc, "device");
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(doc, "values");
    printf("%s  ", when);
    term_puts(stdout, topic);
    fputs("  ", stdout);
    if (!cJSON_IsString(device) || !cJSON_IsObject(values)) {
        term_write(stdout, payload, (size_t)len);
        putchar('\n');
        cJSON_Delete(doc);
        return;
    }
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(doc, "seq");
    const cJSON *samples = cJSON_GetObjectItemCaseSensitive(doc, "samples");
    term_puts(stdout, device->valuestring);
    printf("  seq %-5d %2d samples ", cJSON_IsNumber(seq) ? seq->valueint : -1,
           cJSON_GetArraySize(samples));
    const cJSON *v;
    cJSON_ArrayForEach(v, values)
    {
        const struct quantity *q = quantity_find_by_key(v->string);
        int decimals = 0;
        for (int32_t d = q ? q->divisor : 1; d >= 10; d /= 10)
            decimals++; /* the wire resolution: 0.01 degC prints 2 decimals */
        if (cJSON_IsNumber(v)) {
            printf(" %9.*f ", decimals, v->valuedouble);
            term_puts(stdout, q ? q->unit : v->string);
        }
    }
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(doc, "status");
    const cJSON *flag;
    cJSON_ArrayForEach(flag, status)
    {
        if (cJSON_IsString(flag) && strcmp(flag->valuestring, "clock_unsynced") != 0) {
            fputs("  [", stdout);
            term_puts(stdout, flag->valuestring);
            putchar(']');
        }
    }
    putchar('\n');
    cJSON_Delete(doc);
}

/* ---- journal check / recover ---- */

static void print_finding(void *ctx, const char *finding)
{
    (void)ctx;
    printf("%s\n", finding);
}

static int cmd_journal_check(struct ctl *ctl, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "sensorbroctl journal check: no arguments expected\n");
        return EXIT_USAGE;
    }
    /* inspect_only: a journal of any version, and one too damaged to read its schema, is
     * checked all the same */
    struct journal_options opts = {.busy_timeout_ms = 5000, .inspect_only = true};
    struct journal *j;
    char err[512];
    if (journal_open(&j, ctl->journal_path, &opts, err, sizeof(err)) != 0) {
        fprintf(stderr, "sensorbroctl journal check: %s\n", err);
        return EXIT_FAILURE;
    }
    int sound = journal_check_integrity(j, true, 20, print_finding, NULL);
    if (sound < 0)
        fprintf(stderr, "sensorbroctl journal check: %s\n", journal_errmsg(j));
    journal_close(j);
    return sound == 1 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static const struct option recover_opts[] = {{"output", required_argument, NULL, 'o'},
                                             {NULL, 0, NULL, 0}};

static int cmd_journal_recover(struct ctl *ctl, int argc, char **argv)
{
    char output[CONFIG_PATH_SIZE + 16];
    snprintf(output, sizeof(output), "%s.recovered", ctl->journal_path);
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "", recover_opts, NULL)) != -1) {
        if (opt != 'o')
            return EXIT_USAGE;
        snprintf(output, sizeof(output), "%s", optarg);
    }
    if (optind != argc) {
        fprintf(stderr, "sensorbroctl journal recover: unexpected argument \"%.40s\"\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    struct salvage_report report;
    char err[512];
    if (salvage_journal(ctl->journal_path, output, &report, err, sizeof(err)) != 0) {
        fprintf(stderr, "sensorbroctl journal recover: %s\n", err);
        return EXIT_FAILURE;
    }
    for (size_t i = 0; i < report.n_tables; i++) {
        const struct salvage_table *t = &report.tables[i];
        if (t->unreadable)
            printf("%-12s unreadable\n", t->name);
        else
            printf("%-12s %" PRId64 " rows recovered%s\n", t->name, t->rows,
                   t->damaged_ranges ? " (reading skipped damaged pages)" : "");
    }
    printf("written to %s; %s is unchanged.\n"
           "To use it: stop sensorbro, move %s (and any -wal/-shm beside it) aside,\n"
           "move %s into its place, and start sensorbro.\n",
           output, ctl->journal_path, ctl->journal_path, output);
    return EXIT_SUCCESS;
}

static const struct option watch_opts[] = {{"count", required_argument, NULL, 'n'},
                                           {"duration", required_argument, NULL, 'd'},
                                           {"topic", required_argument, NULL, 't'},
                                           {"raw", no_argument, NULL, 'r'},
                                           {NULL, 0, NULL, 0}};

/* watch: its session, and what its main loop shares with the session's callbacks. */
struct watch {
    struct mqtt_session *session;
    const struct config_broker *broker;
    const char *filters[2]; /* the data filter, then the status topic if any */
    int n_filters;
    bool raw;
    long count; /* stop after this many readings; 0: never */

    /* --- the main loop's thread only (on_watch_event runs there) --- */
    struct mqtt_session_request requests[2];
    char uri[320];
    enum { WATCH_CONNECTING, WATCH_SUBSCRIBING, WATCH_WATCHING, WATCH_FAILED } state;

    /* --- under lock: written by Paho's thread too --- */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool woken;
    long seen;
    int subscriptions_pending;
    bool subscribe_failed;
};

static void on_watch_wake(void *ctx)
{
    struct watch *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->woken = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void on_watch_message(void *ctx, const char *topic, size_t topic_len, const void *payload,
                             size_t payload_len)
{
    struct watch *w = ctx;
    char name[MQTT_SESSION_TOPIC_SIZE];
    snprintf(name, sizeof(name), "%.*s", (int)(topic_len < sizeof(name) ? topic_len : 0), topic);
    bool status = w->n_filters == 2 && strcmp(name, w->filters[1]) == 0;
    pthread_mutex_lock(&w->lock);
    if (w->count == 0 || w->seen < w->count) {
        print_reading(name, payload, (int)(payload_len < INT32_MAX ? payload_len : INT32_MAX),
                      w->raw);
        fflush(stdout);
        /* the retained "online" arrives first: it is the gateway's state, not a reading */
        if (!status)
            w->seen++;
    }
    w->woken = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

static void on_watch_subscribed(void *ctx, const struct mqtt_session_result *result)
{
    struct watch *w = ctx;
    pthread_mutex_lock(&w->lock);
    w->subscriptions_pending--;
    w->subscribe_failed |= !result->ok;
    w->woken = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* The connection's events, on the main loop's thread. Reconnects are not watch's business:
 * a failure (once every address of the broker was tried) or a loss ends it. */
static void on_watch_event(void *ctx, const struct mqtt_session_event *ev)
{
    struct watch *w = ctx;
    if (ev->type == MQTT_SESSION_CONNECTED) {
        snprintf(w->uri, sizeof(w->uri), "%s", ev->server_uri);
        pthread_mutex_lock(&w->lock);
        w->subscriptions_pending = w->n_filters;
        pthread_mutex_unlock(&w->lock);
        w->state = WATCH_SUBSCRIBING;
        for (int i = 0; i < w->n_filters; i++) {
            w->requests[i] = (struct mqtt_session_request){.done = on_watch_subscribed, .ctx = w};
            if (mqtt_session_subscribe(w->session, w->filters[i], 1, &w->requests[i]) != 0) {
                fprintf(stderr, "sensorbroctl watch: cannot subscribe to %s\n", w->filters[0]);
                w->state = WATCH_FAILED;
                return;
            }
        }
    } else if (ev->type == MQTT_SESSION_CONNECT_FAILED && !ev->next_address) {
        /* the description may carry the broker's own words (an MQTT 5 reason string) */
        fprintf(stderr, "sensorbroctl watch: cannot connect to %s port %" PRIu32 ": ",
                w->broker->host, w->broker->port);
        term_puts(stderr, ev->description);
        fputc('\n', stderr);
        w->state = WATCH_FAILED;
    } else if (ev->type == MQTT_SESSION_LOST) {
        fprintf(stderr, "sensorbroctl watch: connection lost%s", ev->cause[0] ? ": " : "");
        term_puts(stderr, ev->cause);
        fputc('\n', stderr);
        w->state = WATCH_FAILED;
    }
}

/* Says "watching ..." once every subscription is acknowledged. Under w->lock. */
static void check_subscribed_locked(struct watch *w)
{
    if (w->state != WATCH_SUBSCRIBING || w->subscriptions_pending > 0)
        return;
    if (w->subscribe_failed) {
        fprintf(stderr, "sensorbroctl watch: cannot subscribe to %s\n", w->filters[0]);
        w->state = WATCH_FAILED;
        return;
    }
    fprintf(stderr, "watching %s%s%s on %s\n", w->filters[0], w->n_filters == 2 ? " and " : "",
            w->n_filters == 2 ? w->filters[1] : "", w->uri);
    fflush(stderr);
    w->state = WATCH_WATCHING;
}

static int cmd_watch(struct ctl *ctl, int argc, char **argv)
{
    long count = 0, duration_s = 0;
    char data_filter[MQTT_SESSION_TOPIC_SIZE], status_topic[MQTT_SESSION_TOPIC_SIZE] = "";
    /* what the daemon publishes: every device's data topic, and its own status topic */
    const struct topic_var vars[] = {{"gateway", ctl->cfg.gateway.id}, {"device", NULL}};
    topic_template_filter(ctl->cfg.mqtt.topic, vars, 2, data_filter, sizeof(data_filter));
    if (ctl->cfg.mqtt.status_topic[0])
        topic_template_filter(ctl->cfg.mqtt.status_topic, vars, 2, status_topic,
                              sizeof(status_topic));
    bool raw = false, own_filter = false;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "", watch_opts, NULL)) != -1) {
        char *end = "";
        if (opt == 'n')
            count = strtol(optarg, &end, 10);
        else if (opt == 'd')
            duration_s = strtol(optarg, &end, 10);
        else if (opt == 't')
            own_filter = snprintf(data_filter, sizeof(data_filter), "%s", optarg) > 0;
        else if (opt == 'r')
            raw = true;
        else
            return EXIT_USAGE;
        if (*end != '\0' || count < 0 || duration_s < 0) {
            fprintf(stderr, "sensorbroctl watch: expected a number >= 0, got \"%s\"\n", optarg);
            return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "sensorbroctl watch: unexpected argument \"%.40s\"\n", argv[optind]);
        return EXIT_USAGE;
    }

    /* the broker of the configuration, as the daemon's publisher connects to it (TLS files,
     * credentials, protocol), under a client id of its own */
    char client_id[64], why[256];
    snprintf(client_id, sizeof(client_id), "sensorbroctl-watch-%d", (int)getpid());
    struct mqtt_session_options so;
    mqtt_session_options_from_config(&so, &ctl->cfg.mqtt.broker);
    so.client_id = client_id;
    struct watch w = {.broker = &ctl->cfg.mqtt.broker,
                      .filters = {data_filter, status_topic},
                      /* the readings, and the gateway's status to show, never counted */
                      .n_filters = !own_filter && status_topic[0] ? 2 : 1,
                      .raw = raw,
                      .count = count};
    const struct mqtt_session_callbacks cb = {
        .ctx = &w, .wake = on_watch_wake, .message = on_watch_message, .event = on_watch_event};
    mqtt_session_global_init();
    if (mqtt_session_create(&w.session, &so, &cb, why, sizeof(why)) != 0) {
        fprintf(stderr, "sensorbroctl watch: %s\n", why);
        return EXIT_FAILURE;
    }
    pthread_mutex_init(&w.lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cond, &attr);
    pthread_condattr_destroy(&attr);

    int64_t until = duration_s ? clock_mono_ms() + duration_s * 1000 : INT64_MAX;
    for (;;) {
        int64_t due = mqtt_session_service(w.session); /* connects; events: on_watch_event */
        pthread_mutex_lock(&w.lock);
        check_subscribed_locked(&w);
        bool done =
            w.state == WATCH_FAILED || (count > 0 && w.seen >= count) || clock_mono_ms() >= until;
        int64_t deadline = clock_mono_ms() + 500;
        deadline = due < deadline ? due : deadline;
        deadline = until < deadline ? until : deadline;
        while (!done && !w.woken && clock_mono_ms() < deadline) {
            struct timespec ts = {.tv_sec = (time_t)(deadline / 1000),
                                  .tv_nsec = (long)(deadline % 1000) * 1000000L};
            pthread_cond_timedwait(&w.cond, &w.lock, &ts);
        }
        w.woken = false;
        pthread_mutex_unlock(&w.lock);
        if (done)
            break;
    }
    mqtt_session_stop(w.session, NULL, 0); /* a clean disconnect; nothing of ours is out */
    mqtt_session_free(w.session);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    return w.state == WATCH_FAILED ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- the commands and the dispatcher ---- */

static const struct ctl_command commands[] = {
    {"decode", "[--device EUI] [--received TIME] [--transport T] [--pretty]\n[PAYLOAD]",
     "decode an Uplink and print the JSON the daemon publishes for it",
     "Decode an Uplink given in hex or base64 (the argument, or stdin) and print\n"
     "the JSON the daemon publishes for it. Exit 1 with the reason if it is\n"
     "invalid. Reads no journal and connects to nothing.\n"
     "\n"
     "  --device EUI     the device, 16 hex digits (default 0000000000000000)\n"
     "  --received TIME  when it was received: RFC 3339 (2026-11-23T09:00:00Z)\n"
     "                   or unix milliseconds; default now\n"
     "  --transport T    the transport to name (default coap)\n"
     "  --pretty         indented JSON\n",
     "d:r:t:p", decode_opts, cmd_decode},
    {"status", "[--json]", "journal depth and what the running daemon did",
     "Journal depth, age of the oldest pending frame, quarantine count, frames\n"
     "dropped ever; whether sensorbro runs, its broker connection, and what\n"
     "happened to the frames since it started (received, committed, sent,\n"
     "published, refused, quarantined, dropped by reason, duplicates).\n"
     "\n"
     "  --json  one JSON object, every counter by its metric name\n",
     "", status_opts, cmd_status},
    {"quarantine", "[--after ID] [--limit N]", "list quarantined frames with their reasons",
     "List quarantined frames: id, time, device, transport, source, reason and\n"
     "the payload in hex, tab-separated, oldest first.\n"
     "\n"
     "  --after ID  only frames after this id (to page on)\n"
     "  --limit N   at most N frames (default 100)\n",
     "", quarantine_opts, cmd_quarantine},
    {"watch", "[--count N] [--duration S] [--topic FILTER] [--raw]",
     "print readings as the broker delivers them",
     "Subscribe to the broker of the configuration and print each reading as it\n"
     "arrives: by default the data topics (mqtt.topic, every device) and the\n"
     "gateway's status topic, whose retained online/offline is shown but is\n"
     "not a reading.\n"
     "\n"
     "  --count N       stop after N readings (status messages do not count)\n"
     "  --duration S    stop after S seconds\n"
     "  --topic FILTER  subscribe to FILTER instead (MQTT wildcards allowed)\n"
     "  --raw           print payloads as they are, not as a summary line\n",
     "", watch_opts, cmd_watch},
    {"journal check", "", "check the journal's integrity",
     "PRAGMA integrity_check of the journal, read-only: prints ok (exit 0) or\n"
     "the damage (exit 1).\n",
     "", NULL, cmd_journal_check},
    {"journal recover", "[--output PATH]", "copy what is readable of a damaged journal",
     "Copy every readable row of a damaged journal into a new one. The damaged\n"
     "file is only read, never changed.\n"
     "\n"
     "  --output PATH  the new journal (default: JOURNAL.recovered)\n",
     "", recover_opts, cmd_journal_recover},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Runs nothing: main answers "help" before any configuration is read. */
static const struct ctl_command help_row = {
    "help",
    "[COMMAND]",
    "this overview, or the help of one command",
    "Print the overview of all commands, or the usage and help of one\n"
    "(sensorbroctl help device add). COMMAND --help says the same.\n",
    "",
    NULL,
    NULL};

/* The i-th row over the tables (this file's, device.c's, os2iot.c's, help), NULL past the
 * end. */
static const struct ctl_command *command_at(size_t i)
{
    if (i < N_COMMANDS)
        return &commands[i];
    i -= N_COMMANDS;
    if (i < device_command_count)
        return &device_commands[i];
    i -= device_command_count;
    if (i < os2iot_command_count)
        return &os2iot_commands[i];
    return i == os2iot_command_count ? &help_row : NULL;
}

/* Prints a synopsis whose '\n' continue on lines indented by indent. */
static void print_synopsis(const char *synopsis, int indent, FILE *out)
{
    if (synopsis[0])
        fputc(' ', out);
    for (const char *p = synopsis; *p; p++) {
        fputc(*p, out);
        if (*p == '\n')
            fprintf(out, "%*s", indent, "");
    }
}

/* The column where the descriptions of the help's option list start (0: no list). */
static int option_column(const char *help)
{
    const char *line = strstr(help, "\n  -");
    if (line == NULL)
        return 0;
    line++;
    const char *gap = strstr(line + 2, "  "), *eol = strchr(line, '\n');
    if (gap == NULL || (eol && gap > eol))
        return 0;
    while (*gap == ' ')
        gap++;
    return (int)(gap - line);
}

static void print_command_usage(const struct ctl_command *cmd, FILE *out)
{
    int indent = fprintf(out, "usage: sensorbroctl [OPTIONS] %s", cmd->name) + 1;
    if (strchr(cmd->synopsis, '\n') || indent + strlen(cmd->synopsis) > 80) {
        indent = 8; /* a long one starts on a line of its own */
        fprintf(out, "\n%*s", indent - 1, "");
    }
    print_synopsis(cmd->synopsis, indent, out);
    fprintf(out, "\n\n%s", cmd->help);
    int column = option_column(cmd->help);
    /* --help joins the command's own option list, or stands alone */
    fprintf(out, "%s%-*s%s\n", column ? "" : "\n", column ? column : 14, "  -h, --help",
            "this text");
    fprintf(out, "\nOPTIONS before the command: see sensorbroctl --help\n");
}

static void print_overview(FILE *out)
{
    fprintf(out, "usage: sensorbroctl [-c FILE] [--set S.K=V]... [-j JOURNAL] COMMAND [ARGS]\n"
                 "       sensorbroctl help [COMMAND]  |  COMMAND --help  |  --version\n"
                 "\n"
                 "commands:\n");
    for (size_t i = 0; command_at(i); i++) {
        const struct ctl_command *cmd = command_at(i);
        int indent = fprintf(out, "  %s", cmd->name) + 1;
        print_synopsis(cmd->synopsis, indent, out);
        fprintf(out, "\n        %s\n", cmd->summary);
    }
    fprintf(out, "\n"
                 "options:\n"
                 "  -c, --config FILE   the daemon's configuration (journal path, broker, ids)\n"
                 "  -s, --set S.K=V     override one configuration key, as for sensorbro\n"
                 "                      (after the file, once per key)\n"
                 "  -j, --journal PATH  the journal database (default: journal.path of the\n"
                 "                      configuration)\n"
                 "  -V, --version       print the version and exit\n"
                 "  -h, --help          this text\n");
}

/* The rows whose name begins with the group's word and a space ("device" for "device add"),
 * printed as a list of subcommands. Returns how many there are. */
static size_t print_group(const char *group, FILE *out)
{
    size_t n = 0, len = strlen(group);
    for (size_t i = 0; command_at(i); i++) {
        const struct ctl_command *cmd = command_at(i);
        if (strncmp(cmd->name, group, len) != 0 || cmd->name[len] != ' ')
            continue;
        if (n++ == 0 && out)
            fprintf(out, "usage: sensorbroctl [OPTIONS] %s SUBCOMMAND ...\n\nsubcommands:\n",
                    group);
        if (out) {
            int indent = fprintf(out, "  %s", cmd->name) + 1;
            print_synopsis(cmd->synopsis, indent, out);
            fprintf(out, "\n        %s\n", cmd->summary);
        }
    }
    if (n && out)
        fprintf(out, "\nsensorbroctl help %s SUBCOMMAND: the help of one\n", group);
    return n;
}

/* The row named by the words at argv[0..], and in *words how many words its name has;
 * NULL when none. */
static const struct ctl_command *find_command(int argc, char **argv, int *words)
{
    for (size_t i = 0; command_at(i); i++) {
        const struct ctl_command *cmd = command_at(i);
        const char *name = cmd->name;
        int w = 0;
        while (w < argc) {
            size_t len = strcspn(name, " ");
            if (strlen(argv[w]) != len || strncmp(argv[w], name, len) != 0)
                break;
            w++;
            name += len;
            if (*name == '\0') {
                *words = w;
                return cmd;
            }
            name++;
        }
    }
    return NULL;
}

/* Says that argv[0] (after the words already matched) names no command. */
static void unknown_command(int argc, char **argv)
{
    if (argc >= 1 && print_group(argv[0], NULL) > 0) {
        char names[256] = "";
        size_t used = 0, len = strlen(argv[0]);
        for (size_t i = 0; command_at(i) && used < sizeof(names); i++) {
            const char *name = command_at(i)->name;
            if (strncmp(name, argv[0], len) == 0 && name[len] == ' ')
                used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
                                         used ? ", " : "", name + len + 1);
        }
        if (argc >= 2)
            fprintf(stderr, "sensorbroctl %s: unknown subcommand \"%.40s\" (%s)\n", argv[0],
                    argv[1], names);
        else
            fprintf(stderr, "sensorbroctl %s: expected a subcommand: %s\n", argv[0], names);
        fprintf(stderr, "see: sensorbroctl help %s\n", argv[0]);
        return;
    }
    fprintf(stderr, "sensorbroctl: unknown command \"%.40s\" (", argc ? argv[0] : "");
    for (size_t i = 0; command_at(i); i++) {
        const char *name = command_at(i)->name, *before = i ? command_at(i - 1)->name : "";
        size_t len = strcspn(name, " ");
        if (i == 0 || strncmp(name, before, len) != 0 || strcspn(before, " ") != len)
            fprintf(stderr, "%s%.*s", i ? ", " : "", (int)len, name);
    }
    fprintf(stderr, "); see: sensorbroctl help\n");
}

/* The option getopt_long (opterr 0, optstring starting with ':') stopped at with '?' or
 * ':': "--name" (without "=value") or "-x". An unknown short option may sit inside a
 * cluster ("-px"), where optind has not moved on: optopt names it then. */
static void name_option(int opt, char **argv, char *out, size_t out_size)
{
    const char *arg = argv[optind - 1];
    if ((opt == '?' && optopt != 0) || strncmp(arg, "--", 2) != 0)
        snprintf(out, out_size, "-%c", optopt);
    else
        snprintf(out, out_size, "%.40s", arg);
    out[strcspn(out, "=")] = '\0';
}

/* Checks argv (argv[0]: the command's last word) against the command's options before
 * anything is done: -h/--help sets *help; an unknown option or a missing value is named.
 * Returns 0, or -1 after saying what was wrong. */
static int check_options(const struct ctl_command *cmd, int argc, char **argv, bool *help)
{
    struct option all[32];
    size_t n = 0;
    for (const struct option *o = cmd->long_opts; o && o->name && n + 2 < 32; o++)
        all[n++] = *o;
    all[n++] = (struct option){"help", no_argument, NULL, 'h'};
    all[n] = (struct option){NULL, 0, NULL, 0};
    char shorts[64];
    snprintf(shorts, sizeof(shorts), ":%sh", cmd->short_opts); /* ':': tell a missing value */
    *help = false;
    opterr = 0; /* the messages below name the command */
    optind = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, shorts, all, NULL)) != -1) {
        if (opt == 'h') {
            *help = true;
            return 0;
        }
        if (opt != '?' && opt != ':')
            continue;
        char option[64];
        name_option(opt, argv, option, sizeof(option));
        fprintf(stderr, "sensorbroctl %s: %s %s; see: sensorbroctl %s --help\n", cmd->name,
                opt == ':' ? "missing the value of" : "unknown option", option, cmd->name);
        return -1;
    }
    return 0;
}

static int help_command(int argc, char **argv)
{
    if (argc <= 1) {
        print_overview(stdout);
        return EXIT_SUCCESS;
    }
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        print_command_usage(&help_row, stdout);
        return EXIT_SUCCESS;
    }
    int words = 0;
    const struct ctl_command *cmd = find_command(argc - 1, argv + 1, &words);
    if (cmd && words == argc - 1) {
        print_command_usage(cmd, stdout);
        return EXIT_SUCCESS;
    }
    if (argc == 2 && print_group(argv[1], stdout) > 0)
        return EXIT_SUCCESS;
    unknown_command(argc - 1, argv + 1);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"set", required_argument, NULL, 's'},
        {"journal", required_argument, NULL, 'j'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    static struct ctl ctl;
    const char *config_path = NULL, *sets[MAX_SETS];
    int n_sets = 0, opt;
    opterr = 0;
    /* '+': stop at the command, its options are its own */
    while ((opt = getopt_long(argc, argv, "+:c:s:j:Vh", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            if (config_path) {
                fprintf(stderr, "sensorbroctl: -c given twice: one configuration file\n");
                return EXIT_USAGE;
            }
            config_path = optarg;
            break;
        case 's':
            if (n_sets == MAX_SETS) {
                fprintf(stderr, "sensorbroctl: more than %d --set options\n", MAX_SETS);
                return EXIT_USAGE;
            }
            sets[n_sets++] = optarg;
            break;
        case 'j':
            ctl.journal_path = optarg;
            break;
        case 'V':
            printf("sensorbroctl %s\n", SENSORBRO_VERSION);
            return EXIT_SUCCESS;
        case 'h':
            print_overview(stdout);
            return EXIT_SUCCESS;
        default: {
            char option[64];
            name_option(opt, argv, option, sizeof(option));
            fprintf(stderr, "sensorbroctl: %s %s; see: sensorbroctl --help\n",
                    opt == ':' ? "missing the value of" : "unknown option", option);
            return EXIT_USAGE;
        }
        }
    }
    if (optind >= argc) {
        print_overview(stderr);
        return EXIT_USAGE;
    }
    int sub_argc = argc - optind, words = 0;
    char **sub_argv = argv + optind;
    if (strcmp(sub_argv[0], "help") == 0)
        return help_command(sub_argc, sub_argv);
    const struct ctl_command *cmd = find_command(sub_argc, sub_argv, &words);
    if (cmd == NULL) {
        /* "device --help", "journal -h": the group's subcommands */
        if (sub_argc >= 2 &&
            (strcmp(sub_argv[1], "--help") == 0 || strcmp(sub_argv[1], "-h") == 0) &&
            print_group(sub_argv[0], stdout) > 0)
            return EXIT_SUCCESS;
        unknown_command(sub_argc, sub_argv);
        return EXIT_USAGE;
    }
    sub_argc -= words - 1; /* argv[0] of the command: its name's last word */
    sub_argv += words - 1;
    bool help;
    if (check_options(cmd, sub_argc, sub_argv, &help) != 0)
        return EXIT_USAGE;
    if (help) {
        print_command_usage(cmd, stdout);
        return EXIT_SUCCESS;
    }

    /* The configuration as the daemon reads it: the file, then the --set options. */
    char err[CONFIG_ERROR_SIZE];
    config_set_defaults(&ctl.cfg);
    if (config_path && config_load_file(&ctl.cfg, config_path, err) != 0) {
        fprintf(stderr, "sensorbroctl: %s\n", err);
        return EXIT_USAGE;
    }
    for (int i = 0; i < n_sets; i++) {
        if (config_apply_option(&ctl.cfg, sets[i], err) != 0) {
            fprintf(stderr, "sensorbroctl: %s\n", err);
            return EXIT_USAGE;
        }
    }
    if (config_finish(&ctl.cfg, err) != 0) {
        fprintf(stderr, "sensorbroctl: %s\n", err);
        return EXIT_USAGE;
    }
    if (ctl.journal_path == NULL)
        ctl.journal_path = ctl.cfg.journal.path;
    opterr = 1;
    return cmd->run(&ctl, sub_argc, sub_argv);
}
