/*
 * test_lorawan.c - known-answer and hostile-input tests of gateway/src/lorawan (LoRaWAN 1.0.x
 * frames and crypto).
 *
 * No expected value here was produced by this project's C code. Sources:
 * - [LP] the lora-packet library's published tests (github.com/anthonykirby/lora-packet,
 *   test/test_mic.js, test_decrypt.js, test_keygen.js, test_construct.js): the data frames
 *   with NwkSKey 44024241ED4CE9A68C6A8BC055233FD3 / AppSKey EC925802AE430CA77FD3DD73CB2CC588,
 *   the Join-Request and the plain Join-Accept with AppKey 98929B92C49EDBA9676D646D3B612456,
 *   and the session keys derived from that AppKey.
 * - [WHAD] the WHAD project's LoRaWAN crypto test (test_encrypt_join_accept): the Join-Accept
 *   JoinNonce 0x123456, NetID 0x42, DevAddr 0xAABBCC under an all-zero AppKey.
 * - [OSSL] values computed with the openssl command line by tests/unit/lorawan_vectors.sh
 *   (its own block layout, `openssl enc -aes-128-ecb -nopad -K KEY` for key streams and
 *   session keys, `openssl enc -d -aes-128-ecb -nopad -K KEY` for Join-Accept encryption,
 *   `openssl mac -cipher AES-128-CBC -macopt hexkey:KEY -in FILE CMAC` for MICs; the script
 *   checks the CMAC tool against RFC 4493 example 2 first). It reproduces [LP]'s session keys,
 *   which cross-checks it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lorawan/lorawan.h"

static const char LP_NWK_S_KEY[] = "44024241ED4CE9A68C6A8BC055233FD3";
static const char LP_APP_S_KEY[] = "EC925802AE430CA77FD3DD73CB2CC588";
static const char LP_APP_KEY[] = "98929B92C49EDBA9676D646D3B612456";

/* Test helper: hex to bytes; the vectors are constants, so a bad one fails the test. */
static size_t from_hex(const char *hex, uint8_t *out, size_t out_size)
{
    size_t n = strlen(hex);
    assert_true(n % 2 == 0 && n / 2 <= out_size);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        assert_int_equal(sscanf(&hex[2 * i], "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n / 2;
}

static void key(const char *hex, uint8_t out[LORAWAN_KEY_SIZE])
{
    assert_int_equal(from_hex(hex, out, LORAWAN_KEY_SIZE), LORAWAN_KEY_SIZE);
}

/* A heap copy of exactly len bytes, so that ASan reports any read past the end. */
static uint8_t *exact_copy(const uint8_t *src, size_t len)
{
    uint8_t *p = malloc(len > 0 ? len : 1);
    assert_non_null(p);
    if (len > 0)
        memcpy(p, src, len);
    return p;
}

/* Parses, rebuilds the counter (no history), checks the MIC: LORAWAN_OK only for a frame
 * that a network server with these keys would take. */
static enum lorawan_status take_data(const uint8_t *phy, size_t len, const uint8_t nwk[16],
                                     enum lorawan_dir dir)
{
    struct lorawan_data_frame f;
    enum lorawan_status st = lorawan_parse_data(phy, len, &f);
    if (st != LORAWAN_OK)
        return st;
    return lorawan_check_data_mic(&f, nwk, dir, lorawan_rebuild_fcnt(false, 0, f.fcnt16));
}

/* --- data frames: published vectors ------------------------------------------------------ */

static void test_published_uplink(void **state)
{
    (void)state;
    uint8_t nwk[16], app[16], phy[64];
    key(LP_NWK_S_KEY, nwk);
    key(LP_APP_S_KEY, app);
    /* [LP] README / test_decrypt.js: "test" on FPort 1, FCnt 2, MIC 2B11FF0D. */
    size_t len = from_hex("40F17DBE4900020001954378762B11FF0D", phy, sizeof(phy));
    struct lorawan_data_frame f;
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_OK);
    assert_int_equal(f.mtype, LORAWAN_UNCONFIRMED_UP);
    assert_int_equal(f.dev_addr, 0x49BE7DF1);
    assert_int_equal(f.fctrl, 0);
    assert_int_equal(f.fcnt16, 2);
    assert_int_equal(f.fopts_len, 0);
    assert_true(f.has_fport);
    assert_int_equal(f.fport, 1);
    assert_int_equal(f.frm_payload_len, 4);
    assert_ptr_equal(f.frm_payload, &phy[9]);
    assert_ptr_equal(f.mic_covered, phy);
    assert_int_equal(f.mic_covered_len, 13);
    assert_int_equal(lorawan_check_data_mic(&f, nwk, LORAWAN_UP, 2), LORAWAN_OK);
    assert_int_equal(lorawan_check_data_mic(&f, nwk, LORAWAN_DOWN, 2), LORAWAN_BAD_MIC);
    assert_int_equal(lorawan_check_data_mic(&f, app, LORAWAN_UP, 2), LORAWAN_BAD_MIC);
    uint8_t mic[4];
    assert_true(lorawan_data_mic(nwk, LORAWAN_UP, 0x49BE7DF1, 2, phy, 13, mic));
    assert_memory_equal(mic, &phy[13], 4);

    uint8_t payload[4];
    memcpy(payload, f.frm_payload, 4);
    assert_true(lorawan_crypt_frm_payload(app, LORAWAN_UP, f.dev_addr, 2, payload, 4));
    assert_memory_equal(payload, "test", 4);
    /* [LP] test_decrypt.js: a wrong AppSKey (last byte 80) gives 5999FC3F. */
    uint8_t bad_app[16], scrambled[4];
    key("EC925802AE430CA77FD3DD73CB2CC580", bad_app);
    memcpy(payload, f.frm_payload, 4);
    assert_true(lorawan_crypt_frm_payload(bad_app, LORAWAN_UP, f.dev_addr, 2, payload, 4));
    from_hex("5999FC3F", scrambled, sizeof(scrambled));
    assert_memory_equal(payload, scrambled, 4);

    /* [LP] test_construct.js: building it gives the same bytes. */
    uint8_t out[LORAWAN_PHY_MAX_BYTES];
    assert_int_equal(lorawan_build_data(LORAWAN_UNCONFIRMED_UP, 0x49BE7DF1, 0, 2, NULL, 0, true, 1,
                                        (const uint8_t *)"test", 4, nwk, app, out, sizeof(out)),
                     len);
    assert_memory_equal(out, phy, len);
}

static void test_published_mics(void **state)
{
    (void)state;
    uint8_t nwk[16], phy[64];
    key(LP_NWK_S_KEY, nwk);
    struct lorawan_data_frame f;
    /* [LP] test_mic.js: FCnt 3, FPort 1 with an empty FRMPayload, MIC 2A3518AF. */
    size_t len = from_hex("40F17DBE49000300012A3518AF", phy, sizeof(phy));
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_OK);
    assert_true(f.has_fport);
    assert_int_equal(f.fport, 1);
    assert_int_equal(f.frm_payload_len, 0);
    assert_int_equal(lorawan_check_data_mic(&f, nwk, LORAWAN_UP, 3), LORAWAN_OK);
    phy[len - 1] = 0xAA; /* [LP]'s "bodged" MIC */
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_OK);
    assert_int_equal(lorawan_check_data_mic(&f, nwk, LORAWAN_UP, 3), LORAWAN_BAD_MIC);

    /* [LP] test_mic.js: a downlink ACK, FCnt 2, MIC F9D65D27. */
    len = from_hex("60F17DBE4920020001F9D65D27", phy, sizeof(phy));
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_OK);
    assert_int_equal(f.mtype, LORAWAN_UNCONFIRMED_DOWN);
    assert_int_equal(f.fctrl, LORAWAN_FCTRL_ACK);
    assert_int_equal(lorawan_check_data_mic(&f, nwk, LORAWAN_DOWN, 2), LORAWAN_OK);
    assert_int_equal(lorawan_check_data_mic(&f, nwk, LORAWAN_UP, 2), LORAWAN_BAD_MIC);
    uint8_t out[64];
    assert_int_equal(lorawan_build_data(LORAWAN_UNCONFIRMED_DOWN, 0x49BE7DF1, LORAWAN_FCTRL_ACK, 2,
                                        NULL, 0, true, 1, NULL, 0, nwk, nwk, out, sizeof(out)),
                     len);
    assert_memory_equal(out, phy, len);
}

