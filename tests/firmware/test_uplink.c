/*
 * test_uplink.c - uplink.c, the nanopb encoder over the sample store: every quantity in its
 * fixed field, extra series (other quantities, second channels), empty series, extreme
 * values and deltas at both ends of the sint32 range, every header field at its largest.
 * The bytes are read back with the tests' own wire reader (wire.c), not with nanopb.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "uplink.h"
#include "wire.h"

static uint8_t buf[UPLINK_MAX_PAYLOAD_BYTES * 4];
static struct wire_uplink out;

static size_t encode(const struct uplink_header *h, const struct sample_store *s)
{
    size_t len = uplink_encode(h, s, buf, sizeof(buf));
    assert_true(len > 0 || uplink_encoded_size(h, s) == 0);
    assert_int_equal(uplink_encoded_size(h, s), len);
    assert_true(wire_parse_uplink(buf, len, &out));
    return len;
}

static void expect_series(uint32_t quantity, uint32_t channel, const int64_t *values, size_t n)
{
    const struct wire_series *s = wire_find(&out, quantity, channel);
    assert_non_null(s);
    assert_int_equal(s->count, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(s->values[i], values[i]);
}

static void fill(struct sample_store *s, size_t index, const int64_t *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        assert_int_equal(store_append(s, index, (int32_t)values[i]), STORE_OK);
}

static void test_empty_store_and_header(void **state)
{
    (void)state;
    struct sample_store s;
    static const struct sensor_desc one[] = {{QUANTITY_TEMPERATURE, 0, SENSOR_EVERY_SAMPLE}};
    assert_true(store_init(&s, one, 1));
    struct uplink_header zero = {0};
    assert_int_equal(encode(&zero, &s), 0); /* proto3: nothing to say, no bytes */
    assert_int_equal(out.series_count, 0);

    struct uplink_header max = {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX,
                                UINT32_MAX, UINT32_MAX, true};
    encode(&max, &s);
    assert_int_equal(out.seq, UINT32_MAX);
    assert_int_equal(out.interval_s, UINT32_MAX);
    assert_int_equal(out.age_s, UINT32_MAX);
    assert_int_equal(out.status, UINT32_MAX);
    assert_int_equal(out.time_s, UINT32_MAX);
    assert_int_equal(out.config_version, UINT32_MAX);
    assert_true(out.alert);
    assert_int_equal(out.series_count, 0); /* an empty series is left out */
}

static void test_every_fixed_quantity(void **state)
{
    (void)state;
    /* Two boards: quantities 4-11, then 12, 13 and extras (STORE_MAX_SERIES is 8). */
    struct sensor_desc first[8], second[5];
    for (uint8_t q = 0; q < 8; q++)
        first[q] = (struct sensor_desc){(uint8_t)(4 + q), 0, SENSOR_EVERY_SAMPLE};
    second[0] = (struct sensor_desc){QUANTITY_WATER_VOLUME, 0, SENSOR_EVERY_SAMPLE};
    second[1] = (struct sensor_desc){QUANTITY_ENERGY, 0, SENSOR_EVERY_SAMPLE};
    second[2] = (struct sensor_desc){QUANTITY_TEMPERATURE, 1, SENSOR_EVERY_SAMPLE};
    second[3] = (struct sensor_desc){QUANTITY_FIRST_EXTRA + 1, 0, SENSOR_EVERY_SAMPLE};
    second[4] = (struct sensor_desc){QUANTITY_BATTERY, 0, SENSOR_ONCE_PER_UPLINK};

    struct sample_store s;
    assert_true(store_init(&s, first, 8));
    for (size_t i = 0; i < 8; i++) {
        int64_t v[] = {(int64_t)i * 1000 - 3000, (int64_t)i * 1000 - 2990, -5, 0};
        fill(&s, i, v, 4);
    }
    struct uplink_header h = {.seq = 7, .interval_s = 300};
    encode(&h, &s);
    assert_int_equal(out.series_count, 8);
    for (uint32_t i = 0; i < 8; i++) {
        int64_t v[] = {(int64_t)i * 1000 - 3000, (int64_t)i * 1000 - 2990, -5, 0};
        expect_series(4 + i, 0, v, 4);
    }

    assert_true(store_init(&s, second, 5));
    int64_t water[] = {123456789, 123456790}, energy[] = {1}, t1[] = {-2750, -2749, -2800};
    int64_t pm[] = {120};
    fill(&s, 0, water, 2);
    fill(&s, 1, energy, 1);
    fill(&s, 2, t1, 3);
    fill(&s, 3, pm, 1);
    store_append(&s, 4, 3011);
    store_append(&s, 4, 3012); /* once per uplink: only the latest goes */
    encode(&h, &s);
    expect_series(QUANTITY_WATER_VOLUME, 0, water, 2);
    expect_series(QUANTITY_ENERGY, 0, energy, 1);
    expect_series(QUANTITY_TEMPERATURE, 1, t1, 3);
    expect_series(QUANTITY_FIRST_EXTRA + 1, 0, pm, 1);
    int64_t battery[] = {3012};
    expect_series(QUANTITY_BATTERY, 0, battery, 1);
}

static void test_extreme_values(void **state)
{
    (void)state;
    static const struct sensor_desc two[] = {
        {QUANTITY_PRESSURE, 0, SENSOR_EVERY_SAMPLE},
        {QUANTITY_FIRST_EXTRA, 3, SENSOR_EVERY_SAMPLE},
    };
    struct sample_store s;
    assert_true(store_init(&s, two, 2));
    int64_t v[] = {INT32_MIN, -1, INT32_MAX - 1, INT32_MAX, 0, INT32_MIN, INT32_MIN};
    fill(&s, 0, v, 7);
    fill(&s, 1, v, 7);
    struct uplink_header h = {.interval_s = 1};
    size_t len = encode(&h, &s);
    expect_series(QUANTITY_PRESSURE, 0, v, 7);
    expect_series(QUANTITY_FIRST_EXTRA, 3, v, 7);
    /* A buffer one byte short is refused, not overrun. */
    assert_int_equal(uplink_encode(&h, &s, buf, len - 1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_store_and_header),
        cmocka_unit_test(test_every_fixed_quantity),
        cmocka_unit_test(test_extreme_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
