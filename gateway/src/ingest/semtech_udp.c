/*
 * ingest/semtech_udp.c - the Semtech UDP adapter behind ingest/semtech_udp.h.
 *
 * Life of one uplink: a PUSH_DATA arrives; a struct push remembers where its PUSH_ACK goes
 * and how many of its frames are still open. Each valid rxpk's PHYPayload joins the open
 * struct group with the same bytes (a copy from another forwarder) or opens one. When a
 * group's window closes, edge_ns judges it once: a drop or a Join-Accept closes it at
 * once; an uplink for the journal is classified and submitted by the ingest core
 * (ingest/ingest.h, where a sensor is acknowledged) with the group as context. After the
 * commit the core runs finish_group on the adapter's thread (its eventfd is in the loop's
 * poll): the group's answer is releasing it, which sends the RX1 downlink, if any, and the
 * PUSH_ACKs whose frames are all done. Grouping by the whole PHYPayload (not only DevAddr,
 * FCnt and MIC, which it contains) keeps a tampered copy from riding on a good one. The
 * datagrams themselves are read and written by the GWMP codec (lorawan/gwmp.c); this file
 * only counts its verdicts.
 *
 * Accounting (semtech_udp_ok checks it, in builds with assertions): a push's `remaining`
 * is the number of open or committing groups that list it, plus 1 while its PUSH_DATA is
 * still being collected (the hold that keeps it from being acknowledged half-read); a group
 * lists a push at most once; the core's outstanding submissions are the groups in
 * GROUP_COMMITTING.
 *
 * Late copies. A closed group's bytes, and which forwarder heard them at which tmst, stay
 * in `recent` for RECENT_KEEP_MS. A LoRaWAN 1.0.x retransmission is byte-identical to the
 * frame it repeats, so identical bytes after the window are one of two things:
 *   - the same reception, straggling: a forwarder that already contributed sends it again
 *     with (within the dedup window) the same tmst; or a forwarder that did not contribute
 *     sends it less than RETRANSMIT_MIN_MS after the group opened, sooner than any device
 *     may transmit again. A late duplicate: counted, not judged.
 *   - a new transmission: a contributing forwarder reports another tmst (its counter moved
 *     on by at least the device's retransmission delay), or another forwarder sends it
 *     later than that. Such a copy opens a group of its own and is judged again when the
 *     frame asks for an answer: a confirmed uplink (edge_ns answers a retransmission in
 *     the RX1 of this new reception, with a new FCntDown, and does not store it again) or
 *     a Join-Request (a replay: dev_nonce_reused, as after RECENT_KEEP_MS). Any other
 *     frame (an unconfirmed uplink repeated, NbTrans) is a late duplicate either way.
 */
#include "ingest/semtech_udp.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ingest/ingest.h"
#include "util/clock.h"
#include "ingest/source_limit.h"
#include "report.h"
#include "util/log.h"

#define DATAGRAM_MAX 65536
/* PUSH_DATAs and frames in flight at once: a frame stays in its group for the dedup window
 * (200 ms by default) and then until its commit, so these bound the rate the adapter takes;
 * 128 groups capped it at ~640 frames/s (issue 13). 4096 take ~20,000 frames/s; the tables
 * are allocated once, ~6 MiB of address space of which only the slots used are touched (a
 * free slot is reused before a fresh one). Every lookup on the path of a frame is O(1): a
 * hash of the PHYPayload, free lists, and the open groups in the order they opened (their
 * windows are all as long, so that is also the order they close in). */
#define MAX_PUSHES        4096
#define MAX_GROUPS        4096
#define GROUP_BUCKETS     (2 * MAX_GROUPS) /* a power of two */
#define MAX_COPIES        8
#define MAX_PUSH_REFS     8
#define RECENT_FRAMES     64
#define RECENT_KEEP_MS    30000 /* a copy this late is still a duplicate, not a replay */
#define LOOP_MAX_WAIT_MS  1000
#define TX_POWER_DBM      14 /* EU868 default max EIRP for 868.1..868.5 MHz */
#define JOIN_DELAY_US     (LORAWAN_JOIN_ACCEPT_DELAY1_MS * 1000u)
#define RX1_DELAY_US      (LORAWAN_RECEIVE_DELAY1_MS * 1000u)
#define ADDRESS_TEXT_SIZE FRAME_SOURCE_SIZE
#define PULL_RESP_MAX     (GWMP_HEADER_BYTES + 1024) /* a txpk longer than this is not sent */
/* The soonest a device sends a frame again: RECEIVE_DELAY2 (2 s) plus RETRANSMIT_TIMEOUT
 * (1..3 s, LoRaWAN 1.0.4 4.3.1.3; ACK_TIMEOUT 2 +- 1 s in 1.0.2) after its uplink ended. */
#define RETRANSMIT_MIN_MS 3000
/* A rate-limited source is logged as back to normal after this long without a refusal. */
#define RATE_LIMIT_QUIET_MS 10000

struct address {
    struct sockaddr_storage sa;
    socklen_t len;
};

struct push {
    bool in_use;
    bool failed; /* a frame of it was not stored: no PUSH_ACK */
    uint8_t version;
    uint16_t token;
    struct address from;
    unsigned remaining; /* its frames not yet done */
};

struct copy {
    int forwarder; /* index into forwarders, -1 when the table was full */
    char eui[FRAME_DEVICE_ID_SIZE];
    char address[ADDRESS_TEXT_SIZE];
    uint32_t tmst_us;
    uint32_t freq_hz;
    char datr[GWMP_DATR_SIZE];
    char codr[GWMP_CODR_SIZE];
    int16_t rssi_dbm;
    float snr_db;
};

enum group_state { GROUP_FREE, GROUP_OPEN, GROUP_COMMITTING };

struct group {
    enum group_state state;
    int64_t opened_ms;   /* monotonic: at the first copy */
    uint64_t opened_seq; /* the order groups opened in (opened_ms ties in a burst) */
    int64_t deadline_ms; /* monotonic: when the window closes */
    int64_t received_ms; /* wall clock at the first copy */
    size_t len;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t n_copies;
    struct copy copies[MAX_COPIES];
    size_t n_pushes;
    int pushes[MAX_PUSH_REFS];
    uint32_t hash; /* of phy, while not GROUP_FREE */
    int hash_next; /* the next group in its bucket, -1: none */
    struct edge_ns_verdict verdict;
    struct ingest_ticket ticket; /* GROUP_COMMITTING: classified, submitted, then completed */
};

/* A judged frame: its bytes and the receptions it was made of (forwarder, tmst). */
struct recent {
    int64_t opened_ms;
    int64_t closed_ms;
    size_t len;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t n_heard;
    struct {
        int forwarder; /* -1: not in the forwarder table */
        uint32_t tmst_us;
    } heard[MAX_COPIES];
};

enum late_copy {
    LATE_NONE,             /* bytes not judged recently */
    LATE_DUPLICATE,        /* another copy of a reception already judged */
    LATE_NEW_TRANSMISSION, /* the device sent the same bytes again: judge them again */
};

struct semtech_udp {
    struct semtech_udp_options opts;
    char bind[64];
    int fd;
    struct ingest *ingest; /* classify, submit, the commit's completions (its fd polled) */
    pthread_t thread;
    atomic_bool stopping;

    pthread_mutex_t forwarders_lock; /* the table is written by the adapter, read by any */
    struct forwarder_table table;
    struct eui_host pins[SEMTECH_UDP_MAX_FORWARDERS]; /* semtech_udp.forwarders */

    /* adapter thread only */
    struct source_limit sources;
    int source; /* the entry of the datagram being handled, or -1 */

