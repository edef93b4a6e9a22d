#!/usr/bin/env bash
# A bad configuration stops start-up with "<file>:<line>: <section>.<key>: <what was
# expected>" and exit status 2; no file at all runs on the documented defaults.
source "$(dirname "$0")/lib.sh"

# expect_config_error DESCRIPTION EXPECTED_MESSAGE [sensorbro args]...
expect_config_error()
{
    local what=$1 expected=$2 status=0
    shift 2
    "$SENSORBRO_BIN" "$@" >"$TEST_TMP/out.txt" 2>"$TEST_TMP/err.txt" || status=$?
    expect_eq "$what: exit status" 2 "$status"
    expect_eq "$what: message" "$expected" "$(cat "$TEST_TMP/err.txt")"
}

cfg=$TEST_TMP/sensorbro.ini
printf '[mqtt]\nhost = broker.example\nprot = 1883\n' >"$cfg"
expect_config_error "unknown key" \
    "sensorbro: $cfg:3: mqtt.prot: unknown key (known in [mqtt]: host, port, protocol, client_id, username, password, tls, allow_insecure, ca_file, cert_file, key_file, topic, status_topic, keepalive_s, connect_timeout_s, max_inflight, reconnect_min_ms, reconnect_max_ms, max_rate)" \
    -c "$cfg"

printf '# comment\n[mqtt]\nport = 70000\n' >"$cfg"
expect_config_error "port out of range" \
    "sensorbro: $cfg:3: mqtt.port: expected a whole number from 1 to 65535, got \"70000\"" -c "$cfg"

printf '[journal]\nsynchronous = sometimes\n' >"$cfg"
expect_config_error "bad choice" \
    "sensorbro: $cfg:2: journal.synchronous: expected one of full, normal, got \"sometimes\"" -c "$cfg"

printf '[coap]\nenabled = maybe\n' >"$cfg"
expect_config_error "bad bool" \
    "sensorbro: $cfg:2: coap.enabled: expected true or false, got \"maybe\"" -c "$cfg"

printf '[gateway]\nid = town hall\n' >"$cfg"
expect_config_error "id with a space" \
    "sensorbro: $cfg:2: gateway.id: expected letters, digits, '-', '_' or '.' only, found ' '" -c "$cfg"

printf '[mqtt]\ntopic = sensorbro/+/up\n' >"$cfg"
expect_config_error "wildcard topic" \
    "sensorbro: $cfg:2: mqtt.topic: expected a non-empty topic without the wildcards '+' or '#'" -c "$cfg"

printf '[mqtt\nport = 1\n' >"$cfg"
expect_config_error "syntax" \
    "sensorbro: $cfg:1: expected \"[section]\", \"key = value\" or a comment" -c "$cfg"

printf '[mqtt]\nhost = %0250d\nport = 1\n' 0 >"$cfg"
expect_config_error "over-long line" "sensorbro: $cfg:2: line longer than 198 characters" -c "$cfg"

printf '[broker]\nport = 1\n' >"$cfg"
expect_config_error "unknown section" \
    "sensorbro: $cfg:2: [broker]: unknown section (known: gateway, coap, semtech_udp, journal, mqtt, lns_mqtt, render, log, service, http)" -c "$cfg"

printf '[http]\nport = 9000\nuser = staff\n' >"$cfg"
expect_config_error "basic auth user without a password file" \
    "sensorbro: $cfg:3: http.user: expected http.user and http.password_file together" -c "$cfg"
printf '[http]\nlanguage = de\n' >"$cfg"
expect_config_error "status page language" \
    "sensorbro: $cfg:2: http.language: expected one of da, en, got \"de\"" -c "$cfg"

printf '[semtech_udp]\nport = 1700\nnet_id = 0x13\n' >"$cfg"
expect_config_error "bad NetID" \
    "sensorbro: $cfg:3: semtech_udp.net_id: expected a NetID of 1 to 6 hex digits, e.g. 000000, got \"0x13\"" -c "$cfg"

printf '[semtech_udp]\ndedup_window_ms = 5000\n' >"$cfg"
expect_config_error "dedup window too long" \
    "sensorbro: $cfg:2: semtech_udp.dedup_window_ms: expected a whole number from 0 to 2000, got \"5000\"" -c "$cfg"

printf '[lns_mqtt]\nenabled = true\nshared_group = a/b\n' >"$cfg"
expect_config_error "shared group with a level separator" \
    "sensorbro: $cfg:3: lns_mqtt.shared_group: expected letters, digits, '-', '_' or '.' only, found '/'" -c "$cfg"

