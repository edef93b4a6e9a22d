/*
 * test_chirpstack.c - the ChirpStack v4 codec (ingest/chirpstack.c): the event parser, the
 * choice and bound of an event's reception time, and the downlink command, against
 * hand-written events, an event as ChirpStack v4 writes it, and hostile ones. cJSON (an independent
 * parser) reads back the downlink JSON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "ingest/chirpstack.h"

/* "CAcQPCID6CAK" is the Uplink {seq: 7, interval_s: 60, temperature: [2100, 5]} as
 * protoc --encode writes it. */
#define GOOD_EVENT                                                                                 \
    "{\"deduplicationId\":\"3e3a8b7c-1234-4f00-9a1b-0123456789ab\","                               \
    "\"time\":\"2026-11-23T09:17:03.123456Z\","                                                    \
    "\"deviceInfo\":{\"tenantId\":\"t\",\"applicationId\":\"a1b2c3d4-0000-1111-2222-"              \
    "333344445555\","                                                                              \
    "\"deviceName\":\"room-12\",\"devEui\":\"70B3D57ED0001234\",\"tags\":{}},"                     \
    "\"devAddr\":\"01020304\",\"dr\":5,\"fCnt\":42,\"fPort\":2,\"confirmed\":false,"               \
    "\"data\":\"CAcQPCID6CAK\","                                                                   \
    "\"rxInfo\":[{\"gatewayId\":\"0016c001ff10a235\",\"rssi\":-97,\"snr\":7.5},"                   \
    "{\"gatewayId\":\"0016C001FF10A236\",\"rssi\":-80,\"snr\":3.0}],"                              \
    "\"txInfo\":{\"frequency\":868100000,\"modulation\":{\"lora\":{\"bandwidth\":125000,"          \
    "\"spreadingFactor\":7,\"codeRate\":\"CR_4_5\"}}}}"

static const uint8_t good_data[] = {0x08, 0x07, 0x10, 0x3c, 0x22, 0x03, 0xe8, 0x20, 0x0a};

static int parse(const char *json, struct chirpstack_uplink *ev, char *reason)
{
    return chirpstack_parse_uplink(json, strlen(json), ev, reason);
}

/* GOOD_EVENT with the first occurrence of from replaced by to. */
static char *variant(const char *from, const char *to)
{
    static char out[65536];
    const char *at = strstr(GOOD_EVENT, from);
    assert_non_null(at);
    snprintf(out, sizeof(out), "%.*s%s%s", (int)(at - GOOD_EVENT), GOOD_EVENT, to,
             at + strlen(from));
    return out;
}

static void expect_bad(const char *json, const char *reason_start)
{
    struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    assert_int_equal(parse(json, &ev, reason), -1);
    if (strncmp(reason, reason_start, strlen(reason_start)) != 0)
        fail_msg("reason \"%s\" does not start with \"%s\"", reason, reason_start);
}

static void test_every_field(void **state)
{
    (void)state;
    struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    assert_int_equal(parse(GOOD_EVENT, &ev, reason), 0);
    assert_string_equal(ev.dedup_id, "3e3a8b7c-1234-4f00-9a1b-0123456789ab");
    assert_true(ev.time_ms == 1795425423123LL); /* date -d 2026-11-23T09:17:03Z +%s */
    assert_string_equal(ev.device, "70b3d57ed0001234");
    assert_string_equal(ev.device_name, "room-12");
    assert_string_equal(ev.application_id, "a1b2c3d4-0000-1111-2222-333344445555");
    assert_true(ev.radio.has_lorawan);
    assert_int_equal(ev.radio.fcnt, 42);
    assert_int_equal(ev.radio.fport, 2);
    assert_int_equal(ev.data_len, sizeof(good_data));
    assert_memory_equal(ev.data, good_data, sizeof(good_data));
    /* best first: -80 dBm beats -97 dBm although its SNR is lower */
    assert_int_equal(ev.radio.n_gateways, 2);
    assert_string_equal(ev.radio.gateways[0], "0016c001ff10a236");
    assert_string_equal(ev.radio.gateways[1], "0016c001ff10a235");
    assert_int_equal(ev.radio.rssi_dbm, -80);
    assert_true(ev.radio.snr_db == 3.0f);
    assert_int_equal(ev.radio.freq_hz, 868100000);
    assert_string_equal(ev.radio.datr, "SF7BW125");
}

static void test_time_with_offset(void **state)
{
    (void)state;
    struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    assert_int_equal(
        parse(variant("2026-11-23T09:17:03.123456Z", "2026-11-23T10:17:03+01:00"), &ev, reason), 0);
    assert_true(ev.time_ms == 1795425423000LL);
    /* a time that does not parse is left out, not fatal */
    assert_int_equal(parse(variant("2026-11-23T09:17:03.123456Z", "yesterday"), &ev, reason), 0);
    assert_true(ev.time_ms == -1);
}

