/*
 * test_at.c - the AT layer: at_parse.c's grammar against good lines, near misses and
 * noise, and at_modem.c's state machine against scripted modem replies: OK, every ERROR,
 * information lines, unsolicited lines in the middle of a command, garbage and over-long
 * lines, replies split across reads, timeouts with and without retries, late answers, and
 * a serial line that is gone.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "at_modem.h"
#include "fake_board.h"

/* Static: a +RECV payload is decoded in place and points into the line. */
static char parse_buf[AT_LINE_MAX + 16];

static enum at_line_kind parse(const char *text, struct at_line *out)
{
    size_t len = strlen(text);
    assert_true(len < sizeof(parse_buf));
    memcpy(parse_buf, text, len);
    at_parse_line(parse_buf, len, out);
    return out->kind;
}

static void test_parse_final_results(void **state)
{
    (void)state;
    struct at_line l;
    assert_int_equal(parse("OK", &l), AT_LINE_OK);
    assert_int_equal(parse("ERROR:6", &l), AT_LINE_ERROR);
    assert_int_equal(l.u.error_code, 6);
    assert_int_equal(parse("ERROR", &l), AT_LINE_ERROR);
    assert_int_equal(l.u.error_code, 0);
    assert_int_equal(parse("ERROR:255", &l), AT_LINE_ERROR);
    const char *bad[] = {"OK ",      "OKAY",     "ok",
                         "ERROR:",   "ERROR:0",  "ERROR:256",
                         "ERROR:-1", "ERROR:1x", "ERROR:99999999999",
                         "ERROR 5",  ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum at_line_kind k = parse(bad[i], &l);
        assert_true(k == AT_LINE_GARBAGE || (bad[i][0] == '\0' && k == AT_LINE_EMPTY));
    }
}

static void test_parse_information_and_events(void **state)
{
    (void)state;
    struct at_line l;
    assert_int_equal(parse("+DR:5", &l), AT_LINE_DR);
    assert_int_equal(l.u.dr, 5);
    assert_int_equal(parse("+DR:16", &l), AT_LINE_GARBAGE);
    assert_int_equal(parse("+DR:", &l), AT_LINE_GARBAGE);
    assert_int_equal(parse("+DUTY:4294967295", &l), AT_LINE_DUTY);
    assert_int_equal(l.u.wait_ms, UINT32_MAX);
    assert_int_equal(parse("+DUTY:4294967296", &l), AT_LINE_GARBAGE);
    assert_int_equal(parse("+ACK", &l), AT_LINE_ACK);
    assert_int_equal(parse("+JOIN:OK", &l), AT_LINE_JOIN);
    assert_true(l.u.joined);
    assert_int_equal(parse("+JOIN:FAIL", &l), AT_LINE_JOIN);
    assert_false(l.u.joined);
    assert_int_equal(parse("+JOIN:OKAY", &l), AT_LINE_GARBAGE);
    assert_int_equal(parse("+VER:sensorbro-modem-sim 1.0", &l), AT_LINE_INFO);
    assert_int_equal(parse("AT+DR?", &l), AT_LINE_INFO); /* an echo */
    assert_int_equal(parse("+EVT:TX_DONE", &l), AT_LINE_INFO);
    assert_int_equal(parse("\x01\x02OK", &l), AT_LINE_GARBAGE);
}

