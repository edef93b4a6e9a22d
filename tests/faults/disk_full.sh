#!/usr/bin/env bash
# Disk full: the journal lives on a small filesystem of its own (a 16 MiB tmpfs, mounted in
# a private mount namespace so nothing outside the test sees it). While the fleet sends
# with the broker down, another process (dd) fills that filesystem to the last byte, holds
# it full for FULL_S seconds, then deletes its file. Checked:
#   - sensorbro does not crash and keeps answering: senders are told to retry (CoAP 5.03)
#     while nothing can be committed, and the journal's "commit failed" is logged once;
#   - it recovers by itself when the space comes back ("commits succeed again"), and the
#     fleet delivers every uplink in the end;
#   - nothing acknowledged is lost without being counted: when the broker returns, every
#     acknowledged uplink reaches it, except those dropped at the free-disk floor, which
#     are counted (dropped_disk_floor), are the oldest of their device, and are fewer than
#     the journal held (the floor keeps room inside the file, it does not empty it);
#   - PRAGMA integrity_check is ok, during the fault and after it.

# A mount namespace of our own, so that the tmpfs cannot leak to the rest of the system: as
# root directly, otherwise as root of a new user namespace. In a chroot, whose / is no
# mount point, unshare cannot make every mount private; then only the mount that holds the
# test's directory is made private, inside the namespace, before the tmpfs goes on it.
# Exit 77 (ctest: skipped) only when the kernel gives no mount namespace at all.
if [ -z "${SB_DISK_FULL_NS:-}" ]; then
    user=()
    [ "$(id -u)" -eq 0 ] || user=(--user --map-root-user)
    for propagation in private unchanged; do
        ns=(unshare "${user[@]}" --mount --propagation "$propagation")
        if "${ns[@]}" true 2>/dev/null; then
            SB_DISK_FULL_NS=$propagation exec "${ns[@]}" bash "$0" "$@"
        fi
    done
    echo "[disk_full] SKIP: no mount namespace (${ns[*]} failed): no filesystem of our own" >&2
    exit 77
fi
source "$(dirname "$0")/faults_lib.sh"

FS_MB=16
FLOOR_MB=1
FULL_S=4
SENSORS=20
RATE=500
UPLINKS=12000
MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
DISK=$TEST_TMP/disk
mkdir -p "$DISK"
if [ "$SB_DISK_FULL_NS" == unchanged ]; then
    holder=$(findmnt -n -o TARGET --target "$DISK") || fail "no mount holds $DISK"
    mount --make-rprivate "$holder" || fail "cannot make $holder private in this namespace"
fi
mount -t tmpfs -o size=${FS_MB}m,mode=0700 sensorbro-disk-full "$DISK" ||
    fail "cannot mount a ${FS_MB} MiB tmpfs on $DISK"
# At exit: a failed run keeps a copy of the journal for inspection; then the tmpfs goes.
unmount_disk()
{
    [ "$1" -eq 0 ] || cp -a "$DISK" "$TEST_TMP/disk-copy" 2>/dev/null
    umount "$DISK"
}
CLEANUP_HOOKS+=(unmount_disk)

BROKER_CONF=("persistence true" "autosave_interval 1")
start_mosquitto "$MQTT_PORT" "${BROKER_CONF[@]}"
subscribe_persistent "$MQTT_PORT" "$TEST_NAME-sub" 'sensorbro/gw-df/+/up'
stop_mosquitto
start_sensorbro gw --set gateway.id=gw-df --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 \
    --set journal.path="$DISK/sensorbro.db" --set journal.min_free_mb=$FLOOR_MB \
    --set mqtt.reconnect_min_ms=100 --set mqtt.reconnect_max_ms=500
# The journal is on the small filesystem: sensorbroctl reads it there.
SB_DIR=$DISK

start_fleet "$COAP_PORT" "$UPLINKS" "$RATE" "$SENSORS"
sleep 4
# Another process takes every byte that is left (dd stops at ENOSPC).
dd if=/dev/zero of="$DISK/hog" bs=64k 2>/dev/null || true
pending_at_full=$("$SENSORBROCTL_BIN" -j "$DISK/sensorbro.db" status --json | jq .pending_frames)
log "filesystem full: $(df -k --output=avail "$DISK" | tail -n 1 | tr -d ' ') KiB left"
# A reader holds a snapshot meanwhile (an operator's query, a backup): the WAL cannot start
# over while it does, so the next commits must grow it, which the full disk refuses. Without
# a reader, whether a commit needs new space depends on where the WAL happens to be.
python3 - "$DISK/sensorbro.db" "$TEST_TMP/reader.stop" <<'EOF_PY' &
import os, sqlite3, sys, time
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, isolation_level=None)
db.execute("BEGIN")
db.execute("SELECT count(*) FROM frames").fetchone()
for _ in range(600):  # at most 60 s
    if os.path.exists(sys.argv[2]):
        break
    time.sleep(0.1)
