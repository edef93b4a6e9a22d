#!/usr/bin/env bash
# gateway-throughput.sh - how fast the gateway takes in, stores and publishes uplinks, on
# this machine, with real processes: the fleet simulator posting over CoAP, sensorbro with
# its default durability (synchronous=full, group commit), a local Mosquitto.
#
#   tests/bench/gateway-throughput.sh [BUILD_DIR]     (default: build)
#
# Prints a table and writes it to BUILD_DIR/bench/gateway-throughput.txt. Run by hand; not
# part of ctest (timings are not asserted anywhere).
#   ingest       uplinks/s acknowledged with 2.04 (each durable in the journal), latency
#                from first transmission to 2.04, kernel drops, frames per transaction
#   end to end   from the first post to the last PUBACK: uplinks/s through the whole path
#   growing      the same ingest run four times on one journal (retained frames pile up)
#   drain        broker down while frames are posted, then up: backlog published per second
set -euo pipefail
BUILD_DIR=$(cd "${1:-build}" && pwd)
export SENSORBRO_BIN=$BUILD_DIR/gateway/sensorbro
export SENSORBROCTL_BIN=$BUILD_DIR/tools/sensorbroctl/sensorbroctl
export FLEET_SIM_BIN=$BUILD_DIR/tools/fleet-sim/sensorbro-fleet-sim
export FREEPORT_BIN=$BUILD_DIR/tests/sb-freeport
source "$(dirname "$0")/../integration/lib.sh"

OUT_DIR=$BUILD_DIR/bench
mkdir -p "$OUT_DIR"
RESULTS=$TEST_TMP/results.txt
: >"$RESULTS"
N=${BENCH_UPLINKS:-50000}

row() { printf '%-28s %s\n' "$1" "$2" | tee -a "$RESULTS" >&2; }

pending() { "$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status --json | jq .pending_frames; }

# run_sim LABEL SENSORS COUNT: one simulator run; records rate and latency.
run_sim()
{
    local label=$1 sensors=$2 count=$3 summary=$TEST_TMP/sim-$RANDOM.txt
    "$FLEET_SIM_BIN" --port "$COAP_PORT" --sensors "$sensors" --rate 0 --count "$count" \
        --quiet --seed 7 2>"$summary" || fail "$label: the simulator did not deliver every uplink"
    local rate latency
    rate=$(sed -nE 's/.*achieved rate +[0-9.]+ uplinks\/s sent, ([0-9.]+)\/s delivered.*/\1/p' "$summary")
    latency=$(sed -nE 's/.*latency to 2.04 \(ms\) (p50 [0-9.]+) +p90 [0-9.]+ +(p99 [0-9.]+) +(max [0-9.]+).*/\1 \2 \3/p' "$summary")
    row "$label" "$rate uplinks/s acknowledged; latency ms: $latency"
}

# wait_drained TIMEOUT_S: waits until nothing is pending (polled every 0.1 s).
wait_drained()
{
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        [ "$(pending)" -eq 0 ] && return 0
        sleep 0.1
    done
    fail "still $(pending) frames pending after $1 s"
}

# final_metric NAME: one of the counters the last sensorbro left in its journal at its clean
# stop (sensorbroctl status --json).
final_metric()
{
    "$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status --json |
        jq --arg name "$1" '.sensorbro.metrics[$name] // 0'
}

log "machine: $(nproc) cores, $(uname -r); $N uplinks per run"
MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
start_mosquitto "$MQTT_PORT"

# 1. ingest and end to end, 50 and 200 sensors, fresh journal each
for sensors in 50 200; do
    start_sensorbro "gw$sensors" --set mqtt.port="$MQTT_PORT" --set coap.port="$COAP_PORT" \
        --set coap.bind=127.0.0.1
    wait_until "connected" 10 grep -q "mqtt: connected" "$TEST_TMP/gw$sensors.log"
    start_ns=$(date +%s%N)
    run_sim "ingest, $sensors sensors" "$sensors" "$N"
    wait_drained 120
    end_ns=$(date +%s%N)
    row "end to end, $sensors sensors" "$((N * 1000000000 / (end_ns - start_ns))) uplinks/s posted, stored and PUBACKed"
    stop_sensorbro
    frames=$(final_metric sensorbro_frames_committed_total)
    transactions=$(final_metric sensorbro_journal_transactions_total)
    drops=$(final_metric sensorbro_coap_kernel_drops_total)
    row "  group commit, $sensors sensors" "$((frames / (transactions > 0 ? transactions : 1))) frames per transaction ($transactions transactions); kernel drops $drops"
done

# 2. one journal growing: four runs back to back
start_sensorbro growing --set mqtt.port="$MQTT_PORT" --set coap.port="$COAP_PORT" \
    --set coap.bind=127.0.0.1
wait_until "connected" 10 grep -q "mqtt: connected" "$TEST_TMP/growing.log"
for run in 1 2 3 4; do
    run_sim "growing journal, run $run" 50 "$N"
done
wait_drained 120
row "  journal after 4 runs" "$(du -sh "$SB_DIR" | cut -f1) on disk ($((4 * N)) frames retained)"
stop_sensorbro

# 3. backlog drain after an outage
start_sensorbro drain --set mqtt.port="$MQTT_PORT" --set coap.port="$COAP_PORT" \
    --set coap.bind=127.0.0.1 --set mqtt.reconnect_min_ms=100 --set mqtt.reconnect_max_ms=500
wait_until "connected" 10 grep -q "mqtt: connected" "$TEST_TMP/drain.log"
stop_mosquitto
run_sim "ingest, broker down" 50 "$N"
start_mosquitto "$MQTT_PORT"
start_ns=$(date +%s%N)
wait_drained 300
end_ns=$(date +%s%N)
row "drain after the outage" "$((N * 1000000000 / (end_ns - start_ns))) messages/s published from the backlog of $N"
stop_sensorbro

{
    echo "sensorbro gateway throughput, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $N uplinks per run"
    echo "command: tests/bench/gateway-throughput.sh $BUILD_DIR"
    cat "$RESULTS"
} >"$OUT_DIR/gateway-throughput.txt"
log "written to $OUT_DIR/gateway-throughput.txt"
