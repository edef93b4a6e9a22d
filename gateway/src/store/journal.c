/*
 * journal.c - SQLite storage behind journal.h.
 *
 * Each statement is prepared once at open and reset after use. The schema, its migrations
 * and how a connection is opened are store/schema.c's: the journal shares its file with the
 * LoRaWAN registry, and the file has one list of migrations.
 */
#include "store/journal.h"

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "decode.h" /* UPLINK_STATUS_* */

/* The radio columns, in this order, follow the record's own in every statement below,
 * and heard_ms follows them. */
#define RADIO_COLUMNS     "fcnt, fport, rssi_dbm, snr_db, freq_hz, datr, gateways, heard_ms"
#define RADIO_PARAMS      "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14"
#define RADIO_FIRST_PARAM 7
#define HEARD_PARAM       14

enum statement {
    STMT_BEGIN,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_APPEND,
    STMT_QUARANTINE,
    STMT_COPY_TO_QUARANTINE,
    STMT_DELETE_FRAME,
    STMT_MARK_PUBLISHED,
    STMT_READ_PENDING,
    STMT_READ_QUARANTINE,
    STMT_READ_FRAMES,
    STMT_TRIM,
    STMT_DROP_OLDEST_PENDING,
    STMT_ADD_COUNTER,
    STMT_FIND_RESEND,
    STMT_GET_EPOCH,
    STMT_SET_EPOCH,
    STMT_SET_PROGRESS,
    STMT_READ_PROGRESS,
    STMT_DELETE_PROGRESS,
    STMT_CLEAR_PROGRESS,
    STMT_COUNT
};

static const char *const statement_sql[STMT_COUNT] = {
    [STMT_BEGIN] = "BEGIN IMMEDIATE",
    [STMT_COMMIT] = "COMMIT",
    [STMT_ROLLBACK] = "ROLLBACK",
    /* ?6 is the quarantine reason; frames have none */
    [STMT_APPEND] =
        "INSERT INTO frames(device, transport, source, received_ms, payload, "
        "seq, epoch, " RADIO_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?15, ?16, " RADIO_PARAMS ")",
    [STMT_QUARANTINE] =
        "INSERT INTO quarantine(device, transport, source, received_ms, payload, "
        "reason, " RADIO_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, " RADIO_PARAMS ")",
    [STMT_COPY_TO_QUARANTINE] =
        "INSERT INTO quarantine(device, transport, source, received_ms, payload, "
        "reason, " RADIO_COLUMNS
        ") SELECT device, transport, source, received_ms, payload, ?2, " RADIO_COLUMNS
        " FROM frames WHERE id = ?1 AND published_ms IS NULL",
    [STMT_DELETE_FRAME] = "DELETE FROM frames WHERE id = ?1",
    [STMT_MARK_PUBLISHED] =
        "UPDATE frames SET published_ms = ?2 WHERE id = ?1 AND published_ms IS NULL",
    [STMT_READ_PENDING] =
        "SELECT id, device, transport, source, received_ms, payload, NULL, " RADIO_COLUMNS
        ", epoch FROM frames "
        "WHERE published_ms IS NULL AND id > ?1 ORDER BY id LIMIT ?2",
    /* every committed frame, published or not (the status page's history) */
    [STMT_READ_FRAMES] =
        "SELECT id, device, transport, source, received_ms, payload, NULL, " RADIO_COLUMNS
        ", epoch FROM frames WHERE id > ?1 AND received_ms >= ?3 ORDER BY id LIMIT ?2",
    [STMT_READ_QUARANTINE] =
        "SELECT id, device, transport, source, received_ms, payload, reason, " RADIO_COLUMNS
        " FROM quarantine WHERE id > ?1 ORDER BY id LIMIT ?2",
    [STMT_TRIM] = "DELETE FROM frames WHERE id IN (SELECT id FROM frames "
                  "WHERE published_ms IS NOT NULL AND published_ms < ?1 LIMIT ?2)",
    [STMT_DROP_OLDEST_PENDING] = "DELETE FROM frames WHERE id IN (SELECT id FROM frames "
                                 "WHERE published_ms IS NULL ORDER BY id LIMIT ?1)",
    [STMT_ADD_COUNTER] = "INSERT INTO counters(name, value) VALUES (?1, ?2) "
                         "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
    /* published rows count too: a resend may come after the first copy's PUBACK */
    [STMT_FIND_RESEND] = "SELECT id FROM frames WHERE device = ?1 AND seq = ?2 AND "
                         "received_ms >= ?3 AND payload = ?4 ORDER BY id DESC LIMIT 1",
    [STMT_GET_EPOCH] = "SELECT epoch, last_seq FROM device_epochs WHERE device = ?1",
    [STMT_SET_EPOCH] = "INSERT INTO device_epochs(device, epoch, last_seq) VALUES (?1, ?2, ?3) "
                       "ON CONFLICT(device) DO UPDATE SET epoch = excluded.epoch, "
                       "last_seq = excluded.last_seq",
    [STMT_SET_PROGRESS] = "INSERT INTO output_progress(output, device, delivered_id) "
                          "VALUES (?1, ?2, ?3) ON CONFLICT(output, device) DO UPDATE SET "
                          "delivered_id = max(delivered_id, excluded.delivered_id)",
    [STMT_READ_PROGRESS] = "SELECT output, device, delivered_id FROM output_progress",
    /* the outputs to keep, unused places bound to the first (journal_keep_progress) */
    [STMT_DELETE_PROGRESS] = "DELETE FROM output_progress WHERE output NOT IN "
                             "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [STMT_CLEAR_PROGRESS] = "DELETE FROM output_progress",
};

