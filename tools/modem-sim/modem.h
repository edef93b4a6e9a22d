/*
 * modem.h - the simulated LoRaWAN modem: the AT command set on one side, the radio on the
 * other (time on air, duty cycle, receive windows), with real LoRaWAN 1.0.x frames.
 *
 * The AT set is the one docs/firmware.md documents (and firmware/core/at_parse.h parses):
 *   AT                      OK
 *   AT+VER?                 +VER:<text>, OK
 *   AT+DEVADDR?             +DEVADDR:<8 hex>, OK
 *   AT+JOIN                 OK, then +JOIN:OK (ABP: the session exists already)
 *   AT+NJS?                 +NJS:<0|1>, OK
 *   AT+DR?                  +DR:<n>, OK
 *   AT+DR=<n>               OK | ERROR:2
 *   AT+SEND=<port>:<hex>    unconfirmed uplink; OK once the receive windows closed, after
 *                           any +RECV they brought
 *   AT+CSEND=<port>:<hex>   confirmed; +ACK then OK, or ERROR:7 without an ACK
 *   +RECV=<port>,<rssi>,<snr>:<hex>   a downlink, unsolicited
 * Errors: ERROR:1 unknown command, 2 bad parameter, 3 not joined, 4 busy (a send is in
 * progress), 5 payload too long for the data rate, 6 duty cycle (after +DUTY:<wait_ms>),
 * 7 no ACK.
 *
 * Time is simulated milliseconds (main.c scales real time by --speed). A send's timeline:
 * the frame is on air for its time on air, then forwarded (PUSH_DATA); RX1 opens 1 s and
 * RX2 2 s after the end of transmission; a downlink arriving from the network in that span
 * is taken, otherwise the windows close RX2_DELAY_MS + RX_WINDOW_MS after the end.
 */
#ifndef MODEM_SIM_MODEM_H
#define MODEM_SIM_MODEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airtime.h"
#include "gwmp.h"
#include "session.h"

#define MODEM_VERSION "sensorbro-modem-sim 1.0"
#define RX2_DELAY_MS  2000.0
#define RX_WINDOW_MS  500.0

enum radio_state { RADIO_IDLE, RADIO_TX, RADIO_RX };

/* How the modem reaches the world; main.c implements these. */
struct modem_io {
    void (*reply)(void *ctx, const char *line);             /* one line to the node */
    void (*forward)(void *ctx, const struct gwmp_rxpk *rx); /* one frame to the network */
    void *ctx;
};

struct modem {
    struct lorawan_session session;
    unsigned dr;
    bool joined;
    int uplink_rssi_dbm; /* radio quality reported for our uplinks */
    double uplink_snr_db;
    int downlink_rssi_dbm; /* and for downlinks, in +RECV */
    int downlink_snr_db;
    double epoch_unix_s; /* unix time at simulated time 0 */
    uint32_t channel_seed;
    struct duty_cycle duty;

    enum radio_state radio;
    bool confirmed;
    bool acked;        /* the network acknowledged the confirmed uplink */
    bool ack_downlink; /* a confirmed downlink awaits our ACK in the next uplink */
    double tx_end_ms;
    double rx_end_ms;
    uint8_t frame[LORAWAN_PHY_MAX_BYTES];
    size_t frame_len;
    double toa_ms;
    unsigned channel;

    struct modem_io io;
    uint32_t uplinks;
    uint32_t downlinks;
};

void modem_init(struct modem *m, const struct modem_io *io);

/* One line from the node, without its line end. */
void modem_handle_line(struct modem *m, const char *line, double now_ms);

/* Advances the radio to now_ms; returns when it next needs to run (or a negative number
 * when it waits for nothing). */
double modem_poll(struct modem *m, double now_ms);

/* A PHYPayload the network wants transmitted (PULL_RESP). Returns the TX_ACK error word:
 * "NONE" when it was delivered in a receive window, "TOO_LATE" when no window is open. */
const char *modem_downlink(struct modem *m, const uint8_t *phy, size_t len, double now_ms);

#endif
