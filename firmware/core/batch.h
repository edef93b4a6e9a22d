/*
 * batch.h - one batch of samples on its way to becoming an uplink, and the rules that say
 * when it is full.
 *
 * All series of a batch share one time base: sample sets are interval_s apart and the
 * newest set was taken at last_sample_ms. An uplink states only interval_s and age_s (the
 * time from last_sample_ms to sending), so a batch must never have a gap: a set that cannot
 * be added ends the batch.
 *
 * The rules (batch_offer), for a payload limit L of the current data rate:
 * 1. A set is taken only if the batch with it, sent at once (age_s as the caller says it
 *    would be now: 0 unless reading the sensors took seconds), is at most L bytes and every
 *    delta fits a sint32. Otherwise the batch is sealed without it (REFUSED) and
 *    the set starts the next batch. That batch is sent one interval after its newest set,
 *    so rule 3 made sure it fits with age_s included.
 * 2. After taking a set the batch is sealed (FULL) when it reached samples_per_uplink, when
 *    the set crossed a threshold (alert), or when not even the smallest next set (every
 *    delta 0) would fit: one more sample would exceed L.
 * 3. It is also sealed when it would no longer fit if sent late, with an age_s of one
 *    interval plus BATCH_AGE_SLACK_S: it cannot wait for a next set it might refuse.
 * Otherwise it stays OPEN. A sealed batch is therefore at most L bytes as sent, and rules
 * 1 and 2 stop it exactly where one more sample would not fit.
 *
 * If a batch has to wait longer than that to be sent (duty cycle, modem errors) or the data
 * rate drops, batch_fit_for_send() drops its newest sets until it fits again.
 */
#ifndef SB_BATCH_H
#define SB_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sample_store.h"
#include "uplink.h"

/* A batch sealed for lack of room is sent one interval after its newest set; this much more
 * delay still fits the bytes rule 3 reserves for age_s. */
#define BATCH_AGE_SLACK_S 60u

/* One reading of every sensor of the board, in board_sensors() order. */
struct sample_set {
    int32_t value[STORE_MAX_SERIES];
    bool ok[STORE_MAX_SERIES]; /* false: the sensor failed this time */
    bool alert;                /* a threshold was crossed by this set */
    uint32_t taken_ms;         /* nominal tick time */
};

struct batch {
    uint32_t interval_s;
    uint32_t last_sample_ms;
    uint8_t sets;      /* sample sets taken */
    bool alert;        /* a set crossed a threshold */
    bool sensor_fault; /* a sensor failed and its previous value was repeated */
    uint32_t seq;      /* assigned when the batch is sealed */
    struct sample_store store;
};

enum batch_verdict {
    BATCH_OPEN,    /* set taken, room for more */
    BATCH_FULL,    /* set taken; seal and send now */
    BATCH_REFUSED, /* set not taken; seal the batch as it is and offer the set to a new one */
};

/* What a batch is measured against. header is the header the batch would be sent with now
 * (seq it will get, age_s counted from the set being offered, status, time,
 * config_version); its interval_s and alert are set by the batch itself. */
struct batch_limits {
    size_t payload_limit;
    uint8_t samples_per_uplink;
    struct uplink_header header;
};

/* Sets the batch up empty for the board's sensors (store_init's errors). */
bool batch_init(struct batch *b, const struct sensor_desc *sensors, size_t count);

/* Empties the batch for a new time base. */
void batch_reset(struct batch *b, uint32_t interval_s);

bool batch_is_empty(const struct batch *b);

/* Offers a sample set (rules in the header comment). */
enum batch_verdict batch_offer(struct batch *b, const struct sample_set *set,
                               const struct batch_limits *limits);

/* Makes header, with the age at now_ms, fit payload_limit by dropping the batch's newest
 * sets. Returns the encoded length, or 0 when not even one set fits (the batch is then
 * empty). header->age_s is updated as sets are dropped. */
size_t batch_fit_for_send(struct batch *b, struct uplink_header *header, size_t payload_limit);

#endif
