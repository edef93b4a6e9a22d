/*
 * device.c - `sensorbroctl device add|list|show|set|unset|remove|downlink` (device.h).
 *
 * Every value from the command line or a file is checked before it reaches the registry,
 * and an error names the option or setting and what was expected, never the value of a
 * key or a secret. Keys and secrets given as arguments are visible to other users in ps
 * and stay in the shell's history; --keys-file, --password-file and --api-key-file (a 0600
 * file, or - for stdin) avoid both. Settings are checked by the one table of
 * device_settings.h, through the registry, which also checks them together.
 */
#include "device.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util/clock.h"
#include "util/hex.h"
#include "util/keyfile.h"
#include "util/rfc3339.h"
#include "util/term.h"
#include "lorawan/registry.h"
#include "ctl_util.h"

#define LABEL_PREFIX        "label."
#define MAX_LABELS          32
#define MAX_SET_ARGS        64
#define EXPIRY_WARN_DAYS    30
#define PSK_KEY             "coap.psk"
#define PSK_GENERATED_BYTES 16 /* RFC 7925's PSK ciphersuites are 128-bit */

static bool parse_key(const char *what, const char *text, uint8_t key[REGISTRY_KEY_SIZE])
{
    if (hex_decode_exact(text, key, REGISTRY_KEY_SIZE))
        return true;
    /* the value is not echoed: it may be most of a key */
    fprintf(stderr, "sensorbroctl device: %s: expected 32 hex digits (a 16-byte key)\n", what);
    return false;
}

static bool parse_eui(const char *what, const char *text, char out[FRAME_DEVICE_ID_SIZE])
{
    if (frame_parse_device_id(text, strlen(text), out) == 0)
        return true;
    fprintf(stderr, "sensorbroctl device: %s: expected an EUI-64 as 16 hex digits, got \"%.40s\"\n",
            what, text);
    return false;
}

static int open_registry(const char *journal, bool read_only, struct registry **r)
{
    return ctl_open_registry("device", journal, read_only, r);
}

struct keys {
    bool nwk_s, app_s, app;
    uint8_t nwk_s_key[REGISTRY_KEY_SIZE], app_s_key[REGISTRY_KEY_SIZE], app_key[REGISTRY_KEY_SIZE];
};

/* Reads "name = 32 hex digits" lines (nwkskey, appskey, appkey; '#' comments) from path or
 * stdin ("-"), the format tools/modem-sim reads too (util/keyfile.h). */
static bool read_keys_file(const char *path, struct keys *k)
{
    bool is_stdin = strcmp(path, "-") == 0;
    const struct keyfile_field fields[] = {
        {"nwkskey", REGISTRY_KEY_SIZE, k->nwk_s_key, &k->nwk_s},
        {"appskey", REGISTRY_KEY_SIZE, k->app_s_key, &k->app_s},
        {"appkey", REGISTRY_KEY_SIZE, k->app_key, &k->app},
        {"devaddr", 0, NULL, NULL}, /* modem-sim's files carry it; ignored */
    };
    struct keyfile_result res;
    int rc = keyfile_read(is_stdin ? NULL : path, fields, sizeof(fields) / sizeof(fields[0]), &res);
    if (res.readable_by_others)
        fprintf(stderr, "sensorbroctl device: warning: %s is readable by others (chmod 600 it)\n",
                path);
    if (rc == 0)
        return true;
    if (res.line == 0)
        fprintf(stderr, "sensorbroctl device: --keys-file %s: %s\n", path, strerror(res.error));
    else
        fprintf(stderr,
                "sensorbroctl device: %s:%u: expected nwkskey, appskey or appkey = 32 hex "
                "digits\n",
                is_stdin ? "stdin" : path, res.line);
    return false;
}

/* A --label KEY=VALUE as the setting label.KEY (checked with the others by the registry);
 * here only its shape. */
static bool parse_label(const char *text, char key[DEVICE_SETTING_KEY_MAX + 1], const char **value)
{
    const char *eq = strchr(text, '=');
    size_t key_len = eq ? (size_t)(eq - text) : 0;
    if (eq != NULL && key_len >= 1 &&
        sizeof(LABEL_PREFIX) - 1 + key_len <= DEVICE_SETTING_KEY_MAX) {
        snprintf(key, DEVICE_SETTING_KEY_MAX + 1, "%s%.*s", LABEL_PREFIX, (int)key_len, text);
        char norm[128], why[DEVICE_SETTING_WHY_SIZE];
        if (device_setting_find(key) && device_setting_check(key, eq + 1, strlen(eq + 1), norm,
                                                             sizeof(norm), why, sizeof(why)) == 0) {
            *value = eq + 1;
            return true;
        }
    }
    fprintf(stderr, "sensorbroctl device: --label: expected KEY=VALUE, KEY of 1..32 letters, "
                    "digits, '_', '-' or '.', VALUE of at most 64 bytes of printable UTF-8\n");
    return false;
}

/* --psk-file FILE|- (opt 'p': the first line of FILE, out of ps and the history) or
 * --psk generate (opt 'g': 16 random bytes from OpenSSL's CSPRNG). The value goes into
 * *buf (owned by the caller: ctl_free_secret); *generated says whether to print it once. */
