/*
 * paho_ceiling.c - sb-paho-ceiling, the benchmark's client ceiling (tests/bench/run,
 * docs/performance.md): Paho MQTTAsync alone, publishing QoS 1 to a broker as fast as the
 * broker acknowledges, with no journal, no decode and no rendering. What the gateway does
 * on top of this costs the difference.
 *
 *   sb-paho-ceiling --port P --payload-file F (--duration S | --count N)
 *                   [--max-inflight M] [--paho-max-inflight M2] [--topics T]
 *                   [--client-id ID] [--protocol 5|3.1.1] [--host H]
 *   sb-paho-ceiling --port P --messages FILE --rate R [...]
 *
 * Ceiling mode publishes the bytes of --payload-file (the benchmark passes one message the
 * gateway published in the same run, so the size is the gateway's own) round robin on T
 * topics (sensorbro-bench/ceiling/<k>, default 50, like the gateway's per-device topics).
 * Feed mode publishes each line of FILE, "topic<TAB>payload", once, in order, paced at R
 * messages per second: the benchmark feeds the gateway's LNS ingest ChirpStack events this
 * way.
 *
 * The application's window of publishes awaiting their PUBACK is --max-inflight (default
 * 32, the gateway's mqtt.max_inflight default), and Paho's maxInflight is the same: handing
 * Paho more QoS 1 messages than maxInflight stalls it (DESIGN.md, pitfalls), and with the
 * window full the next sendMessage waits for a PUBACK instead of queueing in Paho's
 * buffer. Paho refuses a send (-12) once maxBufferedMessages commands are queued, connected
 * or not, so that is set as the gateway sets it (twice the window, plus 16).
 * --paho-max-inflight sets Paho's maxInflight apart from the window, to try the pitfall on
 * purpose. MQTT 5 by default, as the gateway; a PUBACK with a reason code >= 0x80 counts
 * as failed.
 *
 * Threads: main publishes; Paho's own thread runs the callbacks, which touch only the
 * counters under `lock`. Prints one line to stdout at the end:
 *   published N acknowledged A failed F in S s: R msg/s, payload B bytes (last PUBACK after T s)
 * where R counts the PUBACKs that arrived within the S seconds of publishing.
 * Exit status: 0 when every publish was acknowledged, 1 otherwise, 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <MQTTAsync.h>

#define MAX_PAYLOAD_BYTES 65536
#define MAX_TOPIC_BYTES   256
#define MAX_LINE_BYTES    (MAX_PAYLOAD_BYTES + MAX_TOPIC_BYTES + 2)
#define MAX_MESSAGES      10000000u
#define CONNECT_WAIT_S    10
#define FINAL_WAIT_S      30

struct message {
    char *topic;
    char *payload;
    size_t payload_len;
};

struct ceiling {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    unsigned outstanding; /* publishes handed to Paho and not yet answered */
    uint64_t acked, failed;
    bool connected, connect_failed;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void answered(struct ceiling *c, bool ok)
{
    pthread_mutex_lock(&c->lock);
    c->outstanding--;
    if (ok)
        c->acked++;
    else
        c->failed++;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

static void on_sent5(void *context, MQTTAsync_successData5 *response)
{
    answered(context, response->reasonCode < 0x80);
}

static void on_send_failed5(void *context, MQTTAsync_failureData5 *response)
{
    (void)response;
    answered(context, false);
}

static void on_sent(void *context, MQTTAsync_successData *response)
{
    (void)response;
    answered(context, true);
}

static void on_send_failed(void *context, MQTTAsync_failureData *response)
{
    (void)response;
    answered(context, false);
}

static void connect_done(struct ceiling *c, bool ok)
{
    pthread_mutex_lock(&c->lock);
    c->connected = ok;
    c->connect_failed = !ok;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

static void on_connect5(void *context, MQTTAsync_successData5 *response)
{
    (void)response;
    connect_done(context, true);
}

static void on_connect_failed5(void *context, MQTTAsync_failureData5 *response)
{
    (void)response;
    connect_done(context, false);
}

static void on_connect(void *context, MQTTAsync_successData *response)
{
    (void)response;
    connect_done(context, true);
}

static void on_connect_failed(void *context, MQTTAsync_failureData *response)
{
    (void)response;
    connect_done(context, false);
}

static void on_connection_lost(void *context, char *cause)
{
    struct ceiling *c = context;
    fprintf(stderr, "sb-paho-ceiling: connection lost: %s\n", cause ? cause : "(no reason)");
    pthread_mutex_lock(&c->lock);
    c->connected = false;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *m)
{
    (void)context;
    (void)topic_len;
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1;
}

/* Reads the whole file into a fresh buffer of at most max bytes. */
static char *read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "sb-paho-ceiling: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    bool bad = buf == NULL || ferror(f) || n == 0 || n > max;
    fclose(f);
    if (bad) {
        fprintf(stderr, "sb-paho-ceiling: %s: empty, unreadable or over %zu bytes\n", path, max);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Splits the feed file in place into messages: lines "topic<TAB>payload". */
static struct message *parse_feed(char *text, size_t len, size_t *count)
{
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    lines++;
    if (lines > MAX_MESSAGES) {
        fprintf(stderr, "sb-paho-ceiling: more than %u messages\n", MAX_MESSAGES);
        return NULL;
    }
    struct message *m = calloc(lines, sizeof(*m));
    if (m == NULL)
        return NULL;
    size_t n = 0;
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *line_end = nl ? nl : end;
        *line_end = '\0';
        if (line_end > p) {
            char *tab = memchr(p, '\t', (size_t)(line_end - p));
            if (tab == NULL || tab == p || (size_t)(tab - p) >= MAX_TOPIC_BYTES) {
                fprintf(stderr, "sb-paho-ceiling: line %zu: expected topic<TAB>payload\n", n + 1);
                free(m);
                return NULL;
            }
            *tab = '\0';
            m[n].topic = p;
            m[n].payload = tab + 1;
            m[n].payload_len = (size_t)(line_end - tab - 1);
            n++;
        }
        p = line_end + 1;
    }
    *count = n;
    return m;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: sb-paho-ceiling --port P --payload-file F (--duration S | --count N)\n"
                 "                       [--max-inflight M] [--paho-max-inflight M2] [--topics T]\n"
                 "                       [--client-id ID]\n"
                 "                       [--protocol 5|3.1.1] [--host H]\n"
                 "       sb-paho-ceiling --port P --messages FILE --rate R [...]\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"host", required_argument, NULL, 'H'},
                                         {"port", required_argument, NULL, 'p'},
                                         {"payload-file", required_argument, NULL, 'f'},
                                         {"messages", required_argument, NULL, 'm'},
                                         {"rate", required_argument, NULL, 'r'},
                                         {"duration", required_argument, NULL, 'd'},
                                         {"count", required_argument, NULL, 'c'},
                                         {"max-inflight", required_argument, NULL, 'i'},
                                         {"paho-max-inflight", required_argument, NULL, 'I'},
                                         {"topics", required_argument, NULL, 't'},
                                         {"client-id", required_argument, NULL, 'C'},
                                         {"protocol", required_argument, NULL, 'P'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *host = "127.0.0.1", *payload_path = NULL, *feed_path = NULL;
    const char *client_id = "sb-paho-ceiling";
    unsigned port = 0, max_inflight = 32, paho_max_inflight = 0, topics = 50;
    unsigned long long count = 0;
    double rate = 0, duration_s = 0;
    int mqtt_version = MQTTVERSION_5;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'H':
            host = optarg;
            break;
        case 'p':
            port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'f':
            payload_path = optarg;
            break;
        case 'm':
            feed_path = optarg;
            break;
        case 'r':
            rate = strtod(optarg, NULL);
            break;
        case 'd':
            duration_s = strtod(optarg, NULL);
            break;
        case 'c':
            count = strtoull(optarg, NULL, 10);
            break;
        case 'i':
            max_inflight = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'I':
            paho_max_inflight = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 't':
            topics = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'C':
            client_id = optarg;
            break;
        case 'P':
            if (strcmp(optarg, "5") == 0) {
                mqtt_version = MQTTVERSION_5;
            } else if (strcmp(optarg, "3.1.1") == 0) {
                mqtt_version = MQTTVERSION_3_1_1;
            } else {
                usage(stderr);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    bool feed = feed_path != NULL;
    if (port == 0 || port > 65535 || max_inflight == 0 || max_inflight > 65535 || topics == 0 ||
        topics > 100000 || (feed == (payload_path != NULL)) || (feed && !(rate > 0)) ||
        (!feed && count == 0 && !(duration_s > 0)) || duration_s > 86400) {
        usage(stderr);
        return 2;
    }

    size_t text_len = 0, n_messages = 0;
    char *text = read_file(feed ? feed_path : payload_path,
                           feed ? (size_t)1 << 30 : (size_t)MAX_PAYLOAD_BYTES, &text_len);
    if (text == NULL)
        return 2;
    struct message *messages = NULL;
    if (feed) {
        messages = parse_feed(text, text_len, &n_messages);
        if (messages == NULL || n_messages == 0) {
            fprintf(stderr, "sb-paho-ceiling: %s: no messages\n", feed_path);
            return 2;
        }
    }

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    struct ceiling c = {.lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};
    char uri[300];
    snprintf(uri, sizeof(uri), "tcp://%s:%u", host, port);
    MQTTAsync client;
    MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer;
    create.MQTTVersion = mqtt_version;
    create.maxBufferedMessages = (int)max_inflight * 2 + 16;
    if (MQTTAsync_createWithOptions(&client, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                    &create) != MQTTASYNC_SUCCESS ||
        MQTTAsync_setCallbacks(client, &c, on_connection_lost, on_message, NULL) !=
            MQTTASYNC_SUCCESS) {
        fprintf(stderr, "sb-paho-ceiling: cannot create the Paho client for %s\n", uri);
        return 2;
    }
    MQTTAsync_connectOptions conn =
        mqtt_version == MQTTVERSION_5
            ? (MQTTAsync_connectOptions)MQTTAsync_connectOptions_initializer5
            : (MQTTAsync_connectOptions)MQTTAsync_connectOptions_initializer;
    conn.keepAliveInterval = 30;
    conn.maxInflight = (int)(paho_max_inflight ? paho_max_inflight : max_inflight);
    conn.context = &c;
    if (mqtt_version == MQTTVERSION_5) {
        conn.cleanstart = 1;
        conn.onSuccess5 = on_connect5;
        conn.onFailure5 = on_connect_failed5;
    } else {
        conn.cleansession = 1;
        conn.onSuccess = on_connect;
        conn.onFailure = on_connect_failed;
    }
    int rc = MQTTAsync_connect(client, &conn);
    pthread_mutex_lock(&c.lock);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += CONNECT_WAIT_S;
    while (rc == MQTTASYNC_SUCCESS && !c.connected && !c.connect_failed)
        if (pthread_cond_timedwait(&c.changed, &c.lock, &until) == ETIMEDOUT)
            break;
    bool connected = c.connected;
    pthread_mutex_unlock(&c.lock);
    if (!connected) {
        fprintf(stderr, "sb-paho-ceiling: cannot connect to %s\n", uri);
        MQTTAsync_destroy(&client);
        return 2;
    }

    char(*topic_names)[64] = NULL;
    if (!feed) {
        topic_names = calloc(topics, sizeof(*topic_names));
        if (topic_names == NULL)
            return 2;
        for (unsigned k = 0; k < topics; k++)
            snprintf(topic_names[k], sizeof(topic_names[k]), "sensorbro-bench/ceiling/%u", k);
    }

    uint64_t published = 0, send_errors = 0;
    double start_s = mono_s();
    for (;;) {
        if (stop_requested)
            break;
        if (feed && published >= n_messages)
            break;
        if (!feed && count > 0 && published >= count)
            break;
        double now_s = mono_s();
        if (!feed && duration_s > 0 && now_s - start_s >= duration_s)
            break;
        if (feed) {
            double due_s = start_s + (double)published / rate;
            if (due_s > now_s) {
                double wait_s = due_s - now_s;
                struct timespec d = {.tv_sec = (time_t)wait_s,
                                     .tv_nsec = (long)((wait_s - (double)(time_t)wait_s) * 1e9)};
                nanosleep(&d, NULL);
                continue;
            }
        }
        /* The window: wait for a PUBACK while max_inflight publishes are out. */
        pthread_mutex_lock(&c.lock);
        bool lost = false;
        while (c.outstanding >= max_inflight && !stop_requested) {
            if (!c.connected) {
                lost = true;
                break;
            }
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += 1;
            pthread_cond_timedwait(&c.changed, &c.lock, &until);
        }
        lost = lost || !c.connected;
        if (!lost)
            c.outstanding++;
        pthread_mutex_unlock(&c.lock);
        if (lost) {
            fprintf(stderr, "sb-paho-ceiling: disconnected; stopping\n");
            break;
        }
        const char *topic = feed ? messages[published].topic : topic_names[published % topics];
        const char *payload = feed ? messages[published].payload : text;
        size_t payload_len = feed ? messages[published].payload_len : text_len;
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        ro.context = &c;
        if (mqtt_version == MQTTVERSION_5) {
            ro.onSuccess5 = on_sent5;
            ro.onFailure5 = on_send_failed5;
        } else {
            ro.onSuccess = on_sent;
            ro.onFailure = on_send_failed;
        }
        MQTTAsync_message m = MQTTAsync_message_initializer;
        m.payload = (void *)payload;
        m.payloadlen = (int)payload_len;
        m.qos = 1;
        m.retained = 0;
        rc = MQTTAsync_sendMessage(client, topic, &m, &ro);
        if (rc != MQTTASYNC_SUCCESS) {
            pthread_mutex_lock(&c.lock);
            c.outstanding--;
            pthread_mutex_unlock(&c.lock);
            if (send_errors++ == 0)
                fprintf(stderr, "sb-paho-ceiling: sendMessage returned %d (%s)\n", rc,
                        MQTTAsync_strerror(rc));
            struct timespec pause = {.tv_nsec = 1000000};
            nanosleep(&pause, NULL);
            if (send_errors > 1000)
                break;
            continue;
        }
        published++;
    }
    /* The rate counts the PUBACKs received while publishing: the last few publishes may
     * wait up to a second in Paho's queue for its send thread's next tick once nothing
     * new arrives (DESIGN.md, pitfalls), which says nothing about the rate. */
    double publishing_s = mono_s() - start_s;
    pthread_mutex_lock(&c.lock);
    uint64_t acked_while_publishing = c.acked;
    pthread_mutex_unlock(&c.lock);
    /* The last PUBACKs, bounded. */
    pthread_mutex_lock(&c.lock);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += FINAL_WAIT_S;
    while (c.outstanding > 0 && c.connected)
        if (pthread_cond_timedwait(&c.changed, &c.lock, &until) == ETIMEDOUT)
            break;
    uint64_t acked = c.acked, failed = c.failed;
    pthread_mutex_unlock(&c.lock);
    double elapsed_s = mono_s() - start_s;

    MQTTAsync_disconnectOptions disc = MQTTAsync_disconnectOptions_initializer;
    disc.timeout = 1000;
    MQTTAsync_disconnect(client, &disc);
    struct timespec settle = {.tv_nsec = 100000000};
    nanosleep(&settle, NULL);
    MQTTAsync_destroy(&client);

    size_t shown_len = feed ? messages[0].payload_len : text_len;
    printf("published %" PRIu64 " acknowledged %" PRIu64 " failed %" PRIu64
           " in %.3f s: %.1f msg/s, payload %zu bytes (last PUBACK after %.3f s)\n",
           published, acked, failed + send_errors, publishing_s,
           publishing_s > 0 ? (double)acked_while_publishing / publishing_s : 0.0, shown_len,
           elapsed_s);
    free(topic_names);
    free(messages);
    free(text);
    return acked == published && failed == 0 && send_errors == 0 ? 0 : 1;
}