/* The epoch cache: each device's epoch and last seq as device_epochs holds them in the
 * open transaction, so that journal_append reads them from memory instead of one SELECT per
 * frame (issue 13's profile). The table stays the truth and is still written with every
 * frame, in the frame's transaction, so the epoch is exactly as durable as before; the cache
 * only ever holds what was read from or written to it on this connection. It is emptied on a
 * rollback (the writes it mirrored are gone) and when it fills (its entries are then read
 * again), which bounds it: EPOCH_CACHE_SLOTS entries of ~40 bytes, allocated at the first
 * append. Open addressing with linear probing, filled to at most 3/4. */
#define EPOCH_CACHE_SLOTS 16384 /* a power of two; ~640 KiB; 12,288 devices before a refill */
#define EPOCH_CACHE_MAX   (EPOCH_CACHE_SLOTS / 4 * 3)

struct epoch_entry {
    char device[FRAME_DEVICE_ID_SIZE]; /* "" when the slot is free */
    int64_t epoch;
    int64_t last_seq;
};

struct journal {
    sqlite3 *db;
    bool inspect_only; /* no statements: only journal_check_integrity and journal_close */
    int64_t resend_window_ms;
    struct epoch_entry *epochs; /* EPOCH_CACHE_SLOTS, or NULL before the first append */
    size_t n_epochs;
    sqlite3_stmt *stmt[STMT_COUNT];
    char errmsg[1024]; /* room for a full path in the damaged-journal advice */
};

static int fail(struct journal *j, const char *what)
{
    /* what may be a long statement: its start names it well enough */
    snprintf(j->errmsg, sizeof(j->errmsg), "%.120s: %.120s", what, sqlite3_errmsg(j->db));
    return -1;
}

const char *journal_errmsg(const struct journal *j)
{
    return j->errmsg;
}

/* Runs one statement to completion and resets it; SQLITE_ROW results are ignored. */
static int run(struct journal *j, enum statement which)
{
    assert(!j->inspect_only);
    sqlite3_stmt *st = j->stmt[which];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return fail(j, statement_sql[which]);
    return 0;
}

static int query_int64(struct journal *j, const char *sql, int64_t *value)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(j, sql);
    int rc = sqlite3_step(st);
    *value = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(j, sql);
    return 0;
}

