/*
 * config.c - the table of configuration keys and the INI loader.
 *
 * One table row per key gives its section, name, type, storage, bounds and help text. The
 * loader, the command-line --set option, the bound checks and --print-config all work off
 * that table, so a new key is one new row. The configuration records, per row, the line that
 * set it, which is how a key given twice is caught and how a certificate file that only
 * fails when read (config_check_files, OpenSSL) is reported at the line that named it.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "util/host.h"
#include "util/log.h"
#include "util/eui_host.h"
#include "util/topic.h"

enum key_type { KEY_STRING, KEY_SECRET, KEY_BOOL, KEY_UINT, KEY_CHOICE };

struct key {
    const char *section;
    const char *name;
    enum key_type type;
    size_t offset;
    size_t size;                /* KEY_STRING / KEY_SECRET: buffer size */
    uint32_t min, max;          /* KEY_UINT */
    const char *const *choices; /* KEY_CHOICE: NULL-terminated; stored as the index */
    const char *def;            /* default, as text */
    int (*check)(const char *value, char *why, size_t why_size);
    unsigned types; /* output keys: the output types (1u << enum config_output_type) */
};

static const char *const sync_choices[] = {"full", "normal", NULL};
static const char *const protocol_choices[] = {"5", "3.1.1", NULL};
static const char *const profile_choices[] = {"json", "senml", NULL};
static const char *const full_policy_choices[] = {"drop_oldest", "reject_new", NULL};
static const char *const nosec_choices[] = {"auto", "true", "false", NULL};
/* indexed by enum config_language */
static const char *const language_choices[] = {"da", "en", NULL};
static const char *const level_choices[] = {"error", "warn", "info", "debug", NULL};
static const char *const output_type_choices[] = {"mqtt", "os2iot-http", NULL};

/* A LoRaWAN NetID: 24 bits as 1..6 hex digits. */
static int check_net_id(const char *value, char *why, size_t why_size)
{
    size_t len = strlen(value);
    if (len == 0 || len > 6 || strspn(value, "0123456789abcdefABCDEF") != len) {
        snprintf(why, why_size, "expected a NetID of 1 to 6 hex digits, e.g. 000000, got \"%s\"",
                 value);
        return -1;
    }
    return 0;
}

/* semtech_udp.forwarders: "EUI@host, ..." (util/eui_host.h). */
static int check_forwarders(const char *value, char *why, size_t why_size)
{
    struct eui_host pins[64]; /* SEMTECH_UDP_MAX_FORWARDERS (ingest/forwarder_table.h) */
    return eui_host_parse_list(value, pins, sizeof(pins) / sizeof(pins[0]), why, why_size) < 0 ? -1
                                                                                               : 0;
}

/* Topic ids go into MQTT topics: no wildcards, no level separators, no spaces. */
static int check_topic_word(const char *value, char *why, size_t why_size)
{
    if (value[0] == '\0') {
        snprintf(why, why_size, "expected a non-empty id of letters, digits, '-', '_' or '.'");
        return -1;
    }
    size_t len = strlen(value), span = topic_word_span(value, len);
    if (span != len) {
        snprintf(why, why_size, "expected letters, digits, '-', '_' or '.' only, found '%c'",
                 value[span]);
        return -1;
    }
    return 0;
}

/* A host name or address as Paho takes it in a URI: no spaces, slashes or empty value. */
static int check_host(const char *value, char *why, size_t why_size)
{
    if (value[0] == '\0' || strpbrk(value, " \t/?#@") != NULL) {
        snprintf(why, why_size, "expected a host name or IP address, got \"%s\"", value);
        return -1;
    }
    return 0;
}

/* A user name as /etc/passwd holds it: no separators, no spaces. */
static int check_user_name(const char *value, char *why, size_t why_size)
{
    if (value[0] == '\0' || value[0] == '-' || strpbrk(value, " \t:/,") != NULL) {
        snprintf(why, why_size, "expected a user name, e.g. sensorbro, got \"%s\"", value);
        return -1;
    }
    return 0;
}

static int check_topic_template(const char *value, char *why, size_t why_size)
{
    static const char *const placeholders[] = {"gateway", "device", NULL};
    return topic_template_check(value, placeholders, why, why_size);
}

/* The status topic may be empty: no online/offline messages and no will (a broker whose ACL
 * lets the gateway write its data topics only). */
static int check_status_topic(const char *value, char *why, size_t why_size)
{
    return value[0] == '\0' ? 0 : check_topic_template(value, why, why_size);
}

static int check_data_topic(const char *value, char *why, size_t why_size)
{
    if (check_topic_template(value, why, why_size) != 0)
        return -1;
    if (strstr(value, "{device}") == NULL) {
        snprintf(why, why_size, "expected a topic containing {device} (one topic per device)");
        return -1;
    }
    return 0;
}

/* A subscription filter: wildcards allowed, but the $share prefix is built from
 * lns_mqtt.shared_group, and nothing may be empty. */
static int check_topic_filter(const char *value, char *why, size_t why_size)
{
    if (value[0] == '\0' || strpbrk(value, " \t") != NULL || value[0] == '$') {
        snprintf(why, why_size,
                 "expected a topic filter such as application/+/device/+/event/up "
                 "(no spaces; set lns_mqtt.shared_group instead of $share/...)");
        return -1;
    }
    return topic_filter_check(value, why, why_size);
}

static int check_share_group(const char *value, char *why, size_t why_size)
{
    return value[0] == '\0' ? 0 : check_topic_word(value, why, why_size);
}

static int check_downlink_topic(const char *value, char *why, size_t why_size)
{
    static const char *const placeholders[] = {"application", "device", NULL};
    if (topic_template_check(value, placeholders, why, why_size) != 0)
        return -1;
    if (strstr(value, "{device}") == NULL) {
        snprintf(why, why_size, "expected a topic containing {device}");
        return -1;
    }
    return 0;
}

/* A key of [sec] named field, stored at path in struct config. */
#define FIELD_SIZE(path) sizeof(((struct config *)0)->path)
#define STR_AT(sec, field, path, def, check)                                                       \
    {                                                                                              \
#sec, #field, KEY_STRING, offsetof(struct config, path), FIELD_SIZE(path), 0, 0, NULL,     \
            def, check, 0                                                                          \
    }
#define SECRET_AT(sec, field, path)                                                                \
    {                                                                                              \
#sec, #field, KEY_SECRET, offsetof(struct config, path), FIELD_SIZE(path), 0, 0, NULL, "", \
            NULL, 0                                                                                \
    }
#define BOOL_AT(sec, field, path, def)                                                             \
    {                                                                                              \
#sec, #field, KEY_BOOL, offsetof(struct config, path), 0, 0, 0, NULL, def, NULL, 0         \
    }
#define UINT_AT(sec, field, path, lo, hi, def)                                                     \
    {                                                                                              \
#sec, #field, KEY_UINT, offsetof(struct config, path), 0, lo, hi, NULL, def, NULL, 0       \
    }
#define CHOICE_AT(sec, field, path, choices, def)                                                  \
    {                                                                                              \
#sec, #field, KEY_CHOICE, offsetof(struct config, path), 0, 0, 0, choices, def, NULL, 0    \
    }

