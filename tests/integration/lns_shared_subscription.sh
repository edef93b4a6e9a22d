#!/usr/bin/env bash
# Two sensorbro instances with the same lns_mqtt.shared_group split one ChirpStack feed on
# one Mosquitto ($share/<group>/...): 200 events from 10 devices are each journaled by one
# instance and published exactly once overall (checked by message id), and both instances
# took some. Each instance has its own journal and gateway id.
source "$(dirname "$0")/lib.sh"

N_DEVICES=10
PER_DEVICE=20
TOTAL=$((N_DEVICES * PER_DEVICE))
MQTT_PORT=$(free_port)
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" share-sub "sensorbro/+/+/up"

start_instance()
{
    start_sensorbro "$1" --set gateway.id="$1" --set mqtt.port="$MQTT_PORT" \
        --set coap.port="$(free_port)" --set coap.bind=127.0.0.1 \
        --set lns_mqtt.enabled=true --set lns_mqtt.host=127.0.0.1 --set lns_mqtt.port="$MQTT_PORT" \
        --set lns_mqtt.shared_group=sensorbro
    wait_until "$1 subscribed" 15 grep -q \
        'lns-mqtt: subscribed to $share/sensorbro/application/+/device/+/event/up' "$TEST_TMP/$1.log"
}
start_instance gw-a
PID_A=$SB_PID
DIR_A=$SB_DIR
start_instance gw-b
PID_B=$SB_PID
DIR_B=$SB_DIR

# The Uplink {seq: s, interval_s: 60, temperature: [2100 + s]} written out byte by byte:
# field 1 varint, field 2 varint, field 4 packed sint32 (zigzag 2 * (2100 + s), two bytes).
uplink_base64()
{
    local s=$1 v=$((2 * (2100 + $1)))
    printf "$(printf '\\x%02x' 8 "$s" 16 60 34 2 $(((v & 127) | 128)) $((v >> 7)))" | base64 -w0
}
for ((d = 0; d < N_DEVICES; d++)); do
    eui=$(printf '70b3d57ed00100%02x' "$d")
    for ((s = 1; s <= PER_DEVICE; s++)); do
        chirpstack_event "$(printf '00000000-0000-4000-8000-%06x%06x' "$d" "$s")" "$eui" "$s" "$(uplink_base64 "$s")"
    done >"$TEST_TMP/events-$d.txt"
    # one line per event, QoS 1, in order per device
    mosquitto_pub -p "$MQTT_PORT" -q 1 -t "application/a1b2c3d4-0000-1111-2222-333344445555/device/$eui/event/up" \
        -l <"$TEST_TMP/events-$d.txt"
done

collect_messages "$MQTT_PORT" share-sub "sensorbro/+/+/up" "$TOTAL" 30 "$TEST_TMP/messages.txt"
expect_eq "messages" "$TOTAL" "$(wc -l <"$TEST_TMP/messages.txt")"
cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq -r .id | sort >"$TEST_TMP/ids.txt"
expect_eq "distinct message ids" "$TOTAL" "$(sort -u "$TEST_TMP/ids.txt" | wc -l)"
# every id is <device>-<epoch>-<seq> of its own message (each instance has its own epochs)
expect_eq "ids made of device, epoch and seq" 0 \
    "$(cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq -r 'select(.id != "\(.device)-\(.epoch)-\(.seq)") | .id' | wc -l)"
for ((d = 0; d < N_DEVICES; d++)); do
    for ((s = 1; s <= PER_DEVICE; s++)); do printf '70b3d57ed00100%02x-%d\n' "$d" "$s"; done
done | sort >"$TEST_TMP/expected-readings.txt"
cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq -r '"\(.device)-\(.seq)"' | sort >"$TEST_TMP/readings.txt"
diff "$TEST_TMP/expected-readings.txt" "$TEST_TMP/readings.txt" >/dev/null || fail "messages differ from the events sent"
from_a=$(cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq -r 'select(.gateway == "gw-a") | .id' | wc -l)
from_b=$(cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq -r 'select(.gateway == "gw-b") | .id' | wc -l)
log "gw-a published $from_a, gw-b $from_b"
[ "$from_a" -gt 0 ] && [ "$from_b" -gt 0 ] || fail "one instance took everything ($from_a / $from_b)"
expect_eq "messages from the two instances" "$TOTAL" "$((from_a + from_b))"

# Each journal holds exactly what its instance published, and both are drained.
drained() { "$SENSORBROCTL_BIN" -j "$1/sensorbro.db" status --json | jq -e '.pending_frames == 0'; }
wait_until "gw-a drained" 10 drained "$DIR_A"
wait_until "gw-b drained" 10 drained "$DIR_B"
status_a=$("$SENSORBROCTL_BIN" -j "$DIR_A/sensorbro.db" status)
status_b=$("$SENSORBROCTL_BIN" -j "$DIR_B/sensorbro.db" status)
grep -Eq "^frames ever journaled +$from_a\$" <<<"$status_a" || fail "gw-a journal: $status_a"
grep -Eq "^frames ever journaled +$from_b\$" <<<"$status_b" || fail "gw-b journal: $status_b"
collect_messages "$MQTT_PORT" share-sub "sensorbro/+/+/up" 1 2 "$TEST_TMP/more.txt"
expect_eq "messages beyond $TOTAL" 0 "$(count_new_messages "$TEST_TMP/messages.txt" "$TEST_TMP/more.txt")"

SB_PID=$PID_B
stop_sensorbro
SB_PID=$PID_A
stop_sensorbro
log "ok"
