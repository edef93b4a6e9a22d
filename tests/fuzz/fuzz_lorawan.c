/*
 * fuzz_lorawan.c - any bytes as a LoRaWAN 1.0.x PHYPayload through every parser of
 * gateway/src/lorawan/lorawan.c: data frames (lorawan_parse_data, the MIC check, FRMPayload
 * decryption, the 32-bit FCnt rebuild), Join-Request (parse and MIC check) and Join-Accept
 * (open). The same bytes go to each; the MHDR decides which one takes them.
 *
 * Invariants beyond the sanitizers:
 * - a parsed data frame accounts for every byte: MHDR, FHDR with FOptsLen from FCtrl, FPort
 *   and FRMPayload, MIC, with the pointers inside the input; FPort 0 never with FOpts;
 * - built again from what was parsed (lorawan_build_data, FRMPayload decrypted first, so
 *   the build encrypts it back), a data frame is byte for byte the input but for the
 *   MHDR's RFU bits and the MIC, and the input's MIC checks exactly when it equals the
 *   rebuilt one; a rebuilt frame's MIC checks with its counter and not with the counter
 *   65536 higher (the MIC covers all 32 bits);
 * - lorawan_rebuild_fcnt gives the smallest counter above the last with those low 16 bits;
 * - a Join-Request parsed is rebuilt byte for byte, and its MIC checks exactly when equal;
 * - a Join-Accept built from any fields opens to the same fields (RxDelay > 15 refused),
 *   and the input itself opens only to fields that build back to it.
 */
#include <string.h>

#include "lorawan/lorawan.h"

#include "fuzz_support.h"

/* Keys of the published vectors the unit tests use (tests/unit/test_lorawan.c). */
static const uint8_t nwk_s_key[16] = {0x3c, 0x8f, 0x26, 0x27, 0x39, 0xbf, 0xe3, 0xb7,
                                      0xbc, 0x08, 0x26, 0x99, 0x1a, 0xd0, 0x50, 0x4d};
static const uint8_t app_s_key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                      0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
static const uint8_t app_key[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static bool inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t len)
{
    return p >= buf && p + n <= buf + len;
}

static void check_rebuild_fcnt(uint32_t last, uint16_t fcnt16)
{
    FUZZ_CHECK(lorawan_rebuild_fcnt(false, last, fcnt16) == fcnt16, "no last");
    uint64_t candidate = (last & 0xFFFF0000u) | fcnt16;
    if (candidate <= last)
        candidate += 0x10000u;
    uint32_t got = lorawan_rebuild_fcnt(true, last, fcnt16);
    FUZZ_CHECK(got == (uint32_t)candidate, "last %u, fcnt16 %u: %u", last, fcnt16, got);
    FUZZ_CHECK((got <= last) == (candidate > UINT32_MAX), "wrap of %u", last);
}

static void check_data(const uint8_t *phy, size_t len)
{
    struct lorawan_data_frame f;
    memset(&f, 0xa5, sizeof(f));
    enum lorawan_status st = lorawan_parse_data(phy, len, &f);
    FUZZ_CHECK(st == LORAWAN_OK || st == LORAWAN_MALFORMED || st == LORAWAN_UNSUPPORTED,
               "status %d", (int)st);
    FUZZ_CHECK(lorawan_status_name(st)[0] != '?', "status %d has no name", (int)st);
    if (st != LORAWAN_OK)
        return;
    FUZZ_CHECK(len >= 12 && len <= LORAWAN_PHY_MAX_BYTES, "length %zu", len);
    FUZZ_CHECK(f.mtype >= LORAWAN_UNCONFIRMED_UP && f.mtype <= LORAWAN_CONFIRMED_DOWN, "mtype %d",
               (int)f.mtype);
    FUZZ_CHECK(f.fopts_len == (size_t)(f.fctrl & LORAWAN_FCTRL_FOPTS_LEN), "FOptsLen");
    FUZZ_CHECK(f.fopts_len == 0 || inside(f.fopts, f.fopts_len, phy, len), "FOpts outside");
    FUZZ_CHECK(f.has_fport || f.frm_payload_len == 0, "payload without FPort");
    FUZZ_CHECK(!(f.has_fport && f.fport == 0 && f.fopts_len > 0), "FOpts with FPort 0");
    FUZZ_CHECK(f.frm_payload_len == 0 || inside(f.frm_payload, f.frm_payload_len, phy, len),
               "FRMPayload outside");
    size_t accounted = 8 + f.fopts_len + (f.has_fport ? 1 + f.frm_payload_len : 0) + 4;
    FUZZ_CHECK(accounted == len, "%zu of %zu bytes accounted for", accounted, len);
    FUZZ_CHECK(f.mic_covered == phy && f.mic_covered_len == len - 4 &&
                   memcmp(f.mic, phy + len - 4, 4) == 0,
               "MIC");

    enum lorawan_dir dir = f.mtype == LORAWAN_UNCONFIRMED_UP || f.mtype == LORAWAN_CONFIRMED_UP
                               ? LORAWAN_UP
                               : LORAWAN_DOWN;
    uint8_t plain[LORAWAN_PHY_MAX_BYTES];
    memcpy(plain, f.frm_payload_len ? f.frm_payload : plain, f.frm_payload_len);
    const uint8_t *key = f.fport == 0 ? nwk_s_key : app_s_key;
    FUZZ_CHECK(lorawan_crypt_frm_payload(key, dir, f.dev_addr, f.fcnt16, plain, f.frm_payload_len),
               "decrypt");
    uint8_t again[LORAWAN_PHY_MAX_BYTES];
    size_t n = lorawan_build_data(f.mtype, f.dev_addr, f.fctrl, f.fcnt16, f.fopts, f.fopts_len,
                                  f.has_fport, f.fport, plain, f.frm_payload_len, nwk_s_key,
                                  app_s_key, again, sizeof(again));
    FUZZ_CHECK(n == len, "rebuilt as %zu bytes of %zu", n, len);
    FUZZ_CHECK((again[0] & 0xe3) == (phy[0] & 0xe3) && memcmp(again + 1, phy + 1, len - 5) == 0,
               "rebuilt differently");
    bool same_mic = memcmp(again + len - 4, phy + len - 4, 4) == 0 && again[0] == phy[0];
    st = lorawan_check_data_mic(&f, nwk_s_key, dir, f.fcnt16);
    FUZZ_CHECK(st == (same_mic ? LORAWAN_OK : LORAWAN_BAD_MIC), "input MIC: %s",
               lorawan_status_name(st));

    struct lorawan_data_frame g;
    FUZZ_CHECK(lorawan_parse_data(again, n, &g) == LORAWAN_OK, "rebuilt frame does not parse");
    FUZZ_CHECK(lorawan_check_data_mic(&g, nwk_s_key, dir, f.fcnt16) == LORAWAN_OK,
               "rebuilt MIC does not check");
    FUZZ_CHECK(lorawan_check_data_mic(&g, nwk_s_key, dir, f.fcnt16 + 0x10000u) == LORAWAN_BAD_MIC,
               "the MIC ignores FCnt's upper 16 bits");
    check_rebuild_fcnt(f.dev_addr, f.fcnt16);
}

