/*
 * modem.h - the simulated LoRaWAN modem: the AT command set on one side, the radio on the
 * other (time on air, duty cycle, receive windows), with real LoRaWAN 1.0.x frames.
 *
 * The AT set is the one docs/firmware.md documents (and firmware/core/at_parse.h parses):
 *   AT                      OK
 *   AT+VER?                 +VER:<text>, OK
 *   AT+DEVADDR?             +DEVADDR:<8 hex>, OK
 *   AT+JOIN                 OK, then +JOIN:OK (ABP: the session exists already). OTAA: OK,
 *                           then a Join-Request goes on air and +JOIN:OK follows a valid
 *                           Join-Accept in RX1 (5 s) or RX2 (6 s), +JOIN:FAIL when none came
 *   AT+NJS?                 +NJS:<0|1>, OK (0 also while an OTAA join is under way)
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
 * is taken, otherwise the windows close RX2_DELAY_MS + RX_WINDOW_MS after the end. A
 * Join-Request's windows are JOIN_RX1_DELAY_MS and JOIN_RX2_DELAY_MS after its end. A
 * PULL_RESP's timestamp is not checked: a frame the network sends while the windows are
 * pending or open is taken as sent in them.
 *
 * OTAA: each AT+JOIN uses the next DevNonce (otaa.next_dev_nonce, from a random or persisted
 * start), counting up without wrapping, so none is reused and a 1.0.4 network server, which
 * wants them increasing, takes every one; a new join drops the old session. The AppKey
 * lives in struct modem_otaa only and is never printed.
 */
#ifndef MODEM_SIM_MODEM_H
#define MODEM_SIM_MODEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "airtime.h"
#include "lorawan/gwmp.h"
#include "session.h"

#define MODEM_VERSION     "sensorbro-modem-sim 1.0"
#define RX2_DELAY_MS      2000.0
#define RX_WINDOW_MS      500.0
#define JOIN_RX1_DELAY_MS ((double)LORAWAN_JOIN_ACCEPT_DELAY1_MS)
#define JOIN_RX2_DELAY_MS (JOIN_RX1_DELAY_MS + 1000.0)

enum radio_state { RADIO_IDLE, RADIO_TX, RADIO_RX };

/* How the modem reaches the world; main.c implements these. */
struct modem_io {
    void (*reply)(void *ctx, const char *line);             /* one line to the node */
    void (*forward)(void *ctx, const struct gwmp_rxpk *rx); /* one frame to the network */
    /* Optional: the DevNonce about to go on air, to persist it; false stops the join. */
    bool (*dev_nonce_used)(void *ctx, uint16_t dev_nonce);
    void *ctx;
};

/* Over-the-air activation; enabled false: ABP with the configured session. */
struct modem_otaa {
    bool enabled;
    uint64_t dev_eui;
    uint64_t join_eui;
    uint8_t app_key[LORAWAN_KEY_SIZE];
    uint16_t next_dev_nonce;
    bool dev_nonces_spent; /* 65535 was used: DevNonce counts up and never wraps (1.0.4) */
    uint16_t dev_nonce;    /* of the join under way */
};

struct modem {
    struct lorawan_session session;
    struct modem_otaa otaa;
    bool joining; /* the radio carries a Join-Request and listens for its accept */
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
    uint32_t joins_accepted;
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
