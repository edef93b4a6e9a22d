#!/usr/bin/env bash
# Every CoAP error path answers with its code; a payload that does not decode gets 4.00 with
# the reason, is kept in quarantine (raw bytes and reason), is counted by `sensorbroctl
# status`, and never reaches the broker.
source "$(dirname "$0")/lib.sh"

MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" q-sub "sensorbro/gw-q/+/up"
start_sensorbro gw --set gateway.id=gw-q --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 --set coap.max_payload_bytes=64
wait_until "sensorbro connected" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"
EUI=0011223344556677
# A reply is never longer than its request (no amplification of spoofed sources): the
# diagnostic payload comes only when it fits. These requests carry an elective option
# (65000, unknown, ignored) of 64 bytes so that it does; step 6 shows one without.
PAD=(-O "65000,$(printf 'x%.0s' {1..64})")

# 1. Not protobuf at all (0xff is a field number 31 with wire type 7: invalid).
printf '\xff\xff\xff\xffnot an uplink' >"$TEST_TMP/garbage.bin"
expect_eq "garbage" "4.00 protobuf: not a valid Uplink (truncated or malformed)" \
    "$(coap_post "$COAP_PORT" "/up/$EUI" "$TEST_TMP/garbage.bin" "${PAD[@]}")"

# 2. Valid protobuf, invalid content: a delta sum leaving the sint32 range.
encode_uplink 'seq: 1 interval_s: 60 co2: [2147483647, 1]' "$TEST_TMP/overflow.bin"
expect_eq "delta overflow" "4.00 co2 channel 0: delta sum leaves the sint32 range at sample 1" \
    "$(coap_post "$COAP_PORT" "/up/$EUI" "$TEST_TMP/overflow.bin" "${PAD[@]}")"

# 3. Several samples but no interval.
encode_uplink 'seq: 2 temperature: [2000, 1, 1]' "$TEST_TMP/nointerval.bin"
expect_eq "no interval" "4.00 interval_s is 0 but a series has 3 samples" \
    "$(coap_post "$COAP_PORT" "/up/$EUI" "$TEST_TMP/nointerval.bin" "${PAD[@]}")"

# 4. Unknown extra quantity.
encode_uplink 'seq: 3 extra { quantity: 99 samples: [1] }' "$TEST_TMP/unknown.bin"
expect_eq "unknown quantity" "4.00 extra[0]: unknown quantity 99" \
    "$(coap_post "$COAP_PORT" "/up/$EUI" "$TEST_TMP/unknown.bin" "${PAD[@]}")"

# 5. Nothing to publish: an empty payload (protobuf would read it as seq 0 and take the id
# of the device's real seq 0), and a seq with neither series nor status.
: >"$TEST_TMP/empty.bin"
expect_eq "empty payload" "4.00 empty payload: no Uplink" \
    "$(coap_post "$COAP_PORT" "/up/$EUI" "$TEST_TMP/empty.bin" "${PAD[@]}")"
encode_uplink 'seq: 4 interval_s: 60 age_s: 3' "$TEST_TMP/nothing.bin"
expect_eq "no series, no status" "4.00 no series and no status: nothing to publish" \
    "$(coap_post "$COAP_PORT" "/up/$EUI" "$TEST_TMP/nothing.bin" "${PAD[@]}")"

# 6. Paths, methods and sizes: nothing journaled for these.
encode_uplink 'seq: 10 interval_s: 60 temperature: [2100]' "$TEST_TMP/good.bin"
expect_eq "wrong path, no room for the diagnostic" "4.04" \
    "$(coap_post "$COAP_PORT" "/down/$EUI" "$TEST_TMP/good.bin")"
expect_eq "wrong path" "4.04 POST to /up/<device EUI, 16 hex digits>" \
    "$(coap_post "$COAP_PORT" "/down/$EUI" "$TEST_TMP/good.bin" "${PAD[@]}")"
expect_eq "EUI too short" "4.04 POST to /up/<device EUI, 16 hex digits>" \
    "$(coap_post "$COAP_PORT" "/up/00112233" "$TEST_TMP/good.bin" "${PAD[@]}")"