    /* adapter thread only */
    struct edge_ns *ns;
    struct push *pushes;  /* MAX_PUSHES */
    struct group *groups; /* MAX_GROUPS */
    int *free_pushes;     /* stack of free push slots, lowest on top */
    size_t n_free_pushes;
    int *free_groups; /* stack of free group slots, lowest on top */
    size_t n_free_groups;
    int *buckets;   /* GROUP_BUCKETS chains of non-free groups by hash of phy, -1: none */
    int *open_ring; /* the GROUP_OPEN groups in the order they opened */
    size_t open_head, n_open;
    struct recent recent[RECENT_FRAMES];
    size_t recent_next;
    int collecting; /* the push whose PUSH_DATA is being read (holding it open), or -1 */
    uint64_t next_opened_seq;
    struct frame_record record;
    uint8_t buf[DATAGRAM_MAX];
    int64_t next_flush_ms;

    _Atomic uint64_t datagrams, push_data, push_acks, pull_data, tx_acks, tx_errors, stats_received,
        rxpk, duplicates, journaled, quarantined, pull_resps;
    _Atomic uint64_t dropped[SEMTECH_UDP_DROP_COUNT];
    _Atomic uint64_t forwarders_refused, sources_evicted;
};

/* The adapter's own reasons; the codec's are named by the codec. */
static const char *const adapter_drop_names[] = {
    [SEMTECH_UDP_DROP_BUSY - SEMTECH_UDP_DROP_BUSY] = "busy",
    [SEMTECH_UDP_DROP_LATE_DUPLICATE - SEMTECH_UDP_DROP_BUSY] = "late_duplicate",
    [SEMTECH_UDP_DROP_NO_DOWNLINK_PATH - SEMTECH_UDP_DROP_BUSY] = "no_downlink_path",
    [SEMTECH_UDP_DROP_JOURNAL - SEMTECH_UDP_DROP_BUSY] = "journal",
    [SEMTECH_UDP_DROP_RATE_LIMITED - SEMTECH_UDP_DROP_BUSY] = "rate_limited",
    [SEMTECH_UDP_DROP_PULL_NOT_PINNED - SEMTECH_UDP_DROP_BUSY] = "pull_not_pinned",
};
_Static_assert(SEMTECH_UDP_DROP_COUNT <= SOURCE_LIMIT_REASONS,
               "every reason can be counted per source");
_Static_assert(SEMTECH_UDP_DROP_BUSY == GWMP_DROP_NOT_LORA + 1,
               "the codec's server-side verdicts come first, each under its own value");
_Static_assert(sizeof(adapter_drop_names) / sizeof(adapter_drop_names[0]) ==
                   SEMTECH_UDP_DROP_COUNT - SEMTECH_UDP_DROP_BUSY,
               "a name for every reason of the adapter's own");

const char *semtech_udp_drop_name(enum semtech_udp_drop reason)
{
    if (reason < SEMTECH_UDP_DROP_BUSY)
        return gwmp_drop_name((enum gwmp_drop)reason);
    return reason < SEMTECH_UDP_DROP_COUNT ? adapter_drop_names[reason - SEMTECH_UDP_DROP_BUSY]
                                           : "?";
}

/* Counted by reason, and for the source host of the datagram being handled, if any. */
static void count_drop(struct semtech_udp *su, enum semtech_udp_drop why)
{
    atomic_fetch_add(&su->dropped[why], 1);
    if (su->source >= 0)
        source_limit_count(&su->sources, su->source, (unsigned)why);
}

/* A verdict of the codec's server side, counted under the same name. */
static void count_refusal(struct semtech_udp *su, enum gwmp_drop why)
{
    assert(why <= GWMP_DROP_NOT_LORA);
    count_drop(su, (enum semtech_udp_drop)why);
}

static void format_address(const struct address *a, char out[ADDRESS_TEXT_SIZE])
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(out, ADDRESS_TEXT_SIZE, "%s:%u", host, port);
    } else if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(out, ADDRESS_TEXT_SIZE, "[%s]:%u", host, port);
    } else {
        snprintf(out, ADDRESS_TEXT_SIZE, "?");
    }
}

/* The host of a, in the canonical text of util/eui_host.h (no port). */
static void format_host(const struct address *a, char out[EUI_HOST_HOST_SIZE])
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (a->sa.ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->sa)->sin_addr, host, sizeof(host));
    else if (a->sa.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->sa)->sin6_addr, host, sizeof(host));
    if (eui_host_canonical(host, out) != 0)
        snprintf(out, EUI_HOST_HOST_SIZE, "?");
}

/* The host part of format_address's "host:port" or "[v6]:port". */
static void host_of_address(const char *address, char out[EUI_HOST_HOST_SIZE])
{
    char text[ADDRESS_TEXT_SIZE];
    snprintf(text, sizeof(text), "%s", address);
    char *colon = strrchr(text, ':');
    if (colon)
        *colon = '\0';
    char *h = text;
    size_t n = strlen(h);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h[n - 1] = '\0';
        h++;
    }
    if (eui_host_canonical(h, out) != 0)
        snprintf(out, EUI_HOST_HOST_SIZE, "?");
}

static void send_to(struct semtech_udp *su, const struct address *to, const uint8_t *buf,
                    size_t len)
{
    if (sendto(su->fd, buf, len, 0, (const struct sockaddr *)&to->sa, to->len) < 0) {
        char where[ADDRESS_TEXT_SIZE];
        format_address(to, where);
        log_warn("semtech-udp: send to %s: %s", where, strerror(errno));
    }
}

/* ---- invariants ---- */

#ifndef NDEBUG
/* The accounting of the file's top comment. Adapter thread, at the points where no group
 * or push is half-changed. */
static bool semtech_udp_ok(struct semtech_udp *su)
{
    unsigned listed[MAX_PUSHES] = {0};
    size_t committing = 0;
    for (size_t i = 0; i < MAX_GROUPS; i++) {
        const struct group *g = &su->groups[i];
        if (g->state == GROUP_FREE)
            continue;
        committing += g->state == GROUP_COMMITTING;
        if (g->len > LORAWAN_PHY_MAX_BYTES || g->n_copies < 1 || g->n_copies > MAX_COPIES ||
            g->n_pushes < 1 || g->n_pushes > MAX_PUSH_REFS)
            return false;
        for (size_t k = 0; k < g->n_pushes; k++) {
            int p = g->pushes[k];
            if (p < 0 || p >= MAX_PUSHES || !su->pushes[p].in_use)
                return false;
            for (size_t j = 0; j < k; j++) {
                if (g->pushes[j] == p)
                    return false; /* listed twice: its ACK would be counted down twice */
            }
            listed[p]++;
        }
    }
    for (int p = 0; p < MAX_PUSHES; p++) {
        const struct push *push = &su->pushes[p];
        unsigned hold = p == su->collecting ? 1 : 0;
        if (push->in_use ? push->remaining != listed[p] + hold || push->remaining == 0
                         : listed[p] != 0)
            return false;
    }
    return ingest_outstanding(su->ingest) == committing;
}
#endif

/* ---- forwarders ---- */

/* The copies and recent receptions naming slot are of a forwarder that left the table:
 * the slot now holds another (or none), so they name none. */
static void forget_forwarder_refs(struct semtech_udp *su, int slot)
{
    for (size_t i = 0; i < MAX_GROUPS; i++) {
        struct group *g = &su->groups[i];
        for (size_t k = 0; g->state != GROUP_FREE && k < g->n_copies; k++) {
            if (g->copies[k].forwarder == slot)
                g->copies[k].forwarder = -1;
        }
    }
    for (size_t i = 0; i < RECENT_FRAMES; i++) {
        for (size_t k = 0; k < su->recent[i].n_heard; k++) {
            if (su->recent[i].heard[k].forwarder == slot)
                su->recent[i].heard[k].forwarder = -1;
        }
    }
}

