/*
 * device_settings.c - the table of per-device settings and the one check of a value
 * (device_settings.h).
 *
 * Bounds come from what consumes the values: OS2iot's CreateIoTDeviceDto (comments at
 * most 1024 characters, latitude -90..90, longitude -180..180), its topic scheme
 * devices/{organizationId}/{applicationId}/{deviceId} (integer ids), its GENERIC_HTTP
 * apiKey (a UUID, uuidv4), and the registry's own name column (63 bytes). PEM values are
 * parsed with OpenSSL here, once, when they are set: a certificate that does not parse or
 * a key that needs a passphrase is refused at `device set`, not found out by the daemon at
 * its first TLS handshake.
 */
#include "device_settings.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "util/rfc3339.h"

#define TEXT(k, lo, hi, what)                                                                      \
    {                                                                                              \
        k, DEVICE_SETTING_TEXT, 0, lo, hi, NULL, what                                              \
    }

static const struct device_setting_def defs[] = {
    {"name", DEVICE_SETTING_TEXT, DEVICE_SETTING_COLUMN, 0, 63, NULL,
     "at most 63 bytes of printable UTF-8"},
    TEXT("comment", 0, 1024, "at most 1024 bytes of printable UTF-8 (OS2iot's comment)"),
    {"label.", DEVICE_SETTING_TEXT, DEVICE_SETTING_FAMILY, 0, 64, NULL,
     "at most 64 bytes of printable UTF-8"},
    {"location.latitude", DEVICE_SETTING_DECIMAL, 0, -90, 90, NULL,
     "decimal degrees from -90 to 90, e.g. 56.1572"},
    {"location.longitude", DEVICE_SETTING_DECIMAL, 0, -180, 180, NULL,
     "decimal degrees from -180 to 180, e.g. 10.2107"},
    TEXT("location.comment", 0, 1024,
         "at most 1024 bytes of printable UTF-8 (OS2iot's commentOnLocation)"),
    {"os2iot.output", DEVICE_SETTING_CHOICE, 0, 0, 0, "mqtt|http",
     "mqtt (OS2iot MQTT_INTERNAL_BROKER) or http (GENERIC_HTTP)"},
    {"os2iot.id", DEVICE_SETTING_INTEGER, 0, 1, 2147483647, NULL,
     "the device's id in OS2iot, a whole number from 1"},
    {"os2iot.topic", DEVICE_SETTING_TOPIC, 0, 0, 0, NULL,
     "devices/<organization id>/<application id>/<device id>, three whole numbers"},
    {"os2iot.cert", DEVICE_SETTING_CERT, 0, 0, 0, NULL,
     "a PEM certificate (the device's, from OS2iot), at most 16384 bytes"},
    {"os2iot.cert_not_after", DEVICE_SETTING_TIME, DEVICE_SETTING_DERIVED, 0, 0, NULL,
     "an RFC 3339 time; set from os2iot.cert, not by hand"},
    {"os2iot.key", DEVICE_SETTING_KEY, DEVICE_SETTING_SECRET, 0, 0, NULL,
     "an unencrypted PEM private key, at most 16384 bytes"},
    {"os2iot.ca", DEVICE_SETTING_CERT, 0, 0, 0, NULL,
     "PEM certificates (the OS2iot installation's CA), at most 16384 bytes"},
    TEXT("os2iot.username", 1, 128, "1 to 128 bytes of printable UTF-8"),
    {"os2iot.password", DEVICE_SETTING_TEXT, DEVICE_SETTING_SECRET, 1, 256, NULL,
     "1 to 256 bytes of printable UTF-8"},
    {"os2iot.api_key", DEVICE_SETTING_UUID, DEVICE_SETTING_SECRET | DEVICE_SETTING_MASK_ENDS, 0, 0,
     NULL, "a UUID, 8-4-4-4-12 hex digits (OS2iot's API key of the device)"},
    /* RFC 4279 allows longer keys; 16 bytes is what the TLS-PSK ciphersuites of RFC 7925
     * (CoAP's DTLS profile) are sized for, 32 the most a sensor's flash sensibly holds */
    {"coap.psk", DEVICE_SETTING_HEX, DEVICE_SETTING_SECRET, 16, 32, NULL,
     "the device's DTLS pre-shared key, 32 to 64 hex digits (16 to 32 bytes)"},
};

