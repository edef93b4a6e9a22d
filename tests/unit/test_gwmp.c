/*
 * test_gwmp.c - the GWMP codec (lorawan/gwmp.c), both sides, in the manner of ChirpStack
 * Gateway Bridge's packets/..._test.go: every packet type built and parsed in both
 * directions, known bytes against known structs, every truncation of every packet, wrong
 * versions, unknown types, oversize base64, broken JSON, and each drop reason the server
 * side names (the ones ingest/semtech_udp.c counts).
 *
 * Independent checks: the JSON the builders write is read back with cJSON's own lookups,
 * and hand-written datagrams (PROTOCOL.TXT's layouts, Python-made base64) are parsed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "lorawan/gwmp.h"

static const uint8_t eui[8] = {0xAA, 0x55, 0x5A, 0, 0, 0, 0, 1};
static const uint8_t frame[] = {0x40, 1, 2, 3, 0xFF}; /* base64 "QAECA/8=" */

/* A datagram: version, token, type, [eui], [json]. Returns its length. */
static size_t datagram(uint8_t *out, size_t size, uint8_t version, uint16_t token, uint8_t type,
                       const uint8_t *with_eui, const char *json)
{
    size_t n = 0;
    out[n++] = version;
    out[n++] = (uint8_t)(token >> 8);
    out[n++] = (uint8_t)token;
    out[n++] = type;
    if (with_eui) {
        memcpy(out + n, with_eui, 8);
        n += 8;
    }
    if (json) {
        size_t len = strlen(json);
        assert_true(n + len <= size);
        memcpy(out + n, json, len);
        n += len;
    }
    return n;
}

/* A PUSH_DATA of one rxpk: the fields given, then "data". */
static size_t push_with_rxpk(uint8_t *out, size_t size, const char *fields, const char *data)
{
    char json[4096];
    snprintf(json, sizeof(json), "{\"rxpk\":[{%s%s\"data\":\"%s\"}]}", fields, fields[0] ? "," : "",
             data);
    return datagram(out, size, 2, 0x0abc, GWMP_PUSH_DATA, eui, json);
}

#define GOOD_FIELDS                                                                                \
    "\"time\":\"2026-01-05T00:00:00.250000Z\",\"tmst\":4000000000,\"chan\":1,\"rfch\":0,"          \
    "\"freq\":868.3,\"stat\":1,\"modu\":\"LORA\",\"datr\":\"SF12BW125\",\"codr\":\"4/5\","         \
    "\"rssi\":-70,\"lsnr\":7.5,\"size\":5"

static struct gwmp_rxpk sample_rxpk(void)
{
    struct gwmp_rxpk rx = {.has_time = true,
                           .time_unix_us = INT64_C(1767571200250000),
                           .tmst_us = 4000000000u,
                           .freq_hz = 868300000,
                           .chan = 1,
                           .datr = "SF12BW125",
                           .codr = "4/5",
                           .rssi_dbm = -70,
                           .lsnr_db = 7.5,
                           .size = sizeof(frame)};
    memcpy(rx.data, frame, sizeof(frame));
    return rx;
}

static void assert_same_rxpk(const struct gwmp_rxpk *a, const struct gwmp_rxpk *b)
{
    assert_int_equal(a->has_time, b->has_time);
    assert_true(a->time_unix_us == b->time_unix_us);
    assert_int_equal(a->tmst_us, b->tmst_us);
    assert_int_equal(a->freq_hz, b->freq_hz);
    assert_string_equal(a->datr, b->datr);
    assert_string_equal(a->codr, b->codr);
    assert_int_equal(a->rssi_dbm, b->rssi_dbm);
    assert_float_equal(a->lsnr_db, b->lsnr_db, 0);
    assert_int_equal(a->size, b->size);
    assert_memory_equal(a->data, b->data, a->size);
}

/* Parses a PUSH_DATA expected to hold one rxpk, and returns what that rxpk got. */
static int one_rxpk(const uint8_t *buf, size_t len, struct gwmp_rxpk *rx, enum gwmp_drop *why)
{
    struct gwmp_push_data pd;
    assert_int_equal(gwmp_parse_push_data(buf, len, &pd, why), 0);
    int got = gwmp_push_data_next(&pd, rx, why);
    enum gwmp_drop ignored;
    struct gwmp_rxpk rest;
    assert_int_equal(gwmp_push_data_next(&pd, &rest, &ignored), -1);
    gwmp_push_data_free(&pd);
    return got;
}

/* ---- the header ---- */

