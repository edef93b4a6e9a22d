/*
 * coap_client.c - libcoap 4.3 client sessions for the fleet (coap_client.h).
 *
 * Life of a request: coap_client_post builds a CON POST with a token from the session and
 * hands it to coap_send; libcoap retransmits it until the gateway's empty ACK arrives. The
 * gateway answers after its journal commit in a separate CON response carrying the same
 * token, which libcoap acknowledges after on_response returns. If the gateway answers at
 * once (a 5.03 when its queue is full), the answer rides in the ACK instead. Either way
 * on_response sees it; the token tells whether it answers the peer's current request.
 *
 * Abandoning a request closes the peer's session, and the next post opens a fresh one on a
 * new local port. Keeping the session would be simpler, but libcoap 4.3.1's client does
 * not acknowledge a retransmitted separate response (handle_response() drops a CON whose
 * message id it has seen before, ACK and all). So once one of our ACKs is lost, the
 * gateway's session for our port retransmits its response unanswered for 45-93 s and,
 * holding NSTART=1, sends that port nothing else meanwhile: every re-send from the same
 * port would time out too. A new port is a new session on the gateway. Should the kernel
 * give that port to a later session, random tokens keep its stale answers apart
 * (open_session).
 */
#include "coap_client.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <coap3/coap.h>

/* libcoap without epoll polls with select() over at most this many sockets per call. */
#define SELECT_MAX_SOCKETS 64

struct peer {
    struct coap_client *client;
    coap_session_t *session; /* NULL after an abandon, until the next post */
    uint8_t token[8];
    size_t token_len;
    bool awaiting; /* a request is out and an answer to it still counts */
};

struct coap_client {
    coap_context_t *ctx;
    coap_address_t server;
    struct coap_client_handlers handlers;
    size_t peer_count;
    struct peer *peers;
    uint64_t late_answers;
};

static bool is_current(const struct peer *p, coap_bin_const_t token)
{
    return p->awaiting && token.length == p->token_len &&
           memcmp(token.s, p->token, p->token_len) == 0;
}

static coap_response_t on_response(coap_session_t *session, const coap_pdu_t *sent,
                                   const coap_pdu_t *received, const coap_mid_t mid)
{
    (void)sent; /* NULL for a separate response: the request left libcoap at the empty ACK */
    (void)mid;
    struct peer *p = coap_session_get_app_data(session);
    if (p == NULL)
        return COAP_RESPONSE_OK; /* the client is closing */
    if (!is_current(p, coap_pdu_get_token(received))) {
        /* Acknowledged all the same, so that the gateway stops retransmitting it. */
        p->client->late_answers++;
        return COAP_RESPONSE_OK;
    }
    p->awaiting = false;

    coap_pdu_code_t code = coap_pdu_get_code(received);
    struct coap_client_answer answer = {.code_class = COAP_RESPONSE_CLASS(code),
                                        .code_detail = code & 0x1f};
    coap_opt_iterator_t options;
    coap_opt_t *max_age = coap_check_option(received, COAP_OPTION_MAXAGE, &options);
    if (max_age != NULL) {
        answer.has_max_age = true;
        answer.max_age_s = coap_decode_var_bytes(coap_opt_value(max_age), coap_opt_length(max_age));
    }
    if (!coap_get_data(received, &answer.diagnostic_len, &answer.diagnostic)) {
        answer.diagnostic = NULL;
        answer.diagnostic_len = 0;
    }
    struct coap_client *c = p->client;
    c->handlers.on_answer(c->handlers.context, (size_t)(p - c->peers), &answer);
    return COAP_RESPONSE_OK;
}

static const char *nack_reason_text(coap_nack_reason_t reason)
{
    switch (reason) {
    case COAP_NACK_TOO_MANY_RETRIES:
        return "no ACK after all retransmissions";
    case COAP_NACK_NOT_DELIVERABLE:
        return "not deliverable";
    case COAP_NACK_RST:
        return "reset (RST) by the gateway";
    case COAP_NACK_TLS_FAILED:
        return "TLS failed";
    case COAP_NACK_ICMP_ISSUE:
        return "ICMP error: is the gateway listening on that port?";
    }
    return "unknown reason";
}

