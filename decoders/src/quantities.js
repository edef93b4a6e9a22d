// ---- quantities: the gateway's table (gateway/src/quantity.c), one row per wire id ----
// id: Uplink field number (4-13) or extra quantity id (32 and up); key: the JSON key, unit
// included; divisor: published value = wire value / divisor. Ids are wire format: never
// change or reuse one. tests/decoders/run.js checks this table against quantity.c.
var QUANTITIES = [
    { id: 4, name: "temperature", key: "temperature_c", divisor: 100 },
    { id: 5, name: "relative_humidity", key: "relative_humidity_pct", divisor: 10 },
    { id: 6, name: "co2", key: "co2_ppm", divisor: 1 },
    { id: 7, name: "battery", key: "battery_v", divisor: 1000 },
    { id: 8, name: "sound_level", key: "sound_level_dba", divisor: 10 },
    { id: 9, name: "occupancy", key: "occupancy_people", divisor: 1 },
    { id: 10, name: "illuminance", key: "illuminance_lx", divisor: 1 },
    { id: 11, name: "pressure", key: "pressure_hpa", divisor: 100 },
    { id: 12, name: "water_volume", key: "water_volume_l", divisor: 1 },
    { id: 13, name: "energy", key: "energy_wh", divisor: 1 },
    { id: 32, name: "voc_index", key: "voc_index", divisor: 1 },
    { id: 33, name: "pm2_5", key: "pm2_5_ugm3", divisor: 10 },
    { id: 34, name: "pm10", key: "pm10_ugm3", divisor: 10 },
    { id: 35, name: "power", key: "power_w", divisor: 1 },
    { id: 36, name: "distance", key: "distance_mm", divisor: 1 },
    { id: 37, name: "contact_open", key: "contact_open", divisor: 1 },
    { id: 38, name: "motion_events", key: "motion_events", divisor: 1 },
    { id: 39, name: "soil_moisture", key: "soil_moisture_pct", divisor: 10 }
];
var FIRST_FIXED_QUANTITY = 4;
var LAST_FIXED_QUANTITY = 13;

function quantityById(id) {
    for (var i = 0; i < QUANTITIES.length; i++) {
        if (QUANTITIES[i].id === id) return QUANTITIES[i];
    }
    return null;
}

// A threshold or quantity named by id (6), schema name ("co2") or JSON key ("co2_ppm").
function quantityByName(name) {
    for (var i = 0; i < QUANTITIES.length; i++) {
        if (QUANTITIES[i].name === name || QUANTITIES[i].key === name) return QUANTITIES[i];
    }
    return null;
}
