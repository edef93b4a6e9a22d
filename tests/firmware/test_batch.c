/*
 * test_batch.c - batch.c, the batching rules, at every EU868 data rate.
 *
 * For each data rate and for quiet, mixed and wild signals, batches are filled until they
 * seal, and every sealed batch is checked two ways:
 * - as sent, it is at most the payload limit;
 * - it stops exactly there: when a set was refused, that very set would have made the
 *   uplink exceed the limit; when the batch sealed itself as full, not even the smallest
 *   possible next set (every delta 0) would have fitted, or it reached samples_per_uplink,
 *   or (rule 3) it could not have waited an interval.
 * "Would have" is computed here from the wire format (zigzag varint sizes, length
 * prefixes), independently of the encoder, on top of the encoded size of the batch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"
#include "node.h"
#include "wire.h"

static const struct sensor_desc climate[] = {
    {QUANTITY_TEMPERATURE, 0, SENSOR_EVERY_SAMPLE},
    {QUANTITY_RELATIVE_HUMIDITY, 0, SENSOR_EVERY_SAMPLE},
    {QUANTITY_CO2, 0, SENSOR_EVERY_SAMPLE},
    {QUANTITY_BATTERY, 0, SENSOR_ONCE_PER_UPLINK},
};
#define SERIES     4
#define INTERVAL_S 300u

static uint32_t lcg_state;

static uint32_t lcg(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state >> 8;
}

enum pattern { QUIET, MIXED, WILD };

/* The next reading of every sensor: quiet signals move by 0-2 units, mixed ones by up to
 * 300 (1-3 byte deltas), wild ones jump anywhere in a wide range. */
static void next_set(enum pattern p, int32_t *level, struct sample_set *set, uint32_t t_ms)
{
    memset(set, 0, sizeof(*set));
    for (int i = 0; i < SERIES; i++) {
        int32_t step;
        if (p == QUIET)
            step = (int32_t)(lcg() % 5) - 2;
        else if (p == MIXED)
            step = (int32_t)(lcg() % 601) - 300;
        else
            step = (int32_t)(lcg() % 2000001) - 1000000;
        level[i] += step;
        set->value[i] = level[i];
        set->ok[i] = true;
    }
    set->taken_ms = t_ms;
}

static size_t packed_len(const struct wire_series *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++)
        n += wire_sint32_size(i == 0 ? s->values[0] : s->values[i] - s->values[i - 1]);
    return n;
}

/* How many bytes the set would add to uplink u (encoded at age 0) - from the wire format. */
static size_t growth(const struct wire_uplink *u, const struct sample_set *set)
{
    size_t add = 0;
    for (int i = 0; i < SERIES; i++) {
        const struct wire_series *s = wire_find(u, climate[i].quantity, 0);
        if (climate[i].cadence == SENSOR_ONCE_PER_UPLINK) {
            /* Replaced, not appended: only a change of varint size counts. */
            size_t now = s != NULL ? wire_sint32_size(s->values[0]) : 0;
            size_t then = wire_sint32_size(set->value[i]);
            add += then > now ? then - now : 0;
            continue;
        }
        if (s == NULL) {
            add += 1 + 1 + wire_sint32_size(set->value[i]); /* tag, length, first value */
            continue;
        }
        size_t len = packed_len(s);
        size_t d = wire_sint32_size((int64_t)set->value[i] - s->values[s->count - 1]);
        add += d + wire_varint_size(len + d) - wire_varint_size(len);
    }
    return add;
}

static struct batch_limits limits_for(uint8_t dr, uint8_t samples_per_uplink)
{
    struct batch_limits l = {
        .payload_limit = node_payload_limit(dr),
        .samples_per_uplink = samples_per_uplink,
        .header = {.seq = 1000, .status = UPLINK_STATUS_CLOCK_UNSYNCED},
    };
    return l;
}

static size_t size_at_age(struct batch *b, const struct batch_limits *l, uint32_t age_s,
                          struct wire_uplink *parsed)
{
    struct uplink_header h = l->header;
    h.interval_s = b->interval_s;
    h.alert = b->alert;
    h.age_s = age_s;
    uint8_t buf[2 * UPLINK_MAX_PAYLOAD_BYTES]; /* room to measure a batch over the limit */
    size_t len = uplink_encode(&h, &b->store, buf, sizeof(buf));
    assert_true(len > 0);
    if (parsed != NULL)
        assert_true(wire_parse_uplink(buf, len, parsed));
    return len;
}