/* Most keys are stored at sec.field ... */
#define STR(sec, field, def, check)      STR_AT(sec, field, sec.field, def, check)
#define SECRET(sec, field)               SECRET_AT(sec, field, sec.field)
#define BOOL(sec, field, def)            BOOL_AT(sec, field, sec.field, def)
#define UINT(sec, field, lo, hi, def)    UINT_AT(sec, field, sec.field, lo, hi, def)
#define CHOICE(sec, field, choices, def) CHOICE_AT(sec, field, sec.field, choices, def)
/* ... and the broker keys of [mqtt] and [lns_mqtt] in their struct config_broker. */
#define BROKER_STR(sec, field, def, check)   STR_AT(sec, field, sec.broker.field, def, check)
#define BROKER_SECRET(sec, field)            SECRET_AT(sec, field, sec.broker.field)
#define BROKER_BOOL(sec, field, def)         BOOL_AT(sec, field, sec.broker.field, def)
#define BROKER_UINT(sec, field, lo, hi, def) UINT_AT(sec, field, sec.broker.field, lo, hi, def)
#define BROKER_CHOICE(sec, field, choices, def)                                                    \
    CHOICE_AT(sec, field, sec.broker.field, choices, def)

/* The gateway id and MQTT client id default to values derived at config_finish. */
static const struct key keys[] = {
    STR(gateway, id, "", check_topic_word),
    BOOL(coap, enabled, "true"),
    STR(coap, bind, "0.0.0.0", NULL),
    UINT(coap, port, 1, 65535, "5683"),
    UINT(coap, max_payload_bytes, 1, 1024, "512"),
    UINT(coap, receive_buffer_kb, 64, 65536, "4096"),
    CHOICE(coap, nosec, nosec_choices, "auto"),
    STR(coap, dtls_bind, "0.0.0.0", NULL),
    UINT(coap, dtls_port, 0, 65535, "5684"),
    BOOL(coap, accept_unregistered, "false"),
    UINT(coap, max_sessions, 1, 100000, "256"),
    UINT(coap, session_idle_s, 1, 3600, "60"),
    UINT(coap, max_handshakes, 1, 10000, "32"),
    BOOL(semtech_udp, enabled, "true"),
    STR(semtech_udp, bind, "127.0.0.1", NULL),
    UINT(semtech_udp, port, 1, 65535, "1700"),
    UINT(semtech_udp, dedup_window_ms, 0, 2000, "200"),
    STR(semtech_udp, net_id, "000000", check_net_id),
    UINT(semtech_udp, forwarder_timeout_s, 30, 86400, "120"),
    BOOL(semtech_udp, pin_forwarders, "true"),
    STR(semtech_udp, forwarders, "", check_forwarders),
    UINT(semtech_udp, rate_limit_per_s, 0, 1000000, "200"),
    UINT(semtech_udp, rate_burst, 1, 1000000, "400"),
    UINT(semtech_udp, retransmission_window_s, 1, 3600, "60"),
    UINT(semtech_udp, receive_buffer_kb, 64, 65536, "4096"),
    STR(journal, path, "sensorbro.db", NULL),
    CHOICE(journal, synchronous, sync_choices, "full"),
    UINT(journal, batch_max_rows, 1, 100000, "256"),
    UINT(journal, batch_max_ms, 0, 1000, "2"),
    UINT(journal, queue_frames, 1, 1000000, "4096"),
    UINT(journal, retention_h, 0, 87600, "168"),
    UINT(journal, max_mb, 0, 4194304, "1024"),
    UINT(journal, min_free_mb, 0, 1048576, "64"),
    CHOICE(journal, full_policy, full_policy_choices, "drop_oldest"),
    UINT(journal, resend_window_s, 0, 31622400, "3600"),
    BROKER_STR(mqtt, host, "localhost", check_host),
    BROKER_UINT(mqtt, port, 1, 65535, "1883"),
    BROKER_CHOICE(mqtt, protocol, protocol_choices, "5"),
    BROKER_STR(mqtt, client_id, "", NULL),
    BROKER_STR(mqtt, username, "", NULL),
    BROKER_SECRET(mqtt, password),
    BROKER_BOOL(mqtt, tls, "false"), /* unset: config_finish decides from the host */
    BROKER_BOOL(mqtt, allow_insecure, "false"),
    BROKER_STR(mqtt, ca_file, "", NULL),
    BROKER_STR(mqtt, cert_file, "", NULL),
    BROKER_STR(mqtt, key_file, "", NULL),
    STR(mqtt, topic, "sensorbro/{gateway}/{device}/up", check_data_topic),
    STR(mqtt, status_topic, "sensorbro/{gateway}/status", check_status_topic),
    BROKER_UINT(mqtt, keepalive_s, 5, 3600, "30"),
    BROKER_UINT(mqtt, connect_timeout_s, 1, 300, "10"),
    UINT(mqtt, max_inflight, 1, 65535, "32"),
    BROKER_UINT(mqtt, reconnect_min_ms, 10, 3600000, "1000"),
    BROKER_UINT(mqtt, reconnect_max_ms, 10, 3600000, "60000"),
    UINT(mqtt, max_rate, 0, 1000000, "0"),
    BOOL(lns_mqtt, enabled, "false"),
    BROKER_STR(lns_mqtt, host, "localhost", check_host),
    BROKER_UINT(lns_mqtt, port, 1, 65535, "1883"),
    BROKER_CHOICE(lns_mqtt, protocol, protocol_choices, "5"),
    BROKER_STR(lns_mqtt, client_id, "", NULL),
    BROKER_STR(lns_mqtt, username, "", NULL),
    BROKER_SECRET(lns_mqtt, password),
    BROKER_BOOL(lns_mqtt, tls, "false"),
    BROKER_BOOL(lns_mqtt, allow_insecure, "false"),
    BROKER_STR(lns_mqtt, ca_file, "", NULL),
    STR(lns_mqtt, topic, "application/+/device/+/event/up", check_topic_filter),
    STR(lns_mqtt, shared_group, "", check_share_group),
    STR(lns_mqtt, downlink_topic, "application/{application}/device/{device}/command/down",
        check_downlink_topic),
    UINT(lns_mqtt, session_expiry_s, 0, 4294967295u, "86400"),
    BROKER_UINT(lns_mqtt, keepalive_s, 5, 3600, "30"),
    UINT(lns_mqtt, dedup_window, 1, 1000000, "4096"),
    UINT(lns_mqtt, max_event_age_s, 0, 31622400, "604800"),
    UINT(lns_mqtt, max_event_ahead_s, 0, 86400, "300"),
    CHOICE(render, profile, profile_choices, "json"),
    CHOICE(log, level, level_choices, "info"),
    STR(service, run_as_user, "sensorbro", check_user_name),
    BOOL(http, enabled, "true"),
    STR(http, bind, "127.0.0.1", NULL),
    UINT(http, port, 1, 65535, "9646"),
    STR(http, user, "", NULL),
    STR(http, password_file, "", NULL),
    CHOICE(http, language, language_choices, "da"),
};

/* The keys of an [output NAME] section, stored in its struct config_output; each applies to
 * the output types in its mask. A name may appear once per type (ca_file). */
