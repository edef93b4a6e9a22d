/*
 * test_device_settings.c - the table of per-device settings (device_settings.c) and the
 * registry's settings (registry.c) on a real journal file: every type's check, good and
 * bad values named by key and never echoing a secret, masked display, certificates and keys
 * made here with OpenSSL (expiry read back, a key of another certificate refused), the
 * checks over a device's settings together, all-or-nothing changes and transactions, the
 * generation counter, and a damaged row.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "device_settings.h"
#include "lorawan/registry.h"

#define EUI "70b3d57ed0000001"

struct fixture {
    char dir[64];
    char path[96];
    struct registry *r;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_device_settings.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/j.db", f->dir);
    char err[256];
    if (registry_open(&f->r, f->path, false, 1000, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    struct registry_device d = {.activation = REGISTRY_NONE};
    snprintf(d.dev_eui, sizeof(d.dev_eui), EUI);
    bool exists;
    if (registry_add(f->r, &d, &exists) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    registry_close(f->r);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

/* A PEM text of a BIO's contents, NUL-terminated, malloc'd. */
static char *bio_text(BIO *bio)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *out = malloc((size_t)n + 1);
    memcpy(out, data, (size_t)n);
    out[n] = '\0';
    BIO_free(bio);
    return out;
}

/* A P-256 key and a self-signed certificate for it with CN=cn, valid for days from now
 * (negative: expired that many days ago). */
static void make_cert(const char *cn, long days, char **cert_pem, char **key_pem)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    assert_non_null(key);
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), days < 0 ? days * 2 * 86400 : 0);
    X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    *cert_pem = bio_text(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    *key_pem = bio_text(b);
    X509_free(x);
    EVP_PKEY_free(key);
}

static int check(const char *key, const char *value, char *why)
{
    static char norm[DEVICE_SETTING_VALUE_MAX + 1];
    return device_setting_check(key, value, strlen(value), norm, sizeof(norm), why,
                                DEVICE_SETTING_WHY_SIZE);
}

