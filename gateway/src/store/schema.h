/*
 * schema.h - the one database file: its schema, every migration of it, and the one way to
 * open a connection to it.
 *
 * The gateway keeps everything durable in one SQLite file, the journal: the frames and
 * quarantine tables (store/journal.h), the LoRaWAN device registry (lorawan/registry.h) and
 * the small tables beside them. Each of those modules holds its own connection, and each
 * opens it here, so the file is created, tightened to mode 0600, configured (WAL,
 * synchronous, foreign keys) and migrated in exactly one place, whoever opens it first.
 *
 * Versions: PRAGMA user_version holds the schema version. schema.c has an ordered list of
 * SQL scripts; script i takes the file from version i to i + 1 inside one transaction with
 * the user_version bump, so a crash mid-migration leaves the old schema intact. A writable
 * open migrates an older file forward; a file of a newer version is refused rather than
 * misread. Adding a table or a column is one new script at the end of the list and
 * SCHEMA_VERSION + 1: existing files are carried forward by the next writable open.
 *
 * Threads: schema_open returns a connection for one thread at a time (SQLITE_OPEN_NOMUTEX),
 * which its caller owns and closes with sqlite3_close. No state is kept here.
 * Errors: functions return -1 with a message in err that names the path and never holds
 * the database's contents (it holds device keys).
 */
#ifndef SENSORBRO_SCHEMA_H
#define SENSORBRO_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The schema version this build reads and writes (PRAGMA user_version). */
#define SCHEMA_VERSION 8

struct sqlite3;

enum schema_access {
    /* create the file when missing (mode 0600), tighten an older wider one, set WAL mode,
     * synchronous and foreign keys, and migrate it to SCHEMA_VERSION */
    SCHEMA_READ_WRITE,
    /* an existing file at SCHEMA_VERSION, never written (sensorbroctl, the publisher) */
    SCHEMA_READ_ONLY,
    /* an existing file of any version, damaged perhaps: nothing is read at open and nothing
     * is ever written (sensorbroctl journal check and recover) */
    SCHEMA_INSPECT,
};

enum schema_sync { SCHEMA_SYNC_FULL, SCHEMA_SYNC_NORMAL };

struct schema_options {
    enum schema_access access;
    enum schema_sync synchronous; /* SCHEMA_READ_WRITE only */
    /* How long a statement waits for another connection's lock. Set before anything is
     * read, the integrity check included: another process (sensorbroctl) may hold a lock
     * at that very moment. */
    uint32_t busy_timeout_ms;
    /* PRAGMA quick_check before anything else, and refuse a damaged file (the daemon's
     * start): writing into a damaged b-tree can spread the damage. */
    bool check_integrity;
};

/* Opens a connection to the database at path as options say. On failure returns -1 with
 * *out NULL and a message in err; a damaged file's message names the recovery command. */
int schema_open(struct sqlite3 **out, const char *path, const struct schema_options *options,
                char *err, size_t err_size);

/* One line of an integrity check: "ok" alone when the file is sound; otherwise one line
 * per problem found, or the error at which SQLite had to stop reading. */
typedef void (*schema_finding_fn)(void *ctx, const char *finding);

/* PRAGMA integrity_check (full) or the cheaper quick_check, reporting at most
 * max_findings lines to fn (NULL: none). Returns 1 when the file is sound, 0 when it is
 * damaged, and -1 when the check could not run because another connection held a lock
 * for longer than the busy timeout (err says so: that says nothing about damage). */
int schema_check_integrity(struct sqlite3 *db, bool full, unsigned max_findings,
                           schema_finding_fn fn, void *ctx, char *err, size_t err_size);

#endif