/* The forwarder with this EUI, heard from host: added when new (a full table gives up its
 * stalest unpinned entry). -1 when the table is full of pinned forwarders. */
static int forwarder_index(struct semtech_udp *su, const char eui[FRAME_DEVICE_ID_SIZE],
                           const char *host)
{
    bool evicted = false;
    char old_eui[FRAME_DEVICE_ID_SIZE] = "";
    pthread_mutex_lock(&su->forwarders_lock);
    bool known = forwarder_table_find(&su->table, eui) >= 0;
    if (!known) {
        /* the entry a full table would give up, named for the log below */
        int stalest = -1;
        for (int i = 0; i < SEMTECH_UDP_MAX_FORWARDERS; i++) {
            const struct forwarder_slot *f = &su->table.slots[i];
            if (f->used && f->info.pin == FORWARDER_UNPINNED &&
                (stalest < 0 || f->heard_ms < su->table.slots[stalest].heard_ms))
                stalest = i;
        }
        if (stalest >= 0)
            snprintf(old_eui, sizeof(old_eui), "%s", su->table.slots[stalest].info.eui);
    }
    int index = forwarder_table_heard(&su->table, eui, host, clock_mono_ms(), &evicted);
    pthread_mutex_unlock(&su->forwarders_lock);
    if (known)
        return index;
    if (index < 0) {
        uint64_t n = atomic_fetch_add(&su->forwarders_refused, 1) + 1;
        if ((n & (n - 1)) == 0) /* the 1st, 2nd, 4th ...: a flood does not flood the log */
            log_warn("semtech-udp: forwarder table full (%d forwarders, all pinned): %s at %s "
                     "gets no downlinks (%" PRIu64 " such datagrams)",
                     SEMTECH_UDP_MAX_FORWARDERS, eui, host, n);
        return -1;
    }
    if (evicted) {
        forget_forwarder_refs(su, index);
        log_info("semtech-udp: new forwarder %s at %s; the table is full: %s, the longest "
                 "unheard, evicted",
                 eui, host, old_eui);
    } else {
        log_info("semtech-udp: new forwarder %s at %s", eui, host);
    }
    return index;
}

/* Removes the forwarders unheard for semtech_udp.forwarder_timeout_s. */
static void expire_forwarders(struct semtech_udp *su)
{
    for (;;) {
        char eui[FRAME_DEVICE_ID_SIZE];
        pthread_mutex_lock(&su->forwarders_lock);
        int slot = forwarder_table_expire_one(&su->table, clock_mono_ms());
        if (slot >= 0)
            snprintf(eui, sizeof(eui), "%s",
                     su->table
                         .forgotten[(su->table.forgotten_next + FORWARDER_FORGOTTEN - 1) %
                                    FORWARDER_FORGOTTEN]
                         .eui);
        pthread_mutex_unlock(&su->forwarders_lock);
        if (slot < 0)
            return;
        forget_forwarder_refs(su, slot);
        log_info("semtech-udp: forwarder %s aged out (no PUSH_DATA or PULL_DATA for %" PRIu32 " s)",
                 eui, su->opts.forwarder_timeout_s);
    }
}

/* After edge_ns verified a frame for a registered device: the forwarders whose PUSH_DATA
 * carried it sent authenticated traffic, from the host of that copy (forwarder_table.h). */
static void authenticate_forwarders(struct semtech_udp *su, const struct group *g)
{
    for (size_t i = 0; i < g->n_copies; i++) {
        const struct copy *c = &g->copies[i];
        if (c->forwarder < 0)
            continue;
        char host[EUI_HOST_HOST_SIZE];
        host_of_address(c->address, host);
        pthread_mutex_lock(&su->forwarders_lock);
        struct forwarder_slot *f = &su->table.slots[c->forwarder];
        char before[EUI_HOST_HOST_SIZE];
        snprintf(before, sizeof(before), "%s", f->info.pinned_host);
        enum forwarder_auth a =
            forwarder_table_authenticated(&su->table, c->forwarder, host, clock_mono_ms());
        uint64_t changes = f->info.pin_changes;
        pthread_mutex_unlock(&su->forwarders_lock);
        switch (a) {
        case FORWARDER_AUTH_SAME:
            break;
        case FORWARDER_AUTH_NEW:
            log_info("semtech-udp: forwarder %s pinned to %s (its first frame that verified for "
                     "device %s)",
                     c->eui, host, g->verdict.dev_eui);
            break;
        case FORWARDER_AUTH_MOVED:
            log_warn("semtech-udp: forwarder %s moved from %s to %s (a frame that verified for "
                     "device %s; semtech_udp.pin_forwarders = false): downlinks follow "
                     "(%" PRIu64 " moves)",
                     c->eui, before, host, g->verdict.dev_eui, changes);
            break;
        case FORWARDER_AUTH_KEPT:
            log_warn("semtech-udp: forwarder %s is pinned to %s, but a frame that verified for "
                     "device %s came with its EUI from %s: downlinks stay with %s until the "
                     "entry ages out",
                     c->eui, before, g->verdict.dev_eui, host, before);
            break;
        }
    }
}

/* A forwarder's stat object (lorawan/gwmp.h has read and checked it). */
static void apply_stat(struct semtech_udp *su, int fwd, const struct gwmp_stat *stat)
{
    atomic_fetch_add(&su->stats_received, 1);
    if (fwd < 0)
        return;
    pthread_mutex_lock(&su->forwarders_lock);
    struct semtech_udp_forwarder *f = &su->table.slots[fwd].info;
    f->has_stat = true;
    f->rxnb = stat->rxnb;
    f->rxok = stat->rxok;
    f->rxfw = stat->rxfw;
    f->dwnb = stat->dwnb;
    f->txnb = stat->txnb;
    f->ackr = stat->ackr;
    pthread_mutex_unlock(&su->forwarders_lock);
}

/* ---- pushes and groups ---- */

static int alloc_push(struct semtech_udp *su)
{
    if (su->n_free_pushes == 0)
        return -1;
    int i = su->free_pushes[--su->n_free_pushes];
    assert(!su->pushes[i].in_use);
    memset(&su->pushes[i], 0, sizeof(su->pushes[i]));
    su->pushes[i].in_use = true;
    return i;
}

static uint32_t phy_hash(const uint8_t *phy, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ phy[i]) * 16777619u;
    return h;
}

/* One of the push's frames is done; the last one done sends its PUSH_ACK. */
static void push_frame_done(struct semtech_udp *su, int index, bool stored)
{
    struct push *p = &su->pushes[index];
    assert(p->in_use && p->remaining > 0);
    if (!stored)
        p->failed = true;
    if (p->remaining > 0)
        p->remaining--;
    if (p->remaining > 0)
        return;
    if (!p->failed) {
        uint8_t ack[GWMP_HEADER_BYTES];
        size_t n = gwmp_build_push_ack(p->version, p->token, ack, sizeof(ack));
        send_to(su, &p->from, ack, n);
        atomic_fetch_add(&su->push_acks, 1);
    }
    p->in_use = false;
    su->free_pushes[su->n_free_pushes++] = index;
}

static void remember_recent(struct semtech_udp *su, const struct group *g)
{
    struct recent *r = &su->recent[su->recent_next];
    su->recent_next = (su->recent_next + 1) % RECENT_FRAMES;
    r->opened_ms = g->opened_ms;
    r->closed_ms = clock_mono_ms();
    r->len = g->len;
    memcpy(r->phy, g->phy, g->len);
    r->n_heard = g->n_copies;
    for (size_t i = 0; i < g->n_copies; i++) {
        r->heard[i].forwarder = g->copies[i].forwarder;
        r->heard[i].tmst_us = g->copies[i].tmst_us;
    }
}

/* Whether two tmst values of one forwarder are within tolerance_us (the counter wraps at
 * 2^32 us, about 71 minutes). */
