/*
 * test_config.c - config.c: defaults, every kind of key from a file, the error messages
 * (file:line: section.key: what was expected), --set options, derived values and the keys
 * that depend on each other, keys given twice, the TLS files checked at start-up (named by
 * the line that set them), and --print-config output that loads back unchanged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static struct config cfg;
static char err[CONFIG_ERROR_SIZE];
static char path[] = "/tmp/test_config.XXXXXX";

static const char *write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int setup(void **state)
{
    (void)state;
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static void expect_file_error(const char *text, const char *expected_after_path)
{
    config_set_defaults(&cfg);
    assert_int_equal(config_load_file(&cfg, write_file(text), err), -1);
    char expected[CONFIG_ERROR_SIZE];
    snprintf(expected, sizeof(expected), "%s%s", path, expected_after_path);
    assert_string_equal(err, expected);
}

static void test_defaults(void **state)
{
    (void)state;
    config_set_defaults(&cfg);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_true(cfg.coap.enabled);
    assert_int_equal(cfg.coap.port, 5683);
    assert_int_equal(cfg.coap.max_payload_bytes, 512);
    assert_string_equal(cfg.journal.path, "sensorbro.db");
    assert_int_equal(cfg.journal.synchronous, CONFIG_SYNC_FULL);
    assert_string_equal(cfg.mqtt.broker.host, "localhost");
    assert_int_equal(cfg.mqtt.broker.port, 1883);
    assert_int_equal(cfg.mqtt.broker.protocol, CONFIG_MQTT_5);
    assert_false(cfg.mqtt.broker.tls);
    assert_string_equal(cfg.mqtt.topic, "sensorbro/{gateway}/{device}/up");
    assert_string_equal(cfg.mqtt.status_topic, "sensorbro/{gateway}/status");
    /* derived: the gateway id from the host name, the client id from the gateway id */
    char host[256];
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    if (strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
        strlen(host))
        assert_string_equal(cfg.gateway.id, host);
    char client_id[200];
    snprintf(client_id, sizeof(client_id), "sensorbro-%s", cfg.gateway.id);
    assert_string_equal(cfg.mqtt.broker.client_id, client_id);
}

static void test_every_kind_of_key(void **state)
{
    (void)state;
    config_set_defaults(&cfg);
    const char *text = "; a comment\n"
                       "[gateway]\n"
                       "id = town-hall.b2\n"
                       "\n"
                       "[coap]\n"
                       "enabled = no\n"
                       "bind = ::\n"
                       "port = 5684\n"
                       "[journal]\n"
                       "path = /var/lib/sensorbro/journal.db\n"
                       "synchronous = normal\n"
                       "batch_max_rows = 1000\n"
                       "retention_h = 0\n"
                       "[mqtt]\n"
                       "host = broker.kommune.dk ; inline comment\n"
                       "protocol = 3.1.1\n"
                       "username = gw\n"
                       "password = hunter2\n"
                       "tls = true\n"
                       "ca_file = /etc/ssl/os2iot-ca.pem\n"
                       "topic = devices/{device}\n"
                       "[log]\n"
                       "level = debug\n";
    assert_int_equal(config_load_file(&cfg, write_file(text), err), 0);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_string_equal(cfg.gateway.id, "town-hall.b2");
    assert_false(cfg.coap.enabled);
    assert_string_equal(cfg.coap.bind, "::");
    assert_int_equal(cfg.coap.port, 5684);
    assert_string_equal(cfg.journal.path, "/var/lib/sensorbro/journal.db");
    assert_int_equal(cfg.journal.synchronous, CONFIG_SYNC_NORMAL);
    assert_int_equal(cfg.journal.batch_max_rows, 1000);
    assert_int_equal(cfg.journal.retention_h, 0);
    assert_string_equal(cfg.mqtt.broker.host, "broker.kommune.dk");
    assert_int_equal(cfg.mqtt.broker.protocol, CONFIG_MQTT_3_1_1);
    assert_string_equal(cfg.mqtt.broker.password, "hunter2");
    assert_true(cfg.mqtt.broker.tls);
    assert_string_equal(cfg.mqtt.topic, "devices/{device}");
    assert_string_equal(cfg.mqtt.broker.client_id, "sensorbro-town-hall.b2");
    assert_int_equal(cfg.log.level, 3);
}

