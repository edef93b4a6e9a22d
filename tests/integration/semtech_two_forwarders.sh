#!/usr/bin/env bash
# One uplink heard by two packet forwarders: the same PUSH_DATA from two UDP sockets with
# two gateway EUIs (tests/integration/gwmp_tool.py, openssl-CLI crypto, not sensorbro's).
# Both forwarders get their PUSH_ACK, one message is published, listing both gateways,
# the one that heard it best first. A confirmed uplink is ACKed in RX1 through the better
# forwarder (PULL_RESP at tmst + 1 s, ipol, same frequency and data rate).
source "$(dirname "$0")/lib.sh"
GWMP=(python3 "$(dirname "$0")/gwmp_tool.py")

MQTT_PORT=$(free_port)
UDP_PORT=$(free_port)
NWK=3C8F262739BFE3B7BC0826991AD0504D
APPS=2B7E151628AED2A6ABF7158809CF4F3C
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up"
mkdir -p "$TEST_TMP/gw"
"$SENSORBROCTL_BIN" -j "$TEST_TMP/gw/sensorbro.db" device add --dev-eui 70b3d57ed0000001 \
    --dev-addr 26011BDA --nwk-s-key "$NWK" --app-s-key "$APPS" >/dev/null
start_sensorbro gw --set gateway.id=gw-it --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$(free_port)" --set coap.bind=127.0.0.1 --set semtech_udp.port="$UDP_PORT"
wait_until "sensorbro connected to the broker" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"

encode_uplink 'seq: 7 interval_s: 300 temperature: [2150]' "$TEST_TMP/up.bin"
phy=$("${GWMP[@]}" uplink --dev-addr 26011BDA --nwk-s-key "$NWK" --app-s-key "$APPS" --fcnt 7 \
    --payload-file "$TEST_TMP/up.bin")
"${GWMP[@]}" push --server "$UDP_PORT" --phy "$phy" --eui aa555a0000000002 --rssi -90 \
    --eui AA555A0000000001 --rssi -60 --timeout 2 >"$TEST_TMP/acks.txt"
expect_eq "PUSH_ACKs" "ack AA555A0000000001
ack aa555a0000000002" "$(sort "$TEST_TMP/acks.txt")"

collect_messages "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up" 2 5 "$TEST_TMP/messages.txt"
expect_eq "messages published" 1 "$(wc -l <"$TEST_TMP/messages.txt")"
json=$(cut -d' ' -f2- "$TEST_TMP/messages.txt")
field() { jq -c "$1" <<<"$json"; }
expect_eq device '"70b3d57ed0000001"' "$(field .device)"
expect_eq transport '"semtech-udp"' "$(field .transport)"
expect_eq seq 7 "$(field .seq)"
expect_eq values '{"temperature_c":21.5}' "$(field .values)"
expect_eq fcnt 7 "$(field .fcnt)"
expect_eq fport 1 "$(field .fport)"
expect_eq rssi_dbm -60 "$(field .rssi_dbm)"
expect_eq frequency_hz 868100000 "$(field .frequency_hz)"
expect_eq datr '"SF7BW125"' "$(field .datr)"
expect_eq gateways '["aa555a0000000001","aa555a0000000002"]' "$(field .gateways)"

# A confirmed uplink: ACKed through the forwarder that heard it best (the second here).
encode_uplink 'seq: 8 interval_s: 300 temperature: [2150]' "$TEST_TMP/up2.bin"
phy=$("${GWMP[@]}" uplink --dev-addr 26011BDA --nwk-s-key "$NWK" --app-s-key "$APPS" --fcnt 8 \
    --payload-file "$TEST_TMP/up2.bin" --confirmed)
"${GWMP[@]}" push --server "$UDP_PORT" --phy "$phy" --eui aa555a0000000001 --rssi -95 \
    --eui aa555a0000000002 --rssi -70 --timeout 2 --pull >"$TEST_TMP/replies.txt"
grep -c "^ack " "$TEST_TMP/replies.txt" | grep -qx 2 || fail "PUSH_ACKs: $(cat "$TEST_TMP/replies.txt")"
downlink=$(grep "^downlink " "$TEST_TMP/replies.txt") || fail "no PULL_RESP: $(cat "$TEST_TMP/replies.txt")"
expect_eq "downlink forwarder" aa555a0000000002 "$(cut -d' ' -f2 <<<"$downlink")"
txpk=$(cut -d' ' -f3- <<<"$downlink")
expect_eq "RX1 timing" 3000000 "$(jq .tmst <<<"$txpk")" # the second socket's tmst 2000000 + 1 s
expect_eq "RX1 txpk" '[868.1,"SF7BW125",true,false]' "$(jq -c '[.freq, .datr, .ipol, .imme]' <<<"$txpk")"
ack=$(jq -r .data <<<"$txpk" | base64 -d | od -An -tx1 | tr -d ' \n')
expect_eq "ACK frame header (unconfirmed down, DevAddr, FCtrl ACK, FCntDown 0)" 60da1b0126200000 "${ack:0:16}"

stop_sensorbro
grep -q "semtech-udp datagrams .*duplicates 2," "$TEST_TMP/gw.log" || fail "duplicates not counted"
log "ok"