static bool same_tmst(uint32_t a, uint32_t b, uint32_t tolerance_us)
{
    uint32_t diff = a - b;
    if (diff > UINT32_MAX / 2)
        diff = b - a;
    return diff <= tolerance_us;
}

/* The frames whose new transmissions are judged again: a confirmed uplink (the device
 * wants its ACK) and a Join-Request (a replay, counted as such by edge_ns). */
static bool asks_answer(const uint8_t *phy, size_t len)
{
    enum lorawan_mtype mtype = len > 0 ? (enum lorawan_mtype)(phy[0] >> 5) : LORAWAN_PROPRIETARY;
    return mtype == LORAWAN_CONFIRMED_UP || mtype == LORAWAN_JOIN_REQUEST;
}

/* What a copy is in the light of the frames judged recently (the file's top comment).
 * collecting: a group with these bytes is open, so only a reception already judged keeps
 * the copy out of it. */
static enum late_copy judge_late_copy(struct semtech_udp *su, const uint8_t *phy, size_t len,
                                      const struct copy *c, bool collecting, int64_t now_ms)
{
    uint32_t tolerance_us = su->opts.dedup_window_ms * 1000u;
    bool seen = false, heard_before = false;
    int64_t last_opened_ms = 0;
    for (size_t i = 0; i < RECENT_FRAMES; i++) {
        const struct recent *r = &su->recent[i];
        if (r->len != len || len == 0 || now_ms - r->closed_ms >= RECENT_KEEP_MS ||
            memcmp(r->phy, phy, len) != 0)
            continue;
        if (!seen || r->opened_ms > last_opened_ms)
            last_opened_ms = r->opened_ms;
        seen = true;
        for (size_t k = 0; k < r->n_heard; k++) {
            if (c->forwarder < 0 || r->heard[k].forwarder != c->forwarder)
                continue;
            if (same_tmst(r->heard[k].tmst_us, c->tmst_us, tolerance_us))
                return LATE_DUPLICATE; /* this forwarder's copy of that very reception */
            heard_before = true;
        }
    }
    if (!seen)
        return LATE_NONE;
    if (collecting)
        return LATE_NEW_TRANSMISSION;
    if (!asks_answer(phy, len))
        return LATE_DUPLICATE;
    if (heard_before)
        return LATE_NEW_TRANSMISSION; /* the forwarder heard it before, at another time */
    return now_ms - last_opened_ms < RETRANSMIT_MIN_MS ? LATE_DUPLICATE : LATE_NEW_TRANSMISSION;
}

/* Finishes a group: every push involved gets its frame done. */
static void release_group(struct semtech_udp *su, struct group *g, bool stored)
{
    for (size_t i = 0; i < g->n_pushes; i++)
        push_frame_done(su, g->pushes[i], stored);
    OPENSSL_cleanse(&g->verdict, sizeof(g->verdict));
    g->state = GROUP_FREE;
    int index = (int)(g - su->groups);
    for (int *link = &su->buckets[g->hash & (GROUP_BUCKETS - 1)]; *link >= 0;
         link = &su->groups[*link].hash_next) {
        if (*link == index) {
            *link = g->hash_next;
            break;
        }
    }
    su->free_groups[su->n_free_groups++] = index;
}

/* The copy that heard the frame best: highest RSSI, then SNR. */
static const struct copy *best_copy(const struct group *g)
{
    const struct copy *best = &g->copies[0];
    for (size_t i = 1; i < g->n_copies; i++) {
        const struct copy *c = &g->copies[i];
        if (frame_radio_better(c->rssi_dbm, c->snr_db, best->rssi_dbm, best->snr_db))
            best = c;
    }
    return best;
}

/* Sends phy as a PULL_RESP in the receive window delay_us after the uplink's tmst, on the
 * uplink's frequency and data rate, to the forwarder that heard it best. */
static void send_downlink(struct semtech_udp *su, const struct group *g, uint32_t delay_us,
                          const uint8_t *phy, size_t len)
{
    const struct copy *c = best_copy(g);
    if (len > LORAWAN_PHY_MAX_BYTES)
        return; /* edge_ns writes none longer */
    struct address path = {.len = 0};
    int slot = -1;
    pthread_mutex_lock(&su->forwarders_lock);
    enum forwarder_path_state state =
        forwarder_table_path(&su->table, c->eui, clock_mono_ms(), &slot);
    if (state == FORWARDER_PATH_OK) {
        path.len = su->table.slots[slot].down_len;
        memcpy(&path.sa, &su->table.slots[slot].down, path.len);
    }
    pthread_mutex_unlock(&su->forwarders_lock);
    if (state != FORWARDER_PATH_OK) {
        count_drop(su, SEMTECH_UDP_DROP_NO_DOWNLINK_PATH);
        log_warn("semtech-udp: no downlink path to forwarder %s (%s): downlink for %s dropped",
                 c->eui, forwarder_path_state_text(state), g->verdict.dev_eui);
        return;
    }
    struct gwmp_txpk tx = {.imme = false,
                           .tmst_us = (uint32_t)(c->tmst_us + delay_us),
                           .freq_hz = c->freq_hz,
                           .rfch = 0,
                           .powe_dbm = TX_POWER_DBM,
                           .ipol = true,
                           .size = len};
    /* No "ncrc", as ChirpStack sends none: its Gateway Bridge's TXPK.NCRC is omitempty and
     * never set, and ChirpStack v4 builds every data downlink and Join-Accept with
     * no_crc false. The forwarder then sends a PHY CRC (lora_pkt_fwd's default); the
     * device reads from the explicit header whether one follows (docs/lorawan.md). */
    snprintf(tx.datr, sizeof(tx.datr), "%s", c->datr);
    snprintf(tx.codr, sizeof(tx.codr), "%s", c->codr[0] ? c->codr : "4/5");
    memcpy(tx.data, phy, len);
    uint16_t token;
    if (RAND_bytes((uint8_t *)&token, sizeof(token)) != 1)
        token = 0;
    uint8_t out[PULL_RESP_MAX];
    size_t n = gwmp_build_pull_resp(GWMP_VERSION, token, &tx, out, sizeof(out));
    if (n > 0) {
        send_to(su, &path, out, n);
        atomic_fetch_add(&su->pull_resps, 1);
    }
}

/* The RX1 downlink of an accepted uplink, if edge_ns has one. */
static void answer_uplink(struct semtech_udp *su, struct group *g)
{
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t len = 0;
    if (edge_ns_downlink(su->ns, &g->verdict, phy, sizeof(phy), &len) == 1)
        send_downlink(su, g, RX1_DELAY_US, phy, len);
}

/* The core's answer for a committed group (adapter thread, from ingest_complete): durable
 * first, then acknowledged, on air too; a frame not stored is given back to edge_ns. */
static void finish_group(void *adapter, struct ingest_ticket *t)
{
    struct semtech_udp *su = adapter;
    struct group *g = t->ctx;
    bool stored = t->result == INGEST_STORED;
    if (stored) {
        atomic_fetch_add(t->verdict == INGEST_QUARANTINE ? &su->quarantined : &su->journaled, 1);
        answer_uplink(su, g);
    } else {
        count_drop(su, SEMTECH_UDP_DROP_JOURNAL);
        edge_ns_abandon(su->ns, &g->verdict);
    }
    release_group(su, g, stored);
    ingest_answered(su->ingest, t);
}