static void check_rates(enum pattern p)
{
    for (uint8_t dr = 0; dr <= 6; dr++) {
        struct batch_limits l = limits_for(dr, STORE_MAX_SAMPLES);
        struct batch b;
        assert_true(batch_init(&b, climate, SERIES));
        batch_reset(&b, INTERVAL_S);
        int32_t level[SERIES] = {2100, 450, 800, 3600};
        lcg_state = 12345u + dr + 100u * p;
        unsigned sealed = 0, refused = 0, full = 0;
        uint32_t t_ms = 0;
        struct sample_set set;
        next_set(p, level, &set, t_ms);
        while (sealed < 12) {
            struct wire_uplink before;
            bool had_sets = !batch_is_empty(&b);
            size_t size_before = had_sets ? size_at_age(&b, &l, 0, &before) : 0;
            enum batch_verdict v = batch_offer(&b, &set, &l);
            if (v == BATCH_REFUSED) {
                assert_true(had_sets); /* one set always fits an empty batch here */
                /* Sent one interval late, it fits... */
                assert_true(size_at_age(&b, &l, INTERVAL_S, NULL) <= l.payload_limit);
                /* ...and the refused set would have pushed it over, even sent at once. */
                assert_true(size_before + growth(&before, &set) > l.payload_limit);
                refused++;
                sealed++;
                batch_reset(&b, INTERVAL_S);
                continue; /* offer the same set to the fresh batch */
            }
            if (v == BATCH_FULL) {
                struct wire_uplink now;
                size_t size = size_at_age(&b, &l, 0, &now);
                assert_true(size <= l.payload_limit);
                struct sample_set smallest = set; /* every delta 0, battery unchanged */
                bool cannot_wait =
                    size_at_age(&b, &l, INTERVAL_S + BATCH_AGE_SLACK_S, NULL) > l.payload_limit;
                bool no_room = size + growth(&now, &smallest) > l.payload_limit;
                assert_true(b.sets == STORE_MAX_SAMPLES || no_room || cannot_wait);
                full++;
                sealed++;
                batch_reset(&b, INTERVAL_S);
            } else {
                /* Open: it could still wait an interval and fit. */
                assert_true(size_at_age(&b, &l, INTERVAL_S + BATCH_AGE_SLACK_S, NULL) <=
                            l.payload_limit);
            }
            t_ms += INTERVAL_S * 1000u;
            next_set(p, level, &set, t_ms);
        }
        print_message("dr %u pattern %d: %u refused, %u full\n", dr, p, refused, full);
    }
}

static void test_quiet_signals_every_dr(void **state)
{
    (void)state;
    check_rates(QUIET);
}

static void test_mixed_signals_every_dr(void **state)
{
    (void)state;
    check_rates(MIXED);
}

static void test_wild_signals_every_dr(void **state)
{
    (void)state;
    check_rates(WILD);
}

static void test_samples_per_uplink_and_alert(void **state)
{
    (void)state;
    struct batch b;
    assert_true(batch_init(&b, climate, SERIES));
    batch_reset(&b, INTERVAL_S);
    struct batch_limits l = limits_for(4, 5);
    int32_t level[SERIES] = {2100, 450, 800, 3600};
    struct sample_set set;
    lcg_state = 1;
    for (int k = 0; k < 4; k++) {
        next_set(QUIET, level, &set, 0);
        assert_int_equal(batch_offer(&b, &set, &l), BATCH_OPEN);
    }
    next_set(QUIET, level, &set, 0);
    assert_int_equal(batch_offer(&b, &set, &l), BATCH_FULL);
    assert_int_equal(b.sets, 5);

    batch_reset(&b, INTERVAL_S);
    next_set(QUIET, level, &set, 0);
    assert_int_equal(batch_offer(&b, &set, &l), BATCH_OPEN);
    next_set(QUIET, level, &set, 0);
    set.alert = true;
    assert_int_equal(batch_offer(&b, &set, &l), BATCH_FULL);
    assert_true(b.alert);
}

