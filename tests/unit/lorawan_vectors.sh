#!/bin/bash
# lorawan_vectors.sh - recomputes the known answers of test_lorawan.c that are not published
# vectors, with the openssl command line only (no project code): AES-128-ECB for key streams,
# Join-Accept encryption and session keys, AES-CMAC for MICs. Run it by hand; it is not a test.
#   bash tests/unit/lorawan_vectors.sh
set -euo pipefail

# aes KEY HEX: AES-128 encrypt of whole blocks; aes_inv: the inverse cipher (Join-Accept).
aes() { printf '%s' "$2" | xxd -r -p | openssl enc -aes-128-ecb -nopad -K "$1" | xxd -p -c 999; }
aes_inv() { printf '%s' "$2" | xxd -r -p | openssl enc -d -aes-128-ecb -nopad -K "$1" | xxd -p -c 999; }
cmac() {
    local f; f=$(mktemp); printf '%s' "$2" | xxd -r -p >"$f"
    openssl mac -cipher AES-128-CBC -macopt hexkey:"$1" -in "$f" CMAC | tr 'A-F' 'a-f'; rm -f "$f"
}
le32() { printf '%02x%02x%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
le24() { printf '%02x%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)); }
le16() { printf '%02x%02x' $(($1 & 255)) $(($1 >> 8 & 255)); }
# block TAG DIR DEVADDR FCNT LAST: the A_i / B0 layout.
block() { printf '%s00000000%02x%s%s00%02x' "$1" "$2" "$(le32 "$3")" "$(le32 "$4")" "$5"; }
xor() { python3 -c 'import sys; a,b=bytes.fromhex(sys.argv[1]),bytes.fromhex(sys.argv[2]); print(bytes(x^y for x,y in zip(a,b)).hex())' "$1" "$2"; }
# frame KEY_NWK KEY_ENC MHDR DIR DEVADDR FCTRL FCNT32 FOPTS FPORT PAYLOAD
frame() {
    local nwk=$1 key=$2 mhdr=$3 dir=$4 addr=$5 fctrl=$6 fcnt=$7 fopts=$8 fport=$9 payload=${10}
    local n=$(( (${#payload} / 2 + 15) / 16 )) stream="" i
    for ((i = 1; i <= n; i++)); do stream+=$(block 01 "$dir" "$addr" "$fcnt" "$i"); done
    local enc; enc=$(xor "$payload" "$(aes "$key" "$stream")")
    local msg="$mhdr$(le32 "$addr")$fctrl$(le16 $((fcnt & 0xffff)))$fopts$fport$enc"
    local mic; mic=$(cmac "$nwk" "$(block 49 "$dir" "$addr" "$fcnt" $((${#msg} / 2)))$msg")
    echo "$msg${mic:0:8}"
}

echo "RFC 4493 example 2 (checks the tool): $(cmac 2b7e151628aed2a6abf7158809cf4f3c 6bc1bee22e409f96e93d7e117393172a)"
echo "  expected                            070a16b46b4d4144f79bdd9dd04a287c"

NWK=44024241ed4ce9a68c6a8bc055233fd3 APP=ec925802ae430ca77fd3dd73cb2cc588
echo "uplink fcnt 0x00010002 'test': $(frame $NWK $APP 40 0 0x49be7df1 00 0x00010002 '' 01 74657374)"
echo "downlink fport 0, fcnt 10, 20 bytes 00..13: $(frame $NWK $NWK 60 1 0x49be7df1 00 10 '' 00 000102030405060708090a0b0c0d0e0f10111213)"
echo "confirmed uplink fopts 0307 06ff0a fport 2 fcnt 5: $(frame $NWK $APP 80 0 0x26011bda 85 5 030706ff0a 02 010203 | head -c 999)"

AK=98929b92c49edba9676d646d3b612456
plain=20386337ccbbaae7cd2c010000d9d0a6e7
echo "join-accept (lora-packet's plain one) encrypted: 20$(aes_inv $AK ${plain:2})"
cf=$(le24 8671000)$(le24 8673000)$(le24 8675000)$(le24 8677000)$(le24 8679000)00
body="20$(le24 0x376338)$(le24 0xaabbcc)$(le32 0x012ccde7)1301$cf"
mic=$(cmac $AK "$body")
echo "join-accept with CFList plain: $body${mic:0:8}"
echo "join-accept with CFList encrypted: 20$(aes_inv $AK "${body:2}${mic:0:8}")"
echo "session keys app_nonce 0x376338 net_id 0xaabbcc dev_nonce 0xf18e:"
echo "  NwkSKey $(aes $AK "01$(le24 0x376338)$(le24 0xaabbcc)$(le16 0xf18e)00000000000000")"
echo "  AppSKey $(aes $AK "02$(le24 0x376338)$(le24 0xaabbcc)$(le16 0xf18e)00000000000000")"