/* The event's own reception time: `time`, else the best reception's gwTime, else its
 * nsTime; bounded from the receipt both ways. */
static void test_heard_time(void **state)
{
    (void)state;
    struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    const int64_t time_ms = 1795425423123LL; /* the event's time, 09:17:03.123Z */
    const int64_t hour_ms = 3600000, week_ms = 7 * 86400000LL, ahead_ms = 300000;
    int64_t heard = -7;
    const char *source = NULL;

    /* delivered an hour late (a broker's backlog after an outage): the event's time holds */
    assert_int_equal(parse(GOOD_EVENT, &ev, reason), 0);
    assert_int_equal(
        chirpstack_heard_time(&ev, time_ms + hour_ms, week_ms, ahead_ms, &heard, &source), 0);
    assert_true(heard == time_ms);
    assert_string_equal(source, "time");

    /* absurd: 1970 and 2100 are not trusted, and the receipt is left to stand */
    assert_int_equal(
        parse(variant("2026-11-23T09:17:03.123456Z", "1970-01-01T00:00:01Z"), &ev, reason), 0);
    assert_int_equal(
        chirpstack_heard_time(&ev, time_ms + hour_ms, week_ms, ahead_ms, &heard, &source), -1);
    assert_true(heard == 0);
    assert_string_equal(source, "time");
    assert_int_equal(
        parse(variant("2026-11-23T09:17:03.123456Z", "2100-01-01T00:00:00Z"), &ev, reason), 0);
    assert_int_equal(chirpstack_heard_time(&ev, time_ms, week_ms, ahead_ms, &heard, &source), -1);
    assert_true(heard == 0);
    /* at the bounds exactly: trusted; a millisecond past them: not */
    assert_int_equal(parse(GOOD_EVENT, &ev, reason), 0);
    assert_int_equal(
        chirpstack_heard_time(&ev, time_ms + week_ms, week_ms, ahead_ms, &heard, &source), 0);
    assert_int_equal(
        chirpstack_heard_time(&ev, time_ms + week_ms + 1, week_ms, ahead_ms, &heard, &source), -1);
    assert_int_equal(
        chirpstack_heard_time(&ev, time_ms - ahead_ms, week_ms, ahead_ms, &heard, &source), 0);
    assert_int_equal(
        chirpstack_heard_time(&ev, time_ms - ahead_ms - 1, week_ms, ahead_ms, &heard, &source), -1);

    /* without `time`: the best reception's gwTime (the -80 dBm one), else its nsTime */
    const char *rx = "\"rxInfo\":[{\"gatewayId\":\"0016c001ff10a235\",\"rssi\":-97,\"snr\":7.5,"
                     "\"gwTime\":\"2026-11-23T09:17:01Z\",\"nsTime\":\"2026-11-23T09:17:02Z\"},"
                     "{\"gatewayId\":\"0016C001FF10A236\",\"rssi\":-80,\"snr\":3.0,"
                     "\"nsTime\":\"2026-11-23T09:17:03.5Z\"}],";
    static char no_time[65536];
    snprintf(no_time, sizeof(no_time), "%s",
             variant("\"time\":\"2026-11-23T09:17:03.123456Z\",", ""));
    char *at = strstr(no_time, "\"rxInfo\":");
    char *end = strstr(at, "],") + 2;
    static char with_rx[65536];
    snprintf(with_rx, sizeof(with_rx), "%.*s%s%s", (int)(at - no_time), no_time, rx, end);
    assert_int_equal(parse(with_rx, &ev, reason), 0);
    assert_true(ev.time_ms == -1);
    assert_true(ev.gw_time_ms == 1795425421000LL); /* only the weaker one has a gwTime */
    assert_true(ev.ns_time_ms == 1795425423500LL); /* the best one's nsTime */
    assert_int_equal(chirpstack_heard_time(&ev, time_ms, week_ms, ahead_ms, &heard, &source), 0);
    assert_true(heard == 1795425421000LL);
    assert_string_equal(source, "rxInfo[].gwTime");
    ev.gw_time_ms = -1;
    assert_int_equal(chirpstack_heard_time(&ev, time_ms, week_ms, ahead_ms, &heard, &source), 0);
    assert_true(heard == 1795425423500LL);
    assert_string_equal(source, "rxInfo[].nsTime");

    /* none at all: nothing wrong, nothing heard */
    assert_int_equal(parse(no_time, &ev, reason), 0);
    assert_int_equal(chirpstack_heard_time(&ev, time_ms, week_ms, ahead_ms, &heard, &source), 0);
    assert_true(heard == 0);
    assert_null(source);
}

