/*
 * os2iot.c - `sensorbroctl os2iot export|import` (os2iot.h).
 *
 * What OS2iot reads and writes, from its source (OS2iot-frontend, OS2iot-backend):
 *   - Bulk import (frontend bulk-import.component.ts, bulk-mapping.ts) parses the CSV with
 *     Papa Parse, header: true and skipEmptyLines: true, so columns are matched by header
 *     name and quoted fields are understood; `type` is compared upper-cased; an empty
 *     longitude or latitude becomes 0; deviceModelId must be present (an empty one is
 *     "none", a missing column is NaN). Its sample files' headers are
 *     name,id,type,longitude,latitude,commentOnLocation,comment,deviceModelId for
 *     GENERIC_HTTP, with authenticationType,mqttusername,mqttpassword after them for
 *     MQTT_INTERNAL_BROKER (PASSWORD or CERTIFICATE). bulk-mapping.ts's baseMapper leaves
 *     the row's id out, so every row creates a device: export leaves out the devices that
 *     have an os2iot.id (they are in OS2iot already) unless --all is given.
 *   - Its CSV export (backend csv-generator.service.ts) writes
 *     name,id,type,latitude,longitude,commentOnLocation,comment,deviceModelId,apiKey,
 *     mqttURL,mqttPort,mqtttopicname,authenticationType,mqttusername,mqttpassword,
 *     caCertificate,deviceCertificate,deviceCertificateKey,devEUI,deviceProfileID,
 *     skipFCntCheck,activationType,OTAAapplicationKey, LF line ends, the certificates and
 *     key base64 of their PEM text, and quotes nothing: a comma in a name or a comment
 *     shifts that row's columns. import matches columns by name, counts every row's fields
 *     against the header and names the line of a row that does not fit.
 *   - Names: at most 50 characters (CreateIoTDeviceDto); import matches a row to a device
 *     by name, so export refuses names that are not unique here or that OS2iot's export
 *     cannot give back (a comma, a quote, a line break).
 *
 * import checks every row before it writes anything, reports each bad row with its line,
 * and then writes all rows in one transaction: all or nothing.
 */
#include "os2iot.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/base64.h"
#include "util/csv_rows.h"
#include "device_settings.h"
#include "lorawan/registry.h"
#include "ctl_util.h"

#define OS2IOT_NAME_MAX     50 /* characters, CreateIoTDeviceDto.name */
#define IMPORT_FILE_MAX     (64u << 20)
#define MAX_REPORTED_ERRORS 50
#define TEXT_MAX            1025 /* a comment and its NUL */

enum export_type { EXPORT_GENERIC_HTTP, EXPORT_MQTT_INTERNAL };

/* ---- what export and import need to know of every device ---- */

struct device_info {
    char dev_eui[FRAME_DEVICE_ID_SIZE];
    char name[REGISTRY_NAME_SIZE];
    char os2iot_name[REGISTRY_NAME_SIZE]; /* the name, or the DevEUI when it has none */
    char output[8];
    char id[16];
    bool has_cert, has_username, has_password;
    char latitude[24], longitude[24];
    char comment[TEXT_MAX], location_comment[TEXT_MAX];
    char building[72], room[72];
    /* PASSWORD login: the credentials to write (read from the registry, or made here) */
    char username[130];
    char password[258];
};

struct device_table {
    struct device_info *d;
    size_t n, cap;
};

static bool list_device(void *ctx, const struct registry_device *dev)
{
    struct device_table *t = ctx;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 256;
        struct device_info *more = realloc(t->d, cap * sizeof(*more));
        if (more == NULL)
            return false;
        t->d = more;
        t->cap = cap;
    }
    struct device_info *d = &t->d[t->n++];
    memset(d, 0, sizeof(*d));
    snprintf(d->dev_eui, sizeof(d->dev_eui), "%s", dev->dev_eui);
    snprintf(d->name, sizeof(d->name), "%s", dev->name);
    snprintf(d->os2iot_name, sizeof(d->os2iot_name), "%s", dev->name[0] ? dev->name : dev->dev_eui);
    return true;
}

