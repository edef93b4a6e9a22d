#!/usr/bin/env bash
# The status topic under a broker that lets the gateway write its data topics only (as
# OS2iot's per-device ACL does): the refused "online" (MQTT 5 PUBACK 0x87) is reported once
# per run, not at every reconnect, and readings are published all the same. With
# mqtt.status_topic empty there is no status message and no will at all: after a kill -9
# nothing but the readings ever reached the broker's subscribers.
source "$(dirname "$0")/lib.sh"

# --- the broker refuses the status topic ---
MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
ACL=$TEST_TMP/acl
printf 'topic readwrite sensorbro/gw-st/+/up\n' >"$ACL"
start_mosquitto "$MQTT_PORT" "acl_file $ACL" "log_type all"
subscribe_persistent "$MQTT_PORT" st-sub "sensorbro/gw-st/+/up"
start_sensorbro gw --set gateway.id=gw-st --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 --set log.level=debug \
    --set mqtt.reconnect_min_ms=100 --set mqtt.reconnect_max_ms=300
wait_until "the status refused" 15 grep -q "broker refused the status message" "$TEST_TMP/gw.log"
for seq in 1 2; do
    encode_uplink "seq: $seq interval_s: 60 co2: [$((500 + seq))]" "$TEST_TMP/f$seq.bin"
    expect_eq "frame $seq" 2.04 "$(coap_post "$COAP_PORT" /up/00000000000000b1 "$TEST_TMP/f$seq.bin")"
done
collect_messages "$MQTT_PORT" st-sub "sensorbro/gw-st/+/up" 2 15 "$TEST_TMP/m1.txt"
expect_eq "readings with the status refused" "1 2" \
    "$(cut -d' ' -f2- "$TEST_TMP/m1.txt" | jq -r .seq | paste -sd' ')"

# A broker restart: sensorbro reconnects and says "online" again, refused again, and says
# so at the debug level only.
stop_mosquitto
start_mosquitto "$MQTT_PORT" "acl_file $ACL" "log_type all"
wait_until "reconnected" 20 bash -c "[ \$(grep -c 'mqtt: connected' '$TEST_TMP/gw.log') -ge 2 ]"
subscribe_persistent "$MQTT_PORT" st-sub2 "sensorbro/gw-st/+/up"
encode_uplink "seq: 3 interval_s: 60 co2: [503]" "$TEST_TMP/f3.bin"
expect_eq "frame 3" 2.04 "$(coap_post "$COAP_PORT" /up/00000000000000b1 "$TEST_TMP/f3.bin")"
collect_messages "$MQTT_PORT" st-sub2 "sensorbro/gw-st/+/up" 1 15 "$TEST_TMP/m2.txt"
expect_eq "reading after the reconnect" 3 "$(cut -d' ' -f2- "$TEST_TMP/m2.txt" | jq .seq)"
wait_until "the second refusal" 10 \
    bash -c "[ \$(grep -c 'broker refused the status message' '$TEST_TMP/gw.log') -ge 2 ]"
expect_eq "warnings about the status topic in the run" 1 \
    "$(grep -c 'warn  mqtt: broker refused the status message on sensorbro/gw-st/status: Not authorized (0x87); readings are published all the same' "$TEST_TMP/gw.log")"
stop_sensorbro
grep -q "Denied PUBLISH from sensorbro-gw-st .*'sensorbro/gw-st/status'" "$TEST_TMP/mosquitto.log" ||
    fail "the broker never refused the status topic: the test proves nothing"
stop_mosquitto

# --- mqtt.status_topic empty: no status, no will ---
MQTT_PORT=$(free_port)
start_mosquitto "$MQTT_PORT"
mosquitto_sub -p "$MQTT_PORT" -v -t "sensorbro/#" -W 60 >"$TEST_TMP/everything.txt" \
    2>>"$TEST_TMP/sub.log" &
SUB_PID=$!
STARTED_PIDS+=("$SUB_PID")
start_sensorbro off --set gateway.id=gw-off --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 --set mqtt.status_topic=
wait_until "connected" 15 grep -q "mqtt: connected" "$TEST_TMP/off.log"
encode_uplink "seq: 9 interval_s: 60 co2: [509]" "$TEST_TMP/f9.bin"
expect_eq "frame with the status off" 2.04 \
    "$(coap_post "$COAP_PORT" /up/00000000000000b2 "$TEST_TMP/f9.bin")"
wait_until "the reading" 15 grep -q "sensorbro/gw-off/00000000000000b2/up" "$TEST_TMP/everything.txt"
kill -KILL "$SB_PID" # a will would be sent now
wait "$SB_PID" 2>/dev/null || true
SB_PID=""
# The broker sends a will as soon as it sees the connection drop; give it a second.
sleep 1
stop_pid "$SUB_PID"
expect_eq "messages from the gateway without a status topic" "sensorbro/gw-off/00000000000000b2/up" \
    "$(cut -d' ' -f1 "$TEST_TMP/everything.txt" | paste -sd' ')"
! grep -q "status" "$TEST_TMP/off.log" || fail "status message mentioned: $(grep status "$TEST_TMP/off.log")"
log "ok"
