/*
 * lorawan/gwmp.h - the Semtech packet forwarder's UDP protocol (GWMP, Semtech's
 * PROTOCOL.TXT, versions 1 and 2) as a pure codec: bytes in, a struct and a verdict out; a
 * struct in, bytes out. No socket, no clock, no state. Both ends of the protocol use it, as
 * both ends of the radio link use lorawan.c: the server side is ingest/semtech_udp.c
 * (sensorbro, to which forwarders push), the forwarder side tools/modem-sim and
 * tests/helpers/gwmp_fleet.c.
 *
 * A datagram: version | token (2 bytes, big-endian) | type | [the forwarder's EUI (8
 * bytes): PUSH_DATA, PULL_DATA, TX_ACK] | [JSON: PUSH_DATA, PULL_RESP, TX_ACK (v2)].
 *   forwarder -> server  PUSH_DATA {"rxpk":[...],"stat":{...}}, received frames and status
 *                        PULL_DATA  a keepalive; opens the downlink path to the forwarder
 *                        TX_ACK     {"txpk_ack":{"error":"NONE"}}: a PULL_RESP's fate (v2;
 *                                   a v1 TX_ACK has no JSON)
 *   server -> forwarder  PUSH_ACK, PULL_ACK (the header alone, token echoed), PULL_RESP
 *                        {"txpk":{...}}, one frame to transmit
 *
 * What the server side takes (everything else is a gwmp_drop, which semtech_udp.c counts
 * under the same name): version 1 or 2; a PUSH_DATA whose JSON is an object; in it each
 * rxpk an object with tmst (integer 0..2^32-1), freq (100..1000 MHz), rssi (-250..50),
 * lsnr (-50..50), stat (integer -1..1; only 1, CRC good, is a frame), datr a LoRa data rate
 * "SF7BW125".."SF12BW500" (a number is FSK: not_lora), data base64 (padding optional, as
 * Semtech's own b64_to_bin) of 1..LORAWAN_PHY_MAX_BYTES bytes and at most
 * GWMP_DATA_B64_MAX characters (longer: rxpk_oversize), and when present size (= the
 * decoded length), time (a string under 40 characters, read when it is RFC 3339) and codr
 * (a string; kept when it is digits and '/' that fit). Unknown fields are ignored. A stat
 * object is used whole or not at all: rxnb, rxok, rxfw, dwnb, txnb (0..2^32-1) and ackr
 * (0..100), each optional.
 *
 * JSON goes through libcjson, base64 through util/base64.h, times through util/rfc3339.h.
 * Every function is reentrant; none keeps state between calls except a parsed PUSH_DATA's
 * JSON tree, which belongs to its struct gwmp_push_data until gwmp_push_data_free.
 */
#ifndef SENSORBRO_LORAWAN_GWMP_H
#define SENSORBRO_LORAWAN_GWMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lorawan/lorawan.h"
#include "util/base64.h"

#define GWMP_VERSION      2 /* what both sides here send */
#define GWMP_HEADER_BYTES 4
#define GWMP_EUI_BYTES    8
#define GWMP_MAX_BYTES    65507 /* the largest UDP payload */
/* The longest rxpk/txpk "data": LORAWAN_PHY_MAX_BYTES, padded. */
#define GWMP_DATA_B64_MAX BASE64_ENCODED_LEN(LORAWAN_PHY_MAX_BYTES)
#define GWMP_DATR_SIZE    16 /* "SF12BW500" and its NUL, with room */
#define GWMP_CODR_SIZE    8  /* "4/5" */
#define GWMP_ERROR_SIZE   33 /* a TX_ACK error word as kept: 32 characters at most */

enum gwmp_type {
    GWMP_PUSH_DATA = 0,
    GWMP_PUSH_ACK = 1,
    GWMP_PULL_DATA = 2,
    GWMP_PULL_RESP = 3,
    GWMP_PULL_ACK = 4,
    GWMP_TX_ACK = 5,
};

/* Which end reads a datagram: each takes only the types the other sends. */
enum gwmp_role {
    GWMP_SERVER,    /* reads PUSH_DATA, PULL_DATA, TX_ACK; versions 1 and 2 */
    GWMP_FORWARDER, /* reads PUSH_ACK, PULL_ACK, PULL_RESP; version GWMP_VERSION only */
};