static void test_file_errors(void **state)
{
    (void)state;
    expect_file_error("[mqtt]\nport = 0\n",
                      ":2: mqtt.port: expected a whole number from 1 to 65535, got \"0\"");
    expect_file_error("[mqtt]\nport = 18x\n",
                      ":2: mqtt.port: expected a whole number from 1 to 65535, got \"18x\"");
    expect_file_error("[mqtt]\nport = -1\n",
                      ":2: mqtt.port: expected a whole number from 1 to 65535, got \"-1\"");
    expect_file_error("[mqtt]\nport = 99999999999999999999\n",
                      ":2: mqtt.port: expected a whole number from 1 to 65535, got "
                      "\"99999999999999999999\"");
    expect_file_error("[log]\nlevel = loud\n",
                      ":2: log.level: expected one of error, warn, info, debug, got \"loud\"");
    expect_file_error("\n\n[coap]\nportt = 1\n",
                      ":4: coap.portt: unknown key (known in [coap]: enabled, bind, port, "
                      "max_payload_bytes, receive_buffer_kb, nosec, dtls_bind, dtls_port, "
                      "accept_unregistered, max_sessions, session_idle_s, max_handshakes)");
    expect_file_error("[mqtt]\ntopic = a/{gateway}/up\n",
                      ":2: mqtt.topic: expected a topic containing {device} (one topic per "
                      "device)");
    expect_file_error("[mqtt]\ntopic = a/{devices}/up\n",
                      ":2: mqtt.topic: expected only the placeholders {gateway} and {device}");
    expect_file_error("[gateway]\nid =\n",
                      ":2: gateway.id: expected a non-empty id of letters, digits, '-', '_' or "
                      "'.'");
    /* the first error by line wins, syntax errors included */
    expect_file_error("[coap]\nport = 1\nbad line\n[mqtt]\nport = 0\n",
                      ":3: expected \"[section]\", \"key = value\" or a comment");
    expect_file_error("[coap]\nport = 0\nbad line\n",
                      ":2: coap.port: expected a whole number from 1 to 65535, got \"0\"");
}

static void test_values_stay_on_error(void **state)
{
    (void)state;
    config_set_defaults(&cfg);
    /* keys before the bad one are applied; the bad one leaves its default */
    assert_int_equal(config_load_file(&cfg, write_file("[mqtt]\nport = 1884\nhost = a b\n"), err),
                     -1);
    assert_string_equal(strchr(err, ':'),
                        ":3: mqtt.host: expected a host name or IP address, got \"a b\"");
    assert_int_equal(cfg.mqtt.broker.port, 1884);
    assert_string_equal(cfg.mqtt.broker.host, "localhost");
    /* a too-long value is refused, not truncated */
    config_set_defaults(&cfg);
    char text[600];
    snprintf(text, sizeof(text), "[mqtt]\nusername = %0150d\n", 0);
    assert_int_equal(config_load_file(&cfg, write_file(text), err), -1);
    assert_non_null(strstr(err, ":2: mqtt.username: expected at most 127 characters"));
}

