/*
 * seeds.c - writes the seed corpora of the gateway's fuzz targets (tests/fuzz/corpus/) and
 * the dictionary of the config target, from the inputs the unit tests use: the same
 * Uplinks (test_decode.c, test_render.c), LoRaWAN keys and frames (test_lorawan.c,
 * test_edge_ns.c), GWMP datagrams (test_gwmp.c), ChirpStack events (test_chirpstack.c) and
 * configuration files (test_config.c), built with the project's own encoders where there
 * is one, so a seed is always a well-formed input of today's code.
 *
 *   fuzz_seeds CORPUS_DIR DICT_DIR     (tests/fuzz/make-corpus runs it)
 *
 * The edge_ns seeds are scripts in fuzz_edge_ns.c's format: keep the two in step.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "lorawan/gwmp.h"
#include "lorawan/lorawan.h"
#include "sensorbro/v1/telemetry.pb-c.h"

static const char *corpus_dir;

static void write_seed(const char *target, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", corpus_dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", corpus_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void write_text(const char *target, const char *name, const char *text)
{
    write_seed(target, name, text, strlen(text));
}

/* ---- decode_render: fuzz_decode_render.c's 28-byte row header, then an Uplink ---- */

struct header {
    uint32_t received_s; /* since 2020 */
    uint16_t received_frac_ms;
    uint8_t heard;
    uint16_t heard_before_s;
    uint8_t epoch;
    uint8_t flags; /* 1 LoRaWAN, 2-4 transport, 8 no radio */
    uint32_t fcnt;
    uint8_t fport;
    int16_t rssi;
    float snr;
    uint32_t freq_hz;
    uint8_t datr, n_gateways;
};

static size_t put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return n;
}

static size_t put_header(uint8_t *p, const struct header *h)
{
    size_t at = 0;
    uint32_t snr_bits;
    memcpy(&snr_bits, &h->snr, 4);
    at += put_le(p + at, h->received_s, 4);
    at += put_le(p + at, h->received_frac_ms, 2);
    at += put_le(p + at, h->heard, 1);
    at += put_le(p + at, h->heard_before_s, 2);
    at += put_le(p + at, h->epoch, 1);
    at += put_le(p + at, h->flags, 1);
    at += put_le(p + at, h->fcnt, 4);
    at += put_le(p + at, h->fport, 1);
    at += put_le(p + at, (uint16_t)h->rssi, 2);
    at += put_le(p + at, snr_bits, 4);
    at += put_le(p + at, h->freq_hz, 4);
    at += put_le(p + at, h->datr, 1);
    at += put_le(p + at, h->n_gateways, 1);
    return at; /* 28 */
}

static void uplink_seed(const char *name, const Sensorbro__V1__Uplink *msg, const struct header *h)
{
    uint8_t buf[2048];
    size_t at = put_header(buf, h);
    at += sensorbro__v1__uplink__pack(msg, buf + at);
    write_seed("decode_render", name, buf, at);
}