/* Hands an accepted FPort 1 uplink to the journal writer. */
static void journal_group(struct semtech_udp *su, struct group *g)
{
    struct frame_record *rec = &su->record;
    const struct edge_ns_verdict *v = &g->verdict;
    const struct copy *best = best_copy(g);
    memset(rec, 0, offsetof(struct frame_record, payload));
    snprintf(rec->device, sizeof(rec->device), "%s", v->dev_eui);
    snprintf(rec->transport, sizeof(rec->transport), "semtech-udp");
    snprintf(rec->source, sizeof(rec->source), "%s", best->address);
    rec->received_ms = g->received_ms;
    struct frame_radio *r = &rec->radio;
    r->has_lorawan = true;
    r->fcnt = v->fcnt;
    r->fport = v->fport;
    r->rssi_dbm = best->rssi_dbm;
    r->snr_db = best->snr_db;
    r->freq_hz = best->freq_hz;
    snprintf(r->datr, sizeof(r->datr), "%s", best->datr);
    /* gateways best first, each once */
    bool taken[MAX_COPIES] = {false};
    while (r->n_gateways < FRAME_MAX_GATEWAYS) {
        int pick = -1;
        for (size_t i = 0; i < g->n_copies; i++) {
            const struct copy *c = &g->copies[i];
            if (taken[i])
                continue;
            if (pick < 0 || frame_radio_better(c->rssi_dbm, c->snr_db, g->copies[pick].rssi_dbm,
                                               g->copies[pick].snr_db))
                pick = (int)i;
        }
        if (pick < 0)
            break;
        for (size_t i = 0; i < g->n_copies; i++) {
            if (strcmp(g->copies[i].eui, g->copies[pick].eui) == 0)
                taken[i] = true;
        }
        snprintf(r->gateways[r->n_gateways++], FRAME_DEVICE_ID_SIZE, "%s", g->copies[pick].eui);
    }
    rec->payload_len = v->payload_len;
    memcpy(rec->payload, v->payload, v->payload_len);

    ingest_classify(su->ingest, rec, &g->ticket);
    g->state = GROUP_COMMITTING;
    if (ingest_submit(su->ingest, &g->ticket, rec, g) != INGEST_PENDING) {
        /* the journal full or its queue: no PUSH_ACK, so that the forwarder may retry */
        count_drop(su, SEMTECH_UDP_DROP_JOURNAL);
        edge_ns_abandon(su->ns, v);
        release_group(su, g, false);
    }
}

/* The window of a group closed: judge the frame once. */
static void close_group(struct semtech_udp *su, struct group *g)
{
    remember_recent(su, g);
    edge_ns_handle(su->ns, g->phy, g->len, &g->verdict);
    struct edge_ns_verdict *v = &g->verdict;
    if (v->kind == EDGE_NS_JOIN_ACCEPT || (v->kind == EDGE_NS_UPLINK && !v->retransmission))
        authenticate_forwarders(su, g); /* before the answer: its path follows the pin */
    switch (v->kind) {
    case EDGE_NS_DROP:
        log_debug("semtech-udp: frame from %s dropped: %s", best_copy(g)->eui,
                  edge_ns_drop_name(v->drop));
        release_group(su, g, true);
        return;
    case EDGE_NS_JOIN_ACCEPT:
        log_info("semtech-udp: device %s joined, DevAddr %08x", v->dev_eui, (unsigned)v->dev_addr);
        send_downlink(su, g, JOIN_DELAY_US, v->join_accept, v->join_accept_len);
        release_group(su, g, true);
        return;
    case EDGE_NS_UPLINK:
        if (v->journal) {
            journal_group(su, g);
        } else {
            answer_uplink(su, g); /* nothing to store: ACK or queued downlink now */
            release_group(su, g, true);
        }
        return;
    }
}

/* Judges the groups whose window closed in the order they opened, not in the order of
 * their slots: after a stall (the adapter's thread not scheduled, a slow commit) several
 * frames of one device can be due at once, and judging its later FCnt first would make the
 * earlier ones old_fcnt, dropped though their PUSH_DATA is acknowledged. */
static void close_due_groups(struct semtech_udp *su, bool all)
{
    int64_t now = clock_mono_ms();
    while (su->n_open > 0) {
        struct group *first = &su->groups[su->open_ring[su->open_head]];
        assert(first->state == GROUP_OPEN);
        if (!all && now < first->deadline_ms)
            break;
        su->open_head = (su->open_head + 1) % MAX_GROUPS;
        su->n_open--;
        close_group(su, first); /* leaves it FREE or COMMITTING: each is closed once */
    }
    assert(semtech_udp_ok(su));
}

/* Adds one frame copy of push `push` to its group. Returns false when it was dropped
 * without joining a group (counted). */
static bool collect(struct semtech_udp *su, int push, const uint8_t *phy, size_t len,
                    const struct copy *copy)
{
    int64_t now = clock_mono_ms();
    struct group *open_group = NULL;
    bool committing = false;
    uint32_t hash = phy_hash(phy, len);
    for (int i = su->buckets[hash & (GROUP_BUCKETS - 1)]; i >= 0; i = su->groups[i].hash_next) {
        struct group *g = &su->groups[i];
        bool same = g->hash == hash && g->len == len && memcmp(g->phy, phy, len) == 0;
        if (same && g->state == GROUP_OPEN)
            open_group = g;
        committing = committing || (same && g->state == GROUP_COMMITTING);
    }
    if (judge_late_copy(su, phy, len, copy, open_group != NULL, now) == LATE_DUPLICATE) {
        count_drop(su, SEMTECH_UDP_DROP_LATE_DUPLICATE);
        return false;
    }
    if (open_group) {
        struct group *g = open_group;
        atomic_fetch_add(&su->duplicates, 1);
        if (g->n_copies < MAX_COPIES)
            g->copies[g->n_copies++] = *copy;
        bool listed = false;
        for (size_t k = 0; k < g->n_pushes; k++)
            listed = listed || g->pushes[k] == push;
        if (listed)
            return false; /* the same bytes twice in one PUSH_DATA: one frame */
        if (g->n_pushes == MAX_PUSH_REFS) {
            /* its ACK would wait for nobody: it is a copy, acknowledge it as done */
            return false;
        }
        g->pushes[g->n_pushes++] = push;
        return true;
    }
    if (committing) {
        /* sent again while the first transmission is still being stored: answering now
         * would acknowledge what is not durable yet. The device will send it again. */
        count_drop(su, SEMTECH_UDP_DROP_BUSY);
        su->pushes[push].failed = true;
        return false;
    }
    if (su->n_free_groups == 0) {
        count_drop(su, SEMTECH_UDP_DROP_BUSY);
        su->pushes[push].failed = true;
        return false;
    }
    int index = su->free_groups[--su->n_free_groups];
    struct group *g = &su->groups[index];
    assert(g->state == GROUP_FREE);
    memset(g, 0, offsetof(struct group, verdict));
    g->hash = hash;
    g->hash_next = su->buckets[hash & (GROUP_BUCKETS - 1)];
    su->buckets[hash & (GROUP_BUCKETS - 1)] = index;
    su->open_ring[(su->open_head + su->n_open) % MAX_GROUPS] = index;
    su->n_open++;
    g->state = GROUP_OPEN;
    g->opened_ms = now;
    g->opened_seq = su->next_opened_seq++;
    g->deadline_ms = now + su->opts.dedup_window_ms;
    g->received_ms = clock_wall_ms();
    g->len = len;
    memcpy(g->phy, phy, len);
    g->copies[0] = *copy;
    g->n_copies = 1;
    g->pushes[0] = push;
    g->n_pushes = 1;
    return true;
}

/* One usable rxpk of the forwarder fwd (-1: not in the table) as a copy for collect. */
static void make_copy(const struct gwmp_rxpk *rx, int fwd, const char *eui, const char *address,
                      struct copy *c)
{
    c->forwarder = fwd;
    snprintf(c->eui, sizeof(c->eui), "%s", eui);
    snprintf(c->address, sizeof(c->address), "%s", address);
    c->tmst_us = rx->tmst_us;
    c->freq_hz = rx->freq_hz;
    memcpy(c->datr, rx->datr, sizeof(c->datr));
    memcpy(c->codr, rx->codr, sizeof(c->codr));
    c->rssi_dbm = rx->rssi_dbm;
    c->snr_db = (float)rx->lsnr_db;
}