static bool psk_option(const char *who, int opt, const char *arg, char **buf, size_t *len,
                       bool *generated)
{
    if (*buf != NULL) {
        fprintf(stderr, "sensorbroctl %s: give --psk-file or --psk generate once\n", who);
        return false;
    }
    if (opt == 'p') {
        bool others;
        if (ctl_read_file(who, PSK_KEY, arg, DEVICE_SETTING_VALUE_MAX, buf, len, &others) != 0)
            return false;
        if (others)
            fprintf(stderr, "sensorbroctl %s: warning: %s is readable by others (chmod 600 it)\n",
                    who, arg);
        while (*len > 0 && ((*buf)[*len - 1] == '\n' || (*buf)[*len - 1] == '\r'))
            (*buf)[--*len] = '\0';
        return true;
    }
    if (strcmp(arg, "generate") != 0) {
        /* not echoed: it may be a key someone typed where the file name goes */
        fprintf(stderr,
                "sensorbroctl %s: --psk: expected \"generate\" (a key of your own: --psk-file "
                "FILE|-, which keeps it out of ps and the shell's history)\n",
                who);
        return false;
    }
    uint8_t key[PSK_GENERATED_BYTES];
    *buf = malloc(2 * sizeof(key) + 1);
    if (*buf == NULL || RAND_bytes(key, sizeof(key)) != 1) {
        fprintf(stderr, "sensorbroctl %s: --psk generate: no random bytes from OpenSSL\n", who);
        OPENSSL_cleanse(key, sizeof(key));
        return false;
    }
    for (size_t i = 0; i < sizeof(key); i++)
        snprintf(*buf + 2 * i, 3, "%02x", key[i]);
    OPENSSL_cleanse(key, sizeof(key));
    *len = 2 * sizeof(key);
    *generated = true;
    return true;
}

/* The one time a generated key is shown: on stdout, for the device's provisioning. */
static void print_generated_psk(const char *eui, const char *psk)
{
    printf("coap.psk of %s (shown only now; put it on the device, DTLS identity %s):\n%s\n", eui,
           eui, psk);
}

static const struct option add_opts[] = {
    {"dev-eui", required_argument, NULL, 'e'},   {"dev-addr", required_argument, NULL, 'a'},
    {"nwk-s-key", required_argument, NULL, 'N'}, {"app-s-key", required_argument, NULL, 'A'},
    {"join-eui", required_argument, NULL, 'J'},  {"app-key", required_argument, NULL, 'K'},
    {"keys-file", required_argument, NULL, 'f'}, {"name", required_argument, NULL, 'n'},
    {"label", required_argument, NULL, 'l'},     {"psk-file", required_argument, NULL, 'p'},
    {"psk", required_argument, NULL, 'g'},       {NULL, 0, NULL, 0}};

static const char *activation_name(enum registry_activation a)
{
    return a == REGISTRY_ABP ? "abp" : a == REGISTRY_OTAA ? "otaa" : "none";
}

