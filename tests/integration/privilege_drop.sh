#!/usr/bin/env bash
# Started as root, sensorbro binds its sockets (a CoAP port below 1024 here, which only root
# may bind) and then becomes service.run_as_user for good: every uid and gid of
# /proc/PID/status is the user's, its only group is the user's, no capability is left,
# NoNewPrivs is set; it still takes readings, commits them to a journal the user owns (and
# -wal, -shm) and publishes them. A user that does not exist, a journal that belongs to
# someone else, and a TLS key the user cannot read stop it, each with what to run.
# Needs root (skipped otherwise, exit 77); the user is Debian's `nobody`.
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
    log "skipped: the drop needs a start as root"
    exit 77
fi
USER_NAME=nobody
USER_ID=$(id -u "$USER_NAME") || { log "skipped: no user $USER_NAME"; exit 77; }
GROUP_ID=$(id -g "$USER_NAME")
# The user must reach its own directory below the test's (root's, 0700) one.
chmod 711 "$TEST_TMP"

# A privileged UDP port that is free on loopback, for CoAP.
LOW_PORT=$(python3 -c '
import socket
for p in range(900, 1000):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(p)
    break
')
[ -n "$LOW_PORT" ] || fail "no free UDP port below 1000 on loopback"

MQTT_PORT=$(free_port)
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" drop-sub "sensorbro/gw-drop/+/up"
ARGS=(--set gateway.id=gw-drop --set mqtt.port="$MQTT_PORT" --set coap.bind=127.0.0.1
    --set coap.port="$LOW_PORT" --set semtech_udp.port="$(free_port)"
    --set coap.dtls_bind=127.0.0.1 --set coap.dtls_port="$(free_port)"
    --set coap.accept_unregistered=true "${HTTP_ARGS[@]}")
# LeakSanitizer's tracer cannot read /proc/<pid>/task of a process that changed its uid in
# some environments (a fresh Debian 12 chroot: "LeakSanitizer has encountered a fatal
# error"), so the daemons here, which drop to another user, run without leak checking in the
# sanitizer build; every other test checks the same code for leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

# run_refused NAME EXPECTED_STATUS [args]...: sensorbro must stop at start-up.
run_refused()
{
    local name=$1 expected=$2 status=0
    shift 2
    (cd "$SB_DIR" && timeout 20 "$SENSORBRO_BIN" "${ARGS[@]}" "$@") >"$TEST_TMP/$name.log" 2>&1 ||
        status=$?
    expect_eq "$name: exit status ($(cat "$TEST_TMP/$name.log"))" "$expected" "$status"
}

SB_DIR=$TEST_TMP/gw
mkdir -p "$SB_DIR"
chown "$USER_NAME:" "$SB_DIR"
chmod 700 "$SB_DIR"

# No such user.
run_refused nouser 2 --set service.run_as_user=no-such-user-here
expect_eq "no user" "sensorbro: command line: service.run_as_user: started as root, but there is no user \"no-such-user-here\" to become: create it (systemd-sysusers, or adduser --system --group no-such-user-here), or set service.run_as_user = root to keep root" \
    "$(cat "$TEST_TMP/nouser.log")"
[ ! -e "$SB_DIR/sensorbro.db" ] || fail "a journal was created for a user that does not exist"

# A journal of root's: the user could not open it after the drop.
install -m 600 /dev/null "$SB_DIR/sensorbro.db"
run_refused rootjournal 2 --set service.run_as_user="$USER_NAME"
expect_eq "root's journal" "sensorbro: journal.path: sensorbro.db belongs to uid 0, but sensorbro runs as $USER_NAME (uid $USER_ID) once started: run chown $USER_NAME: sensorbro.db*" \
    "$(cat "$TEST_TMP/rootjournal.log")"
rm -f "$SB_DIR/sensorbro.db"

# A TLS key only root can read: found right after the drop, not at the first reconnect.
pki_new_ca drop-ca
pki_new_cert gw-drop drop-ca "DNS:gw-drop"
# modes set here, not left to the umask (a fresh chroot's makes the certificates 0600 too)
chmod 755 "$PKI"
chmod 644 "$PKI/drop-ca.pem" "$PKI/gw-drop.pem"
chmod 600 "$PKI/gw-drop.key"
run_refused rootkey 1 --set service.run_as_user="$USER_NAME" --set mqtt.tls=true \
    --set mqtt.ca_file="$PKI/drop-ca.pem" --set mqtt.cert_file="$PKI/gw-drop.pem" \
    --set mqtt.key_file="$PKI/gw-drop.key"
grep -q "error as user $USER_NAME: command line: mqtt.key_file: cannot open $PKI/gw-drop.key: Permission denied (the user must be able to read it)" \
    "$TEST_TMP/rootkey.log" || fail "unreadable key after the drop: $(cat "$TEST_TMP/rootkey.log")"
rm -f "$SB_DIR"/sensorbro.db*

# The drop itself (the default user is sensorbro; this test names nobody).
start_sensorbro gw "${ARGS[@]}" --set service.run_as_user="$USER_NAME"
wait_until "the drop logged" 10 grep -q "running as user $USER_NAME (uid $USER_ID, gid $GROUP_ID) from now on" \
    "$TEST_TMP/gw.log"
status=/proc/$SB_PID/status
expect_eq "uids (real, effective, saved, fs)" "$USER_ID $USER_ID $USER_ID $USER_ID" \
    "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "$status")"
expect_eq "gids" "$GROUP_ID $GROUP_ID $GROUP_ID $GROUP_ID" "$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "$status")"
expect_eq "supplementary groups" "$GROUP_ID" "$(awk '/^Groups:/ { print $2 $3 }' "$status")"
expect_eq "no capability left" "0000000000000000 0000000000000000" \
    "$(awk '/^CapPrm:/ { p = $2 } /^CapEff:/ { e = $2 } END { print p, e }' "$status")"
expect_eq "no new privileges" 1 "$(awk '/^NoNewPrivs:/ { print $2 }' "$status")"
# every thread, not only the main one
for task in /proc/$SB_PID/task/*; do
    expect_eq "uid of thread $(basename "$task")" "$USER_ID" "$(awk '/^Uid:/ { print $3 }' "$task/status")"
done

encode_uplink "seq: 4 interval_s: 60 co2: [701]" "$TEST_TMP/f.bin"
expect_eq "CoAP on port $LOW_PORT after the drop" 2.04 \
    "$(coap_post "$LOW_PORT" /up/70b3d57ed000d509 "$TEST_TMP/f.bin")"
collect_messages "$MQTT_PORT" drop-sub "sensorbro/gw-drop/+/up" 1 15 "$TEST_TMP/messages.txt"
expect_eq "published after the drop" 4 "$(cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq .seq)"
for f in sensorbro.db sensorbro.db-wal sensorbro.db-shm; do
    [ -e "$SB_DIR/$f" ] || continue
    expect_eq "$f: owner and mode" "$USER_ID 600" "$(stat -c '%u %a' "$SB_DIR/$f")"
done
stop_sensorbro
"$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status >"$TEST_TMP/status.txt" ||
    fail "sensorbroctl status after the run"
grep -q "clean stop" "$TEST_TMP/status.txt" || fail "not a clean stop: $(cat "$TEST_TMP/status.txt")"

# A journal that is readable by others is refused before anything starts.
chmod 640 "$SB_DIR/sensorbro.db"
run_refused readable 2 --set service.run_as_user="$USER_NAME"
expect_eq "readable journal" "sensorbro: journal.path: sensorbro.db is readable by group or others (mode 0640): run chmod 600 sensorbro.db (it holds the devices' keys)" \
    "$(cat "$TEST_TMP/readable.log")"
log "ok"
