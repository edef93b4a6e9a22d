/*
 * m0plus_size_probe.c - the smallest program that keeps all of the core and nanopb alive,
 * for measuring them on a Cortex-M0+ (tests/bench/firmware-figures.sh). It is no port:
 * every board function is an empty stub, so the sizes are the core's and nanopb's, plus
 * the few libc and libgcc helpers they pull in.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "board.h"
#include "node.h"

static const struct sensor_desc probe_sensors[] = {
    {QUANTITY_TEMPERATURE, 0, SENSOR_EVERY_SAMPLE},
    {QUANTITY_RELATIVE_HUMIDITY, 0, SENSOR_EVERY_SAMPLE},
    {QUANTITY_CO2, 0, SENSOR_EVERY_SAMPLE},
    {QUANTITY_BATTERY, 0, SENSOR_ONCE_PER_UPLINK},
};

static volatile uint32_t probe_ms; /* volatile: keeps the stubs from folding the core away */

uint32_t board_time_ms(void)
{
    return probe_ms;
}

void board_sleep_until(uint32_t wake_ms)
{
    probe_ms = wake_ms;
}

size_t board_modem_read(uint8_t *buf, size_t capacity)
{
    (void)buf;
    return capacity > 0 ? probe_ms % 2u : 0;
}

bool board_modem_write(const uint8_t *data, size_t len)
{
    probe_ms += data[0] + (uint32_t)len;
    return true;
}

uint32_t board_nvm_page_size(void)
{
    return 1024;
}

uint32_t board_nvm_page_count(void)
{
    return 2;
}

bool board_nvm_read(uint32_t offset, void *buf, size_t len)
{
    (void)offset;
    (void)buf;
    return len > probe_ms;
}

bool board_nvm_erase_page(uint32_t page)
{
    return page < probe_ms;
}

bool board_nvm_program(uint32_t offset, const void *data, size_t len)
{
    (void)data;
    return offset + len < probe_ms;
}

const struct sensor_desc *board_sensors(size_t *count)
{
    *count = sizeof(probe_sensors) / sizeof(probe_sensors[0]);
    return probe_sensors;
}

bool board_sensor_read(const struct sensor_desc *sensor, int32_t *value)
{
    *value = (int32_t)probe_ms + sensor->quantity;
    return true;
}

void board_watchdog_kick(void)
{
}

void board_log_write(const char *text, size_t len)
{
    probe_ms += (uint32_t)text[0] + (uint32_t)len;
}

int main(void);
void reset_handler(void);

int main(void)
{
    static struct node node;
    if (!node_init(&node))
        return 1;
    for (;;)
        board_sleep_until(node_poll(&node));
}

void reset_handler(void)
{
    main();
    for (;;) {
    }
}

extern uint32_t __stack_top[];
__attribute__((section(".isr_vector"), used)) static void (*const vectors[2])(void) = {
    (void (*)(void))__stack_top,
    reset_handler,
};