static void test_header_types_and_versions(void **state)
{
    (void)state;
    static const struct {
        enum gwmp_role role;
        uint8_t version, type;
        int ok;
        enum gwmp_drop why;
    } table[] = {
        {GWMP_SERVER, 2, GWMP_PUSH_DATA, 1, 0},
        {GWMP_SERVER, 1, GWMP_PUSH_DATA, 1, 0},
        {GWMP_SERVER, 2, GWMP_PULL_DATA, 1, 0},
        {GWMP_SERVER, 2, GWMP_TX_ACK, 1, 0},
        {GWMP_SERVER, 2, GWMP_PUSH_ACK, 0, GWMP_DROP_BAD_TYPE}, /* what only a server sends */
        {GWMP_SERVER, 2, GWMP_PULL_RESP, 0, GWMP_DROP_BAD_TYPE},
        {GWMP_SERVER, 2, GWMP_PULL_ACK, 0, GWMP_DROP_BAD_TYPE},
        {GWMP_SERVER, 2, 6, 0, GWMP_DROP_BAD_TYPE},
        {GWMP_SERVER, 2, 255, 0, GWMP_DROP_BAD_TYPE},
        {GWMP_SERVER, 0, GWMP_PUSH_DATA, 0, GWMP_DROP_BAD_VERSION},
        {GWMP_SERVER, 3, GWMP_PUSH_DATA, 0, GWMP_DROP_BAD_VERSION},
        {GWMP_SERVER, 255, 255, 0, GWMP_DROP_BAD_VERSION}, /* the version is judged first */
        {GWMP_FORWARDER, 2, GWMP_PUSH_ACK, 1, 0},
        {GWMP_FORWARDER, 2, GWMP_PULL_ACK, 1, 0},
        {GWMP_FORWARDER, 2, GWMP_PULL_RESP, 1, 0},
        {GWMP_FORWARDER, 2, GWMP_PUSH_DATA, 0, GWMP_DROP_BAD_TYPE},
        {GWMP_FORWARDER, 2, GWMP_TX_ACK, 0, GWMP_DROP_BAD_TYPE},
        {GWMP_FORWARDER, 2, 9, 0, GWMP_DROP_BAD_TYPE},
        {GWMP_FORWARDER, 1, GWMP_PULL_RESP, 0, GWMP_DROP_BAD_VERSION}, /* it speaks 2 only */
        {GWMP_FORWARDER, 3, GWMP_PUSH_ACK, 0, GWMP_DROP_BAD_VERSION},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        uint8_t buf[4] = {table[i].version, 0xBE, 0xEF, table[i].type};
        struct gwmp_header h;
        enum gwmp_drop why = GWMP_DROP_COUNT;
        int rc = gwmp_parse_header(buf, sizeof(buf), table[i].role, &h, &why);
        if (table[i].ok) {
            assert_int_equal(rc, 0);
            assert_int_equal(h.version, table[i].version);
            assert_int_equal(h.token, 0xBEEF);
            assert_int_equal(h.type, table[i].type);
        } else {
            if (rc != -1 || why != table[i].why)
                fail_msg("row %zu: rc %d, %s", i, rc, gwmp_drop_name(why));
        }
    }
    /* shorter than a header: short, on either side */
    uint8_t buf[4] = {2, 0, 0, 0};
    for (size_t n = 0; n < 4; n++) {
        struct gwmp_header h;
        enum gwmp_drop why;
        assert_int_equal(gwmp_parse_header(buf, n, GWMP_SERVER, &h, &why), -1);
        assert_int_equal(why, GWMP_DROP_SHORT);
        assert_int_equal(gwmp_parse_header(buf, n, GWMP_FORWARDER, &h, &why), -1);
        assert_int_equal(why, GWMP_DROP_SHORT);
    }
}

static void test_drop_names(void **state)
{
    (void)state;
    /* the names semtech_udp's stats line prints (semtech_hostile.sh greps for them) */
    static const char *const names[GWMP_DROP_COUNT] = {"short",    "bad_version",  "bad_type",
                                                       "bad_json", "rxpk_invalid", "rxpk_oversize",
                                                       "crc",      "not_lora",     "txpk_invalid"};
    for (int i = 0; i < GWMP_DROP_COUNT; i++)
        assert_string_equal(gwmp_drop_name((enum gwmp_drop)i), names[i]);
    assert_string_equal(gwmp_drop_name(GWMP_DROP_COUNT), "?");
}

/* ---- PUSH_DATA ---- */

/* Forwarder side builds, server side parses: every field comes back. */
static void test_push_data_round_trip(void **state)
{
    (void)state;
    struct gwmp_rxpk rx[3] = {sample_rxpk(), sample_rxpk(), sample_rxpk()};
    rx[1].has_time = false;
    rx[1].time_unix_us = 0;
    snprintf(rx[1].datr, sizeof(rx[1].datr), "SF7BW500");
    rx[1].codr[0] = '\0';
    rx[1].rssi_dbm = -250;
    rx[1].lsnr_db = -20.25;
    rx[1].tmst_us = 0;
    rx[1].freq_hz = 867100000;
    rx[2].size = LORAWAN_PHY_MAX_BYTES;
    for (size_t i = 0; i < LORAWAN_PHY_MAX_BYTES; i++)
        rx[2].data[i] = (uint8_t)(255 - i);
    struct gwmp_stat stat = {.rxnb = 10, .rxok = 9, .rxfw = 8, .dwnb = 2, .txnb = 1, .ackr = 100};
    static uint8_t out[GWMP_MAX_BYTES];
    size_t len = gwmp_build_push_data(0xBEEF, eui, rx, 3, &stat, out, sizeof(out));
    assert_true(len > 12);

    struct gwmp_push_data pd;
    enum gwmp_drop why;
    assert_int_equal(gwmp_parse_push_data(out, len, &pd, &why), 0);
    assert_int_equal(pd.header.version, 2);
    assert_int_equal(pd.header.token, 0xBEEF);
    assert_int_equal(pd.header.type, GWMP_PUSH_DATA);
    assert_memory_equal(pd.eui, eui, 8);
    assert_true(pd.has_stat);
    assert_int_equal(pd.stat.rxnb, 10);
    assert_int_equal(pd.stat.rxok, 9);
    assert_int_equal(pd.stat.rxfw, 8);
    assert_int_equal(pd.stat.dwnb, 2);
    assert_int_equal(pd.stat.txnb, 1);
    assert_float_equal(pd.stat.ackr, 100, 0);
    assert_false(pd.rxpk_not_array);
    for (size_t i = 0; i < 3; i++) {
        struct gwmp_rxpk got;
        assert_int_equal(gwmp_push_data_next(&pd, &got, &why), 1);
        assert_same_rxpk(&got, &rx[i]);
    }
    struct gwmp_rxpk none;
    assert_int_equal(gwmp_push_data_next(&pd, &none, &why), -1);
    assert_int_equal(gwmp_push_data_next(&pd, &none, &why), -1);
    gwmp_push_data_free(&pd);
    gwmp_push_data_free(&pd); /* twice is harmless */
}

/* The bytes the forwarder side writes, read with cJSON's own lookups (the assertions of
 * modem-sim's former GWMP test, which this codec replaces). */
