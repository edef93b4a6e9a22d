/*
 * lorawan.c - LoRaWAN 1.0.x frames and their cryptography (lorawan.h).
 *
 * Parsers read nothing before its length was checked against the caller's len. Crypto goes
 * through OpenSSL 3's EVP interfaces only; every context is freed on every path, and key
 * material copied onto the stack is cleansed before returning.
 */
#include "lorawan.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define BLOCK 16

/* MHDR | DevAddr | FCtrl | FCnt: the bytes before FOpts. */
#define DATA_HEADER_BYTES 8
#define DATA_MIN_BYTES    (DATA_HEADER_BYTES + LORAWAN_MIC_SIZE)
/* The B0 block carries len(msg) in one byte. */
#define MIC_MSG_MAX_BYTES 255
/* The A_i counter of the key stream is one byte, so 255 blocks at most. */
#define FRM_MAX_BYTES (255 * BLOCK)

#define JOIN_ACCEPT_BYTES        17 /* MHDR | AppNonce(3) | NetID(3) | DevAddr | DL | Rx | MIC */
#define JOIN_ACCEPT_CFLIST_BYTES 33
#define JOIN_REQUEST_MIC_COVERED (LORAWAN_JOIN_REQUEST_BYTES - LORAWAN_MIC_SIZE)
#define MHDR_MAJOR_MASK          0x03
#define MHDR_MAJOR_R1            0x00
#define MHDR_MTYPE_SHIFT         5

const char *lorawan_status_name(enum lorawan_status status)
{
    switch (status) {
    case LORAWAN_OK:
        return "ok";
    case LORAWAN_MALFORMED:
        return "malformed";
    case LORAWAN_UNSUPPORTED:
        return "unsupported";
    case LORAWAN_BAD_MIC:
        return "bad MIC";
    case LORAWAN_CRYPTO_FAILED:
        return "crypto failed";
    }
    return "?";
}

static void put_u16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u24le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    put_u16le(p, (uint16_t)v);
    put_u16le(p + 2, (uint16_t)(v >> 16));
}

static void put_eui(uint8_t *p, uint64_t eui)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(eui >> (8 * i));
}

static uint16_t get_u16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u24le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

static uint32_t get_u32le(const uint8_t *p)
{
    return get_u24le(p) | (uint32_t)p[3] << 24;
}

static uint64_t get_eui(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* --- OpenSSL primitives -------------------------------------------------------------- */

/* AES-128 on whole blocks, ECB, no padding. encrypt false is the inverse cipher, which the
 * Join-Accept uses in place of encryption. in and out may be the same buffer. */
static bool aes_ecb(const uint8_t key[LORAWAN_KEY_SIZE], bool encrypt, const uint8_t *in,
                    uint8_t *out, size_t len)
{
    if (len % BLOCK != 0 || len > FRM_MAX_BYTES)
        return false;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int out_len = 0, final_len = 0;
    bool ok = ctx != NULL &&
              EVP_CipherInit_ex2(ctx, EVP_aes_128_ecb(), key, NULL, encrypt ? 1 : 0, NULL) == 1 &&
              EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
              EVP_CipherUpdate(ctx, out, &out_len, in, (int)len) == 1 && (size_t)out_len == len &&
              EVP_CipherFinal_ex(ctx, out + out_len, &final_len) == 1 && final_len == 0;
    EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* The full 16-byte AES-CMAC of the concatenation of two parts (either may be empty). */
static bool aes_cmac(const uint8_t key[LORAWAN_KEY_SIZE], const uint8_t *a, size_t a_len,
                     const uint8_t *b, size_t b_len, uint8_t tag[BLOCK])
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
    EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
    /* The parameter array wants a non-const string; OpenSSL does not write to it. */
    char cipher[] = "AES-128-CBC";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, cipher, 0),
        OSSL_PARAM_construct_end(),
    };
    size_t tag_len = 0;
    bool ok = ctx != NULL && EVP_MAC_init(ctx, key, LORAWAN_KEY_SIZE, params) == 1 &&
              (a_len == 0 || EVP_MAC_update(ctx, a, a_len) == 1) &&
              (b_len == 0 || EVP_MAC_update(ctx, b, b_len) == 1) &&
              EVP_MAC_final(ctx, tag, &tag_len, BLOCK) == 1 && tag_len == BLOCK;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
    return ok;
}

