#!/usr/bin/env bash
# The Semtech UDP attacks of issue 11, replayed on real UDP sockets against a real daemon
# (forwarders on other loopback hosts stand for other machines on the LAN):
#   - forwarder table fill: 70 made-up gateway ids PULL from 127.0.0.3; a real forwarder
#     arriving afterwards still gets its Join-Accept (the stalest made-up entry is evicted);
#   - downlink hijack: a PULL_DATA with a real (pinned) gateway's id from 127.0.0.2 does not
#     get that gateway's Join-Accept; the real forwarder does; the refusal is logged and
#     counted;
#   - replayed confirmed uplink: a retransmission within the window is answered with the
#     downlink its first transmission took (the queue is not touched); the same bytes
#     replayed after the 30 s duplicate memory and the retransmission window get no
#     PULL_RESP, take no queued downlink and no FCntDown (sensorbroctl device show);
#   - flood: one forwarder address sends 1000 datagrams/s while another sends 20/s: every
#     frame of the normal one is acknowledged and published; the flood is rate-limited and
#     counted under its source.
source "$(dirname "$0")/lib.sh"
GWMP=(python3 "$(dirname "$0")/gwmp_tool.py")

MQTT_PORT=$(free_port)
UDP_PORT=$(free_port)
NWK=3C8F262739BFE3B7BC0826991AD0504D
APPS=2B7E151628AED2A6ABF7158809CF4F3C
APPKEY=000102030405060708090A0B0C0D0E0F
REAL=aa555a0000000001 # a real forwarder at 127.0.0.1, pinned by A's first frame
NEWCOMER=aa555a0000000002 # a real forwarder first heard after the table fill
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up"
mkdir -p "$TEST_TMP/gw"
CTL=("$SENSORBROCTL_BIN" -j "$TEST_TMP/gw/sensorbro.db")
"${CTL[@]}" device add --dev-eui 70b3d57ed0000001 --dev-addr 26011BDA --nwk-s-key "$NWK" \
    --app-s-key "$APPS" >/dev/null
printf 'appkey = %s\n' "$APPKEY" | "${CTL[@]}" device add --dev-eui 70b3d57ed0000009 \
    --join-eui 70b3d57ed00000aa --keys-file - >/dev/null
while read -r eui addr nwk app; do
    "${CTL[@]}" device add --dev-eui "$eui" --dev-addr "$addr" --nwk-s-key "$nwk" \
        --app-s-key "$app" >/dev/null
done < <("$GWMP_FLEET_BIN" --print-devices 5)
"${CTL[@]}" device downlink 70b3d57ed0000001 0a07 --port 9 >/dev/null
"${CTL[@]}" device downlink 70b3d57ed0000001 0b08 --port 9 >/dev/null
start_sensorbro gw --set gateway.id=gw-it --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$(free_port)" --set coap.bind=127.0.0.1 --set semtech_udp.port="$UDP_PORT" \
    --set semtech_udp.dedup_window_ms=100 --set semtech_udp.rate_limit_per_s=100 \
    --set semtech_udp.rate_burst=100 --set semtech_udp.retransmission_window_s=20
wait_until "sensorbro connected to the broker" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"

# show_a FIELD: a line of `sensorbroctl device show` for device A
show_a() { "${CTL[@]}" device show 70b3d57ed0000001 | awk -v f="$1" '$1 == f { print $2 }'; }
downlinks() { grep -c '^downlink ' "$1" || true; }

encode_uplink 'seq: 7 interval_s: 300 temperature: [2150]' "$TEST_TMP/a.bin"
A=$("${GWMP[@]}" uplink --dev-addr 26011BDA --nwk-s-key "$NWK" --app-s-key "$APPS" --fcnt 7 \
    --payload-file "$TEST_TMP/a.bin" --confirmed)

# ---- A's confirmed uplink, answered with the first queued downlink; pins REAL ----
T0=$(date +%s)
"${GWMP[@]}" push --server "$UDP_PORT" --phy "$A" --eui $REAL --tmst 10000000 --timeout 2 \
    --pull >"$TEST_TMP/a0.txt"