static void test_published_multi_block(void **state)
{
    (void)state;
    uint8_t nwk[16], app[16], phy[128];
    key(LP_NWK_S_KEY, nwk);
    key(LP_APP_S_KEY, app);
    /* [LP] test_decrypt.js "large payload": 44 bytes, three key-stream blocks, FCnt 4. */
    static const char text[] = "The quick brown fox jumps over the lazy dog.";
    size_t len = from_hex("40F17DBE490004000155332DE41A11ADC072553544429CE7787707D1C316E027E7E5E"
                          "334263376AFFB8AA17AD30075293F28DEA8A20AF3C5E7",
                          phy, sizeof(phy));
    struct lorawan_data_frame f;
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_OK);
    assert_int_equal(f.frm_payload_len, 44);
    assert_int_equal(lorawan_check_data_mic(&f, nwk, LORAWAN_UP, 4), LORAWAN_OK);
    uint8_t payload[44];
    memcpy(payload, f.frm_payload, 44);
    assert_true(lorawan_crypt_frm_payload(app, LORAWAN_UP, f.dev_addr, 4, payload, 44));
    assert_memory_equal(payload, text, 44);
    /* The same operation encrypts. */
    assert_true(lorawan_crypt_frm_payload(app, LORAWAN_UP, f.dev_addr, 4, payload, 44));
    assert_memory_equal(payload, f.frm_payload, 44);
    uint8_t out[128];
    assert_int_equal(lorawan_build_data(LORAWAN_UNCONFIRMED_UP, 0x49BE7DF1, 0, 4, NULL, 0, true, 1,
                                        (const uint8_t *)text, 44, nwk, app, out, sizeof(out)),
                     len);
    assert_memory_equal(out, phy, len);
}

