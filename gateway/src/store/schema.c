/*
 * schema.c - the journal database's schema, its migrations and its connections (schema.h).
 *
 * Every table of the file is created here, the LoRaWAN registry's as much as the
 * journal's: one list of migrations for one file, so two modules can never disagree about
 * which version holds what. Connections are opened here too, because opening is where the
 * file's rules are kept: its mode (device keys), WAL (one writer, many readers), the busy
 * timeout before the first read, and never an open()/close() of a file a connection of
 * this process may hold (restrict_mode below).
 */
#include "store/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

/* Script i takes the file from version i to i + 1. Never edit a script that has shipped:
 * files out there have run it; add a new one instead. */
static const char *const migrations[SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE frames ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  device TEXT NOT NULL,"
    "  transport TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  received_ms INTEGER NOT NULL,"
    "  payload BLOB NOT NULL,"
    "  published_ms INTEGER);"
    "CREATE INDEX frames_pending ON frames(id) WHERE published_ms IS NULL;"
    "CREATE INDEX frames_published ON frames(published_ms) WHERE published_ms IS NOT NULL;"
    "CREATE TABLE quarantine ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  device TEXT NOT NULL,"
    "  transport TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  received_ms INTEGER NOT NULL,"
    "  payload BLOB NOT NULL,"
    "  reason TEXT NOT NULL);",
    /* 1 -> 2: how LoRaWAN frames were heard (NULL for other transports) */
    "ALTER TABLE frames ADD COLUMN fcnt INTEGER;"
    "ALTER TABLE frames ADD COLUMN fport INTEGER;"
    "ALTER TABLE frames ADD COLUMN rssi_dbm INTEGER;"
    "ALTER TABLE frames ADD COLUMN snr_db REAL;"
    "ALTER TABLE frames ADD COLUMN freq_hz INTEGER;"
    "ALTER TABLE frames ADD COLUMN datr TEXT;"
    "ALTER TABLE frames ADD COLUMN gateways TEXT;"
    "ALTER TABLE quarantine ADD COLUMN fcnt INTEGER;"
    "ALTER TABLE quarantine ADD COLUMN fport INTEGER;"
    "ALTER TABLE quarantine ADD COLUMN rssi_dbm INTEGER;"
    "ALTER TABLE quarantine ADD COLUMN snr_db REAL;"
    "ALTER TABLE quarantine ADD COLUMN freq_hz INTEGER;"
    "ALTER TABLE quarantine ADD COLUMN datr TEXT;"
    "ALTER TABLE quarantine ADD COLUMN gateways TEXT;",
    /* 2 -> 3: the LoRaWAN device registry of the edge network server (registry.h). Keys are
     * 16-byte blobs; the database file is 0600 because of them. session_frame_id and
     * session_quarantine_id are the ids the frames and quarantine tables had reached when
     * the device's current session began (ABP: added; OTAA: joined): only rows above them
     * count when the last FCnt is recovered from the journal. */
    "CREATE TABLE devices ("
    "  dev_eui TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  labels TEXT NOT NULL DEFAULT '{}',"
    "  activation TEXT NOT NULL CHECK (activation IN ('abp', 'otaa')),"
    "  dev_addr INTEGER,"
    "  nwk_s_key BLOB,"
    "  app_s_key BLOB,"
    "  join_eui TEXT,"
    "  app_key BLOB,"
    "  fcnt_up INTEGER,"
    "  fcnt_down INTEGER NOT NULL DEFAULT 0,"
    "  app_nonce INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  session_frame_id INTEGER NOT NULL DEFAULT 0,"
    "  session_quarantine_id INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX devices_dev_addr ON devices(dev_addr) WHERE dev_addr IS NOT NULL;"
    "CREATE TABLE dev_nonces ("
    "  dev_eui TEXT NOT NULL REFERENCES devices(dev_eui) ON DELETE CASCADE,"
    "  nonce INTEGER NOT NULL,"
    "  PRIMARY KEY (dev_eui, nonce)) WITHOUT ROWID;"
    "CREATE TABLE downlinks ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  dev_eui TEXT NOT NULL REFERENCES devices(dev_eui) ON DELETE CASCADE,"
    "  fport INTEGER NOT NULL,"
    "  payload BLOB NOT NULL,"
    "  confirmed INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  sent_ms INTEGER);"
    "CREATE INDEX downlinks_queued ON downlinks(dev_eui, id) WHERE sent_ms IS NULL;"
    "CREATE INDEX frames_device_fcnt ON frames(device, fcnt) WHERE fcnt IS NOT NULL;",
    /* 3 -> 4: counters that must outlive the process (frames dropped, by reason) */
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;",
    /* 4 -> 5: the running daemon's latest counters (metrics.h), for sensorbroctl status;
     * replaced as a whole each time, never summed */
    "CREATE TABLE status ("
    "  position INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('counter', 'gauge')),"
    "  value REAL NOT NULL);",
    /* 5 -> 6: message ids that never repeat (journal.h). seq and epoch name a frame's
     * message; rows from before have neither and keep their legacy id. heard_ms is when
     * the network server says the radio heard the frame (lns-mqtt), the anchor of its
     * sample times. device_epochs holds each device's current epoch and its last seq and
     * seq; the index finds resends. */
    "ALTER TABLE frames ADD COLUMN heard_ms INTEGER;"
    "ALTER TABLE frames ADD COLUMN seq INTEGER;"
    "ALTER TABLE frames ADD COLUMN epoch INTEGER;"
    "ALTER TABLE quarantine ADD COLUMN heard_ms INTEGER;"
    "CREATE INDEX frames_device_seq ON frames(device, seq) WHERE seq IS NOT NULL;"
    "CREATE TABLE device_epochs ("
    "  device TEXT PRIMARY KEY,"
    "  epoch INTEGER NOT NULL,"
    "  last_seq INTEGER NOT NULL) WITHOUT ROWID;",
    /* 6 -> 7: a registry of every transport's devices (registry.h). `devices` takes devices
     * the edge network server does not activate (activation 'none': CoAP, LNS-fed), which
     * have no keys and no session (the second CHECK); per-device settings go to
     * device_settings as typed keys (lorawan/settings.h), the old labels JSON becoming
     * label.<key> rows; registry_generation counts every change a daemon must notice.
     * A CHECK cannot be changed in place, so `devices` is rebuilt as
     * https://www.sqlite.org/lang_altertable.html section 7 says: new table, copy, drop,
     * rename, indexes again. migrate() runs every script with foreign keys off and checks
     * them before the commit (dev_nonces and downlinks keep pointing at "devices", which
     * after the rename is the new table; with foreign keys on, the DROP would delete their
     * rows by cascade). Self-contained: it names no other script's objects but devices,
     * dev_nonces and downlinks of 2 -> 3. */
    "CREATE TABLE devices_new ("
    "  dev_eui TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  activation TEXT NOT NULL CHECK (activation IN ('abp', 'otaa', 'none')),"
    "  dev_addr INTEGER,"
    "  nwk_s_key BLOB,"
    "  app_s_key BLOB,"
    "  join_eui TEXT,"
    "  app_key BLOB,"
    "  fcnt_up INTEGER,"
    "  fcnt_down INTEGER NOT NULL DEFAULT 0,"
    "  app_nonce INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  session_frame_id INTEGER NOT NULL DEFAULT 0,"
    "  session_quarantine_id INTEGER NOT NULL DEFAULT 0,"
    "  CHECK (activation <> 'none' OR (dev_addr IS NULL AND nwk_s_key IS NULL AND"
    "         app_s_key IS NULL AND join_eui IS NULL AND app_key IS NULL)));"
    "INSERT INTO devices_new(dev_eui, name, activation, dev_addr, nwk_s_key, app_s_key,"
    "  join_eui, app_key, fcnt_up, fcnt_down, app_nonce, created_ms, session_frame_id,"
    "  session_quarantine_id)"
    "  SELECT dev_eui, name, activation, dev_addr, nwk_s_key, app_s_key, join_eui, app_key,"
    "  fcnt_up, fcnt_down, app_nonce, created_ms, session_frame_id, session_quarantine_id"
    "  FROM devices;"
    "CREATE TABLE device_settings ("
    "  dev_eui TEXT NOT NULL REFERENCES devices(dev_eui) ON DELETE CASCADE,"
    "  key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 64),"
    "  value TEXT NOT NULL CHECK (length(CAST(value AS BLOB)) <= 16384),"
    "  updated_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (dev_eui, key)) WITHOUT ROWID;"
    /* labels were a JSON object of strings written by sensorbroctl (cJSON); anything else
     * in the column (never written by any version) is left behind rather than stopping
     * the daemon's start */
    "INSERT INTO device_settings(dev_eui, key, value, updated_ms)"
    "  SELECT d.dev_eui, 'label.' || j.key, CAST(j.value AS TEXT), d.created_ms"
    "  FROM devices d, json_each(CASE WHEN json_valid(d.labels) AND"
    "    json_type(d.labels) = 'object' THEN d.labels ELSE '{}' END) j"
    "  WHERE j.type IN ('text', 'integer', 'real') AND length(j.key) BETWEEN 1 AND 32;"
    "DROP TABLE devices;"
    "ALTER TABLE devices_new RENAME TO devices;"
    "CREATE UNIQUE INDEX devices_dev_addr ON devices(dev_addr) WHERE dev_addr IS NOT NULL;"
    "CREATE INDEX device_settings_key ON device_settings(key, dev_eui);"
    "CREATE TABLE registry_generation ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  value INTEGER NOT NULL);"
    "INSERT INTO registry_generation(id, value) VALUES (1, 0);"
    "CREATE TRIGGER device_settings_inserted AFTER INSERT ON device_settings"
    "  BEGIN UPDATE registry_generation SET value = value + 1; END;"
    "CREATE TRIGGER device_settings_updated AFTER UPDATE ON device_settings"
    "  BEGIN UPDATE registry_generation SET value = value + 1; END;"
    "CREATE TRIGGER device_settings_deleted AFTER DELETE ON device_settings"
    "  BEGIN UPDATE registry_generation SET value = value + 1; END;"
    "CREATE TRIGGER devices_inserted AFTER INSERT ON devices"
    "  BEGIN UPDATE registry_generation SET value = value + 1; END;"
    "CREATE TRIGGER devices_deleted AFTER DELETE ON devices"
    "  BEGIN UPDATE registry_generation SET value = value + 1; END;"
    "CREATE TRIGGER devices_renamed AFTER UPDATE OF name, activation ON devices"
    "  BEGIN UPDATE registry_generation SET value = value + 1; END;",
    /* 7 -> 8: each output's own position over the pending queue, per device (journal.h):
     * frames of the device with id <= delivered_id are delivered to that output. A file
     * from before has no rows: its pending frames stay pending for every output, and
     * published_ms keeps meaning "delivered to every output". */
    "CREATE TABLE output_progress ("
    "  output TEXT NOT NULL,"
    "  device TEXT NOT NULL,"
    "  delivered_id INTEGER NOT NULL,"
    "  PRIMARY KEY (output, device)) WITHOUT ROWID;",
};

