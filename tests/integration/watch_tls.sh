#!/usr/bin/env bash
# sensorbroctl watch connects as the daemon's publisher does, from the same [mqtt] block of
# the same configuration file: over TLS with the site's CA and a client certificate (a
# real Mosquitto TLS listener that requires one), with the configured protocol and
# keep-alive, and subscribed to the configured topic templates. Without the client
# certificate the broker refuses the handshake and watch says so and exits 1.
source "$(dirname "$0")/lib.sh"

pki_new_ca site-ca
pki_new_cert broker site-ca "IP:127.0.0.1,DNS:localhost"
pki_new_cert gw-wt site-ca "DNS:gw-wt"
pki_new_cert operator site-ca "DNS:operator"

MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
MOSQ_PROBE_ARGS=(-h 127.0.0.1 --cafile "$PKI/site-ca.pem" --cert "$PKI/operator.pem"
    --key "$PKI/operator.key")
start_mosquitto "$MQTT_PORT" "cafile $PKI/site-ca.pem" "certfile $PKI/broker.pem" \
    "keyfile $PKI/broker.key" "require_certificate true" "log_type all"

# One file for the daemon and the operator's tool; the tool's MQTT 3.1.1 and keep-alive
# come from it too (the daemon speaks MQTT 5: --set mqtt.protocol=5 on its command line).
CFG=$TEST_TMP/sensorbro.ini
cat >"$CFG" <<INI
[gateway]
id = gw-wt

[mqtt]
host = 127.0.0.1
port = $MQTT_PORT
protocol = 3.1.1
tls = true
ca_file = $PKI/site-ca.pem
cert_file = $PKI/operator.pem
key_file = $PKI/operator.key
topic = site/{gateway}/dev/{device}
status_topic = site/{gateway}/state
keepalive_s = 45

[coap]
bind = 127.0.0.1
port = $COAP_PORT
INI
start_sensorbro gw -c "$CFG" --set mqtt.protocol=5 --set mqtt.cert_file="$PKI/gw-wt.pem" \
    --set mqtt.key_file="$PKI/gw-wt.key"
wait_until "sensorbro connected over TLS" 15 grep -q "mqtt: connected to ssl://127.0.0.1:$MQTT_PORT" \
    "$TEST_TMP/gw.log"

"$SENSORBROCTL_BIN" -c "$CFG" watch --count 1 --duration 30 \
    >"$TEST_TMP/watch.txt" 2>"$TEST_TMP/watch.err" &
WATCH_PID=$!
STARTED_PIDS+=("$WATCH_PID")
wait_until "watch subscribed" 15 grep -q \
    "^watching site/gw-wt/dev/+ and site/gw-wt/state on ssl://127.0.0.1:$MQTT_PORT$" \
    "$TEST_TMP/watch.err"
wait_until "the status shown" 10 grep -q "site/gw-wt/state  online$" "$TEST_TMP/watch.txt"
# as the configuration says: MQTT 3.1.1 (Mosquitto's p2), keep-alive 45 s
grep -Eq "New client connected from 127.0.0.1:[0-9]+ as sensorbroctl-watch-$WATCH_PID \(p2, c1, k45" \
    "$TEST_TMP/mosquitto.log" || fail "watch did not connect with MQTT 3.1.1 and keep-alive 45: \
$(grep 'New client' "$TEST_TMP/mosquitto.log")"

encode_uplink "seq: 7 interval_s: 60 co2: [640]" "$TEST_TMP/f.bin"
expect_eq "CoAP response" 2.04 "$(coap_post "$COAP_PORT" /up/70b3d57ed000f00d "$TEST_TMP/f.bin")"
wait_until "the reading shown" 10 grep -q "70b3d57ed000f00d  seq 7 " "$TEST_TMP/watch.txt"
for ((i = 0; i < 50; i++)); do kill -0 "$WATCH_PID" 2>/dev/null || break; sleep 0.1; done
WATCH_STATUS=0
wait "$WATCH_PID" || WATCH_STATUS=$?
expect_eq "watch exit status" 0 "$WATCH_STATUS"

# Without the client certificate: the broker refuses the handshake, watch exits 1 saying so.
STATUS=0
"$SENSORBROCTL_BIN" -c "$CFG" --set mqtt.cert_file= --set mqtt.key_file= watch --count 1 \
    --duration 20 >"$TEST_TMP/nocert.txt" 2>"$TEST_TMP/nocert.err" || STATUS=$?
[ "$STATUS" -eq 1 ] ||
    fail "watch without a client certificate: exit status $STATUS, not 1: $(cat "$TEST_TMP/nocert.err")"
grep -q "^sensorbroctl watch: cannot connect to 127.0.0.1 port $MQTT_PORT: " "$TEST_TMP/nocert.err" ||
    fail "watch without a client certificate: $(cat "$TEST_TMP/nocert.err")"
stop_sensorbro
log "ok"
