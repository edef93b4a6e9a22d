#!/usr/bin/env bash
# Sample times of the LNS feed come from when the network server heard the frame (the
# event's `time`), not from when sensorbro received the event:
#   1. an event heard an hour ago waits in sensorbro's persistent session while sensorbro
#      is down, and is delivered when it comes back: its samples are timed from `time`,
#      "heard" says `time`, "received" says now;
#   2. events whose `time` is absurd (1970, 2100) are timed from their receipt instead,
#      counted, and reported in the log once (a wrong server clock says so on every event).
source "$(dirname "$0")/lib.sh"

MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
APP=a1b2c3d4-0000-1111-2222-333344445555
DEVICE=70b3d57ed000f001
UP_TOPIC=application/$APP/device/$DEVICE/event/up
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" time-sub "sensorbro/gw-time/+/up"
SB_OPTS=(--set gateway.id=gw-time --set mqtt.port="$MQTT_PORT" --set coap.port="$COAP_PORT"
    --set coap.bind=127.0.0.1 --set lns_mqtt.enabled=true --set lns_mqtt.host=127.0.0.1
    --set lns_mqtt.port="$MQTT_PORT")
start_sensorbro gw "${SB_OPTS[@]}"
wait_until "lns-mqtt subscribed" 15 grep -q "lns-mqtt: subscribed" "$TEST_TMP/gw.log"
# Down: the broker keeps what comes for sensorbro's persistent session.
stop_sensorbro

# 1. Three samples a minute apart, the last 20 s before sending; heard an hour ago.
encode_uplink 'seq: 5 interval_s: 60 age_s: 20 temperature: [2100, 5, 5]' "$TEST_TMP/late.bin"
HEARD_S=$(($(date +%s) - 3600))
HEARD=$(date -u -d "@$HEARD_S" +%Y-%m-%dT%H:%M:%S.123456789Z) # RFC 3339 with nanoseconds
chirpstack_event 00000000-0000-4000-8000-00000000000a "$DEVICE" 50 "$(base64 -w0 "$TEST_TMP/late.bin")" \
    "$APP" "$HEARD" | mosquitto_pub -p "$MQTT_PORT" -q 1 -t "$UP_TOPIC" -s
# 2. Two events from a network server whose clock is far off.
encode_uplink 'seq: 6 interval_s: 60 age_s: 20 temperature: [2200]' "$TEST_TMP/old.bin"
encode_uplink 'seq: 7 interval_s: 60 age_s: 20 temperature: [2300]' "$TEST_TMP/future.bin"
chirpstack_event 00000000-0000-4000-8000-00000000000b "$DEVICE" 51 "$(base64 -w0 "$TEST_TMP/old.bin")" \
    "$APP" 1970-01-01T00:00:01Z | mosquitto_pub -p "$MQTT_PORT" -q 1 -t "$UP_TOPIC" -s
chirpstack_event 00000000-0000-4000-8000-00000000000c "$DEVICE" 52 "$(base64 -w0 "$TEST_TMP/future.bin")" \
    "$APP" 2100-01-01T00:00:00Z | mosquitto_pub -p "$MQTT_PORT" -q 1 -t "$UP_TOPIC" -s

before_s=$(date +%s)
start_sensorbro gw "${SB_OPTS[@]}"
collect_messages "$MQTT_PORT" time-sub "sensorbro/gw-time/+/up" 3 20 "$TEST_TMP/messages.txt"
after_s=$(date +%s)
expect_eq "messages" 3 "$(wc -l <"$TEST_TMP/messages.txt")"
msg() { sed -n "$1p" "$TEST_TMP/messages.txt" | cut -d' ' -f2- | jq -c "$2"; }
at() { date -u -d "@$1" +%FT%TZ; }

expect_eq "late: seq" 5 "$(msg 1 .seq)"
expect_eq "late: heard" "\"$(date -u -d "@$HEARD_S" +%FT%T).123Z\"" "$(msg 1 .heard)"
expect_eq "late: sample times from the event's time" \
    "[\"$(at $((HEARD_S - 140)))\",\"$(at $((HEARD_S - 80)))\",\"$(at $((HEARD_S - 20)))\"]" \
    "$(msg 1 '[.samples[].time]')"
expect_eq "late: time of the first sample" "\"$(at $((HEARD_S - 140)))\"" "$(msg 1 .time)"
received_s=$(msg 1 '.received | sub("\\.[0-9]+Z$"; "Z") | fromdate')
[ "$received_s" -ge "$before_s" ] && [ "$received_s" -le "$after_s" ] ||
    fail "late: received $received_s is not sensorbro's receipt ($before_s..$after_s)"

for n in 2 3; do
    expect_eq "absurd time $n: no heard" null "$(msg "$n" .heard)"
    received_s=$(msg "$n" '.received | sub("\\.[0-9]+Z$"; "Z") | fromdate')
    sample_s=$(msg "$n" '.samples[0].time | fromdate')
    expect_eq "absurd time $n: the sample is timed from the receipt" "$((received_s - 20))" "$sample_s"
done

wait_until "the untrusted times counted" 15 bash -c "'$SENSORBROCTL_BIN' -j '$SB_DIR/sensorbro.db' \
    status --json | jq -e '.sensorbro.metrics.sensorbro_lns_event_times_untrusted_total == 2'"
"$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status | grep -Eq '^LNS event times untrusted +2$' ||
    fail "sensorbroctl status does not show 2 untrusted event times"
expect_eq "warnings about the server's clock (one a minute at most)" 1 \
    "$(grep -c "warn .*lns-mqtt: event from $DEVICE: time is .* from its receipt" "$TEST_TMP/gw.log")"
stop_sensorbro
grep -q "stats: lns-mqtt events 3 (journaled 3, .*times untrusted 2)" "$TEST_TMP/gw.log" ||
    fail "counters at stop: $(grep 'stats: lns' "$TEST_TMP/gw.log" | tail -n 1)"
log "ok"
