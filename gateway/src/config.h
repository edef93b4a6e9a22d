/*
 * config.h - the daemon's configuration: one INI file (libinih) over built-in defaults.
 *
 * Every key has a default, so sensorbro runs with no file at all: broker localhost:1883,
 * journal sensorbro.db in the working directory, gateway id from the host name. One file
 * and then --set section.key=value options on the command line override keys one by one; a
 * --set over a key of the file wins. Any unknown section or key, any bad value and any key
 * given twice (twice in the file, or twice with --set) stops start-up with
 *     <file>:<line>: <section>.<key>: <what was expected>
 * The configuration remembers where each key was set, so that config_check_files can name
 * the line of a certificate file that turns out to be missing or not to parse.
 * The table of keys lives in config.c; docs/configuration.md describes each, and
 * `sensorbro --print-config` prints the effective configuration (secrets masked).
 *
 * Threads: load on the main thread before starting any other; afterwards read-only, but for
 * log.level, which a reload (SIGHUP, service.c) sets on the main thread, the only reader.
 */
#ifndef SENSORBRO_CONFIG_H
#define SENSORBRO_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_ERROR_SIZE 512
#define CONFIG_PATH_SIZE  512
#define CONFIG_MAX_KEYS   96 /* room in the origin table; config.c asserts its table fits */

enum config_mqtt_protocol { CONFIG_MQTT_5 = 0, CONFIG_MQTT_3_1_1 = 1 };
enum config_sync { CONFIG_SYNC_FULL = 0, CONFIG_SYNC_NORMAL = 1 };
enum config_profile { CONFIG_PROFILE_JSON = 0, CONFIG_PROFILE_SENML = 1 };
enum config_language { CONFIG_LANGUAGE_DA = 0, CONFIG_LANGUAGE_EN = 1 };
enum config_full_policy { CONFIG_DROP_OLDEST = 0, CONFIG_REJECT_NEW = 1 };
/* coap.nosec: auto is on until a device of the registry has a coap.psk, then off */
enum config_coap_nosec { CONFIG_NOSEC_AUTO = 0, CONFIG_NOSEC_ON = 1, CONFIG_NOSEC_OFF = 2 };

/* One broker connection, as the [mqtt] section describes it; [lns_mqtt] uses the same
 * block for the LoRaWAN network server's broker (see there which of its keys it has). */
struct config_broker {
    char host[256];
    uint32_t port;
    uint32_t protocol; /* enum config_mqtt_protocol */
    char client_id[128];
    char username[128];
    char password[256];
    /* Unset: on for every host but loopback (util/host.h), decided by config_finish. */
    bool tls;
    /* A password over plain TCP to a host that is not loopback: refused without it, logged
     * as a warning at start with it (config_log_warnings). */
    bool allow_insecure;
    char ca_file[CONFIG_PATH_SIZE];   /* "": the system's CAs */
    char cert_file[CONFIG_PATH_SIZE]; /* client certificate, "" none; with key_file */
    char key_file[CONFIG_PATH_SIZE];
    uint32_t keepalive_s;
    uint32_t connect_timeout_s;
    uint32_t reconnect_min_ms; /* reconnects back off with full jitter between these */
    uint32_t reconnect_max_ms;
};

/* The [mqtt] section: the broker and how the MQTT output (output/mqtt_output.h) publishes to
 * it. A type of its own, so that an output of type mqtt can be given any section of this
 * shape (issue 10: several outputs, each named by its section). */
struct config_mqtt {
    struct config_broker broker; /* host ... reconnect_max_ms */
    char topic[256];
    char status_topic[256]; /* "": no status messages and no will */
    uint32_t max_inflight;
    uint32_t max_rate; /* publishes per second at most; 0: no limit */
    uint32_t profile;  /* enum config_profile; [mqtt]'s is [render]'s, copied by config_finish */
};

/* The os2iot-http output (output/os2iot_http_output.h): OS2iot's generic HTTP receiver.
 * Each device's frames are POSTed to url?apiKey=<the device's os2iot.api_key>. */
