#!/usr/bin/env bash
# TLS files are checked at start-up, not at the first connect: a missing, unreadable or
# garbage mqtt.ca_file, a client key that is not the certificate's, or an encrypted key
# stops sensorbro with "<file>:<line>: <key>: <what is wrong>". A CA that parses but is the
# wrong one can only show at the handshake: the log then says what OpenSSL said
# ("certificate verify failed"), once, and not only Paho's "TCP/TLS connect failure". With
# the right files the readings go over TLS with a client certificate (real Mosquitto TLS
# listener; every certificate made here with the openssl CLI).
source "$(dirname "$0")/lib.sh"

pki_new_ca site-ca
pki_new_ca other-ca
pki_new_cert broker site-ca "IP:127.0.0.1,DNS:localhost"
pki_new_cert gw-tls site-ca "DNS:gw-tls"
pki_new_cert subscriber site-ca "DNS:subscriber"
openssl pkey -in "$PKI/gw-tls.key" -aes256 -passout pass:secret-phrase \
    -out "$PKI/encrypted.key" 2>>"$TEST_TMP/openssl.log" || fail "openssl: cannot encrypt a key"
echo "this is not PEM" >"$PKI/garbage.pem"
cp "$PKI/site-ca.pem" "$PKI/unreadable.pem"
chmod 000 "$PKI/unreadable.pem"

# expect_start_error DESCRIPTION EXPECTED_MESSAGE CONFIG_TEXT [sensorbro args]...: the file
# holds CONFIG_TEXT; sensorbro must stop with status 2 and exactly that message.
cfg=$TEST_TMP/sensorbro.ini
expect_start_error()
{
    local what=$1 expected=$2 status=0
    printf '%b' "$3" >"$cfg"
    shift 3
    (cd "$TEST_TMP" && "$SENSORBRO_BIN" -c "$cfg" --set coap.enabled=false \
        --set semtech_udp.enabled=false "$@") >"$TEST_TMP/out.txt" 2>"$TEST_TMP/err.txt" || status=$?
    expect_eq "$what: exit status" 2 "$status"
    expect_eq "$what: message" "$expected" "$(cat "$TEST_TMP/err.txt")"
    [ ! -e "$TEST_TMP/sensorbro.db" ] || fail "$what: a journal was created before the check"
}
base="[mqtt]\nhost = 127.0.0.1\ntls = true\n"
expect_start_error "missing CA file" \
    "sensorbro: $cfg:4: mqtt.ca_file: cannot open $PKI/none.pem: No such file or directory" \
    "${base}ca_file = $PKI/none.pem\n"
expect_start_error "garbage CA file" \
    "sensorbro: $cfg:5: mqtt.ca_file: $PKI/garbage.pem holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)" \
    "${base}; the site's CA\nca_file = $PKI/garbage.pem\n"
expect_start_error "garbage CA file from --set" \
    "sensorbro: command line: mqtt.ca_file: $PKI/garbage.pem holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)" \
    "${base}ca_file = $PKI/site-ca.pem\n" --set mqtt.ca_file="$PKI/garbage.pem"
if [ "$(id -u)" -ne 0 ]; then # root reads a mode 000 file all the same
    expect_start_error "unreadable CA file" \
        "sensorbro: $cfg:4: mqtt.ca_file: cannot open $PKI/unreadable.pem: Permission denied" \
        "${base}ca_file = $PKI/unreadable.pem\n"
fi
expect_start_error "key of another certificate" \
    "sensorbro: $cfg:6: mqtt.key_file: $PKI/subscriber.key is not the key of the certificate in $PKI/gw-tls.pem (mqtt.cert_file)" \
    "${base}ca_file = $PKI/site-ca.pem\ncert_file = $PKI/gw-tls.pem\nkey_file = $PKI/subscriber.key\n"
expect_start_error "certificate file holding a key" \
    "sensorbro: $cfg:5: mqtt.cert_file: $PKI/gw-tls.key holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)" \
    "${base}ca_file = $PKI/site-ca.pem\ncert_file = $PKI/gw-tls.key\nkey_file = $PKI/gw-tls.key\n"
expect_start_error "encrypted key" \
    "sensorbro: $cfg:6: mqtt.key_file: $PKI/encrypted.key is encrypted with a passphrase, which sensorbro cannot be given: store it unencrypted (openssl pkey -in KEY -out KEY.plain), readable by the service user only" \
    "${base}ca_file = $PKI/site-ca.pem\ncert_file = $PKI/gw-tls.pem\nkey_file = $PKI/encrypted.key\n"
