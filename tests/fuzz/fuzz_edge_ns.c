/*
 * fuzz_edge_ns.c - the edge network server (gateway/src/lorawan/edge_ns.c) past the MIC: a
 * script of operations against a registry in a temporary SQLite file, with frames the
 * harness signs itself with the devices' keys (lorawan_build_data, lorawan.c), so that the
 * fuzzer's choices reach FCnt handling, FOpts, FPort 0, retransmissions, joins and the
 * downlinks built in answer, not only the MIC check.
 *
 * The registry starts every input the same: two ABP devices and one OTAA device that has
 * not joined. An input is a list of operations (first byte the opcode, see run_op):
 *   data     a frame signed for device 0-2 (or for a DevAddr nobody has), FCnt relative to
 *            the device's last or absolute, unconfirmed or confirmed, any FCtrl, FOpts,
 *            FPort and FRMPayload; optionally one bit flipped after signing (tampered);
 *            optionally abandoned (the journal refused it) instead of answered;
 *   raw      bytes straight to edge_ns_handle;
 *   join     a Join-Request of the OTAA device (or an ABP or unknown one), any DevNonce,
 *            optionally with a wrong JoinEUI or key; a Join-Accept is opened as the device
 *            would and the new session's keys sign the device's next frames;
 *   queue    a downlink queued through a registry connection of the harness's own, as
 *            sensorbroctl does (FPort and length any: out of range must be refused);
 *   flush    edge_ns_flush;
 *   restart  edge_ns_close and edge_ns_open: the counters come back from the registry.
 * After every accepted uplink that is not abandoned, edge_ns_downlink is asked for the RX1
 * answer, as ingest/semtech_udp.c does once the frame is stored.
 *
 * Invariants beyond the sanitizers:
 * - every verdict is one of the three kinds; a drop has a reason below EDGE_NS_DROP_COUNT
 *   with a name, and never "internal" (nothing here fails on purpose);
 * - an accepted uplink's FCnt is above every FCnt accepted before for that device's session
 *   (but the abandoned ones), or equal to the last for a confirmed retransmission; a
 *   tampered frame is never accepted; payloads decrypt to what was signed;
 * - for the frames the harness signed, the verdict is the one edge_ns.h describes, from a
 *   model of its rules kept here (FCnt window, replay, old, gap, bad MIC, retransmission
 *   limit, a retransmission that is not its first transmission byte for byte or whose first
 *   is not known, DevNonce reuse, JoinEUI, unknown DevAddr or DevEUI);
 * - a downlink is given exactly when the uplink was confirmed or a downlink is queued (or,
 *   for a retransmission, when its FCnt's first answer carried one); it parses, its MIC
 *   checks with the session's NwkSKey and the next FCntDown, ACK and FPending are right,
 *   and its payload decrypts to the queued one, each queued entry sent once;
 * - the counters of edge_ns_get_stats add up to the verdicts seen.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lorawan/edge_ns.h"
#include "lorawan/registry.h"

#include "fuzz_support.h"

#define NET_ID       0x13u
#define N_DEVICES    3 /* ABP, ABP, OTAA */
#define MAX_OPS      64
#define MAX_QUEUED   32
#define JOIN_EUI     0x70b3d57ed00000aaull
#define UNKNOWN_ADDR 0x01020304u /* another NwkID than NET_ID's: never given out */

struct queued {
    uint8_t fport;
    bool confirmed;
    size_t len;
    uint8_t payload[REGISTRY_DOWNLINK_MAX];
};

/* What the harness knows of one device, and its model of what edge_ns holds for it. */
struct device {
    const char *eui;
    bool otaa;
    uint8_t app_key[16];
    bool has_session;
    uint32_t dev_addr;
    uint8_t nwk_s_key[16], app_s_key[16];
    uint32_t last_app_nonce;
    uint8_t used_nonces[65536 / 8];
    /* edge_ns's counter in memory (session_counter in edge_ns.c) */
    bool in_memory, has_last, had_prev, dirty;
    uint32_t last, prev;
    unsigned transmissions;
    /* the confirmed frame first accepted with `last`, byte for byte: a retransmission must
     * be it (edge_ns keeps its digest; not known after a restart or an abandon) */
    bool has_first;
    size_t first_len;
    uint8_t first[LORAWAN_PHY_MAX_BYTES + 8];
    bool has_repeat;
    struct queued repeat;
    /* the registry */
    bool has_reg;
    uint32_t reg;
    uint32_t fcnt_down;
    struct queued queue[MAX_QUEUED];
    size_t n_queued;
    /* for the plain statement of the FCnt invariant */
    bool has_kept, had_kept;
    uint32_t kept, kept_prev;
};