#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

const struct device_setting_def *device_setting_at(size_t i)
{
    return i < N_DEFS ? &defs[i] : NULL;
}

/* A family's word: 1..32 of letters, digits, '_', '-', '.' (what `device add --label`
 * always took as a label's name). */
static bool family_word_ok(const char *word)
{
    size_t n = strlen(word);
    if (n < 1 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)word[i];
        if (!isalnum(c) && c != '_' && c != '-' && c != '.')
            return false;
    }
    return true;
}

const struct device_setting_def *device_setting_find(const char *key)
{
    if (key == NULL || strlen(key) > DEVICE_SETTING_KEY_MAX)
        return NULL;
    for (size_t i = 0; i < N_DEFS; i++) {
        const struct device_setting_def *d = &defs[i];
        if (d->flags & DEVICE_SETTING_FAMILY) {
            size_t n = strlen(d->key);
            if (strncmp(key, d->key, n) == 0 && family_word_ok(key + n))
                return d;
        } else if (strcmp(key, d->key) == 0) {
            return d;
        }
    }
    return NULL;
}

bool device_setting_text_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t n;
        unsigned cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false; /* a continuation byte first, C0/C1 (overlong), or > U+10FFFF */
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
            (cp >= 0x80 && cp <= 0x9f))
            return false;
        i += n + 1;
    }
    return true;
}

/* [-]d{1,3}[.d{1,12}] within min..max. */
static bool decimal_ok(const char *v, size_t len, double min, double max)
{
    size_t i = 0, int_digits = 0, frac_digits = 0;
    if (i < len && v[i] == '-')
        i++;
    while (i < len && isdigit((unsigned char)v[i]))
        i++, int_digits++;
    if (i < len && v[i] == '.') {
        i++;
        while (i < len && isdigit((unsigned char)v[i]))
            i++, frac_digits++;
        if (frac_digits == 0)
            return false;
    }
    if (i != len || int_digits < 1 || int_digits > 3 || frac_digits > 12)
        return false;
    char text[32];
    memcpy(text, v, len);
    text[len] = '\0';
    double d = strtod(text, NULL);
    return isfinite(d) && d >= min && d <= max;
}

/* Decimal digits, no sign, no leading zero, within min..max. */
static bool integer_ok(const char *v, size_t len, double min, double max)
{
    if (len < 1 || len > 10 || (v[0] == '0' && len > 1))
        return false;
    long long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)v[i]))
            return false;
        n = n * 10 + (v[i] - '0');
    }
    return (double)n >= min && (double)n <= max;
}

static bool uuid_ok(const char *v, size_t len, char *norm)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? v[i] != '-' : !isxdigit((unsigned char)v[i]))
            return false;
        norm[i] = (char)tolower((unsigned char)v[i]);
    }
    norm[len] = '\0';
    return true;
}

/* 2*min..2*max hex digits, an even number; written to norm in lower case. */
static bool hex_ok(const char *v, size_t len, double min, double max, char *norm)
{
    if (len % 2 != 0 || (double)len < 2 * min || (double)len > 2 * max)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!isxdigit((unsigned char)v[i]))
            return false;
        norm[i] = (char)tolower((unsigned char)v[i]);
    }
    norm[len] = '\0';
    return true;
}

static bool topic_ok(const char *v, size_t len)
{
    static const char prefix[] = "devices/";
    size_t n = sizeof(prefix) - 1;
    if (len <= n || memcmp(v, prefix, n) != 0)
        return false;
    unsigned levels = 0;
    size_t start = n;
    for (size_t i = n; i <= len; i++) {
        if (i < len && v[i] != '/')
            continue;
        if (!integer_ok(v + start, i - start, 1, 2147483647))
            return false;
        levels++;
        start = i + 1;
    }
    return levels == 3;
}

