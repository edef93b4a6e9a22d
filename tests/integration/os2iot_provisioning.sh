#!/usr/bin/env bash
# The registry of every transport and OS2iot bulk provisioning, with the daemon running on
# the same journal (sensorbroctl writes while it holds the database, WAL):
#   - device add of CoAP devices (activation none), set/unset of typed settings, list and
#     show with every secret masked, refused values naming the key, a certificate and the
#     key of another one refused, device remove taking the settings with it;
#   - os2iot export of 200 GENERIC_HTTP and 5 MQTT_INTERNAL_BROKER devices in OS2iot's own
#     sample files' headers; an OS2iot stand-in (Python's csv module, matching columns by
#     header name as Papa Parse does) creates the devices from that file, gives them ids,
#     API keys, topics and certificates, and writes its CSV export exactly as OS2iot's
#     csv-generator.service.ts does (its column order, nothing quoted, PEMs in base64);
#     os2iot import reads it back and every device has its id, key, topic and
#     credentials (round trip checked value by value against the stand-in's file);
#   - a bad row (a wrong apiKey, a short row, a key of another certificate) is refused
#     with its line and column and nothing at all is imported;
#   - the daemon still takes a CoAP frame of a registered device and publishes it.
source "$(dirname "$0")/lib.sh"

MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
start_mosquitto "$MQTT_PORT"
subscribe_persistent "$MQTT_PORT" it-sub "sensorbro/gw-prov/+/up"
start_sensorbro gw --set gateway.id=gw-prov --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1
wait_until "sensorbro connected to the broker" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"
J=$SB_DIR/sensorbro.db
ctl() { timeout 60 "$SENSORBROCTL_BIN" -j "$J" "$@"; }

# expect_status STATUS COMMAND...: runs COMMAND, output to out.txt/err.txt, checks its status.
expect_status()
{
    local want=$1 got=0
    shift
    "$@" >"$TEST_TMP/out.txt" 2>"$TEST_TMP/err.txt" || got=$?
    cat "$TEST_TMP/out.txt" "$TEST_TMP/err.txt" >>"$TEST_TMP/all-output.log"
    [ "$got" -eq "$want" ] || fail "$* exited $got, expected $want: $(cat "$TEST_TMP/err.txt")"
}
# no_secret TEXT...: none of the secrets of this test is in out.txt or err.txt
no_secret()
{
    local s
    for s in "$@"; do
        ! grep -qF -- "$s" "$TEST_TMP/out.txt" "$TEST_TMP/err.txt" ||
            fail "a secret was printed: ${s:0:4}..."
    done
}

# --- device add / set / unset / list / show / remove --------------------------------
E1=70b3d57ed0001001
APIKEY=0F8FAD5B-D9CB-469F-A165-70867728950E
PASSWORD=correct-horse-battery
expect_status 0 ctl device add --dev-eui "$E1" --name "Room 1.12" --label building=town-hall
grep -q "activation none" "$TEST_TMP/out.txt" || fail "add: $(cat "$TEST_TMP/out.txt")"
expect_status 0 ctl device set "$E1" os2iot.output=http "os2iot.api_key=$APIKEY" \
    location.latitude=56.1572 location.longitude=10.2107 "comment=CO2, east wing"
grep -q "warning: a secret on the command line" "$TEST_TMP/err.txt" || fail "no warning for a secret on argv"
printf '%s\n' "$PASSWORD" >"$TEST_TMP/pw"
chmod 600 "$TEST_TMP/pw"
expect_status 0 ctl device set "$E1" os2iot.username=room-1-12 --password-file - <"$TEST_TMP/pw"
expect_status 0 ctl device list --json
no_secret "$PASSWORD" "${APIKEY,,}" "$APIKEY"
expect_eq "list: settings" '{"comment":"CO2, east wing","location.latitude":"56.1572","location.longitude":"10.2107","os2iot.api_key":"0f…0e (secret, 36 characters)","os2iot.output":"http","os2iot.password":"(secret, 21 bytes)","os2iot.username":"room-1-12"}' \
    "$(jq -c '.[0].settings' "$TEST_TMP/out.txt")"