/* --- data frames: openssl-computed vectors -------------------------------------------- */

static void test_fport0_uses_nwk_s_key(void **state)
{
    (void)state;
    uint8_t nwk[16], app[16], phy[64], plain[20];
    key(LP_NWK_S_KEY, nwk);
    key(LP_APP_S_KEY, app);
    for (int i = 0; i < 20; i++)
        plain[i] = (uint8_t)i;
    /* [OSSL] frame $NWK $NWK 60 1 0x49be7df1 00 10 '' 00 000102...13: a downlink on FPort 0,
     * FCnt 10, 20 bytes (two blocks) encrypted with NwkSKey. */
    size_t len = from_hex("60F17DBE49000A000022485B6DA18F7BA256F29172D350BA9B71454A0E50747F2E", phy,
                          sizeof(phy));
    uint8_t out[64];
    assert_int_equal(lorawan_build_data(LORAWAN_UNCONFIRMED_DOWN, 0x49BE7DF1, 0, 10, NULL, 0, true,
                                        0, plain, 20, nwk, app, out, sizeof(out)),
                     len);
    assert_memory_equal(out, phy, len);
    struct lorawan_data_frame f;
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_OK);
    assert_true(f.has_fport);
    assert_int_equal(f.fport, 0);
    assert_int_equal(lorawan_check_data_mic(&f, nwk, LORAWAN_DOWN, 10), LORAWAN_OK);
    uint8_t payload[20];
    memcpy(payload, f.frm_payload, 20);
    assert_true(lorawan_crypt_frm_payload(nwk, LORAWAN_DOWN, f.dev_addr, 10, payload, 20));
    assert_memory_equal(payload, plain, 20);
}

static void test_fopts_confirmed_uplink(void **state)
{
    (void)state;
    uint8_t nwk[16], app[16], phy[64];
    key(LP_NWK_S_KEY, nwk);
    key(LP_APP_S_KEY, app);
    static const uint8_t fopts[] = {0x03, 0x07, 0x06, 0xFF, 0x0A}, plain[] = {1, 2, 3};
    /* [OSSL] frame $NWK $APP 80 0 0x26011bda 85 5 030706ff0a 02 010203: ADR and 5 bytes of
     * FOpts (LinkADRAns, DevStatusAns), FPort 2. */
    size_t len = from_hex("80DA1B0126850500030706FF0A0235433322B6A862", phy, sizeof(phy));
    uint8_t out[64];
    /* The FOptsLen bits of fctrl are the builder's to set. */
    assert_int_equal(lorawan_build_data(LORAWAN_CONFIRMED_UP, 0x26011BDA, LORAWAN_FCTRL_ADR | 0x0F,
                                        5, fopts, sizeof(fopts), true, 2, plain, sizeof(plain), nwk,
                                        app, out, sizeof(out)),
                     len);
    assert_memory_equal(out, phy, len);
    struct lorawan_data_frame f;
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_OK);
    assert_int_equal(f.mtype, LORAWAN_CONFIRMED_UP);
    assert_int_equal(f.fctrl, 0x85);
    assert_int_equal(f.fopts_len, 5);
    assert_ptr_equal(f.fopts, &phy[8]);
    assert_int_equal(f.fport, 2);
    assert_int_equal(f.frm_payload_len, 3);
    assert_int_equal(lorawan_check_data_mic(&f, nwk, LORAWAN_UP, 5), LORAWAN_OK);
    /* Without FPort: FOpts only, no FRMPayload. */
    len = lorawan_build_data(LORAWAN_UNCONFIRMED_UP, 0x26011BDA, 0, 6, fopts, sizeof(fopts), false,
                             0, NULL, 0, nwk, app, out, sizeof(out));
    assert_int_equal(len, 8 + 5 + 4);
    assert_int_equal(lorawan_parse_data(out, len, &f), LORAWAN_OK);
    assert_false(f.has_fport);
    assert_null(f.frm_payload);
    assert_int_equal(f.frm_payload_len, 0);
    assert_int_equal(lorawan_check_data_mic(&f, nwk, LORAWAN_UP, 6), LORAWAN_OK);
}

