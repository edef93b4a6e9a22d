/*
 * host_board.h - the POSIX port's settings: where the modem is, how fast simulated time
 * runs, which simulated sensor this node is, and where NVM and the sample log live.
 *
 * The port is one process and one node: its state is a single struct in board_host.c,
 * set up by host_board_open() before node_init() and torn down by host_board_close().
 */
#ifndef SB_HOST_BOARD_H
#define SB_HOST_BOARD_H

#include <stdbool.h>
#include <stdint.h>

struct host_board_options {
    const char *modem_path;      /* a pty/tty device, or a unix socket to connect to */
    double speed;                /* simulated seconds per real second (>= 1) */
    uint64_t seed;               /* the fleet seed of tools/signals/signals.h */
    uint32_t sensor_index;       /* which sensor of that fleet this node is */
    int64_t epoch_s;             /* unix time at boot, in simulated time */
    int32_t utc_offset_s;        /* of the building's local time */
    const char *nvm_path;        /* file holding the NVM pages; NULL: in memory only */
    const char *sample_log_path; /* every reading as "sample <unix_s> <quantity> <value>" */
};

/* Opens the modem, the NVM file and the sample log. Returns false with a message on
 * stderr. */
bool host_board_open(const struct host_board_options *options);
void host_board_close(void);

/* Simulated unix time now. */
int64_t host_board_unix_s(void);

#endif