#define OUT_MQTT          (1u << CONFIG_OUTPUT_MQTT)
#define OUT_HTTP          (1u << CONFIG_OUTPUT_OS2IOT_HTTP)
#define OFIELD_SIZE(path) sizeof(((struct config_output *)0)->path)
#define O_STR(types, field, path, def, check)                                                      \
    {                                                                                              \
        "output", #field, KEY_STRING, offsetof(struct config_output, path), OFIELD_SIZE(path), 0,  \
            0, NULL, def, check, types                                                             \
    }
#define O_SECRET(types, field, path)                                                               \
    {                                                                                              \
        "output", #field, KEY_SECRET, offsetof(struct config_output, path), OFIELD_SIZE(path), 0,  \
            0, NULL, "", NULL, types                                                               \
    }
#define O_BOOL(types, field, path, def)                                                            \
    {                                                                                              \
        "output", #field, KEY_BOOL, offsetof(struct config_output, path), 0, 0, 0, NULL, def,      \
            NULL, types                                                                            \
    }
#define O_UINT(types, field, path, lo, hi, def)                                                    \
    {                                                                                              \
        "output", #field, KEY_UINT, offsetof(struct config_output, path), 0, lo, hi, NULL, def,    \
            NULL, types                                                                            \
    }
#define O_CHOICE(types, field, path, choices, def)                                                 \
    {                                                                                              \
        "output", #field, KEY_CHOICE, offsetof(struct config_output, path), 0, 0, 0, choices, def, \
            NULL, types                                                                            \
    }

static const struct key output_keys[] = {
    O_CHOICE(OUT_MQTT | OUT_HTTP, type, type, output_type_choices, "mqtt"),
    O_STR(OUT_MQTT, host, mqtt.broker.host, "localhost", check_host),
    O_UINT(OUT_MQTT, port, mqtt.broker.port, 1, 65535, "1883"),
    O_CHOICE(OUT_MQTT, protocol, mqtt.broker.protocol, protocol_choices, "5"),
    O_STR(OUT_MQTT, client_id, mqtt.broker.client_id, "", NULL),
    O_STR(OUT_MQTT, username, mqtt.broker.username, "", NULL),
    O_SECRET(OUT_MQTT, password, mqtt.broker.password),
    O_BOOL(OUT_MQTT, tls, mqtt.broker.tls, "false"), /* unset: decided from the host */
    O_BOOL(OUT_MQTT, allow_insecure, mqtt.broker.allow_insecure, "false"),
    O_STR(OUT_MQTT, ca_file, mqtt.broker.ca_file, "", NULL),
    O_STR(OUT_MQTT, cert_file, mqtt.broker.cert_file, "", NULL),
    O_STR(OUT_MQTT, key_file, mqtt.broker.key_file, "", NULL),
    O_STR(OUT_MQTT, topic, mqtt.topic, "sensorbro/{gateway}/{device}/up", check_data_topic),
    /* "" by default: [mqtt] has the gateway's status topic; two writers would fight */
    O_STR(OUT_MQTT, status_topic, mqtt.status_topic, "", check_status_topic),
    O_UINT(OUT_MQTT, keepalive_s, mqtt.broker.keepalive_s, 5, 3600, "30"),
    O_UINT(OUT_MQTT, connect_timeout_s, mqtt.broker.connect_timeout_s, 1, 300, "10"),
    O_UINT(OUT_MQTT, max_inflight, mqtt.max_inflight, 1, 65535, "32"),
    O_UINT(OUT_MQTT, reconnect_min_ms, mqtt.broker.reconnect_min_ms, 10, 3600000, "1000"),
    O_UINT(OUT_MQTT, reconnect_max_ms, mqtt.broker.reconnect_max_ms, 10, 3600000, "60000"),
    O_UINT(OUT_MQTT, max_rate, mqtt.max_rate, 0, 1000000, "0"),
    O_CHOICE(OUT_MQTT, profile, mqtt.profile, profile_choices, "json"),
    O_STR(OUT_HTTP, url, http.url, "", NULL),
    O_STR(OUT_HTTP, ca_file, http.ca_file, "", NULL),
    O_BOOL(OUT_HTTP, allow_insecure, http.allow_insecure, "false"),
    O_UINT(OUT_HTTP, connect_timeout_ms, http.connect_timeout_ms, 100, 300000, "5000"),
    O_UINT(OUT_HTTP, timeout_ms, http.timeout_ms, 100, 600000, "10000"),
    O_UINT(OUT_HTTP, retry_min_ms, http.retry_min_ms, 10, 3600000, "1000"),
    O_UINT(OUT_HTTP, retry_max_ms, http.retry_max_ms, 10, 3600000, "60000"),
    O_UINT(OUT_HTTP, refused_retry_s, http.refused_retry_s, 1, 86400, "300"),
};

#define N_OUTPUT_KEYS (sizeof(output_keys) / sizeof(output_keys[0]))
_Static_assert(N_OUTPUT_KEYS <= CONFIG_OUTPUT_MAX_KEYS, "raise CONFIG_OUTPUT_MAX_KEYS");

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(N_KEYS <= CONFIG_MAX_KEYS, "raise CONFIG_MAX_KEYS: struct config records an "
                                          "origin per key");

static const struct key *find_key(const char *section, const char *name, bool *section_known)
{
    *section_known = false;
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        *section_known = true;
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    }
    return NULL;
}

static void list_keys_of(const char *section, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_KEYS && used < out_size; i++) {
        if (strcmp(keys[i].section, section) == 0)
            used += (size_t)snprintf(out + used, out_size - used, "%s%s", used ? ", " : "",
                                     keys[i].name);
    }
}

static void list_sections(char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_KEYS && used < out_size; i++) {
        if (i == 0 || strcmp(keys[i].section, keys[i - 1].section) != 0)
            used += (size_t)snprintf(out + used, out_size - used, "%s%s", used ? ", " : "",
                                     keys[i].section);
    }
}

/* The longest line read_line takes: inih's buffer holds the line, its newline and a NUL. */
#define CONFIG_LINE_MAX (INI_MAX_LINE - 2)

/* Whether text reads back the same written as "key = text" in the file: inih strips the
 * spaces at either end of a value and takes a ';' after a space as the start of a comment
 * (and "key = ;x" has one), and a control character would break or hide the line. A value
 * from --set is held to the same, so that --print-config prints a file that loads as what
 * runs (found by tests/fuzz/fuzz_config: "host=;tls" printed as "host = ;tls", host ""). */
static bool file_expressible(const char *text)
{
    size_t len = strlen(text);
    if (len > 0 && (text[0] == ' ' || text[0] == '\t' || text[0] == ';' || text[len - 1] == ' ' ||
                    text[len - 1] == '\t'))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
        if (c == ';' && i > 0 && (text[i - 1] == ' ' || text[i - 1] == '\t'))
            return false;
    }
    return true;
}