static void test_set_options(void **state)
{
    (void)state;
    config_set_defaults(&cfg);
    assert_int_equal(config_apply_option(&cfg, "mqtt.port=1999", err), 0);
    assert_int_equal(cfg.mqtt.broker.port, 1999);
    assert_int_equal(config_apply_option(&cfg, "mqtt.username=a=b", err), 0); /* first '=' */
    assert_string_equal(cfg.mqtt.broker.username, "a=b");
    assert_int_equal(config_apply_option(&cfg, "journal.path=", err), 0);
    assert_string_equal(cfg.journal.path, "");
    assert_int_equal(config_apply_option(&cfg, "mqtt.prt=1", err), -1);
    assert_non_null(strstr(err, "command line: mqtt.prt: unknown key"));
    assert_int_equal(config_apply_option(&cfg, "noseparator", err), -1);
    assert_string_equal(err, "--set noseparator: expected section.key=value, e.g. mqtt.port=1883");
    assert_int_equal(config_apply_option(&cfg, "=x.y", err), -1);
    /* a value longer than a line of the file can hold is refused here too, so that
     * --print-config always prints a file that loads (fuzz_config: a 230-character topic;
     * "path = " and 191 characters make the longest line, 198) */
    char option[300];
    config_set_defaults(&cfg); /* journal.path was given above */
    snprintf(option, sizeof(option), "journal.path=%0191d", 0);
    assert_int_equal(config_apply_option(&cfg, option, err), 0);
    config_set_defaults(&cfg);
    snprintf(option, sizeof(option), "journal.path=%0192d", 0);
    assert_int_equal(config_apply_option(&cfg, option, err), -1);
    assert_non_null(strstr(err, "journal.path: expected at most 191 characters"));
    /* nor a value the file would read otherwise: ';' first or after a space (a comment),
     * spaces at either end (stripped), a control character (fuzz_config: "host=;tls") */
    static const char *const unwritable[] = {"mqtt.host=;tls",    "journal.path=a ;b",
                                             "journal.path= a",   "journal.path=a\t",
                                             "journal.path=a\nb", "journal.path=a\x7f"};
    for (size_t i = 0; i < sizeof(unwritable) / sizeof(unwritable[0]); i++) {
        config_set_defaults(&cfg);
        assert_int_equal(config_apply_option(&cfg, unwritable[i], err), -1);
        assert_non_null(strstr(err, "expected no control character"));
    }
    config_set_defaults(&cfg);
    assert_int_equal(config_apply_option(&cfg, "journal.path=a;b c", err), 0);
    assert_int_equal(config_load_file(&cfg, write_file("[mqtt]\nhost=;tls\n"), err), -1);
    assert_non_null(strstr(err, ":2: mqtt.host: expected no control character"));
}

static void test_dependent_keys(void **state)
{
    (void)state;
    config_set_defaults(&cfg);
    assert_int_equal(config_apply_option(&cfg, "mqtt.reconnect_min_ms=5000", err), 0);
    assert_int_equal(config_apply_option(&cfg, "mqtt.reconnect_max_ms=1000", err), 0);
    assert_int_equal(config_finish(&cfg, err), -1);
    assert_non_null(strstr(err, "mqtt.reconnect_min_ms (5000) must not exceed"));

    config_set_defaults(&cfg);
    assert_int_equal(config_apply_option(&cfg, "mqtt.ca_file=/etc/ca.pem", err), 0);
    assert_int_equal(config_finish(&cfg, err), -1);
    assert_non_null(strstr(err, "mqtt.tls is false"));

    config_set_defaults(&cfg);
    assert_int_equal(config_apply_option(&cfg, "mqtt.password=x", err), 0);
    assert_int_equal(config_finish(&cfg, err), -1);
    assert_string_equal(err, "mqtt.password is set but mqtt.username is empty");
}

