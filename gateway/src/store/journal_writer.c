/*
 * journal_writer.c - group commit.
 *
 * Two rings feed the thread. The frame ring holds whole frame records (appends, quarantines,
 * moves and sync barriers) and is bounded by queue_frames: when it is full, ingest gets
 * back-pressure. The mark ring holds PUBACK marks, which are tiny and must not wait behind
 * frames, so they have their own larger ring. A batch takes the frames waiting (up to
 * batch_max_rows) and all marks waiting, and commits them in one transaction.
 *
 * Slots of the frame ring are processed in place: the writer only advances the ring's tail
 * after the batch is done, and submitters only write slots past the head, so no copy of a
 * 1 KiB record is made on the way to SQLite.
 *
 * The rings' rules are written down once, in writer_ok and writer_frames_ok, and asserted
 * (debug builds) at every change of a ring, under the lock.
 *
 * Outputs' progress (journal_writer.h). A mark names an output, a device and a frame. The
 * writer applies marks to its map of progress (one node per device, a position per output,
 * under the lock) as it takes them from the ring, in the order they were queued, and
 * decides there whether the frame is now delivered to every output: then the batch sets
 * its published_ms, by id. A frame is published by the mark of the last output to pass it,
 * so each frame is updated once, by its primary key, and no range of frames is ever
 * updated: with one output that is exactly the UPDATE of one PUBACK it always was, and a
 * frame an output skipped (refused, being moved to quarantine) is never swept along. A
 * frame whose publishing was lost on the way (a full mark ring, a failed commit, the
 * removal of the output that held it) is found by the outputs as JOURNAL_DELIVERED_ALL
 * when they read it again, and marked again. With more than one output the positions
 * changed in a batch are upserted into output_progress in its transaction; with one, the
 * map holds only what a journal kept from a time with more (read at start, then deleted).
 */
#include "store/journal_writer.h"

#include <assert.h>
#include <inttypes.h>
#include <stddef.h>
#include <pthread.h>
#include <search.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "report.h"
#include "util/clock.h"
#include "util/log.h"

#define MARK_RING_SIZE            16384
#define TRIM_PERIOD_MS            60000
#define TRIM_ROWS_PER_TRANSACTION 2000
/* Frames deleted per transaction when over the cap: small enough to keep commits short. */
#define SPACE_ROWS_PER_TRANSACTION 500
/* Space is checked after a commit at most this often (a pragma or three and a statvfs),
 * and after every commit while the journal is full. */
#define SPACE_CHECK_PERIOD_MS 50
/* Below the free-disk floor, free pages kept inside the database file for the frames that
 * arrive until the next check (at most a quarter of the file). */
#define FLOOR_RESERVE_BYTES (256 * 1024)
/* A burst of drops or of failed commits ends after this long without one; its total is
 * logged then. */
#define BURST_QUIET_MS 10000

enum op_kind { OP_APPEND, OP_QUARANTINE, OP_MOVE_TO_QUARANTINE, OP_SYNC };

struct op {
    enum op_kind kind;
    journal_done_fn done;
    void *ctx;
    int64_t enqueued_mono_ms;
    int64_t frame_id;  /* OP_MOVE_TO_QUARANTINE */
    int64_t result_id; /* set by the commit: the new row's id */
    bool resend;       /* set by the commit: an OP_APPEND that repeated a stored frame */
    char reason[JOURNAL_REASON_SIZE];
    struct frame_record rec;
};

struct mark {
    int64_t frame_id;
    int64_t delivered_ms;
    unsigned output;
    bool publish; /* set when taken: every output has delivered the frame now */
    char device[FRAME_DEVICE_ID_SIZE];
};

/* One device's position per output: its frames with id <= delivered[k] are delivered to
 * output k (0: none beyond those already published). A node of the writer's map. */
struct progress {
    char device[FRAME_DEVICE_ID_SIZE];
    int64_t delivered[JOURNAL_WRITER_MAX_OUTPUTS];
    uint32_t dirty;        /* outputs whose position output_progress does not hold yet */
    uint64_t listed_batch; /* the batch whose list of changed nodes holds it */
};

struct journal_writer {
    struct journal_writer_options opts;
    struct journal *journal;
    journal_committed_fn on_committed;
    void *committed_ctx;

    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work; /* signalled when work arrives or on stop */
    bool stopping;
    /* The writer lingers for a fuller batch: work submitted then only wakes it when the
     * batch is full. Waking it for every frame only to see that it may sleep on was a
     * futex hand-off per frame under load (issue 13's profile). */
    bool lingering;

    struct op *ops;      /* frame ring */
    size_t ops_capacity; /* queue_frames + room for barriers */
    size_t ops_head;     /* next slot to fill */
    size_t ops_tail;     /* oldest unprocessed slot */
    size_t ops_count;
    size_t frames_queued; /* OP_APPEND and OP_QUARANTINE in the ring: bounded by queue_frames */

    struct mark *marks;
    size_t marks_head, marks_tail, marks_count;

    /* the outputs (opts.outputs copied) and their progress: the map's nodes are written by
     * the writer thread under lock, and read by outputs under lock */
    char output_names[JOURNAL_WRITER_MAX_OUTPUTS][JOURNAL_OUTPUT_NAME_SIZE];
    unsigned n_outputs;
    void *progress_root; /* tsearch tree of struct progress, by device */
    size_t n_progress;
    /* set at start, never after: with one output no node is ever added, so a map empty at
     * start stays empty and a lookup needs no lock */
    bool progress_empty;
    uint64_t batch; /* numbers the batches, for progress.listed_batch */
    /* the nodes whose positions changed in the batch being committed (writer thread) */
    struct progress **changed;
    size_t n_changed;

