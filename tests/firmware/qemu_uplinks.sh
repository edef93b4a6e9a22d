#!/usr/bin/env bash
# The mps2-an385 image (test build: 2 s samples, 3 per uplink, semihosting exit after 6
# uplinks) boots in qemu-system-arm, its UART0 on modem-sim's unix socket. modem-sim sends
# the frames as GWMP PUSH_DATA to a receiver here, which answers the second uplink with a
# Downlink (samples_per_uplink 2, config_version 7) as a PULL_RESP. Then:
# - QEMU exits 0 through semihosting, in bounded time;
# - every captured frame passes its MIC check and decrypts (openssl CLI, not modem-sim's
#   code) to exactly the payload the firmware logged for that uplink on UART1;
# - Google's protoc decodes each payload: seq 0..5, 3 samples per series before the
#   downlink and 2 after, config_version 7 echoed;
# - the rxpk fields are what a packet forwarder sends.
source "$(dirname "$0")/fw_lib.sh"
QEMU_BIN=${QEMU_BIN:-$(command -v qemu-system-arm)}
FIRMWARE_ELF=${FIRMWARE_ELF:-$REPO_DIR/build/firmware/arm/sensorbro-mps2-an385-test.elf}
[ -f "$FIRMWARE_ELF" ] || fail "no firmware image at $FIRMWARE_ELF"

write_keys
DOWNLINK=$(printf 'config_version: 7 samples_per_uplink: 2\n' |
    "$PROTOC_BIN" --encode=sensorbro.v1.Downlink -I"$PROTO_DIR" \
        "$PROTO_DIR/sensorbro/v1/telemetry.proto" | od -An -tx1 | tr -d ' \n')
FRAME=$("${LORAWAN_TOOL[@]}" downlink --keys "$KEYS" --fcnt 1 --port 1 --payload "$DOWNLINK")
UDP_PORT=$(free_port)
start_receiver "$UDP_PORT" --downlink "2:$FRAME"
start_modem_sim "unix:$TEST_TMP/modem.sock" "$UDP_PORT" --dr 6 --keepalive-s 1

started=$(date +%s)
status=0
timeout 55 "$QEMU_BIN" -M mps2-an385 -display none -monitor none -kernel "$FIRMWARE_ELF" \
    -semihosting-config enable=on,target=native \
    -chardev "socket,id=modem,path=$TEST_TMP/modem.sock,reconnect=1" -serial chardev:modem \
    -serial "file:$TEST_TMP/uart1.log" >"$TEST_TMP/qemu.log" 2>&1 || status=$?
log "QEMU ran $(($(date +%s) - started)) s"
[ "$status" -eq 0 ] || fail "QEMU exited with $status (124: timed out); UART1: $(tail -5 "$TEST_TMP/uart1.log")"
grep -q "test done uplinks=6" "$TEST_TMP/uart1.log" || fail "no semihosting exit after 6 uplinks"
grep -q "downlink applied version=7 interval_s=2 samples_per_uplink=2" "$TEST_TMP/uart1.log" ||
    fail "the downlink was not applied"

# The receiver may still be writing the last frame.
wait_until "6 frames captured" 10 bash -c "[ \$(wc -l <'$TEST_TMP/rx.jsonl') -ge 6 ]"
open_frames
mapfile -t logged < <(sed -n 's/^uplink seq=\([0-9]*\) .* hex=\([0-9A-F]*\)$/\1 \2/p' "$TEST_TMP/uart1.log")
mapfile -t opened < <(awk '{print $1, $3}' "$TEST_TMP/frames.txt")
expect_eq "uplinks logged" 6 "${#logged[@]}"
expect_eq "frames captured" 6 "${#opened[@]}"
for i in 0 1 2 3 4 5; do
    # modem-sim's FCnt and the node's seq both start at 0 here.
    expect_eq "frame $i (fcnt, payload) vs the firmware's uplink" "${logged[$i]}" "${opened[$i]}"
    text=$(decode_uplink "${opened[$i]#* }")
    seq=$(sed -n 's/^seq: //p' <<<"$text")
    expect_eq "seq of uplink $i" "$i" "${seq:-0}"
    expect_eq "interval of uplink $i" 2 "$(sed -n 's/^interval_s: //p' <<<"$text")"
    count=$(grep -c '^temperature: ' <<<"$text")
    if [ "$i" -lt 2 ]; then
        expect_eq "temperature samples in uplink $i" 3 "$count"
    elif [ "$i" -gt 2 ]; then
        expect_eq "temperature samples in uplink $i" 2 "$count"
    fi
    # The downlink came with uplink 1; the next CONFIG_ECHO_UPLINKS (3) uplinks echo it.
    echoed=$(sed -n 's/^config_version: //p' <<<"$text")
    if [ "$i" -ge 2 ] && [ "$i" -le 4 ]; then
        expect_eq "config_version echoed in uplink $i" 7 "$echoed"
    else
        expect_eq "config_version in uplink $i" "" "$echoed"
    fi
    expect_eq "battery values in uplink $i" 1 "$(grep -c '^battery: ' <<<"$text")"
done

# What a packet forwarder says about each frame.
jq -e -s 'all(.[]; .modu == "LORA" and .datr == "SF7BW250" and .codr == "4/5" and .stat == 1
    and (.freq == 868.1 or .freq == 868.3 or .freq == 868.5) and (.tmst | type) == "number"
    and (.data | length) == ((.size + 2) / 3 | floor) * 4 and (.time | test("Z$")))' \
    "$TEST_TMP/rx.jsonl" >/dev/null || fail "rxpk fields: $(head -n 1 "$TEST_TMP/rx.jsonl")"
grep -q "downlink fcnt=1 port=1" "$TEST_TMP/modem-sim.log" || fail "modem-sim did not deliver the downlink"
log "ok"
