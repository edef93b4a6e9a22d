/*
 * fake_board.h - board.h for the firmware unit tests: a clock the test moves, a modem
 * whose replies the test scripts, NVM in memory that can be made to fail or corrupted,
 * and sensors whose readings the test sets.
 *
 * The modem side: every complete line the core writes is passed to the test's responder
 * (if any), which may queue reply bytes with fake_modem_reply(); the core reads them on its
 * next poll. fake_modem_last_line() returns the last line written.
 */
#ifndef FAKE_BOARD_H
#define FAKE_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board.h"

#define FAKE_NVM_PAGE_SIZE  256u
#define FAKE_NVM_PAGE_COUNT 4u
#define FAKE_MAX_SENSORS    8

typedef void (*fake_responder_fn)(const char *line);

/* Back to power-on state: time 0, empty modem queues, erased NVM, no sensors. */
void fake_board_reset(void);

void fake_time_set_ms(uint32_t ms);
void fake_time_advance_ms(uint32_t ms);

void fake_modem_set_responder(fake_responder_fn responder);
/* Queues text for the core to read. */
void fake_modem_reply(const char *text);
void fake_modem_reply_bytes(const uint8_t *data, size_t len);
const char *fake_modem_last_line(void);
/* How many lines the core wrote that start with prefix. */
unsigned fake_modem_count(const char *prefix);
/* Makes board_modem_write fail (the line is gone). */
void fake_modem_set_down(bool down);

void fake_sensors_set(const struct sensor_desc *sensors, size_t count);
void fake_sensor_value(size_t index, int32_t value, bool ok);

uint8_t *fake_nvm_bytes(void); /* FAKE_NVM_PAGE_SIZE * FAKE_NVM_PAGE_COUNT bytes */
/* After `calls` more flash operations (erases and programs) succeed, the next one fails: a
 * program lands only its first `bytes_left` bytes, as a power loss during a write would
 * leave it, an erase does nothing. -1: never fail. */
void fake_nvm_fail_after(int calls, size_t bytes_left);
unsigned fake_nvm_erase_count(uint32_t page);

/* The debug log, all lines, '\n'-separated (bounded; oldest text is dropped). */
const char *fake_log(void);
void fake_log_clear(void);

#endif
