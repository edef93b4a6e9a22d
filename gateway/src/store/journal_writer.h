/*
 * journal_writer.h - the one thread that writes the journal, with group commit.
 *
 * Ingest adapters and the publisher hand it work from their own threads; the writer puts
 * as many queued frames as are waiting (up to batch_max_rows, lingering at most
 * batch_max_ms for more) into one transaction, commits, and only then calls each frame's
 * completion callback. One fsync then covers a whole batch: that is what makes "durable
 * before acknowledged" cheap.
 *
 * Threads: every function except journal_writer_stop may be called from any thread.
 * Callbacks (done, on_committed) run on the writer thread, after the commit: keep them
 * short and never call back into the writer from them except to submit more work.
 * Errors: submit functions return -1 when the queue is full or the writer is stopping, and
 * JOURNAL_WRITER_FULL when the journal is at its cap under reject_new; the caller tells its
 * sender to retry (CoAP 5.03).
 *
 * Space: after each commit the writer compares the database's used pages with the cap
 * (max_bytes, and what the filesystem can still give above min_free_bytes). Over it, the
 * oldest retained frames are trimmed first; if that is not enough, drop_oldest deletes the
 * oldest pending frames (counted by reason in the journal's counters table, logged once per
 * burst) and reject_new refuses new frames until publishing makes room. A failed commit reports
 * status -1 to every frame of the batch; nothing of it was stored.
 *
 * Resends are recognised here, by journal_append (journal.h), rather than in each adapter:
 * the writer sees every transport, and it checks the journal itself inside the transaction
 * that would append, so a resend is caught also after a restart (a CoAP sensor whose 2.04
 * was lost to a kill -9, an LNS event the broker delivers again) and two copies in one
 * batch cannot both slip through. A resend completes with status 0, like a commit: its
 * sender is told "stored", which it is.
 *
 * Outputs. The pending queue is delivered by the outputs named in opts.outputs
 * (output/output.h), each at its own pace; an output is named by its index there. Each
 * marks what it delivered with journal_writer_mark_delivered, per device in journal order.
 * The writer keeps every output's progress per device in memory and, when there is more
 * than one output, in the journal's output_progress table, upserted in the batch's
 * transaction; it sets a frame's published_ms (journal.h) once every configured output has
 * delivered it, i.e. once the frame's id is at or below the minimum over the outputs of
 * their progress for its device. So the pending queue, sensorbroctl status, retention
 * (which trims only published frames) and the cap keep their meaning. With a single output
 * its progress is published_ms itself: a mark is the one UPDATE by id it has always been
 * and the table stays empty. At start the rows of outputs no longer configured are deleted
 * (a removed output holds nothing back); an output newly configured has none and starts
 * with the frames still pending.
 */
#ifndef SENSORBRO_JOURNAL_WRITER_H
#define SENSORBRO_JOURNAL_WRITER_H

#include <stdint.h>

#include "frame.h"
#include "store/journal.h"

/* Outputs at most, and the longest name of one (with its NUL). */
#define JOURNAL_WRITER_MAX_OUTPUTS JOURNAL_MAX_OUTPUTS
#define JOURNAL_OUTPUT_NAME_SIZE   32

/* What happens when the journal reaches its size cap or the disk its free-space floor.
 * Either way retained (already published) frames go first: pending frames always win. */
enum journal_full_policy {
    JOURNAL_DROP_OLDEST, /* delete the oldest pending frames, count them, keep accepting */
    JOURNAL_REJECT_NEW,  /* refuse new frames (senders retry: CoAP 5.03, GWMP no ACK) */
};

struct journal_writer_options {
    const char *path;
    struct journal_options journal;
    uint32_t batch_max_rows; /* frames per transaction at most */
    uint32_t batch_max_ms;   /* a batch waits at most this long for more frames (0: none) */
    uint32_t queue_frames;   /* frames waiting for commit before submits are refused */
    int64_t retention_ms;    /* published frames are trimmed after this long */
    int64_t max_bytes;       /* size cap of the database's used pages; 0: none */
    int64_t min_free_bytes;  /* keep this much free on the journal's filesystem */
    enum journal_full_policy full_policy;
    /* The outputs that deliver the pending queue, by name (the key of their rows in
     * output_progress: an output keeps its name), at most JOURNAL_WRITER_MAX_OUTPUTS,
     * distinct, 1 to JOURNAL_OUTPUT_NAME_SIZE - 1 characters. None: nothing delivers (a
     * writer for ingest alone); marks are refused and output_progress is left alone. The
     * strings need not outlive start. */
    const char *const *outputs;
    unsigned n_outputs;
};

/* What an output's progress says of a pending frame (journal_writer_delivery). */
enum journal_delivery {
    JOURNAL_UNDELIVERED,   /* not delivered by this output: deliver it */
    JOURNAL_DELIVERED,     /* delivered by this output, still pending for another: skip it */
    JOURNAL_DELIVERED_ALL, /* delivered by every output, yet still pending (its last mark was
                              lost, or the output that held it was removed): skip it and
                              mark it again, which publishes it */
};

