/*
 * test_journal.c - journal.c on a real SQLite file in a temporary directory: commit, read
 * back in order, mark published after ack, reopen after close, quarantine, trimming, ids
 * never reused, damaged rows on disk, schema versions.
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

#include "journal.h"

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
        cmocka_unit_test_setup_teardown(test_reopen_after_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trim_only_old_published, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_radio_metadata, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_connections_keep_the_wal, setup, teardown),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
