/*
 * test_journal.c - journal.c on a real SQLite file in a temporary directory: commit, read
 * back in order, mark published after ack, reopen after close, quarantine, trimming, ids
 * never reused, damaged rows on disk, schema versions, message epochs and resends (schema 6),
 * and the migration of a version-5 journal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "decode.h"
#include "store/journal.h"

struct fixture {
    char dir[64];
    char path[96];
    struct journal *j;
};

static const struct journal_options rw = {.synchronous = JOURNAL_SYNC_FULL,
                                          .busy_timeout_ms = 1000};
static const struct journal_options ro = {.read_only = true, .busy_timeout_ms = 1000};
static struct journal_frame frames[16];

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_journal.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/j.db", f->dir);
    char err[256];
    if (journal_open(&f->j, f->path, &rw, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    journal_close(f->j);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static struct frame_record make_record(const char *device, int64_t received_ms, uint8_t fill,
                                       size_t len)
{
    struct frame_record rec;
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.device, sizeof(rec.device), "%s", device);
    snprintf(rec.transport, sizeof(rec.transport), "coap");
    snprintf(rec.source, sizeof(rec.source), "192.0.2.%u:5683", fill);
    rec.received_ms = received_ms;
    rec.payload_len = len;
    memset(rec.payload, fill, len);
    return rec;
}

static int64_t append(struct journal *j, const struct frame_record *rec)
{
    int64_t id = 0;
    assert_int_equal(journal_append(j, rec, &id), 0);
    return id;
}

static void test_commit_and_read_in_order(void **state)
{
    struct fixture *f = *state;
    struct frame_record a = make_record("70b3d57ed0000001", 1000, 0xa1, 51);
    struct frame_record b = make_record("70b3d57ed0000002", 2000, 0xb2, 0);
    struct frame_record c = make_record("70b3d57ed0000001", 3000, 0xc3, FRAME_MAX_PAYLOAD_BYTES);
    assert_int_equal(journal_begin(f->j), 0);
    int64_t ia = append(f->j, &a), ib = append(f->j, &b), ic = append(f->j, &c);
    assert_int_equal(journal_commit(f->j), 0);
    assert_true(ia < ib && ib < ic);

    size_t n = 0;
    assert_int_equal(journal_read_pending(f->j, 0, frames, 16, &n), 0);
    assert_int_equal(n, 3);
    const struct frame_record *expected[3] = {&a, &b, &c};
    const int64_t ids[3] = {ia, ib, ic};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(frames[i].id, ids[i]);
        assert_false(frames[i].damaged);
        assert_string_equal(frames[i].record.device, expected[i]->device);
        assert_string_equal(frames[i].record.transport, "coap");
        assert_string_equal(frames[i].record.source, expected[i]->source);
        assert_int_equal(frames[i].record.received_ms, expected[i]->received_ms);
        assert_int_equal(frames[i].record.payload_len, expected[i]->payload_len);
        assert_memory_equal(frames[i].record.payload, expected[i]->payload,
                            expected[i]->payload_len);
    }
    /* after_id and max page through the queue */
    assert_int_equal(journal_read_pending(f->j, ia, frames, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(frames[0].id, ib);
}

static void test_rollback_stores_nothing(void **state)
{
    struct fixture *f = *state;
    struct frame_record a = make_record("70b3d57ed0000001", 1000, 1, 10);
    assert_int_equal(journal_begin(f->j), 0);
    append(f->j, &a);
    journal_rollback(f->j);
    size_t n = 99;
    assert_int_equal(journal_read_pending(f->j, 0, frames, 16, &n), 0);
    assert_int_equal(n, 0);
}

static void test_mark_published_and_stats(void **state)
{
    struct fixture *f = *state;
    struct frame_record a = make_record("70b3d57ed0000001", 1000, 1, 10);
    struct frame_record b = make_record("70b3d57ed0000001", 2000, 2, 10);
    int64_t ia = append(f->j, &a), ib = append(f->j, &b);
    struct journal_stats st;
    assert_int_equal(journal_stats(f->j, &st), 0);
    assert_int_equal(st.pending_frames, 2);
    assert_int_equal(st.oldest_pending_ms, 1000);
    assert_int_equal(st.last_frame_id, ib);
    assert_true(st.database_bytes > 0);

    assert_int_equal(journal_mark_published(f->j, ia, 5000), 0);
    assert_int_equal(journal_mark_published(f->j, ia, 6000), 0); /* twice is harmless */
    size_t n = 0;
    assert_int_equal(journal_read_pending(f->j, 0, frames, 16, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(frames[0].id, ib);
    assert_int_equal(journal_stats(f->j, &st), 0);
    assert_int_equal(st.pending_frames, 1);
    assert_int_equal(st.published_frames, 1);
    assert_int_equal(st.oldest_pending_ms, 2000);

    assert_int_equal(journal_mark_published(f->j, ib, 7000), 0);
    assert_int_equal(journal_stats(f->j, &st), 0);
    assert_int_equal(st.pending_frames, 0);
    assert_int_equal(st.oldest_pending_ms, 0);
}

/* output_progress through the journal's API: an upsert never moves a position back, every
 * row is read, and keep deletes the rows of the outputs it is not given (all, given none). */
struct progress_rows {
    size_t n;
    char output[8][32];
    char device[8][32];
    int64_t delivered_id[8];
};

static void collect_progress(void *ctx, const char *output, const char *device,
                             int64_t delivered_id)
{
    struct progress_rows *rows = ctx;
    assert_true(rows->n < 8);
    snprintf(rows->output[rows->n], sizeof(rows->output[0]), "%s", output);
    snprintf(rows->device[rows->n], sizeof(rows->device[0]), "%s", device);
    rows->delivered_id[rows->n++] = delivered_id;
}

static int64_t progress_of_row(const struct progress_rows *rows, const char *output,
                               const char *device)
{
    for (size_t i = 0; i < rows->n; i++)
        if (strcmp(rows->output[i], output) == 0 && strcmp(rows->device[i], device) == 0)
            return rows->delivered_id[i];
    return -1;
}

static void test_output_progress(void **state)
{
    struct fixture *f = *state;
    const char *a = "70b3d57ed0000001", *b = "70b3d57ed0000002";
    assert_int_equal(journal_set_progress(f->j, "mqtt", a, 5), 0);
    assert_int_equal(journal_set_progress(f->j, "mqtt", a, 3), 0); /* never back */
    assert_int_equal(journal_set_progress(f->j, "mqtt", b, 2), 0);
    assert_int_equal(journal_set_progress(f->j, "senml", a, 4), 0);
    assert_int_equal(journal_set_progress(f->j, "gone", a, 9), 0);
    struct progress_rows rows = {0};
    assert_int_equal(journal_read_progress(f->j, collect_progress, &rows), 0);
    assert_int_equal(rows.n, 4);
    assert_int_equal(progress_of_row(&rows, "mqtt", a), 5);
    assert_int_equal(progress_of_row(&rows, "mqtt", b), 2);
    assert_int_equal(progress_of_row(&rows, "senml", a), 4);

    const char *keep[] = {"mqtt", "senml"};
    uint32_t deleted = 0;
    assert_int_equal(journal_keep_progress(f->j, keep, 2, &deleted), 0);
    assert_int_equal(deleted, 1);
    memset(&rows, 0, sizeof(rows));
    assert_int_equal(journal_read_progress(f->j, collect_progress, &rows), 0);
    assert_int_equal(rows.n, 3);
    assert_int_equal(progress_of_row(&rows, "gone", a), -1);

    const char *too_many[JOURNAL_MAX_OUTPUTS + 1] = {0};
    assert_int_equal(journal_keep_progress(f->j, too_many, JOURNAL_MAX_OUTPUTS + 1, &deleted), -1);
    assert_int_equal(journal_keep_progress(f->j, keep, 0, &deleted), 0);
    assert_int_equal(deleted, 3);
    memset(&rows, 0, sizeof(rows));
    assert_int_equal(journal_read_progress(f->j, collect_progress, &rows), 0);
    assert_int_equal(rows.n, 0);
}

static void test_reopen_after_close(void **state)
{
    struct fixture *f = *state;
    struct frame_record a = make_record("70b3d57ed00000aa", 1234, 0x55, 33);
    int64_t ia = append(f->j, &a);
    journal_close(f->j);
    f->j = NULL;

    char err[256];
    /* a reader sees it while nothing writes */
    struct journal *reader;
    assert_int_equal(journal_open(&reader, f->path, &ro, err, sizeof(err)), 0);
    size_t n = 0;
    assert_int_equal(journal_read_pending(reader, 0, frames, 16, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(frames[0].id, ia);
    assert_int_equal(journal_append(reader, &a, &ia), -1); /* read-only means read-only */
    journal_close(reader);

    assert_int_equal(journal_open(&f->j, f->path, &rw, err, sizeof(err)), 0);
    assert_int_equal(journal_read_pending(f->j, 0, frames, 16, &n), 0);
    assert_int_equal(n, 1);
    assert_memory_equal(frames[0].record.payload, a.payload, 33);
}

static void test_ids_never_reused(void **state)
{
    struct fixture *f = *state;
    struct frame_record a = make_record("70b3d57ed0000001", 1000, 1, 4);
    int64_t first = append(f->j, &a);
    assert_int_equal(journal_mark_published(f->j, first, 1), 0);
    uint32_t deleted = 0;
    assert_int_equal(journal_trim_published(f->j, 2, 100, &deleted), 0);
    assert_int_equal(deleted, 1);
    /* the table is empty now; a plain rowid would hand out the same id again */
    int64_t second = append(f->j, &a);
    assert_true(second > first);
}

static void test_trim_only_old_published(void **state)
{
    struct fixture *f = *state;
    struct frame_record a = make_record("70b3d57ed0000001", 1000, 1, 4);
    int64_t old_pub = append(f->j, &a), new_pub = append(f->j, &a), pending = append(f->j, &a);
    assert_int_equal(journal_mark_published(f->j, old_pub, 100), 0);
    assert_int_equal(journal_mark_published(f->j, new_pub, 900), 0);
    uint32_t deleted = 0;
    assert_int_equal(journal_trim_published(f->j, 500, 100, &deleted), 0);
    assert_int_equal(deleted, 1);
    struct journal_stats st;
    assert_int_equal(journal_stats(f->j, &st), 0);
    assert_int_equal(st.published_frames, 1);
    assert_int_equal(st.pending_frames, 1);
    size_t n = 0;
    assert_int_equal(journal_read_pending(f->j, 0, frames, 16, &n), 0);
    assert_int_equal(frames[0].id, pending);
}

static void test_quarantine(void **state)
{
    struct fixture *f = *state;
    struct frame_record bad = make_record("70b3d57ed0000009", 4000, 0xff, 7);
    int64_t qid = 0;
    assert_int_equal(journal_quarantine(f->j, &bad, "protobuf: broken", &qid), 0);
    assert_true(qid > 0);
    /* a pending frame found undecodable later moves over, with its bytes */
    struct frame_record later = make_record("70b3d57ed0000009", 5000, 0xee, 5);
    int64_t id = append(f->j, &later);
    assert_int_equal(journal_move_to_quarantine(f->j, id, "decoder changed"), 0);
    /* moving a frame that is not pending (any more) does nothing */
    assert_int_equal(journal_move_to_quarantine(f->j, id, "again"), 0);

    static struct journal_quarantine_entry entries[4];
    size_t n = 0;
    assert_int_equal(journal_read_quarantine(f->j, 0, entries, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(entries[0].reason, "protobuf: broken");
    assert_int_equal(entries[0].record.payload_len, 7);
    assert_int_equal(entries[0].record.payload[6], 0xff);
    assert_string_equal(entries[1].reason, "decoder changed");
    assert_int_equal(entries[1].record.received_ms, 5000);
    assert_memory_equal(entries[1].record.payload, later.payload, 5);
    struct journal_stats st;
    assert_int_equal(journal_stats(f->j, &st), 0);
    assert_int_equal(st.quarantined_frames, 2);
    assert_int_equal(st.pending_frames, 0);
}

/* LoRaWAN radio metadata survives the round trip, through quarantine too; a damaged
 * gateway list is reported, not copied. */
static void test_radio_metadata(void **state)
{
    struct fixture *f = *state;
    struct frame_record rec = make_record("70b3d57ed0000002", 1000, 2, 3);
    snprintf(rec.transport, sizeof(rec.transport), "semtech-udp");
    rec.radio = (struct frame_radio){.has_lorawan = true,
                                     .fcnt = 65537,
                                     .fport = 1,
                                     .rssi_dbm = -120,
                                     .snr_db = -9.5f,
                                     .freq_hz = 868300000,
                                     .datr = "SF12BW125",
                                     .n_gateways = 2,
                                     .gateways = {"aa555a0000000001", "aa555a0000000002"}};
    int64_t id = append(f->j, &rec);
    struct frame_record plain = make_record("70b3d57ed0000002", 1001, 3, 3);
    append(f->j, &plain);
    size_t n = 0;
    assert_int_equal(journal_read_pending(f->j, 0, frames, 16, &n), 0);
    assert_int_equal(n, 2);
    assert_false(frames[0].damaged);
    assert_memory_equal(&frames[0].record.radio, &rec.radio, sizeof(rec.radio));
    assert_false(frames[1].record.radio.has_lorawan);

    assert_int_equal(journal_move_to_quarantine(f->j, id, "later"), 0);
    static struct journal_quarantine_entry entries[2];
    assert_int_equal(journal_read_quarantine(f->j, 0, entries, 2, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(entries[0].record.radio.fcnt, 65537);
    assert_string_equal(entries[0].record.radio.gateways[1], "aa555a0000000002");

    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "UPDATE frames SET fcnt = 1, gateways = 'zz,aa'", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(journal_read_pending(f->j, 0, frames, 16, &n), 0);
    assert_true(frames[0].damaged);
    assert_non_null(strstr(frames[0].damage, "gateway list"));
}

/* Rows are untrusted on the way back in: a row someone damaged on disk is reported with
 * the reason, and its bytes are not copied past the record's buffer. */
static void test_damaged_rows(void **state)
{
    struct fixture *f = *state;
    struct frame_record ok = make_record("70b3d57ed0000001", 1000, 1, 4);
    append(f->j, &ok);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO frames(device, transport, source, received_ms, "
                                  "payload) VALUES ('not-an-eui', 'coap', 'x', 1, x'00');"
                                  "INSERT INTO frames(device, transport, source, received_ms, "
                                  "payload) VALUES ('70b3d57ed0000001', 'coap', 'x', 1, "
                                  "zeroblob(5000));"
                                  "INSERT INTO frames(device, transport, source, received_ms, "
                                  "payload) VALUES ('70b3d57ed0000001', "
                                  "'a-transport-name-far-too-long', 'x', 1, x'00');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    size_t n = 0;
    assert_int_equal(journal_read_pending(f->j, 0, frames, 16, &n), 0);
    assert_int_equal(n, 4);
    assert_false(frames[0].damaged);
    assert_true(frames[1].damaged);
    assert_non_null(strstr(frames[1].damage, "device id"));
    assert_true(frames[2].damaged);
    assert_non_null(strstr(frames[2].damage, "payload larger"));
    assert_int_equal(frames[2].record.payload_len, 0);
    assert_true(frames[3].damaged);
    assert_non_null(strstr(frames[3].damage, "transport"));
}

static void test_schema_versions(void **state)
{
    struct fixture *f = *state;
    journal_close(f->j);
    f->j = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    int64_t version = 0;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    version = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    assert_int_equal(version, JOURNAL_SCHEMA_VERSION);
    /* a journal written by a newer sensorbro is refused, not misread */
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char err[256];
    assert_int_equal(journal_open(&f->j, f->path, &rw, err, sizeof(err)), -1);
    assert_null(f->j);
    assert_non_null(strstr(err, "journal schema version 99 is newer"));
}

/* An uplink as an adapter hands it over after decoding: seq and status known. */
static struct frame_record make_uplink(const char *device, int64_t received_ms, uint32_t seq,
                                       uint8_t fill, uint32_t status)
{
    struct frame_record rec = make_record(device, received_ms, fill, 6);
    rec.has_uplink = true;
    rec.seq = seq;
    rec.status = status;
    return rec;
}

/* Appends rec in a transaction of its own; returns the journal_append result. */
static int append_uplink(struct journal *j, const struct frame_record *rec, int64_t *id)
{
    assert_int_equal(journal_begin(j), 0);
    int rc = journal_append(j, rec, id);
    assert_int_equal(journal_commit(j), 0);
    return rc;
}

/* The epoch journal_read_pending reports for the frame with this id. */
static int64_t epoch_of(struct journal *j, int64_t id)
{
    size_t n = 0;
    assert_int_equal(journal_read_pending(j, id - 1, frames, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(frames[0].id, id);
    assert_false(frames[0].damaged);
    return frames[0].epoch;
}

#define T0_MS 1795425600123LL /* 2026-11-23T09:20:00.123Z */
#define T0_S  1795425600LL

/* Epochs: stable while seq goes up or repeats, new when seq goes back or repeats flagged
 * nvm_reset, never smaller than before, and kept across a reopen (rw has no resend window: the
 * same frame stored again keeps its id). */
static void test_epochs(void **state)
{
    struct fixture *f = *state;
    const char *a = "70b3d57ed00000a1", *b = "70b3d57ed00000b2";
    int64_t id;
    struct frame_record r = make_uplink(a, T0_MS, 5, 1, 0);
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    int64_t e1 = epoch_of(f->j, id);
    assert_int_equal(e1, T0_S); /* the first frame: a new epoch, its reception second */
    r = make_uplink(a, T0_MS + 1000, 6, 2, 0);
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    assert_int_equal(epoch_of(f->j, id), e1);
    r = make_uplink(a, T0_MS + 2000, 1000, 3, UPLINK_STATUS_REBOOTED); /* a jump forward */
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    assert_int_equal(epoch_of(f->j, id), e1);
    /* the same seq and bytes again (a resend, no window here): the same id */
    r = make_uplink(a, T0_MS + 2100, 1001, 3, 0);
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    assert_int_equal(epoch_of(f->j, id), e1);

    /* another device has its own epoch */
    struct frame_record other = make_uplink(b, T0_MS + 2500, 1000, 3, 0);
    assert_int_equal(append_uplink(f->j, &other, &id), 0);
    assert_int_equal(epoch_of(f->j, id), T0_S + 2);

    /* seq goes back (NVM lost): a new epoch, so <device>-<epoch>-0 is not the old seq 0's
     * id; within the same second as the last epoch it is one more */
    r = make_uplink(a, T0_MS + 3000, 0, 4, UPLINK_STATUS_REBOOTED | UPLINK_STATUS_NVM_RESET);
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    int64_t e2 = epoch_of(f->j, id);
    assert_int_equal(e2, T0_S + 3);
    /* seq 0 again with other bytes, unflagged: that uplink re-encoded for a retry (its
     * age_s moved on), the same reading: the same id; rebooted alone changes nothing */
    r = make_uplink(a, T0_MS + 3100, 0, 5, UPLINK_STATUS_REBOOTED);
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    assert_int_equal(epoch_of(f->j, id), e2);
    /* seq 0 again flagged nvm_reset: the sequence started over once more */
    r = make_uplink(a, T0_MS + 3200, 0, 6, UPLINK_STATUS_NVM_RESET);
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    int64_t e3 = epoch_of(f->j, id);
    assert_int_equal(e3, e2 + 1); /* in the same second as e2: one more */
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    int64_t e4 = epoch_of(f->j, id);
    assert_int_equal(e4, e3 + 1);

    /* the clock went back, seq too: epochs still only grow */
    r = make_uplink(a, T0_MS - 86400000, 0, 7, UPLINK_STATUS_NVM_RESET);
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    int64_t e5 = epoch_of(f->j, id);
    assert_int_equal(e5, e4 + 1);

    /* a frame appended without its decode (has_uplink false) has no epoch */
    struct frame_record raw = make_record(a, T0_MS + 4000, 9, 3);
    assert_int_equal(append_uplink(f->j, &raw, &id), 0);
    assert_int_equal(epoch_of(f->j, id), 0);

    /* the epoch is on disk with the device's last seq: after a reopen, seq 1 goes on in it */
    journal_close(f->j);
    char err[256];
    assert_int_equal(journal_open(&f->j, f->path, &rw, err, sizeof(err)), 0);
    r = make_uplink(a, T0_MS + 5000, 1, 8, 0);
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    assert_int_equal(epoch_of(f->j, id), e5);

    size_t n = 0;
    assert_int_equal(journal_read_pending(f->j, 0, frames, 16, &n), 0);
    assert_int_equal(n, 13);
}

/* The epochs journal_append keeps in memory (journal.c's cache) follow the table: a rolled
 * back append leaves the device as it was, and more devices than the cache holds (it is
 * emptied when full and read again) keep their epochs. */
static void test_epochs_after_rollback_and_many_devices(void **state)
{
    struct fixture *f = *state;
    const char *a = "70b3d57ed00000a1";
    int64_t id;
    struct frame_record r = make_uplink(a, T0_MS, 10, 1, 0);
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    assert_int_equal(epoch_of(f->j, id), T0_S);
    /* seq goes back in a transaction that is rolled back: that new epoch never existed */
    assert_int_equal(journal_begin(f->j), 0);
    r = make_uplink(a, T0_MS + 5000, 3, 2, UPLINK_STATUS_NVM_RESET);
    assert_int_equal(journal_append(f->j, &r, &id), 0);
    journal_rollback(f->j);
    /* seq 11 follows seq 10 on disk: the first epoch still */
    r = make_uplink(a, T0_MS + 6000, 11, 3, 0);
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    assert_int_equal(epoch_of(f->j, id), T0_S);

    /* 20,000 devices in one transaction (more than the cache's 12,288), then each again with
     * the next seq: every one keeps its epoch, its first frame's reception second */
    enum { DEVICES = 20000 };
    char dev[FRAME_DEVICE_ID_SIZE];
    for (int round = 0; round < 2; round++) {
        assert_int_equal(journal_begin(f->j), 0);
        for (int i = 0; i < DEVICES; i++) {
            snprintf(dev, sizeof(dev), "70b3d57e%08x", (unsigned)i);
            r = make_uplink(dev, T0_MS + (int64_t)i * 1000 + round, (uint32_t)(1 + round), 4, 0);
            assert_int_equal(journal_append(f->j, &r, &id), 0);
        }
        assert_int_equal(journal_commit(f->j), 0);
    }
    size_t n = 0;
    int64_t after = id - 2 * DEVICES;
    size_t seen = 0;
    while (seen < 2 * DEVICES) {
        assert_int_equal(journal_read_pending(f->j, after, frames, 16, &n), 0);
        assert_true(n > 0);
        for (size_t k = 0; k < n; k++, seen++) {
            unsigned i = (unsigned)(seen % DEVICES);
            snprintf(dev, sizeof(dev), "70b3d57e%08x", i);
            assert_string_equal(frames[k].record.device, dev);
            assert_int_equal(frames[k].epoch, T0_S + (int64_t)i);
            after = frames[k].id;
        }
    }
}

/* Resends: the same device, seq and bytes within the window are stored once, also after
 * the first copy was published and after a reopen; outside the window, with other bytes or
 * for another device, a frame is stored. */
static void test_resends(void **state)
{
    struct fixture *f = *state;
    journal_close(f->j);
    struct journal_options windowed = rw;
    windowed.resend_window_ms = 60000;
    char err[256];
    assert_int_equal(journal_open(&f->j, f->path, &windowed, err, sizeof(err)), 0);

    const char *a = "70b3d57ed00000a1";
    int64_t first, id;
    struct frame_record r = make_uplink(a, T0_MS, 42, 1, 0);
    assert_int_equal(append_uplink(f->j, &r, &first), 0);
    r.received_ms = T0_MS + 30000;
    assert_int_equal(append_uplink(f->j, &r, &id), JOURNAL_APPEND_RESEND);
    assert_int_equal(id, first);

    /* two copies in one transaction: the second sees the first */
    struct frame_record twice = make_uplink(a, T0_MS + 100, 43, 2, 0);
    int64_t i1, i2;
    assert_int_equal(journal_begin(f->j), 0);
    assert_int_equal(journal_append(f->j, &twice, &i1), 0);
    assert_int_equal(journal_append(f->j, &twice, &i2), JOURNAL_APPEND_RESEND);
    assert_int_equal(journal_commit(f->j), 0);
    assert_int_equal(i1, i2);

    /* published, then sent again after a reopen: still the same frame */
    assert_int_equal(journal_mark_published(f->j, first, T0_MS + 1), 0);
    journal_close(f->j);
    assert_int_equal(journal_open(&f->j, f->path, &windowed, err, sizeof(err)), 0);
    r.received_ms = T0_MS + 59000;
    assert_int_equal(append_uplink(f->j, &r, &id), JOURNAL_APPEND_RESEND);
    assert_int_equal(id, first);

    struct journal_stats st;
    assert_int_equal(journal_stats(f->j, &st), 0);
    assert_int_equal(st.pending_frames, 1);
    assert_int_equal(st.published_frames, 1);

    /* other bytes under the same seq, another device, or outside the window: stored */
    struct frame_record changed = make_uplink(a, T0_MS + 40000, 42, 9, 0);
    assert_int_equal(append_uplink(f->j, &changed, &id), 0);
    struct frame_record elsewhere = make_uplink("70b3d57ed00000b2", T0_MS + 40000, 42, 1, 0);
    assert_int_equal(append_uplink(f->j, &elsewhere, &id), 0);
    r.received_ms = T0_MS + 60001;
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    assert_true(id > first);
    assert_int_equal(journal_stats(f->j, &st), 0);
    assert_int_equal(st.pending_frames, 4);
}

static int64_t query(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    int rc = sqlite3_step(st);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
}

/* A version-5 journal with pending and published frames is carried forward: its rows keep
 * everything and read with epoch 0 (their legacy id, render.h), and new frames get epochs.
 * The version-5 file is made by taking the current schema back: 8's progress table, 7's
 * settings tables and 6's index, columns and table dropped, which leaves the tables and
 * columns of version 5. */
static void test_migration_from_v5(void **state)
{
    struct fixture *f = *state;
    journal_close(f->j);
    f->j = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP TABLE output_progress;" /* 8 -> 7 */
                                  /* 7 -> 6: the registry's settings (the CHECK of
                                   * devices, wider now, does not matter here) */
                                  "DROP TRIGGER devices_inserted;"
                                  "DROP TRIGGER devices_deleted;"
                                  "DROP TRIGGER devices_renamed;"
                                  "DROP TABLE device_settings;"
                                  "DROP TABLE registry_generation;"
                                  "ALTER TABLE devices ADD COLUMN labels TEXT NOT NULL "
                                  "DEFAULT '{}';"
                                  /* 6 -> 5 */
                                  "DROP INDEX frames_device_seq;"
                                  "DROP TABLE device_epochs;"
                                  "ALTER TABLE frames DROP COLUMN heard_ms;"
                                  "ALTER TABLE frames DROP COLUMN seq;"
                                  "ALTER TABLE frames DROP COLUMN epoch;"
                                  "ALTER TABLE quarantine DROP COLUMN heard_ms;"
                                  "PRAGMA user_version = 5;"
                                  /* what a version-5 sensorbro left: two frames of one
                                   * device, one published, one pending, and a quarantined */
                                  "INSERT INTO frames(device, transport, source, received_ms, "
                                  "payload, published_ms) VALUES ('70b3d57ed00000a1', 'coap', "
                                  "'x', 1000, x'0801', 2000);"
                                  "INSERT INTO frames(device, transport, source, received_ms, "
                                  "payload, fcnt) VALUES ('70b3d57ed00000a1', 'lns-mqtt', 'y', "
                                  "3000, x'0802', 17);"
                                  "INSERT INTO quarantine(device, transport, source, "
                                  "received_ms, payload, reason) VALUES ('70b3d57ed00000a1', "
                                  "'coap', 'z', 4000, x'ff', 'bad');",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(query(db, "SELECT count(*) FROM pragma_table_info('frames') WHERE name "
                               "IN ('seq', 'epoch', 'heard_ms')"),
                     0);
    sqlite3_close(db);

    char err[256];
    /* sensorbroctl (read-only) asks for the daemon to migrate first */
    assert_int_equal(journal_open(&f->j, f->path, &ro, err, sizeof(err)), -1);
    char expected[64];
    snprintf(expected, sizeof(expected), "schema version 5, expected %d", JOURNAL_SCHEMA_VERSION);
    assert_non_null(strstr(err, expected));
    assert_int_equal(journal_open(&f->j, f->path, &rw, err, sizeof(err)), 0);

    size_t n = 0;
    assert_int_equal(journal_read_pending(f->j, 0, frames, 16, &n), 0);
    assert_int_equal(n, 1);
    assert_false(frames[0].damaged);
    assert_int_equal(frames[0].epoch, 0);
    assert_int_equal(frames[0].record.received_ms, 3000);
    assert_int_equal(frames[0].record.heard_ms, 0);
    assert_int_equal(frames[0].record.radio.fcnt, 17);
    static struct journal_quarantine_entry entries[2];
    assert_int_equal(journal_read_quarantine(f->j, 0, entries, 2, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(entries[0].reason, "bad");

    /* the first frame after the migration opens the device's first epoch */
    struct frame_record r = make_uplink("70b3d57ed00000a1", T0_MS, 3, 1, 0);
    r.heard_ms = T0_MS - 3600000;
    int64_t id;
    assert_int_equal(append_uplink(f->j, &r, &id), 0);
    assert_int_equal(epoch_of(f->j, id), T0_S);
    assert_int_equal(frames[0].record.heard_ms, T0_MS - 3600000);

    journal_close(f->j);
    f->j = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(query(db, "PRAGMA user_version"), JOURNAL_SCHEMA_VERSION);
    assert_int_equal(query(db, "SELECT count(*) FROM frames WHERE epoch IS NULL"), 2);
    assert_int_equal(query(db, "SELECT last_seq FROM device_epochs"), 3);
    assert_int_equal(query(db, "SELECT epoch FROM device_epochs"), T0_S);
    sqlite3_close(db);
    assert_int_equal(journal_open(&f->j, f->path, &rw, err, sizeof(err)), 0);
}

static void test_open_errors(void **state)
{
    (void)state;
    char err[256];
    struct journal *j;
    assert_int_equal(journal_open(&j, "/nonexistent-dir/j.db", &rw, err, sizeof(err)), -1);
    assert_null(j);
    assert_non_null(strstr(err, "/nonexistent-dir/j.db"));
    /* not a database: refused with the path named */
    char path[] = "/tmp/test_journal_garbage.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char garbage[4096];
    memset(garbage, 'x', sizeof(garbage));
    assert_int_equal(write(fd, garbage, sizeof(garbage)), (ssize_t)sizeof(garbage));
    close(fd);
    assert_int_equal(journal_open(&j, path, &rw, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
    unlink(path);
}

/* Opening and closing more connections, in this process and in another, must leave the
 * first connection's WAL in place: nothing may drop its POSIX locks (a plain open()/close()
 * of the database file does). Once that happened, another process's last close believed it
 * was alone, checkpointed and deleted the WAL that the first connection kept committing
 * into, invisible to everyone else (issue 8). */
static void test_other_connections_keep_the_wal(void **state)
{
    struct fixture *f = *state;
    char err[256];
    struct frame_record rec = make_record("70b3d57ed0000001", 1000, 1, 8);
    assert_int_equal(journal_begin(f->j), 0);
    append(f->j, &rec);
    assert_int_equal(journal_commit(f->j), 0);
    char wal[128];
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    struct stat before;
    assert_int_equal(stat(wal, &before), 0);

    /* a second writable connection in this process, opened and closed (the registry does
     * this at start) */
    struct journal *other;
    assert_int_equal(journal_open(&other, f->path, &rw, err, sizeof(err)), 0);
    journal_close(other);
    /* and one in another process (sensorbroctl). A forked child would share this
     * process's SQLite bookkeeping of locks, so it runs this program anew. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        execl("/proc/self/exe", "test_journal", "--open-and-close", f->path, (char *)NULL);
        _exit(127);
    }
    int status = -1;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    struct stat after;
    assert_int_equal(stat(wal, &after), 0);
    assert_true(after.st_ino == before.st_ino);
    /* what the first connection commits now is seen by a new one */
    rec = make_record("70b3d57ed0000001", 2000, 2, 8);
    assert_int_equal(journal_begin(f->j), 0);
    append(f->j, &rec);
    assert_int_equal(journal_commit(f->j), 0);
    struct journal *reader;
    assert_int_equal(journal_open(&reader, f->path, &ro, err, sizeof(err)), 0);
    struct journal_stats st;
    assert_int_equal(journal_stats(reader, &st), 0);
    assert_int_equal(st.pending_frames, 2);
    journal_close(reader);
}

/* test_journal --open-and-close PATH: the other process of
 * test_other_connections_keep_the_wal. */
static int open_and_close(const char *path)
{
    char err[256];
    struct journal *j;
    if (journal_open(&j, path, &rw, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    journal_close(j);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--open-and-close") == 0)
        return open_and_close(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit_and_read_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_stores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mark_published_and_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_after_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trim_only_old_published, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_radio_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_connections_keep_the_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epochs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_epochs_after_rollback_and_many_devices, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_resends, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_v5, setup, teardown),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