/* journal_writer_append/quarantine: refused because the journal is full and the policy
 * is reject_new (the queue being full returns -1). */
#define JOURNAL_WRITER_FULL (-2)

/* status 0: committed (id is the frame's or quarantine row's id; for a resend, which stores
 * nothing, the id of the frame it repeats); -1: not stored. */
typedef void (*journal_done_fn)(void *ctx, int status, int64_t id);
/* Called after a commit that added frames to the pending queue. */
typedef void (*journal_committed_fn)(void *ctx);

struct journal_writer_stats {
    uint64_t transactions;
    uint64_t frames_committed;
    uint64_t resends; /* appends that repeated a stored frame (journal.h): not stored again */
    uint64_t quarantined;
    uint64_t marks; /* delivery marks committed (journal_writer_mark_delivered) */
    uint64_t commit_failures;
    uint64_t marks_dropped; /* PUBACK marks lost to a full queue: those frames repeat */
    uint64_t trimmed;
    uint64_t trimmed_for_space;    /* retained frames trimmed early to stay under the cap */
    uint64_t dropped_journal_full; /* pending frames dropped at the size cap */
    uint64_t dropped_disk_floor;   /* pending frames dropped at the free-disk floor */
    uint64_t rejected_full;        /* submits refused by reject_new */
    bool full;                     /* reject_new is refusing frames now */
    int64_t used_bytes;            /* of the database, at the last check */
    /* Liveness, for the service watchdog (main.c): the thread is idle by design while it
     * waits with nothing queued; otherwise it must finish transactions (committed or
     * failed: a full disk is no reason to restart) and progress_mono_ms keeps moving. */
    bool idle;                /* waiting for work, nothing queued */
    int64_t progress_mono_ms; /* a transaction ended, or the wait for work began */
};

struct journal_writer;

/* Opens the journal and starts the writer thread. Returns -1 with a message in err. */
int journal_writer_start(struct journal_writer **out, const struct journal_writer_options *opts,
                         journal_committed_fn on_committed, void *committed_ctx, char *err,
                         size_t err_size);
/* Stops accepting work, commits everything queued (running its callbacks), joins the
 * thread and closes the journal. */
void journal_writer_stop(struct journal_writer *w);

/* Queues a frame for the pending queue. rec is copied. */
int journal_writer_append(struct journal_writer *w, const struct frame_record *rec,
                          journal_done_fn done, void *ctx);
/* Queues a frame for the quarantine table, with the reason it was refused. */
int journal_writer_quarantine(struct journal_writer *w, const struct frame_record *rec,
                              const char *reason, journal_done_fn done, void *ctx);
/* Queues "output delivered frame_id of device" (its PUBACK, for the MQTT output), at
 * delivered_ms. An output's progress is a position: frames of the device up to frame_id
 * count as delivered to it. So an output marks a device's frames in journal order, and
 * marks a frame only when it delivered every pending frame of that device before it or
 * moved it to quarantine; one it could not deliver (refused) holds back the marks of that
 * device's later frames until it is delivered. Refused (-1) when the writer is stopping,
 * when output is not configured, or when the mark queue is full (counted; the frame is then
 * delivered again later). */
int journal_writer_mark_delivered(struct journal_writer *w, unsigned output, const char *device,
                                  int64_t frame_id, int64_t delivered_ms);
/* What output's progress (as marked so far) says of the pending frame frame_id of device.
 * No SQL: a lookup under the writer's lock, and with a single output and no progress left
 * in the journal from before, not even that. Any thread. */
enum journal_delivery journal_writer_delivery(struct journal_writer *w, unsigned output,
                                              const char *device, int64_t frame_id);
/* Queues moving a pending frame into quarantine (decode failed when publishing). */
int journal_writer_move_to_quarantine(struct journal_writer *w, int64_t frame_id,
                                      const char *reason);
/* Queues a snapshot of the daemon's counters (metrics.h) to replace the journal's status
 * table, which sensorbroctl status reads. m is copied; a newer snapshot replaces one not yet
 * written. It is written in a transaction of its own, and a failure is logged once and
 * otherwise ignored (it is no frame). Call it before journal_writer_stop for a last one. */
void journal_writer_save_status(struct journal_writer *w, const struct metrics *m);
/* Blocks until everything queued before the call is committed. Returns 0, or -1 when a
 * commit failed or the writer is stopping. */
int journal_writer_sync(struct journal_writer *w);

void journal_writer_get_stats(struct journal_writer *w, struct journal_writer_stats *stats);

struct report;
/* The writer's figures (report.h): frames committed, transactions, drops and refusals at
 * the cap, the journal's size. Touches only what it is given; any thread. */
void journal_writer_collect(const struct journal_writer_stats *s, struct report *r);

#endif
