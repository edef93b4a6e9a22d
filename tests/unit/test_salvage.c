/*
 * test_salvage.c - store/salvage.c on real files: a sound journal is copied whole (ids,
 * pending and published states, quarantine, counters, epochs); a journal with garbage over
 * pages in the middle of its frames gives up only the rows on them, the copy passes the
 * full integrity check and the damaged file is left byte for byte; a journal of an older
 * schema is salvaged into the current one; an existing output is never overwritten.
 * faults/damaged_journal runs the same through sensorbroctl on a daemon's journal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/journal.h"
#include "store/salvage.h"

#define FRAMES 3000

static char dir[64];
static unsigned n_files;

static const struct journal_options rw = {.synchronous = JOURNAL_SYNC_NORMAL,
                                          .busy_timeout_ms = 1000};
static const struct journal_options ro = {.read_only = true, .busy_timeout_ms = 1000};

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_salvage.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void new_path(char out[128])
{
    snprintf(out, 128, "%s/db-%u", dir, n_files++);
}

static int64_t query(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    int rc = sqlite3_step(st);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* A journal of FRAMES uplinks of 4 devices (every third published), 2 quarantined frames
 * and a counter, closed (checkpointed: everything in the main file). */
static void make_journal(const char *path)
{
    char err[512];
    struct journal *j;
    if (journal_open(&j, path, &rw, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(journal_begin(j), 0);
    for (int i = 0; i < FRAMES; i++) {
        struct frame_record rec;
        memset(&rec, 0, sizeof(rec));
        snprintf(rec.device, sizeof(rec.device), "70b3d57ed00000a%d", i % 4);
        snprintf(rec.transport, sizeof(rec.transport), "coap");
        snprintf(rec.source, sizeof(rec.source), "192.0.2.1:5683");
        rec.received_ms = 1795425600000LL + i;
        rec.payload_len = 64;
        memset(rec.payload, i & 0xff, rec.payload_len);
        rec.has_uplink = true;
        rec.seq = (uint32_t)(i / 4);
        int64_t id;
        assert_int_equal(journal_append(j, &rec, &id), 0);
        assert_int_equal(id, i + 1);
        if (i % 3 == 0)
            assert_int_equal(journal_mark_published(j, id, rec.received_ms + 5), 0);
        if (i < 2)
            assert_int_equal(journal_quarantine(j, &rec, "bad", &id), 0);
    }
    assert_int_equal(journal_add_counter(j, "dropped_journal_full", 7), 0);
    assert_int_equal(journal_commit(j), 0);
    journal_close(j);
}

static void sha_of(const char *path, char out[128])
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "sha256sum < '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, 128, p));
    pclose(p);
}

static int check_full(const char *path)
{
    char err[512];
    struct journal *j;
    const struct journal_options opts = {.busy_timeout_ms = 1000, .inspect_only = true};
    assert_int_equal(journal_open(&j, path, &opts, err, sizeof(err)), 0);
    int sound = journal_check_integrity(j, true, 20, NULL, NULL);
    journal_close(j);
    return sound;
}

static void test_sound_journal_copied_whole(void **state)
{
    (void)state;
    char src[128], out[128], err[512];
    new_path(src);
    new_path(out);
    make_journal(src);
    struct salvage_report report;
    if (salvage_journal(src, out, &report, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(report.n_tables, 4);
    assert_string_equal(report.tables[0].name, "frames");
    assert_int_equal(report.tables[0].rows, FRAMES);
    assert_int_equal(report.tables[0].damaged_ranges, 0);
    assert_int_equal(report.tables[1].rows, 2);
    assert_int_equal(report.tables[2].rows, 1);
    assert_int_equal(report.tables[3].rows, 4);
    assert_int_equal(check_full(out), 1);

    /* the copy is a journal of this version, with the same ids and states */
    struct journal *j;
    assert_int_equal(journal_open(&j, out, &ro, err, sizeof(err)), 0);
    struct journal_stats st;
    assert_int_equal(journal_stats(j, &st), 0);
    assert_int_equal(st.pending_frames, FRAMES - FRAMES / 3);
    assert_int_equal(st.published_frames, FRAMES / 3);
    assert_int_equal(st.quarantined_frames, 2);
    assert_int_equal(st.last_frame_id, FRAMES);
    assert_int_equal(st.dropped_journal_full, 7);
    static struct journal_frame frames[2];
    size_t n = 0;
    assert_int_equal(journal_read_pending(j, 0, frames, 2, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(frames[0].id, 2); /* id 1 was published */
    assert_false(frames[0].damaged);
    assert_int_equal(frames[0].epoch, 1795425600);
    assert_int_equal(frames[0].record.payload[0], 1);
    journal_close(j);
    assert_int_equal(query(out, "SELECT last_seq FROM device_epochs WHERE device = "
                                "'70b3d57ed00000a3'"),
                     (FRAMES - 1) / 4);
    struct stat sb;
    assert_int_equal(stat(out, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* an existing output is never written over */
    struct stat before;
    assert_int_equal(stat(out, &before), 0);
    assert_int_equal(salvage_journal(src, out, &report, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "exists"));
    assert_int_equal(stat(out, &sb), 0);
    assert_int_equal(sb.st_mtime, before.st_mtime);
    assert_int_equal(sb.st_size, before.st_size);
}

static void test_damaged_pages_cost_their_rows(void **state)
{
    (void)state;
    char src[128], out[128], err[512];
    new_path(src);
    new_path(out);
    make_journal(src);
    struct stat sb;
    assert_int_equal(stat(src, &sb), 0);
    long pages = (long)(sb.st_size / 4096);
    assert_true(pages > 40);
    /* 4 pages of garbage a third of the way in */
    FILE *f = fopen(src, "r+");
    assert_non_null(f);
    assert_int_equal(fseek(f, pages / 3 * 4096, SEEK_SET), 0);
    for (int i = 0; i < 4 * 4096; i++)
        fputc((i * 7919 + 13) & 0xff, f);
    fclose(f);
    assert_int_equal(check_full(src), 0);
    char before[128], after[128];
    sha_of(src, before);

    struct salvage_report report;
    if (salvage_journal(src, out, &report, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    sha_of(src, after);
    assert_string_equal(before, after);
    int64_t rows = report.tables[0].rows;
    assert_true(rows >= FRAMES * 3 / 4);
    assert_true(rows < FRAMES);
    assert_true(report.tables[0].damaged_ranges >= 1);
    assert_int_equal(check_full(out), 1);
    assert_int_equal(query(out, "SELECT count(*) FROM frames"), rows);
    /* what came across is what was there: the payload still matches its id */
    assert_int_equal(query(out, "SELECT count(*) FROM frames WHERE hex(payload) != "
                                "replace(hex(zeroblob(64)), '00', printf('%02X', (id - 1) % 256))"),
                     0);
}

/* A journal of schema 5 (before message epochs) is read as it is and lands in the
 * current schema; its frames keep their ids and have no epoch. */
static void test_older_schema(void **state)
{
    (void)state;
    char src[128], out[128], err[512];
    new_path(src);
    new_path(out);
    make_journal(src);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(src, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "DROP INDEX frames_device_seq; DROP TABLE device_epochs;"
                                  "ALTER TABLE frames DROP COLUMN epoch;"
                                  "ALTER TABLE frames DROP COLUMN seq;"
                                  "ALTER TABLE frames DROP COLUMN heard_ms;"
                                  "ALTER TABLE quarantine DROP COLUMN heard_ms;"
                                  "PRAGMA user_version = 5;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    struct salvage_report report;
    if (salvage_journal(src, out, &report, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(report.tables[0].rows, FRAMES);
    assert_true(report.tables[3].unreadable); /* device_epochs: not in schema 5 */
    assert_int_equal(query(out, "PRAGMA user_version"), JOURNAL_SCHEMA_VERSION);
    assert_int_equal(query(out, "SELECT count(*) FROM frames WHERE epoch IS NULL"), FRAMES);
    assert_int_equal(query(out, "SELECT max(id) FROM frames"), FRAMES);
    assert_int_equal(query(src, "PRAGMA user_version"), 5); /* not migrated */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sound_journal_copied_whole),
        cmocka_unit_test(test_damaged_pages_cost_their_rows),
        cmocka_unit_test(test_older_schema),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
