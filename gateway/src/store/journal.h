/*
 * journal.h - the durable store: every received frame, raw, in an SQLite database.
 *
 * Tables (schema version in PRAGMA user_version, migrated forward on open; every table of
 * the file is created by store/schema.c, which also opens the connection):
 *   frames      one row per accepted frame: raw payload + metadata; published_ms is NULL
 *               while the frame waits for the broker's PUBACK (the pending queue), and set
 *               after it. Published rows are kept for the retention period, then trimmed.
 *               ids come from AUTOINCREMENT: strictly increasing, never reused, so they are
 *               the pending queue's order and safe to name an in-flight publish by.
 *   quarantine  frames that did not decode, with the reason; kept for inspection/replay.
 *   counters    named totals that must survive restarts: pending frames dropped because the
 *               journal reached its size cap (dropped_journal_full) or the disk its free
 *               space floor (dropped_disk_floor).
 *   status      the running daemon's latest counters and gauges (metrics.h), replaced as a
 *               whole every few seconds, for sensorbroctl status (schema 5).
 *   device_epochs
 *               per device, the epoch of its message ids and the last seq appended in it
 *               (schema 6, below).
 *   output_progress
 *               per output and device, how far that output has delivered (schema 7,
 *               below).
 *   devices, dev_nonces, downlinks
 *               the LoRaWAN device registry (schema 3): read and written only through
 *               registry.h, which has its own connection.
 *
 * Message ids (schema 6). A published message is named <device>-<epoch>-<seq> (render.h).
 * The epoch is chosen by journal_append, in the transaction that appends the frame, and
 * stored with the row, so a frame published again after a restart has the very same id
 * and the epoch is exactly as durable as the frame. A device's epoch changes when a frame
 * could otherwise repeat an id: the first frame of the device in this journal, a seq lower
 * than the last one appended, or the last seq again flagged nvm_reset (the node's sequence
 * started over). The last seq again without it is that uplink sent again, perhaps
 * re-encoded, and keeps the id. A new epoch is the frame's reception time
 * in unix seconds, or the previous epoch + 1 when that is not greater, so epochs of a device
 * only grow, also across a journal that was lost and created anew (as long as the clock
 * does not go back). Rows from before schema 6 have no epoch (0) and keep the id they had
 * then, <device>-<seq>.
 *
 * Outputs (schema 7). Several outputs may deliver the pending queue, each at its own pace
 * (output/output.h). output_progress(output, device, delivered_id) says that the frames of
 * device with id <= delivered_id are delivered to output; published_ms is set on a frame
 * once every configured output is past it, so "published_ms IS NULL" keeps meaning
 * "pending for some output", and retention trims only frames every output is past. With a
 * single output its progress is published_ms itself and the table stays empty; the
 * journal writer keeps the rows (store/journal_writer.h).
 *
 * Resends (schema 6). A frame with the same device, seq and bytes as one appended at most
 * resend_window_ms earlier (by received_ms) is a sensor sending again what was already
 * stored (its acknowledgement was lost, or it came back after a restart): journal_append
 * stores nothing and returns JOURNAL_APPEND_RESEND with the stored frame's id.
 *
 * The database holds device keys: a writable open creates it (and SQLite its -wal and -shm
 * files, which take the main file's mode) with mode 0600, and tightens an older file.
 *
 * The database runs in WAL mode, so one writer and any number of readers (the publisher,
 * sensorbroctl) work at once. PRAGMA synchronous is FULL by default: a committed row
 * survives power loss, which is what makes acknowledging after commit honest.
 *
 * Threads: a struct journal is one SQLite connection; use it from one thread at a time.
 * Open one per thread that needs one. Errors: functions return 0 or -1; on -1 the reason is
 * in journal_errmsg(). Rows read from disk are untrusted: journal_read_pending checks every
 * length and reports a damaged row instead of passing it on.
 */
#ifndef SENSORBRO_JOURNAL_H
#define SENSORBRO_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "metrics.h"
#include "store/schema.h"

#define JOURNAL_SCHEMA_VERSION SCHEMA_VERSION
#define JOURNAL_REASON_SIZE    160
#define JOURNAL_MAX_OUTPUTS    8 /* outputs in output_progress that one call can keep */

enum journal_sync { JOURNAL_SYNC_FULL, JOURNAL_SYNC_NORMAL };

struct journal_options {
    bool read_only; /* open an existing journal without writing (sensorbroctl) */
    enum journal_sync synchronous;
    uint32_t busy_timeout_ms; /* wait this long for another connection's lock */
    /* Run PRAGMA quick_check before anything else and refuse a damaged database (the
     * daemon's start): writing into a damaged b-tree can spread the damage. */
    bool check_integrity;
    /* journal_append recognises a resend within this long (0: never). */
    int64_t resend_window_ms;
    /* Open the file only to check it (sensorbroctl journal check): read-only, whatever its
     * schema version, and even when it is too damaged to read its schema. Such a journal
     * takes journal_check_integrity and journal_close only. */
    bool inspect_only;
};

/* journal_append: the frame was a resend of the frame *id; nothing was stored. */
#define JOURNAL_APPEND_RESEND 1

struct journal_frame {
    int64_t id;
    int64_t epoch; /* of the message id; 0 for rows from before schema 6 (legacy id) */
    struct frame_record record;
    /* Set when the row on disk breaks a bound (bad device id, oversize payload): the
     * record is then not to be trusted and should be quarantined with this reason. */
    bool damaged;
    char damage[JOURNAL_REASON_SIZE];
};

