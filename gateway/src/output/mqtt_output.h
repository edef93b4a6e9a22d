/*
 * mqtt_output.h - the MQTT output ("the publisher"): pending frames from the journal to the
 * MQTT broker, in order, each marked delivered only after the broker's PUBACK.
 *
 * The publisher owns one thread, one read connection to the journal and one MQTT session
 * (output/mqtt_session.h: Eclipse Paho MQTTAsync). Its thread reads pending frames in journal
 * order, decodes and renders each (decode.c, render.c) and publishes it at QoS 1, never retained,
 * to the device's topic, keeping at most mqtt.max_inflight publishes outstanding. A PUBACK
 * turns into a "published" mark queued to the journal writer. MQTT 5 is the default
 * because under 3.1.1 a broker that refuses a publish (ACL) still acknowledges it and
 * drops it; under 5 the PUBACK carries a reason code >= 0x80, the frame stays pending and
 * the refusal is logged and counted.
 *
 * When the connection drops, everything in flight is forgotten and sending restarts from
 * the oldest pending frame once reconnected: at least once, never lost, and in order per
 * device (a consumer drops repeats by the message id). Reconnects back off exponentially
 * with full jitter between mqtt.reconnect_min_ms and mqtt.reconnect_max_ms. mqtt.max_rate,
 * when set, caps publishes per second (a token bucket holding a tenth of a second's worth),
 * so a backlog after an outage drains at that pace. A will message
 * "offline" and a retained "online" on the status topic tell subscribers whether the
 * gateway is connected; an empty mqtt.status_topic sends neither. A broker that refuses
 * the status message (an ACL for the data topics only) is reported once; data goes on.
 *
 * It is the output type "mqtt" (output/output.h), configured by the [mqtt] section (struct
 * config_mqtt); the daemon runs one, named "mqtt". A PUBACK is a delivery mark to the journal
 * writer; a frame refused by the broker holds back the marks of its device's later frames
 * in that connection (they go again with it), so that the output's progress per device
 * never passes a frame it did not deliver. Frames its progress says it delivered already
 * are skipped (another output still holds them pending), and marked again when every
 * output is past them.
 *
 * Threads: mqtt_output_notify and mqtt_output_get_stats may be called from any thread;
 * start and stop from the main thread only.
 */
#ifndef SENSORBRO_MQTT_OUTPUT_H
#define SENSORBRO_MQTT_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "output/output.h"

enum mqtt_output_state {
    MQTT_OUTPUT_DISCONNECTED,
    MQTT_OUTPUT_CONNECTING,
    MQTT_OUTPUT_CONNECTED,
};

struct mqtt_output_stats {
    enum mqtt_output_state state;
    uint64_t sent;        /* handed to the broker (again after a loss: at least once) */
    uint64_t published;   /* PUBACKed by the broker */
    uint64_t refused;     /* PUBACK with a reason code >= 0x80 */
    uint64_t quarantined; /* pending frames that failed to decode or render */
    uint64_t connects;    /* successful connections */
    uint64_t connect_failures;
    uint64_t connection_losses;
    uint32_t in_flight;
    /* Liveness, for the service watchdog (main.c). The thread goes round its loop at least
     * once a second whatever the broker does, reconnecting included; answer_mono_ms is
     * when the broker last answered a publish (PUBACK or refusal) or, if later, when the
     * window last filled from empty, so it ages only while publishes wait unanswered. */
    int64_t loop_mono_ms;
    int64_t answer_mono_ms;
};

struct mqtt_output;

/* Starts the output's thread with ctx->options a struct config_mqtt. ctx and what it points
 * to must outlive the output. Returns -1 with err. */
int mqtt_output_start(struct mqtt_output **out, const struct output_context *ctx, char *err,
                      size_t err_size);
/* Tells the output that new frames were committed. Cheap; any thread. */
void mqtt_output_notify(struct mqtt_output *p);
void mqtt_output_get_stats(struct mqtt_output *p, struct mqtt_output_stats *stats);
struct report;
/* The output's figures (report.h): frames sent, PUBACKed and refused, the broker
 * connection. Touches only what it is given. */
void mqtt_output_collect(const struct mqtt_output_stats *s, struct report *r);
/* Publishes "offline", disconnects cleanly (waiting briefly for outstanding PUBACKs) and
 * joins the thread. Frames not yet acknowledged stay pending in the journal. final_stats
 * (may be NULL) receives the counters as they stand after the last PUBACK. */
void mqtt_output_stop(struct mqtt_output *p, struct mqtt_output_stats *final_stats);

/* The type, for the daemon's table of outputs (output/output.h). */
extern const struct output_type mqtt_output_type;

#endif
