/*
 * metrics_collect.c - every module's counters gathered into one named list (see
 * metrics_collect.h).
 *
 * The names follow Prometheus conventions: a _total suffix on counters, units in the name
 * (_bytes, _seconds), one label where a family has several members (the transport, the
 * CoAP response code, the reason a frame was dropped). The life of a frame reads down the
 * list: received per transport, committed or quarantined, sent, acknowledged by the broker
 * (published) or refused, dropped by reason, duplicates per transport.
 */
#include "metrics_collect.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/clock.h"
#include "ingest/coap.h"
#include "ingest/lns_mqtt.h"
#include "ingest/semtech_udp.h"
#include "store/journal_writer.h"
#include "output/publish.h"

static void counter(struct metrics *m, const char *name, uint64_t value)
{
    metrics_add(m, METRIC_COUNTER, name, NULL, NULL, (double)value);
}

static void labelled(struct metrics *m, const char *name, const char *label, const char *value_of,
                     uint64_t value)
{
    metrics_add(m, METRIC_COUNTER, name, label, value_of, (double)value);
}

static void gauge(struct metrics *m, const char *name, double value)
{
    metrics_add(m, METRIC_GAUGE, name, NULL, NULL, value);
}

static void collect_pipeline(struct metrics *m, const struct metrics_sources *src)
{
    static const struct journal_writer_stats no_writer;
    static const struct publisher_stats no_publisher;
    const struct journal_writer_stats ws = src->writer ? *src->writer : no_writer;
    const struct publisher_stats ps = src->publisher ? *src->publisher : no_publisher;
    counter(m, "sensorbro_frames_committed_total", ws.frames_committed);
    counter(m, "sensorbro_frames_resends_total", ws.resends);
    labelled(m, "sensorbro_frames_quarantined_total", "stage", "ingest", ws.quarantined);
    labelled(m, "sensorbro_frames_quarantined_total", "stage", "publish", ps.quarantined);
    counter(m, "sensorbro_frames_sent_total", ps.sent);
    counter(m, "sensorbro_frames_published_total", ps.published);
    counter(m, "sensorbro_publishes_refused_total", ps.refused);
    labelled(m, "sensorbro_frames_dropped_total", "reason", "journal_full",
             ws.dropped_journal_full);
    labelled(m, "sensorbro_frames_dropped_total", "reason", "disk_floor", ws.dropped_disk_floor);
    labelled(m, "sensorbro_frames_rejected_total", "reason", "journal_full", ws.rejected_full);
    counter(m, "sensorbro_journal_transactions_total", ws.transactions);
    counter(m, "sensorbro_journal_commit_failures_total", ws.commit_failures);
    counter(m, "sensorbro_journal_marks_lost_total", ws.marks_dropped);
    counter(m, "sensorbro_journal_trimmed_total", ws.trimmed + ws.trimmed_for_space);
    gauge(m, "sensorbro_journal_used_bytes", (double)ws.used_bytes);
    gauge(m, "sensorbro_journal_full", ws.full ? 1 : 0);
    gauge(m, "sensorbro_broker_connected", ps.state == PUBLISHER_CONNECTED ? 1 : 0);
    counter(m, "sensorbro_broker_connects_total", ps.connects);
    counter(m, "sensorbro_broker_connect_failures_total", ps.connect_failures);
    counter(m, "sensorbro_broker_connection_losses_total", ps.connection_losses);
    gauge(m, "sensorbro_publish_in_flight", ps.in_flight);
}

static void collect_coap(struct metrics *m, const struct coap_ingest_stats *coap)
{
    const struct coap_ingest_stats cs = *coap;
    /* a frame reached the pipeline: stored (2.04), quarantined (4.00) or refused (5.03) */
    labelled(m, "sensorbro_frames_received_total", "transport", "coap",
             cs.accepted + cs.quarantined + cs.unavailable);
    static const char *const codes[] = {"2.04", "4.00", "4.04", "4.05", "4.13", "5.03"};
    const uint64_t counts[] = {cs.accepted,    cs.quarantined, cs.not_found,
                               cs.not_allowed, cs.too_large,   cs.unavailable};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        labelled(m, "sensorbro_coap_responses_total", "code", codes[i], counts[i]);
    counter(m, "sensorbro_coap_kernel_drops_total", cs.kernel_drops);
}