static void test_fcnt_rebuild_and_rollover(void **state)
{
    (void)state;
    /* No history: taken as is. */
    assert_int_equal(lorawan_rebuild_fcnt(false, 0, 0), 0);
    assert_int_equal(lorawan_rebuild_fcnt(false, 12345, 7), 7);
    /* The next ones, and a gap. */
    assert_int_equal(lorawan_rebuild_fcnt(true, 0, 1), 1);
    assert_int_equal(lorawan_rebuild_fcnt(true, 9, 100), 100);
    /* Past 65535 on air the high bits follow. */
    assert_int_equal(lorawan_rebuild_fcnt(true, 0xFFF0, 0x0002), 0x00010002);
    assert_int_equal(lorawan_rebuild_fcnt(true, 0x0001FFFF, 0x0000), 0x00020000);
    /* Equal and older counters come out at least 0x10000 - 1 above: a caller with
     * MAX_FCNT_GAP 16384 refuses them. */
    assert_int_equal(lorawan_rebuild_fcnt(true, 0x00010005, 0x0005), 0x00020005);
    assert_int_equal(lorawan_rebuild_fcnt(true, 0x00010005, 0x0004), 0x00020004);
    assert_true(lorawan_rebuild_fcnt(true, 0x00010005, 0x0004) - 0x00010005u > 16384);
    /* Past 2^32 the value wraps to one at or below the last: old, refused. */
    assert_int_equal(lorawan_rebuild_fcnt(true, 0xFFFFFFF0u, 0xFFF5), 0xFFFFFFF5u);
    assert_true(lorawan_rebuild_fcnt(true, 0xFFFFFFF0u, 0x0001) <= 0xFFFFFFF0u);
    assert_true(lorawan_rebuild_fcnt(true, 0xFFFFFFFFu, 0xFFFF) <= 0xFFFFFFFFu);

    /* [OSSL] frame $NWK $APP 40 0 0x49be7df1 00 0x00010002 '' 01 74657374: "test" with the
     * 32-bit FCnt 0x00010002; its low 16 bits (0002) on air, like [LP]'s FCnt-2 frame. */
    uint8_t nwk[16], app[16], phy[64];
    key(LP_NWK_S_KEY, nwk);
    key(LP_APP_S_KEY, app);
    size_t len = from_hex("40F17DBE49000200011E3FCDCC57DA3671", phy, sizeof(phy));
    uint8_t out[64];
    assert_int_equal(lorawan_build_data(LORAWAN_UNCONFIRMED_UP, 0x49BE7DF1, 0, 0x00010002, NULL, 0,
                                        true, 1, (const uint8_t *)"test", 4, nwk, app, out,
                                        sizeof(out)),
                     len);
    assert_memory_equal(out, phy, len);
    struct lorawan_data_frame f;
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_OK);
    uint32_t fcnt = lorawan_rebuild_fcnt(true, 0xFFF0, f.fcnt16);
    assert_int_equal(fcnt, 0x00010002);
    assert_int_equal(lorawan_check_data_mic(&f, nwk, LORAWAN_UP, fcnt), LORAWAN_OK);
    assert_int_equal(lorawan_check_data_mic(&f, nwk, LORAWAN_UP, 2), LORAWAN_BAD_MIC);
    uint8_t payload[4];
    memcpy(payload, f.frm_payload, 4);
    assert_true(lorawan_crypt_frm_payload(app, LORAWAN_UP, f.dev_addr, fcnt, payload, 4));
    assert_memory_equal(payload, "test", 4);
}

/* --- OTAA ------------------------------------------------------------------------------ */

