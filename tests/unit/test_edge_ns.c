/*
 * test_edge_ns.c - the edge network server's MAC on a real registry file: ABP uplinks
 * accepted and decrypted; every truncation and every bit flip of a valid frame refused and
 * counted; replayed, old and too-far counters refused; FCnt past 65535 followed; unknown
 * DevAddr; a duplicate handed in twice is a replay; a confirmed uplink and its
 * retransmission ACKed; the counter recovered from the journal after a restart; an
 * abandoned frame taken again; OTAA join (DevNonce never reused, bad MIC, unknown DevEUI)
 * and an uplink in the joined session; a queued downlink in RX1; every retransmission of a
 * confirmed uplink ACKed with a new FCntDown up to EDGE_NS_MAX_NB_TRANS transmissions and
 * refused beyond; a retransmission repeating the queued downlink its FCnt took, never
 * taking another one.
 *
 * Frames are built with lorawan.c (checked against published vectors in test_lorawan.c),
 * as the device would build them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "store/journal.h"
#include "lorawan/edge_ns.h"
#include "lorawan/registry.h"

#define DEV_EUI  "70b3d57ed0000001"
#define DEV_ADDR 0x26011bdau
#define OTAA_EUI "70b3d57ed0000002"
#define JOIN_EUI 0x70b3d57ed00000aaULL

static const uint8_t nwk_s_key[16] = {0x3c, 0x8f, 0x26, 0x27, 0x39, 0xbf, 0xe3, 0xb7,
                                      0xbc, 0x08, 0x26, 0x99, 0x1a, 0xd0, 0x50, 0x4d};
static const uint8_t app_s_key[16] = {0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
                                      0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c};
static const uint8_t app_key[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t plain[] = {0x08, 0x2a, 0x10, 0x80, 0x02}; /* any bytes will do */

struct fixture {
    char dir[64];
    char path[96];
    struct edge_ns *ns;
    struct registry *r;
};

static struct edge_ns_verdict v;