/* Stores text into the key's field. Returns 0, or -1 with what was expected in why. */
static int set_value(void *base, const struct key *k, const char *text, char *why, size_t why_size)
{
    char *field = (char *)base + k->offset;
    switch (k->type) {
    case KEY_STRING:
    case KEY_SECRET: {
        /* At most what the field holds, and what a line of the file can hold as
         * "key = value": a value taken from --set must print (--print-config) as a file
         * that loads again (found by tests/fuzz/fuzz_config: a 230-character topic). */
        size_t max = k->size - 1, line_room = CONFIG_LINE_MAX - strlen(k->name) - 3;
        if (line_room < max)
            max = line_room;
        if (strlen(text) > max) {
            snprintf(why, why_size, "expected at most %zu characters", max);
            return -1;
        }
        if (k->type == KEY_STRING && !file_expressible(text)) {
            snprintf(why, why_size,
                     "expected no control character, no space at either end and no ';' first "
                     "or after a space (the file reads it as a comment)");
            return -1;
        }
        if (k->check && k->check(text, why, why_size) != 0)
            return -1;
        memcpy(field, text, strlen(text) + 1);
        return 0;
    }
    case KEY_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "yes") == 0 || strcmp(text, "on") == 0 ||
            strcmp(text, "1") == 0) {
            *(bool *)field = true;
            return 0;
        }
        if (strcmp(text, "false") == 0 || strcmp(text, "no") == 0 || strcmp(text, "off") == 0 ||
            strcmp(text, "0") == 0) {
            *(bool *)field = false;
            return 0;
        }
        snprintf(why, why_size, "expected true or false, got \"%s\"", text);
        return -1;
    case KEY_UINT: {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (!isdigit((unsigned char)text[0]) || *end != '\0' || errno != 0 || v < k->min ||
            v > k->max) {
            snprintf(why, why_size,
                     "expected a whole number from %" PRIu32 " to %" PRIu32 ", got \"%s\"", k->min,
                     k->max, text);
            return -1;
        }
        *(uint32_t *)field = (uint32_t)v;
        return 0;
    }
    case KEY_CHOICE:
        for (uint32_t i = 0; k->choices[i]; i++) {
            if (strcmp(text, k->choices[i]) == 0) {
                *(uint32_t *)field = i;
                return 0;
            }
        }
        size_t used = (size_t)snprintf(why, why_size, "expected one of");
        for (uint32_t i = 0; k->choices[i] && used < why_size; i++)
            used +=
                (size_t)snprintf(why + used, why_size - used, "%s %s", i ? "," : "", k->choices[i]);
        if (used < why_size)
            snprintf(why + used, why_size - used, ", got \"%s\"", text);
        return -1;
    }
    return -1;
}

/* The row of an output key for type, and whether the name is a key of any type. */
static const struct key *find_output_key(const char *name, uint32_t type, bool *other_type)
{
    *other_type = false;
    for (size_t i = 0; i < N_OUTPUT_KEYS; i++) {
        if (strcmp(output_keys[i].name, name) != 0)
            continue;
        if (output_keys[i].types & (1u << type))
            return &output_keys[i];
        *other_type = true;
    }
    return NULL;
}

static void list_output_keys(uint32_t type, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_OUTPUT_KEYS && used < out_size; i++)
        if (output_keys[i].types & (1u << type))
            used += (size_t)snprintf(out + used, out_size - used, "%s%s", used ? ", " : "",
                                     output_keys[i].name);
}

/* One key of an [output NAME] section. Its first key must be type: it says which keys
 * follow and gives them their defaults. */
static int apply_output(struct config *cfg, const char *section, const char *key, const char *value,
                        int line, char *err, size_t err_size)
{
    const char *name = section[6] == ' ' ? section + 7 : "";
    char why[256];
    if (line < 0) {
        snprintf(err, err_size, "[%s]: --set does not reach [output NAME] sections; edit the file",
                 section);
        return -1;
    }
    if (name[0] == '\0' || strlen(name) >= sizeof(cfg->outputs[0].name) ||
        check_topic_word(name, why, sizeof(why)) != 0) {
        snprintf(err, err_size,
                 "[%s]: expected [output NAME] with NAME 1 to %zu letters, digits, '.', '_' or "
                 "'-'",
                 section, sizeof(cfg->outputs[0].name) - 1);
        return -1;
    }
    if (strcmp(name, "mqtt") == 0) {
        snprintf(err, err_size, "[output mqtt]: the name mqtt is the [mqtt] section's output");
        return -1;
    }
    struct config_output *o = NULL;
    for (unsigned i = 0; i < cfg->n_outputs; i++)
        if (strcmp(cfg->outputs[i].name, name) == 0)
            o = &cfg->outputs[i];
    if (o == NULL) {
        if (strcmp(key, "type") != 0) {
            snprintf(err, err_size,
                     "output %s.%s: the first key of [output %s] must be type (mqtt or "
                     "os2iot-http)",
                     name, key, name);
            return -1;
        }
        if (cfg->n_outputs >= CONFIG_MAX_OUTPUTS) {
            snprintf(err, err_size, "[output %s]: at most %d [output NAME] sections", name,
                     CONFIG_MAX_OUTPUTS);
            return -1;
        }
        struct config_output fresh;
        memset(&fresh, 0, sizeof(fresh));
        if (set_value(&fresh, &output_keys[0], value, why, sizeof(why)) != 0) {
            snprintf(err, err_size, "output %s.type: %s", name, why);
            return -1;
        }
        for (size_t i = 1; i < N_OUTPUT_KEYS; i++) {
            const struct key *k = &output_keys[i];
            if (!(k->types & (1u << fresh.type)) || k->def[0] == '\0')
                continue;
            if (set_value(&fresh, k, k->def, why, sizeof(why)) != 0)
                abort(); /* a bad default is a bug, caught by the unit tests */
        }
        snprintf(fresh.name, sizeof(fresh.name), "%s", name);
        fresh.line = line;
        fresh.origin[0] = line;
        o = &cfg->outputs[cfg->n_outputs++];
        *o = fresh;
        return 0;
    }
    bool other_type;
    const struct key *k = find_output_key(key, o->type, &other_type);
    char known[512];
    if (k == NULL) {
        list_output_keys(o->type, known, sizeof(known));
        snprintf(err, err_size, "output %s.%s: %s (known for type %s: %s)", name, key,
                 other_type ? "not a key of this type" : "unknown key",
                 output_type_choices[o->type], known);
        return -1;
    }
    int *origin = &o->origin[k - output_keys];
    if (*origin > 0) {
        snprintf(err, err_size, "output %s.%s given again (first at line %d)", name, key, *origin);
        return -1;
    }
    if (set_value(o, k, value, why, sizeof(why)) != 0) {
        snprintf(err, err_size, "output %s.%s: %s", name, key, why);
        return -1;
    }
    *origin = line;
    return 0;
}

/* Applies one key from line (of the loaded file; -1 for --set) and records that line. On
 * error writes "<section>.<key>: why" (or an unknown-key message). */
static int apply(struct config *cfg, const char *section, const char *name, const char *value,
                 int line, char *err, size_t err_size)
{
    bool section_known;
    const struct key *k = find_key(section, name, &section_known);
    char known[512];
    if (section[0] == '\0') {
        snprintf(err, err_size, "%s: key outside any [section]", name);
        return -1;
    }
    if (strncmp(section, "output ", 7) == 0 || strcmp(section, "output") == 0)
        return apply_output(cfg, section, name, value, line, err, err_size);
    if (!section_known) {
        list_sections(known, sizeof(known));
        snprintf(err, err_size, "[%s]: unknown section (known: %s)", section, known);
        return -1;
    }
    if (k == NULL) {
        list_keys_of(section, known, sizeof(known));
        snprintf(err, err_size, "%s.%s: unknown key (known in [%s]: %s)", section, name, section,
                 known);
        return -1;
    }
    /* Taking the last of two values silently hides a mistake (two [mqtt] sections with a
     * port each, an edit appended below the original): refuse it. A --set over the file's
     * value is not a duplicate: overriding the file is what --set is for. */
    int *origin = &cfg->origin.line[k - keys];
    if (line > 0 && *origin > 0) {
        snprintf(err, err_size, "%s.%s given again (first at line %d)", section, name, *origin);
        return -1;
    }
    if (line < 0 && *origin < 0) {
        snprintf(err, err_size, "%s.%s given twice with --set", section, name);
        return -1;
    }
    char why[256];
    if (set_value(cfg, k, value, why, sizeof(why)) != 0) {
        snprintf(err, err_size, "%s.%s: %s", section, name, why);
        return -1;
    }
    *origin = line;
    return 0;
}

