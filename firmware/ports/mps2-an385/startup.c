/*
 * startup.c - the Cortex-M3 vector table and reset handler for mps2-an385.
 *
 * The reset handler copies .data from flash to RAM and zeroes .bss (symbols from
 * mps2-an385.ld), then calls main(). Faults end a test build through semihosting with a
 * distinct status and restart a production image, as a watchdog would.
 */
#include <stdint.h>
#include <string.h>

#include "cmsdk.h"
#include "mps2_board.h"
#include "semihost.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_top[];

int main(void);
void reset_handler(void);
void nmi_handler(void);
void hard_fault_handler(void);
void default_handler(void);

_Noreturn void board_fatal(int code)
{
#ifdef SB_SEMIHOSTING_EXIT
    semihost_exit(code);
#else
    (void)code;
    SCB_AIRCR = SCB_AIRCR_SYSRESETREQ;
    for (;;) {
    }
#endif
}

void reset_handler(void)
{
    memcpy(__data_start, __data_load, (size_t)((char *)__data_end - (char *)__data_start));
    memset(__bss_start, 0, (size_t)((char *)__bss_end - (char *)__bss_start));
    main();
    board_fatal(BOARD_EXIT_MAIN_RETURNED);
}

/* The watchdog's first timeout: the main loop stopped running. */
void nmi_handler(void)
{
    board_fatal(BOARD_EXIT_WATCHDOG);
}

void hard_fault_handler(void)
{
    board_fatal(BOARD_EXIT_FAULT);
}

void default_handler(void)
{
    board_fatal(BOARD_EXIT_FAULT);
}

#define VECTOR_COUNT (16 + 32) /* system exceptions + the AN385's 32 interrupts */

__attribute__((section(".isr_vector"), used)) static void (*const vectors[VECTOR_COUNT])(void) = {
    [0] = (void (*)(void))__stack_top,
    [1] = reset_handler,
    [2] = nmi_handler,
    [3] = hard_fault_handler,
    [4] = default_handler,  /* MemManage */
    [5] = default_handler,  /* BusFault */
    [6] = default_handler,  /* UsageFault */
    [11] = default_handler, /* SVCall */
    [14] = default_handler, /* PendSV */
    [15] = systick_handler,
    [16 + UART0_RX_IRQN] = uart0_rx_handler,
    [17 ... VECTOR_COUNT - 1] = default_handler,
};
