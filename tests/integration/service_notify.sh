#!/usr/bin/env bash
# sensorbro under a service manager's eyes: what it sends over NOTIFY_SOCKET, as systemd
# would receive it (tests/integration/notify_socket.py plays systemd's end, and this
# script applies systemd's watchdog rule to what arrived: a gap of WatchdogSec without
# WATCHDOG=1 is a restart). With WatchdogSec=2 s:
#   - READY=1 comes once the sockets are bound: an uplink posted right after it is stored;
#   - WATCHDOG=1 keeps coming while idle, and through a broker outage with frames pending
#     (the daemon must not be restarted for the broker's fault); STATUS= shows the depth
#     and the broker state;
#   - a journal writer stuck on a database lock (another process holds SQLite's write
#     lock, so every commit waits out its 5 s busy timeout) stops the pings for longer than
#     WatchdogSec, and says so in the log and in STATUS=; once the lock goes they resume;
#   - SIGHUP: RELOADING=1 then READY=1; log.level applies (info lines stop), another
#     changed key is reported as needing a restart; a bad file is reported and the daemon
#     runs on; SIGTERM: STOPPING=1 and a clean exit.
source "$(dirname "$0")/lib.sh"

WATCHDOG_S=2
MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
DTLS_PORT=$(free_port)
SEMTECH_PORT=$(free_port)
NOTIFY=$TEST_TMP/notify.sock
NOTES=$TEST_TMP/notify.txt
DEVICE=70b3d57ed000c0de

mono() { python3 -c 'import time; print("%.3f" % time.monotonic())'; }

# max_ping_gap FROM TO: the longest stretch in [FROM, TO] (monotonic seconds) without a
# WATCHDOG=1, counting from FROM to the first ping and from the last one to TO.
max_ping_gap()
{
    awk -v from="$1" -v to="$2" '
        $2 == "WATCHDOG=1" && $1 >= from && $1 <= to { if ($1 - last > gap) gap = $1 - last; last = $1 }
        BEGIN { last = from; gap = 0 }
        END { if (to - last > gap) gap = to - last; printf "%.3f\n", gap }' "$NOTES"
}

# last_status: the newest STATUS= text received.
last_status() { grep -o 'STATUS=.*' "$NOTES" | tail -n 1 | sed 's/ | .*//'; }
status_matches() { last_status | grep -q -- "$1"; }

python3 "$(dirname "$0")/notify_socket.py" "$NOTIFY" "$NOTES" --timeout 240 \
    2>>"$TEST_TMP/notify.log" &
STARTED_PIDS+=($!)
wait_until "the notify socket" 10 test -S "$NOTIFY"
: >"$NOTES"

start_mosquitto "$MQTT_PORT"
CONFIG=$TEST_TMP/sensorbro.ini
write_config()
{
    cat >"$CONFIG" <<EOF
[coap]
bind = 127.0.0.1
port = $COAP_PORT
dtls_bind = 127.0.0.1
dtls_port = $DTLS_PORT
accept_unregistered = true
[semtech_udp]
bind = 127.0.0.1
port = $SEMTECH_PORT
[mqtt]
port = $MQTT_PORT
reconnect_min_ms = 200
reconnect_max_ms = 1000
$1
[log]
level = $2
EOF
}
write_config "" info

SB_DIR=$TEST_TMP/gw
mkdir -p "$SB_DIR"
# As systemd starts it: NOTIFY_SOCKET, WATCHDOG_USEC, and WATCHDOG_PID naming the daemon
# itself (the subshell's pid, which exec hands to sensorbro).
(cd "$SB_DIR" && export NOTIFY_SOCKET="$NOTIFY" WATCHDOG_USEC=$((WATCHDOG_S * 1000000)) &&
    WATCHDOG_PID=$BASHPID exec "$SENSORBRO_BIN" -c "$CONFIG" "${ROOT_KEEP_ARGS[@]}" "${HTTP_ARGS[@]}") >>"$TEST_TMP/gw.log" 2>&1 &
SB_PID=$!
STARTED_PIDS+=("$SB_PID")

wait_until "READY=1" 10 grep -q "READY=1" "$NOTES"
grep -q "coap: listening" "$TEST_TMP/gw.log" || fail "READY=1 came before the CoAP socket was bound"
encode_uplink "seq: 1 interval_s: 60 temperature: [2150] battery: [3300]" "$TEST_TMP/up1.bin"
expect_eq "an uplink posted right after READY=1" "2.04" \
    "$(coap_post "$COAP_PORT" "/up/$DEVICE" "$TEST_TMP/up1.bin")"
grep "READY=1" "$NOTES" | head -n 1 | grep -q "STATUS=.*frames pending" ||
    fail "READY=1 without a STATUS= line: $(grep READY=1 "$NOTES" | head -n 1)"
wait_until "STATUS= with the broker connected, nothing pending" 15 \
    status_matches "^STATUS=0 frames pending; broker connected"

log "idle and connected: the watchdog is fed"
t0=$(mono)
sleep 3
gap=$(max_ping_gap "$t0" "$(mono)")
awk -v g="$gap" -v w="$WATCHDOG_S" 'BEGIN { exit !(g < w) }' ||
    fail "idle: $gap s without WATCHDOG=1 (WatchdogSec=$WATCHDOG_S)"
log "longest gap between pings while idle: $gap s"

