#!/usr/bin/env bash
# Two outputs at once: [mqtt] to a real Mosquitto, and [output os2iot] of type os2iot-http
# to a stand-in for OS2iot's receive-data endpoint (os2iot_http_server.py: Python's
# http.server over TLS with a certificate from a test CA made here with openssl; it parses
# every body as JSON, answers 204 for a known API key and 403 for any other, 503 while told
# to, and records every request). Three CoAP devices, their keys in the registry
# (sensorbroctl device set os2iot.api_key=...), the third one's unknown to the server.
#   1. every frame reaches both outputs; the refused device is reported and held, the others
#      go on;
#   2. the server answers 503, then is stopped for a while: MQTT keeps flowing, the frames
#      stay pending and all reach the server once it is back, in order per device;
#   3. fixing the third device's key in the registry delivers its held frames in order at
#      once; nothing is pending;
#   4. the API keys never appear in the daemon's log.
source "$(dirname "$0")/lib.sh"

MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
HTTP_PORT=$(free_port)
DEVS=(70b3d57ed0000c01 70b3d57ed0000c02 70b3d57ed0000c03)
KEYS=(1b4e28ba-2fa1-11d2-883f-0016d3cca427 2c5f39cb-3fb2-42e3-994f-0127e4ddb538
    3d604adc-40c3-43f4-a050-0238f5eec649 4e715bed-51d4-44a5-b161-0349a6ffd75a)
# the third device's key is wrong (KEYS[2]); the right one, KEYS[3], is set later
GOOD_KEYS="${KEYS[0]} ${KEYS[1]} ${KEYS[3]}"
RECORD=$TEST_TMP/requests.jsonl
MODE=$TEST_TMP/http-mode
J=$TEST_TMP/gw/sensorbro.db
mkdir -p "$TEST_TMP/gw"
ctl() { timeout 60 "$SENSORBROCTL_BIN" -j "$J" "$@"; }

pki_new_ca test-ca
pki_new_cert os2iot test-ca "IP:127.0.0.1"
printf '%s\n' $GOOD_KEYS >"$TEST_TMP/keys"
: >"$MODE"
: >"$RECORD"

HTTP_PID=""
start_http()
{
    python3 "$(dirname "$0")/os2iot_http_server.py" "$HTTP_PORT" "$PKI/os2iot.pem" \
        "$PKI/os2iot.key" "$TEST_TMP/keys" "$MODE" "$RECORD" >>"$TEST_TMP/http.log" 2>&1 &
    HTTP_PID=$!
    STARTED_PIDS+=("$HTTP_PID")
    wait_until "HTTP server listening" 10 bash -c "grep -c listening '$TEST_TMP/http.log' | grep -qx $1"
}
stop_http() { stop_pid "$HTTP_PID"; HTTP_PID=""; }
# delivered KEY_INDEX: the seqs the server accepted (204) with a key, in arrival order
delivered() { jq -r --arg k "${KEYS[$1]}" 'select(.status == 204 and .api_key == $k) | .body.seq' "$RECORD" | tr '\n' ' '; }
n_status() { jq -r --argjson s "$1" 'select(.status == $s) | 1' "$RECORD" | wc -l; }
post_frames() # FROM TO
{
    local seq d result
    for ((seq = $1; seq <= $2; seq++)); do
        for d in "${!DEVS[@]}"; do
            encode_uplink "seq: $seq interval_s: 60 age_s: 1 temperature: [$((2000 + seq))]" "$TEST_TMP/f.bin"
            result=$(coap_post "$COAP_PORT" "/up/${DEVS[$d]}" "$TEST_TMP/f.bin")
            [ "$result" == "2.04" ] || fail "frame $seq of ${DEVS[$d]}: got '$result'"
        done
    done
}
# unique_in_order KEY_INDEX N: the server accepted seq 1..N with that key, first arrivals
# in order (a repeat after a lost answer is allowed: at least once)
unique_in_order()
{
    local got
    got=$(delivered "$1" | tr ' ' '\n' | awk 'NF && !seen[$1]++' | tr '\n' ' ')
    expect_eq "seqs accepted by the server with key $1, in order" "$(seq -s ' ' 1 "$2") " "$got"
}

start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" http-sub "sensorbro/gw-http/+/up"
for d in "${!DEVS[@]}"; do
    ctl device add --dev-eui "${DEVS[$d]}" --name "room-$d" >/dev/null
    ctl device set "${DEVS[$d]}" os2iot.output=http --api-key-file - <<<"${KEYS[$d]}" >/dev/null