static void test_delta_beyond_sint32_ends_the_batch(void **state)
{
    (void)state;
    struct batch b;
    assert_true(batch_init(&b, climate, SERIES));
    batch_reset(&b, INTERVAL_S);
    struct batch_limits l = limits_for(4, STORE_MAX_SAMPLES);
    struct sample_set set = {.value = {INT32_MIN, 0, 0, 0}, .ok = {true, true, true, true}};
    assert_int_equal(batch_offer(&b, &set, &l), BATCH_OPEN);
    set.value[0] = INT32_MAX; /* delta 2^32 - 1 */
    assert_int_equal(batch_offer(&b, &set, &l), BATCH_REFUSED);
    assert_int_equal(b.sets, 1);
    batch_reset(&b, INTERVAL_S);
    assert_int_equal(batch_offer(&b, &set, &l), BATCH_OPEN); /* starts the next batch */
}

static void test_failed_sensor_keeps_the_time_base(void **state)
{
    (void)state;
    struct batch b;
    assert_true(batch_init(&b, climate, SERIES));
    batch_reset(&b, INTERVAL_S);
    struct batch_limits l = limits_for(4, STORE_MAX_SAMPLES);
    struct sample_set set = {.value = {2100, 450, 800, 3600}, .ok = {true, false, true, true}};
    batch_offer(&b, &set, &l); /* humidity fails at first: its series starts later */
    set.ok[1] = true;
    set.value[1] = 460;
    batch_offer(&b, &set, &l);
    set.ok[1] = false; /* fails again: its last value repeats */
    set.value[1] = 9999;
    batch_offer(&b, &set, &l);
    assert_true(b.sensor_fault);
    struct wire_uplink u;
    size_at_age(&b, &l, 0, &u);
    assert_int_equal(wire_find(&u, QUANTITY_TEMPERATURE, 0)->count, 3);
    const struct wire_series *h = wire_find(&u, QUANTITY_RELATIVE_HUMIDITY, 0);
    assert_int_equal(h->count, 2);
    assert_int_equal(h->values[0], 460);
    assert_int_equal(h->values[1], 460);
}

static void test_late_send_trims_newest_sets(void **state)
{
    (void)state;
    struct batch b;
    assert_true(batch_init(&b, climate, SERIES));
    batch_reset(&b, INTERVAL_S);
    struct batch_limits l = limits_for(0, STORE_MAX_SAMPLES);
    int32_t level[SERIES] = {2100, 450, 800, 3600};
    struct sample_set set;
    lcg_state = 7;
    enum batch_verdict v;
    uint32_t t_ms = 0;
    do {
        next_set(QUIET, level, &set, t_ms);
        t_ms += INTERVAL_S * 1000u;
        v = batch_offer(&b, &set, &l);
    } while (v == BATCH_OPEN);
    uint8_t sets = b.sets;
    uint32_t last_ms = b.last_sample_ms;
    /* Sent hours late (a long duty-cycle wait), with the clock synced meanwhile. */
    struct uplink_header h = l.header;
    h.interval_s = INTERVAL_S;
    h.age_s = 20000;
    h.time_s = 1800000000u;
    size_t len = batch_fit_for_send(&b, &h, l.payload_limit);
    assert_true(len > 0 && len <= l.payload_limit);
    assert_true(b.sets < sets);
    assert_int_equal(h.age_s, 20000 + (sets - b.sets) * INTERVAL_S);
    assert_int_equal(b.last_sample_ms, last_ms - (uint32_t)(sets - b.sets) * INTERVAL_S * 1000u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quiet_signals_every_dr),
        cmocka_unit_test(test_mixed_signals_every_dr),
        cmocka_unit_test(test_wild_signals_every_dr),
        cmocka_unit_test(test_samples_per_uplink_and_alert),
        cmocka_unit_test(test_delta_beyond_sint32_ends_the_batch),
        cmocka_unit_test(test_failed_sensor_keeps_the_time_base),
        cmocka_unit_test(test_late_send_trims_newest_sets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
