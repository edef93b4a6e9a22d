/*
 * ingest/chirpstack.h - ChirpStack v4's integration JSON, as a pure codec: the uplink event
 * a network server publishes on application/{applicationId}/device/{devEui}/event/up, and
 * the downlink command sensorbro publishes back (.../command/down). ingest/lns_mqtt.c is
 * the transport around it; nothing here knows MQTT.
 *
 * Field names are the protobuf JSON mapping (lowerCamelCase) of ChirpStack's
 * api/proto/integration/integration.proto (UplinkEvent, DeviceInfo, DownlinkCommand) and
 * api/proto/gw/gw.proto (UplinkRxInfo, UplinkTxInfo): deduplicationId, time, deviceInfo
 * {applicationId, deviceName, devEui, ...}, fCnt, fPort, data (bytes: padded base64),
 * rxInfo[] {gatewayId, rssi, snr, gwTime, nsTime, ...}, txInfo {frequency, modulation
 * {lora {bandwidth, spreadingFactor}}}. Fields sensorbro has no use for (devAddr, adr, dr,
 * confirmed, object, location, context, metadata, ...) are ignored, whatever they hold.
 *
 * Every event is untrusted: every field's type and size is checked before it is used
 * (chirpstack_parse_uplink says which are required). JSON goes through libcjson, base64
 * through util/base64.h, times through util/rfc3339.h.
 *
 * Pure functions: no allocation survives a call, no state; thread-safe.
 */
#ifndef SENSORBRO_INGEST_CHIRPSTACK_H
#define SENSORBRO_INGEST_CHIRPSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/* LoRaWAN's FRMPayload is at most 242 bytes (EU868 DR4+); a larger `data` is refused. */
#define CHIRPSTACK_MAX_DATA_BYTES 242
/* Events larger than this are refused before they are parsed. */
#define CHIRPSTACK_MAX_EVENT_BYTES  (64 * 1024)
#define CHIRPSTACK_REASON_SIZE      128
#define CHIRPSTACK_DEDUP_ID_SIZE    65 /* ChirpStack writes a UUID: 36 characters */
#define CHIRPSTACK_APP_ID_SIZE      65 /* ChirpStack writes a UUID: 36 characters */
#define CHIRPSTACK_DEVICE_NAME_SIZE 65 /* longer names are cut (on a UTF-8 boundary) */

/* What one ChirpStack v4 uplink event says, after every check. */
struct chirpstack_uplink {
    char dedup_id[CHIRPSTACK_DEDUP_ID_SIZE]; /* deduplicationId */
    int64_t time_ms;                         /* `time` (radio reception), unix ms; -1 unknown */
    int64_t gw_time_ms; /* rxInfo[].gwTime of the best reception that has one; -1 unknown */
    int64_t ns_time_ms; /* rxInfo[].nsTime of the best reception that has one; -1 unknown */
    char device[FRAME_DEVICE_ID_SIZE];             /* deviceInfo.devEui, lower case; "" unknown */
    char device_name[CHIRPSTACK_DEVICE_NAME_SIZE]; /* deviceInfo.deviceName, may be "" */
    char application_id[CHIRPSTACK_APP_ID_SIZE];   /* deviceInfo.applicationId, may be "" */
    struct frame_radio radio;                      /* fCnt, fPort, rxInfo, txInfo */
    size_t data_len;                               /* 0: the event carries no data */
    uint8_t data[CHIRPSTACK_MAX_DATA_BYTES];       /* `data`, base64-decoded */
};

/* Parses one event. Returns 0 for a good event with data, 1 for a good event without data
 * (no FRMPayload: nothing to journal), -1 for a bad one with the reason in reason. On -1
 * the fields that were read before the error (device, dedup_id, data) stay filled in.
 * Required: deduplicationId (string, 1-64 printable characters), deviceInfo.devEui (16 hex
 * digits), fCnt (integer 0..2^32-1), and with data: fPort (1..255) and data (base64,
 * padded, at most CHIRPSTACK_MAX_DATA_BYTES decoded). Optional, ignored when of the wrong
 * type or out of range: time (and rxInfo[].gwTime, nsTime; RFC 3339; before 1970: unknown),
 * deviceInfo.deviceName (control characters shown as '?'), deviceInfo.applicationId (kept
 * when chirpstack_is_application_id), rxInfo[] entries (gatewayId 16 hex digits, rssi
 * -200..50 dBm, snr -50..50 dB; the best by frame_radio_better first, each gateway once (its
 * first entry), at most FRAME_MAX_GATEWAYS), txInfo.frequency and txInfo.modulation.lora
 * (spreadingFactor 5..12, bandwidth in Hz -> datr "SF12BW125"). */
int chirpstack_parse_uplink(const char *json, size_t len, struct chirpstack_uplink *ev,
                            char reason[CHIRPSTACK_REASON_SIZE]);

/* When the frame of ev was heard: its `time`, else the best reception's gwTime, else its
 * nsTime, into *heard_ms, and which of them into *source. Returns 0 with *heard_ms 0 and
 * *source NULL when the event gives none; -1 when the one it gives lies more than
 * max_age_ms before received_ms or more than max_ahead_ms after it (a network server clock
 * gone wrong: not trusted, *heard_ms 0, *source names it). */
int chirpstack_heard_time(const struct chirpstack_uplink *ev, int64_t received_ms,
                          int64_t max_age_ms, int64_t max_ahead_ms, int64_t *heard_ms,
                          const char **source);

/* Writes the ChirpStack v4 DownlinkCommand for one device into out:
 * {"devEui":"<lower case>","confirmed":..,"fPort":..,"data":"<base64>"}. fport 1..223,
 * payload at most CHIRPSTACK_MAX_DATA_BYTES. Returns the length, or -1 when out is too
 * small or an argument is out of range (reason written). */
int chirpstack_format_downlink(const char *dev_eui, uint8_t fport, const uint8_t *payload,
                               size_t payload_len, bool confirmed, char *out, size_t out_size,
                               char reason[CHIRPSTACK_REASON_SIZE]);

/* Whether s[0..len) can stand for an applicationId in a topic level: 1 to
 * CHIRPSTACK_APP_ID_SIZE - 1 letters, digits, '-', '_' or '.'. */
bool chirpstack_is_application_id(const char *s, size_t len);

#endif
