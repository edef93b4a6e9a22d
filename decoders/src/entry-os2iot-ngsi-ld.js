// OS2iot calls decode(payload, metadata) with the message as parsed JSON and its own
// device record, and hands what it returns to the device's data targets; the FIWARE data
// target POSTs it unchanged to {url}/ngsi-ld/v1/entityOperations/upsert/. A message that
// is not a Sensorbro reading throws: OS2iot logs the error and sends nothing.
function decode(payload, metadata) {
    var message = payload;
    if (SENSORBRO.isObject(payload) && !Array.isArray(payload.samples) && SENSORBRO.isObject(payload.deviceInfo)) {
        // a LoRaWAN device of OS2iot's own ChirpStack: the event, with the Uplink in `data`
        var fromEvent = SENSORBRO.messageFromEvent(payload, Date.now());
        if (fromEvent.error !== undefined) throw new Error("Sensorbro decoder: " + fromEvent.error);
        message = fromEvent.message;
    } else if (!SENSORBRO.isObject(payload)) {
        throw new Error("Sensorbro decoder: the payload is not a JSON object");
    }
    var out = SENSORBRO.ngsiEntities(message, metadata, SENSORBRO_NGSI_LD_CONTEXT);
    if (out.error !== undefined) throw new Error("Sensorbro decoder: " + out.error);
    return out.entities;
}
