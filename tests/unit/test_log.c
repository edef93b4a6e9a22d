/*
 * test_log.c - util/log.c: one line per call with its level; repeats of one call site held
 * back past LOG_REPEAT_BURST per window and always told afterwards with their count and the
 * last line; other sites and debug lines unaffected. stderr is redirected to a temporary
 * file and read back; the limiter reads a clock the test moves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/log.h"

static long long fake_now_ms;
static long long fake_clock(void)
{
    return fake_now_ms;
}

static char captured_path[] = "/tmp/sensorbro-test-log.XXXXXX";
static int saved_stderr = -1;

static int setup(void **state)
{
    (void)state;
    unsetenv("JOURNAL_STREAM");
    fake_now_ms += 10 * LOG_REPEAT_WINDOW_MS; /* every site of an earlier test is idle */
    log_set_repeat_clock(fake_clock);
    log_set_level(LOG_LEVEL_DEBUG);
    log_flush_repeats(true);
    strcpy(captured_path, "/tmp/sensorbro-test-log.XXXXXX");
    int fd = mkstemp(captured_path);
    assert_true(fd >= 0);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    unlink(captured_path);
    log_set_repeat_clock(NULL);
    return 0;
}

/* The lines written so far, in text[] (NUL-terminated); returns how many. */
static int read_lines(char *text, size_t size)
{
    FILE *f = fopen(captured_path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, size - 1, f);
    assert_true(feof(f));
    fclose(f);
    text[n] = '\0';
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    return lines;
}

static int count_of(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void refuse(int i)
{
    log_warn("refused frame %d from 10.0.0.9", i);
}

static void test_one_line_per_call_with_level(void **state)
{
    (void)state;
    static char text[8192];
    log_error("journal: %s", "disk full");
    log_info("started");
    assert_int_equal(read_lines(text, sizeof(text)), 2);
    assert_non_null(strstr(text, "error journal: disk full\n"));
    assert_non_null(strstr(text, "info  started\n"));
}

static void test_repeats_held_back_and_counted(void **state)
{
    (void)state;
    static char text[65536];
    for (int i = 0; i < 100; i++)
        refuse(i);
    log_info("another site still prints");
    assert_int_equal(read_lines(text, sizeof(text)), LOG_REPEAT_BURST + 1);
    assert_int_equal(count_of(text, "refused frame"), LOG_REPEAT_BURST);

    /* Nothing is told before the window is over... */
    fake_now_ms += LOG_REPEAT_WINDOW_MS - 1;
    log_flush_repeats(false);
    assert_int_equal(read_lines(text, sizeof(text)), LOG_REPEAT_BURST + 1);
    /* ...and then one line with the count and the last line held back. */
    fake_now_ms += 1;
    log_flush_repeats(false);
    assert_int_equal(read_lines(text, sizeof(text)), LOG_REPEAT_BURST + 2);
    char expected[128];
    snprintf(expected, sizeof(expected),
             "warn  ... repeated %d more times in the last %d s: refused frame 99 from 10.0.0.9",
             100 - LOG_REPEAT_BURST, LOG_REPEAT_WINDOW_MS / 1000);
    assert_non_null(strstr(text, expected));

    /* A new window prints again. */
    refuse(100);
    assert_int_equal(read_lines(text, sizeof(text)), LOG_REPEAT_BURST + 3);
    assert_non_null(strstr(text, "refused frame 100 from"));
}

static void test_next_line_of_the_site_tells_the_count(void **state)
{
    (void)state;
    static char text[65536];
    for (int i = 0; i < LOG_REPEAT_BURST + 3; i++)
        refuse(i);
    fake_now_ms += LOG_REPEAT_WINDOW_MS;
    refuse(1000);
    int lines = read_lines(text, sizeof(text));
    assert_int_equal(lines, LOG_REPEAT_BURST + 2);
    const char *summary = strstr(text, "... repeated 3 more times");
    const char *next = strstr(text, "refused frame 1000");
    assert_non_null(summary);
    assert_non_null(next);
    assert_true(summary < next); /* the count comes before the line that ended the window */
}

static void test_stop_tells_every_count(void **state)
{
    (void)state;
    static char text[65536];
    for (int i = 0; i < LOG_REPEAT_BURST + 1; i++)
        refuse(i);
    log_flush_repeats(true);
    read_lines(text, sizeof(text));
    assert_non_null(strstr(text, "... repeated 1 more time in the last"));
    log_flush_repeats(true); /* told once */
    assert_int_equal(count_of(text, "repeated"), 1);
}

static void test_debug_lines_are_never_limited(void **state)
{
    (void)state;
    static char text[65536];
    for (int i = 0; i < 50; i++)
        log_debug("frame %d", i);
    assert_int_equal(read_lines(text, sizeof(text)), 50);
}

static void test_level_filters(void **state)
{
    (void)state;
    static char text[4096];
    log_set_level(LOG_LEVEL_WARN);
    log_info("not shown");
    log_debug("not shown either");
    log_warn("shown");
    assert_int_equal(read_lines(text, sizeof(text)), 1);
    enum log_level level;
    assert_int_equal(log_level_parse("debug", &level), 0);
    assert_int_equal(level, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("verbose", &level), -1);
}

/* Logs through fmt as a call site of its own (the limiter keys on the format pointer). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void log_from_site(const char *fmt, int i)
{
    log_msg(LOG_LEVEL_WARN, fmt, i);
}
#pragma GCC diagnostic pop

static void test_many_sites_all_print(void **state)
{
    (void)state;
    static char text[65536];
    /* More distinct sites than the table holds: those beyond it are simply not limited. */
    static const char *const formats[] = {
#define F(n) "site " #n " %d"
        F(0),  F(1),  F(2),  F(3),  F(4),  F(5),  F(6),  F(7),  F(8),  F(9),  F(10), F(11),
        F(12), F(13), F(14), F(15), F(16), F(17), F(18), F(19), F(20), F(21), F(22), F(23),
        F(24), F(25), F(26), F(27), F(28), F(29), F(30), F(31), F(32), F(33), F(34), F(35),
        F(36), F(37), F(38), F(39), F(40), F(41), F(42), F(43), F(44), F(45), F(46), F(47),
        F(48), F(49), F(50), F(51), F(52), F(53), F(54), F(55), F(56), F(57), F(58), F(59),
        F(60), F(61), F(62), F(63), F(64), F(65), F(66), F(67), F(68), F(69),
#undef F
    };
    size_t n = sizeof(formats) / sizeof(formats[0]);
    for (size_t i = 0; i < n; i++)
        log_from_site(formats[i], (int)i);
    assert_int_equal(read_lines(text, sizeof(text)), (int)n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_line_per_call_with_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeats_held_back_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_line_of_the_site_tells_the_count, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_stop_tells_every_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_debug_lines_are_never_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_sites_all_print, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
