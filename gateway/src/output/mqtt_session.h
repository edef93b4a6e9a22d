/*
 * output/mqtt_session.h - one MQTT connection to one broker, with Eclipse Paho MQTTAsync: the
 * only place in sensorbro that makes Paho clients. The MQTT output (output/mqtt_output.c), the
 * LoRaWAN network server feed (ingest/lns_mqtt.c) and `sensorbroctl watch` each own one.
 *
 * What it does for its owner:
 * - Connects (MQTT 5 or 3.1.1; TLS with a CA file or the system's CAs, a client certificate,
 *   OpenSSL's own reason when a handshake fails; user name and password; a will, or none),
 *   with a clean start or a persistent session (MQTT 5 session expiry).
 * - Reconnects with its own schedule, never Paho's automatic one: a fresh Paho client per
 *   attempt, exponential backoff with full jitter between reconnect_min_ms and
 *   reconnect_max_ms (util/backoff.h), the next of the broker's addresses at once while
 *   there is an untried one (output/broker_uri.h: Paho itself tries only the first), and a
 *   slow retry, near reconnect_max_ms, after a refusal of the credentials
 *   (output/mqtt_connack.h).
 * - Publishes (QoS, retain, MQTT 5 user properties and content type) and subscribes, each
 *   with a completion that carries the broker's reason code; the same completion type for
 *   MQTT 5 and 3.1.1.
 * - Stops cleanly: an optional last message (the publisher's "offline"), a bounded wait for
 *   the acknowledgements still outstanding, a disconnect.
 *
 * What it leaves to its owner: what to do on each connection event (the owner logs it in
 * its own words, under its own name), what to subscribe to, and all bookkeeping of its own
 * messages. The session has no thread of its own: the owner's thread drives it by calling
 * mqtt_session_service whenever the session asked to be woken (callbacks.wake) or the time
 * it returned has come.
 *
 * Threads and locks. Three kinds of thread touch a session:
 * - The owner's thread: create, service, drop, stop, free. Connection events
 *   (callbacks.event) are delivered on it, from inside mqtt_session_service, with no lock of
 *   the session held: the event handler may call any function of the session.
 * - Paho's threads run callbacks.wake, callbacks.lost, callbacks.message and every
 *   completion (mqtt_session_request.done). Paho calls them while holding its one global
 *   mutex, which every Paho call of every client in the process takes. So these callbacks
 *   must be short, may take the owner's own locks, and must call no function of any
 *   session (a session function takes the session's client lock and then Paho's mutex: from
 *   under Paho's mutex that is the reverse order, a deadlock). For the same reason, never
 *   call a session function while holding a lock that one of these callbacks takes: the
 *   owner's lock order is "own lock" strictly inside "Paho callback", never around a
 *   session call. callbacks.message may block (the LNS feed waits there for its commit);
 *   every Paho call of the process then waits with it.
 * - Any thread: mqtt_session_publish, mqtt_session_subscribe, mqtt_session_is_connected
 *   (but not from the Paho callbacks above). They are safe against the owner's thread
 *   replacing or destroying the Paho client meanwhile.
 * After the Paho client of a connection is destroyed (on a failed connect, a loss,
 * mqtt_session_drop or mqtt_session_stop) no callback of it runs any more; while it is
 * being destroyed, Paho still completes (as failures) what it discards.
 *
 * Ownership. The session copies every string of its options. A request
 * (struct mqtt_session_request) belongs to the caller and must stay valid until its done
 * callback ran, which happens exactly once for every publish or subscribe that returned 0,
 * at the latest while the client is destroyed: the publisher keeps one in each of its
 * tickets, so that a publish allocates nothing.
 *
 * Errors. mqtt_session_create returns -1 with a message naming the bad option. Publish and
 * subscribe return 0 or Paho's negative code (mqtt_session_strerror words it); nothing
 * here logs, the owner decides what to say.
 */
#ifndef SENSORBRO_MQTT_SESSION_H
#define SENSORBRO_MQTT_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config_broker;

#define MQTT_SESSION_HOST_SIZE      256
#define MQTT_SESSION_PATH_SIZE      512
#define MQTT_SESSION_ID_SIZE        128
#define MQTT_SESSION_PASSWORD_SIZE  256
#define MQTT_SESSION_TOPIC_SIZE     512
#define MQTT_SESSION_WILL_SIZE      256
#define MQTT_SESSION_DESCRIBE_SIZE  256
#define MQTT_SESSION_MAX_PROPERTIES 4