static void open_ns(struct fixture *f)
{
    char err[256];
    struct edge_ns_options o = {.registry_path = f->path, .net_id = 0x13, .busy_timeout_ms = 1000};
    if (edge_ns_open(&f->ns, &o, err, sizeof(err)) != 0)
        fail_msg("%s", err);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_edge_ns.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/j.db", f->dir);
    char err[256];
    if (registry_open(&f->r, f->path, false, 1000, err, sizeof(err)) != 0)
        return -1;
    struct registry_device d = {.activation = REGISTRY_ABP, .dev_addr = DEV_ADDR};
    snprintf(d.dev_eui, sizeof(d.dev_eui), DEV_EUI);
    memcpy(d.nwk_s_key, nwk_s_key, 16);
    memcpy(d.app_s_key, app_s_key, 16);
    bool exists;
    if (registry_add(f->r, &d, &exists) != 0)
        return -1;
    struct registry_device o = {.activation = REGISTRY_OTAA, .join_eui = JOIN_EUI};
    snprintf(o.dev_eui, sizeof(o.dev_eui), OTAA_EUI);
    memcpy(o.app_key, app_key, 16);
    if (registry_add(f->r, &o, &exists) != 0)
        return -1;
    open_ns(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    edge_ns_close(f->ns);
    registry_close(f->r);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static size_t uplink_with(enum lorawan_mtype mtype, uint32_t dev_addr, uint32_t fcnt, uint8_t fport,
                          const uint8_t nwk[16], const uint8_t app[16], uint8_t *out)
{
    size_t n = lorawan_build_data(mtype, dev_addr, 0, fcnt, NULL, 0, true, fport, plain,
                                  sizeof(plain), nwk, app, out, LORAWAN_PHY_MAX_BYTES);
    assert_true(n > 0);
    return n;
}

static size_t uplink(uint32_t fcnt, uint8_t *out)
{
    return uplink_with(LORAWAN_UNCONFIRMED_UP, DEV_ADDR, fcnt, 1, nwk_s_key, app_s_key, out);
}

static void expect_drop(struct edge_ns *ns, const uint8_t *phy, size_t len, enum edge_ns_drop why)
{
    edge_ns_handle(ns, phy, len, &v);
    assert_int_equal(v.kind, EDGE_NS_DROP);
    assert_string_equal(edge_ns_drop_name(v.drop), edge_ns_drop_name(why));
}

static void expect_uplink(struct edge_ns *ns, const uint8_t *phy, size_t len, uint32_t fcnt)
{
    edge_ns_handle(ns, phy, len, &v);
    if (v.kind != EDGE_NS_UPLINK)
        fail_msg("fcnt %u: dropped as %s", (unsigned)fcnt, edge_ns_drop_name(v.drop));
    assert_int_equal(v.fcnt, fcnt);
}

static void test_abp_uplink(void **state)
{
    struct fixture *f = *state;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t n = uplink(7, phy);
    expect_uplink(f->ns, phy, n, 7);
    assert_string_equal(v.dev_eui, DEV_EUI);
    assert_true(v.journal);
    assert_true(v.has_fport);
    assert_int_equal(v.fport, 1);
    assert_false(v.confirmed);
    assert_int_equal(v.payload_len, sizeof(plain));
    assert_memory_equal(v.payload, plain, sizeof(plain));
    /* nothing to say back to an unconfirmed uplink with an empty queue */
    uint8_t down[LORAWAN_PHY_MAX_BYTES];
    size_t down_len = 99;
    assert_int_equal(edge_ns_downlink(f->ns, &v, down, sizeof(down), &down_len), 0);
    /* another port is accepted but not for the journal */
    n = uplink_with(LORAWAN_UNCONFIRMED_UP, DEV_ADDR, 8, 2, nwk_s_key, app_s_key, phy);
    expect_uplink(f->ns, phy, n, 8);
    assert_false(v.journal);
    struct edge_ns_stats s;
    edge_ns_get_stats(f->ns, &s);
    assert_int_equal(s.uplinks, 2);
    assert_int_equal(s.not_journaled, 1);
}

/* Every truncation of a valid frame, and every single bit flipped, is refused. */
static void test_hostile_frames(void **state)
{
    struct fixture *f = *state;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t n = uplink(100, phy);
    for (size_t len = 0; len < n; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees any overread */
        memcpy(copy, phy, len);
        edge_ns_handle(f->ns, copy, len, &v);
        assert_int_equal(v.kind, EDGE_NS_DROP);
        free(copy);
    }
    for (size_t bit = 0; bit < 8 * n; bit++) {
        uint8_t copy[LORAWAN_PHY_MAX_BYTES];
        memcpy(copy, phy, n);
        copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        edge_ns_handle(f->ns, copy, n, &v);
        assert_int_equal(v.kind, EDGE_NS_DROP);
    }
    /* one of each on purpose */
    uint8_t bad[LORAWAN_PHY_MAX_BYTES];
    memcpy(bad, phy, n);
    bad[n - 1] ^= 0x01;
    expect_drop(f->ns, bad, n, EDGE_NS_DROP_BAD_MIC);
    expect_drop(f->ns, phy, 5, EDGE_NS_DROP_MALFORMED);
    n = uplink_with(LORAWAN_UNCONFIRMED_UP, 0x01020304, 1, 1, nwk_s_key, app_s_key, bad);
    expect_drop(f->ns, bad, n, EDGE_NS_DROP_UNKNOWN_DEV_ADDR);
    n = uplink_with(LORAWAN_UNCONFIRMED_DOWN, DEV_ADDR, 1, 1, nwk_s_key, app_s_key, bad);
    expect_drop(f->ns, bad, n, EDGE_NS_DROP_NOT_UPLINK);
    n = uplink_with(LORAWAN_UNCONFIRMED_UP, DEV_ADDR, 101, 1, app_s_key, app_s_key, bad);
    expect_drop(f->ns, bad, n, EDGE_NS_DROP_BAD_MIC); /* wrong NwkSKey */
    /* none of that moved the counter: the genuine frame still passes */
    n = uplink(100, phy);
    expect_uplink(f->ns, phy, n, 100);
    struct edge_ns_stats s;
    edge_ns_get_stats(f->ns, &s);
    assert_int_equal(s.uplinks, 1);
    uint64_t dropped = 0;
    for (int i = 0; i < EDGE_NS_DROP_COUNT; i++)
        dropped += s.dropped[i];
    assert_int_equal(s.frames, s.uplinks + dropped);
}

static void test_replay_old_gap(void **state)
{
    struct fixture *f = *state;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES], old[LORAWAN_PHY_MAX_BYTES];
    size_t old_len = uplink(10, old);
    expect_uplink(f->ns, old, old_len, 10);
    size_t n = uplink(11, phy);
    expect_uplink(f->ns, phy, n, 11);
    /* the same copy again (a duplicate the adapter did not merge, or a replay) */
    expect_drop(f->ns, phy, n, EDGE_NS_DROP_REPLAY);
    expect_drop(f->ns, old, old_len, EDGE_NS_DROP_FCNT_OLD);
    n = uplink(11 + EDGE_NS_MAX_FCNT_GAP + 1, phy);
    expect_drop(f->ns, phy, n, EDGE_NS_DROP_FCNT_GAP);
    n = uplink(11 + EDGE_NS_MAX_FCNT_GAP, phy);
    expect_uplink(f->ns, phy, n, 11 + EDGE_NS_MAX_FCNT_GAP);
    struct edge_ns_stats s;
    edge_ns_get_stats(f->ns, &s);
    assert_int_equal(s.dropped[EDGE_NS_DROP_REPLAY], 1);
    assert_int_equal(s.dropped[EDGE_NS_DROP_FCNT_OLD], 1);
    assert_int_equal(s.dropped[EDGE_NS_DROP_FCNT_GAP], 1);
}

static void test_fcnt_rollover(void **state)
{
    struct fixture *f = *state;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    /* steps of at most MAX_FCNT_GAP, across two rollovers of the 16 bits on air */
    static const uint32_t counters[] = {65530, 65535,  65536,  65537,  80000,
                                        96000, 112000, 128000, 131071, 131080};
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        size_t n = uplink(counters[i], phy);
        expect_uplink(f->ns, phy, n, counters[i]);
    }
    /* an older frame of this 65536 span is old; one a whole span back cannot be told from
     * a forgery (its MIC only checks with a counter nobody can guess): refused either way */
    size_t n = uplink(131075, phy);
    expect_drop(f->ns, phy, n, EDGE_NS_DROP_FCNT_OLD);
    n = uplink(65544, phy);
    expect_drop(f->ns, phy, n, EDGE_NS_DROP_BAD_MIC);
}

