/*
 * lorawan/gwmp.c - GWMP datagrams, both sides (lorawan/gwmp.h). The order of the checks in
 * read_rxpk is the order in which a frame's faults are named: a field of the wrong type
 * before FSK, FSK before a bad CRC, a bad CRC before oversize data, oversize before bad
 * base64.
 */
#include "lorawan/gwmp.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "util/rfc3339.h"

#define UPSTREAM_HEADER_BYTES (GWMP_HEADER_BYTES + GWMP_EUI_BYTES)
#define TIME_TEXT_MAX         40 /* an rxpk "time" string is refused from this length on */

static const char *const drop_names[GWMP_DROP_COUNT] = {
    [GWMP_DROP_SHORT] = "short",
    [GWMP_DROP_BAD_VERSION] = "bad_version",
    [GWMP_DROP_BAD_TYPE] = "bad_type",
    [GWMP_DROP_BAD_JSON] = "bad_json",
    [GWMP_DROP_RXPK_INVALID] = "rxpk_invalid",
    [GWMP_DROP_RXPK_OVERSIZE] = "rxpk_oversize",
    [GWMP_DROP_CRC] = "crc",
    [GWMP_DROP_NOT_LORA] = "not_lora",
    [GWMP_DROP_TXPK_INVALID] = "txpk_invalid",
};

const char *gwmp_drop_name(enum gwmp_drop why)
{
    return (unsigned)why < GWMP_DROP_COUNT ? drop_names[why] : "?";
}

static int drop(enum gwmp_drop *why, enum gwmp_drop what)
{
    *why = what;
    return -1;
}

void gwmp_format_eui(const uint8_t eui[GWMP_EUI_BYTES], char out[2 * GWMP_EUI_BYTES + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < GWMP_EUI_BYTES; i++) {
        out[2 * i] = hex[eui[i] >> 4];
        out[2 * i + 1] = hex[eui[i] & 0x0f];
    }
    out[2 * GWMP_EUI_BYTES] = '\0';
}

/* ---- fields ---- */

/* Reads a number field into *out when present and within [lo, hi]. Returns false when the
 * field is present but not such a number; *present says whether it was there. */
static bool number_field(const cJSON *obj, const char *name, double lo, double hi, double *out,
                         bool *present)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    *present = item != NULL;
    if (item == NULL)
        return true;
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= lo && item->valuedouble <= hi))
        return false;
    *out = item->valuedouble;
    return true;
}

/* "SF7BW125" .. "SF12BW500", as forwarders write it (no sign, no leading zero). */
static bool lora_datr(const char *datr)
{
    const char *p = datr + 2;
    if (datr[0] != 'S' || datr[1] != 'F')
        return false;
    if (p[0] == '1' && p[1] >= '0' && p[1] <= '2')
        p += 2;
    else if (p[0] >= '7' && p[0] <= '9')
        p += 1;
    else
        return false;
    return strcmp(p, "BW125") == 0 || strcmp(p, "BW250") == 0 || strcmp(p, "BW500") == 0;
}

/* A codr worth keeping: digits and '/' that fit ("4/5"); anything else is left out. */
static void keep_codr(const cJSON *codr, char out[GWMP_CODR_SIZE])
{
    out[0] = '\0';
    if (!cJSON_IsString(codr))
        return;
    size_t len = strlen(codr->valuestring);
    if (len < GWMP_CODR_SIZE && strspn(codr->valuestring, "0123456789/") == len)
        memcpy(out, codr->valuestring, len + 1);
}

/* base64 data of 1..LORAWAN_PHY_MAX_BYTES bytes. Returns the length or -1. */
static long decode_data(const char *b64, size_t b64_len, uint8_t out[LORAWAN_PHY_MAX_BYTES])
{
    long n = base64_decode(b64, b64_len, BASE64_PAD_OPTIONAL, out, LORAWAN_PHY_MAX_BYTES, NULL);
    return n > 0 ? n : -1;
}

/* ---- header ---- */

