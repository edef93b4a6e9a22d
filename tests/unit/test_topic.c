/*
 * test_topic.c - util/topic.c: templates expanded (placeholders known and unknown, values
 * missing, results that do not fit), turned into subscription filters, and checked; filter
 * wildcards checked; topic words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/topic.h"

static const struct topic_var data_vars[] = {{"gateway", "gw-1"}, {"device", "70b3d57ed000f00d"}};

static void test_expand(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(
        topic_expand("sensorbro/{gateway}/{device}/up", data_vars, 2, out, sizeof(out)),
        strlen("sensorbro/gw-1/70b3d57ed000f00d/up"));
    assert_string_equal(out, "sensorbro/gw-1/70b3d57ed000f00d/up");
    /* each occurrence; text around and between placeholders kept */
    topic_expand("{device}-{device}/x{gateway}y", data_vars, 2, out, sizeof(out));
    assert_string_equal(out, "70b3d57ed000f00d-70b3d57ed000f00d/xgw-1y");
    /* a placeholder that is not given, or not closed, stands as written */
    topic_expand("a/{application}/{device/{gateway}", data_vars, 2, out, sizeof(out));
    assert_string_equal(out, "a/{application}/{device/gw-1");
    /* a value NULL expands to nothing (the status topic has no device) */
    const struct topic_var status_vars[] = {{"gateway", "gw"}, {"device", NULL}};
    topic_expand("s/{gateway}/{device}status", status_vars, 2, out, sizeof(out));
    assert_string_equal(out, "s/gw/status");
    assert_int_equal(topic_expand("", data_vars, 2, out, sizeof(out)), 0);
    assert_string_equal(out, "");

    /* exactly full, then one byte short: -1, cut, still terminated */
    char small[12];
    assert_int_equal(topic_expand("x/{gateway}/yzab", data_vars, 2, small, sizeof(small)), 11);
    assert_string_equal(small, "x/gw-1/yzab");
    assert_int_equal(topic_expand("x/{gateway}/yzab", data_vars, 2, small, 11), -1);
    assert_string_equal(small, "x/gw-1/yza");
    assert_int_equal(topic_expand("{device}", data_vars, 2, small, sizeof(small)), -1);
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_template_filter(void **state)
{
    (void)state;
    const struct topic_var vars[] = {{"gateway", "gw"}, {"device", NULL}};
    char out[64];
    assert_int_equal(
        topic_template_filter("sensorbro/{gateway}/{device}/up", vars, 2, out, sizeof(out)),
        strlen("sensorbro/gw/+/up"));
    assert_string_equal(out, "sensorbro/gw/+/up");
    /* a level that only partly is the unknown placeholder still is all of it */
    topic_template_filter("d/dev-{device}.x/{gateway}", vars, 2, out, sizeof(out));
    assert_string_equal(out, "d/+/gw");
    topic_template_filter("{device}", vars, 2, out, sizeof(out));
    assert_string_equal(out, "+");
    topic_template_filter("sensorbro/{gateway}/status", vars, 2, out, sizeof(out));
    assert_string_equal(out, "sensorbro/gw/status");
    topic_template_filter("a//{gateway}/", vars, 2, out, sizeof(out));
    assert_string_equal(out, "a//gw/");
    char small[8];
    assert_int_equal(topic_template_filter("ab/{gateway}/{device}", vars, 2, small, sizeof(small)),
                     7);
    assert_string_equal(small, "ab/gw/+");
    assert_int_equal(topic_template_filter("abc/{gateway}/{device}", vars, 2, small, sizeof(small)),
                     -1);
    assert_true(strlen(small) < sizeof(small));
}

static void test_template_check(void **state)
{
    (void)state;
    static const char *const data[] = {"gateway", "device", NULL};
    static const char *const three[] = {"a", "b", "c", NULL};
    char why[128];
    assert_int_equal(
        topic_template_check("sensorbro/{gateway}/{device}/up", data, why, sizeof(why)), 0);
    assert_int_equal(topic_template_check("plain/topic", data, why, sizeof(why)), 0);
    assert_int_equal(topic_template_check("", data, why, sizeof(why)), -1);
    assert_string_equal(why, "expected a non-empty topic without the wildcards '+' or '#'");
    assert_int_equal(topic_template_check("a/+/b", data, why, sizeof(why)), -1);
    assert_int_equal(topic_template_check("a/#", data, why, sizeof(why)), -1);
    assert_int_equal(topic_template_check("a/{devices}", data, why, sizeof(why)), -1);
    assert_string_equal(why, "expected only the placeholders {gateway} and {device}");
    assert_int_equal(topic_template_check("a/{device", data, why, sizeof(why)), -1);
    assert_int_equal(topic_template_check("{x}", three, why, sizeof(why)), -1);
    assert_string_equal(why, "expected only the placeholders {a}, {b} and {c}");
}

static void test_filter_check(void **state)
{
    (void)state;
    char why[128];
    const char *good[] = {"a/+/b", "#", "+", "a/#", "+/+/#", "application/+/device/+/event/up"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(topic_filter_check(good[i], why, sizeof(why)), 0);
    assert_int_equal(topic_filter_check("a/b+", why, sizeof(why)), -1);
    assert_string_equal(why, "expected '+' and '#' to fill a whole topic level");
    assert_int_equal(topic_filter_check("a#", why, sizeof(why)), -1);
    assert_int_equal(topic_filter_check("a/#/b", why, sizeof(why)), -1);
    assert_string_equal(why, "expected '#' only as the last topic level");
}

static void test_words(void **state)
{
    (void)state;
    assert_true(topic_is_word("town-hall_2.b", 13, 64));
    assert_false(topic_is_word("", 0, 64));
    assert_false(topic_is_word("abc", 3, 2));
    assert_true(topic_is_word("ab", 2, 2));
    assert_false(topic_is_word("a/b", 3, 64));
    assert_false(topic_is_word("a+", 2, 64));
    assert_false(topic_is_word("a b", 3, 64));
    assert_false(topic_is_word("\xc3\xa6", 2, 64)); /* only ASCII letters */
    assert_int_equal(topic_word_span("gw-1/x", 6), 4);
    assert_int_equal(topic_word_span("gw-1", 2), 2); /* never past len */
    assert_false(topic_is_word_char('#'));
    assert_true(topic_is_word_char('Z'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),         cmocka_unit_test(test_template_filter),
        cmocka_unit_test(test_template_check), cmocka_unit_test(test_filter_check),
        cmocka_unit_test(test_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
