/*
 * util/csv_rows.h - CSV files (RFC 4180) read whole into rows of fields, and records
 * written, for sensorbroctl's OS2iot export and import. libcsv (Debian's libcsv3) does the
 * grammar; this module adds what a file from a person or a browser needs:
 *   - a UTF-8 byte order mark at the start (Excel writes one) is skipped;
 *   - records end at LF, CRLF or a lone CR; blank lines between records are skipped (as
 *     OS2iot's importer, Papa Parse with skipEmptyLines, does);
 *   - fields are kept exactly: quoted fields may hold commas, doubled quotes and line
 *     breaks; nothing is trimmed (libcsv would trim spaces by default);
 *   - strict quoting: a quote inside an unquoted field, text after a closing quote or a
 *     quoted field never closed is an error, not a guess;
 *   - every record knows the line of the file it begins on, so a caller's message can name
 *     it ("line 17: ..."); a field with a line break makes the next record begin lines
 *     later.
 * Writing quotes a field only when it must (a comma, a quote, CR or LF in it), as OS2iot's
 * own sample files are written, and ends each record with LF, as OS2iot's own export does.
 *
 * Memory: csv_rows_parse allocates; csv_rows_free releases, zeroing every field first
 * (imported files carry passwords). Threads: any; no state.
 */
#ifndef SENSORBRO_UTIL_CSV_ROWS_H
#define SENSORBRO_UTIL_CSV_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CSV_ROWS_MAX_FIELDS  256    /* per record */
#define CSV_ROWS_MAX_RECORDS 100000 /* per file */

struct csv_rows_record {
    unsigned line;   /* the line of the file the record begins on, from 1 */
    size_t n_fields; /* at least 1 */
    char **fields;   /* each NUL-terminated; may hold line breaks (never a NUL) */
    size_t *lens;
};

struct csv_rows {
    size_t n_records;
    struct csv_rows_record *records;
    bool had_bom;
};

struct csv_rows_error {
    unsigned line; /* where the problem is, from 1 */
    char message[160];
};

/* Parses data[0..len) into *out (records in file order, the header being the first).
 * Returns 0, or -1 with *err and *out empty. Errors: bad quoting, a NUL byte, more than
 * CSV_ROWS_MAX_FIELDS fields in a record or CSV_ROWS_MAX_RECORDS records, out of memory. */
int csv_rows_parse(const char *data, size_t len, struct csv_rows *out, struct csv_rows_error *err);
/* Releases what csv_rows_parse allocated (zeroed first); leaves *rows empty. */
void csv_rows_free(struct csv_rows *rows);

/* Whether a field must be quoted: it holds a comma, a quote, CR or LF. */
bool csv_rows_needs_quotes(const char *field);
/* Writes one record of n fields and LF. Returns 0, or -1 when writing failed. */
int csv_rows_write_record(FILE *out, const char *const *fields, size_t n);

#endif
