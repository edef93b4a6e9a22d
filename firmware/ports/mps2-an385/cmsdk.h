/*
 * cmsdk.h - the registers of the Arm CMSDK peripherals and Cortex-M3 system blocks the
 * mps2-an385 port uses (Arm CMSDK TRM DDI 0479, ARMv7-M ARM; addresses from the AN385
 * application note, as QEMU's mps2-an385 maps them).
 */
#ifndef SB_CMSDK_H
#define SB_CMSDK_H

#include <stdint.h>

#define SYSCLK_HZ 25000000u /* AN385 system clock */

struct cmsdk_uart {
    volatile uint32_t data;
    volatile uint32_t state;     /* bit 0 TX full, bit 1 RX full */
    volatile uint32_t ctrl;      /* bit 0 TX enable, 1 RX enable, 2 TX irq, 3 RX irq */
    volatile uint32_t intstatus; /* read: pending; write 1: clear */
    volatile uint32_t bauddiv;   /* >= 16, or the UART sends nothing */
};
#define CMSDK_UART0        ((struct cmsdk_uart *)0x40004000u) /* the modem */
#define CMSDK_UART1        ((struct cmsdk_uart *)0x40005000u) /* the debug log */
#define UART_STATE_TX_FULL 0x1u
#define UART_STATE_RX_FULL 0x2u
#define UART_CTRL_TX_EN    0x1u
#define UART_CTRL_RX_EN    0x2u
#define UART_CTRL_RX_IRQ   0x8u
#define UART_INT_RX        0x2u
#define UART0_RX_IRQN      0 /* AN385 interrupt map: UART0 RX, TX is 1 */

struct cmsdk_watchdog {
    volatile uint32_t load;
    volatile uint32_t value;
    volatile uint32_t control; /* bit 0 interrupt (NMI here) enable, bit 1 reset enable */
    volatile uint32_t intclr;  /* any write reloads the counter and clears the interrupt */
    uint32_t reserved[(0xC00 - 0x10) / 4];
    volatile uint32_t lock; /* 0x1ACCE551 unlocks the other registers */
};
#define CMSDK_WATCHDOG      ((struct cmsdk_watchdog *)0x40008000u)
#define WATCHDOG_UNLOCK_KEY 0x1ACCE551u
#define WATCHDOG_CTRL_INTEN 0x1u
#define WATCHDOG_CTRL_RESEN 0x2u

struct systick {
    volatile uint32_t csr; /* bit 0 enable, 1 interrupt, 2 processor clock */
    volatile uint32_t rvr;
    volatile uint32_t cvr;
};
#define SYSTICK ((struct systick *)0xE000E010u)

#define NVIC_ISER0            (*(volatile uint32_t *)0xE000E100u)
#define SCB_AIRCR             (*(volatile uint32_t *)0xE000ED0Cu)
#define SCB_AIRCR_SYSRESETREQ (0x05FA0000u | 0x4u)

static inline void cpu_irq_disable(void)
{
    __asm__ volatile("cpsid i" ::: "memory");
}

static inline void cpu_irq_enable(void)
{
    __asm__ volatile("cpsie i" ::: "memory");
}

/* Sleeps until an interrupt is pending; wakes even with interrupts masked (PRIMASK), which
 * is what makes the check-then-sleep in board_sleep_until() race-free. */
static inline void cpu_wait_for_interrupt(void)
{
    __asm__ volatile("wfi" ::: "memory");
}

#endif
