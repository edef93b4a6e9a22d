/*
 * device_settings.h - the table of per-device settings the registry stores: every key a
 * device may carry, its type, its bounds, whether it is a secret, and the one check of a
 * value. Like config.c's keys[] and quantity.c's table, one row per key: a new setting is
 * one new row, and `sensorbroctl device set`, `os2iot import` and the registry all check
 * through it, so what one accepts the others accept.
 *
 * Keys (docs/os2iot.md "Provisioning devices"):
 *   name                  a name for people, and the device's name in OS2iot
 *   comment               OS2iot's comment
 *   label.<word>          a free label (label.building, label.room); <word> is 1..32 of
 *                         letters, digits, '_', '-', '.'
 *   location.latitude     decimal degrees, -90..90
 *   location.longitude    decimal degrees, -180..180
 *   location.comment      OS2iot's commentOnLocation
 *   os2iot.output         mqtt (MQTT_INTERNAL_BROKER) or http (GENERIC_HTTP)
 *   os2iot.id             the device's id in OS2iot
 *   os2iot.topic          devices/<organization id>/<application id>/<device id>
 *   os2iot.cert           the device's client certificate, PEM (port 8884)
 *   os2iot.cert_not_after when it expires, RFC 3339: derived from os2iot.cert, never set
 *   os2iot.key            its private key, PEM, unencrypted (secret)
 *   os2iot.ca             the installation's CA certificate, PEM, as OS2iot exports it
 *   os2iot.username       the MQTT username (port 8885)
 *   os2iot.password       the MQTT password (secret)
 *   os2iot.api_key        the GENERIC_HTTP API key, a UUID (secret)
 *   coap.psk              the device's DTLS pre-shared key for CoAP over DTLS (port 5684),
 *                         16..32 bytes as hex digits, stored in lower case (secret); the
 *                         PSK identity is the device's EUI (16 hex digits)
 * `name` is stored in the devices table itself (a column, indexed); the rest are rows of
 * device_settings. Values are UTF-8 text of at most DEVICE_SETTING_VALUE_MAX bytes.
 *
 * Secrets: a secret's value is never printed, logged or put into an error message; the
 * only view of it is device_setting_display() (e.g. "(secret, 12 bytes)").
 *
 * Threads: any; the table is read-only, no state. OpenSSL parses the PEM values.
 */
#ifndef SENSORBRO_DEVICE_SETTINGS_H
#define SENSORBRO_DEVICE_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DEVICE_SETTING_KEY_MAX      64    /* bytes of a key, e.g. label.<32> fits */
#define DEVICE_SETTING_VALUE_MAX    16384 /* bytes of a value: a PEM certificate chain */
#define DEVICE_SETTING_WHY_SIZE     256
#define DEVICE_SETTING_DISPLAY_SIZE 160

enum device_setting_type {
    DEVICE_SETTING_TEXT,    /* UTF-8, no control characters, min..max bytes */
    DEVICE_SETTING_CHOICE,  /* one of choices ("mqtt|http") */
    DEVICE_SETTING_DECIMAL, /* [-]digits[.digits], min..max */
    DEVICE_SETTING_INTEGER, /* decimal digits, no sign, min..max */
    DEVICE_SETTING_UUID,    /* 8-4-4-4-12 hex digits; stored in lower case */
    DEVICE_SETTING_TOPIC,   /* devices/<n>/<n>/<n> */
    DEVICE_SETTING_CERT,    /* one or more PEM certificates */
    DEVICE_SETTING_KEY,     /* one unencrypted PEM private key */
    DEVICE_SETTING_TIME,    /* RFC 3339, UTC */
    DEVICE_SETTING_HEX,     /* an even number of hex digits, min..max bytes; lower case */
};

enum device_setting_flags {
    DEVICE_SETTING_SECRET = 1u << 0,    /* never shown: masked in every listing */
    DEVICE_SETTING_DERIVED = 1u << 1,   /* set by the registry from another key, never by hand */
    DEVICE_SETTING_COLUMN = 1u << 2,    /* a column of devices, not a row of device_settings */
    DEVICE_SETTING_FAMILY = 1u << 3,    /* key is a prefix ("label."): a word follows it */
    DEVICE_SETTING_MASK_ENDS = 1u << 4, /* a secret shown as its first and last 2 characters */
};

struct device_setting_def {
    const char *key; /* the key, or the family's prefix ("label.") */
    enum device_setting_type type;
    unsigned flags;
    double min, max;     /* DECIMAL, INTEGER: the value; TEXT: its length in bytes */
    const char *choices; /* CHOICE: "mqtt|http" */
    const char *expect;  /* what a value must be, for messages: "mqtt or http" */
};

/* The row of a key (a family's row for "label.room"), or NULL when the key is unknown. */
const struct device_setting_def *device_setting_find(const char *key);
/* The i-th row of the table, NULL past the end (for help and listings). */
const struct device_setting_def *device_setting_at(size_t i);

/* Checks value[0..len) (no NUL needed) for key. On success writes the value to store (UUIDs
 * in lower case, all else as given) and a NUL into norm and returns 0; norm_size of
 * len + 1 always suffices. On failure returns -1 with why: "<key>: expected <what>",
 * naming the key and never holding a secret's value. A DERIVED key is refused here (it is
 * not the caller's to set); the registry writes it with device_setting_check_derived. */
int device_setting_check(const char *key, const char *value, size_t len, char *norm,
                         size_t norm_size, char *why, size_t why_size);
/* The same check for a DERIVED key (as the registry writes it, or reads it back). */
int device_setting_check_derived(const char *key, const char *value, size_t len, char *norm,
                                 size_t norm_size, char *why, size_t why_size);

/* What a listing shows of a value: a secret masked ("(secret, 12 bytes)", or for MASK_ENDS
 * "2b…3c (36 characters)"), a PEM certificate summarised ("PEM certificate CN=x, until
 * 2027-05-01T00:00:00Z"), anything else as it is, cut to fit. Always NUL-terminated. */
void device_setting_display(const struct device_setting_def *def, const char *value, size_t len,
                            char out[DEVICE_SETTING_DISPLAY_SIZE]);

/* The notAfter of the first certificate of a PEM text, in unix milliseconds. -1 when the
 * text holds no certificate. */
int device_setting_cert_not_after(const char *pem, size_t len, int64_t *not_after_ms);
/* Whether the PEM private key belongs to the first certificate of the PEM text: 1 yes,
 * 0 no, -1 when either does not parse. */
int device_setting_key_matches_cert(const char *cert_pem, size_t cert_len, const char *key_pem,
                                    size_t key_len);

/* Whether s[0..len) is well-formed UTF-8 (no overlong forms, no surrogates) without
 * control characters (C0, DEL, C1). */
bool device_setting_text_ok(const char *s, size_t len);

#endif
