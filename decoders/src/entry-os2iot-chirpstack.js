// OS2iot calls decode(payload, metadata) with ChirpStack's uplink event as parsed JSON
// (for a LoRaWAN device) and its own device record. The result is the gateway's JSON
// message for that uplink: the same values and samples, keys and units. A frame that is
// not a valid Uplink throws with the gateway's reason: OS2iot logs it and sends nothing.
function decode(payload, metadata) {
    var out = SENSORBRO.messageFromEvent(payload, Date.now());
    if (out.error !== undefined) throw new Error("Sensorbro decoder: " + out.error);
    return out.message;
}
