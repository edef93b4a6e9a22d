/*
 * test_schema.c - store/schema.c on real files in a temporary directory: a fresh file gets
 * every table of the journal and the registry, mode 0600, WAL and the pragmas asked for; a
 * file of each older version (0 to SCHEMA_VERSION - 1) is migrated to exactly the schema of
 * a fresh one with its rows kept; a newer file is refused, read-only opens neither create
 * nor migrate, inspection opens anything; the integrity check finds garbage and tells a
 * lock (held longer than the busy timeout) from damage; the busy timeout covers the check.
 */
#include <pthread.h>
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

#include "store/schema.h"

static char dir[64];
static unsigned n_files;

static const struct schema_options rw = {
    .access = SCHEMA_READ_WRITE, .synchronous = SCHEMA_SYNC_FULL, .busy_timeout_ms = 1000};
static const struct schema_options ro = {.access = SCHEMA_READ_ONLY, .busy_timeout_ms = 1000};
static const struct schema_options inspect = {.access = SCHEMA_INSPECT, .busy_timeout_ms = 1000};

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_schema.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A path in the test directory that does not exist yet (static buffer). */
static const char *new_path(void)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/db-%u", dir, n_files++);
    return path;
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

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

static sqlite3 *open_rw(const char *path)
{
    char err[512];
    sqlite3 *db = NULL;
    if (schema_open(&db, path, &rw, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    return db;
}

/* The schema as text: every table's columns (name, type, not null, default, key) and every
 * index's definition, in name order, so that two files can be compared whatever the text
 * ALTER TABLE left in sqlite_master. */
static void describe(sqlite3 *db, char *out, size_t out_size)
{
    size_t used = 0;
    out[0] = '\0';
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT m.type, m.name, p.name, p.type, p.\"notnull\", "
                                        "coalesce(p.dflt_value, ''), p.pk FROM sqlite_master m "
                                        "JOIN pragma_table_info(m.name) p WHERE m.type = 'table' "
                                        "UNION ALL SELECT type, name, '', coalesce(sql, ''), 0, "
                                        "'', 0 FROM sqlite_master WHERE type = 'index' "
                                        "ORDER BY 1, 2",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        int n = snprintf(
            out + used, out_size - used, "%s %s %s %s %d %s %d\n", sqlite3_column_text(st, 0),
            sqlite3_column_text(st, 1), sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
            sqlite3_column_int(st, 4), sqlite3_column_text(st, 5), sqlite3_column_int(st, 6));
        assert_true(n > 0 && (size_t)n < out_size - used);
        used += (size_t)n;
    }
    sqlite3_finalize(st);
}

static void test_fresh_file(void **state)
{
    (void)state;
    const char *path = new_path();
    sqlite3 *db = open_rw(path);
    assert_int_equal(query(db, "PRAGMA user_version"), SCHEMA_VERSION);
    static const char *const tables[] = {
        "frames",   "quarantine", "devices",       "dev_nonces",      "downlinks",
        "counters", "status",     "device_epochs", "device_settings", "registry_generation"};
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM sqlite_master WHERE name = '%s'",
                 tables[i]);
        assert_int_equal(query(db, sql), 1);
    }
    assert_int_equal(query(db, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    assert_int_equal(query(db, "PRAGMA synchronous"), 2); /* FULL */
    assert_int_equal(query(db, "PRAGMA foreign_keys"), 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    sqlite3_close(db);

    /* synchronous as asked; opening again changes nothing */
    const struct schema_options normal = {.access = SCHEMA_READ_WRITE,
                                          .synchronous = SCHEMA_SYNC_NORMAL};
    char err[512];
    assert_int_equal(schema_open(&db, path, &normal, err, sizeof(err)), 0);
    assert_int_equal(query(db, "PRAGMA synchronous"), 1);
    assert_int_equal(query(db, "PRAGMA user_version"), SCHEMA_VERSION);
    sqlite3_close(db);
}

/* Takes a fresh file back to version v, as the sensorbro of that version left it: what
 * each later migration added is dropped, newest first. Rows are added at version v. */
static void take_back(sqlite3 *db, int v)
{
    static const char *const undo[SCHEMA_VERSION] = {
        /* 1 -> 0 */
        "DROP TABLE frames; DROP TABLE quarantine;",
        /* 2 -> 1 */
        "ALTER TABLE frames DROP COLUMN gateways; ALTER TABLE frames DROP COLUMN datr;"
        "ALTER TABLE frames DROP COLUMN freq_hz; ALTER TABLE frames DROP COLUMN snr_db;"
        "ALTER TABLE frames DROP COLUMN rssi_dbm; ALTER TABLE frames DROP COLUMN fport;"
        "ALTER TABLE frames DROP COLUMN fcnt;"
        "ALTER TABLE quarantine DROP COLUMN gateways; ALTER TABLE quarantine DROP COLUMN datr;"
        "ALTER TABLE quarantine DROP COLUMN freq_hz; ALTER TABLE quarantine DROP COLUMN snr_db;"
        "ALTER TABLE quarantine DROP COLUMN rssi_dbm; ALTER TABLE quarantine DROP COLUMN fport;"
        "ALTER TABLE quarantine DROP COLUMN fcnt;",
        /* 3 -> 2 */
        "DROP INDEX frames_device_fcnt; DROP TABLE downlinks; DROP TABLE dev_nonces;"
        "DROP TABLE devices;",
        /* 4 -> 3 */
        "DROP TABLE counters;",
        /* 5 -> 4 */
        "DROP TABLE status;",
        /* 6 -> 5 */
        "DROP INDEX frames_device_seq; DROP TABLE device_epochs;"
        "ALTER TABLE frames DROP COLUMN epoch; ALTER TABLE frames DROP COLUMN seq;"
        "ALTER TABLE frames DROP COLUMN heard_ms; ALTER TABLE quarantine DROP COLUMN heard_ms;",
        /* 7 -> 6: devices as schema 3 made it (labels JSON, activation abp/otaa), the labels
         * back from the label.* settings; foreign keys off for the rebuild, as the
         * migration does it */
        "PRAGMA foreign_keys=OFF;"
        "DROP TABLE registry_generation;"
        "CREATE TABLE devices_old ("
        "  dev_eui TEXT PRIMARY KEY,"
        "  name TEXT NOT NULL DEFAULT '',"
        "  labels TEXT NOT NULL DEFAULT '{}',"
        "  activation TEXT NOT NULL CHECK (activation IN ('abp', 'otaa')),"
        "  dev_addr INTEGER, nwk_s_key BLOB, app_s_key BLOB, join_eui TEXT, app_key BLOB,"
        "  fcnt_up INTEGER, fcnt_down INTEGER NOT NULL DEFAULT 0,"
        "  app_nonce INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,"
        "  session_frame_id INTEGER NOT NULL DEFAULT 0,"
        "  session_quarantine_id INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO devices_old SELECT dev_eui, name, coalesce((SELECT json_group_object("
        "  substr(s.key, 7), s.value) FROM device_settings s WHERE s.dev_eui = d.dev_eui AND"
        "  s.key LIKE 'label.%'), '{}'), activation, dev_addr, nwk_s_key, app_s_key, join_eui,"
        "  app_key, fcnt_up, fcnt_down, app_nonce, created_ms, session_frame_id,"
        "  session_quarantine_id FROM devices d;"
        "DROP TABLE device_settings; DROP TABLE devices;"
        "ALTER TABLE devices_old RENAME TO devices;"
        "CREATE UNIQUE INDEX devices_dev_addr ON devices(dev_addr) WHERE dev_addr IS NOT NULL;"
        "PRAGMA foreign_keys=ON;",
        /* 8 -> 7 */
        "DROP TABLE output_progress;",
    };
    for (int from = SCHEMA_VERSION; from > v; from--)
        exec(db, undo[from - 1]);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v);
    exec(db, sql);
    if (v >= 1)
        exec(db, "INSERT INTO frames(device, transport, source, received_ms, payload, "
                 "published_ms) VALUES ('70b3d57ed00000a1', 'coap', 'x', 1000, x'0801', 2000);"
                 "INSERT INTO quarantine(device, transport, source, received_ms, payload, "
                 "reason) VALUES ('70b3d57ed00000a1', 'coap', 'z', 4000, x'ff', 'bad');");
    if (v >= 3)
        exec(db, "INSERT INTO devices(dev_eui, activation, created_ms) VALUES "
                 "('70b3d57ed00000a1', 'otaa', 5000);"
                 "INSERT INTO dev_nonces(dev_eui, nonce) VALUES ('70b3d57ed00000a1', 7);");
    if (v >= 4)
        exec(db, "INSERT INTO counters(name, value) VALUES ('dropped_journal_full', 3);");
    if (v >= 6) /* a pending frame with its epoch: schema 7 must leave it pending */
        exec(db, "INSERT INTO device_epochs(device, epoch, last_seq) VALUES "
                 "('70b3d57ed00000a1', 3, 9);"
                 "INSERT INTO frames(device, transport, source, received_ms, payload, epoch, "
                 "seq) VALUES ('70b3d57ed00000a1', 'coap', 'y', 3000, x'0802', 3, 9);");
}

/* Every older version is carried forward to the very schema a fresh file has, its rows
 * kept, one migration at a time; read-only opens refuse it until then. */
static void test_every_older_version_migrates(void **state)
{
    (void)state;
    static char fresh[16384], migrated[16384];
    sqlite3 *db = open_rw(new_path());
    describe(db, fresh, sizeof(fresh));
    sqlite3_close(db);
    assert_non_null(strstr(fresh, "table device_epochs last_seq INTEGER 1"));
    assert_non_null(strstr(fresh, "table output_progress delivered_id INTEGER 1"));

    for (int v = 0; v < SCHEMA_VERSION; v++) {
        char path[128];
        snprintf(path, sizeof(path), "%s", new_path());
        db = open_rw(path);
        take_back(db, v);
        sqlite3_close(db);

        char err[512];
        sqlite3 *reader = NULL;
        assert_int_equal(schema_open(&reader, path, &ro, err, sizeof(err)), -1);
        assert_null(reader);
        char want[96];
        snprintf(want, sizeof(want), "journal schema version %d, expected %d (start sensorbro", v,
                 SCHEMA_VERSION);
        assert_non_null(strstr(err, want));
        assert_non_null(strstr(err, path));

        db = open_rw(path);
        assert_int_equal(query(db, "PRAGMA user_version"), SCHEMA_VERSION);
        describe(db, migrated, sizeof(migrated));
        assert_string_equal(migrated, fresh);
        if (v >= 1) {
            assert_int_equal(query(db, "SELECT published_ms FROM frames WHERE device = "
                                       "'70b3d57ed00000a1' AND received_ms = 1000"),
                             2000);
            assert_int_equal(query(db, "SELECT count(*) FROM quarantine WHERE reason = 'bad'"), 1);
            assert_int_equal(query(db, "SELECT count(*) FROM frames WHERE epoch IS NULL AND "
                                       "seq IS NULL AND fcnt IS NULL"),
                             1);
        }
        if (v >= 3)
            assert_int_equal(query(db, "SELECT nonce FROM dev_nonces"), 7);
        if (v >= 4)
            assert_int_equal(query(db, "SELECT value FROM counters"), 3);
        if (v >= 6) {
            /* 6 -> 7: no output has progress, so the pending frame is pending for all */
            assert_int_equal(query(db, "SELECT count(*) FROM frames WHERE epoch = 3 AND seq = 9 "
                                       "AND published_ms IS NULL"),
                             1);
            assert_int_equal(query(db, "SELECT last_seq FROM device_epochs"), 9);
        }
        assert_int_equal(query(db, "SELECT count(*) FROM output_progress"), 0);
        sqlite3_close(db);
        assert_int_equal(schema_open(&reader, path, &ro, err, sizeof(err)), 0);
        sqlite3_close(reader);
    }
}

static int64_t query_text_is(sqlite3 *db, const char *sql, const char *want)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    int rc = sqlite3_step(st);
    const char *got = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int64_t same = got && strcmp(got, want) == 0;
    if (!same)
        fprintf(stderr, "%s: got \"%s\", expected \"%s\"\n", sql, got ? got : "(none)", want);
    sqlite3_finalize(st);
    return same;
}