/* A counter journaled before a restart but not yet written to the registry holds. */
static void test_restart_recovers_from_journal(void **state)
{
    struct fixture *f = *state;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES], replay[LORAWAN_PHY_MAX_BYTES];
    size_t n = uplink(3, phy);
    expect_uplink(f->ns, phy, n, 3);
    edge_ns_close(f->ns); /* writes 3 */
    /* the daemon journaled frame 20 and died before its lazy write */
    char err[256];
    struct journal *j;
    struct journal_options jo = {.synchronous = JOURNAL_SYNC_FULL, .busy_timeout_ms = 1000};
    assert_int_equal(journal_open(&j, f->path, &jo, err, sizeof(err)), 0);
    struct frame_record rec = {.device = DEV_EUI,
                               .transport = "semtech-udp",
                               .source = "127.0.0.1:1",
                               .radio = {.has_lorawan = true, .fcnt = 20, .fport = 1}};
    int64_t id;
    assert_int_equal(journal_append(j, &rec, &id), 0);
    journal_close(j);
    open_ns(f);
    size_t rn = uplink(20, replay);
    expect_drop(f->ns, replay, rn, EDGE_NS_DROP_REPLAY);
    rn = uplink(19, replay);
    expect_drop(f->ns, replay, rn, EDGE_NS_DROP_FCNT_OLD);
    n = uplink(21, phy);
    expect_uplink(f->ns, phy, n, 21);
}

static void test_abandon(void **state)
{
    struct fixture *f = *state;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t n = uplink(30, phy);
    expect_uplink(f->ns, phy, n, 30);
    edge_ns_abandon(f->ns, &v); /* the journal refused it */
    expect_uplink(f->ns, phy, n, 30);
}

