/*
 * registry.c - the device registry behind registry.h.
 *
 * Statements are prepared per call: the registry is used once per LoRaWAN frame (at most a
 * few per second on a gateway) and by a command-line tool, where preparing costs nothing
 * that matters and keeps the code plain. Multi-statement changes run in BEGIN IMMEDIATE
 * transactions so that two writers (daemon and sensorbroctl) cannot interleave them (a
 * deferred transaction that later writes fails at once with SQLITE_BUSY_SNAPSHOT when the
 * other wrote meanwhile; IMMEDIATE waits its busy timeout instead), or in a savepoint of
 * the caller's registry_begin.
 */
#include "lorawan/registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "util/clock.h"
#include "util/rfc3339.h"
#include "store/schema.h"

struct registry {
    sqlite3 *db;
    bool read_only;
    char errmsg[REGISTRY_ERROR_SIZE];
};

#define DEVICE_COLUMNS                                                                             \
    "dev_eui, name, activation, dev_addr, nwk_s_key, app_s_key, join_eui, app_key, fcnt_up, "      \
    "fcnt_down, app_nonce, created_ms, session_frame_id, session_quarantine_id"

static int fail(struct registry *r, const char *what)
{
    snprintf(r->errmsg, sizeof(r->errmsg), "%s: %s", what, sqlite3_errmsg(r->db));
    return -1;
}

static int fail_with(struct registry *r, const char *message)
{
    snprintf(r->errmsg, sizeof(r->errmsg), "%s", message);
    return -1;
}

const char *registry_errmsg(const struct registry *r)
{
    return r->errmsg;
}

void registry_mask_key(const uint8_t key[REGISTRY_KEY_SIZE], char out[REGISTRY_MASKED_SIZE])
{
    snprintf(out, REGISTRY_MASKED_SIZE, "%02x…%02x (%d bytes)", key[0], key[REGISTRY_KEY_SIZE - 1],
             REGISTRY_KEY_SIZE);
}

int registry_open(struct registry **out, const char *path, bool read_only, uint32_t busy_timeout_ms,
                  char *err, size_t err_size)
{
    *out = NULL;
    struct registry *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    r->read_only = read_only;
    /* writable: creates the file 0600 and migrates it (the registry's tables are schema 3);
     * read-only: the file must exist at the current version */
    const struct schema_options opts = {
        .access = read_only ? SCHEMA_READ_ONLY : SCHEMA_READ_WRITE,
        .synchronous = SCHEMA_SYNC_FULL,
        .busy_timeout_ms = busy_timeout_ms,
    };
    if (schema_open(&r->db, path, &opts, err, err_size) != 0) {
        registry_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

void registry_close(struct registry *r)
{
    if (r == NULL)
        return;
    sqlite3_close(r->db);
    free(r);
}

/* ---- helpers ---- */

static bool copy_key(sqlite3_stmt *st, int col, uint8_t key[REGISTRY_KEY_SIZE])
{
    const void *blob = sqlite3_column_blob(st, col);
    if (blob == NULL || sqlite3_column_bytes(st, col) != REGISTRY_KEY_SIZE)
        return false;
    memcpy(key, blob, REGISTRY_KEY_SIZE);
    return true;
}

static bool copy_text(sqlite3_stmt *st, int col, char *dst, size_t dst_size)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    int len = sqlite3_column_bytes(st, col);
    if (text == NULL || len < 0 || (size_t)len >= dst_size)
        return false;
    memcpy(dst, text, (size_t)len);
    dst[len] = '\0';
    return true;
}

static bool parse_eui(const char *text, uint64_t *out)
{
    char norm[FRAME_DEVICE_ID_SIZE];
    if (frame_parse_device_id(text, strlen(text), norm) != 0)
        return false;
    *out = strtoull(norm, NULL, 16);
    return true;
}

static bool in_range(sqlite3_stmt *st, int col, int64_t lo, int64_t hi)
{
    int64_t v = sqlite3_column_int64(st, col);
    return sqlite3_column_type(st, col) == SQLITE_INTEGER && v >= lo && v <= hi;
}

/* Reads one row of DEVICE_COLUMNS, checking every bound. false: damaged. */
static bool read_device(sqlite3_stmt *st, struct registry_device *d)
{
    memset(d, 0, sizeof(*d));
    char eui[32], activation[8], join_eui[32];
    if (!copy_text(st, 0, eui, sizeof(eui)) ||
        frame_parse_device_id(eui, strlen(eui), d->dev_eui) != 0 ||
        !copy_text(st, 1, d->name, sizeof(d->name)) ||
        !copy_text(st, 2, activation, sizeof(activation)))
        return false;
    if (strcmp(activation, "abp") == 0)
        d->activation = REGISTRY_ABP;
    else if (strcmp(activation, "otaa") == 0)
        d->activation = REGISTRY_OTAA;
    else if (strcmp(activation, "none") == 0)
        d->activation = REGISTRY_NONE;
    else
        return false;
    if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
        if (d->activation == REGISTRY_NONE || !in_range(st, 3, 0, UINT32_MAX) ||
            !copy_key(st, 4, d->nwk_s_key) || !copy_key(st, 5, d->app_s_key))
            return false;
        d->dev_addr = (uint32_t)sqlite3_column_int64(st, 3);
        d->has_session = true;
    } else if (d->activation == REGISTRY_ABP) {
        return false;
    }
    if (d->activation == REGISTRY_OTAA) {
        if (!copy_text(st, 6, join_eui, sizeof(join_eui)) || !parse_eui(join_eui, &d->join_eui) ||
            !copy_key(st, 7, d->app_key))
            return false;
    }
    if (sqlite3_column_type(st, 8) != SQLITE_NULL) {
        if (!in_range(st, 8, 0, UINT32_MAX))
            return false;
        d->has_fcnt_up = true;
        d->fcnt_up = (uint32_t)sqlite3_column_int64(st, 8);
    }
    if (!in_range(st, 9, 0, UINT32_MAX) || !in_range(st, 10, 0, 0xffffff) ||
        !in_range(st, 11, INT64_MIN, INT64_MAX) || !in_range(st, 12, 0, INT64_MAX) ||
        !in_range(st, 13, 0, INT64_MAX))
        return false;
    d->fcnt_down = (uint32_t)sqlite3_column_int64(st, 9);
    d->app_nonce = (uint32_t)sqlite3_column_int64(st, 10);
    d->created_ms = sqlite3_column_int64(st, 11);
    d->session_frame_id = sqlite3_column_int64(st, 12);
    d->session_quarantine_id = sqlite3_column_int64(st, 13);
    return true;
}

