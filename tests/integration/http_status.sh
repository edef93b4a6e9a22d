#!/usr/bin/env bash
# The HTTP endpoint of a running daemon (gateway/src/http_status.c): CoAP readings from
# three devices (two registered with building and room labels and a name that needs
# escaping, one not registered) show on /metrics (parsed by a strict checker of the text
# format, and by promtool when installed), on the status page / (grouped, escaped, values,
# an inline SVG chart, no script) and on /device/<eui>; /healthz says ok; basic auth
# refuses a request without the password; a missing password file stops start-up naming
# the file and line; headless Chromium renders the page when it is installed.
source "$(dirname "$0")/lib.sh"
CHECK="python3 $(dirname "$0")/prom_check.py"

# The checker itself refuses what the format does not allow (so its "ok" means something).
bad_exposition()
{
    printf '%b' "$2" >"$TEST_TMP/bad.prom"
    ! $CHECK "$TEST_TMP/bad.prom" >/dev/null 2>&1 || fail "prom_check accepted $1"
}
bad_exposition "a counter without _total" '# TYPE x counter\nx 1\n'
bad_exposition "an unescaped quote" '# TYPE x gauge\nx{a="b"c"} 1\n'
bad_exposition "a split family" '# TYPE x gauge\nx{a="1"} 1\n# TYPE y gauge\ny 1\nx{a="2"} 2\n'
bad_exposition "a series twice" '# TYPE x gauge\nx{a="1"} 1\nx{a="1"} 2\n'
bad_exposition "no final line feed" '# TYPE x gauge\nx 1'
bad_exposition "a bad value" '# TYPE x gauge\nx one\n'
printf '# HELP x a \\\\ b\n# TYPE x gauge\nx{a="q\\"\\\\\\n"} -1.5e3\nx{a="2"} +Inf\n' >"$TEST_TMP/good.prom"
$CHECK "$TEST_TMP/good.prom" >/dev/null || fail "prom_check refused a valid exposition"

MQTT_PORT=$(free_port)
COAP_PORT=$(free_port)
HTTP_PORT=$(free_port)
D1=70b3d57ed0000a01
D2=70b3d57ed0000a02
D3=70b3d57ed0000a03
start_mosquitto "$MQTT_PORT"
start_sensorbro gw --set gateway.id=gw-http --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$COAP_PORT" --set coap.bind=127.0.0.1 --set http.port="$HTTP_PORT"
wait_until "sensorbro connected to the broker" 15 grep -q "mqtt: connected" "$TEST_TMP/gw.log"
grep -q "http: serving /, /device, /metrics and /healthz on 127.0.0.1:$HTTP_PORT" "$TEST_TMP/gw.log" ||
    fail "no http listening line"
URL=http://127.0.0.1:$HTTP_PORT

ctl() { "$SENSORBROCTL_BIN" -j "$SB_DIR/sensorbro.db" "$@"; }
ctl device add --dev-eui $D1 --name 'CO2 <b>&"lab"' --label building=Rådhuset --label room=1.12 >/dev/null
ctl device add --dev-eui $D2 --name 'Kontor 2' --label building=Rådhuset --label room=2.01 >/dev/null

post()
{
    encode_uplink "$2" "$TEST_TMP/f.bin"
    expect_eq "CoAP $1" 2.04 "$(coap_post "$COAP_PORT" "/up/$1" "$TEST_TMP/f.bin")"
}
post $D1 'seq: 1 interval_s: 1800 age_s: 0 temperature: [2150, 10, -5] co2: [612, 38] battery: [3012]'
post $D2 'seq: 7 interval_s: 600 age_s: 0 temperature: [1980] relative_humidity: [455]'
post $D3 'seq: 3 interval_s: 60 age_s: 0 co2: [480] battery: [2950]'

# /healthz
expect_eq "healthz" "200 ok" "$(curl -s -o "$TEST_TMP/h.txt" -w '%{http_code}' "$URL/healthz") $(cat "$TEST_TMP/h.txt")"

# /metrics: the device figures arrive within the reader's second
metrics_ok()
{
    curl -sf "$URL/metrics" -o "$TEST_TMP/metrics.prom" &&
        [ "$(grep -c '^sensorbro_device_last_seen_seconds{' "$TEST_TMP/metrics.prom")" -eq 3 ] &&
        grep -q '^sensorbro_device_info{device="'$D2'",name="Kontor 2"' "$TEST_TMP/metrics.prom" &&
        grep -q '^sensorbro_frames_committed_total 3$' "$TEST_TMP/metrics.prom"
}
wait_until "three devices on /metrics" 15 metrics_ok
ctype=$(curl -s -o /dev/null -w '%{content_type}' "$URL/metrics")
expect_eq "metrics content type" "text/plain; version=0.0.4; charset=utf-8" "$ctype"
$CHECK "$TEST_TMP/metrics.prom" >"$TEST_TMP/samples.json" ||
    fail "/metrics is not valid exposition format: $(cat "$TEST_TMP/metrics.prom")"
