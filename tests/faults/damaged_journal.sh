#!/usr/bin/env bash
# Damaged journal: garbage written into the middle of the database file. sensorbro refuses
# to start with a clear message naming the recovery command; `sensorbroctl journal check`
# reports the damage; `sensorbroctl journal recover` copies the readable frames into a new
# journal without touching the original; sensorbro then runs on it and publishes them.
source "$(dirname "$0")/faults_lib.sh"

UPLINKS=3000
MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
SB_ARGS=(--set gateway.id=gw-dj --set mqtt.port="$MQTT_PORT" --set coap.port="$COAP_PORT"
    --set coap.bind=127.0.0.1 --set mqtt.reconnect_min_ms=100 --set mqtt.reconnect_max_ms=500)

# Broker down: every frame stays pending in the journal.
start_sensorbro gw "${SB_ARGS[@]}"
start_fleet "$COAP_PORT" "$UPLINKS" 3000 20
wait_fleet 60
stop_sensorbro
db=$SB_DIR/sensorbro.db
[ ! -s "$db-wal" ] || fail "the WAL was not checkpointed at a clean stop"
size=$(stat -c %s "$db")
pages=$((size / 4096))
[ "$pages" -gt 40 ] || fail "journal too small to damage in the middle ($pages pages)"

# 8 pages of garbage a third of the way in: some frames are lost, most are not.
dd if=/dev/urandom of="$db" bs=4096 seek=$((pages / 3)) count=8 conv=notrunc status=none
before=$(sha256sum <"$db")

if (cd "$SB_DIR" && timeout 20 "$SENSORBRO_BIN" "${SB_ARGS[@]}" "${ROOT_KEEP_ARGS[@]}" "${HTTP_ARGS[@]}" "${COAP_ARGS[@]}") >"$TEST_TMP/refused.log" 2>&1; then
    fail "sensorbro started on a damaged journal"
fi
grep -q "journal is damaged" "$TEST_TMP/refused.log" ||
    fail "no clear refusal: $(cat "$TEST_TMP/refused.log")"
grep -q "sensorbroctl -j .* journal recover" "$TEST_TMP/refused.log" ||
    fail "the refusal does not name the recovery command"

if "$SENSORBROCTL_BIN" -j "$db" journal check >"$TEST_TMP/check.txt" 2>&1; then
    fail "journal check calls the damaged journal ok"
fi
"$SENSORBROCTL_BIN" -j "$db" journal recover >"$TEST_TMP/recover.txt" 2>&1 ||
    fail "journal recover failed: $(cat "$TEST_TMP/recover.txt")"
cat "$TEST_TMP/recover.txt" >&2
expect_eq "original unchanged by recover" "$before" "$(sha256sum <"$db")"
"$SENSORBROCTL_BIN" -j "$db.recovered" journal check >/dev/null ||
    fail "the recovered journal does not pass integrity_check"
recovered=$("$SENSORBROCTL_BIN" -j "$db.recovered" status --json | jq .pending_frames)
log "$recovered of $UPLINKS pending frames recovered"
[ "$recovered" -ge $((UPLINKS * 3 / 4)) ] || fail "only $recovered of $UPLINKS frames recovered"
[ "$recovered" -lt "$UPLINKS" ] || fail "all $UPLINKS frames recovered: was the file really damaged?"

# Recovered frames are ones that were acknowledged, untouched.
mv "$db" "$db.damaged"
mv "$db.recovered" "$db"
start_mosquitto "$MQTT_PORT"
start_subscriber "$MQTT_PORT" 'sensorbro/gw-dj/+/up'
start_sensorbro gw "${SB_ARGS[@]}"
wait_drained 60
wait_until "subscriber has the recovered frames" 30 bash -c \
    "[ \$(wc -l <'$TEST_TMP/messages.json') -ge $recovered ]"
stop_sensorbro
jq -r '[.device, .seq] | @tsv' "$TEST_TMP/messages.json" | sort -u >"$TEST_TMP/received.tsv"
tail -n +2 "$TEST_TMP/acked.csv" | awk -F, '{print $1 "\t" $2}' | sort -u >"$TEST_TMP/acked.tsv"
expect_eq "published frames that were never acknowledged" 0 \
    "$(comm -23 "$TEST_TMP/received.tsv" "$TEST_TMP/acked.tsv" | wc -l)"
expect_eq "frames published after recovery" "$recovered" "$(wc -l <"$TEST_TMP/received.tsv")"
report damaged_journal \
    "frames in the journal" "$UPLINKS" \
    "pages overwritten" "8 of $pages" \
    "frames recovered" "$recovered" \
    "published after recovery" "$(wc -l <"$TEST_TMP/received.tsv")"
log "ok"
