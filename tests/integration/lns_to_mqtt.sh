#!/usr/bin/env bash
# A ChirpStack v4 uplink event, published with mosquitto_pub on a real Mosquitto (one broker
# for the feed and for the output), is decoded and republished as sensorbro's JSON, checked
# field by field. The same event again (same deduplicationId) gives no second message; bad
# events are counted and quarantined, and never reach the output.
source "$(dirname "$0")/lib.sh"

MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
APP=a1b2c3d4-0000-1111-2222-333344445555
DEVICE=70b3d57ed0001234
UP_TOPIC=application/$APP/device/$DEVICE/event/up
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" lns-sub "sensorbro/gw-lns/+/up"
start_sensorbro gw --set gateway.id=gw-lns --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 \
    --set lns_mqtt.enabled=true --set lns_mqtt.host=127.0.0.1 --set lns_mqtt.port="$MQTT_PORT"
wait_until "lns-mqtt subscribed" 15 grep -q "lns-mqtt: subscribed to application/+/device/+/event/up" "$TEST_TMP/gw.log"

# The payload is encoded by Google's protoc, the event written by hand as ChirpStack does.
encode_uplink 'seq: 7 interval_s: 60 age_s: 5 temperature: [2100, 5] co2: [612]' "$TEST_TMP/frame.bin"
DATA=$(base64 -w0 "$TEST_TMP/frame.bin")
# heard half a minute ago, by the network server's clock
HEARD_S=$(($(date +%s) - 30))
HEARD=$(date -u -d "@$HEARD_S" +%Y-%m-%dT%H:%M:%S.250000Z)
chirpstack_event 3e3a8b7c-1234-4f00-9a1b-0123456789ab 70B3D57ED0001234 42 "$DATA" "" "$HEARD" >"$TEST_TMP/ev1.json"
encode_uplink 'seq: 8 interval_s: 60 temperature: [2110]' "$TEST_TMP/frame2.bin"
chirpstack_event 4e3a8b7c-1234-4f00-9a1b-0123456789ab 70B3D57ED0001234 43 "$(base64 -w0 "$TEST_TMP/frame2.bin")" "" "$HEARD" >"$TEST_TMP/ev2.json"

before_s=$(date +%s)
mosquitto_pub -p "$MQTT_PORT" -q 1 -t "$UP_TOPIC" -f "$TEST_TMP/ev1.json"
# the same event again: ChirpStack redelivering, or a second integration
mosquitto_pub -p "$MQTT_PORT" -q 1 -t "$UP_TOPIC" -f "$TEST_TMP/ev1.json"
# bad events: not JSON; bad base64; no devEui; an undecodable payload (quarantined)
mosquitto_pub -p "$MQTT_PORT" -q 1 -t "$UP_TOPIC" -m 'this is not json'
chirpstack_event 5e3a8b7c-0000-0000-0000-000000000001 70B3D57ED0001234 44 'AB!D' |
    mosquitto_pub -p "$MQTT_PORT" -q 1 -t "$UP_TOPIC" -s
chirpstack_event 5e3a8b7c-0000-0000-0000-000000000002 '' 45 "$DATA" |
    mosquitto_pub -p "$MQTT_PORT" -q 1 -t "$UP_TOPIC" -s
chirpstack_event 5e3a8b7c-0000-0000-0000-000000000003 70B3D57ED0001234 46 "$(printf '\xff\xff\xff' | base64)" "" "$HEARD" |
    mosquitto_pub -p "$MQTT_PORT" -q 1 -t "$UP_TOPIC" -s
# a later good event: it arrives after all of the above (one topic, QoS 1, in order)
mosquitto_pub -p "$MQTT_PORT" -q 1 -t "$UP_TOPIC" -f "$TEST_TMP/ev2.json"