void config_set_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    char why[256];
    for (size_t i = 0; i < N_KEYS; i++) {
        /* defaults are part of the program: a bad one is a bug, caught by the unit tests */
        if (keys[i].def[0] != '\0' || keys[i].type == KEY_STRING || keys[i].type == KEY_SECRET) {
            if (keys[i].def[0] == '\0')
                continue; /* empty string: memset did it (check functions refuse "") */
            if (set_value(cfg, &keys[i], keys[i].def, why, sizeof(why)) != 0)
                abort();
        }
    }
}

/* libinih does not pass line numbers to the handler and keeps parsing after a syntax
 * error, so the reader below counts lines itself; the first error, by line, is reported. */
struct ini_context {
    struct config *cfg;
    FILE *file;
    int line;       /* line most recently handed to inih */
    int error_line; /* line of the first error found by us, 0 when none */
    char message[CONFIG_ERROR_SIZE];
    char longer[8192]; /* one whole line, to tell an over-long line from a short one */
};

static char *read_line(char *str, int num, void *stream)
{
    struct ini_context *ctx = stream;
    if (fgets(ctx->longer, sizeof(ctx->longer), ctx->file) == NULL)
        return NULL;
    ctx->line++;
    size_t len = strlen(ctx->longer);
    bool whole = len > 0 && ctx->longer[len - 1] == '\n';
    if ((!whole && !feof(ctx->file)) || len >= (size_t)num) {
        if (ctx->error_line == 0) {
            ctx->error_line = ctx->line;
            snprintf(ctx->message, sizeof(ctx->message), "line longer than %d characters", num - 2);
        }
        /* skip the rest of it and give inih an empty line in its place */
        while (!whole && fgets(ctx->longer, sizeof(ctx->longer), ctx->file) != NULL) {
            len = strlen(ctx->longer);
            whole = len > 0 && ctx->longer[len - 1] == '\n';
        }
        ctx->longer[0] = '\0';
    }
    snprintf(str, (size_t)num, "%s", ctx->longer);
    return str;
}

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    struct ini_context *ctx = user;
    char err[CONFIG_ERROR_SIZE - 32];
    if (ctx->error_line != 0)
        return 1; /* only the first error is reported */
    if (ctx->longer[0] == ' ' || ctx->longer[0] == '\t') {
        /* inih reads an indented line after a key as more of that key's value: an indented
         * "port = 1884" under "host = a" would silently make the host "port = 1884" */
        ctx->error_line = ctx->line;
        snprintf(ctx->message, sizeof(ctx->message),
                 "indented line (%s.%s): start each \"key = value\" at the beginning of its "
                 "line; an indented line continues the value of the key above it",
                 section, name);
        return 0;
    }
    if (apply(ctx->cfg, section, name, value, ctx->line, err, sizeof(err)) != 0) {
        ctx->error_line = ctx->line;
        snprintf(ctx->message, sizeof(ctx->message), "%s", err);
        return 0;
    }
    return 1;
}

int config_load_file(struct config *cfg, const char *path, char err[CONFIG_ERROR_SIZE])
{
    if (cfg->origin.file[0] != '\0') {
        /* the origin lines would mix two files */
        snprintf(err, CONFIG_ERROR_SIZE, "%.200s: one configuration file only (%.200s is loaded)",
                 path, cfg->origin.file);
        return -1;
    }
    if (strlen(path) >= sizeof(cfg->origin.file)) {
        snprintf(err, CONFIG_ERROR_SIZE, "configuration file path longer than %zu characters",
                 sizeof(cfg->origin.file) - 1);
        return -1;
    }
    snprintf(cfg->origin.file, sizeof(cfg->origin.file), "%s", path);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, CONFIG_ERROR_SIZE, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    static struct ini_context ctx; /* 8 KiB line buffer: not on the stack */
    memset(&ctx, 0, sizeof(ctx));
    ctx.cfg = cfg;
    ctx.file = f;
    int first_error = ini_parse_stream(read_line, &ctx, on_ini_entry, &ctx);
    fclose(f);
    if (first_error < 0) {
        snprintf(err, CONFIG_ERROR_SIZE, "%s: cannot read (out of memory)", path);
        return -1;
    }
    if (first_error == 0 && ctx.error_line == 0)
        return 0;
    if (ctx.error_line != 0 && (first_error == 0 || ctx.error_line <= first_error)) {
        snprintf(err, CONFIG_ERROR_SIZE, "%s:%d: %.400s", path, ctx.error_line, ctx.message);
        return -1;
    }
    snprintf(err, CONFIG_ERROR_SIZE, "%s:%d: expected \"[section]\", \"key = value\" or a comment",
             path, first_error);
    return -1;
}

int config_apply_option(struct config *cfg, const char *assignment, char err[CONFIG_ERROR_SIZE])
{
    const char *dot = strchr(assignment, '.');
    const char *eq = strchr(assignment, '=');
    if (dot == NULL || eq == NULL || dot > eq || dot == assignment) {
        snprintf(err, CONFIG_ERROR_SIZE,
                 "--set %s: expected section.key=value, e.g. mqtt.port=1883", assignment);
        return -1;
    }
    char section[64], name[64];
    size_t section_len = (size_t)(dot - assignment), name_len = (size_t)(eq - dot - 1);
    if (section_len >= sizeof(section) || name_len >= sizeof(name)) {
        snprintf(err, CONFIG_ERROR_SIZE, "--set: section or key name too long");
        return -1;
    }
    memcpy(section, assignment, section_len);
    section[section_len] = '\0';
    memcpy(name, dot + 1, name_len);
    name[name_len] = '\0';
    char message[CONFIG_ERROR_SIZE - 16]; /* room for the "command line: " prefix */
    if (apply(cfg, section, name, eq + 1, -1, message, sizeof(message)) != 0) {
        snprintf(err, CONFIG_ERROR_SIZE, "command line: %s", message);
        return -1;
    }
    return 0;
}

/* Makes a host name usable as a gateway id: anything outside [A-Za-z0-9._-] becomes '-'. */
static void gateway_id_from_hostname(char *out, size_t out_size)
{
    char host[256];
    if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "gateway");
    host[sizeof(host) - 1] = '\0';
    size_t n = 0;
    for (const char *p = host; *p && n + 1 < out_size; p++)
        out[n++] = topic_is_word_char(*p) ? *p : '-';
    out[n] = '\0';
}

/* The checks every broker block gets. with_client_cert: the section has the cert_file and
 * key_file keys ([mqtt]; [lns_mqtt] has neither). */
