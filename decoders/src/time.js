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