expect_eq "a0: one PULL_RESP" 1 "$(downlinks "$TEST_TMP/a0.txt")"
frame=$("${GWMP[@]}" open --nwk-s-key "$NWK" --app-s-key "$APPS" \
    --data "$(grep '^downlink ' "$TEST_TMP/a0.txt" | cut -d' ' -f3- | jq -r .data)")
expect_eq "a0: ACK, FCntDown 0, the first queued downlink" '[true,0,"0a07"]' \
    "$(jq -c '[.ack, .fcnt, .payload]' <<<"$frame")"
grep -q "forwarder $REAL pinned to 127.0.0.1" "$TEST_TMP/gw.log" || fail "REAL not pinned"

# ---- a retransmission within the window (another tmst, 3 s later): the same downlink ----
sleep 3
"${GWMP[@]}" push --server "$UDP_PORT" --phy "$A" --eui $REAL --tmst 13000000 --timeout 2 \
    --pull >"$TEST_TMP/a1.txt"
frame=$("${GWMP[@]}" open --nwk-s-key "$NWK" --app-s-key "$APPS" \
    --data "$(grep '^downlink ' "$TEST_TMP/a1.txt" | cut -d' ' -f3- | jq -r .data)")
expect_eq "a1: ACK, FCntDown 1, that downlink again" '[true,1,"0a07"]' \
    "$(jq -c '[.ack, .fcnt, .payload]' <<<"$frame")"
expect_eq "after a1: next FCntDown" 2 "$(show_a fcnt_down)"
expect_eq "after a1: queued" 1 "$(show_a downlinks)"

# ---- forwarder table fill: 70 made-up ids from 127.0.0.3, then a real newcomer joins ----
python3 - "$UDP_PORT" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.3", 0))
for i in range(70):
    s.sendto(bytes([2, 0, i, 2]) + (0xfeed000000000000 + i).to_bytes(8, "big"),
             ("127.0.0.1", int(sys.argv[1])))
EOF
wait_until "the table full and evicting" 10 grep -q "the table is full: .* evicted" "$TEST_TMP/gw.log"
J1=$("${GWMP[@]}" join --join-eui 70b3d57ed00000aa --dev-eui 70b3d57ed0000009 --app-key "$APPKEY" \
    --dev-nonce 258)
"${GWMP[@]}" push --server "$UDP_PORT" --phy "$J1" --eui $NEWCOMER --tmst 50000000 --timeout 7 \
    --pull >"$TEST_TMP/j1.txt"
expect_eq "j1: the newcomer's Join-Accept (RX1, tmst + 5 s)" 55000000 \
    "$(grep '^downlink ' "$TEST_TMP/j1.txt" | cut -d' ' -f3- | jq .tmst)"

# ---- hijack: REAL pulls from 127.0.0.1, then a PULL_DATA with its id from 127.0.0.2 ----
"${GWMP[@]}" pull --server "$UDP_PORT" --eui $REAL --timeout 9 >"$TEST_TMP/real_pull.txt" &
REAL_PULL=$!
wait_until "REAL's PULL_ACK" 5 grep -q pull_ack "$TEST_TMP/real_pull.txt"
"${GWMP[@]}" pull --server "$UDP_PORT" --eui $REAL --bind 127.0.0.2 --timeout 8 \
    >"$TEST_TMP/hijack_pull.txt" &
HIJACK_PULL=$!
wait_until "the hijacker's PULL_ACK" 5 grep -q pull_ack "$TEST_TMP/hijack_pull.txt"
J2=$("${GWMP[@]}" join --join-eui 70b3d57ed00000aa --dev-eui 70b3d57ed0000009 --app-key "$APPKEY" \
    --dev-nonce 259)
"${GWMP[@]}" push --server "$UDP_PORT" --phy "$J2" --eui $REAL --tmst 60000000 --timeout 1 \
    >"$TEST_TMP/j2.txt"