static void on_nack(coap_session_t *session, const coap_pdu_t *sent,
                    const coap_nack_reason_t reason, const coap_mid_t mid)
{
    (void)mid;
    struct peer *p = coap_session_get_app_data(session);
    if (p == NULL || sent == NULL || !is_current(p, coap_pdu_get_token(sent)))
        return; /* closing, or a request abandoned on purpose */
    struct coap_client *c = p->client;
    c->handlers.on_undeliverable(c->handlers.context, (size_t)(p - c->peers),
                                 nack_reason_text(reason));
}

/* libcoap's log lines, in the program's own format. */
static void print_libcoap_log(coap_log_t level, const char *message)
{
    (void)level;
    size_t len = strlen(message);
    while (len > 0 && (message[len - 1] == '\n' || message[len - 1] == '\r'))
        len--;
    fprintf(stderr, "sensorbro-fleet-sim: libcoap: %.*s\n", (int)len, message);
}

static int resolve(const char *host, uint16_t port, coap_address_t *out, char *err, size_t err_size)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port_text[8];
    snprintf(port_text, sizeof(port_text), "%u", (unsigned)port);
    int rc = getaddrinfo(host, port_text, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_size, "--host %s: cannot resolve: %s", host, gai_strerror(rc));
        return -1;
    }
    coap_address_init(out);
    if (res->ai_addrlen > sizeof(out->addr)) {
        freeaddrinfo(res);
        snprintf(err, err_size, "--host %s: unsupported address family", host);
        return -1;
    }
    out->size = res->ai_addrlen;
    memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static void close_session(struct peer *p)
{
    if (p->session == NULL)
        return;
    p->awaiting = false;
    /* Handlers called from here on find no peer and do nothing. */
    coap_session_set_app_data(p->session, NULL);
    /* Drops what libcoap still queues or retransmits for the session: the references
     * those hold would otherwise keep it, and its socket, alive until they time out. */
    coap_session_disconnected(p->session, COAP_NACK_TOO_MANY_RETRIES);
    coap_session_release(p->session);
    p->session = NULL;
}

/* Gives the peer a new session, and so a new UDP socket and local port. */
static int open_session(struct peer *p)
{
    p->session = coap_new_client_session(p->client->ctx, NULL, &p->client->server, COAP_PROTO_UDP);
    if (p->session == NULL)
        return -1;
    coap_session_set_app_data(p->session, p);
    /* libcoap counts a session's tokens up from 1. The kernel may give a new session the
     * port of one closed earlier (by this run or the last), whose gateway session may
     * still hold answers and pending requests under those same small tokens: an old 2.04
     * would then pass for the answer to a new request. A random start makes tokens unique
     * across sessions. */
    uint8_t token_start[8];
    if (coap_prng(token_start, sizeof(token_start)) == 0) {
        close_session(p);
        return -1;
    }
    coap_session_init_token(p->session, sizeof(token_start), token_start);
    return 0;
}

