/*
 * test_sample_store.c - sample_store.c: layout checks, appends across shared segments,
 * rollback, dropping the newest sets, the sint32 delta range at both ends, and the pool and
 * per-series limits. The invariants of sample_store.c are checked after every operation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sample_store.h"

static const struct sensor_desc three[] = {
    {QUANTITY_TEMPERATURE, 0, SENSOR_EVERY_SAMPLE},
    {QUANTITY_BATTERY, 0, SENSOR_ONCE_PER_UPLINK},
    {QUANTITY_CO2, 0, SENSOR_EVERY_SAMPLE},
};

/* Segments back to back; each holds count complete varints; latest-only series hold none. */
static void check_invariants(const struct sample_store *s)
{
    size_t offset = 0;
    for (size_t i = 0; i < s->series_count; i++) {
        const struct store_series *x = &s->series[i];
        assert_int_equal(x->offset, offset);
        if (x->sensor.cadence == SENSOR_ONCE_PER_UPLINK) {
            assert_int_equal(x->len, 0);
            assert_true(x->count <= 1);
        }
        size_t varints = 0;
        for (size_t b = 0; b < x->len; b++) {
            if ((s->bytes[x->offset + b] & 0x80) == 0)
                varints++;
        }
        if (x->sensor.cadence == SENSOR_EVERY_SAMPLE)
            assert_int_equal(varints, x->count);
        offset += x->len;
    }
    assert_int_equal(s->used, offset);
}

/* Sums the zigzag deltas of series index (an independent decoder). */
static int64_t newest_value(const struct sample_store *s, size_t index)
{
    size_t len;
    const uint8_t *p = store_series_bytes(s, index, &len);
    int64_t value = 0;
    uint64_t v = 0;
    int shift = 0;
    for (size_t i = 0; i < len; i++) {
        v |= (uint64_t)(p[i] & 0x7F) << shift;
        shift += 7;
        if ((p[i] & 0x80) == 0) {
            value += (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            v = 0;
            shift = 0;
        }
    }
    return value;
}

static void test_init_refuses_bad_tables(void **state)
{
    (void)state;
    struct sample_store s;
    assert_true(store_init(&s, three, 3));
    struct sensor_desc bad[STORE_MAX_SERIES + 1];
    for (size_t i = 0; i < STORE_MAX_SERIES + 1; i++)
        bad[i] = (struct sensor_desc){QUANTITY_TEMPERATURE, (uint8_t)i, SENSOR_EVERY_SAMPLE};
    assert_false(store_init(&s, bad, STORE_MAX_SERIES + 1)); /* too many */
    assert_false(store_init(&s, bad, STORE_MAX_EXTRA + 2));  /* channels 1-5: 5 extras */
    assert_true(store_init(&s, bad, STORE_MAX_EXTRA + 1));
    struct sensor_desc dup[] = {three[0], three[0]};
    assert_false(store_init(&s, dup, 2));
    struct sensor_desc not_series[] = {{3, 0, SENSOR_EVERY_SAMPLE}};
    assert_false(store_init(&s, not_series, 1)); /* age_s is no quantity */
    struct sensor_desc gap[] = {{20, 0, SENSOR_EVERY_SAMPLE}};
    assert_false(store_init(&s, gap, 1));
    struct sensor_desc extra[] = {{QUANTITY_FIRST_EXTRA, 0, SENSOR_EVERY_SAMPLE}};
    assert_true(store_init(&s, extra, 1));
}

static void test_appends_keep_segments_apart(void **state)
{
    (void)state;
    struct sample_store s;
    assert_true(store_init(&s, three, 3));
    for (int k = 0; k < 10; k++) {
        assert_int_equal(store_append(&s, 2, 400 + 100 * k), STORE_OK); /* 2-byte deltas */
        check_invariants(&s);
        assert_int_equal(store_append(&s, 0, 2100 - k), STORE_OK);
        check_invariants(&s);
        assert_int_equal(store_append(&s, 1, 3600 - k), STORE_OK);
        check_invariants(&s);
    }
    assert_int_equal(s.series[0].count, 10);
    assert_int_equal(newest_value(&s, 0), 2091);
    assert_int_equal(newest_value(&s, 2), 1300);
    assert_int_equal(s.series[1].count, 1);
    assert_int_equal(s.series[1].last_value, 3591);
    assert_false(store_is_empty(&s));
    store_clear(&s);
    check_invariants(&s);
    assert_true(store_is_empty(&s));
}

static void test_rollback_restores_everything(void **state)
{
    (void)state;
    struct sample_store s;
    assert_true(store_init(&s, three, 3));
    store_append(&s, 0, 10);
    store_append(&s, 1, 3000);
    store_append(&s, 2, 500);
    struct sample_store before = s;
    struct store_mark mark;
    store_mark(&s, &mark);
    store_append(&s, 0, 1000000);
    store_append(&s, 1, 2999);
    store_append(&s, 2, -7);
    store_append(&s, 0, 11);
    store_rollback(&s, &mark);
    check_invariants(&s);
    assert_int_equal(s.used, before.used);
    assert_memory_equal(s.bytes, before.bytes, s.used);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(s.series[i].count, before.series[i].count);
        assert_int_equal(s.series[i].last_value, before.series[i].last_value);
    }
}

