#!/usr/bin/env bash
# Journal cap reached with the broker down, once per policy:
#   drop_oldest: every uplink is acknowledged; the oldest pending frames are dropped; the
#     counters add up (acknowledged = pending + dropped), the journal stays within its cap,
#     and the newest frames are the ones kept and published when the broker returns;
#   reject_new: once full, senders get 5.03 and retry; nothing is dropped, every frame
#     acknowledged is kept and published.
# Both end with PRAGMA integrity_check ok.
source "$(dirname "$0")/faults_lib.sh"

CAP_MB=1
UPLINKS=12000
BROKER_CONF=("persistence true" "autosave_interval 1")

# run_policy POLICY: fills a 1 MiB journal with the broker down; leaves the status in
# $TEST_TMP/POLICY.json and the acknowledged uplinks in $TEST_TMP/acked.csv.
run_policy()
{
    local policy=$1
    MQTT_PORT=$(free_port)
    COAP_PORT=$(free_port)
    rm -f "$TEST_TMP/messages.json" "$TEST_TMP/acked.csv"
    # The subscriber's session exists before the outage, so it gets everything published
    # the moment the broker is back.
    start_mosquitto "$MQTT_PORT" "${BROKER_CONF[@]}"
    subscribe_persistent "$MQTT_PORT" "$TEST_NAME-sub" 'sensorbro/gw-cap/+/up'
    stop_mosquitto
    SB_ARGS=(--set gateway.id=gw-cap --set mqtt.port="$MQTT_PORT" --set coap.port="$COAP_PORT"
        --set coap.bind=127.0.0.1 --set journal.max_mb="$CAP_MB" --set journal.retention_h=0
        --set journal.full_policy="$policy" --set mqtt.reconnect_min_ms=100
        --set mqtt.reconnect_max_ms=500)
    start_sensorbro "$policy" "${SB_ARGS[@]}"
    if [ "$policy" == drop_oldest ]; then
        start_fleet "$COAP_PORT" "$UPLINKS" 3000 20
        wait_fleet 120
    else
        # Rejected uplinks are retried for ever: stop the fleet after the journal filled.
        "$FLEET_SIM_BIN" --port "$COAP_PORT" --sensors 20 --seed 9 --rate 3000 --duration 6 \
            --timeout-ms 1500 --log-sent "$TEST_TMP/acked.csv" -q 2>"$TEST_TMP/fleet.log" || true
        grep -q "journal: full at the size cap" "$TEST_TMP/$policy.log" ||
            fail "reject_new never reported the journal full"
    fi
    "$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status --json >"$TEST_TMP/$policy.json"
    "$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" journal check >/dev/null ||
        fail "$policy: integrity_check is not ok"
    log "$policy: $(cat "$TEST_TMP/$policy.json")"
}

# --- drop_oldest
run_policy drop_oldest
status=$(cat "$TEST_TMP/drop_oldest.json")
acked=$(($(wc -l <"$TEST_TMP/acked.csv") - 1))
pending=$(jq .pending_frames <<<"$status")
dropped=$(jq .dropped_journal_full <<<"$status")
expect_eq "drop_oldest: uplinks acknowledged" "$UPLINKS" "$acked"
[ "$dropped" -gt 0 ] || fail "drop_oldest: nothing dropped: the cap was never reached"
expect_eq "drop_oldest: acknowledged = pending + dropped" "$acked" "$((pending + dropped))"
used_mb=$(jq '.database_bytes / 1048576' <<<"$status")
jq -e ".database_bytes <= $(((CAP_MB + 1) * 1048576))" <<<"$status" >/dev/null ||
    fail "drop_oldest: journal file of $used_mb MiB, cap $CAP_MB MiB"
start_mosquitto "$MQTT_PORT" "${BROKER_CONF[@]}"
start_subscriber "$MQTT_PORT" 'sensorbro/gw-cap/+/up'
wait_drained 60
wait_until "subscriber has the kept frames" 30 bash -c \
    "[ \$(wc -l <'$TEST_TMP/messages.json') -ge $pending ]"
stop_sensorbro
stop_pid "$SUB_PID"
stop_mosquitto
# The kept frames are the newest: per device, the last ones acknowledged.
jq -r '[.device, .seq] | @tsv' "$TEST_TMP/messages.json" | sort -u >"$TEST_TMP/kept.tsv"
expect_eq "drop_oldest: frames published after the outage" "$pending" "$(wc -l <"$TEST_TMP/kept.tsv")"
newest=$(tail -n +2 "$TEST_TMP/acked.csv" | awk -F, '{print $1 "\t" $2}' | tail -n "$pending" | sort -u)
expect_eq "drop_oldest: the newest $pending acknowledged frames were kept" 0 \
    "$(comm -3 "$TEST_TMP/kept.tsv" <(echo "$newest") | wc -l)"

# --- reject_new
run_policy reject_new
status=$(cat "$TEST_TMP/reject_new.json")
acked=$(($(wc -l <"$TEST_TMP/acked.csv") - 1))
pending_rn=$(jq .pending_frames <<<"$status")
expect_eq "reject_new: frames dropped" 0 "$(jq '.dropped_journal_full + .dropped_disk_floor' <<<"$status")"
expect_eq "reject_new: acknowledged = pending" "$acked" "$pending_rn"
grep -q "5.03" "$TEST_TMP/fleet.log" || grep -q "re-sent" "$TEST_TMP/fleet.log" ||
    log "note: fleet summary: $(tail -n 3 "$TEST_TMP/fleet.log")"
start_mosquitto "$MQTT_PORT" "${BROKER_CONF[@]}"
start_subscriber "$MQTT_PORT" 'sensorbro/gw-cap/+/up'
wait_drained 60
wait_until "subscriber has every acknowledged frame" 30 bash -c \
    "[ \$(wc -l <'$TEST_TMP/messages.json') -ge $acked ]"
stop_sensorbro
report cap_reached \
    "cap (MiB)" "$CAP_MB" \
    "drop_oldest: acknowledged" "$UPLINKS" \
    "drop_oldest: dropped (oldest)" "$dropped" \
    "drop_oldest: kept and published" "$pending" \
    "reject_new: acknowledged and kept" "$pending_rn" \
    "reject_new: dropped" 0
log "ok"
