/*
 * lorawan.h - LoRaWAN 1.0.x frames and their cryptography, for both ends of the link: the
 * gateway's edge network server (gateway/src/ingest/semtech_udp.c and its MAC layer) and
 * the modem simulator (tools/modem-sim). No sockets, no clocks, no global state: every
 * function works only on its arguments, so it is safe from any thread.
 *
 * Crypto is OpenSSL's (AES-128-ECB through EVP_CIPHER, AES-CMAC through EVP_MAC); nothing
 * here implements a cipher. Functions that use OpenSSL return false (or 0 bytes) when it
 * fails; that is never the sender's fault and callers count it separately.
 *
 * Byte order: multi-byte fields travel little-endian on air (DevAddr, FCnt, EUIs, DevNonce,
 * AppNonce, NetID). EUIs are held as uint64_t in the usual written order, that is
 * 0x70b3d57ed0001234 for "70b3d57ed0001234", and reversed when put on air.
 *
 * Keys are 16-byte arrays owned by the caller. Never log them; this module never does.
 *
 * Every parse function takes untrusted bytes and checks every length before reading.
 */
#ifndef SENSORBRO_LORAWAN_H
#define SENSORBRO_LORAWAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LORAWAN_KEY_SIZE 16
#define LORAWAN_MIC_SIZE 4
/* The largest PHYPayload of any EU868 data rate (DR7, 250 bytes of MACPayload + MHDR +
 * MIC) fits; anything longer is malformed. */
#define LORAWAN_PHY_MAX_BYTES 256
#define LORAWAN_FOPTS_MAX     15

/* MHDR.MType, bits 7..5. */
enum lorawan_mtype {
    LORAWAN_JOIN_REQUEST = 0,
    LORAWAN_JOIN_ACCEPT = 1,
    LORAWAN_UNCONFIRMED_UP = 2,
    LORAWAN_UNCONFIRMED_DOWN = 3,
    LORAWAN_CONFIRMED_UP = 4,
    LORAWAN_CONFIRMED_DOWN = 5,
    LORAWAN_REJOIN_REQUEST = 6, /* 1.1 only; refused here */
    LORAWAN_PROPRIETARY = 7,
};

/* FCtrl bits (uplink and downlink differ in bits 6 and 4). */
#define LORAWAN_FCTRL_ADR         0x80
#define LORAWAN_FCTRL_ADR_ACK_REQ 0x40 /* uplink */
#define LORAWAN_FCTRL_ACK         0x20
#define LORAWAN_FCTRL_CLASS_B     0x10 /* uplink, 1.0.2 and later */
#define LORAWAN_FCTRL_FPENDING    0x10 /* downlink */
#define LORAWAN_FCTRL_FOPTS_LEN   0x0f

enum lorawan_dir { LORAWAN_UP = 0, LORAWAN_DOWN = 1 };

/* Why a frame was refused, for the counters. */
enum lorawan_status {
    LORAWAN_OK = 0,
    LORAWAN_MALFORMED,   /* too short, too long, FOpts past the end, bad MHDR */
    LORAWAN_UNSUPPORTED, /* LoRaWAN major version other than R1, rejoin, proprietary */
    LORAWAN_BAD_MIC,
    LORAWAN_CRYPTO_FAILED, /* OpenSSL said no; not the sender's fault */
};

const char *lorawan_status_name(enum lorawan_status status);

/* A data frame (MType 2..5) as parsed from its bytes, before any check of its MIC. The
 * pointers point into the caller's buffer and live as long as it does. */
struct lorawan_data_frame {
    enum lorawan_mtype mtype;
    uint32_t dev_addr;
    uint8_t fctrl;
    uint16_t fcnt16; /* the 16 low bits of FCnt, as on air */
    const uint8_t *fopts;
    size_t fopts_len;
    bool has_fport; /* false: no FPort and no FRMPayload */
    uint8_t fport;
    const uint8_t *frm_payload; /* still encrypted */
    size_t frm_payload_len;
    const uint8_t *mic_covered; /* MHDR up to the end of FRMPayload: what the MIC covers */
    size_t mic_covered_len;
    uint8_t mic[LORAWAN_MIC_SIZE];
};