static int exec(struct registry *r, const char *sql)
{
    if (sqlite3_exec(r->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return fail(r, sql);
    return 0;
}

static void rollback(struct registry *r)
{
    if (!sqlite3_get_autocommit(r->db))
        sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
}

/* The write transaction of one change: BEGIN IMMEDIATE when none is open (*own: the change
 * commits it), else a savepoint inside the caller's registry_begin. */
static int tx_open(struct registry *r, bool *own)
{
    *own = sqlite3_get_autocommit(r->db) != 0;
    return exec(r, *own ? "BEGIN IMMEDIATE" : "SAVEPOINT registry_change");
}

/* Ends what tx_open began: committed (or released into the caller's transaction) when ok,
 * undone otherwise. Returns 0 when ok and the commit succeeded, else -1 (errmsg kept when
 * !ok: it says why the change failed). */
static int tx_close(struct registry *r, bool own, bool ok)
{
    if (ok) {
        if (exec(r, own ? "COMMIT" : "RELEASE registry_change") == 0)
            return 0;
        char why[REGISTRY_ERROR_SIZE];
        snprintf(why, sizeof(why), "%s", r->errmsg);
        if (own)
            rollback(r);
        else
            sqlite3_exec(r->db, "ROLLBACK TO registry_change; RELEASE registry_change", NULL, NULL,
                         NULL);
        snprintf(r->errmsg, sizeof(r->errmsg), "%s", why);
        return -1;
    }
    if (own)
        rollback(r);
    else
        sqlite3_exec(r->db, "ROLLBACK TO registry_change; RELEASE registry_change", NULL, NULL,
                     NULL);
    return -1;
}

int registry_begin(struct registry *r)
{
    if (!sqlite3_get_autocommit(r->db))
        return fail_with(r, "a registry transaction is open already");
    return exec(r, "BEGIN IMMEDIATE");
}

int registry_commit(struct registry *r)
{
    if (exec(r, "COMMIT") != 0) {
        char why[REGISTRY_ERROR_SIZE];
        snprintf(why, sizeof(why), "%s", r->errmsg);
        rollback(r);
        snprintf(r->errmsg, sizeof(r->errmsg), "%s", why);
        return -1;
    }
    return 0;
}

void registry_rollback(struct registry *r)
{
    rollback(r);
}

/* The high-water marks of the frames and quarantine ids (the session marks). */
static const char *const SESSION_MARKS_SQL =
    "coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'frames'), 0), "
    "coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'quarantine'), 0)";

/* ---- devices ---- */

int registry_add(struct registry *r, const struct registry_device *dev, bool *exists)
{
    *exists = false;
    char sql[768];
    snprintf(sql, sizeof(sql),
             "INSERT INTO devices(" DEVICE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
             "NULL, 0, 0, ?9, %s)",
             SESSION_MARKS_SQL);
    bool own;
    if (tx_open(r, &own) != 0)
        return -1;
    sqlite3_stmt *st = NULL;
    struct registry_device existing;
    bool found = false;
    if (registry_get(r, dev->dev_eui, &existing, &found) != 0)
        return tx_close(r, own, false);
    OPENSSL_cleanse(&existing, sizeof(existing));
    if (found) {
        *exists = true;
        snprintf(r->errmsg, sizeof(r->errmsg), "device %s exists already", dev->dev_eui);
        return tx_close(r, own, false);
    }
    if (dev->activation == REGISTRY_ABP) {
        bool taken = false;
        if (registry_dev_addr_taken(r, dev->dev_addr, &taken) != 0)
            return tx_close(r, own, false);
        if (taken) {
            snprintf(r->errmsg, sizeof(r->errmsg), "DevAddr %08" PRIx32 " is another device's",
                     dev->dev_addr);
            return tx_close(r, own, false);
        }
    }
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail(r, "preparing the insert");
        return tx_close(r, own, false);
    }
    static const char *const activation[] = {"abp", "otaa", "none"};
    char join_eui[FRAME_DEVICE_ID_SIZE];
    snprintf(join_eui, sizeof(join_eui), "%016" PRIx64, dev->join_eui);
    sqlite3_bind_text(st, 1, dev->dev_eui, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dev->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, activation[dev->activation], -1, SQLITE_STATIC);
    if (dev->activation == REGISTRY_ABP) {
        sqlite3_bind_int64(st, 4, dev->dev_addr);
        sqlite3_bind_blob(st, 5, dev->nwk_s_key, REGISTRY_KEY_SIZE, SQLITE_STATIC);
        sqlite3_bind_blob(st, 6, dev->app_s_key, REGISTRY_KEY_SIZE, SQLITE_STATIC);
    } else if (dev->activation == REGISTRY_OTAA) {
        sqlite3_bind_text(st, 7, join_eui, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 8, dev->app_key, REGISTRY_KEY_SIZE, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 9, clock_wall_ms());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        fail(r, "adding the device");
        return tx_close(r, own, false);
    }
    return tx_close(r, own, true);
}

/* Runs a statement with a DevEUI as ?1 (and an optional integer as ?2); sets *changes. */
static int run_eui(struct registry *r, const char *sql, const char *dev_eui, bool has_value,
                   int64_t value, int *changes)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(r, "preparing a statement");
    sqlite3_bind_text(st, 1, dev_eui, -1, SQLITE_STATIC);
    if (has_value)
        sqlite3_bind_int64(st, 2, value);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail(r, "writing the registry");
    if (changes)
        *changes = sqlite3_changes(r->db);
    return 0;
}

