#!/usr/bin/env bash
# Every sensorbroctl command against a daemon under load, then kill -9.
#
# The daemon runs with all three ingests: CoAP (fleet-sim), Semtech UDP (sb-gwmp-fleet: ABP
# devices behind a packet forwarder, real LoRaWAN frames) and the LNS MQTT feed (ChirpStack
# events). While they send, every sensorbroctl command is run once, reads and writes alike,
# and after each one (and every 0.2 s in between) the daemon's descriptors are checked: its
# journal, -wal and -shm must never be deleted or replaced under it. Then the broker stalls
# for 2 s (frames pile up pending) and the daemon is killed with SIGKILL. Checked:
#   - on disk, right after the kill: every frame acknowledged to its sender (CoAP 2.04,
#     GWMP PUSH_ACK) is in the journal;
#   - after a restart: the first LoRaWAN frame captured on the air, replayed, is refused and
#     not published again; the device's real next frame is taken (no lock-out);
#   - after the drain: every acknowledged uplink and every LNS event reached the broker, in
#     order per device.
# This is the test that would have caught a `device add` detaching the daemon from its
# WAL (issue 8): closing a descriptor of the database dropped the daemon's POSIX locks.
source "$(dirname "$0")/faults_lib.sh"
GWMP=(python3 "$REPO_DIR/tests/integration/gwmp_tool.py")
GWMP_FLEET_BIN=${GWMP_FLEET_BIN:-$REPO_DIR/build/tests/sb-gwmp-fleet}

COAP_SENSORS=20
COAP_RATE=300
LORA_DEVICES=10
LORA_RATE=100
LNS_EVENTS=400
LNS_DEVICES=4
MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
UDP_PORT=$(free_port)
GW=gw-ctl
APP=a1b2c3d4-0000-1111-2222-333344445555
CTL=("$SENSORBROCTL_BIN")

start_mosquitto "$MQTT_PORT"
start_subscriber "$MQTT_PORT" "sensorbro/$GW/+/up"
mkdir -p "$TEST_TMP/gw"
DB=$TEST_TMP/gw/sensorbro.db
cat >"$TEST_TMP/sb.ini" <<EOF
[gateway]
id = $GW
[journal]
path = $DB
[mqtt]
port = $MQTT_PORT
reconnect_min_ms = 100
reconnect_max_ms = 500
[coap]
bind = 127.0.0.1
port = $COAP_PORT
[semtech_udp]
bind = 127.0.0.1
port = $UDP_PORT
dedup_window_ms = 50
[lns_mqtt]
enabled = true
host = 127.0.0.1
port = $MQTT_PORT
EOF
CTL+=(-c "$TEST_TMP/sb.ini")

# The LoRaWAN devices, provisioned before the daemon starts (keys from a 0600 file).
"$GWMP_FLEET_BIN" --print-devices "$LORA_DEVICES" >"$TEST_TMP/devices.txt"
while read -r eui addr nwk app; do
    printf 'nwkskey = %s\nappskey = %s\n' "$nwk" "$app" >"$TEST_TMP/keys"
    chmod 600 "$TEST_TMP/keys"
    "${CTL[@]}" device add --dev-eui "$eui" --dev-addr "$addr" --keys-file "$TEST_TMP/keys" \
        --name "lora-$eui" >/dev/null || fail "device add $eui"
done <"$TEST_TMP/devices.txt"

SB_ARGS=(-c "$TEST_TMP/sb.ini" --set semtech_udp.port="$UDP_PORT")
start_sensorbro gw "${SB_ARGS[@]}"
wait_until "lns-mqtt subscribed" 15 grep -q "lns-mqtt: subscribed" "$TEST_TMP/gw.log"

