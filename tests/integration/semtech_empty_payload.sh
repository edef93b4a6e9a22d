#!/usr/bin/env bash
# A LoRaWAN frame on FPort 1 with an empty FRMPayload (and one whose Uplink has neither a
# series nor a status) is acknowledged to its forwarder like any frame the network server
# handled, counted as quarantined with the reason, and never published: published, it would
# be "seq 0, values {}" under the id of the device's real seq 0. A good frame after them is.
source "$(dirname "$0")/lib.sh"
GWMP=(python3 "$(dirname "$0")/gwmp_tool.py")

MQTT_PORT=$(free_port)
UDP_PORT=$(free_port)
NWK=3C8F262739BFE3B7BC0826991AD0504D
APPS=2B7E151628AED2A6ABF7158809CF4F3C
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" empty-sub "sensorbro/gw-empty/+/up"
mkdir -p "$TEST_TMP/gw"
"$SENSORBROCTL_BIN" -j "$TEST_TMP/gw/sensorbro.db" device add --dev-eui 70b3d57ed0000001 \
    --dev-addr 26011BDA --nwk-s-key "$NWK" --app-s-key "$APPS" >/dev/null
start_sensorbro gw --set gateway.id=gw-empty --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$(free_port)" --set coap.bind=127.0.0.1 --set semtech_udp.port="$UDP_PORT"
wait_until "sensorbro connected to the broker" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"

send() # FCNT PAYLOAD_FILE: prints the PUSH_ACKs
{
    local phy
    phy=$("${GWMP[@]}" uplink --dev-addr 26011BDA --nwk-s-key "$NWK" --app-s-key "$APPS" \
        --fcnt "$1" --payload-file "$2")
    "${GWMP[@]}" push --server "$UDP_PORT" --phy "$phy" --eui aa555a0000000001 --timeout 2
}
: >"$TEST_TMP/empty.bin"
encode_uplink 'seq: 3 interval_s: 300' "$TEST_TMP/nothing.bin"
encode_uplink 'seq: 4 interval_s: 300 temperature: [2150]' "$TEST_TMP/good.bin"
expect_eq "empty FRMPayload acknowledged" "ack aa555a0000000001" "$(send 1 "$TEST_TMP/empty.bin")"
expect_eq "nothing to publish acknowledged" "ack aa555a0000000001" "$(send 2 "$TEST_TMP/nothing.bin")"
expect_eq "good frame acknowledged" "ack aa555a0000000001" "$(send 3 "$TEST_TMP/good.bin")"

collect_messages "$MQTT_PORT" empty-sub "sensorbro/gw-empty/+/up" 2 5 "$TEST_TMP/messages.txt"
expect_eq "messages published" 1 "$(wc -l <"$TEST_TMP/messages.txt")"
expect_eq "the good frame" 4 "$(cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq .seq)"
"$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" quarantine >"$TEST_TMP/quarantine.txt"
expect_eq "quarantine reasons" "empty payload: no Uplink
no series and no status: nothing to publish" "$(cut -f6 "$TEST_TMP/quarantine.txt")"
expect_eq "quarantined transport" semtech-udp "$(cut -f4 "$TEST_TMP/quarantine.txt" | sort -u)"
stop_sensorbro
grep -q "uplinks 3 (journaled 1, quarantined 2," "$TEST_TMP/gw.log" ||
    fail "counters at stop: $(grep 'stats: semtech' "$TEST_TMP/gw.log" | tail -n 1)"
log "ok"
