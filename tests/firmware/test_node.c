/*
 * test_node.c - node.c as a whole, on the fake board with a scripted modem: boot, join and
 * uplinks with their header fields; status flags after a reboot and after corrupt NVM; the
 * sequence number across reboots; downlinks applied atomically, persisted and echoed, and
 * every out-of-range downlink refused with the old configuration kept (in RAM and in NVM);
 * duty-cycle waits, failed sends, and threshold alerts.
 *
 * Downlinks are written here byte by byte from the protobuf encoding rules, not by nanopb.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_board.h"
#include "downlink.h"
#include "hex.h"
#include "node.h"
#include "wire.h"

static const struct sensor_desc climate[] = {
    {QUANTITY_TEMPERATURE, 0, SENSOR_EVERY_SAMPLE},
    {QUANTITY_RELATIVE_HUMIDITY, 0, SENSOR_EVERY_SAMPLE},
    {QUANTITY_CO2, 0, SENSOR_EVERY_SAMPLE},
    {QUANTITY_BATTERY, 0, SENSOR_ONCE_PER_UPLINK},
};

static struct node node;

/* --- the scripted modem ------------------------------------------------------------- */

#define MAX_UPLINKS 64
static struct {
    uint8_t dr;
    uint8_t payload[MAX_UPLINKS][UPLINK_MAX_PAYLOAD_BYTES];
    size_t len[MAX_UPLINKS];
    bool confirmed[MAX_UPLINKS];
    unsigned uplinks;
    const char *send_replies[8]; /* replies to the next sends, in order; then "OK" */
    unsigned send_reply_count;
    char downlink_line[1024]; /* delivered before the OK of the next send */
    bool silent;              /* answer nothing at all */
    unsigned join_fails;      /* answer this many AT+JOIN with OK and +JOIN:FAIL at once */
    bool join_deferred;       /* answer AT+JOIN with OK only; the test sends +JOIN later */
    uint32_t join_at_ms[8];   /* when each AT+JOIN came */
    unsigned joins;
} modem;

static void responder(const char *line)
{
    if (modem.silent)
        return;
    if (strcmp(line, "AT") == 0) {
        fake_modem_reply("OK\r\n");
    } else if (strcmp(line, "AT+DR?") == 0) {
        char text[32];
        snprintf(text, sizeof(text), "+DR:%u\r\nOK\r\n", modem.dr);
        fake_modem_reply(text);
    } else if (strcmp(line, "AT+JOIN") == 0) {
        if (modem.joins < 8)
            modem.join_at_ms[modem.joins] = board_time_ms();
        modem.joins++;
        if (modem.join_deferred) {
            fake_modem_reply("OK\r\n");
        } else if (modem.join_fails > 0) {
            modem.join_fails--;
            fake_modem_reply("OK\r\n+JOIN:FAIL\r\n");
        } else {
            fake_modem_reply("OK\r\n+JOIN:OK\r\n");
        }
    } else if (strncmp(line, "AT+SEND=1:", 10) == 0 || strncmp(line, "AT+CSEND=1:", 11) == 0) {
        if (modem.send_reply_count > 0) {
            const char *r = modem.send_replies[0];
            memmove(&modem.send_replies[0], &modem.send_replies[1],
                    --modem.send_reply_count * sizeof(modem.send_replies[0]));
            fake_modem_reply(r);
            return;
        }
        bool confirmed = line[3] == 'C';
        const char *hex = strchr(line, ':') + 1;
        assert_true(modem.uplinks < MAX_UPLINKS);
        size_t len;
        assert_true(hex_decode(hex, strlen(hex), modem.payload[modem.uplinks],
                               UPLINK_MAX_PAYLOAD_BYTES, &len));
        modem.len[modem.uplinks] = len;
        modem.confirmed[modem.uplinks] = confirmed;
        modem.uplinks++;
        if (modem.downlink_line[0] != '\0') {
            fake_modem_reply(modem.downlink_line);
            modem.downlink_line[0] = '\0';
        }
        fake_modem_reply(confirmed ? "+ACK\r\nOK\r\n" : "OK\r\n");
    } else {
        fake_modem_reply("ERROR:1\r\n");
    }
}

static struct wire_uplink uplink(unsigned i)
{
    struct wire_uplink u;
    assert_true(i < modem.uplinks);
    assert_true(wire_parse_uplink(modem.payload[i], modem.len[i], &u));
    return u;
}