printf '[lns_mqtt]\ntopic = $share/g/application/#\n' >"$cfg"
expect_config_error "\$share written into the topic" \
    "sensorbro: $cfg:2: lns_mqtt.topic: expected a topic filter such as application/+/device/+/event/up (no spaces; set lns_mqtt.shared_group instead of \$share/...)" -c "$cfg"

printf '[lns_mqtt]\ntopic = application/a+/device/+/event/up\n' >"$cfg"
expect_config_error "wildcard inside a level" \
    "sensorbro: $cfg:2: lns_mqtt.topic: expected '+' and '#' to fill a whole topic level" -c "$cfg"

printf '[lns_mqtt]\ndownlink_topic = application/{app}/device/{device}/command/down\n' >"$cfg"
expect_config_error "unknown placeholder" \
    "sensorbro: $cfg:2: lns_mqtt.downlink_topic: expected only the placeholders {application} and {device}" -c "$cfg"

printf 'port = 1\n' >"$cfg"
expect_config_error "outside a section" "sensorbro: $cfg:1: port: key outside any [section]" -c "$cfg"

printf '[mqtt]\ntls = true\ncert_file = /etc/ssl/gw.pem\n' >"$cfg"
expect_config_error "cert without key" \
    "sensorbro: $cfg: mqtt.cert_file and mqtt.key_file go together: set both" -c "$cfg"

printf '[mqtt]\nport = 1884\nhost = a\n\n[coap]\nport = 5684\n[mqtt]\nport = 1885\n' >"$cfg"
expect_config_error "key given twice" \
    "sensorbro: $cfg:8: mqtt.port given again (first at line 2)" -c "$cfg"
expect_config_error "key given twice with --set" \
    "sensorbro: command line: coap.port given twice with --set" --set coap.port=1 --set coap.port=2
expect_config_error "two configuration files" \
    "sensorbro: -c given twice ($cfg, $cfg): one configuration file" -c "$cfg" -c "$cfg"
printf '[mqtt]\nport = 1884\n' >"$cfg"
"$SENSORBRO_BIN" -c "$cfg" --set mqtt.port=1999 --print-config | grep -qx "port = 1999" ||
    fail "--set does not override the file's key"

expect_config_error "missing file" \
    "sensorbro: $TEST_TMP/none.ini: cannot open: No such file or directory" -c "$TEST_TMP/none.ini"
expect_config_error "bad --set" \
    "sensorbro: command line: coap.port: expected a whole number from 1 to 65535, got \"0\"" \
    --set coap.port=0
expect_config_error "malformed --set" \
    "sensorbro: --set port: expected section.key=value, e.g. mqtt.port=1883" --set port

# No file: the documented defaults, the gateway id from the host name, secrets masked.
"$SENSORBRO_BIN" --print-config >"$TEST_TMP/defaults.ini"
grep -qx "host = localhost" "$TEST_TMP/defaults.ini" || fail "default broker host"
grep -qx "port = 1883" "$TEST_TMP/defaults.ini" || fail "default broker port"
grep -qx "path = sensorbro.db" "$TEST_TMP/defaults.ini" || fail "default journal path"
host_id=$(hostname | tr -c 'A-Za-z0-9._\n-' '-')
grep -qx "id = $host_id" "$TEST_TMP/defaults.ini" || fail "default gateway id is not the host name"
"$SENSORBRO_BIN" --set mqtt.username=gw --set mqtt.password=s3cret --print-config >"$TEST_TMP/p.ini"
grep -qx "password = \*\*\*\*\*\*\*\*" "$TEST_TMP/p.ini" || fail "password not masked"
! grep -q s3cret "$TEST_TMP/p.ini" || fail "password printed"
"$SENSORBRO_BIN" --set lns_mqtt.username=ns --set lns_mqtt.password=n3tserver --print-config >"$TEST_TMP/p.ini"
[ "$(grep -cx "password = \*\*\*\*\*\*\*\*" "$TEST_TMP/p.ini")" -eq 1 ] || fail "lns_mqtt.password not masked"
! grep -q n3tserver "$TEST_TMP/p.ini" || fail "lns_mqtt.password printed"
# The printed configuration is itself a valid configuration file.
"$SENSORBRO_BIN" -c "$TEST_TMP/defaults.ini" --print-config >"$TEST_TMP/again.ini"
cmp -s "$TEST_TMP/defaults.ini" "$TEST_TMP/again.ini" || fail "--print-config output does not load back"
log "ok"
