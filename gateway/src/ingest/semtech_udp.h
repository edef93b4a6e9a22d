/*
 * ingest/semtech_udp.h - Semtech UDP packet-forwarder ingest (GWMP, protocol version 2;
 * version 1 accepted), with Sensorbro as the edge LoRaWAN network server of its own
 * devices (lorawan/edge_ns.h).
 *
 *   PUSH_DATA  every rxpk is parsed as untrusted input (lorawan/gwmp.h says what is taken,
 *              and names each refusal) and its PHYPayload collected for
 *              dedup_window_ms: copies of the same bytes from several forwarders are one
 *              frame (best RSSI/SNR first, every gateway listed). The frame is judged by
 *              edge_ns; an accepted FPort 1 uplink is journaled (transport "semtech-udp",
 *              device = DevEUI, source = the best forwarder's address), or quarantined
 *              when it does not decode. PUSH_ACK goes back to every PUSH_DATA involved
 *              only after all its frames are committed or dropped (counted); it is not sent
 *              when the journal refused a frame, so that a forwarder that retries can.
 *              The same bytes after the window (up to 30 s) are a late duplicate, unless
 *              they are a new transmission of a confirmed uplink or a Join-Request, which
 *              is judged again (semtech_udp.c says how the two are told apart): a
 *              retransmitted confirmed uplink is ACKed in its own RX1, not stored again.
 *   PULL_DATA  PULL_ACK; the forwarder's address is remembered with its gateway EUI as its
 *              downlink path, unless the EUI is pinned to another host
 *              (ingest/forwarder_table.h: a bounded table whose entries age out, pinned
 *              by configuration or by the first frame that verified for a device).
 *   PULL_RESP  Join-Accepts (RX1, tmst + 5 s) and data downlinks (RX1, tmst + 1 s): same
 *              frequency and data rate as the uplink, ipol true, to the forwarder that heard
 *              the uplink best.
 *   TX_ACK     logged and counted when its error is not NONE.
 *   stat       kept per forwarder (semtech_udp_get_forwarders).
 * Every datagram first takes a token of its source host's bucket (ingest/source_limit.h);
 * one over the rate is dropped unread (rate_limited). Refusals are counted by reason and,
 * for the datagram's source host, per source (logged at stop and when a source starts and
 * stops being rate-limited).
 *
 * Threads: start/stop from the main thread; the adapter's own thread owns the socket, the
 * collection of copies and edge_ns. The journal writer's completion only queues the result
 * in the ingest core (ingest/ingest.h) and writes its eventfd, as for ingest/coap.c.
 * get_stats and get_forwarders may be called from any thread.
 */
#ifndef SENSORBRO_INGEST_SEMTECH_UDP_H
#define SENSORBRO_INGEST_SEMTECH_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "ingest/forwarder_table.h"
#include "lorawan/edge_ns.h"
#include "lorawan/gwmp.h"
#include "store/journal_writer.h"

struct semtech_udp_options {
    const char *bind; /* numeric IPv4 or IPv6 address */
    uint16_t port;
    uint32_t dedup_window_ms;
    uint32_t net_id;
    const char *journal_path; /* the registry lives in the journal database */
    struct journal_writer *writer;
    uint32_t forwarder_timeout_s;      /* a forwarder unheard this long leaves the table */
    bool pin_forwarders;               /* a pin moves only when its entry ages out */
    const struct eui_host *forwarders; /* pinned by configuration (copied at start) */
    size_t n_forwarders;
    uint32_t rate_limit_per_s; /* datagrams per source host; 0: no limit */
    uint32_t rate_burst;
    uint32_t retransmission_window_ms; /* edge_ns_options */
    uint32_t receive_buffer_bytes;     /* SO_RCVBUF asked for the socket; 0: the kernel's */
};