static void test_join_request(void **state)
{
    (void)state;
    uint8_t app_key[16], phy[32];
    key(LP_APP_KEY, app_key);
    /* [LP] test_mic.js: MIC C65B1304. */
    size_t len = from_hex("0039363463336913AA05693574323831330489C65B1304", phy, sizeof(phy));
    assert_int_equal(len, LORAWAN_JOIN_REQUEST_BYTES);
    struct lorawan_join_request req;
    assert_int_equal(lorawan_parse_join_request(phy, len, &req), LORAWAN_OK);
    assert_true(req.join_eui == 0xAA13693363343639ull);
    assert_true(req.dev_eui == 0x3331383274356905ull);
    assert_int_equal(req.dev_nonce, 0x8904);
    assert_int_equal(lorawan_check_join_request_mic(phy, len, app_key), LORAWAN_OK);
    uint8_t out[32];
    assert_int_equal(lorawan_build_join_request(&req, app_key, out, sizeof(out)), len);
    assert_memory_equal(out, phy, len);
    assert_int_equal(lorawan_build_join_request(&req, app_key, out, 22), 0);
    phy[len - 1] = 0x05; /* [LP]'s bodged MIC */
    assert_int_equal(lorawan_check_join_request_mic(phy, len, app_key), LORAWAN_BAD_MIC);
}

static void expect_accept(const struct lorawan_join_accept *a, uint32_t app_nonce, uint32_t net_id,
                          uint32_t dev_addr, uint8_t dl, uint8_t rx_delay)
{
    assert_int_equal(a->app_nonce, app_nonce);
    assert_int_equal(a->net_id, net_id);
    assert_int_equal(a->dev_addr, dev_addr);
    assert_int_equal(a->dl_settings, dl);
    assert_int_equal(a->rx_delay_s, rx_delay);
}

static void test_join_accept_published(void **state)
{
    (void)state;
    /* [WHAD]: all-zero AppKey, JoinNonce 0x123456, NetID 0x42, DevAddr 0xAABBCC. */
    uint8_t zero[16] = {0}, phy[64], out[64];
    size_t len = from_hex("20FED423BB9FACA7E68A967A02FDE49C41", phy, sizeof(phy));
    struct lorawan_join_accept a = {.app_nonce = 0x123456, .net_id = 0x42, .dev_addr = 0xAABBCC};
    assert_int_equal(lorawan_build_join_accept(&a, zero, out, sizeof(out)), 17);
    assert_memory_equal(out, phy, 17);
    struct lorawan_join_accept got;
    assert_int_equal(lorawan_open_join_accept(phy, len, zero, &got), LORAWAN_OK);
    expect_accept(&got, 0x123456, 0x42, 0xAABBCC, 0, 0);
    assert_false(got.has_cf_list);

    /* [LP] test_mic.js's plain Join-Accept 20386337CCBBAAE7CD2C010000D9D0A6E7 (MIC D9D0A6E7),
     * encrypted by [OSSL]: 20 | openssl enc -d -aes-128-ecb -nopad -K $AK of the rest. */
    uint8_t app_key[16];
    key(LP_APP_KEY, app_key);
    len = from_hex("2088F36AE3B21314BC284E314E99257328", phy, sizeof(phy));
    struct lorawan_join_accept b = {
        .app_nonce = 0x376338, .net_id = 0xAABBCC, .dev_addr = 0x012CCDE7};
    assert_int_equal(lorawan_build_join_accept(&b, app_key, out, sizeof(out)), 17);
    assert_memory_equal(out, phy, 17);
    assert_int_equal(lorawan_open_join_accept(phy, len, app_key, &got), LORAWAN_OK);
    expect_accept(&got, 0x376338, 0xAABBCC, 0x012CCDE7, 0, 0);
    assert_int_equal(lorawan_open_join_accept(phy, len, zero, &got), LORAWAN_BAD_MIC);
    assert_int_equal(lorawan_build_join_accept(&b, app_key, out, 16), 0);
}

