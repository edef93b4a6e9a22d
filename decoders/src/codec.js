// ---- codec: ChirpStack v4's decodeUplink / encodeDownlink contract ----
// ChirpStack calls decodeUplink({ bytes, fPort, recvTime, variables }) and keeps `data`, or
// logs `errors`; encodeDownlink({ data, variables }) must return { bytes } (and may name
// the fPort) or { errors }. Neither may throw: anything unexpected becomes an error.

// recvTime is a JS Date in ChirpStack (its uplink's reception time); a number (unix ms)
// or an RFC 3339 string is taken too, and the current time when there is none.
function receptionMs(recvTime) {
    // a Date of any realm (instanceof would miss one made in another context)
    if (Object.prototype.toString.call(recvTime) === "[object Date]" && isFinite(recvTime.getTime()))
        return recvTime.getTime();
    if (typeof recvTime === "number" && isFinite(recvTime)) return recvTime;
    if (typeof recvTime === "string" && parseTimeMs(recvTime) >= 0) return parseTimeMs(recvTime);
    return Date.now();
}

function codecDecodeUplink(input) {
    try {
        if (!isObject(input) || input.bytes === null || typeof input.bytes !== "object" ||
            typeof input.bytes.length !== "number")
            return { errors: ["input.bytes: missing or not an array of bytes"] };
        if (input.fPort !== UPLINK_FPORT)
            return { errors: ["fPort " + input.fPort + ": Sensorbro uplinks come on FPort " + UPLINK_FPORT] };
        var bytes = [];
        for (var i = 0; i < input.bytes.length; i++) {
            var b = input.bytes[i];
            if (!isWholeNumber(b, 0, 255)) return { errors: ["input.bytes[" + i + "]: not a byte"] };
            bytes.push(b);
        }
        var decoded = decodeUplinkBytes(bytes, receptionMs(input.recvTime));
        if (decoded.error !== undefined) return { errors: [decoded.error] };
        var rendered = renderUplink(decoded.uplink);
        if (rendered.error !== undefined) return { errors: [rendered.error] };
        var data = { seq: decoded.uplink.seq };
        for (var k in rendered.message) {
            if (Object.prototype.hasOwnProperty.call(rendered.message, k)) data[k] = rendered.message[k];
        }
        return { data: data };
    } catch (e) {
        return { errors: ["Sensorbro decoder failed: " + String(e)] };
    }
}

function codecEncodeDownlink(input) {
    try {
        if (!isObject(input)) return { errors: ["input: not an object"] };
        var out = encodeDownlinkData(input.data);
        if (out.errors !== undefined) return out;
        return { bytes: out.bytes, fPort: UPLINK_FPORT };
    } catch (e) {
        return { errors: ["Sensorbro encoder failed: " + String(e)] };
    }
}
