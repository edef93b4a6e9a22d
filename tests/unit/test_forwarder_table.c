/*
 * test_forwarder_table.c - the Semtech UDP adapter's bounded state, without sockets: the
 * forwarder table (ingest/forwarder_table.c: ageing, eviction of the stalest unpinned entry,
 * pinning and what a PULL_DATA from another host may change, the reason given for a
 * missing downlink path), the per-source token buckets (ingest/source_limit.c) and the
 * "EUI@host" list of semtech_udp.forwarders (util/eui_host.c). Times are passed in, so
 * nothing here depends on the clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "ingest/forwarder_table.h"
#include "ingest/source_limit.h"
#include "util/eui_host.h"

static struct forwarder_table t;

static struct sockaddr_in addr(const char *host, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    return a;
}

static int heard(const char *eui, const char *host, int64_t now_ms)
{
    bool evicted;
    return forwarder_table_heard(&t, eui, host, now_ms, &evicted);
}

static bool pull(int slot, const char *host, int64_t now_ms)
{
    struct sockaddr_in a = addr(host, 40000);
    bool ok = forwarder_table_pull(&t, slot, host, (struct sockaddr *)&a, sizeof(a), now_ms);
    if (ok)
        snprintf(t.slots[slot].info.downlink, sizeof(t.slots[slot].info.downlink), "%s:40000",
                 host);
    return ok;
}

static void test_fill_evicts_stalest_unpinned(void **state)
{
    (void)state;
    forwarder_table_init(&t, 120000, true, NULL, 0);
    int real = heard("aa555a0000000001", "10.0.0.1", 0);
    assert_true(pull(real, "10.0.0.1", 0));
    assert_int_equal(forwarder_table_authenticated(&t, real, "10.0.0.1", 0), FORWARDER_AUTH_NEW);
    char eui[17];
    for (int i = 0; i < 100; i++) { /* made-up ids, more than the table holds */
        snprintf(eui, sizeof(eui), "feed%012x", i);
        assert_true(heard(eui, "10.0.0.66", 1000 + i) >= 0);
    }
    /* the pinned real one stays; the oldest made-up ones were pushed out */
    int slot;
    assert_int_equal(forwarder_table_path(&t, "aa555a0000000001", 2000, &slot), FORWARDER_PATH_OK);
    assert_int_equal(forwarder_table_path(&t, "feed000000000000", 2000, &slot),
                     FORWARDER_PATH_EVICTED);
    assert_true(forwarder_table_find(&t, "feed000000000063") >= 0);
    assert_int_equal(t.evicted, 100 - (SEMTECH_UDP_MAX_FORWARDERS - 1));
    /* a newcomer still gets a slot and, after its PULL_DATA, a path */
    int newcomer = heard("aa555a0000000002", "10.0.0.2", 3000);
    assert_true(newcomer >= 0);
    assert_int_equal(forwarder_table_path(&t, "aa555a0000000002", 3000, &slot),
                     FORWARDER_PATH_NEVER_PULLED);
    assert_true(pull(newcomer, "10.0.0.2", 3000));
    assert_int_equal(forwarder_table_path(&t, "aa555a0000000002", 3001, &slot), FORWARDER_PATH_OK);
    assert_int_equal(slot, newcomer);
}

static void test_full_of_pinned_refuses(void **state)
{
    (void)state;
    forwarder_table_init(&t, 120000, true, NULL, 0);
    char eui[17];
    for (int i = 0; i < SEMTECH_UDP_MAX_FORWARDERS; i++) {
        snprintf(eui, sizeof(eui), "aa55%012x", i);
        int s = heard(eui, "10.0.0.1", i);
        forwarder_table_authenticated(&t, s, "10.0.0.1", i);
    }
    assert_int_equal(heard("feed000000000001", "10.0.0.66", 100), -1);
    assert_int_equal(t.refused_full, 1);
    int slot;
    assert_int_equal(forwarder_table_path(&t, "feed000000000001", 100, &slot),
                     FORWARDER_PATH_UNKNOWN);
}