int registry_remove(struct registry *r, const char *dev_eui, bool *found)
{
    int changes = 0;
    /* foreign keys cascade to dev_nonces, downlinks and device_settings */
    if (run_eui(r, "DELETE FROM devices WHERE dev_eui = ?1", dev_eui, false, 0, &changes) != 0)
        return -1;
    *found = changes > 0;
    return 0;
}

static int get_one(struct registry *r, const char *where, const char *text, int64_t value,
                   struct registry_device *out, bool *found)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT " DEVICE_COLUMNS " FROM devices WHERE %s", where);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(r, "preparing a device query");
    if (text)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, value);
    int rc = sqlite3_step(st);
    *found = false;
    int result = 0;
    if (rc == SQLITE_ROW) {
        if (read_device(st, out))
            *found = true;
        else
            result = fail_with(r, "damaged row in the devices table");
    } else if (rc != SQLITE_DONE) {
        result = fail(r, "reading a device");
    }
    sqlite3_finalize(st);
    return result;
}

int registry_get(struct registry *r, const char *dev_eui, struct registry_device *out, bool *found)
{
    return get_one(r, "dev_eui = ?1", dev_eui, 0, out, found);
}

int registry_find_by_dev_addr(struct registry *r, uint32_t dev_addr, struct registry_device *out,
                              bool *found)
{
    return get_one(r, "dev_addr = ?1", NULL, dev_addr, out, found);
}