static void test_output_sections(void **state)
{
    (void)state;
    /* two outputs of their own types, in the file's order, with their types' defaults */
    config_set_defaults(&cfg);
    assert_int_equal(
        config_load_file(&cfg,
                         write_file("[output os2iot]\ntype = os2iot-http\nurl = "
                                    "https://os2iot.example.dk/api/v1/receive-data\n"
                                    "timeout_ms = 3000\n\n[output backup]\ntype = mqtt\nhost = "
                                    "127.0.0.1\nport = 1999\nprofile = senml\n"),
                         err),
        0);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_int_equal(cfg.n_outputs, 2);
    assert_string_equal(cfg.outputs[0].name, "os2iot");
    assert_int_equal(cfg.outputs[0].type, CONFIG_OUTPUT_OS2IOT_HTTP);
    assert_int_equal(cfg.outputs[0].http.timeout_ms, 3000);
    assert_int_equal(cfg.outputs[0].http.retry_max_ms, 60000);
    assert_string_equal(cfg.outputs[1].name, "backup");
    assert_int_equal(cfg.outputs[1].mqtt.broker.port, 1999);
    assert_int_equal(cfg.outputs[1].mqtt.profile, CONFIG_PROFILE_SENML);
    assert_int_equal(cfg.mqtt.profile, CONFIG_PROFILE_JSON); /* [render]'s */
    assert_false(cfg.outputs[1].mqtt.broker.tls);            /* loopback */
    assert_string_equal(cfg.outputs[1].mqtt.status_topic, "");
    assert_string_equal(cfg.outputs[1].mqtt.topic, "sensorbro/{gateway}/{device}/up");
    assert_non_null(strstr(cfg.outputs[1].mqtt.broker.client_id, "-backup"));
    /* errors name the line and what was expected */
    expect_file_error("[output a]\nurl = https://x/y\n",
                      ":2: output a.url: the first key of [output a] must be type (mqtt or "
                      "os2iot-http)");
    expect_file_error("[output a]\ntype = ftp\n",
                      ":2: output a.type: expected one of mqtt, os2iot-http, got \"ftp\"");
    expect_file_error("[output a]\ntype = os2iot-http\nhost = x\n",
                      ":3: output a.host: not a key of this type (known for type os2iot-http: "
                      "type, url, ca_file, allow_insecure, connect_timeout_ms, timeout_ms, "
                      "retry_min_ms, retry_max_ms, refused_retry_s)");
    expect_file_error("[output a]\ntype = mqtt\nport = 1\nport = 2\n",
                      ":4: output a.port given again (first at line 3)");
    expect_file_error("[output mqtt]\ntype = mqtt\n",
                      ":2: [output mqtt]: the name mqtt is the [mqtt] section's output");
    expect_file_error("[output a b]\ntype = mqtt\n",
                      ":2: [output a b]: expected [output NAME] with NAME 1 to 63 letters, "
                      "digits, '.', '_' or '-'");
    /* checks across keys, at the key's line */
    config_set_defaults(&cfg);
    assert_int_equal(config_load_file(&cfg,
                                      write_file("[output h]\ntype = os2iot-http\n\nurl = "
                                                 "http://os2iot.example.dk/api/v1/x\n"),
                                      err),
                     0);
    assert_int_equal(config_finish(&cfg, err), -1);
    assert_non_null(strstr(err, ":4: output h.url: http:// sends every device's API key in clear"));
    config_set_defaults(&cfg);
    assert_int_equal(config_load_file(&cfg, write_file("[output h]\ntype = os2iot-http\n"), err),
                     0);
    assert_int_equal(config_finish(&cfg, err), -1);
    assert_non_null(strstr(err, ":2: output h.url: expected the URL of OS2iot's receiver"));
    config_set_defaults(&cfg);
    assert_int_equal(
        config_load_file(&cfg,
                         write_file("[output h]\ntype = os2iot-http\nurl = "
                                    "https://[::1]:8443/api/v1/receive-data?apiKey=x\n"),
                         err),
        0);
    assert_int_equal(config_finish(&cfg, err), -1);
    assert_non_null(strstr(err, ":3: output h.url: expected no query"));
    /* --set does not reach them */
    assert_int_equal(config_apply_option(&cfg, "output h.url=x", err), -1);
}

