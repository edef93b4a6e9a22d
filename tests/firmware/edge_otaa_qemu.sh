#!/usr/bin/env bash
# The issue's "done when": the mps2-an385 test image in QEMU joins by OTAA through
# modem-sim and sensorbro (the edge network server), and its readings arrive on the broker
# as JSON. Also: a downlink queued with `sensorbroctl device downlink` before the join goes
# out in RX1 of the first uplink and the node applies it. Checked:
# - sensorbro accepted one join (DevNonce, keys derived; the node's +JOIN:OK);
# - 6 messages, seq 0..5, FCnt 0..5 of the new session, device = the DevEUI;
# - each message's samples are what `sensorbroctl decode` makes of the payload the
#   firmware logged on UART1 for that uplink: the transport delivered its exact bytes;
# - the queued downlink was applied (samples_per_uplink 2, config_version 7 echoed).
source "$(dirname "$0")/fw_lib.sh"
QEMU_BIN=${QEMU_BIN:-$(command -v qemu-system-arm)}
FIRMWARE_ELF=${FIRMWARE_ELF:-$REPO_DIR/build/firmware/arm/sensorbro-mps2-an385-test.elf}
[ -f "$FIRMWARE_ELF" ] || fail "no firmware image at $FIRMWARE_ELF"
DEVICE=70b3d57ed00000b2
JOIN_EUI=70b3d57ed0000000

KEYS=$TEST_TMP/keys
(umask 077 && echo "appkey = 000102030405060708090A0B0C0D0E0F" >"$KEYS")
MQTT_PORT=$(free_port)
UDP_PORT=$(free_port)
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up"
mkdir -p "$TEST_TMP/gw"
ctl() { "$SENSORBROCTL_BIN" -j "$TEST_TMP/gw/sensorbro.db" "$@"; }
ctl device add --dev-eui "$DEVICE" --join-eui "$JOIN_EUI" --keys-file "$KEYS" >/dev/null
DOWNLINK=$(printf 'config_version: 7 samples_per_uplink: 2\n' |
    "$PROTOC_BIN" --encode=sensorbro.v1.Downlink -I"$PROTO_DIR" \
        "$PROTO_DIR/sensorbro/v1/telemetry.proto" | od -v -An -tx1 | tr -d ' \n')
ctl device downlink "$DEVICE" "$DOWNLINK" --port 1 >/dev/null
start_sensorbro gw --set gateway.id=gw-it --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$(free_port)" --set coap.bind=127.0.0.1 --set semtech_udp.port="$UDP_PORT"
start_modem_sim "unix:$TEST_TMP/modem.sock" "$UDP_PORT" --dr 6 --keepalive-s 1 \
    --dev-eui "$DEVICE" --join-eui "$JOIN_EUI"

status=0
timeout 55 "$QEMU_BIN" -M mps2-an385 -display none -monitor none -kernel "$FIRMWARE_ELF" \
    -semihosting-config enable=on,target=native \
    -chardev "socket,id=modem,path=$TEST_TMP/modem.sock,reconnect=1" -serial chardev:modem \
    -serial "file:$TEST_TMP/uart1.log" >"$TEST_TMP/qemu.log" 2>&1 || status=$?
[ "$status" -eq 0 ] || fail "QEMU exited with $status (124: timed out); UART1: $(tail -5 "$TEST_TMP/uart1.log")"
grep -q "test done uplinks=6" "$TEST_TMP/uart1.log" || fail "no semihosting exit after 6 uplinks"
grep -q "modem-sim: joined devaddr=" "$TEST_TMP/modem-sim.log" || fail "modem-sim did not join"
grep -q "semtech-udp: device $DEVICE joined" "$TEST_TMP/gw.log" || fail "sensorbro made no Join-Accept"
grep -q "downlink applied version=7 interval_s=2 samples_per_uplink=2" "$TEST_TMP/uart1.log" ||
    fail "the queued downlink was not applied"

collect_messages "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up" 6 20 "$TEST_TMP/messages.txt"
expect_eq "messages" 6 "$(wc -l <"$TEST_TMP/messages.txt")"
cut -d' ' -f2- "$TEST_TMP/messages.txt" >"$TEST_TMP/messages.json"
expect_eq "seq, fcnt, device, transport" \
    "$(for i in 0 1 2 3 4 5; do printf '[%d,%d,"%s","semtech-udp"]\n' "$i" "$i" "$DEVICE"; done)" \
    "$(jq -c '[.seq, .fcnt, .device, .transport]' "$TEST_TMP/messages.json")"
mapfile -t logged < <(sed -n 's/^uplink seq=\([0-9]*\) .* hex=\([0-9A-F]*\)$/\2/p' "$TEST_TMP/uart1.log")
expect_eq "uplinks logged" 6 "${#logged[@]}"
for i in 0 1 2 3 4 5; do
    want=$(ctl decode --device "$DEVICE" "${logged[$i]}" | jq -c '[.seq, .config_version, (.samples | map(del(.time)))]')
    got=$(sed -n "$((i + 1))p" "$TEST_TMP/messages.json" | jq -c '[.seq, .config_version, (.samples | map(del(.time)))]')
    expect_eq "uplink $i on the broker vs the firmware's payload" "$want" "$got"
done
expect_eq "samples per uplink (3 before the downlink, which rides on uplink 0, 2 after)" "3 2 2 2 2 2" \
    "$(jq -s -r 'map(.samples | length) | join(" ")' "$TEST_TMP/messages.json")"
expect_eq "device shows the downlink sent" "downlinks    0 queued" "$(ctl device show "$DEVICE" | grep '^downlinks')"
stop_sensorbro
log "ok"