static int query_int64(sqlite3 *db, const char *sql, int64_t *value)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    *value = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Checks the file's version and, when writable, runs the missing migrations. Messages go
 * to msg without the path. */
static int migrate(sqlite3 *db, bool writable, char *msg, size_t msg_size)
{
    int64_t version;
    if (query_int64(db, "PRAGMA user_version", &version) != 0) {
        snprintf(msg, msg_size, "PRAGMA user_version: %.120s", sqlite3_errmsg(db));
        return -1;
    }
    if (version > SCHEMA_VERSION) {
        snprintf(msg, msg_size,
                 "journal schema version %lld is newer than this sensorbro understands (%d)",
                 (long long)version, SCHEMA_VERSION);
        return -1;
    }
    if (!writable) {
        if (version != SCHEMA_VERSION) {
            snprintf(msg, msg_size,
                     "journal schema version %lld, expected %d (start sensorbro once to migrate)",
                     (long long)version, SCHEMA_VERSION);
            return -1;
        }
        return 0;
    }
    if (version == SCHEMA_VERSION)
        return 0;
    /* Foreign keys off while the scripts run, so that a table rebuild (6 -> 7) never
     * cascades; PRAGMA foreign_keys is a no-op inside a transaction, hence out here. Each
     * script's result is checked with foreign_key_check before its commit instead. */
    int64_t fk_on = 0;
    if (query_int64(db, "PRAGMA foreign_keys", &fk_on) != 0 ||
        sqlite3_exec(db, "PRAGMA foreign_keys=OFF", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(msg, msg_size, "PRAGMA foreign_keys: %.120s", sqlite3_errmsg(db));
        return -1;
    }
    int result = 0;
    for (int64_t v = version; v < SCHEMA_VERSION && result == 0; v++) {
        char bump[64];
        snprintf(bump, sizeof(bump), "PRAGMA user_version = %lld", (long long)(v + 1));
        char *why = NULL;
        int64_t broken = 0;
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &why) != SQLITE_OK ||
            sqlite3_exec(db, migrations[v], NULL, NULL, &why) != SQLITE_OK ||
            query_int64(db, "SELECT count(*) FROM pragma_foreign_key_check", &broken) != 0 ||
            (broken > 0 && (why = sqlite3_mprintf("%lld rows would break foreign keys",
                                                  (long long)broken)) != NULL) ||
            sqlite3_exec(db, bump, NULL, NULL, &why) != SQLITE_OK ||
            sqlite3_exec(db, "COMMIT", NULL, NULL, &why) != SQLITE_OK) {
            snprintf(msg, msg_size, "migrating journal to version %lld: %s", (long long)(v + 1),
                     why ? why : sqlite3_errmsg(db));
            sqlite3_free(why);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            result = -1;
        }
    }
    if (fk_on && sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL) != SQLITE_OK &&
        result == 0) {
        snprintf(msg, msg_size, "PRAGMA foreign_keys=ON: %.120s", sqlite3_errmsg(db));
        result = -1;
    }
    return result;
}