struct journal_stats {
    int64_t pending_frames;    /* waiting for PUBACK */
    int64_t oldest_pending_ms; /* received_ms of the oldest pending frame, 0 when none */
    int64_t published_frames;  /* published and still retained */
    int64_t quarantined_frames;
    int64_t last_frame_id;        /* highest id ever assigned, 0 when none */
    int64_t database_bytes;       /* page_count * page_size of the main database file */
    int64_t dropped_journal_full; /* pending frames dropped at the size cap, ever */
    int64_t dropped_disk_floor;   /* pending frames dropped at the free-disk floor, ever */
};

/* Space of the database file: pages in use, and free pages that new rows reuse before
 * the file grows. */
struct journal_space {
    int64_t file_bytes;
    int64_t used_bytes;
    int64_t free_page_bytes;
};

struct journal_quarantine_entry {
    int64_t id;
    struct frame_record record;
    char reason[JOURNAL_REASON_SIZE];
};

struct journal;

/* Opens (creating and migrating when not read_only) the journal at path. On failure
 * returns -1 with *out NULL and a message in err. */
int journal_open(struct journal **out, const char *path, const struct journal_options *options,
                 char *err, size_t err_size);
void journal_close(struct journal *j);
const char *journal_errmsg(const struct journal *j);

/* Transactions group many writes into one commit (group commit). */
int journal_begin(struct journal *j);
int journal_commit(struct journal *j);
void journal_rollback(struct journal *j);

/* Appends a frame to the pending queue; sets *id. With rec->has_uplink it also chooses the
 * frame's epoch (above) and first checks for a resend: then nothing is stored, *id is the
 * stored frame's and JOURNAL_APPEND_RESEND is returned. Inside a transaction (the epoch's
 * update and the append commit together). Returns 0, JOURNAL_APPEND_RESEND or -1. */
int journal_append(struct journal *j, const struct frame_record *rec, int64_t *id);
/* Records a frame that did not decode; sets *id (the quarantine row's id). */
int journal_quarantine(struct journal *j, const struct frame_record *rec, const char *reason,
                       int64_t *id);
/* Moves a pending frame into quarantine (it failed to decode or is damaged on disk). */
int journal_move_to_quarantine(struct journal *j, int64_t frame_id, const char *reason);
/* Marks a pending frame as published (PUBACK received). Marking one twice is harmless. */
int journal_mark_published(struct journal *j, int64_t frame_id, int64_t published_ms);

/* An output's position for one device (schema 7): upserted, never moved back. */
int journal_set_progress(struct journal *j, const char *output, const char *device,
                         int64_t delivered_id);
/* Calls fn for every row of output_progress. Rows on disk are untrusted: output and device
 * are passed as stored (never NULL), for the caller to check. Returns 0 or -1. */
typedef void (*journal_progress_fn)(void *ctx, const char *output, const char *device,
                                    int64_t delivered_id);
int journal_read_progress(struct journal *j, journal_progress_fn fn, void *ctx);
/* Deletes the rows of every output not among outputs[0..n) (n 0: every row), n at most
 * JOURNAL_MAX_OUTPUTS; sets *deleted. */
int journal_keep_progress(struct journal *j, const char *const *outputs, unsigned n,
                          uint32_t *deleted);

/* Reads up to max pending frames with id > after_id, oldest first, into frames; sets *count. */
int journal_read_pending(struct journal *j, int64_t after_id, struct journal_frame *frames,
                         size_t max, size_t *count);
/* Reads up to max committed frames, published or not, with id > after_id and received_ms >=
 * since_ms, oldest first; sets *count (the status page's history: http_status.h). */
int journal_read_frames(struct journal *j, int64_t after_id, int64_t since_ms,
                        struct journal_frame *frames, size_t max, size_t *count);
/* Reads up to max quarantine entries with id > after_id, oldest first; sets *count. */
int journal_read_quarantine(struct journal *j, int64_t after_id,
                            struct journal_quarantine_entry *entries, size_t max, size_t *count);
/* Deletes up to max_rows published frames with published_ms < before_ms; sets *deleted. */
int journal_trim_published(struct journal *j, int64_t before_ms, uint32_t max_rows,
                           uint32_t *deleted);
int journal_stats(struct journal *j, struct journal_stats *stats);
int journal_space(struct journal *j, struct journal_space *space);

/* Deletes up to max_rows of the oldest pending frames (the drop_oldest policy); sets
 * *deleted. Inside a transaction, with journal_add_counter for the reason. */
int journal_drop_oldest_pending(struct journal *j, uint32_t max_rows, uint32_t *deleted);
/* Adds delta to the named counter (created at 0). */
int journal_add_counter(struct journal *j, const char *name, int64_t delta);
/* Replaces the status table with m, in a transaction of its own (not inside another). */
int journal_save_status(struct journal *j, const struct metrics *m);
/* Reads the status table into out (count 0 when the daemon never saved one). */
int journal_read_status(struct journal *j, struct metrics *out);

/* One line of journal_check_integrity: "ok" alone when the journal is sound; otherwise a
 * problem found, or the error at which reading had to stop. */
typedef void (*journal_check_fn)(void *ctx, const char *finding);
/* PRAGMA integrity_check (full: every page, index and constraint) or quick_check (the
 * daemon's start: every page, cheaper), reporting at most max_findings lines to fn (may be
 * NULL). Returns 1 when the journal is sound, 0 when it is damaged, -1 when the check could
 * not run (another process held a lock for longer than the busy timeout; journal_errmsg).
 * Salvage of a damaged journal is store/salvage.h's (sensorbroctl only). */
int journal_check_integrity(struct journal *j, bool full, unsigned max_findings,
                            journal_check_fn fn, void *ctx);

#endif