struct config_os2iot_http {
    char url[CONFIG_PATH_SIZE];     /* https://<os2iot>/api/v1/receive-data */
    char ca_file[CONFIG_PATH_SIZE]; /* "": the system's CAs */
    bool allow_insecure;            /* http:// to a host that is not loopback */
    uint32_t connect_timeout_ms;
    uint32_t timeout_ms;   /* a whole request */
    uint32_t retry_min_ms; /* 5xx, timeouts and connection errors back off between these */
    uint32_t retry_max_ms;
    uint32_t refused_retry_s; /* a device answered 4xx is tried again this often */
};

enum config_output_type { CONFIG_OUTPUT_MQTT = 0, CONFIG_OUTPUT_OS2IOT_HTTP = 1 };

#define CONFIG_MAX_OUTPUTS     7  /* [output NAME] sections; with [mqtt] the writer's 8 */
#define CONFIG_OUTPUT_MAX_KEYS 40 /* room in an output's origin table */

/* An [output NAME] section: an output of its own, named NAME (its progress in the journal,
 * so keep the name), of the type its first key names. Only the keys of that type apply. */
struct config_output {
    char name[64];
    uint32_t type; /* enum config_output_type */
    int line;      /* of its type key */
    struct config_mqtt mqtt;
    struct config_os2iot_http http;
    int origin[CONFIG_OUTPUT_MAX_KEYS]; /* like config.origin.line, per output key */
};

struct config {
    struct {
        char id[64]; /* names this gateway in topics and messages */
    } gateway;
    struct {
        bool enabled;
        char bind[64];
        uint32_t port;
        uint32_t max_payload_bytes;
        uint32_t receive_buffer_kb;
        uint32_t nosec;           /* enum config_coap_nosec: plain CoAP on coap.port */
        char dtls_bind[64];       /* CoAP over DTLS-PSK */
        uint32_t dtls_port;       /* 0: no DTLS endpoint */
        bool accept_unregistered; /* the commissioning window: devices not in the registry */
        uint32_t max_sessions;    /* idle sessions libcoap keeps, NoSec and DTLS each */
        uint32_t session_idle_s;  /* an idle session is dropped after this */
        uint32_t max_handshakes;  /* DTLS sessions in handshake at once */
    } coap;
    struct {
        bool enabled;
        char bind[64];
        uint32_t port;
        uint32_t dedup_window_ms;
        char net_id[8]; /* 6 hex digits */
        uint32_t forwarder_timeout_s;
        bool pin_forwarders;
        char forwarders[256];      /* "EUI@host, ..." (util/eui_host.h), checked when set */
        uint32_t rate_limit_per_s; /* datagrams per source host; 0: none */
        uint32_t rate_burst;
        uint32_t retransmission_window_s;
        uint32_t receive_buffer_kb; /* the kernel's UDP receive buffer for the socket */
    } semtech_udp;
    struct {
        char path[CONFIG_PATH_SIZE];
        uint32_t synchronous; /* enum config_sync */
        uint32_t batch_max_rows;
        uint32_t batch_max_ms;
        uint32_t queue_frames;
        uint32_t retention_h;
        uint32_t max_mb;          /* cap of the journal's used pages; 0: none */
        uint32_t min_free_mb;     /* free space kept on the journal's filesystem */
        uint32_t full_policy;     /* enum config_full_policy */
        uint32_t resend_window_s; /* same device, seq and bytes within this long: stored once */
    } journal;
    struct config_mqtt mqtt;
    struct {
        bool enabled;
        /* Its own host, port, protocol, client_id, username, password, tls, ca_file and
         * keepalive_s; cert_file and key_file are empty (no keys), and connect_timeout_s,
         * reconnect_min_ms and reconnect_max_ms are [mqtt]'s, copied by config_finish. */
        struct config_broker broker;
        char topic[256];          /* subscription filter, wildcards allowed */
        char shared_group[64];    /* "": plain subscription; else $share/<group>/<topic> */
        char downlink_topic[256]; /* {application} and {device} are replaced */
        uint32_t session_expiry_s;
        uint32_t dedup_window;      /* deduplicationIds remembered */
        uint32_t max_event_age_s;   /* an event's time may lie this far before its receipt */
        uint32_t max_event_ahead_s; /* and this far after it (clocks differ) */
    } lns_mqtt;
    struct {
        uint32_t profile; /* enum config_profile */
    } render;
    struct {
        /* Started as root, the daemon becomes this user once its sockets are bound
         * (privilege.h); "root" keeps root. Ignored when not started as root. */
        char run_as_user[64];
    } service;
    struct {
        uint32_t level; /* enum log_level */
    } log;
    /* [output NAME] sections, in the file's order (not settable with --set). */
    struct config_output outputs[CONFIG_MAX_OUTPUTS];
    unsigned n_outputs;
    struct {
        /* The status page, /metrics and /healthz (http_status.h). */
        bool enabled;
        char bind[64];
        uint32_t port;
        char user[64];                        /* "": no basic auth */
        char password_file[CONFIG_PATH_SIZE]; /* its first line is the password */
        uint32_t language;                    /* enum config_language */
    } http;
    /* Where each key's value came from, indexed like config.c's table of keys. */
    struct {
        char file[CONFIG_PATH_SIZE]; /* the file loaded, "" when none */
        int line[CONFIG_MAX_KEYS];   /* 0: the default, > 0: that line of file, -1: --set */
    } origin;
};

