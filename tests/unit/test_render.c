/*
 * test_render.c - render.c: the `json` profile field by field, parsed back with cJSON:
 * id (with its epoch), times (heard too), status names, scaling with units in keys, channels,
 * sample rows, and the error when the output buffer is too small.
 */
#include <setjmp.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "decode.h"
#include "render.h"
#include "sensorbro/v1/telemetry.pb-c.h"

#define RECEIVED_MS 1795425600123LL /* 2026-11-23T09:20:00.123Z */
#define EPOCH       1795000000LL    /* the device's message epoch (journal.h) */

static struct decoder decoder;
static struct decoded_uplink uplink;
static char json[RENDER_MAX_JSON_BYTES];

static struct render_meta meta = {.device = "70b3d57ed0001234",
                                  .gateway = "town-hall",
                                  .transport = "coap",
                                  .received_ms = RECEIVED_MS,
                                  .epoch = EPOCH};

static cJSON *render(const Sensorbro__V1__Uplink *msg)
{
    static uint8_t frame[FRAME_MAX_PAYLOAD_BYTES];
    char reason[DECODE_REASON_SIZE], why[RENDER_REASON_SIZE];
    size_t len = sensorbro__v1__uplink__pack(msg, frame);
    assert_int_equal(decode_uplink(&decoder, frame, len, RECEIVED_MS, &uplink, reason), 0);
    size_t json_len = 0;
    assert_int_equal(render_json(&uplink, &meta, json, sizeof(json), &json_len, why), 0);
    assert_int_equal(json_len, strlen(json));
    cJSON *doc = cJSON_Parse(json);
    assert_non_null(doc);
    return doc;
}

static void assert_string_field(const cJSON *obj, const char *key, const char *expected)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(item))
        fail_msg("%s is not a string in %s", key, json);
    assert_string_equal(item->valuestring, expected);
}

static void assert_number_field(const cJSON *obj, const char *key, double expected)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(item))
        fail_msg("%s is not a number in %s", key, json);
    /* the values are scaled integers: exact in JSON text, so compare exactly */
    if (item->valuedouble != expected)
        fail_msg("%s: expected %.17g, got %.17g", key, expected, item->valuedouble);
}

static void test_message_fields(void **state)
{
    (void)state;
    int32_t t[3] = {-525, 25, -12}, h[1] = {455}, c[2] = {612, 38}, b[1] = {3012};
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.seq = 4242;
    msg.interval_s = 300;
    msg.age_s = 20;
    msg.status = 0x01 | 0x10 | 0x80; /* low battery, clock unsynced, an unknown bit 7 */
    msg.config_version = 3;
    msg.temperature = t;
    msg.n_temperature = 3;
    msg.relative_humidity = h;
    msg.n_relative_humidity = 1;
    msg.co2 = c;
    msg.n_co2 = 2;
    msg.battery = b;
    msg.n_battery = 1;
    cJSON *doc = render(&msg);

    assert_string_field(doc, "id", "70b3d57ed0001234-1795000000-4242");
    assert_string_field(doc, "device", "70b3d57ed0001234");
    assert_string_field(doc, "gateway", "town-hall");
    assert_number_field(doc, "seq", 4242);
    assert_number_field(doc, "epoch", 1795000000);
    /* no heard time given (CoAP): no "heard" */
    assert_null(cJSON_GetObjectItemCaseSensitive(doc, "heard"));
    /* received 09:20:00.123, last sample 20 s earlier, first 600 s before that */
    assert_string_field(doc, "received", "2026-11-23T09:20:00.123Z");
    assert_string_field(doc, "time", "2026-11-23T09:09:40Z");
    assert_string_field(doc, "transport", "coap");
    assert_number_field(doc, "interval_s", 300);
    assert_number_field(doc, "config_version", 3);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(doc, "alert")));

    const cJSON *status = cJSON_GetObjectItemCaseSensitive(doc, "status");
    assert_int_equal(cJSON_GetArraySize(status), 3);
    assert_string_equal(cJSON_GetArrayItem(status, 0)->valuestring, "low_battery");
    assert_string_equal(cJSON_GetArrayItem(status, 1)->valuestring, "clock_unsynced");
    assert_string_equal(cJSON_GetArrayItem(status, 2)->valuestring, "bit7");

    const cJSON *values = cJSON_GetObjectItemCaseSensitive(doc, "values");
    assert_int_equal(cJSON_GetArraySize(values), 4);
    assert_number_field(values, "temperature_c", -5.12);
    assert_number_field(values, "relative_humidity_pct", 45.5);
    assert_number_field(values, "co2_ppm", 650);
    assert_number_field(values, "battery_v", 3.012);

    /* rows: one per sampling instant; shorter series start later */
    const cJSON *samples = cJSON_GetObjectItemCaseSensitive(doc, "samples");
    assert_int_equal(cJSON_GetArraySize(samples), 3);
    const cJSON *r0 = cJSON_GetArrayItem(samples, 0);
    const cJSON *r1 = cJSON_GetArrayItem(samples, 1);
    const cJSON *r2 = cJSON_GetArrayItem(samples, 2);
    assert_string_field(r0, "time", "2026-11-23T09:09:40Z");
    assert_int_equal(cJSON_GetArraySize(r0), 2);
    assert_number_field(r0, "temperature_c", -5.25);
    assert_string_field(r1, "time", "2026-11-23T09:14:40Z");
    assert_int_equal(cJSON_GetArraySize(r1), 3);
    assert_number_field(r1, "temperature_c", -5);
    assert_number_field(r1, "co2_ppm", 612);
    assert_string_field(r2, "time", "2026-11-23T09:19:40Z");
    assert_int_equal(cJSON_GetArraySize(r2), 5);
    assert_number_field(r2, "relative_humidity_pct", 45.5);
    assert_number_field(r2, "battery_v", 3.012);
    cJSON_Delete(doc);
}

