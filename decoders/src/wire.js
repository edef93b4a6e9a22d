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
