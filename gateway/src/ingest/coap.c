/*
 * ingest/coap.c - the CoAP adapter behind ingest/coap.h: the libcoap transport only; the
 * decode, the journal writer and the wait for the commit are the ingest core's
 * (ingest/ingest.h, where a sensor is acknowledged).
 *
 * Life of one POST: receive_request checks path, method and size, has the core classify the
 * payload, parks the request with libcoap (coap_register_async) and has the core submit the
 * frame, with a struct pending_post as context. After the commit the core runs
 * trigger_reply on the adapter's thread (ingest_complete, from the loop's epoll), which asks
 * libcoap to call the handler again; that call is reply_post, which writes the response
 * from the commit's result and tells the core the post is answered.
 *
 * libcoap's async rule, in this one place. libcoap 4.3 calls one request handler both for
 * a new request and, after coap_async_trigger, for a parked one: handle_request tells the
 * two apart by finding the request's async (coap_find_async) and goes to receive_request or
 * reply_post. The response PDU exists only inside the handler, so the answer can only be
 * written there. libcoap frees a triggered async itself once that second call returns:
 * reply_post must not call coap_free_async (a use-after-free, valgrind shows it), while
 * receive_request, which is not a triggered call, must free the async it registered when the
 * writer refuses the frame.
 *
 * Who may post. Two endpoints share the context: DTLS-PSK (coap.dtls_port) and NoSec
 * (coap.port). libcoap asks validate_psk_identity for the key of a handshake's identity (a
 * device EUI); sender_allowed then checks each request: a DTLS session for its own EUI and
 * a key the registry still holds, NoSec only while it is on and only for devices without a
 * key, and either only for registered devices (unless coap.accept_unregistered). Both read
 * the adapter's cache of the registry (struct device_entry), dropped whenever the
 * registry's settings generation moves (registry_refresh, at most once a second). The
 * registry connection is read-only and used from the adapter's thread only.
 */
#include "ingest/coap.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <coap3/coap.h>
#include <openssl/crypto.h>

#include "frame.h"
#include "lorawan/registry.h"
#include "util/hex.h"
#include "ingest/ingest.h"
#include "util/backoff.h"
#include "util/clock.h"
#include "report.h"
#include "util/log.h"

/* A 5.03 tells the sender to come back after Max-Age seconds, drawn from this range so
 * that senders turned away together do not all return together. */
#define UNAVAILABLE_MAX_AGE_MIN_S 2
#define UNAVAILABLE_MAX_AGE_MAX_S 8
#define LOOP_MAX_WAIT_MS          1000
/* The registry's generation is read at most this often: a key set with sensorbroctl takes
 * effect within it. */
#define REGISTRY_POLL_MS  1000
#define DEVICE_CACHE_SIZE 256 /* devices looked up recently; a miss reads the registry */
#define PSK_MAX_BYTES     32
#define REGISTRY_BUSY_MS  200

/* What the registry says of one device, as the adapter last read it. */
struct device_entry {
    char eui[FRAME_DEVICE_ID_SIZE]; /* "" : a free slot */
    bool registered;
    size_t psk_len; /* 0: no coap.psk */
    uint8_t psk[PSK_MAX_BYTES];
};

/* A POST parked with libcoap until its frame is committed. */
struct pending_post {
    coap_async_t *async;
    struct ingest_ticket ticket; /* verdict, reason, and the commit's result */
};

struct coap_ingest {
    struct coap_ingest_options opts;
    char bind[64];
    char dtls_bind[64];
    coap_context_t *ctx;
    int epoll_fd;
    struct ingest *ingest; /* classify, submit, the commit's completions (its fd in epoll) */
    pthread_t thread;
    atomic_bool stopping;

    /* adapter thread only */
    struct frame_record record;
    struct backoff_rng rng; /* spreads the Max-Age of 5.03 answers */

    /* the endpoint's socket, found after libcoap made it: for its buffer and drop count */
    int socket_fd;
    unsigned long socket_inode;

    /* the registry (adapter thread only, after start) */
    struct registry *registry;
    int64_t generation;   /* of the cache below; -1: not read yet */
    int64_t next_poll_ms; /* monotonic */
    bool any_psk;         /* some device has a coap.psk: NoSec auto is off */
    struct device_entry cache[DEVICE_CACHE_SIZE];
    size_t cache_next;        /* the slot to reuse next (round robin) */
    coap_bin_const_t psk_out; /* handed to libcoap from validate_psk_identity, which copies */
    size_t request_size;      /* of the request being answered, in bytes */

    _Atomic uint64_t requests, accepted, quarantined, not_found, not_allowed, too_large,
        unavailable, forbidden_wrong_device, forbidden_unregistered, forbidden_nosec,
        forbidden_revoked, too_large_blockwise, psk_unknown;
};

