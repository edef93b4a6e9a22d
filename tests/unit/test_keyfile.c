/*
 * test_keyfile.c - util/keyfile.c and util/hex.c on real files in a temporary directory:
 * the key file as sensorbroctl and modem-sim write it (comments, blanks, CRLF, a last line
 * without newline), each kind of bad line reported by number, over-long lines refused, a
 * missing file, the readable-by-others report, standard input; hex decoding exactly.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/hex.h"
#include "util/keyfile.h"

static const uint8_t NWK[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
#define NWK_HEX "2B7E151628AED2A6ABF7158809CF4F3C"
#define APP_HEX "000102030405060708090a0b0c0d0e0f"

struct keys {
    uint8_t addr[4], nwk[16], app[16];
    bool has_addr, has_nwk, has_app, has_ignored;
};

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_keyfile.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to a new file of the given mode; returns its path (static buffer). */
static const char *write_file(const char *text, mode_t mode)
{
    static char path[128];
    static unsigned n;
    snprintf(path, sizeof(path), "%s/keys-%u", dir, n++);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static int read_keys(const char *path, struct keys *k, struct keyfile_result *res)
{
    memset(k, 0, sizeof(*k));
    const struct keyfile_field fields[] = {
        {"devaddr", 4, k->addr, &k->has_addr},
        {"nwkskey", 16, k->nwk, &k->has_nwk},
        {"appskey", 16, k->app, &k->has_app},
        {"comment", 0, NULL, &k->has_ignored},
    };
    return keyfile_read(path, fields, sizeof(fields) / sizeof(fields[0]), res);
}

static void test_reads_every_field(void **state)
{
    (void)state;
    const char *path = write_file("# an ABP device\n"
                                  "\n"
                                  "   devaddr=26011bda\n"
                                  "nwkskey = " NWK_HEX "\r\n"
                                  "\t# indented comment\n"
                                  "comment = not hex at all, ignored\n"
                                  "appskey =\t" APP_HEX, /* no newline at the end */
                                  0600);
    struct keys k;
    struct keyfile_result res;
    assert_int_equal(read_keys(path, &k, &res), 0);
    assert_int_equal(res.error, 0);
    assert_int_equal(res.line, 0);
    assert_false(res.readable_by_others);
    assert_true(k.has_addr && k.has_nwk && k.has_app && k.has_ignored);
    const uint8_t addr[4] = {0x26, 0x01, 0x1b, 0xda};
    assert_memory_equal(k.addr, addr, 4);
    assert_memory_equal(k.nwk, NWK, 16);
    for (int i = 0; i < 16; i++)
        assert_int_equal(k.app[i], i);
}

static void test_missing_fields_are_not_seen(void **state)
{
    (void)state;
    const char *path = write_file("nwkskey = " NWK_HEX "\nnwkskey = " APP_HEX "\n", 0600);
    struct keys k;
    struct keyfile_result res;
    assert_int_equal(read_keys(path, &k, &res), 0);
    assert_false(k.has_addr);
    assert_false(k.has_app);
    assert_true(k.has_nwk);
    assert_int_equal(k.nwk[15], 0x0f); /* given twice: the last one holds */
}

/* Each kind of bad line fails at its number; lines before it were read. */
static void test_bad_lines_by_number(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "appkey = " NWK_HEX "\n",                       /* a name this caller does not take */
        "nwkskey " NWK_HEX "\n",                        /* no '=' */
        "nwkskey = " NWK_HEX "00\n",                    /* too long a value */
        "nwkskey = 2B7E151628AED2A6ABF7158809CF4F3\n",  /* odd length */
        "nwkskey = 2B7E151628AED2A6ABF7158809CF4FXY\n", /* not hex */
        "devaddr = 0x26011bda\n",                       /* a prefix is not hex */
        "= " NWK_HEX "\n",                              /* no name */
        "nwkskey =\n",                                  /* no value */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "# keys\ndevaddr = 26011BDA\n%sappskey = " APP_HEX "\n",
                 bad[i]);
        struct keys k;
        struct keyfile_result res;
        assert_int_equal(read_keys(write_file(text, 0600), &k, &res), -1);
        assert_int_equal(res.line, 3);
        assert_int_equal(res.error, 0);
        assert_true(k.has_addr);
        assert_false(k.has_app); /* reading stopped at the bad line */
    }
}