expect_start_error "LNS feed's CA file" \
    "sensorbro: $cfg:4: lns_mqtt.ca_file: $PKI/garbage.pem holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)" \
    "[lns_mqtt]\nenabled = true\ntls = true\nca_file = $PKI/garbage.pem\n"

# A real TLS listener that wants a client certificate from the site's CA.
MQTT_PORT=$(free_port)
SUB_TLS=(--cafile "$PKI/site-ca.pem" --cert "$PKI/subscriber.pem" --key "$PKI/subscriber.key")
MOSQ_PROBE_ARGS=(-h 127.0.0.1 "${SUB_TLS[@]}")
start_mosquitto "$MQTT_PORT" "cafile $PKI/site-ca.pem" "certfile $PKI/broker.pem" \
    "keyfile $PKI/broker.key" "require_certificate true"
mosquitto_sub -h 127.0.0.1 -p "$MQTT_PORT" "${SUB_TLS[@]}" -i tls-sub -c -q 1 \
    -t "sensorbro/gw-tls/+/up" -E || fail "cannot subscribe over TLS"

# The wrong CA: it parses, so start-up goes on; each handshake fails, and the log says why,
# once (repeats of the same failure go to debug).
COAP_PORT=$(free_port)
start_sensorbro wrong --set gateway.id=gw-tls --set mqtt.host=127.0.0.1 \
    --set mqtt.port="$MQTT_PORT" --set mqtt.tls=true --set mqtt.ca_file="$PKI/other-ca.pem" \
    --set mqtt.cert_file="$PKI/gw-tls.pem" --set mqtt.key_file="$PKI/gw-tls.key" \
    --set mqtt.reconnect_min_ms=100 --set mqtt.reconnect_max_ms=300 \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 --set log.level=debug
wait_until "several refused handshakes" 15 \
    bash -c "[ \$(grep -c 'mqtt: cannot connect' '$TEST_TMP/wrong.log') -ge 3 ]"
stop_sensorbro
expect_eq "warnings for the run of failed handshakes" 1 \
    "$(grep -c "warn  mqtt: cannot connect to ssl://127.0.0.1:$MQTT_PORT as sensorbro-gw-tls: Failure: TCP/TLS connect failure (TLS: certificate verify failed); retrying" "$TEST_TMP/wrong.log")"
! grep "mqtt: cannot connect" "$TEST_TMP/wrong.log" | grep -qv "certificate verify failed" ||
    fail "a failed handshake without OpenSSL's reason"

# The LNS feed's connection says the same.
start_sensorbro lns --set gateway.id=gw-tls-lns --set mqtt.port="$(free_port)" \
    --set lns_mqtt.enabled=true --set lns_mqtt.host=127.0.0.1 --set lns_mqtt.port="$MQTT_PORT" \
    --set lns_mqtt.tls=true --set lns_mqtt.ca_file="$PKI/other-ca.pem" \
    --set coap.port="$(free_port)" --set coap.bind=127.0.0.1
wait_until "the LNS feed's handshake refused" 15 grep -q \
    "warn  lns-mqtt: cannot connect to ssl://127.0.0.1:$MQTT_PORT as sensorbro-lns-gw-tls-lns: Failure: TCP/TLS connect failure (TLS: certificate verify failed)" \
    "$TEST_TMP/lns.log"
stop_sensorbro

# The right CA and the client certificate: connected, and a reading goes over TLS.
start_sensorbro right --set gateway.id=gw-tls --set mqtt.host=127.0.0.1 \
    --set mqtt.port="$MQTT_PORT" --set mqtt.tls=true --set mqtt.ca_file="$PKI/site-ca.pem" \
    --set mqtt.cert_file="$PKI/gw-tls.pem" --set mqtt.key_file="$PKI/gw-tls.key" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1
wait_until "connected over TLS" 15 grep -q "mqtt: connected to ssl://127.0.0.1:$MQTT_PORT" \
    "$TEST_TMP/right.log"
encode_uplink "seq: 7 interval_s: 60 co2: [640]" "$TEST_TMP/f.bin"
expect_eq "CoAP response" 2.04 "$(coap_post "$COAP_PORT" /up/70b3d57ed000f00d "$TEST_TMP/f.bin")"
collect_messages "$MQTT_PORT" tls-sub "sensorbro/gw-tls/+/up" 1 15 "$TEST_TMP/messages.txt" \
    -h 127.0.0.1 "${SUB_TLS[@]}"
expect_eq "reading over TLS" 7 "$(cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq .seq)"
stop_sensorbro
log "ok"
