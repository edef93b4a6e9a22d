#!/usr/bin/env bash
# The host port and modem-sim on a pty, end to end, in simulated time.
# 1. Half a day of 5-minute samples at speed 5000 (a few seconds): every frame modem-sim
#    sent passes its MIC check and decrypts (openssl CLI), and Google's protoc decodes the
#    uplinks to exactly the readings the simulated sensors gave (check_samples.py).
# 2. Power loss: the node restarts on the same NVM file, is killed with SIGKILL while it
#    runs, and restarts again; the sequence numbers of all uplinks only ever go up.
source "$(dirname "$0")/fw_lib.sh"
NODE_HOST_BIN=${NODE_HOST_BIN:-$REPO_DIR/build/firmware/ports/host/sensorbro-node-host}
SPEED=5000

write_keys
UDP_PORT=$(free_port)
start_receiver "$UDP_PORT"
start_modem_sim "pty:$TEST_TMP/modem" "$UDP_PORT" --speed "$SPEED"

# run_node NAME [options]...: the node in the background; sets NODE_PID.
run_node()
{
    local name=$1
    shift
    "$NODE_HOST_BIN" --modem "$TEST_TMP/modem" --speed "$SPEED" --nvm "$TEST_TMP/nvm.bin" \
        "$@" >>"$TEST_TMP/$name.log" 2>&1 &
    NODE_PID=$!
    STARTED_PIDS+=("$NODE_PID")
}

# same_uplink_resent FIRST SECOND: SECOND (protoc text, age_s removed) carries FIRST's
# header fields and once-per-uplink values, and every repeated series as a prefix of
# FIRST's, all series trimmed by the same number of sets.
same_uplink_resent()
{
    python3 - "$1" "$2" <<'PY'
import sys
def fields(text):
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        out.setdefault(key, []).append(value)
    return out
first, second = fields(sys.argv[1]), fields(sys.argv[2])
if set(first) != set(second):
    sys.exit(1)
trimmed = set()
for key, values in first.items():
    again = second[key]
    if len(values) == 1:
        if again != values:
            sys.exit(1)
        continue
    if len(again) == 0 or again != values[: len(again)]:
        sys.exit(1)
    trimmed.add(len(values) - len(again))
sys.exit(0 if len(trimmed) <= 1 else 1)
PY
}

uplinks_in() { grep -c "uplink seq=" "$TEST_TMP/$1.log" || true; }

# --- 1. half a day ----------------------------------------------------------------------
run_node day --duration-s 43200 --sample-log "$TEST_TMP/samples.log"
wait_until "half a simulated day" 60 bash -c "! kill -0 $NODE_PID"
stop_pid "$NODE_PID"
expect_eq "node exit status" 0 "$STOP_STATUS"
day_uplinks=$(uplinks_in day)
[ "$day_uplinks" -ge 10 ] || fail "only $day_uplinks uplinks in half a day"
wait_until "$day_uplinks frames captured" 10 bash -c \
    "[ \$(wc -l <'$TEST_TMP/rx.jsonl') -ge $day_uplinks ]"
open_frames
head -n "$day_uplinks" "$TEST_TMP/frames.txt" >"$TEST_TMP/day-frames.txt"
python3 "$FW_TEST_DIR/check_samples.py" --proto-dir "$PROTO_DIR" \
    --payloads "$TEST_TMP/day-frames.txt" --samples "$TEST_TMP/samples.log" \
    --min-uplinks "$day_uplinks" || fail "uplinks do not match the sensor readings"
grep -q "boot nvm=blank seq=0" "$TEST_TMP/day.log" || fail "first boot did not see blank NVM"

# --- 2. power loss ----------------------------------------------------------------------
run_node again
wait_until "an uplink after the restart" 30 grep -q "uplink seq=" "$TEST_TMP/again.log"
kill -KILL "$NODE_PID"
wait "$NODE_PID" 2>/dev/null || true
run_node last --uplinks 2
wait_until "the last run's uplinks" 60 bash -c "! kill -0 $NODE_PID"
stop_pid "$NODE_PID"
expect_eq "node exit status" 0 "$STOP_STATUS"

total=$(($(uplinks_in day) + $(uplinks_in again) + $(uplinks_in last)))
wait_until "$total frames captured" 10 bash -c "[ \$(wc -l <'$TEST_TMP/rx.jsonl') -ge $total ]"
open_frames
previous=-1
previous_body=""
while read -r fcnt port hex; do
    text=$(decode_uplink "$hex")
    seq=$(sed -n 's/^seq: //p' <<<"$text")
    seq=${seq:-0}
    body=$(grep -v '^age_s: ' <<<"$text")
    # The same seq twice is only allowed for the same uplink sent again (after a modem
    # timeout the node cannot know whether it went out): the same samples with a later
    # age_s, or, when the grown age_s no longer fits the payload, the same series with
    # their newest sets trimmed (batch_fit_for_send, counted as sets_trimmed). Never
    # other data.
    if [ "$seq" -eq "$previous" ]; then
        same_uplink_resent "$previous_body" "$body" ||
            fail "frame $fcnt: seq $seq reused for other data"
    else
        [ "$seq" -gt "$previous" ] || fail "frame $fcnt: seq $seq after $previous"
    fi
    previous=$seq
    previous_body=$body
done <"$TEST_TMP/frames.txt"
grep -q "boot nvm=ok" "$TEST_TMP/last.log" || fail "the restart did not find its NVM"
log "ok: $total uplinks, seq up to $previous, $(tail -n 1 "$TEST_TMP/day.log")"
