/*
 * test_util.c - the shared helpers every codec stands on: base64 (util/base64.c) in its one
 * grammar and two relaxations, with the inputs each former copy's tests accepted and
 * refused; RFC 3339 (util/rfc3339.c) read and written; and the one ranking of receptions
 * (frame_radio_better).
 *
 * Known answers come from outside this C code: base64 from RFC 4648 section 10 and Python's
 * base64 module; unix times from `date -u -d ... +%s` (and Python's calendar.timegm).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "frame.h"
#include "util/base64.h"
#include "util/clock.h"
#include "util/rfc3339.h"

#define PAD_OPTIONAL BASE64_PAD_OPTIONAL
#define BLANKS       (BASE64_PAD_OPTIONAL | BASE64_SKIP_WHITESPACE)

/* ---- base64 ---- */

static void test_base64_rfc4648_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *plain, *padded, *bare;
    } vectors[] = {
        {"", "", ""},
        {"f", "Zg==", "Zg"},
        {"fo", "Zm8=", "Zm8"},
        {"foo", "Zm9v", "Zm9v"},
        {"foob", "Zm9vYg==", "Zm9vYg"},
        {"fooba", "Zm9vYmE=", "Zm9vYmE"},
        {"foobar", "Zm9vYmFy", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        size_t n = strlen(vectors[i].plain);
        char text[16];
        assert_int_equal(base64_encode((const uint8_t *)vectors[i].plain, n, text, sizeof(text)),
                         (long)strlen(vectors[i].padded));
        assert_string_equal(text, vectors[i].padded);
        uint8_t out[16];
        /* padded: every grammar; bare: the ones with padding optional */
        const unsigned all[] = {BASE64_STRICT, PAD_OPTIONAL, BLANKS};
        for (size_t f = 0; f < 3; f++) {
            assert_int_equal(base64_decode(vectors[i].padded, strlen(vectors[i].padded), all[f],
                                           out, sizeof(out), NULL),
                             (long)n);
            assert_memory_equal(out, vectors[i].plain, n);
        }
        assert_int_equal(
            base64_decode(vectors[i].bare, strlen(vectors[i].bare), PAD_OPTIONAL, out, 16, NULL),
            (long)n);
        assert_memory_equal(out, vectors[i].plain, n);
        if (strcmp(vectors[i].bare, vectors[i].padded) != 0)
            assert_int_equal(base64_decode(vectors[i].bare, strlen(vectors[i].bare), BASE64_STRICT,
                                           out, sizeof(out), NULL),
                             -1);
    }
}

/* Every byte value, every length up to 300, through encode and each grammar's decode. */
static void test_base64_round_trip(void **state)
{
    (void)state;
    uint8_t data[300], out[300];
    char text[BASE64_ENCODED_LEN(300) + 1];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 167 + 13);
    for (size_t n = 0; n <= sizeof(data); n++) {
        long len = base64_encode(data, n, text, sizeof(text));
        assert_int_equal(len, (long)BASE64_ENCODED_LEN(n));
        assert_int_equal(base64_decode(text, (size_t)len, BASE64_STRICT, out, n, NULL), (long)n);
        assert_memory_equal(out, data, n);
        size_t bare = (size_t)len;
        while (bare > 0 && text[bare - 1] == '=')
            bare--;
        assert_int_equal(base64_decode(text, bare, PAD_OPTIONAL, out, n, NULL), (long)n);
        assert_memory_equal(out, data, n);
        /* one byte of room too few: refused with the size it needs */
        if (n > 0) {
            struct base64_error err;
            assert_int_equal(base64_decode(text, (size_t)len, BASE64_STRICT, out, n - 1, &err), -1);
            assert_int_equal(err.fault, BASE64_FAULT_SPACE);
            assert_int_equal(err.decoded_len, n);
        }
    }
    /* encode: exactly the room it needs, and one byte less */
    assert_int_equal(base64_encode(data, 5, text, 9), 8);
    assert_int_equal(base64_encode(data, 5, text, 8), -1);
    assert_int_equal(base64_encode(NULL, 0, text, 1), 0);
    assert_string_equal(text, "");
}

struct refusal {
    const char *text;
    unsigned flags;
    enum base64_fault fault;
    size_t at; /* FAULT_CHARACTER only */
};

