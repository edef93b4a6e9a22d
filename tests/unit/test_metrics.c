/*
 * test_metrics.c - metrics.c: names with labels, bounds, lookups; how every module's
 * stats become, through its own collector (report.h), the named counters that sensorbroctl
 * status and a metrics endpoint show, and the stats lines of the log (in the words the
 * integration tests look for); and the journal's status table that carries them
 * (journal_save_status/read_status).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ingest/coap.h"
#include "ingest/lns_mqtt.h"
#include "ingest/semtech_udp.h"
#include "store/journal.h"
#include "store/journal_writer.h"
#include "metrics.h"
#include "output/mqtt_output.h"
#include "report.h"

static struct metrics m, back;

/* What the daemon collects (main.c's table): its own figures, then each running module's. */
struct sources {
    bool running;
    int64_t started_ms;
    const struct journal_writer_stats *writer;
    const struct mqtt_output_stats *publisher;
    const struct coap_ingest_stats *coap;
    const struct semtech_udp_stats *semtech;
    const struct lns_mqtt_stats *lns;
};

static void collect(struct metrics *out, const struct sources *src)
{
    metrics_clear(out);
    struct report r;
    report_init(&r, out, NULL, 0);
    report_daemon(&r, src->running, src->started_ms);
    journal_writer_collect(src->writer, &r);
    if (src->coap)
        coap_ingest_collect(src->coap, &r);
    if (src->semtech)
        semtech_udp_collect(src->semtech, &r);
    if (src->lns)
        lns_mqtt_collect(src->lns, &r);
    mqtt_output_type.collect(src->publisher, &r); /* through its type, as main.c does */
}

static double value_of(const struct metrics *list, const char *name)
{
    const struct metric *item = metrics_find(list, name);
    if (item == NULL)
        fail_msg("no metric %s", name);
    return item->value;
}

static void test_names_and_bounds(void **state)
{
    (void)state;
    metrics_clear(&m);
    assert_int_equal(metrics_add(&m, METRIC_COUNTER, "a_total", NULL, NULL, 3), 0);
    assert_int_equal(metrics_add(&m, METRIC_COUNTER, "b_total", "reason", "bad_mic", 4), 0);
    assert_int_equal(metrics_add(&m, METRIC_COUNTER, "b_total", "reason", "replay", 5), 0);
    assert_int_equal(metrics_add(&m, METRIC_GAUGE, "b_total_not", NULL, NULL, 100), 0);
    assert_string_equal(m.items[1].name, "b_total{reason=\"bad_mic\"}");
    assert_int_equal(m.items[1].kind, METRIC_COUNTER);
    assert_true(value_of(&m, "b_total{reason=\"replay\"}") == 5);
    assert_null(metrics_find(&m, "b_total"));
    /* a family sums its labelled members, and only them: not a name it is a prefix of */
    assert_true(metrics_sum(&m, "b_total") == 9);
    assert_true(metrics_sum(&m, "a_total") == 3);
    assert_true(metrics_sum(&m, "missing") == 0);

    /* a name that does not fit is refused, not cut */
    char long_name[METRIC_NAME_SIZE + 8];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    size_t before = m.count;
    assert_int_equal(metrics_add(&m, METRIC_GAUGE, long_name, NULL, NULL, 1), -1);
    assert_int_equal(m.count, before);
    /* and the list has a bound */
    while (m.count < METRICS_MAX)
        assert_int_equal(metrics_add(&m, METRIC_GAUGE, "filler", NULL, NULL, 1), 0);
    assert_int_equal(metrics_add(&m, METRIC_GAUGE, "one_more", NULL, NULL, 1), -1);
}

