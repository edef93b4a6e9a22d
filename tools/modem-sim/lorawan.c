/*
 * lorawan.c - LoRaWAN 1.0.x frame protection with OpenSSL (lorawan.h).
 */
#include "lorawan.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define BLOCK 16

static void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The A_i and B0 blocks share a layout: tag | 0^4 | dir | DevAddr | FCnt | 0 | last. */
static void spec_block(uint8_t block[BLOCK], uint8_t tag, uint8_t dir, uint32_t dev_addr,
                       uint32_t fcnt, uint8_t last)
{
    memset(block, 0, BLOCK);
    block[0] = tag;
    block[5] = dir;
    put_u32le(&block[6], dev_addr);
    put_u32le(&block[10], fcnt);
    block[15] = last;
}

bool lorawan_crypt_payload(const uint8_t key[16], uint8_t dir, uint32_t dev_addr, uint32_t fcnt,
                           uint8_t *payload, size_t len)
{
    if (len > 255 * BLOCK)
        return false;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    bool ok = ctx != NULL && EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL) == 1 &&
              EVP_CIPHER_CTX_set_padding(ctx, 0) == 1;
    for (size_t i = 0; ok && i * BLOCK < len; i++) {
        uint8_t a[BLOCK], s[BLOCK];
        int out_len = 0;
        spec_block(a, 0x01, dir, dev_addr, fcnt, (uint8_t)(i + 1));
        ok = EVP_EncryptUpdate(ctx, s, &out_len, a, BLOCK) == 1 && out_len == BLOCK;
        for (size_t j = 0; ok && j < BLOCK && i * BLOCK + j < len; j++)
            payload[i * BLOCK + j] ^= s[j];
    }
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

bool lorawan_mic(const uint8_t nwk_s_key[16], uint8_t dir, uint32_t dev_addr, uint32_t fcnt,
                 const uint8_t *msg, size_t len, uint8_t mic[4])
{
    if (len > 255)
        return false;
    uint8_t b0[BLOCK];
    spec_block(b0, 0x49, dir, dev_addr, fcnt, (uint8_t)len);
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, "AES-128-CBC", 0),
        OSSL_PARAM_construct_end(),
    };
    uint8_t full[BLOCK];
    size_t full_len = 0;
    bool ok = ctx != NULL && EVP_MAC_init(ctx, nwk_s_key, 16, params) == 1 &&
              EVP_MAC_update(ctx, b0, sizeof(b0)) == 1 && EVP_MAC_update(ctx, msg, len) == 1 &&
              EVP_MAC_final(ctx, full, &full_len, sizeof(full)) == 1 && full_len == BLOCK;
    if (ok)
        memcpy(mic, full, 4);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok;
}

size_t lorawan_build_uplink(const struct lorawan_session *s, bool confirmed, uint8_t fctrl,
                            uint8_t fport, const uint8_t *payload, size_t len, uint8_t *out,
                            size_t out_size)
{
    size_t total = 1 + 4 + 1 + 2 + 1 + len + 4;
    if (total > out_size || total > 255 || (fctrl & 0x0F) != 0)
        return 0; /* no FOpts: the simulator sends no MAC commands */
    out[0] = confirmed ? LORAWAN_MHDR_CONFIRMED_UP : LORAWAN_MHDR_UNCONFIRMED_UP;
    put_u32le(&out[1], s->dev_addr);
    out[5] = fctrl;
    out[6] = (uint8_t)s->fcnt_up;
    out[7] = (uint8_t)(s->fcnt_up >> 8);
    out[8] = fport;
    memcpy(&out[9], payload, len);
    const uint8_t *key = fport == 0 ? s->nwk_s_key : s->app_s_key;
    if (!lorawan_crypt_payload(key, 0, s->dev_addr, s->fcnt_up, &out[9], len) ||
        !lorawan_mic(s->nwk_s_key, 0, s->dev_addr, s->fcnt_up, out, 9 + len, &out[9 + len]))
        return 0;
    return total;
}