log "broker outage with frames pending: still fed"
stop_mosquitto
wait_until "the daemon notices the outage" 15 grep -q "connection to .* lost" "$TEST_TMP/gw.log"
t0=$(mono)
for seq in 2 3 4 5 6; do
    encode_uplink "seq: $seq interval_s: 60 temperature: [2150] battery: [3300]" "$TEST_TMP/up.bin"
    expect_eq "uplink $seq during the outage" "2.04" \
        "$(coap_post "$COAP_PORT" "/up/$DEVICE" "$TEST_TMP/up.bin")"
done
wait_until "STATUS= with 5 pending and the broker away" 15 \
    status_matches "^STATUS=5 frames pending, oldest [0-9]* s; broker disconnected, reconnecting"
sleep 2
t1=$(mono)
gap=$(max_ping_gap "$t0" "$t1")
awk -v g="$gap" -v w="$WATCHDOG_S" 'BEGIN { exit !(g < w) }' ||
    fail "broker outage: $gap s without WATCHDOG=1, systemd would have restarted the daemon"
log "longest gap between pings during the outage ($(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s): $gap s"
start_mosquitto "$MQTT_PORT"
wait_until "STATUS= drained and connected" 20 status_matches "^STATUS=0 frames pending; broker connected"

log "journal writer stuck on a lock: the pings stop"
# Another process takes SQLite's write lock: each commit of the writer then waits its
# whole busy timeout (5 s) and fails, and the next waits again.
python3 - "$SB_DIR/sensorbro.db" 9 >"$TEST_TMP/locker.log" 2>&1 <<'EOF' &
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
con.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.execute("ROLLBACK")
print("released", flush=True)
EOF
LOCKER_PID=$!
STARTED_PIDS+=("$LOCKER_PID")
wait_until "the lock is taken" 10 grep -q locked "$TEST_TMP/locker.log"
t0=$(mono)
# work for the writer while the lock is held (answers do not matter here)
posts=()
for seq in 7 8 9 10 11 12 13 14; do
    encode_uplink "seq: $seq interval_s: 60 temperature: [2150] battery: [3300]" "$TEST_TMP/up$seq.bin"
    coap_post "$COAP_PORT" "/up/$DEVICE" "$TEST_TMP/up$seq.bin" >/dev/null &
    posts+=($!)
    sleep 1
done
wait_until "the lock is released" 15 grep -q released "$TEST_TMP/locker.log"
t1=$(mono)
for pid in "${posts[@]}"; do wait "$pid" || true; done
gap=$(max_ping_gap "$t0" "$t1")
awk -v g="$gap" -v w="$WATCHDOG_S" 'BEGIN { exit !(g > w) }' ||
    fail "stuck writer: the longest gap without WATCHDOG=1 was $gap s, not above WatchdogSec=$WATCHDOG_S"
log "longest gap between pings while the writer was stuck: $gap s"
grep -q "service: journal writer: busy with no transaction finished" "$TEST_TMP/gw.log" ||
    fail "the stall is not in the log"
grep -q "STATUS=STALLED: journal writer" "$NOTES" || fail "the stall is not in STATUS="
wait_until "the pipeline moves again" 15 grep -q "the pipeline makes progress again" "$TEST_TMP/gw.log"
t0=$(mono)
sleep 3
gap=$(max_ping_gap "$t0" "$(mono)")
awk -v g="$gap" -v w="$WATCHDOG_S" 'BEGIN { exit !(g < w) }' ||
    fail "after the lock: $gap s without WATCHDOG=1"

log "SIGHUP: log.level applies, mqtt.keepalive_s waits for a restart"
write_config "keepalive_s = 20" warn
reloads=$(grep -c "RELOADING=1" "$NOTES" || true)
kill -HUP "$SB_PID"
wait_until "reload logged" 10 grep -q "reload: mqtt.keepalive_s changed (30 -> 20): takes effect at the next restart" "$TEST_TMP/gw.log"
grep -q "reload: log.level is now warn" "$TEST_TMP/gw.log" || fail "log.level change not logged"
expect_eq "RELOADING=1 messages" "$((reloads + 1))" "$(grep -c "RELOADING=1" "$NOTES")"
grep -A1 "RELOADING=1" "$NOTES" | tail -n 1 | grep -q "READY=1" || fail "no READY=1 after RELOADING=1"
# At warn, the info line of a reconnect is no longer written.
connects=$(grep -c "mqtt: connected" "$TEST_TMP/gw.log")
stop_mosquitto
start_mosquitto "$MQTT_PORT"
wait_until "connected again" 20 status_matches "broker connected"
expect_eq "info lines after the reload to warn" "$connects" "$(grep -c "mqtt: connected" "$TEST_TMP/gw.log")"

log "SIGHUP with a bad file: reported, the daemon runs on"
write_config "keepalive_s = soon" warn
kill -HUP "$SB_PID"
wait_until "the bad file reported" 10 grep -q "reload: $CONFIG:[0-9]*: mqtt.keepalive_s: expected a whole number.*the running configuration stays" "$TEST_TMP/gw.log"
kill -0 "$SB_PID" || fail "the daemon died on a bad reload"
t0=$(mono)
sleep 2
gap=$(max_ping_gap "$t0" "$(mono)")
awk -v g="$gap" -v w="$WATCHDOG_S" 'BEGIN { exit !(g < w) }' || fail "after a bad reload: $gap s without WATCHDOG=1"

stop_sensorbro
grep -q "STOPPING=1" "$NOTES" || fail "no STOPPING=1"
log "ok"
