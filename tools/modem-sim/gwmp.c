/*
 * gwmp.c - GWMP datagrams (gwmp.h).
 */
#include "gwmp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

#define HEADER_BYTES 4
#define EUI_BYTES    8

static size_t put_header(uint8_t *out, uint16_t token, enum gwmp_type type)
{
    out[0] = GWMP_VERSION;
    out[1] = (uint8_t)(token >> 8);
    out[2] = (uint8_t)token;
    out[3] = (uint8_t)type;
    return HEADER_BYTES;
}

/* Appends header, EUI and the JSON text of root (consumed). */
static size_t finish(cJSON *root, uint16_t token, enum gwmp_type type, const uint8_t *eui,
                     uint8_t *out, size_t out_size)
{
    char *text = root != NULL ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    size_t json_len = text != NULL ? strlen(text) : 0;
    size_t n = HEADER_BYTES + (eui != NULL ? EUI_BYTES : 0) + json_len;
    if (n > out_size || (root != NULL && text == NULL)) {
        cJSON_free(text);
        return 0;
    }
    size_t at = put_header(out, token, type);
    if (eui != NULL) {
        memcpy(&out[at], eui, EUI_BYTES);
        at += EUI_BYTES;
    }
    if (text != NULL)
        memcpy(&out[at], text, json_len);
    cJSON_free(text);
    return n;
}

static void iso8601(double unix_s, char *out, size_t out_size)
{
    time_t whole = (time_t)floor(unix_s);
    struct tm tm;
    gmtime_r(&whole, &tm);
    long micros = (long)((unix_s - (double)whole) * 1e6);
    char head[32];
    strftime(head, sizeof(head), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, out_size, "%s.%06ldZ", head, micros);
}

size_t gwmp_build_push_data(uint16_t token, const uint8_t eui[8], const struct gwmp_rxpk *rx,
                            uint8_t *out, size_t out_size)
{
    char b64[4 * ((512 + 2) / 3) + 1];
    if (rx->size > 512)
        return 0;
    EVP_EncodeBlock((unsigned char *)b64, rx->data, (int)rx->size);
    char when[48];
    iso8601(rx->time_unix_s, when, sizeof(when));

    cJSON *root = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(root, "rxpk");
    cJSON *pk = cJSON_CreateObject();
    cJSON_AddItemToArray(list, pk);
    cJSON_AddStringToObject(pk, "time", when);
    cJSON_AddNumberToObject(pk, "tmst", rx->tmst_us);
    cJSON_AddNumberToObject(pk, "chan", rx->chan);
    cJSON_AddNumberToObject(pk, "rfch", 0);
    cJSON_AddNumberToObject(pk, "freq", rx->freq_mhz);
    cJSON_AddNumberToObject(pk, "stat", 1); /* CRC ok */
    cJSON_AddStringToObject(pk, "modu", "LORA");
    cJSON_AddStringToObject(pk, "datr", rx->datr);
    cJSON_AddStringToObject(pk, "codr", rx->codr);
    cJSON_AddNumberToObject(pk, "rssi", rx->rssi_dbm);
    cJSON_AddNumberToObject(pk, "lsnr", rx->lsnr_db);
    cJSON_AddNumberToObject(pk, "size", (double)rx->size);
    cJSON_AddStringToObject(pk, "data", b64);
    return finish(root, token, GWMP_PUSH_DATA, eui, out, out_size);
}

size_t gwmp_build_pull_data(uint16_t token, const uint8_t eui[8], uint8_t *out, size_t out_size)
{
    return finish(NULL, token, GWMP_PULL_DATA, eui, out, out_size);
}

size_t gwmp_build_tx_ack(uint16_t token, const uint8_t eui[8], const char *error, uint8_t *out,
                         size_t out_size)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *ack = cJSON_AddObjectToObject(root, "txpk_ack");
    cJSON_AddStringToObject(ack, "error", error);
    return finish(root, token, GWMP_TX_ACK, eui, out, out_size);
}

bool gwmp_parse_header(const uint8_t *buf, size_t len, enum gwmp_type *type, uint16_t *token)
{
    if (len < HEADER_BYTES || buf[0] != GWMP_VERSION || buf[3] > GWMP_TX_ACK)
        return false;
    *token = (uint16_t)(buf[1] << 8 | buf[2]);
    *type = (enum gwmp_type)buf[3];
    return true;
}

bool gwmp_parse_pull_resp(const uint8_t *buf, size_t len, uint8_t *phy, size_t phy_size,
                          size_t *phy_len)
{
    if (len <= HEADER_BYTES)
        return false;
    cJSON *root = cJSON_ParseWithLength((const char *)buf + HEADER_BYTES, len - HEADER_BYTES);
    cJSON *txpk = cJSON_GetObjectItemCaseSensitive(root, "txpk");
    cJSON *data = cJSON_GetObjectItemCaseSensitive(txpk, "data");
    cJSON *size = cJSON_GetObjectItemCaseSensitive(txpk, "size");
    bool ok = false;
    if (cJSON_IsString(data) && cJSON_IsNumber(size)) {
        const char *b64 = data->valuestring;
        size_t b64_len = strlen(b64);
        /* EVP_DecodeBlock wants whole quads and counts padding as zero bytes. */
        if (b64_len % 4 == 0 && b64_len / 4 * 3 <= phy_size + 2 && b64_len <= 4096) {
            unsigned char decoded[4096 / 4 * 3];
            int n = EVP_DecodeBlock(decoded, (const unsigned char *)b64, (int)b64_len);
            if (n >= 0) {
                size_t padding = 0;
                while (padding < 2 && b64_len > padding && b64[b64_len - 1 - padding] == '=')
                    padding++;
                size_t real = (size_t)n - padding;
                if (size->valuedouble == (double)real && real <= phy_size) {
                    memcpy(phy, decoded, real);
                    *phy_len = real;
                    ok = true;
                }
            }
        }
    }
    cJSON_Delete(root);
    return ok;
}
