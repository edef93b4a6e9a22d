/*
 * test_term.c - util/term.c: what sensorbroctl prints of an untrusted string can no longer
 * act on the terminal (escape sequences, carriage returns, C1 controls, direction
 * overrides, broken UTF-8), while printable text and well-formed UTF-8 pass unchanged;
 * the JSON variant keeps JSON valid; a short buffer never holds half an escape. And
 * util/host.c: which broker hosts count as loopback (the TLS default).
 *
 * Expected strings are written out by hand from the rules in util/term.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/host.h"
#include "util/term.h"

static void expect_escaped(const char *in, size_t len, const char *expected)
{
    char out[TERM_ESCAPED_SIZE(64)];
    assert_true(len <= 64);
    term_escape(in, len, out, sizeof(out));
    assert_string_equal(out, expected);
}

#define EXPECT(in, expected) expect_escaped(in, sizeof(in) - 1, expected)

static void test_printable_and_utf8_pass(void **state)
{
    (void)state;
    EXPECT("room 12 {\"a\":1} \\x1b", "room 12 {\"a\":1} \\x1b");
    EXPECT("K\xc3\xa6lder \xc3\xb8st \xe2\x82\xac \xf0\x9f\x8c\xa1", /* æ ø € 🌡 */
           "K\xc3\xa6lder \xc3\xb8st \xe2\x82\xac \xf0\x9f\x8c\xa1");
    EXPECT("", "");
}

static void test_controls_escaped(void **state)
{
    (void)state;
    /* a CSI that would clear the screen, an OSC that sets the title, an overprint */
    EXPECT("\x1b[2J\x1b]0;owned\x07ok\rfake", "\\x1b[2J\\x1b]0;owned\\x07ok\\x0dfake");
    EXPECT("a\tb\nc\x7f\x08", "a\\x09b\\x0ac\\x7f\\x08");
    expect_escaped("a\0b", 3, "a\\x00b");
    /* C1: U+009B is an 8-bit CSI; U+0085 NEL */
    EXPECT("\xc2\x9b"
           "31m\xc2\x85",
           "\\u009b31m\\u0085");
    /* direction overrides and invisible formats */
    EXPECT("abc\xe2\x80\xae"
           "fdp.exe",
           "abc\\u202efdp.exe");
    EXPECT("\xe2\x80\x8b\xe2\x81\xa6\xef\xbb\xbf", "\\u200b\\u2066\\ufeff");
}

static void test_broken_utf8_escaped(void **state)
{
    (void)state;
    EXPECT("\xff\xfe", "\\xff\\xfe");                   /* never UTF-8 */
    EXPECT("\xc3", "\\xc3");                            /* cut short */
    EXPECT("\xc3(", "\\xc3(");                          /* bad continuation */
    EXPECT("\xc0\x9b", "\\xc0\\x9b");                   /* overlong: would hide a CSI */
    EXPECT("\xe0\x80\x9b", "\\xe0\\x80\\x9b");          /* overlong in three bytes */
    EXPECT("\xed\xa0\x80", "\\xed\\xa0\\x80");          /* a surrogate */
    EXPECT("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* past U+10FFFF */
}

static void test_short_buffer_keeps_whole_escapes(void **state)
{
    (void)state;
    char out[8];
    term_escape("ab\x1b"
                "cdef",
                7, out, sizeof(out));
    assert_string_equal(out, "ab\\x1bc"); /* 7 characters and the NUL */
    term_escape("abcd\x1b", 5, out, 7);
    assert_string_equal(out, "abcd"); /* "\x1b" does not fit: left out whole */
    /* the worst case fits TERM_ESCAPED_SIZE */
    char worst[TERM_ESCAPED_SIZE(4)];
    term_escape("\x01\x02\x03\x04", 4, worst, sizeof(worst));
    assert_string_equal(worst, "\\x01\\x02\\x03\\x04");
}

static void test_file_and_json(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    term_puts(f, "x\x1b[1my");
    term_write(f, "|\x00|", 3);
    fputc('\n', f);
    /* cJSON's output: indentation passes, DEL, C1 and broken bytes become JSON escapes */
    static const char json[] = "{\n\t\"name\":\t\"a\x7f\xc2\x9b\xff\\u001b\"\n}";
    term_write_json(f, json, sizeof(json) - 1);
    fclose(f);
    assert_string_equal(buf, "x\\x1b[1my|\\x00|\n"
                             "{\n\t\"name\":\t\"a\\u007f\\u009b\\ufffd\\u001b\"\n}");
    free(buf);
}

static void test_loopback_hosts(void **state)
{
    (void)state;
    static const char *const loopback[] = {
        "localhost",     "LOCALHOST",    "localhost.",       "broker.localhost",
        "ip6-localhost", "ip6-loopback", "127.0.0.1",        "127.1.2.3",
        "::1",           "[::1]",        "::ffff:127.0.0.1", "0:0:0:0:0:0:0:1"};
    static const char *const remote[] = {"",
                                         "broker.example.org",
                                         "localhost.example.org",
                                         "mylocalhost",
                                         "10.0.0.5",
                                         "128.0.0.1",
                                         "::",
                                         "::2",
                                         "0.0.0.0",
                                         "::ffff:10.0.0.1",
                                         "127.1",
                                         "localhost..",
                                         "[::1",
                                         "fe80::1"};
    for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
        if (!host_is_loopback(loopback[i]))
            fail_msg("%s should be loopback", loopback[i]);
    for (size_t i = 0; i < sizeof(remote) / sizeof(remote[0]); i++)
        if (host_is_loopback(remote[i]))
            fail_msg("%s should not be loopback", remote[i]);
    assert_false(host_is_loopback(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_printable_and_utf8_pass),
        cmocka_unit_test(test_controls_escaped),
        cmocka_unit_test(test_broken_utf8_escaped),
        cmocka_unit_test(test_short_buffer_keeps_whole_escapes),
        cmocka_unit_test(test_file_and_json),
        cmocka_unit_test(test_loopback_hosts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