static void open_downlink(const uint8_t *phy, size_t len, uint32_t dev_addr, const uint8_t nwk[16],
                          const uint8_t app[16], uint8_t *payload, size_t *payload_len,
                          struct lorawan_data_frame *frame)
{
    assert_int_equal(lorawan_parse_data(phy, len, frame), LORAWAN_OK);
    assert_int_equal(frame->dev_addr, dev_addr);
    assert_int_equal(lorawan_check_data_mic(frame, nwk, LORAWAN_DOWN, frame->fcnt16), LORAWAN_OK);
    if (frame->frm_payload_len > 0)
        memcpy(payload, frame->frm_payload, frame->frm_payload_len);
    *payload_len = frame->frm_payload_len;
    assert_true(lorawan_crypt_frm_payload(app, LORAWAN_DOWN, dev_addr, frame->fcnt16, payload,
                                          *payload_len));
}

static void test_confirmed_and_queued_downlinks(void **state)
{
    struct fixture *f = *state;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES], down[LORAWAN_PHY_MAX_BYTES], payload[64];
    size_t n = uplink_with(LORAWAN_CONFIRMED_UP, DEV_ADDR, 40, 1, nwk_s_key, app_s_key, phy);
    expect_uplink(f->ns, phy, n, 40);
    assert_true(v.confirmed);
    size_t down_len = 0, payload_len = 0;
    assert_int_equal(edge_ns_downlink(f->ns, &v, down, sizeof(down), &down_len), 1);
    struct lorawan_data_frame frame;
    open_downlink(down, down_len, DEV_ADDR, nwk_s_key, app_s_key, payload, &payload_len, &frame);
    assert_int_equal(frame.mtype, LORAWAN_UNCONFIRMED_DOWN);
    assert_true(frame.fctrl & LORAWAN_FCTRL_ACK);
    assert_false(frame.has_fport);
    assert_int_equal(frame.fcnt16, 0);

    /* the device missed the ACK and sends the same frame: ACKed again, not stored again */
    edge_ns_handle(f->ns, phy, n, &v);
    assert_int_equal(v.kind, EDGE_NS_UPLINK);
    assert_true(v.retransmission);
    assert_false(v.journal);
    assert_int_equal(edge_ns_downlink(f->ns, &v, down, sizeof(down), &down_len), 1);
    assert_int_equal(lorawan_parse_data(down, down_len, &frame), LORAWAN_OK);
    assert_int_equal(frame.fcnt16, 1); /* FCntDown never reused */

    /* a queued downlink rides on the next uplink, on its own port */
    static const uint8_t queued[] = {0xca, 0xfe, 0x01};
    int64_t id;
    assert_int_equal(registry_queue_downlink(f->r, DEV_EUI, 5, queued, sizeof(queued), false, &id),
                     0);
    n = uplink(41, phy);
    expect_uplink(f->ns, phy, n, 41);
    assert_int_equal(edge_ns_downlink(f->ns, &v, down, sizeof(down), &down_len), 1);
    open_downlink(down, down_len, DEV_ADDR, nwk_s_key, app_s_key, payload, &payload_len, &frame);
    assert_int_equal(frame.fport, 5);
    assert_false(frame.fctrl & LORAWAN_FCTRL_ACK);
    assert_int_equal(payload_len, sizeof(queued));
    assert_memory_equal(payload, queued, sizeof(queued));
    assert_int_equal(frame.fcnt16, 2);
    /* sent once */
    n = uplink(42, phy);
    expect_uplink(f->ns, phy, n, 42);
    assert_int_equal(edge_ns_downlink(f->ns, &v, down, sizeof(down), &down_len), 0);
    struct registry_device d;
    bool found;
    assert_int_equal(registry_get(f->r, DEV_EUI, &d, &found), 0);
    assert_int_equal(d.fcnt_down, 3);
}

/* Answers edge_ns gives to the uplink in v: 1 with the opened frame, or 0 for none. */
static int answer(struct fixture *f, struct lorawan_data_frame *frame, uint8_t *payload,
                  size_t *payload_len)
{
    static uint8_t down[LORAWAN_PHY_MAX_BYTES];
    size_t down_len = 0;
    int rc = edge_ns_downlink(f->ns, &v, down, sizeof(down), &down_len);
    assert_true(rc == 0 || rc == 1);
    if (rc == 1)
        open_downlink(down, down_len, DEV_ADDR, nwk_s_key, app_s_key, payload, payload_len, frame);
    return rc;
}

