/*
 * session.h - the device side of a LoRaWAN 1.0.x session in the modem simulator: uplinks
 * built with the session's counter, downlinks checked against its DevAddr and FCntDown and
 * opened. Frames and crypto are the shared library's (gateway/src/lorawan/lorawan.h), so the
 * simulator and the gateway run the same code; this file only keeps the session state.
 *
 * The session keys live in struct lorawan_session only; never log them.
 */
#ifndef MODEM_SIM_SESSION_H
#define MODEM_SIM_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lorawan.h"

struct lorawan_session {
    uint32_t dev_addr;
    uint8_t nwk_s_key[LORAWAN_KEY_SIZE];
    uint8_t app_s_key[LORAWAN_KEY_SIZE];
    uint32_t fcnt_up;   /* of the next uplink */
    uint32_t fcnt_down; /* of the last accepted downlink */
    bool have_fcnt_down;
};

/* Builds the uplink with the session's fcnt_up (not advanced here); FOptsLen in fctrl is
 * ignored (no MAC commands are sent). Returns the PHYPayload length, or 0 when out is too
 * small or the crypto failed. */
size_t session_build_uplink(const struct lorawan_session *s, bool confirmed, uint8_t fctrl,
                            uint8_t fport, const uint8_t *payload, size_t len, uint8_t *out,
                            size_t out_size);

/* An opened downlink. */
struct session_downlink {
    bool confirmed;
    bool ack; /* FCtrl.ACK: acknowledges our last confirmed uplink */
    bool has_port;
    uint8_t fport;
    uint32_t fcnt;
    uint8_t payload[LORAWAN_PHY_MAX_BYTES];
    size_t len;
};

enum session_rx_status {
    SESSION_RX_OK,
    SESSION_RX_MALFORMED,
    SESSION_RX_NOT_FOR_US, /* another DevAddr, or not a data downlink */
    SESSION_RX_BAD_MIC,
    SESSION_RX_REPLAY, /* FCntDown not above the last accepted one */
};

/* Checks and opens a downlink PHYPayload; on SESSION_RX_OK records its FCntDown in s. */
enum session_rx_status session_open_downlink(struct lorawan_session *s, const uint8_t *phy,
                                             size_t len, struct session_downlink *out);

const char *session_rx_status_name(enum session_rx_status status);

#endif