struct mqtt_session_options {
    const char *host; /* a name or an address; each of its addresses is tried in turn */
    uint32_t port;
    bool tls;
    const char *ca_file;   /* NULL or "": the system's CAs (/etc/ssl/certs) */
    const char *cert_file; /* client certificate, NULL or "": none; goes with key_file */
    const char *key_file;
    const char *username;      /* NULL or "": no user name and no password */
    const char *password;      /* without tls, only to a loopback host (util/host.h) ... */
    bool allow_insecure;       /* ... unless this is set: the configuration's allow_insecure */
    const char *client_id;     /* required */
    bool mqtt5;                /* false: MQTT 3.1.1 */
    bool clean_start;          /* false: a persistent session (3.1.1: clean session off) */
    uint32_t session_expiry_s; /* MQTT 5 without clean start: how long the broker keeps it */
    uint32_t keepalive_s;
    uint32_t connect_timeout_s;
    uint32_t max_inflight;  /* Paho's maxInflight; 0: Paho's default */
    uint32_t max_buffered;  /* Paho's maxBufferedMessages; 0: Paho's default (100) */
    const char *will_topic; /* NULL or "": no will */
    const char *will_payload;
    bool will_retain;
    int will_qos;
    uint32_t reconnect_min_ms; /* full jitter between these (both > 0, min <= max) */
    uint32_t reconnect_max_ms;
};

enum mqtt_session_event_type {
    MQTT_SESSION_CONNECTING,     /* an attempt starts (server_uri) */
    MQTT_SESSION_CONNECTED,      /* the broker accepted the connection */
    MQTT_SESSION_CONNECT_FAILED, /* the attempt failed; its client is destroyed */
    MQTT_SESSION_LOST,           /* an accepted connection went away; its client is destroyed */
};

enum mqtt_session_failure {
    MQTT_SESSION_FAILED_BROKER, /* the broker refused, or the network or TLS failed */
    MQTT_SESSION_FAILED_CREATE, /* Paho could not make a client (retried slowly) */
    MQTT_SESSION_FAILED_START,  /* Paho refused to start connecting */
};

struct mqtt_session_event {
    enum mqtt_session_event_type type;
    const char *server_uri; /* the address of the attempt, e.g. tcp://127.0.0.1:1883 */
    /* CONNECTED */
    uint32_t reconnect_attempts; /* scheduled reconnects before this success; 0: at once */
    /* CONNECT_FAILED */
    enum mqtt_session_failure failure;
    const char *description; /* "Not authorized (reason 0x87)", "... (TLS: ...)" */
    int paho_code;           /* Paho's return code (FAILED_CREATE, FAILED_START) */
    bool authorisation;      /* the credentials were refused: retried slowly */
    bool next_address;       /* the broker's next address is tried at once */
    bool repeated;           /* the same description as the failure before (not logged) */
    int64_t retry_in_ms;     /* when the next attempt starts (when !next_address) */
    /* LOST */
    const char *cause; /* Paho's words, often "" */
};

/* The result of a publish or subscribe, for MQTT 5 and 3.1.1 alike. */
struct mqtt_session_result {
    bool ok;         /* acknowledged with a success code (reason < 0x80, a granted QoS) */
    int reason_code; /* MQTT 5 reason code; 3.1.1 SUBACK: the granted QoS or 0x80; else 0 */
    int paho_code;   /* Paho's code when Paho itself failed it (connection gone), else 0 */
};

typedef void (*mqtt_session_done_fn)(void *ctx, const struct mqtt_session_result *result);

/* A publish or subscribe in flight: owned by the caller, valid until done ran. */
struct mqtt_session_request {
    mqtt_session_done_fn done; /* NULL: nobody waits for it */
    void *ctx;
    struct mqtt_session *session; /* set by the session */
};

struct mqtt_session_property {
    const char *key;
    const char *value;
};

struct mqtt_session_message {
    const char *topic;
    const void *payload;
    size_t payload_len;
    int qos;
    bool retain;
    const char *content_type;                            /* MQTT 5 only; NULL: none */
    const struct mqtt_session_property *user_properties; /* MQTT 5 only */
    size_t n_user_properties;                            /* at most MQTT_SESSION_MAX_PROPERTIES */
};

