/*
 * edge_ns.c - the edge network server's MAC (edge_ns.h).
 *
 * Device rows are read from the registry for every frame (one indexed SELECT, a few
 * microseconds), so a device that sensorbroctl adds, removes or re-adds counts from its
 * next frame with no reload protocol. What is kept in memory is only what must not wait
 * for a disk write: each device's last accepted FCnt, tagged with the session it belongs to
 * (DevAddr, creation time, session mark), written back lazily (registry.h explains why
 * that is safe), and for that last FCnt how often it was sent and the queued downlink its
 * first answer carried, so that retransmissions are answered alike and bounded (edge_ns.h).
 */
#include "lorawan/edge_ns.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "util/clock.h"
#include "util/log.h"
#include "lorawan/registry.h"

#define DEV_ADDR_ATTEMPTS 32

/* The last accepted uplink counter of one device's session. */
struct session_counter {
    char dev_eui[FRAME_DEVICE_ID_SIZE];
    uint32_t dev_addr;
    int64_t created_ms;
    int64_t session_frame_id;
    bool has_last;
    uint32_t last;
    bool had_prev; /* the value before the last accepted frame, for edge_ns_abandon */
    uint32_t prev;
    bool dirty; /* last not yet written to the registry */
    /* Answers to `last`: transmissions seen (1, +1 per retransmission) and the queued
     * downlink the first answer took, repeated to each retransmission. */
    unsigned transmissions;
    bool has_first;   /* the frame first accepted with `last` (confirmed only): */
    int64_t first_ms; /* monotonic */
    size_t first_len;
    uint8_t first_digest[SHA256_DIGEST_LENGTH];
    uint64_t replays_refused; /* of this device, since start: for the log */
    bool has_repeat;
    bool repeat_confirmed;
    uint8_t repeat_fport;
    size_t repeat_len;
    uint8_t repeat_payload[REGISTRY_DOWNLINK_MAX];
};

struct edge_ns {
    struct edge_ns_options opts;
    struct registry *registry;
    struct session_counter *counters;
    size_t n_counters, cap_counters;
    _Atomic uint64_t frames, uplinks, retransmissions, not_journaled, joins, downlinks, queued_sent,
        queued_resent, abandoned;
    _Atomic uint64_t dropped[EDGE_NS_DROP_COUNT];
};

static const char *const drop_names[EDGE_NS_DROP_COUNT] = {
    [EDGE_NS_DROP_MALFORMED] = "malformed",
    [EDGE_NS_DROP_UNSUPPORTED] = "unsupported",
    [EDGE_NS_DROP_NOT_UPLINK] = "not_uplink",
    [EDGE_NS_DROP_UNKNOWN_DEV_ADDR] = "unknown_dev_addr",
    [EDGE_NS_DROP_UNKNOWN_DEV_EUI] = "unknown_dev_eui",
    [EDGE_NS_DROP_JOIN_EUI] = "join_eui_mismatch",
    [EDGE_NS_DROP_BAD_MIC] = "bad_mic",
    [EDGE_NS_DROP_REPLAY] = "replayed_fcnt",
    [EDGE_NS_DROP_FCNT_OLD] = "old_fcnt",
    [EDGE_NS_DROP_FCNT_GAP] = "fcnt_gap",
    [EDGE_NS_DROP_DEV_NONCE] = "dev_nonce_reused",
    [EDGE_NS_DROP_RETRANSMISSION_LIMIT] = "retransmission_limit",
    [EDGE_NS_DROP_RETRANSMISSION_LATE] = "retransmission_late",
    [EDGE_NS_DROP_RETRANSMISSION_DIFFERS] = "retransmission_differs",
    [EDGE_NS_DROP_RETRANSMISSION_UNKNOWN] = "retransmission_unknown",
    [EDGE_NS_DROP_INTERNAL] = "internal",
};

const char *edge_ns_drop_name(enum edge_ns_drop reason)
{
    return reason < EDGE_NS_DROP_COUNT ? drop_names[reason] : "?";
}

