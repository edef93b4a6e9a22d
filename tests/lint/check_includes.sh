#!/usr/bin/env bash
# The include checker itself (tools/check-includes) on small trees made here: a sound tree
# passes; a cycle through a .c file (the shape of the old metrics.c cycle), a lower layer
# including a higher one, and a file in no layer each fail with the offending include named
# by file and line.
set -euo pipefail
CHECK=${CHECK_INCLUDES:-$(dirname "$0")/../../tools/check-includes}
TMP=$(mktemp -d /tmp/check_includes.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# sound: util <- model <- store <- ingest <- daemon, includes beside the file and from the root
tree() {
    rm -rf "$TMP/src"
    mkdir -p "$TMP/src/util" "$TMP/src/store" "$TMP/src/ingest" "$TMP/src/lorawan"
    printf '#include <stdio.h>\n' >"$TMP/src/util/log.h"
    printf '#include "util/log.h"\n' >"$TMP/src/util/log.c"
    printf '#include "util/log.h"\n' >"$TMP/src/metrics.h"
    printf '#include "metrics.h"\n#include "sensorbro/v1/generated.pb-c.h"\n' >"$TMP/src/metrics.c"
    printf '#include "metrics.h"\n' >"$TMP/src/store/journal.h"
    printf '#include "store/journal.h"\n' >"$TMP/src/store/journal.c"
    printf '#include "journal.h"\n' >"$TMP/src/store/journal_writer.h"
    printf '#include "lorawan.h"\n' >"$TMP/src/lorawan/lorawan.c"
    printf '\n' >"$TMP/src/lorawan/lorawan.h"
    printf '#include "store/journal_writer.h"\n' >"$TMP/src/ingest/coap.h"
    printf '#include "ingest/coap.h"\n#include "metrics.h"\n' >"$TMP/src/main.c"
}

run() {
    set +e
    python3 "$CHECK" "$TMP/src" >"$TMP/out" 2>&1
    status=$?
    set -e
}

tree
run
[ "$status" -eq 0 ] || fail "a sound tree fails: $(cat "$TMP/out")"
grep -q "no cycle" "$TMP/out" || fail "no summary: $(cat "$TMP/out")"

# metrics.c naming an ingest module: a cycle through journal.h -> metrics.h, and a layer
tree
printf '#include "metrics.h"\n#include "ingest/coap.h"\n' >"$TMP/src/metrics.c"
run
[ "$status" -eq 1 ] || fail "the metrics cycle passes: $(cat "$TMP/out")"
grep -q '^cycle of 4 modules (ingest/coap metrics store/journal store/journal_writer)' "$TMP/out" || fail "cycle not reported: $(cat "$TMP/out")"
grep -q 'metrics.c:2 includes "ingest/coap.h"' "$TMP/out" || fail "chain lacks metrics.c:2: $(cat "$TMP/out")"
grep -q 'store/journal_writer.h:1 includes "journal.h"' "$TMP/out" ||
    fail "chain lacks the relative include: $(cat "$TMP/out")"
grep -q '^layer: metrics.c:2 includes "ingest/coap.h": metrics (model) -> ingest/coap (ingest)' \
    "$TMP/out" || fail "layer not reported: $(cat "$TMP/out")"

# a cycle within one layer is still a cycle
tree
printf '#include "store/journal_writer.h"\n' >>"$TMP/src/store/journal.c"
printf '#include "store/journal.h"\n' >"$TMP/src/store/journal_writer.c"
printf '#include "journal_writer.h"\n' >"$TMP/src/store/journal.h"
run
[ "$status" -eq 1 ] || fail "a same-layer cycle passes: $(cat "$TMP/out")"
grep -q '^cycle of 2 modules (store/journal store/journal_writer)' "$TMP/out" ||
    fail "same-layer cycle not reported: $(cat "$TMP/out")"

# util including the store: a layer broken without a cycle
tree
printf '#include <time.h>\n#include "store/journal.h"\n' >"$TMP/src/util/clock.c"
run
[ "$status" -eq 1 ] || fail "util including store passes: $(cat "$TMP/out")"
grep -q '^layer: util/clock.c:2 includes "store/journal.h": util/clock (util) -> store/journal (store)' \
    "$TMP/out" || fail "layer not reported: $(cat "$TMP/out")"
! grep -q '^cycle' "$TMP/out" || fail "a cycle reported where there is none: $(cat "$TMP/out")"

# a file the table does not place
tree
printf '\n' >"$TMP/src/stray.c"
run
[ "$status" -eq 1 ] || fail "an unplaced file passes: $(cat "$TMP/out")"
grep -q '^unplaced: stray.c' "$TMP/out" || fail "unplaced not reported: $(cat "$TMP/out")"

echo "ok"