enum semtech_udp_drop {
    /* what the GWMP codec refuses, under the codec's values and names (lorawan/gwmp.h) */
    SEMTECH_UDP_DROP_SHORT = GWMP_DROP_SHORT,                 /* shorter than its header */
    SEMTECH_UDP_DROP_VERSION = GWMP_DROP_BAD_VERSION,         /* version other than 1 or 2 */
    SEMTECH_UDP_DROP_TYPE = GWMP_DROP_BAD_TYPE,               /* not PUSH/PULL_DATA, TX_ACK */
    SEMTECH_UDP_DROP_JSON = GWMP_DROP_BAD_JSON,               /* not a JSON object */
    SEMTECH_UDP_DROP_RXPK_INVALID = GWMP_DROP_RXPK_INVALID,   /* a field missing, wrong */
    SEMTECH_UDP_DROP_RXPK_OVERSIZE = GWMP_DROP_RXPK_OVERSIZE, /* data over any PHYPayload */
    SEMTECH_UDP_DROP_CRC = GWMP_DROP_CRC,                     /* stat not 1: CRC bad or absent */
    SEMTECH_UDP_DROP_NOT_LORA = GWMP_DROP_NOT_LORA,           /* FSK */
    /* the adapter's own */
    SEMTECH_UDP_DROP_BUSY,             /* too many frames in collection at once, or a frame
                                          sent again while its first copy is being stored */
    SEMTECH_UDP_DROP_LATE_DUPLICATE,   /* after the window: another copy of a reception
                                          already judged, or an unconfirmed frame repeated */
    SEMTECH_UDP_DROP_NO_DOWNLINK_PATH, /* a downlink with no path to its forwarder: never
                                          PULLed, PULLs stopped, left the table (logged) */
    SEMTECH_UDP_DROP_JOURNAL,          /* the journal refused or failed to commit a frame */
    SEMTECH_UDP_DROP_RATE_LIMITED,     /* its source host over semtech_udp.rate_limit_per_s */
    SEMTECH_UDP_DROP_PULL_NOT_PINNED,  /* a PULL_DATA for a forwarder pinned to another host */
    SEMTECH_UDP_DROP_COUNT
};

const char *semtech_udp_drop_name(enum semtech_udp_drop reason);

struct semtech_udp_stats {
    uint64_t datagrams;
    uint64_t push_data, push_acks, pull_data, tx_acks, tx_errors, stats_received;
    uint64_t rxpk;        /* rxpk objects read */
    uint64_t duplicates;  /* copies merged into a frame within the window (late: dropped) */
    uint64_t journaled;   /* frames committed to the pending queue */
    uint64_t quarantined; /* frames committed to quarantine (did not decode) */
    uint64_t pull_resps;  /* PULL_RESP datagrams sent: Join-Accepts and data downlinks */
    uint64_t dropped[SEMTECH_UDP_DROP_COUNT];
    /* the forwarder table (forwarder_table.h) */
    uint64_t forwarders_aged_out, forwarders_evicted, pin_changes;
    uint64_t forwarders_refused; /* datagrams of a new forwarder, the table full of pinned
                                    ones: their frames are taken, no downlink path kept */
    uint64_t sources_evicted;    /* source hosts pushed out of the rate limiter's table */
    struct edge_ns_stats ns;
};

struct semtech_udp;

int semtech_udp_start(struct semtech_udp **out, const struct semtech_udp_options *opts, char *err,
                      size_t err_size);
/* Stops reading datagrams, judges what is being collected, waits until every frame handed
 * to the writer is committed and acknowledged, writes the frame counters and frees the
 * adapter. The journal writer must still be running. final_stats (may be NULL) receives
 * the counters as they stand when nothing more can change them. */
void semtech_udp_stop(struct semtech_udp *su, struct semtech_udp_stats *final_stats);
void semtech_udp_get_stats(struct semtech_udp *su, struct semtech_udp_stats *stats);
struct report;
/* The adapter's and its edge network server's figures (report.h), in the order of the
 * stats line; each name means what the metric of that name means (docs/lorawan.md).
 * Touches only what it is given. */
void semtech_udp_collect(const struct semtech_udp_stats *s, struct report *r);
/* Copies up to max forwarders into out; returns how many. */
size_t semtech_udp_get_forwarders(struct semtech_udp *su, struct semtech_udp_forwarder *out,
                                  size_t max);

#endif