int edge_ns_open(struct edge_ns **out, const struct edge_ns_options *opts, char *err,
                 size_t err_size)
{
    *out = NULL;
    struct edge_ns *ns = calloc(1, sizeof(*ns));
    if (ns == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    ns->opts = *opts;
    ns->opts.registry_path = NULL; /* not kept: the caller owns the string */
    if (ns->opts.retransmission_window_ms == 0)
        ns->opts.retransmission_window_ms = EDGE_NS_RETRANSMISSION_WINDOW_MS;
    if (registry_open(&ns->registry, opts->registry_path, false, opts->busy_timeout_ms, err,
                      err_size) != 0) {
        free(ns);
        return -1;
    }
    *out = ns;
    return 0;
}

void edge_ns_close(struct edge_ns *ns)
{
    if (ns == NULL)
        return;
    if (edge_ns_flush(ns) != 0)
        log_error("edge-ns: could not write the last frame counters: %s",
                  registry_errmsg(ns->registry));
    registry_close(ns->registry);
    free(ns->counters);
    free(ns);
}

void edge_ns_get_stats(struct edge_ns *ns, struct edge_ns_stats *s)
{
    memset(s, 0, sizeof(*s));
    s->frames = atomic_load(&ns->frames);
    s->uplinks = atomic_load(&ns->uplinks);
    s->retransmissions = atomic_load(&ns->retransmissions);
    s->not_journaled = atomic_load(&ns->not_journaled);
    s->joins = atomic_load(&ns->joins);
    s->downlinks = atomic_load(&ns->downlinks);
    s->queued_sent = atomic_load(&ns->queued_sent);
    s->queued_resent = atomic_load(&ns->queued_resent);
    s->abandoned = atomic_load(&ns->abandoned);
    for (int i = 0; i < EDGE_NS_DROP_COUNT; i++)
        s->dropped[i] = atomic_load(&ns->dropped[i]);
}

static void drop(struct edge_ns *ns, struct edge_ns_verdict *v, enum edge_ns_drop why)
{
    v->kind = EDGE_NS_DROP;
    v->drop = why;
    atomic_fetch_add(&ns->dropped[why], 1);
}

/* ---- counters in memory ---- */

static struct session_counter *find_counter(struct edge_ns *ns, const char *dev_eui)
{
    for (size_t i = 0; i < ns->n_counters; i++) {
        if (strcmp(ns->counters[i].dev_eui, dev_eui) == 0)
            return &ns->counters[i];
    }
    return NULL;
}

/* The counter of dev's current session: from memory when it is the same session, else
 * recovered from the registry and the journal. NULL on a registry failure. */
static struct session_counter *session_counter(struct edge_ns *ns,
                                               const struct registry_device *dev)
{
    struct session_counter *c = find_counter(ns, dev->dev_eui);
    if (c && c->dev_addr == dev->dev_addr && c->created_ms == dev->created_ms &&
        c->session_frame_id == dev->session_frame_id) {
        /* another writer (an older daemon's last flush) can only be behind or equal */
        if (dev->has_fcnt_up && (!c->has_last || dev->fcnt_up > c->last)) {
            c->has_last = true;
            c->last = dev->fcnt_up;
        }
        return c;
    }
    if (c == NULL) {
        if (ns->n_counters == ns->cap_counters) {
            size_t cap = ns->cap_counters ? 2 * ns->cap_counters : 64;
            struct session_counter *grown = realloc(ns->counters, cap * sizeof(*grown));
            if (grown == NULL)
                return NULL;
            ns->counters = grown;
            ns->cap_counters = cap;
        }
        c = &ns->counters[ns->n_counters++];
    }
    /* a new session (join, re-add) or the first frame since start: recover */
    memset(c, 0, sizeof(*c));
    snprintf(c->dev_eui, sizeof(c->dev_eui), "%s", dev->dev_eui);
    c->dev_addr = dev->dev_addr;
    c->created_ms = dev->created_ms;
    c->session_frame_id = dev->session_frame_id;
    if (registry_recover_fcnt_up(ns->registry, dev, &c->has_last, &c->last) != 0) {
        c->dev_eui[0] = '\0'; /* matches no device: recovered again next time */
        return NULL;
    }
    c->transmissions = 1; /* the recovered FCnt was sent at least once; what it got is lost */
    return c;
}

static void forget_counter(struct edge_ns *ns, const char *dev_eui)
{
    struct session_counter *c = find_counter(ns, dev_eui);
    if (c)
        c->dev_eui[0] = '\0';
}

int edge_ns_flush(struct edge_ns *ns)
{
    int rc = 0;
    for (size_t i = 0; i < ns->n_counters; i++) {
        struct session_counter *c = &ns->counters[i];
        if (!c->dirty || c->dev_eui[0] == '\0')
            continue;
        if (registry_set_fcnt_up(ns->registry, c->dev_eui, c->last) != 0)
            rc = -1;
        else
            c->dirty = false;
    }
    return rc;
}

/* ---- data frames ---- */

static bool mic_ok(const struct lorawan_data_frame *f, const struct registry_device *dev,
                   uint32_t fcnt, bool *crypto_failed)
{
    enum lorawan_status st = lorawan_check_data_mic(f, dev->nwk_s_key, LORAWAN_UP, fcnt);
    if (st == LORAWAN_CRYPTO_FAILED)
        *crypto_failed = true;
    return st == LORAWAN_OK;
}

/* Finds the 32-bit counter of the frame. Returns true with *fcnt when it is acceptable
 * (or a retransmission: *retransmission), false with the drop reason otherwise. A frame
 * that is not new is told apart from a forged one by checking its MIC with the counter it
 * would have had: a valid old frame is a replay, anything else a bad MIC. */
static bool judge_fcnt(const struct lorawan_data_frame *f, const struct registry_device *dev,
                       const struct session_counter *c, uint32_t *fcnt, bool *retransmission,
                       enum edge_ns_drop *why)
{
    bool crypto_failed = false;
    *retransmission = false;
    if (!c->has_last) {
        *fcnt = f->fcnt16;
        if (mic_ok(f, dev, *fcnt, &crypto_failed))
            return true;
        *why = crypto_failed ? EDGE_NS_DROP_INTERNAL : EDGE_NS_DROP_BAD_MIC;
        return false;
    }
    uint32_t ahead = lorawan_rebuild_fcnt(true, c->last, f->fcnt16);
    uint32_t delta = ahead - c->last; /* 1..65536, modulo 2^32 */
    if (delta >= 1 && delta <= EDGE_NS_MAX_FCNT_GAP && ahead > c->last) {
        *fcnt = ahead;
        if (mic_ok(f, dev, ahead, &crypto_failed))
            return true;
        *why = crypto_failed ? EDGE_NS_DROP_INTERNAL : EDGE_NS_DROP_BAD_MIC;
        return false;
    }
    /* not a plausible next frame: an old one (replay) or a jump past the gap */
    uint32_t back = (uint16_t)((uint16_t)c->last - f->fcnt16); /* 0..65535 behind */
    if (back <= c->last) {
        uint32_t old = c->last - back;
        if (mic_ok(f, dev, old, &crypto_failed)) {
            if (back == 0 && f->mtype == LORAWAN_CONFIRMED_UP) {
                *fcnt = old;
                *retransmission = true;
                return true;
            }
            *why = back == 0 ? EDGE_NS_DROP_REPLAY : EDGE_NS_DROP_FCNT_OLD;
            return false;
        }
    }
    if (ahead > c->last && mic_ok(f, dev, ahead, &crypto_failed))
        *why = EDGE_NS_DROP_FCNT_GAP;
    else
        *why = crypto_failed ? EDGE_NS_DROP_INTERNAL : EDGE_NS_DROP_BAD_MIC;
    return false;
}

static void handle_data(struct edge_ns *ns, const uint8_t *phy, size_t len,
                        struct edge_ns_verdict *v)
{
    struct lorawan_data_frame f;
    enum lorawan_status st = lorawan_parse_data(phy, len, &f);
    if (st != LORAWAN_OK) {
        drop(ns, v, st == LORAWAN_UNSUPPORTED ? EDGE_NS_DROP_UNSUPPORTED : EDGE_NS_DROP_MALFORMED);
        return;
    }
    if (f.mtype != LORAWAN_UNCONFIRMED_UP && f.mtype != LORAWAN_CONFIRMED_UP) {
        drop(ns, v, EDGE_NS_DROP_NOT_UPLINK);
        return;
    }
    v->dev_addr = f.dev_addr;
    struct registry_device dev;
    bool found = false;
    if (registry_find_by_dev_addr(ns->registry, f.dev_addr, &dev, &found) != 0) {
        log_warn("edge-ns: registry: %s", registry_errmsg(ns->registry));
        drop(ns, v, EDGE_NS_DROP_INTERNAL);
        return;
    }
    if (!found || !dev.has_session) {
        drop(ns, v, EDGE_NS_DROP_UNKNOWN_DEV_ADDR);
        return;
    }
    snprintf(v->dev_eui, sizeof(v->dev_eui), "%s", dev.dev_eui);
    struct session_counter *c = session_counter(ns, &dev);
    if (c == NULL) {
        log_warn("edge-ns: registry: %s", registry_errmsg(ns->registry));
        drop(ns, v, EDGE_NS_DROP_INTERNAL);
        goto out;
    }
    uint32_t fcnt = 0;
    bool retransmission = false;
    enum edge_ns_drop why = EDGE_NS_DROP_INTERNAL;
    if (!judge_fcnt(&f, &dev, c, &fcnt, &retransmission, &why)) {
        drop(ns, v, why);
        goto out;
    }
    uint8_t digest[SHA256_DIGEST_LENGTH] = {0};
    bool digest_ok = !(f.mtype == LORAWAN_CONFIRMED_UP) ||
                     EVP_Digest(phy, len, digest, NULL, EVP_sha256(), NULL) == 1;
    if (!digest_ok) {
        drop(ns, v, EDGE_NS_DROP_INTERNAL);
        goto out;
    }
    if (retransmission) {
        enum edge_ns_drop replay = EDGE_NS_DROP_COUNT;
        int64_t age_ms = c->has_first ? clock_mono_ms() - c->first_ms : 0;
        if (!c->has_first)
            replay = EDGE_NS_DROP_RETRANSMISSION_UNKNOWN;
        else if (c->first_len != len || CRYPTO_memcmp(c->first_digest, digest, sizeof(digest)))
            replay = EDGE_NS_DROP_RETRANSMISSION_DIFFERS;
        else if (age_ms > (int64_t)ns->opts.retransmission_window_ms)
            replay = EDGE_NS_DROP_RETRANSMISSION_LATE;
        else if (c->transmissions >= EDGE_NS_MAX_NB_TRANS)
            replay = EDGE_NS_DROP_RETRANSMISSION_LIMIT;
        if (replay != EDGE_NS_DROP_COUNT) {
            drop(ns, v, replay);
            uint64_t n = ++c->replays_refused;
            if ((n & (n - 1)) == 0) /* the 1st, 2nd, 4th ...: a replay flood stays quiet */
                log_warn("edge-ns: device %s: confirmed uplink FCnt %" PRIu32 " sent again %" PRId64
                         " ms after its first transmission, refused as "
                         "a replay (%s; window %" PRIu32 " ms, %u transmissions answered): no "
                         "downlink; %" PRIu64 " replays of this device refused",
                         dev.dev_eui, fcnt, age_ms, edge_ns_drop_name(replay),
                         ns->opts.retransmission_window_ms, c->transmissions, n);
            goto out;
        }
    }
    v->kind = EDGE_NS_UPLINK;
    v->fcnt = fcnt;
    v->has_fport = f.has_fport;
    v->fport = f.fport;
    v->confirmed = f.mtype == LORAWAN_CONFIRMED_UP;
    v->retransmission = retransmission;
    v->payload_len = f.frm_payload_len;
    if (f.frm_payload_len > 0) {
        memcpy(v->payload, f.frm_payload, f.frm_payload_len);
        const uint8_t *key = f.fport == 0 ? dev.nwk_s_key : dev.app_s_key;
        if (!lorawan_crypt_frm_payload(key, LORAWAN_UP, f.dev_addr, fcnt, v->payload,
                                       v->payload_len)) {
            memset(v->payload, 0, sizeof(v->payload));
            v->payload_len = 0;
            drop(ns, v, EDGE_NS_DROP_INTERNAL);
            goto out;
        }
    }
    atomic_fetch_add(&ns->uplinks, 1);
    if (retransmission) {
        c->transmissions++;
        atomic_fetch_add(&ns->retransmissions, 1);
        goto out;
    }
    c->had_prev = c->has_last;
    c->prev = c->last;
    c->has_last = true;
    c->last = fcnt;
    c->dirty = true;
    c->transmissions = 1;
    c->has_repeat = false;
    c->has_first = f.mtype == LORAWAN_CONFIRMED_UP;
    if (c->has_first) {
        c->first_ms = clock_mono_ms();
        c->first_len = len;
        memcpy(c->first_digest, digest, sizeof(digest));
    }
    v->journal = f.has_fport && f.fport == EDGE_NS_UPLINK_FPORT;
    if (!v->journal) {
        /* nothing in the journal will remember this counter: write it now */
        atomic_fetch_add(&ns->not_journaled, 1);
        if (registry_set_fcnt_up(ns->registry, dev.dev_eui, fcnt) == 0)
            c->dirty = false;
        else
            log_warn("edge-ns: registry: %s", registry_errmsg(ns->registry));
    }
out:
    OPENSSL_cleanse(&dev, sizeof(dev));
}

void edge_ns_abandon(struct edge_ns *ns, const struct edge_ns_verdict *up)
{
    if (up->kind != EDGE_NS_UPLINK || up->retransmission)
        return;
    struct session_counter *c = find_counter(ns, up->dev_eui);
    if (c && c->has_last && c->last == up->fcnt) {
        c->has_last = c->had_prev;
        c->last = c->prev;
        c->had_prev = false;
        c->transmissions = 1; /* what the previous FCnt got is no longer known */
        c->has_repeat = false;
        c->has_first = false;
        atomic_fetch_add(&ns->abandoned, 1);
    }
}

/* ---- joins ---- */

/* A DevAddr not used by any device: NwkID (NetID's low 6 bits) | 25 random bits. */
static int allocate_dev_addr(struct edge_ns *ns, uint32_t *dev_addr)
{
    for (int attempt = 0; attempt < DEV_ADDR_ATTEMPTS; attempt++) {
        uint8_t r[4];
        if (RAND_bytes(r, sizeof(r)) != 1)
            return -1;
        uint32_t nwk_addr =
            ((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3]) &
            0x01ffffffu;
        uint32_t candidate = (ns->opts.net_id & 0x3fu) << 25 | nwk_addr;
        bool taken = true;
        if (registry_dev_addr_taken(ns->registry, candidate, &taken) != 0)
            return -1;
        if (!taken) {
            *dev_addr = candidate;
            return 0;
        }
    }
    return -1;
}

static void handle_join(struct edge_ns *ns, const uint8_t *phy, size_t len,
                        struct edge_ns_verdict *v)
{
    struct lorawan_join_request req;
    enum lorawan_status st = lorawan_parse_join_request(phy, len, &req);
    if (st != LORAWAN_OK) {
        drop(ns, v, st == LORAWAN_UNSUPPORTED ? EDGE_NS_DROP_UNSUPPORTED : EDGE_NS_DROP_MALFORMED);
        return;
    }
    snprintf(v->dev_eui, sizeof(v->dev_eui), "%016" PRIx64, req.dev_eui);
    struct registry_device dev;
    bool found = false;
    uint8_t nwk_s_key[LORAWAN_KEY_SIZE], app_s_key[LORAWAN_KEY_SIZE];
    if (registry_get(ns->registry, v->dev_eui, &dev, &found) != 0) {
        log_warn("edge-ns: registry: %s", registry_errmsg(ns->registry));
        drop(ns, v, EDGE_NS_DROP_INTERNAL);
        return;
    }
    if (!found || dev.activation != REGISTRY_OTAA) {
        drop(ns, v, EDGE_NS_DROP_UNKNOWN_DEV_EUI);
        goto out;
    }
    if (dev.join_eui != req.join_eui) {
        drop(ns, v, EDGE_NS_DROP_JOIN_EUI);
        goto out;
    }
    st = lorawan_check_join_request_mic(phy, len, dev.app_key);
    if (st != LORAWAN_OK) {
        drop(ns, v, st == LORAWAN_BAD_MIC ? EDGE_NS_DROP_BAD_MIC : EDGE_NS_DROP_INTERNAL);
        goto out;
    }
    bool fresh = false;
    if (registry_use_dev_nonce(ns->registry, dev.dev_eui, req.dev_nonce, &fresh) != 0)
        goto internal;
    if (!fresh) {
        drop(ns, v, EDGE_NS_DROP_DEV_NONCE);
        goto out;
    }
    struct lorawan_join_accept accept = {
        .net_id = ns->opts.net_id & 0xffffffu,
        .dl_settings = 0, /* RX1DROffset 0, RX2 DR0: EU868 defaults */
        .rx_delay_s = 1,
    };
    if (registry_next_app_nonce(ns->registry, dev.dev_eui, &accept.app_nonce) != 0 ||
        allocate_dev_addr(ns, &accept.dev_addr) != 0)
        goto internal;
    if (!lorawan_derive_session_keys(dev.app_key, accept.app_nonce, accept.net_id, req.dev_nonce,
                                     nwk_s_key, app_s_key))
        goto internal;
    v->join_accept_len =
        lorawan_build_join_accept(&accept, dev.app_key, v->join_accept, sizeof(v->join_accept));
    if (v->join_accept_len == 0 ||
        registry_start_session(ns->registry, dev.dev_eui, accept.dev_addr, nwk_s_key, app_s_key) !=
            0)
        goto internal;
    forget_counter(ns, dev.dev_eui);
    v->kind = EDGE_NS_JOIN_ACCEPT;
    v->dev_addr = accept.dev_addr;
    atomic_fetch_add(&ns->joins, 1);
    goto out;
internal:
    log_warn("edge-ns: join of %s failed: %s", dev.dev_eui, registry_errmsg(ns->registry));
    v->join_accept_len = 0;
    drop(ns, v, EDGE_NS_DROP_INTERNAL);
out:
    OPENSSL_cleanse(&dev, sizeof(dev));
    OPENSSL_cleanse(nwk_s_key, sizeof(nwk_s_key));
    OPENSSL_cleanse(app_s_key, sizeof(app_s_key));
}

void edge_ns_handle(struct edge_ns *ns, const uint8_t *phy, size_t len, struct edge_ns_verdict *out)
{
    memset(out, 0, sizeof(*out));
    atomic_fetch_add(&ns->frames, 1);
    if (len < 1) {
        drop(ns, out, EDGE_NS_DROP_MALFORMED);
        return;
    }
    enum lorawan_mtype mtype = (enum lorawan_mtype)(phy[0] >> 5);
    if (mtype == LORAWAN_JOIN_REQUEST)
        handle_join(ns, phy, len, out);
    else if (mtype == LORAWAN_JOIN_ACCEPT)
        drop(ns, out, EDGE_NS_DROP_NOT_UPLINK);
    else
        handle_data(ns, phy, len, out);
}

/* ---- downlinks ---- */

/* The counter of up's session while up's FCnt is still its last one; NULL when a later
 * frame or a new session took its place. */
static struct session_counter *counter_of(struct edge_ns *ns, const struct edge_ns_verdict *up)
{
    struct session_counter *c = find_counter(ns, up->dev_eui);
    return c && c->dev_addr == up->dev_addr && c->has_last && c->last == up->fcnt ? c : NULL;
}

int edge_ns_downlink(struct edge_ns *ns, const struct edge_ns_verdict *up, uint8_t *phy,
                     size_t phy_size, size_t *phy_len)
{
    *phy_len = 0;
    if (up->kind != EDGE_NS_UPLINK)
        return 0;
    struct session_counter *c = counter_of(ns, up);
    struct registry_downlink dl;
    bool has_payload = false, take = false, found = false;
    if (up->retransmission) {
        /* the first answer to this FCnt again; never a new entry of the queue */
        if (c && c->has_repeat) {
            memset(&dl, 0, sizeof(dl));
            dl.fport = c->repeat_fport;
            dl.confirmed = c->repeat_confirmed;
            dl.payload_len = c->repeat_len;
            memcpy(dl.payload, c->repeat_payload, c->repeat_len);
            has_payload = true;
        }
    } else {
        if (registry_next_downlink(ns->registry, up->dev_eui, &dl, &take) != 0)
            goto fail;
        has_payload = take;
    }
    if (!has_payload && !up->confirmed)
        return 0;
    struct registry_device dev;
    if (registry_get(ns->registry, up->dev_eui, &dev, &found) != 0)
        goto fail;
    int result = 0;
    if (!found || !dev.has_session || dev.dev_addr != up->dev_addr)
        goto out; /* removed or re-joined meanwhile: nothing to say to the old session */
    int64_t queued = 0;
    if ((take || up->retransmission) &&
        registry_count_downlinks(ns->registry, up->dev_eui, &queued) != 0)
        goto fail_dev;
    bool pending = (take ? queued - 1 : queued) > 0; /* more wait after what this carries */
    uint32_t fcnt_down;
    if (registry_take_fcnt_down(ns->registry, up->dev_eui, &fcnt_down) != 0)
        goto fail_dev;
    uint8_t fctrl =
        (up->confirmed ? LORAWAN_FCTRL_ACK : 0) | (pending ? LORAWAN_FCTRL_FPENDING : 0);
    enum lorawan_mtype mtype =
        has_payload && dl.confirmed ? LORAWAN_CONFIRMED_DOWN : LORAWAN_UNCONFIRMED_DOWN;
    *phy_len = lorawan_build_data(mtype, dev.dev_addr, fctrl, fcnt_down, NULL, 0, has_payload,
                                  has_payload ? dl.fport : 0, has_payload ? dl.payload : NULL,
                                  has_payload ? dl.payload_len : 0, dev.nwk_s_key, dev.app_s_key,
                                  phy, phy_size);
    if (*phy_len == 0)
        goto fail_dev;
    if (take) {
        if (registry_mark_downlink_sent(ns->registry, dl.id, clock_wall_ms()) != 0)
            goto fail_dev;
        atomic_fetch_add(&ns->queued_sent, 1);
        if (c && up->confirmed) { /* a retransmission of this FCnt gets it again */
            c->has_repeat = true;
            c->repeat_confirmed = dl.confirmed;
            c->repeat_fport = dl.fport;
            c->repeat_len = dl.payload_len;
            memcpy(c->repeat_payload, dl.payload, dl.payload_len);
        }
    } else if (has_payload) {
        atomic_fetch_add(&ns->queued_resent, 1);
    }
    atomic_fetch_add(&ns->downlinks, 1);
    result = 1;
    goto out;
fail_dev:
    OPENSSL_cleanse(&dev, sizeof(dev));
fail:
    log_warn("edge-ns: downlink for %s: %s", up->dev_eui, registry_errmsg(ns->registry));
    atomic_fetch_add(&ns->dropped[EDGE_NS_DROP_INTERNAL], 1);
    *phy_len = 0;
    return -1;
out:
    OPENSSL_cleanse(&dev, sizeof(dev));
    return result;
}
