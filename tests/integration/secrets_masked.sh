#!/usr/bin/env bash
# No secret in anything sensorbro or sensorbroctl prints. The daemon runs at log level debug
# with a known broker password (and another for the LNS feed's connection) against a real
# Mosquitto that checks both, and ABP and OTAA devices with known NwkSKey, AppSKey and
# AppKey; an uplink of the ABP device goes through GWMP, one with a wrong key is refused,
# an LNS event and a bad CoAP payload arrive. Then every sensorbroctl command runs, with
# its help, its JSON variants and some refused calls (a key one digit short, a device that
# exists). Every log, every output, the metrics (`status --json`), the effective
# configuration and every published message are searched for the passwords and the keys
# (hex, either case; base64): none is found. watch is also fed a payload with escape
# sequences, which must reach its output as text, not as ESC bytes.
source "$(dirname "$0")/lib.sh"
GWMP=(python3 "$(dirname "$0")/gwmp_tool.py")

PASS_MQTT='Broker-Pass-9f3e51'
PASS_LNS='Lns-Pass-77c2a0'
NWK=4E2F1C3A9B8D7E6F5A4B3C2D1E0F9A8B
APPS=0A1B2C3D4E5F60718293A4B5C6D7E8F9
APPKEY=F0E1D2C3B4A5968778695A4B3C2D1E0F
OTHER=11111111111111111111111111111111 # a wrong NwkSKey, for a refused frame

MQTT_PORT=$(free_port)
UDP_PORT=$(free_port)
COAP_PORT=$(free_port)
PASSWD=$TEST_TMP/passwd
touch "$PASSWD" && chmod 600 "$PASSWD"
mosquitto_passwd -b "$PASSWD" gw "$PASS_MQTT" || fail "mosquitto_passwd"
mosquitto_passwd -b "$PASSWD" ns "$PASS_LNS" || fail "mosquitto_passwd"
mosquitto_passwd -b "$PASSWD" sub sub-password || fail "mosquitto_passwd"
MOSQ_PROBE_ARGS=(-u sub -P sub-password)
start_mosquitto "$MQTT_PORT" "allow_anonymous false" "password_file $PASSWD"
SUB=(-u sub -P sub-password)
mosquitto_sub -p "$MQTT_PORT" "${SUB[@]}" -i sm-sub -c -q 1 -t "sensorbro/gw-sm/+/up" -E ||
    fail "cannot subscribe"