/* Why a datagram, or one rxpk of a PUSH_DATA, is not used. The server side's reasons come
 * first, in the order (and with the names) ingest/semtech_udp.h counts them. */
enum gwmp_drop {
    GWMP_DROP_SHORT,         /* shorter than its header (and EUI) */
    GWMP_DROP_BAD_VERSION,   /* a protocol version this side does not read */
    GWMP_DROP_BAD_TYPE,      /* a type the other side does not send, or unknown */
    GWMP_DROP_BAD_JSON,      /* the JSON part is not a JSON object */
    GWMP_DROP_RXPK_INVALID,  /* an rxpk field missing, of the wrong type, out of range */
    GWMP_DROP_RXPK_OVERSIZE, /* rxpk data longer than any LoRaWAN PHYPayload */
    GWMP_DROP_CRC,           /* rxpk stat not 1: CRC bad or absent */
    GWMP_DROP_NOT_LORA,      /* FSK: datr is a bit rate */
    GWMP_DROP_TXPK_INVALID,  /* forwarder side: a PULL_RESP without a usable txpk */
    GWMP_DROP_COUNT
};

/* "short", "bad_version", "bad_type", "bad_json", "rxpk_invalid", "rxpk_oversize", "crc",
 * "not_lora", "txpk_invalid"; "?" for anything else. */
const char *gwmp_drop_name(enum gwmp_drop why);

struct gwmp_header {
    uint8_t version;
    uint16_t token;
    enum gwmp_type type;
};

/* One received frame, as the concentrator reports it: built by the forwarder side, parsed
 * by the server side. */
struct gwmp_rxpk {
    bool has_time;
    int64_t time_unix_us; /* "time": UTC reception time */
    uint32_t tmst_us;     /* the concentrator's microsecond counter at the end of reception */
    uint32_t freq_hz;     /* "freq", in MHz on the wire */
    uint8_t chan, rfch;   /* written by the forwarder side; the server side does not read them */
    char datr[GWMP_DATR_SIZE]; /* "SF12BW125" */
    char codr[GWMP_CODR_SIZE]; /* "4/5"; "" when absent (or not kept) */
    int16_t rssi_dbm;
    double lsnr_db;
    size_t size;                         /* bytes in data */
    uint8_t data[LORAWAN_PHY_MAX_BYTES]; /* the PHYPayload */
};

/* One frame to transmit (PULL_RESP): built by the server side, parsed by the forwarder. */
struct gwmp_txpk {
    bool imme;        /* send at once; else at tmst_us */
    uint32_t tmst_us; /* the concentrator counter to send at (written only without imme) */
    uint32_t freq_hz;
    uint8_t rfch;
    int16_t powe_dbm;
    char datr[GWMP_DATR_SIZE];
    char codr[GWMP_CODR_SIZE]; /* written when not "" */
    bool ipol;                 /* polarity inverted: downlinks to LoRaWAN devices */
    size_t size;
    uint8_t data[LORAWAN_PHY_MAX_BYTES];
};

/* A forwarder's status report (PUSH_DATA "stat"). */
struct gwmp_stat {
    uint32_t rxnb, rxok, rxfw, dwnb, txnb; /* frames received, CRC good, forwarded; downlinks
                                              received, sent */
    double ackr;                           /* % of upstream datagrams acknowledged */
};

/* A parsed PUSH_DATA. The rxpk array is read one element at a time (gwmp_push_data_next)
 * straight from the JSON tree, so that a datagram is parsed once and nothing is copied
 * that the caller does not keep. */
struct gwmp_push_data {
    struct gwmp_header header;
    uint8_t eui[GWMP_EUI_BYTES];
    bool has_stat; /* a stat object whose fields all read */
    struct gwmp_stat stat;
    bool rxpk_not_array; /* "rxpk" there but not an array: one rxpk_invalid, no rxpk read */
    /* private */
    struct cJSON *tree;
    struct cJSON *next;
};

struct gwmp_pull_data {
    struct gwmp_header header;
    uint8_t eui[GWMP_EUI_BYTES];
};