static void test_key_given_twice(void **state)
{
    (void)state;
    /* twice in the file: refused with both lines, also across two [mqtt] sections */
    expect_file_error("[mqtt]\nport = 1884\nhost = a\n[coap]\nport = 5684\n[mqtt]\nport = 1885\n",
                      ":7: mqtt.port given again (first at line 2)");
    expect_file_error("[gateway]\nid = a\n\n\nid = a\n",
                      ":5: gateway.id given again (first at line 2)");
    /* an indented line is a continuation to inih, that is the key before given again */
    expect_file_error("[mqtt]\nhost = a\n  port = 1884\n",
                      ":3: indented line (mqtt.host): start each \"key = value\" at the beginning "
                      "of its line; an indented line continues the value of the key above it");
    /* a --set over the file's key overrides it; the same --set twice is refused */
    config_set_defaults(&cfg);
    assert_int_equal(config_load_file(&cfg, write_file("[mqtt]\nport = 1884\n"), err), 0);
    assert_int_equal(config_apply_option(&cfg, "mqtt.port=1885", err), 0);
    assert_int_equal(cfg.mqtt.broker.port, 1885);
    assert_int_equal(config_apply_option(&cfg, "mqtt.port=1886", err), -1);
    assert_string_equal(err, "command line: mqtt.port given twice with --set");
    assert_int_equal(cfg.mqtt.broker.port, 1885);
    /* one file per configuration: a second one would mix the lines of two files */
    assert_int_equal(config_load_file(&cfg, path, err), -1);
    assert_non_null(strstr(err, ": one configuration file only"));
}

static void test_status_topic_off(void **state)
{
    (void)state;
    config_set_defaults(&cfg);
    assert_int_equal(config_load_file(&cfg, write_file("[mqtt]\nstatus_topic =\n"), err), 0);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_string_equal(cfg.mqtt.status_topic, "");
    expect_file_error("[mqtt]\nstatus_topic = a/+/status\n",
                      ":2: mqtt.status_topic: expected a non-empty topic without the wildcards '+' "
                      "or '#'");
}

static void test_tls_files_checked(void **state)
{
    (void)state;
    char garbage[] = "/tmp/test_config_pem.XXXXXX";
    int fd = mkstemp(garbage);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a certificate\n", 18), 18);
    close(fd);
    char text[256], expected[CONFIG_ERROR_SIZE];

    /* missing, named by the file and line that set it */
    config_set_defaults(&cfg);
    assert_int_equal(config_load_file(&cfg,
                                      write_file("[mqtt]\ntls = true\n; the CA\n"
                                                 "ca_file = /nonexistent/ca.pem\n"),
                                      err),
                     0);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_int_equal(config_check_files(&cfg, err), -1);
    snprintf(expected, sizeof(expected),
             "%s:4: mqtt.ca_file: cannot open /nonexistent/ca.pem: No such file or directory",
             path);
    assert_string_equal(err, expected);

    /* not PEM, from --set */
    config_set_defaults(&cfg);
    snprintf(text, sizeof(text), "mqtt.ca_file=%s", garbage);
    assert_int_equal(config_apply_option(&cfg, "mqtt.tls=true", err), 0);
    assert_int_equal(config_apply_option(&cfg, text, err), 0);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_int_equal(config_check_files(&cfg, err), -1);
    snprintf(expected, sizeof(expected),
             "command line: mqtt.ca_file: %s holds no PEM certificate (expected -----BEGIN "
             "CERTIFICATE-----)",
             garbage);
    assert_string_equal(err, expected);

    /* a directory, the client certificate */
    config_set_defaults(&cfg);
    assert_int_equal(
        config_load_file(
            &cfg, write_file("[mqtt]\ntls = true\ncert_file = /tmp\nkey_file = /tmp\n"), err),
        0);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_int_equal(config_check_files(&cfg, err), -1);
    snprintf(expected, sizeof(expected), "%s:3: mqtt.cert_file: /tmp is not a regular file", path);
    assert_string_equal(err, expected);

    /* lns_mqtt.ca_file only when that feed runs with TLS; empty: the system's CAs */
    config_set_defaults(&cfg);
    snprintf(text, sizeof(text), "[lns_mqtt]\ntls = true\nca_file = %s\n", garbage);
    assert_int_equal(config_load_file(&cfg, write_file(text), err), 0);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_int_equal(config_check_files(&cfg, err), 0);
    assert_int_equal(config_apply_option(&cfg, "lns_mqtt.enabled=true", err), 0);
    assert_int_equal(config_check_files(&cfg, err), -1);
    snprintf(expected, sizeof(expected), "%s:3: lns_mqtt.ca_file: %s holds no PEM certificate",
             path, garbage);
    assert_memory_equal(err, expected, strlen(expected));
    config_set_defaults(&cfg);
    assert_int_equal(config_apply_option(&cfg, "mqtt.tls=true", err), 0);
    assert_int_equal(config_check_files(&cfg, err), 0);
    unlink(garbage);
}

