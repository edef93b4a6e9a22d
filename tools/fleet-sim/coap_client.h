/*
 * coap_client.h - the fleet's CoAP side: one libcoap client session per simulated node,
 * one confirmable POST at a time on each.
 *
 * Every node is its own CoAP endpoint (its own UDP socket and port), as real nodes are;
 * that also keeps libcoap's NSTART=1, which holds per session, from queueing the whole
 * fleet behind one request. Answers are matched to the request by session and token (a
 * separate response carries the request's token); an answer that matches no current
 * request is counted as late and dropped.
 *
 * Threads: one. The handlers run inside coap_client_run() and must not call
 * coap_client_post() or coap_client_abandon(); the fleet records and acts after the run.
 * One client per process: it owns libcoap's global start-up and clean-up.
 */
#ifndef FLEET_SIM_COAP_CLIENT_H
#define FLEET_SIM_COAP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct coap_client;

/* An answer to a peer's current request. Pointers are valid during the handler only. */
struct coap_client_answer {
    unsigned code_class;  /* 2, 4 or 5 */
    unsigned code_detail; /* 4 in 2.04 */
    bool has_max_age;
    uint32_t max_age_s;
    const uint8_t *diagnostic; /* the payload: the gateway's reason for a 4.xx or 5.xx */
    size_t diagnostic_len;
};

struct coap_client_handlers {
    void *context; /* passed back to every handler */
    void (*on_answer)(void *context, size_t peer, const struct coap_client_answer *answer);
    /* libcoap reports the current request undeliverable (ICMP error, RST, retransmissions
     * exhausted). The request stays current until answered or abandoned: libcoap may still
     * retransmit it, and an answer may still come. */
    void (*on_undeliverable)(void *context, size_t peer, const char *reason);
};

/* Resolves host, opens peer_count sessions to host:port and starts libcoap. quiet keeps
 * libcoap's own warnings off stderr. Returns 0, or -1 with a message in err. */
int coap_client_open(struct coap_client **out, const char *host, uint16_t port, size_t peer_count,
                     const struct coap_client_handlers *handlers, bool quiet, char *err,
                     size_t err_size);

/* Sends a confirmable POST of payload to uri_path ("up/<eui>", no leading slash) with a
 * fresh token. The peer must have no current request. Returns 0, or -1 when libcoap could
 * not build or send it (the peer then has no current request). */
int coap_client_post(struct coap_client *client, size_t peer, const char *uri_path,
                     const uint8_t *payload, size_t payload_len);

/* Gives up the peer's current request, if any, and closes the peer's session (socket and
 * all); the next post opens a new one on a new local port (coap_client.c says why). An
 * answer to the abandoned request can no longer arrive. */
void coap_client_abandon(struct coap_client *client, size_t peer);

/* Lets libcoap send, retransmit and receive, waiting up to wait_ms (0: not at all) for
 * traffic. Handlers run from here. Returns 0, or -1 on an I/O error of the event loop. */
int coap_client_run(struct coap_client *client, int wait_ms);

/* Answers that matched no current request. */
uint64_t coap_client_late_answers(const struct coap_client *client);

/* Closes every session and stops libcoap; pending requests are dropped. NULL is a no-op. */
void coap_client_close(struct coap_client *client);

#endif