static int cmd_add(struct ctl *ctl, int argc, char **argv)
{
    static struct registry_device dev;
    memset(&dev, 0, sizeof(dev));
    struct keys keys = {0};
    bool has_eui = false, has_addr = false, has_join = false;
    const char *keys_file = NULL;
    static char label_keys[MAX_LABELS][DEVICE_SETTING_KEY_MAX + 1];
    struct registry_change labels[MAX_LABELS + 1]; /* and coap.psk */
    size_t n_labels = 0;
    char *psk = NULL;
    size_t psk_len = 0;
    bool psk_generated = false;
    int rc = EXIT_USAGE;
    int opt;
    optind = 0; /* 0: glibc re-initialises, so options may follow arguments */
    while ((opt = getopt_long(argc, argv, "", add_opts, NULL)) != -1) {
        bool ok = true;
        uint8_t bytes[8];
        char eui[FRAME_DEVICE_ID_SIZE];
        switch (opt) {
        case 'e':
            ok = has_eui = parse_eui("--dev-eui", optarg, dev.dev_eui);
            break;
        case 'a':
            ok = has_addr = hex_decode_exact(optarg, bytes, 4);
            if (!ok)
                fprintf(stderr, "sensorbroctl device: --dev-addr: expected 8 hex digits\n");
            dev.dev_addr = (uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 |
                           (uint32_t)bytes[2] << 8 | bytes[3];
            break;
        case 'N':
            ok = keys.nwk_s = parse_key("--nwk-s-key", optarg, keys.nwk_s_key);
            break;
        case 'A':
            ok = keys.app_s = parse_key("--app-s-key", optarg, keys.app_s_key);
            break;
        case 'K':
            ok = keys.app = parse_key("--app-key", optarg, keys.app_key);
            break;
        case 'J':
            ok = has_join = parse_eui("--join-eui", optarg, eui);
            dev.join_eui = ok ? strtoull(eui, NULL, 16) : 0;
            break;
        case 'f':
            keys_file = optarg;
            break;
        case 'n': {
            char why[DEVICE_SETTING_WHY_SIZE];
            ok = device_setting_check("name", optarg, strlen(optarg), dev.name, sizeof(dev.name),
                                      why, sizeof(why)) == 0;
            if (!ok)
                fprintf(stderr,
                        "sensorbroctl device: --name: expected at most %zu bytes of "
                        "printable UTF-8\n",
                        sizeof(dev.name) - 1);
            break;
        }
        case 'l': {
            const char *value = NULL;
            if (n_labels == MAX_LABELS) {
                fprintf(stderr, "sensorbroctl device: --label: at most %d\n", MAX_LABELS);
                ok = false;
                break;
            }
            ok = parse_label(optarg, label_keys[n_labels], &value);
            if (ok)
                labels[n_labels] =
                    (struct registry_change){label_keys[n_labels], value, strlen(value)};
            n_labels += ok;
            break;
        }
        case 'p':
        case 'g':
            ok = psk_option("device add", opt, optarg, &psk, &psk_len, &psk_generated);
            break;
        default:
            ok = false;
        }
        if (!ok)
            goto out;
    }
    if (optind != argc) {
        fprintf(stderr, "sensorbroctl device add: unexpected argument \"%.40s\"\n", argv[optind]);
        goto out;
    }
    if (keys_file && !read_keys_file(keys_file, &keys))
        goto out;
    if (!has_eui) {
        fprintf(stderr, "sensorbroctl device add: --dev-eui is required\n");
        goto out;
    }
    bool abp = has_addr || keys.nwk_s || keys.app_s;
    bool otaa = has_join || keys.app;
    if (abp && otaa) {
        fprintf(stderr, "sensorbroctl device add: give either ABP (--dev-addr, --nwk-s-key, "
                        "--app-s-key) or OTAA (--join-eui, --app-key), not both\n");
        goto out;
    }
    if (abp && !(has_addr && keys.nwk_s && keys.app_s)) {
        fprintf(stderr, "sensorbroctl device add: ABP needs --dev-addr, --nwk-s-key and "
                        "--app-s-key (keys may come from --keys-file)\n");
        goto out;
    }
    if (otaa && !(has_join && keys.app)) {
        fprintf(stderr, "sensorbroctl device add: OTAA needs --join-eui and --app-key (the key "
                        "may come from --keys-file)\n");
        goto out;
    }
    dev.activation = abp ? REGISTRY_ABP : otaa ? REGISTRY_OTAA : REGISTRY_NONE;
    memcpy(dev.nwk_s_key, keys.nwk_s_key, REGISTRY_KEY_SIZE);
    memcpy(dev.app_s_key, keys.app_s_key, REGISTRY_KEY_SIZE);
    memcpy(dev.app_key, keys.app_key, REGISTRY_KEY_SIZE);

    if (psk)
        labels[n_labels++] = (struct registry_change){PSK_KEY, psk, psk_len};

    rc = EXIT_FAILURE;
    struct registry *r;
    if (open_registry(ctl->journal_path, false, &r) != 0)
        goto out;
    /* the device, its labels and its key in one transaction: all or none */
    bool exists = false, found = false;
    if (registry_begin(r) != 0 || registry_add(r, &dev, &exists) != 0 ||
        registry_change_settings(r, dev.dev_eui, NULL, labels, n_labels, &found) != 0 ||
        registry_commit(r) != 0) {
        fprintf(stderr, "sensorbroctl device add: %s\n", registry_errmsg(r));
        registry_rollback(r);
    } else {
        printf("added %s (%s)\n", dev.dev_eui,
               abp    ? "ABP"
               : otaa ? "OTAA"
                      : "activation none: a CoAP or LNS device, no LoRaWAN keys");
        if (psk_generated)
            print_generated_psk(dev.dev_eui, psk);
        rc = EXIT_SUCCESS;
    }
    registry_close(r);
out:
    ctl_free_secret(psk, psk_len);
    OPENSSL_cleanse(&keys, sizeof(keys));
    OPENSSL_cleanse(&dev, sizeof(dev));
    return rc;
}

/* ---- listings: settings shown through device_setting_display, secrets masked ---- */

struct settings_json {
    cJSON *labels;   /* label.* without the prefix */
    cJSON *settings; /* every other key, as displayed */
};

static bool collect_setting(void *ctx, const char *key, const struct device_setting_def *def,
                            const char *value, size_t len)
{
    struct settings_json *sj = ctx;
    char shown[DEVICE_SETTING_DISPLAY_SIZE];
    /* a key this build does not know is shown as a secret: it may be one */
    static const struct device_setting_def unknown = {.flags = DEVICE_SETTING_SECRET};
    device_setting_display(def ? def : &unknown, value, len, shown);
    if (def && def->type == DEVICE_SETTING_TEXT && strncmp(key, LABEL_PREFIX, 6) == 0)
        cJSON_AddStringToObject(sj->labels, key + 6, value);
    else
        cJSON_AddStringToObject(sj->settings, key, shown);
    return true;
}

static int device_json(struct registry *r, const struct registry_device *d, cJSON **out)
{
    cJSON *o = cJSON_CreateObject();
    struct settings_json sj = {cJSON_CreateObject(), cJSON_CreateObject()};
    cJSON_AddStringToObject(o, "dev_eui", d->dev_eui);
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddItemToObject(o, "labels", sj.labels);
    cJSON_AddStringToObject(o, "activation", activation_name(d->activation));
    char text[FRAME_DEVICE_ID_SIZE];
    if (d->has_session) {
        snprintf(text, sizeof(text), "%08" PRIx32, d->dev_addr);
        cJSON_AddStringToObject(o, "dev_addr", text);
    } else {
        cJSON_AddNullToObject(o, "dev_addr");
    }
    if (d->has_fcnt_up)
        cJSON_AddNumberToObject(o, "fcnt_up", d->fcnt_up);
    else
        cJSON_AddNullToObject(o, "fcnt_up");
    cJSON_AddNumberToObject(o, "fcnt_down", d->fcnt_down);
    cJSON_AddItemToObject(o, "settings", sj.settings);
    *out = o;
    return registry_list_settings(r, d->dev_eui, "", collect_setting, &sj);
}

struct list_ctx {
    cJSON *array; /* --json */
    unsigned count;
    struct registry_device *devices; /* the table, read first: settings are read after */
    size_t n, cap;
};

static bool list_one(void *ctx, const struct registry_device *d)
{
    struct list_ctx *lc = ctx;
    if (lc->n == lc->cap) {
        size_t cap = lc->cap ? lc->cap * 2 : 64;
        struct registry_device *more = realloc(lc->devices, cap * sizeof(*more));
        if (more == NULL)
            return false;
        lc->devices = more;
        lc->cap = cap;
    }
    /* only what a listing shows: no keys leave registry_list */
    struct registry_device *copy = &lc->devices[lc->n++];
    memset(copy, 0, sizeof(*copy));
    memcpy(copy->dev_eui, d->dev_eui, sizeof(copy->dev_eui));
    memcpy(copy->name, d->name, sizeof(copy->name));
    copy->activation = d->activation;
    copy->has_session = d->has_session;
    copy->dev_addr = d->dev_addr;
    copy->has_fcnt_up = d->has_fcnt_up;
    copy->fcnt_up = d->fcnt_up;
    copy->fcnt_down = d->fcnt_down;
    return true;
}

static const struct option list_opts[] = {{"json", no_argument, NULL, 'J'}, {NULL, 0, NULL, 0}};

static int cmd_list(struct ctl *ctl, int argc, char **argv)
{
    struct list_ctx lc = {0};
    int opt;
    optind = 0; /* 0: glibc re-initialises, so options may follow arguments */
    while ((opt = getopt_long(argc, argv, "", list_opts, NULL)) != -1) {
        if (opt != 'J')
            return EXIT_USAGE;
        if (lc.array == NULL)
            lc.array = cJSON_CreateArray();
    }
    struct registry *r;
    if (open_registry(ctl->journal_path, true, &r) != 0) {
        cJSON_Delete(lc.array);
        return EXIT_FAILURE;
    }
    int rc = registry_list(r, list_one, &lc);
    for (size_t i = 0; rc == 0 && i < lc.n; i++) {
        cJSON *o;
        rc = device_json(r, &lc.devices[i], &o);
        if (lc.array) {
            cJSON_AddItemToArray(lc.array, o);
            continue;
        }
        const struct registry_device *d = &lc.devices[i];
        char addr[16] = "-", fcnt[16] = "-";
        if (d->has_session)
            snprintf(addr, sizeof(addr), "%08" PRIx32, d->dev_addr);
        if (d->has_fcnt_up)
            snprintf(fcnt, sizeof(fcnt), "%" PRIu32, d->fcnt_up);
        char *labels = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "labels"));
        /* name and labels are text someone gave (an import, perhaps): shown escaped */
        char name[TERM_ESCAPED_SIZE(REGISTRY_NAME_SIZE)];
        term_escape(d->name, strlen(d->name), name, sizeof(name));
        printf("%s  %-4s  %-8s  fcnt %-8s  %-20s  ", d->dev_eui, activation_name(d->activation),
               addr, fcnt, name);
        term_puts(stdout, labels ? labels : "{}");
        putchar('\n');
        cJSON_free(labels);
        cJSON_Delete(o);
    }
    if (rc != 0)
        fprintf(stderr, "sensorbroctl device list: %s\n", registry_errmsg(r));
    registry_close(r);
    if (rc == 0 && lc.array) {
        char *text = cJSON_PrintUnformatted(lc.array);
        term_write_json(stdout, text ? text : "[]", strlen(text ? text : "[]"));
        putchar('\n');
        cJSON_free(text);
    }
    cJSON_Delete(lc.array);
    free(lc.devices);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