int registry_list(struct registry *r, registry_each_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "SELECT " DEVICE_COLUMNS " FROM devices ORDER BY dev_eui", -1,
                           &st, NULL) != SQLITE_OK)
        return fail(r, "listing devices");
    struct registry_device d;
    int rc, result = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!read_device(st, &d)) {
            result = fail_with(r, "damaged row in the devices table");
            break;
        }
        bool more = fn(ctx, &d);
        if (!more)
            break;
    }
    if (result == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        result = fail(r, "listing devices");
    OPENSSL_cleanse(&d, sizeof(d));
    sqlite3_finalize(st);
    return result;
}

/* ---- counters ---- */

static int max_fcnt(struct registry *r, const char *sql, const char *dev_eui, int64_t after_id,
                    bool *has, int64_t *fcnt)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(r, "preparing the FCnt recovery");
    sqlite3_bind_text(st, 1, dev_eui, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after_id);
    int rc = sqlite3_step(st);
    *has = rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER;
    *fcnt = *has ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(r, "recovering the FCnt");
    return 0;
}

int registry_recover_fcnt_up(struct registry *r, const struct registry_device *dev, bool *has_fcnt,
                             uint32_t *fcnt)
{
    int64_t best = dev->has_fcnt_up ? (int64_t)dev->fcnt_up : -1;
    bool has;
    int64_t v;
    /* frames_device_fcnt makes this a short walk down one device's index entries */
    if (max_fcnt(r,
                 "SELECT max(fcnt) FROM frames WHERE device = ?1 AND fcnt IS NOT NULL "
                 "AND transport = 'semtech-udp' AND id > ?2",
                 dev->dev_eui, dev->session_frame_id, &has, &v) != 0)
        return -1;
    if (has && v > best && v <= UINT32_MAX)
        best = v;
    if (max_fcnt(r,
                 "SELECT max(fcnt) FROM quarantine WHERE device = ?1 AND fcnt IS NOT NULL "
                 "AND transport = 'semtech-udp' AND id > ?2",
                 dev->dev_eui, dev->session_quarantine_id, &has, &v) != 0)
        return -1;
    if (has && v > best && v <= UINT32_MAX)
        best = v;
    *has_fcnt = best >= 0;
    *fcnt = best >= 0 ? (uint32_t)best : 0;
    return 0;
}

int registry_set_fcnt_up(struct registry *r, const char *dev_eui, uint32_t fcnt)
{
    return run_eui(r,
                   "UPDATE devices SET fcnt_up = ?2 WHERE dev_eui = ?1 AND "
                   "(fcnt_up IS NULL OR fcnt_up < ?2)",
                   dev_eui, true, fcnt, NULL);
}

/* Reads one integer column of a device inside the caller's transaction. */
static int read_counter(struct registry *r, const char *column, const char *dev_eui, int64_t *value)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT %s FROM devices WHERE dev_eui = ?1", column);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(r, "preparing a counter query");
    sqlite3_bind_text(st, 1, dev_eui, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int result = 0;
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER)
        *value = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        result = fail_with(r, "no such device, or a damaged counter");
    else
        result = fail(r, "reading a counter");
    sqlite3_finalize(st);
    return result;
}

/* Reads a counter, checks it below limit, stores it + 1; one transaction. */
static int take_counter(struct registry *r, const char *column, const char *dev_eui, int64_t limit,
                        int64_t *taken)
{
    bool own;
    if (tx_open(r, &own) != 0)
        return -1;
    int64_t v = 0;
    if (read_counter(r, column, dev_eui, &v) != 0)
        return tx_close(r, own, false);
    if (v < 0 || v >= limit) {
        snprintf(r->errmsg, sizeof(r->errmsg), "device %s: %s used up", dev_eui, column);
        return tx_close(r, own, false);
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE devices SET %s = ?2 WHERE dev_eui = ?1", column);
    if (run_eui(r, sql, dev_eui, true, v + 1, NULL) != 0)
        return tx_close(r, own, false);
    if (tx_close(r, own, true) != 0)
        return -1;
    *taken = v;
    return 0;
}

int registry_take_fcnt_down(struct registry *r, const char *dev_eui, uint32_t *fcnt_down)
{
    int64_t v;
    if (take_counter(r, "fcnt_down", dev_eui, UINT32_MAX, &v) != 0)
        return -1;
    *fcnt_down = (uint32_t)v;
    return 0;
}

int registry_next_app_nonce(struct registry *r, const char *dev_eui, uint32_t *app_nonce)
{
    int64_t v;
    /* the stored value is the last one given out: the next is one more */
    if (take_counter(r, "app_nonce", dev_eui, 0xffffff, &v) != 0)
        return -1;
    *app_nonce = (uint32_t)(v + 1);
    return 0;
}

int registry_use_dev_nonce(struct registry *r, const char *dev_eui, uint16_t dev_nonce, bool *fresh)
{
    int changes = 0;
    if (run_eui(r, "INSERT OR IGNORE INTO dev_nonces(dev_eui, nonce) VALUES (?1, ?2)", dev_eui,
                true, dev_nonce, &changes) != 0)
        return -1;
    *fresh = changes > 0;
    return 0;
}

int registry_dev_addr_taken(struct registry *r, uint32_t dev_addr, bool *taken)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "SELECT 1 FROM devices WHERE dev_addr = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(r, "preparing a DevAddr query");
    sqlite3_bind_int64(st, 1, dev_addr);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(r, "reading DevAddrs");
    *taken = rc == SQLITE_ROW;
    return 0;
}