static void handle_push_data(struct semtech_udp *su, const uint8_t *buf, size_t len,
                             const struct address *from)
{
    atomic_fetch_add(&su->push_data, 1);
    struct gwmp_push_data pd;
    enum gwmp_drop why;
    if (gwmp_parse_push_data(buf, len, &pd, &why) != 0) {
        count_refusal(su, why);
        gwmp_push_data_free(&pd);
        return;
    }
    char eui[FRAME_DEVICE_ID_SIZE], address[ADDRESS_TEXT_SIZE], host[EUI_HOST_HOST_SIZE];
    gwmp_format_eui(pd.eui, eui);
    format_host(from, host);
    int fwd = forwarder_index(su, eui, host);
    format_address(from, address);
    if (fwd >= 0) {
        pthread_mutex_lock(&su->forwarders_lock);
        struct semtech_udp_forwarder *f = &su->table.slots[fwd].info;
        snprintf(f->address, sizeof(f->address), "%s", address);
        f->last_seen_ms = clock_wall_ms();
        f->push_data++;
        pthread_mutex_unlock(&su->forwarders_lock);
    }
    if (pd.has_stat)
        apply_stat(su, fwd, &pd.stat);

    int push = alloc_push(su);
    if (push < 0) {
        count_drop(su, SEMTECH_UDP_DROP_BUSY);
        gwmp_push_data_free(&pd);
        return; /* no ACK: the forwarder may send it again */
    }
    struct push *p = &su->pushes[push];
    p->version = pd.header.version;
    p->token = pd.header.token;
    p->from = *from;
    p->remaining = 1; /* held open until every rxpk is collected */
    su->collecting = push;
    if (pd.rxpk_not_array)
        count_drop(su, SEMTECH_UDP_DROP_RXPK_INVALID);
    struct gwmp_rxpk rx;
    int got;
    while ((got = gwmp_push_data_next(&pd, &rx, &why)) >= 0) {
        atomic_fetch_add(&su->rxpk, 1);
        if (got == 0) {
            count_refusal(su, why);
            continue;
        }
        struct copy c;
        make_copy(&rx, fwd, eui, address, &c);
        if (collect(su, push, rx.data, rx.size, &c))
            p->remaining++;
        assert(semtech_udp_ok(su));
    }
    gwmp_push_data_free(&pd);
    su->collecting = -1;
    push_frame_done(su, push, true); /* the hold taken above */
    assert(semtech_udp_ok(su));
}

static void handle_pull_data(struct semtech_udp *su, const uint8_t *buf, size_t len,
                             const struct address *from)
{
    atomic_fetch_add(&su->pull_data, 1);
    struct gwmp_pull_data pull;
    enum gwmp_drop why;
    if (gwmp_parse_pull_data(buf, len, &pull, &why) != 0) {
        count_refusal(su, why);
        return;
    }
    char eui[FRAME_DEVICE_ID_SIZE], host[EUI_HOST_HOST_SIZE];
    gwmp_format_eui(pull.eui, eui);
    format_host(from, host);
    int fwd = forwarder_index(su, eui, host);
    if (fwd >= 0) {
        pthread_mutex_lock(&su->forwarders_lock);
        struct forwarder_slot *slot = &su->table.slots[fwd];
        bool taken = forwarder_table_pull(&su->table, fwd, host, (const struct sockaddr *)&from->sa,
                                          from->len, clock_mono_ms());
        if (taken)
            format_address(from, slot->info.downlink);
        slot->info.last_seen_ms = clock_wall_ms();
        uint64_t refused = slot->info.pull_refused;
        char pinned[EUI_HOST_HOST_SIZE];
        snprintf(pinned, sizeof(pinned), "%s", slot->info.pinned_host);
        pthread_mutex_unlock(&su->forwarders_lock);
        if (!taken) {
            /* still answered: PULL_ACK says nothing, and a silent refusal would tell a
             * prober which EUIs are pinned */
            count_drop(su, SEMTECH_UDP_DROP_PULL_NOT_PINNED);
            if ((refused & (refused - 1)) == 0)
                log_warn("semtech-udp: PULL_DATA for forwarder %s from %s refused: it is pinned "
                         "to %s, its downlinks stay there (%" PRIu64 " refused)",
                         eui, host, pinned, refused);
        }
    }
    uint8_t ack[GWMP_HEADER_BYTES];
    size_t n = gwmp_build_pull_ack(pull.header.version, pull.header.token, ack, sizeof(ack));
    send_to(su, from, ack, n);
}

static void handle_tx_ack(struct semtech_udp *su, const uint8_t *buf, size_t len)
{
    atomic_fetch_add(&su->tx_acks, 1);
    struct gwmp_tx_ack ack;
    enum gwmp_drop why;
    if (gwmp_parse_tx_ack(buf, len, &ack, &why) != 0) {
        count_refusal(su, why);
        return;
    }
    if (!ack.failed)
        return;
    atomic_fetch_add(&su->tx_errors, 1);
    char eui[FRAME_DEVICE_ID_SIZE];
    gwmp_format_eui(ack.eui, eui);
    pthread_mutex_lock(&su->forwarders_lock);
    int fwd = forwarder_table_find(&su->table, eui); /* a TX_ACK adds no forwarder */
    if (fwd >= 0)
        su->table.slots[fwd].info.tx_errors++;
    pthread_mutex_unlock(&su->forwarders_lock);
    log_warn("semtech-udp: forwarder %s could not send a downlink: %s", eui, ack.error);
}

static void handle_datagram(struct semtech_udp *su, const uint8_t *buf, size_t len,
                            const struct address *from)
{
    atomic_fetch_add(&su->datagrams, 1);
    char host[EUI_HOST_HOST_SIZE];
    format_host(from, host);
    int64_t now = clock_mono_ms();
    su->source = source_limit_find(&su->sources, host, now);
    atomic_store(&su->sources_evicted, su->sources.evicted);
    struct source_entry *src = &su->sources.entries[su->source];
    if (!source_limit_take(&su->sources, su->source, now)) {
        count_drop(su, SEMTECH_UDP_DROP_RATE_LIMITED);
        if (!src->limited)
            log_warn("semtech-udp: source %s over its rate limit (semtech_udp.rate_limit_per_s "
                     "%" PRIu32 ", burst %" PRIu32 "): its datagrams are dropped unread",
                     host, su->opts.rate_limit_per_s, su->opts.rate_burst);
        src->limited = true;
        src->limited_ms = now;
        src->limited_now++;
        return;
    }
    if (src->limited && now - src->limited_ms >= RATE_LIMIT_QUIET_MS) {
        log_info("semtech-udp: source %s under its rate limit again, %" PRIu64
                 " datagrams dropped meanwhile",
                 host, src->limited_now);
        src->limited = false;
        src->limited_now = 0;
    }
    struct gwmp_header header;
    enum gwmp_drop why;
    if (gwmp_parse_header(buf, len, GWMP_SERVER, &header, &why) != 0) {
        count_refusal(su, why);
        return;
    }
    switch (header.type) {
    case GWMP_PUSH_DATA:
        handle_push_data(su, buf, len, from);
        break;
    case GWMP_PULL_DATA:
        handle_pull_data(su, buf, len, from);
        break;
    case GWMP_TX_ACK:
        handle_tx_ack(su, buf, len);
        break;
    default: /* gwmp_parse_header lets no other type through */
        count_drop(su, SEMTECH_UDP_DROP_TYPE);
    }
}

/* ---- the adapter's thread ---- */