/* --- data frames --------------------------------------------------------------------- */

/* B0 and A_i share a layout: tag | 0^4 | dir | DevAddr | FCnt | 0x00 | last. */
static void spec_block(uint8_t block[BLOCK], uint8_t tag, enum lorawan_dir dir, uint32_t dev_addr,
                       uint32_t fcnt, uint8_t last)
{
    memset(block, 0, BLOCK);
    block[0] = tag;
    block[5] = dir == LORAWAN_DOWN ? 1 : 0;
    put_u32le(&block[6], dev_addr);
    put_u32le(&block[10], fcnt);
    block[15] = last;
}

static bool is_data_mtype(enum lorawan_mtype mtype)
{
    return mtype >= LORAWAN_UNCONFIRMED_UP && mtype <= LORAWAN_CONFIRMED_DOWN;
}

/* The MHDR checks every frame type shares: major R1, and no 1.1 or proprietary types. */
static enum lorawan_status check_mhdr(uint8_t mhdr, enum lorawan_mtype *mtype)
{
    *mtype = (enum lorawan_mtype)(mhdr >> MHDR_MTYPE_SHIFT);
    if ((mhdr & MHDR_MAJOR_MASK) != MHDR_MAJOR_R1 || *mtype == LORAWAN_REJOIN_REQUEST ||
        *mtype == LORAWAN_PROPRIETARY)
        return LORAWAN_UNSUPPORTED;
    return LORAWAN_OK;
}

enum lorawan_status lorawan_parse_data(const uint8_t *phy, size_t len,
                                       struct lorawan_data_frame *out)
{
    if (phy == NULL || len < 1 || len > LORAWAN_PHY_MAX_BYTES)
        return LORAWAN_MALFORMED;
    enum lorawan_mtype mtype;
    enum lorawan_status st = check_mhdr(phy[0], &mtype);
    if (st != LORAWAN_OK)
        return st;
    if (!is_data_mtype(mtype) || len < DATA_MIN_BYTES)
        return LORAWAN_MALFORMED;
    uint8_t fctrl = phy[5];
    size_t fopts_len = fctrl & LORAWAN_FCTRL_FOPTS_LEN;
    size_t body_end = len - LORAWAN_MIC_SIZE; /* len >= 12, so no underflow */
    size_t at = DATA_HEADER_BYTES;
    if (fopts_len > body_end - at)
        return LORAWAN_MALFORMED;

    struct lorawan_data_frame f = {
        .mtype = mtype,
        .dev_addr = get_u32le(&phy[1]),
        .fctrl = fctrl,
        .fcnt16 = get_u16le(&phy[6]),
        .fopts = fopts_len > 0 ? &phy[at] : NULL,
        .fopts_len = fopts_len,
        .mic_covered = phy,
        .mic_covered_len = body_end,
    };
    at += fopts_len;
    if (at < body_end) {
        f.has_fport = true;
        f.fport = phy[at++];
        /* MAC commands either in FOpts or in a port-0 FRMPayload, never both (1.0.x 4.3.1.6):
         * the network ignores such a frame. */
        if (f.fport == 0 && fopts_len > 0)
            return LORAWAN_MALFORMED;
        f.frm_payload = at < body_end ? &phy[at] : NULL;
        f.frm_payload_len = body_end - at;
    }
    memcpy(f.mic, &phy[body_end], LORAWAN_MIC_SIZE);
    *out = f;
    return LORAWAN_OK;
}

bool lorawan_data_mic(const uint8_t nwk_s_key[LORAWAN_KEY_SIZE], enum lorawan_dir dir,
                      uint32_t dev_addr, uint32_t fcnt, const uint8_t *msg, size_t len,
                      uint8_t mic[LORAWAN_MIC_SIZE])
{
    if (len > MIC_MSG_MAX_BYTES || (msg == NULL && len > 0))
        return false;
    uint8_t b0[BLOCK], tag[BLOCK];
    spec_block(b0, 0x49, dir, dev_addr, fcnt, (uint8_t)len);
    if (!aes_cmac(nwk_s_key, b0, sizeof(b0), msg, len, tag))
        return false;
    memcpy(mic, tag, LORAWAN_MIC_SIZE);
    return true;
}

