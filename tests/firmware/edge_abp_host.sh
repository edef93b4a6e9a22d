#!/usr/bin/env bash
# The host port -> modem-sim (ABP) -> GWMP over UDP -> sensorbro (edge network server) ->
# Mosquitto, in simulated time: the JSON on the broker holds exactly the readings the
# simulated sensors gave (broker_samples.py), every uplink once.
source "$(dirname "$0")/fw_lib.sh"
NODE_HOST_BIN=${NODE_HOST_BIN:-$REPO_DIR/build/firmware/ports/host/sensorbro-node-host}
SPEED=2000
DEVICE=70b3d57ed00000a1

write_keys
MQTT_PORT=$(free_port)
UDP_PORT=$(free_port)
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up"
mkdir -p "$TEST_TMP/gw"
sed -n 's/^\(nwkskey\|appskey\) = .*/&/p' "$KEYS" |
    "$SENSORBROCTL_BIN" -j "$TEST_TMP/gw/sensorbro.db" device add --dev-eui "$DEVICE" \
        --dev-addr "$(sed -n 's/^devaddr = //p' "$KEYS")" --keys-file - >/dev/null
start_sensorbro gw --set gateway.id=gw-it --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$(free_port)" --set coap.bind=127.0.0.1 --set semtech_udp.port="$UDP_PORT" \
    --set semtech_udp.dedup_window_ms=20
start_modem_sim "pty:$TEST_TMP/modem" "$UDP_PORT" --speed "$SPEED"

"$NODE_HOST_BIN" --modem "$TEST_TMP/modem" --speed "$SPEED" --nvm "$TEST_TMP/nvm.bin" \
    --uplinks 5 --sample-log "$TEST_TMP/samples.log" >>"$TEST_TMP/node.log" 2>&1 &
NODE_PID=$!
STARTED_PIDS+=("$NODE_PID")
wait_until "5 uplinks" 60 bash -c "! kill -0 $NODE_PID"
stop_pid "$NODE_PID"
expect_eq "node exit status" 0 "$STOP_STATUS"
uplinks=$(grep -c "uplink seq=" "$TEST_TMP/node.log")

collect_messages "$MQTT_PORT" it-sub "sensorbro/gw-it/+/up" "$uplinks" 20 "$TEST_TMP/messages.txt"
python3 "$FW_TEST_DIR/broker_samples.py" --messages "$TEST_TMP/messages.txt" \
    --samples "$TEST_TMP/samples.log" --device "$DEVICE" --min-uplinks 5 ||
    fail "the broker's JSON does not match the sensor readings"
jq -e -s "all(.[]; .fport == 1 and .gateways == [\"aa555a0000000001\"] and .rssi_dbm == -70)" \
    < <(cut -d' ' -f2- "$TEST_TMP/messages.txt") >/dev/null || fail "radio fields: $(head -n 1 "$TEST_TMP/messages.txt")"
expect_eq "fcnt of the messages" "$(seq -s ' ' 0 $((uplinks - 1)))" \
    "$(cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq -s -r 'map(.fcnt) | join(" ")')"
stop_sensorbro
log "ok: $uplinks uplinks"
