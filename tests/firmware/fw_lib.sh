# fw_lib.sh - what the firmware's end-to-end tests share, on top of the integration tests'
# lib.sh (temp dir, free ports, processes stopped by PID, bounded waits): the test keys,
# the GWMP receiver and the modem simulator.

# shellcheck source=../integration/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

FW_TEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODEM_SIM_BIN=${MODEM_SIM_BIN:-$REPO_DIR/build/tools/modem-sim/sensorbro-modem-sim}
LORAWAN_TOOL=(python3 "$FW_TEST_DIR/lorawan_tool.py")

# A test device's ABP identity (test keys only, used nowhere else).
write_keys()
{
    KEYS=$TEST_TMP/keys
    (umask 077 && cat >"$KEYS") <<'KEYS'
devaddr = 26011BDA
nwkskey = 3C8F262739BFE3B7BC0826991AD0504D
appskey = 2B7E151628AED2A6ABF7158809CF4F3C
KEYS
}

# start_receiver PORT [--downlink AFTER:HEX]...: the network side, capturing to rx.jsonl.
start_receiver()
{
    local port=$1
    shift
    "${LORAWAN_TOOL[@]}" receive --port "$port" --out "$TEST_TMP/rx.jsonl" "$@" \
        >>"$TEST_TMP/receiver.log" 2>&1 &
    STARTED_PIDS+=("$!")
    wait_until "GWMP receiver on port $port" 10 grep -q "listening" "$TEST_TMP/receiver.log"
}

# start_modem_sim SERIAL_SPEC UDP_PORT [options]...: waits until its serial line is up.
start_modem_sim()
{
    local serial=$1 port=$2
    shift 2
    "$MODEM_SIM_BIN" --serial "$serial" --forward "127.0.0.1:$port" --keys "$KEYS" "$@" \
        >>"$TEST_TMP/modem-sim.log" 2>&1 &
    STARTED_PIDS+=("$!")
    wait_until "modem-sim serial line" 10 grep -q "serial line on" "$TEST_TMP/modem-sim.log"
}

# open_frames: MIC-checks and decrypts every captured frame with the openssl command line,
# "<fcnt> <fport> <payload hex>" per line into frames.txt.
open_frames()
{
    "${LORAWAN_TOOL[@]}" open --keys "$KEYS" --in "$TEST_TMP/rx.jsonl" >"$TEST_TMP/frames.txt" ||
        fail "a captured frame failed its MIC check"
}

# decode_uplink HEX: Google's protoc's reading of an Uplink payload.
decode_uplink()
{
    python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$1" | "$PROTOC_BIN" --decode=sensorbro.v1.Uplink -I"$PROTO_DIR" \
        "$PROTO_DIR/sensorbro/v1/telemetry.proto"
}
