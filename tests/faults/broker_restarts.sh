#!/usr/bin/env bash
# The broker restarts RESTARTS (10) times at random moments under load, down 0.5-4 s each
# time: nothing acknowledged is lost, order per device holds, duplicates stay within the
# in-flight window per restart. The fleet sends from before the first restart until
# AFTER_S after the last one, however long the restarts take.
source "$(dirname "$0")/faults_lib.sh"

RESTARTS=${RESTARTS:-10}
SENSORS=50
RATE=1000
AFTER_S=2
MAX_INFLIGHT=32
MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
SEED=${RESTARTS_SEED:-$RANDOM}
RANDOM=$SEED
log "seed $SEED (RESTARTS_SEED=$SEED repeats the gaps)"

BROKER_CONF=("persistence true" "autosave_interval 1")
start_mosquitto "$MQTT_PORT" "${BROKER_CONF[@]}"
start_subscriber "$MQTT_PORT" 'sensorbro/gw-br/+/up'
start_sensorbro gw --set gateway.id=gw-br --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 \
    --set mqtt.max_inflight="$MAX_INFLIGHT" \
    --set mqtt.reconnect_min_ms=200 --set mqtt.reconnect_max_ms=2000
wait_until "sensorbro connected" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"

started_s=$(date +%s.%N)
start_fleet "$COAP_PORT" 0 "$RATE" "$SENSORS"
random_s() { awk -v lo="$1" -v span="$2" -v r=$((RANDOM % 1000)) 'BEGIN {printf "%.3f", lo + span * r / 1000}'; }
for ((k = 1; k <= RESTARTS; k++)); do
    sleep "$(random_s 0.5 2.5)"
    kill -0 "$FLEET_PID" 2>/dev/null || fail "the fleet stopped before restart $k (see fleet.log)"
    stop_mosquitto
    sleep "$(random_s 0.5 3.5)"
    start_mosquitto "$MQTT_PORT" "${BROKER_CONF[@]}"
done
log "$RESTARTS broker restarts done"
sleep "$AFTER_S"
kill -TERM "$FLEET_PID"
wait_fleet 30
UPLINKS=$(sed -n 's/^ *delivered (2.04) *\([0-9]*\).*/\1/p' "$TEST_TMP/fleet.log")
[ -n "$UPLINKS" ] && [ "$UPLINKS" -gt 0 ] || fail "no fleet summary in fleet.log"
sent_s=$(date +%s.%N)
wait_drained 120
drained_s=$(date +%s.%N)
wait_until "subscriber has every uplink" 60 bash -c \
    "[ \$(wc -l <'$TEST_TMP/messages.json') -ge $UPLINKS ]"
stop_sensorbro
stop_pid "$SUB_PID"

check_delivery "$UPLINKS" $((RESTARTS * 2 * MAX_INFLIGHT))
report broker_restarts \
    "uplinks acknowledged" "$ACKED" \
    "broker restarts" "$RESTARTS" \
    "messages received" "$RECEIVED" \
    "duplicates" "$DUPLICATES" \
    "duplicates per restart" "$(awk -v d="$DUPLICATES" -v k="$RESTARTS" 'BEGIN {printf "%.1f", d / k}')" \
    "send time with restarts (s)" "$(seconds_between "$started_s" "$sent_s")" \
    "drain after the last uplink (s)" "$(seconds_between "$sent_s" "$drained_s")" \
    "seed" "$SEED"
log "ok"
