/*
 * lorawan.h - LoRaWAN 1.0.x data frames for an ABP device: uplinks built and protected,
 * downlinks checked and opened. The crypto is OpenSSL's (AES-128 through EVP, AES-CMAC
 * through EVP_MAC); nothing here implements a cipher.
 *
 * Frame (PHYPayload): MHDR | DevAddr (4, LE) | FCtrl | FCnt (2, LE) | FOpts | FPort |
 * FRMPayload | MIC (4). FRMPayload is encrypted with AppSKey (FPort > 0) or NwkSKey
 * (FPort 0) in the spec's counter mode: block i (from 1) of the key stream is
 * AES(K, 0x01 | 0^4 | Dir | DevAddr | FCnt32 | 0x00 | i). The MIC is the first 4 bytes of
 * AES-CMAC(NwkSKey, B0 | msg), B0 = 0x49 | 0^4 | Dir | DevAddr | FCnt32 | 0x00 | len(msg).
 *
 * The session keys live in struct lorawan_session only; never log them.
 */
#ifndef MODEM_SIM_LORAWAN_H
#define MODEM_SIM_LORAWAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LORAWAN_MAX_PHY_BYTES         256
#define LORAWAN_MHDR_UNCONFIRMED_UP   0x40
#define LORAWAN_MHDR_CONFIRMED_UP     0x80
#define LORAWAN_MHDR_UNCONFIRMED_DOWN 0x60
#define LORAWAN_MHDR_CONFIRMED_DOWN   0xA0
#define LORAWAN_FCTRL_ACK             0x20

struct lorawan_session {
    uint32_t dev_addr;
    uint8_t nwk_s_key[16];
    uint8_t app_s_key[16];
    uint32_t fcnt_up;   /* of the next uplink */
    uint32_t fcnt_down; /* of the last accepted downlink */
    bool have_fcnt_down;
};

/* Encrypts or decrypts (the same operation) payload in place. dir: 0 up, 1 down. */
bool lorawan_crypt_payload(const uint8_t key[16], uint8_t dir, uint32_t dev_addr, uint32_t fcnt,
                           uint8_t *payload, size_t len);

/* The 4-byte MIC of msg (MHDR up to the end of FRMPayload). */
bool lorawan_mic(const uint8_t nwk_s_key[16], uint8_t dir, uint32_t dev_addr, uint32_t fcnt,
                 const uint8_t *msg, size_t len, uint8_t mic[4]);

/* Builds the uplink with the session's fcnt_up (not advanced here). Returns the PHYPayload
 * length, or 0 when out is too small or the crypto failed. */
size_t lorawan_build_uplink(const struct lorawan_session *s, bool confirmed, uint8_t fctrl,
                            uint8_t fport, const uint8_t *payload, size_t len, uint8_t *out,
                            size_t out_size);

/* An opened downlink. */
struct lorawan_downlink {
    bool confirmed;
    bool ack; /* FCtrl.ACK: acknowledges our last confirmed uplink */
    bool has_port;
    uint8_t fport;
    uint32_t fcnt;
    uint8_t payload[LORAWAN_MAX_PHY_BYTES];
    size_t len;
};

enum lorawan_rx_status {
    LORAWAN_RX_OK,
    LORAWAN_RX_MALFORMED,
    LORAWAN_RX_NOT_FOR_US, /* another DevAddr, or not a data downlink */
    LORAWAN_RX_BAD_MIC,
    LORAWAN_RX_REPLAY, /* FCntDown not above the last accepted one */
};

/* Checks and opens a downlink PHYPayload; on LORAWAN_RX_OK records its FCntDown in s. */
enum lorawan_rx_status lorawan_open_downlink(struct lorawan_session *s, const uint8_t *phy,
                                             size_t len, struct lorawan_downlink *out);

const char *lorawan_rx_status_name(enum lorawan_rx_status status);

#endif