int gwmp_parse_header(const uint8_t *buf, size_t len, enum gwmp_role receiver,
                      struct gwmp_header *out, enum gwmp_drop *why)
{
    if (len < GWMP_HEADER_BYTES)
        return drop(why, GWMP_DROP_SHORT);
    uint8_t version = buf[0], type = buf[3];
    bool server = receiver == GWMP_SERVER;
    if (server ? version != 1 && version != 2 : version != GWMP_VERSION)
        return drop(why, GWMP_DROP_BAD_VERSION);
    bool expected = server
                        ? type == GWMP_PUSH_DATA || type == GWMP_PULL_DATA || type == GWMP_TX_ACK
                        : type == GWMP_PUSH_ACK || type == GWMP_PULL_ACK || type == GWMP_PULL_RESP;
    if (!expected)
        return drop(why, GWMP_DROP_BAD_TYPE);
    out->version = version;
    out->token = (uint16_t)(buf[1] << 8 | buf[2]);
    out->type = (enum gwmp_type)type;
    return 0;
}

static size_t put_header(uint8_t *out, uint8_t version, uint16_t token, enum gwmp_type type)
{
    out[0] = version;
    out[1] = (uint8_t)(token >> 8);
    out[2] = (uint8_t)token;
    out[3] = (uint8_t)type;
    return GWMP_HEADER_BYTES;
}

/* The header and EUI of a datagram of `type` from a forwarder. */
static int parse_upstream(const uint8_t *buf, size_t len, enum gwmp_type type,
                          struct gwmp_header *header, uint8_t eui[GWMP_EUI_BYTES],
                          enum gwmp_drop *why)
{
    if (gwmp_parse_header(buf, len, GWMP_SERVER, header, why) != 0)
        return -1;
    if (header->type != type)
        return drop(why, GWMP_DROP_BAD_TYPE);
    if (len < UPSTREAM_HEADER_BYTES)
        return drop(why, GWMP_DROP_SHORT);
    memcpy(eui, buf + GWMP_HEADER_BYTES, GWMP_EUI_BYTES);
    return 0;
}

