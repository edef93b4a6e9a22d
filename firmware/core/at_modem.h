/*
 * at_modem.h - the driver of the LoRaWAN modem's AT command set: one command at a time,
 * each with a timeout and a number of attempts, over the board's modem UART.
 *
 * State machine:
 *
 *     IDLE --start()--> WAITING --OK / ERROR:<n>--------------------> DONE --finish()--> IDLE
 *                        |   ^
 *                        |   +-- timeout, attempts left: the command is sent again
 *                        +------ timeout, none left, or the line is gone -----> DONE
 *
 * While WAITING, information lines (+DR, +DUTY, +ACK) are collected into the result. Lines
 * that arrive on their own at any time (+JOIN, +RECV) are passed to the unsolicited-line
 * callback at once, in every state. Lines that match no grammar are counted and dropped
 * (at_parse.h), as are final results that arrive when no command waits (a late answer to a
 * command that timed out).
 *
 * The driver never blocks: at_modem_poll() takes what the UART has and checks the
 * deadline; the caller sleeps until at_modem_wake_ms() or the next byte.
 */
#ifndef SB_AT_MODEM_H
#define SB_AT_MODEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "at_parse.h"

/* The longest line the node accepts: a +RECV with the largest valid Downlink. */
#define AT_LINE_MAX (sizeof("+RECV=223,-200,-40:") - 1 + 2 * AT_RECV_MAX_BYTES)

/* Modem error codes (ERROR:<code>), as docs/firmware.md documents them. */
enum at_error {
    AT_ERROR_UNSPECIFIED = 0,
    AT_ERROR_UNKNOWN_COMMAND = 1,
    AT_ERROR_BAD_PARAMETER = 2,
    AT_ERROR_NOT_JOINED = 3,
    AT_ERROR_BUSY = 4,
    AT_ERROR_TOO_LONG = 5,   /* payload longer than the data rate allows */
    AT_ERROR_DUTY_CYCLE = 6, /* preceded by +DUTY:<wait_ms> */
    AT_ERROR_NO_ACK = 7,     /* confirmed uplink not acknowledged */
};

enum at_command {
    AT_CMD_PROBE,    /* AT */
    AT_CMD_JOIN,     /* AT+JOIN */
    AT_CMD_DR_QUERY, /* AT+DR? */
    AT_CMD_SEND,     /* AT+SEND=<port>:<hex> */
    AT_CMD_CSEND,    /* AT+CSEND=<port>:<hex>, confirmed */
};

enum at_state { AT_IDLE, AT_WAITING, AT_DONE };

enum at_result {
    AT_RESULT_OK,
    AT_RESULT_ERROR,     /* error_code says which */
    AT_RESULT_TIMEOUT,   /* no final result within the timeout, on every attempt */
    AT_RESULT_LINE_DOWN, /* the board could not write to the modem */
};

typedef void (*at_unsolicited_fn)(void *ctx, const struct at_line *line);

/* One-byte fields first: a Cortex-M0+ byte load takes an immediate offset of at most 31. */
struct at_modem {
    enum at_state state;
    enum at_command command;
    uint8_t attempts_left;
    uint8_t port;

    /* The result, valid in DONE (with duty_wait_ms below). */
    enum at_result result;
    uint8_t error_code;
    bool have_dr;
    uint8_t dr;
    bool acked;

    bool discarding; /* the current line overflowed: drop it up to its end */

    uint32_t timeout_ms;
    uint32_t deadline_ms;
    /* The payload of a send: the caller's buffer, which must stay unchanged until DONE. */
    const uint8_t *payload;
    size_t payload_len;
    uint32_t duty_wait_ms;

    size_t line_len;
    uint32_t garbage_lines; /* lines that matched no grammar, or overflowed */
    uint32_t stray_results; /* final results with no command waiting */
    uint32_t timeouts;      /* attempts that timed out */

    at_unsolicited_fn on_unsolicited;
    void *ctx;
    char line[AT_LINE_MAX + 1]; /* the line being assembled (+ a '\r' before the '\n') */
};

void at_modem_init(struct at_modem *m, at_unsolicited_fn on_unsolicited, void *ctx);

/* Sends a command without a payload (PROBE, JOIN, DR_QUERY). Only in IDLE; false
 * otherwise. */
bool at_modem_start(struct at_modem *m, uint32_t now_ms, enum at_command command,
                    uint32_t timeout_ms, uint8_t attempts);

/* Sends payload on port (1-223), confirmed or not. payload must stay valid until DONE. */
bool at_modem_send(struct at_modem *m, uint32_t now_ms, uint8_t port, bool confirmed,
                   const uint8_t *payload, size_t len, uint32_t timeout_ms, uint8_t attempts);

/* Reads and handles what the modem sent, then checks the deadline. */
void at_modem_poll(struct at_modem *m, uint32_t now_ms);

/* Back to IDLE after the caller read a DONE result. */
void at_modem_finish(struct at_modem *m);

/* When the driver next needs to run (its deadline), or false when it waits for nothing. */
bool at_modem_wake_ms(const struct at_modem *m, uint32_t *wake_ms);

#endif