static void test_join_accept_cf_list(void **state)
{
    (void)state;
    uint8_t app_key[16], phy[64], out[64], cf_list[16];
    key(LP_APP_KEY, app_key);
    /* [OSSL]: AppNonce 0x376338, NetID 0xAABBCC, DevAddr 0x012CCDE7, DLSettings 0x13,
     * RxDelay 1, CFList 867.1 .. 867.9 MHz (100 Hz units, 3 bytes LE each) and type 0;
     * MIC = openssl mac CMAC of the plain message, then openssl enc -d of all after MHDR. */
    size_t len = from_hex("2014091666A5533494930FBADD0236B9EB7363ECCBEF399FB175E43E6DD1191421", phy,
                          sizeof(phy));
    from_hex("184F84E85684B85E84886684586E8400", cf_list, sizeof(cf_list));
    struct lorawan_join_accept a = {.app_nonce = 0x376338,
                                    .net_id = 0xAABBCC,
                                    .dev_addr = 0x012CCDE7,
                                    .dl_settings = 0x13,
                                    .rx_delay_s = 1,
                                    .has_cf_list = true};
    memcpy(a.cf_list, cf_list, 16);
    assert_int_equal(lorawan_build_join_accept(&a, app_key, out, sizeof(out)), 33);
    assert_memory_equal(out, phy, 33);
    assert_int_equal(lorawan_build_join_accept(&a, app_key, out, 32), 0);
    struct lorawan_join_accept got;
    assert_int_equal(lorawan_open_join_accept(phy, len, app_key, &got), LORAWAN_OK);
    expect_accept(&got, 0x376338, 0xAABBCC, 0x012CCDE7, 0x13, 1);
    assert_true(got.has_cf_list);
    assert_memory_equal(got.cf_list, cf_list, 16);
    /* Out-of-range fields are refused by the builder. */
    a.app_nonce = 0x1000000;
    assert_int_equal(lorawan_build_join_accept(&a, app_key, out, sizeof(out)), 0);
    a.app_nonce = 1;
    a.rx_delay_s = 16;
    assert_int_equal(lorawan_build_join_accept(&a, app_key, out, sizeof(out)), 0);
}

static void test_session_keys(void **state)
{
    (void)state;
    uint8_t app_key[16], nwk[16], app[16], want_nwk[16], want_app[16];
    key(LP_APP_KEY, app_key);
    /* [LP] test_keygen.js: NetID AABBCC, AppNonce 376338, DevNonce F18E. */
    key("4E3D6E6AFBCC67AF2BA3C8E8EC4ACF4B", want_nwk);
    key("610897AA6F1460623443B527D3AC6A9D", want_app);
    assert_true(lorawan_derive_session_keys(app_key, 0x376338, 0xAABBCC, 0xF18E, nwk, app));
    assert_memory_equal(nwk, want_nwk, 16);
    assert_memory_equal(app, want_app, 16);
    assert_false(lorawan_derive_session_keys(app_key, 0x1000000, 0, 0, nwk, app));
}

/* --- hostile input ----------------------------------------------------------------------- */

static void test_data_truncations_and_bit_flips(void **state)
{
    (void)state;
    uint8_t nwk[16], phy[128];
    key(LP_NWK_S_KEY, nwk);
    static const char *frames[] = {
        "40F17DBE490004000155332DE41A11ADC072553544429CE7787707D1C316E027E7E5E"
        "334263376AFFB8AA17AD30075293F28DEA8A20AF3C5E7",
        "40F17DBE49000300012A3518AF",
    };
    for (size_t k = 0; k < sizeof(frames) / sizeof(frames[0]); k++) {
        size_t len = from_hex(frames[k], phy, sizeof(phy));
        uint8_t *copy = exact_copy(phy, len);
        assert_int_equal(take_data(copy, len, nwk, LORAWAN_UP), LORAWAN_OK);
        free(copy);
        /* Every truncation: an error, and no byte read past the copy (ASan). */
        for (size_t n = 0; n < len; n++) {
            copy = exact_copy(phy, n);
            enum lorawan_status st = take_data(copy, n, nwk, LORAWAN_UP);
            assert_int_not_equal(st, LORAWAN_OK);
            if (n < 12)
                assert_int_equal(st, LORAWAN_MALFORMED);
            free(copy);
        }
        /* Every single-bit flip is refused, whatever field it hits. */
        for (size_t i = 0; i < len; i++) {
            for (int bit = 0; bit < 8; bit++) {
                copy = exact_copy(phy, len);
                copy[i] ^= (uint8_t)(1u << bit);
                assert_int_not_equal(take_data(copy, len, nwk, LORAWAN_UP), LORAWAN_OK);
                free(copy);
            }
        }
    }
    struct lorawan_data_frame f;
    assert_int_equal(lorawan_parse_data(NULL, 0, &f), LORAWAN_MALFORMED);
}