/* The JSON object after the first `skip` bytes; NULL when there is none. */
static cJSON *parse_object(const uint8_t *buf, size_t len, size_t skip)
{
    cJSON *root = cJSON_ParseWithLength((const char *)buf + skip, len - skip);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* Appends header, EUI (may be NULL) and the JSON text of root (may be NULL; consumed). */
static size_t finish(cJSON *root, uint8_t version, uint16_t token, enum gwmp_type type,
                     const uint8_t *eui, uint8_t *out, size_t out_size)
{
    char *text = root != NULL ? cJSON_PrintUnformatted(root) : NULL;
    bool lost = root != NULL && text == NULL;
    cJSON_Delete(root);
    size_t json_len = text != NULL ? strlen(text) : 0;
    size_t n = GWMP_HEADER_BYTES + (eui != NULL ? GWMP_EUI_BYTES : 0) + json_len;
    if (lost || n > out_size) {
        cJSON_free(text);
        return 0;
    }
    size_t at = put_header(out, version, token, type);
    if (eui != NULL) {
        memcpy(out + at, eui, GWMP_EUI_BYTES);
        at += GWMP_EUI_BYTES;
    }
    if (text != NULL)
        memcpy(out + at, text, json_len);
    cJSON_free(text);
    return n;
}

/* ---- the server side: PUSH_DATA ---- */

static bool read_stat(const cJSON *stat, struct gwmp_stat *out)
{
    static const char *const names[] = {"rxnb", "rxok", "rxfw", "dwnb", "txnb"};
    uint32_t *const fields[] = {&out->rxnb, &out->rxok, &out->rxfw, &out->dwnb, &out->txnb};
    double v = 0, ackr = 0;
    bool present;
    for (size_t i = 0; i < 5; i++) {
        if (!number_field(stat, names[i], 0, UINT32_MAX, &v, &present))
            return false; /* a damaged stat is ignored as a whole */
        *fields[i] = present ? (uint32_t)v : 0;
    }
    if (!number_field(stat, "ackr", 0, 100, &ackr, &present))
        return false;
    out->ackr = ackr;
    return true;
}

int gwmp_parse_push_data(const uint8_t *buf, size_t len, struct gwmp_push_data *out,
                         enum gwmp_drop *why)
{
    memset(out, 0, sizeof(*out));
    if (parse_upstream(buf, len, GWMP_PUSH_DATA, &out->header, out->eui, why) != 0)
        return -1;
    cJSON *root = parse_object(buf, len, UPSTREAM_HEADER_BYTES);
    if (root == NULL)
        return drop(why, GWMP_DROP_BAD_JSON);
    out->tree = root;
    const cJSON *stat = cJSON_GetObjectItemCaseSensitive(root, "stat");
    if (cJSON_IsObject(stat))
        out->has_stat = read_stat(stat, &out->stat);
    cJSON *rxpk = cJSON_GetObjectItemCaseSensitive(root, "rxpk");
    if (rxpk != NULL && !cJSON_IsArray(rxpk))
        out->rxpk_not_array = true;
    else
        out->next = rxpk != NULL ? rxpk->child : NULL;
    return 0;
}

/* One rxpk into rx; 0, or -1 with *why. */
static int read_rxpk(const cJSON *pk, struct gwmp_rxpk *rx, enum gwmp_drop *why)
{
    if (!cJSON_IsObject(pk))
        return drop(why, GWMP_DROP_RXPK_INVALID);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(pk, "data");
    const cJSON *datr = cJSON_GetObjectItemCaseSensitive(pk, "datr");
    const cJSON *codr = cJSON_GetObjectItemCaseSensitive(pk, "codr");
    const cJSON *time = cJSON_GetObjectItemCaseSensitive(pk, "time");
    double tmst = 0, freq = 0, rssi = 0, lsnr = 0, stat = 0, size = 0;
    bool has_tmst, has_freq, has_rssi, has_lsnr, has_stat, has_size;
    bool ok =
        number_field(pk, "tmst", 0, UINT32_MAX, &tmst, &has_tmst) &&
        number_field(pk, "freq", 100, 1000, &freq, &has_freq) &&
        number_field(pk, "rssi", -250, 50, &rssi, &has_rssi) &&
        number_field(pk, "lsnr", -50, 50, &lsnr, &has_lsnr) &&
        number_field(pk, "stat", -1, 1, &stat, &has_stat) &&
        number_field(pk, "size", 0, 65535, &size, &has_size) && has_tmst && has_freq && has_rssi &&
        has_stat && cJSON_IsString(data) &&
        (time == NULL || (cJSON_IsString(time) && strlen(time->valuestring) < TIME_TEXT_MAX)) &&
        (codr == NULL || cJSON_IsString(codr));
    if (ok && cJSON_IsNumber(datr))
        return drop(why, GWMP_DROP_NOT_LORA); /* FSK: a bit rate, not SFxBWy */
    if (!ok || !cJSON_IsString(datr) || !lora_datr(datr->valuestring) || !has_lsnr ||
        tmst != floor(tmst) || stat != floor(stat))
        return drop(why, GWMP_DROP_RXPK_INVALID);
    if (stat != 1)
        return drop(why, GWMP_DROP_CRC);
    size_t b64_len = strlen(data->valuestring);
    if (b64_len > GWMP_DATA_B64_MAX)
        return drop(why, GWMP_DROP_RXPK_OVERSIZE);
    long n = decode_data(data->valuestring, b64_len, rx->data);
    if (n < 0 || (has_size && size != (double)n))
        return drop(why, GWMP_DROP_RXPK_INVALID);
    rx->size = (size_t)n;
    rx->has_time = time != NULL && rfc3339_parse_us(time->valuestring, strlen(time->valuestring),
                                                    &rx->time_unix_us) == 0;
    if (!rx->has_time)
        rx->time_unix_us = 0;
    rx->tmst_us = (uint32_t)tmst;
    rx->freq_hz = (uint32_t)lround(freq * 1e6);
    rx->chan = rx->rfch = 0;
    snprintf(rx->datr, sizeof(rx->datr), "%s", datr->valuestring); /* lora_datr: it fits */
    keep_codr(codr, rx->codr);
    rx->rssi_dbm = (int16_t)lround(rssi);
    rx->lsnr_db = lsnr;
    return 0;
}

int gwmp_push_data_next(struct gwmp_push_data *pd, struct gwmp_rxpk *rx, enum gwmp_drop *why)
{
    const cJSON *pk = pd->next;
    if (pk == NULL)
        return -1;
    pd->next = pk->next;
    return read_rxpk(pk, rx, why) == 0 ? 1 : 0;
}

void gwmp_push_data_free(struct gwmp_push_data *pd)
{
    cJSON_Delete(pd->tree);
    pd->tree = pd->next = NULL;
}

/* ---- the server side: PULL_DATA, TX_ACK and what it sends ---- */

int gwmp_parse_pull_data(const uint8_t *buf, size_t len, struct gwmp_pull_data *out,
                         enum gwmp_drop *why)
{
    return parse_upstream(buf, len, GWMP_PULL_DATA, &out->header, out->eui, why);
}

int gwmp_parse_tx_ack(const uint8_t *buf, size_t len, struct gwmp_tx_ack *out, enum gwmp_drop *why)
{
    memset(out, 0, sizeof(*out));
    if (parse_upstream(buf, len, GWMP_TX_ACK, &out->header, out->eui, why) != 0)
        return -1;
    if (len == UPSTREAM_HEADER_BYTES)
        return 0; /* version 1, or nothing to report */
    cJSON *root = parse_object(buf, len, UPSTREAM_HEADER_BYTES);
    if (root == NULL)
        return drop(why, GWMP_DROP_BAD_JSON);
    const cJSON *ack = cJSON_GetObjectItemCaseSensitive(root, "txpk_ack");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(ack, "error");
    if (cJSON_IsString(error)) {
        /* the error word is the forwarder's: keep only a bounded, plain form of it */
        size_t n = 0;
        for (const char *s = error->valuestring; *s && n < GWMP_ERROR_SIZE - 1; s++)
            out->error[n++] = (*s >= 'A' && *s <= 'Z') || *s == '_' ? *s : '?';
        /* an empty word is a failure too, and the log line must still name one (fuzz_gwmp) */
        if (n == 0)
            out->error[n++] = '?';
        out->error[n] = '\0';
        out->failed = strcmp(error->valuestring, "NONE") != 0;
    }
    cJSON_Delete(root);
    return 0;
}

static size_t build_ack(uint8_t version, uint16_t token, enum gwmp_type type, uint8_t *out,
                        size_t out_size)
{
    if (out_size < GWMP_HEADER_BYTES)
        return 0;
    return put_header(out, version, token, type);
}

size_t gwmp_build_push_ack(uint8_t version, uint16_t token, uint8_t *out, size_t out_size)
{
    return build_ack(version, token, GWMP_PUSH_ACK, out, out_size);
}

size_t gwmp_build_pull_ack(uint8_t version, uint16_t token, uint8_t *out, size_t out_size)
{
    return build_ack(version, token, GWMP_PULL_ACK, out, out_size);
}

/* data as a "data" string of obj; false when it does not fit. */
static bool add_data(cJSON *obj, const uint8_t *data, size_t size)
{
    char b64[GWMP_DATA_B64_MAX + 1];
    if (size > LORAWAN_PHY_MAX_BYTES || base64_encode(data, size, b64, sizeof(b64)) < 0)
        return false;
    return cJSON_AddStringToObject(obj, "data", b64) != NULL;
}

size_t gwmp_build_pull_resp(uint8_t version, uint16_t token, const struct gwmp_txpk *tx,
                            uint8_t *out, size_t out_size)
{
    /* Never a txpk a forwarder refuses, nor one read_txpk refuses: a frequency in range and
     * a LoRa data rate. (fuzz_gwmp found a freq-less txpk, which the forwarder side takes,
     * rebuilt with "freq":0.) */
    if (tx->freq_hz < 100000000u || tx->freq_hz > 1000000000u || !lora_datr(tx->datr))
        return 0;
    cJSON *root = cJSON_CreateObject();
    cJSON *pk = cJSON_AddObjectToObject(root, "txpk");
    cJSON_AddBoolToObject(pk, "imme", tx->imme);
    if (!tx->imme)
        cJSON_AddNumberToObject(pk, "tmst", (double)tx->tmst_us);
    cJSON_AddNumberToObject(pk, "freq", (double)tx->freq_hz / 1e6);
    cJSON_AddNumberToObject(pk, "rfch", tx->rfch);
    cJSON_AddNumberToObject(pk, "powe", tx->powe_dbm);
    cJSON_AddStringToObject(pk, "modu", "LORA");
    cJSON_AddStringToObject(pk, "datr", tx->datr);
    if (tx->codr[0] != '\0')
        cJSON_AddStringToObject(pk, "codr", tx->codr);
    cJSON_AddBoolToObject(pk, "ipol", tx->ipol);
    /* no "ncrc": the forwarder's default, a PHY CRC (ingest/semtech_udp.c says why) */
    cJSON_AddNumberToObject(pk, "size", (double)tx->size);
    if (pk == NULL || !add_data(pk, tx->data, tx->size)) {
        cJSON_Delete(root);
        return 0;
    }
    return finish(root, version, token, GWMP_PULL_RESP, NULL, out, out_size);
}

/* ---- the forwarder side ---- */

static bool add_rxpk(cJSON *list, const struct gwmp_rxpk *rx)
{
    char when[RFC3339_SIZE];
    if (rx->has_time && rfc3339_format(rx->time_unix_us, 6, when) != 0)
        return false;
    cJSON *pk = cJSON_CreateObject();
    if (pk == NULL || !cJSON_AddItemToArray(list, pk)) {
        cJSON_Delete(pk);
        return false;
    }
    if (rx->has_time)
        cJSON_AddStringToObject(pk, "time", when);
    cJSON_AddNumberToObject(pk, "tmst", rx->tmst_us);
    cJSON_AddNumberToObject(pk, "chan", rx->chan);
    cJSON_AddNumberToObject(pk, "rfch", rx->rfch);
    cJSON_AddNumberToObject(pk, "freq", (double)rx->freq_hz / 1e6);
    cJSON_AddNumberToObject(pk, "stat", 1); /* CRC good: a forwarder sends no other */
    cJSON_AddStringToObject(pk, "modu", "LORA");
    cJSON_AddStringToObject(pk, "datr", rx->datr);
    if (rx->codr[0] != '\0')
        cJSON_AddStringToObject(pk, "codr", rx->codr);
    cJSON_AddNumberToObject(pk, "rssi", rx->rssi_dbm);
    cJSON_AddNumberToObject(pk, "lsnr", rx->lsnr_db);
    cJSON_AddNumberToObject(pk, "size", (double)rx->size);
    return add_data(pk, rx->data, rx->size);
}

size_t gwmp_build_push_data(uint16_t token, const uint8_t eui[GWMP_EUI_BYTES],
                            const struct gwmp_rxpk *rx, size_t n_rx, const struct gwmp_stat *stat,
                            uint8_t *out, size_t out_size)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    if (ok && n_rx > 0) {
        cJSON *list = cJSON_AddArrayToObject(root, "rxpk");
        ok = list != NULL;
        for (size_t i = 0; ok && i < n_rx; i++)
            ok = add_rxpk(list, &rx[i]);
    }
    if (ok && stat != NULL) {
        cJSON *st = cJSON_AddObjectToObject(root, "stat");
        ok = st != NULL;
        cJSON_AddNumberToObject(st, "rxnb", stat->rxnb);
        cJSON_AddNumberToObject(st, "rxok", stat->rxok);
        cJSON_AddNumberToObject(st, "rxfw", stat->rxfw);
        cJSON_AddNumberToObject(st, "ackr", stat->ackr);
        cJSON_AddNumberToObject(st, "dwnb", stat->dwnb);
        cJSON_AddNumberToObject(st, "txnb", stat->txnb);
    }
    if (!ok) {
        cJSON_Delete(root);
        return 0;
    }
    return finish(root, GWMP_VERSION, token, GWMP_PUSH_DATA, eui, out, out_size);
}

