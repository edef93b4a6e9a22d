/*
 * ingest/lns_mqtt.h - the LoRaWAN network server feed: ChirpStack v4 uplink events over MQTT.
 *
 * A site that already runs a network server (ChirpStack v4, as inside OS2iot) lets it do the
 * LoRaWAN MAC and decryption and hands sensorbro the decrypted FRMPayload through its MQTT
 * integration. This adapter has an MQTT session of its own (output/mqtt_session.h; MQTT 5
 * by default, 3.1.1 as an option) to that broker. It subscribes at QoS 1 to lns_mqtt.topic (default
 * application/+/device/+/event/up), or to $share/<shared_group>/<topic> so that several
 * sensorbro instances split one feed with no coordination of their own: the broker gives
 * each event to one member of the group.
 *
 * Every event is untrusted JSON, parsed by the ChirpStack codec (ingest/chirpstack.h: every
 * field's type and size checked, see chirpstack_parse_uplink). A good one becomes a
 * frame_record with transport "lns-mqtt", device = devEui in lower case, source
 * "mqtt:<topic>", received_ms = now, heard_ms = the event's own reception time
 * (chirpstack_heard_time: `time`, else gwTime, else nsTime, bounded by
 * lns_mqtt.max_event_age_s / max_event_ahead_s from now; outside them it is counted, logged
 * at most once a minute, and not used), and the radio metadata of the event, and goes
 * through journal_writer_append: the same journal, decode and publish path as CoAP. Sample
 * times are anchored on heard_ms, so a backlog that the broker delivers after an outage
 * keeps the times the frames were heard at. A payload that does not decode as an Uplink is
 * quarantined with the decoder's reason, as CoAP does.
 *
 * Durability: acknowledged only after the commit. Events are QoS 1 on a persistent session
 * (MQTT 5: clean start off, session expiry lns_mqtt.session_expiry_s; 3.1.1: clean session
 * off). The message callback returns only after the event's journal transaction committed,
 * and Paho 1.3.12 (Debian 12) calls it from inside its handling of the PUBLISH packet and
 * sends the PUBACK after it returns, when its own message queue is empty, which it stays
 * because the callback never returns 0 (a 0 would queue the message, and a queued message
 * is acknowledged before it is delivered). Measured: with journal.batch_max_ms=1000 and the
 * daemon killed with SIGKILL 0.3 s after an event arrived, Mosquitto had no PUBACK, sent the
 * event again (DUP) on the next connect, and it was journaled once. A persistent session
 * also keeps what arrives while sensorbro is down, up to the broker's own limits.
 * The price: Paho has one receive thread for all clients of the process, and it waits
 * during the commit (batch_max_ms + one fsync), PUBACKs for the publisher included.
 *
 * Duplicates. An event whose deduplicationId was seen among the last lns_mqtt.dedup_window
 * events is dropped and counted. The set lives in memory: after a restart a redelivered
 * event is journaled again and published again with the same message id (at least once, as
 * for every transport). Across instances of a shared subscription nothing is shared.
 *
 * Bad events (not JSON, a required field missing or of the wrong type, bad base64, a devEui
 * that is not 16 hex digits, data over CHIRPSTACK_MAX_DATA_BYTES) are counted, logged at most
 * once a minute, and quarantined with the reason when they carry something to keep:
 * the decoded data if there is any, otherwise the raw event (its first
 * FRAME_MAX_PAYLOAD_BYTES). A quarantined event without a usable devEui is filed under
 * device 0000000000000000.
 *
 * Downlinks: lns_mqtt_send_downlink publishes ChirpStack v4's downlink command
 * (chirpstack_format_downlink) to lns_mqtt.downlink_topic, with
 * the device's applicationId remembered from its uplinks (or given by the caller).
 *
 * Threads: start/stop from the main thread. The adapter owns one thread (connects,
 * subscribes, reconnects with jittered backoff); Paho's threads run the callbacks. The
 * message callback blocks Paho's receive thread in the ingest core (ingest/ingest.h,
 * ingest_wait) until the journal writer's completion (writer thread) says the event is
 * committed; Paho holds its global mutex meanwhile, so Paho calls from other threads (the
 * publisher's) wait for that commit too.
 * Nothing the journal writer runs may call into Paho, or this would deadlock.
 * lns_mqtt_send_downlink and lns_mqtt_get_stats may be called from any thread, except from
 * a downlink's done callback (it runs under Paho's mutex; the adapter's thread may be
 * waiting for that mutex while holding the client lock that a send takes).
 */
#ifndef SENSORBRO_INGEST_LNS_MQTT_H
#define SENSORBRO_INGEST_LNS_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "frame.h"
#include "store/journal_writer.h"

/* The all-zero EUI files quarantined events whose devEui could not be read. */
#define LNS_MQTT_UNKNOWN_DEVICE "0000000000000000"

struct lns_mqtt_stats {
    bool connected;
    bool subscribed;
    uint64_t received;       /* every message that arrived */
    uint64_t accepted;       /* journaled to the pending queue */
    uint64_t duplicates;     /* dropped: deduplicationId seen recently */
    uint64_t empty;          /* good events without data: nothing to journal */
    uint64_t bad;            /* refused events (see above) */
    uint64_t quarantined;    /* journaled to quarantine: bad events and undecodable payloads */
    uint64_t not_stored;     /* the journal refused or failed: lost after Paho's PUBACK */
    uint64_t time_untrusted; /* events whose reception time was too far from the receipt */
    uint64_t downlinks;      /* downlink commands acknowledged by the broker */
    uint64_t downlink_failures;
    uint64_t connects;
    uint64_t connection_losses;
};

struct lns_mqtt;

/* Starts the adapter's thread, which connects to cfg->lns_mqtt's broker and subscribes.
 * cfg must outlive the adapter. Returns -1 with a message in err. */
int lns_mqtt_start(struct lns_mqtt **out, const struct config *cfg, struct journal_writer *writer,
                   char *err, size_t err_size);
/* Disconnects (an event being committed finishes first) and frees the adapter. The journal
 * writer must still be running. NULL is accepted. final_stats (may be NULL) receives the
 * counters as they stand when nothing more can change them. */
void lns_mqtt_stop(struct lns_mqtt *lm, struct lns_mqtt_stats *final_stats);
void lns_mqtt_get_stats(struct lns_mqtt *lm, struct lns_mqtt_stats *stats);
struct report;
/* The adapter's figures (report.h), in the order of its stats line. Touches only what it
 * is given. */
void lns_mqtt_collect(const struct lns_mqtt_stats *s, struct report *r);

/* status 0: the broker acknowledged the downlink command (PUBACK, under MQTT 5 with a
 * success reason code); -1: not delivered (refused, connection lost, stopping). */
typedef void (*lns_mqtt_downlink_done_fn)(void *ctx, int status);

/* Publishes a downlink for dev_eui (16 hex digits, either case) at QoS 1. application_id
 * NULL or "": the one remembered from the device's last uplink. fport 1..223, payload at
 * most CHIRPSTACK_MAX_DATA_BYTES. done (may be NULL) runs later on a Paho thread, exactly once
 * when 0 is returned; keep it short. Returns 0 when handed to Paho, or -1 with err (not
 * connected, unknown application, bad argument) and done is not called. */
int lns_mqtt_send_downlink(struct lns_mqtt *lm, const char *dev_eui, const char *application_id,
                           uint8_t fport, const uint8_t *payload, size_t payload_len,
                           bool confirmed, lns_mqtt_downlink_done_fn done, void *ctx, char *err,
                           size_t err_size);

#endif