enum lorawan_status lorawan_check_data_mic(const struct lorawan_data_frame *frame,
                                           const uint8_t nwk_s_key[LORAWAN_KEY_SIZE],
                                           enum lorawan_dir dir, uint32_t fcnt)
{
    uint8_t mic[LORAWAN_MIC_SIZE];
    if (!lorawan_data_mic(nwk_s_key, dir, frame->dev_addr, fcnt, frame->mic_covered,
                          frame->mic_covered_len, mic))
        return LORAWAN_CRYPTO_FAILED;
    return CRYPTO_memcmp(mic, frame->mic, LORAWAN_MIC_SIZE) == 0 ? LORAWAN_OK : LORAWAN_BAD_MIC;
}

bool lorawan_crypt_frm_payload(const uint8_t key[LORAWAN_KEY_SIZE], enum lorawan_dir dir,
                               uint32_t dev_addr, uint32_t fcnt, uint8_t *payload, size_t len)
{
    if (len > FRM_MAX_BYTES || (payload == NULL && len > 0))
        return false;
    if (len == 0)
        return true;
    /* The whole key stream in one ECB call: A_1 .. A_k, then XOR. */
    uint8_t stream[FRM_MAX_BYTES];
    size_t blocks = (len + BLOCK - 1) / BLOCK;
    for (size_t i = 0; i < blocks; i++)
        spec_block(&stream[i * BLOCK], 0x01, dir, dev_addr, fcnt, (uint8_t)(i + 1));
    bool ok = aes_ecb(key, true, stream, stream, blocks * BLOCK);
    if (ok) {
        for (size_t i = 0; i < len; i++)
            payload[i] ^= stream[i];
    }
    OPENSSL_cleanse(stream, blocks * BLOCK);
    return ok;
}

uint32_t lorawan_rebuild_fcnt(bool has_last, uint32_t last_fcnt, uint16_t fcnt16)
{
    if (!has_last)
        return fcnt16;
    /* Unsigned arithmetic: past 0xFFFFFFFF the result wraps to a value at or below
     * last_fcnt, which the caller refuses as old. */
    uint32_t candidate = (last_fcnt & 0xFFFF0000u) | fcnt16;
    if (candidate <= last_fcnt)
        candidate += 0x10000u;
    return candidate;
}

size_t lorawan_build_data(enum lorawan_mtype mtype, uint32_t dev_addr, uint8_t fctrl, uint32_t fcnt,
                          const uint8_t *fopts, size_t fopts_len, bool has_fport, uint8_t fport,
                          const uint8_t *payload, size_t payload_len,
                          const uint8_t nwk_s_key[LORAWAN_KEY_SIZE],
                          const uint8_t app_s_key[LORAWAN_KEY_SIZE], uint8_t *out, size_t out_size)
{
    if (!is_data_mtype(mtype) || fopts_len > LORAWAN_FOPTS_MAX ||
        (fopts == NULL && fopts_len > 0) || (payload == NULL && payload_len > 0) ||
        (!has_fport && payload_len > 0) || (has_fport && fport == 0 && fopts_len > 0) ||
        out == NULL)
        return 0;
    size_t total =
        DATA_HEADER_BYTES + fopts_len + (has_fport ? 1 + payload_len : 0) + LORAWAN_MIC_SIZE;
    if (payload_len > LORAWAN_PHY_MAX_BYTES || total > LORAWAN_PHY_MAX_BYTES || total > out_size)
        return 0;
    out[0] = (uint8_t)((unsigned)mtype << MHDR_MTYPE_SHIFT | MHDR_MAJOR_R1);
    put_u32le(&out[1], dev_addr);
    out[5] = (uint8_t)((fctrl & ~LORAWAN_FCTRL_FOPTS_LEN) | fopts_len);
    put_u16le(&out[6], (uint16_t)fcnt);
    size_t at = DATA_HEADER_BYTES;
    if (fopts_len > 0)
        memcpy(&out[at], fopts, fopts_len);
    at += fopts_len;
    enum lorawan_dir dir = (mtype == LORAWAN_UNCONFIRMED_UP || mtype == LORAWAN_CONFIRMED_UP)
                               ? LORAWAN_UP
                               : LORAWAN_DOWN;
    if (has_fport) {
        out[at++] = fport;
        if (payload_len > 0)
            memcpy(&out[at], payload, payload_len);
        const uint8_t *key = fport == 0 ? nwk_s_key : app_s_key;
        if (!lorawan_crypt_frm_payload(key, dir, dev_addr, fcnt, &out[at], payload_len))
            return 0;
        at += payload_len;
    }
    if (!lorawan_data_mic(nwk_s_key, dir, dev_addr, fcnt, out, at, &out[at]))
        return 0;
    return total;
}