size_t gwmp_build_pull_data(uint16_t token, const uint8_t eui[GWMP_EUI_BYTES], uint8_t *out,
                            size_t out_size)
{
    return finish(NULL, GWMP_VERSION, token, GWMP_PULL_DATA, eui, out, out_size);
}

size_t gwmp_build_tx_ack(uint16_t token, const uint8_t eui[GWMP_EUI_BYTES], const char *error,
                         uint8_t *out, size_t out_size)
{
    cJSON *root = NULL;
    if (error != NULL) {
        root = cJSON_CreateObject();
        cJSON *ack = cJSON_AddObjectToObject(root, "txpk_ack");
        if (cJSON_AddStringToObject(ack, "error", error) == NULL) {
            cJSON_Delete(root);
            return 0;
        }
    }
    return finish(root, GWMP_VERSION, token, GWMP_TX_ACK, eui, out, out_size);
}

/* An optional field of txpk: absent, or of the right type and range (*out set). */
static bool optional_number(const cJSON *pk, const char *name, double lo, double hi, bool integer,
                            double *out)
{
    bool present;
    double v = 0;
    if (!number_field(pk, name, lo, hi, &v, &present))
        return false;
    if (present && integer && v != floor(v))
        return false;
    if (present)
        *out = v;
    return true;
}