static int check_broker(const struct config_broker *b, const char *section, bool with_client_cert,
                        char err[CONFIG_ERROR_SIZE])
{
    if (b->reconnect_min_ms > b->reconnect_max_ms) {
        snprintf(err, CONFIG_ERROR_SIZE,
                 "%s.reconnect_min_ms (%" PRIu32 ") must not exceed %s.reconnect_max_ms (%" PRIu32
                 ")",
                 section, b->reconnect_min_ms, section, b->reconnect_max_ms);
        return -1;
    }
    if ((b->cert_file[0] != '\0') != (b->key_file[0] != '\0')) {
        snprintf(err, CONFIG_ERROR_SIZE, "%s.cert_file and %s.key_file go together: set both",
                 section, section);
        return -1;
    }
    if (!b->tls && (b->ca_file[0] || b->cert_file[0])) {
        if (with_client_cert)
            snprintf(err, CONFIG_ERROR_SIZE,
                     "%s.ca_file / %s.cert_file are set but %s.tls is false", section, section,
                     section);
        else
            snprintf(err, CONFIG_ERROR_SIZE, "%s.ca_file is set but %s.tls is false", section,
                     section);
        return -1;
    }
    if (b->password[0] != '\0' && b->username[0] == '\0') {
        snprintf(err, CONFIG_ERROR_SIZE, "%s.password is set but %s.username is empty", section,
                 section);
        return -1;
    }
    return 0;
}

static void describe_origin(const struct config *cfg, const char *section, const char *name,
                            char *out, size_t out_size);

/* The line that set section.name: 0 for the default, -1 for --set. */
static int origin_line(const struct config *cfg, const char *section, const char *name)
{
    bool known;
    const struct key *k = find_key(section, name, &known);
    return k ? cfg->origin.line[k - keys] : 0;
}

/* TLS unless told otherwise for a host that is not loopback; and never a password in
 * clear to such a host without allow_insecure. Sets *located when err names the line. */
static int secure_broker(const struct config *cfg, struct config_broker *b, const char *section,
                         char err[CONFIG_ERROR_SIZE], bool *located)
{
    bool loopback = host_is_loopback(b->host);
    if (origin_line(cfg, section, "tls") == 0)
        b->tls = !loopback;
    if (b->tls || loopback || b->password[0] == '\0' || b->allow_insecure)
        return 0;
    char where[240];
    describe_origin(cfg, section, "tls", where, sizeof(where));
    snprintf(err, CONFIG_ERROR_SIZE,
             "%s: false sends %s.password in clear to %.100s (not loopback): keep TLS on (the "
             "default for this host), or set %s.allow_insecure = true",
             where, section, b->host, section);
    *located = true;
    return -1;
}

/* "<file>:<line>: output NAME.key" for a key of an output (its type line for a default). */
static void output_where(const struct config *cfg, const struct config_output *o, const char *key,
                         char *out, size_t out_size)
{
    int line = o->line;
    for (size_t i = 0; i < N_OUTPUT_KEYS; i++)
        if (strcmp(output_keys[i].name, key) == 0 && (output_keys[i].types & (1u << o->type)) &&
            o->origin[i] > 0)
            line = o->origin[i];
    snprintf(out, out_size, "%.150s:%d: output %.40s.%.24s", cfg->origin.file, line, o->name, key);
}

/* The host of an http:// or https:// URL into host (""); returns the scheme's length or 0. */
static size_t url_host(const char *url, char *host, size_t host_size)
{
    size_t scheme = strncmp(url, "https://", 8) == 0 ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0;
    host[0] = '\0';
    if (scheme == 0)
        return 0;
    const char *h = url + scheme, *end = h;
    if (*h == '[') { /* [::1]:8443 */
        end = strchr(h, ']');
        if (end == NULL)
            return 0;
        h++;
    } else {
        end = h + strcspn(h, ":/?#");
    }
    size_t n = (size_t)(end - h);
    if (n == 0 || n >= host_size)
        return 0;
    memcpy(host, h, n);
    host[n] = '\0';
    return scheme;
}

static int finish_output(const struct config *cfg, struct config_output *o,
                         char err[CONFIG_ERROR_SIZE])
{
    char where[CONFIG_ERROR_SIZE / 2], section[96];
    snprintf(section, sizeof(section), "output %s", o->name);
    if (o->type == CONFIG_OUTPUT_MQTT) {
        struct config_broker *b = &o->mqtt.broker;
        if (b->client_id[0] == '\0')
            snprintf(b->client_id, sizeof(b->client_id), "sensorbro-%.50s-%.50s", cfg->gateway.id,
                     o->name);
        bool tls_set = false;
        for (size_t i = 0; i < N_OUTPUT_KEYS; i++)
            if (strcmp(output_keys[i].name, "tls") == 0 && o->origin[i] > 0)
                tls_set = true;
        bool loopback = host_is_loopback(b->host);
        if (!tls_set)
            b->tls = !loopback;
        if (!b->tls && !loopback && b->password[0] != '\0' && !b->allow_insecure) {
            output_where(cfg, o, "tls", where, sizeof(where));
            snprintf(err, CONFIG_ERROR_SIZE,
                     "%s: false sends the password in clear to %.100s (not loopback): keep TLS "
                     "on, or set allow_insecure = true",
                     where, b->host);
            return -1;
        }
        const struct config_broker *m = &cfg->mqtt.broker;
        if (strcmp(b->client_id, m->client_id) == 0 && strcmp(b->host, m->host) == 0 &&
            b->port == m->port) {
            output_where(cfg, o, "client_id", where, sizeof(where));
            snprintf(err, CONFIG_ERROR_SIZE, "%s: the same as mqtt.client_id on the same broker",
                     where);
            return -1;
        }
        char why[CONFIG_ERROR_SIZE];
        if (check_broker(b, section, true, why) != 0) {
            snprintf(err, CONFIG_ERROR_SIZE, "%.200s:%d: %.280s", cfg->origin.file, o->line, why);
            return -1;
        }
        return 0;
    }
    struct config_os2iot_http *h = &o->http;
    char host[256];
    output_where(cfg, o, "url", where, sizeof(where));
    size_t scheme = url_host(h->url, host, sizeof(host));
    if (scheme == 0) {
        snprintf(err, CONFIG_ERROR_SIZE,
                 "%s: expected the URL of OS2iot's receiver, "
                 "https://<host>[:port]/api/v1/receive-data",
                 where);
        return -1;
    }
    if (strchr(h->url, '?') != NULL || strchr(h->url, '#') != NULL) {
        snprintf(err, CONFIG_ERROR_SIZE,
                 "%s: expected no query or fragment (the output adds ?apiKey= per device)", where);
        return -1;
    }
    if (scheme == 7 && !host_is_loopback(host) && !h->allow_insecure) {
        snprintf(err, CONFIG_ERROR_SIZE,
                 "%s: http:// sends every device's API key in clear to %.100s (not loopback): "
                 "use https://, or set allow_insecure = true",
                 where, host);
        return -1;
    }
    if (h->retry_min_ms > h->retry_max_ms) {
        output_where(cfg, o, "retry_min_ms", where, sizeof(where));
        snprintf(err, CONFIG_ERROR_SIZE, "%s: must not exceed retry_max_ms (%" PRIu32 ")", where,
                 h->retry_max_ms);
        return -1;
    }
    if (h->ca_file[0] != '\0' && access(h->ca_file, R_OK) != 0) {
        output_where(cfg, o, "ca_file", where, sizeof(where));
        snprintf(err, CONFIG_ERROR_SIZE, "%s: cannot read %.200s: %s", where, h->ca_file,
                 strerror(errno));
        return -1;
    }
    return 0;
}

