#!/usr/bin/env bash
# firmware-figures.sh - the firmware's figures (issue 3): flash and static RAM of the
# Cortex-M0+ and Cortex-M3 builds split into core, nanopb and port (arm-none-eabi-size for
# the totals, the linker maps for the split), and payload efficiency against Cayenne LPP
# for a simulated day of the host port's sensors. Not a timed test; takes about half a
# minute. Prints a table and writes it to BUILD_DIR/bench/firmware-figures.txt.
#
#   tests/bench/firmware-figures.sh [BUILD_DIR]      (default: build, as tools/build makes it)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(realpath "${1:-build}")
arm=$build/firmware/arm
out=$build/bench/firmware-figures.txt
for f in "$arm/sensorbro-m0plus-size.elf" "$arm/sensorbro-mps2-an385.elf" \
    "$build/firmware/ports/host/sensorbro-node-host" "$build/tools/modem-sim/sensorbro-modem-sim"; do
    [ -e "$f" ] || { echo "firmware-figures: $f missing; build with tools/build -- -DSENSORBRO_BUILD_FIRMWARE=ON" >&2; exit 1; }
done
mkdir -p "$build/bench"
work=$(mktemp -d)
pids=()
cleanup()
{
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# --- a simulated day on the host port -----------------------------------------------------
cat >"$work/keys" <<'KEYS'
devaddr = 26011BDA
nwkskey = 3C8F262739BFE3B7BC0826991AD0504D
appskey = 2B7E151628AED2A6ABF7158809CF4F3C
KEYS
chmod 600 "$work/keys"
port=$("$build/tests/sb-freeport")
python3 tests/firmware/lorawan_tool.py receive --port "$port" --out "$work/rx.jsonl" 2>/dev/null &
pids+=($!)
"$build/tools/modem-sim/sensorbro-modem-sim" --serial "pty:$work/modem" --forward "127.0.0.1:$port" \
    --keys "$work/keys" --speed 10000 2>"$work/modem-sim.log" &
pids+=($!)
for _ in $(seq 100); do [ -e "$work/modem" ] && break; sleep 0.1; done
# The day starts as a node some months into its life does: seq past 127 takes 3 bytes.
timeout 300 "$build/firmware/ports/host/sensorbro-node-host" --modem "$work/modem" --speed 10000 \
    --duration-s 86400 --provision-seq 5000 --nvm "$work/nvm.bin" 2>"$work/node.log"

{
    echo "Sensorbro firmware figures ($(date -u +%Y-%m-%d), $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
    echo
    echo "== arm-none-eabi-size (text = flash, data = flash and RAM, bss = RAM) =="
    (cd "$arm" && arm-none-eabi-size sensorbro-m0plus-size.elf sensorbro-m0plus-size-trace.elf \
        sensorbro-mps2-an385.elf)
    echo "(mps2-an385's data includes the 4 KiB NVM area, which is flash; the split below leaves it out)"
    echo
    echo "== flash and static RAM by component (linker maps) =="
    python3 tests/bench/firmware-figures.py sizes "$arm/sensorbro-m0plus-size.map" \
        "$arm/sensorbro-m0plus-size-trace.map" "$arm/sensorbro-mps2-an385.map"
    echo "Targets (M0+, core + nanopb, no port): at most 12 KiB flash, 2 KiB static RAM."
    echo "(The probe's RAM is the node struct, which holds all of the core's state.)"
    echo
    python3 tests/bench/firmware-figures.py payload proto "$work/node.log"
} | tee "$out"
echo
echo "written to $out"