done
cat >"$TEST_TMP/sensorbro.ini" <<INI
[output os2iot]
type = os2iot-http
url = https://127.0.0.1:$HTTP_PORT/api/v1/receive-data
ca_file = $PKI/test-ca.pem
timeout_ms = 2000
retry_min_ms = 100
retry_max_ms = 400
refused_retry_s = 300
INI
start_http 1
start_sensorbro gw -c "$TEST_TMP/sensorbro.ini" --set gateway.id=gw-http \
    --set mqtt.port="$MQTT_PORT" --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1
wait_until "sensorbro connected" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"

# --- 1. both outputs get every frame; the third device is refused and held --------------
post_frames 1 10
collect_messages "$MQTT_PORT" http-sub "sensorbro/gw-http/+/up" 30 30 "$TEST_TMP/mqtt1.txt"
expect_eq "MQTT messages" 30 "$(wc -l <"$TEST_TMP/mqtt1.txt")"
wait_until "20 frames accepted by the server" 30 bash -c "[ \$(jq -r 'select(.status == 204) | 1' '$RECORD' | wc -l) -ge 20 ]"
unique_in_order 0 10
unique_in_order 1 10
[ "$(n_status 403)" -ge 1 ] || fail "the unknown key was never refused"
wait_until "the refused device reported" 10 grep -q "device ${DEVS[2]} is misconfigured (HTTP 403)" "$TEST_TMP/gw.log"
expect_eq "reports of the refused device" 1 "$(grep -c "device ${DEVS[2]} is misconfigured" "$TEST_TMP/gw.log")"
expect_eq "content type" "application/json" "$(jq -r .content_type "$RECORD" | sort -u)"
expect_eq "bodies that were not JSON" 0 "$(jq -r 'select(.bad) | 1' "$RECORD" | wc -l)"
expect_eq "message id" "true" "$(jq -s 'map(select(.status == 204)) | all(.body.id != null and .body.device != null)' "$RECORD")"

# --- 2. 503, then the server down: MQTT not held back, nothing lost ------------------------
echo 503 >"$MODE"
post_frames 11 15
wait_until "503 answered" 15 bash -c "[ \$(jq -r 'select(.status == 503) | 1' '$RECORD' | wc -l) -ge 3 ]"
collect_messages "$MQTT_PORT" http-sub "sensorbro/gw-http/+/up" 15 30 "$TEST_TMP/mqtt2.txt"
expect_eq "MQTT messages while OS2iot answers 503" 15 "$(wc -l <"$TEST_TMP/mqtt2.txt")"
stop_http
: >"$MODE"
post_frames 16 20
collect_messages "$MQTT_PORT" http-sub "sensorbro/gw-http/+/up" 15 30 "$TEST_TMP/mqtt3.txt"
expect_eq "MQTT messages while OS2iot is down" 15 "$(wc -l <"$TEST_TMP/mqtt3.txt")"
pending=$(ctl status --json | jq .pending_frames)
[ "$pending" -ge 30 ] || fail "expected the frames OS2iot has not taken pending, got $pending"
sleep 2
start_http 2
wait_until "40 frames of the good devices accepted" 30 bash -c "[ \$(jq -r 'select(.status == 204) | .body.seq' '$RECORD' | wc -l) -ge 40 ]"
unique_in_order 0 20
unique_in_order 1 20
# the status table is written every few seconds: wait for the snapshot that counts them
wait_until "failures counted" 15 bash -c \
    "[ \$('$SENSORBROCTL_BIN' -j '$J' status --json | jq .sensorbro.metrics.sensorbro_os2iot_http_failures_total) -ge 3 ]"
metrics=$(ctl status --json | jq .sensorbro.metrics)
[ "$(jq .sensorbro_os2iot_http_failures_total <<<"$metrics")" -ge 3 ] || fail "failures not counted: $metrics"
[ "$(jq .sensorbro_os2iot_http_misconfigured_devices <<<"$metrics")" -eq 1 ] || fail "misconfigured device not counted: $metrics"

# --- 3. the key fixed: the held frames go, in order; nothing pending -----------------------
# refused_retry_s is 300: only the registry's change can make it try again this soon
ctl device set "${DEVS[2]}" --api-key-file - <<<"${KEYS[3]}" >/dev/null
wait_until "the third device delivered" 30 bash -c "[ \$(jq -r --arg k '${KEYS[3]}' 'select(.status == 204 and .api_key == \$k) | 1' '$RECORD' | wc -l) -ge 20 ]"
unique_in_order 3 20
wait_until "pending queue empty" 15 bash -c "'$SENSORBROCTL_BIN' -j '$J' status --json | jq -e '.pending_frames == 0'"
grep -q "device ${DEVS[2]} delivers again" "$TEST_TMP/gw.log" || fail "the recovery was not logged"

# --- 4. no key in the log ------------------------------------------------------------------
stop_sensorbro
for k in "${KEYS[@]}"; do
    ! grep -q "$k" "$TEST_TMP/gw.log" || fail "an API key is in the daemon's log"
done
log "ok"