db.execute("COMMIT")
EOF_PY
READER_PID=$!
STARTED_PIDS+=("$READER_PID")
wait_until "sensorbro's commits failing" 10 grep -q "journal: commit of .* failed" "$TEST_TMP/gw.log"
sleep "$FULL_S"
touch "$TEST_TMP/reader.stop"
wait "$READER_PID" || fail "the reader failed"
kill -0 "$SB_PID" 2>/dev/null || fail "sensorbro died on the full disk"
kill -0 "$FLEET_PID" 2>/dev/null || fail "the fleet finished while the disk was full: raise UPLINKS"
"$SENSORBROCTL_BIN" -j "$DISK/sensorbro.db" journal check >"$TEST_TMP/check-full.txt" 2>&1 ||
    fail "integrity_check on the full disk: $(cat "$TEST_TMP/check-full.txt")"
rm -f "$DISK/hog"
log "space freed"
wait_until "sensorbro recovers by itself" 20 grep -q "journal: commits succeed again" "$TEST_TMP/gw.log"
wait_fleet 120
grep -Eq "^ *retried after 5.03 +[1-9]" "$TEST_TMP/fleet.log" ||
    fail "no sender was told to retry (5.03) while the disk was full: $(grep 5.03 "$TEST_TMP/fleet.log")"
expect_eq "journal failures logged (once per run of failures)" 1 \
    "$(grep -c "journal: commit of .* failed" "$TEST_TMP/gw.log")"

status=$("$SENSORBROCTL_BIN" -j "$DISK/sensorbro.db" status --json)
pending=$(jq .pending_frames <<<"$status")
dropped=$(jq '.dropped_disk_floor + .dropped_journal_full' <<<"$status")
log "after the fault: $pending pending, $dropped dropped at the floor ($pending_at_full pending when the disk filled)"
# Deleting rows gives the filesystem nothing back (SQLite keeps the pages), so the floor may
# only drop what makes room inside the file for the frames still arriving: far less than
# the journal held. Dropping until the file's own free pages covered the floor emptied it.
[ "$dropped" -lt "$pending_at_full" ] ||
    fail "$dropped frames dropped at the floor, as many as were pending when the disk filled ($pending_at_full)"
start_mosquitto "$MQTT_PORT" "${BROKER_CONF[@]}"
start_subscriber "$MQTT_PORT" 'sensorbro/gw-df/+/up'
wait_drained 60
wait_until "subscriber has every kept uplink" 30 bash -c \
    "[ \$(wc -l <'$TEST_TMP/messages.json') -ge $pending ]"
stop_sensorbro
stop_pid "$SUB_PID"
"$SENSORBROCTL_BIN" -j "$DISK/sensorbro.db" journal check >"$TEST_TMP/check-after.txt" 2>&1 ||
    fail "integrity_check after the fault: $(cat "$TEST_TMP/check-after.txt")"

# Every acknowledged uplink arrived, or was counted as dropped at the floor; those dropped
# are the oldest of their device (what arrived is a suffix of what was acknowledged).
jq -r '[.device, .seq] | @tsv' "$TEST_TMP/messages.json" | sort -u >"$TEST_TMP/arrived.tsv"
tail -n +2 "$TEST_TMP/acked.csv" | awk -F, '{print $1 "\t" $2}' | sort -u >"$TEST_TMP/acked.tsv"
acked=$(wc -l <"$TEST_TMP/acked.tsv")
expect_eq "uplinks acknowledged" "$UPLINKS" "$acked"
missing=$(comm -23 "$TEST_TMP/acked.tsv" "$TEST_TMP/arrived.tsv" | wc -l)
expect_eq "acknowledged uplinks missing = counted as dropped" "$dropped" "$missing"
verdict=$(comm -23 "$TEST_TMP/acked.tsv" "$TEST_TMP/arrived.tsv" | awk -F'\t' '
    FNR == NR { if (!($1 in first) || $2 + 0 < first[$1]) first[$1] = $2 + 0; next }
    bad == "" && $1 in first && $2 + 0 > first[$1] { bad = "device " $1 ": seq " $2 " dropped, seq " first[$1] " kept" }
    END { print (bad == "" ? "ok" : bad) }' "$TEST_TMP/arrived.tsv" -)
expect_eq "dropped uplinks are the oldest of their device" ok "$verdict"

report disk_full \
    "filesystem (MiB)" "$FS_MB" \
    "held full (s)" "$FULL_S" \
    "uplinks acknowledged" "$acked" \
    "told to retry (5.03)" "$(sed -n 's/^ *retried after 5.03 *\([0-9]*\).*/\1/p' "$TEST_TMP/fleet.log")" \
    "dropped at the free-disk floor" "$dropped" \
    "published after the fault" "$(wc -l <"$TEST_TMP/arrived.tsv")"
log "ok"
