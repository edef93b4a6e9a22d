#!/usr/bin/env bash
# sensorbroctl device add|list|show|remove|downlink against a fresh journal: ABP and OTAA
# devices, keys from options and from stdin, clear errors (exit 2 for bad input, 1 for a
# refused change), keys never printed in full, the database file private (0600).
source "$(dirname "$0")/lib.sh"

J=$TEST_TMP/sensorbro.db
ctl() { "$SENSORBROCTL_BIN" -j "$J" "$@"; }
NWK=3C8F262739BFE3B7BC0826991AD0504D
APPS=2B7E151628AED2A6ABF7158809CF4F3C
APPKEY=000102030405060708090A0B0C0D0E0F

# expect_status STATUS COMMAND...: runs COMMAND, output to out.txt/err.txt, checks its status.
expect_status()
{
    local want=$1 got=0
    shift
    "$@" >"$TEST_TMP/out.txt" 2>"$TEST_TMP/err.txt" || got=$?
    cat "$TEST_TMP/out.txt" "$TEST_TMP/err.txt" >>"$TEST_TMP/all-output.log"
    [ "$got" -eq "$want" ] || fail "$* exited $got, expected $want: $(cat "$TEST_TMP/err.txt")"
}

expect_status 0 ctl device add --dev-eui 70B3D57ED0000001 --dev-addr 26011BDA \
    --nwk-s-key "$NWK" --app-s-key "$APPS" --name "Room 1.12" --label building=town-hall \
    --label room=1.12
expect_eq "file mode" 600 "$(stat -c %a "$J")"
printf 'appkey = %s\n' "$APPKEY" >"$TEST_TMP/keys"
expect_status 0 ctl device add --dev-eui 70b3d57ed0000002 --join-eui 70b3d57ed00000aa \
    --keys-file - <"$TEST_TMP/keys"

expect_status 0 ctl device list --json
expect_eq "list" '[{"dev_eui":"70b3d57ed0000001","name":"Room 1.12","labels":{"building":"town-hall","room":"1.12"},"activation":"abp","dev_addr":"26011bda","fcnt_up":null,"fcnt_down":0,"settings":{}},{"dev_eui":"70b3d57ed0000002","name":"","labels":{},"activation":"otaa","dev_addr":null,"fcnt_up":null,"fcnt_down":0,"settings":{}}]' \
    "$(cat "$TEST_TMP/out.txt")"

expect_status 0 ctl device show 70B3D57ED0000001
grep -q "^nwk_s_key    3c…4d (16 bytes)$" "$TEST_TMP/out.txt" || fail "NwkSKey not masked as expected"
grep -q "^app_s_key    2b…3c (16 bytes)$" "$TEST_TMP/out.txt" || fail "AppSKey not masked as expected"
expect_status 0 ctl device show 70b3d57ed0000002
grep -q "^app_key      00…0f (16 bytes)$" "$TEST_TMP/out.txt" || fail "AppKey not masked as expected"
grep -q "^join_eui     70b3d57ed00000aa$" "$TEST_TMP/out.txt" || fail "JoinEUI not shown"

# bad input: exit 2 and what was expected; a refused change: exit 1
expect_status 2 ctl device add --dev-eui 70b3d57ed000000 --dev-addr 26011BDB --nwk-s-key "$NWK" --app-s-key "$APPS"
grep -q -- "--dev-eui: expected an EUI-64 as 16 hex digits" "$TEST_TMP/err.txt" || fail "bad EUI message"
expect_status 2 ctl device add --dev-eui 70b3d57ed0000003 --dev-addr 26011BDB --nwk-s-key "${NWK}0" --app-s-key "$APPS"
grep -q -- "--nwk-s-key: expected 32 hex digits" "$TEST_TMP/err.txt" || fail "bad key message"
expect_status 2 ctl device add --dev-eui 70b3d57ed0000003 --dev-addr 26011BDB --nwk-s-key "$NWK"
grep -q "ABP needs --dev-addr, --nwk-s-key and --app-s-key" "$TEST_TMP/err.txt" || fail "missing key message"
expect_status 2 ctl device add --dev-eui 70b3d57ed0000003 --dev-addr 26011BDB --app-key "$APPKEY"
grep -q "not both" "$TEST_TMP/err.txt" || fail "ABP+OTAA message"
expect_status 2 ctl device add --dev-eui 70b3d57ed0000003 --join-eui 70b3d57ed00000aa --app-key "$APPKEY" --label "bad key=1"
grep -q -- "--label: expected KEY=VALUE" "$TEST_TMP/err.txt" || fail "bad label message"
printf 'appkey = nothex\n' | expect_status 2 ctl device add --dev-eui 70b3d57ed0000003 --join-eui 70b3d57ed00000aa --keys-file -
grep -q "stdin:1: expected nwkskey, appskey or appkey" "$TEST_TMP/err.txt" || fail "bad keys file message"
expect_status 1 ctl device add --dev-eui 70b3d57ed0000001 --dev-addr 26011BDB --nwk-s-key "$NWK" --app-s-key "$APPS"
grep -q "exists already" "$TEST_TMP/err.txt" || fail "duplicate DevEUI message"
expect_status 1 ctl device add --dev-eui 70b3d57ed0000004 --dev-addr 26011bda --nwk-s-key "$NWK" --app-s-key "$APPS"
grep -q "DevAddr 26011bda is another device's" "$TEST_TMP/err.txt" || fail "duplicate DevAddr message"

# downlinks
expect_status 0 ctl device downlink 70b3d57ed0000001 0a0b0c --port 5 --confirmed
grep -q "3 bytes on FPort 5, confirmed" "$TEST_TMP/out.txt" || fail "downlink not queued"
expect_status 2 ctl device downlink 70b3d57ed0000001 0a0b0c --port 0
expect_status 2 ctl device downlink 70b3d57ed0000001 "$(printf '%0104d' 0)"
grep -q "at most 51 bytes" "$TEST_TMP/err.txt" || fail "oversize downlink message"
expect_status 1 ctl device downlink 70b3d57ed00000ff 0a
expect_status 0 ctl device show 70b3d57ed0000001
grep -q "^downlinks    1 queued$" "$TEST_TMP/out.txt" || fail "queued downlink not shown"

# remove, twice
expect_status 0 ctl device remove 70b3d57ed0000001
expect_status 1 ctl device remove 70b3d57ed0000001
grep -q "no device 70b3d57ed0000001" "$TEST_TMP/err.txt" || fail "remove of a missing device"
expect_status 0 ctl device list --json
expect_eq "after remove" 1 "$(jq length "$TEST_TMP/out.txt")"

# no key ever appeared in full in any output
for key in "$NWK" "$APPS" "$APPKEY"; do
    ! grep -qi "$key" "$TEST_TMP/all-output.log" || fail "a key was printed"
done
log "ok"