/* WAL mode, synchronous and foreign keys of a writable connection. Messages go to msg
 * without the path. */
static int configure(sqlite3 *db, enum schema_sync synchronous, char *msg, size_t msg_size)
{
    char *why = NULL;
    const char *sync_sql =
        synchronous == SCHEMA_SYNC_FULL ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL";
    /* journal_mode returns a row; sqlite3_exec ignores it. */
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, &why) != SQLITE_OK ||
        sqlite3_exec(db, sync_sql, NULL, NULL, &why) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA foreign_keys=ON", NULL, NULL, &why) != SQLITE_OK) {
        snprintf(msg, msg_size, "configuring journal: %s", why ? why : sqlite3_errmsg(db));
        sqlite3_free(why);
        return -1;
    }
    int64_t mode_is_wal = 0;
    const char *wal_sql = "SELECT journal_mode = 'wal' FROM pragma_journal_mode";
    if (query_int64(db, wal_sql, &mode_is_wal) != 0) {
        snprintf(msg, msg_size, "%.120s: %.120s", wal_sql, sqlite3_errmsg(db));
        return -1;
    }
    if (!mode_is_wal) {
        snprintf(msg, msg_size,
                 "the journal's file system does not support WAL mode (needs shared memory)");
        return -1;
    }
    return 0;
}

