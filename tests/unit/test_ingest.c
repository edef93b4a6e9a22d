/*
 * test_ingest.c - ingest/ingest.c, the ingest core, against a real journal writer on a
 * temporary SQLite file (no part of the store is mocked). What it proves, by test:
 *   classify          the verdict and the record's has_uplink/seq/status for a good frame, a
 *                     malformed one and one refused by its transport
 *   mailbox           durable before answered: when the answer function runs, the frame is
 *                     already on disk (read back over a second connection), in the pending
 *                     queue or, malformed, in quarantine with the decoder's reason; each
 *                     completion wakes the fd and is answered exactly once
 *   resend            a frame sent again (in the same batch or a later one) is answered
 *                     "stored" and stored once
 *   deferred/drain    the answer may come after the answer function (CoAP); the drain on stop
 *                     waits for every submission the writer holds, also a lingering batch
 *   refusals          queue full and journal full come back at submit with their reason,
 *                     leave nothing outstanding or stored (the writer counts reject_new), and
 *                     the ticket can be submitted again
 *   commit failed     a commit that fails (another connection holds the write lock) is
 *                     answered "not stored", once, and nothing of it is on disk
 *   blocking          the LNS adapter's mode: submit, wait, stored once for a resend
 * Frames are built with protobuf-c's generated packer. Every wait is bounded in turns.
 */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ingest/ingest.h"
#include "sensorbro/v1/telemetry.pb-c.h"
#include "store/journal.h"
#include "util/clock.h"

#define FRAMES       40
#define POLL_TURNS   2000 /* each at most POLL_WAIT_MS: a bound, not a timing assertion */
#define POLL_WAIT_MS 50
#define READ_MAX     64 /* rows read back at once: more than any test stores */

struct fixture {
    char dir[64];
    char path[96];
};

/* What the answer function saw: one slot per frame, counted per ticket. */
struct adapter {
    struct ingest *in;
    bool defer;             /* answer later, outside the answer function (as CoAP does) */
    struct journal *reader; /* when set: check on disk that a stored frame is there */
    size_t answers;
    size_t not_durable; /* answered "stored" but not found on disk */
    unsigned answered[FRAMES];
    struct ingest_ticket *deferred[FRAMES];
    size_t n_deferred;
};

struct slot {
    struct ingest_ticket ticket;
    int index;
    char device[FRAME_DEVICE_ID_SIZE];
};

/* Rows read back from the journal, over a connection of the test's own. */
static struct journal_frame pending_rows[READ_MAX];
static struct journal_quarantine_entry quarantine_rows[READ_MAX];

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_ingest.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/j.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static struct journal_writer_options options(const struct fixture *f)
{
    struct journal_writer_options o = {
        .path = f->path,
        .journal = {.synchronous = JOURNAL_SYNC_NORMAL, .busy_timeout_ms = 2000},
        .batch_max_rows = 16,
        .batch_max_ms = 2,
        .queue_frames = 256,
        .retention_ms = 3600 * 1000,
    };
    return o;
}

static struct journal_writer *start_writer(const struct journal_writer_options *o)
{
    struct journal_writer *w;
    char err[256];
    assert_int_equal(journal_writer_start(&w, o, NULL, NULL, err, sizeof(err)), 0);
    return w;
}

/* A second connection to the writer's file (the writer created it). */
static struct journal *open_reader(const struct fixture *f, bool read_only)
{
    struct journal *j;
    char err[256];
    const struct journal_options o = {
        .read_only = read_only, .synchronous = JOURNAL_SYNC_NORMAL, .busy_timeout_ms = 2000};
    assert_int_equal(journal_open(&j, f->path, &o, err, sizeof(err)), 0);
    return j;
}

/* Pending frames of device on disk. */
static size_t pending_of(struct journal *j, const char *device)
{
    size_t count, n = 0;
    assert_int_equal(journal_read_pending(j, 0, pending_rows, READ_MAX, &count), 0);
    for (size_t i = 0; i < count; i++)
        n += strcmp(pending_rows[i].record.device, device) == 0;
    return n;
}