/* ---- the registry: who is registered, and each device's key ---- */

static void cache_clear(struct coap_ingest *ci)
{
    OPENSSL_cleanse(ci->cache, sizeof(ci->cache));
    ci->cache_next = 0;
}

static bool note_psk(void *ctx, const char *dev_eui)
{
    (void)dev_eui;
    *(bool *)ctx = true;
    return false; /* one is enough */
}

/* Drops the cache when the registry changed (sensorbroctl in another process, say). */
static void registry_refresh(struct coap_ingest *ci)
{
    int64_t now = clock_mono_ms();
    if (ci->registry == NULL || (ci->generation >= 0 && now < ci->next_poll_ms))
        return;
    ci->next_poll_ms = now + REGISTRY_POLL_MS;
    int64_t gen = -1;
    if (registry_settings_generation(ci->registry, &gen) != 0) {
        log_warn("coap: cannot read the registry: %s", registry_errmsg(ci->registry));
        return; /* keep what is cached */
    }
    if (gen == ci->generation)
        return;
    cache_clear(ci);
    bool any = false;
    if (registry_list_devices_with(ci->registry, "coap.psk", note_psk, &any) != 0) {
        log_warn("coap: cannot read the registry: %s", registry_errmsg(ci->registry));
        return;
    }
    if (ci->opts.nosec == COAP_NOSEC_AUTO && any != ci->any_psk && ci->generation >= 0)
        log_info("coap: plain CoAP (NoSec) on port %u is now %s", ci->opts.port,
                 any ? "off: a device has a coap.psk" : "on: no device has a coap.psk");
    ci->any_psk = any;
    ci->generation = gen;
}

/* The device's entry, from the cache or the registry; NULL when the registry cannot be
 * read (then the request is refused as if unknown). */
static const struct device_entry *device_lookup(struct coap_ingest *ci, const char *eui)
{
    registry_refresh(ci);
    for (size_t i = 0; i < DEVICE_CACHE_SIZE; i++)
        if (strcmp(ci->cache[i].eui, eui) == 0)
            return &ci->cache[i];
    if (ci->registry == NULL)
        return NULL;
    struct registry_device dev;
    bool found = false;
    int rc = registry_get(ci->registry, eui, &dev, &found);
    OPENSSL_cleanse(&dev, sizeof(dev)); /* LoRaWAN keys: not ours */
    if (rc != 0) {
        log_warn("coap: cannot read the registry: %s", registry_errmsg(ci->registry));
        return NULL;
    }
    struct device_entry *e = &ci->cache[ci->cache_next];
    ci->cache_next = (ci->cache_next + 1) % DEVICE_CACHE_SIZE;
    OPENSSL_cleanse(e, sizeof(*e));
    snprintf(e->eui, sizeof(e->eui), "%s", eui);
    e->registered = found;
    char hex[2 * PSK_MAX_BYTES + 1];
    size_t len = 0;
    bool has = false;
    if (found &&
        registry_get_setting(ci->registry, eui, "coap.psk", hex, sizeof(hex), &len, &has) == 0 &&
        has && len % 2 == 0 && len / 2 <= PSK_MAX_BYTES && hex_decode_exact(hex, e->psk, len / 2))
        e->psk_len = len / 2;
    OPENSSL_cleanse(hex, sizeof(hex));
    return e;
}

/* libcoap's handshake asks for the key of a PSK identity: the identity is the device's
 * EUI, the key its coap.psk. NULL (no key) fails the handshake. */
static const coap_bin_const_t *validate_psk_identity(coap_bin_const_t *identity,
                                                     coap_session_t *session, void *arg)
{
    (void)session;
    struct coap_ingest *ci = arg;
    char eui[FRAME_DEVICE_ID_SIZE];
    const struct device_entry *e = NULL;
    if (identity && frame_parse_device_id((const char *)identity->s, identity->length, eui) == 0)
        e = device_lookup(ci, eui);
    if (e == NULL || e->psk_len == 0) {
        atomic_fetch_add(&ci->psk_unknown, 1);
        return NULL;
    }
    ci->psk_out.s = e->psk;
    ci->psk_out.length = e->psk_len;
    return &ci->psk_out;
}

/* ---- responses ---- */

/* The request's length on the wire: header, token, options, payload marker and payload.
 * Replies are kept within it. */
static size_t request_size(const coap_pdu_t *request)
{
    size_t n = 4 + coap_pdu_get_token(request).length;
    coap_opt_iterator_t it;
    coap_option_iterator_init(request, &it, COAP_OPT_ALL);
    coap_opt_t *opt;
    while ((opt = coap_option_next(&it)) != NULL)
        n += coap_opt_size(opt);
    size_t len = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    if (coap_get_data_large(request, &len, &data, &offset, &total) && len > 0)
        n += 1 + len;
    return n;
}