static int64_t queued_count(struct fixture *f)
{
    int64_t n = -1;
    assert_int_equal(registry_count_downlinks(f->r, DEV_EUI, &n), 0);
    return n;
}

/* The device misses every ACK and sends the frame again and again: each transmission up to
 * EDGE_NS_MAX_NB_TRANS is ACKed by a frame of its own with the next FCntDown, never stored
 * again; the one after is refused and counted. The next FCnt starts a fresh count. */
static void test_retransmissions_bounded(void **state)
{
    struct fixture *f = *state;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES], payload[64];
    size_t payload_len = 0;
    struct lorawan_data_frame frame;
    size_t n = uplink_with(LORAWAN_CONFIRMED_UP, DEV_ADDR, 60, 1, nwk_s_key, app_s_key, phy);
    expect_uplink(f->ns, phy, n, 60);
    assert_false(v.retransmission);
    assert_true(v.journal);
    assert_int_equal(answer(f, &frame, payload, &payload_len), 1);
    assert_true(frame.fctrl & LORAWAN_FCTRL_ACK);
    assert_int_equal(frame.fcnt16, 0);
    for (uint32_t i = 1; i < EDGE_NS_MAX_NB_TRANS; i++) {
        expect_uplink(f->ns, phy, n, 60);
        assert_true(v.retransmission);
        assert_false(v.journal);
        assert_memory_equal(v.payload, plain, sizeof(plain));
        assert_int_equal(answer(f, &frame, payload, &payload_len), 1);
        assert_int_equal(frame.mtype, LORAWAN_UNCONFIRMED_DOWN);
        assert_true(frame.fctrl & LORAWAN_FCTRL_ACK);
        assert_false(frame.has_fport);
        assert_int_equal(frame.fcnt16, i); /* a new frame counter for every answer */
    }
    expect_drop(f->ns, phy, n, EDGE_NS_DROP_RETRANSMISSION_LIMIT);
    expect_drop(f->ns, phy, n, EDGE_NS_DROP_RETRANSMISSION_LIMIT);
    struct edge_ns_stats s;
    edge_ns_get_stats(f->ns, &s);
    assert_int_equal(s.retransmissions, EDGE_NS_MAX_NB_TRANS - 1);
    assert_int_equal(s.dropped[EDGE_NS_DROP_RETRANSMISSION_LIMIT], 2);
    assert_int_equal(s.downlinks, EDGE_NS_MAX_NB_TRANS);
    assert_int_equal(s.uplinks, EDGE_NS_MAX_NB_TRANS);

    /* an unconfirmed frame with the last FCnt is a replay, not a retransmission */
    n = uplink(61, phy);
    expect_uplink(f->ns, phy, n, 61);
    expect_drop(f->ns, phy, n, EDGE_NS_DROP_REPLAY);
    /* the next confirmed FCnt is answered again, and may be sent again */
    n = uplink_with(LORAWAN_CONFIRMED_UP, DEV_ADDR, 62, 1, nwk_s_key, app_s_key, phy);
    expect_uplink(f->ns, phy, n, 62);
    assert_int_equal(answer(f, &frame, payload, &payload_len), 1);
    assert_int_equal(frame.fcnt16, EDGE_NS_MAX_NB_TRANS);
    expect_uplink(f->ns, phy, n, 62);
    assert_true(v.retransmission);
    assert_int_equal(answer(f, &frame, payload, &payload_len), 1);
    assert_int_equal(frame.fcnt16, EDGE_NS_MAX_NB_TRANS + 1);
}

/* A retransmission gets the queued downlink its FCnt's first answer carried (the device
 * missed it), in a new frame; it never takes another entry, however often it comes. */