/* A LoRaWAN frame carries how it was heard: counter, port, radio quality and gateways. */
static void test_lorawan_radio_fields(void **state)
{
    (void)state;
    int32_t t[1] = {2150};
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.seq = 7;
    msg.temperature = t;
    msg.n_temperature = 1;
    struct frame_radio radio = {.has_lorawan = true,
                                .fcnt = 70000,
                                .fport = 1,
                                .rssi_dbm = -117,
                                .snr_db = -7.25f,
                                .freq_hz = 868100000,
                                .datr = "SF12BW125",
                                .n_gateways = 2,
                                .gateways = {"aa555a0000000001", "aa555a0000000002"}};
    meta.radio = &radio;
    cJSON *doc = render(&msg);
    meta.radio = NULL;
    assert_number_field(doc, "fcnt", 70000);
    assert_number_field(doc, "fport", 1);
    assert_number_field(doc, "rssi_dbm", -117);
    assert_number_field(doc, "snr_db", -7.25);
    assert_number_field(doc, "frequency_hz", 868100000);
    assert_string_field(doc, "datr", "SF12BW125");
    const cJSON *gateways = cJSON_GetObjectItemCaseSensitive(doc, "gateways");
    assert_int_equal(cJSON_GetArraySize(gateways), 2);
    assert_string_equal(cJSON_GetArrayItem(gateways, 1)->valuestring, "aa555a0000000002");
    cJSON_Delete(doc);
    /* other transports have none of these keys */
    doc = render(&msg);
    assert_null(cJSON_GetObjectItemCaseSensitive(doc, "fcnt"));
    assert_null(cJSON_GetObjectItemCaseSensitive(doc, "gateways"));
    cJSON_Delete(doc);
}

/* An SNR no radio reports, as a damaged journal row can hold: refused with a reason, not
 * converted to an integer it does not fit (undefined behaviour, issue 11). */
static void test_snr_out_of_range_refused(void **state)
{
    (void)state;
    int32_t t[1] = {2150};
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.temperature = t;
    msg.n_temperature = 1;
    cJSON_Delete(render(&msg)); /* decodes msg into uplink */
    struct frame_radio radio = {.has_lorawan = true, .fcnt = 1, .fport = 1, .snr_db = 1000};
    meta.radio = &radio;
    size_t len = 0;
    char why[RENDER_REASON_SIZE];
    assert_int_equal(render_json(&uplink, &meta, json, sizeof(json), &len, why), 0);
    assert_non_null(strstr(json, "\"snr_db\":1000,"));
    radio.snr_db = -1000;
    assert_int_equal(render_json(&uplink, &meta, json, sizeof(json), &len, why), 0);
    const float bad[] = {1000.25f, -3e9f, 1e30f, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        radio.snr_db = bad[i];
        why[0] = '\0';
        assert_int_equal(render_json(&uplink, &meta, json, sizeof(json), &len, why), -1);
        assert_non_null(strstr(why, "snr_db"));
    }
    meta.radio = NULL;
}