static int finish(struct config *cfg, char err[CONFIG_ERROR_SIZE], bool *located)
{
    struct config_broker *mqtt = &cfg->mqtt.broker, *lns = &cfg->lns_mqtt.broker;
    if (cfg->gateway.id[0] == '\0')
        gateway_id_from_hostname(cfg->gateway.id, sizeof(cfg->gateway.id));
    cfg->mqtt.profile = cfg->render.profile; /* [render] is the [mqtt] output's format */
    if (mqtt->client_id[0] == '\0')
        snprintf(mqtt->client_id, sizeof(mqtt->client_id), "sensorbro-%.100s", cfg->gateway.id);
    if (secure_broker(cfg, mqtt, "mqtt", err, located) != 0 ||
        check_broker(mqtt, "mqtt", true, err) != 0)
        return -1;
    /* [lns_mqtt] has no keys of its own for these: the feed connects as the publisher does */
    lns->connect_timeout_s = mqtt->connect_timeout_s;
    lns->reconnect_min_ms = mqtt->reconnect_min_ms;
    lns->reconnect_max_ms = mqtt->reconnect_max_ms;
    if (lns->client_id[0] == '\0')
        snprintf(lns->client_id, sizeof(lns->client_id), "sensorbro-lns-%.100s", cfg->gateway.id);
    if (strcmp(lns->client_id, mqtt->client_id) == 0 && strcmp(lns->host, mqtt->host) == 0 &&
        lns->port == mqtt->port) {
        /* the broker would throw one connection out whenever the other connects */
        snprintf(err, CONFIG_ERROR_SIZE,
                 "lns_mqtt.client_id and mqtt.client_id are the same on the same broker");
        return -1;
    }
    if (secure_broker(cfg, lns, "lns_mqtt", err, located) != 0)
        return -1;
    if ((cfg->http.user[0] == '\0') != (cfg->http.password_file[0] == '\0')) {
        /* half of basic auth would be no auth at all, or no way in */
        char where[CONFIG_ERROR_SIZE / 2];
        const char *set = cfg->http.user[0] ? "user" : "password_file";
        describe_origin(cfg, "http", set, where, sizeof(where));
        snprintf(err, CONFIG_ERROR_SIZE, "%s: expected http.user and http.password_file together",
                 where);
        *located = true;
        return -1;
    }
    if (check_broker(lns, "lns_mqtt", false, err) != 0)
        return -1;
    for (unsigned i = 0; i < cfg->n_outputs; i++) {
        if (finish_output(cfg, &cfg->outputs[i], err) != 0) {
            *located = true;
            return -1;
        }
    }
    return 0;
}

int config_finish(struct config *cfg, char err[CONFIG_ERROR_SIZE])
{
    char why[CONFIG_ERROR_SIZE];
    bool located = false;
    if (finish(cfg, why, &located) == 0)
        return 0;
    if (located || cfg->origin.file[0] == '\0')
        snprintf(err, CONFIG_ERROR_SIZE, "%s", why);
    else
        snprintf(err, CONFIG_ERROR_SIZE, "%.200s: %.300s", cfg->origin.file, why);
    return -1;
}

static void warn_broker(const struct config_broker *b, const char *section, const char *what)
{
    if (b->tls || host_is_loopback(b->host))
        return;
    if (b->password[0] != '\0')
        log_warn("%s: %s.allow_insecure = true: the %s's password goes to %s in clear (plain "
                 "TCP), readable by anyone on the path; use TLS",
                 section, section, what, b->host);
    else
        log_warn("%s: %s.tls = false: traffic to the %s at %s, which is not loopback, goes in "
                 "clear and the broker is not authenticated; use TLS",
                 section, section, what, b->host);
}

void config_log_warnings(const struct config *cfg)
{
    warn_broker(&cfg->mqtt.broker, "mqtt", "broker");
    if (cfg->lns_mqtt.enabled)
        warn_broker(&cfg->lns_mqtt.broker, "lns_mqtt", "network server's broker");
}

/* ---- TLS files (config_check_files) ---- */

/* An error is "<where>: <why>": the place (file and line) and what is wrong. */
#define CONFIG_WHERE_SIZE 240
#define CONFIG_WHY_SIZE   (CONFIG_ERROR_SIZE - CONFIG_WHERE_SIZE - 2)

/* "<file>:<line>: section.key" or "command line: section.key", for a key of the table. */
static void describe_origin(const struct config *cfg, const char *section, const char *name,
                            char *out, size_t out_size)
{
    int line = origin_line(cfg, section, name);
    if (line > 0)
        snprintf(out, out_size, "%.200s:%d: %s.%s", cfg->origin.file, line, section, name);
    else
        snprintf(out, out_size, "%s%s.%s", line < 0 ? "command line: " : "", section, name);
}

/* OpenSSL's reason for the most recent error on this thread's queue, which is then emptied. */
static void openssl_reason(char *out, size_t out_size)
{
    unsigned long code = ERR_peek_last_error();
    const char *reason = code ? ERR_reason_error_string(code) : NULL;
    snprintf(out, out_size, "%s", reason ? reason : "unknown error");
    ERR_clear_error();
}

/* Opens a file that must be a readable regular file. Returns it, or NULL with why. */
static FILE *open_pem(const char *path, char *why, size_t why_size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(why, why_size, "cannot open %.120s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_size, "%.120s is not a regular file", path);
        fclose(f);
        return NULL;
    }
    return f;
}

/* Reads every PEM certificate of path, as Paho's OpenSSL will; keeps the first in *first
 * when first is not NULL. Returns the count (> 0), or -1 with why. */
