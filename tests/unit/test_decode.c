/*
 * test_decode.c - decode.c: every quantity, negative values, delta expansion, the bounds
 * (series at and over the cap, time base, clock, nothing to publish), and hostile input (every
 * truncation of a valid frame, random bytes, an arena-exhausting frame). Frames are built with
 * protobuf-c's generated packer, so the encoder is not the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "decode.h"
#include "sensorbro/v1/telemetry.pb-c.h"

#define RECEIVED_MS 1795425600123LL /* 2026-11-23T09:20:00.123Z */
#define RECEIVED_S  1795425600LL

static struct decoder decoder;
static struct decoded_uplink uplink;
static uint8_t frame[FRAME_MAX_PAYLOAD_BYTES * 4];
static char reason[DECODE_REASON_SIZE];

static size_t pack(const Sensorbro__V1__Uplink *msg)
{
    size_t len = sensorbro__v1__uplink__get_packed_size(msg);
    assert_true(len <= sizeof(frame));
    return sensorbro__v1__uplink__pack(msg, frame);
}

static int decode(size_t len)
{
    return decode_uplink(&decoder, frame, len, RECEIVED_MS, &uplink, reason);
}

static const struct decoded_series *find_series(uint32_t quantity, uint32_t channel)
{
    for (size_t i = 0; i < uplink.series_count; i++) {
        if (uplink.series[i].quantity->id == quantity && uplink.series[i].channel == channel)
            return &uplink.series[i];
    }
    return NULL;
}