static const uint8_t abp_keys[2][2][16] = {
    {{0x3c, 0x8f, 0x26, 0x27, 0x39, 0xbf, 0xe3, 0xb7, 0xbc, 0x08, 0x26, 0x99, 0x1a, 0xd0, 0x50,
      0x4d},
     {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f,
      0x3c}},
    {{1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 121, 98, 219},
     {2, 7, 1, 8, 2, 8, 1, 8, 2, 8, 4, 5, 9, 0, 4, 5}},
};
static const uint32_t abp_addrs[2] = {0x26011bdau, 0x260100a1u};
static const char *const euis[N_DEVICES] = {"70b3d57ed0000001", "70b3d57ed0000003",
                                            "70b3d57ed0000002"};
static const uint8_t otaa_app_key[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

struct run {
    char db_path[512];
    struct edge_ns *ns;
    struct registry *reg; /* the harness's own connection: queueing, as sensorbroctl */
    struct device dev[N_DEVICES];
    uint64_t frames, uplinks, drops, joins, downlinks;
};

static struct run run_state;

/* ---- set-up ---- */

static void reset_devices(struct run *r)
{
    for (int i = 0; i < N_DEVICES; i++) {
        struct device *d = &r->dev[i];
        memset(d, 0, sizeof(*d));
        d->eui = euis[i];
        d->otaa = i == 2;
        if (d->otaa) {
            memcpy(d->app_key, otaa_app_key, 16);
        } else {
            d->has_session = true;
            d->dev_addr = abp_addrs[i];
            memcpy(d->nwk_s_key, abp_keys[i][0], 16);
            memcpy(d->app_s_key, abp_keys[i][1], 16);
        }
    }
}

static void open_ns(struct run *r)
{
    char err[256];
    struct edge_ns_options o = {
        .registry_path = r->db_path, .net_id = NET_ID, .busy_timeout_ms = 1000};
    if (edge_ns_open(&r->ns, &o, err, sizeof(err)) != 0)
        fuzz_fail(__FILE__, __LINE__, "edge_ns_open: %s", err);
}

/* Puts the registry back as every input starts: each device removed (with its DevNonces
 * and downlinks) and added again, counters from zero, on the harness's own connection,
 * which stays open; edge_ns is opened afresh, so nothing of an earlier input is in
 * memory. (Copying a database file and opening it for each input cost three times more.) */
static void begin_input(struct run *r)
{
    char err[256];
    if (r->reg == NULL) {
        snprintf(r->db_path, sizeof(r->db_path), "%s/registry.db", fuzz_temp_dir());
        if (registry_open(&r->reg, r->db_path, false, 1000, err, sizeof(err)) != 0)
            fuzz_fail(__FILE__, __LINE__, "registry_open: %s", err);
    }
    for (int i = 0; i < N_DEVICES; i++) {
        struct registry_device d = {0};
        snprintf(d.dev_eui, sizeof(d.dev_eui), "%s", euis[i]);
        snprintf(d.name, sizeof(d.name), "fuzz-%d", i);
        if (i < 2) {
            d.activation = REGISTRY_ABP;
            d.dev_addr = abp_addrs[i];
            memcpy(d.nwk_s_key, abp_keys[i][0], 16);
            memcpy(d.app_s_key, abp_keys[i][1], 16);
        } else {
            d.activation = REGISTRY_OTAA;
            d.join_eui = JOIN_EUI;
            memcpy(d.app_key, otaa_app_key, 16);
        }
        bool found, exists;
        if (registry_remove(r->reg, d.dev_eui, &found) != 0 ||
            registry_add(r->reg, &d, &exists) != 0)
            fuzz_fail(__FILE__, __LINE__, "registry: %s", registry_errmsg(r->reg));
    }
    reset_devices(r);
    r->frames = r->uplinks = r->drops = r->joins = r->downlinks = 0;
    open_ns(r);
}

static void end_input(struct run *r)
{
    struct edge_ns_stats s;
    edge_ns_get_stats(r->ns, &s);
    uint64_t dropped = 0;
    for (int i = 0; i < EDGE_NS_DROP_COUNT; i++)
        dropped += s.dropped[i];
    FUZZ_CHECK(s.frames == r->frames && s.uplinks == r->uplinks && dropped == r->drops &&
                   s.joins == r->joins && s.downlinks == r->downlinks,
               "stats: frames %" PRIu64 "/%" PRIu64 ", uplinks %" PRIu64 "/%" PRIu64
               ", dropped %" PRIu64 "/%" PRIu64 ", joins %" PRIu64 "/%" PRIu64
               ", downlinks %" PRIu64 "/%" PRIu64,
               s.frames, r->frames, s.uplinks, r->uplinks, dropped, r->drops, s.joins, r->joins,
               s.downlinks, r->downlinks);
    edge_ns_close(r->ns);
    r->ns = NULL;
}

/* ---- the model ---- */

/* What session_counter() does before a frame of the device is judged: recover from the
 * registry when the counter is not in memory, or raise it to the registry's. */
static void model_counter(struct device *d)
{
    if (!d->in_memory) {
        d->in_memory = true;
        d->has_last = d->has_reg;
        d->last = d->reg;
        d->had_prev = d->dirty = d->has_repeat = d->has_first = false;
        d->transmissions = 1;
    } else if (d->has_reg && (!d->has_last || d->reg > d->last)) {
        d->has_last = true;
        d->last = d->reg;
    }
}

static void model_write_reg(struct device *d, uint32_t fcnt)
{
    if (!d->has_reg || fcnt > d->reg)
        d->reg = fcnt;
    d->has_reg = true;
}

struct expect {
    enum edge_ns_kind kind;
    enum edge_ns_drop drop;
    bool retransmission;
};

static struct expect drop_as(enum edge_ns_drop why)
{
    return (struct expect){.kind = EDGE_NS_DROP, .drop = why};
}

/* The verdict for a frame signed with the device's own keys and 32-bit counter fcnt, as
 * edge_ns.h states the rules (judge_fcnt in edge_ns.c). Only the counter the MIC was
 * computed with is accepted, whatever the 16 bits on air allow. */
static struct expect model_judge(struct device *d, uint32_t fcnt, bool confirmed,
                                 const uint8_t *phy, size_t len)
{
    model_counter(d);
    uint16_t fcnt16 = (uint16_t)fcnt;
    if (!d->has_last)
        return fcnt == fcnt16 ? (struct expect){.kind = EDGE_NS_UPLINK}
                              : drop_as(EDGE_NS_DROP_BAD_MIC);
    uint64_t ahead = (d->last & 0xFFFF0000u) | fcnt16;
    if (ahead <= d->last)
        ahead += 0x10000u;
    uint32_t ahead32 = (uint32_t)ahead;
    if (ahead <= UINT32_MAX && ahead - d->last <= EDGE_NS_MAX_FCNT_GAP)
        return fcnt == ahead32 ? (struct expect){.kind = EDGE_NS_UPLINK}
                               : drop_as(EDGE_NS_DROP_BAD_MIC);
    uint32_t back = (uint16_t)((uint16_t)d->last - fcnt16);
    if (back <= d->last && fcnt == d->last - back) {
        if (back == 0 && confirmed) {
            /* the replay checks, in edge_ns.c's order (never late: an input runs in far
             * less than the 60 s window) */
            if (!d->has_first)
                return drop_as(EDGE_NS_DROP_RETRANSMISSION_UNKNOWN);
            if (d->first_len != len || memcmp(d->first, phy, len) != 0)
                return drop_as(EDGE_NS_DROP_RETRANSMISSION_DIFFERS);
            if (d->transmissions >= EDGE_NS_MAX_NB_TRANS)
                return drop_as(EDGE_NS_DROP_RETRANSMISSION_LIMIT);
            return (struct expect){.kind = EDGE_NS_UPLINK, .retransmission = true};
        }
        return drop_as(back == 0 ? EDGE_NS_DROP_REPLAY : EDGE_NS_DROP_FCNT_OLD);
    }
    if (ahead <= UINT32_MAX && fcnt == ahead32)
        return drop_as(EDGE_NS_DROP_FCNT_GAP);
    return drop_as(EDGE_NS_DROP_BAD_MIC);
}

static struct device *device_of(struct run *r, const char *eui)
{
    for (int i = 0; i < N_DEVICES; i++) {
        if (strcmp(r->dev[i].eui, eui) == 0)
            return &r->dev[i];
    }
    return NULL;
}

/* ---- checks every verdict passes ---- */

static void check_verdict_shape(const struct edge_ns_verdict *v)
{
    FUZZ_CHECK(v->kind == EDGE_NS_DROP || v->kind == EDGE_NS_UPLINK ||
                   v->kind == EDGE_NS_JOIN_ACCEPT,
               "kind %d", (int)v->kind);
    if (v->kind == EDGE_NS_DROP) {
        FUZZ_CHECK(v->drop < EDGE_NS_DROP_COUNT && edge_ns_drop_name(v->drop)[0] != '?',
                   "drop reason %d", (int)v->drop);
        FUZZ_CHECK(v->drop != EDGE_NS_DROP_INTERNAL, "an internal failure");
    }
    if (v->kind == EDGE_NS_UPLINK) {
        FUZZ_CHECK(v->payload_len <= LORAWAN_PHY_MAX_BYTES, "payload %zu", v->payload_len);
        FUZZ_CHECK(!v->retransmission || v->confirmed, "unconfirmed retransmission");
        FUZZ_CHECK(v->journal ==
                       (v->has_fport && v->fport == EDGE_NS_UPLINK_FPORT && !v->retransmission),
                   "journal flag");
    }
}

static bool trace; /* FUZZ_TRACE set: every verdict on stderr, for reading a crash file */

static void handle(struct run *r, const uint8_t *phy, size_t len, struct edge_ns_verdict *v)
{
    edge_ns_handle(r->ns, phy, len, v);
    r->frames++;
    if (trace)
        fprintf(stderr, "frame of %zu bytes (MHDR %02x): %s %s, %s FCnt %u%s\n", len,
                len ? phy[0] : 0,
                v->kind == EDGE_NS_DROP     ? "drop"
                : v->kind == EDGE_NS_UPLINK ? "uplink"
                                            : "join",
                v->kind == EDGE_NS_DROP ? edge_ns_drop_name(v->drop) : "", v->dev_eui, v->fcnt,
                v->retransmission ? " (retransmission)" : "");
    check_verdict_shape(v);
    if (v->kind == EDGE_NS_DROP)
        r->drops++;
    else if (v->kind == EDGE_NS_UPLINK)
        r->uplinks++;
    else
        r->joins++;
}

/* An accepted uplink moves the device's counter on; checks the plain invariant first. */
static void apply_uplink(struct run *r, const struct edge_ns_verdict *v, const uint8_t *phy,
                         size_t len)
{
    struct device *d = device_of(r, v->dev_eui);
    FUZZ_CHECK(d != NULL && d->has_session && d->dev_addr == v->dev_addr,
               "accepted for %s, not a device with that session", v->dev_eui);
    model_counter(d);
    if (v->retransmission) {
        FUZZ_CHECK(d->has_last && v->fcnt == d->last, "retransmission of %u, last %u", v->fcnt,
                   d->last);
        d->transmissions++;
        return;
    }
    FUZZ_CHECK(!d->has_kept || v->fcnt > d->kept, "FCnt %u after %u: backwards", v->fcnt, d->kept);
    FUZZ_CHECK(!d->has_last || v->fcnt > d->last, "FCnt %u after %u", v->fcnt, d->last);
    d->had_kept = d->has_kept;
    d->kept_prev = d->kept;
    d->has_kept = true;
    d->kept = v->fcnt;
    d->had_prev = d->has_last;
    d->prev = d->last;
    d->has_last = true;
    d->last = v->fcnt;
    d->dirty = true;
    d->transmissions = 1;
    d->has_repeat = false;
    d->has_first = v->confirmed && len <= sizeof(d->first);
    if (d->has_first) {
        d->first_len = len;
        memcpy(d->first, phy, len);
    }
    if (!v->journal) {
        model_write_reg(d, v->fcnt);
        d->dirty = false;
    }
}

static void abandon(struct run *r, const struct edge_ns_verdict *v)
{
    edge_ns_abandon(r->ns, v);
    struct device *d = device_of(r, v->dev_eui);
    if (d == NULL || v->retransmission || !d->has_last || d->last != v->fcnt)
        return;
    d->has_last = d->had_prev;
    d->last = d->prev;
    d->had_prev = false;
    d->transmissions = 1;
    d->has_repeat = false;
    d->has_first = false;
    d->has_kept = d->had_kept;
    d->kept = d->kept_prev;
}

/* Asks for the RX1 answer to an accepted uplink and checks it against the model. */
static void downlink(struct run *r, const struct edge_ns_verdict *v)
{
    struct device *d = device_of(r, v->dev_eui);
    struct queued expected = {0};
    bool has_payload = false, take = false;
    if (v->retransmission) {
        has_payload = d->has_repeat;
        expected = d->repeat;
    } else if (d->n_queued > 0) {
        has_payload = take = true;
        expected = d->queue[0];
    }
    bool answer = has_payload || v->confirmed;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t phy_len = 0;
    int rc = edge_ns_downlink(r->ns, v, phy, sizeof(phy), &phy_len);
    FUZZ_CHECK(rc == (answer ? 1 : 0), "downlink %d, expected %d", rc, answer);
    if (trace)
        fprintf(stderr, "  downlink: %s\n", rc == 1 ? (has_payload ? "payload" : "ACK") : "none");
    if (!answer)
        return;
    r->downlinks++;
    size_t left = d->n_queued - (take ? 1 : 0);
    bool pending = (take || v->retransmission) && left > 0;
    uint32_t fcnt_down = d->fcnt_down++;
    struct lorawan_data_frame f;
    FUZZ_CHECK(lorawan_parse_data(phy, phy_len, &f) == LORAWAN_OK, "downlink does not parse");
    enum lorawan_mtype mtype =
        has_payload && expected.confirmed ? LORAWAN_CONFIRMED_DOWN : LORAWAN_UNCONFIRMED_DOWN;
    FUZZ_CHECK(f.mtype == mtype && f.dev_addr == d->dev_addr, "downlink type or DevAddr");
    FUZZ_CHECK(((f.fctrl & LORAWAN_FCTRL_ACK) != 0) == v->confirmed, "ACK bit");
    FUZZ_CHECK(((f.fctrl & LORAWAN_FCTRL_FPENDING) != 0) == pending, "FPending bit");
    FUZZ_CHECK(f.fcnt16 == (uint16_t)fcnt_down, "FCntDown %u, expected %u", f.fcnt16, fcnt_down);
    FUZZ_CHECK(lorawan_check_data_mic(&f, d->nwk_s_key, LORAWAN_DOWN, fcnt_down) == LORAWAN_OK,
               "downlink MIC");
    FUZZ_CHECK(f.has_fport == has_payload && f.fopts_len == 0, "downlink FPort");
    if (has_payload) {
        FUZZ_CHECK(f.fport == expected.fport && f.frm_payload_len == expected.len,
                   "downlink port or length");
        uint8_t plain[LORAWAN_PHY_MAX_BYTES];
        memcpy(plain, f.frm_payload_len ? f.frm_payload : plain, f.frm_payload_len);
        FUZZ_CHECK(lorawan_crypt_frm_payload(d->app_s_key, LORAWAN_DOWN, d->dev_addr, fcnt_down,
                                             plain, f.frm_payload_len) &&
                       memcmp(plain, expected.payload, expected.len) == 0,
                   "downlink payload");
    }
    if (take) {
        memmove(&d->queue[0], &d->queue[1], (d->n_queued - 1) * sizeof(d->queue[0]));
        d->n_queued--;
        if (v->confirmed) {
            d->has_repeat = true;
            d->repeat = expected;
        }
    }
}

/* ---- operations ---- */

static void op_data(struct run *r, struct fuzz_reader *in)
{
    uint8_t which = fuzz_u8(in), flags = fuzz_u8(in), fctrl = fuzz_u8(in);
    uint32_t fcnt_arg = fuzz_u32(in);
    uint8_t fopts[LORAWAN_FOPTS_MAX], payload[LORAWAN_PHY_MAX_BYTES];
    size_t fopts_len = fuzz_bytes(in, fopts, fuzz_u8(in) % (LORAWAN_FOPTS_MAX + 1));
    uint8_t fport = fuzz_u8(in);
    size_t payload_len = fuzz_bytes(in, payload, fuzz_u8(in) % 240);
    uint8_t flip_at = fuzz_u8(in);

    bool confirmed = flags & 1, has_fport = (flags & 2) || payload_len > 0;
    bool tamper = (flags & 0x30) == 0x30, abandon_it = (flags & 0xc0) == 0xc0;
    struct device *d = which % 4 < N_DEVICES ? &r->dev[which % 4] : NULL;
    bool known = d != NULL && d->has_session;
    uint32_t dev_addr = known ? d->dev_addr : UNKNOWN_ADDR;
    const uint8_t *nwk = known ? d->nwk_s_key : abp_keys[0][0];
    const uint8_t *app = known ? d->app_s_key : abp_keys[0][1];
    uint32_t fcnt = fcnt_arg;
    if (known && (flags & 4) == 0) {
        /* relative to the model's last counter: replays, old and near frames, the gap */
        model_counter(d);
        fcnt = (d->has_last ? d->last : 0) + (uint32_t)(int32_t)(int16_t)fcnt_arg;
    }
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t len = lorawan_build_data(confirmed ? LORAWAN_CONFIRMED_UP : LORAWAN_UNCONFIRMED_UP,
                                    dev_addr, fctrl, fcnt, fopts, fopts_len, has_fport, fport,
                                    payload, payload_len, nwk, app, phy, sizeof(phy));
    if (len == 0)
        return; /* FOpts with FPort 0: no device sends that (lorawan.h) */
    if (tamper)
        phy[(flip_at >> 3) % len] ^= (uint8_t)(1u << (flip_at & 7));

    struct expect want = {0};
    if (!tamper)
        want = known ? model_judge(d, fcnt, confirmed, phy, len)
                     : drop_as(EDGE_NS_DROP_UNKNOWN_DEV_ADDR);
    struct edge_ns_verdict v;
    handle(r, phy, len, &v);
    if (tamper) {
        FUZZ_CHECK(v.kind == EDGE_NS_DROP, "a tampered frame was accepted (FCnt %u)", v.fcnt);
        return;
    }
    FUZZ_CHECK(v.kind == want.kind && (v.kind != EDGE_NS_DROP || v.drop == want.drop),
               "FCnt %u of %s (last %s%u, %u sent): %s %s, expected %s %s", fcnt,
               known ? d->eui : "nobody", known && d->has_last ? "" : "none/", known ? d->last : 0,
               known ? d->transmissions : 0, v.kind == EDGE_NS_UPLINK ? "uplink" : "drop",
               v.kind == EDGE_NS_DROP ? edge_ns_drop_name(v.drop) : "",
               want.kind == EDGE_NS_UPLINK ? "uplink" : "drop",
               want.kind == EDGE_NS_DROP ? edge_ns_drop_name(want.drop) : "");
    if (v.kind != EDGE_NS_UPLINK)
        return;
    FUZZ_CHECK(v.fcnt == fcnt && v.retransmission == want.retransmission &&
                   v.confirmed == confirmed && v.has_fport == has_fport &&
                   (!has_fport || v.fport == fport) && v.payload_len == payload_len &&
                   memcmp(v.payload, payload, payload_len) == 0 && strcmp(v.dev_eui, d->eui) == 0,
               "accepted otherwise than signed");
    apply_uplink(r, &v, phy, len);
    if (abandon_it && v.journal)
        abandon(r, &v);
    else
        downlink(r, &v);
}

static void after_join(struct run *r, struct device *d, const struct edge_ns_verdict *v,
                       uint16_t dev_nonce);

static void op_raw(struct run *r, struct fuzz_reader *in)
{
    uint8_t phy[LORAWAN_PHY_MAX_BYTES + 8];
    size_t len = fuzz_bytes(in, phy, fuzz_u8(in));
    struct edge_ns_verdict v;
    handle(r, phy, len, &v);
    /* taken only as a copy of a frame signed earlier (in a seed, say) */
    if (v.kind == EDGE_NS_UPLINK) {
        apply_uplink(r, &v, phy, len);
        downlink(r, &v);
    } else if (v.kind == EDGE_NS_JOIN_ACCEPT) {
        struct lorawan_join_request req;
        struct device *d = device_of(r, v.dev_eui);
        FUZZ_CHECK(lorawan_parse_join_request(phy, len, &req) == LORAWAN_OK && d != NULL &&
                       d->otaa &&
                       !(d->used_nonces[req.dev_nonce / 8] & (1u << (req.dev_nonce % 8))),
                   "a join of %s accepted", v.dev_eui);
        after_join(r, d, &v, req.dev_nonce);
    }
}

static void op_join(struct run *r, struct fuzz_reader *in)
{
    uint8_t which = fuzz_u8(in), flags = fuzz_u8(in);
    uint16_t dev_nonce = fuzz_u16(in);
    struct device *d = which % 4 < N_DEVICES ? &r->dev[which % 4] : NULL;
    bool wrong_eui = flags & 1, wrong_key = (flags & 6) == 6;
    struct lorawan_join_request req = {
        .join_eui = wrong_eui ? JOIN_EUI ^ 1 : JOIN_EUI,
        .dev_eui = d ? strtoull(d->eui, NULL, 16) : 0x70b3d57ed00000ffull,
        .dev_nonce = dev_nonce,
    };
    uint8_t key[16];
    memcpy(key, otaa_app_key, 16);
    if (wrong_key)
        key[flags >> 4] ^= 0x80;
    uint8_t phy[LORAWAN_JOIN_REQUEST_BYTES];
    FUZZ_CHECK(lorawan_build_join_request(&req, key, phy, sizeof(phy)) == sizeof(phy), "build");

    struct expect want;
    if (d == NULL || !d->otaa)
        want = drop_as(EDGE_NS_DROP_UNKNOWN_DEV_EUI);
    else if (wrong_eui)
        want = drop_as(EDGE_NS_DROP_JOIN_EUI);
    else if (wrong_key)
        want = drop_as(EDGE_NS_DROP_BAD_MIC);
    else if (d->used_nonces[dev_nonce / 8] & (1u << (dev_nonce % 8)))
        want = drop_as(EDGE_NS_DROP_DEV_NONCE);
    else
        want = (struct expect){.kind = EDGE_NS_JOIN_ACCEPT};
    struct edge_ns_verdict v;
    handle(r, phy, sizeof(phy), &v);
    FUZZ_CHECK(v.kind == want.kind && (v.kind != EDGE_NS_DROP || v.drop == want.drop),
               "join with DevNonce %u: %s, expected %s", dev_nonce,
               v.kind == EDGE_NS_DROP ? edge_ns_drop_name(v.drop) : "accepted",
               want.kind == EDGE_NS_DROP ? edge_ns_drop_name(want.drop) : "accepted");
    if (v.kind == EDGE_NS_JOIN_ACCEPT)
        after_join(r, d, &v, dev_nonce);
}

/* The device's side of an accepted join: opens the Join-Accept, derives the session. */
static void after_join(struct run *r, struct device *d, const struct edge_ns_verdict *v,
                       uint16_t dev_nonce)
{
    d->used_nonces[dev_nonce / 8] |= (uint8_t)(1u << (dev_nonce % 8));
    struct lorawan_join_accept acc;
    FUZZ_CHECK(lorawan_open_join_accept(v->join_accept, v->join_accept_len, d->app_key, &acc) ==
                   LORAWAN_OK,
               "the Join-Accept does not open");
    FUZZ_CHECK(acc.net_id == NET_ID && acc.dev_addr == v->dev_addr &&
                   acc.dev_addr >> 25 == (NET_ID & 0x3f) && acc.app_nonce > d->last_app_nonce,
               "Join-Accept: NetID %06x, DevAddr %08x / %08x, AppNonce %u after %u", acc.net_id,
               acc.dev_addr, v->dev_addr, acc.app_nonce, d->last_app_nonce);
    for (int i = 0; i < N_DEVICES; i++)
        FUZZ_CHECK(&r->dev[i] == d || !r->dev[i].has_session || r->dev[i].dev_addr != acc.dev_addr,
                   "DevAddr %08x given out twice", acc.dev_addr);
    d->last_app_nonce = acc.app_nonce;
    FUZZ_CHECK(lorawan_derive_session_keys(d->app_key, acc.app_nonce, acc.net_id, dev_nonce,
                                           d->nwk_s_key, d->app_s_key),
               "session keys");
    d->has_session = true;
    d->dev_addr = acc.dev_addr;
    d->in_memory = d->has_reg = d->has_kept = false;
    d->fcnt_down = 0;
}

static void op_queue(struct run *r, struct fuzz_reader *in)
{
    uint8_t which = fuzz_u8(in), fport = fuzz_u8(in), flags = fuzz_u8(in);
    struct queued q = {.fport = fport, .confirmed = flags & 1};
    q.len = fuzz_bytes(in, q.payload, (size_t)(flags >> 1) % (REGISTRY_DOWNLINK_MAX + 2));
    bool too_long = (size_t)(flags >> 1) % (REGISTRY_DOWNLINK_MAX + 2) > REGISTRY_DOWNLINK_MAX;
    struct device *d = &r->dev[which % N_DEVICES];
    if (d->n_queued == MAX_QUEUED)
        return;
    int64_t id;
    int rc =
        registry_queue_downlink(r->reg, d->eui, fport, q.payload,
                                too_long ? REGISTRY_DOWNLINK_MAX + 1 : q.len, q.confirmed, &id);
    bool valid = fport >= 1 && fport <= 223 && !too_long;
    FUZZ_CHECK(rc == (valid ? 0 : -1), "queueing FPort %u, %zu bytes: %d", fport, q.len, rc);
    if (valid)
        d->queue[d->n_queued++] = q;
}

static void model_flush(struct run *r)
{
    for (int i = 0; i < N_DEVICES; i++) {
        struct device *d = &r->dev[i];
        if (d->in_memory && d->dirty) {
            model_write_reg(d, d->last);
            d->dirty = false;
        }
    }
}

static void op_flush(struct run *r)
{
    FUZZ_CHECK(edge_ns_flush(r->ns) == 0, "flush failed");
    model_flush(r);
}

static void op_restart(struct run *r)
{
    end_input(r); /* checks the counters, closes (which flushes) */
    model_flush(r);
    for (int i = 0; i < N_DEVICES; i++)
        r->dev[i].in_memory = false;
    r->frames = r->uplinks = r->drops = r->joins = r->downlinks = 0;
    open_ns(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run *r = &run_state;
    trace = getenv("FUZZ_TRACE") != NULL;
    struct fuzz_reader in;
    fuzz_reader_init(&in, data, size);
    begin_input(r);
    for (int n = 0; n < MAX_OPS && !in.exhausted && in.pos < in.size; n++) {
        switch (fuzz_u8(&in) % 8) {
        case 0:
        case 1:
        case 2:
            op_data(r, &in);
            break;
        case 3:
            op_raw(r, &in);
            break;
        case 4:
            op_join(r, &in);
            break;
        case 5:
            op_queue(r, &in);
            break;
        case 6:
            op_flush(r);
            break;
        case 7:
            op_restart(r);
            break;
        }
    }
    end_input(r);
    return 0;
}