    struct journal_writer_stats stats;
    int64_t next_trim_mono_ms;
    /* the current burst of failed commits (a full disk fails some and not others while
     * space comes and goes): logged at its start and, with its count, at its end */
    uint64_t burst_failures;
    int64_t burst_failure_mono_ms;
    bool committed_since_failure;
    bool full;     /* reject_new: refusing frames (read by submitters under lock) */
    char dir[512]; /* the journal's directory, for the filesystem's free space */
    int64_t next_space_check_mono_ms;
    /* the current burst of drops: logged at its start and, with its total, at its end */
    uint64_t burst_dropped;
    int64_t burst_last_mono_ms;
    /* the daemon's counters for the status table: the latest handed in (under lock) and
     * the copy being written (writer thread only) */
    struct metrics *status_queued;
    struct metrics *status_writing;
    bool status_pending;
    bool status_failing; /* the last save failed: said once, not every time */
};

#ifndef NDEBUG
/* Under w->lock: the rings are consistent.
 *   - Each ring's live slots run from its tail, count of them, to its head (a full ring has
 *     head == tail, so the count is what tells full from empty).
 *   - frames_queued, the bound that submitters are refused at, never passes queue_frames
 *     nor the ops in the ring.
 * O(1), asserted at every change of a ring. */
static bool writer_ok(const struct journal_writer *w)
{
    return w->ops_count <= w->ops_capacity && w->ops_head < w->ops_capacity &&
           w->ops_tail < w->ops_capacity &&
           (w->ops_tail + w->ops_count) % w->ops_capacity == w->ops_head &&
           w->marks_count <= MARK_RING_SIZE && w->marks_head < MARK_RING_SIZE &&
           w->marks_tail < MARK_RING_SIZE &&
           (w->marks_tail + w->marks_count) % MARK_RING_SIZE == w->marks_head &&
           w->frames_queued <= w->opts.queue_frames && w->frames_queued <= w->ops_count;
}

/* writer_ok, and frames_queued is exactly the OP_APPEND and OP_QUARANTINE ops in the ring:
 * a slot counts from its submit until release_batch frees it, so a sender told "committed"
 * can submit again at once and the queue bound is exact. One pass over the queued ops:
 * asserted where frames leave the ring (once per batch), where a miscount would show. */
static bool writer_frames_ok(const struct journal_writer *w)
{
    if (!writer_ok(w))
        return false;
    size_t frames = 0;
    for (size_t i = 0; i < w->ops_count; i++) {
        enum op_kind kind = w->ops[(w->ops_tail + i) % w->ops_capacity].kind;
        frames += kind == OP_APPEND || kind == OP_QUARANTINE;
    }
    return frames == w->frames_queued;
}
#endif

#ifndef NDEBUG
/* A device's positions: one per configured output, none beyond; only outputs that exist
 * are dirty, and with a single output nothing is (its position is published_ms). O(1). */
static bool progress_ok(const struct journal_writer *w, const struct progress *p)
{
    for (unsigned k = 0; k < JOURNAL_WRITER_MAX_OUTPUTS; k++)
        if (p->delivered[k] < 0 || (k >= w->n_outputs && p->delivered[k] != 0))
            return false;
    return (p->dirty >> w->n_outputs) == 0 && (w->n_outputs > 1 || p->dirty == 0) &&
           w->n_changed <= MARK_RING_SIZE;
}
#endif

static int compare_progress(const void *a, const void *b)
{
    return strcmp(((const struct progress *)a)->device, ((const struct progress *)b)->device);
}

static struct progress *find_progress(const struct journal_writer *w, const char *device)
{
    struct progress key;
    snprintf(key.device, sizeof(key.device), "%s", device);
    void *node = tfind(&key, &w->progress_root, compare_progress);
    return node ? *(struct progress **)node : NULL;
}

/* The device's node, made (at no position) when it has none. NULL when out of memory. */
static struct progress *progress_of(struct journal_writer *w, const char *device)
{
    struct progress *p = find_progress(w, device);
    if (p != NULL)
        return p;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    snprintf(p->device, sizeof(p->device), "%s", device);
    if (tsearch(p, &w->progress_root, compare_progress) == NULL) {
        free(p);
        return NULL;
    }
    w->n_progress++;
    return p;
}

/* True when every output has delivered frame_id of p's device. */
static bool delivered_by_all(const struct journal_writer *w, const struct progress *p,
                             int64_t frame_id)
{
    for (unsigned k = 0; k < w->n_outputs; k++)
        if (p->delivered[k] < frame_id)
            return false;
    return true;
}

/* Under w->lock, on the writer thread, as the mark is taken from the ring: moves the
 * output's position and decides whether the frame is delivered to every output now. */