sample() { jq -rs --arg n "$1" --arg d "$2" '[.[] | select(.name == $n and (.labels.device // "") == $d)] | .[0].value' "$TEST_TMP/samples.json"; }
expect_eq "battery of D1" 3.012 "$(sample sensorbro_device_battery_volts $D1)"
expect_eq "battery of D3" 2.95 "$(sample sensorbro_device_battery_volts $D3)"
expect_eq "D2 has no battery" null "$(sample sensorbro_device_battery_volts $D2)"
expect_eq "sensorbro_up" 1 "$(sample sensorbro_up '')"
expect_eq "pipeline alive" 1 "$(sample sensorbro_pipeline_alive '')"
expect_eq "CoAP 2.04 counted" 3 "$(jq -rs '[.[] | select(.name == "sensorbro_coap_responses_total" and .labels.code == "2.04")] | .[0].value' "$TEST_TMP/samples.json")"
expect_eq "D1's escaped name" 'CO2 <b>&"lab"' "$(jq -rs --arg d $D1 '[.[] | select(.name == "sensorbro_device_info" and .labels.device == $d)] | .[0].labels.name' "$TEST_TMP/samples.json")"
expect_eq "D1's building" 'Rådhuset' "$(jq -rs --arg d $D1 '[.[] | select(.name == "sensorbro_device_info" and .labels.device == $d)] | .[0].labels.building' "$TEST_TMP/samples.json")"
expect_eq "D1's latest temperature" 21.55 "$(jq -rs --arg d $D1 '[.[] | select(.name == "sensorbro_device_value" and .labels.device == $d and .labels.quantity == "temperature_c")] | .[0].value' "$TEST_TMP/samples.json")"
last_seen=$(sample sensorbro_device_last_seen_seconds $D3)
now=$(date +%s)
awk -v t="$last_seen" -v n="$now" 'BEGIN { exit !(t > n - 60 && t <= n + 1) }' ||
    fail "last seen $last_seen not within a minute of $now"
if command -v promtool >/dev/null; then
    promtool check metrics <"$TEST_TMP/metrics.prom" >"$TEST_TMP/promtool.txt" 2>&1 ||
        fail "promtool check metrics: $(cat "$TEST_TMP/promtool.txt")"
    # the alert rule example of docs/operations.md is a valid rule file
    sed -n '/^An alert rule file/,/^```$/p' "$REPO_DIR/docs/operations.md" | sed '1,3d;$d' >"$TEST_TMP/rules.yml"
    grep -q sensorbro_device_last_seen_seconds "$TEST_TMP/rules.yml" || fail "no rule example found"
    promtool check rules "$TEST_TMP/rules.yml" >"$TEST_TMP/promtool.txt" 2>&1 ||
        fail "promtool check rules: $(cat "$TEST_TMP/promtool.txt")"
else
    log "promtool not installed: the strict parser alone checked /metrics"
fi

# The status page, in Danish by default
expect_eq "status page" 200 "$(curl -s -o "$TEST_TMP/index.html" -w '%{http_code}' "$URL/")"
page=$(cat "$TEST_TMP/index.html")
grep -q '<html lang="da">' <<<"$page" || fail "not Danish"
grep -q 'Sidst hørt' <<<"$page" || fail "no Danish column label"
grep -q 'CO2 &lt;b&gt;&amp;&quot;lab&quot;' <<<"$page" || fail "D1's name not escaped"
! grep -q '<b>&' <<<"$page" || fail "D1's name not escaped"
! grep -qi '<script' <<<"$page" || fail "script on the page"
! grep -qE '(src|href)="(https?:)?//' <<<"$page" || fail "something from elsewhere"
grep -q '<h2 class="building">Rådhuset</h2>' <<<"$page" || fail "no building heading"
grep -q '<h3 class="room">1.12</h3>' <<<"$page" || fail "no room 1.12"
grep -q '<h3 class="room">2.01</h3>' <<<"$page" || fail "no room 2.01"
grep -q '(ingen bygning)' <<<"$page" || fail "D3 not under no building"
for d in $D1 $D2 $D3; do grep -q "id=\"d-$d\"" <<<"$page" || fail "no row for $d"; done
grep -q '21.55 degC' <<<"$page" || fail "D1's latest temperature"
grep -q '3.01 V' <<<"$page" || fail "D1's battery"
grep -q '<svg class="spark"' <<<"$page" || fail "no chart"
grep -q '<polyline' <<<"$page" || fail "no chart line"
# order: building before the unlabelled, room 1.12 before 2.01
[ "$(grep -bo "d-$D1" <<<"$page" | cut -d: -f1)" -lt "$(grep -bo "d-$D2" <<<"$page" | cut -d: -f1)" ] &&
    [ "$(grep -bo "d-$D2" <<<"$page" | cut -d: -f1)" -lt "$(grep -bo "d-$D3" <<<"$page" | cut -d: -f1)" ] ||
    fail "devices not grouped by building and room"

