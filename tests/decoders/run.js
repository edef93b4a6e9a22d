// run.js - the JavaScript decoders (decoders/*.js) against the gateway, as OS2iot and
// ChirpStack run them. Run by ctest (unit.decoders) with --experimental-vm-modules.
//
// What it proves:
// - the shipped files are what decoders/src makes (decoders/build.js), use no require,
//   import, Buffer or atob, and their quantity table is gateway/src/quantity.c's;
// - for uplinks encoded by the firmware's own encoder (sb-uplink-corpus: every quantity
//   mix, extra series, second channels, status flags, synced and unsynced clocks, alerts,
//   config_version, refusals) and by the fleet simulator, the ChirpStack codec (as
//   ChirpStack v4.6 and as today's ChirpStack run it, in a bare JS context), the OS2iot
//   ChirpStack decoder and the OS2iot NGSI-LD decoder (in node:worker_threads Workers with
//   eval: true, as OS2iot runs them) give the same values, samples, sample times, status,
//   config_version and refusal reasons as `sensorbroctl decode` for the same bytes and
//   reception time, field by field;
// - the NGSI-LD entities have the shape the Smart Data Models' schemas give (attribute
//   names, types, required attributes, units), built from both kinds of input alike;
// - truncated, mutated and random bytes never make decodeUplink throw or hang, and the
//   gateway and the decoders accept and refuse the same frames;
// - encodeDownlink's bytes are what protoc encodes and what the firmware's downlink_parse
//   applies, and every bound the firmware checks is refused with an error first.
//
// Environment: NODE_BIN, SENSORBROCTL_BIN, FLEET_SIM_BIN, REPO_DIR, PROTOC_BIN, PROTO_DIR,
// and UPLINK_CORPUS_BIN when the firmware is built (without it the corpus is the fleet
// simulator's only, and the Downlink check against the firmware is skipped).
"use strict";
const assert = require("node:assert/strict");
const { execFileSync, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const { Worker } = require("node:worker_threads");

const env = (name, optional) => {
    const v = process.env[name];
    if (!v && !optional) throw new Error("run.js: " + name + " is not set (run it through ctest)");
    return v;
};
const REPO = env("REPO_DIR");
const SENSORBROCTL = env("SENSORBROCTL_BIN");
const FLEET_SIM = env("FLEET_SIM_BIN");
const PROTOC = env("PROTOC_BIN");
const PROTO_DIR = env("PROTO_DIR");
const CORPUS = env("UPLINK_CORPUS_BIN", true);
const DECODERS = path.join(REPO, "decoders");

// ---- bookkeeping: every check counts, a failure names its case and goes on ----
let passed = 0;
let failed = 0;
function check(name, fn) {
    try {
        fn();
        passed++;
    } catch (e) {
        failed++;
        if (failed <= 30) console.error("FAIL " + name + ": " + (e && e.message ? e.message : e));
    }
}
async function checkAsync(name, fn) {
    try {
        await fn();
        passed++;
    } catch (e) {
        failed++;
        if (failed <= 30) console.error("FAIL " + name + ": " + (e && e.message ? e.message : e));
    }
}
// Objects from another realm (vm contexts, Workers) compared as the JSON they are.
const plain = (v) => JSON.parse(JSON.stringify(v));

const source = (file) => fs.readFileSync(path.join(DECODERS, file), "utf8");
const NGSI_LD = source("os2iot-ngsi-ld.js");
const OS2IOT_CHIRPSTACK = source("os2iot-chirpstack.js");
const CODEC = source("chirpstack-codec.js");

// ---- the gateway: sensorbroctl decode, the daemon's own decode and render ----
function gatewayDecode(device, receivedMs, hex) {
    const r = spawnSync(SENSORBROCTL, ["decode", "--device", device, "--received", String(receivedMs), hex || ""], {
        encoding: "utf8",
    });
    if (r.status === 0) return { json: JSON.parse(r.stdout) };
    const m = /invalid uplink: (.*)$/m.exec(r.stderr);
    if (r.status !== 1 || m === null) throw new Error("sensorbroctl decode " + hex + ": " + r.stderr);
    return { error: m[1] };
}

// Many at once. sensorbroctl is quick, but node's own spawn of it costs ~15 ms of this
// process's time each: one bash runs them all instead, reading "device received hex"
// lines, each answer followed by a line "::rc=<exit status>".
function gatewayDecodeAll(items) {
    const script = 'while read -r dev rec hex; do "$0" decode --device "$dev" --received "$rec" "$hex" 2>&1; ' +
        'echo "::rc=$?"; done';
    const input = items.map((it) => it.device + " " + it.receivedMs + " " + (it.hex || "") + "\n").join("");
    const text = execFileSync("bash", ["-c", script, SENSORBROCTL], { input, encoding: "utf8", maxBuffer: 1 << 28 });
    const parts = text.split(/^::rc=(\d+)\n/m);
    const out = [];
    for (let i = 0; i + 1 < parts.length; i += 2) {
        const body = parts[i].trim();
        if (parts[i + 1] === "0") {
            out.push({ json: JSON.parse(body) });
            continue;
        }
        const m = /^sensorbroctl decode: invalid uplink: (.*)$/.exec(body);
        if (parts[i + 1] !== "1" || m === null) throw new Error("sensorbroctl decode " + items[out.length].hex + ": " + body);
        out.push({ error: m[1] });
    }
    assert.equal(out.length, items.length, "one answer per uplink");
    return out;
}

const isoMs = (ms) => new Date(ms).toISOString();
const hexToBytes = (hex) => (hex.match(/../g) || []).map((h) => parseInt(h, 16));
const bytesToHex = (bytes) => bytes.map((b) => (b < 16 ? "0" : "") + b.toString(16)).join("");
const base64 = (bytes) => Buffer.from(bytes).toString("base64");

// splitmix-style PRNG for the fuzz cases: same seed, same cases
function rng(seed) {
    let s = BigInt(seed);
    return () => {
        s = (s + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
        let z = s;
        z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
        z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
        return Number((z ^ (z >> 31n)) & 0xffffffffn) / 4294967296;
    };
}

// ---- ChirpStack v4: the codec in a bare JS context (no Node globals), as ChirpStack's
// rquickjs runtime: v4.6 evaluates the script (sloppy) with decodeUplink(chirpstack_input)
// as its last expression and a global Buffer; today's ChirpStack evaluates it as an ES
// module (strict) importing Buffer from its "buffer" module and exporting the call. The
// Buffer given here throws when touched: the codec must not need it. ----
const POISONED_BUFFER = function Buffer() {
    throw new Error("the codec used Buffer");
};
function chirpstackScript(code, call, input) {
    const ctx = vm.createContext({ chirpstack_input: input, Buffer: POISONED_BUFFER });
    return vm.runInContext(code + "\n\n" + call + "(chirpstack_input)\n", ctx, { timeout: 2000 });
}
async function chirpstackModule(code, call, input) {
    const ctx = vm.createContext({ chirpstack_input: input });
    const mod = new vm.SourceTextModule(
        'import { Buffer } from "buffer";\n\n' + code + "\n\nexport default " + call + "(chirpstack_input);\n",
        { context: ctx }
    );
    await mod.link((specifier) => {
        if (specifier !== "buffer") throw new Error("unexpected import " + specifier);
        return new vm.SyntheticModule(["Buffer"], function () {
            this.setExport("Buffer", POISONED_BUFFER);
        }, { context: ctx });
    });
    await mod.evaluate({ timeout: 2000 });
    return mod.namespace.default;
}
// A fresh context per call costs ~15 ms: the first calls of each section get one, as in
// ChirpStack; the others share one script context and one module evaluated once (still a
// bare context, still strict module code), calling the exported function per input.
let freshCalls = 0;
const FRESH_CALLS = 60;
let shared = null;
async function sharedCodec() {
    if (shared !== null) return shared;
    const sctx = vm.createContext({ Buffer: POISONED_BUFFER });
    vm.runInContext(CODEC, sctx);
    const mctx = vm.createContext({});
    const mod = new vm.SourceTextModule('import { Buffer } from "buffer";\n\n' + CODEC +
        "\n\nexport { decodeUplink, encodeDownlink };\n", { context: mctx });
    await mod.link(() => new vm.SyntheticModule(["Buffer"], function () {
        this.setExport("Buffer", POISONED_BUFFER);
    }, { context: mctx }));
    await mod.evaluate();
    shared = { script: sctx, module: mod.namespace };
    return shared;
}
async function codecBoth(call, input, name, fresh) {
    let a, b;
    if (fresh || freshCalls < FRESH_CALLS) {
        freshCalls++;
        a = plain(chirpstackScript(CODEC, call, input));
        b = plain(await chirpstackModule(CODEC, call, input));
    } else {
        const s = await sharedCodec();
        s.script.chirpstack_input = input;
        a = plain(vm.runInContext(call + "(chirpstack_input)", s.script, { timeout: 2000 }));
        b = plain(s.module[call](input));
    }
    assert.deepEqual(b, a, name + ": module and script runs differ");
    return a;
}

// ---- OS2iot: the decoder's text is placed at the top level of a CommonJS worker script
// after the worker's own declarations (parentPort, workerData, innerPayload,
// innerIotDevice) and followed by `const result = decode(innerPayload, innerIotDevice)`,
// posted back; OS2iot then JSON-stringifies the result. One Worker per message, eval:
// true, as OS2iot's payload-decoder executor does. ----
function os2iotOnce(code, payload, device) {
    const script =
        'const { parentPort, workerData } = require("worker_threads");\n' +
        "const innerPayload = workerData.innerPayload;\n" +
        "const innerIotDevice = workerData.innerIotDevice;\n\n" +
        code +
        "\n\nconst result = decode(innerPayload, innerIotDevice);\nparentPort.postMessage(result);\n";
    return new Promise((resolve) => {
        const w = new Worker(script, { eval: true, workerData: { innerPayload: payload, innerIotDevice: device } });
        w.on("message", (m) => {
            resolve({ result: JSON.parse(JSON.stringify(m)) });
            w.terminate();
        });
        w.on("error", (e) => {
            resolve({ error: String(e && e.message) });
            w.terminate();
        });
    });
}
// The same top level, kept alive for many messages (one Worker each would take minutes):
// the decoder is evaluated once and decode() called per message.
class Os2iotWorker {
    constructor(code) {
        const script =
            'const { parentPort, workerData } = require("worker_threads");\n' +
            "const innerPayload = null;\nconst innerIotDevice = null;\n\n" +
            code +
            "\n\nparentPort.on(\"message\", (m) => {\n" +
            "    try { parentPort.postMessage({ result: JSON.parse(JSON.stringify(decode(m.payload, m.device))) }); }\n" +
            "    catch (e) { parentPort.postMessage({ error: String(e && e.message) }); }\n});\n";
        this.worker = new Worker(script, { eval: true });
        this.pending = [];
        this.worker.on("message", (m) => this.pending.shift()(m));
        this.worker.on("error", (e) => {
            throw e;
        });
    }
    decode(payload, device) {
        return new Promise((resolve) => {
            this.pending.push(resolve);
            this.worker.postMessage({ payload, device });
        });
    }
    close() {
        return this.worker.terminate();
    }
}

// ---- corpus ----
function corpus() {
    const nowS = Math.floor(Date.now() / 1000);
    const base = (nowS - 2 * 86400) * 1000; // the OS2iot event path trusts a week back
    const out = [];
    if (CORPUS) {
        const text = execFileSync(CORPUS, ["--count", "400", "--seed", "20261123", "--received-ms", String(base)], {
            encoding: "utf8",
        });
        for (const line of text.trim().split("\n")) {
            const [device, received, hex] = line.split(" ");
            out.push({ source: "firmware", device, receivedMs: +received, hex: hex || "" });
        }
    }
    const fleets = [
        ["--quantities", "temperature,relative_humidity,co2,battery,occupancy", "--samples", "12"],
        ["--quantities", "temperature,relative_humidity,co2,battery", "--samples", "1"],
        ["--quantities", "co2,occupancy", "--samples", "48", "--interval-s", "60"],
    ];
    fleets.forEach((args, f) => {
        const count = CORPUS ? "25" : "40"; // at least 100 valid ones without the firmware's
        const text = execFileSync(FLEET_SIM, ["--encode-only", "--count", count, "--sensors", "5", "--seed", String(f + 1),
            "--start-time", String(nowS - 86400), "--utc-offset", "1", ...args], { encoding: "utf8" });
        text.trim().split("\n").forEach((line, i) => {
            const [device, hex] = line.split(" ");
            out.push({ source: "fleet-sim", device, receivedMs: base + 86400000 + i * 61000 + 457, hex });
        });
    });
    return out;
}

// A ChirpStack v4 uplink event around the bytes, received at receivedMs by 1-3 gateways.
function chirpstackEvent(u, i) {
    const r = rng(1000 + i);
    const gateways = [];
    const n = 1 + Math.floor(r() * 3);
    for (let g = 0; g < n; g++)
        gateways.push({
            gatewayId: "0016c001ff1" + (g + 10).toString(16).padStart(5, "0"),
            rssi: -120 + Math.floor(r() * 90),
            snr: Math.round((-20 + r() * 30) * 4) / 4 + (g === 0 ? 0.1 : 0),
            nsTime: isoMs(u.receivedMs + 3),
        });
    return {
        deduplicationId: "3ac7e3c4-4401-4b8d-9386-a5c902f9202" + (i % 10),
        time: isoMs(u.receivedMs).replace("Z", "123Z"), // ChirpStack writes nanoseconds
        deviceInfo: { tenantId: "t", applicationId: "a", devEui: u.device.toUpperCase(), deviceName: "n" + i },
        devAddr: "01020304",
        fCnt: 1000 + i,
        fPort: 1,
        data: base64(hexToBytes(u.hex)),
        rxInfo: gateways,
        txInfo: { frequency: 868100000, modulation: { lora: { bandwidth: 125000, spreadingFactor: 7 + (i % 6) } } },
    };
}

// What the gateway's LNS feed makes of the event's radio metadata (lns_mqtt.c), computed
// here independently: best RSSI first, then SNR, at most 4, SNR to 0.01 dB of the float.
function expectedRadio(ev) {
    const best = [...ev.rxInfo].sort((a, b) => (a.rssi !== b.rssi ? b.rssi - a.rssi : b.snr - a.snr)).slice(0, 4);
    const centi = Math.fround(Math.fround(best[0].snr) * 100);
    const lora = ev.txInfo.modulation.lora;
    return {
        fcnt: ev.fCnt, fport: ev.fPort, rssi_dbm: best[0].rssi,
        snr_db: Math.trunc(Math.fround(centi < 0 ? centi - 0.5 : centi + 0.5)) / 100,
        frequency_hz: ev.txInfo.frequency, datr: "SF" + lora.spreadingFactor + "BW" + lora.bandwidth / 1000,
        gateways: best.map((g) => g.gatewayId),
    };
}

// The uplink's part of the gateway's JSON, as the codec returns it.
function uplinkPart(json) {
    const part = { seq: json.seq, time: json.time, interval_s: json.interval_s, status: json.status, alert: json.alert };
    if (json.config_version !== undefined) part.config_version = json.config_version;
    part.values = json.values;
    part.samples = json.samples;
    return part;
}

// ---- NGSI-LD: the shapes dataModel.Environment's schema.json files give (looked up in
// smart-data-models/dataModel.Environment, IndoorEnvironmentObserved/schema.json and
// AirQualityObserved/schema.json): required id, type, dateObserved, location; the
// measured attributes are numbers with minimum 0, except AirQualityObserved's
// temperature; relativeHumidity of AirQualityObserved a fraction 0..1 ----
const MODEL = {
    IndoorEnvironmentObserved: {
        temperature: { key: "temperature_c", unitCode: "CEL", minimum: 0 },
        relativeHumidity: { key: "relative_humidity_pct", unitCode: "C62", minimum: 0, scale: 0.01 },
        atmosphericPressure: { key: "pressure_hpa", unitCode: "A97", minimum: 0 },
        illuminance: { key: "illuminance_lx", unitCode: "LUX", minimum: 0 },
        peopleCount: { key: "occupancy_people", unitCode: undefined, minimum: 0 },
    },
    AirQualityObserved: {
        co2: { key: "co2_ppm", unitCode: "59", minimum: 0 },
        pm25: { key: "pm2_5_ugm3", unitCode: "GQ", minimum: 0 },
        pm10: { key: "pm10_ugm3", unitCode: "GQ", minimum: 0 },
    },
};
const COMMON = ["id", "type", "dateObserved", "refDevice", "location", "name", "@context"];
const CONTEXT = ["https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld"];

// Checks entities against the models and against the gateway JSON they came from.
// Returns the number of minimum-0 violations, all of which must be the sensor's own
// negative readings passed on (never made by the decoder).
function checkEntities(entities, json, device) {
    assert.ok(Array.isArray(entities), "an array of entities (the upsert body)");
    const lastRow = json.samples[json.samples.length - 1];
    const byKey = {};
    for (const key of Object.keys(json.values)) {
        const m = /^(.*?)(?:_ch(\d+))?$/.exec(key);
        byKey[m[1]] = byKey[m[1]] || [];
        byKey[m[1]].push({ channel: m[2] === undefined ? 0 : +m[2], value: json.values[key] });
    }
    const types = Object.keys(MODEL).filter((t) => Object.values(MODEL[t]).some((a) => byKey[a.key]));
    assert.deepEqual(entities.map((e) => e.type), types, "one entity per model that has a value");
    let negatives = 0;
    for (const e of entities) {
        const model = MODEL[e.type];
        assert.equal(e.id, "urn:ngsi-ld:" + e.type + ":" + json.device);
        for (const req of ["id", "type", "dateObserved"]) assert.ok(e[req] !== undefined, "required " + req);
        if (device.location) {
            assert.deepEqual(e.location, { type: "GeoProperty", value: device.location });
        } else {
            assert.equal(e.location, undefined, "no location invented");
        }
        assert.deepEqual(e.dateObserved, { type: "Property", value: lastRow.time });
        assert.ok(!isNaN(Date.parse(e.dateObserved.value)), "dateObserved ISO 8601");
        assert.deepEqual(e.refDevice, { type: "Relationship", object: "urn:ngsi-ld:Device:" + json.device });
        assert.deepEqual(e["@context"], CONTEXT);
        if (device.name) assert.deepEqual(e.name, { type: "Property", value: device.name });
        for (const attr of Object.keys(e)) {
            if (COMMON.includes(attr)) continue;
            assert.ok(model[attr], e.type + " has no attribute " + attr);
        }
        for (const [attr, spec] of Object.entries(model)) {
            const readings = byKey[spec.key];
            if (!readings) {
                assert.equal(e[attr], undefined, attr + " without a reading");
                continue;
            }
            const instances = Array.isArray(e[attr]) ? e[attr] : [e[attr]];
            assert.equal(instances.length, readings.length, attr + ": one instance per channel");
            const sorted = [...readings].sort((a, b) => (a.channel === 0 ? -1 : 0) - (b.channel === 0 ? -1 : 0));
            sorted.forEach((r, i) => {
                const inst = instances[i];
                assert.equal(inst.type, "Property");
                assert.equal(typeof inst.value, "number", attr + " is a number");
                const want = spec.scale ? Number((r.value * spec.scale).toPrecision(12)) : r.value;
                assert.equal(inst.value, want, attr + " value");
                assert.equal(inst.unitCode, spec.unitCode, attr + " unitCode");
                assert.equal(inst.observedAt, lastRow.time, attr + " observedAt");
                assert.equal(inst.datasetId, r.channel === 0 ? undefined : "urn:ngsi-ld:Dataset:ch" + r.channel);
                assert.equal(lastRow[spec.key + (r.channel === 0 ? "" : "_ch" + r.channel)], r.value,
                    "the newest row holds the value dated");
                if (inst.value < spec.minimum) {
                    assert.ok(r.value < 0, attr + " below the model's minimum only for a negative reading");
                    negatives++;
                }
            });
        }
    }
    return negatives;
}

// ---- the sections ----
function checkBuildAndPortability() {
    const build = require(path.join(DECODERS, "build.js"));
    for (const t of build.TARGETS) {
        check("build " + t.file, () => assert.equal(source(t.file), build.build(t), t.file + " is stale: node decoders/build.js"));
        check("portable " + t.file, () => {
            const code = source(t.file).replace(/\/\/.*$/gm, "");
            for (const word of [/\brequire\s*\(/, /\bimport\b/, /\bexport\b/, /\bBuffer\b/, /\batob\b/, /\bbtoa\b/,
                /\bprocess\b/, /\bTextDecoder\b/, /\bglobalThis\b/])
                assert.ok(!word.test(code), t.file + " uses " + word);
        });
    }
    // Top-level names: the wrappers declare parentPort, workerData, innerPayload,
    // innerIotDevice, result (OS2iot), chirpstack_input and Buffer (ChirpStack).
    for (const [file, code] of [["os2iot-ngsi-ld.js", NGSI_LD], ["os2iot-chirpstack.js", OS2IOT_CHIRPSTACK], ["chirpstack-codec.js", CODEC]]) {
        check("top-level names " + file, () => {
            const names = [...code.matchAll(/^(?:var|let|const|function)\s+([A-Za-z_$][\w$]*)/gm)].map((m) => m[1]);
            for (const n of names)
                assert.ok(!["parentPort", "workerData", "innerPayload", "innerIotDevice", "result", "chirpstack_input", "Buffer"].includes(n), n);
        });
    }
    check("quantity table equals gateway/src/quantity.c", () => {
        const c = fs.readFileSync(path.join(REPO, "gateway/src/quantity.c"), "utf8");
        const rows = [...c.matchAll(/\{(\d+), "([a-z0-9_]+)", "([a-z0-9_]+)", (\d+), "[^"]*"\}/g)].map((m) => ({
            id: +m[1], name: m[2], key: m[3], divisor: +m[4],
        }));
        assert.ok(rows.length >= 18, "rows read from quantity.c");
        const ctx = vm.createContext({});
        vm.runInContext(CODEC, ctx);
        const js = plain(vm.runInContext("SENSORBRO.quantityById && [4,5,6,7,8,9,10,11,12,13,32,33,34,35,36,37,38,39,40].map(SENSORBRO.quantityById)", ctx));
        assert.deepEqual(js.filter((q) => q !== null), rows);
    });
}

async function checkCorpus(uplinks) {
    const chirpstackWorker = new Os2iotWorker(OS2IOT_CHIRPSTACK);
    const ngsiWorker = new Os2iotWorker(NGSI_LD);
    const tally = { valid: 0, refused: 0, synced: 0, unsynced: 0, extra: 0, channel: 0, alert: 0, config: 0,
        status: 0, statusOnly: 0, entities: 0, negatives: 0 };
    const reasons = {};
    const once = []; // a few of each, through one Worker per message as OS2iot does
    const gateway = gatewayDecodeAll(uplinks);
    for (let i = 0; i < uplinks.length; i++) {
        const u = uplinks[i];
        const name = u.source + "[" + i + "] " + u.hex;
        const gw = gateway[i];
        const input = { bytes: hexToBytes(u.hex), fPort: 1, recvTime: new Date(u.receivedMs), variables: {} };
        const codec = await codecBoth("decodeUplink", input, name);
        const event = chirpstackEvent(u, i);
        const device = i % 5 === 4 ? { id: i, name: "" } : { id: i, name: "room " + i, location: { type: "Point", coordinates: [10.2 + i / 1000, 56.15] } };
        const fromEvent = await chirpstackWorker.decode(event, device);
        const ngsiFromEvent = await ngsiWorker.decode(event, device);
        if (gw.error !== undefined) {
            tally.refused++;
            reasons[gw.error.replace(/\d+/g, "N")] = true;
            check("codec refuses " + name, () => assert.deepEqual(codec, { errors: [gw.error] }));
            check("os2iot-chirpstack refuses " + name, () => assert.equal(fromEvent.error, "Sensorbro decoder: " + gw.error));
            check("os2iot-ngsi-ld refuses " + name, () => assert.equal(ngsiFromEvent.error, "Sensorbro decoder: " + gw.error));
            if (once.length < 16 && i % 11 === 0) once.push({ u, gw, event, device, fromEvent, ngsiFromEvent });
            continue;
        }
        tally.valid++;
        const json = gw.json;
        tally[json.status.includes("clock_unsynced") ? "unsynced" : "synced"]++;
        if (Object.keys(json.values).some((k) => /_ch\d+$/.test(k))) tally.channel++;
        if (/9201/.test(u.hex)) tally.extra++;
        if (json.alert) tally.alert++;
        if (json.config_version !== undefined) tally.config++;
        if (json.status.some((s) => s !== "clock_unsynced")) tally.status++;
        if (json.samples.length === 0) tally.statusOnly++;
        check("codec " + name, () => assert.deepEqual(codec, { data: uplinkPart(json) }));
        check("os2iot-chirpstack " + name, () => {
            assert.equal(fromEvent.error, undefined, fromEvent.error);
            const want = { id: event.deduplicationId, device: json.device, seq: json.seq, time: json.time, heard: json.received,
                transport: "chirpstack", ...expectedRadio(event), ...uplinkPart(json) };
            const got = { ...fromEvent.result };
            assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort());
            for (const k of Object.keys(want)) assert.deepEqual(got[k], want[k], k);
        });
        if (json.samples.length === 0 || !Object.keys(json.values).some((k) => Object.values(MODEL).some((m) => Object.values(m).some((a) => k.startsWith(a.key))))) {
            check("os2iot-ngsi-ld has nothing to send " + name, () => assert.match(String(ngsiFromEvent.error), /Sensorbro decoder: no value for IndoorEnvironmentObserved or AirQualityObserved/));
        } else {
            const ngsi = await ngsiWorker.decode(json, device);
            check("os2iot-ngsi-ld " + name, () => {
                assert.equal(ngsi.error, undefined, ngsi.error);
                tally.negatives += checkEntities(ngsi.result, json, device);
                tally.entities += ngsi.result.length;
            });
            check("os2iot-ngsi-ld same from the ChirpStack event " + name, () => assert.deepEqual(ngsiFromEvent.result, ngsi.result));
            if (once.length < 16 && i % 11 === 0) once.push({ u, gw, event, device, fromEvent, ngsiFromEvent, ngsi });
        }
    }
    await chirpstackWorker.close();
    await ngsiWorker.close();
    // The same decoders, one Worker per message with OS2iot's wrapper, give the same.
    for (const o of once) {
        const name = o.u.source + " " + o.u.hex;
        const a = await os2iotOnce(OS2IOT_CHIRPSTACK, o.event, o.device);
        check("one Worker per message, os2iot-chirpstack " + name, () => assert.deepEqual(a, o.fromEvent));
        const b = await os2iotOnce(NGSI_LD, o.event, o.device);
        check("one Worker per message, os2iot-ngsi-ld (event) " + name, () => assert.deepEqual(b, o.ngsiFromEvent));
        if (o.ngsi) {
            const c = await os2iotOnce(NGSI_LD, o.gw.json, o.device);
            check("one Worker per message, os2iot-ngsi-ld (json) " + name, () => assert.deepEqual(c, o.ngsi));
        }
    }
    tally.workersPerMessage = once.length * 3;
    check("corpus covers what it should", () => {
        assert.ok(tally.valid >= 100, "at least 100 valid uplinks: " + tally.valid);
        if (CORPUS) {
            for (const k of ["synced", "unsynced", "extra", "channel", "alert", "config", "status", "statusOnly"])
                assert.ok(tally[k] >= 3, k + ": " + tally[k]);
            assert.ok(Object.keys(reasons).length >= 5, "refusal reasons: " + Object.keys(reasons).join("; "));
        }
    });
    console.log("corpus: " + uplinks.length + " uplinks (" + tally.valid + " valid, " + tally.refused + " refused: " +
        Object.keys(reasons).join("; ") + ")");
    console.log("  synced " + tally.synced + ", unsynced " + tally.unsynced + ", extra series " + tally.extra +
        ", second channels " + tally.channel + ", alerts " + tally.alert + ", config_version " + tally.config +
        ", status flags " + tally.status + ", status only " + tally.statusOnly);
    console.log("  NGSI-LD entities " + tally.entities + " (" + tally.negatives +
        " values below a model's minimum 0, all negative readings passed on); " + tally.workersPerMessage +
        " decodes in a Worker of their own");
}

// Edge cases of the wire format, encoded by hand, each against the gateway.
const EDGE_CASES = [
    ["", "empty"],
    ["08", "truncated varint"],
    ["0800", "seq 0 only"],
    ["7010", "status only"],
    ["2200", "empty packed series"],
    ["22020a0b", "truncated packed series"],
    ["2203ff", "length beyond the end"],
    ["2204ffffffff", "unterminated varint in a packed series"],
    ["20017010", "unpacked sint32"],
    ["20012002200322020406", "unpacked and packed mixed"],
    ["08011002080370102001", "seq given twice: the last wins"],
    ["0880808080807010", "6-byte varint for seq (low 32 bits)"],
    ["08ffffffffffffffffff017010", "10-byte varint"],
    ["08ffffffffffffffffffff017010", "11-byte varint"],
    ["0d000000007010", "seq with wire type 5"],
    ["0a007010", "seq with wire type 2"],
    ["25000000007010", "temperature with wire type 5"],
    ["8a01017010", "alert with wire type 2 (protobuf-c takes any)"],
    ["8d01000000007010", "alert with wire type 5, zero"],
    ["8801027010", "alert 2"],
    ["0b0c7010", "start group"],
    ["0c7010", "end group"],
    ["0e7010", "wire type 6"],
    ["0f7010", "wire type 7"],
    ["07", "field 0"],
    ["f8ffffff0f017010", "field 2^29-1 unknown, skipped"],
    ["f8ffffffff017010", "6-byte tag"],
    ["a80601b206030102039d06010203047010", "unknown fields of every wire type"],
    ["a1060102030405060708", "unknown 64-bit field, truncated"],
    ["920100", "empty Series: no quantity 0 known"],
    ["9201020804", "Series quantity 4 channel 0, no samples"],
    ["92010608041a020a0b", "extra temperature channel 0 alone"],
    ["220114920106080418011a0114", "extra temperature channel 1"],
    ["22011492010608041a020a0b", "extra temperature channel 0 twice"],
    ["920104082810017010", "unknown quantity 40"],
    ["9201030801ff7010", "truncated Series inside"],
    ["9201050821100a1a00", "Series with empty samples"],
    ["92010408211a017010", "Series samples truncated"],
    ["2205feffffff0f2205feffffff0f", "delta sum overflow"],
    ["1001220afeffffff0f02", "INT32_MAX then +1"],
    ["2a0c" + "02".repeat(12) + "100a", "co2 12 samples"],
    ["22" + "8202" + "02".repeat(257) + "100a", "257 samples"],
    ["220402020202", "4 samples, interval 0"],
    ["1081a305220202027010", "interval over a day"],
    ["1881bc25220102", "age over a week"],
    ["78808080f005220102", "time before 2020 (2^30+..)"],
    ["28ffffffff0f28ffffffff0f2801", "relative humidity overflow by steps"],
];

// Truncations, mutations (a byte replaced, a bit flipped, a byte inserted, bytes cut) and
// random bytes; count mutations per valid frame.
function mutateCases(uplinks, seed, perFrame, randoms, truncate) {
    const r = rng(seed);
    const cases = [];
    const valid = uplinks.filter((u) => u.hex.length > 0).slice(0, 60);
    const byLength = [...valid].sort((a, b) => a.hex.length - b.hex.length);
    if (truncate) {
        // every truncation of a short and of a middling frame
        for (const u of [byLength[10], byLength[Math.floor(byLength.length / 2)]]) {
            for (let len = 0; len < u.hex.length / 2; len++) cases.push({ hex: u.hex.slice(0, 2 * len), why: "truncated" });
        }
    }
    for (const u of valid) {
        for (let k = 0; k < perFrame; k++) {
            const b = hexToBytes(u.hex);
            const what = Math.floor(r() * 4);
            const at = Math.floor(r() * b.length);
            if (what === 0) b[at] = Math.floor(r() * 256);
            else if (what === 1) b[at] ^= 1 << Math.floor(r() * 8);
            else if (what === 2) b.splice(at, 0, Math.floor(r() * 256));
            else b.splice(at, 1 + Math.floor(r() * 3));
            cases.push({ hex: bytesToHex(b), why: "mutated" });
        }
    }
    for (let k = 0; k < randoms; k++) {
        const b = [];
        const n = Math.floor(r() * 60);
        for (let j = 0; j < n; j++) b.push(Math.floor(r() * 256));
        cases.push({ hex: bytesToHex(b), why: "random" });
    }
    return cases;
}

async function checkRobustness(uplinks) {
    const receivedMs = Date.UTC(2026, 10, 23, 9, 20, 0, 123);
    // compared with the gateway, frame by frame
    const cases = EDGE_CASES.map(([hex, why]) => ({ hex, why })).concat(mutateCases(uplinks, 42, 4, 100, true));
    let accepted = 0;
    let refused = 0;
    const gateway = gatewayDecodeAll(cases.map((c) => ({ device: "70b3d57ed0001234", receivedMs, hex: c.hex })));
    for (let k = 0; k < cases.length; k++) {
        const c = cases[k];
        const name = c.why + " " + c.hex.slice(0, 80);
        const gw = gateway[k];
        const input = { bytes: hexToBytes(c.hex), fPort: 1, recvTime: new Date(receivedMs), variables: {} };
        let out;
        await checkAsync("decodeUplink never throws " + name, async () => {
            out = await codecBoth("decodeUplink", input, name);
            assert.ok(out.data !== undefined || (Array.isArray(out.errors) && out.errors.length === 1));
        });
        if (out === undefined) continue;
        if (gw.error !== undefined) {
            refused++;
            check("as the gateway, refused " + name, () => assert.deepEqual(out, { errors: [gw.error] }));
        } else {
            accepted++;
            check("as the gateway, accepted " + name, () => assert.deepEqual(out, { data: uplinkPart(gw.json) }));
        }
    }
    // Many more, only for the codec's contract: data or one error, never an exception.
    const many = mutateCases(uplinks, 7, 40, 1000, false);
    let contractOk = 0;
    for (const c of many) {
        const input = { bytes: hexToBytes(c.hex), fPort: 1, recvTime: new Date(receivedMs), variables: {} };
        await checkAsync("decodeUplink never throws " + c.why + " " + c.hex.slice(0, 80), async () => {
            const out = await codecBoth("decodeUplink", input, c.why);
            assert.ok(out.data !== undefined || (Array.isArray(out.errors) && out.errors.length === 1));
            contractOk++;
        });
    }
    // Not bytes at all, other ports: errors, never exceptions.
    const odd = [
        { bytes: null, fPort: 1 }, { fPort: 1 }, { bytes: "0800", fPort: 1 }, { bytes: [256], fPort: 1 },
        { bytes: [1.5], fPort: 1 }, { bytes: [8, 1, 0x70, 0x10], fPort: 2 }, { bytes: [8, 1, 0x70, 0x10] },
    ];
    for (const input of odd) {
        await checkAsync("odd input " + JSON.stringify(input), async () => {
            const out = await codecBoth("decodeUplink", input, "odd");
            assert.ok(Array.isArray(out.errors) && out.errors.length === 1 && out.data === undefined, JSON.stringify(out));
        });
    }
    console.log("robustness: " + cases.length + " hand-made, truncated, mutated and random frames: " + accepted +
        " accepted and " + refused + " refused, each exactly as the gateway did; " + contractOk +
        " more mutated and random frames, each data or one error");
}

async function checkEventEdges(uplinks) {
    const u = uplinks.find((x) => {
        const g = gatewayDecode(x.device, x.receivedMs, x.hex);
        return g.json && g.json.status.includes("clock_unsynced") && g.json.samples.length > 1;
    });
    const w = new Os2iotWorker(OS2IOT_CHIRPSTACK);
    const base = chirpstackEvent(u, 7);
    const cases = [
        ["no time: gwTime, before nsTime", (e) => { delete e.time; e.rxInfo.forEach((g) => { g.gwTime = isoMs(u.receivedMs); g.nsTime = isoMs(u.receivedMs + 5000); }); }, u.receivedMs],
        ["no time, no gwTime: nsTime", (e) => { delete e.time; e.rxInfo.forEach((g) => { g.nsTime = isoMs(u.receivedMs); }); }, u.receivedMs],
        ["time with an offset", (e) => { e.time = new Date(u.receivedMs + 3600000).toISOString().replace("Z", "+01:00"); }, u.receivedMs],
    ];
    for (const [why, edit, anchor] of cases) {
        const ev = JSON.parse(JSON.stringify(base));
        edit(ev);
        const got = await w.decode(ev, {});
        const gw = gatewayDecode(u.device, anchor, u.hex);
        check("event " + why, () => {
            assert.equal(got.error, undefined, got.error);
            assert.deepEqual(got.result.samples, gw.json.samples);
            assert.equal(got.result.heard, gw.json.received);
        });
    }
    // An event time a server with a broken clock wrote: not trusted, the decoder's clock is.
    for (const bad of ["1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z"]) {
        const ev = JSON.parse(JSON.stringify(base));
        ev.time = bad;
        ev.rxInfo.forEach((g) => delete g.nsTime);
        const before = Date.now();
        const got = await w.decode(ev, {});
        const after = Date.now();
        check("event time " + bad + " untrusted", () => {
            assert.equal(got.error, undefined, got.error);
            assert.equal(got.result.heard, undefined);
            const last = Date.parse(got.result.samples[got.result.samples.length - 1].time);
            const lo = gatewayDecode(u.device, before, u.hex).json.samples.slice(-1)[0].time;
            const hi = gatewayDecode(u.device, after, u.hex).json.samples.slice(-1)[0].time;
            assert.ok(last >= Date.parse(lo) && last <= Date.parse(hi), "anchored on the decoder's clock");
        });
    }
    const broken = [
        ["not an object", []],
        ["no deviceInfo", { ...base, deviceInfo: undefined }],
        ["devEui too short", { ...base, deviceInfo: { devEui: "70b3" } }],
        ["no fCnt", { ...base, fCnt: undefined }],
        ["no data", { ...base, data: undefined }],
        ["data not base64", { ...base, data: "!!!!" }],
        ["data length", { ...base, data: "CAE" }],
        ["data padding inside", { ...base, data: "CA=BcBA=" }],
        ["fPort 2", { ...base, fPort: 2 }],
        ["data over 242 bytes", { ...base, data: "A".repeat(328) }],
    ];
    for (const [why, ev] of broken) {
        const got = await w.decode(ev, {});
        check("event " + why, () => assert.match(String(got.error), /^Sensorbro decoder: /));
    }
    // Radio metadata never costs the data.
    const noisy = { ...base, rxInfo: [{ gatewayId: "zz" }, 7, { gatewayId: "0016c001ff100001", rssi: 10.5, snr: 1 }], txInfo: "x" };
    const got = await w.decode(noisy, {});
    check("event with unusable radio metadata", () => {
        assert.equal(got.error, undefined, got.error);
        assert.deepEqual([got.result.rssi_dbm, got.result.snr_db, got.result.gateways], [0, 0, []]);
    });
    await w.close();
    const ngsi = new Os2iotWorker(NGSI_LD);
    const notOurs = [["a number", 42], ["no samples", { device: "70b3d57ed0001234", values: {} }], ["bad device", { device: "x", values: {}, samples: [] }]];
    for (const [why, p] of notOurs) {
        const r = await ngsi.decode(p, {});
        check("os2iot-ngsi-ld refuses " + why, () => assert.match(String(r.error), /^Sensorbro decoder: /));
    }
    await ngsi.close();
}

// encodeDownlink: bytes as protoc encodes the same message; applied as the firmware's
// downlink_parse applies it; every bound the firmware checks refused first.
async function checkDownlinks() {
    const good = [
        [{ config_version: 3, sample_interval_s: 600 }, "config_version: 3 sample_interval_s: 600", "ok config_version=3 sample_interval_s=600 samples_per_uplink=48 clock=0 thresholds="],
        [{ config_version: 4294967295, samples_per_uplink: 12, time: 1795000000 }, "config_version: 4294967295 samples_per_uplink: 12 time: 1795000000", "ok config_version=4294967295 sample_interval_s=300 samples_per_uplink=12 clock=1795000000 thresholds="],
        [{ sample_interval_s: 86400, samples_per_uplink: 7 }, "sample_interval_s: 86400 samples_per_uplink: 7", "ok config_version=0 sample_interval_s=86400 samples_per_uplink=7 clock=0 thresholds="],
        [{ config_version: 9, thresholds: [{ field: "co2", above: 1200 }, { field: 4, above: 2600, below: 1500 }, { field: "relative_humidity_pct", below: -5 }, { field: 13 }] },
            "config_version: 9 thresholds { field: 6 above: 1200 } thresholds { field: 4 above: 2600 below: 1500 } thresholds { field: 5 below: -5 } thresholds { field: 13 }",
            "ok config_version=9 sample_interval_s=300 samples_per_uplink=48 clock=0 thresholds=6:1200:-,4:2600:1500,5:-:-5"], // 13 without bounds: no alert on it
        [{ thresholds: [{ field: 7, above: 2147483647, below: -2147483648 }, { field: 8, above: 0, below: 0 }] },
            "thresholds { field: 7 above: 2147483647 below: -2147483648 } thresholds { field: 8 above: 0 below: 0 }",
            "ok config_version=0 sample_interval_s=300 samples_per_uplink=48 clock=0 thresholds=7:2147483647:-2147483648,8:0:0"],
        [{ config_version: 0, time: 0 }, "", "ok config_version=0 sample_interval_s=300 samples_per_uplink=48 clock=0 thresholds="],
    ];
    for (const [data, text, firmware] of good) {
        const name = JSON.stringify(data);
        const out = await codecBoth("encodeDownlink", { data, variables: {} }, name);
        check("encodeDownlink " + name, () => {
            assert.equal(out.errors, undefined, String(out.errors));
            assert.equal(out.fPort, 1);
            const want = execFileSync(PROTOC, ["-I", PROTO_DIR, "--encode=sensorbro.v1.Downlink", "sensorbro/v1/telemetry.proto"], { input: text });
            assert.equal(bytesToHex(out.bytes), want.toString("hex"), "protoc's bytes");
            if (CORPUS) assert.equal(execFileSync(CORPUS, ["--downlink", bytesToHex(out.bytes)], { encoding: "utf8" }).trim(), firmware);
        });
    }
    const bad = [
        [{ sample_interval_s: 9 }, /sample_interval_s/, "refused sample_interval_s out of range"],
        [{ sample_interval_s: 86401 }, /sample_interval_s/, "refused sample_interval_s out of range"],
        [{ samples_per_uplink: 0 }, /samples_per_uplink/, null], // protoc leaves a 0 out: "keep"
        [{ samples_per_uplink: 49 }, /samples_per_uplink/, "refused samples_per_uplink out of range"],
        [{ sample_interval_s: 86400, samples_per_uplink: 8 }, /a week/, "refused batch span too long"],
        [{ time: 1577836799 }, /time/, "refused time before 2020"],
        [{ thresholds: [{ field: 3, above: 1 }] }, /field/, "refused bad threshold"],
        [{ thresholds: [{ field: 6, above: 1 }, { field: "co2_ppm", below: 1 }] }, /twice/, "refused bad threshold"],
        [{ thresholds: [{ field: 6, above: 1, below: 2 }] }, /above 1 < below 2/, "refused bad threshold"],
        [{ thresholds: [{ field: 6, above: 2147483648 }] }, /sint32/, null],
        [{ thresholds: [{ field: 6, above: 1.5 }] }, /sint32/, null],
        [{ thresholds: [] }, /empty list/, null],
        [{ thresholds: new Array(9).fill(0).map((_, i) => ({ field: 4 + i })) }, /1\.\.8/, null],
        [{ config_version: -1 }, /config_version/, null],
        [{ interval_s: 600 }, /unknown key "interval_s"/, null],
        [{ thresholds: [{ field: 6, abovee: 1 }] }, /unknown key "abovee"/, null],
        ["600", /not an object/, null],
    ];
    for (const [data, pattern, firmware] of bad) {
        const name = JSON.stringify(data);
        const out = await codecBoth("encodeDownlink", { data, variables: {} }, name);
        check("encodeDownlink refuses " + name, () => {
            assert.equal(out.bytes, undefined);
            assert.ok(Array.isArray(out.errors) && out.errors.some((e) => pattern.test(e)), JSON.stringify(out.errors));
        });
        // The firmware refuses the same message, encoded by protoc, for the same reason.
        if (CORPUS && firmware) {
            check("firmware refuses " + name, () => {
                const text = Object.entries(data).map(([k, v]) => k === "thresholds"
                    ? v.map((t) => "thresholds { " + Object.entries(t).map(([a, b]) => a + ": " + (typeof b === "string" ? 6 : b)).join(" ") + " }").join(" ")
                    : k + ": " + v).join(" ");
                const bytes = execFileSync(PROTOC, ["-I", PROTO_DIR, "--encode=sensorbro.v1.Downlink", "sensorbro/v1/telemetry.proto"], { input: text });
                assert.equal(execFileSync(CORPUS, ["--downlink", bytes.toString("hex")], { encoding: "utf8" }).trim(), firmware);
            });
        }
    }
}

async function main() {
    const timed = async (what, fn) => {
        const t0 = Date.now();
        const r = await fn();
        console.log("  (" + what + ": " + (Date.now() - t0) + " ms)");
        return r;
    };
    checkBuildAndPortability();
    const uplinks = corpus();
    await timed("corpus", () => checkCorpus(uplinks));
    freshCalls = 0;
    await timed("robustness", () => checkRobustness(uplinks));
    await timed("events", () => checkEventEdges(uplinks));
    await timed("downlinks", () => checkDownlinks());
    if (!CORPUS) console.log("firmware not built: corpus from the fleet simulator only, no Downlink check against the firmware");
    console.log(passed + " passed, " + failed + " failed");
    process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main().catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
});