static void test_units_channels_and_synced_time(void **state)
{
    (void)state;
    int32_t p[1] = {101325}, e[1] = {-7}, s[1] = {355}, pm[1] = {123};
    Sensorbro__V1__Series ch = SENSORBRO__V1__SERIES__INIT, dust = SENSORBRO__V1__SERIES__INIT;
    Sensorbro__V1__Series *extra[2] = {&ch, &dust};
    ch.quantity = 4;
    ch.channel = 2;
    ch.samples = p; /* 1013.25 degC is absurd but must still scale exactly */
    ch.n_samples = 1;
    dust.quantity = 33;
    dust.samples = pm;
    dust.n_samples = 1;
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.time = 1795424600; /* synced clock: 2026-11-23T09:03:20Z */
    msg.alert = 1;
    msg.pressure = p;
    msg.n_pressure = 1;
    msg.energy = e;
    msg.n_energy = 1;
    msg.sound_level = s;
    msg.n_sound_level = 1;
    msg.extra = extra;
    msg.n_extra = 2;
    cJSON *doc = render(&msg);
    assert_string_field(doc, "time", "2026-11-23T09:03:20Z");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(doc, "alert")));
    assert_null(cJSON_GetObjectItemCaseSensitive(doc, "config_version"));
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "status")), 0);
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(doc, "values");
    assert_number_field(values, "pressure_hpa", 1013.25);
    assert_number_field(values, "energy_wh", -7);
    assert_number_field(values, "sound_level_dba", 35.5);
    assert_number_field(values, "temperature_c_ch2", 1013.25);
    assert_number_field(values, "pm2_5_ugm3", 12.3);
    cJSON_Delete(doc);
}

static void test_no_series(void **state)
{
    (void)state;
    /* a status is all it has (an uplink with neither is refused by the decoder) */
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.seq = 1;
    msg.age_s = 3;
    msg.status = 0x04;
    cJSON *doc = render(&msg);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "values")), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "samples")), 0);
    assert_string_field(doc, "time", "2026-11-23T09:19:57Z");
    cJSON_Delete(doc);
}

static void test_buffer_too_small(void **state)
{
    (void)state;
    int32_t t[2] = {2000, 1};
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.interval_s = 60;
    msg.temperature = t;
    msg.n_temperature = 2;
    cJSON_Delete(render(&msg));
    size_t full = strlen(json), len = 0;
    char why[RENDER_REASON_SIZE];
    char small[64];
    assert_int_equal(render_json(&uplink, &meta, small, sizeof(small), &len, why), -1);
    assert_non_null(strstr(why, "does not fit"));
    /* the text plus its terminating NUL is exactly enough; one byte less is not */
    static char exact[RENDER_MAX_JSON_BYTES];
    assert_int_equal(render_json(&uplink, &meta, exact, full, &len, why), -1);
    assert_int_equal(render_json(&uplink, &meta, exact, full + 1, &len, why), 0);
    assert_int_equal(len, full);
    assert_string_equal(exact, json);
}

/* Asserts that the JSON holds "key":text as a whole number token. */
static void assert_number_text(const char *key, const char *text)
{
    char needle[96];
    snprintf(needle, sizeof(needle), "\"%s\":%s", key, text);
    for (const char *p = json; (p = strstr(p, needle)) != NULL; p++) {
        char next = p[strlen(needle)];
        if (next == ',' || next == '}')
            return;
    }
    fail_msg("%s not in %s", needle, json);
}