int registry_start_session(struct registry *r, const char *dev_eui, uint32_t dev_addr,
                           const uint8_t nwk_s_key[REGISTRY_KEY_SIZE],
                           const uint8_t app_s_key[REGISTRY_KEY_SIZE])
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "UPDATE devices SET dev_addr = ?2, nwk_s_key = ?3, app_s_key = ?4, fcnt_up = NULL, "
             "fcnt_down = 0, (session_frame_id, session_quarantine_id) = (SELECT %s) "
             "WHERE dev_eui = ?1 AND activation = 'otaa'",
             SESSION_MARKS_SQL);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(r, "preparing the session update");
    sqlite3_bind_text(st, 1, dev_eui, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, dev_addr);
    sqlite3_bind_blob(st, 3, nwk_s_key, REGISTRY_KEY_SIZE, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, app_s_key, REGISTRY_KEY_SIZE, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail(r, "storing the session");
    if (sqlite3_changes(r->db) == 0)
        return fail_with(r, "no such OTAA device");
    return 0;
}

/* ---- downlinks ---- */

int registry_queue_downlink(struct registry *r, const char *dev_eui, uint8_t fport,
                            const uint8_t *payload, size_t len, bool confirmed, int64_t *id)
{
    if (fport < 1 || fport > 223)
        return fail_with(r, "FPort must be 1..223 (0 is for MAC commands, 224+ reserved)");
    if (len > REGISTRY_DOWNLINK_MAX) {
        snprintf(r->errmsg, sizeof(r->errmsg),
                 "a downlink payload is at most %d bytes (what fits EU868 DR0)",
                 REGISTRY_DOWNLINK_MAX);
        return -1;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db,
                           "INSERT INTO downlinks(dev_eui, fport, payload, confirmed, created_ms) "
                           "VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(r, "preparing the downlink insert");
    sqlite3_bind_text(st, 1, dev_eui, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, fport);
    sqlite3_bind_blob(st, 3, len ? (const void *)payload : "", (int)len, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, confirmed ? 1 : 0);
    sqlite3_bind_int64(st, 5, clock_wall_ms());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_CONSTRAINT_FOREIGNKEY || sqlite3_errcode(r->db) == SQLITE_CONSTRAINT)
            return fail_with(r, "no such device");
        return fail(r, "queueing the downlink");
    }
    *id = sqlite3_last_insert_rowid(r->db);
    return 0;
}

int registry_next_downlink(struct registry *r, const char *dev_eui, struct registry_downlink *out,
                           bool *found)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT id, fport, payload, confirmed, created_ms FROM downlinks "
                           "WHERE dev_eui = ?1 AND sent_ms IS NULL ORDER BY id LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(r, "preparing the downlink query");
    sqlite3_bind_text(st, 1, dev_eui, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int result = 0;
    *found = false;
    if (rc == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(st, 2);
        int len = sqlite3_column_bytes(st, 2);
        if (!in_range(st, 1, 1, 223) || len < 0 || len > REGISTRY_DOWNLINK_MAX ||
            (blob == NULL && len > 0)) {
            result = fail_with(r, "damaged row in the downlinks table");
        } else {
            memset(out, 0, sizeof(*out));
            out->id = sqlite3_column_int64(st, 0);
            snprintf(out->dev_eui, sizeof(out->dev_eui), "%s", dev_eui);
            out->fport = (uint8_t)sqlite3_column_int(st, 1);
            out->confirmed = sqlite3_column_int(st, 3) != 0;
            out->payload_len = (size_t)len;
            if (len > 0)
                memcpy(out->payload, blob, (size_t)len);
            out->created_ms = sqlite3_column_int64(st, 4);
            *found = true;
        }
    } else if (rc != SQLITE_DONE) {
        result = fail(r, "reading the downlink queue");
    }
    sqlite3_finalize(st);
    return result;
}

