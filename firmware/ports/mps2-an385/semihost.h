/*
 * semihost.h - Arm semihosting, for test builds under QEMU (-semihosting-config
 * enable=on): ends the emulator with an exit status. Never called in a production image:
 * without a debugger attached the BKPT instruction faults.
 */
#ifndef SB_SEMIHOST_H
#define SB_SEMIHOST_H

/* SYS_EXIT_EXTENDED with ADP_Stopped_ApplicationExit: QEMU exits with status code. */
_Noreturn void semihost_exit(int code);

#endif