/* Runs the node until board time end_ms, sleeping as a port would. */
static void run_until(uint32_t end_ms)
{
    for (int guard = 0; guard < 1000000; guard++) {
        uint32_t wake = node_poll(&node);
        if ((int32_t)(board_time_ms() - end_ms) >= 0)
            return;
        if ((int32_t)(wake - end_ms) > 0)
            wake = end_ms;
        board_sleep_until(wake);
    }
    fail_msg("node did not settle");
}

static void set_readings(int32_t t, int32_t h, int32_t co2, int32_t battery)
{
    fake_sensor_value(0, t, true);
    fake_sensor_value(1, h, true);
    fake_sensor_value(2, co2, true);
    fake_sensor_value(3, battery, true);
}

static void boot(void)
{
    fake_time_set_ms(0);
    fake_sensors_set(climate, 4);
    set_readings(2100, 450, 800, 3600);
    assert_true(node_init(&node));
}

static int setup(void **state)
{
    (void)state;
    fake_board_reset();
    memset(&modem, 0, sizeof(modem));
    modem.dr = 0;
    fake_modem_set_responder(responder);
    boot();
    return 0;
}

/* --- downlinks, encoded by hand ------------------------------------------------------ */

struct pb {
    uint8_t b[256];
    size_t n;
};

