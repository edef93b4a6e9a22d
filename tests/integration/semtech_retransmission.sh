#!/usr/bin/env bash
# A confirmed uplink whose ACK never reaches the device: the test ignores every PULL_RESP
# and the device sends the same bytes again at +2 s, +8 s and +25 s (inside the 30 s in
# which late copies are remembered), each time a new reception (the forwarder's tmst moved
# on, another channel). Device A is heard by one forwarder and has a downlink queued;
# device B is heard by two. Every transmission is answered by one PULL_RESP in the RX1 of
# its own reception (its tmst + 1 s, its frequency) through the forwarder that heard it
# best, carrying the ACK with FCntDown 0, 1, 2, 3 and, for A, the queued downlink each
# time (it was never received) without taking another; the frame is published exactly
# once. Straggling copies of a reception already judged (the same forwarder and tmst, or
# a forwarder that was not in the group, soon after) are late duplicates and get no
# PULL_RESP. A Join-Request replayed within 30 s is dev_nonce_reused, as after 30 s. The
# PULL_RESPs are opened by tests/integration/gwmp_tool.py (openssl CLI), not by sensorbro.
source "$(dirname "$0")/lib.sh"
GWMP=(python3 "$(dirname "$0")/gwmp_tool.py")

MQTT_PORT=$(free_port)
UDP_PORT=$(free_port)
NWK=3C8F262739BFE3B7BC0826991AD0504D
APPS=2B7E151628AED2A6ABF7158809CF4F3C
APPKEY=000102030405060708090A0B0C0D0E0F
F1=aa555a0000000001 # B's forwarders
F2=aa555a0000000002
F3=aa555a0000000003 # A's forwarder
F4=aa555a0000000004 # hears B's frame only late
F5=aa555a0000000005 # the joining device's forwarder
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up"
mkdir -p "$TEST_TMP/gw"
CTL=("$SENSORBROCTL_BIN" -j "$TEST_TMP/gw/sensorbro.db")
"${CTL[@]}" device add --dev-eui 70b3d57ed0000001 --dev-addr 26011BDA --nwk-s-key "$NWK" \
    --app-s-key "$APPS" >/dev/null
"${CTL[@]}" device add --dev-eui 70b3d57ed0000002 --dev-addr 26011BDB --nwk-s-key "$NWK" \
    --app-s-key "$APPS" >/dev/null
printf 'appkey = %s\n' "$APPKEY" | "${CTL[@]}" device add --dev-eui 70b3d57ed0000009 \
    --join-eui 70b3d57ed00000aa --keys-file - >/dev/null
"${CTL[@]}" device downlink 70b3d57ed0000001 0a07 --port 9 >/dev/null
start_sensorbro gw --set gateway.id=gw-it --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$(free_port)" --set coap.bind=127.0.0.1 --set semtech_udp.port="$UDP_PORT" \
    --set semtech_udp.dedup_window_ms=100
wait_until "sensorbro connected to the broker" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"

encode_uplink 'seq: 7 interval_s: 300 temperature: [2150]' "$TEST_TMP/a.bin"
encode_uplink 'seq: 3 interval_s: 300 co2: [612]' "$TEST_TMP/b.bin"
A=$("${GWMP[@]}" uplink --dev-addr 26011BDA --nwk-s-key "$NWK" --app-s-key "$APPS" --fcnt 7 \
    --payload-file "$TEST_TMP/a.bin" --confirmed)
B=$("${GWMP[@]}" uplink --dev-addr 26011BDB --nwk-s-key "$NWK" --app-s-key "$APPS" --fcnt 3 \
    --payload-file "$TEST_TMP/b.bin" --confirmed)
J=$("${GWMP[@]}" join --join-eui 70b3d57ed00000aa --dev-eui 70b3d57ed0000009 --app-key "$APPKEY" \
    --dev-nonce 258)