/* TLS is the default for a broker that is not loopback; a password in clear to one is
 * refused at the line that turned TLS off, unless allow_insecure. */
static void test_tls_default_and_insecure(void **state)
{
    (void)state;
    char expected[CONFIG_ERROR_SIZE];
    config_set_defaults(&cfg);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_false(cfg.mqtt.broker.tls); /* localhost */
    assert_false(cfg.lns_mqtt.broker.tls);

    config_set_defaults(&cfg);
    assert_int_equal(config_apply_option(&cfg, "mqtt.host=broker.example.org", err), 0);
    assert_int_equal(config_apply_option(&cfg, "lns_mqtt.host=10.1.2.3", err), 0);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_true(cfg.mqtt.broker.tls);
    assert_true(cfg.lns_mqtt.broker.tls);

    /* a loopback host with an explicit tls = true keeps it */
    config_set_defaults(&cfg);
    assert_int_equal(config_apply_option(&cfg, "mqtt.tls=true", err), 0);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_true(cfg.mqtt.broker.tls);

    static const char insecure[] = "[mqtt]\nhost = 192.0.2.7\nusername = gw\npassword = "
                                   "pw-in-clear\n; the broker has no TLS listener\ntls = no\n";
    config_set_defaults(&cfg);
    assert_int_equal(config_load_file(&cfg, write_file(insecure), err), 0);
    assert_int_equal(config_finish(&cfg, err), -1);
    snprintf(expected, sizeof(expected),
             "%s:6: mqtt.tls: false sends mqtt.password in clear to 192.0.2.7 (not loopback): "
             "keep TLS on (the default for this host), or set mqtt.allow_insecure = true",
             path);
    assert_string_equal(err, expected);
    assert_null(strstr(err, "pw-in-clear"));

    config_set_defaults(&cfg);
    assert_int_equal(config_load_file(&cfg, write_file(insecure), err), 0);
    assert_int_equal(config_apply_option(&cfg, "mqtt.allow_insecure=true", err), 0);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_false(cfg.mqtt.broker.tls);

    /* without a password plain TCP is allowed (and warned about at start) */
    config_set_defaults(&cfg);
    assert_int_equal(config_apply_option(&cfg, "mqtt.host=192.0.2.7", err), 0);
    assert_int_equal(config_apply_option(&cfg, "mqtt.tls=false", err), 0);
    assert_int_equal(config_finish(&cfg, err), 0);

    /* over loopback a password in clear is fine */
    config_set_defaults(&cfg);
    assert_int_equal(config_apply_option(&cfg, "mqtt.host=127.0.0.1", err), 0);
    assert_int_equal(config_apply_option(&cfg, "mqtt.username=gw", err), 0);
    assert_int_equal(config_apply_option(&cfg, "mqtt.password=pw", err), 0);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_false(cfg.mqtt.broker.tls);

    /* the LNS feed's broker the same, named from the command line */
    config_set_defaults(&cfg);
    assert_int_equal(config_apply_option(&cfg, "lns_mqtt.host=ns.example.org", err), 0);
    assert_int_equal(config_apply_option(&cfg, "lns_mqtt.username=ns", err), 0);
    assert_int_equal(config_apply_option(&cfg, "lns_mqtt.password=pw", err), 0);
    assert_int_equal(config_apply_option(&cfg, "lns_mqtt.tls=off", err), 0);
    assert_int_equal(config_finish(&cfg, err), -1);
    assert_string_equal(err, "command line: lns_mqtt.tls: false sends lns_mqtt.password in clear "
                             "to ns.example.org (not loopback): keep TLS on (the default for "
                             "this host), or set lns_mqtt.allow_insecure = true");
}