static void decode_render_seeds(void)
{
    /* 2026-11-23T09:20:00.123Z, test_decode.c's reception time */
    struct header coap = {
        .received_s = 1795425600 - 1577836800, .received_frac_ms = 123, .epoch = 200, .flags = 8};
    struct header lorawan = coap;
    lorawan.flags = 1 | 2;
    lorawan.fcnt = 42;
    lorawan.fport = 1;
    lorawan.rssi = -97;
    lorawan.snr = 7.5f;
    lorawan.freq_hz = 868100000;
    lorawan.datr = 2;
    lorawan.n_gateways = 2;
    lorawan.heard = 1;
    lorawan.heard_before_s = 3;

    /* test_decode.c: every fixed quantity, with negative values and deltas */
    int32_t deltas[3] = {-500, 25, -30};
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    msg.seq = 7;
    msg.interval_s = 300;
    msg.age_s = 12;
    msg.status = 0x11;
    msg.config_version = 9;
    msg.alert = 1;
    msg.n_temperature = msg.n_relative_humidity = msg.n_co2 = msg.n_battery = 3;
    msg.n_sound_level = msg.n_occupancy = msg.n_illuminance = msg.n_pressure = 3;
    msg.n_water_volume = msg.n_energy = 3;
    msg.temperature = msg.relative_humidity = msg.co2 = msg.battery = deltas;
    msg.sound_level = msg.occupancy = msg.illuminance = msg.pressure = deltas;
    msg.water_volume = msg.energy = deltas;
    uplink_seed("every_fixed_quantity", &msg, &coap);
    uplink_seed("every_fixed_quantity_lorawan", &msg, &lorawan);

    /* test_decode.c: extra series on channels, quantities 32 and up */
    Sensorbro__V1__Series series[3], *ptrs[3];
    int32_t samples[2] = {1234, -34};
    const uint32_t quantities[3] = {4, 33, 39};
    Sensorbro__V1__Uplink extra = SENSORBRO__V1__UPLINK__INIT;
    for (int i = 0; i < 3; i++) {
        sensorbro__v1__series__init(&series[i]);
        series[i].quantity = quantities[i];
        series[i].channel = quantities[i] <= 13 ? 2 : 0;
        series[i].n_samples = 2;
        series[i].samples = samples;
        ptrs[i] = &series[i];
    }
    extra.seq = 8;
    extra.interval_s = 60;
    extra.n_extra = 3;
    extra.extra = ptrs;
    uplink_seed("extra_series", &extra, &lorawan);

    /* test_render.c: the message fields, an unknown status bit, a synced clock */
    int32_t t[3] = {-525, 25, -12}, hum[1] = {455}, c[2] = {612, 38}, b[1] = {3012};
    Sensorbro__V1__Uplink fields = SENSORBRO__V1__UPLINK__INIT;
    fields.seq = 4242;
    fields.interval_s = 300;
    fields.age_s = 20;
    fields.status = 0x01 | 0x10 | 0x80;
    fields.config_version = 3;
    fields.temperature = t;
    fields.n_temperature = 3;
    fields.relative_humidity = hum;
    fields.n_relative_humidity = 1;
    fields.co2 = c;
    fields.n_co2 = 2;
    fields.battery = b;
    fields.n_battery = 1;
    uplink_seed("message_fields", &fields, &coap);
    fields.time = 1795424600;
    uplink_seed("synced_clock", &fields, &lorawan);

    /* a status only (rebooted), and the largest values */
    Sensorbro__V1__Uplink status = SENSORBRO__V1__UPLINK__INIT;
    status.seq = 1;
    status.status = 0x04;
    uplink_seed("status_only", &status, &coap);
    int32_t big[2] = {INT32_MAX, INT32_MIN};
    Sensorbro__V1__Uplink limits = SENSORBRO__V1__UPLINK__INIT;
    limits.seq = UINT32_MAX;
    limits.status = UINT32_MAX;
    limits.interval_s = 86400;
    limits.age_s = 7 * 86400;
    limits.pressure = big;
    limits.n_pressure = 2;
    uplink_seed("limits", &limits, &lorawan);
}

/* ---- lorawan and edge_ns: the keys of test_edge_ns.c (fuzz_lorawan.c and fuzz_edge_ns.c
 * use the same) ---- */

static const uint8_t nwk_s_key[16] = {0x3c, 0x8f, 0x26, 0x27, 0x39, 0xbf, 0xe3, 0xb7,
                                      0xbc, 0x08, 0x26, 0x99, 0x1a, 0xd0, 0x50, 0x4d};
