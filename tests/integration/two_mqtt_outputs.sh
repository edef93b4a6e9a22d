#!/usr/bin/env bash
# [mqtt] plus an [output backup] of type mqtt, each to its own Mosquitto. With the backup
# broker down, the [mqtt] broker keeps getting every frame at once; the frames stay pending
# (the backup has not delivered them) and, when its broker returns, all reach it in order
# per device, none lost. Then nothing is pending. A third output, profile senml, gets every
# frame as RFC 8428 SenML on the main broker.
source "$(dirname "$0")/lib.sh"

MAIN_PORT=$(free_port)
BACKUP_PORT=$(free_port)
COAP_PORT=$(free_port)
DEVS=(70b3d57ed0000d01 70b3d57ed0000d02)
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
BACKUP_CONF=("persistence true" "autosave_interval 1" "persistence_file backup-$BACKUP_PORT.db")

start_mosquitto "$MAIN_PORT" "persistence_file main-$MAIN_PORT.db"
MAIN_PID=$MOSQ_PID
start_mosquitto "$BACKUP_PORT" "${BACKUP_CONF[@]}"
subscribe_persistent "$MAIN_PORT" main-sub "sensorbro/gw-two/+/up"
subscribe_persistent "$BACKUP_PORT" backup-sub "backup/+/up"
subscribe_persistent "$MAIN_PORT" senml-sub "senml/+"
cat >"$TEST_TMP/sensorbro.ini" <<INI
[output backup]
type = mqtt
host = 127.0.0.1
port = $BACKUP_PORT
topic = backup/{device}/up
reconnect_min_ms = 200
reconnect_max_ms = 1000

[output senml]
type = mqtt
host = 127.0.0.1
port = $MAIN_PORT
topic = senml/{device}
profile = senml
INI
start_sensorbro gw -c "$TEST_TMP/sensorbro.ini" --set gateway.id=gw-two \
    --set mqtt.port="$MAIN_PORT" --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1
wait_until "the three outputs connected" 15 bash -c "[ \$(grep -c 'mqtt: connected' '$TEST_TMP/gw.log') -ge 3 ]"

post_frames 1 5
collect_messages "$MAIN_PORT" main-sub "sensorbro/gw-two/+/up" 10 20 "$TEST_TMP/main1.txt"
collect_messages "$BACKUP_PORT" backup-sub "backup/+/up" 10 20 "$TEST_TMP/backup1.txt"
expect_eq "main broker, both up" 10 "$(wc -l <"$TEST_TMP/main1.txt")"
expect_eq "backup broker, both up" 10 "$(wc -l <"$TEST_TMP/backup1.txt")"

stop_mosquitto # the backup
post_frames 6 25
collect_messages "$MAIN_PORT" main-sub "sensorbro/gw-two/+/up" 40 20 "$TEST_TMP/main2.txt"
expect_eq "main broker while the backup is down" 40 "$(wc -l <"$TEST_TMP/main2.txt")"
pending=$("$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status --json | jq .pending_frames)
expect_eq "pending for the backup" 40 "$pending"
sleep 2
start_mosquitto "$BACKUP_PORT" "${BACKUP_CONF[@]}"
# every output delivered every frame (PUBACKs); then all the broker queued for the
# subscriber is collected (repeats allowed: at least once, so count them out by seq)
wait_until "pending queue empty" 30 bash -c \
    "'$SENSORBROCTL_BIN' -j '$SB_DIR/sensorbro.db' status --json | jq -e '.pending_frames == 0'"
collect_messages "$BACKUP_PORT" backup-sub "backup/+/up" 1000 3 "$TEST_TMP/backup2.txt"
cat "$TEST_TMP/backup1.txt" "$TEST_TMP/backup2.txt" | cut -d' ' -f2- | jq -r '[.device, .seq] | @tsv' >"$TEST_TMP/backup.tsv"
for device in "${DEVS[@]}"; do
    got=$(awk -v d="$device" '$1 == d && !seen[$2]++ {printf "%s ", $2}' "$TEST_TMP/backup.tsv")
    expect_eq "backup: seqs of $device, in order" "$(seq -s ' ' 1 25) " "$got"
done
# the senml output (RFC 8428) on the main broker got every frame too, one record per sample
collect_messages "$MAIN_PORT" senml-sub "senml/+" 50 20 "$TEST_TMP/senml.txt"
expect_eq "SenML messages" 50 "$(wc -l <"$TEST_TMP/senml.txt")"
first=$(head -n 1 "$TEST_TMP/senml.txt" | cut -d' ' -f2-)
expect_eq "SenML record" '["urn:dev:mac:70b3d57ed0000d01:","temperature_c","Cel",20.01]' \
    "$(jq -c '[.[0].bn, .[0].n, .[0].u, .[0].v]' <<<"$first")"
stop_sensorbro
log "ok"