struct mqtt_session_callbacks {
    void *ctx;
    /* Paho's thread: something waits in mqtt_session_service. Required. */
    void (*wake)(void *ctx);
    /* Paho's thread, at the moment an accepted connection is lost, before the LOST event.
     * May be NULL. */
    void (*lost)(void *ctx);
    /* Paho's thread: a message arrived on a subscription. The payload is valid during the
     * call only; the broker gets its PUBACK (QoS 1) after the call returns. May be NULL
     * (messages are then dropped). */
    void (*message)(void *ctx, const char *topic, size_t topic_len, const void *payload,
                    size_t payload_len);
    /* The owner's thread, inside mqtt_session_service. Required. */
    void (*event)(void *ctx, const struct mqtt_session_event *event);
};

struct mqtt_session;

/* Paho's process-wide set-up (OpenSSL included): once, before the first session. */
void mqtt_session_global_init(void);

/* Fills o with a broker block of the configuration (host, port, TLS files, credentials,
 * client id, protocol, keep-alive, connect timeout, reconnect bounds) and defaults for the
 * rest: clean start, no will, Paho's window and buffer. o points into b. */
void mqtt_session_options_from_config(struct mqtt_session_options *o,
                                      const struct config_broker *b);

/* Checks o: returns 0, or -1 with what is wrong in err. A password without TLS to a host
 * that is not loopback is wrong unless allow_insecure is set: the configuration refuses
 * it already (config_finish), and this keeps every other caller to the same rule. */
int mqtt_session_check_options(const struct mqtt_session_options *o, char *err, size_t err_size);

/* Makes a session; it connects at its first mqtt_session_service. Returns 0, or -1 with err
 * (a bad option, out of memory). */
int mqtt_session_create(struct mqtt_session **out, const struct mqtt_session_options *o,
                        const struct mqtt_session_callbacks *cb, char *err, size_t err_size);

/* The owner's thread: delivers the connection events that happened since the last call
 * (callbacks.event) and starts a connection attempt when one is due. Returns the monotonic
 * time (clock_mono_ms) by which it wants to be called again; INT64_MAX when only a wake
 * can make work for it. */
int64_t mqtt_session_service(struct mqtt_session *s);

enum mqtt_session_retry {
    MQTT_SESSION_RETRY_BACKOFF, /* the next attempt after the usual jittered backoff */
    MQTT_SESSION_RETRY_SLOW,    /* near reconnect_max_ms, as after refused credentials */
    MQTT_SESSION_RETRY_AT,      /* at at_mono_ms */
};

/* The owner's thread: destroys the current connection's client at once (no goodbye; none
 * of its callbacks runs after this returns; no event is delivered for it) and schedules the
 * next attempt. For a connection the owner gives up on: a refused publish, a refused
 * subscription. */
void mqtt_session_drop(struct mqtt_session *s, enum mqtt_session_retry retry, int64_t at_mono_ms);

/* Any thread but Paho's callbacks. Hands a message to Paho; req (may be NULL with QoS 0 or
 * when nobody waits) gets its result later. Returns 0, or Paho's code (not connected,
 * too many buffered, bad topic) and req->done is not called. */
int mqtt_session_publish(struct mqtt_session *s, const struct mqtt_session_message *m,
                         struct mqtt_session_request *req);

/* Any thread but Paho's callbacks. Subscribes to filter at qos. Returns as publish. */
int mqtt_session_subscribe(struct mqtt_session *s, const char *filter, int qos,
                           struct mqtt_session_request *req);

/* Any thread but Paho's callbacks: whether the broker accepted the current connection and
 * it was not lost since. */
bool mqtt_session_is_connected(struct mqtt_session *s);

/* The owner's thread. If connected: publishes last (when not NULL), waits up to drain_ms
 * for every outstanding publish and subscribe to complete (not at all when last could not
 * be handed over), disconnects (waiting up to a second), then destroys the client. No event
 * is delivered for it and no attempt follows; the session may only be freed afterwards. */
void mqtt_session_stop(struct mqtt_session *s, const struct mqtt_session_message *last,
                       uint32_t drain_ms);

/* Destroys the client if any (no goodbye) and frees the session. NULL is accepted. */
void mqtt_session_free(struct mqtt_session *s);

/* Paho's words for one of its return codes; an MQTT 5 reason code's name. */
const char *mqtt_session_strerror(int paho_code);
const char *mqtt_session_reason_string(int reason_code);

#endif