static void test_data_header_checks(void **state)
{
    (void)state;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES + 1];
    struct lorawan_data_frame f;
    size_t len = from_hex("40F17DBE4900020001954378762B11FF0D", phy, sizeof(phy));
    /* FOpts longer than what lies before the MIC. */
    phy[5] = 0x05; /* 5 bytes: FPort + 4 payload bytes, fits exactly */
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_OK);
    assert_false(f.has_fport);
    phy[5] = 0x06;
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_MALFORMED);
    phy[5] = 0x0F;
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_MALFORMED);
    /* FOpts and FPort 0 together. */
    phy[5] = 0x01;
    phy[9] = 0x00; /* FOpts byte 01, then FPort at [9] */
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_MALFORMED);
    from_hex("40F17DBE4900020001954378762B11FF0D", phy, sizeof(phy));
    /* MHDR: a major other than R1, then the types this module does not take. */
    for (uint8_t major = 1; major < 4; major++) {
        phy[0] = (uint8_t)(0x40 | major);
        assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_UNSUPPORTED);
    }
    phy[0] = 0xC0; /* rejoin */
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_UNSUPPORTED);
    phy[0] = 0xE0; /* proprietary */
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_UNSUPPORTED);
    phy[0] = 0x00; /* a Join-Request is not a data frame */
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_MALFORMED);
    phy[0] = 0x20;
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_MALFORMED);
    phy[0] = 0x5C; /* RFU bits are ignored, as 1.0.x says for RFU */
    assert_int_equal(lorawan_parse_data(phy, len, &f), LORAWAN_OK);
    /* Longest allowed and one more. */
    memset(phy, 0, sizeof(phy));
    phy[0] = 0x40;
    assert_int_equal(lorawan_parse_data(phy, LORAWAN_PHY_MAX_BYTES, &f), LORAWAN_OK);
    assert_int_equal(f.frm_payload_len, LORAWAN_PHY_MAX_BYTES - 13);
    assert_int_equal(lorawan_parse_data(phy, LORAWAN_PHY_MAX_BYTES + 1, &f), LORAWAN_MALFORMED);
    /* The longest frame's MIC is computable: its message fits B0's length byte. */
    uint8_t nwk[16] = {0};
    assert_true(lorawan_check_data_mic(&f, nwk, LORAWAN_UP, 0) != LORAWAN_CRYPTO_FAILED);
}

static void test_builder_limits(void **state)
{
    (void)state;
    uint8_t k[16] = {0}, payload[LORAWAN_PHY_MAX_BYTES] = {0}, out[LORAWAN_PHY_MAX_BYTES];
    uint8_t fopts[16] = {0};
    /* 8 + 1 + 243 + 4 = 256 fits, one more does not. */
    assert_int_equal(lorawan_build_data(LORAWAN_UNCONFIRMED_UP, 1, 0, 0, NULL, 0, true, 1, payload,
                                        243, k, k, out, sizeof(out)),
                     256);
    assert_int_equal(lorawan_build_data(LORAWAN_UNCONFIRMED_UP, 1, 0, 0, NULL, 0, true, 1, payload,
                                        244, k, k, out, sizeof(out)),
                     0);
    /* out too small by one. */
    assert_int_equal(lorawan_build_data(LORAWAN_UNCONFIRMED_UP, 1, 0, 0, NULL, 0, true, 1, payload,
                                        4, k, k, out, 16),
                     0);
    assert_int_equal(lorawan_build_data(LORAWAN_UNCONFIRMED_UP, 1, 0, 0, fopts, 16, true, 1,
                                        payload, 4, k, k, out, sizeof(out)),
                     0);
    assert_int_equal(lorawan_build_data(LORAWAN_UNCONFIRMED_UP, 1, 0, 0, NULL, 0, false, 0, payload,
                                        4, k, k, out, sizeof(out)),
                     0);
    assert_int_equal(lorawan_build_data(LORAWAN_UNCONFIRMED_UP, 1, 0, 0, fopts, 2, true, 0, payload,
                                        4, k, k, out, sizeof(out)),
                     0);
    assert_int_equal(lorawan_build_data(LORAWAN_JOIN_REQUEST, 1, 0, 0, NULL, 0, true, 1, payload, 4,
                                        k, k, out, sizeof(out)),
                     0);
    assert_int_equal(lorawan_build_data(LORAWAN_PROPRIETARY, 1, 0, 0, NULL, 0, true, 1, payload, 4,
                                        k, k, out, sizeof(out)),
                     0);
    uint8_t mic[4];
    assert_false(lorawan_data_mic(k, LORAWAN_UP, 1, 0, payload, 256, mic));
    static uint8_t big[255 * 16 + 1];
    assert_true(lorawan_crypt_frm_payload(k, LORAWAN_UP, 1, 0, big, sizeof(big) - 1));
    assert_false(lorawan_crypt_frm_payload(k, LORAWAN_UP, 1, 0, big, sizeof(big)));
    assert_true(lorawan_crypt_frm_payload(k, LORAWAN_UP, 1, 0, NULL, 0));
}

