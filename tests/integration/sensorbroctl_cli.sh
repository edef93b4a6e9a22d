#!/usr/bin/env bash
# sensorbroctl's command line: every command and subcommand answers --help and -h with its
# own usage and exit status 0 and does nothing else (no journal created, no stdin read, no
# connection, the configuration not even read), also with arguments before --help;
# `help [COMMAND]` says the same; --version; an unknown option or command names itself.
# Then `watch --count N` against a real broker and daemon: N readings, the retained status
# message shown but not counted. And sensorbro --help fits 80 columns.
source "$(dirname "$0")/lib.sh"

EMPTY=$TEST_TMP/empty
mkdir -p "$EMPTY"
J=$EMPTY/sensorbro.db
# ctl ARGS...: in the empty directory, with a journal path there, a configuration file that
# does not exist (help must not read it) and nothing on stdin; out.txt, err.txt, STATUS.
ctl()
{
    STATUS=0
    (cd "$EMPTY" && timeout 10 "$SENSORBROCTL_BIN" -j "$J" "$@" </dev/null) \
        >"$TEST_TMP/out.txt" 2>"$TEST_TMP/err.txt" || STATUS=$?
}
expect_nothing_done()
{
    expect_eq "$1: files created" "" "$(ls -A "$EMPTY")"
}

# Every command the overview lists, and no other: a new command cannot miss this test.
COMMANDS=("decode" "status" "quarantine" "watch" "journal check" "journal recover"
    "device add" "device list" "device show" "device set" "device unset" "device remove"
    "device downlink" "os2iot export" "os2iot import" "help")
"$SENSORBROCTL_BIN" help >"$TEST_TMP/overview.txt" || fail "help exited $?"
expect_eq "commands in the overview" "$(printf '%s\n' "${COMMANDS[@]}")" \
    "$(sed -nE 's/^  ([a-z0-9]+( [a-z]+)?)( [-[A-Z(].*)?$/\1/p' "$TEST_TMP/overview.txt")"

for command in "${COMMANDS[@]}"; do
    read -r -a words <<<"$command"
    for flag in --help -h; do
        ctl -c /nonexistent.ini "${words[@]}" "$flag"
        expect_eq "$command $flag: exit status" 0 "$STATUS"
        expect_eq "$command $flag: usage line" "usage: sensorbroctl [OPTIONS] $command" \
            "$(head -n 1 "$TEST_TMP/out.txt" | cut -c1-$((30 + ${#command})))"
        expect_eq "$command $flag: stderr" "" "$(cat "$TEST_TMP/err.txt")"
        expect_nothing_done "$command $flag"
    done
    cp "$TEST_TMP/out.txt" "$TEST_TMP/flag.txt"
    "$SENSORBROCTL_BIN" help "${words[@]}" >"$TEST_TMP/help.txt" || fail "help $command exited $?"
    cmp -s "$TEST_TMP/flag.txt" "$TEST_TMP/help.txt" || fail "help $command differs from $command --help"
    awk -v c="$command" 'length > 80 { print "help of " c " wider than 80 columns: " $0; bad = 1 }
        END { exit bad }' "$TEST_TMP/help.txt" >&2 || fail "help of $command too wide"
done

# Arguments before --help change nothing: it is still help, and nothing is done.
ctl device add --dev-eui 70B3D57ED0000001 --dev-addr 26011BDA --help
expect_eq "device add ... --help" 0 "$STATUS"
expect_nothing_done "device add ... --help"
ctl device show 70b3d57ed0000001 --help
expect_eq "device show EUI --help" 0 "$STATUS"
ctl device downlink 70b3d57ed0000001 0102 --port 3 -h
expect_eq "device downlink ... -h" 0 "$STATUS"
ctl journal recover --output "$EMPTY/x.db" --help
expect_eq "journal recover --output ... --help" 0 "$STATUS"
expect_nothing_done "argument before --help"
# The groups list their subcommands.
for group in device journal; do
    for how in "$group --help" "$group -h" "help $group"; do
        read -r -a words <<<"$how"
        ctl "${words[@]}"
        expect_eq "$how: exit status" 0 "$STATUS"
        expect_eq "$how: usage line" "usage: sensorbroctl [OPTIONS] $group SUBCOMMAND ..." \
            "$(head -n 1 "$TEST_TMP/out.txt")"
    done
done
ctl --help
expect_eq "--help" 0 "$STATUS"
cmp -s "$TEST_TMP/out.txt" "$TEST_TMP/overview.txt" || fail "--help differs from help"
ctl --version
expect_eq "--version" 0 "$STATUS"
grep -qxE "sensorbroctl [0-9]+\.[0-9]+\.[0-9]+" "$TEST_TMP/out.txt" || fail "--version: $(cat "$TEST_TMP/out.txt")"
expect_nothing_done "help and version"