static bool collect_setting(void *ctx, const char *key, const struct device_setting_def *def,
                            const char *value, size_t len)
{
    (void)def, (void)len;
    struct device_info *d = ctx;
    struct {
        const char *key;
        char *dst;
        size_t size;
    } wanted[] = {
        {"os2iot.output", d->output, sizeof(d->output)},
        {"os2iot.id", d->id, sizeof(d->id)},
        {"os2iot.username", d->username, sizeof(d->username)},
        {"os2iot.password", d->password, sizeof(d->password)},
        {"location.latitude", d->latitude, sizeof(d->latitude)},
        {"location.longitude", d->longitude, sizeof(d->longitude)},
        {"location.comment", d->location_comment, sizeof(d->location_comment)},
        {"comment", d->comment, sizeof(d->comment)},
        {"label.building", d->building, sizeof(d->building)},
        {"label.room", d->room, sizeof(d->room)},
    };
    if (strcmp(key, "os2iot.cert") == 0)
        d->has_cert = true;
    for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
        if (strcmp(key, wanted[i].key) == 0)
            snprintf(wanted[i].dst, wanted[i].size, "%s", value);
    d->has_username = d->username[0] != '\0';
    d->has_password = d->password[0] != '\0';
    return true;
}

/* Every device with the settings export and import look at. */
static int read_devices(struct registry *r, struct device_table *t, const char *who)
{
    memset(t, 0, sizeof(*t));
    if (registry_list(r, list_device, t) != 0) {
        fprintf(stderr, "sensorbroctl %s: %s\n", who, registry_errmsg(r));
        return -1;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (registry_list_settings(r, t->d[i].dev_eui, "", collect_setting, &t->d[i]) != 0) {
            fprintf(stderr, "sensorbroctl %s: %s\n", who, registry_errmsg(r));
            return -1;
        }
    }
    return 0;
}

static void free_devices(struct device_table *t)
{
    if (t->d)
        OPENSSL_cleanse(t->d, t->cap * sizeof(*t->d));
    free(t->d);
    memset(t, 0, sizeof(*t));
}

/* Characters as JavaScript counts them (UTF-16 code units), for OS2iot's MaxLength. */
static size_t js_length(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xc0) != 0x80)
            n++;
        if (*p >= 0xf0)
            n++; /* outside the BMP: a surrogate pair */
    }
    return n;
}

/* ---- export ---- */

static const struct option export_opts[] = {{"type", required_argument, NULL, 't'},
                                            {"output", required_argument, NULL, 'o'},
                                            {"all", no_argument, NULL, 'a'},
                                            {"auth", required_argument, NULL, 'u'},
                                            {NULL, 0, NULL, 0}};

/* Makes a PASSWORD device's credentials when it has none: a username from its DevEUI
 * (unique on OS2iot's broker) and 128 random bits as a password. */
static int make_credentials(struct device_info *d)
{
    if (!d->has_username)
        snprintf(d->username, sizeof(d->username), "sensorbro-%s", d->dev_eui);
    if (!d->has_password) {
        uint8_t bytes[16];
        if (RAND_bytes(bytes, sizeof(bytes)) != 1)
            return -1;
        for (size_t i = 0; i < sizeof(bytes); i++)
            snprintf(d->password + 2 * i, 3, "%02x", bytes[i]);
        OPENSSL_cleanse(bytes, sizeof(bytes));
    }
    return 0;
}

/* Writes the CSV to out. */
static int write_export(FILE *out, enum export_type type, struct device_info *const *rows,
                        const bool *password_login, size_t n)
{
    static const char *const header[] = {"name",
                                         "id",
                                         "type",
                                         "longitude",
                                         "latitude",
                                         "commentOnLocation",
                                         "comment",
                                         "deviceModelId",
                                         "authenticationType",
                                         "mqttusername",
                                         "mqttpassword"};
    size_t columns = type == EXPORT_GENERIC_HTTP ? 8 : 11;
    if (csv_rows_write_record(out, header, columns) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const struct device_info *d = rows[i];
        char where[TEXT_MAX + 160] = "", comment[TEXT_MAX];
        if (d->location_comment[0])
            snprintf(where, sizeof(where), "%s", d->location_comment);
        else if (d->building[0] || d->room[0])
            snprintf(where, sizeof(where), "%s%s%s%s%s", d->building[0] ? "building " : "",
                     d->building, d->building[0] && d->room[0] ? ", " : "",
                     d->room[0] ? "room " : "", d->room);
        if (d->comment[0])
            snprintf(comment, sizeof(comment), "%s", d->comment);
        else
            snprintf(comment, sizeof(comment), "DevEUI %s", d->dev_eui);
        bool password = password_login[i];
        const char *fields[] = {
            d->os2iot_name,
            d->id, /* empty unless --all: OS2iot creates the device and gives it one */
            type == EXPORT_GENERIC_HTTP ? "GENERIC_HTTP" : "MQTT_INTERNAL_BROKER",
            d->longitude,
            d->latitude,
            where,
            comment,
            "", /* deviceModelId: none */
            password ? "PASSWORD" : "CERTIFICATE",
            password ? d->username : "",
            password ? d->password : "",
        };
        if (csv_rows_write_record(out, fields, columns) != 0)
            return -1;
    }
    return 0;
}

