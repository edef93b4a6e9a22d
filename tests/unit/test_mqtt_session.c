/*
 * test_mqtt_session.c - output/mqtt_session.c where no broker is needed: every option that
 * is refused (and why), the options a configuration's broker block gives, and one session
 * against a loopback port where nothing listens: it reports the attempt, then its failure
 * with Paho's words and a retry inside reconnect_max_ms, refuses to publish while not
 * connected (no completion follows), and stops and frees cleanly. What a real broker does
 * (connect, publish, subscribe, will, TLS) is in tests/integration (mosquitto).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "config.h"
#include "output/mqtt_session.h"
#include "util/clock.h"

static struct mqtt_session_options good(void)
{
    return (struct mqtt_session_options){.host = "127.0.0.1",
                                         .port = 1883,
                                         .client_id = "test",
                                         .mqtt5 = true,
                                         .clean_start = true,
                                         .keepalive_s = 30,
                                         .connect_timeout_s = 5,
                                         .reconnect_min_ms = 100,
                                         .reconnect_max_ms = 1000};
}

/* check_options on o must fail with a message containing expected. */
static void refused(struct mqtt_session_options o, const char *expected)
{
    char err[256] = "";
    assert_int_equal(mqtt_session_check_options(&o, err, sizeof(err)), -1);
    if (strstr(err, expected) == NULL)
        fail_msg("expected \"%s\" in \"%s\"", expected, err);
}

static void test_options_refused(void **state)
{
    (void)state;
    char err[256];
    struct mqtt_session_options o = good();
    assert_int_equal(mqtt_session_check_options(&o, err, sizeof(err)), 0);

    o = good(), o.host = "";
    refused(o, "host: expected a host name");
    o = good(), o.host = NULL;
    refused(o, "host: expected a host name");
    o = good(), o.host = "a b";
    refused(o, "host: expected a host name");
    char long_host[MQTT_SESSION_HOST_SIZE + 1];
    memset(long_host, 'h', sizeof(long_host) - 1);
    long_host[sizeof(long_host) - 1] = '\0';
    o = good(), o.host = long_host;
    refused(o, "host: longer than 255 characters");
    o = good(), o.port = 0;
    refused(o, "port: expected 1 to 65535");
    o = good(), o.port = 65536;
    refused(o, "port: expected 1 to 65535");
    o = good(), o.client_id = "";
    refused(o, "client_id: required");
    o = good(), o.tls = true, o.cert_file = "/c.pem";
    refused(o, "cert_file and key_file go together");
    /* a password in clear only over loopback, or with allow_insecure */
    o = good(), o.host = "broker.example.org", o.username = "u", o.password = "p";
    refused(o, "password: would go in clear to broker.example.org, which is not loopback");
    o.allow_insecure = true;
    assert_int_equal(mqtt_session_check_options(&o, err, sizeof(err)), 0);
    o.allow_insecure = false, o.tls = true;
    assert_int_equal(mqtt_session_check_options(&o, err, sizeof(err)), 0);
    o = good(), o.host = "localhost", o.username = "u", o.password = "p";
    assert_int_equal(mqtt_session_check_options(&o, err, sizeof(err)), 0);
    o = good(), o.ca_file = "/ca.pem";
    refused(o, "tls is off");
    o = good(), o.cert_file = "/c.pem", o.key_file = "/k.pem";
    refused(o, "tls is off");
    o = good(), o.password = "secret";
    refused(o, "password is set but username is empty");
    o = good(), o.keepalive_s = 70000;
    refused(o, "keepalive_s");
    o = good(), o.connect_timeout_s = 0;
    refused(o, "connect_timeout_s");
    o = good(), o.max_inflight = 70000;
    refused(o, "max_inflight");
    o = good(), o.session_expiry_s = 60;
    refused(o, "session_expiry_s needs a persistent session");
    o = good(), o.reconnect_min_ms = 0;
    refused(o, "reconnect_min_ms (0)");
    o = good(), o.reconnect_min_ms = 2000;
    refused(o, "must be at least 1 and not exceed reconnect_max_ms (1000)");
    o = good(), o.will_topic = "a/+/status";
    refused(o, "will: expected a topic without wildcards");
    o = good(), o.will_topic = "a/status", o.will_qos = 3;
    refused(o, "will:");

    /* what is allowed: TLS with files, a persistent session, a will */
    o = good(), o.tls = true, o.ca_file = "/ca.pem", o.cert_file = "/c.pem", o.key_file = "/k.pem",
    o.username = "u", o.password = "p", o.clean_start = false, o.session_expiry_s = 86400,
    o.will_topic = "gw/status", o.will_payload = "offline";
    assert_int_equal(mqtt_session_check_options(&o, err, sizeof(err)), 0);

    /* create refuses the same, and leaves *out NULL */
    static int dummy;
    struct mqtt_session *s = (struct mqtt_session *)&dummy;
    struct mqtt_session_callbacks cb = {0};
    o = good(), o.port = 0;
    assert_int_equal(mqtt_session_create(&s, &o, &cb, err, sizeof(err)), -1);
    assert_null(s);
    o = good(); /* good options, but no wake or event callback */
    assert_int_equal(mqtt_session_create(&s, &o, &cb, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "callbacks"));
    assert_null(s);
    mqtt_session_free(NULL);
}