/* Key material and the journal must give group and others nothing. */
static void test_private_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_config_private.XXXXXX", key[64], db[64], wal[80], text[256];
    char expected[CONFIG_ERROR_SIZE];
    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof(key), "%s/gw.key", dir);
    snprintf(db, sizeof(db), "%s/j.db", dir);
    snprintf(wal, sizeof(wal), "%s-wal", db);
    FILE *f = fopen(key, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(chmod(key, 0644), 0);
    snprintf(text, sizeof(text),
             "[journal]\npath = %s\n[mqtt]\ntls = true\ncert_file = %s\nkey_file = %s\n", db, key,
             key);
    config_set_defaults(&cfg);
    assert_int_equal(config_load_file(&cfg, write_file(text), err), 0);
    assert_int_equal(config_finish(&cfg, err), 0);
    assert_int_equal(config_check_private_files(&cfg, err), -1);
    snprintf(expected, sizeof(expected),
             "%s:6: mqtt.key_file: %s is readable by group or others (mode 0644): run chmod 600 "
             "%s",
             path, key, key);
    assert_string_equal(err, expected);

    assert_int_equal(chmod(key, 0600), 0);
    assert_int_equal(config_check_private_files(&cfg, err), 0); /* no journal yet: fine */
    f = fopen(wal, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(chmod(wal, 0620), 0);
    assert_int_equal(config_check_private_files(&cfg, err), -1);
    snprintf(expected, sizeof(expected),
             "%s:2: journal.path: %s is writable or executable by group or others (mode 0620): "
             "run chmod 600 %s (it holds the devices' keys)",
             path, wal, wal);
    assert_string_equal(err, expected);
    assert_int_equal(chmod(wal, 0600), 0);
    assert_int_equal(config_check_private_files(&cfg, err), 0);
    unlink(wal);
    unlink(key);
    rmdir(dir);
}

static void test_print_masks_and_reloads(void **state)
{
    (void)state;
    config_set_defaults(&cfg);
    assert_int_equal(config_apply_option(&cfg, "mqtt.username=gw", err), 0);
    assert_int_equal(config_apply_option(&cfg, "mqtt.password=topsecret", err), 0);
    assert_int_equal(config_apply_option(&cfg, "journal.batch_max_ms=7", err), 0);
    assert_int_equal(config_finish(&cfg, err), 0);
    char *text = NULL;
    size_t size = 0;
    FILE *mem = open_memstream(&text, &size);
    config_print(&cfg, mem);
    fclose(mem);
    assert_null(strstr(text, "topsecret"));
    assert_non_null(strstr(text, "password = ********\n"));
    assert_non_null(strstr(text, "[journal]\n"));
    assert_non_null(strstr(text, "batch_max_ms = 7\n"));

    static struct config again;
    config_set_defaults(&again);
    assert_int_equal(config_load_file(&again, write_file(text), err), 0);
    free(text);
    assert_int_equal(again.journal.batch_max_ms, 7);
    assert_string_equal(again.gateway.id, cfg.gateway.id);
    assert_string_equal(again.mqtt.broker.password, "********"); /* masked, as it should be */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_kind_of_key),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_values_stay_on_error),
        cmocka_unit_test(test_set_options),
        cmocka_unit_test(test_dependent_keys),
        cmocka_unit_test(test_key_given_twice),
        cmocka_unit_test(test_output_sections),
        cmocka_unit_test(test_status_topic_off),
        cmocka_unit_test(test_tls_files_checked),
        cmocka_unit_test(test_print_masks_and_reloads),
        cmocka_unit_test(test_tls_default_and_insecure),
        cmocka_unit_test(test_private_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
