#!/usr/bin/env bash
# One Uplink, encoded by Google's protoc (not by sensorbro), posted with libcoap's own
# coap-client, arrives on a real Mosquitto as JSON whose every field is checked here.
source "$(dirname "$0")/lib.sh"

MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
DEVICE=70b3d57ed0001234
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up"
start_sensorbro gw --set gateway.id=gw-it --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1
wait_until "sensorbro connected to the broker" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"

# temperature -5.25, -5.00, -5.12 degC; humidity 45.5, 46.0; co2 612, 650, 700; battery
# 3.012 V; pressure 1013.25 hPa; a second temperature channel (quantity 4, channel 1); pm2.5.
encode_uplink 'seq: 4242 interval_s: 300 age_s: 7 status: 17 config_version: 3
temperature: [-525, 25, -12] relative_humidity: [455, 5] co2: [612, 38, 50]
battery: [3012] pressure: [101325]
extra { quantity: 4 channel: 1 samples: [1950, 10] }
extra { quantity: 33 samples: [123] }' "$TEST_TMP/frame.bin"

before_s=$(date +%s)
result=$(coap_post "$COAP_PORT" "/up/70B3D57ED0001234" "$TEST_TMP/frame.bin")
expect_eq "CoAP response" "2.04" "$result"

collect_messages "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up" 1 15 "$TEST_TMP/messages.txt"
[ "$(wc -l <"$TEST_TMP/messages.txt")" -eq 1 ] || fail "expected 1 message, got: $(cat "$TEST_TMP/messages.txt")"
topic=$(cut -d' ' -f1 "$TEST_TMP/messages.txt")
json=$(cut -d' ' -f2- "$TEST_TMP/messages.txt")
expect_eq topic "sensorbro/gw-it/$DEVICE/up" "$topic"
field() { jq -c "$1" <<<"$json"; }

# the device's first frame in this journal opens its first epoch: the second it was received
epoch=$(field .epoch)
received_s=$(jq -r '.received | sub("\\.[0-9]+Z$"; "Z") | fromdate' <<<"$json")
expect_eq epoch "$received_s" "$epoch"
expect_eq id "\"70b3d57ed0001234-$epoch-4242\"" "$(field .id)"
expect_eq device "\"$DEVICE\"" "$(field .device)"
expect_eq gateway '"gw-it"' "$(field .gateway)"
expect_eq seq 4242 "$(field .seq)"
expect_eq transport '"coap"' "$(field .transport)"
expect_eq interval_s 300 "$(field .interval_s)"
expect_eq status '["low_battery","clock_unsynced"]' "$(field .status)"
expect_eq alert false "$(field .alert)"
expect_eq config_version 3 "$(field .config_version)"
expect_eq values '{"temperature_c":-5.12,"relative_humidity_pct":46,"co2_ppm":700,"battery_v":3.012,"pressure_hpa":1013.25,"temperature_c_ch1":19.6,"pm2_5_ugm3":12.3}' \
    "$(field .values)"

# Times: the last sample was taken age_s = 7 s before reception; samples 300 s apart.
received_s=$(jq -r '.received | sub("\\.[0-9]+Z$"; "Z") | fromdate' <<<"$json")
after_s=$(date +%s)
[ "$received_s" -ge "$before_s" ] && [ "$received_s" -le "$after_s" ] ||
    fail "received $received_s not within the post ($before_s..$after_s)"
last_s=$((received_s - 7))
expect_eq "time of the first sample" "$last_s" "$(jq -r '.time | fromdate + 600' <<<"$json")"
expect_eq "sample count" 3 "$(field '.samples | length')"
for k in 0 1 2; do
    expect_eq "sample $k time" "$((last_s - (2 - k) * 300))" "$(jq -r ".samples[$k].time | fromdate" <<<"$json")"
done
expect_eq "sample 0" '{"temperature_c":-5.25,"co2_ppm":612}' "$(field '.samples[0] | del(.time)')"
expect_eq "sample 1" '{"temperature_c":-5,"relative_humidity_pct":45.5,"co2_ppm":650,"temperature_c_ch1":19.5}' \
    "$(field '.samples[1] | del(.time)')"
expect_eq "sample 2" '{"temperature_c":-5.12,"relative_humidity_pct":46,"co2_ppm":700,"battery_v":3.012,"pressure_hpa":1013.25,"temperature_c_ch1":19.6,"pm2_5_ugm3":12.3}' \
    "$(field '.samples[2] | del(.time)')"

# The frame left the pending queue after its PUBACK and is retained raw in the journal.
wait_until "frame marked published" 10 bash -c \
    "'$SENSORBROCTL_BIN' -j '$SB_DIR/sensorbro.db' status --json | jq -e '.pending_frames == 0 and .published_frames_retained == 1'"

# A clean stop says "offline" on the retained status topic.
stop_sensorbro
status=$(mosquitto_sub -p "$MQTT_PORT" -t sensorbro/gw-it/status -C 1 -W 5)
expect_eq "status after stop" offline "$status"
# The last figures of a clean stop: the transports that ran have theirs, the LNS feed
# (not configured) has none at all, not zeros.
final=$("$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status --json)
expect_eq "up after stop" 0 "$(jq '.sensorbro.metrics.sensorbro_up' <<<"$final")"
expect_eq "CoAP figures" 1 "$(jq '.sensorbro.metrics["sensorbro_coap_responses_total{code=\"2.04\"}"]' <<<"$final")"
expect_eq "no LNS figures" "[]" \
    "$(jq -c '.sensorbro.metrics | keys | map(select(test("lns")))' <<<"$final")"
log "ok"