expect_eq "EUI not hex" "4.04 POST to /up/<device EUI, 16 hex digits>" \
    "$(coap_post "$COAP_PORT" "/up/00112233445566zz" "$TEST_TMP/good.bin" "${PAD[@]}")"
expect_eq "no EUI" "4.04 POST to /up/<device EUI, 16 hex digits>" \
    "$(coap_post "$COAP_PORT" "/up" "$TEST_TMP/good.bin" "${PAD[@]}")"
expect_eq "GET" "4.05" "$(coap_request get "$COAP_PORT" "/up/$EUI")"
# Resource discovery (RFC 6690): the link to /up in link-format (content-format 40).
wkc=$("$COAP_CLIENT_BIN" -v 6 -B 10 -m get "coap://127.0.0.1:$COAP_PORT/.well-known/core" 2>&1 |
    grep -E '^v:1 t:(CON|ACK|NON) c:' | tail -n 1) || true
expect_eq "GET /.well-known/core" \
    "c:2.05 [ Content-Format:application/link-format ] :: '</up>;rt=\"sensorbro.uplink\";ct=42;title=\"POST a sensorbro.v1.Uplink to /up/<device EUI>\"'" \
    "$(sed -E 's/^v:1 t:[A-Z]+ (c:[0-9.]+) i:[0-9a-f]+ \{[0-9a-f]*\} /\1 /' <<<"$wkc")"
expect_eq "PUT" "4.05" "$(coap_request put "$COAP_PORT" "/up/$EUI")"
head -c 100 /dev/zero >"$TEST_TMP/large.bin"
expect_eq "oversize" "4.13 payload too large" "$(coap_post "$COAP_PORT" "/up/$EUI" "$TEST_TMP/large.bin" "${PAD[@]}")"

# 7. A good frame afterwards: the only message the broker ever sees.
expect_eq "good frame" "2.04" "$(coap_post "$COAP_PORT" "/up/$EUI" "$TEST_TMP/good.bin" "${PAD[@]}")"
collect_messages "$MQTT_PORT" q-sub "sensorbro/gw-q/+/up" 5 3 "$TEST_TMP/messages.txt"
expect_eq "messages on the broker" 1 "$(wc -l <"$TEST_TMP/messages.txt")"
expect_eq "the good frame" 10 "$(cut -d' ' -f2- "$TEST_TMP/messages.txt" | jq .seq)"

# 8. The journal tells the operator.
status=$("$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" status)
log "sensorbroctl status:"$'\n'"$status"
grep -Eq '^quarantined +6$' <<<"$status" || fail "status does not show 6 quarantined frames"
"$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" quarantine >"$TEST_TMP/quarantine.txt"
expect_eq "quarantine entries" 6 "$(wc -l <"$TEST_TMP/quarantine.txt")"
first=$(head -n 1 "$TEST_TMP/quarantine.txt")
expect_eq "quarantined device" "$EUI" "$(cut -f3 <<<"$first")"
expect_eq "quarantined transport" coap "$(cut -f4 <<<"$first")"
expect_eq "quarantine reason" "protobuf: not a valid Uplink (truncated or malformed)" "$(cut -f6 <<<"$first")"
expect_eq "raw bytes kept" "$(od -An -v -tx1 "$TEST_TMP/garbage.bin" | tr -d " \n")" "$(cut -f7 <<<"$first")"
grep -q "unknown quantity 99" "$TEST_TMP/quarantine.txt" || fail "reason for the unknown quantity missing"
empty=$(sed -n 5p "$TEST_TMP/quarantine.txt")
expect_eq "empty payload: reason" "empty payload: no Uplink" "$(cut -f6 <<<"$empty")"
expect_eq "empty payload: no bytes" "" "$(cut -f7 <<<"$empty")"
expect_eq "nothing to publish: raw bytes kept" "$(od -An -v -tx1 "$TEST_TMP/nothing.bin" | tr -d " \n")" \
    "$(sed -n 6p "$TEST_TMP/quarantine.txt" | cut -f7)"

stop_sensorbro
log "ok"
