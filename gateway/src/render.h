/*
 * render.h - turns a decoded uplink into the message that is published: profile json, or
 * senml (RFC 8428) for an MQTT output configured so.
 *
 * Profile `json` (docs/protocol.md has the full description and an example):
 *   {"id":"<device>-<epoch>-<seq>","device":...,"gateway":...,"seq":...,"epoch":...,
 *    "time":<first sample, RFC 3339 UTC>,"received":<RFC 3339 UTC, ms>,
 *    ["heard":<RFC 3339 UTC, ms>,]"transport":...,
 *    "interval_s":...,"status":[flag names],"alert":bool,["config_version":n,]
 *    "values":{<key with unit>: latest value, ...},
 *    "samples":[{"time":...,<key>: value, ...}, ... oldest first]}
 * Values are scaled to the unit named in the key (temperature_c = wire value / 100).
 *
 * Threads: no shared state; callable from any thread. No allocation. Errors: -1 with a
 * reason when the output buffer is too small, a time is out of range, or the radio's SNR
 * is not a number within RENDER_MAX_ABS_SNR_DB.
 */
#ifndef SENSORBRO_RENDER_H
#define SENSORBRO_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "frame.h"

/* Room for the largest message a FRAME_MAX_PAYLOAD_BYTES frame can produce: about 80 bytes
 * of JSON per sample in the worst case. */
#define RENDER_MAX_JSON_BYTES (FRAME_MAX_PAYLOAD_BYTES * 96 + 4096)
/* "<16 hex digits>-<up to 19 digits>-<up to 10 digits>" */
#define RENDER_MESSAGE_ID_SIZE 48
#define RENDER_REASON_SIZE     96
/* The largest SNR a message carries; forwarders and network servers report -20..+15 dB, the
 * ingest adapters take -50..50. Beyond it (a damaged journal row) render_json refuses. */
#define RENDER_MAX_ABS_SNR_DB 1000

struct render_meta {
    const char *device;              /* device id, 16 hex digits */
    const char *gateway;             /* this gateway's id */
    const char *transport;           /* "coap", ... */
    int64_t received_ms;             /* unix ms */
    int64_t heard_ms;                /* unix ms, 0 unknown (frame.h); rendered as "heard" */
    int64_t epoch;                   /* of the message id (journal.h); 0: legacy id */
    const struct frame_radio *radio; /* NULL, or how a LoRaWAN frame was heard */
};

/* The message id of an uplink: "<device>-<epoch>-<seq>", the same for every publish of one
 * stored frame and never the same for two distinct readings (journal.h says how epochs
 * are chosen). epoch 0 (frames journaled before message epochs existed): the legacy
 * "<device>-<seq>", which such a frame may already have been published under. */
void render_message_id(const char *device, int64_t epoch, uint32_t seq,
                       char out[RENDER_MESSAGE_ID_SIZE]);

/* The JSON key of a series: its quantity's key, with "_ch<N>" appended for channel N > 0. */
void render_series_key(const struct decoded_series *s, char *out, size_t out_size);

/* Renders u as profile `json` into out (NUL-terminated). Returns 0 and sets *out_len, or -1
 * and writes a reason. */
int render_json(const struct decoded_uplink *u, const struct render_meta *meta, char *out,
                size_t out_size, size_t *out_len, char reason[RENDER_REASON_SIZE]);

/* Renders u as profile `senml` (RFC 8428, JSON) into out: one record per sample,
 *   [{"bn":"urn:dev:mac:<device>:","bt":<last sample, unix s>,"n":"temperature_c","u":"Cel",
 *     "v":21.5,"t":-300}, {"n":...,"v":...}, ...]
 * n is the series' key as in profile json; u its RFC 8428 unit where the registry has one
 * (the value is then in that unit: battery in V, pressure in Pa, distance in m), else
 * absent; t is relative to bt (absent for the last sample). Returns 0 and sets *out_len,
 * or -1 and writes a reason. */
int render_senml(const struct decoded_uplink *u, const struct render_meta *meta, char *out,
                 size_t out_size, size_t *out_len, char reason[RENDER_REASON_SIZE]);

#endif
