#!/usr/bin/env bash
# check_deb.sh - builds the Debian packages with CPack from this build tree and checks them
# without installing anything (ctest label `package`; seconds):
#   - the files of each package, their modes and owners; no test helper, simulator or
#     firmware in the main package;
#   - the control data: the conffile, the maintainer scripts, and Depends computed by
#     dpkg-shlibdeps, compared with the libraries the binaries really load (readelf NEEDED,
#     owned by which Debian package: dpkg -S), so a library missing from Depends fails;
#   - the unit: `systemd-analyze verify` with no complaint at all, its security exposure
#     score (offline) at most SCORE_LIMIT, and agreement with the other files (user,
#     state directory, config path, binary);
#   - the man pages: rendered by groff and man with warnings on, and no option, command or
#     configuration key of the programs missing from them;
#   - the default configuration: every key there, with the program's own default.
# The installation itself is tests/package/install_chroot.sh (label package-install).
source "$(dirname "$0")/../integration/lib.sh"

BUILD_DIR=${BUILD_DIR:?BUILD_DIR: the build tree holding CPackConfig.cmake}
VERSION=${SENSORBRO_VERSION:?SENSORBRO_VERSION}
SCORE_LIMIT=2.0 # systemd-analyze security: 0 is best, 10 worst; 1.1 when this was written

OUT=$TEST_TMP/out
cpack --config "$BUILD_DIR/CPackConfig.cmake" -B "$OUT" >"$TEST_TMP/cpack.log" 2>&1 ||
    { cat "$TEST_TMP/cpack.log" >&2; fail "cpack failed"; }
MAIN=$(ls "$OUT"/sensorbro_"$VERSION"-*_*.deb)
TOOLS=$(ls "$OUT"/sensorbro-tools_"$VERSION"-*_*.deb)
log "built $(basename "$MAIN") ($(stat -c %s "$MAIN") bytes) and $(basename "$TOOLS")"

# --- files ---------------------------------------------------------------------------
# "mode owner path" of every regular file, as dpkg will install it
files_of() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ { print $1, $2, $6 }' | sort -k3; }
files_of "$MAIN" >"$TEST_TMP/main.files"
cat >"$TEST_TMP/main.expected" <<'EOF'
-rw-r----- root/root ./etc/sensorbro/sensorbro.ini
-rw-r--r-- root/root ./lib/systemd/system/sensorbro.service
-rwxr-xr-x root/root ./usr/bin/sensorbroctl
-rw-r--r-- root/root ./usr/lib/sysusers.d/sensorbro.conf
-rw-r--r-- root/root ./usr/lib/tmpfiles.d/sensorbro.conf
-rwxr-xr-x root/root ./usr/sbin/sensorbro
-rw-r--r-- root/root ./usr/share/doc/sensorbro/configuration.md
-rw-r--r-- root/root ./usr/share/doc/sensorbro/operations.md
-rw-r--r-- root/root ./usr/share/man/man5/sensorbro.ini.5.gz
-rw-r--r-- root/root ./usr/share/man/man8/sensorbro.8.gz
-rw-r--r-- root/root ./usr/share/man/man8/sensorbroctl.8.gz
EOF
diff -u "$TEST_TMP/main.expected" "$TEST_TMP/main.files" >&2 ||
    fail "the files of $(basename "$MAIN") differ from the list above (- expected, + built)"
files_of "$TOOLS" >"$TEST_TMP/tools.files"
cat >"$TEST_TMP/tools.expected" <<'EOF'
-rwxr-xr-x root/root ./usr/bin/sensorbro-fleet-sim
-rwxr-xr-x root/root ./usr/bin/sensorbro-modem-sim
EOF
diff -u "$TEST_TMP/tools.expected" "$TEST_TMP/tools.files" >&2 ||
    fail "the files of $(basename "$TOOLS") differ from the list above"

ROOT=$TEST_TMP/root
dpkg-deb -x "$MAIN" "$ROOT"
for bin in usr/sbin/sensorbro usr/bin/sensorbroctl; do
    file_out=$(readelf -S "$ROOT/$bin" | grep -c '\.debug_' || true)
    expect_eq "debug sections in $bin (CPack strips)" 0 "$file_out"
done

# --- control data ----------------------------------------------------------------------
CTRL=$TEST_TMP/control
dpkg-deb -e "$MAIN" "$CTRL"
expect_eq "conffiles" "/etc/sensorbro/sensorbro.ini" "$(cat "$CTRL/conffiles")"
for script in postinst prerm postrm; do
    [ -x "$CTRL/$script" ] || fail "$script missing or not executable"
    sh -n "$CTRL/$script" || fail "$script: shell syntax"
