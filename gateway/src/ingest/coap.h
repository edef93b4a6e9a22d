/*
 * ingest/coap.h - CoAP ingest: IP sensors POST their Uplink to /up/<device-eui>.
 *
 * A libcoap server on UDP (coap.port, default 5683) in a thread of its own. For every POST
 * the payload is decoded (to tell a good frame from a bad one), handed to the journal
 * writer, and answered only after the writer has committed it:
 *   2.04 Changed      committed to the pending queue
 *   4.00 Bad Request  the payload is not a valid Uplink; it was committed to quarantine with
 *                     the reason, which is also the response's diagnostic payload
 *   4.04 Not Found    any path other than /up/<16 hex digits>
 *   4.03 Forbidden    the sender may not post for this device: a DTLS identity (the
 *                     device's EUI) posting to another device's path; plain CoAP while
 *                     NoSec is off, or for a device that has a coap.psk (it must use
 *                     DTLS); a device the registry does not know, unless
 *                     coap.accept_unregistered
 *   4.05 Not Allowed  any method other than POST on /up/<eui>
 *   4.13 Too Large    payload over coap.max_payload_bytes (Size1 says the limit), or any
 *                     block-wise (Block1) body: libcoap's reassembly is off, so no body is
 *                     ever buffered across datagrams; a body fits one datagram
 * No reply is larger than its request (no amplification of spoofed sources): the
 * diagnostic payload is cut to fit. DTLS (port 5684): the PSK identity is the device's EUI,
 * the key its coap.psk from the registry, looked up in libcoap's handshake (cached, the
 * cache dropped when the registry's settings generation changes).
 *   5.03 Unavailable  the journal's queue is full or a commit failed (Max-Age: retry
 *                     after 2-8 s, random, so that turned-away senders spread out)
 * The decode, the journal writer and the wait for the commit are the ingest core's
 * (ingest/ingest.h: where a sensor is acknowledged). To answer after the commit without
 * blocking the loop, the request is parked with libcoap's async API (ingest/coap.c says
 * how). For a confirmable request libcoap sends an empty ACK at once and the response
 * follows as a separate confirmable message; a sensor must treat only the 2.04 as "stored".
 *
 * Threads: start/stop from the main thread; the adapter's thread owns the libcoap context.
 * The journal writer's completion (writer thread) only queues the result in the ingest core
 * and wakes the adapter through the core's eventfd; libcoap is never touched outside the
 * adapter's thread.
 */
#ifndef SENSORBRO_INGEST_COAP_H
#define SENSORBRO_INGEST_COAP_H

#include <stddef.h>
#include <stdint.h>

#include "store/journal_writer.h"

/* Plain CoAP (NoSec) on opts.port: auto is on until a device of the registry has a
 * coap.psk, then off (re-read when the registry changes). */
enum coap_nosec { COAP_NOSEC_AUTO = 0, COAP_NOSEC_ON = 1, COAP_NOSEC_OFF = 2 };

struct coap_ingest_options {
    const char *bind; /* local address, e.g. "0.0.0.0" or "::" */
    uint16_t port;    /* NoSec; not bound when nosec is COAP_NOSEC_OFF */
    enum coap_nosec nosec;
    const char *dtls_bind;
    uint16_t dtls_port;            /* CoAP over DTLS-PSK; 0: none */
    const char *journal_path;      /* the registry: who is registered, each device's coap.psk */
    bool accept_unregistered;      /* take devices the registry does not know (commissioning) */
    uint32_t max_sessions;         /* idle sessions libcoap keeps per endpoint */
    uint32_t session_idle_s;       /* an idle session is freed after this */
    uint32_t max_handshakes;       /* DTLS sessions in handshake at once */
    size_t max_payload_bytes;      /* at most FRAME_MAX_PAYLOAD_BYTES */
    uint32_t receive_buffer_bytes; /* kernel UDP receive buffer to ask for */
    struct journal_writer *writer;
};

struct coap_ingest_stats {
    uint64_t requests;    /* every request handled */
    uint64_t accepted;    /* 2.04 */
    uint64_t quarantined; /* 4.00 */
    uint64_t not_found;   /* 4.04 */
    uint64_t not_allowed; /* 4.05 */
    uint64_t too_large;   /* 4.13 */
    uint64_t unavailable; /* 5.03 */
    /* 4.03 Forbidden, by reason */
    uint64_t forbidden_wrong_device; /* a DTLS identity posting to another device's path */
    uint64_t forbidden_unregistered; /* a device the registry does not know */
    uint64_t forbidden_nosec;     /* plain CoAP while NoSec is off, or from a device with a key */
    uint64_t forbidden_revoked;   /* a DTLS session whose key the registry no longer has */
    uint64_t too_large_blockwise; /* of too_large: a Block1 (block-wise) body, never buffered */
    uint64_t psk_unknown;         /* DTLS handshakes whose identity has no coap.psk */
    uint64_t kernel_drops;        /* datagrams the kernel dropped: receive buffer full */
};

struct coap_ingest;

/* Binds the endpoint and starts the adapter's thread. Returns -1 with a message in err
 * (e.g. the port is taken). */
int coap_ingest_start(struct coap_ingest **out, const struct coap_ingest_options *opts, char *err,
                      size_t err_size);
/* Stops taking requests, waits until every frame handed to the writer has been answered,
 * and frees the adapter. The journal writer must still be running. final_stats (may be
 * NULL) receives the counters as they stand when nothing more can change them. */
void coap_ingest_stop(struct coap_ingest *ci, struct coap_ingest_stats *final_stats);
void coap_ingest_get_stats(struct coap_ingest *ci, struct coap_ingest_stats *stats);

struct report;
/* The adapter's figures (report.h): received frames, each response code, kernel drops.
 * Touches only what it is given. */
void coap_ingest_collect(const struct coap_ingest_stats *s, struct report *r);

#endif