static void test_base64_padding(void **state)
{
    (void)state;
    struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    assert_int_equal(parse(variant("CAcQPCID6CAK", "CAc="), &ev, reason), 0); /* 08 07 */
    assert_int_equal(ev.data_len, 2);
    assert_int_equal(parse(variant("CAcQPCID6CAK", "CA=="), &ev, reason), 0);
    assert_int_equal(ev.data_len, 1);
    assert_int_equal(ev.data[0], 0x08);
    expect_bad(variant("CAcQPCID6CAK", "CAcQPCID6CA"), "data: base64 length");
    expect_bad(variant("CAcQPCID6CAK", "CA=QPCID6CAK"), "data: not base64");
    expect_bad(variant("CAcQPCID6CAK", "CAcQPC!D6CAK"), "data: not base64");
    expect_bad(variant("CAcQPCID6CAK", "C==="), "data: not base64");
}

static void test_no_data_is_not_bad(void **state)
{
    (void)state;
    struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    assert_int_equal(parse(variant("\"data\":\"CAcQPCID6CAK\",", ""), &ev, reason), 1);
    assert_int_equal(parse(variant("\"data\":\"CAcQPCID6CAK\"", "\"data\":\"\""), &ev, reason), 1);
    assert_int_equal(ev.data_len, 0);
}