collect_messages "$MQTT_PORT" lns-sub "sensorbro/gw-lns/+/up" 2 15 "$TEST_TMP/messages.txt"
expect_eq "messages after the marker event" 2 "$(wc -l <"$TEST_TMP/messages.txt")"
topic=$(head -n 1 "$TEST_TMP/messages.txt" | cut -d' ' -f1)
json=$(head -n 1 "$TEST_TMP/messages.txt" | cut -d' ' -f2-)
expect_eq topic "sensorbro/gw-lns/$DEVICE/up" "$topic"
field() { jq -c "$1" <<<"$json"; }
epoch=$(field .epoch)
[ "$epoch" -ge "$before_s" ] && [ "$epoch" -le "$(date +%s)" ] || fail "epoch $epoch is not the first frame's receipt"
expect_eq id "\"$DEVICE-$epoch-7\"" "$(field .id)"
expect_eq device "\"$DEVICE\"" "$(field .device)"
expect_eq gateway '"gw-lns"' "$(field .gateway)"
expect_eq seq 7 "$(field .seq)"
expect_eq transport '"lns-mqtt"' "$(field .transport)"
expect_eq fcnt 42 "$(field .fcnt)"
expect_eq fport 2 "$(field .fport)"
expect_eq rssi_dbm -80 "$(field .rssi_dbm)"
expect_eq snr_db 3 "$(field .snr_db)"
expect_eq frequency_hz 868100000 "$(field .frequency_hz)"
expect_eq datr '"SF7BW125"' "$(field .datr)"
expect_eq gateways '["0016c001ff10a236","0016c001ff10a235"]' "$(field .gateways)"
expect_eq interval_s 60 "$(field .interval_s)"
expect_eq values '{"temperature_c":21.05,"co2_ppm":612}' "$(field .values)"
received_s=$(jq -r '.received | sub("\\.[0-9]+Z$"; "Z") | fromdate' <<<"$json")
[ "$received_s" -ge "$before_s" ] && [ "$received_s" -le "$(date +%s)" ] ||
    fail "received $received_s is not the time of reception"
# the samples are timed from when the frame was heard (its last one age_s = 5 s before)
expect_eq heard "\"$(date -u -d "@$HEARD_S" +%Y-%m-%dT%H:%M:%S).250Z\"" "$(field .heard)"
expect_eq "sample times" "[\"$(date -u -d "@$((HEARD_S - 65))" +%FT%TZ)\",\"$(date -u -d "@$((HEARD_S - 5))" +%FT%TZ)\"]" \
    "$(field '[.samples[].time]')"
expect_eq "second message" "\"$DEVICE-$epoch-8\"" "$(tail -n 1 "$TEST_TMP/messages.txt" | cut -d' ' -f2- | jq -c .id)"

# Nothing more: the duplicate and the bad events were not published.
collect_messages "$MQTT_PORT" lns-sub "sensorbro/gw-lns/+/up" 1 2 "$TEST_TMP/more.txt"
expect_eq "messages beyond the two" 0 "$(count_new_messages "$TEST_TMP/messages.txt" "$TEST_TMP/more.txt")"

# The journal holds 2 frames and 4 quarantined events, with their reasons and raw bytes.
status=$("$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status)
grep -Eq '^frames ever journaled +2$' <<<"$status" || fail "expected 2 frames journaled: $status"
"$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" quarantine >"$TEST_TMP/quarantine.txt"
expect_eq "quarantined events" 4 "$(wc -l <"$TEST_TMP/quarantine.txt")"
expect_eq "transports" "lns-mqtt" "$(cut -f4 "$TEST_TMP/quarantine.txt" | sort -u)"
line() { sed -n "$1p" "$TEST_TMP/quarantine.txt"; }
expect_eq "not JSON: reason" "event: not JSON (raw event kept, 16 of 16 bytes)" "$(line 1 | cut -f6)"
expect_eq "not JSON: raw bytes" "$(printf 'this is not json' | od -An -v -tx1 | tr -d ' \n')" "$(line 1 | cut -f7)"
expect_eq "not JSON: device" 0000000000000000 "$(line 1 | cut -f3)"
grep -q "data: not base64" <<<"$(line 2 | cut -f6)" || fail "bad base64: $(line 2)"
expect_eq "bad base64: device" "$DEVICE" "$(line 2 | cut -f3)"
grep -q "^deviceInfo.devEui: not 16 hex digits (raw event kept, [0-9]* of [0-9]* bytes)$" <<<"$(line 3 | cut -f6)" ||
    fail "no devEui: $(line 3)"
expect_eq "no devEui: device" 0000000000000000 "$(line 3 | cut -f3)"
expect_eq "undecodable: reason" "protobuf: not a valid Uplink (truncated or malformed)" "$(line 4 | cut -f6)"
expect_eq "undecodable: raw bytes" ffffff "$(line 4 | cut -f7)"

stop_sensorbro
grep -q "stats: lns-mqtt events 7 (journaled 2, duplicates 1, without data 0, bad 3, quarantined 4, not stored 0, times untrusted 0)" \
    "$TEST_TMP/gw.log" || fail "counters at stop: $(grep 'stats: lns' "$TEST_TMP/gw.log")"
log "ok"