SB_DIR=$TEST_TMP/gw
mkdir -p "$SB_DIR"
CFG=$TEST_TMP/secret/sensorbro.ini # the secrets live here and in the journal only
mkdir -m 700 "$TEST_TMP/secret"
cat >"$CFG" <<INI
[gateway]
id = gw-sm
[coap]
bind = 127.0.0.1
port = $COAP_PORT
[semtech_udp]
bind = 127.0.0.1
port = $UDP_PORT
[journal]
path = $SB_DIR/sensorbro.db
[mqtt]
host = 127.0.0.1
port = $MQTT_PORT
username = gw
password = $PASS_MQTT
reconnect_min_ms = 100
reconnect_max_ms = 500
[lns_mqtt]
enabled = true
host = 127.0.0.1
port = $MQTT_PORT
username = ns
password = $PASS_LNS
[log]
level = debug
INI
chmod 600 "$CFG"
printf 'nwkskey = %s\nappskey = %s\n' "$NWK" "$APPS" >"$TEST_TMP/secret/abp.keys"
printf 'appkey = %s\n' "$APPKEY" >"$TEST_TMP/secret/otaa.keys"
chmod 600 "$TEST_TMP"/secret/*.keys

OUT=$TEST_TMP/out # every output of every command, one file each
mkdir -p "$OUT"
N=0
# ctl EXPECTED_STATUS ARGS...: sensorbroctl -c CFG ARGS, stdout and stderr kept
ctl()
{
    local expected=$1 status=0
    shift
    N=$((N + 1))
    "$SENSORBROCTL_BIN" -c "$CFG" "${ROOT_KEEP_ARGS[@]}" "$@" >"$OUT/$N.out" 2>"$OUT/$N.err" \
        </dev/null || status=$?
    expect_eq "sensorbroctl $*: exit status ($(cat "$OUT/$N.err"))" "$expected" "$status"
}

ctl 0 device add --dev-eui 70b3d57ed000c001 --dev-addr 26011C01 --keys-file "$TEST_TMP/secret/abp.keys" \
    --name "room 7"
ctl 0 device add --dev-eui 70b3d57ed000c002 --join-eui 70b3d57ed00000aa \
    --keys-file "$TEST_TMP/secret/otaa.keys"
# refusals: a key one digit short (never echoed), a device that is there already
ctl 2 device add --dev-eui 70b3d57ed000c003 --dev-addr 26011C03 --nwk-s-key "${NWK:1}" \
    --app-s-key "$APPS"
ctl 1 device add --dev-eui 70b3d57ed000c001 --dev-addr 26011C01 --nwk-s-key "$NWK" \
    --app-s-key "$APPS"

(cd "$SB_DIR" && exec "$SENSORBRO_BIN" -c "$CFG" "${ROOT_KEEP_ARGS[@]}" "${HTTP_ARGS[@]}") >>"$TEST_TMP/gw.log" 2>&1 &
SB_PID=$!
STARTED_PIDS+=("$SB_PID")
wait_until "connected to the broker" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"
wait_until "the LNS feed subscribed" 15 grep -q "lns-mqtt: subscribed" "$TEST_TMP/gw.log"

encode_uplink "seq: 11 interval_s: 60 temperature: [2101]" "$TEST_TMP/u.bin"
PHY=$("${GWMP[@]}" uplink --dev-addr 26011C01 --nwk-s-key "$NWK" --app-s-key "$APPS" --fcnt 1 \
    --payload-file "$TEST_TMP/u.bin")
BAD=$("${GWMP[@]}" uplink --dev-addr 26011C01 --nwk-s-key "$OTHER" --app-s-key "$APPS" --fcnt 2 \
    --payload-file "$TEST_TMP/u.bin")
"${GWMP[@]}" push --server "$UDP_PORT" --phy "$PHY" --eui aa555a000000c0de --timeout 5 \
    >"$OUT/push1.txt" || true
grep -q "^ack aa555a000000c0de" "$OUT/push1.txt" || fail "no PUSH_ACK: $(cat "$OUT/push1.txt")"
"${GWMP[@]}" push --server "$UDP_PORT" --phy "$BAD" --eui aa555a000000c0de --timeout 5 \
    >"$OUT/push2.txt" || true
encode_uplink "seq: 12 interval_s: 60 co2: [555]" "$TEST_TMP/l.bin"
chirpstack_event 9e3a8b7c-1234-4f00-9a1b-0123456789ab 70B3D57ED000C0FF 5 \
    "$(base64 -w0 "$TEST_TMP/l.bin")" | mosquitto_pub -p "$MQTT_PORT" "${SUB[@]}" -q 1 \
    -t application/a1/device/70b3d57ed000c0ff/event/up -s
printf 'not protobuf' >"$TEST_TMP/bad.bin"
coap_post "$COAP_PORT" /up/70b3d57ed000c0aa "$TEST_TMP/bad.bin" >"$OUT/coap.txt"
collect_messages "$MQTT_PORT" sm-sub "sensorbro/gw-sm/+/up" 2 15 "$OUT/published.txt" "${SUB[@]}"
expect_eq "published readings" 2 "$(wc -l <"$OUT/published.txt")"

# watch: one reading with escape sequences in it (an OSC that would set the title, a CSI
# that would clear the screen), shown as text.
"$SENSORBROCTL_BIN" -c "$CFG" "${ROOT_KEEP_ARGS[@]}" watch --count 2 --duration 20 \
    >"$OUT/watch.out" 2>"$OUT/watch.err" &
WATCH_PID=$!
STARTED_PIDS+=("$WATCH_PID")
wait_until "watch subscribed" 15 grep -q "^watching " "$OUT/watch.err"
printf '{"device":"evil\x1b]0;pwned\x07\x1b[2J","values":{"co2_ppm":1},"status":["x\x1b[31m"]}' |
    mosquitto_pub -p "$MQTT_PORT" "${SUB[@]}" -q 1 -t sensorbro/gw-sm/evil/up -s
printf 'raw\x1b[1A\rpayload' | mosquitto_pub -p "$MQTT_PORT" "${SUB[@]}" -q 1 -t sensorbro/gw-sm/raw/up -s
wait_until "watch done" 15 bash -c "! kill -0 $WATCH_PID 2>/dev/null"
grep -qF 'evil\x1b]0;pwned\x07\x1b[2J' "$OUT/watch.out" || fail "watch: $(cat -v "$OUT/watch.out")"
grep -qF 'raw\x1b[1A\x0dpayload' "$OUT/watch.out" || fail "watch raw: $(cat -v "$OUT/watch.out")"
! grep -q $'\x1b' "$OUT/watch.out" || fail "an ESC byte reached watch's output"

# Every other command.
ctl 0 help
for c in decode status quarantine watch "journal check" "journal recover" "device add" \
    "device list" "device show" "device remove" "device downlink"; do
    # shellcheck disable=SC2086
    ctl 0 help $c
done
ctl 0 decode --device 70b3d57ed000c001 "$(od -An -tx1 "$TEST_TMP/u.bin" | tr -d ' \n')"
ctl 0 status
ctl 0 status --json
jq -e '.frames_ever_journaled >= 2 and (.sensorbro.metrics | length) > 50' "$OUT/$N.out" >/dev/null ||
    fail "status --json: $(cat "$OUT/$N.out")"
ctl 0 quarantine
ctl 0 journal check
ctl 0 journal recover --output "$TEST_TMP/recovered.db"
ctl 0 device list
ctl 0 device list --json
ctl 0 device show 70b3d57ed000c001
ctl 0 device show 70b3d57ed000c002
ctl 0 device downlink 70b3d57ed000c001 0a0b --port 3
ctl 0 device remove 70b3d57ed000c002
"$SENSORBRO_BIN" -c "$CFG" --print-config >"$OUT/print-config.txt" 2>&1
"$SENSORBRO_BIN" -c "$CFG" --check-config >"$OUT/check-config.txt" 2>&1
"$SENSORBRO_BIN" --help >"$OUT/help.txt" 2>&1
stop_pid "$SB_PID"
expect_eq "sensorbro exit status" 0 "$STOP_STATUS"

# The search: passwords as given, keys in hex (either case) and in base64.
SECRETS=("$PASS_MQTT" "$PASS_LNS" "$NWK" "$APPS" "$APPKEY" "${NWK:1}")
for k in "$NWK" "$APPS" "$APPKEY"; do
    SECRETS+=("$(python3 -c "import base64, sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())" "$k")")
done
FILES=("$TEST_TMP/gw.log" "$TEST_TMP/mosquitto.log" "$OUT"/*)
expect_eq "files searched > 30" 1 "$([ "${#FILES[@]}" -gt 30 ] && echo 1 || echo 0)"
for s in "${SECRETS[@]}"; do
    if found=$(grep -ilF -- "$s" "${FILES[@]}"); then
        fail "secret ${s:0:4}... found in: $found"
    fi
done
# The keys are where they belong: in the journal (bytes), so the search is for real values.
python3 -c 'import sys; sys.exit(bytes.fromhex(sys.argv[2]) not in open(sys.argv[1], "rb").read())' \
    "$SB_DIR/sensorbro.db" "$NWK" || fail "the NwkSKey is not in the journal: the search proves nothing"
log "ok: ${#SECRETS[@]} secrets absent from ${#FILES[@]} files"