static void expect_refused(const struct refusal *r)
{
    uint8_t out[64];
    struct base64_error err = {.fault = BASE64_FAULT_NONE};
    long n = base64_decode(r->text, strlen(r->text), r->flags, out, sizeof(out), &err);
    if (n != -1 || err.fault != r->fault || (r->fault == BASE64_FAULT_CHARACTER && err.at != r->at))
        fail_msg("\"%s\" (flags %u): got %ld, fault %d at %zu; expected fault %d at %zu", r->text,
                 r->flags, n, (int)err.fault, err.at, (int)r->fault, r->at);
}

/* The inputs the four former decoders' tests refused stay refused, each under the grammar
 * its caller now asks for: the LNS feed padded (test_chirpstack.c), GWMP's data with padding
 * optional (semtech_hostile.sh, test_gwmp.c), sensorbroctl with blanks too. */
static void test_base64_refusals(void **state)
{
    (void)state;
    static const struct refusal refused[] = {
        /* the LNS feed's own cases */
        {"CAcQPCID6CA", BASE64_STRICT, BASE64_FAULT_LENGTH, 0},
        {"CA=QPCID6CAK", BASE64_STRICT, BASE64_FAULT_CHARACTER, 2},
        {"CAcQPC!D6CAK", BASE64_STRICT, BASE64_FAULT_CHARACTER, 6},
        {"C===", BASE64_STRICT, BASE64_FAULT_CHARACTER, 1},
        {"====", BASE64_STRICT, BASE64_FAULT_CHARACTER, 0},
        /* semtech_hostile's "not base64", the modem's "QAEC*" */
        {"!!!!", PAD_OPTIONAL, BASE64_FAULT_CHARACTER, 0},
        {"QAEC*/8=", PAD_OPTIONAL, BASE64_FAULT_CHARACTER, 4},
        /* what EVP_DecodeBlock alone would have taken */
        {"QA=B", PAD_OPTIONAL, BASE64_FAULT_CHARACTER, 2},       /* '=' inside, as a zero */
        {" QAE", PAD_OPTIONAL, BASE64_FAULT_CHARACTER, 0},       /* a leading blank */
        {"QAECA/8=\n", PAD_OPTIONAL, BASE64_FAULT_CHARACTER, 8}, /* trailing junk */
        {"QAECA/8-", PAD_OPTIONAL, BASE64_FAULT_CHARACTER, 7},
        /* lengths no base64 has */
        {"Q", PAD_OPTIONAL, BASE64_FAULT_LENGTH, 0},
        {"QAECA", PAD_OPTIONAL, BASE64_FAULT_LENGTH, 0},
        {"Q===", PAD_OPTIONAL, BASE64_FAULT_CHARACTER, 1},
        /* padding given but not complete, or too much of it */
        {"QAECA/=", PAD_OPTIONAL, BASE64_FAULT_LENGTH, 0},
        {"QAECA/8==", PAD_OPTIONAL, BASE64_FAULT_CHARACTER, 7},
        {"QAEC=", PAD_OPTIONAL, BASE64_FAULT_CHARACTER, 4},
        {"QAEC==", PAD_OPTIONAL, BASE64_FAULT_CHARACTER, 4},
        /* blanks only where the caller allows them */
        {"QAEC A/8=", BASE64_STRICT, BASE64_FAULT_LENGTH, 0},
        {"QAEC\tA/8=", PAD_OPTIONAL, BASE64_FAULT_CHARACTER, 4},
        {"QAEC A/8 = x", BLANKS, BASE64_FAULT_CHARACTER, 9},
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        expect_refused(&refused[i]);
}

static void test_base64_relaxations(void **state)
{
    (void)state;
    static const uint8_t frame[] = {0x40, 1, 2, 3, 0xFF}; /* "QAECA/8=" */
    static const struct {
        const char *text;
        unsigned flags;
    } taken[] = {
        {"QAECA/8=", BASE64_STRICT},
        {"QAECA/8", PAD_OPTIONAL},                 /* Semtech-style, unpadded */
        {"QAECA/8=", BLANKS},                      /* sensorbroctl, as before */
        {" QAEC\nA/8= \n", BLANKS},                /* pasted, with its line end */
        {"Q A E C A / 8", BLANKS},                 /* blanks anywhere, padding left out */
        {"QAECA/8=", BASE64_SKIP_WHITESPACE},      /* blanks allowed, padding still needed */
        {"QAEC A/8=\r\n", BASE64_SKIP_WHITESPACE}, /* a CRLF-ended line */
    };
    for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
        uint8_t out[8];
        long n = base64_decode(taken[i].text, strlen(taken[i].text), taken[i].flags, out,
                               sizeof(out), NULL);
        if (n != (long)sizeof(frame))
            fail_msg("\"%s\" (flags %u): %ld bytes", taken[i].text, taken[i].flags, n);
        assert_memory_equal(out, frame, sizeof(frame));
    }
    uint8_t out[4];
    assert_int_equal(base64_decode("QAECA/8", 7, BASE64_SKIP_WHITESPACE, out, 4, NULL), -1);
    /* the text needs no NUL: only len characters are read */
    assert_int_equal(base64_decode("Zg==garbage", 4, BASE64_STRICT, out, sizeof(out), NULL), 1);
    assert_int_equal(out[0], 'f');
    /* bits left over in the last character are not judged (RFC 4648 3.5) */
    assert_int_equal(base64_decode("Zh==", 4, BASE64_STRICT, out, sizeof(out), NULL), 1);
    assert_int_equal(out[0], 'f');
}

