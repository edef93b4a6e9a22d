/*
 * device.c - `sensorbroctl device add|list|show|remove|downlink` (device.h).
 *
 * Every value from the command line or a keys file is checked before it reaches the
 * registry, and an error names the option and what was expected, never the value of a
 * key. Keys given as options are visible to other users in ps and stay in the shell's
 * history; --keys-file (a 0600 file, or - for stdin) avoids both.
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

#include "util/clock.h"
#include "util/hex.h"
#include "util/keyfile.h"
#include "util/term.h"
#include "lorawan/registry.h"

#define LABEL_KEY_MAX   32
#define LABEL_VALUE_MAX 64

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
    char err[512];
    if (read_only) {
        /* access(), not fopen(): opening and closing the database file in a process
         * that holds a connection to it would drop that connection's locks (store/schema.c) */
        if (access(journal, R_OK) != 0) {
            fprintf(stderr,
                    "sensorbroctl device: no journal at %s (add a device, start sensorbro, or "
                    "give -j/-c)\n",
                    journal);
            return -1;
        }
    }
    if (registry_open(r, journal, read_only, 5000, err, sizeof(err)) != 0) {
        fprintf(stderr, "sensorbroctl device: %s\n", err);
        return -1;
    }
    return 0;
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

/* Adds key=value to the labels object. Keys: letters, digits, '_', '-', '.'. */
static bool add_label(cJSON *labels, const char *text)
{
    const char *eq = strchr(text, '=');
    size_t key_len = eq ? (size_t)(eq - text) : 0;
    bool ok =
        eq != NULL && key_len >= 1 && key_len <= LABEL_KEY_MAX && strlen(eq + 1) <= LABEL_VALUE_MAX;
    for (size_t i = 0; ok && i < key_len; i++)
        ok = isalnum((unsigned char)text[i]) || text[i] == '_' || text[i] == '-' || text[i] == '.';
    for (const char *p = eq ? eq + 1 : ""; ok && *p; p++)
        ok = !iscntrl((unsigned char)*p);
    if (!ok) {
        fprintf(stderr,
                "sensorbroctl device: --label: expected KEY=VALUE, KEY of 1..%d letters, digits, "
                "'_', '-' or '.', VALUE of at most %d printable characters\n",
                LABEL_KEY_MAX, LABEL_VALUE_MAX);
        return false;
    }
    char key[LABEL_KEY_MAX + 1];
    memcpy(key, text, key_len);
    key[key_len] = '\0';
    cJSON_DeleteItemFromObjectCaseSensitive(labels, key);
    cJSON_AddStringToObject(labels, key, eq + 1);
    return true;
}

static const struct option add_opts[] = {
    {"dev-eui", required_argument, NULL, 'e'},   {"dev-addr", required_argument, NULL, 'a'},
    {"nwk-s-key", required_argument, NULL, 'N'}, {"app-s-key", required_argument, NULL, 'A'},
    {"join-eui", required_argument, NULL, 'J'},  {"app-key", required_argument, NULL, 'K'},
    {"keys-file", required_argument, NULL, 'f'}, {"name", required_argument, NULL, 'n'},
    {"label", required_argument, NULL, 'l'},     {NULL, 0, NULL, 0}};

static int cmd_add(struct ctl *ctl, int argc, char **argv)
{
    static struct registry_device dev;
    memset(&dev, 0, sizeof(dev));
    struct keys keys = {0};
    bool has_eui = false, has_addr = false, has_join = false;
    const char *keys_file = NULL;
    cJSON *labels = cJSON_CreateObject();
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
        case 'n':
            if (strlen(optarg) >= sizeof(dev.name)) {
                fprintf(stderr, "sensorbroctl device: --name: at most %zu characters\n",
                        sizeof(dev.name) - 1);
                ok = false;
            }
            for (const char *p = optarg; ok && *p; p++)
                ok = !iscntrl((unsigned char)*p);
            if (ok)
                snprintf(dev.name, sizeof(dev.name), "%s", optarg);
            break;
        case 'l':
            ok = add_label(labels, optarg);
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
    if (abp == otaa) {
        fprintf(stderr,
                "sensorbroctl device add: give either ABP (--dev-addr, --nwk-s-key, "
                "--app-s-key) or OTAA (--join-eui, --app-key), not %s\n",
                abp ? "both" : "neither");
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
    dev.activation = abp ? REGISTRY_ABP : REGISTRY_OTAA;
    memcpy(dev.nwk_s_key, keys.nwk_s_key, REGISTRY_KEY_SIZE);
    memcpy(dev.app_s_key, keys.app_s_key, REGISTRY_KEY_SIZE);
    memcpy(dev.app_key, keys.app_key, REGISTRY_KEY_SIZE);
    char *text = cJSON_PrintUnformatted(labels);
    if (text == NULL || strlen(text) >= sizeof(dev.labels)) {
        fprintf(stderr, "sensorbroctl device add: the labels take more than %zu characters\n",
                sizeof(dev.labels) - 1);
        cJSON_free(text);
        goto out;
    }
    snprintf(dev.labels, sizeof(dev.labels), "%s", text);
    cJSON_free(text);

    rc = EXIT_FAILURE;
    struct registry *r;
    if (open_registry(ctl->journal_path, false, &r) != 0)
        goto out;
    bool exists;
    if (registry_add(r, &dev, &exists) != 0) {
        fprintf(stderr, "sensorbroctl device add: %s\n", registry_errmsg(r));
    } else {
        printf("added %s (%s)\n", dev.dev_eui, abp ? "ABP" : "OTAA");
        rc = EXIT_SUCCESS;
    }
    registry_close(r);
out:
    cJSON_Delete(labels);
    OPENSSL_cleanse(&keys, sizeof(keys));
    OPENSSL_cleanse(&dev, sizeof(dev));
    return rc;
}

static void print_json_device(cJSON *into, const struct registry_device *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "dev_eui", d->dev_eui);
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON *labels = cJSON_Parse(d->labels);
    cJSON_AddItemToObject(o, "labels", labels ? labels : cJSON_CreateObject());
    cJSON_AddStringToObject(o, "activation", d->activation == REGISTRY_ABP ? "abp" : "otaa");
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
    cJSON_AddItemToArray(into, o);
}