/* Sets the code, and the diagnostic payload only when the reply (header, token, options
 * of option_bytes, the 0xff marker, the payload) stays no longer than the request: a reply
 * to a spoofed source must not be an amplifier. The options a reply carries (Size1,
 * Max-Age: at most 6 bytes) go only to requests for /up/<eui>, which are longer. */
static void respond_sized(struct coap_ingest *ci, coap_pdu_t *response, coap_pdu_code_t code,
                          const char *diagnostic, size_t option_bytes)
{
    coap_pdu_set_code(response, code);
    if (diagnostic == NULL || diagnostic[0] == '\0')
        return;
    size_t n = strlen(diagnostic);
    if (4 + coap_pdu_get_token(response).length + option_bytes + 1 + n <= ci->request_size)
        coap_add_data(response, n, (const uint8_t *)diagnostic);
}

static void respond(struct coap_ingest *ci, coap_pdu_t *response, coap_pdu_code_t code,
                    const char *diagnostic)
{
    respond_sized(ci, response, code, diagnostic, 0);
}

static unsigned retry_after_s(struct coap_ingest *ci)
{
    /* spread: sensors refused together must not all come back together */
    return (unsigned)backoff_uniform(&ci->rng, UNAVAILABLE_MAX_AGE_MIN_S,
                                     UNAVAILABLE_MAX_AGE_MAX_S);
}

static void respond_unavailable(struct coap_ingest *ci, coap_pdu_t *response, const char *why)
{
    uint8_t buf[4];
    atomic_fetch_add(&ci->unavailable, 1);
    unsigned n = coap_encode_var_safe(buf, sizeof(buf), retry_after_s(ci));
    coap_add_option(response, COAP_OPTION_MAXAGE, n, buf);
    respond_sized(ci, response, COAP_RESPONSE_CODE_SERVICE_UNAVAILABLE, why, 2 + n);
}

/* The core's answer for a committed post (adapter thread, from ingest_complete): the response
 * can only be written inside libcoap's handler, so ask libcoap to call it again. */
static void trigger_reply(void *adapter, struct ingest_ticket *t)
{
    (void)adapter;
    struct pending_post *pp = t->ctx;
    coap_async_trigger(pp->async);
}

/* The handler's second call for a parked post: the answer, from the commit's result. */
static void reply_post(struct coap_ingest *ci, struct pending_post *pp, coap_pdu_t *response)
{
    const struct ingest_ticket *t = &pp->ticket;
    if (t->result != INGEST_STORED) {
        respond_unavailable(ci, response, "journal write failed, retry later");
    } else if (t->verdict == INGEST_QUARANTINE) {
        atomic_fetch_add(&ci->quarantined, 1);
        respond(ci, response, COAP_RESPONSE_CODE_BAD_REQUEST, t->reason);
    } else {
        atomic_fetch_add(&ci->accepted, 1);
        respond(ci, response, COAP_RESPONSE_CODE_CHANGED, NULL);
    }
    ingest_answered(ci->ingest, &pp->ticket);
    free(pp);
}

/* Whether the sender may post for device (a 4.03 otherwise, counted and answered here). */
static bool sender_allowed(struct coap_ingest *ci, coap_session_t *session, const char *device,
                           coap_pdu_t *response)
{
    if (coap_session_get_proto(session) == COAP_PROTO_DTLS) {
        /* the handshake proved the identity has the key of the device it names */
        const coap_bin_const_t *id = coap_session_get_psk_identity(session);
        char eui[FRAME_DEVICE_ID_SIZE];
        if (id == NULL || frame_parse_device_id((const char *)id->s, id->length, eui) != 0 ||
            strcmp(eui, device) != 0) {
            atomic_fetch_add(&ci->forbidden_wrong_device, 1);
            respond(ci, response, COAP_RESPONSE_CODE_FORBIDDEN, "DTLS identity is another device");
            return false;
        }
        /* A session outlives a change of the registry: the device removed or its key
         * replaced since the handshake ends what the old key may do. */
        const struct device_entry *e = device_lookup(ci, device);
        const coap_bin_const_t *key = coap_session_get_psk_key(session);
        if (e == NULL || e->psk_len == 0 || key == NULL || key->length != e->psk_len ||
            CRYPTO_memcmp(key->s, e->psk, e->psk_len) != 0) {
            atomic_fetch_add(&ci->forbidden_revoked, 1);
            respond(ci, response, COAP_RESPONSE_CODE_FORBIDDEN, "key revoked");
            return false;
        }
        return true;
    }
    const struct device_entry *e = device_lookup(ci, device);
    bool nosec_off =
        ci->opts.nosec == COAP_NOSEC_OFF || (ci->opts.nosec == COAP_NOSEC_AUTO && ci->any_psk);
    if (nosec_off || (e && e->psk_len > 0)) {
        atomic_fetch_add(&ci->forbidden_nosec, 1);
        respond(ci, response, COAP_RESPONSE_CODE_FORBIDDEN, "use DTLS (coaps)");
        return false;
    }
    if ((e == NULL || !e->registered) && !ci->opts.accept_unregistered) {
        atomic_fetch_add(&ci->forbidden_unregistered, 1);
        respond(ci, response, COAP_RESPONSE_CODE_FORBIDDEN, "device not registered");
        return false;
    }
    return true;
}