static void test_retransmission_and_queue(void **state)
{
    struct fixture *f = *state;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES], payload[64];
    size_t payload_len = 0;
    struct lorawan_data_frame frame;
    static const uint8_t first[] = {0x01, 0x02}, second[] = {0x03}, third[] = {0x04, 0x05};
    int64_t id;
    assert_int_equal(registry_queue_downlink(f->r, DEV_EUI, 5, first, sizeof(first), true, &id), 0);
    assert_int_equal(registry_queue_downlink(f->r, DEV_EUI, 6, second, sizeof(second), false, &id),
                     0);
    size_t n = uplink_with(LORAWAN_CONFIRMED_UP, DEV_ADDR, 70, 1, nwk_s_key, app_s_key, phy);
    expect_uplink(f->ns, phy, n, 70);
    assert_int_equal(answer(f, &frame, payload, &payload_len), 1);
    assert_int_equal(frame.mtype, LORAWAN_CONFIRMED_DOWN);
    assert_true(frame.fctrl & LORAWAN_FCTRL_ACK);
    assert_true(frame.fctrl & LORAWAN_FCTRL_FPENDING); /* `second` waits */
    assert_int_equal(frame.fport, 5);
    assert_int_equal(payload_len, sizeof(first));
    assert_memory_equal(payload, first, sizeof(first));
    assert_int_equal(frame.fcnt16, 0);
    assert_int_equal(queued_count(f), 1);
    for (uint32_t i = 1; i <= 3; i++) {
        expect_uplink(f->ns, phy, n, 70);
        assert_true(v.retransmission);
        assert_int_equal(answer(f, &frame, payload, &payload_len), 1);
        assert_int_equal(frame.mtype, LORAWAN_CONFIRMED_DOWN);
        assert_true(frame.fctrl & LORAWAN_FCTRL_ACK);
        assert_true(frame.fctrl & LORAWAN_FCTRL_FPENDING);
        assert_int_equal(frame.fport, 5);
        assert_int_equal(payload_len, sizeof(first)); /* decrypted with its own FCntDown */
        assert_memory_equal(payload, first, sizeof(first));
        assert_int_equal(frame.fcnt16, i);
        assert_int_equal(queued_count(f), 1); /* `second` still waits */
    }
    struct edge_ns_stats s;
    edge_ns_get_stats(f->ns, &s);
    assert_int_equal(s.queued_sent, 1);
    assert_int_equal(s.queued_resent, 3);

    /* the next FCnt takes the next entry */
    n = uplink(71, phy);
    expect_uplink(f->ns, phy, n, 71);
    assert_int_equal(answer(f, &frame, payload, &payload_len), 1);
    assert_int_equal(frame.fport, 6);
    assert_false(frame.fctrl & (LORAWAN_FCTRL_ACK | LORAWAN_FCTRL_FPENDING));
    assert_memory_equal(payload, second, sizeof(second));
    assert_int_equal(queued_count(f), 0);

    /* a bare ACK first; what is queued after it waits for a new FCnt */
    n = uplink_with(LORAWAN_CONFIRMED_UP, DEV_ADDR, 72, 1, nwk_s_key, app_s_key, phy);
    expect_uplink(f->ns, phy, n, 72);
    assert_int_equal(answer(f, &frame, payload, &payload_len), 1);
    assert_false(frame.has_fport);
    assert_int_equal(registry_queue_downlink(f->r, DEV_EUI, 7, third, sizeof(third), false, &id),
                     0);
    expect_uplink(f->ns, phy, n, 72);
    assert_true(v.retransmission);
    assert_int_equal(answer(f, &frame, payload, &payload_len), 1);
    assert_false(frame.has_fport);
    assert_true(frame.fctrl & LORAWAN_FCTRL_ACK);
    assert_true(frame.fctrl & LORAWAN_FCTRL_FPENDING); /* `third` waits: send a new uplink */
    assert_int_equal(queued_count(f), 1);
    n = uplink(73, phy);
    expect_uplink(f->ns, phy, n, 73);
    assert_int_equal(answer(f, &frame, payload, &payload_len), 1);
    assert_int_equal(frame.fport, 7);
    assert_memory_equal(payload, third, sizeof(third));
    assert_int_equal(queued_count(f), 0);
    edge_ns_get_stats(f->ns, &s);
    assert_int_equal(s.queued_sent, 3);
    assert_int_equal(s.queued_resent, 3);
    struct registry_device d;
    bool found;
    assert_int_equal(registry_get(f->r, DEV_EUI, &d, &found), 0);
    assert_int_equal(d.fcnt_down, 8); /* one per answer, none used twice */
}

