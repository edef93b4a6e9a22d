// ---- ngsi: the gateway's JSON as NGSI-LD entities of the Smart Data Models ----
// dataModel.Environment IndoorEnvironmentObserved and AirQualityObserved, normalized form
// (what an NGSI-LD upsert takes). Attribute names are the models' own; values are scaled
// where the model's unit differs from the gateway's (relative humidity: the models take a
// fraction 0..1, the gateway publishes percent). unitCode is the UN/CEFACT common code:
// CEL degree Celsius, C62 "one" (a dimensionless fraction), A97 hectopascal, LUX lux,
// 59 part per million, GQ microgram per cubic metre. Quantities the models have no
// attribute for (battery, sound level, meters, the VOC index, ...) are not sent.
// docs/os2iot.md, "Decoders", says why each choice was made.

var NGSI_INDOOR = "IndoorEnvironmentObserved";
var NGSI_AIR = "AirQualityObserved";
var NGSI_ATTRIBUTES = [
    { key: "temperature_c", type: NGSI_INDOOR, attribute: "temperature", unitCode: "CEL", shift: 0 },
    { key: "relative_humidity_pct", type: NGSI_INDOOR, attribute: "relativeHumidity", unitCode: "C62", shift: -2 },
    { key: "pressure_hpa", type: NGSI_INDOOR, attribute: "atmosphericPressure", unitCode: "A97", shift: 0 },
    { key: "illuminance_lx", type: NGSI_INDOOR, attribute: "illuminance", unitCode: "LUX", shift: 0 },
    { key: "occupancy_people", type: NGSI_INDOOR, attribute: "peopleCount", unitCode: null, shift: 0 },
    { key: "co2_ppm", type: NGSI_AIR, attribute: "co2", unitCode: "59", shift: 0 },
    { key: "pm2_5_ugm3", type: NGSI_AIR, attribute: "pm25", unitCode: "GQ", shift: 0 },
    { key: "pm10_ugm3", type: NGSI_AIR, attribute: "pm10", unitCode: "GQ", shift: 0 }
];

// value * 10^shift, as the decimal the gateway printed would give it: 45.3 % is 0.453, not
// 0.45299999999999996. The gateway's values have at most 10 significant digits.
function decimalShift(value, shift) {
    if (shift === 0) return value;
    return Number((value * Math.pow(10, shift)).toPrecision(15));
}

// "temperature_c_ch2" -> { mapping, channel: 2 }, or null for a key no model takes.
function ngsiMapping(key) {
    var m = /^(.*?)(?:_ch(\d+))?$/.exec(key);
    for (var i = 0; i < NGSI_ATTRIBUTES.length; i++) {
        if (NGSI_ATTRIBUTES[i].key === m[1]) return { mapping: NGSI_ATTRIBUTES[i], channel: m[2] === undefined ? 0 : +m[2] };
    }
    return null;
}

function ngsiLocation(metadata) {
    var loc = isObject(metadata) ? metadata.location : null;
    if (!isObject(loc) || loc.type !== "Point" || !Array.isArray(loc.coordinates) || loc.coordinates.length < 2)
        return null;
    var lon = loc.coordinates[0], lat = loc.coordinates[1];
    if (typeof lon !== "number" || typeof lat !== "number" || !isFinite(lon) || !isFinite(lat)) return null;
    return { type: "GeoProperty", value: { type: "Point", coordinates: [lon, lat] } };
}

// message: the gateway's JSON (or what the ChirpStack path renders of an event); metadata:
// OS2iot's device (its location and name are used when set); context: the @context to
// put in every entity, or null for none. Returns { entities } or { error }.
function ngsiEntities(message, metadata, context) {
    var device = deviceId(message.device);
    if (device === null) return { error: "device: not 16 hex digits" };
    if (!isObject(message.values)) return { error: "values: missing or not an object" };
    var byType = {};
    var found = [];
    for (var key in message.values) {
        if (!Object.prototype.hasOwnProperty.call(message.values, key)) continue;
        var mapped = ngsiMapping(key);
        if (mapped === null) continue;
        mapped.value = message.values[key];
        if (typeof mapped.value !== "number" || !isFinite(mapped.value))
            return { error: "values." + key + ": not a number" };
        found.push(mapped);
    }
    if (found.length === 0) return { error: "no value for " + NGSI_INDOOR + " or " + NGSI_AIR + " in this message" };
    var samples = message.samples;
    if (!Array.isArray(samples) || samples.length === 0 || !isObject(samples[samples.length - 1]) ||
        parseTimeMs(samples[samples.length - 1].time) < 0)
        return { error: "samples: missing, empty or without a time: no observation to date" };
    // Every series ends at the newest row, so `values` are all observed at its time.
    var observed = samples[samples.length - 1].time;
    for (var f = 0; f < found.length; f++) {
        var a = found[f].mapping;
        if (byType[a.type] === undefined) byType[a.type] = {};
        var instance = { type: "Property", value: decimalShift(found[f].value, a.shift) };
        if (a.unitCode !== null) instance.unitCode = a.unitCode;
        instance.observedAt = observed;
        if (found[f].channel !== 0) instance.datasetId = "urn:ngsi-ld:Dataset:ch" + found[f].channel;
        var attrs = byType[a.type];
        if (attrs[a.attribute] === undefined) attrs[a.attribute] = [];
        // the default instance (channel 0) first
        if (found[f].channel === 0) attrs[a.attribute].unshift(instance);
        else attrs[a.attribute].push(instance);
    }
    // IndoorEnvironmentObserved first, then AirQualityObserved, whatever the key order
    var order = [NGSI_INDOOR, NGSI_AIR].filter(function (type) { return byType[type] !== undefined; });
    var location = ngsiLocation(metadata);
    var entities = [];
    for (var t = 0; t < order.length; t++) {
        var type = order[t];
        var e = { id: "urn:ngsi-ld:" + type + ":" + device, type: type };
        e.dateObserved = { type: "Property", value: observed };
        e.refDevice = { type: "Relationship", object: "urn:ngsi-ld:Device:" + device };
        if (location !== null) e.location = location;
        if (isObject(metadata) && typeof metadata.name === "string" && metadata.name !== "")
            e.name = { type: "Property", value: metadata.name };
        var attributes = byType[type];
        for (var name in attributes) {
            if (!Object.prototype.hasOwnProperty.call(attributes, name)) continue;
            // one instance is an object, several (channels, by datasetId) an array
            var list = attributes[name];
            e[name] = list.length === 1 ? list[0] : list;
        }
        if (context !== null) e["@context"] = context;
        entities.push(e);
    }
    return { entities: entities };
}
