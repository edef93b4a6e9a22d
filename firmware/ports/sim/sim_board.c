/*
 * sim_board.c - emulated flash and signal-model sensors for the simulated boards
 * (sim_board.h).
 */
#include "sim_board.h"

#include <string.h>

static const struct sensor_desc sensors[] = {
    {QUANTITY_TEMPERATURE, 0, SENSOR_EVERY_SAMPLE},
    {QUANTITY_RELATIVE_HUMIDITY, 0, SENSOR_EVERY_SAMPLE},
    {QUANTITY_CO2, 0, SENSOR_EVERY_SAMPLE},
    {QUANTITY_BATTERY, 0, SENSOR_ONCE_PER_UPLINK},
};

static bool in_range(size_t size, uint32_t offset, size_t len)
{
    return offset <= size && len <= size - offset;
}

bool sim_flash_read(const uint8_t *nvm, size_t size, uint32_t offset, void *buf, size_t len)
{
    if (!in_range(size, offset, len))
        return false;
    memcpy(buf, &nvm[offset], len);
    return true;
}

bool sim_flash_erase(uint8_t *nvm, size_t size, uint32_t page_size, uint32_t page)
{
    if (!in_range(size, page * page_size, page_size))
        return false;
    memset(&nvm[page * page_size], BOARD_NVM_ERASED_BYTE, page_size);
    return true;
}

bool sim_flash_program(uint8_t *nvm, size_t size, uint32_t offset, const void *data, size_t len)
{
    if (!in_range(size, offset, len) || offset % 8 != 0 || len % 8 != 0)
        return false;
    /* Flash programs a byte once per erase: writing over a programmed one is a core bug. */
    for (size_t i = 0; i < len; i++) {
        if (nvm[offset + i] != BOARD_NVM_ERASED_BYTE)
            return false;
    }
    memcpy(&nvm[offset], data, len);
    return true;
}

const struct sensor_desc *sim_sensors(size_t *count)
{
    *count = sizeof(sensors) / sizeof(sensors[0]);
    return sensors;
}

bool sim_sensor_read(const struct signals_sensor *models, const struct sensor_desc *sensor,
                     int64_t t_s, int32_t *value)
{
    struct signals_sample s;
    signals_sample(models, t_s, &s);
    switch (sensor->quantity) {
    case QUANTITY_TEMPERATURE:
        *value = s.temperature_centi_c;
        return true;
    case QUANTITY_RELATIVE_HUMIDITY:
        *value = s.humidity_deci_pct;
        return true;
    case QUANTITY_CO2:
        *value = s.co2_ppm;
        return true;
    case QUANTITY_BATTERY:
        *value = s.battery_mv;
        return true;
    case QUANTITY_OCCUPANCY:
        *value = s.occupancy_people;
        return true;
    default:
        return false;
    }
}