/* Quarantined frames of device on disk, with this reason. */
static size_t quarantined_of(struct journal *j, const char *device, const char *reason)
{
    size_t count, n = 0;
    assert_int_equal(journal_read_quarantine(j, 0, quarantine_rows, READ_MAX, &count), 0);
    for (size_t i = 0; i < count; i++)
        n += strcmp(quarantine_rows[i].record.device, device) == 0 &&
             strcmp(quarantine_rows[i].reason, reason) == 0;
    return n;
}

static void device_of(int index, char device[FRAME_DEVICE_ID_SIZE])
{
    snprintf(device, FRAME_DEVICE_ID_SIZE, "70b3d57ed00000%02x", (unsigned)index & 0xffu);
}

/* A record from device index holding a valid Uplink with this seq and status (a
 * temperature series). */
static void good_record(struct frame_record *rec, int index, uint32_t seq, uint32_t status)
{
    memset(rec, 0, sizeof(*rec));
    device_of(index, rec->device);
    snprintf(rec->transport, sizeof(rec->transport), "coap");
    snprintf(rec->source, sizeof(rec->source), "test");
    rec->received_ms = clock_wall_ms();
    Sensorbro__V1__Uplink msg = SENSORBRO__V1__UPLINK__INIT;
    int32_t deltas[2] = {215, 1};
    msg.seq = seq;
    msg.status = status;
    msg.interval_s = 60;
    msg.n_temperature = 2;
    msg.temperature = deltas;
    rec->payload_len = sensorbro__v1__uplink__get_packed_size(&msg);
    assert_true(rec->payload_len <= sizeof(rec->payload));
    sensorbro__v1__uplink__pack(&msg, rec->payload);
}

/* Bytes that are no Uplink (a malformed frame), with stale decode findings a reused record
 * could carry. */
static void bad_record(struct frame_record *rec, int index)
{
    good_record(rec, index, 1, 0);
    memset(rec->payload, 0xff, 8);
    rec->payload_len = 8;
    rec->has_uplink = true;
    rec->seq = 99;
    rec->status = 7;
}

/* Classifies and submits the frame of slot s; returns the submit's result. */
static enum ingest_result submit_slot(struct ingest *in, struct slot *s, int index, bool good,
                                      uint32_t seq)
{
    struct frame_record rec;
    if (good)
        good_record(&rec, index, seq, 0);
    else
        bad_record(&rec, index);
    memset(s, 0, sizeof(*s));
    s->index = index;
    device_of(index, s->device);
    ingest_classify(in, &rec, &s->ticket);
    return ingest_submit(in, &s->ticket, &rec, s);
}

static void answer(void *ctx, struct ingest_ticket *t)
{
    struct adapter *a = ctx;
    const struct slot *s = t->ctx;
    a->answers++;
    a->answered[s->index]++;
    /* durable before answered: a frame the core calls stored is on disk already */
    if (a->reader && t->result == INGEST_STORED) {
        size_t found = t->verdict == INGEST_APPEND
                           ? pending_of(a->reader, s->device)
                           : quarantined_of(a->reader, s->device, t->reason);
        a->not_durable += found == 0;
    }
    if (a->defer)
        a->deferred[a->n_deferred++] = t;
    else
        ingest_answered(a->in, t);
}

/* One turn of an adapter's loop: wait on the core's fd, then run the answers. */
static void step(void *ctx, int max_wait_ms)
{
    struct adapter *a = ctx;
    struct pollfd p = {.fd = ingest_fd(a->in), .events = POLLIN};
    if (poll(&p, 1, max_wait_ms) > 0)
        ingest_complete(a->in);
}

/* Runs the adapter's loop until nothing is outstanding, at most POLL_TURNS turns. */
static void run_until_answered(struct adapter *a)
{
    for (int turn = 0; turn < POLL_TURNS && ingest_outstanding(a->in) > 0; turn++)
        step(a, POLL_WAIT_MS);
    assert_int_equal(ingest_outstanding(a->in), 0);
}

static void create_mailbox(struct adapter *a, struct journal_writer *w)
{
    const struct ingest_options o = {
        .writer = w, .mode = INGEST_MAILBOX, .answer = answer, .adapter = a};
    assert_int_equal(ingest_create(&a->in, &o), 0);
}