/* The journal holds device keys (schema 3), so its files are the owner's only. SQLite
 * creates the -wal and -shm files with the mode of the main file, so creating that one 0600
 * (and tightening an older, wider one and its companions) covers all three.
 *
 * This must never open() and close() a database file that a connection of this process may
 * hold: closing any descriptor of a file drops every POSIX advisory lock the process has on
 * it ("How To Corrupt An SQLite Database File", 2.2). A daemon that lost its locks lets
 * another process's last connection think it is alone, checkpoint and delete the WAL the
 * daemon is still committing into. So an existing file is only ever chmod()ed by name, and
 * a descriptor is opened only to create a file that did not exist (O_EXCL: nobody can hold
 * a lock on it yet). */
static int restrict_mode(const char *path, char *err, size_t err_size)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT) {
            snprintf(err, err_size, "%s: %s", path, strerror(errno));
            return -1;
        }
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            close(fd);
        } else if (errno != EEXIST) {
            snprintf(err, err_size, "%s: %s", path, strerror(errno));
            return -1;
        }
        /* EEXIST: another process created it meanwhile; SQLite opens it below */
        if (lstat(path, &st) != 0) {
            snprintf(err, err_size, "%s: %s", path, strerror(errno));
            return -1;
        }
    }
    if (S_ISLNK(st.st_mode)) {
        snprintf(err, err_size, "%s: is a symbolic link; give the journal's real path", path);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, err_size, "%s: not a regular file", path);
        return -1;
    }
    static const char *const companions[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < sizeof(companions) / sizeof(companions[0]); i++) {
        char name[4096];
        if ((size_t)snprintf(name, sizeof(name), "%s%s", path, companions[i]) >= sizeof(name))
            continue;
        struct stat cst;
        if (lstat(name, &cst) != 0 || S_ISLNK(cst.st_mode) || (cst.st_mode & 077) == 0)
            continue;
        if (chmod(name, cst.st_mode & 0700) != 0) {
            snprintf(err, err_size, "%s: cannot make it private (chmod 600): %s", name,
                     strerror(errno));
            return -1;
        }
    }
    return 0;
}