static size_t join_request(uint64_t dev_eui, uint16_t nonce, const uint8_t key[16], uint8_t *out)
{
    struct lorawan_join_request req = {
        .join_eui = JOIN_EUI, .dev_eui = dev_eui, .dev_nonce = nonce};
    size_t n = lorawan_build_join_request(&req, key, out, LORAWAN_PHY_MAX_BYTES);
    assert_int_equal(n, LORAWAN_JOIN_REQUEST_BYTES);
    return n;
}

/* A confirmed uplink with the last FCnt is a retransmission only within the rules: the
 * same bytes, within the window, while its first transmission is known. Beyond them it is
 * a replay: dropped, and it makes no downlink (nothing taken from the queue, no FCntDown). */
static void test_replayed_confirmed_refused(void **state)
{
    struct fixture *f = *state;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES], other[LORAWAN_PHY_MAX_BYTES], payload[64];
    size_t payload_len = 0;
    struct lorawan_data_frame frame;
    static const uint8_t queued[] = {0x0a, 0x07};
    int64_t id = 0;
    assert_int_equal(registry_queue_downlink(f->r, DEV_EUI, 5, queued, sizeof(queued), false, &id),
                     0);
    assert_int_equal(registry_queue_downlink(f->r, DEV_EUI, 5, queued, sizeof(queued), false, &id),
                     0);
    size_t n = uplink_with(LORAWAN_CONFIRMED_UP, DEV_ADDR, 70, 1, nwk_s_key, app_s_key, phy);
    expect_uplink(f->ns, phy, n, 70);
    assert_int_equal(answer(f, &frame, payload, &payload_len), 1); /* takes the first entry */

    /* the same FCnt, other bytes (a valid MIC: only a key holder makes one) */
    memcpy(other, phy, n);
    size_t m = lorawan_build_data(LORAWAN_CONFIRMED_UP, DEV_ADDR, 0, 70, NULL, 0, true, 2, plain,
                                  sizeof(plain), nwk_s_key, app_s_key, other, sizeof(other));
    expect_drop(f->ns, other, m, EDGE_NS_DROP_RETRANSMISSION_DIFFERS);

    /* after a restart the first transmission is not known */
    edge_ns_close(f->ns);
    open_ns(f);
    expect_drop(f->ns, phy, n, EDGE_NS_DROP_RETRANSMISSION_UNKNOWN);

    /* past the window (1 ms here) */
    edge_ns_close(f->ns);
    char err[256];
    struct edge_ns_options o = {.registry_path = f->path,
                                .net_id = 0x13,
                                .busy_timeout_ms = 1000,
                                .retransmission_window_ms = 1};
    assert_int_equal(edge_ns_open(&f->ns, &o, err, sizeof(err)), 0);
    n = uplink_with(LORAWAN_CONFIRMED_UP, DEV_ADDR, 71, 1, nwk_s_key, app_s_key, phy);
    expect_uplink(f->ns, phy, n, 71);
    assert_int_equal(answer(f, &frame, payload, &payload_len), 1); /* the second entry */
    struct timespec wait = {.tv_nsec = 20 * 1000 * 1000};
    nanosleep(&wait, NULL);
    expect_drop(f->ns, phy, n, EDGE_NS_DROP_RETRANSMISSION_LATE);

    struct edge_ns_stats s;
    edge_ns_get_stats(f->ns, &s);
    assert_int_equal(s.dropped[EDGE_NS_DROP_RETRANSMISSION_LATE], 1);
    /* nothing made for the replays: two answers, two FCntDown, the queue empty */
    struct registry_device d;
    bool found = false;
    assert_int_equal(registry_get(f->r, DEV_EUI, &d, &found), 0);
    assert_true(found);
    assert_int_equal(d.fcnt_down, 2);
    int64_t left = -1;
    assert_int_equal(registry_count_downlinks(f->r, DEV_EUI, &left), 0);
    assert_int_equal(left, 0);
}

