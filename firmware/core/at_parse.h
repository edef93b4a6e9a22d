/*
 * at_parse.h - classifies and parses one line from the LoRaWAN modem.
 *
 * Every line is untrusted input: it may be cut off, hold noise from the UART, or come from
 * a modem with a different firmware. A line is recognised only when it matches its whole
 * grammar (docs/firmware.md, "AT command set"); anything else is AT_LINE_GARBAGE, counted
 * and ignored by the driver. Numbers are checked against their ranges before use, and a
 * payload is checked to be hex of a length the node can take.
 *
 * Grammar (after the driver stripped the line end):
 *   OK
 *   ERROR:<code>                         code 1-255 (docs/firmware.md lists them)
 *   ERROR                                code 0: other modems' plain error
 *   +DR:<dr>                             dr 0-15
 *   +DUTY:<wait_ms>                      wait_ms 0-4294967295
 *   +ACK
 *   +JOIN:OK | +JOIN:FAIL
 *   +RECV=<port>,<rssi>,<snr>:<hex>      port 1-223, rssi -200..0 dBm, snr -40..40 dB,
 *                                        hex: 0 to 2 * AT_RECV_MAX_BYTES digits
 *   +<anything printable>, AT<...>       information the node does not use, or an echo of
 *                                        its own command (AT_LINE_INFO)
 */
#ifndef SB_AT_PARSE_H
#define SB_AT_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "downlink.h"

/* A received payload larger than any valid Downlink cannot be one. */
#define AT_RECV_MAX_BYTES DOWNLINK_MAX_BYTES

enum at_line_kind {
    AT_LINE_EMPTY,
    AT_LINE_OK,
    AT_LINE_ERROR,
    AT_LINE_DR,
    AT_LINE_DUTY,
    AT_LINE_ACK,
    AT_LINE_JOIN,
    AT_LINE_RECV,
    AT_LINE_INFO,
    AT_LINE_GARBAGE,
};

struct at_line {
    enum at_line_kind kind;
    union {
        uint8_t error_code; /* AT_LINE_ERROR */
        uint8_t dr;         /* AT_LINE_DR */
        uint32_t wait_ms;   /* AT_LINE_DUTY */
        bool joined;        /* AT_LINE_JOIN */
        struct {
            uint8_t port;
            int16_t rssi_dbm;
            int8_t snr_db;
            const uint8_t *payload; /* points into the parsed line */
            size_t len;
        } recv; /* AT_LINE_RECV */
    } u;
};

/* Parses line[0..len) (no line end). A +RECV payload is decoded in place, so line is
 * modified and out->u.recv.payload points into it. */
void at_parse_line(char *line, size_t len, struct at_line *out);

#endif
