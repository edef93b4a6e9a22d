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
    log "$policy: $(jq -c 'del(.sensorbro)' "$TEST_TMP/$policy.json")"
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
# The daemon's own counters, as its clean stop left them, add up: everything received was
# committed, and everything committed was published, dropped, or is still pending.
final=$("$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status --json)
counter() { jq --arg name "$1" '.sensorbro.metrics[$name] // "missing"' <<<"$final"; }
expect_eq "drop_oldest: sensorbro stopped cleanly" '"stopped"' "$(jq .sensorbro.state <<<"$final")"
expect_eq "drop_oldest: received (coap)" "$UPLINKS" "$(counter 'sensorbro_frames_received_total{transport="coap"}')"
expect_eq "drop_oldest: committed" "$UPLINKS" "$(counter sensorbro_frames_committed_total)"
expect_eq "drop_oldest: dropped (journal full)" "$dropped" "$(counter 'sensorbro_frames_dropped_total{reason="journal_full"}')"
published=$(counter sensorbro_frames_published_total)
expect_eq "drop_oldest: committed = published + dropped + pending" "$UPLINKS" \
    "$((published + dropped + $(jq .pending_frames <<<"$final")))"
# The kept frames are the newest. Per device that is exact: a node sends its next uplink
# only after the last one was acknowledged, so its seqs are in commit order, and what is
# kept must be a suffix of what was acknowledged. Across devices the journal's commit order
# is seen from outside only through the times the 2.04s arrived, which a batch's answers
# reach in any order: no dropped frame may have been acknowledged more than half a second
# after the first kept one.
jq -r '[.device, .seq] | @tsv' "$TEST_TMP/messages.json" | sort -u >"$TEST_TMP/kept.tsv"
expect_eq "drop_oldest: frames published after the outage" "$pending" "$(wc -l <"$TEST_TMP/kept.tsv")"
tail -n +2 "$TEST_TMP/acked.csv" | awk -F, '{print $1 "\t" $2 "\t" $3}' >"$TEST_TMP/acked-ms.tsv"
expect_eq "drop_oldest: published frames that were never acknowledged" 0 \
    "$(cut -f1,2 "$TEST_TMP/acked-ms.tsv" | sort -u | comm -13 - "$TEST_TMP/kept.tsv" | wc -l)"
verdict=$(awk -F'\t' 'FNR == NR { kept[$1 FS $2] = 1; next }
    ($1 FS $2) in kept { if (!($1 in min_kept) || $2 + 0 < min_kept[$1]) min_kept[$1] = $2 + 0
                         if (first_kept_ms == "" || $3 + 0 < first_kept_ms) first_kept_ms = $3 + 0; next }
    { if (!($1 in max_dropped) || $2 + 0 > max_dropped[$1]) max_dropped[$1] = $2 + 0
      if ($3 + 0 > last_dropped_ms) last_dropped_ms = $3 + 0 }
    END { for (d in max_dropped) if (d in min_kept && max_dropped[d] > min_kept[d]) {
              print "device " d ": seq " max_dropped[d] " dropped but " min_kept[d] " kept"; exit }
          if (last_dropped_ms - first_kept_ms > 500)
              print "a dropped frame was acknowledged " last_dropped_ms - first_kept_ms " ms after the first kept one"
          else print "ok" }' "$TEST_TMP/kept.tsv" "$TEST_TMP/acked-ms.tsv")
expect_eq "drop_oldest: the oldest frames were dropped, the newest kept" ok "$verdict"

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