static void collect_semtech(struct metrics *m, const struct semtech_udp_stats *s)
{
    labelled(m, "sensorbro_frames_received_total", "transport", "semtech-udp",
             s->journaled + s->quarantined + s->dropped[SEMTECH_UDP_DROP_JOURNAL]);
    /* copies merged within the window, as the log's `duplicates`; a late copy is a drop
     * (sensorbro_semtech_dropped_total{reason="late_duplicate"}) */
    labelled(m, "sensorbro_frames_duplicate_total", "transport", "semtech-udp", s->duplicates);
    labelled(m, "sensorbro_semtech_packets_total", "type", "push_data", s->push_data);
    labelled(m, "sensorbro_semtech_packets_total", "type", "pull_data", s->pull_data);
    labelled(m, "sensorbro_semtech_packets_total", "type", "tx_ack", s->tx_acks);
    labelled(m, "sensorbro_semtech_packets_total", "type", "pull_resp", s->pull_resps);
    counter(m, "sensorbro_semtech_tx_errors_total", s->tx_errors);
    counter(m, "sensorbro_semtech_rxpk_total", s->rxpk);
    for (int i = 0; i < SEMTECH_UDP_DROP_COUNT; i++)
        labelled(m, "sensorbro_semtech_dropped_total", "reason",
                 semtech_udp_drop_name((enum semtech_udp_drop)i), s->dropped[i]);
    labelled(m, "sensorbro_semtech_forwarders_removed_total", "reason", "aged_out",
             s->forwarders_aged_out);
    labelled(m, "sensorbro_semtech_forwarders_removed_total", "reason", "evicted",
             s->forwarders_evicted);
    counter(m, "sensorbro_semtech_forwarders_refused_total", s->forwarders_refused);
    counter(m, "sensorbro_semtech_forwarder_pin_changes_total", s->pin_changes);
    counter(m, "sensorbro_semtech_sources_evicted_total", s->sources_evicted);
    counter(m, "sensorbro_lorawan_uplinks_total", s->ns.uplinks);
    counter(m, "sensorbro_lorawan_retransmissions_total", s->ns.retransmissions);
    counter(m, "sensorbro_lorawan_not_journaled_total", s->ns.not_journaled);
    counter(m, "sensorbro_lorawan_joins_total", s->ns.joins);
    counter(m, "sensorbro_lorawan_downlinks_total", s->ns.downlinks); /* no Join-Accepts */
    counter(m, "sensorbro_lorawan_downlinks_queued_total", s->ns.queued_sent);
    counter(m, "sensorbro_lorawan_downlinks_resent_total", s->ns.queued_resent);
    for (int i = 0; i < EDGE_NS_DROP_COUNT; i++)
        labelled(m, "sensorbro_lorawan_dropped_total", "reason",
                 edge_ns_drop_name((enum edge_ns_drop)i), s->ns.dropped[i]);
}

static void collect_lns(struct metrics *m, const struct lns_mqtt_stats *lns)
{
    const struct lns_mqtt_stats ls = *lns;
    labelled(m, "sensorbro_frames_received_total", "transport", "lns-mqtt",
             ls.accepted + ls.quarantined + ls.not_stored);
    labelled(m, "sensorbro_frames_duplicate_total", "transport", "lns-mqtt", ls.duplicates);
    counter(m, "sensorbro_lns_events_total", ls.received);
    labelled(m, "sensorbro_lns_events_refused_total", "reason", "bad", ls.bad);
    labelled(m, "sensorbro_lns_events_refused_total", "reason", "without_data", ls.empty);
    labelled(m, "sensorbro_lns_events_refused_total", "reason", "not_stored", ls.not_stored);
    counter(m, "sensorbro_lns_event_times_untrusted_total", ls.time_untrusted);
    counter(m, "sensorbro_lns_downlinks_total", ls.downlinks);
    counter(m, "sensorbro_lns_downlink_failures_total", ls.downlink_failures);
    counter(m, "sensorbro_lns_connection_losses_total", ls.connection_losses);
    gauge(m, "sensorbro_lns_subscribed", ls.subscribed ? 1 : 0);
}

void metrics_collect(struct metrics *out, const struct metrics_sources *src)
{
    metrics_clear(out);
    gauge(out, "sensorbro_up", src->running ? 1 : 0);
    gauge(out, "sensorbro_pid", (double)getpid());
    gauge(out, "sensorbro_start_time_seconds", (double)src->started_ms / 1000.0);
    gauge(out, "sensorbro_snapshot_time_seconds", (double)clock_wall_ms() / 1000.0);
    collect_pipeline(out, src);
    if (src->coap)
        collect_coap(out, src->coap);
    if (src->semtech)
        collect_semtech(out, src->semtech);
    if (src->lns)
        collect_lns(out, src->lns);
}