static void test_collect_counts_every_frame(void **state)
{
    (void)state;
    struct journal_writer_stats ws = {.frames_committed = 90,
                                      .quarantined = 4,
                                      .dropped_journal_full = 7,
                                      .dropped_disk_floor = 2,
                                      .rejected_full = 3,
                                      .used_bytes = 4096,
                                      .full = true};
    struct mqtt_output_stats ps = {.state = MQTT_OUTPUT_CONNECTED,
                                   .sent = 85,
                                   .published = 80,
                                   .refused = 1,
                                   .quarantined = 1,
                                   .in_flight = 5,
                                   .connects = 2,
                                   .connection_losses = 1};
    struct coap_ingest_stats cs = {.requests = 70,
                                   .accepted = 60,
                                   .quarantined = 3,
                                   .not_found = 2,
                                   .unavailable = 3,
                                   .too_large = 1,
                                   .not_allowed = 1,
                                   .kernel_drops = 9};
    struct semtech_udp_stats ss;
    memset(&ss, 0, sizeof(ss));
    ss.journaled = 20;
    ss.quarantined = 1;
    ss.duplicates = 6;
    ss.dropped[SEMTECH_UDP_DROP_LATE_DUPLICATE] = 2;
    ss.dropped[SEMTECH_UDP_DROP_JOURNAL] = 1;
    ss.ns.dropped[EDGE_NS_DROP_BAD_MIC] = 5;
    ss.ns.uplinks = 22;
    ss.ns.joins = 2;
    ss.ns.downlinks = 4; /* ACKs and queued ones */
    ss.ns.queued_sent = 2;
    ss.ns.queued_resent = 1;
    ss.pull_resps = 5; /* joins + downlinks - 1 without a downlink path */
    ss.dropped[SEMTECH_UDP_DROP_NO_DOWNLINK_PATH] = 1;
    struct lns_mqtt_stats ls = {.received = 12,
                                .accepted = 10,
                                .quarantined = 1,
                                .duplicates = 4,
                                .not_stored = 1,
                                .subscribed = true};
    struct sources src = {.started_ms = 1796000000000,
                          .running = true,
                          .writer = &ws,
                          .publisher = &ps,
                          .coap = &cs,
                          .semtech = &ss,
                          .lns = &ls};
    collect(&m, &src);
    assert_true(value_of(&m, "sensorbro_up") == 1);
    assert_true(value_of(&m, "sensorbro_pid") == (double)getpid());
    assert_true(value_of(&m, "sensorbro_start_time_seconds") == 1796000000.0);
    /* received per transport: every frame that reached the journal's door */
    assert_true(value_of(&m, "sensorbro_frames_received_total{transport=\"coap\"}") == 66);
    assert_true(value_of(&m, "sensorbro_frames_received_total{transport=\"semtech-udp\"}") == 22);
    assert_true(value_of(&m, "sensorbro_frames_received_total{transport=\"lns-mqtt\"}") == 12);
    assert_true(metrics_sum(&m, "sensorbro_frames_received_total") == 100);
    assert_true(value_of(&m, "sensorbro_frames_committed_total") == 90);
    assert_true(metrics_sum(&m, "sensorbro_frames_quarantined_total") == 5);
    assert_true(value_of(&m, "sensorbro_frames_sent_total") == 85);
    assert_true(value_of(&m, "sensorbro_frames_published_total") == 80);
    assert_true(value_of(&m, "sensorbro_publishes_refused_total") == 1);
    assert_true(value_of(&m, "sensorbro_frames_dropped_total{reason=\"journal_full\"}") == 7);
    assert_true(value_of(&m, "sensorbro_frames_dropped_total{reason=\"disk_floor\"}") == 2);
    assert_true(value_of(&m, "sensorbro_frames_rejected_total{reason=\"journal_full\"}") == 3);
    /* semtech-udp duplicates: copies merged within the window only; late ones are drops */
    assert_true(value_of(&m, "sensorbro_frames_duplicate_total{transport=\"semtech-udp\"}") == 6);
    assert_true(value_of(&m, "sensorbro_semtech_dropped_total{reason=\"late_duplicate\"}") == 2);
    assert_true(value_of(&m, "sensorbro_frames_duplicate_total{transport=\"lns-mqtt\"}") == 4);
    /* Join-Accepts and data downlinks apart; PULL_RESPs are both, as sent */
    assert_true(value_of(&m, "sensorbro_lorawan_joins_total") == 2);
    assert_true(value_of(&m, "sensorbro_lorawan_downlinks_total") == 4);
    assert_true(value_of(&m, "sensorbro_lorawan_downlinks_queued_total") == 2);
    assert_true(value_of(&m, "sensorbro_lorawan_downlinks_resent_total") == 1);
    assert_true(value_of(&m, "sensorbro_semtech_packets_total{type=\"pull_resp\"}") == 5);
    assert_true(m.count < METRICS_MAX); /* every module's figures fit, the last one too */
    assert_true(value_of(&m, "sensorbro_lns_subscribed") == 1);
    assert_true(value_of(&m, "sensorbro_coap_responses_total{code=\"4.13\"}") == 1);
    assert_true(metrics_sum(&m, "sensorbro_coap_responses_total") == 70);
    assert_true(value_of(&m, "sensorbro_coap_kernel_drops_total") == 9);
    assert_true(value_of(&m, "sensorbro_lorawan_dropped_total{reason=\"bad_mic\"}") == 5);
    assert_true(value_of(&m, "sensorbro_broker_connected") == 1);
    assert_true(value_of(&m, "sensorbro_publish_in_flight") == 5);
    assert_true(value_of(&m, "sensorbro_journal_full") == 1);
    assert_int_equal(metrics_find(&m, "sensorbro_up")->kind, METRIC_GAUGE);
    assert_int_equal(metrics_find(&m, "sensorbro_frames_sent_total")->kind, METRIC_COUNTER);

    /* each figure is named by one module only: no name twice in the list */
    for (size_t i = 0; i < m.count; i++)
        for (size_t k = 0; k < i; k++)
            if (strcmp(m.items[i].name, m.items[k].name) == 0)
                fail_msg("%s collected twice", m.items[i].name);

    /* the last snapshot of a clean stop (that a transport which does not run has no
     * figures at all is main.c's table: tests/integration/coap_to_mqtt.sh checks it) */
    src.running = false;
    collect(&m, &src);
    assert_true(value_of(&m, "sensorbro_up") == 0);
}

