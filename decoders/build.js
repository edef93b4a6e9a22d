// build.js - makes the shipped decoders (decoders/*.js) from the parts in decoders/src.
//
//   node decoders/build.js            writes decoders/os2iot-ngsi-ld.js, os2iot-chirpstack.js
//                                     and chirpstack-codec.js
//   node decoders/build.js --check    exits 1 when a shipped file differs from what the parts
//                                     make (tests/decoders/run.js does this)
//
// OS2iot and ChirpStack take one self-contained piece of JavaScript each, pasted into a
// text box: no require, no import. So the parts that two or three decoders share (the
// protobuf reader, the quantity table, the gateway's rules and rendering) live once in
// src/ and are concatenated into each file here, inside one function scope whose return
// value is the namespace SENSORBRO. The file's only other top-level names are its settings
// and the entry point the platform calls (decode, or decodeUplink and encodeDownlink), so
// nothing clashes with the names OS2iot's and ChirpStack's wrappers declare around it.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const SRC = path.join(__dirname, "src");

const TARGETS = [
    {
        file: "os2iot-ngsi-ld.js",
        title: "OS2iot payload decoder: Sensorbro readings as NGSI-LD entities",
        use: [
            "Paste into OS2iot: Payload decoders > Create new. Input: the Sensorbro gateway's JSON",
            "(devices of type MQTT or HTTP) or ChirpStack's uplink event of a Sensorbro node (LoRaWAN",
            "devices). Output: an array of Smart Data Models entities, IndoorEnvironmentObserved and",
            "AirQualityObserved, for OS2iot's FIWARE data target.",
        ],
        settings: "settings-os2iot-ngsi-ld.js",
        parts: ["util.js", "time.js", "quantities.js", "wire.js", "uplink.js", "event.js", "ngsi.js"],
        entry: "entry-os2iot-ngsi-ld.js",
    },
    {
        file: "os2iot-chirpstack.js",
        title: "OS2iot payload decoder: a Sensorbro node's LoRaWAN uplink, straight from ChirpStack",
        use: [
            "Paste into OS2iot: Payload decoders > Create new, for LoRaWAN devices that send to",
            "OS2iot's ChirpStack with no Sensorbro gateway. Output: the gateway's JSON message for",
            "the uplink (values and samples with the same keys, units and sample times).",
        ],
        parts: ["util.js", "time.js", "quantities.js", "wire.js", "uplink.js", "event.js"],
        entry: "entry-os2iot-chirpstack.js",
    },
    {
        file: "chirpstack-codec.js",
        title: "ChirpStack v4 codec for Sensorbro nodes: decodeUplink and encodeDownlink",
        use: [
            "Paste into ChirpStack: Device profiles > (profile) > Codec > JavaScript functions.",
            "decodeUplink gives the gateway's values and samples; encodeDownlink makes a Downlink",
            "(config_version, sample_interval_s, samples_per_uplink, time, thresholds) on FPort 1.",
        ],
        parts: ["util.js", "time.js", "quantities.js", "wire.js", "uplink.js", "downlink.js", "codec.js"],
        entry: "entry-chirpstack-codec.js",
    },
];

function read(name) {
    return fs.readFileSync(path.join(SRC, name), "utf8").replace(/\s+$/, "") + "\n";
}

function build(target) {
    const banner = [
        "// " + target.file + " - " + target.title + ".",
        "//",
        ...target.use.map((line) => "// " + line),
        "//",
        "// Made by decoders/build.js from decoders/src/ of the Sensorbro repository: edit those,",
        "// not this file. docs/os2iot.md, \"Decoders\", says what it emits and how it is tested.",
        "// Portable ES2015 (Node.js in OS2iot, QuickJS in ChirpStack): no require, no import,",
        "// no Buffer, no atob.",
        "",
    ];
    const parts = target.parts.map(read).join("\n");
    const names = [];
    for (const m of parts.matchAll(/^function ([A-Za-z0-9_]+)\(/gm)) names.push(m[1]);
    const lines = [banner.join("\n")];
    if (target.settings) lines.push(read(target.settings));
    lines.push(
        "var SENSORBRO = (function () {\n" +
            '"use strict";\n\n' +
            parts +
            "\nreturn {\n" +
            names.map((n) => "    " + n + ": " + n).join(",\n") +
            "\n};\n})();\n"
    );
    lines.push(read(target.entry));
    return lines.join("\n");
}

function main() {
    const check = process.argv.includes("--check");
    let stale = 0;
    for (const target of TARGETS) {
        const out = path.join(__dirname, target.file);
        const text = build(target);
        if (check) {
            const have = fs.existsSync(out) ? fs.readFileSync(out, "utf8") : "";
            if (have !== text) {
                console.error("decoders/" + target.file + " is not what decoders/src makes: run node decoders/build.js");
                stale++;
            }
        } else {
            fs.writeFileSync(out, text);
        }
    }
    process.exit(stale > 0 ? 1 : 0);
}

module.exports = { TARGETS, build };
if (require.main === module) main();