static void test_push_data_bytes(void **state)
{
    (void)state;
    struct gwmp_rxpk rx = sample_rxpk();
    uint8_t out[1024];
    size_t len = gwmp_build_push_data(0xBEEF, eui, &rx, 1, NULL, out, sizeof(out));
    assert_true(len > 12);
    struct gwmp_header h;
    enum gwmp_drop why;
    assert_int_equal(gwmp_parse_header(out, len, GWMP_SERVER, &h, &why), 0);
    assert_int_equal(h.type, GWMP_PUSH_DATA);
    assert_int_equal(h.token, 0xBEEF);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[1], 0xBE);
    assert_int_equal(out[2], 0xEF);
    assert_memory_equal(&out[4], eui, 8);
    cJSON *root = cJSON_ParseWithLength((const char *)&out[12], len - 12);
    assert_null(cJSON_GetObjectItem(root, "stat"));
    cJSON *pk = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "rxpk"), 0);
    assert_string_equal(cJSON_GetObjectItem(pk, "data")->valuestring, "QAECA/8=");
    assert_string_equal(cJSON_GetObjectItem(pk, "datr")->valuestring, "SF12BW125");
    assert_string_equal(cJSON_GetObjectItem(pk, "codr")->valuestring, "4/5");
    assert_string_equal(cJSON_GetObjectItem(pk, "modu")->valuestring, "LORA");
    assert_string_equal(cJSON_GetObjectItem(pk, "time")->valuestring,
                        "2026-01-05T00:00:00.250000Z");
    assert_float_equal(cJSON_GetObjectItem(pk, "tmst")->valuedouble, 4000000000.0, 0);
    assert_float_equal(cJSON_GetObjectItem(pk, "freq")->valuedouble, 868.3, 1e-9);
    assert_int_equal(cJSON_GetObjectItem(pk, "size")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(pk, "rssi")->valueint, -70);
    assert_int_equal(cJSON_GetObjectItem(pk, "stat")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(pk, "chan")->valueint, 1);
    cJSON_Delete(root);

    /* the datagram must fit: one byte short is refused, not cut */
    assert_int_equal(gwmp_build_push_data(0xBEEF, eui, &rx, 1, NULL, out, len - 1), 0);
    assert_int_equal(gwmp_build_push_data(0xBEEF, eui, &rx, 1, NULL, out, len), len);
    rx.size = LORAWAN_PHY_MAX_BYTES + 1;
    assert_int_equal(gwmp_build_push_data(0xBEEF, eui, &rx, 1, NULL, out, sizeof(out)), 0);
    /* a PUSH_DATA with only a stat, and an empty one */
    struct gwmp_stat stat = {.ackr = 50};
    len = gwmp_build_push_data(1, eui, NULL, 0, &stat, out, sizeof(out));
    assert_int_equal(len, 12 + strlen("{\"stat\":{\"rxnb\":0,\"rxok\":0,\"rxfw\":0,\"ackr\":50,"
                                      "\"dwnb\":0,\"txnb\":0}}"));
    assert_int_equal(gwmp_build_push_data(1, eui, NULL, 0, NULL, out, sizeof(out)), 14);
    assert_memory_equal(&out[12], "{}", 2);
}

/* A hand-written PUSH_DATA (the layout of PROTOCOL.TXT 3.2 and 4, as lora_pkt_fwd writes
 * it), parsed by the server side. */
static void test_push_data_known_bytes(void **state)
{
    (void)state;
    uint8_t buf[2048];
    size_t len = push_with_rxpk(buf, sizeof(buf), GOOD_FIELDS, "QAECA/8=");
    struct gwmp_rxpk rx;
    enum gwmp_drop why;
    assert_int_equal(one_rxpk(buf, len, &rx, &why), 1);
    struct gwmp_rxpk want = sample_rxpk();
    assert_same_rxpk(&rx, &want);

    /* v1, unpadded data (Semtech's own forwarder may write it so), without size and time,
     * codr that is not kept, and fields nobody reads */
    len = datagram(buf, sizeof(buf), 1, 7, GWMP_PUSH_DATA, eui,
                   "{\"rxpk\":[{\"tmst\":1,\"freq\":868.1,\"stat\":1,\"datr\":\"SF7BW125\","
                   "\"codr\":\"4/5; rm -rf\",\"rssi\":-1.4,\"lsnr\":-0.5,\"brd\":9,"
                   "\"rsig\":[{\"ant\":0}],\"data\":\"QAECA/8\"}],\"extra\":{}}");
    assert_int_equal(one_rxpk(buf, len, &rx, &why), 1);
    assert_false(rx.has_time);
    assert_int_equal(rx.tmst_us, 1);
    assert_int_equal(rx.freq_hz, 868100000);
    assert_string_equal(rx.codr, "");
    assert_int_equal(rx.rssi_dbm, -1);
    assert_int_equal(rx.size, 5);
    assert_memory_equal(rx.data, frame, 5);

    /* a time that is a string but not RFC 3339 is not a fault: it is left out */
    len = push_with_rxpk(buf, sizeof(buf),
                         "\"time\":\"2013-03-31 16:21:17 GMT\",\"tmst\":1,\"freq\":868.1,"
                         "\"stat\":1,\"datr\":\"SF7BW125\",\"rssi\":-70,\"lsnr\":7",
                         "QAECA/8=");
    assert_int_equal(one_rxpk(buf, len, &rx, &why), 1);
    assert_false(rx.has_time);
}

struct rxpk_case {
    const char *what;
    const char *fields; /* the rxpk's fields before "data" */
    const char *data;
    enum gwmp_drop why;
};

/* the fields of a good rxpk but data */
#define BASE                                                                                       \
    "\"tmst\":1000,\"freq\":868.1,\"stat\":1,\"datr\":\"SF7BW125\","                               \
    "\"rssi\":-70,\"lsnr\":7"
#define NO(field, rest) rest /* documents which field a row leaves out */