/* Parses "up/<eui>" into device. Returns 0, or -1 for any other path. */
static int parse_path(const coap_pdu_t *request, char device[FRAME_DEVICE_ID_SIZE])
{
    coap_string_t *path = coap_get_uri_path(request);
    int rc = -1;
    if (path && path->length == 3 + FRAME_DEVICE_ID_LEN && memcmp(path->s, "up/", 3) == 0)
        rc = frame_parse_device_id((const char *)path->s + 3, FRAME_DEVICE_ID_LEN, device);
    coap_delete_string(path);
    return rc;
}

/* A new request (the handler's first call): checked, classified, parked and submitted, or
 * answered at once when it cannot be stored. */
static void receive_request(struct coap_ingest *ci, coap_session_t *session,
                            const coap_pdu_t *request, coap_pdu_t *response)
{
    atomic_fetch_add(&ci->requests, 1);
    size_t len = 0, offset = 0, total = 0;
    const uint8_t *data = NULL;
    if (!coap_get_data_large(request, &len, &data, &offset, &total))
        len = total = 0;
    ci->request_size = request_size(request);
    if (atomic_load(&ci->stopping)) {
        respond_unavailable(ci, response, "shutting down, retry later");
        return;
    }

    struct frame_record *rec = &ci->record;
    if (parse_path(request, rec->device) != 0) {
        atomic_fetch_add(&ci->not_found, 1);
        respond(ci, response, COAP_RESPONSE_CODE_NOT_FOUND,
                "POST to /up/<device EUI, 16 hex digits>");
        return;
    }
    if (coap_pdu_get_code(request) != COAP_REQUEST_CODE_POST) {
        atomic_fetch_add(&ci->not_allowed, 1);
        respond(ci, response, COAP_RESPONSE_CODE_NOT_ALLOWED, "only POST");
        return;
    }
    /* Block1: libcoap's reassembly is off (it would buffer any amount before this check),
     * so each block arrives here; none is kept. A body fits one datagram. */
    coap_block_t block1;
    bool blockwise =
        coap_get_block(request, COAP_OPTION_BLOCK1, &block1) && (block1.num != 0 || block1.m);
    if (blockwise || total > ci->opts.max_payload_bytes || offset != 0 || len != total) {
        uint8_t buf[4];
        atomic_fetch_add(&ci->too_large, 1);
        if (blockwise)
            atomic_fetch_add(&ci->too_large_blockwise, 1);
        unsigned n = coap_encode_var_safe(buf, sizeof(buf), (unsigned)ci->opts.max_payload_bytes);
        coap_add_option(response, COAP_OPTION_SIZE1, n, buf);
        respond_sized(ci, response, COAP_RESPONSE_CODE_REQUEST_TOO_LARGE,
                      blockwise ? "send the body in one datagram" : "payload too large", 2 + n);
        return;
    }
    if (!sender_allowed(ci, session, rec->device, response))
        return;

    rec->received_ms = clock_wall_ms();
    rec->heard_ms = 0; /* a CoAP sensor is heard when it is received */
    snprintf(rec->transport, sizeof(rec->transport), "coap");
    if (coap_print_addr(coap_session_get_addr_remote(session), (uint8_t *)rec->source,
                        sizeof(rec->source) - 1) == 0)
        snprintf(rec->source, sizeof(rec->source), "?");
    else
        rec->source[sizeof(rec->source) - 1] = '\0';
    rec->payload_len = len;
    if (len > 0)
        memcpy(rec->payload, data, len);

    struct pending_post *pp = calloc(1, sizeof(*pp));
    if (pp == NULL) {
        respond_unavailable(ci, response, "out of memory");
        return;
    }
    ingest_classify(ci->ingest, rec, &pp->ticket);

    pp->async = coap_register_async(session, request, 0);
    if (pp->async == NULL) {
        free(pp);
        respond_unavailable(ci, response, "too many requests in progress");
        return;
    }
    coap_async_set_app_data(pp->async, pp);
    enum ingest_result r = ingest_submit(ci->ingest, &pp->ticket, rec, pp);
    if (r != INGEST_PENDING) {
        /* Not the triggered call, so freeing the async here is allowed. */
        coap_free_async(session, pp->async);
        free(pp);
        respond_unavailable(ci, response,
                            r == INGEST_JOURNAL_FULL ? "journal full, retry later"
                                                     : "journal queue full, retry later");
        return;
    }
    /* No response code now: libcoap sends an empty ACK and the answer comes after commit. */
}