/* The stats line of one collector, as main.c logs it after "stats: <name> ". */
#define LINE_OF(collector, stats, line)                                                            \
    do {                                                                                           \
        struct report r_;                                                                          \
        report_init(&r_, NULL, line, sizeof(line));                                                \
        collector(stats, &r_);                                                                     \
    } while (0)

/* The lines carry the figures in the words the integration tests look for (lns_to_mqtt.sh,
 * semtech_hostile.sh, semtech_retransmission.sh, semtech_empty_payload.sh). */
static void test_stats_lines(void **state)
{
    (void)state;
    char line[1024];
    struct lns_mqtt_stats ls = {.received = 7,
                                .accepted = 2,
                                .duplicates = 1,
                                .bad = 3,
                                .quarantined = 4,
                                .downlinks = 2,
                                .downlink_failures = 1,
                                .connected = true};
    LINE_OF(lns_mqtt_collect, &ls, line);
    assert_string_equal(line, "events 7 (journaled 2, duplicates 1, without data 0, bad 3, "
                              "quarantined 4, not stored 0, times untrusted 0), downlinks 2 "
                              "(failed 1), connection losses 0, connected");

    struct semtech_udp_stats ss;
    memset(&ss, 0, sizeof(ss));
    ss.datagrams = 38;
    ss.push_data = 7;
    ss.pull_data = 29;
    ss.tx_acks = 2;
    ss.rxpk = 7;
    ss.duplicates = 4;
    ss.journaled = 1;
    ss.quarantined = 2;
    ss.pull_resps = 9;
    ss.push_acks = 7;
    ss.ns.frames = 7;
    ss.ns.uplinks = 3;
    ss.ns.retransmissions = 6;
    ss.ns.joins = 1;
    ss.ns.downlinks = 8;
    ss.ns.queued_sent = 1;
    ss.ns.queued_resent = 3;
    LINE_OF(semtech_udp_collect, &ss, line);
    assert_string_equal(line, "datagrams 38 (push 7, pull 29, tx_ack 2, tx errors 0), rxpk 7, "
                              "duplicates 4, frames 7, uplinks 3 (journaled 1, quarantined 2, "
                              "not journaled 0, retransmissions 6), joins 1, downlinks 8 (queued "
                              "1, resent 3), pull_resp 9, push acks 7, forwarders aged out 0, "
                              "evicted 0, refused 0, pin changes 0, sources evicted 0, dropped: "
                              "none");
    ss.dropped[SEMTECH_UDP_DROP_SHORT] = 1;
    ss.dropped[SEMTECH_UDP_DROP_LATE_DUPLICATE] = 3;
    ss.ns.dropped[EDGE_NS_DROP_BAD_MIC] = 2;
    LINE_OF(semtech_udp_collect, &ss, line);
    assert_non_null(strstr(line, ", dropped: short=1 late_duplicate=3 bad_mic=2"));

    /* a line that does not fit is cut, never overrun */
    char small[24];
    LINE_OF(semtech_udp_collect, &ss, small);
    assert_string_equal(small, "datagrams 38 (push 7, p");

    /* every module has a line, with its figures */
    struct coap_ingest_stats cs = {.requests = 5, .accepted = 4, .unavailable = 1};
    LINE_OF(coap_ingest_collect, &cs, line);
    assert_string_equal(line,
                        "requests 5 (2.04 4, 4.00 0, 4.04 0, 4.03 0, 4.05 0, 4.13 0, 5.03 "
                        "1), refused: wrong device 0, unregistered 0, nosec 0, key revoked "
                        "0, block-wise 0, too large 0, unknown PSK identity 0, kernel drops 0");
    struct journal_writer_stats ws = {
        .frames_committed = 90, .transactions = 12, .used_bytes = 3 * 1048576 / 2, .full = true};
    LINE_OF(journal_writer_collect, &ws, line);
    assert_string_equal(line, "committed 90 in 12 transactions (resends 0 not stored again), "
                              "quarantined 0, dropped full 0 disk 0, rejected full 0, commit "
                              "failures 0, marks lost 0, trimmed 0, journal 1.5 MiB (full)");
    struct mqtt_output_stats ps = {
        .state = MQTT_OUTPUT_CONNECTED, .sent = 3, .published = 2, .in_flight = 1, .connects = 1};
    LINE_OF(mqtt_output_collect, &ps, line);
    assert_string_equal(line, "quarantined 0, sent 3, published 2, refused 0, in flight 1, broker "
                              "connected (connects 1, connect failures 0, connection losses 0)");
}