/* Parses a data frame. LORAWAN_OK, LORAWAN_MALFORMED or LORAWAN_UNSUPPORTED.
 * MALFORMED: shorter than MHDR+FHDR+MIC (12 bytes) or longer than LORAWAN_PHY_MAX_BYTES,
 * FOpts past the MIC, a Join-Request/Join-Accept (not a data frame), or FOpts together with
 * FPort 0 (MAC commands in both places, which 1.0.x 4.3.1.6 forbids).
 * UNSUPPORTED: MHDR major other than R1, rejoin (1.1), proprietary. *out is written only
 * on LORAWAN_OK. */
enum lorawan_status lorawan_parse_data(const uint8_t *phy, size_t len,
                                       struct lorawan_data_frame *out);

/* The MIC of a data frame: the first 4 bytes of AES-CMAC(NwkSKey, B0 | msg) with
 * B0 = 0x49 | 0^4 | dir | DevAddr | FCnt (32 bits) | 0x00 | len(msg). */
bool lorawan_data_mic(const uint8_t nwk_s_key[LORAWAN_KEY_SIZE], enum lorawan_dir dir,
                      uint32_t dev_addr, uint32_t fcnt, const uint8_t *msg, size_t len,
                      uint8_t mic[LORAWAN_MIC_SIZE]);

/* Checks a parsed frame's MIC with the 32-bit counter the caller rebuilt. LORAWAN_OK,
 * LORAWAN_BAD_MIC or LORAWAN_CRYPTO_FAILED. Compares in constant time. */
enum lorawan_status lorawan_check_data_mic(const struct lorawan_data_frame *frame,
                                           const uint8_t nwk_s_key[LORAWAN_KEY_SIZE],
                                           enum lorawan_dir dir, uint32_t fcnt);

/* Encrypts or decrypts (the same operation) a FRMPayload in place with the spec's counter
 * mode: key stream block i (from 1) is AES(K, 0x01 | 0^4 | dir | DevAddr | FCnt | 0x00 | i).
 * K is AppSKey for FPort > 0 and NwkSKey for FPort 0. */
bool lorawan_crypt_frm_payload(const uint8_t key[LORAWAN_KEY_SIZE], enum lorawan_dir dir,
                               uint32_t dev_addr, uint32_t fcnt, uint8_t *payload, size_t len);

/* Rebuilds the 32-bit counter from the 16 bits on air, given the last accepted one: the
 * smallest value above last_fcnt whose low 16 bits are fcnt16 (so a rollover past 65535 is
 * followed). has_last false: the device has sent nothing yet, fcnt16 is taken as is.
 * Whether the result is acceptable (a replay, a gap larger than MAX_FCNT_GAP) is the
 * caller's decision: a repeated fcnt16 gives last_fcnt + 65536, an older one less than that
 * but still a gap above MAX_FCNT_GAP (16384), and past 0xFFFFFFFF the value wraps to one at
 * or below last_fcnt. */
uint32_t lorawan_rebuild_fcnt(bool has_last, uint32_t last_fcnt, uint16_t fcnt16);

/* Builds a data frame: MHDR, FHDR, optional FPort and FRMPayload (encrypted here with
 * app_s_key, or nwk_s_key for FPort 0), MIC. fopts may be NULL with fopts_len 0; FCtrl's
 * FOptsLen bits are taken from fopts_len, whatever fctrl holds there. mtype must be 2..5;
 * its direction picks the MIC's and the cipher's dir.
 * Returns the PHYPayload length, or 0 when out_size is too small, the lengths are out of
 * range (FOpts > 15, payload without FPort, FOpts with FPort 0), or the crypto failed. */