static bool optional_bool(const cJSON *pk, const char *name, bool *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(pk, name);
    if (item == NULL)
        return true;
    if (!cJSON_IsBool(item))
        return false;
    *out = cJSON_IsTrue(item);
    return true;
}

static int read_txpk(const cJSON *pk, struct gwmp_txpk *tx, enum gwmp_drop *why)
{
    if (!cJSON_IsObject(pk))
        return drop(why, GWMP_DROP_TXPK_INVALID);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(pk, "data");
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(pk, "size");
    const cJSON *datr = cJSON_GetObjectItemCaseSensitive(pk, "datr");
    double tmst = 0, freq = 0, rfch = 0, powe = 0;
    if (!cJSON_IsString(data) || !cJSON_IsNumber(size) || !optional_bool(pk, "imme", &tx->imme) ||
        !optional_bool(pk, "ipol", &tx->ipol) ||
        !optional_number(pk, "tmst", 0, UINT32_MAX, true, &tmst) ||
        !optional_number(pk, "freq", 100, 1000, false, &freq) ||
        !optional_number(pk, "rfch", 0, 255, true, &rfch) ||
        !optional_number(pk, "powe", -128, 127, true, &powe))
        return drop(why, GWMP_DROP_TXPK_INVALID);
    if (cJSON_IsNumber(datr))
        return drop(why, GWMP_DROP_NOT_LORA);
    if (datr != NULL && !(cJSON_IsString(datr) && lora_datr(datr->valuestring)))
        return drop(why, GWMP_DROP_TXPK_INVALID);
    size_t b64_len = strlen(data->valuestring);
    long n = b64_len <= GWMP_DATA_B64_MAX ? decode_data(data->valuestring, b64_len, tx->data) : -1;
    if (n < 0 || size->valuedouble != (double)n)
        return drop(why, GWMP_DROP_TXPK_INVALID);
    tx->size = (size_t)n;
    tx->tmst_us = (uint32_t)tmst;
    tx->freq_hz = (uint32_t)lround(freq * 1e6);
    tx->rfch = (uint8_t)rfch;
    tx->powe_dbm = (int16_t)powe;
    if (datr != NULL)
        snprintf(tx->datr, sizeof(tx->datr), "%s", datr->valuestring);
    keep_codr(cJSON_GetObjectItemCaseSensitive(pk, "codr"), tx->codr);
    return 0;
}

int gwmp_parse_pull_resp(const uint8_t *buf, size_t len, struct gwmp_txpk *out, enum gwmp_drop *why)
{
    memset(out, 0, sizeof(*out));
    struct gwmp_header header;
    if (gwmp_parse_header(buf, len, GWMP_FORWARDER, &header, why) != 0)
        return -1;
    if (header.type != GWMP_PULL_RESP)
        return drop(why, GWMP_DROP_BAD_TYPE);
    cJSON *root = parse_object(buf, len, GWMP_HEADER_BYTES);
    if (root == NULL)
        return drop(why, GWMP_DROP_BAD_JSON);
    int rc = read_txpk(cJSON_GetObjectItemCaseSensitive(root, "txpk"), out, why);
    cJSON_Delete(root);
    return rc;
}