/* Each reason an rxpk is not a frame, as semtech_udp counts it. */
static void test_rxpk_drop_reasons(void **state)
{
    (void)state;
    static char oversize[GWMP_DATA_B64_MAX + 2], just_too_long[GWMP_DATA_B64_MAX + 1];
    memset(oversize, 'A', GWMP_DATA_B64_MAX + 1);  /* one character over */
    memset(just_too_long, 'A', GWMP_DATA_B64_MAX); /* 344 characters, unpadded: 258 bytes */
    static const struct rxpk_case cases[] = {
        {"no tmst",
         NO(tmst, "\"freq\":868.1,\"stat\":1,\"datr\":\"SF7BW125\",\"rssi\":-70,"
                  "\"lsnr\":7"),
         "QA==", GWMP_DROP_RXPK_INVALID},
        {"tmst a string",
         "\"tmst\":\"1000\",\"freq\":868.1,\"stat\":1,\"datr\":\"SF7BW125\","
         "\"rssi\":-70,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"tmst not whole",
         "\"tmst\":1.5,\"freq\":868.1,\"stat\":1,\"datr\":\"SF7BW125\","
         "\"rssi\":-70,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"tmst over 2^32-1",
         "\"tmst\":4294967296,\"freq\":868.1,\"stat\":1,"
         "\"datr\":\"SF7BW125\",\"rssi\":-70,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"no freq",
         NO(freq, "\"tmst\":1,\"stat\":1,\"datr\":\"SF7BW125\",\"rssi\":-70,"
                  "\"lsnr\":7"),
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"freq in Hz",
         "\"tmst\":1,\"freq\":868100000,\"stat\":1,\"datr\":\"SF7BW125\","
         "\"rssi\":-70,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"no rssi",
         NO(rssi, "\"tmst\":1,\"freq\":868.1,\"stat\":1,\"datr\":\"SF7BW125\","
                  "\"lsnr\":7"),
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"rssi -251",
         "\"tmst\":1,\"freq\":868.1,\"stat\":1,\"datr\":\"SF7BW125\","
         "\"rssi\":-251,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"no lsnr",
         NO(lsnr, "\"tmst\":1,\"freq\":868.1,\"stat\":1,\"datr\":\"SF7BW125\","
                  "\"rssi\":-70"),
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"lsnr 51",
         "\"tmst\":1,\"freq\":868.1,\"stat\":1,\"datr\":\"SF7BW125\","
         "\"rssi\":-70,\"lsnr\":51",
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"no stat",
         NO(stat, "\"tmst\":1,\"freq\":868.1,\"datr\":\"SF7BW125\",\"rssi\":-70,"
                  "\"lsnr\":7"),
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"stat 2",
         "\"tmst\":1,\"freq\":868.1,\"stat\":2,\"datr\":\"SF7BW125\","
         "\"rssi\":-70,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"stat 0.5",
         "\"tmst\":1,\"freq\":868.1,\"stat\":0.5,\"datr\":\"SF7BW125\","
         "\"rssi\":-70,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"no datr", NO(datr, "\"tmst\":1,\"freq\":868.1,\"stat\":1,\"rssi\":-70,\"lsnr\":7"),
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"datr SF6",
         "\"tmst\":1,\"freq\":868.1,\"stat\":1,\"datr\":\"SF6BW125\","
         "\"rssi\":-70,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"datr SF13",
         "\"tmst\":1,\"freq\":868.1,\"stat\":1,\"datr\":\"SF13BW125\","
         "\"rssi\":-70,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"datr BW200",
         "\"tmst\":1,\"freq\":868.1,\"stat\":1,\"datr\":\"SF7BW200\","
         "\"rssi\":-70,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"datr SF07",
         "\"tmst\":1,\"freq\":868.1,\"stat\":1,\"datr\":\"SF07BW125\","
         "\"rssi\":-70,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"datr with more",
         "\"tmst\":1,\"freq\":868.1,\"stat\":1,\"datr\":\"SF7BW125x\","
         "\"rssi\":-70,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"time a number", "\"time\":5," BASE, "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"time 40 characters", "\"time\":\"2026-01-05T00:00:00.2500000000000000000Z\"," BASE,
         "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"codr a number", "\"codr\":45," BASE, "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"size not the data's", "\"size\":4," BASE, "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"size negative", "\"size\":-1," BASE, "QAECA/8=", GWMP_DROP_RXPK_INVALID},
        {"data empty", BASE, "", GWMP_DROP_RXPK_INVALID},
        {"data not base64", BASE, "!!!!", GWMP_DROP_RXPK_INVALID},
        {"data with '=' inside", BASE, "QA=CA/8=", GWMP_DROP_RXPK_INVALID},
        {"data padding short", BASE, "QAECA/=", GWMP_DROP_RXPK_INVALID},
        {"data 258 bytes", BASE, just_too_long, GWMP_DROP_RXPK_INVALID},
        {"data oversize", BASE, oversize, GWMP_DROP_RXPK_OVERSIZE},
        {"bad CRC",
         "\"tmst\":1,\"freq\":868.1,\"stat\":-1,\"datr\":\"SF7BW125\","
         "\"rssi\":-70,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_CRC},
        {"no CRC",
         "\"tmst\":1,\"freq\":868.1,\"stat\":0,\"datr\":\"SF7BW125\","
         "\"rssi\":-70,\"lsnr\":7",
         "QAECA/8=", GWMP_DROP_CRC},
        {"bad CRC, oversize too",
         "\"tmst\":1,\"freq\":868.1,\"stat\":-1,\"datr\":\"SF7BW125\","
         "\"rssi\":-70,\"lsnr\":7",
         oversize, GWMP_DROP_CRC},
        {"FSK",
         "\"tmst\":1,\"freq\":868.8,\"stat\":1,\"modu\":\"FSK\",\"datr\":50000,"
         "\"rssi\":-70",
         "QA==", GWMP_DROP_NOT_LORA},
        {"FSK, bad CRC too", "\"tmst\":1,\"freq\":868.8,\"stat\":-1,\"datr\":50000,\"rssi\":-70",
         "QA==", GWMP_DROP_NOT_LORA},
        {"FSK, no tmst", "\"freq\":868.8,\"stat\":1,\"datr\":50000,\"rssi\":-70",
         "QA==", GWMP_DROP_RXPK_INVALID},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        static uint8_t buf[8192];
        size_t len = push_with_rxpk(buf, sizeof(buf), cases[i].fields, cases[i].data);
        struct gwmp_rxpk rx;
        enum gwmp_drop why = GWMP_DROP_COUNT;
        int got = one_rxpk(buf, len, &rx, &why);
        if (got != 0 || why != cases[i].why)
            fail_msg("%s: got %d (%s), expected %s", cases[i].what, got, gwmp_drop_name(why),
                     gwmp_drop_name(cases[i].why));
    }
    /* the longest data taken: LORAWAN_PHY_MAX_BYTES, padded to GWMP_DATA_B64_MAX */
    static char longest[GWMP_DATA_B64_MAX + 1];
    memset(longest, 'A', GWMP_DATA_B64_MAX);
    longest[GWMP_DATA_B64_MAX - 2] = longest[GWMP_DATA_B64_MAX - 1] = '=';
    static uint8_t buf[8192];
    size_t len = push_with_rxpk(buf, sizeof(buf), BASE, longest);
    struct gwmp_rxpk rx;
    enum gwmp_drop why;
    assert_int_equal(one_rxpk(buf, len, &rx, &why), 1);
    assert_int_equal(rx.size, LORAWAN_PHY_MAX_BYTES);
}

/* Many rxpk in one PUSH_DATA: each judged on its own, in order; not an object is invalid;
 * an rxpk that is not an array is one rxpk_invalid for the datagram. */
static void test_rxpk_array(void **state)
{
    (void)state;
    uint8_t buf[2048];
    size_t len = datagram(buf, sizeof(buf), 2, 1, GWMP_PUSH_DATA, eui,
                          "{\"rxpk\":[7,{" BASE ",\"data\":\"QAECA/8=\"},null,{\"tmst\":1,"
                          "\"freq\":868.1,\"stat\":-1,\"datr\":\"SF7BW125\",\"rssi\":-70,"
                          "\"lsnr\":7,\"data\":\"QA==\"},{" BASE ",\"data\":\"QA==\"}]}");
    struct gwmp_push_data pd;
    enum gwmp_drop why;
    struct gwmp_rxpk rx;
    assert_int_equal(gwmp_parse_push_data(buf, len, &pd, &why), 0);
    assert_int_equal(gwmp_push_data_next(&pd, &rx, &why), 0);
    assert_int_equal(why, GWMP_DROP_RXPK_INVALID);
    assert_int_equal(gwmp_push_data_next(&pd, &rx, &why), 1);
    assert_int_equal(rx.size, 5);
    assert_int_equal(gwmp_push_data_next(&pd, &rx, &why), 0);
    assert_int_equal(why, GWMP_DROP_RXPK_INVALID);
    assert_int_equal(gwmp_push_data_next(&pd, &rx, &why), 0);
    assert_int_equal(why, GWMP_DROP_CRC);
    assert_int_equal(gwmp_push_data_next(&pd, &rx, &why), 1);
    assert_int_equal(rx.size, 1);
    assert_int_equal(gwmp_push_data_next(&pd, &rx, &why), -1);
    gwmp_push_data_free(&pd);

    static const char *const not_array[] = {"{\"rxpk\":{}}", "{\"rxpk\":\"x\"}", "{\"rxpk\":null}"};
    for (size_t i = 0; i < 3; i++) {
        len = datagram(buf, sizeof(buf), 2, 1, GWMP_PUSH_DATA, eui, not_array[i]);
        assert_int_equal(gwmp_parse_push_data(buf, len, &pd, &why), 0);
        assert_true(pd.rxpk_not_array);
        assert_int_equal(gwmp_push_data_next(&pd, &rx, &why), -1);
        gwmp_push_data_free(&pd);
    }
    /* no rxpk at all (a stat-only PUSH_DATA), and an empty array */
    static const char *const none[] = {"{}", "{\"rxpk\":[]}"};
    for (size_t i = 0; i < 2; i++) {
        len = datagram(buf, sizeof(buf), 2, 1, GWMP_PUSH_DATA, eui, none[i]);
        assert_int_equal(gwmp_parse_push_data(buf, len, &pd, &why), 0);
        assert_false(pd.rxpk_not_array);
        assert_false(pd.has_stat);
        assert_int_equal(gwmp_push_data_next(&pd, &rx, &why), -1);
        gwmp_push_data_free(&pd);
    }
}

/* A stat object is taken whole or not at all. */
static void test_stat(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        bool taken;
    } table[] = {
        {"{\"stat\":{\"time\":\"2014-01-12 08:59:28 GMT\",\"lati\":46.24,\"long\":3.25,"
         "\"alti\":145,\"rxnb\":2,\"rxok\":2,\"rxfw\":2,\"ackr\":100.0,\"dwnb\":2,\"txnb\":2}}",
         true}, /* PROTOCOL.TXT's example */
        {"{\"stat\":{}}", true},
        {"{\"stat\":{\"rxnb\":4294967295}}", true},
        {"{\"stat\":{\"rxnb\":4294967296}}", false},
        {"{\"stat\":{\"rxok\":-1}}", false},
        {"{\"stat\":{\"dwnb\":\"2\"}}", false},
        {"{\"stat\":{\"ackr\":100.5}}", false},
        {"{\"stat\":7}", false},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        uint8_t buf[512];
        size_t len = datagram(buf, sizeof(buf), 2, 1, GWMP_PUSH_DATA, eui, table[i].json);
        struct gwmp_push_data pd;
        enum gwmp_drop why;
        assert_int_equal(gwmp_parse_push_data(buf, len, &pd, &why), 0);
        if (pd.has_stat != table[i].taken)
            fail_msg("%s: has_stat %d", table[i].json, pd.has_stat);
        if (i == 0) {
            assert_int_equal(pd.stat.rxnb, 2);
            assert_int_equal(pd.stat.txnb, 2);
            assert_float_equal(pd.stat.ackr, 100, 0);
        }
        gwmp_push_data_free(&pd);
    }
}