/* libcoap's handler for every request, called twice for a parked one (the top comment). */
static void handle_request(coap_resource_t *resource, coap_session_t *session,
                           const coap_pdu_t *request, const coap_string_t *query,
                           coap_pdu_t *response)
{
    (void)query;
    struct coap_ingest *ci = coap_resource_get_userdata(resource);
    coap_async_t *async = coap_find_async(session, coap_pdu_get_token(request));
    if (async) {
        ci->request_size = request_size(request);
        reply_post(ci, coap_async_get_app_data(async), response);
        return; /* libcoap frees a triggered async after this returns */
    }
    receive_request(ci, session, request, response);
}

/* ---- the adapter's thread ---- */

static void route_libcoap_log(coap_log_t level, const char *message)
{
    size_t len = strlen(message);
    while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == '\r'))
        len--;
    enum log_level ours = level <= LOG_ERR       ? LOG_LEVEL_ERROR
                          : level <= LOG_WARNING ? LOG_LEVEL_WARN
                          : level <= LOG_INFO    ? LOG_LEVEL_INFO
                                                 : LOG_LEVEL_DEBUG;
    log_msg(ours, "coap: %.*s", (int)len, message);
}

/* Waits for libcoap or the writer, then lets libcoap do whatever is due. */
static void run_once(void *adapter, int max_wait_ms)
{
    struct coap_ingest *ci = adapter;
    coap_tick_t now;
    coap_ticks(&now);
    unsigned next_ms = coap_io_prepare_epoll(ci->ctx, now);
    int wait_ms = next_ms == 0 || next_ms > (unsigned)max_wait_ms ? max_wait_ms : (int)next_ms;
    struct epoll_event events[4];
    int n = epoll_wait(ci->epoll_fd, events, 4, wait_ms);
    for (int i = 0; i < n; i++) {
        if (events[i].data.fd == ingest_fd(ci->ingest))
            ingest_complete(ci->ingest); /* trigger_reply for each committed post */
    }
    coap_io_process(ci->ctx, COAP_IO_NO_WAIT);
    /* NoSec auto follows the registry even while nobody posts (and says so in the log) */
    registry_refresh(ci);
}

static void *coap_main(void *arg)
{
    struct coap_ingest *ci = arg;
    pthread_setname_np(pthread_self(), "sb-coap"); /* for top -H and perf */
    while (!atomic_load(&ci->stopping))
        run_once(ci, LOOP_MAX_WAIT_MS);
    /* Answer every frame the writer still holds before letting go of the sessions. */
    ingest_drain(ci->ingest, run_once, ci);
    for (int i = 0; i < 10; i++)
        run_once(ci, 10); /* let the last responses out */
    return NULL;
}

static int bind_endpoint(struct coap_ingest *ci, const char *bind, uint16_t port_num,
                         coap_proto_t proto, const char *what, char *err, size_t err_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", port_num);
    int rc = getaddrinfo(bind, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, err_size, "%s %s: not a numeric IPv4 or IPv6 address (%s)", what, bind,
                 gai_strerror(rc));
        return -1;
    }
    coap_address_t addr;
    coap_address_init(&addr);
    addr.size = res->ai_addrlen;
    memcpy(&addr.addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (coap_new_endpoint(ci->ctx, &addr, proto) == NULL) {
        snprintf(err, err_size, "coap: cannot listen on UDP %s port %u%s: %s", bind, port_num,
                 proto == COAP_PROTO_DTLS ? " (DTLS)" : "", strerror(errno));
        return -1;
    }
    return 0;
}

/* The server's PSK setup: no fixed key, every identity's key from the registry. */
static int setup_dtls(struct coap_ingest *ci, char *err, size_t err_size)
{
    if (!coap_dtls_is_supported()) {
        snprintf(err, err_size, "coap: this libcoap has no DTLS (coap.dtls_port = 0 turns it off)");
        return -1;
    }
    static const uint8_t no_hint[1];
    coap_dtls_spsk_t spsk = {.version = COAP_DTLS_SPSK_SETUP_VERSION,
                             .validate_id_call_back = validate_psk_identity,
                             .id_call_back_arg = ci,
                             .psk_info = {.hint = {0, no_hint}, .key = {0, no_hint}}};
    if (!coap_context_set_psk2(ci->ctx, &spsk)) {
        snprintf(err, err_size, "coap: cannot set up DTLS-PSK");
        return -1;
    }
    return 0;
}

