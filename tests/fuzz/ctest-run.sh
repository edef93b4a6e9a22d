#!/usr/bin/env bash
# ctest-run.sh - one fuzz target's ctest test (label fuzz; tests/fuzz/CMakeLists.txt).
#
#   ctest-run.sh TARGET_BINARY NAME RUNS MAX_LEN
#
# 1. Replays every file of regressions/NAME/ (each a crash this target once found, now
#    fixed) and of corpus/NAME/ (the seeds): a finding in any fails the test.
# 2. Fuzzes for RUNS executions with a fixed seed, from a fresh copy of the seeds (the
#    committed corpus is never written to), with NAME.dict when there is one.
# A crash file goes to $FUZZ_WORK_DIR/NAME/; the output says how to make it a regression.
set -euo pipefail

bin=$1 name=$2 runs=$3 max_len=$4
src=${FUZZ_SOURCE_DIR:?}
work=${FUZZ_WORK_DIR:?}/$name
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"

dict=()
[ -f "$src/$name.dict" ] && dict=(-dict="$src/$name.dict")

common=(-max_len="$max_len" -artifact_prefix="$work/artifacts/" -print_final_stats=1
    -timeout=10 -rss_limit_mb=2048)

replay=()
for dir in "$src/regressions/$name" "$src/corpus/$name"; do
    [ -d "$dir" ] || continue
    while IFS= read -r -d '' f; do replay+=("$f"); done < <(find "$dir" -type f -print0 | sort -z)
done
if [ ${#replay[@]} -gt 0 ]; then
    echo "== $name: replaying ${#replay[@]} regression and seed inputs"
    if ! "$bin" "${common[@]}" "${replay[@]}" >"$work/replay.log" 2>&1; then
        tail -n 60 "$work/replay.log"
        echo "FAIL: a regression or seed input of $name fails (log: $work/replay.log)"
        exit 1
    fi
fi

echo "== $name: fuzzing for $runs executions (seed 1)"
if ! "$bin" "${common[@]}" "${dict[@]}" -seed=1 -runs="$runs" "$work/corpus" \
    "$src/corpus/$name" >"$work/fuzz.log" 2>&1; then
    tail -n 60 "$work/fuzz.log"
    echo "FAIL: $name found something; the input is in $work/artifacts/."
    echo "Fix it, then keep the input as a regression test:"
    echo "  cp $work/artifacts/<file> $src/regressions/$name/<what-it-was>"
    exit 1
fi
grep -E "^#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec" "$work/fuzz.log" || true