/* Every truncation of a good PUSH_DATA is refused by name, none crashes or leaks. */
static void test_push_data_truncations(void **state)
{
    (void)state;
    struct gwmp_rxpk rx = sample_rxpk();
    struct gwmp_stat stat = {.rxnb = 1};
    uint8_t out[1024];
    size_t len = gwmp_build_push_data(0xBEEF, eui, &rx, 1, &stat, out, sizeof(out));
    for (size_t n = 0; n < len; n++) {
        struct gwmp_push_data pd;
        enum gwmp_drop why;
        assert_int_equal(gwmp_parse_push_data(out, n, &pd, &why), -1);
        assert_int_equal(why, n < 12 ? GWMP_DROP_SHORT : GWMP_DROP_BAD_JSON);
        gwmp_push_data_free(&pd);
    }
}

static void test_push_data_bad_json(void **state)
{
    (void)state;
    static char deep[512];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    static const char *const bad[] = {"",    "{", "[]", "null", "1", "\"rxpk\"", "{\"rxpk\":[}",
                                      "x{}", deep};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t buf[1024];
        size_t len = datagram(buf, sizeof(buf), 2, 1, GWMP_PUSH_DATA, eui, bad[i]);
        struct gwmp_push_data pd;
        enum gwmp_drop why;
        assert_int_equal(gwmp_parse_push_data(buf, len, &pd, &why), -1);
        assert_int_equal(why, GWMP_DROP_BAD_JSON);
        gwmp_push_data_free(&pd);
    }
    /* what follows the object is not read (as cJSON_ParseWithLength does; some forwarders
     * end the datagram with a NUL) */
    uint8_t buf[64];
    struct gwmp_push_data pd;
    enum gwmp_drop why;
    size_t len = datagram(buf, sizeof(buf), 2, 1, GWMP_PUSH_DATA, eui, "{\"rxpk\":[]}\n");
    buf[len++] = '\0';
    assert_int_equal(gwmp_parse_push_data(buf, len, &pd, &why), 0);
    gwmp_push_data_free(&pd);
    /* a header of another type or version is not a PUSH_DATA */
    len = datagram(buf, sizeof(buf), 2, 1, GWMP_PULL_DATA, eui, "{}");
    assert_int_equal(gwmp_parse_push_data(buf, len, &pd, &why), -1);
    assert_int_equal(why, GWMP_DROP_BAD_TYPE);
    len = datagram(buf, sizeof(buf), 3, 1, GWMP_PUSH_DATA, eui, "{}");
    assert_int_equal(gwmp_parse_push_data(buf, len, &pd, &why), -1);
    assert_int_equal(why, GWMP_DROP_BAD_VERSION);
}