/* A bad value leaves its field as it was: a half-written key is never used. */
static void test_bad_value_writes_nothing(void **state)
{
    (void)state;
    uint8_t key[16];
    memset(key, 0xee, sizeof(key));
    bool seen = false;
    const struct keyfile_field field = {"appkey", 16, key, &seen};
    struct keyfile_result res;
    const char *path = write_file("appkey = 00112233445566778899aabbccddeeZZ\n", 0600);
    assert_int_equal(keyfile_read(path, &field, 1, &res), -1);
    assert_int_equal(res.line, 1);
    assert_false(seen);
    for (int i = 0; i < 16; i++)
        assert_int_equal(key[i], 0xee);
}

/* A line longer than KEYFILE_LINE_MAX is an error at its line, not two shorter lines. */
static void test_long_lines(void **state)
{
    (void)state;
    char text[3 * KEYFILE_LINE_MAX];
    /* exactly the longest line: a valid key padded with blanks */
    int n = snprintf(text, sizeof(text), "nwkskey = %s", NWK_HEX);
    memset(text + n, ' ', (size_t)(KEYFILE_LINE_MAX - n));
    snprintf(text + KEYFILE_LINE_MAX, sizeof(text) - KEYFILE_LINE_MAX, "\n");
    struct keys k;
    struct keyfile_result res;
    assert_int_equal(read_keys(write_file(text, 0600), &k, &res), 0);
    assert_true(k.has_nwk);
    /* one character more */
    memset(text + n, ' ', (size_t)(KEYFILE_LINE_MAX + 1 - n));
    snprintf(text + KEYFILE_LINE_MAX + 1, sizeof(text) - KEYFILE_LINE_MAX - 1,
             "\nappskey = " APP_HEX "\n");
    assert_int_equal(read_keys(write_file(text, 0600), &k, &res), -1);
    assert_int_equal(res.line, 1);
    assert_false(k.has_app);
    /* a comment that long is no better: the reader cannot tell */
    memset(text, '#', 2 * KEYFILE_LINE_MAX);
    snprintf(text + 2 * KEYFILE_LINE_MAX, sizeof(text) - 2 * KEYFILE_LINE_MAX, "\n");
    assert_int_equal(read_keys(write_file(text, 0600), &k, &res), -1);
    assert_int_equal(res.line, 1);
}

static void test_missing_file_and_mode(void **state)
{
    (void)state;
    struct keys k;
    struct keyfile_result res;
    char path[128];
    snprintf(path, sizeof(path), "%s/no-such-file", dir);
    assert_int_equal(read_keys(path, &k, &res), -1);
    assert_int_equal(res.error, ENOENT);
    assert_int_equal(res.line, 0);
    /* readable by others: read all the same, and said */
    assert_int_equal(read_keys(write_file("nwkskey = " NWK_HEX "\n", 0644), &k, &res), 0);
    assert_true(res.readable_by_others);
    assert_true(k.has_nwk);
    assert_int_equal(read_keys(write_file("nwkskey = " NWK_HEX "\n", 0640), &k, &res), 0);
    assert_true(res.readable_by_others);
    assert_int_equal(read_keys(write_file("nwkskey = " NWK_HEX "\n", 0400), &k, &res), 0);
    assert_false(res.readable_by_others);
}

static void test_standard_input(void **state)
{
    (void)state;
    const char *path = write_file("nwkskey = " NWK_HEX "\nbad line\n", 0644);
    assert_non_null(freopen(path, "r", stdin));
    struct keys k;
    struct keyfile_result res;
    assert_int_equal(read_keys(NULL, &k, &res), -1);
    assert_int_equal(res.line, 2);
    assert_false(res.readable_by_others); /* a pipe has no mode to judge */
    assert_true(k.has_nwk);
    assert_memory_equal(k.nwk, NWK, 16);
}

static void test_hex_decode_exact(void **state)
{
    (void)state;
    uint8_t out[4] = {1, 2, 3, 4};
    assert_true(hex_decode_exact("DeadBEef", out, 4));
    const uint8_t want[4] = {0xde, 0xad, 0xbe, 0xef};
    assert_memory_equal(out, want, 4);
    static const char *const wrong[] = {"deadbee",   "deadbeef0", "deadbeeg", " deadbee",
                                        "dead beef", "",          "0xdeadbe"};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        uint8_t b[4] = {9, 9, 9, 9};
        assert_false(hex_decode_exact(wrong[i], b, 4));
        assert_int_equal(b[0] + b[1] + b[2] + b[3], 36); /* unchanged */
    }
    assert_true(hex_decode_exact("", out, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_every_field),
        cmocka_unit_test(test_missing_fields_are_not_seen),
        cmocka_unit_test(test_bad_lines_by_number),
        cmocka_unit_test(test_bad_value_writes_nothing),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_missing_file_and_mode),
        cmocka_unit_test(test_standard_input),
        cmocka_unit_test(test_hex_decode_exact),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
