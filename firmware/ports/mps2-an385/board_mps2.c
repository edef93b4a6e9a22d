/*
 * board_mps2.c - board.h for Arm's MPS2 board with the AN385 Cortex-M3 image, as QEMU's
 * `-M mps2-an385` emulates it.
 *
 * - Time: SysTick interrupts every millisecond and counts board_time_ms().
 * - Modem: CMSDK UART0. Its receive interrupt moves each byte into a ring buffer that
 *   board_modem_read() drains; transmit is polled (an AT line is a few hundred bytes).
 * - Debug log: CMSDK UART1, polled.
 * - Sleep: WFI until SysTick reaches the wake time or a byte arrives, and at least every
 *   WATCHDOG_KICK_MS so the main loop can restart the watchdog.
 * - Watchdog: CMSDK watchdog; its first timeout raises the NMI (startup.c).
 * - NVM: four 1 KiB pages at the top of the 4 MiB code memory. QEMU models that memory as
 *   RAM, so flash is emulated here: erase writes 0xFF, program refuses bytes that are not
 *   erased. The image ships the area erased, as a factory-programmed part would be.
 * - Sensors: the project's simulated sensors (tools/signals/signals.c, shared with the
 *   fleet simulator), evaluated at a fixed simulated start time plus board time.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "cmsdk.h"
#include "mps2_board.h"
#include "signals.h"
#include "sim_board.h"

#define UART_BAUDDIV      16u  /* the smallest QEMU accepts; rate is not modelled */
#define RX_RING_BYTES     256u /* a power of two */
#define WATCHDOG_PERIOD_S 8u
#define WATCHDOG_KICK_MS  2000u
#define NVM_PAGE_SIZE     1024u
#define NVM_PAGE_COUNT    4u
#define SENSOR_SEED       1u
#define SENSOR_UTC_OFFSET 3600

_Static_assert((RX_RING_BYTES & (RX_RING_BYTES - 1)) == 0, "ring size is a power of two");

/* Erased NVM, placed by the linker script in the code memory's top 64 KiB. */
__attribute__((section(".nvm"),
               aligned(NVM_PAGE_SIZE))) static uint8_t nvm_area[NVM_PAGE_SIZE * NVM_PAGE_COUNT] = {
    [0 ... NVM_PAGE_SIZE * NVM_PAGE_COUNT - 1] = BOARD_NVM_ERASED_BYTE};

static struct mps2_board {
    volatile uint32_t ms;
    uint8_t rx_ring[RX_RING_BYTES];
    volatile uint32_t rx_head; /* written by the interrupt */
    uint32_t rx_tail;          /* written by the main loop */
    volatile uint32_t rx_overruns;
    struct signals_sensor sensor;
} board;

void systick_handler(void)
{
    board.ms++;
}

void uart0_rx_handler(void)
{
    /* Clear first, then drain. The UART takes its next byte as soon as DATA is read and
     * raises RX again only for a new byte: a byte that lands between the last RX-full check
     * and a clear written after the loop would leave RX full with nothing pending, and the
     * line would stall for good (QEMU 7.2's chardev feeds bytes from another thread, so
     * that window is real there). */
    CMSDK_UART0->intstatus = UART_INT_RX;
    while (CMSDK_UART0->state & UART_STATE_RX_FULL) {
        uint8_t byte = (uint8_t)CMSDK_UART0->data;
        if (board.rx_head - board.rx_tail < RX_RING_BYTES)
            board.rx_ring[board.rx_head++ % RX_RING_BYTES] = byte;
        else
            board.rx_overruns++; /* the AT driver then sees a garbled line and drops it */
    }
}

void board_init(void)
{
    CMSDK_UART0->bauddiv = UART_BAUDDIV;
    CMSDK_UART0->ctrl = UART_CTRL_TX_EN | UART_CTRL_RX_EN | UART_CTRL_RX_IRQ;
    CMSDK_UART1->bauddiv = UART_BAUDDIV;
    CMSDK_UART1->ctrl = UART_CTRL_TX_EN;
    NVIC_ISER0 = 1u << UART0_RX_IRQN;

    SYSTICK->rvr = SYSCLK_HZ / 1000u - 1u;
    SYSTICK->cvr = 0;
    SYSTICK->csr = 0x7u; /* processor clock, interrupt, enable */

    CMSDK_WATCHDOG->lock = WATCHDOG_UNLOCK_KEY;
    CMSDK_WATCHDOG->load = SYSCLK_HZ * WATCHDOG_PERIOD_S;
    CMSDK_WATCHDOG->control = WATCHDOG_CTRL_INTEN | WATCHDOG_CTRL_RESEN;
    CMSDK_WATCHDOG->lock = 0;

    signals_init(&board.sensor, SENSOR_SEED, 0, SIM_EPOCH_S, SENSOR_UTC_OFFSET);
}

uint32_t board_time_ms(void)
{
    return board.ms;
}

void board_sleep_until(uint32_t wake_ms)
{
    uint32_t kick_ms = board.ms + WATCHDOG_KICK_MS;
    if ((int32_t)(kick_ms - wake_ms) < 0)
        wake_ms = kick_ms;
    for (;;) {
        cpu_irq_disable();
        bool due = (int32_t)(board.ms - wake_ms) >= 0 || board.rx_head != board.rx_tail;
        if (!due)
            cpu_wait_for_interrupt();
        cpu_irq_enable(); /* the pending interrupt runs here */
        if (due)
            return;
    }
}

size_t board_modem_read(uint8_t *buf, size_t capacity)
{
    size_t n = 0;
    while (n < capacity && board.rx_tail != board.rx_head)
        buf[n++] = board.rx_ring[board.rx_tail++ % RX_RING_BYTES];
    return n;
}

static void uart_write(struct cmsdk_uart *uart, const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while (uart->state & UART_STATE_TX_FULL) {
        }
        uart->data = data[i];
    }
}

bool board_modem_write(const uint8_t *data, size_t len)
{
    uart_write(CMSDK_UART0, data, len);
    return true;
}

uint32_t board_nvm_page_size(void)
{
    return NVM_PAGE_SIZE;
}

uint32_t board_nvm_page_count(void)
{
    return NVM_PAGE_COUNT;
}

bool board_nvm_read(uint32_t offset, void *buf, size_t len)
{
    return sim_flash_read(nvm_area, sizeof(nvm_area), offset, buf, len);
}

bool board_nvm_erase_page(uint32_t page)
{
    return sim_flash_erase(nvm_area, sizeof(nvm_area), NVM_PAGE_SIZE, page);
}

bool board_nvm_program(uint32_t offset, const void *data, size_t len)
{
    return sim_flash_program(nvm_area, sizeof(nvm_area), offset, data, len);
}

const struct sensor_desc *board_sensors(size_t *count)
{
    return sim_sensors(count);
}

bool board_sensor_read(const struct sensor_desc *sensor, int32_t *value)
{
    return sim_sensor_read(&board.sensor, sensor, SIM_EPOCH_S + (board.ms + 500u) / 1000u, value);
}

void board_watchdog_kick(void)
{
    CMSDK_WATCHDOG->lock = WATCHDOG_UNLOCK_KEY;
    CMSDK_WATCHDOG->intclr = 1;
    CMSDK_WATCHDOG->lock = 0;
}

void board_log_write(const char *text, size_t len)
{
    uart_write(CMSDK_UART1, (const uint8_t *)text, len);
}