static void test_table_checks(void **state)
{
    (void)state;
    char why[DEVICE_SETTING_WHY_SIZE], norm[64];
    static const struct {
        const char *key, *value;
        int rc;
    } cases[] = {
        {"name", "Town hall, room 1.12", 0},
        {"name", "æøå ÆØÅ", 0},
        {"name", "a\tb", -1},         /* a control character */
        {"name", "\xc3\x28", -1},     /* bad UTF-8 */
        {"name", "\xc0\xaf", -1},     /* overlong */
        {"name", "\xed\xa0\x80", -1}, /* a surrogate */
        {"label.room", "1.12", 0},
        {"label.", "x", -1},
        {"label.bad key", "x", -1},
        {"location.latitude", "56.1572", 0},
        {"location.latitude", "-90", 0},
        {"location.latitude", "90.0001", -1},
        {"location.latitude", "1e2", -1},
        {"location.latitude", "56.", -1},
        {"location.longitude", "-180", 0},
        {"location.longitude", "180.5", -1},
        {"os2iot.output", "mqtt", 0},
        {"os2iot.output", "http", 0},
        {"os2iot.output", "mqt", -1},
        {"os2iot.output", "mqtthttp", -1},
        {"os2iot.id", "17", 0},
        {"os2iot.id", "0", -1},
        {"os2iot.id", "017", -1},
        {"os2iot.id", "2147483648", -1},
        {"os2iot.topic", "devices/1/2/17", 0},
        {"os2iot.topic", "devices/1/2", -1},
        {"os2iot.topic", "devices/1/2/17/x", -1},
        {"os2iot.topic", "devices/1/+/17", -1},
        {"os2iot.topic", "devices//2/17", -1},
        {"os2iot.username", "", -1},
        {"os2iot.password", "s3cret", 0},
        {"os2iot.api_key", "0f8fad5b-d9cb-469f-a165-70867728950e", 0},
        {"os2iot.api_key", "0f8fad5b-d9cb-469f-a165-70867728950", -1},
        {"os2iot.api_key", "0f8fad5bd-9cb-469f-a165-70867728950e", -1},
        {"coap.psk", "00112233445566778899aabbccddeeff", 0}, /* 16 bytes */
        {"coap.psk", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 0},
        {"coap.psk", "00112233445566778899aabbccddee", -1},    /* 15 bytes */
        {"coap.psk", "00112233445566778899aabbccddeeff0", -1}, /* odd */
        {"coap.psk", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00", -1},
        {"coap.psk", "0011223344556677889zaabbccddeeff", -1},
        {"os2iot.cert", "not a certificate", -1},
        {"os2iot.key", "not a key", -1},
        {"os2iot.cert_not_after", "2030-01-01T00:00:00Z", -1}, /* derived: not by hand */
        {"os2iot.nothing", "x", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = check(cases[i].key, cases[i].value, why);
        if (rc != cases[i].rc)
            fail_msg("%s=%s: %d, expected %d (%s)", cases[i].key, cases[i].value, rc, cases[i].rc,
                     why);
        if (rc != 0) /* the message names the key */
            assert_non_null(strstr(why, cases[i].key));
    }
    /* UUIDs are stored in lower case; the message of a bad secret never holds its value */
    assert_int_equal(device_setting_check("os2iot.api_key", "0F8FAD5B-D9CB-469F-A165-70867728950E",
                                          36, norm, sizeof(norm), why, sizeof(why)),
                     0);
    assert_string_equal(norm, "0f8fad5b-d9cb-469f-a165-70867728950e");
    assert_int_equal(check("os2iot.api_key", "topsecret-value", why), -1);
    /* a PSK is stored in lower case, a secret: masked, its message without it */
    assert_int_equal(device_setting_check("coap.psk", "00112233445566778899AABBCCDDEEFF", 32, norm,
                                          sizeof(norm), why, sizeof(why)),
                     0);
    assert_string_equal(norm, "00112233445566778899aabbccddeeff");
    assert_true(device_setting_find("coap.psk")->flags & DEVICE_SETTING_SECRET);
    assert_int_equal(check("coap.psk", "deadbeefdeadbeefdeadbeefdeadbeeq", why), -1);
    assert_null(strstr(why, "deadbeef"));
    assert_null(strstr(why, "topsecret"));
    char big[300];
    memset(big, 'p', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(check("os2iot.password", big, why), -1);
    assert_null(strstr(why, "ppp"));
    /* a value larger than the buffer given is refused, not written past it */
    assert_int_equal(device_setting_check("name", "abcdef", 6, norm, 4, why, sizeof(why)), -1);
    /* a NUL inside a value */
    assert_int_equal(
        device_setting_check("name", "ab\0cd", 5, norm, sizeof(norm), why, sizeof(why)), -1);
    assert_int_equal(device_setting_check_derived("os2iot.cert_not_after", "2030-01-01T00:00:00Z",
                                                  20, norm, sizeof(norm), why, sizeof(why)),
                     0);
    assert_null(device_setting_find("label.abcdefghijklmnopqrstuvwxyz0123456")); /* 37 */
    assert_non_null(device_setting_find("label.abcdefghijklmnopqrstuvwxyz012345"));
}

static void test_display(void **state)
{
    (void)state;
    char out[DEVICE_SETTING_DISPLAY_SIZE];
    const char *uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
    device_setting_display(device_setting_find("os2iot.api_key"), uuid, 36, out);
    assert_string_equal(out, "0f…0e (secret, 36 characters)");
    device_setting_display(device_setting_find("os2iot.password"), "hunter22", 8, out);
    assert_string_equal(out, "(secret, 8 bytes)");
    /* unknown keys are shown as secrets by the callers; a plain value as it is */
    device_setting_display(device_setting_find("label.room"), "1.12", 4, out);
    assert_string_equal(out, "1.12");
    /* a long value is cut on a UTF-8 boundary */
    char longv[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(longv, "æ");
    device_setting_display(device_setting_find("comment"), longv, strlen(longv), out);
    assert_true(strlen(out) < DEVICE_SETTING_DISPLAY_SIZE);
    assert_true(device_setting_text_ok(out, strlen(out)));

    char *cert, *key;
    make_cert("sensor-17", 365, &cert, &key);
    device_setting_display(device_setting_find("os2iot.cert"), cert, strlen(cert), out);
    assert_non_null(strstr(out, "1 certificate, CN=sensor-17, until 2"));
    device_setting_display(device_setting_find("os2iot.key"), key, strlen(key), out);
    assert_null(strstr(out, "BEGIN"));
    assert_non_null(strstr(out, "(secret, "));
    free(cert);
    free(key);
}

static void test_pem(void **state)
{
    (void)state;
    char *cert, *key, *cert2, *key2, why[DEVICE_SETTING_WHY_SIZE];
    make_cert("a", 30, &cert, &key);
    make_cert("b", 30, &cert2, &key2);
    assert_int_equal(check("os2iot.cert", cert, why), 0);
    assert_int_equal(check("os2iot.key", key, why), 0);
    assert_int_equal(device_setting_key_matches_cert(cert, strlen(cert), key, strlen(key)), 1);
    assert_int_equal(device_setting_key_matches_cert(cert, strlen(cert), key2, strlen(key2)), 0);
    assert_int_equal(device_setting_key_matches_cert(cert, strlen(cert), "x", 1), -1);
    /* two certificates (a chain) are one value; a certificate that is cut is refused */
    size_t n = strlen(cert) + strlen(cert2) + 1;
    char *chain = malloc(n);
    snprintf(chain, n, "%s%s", cert, cert2);
    assert_int_equal(check("os2iot.ca", chain, why), 0);
    chain[strlen(cert) + strlen(cert2) / 2] = '\0';
    assert_int_equal(check("os2iot.ca", chain, why), -1);
    free(chain);
    /* a key is one key: a certificate is not one, two keys are ambiguous */
    assert_int_equal(check("os2iot.key", cert, why), -1);
    n = strlen(key) + strlen(key2) + 1;
    char *keys = malloc(n);
    snprintf(keys, n, "%s%s", key, key2);
    assert_int_equal(check("os2iot.key", keys, why), -1);
    free(keys);
    /* an encrypted key: refused with the way out, and the key text is not in the message */
    EVP_PKEY *k = NULL;
    BIO *b = BIO_new_mem_buf(key, -1);
    k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_128_cbc(), "pw", 2, NULL, NULL);
    char *encrypted = bio_text(b);
    EVP_PKEY_free(k);
    assert_int_equal(check("os2iot.key", encrypted, why), -1);
    assert_non_null(strstr(why, "encrypted"));
    assert_null(strstr(why, "BEGIN"));
    free(encrypted);
    int64_t not_after_ms;
    assert_int_equal(device_setting_cert_not_after(cert, strlen(cert), &not_after_ms), 0);
    assert_true(not_after_ms > 0);
    assert_int_equal(device_setting_cert_not_after("x", 1, &not_after_ms), -1);
    free(cert);
    free(key);
    free(cert2);
    free(key2);
}

static bool count_setting(void *ctx, const char *key, const struct device_setting_def *def,
                          const char *value, size_t len)
{
    (void)key, (void)def, (void)value, (void)len;
    (*(int *)ctx)++;
    return true;
}

static int settings_count(struct registry *r)
{
    int n = 0;
    assert_int_equal(registry_list_settings(r, EUI, "", count_setting, &n), 0);
    return n;
}

static void expect_setting(struct registry *r, const char *key, const char *want)
{
    char value[DEVICE_SETTING_VALUE_MAX + 1];
    size_t len;
    bool found;
    assert_int_equal(registry_get_setting(r, EUI, key, value, sizeof(value), &len, &found), 0);
    if (want == NULL) {
        assert_false(found);
        return;
    }
    assert_true(found);
    assert_string_equal(value, want);
    assert_int_equal(len, strlen(want));
}

static void test_registry_settings(void **state)
{
    struct fixture *f = *state;
    bool found;
    int64_t g0, g1;
    assert_int_equal(registry_settings_generation(f->r, &g0), 0);
    const struct registry_change set[] = {
        {"name", "Room 1.12", 9},
        {"os2iot.output", "http", 4},
        {"os2iot.api_key", "0F8FAD5B-D9CB-469F-A165-70867728950E", 36},
        {"label.room", "1.12", 4},
    };
    assert_int_equal(registry_change_settings(f->r, EUI, NULL, set, 4, &found), 0);
    assert_true(found);
    assert_int_equal(registry_settings_generation(f->r, &g1), 0);
    assert_true(g1 > g0);
    expect_setting(f->r, "os2iot.api_key", "0f8fad5b-d9cb-469f-a165-70867728950e");
    expect_setting(f->r, "name", "Room 1.12");
    struct registry_device d;
    assert_int_equal(registry_get(f->r, EUI, &d, &found), 0);
    assert_string_equal(d.name, "Room 1.12");
    assert_int_equal(settings_count(f->r), 3); /* name is a column */

    /* all or nothing: a bad value after good ones changes nothing, and says which */
    const struct registry_change bad[] = {
        {"comment", "fine", 4},
        {"location.latitude", "95", 2},
    };
    assert_int_equal(registry_change_settings(f->r, EUI, NULL, bad, 2, &found), -1);
    assert_non_null(strstr(registry_errmsg(f->r), "location.latitude: expected"));
    expect_setting(f->r, "comment", NULL);
    int64_t g2;
    assert_int_equal(registry_settings_generation(f->r, &g2), 0);
    assert_int_equal(g2, g1);

    /* a value too large for the caller's buffer: -1 and the size, not a cut value */
    char small[8];
    size_t len;
    assert_int_equal(
        registry_get_setting(f->r, EUI, "os2iot.api_key", small, sizeof(small), &len, &found), -1);
    assert_null(strstr(registry_errmsg(f->r), "0f8fad5b"));

    /* the topic's last level must be the id */
    const struct registry_change topic[] = {
        {"os2iot.id", "17", 2},
        {"os2iot.topic", "devices/1/2/18", 14},
    };
    assert_int_equal(registry_change_settings(f->r, EUI, NULL, topic, 2, &found), -1);
    assert_non_null(strstr(registry_errmsg(f->r), "os2iot.topic"));
    const struct registry_change topic_ok[] = {
        {"os2iot.id", "17", 2},
        {"os2iot.topic", "devices/1/2/17", 14},
    };
    assert_int_equal(registry_change_settings(f->r, EUI, NULL, topic_ok, 2, &found), 0);

    /* clear_prefix replaces the whole mapping; labels stay */
    const struct registry_change mqtt[] = {{"os2iot.output", "mqtt", 4}};
    assert_int_equal(registry_change_settings(f->r, EUI, "os2iot.", mqtt, 1, &found), 0);
    expect_setting(f->r, "os2iot.api_key", NULL);
    expect_setting(f->r, "os2iot.id", NULL);
    expect_setting(f->r, "os2iot.output", "mqtt");
    expect_setting(f->r, "label.room", "1.12");

    /* removing: value NULL; removing a name empties it */
    const struct registry_change unset[] = {{"label.room", NULL, 0}, {"name", NULL, 0}};
    assert_int_equal(registry_change_settings(f->r, EUI, NULL, unset, 2, &found), 0);
    expect_setting(f->r, "label.room", NULL);
    assert_int_equal(registry_get(f->r, EUI, &d, &found), 0);
    assert_string_equal(d.name, "");

    /* a derived key cannot be set or removed by hand; an unknown key is refused */
    const struct registry_change derived[] = {{"os2iot.cert_not_after", NULL, 0}};
    assert_int_equal(registry_change_settings(f->r, EUI, NULL, derived, 1, &found), -1);
    const struct registry_change unknown[] = {{"os2iot.secret", "x", 1}};
    assert_int_equal(registry_change_settings(f->r, EUI, NULL, unknown, 1, &found), -1);

    /* no such device: found false, nothing written */
    assert_int_equal(registry_change_settings(f->r, "70b3d57ed00000ff", NULL, mqtt, 1, &found), 0);
    assert_false(found);
}

static void test_registry_certificate(void **state)
{
    struct fixture *f = *state;
    char *cert, *key, *cert2, *key2;
    make_cert("sensor-17", 365, &cert, &key);
    make_cert("other", 365, &cert2, &key2);
    bool found;
    /* a key of another certificate is refused, whichever is set first */
    const struct registry_change mismatch[] = {
        {"os2iot.cert", cert, strlen(cert)},
        {"os2iot.key", key2, strlen(key2)},
    };
    assert_int_equal(registry_change_settings(f->r, EUI, NULL, mismatch, 2, &found), -1);
    assert_non_null(strstr(registry_errmsg(f->r), "os2iot.key: does not belong to os2iot.cert"));
    assert_null(strstr(registry_errmsg(f->r), "BEGIN"));
    expect_setting(f->r, "os2iot.cert", NULL);
    const struct registry_change pair[] = {
        {"os2iot.cert", cert, strlen(cert)},
        {"os2iot.key", key, strlen(key)},
    };
    assert_int_equal(registry_change_settings(f->r, EUI, NULL, pair, 2, &found), 0);
    expect_setting(f->r, "os2iot.key", key);
    /* the expiry is kept with the certificate */
    char until[64];
    size_t len;
    assert_int_equal(registry_get_setting(f->r, EUI, "os2iot.cert_not_after", until, sizeof(until),
                                          &len, &found),
                     0);
    assert_true(found);
    assert_int_equal(len, 20);
    assert_true(until[0] == '2' && until[len - 1] == 'Z');
    const struct registry_change new_cert_only[] = {{"os2iot.cert", cert2, strlen(cert2)}};
    assert_int_equal(registry_change_settings(f->r, EUI, NULL, new_cert_only, 1, &found), -1);
    /* removing the certificate removes its expiry */
    const struct registry_change drop[] = {{"os2iot.cert", NULL, 0}, {"os2iot.key", NULL, 0}};
    assert_int_equal(registry_change_settings(f->r, EUI, NULL, drop, 2, &found), 0);
    expect_setting(f->r, "os2iot.cert_not_after", NULL);
    free(cert);
    free(key);
    free(cert2);
    free(key2);
}

static bool collect_eui(void *ctx, const char *dev_eui)
{
    strcat(ctx, dev_eui);
    strcat(ctx, " ");
    return true;
}

static void test_transactions_and_listing(void **state)
{
    struct fixture *f = *state;
    bool found, exists;
    struct registry_device d2 = {.activation = REGISTRY_NONE};
    snprintf(d2.dev_eui, sizeof(d2.dev_eui), "70b3d57ed0000002");
    const struct registry_change http[] = {{"os2iot.output", "http", 4}};
    /* a rolled back transaction leaves nothing: neither the device nor its setting */
    assert_int_equal(registry_begin(f->r), 0);
    assert_int_equal(registry_add(f->r, &d2, &exists), 0);
    assert_int_equal(registry_change_settings(f->r, d2.dev_eui, NULL, http, 1, &found), 0);
    assert_true(found);
    registry_rollback(f->r);
    assert_int_equal(registry_get(f->r, d2.dev_eui, &d2, &found), 0);
    assert_false(found);
    /* a committed one leaves both */
    assert_int_equal(registry_begin(f->r), 0);
    assert_int_equal(registry_add(f->r, &d2, &exists), 0);
    assert_int_equal(registry_change_settings(f->r, d2.dev_eui, NULL, http, 1, &found), 0);
    assert_int_equal(registry_change_settings(f->r, EUI, NULL, http, 1, &found), 0);
    assert_int_equal(registry_commit(f->r), 0);
    const struct registry_change label[] = {{"label.x", "y", 1}};
    struct registry_device d3 = {.activation = REGISTRY_NONE};
    snprintf(d3.dev_eui, sizeof(d3.dev_eui), "70b3d57ed0000003");
    assert_int_equal(registry_add(f->r, &d3, &exists), 0);
    assert_int_equal(registry_change_settings(f->r, d3.dev_eui, NULL, label, 1, &found), 0);
    char euis[128] = "";
    assert_int_equal(registry_list_devices_with(f->r, "os2iot.", collect_eui, euis), 0);
    assert_string_equal(euis, "70b3d57ed0000001 70b3d57ed0000002 ");
    /* removing a device removes its settings */
    assert_int_equal(registry_remove(f->r, d2.dev_eui, &found), 0);
    euis[0] = '\0';
    assert_int_equal(registry_list_devices_with(f->r, "os2iot.", collect_eui, euis), 0);
    assert_string_equal(euis, "70b3d57ed0000001 ");
    /* another connection's change raises the generation this one reads */
    int64_t g0, g1;
    assert_int_equal(registry_settings_generation(f->r, &g0), 0);
    struct registry *other;
    char err[256];
    assert_int_equal(registry_open(&other, f->path, false, 1000, err, sizeof(err)), 0);
    assert_int_equal(registry_change_settings(other, d3.dev_eui, NULL, http, 1, &found), 0);
    registry_close(other);
    assert_int_equal(registry_settings_generation(f->r, &g1), 0);
    assert_true(g1 > g0);
}

/* A row changed behind the registry's back (a value that is not text of its bounds) makes
 * the read fail with "damaged row", never hand it out. */
static void test_damaged_setting(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO device_settings(dev_eui, key, value, updated_ms) "
                                  "VALUES ('" EUI "', 'comment', 'a' || char(7) || 'b', 0)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    char value[64];
    size_t len;
    bool found;
    assert_int_equal(registry_get_setting(f->r, EUI, "comment", value, sizeof(value), &len, &found),
                     -1);
    assert_non_null(strstr(registry_errmsg(f->r), "damaged row"));
    int n = 0;
    assert_int_equal(registry_list_settings(f->r, EUI, "", count_setting, &n), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_checks),
        cmocka_unit_test(test_display),
        cmocka_unit_test(test_pem),
        cmocka_unit_test_setup_teardown(test_registry_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions_and_listing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_setting, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
