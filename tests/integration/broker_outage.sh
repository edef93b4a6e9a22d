#!/usr/bin/env bash
# With the broker down, 200 frames from 4 devices are posted and each is acknowledged
# (2.04: durable in the journal). When the broker comes back, all 200 arrive, in order per
# device, none twice. The frames are encoded by Google's protoc and posted with libcoap's
# coap-client, so nothing on the sending side is sensorbro's own code.
source "$(dirname "$0")/lib.sh"

MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
DEVICES=(70b3d57ed0000a01 70b3d57ed0000a02 70b3d57ed0000a03 70b3d57ed0000a04)
PER_DEVICE=50
TOTAL=$((${#DEVICES[@]} * PER_DEVICE))

# The subscriber's session must outlive the broker restart: persistence on.
start_mosquitto "$MQTT_PORT" "persistence true" "autosave_interval 1"
subscribe_persistent "$MQTT_PORT" outage-sub "sensorbro/gw-out/+/up"
start_sensorbro gw --set gateway.id=gw-out --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 \
    --set mqtt.reconnect_min_ms=200 --set mqtt.reconnect_max_ms=1000
wait_until "sensorbro connected" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"

stop_mosquitto
wait_until "sensorbro notices the broker is gone" 15 grep -q "connection to .* lost" "$TEST_TMP/gw.log"

# Interleave the devices, as a building full of sensors would.
for ((seq = 1; seq <= PER_DEVICE; seq++)); do
    for d in "${!DEVICES[@]}"; do
        frame=$TEST_TMP/frame-$d-$seq.bin
        encode_uplink "seq: $seq interval_s: 60 age_s: 1 temperature: [$((2000 + seq)), 1] battery: [$((3600 - d))]" "$frame"
        result=$(coap_post "$COAP_PORT" "/up/${DEVICES[$d]}" "$frame")
        [ "$result" == "2.04" ] || fail "frame $seq of ${DEVICES[$d]}: expected 2.04 with the broker down, got '$result'"
    done
done
log "$TOTAL frames acknowledged with the broker down"
status=$("$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status --json)
expect_eq "pending while the broker is down" "$TOTAL" "$(jq .pending_frames <<<"$status")"

start_mosquitto "$MQTT_PORT" "persistence true" "autosave_interval 1"
collect_messages "$MQTT_PORT" outage-sub "sensorbro/gw-out/+/up" "$TOTAL" 60 "$TEST_TMP/messages.txt"
cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq -r '[.device, .seq, .id] | @tsv' >"$TEST_TMP/received.tsv"

expect_eq "messages received" "$TOTAL" "$(wc -l <"$TEST_TMP/received.tsv")"
expect_eq "distinct message ids" "$TOTAL" "$(cut -f3 "$TEST_TMP/received.tsv" | sort -u | wc -l)"
for device in "${DEVICES[@]}"; do
    got=$(awk -v d="$device" '$1 == d {printf "%s ", $2}' "$TEST_TMP/received.tsv")
    want=$(seq -s ' ' 1 "$PER_DEVICE")
    expect_eq "sequence of $device in arrival order" "$want " "$got"
done
# Nothing beyond the 200: a repeat would show up here.
collect_messages "$MQTT_PORT" outage-sub "sensorbro/gw-out/+/up" 1 2 "$TEST_TMP/extra.txt"
expect_eq "messages after the 200" 0 "$(count_new_messages "$TEST_TMP/messages.txt" "$TEST_TMP/extra.txt")"
wait_until "pending queue empty" 10 bash -c \
    "'$SENSORBROCTL_BIN' -j '$SB_DIR/sensorbro.db' status --json | jq -e '.pending_frames == 0'"
stop_sensorbro
log "ok"