/* ---- RFC 3339 ---- */

static void expect_time(const char *text, int64_t unix_us)
{
    int64_t got = 7;
    if (rfc3339_parse_us(text, strlen(text), &got) != 0)
        fail_msg("\"%s\" refused", text);
    if (got != unix_us)
        fail_msg("\"%s\": %lld, expected %lld", text, (long long)got, (long long)unix_us);
}

static void expect_not_time(const char *text)
{
    int64_t got = 7;
    if (rfc3339_parse_us(text, strlen(text), &got) == 0 || got != 7)
        fail_msg("\"%s\" taken as %lld", text, (long long)got);
}

static void test_rfc3339_parse(void **state)
{
    (void)state;
    const int64_t t = INT64_C(1795425423) * 1000000; /* date -u -d 2026-11-23T09:17:03Z +%s */
    expect_time("2026-11-23T09:17:03Z", t);
    expect_time("2026-11-23T09:17:03.123456Z", t + 123456);
    expect_time("2026-11-23T09:17:03.123456789Z", t + 123456); /* nanoseconds cut */
    expect_time("2026-11-23T09:17:03.1Z", t + 100000);
    expect_time("2026-11-23t09:17:03z", t); /* RFC 3339 5.6, NOTE */
    expect_time("2026-11-23T10:17:03+01:00", t);
    expect_time("2026-11-23T04:47:03.5-04:30", t + 500000);
    expect_time("2026-11-23T09:17:03-00:00", t);
    expect_time("2024-02-29T00:00:00Z", INT64_C(1709164800) * 1000000); /* a leap day */
    expect_time("2000-02-29T00:00:00Z", INT64_C(951782400) * 1000000);  /* 400 years */
    expect_time("2026-06-30T23:59:60Z", INT64_C(1782864000) * 1000000); /* a leap second */
    expect_time("1970-01-01T00:00:00Z", 0);
    expect_time("1969-12-31T23:59:59.5Z", -500000);
    expect_time("9999-12-31T23:59:59Z", INT64_C(253402300799) * 1000000);
    expect_time("0000-01-01T00:00:00Z", INT64_C(-62167219200) * 1000000);

    static const char *const refused[] = {
        "",
        "2026-11-23",
        "2026-11-23T09:17:03",
        "2026-11-23 09:17:03Z",
        "2026-11-23T09:17Z",
        "2026-11-23T09:17:03.Z",
        "2026-11-23T09:17:03,5Z",
        "2026-13-23T09:17:03Z",
        "2026-00-23T09:17:03Z",
        "2026-11-00T09:17:03Z",
        "2026-11-31T09:17:03Z", /* November has 30 days */
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T09:60:03Z",
        "2026-11-23T09:17:61Z",
        "2026-11-23T09:17:03+24:00",
        "2026-11-23T09:17:03+01:60",
        "2026-11-23T09:17:03+0100",
        "2026-11-23T09:17:03+01",
        "2026-11-23T09:17:03+01:00Z",
        "2026-11-23T09:17:03ZZ",
        " 2026-11-23T09:17:03Z",
        "2026-11-23T 9:17:03Z", /* sscanf's %2d took that */
        "2026-11-23T+9:17:03Z",
        "+026-11-23T09:17:03Z",
        "2026-1-23T09:17:03Z",
        "2026-11-23T09:17:03.123456789012345678901Z", /* 42 characters: over the limit */
        "yesterday",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        expect_not_time(refused[i]);
    /* only len characters are read */
    int64_t got;
    assert_int_equal(rfc3339_parse_us("2026-11-23T09:17:03Zjunk", 20, &got), 0);
    assert_true(got == t);
    assert_int_equal(rfc3339_parse_us("2026-11-23T09:17:03Z", 19, &got), -1);
    /* milliseconds: cut, and floored before 1970 */
    int64_t ms;
    assert_int_equal(rfc3339_parse_ms("2026-11-23T09:17:03.123999Z", 27, &ms), 0);
    assert_true(ms == INT64_C(1795425423123));
    assert_int_equal(rfc3339_parse_ms("1969-12-31T23:59:59.9995Z", 25, &ms), 0);
    assert_true(ms == -1);
}

static void test_rfc3339_format(void **state)
{
    (void)state;
    char out[RFC3339_SIZE];
    const int64_t t = INT64_C(1795425423123456);
    assert_int_equal(rfc3339_format(t, 0, out), 0);
    assert_string_equal(out, "2026-11-23T09:17:03Z");
    assert_int_equal(rfc3339_format(t, 3, out), 0);
    assert_string_equal(out, "2026-11-23T09:17:03.123Z");
    assert_int_equal(rfc3339_format(t, 6, out), 0);
    assert_string_equal(out, "2026-11-23T09:17:03.123456Z");
    assert_int_equal(rfc3339_format(-1, 6, out), 0);
    assert_string_equal(out, "1969-12-31T23:59:59.999999Z");
    assert_int_equal(rfc3339_format(INT64_C(253402300799999999), 6, out), 0);
    assert_string_equal(out, "9999-12-31T23:59:59.999999Z");
    assert_int_equal(rfc3339_format(INT64_C(-62167219200) * 1000000, 0, out), 0);
    assert_string_equal(out, "0000-01-01T00:00:00Z");
    assert_int_equal(rfc3339_format(INT64_C(253402300800) * 1000000, 0, out), -1);
    assert_int_equal(rfc3339_format(INT64_C(-62167219201) * 1000000, 0, out), -1);
    assert_int_equal(rfc3339_format(INT64_MAX, 0, out), -1);
    assert_int_equal(rfc3339_format(INT64_MIN, 0, out), -1);
    assert_int_equal(rfc3339_format(t, 2, out), -1);
    /* what it writes, it reads back */
    for (int64_t us = INT64_C(-86400000001); us < INT64_C(4102444800000000);
         us += INT64_C(98765432101234)) {
        int64_t back;
        assert_int_equal(rfc3339_format(us, 6, out), 0);
        assert_int_equal(rfc3339_parse_us(out, strlen(out), &back), 0);
        assert_true(back == us);
    }
    /* the clock's formatter is this one, in milliseconds */
    char clock_text[CLOCK_RFC3339_SIZE];
    assert_int_equal(clock_format_rfc3339(INT64_C(1795425423123), 1, clock_text), 0);
    assert_string_equal(clock_text, "2026-11-23T09:17:03.123Z");
    assert_int_equal(clock_format_rfc3339(INT64_C(1795425423123), 0, clock_text), 0);
    assert_string_equal(clock_text, "2026-11-23T09:17:03Z");
    assert_int_equal(clock_format_rfc3339(INT64_MAX, 0, clock_text), -1);
}

/* ---- the best reception ---- */

static void test_radio_better(void **state)
{
    (void)state;
    assert_true(frame_radio_better(-80, 3.0f, -97, 7.5f)); /* RSSI first */
    assert_false(frame_radio_better(-97, 7.5f, -80, 3.0f));
    assert_true(frame_radio_better(-80, 3.5f, -80, 3.0f)); /* then SNR */
    assert_false(frame_radio_better(-80, 3.0f, -80, 3.5f));
    assert_false(frame_radio_better(-80, 3.0f, -80, 3.0f)); /* a tie is not better */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_rfc4648_vectors), cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_base64_refusals),        cmocka_unit_test(test_base64_relaxations),
        cmocka_unit_test(test_rfc3339_parse),          cmocka_unit_test(test_rfc3339_format),
        cmocka_unit_test(test_radio_better),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