wait "$REAL_PULL" "$HIJACK_PULL"
expect_eq "j2: the Join-Accept reached REAL's PULL socket" 65000000 \
    "$(grep '^downlink ' "$TEST_TMP/real_pull.txt" | cut -d' ' -f3- | jq .tmst)"
expect_eq "j2: nothing for the hijacker" 0 "$(downlinks "$TEST_TMP/hijack_pull.txt")"
grep -q "PULL_DATA for forwarder $REAL from 127.0.0.2 refused: it is pinned to 127.0.0.1" \
    "$TEST_TMP/gw.log" || fail "the refused PULL_DATA not logged"

# ---- flood from 127.0.0.2 while 127.0.0.1 sends normally ----
"$GWMP_FLEET_BIN" --server "$UDP_PORT" --devices 50 --device-base 1000 --rate 1000 --duration 4 \
    --bind 127.0.0.2 --gateway-eui aa555a000000fa02 --timeout-ms 1000 \
    --log-acked "$TEST_TMP/flood_acked.csv" >/dev/null 2>&1 &
FLOOD=$!
sleep 0.5
"$GWMP_FLEET_BIN" --server "$UDP_PORT" --devices 5 --rate 20 --count 60 --timeout-ms 3000 \
    --log-acked "$TEST_TMP/normal_acked.csv" || fail "the normal forwarder lost frames"
wait "$FLOOD" || true
expect_eq "normal: PUSH_ACKed frames" 60 "$(($(wc -l <"$TEST_TMP/normal_acked.csv") - 1))"
collect_messages "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up" 61 10 "$TEST_TMP/messages.txt"
expect_eq "published: A once and the normal forwarder's 60" "1 60" \
    "$(cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq -r .device | awk '
        /^70b3d57ed0000001$/ { a++ } /^70b3d57ed1/ { n++ } END { print a + 0, n + 0 }')"

# ---- the replay, after the 30 s duplicate memory and the 20 s retransmission window ----
sleep "$(awk -v t0="$T0" -v now="$(date +%s)" 'BEGIN { d = t0 + 32 - now; print (d > 0 ? d : 0) }')"
"${GWMP[@]}" push --server "$UDP_PORT" --phy "$A" --eui $REAL --tmst 40000000 --timeout 2 \
    --pull >"$TEST_TMP/a2.txt"
expect_eq "a2: PUSH_ACKed" "ack $REAL" "$(grep '^ack ' "$TEST_TMP/a2.txt")"
expect_eq "a2: no PULL_RESP for the replay" 0 "$(downlinks "$TEST_TMP/a2.txt")"
expect_eq "after a2: next FCntDown unchanged" 2 "$(show_a fcnt_down)"
expect_eq "after a2: queued unchanged" 1 "$(show_a downlinks)"
grep -q "edge-ns: device 70b3d57ed0000001: confirmed uplink FCnt 7 sent again .* refused as a replay (retransmission_late" \
    "$TEST_TMP/gw.log" || fail "the refused replay not logged for its device"

stop_sensorbro
stats=$(grep "stats: semtech-udp datagrams" "$TEST_TMP/gw.log" | tail -n 1)
for counted in " retransmission_late=1" " pull_not_pinned=1" " rate_limited=" "retransmissions 1)"; do
    grep -qF -- "$counted" <<<"$stats" || fail "expected '$counted' in: $stats"
done
grep -q "stats: source 127.0.0.2 (semtech-udp): passed [0-9]*, refused:.* rate_limited=" \
    "$TEST_TMP/gw.log" || fail "the flood not counted under its source"
if grep "stats: source 127.0.0.1 (semtech-udp)" "$TEST_TMP/gw.log" | grep -q rate_limited; then
    fail "the normal forwarder's host was rate-limited"
fi
log "ok: $(grep -c . "$TEST_TMP/flood_acked.csv") flood frames acknowledged of ~4000 sent"
