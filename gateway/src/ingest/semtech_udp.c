/*
 * ingest/semtech_udp.c - the Semtech UDP adapter behind ingest/semtech_udp.h.
 *
 * Life of one uplink: a PUSH_DATA arrives; a struct push remembers where its PUSH_ACK goes
 * and how many of its frames are still open. Each valid rxpk's PHYPayload joins the open
 * struct group with the same bytes (a copy from another forwarder) or opens one. When a
 * group's window closes, edge_ns judges it once: a drop or a Join-Accept closes it at
 * once; an uplink for the journal goes to the writer with the group as context. The
 * writer's completion (writer thread) queues the group and writes the eventfd; the
 * adapter's loop then sends the RX1 downlink, if any, and the PUSH_ACKs whose frames are
 * all done. Grouping by the whole PHYPayload (not only DevAddr, FCnt and MIC, which it
 * contains) keeps a tampered copy from riding on a good one.
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
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util/clock.h"
#include "decode.h"
#include "report.h"
#include "util/log.h"

#define GWMP_PUSH_DATA 0
#define GWMP_PUSH_ACK  1
#define GWMP_PULL_DATA 2
#define GWMP_PULL_RESP 3
#define GWMP_PULL_ACK  4
#define GWMP_TX_ACK    5

#define HEADER_BYTES      4
#define EUI_BYTES         8
#define DATAGRAM_MAX      65536
#define MAX_PUSHES        256
#define MAX_GROUPS        128
#define MAX_COPIES        8
#define MAX_PUSH_REFS     8
#define RECENT_FRAMES     64
#define RECENT_KEEP_MS    30000 /* a copy this late is still a duplicate, not a replay */
#define DATA_B64_MAX      ((LORAWAN_PHY_MAX_BYTES + 2) / 3 * 4)
#define LOOP_MAX_WAIT_MS  1000
#define TX_POWER_DBM      14 /* EU868 default max EIRP for 868.1..868.5 MHz */
#define JOIN_DELAY_US     (LORAWAN_JOIN_ACCEPT_DELAY1_MS * 1000u)
#define RX1_DELAY_US      (LORAWAN_RECEIVE_DELAY1_MS * 1000u)
#define ADDRESS_TEXT_SIZE FRAME_SOURCE_SIZE
/* The soonest a device sends a frame again: RECEIVE_DELAY2 (2 s) plus RETRANSMIT_TIMEOUT
 * (1..3 s, LoRaWAN 1.0.4 4.3.1.3; ACK_TIMEOUT 2 +- 1 s in 1.0.2) after its uplink ended. */
#define RETRANSMIT_MIN_MS 3000

struct address {
    struct sockaddr_storage sa;
    socklen_t len;
};

struct push {
    bool in_use;
    bool failed; /* a frame of it was not stored: no PUSH_ACK */
    uint8_t version;
    uint8_t token[2];
    struct address from;
    unsigned remaining; /* its frames not yet done */
};

struct copy {
    int forwarder; /* index into forwarders, -1 when the table was full */
    char eui[FRAME_DEVICE_ID_SIZE];
    char address[ADDRESS_TEXT_SIZE];
    uint32_t tmst_us;
    uint32_t freq_hz;
    char datr[16];
    char codr[8];
    int16_t rssi_dbm;
    float snr_db;
};

enum group_state { GROUP_FREE, GROUP_OPEN, GROUP_COMMITTING };

struct group {
    enum group_state state;
    int64_t opened_ms;   /* monotonic: at the first copy */
    int64_t deadline_ms; /* monotonic: when the window closes */
    int64_t received_ms; /* wall clock at the first copy */
    size_t len;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t n_copies;
    struct copy copies[MAX_COPIES];
    size_t n_pushes;
    int pushes[MAX_PUSH_REFS];
    int status; /* the writer's: 0 committed, -1 not stored */
    bool quarantined;
    struct edge_ns_verdict verdict;
    struct semtech_udp *su;
    struct group *next_done;
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
    int event_fd;
    pthread_t thread;
    atomic_bool stopping;

    pthread_mutex_t done_lock;
    struct group *done_head; /* committed by the writer, not yet finished */
    size_t outstanding;      /* handed to the writer and not yet back: under done_lock */

