#!/usr/bin/env bash
# mqtt.max_rate holds while a backlog drains: with the broker down, the fleet simulator's
# uplinks pile up in the journal; when the broker returns, sensorbro sends them no faster
# than the limit. Checked from the subscriber's side, by arrival time: no one-second window
# holds more than the limit plus the bucket's burst (a tenth of a second's worth), and every
# acknowledged uplink arrives, in order per device. Only an upper bound on the rate is
# asserted: a slow machine drains more slowly and still passes.
source "$(dirname "$0")/lib.sh"

MAX_RATE=400
BURST=$((MAX_RATE / 10))
UPLINKS=1600
SENSORS=8
MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)

start_mosquitto "$MQTT_PORT" "persistence true" "autosave_interval 1"
subscribe_persistent "$MQTT_PORT" rate-sub "sensorbro/gw-rate/+/up"
start_sensorbro gw --set gateway.id=gw-rate --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 --set mqtt.max_rate="$MAX_RATE" \
    --set mqtt.reconnect_min_ms=200 --set mqtt.reconnect_max_ms=500
wait_until "sensorbro connected" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"
stop_mosquitto

"$FLEET_SIM_BIN" --host 127.0.0.1 --port "$COAP_PORT" --sensors "$SENSORS" --seed 3 \
    --count "$UPLINKS" --rate 2000 --timeout-ms 1500 --retries 20 --duration 60 \
    --log-sent "$TEST_TMP/acked.csv" -q 2>"$TEST_TMP/fleet.log" ||
    fail "fleet-sim did not deliver every uplink (see fleet.log)"
pending=$("$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status --json | jq .pending_frames)
expect_eq "pending with the broker down" "$UPLINKS" "$pending"

start_mosquitto "$MQTT_PORT" "persistence true" "autosave_interval 1"
# Arrival time (s.ns) and payload of each message, as the subscriber sees it.
mosquitto_sub -p "$MQTT_PORT" -i rate-sub -c -q 1 -t "sensorbro/gw-rate/+/up" -F '%U %p' \
    -C "$UPLINKS" -W 60 >"$TEST_TMP/arrivals.txt" 2>>"$TEST_TMP/sub.log" || true
expect_eq "messages received" "$UPLINKS" "$(wc -l <"$TEST_TMP/arrivals.txt")"

# The most messages in any window of one second (two pointers over sorted arrival times),
# and how long the drain took.
read -r busiest drain_s < <(cut -d' ' -f1 "$TEST_TMP/arrivals.txt" | sort -n | awk '
    { t[NR] = $1 }
    END { j = 1; best = 0
          for (i = 1; i <= NR; i++) { while (t[i] - t[j] >= 1.0) j++; if (i - j + 1 > best) best = i - j + 1 }
          printf "%d %.1f\n", best, t[NR] - t[1] }')
log "drained $UPLINKS in $drain_s s; busiest second: $busiest messages (limit $MAX_RATE/s)"
# Arrival times carry the broker's and the subscriber's scheduling jitter on top of the
# publisher's pace: allow the burst twice.
[ "$busiest" -le $((MAX_RATE + 2 * BURST)) ] ||
    fail "$busiest messages arrived within one second; mqtt.max_rate is $MAX_RATE"

# Every acknowledged uplink arrived, first appearances in sequence order per device.
cut -d' ' -f2- "$TEST_TMP/arrivals.txt" | jq -r '[.device, .seq] | @tsv' >"$TEST_TMP/received.tsv"
tail -n +2 "$TEST_TMP/acked.csv" | awk -F, '{print $1 "\t" $2}' | sort -u >"$TEST_TMP/acked.tsv"
missing=$(comm -23 "$TEST_TMP/acked.tsv" <(sort -u "$TEST_TMP/received.tsv") | wc -l)
expect_eq "acknowledged uplinks missing" 0 "$missing"
disorder=$(awk -F'\t' '!seen[$0]++ { if ($1 in last && $2 + 0 <= last[$1]) bad++; last[$1] = $2 + 0 }
    END { print bad + 0 }' "$TEST_TMP/received.tsv")
expect_eq "uplinks out of order" 0 "$disorder"
stop_sensorbro
log "ok"
