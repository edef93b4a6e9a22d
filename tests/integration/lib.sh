# lib.sh - shared helpers for the integration tests: a private temp dir, free ports, real
# mosquitto and sensorbro processes started in the background and stopped by PID, and
# bounded waits. Every loop here is bounded in count and time.
#
# Binaries come from the environment ctest sets (tests/CMakeLists.txt); the fallbacks let a
# script run by hand from the repository root after a build in ./build.

set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SENSORBRO_BIN=${SENSORBRO_BIN:-$REPO_DIR/build/gateway/sensorbro}
SENSORBROCTL_BIN=${SENSORBROCTL_BIN:-$REPO_DIR/build/tools/sensorbroctl/sensorbroctl}
FLEET_SIM_BIN=${FLEET_SIM_BIN:-$REPO_DIR/build/tools/fleet-sim/sensorbro-fleet-sim}
FREEPORT_BIN=${FREEPORT_BIN:-$REPO_DIR/build/tests/sb-freeport}
MOSQUITTO_BIN=${MOSQUITTO_BIN:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
COAP_CLIENT_BIN=${COAP_CLIENT_BIN:-$(command -v coap-client-notls)}
PROTOC_BIN=${PROTOC_BIN:-$(command -v protoc)}
PROTO_DIR=${PROTO_DIR:-$REPO_DIR/proto}

TEST_NAME=$(basename "$0" .sh)
TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sensorbro-$TEST_NAME.XXXXXX")
STARTED_PIDS=()
CLEANUP_HOOKS=() # functions run at exit, after the processes stopped, with the exit status
MOSQ_PID=""
SB_PID=""

log() { printf '[%s] %s\n' "$TEST_NAME" "$*" >&2; }

fail()
{
    log "FAIL: $*"
    exit 1
}

# Stops a process started here: SIGTERM, up to 10 s, then SIGKILL. Sets STOP_STATUS to its
# exit status (not printed: `wait` only works in this shell, not in a $(...) subshell).
STOP_STATUS=0
stop_pid()
{
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not stop within 10 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    STOP_STATUS=0
    wait "$pid" 2>/dev/null || STOP_STATUS=$?
}

cleanup()
{
    local rc=$?
    local pid
    for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
        pid=${STARTED_PIDS[$i]}
        if kill -0 "$pid" 2>/dev/null; then stop_pid "$pid"; fi
    done
    for hook in "${CLEANUP_HOOKS[@]}"; do "$hook" "$rc" || true; done
    if [ "$rc" -eq 0 ]; then
        rm -rf "$TEST_TMP"
    else
        log "kept $TEST_TMP for inspection; last log lines:"
        for f in "$TEST_TMP"/*.log; do
            [ -f "$f" ] || continue
            echo "--- $f" >&2
            tail -n 20 "$f" >&2
        done
    fi
    exit "$rc"
}
trap cleanup EXIT

# wait_until DESCRIPTION TIMEOUT_S COMMAND...: polls every 0.1 s until COMMAND succeeds.
wait_until()
{
    local what=$1 timeout_s=$2 i
    shift 2
    for ((i = 0; i < timeout_s * 10; i++)); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    fail "timed out after ${timeout_s} s waiting for: $what"
}

free_port() { "$FREEPORT_BIN"; }

# start_mosquitto PORT [EXTRA CONFIG LINE]...: a broker on 127.0.0.1:PORT that queues
# plenty for offline persistent sessions. Sets MOSQ_PID. MOSQ_PROBE_ARGS: what the probe
# that waits for it needs besides the port (credentials, when anonymous is off).
MOSQ_PROBE_ARGS=()
start_mosquitto()
{
    local port=$1
    shift
    local conf=$TEST_TMP/mosquitto-$port.conf
    {
        echo "listener $port 127.0.0.1"
        echo "allow_anonymous true"
        echo "max_queued_messages 100000"
        echo "persistence_location $TEST_TMP/"
        # Started as root, mosquitto would switch to its own user, which cannot read or
        # write this test's private directory (ACL files, persistence).
        [ "$(id -u)" -ne 0 ] || echo "user root"
        for line in "$@"; do echo "$line"; done
    } >"$conf"
    "$MOSQUITTO_BIN" -c "$conf" >>"$TEST_TMP/mosquitto.log" 2>&1 &
    MOSQ_PID=$!
    STARTED_PIDS+=("$MOSQ_PID")
    wait_until "mosquitto on port $port" 10 mosquitto_pub -p "$port" "${MOSQ_PROBE_ARGS[@]}" \
        -t sensorbro-test/probe -m up
}

stop_mosquitto()
{
    stop_pid "$MOSQ_PID"
    MOSQ_PID=""
    [ "$STOP_STATUS" -eq 0 ] || log "mosquitto exited with status $STOP_STATUS"
}

# subscribe_persistent PORT CLIENT_ID FILTER: creates a persistent QoS 1 session that the
# broker keeps queueing for while nobody is connected; collect later with collect_messages.
subscribe_persistent()
{
    mosquitto_sub -p "$1" -i "$2" -c -q 1 -t "$3" -E ||
        fail "cannot subscribe $2 to $3 on port $1"
}

# collect_messages PORT CLIENT_ID FILTER COUNT TIMEOUT_S OUTFILE [mosquitto_sub options]:
# resumes the session and writes "topic payload" lines until COUNT messages arrived or
# TIMEOUT_S passed. OUTFILE.mid has the same lines with the broker's packet id in front,
# for count_new_messages.
collect_messages()
{
    mosquitto_sub -p "$1" -i "$2" -c -q 1 -t "$3" -F '%m %t %p' -C "$4" -W "$5" "${@:7}" \
        >"$6.mid" 2>>"$TEST_TMP/sub.log" || true
    cut -d' ' -f2- "$6.mid" >"$6"
}

# collect_new_messages PORT CLIENT_ID FILTER COUNT TIMEOUT_S OUTFILE [EARLIER]...: like
# collect_messages, but a message that is the broker delivering again one of an EARLIER
# collection (or of this one: see count_new_messages for why it happens) is not counted
# nor kept: resumes the session until COUNT new messages are in, at most 5 times.
collect_new_messages()
{
    local port=$1 id=$2 filter=$3 count=$4 timeout_s=$5 out=$6 tries got e
    shift 6
    : >"$out.mid"
    for ((tries = 0; tries < 5; tries++)); do
        got=$(wc -l <"$out.mid")
        [ "$got" -lt "$count" ] || break
        collect_messages "$port" "$id" "$filter" $((count - got)) "$timeout_s" "$out.part"
        for e in "$@" "$out"; do
            [ -s "$e.mid" ] || continue
            { grep -vxFf "$e.mid" "$out.part.mid" || true; } >"$out.part.new"
            mv "$out.part.new" "$out.part.mid"
        done
        cat "$out.part.mid" >>"$out.mid"
    done
    rm -f "$out.part" "$out.part.mid"
    cut -d' ' -f2- "$out.mid" >"$out"
}

# count_new_messages EARLIER LATER: how many messages of the collection LATER are not the
# broker delivering again one of EARLIER. mosquitto_sub -C exits as soon as it has its
# count, and the broker may not have taken the PUBACK of the last message by then: it
# delivers that message again to the resumed session, with the same packet id and bytes
# (MQTT QoS 1). A message published again by sensorbro comes with a new packet id, so it
# still counts.
count_new_messages()
{
    { grep -vxFf "$1.mid" "$2.mid" || true; } | wc -l
}

# Started as root (a CI container), the daemon becomes service.run_as_user (sensorbro) once
# its sockets are bound; that user may not exist here and cannot read this test's private
# directory. Tests that are not about the drop keep root with these options (empty when not
# root); privilege_drop.sh is the test of the drop.
ROOT_KEEP_ARGS=()
[ "$(id -u)" -ne 0 ] || ROOT_KEEP_ARGS=(--set service.run_as_user=root)
# The HTTP endpoint (http.enabled, on by default) of a daemon a test starts itself, on a
# free port rather than the default one, which tests running at once would meet on.
HTTP_ARGS=(--set http.port="$(free_port)")
# The same for CoAP over DTLS (default 5684) and the commissioning window, for tests that
# start the daemon themselves (start_sensorbro adds them on its own).
COAP_ARGS=(--set coap.dtls_bind=127.0.0.1 --set coap.dtls_port="$(free_port)"
    --set coap.accept_unregistered=true)

# start_sensorbro NAME [sensorbro options]...: starts the daemon in its own directory
# (journal there) with its log in NAME.log. Sets SB_PID and SB_DIR.
start_sensorbro()
{
    local name=$1
    shift
    SB_DIR=$TEST_TMP/$name
    mkdir -p "$SB_DIR"
    # The Semtech UDP ingest is on by default: give it a free port on loopback unless the
    # test does, so that tests running at once do not meet on port 1700. (Not both: a key
    # given twice with --set is refused.)
    local defaults=() args=" $* "
    [[ $args == *" semtech_udp.bind="* ]] || defaults+=(--set semtech_udp.bind=127.0.0.1)
    [[ $args == *" semtech_udp.port="* ]] || defaults+=(--set semtech_udp.port="$(free_port)")
    # The HTTP endpoint is on by default on one port too: a free one for each daemon.
    [[ $args == *" http.port="* ]] || defaults+=(--set http.port="$(free_port)")
    [[ $args == *" service.run_as_user="* ]] || defaults+=("${ROOT_KEEP_ARGS[@]}")
    # CoAP over DTLS likewise (default 5684), on loopback. Most tests post for devices they
    # never register: they run in the commissioning window unless they say otherwise.
    [[ $args == *" coap.dtls_bind="* ]] || defaults+=(--set coap.dtls_bind=127.0.0.1)
    [[ $args == *" coap.dtls_port="* ]] || defaults+=(--set coap.dtls_port="$(free_port)")
    [[ $args == *" coap.accept_unregistered="* ]] || defaults+=(--set coap.accept_unregistered=true)
    (cd "$SB_DIR" && exec "$SENSORBRO_BIN" "${defaults[@]}" "$@") >>"$TEST_TMP/$name.log" 2>&1 &
    SB_PID=$!
    STARTED_PIDS+=("$SB_PID")
    wait_until "sensorbro $name listening" 10 grep -q "coap: listening" "$TEST_TMP/$name.log"
}

# stop_sensorbro: SIGTERM and check that the daemon exited cleanly (status 0; under ASan a
# leak or error makes it non-zero).
stop_sensorbro()
{
    stop_pid "$SB_PID"
    SB_PID=""
    [ "$STOP_STATUS" -eq 0 ] || fail "sensorbro exited with status $STOP_STATUS"
}

# encode_uplink TEXTPROTO OUTFILE: encodes an Uplink written in protobuf text format with
# Google's protoc, independently of sensorbro's own code.
encode_uplink()
{
    printf '%s\n' "$1" | "$PROTOC_BIN" --encode=sensorbro.v1.Uplink -I"$PROTO_DIR" \
        "$PROTO_DIR/sensorbro/v1/telemetry.proto" >"$2"
}

# coap_post PORT PATH FILE [coap-client options]: posts FILE with libcoap's own
# coap-client and prints the response code with its diagnostic payload, e.g. "2.04" or
# "4.00 protobuf: not a valid Uplink ...", or nothing when no response came (coap-client
# exits 0 even then, so its exit status proves nothing).
coap_post()
{
    local port=$1 path=$2 file=$3
    shift 3
    local out line code diag
    out=$("$COAP_CLIENT_BIN" -v 6 -B 10 "$@" -m post -f "$file" "coap://127.0.0.1:$port$path" 2>&1) || true
    line=$(printf '%s\n' "$out" | grep -E '^v:1 t:(CON|ACK|NON) c:[2-5]\.[0-9]{2} ' | tail -n 1) || true
    [ -n "$line" ] || return 0
    code=$(sed -E 's/^v:1 t:[A-Z]+ c:([2-5]\.[0-9]{2}) .*/\1/' <<<"$line")
    diag=$(sed -nE "s/.*:: '(.*)'\$/\1/p" <<<"$line")
    echo "$code${diag:+ $diag}"
}

# coap_request METHOD PORT PATH: like coap_post for any method, without a payload.
coap_request()
{
    local out line
    out=$("$COAP_CLIENT_BIN" -v 6 -B 10 -m "$1" "coap://127.0.0.1:$2$3" 2>&1) || true
    line=$(printf '%s\n' "$out" | grep -E '^v:1 t:(CON|ACK|NON) c:[2-5]\.[0-9]{2} ' | tail -n 1) || true
    [ -n "$line" ] || return 0
    sed -E 's/^v:1 t:[A-Z]+ c:([2-5]\.[0-9]{2}) .*/\1/' <<<"$line"
}

# pki_new_ca NAME; pki_new_cert NAME CA SUBJECT_ALT_NAME: a test PKI in $PKI made with the
# openssl CLI, EC P-256 keys valid for a day: $PKI/NAME.pem and $PKI/NAME.key.
PKI=$TEST_TMP/pki
pki_new_ca()
{
    mkdir -p "$PKI"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
        -subj "/CN=$1" -keyout "$PKI/$1.key" -out "$PKI/$1.pem" 2>>"$TEST_TMP/openssl.log" ||
        fail "openssl: cannot make CA $1"
}
pki_new_cert()
{
    mkdir -p "$PKI"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$1" \
        -keyout "$PKI/$1.key" -out "$PKI/$1.csr" 2>>"$TEST_TMP/openssl.log" &&
        printf 'subjectAltName=%s\n' "$3" >"$PKI/$1.ext" &&
        openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/$2.pem" -CAkey "$PKI/$2.key" \
            -CAcreateserial -days 1 -extfile "$PKI/$1.ext" -out "$PKI/$1.pem" \
            2>>"$TEST_TMP/openssl.log" || fail "openssl: cannot make certificate $1"
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq()
{
    [ "$2" == "$3" ] || fail "$1: expected '$2', got '$3'"
}

# chirpstack_event DEDUP_ID DEV_EUI FCNT BASE64_DATA [APPLICATION_ID] [TIME]: a ChirpStack v4
# uplink event as its MQTT integration publishes it (one line of JSON), heard by two
# gateways, the stronger one listed second. TIME (RFC 3339, default a fixed instant in
# November 2026) is the event's `time`, when the network server says it was heard.
chirpstack_event()
{
    local app=${5:-a1b2c3d4-0000-1111-2222-333344445555}
    local time=${6:-2026-11-23T09:17:03.123456Z}
    printf '{"deduplicationId":"%s","time":"%s","deviceInfo":{"tenantId":"52f14cd4-c6f1-4fbd-8f87-4025e1d49242","tenantName":"Kommune","applicationId":"%s","applicationName":"indeklima","deviceProfileId":"p","deviceProfileName":"sensorbro","deviceName":"room-12","devEui":"%s","tags":{}},"devAddr":"01020304","adr":true,"dr":5,"fCnt":%s,"fPort":2,"confirmed":false,"data":"%s","rxInfo":[{"gatewayId":"0016c001ff10a235","uplinkId":1,"rssi":-97,"snr":7.5,"context":"AAAA"},{"gatewayId":"0016C001FF10A236","uplinkId":2,"rssi":-80,"snr":3.0,"context":"AAAA"}],"txInfo":{"frequency":868100000,"modulation":{"lora":{"bandwidth":125000,"spreadingFactor":7,"codeRate":"CR_4_5"}}}}\n' \
        "$1" "$time" "$app" "$2" "$3" "$4"
}