static void test_oversize_data(void **state)
{
    (void)state;
    /* 243 bytes: one over LoRaWAN's largest FRMPayload */
    char b64[400];
    memset(b64, 'A', 324);
    b64[324] = '\0';
    expect_bad(variant("CAcQPCID6CAK", b64), "data: 243 bytes (max 242)");
    /* far larger: refused before it is decoded */
    static char huge[20000];
    memset(huge, 'A', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    expect_bad(variant("CAcQPCID6CAK", huge), "data: about");
    /* 242 bytes exactly are fine (the payload still has to decode later) */
    memset(b64, 'A', 324);
    b64[323] = '=';
    struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    assert_int_equal(parse(variant("CAcQPCID6CAK", b64), &ev, reason), 0);
    assert_int_equal(ev.data_len, 242);
}

static void test_broken_json(void **state)
{
    (void)state;
    expect_bad("", "event: not JSON");
    expect_bad("{", "event: not JSON");
    expect_bad("not json at all", "event: not JSON");
    expect_bad("[1,2,3]", "event: not a JSON object");
    expect_bad("null", "event: not a JSON object");
    char cut[sizeof(GOOD_EVENT)];
    for (size_t n = 0; n + 1 < sizeof(GOOD_EVENT); n++) {
        /* every truncation of a good event is refused, none crashes */
        memcpy(cut, GOOD_EVENT, n);
        struct chirpstack_uplink ev;
        char reason[CHIRPSTACK_REASON_SIZE];
        assert_int_equal(chirpstack_parse_uplink(cut, n, &ev, reason), -1);
    }
    /* 200 levels of nesting: cJSON's own limit (1000) is not reached, we refuse the shape */
    static char deep[512];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    deep[400] = '\0';
    expect_bad(deep, "event: not a JSON object");
}

static void test_missing_and_wrong_types(void **state)
{
    (void)state;
    expect_bad(variant("\"devEui\":\"70B3D57ED0001234\"", "\"x\":1"), "deviceInfo.devEui: missing");
    expect_bad(variant("\"devEui\":\"70B3D57ED0001234\"", "\"devEui\":7"),
               "deviceInfo.devEui: missing or not a string");
    expect_bad(variant("70B3D57ED0001234", "70B3D57ED000123"), "deviceInfo.devEui: not 16 hex");
    expect_bad(variant("70B3D57ED0001234", "70B3D57ED000123Z"), "deviceInfo.devEui: not 16 hex");
    expect_bad(variant("70B3D57ED0001234", "70B3D57ED00012345"), "deviceInfo.devEui: not 16 hex");
    /* A refused devEui leaves no part of itself in the event (fuzz_chirpstack found the
     * twelve good digits before a '!' kept, and unterminated when ev was not zeroed). */
    {
        struct chirpstack_uplink half;
        char why[CHIRPSTACK_REASON_SIZE];
        assert_int_equal(parse(variant("70B3D57ED0001234", "70B3D57ED000!234"), &half, why), -1);
        assert_string_equal(half.device, "");
        char id[FRAME_DEVICE_ID_SIZE];
        memset(id, 'x', sizeof(id));
        assert_int_equal(frame_parse_device_id("70B3D57ED000!234", 16, id), -1);
        assert_int_equal(id[0], 'x');
        assert_int_equal(id[FRAME_DEVICE_ID_LEN], 'x');
    }
    expect_bad(variant("\"deviceInfo\":{", "\"deviceInfo\":7,\"x\":{"), "deviceInfo: missing");
    expect_bad(variant("\"deduplicationId\":\"3e3a8b7c-1234-4f00-9a1b-0123456789ab\"", "\"a\":1"),
               "deduplicationId: missing");
    expect_bad(variant("\"3e3a8b7c-1234-4f00-9a1b-0123456789ab\"", "[]"),
               "deduplicationId: missing or not a string");
    expect_bad(variant("\"3e3a8b7c-1234-4f00-9a1b-0123456789ab\"", "\"\""),
               "deduplicationId: not 1-64");
    expect_bad(variant("\"3e3a8b7c-1234-4f00-9a1b-0123456789ab\"", "\"a b\""),
               "deduplicationId: not printable");
    expect_bad(variant("\"fCnt\":42", "\"fCnt\":\"42\""), "fCnt: missing or not an integer");
    expect_bad(variant("\"fCnt\":42", "\"fCnt\":4.5"), "fCnt: missing or not an integer");
    expect_bad(variant("\"fCnt\":42", "\"fCnt\":-1"), "fCnt: missing or not an integer");
    expect_bad(variant("\"fCnt\":42", "\"fCnt\":4294967296"), "fCnt: missing or not an integer");
    expect_bad(variant("\"fCnt\":42", "\"fCnt\":1e400"), "fCnt: missing or not an integer");
    expect_bad(variant("\"fPort\":2", "\"fPort\":0"), "fPort: missing or not an integer 1..255");
    expect_bad(variant("\"fPort\":2", "\"fPort\":256"), "fPort: missing or not an integer 1..255");
    expect_bad(variant("\"fPort\":2", "\"fPort\":true"), "fPort: missing or not an integer");
    expect_bad(variant("\"fPort\":2,", ""), "fPort: missing");
    expect_bad(variant("\"CAcQPCID6CAK\"", "42"), "data: not a string");

    /* a refused event keeps what it could read, for the quarantine */
    struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    assert_int_equal(parse(variant("\"fPort\":2", "\"fPort\":0"), &ev, reason), -1);
    assert_string_equal(ev.device, "70b3d57ed0001234");
    assert_int_equal(ev.data_len, sizeof(good_data));

    /* optional fields of the wrong type are ignored, not fatal */
    assert_int_equal(
        parse(variant("\"time\":\"2026-11-23T09:17:03.123456Z\"", "\"time\":5"), &ev, reason), 0);
    assert_true(ev.time_ms == -1);
    assert_int_equal(parse(variant("\"deviceName\":\"room-12\"", "\"deviceName\":{}"), &ev, reason),
                     0);
    assert_string_equal(ev.device_name, "");
    /* an applicationId that cannot go into a topic is not remembered */
    assert_int_equal(parse(variant("a1b2c3d4-0000-1111-2222-333344445555", "a/+/#"), &ev, reason),
                     0);
    assert_string_equal(ev.application_id, "");
    assert_int_equal(parse(variant("\"txInfo\":{", "\"txInfo\":[],\"x\":{"), &ev, reason), 0);
    assert_int_equal(ev.radio.freq_hz, 0);
    assert_string_equal(ev.radio.datr, "");
    assert_int_equal(parse(variant("\"spreadingFactor\":7", "\"spreadingFactor\":13"), &ev, reason),
                     0);
    assert_string_equal(ev.radio.datr, "");
    assert_int_equal(ev.radio.freq_hz, 868100000);
}

static void test_rx_info_hostile(void **state)
{
    (void)state;
    struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    /* 100 receptions: the 4 best are kept, best first */
    static char rx[16384], json[20000];
    size_t used = 0;
    used += (size_t)snprintf(rx + used, sizeof(rx) - used, "[");
    for (int i = 0; i < 100; i++)
        used += (size_t)snprintf(rx + used, sizeof(rx) - used,
                                 "%s{\"gatewayId\":\"00000000000000%02x\",\"rssi\":%d,\"snr\":%d}",
                                 i ? "," : "", i, -150 + (i * 37) % 100, i % 7);
    snprintf(rx + used, sizeof(rx) - used, "]");
    const char *from = strstr(GOOD_EVENT, "\"rxInfo\":") + 9;
    const char *to = strstr(from, "],") + 1;
    snprintf(json, sizeof(json), "%.*s%s%s", (int)(from - GOOD_EVENT), GOOD_EVENT, rx, to);
    assert_int_equal(parse(json, &ev, reason), 0);
    assert_int_equal(ev.radio.n_gateways, FRAME_MAX_GATEWAYS);
    /* rssi -150 + (i*37)%100 is highest (-51) for i*37 % 100 == 99: i = 27 (999) */
    assert_string_equal(ev.radio.gateways[0], "000000000000001b");
    assert_int_equal(ev.radio.rssi_dbm, -51);
    for (int i = 1; i < FRAME_MAX_GATEWAYS; i++) {
        assert_true(ev.radio.gateways[i][0] != '\0');
        assert_string_not_equal(ev.radio.gateways[i], ev.radio.gateways[i - 1]);
    }
    /* entries that are not objects, with bad ids or out-of-range values are skipped */
    assert_int_equal(
        parse(variant("{\"gatewayId\":\"0016c001ff10a235\",\"rssi\":-97,\"snr\":7.5}",
                      "7,\"x\",null,{\"gatewayId\":\"zz\",\"rssi\":-1,\"snr\":1},"
                      "{\"gatewayId\":\"0016c001ff10a237\",\"rssi\":-1000,\"snr\":1},"
                      "{\"gatewayId\":\"0016c001ff10a238\",\"rssi\":\"-1\",\"snr\":1}"),
              &ev, reason),
        0);
    assert_int_equal(ev.radio.n_gateways, 1);
    assert_string_equal(ev.radio.gateways[0], "0016c001ff10a236");
    /* rxInfo not an array: no gateways, the data still counts */
    assert_int_equal(parse(variant("\"rxInfo\":[", "\"rxInfo\":{},\"x\":["), &ev, reason), 0);
    assert_int_equal(ev.radio.n_gateways, 0);
    assert_int_equal(ev.data_len, sizeof(good_data));
}

static void test_oversize_event(void **state)
{
    (void)state;
    size_t len = CHIRPSTACK_MAX_EVENT_BYTES + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, ' ', len);
    struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    assert_int_equal(chirpstack_parse_uplink(big, len, &ev, reason), -1);
    assert_string_equal(reason, "event: 65537 bytes (max 65536)");
    free(big);
}