static void test_parse_recv(void **state)
{
    (void)state;
    struct at_line l;
    assert_int_equal(parse("+RECV=1,-60,9:0807A1ff", &l), AT_LINE_RECV);
    assert_int_equal(l.u.recv.port, 1);
    assert_int_equal(l.u.recv.rssi_dbm, -60);
    assert_int_equal(l.u.recv.snr_db, 9);
    assert_int_equal(l.u.recv.len, 4);
    static const uint8_t expect[] = {0x08, 0x07, 0xA1, 0xFF};
    assert_memory_equal(l.u.recv.payload, expect, 4);
    assert_int_equal(parse("+RECV=223,-200,-40:", &l), AT_LINE_RECV); /* empty payload */
    assert_int_equal(l.u.recv.len, 0);
    const char *bad[] = {"+RECV=0,-60,9:00",  "+RECV=224,-60,9:00", "+RECV=1,-201,9:00",
                         "+RECV=1,1,9:00",    "+RECV=1,-60,41:00",  "+RECV=1,-60,9:0",
                         "+RECV=1,-60,9:0G",  "+RECV=1,-60:00",     "+RECV=1,-60,9",
                         "+RECV=1,-60,9,:00", "+RECV=,,:",          "+RECV=1,--60,9:00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], &l), AT_LINE_GARBAGE);
    /* One byte more than any valid Downlink: refused. */
    char big[AT_LINE_MAX + 16];
    int n = snprintf(big, sizeof(big), "+RECV=1,-60,9:");
    for (size_t i = 0; i < AT_RECV_MAX_BYTES + 1; i++)
        n += snprintf(big + n, sizeof(big) - (size_t)n, "00");
    assert_int_equal(parse(big, &l), AT_LINE_GARBAGE);
}

/* --- the driver --------------------------------------------------------------------- */

static struct at_modem modem;
static struct at_line urc[8];
static size_t urc_count;
static uint8_t urc_payload[8][AT_RECV_MAX_BYTES];

static void on_urc(void *ctx, const struct at_line *line)
{
    (void)ctx;
    assert_true(urc_count < 8);
    urc[urc_count] = *line;
    if (line->kind == AT_LINE_RECV) {
        memcpy(urc_payload[urc_count], line->u.recv.payload, line->u.recv.len);
        urc[urc_count].u.recv.payload = urc_payload[urc_count];
    }
    urc_count++;
}

static int setup(void **state)
{
    (void)state;
    fake_board_reset();
    at_modem_init(&modem, on_urc, NULL);
    urc_count = 0;
    return 0;
}

static void poll_at(uint32_t ms)
{
    fake_time_set_ms(ms);
    at_modem_poll(&modem, ms);
}

static void test_ok_with_information(void **state)
{
    (void)state;
    assert_true(at_modem_start(&modem, 0, AT_CMD_DR_QUERY, 1000, 1));
    assert_string_equal(fake_modem_last_line(), "AT+DR?");
    assert_false(at_modem_start(&modem, 0, AT_CMD_PROBE, 1000, 1)); /* one at a time */
    fake_modem_reply("+DR:");
    poll_at(10);
    assert_int_equal(modem.state, AT_WAITING); /* half a line is nothing yet */
    fake_modem_reply("3\r\nOK\r\n");
    poll_at(20);
    assert_int_equal(modem.state, AT_DONE);
    assert_int_equal(modem.result, AT_RESULT_OK);
    assert_true(modem.have_dr);
    assert_int_equal(modem.dr, 3);
    at_modem_finish(&modem);
    assert_int_equal(modem.state, AT_IDLE);
}

static void test_send_writes_hex_and_collects_urcs(void **state)
{
    (void)state;
    static const uint8_t payload[] = {0x08, 0x2A, 0xFF, 0x00};
    assert_true(at_modem_send(&modem, 0, 1, true, payload, sizeof(payload), 10000, 1));
    assert_string_equal(fake_modem_last_line(), "AT+CSEND=1:082AFF00");
    fake_modem_reply("+RECV=1,-60,9:0807\r\n+ACK\r\nOK\r\n");
    poll_at(5000);
    assert_int_equal(modem.result, AT_RESULT_OK);
    assert_true(modem.acked);
    assert_int_equal(urc_count, 1);
    assert_int_equal(urc[0].kind, AT_LINE_RECV);
    assert_int_equal(urc[0].u.recv.len, 2);
    at_modem_finish(&modem);
    assert_false(at_modem_send(&modem, 0, 0, false, payload, 1, 1000, 1));   /* port 0 */
    assert_false(at_modem_send(&modem, 0, 224, false, payload, 1, 1000, 1)); /* port 224 */
    assert_true(at_modem_send(&modem, 0, 223, false, payload, 1, 1000, 1));
    assert_string_equal(fake_modem_last_line(), "AT+SEND=223:08");
}

static void test_error_codes_and_duty(void **state)
{
    (void)state;
    assert_true(at_modem_send(&modem, 0, 1, false, (const uint8_t *)"x", 1, 10000, 3));
    fake_modem_reply("+DUTY:276000\r\nERROR:6\r\n");
    poll_at(10);
    assert_int_equal(modem.result, AT_RESULT_ERROR);
    assert_int_equal(modem.error_code, AT_ERROR_DUTY_CYCLE);
    assert_int_equal(modem.duty_wait_ms, 276000);
    assert_int_equal(fake_modem_count("AT+SEND"), 1); /* an ERROR is not retried here */
    at_modem_finish(&modem);
    for (int code = 1; code <= 7; code++) {
        char text[16];
        snprintf(text, sizeof(text), "ERROR:%d\r\n", code);
        assert_true(at_modem_start(&modem, 0, AT_CMD_JOIN, 1000, 1));
        fake_modem_reply(text);
        poll_at(20);
        assert_int_equal(modem.result, AT_RESULT_ERROR);
        assert_int_equal(modem.error_code, code);
        at_modem_finish(&modem);
    }
}

static void test_garbage_is_dropped(void **state)
{
    (void)state;
    assert_true(at_modem_start(&modem, 0, AT_CMD_PROBE, 1000, 1));
    /* Noise, a line far longer than any valid one, binary, then the answer. */
    static const uint8_t noise[] = {0xFF, 0xFE, 0x00, 'g', 'a', 'r', 'b', '\r', '\n'};
    fake_modem_reply_bytes(noise, sizeof(noise));
    char flood[AT_LINE_MAX * 3];
    memset(flood, 'A', sizeof(flood) - 3);
    memcpy(&flood[sizeof(flood) - 3], "\r\n", 3);
    fake_modem_reply(flood);
    fake_modem_reply("+RECV=1,-60,9:0Z\r\nERRORR:3\r\n\r\nOK\r\n");
    poll_at(10);
    assert_int_equal(modem.result, AT_RESULT_OK);
    assert_int_equal(modem.garbage_lines, 4);
    assert_int_equal(urc_count, 0);
}

static void test_timeouts_and_retries(void **state)
{
    (void)state;
    assert_true(at_modem_start(&modem, 0, AT_CMD_PROBE, 1000, 3));
    poll_at(999);
    assert_int_equal(modem.state, AT_WAITING);
    assert_int_equal(fake_modem_count("AT\r"), 1);
    poll_at(1000); /* first timeout: sent again */
    assert_int_equal(fake_modem_count("AT\r"), 2);
    uint32_t wake;
    assert_true(at_modem_wake_ms(&modem, &wake));
    assert_int_equal(wake, 2000);
    poll_at(2000);
    poll_at(3000);
    assert_int_equal(modem.state, AT_DONE);
    assert_int_equal(modem.result, AT_RESULT_TIMEOUT);
    assert_int_equal(fake_modem_count("AT\r"), 3);
    assert_int_equal(modem.timeouts, 3);
    at_modem_finish(&modem);
    /* The late answer arrives with nothing waiting: counted, not taken. */
    fake_modem_reply("OK\r\n");
    poll_at(3100);
    assert_int_equal(modem.stray_results, 1);
    assert_int_equal(modem.state, AT_IDLE);
    assert_false(at_modem_wake_ms(&modem, &wake));
}

static void test_timeout_across_clock_wrap(void **state)
{
    (void)state;
    uint32_t start = UINT32_MAX - 300;
    assert_true(at_modem_start(&modem, start, AT_CMD_PROBE, 1000, 1));
    poll_at(start + 999); /* wrapped past zero */
    assert_int_equal(modem.state, AT_WAITING);
    poll_at(start + 1000);
    assert_int_equal(modem.result, AT_RESULT_TIMEOUT);
}

static void test_line_down(void **state)
{
    (void)state;
    fake_modem_set_down(true);
    assert_true(at_modem_start(&modem, 0, AT_CMD_PROBE, 1000, 3));
    assert_int_equal(modem.state, AT_DONE);
    assert_int_equal(modem.result, AT_RESULT_LINE_DOWN);
}

static void test_unsolicited_while_idle(void **state)
{
    (void)state;
    fake_modem_reply("+JOIN:OK\n+RECV=2,-100,-5:AB\n");
    poll_at(1);
    assert_int_equal(urc_count, 2);
    assert_int_equal(urc[0].kind, AT_LINE_JOIN);
    assert_int_equal(urc[1].u.recv.port, 2);
    assert_int_equal(urc[1].u.recv.payload[0], 0xAB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_final_results),
        cmocka_unit_test(test_parse_information_and_events),
        cmocka_unit_test(test_parse_recv),
        cmocka_unit_test_setup(test_ok_with_information, setup),
        cmocka_unit_test_setup(test_send_writes_hex_and_collects_urcs, setup),
        cmocka_unit_test_setup(test_error_codes_and_duty, setup),
        cmocka_unit_test_setup(test_garbage_is_dropped, setup),
        cmocka_unit_test_setup(test_timeouts_and_retries, setup),
        cmocka_unit_test_setup(test_timeout_across_clock_wrap, setup),
        cmocka_unit_test_setup(test_line_down, setup),
        cmocka_unit_test_setup(test_unsolicited_while_idle, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