T0=$(date +%s%N)
# sleep_until S: waits until S seconds after T0 (not at all when that has passed)
sleep_until()
{
    sleep "$(awk -v t0="$T0" -v at="$1" -v now="$(date +%s%N)" \
        'BEGIN { d = t0 / 1e9 + at - now / 1e9; printf "%.3f", (d > 0 ? d : 0) }')"
}
# push NAME PHY FREQ TIMEOUT (EUI RSSI TMST)... [-- LATE_NAME (EUI RSSI TMST)...]: one
# reception, in the background; the replies go to NAME.txt. After --, straggling copies of
# that same reception that the same process sends 1.1 s later, replies in LATE_NAME.txt.
# finish waits for all of them.
PUSHES=()
push()
{
    local name=$1 phy=$2 freq=$3 timeout=$4 args=()
    shift 4
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        args+=(--eui "$1" --rssi "$2" --tmst "$3")
        shift 3
    done
    if [ "${1:-}" = -- ]; then
        args+=(--late-out "$TEST_TMP/$2.txt")
        shift 2
        while [ $# -gt 0 ]; do
            args+=(--late-eui "$1" --late-rssi "$2" --late-tmst "$3")
            shift 3
        done
    fi
    "${GWMP[@]}" push --server "$UDP_PORT" --phy "$phy" --freq "$freq" --timeout "$timeout" --pull \
        "${args[@]}" >"$TEST_TMP/$name.txt" &
    PUSHES+=($!)
}
finish()
{
    local pid
    for pid in "${PUSHES[@]}"; do wait "$pid"; done
    PUSHES=()
}
expect_acks() { expect_eq "$1: PUSH_ACKs" "$2" "$(grep '^ack ' "$TEST_TMP/$1.txt" | sort | tr '\n' ' ')"; }
expect_no_downlink()
{
    ! grep -q '^downlink ' "$TEST_TMP/$1.txt" || fail "$1: a PULL_RESP: $(cat "$TEST_TMP/$1.txt")"
}
# expect_answer NAME VIA TMST FREQ FCNT_DOWN FPORT PAYLOAD: exactly one PULL_RESP, to
# forwarder VIA, in the RX1 of a reception at TMST on FREQ, an unconfirmed downlink with
# ACK, a valid MIC and this FCntDown (and FPort and payload; null and "" for none).
expect_answer()
{
    local name=$1 via=$2 tmst=$3 freq=$4 fcnt=$5 fport=$6 payload=$7 line txpk frame
    expect_eq "$name: PULL_RESPs" 1 "$(grep -c '^downlink ' "$TEST_TMP/$name.txt" || true)"
    line=$(grep '^downlink ' "$TEST_TMP/$name.txt")
    expect_eq "$name: through the best forwarder" "$via" "$(cut -d' ' -f2 <<<"$line")"
    txpk=$(cut -d' ' -f3- <<<"$line")
    expect_eq "$name: txpk [tmst, freq, datr, ipol, imme, has ncrc]" \
        "[$((tmst + 1000000)),$freq,\"SF7BW125\",true,false,false]" \
        "$(jq -c '[.tmst, .freq, .datr, .ipol, .imme, has("ncrc")]' <<<"$txpk")"
    frame=$("${GWMP[@]}" open --nwk-s-key "$NWK" --app-s-key "$APPS" --data "$(jq -r .data <<<"$txpk")")
    expect_eq "$name: frame [mtype, ack, fpending, FCntDown, fport, payload, mic ok]" \
        "[3,true,false,$fcnt,$fport,\"$payload\",true]" \
        "$(jq -c '[.mtype, .ack, .fpending, .fcnt, .fport, .payload, .mic_ok]' <<<"$frame")"
}

# +0 s: the first transmissions, and a Join-Request; 1.1 s later, from the same process,
# stragglers of those receptions (after their groups closed, well before a device may send
# again: 3 s).
push a0 "$A" 868.1 2.0 $F3 -80 10000000 -- a0late $F3 -80 10000000
push b0 "$B" 868.1 2.0 $F1 -95 20000000 $F2 -70 30000000 -- b0late $F4 -99 40000000
push j0 "$J" 868.1 2.0 $F5 -80 50000000 -- j0late $F5 -80 50000000
finish
expect_acks a0 "ack $F3 "
expect_acks b0 "ack $F1 ack $F2 "
expect_answer a0 $F3 10000000 868.1 0 9 0a07
expect_answer b0 $F2 30000000 868.1 0 null ""
expect_eq "j0: Join-Accept in RX1 (tmst + 5 s)" 55000000 "$(grep '^downlink ' "$TEST_TMP/j0.txt" | cut -d' ' -f3- | jq .tmst)"

# the stragglers: no answer
for name in a0late b0late j0late; do expect_no_downlink $name; done
expect_acks a0late "ack $F3 "
expect_acks b0late "ack $F4 "

# +2 s, +8 s, +25 s: the device sends again, on another channel each time.
step=1
for at in 2 8 25; do
    sleep_until $at
    freq=$(awk -v s=$step 'BEGIN { printf "%.1f", 868.1 + 0.2 * (s % 3) }')
    us=$((at * 1000000))
    rssi1=-95 via=$F2 via_tmst=$((30000000 + us))
    [ $step -ne 2 ] || { rssi1=-60 via=$F1 via_tmst=$((20000000 + us)); } # heard best by F1
    push a$step "$A" "$freq" 1.0 $F3 -80 $((10000000 + us))
    push b$step "$B" "$freq" 1.0 $F1 $rssi1 $((20000000 + us)) $F2 -70 $((30000000 + us))
    [ $step -ne 2 ] || push j$step "$J" "$freq" 1.0 $F5 -80 $((50000000 + us)) # a replay
    finish
    expect_acks a$step "ack $F3 "
    expect_acks b$step "ack $F1 ack $F2 "
    expect_answer a$step $F3 $((10000000 + us)) "$freq" $step 9 0a07
    expect_answer b$step "$via" "$via_tmst" "$freq" $step null ""
    step=$((step + 1))
done
expect_no_downlink j2
log "each device's 4 transmissions answered, the last $(( ($(date +%s%N) - T0) / 1000000 )) ms after the first"

collect_messages "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up" 3 3 "$TEST_TMP/messages.txt"
expect_eq "published (device fcnt)" "70b3d57ed0000001 7
70b3d57ed0000002 3" "$(cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq -r '"\(.device) \(.fcnt)"' | sort)"

stop_sensorbro
stats=$(grep "stats: semtech-udp" "$TEST_TMP/gw.log" | tail -n 1)
for counted in "duplicates 4," "journaled 2," "retransmissions 6)" "joins 1," \
    "downlinks 8 (queued 1, resent 3)" "pull_resp 9," " late_duplicate=3" " dev_nonce_reused=1"; do
    grep -qF -- "$counted" <<<"$stats" || fail "expected '$counted' in: $stats"
done
log "ok"