struct show_ctx {
    int64_t now_ms;
};

static bool show_setting(void *ctx, const char *key, const struct device_setting_def *def,
                         const char *value, size_t len)
{
    struct show_ctx *sc = ctx;
    char shown[DEVICE_SETTING_DISPLAY_SIZE];
    static const struct device_setting_def unknown = {.flags = DEVICE_SETTING_SECRET};
    device_setting_display(def ? def : &unknown, value, len, shown);
    const char *note = "";
    int64_t until_ms;
    if (strcmp(key, "os2iot.cert_not_after") == 0 && rfc3339_parse_ms(value, len, &until_ms) == 0)
        note = until_ms <= sc->now_ms ? "  EXPIRED"
               : until_ms - sc->now_ms < (int64_t)EXPIRY_WARN_DAYS * 86400000
                   ? "  expires within 30 days"
                   : "";
    /* values are text someone gave (an import, perhaps): shown escaped */
    printf("  %-22s ", key);
    term_puts(stdout, shown);
    printf("%s\n", note);
    return true;
}

static int cmd_show(struct ctl *ctl, int argc, char **argv)
{
    char eui[FRAME_DEVICE_ID_SIZE];
    if (argc != 2) {
        fprintf(stderr, "usage: sensorbroctl device show DEV-EUI\n");
        return EXIT_USAGE;
    }
    if (!parse_eui("DEV-EUI", argv[1], eui))
        return EXIT_USAGE;
    struct registry *r;
    if (open_registry(ctl->journal_path, true, &r) != 0)
        return EXIT_FAILURE;
    static struct registry_device d;
    bool found = false;
    int64_t queued = 0;
    int rc = registry_get(r, eui, &d, &found);
    if (rc == 0 && found)
        rc = registry_count_downlinks(r, eui, &queued);
    if (rc != 0) {
        fprintf(stderr, "sensorbroctl device show: %s\n", registry_errmsg(r));
        registry_close(r);
        return EXIT_FAILURE;
    }
    if (!found) {
        fprintf(stderr, "sensorbroctl device show: no device %s\n", eui);
        registry_close(r);
        return EXIT_FAILURE;
    }
    char masked[REGISTRY_MASKED_SIZE], when[CLOCK_RFC3339_SIZE];
    clock_format_rfc3339(d.created_ms, 0, when);
    printf("dev_eui      %s\n", d.dev_eui);
    fputs("name         ", stdout);
    term_puts(stdout, d.name);
    putchar('\n');
    printf("activation   %s%s\n", activation_name(d.activation),
           d.activation == REGISTRY_NONE ? " (not activated here: a CoAP or LNS device)" : "");
    printf("created      %s\n", when);
    if (d.activation == REGISTRY_OTAA) {
        printf("join_eui     %016" PRIx64 "\n", d.join_eui);
        registry_mask_key(d.app_key, masked);
        printf("app_key      %s\n", masked);
        printf("app_nonce    %" PRIu32 " (joins accepted)\n", d.app_nonce);
    }
    if (d.activation != REGISTRY_NONE) {
        if (d.has_session) {
            printf("dev_addr     %08" PRIx32 "\n", d.dev_addr);
            registry_mask_key(d.nwk_s_key, masked);
            printf("nwk_s_key    %s\n", masked);
            registry_mask_key(d.app_s_key, masked);
            printf("app_s_key    %s\n", masked);
        } else {
            printf("dev_addr     - (not joined yet)\n");
        }
        if (d.has_fcnt_up)
            printf("fcnt_up      %" PRIu32 " (as last written; the daemon writes it lazily)\n",
                   d.fcnt_up);
        else
            printf("fcnt_up      - (no uplink yet)\n");
        printf("fcnt_down    %" PRIu32 " (next)\n", d.fcnt_down);
        printf("downlinks    %" PRId64 " queued\n", queued);
    }
    OPENSSL_cleanse(&d, sizeof(d));
    printf("settings\n");
    struct show_ctx sc = {clock_wall_ms()};
    rc = registry_list_settings(r, eui, "", show_setting, &sc);
    if (rc != 0)
        fprintf(stderr, "sensorbroctl device show: %s\n", registry_errmsg(r));
    registry_close(r);
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- set and unset ---- */

/* The values of one `device set`: argv's KEY=VALUE and the files' contents. Files are read
 * into buffers owned here, zeroed at the end (a key or a password). */
struct set_args {
    struct registry_change changes[MAX_SET_ARGS];
    char *owned[MAX_SET_ARGS];
    size_t owned_len[MAX_SET_ARGS];
    char keys[MAX_SET_ARGS][DEVICE_SETTING_KEY_MAX + 1];
    size_t n;
    bool secret_on_argv;
};

static void set_args_free(struct set_args *a)
{
    for (size_t i = 0; i < a->n; i++)
        ctl_free_secret(a->owned[i], a->owned_len[i]);
    a->n = 0;
}

/* Reads a file as a value: PEM texts whole; a one-line secret without its line break. */
static bool add_from_file(struct set_args *a, const char *key, const char *path, bool one_line)
{
    if (a->n == MAX_SET_ARGS) {
        fprintf(stderr, "sensorbroctl device set: at most %d settings at once\n", MAX_SET_ARGS);
        return false;
    }
    const struct device_setting_def *def = device_setting_find(key);
    char what[96];
    snprintf(what, sizeof(what), "%s", key);
    char *buf;
    size_t len;
    bool others;
    if (ctl_read_file("device set", what, path, DEVICE_SETTING_VALUE_MAX, &buf, &len, &others) != 0)
        return false;
    if (others && def && (def->flags & DEVICE_SETTING_SECRET))
        fprintf(stderr,
                "sensorbroctl device set: warning: %s is readable by others (chmod 600 it)\n",
                path);
    if (one_line) {
        if (len > 0 && buf[len - 1] == '\n')
            buf[--len] = '\0';
        if (len > 0 && buf[len - 1] == '\r')
            buf[--len] = '\0';
    }
    size_t i = a->n++;
    snprintf(a->keys[i], sizeof(a->keys[i]), "%s", key);
    a->owned[i] = buf;
    a->owned_len[i] = len;
    a->changes[i] = (struct registry_change){a->keys[i], buf, len};
    return true;
}

/* One KEY=VALUE argument. PEM settings take a file (or - for stdin); the rest the text. */
static bool add_argument(struct set_args *a, const char *arg)
{
    const char *eq = strchr(arg, '=');
    size_t key_len = eq ? (size_t)(eq - arg) : 0;
    if (eq == NULL || key_len == 0 || key_len > DEVICE_SETTING_KEY_MAX) {
        /* the argument is not echoed: "os2iot.password s3cret" makes the secret one */
        fprintf(stderr,
                "sensorbroctl device set: expected KEY=VALUE, got an argument of %zu bytes "
                "without '=' before its value (the keys: sensorbroctl help device set)\n",
                strlen(arg));
        return false;
    }
    char key[DEVICE_SETTING_KEY_MAX + 1];
    snprintf(key, sizeof(key), "%.*s", (int)key_len, arg);
    const struct device_setting_def *def = device_setting_find(key);
    if (def && (def->type == DEVICE_SETTING_CERT || def->type == DEVICE_SETTING_KEY))
        return add_from_file(a, key, eq + 1, false);
    if (a->n == MAX_SET_ARGS) {
        fprintf(stderr, "sensorbroctl device set: at most %d settings at once\n", MAX_SET_ARGS);
        return false;
    }
    if (def && (def->flags & DEVICE_SETTING_SECRET))
        a->secret_on_argv = true;
    size_t i = a->n++;
    snprintf(a->keys[i], sizeof(a->keys[i]), "%s", key);
    a->owned[i] = NULL;
    a->changes[i] = (struct registry_change){a->keys[i], eq + 1, strlen(eq + 1)};
    return true;
}

static const struct option set_opts[] = {{"password-file", required_argument, NULL, 'P'},
                                         {"api-key-file", required_argument, NULL, 'K'},
                                         {"psk-file", required_argument, NULL, 'p'},
                                         {"psk", required_argument, NULL, 'g'},
                                         {NULL, 0, NULL, 0}};

/* What `device set` says it did: the keys, and the certificate's expiry. */
static void print_set(struct registry *r, const char *eui, const struct set_args *a)
{
    printf("set");
    for (size_t i = 0; i < a->n; i++)
        printf("%s %s", i ? "," : "", a->changes[i].key);
    printf(" on %s\n", eui);
    char until[64];
    size_t len;
    bool found = false;
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->changes[i].key, "os2iot.cert") != 0)
            continue;
        int64_t until_ms;
        if (registry_get_setting(r, eui, "os2iot.cert_not_after", until, sizeof(until), &len,
                                 &found) == 0 &&
            found && rfc3339_parse_ms(until, len, &until_ms) == 0) {
            int64_t left_ms = until_ms - clock_wall_ms();
            printf("os2iot.cert expires %s%s\n", until,
                   left_ms <= 0 ? ": it has EXPIRED, OS2iot's broker will refuse it"
                   : left_ms < (int64_t)EXPIRY_WARN_DAYS * 86400000
                       ? ": within 30 days, renew it in OS2iot"
                       : "");
        }
    }
}

