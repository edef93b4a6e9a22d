/*
 * edge_ns.h - the LoRaWAN 1.0.x MAC of Sensorbro's edge network server, without sockets:
 * given one received PHYPayload it returns a verdict (a decrypted uplink to journal, a
 * Join-Accept to send, or a drop with its reason, counted), and after an uplink is stored
 * it builds the RX1 downlink, if any. ingest/semtech_udp.c drives it; unit tests drive it
 * directly.
 *
 * What it does: data uplinks of registered devices (ABP, or OTAA after a join) are looked
 * up by DevAddr in the registry, their 32-bit FCnt rebuilt from the 16 bits on air, the MIC
 * checked with NwkSKey and FRMPayload decrypted (AppSKey; NwkSKey on FPort 0). A replayed
 * or older counter, or one more than MAX_FCNT_GAP (16384) ahead, is refused. A confirmed
 * uplink sent again with the same FCnt (the device missed our ACK) is acknowledged again
 * but not stored twice (see Retransmissions). Join-Requests are checked with the device's
 * AppKey, a DevNonce is accepted once per device ever, and the Join-Accept carries a fresh
 * AppNonce and a new DevAddr unique in the registry (NetID type 0 layout: NwkID = NetID's
 * low 6 bits).
 * MAC commands (FOpts, FPort 0) are read past and ignored; ADR is not done.
 *
 * Duplicates: the caller merges the copies of one frame heard by several forwarders
 * before it calls edge_ns_handle, once per frame. A copy handed in again later is a replay,
 * except that of a confirmed uplink:
 *
 * Retransmissions (LoRaWAN 1.0.4 4.3.1.3; 1.0.2/1.0.3 leave their number to the device): a
 * confirmed uplink with the last accepted FCnt and a valid MIC is the device sending again
 * because it missed our answer. Each one is answered in its own RX1 by a new downlink frame
 * with a new FCntDown ("a downlink frame SHALL NOT be retransmitted using the same frame
 * counter value"), carrying the ACK and, when the first answer to that FCnt carried a queued
 * downlink, that same downlink again: the device did not get it. A retransmission never
 * takes an entry from the queue, so one FCnt consumes at most one queued downlink however
 * often it is sent (or replayed off the air). At most EDGE_NS_MAX_NB_TRANS transmissions of
 * one FCnt are answered (the largest NbTrans a LinkADRReq can set; the spec tells the
 * network to discard transmissions beyond NbTrans); later ones are refused, counted as
 * retransmission_limit. A retransmission must also be byte for byte the frame first
 * accepted with that FCnt (LoRaWAN 1.0.x retransmits unchanged; a SHA-256 of it is kept)
 * and arrive within retransmission_window_ms of it; otherwise it is refused as a replay
 * (retransmission_differs, retransmission_late), and so is one whose first transmission
 * is not known (retransmission_unknown: after a restart, or once its storage failed). A
 * refused replay makes no downlink: it takes nothing from the queue and no FCntDown.
 * Refusals are counted by reason and, in the log, per device. The count, the digest and
 * the queued downlink to repeat live in memory only.
 *
 * Threads: one thread owns a struct edge_ns (and its registry connection); only
 * edge_ns_get_stats may be called from another thread.
 * Keys: held in the registry and briefly on this thread's stack, never logged.
 */
#ifndef SENSORBRO_EDGE_NS_H
#define SENSORBRO_EDGE_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "lorawan/lorawan.h"

#define EDGE_NS_MAX_FCNT_GAP             16384u /* LoRaWAN 1.0.x MAX_FCNT_GAP */
#define EDGE_NS_JOIN_ACCEPT_MAX          33
#define EDGE_NS_FLUSH_PERIOD_MS          10000 /* lazy FCnt writes, at most this far apart */
#define EDGE_NS_UPLINK_FPORT             1     /* FRMPayload of this port is a sensorbro Uplink */
#define EDGE_NS_MAX_NB_TRANS             15 /* LinkADRReq NbTrans is 4 bits: at most 15 transmissions */
#define EDGE_NS_RETRANSMISSION_WINDOW_MS 60000 /* default of retransmission_window_ms */

enum edge_ns_kind {
    EDGE_NS_DROP,        /* counted under its reason; nothing else to do */
    EDGE_NS_UPLINK,      /* an accepted data frame (see journal, confirmed) */
    EDGE_NS_JOIN_ACCEPT, /* send join_accept in RX1 of the Join-Request (5 s after it) */
};