/* Numbers are printed exactly from the scaled integers: check the text itself. */
static void test_number_text(void **state)
{
    (void)state;
    int32_t t[6] = {INT32_MIN, 0, 1, 4, -5, 95}; /* MIN, MIN, MIN+1, MIN+5, MIN, MIN+95 */
    int32_t b[1] = {INT32_MAX};
    int32_t h[3] = {-1, 1, 455}; /* -0.1, 0, 45.5 */
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.interval_s = 1;
    msg.temperature = t;
    msg.n_temperature = 6;
    msg.battery = b;
    msg.n_battery = 1;
    msg.relative_humidity = h;
    msg.n_relative_humidity = 3;
    cJSON_Delete(render(&msg));
    assert_number_text("temperature_c", "-21474836.48");
    assert_number_text("temperature_c", "-21474836.47");
    assert_number_text("temperature_c", "-21474836.43");
    assert_number_text("temperature_c", "-21474835.53");
    assert_number_text("battery_v", "2147483.647");
    assert_number_text("relative_humidity_pct", "-0.1");
    assert_number_text("relative_humidity_pct", "0");
    assert_number_text("relative_humidity_pct", "45.5");

    int32_t small[3] = {5, -10, 105}; /* 0.05, -0.05, 1 */
    msg.n_battery = msg.n_relative_humidity = 0;
    msg.temperature = small;
    msg.n_temperature = 3;
    cJSON_Delete(render(&msg));
    assert_number_text("temperature_c", "0.05");
    assert_number_text("temperature_c", "-0.05");
    assert_number_text("temperature_c", "1");
}

static void test_strings_escaped(void **state)
{
    (void)state;
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.status = 0x01;
    cJSON_Delete(render(&msg));
    struct render_meta odd = meta;
    odd.gateway = "gw \"a\"\\b\n\x01";
    size_t len;
    char why[RENDER_REASON_SIZE];
    assert_int_equal(render_json(&uplink, &odd, json, sizeof(json), &len, why), 0);
    cJSON *doc = cJSON_Parse(json);
    assert_non_null(doc);
    assert_string_field(doc, "gateway", "gw \"a\"\\b\n\x01");
    cJSON_Delete(doc);
}

/* The largest message a frame can produce fits RENDER_MAX_JSON_BYTES: long keys (channel
 * numbers of ten digits), one-byte samples, as many as FRAME_MAX_PAYLOAD_BYTES holds. */
static void test_worst_case_fits(void **state)
{
    (void)state;
    static int32_t zeros[DECODE_MAX_SAMPLES_PER_SERIES];
    zeros[0] = -2147483647;
    Sensorbro__V1__Series series[4];
    Sensorbro__V1__Series *ptrs[4];
    for (int i = 0; i < 4; i++) {
        sensorbro__v1__series__init(&series[i]);
        series[i].quantity = 5;
        series[i].channel = 4294967295u - (uint32_t)i;
        series[i].samples = zeros;
        series[i].n_samples = 231; /* 4 x 254 bytes + header: 1022 of 1024 */
        ptrs[i] = &series[i];
    }
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.seq = UINT32_MAX;
    msg.interval_s = 1;
    msg.status = UINT32_MAX;
    msg.extra = ptrs;
    msg.n_extra = 4;
    assert_true(sensorbro__v1__uplink__get_packed_size(&msg) <= FRAME_MAX_PAYLOAD_BYTES);
    cJSON *doc = render(&msg);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "samples")), 231);
    cJSON_Delete(doc);
    assert_true(strlen(json) < RENDER_MAX_JSON_BYTES);
}

static void test_message_id(void **state)
{
    (void)state;
    char id[RENDER_MESSAGE_ID_SIZE];
    render_message_id("ffffffffffffffff", INT64_MAX, UINT32_MAX, id);
    assert_string_equal(id, "ffffffffffffffff-9223372036854775807-4294967295");
    render_message_id("70b3d57ed0001234", 1795000000, 0, id);
    assert_string_equal(id, "70b3d57ed0001234-1795000000-0");
    /* frames journaled before epochs existed keep the id they may have been sent under */
    render_message_id("70b3d57ed0001234", 0, 4242, id);
    assert_string_equal(id, "70b3d57ed0001234-4242");
}

/* A frame heard long before it reached the gateway (a network server's backlog): "heard"
 * is rendered beside "received"; sample times are the decoder's (anchored by the caller). */