static int next_wait_ms(struct semtech_udp *su, int max_ms)
{
    int64_t now = clock_mono_ms();
    int64_t wait = max_ms;
    if (su->n_open > 0 && su->groups[su->open_ring[su->open_head]].deadline_ms - now < wait)
        wait = su->groups[su->open_ring[su->open_head]].deadline_ms - now;
    if (su->next_flush_ms - now < wait)
        wait = su->next_flush_ms - now;
    return wait < 0 ? 0 : (int)wait;
}

static void run_once(struct semtech_udp *su, bool read_socket, int max_wait_ms)
{
    struct pollfd fds[2] = {{.fd = ingest_fd(su->ingest), .events = POLLIN},
                            {.fd = su->fd, .events = read_socket ? POLLIN : 0}};
    int n = poll(fds, 2, next_wait_ms(su, max_wait_ms));
    if (n > 0 && (fds[0].revents & POLLIN)) {
        ingest_complete(su->ingest); /* finish_group for each committed group */
        assert(semtech_udp_ok(su));
    }
    if (n > 0 && (fds[1].revents & POLLIN)) {
        for (int i = 0; i < 64; i++) { /* a burst, but let timers run between bursts */
            struct address from = {.len = sizeof(from.sa)};
            ssize_t got = recvfrom(su->fd, su->buf, sizeof(su->buf), MSG_DONTWAIT,
                                   (struct sockaddr *)&from.sa, &from.len);
            if (got < 0)
                break;
            handle_datagram(su, su->buf, (size_t)got, &from);
            su->source = -1; /* what follows is no datagram's doing */
        }
    }
    expire_forwarders(su);
    close_due_groups(su, false);
    if (clock_mono_ms() >= su->next_flush_ms) {
        if (edge_ns_flush(su->ns) != 0)
            log_warn("semtech-udp: frame counters not written yet (tried again later)");
        su->next_flush_ms = clock_mono_ms() + EDGE_NS_FLUSH_PERIOD_MS;
    }
}

/* A turn of the loop while stopping: no more datagrams, only the writer's completions. */
static void drain_once(void *adapter, int max_wait_ms)
{
    run_once(adapter, false, max_wait_ms);
}

static void *semtech_main(void *arg)
{
    struct semtech_udp *su = arg;
    pthread_setname_np(pthread_self(), "sb-semtech"); /* for top -H and perf */
    while (!atomic_load(&su->stopping))
        run_once(su, true, LOOP_MAX_WAIT_MS);
    /* judge what is being collected, then wait for the writer to answer all of it */
    close_due_groups(su, true);
    ingest_drain(su->ingest, drain_once, su);
    return NULL;
}