static void test_options_from_config(void **state)
{
    (void)state;
    static struct config cfg;
    char err[CONFIG_ERROR_SIZE];
    config_set_defaults(&cfg);
    assert_int_equal(config_apply_option(&cfg, "mqtt.protocol=3.1.1", err), 0);
    assert_int_equal(config_apply_option(&cfg, "mqtt.keepalive_s=45", err), 0);
    assert_int_equal(config_apply_option(&cfg, "lns_mqtt.host=lns.example", err), 0);
    assert_int_equal(config_apply_option(&cfg, "gateway.id=gw", err), 0);
    assert_int_equal(config_finish(&cfg, err), 0);
    struct mqtt_session_options o;
    mqtt_session_options_from_config(&o, &cfg.mqtt.broker);
    assert_string_equal(o.host, "localhost");
    assert_int_equal(o.port, 1883);
    assert_false(o.mqtt5);
    assert_true(o.clean_start);
    assert_int_equal(o.keepalive_s, 45);
    assert_int_equal(o.connect_timeout_s, 10);
    assert_int_equal(o.reconnect_min_ms, 1000);
    assert_int_equal(o.reconnect_max_ms, 60000);
    assert_string_equal(o.client_id, "sensorbro-gw");
    assert_null(o.will_topic);
    assert_int_equal(mqtt_session_check_options(&o, err, sizeof(err)), 0);

    /* [lns_mqtt]: its own broker keys, [mqtt]'s connect timeout and reconnect bounds */
    mqtt_session_options_from_config(&o, &cfg.lns_mqtt.broker);
    assert_string_equal(o.host, "lns.example");
    assert_true(o.mqtt5);
    assert_int_equal(o.keepalive_s, 30);
    assert_int_equal(o.connect_timeout_s, 10);
    assert_int_equal(o.reconnect_max_ms, 60000);
    assert_string_equal(o.client_id, "sensorbro-lns-gw");
    assert_string_equal(o.cert_file, "");
    assert_int_equal(mqtt_session_check_options(&o, err, sizeof(err)), 0);
}

/* ---- a session against a port where nothing listens ---- */

struct observed {
    int wakes;
    int connecting, failed, other;
    struct mqtt_session_event failure;
    char description[MQTT_SESSION_DESCRIBE_SIZE];
    int done_calls;
};

static void on_wake(void *ctx)
{
    __atomic_fetch_add(&((struct observed *)ctx)->wakes, 1, __ATOMIC_SEQ_CST);
}

static void on_event(void *ctx, const struct mqtt_session_event *ev)
{
    struct observed *seen = ctx;
    if (ev->type == MQTT_SESSION_CONNECTING) {
        seen->connecting++;
    } else if (ev->type == MQTT_SESSION_CONNECT_FAILED) {
        seen->failed++;
        seen->failure = *ev;
        snprintf(seen->description, sizeof(seen->description), "%s", ev->description);
    } else {
        seen->other++;
    }
}

static void on_done(void *ctx, const struct mqtt_session_result *result)
{
    (void)result;
    ((struct observed *)ctx)->done_calls++;
}

/* A loopback TCP port that was free a moment ago (bound, then closed). */
static uint16_t closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void test_nobody_listening(void **state)
{
    (void)state;
    static struct observed seen;
    struct mqtt_session_options o = good();
    o.port = closed_port();
    o.reconnect_min_ms = 200;
    o.reconnect_max_ms = 400;
    struct mqtt_session_callbacks cb = {.ctx = &seen, .wake = on_wake, .event = on_event};
    struct mqtt_session *s = NULL;
    char err[256];
    assert_int_equal(mqtt_session_create(&s, &o, &cb, err, sizeof(err)), 0);
    assert_false(mqtt_session_is_connected(s));

    /* the first service starts the first attempt at once */
    assert_true(mqtt_session_service(s) == INT64_MAX); /* a client exists: wake-driven */
    assert_int_equal(seen.connecting, 1);

    struct mqtt_session_request req = {.done = on_done, .ctx = &seen};
    struct mqtt_session_message m = {.topic = "t", .payload = "x", .payload_len = 1, .qos = 1};
    assert_int_not_equal(mqtt_session_publish(s, &m, &req), 0); /* not connected */
    assert_int_not_equal(mqtt_session_subscribe(s, "t/#", 1, &req), 0);

    /* the refused TCP connection comes back as a failure (bounded wait: 10 s) */
    int64_t due = INT64_MAX;
    for (int i = 0; i < 1000 && seen.failed == 0; i++) {
        struct timespec pause = {.tv_nsec = 10 * 1000000L};
        nanosleep(&pause, NULL);
        if (__atomic_load_n(&seen.wakes, __ATOMIC_SEQ_CST) > 0)
            due = mqtt_session_service(s);
    }
    assert_int_equal(seen.failed, 1);
    assert_int_equal(seen.other, 0);
    assert_int_equal(seen.failure.failure, MQTT_SESSION_FAILED_BROKER);
    assert_false(seen.failure.next_address); /* 127.0.0.1 has one address */
    assert_false(seen.failure.authorisation);
    assert_false(seen.failure.repeated);
    assert_true(seen.failure.retry_in_ms >= 0 && seen.failure.retry_in_ms <= 400);
    assert_non_null(strstr(seen.description, "TCP/TLS connect failure"));
    /* no client now: the session asks to be called when the next attempt is due */
    assert_true(due != INT64_MAX && due <= clock_mono_ms() + 400);
    assert_false(mqtt_session_is_connected(s));

    mqtt_session_stop(s, NULL, 100);
    assert_true(mqtt_session_service(s) == INT64_MAX); /* stopped: no attempt follows */
    assert_int_equal(seen.connecting, 1);
    mqtt_session_free(s);
    assert_int_equal(seen.done_calls, 0); /* nothing was handed over, nothing completes */
}

int main(void)
{
    mqtt_session_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options_refused),
        cmocka_unit_test(test_options_from_config),
        cmocka_unit_test(test_nobody_listening),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
