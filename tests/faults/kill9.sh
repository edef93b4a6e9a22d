#!/usr/bin/env bash
# kill -9: while the fleet simulator sends 50,000 uplinks over CoAP, sensorbro is killed
# with SIGKILL 20 times at random moments and restarted at once. After a final drain:
#   - every uplink acknowledged to its sender (2.04, in fleet-sim's --log-sent) reached the
#     broker at least once (durable before acknowledged, at least once);
#   - per device, uplinks first appear in sequence order (in order per device);
#   - duplicates stay within what a kill can leave unconfirmed: the MQTT in-flight window
#     plus the CoAP requests committed but not yet answered, per kill;
#   - all the while a second process works on the journal (sensorbroctl status, device
#     add/list/remove, quarantine), and before each kill the daemon still holds its own
#     journal, -wal and -shm files (none deleted or replaced under it).
# The figures (duplicates per kill, wall time) go to the log and to $FAULTS_REPORT_DIR.
source "$(dirname "$0")/faults_lib.sh"

UPLINKS=${KILL9_UPLINKS:-50000}
KILLS=${KILL9_KILLS:-20}
SENSORS=50
RATE=1500 # 33 s of sending: room for 20 kills and restarts on a busy machine
MAX_INFLIGHT=32
MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
SEED=${KILL9_SEED:-$RANDOM}
RANDOM=$SEED
log "seed $SEED (KILL9_SEED=$SEED repeats the kill moments)"

start_mosquitto "$MQTT_PORT"
start_subscriber "$MQTT_PORT" 'sensorbro/gw-k9/+/up'

UDP_PORT=$(free_port)
SB_ARGS=(--set gateway.id=gw-k9 --set mqtt.port="$MQTT_PORT" --set coap.port="$COAP_PORT"
    --set coap.bind=127.0.0.1 --set semtech_udp.port="$UDP_PORT" --set mqtt.max_inflight="$MAX_INFLIGHT"
    --set mqtt.reconnect_min_ms=100 --set mqtt.reconnect_max_ms=500)
start_sensorbro gw "${SB_ARGS[@]}"

# restart: a new daemon on the same journal; waits for its own "listening" line.
restart()
{
    local before
    before=$(grep -c "coap: listening" "$TEST_TMP/gw.log" || true)
    (cd "$SB_DIR" && exec "$SENSORBRO_BIN" "${SB_ARGS[@]}" "${ROOT_KEEP_ARGS[@]}" "${HTTP_ARGS[@]}" "${COAP_ARGS[@]}") >>"$TEST_TMP/gw.log" 2>&1 &
    SB_PID=$!
    STARTED_PIDS+=("$SB_PID")
    wait_until "sensorbro restarted" 20 \
        bash -c "[ \$(grep -c 'coap: listening' '$TEST_TMP/gw.log') -gt $before ]"
}

started_s=$(date +%s.%N)
start_fleet "$COAP_PORT" "$UPLINKS" "$RATE" "$SENSORS"
ctl_loop "$SB_DIR/sensorbro.db" 300 &
CTL_PID=$!
STARTED_PIDS+=("$CTL_PID")

# Kill moments spread over the sending time (UPLINKS / RATE seconds), 0.2-1.2 s apart.
for ((k = 1; k <= KILLS; k++)); do
    sleep "$(awk -v r=$((RANDOM % 1000)) 'BEGIN {printf "%.3f", 0.2 + r / 1000}')"
    kill -0 "$FLEET_PID" 2>/dev/null || fail "the fleet finished before kill $k: raise UPLINKS"
    detached=$(check_journal_fds "$SB_PID" "$SB_DIR/sensorbro.db")
    [ -z "$detached" ] || fail "before kill $k the daemon's journal was detached: $detached"
    kill -KILL "$SB_PID"
    wait "$SB_PID" 2>/dev/null || true
    restart
done
log "$KILLS kills done; letting the fleet finish"
touch "$TEST_TMP/ctl.stop"
wait "$CTL_PID" || true
CTL_ROUNDS=$(cat "$TEST_TMP/ctl.rounds" 2>/dev/null || echo 0)
[ "$CTL_ROUNDS" -gt 5 ] || fail "the second process touched the journal only $CTL_ROUNDS times"

wait_fleet 300
sent_s=$(date +%s.%N)
wait_drained 120
drained_s=$(date +%s.%N)
# PUBACKed means the broker has it; the subscriber may still be reading the last few.
wait_until "subscriber has every uplink" 30 bash -c \
    "[ \$(wc -l <'$TEST_TMP/messages.json') -ge $UPLINKS ]"
stop_sensorbro
stop_pid "$SUB_PID"

check_delivery "$UPLINKS" $((KILLS * (MAX_INFLIGHT + SENSORS)))
report kill9 \
    "uplinks acknowledged" "$ACKED" \
    "messages received" "$RECEIVED" \
    "distinct uplinks received" "$DISTINCT" \
    "kills (SIGKILL)" "$KILLS" \
    "sensorbroctl rounds meanwhile" "$CTL_ROUNDS" \
    "duplicates" "$DUPLICATES" \
    "duplicates per kill" "$(awk -v d="$DUPLICATES" -v k="$KILLS" 'BEGIN {printf "%.1f", d / k}')" \
    "duplicate bound per kill" "$((MAX_INFLIGHT + SENSORS))" \
    "send time with kills (s)" "$(seconds_between "$started_s" "$sent_s")" \
    "drain after the last uplink (s)" "$(seconds_between "$sent_s" "$drained_s")" \
    "seed" "$SEED"
log "ok"