# --- the watcher: the daemon's journal descriptors, every 0.2 s -------------------------
watch_fds()
{
    local pid=$1 i bad
    for ((i = 0; i < 3000; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        bad=$(check_journal_fds "$pid" "$DB")
        [ -z "$bad" ] || echo "$(date +%T.%N) $bad" >>"$TEST_TMP/detached.txt"
        sleep 0.2
    done
}
watch_fds "$SB_PID" &
WATCH_PID=$!
STARTED_PIDS+=("$WATCH_PID")

# --- load -------------------------------------------------------------------------------
start_fleet "$COAP_PORT" 0 "$COAP_RATE" "$COAP_SENSORS"
"$GWMP_FLEET_BIN" --server "$UDP_PORT" --devices "$LORA_DEVICES" --rate "$LORA_RATE" \
    --duration 300 --log-acked "$TEST_TMP/acked-lorawan.csv" --log-sent "$TEST_TMP/sent-lorawan.csv" \
    2>"$TEST_TMP/gwmp-fleet.log" &
GWMP_PID=$!
STARTED_PIDS+=("$GWMP_PID")

# LNS events: one line of JSON each, seq = fCnt, paced through one mosquitto_pub -l.
python3 - "$LNS_EVENTS" "$LNS_DEVICES" "$APP" >"$TEST_TMP/lns-events.txt" <<'EOF'
import base64, datetime, json, sys
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
n, devices, app = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def varint(v):
    out = b""
    while True:
        b, v = v & 0x7F, v >> 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out
def zigzag(v):
    return (v << 1) ^ (v >> 31)
for k in range(n):
    dev, seq = k % devices, k // devices
    temps = b"".join(varint(zigzag(t)) for t in (2000 + seq % 40, 1, -1))
    up = b"\x08" + varint(seq) + b"\x10" + varint(300) + b"\x22" + varint(len(temps)) + temps
    eui = "70b3d57ed2%06x" % dev
    ev = {"deduplicationId": "00000000-0000-4000-8000-%012x" % k,
          "time": now,
          "deviceInfo": {"applicationId": app, "devEui": eui, "deviceName": "lns-%d" % dev},
          "fCnt": seq, "fPort": 2, "data": base64.b64encode(up).decode(),
          "rxInfo": [{"gatewayId": "0016c001ff10a235", "rssi": -90, "snr": 5.0}]}
    print("application/%s/device/%s/event/up\t%s\t%d\t%s" % (app, eui, eui, seq, json.dumps(ev)))
EOF
cut -f2,3 "$TEST_TMP/lns-events.txt" >"$TEST_TMP/lns-sent.tsv"
(
    while IFS=$'\t' read -r topic _ _ json; do
        mosquitto_pub -p "$MQTT_PORT" -q 1 -i "$TEST_NAME-lns-pub" -t "$topic" -m "$json" ||
            echo "publish failed" >&2
        sleep 0.02
    done <"$TEST_TMP/lns-events.txt"
) 2>>"$TEST_TMP/lns-pub.log" &
LNS_PID=$!
STARTED_PIDS+=("$LNS_PID")

wait_until "load flowing" 20 bash -c "[ \$(wc -l <'$TEST_TMP/acked.csv' 2>/dev/null || echo 0) -gt 200 ]"

# --- every sensorbroctl command, reads and writes, while the load runs ------------------
# run_ctl EXPECTED_STATUS ARGS...: runs one command and checks the daemon's descriptors.
run_ctl()
{
    local want=$1 rc=0 bad
    shift
    "${CTL[@]}" "$@" >"$TEST_TMP/ctl.out" 2>&1 || rc=$?
    [ "$rc" -eq "$want" ] || { cat "$TEST_TMP/ctl.out" >&2; fail "sensorbroctl $* exited $rc, expected $want"; }
    bad=$(check_journal_fds "$SB_PID" "$DB")
    [ -z "$bad" ] || fail "after sensorbroctl $*: the daemon's journal is detached: $bad"
    CTL_RUNS=$((CTL_RUNS + 1))
    log "sensorbroctl $*: ok"
}
CTL_RUNS=0
NEW_EUI=70b3d57ed00b0009
printf 'nwkskey = %s\nappskey = %s\n' 000102030405060708090a0b0c0d0e0f \
    0f0e0d0c0b0a09080706050403020100 >"$TEST_TMP/newkeys"
encode_uplink 'seq: 3 interval_s: 60 temperature: [2100]' "$TEST_TMP/one.bin"
run_ctl 0 status
run_ctl 0 status --json
run_ctl 0 quarantine
run_ctl 0 decode "$(od -v -An -tx1 "$TEST_TMP/one.bin" | tr -d ' \n')"
run_ctl 0 journal check
run_ctl 0 device list
run_ctl 0 device list --json
run_ctl 0 device show 70b3d57ed1000000
run_ctl 0 device add --dev-eui "$NEW_EUI" --dev-addr 26011BD9 --keys-file - <"$TEST_TMP/newkeys"
run_ctl 1 device add --dev-eui "$NEW_EUI" --dev-addr 26011BD9 --keys-file - <"$TEST_TMP/newkeys"
run_ctl 0 device downlink "$NEW_EUI" 0102 --port 3
run_ctl 0 device downlink 70b3d57ed1000001 0a0b
run_ctl 0 device remove "$NEW_EUI"
run_ctl 0 watch --count 1 --duration 5
run_ctl 0 journal recover --output "$TEST_TMP/recovered.db"
# and the writes once more in a burst, as a provisioning script would
for i in 1 2 3; do
    run_ctl 0 device add --dev-eui "$NEW_EUI" --dev-addr 26011BD9 --keys-file - <"$TEST_TMP/newkeys"
    run_ctl 0 device remove "$NEW_EUI"
done
run_ctl 0 status

# --- broker stall, then kill -9 ---------------------------------------------------------
sleep 1
kill -STOP "$MOSQ_PID"
sleep 2
kill -KILL "$SB_PID"
wait "$SB_PID" 2>/dev/null || true
kill -CONT "$MOSQ_PID"
killed_pid=$SB_PID
log "sensorbro killed with SIGKILL under load, after every sensorbroctl command"
# Stop the senders (what they still send now goes unanswered and unlogged), and wait
# until their logs are complete.
kill -TERM "$FLEET_PID" "$GWMP_PID" 2>/dev/null || true
wait "$FLEET_PID" 2>/dev/null || true
wait "$GWMP_PID" 2>/dev/null || true
[ ! -s "$TEST_TMP/detached.txt" ] || { cat "$TEST_TMP/detached.txt" >&2; fail "the daemon's journal was detached while it ran"; }

# On disk, before anything opens the journal again (the kill left the WAL in place; a
# reader sees what it holds). Every acknowledged frame must be there.
python3 - "$DB" "$TEST_TMP/acked.csv" "$TEST_TMP/acked-lorawan.csv" >"$TEST_TMP/on-disk.txt" <<'EOF' ||
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
def seq_of(payload):
    # field 1 (seq), a varint, comes first when present; absent means seq 0
    if not payload or payload[0] != 0x08:
        return 0
    v, shift = 0, 0
    for b in payload[1:10]:
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v
    return -1
have_coap, have_lora = set(), set()
for device, transport, payload, fcnt in db.execute(
        "SELECT device, transport, payload, fcnt FROM frames"):
    if transport == "coap":
        have_coap.add((device, seq_of(payload)))
    elif transport == "semtech-udp":
        have_lora.add((device, fcnt))
missing = 0
for path, have, kind in ((sys.argv[2], have_coap, "coap"), (sys.argv[3], have_lora, "lorawan")):
    acked = 0
    with open(path) as f:
        next(f)
        for line in f:
            device, number = line.split(",")[:2]
            acked += 1
            if (device, int(number)) not in have:
                missing += 1
                if missing <= 5:
                    print("acknowledged but not on disk: %s %s %s" % (kind, device, number), file=sys.stderr)
    print("%s_acked %d" % (kind, acked))
print("missing %d" % missing)
sys.exit(1 if missing else 0)
EOF
    { cat "$TEST_TMP/on-disk.txt" >&2; fail "acknowledged frames are not on disk after kill -9"; }
coap_acked=$(awk '$1 == "coap_acked" {print $2}' "$TEST_TMP/on-disk.txt")
lora_acked=$(awk '$1 == "lorawan_acked" {print $2}' "$TEST_TMP/on-disk.txt")
log "on disk after kill -9: all $coap_acked CoAP and $lora_acked LoRaWAN acknowledged frames"
[ "$coap_acked" -gt 500 ] && [ "$lora_acked" -gt 200 ] || fail "too little load to prove anything"

# --- restart: LoRaWAN counters survived ---------------------------------------------------
(cd "$SB_DIR" && exec "$SENSORBRO_BIN" "${SB_ARGS[@]}" "${ROOT_KEEP_ARGS[@]}" "${HTTP_ARGS[@]}" "${COAP_ARGS[@]}") >>"$TEST_TMP/gw.log" 2>&1 &
SB_PID=$!
STARTED_PIDS+=("$SB_PID")
wait_until "sensorbro restarted" 20 bash -c "[ \$(grep -c 'coap: listening' '$TEST_TMP/gw.log') -ge 2 ]"
[ "$SB_PID" != "$killed_pid" ] || fail "no new daemon"
read -r first_eui first_fcnt first_phy < <(head -n 1 "$TEST_TMP/sent-lorawan.csv" | tr ',' ' ')
"${GWMP[@]}" push --server "$UDP_PORT" --phy "$first_phy" --eui aa555a000000fa02 --timeout 1 >/dev/null
# The daemon writes its counters to the journal every 5 s: the replay shows up there.
old_fcnt_refused()
{
    "${CTL[@]}" status --json |
        jq -e '.sensorbro.metrics["sensorbro_lorawan_dropped_total{reason=\"old_fcnt\"}"] >= 1'
}
wait_until "the replayed frame counted as an old FCnt" 15 old_fcnt_refused
last_fcnt=$(awk -F, -v d="$first_eui" '$1 == d {f = $2} END {print f}' "$TEST_TMP/sent-lorawan.csv")
next_fcnt=$((last_fcnt + 1))
read -r _ addr nwk app < <(grep "^$first_eui " "$TEST_TMP/devices.txt")
encode_uplink "seq: $next_fcnt interval_s: 300 temperature: [2222]" "$TEST_TMP/next.bin"
next_phy=$("${GWMP[@]}" uplink --dev-addr "$addr" --nwk-s-key "$nwk" --app-s-key "$app" \
    --fcnt "$next_fcnt" --payload-file "$TEST_TMP/next.bin")
acks=$("${GWMP[@]}" push --server "$UDP_PORT" --phy "$next_phy" --eui aa555a000000fa02 --timeout 2)
[ "$acks" = "ack aa555a000000fa02" ] || fail "the device's next frame (FCnt $next_fcnt) was not acknowledged: $acks"
printf '%s,%s,%s\n' "$first_eui" "$next_fcnt" "$next_fcnt" >>"$TEST_TMP/acked-lorawan.csv"

# --- drain and check delivery -------------------------------------------------------------
wait_until "the LNS events all published" 60 bash -c "! kill -0 $LNS_PID 2>/dev/null"
wait_drained 120
lns_count=$(wc -l <"$TEST_TMP/lns-sent.tsv")
total=$((coap_acked + lora_acked + 1 + lns_count))
wait_until "subscriber has every uplink" 60 bash -c \
    "[ \$(jq -r '[.device, .seq] | @tsv' '$TEST_TMP/messages.json' | sort -u | wc -l) -ge $total ]"
stop_sensorbro
stop_pid "$SUB_PID"

# The replayed first frame is in the journal once: it was stored before the kill and
# refused after it.
rows=$(python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
print(db.execute("SELECT count(*) FROM frames WHERE device = ? AND fcnt = ?", (sys.argv[2], int(sys.argv[3]))).fetchone()[0])' \
    "$DB" "$first_eui" "$first_fcnt")
expect_eq "journal rows of the replayed frame" 1 "$rows"

# Every acknowledged frame and every LNS event, in order per device.
{
    head -n 1 "$TEST_TMP/acked.csv"
    tail -n +2 "$TEST_TMP/acked.csv"
    tail -n +2 "$TEST_TMP/acked-lorawan.csv"
    tr '\t' ',' <"$TEST_TMP/lns-sent.tsv"
} >"$TEST_TMP/acked-all.csv"
mv "$TEST_TMP/acked-all.csv" "$TEST_TMP/acked.csv"
check_delivery "$total" "$total"
report ctl_under_load \
    "sensorbroctl commands run under load" "$CTL_RUNS" \
    "CoAP uplinks acknowledged" "$coap_acked" \
    "LoRaWAN uplinks PUSH_ACKed" "$lora_acked" \
    "LNS events published" "$lns_count" \
    "on disk after kill -9" "all" \
    "journal detached while running" "never" \
    "replayed frame after restart" "refused" \
    "messages received" "$RECEIVED" \
    "duplicates" "$DUPLICATES"
log "ok"