expect_eq "list: labels" '{"building":"town-hall"}' "$(jq -c '.[0].labels' "$TEST_TMP/out.txt")"
expect_eq "list: activation" '"none"' "$(jq -c '.[0].activation' "$TEST_TMP/out.txt")"
expect_status 0 ctl device list
no_secret "$PASSWORD" "${APIKEY,,}"
expect_status 0 ctl device show "$E1"
no_secret "$PASSWORD" "${APIKEY,,}"
grep -q "^  os2iot.api_key  *0f…0e (secret, 36 characters)$" "$TEST_TMP/out.txt" ||
    fail "show: api_key not masked as expected: $(cat "$TEST_TMP/out.txt")"

# refused values: exit 1, the key and what it expects, never the value; nothing changed
expect_status 1 ctl device set "$E1" comment=ok location.latitude=95
grep -q "location.latitude: expected decimal degrees from -90 to 90" "$TEST_TMP/err.txt" ||
    fail "bad latitude: $(cat "$TEST_TMP/err.txt")"
expect_status 1 ctl device set "$E1" "os2iot.api_key=not-a-$PASSWORD"
grep -q "os2iot.api_key: expected a UUID" "$TEST_TMP/err.txt" || fail "bad api key: $(cat "$TEST_TMP/err.txt")"
no_secret "$PASSWORD"
expect_status 1 ctl device set "$E1" os2iot.nonsense=1
grep -q "os2iot.nonsense: not a setting" "$TEST_TMP/err.txt" || fail "unknown key: $(cat "$TEST_TMP/err.txt")"
expect_status 2 ctl device set "$E1" os2iot.password "$PASSWORD"
grep -q "expected KEY=VALUE" "$TEST_TMP/err.txt" || fail "no '=': $(cat "$TEST_TMP/err.txt")"
no_secret "$PASSWORD"
expect_status 1 ctl device set 70b3d57ed00010ff comment=x
grep -q "no device 70b3d57ed00010ff" "$TEST_TMP/err.txt" || fail "no device: $(cat "$TEST_TMP/err.txt")"
expect_status 0 ctl device show "$E1"
grep -q "^  comment  *CO2, east wing$" "$TEST_TMP/out.txt" || fail "a refused set changed comment"

# certificates: from files; the key of another certificate refused; expiry shown
pki_new_ca ca
pki_new_cert dev-a ca DNS:dev-a
pki_new_cert dev-b ca DNS:dev-b
expect_status 1 ctl device set "$E1" "os2iot.cert=$PKI/dev-a.pem" "os2iot.key=$PKI/dev-b.key"
grep -q "os2iot.key: does not belong to os2iot.cert" "$TEST_TMP/err.txt" || fail "key mismatch: $(cat "$TEST_TMP/err.txt")"
expect_status 0 ctl device set "$E1" "os2iot.cert=$PKI/dev-a.pem" "os2iot.key=$PKI/dev-a.key" \
    "os2iot.ca=$PKI/ca.pem"
grep -q "os2iot.cert expires .*: within 30 days, renew it in OS2iot" "$TEST_TMP/out.txt" ||
    fail "expiry not reported: $(cat "$TEST_TMP/out.txt")"
expect_status 0 ctl device show "$E1"
no_secret "$(sed -n 2p "$PKI/dev-a.key")"
grep -q "^  os2iot.cert  *PEM, 1 certificate, CN=dev-a, until " "$TEST_TMP/out.txt" ||
    fail "certificate not summarised: $(cat "$TEST_TMP/out.txt")"
grep -q "^  os2iot.cert_not_after .*expires within 30 days$" "$TEST_TMP/out.txt" ||
    fail "expiry warning missing in show"
expect_status 0 ctl device unset "$E1" os2iot.cert os2iot.key
expect_status 0 ctl device show "$E1"
! grep -q "os2iot.cert" "$TEST_TMP/out.txt" || fail "unset left the certificate or its expiry"
expect_status 0 ctl device unset "$E1" "os2iot.*"
expect_status 0 ctl device list --json
expect_eq "after unset os2iot.*" '["comment","location.latitude","location.longitude"]' \
    "$(jq -c '.[0].settings | keys' "$TEST_TMP/out.txt")"

# the daemon, running all along, still takes a frame of the registered device
encode_uplink 'seq: 1 interval_s: 300 temperature: [2150]' "$TEST_TMP/frame.bin"
expect_eq "CoAP response" "2.04" "$(coap_post "$COAP_PORT" "/up/$E1" "$TEST_TMP/frame.bin")"
collect_messages "$MQTT_PORT" it-sub "sensorbro/gw-prov/+/up" 1 15 "$TEST_TMP/messages.txt"
expect_eq "published" "sensorbro/gw-prov/$E1/up" "$(cut -d' ' -f1 "$TEST_TMP/messages.txt")"

