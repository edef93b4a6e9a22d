// ---- downlink: a sensorbro.v1.Downlink, checked against the node's own bounds ----
// The firmware refuses a Downlink as a whole when any bound fails (firmware/core/
// downlink.h); checking here turns that silent refusal into an error the operator sees
// when queueing it. Fields are written in field order, as nanopb and protoc do.

var DOWNLINK_KEYS = ["config_version", "sample_interval_s", "samples_per_uplink", "time", "thresholds"];
var MIN_SAMPLE_INTERVAL_S = 10;
var MAX_SAMPLE_INTERVAL_S = 86400;
var MAX_SAMPLES_PER_UPLINK = 48;
var MAX_BATCH_SPAN_S = 7 * 86400;
var MAX_THRESHOLDS = 8;

function putVarint(out, v) {
    // v: a whole number 0..2^32-1
    while (v >= 128) {
        out.push((v % 128) | 128);
        v = Math.floor(v / 128);
    }
    out.push(v);
}

function putUint32Field(out, field, v) {
    putVarint(out, field * 8);
    putVarint(out, v);
}

function putSint32Field(out, field, v) {
    putVarint(out, field * 8);
    putVarint(out, ((v << 1) ^ (v >> 31)) >>> 0);
}

function isUint32(v) {
    return isWholeNumber(v, 0, 4294967295);
}

// One threshold to its bytes, or a reason string.
function encodeThreshold(t, i, seen) {
    var where = "thresholds[" + i + "]";
    if (!isObject(t)) return where + ": not an object";
    for (var k in t) {
        if (Object.prototype.hasOwnProperty.call(t, k) && k !== "field" && k !== "above" && k !== "below")
            return where + ": unknown key " + JSON.stringify(k) + " (field, above, below)";
    }
    var field = t.field;
    if (typeof field === "string") {
        var q = quantityByName(field);
        field = q === null ? field : q.id;
    }
    if (!isWholeNumber(field, FIRST_FIXED_QUANTITY, LAST_FIXED_QUANTITY))
        return where + ".field: " + JSON.stringify(t.field) + " is not an Uplink field 4-13 or its name";
    if (seen[field]) return where + ".field: " + field + " named twice";
    seen[field] = true;
    var bounds = ["above", "below"];
    for (var b = 0; b < 2; b++) {
        var v = t[bounds[b]];
        if (v !== undefined && v !== null && !isWholeNumber(v, -2147483648, 2147483647))
            return where + "." + bounds[b] + ": not a whole number in the quantity's wire unit (sint32)";
    }
    var hasAbove = t.above !== undefined && t.above !== null;
    var hasBelow = t.below !== undefined && t.below !== null;
    if (hasAbove && hasBelow && t.above < t.below) return where + ": above " + t.above + " < below " + t.below;
    var body = [];
    putUint32Field(body, 1, field);
    if (hasAbove) putSint32Field(body, 2, t.above);
    if (hasBelow) putSint32Field(body, 3, t.below);
    return body;
}

// data: { config_version, sample_interval_s, samples_per_uplink, time, thresholds }, every
// key optional. Returns { bytes } or { errors }.
function encodeDownlinkData(data) {
    if (!isObject(data)) return { errors: ["data: not an object"] };
    var errors = [];
    for (var k in data) {
        if (Object.prototype.hasOwnProperty.call(data, k) && DOWNLINK_KEYS.indexOf(k) < 0)
            errors.push("unknown key " + JSON.stringify(k) + " (" + DOWNLINK_KEYS.join(", ") + ")");
    }
    var has = function (key) { return data[key] !== undefined && data[key] !== null; };
    if (has("config_version") && !isUint32(data.config_version))
        errors.push("config_version: not a whole number 0..4294967295");
    if (has("sample_interval_s") && !isWholeNumber(data.sample_interval_s, MIN_SAMPLE_INTERVAL_S, MAX_SAMPLE_INTERVAL_S))
        errors.push("sample_interval_s: not a whole number " + MIN_SAMPLE_INTERVAL_S + ".." + MAX_SAMPLE_INTERVAL_S);
    if (has("samples_per_uplink") && !isWholeNumber(data.samples_per_uplink, 1, MAX_SAMPLES_PER_UPLINK))
        errors.push("samples_per_uplink: not a whole number 1.." + MAX_SAMPLES_PER_UPLINK);
    if (has("sample_interval_s") && has("samples_per_uplink") && errors.length === 0 &&
        data.sample_interval_s * data.samples_per_uplink > MAX_BATCH_SPAN_S)
        errors.push("sample_interval_s x samples_per_uplink exceeds " + MAX_BATCH_SPAN_S + " s (a week)");
    if (has("time") && !(data.time === 0 || isWholeNumber(data.time, MIN_SYNCED_TIME_S, 4294967295)))
        errors.push("time: not 0 nor a unix time (s) from 2020 on");
    var thresholds = [];
    if (has("thresholds")) {
        if (!Array.isArray(data.thresholds)) {
            errors.push("thresholds: not an array");
        } else if (data.thresholds.length === 0 || data.thresholds.length > MAX_THRESHOLDS) {
            errors.push("thresholds: 1.." + MAX_THRESHOLDS + " entries (an empty list is no list on the wire; " +
                "to clear every alert send one threshold without bounds)");
        } else {
            var seen = {};
            for (var i = 0; i < data.thresholds.length; i++) {
                var t = encodeThreshold(data.thresholds[i], i, seen);
                if (typeof t === "string") errors.push(t);
                else thresholds.push(t);
            }
        }
    }
    if (errors.length > 0) return { errors: errors };
    var out = [];
    if (has("config_version") && data.config_version !== 0) putUint32Field(out, 1, data.config_version);
    if (has("sample_interval_s")) putUint32Field(out, 2, data.sample_interval_s);
    if (has("samples_per_uplink")) putUint32Field(out, 3, data.samples_per_uplink);
    if (has("time") && data.time !== 0) putUint32Field(out, 4, data.time);
    for (var j = 0; j < thresholds.length; j++) {
        putVarint(out, 5 * 8 + 2);
        putVarint(out, thresholds[j].length);
        for (var n = 0; n < thresholds[j].length; n++) out.push(thresholds[j][n]);
    }
    return { bytes: out };
}