/* Every data length a PHYPayload can have, written and read by the two sides. */
static void test_every_data_length(void **state)
{
    (void)state;
    for (size_t n = 1; n <= LORAWAN_PHY_MAX_BYTES; n++) {
        struct gwmp_rxpk rx = sample_rxpk(), got;
        rx.size = n;
        for (size_t i = 0; i < n; i++)
            rx.data[i] = (uint8_t)(i * 31 + n);
        static uint8_t out[2048];
        size_t len = gwmp_build_push_data((uint16_t)n, eui, &rx, 1, NULL, out, sizeof(out));
        assert_true(len > 0);
        enum gwmp_drop why;
        assert_int_equal(one_rxpk(out, len, &got, &why), 1);
        assert_same_rxpk(&got, &rx);
    }
}

/* ---- PULL_DATA, PUSH_ACK, PULL_ACK ---- */

static void test_pull_data_and_acks(void **state)
{
    (void)state;
    uint8_t out[64];
    size_t len = gwmp_build_pull_data(0x1234, eui, out, sizeof(out));
    assert_int_equal(len, 12);
    const uint8_t want[12] = {2, 0x12, 0x34, 2, 0xAA, 0x55, 0x5A, 0, 0, 0, 0, 1};
    assert_memory_equal(out, want, 12);
    struct gwmp_pull_data pull;
    enum gwmp_drop why;
    assert_int_equal(gwmp_parse_pull_data(out, len, &pull, &why), 0);
    assert_int_equal(pull.header.version, 2);
    assert_int_equal(pull.header.token, 0x1234);
    assert_memory_equal(pull.eui, eui, 8);
    for (size_t n = 0; n < 12; n++) {
        assert_int_equal(gwmp_parse_pull_data(out, n, &pull, &why), -1);
        assert_int_equal(why, GWMP_DROP_SHORT);
    }
    assert_int_equal(gwmp_build_pull_data(0x1234, eui, out, 11), 0);

    /* the server's acks echo version and token; the forwarder reads them */
    static const struct {
        size_t (*build)(uint8_t, uint16_t, uint8_t *, size_t);
        enum gwmp_type type;
    } acks[] = {{gwmp_build_push_ack, GWMP_PUSH_ACK}, {gwmp_build_pull_ack, GWMP_PULL_ACK}};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(acks[i].build(1, 0xBEEF, out, sizeof(out)), 4);
        const uint8_t v1[4] = {1, 0xBE, 0xEF, (uint8_t)acks[i].type};
        assert_memory_equal(out, v1, 4);
        assert_int_equal(acks[i].build(2, 0x0abc, out, sizeof(out)), 4);
        struct gwmp_header h;
        assert_int_equal(gwmp_parse_header(out, 4, GWMP_FORWARDER, &h, &why), 0);
        assert_int_equal(h.type, acks[i].type);
        assert_int_equal(h.token, 0x0abc);
        assert_int_equal(acks[i].build(2, 1, out, 3), 0);
    }
}

/* ---- TX_ACK ---- */

static void test_tx_ack(void **state)
{
    (void)state;
    uint8_t out[512];
    struct gwmp_tx_ack ack;
    enum gwmp_drop why;
    /* forwarder builds, server parses */
    size_t len = gwmp_build_tx_ack(0x5678, eui, "TOO_LATE", out, sizeof(out));
    assert_int_equal(gwmp_parse_tx_ack(out, len, &ack, &why), 0);
    assert_int_equal(ack.header.token, 0x5678);
    assert_memory_equal(ack.eui, eui, 8);
    assert_true(ack.failed);
    assert_string_equal(ack.error, "TOO_LATE");
    len = gwmp_build_tx_ack(0x5678, eui, "NONE", out, sizeof(out));
    assert_memory_equal(&out[12], "{\"txpk_ack\":{\"error\":\"NONE\"}}", len - 12);
    assert_int_equal(gwmp_parse_tx_ack(out, len, &ack, &why), 0);
    assert_false(ack.failed);
    assert_string_equal(ack.error, "NONE");
    /* version 1: no JSON; and JSON without an error */
    len = gwmp_build_tx_ack(1, eui, NULL, out, sizeof(out));
    assert_int_equal(len, 12);
    assert_int_equal(gwmp_parse_tx_ack(out, len, &ack, &why), 0);
    assert_false(ack.failed);
    static const char *const no_error[] = {"{}", "{\"txpk_ack\":{}}",
                                           "{\"txpk_ack\":{\"error\":1}}", "{\"txpk_ack\":7}"};
    for (size_t i = 0; i < 4; i++) {
        len = datagram(out, sizeof(out), 2, 1, GWMP_TX_ACK, eui, no_error[i]);
        assert_int_equal(gwmp_parse_tx_ack(out, len, &ack, &why), 0);
        assert_false(ack.failed);
        assert_string_equal(ack.error, "");
    }
    /* a hostile error word is kept plain and short, for the log */
    len =
        datagram(out, sizeof(out), 2, 1, GWMP_TX_ACK, eui,
                 "{\"txpk_ack\":{\"error\":\"TX_\\u001b[31mFREQ\\n and then a very long tail\"}}");
    assert_int_equal(gwmp_parse_tx_ack(out, len, &ack, &why), 0);
    assert_true(ack.failed);
    assert_string_equal(ack.error, "TX_?????FREQ????????????????????");
    assert_int_equal(strlen(ack.error), GWMP_ERROR_SIZE - 1);
    /* an empty error word is a failure with a word for the log (fuzz_gwmp) */
    len = datagram(out, sizeof(out), 2, 1, GWMP_TX_ACK, eui, "{\"txpk_ack\":{\"error\":\"\"}}");
    assert_int_equal(gwmp_parse_tx_ack(out, len, &ack, &why), 0);
    assert_true(ack.failed);
    assert_string_equal(ack.error, "?");
    /* bad JSON, and every truncation */
    len = datagram(out, sizeof(out), 2, 1, GWMP_TX_ACK, eui, "[1]");
    assert_int_equal(gwmp_parse_tx_ack(out, len, &ack, &why), -1);
    assert_int_equal(why, GWMP_DROP_BAD_JSON);
    len = gwmp_build_tx_ack(0x5678, eui, "COLLISION_PACKET", out, sizeof(out));
    for (size_t n = 0; n < len; n++) {
        int rc = gwmp_parse_tx_ack(out, n, &ack, &why);
        if (n == 12) {
            assert_int_equal(rc, 0); /* a v2 TX_ACK cut to the v1 form: nothing to report */
            continue;
        }
        assert_int_equal(rc, -1);
        assert_int_equal(why, n < 12 ? GWMP_DROP_SHORT : GWMP_DROP_BAD_JSON);
    }
}