static int cmd_set(struct ctl *ctl, int argc, char **argv)
{
    static struct set_args a;
    memset(&a, 0, sizeof(a));
    int rc = EXIT_USAGE, opt;
    char *psk = NULL;
    size_t psk_len = 0;
    bool psk_generated = false;
    optind = 0; /* 0: glibc re-initialises, so options may follow arguments */
    while ((opt = getopt_long(argc, argv, "", set_opts, NULL)) != -1) {
        bool ok = false;
        if (opt == 'P')
            ok = add_from_file(&a, "os2iot.password", optarg, true);
        else if (opt == 'K')
            ok = add_from_file(&a, "os2iot.api_key", optarg, true);
        else if (opt == 'p' || opt == 'g')
            ok = psk_option("device set", opt, optarg, &psk, &psk_len, &psk_generated);
        if (!ok)
            goto out;
    }
    if (psk) {
        if (a.n == MAX_SET_ARGS)
            goto out;
        size_t i = a.n++;
        snprintf(a.keys[i], sizeof(a.keys[i]), "%s", PSK_KEY);
        a.owned[i] = psk; /* freed with the others */
        a.owned_len[i] = psk_len;
        a.changes[i] = (struct registry_change){a.keys[i], psk, psk_len};
        psk = NULL;
    }
    if (argc - optind < 1 || (argc - optind < 2 && a.n == 0)) {
        fprintf(stderr, "usage: sensorbroctl device set DEV-EUI KEY=VALUE... [--password-file "
                        "FILE|-] [--api-key-file FILE|-] [--psk-file FILE|- | --psk generate]\n");
        goto out;
    }
    char eui[FRAME_DEVICE_ID_SIZE];
    if (!parse_eui("DEV-EUI", argv[optind], eui))
        goto out;
    for (int i = optind + 1; i < argc; i++)
        if (!add_argument(&a, argv[i]))
            goto out;
    if (a.secret_on_argv)
        fprintf(stderr, "sensorbroctl device set: warning: a secret on the command line is "
                        "visible in ps and the shell's history; --password-file and "
                        "--api-key-file (or -) avoid both\n");
    rc = EXIT_FAILURE;
    struct registry *r;
    if (open_registry(ctl->journal_path, false, &r) != 0)
        goto out;
    bool found = false;
    if (registry_change_settings(r, eui, NULL, a.changes, a.n, &found) != 0) {
        fprintf(stderr, "sensorbroctl device set: %s\n", registry_errmsg(r));
    } else if (!found) {
        fprintf(stderr,
                "sensorbroctl device set: no device %s (add it first: sensorbroctl device add "
                "--dev-eui %s)\n",
                eui, eui);
    } else {
        print_set(r, eui, &a);
        for (size_t i = 0; psk_generated && i < a.n; i++)
            if (strcmp(a.changes[i].key, PSK_KEY) == 0)
                print_generated_psk(eui, a.changes[i].value);
        rc = EXIT_SUCCESS;
    }
    registry_close(r);
out:
    ctl_free_secret(psk, psk_len);
    set_args_free(&a);
    return rc;
}