static void test_classify(void **state)
{
    (void)state;
    struct ingest *in;
    const struct ingest_options o = {.mode = INGEST_BLOCKING};
    assert_int_equal(ingest_create(&in, &o), 0);
    struct frame_record rec;
    struct ingest_ticket t = {0};

    good_record(&rec, 1, 42, UPLINK_STATUS_LOW_BATTERY);
    assert_int_equal(ingest_classify(in, &rec, &t), INGEST_APPEND);
    assert_int_equal(t.verdict, INGEST_APPEND);
    assert_string_equal(t.reason, "");
    assert_true(rec.has_uplink);
    assert_int_equal(rec.seq, 42);
    assert_int_equal(rec.status, UPLINK_STATUS_LOW_BATTERY);

    bad_record(&rec, 1);
    assert_int_equal(ingest_classify(in, &rec, &t), INGEST_QUARANTINE);
    assert_true(strlen(t.reason) > 0);
    assert_false(rec.has_uplink);
    assert_int_equal(rec.seq, 0);
    assert_int_equal(rec.status, 0);

    /* a good frame after a bad one: nothing of the bad one's reason stays */
    good_record(&rec, 1, 43, 0);
    assert_int_equal(ingest_classify(in, &rec, &t), INGEST_APPEND);
    assert_string_equal(t.reason, "");

    /* refused by its transport: quarantined with that reason, cut to fit */
    char longer[INGEST_REASON_SIZE * 2];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    good_record(&rec, 1, 44, 0);
    rec.has_uplink = true;
    ingest_classify_refused(&rec, &t, longer);
    assert_int_equal(t.verdict, INGEST_QUARANTINE);
    assert_int_equal(strlen(t.reason), INGEST_REASON_SIZE - 1);
    assert_false(rec.has_uplink);
    assert_int_equal(rec.seq, 0);
    ingest_free(in);
}

/* Good and malformed frames through the mailbox: every one is on disk (pending or in
 * quarantine with the decoder's reason) when it is answered, is answered exactly once, and
 * wakes the fd. */
static void test_mailbox_durable_before_answered(void **state)
{
    struct fixture *f = *state;
    struct journal_writer_options wo = options(f);
    struct journal_writer *w = start_writer(&wo);
    struct adapter a = {.reader = open_reader(f, true)};
    create_mailbox(&a, w);

    static struct slot slots[FRAMES];
    size_t bad = 0;
    for (int i = 0; i < FRAMES; i++) {
        bool good = i % 4 != 3;
        bad += !good;
        assert_int_equal(submit_slot(a.in, &slots[i], i, good, (uint32_t)i + 1), INGEST_PENDING);
        assert_int_equal(slots[i].ticket.verdict, good ? INGEST_APPEND : INGEST_QUARANTINE);
    }
    run_until_answered(&a);
    assert_int_equal(a.answers, FRAMES);
    assert_int_equal(a.not_durable, 0);
    for (int i = 0; i < FRAMES; i++) {
        assert_int_equal(a.answered[i], 1);
        assert_int_equal(slots[i].ticket.result, INGEST_STORED);
        assert_int_equal(slots[i].ticket.state, INGEST_TICKET_IDLE);
    }
    /* nothing is answered again: the fd has nothing more */
    assert_int_equal(ingest_complete(a.in), 0);
    ingest_free(a.in);

    /* each frame in the table its verdict names, once, and in no other */
    for (int i = 0; i < FRAMES; i++) {
        bool good = slots[i].ticket.verdict == INGEST_APPEND;
        assert_int_equal(pending_of(a.reader, slots[i].device), good ? 1 : 0);
        if (!good)
            assert_int_equal(quarantined_of(a.reader, slots[i].device, slots[i].ticket.reason), 1);
    }
    struct journal_stats js;
    assert_int_equal(journal_stats(a.reader, &js), 0);
    assert_int_equal(js.pending_frames, FRAMES - bad);
    assert_int_equal(js.quarantined_frames, bad);
    journal_close(a.reader);

    struct journal_writer_stats st;
    journal_writer_get_stats(w, &st);
    journal_writer_stop(w);
    assert_int_equal(st.frames_committed, FRAMES - bad);
    assert_int_equal(st.quarantined, bad);
}

