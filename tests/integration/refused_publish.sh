#!/usr/bin/env bash
# A broker that refuses publishes by ACL (MQTT 5 PUBACK reason 0x87) does not make frames
# disappear: they stay pending in the journal, the refusal is logged once, and when the
# ACL is fixed they are published, in order. (Under MQTT 3.1.1 the broker would acknowledge
# and drop them: that is why MQTT 5 is the default.)
source "$(dirname "$0")/lib.sh"

MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
ACL=$TEST_TMP/acl
printf 'topic readwrite sensorbro/gw-acl/status\ntopic read sensorbro/#\n' >"$ACL"
start_mosquitto "$MQTT_PORT" "acl_file $ACL"
subscribe_persistent "$MQTT_PORT" acl-sub "sensorbro/gw-acl/+/up"
start_sensorbro gw --set gateway.id=gw-acl --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 \
    --set mqtt.reconnect_min_ms=100 --set mqtt.reconnect_max_ms=500
wait_until "sensorbro connected" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"

for seq in 1 2 3 4 5; do
    encode_uplink "seq: $seq interval_s: 60 co2: [$((600 + seq))]" "$TEST_TMP/f$seq.bin"
    expect_eq "frame $seq" "2.04" "$(coap_post "$COAP_PORT" /up/00000000000000a1 "$TEST_TMP/f$seq.bin")"
done
wait_until "the refusal logged" 10 grep -q "broker refused the publish" "$TEST_TMP/gw.log"
sleep 2 # several retry rounds, all refused
pending=$("$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status --json | jq .pending_frames)
expect_eq "frames pending while refused" 5 "$pending"
expect_eq "error lines for the run of refusals" 1 \
    "$(grep -c "error .*broker refused the publish" "$TEST_TMP/gw.log")"
grep -q "Not authorized (0x87)" "$TEST_TMP/gw.log" || fail "reason code 0x87 not reported"

# Fix the ACL; Mosquitto rereads it on SIGHUP.
printf 'topic readwrite sensorbro/#\n' >"$ACL"
kill -HUP "$MOSQ_PID"
collect_messages "$MQTT_PORT" acl-sub "sensorbro/gw-acl/+/up" 5 20 "$TEST_TMP/messages.txt"
expect_eq "sequence after the fix" "1 2 3 4 5" \
    "$(cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq -r .seq | paste -sd' ')"
wait_until "pending queue empty" 10 bash -c \
    "'$SENSORBROCTL_BIN' -j '$SB_DIR/sensorbro.db' status --json | jq -e '.pending_frames == 0'"
stop_sensorbro
log "ok"