int schema_check_integrity(sqlite3 *db, bool full, unsigned max_findings, schema_finding_fn fn,
                           void *ctx, char *err, size_t err_size)
{
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA %s(%u)", full ? "integrity_check" : "quick_check",
             max_findings > 0 ? max_findings : 1);
    sqlite3_stmt *st = NULL;
    unsigned rows = 0;
    bool sound = false;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *line = (const char *)sqlite3_column_text(st, 0);
            sound = rows == 0 && line != NULL && strcmp(line, "ok") == 0;
            if (fn != NULL && rows < max_findings)
                fn(ctx, line ? line : "(null)");
            rows++;
        }
    }
    /* the message before finalize, which may set another */
    char stopped[160];
    snprintf(stopped, sizeof(stopped), "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return sound ? 1 : 0;
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
        /* another process (sensorbroctl) held a lock for longer than busy_timeout: that
         * says nothing about damage, and sending the operator to recover would be wrong */
        snprintf(err, err_size,
                 "the journal is locked by another process (%s) for longer than the busy "
                 "timeout; try again",
                 stopped);
        return -1;
    }
    /* reading stopped at damage (or the file is no database at all) */
    if (fn != NULL && rows < max_findings)
        fn(ctx, stopped);
    return 0;
}

/* Keeps the first finding, for the refusal at open. */
static void keep_first(void *ctx, const char *finding)
{
    char *first = ctx;
    if (first[0] == '\0')
        snprintf(first, 160, "%s", finding);
}

int schema_open(sqlite3 **out, const char *path, const struct schema_options *options, char *err,
                size_t err_size)
{
    *out = NULL;
    bool writable = options->access == SCHEMA_READ_WRITE;
    if (writable && restrict_mode(path, err, err_size) != 0)
        return -1;
    int flags = writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
    flags |= SQLITE_OPEN_NOMUTEX; /* one thread per connection, by contract */
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        snprintf(err, err_size, "%s: %s", path,
                 db ? sqlite3_errmsg(db) : "cannot allocate a connection");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_extended_result_codes(db, 1);
    /* before anything reads: another process (sensorbroctl) may hold a lock right now */
    sqlite3_busy_timeout(db, (int)options->busy_timeout_ms);
    if (options->check_integrity) {
        char first[160] = "";
        int sound = schema_check_integrity(db, false, 1, keep_first, first, err, err_size);
        if (sound == 0)
            snprintf(err, err_size,
                     "the journal is damaged (%s); sensorbro will not write to it. Save what "
                     "can be read with: sensorbroctl -j %.700s journal recover",
                     first, path);
        if (sound != 1) {
            sqlite3_close(db);
            return -1;
        }
    }
    char msg[512];
    if (options->access != SCHEMA_INSPECT &&
        ((writable && configure(db, options->synchronous, msg, sizeof(msg)) != 0) ||
         migrate(db, writable, msg, sizeof(msg)) != 0)) {
        snprintf(err, err_size, "%s: %s", path, msg);
        sqlite3_close(db);
        return -1;
    }
    *out = db;
    return 0;
}