struct gwmp_tx_ack {
    struct gwmp_header header;
    uint8_t eui[GWMP_EUI_BYTES];
    bool failed; /* txpk_ack.error given and not "NONE" */
    /* that error as kept for a log line: A-Z and '_' as they are, any other character '?',
     * cut at 32 characters ("" when none, "?" when given empty) */
    char error[GWMP_ERROR_SIZE];
};

/* Every parse function returns 0, or -1 with *why set (nothing else is then meaningful). */

/* The 4-byte header of a datagram, as `receiver` reads it: SHORT, BAD_VERSION, BAD_TYPE. */
int gwmp_parse_header(const uint8_t *buf, size_t len, enum gwmp_role receiver,
                      struct gwmp_header *out, enum gwmp_drop *why);

/* ---- the server side ---- */

/* A PUSH_DATA: header, EUI, its JSON object and stat. Always call gwmp_push_data_free
 * afterwards, whatever this returned. */
int gwmp_parse_push_data(const uint8_t *buf, size_t len, struct gwmp_push_data *out,
                         enum gwmp_drop *why);
/* The next rxpk of pd: 1 with *rx filled (a LoRa frame with a good CRC), 0 when that rxpk
 * is not usable (*why: RXPK_INVALID, RXPK_OVERSIZE, CRC, NOT_LORA), -1 after the last. */
int gwmp_push_data_next(struct gwmp_push_data *pd, struct gwmp_rxpk *rx, enum gwmp_drop *why);
/* Frees the JSON tree; pd may be one whose parse failed. */
void gwmp_push_data_free(struct gwmp_push_data *pd);

int gwmp_parse_pull_data(const uint8_t *buf, size_t len, struct gwmp_pull_data *out,
                         enum gwmp_drop *why);
/* A TX_ACK; without JSON (v1, or nothing to report) it did not fail. */
int gwmp_parse_tx_ack(const uint8_t *buf, size_t len, struct gwmp_tx_ack *out, enum gwmp_drop *why);

/* The builders return the datagram's length, or 0 when it does not fit out_size (or, for
 * the ones with JSON, when cJSON runs out of memory or a size is out of range; for a
 * PULL_RESP also when freq_hz is outside 100-1000 MHz or datr is not a LoRa data rate). An ack
 * echoes the version and token of the datagram it answers. */
size_t gwmp_build_push_ack(uint8_t version, uint16_t token, uint8_t *out, size_t out_size);
size_t gwmp_build_pull_ack(uint8_t version, uint16_t token, uint8_t *out, size_t out_size);
size_t gwmp_build_pull_resp(uint8_t version, uint16_t token, const struct gwmp_txpk *tx,
                            uint8_t *out, size_t out_size);

/* ---- the forwarder side (always version GWMP_VERSION) ---- */

/* n_rx frames (may be 0) and a stat object (NULL: none). */
size_t gwmp_build_push_data(uint16_t token, const uint8_t eui[GWMP_EUI_BYTES],
                            const struct gwmp_rxpk *rx, size_t n_rx, const struct gwmp_stat *stat,
                            uint8_t *out, size_t out_size);
size_t gwmp_build_pull_data(uint16_t token, const uint8_t eui[GWMP_EUI_BYTES], uint8_t *out,
                            size_t out_size);
/* error: "NONE", "TOO_LATE", ... as a forwarder reports a PULL_RESP's fate; NULL writes no
 * JSON (as version 1). */
size_t gwmp_build_tx_ack(uint16_t token, const uint8_t eui[GWMP_EUI_BYTES], const char *error,
                         uint8_t *out, size_t out_size);

/* A PULL_RESP's txpk. Required: data (base64, as rxpk data) and size (= its decoded
 * length); the other fields are read when present and must then be of their type and
 * range (datr a LoRa data rate: a number is NOT_LORA), else TXPK_INVALID. */
int gwmp_parse_pull_resp(const uint8_t *buf, size_t len, struct gwmp_txpk *out,
                         enum gwmp_drop *why);

/* The EUI as 16 lower-case hex digits and a NUL. */
void gwmp_format_eui(const uint8_t eui[GWMP_EUI_BYTES], char out[2 * GWMP_EUI_BYTES + 1]);

#endif
