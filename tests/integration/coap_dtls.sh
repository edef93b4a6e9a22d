#!/usr/bin/env bash
# CoAP over DTLS-PSK (libcoap's own coap-client-openssl against the daemon), NoSec auto,
# unregistered devices, block-wise bodies and reply sizes:
#   - before any device has a key, plain CoAP takes a registered device and refuses an
#     unregistered one (4.03, coap.accept_unregistered = false);
#   - the right key: 2.04 and stored (on the broker); a wrong key: no handshake, no answer;
#     an identity posting to another device's path: 4.03; a device without a key: no
#     handshake on 5684, and 4.03 on 5683 once any device has a key (auto);
#   - a block-wise upload far over coap.max_payload_bytes: 4.13 at its first block, and the
#     daemon's RSS does not grow over many of them;
#   - no reply is longer than its request (a raw UDP client measures both);
#   - each refusal counted by reason in the stats line.
source "$(dirname "$0")/lib.sh"

COAP_OPENSSL_BIN=${COAP_OPENSSL_BIN:-$(command -v coap-client-openssl)}
[ -x "$COAP_OPENSSL_BIN" ] || fail "coap-client-openssl not found (apt-get install libcoap3-bin)"

MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
DTLS_PORT=$(free_port)
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" d-sub "sensorbro/gw-d/+/up"
start_sensorbro gw --set gateway.id=gw-d --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 --set coap.dtls_port="$DTLS_PORT" \
    --set coap.accept_unregistered=false --set coap.max_payload_bytes=256
wait_until "sensorbro connected" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"
grep -q "warn  coap: plain CoAP (NoSec, coap.nosec = auto)" "$TEST_TMP/gw.log" ||
    fail "no warning at start that NoSec is on"
DB=$SB_DIR/sensorbro.db
KEYED=00aa000000000001   # gets a coap.psk
PLAIN=00aa000000000002   # registered, no key
STRANGER=00aa0000000000ff # not registered

# dtls_post IDENTITY KEY PATH FILE [options]: like coap_post over coaps:// with a PSK.
dtls_post()
{
    local id=$1 key=$2 path=$3 file=$4
    shift 4
    local out line
    out=$("$COAP_OPENSSL_BIN" -v 6 -B 5 -u "$id" -k "$key" "$@" -m post -f "$file" \
        "coaps://127.0.0.1:$DTLS_PORT$path" 2>&1) || true
    line=$(printf '%s\n' "$out" | grep -E '^v:1 t:(CON|ACK|NON) c:[2-5]\.[0-9]{2} ' | tail -n 1) || true
    [ -n "$line" ] || return 0
    sed -E 's/^v:1 t:[A-Z]+ c:([2-5]\.[0-9]{2}) .*/\1/' <<<"$line"
}

encode_uplink 'seq: 1 interval_s: 60 temperature: [2100]' "$TEST_TMP/one.bin"
encode_uplink 'seq: 2 interval_s: 60 temperature: [2200]' "$TEST_TMP/two.bin"
encode_uplink 'seq: 3 interval_s: 60 temperature: [2300]' "$TEST_TMP/three.bin"

# 1. No key anywhere yet: NoSec is on, for registered devices only.
"$SENSORBROCTL_BIN" -j "$DB" device add --dev-eui "$PLAIN" >/dev/null || fail "device add"
expect_eq "NoSec, registered, no key anywhere" "2.04" \
    "$(coap_post "$COAP_PORT" "/up/$PLAIN" "$TEST_TMP/one.bin")"
expect_eq "NoSec, unregistered" "4.03 device not registered" \
    "$(coap_post "$COAP_PORT" "/up/$STRANGER" "$TEST_TMP/one.bin")"

# 2. A device with a key. coap-client's -k takes the key's bytes as text: an ASCII key.
KEY=sensorbro-test-k
printf '%s' "$KEY" | od -An -v -tx1 | tr -d ' \n' >"$TEST_TMP/psk.hex"
chmod 600 "$TEST_TMP/psk.hex"
"$SENSORBROCTL_BIN" -j "$DB" device add --dev-eui "$KEYED" --psk-file "$TEST_TMP/psk.hex" \
    >"$TEST_TMP/add.out" || fail "device add --psk-file"
if grep -q "$(cat "$TEST_TMP/psk.hex")" "$TEST_TMP/add.out"; then fail "device add printed the key"; fi
"$SENSORBROCTL_BIN" -j "$DB" device show "$KEYED" | grep -q "coap.psk.*(secret, 32 bytes)" ||
    fail "device show does not mask coap.psk"

# The daemon reads the registry's generation at most once a second.
wait_until "NoSec turned off by the first key" 10 grep -q "NoSec) on port $COAP_PORT is now off" \
    "$TEST_TMP/gw.log"
expect_eq "NoSec, registered device without a key, once a key exists" "4.03 use DTLS (coaps)" \
    "$(coap_post "$COAP_PORT" "/up/$PLAIN" "$TEST_TMP/two.bin")"
expect_eq "DTLS, right key" "2.04" "$(dtls_post "$KEYED" "$KEY" "/up/$KEYED" "$TEST_TMP/one.bin")"
expect_eq "DTLS, wrong key: no handshake" "" \
    "$(dtls_post "$KEYED" "sensorbro-wrong!" "/up/$KEYED" "$TEST_TMP/two.bin")"
expect_eq "DTLS, identity posting for another device" "4.03" \
    "$(dtls_post "$KEYED" "$KEY" "/up/$PLAIN" "$TEST_TMP/two.bin")"
expect_eq "DTLS, device without a key: no handshake" "" \
    "$(dtls_post "$PLAIN" "$KEY" "/up/$PLAIN" "$TEST_TMP/two.bin")"