/* --- OTAA ---------------------------------------------------------------------------- */

enum lorawan_status lorawan_parse_join_request(const uint8_t *phy, size_t len,
                                               struct lorawan_join_request *out)
{
    if (phy == NULL || len < 1)
        return LORAWAN_MALFORMED;
    enum lorawan_mtype mtype;
    enum lorawan_status st = check_mhdr(phy[0], &mtype);
    if (st != LORAWAN_OK)
        return st;
    if (mtype != LORAWAN_JOIN_REQUEST || len != LORAWAN_JOIN_REQUEST_BYTES)
        return LORAWAN_MALFORMED;
    out->join_eui = get_eui(&phy[1]);
    out->dev_eui = get_eui(&phy[9]);
    out->dev_nonce = get_u16le(&phy[17]);
    return LORAWAN_OK;
}

enum lorawan_status lorawan_check_join_request_mic(const uint8_t *phy, size_t len,
                                                   const uint8_t app_key[LORAWAN_KEY_SIZE])
{
    struct lorawan_join_request req;
    enum lorawan_status st = lorawan_parse_join_request(phy, len, &req);
    if (st != LORAWAN_OK)
        return st;
    uint8_t tag[BLOCK];
    if (!aes_cmac(app_key, phy, JOIN_REQUEST_MIC_COVERED, NULL, 0, tag))
        return LORAWAN_CRYPTO_FAILED;
    return CRYPTO_memcmp(tag, &phy[JOIN_REQUEST_MIC_COVERED], LORAWAN_MIC_SIZE) == 0
               ? LORAWAN_OK
               : LORAWAN_BAD_MIC;
}

size_t lorawan_build_join_request(const struct lorawan_join_request *req,
                                  const uint8_t app_key[LORAWAN_KEY_SIZE], uint8_t *out,
                                  size_t out_size)
{
    if (out == NULL || out_size < LORAWAN_JOIN_REQUEST_BYTES)
        return 0;
    out[0] = (uint8_t)(LORAWAN_JOIN_REQUEST << MHDR_MTYPE_SHIFT | MHDR_MAJOR_R1);
    put_eui(&out[1], req->join_eui);
    put_eui(&out[9], req->dev_eui);
    put_u16le(&out[17], req->dev_nonce);
    uint8_t tag[BLOCK];
    if (!aes_cmac(app_key, out, JOIN_REQUEST_MIC_COVERED, NULL, 0, tag))
        return 0;
    memcpy(&out[JOIN_REQUEST_MIC_COVERED], tag, LORAWAN_MIC_SIZE);
    return LORAWAN_JOIN_REQUEST_BYTES;
}

size_t lorawan_build_join_accept(const struct lorawan_join_accept *accept,
                                 const uint8_t app_key[LORAWAN_KEY_SIZE], uint8_t *out,
                                 size_t out_size)
{
    size_t total = accept->has_cf_list ? JOIN_ACCEPT_CFLIST_BYTES : JOIN_ACCEPT_BYTES;
    if (out == NULL || out_size < total || accept->app_nonce > 0xFFFFFFu ||
        accept->net_id > 0xFFFFFFu || accept->rx_delay_s > 15)
        return 0;
    uint8_t plain[JOIN_ACCEPT_CFLIST_BYTES];
    plain[0] = (uint8_t)(LORAWAN_JOIN_ACCEPT << MHDR_MTYPE_SHIFT | MHDR_MAJOR_R1);
    put_u24le(&plain[1], accept->app_nonce);
    put_u24le(&plain[4], accept->net_id);
    put_u32le(&plain[7], accept->dev_addr);
    plain[11] = accept->dl_settings;
    plain[12] = accept->rx_delay_s;
    if (accept->has_cf_list)
        memcpy(&plain[13], accept->cf_list, sizeof(accept->cf_list));
    size_t mic_at = total - LORAWAN_MIC_SIZE;
    uint8_t tag[BLOCK];
    bool ok = aes_cmac(app_key, plain, mic_at, NULL, 0, tag);
    if (ok) {
        memcpy(&plain[mic_at], tag, LORAWAN_MIC_SIZE);
        out[0] = plain[0];
        /* The network "encrypts" with AES decrypt so that the device needs only AES
         * encrypt to open it (1.0.x 6.2.5). */
        ok = aes_ecb(app_key, false, &plain[1], &out[1], total - 1);
    }
    OPENSSL_cleanse(plain, sizeof(plain));
    return ok ? total : 0;
}

