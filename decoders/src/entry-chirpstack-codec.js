// ChirpStack v4 device-profile codec ("JavaScript functions").
function decodeUplink(input) {
    return SENSORBRO.codecDecodeUplink(input);
}

function encodeDownlink(input) {
    return SENSORBRO.codecEncodeDownlink(input);
}