static void test_delta_range_both_ends(void **state)
{
    (void)state;
    struct sample_store s;
    assert_true(store_init(&s, three, 1));
    /* First value absolute; then deltas of exactly INT32_MAX and INT32_MIN fit... */
    assert_int_equal(store_append(&s, 0, 0), STORE_OK);
    assert_int_equal(store_append(&s, 0, INT32_MAX), STORE_OK);
    assert_int_equal(store_append(&s, 0, 0), STORE_OK);
    assert_int_equal(store_append(&s, 0, INT32_MIN), STORE_OK);
    assert_int_equal(store_append(&s, 0, -1), STORE_OK); /* delta INT32_MAX */
    /* ...one more in either direction does not, and leaves the store unchanged. */
    struct sample_store before = s;
    assert_int_equal(store_append(&s, 0, INT32_MIN), STORE_OK); /* delta INT32_MIN + 1 */
    assert_int_equal(store_append(&s, 0, INT32_MAX), STORE_DELTA_RANGE);
    assert_int_equal(s.series[0].count, before.series[0].count + 1);
    assert_int_equal(s.series[0].last_value, INT32_MIN);
    assert_int_equal(store_append(&s, 0, 1), STORE_DELTA_RANGE); /* delta INT32_MAX + 2 */
    check_invariants(&s);
    assert_int_equal(newest_value(&s, 0), INT32_MIN);
}

static void test_limits(void **state)
{
    (void)state;
    struct sample_store s;
    assert_true(store_init(&s, three, 1));
    for (int k = 0; k < STORE_MAX_SAMPLES; k++)
        assert_int_equal(store_append(&s, 0, k), STORE_OK);
    assert_int_equal(store_append(&s, 0, 0), STORE_FULL); /* per-series cap */

    /* The pool: 5-byte deltas, alternating extremes, until it is full. */
    assert_true(store_init(&s, three, 3));
    size_t appended = 0;
    enum store_status st = STORE_OK;
    for (int k = 0; st == STORE_OK; k++) {
        size_t index = (size_t)(k % 2) * 2;
        st = store_append(&s, index, (k / 2) % 2 ? INT32_MAX / 2 + 1 : -(INT32_MAX / 2));
        if (st == STORE_OK)
            appended++;
        check_invariants(&s);
    }
    assert_int_equal(st, STORE_FULL);
    assert_true(s.used <= STORE_BYTES);
    assert_true(s.used > STORE_BYTES - 5);
    assert_true(appended > 40);
}

static void test_drop_newest(void **state)
{
    (void)state;
    struct sample_store s;
    assert_true(store_init(&s, three, 3));
    for (int k = 0; k < 5; k++) {
        store_append(&s, 0, 100 * k);
        store_append(&s, 1, 3600 - k);
        if (k >= 2)
            store_append(&s, 2, 400 + k); /* started later: 3 samples */
    }
    store_drop_newest(&s, 2);
    check_invariants(&s);
    assert_int_equal(s.series[0].count, 3);
    assert_int_equal(s.series[0].last_value, 200);
    assert_int_equal(newest_value(&s, 0), 200);
    assert_int_equal(s.series[2].count, 1);
    assert_int_equal(s.series[2].last_value, 402);
    assert_int_equal(s.series[1].count, 1); /* the latest-only value stays */
    store_drop_newest(&s, 5);
    check_invariants(&s);
    assert_int_equal(s.series[0].count, 0);
    assert_int_equal(s.series[2].count, 0);
    assert_int_equal(s.used, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_refuses_bad_tables),
        cmocka_unit_test(test_appends_keep_segments_apart),
        cmocka_unit_test(test_rollback_restores_everything),
        cmocka_unit_test(test_delta_range_both_ends),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_drop_newest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
