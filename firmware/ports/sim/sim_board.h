/*
 * sim_board.h - the parts of board.h that the simulated boards (host, mps2-an385) share:
 * flash emulated on a byte array, and sensors read from the fleet simulator's signal
 * models (tools/signals/signals.h, the one set of simulated sensors of the project).
 *
 * A port owns the memory and the signals_sensor; these functions only give them flash and
 * sensor semantics. Not thread-safe; one caller (the main loop).
 */
#ifndef SB_SIM_BOARD_H
#define SB_SIM_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "signals.h"

/* 2026-01-05 00:00:00 UTC, a Monday: simulated days start with an office day. */
#define SIM_EPOCH_S 1767571200LL

/* Flash semantics on nvm[0..size): erase sets a page to 0xFF, program writes only bytes
 * that are erased, in units of 8 at multiples of 8 (what board.h promises the core). */
bool sim_flash_read(const uint8_t *nvm, size_t size, uint32_t offset, void *buf, size_t len);
bool sim_flash_erase(uint8_t *nvm, size_t size, uint32_t page_size, uint32_t page);
bool sim_flash_program(uint8_t *nvm, size_t size, uint32_t offset, const void *data, size_t len);

/* The simulated sensors: temperature, relative humidity and CO2 every sample, battery once
 * per uplink. */
const struct sensor_desc *sim_sensors(size_t *count);

/* The reading of `sensor` at unix time t_s; false for a quantity the models lack. */
bool sim_sensor_read(const struct signals_sensor *models, const struct sensor_desc *sensor,
                     int64_t t_s, int32_t *value);

#endif
