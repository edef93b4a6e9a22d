#!/usr/bin/env bash
# Hostile GWMP and LoRaWAN input: short datagrams, a wrong protocol version, a type only
# the server sends, broken JSON, oversize and invalid rxpk fields, FSK, a bad CRC, a
# tampered frame, an unknown DevAddr, an old counter, a late duplicate, and after a restart
# a replay of the frame that was accepted. Every one is counted under its reason (the
# daemon's stats line at stop), the daemon neither crashes nor leaks (status 0, also under
# ASan), and only the one genuine frame is published.
source "$(dirname "$0")/lib.sh"
GWMP=(python3 "$(dirname "$0")/gwmp_tool.py")

MQTT_PORT=$(free_port)
UDP_PORT=$(free_port)
NWK=3C8F262739BFE3B7BC0826991AD0504D
APPS=2B7E151628AED2A6ABF7158809CF4F3C
EUI=aa555a0000000001
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up"
mkdir -p "$TEST_TMP/gw"
"$SENSORBROCTL_BIN" -j "$TEST_TMP/gw/sensorbro.db" device add --dev-eui 70b3d57ed0000001 \
    --dev-addr 26011BDA --nwk-s-key "$NWK" --app-s-key "$APPS" >/dev/null
SB_ARGS=(--set gateway.id=gw-it --set mqtt.port="$MQTT_PORT" --set coap.port="$(free_port)"
    --set coap.bind=127.0.0.1 --set semtech_udp.port="$UDP_PORT" --set semtech_udp.dedup_window_ms=50)
start_sensorbro gw "${SB_ARGS[@]}"
wait_until "sensorbro connected to the broker" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"

hexof() { printf '%s' "$1" | od -v -An -tx1 | tr -d ' \n'; }
raw() { "${GWMP[@]}" raw --server "$UDP_PORT" --hex "$1" --timeout "${2:-0.3}"; }
# push_body JSON: a PUSH_DATA with this JSON; prints the reply (hex) or none
push_body() { raw "020abc00${EUI}$(hexof "$1")" 1; }
rxpk() { printf '{"rxpk":[{"tmst":1000,"freq":868.1,"stat":1,"datr":"SF7BW125","rssi":-70,"lsnr":7,"data":"%s"%s}]}' "$1" "${2:-}"; }
b64() { python3 -c 'import base64, sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$1"; }

encode_uplink 'seq: 5 interval_s: 300 temperature: [2150]' "$TEST_TMP/up.bin"
frame() {
    "${GWMP[@]}" uplink --dev-addr "${2:-26011BDA}" --nwk-s-key "$NWK" --app-s-key "$APPS" \
        --fcnt "$1" --payload-file "$TEST_TMP/up.bin"
}
good=$(frame 5)
old=$(frame 4)
unknown=$(frame 1 01020304)
tampered=${good:0:-2}$(printf '%02x' $(((0x${good: -2} ^ 1))))

expect_eq "short datagram" none "$(raw 02)"
expect_eq "version 3" none "$(raw "030abc00${EUI}$(hexof '{}')")"
expect_eq "PUSH_ACK sent to the server" none "$(raw "020abc01")"
expect_eq "broken JSON" none "$(push_body '{"rxpk":[{"data":')"
# a frame the window dropped (counted) is still acknowledged: the forwarder need not resend
expect_eq "oversize data" 020abc01 "$(push_body "$(rxpk "$(head -c 400 /dev/zero | tr '\0' A)")")"
expect_eq "no tmst" 020abc01 "$(push_body '{"rxpk":[{"freq":868.1,"stat":1,"datr":"SF7BW125","rssi":-70,"lsnr":7,"data":"QA=="}]}')"
expect_eq "tmst a string" 020abc01 "$(push_body "$(rxpk "$(b64 "$good")" | sed 's/"tmst":1000/"tmst":"1000"/')")"
expect_eq "FSK" 020abc01 "$(push_body '{"rxpk":[{"tmst":1,"freq":868.8,"stat":1,"datr":50000,"rssi":-70,"data":"QA=="}]}')"
expect_eq "bad CRC" 020abc01 "$(push_body "$(rxpk "$(b64 "$good")" | sed 's/"stat":1/"stat":-1/')")"
expect_eq "not base64" 020abc01 "$(push_body "$(rxpk '!!!!')")"
expect_eq "tampered" 020abc01 "$(push_body "$(rxpk "$(b64 "$tampered")")")"
expect_eq "unknown DevAddr" 020abc01 "$(push_body "$(rxpk "$(b64 "$unknown")")")"
expect_eq "good frame" 020abc01 "$(push_body "$(rxpk "$(b64 "$good")")")"
expect_eq "old counter" 020abc01 "$(push_body "$(rxpk "$(b64 "$old")")")"
expect_eq "late duplicate" 020abc01 "$(push_body "$(rxpk "$(b64 "$good")")")"
stop_sensorbro
stats=$(grep "stats: semtech-udp" "$TEST_TMP/gw.log" | tail -n 1)
for counted in short=1 bad_version=1 bad_type=1 bad_json=1 rxpk_invalid=3 rxpk_oversize=1 crc=1 \
    not_lora=1 late_duplicate=1 unknown_dev_addr=1 bad_mic=1 old_fcnt=1; do
    grep -q " $counted\b" <<<"$stats" || fail "expected $counted in: $stats"
done
grep -q "journaled 1," <<<"$stats" || fail "expected one frame journaled: $stats"

# After a restart the accepted frame is a replay: its counter survived.
start_sensorbro gw2 "${SB_ARGS[@]}" --set journal.path="$TEST_TMP/gw/sensorbro.db"
expect_eq "replayed frame" 020abc01 "$(push_body "$(rxpk "$(b64 "$good")")")"
stop_sensorbro
stats=$(grep "stats: semtech-udp" "$TEST_TMP/gw2.log" | tail -n 1)
grep -q " replayed_fcnt=1\b" <<<"$stats" || fail "expected replayed_fcnt=1 in: $stats"
grep -q "journaled 0," <<<"$stats" || fail "the replay was journaled: $stats"

collect_messages "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up" 2 3 "$TEST_TMP/messages.txt"
expect_eq "messages published" 1 "$(wc -l <"$TEST_TMP/messages.txt")"
expect_eq "the genuine frame" 5 "$(cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq .fcnt)"
log "ok"
