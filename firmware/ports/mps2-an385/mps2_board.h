/*
 * mps2_board.h - what the mps2-an385 port's files share: interrupt handlers, set-up, and
 * the exit codes a test build reports through semihosting.
 */
#ifndef SB_MPS2_BOARD_H
#define SB_MPS2_BOARD_H

enum board_exit {
    BOARD_EXIT_OK = 0,
    BOARD_EXIT_INIT_FAILED = 1,
    BOARD_EXIT_FAULT = 2,
    BOARD_EXIT_WATCHDOG = 3,
    BOARD_EXIT_MAIN_RETURNED = 4,
};

/* Clocks, UARTs, SysTick, the watchdog and the UART interrupt. */
void board_init(void);

/* Ends a test build with code (semihosting), restarts a production image. */
_Noreturn void board_fatal(int code);

void systick_handler(void);
void uart0_rx_handler(void);

#endif