static void test_long_device_name_is_cut_on_a_character(void **state)
{
    (void)state;
    char name[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(name, "\xc3\xa6"); /* 'æ', two bytes each: 80 bytes */
    struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    assert_int_equal(parse(variant("room-12", name), &ev, reason), 0);
    assert_int_equal(strlen(ev.device_name), 64);
    assert_memory_equal(ev.device_name, name, 64);
}

static void test_downlink_command(void **state)
{
    (void)state;
    char out[512], reason[CHIRPSTACK_REASON_SIZE];
    const uint8_t payload[] = {0x08, 0x03, 0x10, 0xac, 0x02};
    int n = chirpstack_format_downlink("70B3D57ED0001234", 1, payload, sizeof(payload), true, out,
                                       sizeof(out), reason);
    assert_true(n > 0);
    cJSON *root = cJSON_Parse(out);
    assert_non_null(root);
    assert_string_equal(cJSON_GetObjectItem(root, "devEui")->valuestring, "70b3d57ed0001234");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(root, "confirmed")));
    assert_int_equal(cJSON_GetObjectItem(root, "fPort")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(root, "data")->valuestring, "CAMQrAI=");
    cJSON_Delete(root);

    assert_int_equal(chirpstack_format_downlink("70b3d57ed0001234", 0, payload, 1, false, out,
                                                sizeof(out), reason),
                     -1);
    assert_int_equal(chirpstack_format_downlink("70b3d57ed0001234", 224, payload, 1, false, out,
                                                sizeof(out), reason),
                     -1);
    assert_int_equal(chirpstack_format_downlink("70b3d57ed00012", 1, payload, 1, false, out,
                                                sizeof(out), reason),
                     -1);
    static uint8_t big[243];
    assert_int_equal(chirpstack_format_downlink("70b3d57ed0001234", 1, big, sizeof(big), false, out,
                                                sizeof(out), reason),
                     -1);
    assert_int_equal(
        chirpstack_format_downlink("70b3d57ed0001234", 1, big, 242, false, out, 100, reason), -1);
}

/* An uplink event as ChirpStack v4 writes it (its MQTT integration, JSON encoding), with
 * every field of integration.proto's UplinkEvent and gw.proto's UplinkRxInfo/UplinkTxInfo
 * in their protobuf JSON names, the ones sensorbro has no use for included. */
