/*
 * forwarder_table.h - the Semtech UDP adapter's bounded table of packet forwarders: what
 * it knows of each gateway EUI (its addresses, counters, last stat), where its downlinks
 * go, and which host it is pinned to. No sockets, no clock, no locks: the caller passes
 * the time and serialises access (ingest/semtech_udp.c holds its forwarders_lock), so the
 * rules below are unit-tested directly (tests/unit/test_forwarder_table.c).
 *
 * Bounded: at most SEMTECH_UDP_MAX_FORWARDERS entries. An entry not heard (PUSH_DATA or
 * PULL_DATA) for timeout_ms is removed (aged out); configured entries never are. A new
 * EUI arriving at a full table takes the place of the stalest entry that is not pinned, so
 * made-up EUIs cannot keep a real forwarder out; only a table full of pinned forwarders
 * refuses a newcomer.
 *
 * Downlink path: the address of the forwarder's last accepted PULL_DATA, usable while that
 * PULL_DATA is less than timeout_ms old (a forwarder PULLs every keepalive_interval, 10 s
 * by default). forwarder_table_path says why there is none: never PULLed, PULLs stopped
 * (aged out), or not in the table (aged out, evicted, or the table full of pinned ones).
 *
 * Pinning. Semtech UDP carries no authentication: anyone who can send a datagram to the
 * port can claim any gateway EUI. An entry is pinned to a host (IP address, no port: the
 * packet forwarder sends PUSH and PULL from two ephemeral ports) by configuration
 * (semtech_udp.forwarders) or by its first authenticated traffic: a PUSH_DATA carrying a
 * frame whose MIC verified for a registered device (forwarder_table_authenticated, called
 * after edge_ns judged the frame). Once pinned:
 *   - a PULL_DATA with its EUI from another host does not change its downlink path
 *     (refused, counted, logged by the caller);
 *   - only traffic from the pinned host keeps the entry from ageing out, so a forwarder
 *     that moved to another address is re-pinned after timeout_ms (by its next
 *     authenticated traffic), and a spoofer cannot keep a stale pin alive;
 *   - with pin = false (semtech_udp.pin_forwarders = false), authenticated traffic from a
 *     new host moves the pin there at once (counted as a pin change); configured pins
 *     never move.
 * When the pin is set or moves, a downlink path from another host is forgotten.
 */
#ifndef SENSORBRO_FORWARDER_TABLE_H
#define SENSORBRO_FORWARDER_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "frame.h"
#include "util/eui_host.h"

#define SEMTECH_UDP_MAX_FORWARDERS 64
#define FORWARDER_FORGOTTEN        64 /* EUIs removed recently, remembered to say why */

enum forwarder_pin { FORWARDER_UNPINNED, FORWARDER_PINNED_BY_TRAFFIC, FORWARDER_PINNED_BY_CONFIG };

/* What the adapter shows of one forwarder (semtech_udp_get_forwarders, the stats log). */
struct semtech_udp_forwarder {
    char eui[FRAME_DEVICE_ID_SIZE];
    char address[FRAME_SOURCE_SIZE];  /* of its last PUSH_DATA */
    char downlink[FRAME_SOURCE_SIZE]; /* of its last accepted PULL_DATA, "" when none */
    int64_t last_seen_ms;             /* wall clock */
    uint64_t push_data, pull_data, tx_errors;
    enum forwarder_pin pin;
    char pinned_host[EUI_HOST_HOST_SIZE]; /* "" when unpinned */
    uint64_t pull_refused;                /* PULL_DATAs from another host than the pinned one */
    uint64_t pin_changes;                 /* times the pin moved (pin = false only) */
    bool has_stat;                        /* its last stat object: */
    uint32_t rxnb, rxok, rxfw, dwnb, txnb;
    double ackr;
};

struct forwarder_slot {
    bool used;
    struct semtech_udp_forwarder info;
    int64_t heard_ms;  /* monotonic: last traffic that keeps it (see pinning) */
    int64_t pulled_ms; /* monotonic: last accepted PULL_DATA */
    struct sockaddr_storage down;
    socklen_t down_len; /* 0: no downlink path */
};

enum forwarder_gone { FORWARDER_AGED_OUT, FORWARDER_EVICTED };

struct forwarder_table {
    int64_t timeout_ms;
    bool pin; /* semtech_udp.pin_forwarders */
    struct forwarder_slot slots[SEMTECH_UDP_MAX_FORWARDERS];
    struct {
        char eui[FRAME_DEVICE_ID_SIZE];
        enum forwarder_gone why;
    } forgotten[FORWARDER_FORGOTTEN]; /* a ring */
    size_t forgotten_next;
    uint64_t aged_out, evicted, refused_full, pull_refused, pin_changes;
};

enum forwarder_path_state {
    FORWARDER_PATH_OK,
    FORWARDER_PATH_NEVER_PULLED, /* in the table, no PULL_DATA accepted (since its pin) */
    FORWARDER_PATH_PULL_STALE,   /* its last PULL_DATA is older than timeout_ms */
    FORWARDER_PATH_AGED_OUT,     /* not in the table: removed after timeout_ms unheard */
    FORWARDER_PATH_EVICTED,      /* not in the table: pushed out by a newcomer */
    FORWARDER_PATH_UNKNOWN,      /* not in the table, not removed recently: it was full */
};

/* Empties the table and adds the configured pins (at most SEMTECH_UDP_MAX_FORWARDERS). */
void forwarder_table_init(struct forwarder_table *t, int64_t timeout_ms, bool pin,
                          const struct eui_host *pins, size_t n_pins);

/* The slot of eui, or -1. */
int forwarder_table_find(const struct forwarder_table *t, const char *eui);

/* Traffic (PUSH_DATA, PULL_DATA or TX_ACK) of eui from host at now_ms: its slot, added when
 * new (evicting the stalest unpinned entry of a full table: its slot index is reused and
 * *evicted set, so that the caller forgets references to the old occupant). -1 when the
 * table is full of pinned forwarders (counted). Keeps the entry alive when it is unpinned
 * or host is its pinned host. */
int forwarder_table_heard(struct forwarder_table *t, const char *eui, const char *host,
                          int64_t now_ms, bool *evicted);

/* Removes one entry unheard for timeout_ms (not configured ones); returns its slot (now
 * free) or -1 when none is due. Call until -1. */
int forwarder_table_expire_one(struct forwarder_table *t, int64_t now_ms);

/* A PULL_DATA of slot from host (address sa, len): returns true when it became the
 * downlink path, false when the entry is pinned to another host (counted). */
bool forwarder_table_pull(struct forwarder_table *t, int slot, const char *host,
                          const struct sockaddr *sa, socklen_t len, int64_t now_ms);

enum forwarder_auth {
    FORWARDER_AUTH_SAME,  /* already pinned to host */
    FORWARDER_AUTH_NEW,   /* pinned to host now (it was unpinned) */
    FORWARDER_AUTH_MOVED, /* pin moved to host (pin = false) */
    FORWARDER_AUTH_KEPT,  /* pinned to another host, and that stays (pin = true, or config) */
};

/* slot sent, from host, a frame that verified for a registered device. */
enum forwarder_auth forwarder_table_authenticated(struct forwarder_table *t, int slot,
                                                  const char *host, int64_t now_ms);

/* Where eui's downlinks go: FORWARDER_PATH_OK with *slot set, or why not. */
enum forwarder_path_state forwarder_table_path(const struct forwarder_table *t, const char *eui,
                                               int64_t now_ms, int *slot);

const char *forwarder_path_state_text(enum forwarder_path_state s);

#endif
