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