static void pb_varint(struct pb *p, uint64_t v)
{
    while (v >= 0x80) {
        p->b[p->n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p->b[p->n++] = (uint8_t)v;
}

static void pb_field(struct pb *p, unsigned field, uint64_t v)
{
    pb_varint(p, field << 3);
    pb_varint(p, v);
}

static uint64_t zigzag(int32_t v)
{
    return ((uint64_t)(uint32_t)v << 1) ^ (uint64_t)(int64_t)(v >> 31);
}

/* A Threshold: field, then above and/or below when not INT32_MIN. */
static void pb_threshold(struct pb *p, unsigned field, int32_t above, int32_t below)
{
    struct pb t = {.n = 0};
    pb_field(&t, 1, field);
    if (above != INT32_MIN)
        pb_field(&t, 2, zigzag(above));
    if (below != INT32_MIN)
        pb_field(&t, 3, zigzag(below));
    pb_varint(p, 5 << 3 | 2);
    pb_varint(p, t.n);
    memcpy(&p->b[p->n], t.b, t.n);
    p->n += t.n;
}

/* Queues the downlink to arrive in the receive window of the next send. */
static void downlink_next_send(const struct pb *p, unsigned port)
{
    int n = snprintf(modem.downlink_line, sizeof(modem.downlink_line), "+RECV=%u,-60,9:", port);
    n += (int)hex_encode(p->b, p->n, modem.downlink_line + n, sizeof(modem.downlink_line) - n);
    snprintf(modem.downlink_line + n, sizeof(modem.downlink_line) - (size_t)n, "\r\n");
}

/* --- tests --------------------------------------------------------------------------- */

static void test_boot_join_and_first_uplinks(void **state)
{
    (void)state;
    run_until(12 * 300 * 1000u);
    assert_true(node.joined);
    assert_int_equal(node.link, LINK_READY);
    assert_true(modem.uplinks >= 1);
    struct wire_uplink u = uplink(0);
    assert_int_equal(u.seq, 0);
    assert_int_equal(u.interval_s, 300);
    assert_int_equal(u.status, UPLINK_STATUS_REBOOTED | UPLINK_STATUS_CLOCK_UNSYNCED);
    const struct wire_series *t = wire_find(&u, QUANTITY_TEMPERATURE, 0);
    assert_non_null(t);
    for (size_t i = 0; i < t->count; i++)
        assert_int_equal(t->values[i], 2100);
    assert_int_equal(wire_find(&u, QUANTITY_BATTERY, 0)->count, 1);
    assert_true(modem.len[0] <= 51);
    run_until(40 * 300 * 1000u);
    assert_true(modem.uplinks >= 2);
    u = uplink(1);
    assert_int_equal(u.seq, 1);
    assert_int_equal(u.status, UPLINK_STATUS_CLOCK_UNSYNCED); /* told once */
    assert_int_equal(node.counters.uplinks_dropped, 0);
}

static void test_seq_never_goes_back_across_reboots(void **state)
{
    (void)state;
    uint32_t last = 0;
    for (int reboot = 0; reboot < 5; reboot++) {
        unsigned before = modem.uplinks;
        run_until(board_time_ms() + 3u * 16 * 300 * 1000u);
        assert_true(modem.uplinks > before);
        for (unsigned i = before; i < modem.uplinks; i++) {
            struct wire_uplink u = uplink(i);
            if (i > 0)
                assert_true(u.seq > last);
            last = u.seq;
        }
        boot(); /* power cycle: RAM lost, NVM kept */
        assert_true(node.seq_next > last);
        assert_true(node.seq_next - last <= NVM_SEQ_BLOCK);
    }
}

static void test_corrupt_nvm_sets_flag(void **state)
{
    (void)state;
    run_until(1000);
    /* Scribble over the whole NVM area, then reboot. */
    for (size_t i = 0; i < FAKE_NVM_PAGE_SIZE * FAKE_NVM_PAGE_COUNT; i++)
        fake_nvm_bytes()[i] = (uint8_t)(0x5A ^ i);
    boot();
    assert_true(strstr(fake_log(), "nvm=corrupt") != NULL);
    run_until(30 * 300 * 1000u);
    struct wire_uplink u = uplink(0);
    assert_int_equal(u.status, UPLINK_STATUS_REBOOTED | UPLINK_STATUS_NVM_RESET |
                                   UPLINK_STATUS_CLOCK_UNSYNCED);
    assert_int_equal(u.interval_s, CONFIG_DEFAULT_SAMPLE_INTERVAL_S);
    u = uplink(1);
    assert_int_equal(u.status, UPLINK_STATUS_CLOCK_UNSYNCED);
}

static void test_downlink_applied_persisted_and_echoed(void **state)
{
    (void)state;
    struct pb p = {.n = 0};
    pb_field(&p, 1, 7);          /* config_version */
    pb_field(&p, 2, 60);         /* sample_interval_s */
    pb_field(&p, 3, 4);          /* samples_per_uplink */
    pb_field(&p, 4, 1800000000); /* time */
    pb_threshold(&p, QUANTITY_CO2, 1200, INT32_MIN);
    downlink_next_send(&p, NODE_LORAWAN_PORT);
    while (node.counters.downlinks_applied == 0 && board_time_ms() < 20 * 300 * 1000u)
        run_until(board_time_ms() + 1000);
    assert_int_equal(node.counters.downlinks_applied, 1);
    assert_int_equal(node.config.config_version, 7);
    assert_int_equal(node.config.sample_interval_s, 60);
    assert_int_equal(node.config.samples_per_uplink, 4);
    assert_int_equal(node.config.threshold_count, 1);
    assert_true(node.clock_synced);
    unsigned first = modem.uplinks;
    run_until(board_time_ms() + 6 * 4 * 60 * 1000u);
    assert_true(modem.uplinks >= first + CONFIG_ECHO_UPLINKS + 1);
    for (unsigned i = first; i < first + CONFIG_ECHO_UPLINKS; i++) {
        struct wire_uplink u = uplink(i);
        assert_int_equal(u.config_version, 7);
        assert_int_equal(u.interval_s, 60);
        assert_true(u.time_s >= 1800000000u);
        assert_int_equal(u.status & UPLINK_STATUS_CLOCK_UNSYNCED, 0);
    }
    assert_int_equal(uplink(first + CONFIG_ECHO_UPLINKS).config_version, 0);
    /* Every series of the new batches has samples_per_uplink samples. */
    struct wire_uplink u = uplink(first + 1);
    assert_int_equal(wire_find(&u, QUANTITY_TEMPERATURE, 0)->count, 4);

    boot(); /* the configuration survives a reboot; the clock does not */
    assert_int_equal(node.config.config_version, 7);
    assert_int_equal(node.config.sample_interval_s, 60);
    assert_int_equal(node.config.threshold_count, 1);
    assert_false(node.clock_synced);
    assert_int_equal(node.config_echo_left, CONFIG_ECHO_UPLINKS);
}

/* Two configurations are the same when they store the same. */
static bool same_config(const struct node_config *a, const struct node_config *b)
{
    uint8_t ea[DOWNLINK_MAX_BYTES], eb[DOWNLINK_MAX_BYTES];
    size_t la = downlink_encode_config(a, ea, sizeof(ea));
    size_t lb = downlink_encode_config(b, eb, sizeof(eb));
    return la > 0 && la == lb && memcmp(ea, eb, la) == 0;
}

/* Each of these is refused whole, and nothing changes: RAM, NVM, echo. */
static void test_out_of_range_downlinks_refused(void **state)
{
    (void)state;
    while (modem.uplinks == 0)
        run_until(board_time_ms() + 300 * 1000u); /* the seq block is reserved by then */
    struct node_config before = node.config;
    uint8_t nvm_before[FAKE_NVM_PAGE_SIZE * FAKE_NVM_PAGE_COUNT];
    memcpy(nvm_before, fake_nvm_bytes(), sizeof(nvm_before));

    struct pb cases[16];
    size_t count = 0;
#define CASE(...)                                                                                  \
    do {                                                                                           \
        struct pb *p = &cases[count++];                                                            \
        p->n = 0;                                                                                  \
        pb_field(p, 1, 9);                                                                         \
        __VA_ARGS__;                                                                               \
    } while (0)
    CASE(pb_field(p, 2, 0));             /* interval 0, sent explicitly */
    CASE(pb_field(p, 2, 365u * 86400u)); /* a year */
    CASE(pb_field(p, 2, CONFIG_SAMPLE_INTERVAL_MIN_S - 1));
    CASE(pb_field(p, 2, CONFIG_SAMPLE_INTERVAL_MAX_S + 1));
    CASE(pb_field(p, 3, 0)); /* samples_per_uplink 0 */
    CASE(pb_field(p, 3, STORE_MAX_SAMPLES + 1));
    CASE(pb_field(p, 2, 86400); pb_field(p, 3, 8)); /* 8 days per batch */
    CASE(pb_field(p, 4, 1000));                     /* a clock sync in 1970 */
    CASE(pb_threshold(p, 3, 1, INT32_MIN));         /* field 3 is no quantity */
    CASE(pb_threshold(p, 14, 1, INT32_MIN));
    CASE(pb_threshold(p, QUANTITY_CO2, 1000, INT32_MIN);
         pb_threshold(p, QUANTITY_CO2, 2000, INT32_MIN));    /* named twice */
    CASE(pb_threshold(p, QUANTITY_TEMPERATURE, 1500, 2500)); /* above < below */
    CASE(for (int i = 0; i < CONFIG_MAX_THRESHOLDS + 1; i++)
             pb_threshold(p, (unsigned)(4 + i % 10), 1, INT32_MIN)); /* too many */
    CASE(pb_field(p, 2, 60); p->b[p->n++] = 0xFF);                   /* truncated varint */
    CASE(p->b[p->n++] = 0x2A; p->b[p->n++] = 0x10); /* submessage longer than the frame */
#undef CASE
    for (size_t i = 0; i < count; i++) {
        downlink_next_send(&cases[i], NODE_LORAWAN_PORT);
        unsigned sent = modem.uplinks;
        /* Force a send so the downlink arrives: an alert-free tick or two. */
        while (modem.uplinks == sent)
            run_until(board_time_ms() + 300 * 1000u);
        run_until(board_time_ms() + 10000); /* the modem's answer is read */
        assert_int_equal(node.counters.downlinks_refused, i + 1);
        assert_true(same_config(&node.config, &before));
        assert_memory_equal(fake_nvm_bytes(), nvm_before, sizeof(nvm_before));
        assert_int_equal(node.config_echo_left, 0);
    }
    assert_int_equal(node.counters.downlinks_applied, 0);
    assert_true(strstr(fake_log(), "downlink refused: sample_interval_s out of range") != NULL);
    /* A downlink on another port is not ours to read. */
    struct pb ok = {.n = 0};
    pb_field(&ok, 1, 9);
    downlink_next_send(&ok, 2);
    unsigned sent = modem.uplinks;
    while (modem.uplinks == sent)
        run_until(board_time_ms() + 300 * 1000u);
    run_until(board_time_ms() + 10000);
    assert_int_equal(node.config.config_version, before.config_version);
    assert_true(strstr(fake_log(), "downlink ignored port=2") != NULL);
}

static void test_duty_cycle_wait_then_send(void **state)
{
    (void)state;
    modem.send_replies[modem.send_reply_count++] = "+DUTY:250000\r\nERROR:6\r\n";
    run_until(10 * 300 * 1000u + 1000);
    assert_int_equal(modem.uplinks, 0);
    assert_true(node.slot_full);
    uint32_t retry = node.send_not_before_ms;
    run_until(retry - 1);
    assert_int_equal(modem.uplinks, 0);
    run_until(retry + 10000);
    assert_int_equal(modem.uplinks, 1);
    struct wire_uplink u = uplink(0);
    assert_int_equal(u.seq, 0);
    assert_true(u.age_s >= 250); /* the wait shows in the age, not as a wrong time base */
    assert_true(modem.len[0] <= 51);
}

static void test_failed_sends_drop_then_recover(void **state)
{
    (void)state;
    modem.send_replies[modem.send_reply_count++] = "ERROR:2\r\n";
    modem.send_replies[modem.send_reply_count++] = "ERROR\r\n";
    modem.send_replies[modem.send_reply_count++] = "ERROR:7\r\n";
    run_until(40 * 300 * 1000u);
    assert_int_equal(node.counters.uplinks_dropped, 1);
    assert_true(modem.uplinks >= 1);
    assert_int_equal(uplink(0).seq, 1); /* seq 0 was used by the dropped one */

    /* A modem that stops answering: the node backs off and probes, never blocks sampling. */
    modem.silent = true;
    uint32_t sets_before = node.counters.sets_dropped;
    run_until(board_time_ms() + 3600u * 1000u);
    assert_true(node.modem.timeouts > 0);
    assert_true(node.counters.sets_dropped == sets_before);
    modem.silent = false;
    unsigned before = modem.uplinks;
    run_until(board_time_ms() + 3600u * 1000u);
    assert_true(modem.uplinks > before);
}

static void test_threshold_alert_goes_at_once_confirmed(void **state)
{
    (void)state;
    struct pb p = {.n = 0};
    pb_field(&p, 1, 3);
    pb_threshold(&p, QUANTITY_CO2, 1200, INT32_MIN);
    downlink_next_send(&p, NODE_LORAWAN_PORT);
    run_until(12 * 300 * 1000u);
    assert_int_equal(node.config.threshold_count, 1);
    unsigned before = modem.uplinks;
    fake_sensor_value(2, 1500, true); /* CO2 crosses 1200 ppm */
    run_until(board_time_ms() + 300 * 1000u + 5000);
    assert_int_equal(modem.uplinks, before + 1);
    assert_true(modem.confirmed[before]);
    struct wire_uplink u = uplink(before);
    assert_true(u.alert);
    const struct wire_series *co2 = wire_find(&u, QUANTITY_CO2, 0);
    assert_int_equal(co2->values[co2->count - 1], 1500);
    /* Still above: no second alert until it went back below. */
    run_until(board_time_ms() + 2 * 300 * 1000u);
    assert_int_equal(modem.uplinks, before + 1);
}

/* +JOIN:FAIL (an OTAA join with no valid Join-Accept) is a failed join: the node backs off,
 * doubling, and joins again; whether the FAIL comes with the OK or seconds after it. */
static void test_join_fail_backs_off(void **state)
{
    (void)state;
    modem.join_fails = 2;
    run_until(30000);
    assert_int_equal(modem.joins, 3);
    assert_true(node.joined);
    assert_int_equal(node.link, LINK_READY);
    /* Backoff 2 s, then 4 s (plus the few ms the commands take), not the 30 s wait for a
     * join result that never comes. */
    uint32_t gap1 = modem.join_at_ms[1] - modem.join_at_ms[0];
    uint32_t gap2 = modem.join_at_ms[2] - modem.join_at_ms[1];
    assert_in_range(gap1, 2000, 2999);
    assert_in_range(gap2, 4000, 4999);
}

static void test_join_fail_later_backs_off(void **state)
{
    (void)state;
    modem.join_deferred = true;
    run_until(8000); /* an OTAA join takes about 6.5 s */
    assert_int_equal(modem.joins, 1);
    assert_int_equal(node.link, LINK_JOIN_WAIT);
    fake_modem_reply("+JOIN:FAIL\r\n");
    modem.join_deferred = false;
    run_until(8500);
    assert_false(node.joined);
    assert_int_equal(node.link, LINK_BACKOFF);
    assert_int_equal(modem.joins, 1);
    run_until(8000 + 3000);
    assert_int_equal(modem.joins, 2);
    assert_true(node.joined);
}

static void test_failing_sensor_flagged(void **state)
{
    (void)state;
    fake_sensor_value(1, 0, false);
    run_until(30 * 300 * 1000u);
    struct wire_uplink u = uplink(0);
    assert_true(u.status & UPLINK_STATUS_SENSOR_FAULT);
    assert_null(wire_find(&u, QUANTITY_RELATIVE_HUMIDITY, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_boot_join_and_first_uplinks, setup),
        cmocka_unit_test_setup(test_seq_never_goes_back_across_reboots, setup),
        cmocka_unit_test_setup(test_corrupt_nvm_sets_flag, setup),
        cmocka_unit_test_setup(test_downlink_applied_persisted_and_echoed, setup),
        cmocka_unit_test_setup(test_out_of_range_downlinks_refused, setup),
        cmocka_unit_test_setup(test_duty_cycle_wait_then_send, setup),
        cmocka_unit_test_setup(test_failed_sends_drop_then_recover, setup),
        cmocka_unit_test_setup(test_threshold_alert_goes_at_once_confirmed, setup),
        cmocka_unit_test_setup(test_failing_sensor_flagged, setup),
        cmocka_unit_test_setup(test_join_fail_backs_off, setup),
        cmocka_unit_test_setup(test_join_fail_later_backs_off, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