/* Writes the file next to its final name and renames it into place: a reader never sees
 * half of it; mode 0600 (it may hold passwords). */
static int write_file(const char *path, enum export_type type, struct device_info *const *rows,
                      const bool *password_login, size_t n)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp)) {
        fprintf(stderr, "sensorbroctl os2iot export: --output: path too long\n");
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "sensorbroctl os2iot export: %s: %s\n", path, strerror(errno));
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        unlink(tmp);
        fprintf(stderr, "sensorbroctl os2iot export: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = write_export(f, type, rows, password_login, n);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc != 0) {
        fprintf(stderr, "sensorbroctl os2iot export: writing %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

static int cmd_export(struct ctl *ctl, int argc, char **argv)
{
    const char *type_text = NULL, *output = NULL, *auth = "certificate";
    bool all = false;
    int opt;
    optind = 0; /* 0: glibc re-initialises, so options may follow arguments */
    while ((opt = getopt_long(argc, argv, "", export_opts, NULL)) != -1) {
        if (opt == 't')
            type_text = optarg;
        else if (opt == 'o')
            output = optarg;
        else if (opt == 'a')
            all = true;
        else if (opt == 'u')
            auth = optarg;
        else
            return EXIT_USAGE;
    }
    if (optind != argc) {
        fprintf(stderr, "sensorbroctl os2iot export: unexpected argument \"%.40s\"\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    enum export_type type;
    if (type_text && strcmp(type_text, "generic-http") == 0) {
        type = EXPORT_GENERIC_HTTP;
    } else if (type_text && strcmp(type_text, "mqtt-internal") == 0) {
        type = EXPORT_MQTT_INTERNAL;
    } else {
        fprintf(stderr, "sensorbroctl os2iot export: --type: expected generic-http or "
                        "mqtt-internal\n");
        return EXIT_USAGE;
    }
    bool default_password = strcmp(auth, "password") == 0;
    if (!default_password && strcmp(auth, "certificate") != 0) {
        fprintf(stderr, "sensorbroctl os2iot export: --auth: expected certificate or password\n");
        return EXIT_USAGE;
    }
    const char *wanted_output = type == EXPORT_GENERIC_HTTP ? "http" : "mqtt";
    /* passwords made here are stored before the file is written: writable then */
    bool may_write = type == EXPORT_MQTT_INTERNAL && default_password;
    struct registry *r;
    if (ctl_open_registry("os2iot export", ctl->journal_path, !may_write, &r) != 0)
        return EXIT_FAILURE;
    struct device_table t;
    int rc = EXIT_FAILURE;
    struct device_info **rows = NULL;
    bool *password_login = NULL;
    size_t n = 0, already = 0, other_output = 0, errors = 0;
    if (read_devices(r, &t, "os2iot export") != 0)
        goto out;
    rows = calloc(t.n ? t.n : 1, sizeof(*rows));
    password_login = calloc(t.n ? t.n : 1, sizeof(*password_login));
    if (rows == NULL || password_login == NULL) {
        fprintf(stderr, "sensorbroctl os2iot export: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < t.n; i++) {
        struct device_info *d = &t.d[i];
        if (d->output[0] && strcmp(d->output, wanted_output) != 0) {
            other_output++;
            continue;
        }
        if (d->id[0] && !all) {
            already++;
            continue;
        }
        /* the name is how import finds the device again: OS2iot must take it and give it
         * back unchanged, and it must be the only one */
        if (js_length(d->os2iot_name) > OS2IOT_NAME_MAX) {
            fprintf(stderr,
                    "sensorbroctl os2iot export: %s: name: OS2iot takes at most %d characters, "
                    "this one has %zu (sensorbroctl device set %s name=...)\n",
                    d->dev_eui, OS2IOT_NAME_MAX, js_length(d->os2iot_name), d->dev_eui);
            errors++;
        }
        if (csv_rows_needs_quotes(d->os2iot_name)) {
            fprintf(stderr,
                    "sensorbroctl os2iot export: %s: name: expected no comma or quote: OS2iot's "
                    "CSV export does not quote, so os2iot import could not read the device "
                    "back\n",
                    d->dev_eui);
            errors++;
        }
        for (size_t k = 0; k < t.n; k++) {
            if (k != i && strcmp(t.d[k].os2iot_name, d->os2iot_name) == 0) {
                fprintf(stderr,
                        "sensorbroctl os2iot export: %s: name \"%s\" is %s's too; os2iot import "
                        "matches devices by name: give each its own\n",
                        d->dev_eui, d->os2iot_name, t.d[k].dev_eui);
                errors++;
                break;
            }
        }
        if (csv_rows_needs_quotes(d->comment) || csv_rows_needs_quotes(d->location_comment))
            fprintf(stderr,
                    "sensorbroctl os2iot export: warning: %s: a comma or quote in comment or "
                    "location.comment: OS2iot takes it, but its CSV export will shift that "
                    "row's columns and os2iot import will refuse the row\n",
                    d->dev_eui);
        if (type == EXPORT_MQTT_INTERNAL)
            password_login[n] =
                !d->has_cert && ((d->has_username && d->has_password) || default_password);
        rows[n++] = d;
    }
    if (errors > 0) {
        fprintf(stderr, "sensorbroctl os2iot export: nothing written (%zu problems)\n", errors);
        goto out;
    }
    /* passwords go to a private file, or to stdout only when asked for by name */
    size_t with_password = 0;
    for (size_t i = 0; i < n; i++)
        with_password += password_login[i];
    if (with_password > 0 && output == NULL) {
        fprintf(stderr,
                "sensorbroctl os2iot export: %zu devices log in with a password, which the "
                "file carries: give --output FILE (written with mode 0600), or --output - to "
                "print them; nothing written\n",
                with_password);
        rc = EXIT_USAGE;
        goto out;
    }
    /* PASSWORD logins without credentials get them now, stored before the file exists */
    bool made = false;
    for (size_t i = 0; i < n; i++) {
        struct device_info *d = rows[i];
        if (!password_login[i] || (d->has_username && d->has_password))
            continue;
        if (!made && registry_begin(r) != 0) {
            fprintf(stderr, "sensorbroctl os2iot export: %s\n", registry_errmsg(r));
            goto out;
        }
        made = true;
        bool found;
        if (make_credentials(d) != 0) {
            fprintf(stderr, "sensorbroctl os2iot export: no random bytes for a password\n");
            registry_rollback(r);
            goto out;
        }
        const struct registry_change changes[] = {
            {"os2iot.username", d->username, strlen(d->username)},
            {"os2iot.password", d->password, strlen(d->password)},
        };
        if (registry_change_settings(r, d->dev_eui, NULL, changes, 2, &found) != 0 || !found) {
            fprintf(stderr, "sensorbroctl os2iot export: %s: %s\n", d->dev_eui,
                    found ? registry_errmsg(r) : "removed meanwhile");
            registry_rollback(r);
            goto out;
        }
    }
    if (made && registry_commit(r) != 0) {
        fprintf(stderr, "sensorbroctl os2iot export: %s\n", registry_errmsg(r));
        goto out;
    }
    if (output && strcmp(output, "-") != 0) {
        if (write_file(output, type, rows, password_login, n) != 0)
            goto out;
    } else if (write_export(stdout, type, rows, password_login, n) != 0 || fflush(stdout) != 0) {
        fprintf(stderr, "sensorbroctl os2iot export: writing: %s\n", strerror(errno));
        goto out;
    }
    bool to_file = output && strcmp(output, "-") != 0;
    fprintf(stderr, "exported %zu devices as %s%s%s", n,
            type == EXPORT_GENERIC_HTTP ? "GENERIC_HTTP" : "MQTT_INTERNAL_BROKER",
            to_file ? " to " : "", to_file ? output : "");
    if (already)
        fprintf(stderr, "; %zu with an os2iot.id left out (in OS2iot already; --all adds them)",
                already);
    if (other_output)
        fprintf(stderr, "; %zu with os2iot.output=%s left out", other_output,
                type == EXPORT_GENERIC_HTTP ? "mqtt" : "http");
    fprintf(stderr, "\n");
    rc = EXIT_SUCCESS;
out:
    free(rows);
    free(password_login);
    free_devices(&t);
    registry_close(r);
    return rc;
}

/* ---- import ---- */

/* The columns of OS2iot's export that import reads, by header name. */
enum column {
    COL_NAME,
    COL_ID,
    COL_TYPE,
    COL_API_KEY,
    COL_TOPIC,
    COL_AUTH,
    COL_USERNAME,
    COL_PASSWORD,
    COL_CA,
    COL_CERT,
    COL_KEY,
    N_COLUMNS
};
static const char *const column_names[N_COLUMNS] = {"name",
                                                    "id",
                                                    "type",
                                                    "apiKey",
                                                    "mqtttopicname",
                                                    "authenticationType",
                                                    "mqttusername",
                                                    "mqttpassword",
                                                    "caCertificate",
                                                    "deviceCertificate",
                                                    "deviceCertificateKey"};

#define MAX_ROW_CHANGES 10

/* One row of the file, checked, as the changes it makes to its device. */
struct import_row {
    unsigned line;
    const struct device_info *device;
    const char *type; /* "GENERIC_HTTP" or "MQTT_INTERNAL_BROKER" */
    struct registry_change changes[MAX_ROW_CHANGES];
    size_t n;
    char *decoded[3]; /* the base64-decoded PEMs (owned) */
    size_t decoded_len[3];
};

struct import {
    const char *path;
    struct csv_rows csv;
    int col[N_COLUMNS]; /* the column of each, -1 when absent */
    struct device_table devices;
    struct import_row *rows;
    size_t n_rows;
    size_t errors;
    size_t skipped_type, skipped_name;
    char first_skipped_type[32];
};

static void row_error(struct import *im, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void row_error(struct import *im, unsigned line, const char *fmt, ...)
{
    if (im->errors++ >= MAX_REPORTED_ERRORS)
        return;
    fprintf(stderr, "sensorbroctl os2iot import: %s:%u: ", im->path, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* The field of a column in a record, "" when the file has no such column. */
static const char *field(const struct import *im, const struct csv_rows_record *rec, enum column c,
                         size_t *len)
{
    if (im->col[c] < 0) {
        *len = 0;
        return "";
    }
    *len = rec->lens[im->col[c]];
    return rec->fields[im->col[c]];
}

static int read_header(struct import *im)
{
    const struct csv_rows_record *h = &im->csv.records[0];
    for (size_t c = 0; c < N_COLUMNS; c++)
        im->col[c] = -1;
    if (h->n_fields == 1 && strchr(h->fields[0], ';')) {
        row_error(im, h->line,
                  "the header is separated by ';', not ','  (a spreadsheet in a Danish locale "
                  "saves it so): save it as CSV with commas, or use OS2iot's file as it is");
        return -1;
    }
    for (size_t i = 0; i < h->n_fields; i++) {
        for (size_t c = 0; c < N_COLUMNS; c++) {
            if (strcmp(h->fields[i], column_names[c]) != 0)
                continue;
            if (im->col[c] >= 0) {
                row_error(im, h->line, "the header has the column %s twice", column_names[c]);
                return -1;
            }
            im->col[c] = (int)i;
        }
    }
    if (im->col[COL_NAME] < 0 || im->col[COL_TYPE] < 0 || im->col[COL_ID] < 0 ||
        (im->col[COL_API_KEY] < 0 && im->col[COL_TOPIC] < 0)) {
        row_error(im, h->line,
                  "expected the header of OS2iot's CSV export (name, id, type, ..., apiKey, "
                  "..., mqtttopicname, ...): the file OS2iot's \"Eksporter CSV\" of the "
                  "application gives (iotDeviceMetadata.csv), not a bulk import file");
        return -1;
    }
    return 0;
}

/* The registry's device a row's name stands for: its name, or the DevEUI of a device
 * that has no name (export names those by DevEUI). *count: how many devices match. */
static const struct device_info *match_name(const struct import *im, const char *name,
                                            size_t *count)
{
    const struct device_info *found = NULL;
    *count = 0;
    char eui[FRAME_DEVICE_ID_SIZE];
    bool is_eui = frame_parse_device_id(name, strlen(name), eui) == 0;
    for (size_t i = 0; i < im->devices.n; i++) {
        const struct device_info *d = &im->devices.d[i];
        if (strcmp(d->name, name) == 0 || (!d->name[0] && is_eui && strcmp(d->dev_eui, eui) == 0)) {
            if ((*count)++ == 0)
                found = d;
        }
    }
    return found;
}

/* Checks one value as the registry will (the same table) and adds it to the row. */
static bool add_change(struct import *im, struct import_row *row, const char *key,
                       const char *value, size_t len, const char *column)
{
    char *norm = malloc(len + 1);
    char why[DEVICE_SETTING_WHY_SIZE];
    if (norm == NULL ||
        device_setting_check(key, value, len, norm, len + 1, why, sizeof(why)) != 0) {
        row_error(im, row->line, "%s (column %s)", norm ? why : "out of memory", column);
        free(norm);
        return false;
    }
    OPENSSL_cleanse(norm, len + 1);
    free(norm);
    row->changes[row->n++] = (struct registry_change){key, value, len};
    return true;
}

/* A base64 column (OS2iot's certificates and key) decoded into one of the row's buffers. */
static bool add_base64(struct import *im, struct import_row *row, const char *key,
                       const char *value, size_t len, const char *column, unsigned slot)
{
    uint8_t *out = malloc(DEVICE_SETTING_VALUE_MAX + 1);
    struct base64_error err;
    long n =
        out ? base64_decode(value, len, BASE64_SKIP_WHITESPACE, out, DEVICE_SETTING_VALUE_MAX, &err)
            : -1;
    if (n < 0) {
        row_error(im, row->line, "%s: expected base64 of PEM text, as OS2iot exports it%s", column,
                  out ? "" : " (out of memory)");
        free(out);
        return false;
    }
    out[n] = '\0';
    row->decoded[slot] = (char *)out;
    row->decoded_len[slot] = (size_t)n;
    return add_change(im, row, key, (char *)out, (size_t)n, column);
}

/* Checks one record and turns it into a row; false when it is skipped or bad. */
static bool read_row(struct import *im, const struct csv_rows_record *rec, struct import_row *row)
{
    memset(row, 0, sizeof(*row));
    row->line = rec->line;
    size_t header = im->csv.records[0].n_fields;
    if (rec->n_fields != header) {
        row_error(im, rec->line,
                  "%zu fields, the header has %zu (OS2iot's CSV export does not quote: a comma "
                  "or a line break in a name or comment shifts the columns; remove it in "
                  "OS2iot and export again)",
                  rec->n_fields, header);
        return false;
    }
    size_t len, name_len, type_len;
    const char *name = field(im, rec, COL_NAME, &name_len);
    const char *type = field(im, rec, COL_TYPE, &type_len);
    if (strcmp(type, "GENERIC_HTTP") == 0 || strcmp(type, "MQTT_INTERNAL_BROKER") == 0) {
        row->type = type[0] == 'G' ? "GENERIC_HTTP" : "MQTT_INTERNAL_BROKER";
    } else {
        if (im->skipped_type++ == 0)
            snprintf(im->first_skipped_type, sizeof(im->first_skipped_type), "%.31s", type);
        return false;
    }
    if (name_len == 0) {
        row_error(im, rec->line, "name: empty");
        return false;
    }
    size_t count;
    row->device = match_name(im, name, &count);
    if (count == 0) {
        if (im->skipped_name++ < 10)
            fprintf(stderr,
                    "sensorbroctl os2iot import: %s:%u: no device named \"%.64s\" here: "
                    "skipped\n",
                    im->path, rec->line, name);
        return false;
    }
    if (count > 1) {
        row_error(im, rec->line,
                  "name \"%.64s\" is the name of %zu devices here: give each its "
                  "own (sensorbroctl device set EUI name=...)",
                  name, count);
        return false;
    }
    bool ok =
        add_change(im, row, "os2iot.output", row->type[0] == 'G' ? "http" : "mqtt", 4, "type");
    const char *id = field(im, rec, COL_ID, &len);
    ok = ok && add_change(im, row, "os2iot.id", id, len, "id");
    if (!ok)
        return false;
    if (row->type[0] == 'G') {
        const char *key = field(im, rec, COL_API_KEY, &len);
        return add_change(im, row, "os2iot.api_key", key, len, "apiKey");
    }
    const char *topic = field(im, rec, COL_TOPIC, &len);
    if (!add_change(im, row, "os2iot.topic", topic, len, "mqtttopicname"))
        return false;
    const char *last = strrchr(topic, '/');
    if (last == NULL || strcmp(last + 1, id) != 0) {
        row_error(im, rec->line, "mqtttopicname: expected its last level to be the id (%s)", id);
        return false;
    }
    size_t user_len, auth_len;
    const char *user = field(im, rec, COL_USERNAME, &user_len);
    const char *auth = field(im, rec, COL_AUTH, &auth_len);
    if (strcmp(auth, "PASSWORD") == 0) {
        const char *password = field(im, rec, COL_PASSWORD, &len);
        return add_change(im, row, "os2iot.username", user, user_len, "mqttusername") &&
               add_change(im, row, "os2iot.password", password, len, "mqttpassword");
    }
    if (strcmp(auth, "CERTIFICATE") != 0) {
        row_error(im, rec->line, "authenticationType: expected PASSWORD or CERTIFICATE");
        return false;
    }
    const char *cert = field(im, rec, COL_CERT, &len);
    if (!add_base64(im, row, "os2iot.cert", cert, len, "deviceCertificate", 0))
        return false;
    const char *key = field(im, rec, COL_KEY, &len);
    if (!add_base64(im, row, "os2iot.key", key, len, "deviceCertificateKey", 1))
        return false;
    const char *ca = field(im, rec, COL_CA, &len);
    if (len > 0 && !add_base64(im, row, "os2iot.ca", ca, len, "caCertificate", 2))
        return false;
    if (user_len > 0 && !add_change(im, row, "os2iot.username", user, user_len, "mqttusername"))
        return false;
    if (device_setting_key_matches_cert(row->decoded[0], row->decoded_len[0], row->decoded[1],
                                        row->decoded_len[1]) != 1) {
        row_error(im, rec->line,
                  "deviceCertificateKey: does not belong to deviceCertificate (another public "
                  "key)");
        return false;
    }
    return true;
}

static void free_import(struct import *im)
{
    for (size_t i = 0; i < im->n_rows; i++)
        for (size_t k = 0; k < 3; k++)
            ctl_free_secret(im->rows[i].decoded[k], im->rows[i].decoded_len[k]);
    free(im->rows);
    csv_rows_free(&im->csv);
    free_devices(&im->devices);
}

static const struct option import_opts[] = {{"dry-run", no_argument, NULL, 'n'},
                                            {NULL, 0, NULL, 0}};

static int cmd_import(struct ctl *ctl, int argc, char **argv)
{
    bool dry_run = false;
    int opt;
    optind = 0; /* 0: glibc re-initialises, so options may follow arguments */
    while ((opt = getopt_long(argc, argv, "", import_opts, NULL)) != -1) {
        if (opt != 'n')
            return EXIT_USAGE;
        dry_run = true;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "usage: sensorbroctl os2iot import FILE|- [--dry-run]\n");
        return EXIT_USAGE;
    }
    static struct import im;
    memset(&im, 0, sizeof(im));
    im.path = strcmp(argv[optind], "-") == 0 ? "stdin" : argv[optind];
    char *data = NULL;
    size_t data_len = 0;
    bool others;
    int rc = EXIT_FAILURE;
    struct registry *r = NULL;
    if (ctl_read_file("os2iot import", "FILE", argv[optind], IMPORT_FILE_MAX, &data, &data_len,
                      &others) != 0)
        return EXIT_FAILURE;
    struct csv_rows_error cerr;
    if (csv_rows_parse(data, data_len, &im.csv, &cerr) != 0) {
        fprintf(stderr, "sensorbroctl os2iot import: %s:%u: %s; nothing imported\n", im.path,
                cerr.line, cerr.message);
        goto out;
    }
    if (im.csv.n_records == 0) {
        fprintf(stderr, "sensorbroctl os2iot import: %s: empty; nothing imported\n", im.path);
        goto out;
    }
    if (read_header(&im) != 0)
        goto out;
    if (ctl_open_registry("os2iot import", ctl->journal_path, dry_run, &r) != 0)
        goto out;
    if (read_devices(r, &im.devices, "os2iot import") != 0)
        goto out;
    im.rows = calloc(im.csv.n_records, sizeof(*im.rows));
    if (im.rows == NULL) {
        fprintf(stderr, "sensorbroctl os2iot import: out of memory\n");
        goto out;
    }
    for (size_t i = 1; i < im.csv.n_records; i++) {
        struct import_row *row = &im.rows[im.n_rows];
        bool ok = read_row(&im, &im.csv.records[i], row);
        /* keep a skipped or bad row's buffers owned until the end */
        im.n_rows++;
        if (!ok) {
            row->device = NULL;
            continue;
        }
        for (size_t k = 0; k + 1 < im.n_rows; k++) {
            if (im.rows[k].device == row->device) {
                row_error(&im, row->line, "device %s (\"%.64s\") is on line %u already",
                          row->device->dev_eui, row->device->os2iot_name, im.rows[k].line);
                row->device = NULL;
                break;
            }
        }
    }
    if (im.errors > 0) {
        if (im.errors > MAX_REPORTED_ERRORS)
            fprintf(stderr, "sensorbroctl os2iot import: ... and %zu more\n",
                    im.errors - MAX_REPORTED_ERRORS);
        fprintf(stderr, "sensorbroctl os2iot import: %zu bad rows; nothing imported\n", im.errors);
        goto out;
    }
    size_t imported = 0, http = 0;
    if (!dry_run && registry_begin(r) != 0) {
        fprintf(stderr, "sensorbroctl os2iot import: %s\n", registry_errmsg(r));
        goto out;
    }
    for (size_t i = 0; i < im.n_rows; i++) {
        struct import_row *row = &im.rows[i];
        if (row->device == NULL)
            continue;
        bool found = true;
        /* the row replaces the device's whole OS2iot mapping: a device moved from PASSWORD
         * to CERTIFICATE keeps no password */
        if (!dry_run && (registry_change_settings(r, row->device->dev_eui, "os2iot.", row->changes,
                                                  row->n, &found) != 0 ||
                         !found)) {
            fprintf(stderr, "sensorbroctl os2iot import: %s:%u: %s; nothing imported\n", im.path,
                    row->line, found ? registry_errmsg(r) : "the device was removed meanwhile");
            registry_rollback(r);
            goto out;
        }
        imported++;
        http += row->type[0] == 'G';
    }
    if (!dry_run && registry_commit(r) != 0) {
        fprintf(stderr, "sensorbroctl os2iot import: %s; nothing imported\n", registry_errmsg(r));
        goto out;
    }
    printf("%s %zu devices from %s (%zu GENERIC_HTTP, %zu MQTT_INTERNAL_BROKER)",
           dry_run ? "would import" : "imported", imported, im.path, http, imported - http);
    if (im.skipped_type)
        printf("; skipped %zu rows of other types (%s, ...)", im.skipped_type,
               im.first_skipped_type);
    if (im.skipped_name)
        printf("; skipped %zu rows naming no device here", im.skipped_name);
    printf("\n");
    rc = EXIT_SUCCESS;
out:
    registry_close(r);
    free_import(&im);
    ctl_free_secret(data, data_len);
    return rc;
}

const struct ctl_command os2iot_commands[] = {
    {"os2iot export",
     "--type generic-http|mqtt-internal [--output FILE] [--all]\n[--auth certificate|password]",
     "write the CSV OS2iot's bulk import takes",
     "Write the registry's devices as the CSV that OS2iot's bulk import takes\n"
     "(Applications > the application > IoT-enheder > Importer), its own sample\n"
     "file's columns: name, empty id, type, longitude, latitude,\n"
     "commentOnLocation, comment, deviceModelId (and for mqtt-internal\n"
     "authenticationType, mqttusername, mqttpassword). Devices with os2iot.output\n"
     "of the other kind are left out, and so are devices that have an os2iot.id\n"
     "(OS2iot has them; its import would make them again). Names must be unique,\n"
     "at most 50 characters, without commas or quotes: os2iot import finds the\n"
     "devices by name.\n"
     "\n"
     "  --type T       generic-http (GENERIC_HTTP) or mqtt-internal\n"
     "                 (MQTT_INTERNAL_BROKER)\n"
     "  --output FILE  write FILE (mode 0600) instead of stdout; needed when\n"
     "                 the file carries passwords (--output - prints them)\n"
     "  --all          include the devices that have an os2iot.id\n"
     "  --auth A       mqtt-internal: certificate (default) or password, for\n"
     "                 devices with neither os2iot.cert nor a username and\n"
     "                 password; password makes and stores a random one\n",
     "", export_opts, cmd_export},
    {"os2iot import", "FILE|- [--dry-run]", "read OS2iot's CSV export into the registry",
     "Read the CSV that OS2iot's export of an application gives\n"
     "(iotDeviceMetadata.csv) and store, for each GENERIC_HTTP and\n"
     "MQTT_INTERNAL_BROKER row whose name is a device's here, its OS2iot id,\n"
     "type, API key, topic, and its password or certificate, key and CA: the\n"
     "device's os2iot.* settings are replaced by the row's. Every row is checked\n"
     "first; a bad row is reported with its line and nothing is imported. Rows\n"
     "of other types, and names of no device here, are skipped and counted.\n"
     "\n"
     "  --dry-run  check and report, write nothing\n",
     "", import_opts, cmd_import},
};

const size_t os2iot_command_count = sizeof(os2iot_commands) / sizeof(os2iot_commands[0]);