static void test_heard_time(void **state)
{
    (void)state;
    int32_t t[1] = {2100};
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.seq = 7;
    msg.temperature = t;
    msg.n_temperature = 1;
    meta.heard_ms = RECEIVED_MS - 3600000 + 877; /* 08:20:01.000Z */
    cJSON *doc = render(&msg);
    meta.heard_ms = 0;
    assert_string_field(doc, "heard", "2026-11-23T08:20:01.000Z");
    assert_string_field(doc, "received", "2026-11-23T09:20:00.123Z");
    cJSON_Delete(doc);
}

/* Profile senml: one RFC 8428 record per sample, bn and bt on the first, t relative to bt,
 * units from the SenML registry (values in them) or none. */
static void test_senml(void **state)
{
    (void)state;
    int32_t t[3] = {-525, 25, -12}, h[1] = {455}, c[2] = {612, 38}, b[1] = {3012};
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.seq = 7;
    msg.interval_s = 300;
    msg.age_s = 20;
    msg.temperature = t;
    msg.n_temperature = 3;
    msg.relative_humidity = h;
    msg.n_relative_humidity = 1;
    msg.co2 = c;
    msg.n_co2 = 2;
    msg.battery = b;
    msg.n_battery = 1;
    static uint8_t frame[FRAME_MAX_PAYLOAD_BYTES];
    char reason[DECODE_REASON_SIZE], why[RENDER_REASON_SIZE];
    size_t len = sensorbro__v1__uplink__pack(&msg, frame);
    assert_int_equal(decode_uplink(&decoder, frame, len, RECEIVED_MS, &uplink, reason), 0);
    size_t json_len = 0;
    assert_int_equal(render_senml(&uplink, &meta, json, sizeof(json), &json_len, why), 0);
    assert_int_equal(json_len, strlen(json));
    cJSON *doc = cJSON_Parse(json);
    assert_non_null(doc);
    assert_true(cJSON_IsArray(doc));
    assert_int_equal(cJSON_GetArraySize(doc), 7);
    const cJSON *r0 = cJSON_GetArrayItem(doc, 0);
    assert_string_field(r0, "bn", "urn:dev:mac:70b3d57ed0001234:");
    assert_number_field(r0, "bt", 1795425580); /* received 09:20:00, last sample 20 s before */
    assert_string_field(r0, "n", "temperature_c");
    assert_string_field(r0, "u", "Cel");
    assert_number_field(r0, "v", -5.25);
    assert_number_field(r0, "t", -600);
    const cJSON *r2 = cJSON_GetArrayItem(doc, 2);
    assert_null(cJSON_GetObjectItemCaseSensitive(r2, "bn"));
    assert_number_field(r2, "v", -5.12);
    assert_null(cJSON_GetObjectItemCaseSensitive(r2, "t")); /* the last sample: at bt */
    const cJSON *r3 = cJSON_GetArrayItem(doc, 3);
    assert_string_field(r3, "n", "relative_humidity_pct");
    assert_string_field(r3, "u", "%RH");
    assert_number_field(r3, "v", 45.5);
    const cJSON *r4 = cJSON_GetArrayItem(doc, 4);
    assert_string_field(r4, "n", "co2_ppm");
    assert_null(cJSON_GetObjectItemCaseSensitive(r4, "u")); /* ppm: not in RFC 8428's units */
    assert_number_field(r4, "v", 612);
    assert_number_field(r4, "t", -300);
    const cJSON *r6 = cJSON_GetArrayItem(doc, 6);
    assert_string_field(r6, "n", "battery_v");
    assert_string_field(r6, "u", "V");
    assert_number_field(r6, "v", 3.012);
    cJSON_Delete(doc);
    /* too small a buffer: an error, not a cut message */
    assert_int_equal(render_senml(&uplink, &meta, json, 40, &json_len, why), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_fields),
        cmocka_unit_test(test_units_channels_and_synced_time),
        cmocka_unit_test(test_no_series),
        cmocka_unit_test(test_buffer_too_small),
        cmocka_unit_test(test_number_text),
        cmocka_unit_test(test_strings_escaped),
        cmocka_unit_test(test_worst_case_fits),
        cmocka_unit_test(test_message_id),
        cmocka_unit_test(test_heard_time),
        cmocka_unit_test(test_lorawan_radio_fields),
        cmocka_unit_test(test_snr_out_of_range_refused),
        cmocka_unit_test(test_senml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