done
grep -q 'systemd-sysusers .*sensorbro.conf' "$CTRL/postinst" || fail "postinst runs no systemd-sysusers"
grep -q 'systemd-tmpfiles .*--create sensorbro.conf' "$CTRL/postinst" || fail "postinst runs no systemd-tmpfiles"
grep -q 'deb-systemd-helper enable sensorbro.service' "$CTRL/postinst" || fail "postinst enables nothing"
grep -q 'deb-systemd-helper purge sensorbro.service' "$CTRL/postrm" || fail "postrm purges no unit state"

depends=$(dpkg-deb -f "$MAIN" Depends)
log "Depends: $depends"
tr ',' '\n' <<<"$depends" | sed 's/^ *//' >"$TEST_TMP/depends"
for alt in "systemd | systemd-sysusers" "systemd | systemd-tmpfiles"; do
    grep -qxF "$alt" "$TEST_TMP/depends" || fail "Depends lacks '$alt' (postinst runs it)"
done
# Library packages in Depends, and those owning what the binaries load.
grep -v '|' "$TEST_TMP/depends" | sed 's/ .*//' | sort -u >"$TEST_TMP/depends.libs"
for bin in usr/sbin/sensorbro usr/bin/sensorbroctl; do
    readelf -d "$ROOT/$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
done | sort -u | while read -r soname; do
    # (awk reads all of ldconfig's output: exiting early would make it die of SIGPIPE)
    path=$(ldconfig -p | awk -v s="$soname" '$1 == s && !found++ { print $NF }')
    [ -n "$path" ] || fail "cannot find $soname"
    # dpkg knows a file by the path its package installed (/lib or /usr/lib)
    pkg=$(dpkg -S "$path" 2>/dev/null | grep -v '^diversion' | head -n 1 | cut -d: -f1) || true
    [ -n "$pkg" ] || pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | grep -v '^diversion' |
        head -n 1 | cut -d: -f1) || true
    [ -n "$pkg" ] || fail "no package owns $path ($soname)"
    echo "$pkg"
done | sort -u >"$TEST_TMP/needed.libs"
diff -u "$TEST_TMP/needed.libs" "$TEST_TMP/depends.libs" >&2 ||
    fail "Depends does not name exactly the packages of the libraries the binaries load (- loaded, + in Depends)"
for lib in libpaho-mqtt1.3 libsqlite3-0 libcoap3 libsystemd0 libinih1 libprotobuf-c1 libcjson1 libcsv3 libssl3; do
    grep -qx "$lib" "$TEST_TMP/depends.libs" || fail "Depends lacks $lib"
done
grep -q '^libcoap3 (>= ' "$TEST_TMP/depends" || fail "no computed version bound in Depends: $depends"

# --- the unit --------------------------------------------------------------------------
UNIT=$ROOT/lib/systemd/system/sensorbro.service
unit_value() { sed -n "s/^$1=//p" "$UNIT" | tail -n 1; }
expect_eq "ExecStart" "/usr/sbin/sensorbro -c /etc/sensorbro/sensorbro.ini" "$(unit_value ExecStart)"
expect_eq "Type" "notify" "$(unit_value Type)"
expect_eq "User= is the sysusers.d user" "$(awk '$1 == "u" { print $2 }' "$ROOT/usr/lib/sysusers.d/sensorbro.conf")" "$(unit_value User)"
state_dir=$(awk '$1 == "d" { print $2 }' "$ROOT/usr/lib/tmpfiles.d/sensorbro.conf")
expect_eq "ReadWritePaths= is the tmpfiles.d directory" "$state_dir" "$(unit_value ReadWritePaths)"
expect_eq "StateDirectory=" "$state_dir" "/var/lib/$(unit_value StateDirectory)"
expect_eq "StateDirectoryMode= and tmpfiles.d agree" \
    "$(awk '$1 == "d" { print $3 }' "$ROOT/usr/lib/tmpfiles.d/sensorbro.conf")" "$(unit_value StateDirectoryMode)"
journal_path=$("$SENSORBRO_BIN" -c "$ROOT/etc/sensorbro/sensorbro.ini" --print-config | sed -n 's/^path = //p')
expect_eq "the packaged journal.path lies in the state directory" "$state_dir" "$(dirname "$journal_path")"

# systemd-analyze verify checks ExecStart's binary on this system: point it at the
# extracted one, and let man find the extracted pages (Documentation=). verify exits 0
# even for unknown keys, so any output at all fails.
mkdir -p "$TEST_TMP/unit"
sed "s|^ExecStart=/usr/sbin/sensorbro|ExecStart=$ROOT/usr/sbin/sensorbro|" "$UNIT" \
    >"$TEST_TMP/unit/sensorbro.service"