#define CHIRPSTACK_V4_EVENT                                                                        \
    "{\"deduplicationId\":\"c9dbe358-2578-4fb7-b295-66b44edc45a6\","                               \
    "\"time\":\"2026-11-23T09:17:03.123456789+00:00\","                                            \
    "\"deviceInfo\":{\"tenantId\":\"52f14cd4-c6f1-4fbd-8f87-4025e1d49242\","                       \
    "\"tenantName\":\"ChirpStack\",\"applicationId\":\"17c82e96-be03-4f38-aef3-f83d48582d97\","    \
    "\"applicationName\":\"Test application\","                                                    \
    "\"deviceProfileId\":\"14855bf7-d10d-4aee-b618-ebfcb64dc7ad\","                                \
    "\"deviceProfileName\":\"Test device-profile\",\"deviceName\":\"Test device\","                \
    "\"devEui\":\"0101010101010101\",\"deviceClassEnabled\":\"CLASS_A\","                          \
    "\"tags\":{\"key\":\"value\"}},"                                                               \
    "\"devAddr\":\"00189440\",\"adr\":true,\"dr\":1,\"fCnt\":4294967295,\"fPort\":255,"            \
    "\"confirmed\":true,\"data\":\"CAcQPCID6CAK\",\"object\":{\"temp\":21.0,\"list\":[1,2]},"      \
    "\"rxInfo\":[{\"gatewayId\":\"0016c001f153a14c\",\"uplinkId\":4217106255,"                     \
    "\"gwTime\":\"2026-11-23T09:17:03.1+00:00\",\"nsTime\":\"2026-11-23T09:17:03.219412Z\","       \
    "\"timeSinceGpsEpoch\":\"1447833441.100s\",\"rssi\":-36,\"snr\":10.5,\"channel\":2,"           \
    "\"rfChain\":1,\"board\":0,\"antenna\":0,"                                                     \
    "\"location\":{\"latitude\":52.3740364,\"longitude\":4.8896917,\"altitude\":3.0},"             \
    "\"context\":\"EFwMtA==\",\"metadata\":{\"region_config_id\":\"eu868\","                       \
    "\"region_common_name\":\"EU868\"},\"crcStatus\":\"CRC_OK\"}],"                                \
    "\"txInfo\":{\"frequency\":868500000,\"modulation\":{\"lora\":{\"bandwidth\":125000,"          \
    "\"spreadingFactor\":11,\"codeRate\":\"CR_4_5\"}}},\"regionConfigId\":\"eu868\"}"

static void test_chirpstack_v4_event(void **state)
{
    (void)state;
    struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    assert_int_equal(parse(CHIRPSTACK_V4_EVENT, &ev, reason), 0);
    assert_string_equal(ev.dedup_id, "c9dbe358-2578-4fb7-b295-66b44edc45a6");
    assert_true(ev.time_ms == 1795425423123LL); /* nanoseconds cut to the millisecond */
    assert_true(ev.gw_time_ms == 1795425423100LL);
    assert_true(ev.ns_time_ms == 1795425423219LL);
    assert_string_equal(ev.device, "0101010101010101");
    assert_string_equal(ev.device_name, "Test device");
    assert_string_equal(ev.application_id, "17c82e96-be03-4f38-aef3-f83d48582d97");
    assert_true(ev.radio.has_lorawan);
    assert_true(ev.radio.fcnt == 4294967295u); /* the bounds of fCnt and fPort */
    assert_int_equal(ev.radio.fport, 255);
    assert_int_equal(ev.radio.n_gateways, 1);
    assert_string_equal(ev.radio.gateways[0], "0016c001f153a14c");
    assert_int_equal(ev.radio.rssi_dbm, -36);
    assert_true(ev.radio.snr_db == 10.5f);
    assert_int_equal(ev.radio.freq_hz, 868500000);
    assert_string_equal(ev.radio.datr, "SF11BW125");
    assert_int_equal(ev.data_len, sizeof(good_data));
    assert_memory_equal(ev.data, good_data, sizeof(good_data));
    /* every truncation of it is refused, none crashes */
    char cut[sizeof(CHIRPSTACK_V4_EVENT)];
    for (size_t n = 0; n + 1 < sizeof(CHIRPSTACK_V4_EVENT); n++) {
        memcpy(cut, CHIRPSTACK_V4_EVENT, n);
        assert_int_equal(chirpstack_parse_uplink(cut, n, &ev, reason), -1);
    }
}

