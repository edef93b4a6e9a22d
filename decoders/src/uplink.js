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