static int cmd_unset(struct ctl *ctl, int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: sensorbroctl device unset DEV-EUI KEY...\n");
        return EXIT_USAGE;
    }
    char eui[FRAME_DEVICE_ID_SIZE];
    if (!parse_eui("DEV-EUI", argv[1], eui))
        return EXIT_USAGE;
    struct registry_change changes[MAX_SET_ARGS];
    size_t n = 0;
    const char *prefix = NULL;
    for (int i = 2; i < argc; i++) {
        size_t len = strlen(argv[i]);
        /* os2iot.* : every key of the family, as os2iot import replaces them */
        if (len >= 3 && strcmp(argv[i] + len - 2, ".*") == 0 && prefix == NULL &&
            len - 1 <= DEVICE_SETTING_KEY_MAX) {
            static char family[DEVICE_SETTING_KEY_MAX + 1];
            snprintf(family, sizeof(family), "%.*s", (int)(len - 1), argv[i]);
            prefix = family;
            continue;
        }
        if (n == MAX_SET_ARGS) {
            fprintf(stderr, "sensorbroctl device unset: at most %d keys at once\n", MAX_SET_ARGS);
            return EXIT_USAGE;
        }
        char why[DEVICE_SETTING_WHY_SIZE], norm[1];
        const struct device_setting_def *def = device_setting_find(argv[i]);
        if (def == NULL || (def->flags & DEVICE_SETTING_DERIVED)) {
            device_setting_check(argv[i], "", 0, norm, sizeof(norm), why, sizeof(why));
            fprintf(stderr, "sensorbroctl device unset: %s\n", why);
            return EXIT_USAGE;
        }
        changes[n++] = (struct registry_change){argv[i], NULL, 0};
    }
    struct registry *r;
    if (open_registry(ctl->journal_path, false, &r) != 0)
        return EXIT_FAILURE;
    bool found = false;
    int rc = registry_change_settings(r, eui, prefix, changes, n, &found);
    if (rc != 0)
        fprintf(stderr, "sensorbroctl device unset: %s\n", registry_errmsg(r));
    else if (!found)
        fprintf(stderr, "sensorbroctl device unset: no device %s\n", eui);
    registry_close(r);
    if (rc != 0 || !found)
        return EXIT_FAILURE;
    printf("unset");
    for (int i = 2; i < argc; i++)
        printf("%s %s", i > 2 ? "," : "", argv[i]);
    printf(" on %s\n", eui);
    return EXIT_SUCCESS;
}

