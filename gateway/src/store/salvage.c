/*
 * salvage.c - copying what is readable out of a damaged journal (salvage.h).
 *
 * SQLite reads a table in rowid order through its b-tree; a damaged page stops that read
 * with SQLITE_CORRUPT. Each table is therefore read forward until it stops, and read again
 * from a little past the last row that came, further each time nothing does, so that one
 * bad page costs only the rows on it. Rows go into a journal of the current schema made by
 * the same code as every other (store/schema.c), in one transaction: the output is either
 * a whole salvage or nothing.
 */
#include "store/salvage.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/schema.h"

/* Copies the rows of one table that can still be read, in rowid order: forward until the
 * first damaged page, then probing past it with growing steps, so that one bad page
 * costs only the rows on it. Values are copied as they are; the journal's readers check
 * every bound when the rows are used. */
static void salvage_table(sqlite3 *src, sqlite3 *dst, const char *table,
                          struct salvage_table *report)
{
    char columns[1024] = "", params[256] = "", sql[1536];
    size_t n_columns = 0;
    bool has_rowid = true;
    snprintf(report->name, sizeof(report->name), "%s", table);
    /* the columns both databases have: the damaged one may be of an older schema */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(src, "SELECT name FROM pragma_table_info(?1)", -1, &st, NULL) !=
        SQLITE_OK) {
        report->unreadable = true;
        return;
    }
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        /* the damaged file's schema is untrusted: plain identifiers only, never quoted
         * text that could close the quotes below */
        if (name == NULL || strlen(name) > 64 ||
            strspn(name, "abcdefghijklmnopqrstuvwxyz_0123456789") != strlen(name) ||
            strlen(columns) + strlen(name) + 8 >= sizeof(columns))
            continue;
        /* only columns the new schema knows */
        char probe[160];
        snprintf(probe, sizeof(probe), "SELECT \"%.64s\" FROM \"%.32s\" LIMIT 0", name, table);
        sqlite3_stmt *p;
        if (sqlite3_prepare_v2(dst, probe, -1, &p, NULL) != SQLITE_OK)
            continue;
        sqlite3_finalize(p);
        size_t used = strlen(columns), pused = strlen(params);
        snprintf(columns + used, sizeof(columns) - used, "%s\"%s\"", n_columns ? ", " : "", name);
        snprintf(params + pused, sizeof(params) - pused, "%s?", n_columns ? ", " : "");
        n_columns++;
    }
    sqlite3_finalize(st);
    if (n_columns == 0) {
        report->unreadable = true;
        return;
    }
    snprintf(sql, sizeof(sql), "SELECT rowid FROM \"%s\" LIMIT 0", table);
    if (sqlite3_prepare_v2(src, sql, -1, &st, NULL) != SQLITE_OK)
        has_rowid = false; /* WITHOUT ROWID: read it in one pass */
    sqlite3_finalize(st);

    sqlite3_stmt *read, *insert;
    if (has_rowid)
        snprintf(sql, sizeof(sql), "SELECT rowid, %s FROM \"%s\" WHERE rowid > ?1 ORDER BY rowid",
                 columns, table);
    else
        snprintf(sql, sizeof(sql), "SELECT 0, %s FROM \"%s\"", columns, table);
    if (sqlite3_prepare_v2(src, sql, -1, &read, NULL) != SQLITE_OK) {
        report->unreadable = true;
        return;
    }
    snprintf(sql, sizeof(sql), "INSERT OR REPLACE INTO \"%s\"(%s) VALUES (%s)", table, columns,
             params);
    if (sqlite3_prepare_v2(dst, sql, -1, &insert, NULL) != SQLITE_OK) {
        sqlite3_finalize(read);
        report->unreadable = true;
        return;
    }
    int64_t after = INT64_MIN, step = 1;
    for (int attempts = 0; attempts < 64;) {
        sqlite3_bind_int64(read, 1, after);
        int rc;
        bool progressed = false;
        while ((rc = sqlite3_step(read)) == SQLITE_ROW) {
            for (size_t i = 0; i < n_columns; i++)
                sqlite3_bind_value(insert, (int)i + 1, sqlite3_column_value(read, (int)i + 1));
            if (sqlite3_step(insert) == SQLITE_DONE)
                report->rows++;
            sqlite3_reset(insert);
            after = sqlite3_column_int64(read, 0);
            progressed = true;
        }
        sqlite3_reset(read);
        if (rc == SQLITE_DONE || !has_rowid)
            break;
        /* a damaged page: skip ahead, further each time nothing is found */
        report->damaged_ranges += progressed ? 1 : 0;
        step = progressed ? 1 : step * 4;
        after = after > INT64_MAX - step ? INT64_MAX : after + step;
        attempts++;
    }
    sqlite3_finalize(read);
    sqlite3_finalize(insert);
}

int salvage_journal(const char *damaged_path, const char *out_path, struct salvage_report *report,
                    char *err, size_t err_size)
{
    memset(report, 0, sizeof(*report));
    if (access(out_path, F_OK) == 0) {
        snprintf(err, err_size, "%s exists: choose another output, nothing was written", out_path);
        return -1;
    }
    sqlite3 *dst;
    const struct schema_options out_opts = {
        .access = SCHEMA_READ_WRITE, .synchronous = SCHEMA_SYNC_FULL, .busy_timeout_ms = 1000};
    if (schema_open(&dst, out_path, &out_opts, err, err_size) != 0)
        return -1;
    /* read-only and of any version: the damaged file is never written (its WAL, if any, is
     * read with it), and it may come from an older sensorbro */
    sqlite3 *src;
    const struct schema_options in_opts = {.access = SCHEMA_INSPECT};
    if (schema_open(&src, damaged_path, &in_opts, err, err_size) != 0) {
        sqlite3_close(dst);
        remove(out_path);
        return -1;
    }
    static const char *const tables[] = {"frames", "quarantine", "counters", "device_epochs"};
    sqlite3_exec(dst, "BEGIN", NULL, NULL, NULL);
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]) && i < SALVAGE_TABLES; i++) {
        salvage_table(src, dst, tables[i], &report->tables[i]);
        report->n_tables++;
    }
    int rc = sqlite3_exec(dst, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(src);
    if (rc != SQLITE_OK) {
        snprintf(err, err_size, "%s: writing: %s", out_path, sqlite3_errmsg(dst));
        sqlite3_close(dst);
        return -1;
    }
    sqlite3_close(dst);
    return 0;
}
