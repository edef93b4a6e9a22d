/*
 * frame.h - one received frame, as an ingest adapter hands it to the journal.
 *
 * A frame is the raw bytes a sensor sent plus what the gateway knows about their arrival.
 * It is a plain value type with fixed-size fields so that it can be copied through queues
 * and read back from the journal without allocation; every size here is a hard limit that
 * the ingest adapters and the journal reader check untrusted input against.
 */
#ifndef SENSORBRO_FRAME_H
#define SENSORBRO_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest raw uplink the gateway accepts on any transport. LoRaWAN tops out at 242 bytes
 * (EU868 DR4); IP sensors over CoAP may batch more, up to this. */
#define FRAME_MAX_PAYLOAD_BYTES 1024

/* Device ids are EUI-64s written as 16 lower-case hex digits. */
#define FRAME_DEVICE_ID_LEN  16
#define FRAME_DEVICE_ID_SIZE (FRAME_DEVICE_ID_LEN + 1)

#define FRAME_TRANSPORT_SIZE 16
#define FRAME_SOURCE_SIZE    64

/* At most this many receiving gateways are kept per frame (the best by RSSI/SNR first). */
#define FRAME_MAX_GATEWAYS 4

/* How a LoRaWAN frame was heard. CoAP frames carry none (has_lorawan false). All of it is
 * journaled with the frame and rendered into the JSON (fcnt, fport, rssi_dbm, snr_db,
 * gateways). */
struct frame_radio {
    bool has_lorawan;
    uint32_t fcnt;      /* 32-bit uplink frame counter, rebuilt from the 16 bits on air */
    uint8_t fport;      /* application port of the FRMPayload */
    int16_t rssi_dbm;   /* of the best reception */
    float snr_db;       /* of the best reception */
    uint32_t freq_hz;   /* 0 when unknown */
    char datr[16];      /* LoRa data rate as forwarders write it, "SF12BW125"; "" unknown */
    uint8_t n_gateways; /* receiving gateways in gateways[], best first */
    char gateways[FRAME_MAX_GATEWAYS][FRAME_DEVICE_ID_SIZE]; /* gateway EUIs, lower-case hex */
};

struct frame_record {
    char device[FRAME_DEVICE_ID_SIZE];    /* "70b3d57ed0001234" */
    char transport[FRAME_TRANSPORT_SIZE]; /* "coap", "semtech-udp", "lns-mqtt" */
    char source[FRAME_SOURCE_SIZE];       /* sender's address, "192.0.2.7:5683" */
    int64_t received_ms;                  /* wall clock at reception, unix ms */
    /* When the radio heard the frame, by the network server's clock (lns-mqtt: the event's
     * `time`), unix ms; 0 when unknown. An event can reach sensorbro long after it was heard
     * (a broker's backlog after an outage): sample times are anchored on this one when it is
     * set (frame_anchor_ms), and received_ms stays sensorbro's own receipt. */
    int64_t heard_ms;
    struct frame_radio radio; /* LoRaWAN transports only */
    /* What the adapter's decode (decode_uplink) found in the payload, for the journal: the
     * message id's epoch and the resend check need seq and status (journal.h). Every
     * adapter sets them for the frames it appends; has_uplink false (quarantined frames,
     * unit tests) means neither applies: no epoch, and the legacy id (render.h). */
    bool has_uplink;
    uint32_t seq;
    uint32_t status;
    size_t payload_len;
    uint8_t payload[FRAME_MAX_PAYLOAD_BYTES];
};

/* Whether reception A heard a frame better than reception B: the higher RSSI, and at equal
 * RSSI the higher SNR. The one ranking of every transport: the best gateway first, the best
 * reception's RSSI/SNR in frame_radio (Semtech UDP copies, ChirpStack rxInfo[]). */
bool frame_radio_better(int16_t rssi_a_dbm, float snr_a_db, int16_t rssi_b_dbm, float snr_b_db);

/* The instant sample times are computed from: heard_ms when known, else received_ms. */
int64_t frame_anchor_ms(const struct frame_record *rec);

/* Normalises a device EUI written as 16 hex digits (either case) into out (lower case,
 * NUL-terminated). Returns 0, or -1, leaving out unchanged, when text is not exactly 16 hex
 * digits. */
int frame_parse_device_id(const char *text, size_t text_len, char out[FRAME_DEVICE_ID_SIZE]);

#endif