int journal_open(struct journal **out, const char *path, const struct journal_options *options,
                 char *err, size_t err_size)
{
    *out = NULL;
    struct journal *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    j->inspect_only = options->inspect_only;
    j->resend_window_ms = options->resend_window_ms > 0 ? options->resend_window_ms : 0;
    struct schema_options so = {
        .access = options->inspect_only ? SCHEMA_INSPECT
                  : options->read_only  ? SCHEMA_READ_ONLY
                                        : SCHEMA_READ_WRITE,
        .synchronous =
            options->synchronous == JOURNAL_SYNC_FULL ? SCHEMA_SYNC_FULL : SCHEMA_SYNC_NORMAL,
        .busy_timeout_ms = options->busy_timeout_ms,
        .check_integrity = options->check_integrity,
    };
    if (schema_open(&j->db, path, &so, err, err_size) != 0) {
        journal_close(j);
        return -1;
    }
    /* a file opened to be inspected may be of any version, or damaged: no statements */
    for (int i = 0; i < STMT_COUNT && !j->inspect_only; i++) {
        if (sqlite3_prepare_v3(j->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &j->stmt[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, err_size, "%s: preparing \"%s\": %s", path, statement_sql[i],
                     sqlite3_errmsg(j->db));
            journal_close(j);
            return -1;
        }
    }
    *out = j;
    return 0;
}

/* Collects the findings for journal_check_integrity's caller. */
struct check_report {
    journal_check_fn fn;
    void *ctx;
};

static void report_finding(void *ctx, const char *finding)
{
    const struct check_report *r = ctx;
    r->fn(r->ctx, finding);
}

int journal_check_integrity(struct journal *j, bool full, unsigned max_findings,
                            journal_check_fn fn, void *ctx)
{
    struct check_report r = {fn, ctx};
    return schema_check_integrity(j->db, full, max_findings, fn ? report_finding : NULL, &r,
                                  j->errmsg, sizeof(j->errmsg));
}

void journal_close(struct journal *j)
{
    if (j == NULL)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(j->stmt[i]);
    sqlite3_close(j->db);
    free(j->epochs);
    free(j);
}

int journal_begin(struct journal *j)
{
    return run(j, STMT_BEGIN);
}

static void epoch_cache_clear(struct journal *j)
{
    if (j->epochs != NULL && j->n_epochs > 0)
        memset(j->epochs, 0, EPOCH_CACHE_SLOTS * sizeof(*j->epochs));
    j->n_epochs = 0;
}

int journal_commit(struct journal *j)
{
    int rc = run(j, STMT_COMMIT);
    /* a failed COMMIT may have rolled the transaction back on its own (SQLITE_FULL) */
    if (rc != 0)
        epoch_cache_clear(j);
    return rc;
}

void journal_rollback(struct journal *j)
{
    if (!sqlite3_get_autocommit(j->db))
        run(j, STMT_ROLLBACK);
    epoch_cache_clear(j);
}

static const void *payload_blob(const struct frame_record *rec)
{
    /* a zero-length blob must still be a blob, not NULL: give it a valid pointer */
    return rec->payload_len ? (const void *)rec->payload : "";
}

static void bind_record(sqlite3_stmt *st, const struct frame_record *rec)
{
    sqlite3_bind_text(st, 1, rec->device, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rec->transport, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rec->source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, rec->received_ms);
    sqlite3_bind_blob(st, 5, payload_blob(rec), (int)rec->payload_len, SQLITE_STATIC);
    if (rec->heard_ms != 0)
        sqlite3_bind_int64(st, HEARD_PARAM, rec->heard_ms);
    const struct frame_radio *r = &rec->radio;
    if (!r->has_lorawan)
        return; /* unbound parameters are NULL */
    int p = RADIO_FIRST_PARAM;
    sqlite3_bind_int64(st, p++, r->fcnt);
    sqlite3_bind_int(st, p++, r->fport);
    sqlite3_bind_int(st, p++, r->rssi_dbm);
    sqlite3_bind_double(st, p++, r->snr_db);
    if (r->freq_hz > 0)
        sqlite3_bind_int64(st, p, r->freq_hz);
    p++;
    sqlite3_bind_text(st, p++, r->datr, -1, SQLITE_TRANSIENT);
    char gateways[FRAME_MAX_GATEWAYS * FRAME_DEVICE_ID_SIZE] = "";
    size_t used = 0;
    for (uint8_t i = 0; i < r->n_gateways && i < FRAME_MAX_GATEWAYS; i++)
        used += (size_t)snprintf(gateways + used, sizeof(gateways) - used, "%s%s", i ? "," : "",
                                 r->gateways[i]);
    sqlite3_bind_text(st, p, gateways, -1, SQLITE_TRANSIENT);
}

/* The stored frame that rec repeats (same device, seq and bytes, within the window), or 0. */
static int find_resend(struct journal *j, const struct frame_record *rec, int64_t *found)
{
    sqlite3_stmt *st = j->stmt[STMT_FIND_RESEND];
    *found = 0;
    sqlite3_bind_text(st, 1, rec->device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, rec->seq);
    int64_t since = rec->received_ms > INT64_MIN + j->resend_window_ms
                        ? rec->received_ms - j->resend_window_ms
                        : INT64_MIN;
    sqlite3_bind_int64(st, 3, since);
    sqlite3_bind_blob(st, 4, payload_blob(rec), (int)rec->payload_len, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *found = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : fail(j, "looking for a resend");
}

/* The cache slot of device: its entry, or the free slot where it belongs; NULL when the
 * cache cannot be allocated (the table is read then). */
static struct epoch_entry *epoch_slot(struct journal *j, const char *device)
{
    if (device[0] == '\0') /* "" marks a free slot; such a device is read from the table */
        return NULL;
    if (j->epochs == NULL) {
        j->epochs = calloc(EPOCH_CACHE_SLOTS, sizeof(*j->epochs));
        if (j->epochs == NULL)
            return NULL;
    }
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *c = device; *c != '\0'; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    for (size_t i = h & (EPOCH_CACHE_SLOTS - 1);; i = (i + 1) & (EPOCH_CACHE_SLOTS - 1)) {
        struct epoch_entry *e = &j->epochs[i];
        /* fewer than 3/4 of the slots are used, so this ends */
        if (e->device[0] == '\0' || strcmp(e->device, device) == 0)
            return e;
    }
}

/* The device's epoch and last seq (*known false: none yet), from the cache or the table. */
static int read_epoch(struct journal *j, const char *device, struct epoch_entry **slot, bool *known,
                      int64_t *epoch, int64_t *last_seq)
{
    *slot = epoch_slot(j, device);
    if (*slot != NULL && (*slot)->device[0] != '\0') {
        *known = true;
        *epoch = (*slot)->epoch;
        *last_seq = (*slot)->last_seq;
        return 0;
    }
    sqlite3_stmt *st = j->stmt[STMT_GET_EPOCH];
    sqlite3_bind_text(st, 1, device, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *known = rc == SQLITE_ROW;
    if (*known) {
        *epoch = sqlite3_column_int64(st, 0);
        *last_seq = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(j, "reading the device's epoch");
    return 0;
}

/* Chooses the epoch of rec's message id and records rec as the device's last frame (see
 * journal.h for the rules). */
static int assign_epoch(struct journal *j, const struct frame_record *rec, int64_t *epoch)
{
    struct epoch_entry *slot;
    bool known, keep = false;
    int64_t current = 0, last_seq = 0;
    if (read_epoch(j, rec->device, &slot, &known, &current, &last_seq) != 0)
        return -1;
    if (known) {
        /* A higher seq cannot repeat an id of this epoch. The last seq again is that
         * uplink sent again (a node re-encodes a retry: its age_s moved on, so the bytes
         * differ) and keeps its id, unless the node says its sequence started over. */
        keep = (int64_t)rec->seq > last_seq ||
               ((int64_t)rec->seq == last_seq && (rec->status & UPLINK_STATUS_NVM_RESET) == 0);
    }
    if (keep) {
        *epoch = current;
    } else {
        int64_t received_s = rec->received_ms >= 0 ? rec->received_ms / 1000 : 0;
        *epoch = received_s > current ? received_s : current + 1;
        if (*epoch < 1)
            *epoch = 1;
    }
    sqlite3_stmt *st = j->stmt[STMT_SET_EPOCH];
    sqlite3_bind_text(st, 1, rec->device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, *epoch);
    sqlite3_bind_int64(st, 3, rec->seq);
    if (run(j, STMT_SET_EPOCH) != 0)
        return -1; /* the writer rolls the batch back, which empties the cache */
    if (slot == NULL)
        return 0;
    if (slot->device[0] == '\0') {
        if (j->n_epochs >= EPOCH_CACHE_MAX) {
            epoch_cache_clear(j);
            slot = epoch_slot(j, rec->device);
        }
        snprintf(slot->device, sizeof(slot->device), "%s", rec->device);
        j->n_epochs++;
    }
    slot->epoch = *epoch;
    slot->last_seq = rec->seq;
    return 0;
}

int journal_append(struct journal *j, const struct frame_record *rec, int64_t *id)
{
    int64_t epoch = 0;
    if (rec->has_uplink) {
        if (j->resend_window_ms > 0) {
            int64_t found;
            if (find_resend(j, rec, &found) != 0)
                return -1;
            if (found != 0) {
                *id = found;
                return JOURNAL_APPEND_RESEND;
            }
        }
        if (assign_epoch(j, rec, &epoch) != 0)
            return -1;
    }
    sqlite3_stmt *st = j->stmt[STMT_APPEND];
    bind_record(st, rec);
    if (rec->has_uplink) {
        sqlite3_bind_int64(st, 15, rec->seq);
        sqlite3_bind_int64(st, 16, epoch);
    }
    if (run(j, STMT_APPEND) != 0)
        return -1;
    *id = sqlite3_last_insert_rowid(j->db);
    return 0;
}

int journal_quarantine(struct journal *j, const struct frame_record *rec, const char *reason,
                       int64_t *id)
{
    bind_record(j->stmt[STMT_QUARANTINE], rec);
    sqlite3_bind_text(j->stmt[STMT_QUARANTINE], 6, reason, -1, SQLITE_STATIC);
    if (run(j, STMT_QUARANTINE) != 0)
        return -1;
    *id = sqlite3_last_insert_rowid(j->db);
    return 0;
}

int journal_move_to_quarantine(struct journal *j, int64_t frame_id, const char *reason)
{
    sqlite3_bind_int64(j->stmt[STMT_COPY_TO_QUARANTINE], 1, frame_id);
    sqlite3_bind_text(j->stmt[STMT_COPY_TO_QUARANTINE], 2, reason, -1, SQLITE_STATIC);
    if (run(j, STMT_COPY_TO_QUARANTINE) != 0)
        return -1;
    if (sqlite3_changes(j->db) == 0)
        return 0; /* already published or gone: nothing to move */
    sqlite3_bind_int64(j->stmt[STMT_DELETE_FRAME], 1, frame_id);
    return run(j, STMT_DELETE_FRAME);
}

int journal_mark_published(struct journal *j, int64_t frame_id, int64_t published_ms)
{
    sqlite3_bind_int64(j->stmt[STMT_MARK_PUBLISHED], 1, frame_id);
    sqlite3_bind_int64(j->stmt[STMT_MARK_PUBLISHED], 2, published_ms);
    return run(j, STMT_MARK_PUBLISHED);
}

int journal_set_progress(struct journal *j, const char *output, const char *device,
                         int64_t delivered_id)
{
    sqlite3_stmt *st = j->stmt[STMT_SET_PROGRESS];
    sqlite3_bind_text(st, 1, output, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, device, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, delivered_id);
    return run(j, STMT_SET_PROGRESS);
}

int journal_read_progress(struct journal *j, journal_progress_fn fn, void *ctx)
{
    sqlite3_stmt *st = j->stmt[STMT_READ_PROGRESS];
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *output = sqlite3_column_text(st, 0);
        const unsigned char *device = sqlite3_column_text(st, 1);
        fn(ctx, output ? (const char *)output : "", device ? (const char *)device : "",
           sqlite3_column_int64(st, 2));
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : fail(j, "reading the outputs' progress");
}

int journal_keep_progress(struct journal *j, const char *const *outputs, unsigned n,
                          uint32_t *deleted)
{
    _Static_assert(JOURNAL_MAX_OUTPUTS == 8, "STMT_DELETE_PROGRESS has 8 places");
    *deleted = 0;
    if (n > JOURNAL_MAX_OUTPUTS)
        return -1;
    enum statement which = n == 0 ? STMT_CLEAR_PROGRESS : STMT_DELETE_PROGRESS;
    for (unsigned i = 0; n > 0 && i < JOURNAL_MAX_OUTPUTS; i++)
        sqlite3_bind_text(j->stmt[which], (int)i + 1, outputs[i < n ? i : 0], -1, SQLITE_STATIC);
    if (run(j, which) != 0)
        return -1;
    *deleted = (uint32_t)sqlite3_changes(j->db);
    return 0;
}

/* Copies a text column into dst (dst_size bytes); returns false when it does not fit. */
static bool column_text(sqlite3_stmt *st, int col, char *dst, size_t dst_size)
{
    const unsigned char *text = sqlite3_column_text(st, col);
    int len = sqlite3_column_bytes(st, col);
    if (text == NULL || len < 0 || (size_t)len >= dst_size) {
        dst[0] = '\0';
        return false;
    }
    memcpy(dst, text, (size_t)len);
    dst[len] = '\0';
    return true;
}

/* Column of fcnt in the read statements: id, 5 record columns, reason (or NULL), radio,
 * heard_ms; then, reading pending frames, the epoch. */
#define RADIO_FIRST_COLUMN 7
#define HEARD_COLUMN       14
#define EPOCH_COLUMN       15

/* Reads the radio columns, checking every bound. A NULL fcnt means no LoRaWAN metadata.
 * Returns NULL, or what is wrong with the row. */
static const char *read_radio(sqlite3_stmt *st, int col, struct frame_radio *r)
{
    memset(r, 0, sizeof(*r));
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return NULL;
    int64_t fcnt = sqlite3_column_int64(st, col);
    int64_t fport = sqlite3_column_int64(st, col + 1);
    int64_t rssi = sqlite3_column_int64(st, col + 2);
    int64_t freq = sqlite3_column_int64(st, col + 4);
    if (fcnt < 0 || fcnt > UINT32_MAX || fport < 0 || fport > 255 || rssi < INT16_MIN ||
        rssi > INT16_MAX || freq < 0 || freq > UINT32_MAX)
        return "damaged row: radio metadata out of range";
    r->has_lorawan = true;
    r->fcnt = (uint32_t)fcnt;
    r->fport = (uint8_t)fport;
    r->rssi_dbm = (int16_t)rssi;
    r->snr_db = (float)sqlite3_column_double(st, col + 3);
    r->freq_hz = (uint32_t)freq;
    if (sqlite3_column_type(st, col + 5) != SQLITE_NULL &&
        !column_text(st, col + 5, r->datr, sizeof(r->datr)))
        return "damaged row: data rate too long";
    char gateways[FRAME_MAX_GATEWAYS * FRAME_DEVICE_ID_SIZE];
    if (sqlite3_column_type(st, col + 6) == SQLITE_NULL)
        return NULL;
    if (!column_text(st, col + 6, gateways, sizeof(gateways)))
        return "damaged row: gateway list too long";
    for (const char *g = gateways; *g != '\0';) {
        size_t len = strcspn(g, ",");
        if (r->n_gateways == FRAME_MAX_GATEWAYS ||
            frame_parse_device_id(g, len, r->gateways[r->n_gateways]) != 0)
            return "damaged row: gateway list is not EUIs";
        r->n_gateways++;
        g += len;
        if (*g == ',')
            g++;
    }
    return NULL;
}

/* Reads columns 1..5 (device, transport, source, received_ms, payload) and the radio
 * columns of a row into rec, checking every bound. Returns NULL, or what is wrong. */
static const char *read_record(sqlite3_stmt *st, struct frame_record *rec)
{
    char device[64];
    bool device_ok = column_text(st, 1, device, sizeof(device));
    bool transport_ok = column_text(st, 2, rec->transport, sizeof(rec->transport));
    bool source_ok = column_text(st, 3, rec->source, sizeof(rec->source));
    rec->received_ms = sqlite3_column_int64(st, 4);
    const void *blob = sqlite3_column_blob(st, 5);
    int blob_len = sqlite3_column_bytes(st, 5);
    rec->payload_len = 0;
    rec->device[0] = '\0';
    if (!device_ok || frame_parse_device_id(device, strlen(device), rec->device) != 0)
        return "damaged row: device id is not 16 hex digits";
    if (!transport_ok || !source_ok)
        return "damaged row: transport or source too long";
    if (blob_len < 0 || blob_len > FRAME_MAX_PAYLOAD_BYTES || (blob == NULL && blob_len > 0))
        return "damaged row: payload larger than any frame";
    if (blob_len > 0)
        memcpy(rec->payload, blob, (size_t)blob_len);
    rec->payload_len = (size_t)blob_len;
    rec->heard_ms = sqlite3_column_int64(st, HEARD_COLUMN); /* NULL reads as 0: unknown */
    rec->has_uplink = false; /* the decode's findings are not stored: decode again */
    rec->seq = rec->status = 0;
    if (rec->heard_ms < 0)
        return "damaged row: negative heard time";
    return read_radio(st, RADIO_FIRST_COLUMN, &rec->radio);
}

static int read_frames(struct journal *j, enum statement which, int64_t after_id, int64_t since_ms,
                       struct journal_frame *frames, size_t max, size_t *count)
{
    sqlite3_stmt *st = j->stmt[which];
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    if (which == STMT_READ_FRAMES)
        sqlite3_bind_int64(st, 3, since_ms);
    size_t n = 0;
    int rc = SQLITE_DONE;
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct journal_frame *f = &frames[n++];
        f->id = sqlite3_column_int64(st, 0);
        const char *damage = read_record(st, &f->record);
        f->epoch = sqlite3_column_int64(st, EPOCH_COLUMN); /* NULL: before schema 6, 0 */
        if (damage == NULL && f->epoch < 0)
            damage = "damaged row: negative epoch";
        f->damaged = damage != NULL;
        snprintf(f->damage, sizeof(f->damage), "%s", damage ? damage : "");
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(j, "reading frames");
    *count = n;
    return 0;
}

int journal_read_pending(struct journal *j, int64_t after_id, struct journal_frame *frames,
                         size_t max, size_t *count)
{
    return read_frames(j, STMT_READ_PENDING, after_id, 0, frames, max, count);
}

int journal_read_frames(struct journal *j, int64_t after_id, int64_t since_ms,
                        struct journal_frame *frames, size_t max, size_t *count)
{
    return read_frames(j, STMT_READ_FRAMES, after_id, since_ms, frames, max, count);
}

int journal_read_quarantine(struct journal *j, int64_t after_id,
                            struct journal_quarantine_entry *entries, size_t max, size_t *count)
{
    sqlite3_stmt *st = j->stmt[STMT_READ_QUARANTINE];
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
    size_t n = 0;
    int rc = SQLITE_DONE;
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct journal_quarantine_entry *e = &entries[n++];
        e->id = sqlite3_column_int64(st, 0);
        const char *damage = read_record(st, &e->record);
        if (!column_text(st, 6, e->reason, sizeof(e->reason)) && e->reason[0] == '\0')
            snprintf(e->reason, sizeof(e->reason), "(reason unreadable)");
        if (damage != NULL)
            snprintf(e->reason, sizeof(e->reason), "%s", damage);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(j, "reading quarantine");
    *count = n;
    return 0;
}

int journal_trim_published(struct journal *j, int64_t before_ms, uint32_t max_rows,
                           uint32_t *deleted)
{
    sqlite3_bind_int64(j->stmt[STMT_TRIM], 1, before_ms);
    sqlite3_bind_int64(j->stmt[STMT_TRIM], 2, max_rows);
    if (run(j, STMT_TRIM) != 0)
        return -1;
    *deleted = (uint32_t)sqlite3_changes(j->db);
    return 0;
}

int journal_drop_oldest_pending(struct journal *j, uint32_t max_rows, uint32_t *deleted)
{
    sqlite3_bind_int64(j->stmt[STMT_DROP_OLDEST_PENDING], 1, max_rows);
    if (run(j, STMT_DROP_OLDEST_PENDING) != 0)
        return -1;
    *deleted = (uint32_t)sqlite3_changes(j->db);
    return 0;
}

int journal_add_counter(struct journal *j, const char *name, int64_t delta)
{
    sqlite3_bind_text(j->stmt[STMT_ADD_COUNTER], 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(j->stmt[STMT_ADD_COUNTER], 2, delta);
    return run(j, STMT_ADD_COUNTER);
}

int journal_save_status(struct journal *j, const struct metrics *m)
{
    if (journal_begin(j) != 0)
        return -1;
    sqlite3_stmt *insert = NULL;
    int rc = sqlite3_exec(j->db, "DELETE FROM status", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(
            j->db, "INSERT INTO status(position, name, kind, value) VALUES (?1, ?2, ?3, ?4)", -1,
            &insert, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < m->count; i++) {
        const struct metric *item = &m->items[i];
        sqlite3_bind_int64(insert, 1, (int64_t)i);
        sqlite3_bind_text(insert, 2, item->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(insert, 3, item->kind == METRIC_COUNTER ? "counter" : "gauge", -1,
                          SQLITE_STATIC);
        sqlite3_bind_double(insert, 4, item->value);
        rc = sqlite3_step(insert) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
        sqlite3_reset(insert);
    }
    if (rc != SQLITE_OK)
        fail(j, "saving the status");
    sqlite3_finalize(insert);
    if (rc == SQLITE_OK && journal_commit(j) == 0)
        return 0;
    journal_rollback(j);
    return -1;
}

int journal_read_status(struct journal *j, struct metrics *out)
{
    metrics_clear(out);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(j->db, "SELECT name, kind, value FROM status ORDER BY position", -1, &st,
                           NULL) != SQLITE_OK)
        return fail(j, "reading the status");
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* rows on disk are untrusted: a name that does not fit or a type that is not text
         * is left out rather than cut */
        const unsigned char *name = sqlite3_column_text(st, 0);
        const unsigned char *kind = sqlite3_column_text(st, 1);
        if (name == NULL || kind == NULL || sqlite3_column_type(st, 2) == SQLITE_NULL)
            continue;
        enum metric_kind k =
            strcmp((const char *)kind, "counter") == 0 ? METRIC_COUNTER : METRIC_GAUGE;
        if (metrics_add(out, k, (const char *)name, NULL, NULL, sqlite3_column_double(st, 2)) !=
                0 &&
            out->count == METRICS_MAX)
            break;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(j, "reading the status");
    return 0;
}

int journal_space(struct journal *j, struct journal_space *space)
{
    int64_t page_count = 0, freelist = 0, page_size = 0;
    if (query_int64(j, "PRAGMA page_count", &page_count) != 0 ||
        query_int64(j, "PRAGMA freelist_count", &freelist) != 0 ||
        query_int64(j, "PRAGMA page_size", &page_size) != 0)
        return -1;
    space->file_bytes = page_count * page_size;
    space->free_page_bytes = freelist * page_size;
    space->used_bytes = space->file_bytes - space->free_page_bytes;
    return 0;
}

int journal_stats(struct journal *j, struct journal_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    int64_t page_count = 0, page_size = 0;
    /* one read transaction, so that all figures come from the same snapshot */
    if (sqlite3_exec(j->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return fail(j, "BEGIN");
    int rc = query_int64(j, "SELECT count(*) FROM frames WHERE published_ms IS NULL",
                         &stats->pending_frames);
    if (rc == 0)
        rc = query_int64(j,
                         "SELECT received_ms FROM frames WHERE id = "
                         "(SELECT min(id) FROM frames WHERE published_ms IS NULL)",
                         &stats->oldest_pending_ms);
    if (rc == 0)
        rc = query_int64(j, "SELECT count(*) FROM frames WHERE published_ms IS NOT NULL",
                         &stats->published_frames);
    if (rc == 0)
        rc = query_int64(j, "SELECT count(*) FROM quarantine", &stats->quarantined_frames);
    if (rc == 0)
        rc = query_int64(j, "SELECT seq FROM sqlite_sequence WHERE name = 'frames'",
                         &stats->last_frame_id);
    if (rc == 0)
        rc = query_int64(j,
                         "SELECT coalesce(sum(value), 0) FROM counters WHERE name = "
                         "'dropped_journal_full'",
                         &stats->dropped_journal_full);
    if (rc == 0)
        rc = query_int64(j,
                         "SELECT coalesce(sum(value), 0) FROM counters WHERE name = "
                         "'dropped_disk_floor'",
                         &stats->dropped_disk_floor);
    if (rc == 0)
        rc = query_int64(j, "PRAGMA page_count", &page_count);
    if (rc == 0)
        rc = query_int64(j, "PRAGMA page_size", &page_size);
    sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
    stats->database_bytes = page_count * page_size;
    return rc;
}
