/*
 * gwmp.h - the Semtech packet forwarder's UDP protocol (GWMP, protocol version 2), as the
 * gateway side of a LoRa concentrator speaks it: PUSH_DATA carrying received frames in an
 * "rxpk" JSON array, PULL_DATA keepalives that keep a downlink path open, PULL_RESP with a
 * "txpk" to transmit, and the acknowledgements.
 *
 * Datagram: version (2) | token (2 bytes) | type | [gateway EUI (8), for PUSH_DATA,
 * PULL_DATA and TX_ACK] | [JSON, for PUSH_DATA, PULL_RESP and TX_ACK].
 * JSON goes through libcjson and base64 through OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock.
 */
#ifndef MODEM_SIM_GWMP_H
#define MODEM_SIM_GWMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GWMP_VERSION   2
#define GWMP_MAX_BYTES 65507

enum gwmp_type {
    GWMP_PUSH_DATA = 0,
    GWMP_PUSH_ACK = 1,
    GWMP_PULL_DATA = 2,
    GWMP_PULL_RESP = 3,
    GWMP_PULL_ACK = 4,
    GWMP_TX_ACK = 5,
};

/* One received frame, as the concentrator reports it. */
struct gwmp_rxpk {
    double time_unix_s; /* UTC reception time, for "time" */
    uint32_t tmst_us;   /* the concentrator's microsecond counter at the end of reception */
    double freq_mhz;
    unsigned chan;
    const char *datr; /* "SF12BW125" */
    const char *codr; /* "4/5" */
    int rssi_dbm;
    double lsnr_db;
    const uint8_t *data; /* the PHYPayload */
    size_t size;
};

/* The builders return the datagram length, or 0 when it does not fit out_size. */
size_t gwmp_build_push_data(uint16_t token, const uint8_t eui[8], const struct gwmp_rxpk *rx,
                            uint8_t *out, size_t out_size);
size_t gwmp_build_pull_data(uint16_t token, const uint8_t eui[8], uint8_t *out, size_t out_size);
/* error: "NONE", "TOO_LATE", ... as the forwarder reports a PULL_RESP's fate. */
size_t gwmp_build_tx_ack(uint16_t token, const uint8_t eui[8], const char *error, uint8_t *out,
                         size_t out_size);

/* Reads the 4-byte header; false for anything not GWMP version 2. */
bool gwmp_parse_header(const uint8_t *buf, size_t len, enum gwmp_type *type, uint16_t *token);

/* The PHYPayload of a PULL_RESP's txpk ("data", base64, whose length must match "size"). */
bool gwmp_parse_pull_resp(const uint8_t *buf, size_t len, uint8_t *phy, size_t phy_size,
                          size_t *phy_len);

#endif