/* ---- PULL_RESP ---- */

static struct gwmp_txpk sample_txpk(void)
{
    struct gwmp_txpk tx = {.imme = false,
                           .tmst_us = 4001000000u,
                           .freq_hz = 868300000,
                           .rfch = 0,
                           .powe_dbm = 14,
                           .datr = "SF12BW125",
                           .codr = "4/5",
                           .ipol = true,
                           .size = sizeof(frame)};
    memcpy(tx.data, frame, sizeof(frame));
    return tx;
}

static void assert_same_txpk(const struct gwmp_txpk *a, const struct gwmp_txpk *b)
{
    assert_int_equal(a->imme, b->imme);
    assert_int_equal(a->tmst_us, b->tmst_us);
    assert_int_equal(a->freq_hz, b->freq_hz);
    assert_int_equal(a->rfch, b->rfch);
    assert_int_equal(a->powe_dbm, b->powe_dbm);
    assert_string_equal(a->datr, b->datr);
    assert_string_equal(a->codr, b->codr);
    assert_int_equal(a->ipol, b->ipol);
    assert_int_equal(a->size, b->size);
    assert_memory_equal(a->data, b->data, a->size);
}

/* Server builds, forwarder parses; and the JSON read back with cJSON. */
static void test_pull_resp_round_trip(void **state)
{
    (void)state;
    struct gwmp_txpk tx = sample_txpk(), got;
    uint8_t out[1024];
    enum gwmp_drop why;
    size_t len = gwmp_build_pull_resp(2, 0x4321, &tx, out, sizeof(out));
    assert_true(len > 4);
    assert_int_equal(out[0], 2);
    assert_int_equal(out[3], GWMP_PULL_RESP);
    assert_int_equal(gwmp_parse_pull_resp(out, len, &got, &why), 0);
    assert_same_txpk(&got, &tx);
    cJSON *root = cJSON_ParseWithLength((const char *)&out[4], len - 4);
    cJSON *pk = cJSON_GetObjectItem(root, "txpk");
    assert_false(cJSON_IsTrue(cJSON_GetObjectItem(pk, "imme")));
    assert_float_equal(cJSON_GetObjectItem(pk, "tmst")->valuedouble, 4001000000.0, 0);
    assert_float_equal(cJSON_GetObjectItem(pk, "freq")->valuedouble, 868.3, 1e-9);
    assert_int_equal(cJSON_GetObjectItem(pk, "powe")->valueint, 14);
    assert_string_equal(cJSON_GetObjectItem(pk, "modu")->valuestring, "LORA");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(pk, "ipol")));
    assert_null(cJSON_GetObjectItem(pk, "ncrc")); /* as ChirpStack: the forwarder's default */
    assert_string_equal(cJSON_GetObjectItem(pk, "data")->valuestring, "QAECA/8=");
    cJSON_Delete(root);

    /* immediate, the longest data, no codr */
    tx.imme = true;
    tx.tmst_us = 0;
    tx.codr[0] = '\0';
    tx.size = LORAWAN_PHY_MAX_BYTES;
    memset(tx.data, 0xA5, tx.size);
    len = gwmp_build_pull_resp(2, 1, &tx, out, sizeof(out));
    assert_int_equal(gwmp_parse_pull_resp(out, len, &got, &why), 0);
    assert_same_txpk(&got, &tx);
    assert_int_equal(gwmp_build_pull_resp(2, 1, &tx, out, len - 1), 0);
    tx.size = LORAWAN_PHY_MAX_BYTES + 1;
    assert_int_equal(gwmp_build_pull_resp(2, 1, &tx, out, sizeof(out)), 0);

    /* never a txpk the forwarder side refuses (fuzz_gwmp: a freq-less txpk rebuilt with
     * "freq":0): no frequency, one out of range, no data rate */
    tx = sample_txpk();
    tx.freq_hz = 0;
    assert_int_equal(gwmp_build_pull_resp(2, 1, &tx, out, sizeof(out)), 0);
    tx.freq_hz = 1000000001u;
    assert_int_equal(gwmp_build_pull_resp(2, 1, &tx, out, sizeof(out)), 0);
    tx = sample_txpk();
    tx.datr[0] = '\0';
    assert_int_equal(gwmp_build_pull_resp(2, 1, &tx, out, sizeof(out)), 0);
}

