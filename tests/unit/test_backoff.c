/*
 * test_backoff.c - util/backoff.c: the generator's range and seeding, uniform draws that
 * reach both ends of their range, and full-jitter delays that stay under min(cap,
 * base * 2^attempt) and spread over it (no overflow however large the attempt).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "util/backoff.h"

#define DRAWS 4000

static void test_seeding(void **state)
{
    (void)state;
    struct backoff_rng a, b;
    backoff_rng_seed(&a, 1);
    backoff_rng_seed(&b, 2);
    assert_true(a.state != 0 && b.state != 0);
    /* two instances seeded at the same moment with their own salts draw apart */
    int same = 0;
    for (int i = 0; i < 64; i++)
        same += backoff_random(&a) == backoff_random(&b);
    assert_true(same < 2);
    /* and a generator never settles on one value */
    uint64_t first = backoff_random(&a);
    int repeats = 0;
    for (int i = 0; i < 64; i++)
        repeats += backoff_random(&a) == first;
    assert_true(repeats < 2);
}

static void test_uniform(void **state)
{
    (void)state;
    struct backoff_rng r;
    backoff_rng_seed(&r, 3);
    int seen[4] = {0};
    for (int i = 0; i < DRAWS; i++) {
        uint64_t v = backoff_uniform(&r, 10, 13);
        assert_true(v >= 10 && v <= 13);
        seen[v - 10]++;
    }
    for (int i = 0; i < 4; i++)
        assert_true(seen[i] > DRAWS / 8); /* each value about a quarter of the time */
    assert_int_equal(backoff_uniform(&r, 7, 7), 7);
    assert_int_equal(backoff_uniform(&r, 9, 2), 9); /* an empty range: its low end */
    backoff_uniform(&r, 0, UINT64_MAX);             /* the whole range: no overflow */
}

static void test_full_jitter(void **state)
{
    (void)state;
    struct backoff_rng r;
    backoff_rng_seed(&r, 4);
    uint64_t max_seen[6] = {0}, sum_at_cap = 0;
    for (int i = 0; i < DRAWS; i++) {
        for (uint32_t attempt = 0; attempt < 6; attempt++) {
            uint64_t d = backoff_full_jitter_ms(&r, 1000, 16000, attempt);
            uint64_t ceiling = 1000u << attempt;
            assert_true(d <= (ceiling < 16000 ? ceiling : 16000));
            if (d > max_seen[attempt])
                max_seen[attempt] = d;
            if (attempt == 5)
                sum_at_cap += d;
        }
    }
    /* the delay spreads over the whole window, not only near its start */
    assert_true(max_seen[0] > 900);
    assert_true(max_seen[3] > 7200);
    assert_true(max_seen[5] > 14400);
    uint64_t mean = sum_at_cap / DRAWS;
    assert_true(mean > 6400 && mean < 9600); /* uniform over [0, 16000]: about 8000 */

    assert_int_equal(backoff_full_jitter_ms(&r, 0, 1000, 10), 0);
    for (int i = 0; i < 100; i++) {
        assert_true(backoff_full_jitter_ms(&r, 500, 400, 0) <= 400); /* base above the cap */
        assert_true(backoff_full_jitter_ms(&r, UINT64_MAX / 3, UINT64_MAX - 1, 60) <=
                    UINT64_MAX - 1);
        assert_true(backoff_full_jitter_ms(&r, 10, 60000, UINT32_MAX) <= 60000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeding),
        cmocka_unit_test(test_uniform),
        cmocka_unit_test(test_full_jitter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