/* The 32-bit counter nearest above the last accepted one whose low 16 bits are fcnt16. */
static uint32_t rebuild_fcnt(const struct lorawan_session *s, uint16_t fcnt16)
{
    if (!s->have_fcnt_down)
        return fcnt16;
    uint32_t candidate = (s->fcnt_down & 0xFFFF0000u) | fcnt16;
    if (candidate <= s->fcnt_down)
        candidate += 0x10000u;
    return candidate;
}

enum lorawan_rx_status lorawan_open_downlink(struct lorawan_session *s, const uint8_t *phy,
                                             size_t len, struct lorawan_downlink *out)
{
    /* MHDR, DevAddr, FCtrl, FCnt, MIC at least. */
    if (len < 12 || len > LORAWAN_MAX_PHY_BYTES)
        return LORAWAN_RX_MALFORMED;
    if (phy[0] != LORAWAN_MHDR_UNCONFIRMED_DOWN && phy[0] != LORAWAN_MHDR_CONFIRMED_DOWN)
        return LORAWAN_RX_NOT_FOR_US;
    if (get_u32le(&phy[1]) != s->dev_addr)
        return LORAWAN_RX_NOT_FOR_US;
    uint8_t fctrl = phy[5];
    size_t fopts_len = fctrl & 0x0F;
    size_t header = 8 + fopts_len;
    if (header + 4 > len)
        return LORAWAN_RX_MALFORMED;
    uint16_t fcnt16 = (uint16_t)(phy[6] | phy[7] << 8);
    uint32_t fcnt = rebuild_fcnt(s, fcnt16);
    uint8_t mic[4];
    if (!lorawan_mic(s->nwk_s_key, 1, s->dev_addr, fcnt, phy, len - 4, mic))
        return LORAWAN_RX_MALFORMED;
    if (memcmp(mic, &phy[len - 4], 4) != 0) {
        /* Not valid as a new frame; valid with the counter of one already taken? Then it
         * is a replay, worth telling apart from noise in the log. */
        uint32_t old = (s->fcnt_down & 0xFFFF0000u) | fcnt16;
        if (s->have_fcnt_down && old <= s->fcnt_down &&
            lorawan_mic(s->nwk_s_key, 1, s->dev_addr, old, phy, len - 4, mic) &&
            memcmp(mic, &phy[len - 4], 4) == 0)
            return LORAWAN_RX_REPLAY;
        return LORAWAN_RX_BAD_MIC;
    }

    memset(out, 0, sizeof(*out));
    out->confirmed = phy[0] == LORAWAN_MHDR_CONFIRMED_DOWN;
    out->ack = (fctrl & LORAWAN_FCTRL_ACK) != 0;
    out->fcnt = fcnt;
    size_t body = len - 4 - header;
    if (body > 0) {
        out->has_port = true;
        out->fport = phy[header];
        out->len = body - 1;
        memcpy(out->payload, &phy[header + 1], out->len);
        const uint8_t *key = out->fport == 0 ? s->nwk_s_key : s->app_s_key;
        if (!lorawan_crypt_payload(key, 1, s->dev_addr, fcnt, out->payload, out->len))
            return LORAWAN_RX_MALFORMED;
    }
    s->fcnt_down = fcnt;
    s->have_fcnt_down = true;
    return LORAWAN_RX_OK;
}

const char *lorawan_rx_status_name(enum lorawan_rx_status status)
{
    switch (status) {
    case LORAWAN_RX_OK:
        return "ok";
    case LORAWAN_RX_MALFORMED:
        return "malformed";
    case LORAWAN_RX_NOT_FOR_US:
        return "not for this device";
    case LORAWAN_RX_BAD_MIC:
        return "bad MIC";
    case LORAWAN_RX_REPLAY:
        return "replayed FCnt";
    }
    return "?";
}
