#!/usr/bin/env bash
# Broker outage under load: the fleet simulator sends steadily; the broker is stopped for
# OUTAGE_S (60 s) and started again. Nothing acknowledged is lost, order per device holds,
# and the backlog drains; the drain rate is reported.
source "$(dirname "$0")/faults_lib.sh"

OUTAGE_S=${OUTAGE_S:-60}
SENSORS=50
RATE=400
BEFORE_S=5
AFTER_S=10
UPLINKS=$((RATE * (BEFORE_S + OUTAGE_S + AFTER_S)))
MAX_INFLIGHT=32
MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)

# Persistence: the subscriber's session, with whatever it has not read, survives the stop.
BROKER_CONF=("persistence true" "autosave_interval 1")
start_mosquitto "$MQTT_PORT" "${BROKER_CONF[@]}"
start_subscriber "$MQTT_PORT" 'sensorbro/gw-bo/+/up'
start_sensorbro gw --set gateway.id=gw-bo --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 \
    --set mqtt.max_inflight="$MAX_INFLIGHT" \
    --set mqtt.reconnect_min_ms=500 --set mqtt.reconnect_max_ms=5000
wait_until "sensorbro connected" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"

start_fleet "$COAP_PORT" "$UPLINKS" "$RATE" "$SENSORS"
sleep "$BEFORE_S"
stop_mosquitto
log "broker stopped for $OUTAGE_S s under $RATE uplinks/s"
sleep "$OUTAGE_S"
pending_at_return=$("$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status --json | jq .pending_frames)
[ "$pending_at_return" -gt $((RATE * OUTAGE_S / 2)) ] ||
    fail "only $pending_at_return frames pending after the outage: was the broker really gone?"
returned_s=$(date +%s.%N)
start_mosquitto "$MQTT_PORT" "${BROKER_CONF[@]}"
# The drain starts when sensorbro reconnects (its backoff may wait up to reconnect_max_ms).
wait_until "sensorbro reconnected" 30 bash -c \
    "[ \$(grep -c 'mqtt: connected' '$TEST_TMP/gw.log') -ge 2 ]"
reconnected_s=$(date +%s.%N)
wait_drained 120
drained_s=$(date +%s.%N)
wait_fleet 120
wait_drained 60
wait_until "subscriber has every uplink" 60 bash -c \
    "[ \$(wc -l <'$TEST_TMP/messages.json') -ge $UPLINKS ]"
stop_sensorbro
stop_pid "$SUB_PID"

# No kill: duplicates come only from a connection lost with PUBLISHes unconfirmed.
check_delivery "$UPLINKS" $((2 * MAX_INFLIGHT))
drain_s=$(seconds_between "$reconnected_s" "$drained_s")
report broker_outage \
    "uplinks acknowledged" "$ACKED" \
    "outage (s)" "$OUTAGE_S" \
    "pending when the broker returned" "$pending_at_return" \
    "reconnected after the return (s)" "$(seconds_between "$returned_s" "$reconnected_s")" \
    "backlog drained after reconnect (s)" "$drain_s" \
    "drain rate (msg/s, incl. new load)" "$(awk -v n="$pending_at_return" -v t="$drain_s" -v r="$RATE" 'BEGIN {printf "%.0f", (t > 0) ? n / t + r : 0}')" \
    "messages received" "$RECEIVED" \
    "duplicates" "$DUPLICATES"
log "ok"