int registry_mark_downlink_sent(struct registry *r, int64_t id, int64_t sent_ms)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "UPDATE downlinks SET sent_ms = ?2 WHERE id = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return fail(r, "preparing the downlink update");
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, sent_ms);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail(r, "marking the downlink sent");
    return 0;
}

int registry_count_downlinks(struct registry *r, const char *dev_eui, int64_t *queued)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT count(*) FROM downlinks WHERE dev_eui = ?1 AND sent_ms IS NULL",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(r, "preparing the downlink count");
    sqlite3_bind_text(st, 1, dev_eui, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *queued = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return fail(r, "counting downlinks");
    return 0;
}

/* ---- settings ---- */

static int device_exists(struct registry *r, const char *dev_eui, bool *found)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "SELECT 1 FROM devices WHERE dev_eui = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return fail(r, "preparing a device query");
    sqlite3_bind_text(st, 1, dev_eui, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(r, "reading a device");
    *found = rc == SQLITE_ROW;
    return 0;
}

/* Writes (value != NULL) or removes one row of device_settings. */
static int put_setting(struct registry *r, const char *dev_eui, const char *key, const char *value,
                       size_t len)
{
    const char *sql = value ? "INSERT INTO device_settings(dev_eui, key, value, updated_ms) "
                              "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (dev_eui, key) DO UPDATE "
                              "SET value = excluded.value, updated_ms = excluded.updated_ms"
                            : "DELETE FROM device_settings WHERE dev_eui = ?1 AND key = ?2";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(r, "preparing a setting update");
    sqlite3_bind_text(st, 1, dev_eui, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if (value) {
        sqlite3_bind_text(st, 3, value, (int)len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, clock_wall_ms());
    }
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail(r, "writing a setting");
    return 0;
}

/* A setting's value into a buffer of the registry's own (the cross-checks); *len 0 and
 * *found false when unset. The value is checked as device_settings.h says. */
static int get_value(struct registry *r, const char *dev_eui, const char *key, char **value,
                     size_t *len, bool *found)
{
    *value = NULL;
    *len = 0;
    *found = false;
    char *buf = malloc(DEVICE_SETTING_VALUE_MAX + 1);
    if (buf == NULL)
        return fail_with(r, "out of memory");
    if (registry_get_setting(r, dev_eui, key, buf, DEVICE_SETTING_VALUE_MAX + 1, len, found) != 0) {
        free(buf);
        return -1;
    }
    *value = buf;
    return 0;
}

static void free_value(char *value, size_t len)
{
    if (value) {
        OPENSSL_cleanse(value, len);
        free(value);
    }
}

/* The checks over a device's settings, on what is stored after the changes: the derived
 * os2iot.cert_not_after, the key against the certificate, the topic against the id. */
static int settle(struct registry *r, const char *dev_eui)
{
    char *cert = NULL, *key = NULL, *topic = NULL, *id = NULL;
    size_t cert_len = 0, key_len = 0, topic_len = 0, id_len = 0;
    bool has_cert, has_key, has_topic, has_id;
    int result = -1;
    if (get_value(r, dev_eui, "os2iot.cert", &cert, &cert_len, &has_cert) != 0 ||
        get_value(r, dev_eui, "os2iot.key", &key, &key_len, &has_key) != 0 ||
        get_value(r, dev_eui, "os2iot.topic", &topic, &topic_len, &has_topic) != 0 ||
        get_value(r, dev_eui, "os2iot.id", &id, &id_len, &has_id) != 0)
        goto out;
    if (has_cert) {
        int64_t not_after_ms;
        char when[RFC3339_SIZE];
        if (device_setting_cert_not_after(cert, cert_len, &not_after_ms) != 0 ||
            rfc3339_format(not_after_ms * 1000, 0, when) != 0) {
            fail_with(r, "os2iot.cert: its notAfter is not a time this gateway can read");
            goto out;
        }
        if (put_setting(r, dev_eui, "os2iot.cert_not_after", when, strlen(when)) != 0)
            goto out;
    } else if (put_setting(r, dev_eui, "os2iot.cert_not_after", NULL, 0) != 0) {
        goto out;
    }
    if (has_cert && has_key) {
        int match = device_setting_key_matches_cert(cert, cert_len, key, key_len);
        if (match != 1) {
            fail_with(r, match == 0 ? "os2iot.key: does not belong to os2iot.cert (the "
                                      "certificate holds another public key)"
                                    : "os2iot.key: cannot be checked against os2iot.cert");
            goto out;
        }
    }
    if (has_topic && has_id) {
        const char *last = strrchr(topic, '/');
        if (last == NULL || strcmp(last + 1, id) != 0) {
            snprintf(r->errmsg, sizeof(r->errmsg),
                     "os2iot.topic: expected its last level to be os2iot.id (%s), the OS2iot "
                     "device's id",
                     id);
            goto out;
        }
    }
    result = 0;
out:
    free_value(cert, cert_len);
    free_value(key, key_len);
    free_value(topic, topic_len);
    free_value(id, id_len);
    return result;
}

int registry_change_settings(struct registry *r, const char *dev_eui, const char *clear_prefix,
                             const struct registry_change *changes, size_t n, bool *found)
{
    *found = false;
    bool own;
    if (tx_open(r, &own) != 0)
        return -1;
    if (device_exists(r, dev_eui, found) != 0)
        return tx_close(r, own, false);
    if (!*found)
        return tx_close(r, own, true);
    if (clear_prefix && clear_prefix[0]) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(r->db,
                               "DELETE FROM device_settings WHERE dev_eui = ?1 AND "
                               "substr(key, 1, length(?2)) = ?2",
                               -1, &st, NULL) != SQLITE_OK) {
            fail(r, "preparing a setting update");
            return tx_close(r, own, false);
        }
        sqlite3_bind_text(st, 1, dev_eui, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, clear_prefix, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            fail(r, "removing settings");
            return tx_close(r, own, false);
        }
    }
    char *norm = malloc(DEVICE_SETTING_VALUE_MAX + 1);
    if (norm == NULL) {
        fail_with(r, "out of memory");
        return tx_close(r, own, false);
    }
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        const struct registry_change *c = &changes[i];
        const struct device_setting_def *def = device_setting_find(c->key);
        /* an unknown or derived key fails the check whatever the value: its message says
         * why; removing a known key needs no value to check */
        bool settable = def && !(def->flags & DEVICE_SETTING_DERIVED);
        if ((!settable || c->value) &&
            device_setting_check(c->key, c->value ? c->value : "", c->value ? c->len : 0, norm,
                                 DEVICE_SETTING_VALUE_MAX + 1, r->errmsg, sizeof(r->errmsg)) != 0) {
            ok = false;
            break;
        }
        size_t len = c->value ? strlen(norm) : 0;
        if (def->flags & DEVICE_SETTING_COLUMN) { /* name */
            int changed = 0;
            sqlite3_stmt *st;
            ok = sqlite3_prepare_v2(r->db, "UPDATE devices SET name = ?2 WHERE dev_eui = ?1", -1,
                                    &st, NULL) == SQLITE_OK;
            if (ok) {
                sqlite3_bind_text(st, 1, dev_eui, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, c->value ? norm : "", (int)len, SQLITE_TRANSIENT);
                ok = sqlite3_step(st) == SQLITE_DONE;
                changed = sqlite3_changes(r->db);
                sqlite3_finalize(st);
            }
            if (!ok || changed != 1) {
                fail(r, "renaming the device");
                ok = false;
            }
        } else {
            ok = put_setting(r, dev_eui, c->key, c->value ? norm : NULL, len) == 0;
        }
    }
    OPENSSL_cleanse(norm, DEVICE_SETTING_VALUE_MAX + 1);
    free(norm);
    if (ok)
        ok = settle(r, dev_eui) == 0;
    return tx_close(r, own, ok);
}