expect_eq "DTLS, unregistered identity: no handshake" "" \
    "$(dtls_post "$STRANGER" "$KEY" "/up/$STRANGER" "$TEST_TMP/two.bin")"
expect_eq "NoSec, the keyed device" "4.03 use DTLS (coaps)" \
    "$(coap_post "$COAP_PORT" "/up/$KEYED" "$TEST_TMP/three.bin")"

# 3. Stored: exactly the 2.04s reach the broker (PLAIN seq 1, KEYED seq 1).
collect_messages "$MQTT_PORT" d-sub "sensorbro/gw-d/+/up" 2 5 "$TEST_TMP/messages.txt"
expect_eq "messages on the broker" 2 "$(wc -l <"$TEST_TMP/messages.txt")"
grep -q "sensorbro/gw-d/$KEYED/up" "$TEST_TMP/messages.txt" || fail "the DTLS frame was not published"

# 4. Block-wise uploads of 1 MiB (Block1, 1024-byte blocks) over DTLS, 20 of them: each
# refused at its first block, nothing buffered.
head -c 1048576 /dev/urandom >"$TEST_TMP/big.bin"
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SB_PID/status"; }
expect_eq "block-wise 1 MiB" "4.13" \
    "$(dtls_post "$KEYED" "$KEY" "/up/$KEYED" "$TEST_TMP/big.bin" -b 1024)"
before_kb=$(rss_kb)
for ((i = 0; i < 20; i++)); do
    dtls_post "$KEYED" "$KEY" "/up/$KEYED" "$TEST_TMP/big.bin" -b 1024 >/dev/null
done
after_kb=$(rss_kb)
log "RSS before ${before_kb} kB, after 20 block-wise MiB uploads ${after_kb} kB"
[ $((after_kb - before_kb)) -lt 4096 ] ||
    fail "RSS grew by $((after_kb - before_kb)) kB over 20 refused block-wise uploads"

# 5. Replies never longer than requests: minimal requests from a raw UDP socket.
python3 - "$COAP_PORT" "$KEYED" >"$TEST_TMP/sizes.txt" <<'EOF' || fail "raw UDP client failed"
import socket, sys
port, eui = int(sys.argv[1]), sys.argv[2].encode()
def opt(delta, value):
    return bytes([(delta << 4) | len(value)]) + value if len(value) < 13 else \
        bytes([(delta << 4) | 13, len(value) - 13]) + value
def request(code, mid, token, path, payload=b""):
    b = bytes([0x40 | len(token), code, mid >> 8, mid & 0xff]) + token
    last = 0
    for seg in path:
        b += opt(11 - last, seg); last = 11
    return b + (b"\xff" + payload if payload else b"")
cases = [
    ("4.04 no path", request(0x02, 1, b"", [])),
    ("4.04 other path", request(0x02, 2, b"\x01", [b"x"])),
    ("4.05 GET", request(0x01, 3, b"", [b"up", eui])),
    ("4.03 NoSec off", request(0x02, 4, b"", [b"up", eui], b"\x08\x01")),
    ("4.13 too large", request(0x02, 5, b"", [b"up", eui], b"\x00" * 300)),
]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
for name, req in cases:
    s.sendto(req, ("127.0.0.1", port))
    reply = s.recv(2048)
    code, what = name.split(" ", 1)
    print(code, len(req), len(reply), "%d.%02d" % (reply[1] >> 5, reply[1] & 31),
          what.replace(" ", "_"))
EOF
cat "$TEST_TMP/sizes.txt" >&2
expect_eq "raw replies" 5 "$(wc -l <"$TEST_TMP/sizes.txt")"
while read -r code req_len reply_len got what; do
    [ "$got" = "$code" ] || fail "$code $what: answered $got"
    [ "$reply_len" -le "$req_len" ] || fail "$code $what: a $reply_len-byte reply to $req_len bytes"
done <"$TEST_TMP/sizes.txt"

# 6. A generated key: printed once by the command that made it, masked ever after.
"$SENSORBROCTL_BIN" -j "$DB" device set "$PLAIN" --psk generate >"$TEST_TMP/gen.out" ||
    fail "device set --psk generate"
GENERATED=$(grep -xE '[0-9a-f]{32}' "$TEST_TMP/gen.out") || fail "no generated key printed"
"$SENSORBROCTL_BIN" -j "$DB" device show "$PLAIN" >"$TEST_TMP/show.out"
grep -q "coap.psk.*(secret, 32 bytes)" "$TEST_TMP/show.out" || fail "generated key not masked"
if grep -q "$GENERATED" "$TEST_TMP/show.out"; then fail "device show printed the key"; fi
expect_eq "--psk with a key on the command line" 2 \
    "$("$SENSORBROCTL_BIN" -j "$DB" device set "$PLAIN" --psk "$GENERATED" 2>/dev/null; echo $?)"

stop_sensorbro
stats=$(grep "stats: coap" "$TEST_TMP/gw.log" | tail -n 1)
log "$stats"
grep -q "refused: wrong device 1, unregistered 1," <<<"$stats" || fail "wrong device/unregistered not counted"
grep -Eq "nosec [3-9]," <<<"$stats" || fail "NoSec refusals not counted"
grep -q "block-wise 21," <<<"$stats" || fail "block-wise refusals not counted"
grep -Eq "unknown PSK identity [2-9]" <<<"$stats" || fail "unknown identities not counted"
if grep -q "$(cat "$TEST_TMP/psk.hex")\|$KEY\|$GENERATED" "$TEST_TMP/gw.log"; then
    fail "a key is in the log"
fi
log "ok"