static void test_ageing(void **state)
{
    (void)state;
    struct eui_host pin = {.eui = "aa555a00000000cc", .host = "10.0.0.9"};
    forwarder_table_init(&t, 1000, true, &pin, 1);
    int a = heard("aa555a0000000001", "10.0.0.1", 0);
    assert_true(pull(a, "10.0.0.1", 0));
    int slot;
    /* PULLs stopped: the path is stale before the entry goes */
    heard("aa555a0000000001", "10.0.0.1", 900); /* a PUSH_DATA */
    assert_int_equal(forwarder_table_path(&t, "aa555a0000000001", 1500, &slot),
                     FORWARDER_PATH_PULL_STALE);
    assert_int_equal(forwarder_table_expire_one(&t, 1500), -1);
    assert_int_equal(forwarder_table_expire_one(&t, 1900), a);
    assert_int_equal(forwarder_table_expire_one(&t, 1900), -1); /* the configured one stays */
    assert_int_equal(forwarder_table_path(&t, "aa555a0000000001", 1900, &slot),
                     FORWARDER_PATH_AGED_OUT);
    assert_true(forwarder_table_find(&t, "aa555a00000000cc") >= 0);
    assert_int_equal(t.aged_out, 1);
}

static void test_pinning(void **state)
{
    (void)state;
    forwarder_table_init(&t, 1000, true, NULL, 0);
    int a = heard("aa555a0000000001", "10.0.0.1", 0);
    /* a PULL before any verified frame is taken; the pin then drops a foreign path */
    assert_true(pull(a, "10.0.0.66", 0));
    assert_int_equal(forwarder_table_authenticated(&t, a, "10.0.0.1", 10), FORWARDER_AUTH_NEW);
    int slot;
    assert_int_equal(forwarder_table_path(&t, "aa555a0000000001", 20, &slot),
                     FORWARDER_PATH_NEVER_PULLED);
    assert_true(pull(a, "10.0.0.1", 30));
    /* another host: refused, counted; its traffic does not keep the entry alive */
    assert_false(pull(a, "10.0.0.66", 40));
    assert_int_equal(t.slots[a].info.pull_refused, 1);
    assert_string_equal(t.slots[a].info.downlink, "10.0.0.1:40000");
    heard("aa555a0000000001", "10.0.0.66", 900);
    assert_int_equal(forwarder_table_authenticated(&t, a, "10.0.0.66", 950), FORWARDER_AUTH_KEPT);
    assert_int_equal(forwarder_table_expire_one(&t, 1010), a); /* heard last at 10 */

    /* pin_forwarders = false: verified traffic from a new host moves the pin */
    forwarder_table_init(&t, 1000, false, NULL, 0);
    a = heard("aa555a0000000001", "10.0.0.1", 0);
    forwarder_table_authenticated(&t, a, "10.0.0.1", 0);
    assert_true(pull(a, "10.0.0.1", 0));
    assert_false(pull(a, "10.0.0.2", 5)); /* a PULL alone moves nothing */
    assert_int_equal(forwarder_table_authenticated(&t, a, "10.0.0.2", 10), FORWARDER_AUTH_MOVED);
    assert_int_equal(t.pin_changes, 1);
    assert_int_equal(forwarder_table_path(&t, "aa555a0000000001", 20, &slot),
                     FORWARDER_PATH_NEVER_PULLED);
    assert_true(pull(a, "10.0.0.2", 30));

    /* a configured pin never moves */
    struct eui_host pin = {.eui = "aa555a0000000001", .host = "10.0.0.1"};
    forwarder_table_init(&t, 1000, false, &pin, 1);
    a = forwarder_table_find(&t, "aa555a0000000001");
    assert_false(pull(a, "10.0.0.2", 0));
    assert_int_equal(forwarder_table_authenticated(&t, a, "10.0.0.2", 0), FORWARDER_AUTH_KEPT);
    assert_true(pull(a, "10.0.0.1", 0));
}