    pthread_mutex_t forwarders_lock; /* the table is written by the adapter, read by any */
    struct semtech_udp_forwarder forwarders[SEMTECH_UDP_MAX_FORWARDERS];
    size_t n_forwarders;
    struct address downlink_path[SEMTECH_UDP_MAX_FORWARDERS]; /* adapter thread only */

    /* adapter thread only */
    struct edge_ns *ns;
    struct push pushes[MAX_PUSHES];
    struct group groups[MAX_GROUPS];
    struct recent recent[RECENT_FRAMES];
    size_t recent_next;
    struct decoder decoder;
    struct decoded_uplink uplink;
    struct frame_record record;
    uint8_t buf[DATAGRAM_MAX];
    int64_t next_flush_ms;

    _Atomic uint64_t datagrams, push_data, push_acks, pull_data, tx_acks, tx_errors, stats_received,
        rxpk, duplicates, journaled, quarantined, pull_resps;
    _Atomic uint64_t dropped[SEMTECH_UDP_DROP_COUNT];
};

static const char *const drop_names[SEMTECH_UDP_DROP_COUNT] = {
    [SEMTECH_UDP_DROP_SHORT] = "short",
    [SEMTECH_UDP_DROP_VERSION] = "bad_version",
    [SEMTECH_UDP_DROP_TYPE] = "bad_type",
    [SEMTECH_UDP_DROP_JSON] = "bad_json",
    [SEMTECH_UDP_DROP_RXPK_INVALID] = "rxpk_invalid",
    [SEMTECH_UDP_DROP_RXPK_OVERSIZE] = "rxpk_oversize",
    [SEMTECH_UDP_DROP_CRC] = "crc",
    [SEMTECH_UDP_DROP_NOT_LORA] = "not_lora",
    [SEMTECH_UDP_DROP_BUSY] = "busy",
    [SEMTECH_UDP_DROP_LATE_DUPLICATE] = "late_duplicate",
    [SEMTECH_UDP_DROP_NO_DOWNLINK_PATH] = "no_downlink_path",
    [SEMTECH_UDP_DROP_JOURNAL] = "journal",
};

const char *semtech_udp_drop_name(enum semtech_udp_drop reason)
{
    return reason < SEMTECH_UDP_DROP_COUNT ? drop_names[reason] : "?";
}

static void count_drop(struct semtech_udp *su, enum semtech_udp_drop why)
{
    atomic_fetch_add(&su->dropped[why], 1);
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

static void send_to(struct semtech_udp *su, const struct address *to, const uint8_t *buf,
                    size_t len)
{
    if (sendto(su->fd, buf, len, 0, (const struct sockaddr *)&to->sa, to->len) < 0) {
        char where[ADDRESS_TEXT_SIZE];
        format_address(to, where);
        log_warn("semtech-udp: send to %s: %s", where, strerror(errno));
    }
}

static void send_ack(struct semtech_udp *su, const struct address *to, uint8_t version,
                     const uint8_t token[2], uint8_t type)
{
    uint8_t ack[HEADER_BYTES] = {version, token[0], token[1], type};
    send_to(su, to, ack, sizeof(ack));
}

/* ---- forwarders ---- */

/* The forwarder with this EUI, added when new. -1 when the table is full. */
static int forwarder_index(struct semtech_udp *su, const uint8_t eui_bytes[EUI_BYTES])
{
    char eui[FRAME_DEVICE_ID_SIZE];
    for (int i = 0; i < EUI_BYTES; i++)
        snprintf(eui + 2 * i, 3, "%02x", eui_bytes[i]);
    for (size_t i = 0; i < su->n_forwarders; i++) {
        if (strcmp(su->forwarders[i].eui, eui) == 0)
            return (int)i;
    }
    if (su->n_forwarders == SEMTECH_UDP_MAX_FORWARDERS)
        return -1;
    pthread_mutex_lock(&su->forwarders_lock);
    struct semtech_udp_forwarder *f = &su->forwarders[su->n_forwarders];
    memset(f, 0, sizeof(*f));
    snprintf(f->eui, sizeof(f->eui), "%s", eui);
    int index = (int)su->n_forwarders++;
    pthread_mutex_unlock(&su->forwarders_lock);
    log_info("semtech-udp: new forwarder %s", eui);
    return index;
}

/* Reads a number field into *out when present and within [lo, hi]. Returns false when the
 * field is present but not such a number; *present says whether it was there. */
static bool number_field(const cJSON *obj, const char *name, double lo, double hi, double *out,
                         bool *present)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    *present = item != NULL;
    if (item == NULL)
        return true;
    if (!cJSON_IsNumber(item) || !(item->valuedouble >= lo && item->valuedouble <= hi))
        return false;
    *out = item->valuedouble;
    return true;
}