enum edge_ns_drop {
    EDGE_NS_DROP_MALFORMED,   /* lengths, MHDR, FOpts past the end */
    EDGE_NS_DROP_UNSUPPORTED, /* major version, rejoin, proprietary */
    EDGE_NS_DROP_NOT_UPLINK,  /* a downlink or Join-Accept heard by a forwarder */
    EDGE_NS_DROP_UNKNOWN_DEV_ADDR,
    EDGE_NS_DROP_UNKNOWN_DEV_EUI, /* a Join-Request of an unregistered or ABP device */
    EDGE_NS_DROP_JOIN_EUI,        /* a Join-Request with another JoinEUI than registered */
    EDGE_NS_DROP_BAD_MIC,
    EDGE_NS_DROP_REPLAY,                 /* the last accepted FCnt again */
    EDGE_NS_DROP_FCNT_OLD,               /* an FCnt below the last accepted one */
    EDGE_NS_DROP_FCNT_GAP,               /* more than MAX_FCNT_GAP ahead */
    EDGE_NS_DROP_DEV_NONCE,              /* a DevNonce the device has used before */
    EDGE_NS_DROP_RETRANSMISSION_LIMIT,   /* a confirmed FCnt sent more than MAX_NB_TRANS times */
    EDGE_NS_DROP_RETRANSMISSION_LATE,    /* the last confirmed FCnt again, past the window */
    EDGE_NS_DROP_RETRANSMISSION_DIFFERS, /* the last confirmed FCnt again, other bytes */
    EDGE_NS_DROP_RETRANSMISSION_UNKNOWN, /* the last FCnt again, its first frame not known */
    EDGE_NS_DROP_INTERNAL,               /* registry or crypto failure: not the sender's fault */
    EDGE_NS_DROP_COUNT
};

const char *edge_ns_drop_name(enum edge_ns_drop reason);

struct edge_ns_verdict {
    enum edge_ns_kind kind;
    enum edge_ns_drop drop; /* EDGE_NS_DROP only */
    char dev_eui[FRAME_DEVICE_ID_SIZE];
    uint32_t dev_addr;
    /* EDGE_NS_UPLINK */
    uint32_t fcnt;
    bool has_fport;
    uint8_t fport;
    bool confirmed;      /* a confirmed uplink: ACK it in RX1 */
    bool retransmission; /* confirmed, same FCnt as the last: ACK again, do not store again */
    bool journal;        /* FPort 1 (a sensorbro Uplink), new: hand it to the journal */
    size_t payload_len;  /* decrypted FRMPayload */
    uint8_t payload[LORAWAN_PHY_MAX_BYTES];
    /* EDGE_NS_JOIN_ACCEPT */
    size_t join_accept_len;
    uint8_t join_accept[EDGE_NS_JOIN_ACCEPT_MAX];
};

struct edge_ns_stats {
    uint64_t frames;          /* every PHYPayload handled */
    uint64_t uplinks;         /* accepted data frames, retransmissions included */
    uint64_t retransmissions; /* confirmed uplinks seen again and accepted (answered again) */
    uint64_t not_journaled;   /* accepted, on another port than 1 (or none): counted only */
    uint64_t joins;           /* Join-Accepts made (not counted under downlinks) */
    uint64_t downlinks;       /* data downlinks made (ACKs and queued ones; no Join-Accepts) */
    uint64_t queued_sent;     /* of which took an entry from the queue (each entry once) */
    uint64_t queued_resent;   /* of which repeated that entry to a retransmission */
    uint64_t abandoned;       /* accepted but not stored (journal refused): counter undone */
    uint64_t dropped[EDGE_NS_DROP_COUNT];
};

struct edge_ns_options {
    const char *registry_path; /* the journal database */
    uint32_t net_id;           /* 24 bits; its low 6 bits prefix every DevAddr given out */
    uint32_t busy_timeout_ms;
    uint32_t retransmission_window_ms; /* 0: EDGE_NS_RETRANSMISSION_WINDOW_MS */
};

struct edge_ns;

int edge_ns_open(struct edge_ns **out, const struct edge_ns_options *opts, char *err,
                 size_t err_size);
/* Writes the lazily held counters and closes the registry. */
void edge_ns_close(struct edge_ns *ns);

/* Judges one PHYPayload (untrusted bytes, any length). Always fills *out. */
void edge_ns_handle(struct edge_ns *ns, const uint8_t *phy, size_t len,
                    struct edge_ns_verdict *out);

/* The journal did not store an accepted uplink: forget its counter, so that the device's
 * (or forwarder's) retry is taken. Harmless when a later frame moved the counter on. */
void edge_ns_abandon(struct edge_ns *ns, const struct edge_ns_verdict *up);

/* After an accepted uplink is stored (or at once when it is not journaled): the RX1
 * downlink for it, if any: an ACK for a confirmed uplink, and/or the device's oldest
 * queued downlink (marked sent, FCntDown taken and stored before this returns). For a
 * retransmission: the ACK, with the queued downlink the first answer to that FCnt carried,
 * if any; never a new entry of the queue.
 * Returns 1 with the PHYPayload in phy, 0 when there is nothing to send, -1 on failure
 * (counted as internal). */
int edge_ns_downlink(struct edge_ns *ns, const struct edge_ns_verdict *up, uint8_t *phy,
                     size_t phy_size, size_t *phy_len);

/* Writes the counters held in memory to the registry (call every EDGE_NS_FLUSH_PERIOD_MS).
 * Returns 0, or -1 when a write failed (they stay dirty and are tried again). */
int edge_ns_flush(struct edge_ns *ns);

void edge_ns_get_stats(struct edge_ns *ns, struct edge_ns_stats *stats);

#endif
