// ---- event: a ChirpStack v4 uplink event (what OS2iot hands a LoRaWAN decoder) ----
// Read as the gateway's LNS feed reads it (gateway/src/ingest/lns_mqtt.c,
// docs/lns-mqtt.md): devEui, fCnt, fPort and the base64 `data` are required; radio
// metadata (rxInfo, txInfo) is taken when well-formed and never costs the data; the
// reception time is the event's `time`, else the best reception's gwTime, else its nsTime,
// trusted when within a week before and 5 minutes after this decoder's own clock (OS2iot
// decodes as a message arrives), else that clock is the reception time.

var MAX_DATA_BYTES = 242;
var MAX_EVENT_AGE_MS = 604800 * 1000; // lns_mqtt.max_event_age_s, the gateway's default
var MAX_EVENT_AHEAD_MS = 300 * 1000; // lns_mqtt.max_event_ahead_s
var MAX_GATEWAYS = 4;
var BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Standard padded base64 to an array of bytes, or { error } as the gateway words it.
function decodeBase64(text) {
    var len = text.length;
    if (len % 4 !== 0) return { error: "data: base64 length " + len + " is not a multiple of 4" };
    var pad = 0;
    var i;
    for (i = 0; i < len; i++) {
        var c = text.charAt(i);
        if (c === "=" && i + 2 >= len) {
            pad++;
            continue;
        }
        if (BASE64_ALPHABET.indexOf(c) < 0 || pad > 0) return { error: "data: not base64 (character " + i + ")" };
    }
    var decoded = len / 4 * 3 - pad;
    if (decoded > MAX_DATA_BYTES) return { error: "data: " + decoded + " bytes (max " + MAX_DATA_BYTES + ")" };
    var bytes = [];
    for (i = 0; i < len; i += 4) {
        var n = 0;
        for (var j = 0; j < 4; j++) {
            var v = BASE64_ALPHABET.indexOf(text.charAt(i + j));
            n = n * 64 + (v < 0 ? 0 : v);
        }
        bytes.push((n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    }
    bytes.length = decoded;
    return { bytes: bytes };
}

// The best MAX_GATEWAYS receptions, best first (higher RSSI, then higher SNR; a gateway
// listed twice counts once), and the gwTime and nsTime of the best that has one.
function eventReceptions(rxInfo) {
    var best = [];
    if (!Array.isArray(rxInfo)) return best;
    for (var i = 0; i < rxInfo.length; i++) {
        var e = rxInfo[i];
        if (!isObject(e)) continue;
        var gw = deviceId(e.gatewayId);
        if (gw === null || !isWholeNumber(e.rssi, -200, 50) || typeof e.snr !== "number" ||
            !(e.snr >= -50 && e.snr <= 50))
            continue;
        var r = { gateway: gw, rssi: e.rssi, snr: Math.fround(e.snr), gwTimeMs: parseTimeMs(e.gwTime),
            nsTimeMs: parseTimeMs(e.nsTime) };
        var duplicate = false;
        for (var k = 0; k < best.length; k++) duplicate = duplicate || best[k].gateway === gw;
        if (duplicate) continue;
        var pos = best.length;
        while (pos > 0 && (r.rssi !== best[pos - 1].rssi ? r.rssi > best[pos - 1].rssi : r.snr > best[pos - 1].snr))
            pos--;
        if (pos >= MAX_GATEWAYS) continue;
        best.splice(pos, 0, r);
        if (best.length > MAX_GATEWAYS) best.length = MAX_GATEWAYS;
    }
    return best;
}

// SNR as the gateway prints it: the float in 0.01 dB steps, rounded half away from zero
// in float arithmetic and truncated to an integer, as render.c does.
function roundSnr(snrFloat) {
    var centi = Math.fround(snrFloat * 100);
    return Math.trunc(Math.fround(centi < 0 ? centi - 0.5 : centi + 0.5)) / 100;
}

// Parses the event: { device, fcnt, fport, bytes, radio, heardMs, deduplicationId } or
// { error }. nowMs: this decoder's clock, the reception time when the event's is unusable.
function parseEvent(ev, nowMs) {
    if (!isObject(ev)) return { error: "event: not a JSON object" };
    if (!isObject(ev.deviceInfo)) return { error: "deviceInfo: missing or not an object" };
    if (typeof ev.deviceInfo.devEui !== "string") return { error: "deviceInfo.devEui: missing or not a string" };
    var device = deviceId(ev.deviceInfo.devEui);
    if (device === null) return { error: "deviceInfo.devEui: not 16 hex digits" };
    if (!isWholeNumber(ev.fCnt, 0, 4294967295)) return { error: "fCnt: missing or not an integer 0..4294967295" };
    if (ev.data === undefined || ev.data === null || ev.data === "")
        return { error: "data: none (an uplink without FRMPayload carries no Uplink)" };
    if (typeof ev.data !== "string") return { error: "data: not a string" };
    if (ev.data.length > (MAX_DATA_BYTES + 2) / 3 * 4)
        return { error: "data: about " + Math.floor(ev.data.length / 4) * 3 + " bytes (max " + MAX_DATA_BYTES + ")" };
    var data = decodeBase64(ev.data);
    if (data.error !== undefined) return data;
    if (!isWholeNumber(ev.fPort, 1, 255)) return { error: "fPort: missing or not an integer 1..255" };
    if (ev.fPort !== UPLINK_FPORT)
        return { error: "fPort " + ev.fPort + ": Sensorbro uplinks come on FPort " + UPLINK_FPORT };

    var best = eventReceptions(ev.rxInfo);
    var radio = { fcnt: ev.fCnt, fport: ev.fPort, rssi_dbm: 0, snr_db: 0 };
    var gwTimeMs = -1, nsTimeMs = -1;
    for (var i = 0; i < best.length; i++) {
        if (gwTimeMs < 0) gwTimeMs = best[i].gwTimeMs;
        if (nsTimeMs < 0) nsTimeMs = best[i].nsTimeMs;
    }
    if (best.length > 0) {
        radio.rssi_dbm = best[0].rssi;
        radio.snr_db = roundSnr(best[0].snr);
    }
    var tx = ev.txInfo;
    if (isObject(tx)) {
        if (isWholeNumber(tx.frequency, 1, 4294967295)) radio.frequency_hz = tx.frequency;
        var lora = isObject(tx.modulation) ? tx.modulation.lora : null;
        if (isObject(lora) && isWholeNumber(lora.spreadingFactor, 5, 12) &&
            isWholeNumber(lora.bandwidth, 1000, 1625000) && lora.bandwidth % 1000 === 0)
            radio.datr = "SF" + lora.spreadingFactor + "BW" + lora.bandwidth / 1000;
    }
    radio.gateways = best.map(function (r) { return r.gateway; });

    var t = parseTimeMs(ev.time);
    if (t < 0) t = gwTimeMs;
    if (t < 0) t = nsTimeMs;
    var heardMs = 0;
    if (t >= 0 && !(nowMs - t > MAX_EVENT_AGE_MS || t - nowMs > MAX_EVENT_AHEAD_MS)) heardMs = t;
    return {
        device: device, bytes: data.bytes, radio: radio, heardMs: heardMs,
        deduplicationId: typeof ev.deduplicationId === "string" ? ev.deduplicationId : null
    };
}

// The gateway's JSON message for a ChirpStack uplink event, as far as an event tells it:
// no gateway, epoch or receipt of Sensorbro's; `id` is ChirpStack's deduplicationId.
// Returns { message } or { error }.
function messageFromEvent(event, nowMs) {
    var ev = parseEvent(event, nowMs);
    if (ev.error !== undefined) return ev;
    var decoded = decodeUplinkBytes(ev.bytes, ev.heardMs !== 0 ? ev.heardMs : nowMs);
    if (decoded.error !== undefined) return decoded;
    var rendered = renderUplink(decoded.uplink);
    if (rendered.error !== undefined) return rendered;
    var u = rendered.message;
    var m = {};
    if (ev.deduplicationId !== null) m.id = ev.deduplicationId;
    m.device = ev.device;
    m.seq = decoded.uplink.seq;
    m.time = u.time;
    if (ev.heardMs !== 0) m.heard = formatTimeMs(ev.heardMs, true);
    m.transport = "chirpstack";
    for (var r in ev.radio) {
        if (Object.prototype.hasOwnProperty.call(ev.radio, r)) m[r] = ev.radio[r];
    }
    for (var k in u) {
        if (Object.prototype.hasOwnProperty.call(u, k) && k !== "time") m[k] = u[k];
    }
    return { message: m };
}