size_t lorawan_build_data(enum lorawan_mtype mtype, uint32_t dev_addr, uint8_t fctrl, uint32_t fcnt,
                          const uint8_t *fopts, size_t fopts_len, bool has_fport, uint8_t fport,
                          const uint8_t *payload, size_t payload_len,
                          const uint8_t nwk_s_key[LORAWAN_KEY_SIZE],
                          const uint8_t app_s_key[LORAWAN_KEY_SIZE], uint8_t *out, size_t out_size);

/* --- OTAA -------------------------------------------------------------------------- */

#define LORAWAN_JOIN_REQUEST_BYTES 23 /* MHDR | JoinEUI | DevEUI | DevNonce | MIC */

struct lorawan_join_request {
    uint64_t join_eui; /* AppEUI in 1.0.x */
    uint64_t dev_eui;
    uint16_t dev_nonce;
};

/* Parses a Join-Request and checks its MIC (AES-CMAC(AppKey, MHDR..DevNonce)). The EUIs
 * are needed to find the AppKey, so parsing and checking are two calls. Both refuse anything
 * but exactly 23 bytes of MType 0 (MALFORMED), and a major other than R1, rejoin or
 * proprietary (UNSUPPORTED); the check also parses, so it is safe on untrusted bytes. */
enum lorawan_status lorawan_parse_join_request(const uint8_t *phy, size_t len,
                                               struct lorawan_join_request *out);
enum lorawan_status lorawan_check_join_request_mic(const uint8_t *phy, size_t len,
                                                   const uint8_t app_key[LORAWAN_KEY_SIZE]);

/* Builds a Join-Request (the device's side: modem-sim). Returns 23, or 0. */
size_t lorawan_build_join_request(const struct lorawan_join_request *req,
                                  const uint8_t app_key[LORAWAN_KEY_SIZE], uint8_t *out,
                                  size_t out_size);

struct lorawan_join_accept {
    uint32_t app_nonce; /* 24 bits, JoinNonce in 1.0.4 */
    uint32_t net_id;    /* 24 bits */
    uint32_t dev_addr;
    uint8_t dl_settings; /* RX1DRoffset << 4 | RX2DataRate */
    uint8_t rx_delay_s;  /* 0 means 1 s; 0..15 (the RxDelay byte's upper bits are RFU) */
    bool has_cf_list;
    uint8_t cf_list[16];
};

/* Builds the encrypted Join-Accept (the network's side): the MIC is computed over the
 * plain message with AppKey, then everything after MHDR is encrypted with AES-128
 * *decrypt* under AppKey, as the spec says. Returns 17 or 33 bytes, or 0. */
size_t lorawan_build_join_accept(const struct lorawan_join_accept *accept,
                                 const uint8_t app_key[LORAWAN_KEY_SIZE], uint8_t *out,
                                 size_t out_size);

/* Opens a Join-Accept (the device's side): decrypts, checks the MIC, parses. Only 17 or
 * 33 bytes of MType 1 are taken (MALFORMED otherwise); *out is written only on OK. */
enum lorawan_status lorawan_open_join_accept(const uint8_t *phy, size_t len,
                                             const uint8_t app_key[LORAWAN_KEY_SIZE],
                                             struct lorawan_join_accept *out);

/* Session keys of LoRaWAN 1.0.x: NwkSKey = AES(AppKey, 0x01 | AppNonce | NetID | DevNonce |
 * pad16), AppSKey the same with 0x02. */
bool lorawan_derive_session_keys(const uint8_t app_key[LORAWAN_KEY_SIZE], uint32_t app_nonce,
                                 uint32_t net_id, uint16_t dev_nonce,
                                 uint8_t nwk_s_key[LORAWAN_KEY_SIZE],
                                 uint8_t app_s_key[LORAWAN_KEY_SIZE]);

/* --- EU868 timing ------------------------------------------------------------------ */

#define LORAWAN_RECEIVE_DELAY1_MS     1000u
#define LORAWAN_JOIN_ACCEPT_DELAY1_MS 5000u

#endif
