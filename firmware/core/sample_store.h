/*
 * sample_store.h - the samples of one batch, kept as the bytes they will have on the wire.
 *
 * An Uplink carries each quantity as a packed series of zigzag varints, the first element
 * absolute and every later one the difference from the sample before. The store keeps
 * exactly those bytes, appended as the samples arrive, so a batch costs one byte of RAM per
 * byte of payload (an Uplink struct with every series capped at 48 int32 samples would take
 * 2.9 KiB), and the encoder's callbacks copy a series out in one piece (uplink.c).
 *
 * Layout: every series that sends every sample owns a segment of one shared byte pool;
 * segments lie back to back in series order, and appending to one moves the ones after it
 * (a few hundred bytes at most, once per sample). A series that sends only its latest
 * reading (battery) keeps that one value in last_value and no pool bytes.
 *
 * The pool holds STORE_BYTES, the largest payload of any data rate, so the pool never ends
 * a batch before the payload limit does. Varints are written and read by nanopb's own
 * pb_encode_svarint/pb_decode_svarint, so the store and the schema cannot disagree.
 *
 * A store is plain memory owned by its caller (no allocation); nothing here is reentrant
 * on the same store.
 */
#ifndef SB_SAMPLE_STORE_H
#define SB_SAMPLE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sensor.h"

#define STORE_MAX_SERIES  8   /* sensors per board */
#define STORE_MAX_EXTRA   4   /* of them in Uplink.extra: telemetry.options caps extra at 4 */
#define STORE_MAX_SAMPLES 48  /* per series: the cap of telemetry.options and of the gateway */
#define STORE_BYTES       242 /* the largest uplink payload (EU868 DR4-DR6) */

enum store_status {
    STORE_OK = 0,
    STORE_FULL,        /* the pool, or the series' STORE_MAX_SAMPLES, is exhausted */
    STORE_DELTA_RANGE, /* the difference from the previous sample does not fit a sint32 */
};

struct store_series {
    struct sensor_desc sensor;
    uint8_t count;      /* samples held */
    uint16_t offset;    /* of this series' segment in bytes[] (every-sample series) */
    uint16_t len;       /* bytes in the segment */
    int32_t last_value; /* the newest sample: the base of the next delta */
};

struct sample_store {
    uint8_t series_count;
    uint16_t used; /* bytes of the pool in use */
    struct store_series series[STORE_MAX_SERIES];
    uint8_t bytes[STORE_BYTES];
};

/* A point to roll back to: undoes the appends made after store_mark(). */
struct store_mark {
    uint8_t count[STORE_MAX_SERIES];
    uint16_t len[STORE_MAX_SERIES];
    int32_t last_value[STORE_MAX_SERIES];
};

/* Sets up an empty store for the board's sensors. Fails (store unusable) when the table has
 * more than STORE_MAX_SERIES entries, more than STORE_MAX_EXTRA extra series, a quantity
 * that is not a series of the schema (1-3, 14-31), or the same quantity and channel twice. */
bool store_init(struct sample_store *store, const struct sensor_desc *sensors, size_t count);

/* Empties every series, keeping the layout. */
void store_clear(struct sample_store *store);

bool store_is_empty(const struct sample_store *store);

/* Appends value to series index (< series_count). For a once-per-uplink series it replaces
 * the value held. On any status but STORE_OK nothing changed. */
enum store_status store_append(struct sample_store *store, size_t index, int32_t value);

void store_mark(const struct sample_store *store, struct store_mark *mark);
/* Undoes every store_append since mark was taken (only appends, not drops or clears). */
void store_rollback(struct sample_store *store, const struct store_mark *mark);

/* Drops the newest `sets` samples of every every-sample series (a series with fewer becomes
 * empty); once-per-uplink values stay. Used when a sealed batch must shrink to fit. */
void store_drop_newest(struct sample_store *store, size_t sets);

/* The wire bytes of an every-sample series (count zigzag varints), valid until the next
 * change to the store. */
const uint8_t *store_series_bytes(const struct sample_store *store, size_t index, size_t *len);

#endif