/* A passphrase callback that refuses: an encrypted key fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* The certificates of a PEM text: how many parse, and whether anything but certificates
 * (and text between them) is there. The first one goes to *first when asked. */
static int read_certs(const char *pem, size_t len, X509 **first)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return -1;
    int n = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL) {
        if (n == 0 && first)
            *first = x;
        else
            X509_free(x);
        n++;
    }
    /* the loop ends at the end of the text (PEM_R_NO_START_LINE) or at a damaged block */
    unsigned long e = ERR_peek_last_error();
    bool at_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
    ERR_clear_error();
    BIO_free(bio);
    if (!at_end && n > 0) {
        if (first) {
            X509_free(*first);
            *first = NULL;
        }
        return -1;
    }
    return at_end ? n : -1;
}

static EVP_PKEY *read_key(const char *pem, size_t len, bool *encrypted)
{
    *encrypted = memmem(pem, len, "ENCRYPTED", 9) != NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return NULL;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    /* exactly one key: a second one would be ambiguous */
    if (key) {
        EVP_PKEY *second = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        if (second) {
            EVP_PKEY_free(second);
            EVP_PKEY_free(key);
            key = NULL;
        }
    }
    ERR_clear_error();
    BIO_free(bio);
    return key;
}

static int check(const char *key, bool derived_allowed, const char *value, size_t len, char *norm,
                 size_t norm_size, char *why, size_t why_size)
{
    const struct device_setting_def *d = device_setting_find(key);
    if (d == NULL) {
        snprintf(why, why_size,
                 "%.64s: not a setting (see sensorbroctl help device set for the keys)", key);
        return -1;
    }
    if ((d->flags & DEVICE_SETTING_DERIVED) && !derived_allowed) {
        snprintf(why, why_size, "%.64s: %s", key, d->expect);
        return -1;
    }
    if (norm_size < len + 1 || len > DEVICE_SETTING_VALUE_MAX) {
        snprintf(why, why_size, "%.64s: expected %s (got %zu bytes)", key, d->expect, len);
        return -1;
    }
    bool ok = false;
    const char *extra = "";
    if (memchr(value, '\0', len) != NULL) {
        ok = false;
    } else {
        switch (d->type) {
        case DEVICE_SETTING_TEXT:
            ok = len >= d->min && len <= d->max && device_setting_text_ok(value, len);
            break;
        case DEVICE_SETTING_CHOICE: {
            const char *c = d->choices;
            while (!ok && *c) {
                size_t n = strcspn(c, "|");
                ok = n == len && memcmp(c, value, len) == 0;
                c += n + (c[n] == '|');
            }
            break;
        }
        case DEVICE_SETTING_DECIMAL:
            ok = decimal_ok(value, len, d->min, d->max);
            break;
        case DEVICE_SETTING_INTEGER:
            ok = integer_ok(value, len, d->min, d->max);
            break;
        case DEVICE_SETTING_UUID:
            if (uuid_ok(value, len, norm))
                return 0;
            break;
        case DEVICE_SETTING_HEX:
            if (hex_ok(value, len, d->min, d->max, norm))
                return 0;
            break;
        case DEVICE_SETTING_TOPIC:
            ok = topic_ok(value, len);
            break;
        case DEVICE_SETTING_CERT:
            ok = read_certs(value, len, NULL) >= 1;
            break;
        case DEVICE_SETTING_KEY: {
            bool encrypted;
            EVP_PKEY *k = read_key(value, len, &encrypted);
            ok = k != NULL;
            EVP_PKEY_free(k);
            if (!ok && encrypted)
                extra = "; this one is encrypted: the daemon cannot ask for a passphrase, "
                        "so decrypt it first (openssl pkey -in KEY -out KEY.plain)";
            break;
        }
        case DEVICE_SETTING_TIME: {
            int64_t ms;
            ok = rfc3339_parse_ms(value, len, &ms) == 0;
            break;
        }
        }
    }
    if (!ok) {
        snprintf(why, why_size, "%.64s: expected %s%s", key, d->expect, extra);
        return -1;
    }
    memcpy(norm, value, len);
    norm[len] = '\0';
    return 0;
}