static void read_stat(struct semtech_udp *su, int fwd, const cJSON *stat)
{
    static const char *const names[] = {"rxnb", "rxok", "rxfw", "dwnb", "txnb"};
    uint32_t values[5] = {0};
    double v = 0, ackr = 0;
    bool present;
    for (size_t i = 0; i < 5; i++) {
        if (!number_field(stat, names[i], 0, UINT32_MAX, &v, &present))
            return; /* ignore a damaged stat as a whole */
        values[i] = present ? (uint32_t)v : 0;
    }
    if (!number_field(stat, "ackr", 0, 100, &ackr, &present))
        return;
    atomic_fetch_add(&su->stats_received, 1);
    if (fwd < 0)
        return;
    pthread_mutex_lock(&su->forwarders_lock);
    struct semtech_udp_forwarder *f = &su->forwarders[fwd];
    f->has_stat = true;
    f->rxnb = values[0];
    f->rxok = values[1];
    f->rxfw = values[2];
    f->dwnb = values[3];
    f->txnb = values[4];
    f->ackr = ackr;
    pthread_mutex_unlock(&su->forwarders_lock);
}

/* ---- pushes and groups ---- */

static int alloc_push(struct semtech_udp *su)
{
    for (int i = 0; i < MAX_PUSHES; i++) {
        if (!su->pushes[i].in_use) {
            memset(&su->pushes[i], 0, sizeof(su->pushes[i]));
            su->pushes[i].in_use = true;
            return i;
        }
    }
    return -1;
}

/* One of the push's frames is done; the last one done sends its PUSH_ACK. */
static void push_frame_done(struct semtech_udp *su, int index, bool stored)
{
    struct push *p = &su->pushes[index];
    if (!stored)
        p->failed = true;
    if (p->remaining > 0)
        p->remaining--;
    if (p->remaining > 0)
        return;
    if (!p->failed) {
        send_ack(su, &p->from, p->version, p->token, GWMP_PUSH_ACK);
        atomic_fetch_add(&su->push_acks, 1);
    }
    p->in_use = false;
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
}