static void test_join_truncations_and_bit_flips(void **state)
{
    (void)state;
    uint8_t app_key[16], req[32], acc[64];
    key(LP_APP_KEY, app_key);
    size_t req_len = from_hex("0039363463336913AA05693574323831330489C65B1304", req, sizeof(req));
    size_t acc_len = from_hex("2014091666A5533494930FBADD0236B9EB7363ECCBEF399FB175E43E6DD1191421",
                              acc, sizeof(acc));
    struct lorawan_join_request r;
    struct lorawan_join_accept a;
    /* Every length but the valid ones, read from an exact heap copy. */
    for (size_t n = 0; n <= 40; n++) {
        uint8_t *copy = exact_copy(req, n < req_len ? n : req_len);
        if (n != req_len && n <= req_len) {
            assert_int_equal(lorawan_parse_join_request(copy, n, &r), LORAWAN_MALFORMED);
            assert_int_equal(lorawan_check_join_request_mic(copy, n, app_key), LORAWAN_MALFORMED);
        }
        free(copy);
        copy = exact_copy(acc, n < acc_len ? n : acc_len);
        if (n != 17 && n != 33 && n <= acc_len)
            assert_int_equal(lorawan_open_join_accept(copy, n, app_key, &a), LORAWAN_MALFORMED);
        free(copy);
    }
    /* A 17-byte prefix of a 33-byte accept has the wrong MIC. */
    assert_int_equal(lorawan_open_join_accept(acc, 17, app_key, &a), LORAWAN_BAD_MIC);
    /* Every single-bit flip is refused. */
    for (size_t i = 0; i < req_len * 8; i++) {
        req[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_int_not_equal(lorawan_check_join_request_mic(req, req_len, app_key), LORAWAN_OK);
        req[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    for (size_t i = 0; i < acc_len * 8; i++) {
        acc[i / 8] ^= (uint8_t)(1u << (i % 8));
        assert_int_not_equal(lorawan_open_join_accept(acc, acc_len, app_key, &a), LORAWAN_OK);
        acc[i / 8] ^= (uint8_t)(1u << (i % 8));
    }
    assert_int_equal(lorawan_check_join_request_mic(req, req_len, app_key), LORAWAN_OK);
    assert_int_equal(lorawan_open_join_accept(acc, acc_len, app_key, &a), LORAWAN_OK);
    /* MHDR: wrong major, rejoin, proprietary, the other join type. */
    req[0] = 0x01;
    assert_int_equal(lorawan_parse_join_request(req, req_len, &r), LORAWAN_UNSUPPORTED);
    req[0] = 0xC0;
    assert_int_equal(lorawan_parse_join_request(req, req_len, &r), LORAWAN_UNSUPPORTED);
    req[0] = 0xE0;
    assert_int_equal(lorawan_check_join_request_mic(req, req_len, app_key), LORAWAN_UNSUPPORTED);
    req[0] = 0x20;
    assert_int_equal(lorawan_parse_join_request(req, req_len, &r), LORAWAN_MALFORMED);
    acc[0] = 0x22;
    assert_int_equal(lorawan_open_join_accept(acc, acc_len, app_key, &a), LORAWAN_UNSUPPORTED);
    acc[0] = 0x00;
    assert_int_equal(lorawan_open_join_accept(acc, acc_len, app_key, &a), LORAWAN_MALFORMED);
    assert_int_equal(lorawan_open_join_accept(NULL, 0, app_key, &a), LORAWAN_MALFORMED);
    assert_string_equal(lorawan_status_name(LORAWAN_BAD_MIC), "bad MIC");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_uplink),
        cmocka_unit_test(test_published_mics),
        cmocka_unit_test(test_published_multi_block),
        cmocka_unit_test(test_fport0_uses_nwk_s_key),
        cmocka_unit_test(test_fopts_confirmed_uplink),
        cmocka_unit_test(test_fcnt_rebuild_and_rollover),
        cmocka_unit_test(test_join_request),
        cmocka_unit_test(test_join_accept_published),
        cmocka_unit_test(test_join_accept_cf_list),
        cmocka_unit_test(test_session_keys),
        cmocka_unit_test(test_data_truncations_and_bit_flips),
        cmocka_unit_test(test_data_header_checks),
        cmocka_unit_test(test_builder_limits),
        cmocka_unit_test(test_join_truncations_and_bit_flips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
