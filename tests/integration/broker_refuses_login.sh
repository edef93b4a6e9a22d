#!/usr/bin/env bash
# A broker that refuses sensorbro's login (wrong password) is reported clearly and retried
# slowly, never hammered, and the password never reaches the log. Frames acknowledged
# meanwhile stay in the journal; when the broker's side is fixed (the operator sets the
# password sensorbro has, and reloads Mosquitto with SIGHUP), sensorbro gets in by itself
# and publishes them.
source "$(dirname "$0")/lib.sh"

MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
SECRET=sb-Wr0ng-but-Secret-5c1e
PASSWD=$TEST_TMP/passwd
touch "$PASSWD" && chmod 600 "$PASSWD"
mosquitto_passwd -b "$PASSWD" gw the-brokers-password
mosquitto_passwd -b "$PASSWD" sub sub-password
MOSQ_PROBE_ARGS=(-u sub -P sub-password)
start_mosquitto "$MQTT_PORT" "allow_anonymous false" "password_file $PASSWD"
mosquitto_sub -p "$MQTT_PORT" -u sub -P sub-password -i auth-sub -c -q 1 \
    -t "sensorbro/gw-auth/+/up" -E || fail "cannot subscribe"

# Backoff from 100 ms would make at least 6 attempts in 7 s (delays at most 0.1, 0.2,
# 0.4, 0.8, 1.6 s); a refused login waits 1.5-3 s (half the maximum to the maximum).
start_sensorbro gw --set gateway.id=gw-auth --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 \
    --set mqtt.username=gw --set mqtt.password="$SECRET" \
    --set mqtt.reconnect_min_ms=100 --set mqtt.reconnect_max_ms=3000
for seq in 1 2 3; do
    encode_uplink "seq: $seq interval_s: 60 temperature: [$((2100 + seq))]" "$TEST_TMP/f$seq.bin"
    expect_eq "frame $seq with the login refused" 2.04 \
        "$(coap_post "$COAP_PORT" /up/70b3d57ed000a0f1 "$TEST_TMP/f$seq.bin")"
done
sleep 7
# Mosquitto names no client it refused: every refusal here is sensorbro's (the probe and
# the subscriber log in with good credentials).
attempts=$(grep -c "disconnected, not authorised" "$TEST_TMP/mosquitto.log" || true)
log "$attempts login attempts in about 7 s"
[ "$attempts" -ge 2 ] || fail "sensorbro gave up logging in ($attempts attempts)"
[ "$attempts" -le 4 ] || fail "$attempts login attempts in 7 s: a refused login is retried too fast"
expect_eq "errors logged for the refused login" 1 \
    "$(grep -c "error mqtt: cannot connect to .* as sensorbro-gw-auth: Not authorized (reason 0x87)" "$TEST_TMP/gw.log")"
! grep -q -- "$SECRET" "$TEST_TMP/gw.log" || fail "the password is in sensorbro's log"
status=$("$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status)
grep -q "NOT CONNECTED" <<<"$status" || fail "status does not show the broker down: $status"
! grep -q -- "$SECRET" <<<"$status" || fail "the password is in sensorbroctl status"

# The operator fixes the broker's side; sensorbro needs no restart.
mosquitto_passwd -b "$PASSWD" gw "$SECRET"
kill -HUP "$MOSQ_PID"
collect_messages "$MQTT_PORT" auth-sub "sensorbro/gw-auth/+/up" 3 15 "$TEST_TMP/messages.txt" \
    -u sub -P sub-password
expect_eq "frames published once the login works" "1 2 3" \
    "$(cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq -s -r 'map(.seq) | join(" ")')"
grep -q "mqtt: connected to .* as sensorbro-gw-auth (MQTT 5) after retrying" "$TEST_TMP/gw.log" ||
    fail "no reconnect logged"
stop_sensorbro
log "ok"
