/*
 * registry.c - the device registry behind registry.h.
 *
 * Statements are prepared per call: the registry is used once per LoRaWAN frame (at most a
 * few per second on a gateway) and by a command-line tool, where preparing costs nothing
 * that matters and keeps the code plain. Multi-statement changes run in BEGIN IMMEDIATE
 * transactions so that two writers (daemon and sensorbroctl) cannot interleave them.
 */
#include "lorawan/registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sqlite3.h>

#include "util/clock.h"
#include "store/schema.h"

struct registry {
    sqlite3 *db;
    bool read_only;
    char errmsg[REGISTRY_ERROR_SIZE];
};

#define DEVICE_COLUMNS                                                                             \
    "dev_eui, name, labels, activation, dev_addr, nwk_s_key, app_s_key, join_eui, app_key, "       \
    "fcnt_up, fcnt_down, app_nonce, created_ms, session_frame_id, session_quarantine_id"

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
        !copy_text(st, 2, d->labels, sizeof(d->labels)) ||
        !copy_text(st, 3, activation, sizeof(activation)))
        return false;
    if (strcmp(activation, "abp") == 0)
        d->activation = REGISTRY_ABP;
    else if (strcmp(activation, "otaa") == 0)
        d->activation = REGISTRY_OTAA;
    else
        return false;
    if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
        if (!in_range(st, 4, 0, UINT32_MAX) || !copy_key(st, 5, d->nwk_s_key) ||
            !copy_key(st, 6, d->app_s_key))
            return false;
        d->dev_addr = (uint32_t)sqlite3_column_int64(st, 4);
        d->has_session = true;
    } else if (d->activation == REGISTRY_ABP) {
        return false;
    }
    if (d->activation == REGISTRY_OTAA) {
        if (!copy_text(st, 7, join_eui, sizeof(join_eui)) || !parse_eui(join_eui, &d->join_eui) ||
            !copy_key(st, 8, d->app_key))
            return false;
    }
    if (sqlite3_column_type(st, 9) != SQLITE_NULL) {
        if (!in_range(st, 9, 0, UINT32_MAX))
            return false;
        d->has_fcnt_up = true;
        d->fcnt_up = (uint32_t)sqlite3_column_int64(st, 9);
    }
    if (!in_range(st, 10, 0, UINT32_MAX) || !in_range(st, 11, 0, 0xffffff) ||
        !in_range(st, 12, INT64_MIN, INT64_MAX) || !in_range(st, 13, 0, INT64_MAX) ||
        !in_range(st, 14, 0, INT64_MAX))
        return false;
    d->fcnt_down = (uint32_t)sqlite3_column_int64(st, 10);
    d->app_nonce = (uint32_t)sqlite3_column_int64(st, 11);
    d->created_ms = sqlite3_column_int64(st, 12);
    d->session_frame_id = sqlite3_column_int64(st, 13);
    d->session_quarantine_id = sqlite3_column_int64(st, 14);
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
             "INSERT INTO devices(" DEVICE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
             "NULL, 0, 0, ?10, %s)",
             SESSION_MARKS_SQL);
    if (exec(r, "BEGIN IMMEDIATE") != 0)
        return -1;
    sqlite3_stmt *st = NULL;
    struct registry_device existing;
    bool found = false;
    if (registry_get(r, dev->dev_eui, &existing, &found) != 0) {
        rollback(r);
        return -1;
    }
    OPENSSL_cleanse(&existing, sizeof(existing));
    if (found) {
        rollback(r);
        *exists = true;
        snprintf(r->errmsg, sizeof(r->errmsg), "device %s exists already", dev->dev_eui);
        return -1;
    }
    if (dev->activation == REGISTRY_ABP) {
        bool taken = false;
        if (registry_dev_addr_taken(r, dev->dev_addr, &taken) != 0) {
            rollback(r);
            return -1;
        }
        if (taken) {
            rollback(r);
            snprintf(r->errmsg, sizeof(r->errmsg), "DevAddr %08" PRIx32 " is another device's",
                     dev->dev_addr);
            return -1;
        }
    }
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fail(r, "preparing the insert");
        rollback(r);
        return -1;
    }
    char join_eui[FRAME_DEVICE_ID_SIZE];
    snprintf(join_eui, sizeof(join_eui), "%016" PRIx64, dev->join_eui);
    sqlite3_bind_text(st, 1, dev->dev_eui, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, dev->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, dev->labels[0] ? dev->labels : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, dev->activation == REGISTRY_ABP ? "abp" : "otaa", -1, SQLITE_STATIC);
    if (dev->activation == REGISTRY_ABP) {
        sqlite3_bind_int64(st, 5, dev->dev_addr);
        sqlite3_bind_blob(st, 6, dev->nwk_s_key, REGISTRY_KEY_SIZE, SQLITE_STATIC);
        sqlite3_bind_blob(st, 7, dev->app_s_key, REGISTRY_KEY_SIZE, SQLITE_STATIC);
    } else {
        sqlite3_bind_text(st, 8, join_eui, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 9, dev->app_key, REGISTRY_KEY_SIZE, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 10, clock_wall_ms());
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        fail(r, "adding the device");
        rollback(r);
        return -1;
    }
    return exec(r, "COMMIT");
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
    /* foreign keys cascade to dev_nonces and downlinks */
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
    if (exec(r, "BEGIN IMMEDIATE") != 0)
        return -1;
    int64_t v = 0;
    if (read_counter(r, column, dev_eui, &v) != 0) {
        rollback(r);
        return -1;
    }
    if (v < 0 || v >= limit) {
        rollback(r);
        snprintf(r->errmsg, sizeof(r->errmsg), "device %s: %s used up", dev_eui, column);
        return -1;
    }
    char sql[128];
    snprintf(sql, sizeof(sql), "UPDATE devices SET %s = ?2 WHERE dev_eui = ?1", column);
    if (run_eui(r, sql, dev_eui, true, v + 1, NULL) != 0) {
        rollback(r);
        return -1;
    }
    if (exec(r, "COMMIT") != 0) {
        rollback(r);
        return -1;
    }
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