static int read_certificates(const char *path, X509 **first, char *why, size_t why_size)
{
    FILE *f = open_pem(path, why, why_size);
    if (f == NULL)
        return -1;
    int count = 0;
    X509 *cert;
    ERR_clear_error();
    while ((cert = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        if (count++ == 0 && first)
            *first = cert;
        else
            X509_free(cert);
    }
    /* The loop ends at the end of the file (no further PEM block: PEM_R_NO_START_LINE) or
     * at a block that does not parse. */
    unsigned long last = ERR_peek_last_error();
    bool at_end = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
    fclose(f);
    if (count > 0 && (last == 0 || at_end)) {
        ERR_clear_error();
        return count;
    }
    char reason[80];
    openssl_reason(reason, sizeof(reason));
    if (count == 0 && at_end)
        snprintf(why, why_size,
                 "%.120s holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)", path);
    else
        snprintf(why, why_size, "%.120s: certificate %d does not parse: %s", path, count + 1,
                 reason);
    if (first && *first) {
        X509_free(*first);
        *first = NULL;
    }
    return -1;
}

/* Refuses to ask for a passphrase: the daemon runs unattended and has no key for it. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    *(bool *)u = true;
    return -1;
}

static EVP_PKEY *read_private_key(const char *path, char *why, size_t why_size)
{
    FILE *f = open_pem(path, why, why_size);
    if (f == NULL)
        return NULL;
    bool encrypted = false;
    ERR_clear_error();
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, no_passphrase, &encrypted);
    fclose(f);
    if (key) {
        ERR_clear_error();
        return key;
    }
    char reason[80];
    unsigned long last = ERR_peek_last_error();
    bool none = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
    openssl_reason(reason, sizeof(reason));
    if (encrypted)
        snprintf(why, why_size,
                 "%.100s is encrypted with a passphrase, which sensorbro cannot be given: store "
                 "it unencrypted (openssl pkey -in KEY -out KEY.plain), readable by the service "
                 "user only",
                 path);
    else if (none)
        snprintf(why, why_size,
                 "%.120s holds no PEM private key (expected -----BEGIN PRIVATE KEY-----)", path);
    else
        snprintf(why, why_size, "%.120s: the private key does not parse: %s", path, reason);
    return NULL;
}

static int check_ca_file(const struct config *cfg, const char *section, const char *path,
                         char err[CONFIG_ERROR_SIZE])
{
    char why[CONFIG_WHY_SIZE], where[CONFIG_WHERE_SIZE];
    if (path[0] == '\0' || read_certificates(path, NULL, why, sizeof(why)) > 0)
        return 0;
    describe_origin(cfg, section, "ca_file", where, sizeof(where));
    snprintf(err, CONFIG_ERROR_SIZE, "%s: %s", where, why);
    return -1;
}

static int check_client_certificate(const struct config *cfg, const char *section,
                                    const struct config_broker *b, char err[CONFIG_ERROR_SIZE])
{
    const char *cert_path = b->cert_file, *key_path = b->key_file;
    char why[CONFIG_WHY_SIZE], where[CONFIG_WHERE_SIZE];
    if (cert_path[0] == '\0')
        return 0;
    X509 *cert = NULL;
    if (read_certificates(cert_path, &cert, why, sizeof(why)) < 0) {
        describe_origin(cfg, section, "cert_file", where, sizeof(where));
        snprintf(err, CONFIG_ERROR_SIZE, "%s: %s", where, why);
        return -1;
    }
    EVP_PKEY *key = read_private_key(key_path, why, sizeof(why));
    if (key && X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        snprintf(why, sizeof(why),
                 "%.100s is not the key of the certificate in %.100s (%s.cert_file)", key_path,
                 cert_path, section);
        EVP_PKEY_free(key);
        key = NULL;
    }
    X509_free(cert);
    if (key == NULL) {
        describe_origin(cfg, section, "key_file", where, sizeof(where));
        snprintf(err, CONFIG_ERROR_SIZE, "%s: %s", where, why);
        return -1;
    }
    EVP_PKEY_free(key);
    return 0;
}

/* The CA file and the client certificate of one broker block, when it uses TLS. */
static int check_broker_files(const struct config *cfg, const char *section,
                              const struct config_broker *b, char err[CONFIG_ERROR_SIZE])
{
    if (!b->tls)
        return 0;
    if (check_ca_file(cfg, section, b->ca_file, err) != 0)
        return -1;
    return check_client_certificate(cfg, section, b, err);
}

int config_check_files(const struct config *cfg, char err[CONFIG_ERROR_SIZE])
{
    if (check_broker_files(cfg, "mqtt", &cfg->mqtt.broker, err) != 0)
        return -1;
    if (cfg->lns_mqtt.enabled &&
        check_broker_files(cfg, "lns_mqtt", &cfg->lns_mqtt.broker, err) != 0)
        return -1;
    return 0;
}

/* ---- secrets on disk (config_check_private_files) ---- */

/* path, when it exists, must give group and others nothing. Returns 0, or -1 with why. */
static int check_private(const char *path, char *why, size_t why_size)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0; /* missing: the journal is created private; a key file's own check says */
    if ((st.st_mode & 077) == 0)
        return 0;
    snprintf(why, why_size, "%.96s is %s by group or others (mode %04o): run chmod 600 %.96s", path,
             (st.st_mode & 044) ? "readable" : "writable or executable",
             (unsigned)(st.st_mode & 07777), path);
    return -1;
}

int config_check_private_files(const struct config *cfg, char err[CONFIG_ERROR_SIZE])
{
    char why[CONFIG_WHY_SIZE], where[CONFIG_WHERE_SIZE];
    const struct config_broker *b = &cfg->mqtt.broker;
    if (b->tls && b->key_file[0] != '\0' && check_private(b->key_file, why, sizeof(why)) != 0) {
        describe_origin(cfg, "mqtt", "key_file", where, sizeof(where));
        snprintf(err, CONFIG_ERROR_SIZE, "%s: %s", where, why);
        return -1;
    }
    static const char *const companions[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(companions) / sizeof(companions[0]); i++) {
        char path[CONFIG_PATH_SIZE + 8];
        snprintf(path, sizeof(path), "%s%s", cfg->journal.path, companions[i]);
        if (check_private(path, why, sizeof(why)) != 0) {
            describe_origin(cfg, "journal", "path", where, sizeof(where));
            snprintf(err, CONFIG_ERROR_SIZE, "%.230s: %.230s (it holds the devices' keys)", where,
                     why);
            return -1;
        }
    }
    return 0;
}

void config_describe_origin(const struct config *cfg, const char *section, const char *name,
                            char *out, size_t out_size)
{
    describe_origin(cfg, section, name, out, out_size);
}

void config_print(const struct config *cfg, FILE *out)
{
    const char *section = "";
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key *k = &keys[i];
        if (strcmp(k->section, section) != 0) {
            fprintf(out, "%s[%s]\n", i ? "\n" : "", k->section);
            section = k->section;
        }
        const char *field = (const char *)cfg + k->offset;
        switch (k->type) {
        case KEY_STRING:
            fprintf(out, "%s = %s\n", k->name, field);
            break;
        case KEY_SECRET:
            fprintf(out, "%s = %s\n", k->name, field[0] ? "********" : "");
            break;
        case KEY_BOOL:
            fprintf(out, "%s = %s\n", k->name, *(const bool *)field ? "true" : "false");
            break;
        case KEY_UINT:
            fprintf(out, "%s = %" PRIu32 "\n", k->name, *(const uint32_t *)field);
            break;
        case KEY_CHOICE:
            fprintf(out, "%s = %s\n", k->name, k->choices[*(const uint32_t *)field]);
            break;
        }
    }
    for (unsigned i = 0; i < cfg->n_outputs; i++) {
        const struct config_output *o = &cfg->outputs[i];
        fprintf(out, "\n[output %s]\n", o->name);
        for (size_t j = 0; j < N_OUTPUT_KEYS; j++) {
            const struct key *k = &output_keys[j];
            if (!(k->types & (1u << o->type)))
                continue;
            const char *field = (const char *)o + k->offset;
            switch (k->type) {
            case KEY_STRING:
                fprintf(out, "%s = %s\n", k->name, field);
                break;
            case KEY_SECRET:
                fprintf(out, "%s = %s\n", k->name, field[0] ? "********" : "");
                break;
            case KEY_BOOL:
                fprintf(out, "%s = %s\n", k->name, *(const bool *)field ? "true" : "false");
                break;
            case KEY_UINT:
                fprintf(out, "%s = %" PRIu32 "\n", k->name, *(const uint32_t *)field);
                break;
            case KEY_CHOICE:
                fprintf(out, "%s = %s\n", k->name, k->choices[*(const uint32_t *)field]);
                break;
            }
        }
    }
}