static int cmd_remove(struct ctl *ctl, int argc, char **argv)
{
    char eui[FRAME_DEVICE_ID_SIZE];
    if (argc != 2) {
        fprintf(stderr, "usage: sensorbroctl device remove DEV-EUI\n");
        return EXIT_USAGE;
    }
    if (!parse_eui("DEV-EUI", argv[1], eui))
        return EXIT_USAGE;
    struct registry *r;
    if (open_registry(ctl->journal_path, false, &r) != 0)
        return EXIT_FAILURE;
    bool found = false;
    int rc = registry_remove(r, eui, &found);
    if (rc != 0)
        fprintf(stderr, "sensorbroctl device remove: %s\n", registry_errmsg(r));
    registry_close(r);
    if (rc != 0)
        return EXIT_FAILURE;
    if (!found) {
        fprintf(stderr, "sensorbroctl device remove: no device %s\n", eui);
        return EXIT_FAILURE;
    }
    printf("removed %s\n", eui);
    return EXIT_SUCCESS;
}

static const struct option downlink_opts[] = {{"port", required_argument, NULL, 'p'},
                                              {"confirmed", no_argument, NULL, 'c'},
                                              {NULL, 0, NULL, 0}};

static int cmd_downlink(struct ctl *ctl, int argc, char **argv)
{
    long port = 2;
    bool confirmed = false;
    int opt;
    optind = 0; /* 0: glibc re-initialises, so options may follow arguments */
    while ((opt = getopt_long(argc, argv, "", downlink_opts, NULL)) != -1) {
        char *end;
        if (opt == 'p') {
            errno = 0;
            port = strtol(optarg, &end, 10);
            if (*end != '\0' || errno != 0 || port < 1 || port > 223) {
                fprintf(stderr, "sensorbroctl device downlink: --port: expected 1..223\n");
                return EXIT_USAGE;
            }
        } else if (opt == 'c') {
            confirmed = true;
        } else {
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: sensorbroctl device downlink DEV-EUI HEX [--port N] "
                        "[--confirmed]\n");
        return EXIT_USAGE;
    }
    char eui[FRAME_DEVICE_ID_SIZE];
    if (!parse_eui("DEV-EUI", argv[optind], eui))
        return EXIT_USAGE;
    const char *hex = argv[optind + 1];
    uint8_t payload[REGISTRY_DOWNLINK_MAX];
    size_t len = strlen(hex) / 2;
    if (strlen(hex) % 2 != 0 || len > sizeof(payload) || !hex_decode_exact(hex, payload, len)) {
        fprintf(stderr,
                "sensorbroctl device downlink: HEX: expected an even number of hex digits, at "
                "most %d bytes (what fits every EU868 data rate)\n",
                REGISTRY_DOWNLINK_MAX);
        return EXIT_USAGE;
    }
    struct registry *r;
    if (open_registry(ctl->journal_path, false, &r) != 0)
        return EXIT_FAILURE;
    static struct registry_device d;
    bool found = false;
    int64_t id = 0;
    int rc = registry_get(r, eui, &d, &found);
    OPENSSL_cleanse(d.nwk_s_key, sizeof(d.nwk_s_key));
    OPENSSL_cleanse(d.app_s_key, sizeof(d.app_s_key));
    OPENSSL_cleanse(d.app_key, sizeof(d.app_key));
    if (rc == 0 && !found) {
        fprintf(stderr, "sensorbroctl device downlink: no device %s\n", eui);
        registry_close(r);
        return EXIT_FAILURE;
    }
    if (rc == 0 && d.activation == REGISTRY_NONE) {
        /* nothing sends a queued LoRaWAN downlink to such a device: refuse rather than
         * let it wait forever */
        fprintf(stderr,
                "sensorbroctl device downlink: %s has activation none (a CoAP or LNS device): "
                "downlinks go to the edge network server's ABP and OTAA devices\n",
                eui);
        registry_close(r);
        return EXIT_FAILURE;
    }
    if (rc == 0)
        rc = registry_queue_downlink(r, eui, (uint8_t)port, payload, len, confirmed, &id);
    if (rc != 0)
        fprintf(stderr, "sensorbroctl device downlink: %s\n", registry_errmsg(r));
    registry_close(r);
    if (rc != 0)
        return EXIT_FAILURE;
    printf("queued downlink %" PRId64 " for %s: %zu bytes on FPort %ld%s\n", id, eui, len, port,
           confirmed ? ", confirmed" : "");
    return EXIT_SUCCESS;
}