struct list_ctx {
    cJSON *array; /* --json */
    unsigned count;
};

static bool list_one(void *ctx, const struct registry_device *d)
{
    struct list_ctx *lc = ctx;
    lc->count++;
    if (lc->array) {
        print_json_device(lc->array, d);
        return true;
    }
    char addr[16] = "-", fcnt[16] = "-";
    if (d->has_session)
        snprintf(addr, sizeof(addr), "%08" PRIx32, d->dev_addr);
    if (d->has_fcnt_up)
        snprintf(fcnt, sizeof(fcnt), "%" PRIu32, d->fcnt_up);
    /* name and labels are text someone gave (an import, perhaps): shown escaped */
    char name[TERM_ESCAPED_SIZE(REGISTRY_NAME_SIZE)],
        labels[TERM_ESCAPED_SIZE(REGISTRY_LABELS_SIZE)];
    term_escape(d->name, strlen(d->name), name, sizeof(name));
    term_escape(d->labels, strlen(d->labels), labels, sizeof(labels));
    printf("%s  %-4s  %-8s  fcnt %-8s  %-20s  %s\n", d->dev_eui,
           d->activation == REGISTRY_ABP ? "abp" : "otaa", addr, fcnt, name, labels);
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
    return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
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
    if (rc != 0)
        fprintf(stderr, "sensorbroctl device show: %s\n", registry_errmsg(r));
    registry_close(r);
    if (rc != 0)
        return EXIT_FAILURE;
    if (!found) {
        fprintf(stderr, "sensorbroctl device show: no device %s\n", eui);
        return EXIT_FAILURE;
    }
    char masked[REGISTRY_MASKED_SIZE], when[CLOCK_RFC3339_SIZE];
    clock_format_rfc3339(d.created_ms, 0, when);
    printf("dev_eui      %s\n", d.dev_eui);
    fputs("name         ", stdout);
    term_puts(stdout, d.name);
    fputs("\nlabels       ", stdout);
    term_puts(stdout, d.labels);
    putchar('\n');
    printf("activation   %s\n", d.activation == REGISTRY_ABP ? "abp" : "otaa");
    printf("created      %s\n", when);
    if (d.activation == REGISTRY_OTAA) {
        printf("join_eui     %016" PRIx64 "\n", d.join_eui);
        registry_mask_key(d.app_key, masked);
        printf("app_key      %s\n", masked);
        printf("app_nonce    %" PRIu32 " (joins accepted)\n", d.app_nonce);
    }
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
    OPENSSL_cleanse(&d, sizeof(d));
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
    OPENSSL_cleanse(&d, sizeof(d));
    if (rc == 0 && !found) {
        fprintf(stderr, "sensorbroctl device downlink: no device %s\n", eui);
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
     "--dev-eui EUI (ABP: --dev-addr HEX8 --nwk-s-key K --app-s-key K |\n"
     "OTAA: --join-eui EUI --app-key K) [--keys-file FILE|-]\n"
     "[--name NAME] [--label KEY=VALUE]...",
     "register a LoRaWAN device of the edge network server",
     "Register a LoRaWAN device of the edge network server, activated by\n"
     "personalisation (ABP) or over the air (OTAA).\n"
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
     "  --name NAME         a name for people, at most 63 characters\n"
     "  --label KEY=VALUE   a label (repeatable), e.g. --label room=1.12\n",
     "", add_opts, cmd_add},
    {"device list", "[--json]", "list the registered devices",
     "List the registered devices: EUI, activation, DevAddr, last uplink frame\n"
     "counter, name and labels; never keys.\n"
     "\n"
     "  --json  one JSON array instead of the table\n",
     "", list_opts, cmd_list},
    {"device show", "DEV-EUI", "show one device, keys masked",
     "Show one device: activation, session, frame counters and the number of\n"
     "queued downlinks. Keys show as their first and last byte only.\n",
     "", NULL, cmd_show},
    {"device remove", "DEV-EUI", "remove a device and its queued downlinks",
     "Remove a device from the registry, with its queued downlinks.\n", "", NULL, cmd_remove},
    {"device downlink", "DEV-EUI HEX [--port N] [--confirmed]", "queue a downlink for a device",
     "Queue a downlink (at most 51 bytes, what fits every EU868 data rate); it\n"
     "goes out in RX1 of the device's next uplink.\n"
     "\n"
     "  --port N     the FPort, 1..223 (default 2)\n"
     "  --confirmed  ask the device to acknowledge it\n",
     "", downlink_opts, cmd_downlink},
};

const size_t device_command_count = sizeof(device_commands) / sizeof(device_commands[0]);