int coap_client_open(struct coap_client **out, const char *host, uint16_t port, size_t peer_count,
                     const struct coap_client_handlers *handlers, bool quiet, char *err,
                     size_t err_size)
{
    *out = NULL;
    coap_address_t server;
    if (resolve(host, port, &server, err, err_size) != 0)
        return -1;
    struct coap_client *c = calloc(1, sizeof(*c));
    struct peer *peers = calloc(peer_count ? peer_count : 1, sizeof(*peers));
    if (c == NULL || peers == NULL) {
        free(c);
        free(peers);
        snprintf(err, err_size, "out of memory for %zu CoAP sessions", peer_count);
        return -1;
    }
    c->handlers = *handlers;
    c->server = server;
    c->peers = peers;

    coap_startup();
    coap_set_log_handler(print_libcoap_log);
    /* libcoap's own errors only (its warnings repeat per packet while the gateway is
     * down), none with --quiet: the fleet reports delivery problems itself. */
    coap_set_log_level(quiet ? LOG_EMERG : LOG_ERR);
    c->ctx = coap_new_context(NULL);
    if (c->ctx == NULL) {
        snprintf(err, err_size, "cannot create a libcoap context");
        coap_client_close(c);
        return -1;
    }
    if (coap_context_get_coap_fd(c->ctx) < 0 && peer_count > SELECT_MAX_SOCKETS) {
        snprintf(err, err_size,
                 "this libcoap has no epoll support and polls at most %d sockets: use at most "
                 "%d sensors",
                 SELECT_MAX_SOCKETS, SELECT_MAX_SOCKETS);
        coap_client_close(c);
        return -1;
    }
    coap_register_response_handler(c->ctx, on_response);
    coap_register_nack_handler(c->ctx, on_nack);

    for (size_t i = 0; i < peer_count; i++) {
        struct peer *p = &c->peers[i];
        p->client = c;
        c->peer_count = i + 1;
        if (open_session(p) != 0) {
            snprintf(err, err_size, "cannot open CoAP session %zu of %zu to %s port %u: %s", i + 1,
                     peer_count, host, (unsigned)port, strerror(errno));
            coap_client_close(c);
            return -1;
        }
    }
    *out = c;
    return 0;
}

/* Adds one Uri-Path option per '/'-separated segment of path. */
static int add_uri_path(coap_pdu_t *pdu, const char *path)
{
    for (;;) {
        size_t len = strcspn(path, "/");
        if (coap_add_option(pdu, COAP_OPTION_URI_PATH, len, (const uint8_t *)path) == 0)
            return -1;
        if (path[len] == '\0')
            return 0;
        path += len + 1;
    }
}

int coap_client_post(struct coap_client *c, size_t peer, const char *uri_path,
                     const uint8_t *payload, size_t payload_len)
{
    assert(peer < c->peer_count);
    struct peer *p = &c->peers[peer];
    assert(!p->awaiting);
    if (p->session == NULL && open_session(p) != 0)
        return -1;
    coap_session_t *session = p->session;
    coap_pdu_t *pdu =
        coap_pdu_init(COAP_MESSAGE_CON, COAP_REQUEST_CODE_POST, coap_new_message_id(session),
                      coap_session_max_pdu_size(session));
    if (pdu == NULL)
        return -1;
    uint8_t format[4];
    coap_session_new_token(session, &p->token_len, p->token);
    /* Options in ascending number: Uri-Path (11), then Content-Format (12). */
    if (!coap_add_token(pdu, p->token_len, p->token) || add_uri_path(pdu, uri_path) != 0 ||
        coap_add_option(
            pdu, COAP_OPTION_CONTENT_FORMAT,
            coap_encode_var_safe(format, sizeof(format), COAP_MEDIATYPE_APPLICATION_OCTET_STREAM),
            format) == 0 ||
        !coap_add_data(pdu, payload_len, payload)) {
        coap_delete_pdu(pdu);
        return -1;
    }
    /* coap_send takes the PDU, whatever it returns. */
    if (coap_send(session, pdu) == COAP_INVALID_MID)
        return -1;
    p->awaiting = true;
    return 0;
}

void coap_client_abandon(struct coap_client *c, size_t peer)
{
    assert(peer < c->peer_count);
    close_session(&c->peers[peer]); /* see the top of the file for why not keep it */
}

int coap_client_run(struct coap_client *c, int wait_ms)
{
    int rc = coap_io_process(c->ctx, wait_ms > 0 ? (uint32_t)wait_ms : COAP_IO_NO_WAIT);
    return rc < 0 ? -1 : 0;
}

uint64_t coap_client_late_answers(const struct coap_client *c)
{
    return c->late_answers;
}

void coap_client_close(struct coap_client *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->peer_count; i++)
        close_session(&c->peers[i]);
    if (c->ctx != NULL)
        coap_free_context(c->ctx);
    coap_cleanup();
    free(c->peers);
    free(c);
}