verify_out=$(MANPATH=$ROOT/usr/share/man systemd-analyze verify "$TEST_TMP/unit/sensorbro.service" 2>&1) ||
    fail "systemd-analyze verify failed: $verify_out"
[ -z "$verify_out" ] || fail "systemd-analyze verify complains: $verify_out"
score_line=$(systemd-analyze security --offline=yes "$UNIT" 2>&1 | grep 'Overall exposure level') ||
    fail "systemd-analyze security --offline gave no score"
score=$(sed -E 's/.*: ([0-9.]+) .*/\1/' <<<"$score_line")
log "systemd-analyze security: $score_line"
awk -v s="$score" -v l="$SCORE_LIMIT" 'BEGIN { exit !(s <= l) }' ||
    fail "exposure score $score is above $SCORE_LIMIT: a hardening setting was lost"

# --- man pages -------------------------------------------------------------------------
MAN=$TEST_TMP/man
mkdir -p "$MAN"
for page in man8/sensorbro.8 man8/sensorbroctl.8 man5/sensorbro.ini.5; do
    name=$(basename "$page")
    zcat "$ROOT/usr/share/man/$page.gz" >"$MAN/$name"
    warnings=$(groff -man -ww -z "$MAN/$name" 2>&1)
    [ -z "$warnings" ] || fail "groff -ww on $name: $warnings"
    warnings=$(man --warnings -l "$MAN/$name" 2>&1 >/dev/null)
    [ -z "$warnings" ] || fail "man --warnings -l $name: $warnings"
    # wide lines, no hyphenation: every word stays whole for the checks below
    groff -man -Tascii -P-cbou -rLL=300n -rHY=0 "$MAN/$name" 2>/dev/null >"$MAN/$name.txt"
    grep -q "sensorbro $VERSION" "$MAN/$name.txt" || fail "$name does not carry version $VERSION"
done
for opt in $("$SENSORBRO_BIN" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    grep -qF -- "$opt" "$MAN/sensorbro.8.txt" || fail "sensorbro.8 does not describe $opt"
done
for opt in $("$SENSORBROCTL_BIN" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
    grep -qF -- "$opt" "$MAN/sensorbroctl.8.txt" || fail "sensorbroctl.8 does not describe $opt"
done
# commands: the leading lower-case words of each usage line and of each "|" alternative
"$SENSORBROCTL_BIN" --help | sed -n '/^commands:/,/^options:/p' | grep -E '^  [a-z]' |
    tr '|' '\n' | sed -E 's/^ +//; s/^(([a-z]+ ?)+).*/\1/; s/ +$//' | grep -E '^[a-z]' | sort -u |
    while read -r command; do
        grep -qF -- "$command" "$MAN/sensorbroctl.8.txt" || fail "sensorbroctl.8 does not describe '$command'"
    done
"$SENSORBRO_BIN" --print-config | awk '/^\[/ { s = $1 } / = / { print s, $1 }' >"$TEST_TMP/keys"
[ "$(wc -l <"$TEST_TMP/keys")" -gt 50 ] || fail "too few keys from --print-config"
while read -r section key; do
    grep -qF -- "$section" "$MAN/sensorbro.ini.5.txt" || fail "sensorbro.ini.5 has no $section"
    grep -qw -- "$key" "$MAN/sensorbro.ini.5.txt" || fail "sensorbro.ini.5 does not describe $section $key"
done <"$TEST_TMP/keys"

# --- the default configuration ---------------------------------------------------------
INI=$ROOT/etc/sensorbro/sensorbro.ini
# as it ships: the built-in defaults but for journal.path
diff <("$SENSORBRO_BIN" --set journal.path="$journal_path" --print-config) \
    <("$SENSORBRO_BIN" -c "$INI" --print-config) >&2 ||
    fail "the packaged configuration changes more than journal.path"
# every commented line uncommented: the same, so each shows the true default
sed -E 's/^#([a-z_]+ = .+)$/\1/' "$INI" >"$TEST_TMP/uncommented.ini"
diff <("$SENSORBRO_BIN" --set journal.path="$journal_path" --print-config) \
    <("$SENSORBRO_BIN" -c "$TEST_TMP/uncommented.ini" --print-config) >&2 ||
    fail "a commented value in the packaged configuration is not the default"
awk '/^\[/ { s = $1 } /^#?[a-z_]+ =/ { sub(/^#/, ""); print s, $1 }' "$INI" >"$TEST_TMP/ini.keys"
diff -u <(sort "$TEST_TMP/keys") <(sort "$TEST_TMP/ini.keys") >&2 ||
    fail "the packaged configuration does not list every key exactly once (- missing, + extra)"

log "ok"