# A device's page, and devices that are not there
expect_eq "device page" 200 "$(curl -s -o "$TEST_TMP/dev.html" -w '%{http_code}' "$URL/device/$D1")"
grep -q '<table class="samples">' "$TEST_TMP/dev.html" || fail "no samples on the device page"
grep -q '21.55 degC' "$TEST_TMP/dev.html" || fail "no latest sample on the device page"
grep -q '21.50 degC' "$TEST_TMP/dev.html" || fail "no earlier sample on the device page"
expect_eq "unknown device" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/device/ffffffffffffffff")"
expect_eq "not an EUI" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/device/%3Cscript%3E")"
expect_eq "POST" 405 "$(curl -s -o /dev/null -w '%{http_code}' -d x "$URL/metrics")"

# Headless Chromium, when Debian's chromium is here: the DOM it builds has the same devices.
CHROMIUM=$(command -v chromium || true)
if [ -n "$CHROMIUM" ]; then
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --dump-dom "$URL/" \
        >"$TEST_TMP/dom.html" 2>"$TEST_TMP/chromium.log" || fail "chromium: $(tail -3 "$TEST_TMP/chromium.log")"
    for d in $D1 $D2 $D3; do grep -q "id=\"d-$d\"" "$TEST_TMP/dom.html" || fail "chromium: no row for $d"; done
    grep -q '<svg' "$TEST_TMP/dom.html" || fail "chromium: no chart"
    # a screenshot in the build tree (ctest runs the test there) for people to look at
    shot=$PWD/http_status_page.png
    timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --window-size=1100,700 --screenshot="$shot" "$URL/" >>"$TEST_TMP/chromium.log" 2>&1 ||
        fail "chromium screenshot: $(tail -3 "$TEST_TMP/chromium.log")"
    [ -s "$shot" ] || fail "no screenshot"
    log "screenshot of the status page: $shot"
else
    log "chromium not installed: skipped the headless browser check"
fi
stop_sensorbro

# Basic auth, and English
printf 's3cret-pass\n' >"$TEST_TMP/http.pw"
chmod 600 "$TEST_TMP/http.pw"
HTTP_PORT=$(free_port)
URL=http://127.0.0.1:$HTTP_PORT
start_sensorbro auth --set gateway.id=gw-auth --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$(free_port)" --set coap.bind=127.0.0.1 --set http.port="$HTTP_PORT" \
    --set http.user=staff --set http.password_file="$TEST_TMP/http.pw" --set http.language=en
wait_until "auth daemon's endpoint" 10 grep -q "http: serving.*(basic auth)" "$TEST_TMP/auth.log"
expect_eq "no password" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/")"
expect_eq "no password, metrics" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/metrics")"
expect_eq "wrong password" 401 "$(curl -s -o /dev/null -w '%{http_code}' -u staff:s3cret-pasS "$URL/")"
expect_eq "wrong user" 401 "$(curl -s -o /dev/null -w '%{http_code}' -u stafff:s3cret-pass "$URL/")"
expect_eq "password" 200 "$(curl -s -o "$TEST_TMP/en.html" -w '%{http_code}' -u staff:s3cret-pass "$URL/")"
grep -q '<html lang="en">' "$TEST_TMP/en.html" || fail "not English"
grep -q 'Last seen\|No device has sent data yet' "$TEST_TMP/en.html" || fail "no English words"
! grep -q s3cret "$TEST_TMP/auth.log" || fail "the password is in the log"
stop_sensorbro

# A password file that is not there stops start-up, naming the key's line and the file.
printf '[http]\nuser = staff\npassword_file = %s/missing.pw\n' "$TEST_TMP" >"$TEST_TMP/bad.ini"
status=0
(cd "$TEST_TMP" && timeout 20 "$SENSORBRO_BIN" -c "$TEST_TMP/bad.ini" --set mqtt.port="$MQTT_PORT" \
    --set coap.port="$(free_port)" --set coap.bind=127.0.0.1 --set http.port="$(free_port)" \
    --set semtech_udp.bind=127.0.0.1 --set semtech_udp.port="$(free_port)" \
    "${ROOT_KEEP_ARGS[@]}") >"$TEST_TMP/bad.log" 2>&1 || status=$?
[ "$status" -ne 0 ] || fail "started with a missing password file"
grep -q "$TEST_TMP/bad.ini:3: http.password_file: cannot open $TEST_TMP/missing.pw" "$TEST_TMP/bad.log" ||
    fail "missing password file: $(cat "$TEST_TMP/bad.log")"
log "ok"