/* The copy that heard the frame best: highest RSSI, then SNR. */
static const struct copy *best_copy(const struct group *g)
{
    const struct copy *best = &g->copies[0];
    for (size_t i = 1; i < g->n_copies; i++) {
        const struct copy *c = &g->copies[i];
        if (c->rssi_dbm > best->rssi_dbm ||
            (c->rssi_dbm == best->rssi_dbm && c->snr_db > best->snr_db))
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
    if (c->forwarder < 0 || su->downlink_path[c->forwarder].len == 0) {
        count_drop(su, SEMTECH_UDP_DROP_NO_DOWNLINK_PATH);
        log_warn("semtech-udp: no downlink path to forwarder %s (no PULL_DATA seen yet): "
                 "downlink for %s dropped",
                 c->eui, g->verdict.dev_eui);
        return;
    }
    char b64[DATA_B64_MAX + 1];
    EVP_EncodeBlock((unsigned char *)b64, phy, (int)len);
    cJSON *root = cJSON_CreateObject();
    cJSON *tx = cJSON_AddObjectToObject(root, "txpk");
    cJSON_AddBoolToObject(tx, "imme", false);
    cJSON_AddNumberToObject(tx, "tmst", (double)(uint32_t)(c->tmst_us + delay_us));
    cJSON_AddNumberToObject(tx, "freq", (double)c->freq_hz / 1e6);
    cJSON_AddNumberToObject(tx, "rfch", 0);
    cJSON_AddNumberToObject(tx, "powe", TX_POWER_DBM);
    cJSON_AddStringToObject(tx, "modu", "LORA");
    cJSON_AddStringToObject(tx, "datr", c->datr);
    cJSON_AddStringToObject(tx, "codr", c->codr[0] ? c->codr : "4/5");
    cJSON_AddBoolToObject(tx, "ipol", true);
    /* No "ncrc", as ChirpStack sends none: its Gateway Bridge's TXPK.NCRC is omitempty and
     * never set, and ChirpStack v4 builds every data downlink and Join-Accept with
     * no_crc false. The forwarder then sends a PHY CRC (lora_pkt_fwd's default); the
     * device reads from the explicit header whether one follows (docs/lorawan.md). */
    cJSON_AddNumberToObject(tx, "size", (double)len);
    cJSON_AddStringToObject(tx, "data", b64);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (text == NULL)
        return;
    size_t text_len = strlen(text);
    uint8_t out[HEADER_BYTES + 1024];
    if (HEADER_BYTES + text_len <= sizeof(out)) {
        uint8_t token[2];
        if (RAND_bytes(token, sizeof(token)) != 1)
            token[0] = token[1] = 0;
        out[0] = 2;
        out[1] = token[0];
        out[2] = token[1];
        out[3] = GWMP_PULL_RESP;
        memcpy(out + HEADER_BYTES, text, text_len);
        send_to(su, &su->downlink_path[c->forwarder], out, HEADER_BYTES + text_len);
        atomic_fetch_add(&su->pull_resps, 1);
    }
    cJSON_free(text);
}

/* The RX1 downlink of an accepted uplink, if edge_ns has one. */
static void answer_uplink(struct semtech_udp *su, struct group *g)
{
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t len = 0;
    if (edge_ns_downlink(su->ns, &g->verdict, phy, sizeof(phy), &len) == 1)
        send_downlink(su, g, RX1_DELAY_US, phy, len);
}

static void on_committed(void *ctx, int status, int64_t id)
{
    (void)id;
    struct group *g = ctx;
    struct semtech_udp *su = g->su;
    g->status = status;
    pthread_mutex_lock(&su->done_lock);
    g->next_done = su->done_head;
    su->done_head = g;
    pthread_mutex_unlock(&su->done_lock);
    uint64_t one = 1;
    ssize_t ignored = write(su->event_fd, &one, sizeof(one));
    (void)ignored;
}

static void finish_committed(struct semtech_udp *su)
{
    uint64_t count;
    ssize_t ignored = read(su->event_fd, &count, sizeof(count));
    (void)ignored;
    pthread_mutex_lock(&su->done_lock);
    struct group *g = su->done_head;
    su->done_head = NULL;
    pthread_mutex_unlock(&su->done_lock);
    while (g) {
        struct group *next = g->next_done;
        if (g->status == 0) {
            atomic_fetch_add(g->quarantined ? &su->quarantined : &su->journaled, 1);
            answer_uplink(su, g); /* durable first, then acknowledged on air too */
        } else {
            count_drop(su, SEMTECH_UDP_DROP_JOURNAL);
            edge_ns_abandon(su->ns, &g->verdict);
        }
        release_group(su, g, g->status == 0);
        pthread_mutex_lock(&su->done_lock);
        su->outstanding--;
        pthread_mutex_unlock(&su->done_lock);
        g = next;
    }
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
            if (pick < 0 || c->rssi_dbm > g->copies[pick].rssi_dbm ||
                (c->rssi_dbm == g->copies[pick].rssi_dbm && c->snr_db > g->copies[pick].snr_db))
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

    char reason[DECODE_REASON_SIZE];
    g->quarantined = decode_uplink(&su->decoder, rec->payload, rec->payload_len, rec->received_ms,
                                   &su->uplink, reason) != 0;
    rec->has_uplink = !g->quarantined; /* for the journal's message ids and resend check */
    rec->seq = su->uplink.seq;
    rec->status = su->uplink.status;
    g->state = GROUP_COMMITTING;
    g->su = su;
    pthread_mutex_lock(&su->done_lock);
    su->outstanding++;
    pthread_mutex_unlock(&su->done_lock);
    int rc = g->quarantined
                 ? journal_writer_quarantine(su->opts.writer, rec, reason, on_committed, g)
                 : journal_writer_append(su->opts.writer, rec, on_committed, g);
    if (rc != 0) {
        pthread_mutex_lock(&su->done_lock);
        su->outstanding--;
        pthread_mutex_unlock(&su->done_lock);
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

static void close_due_groups(struct semtech_udp *su, bool all)
{
    int64_t now = clock_mono_ms();
    for (int i = 0; i < MAX_GROUPS; i++) {
        struct group *g = &su->groups[i];
        if (g->state == GROUP_OPEN && (all || now >= g->deadline_ms))
            close_group(su, g);
    }
}

/* Adds one frame copy of push `push` to its group. Returns false when it was dropped
 * without joining a group (counted). */
static bool collect(struct semtech_udp *su, int push, const uint8_t *phy, size_t len,
                    const struct copy *copy)
{
    int64_t now = clock_mono_ms();
    struct group *free_group = NULL, *open_group = NULL;
    bool committing = false;
    for (int i = 0; i < MAX_GROUPS; i++) {
        struct group *g = &su->groups[i];
        bool same = g->state != GROUP_FREE && g->len == len && memcmp(g->phy, phy, len) == 0;
        if (same && g->state == GROUP_OPEN)
            open_group = g;
        committing = committing || (same && g->state == GROUP_COMMITTING);
        if (g->state == GROUP_FREE && free_group == NULL)
            free_group = g;
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
    if (free_group == NULL) {
        count_drop(su, SEMTECH_UDP_DROP_BUSY);
        su->pushes[push].failed = true;
        return false;
    }
    struct group *g = free_group;
    memset(g, 0, offsetof(struct group, verdict));
    g->state = GROUP_OPEN;
    g->opened_ms = now;
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

/* Decodes base64 "data" (padding optional) into out. Returns the length or -1. */
static long decode_data(const char *b64, uint8_t *out, size_t out_size)
{
    size_t len = strlen(b64);
    if (len == 0 || len > DATA_B64_MAX)
        return -1;
    char padded[DATA_B64_MAX + 4];
    memcpy(padded, b64, len);
    while (len % 4 != 0)
        padded[len++] = '=';
    padded[len] = '\0';
    size_t padding = 0;
    while (padding < len && padded[len - 1 - padding] == '=')
        padding++;
    if (padding > 2)
        return -1;
    uint8_t decoded[DATA_B64_MAX];
    int n = EVP_DecodeBlock(decoded, (const unsigned char *)padded, (int)len);
    /* EVP_DecodeBlock counts padding as zero bytes */
    if (n < 0 || (size_t)n < padding || (size_t)n - padding > out_size)
        return -1;
    n -= (int)padding;
    memcpy(out, decoded, (size_t)n);
    return n;
}

/* Checks "SF7BW125" .. "SF12BW500". */
static bool lora_datr(const char *datr)
{
    unsigned sf = 0, bw = 0;
    int used = 0;
    if (sscanf(datr, "SF%uBW%u%n", &sf, &bw, &used) != 2 || datr[used] != '\0')
        return false;
    return sf >= 7 && sf <= 12 && (bw == 125 || bw == 250 || bw == 500);
}

/* Reads one rxpk into a copy and its PHYPayload; counts and returns false when it is not
 * a usable LoRa frame. */
static bool read_rxpk(struct semtech_udp *su, const cJSON *pk, int fwd, const char *eui,
                      const char *address, uint8_t *phy, size_t *len, struct copy *c)
{
    if (!cJSON_IsObject(pk)) {
        count_drop(su, SEMTECH_UDP_DROP_RXPK_INVALID);
        return false;
    }
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(pk, "data");
    const cJSON *datr = cJSON_GetObjectItemCaseSensitive(pk, "datr");
    const cJSON *codr = cJSON_GetObjectItemCaseSensitive(pk, "codr");
    const cJSON *time = cJSON_GetObjectItemCaseSensitive(pk, "time");
    double tmst = 0, freq = 0, rssi = 0, lsnr = 0, stat = 0, size = 0;
    bool has_tmst, has_freq, has_rssi, has_lsnr, has_stat, has_size;
    bool ok = number_field(pk, "tmst", 0, UINT32_MAX, &tmst, &has_tmst) &&
              number_field(pk, "freq", 100, 1000, &freq, &has_freq) &&
              number_field(pk, "rssi", -250, 50, &rssi, &has_rssi) &&
              number_field(pk, "lsnr", -50, 50, &lsnr, &has_lsnr) &&
              number_field(pk, "stat", -1, 1, &stat, &has_stat) &&
              number_field(pk, "size", 0, 65535, &size, &has_size) && has_tmst && has_freq &&
              has_rssi && has_stat && cJSON_IsString(data) &&
              (time == NULL || (cJSON_IsString(time) && strlen(time->valuestring) < 40)) &&
              (codr == NULL || cJSON_IsString(codr));
    if (ok && cJSON_IsNumber(datr)) {
        count_drop(su, SEMTECH_UDP_DROP_NOT_LORA); /* FSK: a bit rate, not SFxBWy */
        return false;
    }
    if (!ok || !cJSON_IsString(datr) || !lora_datr(datr->valuestring) || !has_lsnr ||
        tmst != floor(tmst) || stat != floor(stat)) {
        count_drop(su, SEMTECH_UDP_DROP_RXPK_INVALID);
        return false;
    }
    if (stat != 1) {
        count_drop(su, SEMTECH_UDP_DROP_CRC);
        return false;
    }
    if (strlen(data->valuestring) > DATA_B64_MAX) {
        count_drop(su, SEMTECH_UDP_DROP_RXPK_OVERSIZE);
        return false;
    }
    long n = decode_data(data->valuestring, phy, LORAWAN_PHY_MAX_BYTES);
    if (n <= 0 || (has_size && size != (double)n)) {
        count_drop(su, SEMTECH_UDP_DROP_RXPK_INVALID);
        return false;
    }
    *len = (size_t)n;
    memset(c, 0, sizeof(*c));
    c->forwarder = fwd;
    snprintf(c->eui, sizeof(c->eui), "%s", eui);
    snprintf(c->address, sizeof(c->address), "%s", address);
    c->tmst_us = (uint32_t)tmst;
    c->freq_hz = (uint32_t)lround(freq * 1e6);
    snprintf(c->datr, sizeof(c->datr), "%s", datr->valuestring);
    if (codr && strlen(codr->valuestring) < sizeof(c->codr) &&
        strspn(codr->valuestring, "0123456789/") == strlen(codr->valuestring))
        snprintf(c->codr, sizeof(c->codr), "%s", codr->valuestring);
    c->rssi_dbm = (int16_t)lround(rssi);
    c->snr_db = (float)lsnr;
    return true;
}

static void handle_push_data(struct semtech_udp *su, const uint8_t *buf, size_t len,
                             const struct address *from)
{
    atomic_fetch_add(&su->push_data, 1);
    if (len < HEADER_BYTES + EUI_BYTES) {
        count_drop(su, SEMTECH_UDP_DROP_SHORT);
        return;
    }
    cJSON *root = cJSON_ParseWithLength((const char *)buf + HEADER_BYTES + EUI_BYTES,
                                        len - HEADER_BYTES - EUI_BYTES);
    if (!cJSON_IsObject(root)) {
        count_drop(su, SEMTECH_UDP_DROP_JSON);
        cJSON_Delete(root);
        return;
    }
    int fwd = forwarder_index(su, buf + HEADER_BYTES);
    char eui[FRAME_DEVICE_ID_SIZE], address[ADDRESS_TEXT_SIZE];
    for (int i = 0; i < EUI_BYTES; i++)
        snprintf(eui + 2 * i, 3, "%02x", buf[HEADER_BYTES + i]);
    format_address(from, address);
    if (fwd >= 0) {
        pthread_mutex_lock(&su->forwarders_lock);
        struct semtech_udp_forwarder *f = &su->forwarders[fwd];
        snprintf(f->address, sizeof(f->address), "%s", address);
        f->last_seen_ms = clock_wall_ms();
        f->push_data++;
        pthread_mutex_unlock(&su->forwarders_lock);
    }
    const cJSON *stat = cJSON_GetObjectItemCaseSensitive(root, "stat");
    if (cJSON_IsObject(stat))
        read_stat(su, fwd, stat);

    int push = alloc_push(su);
    if (push < 0) {
        count_drop(su, SEMTECH_UDP_DROP_BUSY);
        cJSON_Delete(root);
        return; /* no ACK: the forwarder may send it again */
    }
    struct push *p = &su->pushes[push];
    p->version = buf[0];
    p->token[0] = buf[1];
    p->token[1] = buf[2];
    p->from = *from;
    p->remaining = 1; /* held open until every rxpk is collected */
    const cJSON *rxpk = cJSON_GetObjectItemCaseSensitive(root, "rxpk");
    if (rxpk != NULL && !cJSON_IsArray(rxpk)) {
        count_drop(su, SEMTECH_UDP_DROP_RXPK_INVALID);
    } else {
        const cJSON *pk;
        cJSON_ArrayForEach(pk, rxpk)
        {
            atomic_fetch_add(&su->rxpk, 1);
            uint8_t phy[LORAWAN_PHY_MAX_BYTES];
            size_t phy_len = 0;
            struct copy c;
            if (read_rxpk(su, pk, fwd, eui, address, phy, &phy_len, &c) &&
                collect(su, push, phy, phy_len, &c))
                p->remaining++;
        }
    }
    cJSON_Delete(root);
    push_frame_done(su, push, true); /* the hold taken above */
}

static void handle_pull_data(struct semtech_udp *su, const uint8_t *buf, size_t len,
                             const struct address *from)
{
    atomic_fetch_add(&su->pull_data, 1);
    if (len < HEADER_BYTES + EUI_BYTES) {
        count_drop(su, SEMTECH_UDP_DROP_SHORT);
        return;
    }
    int fwd = forwarder_index(su, buf + HEADER_BYTES);
    if (fwd >= 0) {
        su->downlink_path[fwd] = *from;
        pthread_mutex_lock(&su->forwarders_lock);
        struct semtech_udp_forwarder *f = &su->forwarders[fwd];
        format_address(from, f->downlink);
        f->last_seen_ms = clock_wall_ms();
        f->pull_data++;
        pthread_mutex_unlock(&su->forwarders_lock);
    }
    send_ack(su, from, buf[0], buf + 1, GWMP_PULL_ACK);
}

static void handle_tx_ack(struct semtech_udp *su, const uint8_t *buf, size_t len)
{
    atomic_fetch_add(&su->tx_acks, 1);
    if (len < HEADER_BYTES + EUI_BYTES) {
        count_drop(su, SEMTECH_UDP_DROP_SHORT);
        return;
    }
    if (len == HEADER_BYTES + EUI_BYTES)
        return; /* version 1, or no error to report */
    cJSON *root = cJSON_ParseWithLength((const char *)buf + HEADER_BYTES + EUI_BYTES,
                                        len - HEADER_BYTES - EUI_BYTES);
    const cJSON *ack = cJSON_GetObjectItemCaseSensitive(root, "txpk_ack");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(ack, "error");
    if (!cJSON_IsObject(root)) {
        count_drop(su, SEMTECH_UDP_DROP_JSON);
    } else if (cJSON_IsString(error) && strcmp(error->valuestring, "NONE") != 0) {
        /* the error word is the forwarder's: print only a bounded, plain form of it */
        char word[33];
        size_t n = 0;
        for (const char *s = error->valuestring; *s && n < sizeof(word) - 1; s++)
            word[n++] = (*s >= 'A' && *s <= 'Z') || *s == '_' ? *s : '?';
        word[n] = '\0';
        atomic_fetch_add(&su->tx_errors, 1);
        int fwd = forwarder_index(su, buf + HEADER_BYTES);
        if (fwd >= 0) {
            pthread_mutex_lock(&su->forwarders_lock);
            su->forwarders[fwd].tx_errors++;
            pthread_mutex_unlock(&su->forwarders_lock);
        }
        log_warn("semtech-udp: forwarder %02x%02x%02x%02x%02x%02x%02x%02x could not send a "
                 "downlink: %s",
                 buf[4], buf[5], buf[6], buf[7], buf[8], buf[9], buf[10], buf[11], word);
    }
    cJSON_Delete(root);
}

static void handle_datagram(struct semtech_udp *su, const uint8_t *buf, size_t len,
                            const struct address *from)
{
    atomic_fetch_add(&su->datagrams, 1);
    if (len < HEADER_BYTES) {
        count_drop(su, SEMTECH_UDP_DROP_SHORT);
        return;
    }
    if (buf[0] != 1 && buf[0] != 2) {
        count_drop(su, SEMTECH_UDP_DROP_VERSION);
        return;
    }
    switch (buf[3]) {
    case GWMP_PUSH_DATA:
        handle_push_data(su, buf, len, from);
        break;
    case GWMP_PULL_DATA:
        handle_pull_data(su, buf, len, from);
        break;
    case GWMP_TX_ACK:
        handle_tx_ack(su, buf, len);
        break;
    default:
        count_drop(su, SEMTECH_UDP_DROP_TYPE);
    }
}

/* ---- the adapter's thread ---- */

static size_t outstanding(struct semtech_udp *su)
{
    pthread_mutex_lock(&su->done_lock);
    size_t n = su->outstanding;
    pthread_mutex_unlock(&su->done_lock);
    return n;
}

static int next_wait_ms(struct semtech_udp *su, int max_ms)
{
    int64_t now = clock_mono_ms();
    int64_t wait = max_ms;
    for (int i = 0; i < MAX_GROUPS; i++) {
        if (su->groups[i].state == GROUP_OPEN && su->groups[i].deadline_ms - now < wait)
            wait = su->groups[i].deadline_ms - now;
    }
    if (su->next_flush_ms - now < wait)
        wait = su->next_flush_ms - now;
    return wait < 0 ? 0 : (int)wait;
}

static void run_once(struct semtech_udp *su, bool read_socket, int max_wait_ms)
{
    struct pollfd fds[2] = {{.fd = su->event_fd, .events = POLLIN},
                            {.fd = su->fd, .events = read_socket ? POLLIN : 0}};
    int n = poll(fds, 2, next_wait_ms(su, max_wait_ms));
    if (n > 0 && (fds[0].revents & POLLIN))
        finish_committed(su);
    if (n > 0 && (fds[1].revents & POLLIN)) {
        for (int i = 0; i < 64; i++) { /* a burst, but let timers run between bursts */
            struct address from = {.len = sizeof(from.sa)};
            ssize_t got = recvfrom(su->fd, su->buf, sizeof(su->buf), MSG_DONTWAIT,
                                   (struct sockaddr *)&from.sa, &from.len);
            if (got < 0)
                break;
            handle_datagram(su, su->buf, (size_t)got, &from);
        }
    }
    close_due_groups(su, false);
    if (clock_mono_ms() >= su->next_flush_ms) {
        if (edge_ns_flush(su->ns) != 0)
            log_warn("semtech-udp: frame counters not written yet (tried again later)");
        su->next_flush_ms = clock_mono_ms() + EDGE_NS_FLUSH_PERIOD_MS;
    }
}

static void *semtech_main(void *arg)
{
    struct semtech_udp *su = arg;
    while (!atomic_load(&su->stopping))
        run_once(su, true, LOOP_MAX_WAIT_MS);
    /* judge what is being collected, then wait for the writer to answer all of it */
    close_due_groups(su, true);
    while (outstanding(su) > 0)
        run_once(su, false, 50);
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
    return 0;
}

static void free_adapter(struct semtech_udp *su)
{
    edge_ns_close(su->ns);
    if (su->fd >= 0)
        close(su->fd);
    if (su->event_fd >= 0)
        close(su->event_fd);
    pthread_mutex_destroy(&su->done_lock);
    pthread_mutex_destroy(&su->forwarders_lock);
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
    su->fd = su->event_fd = -1;
    pthread_mutex_init(&su->done_lock, NULL);
    pthread_mutex_init(&su->forwarders_lock, NULL);
    struct edge_ns_options nso = {
        .registry_path = opts->journal_path, .net_id = opts->net_id, .busy_timeout_ms = 5000};
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
    su->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (su->event_fd < 0) {
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

void semtech_udp_stop(struct semtech_udp *su, struct semtech_udp_stats *final_stats)
{
    if (su == NULL)
        return;
    atomic_store(&su->stopping, true);
    uint64_t one = 1;
    ssize_t ignored = write(su->event_fd, &one, sizeof(one));
    (void)ignored;
    pthread_join(su->thread, NULL);
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
    pthread_mutex_lock(&su->forwarders_lock);
    size_t n = su->n_forwarders < max ? su->n_forwarders : max;
    memcpy(out, su->forwarders, n * sizeof(*out));
    pthread_mutex_unlock(&su->forwarders_lock);
    return n;
}