/* A sensor sending a frame again (its 2.04 lost): in the same batch and in a later one,
 * each copy is answered "stored", and the frame is stored once. */
static void test_resend_stored_once(void **state)
{
    struct fixture *f = *state;
    struct journal_writer_options wo = options(f);
    wo.journal.resend_window_ms = 3600 * 1000;
    /* a batch is two copies and a sync barrier: the writer lingers for nothing else */
    wo.batch_max_rows = 3;
    wo.batch_max_ms = 60000;
    struct journal_writer *w = start_writer(&wo);
    struct adapter a = {.reader = open_reader(f, true)};
    create_mailbox(&a, w);

    struct frame_record rec;
    good_record(&rec, 7, 5, 0);
    static struct slot copies[4];
    for (int i = 0; i < 4; i++) {
        copies[i].index = i;
        device_of(7, copies[i].device);
        ingest_classify(a.in, &rec, &copies[i].ticket);
        assert_int_equal(ingest_submit(a.in, &copies[i].ticket, &rec, &copies[i]), INGEST_PENDING);
        if (i % 2 == 1)
            assert_int_equal(journal_writer_sync(w), 0); /* copies 0 and 1, then 2 and 3 */
    }
    run_until_answered(&a);
    assert_int_equal(a.not_durable, 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(a.answered[i], 1);
        assert_int_equal(copies[i].ticket.result, INGEST_STORED);
    }
    assert_int_equal(pending_of(a.reader, copies[0].device), 1);
    struct journal_writer_stats st;
    journal_writer_get_stats(w, &st);
    assert_int_equal(st.frames_committed, 1);
    assert_int_equal(st.resends, 3);
    assert_int_equal(st.transactions, 2);
    ingest_free(a.in);
    journal_close(a.reader);
    journal_writer_stop(w);
}

/* The answer may come after the answer function (CoAP answers in libcoap's next call of its
 * handler): until then the submission is outstanding, and the drain waits for it. */
