/*
 * salvage.h - salvage of a damaged journal (sensorbroctl journal recover).
 *
 * Every row that can still be read from the damaged file is copied, ids and states kept,
 * into a new journal of the current schema; the damaged file is opened read-only and never
 * changed, so a failed or partial salvage can always be tried again. Only sensorbroctl
 * links this: the daemon refuses a damaged journal at start (store/schema.h) and names the
 * command, it never repairs one itself.
 *
 * Threads: none of its own; each call opens and closes its two connections.
 * Errors: -1 with a message in err (naming a path, never the contents of a row).
 */
#ifndef SENSORBRO_SALVAGE_H
#define SENSORBRO_SALVAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SALVAGE_TABLES 4

struct salvage_table {
    char name[32];
    int64_t rows;           /* copied */
    int64_t damaged_ranges; /* places where reading stopped at damage and skipped on */
    bool unreadable;        /* the table could not be read at all */
};

struct salvage_report {
    size_t n_tables;
    struct salvage_table tables[SALVAGE_TABLES];
};

/* Copies what is readable of damaged_path into a new journal at out_path, which must not
 * exist. The report says, per table, how many rows came across. */
int salvage_journal(const char *damaged_path, const char *out_path, struct salvage_report *report,
                    char *err, size_t err_size);

#endif