static const uint8_t app_s_key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                      0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
static const uint8_t app_key[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t plain[] = {0x08, 0x2a, 0x10, 0x80, 0x02}; /* test_edge_ns.c */
#define DEV_ADDR 0x26011bdau

static void lorawan_seeds(void)
{
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t n = lorawan_build_data(LORAWAN_UNCONFIRMED_UP, DEV_ADDR, 0, 7, NULL, 0, true, 1, plain,
                                  sizeof(plain), nwk_s_key, app_s_key, phy, sizeof(phy));
    write_seed("lorawan", "unconfirmed_up", phy, n);
    const uint8_t fopts[] = {0x02, 0x03, 0x07}; /* LinkCheckReq, LinkADRAns */
    n = lorawan_build_data(LORAWAN_CONFIRMED_UP, DEV_ADDR, LORAWAN_FCTRL_ADR, 70000, fopts,
                           sizeof(fopts), true, 2, plain, sizeof(plain), nwk_s_key, app_s_key, phy,
                           sizeof(phy));
    write_seed("lorawan", "confirmed_up_fopts", phy, n);
    n = lorawan_build_data(LORAWAN_UNCONFIRMED_UP, DEV_ADDR, 0, 9, NULL, 0, true, 0, fopts,
                           sizeof(fopts), nwk_s_key, app_s_key, phy, sizeof(phy));
    write_seed("lorawan", "fport0_mac", phy, n);
    n = lorawan_build_data(LORAWAN_UNCONFIRMED_DOWN, DEV_ADDR, LORAWAN_FCTRL_ACK, 3, NULL, 0, false,
                           0, NULL, 0, nwk_s_key, app_s_key, phy, sizeof(phy));
    write_seed("lorawan", "ack_down", phy, n);
    struct lorawan_join_request req = {
        .join_eui = 0x70b3d57ed00000aaull, .dev_eui = 0x70b3d57ed0000002ull, .dev_nonce = 0x1234};
    n = lorawan_build_join_request(&req, app_key, phy, sizeof(phy));
    write_seed("lorawan", "join_request", phy, n);
    /* test_lorawan.c's Join-Accept fields: JoinNonce 0x123456, NetID 0x42, DevAddr 0xAABBCC */
    struct lorawan_join_accept acc = {
        .app_nonce = 0x123456, .net_id = 0x42, .dev_addr = 0xAABBCC, .rx_delay_s = 1};
    n = lorawan_build_join_accept(&acc, app_key, phy, sizeof(phy));
    write_seed("lorawan", "join_accept", phy, n);
    acc.has_cf_list = true;
    for (int i = 0; i < 16; i++)
        acc.cf_list[i] = (uint8_t)(0x18 + i);
    n = lorawan_build_join_accept(&acc, app_key, phy, sizeof(phy));
    write_seed("lorawan", "join_accept_cflist", phy, n);
}

/* fuzz_edge_ns.c's script operations */
struct script {
    uint8_t buf[2048];
    size_t len;
};

static void put(struct script *s, const void *data, size_t n)
{
    if (s->len + n > sizeof(s->buf)) {
        fprintf(stderr, "fuzz_seeds: edge_ns script too long\n");
        exit(1);
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

static void put_u8(struct script *s, uint8_t v)
{
    put(s, &v, 1);
}

enum { DATA_CONFIRMED = 1, DATA_FPORT = 2, DATA_ABSOLUTE = 4, DATA_ABANDON = 0xc0 };

/* A signed frame of device `which` (0, 1 ABP; 2 OTAA; 3 nobody), FCnt relative to the
 * device's last (or absolute), FPort 1 with test_edge_ns.c's payload. */
static void op_data(struct script *s, uint8_t which, uint8_t flags, int32_t fcnt,
                    const uint8_t *fopts, uint8_t fopts_len, uint8_t fport)
{
    uint8_t le[4];
    put_u8(s, 0);
    put_u8(s, which);
    put_u8(s, flags | DATA_FPORT);
    put_u8(s, 0); /* FCtrl */
    put_le(le, (uint32_t)fcnt, 4);
    put(s, le, 4);
    put_u8(s, fopts_len);
    put(s, fopts, fopts_len);
    put_u8(s, fport);
    put_u8(s, sizeof(plain));
    put(s, plain, sizeof(plain));
    put_u8(s, 0); /* no bit flipped */
}

static void op_raw(struct script *s, const uint8_t *phy, size_t len)
{
    put_u8(s, 3);
    put_u8(s, (uint8_t)len);
    put(s, phy, len);
}

static void op_join(struct script *s, uint8_t which, uint8_t flags, uint16_t nonce)
{
    uint8_t le[2];
    put_u8(s, 4);
    put_u8(s, which);
    put_u8(s, flags);
    put_le(le, nonce, 2);
    put(s, le, 2);
}

static void op_queue(struct script *s, uint8_t which, uint8_t fport, bool confirmed,
                     const uint8_t *payload, uint8_t len)
{
    put_u8(s, 5);
    put_u8(s, which);
    put_u8(s, fport);
    put_u8(s, (uint8_t)(len << 1 | confirmed));
    put(s, payload, len);
}

static void edge_ns_seeds(void)
{
    struct script s = {.len = 0};
    const uint8_t no_fopts[1] = {0};
    /* test_edge_ns.c: an ABP uplink, replayed, an old one, the next, one past the gap */
    op_data(&s, 0, DATA_ABSOLUTE, 7, no_fopts, 0, 1);
    op_data(&s, 0, 0, 0, no_fopts, 0, 1);
    op_data(&s, 0, 0, -1, no_fopts, 0, 1);
    op_data(&s, 0, 0, 1, no_fopts, 0, 1);
    op_data(&s, 0, 0, 16385, no_fopts, 0, 1);
    op_data(&s, 3, 0, 1, no_fopts, 0, 1);
    write_seed("edge_ns", "abp_counters", s.buf, s.len);

    /* a confirmed uplink, its retransmissions, a queued downlink repeated to them */
    s.len = 0;
    const uint8_t down[] = {0x08, 0x05, 0x10, 0x3c};
    op_queue(&s, 1, 3, false, down, sizeof(down));
    op_queue(&s, 1, 4, true, down, 2);
    op_data(&s, 1, DATA_ABSOLUTE | DATA_CONFIRMED, 65535, no_fopts, 0, 1);
    op_data(&s, 1, DATA_CONFIRMED, 0, no_fopts, 0, 1);
    op_data(&s, 1, DATA_CONFIRMED, 0, no_fopts, 0, 1);
    op_data(&s, 1, DATA_CONFIRMED, 1, no_fopts, 0, 1);
    write_seed("edge_ns", "confirmed_retransmissions", s.buf, s.len);

    /* OTAA: a join, a reused DevNonce, a wrong key, then uplinks in the new session */
    s.len = 0;
    op_join(&s, 2, 0, 0x1234);
    op_join(&s, 2, 0, 0x1234);
    op_join(&s, 2, 6, 0x1235);
    op_join(&s, 0, 0, 0x1236);
    op_data(&s, 2, DATA_ABSOLUTE, 1, no_fopts, 0, 1);
    op_data(&s, 2, DATA_CONFIRMED, 1, no_fopts, 0, 1);
    write_seed("edge_ns", "otaa_join", s.buf, s.len);

    /* MAC commands in FOpts and on port 0, another port, an abandoned frame, a restart */
    s.len = 0;
    const uint8_t fopts[] = {0x02, 0x03, 0x07};
    op_data(&s, 0, DATA_ABSOLUTE, 100, fopts, sizeof(fopts), 2);
    op_data(&s, 0, 0, 1, no_fopts, 0, 0);
    op_data(&s, 0, DATA_ABANDON, 1, no_fopts, 0, 1);
    op_data(&s, 0, 0, 1, no_fopts, 0, 1);
    put_u8(&s, 6); /* flush */
    put_u8(&s, 7); /* restart */
    op_data(&s, 0, 0, 0, no_fopts, 0, 1);
    op_data(&s, 0, 0, 1, no_fopts, 0, 1);
    write_seed("edge_ns", "mac_abandon_restart", s.buf, s.len);

    /* the raw path: a signed frame handed in twice, and noise */
    s.len = 0;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t n = lorawan_build_data(LORAWAN_UNCONFIRMED_UP, DEV_ADDR, 0, 7, NULL, 0, true, 1, plain,
                                  sizeof(plain), nwk_s_key, app_s_key, phy, sizeof(phy));
    op_raw(&s, phy, n);
    op_raw(&s, phy, n);
    op_raw(&s, (const uint8_t *)"\xe0\x01\x02", 3);
    write_seed("edge_ns", "raw_frames", s.buf, s.len);
}

/* ---- gwmp: test_gwmp.c's datagrams ---- */

static void gwmp_datagram(const char *name, uint8_t version, uint16_t token, uint8_t type, bool eui,
                          const char *json)
{
    uint8_t buf[4096];
    size_t at = 0;
    buf[at++] = version;
    buf[at++] = (uint8_t)(token >> 8);
    buf[at++] = (uint8_t)token;
    buf[at++] = type;
    if (eui) {
        memcpy(buf + at, "\xaa\x55\x5a\x00\x00\x00\x01\x01", 8);
        at += 8;
    }
    size_t n = strlen(json);
    memcpy(buf + at, json, n);
    write_seed("gwmp", name, buf, at + n);
}

static void gwmp_seeds(void)
{
    static const uint8_t frame[] = {0x40, 0x01, 0x02, 0x03, 0xff}; /* test_gwmp.c */
    const uint8_t eui[8] = {0xaa, 0x55, 0x5a, 0x00, 0x00, 0x00, 0x01, 0x01};
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
    struct gwmp_rxpk two[2] = {rx, rx};
    two[1].has_time = false;
    memcpy(two[1].datr, "SF7BW125", 9);
    two[1].codr[0] = '\0';
    struct gwmp_stat stat = {.rxnb = 2, .rxok = 2, .rxfw = 2, .ackr = 100.0, .dwnb = 1};
    uint8_t buf[4096];
    size_t n = gwmp_build_push_data(0x1234, eui, two, 2, &stat, buf, sizeof(buf));
    write_seed("gwmp", "push_data_two_rxpk_stat", buf, n);
    n = gwmp_build_pull_data(0x4321, eui, buf, sizeof(buf));
    write_seed("gwmp", "pull_data", buf, n);
    n = gwmp_build_tx_ack(0x0101, eui, "NONE", buf, sizeof(buf));
    write_seed("gwmp", "tx_ack_none", buf, n);
    n = gwmp_build_tx_ack(0x0102, eui, "TOO_LATE", buf, sizeof(buf));
    write_seed("gwmp", "tx_ack_too_late", buf, n);
    struct gwmp_txpk tx = {.tmst_us = 5000000,
                           .freq_hz = 869525000,
                           .powe_dbm = 14,
                           .datr = "SF9BW125",
                           .codr = "4/5",
                           .ipol = true,
                           .size = sizeof(frame)};
    memcpy(tx.data, frame, sizeof(frame));
    n = gwmp_build_pull_resp(GWMP_VERSION, 0x2222, &tx, buf, sizeof(buf));
    write_seed("gwmp", "pull_resp", buf, n);
    tx.imme = true;
    n = gwmp_build_pull_resp(GWMP_VERSION, 0x2223, &tx, buf, sizeof(buf));
    write_seed("gwmp", "pull_resp_imme", buf, n);
    /* the rxpk drop reasons of test_gwmp.c: FSK, a bad CRC, oversize, v1 */
    gwmp_datagram("push_data_fsk_crc", 2, 7, 0, true,
                  "{\"rxpk\":[{\"tmst\":1000,\"freq\":868.1,\"stat\":1,\"datr\":50000,"
                  "\"rssi\":-70,\"lsnr\":7,\"data\":\"QA==\"},{\"tmst\":1000,\"freq\":868.1,"
                  "\"stat\":-1,\"datr\":\"SF7BW125\",\"rssi\":-70,\"lsnr\":7,\"data\":\"QA==\"}]}");
    gwmp_datagram("push_data_v1_unpadded", 1, 8, 0, true,
                  "{\"rxpk\":[{\"time\":\"2026-01-05T00:00:00.250000+01:00\",\"tmst\":1,"
                  "\"freq\":868.5,\"stat\":1,\"datr\":\"SF10BW250\",\"codr\":\"4/6\","
                  "\"rssi\":-120,\"lsnr\":-12.25,\"size\":4,\"data\":\"QAECAw\"}]}");
    gwmp_datagram("push_data_stat_only", 2, 9, 0, true,
                  "{\"stat\":{\"time\":\"2026-01-05 00:00:00 GMT\",\"rxnb\":0,\"rxok\":0,"
                  "\"rxfw\":0,\"ackr\":0.0,\"dwnb\":0,\"txnb\":0}}");
    gwmp_datagram("tx_ack_v1", 1, 10, 5, true, "");
}

/* ---- chirpstack: test_chirpstack.c's event and its variants ---- */

static void chirpstack_seeds(void)
{
    const char *good =
        "{\"deduplicationId\":\"3e3a8b7c-1234-4f00-9a1b-0123456789ab\","
        "\"time\":\"2026-11-23T09:17:03.123456Z\","
        "\"deviceInfo\":{\"tenantId\":\"t\",\"applicationId\":\"a1b2c3d4-0000-1111-2222-"
        "333344445555\","
        "\"deviceName\":\"room-12\",\"devEui\":\"70B3D57ED0001234\",\"tags\":{}},"
        "\"devAddr\":\"01020304\",\"dr\":5,\"fCnt\":42,\"fPort\":2,\"confirmed\":false,"
        "\"data\":\"CAcQPCID6CAK\","
        "\"rxInfo\":[{\"gatewayId\":\"0016c001ff10a235\",\"rssi\":-97,\"snr\":7.5},"
        "{\"gatewayId\":\"0016C001FF10A236\",\"rssi\":-80,\"snr\":3.0}],"
        "\"txInfo\":{\"frequency\":868100000,\"modulation\":{\"lora\":{\"bandwidth\":125000,"
        "\"spreadingFactor\":7,\"codeRate\":\"CR_4_5\"}}}}";
    write_text("chirpstack", "good_event", good);
    write_text("chirpstack", "gw_and_ns_time",
               "{\"deduplicationId\":\"d1\",\"deviceInfo\":{\"devEui\":\"70b3d57ed0001234\","
               "\"deviceName\":\"caf\\u00e9\\u0007\"},\"fCnt\":4294967295,\"fPort\":1,"
               "\"data\":\"CAc=\",\"rxInfo\":[{\"gatewayId\":\"0016c001ff10a235\",\"rssi\":-97,"
               "\"snr\":7.5,\"gwTime\":\"2026-11-23T09:17:01Z\",\"nsTime\":"
               "\"2026-11-23T09:17:02Z\"},{\"gatewayId\":\"0016C001FF10A236\",\"rssi\":-80,"
               "\"snr\":3.0,\"nsTime\":\"2026-11-23T09:17:03.5Z\"},{\"gatewayId\":"
               "\"0016c001ff10a235\",\"rssi\":-20,\"snr\":9}]}");
    write_text("chirpstack", "no_data",
               "{\"deduplicationId\":\"x\",\"deviceInfo\":{\"devEui\":\"70B3D57ED0001234\"},"
               "\"fCnt\":0,\"data\":null}");
    write_text("chirpstack", "bad_base64",
               "{\"deduplicationId\":\"x\",\"deviceInfo\":{\"devEui\":\"70B3D57ED0001234\"},"
               "\"fCnt\":1,\"fPort\":2,\"data\":\"CA=QPCID6CAK\"}");
    write_text("chirpstack", "not_object", "[1,2,3]");
}

/* ---- config: test_config.c's files, with --set options after a NUL ---- */

static void config_seeds(const char *dict_dir)
{
    const char *every_kind = "; a comment\n"
                             "[gateway]\n"
                             "id = town-hall.b2\n"
                             "\n"
                             "[coap]\n"
                             "enabled = no\n"
                             "bind = ::\n"
                             "port = 5684\n"
                             "[journal]\n"
                             "path = /var/lib/sensorbro/journal.db\n"
                             "synchronous = normal\n"
                             "batch_max_rows = 1000\n"
                             "retention_h = 0\n"
                             "[mqtt]\n"
                             "host = broker.kommune.dk ; inline comment\n"
                             "protocol = 3.1.1\n"
                             "username = gw\n"
                             "password = hunter2\n"
                             "tls = true\n"
                             "ca_file = /etc/ssl/os2iot-ca.pem\n"
                             "topic = devices/{device}\n"
                             "[log]\n"
                             "level = debug\n";
    write_text("config", "every_kind_of_key", every_kind);
    write_text("config", "key_twice",
               "[mqtt]\nport = 1884\nhost = a\n[coap]\nport = 5684\n"
               "[mqtt]\nport = 1885\n");
    write_text("config", "bad_line", "[coap]\nport = 1\nbad line\n[mqtt]\nport = 0\n");
    static const char with_options[] = "[gateway]\nid = a\n\0mqtt.port=1884\0lns_mqtt.enabled="
                                       "true\0log.level=warn";
    write_seed("config", "with_options", with_options, sizeof(with_options) - 1);

    /* the whole configuration as --print-config shows it, and every key in the dictionary */
    struct config cfg;
    char err[CONFIG_ERROR_SIZE];
    config_set_defaults(&cfg);
    if (config_finish(&cfg, err) != 0) {
        fprintf(stderr, "fuzz_seeds: %s\n", err);
        exit(1);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    config_print(&cfg, f);
    fclose(f);
    write_seed("config", "printed_defaults", text, len);

    char path[1024];
    snprintf(path, sizeof(path), "%s/config.dict", dict_dir);
    FILE *dict = fopen(path, "w");
    if (dict == NULL) {
        perror(path);
        exit(1);
    }
    fprintf(dict, "# The sections and keys of gateway/src/config.c, as config_print writes them;\n"
                  "# written by tests/fuzz/make-corpus (fuzz_seeds).\n");
    for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *eq = strstr(line, " = ");
        if (eq != NULL)
            *eq = '\0';
        fprintf(dict, "\"%s\"\n", line);
    }
    fprintf(dict, "\" = \"\n\"true\"\n\"false\"\n\"\\x0a\"\n\"\\x00\"\n\"; \"\n\"=\"\n\".\"\n");
    fclose(dict);
    free(text);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fuzz_seeds CORPUS_DIR DICT_DIR\n");
        return 2;
    }
    corpus_dir = argv[1];
    decode_render_seeds();
    lorawan_seeds();
    edge_ns_seeds();
    gwmp_seeds();
    chirpstack_seeds();
    config_seeds(argv[2]);
    return 0;
}