enum lorawan_status lorawan_open_join_accept(const uint8_t *phy, size_t len,
                                             const uint8_t app_key[LORAWAN_KEY_SIZE],
                                             struct lorawan_join_accept *out)
{
    if (phy == NULL || len < 1)
        return LORAWAN_MALFORMED;
    enum lorawan_mtype mtype;
    enum lorawan_status st = check_mhdr(phy[0], &mtype);
    if (st != LORAWAN_OK)
        return st;
    if (mtype != LORAWAN_JOIN_ACCEPT ||
        (len != JOIN_ACCEPT_BYTES && len != JOIN_ACCEPT_CFLIST_BYTES))
        return LORAWAN_MALFORMED;
    uint8_t plain[JOIN_ACCEPT_CFLIST_BYTES];
    plain[0] = phy[0];
    if (!aes_ecb(app_key, true, &phy[1], &plain[1], len - 1))
        return LORAWAN_CRYPTO_FAILED;
    size_t mic_at = len - LORAWAN_MIC_SIZE;
    uint8_t tag[BLOCK];
    if (!aes_cmac(app_key, plain, mic_at, NULL, 0, tag)) {
        st = LORAWAN_CRYPTO_FAILED;
    } else if (CRYPTO_memcmp(tag, &plain[mic_at], LORAWAN_MIC_SIZE) != 0) {
        st = LORAWAN_BAD_MIC;
    } else {
        memset(out, 0, sizeof(*out));
        out->app_nonce = get_u24le(&plain[1]);
        out->net_id = get_u24le(&plain[4]);
        out->dev_addr = get_u32le(&plain[7]);
        out->dl_settings = plain[11];
        out->rx_delay_s = plain[12] & 0x0F; /* the upper bits are RFU */
        out->has_cf_list = len == JOIN_ACCEPT_CFLIST_BYTES;
        if (out->has_cf_list)
            memcpy(out->cf_list, &plain[13], sizeof(out->cf_list));
    }
    OPENSSL_cleanse(plain, sizeof(plain));
    return st;
}

bool lorawan_derive_session_keys(const uint8_t app_key[LORAWAN_KEY_SIZE], uint32_t app_nonce,
                                 uint32_t net_id, uint16_t dev_nonce,
                                 uint8_t nwk_s_key[LORAWAN_KEY_SIZE],
                                 uint8_t app_s_key[LORAWAN_KEY_SIZE])
{
    if (app_nonce > 0xFFFFFFu || net_id > 0xFFFFFFu)
        return false;
    uint8_t blocks[2 * BLOCK] = {0};
    for (int i = 0; i < 2; i++) {
        uint8_t *b = &blocks[i * BLOCK];
        b[0] = (uint8_t)(i + 1); /* 0x01 NwkSKey, 0x02 AppSKey */
        put_u24le(&b[1], app_nonce);
        put_u24le(&b[4], net_id);
        put_u16le(&b[7], dev_nonce);
    }
    bool ok = aes_ecb(app_key, true, blocks, blocks, sizeof(blocks));
    if (ok) {
        memcpy(nwk_s_key, &blocks[0], LORAWAN_KEY_SIZE);
        memcpy(app_s_key, &blocks[BLOCK], LORAWAN_KEY_SIZE);
    }
    OPENSSL_cleanse(blocks, sizeof(blocks));
    return ok;
}