expect_status 0 ctl device remove "$E1"
expect_status 0 ctl device add --dev-eui "$E1"
expect_status 0 ctl device list --json
expect_eq "settings after remove and add" '{}' "$(jq -c '.[0].settings' "$TEST_TMP/out.txt")"
expect_status 0 ctl device remove "$E1"

# --- 200 GENERIC_HTTP devices and 5 MQTT_INTERNAL_BROKER ones -------------------------
for i in $(seq 1 205); do
    eui=$(printf '70b3d57ed002%04x' "$i")
    printf -- '--dev-eui %s --name sensor-%03d --label room=%d.%02d\n' "$eui" "$i" $((i / 100)) $((i % 100))
done >"$TEST_TMP/devices.txt"
while read -r -a args; do
    ctl device add "${args[@]}" >/dev/null || fail "device add ${args[*]}"
done <"$TEST_TMP/devices.txt"
for i in $(seq 1 200); do
    ctl device set "$(printf '70b3d57ed002%04x' "$i")" os2iot.output=http \
        location.latitude=56.15 location.longitude=10.2$i >/dev/null || fail "device set $i"
done
for i in $(seq 201 205); do
    ctl device set "$(printf '70b3d57ed002%04x' "$i")" os2iot.output=mqtt >/dev/null || fail "set $i"
done

expect_status 0 ctl os2iot export --type generic-http --output "$TEST_TMP/http.csv"
expect_eq "export mode" 600 "$(stat -c %a "$TEST_TMP/http.csv")"
expect_eq "http header" "name,id,type,longitude,latitude,commentOnLocation,comment,deviceModelId" \
    "$(head -n 1 "$TEST_TMP/http.csv")"
expect_eq "http rows" 200 "$(tail -n +2 "$TEST_TMP/http.csv" | wc -l)"
expect_eq "http row 7" "sensor-007,,GENERIC_HTTP,10.27,56.15,room 0.07,DevEUI 70b3d57ed0020007," \
    "$(sed -n 8p "$TEST_TMP/http.csv")"
# password logins carry passwords: not to stdout unless asked
expect_status 2 ctl os2iot export --type mqtt-internal --auth password
grep -q "give --output FILE" "$TEST_TMP/err.txt" || fail "password export to stdout not refused"
expect_status 0 ctl os2iot export --type mqtt-internal --auth password --output "$TEST_TMP/mqtt.csv"
expect_eq "mqtt header" \
    "name,id,type,longitude,latitude,commentOnLocation,comment,deviceModelId,authenticationType,mqttusername,mqttpassword" \
    "$(head -n 1 "$TEST_TMP/mqtt.csv")"