/* Each bounded field at its bounds and just past them. */
static void test_field_bounds(void **state)
{
    (void)state;
    struct chirpstack_uplink ev;
    char reason[CHIRPSTACK_REASON_SIZE];
    static const struct {
        const char *from, *to;
        int rc;
    } table[] = {
        {"\"fCnt\":42", "\"fCnt\":0", 0},
        {"\"fCnt\":42", "\"fCnt\":4294967295", 0},
        {"\"fCnt\":42", "\"fCnt\":4294967296", -1},
        {"\"fPort\":2", "\"fPort\":1", 0},
        {"\"fPort\":2", "\"fPort\":255", 0},
        {"\"fPort\":2", "\"fPort\":256", -1},
        {"\"fPort\":2", "\"fPort\":2.5", -1},
        {"\"3e3a8b7c-1234-4f00-9a1b-0123456789ab\"",
         "\"0123456789012345678901234567890123456789012345678901234567890123\"", 0}, /* 64 */
        {"\"3e3a8b7c-1234-4f00-9a1b-0123456789ab\"",
         "\"01234567890123456789012345678901234567890123456789012345678901234\"", -1}, /* 65 */
        {"\"3e3a8b7c-1234-4f00-9a1b-0123456789ab\"", "\"id\\u007f\"", -1},
        {"\"3e3a8b7c-1234-4f00-9a1b-0123456789ab\"", "\"~!\"", 0},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        int rc = parse(variant(table[i].from, table[i].to), &ev, reason);
        if (rc != table[i].rc)
            fail_msg("%s: %d (%s), expected %d", table[i].to, rc, reason, table[i].rc);
    }
    /* optional radio fields: kept in range, left out past it, the event kept either way */
    static const struct {
        const char *from, *to;
        int n_gateways;
        int16_t rssi;
    } rx[] = {
        {"\"rssi\":-97", "\"rssi\":-200", 2, -80},
        {"\"rssi\":-80", "\"rssi\":50", 2, 50},
        {"\"rssi\":-80", "\"rssi\":51", 1, -97},
        {"\"rssi\":-80", "\"rssi\":-201", 1, -97},
        {"\"rssi\":-80", "\"rssi\":-80.5", 1, -97}, /* rssi is int32 in gw.proto */
        {"\"snr\":3.0", "\"snr\":50", 2, -80},
        {"\"snr\":3.0", "\"snr\":-50.5", 1, -97},
        {"\"gatewayId\":\"0016C001FF10A236\"", "\"gatewayId\":\"0016C001FF10A23\"", 1, -97},
    };
    for (size_t i = 0; i < sizeof(rx) / sizeof(rx[0]); i++) {
        assert_int_equal(parse(variant(rx[i].from, rx[i].to), &ev, reason), 0);
        if (ev.radio.n_gateways != rx[i].n_gateways || ev.radio.rssi_dbm != rx[i].rssi)
            fail_msg("%s: %u gateways, best %d dBm", rx[i].to, ev.radio.n_gateways,
                     ev.radio.rssi_dbm);
    }
    static const struct {
        const char *from, *to, *datr;
        uint32_t freq_hz;
    } tx[] = {
        {"\"spreadingFactor\":7", "\"spreadingFactor\":5", "SF5BW125", 868100000},
        {"\"spreadingFactor\":7", "\"spreadingFactor\":12", "SF12BW125", 868100000},
        {"\"spreadingFactor\":7", "\"spreadingFactor\":4", "", 868100000},
        {"\"bandwidth\":125000", "\"bandwidth\":1625000", "SF7BW1625", 868100000},
        {"\"bandwidth\":125000", "\"bandwidth\":1626000", "", 868100000},
        {"\"bandwidth\":125000", "\"bandwidth\":125500", "", 868100000}, /* not whole kHz */
        {"\"frequency\":868100000", "\"frequency\":0", "SF7BW125", 0},
        {"\"frequency\":868100000", "\"frequency\":4294967295", "SF7BW125", 4294967295u},
        {"\"frequency\":868100000", "\"frequency\":4294967296", "SF7BW125", 0},
        {"\"frequency\":868100000", "\"frequency\":\"868100000\"", "SF7BW125", 0},
    };
    for (size_t i = 0; i < sizeof(tx) / sizeof(tx[0]); i++) {
        assert_int_equal(parse(variant(tx[i].from, tx[i].to), &ev, reason), 0);
        if (strcmp(ev.radio.datr, tx[i].datr) != 0 || ev.radio.freq_hz != tx[i].freq_hz)
            fail_msg("%s: datr \"%s\", %u Hz", tx[i].to, ev.radio.datr, ev.radio.freq_hz);
    }
    /* a gateway listed twice counts once: its first entry */
    assert_int_equal(
        parse(variant("\"gatewayId\":\"0016C001FF10A236\"", "\"gatewayId\":\"0016c001ff10a235\""),
              &ev, reason),
        0);
    assert_int_equal(ev.radio.n_gateways, 1);
    assert_int_equal(ev.radio.rssi_dbm, -97);
    /* times that are not RFC 3339 or lie before 1970 are unknown, not fatal */
    static const char *const bad_times[] = {"2026-02-30T09:17:03Z", "2026-11-23T09:17:03",
                                            "1969-12-31T23:59:59Z", "2026-11-23T 9:17:03Z",
                                            "1970-01-01T00:30:00+01:00"};
    for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
        assert_int_equal(parse(variant("2026-11-23T09:17:03.123456Z", bad_times[i]), &ev, reason),
                         0);
        assert_true(ev.time_ms == -1);
    }
}

