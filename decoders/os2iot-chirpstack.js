// os2iot-chirpstack.js - OS2iot payload decoder: a Sensorbro node's LoRaWAN uplink, straight from ChirpStack.
//
// Paste into OS2iot: Payload decoders > Create new, for LoRaWAN devices that send to
// OS2iot's ChirpStack with no Sensorbro gateway. Output: the gateway's JSON message for
// the uplink (values and samples with the same keys, units and sample times).
//
// Made by decoders/build.js from decoders/src/ of the Sensorbro repository: edit those,
// not this file. docs/os2iot.md, "Decoders", says what it emits and how it is tested.
// Portable ES2015 (Node.js in OS2iot, QuickJS in ChirpStack): no require, no import,
// no Buffer, no atob.

var SENSORBRO = (function () {
"use strict";

// ---- util: checks on untrusted JSON ----

function isObject(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v);
}

function isWholeNumber(v, lo, hi) {
    return typeof v === "number" && v >= lo && v <= hi && Math.floor(v) === v;
}

// 16 hex digits, lower-cased, or null.
function deviceId(v) {
    return typeof v === "string" && /^[0-9A-Fa-f]{16}$/.test(v) ? v.toLowerCase() : null;
}

// ---- time: RFC 3339 as the gateway writes and reads it (gateway/src/util/clock.c) ----

function pad(n, width) {
    var s = String(n);
    while (s.length < width) s = "0" + s;
    return s;
}

// "2026-11-23T09:09:40Z" (withMs: "...40.123Z") for unix ms, or null outside years 0-9999.
function formatTimeMs(ms, withMs) {
    if (!isFinite(ms)) return null;
    var d = new Date(Math.floor(ms));
    if (isNaN(d.getTime())) return null;
    var year = d.getUTCFullYear();
    if (year < 0 || year > 9999) return null;
    var text = pad(year, 4) + "-" + pad(d.getUTCMonth() + 1, 2) + "-" + pad(d.getUTCDate(), 2) +
        "T" + pad(d.getUTCHours(), 2) + ":" + pad(d.getUTCMinutes(), 2) + ":" + pad(d.getUTCSeconds(), 2);
    return text + (withMs ? "." + pad(d.getUTCMilliseconds(), 3) : "") + "Z";
}

function formatTimeS(s) {
    return formatTimeMs(s * 1000, false);
}

// RFC 3339 ("2026-11-23T09:17:03.123456789Z", "+01:00" offsets too) to unix ms, or -1:
// what the gateway's LNS feed accepts (fractions past milliseconds cut, years from 1970).
function parseTimeMs(text) {
    if (typeof text !== "string" || text.length < 20 || text.length > 40) return -1;
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/.exec(text);
    if (m === null) return -1;
    var y = +m[1], mo = +m[2], d = +m[3], h = +m[4], mi = +m[5], sec = +m[6];
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return -1;
    var ms = 0;
    if (m[7] !== undefined) ms = +(m[7] + "00").slice(0, 3);
    var offsetS = 0;
    if (m[8] === undefined) {
        var oh = +m[10], om = +m[11];
        if (oh > 23 || om > 59) return -1;
        offsetS = (oh * 3600 + om * 60) * (m[9] === "+" ? 1 : -1);
    }
    // Date.UTC normalises as timegm() does: 31 February is 3 March, second 60 the next minute.
    return Date.UTC(y, mo - 1, d, h, mi, sec) - offsetS * 1000 + ms;
}

// ---- quantities: the gateway's table (gateway/src/quantity.c), one row per wire id ----
// id: Uplink field number (4-13) or extra quantity id (32 and up); key: the JSON key, unit
// included; divisor: published value = wire value / divisor. Ids are wire format: never
// change or reuse one. tests/decoders/run.js checks this table against quantity.c.
var QUANTITIES = [
    { id: 4, name: "temperature", key: "temperature_c", divisor: 100 },
    { id: 5, name: "relative_humidity", key: "relative_humidity_pct", divisor: 10 },
    { id: 6, name: "co2", key: "co2_ppm", divisor: 1 },
    { id: 7, name: "battery", key: "battery_v", divisor: 1000 },
    { id: 8, name: "sound_level", key: "sound_level_dba", divisor: 10 },
    { id: 9, name: "occupancy", key: "occupancy_people", divisor: 1 },
    { id: 10, name: "illuminance", key: "illuminance_lx", divisor: 1 },
    { id: 11, name: "pressure", key: "pressure_hpa", divisor: 100 },
    { id: 12, name: "water_volume", key: "water_volume_l", divisor: 1 },
    { id: 13, name: "energy", key: "energy_wh", divisor: 1 },
    { id: 32, name: "voc_index", key: "voc_index", divisor: 1 },
    { id: 33, name: "pm2_5", key: "pm2_5_ugm3", divisor: 10 },
    { id: 34, name: "pm10", key: "pm10_ugm3", divisor: 10 },
    { id: 35, name: "power", key: "power_w", divisor: 1 },
    { id: 36, name: "distance", key: "distance_mm", divisor: 1 },
    { id: 37, name: "contact_open", key: "contact_open", divisor: 1 },
    { id: 38, name: "motion_events", key: "motion_events", divisor: 1 },
    { id: 39, name: "soil_moisture", key: "soil_moisture_pct", divisor: 10 }
];
var FIRST_FIXED_QUANTITY = 4;
var LAST_FIXED_QUANTITY = 13;

function quantityById(id) {
    for (var i = 0; i < QUANTITIES.length; i++) {
        if (QUANTITIES[i].id === id) return QUANTITIES[i];
    }
    return null;
}

// A threshold or quantity named by id (6), schema name ("co2") or JSON key ("co2_ppm").
function quantityByName(name) {
    for (var i = 0; i < QUANTITIES.length; i++) {
        if (QUANTITIES[i].name === name || QUANTITIES[i].key === name) return QUANTITIES[i];
    }
    return null;
}

// ---- wire: a protobuf wire-format reader for exactly sensorbro.v1.Uplink and Series ----
// It accepts and refuses what the gateway's protobuf-c 1.4 unpack does, so the decoders
// and the gateway agree on every frame: varints of at most 10 bytes (uint32 fields keep
// the low 32 bits), length prefixes of at most 5 bytes and within the frame, wire types
// 0, 1, 2 and 5 only (groups are refused), a known field with the wrong wire type refused
// (but a bool takes any, as protobuf-c does), repeated sint32 packed or not and
// concatenated over occurrences, the last occurrence of a scalar winning, unknown fields
// skipped. Every read is bounds-checked; a bad frame makes readUplink return null, never
// throw, and every loop advances by at least one byte, so no input can make it spin.

// The marker thrown inside the reader and caught in readUplink: bad input, not a bug.
var WIRE_BAD = { wireBad: true };

function wireFail() {
    throw WIRE_BAD;
}

// A field header at pos: { field, wire, next }. protobuf-c reads at most 5 bytes and
// refuses field number 0.
function wireTag(b, pos, end) {
    var first = b[pos];
    if ((first & 0xf8) === 0) wireFail();
    var wire = first & 7;
    var field = (first & 0x7f) >>> 3;
    if ((first & 0x80) === 0) return { field: field, wire: wire, next: pos + 1 };
    var max = end - pos < 5 ? end - pos : 5;
    var scale = 16; // 2^4: the first byte carried 4 bits of the field number
    for (var i = 1; i < max; i++) {
        var byte = b[pos + i];
        field += (byte & 0x7f) * scale;
        scale *= 128;
        if ((byte & 0x80) === 0) return { field: field % 4294967296, wire: wire, next: pos + i + 1 };
    }
    return wireFail();
}

// Length of the varint at pos, at most 10 bytes; refused when it does not end in time.
function wireVarintLength(b, pos, end) {
    var max = end - pos < 10 ? end - pos : 10;
    for (var i = 0; i < max; i++) {
        if ((b[pos + i] & 0x80) === 0) return i + 1;
    }
    return wireFail();
}

// The uint32 of a varint of len bytes at pos: protobuf-c's parse_uint32 (bytes past the
// fifth are ignored, bits past 32 dropped).
function wireUint32(b, pos, len) {
    var v = b[pos] & 0x7f;
    if (len > 1) v |= (b[pos + 1] & 0x7f) << 7;
    if (len > 2) v |= (b[pos + 2] & 0x7f) << 14;
    if (len > 3) v |= (b[pos + 3] & 0x7f) << 21;
    if (len > 4) v |= b[pos + 4] << 28;
    return v >>> 0;
}

function wireUnzigzag32(v) {
    return ((v >>> 1) ^ -(v & 1)) | 0;
}

// One field, scanned: { field, wire, start (of its bytes, the length prefix included),
// len (all of them), data (start of a length-delimited payload), dataLen }.
function wireMember(b, pos, end) {
    var tag = wireTag(b, pos, end);
    var at = tag.next;
    var rem = end - at;
    var m = { field: tag.field, wire: tag.wire, start: at, len: 0, data: at, dataLen: 0 };
    if (tag.wire === 0) {
        m.len = wireVarintLength(b, at, end);
    } else if (tag.wire === 1) {
        if (rem < 8) wireFail();
        m.len = 8;
    } else if (tag.wire === 5) {
        if (rem < 4) wireFail();
        m.len = 4;
    } else if (tag.wire === 2) {
        var hdrMax = rem < 5 ? rem : 5;
        var value = 0;
        var scale = 1;
        var i;
        for (i = 0; i < hdrMax; i++) {
            value += (b[at + i] & 0x7f) * scale;
            scale *= 128;
            if ((b[at + i] & 0x80) === 0) break;
        }
        if (i === hdrMax) wireFail(); // also a zero-length remainder
        var hdr = i + 1;
        if (value > 2147483647 || hdr + value > rem) wireFail();
        m.len = hdr + value;
        m.data = at + hdr;
        m.dataLen = value;
    } else {
        wireFail(); // 3 and 4 (groups), 6 and 7: protobuf-c refuses them all
    }
    return m;
}

function wireScalarUint32(b, m) {
    if (m.wire !== 0) wireFail();
    return wireUint32(b, m.start, m.len);
}

function wireBool(b, m) {
    // protobuf-c's parse_boolean: any wire type, true when any byte of the member (a length
    // prefix included) has a bit set besides the continuation bit.
    for (var i = 0; i < m.len; i++) {
        if (b[m.start + i] & 0x7f) return true;
    }
    return false;
}

// Appends the sint32 elements of m (packed or a single varint) to out.
function wireRepeatedSint32(b, m, out) {
    if (m.wire === 0) {
        out.push(wireUnzigzag32(wireUint32(b, m.start, m.len)));
        return;
    }
    if (m.wire !== 2) wireFail();
    var at = m.data;
    var end = m.data + m.dataLen;
    while (at < end) {
        var n = wireVarintLength(b, at, end);
        out.push(wireUnzigzag32(wireUint32(b, at, n)));
        at += n;
    }
}

function wireSeries(b, pos, end) {
    var s = { quantity: 0, channel: 0, samples: [] };
    while (pos < end) {
        var m = wireMember(b, pos, end);
        if (m.field === 1) s.quantity = wireScalarUint32(b, m);
        else if (m.field === 2) s.channel = wireScalarUint32(b, m);
        else if (m.field === 3) wireRepeatedSint32(b, m, s.samples);
        pos = m.start + m.len;
    }
    return s;
}

// bytes: an array of byte values (Array or Uint8Array). Returns the Uplink as the schema
// has it (series still delta-coded), or null when the bytes are not a valid Uplink.
function readUplink(bytes) {
    var u = {
        seq: 0, interval_s: 0, age_s: 0, status: 0, time: 0, config_version: 0, alert: false,
        fixed: {}, extra: []
    };
    for (var q = FIRST_FIXED_QUANTITY; q <= LAST_FIXED_QUANTITY; q++) u.fixed[q] = [];
    var pos = 0;
    var end = bytes.length;
    try {
        while (pos < end) {
            var m = wireMember(bytes, pos, end);
            var f = m.field;
            if (f === 1) u.seq = wireScalarUint32(bytes, m);
            else if (f === 2) u.interval_s = wireScalarUint32(bytes, m);
            else if (f === 3) u.age_s = wireScalarUint32(bytes, m);
            else if (f >= FIRST_FIXED_QUANTITY && f <= LAST_FIXED_QUANTITY)
                wireRepeatedSint32(bytes, m, u.fixed[f]);
            else if (f === 14) u.status = wireScalarUint32(bytes, m);
            else if (f === 15) u.time = wireScalarUint32(bytes, m);
            else if (f === 16) u.config_version = wireScalarUint32(bytes, m);
            else if (f === 17) u.alert = wireBool(bytes, m);
            else if (f === 18) {
                if (m.wire !== 2) wireFail();
                u.extra.push(wireSeries(bytes, m.data, m.data + m.dataLen));
            }
            pos = m.start + m.len;
        }
    } catch (e) {
        if (e === WIRE_BAD) return null;
        throw e;
    }
    return u;
}

// ---- uplink: validation, delta expansion and the gateway's `values` and `samples` ----
// The same rules, reasons and order as gateway/src/decode.c, and the same rendering as
// gateway/src/render.c, so a decoder here publishes what the gateway would have published
// for the same bytes received at the same instant (docs/protocol.md sections 1 and 4).

var UPLINK_FPORT = 1; // the LoRaWAN FPort of the Uplink (docs/lorawan.md)
var MAX_PAYLOAD_BYTES = 1024;
var MAX_SERIES = 32;
var MAX_SAMPLES_PER_SERIES = 256;
var MAX_SAMPLES = 1024;
var MAX_INTERVAL_S = 86400;
var MAX_AGE_S = 7 * 86400;
var MAX_SPAN_S = 366 * 86400;
var MAX_CLOCK_AHEAD_S = 86400;
var MIN_SYNCED_TIME_S = 1577836800; // 2020-01-01: earlier means the clock was never set
var STATUS_FLAG_NAMES = ["low_battery", "sensor_fault", "rebooted", "nvm_reset", "clock_unsynced"];

// Appends one delta-coded series, expanded; returns a reason or null.
function addSeries(out, q, channel, deltas) {
    var name = q.name;
    var count = deltas.length;
    if (count === 0) return null; // an empty series is the same as an absent one
    if (count > MAX_SAMPLES_PER_SERIES)
        return name + " channel " + channel + ": " + count + " samples (max " + MAX_SAMPLES_PER_SERIES + ")";
    for (var i = 0; i < out.series.length; i++) {
        if (out.series[i].quantity === q && out.series[i].channel === channel)
            return name + " channel " + channel + " sent twice";
    }
    if (out.series.length === MAX_SERIES) return "more than " + MAX_SERIES + " series";
    if (count > MAX_SAMPLES - out.samplesUsed) return "more than " + MAX_SAMPLES + " samples in all";
    var values = [];
    var value = 0;
    for (var k = 0; k < count; k++) {
        value += deltas[k]; // exact: |value| stays far below 2^53
        if (value < -2147483648 || value > 2147483647)
            return name + " channel " + channel + ": delta sum leaves the sint32 range at sample " + k;
        values.push(value);
    }
    out.series.push({ quantity: q, channel: channel, values: values });
    out.samplesUsed += count;
    if (count > out.maxCount) out.maxCount = count;
    return null;
}

// bytes: the FRMPayload / CoAP payload; receivedMs: unix ms the sample times of a node
// without a clock count back from. Returns { uplink } or { error: reason }.
function decodeUplinkBytes(bytes, receivedMs) {
    if (bytes.length > MAX_PAYLOAD_BYTES)
        return { error: "payload of " + bytes.length + " bytes exceeds " + MAX_PAYLOAD_BYTES };
    var msg = readUplink(bytes);
    if (msg === null) return { error: "protobuf: not a valid Uplink (truncated or malformed)" };
    var out = {
        seq: msg.seq, interval_s: msg.interval_s, age_s: msg.age_s, status: msg.status,
        time_s: msg.time, config_version: msg.config_version, alert: msg.alert,
        lastSampleS: 0, maxCount: 0, series: [], samplesUsed: 0
    };
    var reason = null;
    for (var f = FIRST_FIXED_QUANTITY; f <= LAST_FIXED_QUANTITY && reason === null; f++)
        reason = addSeries(out, quantityById(f), 0, msg.fixed[f]);
    for (var i = 0; i < msg.extra.length && reason === null; i++) {
        var s = msg.extra[i];
        var q = quantityById(s.quantity);
        if (q === null) return { error: "extra[" + i + "]: unknown quantity " + s.quantity };
        reason = addSeries(out, q, s.channel, s.samples);
    }
    if (reason !== null) return { error: reason };
    if (out.series.length === 0 && out.status === 0)
        return { error: bytes.length === 0 ? "empty payload: no Uplink" : "no series and no status: nothing to publish" };
    reason = checkTimeBase(out, receivedMs);
    return reason !== null ? { error: reason } : { uplink: out };
}

function checkTimeBase(out, receivedMs) {
    if (out.maxCount > 1 && out.interval_s === 0)
        return "interval_s is 0 but a series has " + out.maxCount + " samples";
    if (out.interval_s > MAX_INTERVAL_S) return "interval_s " + out.interval_s + " exceeds " + MAX_INTERVAL_S + " s";
    if (out.age_s > MAX_AGE_S) return "age_s " + out.age_s + " exceeds " + MAX_AGE_S + " s";
    if (out.maxCount > 1 && (out.maxCount - 1) * out.interval_s > MAX_SPAN_S)
        return out.maxCount + " samples " + out.interval_s + " s apart span over a year";
    var receivedS = Math.floor(receivedMs / 1000);
    if (out.time_s !== 0) {
        if (out.time_s < MIN_SYNCED_TIME_S) return "time " + out.time_s + " is before 2020";
        if (out.time_s > receivedS + MAX_CLOCK_AHEAD_S)
            return "time " + out.time_s + " is " + (out.time_s - receivedS) + " s after reception";
        out.lastSampleS = out.time_s;
    } else {
        out.lastSampleS = receivedS - out.age_s;
    }
    return null;
}

// The JSON key of a series: its quantity's key, "_ch<N>" appended for channel N > 0.
function seriesKey(s) {
    return s.channel === 0 ? s.quantity.key : s.quantity.key + "_ch" + s.channel;
}

function statusNames(status) {
    var names = [];
    for (var bit = 0; bit < 32; bit++) {
        if (((status >>> bit) & 1) === 0) continue;
        names.push(bit < STATUS_FLAG_NAMES.length ? STATUS_FLAG_NAMES[bit] : "bit" + bit);
    }
    return names;
}

// The uplink part of the gateway's JSON message, keys in the gateway's order: time of the
// first sample, interval_s, status, alert, config_version (when the node sent one),
// values (the newest sample of every series) and samples (one row per sampling instant,
// oldest first). Returns { message } or { error } for a time outside years 0-9999.
function renderUplink(u) {
    var firstS = u.lastSampleS - (u.maxCount > 1 ? (u.maxCount - 1) * u.interval_s : 0);
    var time = formatTimeS(firstS);
    var values = {};
    var samples = [];
    var i;
    for (i = 0; i < u.series.length; i++) {
        var s = u.series[i];
        values[seriesKey(s)] = s.values[s.values.length - 1] / s.quantity.divisor;
    }
    for (var k = 0; k < u.maxCount && time !== null; k++) {
        var rowTime = formatTimeS(u.lastSampleS - (u.maxCount - 1 - k) * u.interval_s);
        if (rowTime === null) time = null;
        var row = { time: rowTime };
        for (i = 0; i < u.series.length; i++) {
            var series = u.series[i];
            var missing = u.maxCount - series.values.length; // shorter series start later
            if (k >= missing) row[seriesKey(series)] = series.values[k - missing] / series.quantity.divisor;
        }
        samples.push(row);
    }
    if (time === null) return { error: "a sample time outside years 0-9999" };
    var m = { time: time, interval_s: u.interval_s, status: statusNames(u.status), alert: u.alert };
    if (u.config_version !== 0) m.config_version = u.config_version;
    m.values = values;
    m.samples = samples;
    return { message: m };
}

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

return {
    isObject: isObject,
    isWholeNumber: isWholeNumber,
    deviceId: deviceId,
    pad: pad,
    formatTimeMs: formatTimeMs,
    formatTimeS: formatTimeS,
    parseTimeMs: parseTimeMs,
    quantityById: quantityById,
    quantityByName: quantityByName,
    wireFail: wireFail,
    wireTag: wireTag,
    wireVarintLength: wireVarintLength,
    wireUint32: wireUint32,
    wireUnzigzag32: wireUnzigzag32,
    wireMember: wireMember,
    wireScalarUint32: wireScalarUint32,
    wireBool: wireBool,
    wireRepeatedSint32: wireRepeatedSint32,
    wireSeries: wireSeries,
    readUplink: readUplink,
    addSeries: addSeries,
    decodeUplinkBytes: decodeUplinkBytes,
    checkTimeBase: checkTimeBase,
    seriesKey: seriesKey,
    statusNames: statusNames,
    renderUplink: renderUplink,
    decodeBase64: decodeBase64,
    eventReceptions: eventReceptions,
    roundSnr: roundSnr,
    parseEvent: parseEvent,
    messageFromEvent: messageFromEvent
};
})();

// OS2iot calls decode(payload, metadata) with ChirpStack's uplink event as parsed JSON
// (for a LoRaWAN device) and its own device record. The result is the gateway's JSON
// message for that uplink: the same values and samples, keys and units. A frame that is
// not a valid Uplink throws with the gateway's reason: OS2iot logs it and sends nothing.
function decode(payload, metadata) {
    var out = SENSORBRO.messageFromEvent(payload, Date.now());
    if (out.error !== undefined) throw new Error("Sensorbro decoder: " + out.error);
    return out.message;
}
