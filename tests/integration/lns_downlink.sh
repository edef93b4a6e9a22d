#!/usr/bin/env bash
# lns_mqtt_send_downlink publishes ChirpStack v4's downlink command to
# application/<application>/device/<devEui>/command/down on a real Mosquitto, with the
# applicationId learnt from the device's uplink; the broker acknowledges it.
source "$(dirname "$0")/lib.sh"
LNS_DOWNLINK_BIN=${LNS_DOWNLINK_BIN:-$REPO_DIR/build/tests/sb-lns-downlink}

MQTT_PORT=$(free_port)
APP=0b7d3a9e-5c1f-4e2a-9d6b-112233445566
EUI=70B3D57ED0005678
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" down-sub "application/+/device/+/command/down"

"$LNS_DOWNLINK_BIN" "$MQTT_PORT" "$TEST_TMP/journal.db" "$EUI" 3 0803102c confirmed \
    >"$TEST_TMP/helper.out" 2>"$TEST_TMP/helper.log" &
HELPER_PID=$!
STARTED_PIDS+=("$HELPER_PID")
wait_until "helper subscribed" 15 grep -q subscribed "$TEST_TMP/helper.out"

# An uplink without data (ChirpStack leaves data and fPort out) is enough to learn the
# device's application.
chirpstack_event 6e3a8b7c-0000-4000-8000-000000000001 "$EUI" 9 "" "$APP" |
    sed 's/"fPort":2,//; s/,"data":""//' |
    mosquitto_pub -p "$MQTT_PORT" -q 1 -t "application/$APP/device/${EUI,,}/event/up" -s
status=0
wait "$HELPER_PID" || status=$?
expect_eq "helper exit status (log: $(tail -n 3 "$TEST_TMP/helper.log" | tr '\n' ' '))" 0 "$status"
expect_eq "helper result" "subscribed acked" "$(tr '\n' ' ' <"$TEST_TMP/helper.out" | sed 's/ $//')"

collect_messages "$MQTT_PORT" down-sub "application/+/device/+/command/down" 1 10 "$TEST_TMP/down.txt"
expect_eq "downlink messages" 1 "$(wc -l <"$TEST_TMP/down.txt")"
expect_eq topic "application/$APP/device/70b3d57ed0005678/command/down" "$(cut -d' ' -f1 "$TEST_TMP/down.txt")"
json=$(cut -d' ' -f2- "$TEST_TMP/down.txt")
expect_eq "command keys" '["confirmed","data","devEui","fPort"]' "$(jq -c 'keys' <<<"$json")"
expect_eq devEui '"70b3d57ed0005678"' "$(jq -c .devEui <<<"$json")"
expect_eq confirmed true "$(jq -c .confirmed <<<"$json")"
expect_eq fPort 3 "$(jq -c .fPort <<<"$json")"
expect_eq "data (base64 of 08 03 10 2c)" 0803102c "$(jq -r .data <<<"$json" | base64 -d | od -An -v -tx1 | tr -d ' \n')"
log "ok"
