/*
 * board.h - what a port gives the portable core: time, sleep, the modem's serial line, NVM,
 * sensors, a watchdog and a debug log. Nothing else in firmware/core touches hardware or an
 * operating system, so a new board is one directory under firmware/ports/ implementing
 * these functions (docs/firmware.md, "Adding a board").
 *
 * The core calls them from one thread of execution (the main loop). A port's interrupt
 * handlers may fill buffers behind board_modem_read() and wake board_sleep_until(), but
 * never call into the core.
 */
#ifndef SB_BOARD_H
#define SB_BOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sensor.h"

/* --- time ------------------------------------------------------------------------------ */

/* Milliseconds since boot from a monotonic clock. Wraps every 2^32 ms (49.7 days): the
 * core only ever compares two readings by their difference, which survives the wrap. */
uint32_t board_time_ms(void);

/* Sleeps (WFI, poll) until board_time_ms() reaches wake_ms, or earlier when a byte arrives
 * from the modem or another interrupt fires. Returning early is always allowed. */
void board_sleep_until(uint32_t wake_ms);

/* --- modem serial line ----------------------------------------------------------------- */

/* Copies up to capacity bytes that arrived from the modem into buf without waiting.
 * Returns how many (0 when none). Bytes are untrusted: the core bounds-checks everything. */
size_t board_modem_read(uint8_t *buf, size_t capacity);

/* Writes len bytes to the modem, waiting until they are handed to the UART. Returns false
 * when the line is gone (host port: the simulator closed it). */
bool board_modem_write(const uint8_t *data, size_t len);

/* --- NVM: flash-like pages ------------------------------------------------------------- */
/* Erasing a page sets every byte to 0xFF; programming can only clear bits, so a byte can be
 * programmed once per erase. Offsets are from the start of the NVM area. */

#define BOARD_NVM_ERASED_BYTE 0xFFu

uint32_t board_nvm_page_size(void);  /* bytes, a multiple of 8 */
uint32_t board_nvm_page_count(void); /* at least 2 */
bool board_nvm_read(uint32_t offset, void *buf, size_t len);
bool board_nvm_erase_page(uint32_t page);
/* offset and len are multiples of 8 (the coarsest flash write granularity we target). */
bool board_nvm_program(uint32_t offset, const void *data, size_t len);

/* --- sensors --------------------------------------------------------------------------- */

/* The board's sensors, in the order their series appear in an uplink. The table lives as
 * long as the program. At most STORE_MAX_SERIES entries (sample_store.h). */
const struct sensor_desc *board_sensors(size_t *count);

/* Reads one sensor now. Returns false when it failed (the core repeats the previous value
 * and flags a sensor fault, so the series keeps its time base). */
bool board_sensor_read(const struct sensor_desc *sensor, int32_t *value);

/* --- watchdog and log ------------------------------------------------------------------ */

/* Called at least once per main-loop turn; a port with a watchdog restarts it here. */
void board_watchdog_kick(void);

/* Appends len bytes of text to the debug log; the core ends each line with '\n' (trace.h).
 * May drop text; never blocks for long. */
void board_log_write(const char *text, size_t len);

#endif