static void apply_mark(struct journal_writer *w, struct mark *m)
{
    assert(m->output < w->n_outputs);
    if (w->n_outputs == 1 && w->n_progress == 0) {
        m->publish = true; /* one output: its mark is the frame's */
        return;
    }
    /* one output keeps no positions of its own (published_ms is); a node left from a time
     * with more is moved on all the same, so that it does not call frames delivered twice */
    struct progress *p = w->n_outputs > 1 ? progress_of(w, m->device) : find_progress(w, m->device);
    if (p == NULL) {
        m->publish = w->n_outputs == 1;
        if (w->n_outputs > 1)
            log_error("journal: out of memory for the outputs' progress; frame %" PRId64
                      " stays pending",
                      m->frame_id);
        return;
    }
    if (m->frame_id > p->delivered[m->output]) {
        p->delivered[m->output] = m->frame_id;
        if (w->n_outputs > 1) {
            p->dirty |= 1u << m->output;
            if (p->listed_batch != w->batch) {
                p->listed_batch = w->batch;
                w->changed[w->n_changed++] = p;
            }
        }
    }
    m->publish = delivered_by_all(w, p, m->frame_id);
    assert(progress_ok(w, p));
}

static void cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t deadline_mono_ms)
{
    struct timespec ts = {.tv_sec = (time_t)(deadline_mono_ms / 1000),
                          .tv_nsec = (long)(deadline_mono_ms % 1000) * 1000000L};
    pthread_cond_timedwait(cond, lock, &ts);
}