/* PEM texts carry line breaks: the read check of a stored value allows CR, LF and tab in
 * them, as device_setting_check allowed them in (OpenSSL parsed it). */
static bool stored_text_ok(const struct device_setting_def *def, const unsigned char *text,
                           size_t n)
{
    if (memchr(text, '\0', n) != NULL)
        return false;
    if (def && (def->type == DEVICE_SETTING_CERT || def->type == DEVICE_SETTING_KEY))
        return true;
    return device_setting_text_ok((const char *)text, n);
}

int registry_get_setting(struct registry *r, const char *dev_eui, const char *key, char *out,
                         size_t out_size, size_t *len, bool *found)
{
    *found = false;
    *len = 0;
    if (out_size > 0)
        out[0] = '\0';
    const struct device_setting_def *def = device_setting_find(key);
    bool column = def && (def->flags & DEVICE_SETTING_COLUMN);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db,
                           column ? "SELECT name FROM devices WHERE dev_eui = ?1 AND name <> ''"
                                  : "SELECT value FROM device_settings WHERE dev_eui = ?1 AND "
                                    "key = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(r, "preparing a setting query");
    sqlite3_bind_text(st, 1, dev_eui, -1, SQLITE_STATIC);
    if (!column)
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), result = 0;
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        if (text == NULL || n < 0 || n > DEVICE_SETTING_VALUE_MAX ||
            !stored_text_ok(def, text, (size_t)n)) {
            result = fail_with(r, "damaged row in the device_settings table");
        } else if ((size_t)n >= out_size) {
            snprintf(r->errmsg, sizeof(r->errmsg), "%.64s: its value has %d bytes, more than %zu",
                     key, n, out_size ? out_size - 1 : 0);
            result = -1;
        } else {
            memcpy(out, text, (size_t)n);
            out[n] = '\0';
            *len = (size_t)n;
            *found = true;
        }
    } else if (rc != SQLITE_DONE) {
        result = fail(r, "reading a setting");
    }
    sqlite3_finalize(st);
    return result;
}

