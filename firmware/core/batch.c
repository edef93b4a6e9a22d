/*
 * batch.c - the batching rules (batch.h), measured with the real encoder.
 */
#include "batch.h"

#include <string.h>

bool batch_init(struct batch *b, const struct sensor_desc *sensors, size_t count)
{
    memset(b, 0, sizeof(*b));
    return store_init(&b->store, sensors, count);
}

void batch_reset(struct batch *b, uint32_t interval_s)
{
    store_clear(&b->store);
    b->interval_s = interval_s;
    b->last_sample_ms = 0;
    b->sets = 0;
    b->alert = false;
    b->sensor_fault = false;
    b->seq = 0;
}

bool batch_is_empty(const struct batch *b)
{
    return b->sets == 0;
}

/* Appends a set to the store: a failed reading repeats the previous value of its series
 * (delta 0) or, before the series' first value, leaves the series to start later; series
 * end together either way. A NULL set is the smallest possible next set: every series
 * repeats its last value, as if every reading had failed. Returns false (store unchanged is
 * the caller's job: it rolls back) when a value does not fit. */
static bool append_set(struct sample_store *store, const struct sample_set *set, bool *fault)
{
    for (size_t i = 0; i < store->series_count; i++) {
        const struct store_series *s = &store->series[i];
        int32_t value = s->last_value;
        if (set != NULL && set->ok[i]) {
            value = set->value[i];
        } else {
            *fault = true;
            if (s->count == 0)
                continue;
        }
        if (store_append(store, i, value) != STORE_OK)
            return false;
    }
    return true;
}

enum batch_verdict batch_offer(struct batch *b, const struct sample_set *set,
                               const struct batch_limits *limits)
{
    struct uplink_header header = limits->header;
    header.interval_s = b->interval_s;
    header.alert = b->alert || set->alert;

    struct store_mark before;
    store_mark(&b->store, &before);
    bool fault = false;
    if (!append_set(&b->store, set, &fault) ||
        uplink_encoded_size(&header, &b->store) > limits->payload_limit) {
        store_rollback(&b->store, &before); /* rule 1 */
        return BATCH_REFUSED;
    }
    b->sets++;
    b->last_sample_ms = set->taken_ms;
    b->alert = header.alert;
    b->sensor_fault = b->sensor_fault || fault;

    if (b->sets >= limits->samples_per_uplink || b->alert) /* rule 2 */
        return BATCH_FULL;
    uint32_t age_s = header.age_s; /* rule 3: measured as if sent late */
    header.age_s = b->interval_s + BATCH_AGE_SLACK_S;
    if (uplink_encoded_size(&header, &b->store) > limits->payload_limit)
        return BATCH_FULL;
    header.age_s = age_s;
    struct store_mark taken;
    store_mark(&b->store, &taken);
    bool room = append_set(&b->store, NULL, &fault) &&
                uplink_encoded_size(&header, &b->store) <= limits->payload_limit;
    store_rollback(&b->store, &taken);
    return room ? BATCH_OPEN : BATCH_FULL; /* rule 2, the smallest next set */
}

size_t batch_fit_for_send(struct batch *b, struct uplink_header *header, size_t payload_limit)
{
    while (b->sets > 0) {
        size_t size = uplink_encoded_size(header, &b->store);
        if (size <= payload_limit)
            return size;
        /* Dropping the newest set moves the batch's end one interval back. */
        store_drop_newest(&b->store, 1);
        b->sets--;
        b->last_sample_ms -= b->interval_s * 1000u;
        header->age_s += b->interval_s;
    }
    return 0;
}
