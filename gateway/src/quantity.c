/*
 * quantity.c - the quantity table. Ids 4-13 are the Uplink's own series fields; ids from 32
 * are quantities that only travel in Uplink.extra. Ids are wire format: never change or
 * reuse one, only add.
 */
#include "quantity.h"

#include <string.h>

static const struct quantity quantities[] = {
    {4, "temperature", "temperature_c", 100, "degC"},
    {5, "relative_humidity", "relative_humidity_pct", 10, "%RH"},
    {6, "co2", "co2_ppm", 1, "ppm"},
    {7, "battery", "battery_v", 1000, "V"},
    {8, "sound_level", "sound_level_dba", 10, "dB(A)"},
    {9, "occupancy", "occupancy_people", 1, "people"},
    {10, "illuminance", "illuminance_lx", 1, "lx"},
    {11, "pressure", "pressure_hpa", 100, "hPa"},
    {12, "water_volume", "water_volume_l", 1, "L"},
    {13, "energy", "energy_wh", 1, "Wh"},
    {32, "voc_index", "voc_index", 1, "index"},
    {33, "pm2_5", "pm2_5_ugm3", 10, "ug/m3"},
    {34, "pm10", "pm10_ugm3", 10, "ug/m3"},
    {35, "power", "power_w", 1, "W"},
    {36, "distance", "distance_mm", 1, "mm"},
    {37, "contact_open", "contact_open", 1, "0/1"},
    {38, "motion_events", "motion_events", 1, "events"},
    {39, "soil_moisture", "soil_moisture_pct", 10, "%"},
};

const struct quantity *quantity_find(uint32_t id)
{
    for (size_t i = 0; i < sizeof(quantities) / sizeof(quantities[0]); i++) {
        if (quantities[i].id == id)
            return &quantities[i];
    }
    return NULL;
}

const struct quantity *quantity_find_by_key(const char *key)
{
    for (size_t i = 0; i < sizeof(quantities) / sizeof(quantities[0]); i++) {
        if (strcmp(quantities[i].json_key, key) == 0 || strcmp(quantities[i].name, key) == 0)
            return &quantities[i];
    }
    return NULL;
}

const struct quantity *quantity_table(size_t *count)
{
    *count = sizeof(quantities) / sizeof(quantities[0]);
    return quantities;
}
