# faults_lib.sh - shared by the fault-injection tests: a live QoS 1 subscriber, the fleet
# simulator under load, and the delivery checks every fault test makes. Sources the
# integration tests' lib.sh (processes, ports, bounded waits).
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

# start_subscriber PORT FILTER: a persistent QoS 1 session (it survives broker restarts
# when the broker persists) that writes every payload to $TEST_TMP/messages.json. It
# reconnects by itself when the broker comes back (mosquitto_sub retries every second).
start_subscriber()
{
    mosquitto_sub -p "$1" -i "$TEST_NAME-sub" -c -q 1 -t "$2" \
        >>"$TEST_TMP/messages.json" 2>>"$TEST_TMP/sub.log" &
    SUB_PID=$!
    STARTED_PIDS+=("$SUB_PID")
}

# start_fleet PORT COUNT RATE SENSORS: the fleet simulator (COUNT 0: until SIGTERM, at most
# 400 s), acknowledged uplinks logged to
# $TEST_TMP/acked.csv. Sets FLEET_PID.
start_fleet()
{
    "$FLEET_SIM_BIN" --host 127.0.0.1 --port "$1" --sensors "$4" --seed 9 \
        --count "$2" --rate "$3" --timeout-ms 1500 --retries 1000 --duration 400 \
        --log-sent "$TEST_TMP/acked.csv" -q 2>"$TEST_TMP/fleet.log" &
    FLEET_PID=$!
    STARTED_PIDS+=("$FLEET_PID")
}

# wait_fleet TIMEOUT_S: waits for the fleet to finish and checks it delivered everything.
wait_fleet()
{
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        kill -0 "$FLEET_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$FLEET_PID" 2>/dev/null && fail "the fleet simulator did not finish within $1 s"
    wait "$FLEET_PID" || fail "fleet-sim reports uplinks not delivered (see fleet.log)"
}

# wait_drained TIMEOUT_S: until the journal has nothing pending.
wait_drained()
{
    wait_until "pending queue drained" "$1" bash -c \
        "'$SENSORBROCTL_BIN' -j '$SB_DIR/sensorbro.db' status --json | jq -e '.pending_frames == 0'"
}

# check_delivery EXPECTED_ACKED DUPLICATE_BOUND: every acknowledged uplink reached the
# broker, first appearances in sequence order per device, duplicates within the bound.
# Sets ACKED, RECEIVED, DISTINCT, DUPLICATES for the report.
check_delivery()
{
    jq -r '[.device, .seq] | @tsv' "$TEST_TMP/messages.json" >"$TEST_TMP/received.tsv"
    tail -n +2 "$TEST_TMP/acked.csv" | awk -F, '{print $1 "\t" $2}' >"$TEST_TMP/acked.tsv"
    ACKED=$(wc -l <"$TEST_TMP/acked.tsv")
    RECEIVED=$(wc -l <"$TEST_TMP/received.tsv")
    DISTINCT=$(sort -u "$TEST_TMP/received.tsv" | wc -l)
    DUPLICATES=$((RECEIVED - DISTINCT))
    expect_eq "uplinks acknowledged to the fleet" "$1" "$ACKED"
    local missing
    missing=$(sort -u "$TEST_TMP/acked.tsv" | comm -23 - <(sort -u "$TEST_TMP/received.tsv"))
    [ -z "$missing" ] || {
        head <<<"$missing" >&2
        fail "$(wc -l <<<"$missing") acknowledged uplinks never reached the broker"
    }
    local disorder
    disorder=$(awk -F'\t' '!seen[$1 FS $2]++ {
            if ($1 in last && $2 + 0 <= last[$1]) { bad++; if (bad <= 5) print "out of order: " $0 > "/dev/stderr" }
            last[$1] = $2 + 0
        } END { print bad + 0 }' "$TEST_TMP/received.tsv")
    expect_eq "uplinks appearing out of order" 0 "$disorder"
    [ "$DUPLICATES" -le "$2" ] || fail "$DUPLICATES duplicates, more than the bound $2"
}

# report NAME KEY VALUE...: prints the figures and writes them to $FAULTS_REPORT_DIR/NAME.txt.
report()
{
    local name=$1 text
    shift
    text=$(printf '%-36s %s\n' "$@")
    echo "$text" >&2
    if [ -n "${FAULTS_REPORT_DIR:-}" ]; then
        mkdir -p "$FAULTS_REPORT_DIR"
        echo "$text" >"$FAULTS_REPORT_DIR/$name.txt"
    fi
}

# seconds_between START END (date +%s.%N values), one decimal.
seconds_between() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b - a}'; }

# check_journal_fds PID DB: prints what is wrong with the journal files process PID holds,
# nothing when all is well. A journal, -wal or -shm file it holds that is "(deleted)", or
# a path whose inode is not the one it has open, means the daemon was detached from its
# journal: it would go on committing where no other process (and no restart) sees it.
check_journal_fds()
{
    local pid=$1 db=$2 fd target fd_inode path_inode bad=""
    for fd in /proc/"$pid"/fd/*; do
        target=$(readlink "$fd" 2>/dev/null) || continue
        case $target in
        "$db"*" (deleted)") bad+="$target; " ;;
        "$db" | "$db-wal" | "$db-shm")
            fd_inode=$(stat -L -c %i "$fd" 2>/dev/null) || continue # closed meanwhile
            path_inode=$(stat -c %i "$target" 2>/dev/null) || path_inode=none
            # the descriptor may have been closed and its number reused between the two
            # looks: only a link that still names the same file counts
            [ "$(readlink "$fd" 2>/dev/null)" = "$target" ] || continue
            [ "$fd_inode" = "$path_inode" ] || bad+="$target replaced; "
            ;;
        esac
    done
    # a process that died during the look (the test's own kill -9) proves nothing
    kill -0 "$pid" 2>/dev/null || return 0
    [ -z "$bad" ] || echo "$bad"
}

# ctl_loop DB SECONDS: a second process working on the journal, as an operator's scripts
# do, until SECONDS passed or $TEST_TMP/ctl.stop exists: reads (status, device list,
# quarantine) and registry writes (add and remove an ABP device). Counts rounds in
# $TEST_TMP/ctl.rounds. Failures of single commands are tolerated (the daemon may be
# restarting, a write may wait for the lock); losing frames is what the test checks.
ctl_loop()
{
    local db=$1 end=$((SECONDS + $2)) rounds=0
    printf 'nwkskey = %s\nappskey = %s\n' 000102030405060708090a0b0c0d0e0f \
        0f0e0d0c0b0a09080706050403020100 >"$TEST_TMP/ctl.keys"
    chmod 600 "$TEST_TMP/ctl.keys"
    while [ "$SECONDS" -lt "$end" ] && [ ! -e "$TEST_TMP/ctl.stop" ]; do
        "$SENSORBROCTL_BIN" -j "$db" status >/dev/null 2>&1 || true
        "$SENSORBROCTL_BIN" -j "$db" device add --dev-eui 70b3d57ed00b0009 --dev-addr 26011BD9 \
            --keys-file "$TEST_TMP/ctl.keys" >/dev/null 2>&1 || true
        "$SENSORBROCTL_BIN" -j "$db" device list >/dev/null 2>&1 || true
        "$SENSORBROCTL_BIN" -j "$db" quarantine >/dev/null 2>&1 || true
        "$SENSORBROCTL_BIN" -j "$db" device remove 70b3d57ed00b0009 >/dev/null 2>&1 || true
        rounds=$((rounds + 1))
        echo "$rounds" >"$TEST_TMP/ctl.rounds"
        sleep 0.1
    done
}