/* 6 -> 7 on a registry in use: LoRaWAN devices with keys, sessions, labels (one of them
 * not JSON at all), DevNonces and downlinks (one sent, one queued, ids past a deleted one)
 * all carried over the rebuild of devices, the labels as label.* settings, and the
 * foreign keys intact: checked clean, still enforced, still cascading. */
static void test_registry_carried_to_7(void **state)
{
    (void)state;
    const char *path = new_path();
    sqlite3 *db = open_rw(path);
    take_back(db, 6);
    exec(db, "INSERT INTO devices(dev_eui, name, labels, activation, dev_addr, nwk_s_key, "
             "app_s_key, fcnt_up, fcnt_down, created_ms, session_frame_id) VALUES "
             "('70b3d57ed00000b1', 'Room 1.12', '{\"building\":\"town hall\",\"room\":\"1.12\"}',"
             " 'abp', 637606874, x'000102030405060708090a0b0c0d0e0f',"
             " x'0f0e0d0c0b0a09080706050403020100', 41, 7, 6000, 1);"
             "INSERT INTO devices(dev_eui, labels, activation, join_eui, app_key, app_nonce, "
             "created_ms) VALUES ('70b3d57ed00000b2', 'not json', 'otaa', '70b3d57ed00000aa', "
             "x'101112131415161718191a1b1c1d1e1f', 3, 7000);"
             "INSERT INTO dev_nonces(dev_eui, nonce) VALUES ('70b3d57ed00000b2', 11),"
             " ('70b3d57ed00000b2', 12);"
             "INSERT INTO downlinks(dev_eui, fport, payload, confirmed, created_ms, sent_ms) "
             "VALUES ('70b3d57ed00000b1', 2, x'0a', 0, 8000, 8100),"
             " ('70b3d57ed00000b1', 3, x'0b0c', 1, 8200, NULL),"
             " ('70b3d57ed00000b1', 4, x'0d', 0, 8300, NULL);"
             "DELETE FROM downlinks WHERE fport = 4;");
    sqlite3_close(db);

    db = open_rw(path);
    assert_int_equal(query(db, "PRAGMA user_version"), SCHEMA_VERSION);
    assert_int_equal(query(db, "PRAGMA foreign_keys"), 1);
    assert_int_equal(query(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    /* every column of every device, keys byte for byte */
    /* take_back's own device 70b3d57ed00000a1 and the two added here */
    assert_int_equal(query(db, "SELECT count(*) FROM devices"), 3);
    assert_int_equal(query(db,
                           "SELECT count(*) FROM devices WHERE dev_eui = '70b3d57ed00000b1' AND "
                           "name = 'Room 1.12' AND activation = 'abp' AND dev_addr = 637606874 AND "
                           "nwk_s_key = x'000102030405060708090a0b0c0d0e0f' AND "
                           "app_s_key = x'0f0e0d0c0b0a09080706050403020100' AND fcnt_up = 41 AND "
                           "fcnt_down = 7 AND created_ms = 6000 AND session_frame_id = 1"),
                     1);
    assert_int_equal(query(db,
                           "SELECT count(*) FROM devices WHERE dev_eui = '70b3d57ed00000b2' AND "
                           "activation = 'otaa' AND join_eui = '70b3d57ed00000aa' AND "
                           "app_key = x'101112131415161718191a1b1c1d1e1f' AND app_nonce = 3 AND "
                           "dev_addr IS NULL AND fcnt_up IS NULL"),
                     1);
    /* labels became settings; the one that was not JSON is left behind, not fatal */
    assert_true(query_text_is(db,
                              "SELECT group_concat(key || '=' || value, ';') FROM (SELECT * "
                              "FROM device_settings ORDER BY dev_eui, key)",
                              "label.building=town hall;label.room=1.12"));
    assert_int_equal(query(db, "SELECT count(*) FROM dev_nonces WHERE dev_eui = "
                               "'70b3d57ed00000b2'"),
                     2);
    assert_true(query_text_is(db,
                              "SELECT group_concat(id || ':' || fport || ':' || "
                              "coalesce(sent_ms, '-'), ' ') FROM downlinks",
                              "1:2:8100 2:3:-"));
    /* AUTOINCREMENT's high-water mark survived: a new downlink never reuses id 3 */
    exec(db, "INSERT INTO downlinks(dev_eui, fport, payload, confirmed, created_ms) VALUES "
             "('70b3d57ed00000b1', 5, x'', 0, 9000)");
    assert_int_equal(query(db, "SELECT max(id) FROM downlinks"), 4);
    /* the foreign keys point at the new devices table: enforced and cascading */
    assert_int_not_equal(sqlite3_exec(db,
                                      "INSERT INTO dev_nonces(dev_eui, nonce) VALUES "
                                      "('70b3d57ed00000ff', 1)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_not_equal(sqlite3_exec(db,
                                      "INSERT INTO device_settings(dev_eui, key, value, "
                                      "updated_ms) VALUES ('70b3d57ed00000ff', 'name', 'x', 1)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    int64_t generation = query(db, "SELECT value FROM registry_generation");
    exec(db, "DELETE FROM devices WHERE dev_eui = '70b3d57ed00000b1'");
    assert_int_equal(query(db, "SELECT count(*) FROM downlinks"), 0);
    assert_int_equal(query(db, "SELECT count(*) FROM device_settings"), 0);
    assert_true(query(db, "SELECT value FROM registry_generation") > generation);
    exec(db, "DELETE FROM devices WHERE dev_eui = '70b3d57ed00000b2'");
    assert_int_equal(query(db, "SELECT count(*) FROM dev_nonces WHERE dev_eui = "
                               "'70b3d57ed00000b2'"),
                     0);
    /* devices of every transport now; still no keys on one that is not activated here */
    exec(db, "INSERT INTO devices(dev_eui, activation, created_ms) VALUES "
             "('70b3d57ed00000c1', 'none', 1)");
    assert_int_not_equal(sqlite3_exec(db,
                                      "INSERT INTO devices(dev_eui, activation, app_key, "
                                      "created_ms) VALUES ('70b3d57ed00000c2', 'none', x'00', 1)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
    assert_int_equal(query(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    sqlite3_close(db);
}

/* A migration that would leave a row pointing at nothing is refused whole: the file stays
 * at its version, its rows as they were. */
static void test_migration_checks_foreign_keys(void **state)
{
    (void)state;
    const char *path = new_path();
    sqlite3 *db = open_rw(path);
    take_back(db, 6);
    /* a DevNonce of no device, as a file written without foreign keys could hold */
    exec(db, "PRAGMA foreign_keys=OFF;"
             "INSERT INTO dev_nonces(dev_eui, nonce) VALUES ('70b3d57ed00000ee', 1);");
    sqlite3_close(db);
    char err[512];
    assert_int_equal(schema_open(&db, path, &rw, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "migrating journal to version 7: 1 rows would break foreign keys"));
    assert_int_equal(schema_open(&db, path, &inspect, err, sizeof(err)), 0);
    assert_int_equal(query(db, "PRAGMA user_version"), 6);
    assert_int_equal(query(db, "SELECT count(*) FROM dev_nonces"), 2);
    assert_int_equal(query(db, "SELECT count(*) FROM sqlite_master WHERE name = "
                               "'device_settings'"),
                     0);
    sqlite3_close(db);
}

static void test_newer_version_refused(void **state)
{
    (void)state;
    const char *path = new_path();
    sqlite3 *db = open_rw(path);
    exec(db, "PRAGMA user_version = 99");
    sqlite3_close(db);
    char err[512];
    const struct schema_options *refusing[] = {&rw, &ro};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(schema_open(&db, path, refusing[i], err, sizeof(err)), -1);
        assert_null(db);
        assert_non_null(strstr(err, "journal schema version 99 is newer"));
    }
    /* inspection reads any version, and leaves it */
    assert_int_equal(schema_open(&db, path, &inspect, err, sizeof(err)), 0);
    assert_int_equal(query(db, "PRAGMA user_version"), 99);
    assert_int_equal(schema_check_integrity(db, true, 5, NULL, NULL, err, sizeof(err)), 1);
    sqlite3_close(db);
}

/* Read-only and inspecting opens never create a file, never write one, never chmod one. */
static void test_read_only_writes_nothing(void **state)
{
    (void)state;
    const char *missing = new_path();
    char err[512];
    sqlite3 *db;
    assert_int_equal(schema_open(&db, missing, &ro, err, sizeof(err)), -1);
    assert_non_null(strstr(err, missing));
    assert_int_equal(schema_open(&db, missing, &inspect, err, sizeof(err)), -1);
    assert_int_equal(access(missing, F_OK), -1);

    const char *path = new_path();
    db = open_rw(path);
    take_back(db, 4);
    sqlite3_close(db);
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(schema_open(&db, path, &inspect, err, sizeof(err)), 0);
    assert_int_equal(query(db, "PRAGMA user_version"), 4);
    assert_int_not_equal(sqlite3_exec(db, "CREATE TABLE x(y)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    /* the writable open tightens it and migrates */
    db = open_rw(path);
    assert_int_equal(query(db, "PRAGMA user_version"), SCHEMA_VERSION);
    sqlite3_close(db);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_links_and_non_files_refused(void **state)
{
    (void)state;
    char target[128], link[128];
    snprintf(target, sizeof(target), "%s", new_path());
    snprintf(link, sizeof(link), "%s", new_path());
    sqlite3_close(open_rw(target));
    assert_int_equal(symlink(target, link), 0);
    char err[512];
    sqlite3 *db;
    assert_int_equal(schema_open(&db, link, &rw, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "symbolic link"));
    assert_int_equal(schema_open(&db, dir, &rw, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
}

static void collect(void *ctx, const char *finding)
{
    char *all = ctx;
    size_t used = strlen(all);
    snprintf(all + used, 1024 - used, "%s|", finding);
}

/* Garbage is found by the check, and refused at a checked open with the recovery command. */
static void test_integrity_check_finds_garbage(void **state)
{
    (void)state;
    const char *path = new_path();
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 4096; i++)
        fputc('x', f);
    fclose(f);
    char err[1024], findings[1024] = "";
    sqlite3 *db;
    assert_int_equal(schema_open(&db, path, &inspect, err, sizeof(err)), 0);
    assert_int_equal(schema_check_integrity(db, true, 20, collect, findings, err, sizeof(err)), 0);
    assert_non_null(strstr(findings, "not a database"));
    sqlite3_close(db);

    const struct schema_options checked = {.access = SCHEMA_READ_WRITE, .check_integrity = true};
    assert_int_equal(schema_open(&db, path, &checked, err, sizeof(err)), -1);
    assert_null(db);
    assert_non_null(strstr(err, "the journal is damaged (file is not a database)"));
    assert_non_null(strstr(err, "journal recover"));
    assert_non_null(strstr(err, path));

    /* a sound file: "ok" and nothing else */
    findings[0] = '\0';
    db = open_rw(new_path());
    assert_int_equal(schema_check_integrity(db, false, 20, collect, findings, err, sizeof(err)), 1);
    assert_string_equal(findings, "ok|");
    sqlite3_close(db);
}

struct holder {
    char path[128];
    sqlite3 *db;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool opening; /* the checked open has begun */
};

/* Releases the exclusive lock once the other thread is inside its checked open. */
static void *release_soon(void *arg)
{
    struct holder *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->opening)
        pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
    usleep(100 * 1000);
    exec(h->db, "COMMIT");
    return NULL;
}

/* A lock held by another connection is no damage: with no busy timeout the checked open
 * says "locked", not "damaged"; with one, it waits for the lock and opens. */
static void test_lock_is_not_damage(void **state)
{
    (void)state;
    struct holder h = {.opening = false};
    snprintf(h.path, sizeof(h.path), "%s", new_path());
    /* a file in rollback mode, as before the first writable open: a writer's exclusive
     * lock keeps every reader out */
    assert_int_equal(sqlite3_open(h.path, &h.db), SQLITE_OK);
    exec(h.db, "CREATE TABLE t(x); BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);");

    char err[1024];
    sqlite3 *db = NULL;
    const struct schema_options impatient = {.access = SCHEMA_READ_WRITE, .check_integrity = true};
    assert_int_equal(schema_open(&db, h.path, &impatient, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "locked by another process"));
    assert_null(strstr(err, "damaged"));

    pthread_mutex_init(&h.lock, NULL);
    pthread_cond_init(&h.cond, NULL);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, release_soon, &h), 0);
    pthread_mutex_lock(&h.lock);
    h.opening = true;
    pthread_cond_signal(&h.cond);
    pthread_mutex_unlock(&h.lock);
    const struct schema_options patient = {
        .access = SCHEMA_READ_WRITE, .busy_timeout_ms = 20000, .check_integrity = true};
    int rc = schema_open(&db, h.path, &patient, err, sizeof(err));
    pthread_join(thread, NULL);
    if (rc != 0)
        fail_msg("%s", err);
    assert_int_equal(query(db, "SELECT count(*) FROM t"), 1);
    assert_int_equal(query(db, "PRAGMA user_version"), SCHEMA_VERSION);
    sqlite3_close(db);
    sqlite3_close(h.db);
    pthread_cond_destroy(&h.cond);
    pthread_mutex_destroy(&h.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_file),
        cmocka_unit_test(test_every_older_version_migrates),
        cmocka_unit_test(test_registry_carried_to_7),
        cmocka_unit_test(test_migration_checks_foreign_keys),
        cmocka_unit_test(test_newer_version_refused),
        cmocka_unit_test(test_read_only_writes_nothing),
        cmocka_unit_test(test_links_and_non_files_refused),
        cmocka_unit_test(test_integrity_check_finds_garbage),
        cmocka_unit_test(test_lock_is_not_damage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