static void check_join_request(const uint8_t *phy, size_t len)
{
    struct lorawan_join_request req;
    enum lorawan_status st = lorawan_parse_join_request(phy, len, &req);
    enum lorawan_status mic = lorawan_check_join_request_mic(phy, len, app_key);
    if (st != LORAWAN_OK) {
        FUZZ_CHECK(mic == st, "the MIC check parses otherwise: %d / %d", (int)mic, (int)st);
        return;
    }
    FUZZ_CHECK(len == LORAWAN_JOIN_REQUEST_BYTES, "length %zu", len);
    uint8_t again[LORAWAN_JOIN_REQUEST_BYTES];
    FUZZ_CHECK(lorawan_build_join_request(&req, app_key, again, sizeof(again)) == len, "build");
    FUZZ_CHECK((again[0] & 0xe3) == (phy[0] & 0xe3) && memcmp(again + 1, phy + 1, 18) == 0,
               "rebuilt differently");
    bool same = again[0] == phy[0] && memcmp(again + 19, phy + 19, 4) == 0;
    FUZZ_CHECK(mic == (same ? LORAWAN_OK : LORAWAN_BAD_MIC), "MIC: %s", lorawan_status_name(mic));
}

static void check_join_accept(const uint8_t *phy, size_t len)
{
    /* The input as it arrives: encrypted, so it opens only when its MIC is right. */
    struct lorawan_join_accept opened;
    enum lorawan_status st = lorawan_open_join_accept(phy, len, app_key, &opened);
    FUZZ_CHECK(st == LORAWAN_OK || st == LORAWAN_MALFORMED || st == LORAWAN_UNSUPPORTED ||
                   st == LORAWAN_BAD_MIC,
               "status %d", (int)st);
    uint8_t again[33];
    if (st == LORAWAN_OK) {
        FUZZ_CHECK(lorawan_build_join_accept(&opened, app_key, again, sizeof(again)) == len,
                   "opened, does not build back");
        FUZZ_CHECK(phy[0] != again[0] || memcmp(again, phy, len) == 0, "built back otherwise");
    }
    /* The input as the plain fields of one: builds, and opens to the same fields. */
    if (len < 14)
        return;
    struct lorawan_join_accept plain = {
        .app_nonce = (uint32_t)phy[1] | (uint32_t)phy[2] << 8 | (uint32_t)phy[3] << 16,
        .net_id = (uint32_t)phy[4] | (uint32_t)phy[5] << 8 | (uint32_t)phy[6] << 16,
        .dev_addr = (uint32_t)phy[7] | (uint32_t)phy[8] << 8 | (uint32_t)phy[9] << 16 |
                    (uint32_t)phy[10] << 24,
        .dl_settings = phy[11],
        .rx_delay_s = phy[12],
        .has_cf_list = phy[13] & 1,
    };
    if (plain.has_cf_list && len >= 30)
        memcpy(plain.cf_list, phy + 14, 16);
    size_t n = lorawan_build_join_accept(&plain, app_key, again, sizeof(again));
    if (plain.rx_delay_s > 15) {
        FUZZ_CHECK(n == 0, "RxDelay %u built", plain.rx_delay_s);
        return;
    }
    FUZZ_CHECK(n == (plain.has_cf_list ? 33u : 17u), "built %zu bytes", n);
    struct lorawan_join_accept back;
    FUZZ_CHECK(lorawan_open_join_accept(again, n, app_key, &back) == LORAWAN_OK, "does not open");
    FUZZ_CHECK(back.app_nonce == plain.app_nonce && back.net_id == plain.net_id &&
                   back.dev_addr == plain.dev_addr && back.dl_settings == plain.dl_settings &&
                   back.rx_delay_s == plain.rx_delay_s && back.has_cf_list == plain.has_cf_list &&
                   memcmp(back.cf_list, plain.cf_list, 16) == 0,
               "opened to other fields");
    uint8_t nwk[16], app[16];
    FUZZ_CHECK(lorawan_derive_session_keys(app_key, plain.app_nonce, plain.net_id,
                                           (uint16_t)plain.dev_addr, nwk, app) &&
                   memcmp(nwk, app, 16) != 0,
               "session keys");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_data(data, size);
    check_join_request(data, size);
    check_join_accept(data, size);
    return 0;
}
