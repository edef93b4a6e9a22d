#!/usr/bin/env bash
# firmware/core is freestanding C: the only system headers it may include are string.h,
# stdint.h, stdbool.h and stddef.h (no heap, no stdio), and it never calls malloc or printf.
# (The Arm builds compile it with -ffreestanding and link it without start files; this
# keeps a host-only header from slipping in where the host build would not notice.)
set -euo pipefail
core=$(cd "$(dirname "$0")/../../firmware/core" && pwd)
bad=$(grep -Hn '#include <' "$core"/*.[ch] |
    grep -vE '#include <(string|stdint|stdbool|stddef)\.h>' || true)
[ -z "$bad" ] || { echo "core_freestanding: not allowed in firmware/core:"; echo "$bad"; exit 1; }
calls=$(grep -HnE '\b(malloc|calloc|realloc|free|printf|sprintf|snprintf|fopen|puts)\(' \
    "$core"/*.[ch] || true)
[ -z "$calls" ] || { echo "core_freestanding: hosted calls in firmware/core:"; echo "$calls"; exit 1; }
echo "core_freestanding: $(ls "$core"/*.[ch] | wc -l) files, system headers: $(
    grep -ho '#include <[a-z]*\.h>' "$core"/*.[ch] | sort -u | tr '\n' ' ')"