static int bind_socket(struct semtech_udp *su, char *err, size_t err_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", su->opts.port);
    int rc = getaddrinfo(su->bind, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, err_size, "semtech_udp.bind %s: not a numeric IPv4 or IPv6 address (%s)",
                 su->bind, gai_strerror(rc));
        return -1;
    }
    su->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (su->fd < 0 || bind(su->fd, res->ai_addr, res->ai_addrlen) != 0) {
        snprintf(err, err_size, "semtech-udp: cannot listen on UDP %s port %u: %s", su->bind,
                 su->opts.port, strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    /* A forwarder's burst (one PUSH_DATA per frame at thousands a second) overflows the
     * kernel's default buffer (~208 KiB) while the thread is busy judging: as CoAP does,
     * ask for more; FORCE works with CAP_NET_ADMIN and ignores net.core.rmem_max. */
    int want = (int)su->opts.receive_buffer_bytes;
    if (want > 0) {
        if (setsockopt(su->fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof(want)) != 0)
            setsockopt(su->fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof(want));
        int got = 0;
        socklen_t len = sizeof(got);
        getsockopt(su->fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
        /* Linux reports twice the size asked for (it counts its bookkeeping) */
        if (got / 2 < want)
            log_warn("semtech-udp: UDP receive buffer is %d KiB, not the %d KiB asked for "
                     "(net.core.rmem_max caps it); bursts may be dropped by the kernel",
                     got / 2 / 1024, want / 1024);
    }
    return 0;
}

static void free_adapter(struct semtech_udp *su)
{
    edge_ns_close(su->ns);
    if (su->fd >= 0)
        close(su->fd);
    ingest_free(su->ingest);
    pthread_mutex_destroy(&su->forwarders_lock);
    free(su->pushes);
    free(su->groups);
    free(su->free_pushes);
    free(su->free_groups);
    free(su->buckets);
    free(su->open_ring);
    free(su);
}

int semtech_udp_start(struct semtech_udp **out, const struct semtech_udp_options *opts, char *err,
                      size_t err_size)
{
    *out = NULL;
    struct semtech_udp *su = calloc(1, sizeof(*su));
    if (su == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    su->opts = *opts;
    snprintf(su->bind, sizeof(su->bind), "%s", opts->bind);
    su->opts.bind = su->bind;
    su->opts.journal_path = NULL; /* used at start only */
    su->fd = -1;
    su->collecting = -1;
    su->source = -1;
    su->pushes = calloc(MAX_PUSHES, sizeof(*su->pushes));
    su->groups = calloc(MAX_GROUPS, sizeof(*su->groups));
    su->free_pushes = calloc(MAX_PUSHES, sizeof(*su->free_pushes));
    su->free_groups = calloc(MAX_GROUPS, sizeof(*su->free_groups));
    su->buckets = calloc(GROUP_BUCKETS, sizeof(*su->buckets));
    su->open_ring = calloc(MAX_GROUPS, sizeof(*su->open_ring));
    if (su->pushes == NULL || su->groups == NULL || su->free_pushes == NULL ||
        su->free_groups == NULL || su->buckets == NULL || su->open_ring == NULL) {
        snprintf(err, err_size, "out of memory");
        free(su->pushes);
        free(su->groups);
        free(su->free_pushes);
        free(su->free_groups);
        free(su->buckets);
        free(su->open_ring);
        free(su);
        return -1;
    }
    for (size_t i = 0; i < MAX_PUSHES; i++)
        su->free_pushes[i] = (int)(MAX_PUSHES - 1 - i);
    su->n_free_pushes = MAX_PUSHES;
    for (size_t i = 0; i < MAX_GROUPS; i++)
        su->free_groups[i] = (int)(MAX_GROUPS - 1 - i);
    su->n_free_groups = MAX_GROUPS;
    for (size_t i = 0; i < GROUP_BUCKETS; i++)
        su->buckets[i] = -1;
    size_t n_pins = opts->n_forwarders < SEMTECH_UDP_MAX_FORWARDERS ? opts->n_forwarders
                                                                    : SEMTECH_UDP_MAX_FORWARDERS;
    if (n_pins > 0)
        memcpy(su->pins, opts->forwarders, n_pins * sizeof(su->pins[0]));
    su->opts.forwarders = su->pins;
    su->opts.n_forwarders = n_pins;
    forwarder_table_init(&su->table, (int64_t)opts->forwarder_timeout_s * 1000,
                         opts->pin_forwarders, su->pins, n_pins);
    source_limit_init(&su->sources, opts->rate_limit_per_s, opts->rate_burst);
    pthread_mutex_init(&su->forwarders_lock, NULL);
    struct edge_ns_options nso = {.registry_path = opts->journal_path,
                                  .net_id = opts->net_id,
                                  .busy_timeout_ms = 5000,
                                  .retransmission_window_ms = opts->retransmission_window_ms};
    char why[384];
    if (edge_ns_open(&su->ns, &nso, why, sizeof(why)) != 0) {
        snprintf(err, err_size, "semtech-udp: device registry: %s", why);
        free_adapter(su);
        return -1;
    }
    if (bind_socket(su, err, err_size) != 0) {
        free_adapter(su);
        return -1;
    }
    const struct ingest_options io = {
        .writer = opts->writer, .mode = INGEST_MAILBOX, .answer = finish_group, .adapter = su};
    if (ingest_create(&su->ingest, &io) != 0) {
        snprintf(err, err_size, "semtech-udp: eventfd: %s", strerror(errno));
        free_adapter(su);
        return -1;
    }
    su->next_flush_ms = clock_mono_ms() + EDGE_NS_FLUSH_PERIOD_MS;
    int rc = pthread_create(&su->thread, NULL, semtech_main, su);
    if (rc != 0) {
        snprintf(err, err_size, "semtech-udp: cannot start thread: %s", strerror(rc));
        free_adapter(su);
        return -1;
    }
    *out = su;
    return 0;
}

/* One line per source host that had datagrams refused: by reason, the counters of
 * count_drop (the adapter's thread has ended). */
static void log_refusals_by_source(struct semtech_udp *su)
{
    for (int i = 0; i < SOURCE_LIMIT_MAX; i++) {
        const struct source_entry *e = &su->sources.entries[i];
        char line[512] = "";
        size_t used = 0;
        for (int r = 0; e->used && r < SEMTECH_UDP_DROP_COUNT; r++) {
            if (e->refused[r] > 0 && used < sizeof(line))
                used += (size_t)snprintf(line + used, sizeof(line) - used, " %s=%" PRIu64,
                                         semtech_udp_drop_name((enum semtech_udp_drop)r),
                                         e->refused[r]);
        }
        if (used > 0)
            log_info("stats: source %s (semtech-udp): passed %" PRIu64 ", refused:%s", e->host,
                     e->passed, line);
    }
}

void semtech_udp_stop(struct semtech_udp *su, struct semtech_udp_stats *final_stats)
{
    if (su == NULL)
        return;
    atomic_store(&su->stopping, true);
    ingest_wake(su->ingest);
    pthread_join(su->thread, NULL);
    log_refusals_by_source(su);
    if (final_stats)
        semtech_udp_get_stats(su, final_stats);
    free_adapter(su);
}

void semtech_udp_get_stats(struct semtech_udp *su, struct semtech_udp_stats *s)
{
    memset(s, 0, sizeof(*s));
    s->datagrams = atomic_load(&su->datagrams);
    s->push_data = atomic_load(&su->push_data);
    s->push_acks = atomic_load(&su->push_acks);
    s->pull_data = atomic_load(&su->pull_data);
    s->tx_acks = atomic_load(&su->tx_acks);
    s->tx_errors = atomic_load(&su->tx_errors);
    s->stats_received = atomic_load(&su->stats_received);
    s->rxpk = atomic_load(&su->rxpk);
    s->duplicates = atomic_load(&su->duplicates);
    s->journaled = atomic_load(&su->journaled);
    s->quarantined = atomic_load(&su->quarantined);
    s->pull_resps = atomic_load(&su->pull_resps);
    for (int i = 0; i < SEMTECH_UDP_DROP_COUNT; i++)
        s->dropped[i] = atomic_load(&su->dropped[i]);
    s->forwarders_refused = atomic_load(&su->forwarders_refused);
    pthread_mutex_lock(&su->forwarders_lock);
    s->forwarders_aged_out = su->table.aged_out;
    s->forwarders_evicted = su->table.evicted;
    s->pin_changes = su->table.pin_changes;
    pthread_mutex_unlock(&su->forwarders_lock);
    s->sources_evicted = atomic_load(&su->sources_evicted);
    edge_ns_get_stats(su->ns, &s->ns);
}

void semtech_udp_collect(const struct semtech_udp_stats *s, struct report *r)
{
    static const char packets[] = "sensorbro_semtech_packets_total";
    report_labelled(r, "sensorbro_frames_received_total", "transport", "semtech-udp", NULL,
                    s->journaled + s->quarantined + s->dropped[SEMTECH_UDP_DROP_JOURNAL]);
    report_counter(r, NULL, "datagrams ", s->datagrams);
    report_labelled(r, packets, "type", "push_data", " (push ", s->push_data);
    report_labelled(r, packets, "type", "pull_data", ", pull ", s->pull_data);
    report_labelled(r, packets, "type", "tx_ack", ", tx_ack ", s->tx_acks);
    report_counter(r, "sensorbro_semtech_tx_errors_total", ", tx errors ", s->tx_errors);
    report_text(r, ")");
    report_counter(r, "sensorbro_semtech_rxpk_total", ", rxpk ", s->rxpk);
    /* copies merged within the window; a late copy is a drop (late_duplicate) */
    report_labelled(r, "sensorbro_frames_duplicate_total", "transport", "semtech-udp",
                    ", duplicates ", s->duplicates);
    report_counter(r, NULL, ", frames ", s->ns.frames);
    report_counter(r, "sensorbro_lorawan_uplinks_total", ", uplinks ", s->ns.uplinks);
    report_counter(r, NULL, " (journaled ", s->journaled);
    report_counter(r, NULL, ", quarantined ", s->quarantined);
    report_counter(r, "sensorbro_lorawan_not_journaled_total", ", not journaled ",
                   s->ns.not_journaled);
    report_counter(r, "sensorbro_lorawan_retransmissions_total", ", retransmissions ",
                   s->ns.retransmissions);
    report_text(r, ")");
    report_counter(r, "sensorbro_lorawan_joins_total", ", joins ", s->ns.joins);
    /* data downlinks: no Join-Accepts */
    report_counter(r, "sensorbro_lorawan_downlinks_total", ", downlinks ", s->ns.downlinks);
    report_counter(r, "sensorbro_lorawan_downlinks_queued_total", " (queued ", s->ns.queued_sent);
    report_counter(r, "sensorbro_lorawan_downlinks_resent_total", ", resent ", s->ns.queued_resent);
    report_text(r, ")");
    report_labelled(r, packets, "type", "pull_resp", ", pull_resp ", s->pull_resps);
    report_counter(r, NULL, ", push acks ", s->push_acks);
    /* the forwarder table (forwarder_table.h) and the per-source limit (source_limit.h) */
    report_labelled(r, "sensorbro_semtech_forwarders_removed_total", "reason", "aged_out",
                    ", forwarders aged out ", s->forwarders_aged_out);
    report_labelled(r, "sensorbro_semtech_forwarders_removed_total", "reason", "evicted",
                    ", evicted ", s->forwarders_evicted);
    report_counter(r, "sensorbro_semtech_forwarders_refused_total", ", refused ",
                   s->forwarders_refused);
    report_counter(r, "sensorbro_semtech_forwarder_pin_changes_total", ", pin changes ",
                   s->pin_changes);
    report_counter(r, "sensorbro_semtech_sources_evicted_total", ", sources evicted ",
                   s->sources_evicted);
    report_text(r, ", dropped:");
    bool any = false;
    for (int i = 0; i < SEMTECH_UDP_DROP_COUNT; i++)
        any |= report_reason(r, "sensorbro_semtech_dropped_total", "reason",
                             semtech_udp_drop_name((enum semtech_udp_drop)i), s->dropped[i]);
    for (int i = 0; i < EDGE_NS_DROP_COUNT; i++)
        any |= report_reason(r, "sensorbro_lorawan_dropped_total", "reason",
                             edge_ns_drop_name((enum edge_ns_drop)i), s->ns.dropped[i]);
    if (!any)
        report_text(r, " none");
}

size_t semtech_udp_get_forwarders(struct semtech_udp *su, struct semtech_udp_forwarder *out,
                                  size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&su->forwarders_lock);
    for (int i = 0; i < SEMTECH_UDP_MAX_FORWARDERS && n < max; i++) {
        if (su->table.slots[i].used)
            out[n++] = su->table.slots[i].info;
    }
    pthread_mutex_unlock(&su->forwarders_lock);
    return n;
}