static void test_otaa_join(void **state)
{
    struct fixture *f = *state;
    uint8_t phy[LORAWAN_PHY_MAX_BYTES];
    size_t n = join_request(0x70b3d57ed0000002ULL, 0x0102, app_key, phy);
    edge_ns_handle(f->ns, phy, n, &v);
    assert_int_equal(v.kind, EDGE_NS_JOIN_ACCEPT);
    assert_string_equal(v.dev_eui, OTAA_EUI);
    struct lorawan_join_accept accept;
    assert_int_equal(lorawan_open_join_accept(v.join_accept, v.join_accept_len, app_key, &accept),
                     LORAWAN_OK);
    assert_int_equal(accept.net_id, 0x13);
    assert_int_equal(accept.dev_addr >> 25, 0x13); /* NwkID: the NetID's low 6 bits */
    assert_int_equal(accept.dev_addr, v.dev_addr);
    assert_int_equal(accept.app_nonce, 1);
    uint8_t nwk[16], app[16];
    assert_true(
        lorawan_derive_session_keys(app_key, accept.app_nonce, accept.net_id, 0x0102, nwk, app));

    /* the same Join-Request again: its DevNonce is spent */
    expect_drop(f->ns, phy, n, EDGE_NS_DROP_DEV_NONCE);
    /* tampered, unknown device, ABP device, another JoinEUI */
    uint8_t bad[LORAWAN_PHY_MAX_BYTES];
    n = join_request(0x70b3d57ed0000002ULL, 0x0103, nwk_s_key, bad);
    expect_drop(f->ns, bad, n, EDGE_NS_DROP_BAD_MIC);
    n = join_request(0x70b3d57ed00000ffULL, 0x0103, app_key, bad);
    expect_drop(f->ns, bad, n, EDGE_NS_DROP_UNKNOWN_DEV_EUI);
    n = join_request(0x70b3d57ed0000001ULL, 0x0103, app_key, bad);
    expect_drop(f->ns, bad, n, EDGE_NS_DROP_UNKNOWN_DEV_EUI);
    struct lorawan_join_request other = {.join_eui = 1, .dev_eui = 0x70b3d57ed0000002ULL};
    n = lorawan_build_join_request(&other, app_key, bad, sizeof(bad));
    expect_drop(f->ns, bad, n, EDGE_NS_DROP_JOIN_EUI);
    for (size_t len = 0; len < LORAWAN_JOIN_REQUEST_BYTES; len++)
        expect_drop(f->ns, phy, len, EDGE_NS_DROP_MALFORMED);

    /* the joined session's uplinks count from 0 with the derived keys */
    uint8_t up[LORAWAN_PHY_MAX_BYTES];
    n = uplink_with(LORAWAN_UNCONFIRMED_UP, accept.dev_addr, 0, 1, nwk, app, up);
    expect_uplink(f->ns, up, n, 0);
    assert_string_equal(v.dev_eui, OTAA_EUI);
    assert_memory_equal(v.payload, plain, sizeof(plain));
    n = uplink_with(LORAWAN_UNCONFIRMED_UP, accept.dev_addr, 1, 1, nwk, app, up);
    expect_uplink(f->ns, up, n, 1);

    /* a second join: new AppNonce, new session, counters from 0 again */
    n = join_request(0x70b3d57ed0000002ULL, 0x0104, app_key, phy);
    edge_ns_handle(f->ns, phy, n, &v);
    assert_int_equal(v.kind, EDGE_NS_JOIN_ACCEPT);
    struct lorawan_join_accept again;
    assert_int_equal(lorawan_open_join_accept(v.join_accept, v.join_accept_len, app_key, &again),
                     LORAWAN_OK);
    assert_int_equal(again.app_nonce, 2);
    assert_true(
        lorawan_derive_session_keys(app_key, again.app_nonce, again.net_id, 0x0104, nwk, app));
    n = uplink_with(LORAWAN_UNCONFIRMED_UP, again.dev_addr, 0, 1, nwk, app, up);
    expect_uplink(f->ns, up, n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_abp_uplink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_old_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fcnt_rollover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_recovers_from_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abandon, setup, teardown),
        cmocka_unit_test_setup_teardown(test_confirmed_and_queued_downlinks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retransmissions_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retransmission_and_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replayed_confirmed_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_otaa_join, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