int device_setting_check(const char *key, const char *value, size_t len, char *norm,
                         size_t norm_size, char *why, size_t why_size)
{
    return check(key, false, value, len, norm, norm_size, why, why_size);
}

int device_setting_check_derived(const char *key, const char *value, size_t len, char *norm,
                                 size_t norm_size, char *why, size_t why_size)
{
    return check(key, true, value, len, norm, norm_size, why, why_size);
}

static int asn1_time_ms(const ASN1_TIME *t, int64_t *ms)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return -1;
    time_t s = timegm(&tm);
    if (s == (time_t)-1)
        return -1;
    *ms = (int64_t)s * 1000;
    return 0;
}

int device_setting_cert_not_after(const char *pem, size_t len, int64_t *not_after_ms)
{
    X509 *x = NULL;
    if (read_certs(pem, len, &x) < 1 || x == NULL)
        return -1;
    int rc = asn1_time_ms(X509_get0_notAfter(x), not_after_ms);
    X509_free(x);
    return rc;
}

int device_setting_key_matches_cert(const char *cert_pem, size_t cert_len, const char *key_pem,
                                    size_t key_len)
{
    X509 *x = NULL;
    bool encrypted;
    if (read_certs(cert_pem, cert_len, &x) < 1 || x == NULL)
        return -1;
    EVP_PKEY *k = read_key(key_pem, key_len, &encrypted);
    if (k == NULL) {
        X509_free(x);
        return -1;
    }
    int rc = X509_check_private_key(x, k) == 1 ? 1 : 0;
    ERR_clear_error();
    EVP_PKEY_free(k);
    X509_free(x);
    return rc;
}

void device_setting_display(const struct device_setting_def *def, const char *value, size_t len,
                            char out[DEVICE_SETTING_DISPLAY_SIZE])
{
    if (def && (def->flags & DEVICE_SETTING_SECRET)) {
        if ((def->flags & DEVICE_SETTING_MASK_ENDS) && len >= 16)
            snprintf(out, DEVICE_SETTING_DISPLAY_SIZE, "%.2s…%.2s (secret, %zu characters)", value,
                     value + len - 2, len);
        else
            snprintf(out, DEVICE_SETTING_DISPLAY_SIZE, "(secret, %zu bytes)", len);
        return;
    }
    if (def && def->type == DEVICE_SETTING_CERT) {
        X509 *x = NULL;
        int n = read_certs(value, len, &x);
        char cn[64] = "?", until[RFC3339_SIZE] = "?";
        int64_t ms;
        if (n >= 1 && x) {
            X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
            if (asn1_time_ms(X509_get0_notAfter(x), &ms) == 0)
                rfc3339_format(ms * 1000, 0, until);
            X509_free(x);
        }
        ERR_clear_error();
        /* the CN is the certificate's, untrusted: control characters do not reach a terminal */
        for (char *p = cn; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
        snprintf(out, DEVICE_SETTING_DISPLAY_SIZE, "PEM, %d certificate%s, CN=%s, until %s", n,
                 n == 1 ? "" : "s", cn, until);
        return;
    }
    size_t n = len < DEVICE_SETTING_DISPLAY_SIZE - 4 ? len : DEVICE_SETTING_DISPLAY_SIZE - 4;
    /* cut on a UTF-8 boundary */
    while (n < len && n > 0 && ((unsigned char)value[n] & 0xc0) == 0x80)
        n--;
    snprintf(out, DEVICE_SETTING_DISPLAY_SIZE, "%.*s%s", (int)n, value, n < len ? "…" : "");
}