/* libcoap 4.3 does not hand out its endpoint's socket. It is the one UDP socket of this
 * process bound to our port; find it among our descriptors. Returns the fd or -1. */
static int find_endpoint_socket(uint16_t port)
{
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return -1;
    int found = -1;
    struct dirent *entry;
    while (found < 0 && (entry = readdir(dir)) != NULL) {
        char *end;
        long fd = strtol(entry->d_name, &end, 10);
        if (*end != '\0' || fd < 0 || fd == dirfd(dir))
            continue;
        int type = 0;
        socklen_t type_len = sizeof(type);
        struct sockaddr_storage addr;
        socklen_t addr_len = sizeof(addr);
        if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_DGRAM ||
            getsockname((int)fd, (struct sockaddr *)&addr, &addr_len) != 0)
            continue;
        uint16_t bound = 0;
        if (addr.ss_family == AF_INET)
            bound = ntohs(((struct sockaddr_in *)&addr)->sin_port);
        else if (addr.ss_family == AF_INET6)
            bound = ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
        if (bound == port)
            found = (int)fd;
    }
    closedir(dir);
    return found;
}

/* Bursts are lost in the kernel's receive buffer (208 KiB by default), before libcoap
 * sees them: ask for a bigger one, and say so when the system caps it. */
static void size_receive_buffer(struct coap_ingest *ci, uint16_t port)
{
    ci->socket_fd = find_endpoint_socket(port);
    if (ci->socket_fd < 0) {
        log_warn("coap: cannot find the endpoint's socket; receive buffer left as it is and "
                 "kernel drops not counted");
        return;
    }
    struct stat st;
    if (fstat(ci->socket_fd, &st) == 0)
        ci->socket_inode = (unsigned long)st.st_ino;
    int want = (int)ci->opts.receive_buffer_bytes;
    /* FORCE works with CAP_NET_ADMIN and ignores net.core.rmem_max; else the plain one */
    if (setsockopt(ci->socket_fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) != 0)
        setsockopt(ci->socket_fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
    int got = 0;
    socklen_t len = sizeof(got);
    getsockopt(ci->socket_fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    /* Linux reports twice the size asked for (it counts its bookkeeping) */
    if (got / 2 < want)
        log_warn("coap: UDP receive buffer is %d KiB, not the %d KiB asked for "
                 "(net.core.rmem_max caps it); bursts may be dropped by the kernel",
                 got / 2 / 1024, want / 1024);
    else
        log_debug("coap: UDP receive buffer %d KiB", got / 2 / 1024);
}

/* Datagrams the kernel dropped on our socket because its buffer was full: the "drops"
 * column of /proc/net/udp(6) for the socket's inode. Read through /proc/self/net, the same
 * tables: the service's ProcSubset=pid hides /proc/net, and the drops would read as 0. */
static uint64_t read_kernel_drops(const struct coap_ingest *ci)
{
    static const char *const tables[] = {"/proc/self/net/udp", "/proc/self/net/udp6"};
    if (ci->socket_inode == 0)
        return 0;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        FILE *f = fopen(tables[t], "r");
        if (f == NULL)
            continue;
        char line[512];
        while (fgets(line, sizeof(line), f) != NULL) {
            unsigned long inode = 0;
            unsigned long long drops = 0;
            /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops */
            if (sscanf(line, " %*s %*s %*s %*s %*s %*s %*s %*s %*s %lu %*s %*s %llu", &inode,
                       &drops) == 2 &&
                inode == ci->socket_inode) {
                fclose(f);
                return drops;
            }
        }
        fclose(f);
    }
    return 0;
}

static void free_ingest(struct coap_ingest *ci)
{
    if (ci->ctx)
        coap_free_context(ci->ctx);
    registry_close(ci->registry);
    cache_clear(ci);
    if (ci->epoll_fd >= 0)
        close(ci->epoll_fd);
    ingest_free(ci->ingest);
    free(ci);
}

int coap_ingest_start(struct coap_ingest **out, const struct coap_ingest_options *opts, char *err,
                      size_t err_size)
{
    *out = NULL;
    struct coap_ingest *ci = calloc(1, sizeof(*ci));
    if (ci == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    ci->opts = *opts;
    snprintf(ci->bind, sizeof(ci->bind), "%s", opts->bind);
    ci->opts.bind = ci->bind;
    if (ci->opts.max_payload_bytes > FRAME_MAX_PAYLOAD_BYTES)
        ci->opts.max_payload_bytes = FRAME_MAX_PAYLOAD_BYTES;
    snprintf(ci->dtls_bind, sizeof(ci->dtls_bind), "%s", opts->dtls_bind ? opts->dtls_bind : "");
    ci->opts.dtls_bind = ci->dtls_bind;
    ci->opts.journal_path = NULL; /* the caller's; only used below */
    ci->generation = -1;
    ci->epoll_fd = ci->socket_fd = -1;
    backoff_rng_seed(&ci->rng, (uint64_t)(uintptr_t)ci);

    coap_startup();
    coap_set_log_handler(route_libcoap_log);
    coap_set_log_level(log_get_level() >= LOG_LEVEL_DEBUG ? LOG_INFO : LOG_WARNING);
    ci->ctx = coap_new_context(NULL);
    if (ci->ctx == NULL) {
        snprintf(err, err_size, "coap: cannot create a libcoap context");
        free_ingest(ci);
        return -1;
    }
    /* No COAP_BLOCK_USE_LIBCOAP: its reassembly buffers a block-wise body of any size before
     * the handler can refuse it; receive_request refuses every Block1 body instead. */
    coap_context_set_block_mode(ci->ctx, 0);
    /* Bounded state for strangers: libcoap keeps an idle session 300 s without a cap by
     * default; past max_sessions the oldest idle one goes. */
    coap_context_set_max_idle_sessions(ci->ctx, opts->max_sessions);
    coap_context_set_session_timeout(ci->ctx, opts->session_idle_s);
    coap_context_set_max_handshake_sessions(ci->ctx, opts->max_handshakes);
    if (opts->journal_path && registry_open(&ci->registry, opts->journal_path, true,
                                            REGISTRY_BUSY_MS, err, err_size) != 0) {
        free_ingest(ci);
        return -1;
    }
    registry_refresh(ci);
    if (ci->opts.dtls_port != 0 &&
        (setup_dtls(ci, err, err_size) != 0 ||
         bind_endpoint(ci, ci->dtls_bind, ci->opts.dtls_port, COAP_PROTO_DTLS, "coap.dtls_bind",
                       err, err_size) != 0)) {
        free_ingest(ci);
        return -1;
    }
    if (ci->opts.nosec != COAP_NOSEC_OFF &&
        bind_endpoint(ci, ci->bind, ci->opts.port, COAP_PROTO_UDP, "coap.bind", err, err_size) !=
            0) {
        free_ingest(ci);
        return -1;
    }
    size_receive_buffer(ci, ci->opts.nosec != COAP_NOSEC_OFF ? ci->opts.port : ci->opts.dtls_port);
    /* All paths land in the "unknown resource", which checks them itself: libcoap 4.3 has no
     * wildcard paths, and /up/<eui> carries the device in the path. */
    coap_resource_t *r = coap_resource_unknown_init2(handle_request, 0);
    coap_resource_set_userdata(r, ci);
    static const coap_request_t methods[] = {COAP_REQUEST_GET,    COAP_REQUEST_POST,
                                             COAP_REQUEST_DELETE, COAP_REQUEST_FETCH,
                                             COAP_REQUEST_PATCH,  COAP_REQUEST_IPATCH};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        coap_register_request_handler(r, methods[i], handle_request);
    coap_add_resource(ci->ctx, r);
    /* GET /.well-known/core (RFC 6690) is libcoap's: it lists the resources added with
     * their attributes. The unknown resource is not listed, so /up is added as one (any
     * request to /up itself gets the same 4.04 as any other path): a client that looks
     * finds where to post. ct 42: the payload is a binary protobuf, for which no CoAP
     * content-format is registered. */
    coap_resource_t *up = coap_resource_init(coap_make_str_const("up"), 0);
    coap_resource_set_userdata(up, ci);
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        coap_register_request_handler(up, methods[i], handle_request);
    /* libcoap lists attributes last added first */
    coap_add_attr(up, coap_make_str_const("title"),
                  coap_make_str_const("\"POST a sensorbro.v1.Uplink to /up/<device EUI>\""), 0);
    coap_add_attr(up, coap_make_str_const("ct"), coap_make_str_const("42"), 0);
    coap_add_attr(up, coap_make_str_const("rt"), coap_make_str_const("\"sensorbro.uplink\""), 0);
    coap_add_resource(ci->ctx, up);

    const struct ingest_options io = {
        .writer = opts->writer, .mode = INGEST_MAILBOX, .answer = trigger_reply, .adapter = ci};
    int ingest_rc = ingest_create(&ci->ingest, &io);
    ci->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    int coap_fd = coap_context_get_coap_fd(ci->ctx);
    struct epoll_event ev_coap = {.events = EPOLLIN, .data.fd = coap_fd};
    struct epoll_event ev_done = {.events = EPOLLIN,
                                  .data.fd = ingest_rc == 0 ? ingest_fd(ci->ingest) : -1};
    if (ingest_rc != 0 || ci->epoll_fd < 0 || coap_fd < 0 ||
        epoll_ctl(ci->epoll_fd, EPOLL_CTL_ADD, coap_fd, &ev_coap) != 0 ||
        epoll_ctl(ci->epoll_fd, EPOLL_CTL_ADD, ev_done.data.fd, &ev_done) != 0) {
        snprintf(err, err_size, "coap: cannot set up the event loop: %s",
                 coap_fd < 0 ? "libcoap built without epoll" : strerror(errno));
        free_ingest(ci);
        return -1;
    }
    int rc = pthread_create(&ci->thread, NULL, coap_main, ci);
    if (rc != 0) {
        snprintf(err, err_size, "coap: cannot start thread: %s", strerror(rc));
        free_ingest(ci);
        return -1;
    }
    *out = ci;
    return 0;
}

void coap_ingest_stop(struct coap_ingest *ci, struct coap_ingest_stats *final_stats)
{
    if (ci == NULL)
        return;
    atomic_store(&ci->stopping, true);
    ingest_wake(ci->ingest);
    pthread_join(ci->thread, NULL);
    if (final_stats)
        coap_ingest_get_stats(ci, final_stats);
    free_ingest(ci);
}

void coap_ingest_get_stats(struct coap_ingest *ci, struct coap_ingest_stats *stats)
{
    stats->requests = atomic_load(&ci->requests);
    stats->accepted = atomic_load(&ci->accepted);
    stats->quarantined = atomic_load(&ci->quarantined);
    stats->not_found = atomic_load(&ci->not_found);
    stats->not_allowed = atomic_load(&ci->not_allowed);
    stats->too_large = atomic_load(&ci->too_large);
    stats->unavailable = atomic_load(&ci->unavailable);
    stats->forbidden_wrong_device = atomic_load(&ci->forbidden_wrong_device);
    stats->forbidden_unregistered = atomic_load(&ci->forbidden_unregistered);
    stats->forbidden_nosec = atomic_load(&ci->forbidden_nosec);
    stats->forbidden_revoked = atomic_load(&ci->forbidden_revoked);
    stats->too_large_blockwise = atomic_load(&ci->too_large_blockwise);
    stats->psk_unknown = atomic_load(&ci->psk_unknown);
    stats->kernel_drops = read_kernel_drops(ci);
}

void coap_ingest_collect(const struct coap_ingest_stats *s, struct report *r)
{
    static const char responses[] = "sensorbro_coap_responses_total";
    /* a frame reached the pipeline: stored (2.04), quarantined (4.00) or refused (5.03) */
    report_labelled(r, "sensorbro_frames_received_total", "transport", "coap", NULL,
                    s->accepted + s->quarantined + s->unavailable);
    report_counter(r, NULL, "requests ", s->requests);
    report_labelled(r, responses, "code", "2.04", " (2.04 ", s->accepted);
    report_labelled(r, responses, "code", "4.00", ", 4.00 ", s->quarantined);
    report_labelled(r, responses, "code", "4.04", ", 4.04 ", s->not_found);
    report_labelled(r, responses, "code", "4.03", ", 4.03 ",
                    s->forbidden_wrong_device + s->forbidden_unregistered + s->forbidden_nosec +
                        s->forbidden_revoked);
    report_labelled(r, responses, "code", "4.05", ", 4.05 ", s->not_allowed);
    report_labelled(r, responses, "code", "4.13", ", 4.13 ", s->too_large);
    report_labelled(r, responses, "code", "5.03", ", 5.03 ", s->unavailable);
    report_text(r, ")");
    static const char refused[] = "sensorbro_coap_refused_total";
    report_labelled(r, refused, "reason", "wrong_device", ", refused: wrong device ",
                    s->forbidden_wrong_device);
    report_labelled(r, refused, "reason", "unregistered", ", unregistered ",
                    s->forbidden_unregistered);
    report_labelled(r, refused, "reason", "nosec", ", nosec ", s->forbidden_nosec);
    report_labelled(r, refused, "reason", "revoked", ", key revoked ", s->forbidden_revoked);
    report_labelled(r, refused, "reason", "blockwise", ", block-wise ", s->too_large_blockwise);
    report_labelled(r, refused, "reason", "too_large", ", too large ",
                    s->too_large - s->too_large_blockwise);
    report_labelled(r, refused, "reason", "psk_unknown", ", unknown PSK identity ", s->psk_unknown);
    report_counter(r, "sensorbro_coap_kernel_drops_total", ", kernel drops ", s->kernel_drops);
}