expect_eq "mqtt rows" 5 "$(tail -n +2 "$TEST_TMP/mqtt.csv" | wc -l)"
expect_eq "mqtt auth" "PASSWORD" "$(sed -n 2p "$TEST_TMP/mqtt.csv" | cut -d, -f9)"
expect_eq "mqtt username" "sensorbro-70b3d57ed00200c9" "$(sed -n 2p "$TEST_TMP/mqtt.csv" | cut -d, -f10)"
generated=$(sed -n 2p "$TEST_TMP/mqtt.csv" | cut -d, -f11)
[ ${#generated} -eq 32 ] || fail "generated password: ${#generated} characters"
expect_status 0 ctl device show 70b3d57ed00200c9
no_secret "$generated"
grep -q "^  os2iot.password  *(secret, 32 bytes)$" "$TEST_TMP/out.txt" || fail "password not stored"
# a second export gives the same credentials (stored, not made again)
expect_status 0 ctl os2iot export --type mqtt-internal --auth password --output -
expect_eq "mqtt export again" "$(cat "$TEST_TMP/mqtt.csv")" "$(cat "$TEST_TMP/out.txt")"

# --- the OS2iot stand-in: its bulk import, then its CSV export ------------------------
# Device 205 gets a certificate instead (the operator switched it in OS2iot).
pki_new_cert sensor-205 ca DNS:sensor-205
python3 - "$TEST_TMP/http.csv" "$TEST_TMP/mqtt.csv" "$PKI" >"$TEST_TMP/os2iot-export.csv" <<'EOF'
import base64, csv, sys, uuid
fields = ["name", "id", "type", "latitude", "longitude", "commentOnLocation", "comment",
          "deviceModelId", "apiKey", "mqttURL", "mqttPort", "mqtttopicname",
          "authenticationType", "mqttusername", "mqttpassword", "caCertificate",
          "deviceCertificate", "deviceCertificateKey", "devEUI", "deviceProfileID",
          "skipFCntCheck", "activationType", "OTAAapplicationKey"]
pki = sys.argv[3]
b64 = lambda path: base64.b64encode(open(path, "rb").read()).decode()
print(",".join(fields))
next_id = 1000
for path in sys.argv[1:3]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):  # by header name, as the frontend's Papa Parse
            next_id += 1
            out = dict.fromkeys(fields, "")
            for k in ("name", "type", "latitude", "longitude", "commentOnLocation", "comment"):
                out[k] = row[k]
            out["id"] = str(next_id)
            if row["type"] == "GENERIC_HTTP":
                out["apiKey"] = str(uuid.uuid4())
            else:
                out["mqttURL"] = "mqtts://os2iot.example"
                out["mqtttopicname"] = f"devices/3/7/{next_id}"
                if row["name"] == "sensor-205":
                    out["mqttPort"] = "8884"
                    out["authenticationType"] = "CERTIFICATE"
                    out["caCertificate"] = b64(f"{pki}/ca.pem")
                    out["deviceCertificate"] = b64(f"{pki}/sensor-205.pem")
                    out["deviceCertificateKey"] = b64(f"{pki}/sensor-205.key")
                else:
                    out["mqttPort"] = "8885"
                    for k in ("authenticationType", "mqttusername", "mqttpassword"):
                        out[k] = row[k]
            # as csv-generator.service.ts: joined with commas, nothing quoted
            print(",".join(out[k] for k in fields))
# a device of another type in the same application, skipped by import
print("gateway-lora,999,LORAWAN,,,,,,,,,,,,,,,,0004a30b001c0530,x,false,OTAA,00")
EOF
expect_eq "stand-in rows" 206 "$(tail -n +2 "$TEST_TMP/os2iot-export.csv" | wc -l)"
chmod 600 "$TEST_TMP/os2iot-export.csv"

# bad rows: each with its line and column, and nothing imported at all
bad=$TEST_TMP/bad.csv
awk -F, -v OFS=, 'NR == 5 { $9 = "not-a-uuid" } NR == 9 { NF = 20 } { print }' \
    "$TEST_TMP/os2iot-export.csv" >"$bad"
expect_status 1 ctl os2iot import "$bad"
grep -q "bad.csv:5: os2iot.api_key: expected a UUID.* (column apiKey)" "$TEST_TMP/err.txt" ||
    fail "bad apiKey row: $(cat "$TEST_TMP/err.txt")"
grep -q "bad.csv:9: 20 fields, the header has 23" "$TEST_TMP/err.txt" ||
    fail "short row: $(cat "$TEST_TMP/err.txt")"
grep -q "2 bad rows; nothing imported" "$TEST_TMP/err.txt" || fail "summary: $(cat "$TEST_TMP/err.txt")"
no_secret "$(sed -n 5p "$bad" | cut -d, -f9)"
other_key=$(base64 -w0 "$PKI/dev-b.key")
awk -F, -v OFS=, -v k="$other_key" '$1 == "sensor-205" { $18 = k } { print }' \
    "$TEST_TMP/os2iot-export.csv" >"$bad"
expect_status 1 ctl os2iot import "$bad"
grep -q "bad.csv:206: deviceCertificateKey: does not belong to deviceCertificate" "$TEST_TMP/err.txt" ||
    fail "key of another certificate: $(cat "$TEST_TMP/err.txt")"
expect_status 0 ctl device list --json
expect_eq "nothing half-imported" 0 "$(jq '[.[].settings | select(has("os2iot.id"))] | length' "$TEST_TMP/out.txt")"

expect_status 0 ctl os2iot import "$TEST_TMP/os2iot-export.csv" --dry-run
grep -q "would import 205 devices" "$TEST_TMP/out.txt" || fail "dry run: $(cat "$TEST_TMP/out.txt")"
expect_status 0 ctl os2iot import "$TEST_TMP/os2iot-export.csv"
grep -q "imported 205 devices from .* (200 GENERIC_HTTP, 5 MQTT_INTERNAL_BROKER); skipped 1 rows of other types (LORAWAN" \
    "$TEST_TMP/out.txt" || fail "import: $(cat "$TEST_TMP/out.txt") $(cat "$TEST_TMP/err.txt")"
no_secret "$generated"

# the round trip, value by value: what the registry holds is what OS2iot's file says
expect_status 0 ctl device list --json
cp "$TEST_TMP/out.txt" "$TEST_TMP/list.json"
while IFS=, read -r name id type _ _ _ _ _ apikey _ _ topic auth user _ _; do
        got=$(jq -c --arg n "$name" '.[] | select(.name == $n) | .settings' "$TEST_TMP/list.json")
        expect_eq "$name id" "\"$id\"" "$(jq -c '."os2iot.id"' <<<"$got")"
        if [ "$type" = GENERIC_HTTP ]; then
            expect_eq "$name output" '"http"' "$(jq -c '."os2iot.output"' <<<"$got")"
            expect_eq "$name api key" "\"${apikey:0:2}…${apikey: -2} (secret, 36 characters)\"" \
                "$(jq -c '."os2iot.api_key"' <<<"$got")"
        else
            expect_eq "$name output" '"mqtt"' "$(jq -c '."os2iot.output"' <<<"$got")"
            expect_eq "$name topic" "\"$topic\"" "$(jq -c '."os2iot.topic"' <<<"$got")"
            if [ "$auth" = PASSWORD ]; then
                expect_eq "$name username" "\"$user\"" "$(jq -c '."os2iot.username"' <<<"$got")"
                expect_eq "$name password" '"(secret, 32 bytes)"' "$(jq -c '."os2iot.password"' <<<"$got")"
            else
                jq -e '."os2iot.cert" | startswith("PEM, 1 certificate, CN=sensor-205")' <<<"$got" >/dev/null ||
                    fail "$name certificate: $got"
                jq -e 'has("os2iot.key") and has("os2iot.ca") and (has("os2iot.password") | not)' <<<"$got" >/dev/null ||
                    fail "$name key, CA, no password: $got"
            fi
        fi
    done < <(tail -n +2 "$TEST_TMP/os2iot-export.csv" | grep -v '^gateway-lora,')
# the secrets themselves, which sensorbroctl never prints: read from the database file
# (Python's sqlite3, not our code) and compared byte for byte with OS2iot's file
python3 - "$J" "$TEST_TMP/os2iot-export.csv" <<'PY' || fail "stored secrets differ from OS2iot's file"
import base64, csv, sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
stored = {}
for name, key, value in db.execute(
        "SELECT d.name, s.key, s.value FROM devices d JOIN device_settings s USING (dev_eui)"):
    stored.setdefault(name, {})[key] = value
bad = checked = 0
with open(sys.argv[2], newline="") as f:
    for row in csv.DictReader(f):
        if row["type"] == "LORAWAN":
            continue
        want = {"os2iot.id": row["id"]}
        if row["type"] == "GENERIC_HTTP":
            want["os2iot.api_key"] = row["apiKey"]
        elif row["authenticationType"] == "PASSWORD":
            want["os2iot.password"] = row["mqttpassword"]
        else:
            for k, col in (("os2iot.cert", "deviceCertificate"),
                           ("os2iot.key", "deviceCertificateKey"), ("os2iot.ca", "caCertificate")):
                want[k] = base64.b64decode(row[col]).decode()
        for k, v in want.items():
            checked += 1
            if stored.get(row["name"], {}).get(k) != v:
                print(f"{row['name']}: {k} differs", file=sys.stderr)
                bad += 1
sys.exit(1 if bad or checked < 410 else 0)
PY
expect_status 0 ctl os2iot export --type generic-http --output "$TEST_TMP/http-again.csv"
expect_eq "devices with an id are not exported again" 1 "$(wc -l <"$TEST_TMP/http-again.csv")"
expect_status 0 ctl os2iot export --type generic-http --all --output "$TEST_TMP/http-all.csv"
expect_eq "--all: ids from OS2iot" "sensor-001,1001,GENERIC_HTTP" \
    "$(sed -n 2p "$TEST_TMP/http-all.csv" | cut -d, -f1-3)"

# importing the same file again changes nothing and is accepted (idempotent)
expect_status 0 ctl os2iot import "$TEST_TMP/os2iot-export.csv"
expect_status 0 ctl device list --json
cmp -s "$TEST_TMP/out.txt" "$TEST_TMP/list.json" || fail "a second import changed the registry"

stop_sensorbro