/* data cut anywhere: a length base64 cannot have, or fewer bytes; never more, never a crash */
static void test_truncated_data(void **state)
{
    (void)state;
    const char *b64 = "CAcQPCID6CAK";
    for (size_t n = 0; n < strlen(b64); n++) {
        char cut[16];
        snprintf(cut, sizeof(cut), "%.*s", (int)n, b64);
        struct chirpstack_uplink ev;
        char reason[CHIRPSTACK_REASON_SIZE];
        int rc = parse(variant(b64, cut), &ev, reason);
        if (n % 4 != 0) {
            assert_int_equal(rc, -1);
            assert_memory_equal(reason, "data: base64 length", 19);
        } else {
            assert_int_equal(rc, n == 0 ? 1 : 0);
            assert_int_equal(ev.data_len, n / 4 * 3);
            assert_memory_equal(ev.data, good_data, ev.data_len);
        }
    }
}

static void test_downlink_command_forms(void **state)
{
    (void)state;
    char out[512], reason[CHIRPSTACK_REASON_SIZE];
    /* the exact text: ChirpStack's DownlinkCommand JSON, the EUI in lower case */
    const uint8_t payload[] = {1, 2, 3, 4, 5, 6, 7, 8};
    int n = chirpstack_format_downlink("0101010101010101", 10, payload, sizeof(payload), false, out,
                                       sizeof(out), reason);
    const char *want = "{\"devEui\":\"0101010101010101\",\"confirmed\":false,\"fPort\":10,\"data\":"
                       "\"AQIDBAUGBwg=\"}";
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(out, want);
    /* exactly the room it needs, and one byte less */
    assert_int_equal(chirpstack_format_downlink("0101010101010101", 10, payload, sizeof(payload),
                                                false, out, (size_t)n + 1, reason),
                     n);
    assert_int_equal(chirpstack_format_downlink("0101010101010101", 10, payload, sizeof(payload),
                                                false, out, (size_t)n, reason),
                     -1);
    assert_memory_equal(reason, "downlink command does not fit", 29);
    /* no payload, port 223, the largest payload */
    n = chirpstack_format_downlink("0101010101010101", 223, NULL, 0, true, out, sizeof(out),
                                   reason);
    assert_true(n > 0);
    cJSON *root = cJSON_Parse(out);
    assert_string_equal(cJSON_GetObjectItem(root, "data")->valuestring, "");
    assert_int_equal(cJSON_GetObjectItem(root, "fPort")->valueint, 223);
    cJSON_Delete(root);
    static uint8_t big[CHIRPSTACK_MAX_DATA_BYTES];
    memset(big, 0xff, sizeof(big));
    n = chirpstack_format_downlink("0101010101010101", 1, big, sizeof(big), false, out, sizeof(out),
                                   reason);
    assert_true(n > 0);
    root = cJSON_Parse(out);
    assert_int_equal(strlen(cJSON_GetObjectItem(root, "data")->valuestring), 324);
    cJSON_Delete(root);
    /* bad arguments, each named */
    assert_int_equal(
        chirpstack_format_downlink(NULL, 1, payload, 1, false, out, sizeof(out), reason), -1);
    assert_string_equal(reason, "devEui: not 16 hex digits");
    assert_int_equal(
        chirpstack_format_downlink("0101010101010101", 1, NULL, 1, false, out, sizeof(out), reason),
        -1);
    assert_memory_equal(reason, "payload:", 8);
    assert_int_equal(chirpstack_format_downlink("0101010101010101", 0, payload, 1, false, out,
                                                sizeof(out), reason),
                     -1);
    assert_string_equal(reason, "fPort 0: expected 1..223");
}

static void test_application_id(void **state)
{
    (void)state;
    assert_true(chirpstack_is_application_id("17c82e96-be03-4f38-aef3-f83d48582d97", 36));
    assert_true(chirpstack_is_application_id("app_1.x", 7));
    char long_id[66];
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    assert_true(chirpstack_is_application_id(long_id, 64));
    assert_false(chirpstack_is_application_id(long_id, 65));
    assert_false(chirpstack_is_application_id("", 0));
    assert_false(chirpstack_is_application_id("a/b", 3));
    assert_false(chirpstack_is_application_id("+", 1));
    assert_false(chirpstack_is_application_id("#", 1));
    assert_false(chirpstack_is_application_id("a b", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field),
        cmocka_unit_test(test_time_with_offset),
        cmocka_unit_test(test_heard_time),
        cmocka_unit_test(test_base64_padding),
        cmocka_unit_test(test_no_data_is_not_bad),
        cmocka_unit_test(test_oversize_data),
        cmocka_unit_test(test_broken_json),
        cmocka_unit_test(test_missing_and_wrong_types),
        cmocka_unit_test(test_rx_info_hostile),
        cmocka_unit_test(test_oversize_event),
        cmocka_unit_test(test_long_device_name_is_cut_on_a_character),
        cmocka_unit_test(test_downlink_command),
        cmocka_unit_test(test_chirpstack_v4_event),
        cmocka_unit_test(test_field_bounds),
        cmocka_unit_test(test_truncated_data),
        cmocka_unit_test(test_downlink_command_forms),
        cmocka_unit_test(test_application_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
