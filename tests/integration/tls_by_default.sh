#!/usr/bin/env bash
# TLS by default to a broker that is not loopback, and never a password in clear to one:
# - the effective configuration turns tls on for a remote host (the publisher's broker and
#   the LNS feed's alike) and leaves it off for localhost;
# - a password with tls = false to a remote host stops start-up (and sensorbroctl) at the
#   line that turned TLS off, without the password in the message; allow_insecure = true
#   lets it start, with a warning; plain TCP without a password starts with a warning.
#   All through `sensorbro --check-config`: no remote host is needed.
# - over TLS (a real Mosquitto TLS listener on loopback with a password file, certificates
#   made here with the openssl CLI), the broker's host name is verified: a certificate of
#   the right CA for another name is refused (Paho checks the name itself, after OpenSSL's
#   handshake, and gives no reason: the log says what it may be), the right one connects
#   and the password is accepted. A wrong CA, with OpenSSL's reason: tls_files.sh.
source "$(dirname "$0")/lib.sh"

cfg=$TEST_TMP/sensorbro.ini
# check_config EXPECTED_STATUS [sensorbro args]...: runs --check-config; output in out/err.txt
check_config()
{
    local expected=$1 status=0
    shift
    "$SENSORBRO_BIN" --check-config "${ROOT_KEEP_ARGS[@]}" "$@" >"$TEST_TMP/out.txt" \
        2>"$TEST_TMP/err.txt" || status=$?
    expect_eq "--check-config $*: exit status ($(cat "$TEST_TMP/err.txt"))" "$expected" "$status"
}

# The defaults, by host.
"$SENSORBRO_BIN" --print-config >"$TEST_TMP/local.ini"
expect_eq "localhost: tls" "tls = false" "$(sed -n '/^\[mqtt\]/,/^\[/p' "$TEST_TMP/local.ini" | grep '^tls ')"
"$SENSORBRO_BIN" --set mqtt.host=broker.example.org --set lns_mqtt.host=10.20.30.40 \
    --print-config >"$TEST_TMP/remote.ini"
expect_eq "remote broker: tls" "tls = true" "$(sed -n '/^\[mqtt\]/,/^\[/p' "$TEST_TMP/remote.ini" | grep '^tls ')"
expect_eq "remote network server: tls" "tls = true" \
    "$(sed -n '/^\[lns_mqtt\]/,/^\[/p' "$TEST_TMP/remote.ini" | grep '^tls ')"

# A password in clear to a remote host: refused at the line of tls = false.
PASSWORD=pw-Never-In-Clear-71
printf '[mqtt]\nhost = 192.0.2.7\nusername = gw\npassword = %s\n# no TLS listener there\ntls = false\n' \
    "$PASSWORD" >"$cfg"
check_config 2 -c "$cfg"
expect_eq "refusal" "sensorbro: $cfg:6: mqtt.tls: false sends mqtt.password in clear to 192.0.2.7 (not loopback): keep TLS on (the default for this host), or set mqtt.allow_insecure = true" \
    "$(cat "$TEST_TMP/err.txt")"
STATUS=0
"$SENSORBROCTL_BIN" -c "$cfg" watch --count 1 --duration 5 >"$TEST_TMP/ctl.out" 2>"$TEST_TMP/ctl.err" ||
    STATUS=$?
expect_eq "sensorbroctl watch refuses it too" 2 "$STATUS"
grep -q "mqtt.tls: false sends mqtt.password in clear" "$TEST_TMP/ctl.err" ||
    fail "sensorbroctl watch: $(cat "$TEST_TMP/ctl.err")"