const struct ctl_command device_commands[] = {
    {"device add",
     "--dev-eui EUI [ABP: --dev-addr HEX8 --nwk-s-key K --app-s-key K |\n"
     "OTAA: --join-eui EUI --app-key K] [--keys-file FILE|-]\n"
     "[--name NAME] [--label KEY=VALUE]...\n[--psk-file FILE|- | --psk generate]",
     "register a device: LoRaWAN (ABP, OTAA), CoAP or LNS",
     "Register a device. With ABP or OTAA keys it is a LoRaWAN device of the edge\n"
     "network server, activated by personalisation (ABP) or over the air (OTAA).\n"
     "With no LoRaWAN keys it has activation none: a CoAP sensor or a device of\n"
     "the LNS feed, registered for its settings (device set). Devices that are\n"
     "not registered still send over CoAP and the LNS feed.\n"
     "\n"
     "  --dev-eui EUI       the device's EUI-64, 16 hex digits (required)\n"
     "  --dev-addr HEX8     ABP: the DevAddr, 8 hex digits\n"
     "  --nwk-s-key K       ABP: the NwkSKey, 32 hex digits\n"
     "  --app-s-key K       ABP: the AppSKey, 32 hex digits\n"
     "  --join-eui EUI      OTAA: the JoinEUI (AppEUI), 16 hex digits\n"
     "  --app-key K         OTAA: the AppKey, 32 hex digits\n"
     "  --keys-file FILE|-  read nwkskey/appskey/appkey = K lines from FILE (or\n"
     "                      stdin): keeps keys out of ps and the shell's history,\n"
     "                      safer than the options\n"
     "  --name NAME         a name for people and OS2iot, at most 63 bytes\n"
     "  --label KEY=VALUE   a label (repeatable), e.g. --label room=1.12: the\n"
     "                      setting label.KEY\n"
     "  --psk-file FILE|-   the CoAP DTLS pre-shared key (coap.psk, 32..64 hex\n"
     "                      digits) from the first line of FILE or stdin\n"
     "  --psk generate      a new random 16-byte key, printed once; the DTLS\n"
     "                      identity is the DevEUI\n",
     "", add_opts, cmd_add},
    {"device list", "[--json]", "list the registered devices",
     "List the registered devices: EUI, activation, DevAddr, last uplink frame\n"
     "counter, name and labels; never keys.\n"
     "\n"
     "  --json  one JSON array instead of the table, with every setting (secrets\n"
     "          masked)\n",
     "", list_opts, cmd_list},
    {"device show", "DEV-EUI", "show one device and its settings, secrets masked",
     "Show one device: activation, session, frame counters, the number of queued\n"
     "downlinks, and its settings. Keys show as their first and last byte only,\n"
     "secret settings as their length, certificates as their name and expiry.\n",
     "", NULL, cmd_show},
    {"device set",
     "DEV-EUI KEY=VALUE... [--password-file FILE|-]\n[--api-key-file FILE|-] [--psk-file "
     "FILE|- | --psk generate]",
     "set settings of a device: its OS2iot mapping, name, labels",
     "Set settings of a registered device, all or none (each value is checked;\n"
     "an error names the key and what it expects). Keys:\n"
     "  name=TEXT                  the name, also the device's name in OS2iot\n"
     "  comment=TEXT               OS2iot's comment\n"
     "  label.WORD=TEXT            a label: label.building, label.room, ...\n"
     "  location.latitude=DEG      -90..90; location.longitude=DEG: -180..180\n"
     "  location.comment=TEXT      OS2iot's comment on the location\n"
     "  os2iot.output=mqtt|http    MQTT_INTERNAL_BROKER or GENERIC_HTTP\n"
     "  os2iot.id=N                the device's id in OS2iot\n"
     "  os2iot.topic=devices/ORG/APP/ID  its MQTT topic in OS2iot\n"
     "  os2iot.cert=FILE           its client certificate (PEM; - for stdin)\n"
     "  os2iot.key=FILE            its private key (PEM, unencrypted; secret)\n"
     "  os2iot.ca=FILE             the OS2iot installation's CA certificate\n"
     "  os2iot.username=TEXT       its MQTT username (password login)\n"
     "  os2iot.password=TEXT       its MQTT password (secret)\n"
     "  os2iot.api_key=UUID        its GENERIC_HTTP API key (secret)\n"
     "  coap.psk=HEX               its CoAP DTLS key, 16..32 bytes (secret)\n"
     "The key must belong to the certificate; the certificate's expiry is kept\n"
     "(os2iot.cert_not_after). PEM files are copied into the registry (the\n"
     "daemon cannot read files outside /var/lib/sensorbro).\n"
     "\n"
     "  --password-file FILE|-  os2iot.password from the first line of FILE or\n"
     "                          stdin, out of ps and the shell's history\n"
     "  --api-key-file FILE|-   os2iot.api_key likewise\n"
     "  --psk-file FILE|-       coap.psk likewise\n"
     "  --psk generate          coap.psk: a new random key, printed once\n",
     "", set_opts, cmd_set},
    {"device unset", "DEV-EUI KEY...", "remove settings of a device",
     "Remove settings of a device (KEY as for device set); FAMILY.* removes every\n"
     "key of a family, e.g. os2iot.* the whole OS2iot mapping.\n",
     "", NULL, cmd_unset},
    {"device remove", "DEV-EUI", "remove a device, its settings and queued downlinks",
     "Remove a device from the registry, with its settings and queued downlinks.\n", "", NULL,
     cmd_remove},
    {"device downlink", "DEV-EUI HEX [--port N] [--confirmed]", "queue a downlink for a device",
     "Queue a downlink (at most 51 bytes, what fits every EU868 data rate) for an\n"
     "ABP or OTAA device; it goes out in RX1 of the device's next uplink.\n"
     "\n"
     "  --port N     the FPort, 1..223 (default 2)\n"
     "  --confirmed  ask the device to acknowledge it\n",
     "", downlink_opts, cmd_downlink},
};

const size_t device_command_count = sizeof(device_commands) / sizeof(device_commands[0]);