static void test_source_limit(void **state)
{
    (void)state;
    static struct source_limit sl;
    source_limit_init(&sl, 10, 5); /* 10/s, bursts of 5 */
    int a = source_limit_find(&sl, "10.0.0.1", 0);
    int b = source_limit_find(&sl, "10.0.0.2", 0);
    for (int i = 0; i < 5; i++)
        assert_true(source_limit_take(&sl, a, 0));
    assert_false(source_limit_take(&sl, a, 0));
    assert_true(source_limit_take(&sl, b, 0)); /* the other source is not touched */
    assert_false(source_limit_take(&sl, a, 99));
    assert_true(source_limit_take(&sl, a, 100)); /* 100 ms: one token */
    assert_false(source_limit_take(&sl, a, 100));
    for (int i = 0; i < 5; i++) /* refilled to the burst, never beyond */
        assert_true(source_limit_take(&sl, a, 60000));
    assert_false(source_limit_take(&sl, a, 60000));
    source_limit_count(&sl, a, 3);
    source_limit_count(&sl, a, SOURCE_LIMIT_REASONS); /* out of range: ignored */
    assert_int_equal(sl.entries[a].refused[3], 1);
    assert_int_equal(source_limit_find(&sl, "10.0.0.1", 1), a);
    /* bounded: more sources than entries push out the least recently heard */
    char host[32];
    for (int i = 0; i < SOURCE_LIMIT_MAX; i++) {
        snprintf(host, sizeof(host), "10.1.%d.%d", i / 256, i % 256);
        source_limit_find(&sl, host, 100 + i);
    }
    assert_true(sl.evicted >= 2);
    /* rate 0: no limit */
    source_limit_init(&sl, 0, 1);
    a = source_limit_find(&sl, "10.0.0.1", 0);
    for (int i = 0; i < 1000; i++)
        assert_true(source_limit_take(&sl, a, 0));
}

static void test_eui_host_list(void **state)
{
    (void)state;
    struct eui_host e[4];
    char why[256];
    assert_int_equal(eui_host_parse_list("", e, 4, why, sizeof(why)), 0);
    assert_int_equal(
        eui_host_parse_list(" AA555A0000000001@192.168.1.20 , "
                            "aa555a0000000002@::ffff:10.0.0.1,aa555a0000000003@fe80::1",
                            e, 4, why, sizeof(why)),
        3);
    assert_string_equal(e[0].eui, "aa555a0000000001");
    assert_string_equal(e[0].host, "192.168.1.20");
    assert_string_equal(e[1].host, "10.0.0.1"); /* IPv4-mapped: as the datagram shows it */
    assert_string_equal(e[2].host, "fe80::1");
    static const char *const bad[] = {
        "aa555a0000000001",           "aa555a000000001@10.0.0.1",
        "aa555a0000000001@gw.local",  "aa555a0000000001@10.0.0.1:1700",
        "aa555a000000000g@10.0.0.1",  "aa555a0000000001@10.0.0.1,aa555a0000000001@10.0.0.2",
        "aa555a0000000001@10.0.0.1,",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        if (eui_host_parse_list(bad[i], e, 4, why, sizeof(why)) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_true(why[0] != '\0');
    }
    assert_int_equal(eui_host_parse_list("aa555a0000000001@10.0.0.1,aa555a0000000002@10.0.0.1", e,
                                         1, why, sizeof(why)),
                     -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fill_evicts_stalest_unpinned),
        cmocka_unit_test(test_full_of_pinned_refuses),
        cmocka_unit_test(test_ageing),
        cmocka_unit_test(test_pinning),
        cmocka_unit_test(test_source_limit),
        cmocka_unit_test(test_eui_host_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