static void assert_series(uint32_t quantity, uint32_t channel, const int32_t *expected, size_t n)
{
    const struct decoded_series *s = find_series(quantity, channel);
    assert_non_null(s);
    assert_int_equal(s->count, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(s->values[i], expected[i]);
}

static void expect_refused(size_t len, const char *reason_part)
{
    assert_int_equal(decode(len), -1);
    if (strstr(reason, reason_part) == NULL)
        fail_msg("reason \"%s\" does not contain \"%s\"", reason, reason_part);
}

/* Every fixed series field, with negative values and deltas, expands to absolute values. */
static void test_every_fixed_quantity(void **state)
{
    (void)state;
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    int32_t deltas[3] = {-500, 25, -30};
    const int32_t absolute[3] = {-500, -475, -505};
    msg.seq = 7;
    msg.interval_s = 300;
    msg.age_s = 12;
    msg.status = 0x11;
    msg.config_version = 9;
    msg.alert = 1;
    /* fields 4-13 by their protobuf-c names */
    msg.n_temperature = msg.n_relative_humidity = msg.n_co2 = msg.n_battery = 3;
    msg.n_sound_level = msg.n_occupancy = msg.n_illuminance = msg.n_pressure = 3;
    msg.n_water_volume = msg.n_energy = 3;
    msg.temperature = msg.relative_humidity = msg.co2 = msg.battery = deltas;
    msg.sound_level = msg.occupancy = msg.illuminance = msg.pressure = deltas;
    msg.water_volume = msg.energy = deltas;

    assert_int_equal(decode(pack(&msg)), 0);
    assert_int_equal(uplink.seq, 7);
    assert_int_equal(uplink.interval_s, 300);
    assert_int_equal(uplink.age_s, 12);
    assert_int_equal(uplink.status, 0x11);
    assert_int_equal(uplink.config_version, 9);
    assert_true(uplink.alert);
    assert_int_equal(uplink.series_count, 10);
    assert_int_equal(uplink.max_count, 3);
    for (uint32_t q = 4; q <= 13; q++)
        assert_series(q, 0, absolute, 3);
    /* Clock not synced: the last sample was age_s before reception (whole seconds). */
    assert_int_equal(uplink.last_sample_s, RECEIVED_S - 12);
    const struct decoded_series *t = find_series(4, 0);
    assert_int_equal(decoded_sample_time_s(&uplink, t, 0), RECEIVED_S - 12 - 600);
    assert_int_equal(decoded_sample_time_s(&uplink, t, 2), RECEIVED_S - 12);
}

/* Every quantity the table knows travels in extra, on any channel. */
static void test_every_extra_quantity(void **state)
{
    (void)state;
    size_t n_quantities;
    const struct quantity *table = quantity_table(&n_quantities);
    Sensorbro__V1__Series series[32];
    Sensorbro__V1__Series *ptrs[32];
    int32_t samples[2] = {1234, -34};
    assert_true(n_quantities <= 32);
    for (size_t i = 0; i < n_quantities; i++) {
        sensorbro__v1__series__init(&series[i]);
        series[i].quantity = table[i].id;
        series[i].channel = table[i].id <= 13 ? 2 : 0; /* channel 0 of 4-13 is the field */
        series[i].n_samples = 2;
        series[i].samples = samples;
        ptrs[i] = &series[i];
    }
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.interval_s = 60;
    msg.n_extra = n_quantities;
    msg.extra = ptrs;
    assert_int_equal(decode(pack(&msg)), 0);
    assert_int_equal(uplink.series_count, n_quantities);
    const int32_t expected[2] = {1234, 1200};
    for (size_t i = 0; i < n_quantities; i++)
        assert_series(table[i].id, table[i].id <= 13 ? 2 : 0, expected, 2);
}

static void test_extreme_values_and_overflow(void **state)
{
    (void)state;
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.interval_s = 1;
    /* The sint32 range end to end is fine... */
    int32_t full_swing[3] = {INT32_MAX, INT32_MIN, -1}; /* MAX, MAX+MIN = -1, -2 */
    msg.n_co2 = 3;
    msg.co2 = full_swing;
    assert_int_equal(decode(pack(&msg)), 0);
    const int32_t swing[3] = {INT32_MAX, -1, -2};
    assert_series(6, 0, swing, 3);

    /* ...leaving it is not. */
    int32_t over[2] = {INT32_MAX, 1};
    msg.co2 = over;
    msg.n_co2 = 2;
    expect_refused(pack(&msg), "co2 channel 0: delta sum leaves the sint32 range at sample 1");
    int32_t under[3] = {INT32_MIN, 0, -1};
    msg.co2 = under;
    msg.n_co2 = 3;
    expect_refused(pack(&msg), "at sample 2");
}

static void test_series_cap(void **state)
{
    (void)state;
    static int32_t deltas[DECODE_MAX_SAMPLES_PER_SERIES + 1];
    for (size_t i = 0; i < DECODE_MAX_SAMPLES_PER_SERIES + 1; i++)
        deltas[i] = i == 0 ? 2000 : (i % 2 ? 1 : -1);
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.interval_s = 60;
    msg.temperature = deltas;
    msg.n_temperature = DECODE_MAX_SAMPLES_PER_SERIES;
    assert_int_equal(decode(pack(&msg)), 0);
    assert_int_equal(uplink.max_count, DECODE_MAX_SAMPLES_PER_SERIES);
    /* deltas +1, -1, ... after 2000: 128 increments and 127 decrements */
    assert_int_equal(find_series(4, 0)->values[DECODE_MAX_SAMPLES_PER_SERIES - 1], 2001);

    msg.n_temperature = DECODE_MAX_SAMPLES_PER_SERIES + 1;
    expect_refused(pack(&msg), "257 samples (max 256)");
}

static void test_time_base(void **state)
{
    (void)state;
    int32_t three[3] = {1, 1, 1};
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.temperature = three;
    msg.n_temperature = 3;
    expect_refused(pack(&msg), "interval_s is 0 but a series has 3 samples");

    msg.n_temperature = 1; /* one sample needs no interval */
    assert_int_equal(decode(pack(&msg)), 0);

    msg.n_temperature = 3;
    msg.interval_s = DECODE_MAX_INTERVAL_S + 1;
    expect_refused(pack(&msg), "interval_s 86401 exceeds 86400 s");

    msg.interval_s = 300;
    msg.age_s = DECODE_MAX_AGE_S + 1;
    expect_refused(pack(&msg), "age_s 604801 exceeds");

    /* A synced clock: the last sample is at `time`, age_s does not matter. */
    msg.age_s = 50;
    msg.time = (uint32_t)RECEIVED_S - 30;
    assert_int_equal(decode(pack(&msg)), 0);
    assert_int_equal(uplink.last_sample_s, RECEIVED_S - 30);

    msg.time = 1000; /* 1970: the node's clock was never set */
    expect_refused(pack(&msg), "is before 2020");
    msg.time = (uint32_t)(RECEIVED_S + 2 * 86400);
    expect_refused(pack(&msg), "s after reception");
}

static void test_extra_checks(void **state)
{
    (void)state;
    int32_t one[1] = {5};
    Sensorbro__V1__Series s1 = SENSORBRO__V1__SERIES__INIT, s2 = SENSORBRO__V1__SERIES__INIT;
    Sensorbro__V1__Series *ptrs[2] = {&s1, &s2};
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.extra = ptrs;
    msg.n_extra = 1;
    s1.quantity = 99;
    s1.samples = one;
    s1.n_samples = 1;
    expect_refused(pack(&msg), "extra[0]: unknown quantity 99");

    /* channel 0 of temperature is the temperature field itself: sending both is ambiguous */
    s1.quantity = 4;
    msg.temperature = one;
    msg.n_temperature = 1;
    expect_refused(pack(&msg), "temperature channel 0 sent twice");

    s1.channel = 1;
    s2 = s1;
    msg.n_extra = 2;
    expect_refused(pack(&msg), "temperature channel 1 sent twice");

    /* An empty series is the same as none. */
    s2.channel = 2;
    s2.n_samples = 0;
    assert_int_equal(decode(pack(&msg)), 0);
    assert_int_equal(uplink.series_count, 2);
}

static void test_too_many_series(void **state)
{
    (void)state;
    static Sensorbro__V1__Series series[DECODE_MAX_SERIES + 1];
    static Sensorbro__V1__Series *ptrs[DECODE_MAX_SERIES + 1];
    int32_t one[1] = {1};
    for (uint32_t i = 0; i < DECODE_MAX_SERIES + 1; i++) {
        sensorbro__v1__series__init(&series[i]);
        series[i].quantity = 4;
        series[i].channel = i + 1;
        series[i].samples = one;
        series[i].n_samples = 1;
        ptrs[i] = &series[i];
    }
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.extra = ptrs;
    msg.n_extra = DECODE_MAX_SERIES;
    assert_int_equal(decode(pack(&msg)), 0);
    msg.n_extra = DECODE_MAX_SERIES + 1;
    expect_refused(pack(&msg), "more than 32 series");
}

static void test_empty_and_unknown_fields(void **state)
{
    (void)state;
    /* An empty payload reads as a valid protobuf Uplink (seq 0, nothing measured), and
     * would be published under the id of the device's real seq 0: refused. */
    expect_refused(0, "empty payload: no Uplink");

    /* Likewise a seq and a time base without any series or status (empty series count as
     * none). */
    int32_t none[1] = {0};
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.seq = 9;
    msg.interval_s = 60;
    msg.age_s = 5;
    msg.config_version = 2;
    msg.temperature = none;
    msg.n_temperature = 0;
    expect_refused(pack(&msg), "no series and no status: nothing to publish");

    /* A status alone is something to say (a node that rebooted, a low battery). */
    msg.status = 0x04;
    assert_int_equal(decode(pack(&msg)), 0);
    assert_int_equal(uplink.series_count, 0);
    assert_int_equal(uplink.max_count, 0);
    assert_int_equal(uplink.seq, 9);

    /* A field from a newer schema (number 40, varint) is skipped. */
    const uint8_t newer[] = {0x08, 0x05, 0xc0, 0x02, 0x2a, 0x22, 0x01, 0x04};
    memcpy(frame, newer, sizeof(newer));
    assert_int_equal(decode(sizeof(newer)), 0);
    assert_int_equal(uplink.seq, 5);
    const int32_t two[1] = {2};
    assert_series(4, 0, two, 1);
}

/* Every prefix of a valid frame either decodes or is refused with a reason: never a crash,
 * never an out-of-bounds read (the build under ASan checks that). */
static void test_every_truncation(void **state)
{
    (void)state;
    int32_t t[4] = {2150, 3, -2, 1}, h[2] = {455, 1};
    int32_t c[1] = {612};
    Sensorbro__V1__Series s = SENSORBRO__V1__SERIES__INIT;
    Sensorbro__V1__Series *ptrs[1] = {&s};
    s.quantity = 33;
    s.samples = c;
    s.n_samples = 1;
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.seq = 300;
    msg.interval_s = 300;
    msg.temperature = t;
    msg.n_temperature = 4;
    msg.relative_humidity = h;
    msg.n_relative_humidity = 2;
    msg.extra = ptrs;
    msg.n_extra = 1;
    size_t len = pack(&msg);
    static uint8_t copy[FRAME_MAX_PAYLOAD_BYTES];
    memcpy(copy, frame, len);
    size_t refused = 0;
    for (size_t cut = 0; cut < len; cut++) {
        /* decode from an exact-size heap copy so that ASan sees any read past the end */
        uint8_t *exact = malloc(cut ? cut : 1);
        memcpy(exact, copy, cut);
        int rc = decode_uplink(&decoder, exact, cut, RECEIVED_MS, &uplink, reason);
        free(exact);
        if (rc != 0) {
            assert_true(reason[0] != '\0');
            refused++;
        }
    }
    /* A cut inside the packed temperature series cannot be a valid frame. */
    assert_true(refused > 0);
    memcpy(frame, copy, len);
    assert_int_equal(decode(len - 1), -1);
    assert_string_equal(reason, "protobuf: not a valid Uplink (truncated or malformed)");
}

static void test_random_bytes(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    size_t accepted = 0;
    for (int round = 0; round < 20000; round++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t len = (size_t)(x % 96);
        uint8_t *buf = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        int rc = decode_uplink(&decoder, buf, len, RECEIVED_MS, &uplink, reason);
        free(buf);
        if (rc == 0) {
            accepted++;
            assert_true(uplink.values_used <= DECODE_MAX_SAMPLES);
        } else {
            assert_true(reason[0] != '\0');
        }
    }
    /* Random bytes are almost never a valid Uplink; if most were, the checks are too lax. */
    assert_true(accepted < 2000);
}

static void test_oversize_and_arena(void **state)
{
    (void)state;
    assert_int_equal(
        decode_uplink(&decoder, frame, FRAME_MAX_PAYLOAD_BYTES + 1, RECEIVED_MS, &uplink, reason),
        -1);
    assert_string_equal(reason, "payload of 1025 bytes exceeds 1024");

    /* A 1 KiB frame of empty Series messages (3 bytes each) is the most allocation per byte
     * an Uplink can ask for; it fits the arena and is then refused by count, not crashed. */
    size_t len = 0;
    while (len + 3 <= FRAME_MAX_PAYLOAD_BYTES) {
        frame[len++] = 0x92; /* field 18, length-delimited */
        frame[len++] = 0x01;
        frame[len++] = 0x00; /* empty Series */
    }
    assert_int_equal(decode(len), -1);
    assert_string_equal(reason, "extra[0]: unknown quantity 0");
    assert_false(decoder.arena_exhausted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_fixed_quantity),
        cmocka_unit_test(test_every_extra_quantity),
        cmocka_unit_test(test_extreme_values_and_overflow),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_time_base),
        cmocka_unit_test(test_extra_checks),
        cmocka_unit_test(test_too_many_series),
        cmocka_unit_test(test_empty_and_unknown_fields),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_oversize_and_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