static void test_deferred_answer_and_drain(void **state)
{
    struct fixture *f = *state;
    struct journal_writer_options wo = options(f);
    struct journal_writer *w = start_writer(&wo);
    struct adapter a = {.defer = true};
    create_mailbox(&a, w);

    static struct slot slots[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(submit_slot(a.in, &slots[i], i, true, (uint32_t)i + 1), INGEST_PENDING);
    assert_int_equal(journal_writer_sync(w), 0); /* all three completed */
    for (int turn = 0; turn < POLL_TURNS && a.answers < 3; turn++)
        step(&a, POLL_WAIT_MS);
    assert_int_equal(a.answers, 3);
    assert_int_equal(ingest_outstanding(a.in), 3); /* completed, not yet answered */
    for (size_t i = 0; i < a.n_deferred; i++)
        assert_int_equal(a.deferred[i]->state, INGEST_TICKET_ANSWERING);

    ingest_answered(a.in, a.deferred[0]);
    assert_int_equal(ingest_outstanding(a.in), 2);
    ingest_answered(a.in, a.deferred[1]);
    ingest_answered(a.in, a.deferred[2]);
    ingest_drain(a.in, step, &a); /* returns at once: nothing outstanding */
    assert_int_equal(ingest_outstanding(a.in), 0);
    assert_int_equal(a.answers, 3);
    ingest_free(a.in);
    journal_writer_stop(w);
}

/* The drain on stop: frames still in the writer's hands (a batch lingering for more) are
 * all answered, once each, before the drain returns, and they are on disk. */
static void test_drain_on_stop(void **state)
{
    struct fixture *f = *state;
    struct journal_writer_options wo = options(f);
    wo.batch_max_rows = 64;
    wo.batch_max_ms = 200; /* the drain starts while the batch still waits for more */
    struct journal_writer *w = start_writer(&wo);
    struct adapter a = {.reader = open_reader(f, true)};
    create_mailbox(&a, w);

    static struct slot slots[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(submit_slot(a.in, &slots[i], i, i != 5, (uint32_t)i + 1), INGEST_PENDING);
    ingest_drain(a.in, step, &a);
    assert_int_equal(ingest_outstanding(a.in), 0);
    assert_int_equal(a.answers, 8);
    assert_int_equal(a.not_durable, 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(a.answered[i], 1);
        assert_int_equal(slots[i].ticket.result, INGEST_STORED);
    }
    ingest_free(a.in); /* asserts nothing is outstanding or waiting */
    journal_close(a.reader);
    journal_writer_stop(w);
}

/* The writer's queue full: refused at once with that reason, nothing outstanding or stored
 * of it, the ticket ready again. As in test_journal_writer's test_queue_full, the writer
 * lingers long for a second row, and the sync barrier fills the batch. */
static void test_refused_queue_full(void **state)
{
    struct fixture *f = *state;
    struct journal_writer_options wo = options(f);
    wo.queue_frames = 1;
    wo.batch_max_rows = 2;
    wo.batch_max_ms = 60000;
    struct journal_writer *w = start_writer(&wo);
    struct adapter a = {0};
    create_mailbox(&a, w);

    static struct slot first, second;
    assert_int_equal(submit_slot(a.in, &first, 0, true, 1), INGEST_PENDING);
    assert_int_equal(submit_slot(a.in, &second, 1, true, 1), INGEST_QUEUE_FULL);
    assert_int_equal(second.ticket.state, INGEST_TICKET_IDLE);
    assert_int_equal(ingest_outstanding(a.in), 1);

    assert_int_equal(journal_writer_sync(w), 0);
    ingest_drain(a.in, step, &a);
    assert_int_equal(a.answered[0], 1);
    assert_int_equal(a.answered[1], 0); /* a refusal is answered by the adapter, at once */
    struct journal *j = open_reader(f, true);
    assert_int_equal(pending_of(j, second.device), 0);

    /* the refused ticket can be submitted again */
    assert_int_equal(submit_slot(a.in, &second, 1, true, 1), INGEST_PENDING);
    assert_int_equal(journal_writer_sync(w), 0);
    ingest_drain(a.in, step, &a);
    assert_int_equal(a.answered[1], 1);
    assert_int_equal(pending_of(j, second.device), 1);
    journal_close(j);
    ingest_free(a.in);
    journal_writer_stop(w);
}

/* The journal at its cap under reject_new: the next frame is refused as journal full, the
 * writer counts the refusal, and nothing of it is stored. The writer checks the space after
 * a commit and before its completions, so once the first frame is answered the cap is known. */
static void test_refused_journal_full(void **state)
{
    struct fixture *f = *state;
    struct journal_writer_options wo = options(f);
    wo.max_bytes = 1; /* any journal is over it */
    wo.full_policy = JOURNAL_REJECT_NEW;
    struct journal_writer *w = start_writer(&wo);
    struct adapter a = {0};
    create_mailbox(&a, w);

    static struct slot first, second, third;
    assert_int_equal(submit_slot(a.in, &first, 0, true, 1), INGEST_PENDING);
    ingest_drain(a.in, step, &a);
    assert_int_equal(first.ticket.result, INGEST_STORED);

    assert_int_equal(submit_slot(a.in, &second, 1, true, 2), INGEST_JOURNAL_FULL);
    assert_int_equal(submit_slot(a.in, &third, 2, false, 0), INGEST_JOURNAL_FULL);
    assert_int_equal(ingest_outstanding(a.in), 0);
    assert_int_equal(a.answers, 1);

    struct journal_writer_stats st;
    journal_writer_get_stats(w, &st);
    assert_int_equal(st.rejected_full, 2);
    assert_true(st.full);
    struct journal *j = open_reader(f, true);
    struct journal_stats js;
    assert_int_equal(journal_stats(j, &js), 0);
    assert_int_equal(js.pending_frames, 1);
    assert_int_equal(js.quarantined_frames, 0);
    journal_close(j);
    ingest_free(a.in);
    journal_writer_stop(w);
}

/* A commit that fails (another connection holds SQLite's write lock past the writer's busy
 * timeout): every frame of the batch is answered "not stored", once, and none is on disk;
 * once the lock is gone the same frames are stored. */
static void test_commit_failed_not_stored(void **state)
{
    struct fixture *f = *state;
    struct journal_writer_options wo = options(f);
    wo.journal.busy_timeout_ms = 20;
    struct journal_writer *w = start_writer(&wo);
    struct adapter a = {0};
    create_mailbox(&a, w);

    struct journal *blocker = open_reader(f, false);
    assert_int_equal(journal_begin(blocker), 0); /* BEGIN IMMEDIATE: the write lock */
    static struct slot slots[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(submit_slot(a.in, &slots[i], i, i != 2, (uint32_t)i + 1), INGEST_PENDING);
    run_until_answered(&a);
    journal_rollback(blocker);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(a.answered[i], 1);
        assert_int_equal(slots[i].ticket.result, INGEST_NOT_STORED);
    }
    struct journal_stats js;
    assert_int_equal(journal_stats(blocker, &js), 0);
    assert_int_equal(js.pending_frames, 0);
    assert_int_equal(js.quarantined_frames, 0);
    struct journal_writer_stats st;
    journal_writer_get_stats(w, &st);
    assert_true(st.commit_failures >= 1);

    /* the senders retry: stored now */
    for (int i = 0; i < 4; i++)
        assert_int_equal(submit_slot(a.in, &slots[i], i, i != 2, (uint32_t)i + 1), INGEST_PENDING);
    run_until_answered(&a);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(a.answered[i], 2);
        assert_int_equal(slots[i].ticket.result, INGEST_STORED);
    }
    assert_int_equal(journal_stats(blocker, &js), 0);
    assert_int_equal(js.pending_frames, 3);
    assert_int_equal(js.quarantined_frames, 1);
    journal_close(blocker);
    ingest_free(a.in);
    journal_writer_stop(w);
}

/* The LNS adapter's way: submit, then block until the commit; when ingest_wait returns
 * "stored" the frame is on disk, and a resend is stored once and answered as stored. */
static void test_blocking_and_resend(void **state)
{
    struct fixture *f = *state;
    struct journal_writer_options wo = options(f);
    wo.journal.resend_window_ms = 3600 * 1000;
    struct journal_writer *w = start_writer(&wo);
    struct ingest *in;
    const struct ingest_options o = {.writer = w, .mode = INGEST_BLOCKING};
    assert_int_equal(ingest_create(&in, &o), 0);
    struct journal *j = open_reader(f, true);

    struct frame_record rec;
    good_record(&rec, 3, 5, 0);
    struct ingest_ticket t = {0};
    for (int copy = 0; copy < 2; copy++) {
        ingest_classify(in, &rec, &t);
        assert_int_equal(ingest_submit(in, &t, &rec, NULL), INGEST_PENDING);
        assert_int_equal(ingest_wait(in, &t), INGEST_STORED);
        assert_int_equal(t.state, INGEST_TICKET_IDLE);
        assert_int_equal(ingest_outstanding(in), 0);
        assert_int_equal(pending_of(j, rec.device), 1);
    }
    /* a frame its transport refused goes to quarantine with the transport's reason */
    good_record(&rec, 4, 6, 0);
    ingest_classify_refused(&rec, &t, "event: no devEui");
    assert_int_equal(ingest_submit(in, &t, &rec, NULL), INGEST_PENDING);
    assert_int_equal(ingest_wait(in, &t), INGEST_STORED);
    assert_int_equal(quarantined_of(j, rec.device, "event: no devEui"), 1);
    assert_int_equal(pending_of(j, rec.device), 0);

    struct journal_writer_stats st;
    journal_writer_get_stats(w, &st);
    assert_int_equal(st.frames_committed, 1);
    assert_int_equal(st.resends, 1);
    assert_int_equal(st.quarantined, 1);
    journal_close(j);
    ingest_free(in);
    journal_writer_stop(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify),
        cmocka_unit_test_setup_teardown(test_mailbox_durable_before_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resend_stored_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_answer_and_drain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain_on_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_queue_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_journal_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_failed_not_stored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blocking_and_resend, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