/* What the forwarder side takes and refuses (modem-sim's former GWMP test, and more). */
static void test_pull_resp_forwarder_side(void **state)
{
    (void)state;
    const char *resp =
        "\x02\x12\x34\x03{\"txpk\":{\"imme\":true,\"size\":5,\"data\":\"QAECA/8=\"}}";
    struct gwmp_txpk tx;
    enum gwmp_drop why;
    assert_int_equal(gwmp_parse_pull_resp((const uint8_t *)resp, strlen(resp), &tx, &why), 0);
    assert_true(tx.imme);
    assert_int_equal(tx.size, 5);
    assert_memory_equal(tx.data, frame, 5);
    /* Semtech's forwarder takes unpadded data, so does this side */
    resp = "\x02\x12\x34\x03{\"txpk\":{\"size\":5,\"data\":\"QAECA/8\"}}";
    assert_int_equal(gwmp_parse_pull_resp((const uint8_t *)resp, strlen(resp), &tx, &why), 0);

    static char oversize[160 + BASE64_ENCODED_LEN(LORAWAN_PHY_MAX_BYTES + 1)];
    char b64[BASE64_ENCODED_LEN(LORAWAN_PHY_MAX_BYTES + 1) + 1];
    static const uint8_t zeros[LORAWAN_PHY_MAX_BYTES + 1];
    base64_encode(zeros, sizeof(zeros), b64, sizeof(b64));
    snprintf(oversize, sizeof(oversize),
             "\x02\x12\x34\x03{\"txpk\":{\"size\":%zu,\"data\":\"%s\"}}", sizeof(zeros), b64);
    static const struct {
        const char *what, *datagram;
        enum gwmp_drop why;
    } bad[] = {
        {"size mismatch", "\x02\x12\x34\x03{\"txpk\":{\"size\":4,\"data\":\"QAECA/8=\"}}",
         GWMP_DROP_TXPK_INVALID},
        {"not base64", "\x02\x12\x34\x03{\"txpk\":{\"size\":5,\"data\":\"QAEC*/8=\"}}",
         GWMP_DROP_TXPK_INVALID},
        {"no data", "\x02\x12\x34\x03{\"txpk\":{\"size\":5}}", GWMP_DROP_TXPK_INVALID},
        {"no size", "\x02\x12\x34\x03{\"txpk\":{\"data\":\"QAECA/8=\"}}", GWMP_DROP_TXPK_INVALID},
        {"empty data", "\x02\x12\x34\x03{\"txpk\":{\"size\":0,\"data\":\"\"}}",
         GWMP_DROP_TXPK_INVALID},
        {"no txpk", "\x02\x12\x34\x03{\"txpk\":7}", GWMP_DROP_TXPK_INVALID},
        {"imme a number",
         "\x02\x12\x34\x03{\"txpk\":{\"imme\":1,\"size\":5,\"data\":\"QAECA/8=\"}}",
         GWMP_DROP_TXPK_INVALID},
        {"tmst a string",
         "\x02\x12\x34\x03{\"txpk\":{\"tmst\":\"1\",\"size\":5,\"data\":\"QAECA/8=\"}}",
         GWMP_DROP_TXPK_INVALID},
        {"powe 1000", "\x02\x12\x34\x03{\"txpk\":{\"powe\":1000,\"size\":5,\"data\":\"QAECA/8=\"}}",
         GWMP_DROP_TXPK_INVALID},
        {"datr not LoRa",
         "\x02\x12\x34\x03{\"txpk\":{\"datr\":\"SF5BW125\",\"size\":5,\"data\":\"QAECA/8=\"}}",
         GWMP_DROP_TXPK_INVALID},
        {"FSK", "\x02\x12\x34\x03{\"txpk\":{\"datr\":50000,\"size\":5,\"data\":\"QAECA/8=\"}}",
         GWMP_DROP_NOT_LORA},
        {"cut JSON", "\x02\x12\x34\x03{\"txpk\":", GWMP_DROP_BAD_JSON},
        {"no JSON", "\x02\x12\x34\x03", GWMP_DROP_BAD_JSON},
        {"version 1", "\x01\x12\x34\x03{\"txpk\":{\"size\":5,\"data\":\"QAECA/8=\"}}",
         GWMP_DROP_BAD_VERSION},
        {"a PULL_ACK", "\x02\x12\x34\x04", GWMP_DROP_BAD_TYPE},
        {"more than a PHYPayload", oversize, GWMP_DROP_TXPK_INVALID},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = GWMP_DROP_COUNT;
        int rc = gwmp_parse_pull_resp((const uint8_t *)bad[i].datagram, strlen(bad[i].datagram),
                                      &tx, &why);
        if (rc != -1 || why != bad[i].why)
            fail_msg("%s: rc %d, %s", bad[i].what, rc, gwmp_drop_name(why));
    }
    /* every truncation of a good one */
    struct gwmp_txpk sample = sample_txpk();
    uint8_t out[512];
    size_t len = gwmp_build_pull_resp(2, 9, &sample, out, sizeof(out));
    for (size_t n = 0; n < len; n++) {
        assert_int_equal(gwmp_parse_pull_resp(out, n, &tx, &why), -1);
        assert_int_equal(why, n < 4 ? GWMP_DROP_SHORT : GWMP_DROP_BAD_JSON);
    }
}

static void test_format_eui(void **state)
{
    (void)state;
    char text[17];
    gwmp_format_eui(eui, text);
    assert_string_equal(text, "aa555a0000000001");
    const uint8_t ff[8] = {0xFF, 0xFE, 0x10, 0x01, 0x9A, 0xBC, 0xDE, 0xF0};
    gwmp_format_eui(ff, text);
    assert_string_equal(text, "fffe10019abcdef0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_types_and_versions),
        cmocka_unit_test(test_drop_names),
        cmocka_unit_test(test_push_data_round_trip),
        cmocka_unit_test(test_push_data_bytes),
        cmocka_unit_test(test_push_data_known_bytes),
        cmocka_unit_test(test_rxpk_drop_reasons),
        cmocka_unit_test(test_rxpk_array),
        cmocka_unit_test(test_stat),
        cmocka_unit_test(test_push_data_truncations),
        cmocka_unit_test(test_push_data_bad_json),
        cmocka_unit_test(test_every_data_length),
        cmocka_unit_test(test_pull_data_and_acks),
        cmocka_unit_test(test_tx_ack),
        cmocka_unit_test(test_pull_resp_round_trip),
        cmocka_unit_test(test_pull_resp_forwarder_side),
        cmocka_unit_test(test_format_eui),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