/* Fills cfg with the built-in defaults. */
void config_set_defaults(struct config *cfg);
/* Applies an INI file over cfg; at most one file per configuration, before any option.
 * A key given twice in it is refused with both lines. Returns 0, or -1 with
 * "<path>:<line>: ..." in err. */
int config_load_file(struct config *cfg, const char *path, char err[CONFIG_ERROR_SIZE]);
/* Applies one "section.key=value" (from the command line), over the file's value if any;
 * the same key twice on the command line is refused. Returns 0 or -1 with err. */
int config_apply_option(struct config *cfg, const char *assignment, char err[CONFIG_ERROR_SIZE]);
/* Fills in values derived from others (client id from gateway id, a broker's tls from its
 * host) and checks the keys that depend on each other: among them, a password is never
 * sent over plain TCP to a host that is not loopback unless that broker's allow_insecure
 * is set. Call once after all files and options. Returns 0 or -1 with err, which names
 * the file ("<file>: ...", or "<file>:<line>: ..." where one key decides). */
int config_finish(struct config *cfg, char err[CONFIG_ERROR_SIZE]);
/* Logs (log_warn) what config_finish let pass but an operator must know at start: plain
 * TCP to a broker that is not loopback, with or without a password (allow_insecure). */
void config_log_warnings(const struct config *cfg);
/* Checks the TLS files of every TLS connection that will be made (mqtt.ca_file,
 * mqtt.cert_file and mqtt.key_file, lns_mqtt.ca_file) as the daemon's user sees them: each
 * opens, parses as PEM certificate(s) or an unencrypted private key (OpenSSL), and the key
 * belongs to the certificate. For the daemon at start-up, after config_finish (sensorbroctl
 * need not read the daemon's key). Returns 0, or -1 with
 * "<file>:<line>: mqtt.ca_file: <what is wrong>" (or "command line: ..." for --set). */
int config_check_files(const struct config *cfg, char err[CONFIG_ERROR_SIZE]);
/* Checks that the daemon's secrets are private: each TLS private key (mqtt.key_file) and
 * the journal (journal.path, with its -wal and -shm; it holds the LoRaWAN keys of the
 * device registry) must not be readable, writable or executable by group or others. A
 * file that does not exist yet passes (the journal is created private). Returns 0, or -1
 * with "<file>:<line>: journal.path: <path> is readable by group or others (mode 0644):
 * run chmod 600 <path>". */
int config_check_private_files(const struct config *cfg, char err[CONFIG_ERROR_SIZE]);
/* Where section.name's value came from, for a message about it: "<file>:<line>:
 * section.name", "command line: section.name", or "section.name" for a default. */
void config_describe_origin(const struct config *cfg, const char *section, const char *name,
                            char *out, size_t out_size);
/* Prints cfg as an INI file that config_load_file accepts; secrets print as "********". */
void config_print(const struct config *cfg, FILE *out);

#endif