int registry_list_settings(struct registry *r, const char *dev_eui, const char *prefix,
                           registry_setting_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db,
                           "SELECT key, value FROM device_settings WHERE dev_eui = ?1 AND "
                           "substr(key, 1, length(?2)) = ?2 ORDER BY key",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(r, "preparing a settings query");
    sqlite3_bind_text(st, 1, dev_eui, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, prefix ? prefix : "", -1, SQLITE_STATIC);
    int rc, result = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const unsigned char *value = sqlite3_column_text(st, 1);
        int n = sqlite3_column_bytes(st, 1);
        const struct device_setting_def *def = key ? device_setting_find(key) : NULL;
        if (key == NULL || value == NULL || n < 0 || n > DEVICE_SETTING_VALUE_MAX ||
            !stored_text_ok(def, value, (size_t)n)) {
            result = fail_with(r, "damaged row in the device_settings table");
            break;
        }
        if (!fn(ctx, key, def, (const char *)value, (size_t)n))
            break;
    }
    if (result == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        result = fail(r, "listing settings");
    sqlite3_finalize(st);
    return result;
}

int registry_list_devices_with(struct registry *r, const char *prefix, registry_eui_fn fn,
                               void *ctx)
{
    /* key >= prefix AND key < prefix-with-its-last-byte-raised: a range of the
     * (key, dev_eui) index rather than a scan */
    char upper[DEVICE_SETTING_KEY_MAX + 2];
    size_t n = prefix ? strlen(prefix) : 0;
    if (n > DEVICE_SETTING_KEY_MAX)
        return fail_with(r, "prefix longer than any key");
    memcpy(upper, prefix ? prefix : "", n);
    upper[n] = '\0';
    bool bounded = n > 0 && (unsigned char)upper[n - 1] < 0xff;
    if (bounded)
        upper[n - 1] = (char)((unsigned char)upper[n - 1] + 1);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db,
                           bounded ? "SELECT DISTINCT dev_eui FROM device_settings WHERE key >= ?1 "
                                     "AND key < ?2 ORDER BY dev_eui"
                                   : "SELECT DISTINCT dev_eui FROM device_settings WHERE "
                                     "substr(key, 1, length(?1)) = ?1 ORDER BY dev_eui",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(r, "preparing a settings query");
    sqlite3_bind_text(st, 1, prefix ? prefix : "", -1, SQLITE_STATIC);
    if (bounded)
        sqlite3_bind_text(st, 2, upper, -1, SQLITE_STATIC);
    int rc, result = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        char eui[FRAME_DEVICE_ID_SIZE];
        if (text == NULL || frame_parse_device_id(text, strlen(text), eui) != 0) {
            result = fail_with(r, "damaged row in the device_settings table");
            break;
        }
        if (!fn(ctx, eui))
            break;
    }
    if (result == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        result = fail(r, "listing devices");
    sqlite3_finalize(st);
    return result;
}

int registry_settings_generation(struct registry *r, int64_t *generation)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(r->db, "SELECT value FROM registry_generation WHERE id = 1", -1, &st,
                           NULL) != SQLITE_OK)
        return fail(r, "preparing the generation query");
    int rc = sqlite3_step(st);
    bool ok = rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER;
    *generation = ok ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (!ok)
        return rc == SQLITE_ROW || rc == SQLITE_DONE
                   ? fail_with(r, "damaged row in the registry_generation table")
                   : fail(r, "reading the generation");
    return 0;
}
