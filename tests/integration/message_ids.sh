#!/usr/bin/env bash
# Message ids never repeat for distinct readings and stay the same for a frame published
# again, with real processes (Mosquitto with persistence, sensorbro, libcoap's coap-client,
# frames encoded by Google's protoc):
#   1. seq 0, 1, 2 of a device get <device>-<epoch>-<seq>, one epoch;
#   2. the same uplink sent again (a lost 2.04) is answered 2.04 and stored once;
#   3. the node loses its NVM and starts again at seq 0 (nvm_reset): a new, greater epoch,
#      so no id of the first three comes back; these frames wait with the broker down,
#      sensorbro is killed with SIGKILL and restarted, seq 2 follows in the same epoch, a
#      resend after the restart is still recognised, and when the broker returns the ids are
#      the ones the journal gave the frames before the kill;
#   4. every frame published again (the state a kill between the broker's PUBACK and the
#      journal's mark leaves) comes with the very id it had the first time.
source "$(dirname "$0")/lib.sh"

MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
DEVICE=70b3d57ed000e001
DB=""
SB_OPTS=(--set gateway.id=gw-ids --set mqtt.port="$MQTT_PORT" --set coap.port="$COAP_PORT"
    --set coap.bind=127.0.0.1 --set mqtt.reconnect_min_ms=200 --set mqtt.reconnect_max_ms=1000)

start_mosquitto "$MQTT_PORT" "persistence true" "autosave_interval 1"
subscribe_persistent "$MQTT_PORT" ids-sub "sensorbro/gw-ids/+/up"
start_sensorbro gw "${SB_OPTS[@]}"
DB=$SB_DIR/sensorbro.db
wait_until "sensorbro connected" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"

post()
{
    expect_eq "$1" "2.04" "$(coap_post "$COAP_PORT" "/up/$DEVICE" "$TEST_TMP/$1.bin")"
}
metric() { "$SENSORBROCTL_BIN" -j "$DB" status --json | jq -e ".sensorbro.metrics.$1 == $2"; }
# "<id> <epoch> <seq>" of each message, in arrival order
ids_of() { cut -d' ' -f2- "$1" | jq -r '"\(.id) \(.epoch) \(.seq)"'; }

# 1. The first life of the node.
for s in 0 1 2; do
    encode_uplink "seq: $s interval_s: 60 temperature: [$((2000 + s))]" "$TEST_TMP/a$s.bin"
    post "a$s"
done
collect_messages "$MQTT_PORT" ids-sub "sensorbro/gw-ids/+/up" 3 15 "$TEST_TMP/first.txt"
ids_of "$TEST_TMP/first.txt" >"$TEST_TMP/first.ids"
expect_eq "first messages" 3 "$(wc -l <"$TEST_TMP/first.ids")"
E1=$(head -n 1 "$TEST_TMP/first.ids" | cut -d' ' -f2)
expect_eq "first life" "$DEVICE-$E1-0 $E1 0
$DEVICE-$E1-1 $E1 1
$DEVICE-$E1-2 $E1 2" "$(cat "$TEST_TMP/first.ids")"

# 2. The same uplink again: stored once, answered as stored.
post a2
wait_until "the resend counted" 15 metric sensorbro_frames_resends_total 1

# 3. NVM lost: seq 0 again (rebooted, nvm_reset), with the broker down.
stop_mosquitto
wait_until "sensorbro notices the broker is gone" 15 grep -q "connection to .* lost" "$TEST_TMP/gw.log"
encode_uplink "seq: 0 interval_s: 60 status: 12 temperature: [1900]" "$TEST_TMP/b0.bin"
encode_uplink "seq: 1 interval_s: 60 temperature: [1901]" "$TEST_TMP/b1.bin"
post b0
post b1
# what the journal gave them, read beside the running daemon (WAL: readers do not block it)
python3 - "$DB" >"$TEST_TMP/pending-before-kill.txt" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
for device, epoch, seq in db.execute(
        "SELECT device, epoch, seq FROM frames WHERE published_ms IS NULL ORDER BY id"):
    print(f"{device}-{epoch}-{seq} {epoch} {seq}")