! grep -rq "$PASSWORD" "$TEST_TMP"/*.txt "$TEST_TMP"/ctl.* || fail "the password was printed"

# allow_insecure = true: starts, with a warning.
printf 'allow_insecure = true\n' >>"$cfg"
check_config 0 -c "$cfg"
expect_eq "allowed" "sensorbro: configuration ok: $cfg" "$(cat "$TEST_TMP/out.txt")"
grep -q "warn  mqtt: mqtt.allow_insecure = true: the broker's password goes to 192.0.2.7 in clear" \
    "$TEST_TMP/err.txt" || fail "no warning for allow_insecure: $(cat "$TEST_TMP/err.txt")"
! grep -q "$PASSWORD" "$TEST_TMP/err.txt" || fail "the password was logged"

# The LNS feed's broker: the same rule, from the command line.
check_config 2 --set lns_mqtt.enabled=true --set lns_mqtt.host=ns.example.org \
    --set lns_mqtt.username=ns --set lns_mqtt.password="$PASSWORD" --set lns_mqtt.tls=false
grep -q "^sensorbro: command line: lns_mqtt.tls: false sends lns_mqtt.password in clear to ns.example.org" \
    "$TEST_TMP/err.txt" || fail "LNS feed: $(cat "$TEST_TMP/err.txt")"

# Plain TCP without a password to a remote host: allowed, and said.
check_config 0 --set mqtt.host=192.0.2.7 --set mqtt.tls=false
grep -q "warn  mqtt: mqtt.tls = false: traffic to the broker at 192.0.2.7, which is not loopback, goes in clear" \
    "$TEST_TMP/err.txt" || fail "no warning for plain TCP: $(cat "$TEST_TMP/err.txt")"

# A real TLS listener with a password file on loopback.
pki_new_ca site-ca
pki_new_cert broker site-ca "IP:127.0.0.1,DNS:localhost"
pki_new_cert elsewhere site-ca "DNS:broker.elsewhere.example"
PASSWD=$TEST_TMP/passwd
touch "$PASSWD" && chmod 600 "$PASSWD"
mosquitto_passwd -b "$PASSWD" gw "$PASSWORD" || fail "mosquitto_passwd"
MQTT_PORT=$(free_port)
MOSQ_PROBE_ARGS=(-h 127.0.0.1 --cafile "$PKI/site-ca.pem" -u gw -P "$PASSWORD")
start_mosquitto "$MQTT_PORT" "allow_anonymous false" "password_file $PASSWD" \
    "cafile $PKI/site-ca.pem" "certfile $PKI/broker.pem" "keyfile $PKI/broker.key"
TLS_ARGS=(--set gateway.id=gw-tlsd --set mqtt.host=127.0.0.1 --set mqtt.port="$MQTT_PORT"
    --set mqtt.tls=true --set mqtt.ca_file="$PKI/site-ca.pem" --set mqtt.username=gw
    --set mqtt.password="$PASSWORD" --set coap.bind=127.0.0.1 --set coap.port="$(free_port)"
    --set mqtt.reconnect_min_ms=100 --set mqtt.reconnect_max_ms=300)
start_sensorbro right "${TLS_ARGS[@]}"
wait_until "connected over TLS with the password" 15 grep -q \
    "mqtt: connected to ssl://127.0.0.1:$MQTT_PORT" "$TEST_TMP/right.log"
stop_sensorbro
stop_mosquitto

# The same CA, but the broker's certificate names another host: the host name check fails.
MOSQ_PROBE_ARGS+=(--insecure) # the probe's own host name check would fail the same way
start_mosquitto "$MQTT_PORT" "allow_anonymous false" "password_file $PASSWD" \
    "cafile $PKI/site-ca.pem" "certfile $PKI/elsewhere.pem" "keyfile $PKI/elsewhere.key"
start_sensorbro mismatch "${TLS_ARGS[@]}"
wait_until "the host name refused" 15 grep -q \
    "warn  mqtt: cannot connect to ssl://127.0.0.1:$MQTT_PORT as sensorbro-gw-tlsd: Failure: TCP/TLS connect failure (TLS: no reason from OpenSSL: the broker is not reachable, or its certificate does not name 127.0.0.1)" \
    "$TEST_TMP/mismatch.log"
stop_sensorbro
! grep -q "mqtt: connected" "$TEST_TMP/mismatch.log" || fail "connected to a broker of another name"
! grep -q "$PASSWORD" "$TEST_TMP"/right.log "$TEST_TMP"/mismatch.log || fail "the password was logged"
log "ok"