static void test_status_table_round_trip(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_metrics.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/j.db", dir);
    struct journal_options rw = {.synchronous = JOURNAL_SYNC_NORMAL, .busy_timeout_ms = 1000};
    struct journal_options ro = {.read_only = true, .busy_timeout_ms = 1000};
    struct journal *j, *reader;
    char err[256];
    assert_int_equal(journal_open(&j, path, &rw, err, sizeof(err)), 0);
    assert_int_equal(journal_open(&reader, path, &ro, err, sizeof(err)), 0);

    /* nothing saved yet: an empty list */
    assert_int_equal(journal_read_status(reader, &back), 0);
    assert_int_equal(back.count, 0);

    metrics_clear(&m);
    metrics_add(&m, METRIC_GAUGE, "z_first", NULL, NULL, 1.5);
    metrics_add(&m, METRIC_COUNTER, "a_second_total", "code", "2.04", 12345678901.0);
    metrics_add(&m, METRIC_COUNTER, "m_third_total", NULL, NULL, 0);
    assert_int_equal(journal_save_status(j, &m), 0);
    assert_int_equal(journal_read_status(reader, &back), 0);
    assert_int_equal(back.count, 3);
    /* kept in the order given, kinds and values exact */
    assert_string_equal(back.items[0].name, "z_first");
    assert_int_equal(back.items[0].kind, METRIC_GAUGE);
    assert_true(back.items[0].value == 1.5);
    assert_string_equal(back.items[1].name, "a_second_total{code=\"2.04\"}");
    assert_int_equal(back.items[1].kind, METRIC_COUNTER);
    assert_true(back.items[1].value == 12345678901.0);

    /* a new snapshot replaces the old one whole */
    metrics_clear(&m);
    metrics_add(&m, METRIC_COUNTER, "only_total", NULL, NULL, 7);
    assert_int_equal(journal_save_status(j, &m), 0);
    assert_int_equal(journal_read_status(reader, &back), 0);
    assert_int_equal(back.count, 1);
    assert_true(value_of(&back, "only_total") == 7);

    /* rows on disk are untrusted: a name too long for a metric is left out, not cut */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char sql[512];
    snprintf(sql, sizeof(sql), "INSERT INTO status VALUES (5, '%0*d', 'gauge', 1)",
             METRIC_NAME_SIZE + 4, 0);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(journal_read_status(reader, &back), 0);
    assert_int_equal(back.count, 1);

    journal_close(reader);
    journal_close(j);
    snprintf(sql, sizeof(sql), "rm -rf '%s'", dir);
    assert_int_equal(system(sql), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_bounds),
        cmocka_unit_test(test_collect_counts_every_frame),
        cmocka_unit_test(test_stats_lines),
        cmocka_unit_test(test_status_table_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