EOF
E2=$(head -n 1 "$TEST_TMP/pending-before-kill.txt" | cut -d' ' -f2)
[ "$E2" -gt "$E1" ] || fail "the epoch after the NVM loss ($E2) is not greater than $E1"
expect_eq "pending before the kill" "$DEVICE-$E2-0 $E2 0
$DEVICE-$E2-1 $E2 1" "$(cat "$TEST_TMP/pending-before-kill.txt")"

kill -KILL "$SB_PID"
wait "$SB_PID" 2>/dev/null || true
start_sensorbro gw "${SB_OPTS[@]}"
encode_uplink "seq: 2 interval_s: 60 temperature: [1902]" "$TEST_TMP/b2.bin"
post b2
post b1 # its 2.04 was lost before the kill, say: sent again after the restart
wait_until "the resend after the restart counted" 15 metric sensorbro_frames_resends_total 1

start_mosquitto "$MQTT_PORT" "persistence true" "autosave_interval 1"
# the broker may first deliver again what the first collection took last (its PUBACK can
# be lost when mosquitto_sub exits): that is not a message of the second life
collect_new_messages "$MQTT_PORT" ids-sub "sensorbro/gw-ids/+/up" 3 30 "$TEST_TMP/second.txt" \
    "$TEST_TMP/first.txt"
ids_of "$TEST_TMP/second.txt" >"$TEST_TMP/second.ids"
expect_eq "second life, published after the kill and the outage" "$(cat "$TEST_TMP/pending-before-kill.txt")
$DEVICE-$E2-2 $E2 2" "$(cat "$TEST_TMP/second.ids")"
cat "$TEST_TMP/first.ids" "$TEST_TMP/second.ids" >"$TEST_TMP/all.ids"
expect_eq "distinct ids for 6 readings" 6 "$(cut -d' ' -f1 "$TEST_TMP/all.ids" | sort -u | wc -l)"
# ordered by (epoch, seq), as a consumer sorts them
expect_eq "arrival order is (epoch, seq) order" "$(cat "$TEST_TMP/all.ids")" \
    "$(sort -k2,2n -k3,3n "$TEST_TMP/all.ids")"
# nothing else: neither resend was published
collect_messages "$MQTT_PORT" ids-sub "sensorbro/gw-ids/+/up" 1 2 "$TEST_TMP/extra.txt"
cat "$TEST_TMP/first.txt.mid" "$TEST_TMP/second.txt.mid" >"$TEST_TMP/seen.txt.mid"
expect_eq "messages beyond the six" 0 "$(count_new_messages "$TEST_TMP/seen.txt" "$TEST_TMP/extra.txt")"
expect_eq "frames journaled" 6 "$("$SENSORBROCTL_BIN" -j "$DB" status --json | jq .frames_ever_journaled)"

# 4. Published again: stop, forget every PUBACK (as a kill between the broker's PUBACK and
# the journal's mark would), start: the same six ids come again, in the same order.
wait_until "pending queue empty" 10 bash -c "'$SENSORBROCTL_BIN' -j '$DB' status --json | jq -e '.pending_frames == 0'"
stop_sensorbro
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1]); db.execute("UPDATE frames SET published_ms = NULL"); db.commit()' "$DB"
start_sensorbro gw "${SB_OPTS[@]}"
collect_new_messages "$MQTT_PORT" ids-sub "sensorbro/gw-ids/+/up" 6 30 "$TEST_TMP/again.txt" \
    "$TEST_TMP/first.txt" "$TEST_TMP/second.txt" "$TEST_TMP/extra.txt"
expect_eq "the same ids when published again" "$(cat "$TEST_TMP/all.ids")" "$(ids_of "$TEST_TMP/again.txt")"
stop_sensorbro
log "ok"