static int submit_op(struct journal_writer *w, const struct op *op, bool counts_as_frame)
{
    pthread_mutex_lock(&w->lock);
    bool full = counts_as_frame ? w->frames_queued >= w->opts.queue_frames
                                : w->ops_count >= w->ops_capacity;
    if (w->stopping || full) {
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    /* op is written into the slot under the lock: the writer never touches slots between
     * head and tail + count, so it cannot read this one half-written. */
    struct op *slot = &w->ops[w->ops_head];
    slot->kind = op->kind;
    slot->done = op->done;
    slot->ctx = op->ctx;
    slot->frame_id = op->frame_id;
    slot->enqueued_mono_ms = clock_mono_ms();
    memcpy(slot->reason, op->reason, sizeof(slot->reason));
    w->ops_head = (w->ops_head + 1) % w->ops_capacity;
    w->ops_count++;
    if (counts_as_frame)
        w->frames_queued++;
    assert(writer_ok(w));
    if (!w->lingering || w->ops_count >= w->opts.batch_max_rows)
        pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* Like submit_op, but also copies the record into the slot (under the lock). */
static int submit_frame(struct journal_writer *w, enum op_kind kind, const struct frame_record *rec,
                        const char *reason, journal_done_fn done, void *ctx)
{
    if (rec->payload_len > FRAME_MAX_PAYLOAD_BYTES)
        return -1;
    pthread_mutex_lock(&w->lock);
    if (w->full && !w->stopping) {
        w->stats.rejected_full++;
        pthread_mutex_unlock(&w->lock);
        return JOURNAL_WRITER_FULL;
    }
    if (w->stopping || w->frames_queued >= w->opts.queue_frames ||
        w->ops_count >= w->ops_capacity) {
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    struct op *slot = &w->ops[w->ops_head];
    slot->kind = kind;
    slot->done = done;
    slot->ctx = ctx;
    slot->frame_id = 0;
    slot->enqueued_mono_ms = clock_mono_ms();
    snprintf(slot->reason, sizeof(slot->reason), "%s", reason ? reason : "");
    /* copy only the used part of the payload */
    memcpy(&slot->rec, rec, offsetof(struct frame_record, payload));
    memcpy(slot->rec.payload, rec->payload, rec->payload_len);
    w->ops_head = (w->ops_head + 1) % w->ops_capacity;
    w->ops_count++;
    w->frames_queued++;
    assert(writer_ok(w));
    if (!w->lingering || w->ops_count >= w->opts.batch_max_rows)
        pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

int journal_writer_append(struct journal_writer *w, const struct frame_record *rec,
                          journal_done_fn done, void *ctx)
{
    return submit_frame(w, OP_APPEND, rec, NULL, done, ctx);
}

int journal_writer_quarantine(struct journal_writer *w, const struct frame_record *rec,
                              const char *reason, journal_done_fn done, void *ctx)
{
    return submit_frame(w, OP_QUARANTINE, rec, reason, done, ctx);
}

int journal_writer_move_to_quarantine(struct journal_writer *w, int64_t frame_id,
                                      const char *reason)
{
    struct op op = {.kind = OP_MOVE_TO_QUARANTINE, .frame_id = frame_id};
    snprintf(op.reason, sizeof(op.reason), "%s", reason);
    return submit_op(w, &op, false);
}

int journal_writer_mark_delivered(struct journal_writer *w, unsigned output, const char *device,
                                  int64_t frame_id, int64_t delivered_ms)
{
    if (output >= w->n_outputs)
        return -1;
    pthread_mutex_lock(&w->lock);
    if (w->stopping || w->marks_count == MARK_RING_SIZE) {
        if (!w->stopping)
            w->stats.marks_dropped++;
        pthread_mutex_unlock(&w->lock);
        return -1;
    }
    struct mark *m = &w->marks[w->marks_head];
    *m = (struct mark){.frame_id = frame_id, .delivered_ms = delivered_ms, .output = output};
    snprintf(m->device, sizeof(m->device), "%s", device);
    w->marks_head = (w->marks_head + 1) % MARK_RING_SIZE;
    w->marks_count++;
    assert(writer_ok(w));
    if (!w->lingering || w->ops_count >= w->opts.batch_max_rows)
        pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

enum journal_delivery journal_writer_delivery(struct journal_writer *w, unsigned output,
                                              const char *device, int64_t frame_id)
{
    if (output >= w->n_outputs || (w->n_outputs == 1 && w->progress_empty))
        return JOURNAL_UNDELIVERED;
    pthread_mutex_lock(&w->lock);
    const struct progress *p = find_progress(w, device);
    enum journal_delivery d = p == NULL || p->delivered[output] < frame_id ? JOURNAL_UNDELIVERED
                              : delivered_by_all(w, p, frame_id)           ? JOURNAL_DELIVERED_ALL
                                                                           : JOURNAL_DELIVERED;
    pthread_mutex_unlock(&w->lock);
    return d;
}

struct sync_wait {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    bool done;
    int status;
};

static void sync_done(void *ctx, int status, int64_t id)
{
    (void)id;
    struct sync_wait *s = ctx;
    pthread_mutex_lock(&s->lock);
    s->done = true;
    s->status = status;
    pthread_cond_signal(&s->done_cond);
    pthread_mutex_unlock(&s->lock);
}

int journal_writer_sync(struct journal_writer *w)
{
    struct sync_wait s = {.done = false, .status = -1};
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.done_cond, NULL);
    struct op op = {.kind = OP_SYNC, .done = sync_done, .ctx = &s};
    int rc = submit_op(w, &op, false);
    if (rc == 0) {
        pthread_mutex_lock(&s.lock);
        while (!s.done)
            pthread_cond_wait(&s.done_cond, &s.lock);
        pthread_mutex_unlock(&s.lock);
        rc = s.status;
    }
    pthread_cond_destroy(&s.done_cond);
    pthread_mutex_destroy(&s.lock);
    return rc;
}

/* Executes one op inside the open transaction. Returns 0 or -1. */
static int execute_op(struct journal_writer *w, struct op *op, int64_t *id)
{
    *id = 0;
    op->resend = false;
    switch (op->kind) {
    case OP_APPEND: {
        int rc = journal_append(w->journal, &op->rec, id);
        op->resend = rc == JOURNAL_APPEND_RESEND;
        return rc < 0 ? -1 : 0;
    }
    case OP_QUARANTINE:
        return journal_quarantine(w->journal, &op->rec, op->reason, id);
    case OP_MOVE_TO_QUARANTINE:
        *id = op->frame_id;
        return journal_move_to_quarantine(w->journal, op->frame_id, op->reason);
    case OP_SYNC:
        return 0;
    }
    return -1;
}

struct completion {
    journal_done_fn done;
    void *ctx;
    int64_t id;
};

/* Runs one batch in one transaction and returns its status. The ops stay in the ring (the
 * writer owns slots between tail and tail + n_ops) until release_batch. */
static int commit_batch(struct journal_writer *w, size_t first, size_t n_ops,
                        const struct mark *marks, size_t n_marks)
{
    int status = journal_begin(w->journal);
    for (size_t i = 0; status == 0 && i < n_ops; i++) {
        struct op *op = &w->ops[(first + i) % w->ops_capacity];
        status = execute_op(w, op, &op->result_id);
    }
    for (size_t i = 0; status == 0 && i < n_marks; i++)
        if (marks[i].publish)
            status = journal_mark_published(w->journal, marks[i].frame_id, marks[i].delivered_ms);
    /* the positions this batch moved (more than one output only); the nodes are the
     * writer thread's to write, so reading them here needs no lock */
    for (size_t i = 0; status == 0 && i < w->n_changed; i++) {
        const struct progress *p = w->changed[i];
        for (unsigned k = 0; status == 0 && k < w->n_outputs; k++)
            if (p->dirty & (1u << k))
                status = journal_set_progress(w->journal, w->output_names[k], p->device,
                                              p->delivered[k]);
    }
    if (status == 0)
        status = journal_commit(w->journal);
    if (status != 0) {
        /* Once per burst, not once per batch: the senders are told to retry anyway. */
        if (w->burst_failures++ == 0)
            log_error("journal: commit of %zu frames failed: %s; their senders are told to "
                      "retry",
                      n_ops, journal_errmsg(w->journal));
        w->burst_failure_mono_ms = clock_mono_ms();
        w->committed_since_failure = false;
        journal_rollback(w->journal);
    } else {
        w->committed_since_failure = true;
    }
    return status;
}

/* Ends a burst of failed commits once one succeeded and none failed for BURST_QUIET_MS. */
static void end_failure_burst_if_quiet(struct journal_writer *w)
{
    if (w->burst_failures == 0 || !w->committed_since_failure ||
        clock_mono_ms() - w->burst_failure_mono_ms < BURST_QUIET_MS)
        return;
    log_info("journal: commits succeed again (%" PRIu64 " failed in the last burst)",
             w->burst_failures);
    w->burst_failures = 0;
}

/* Under w->lock: counts the batch, copies its callbacks out and frees its slots, so that a
 * sender told "committed" can submit again at once (the queue bound is exact). Returns the
 * number of frames appended. */
static size_t release_batch(struct journal_writer *w, size_t first, size_t n_ops, size_t n_marks,
                            int status, struct completion *out)
{
    size_t appended = 0, quarantined = 0, resends = 0;
    for (size_t i = 0; i < n_ops; i++) {
        const struct op *op = &w->ops[(first + i) % w->ops_capacity];
        if (op->kind == OP_APPEND && status == 0 && op->resend)
            resends++;
        else if (op->kind == OP_APPEND)
            appended++;
        else if (op->kind == OP_QUARANTINE)
            quarantined++;
        out[i] = (struct completion){op->done, op->ctx, status == 0 ? op->result_id : 0};
    }
    w->frames_queued -= appended + quarantined + resends;
    w->ops_tail = (w->ops_tail + n_ops) % w->ops_capacity;
    w->ops_count -= n_ops;
    assert(writer_frames_ok(w));
    w->stats.transactions++;
    w->stats.progress_mono_ms = clock_mono_ms();
    if (status == 0) {
        w->stats.frames_committed += appended;
        w->stats.resends += resends;
        w->stats.quarantined += quarantined;
        w->stats.marks += n_marks;
        /* written: a failed commit leaves them dirty, for the next batch that lists them */
        for (size_t i = 0; i < w->n_changed; i++)
            w->changed[i]->dirty = 0;
    } else {
        w->stats.commit_failures++;
    }
    return status == 0 ? appended : 0;
}

/* The most the database's used pages may take now: the cap, and no more than the free
 * pages plus what the filesystem has above the floor. INT64_MAX when unlimited. */
static int64_t space_limit(const struct journal_writer *w, const struct journal_space *sp,
                           bool *disk_bound)
{
    int64_t limit = w->opts.max_bytes > 0 ? w->opts.max_bytes : INT64_MAX;
    *disk_bound = false;
    struct statvfs fs;
    if (w->opts.min_free_bytes > 0 && statvfs(w->dir, &fs) == 0) {
        int64_t avail = (int64_t)fs.f_bavail * (int64_t)fs.f_frsize;
        int64_t headroom = avail - w->opts.min_free_bytes;
        int64_t file_bytes = sp->used_bytes + sp->free_page_bytes;
        int64_t disk_limit = file_bytes + headroom;
        if (headroom < 0) {
            /* Below the floor the file must not grow: new frames go into the pages it
             * already has. Deleting rows returns nothing to the filesystem (SQLite keeps
             * freed pages in the file), so dropping more than the room the next frames
             * need would lose frames for nothing: keep a reserve of free pages only. */
            int64_t reserve =
                file_bytes / 4 < FLOOR_RESERVE_BYTES ? file_bytes / 4 : FLOOR_RESERVE_BYTES;
            disk_limit = file_bytes - reserve;
        }
        if (disk_limit < limit) {
            limit = disk_limit;
            *disk_bound = true;
        }
    }
    return limit;
}

/* Deletes up to n rows in one transaction: retained frames (oldest first), or the oldest
 * pending frames with their drop counted. Returns the rows deleted, or -1. */
static int64_t free_rows(struct journal_writer *w, bool pending, const char *counter)
{
    uint32_t deleted = 0;
    int rc = journal_begin(w->journal);
    if (rc == 0)
        rc = pending ? journal_drop_oldest_pending(w->journal, SPACE_ROWS_PER_TRANSACTION, &deleted)
                     : journal_trim_published(w->journal, INT64_MAX, SPACE_ROWS_PER_TRANSACTION,
                                              &deleted);
    if (rc == 0 && pending && deleted > 0)
        rc = journal_add_counter(w->journal, counter, deleted);
    if (rc == 0)
        rc = journal_commit(w->journal);
    if (rc != 0) {
        log_warn("journal: freeing space failed: %s", journal_errmsg(w->journal));
        journal_rollback(w->journal);
        return -1;
    }
    /* freeing space can take many transactions in a row: each one is progress */
    pthread_mutex_lock(&w->lock);
    w->stats.progress_mono_ms = clock_mono_ms();
    pthread_mutex_unlock(&w->lock);
    return deleted;
}

/* Keeps the journal under its cap (see journal_writer.h). Runs on the writer thread. */
static void enforce_space(struct journal_writer *w)
{
    if (w->opts.max_bytes <= 0 && w->opts.min_free_bytes <= 0)
        return;
    int64_t now = clock_mono_ms();
    if (now < w->next_space_check_mono_ms && !w->full && w->burst_dropped == 0)
        return;
    w->next_space_check_mono_ms = now + SPACE_CHECK_PERIOD_MS;
    struct journal_space sp;
    bool disk_bound = false, over = false;
    uint64_t trimmed = 0, dropped = 0;
    for (int round = 0; round < 1000; round++) {
        if (journal_space(w->journal, &sp) != 0)
            return;
        over = sp.used_bytes > space_limit(w, &sp, &disk_bound);
        if (!over)
            break;
        int64_t n = free_rows(w, false, NULL);
        if (n > 0) {
            trimmed += (uint64_t)n;
            continue;
        }
        if (n < 0 || w->opts.full_policy != JOURNAL_DROP_OLDEST)
            break;
        n = free_rows(w, true, disk_bound ? "dropped_disk_floor" : "dropped_journal_full");
        if (n <= 0)
            break;
        dropped += (uint64_t)n;
    }
    pthread_mutex_lock(&w->lock);
    w->stats.used_bytes = sp.used_bytes;
    w->stats.trimmed_for_space += trimmed;
    if (disk_bound)
        w->stats.dropped_disk_floor += dropped;
    else
        w->stats.dropped_journal_full += dropped;
    bool was_full = w->full;
    w->full = over && w->opts.full_policy == JOURNAL_REJECT_NEW;
    w->stats.full = w->full;
    pthread_mutex_unlock(&w->lock);

    const char *why = disk_bound ? "the free-disk floor" : "the size cap";
    if (w->full && !was_full)
        log_warn("journal: full at %s (%.1f MiB used): refusing new frames until publishing "
                 "makes room (policy reject_new)",
                 why, (double)sp.used_bytes / 1048576.0);
    else if (!w->full && was_full)
        log_info("journal: below its cap again, accepting frames");
    if (dropped > 0) {
        if (w->burst_dropped == 0)
            log_warn("journal: full at %s (%.1f MiB used): dropping the oldest pending frames "
                     "(policy drop_oldest); counted in sensorbroctl status",
                     why, (double)sp.used_bytes / 1048576.0);
        w->burst_dropped += dropped;
        w->burst_last_mono_ms = now;
    } else if (w->burst_dropped > 0 && now - w->burst_last_mono_ms > BURST_QUIET_MS) {
        log_warn("journal: %" PRIu64 " pending frames dropped in the last burst", w->burst_dropped);
        w->burst_dropped = 0;
    }
}

static void trim_if_due(struct journal_writer *w)
{
    int64_t now = clock_mono_ms();
    if (now < w->next_trim_mono_ms)
        return;
    w->next_trim_mono_ms = now + TRIM_PERIOD_MS;
    int64_t before_ms = clock_wall_ms() - w->opts.retention_ms;
    uint32_t deleted;
    do {
        deleted = 0;
        if (journal_trim_published(w->journal, before_ms, TRIM_ROWS_PER_TRANSACTION, &deleted) !=
            0) {
            log_warn("journal: trimming published frames failed: %s", journal_errmsg(w->journal));
            return;
        }
        pthread_mutex_lock(&w->lock);
        w->stats.trimmed += deleted;
        w->stats.progress_mono_ms = clock_mono_ms();
        bool busy = w->ops_count > 0;
        pthread_mutex_unlock(&w->lock);
        if (busy)
            return; /* new frames first; the rest of the trim waits for the next round */
    } while (deleted == TRIM_ROWS_PER_TRANSACTION);
}

/* Writes the status snapshot taken from status_queued, in a transaction of its own: it is
 * only for sensorbroctl, so a failure (a full disk) is reported once and otherwise ignored. */
static void write_status(struct journal_writer *w)
{
    if (journal_save_status(w->journal, w->status_writing) == 0) {
        w->status_failing = false;
        return;
    }
    if (!w->status_failing)
        log_warn("journal: saving the status for sensorbroctl failed: %s",
                 journal_errmsg(w->journal));
    w->status_failing = true;
}

static void *writer_main(void *arg)
{
    struct journal_writer *w = arg;
    pthread_setname_np(pthread_self(), "sb-writer"); /* for top -H and perf */
    struct mark *marks = malloc(sizeof(struct mark) * MARK_RING_SIZE);
    struct completion *completions = calloc(w->opts.batch_max_rows, sizeof(*completions));
    if (marks == NULL || completions == NULL) {
        log_error("journal: out of memory for the writer");
        abort();
    }
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->ops_count == 0 && w->marks_count == 0 && !w->status_pending && !w->stopping) {
            pthread_mutex_unlock(&w->lock);
            trim_if_due(w);
            end_failure_burst_if_quiet(w);
            /* while refusing frames, nothing else may come to make room: space freed
             * elsewhere on the disk has to be noticed here */
            if (w->full)
                enforce_space(w);
            pthread_mutex_lock(&w->lock);
            int64_t wake = w->next_trim_mono_ms;
            if (w->full && wake > clock_mono_ms() + 1000)
                wake = clock_mono_ms() + 1000;
            if (w->burst_failures > 0 && wake > w->burst_failure_mono_ms + BURST_QUIET_MS)
                wake = w->burst_failure_mono_ms + BURST_QUIET_MS;
            if (w->ops_count == 0 && w->marks_count == 0 && !w->status_pending && !w->stopping) {
                w->stats.idle = true;
                w->stats.progress_mono_ms = clock_mono_ms();
                cond_wait_until(&w->work, &w->lock, wake);
                w->stats.idle = false;
            }
        }
        if (w->status_pending) {
            *w->status_writing = *w->status_queued;
            w->status_pending = false;
            pthread_mutex_unlock(&w->lock);
            write_status(w);
            pthread_mutex_lock(&w->lock);
            w->stats.progress_mono_ms = clock_mono_ms();
        }
        if (w->ops_count == 0 && w->marks_count == 0) {
            if (w->stopping && !w->status_pending)
                break;
            continue;
        }
        /* Linger for more frames, bounded by the oldest frame's age. */
        if (w->ops_count > 0 && w->ops_count < w->opts.batch_max_rows && !w->stopping) {
            int64_t deadline = w->ops[w->ops_tail].enqueued_mono_ms + w->opts.batch_max_ms;
            w->lingering = true;
            while (w->ops_count < w->opts.batch_max_rows && !w->stopping &&
                   clock_mono_ms() < deadline)
                cond_wait_until(&w->work, &w->lock, deadline);
            w->lingering = false;
        }
        size_t first = w->ops_tail;
        size_t n_ops =
            w->ops_count < w->opts.batch_max_rows ? w->ops_count : w->opts.batch_max_rows;
        size_t n_marks = 0;
        w->batch++;
        w->n_changed = 0;
        while (w->marks_count > 0) {
            marks[n_marks] = w->marks[w->marks_tail];
            apply_mark(w, &marks[n_marks++]);
            w->marks_tail = (w->marks_tail + 1) % MARK_RING_SIZE;
            w->marks_count--;
        }
        assert(writer_ok(w));
        pthread_mutex_unlock(&w->lock);

        int status = commit_batch(w, first, n_ops, marks, n_marks);
        if (status == 0) {
            enforce_space(w);
            end_failure_burst_if_quiet(w);
        }

        pthread_mutex_lock(&w->lock);
        size_t appended = release_batch(w, first, n_ops, n_marks, status, completions);
        pthread_mutex_unlock(&w->lock);
        for (size_t i = 0; i < n_ops; i++)
            if (completions[i].done)
                completions[i].done(completions[i].ctx, status, completions[i].id);
        if (appended > 0 && w->on_committed)
            w->on_committed(w->committed_ctx);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    free(completions);
    free(marks);
    return NULL;
}

/* Copies and checks the outputs' names. Returns -1 with err. */
static int set_outputs(struct journal_writer *w, const struct journal_writer_options *opts,
                       char *err, size_t err_size)
{
    if (opts->n_outputs > JOURNAL_WRITER_MAX_OUTPUTS) {
        snprintf(err, err_size, "%u outputs: at most %d", opts->n_outputs,
                 JOURNAL_WRITER_MAX_OUTPUTS);
        return -1;
    }
    for (unsigned k = 0; k < opts->n_outputs; k++) {
        const char *name = opts->outputs[k];
        size_t len = strlen(name);
        if (len == 0 || len >= JOURNAL_OUTPUT_NAME_SIZE) {
            snprintf(err, err_size, "output name \"%.40s\": 1 to %d characters", name,
                     JOURNAL_OUTPUT_NAME_SIZE - 1);
            return -1;
        }
        for (unsigned i = 0; i < k; i++)
            if (strcmp(w->output_names[i], name) == 0) {
                snprintf(err, err_size, "output \"%s\" configured twice", name);
                return -1;
            }
        memcpy(w->output_names[k], name, len + 1);
    }
    w->n_outputs = opts->n_outputs;
    return 0;
}

/* Reading output_progress at start: every row of a configured output into the map; the
 * names of some others, for the log. */
struct progress_load {
    struct journal_writer *w;
    char removed[4][JOURNAL_OUTPUT_NAME_SIZE];
    unsigned n_removed;
    bool out_of_memory;
};

static void load_progress_row(void *ctx, const char *output, const char *device,
                              int64_t delivered_id)
{
    struct progress_load *l = ctx;
    struct journal_writer *w = l->w;
    unsigned k = 0;
    while (k < w->n_outputs && strcmp(w->output_names[k], output) != 0)
        k++;
    if (k == w->n_outputs) {
        bool named = false;
        for (unsigned i = 0; i < l->n_removed; i++)
            named |= strcmp(l->removed[i], output) == 0;
        if (!named && l->n_removed < sizeof(l->removed) / sizeof(l->removed[0]))
            snprintf(l->removed[l->n_removed++], JOURNAL_OUTPUT_NAME_SIZE, "%s", output);
        return;
    }
    /* rows on disk are untrusted: a device id that is not one is left out */
    char id[FRAME_DEVICE_ID_SIZE];
    if (frame_parse_device_id(device, strlen(device), id) != 0 || delivered_id <= 0)
        return;
    struct progress *p = progress_of(w, id);
    if (p == NULL) {
        l->out_of_memory = true;
        return;
    }
    if (delivered_id > p->delivered[k])
        p->delivered[k] = delivered_id;
}

/* The outputs' progress kept in the journal, before the thread starts: rows of outputs
 * still configured into the map, rows of outputs no longer configured deleted (they hold
 * nothing back any more). With a single output its progress is published_ms from now on:
 * its rows are read and deleted too (the frames they say it delivered are found as
 * JOURNAL_DELIVERED_ALL and published when it reads them). One transaction. */
static int load_progress(struct journal_writer *w, char *err, size_t err_size)
{
    if (w->n_outputs == 0) {
        w->progress_empty = true;
        return 0; /* not the daemon's writer: the rows are not its to judge */
    }
    struct progress_load l = {.w = w};
    const char *names[JOURNAL_WRITER_MAX_OUTPUTS];
    for (unsigned k = 0; k < w->n_outputs; k++)
        names[k] = w->output_names[k];
    uint32_t deleted = 0;
    int rc = journal_begin(w->journal);
    if (rc == 0)
        rc = journal_read_progress(w->journal, load_progress_row, &l);
    if (rc == 0)
        rc =
            journal_keep_progress(w->journal, names, w->n_outputs > 1 ? w->n_outputs : 0, &deleted);
    if (rc == 0)
        rc = journal_commit(w->journal);
    if (rc != 0 || l.out_of_memory) {
        snprintf(err, err_size, "reading the outputs' progress: %s",
                 l.out_of_memory ? "out of memory" : journal_errmsg(w->journal));
        journal_rollback(w->journal);
        return -1;
    }
    for (unsigned i = 0; i < l.n_removed; i++)
        log_info("journal: output \"%s\" is no longer configured: its progress is forgotten, "
                 "it holds back no frame",
                 l.removed[i]);
    w->progress_empty = w->n_progress == 0;
    return 0;
}

static void free_writer(struct journal_writer *w)
{
    tdestroy(w->progress_root, free);
    free(w->changed);
    free(w->ops);
    free(w->marks);
    free(w->status_queued);
    free(w->status_writing);
    free(w);
}

int journal_writer_start(struct journal_writer **out, const struct journal_writer_options *opts,
                         journal_committed_fn on_committed, void *committed_ctx, char *err,
                         size_t err_size)
{
    *out = NULL;
    struct journal_writer *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    w->opts = *opts;
    if (set_outputs(w, opts, err, err_size) != 0) {
        free_writer(w);
        return -1;
    }
    w->opts.outputs = NULL; /* copied: the caller's strings need not outlive start */
    if (w->opts.batch_max_rows == 0)
        w->opts.batch_max_rows = 1;
    if (w->opts.queue_frames == 0)
        w->opts.queue_frames = 1;
    /* barriers, moves and syncs may queue beside a full load of frames */
    w->ops_capacity = w->opts.queue_frames + 256;
    w->on_committed = on_committed;
    w->committed_ctx = committed_ctx;
    w->ops = calloc(w->ops_capacity, sizeof(struct op));
    w->marks = calloc(MARK_RING_SIZE, sizeof(struct mark));
    w->status_queued = calloc(1, sizeof(struct metrics));
    w->status_writing = calloc(1, sizeof(struct metrics));
    /* a batch takes every mark waiting, and each changes at most one device's node */
    if (w->n_outputs > 1)
        w->changed = calloc(MARK_RING_SIZE, sizeof(*w->changed));
    if (w->ops == NULL || w->marks == NULL || w->status_queued == NULL ||
        w->status_writing == NULL || (w->n_outputs > 1 && w->changed == NULL)) {
        snprintf(err, err_size, "out of memory for a queue of %u frames", opts->queue_frames);
        free_writer(w);
        return -1;
    }
    if (journal_open(&w->journal, opts->path, &opts->journal, err, err_size) != 0) {
        free_writer(w);
        return -1;
    }
    if (load_progress(w, err, err_size) != 0) {
        journal_close(w->journal);
        free_writer(w);
        return -1;
    }
    /* the directory holds the database, its WAL and its shm: their filesystem is the one
     * whose free space counts */
    const char *slash = strrchr(opts->path, '/');
    if (slash == NULL)
        snprintf(w->dir, sizeof(w->dir), ".");
    else if (slash == opts->path)
        snprintf(w->dir, sizeof(w->dir), "/");
    else
        snprintf(w->dir, sizeof(w->dir), "%.*s", (int)(slash - opts->path), opts->path);
    w->opts.path = NULL; /* the caller's string need not outlive start */
    pthread_mutex_init(&w->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w->work, &attr);
    pthread_condattr_destroy(&attr);
    w->next_trim_mono_ms = clock_mono_ms();
    w->stats.progress_mono_ms = clock_mono_ms();
    int rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc != 0) {
        snprintf(err, err_size, "cannot start the journal writer thread: %s", strerror(rc));
        journal_close(w->journal);
        pthread_cond_destroy(&w->work);
        pthread_mutex_destroy(&w->lock);
        free_writer(w);
        return -1;
    }
    *out = w;
    return 0;
}

void journal_writer_stop(struct journal_writer *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    /* the thread ends only when everything queued is committed (journal_writer.h) */
    assert(writer_frames_ok(w) && w->ops_count == 0 && w->marks_count == 0);
    journal_close(w->journal);
    pthread_cond_destroy(&w->work);
    pthread_mutex_destroy(&w->lock);
    free_writer(w);
}

void journal_writer_save_status(struct journal_writer *w, const struct metrics *m)
{
    pthread_mutex_lock(&w->lock);
    *w->status_queued = *m;
    w->status_pending = true;
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->lock);
}

void journal_writer_get_stats(struct journal_writer *w, struct journal_writer_stats *stats)
{
    pthread_mutex_lock(&w->lock);
    *stats = w->stats;
    pthread_mutex_unlock(&w->lock);
}

void journal_writer_collect(const struct journal_writer_stats *s, struct report *r)
{
    report_counter(r, "sensorbro_frames_committed_total", "committed ", s->frames_committed);
    report_counter(r, "sensorbro_journal_transactions_total", " in ", s->transactions);
    report_counter(r, "sensorbro_frames_resends_total", " transactions (resends ", s->resends);
    report_text(r, " not stored again)");
    report_labelled(r, "sensorbro_frames_quarantined_total", "stage", "ingest", ", quarantined ",
                    s->quarantined);
    report_labelled(r, "sensorbro_frames_dropped_total", "reason", "journal_full",
                    ", dropped full ", s->dropped_journal_full);
    report_labelled(r, "sensorbro_frames_dropped_total", "reason", "disk_floor", " disk ",
                    s->dropped_disk_floor);
    report_labelled(r, "sensorbro_frames_rejected_total", "reason", "journal_full",
                    ", rejected full ", s->rejected_full);
    report_counter(r, "sensorbro_journal_commit_failures_total", ", commit failures ",
                   s->commit_failures);
    report_counter(r, "sensorbro_journal_marks_lost_total", ", marks lost ", s->marks_dropped);
    report_counter(r, "sensorbro_journal_trimmed_total", ", trimmed ",
                   s->trimmed + s->trimmed_for_space);
    report_bytes(r, "sensorbro_journal_used_bytes", ", journal ", s->used_bytes);
    report_gauge(r, "sensorbro_journal_full", NULL, s->full ? 1 : 0);
    if (s->full)
        report_text(r, " (full)");
}