# Errors name what was wrong, exit 2, and do nothing either.
ctl status --bogus
expect_eq "unknown option: exit status" 2 "$STATUS"
expect_eq "unknown option" "sensorbroctl status: unknown option --bogus; see: sensorbroctl status --help" \
    "$(cat "$TEST_TMP/err.txt")"
ctl decode -px
expect_eq "unknown short option" "sensorbroctl decode: unknown option -x; see: sensorbroctl decode --help" \
    "$(cat "$TEST_TMP/err.txt")"
ctl watch --count
expect_eq "missing value" "sensorbroctl watch: missing the value of --count; see: sensorbroctl watch --help" \
    "$(cat "$TEST_TMP/err.txt")"
ctl device show --json 70b3d57ed0000001
expect_eq "option of another command" "sensorbroctl device show: unknown option --json; see: sensorbroctl device show --help" \
    "$(cat "$TEST_TMP/err.txt")"
ctl device frob
expect_eq "unknown subcommand: exit status" 2 "$STATUS"
grep -q 'sensorbroctl device: unknown subcommand "frob" (add, list, show, set, unset, remove, downlink)' \
    "$TEST_TMP/err.txt" || fail "unknown subcommand: $(cat "$TEST_TMP/err.txt")"
ctl frob
expect_eq "unknown command: exit status" 2 "$STATUS"
grep -q 'sensorbroctl: unknown command "frob" (decode, status, quarantine, watch, journal, device, os2iot, help)' \
    "$TEST_TMP/err.txt" || fail "unknown command: $(cat "$TEST_TMP/err.txt")"
ctl --frob status
expect_eq "unknown global option" "sensorbroctl: unknown option --frob; see: sensorbroctl --help" \
    "$(cat "$TEST_TMP/err.txt")"
expect_nothing_done "errors"

# sensorbro's own --help: 80 columns, no sentence broken in the middle.
"$SENSORBRO_BIN" --help >"$TEST_TMP/sensorbro-help.txt" || fail "sensorbro --help exited $?"
awk 'length > 80 { print "sensorbro --help wider than 80 columns: " $0; bad = 1 } END { exit bad }' \
    "$TEST_TMP/sensorbro-help.txt" >&2 || fail "sensorbro --help too wide"
grep -q "^journal before acknowledging it, and publishes it as JSON over MQTT.$" \
    "$TEST_TMP/sensorbro-help.txt" || fail "sensorbro --help: the description is broken up"

# watch --count 2: two readings, whatever the retained status message does.
MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
start_mosquitto "$MQTT_PORT"
start_sensorbro gw --set gateway.id=gw-watch --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1
wait_until "sensorbro connected" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"
wait_until "the retained online" 10 bash -c \
    "[ \"\$(mosquitto_sub -p $MQTT_PORT -t sensorbro/gw-watch/status -C 1 -W 1)\" = online ]"
"$SENSORBROCTL_BIN" --set gateway.id=gw-watch --set mqtt.host=127.0.0.1 \
    --set mqtt.port="$MQTT_PORT" watch --count 2 --duration 30 \
    >"$TEST_TMP/watch.txt" 2>"$TEST_TMP/watch.err" &
WATCH_PID=$!
STARTED_PIDS+=("$WATCH_PID")
wait_until "watch subscribed" 10 grep -q "^watching sensorbro/gw-watch/+/up and sensorbro/gw-watch/status on" \
    "$TEST_TMP/watch.err"
wait_until "the status shown" 10 grep -q "sensorbro/gw-watch/status  online$" "$TEST_TMP/watch.txt"
# Counting the status message as a reading, watch would stop before the second reading.
for seq in 1 2; do
    encode_uplink "seq: $seq interval_s: 60 co2: [$((700 + seq))]" "$TEST_TMP/f$seq.bin"
    expect_eq "frame $seq" 2.04 "$(coap_post "$COAP_PORT" /up/00000000000000c1 "$TEST_TMP/f$seq.bin")"
    wait_until "reading $seq shown" 10 grep -q "seq $seq " "$TEST_TMP/watch.txt"
done
# and after the second it stops by itself, long before --duration
for ((i = 0; i < 50; i++)); do kill -0 "$WATCH_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$WATCH_PID" 2>/dev/null && fail "watch --count 2 still runs after 2 readings"
WATCH_STATUS=0
wait "$WATCH_PID" || WATCH_STATUS=$?
expect_eq "watch exit status" 0 "$WATCH_STATUS"
expect_eq "readings shown by watch --count 2" "1 2" \
    "$(sed -nE 's/.*  00000000000000c1  seq ([0-9]+) .*/\1/p' "$TEST_TMP/watch.txt" | paste -sd' ')"
expect_eq "status lines shown" 1 "$(grep -c "status  online$" "$TEST_TMP/watch.txt")"
stop_sensorbro
log "ok"
