/*
 * util/csv_rows.c - CSV files into rows and records out (csv_rows.h), over libcsv.
 *
 * Line numbers: libcsv reports fields and record ends, not positions. So the input is fed
 * to it one physical line at a time (a chunk ends after LF, or at a CR not followed by LF),
 * and a record begins at the start of the first chunk that is fed while no record is
 * open: records end only at an unquoted line break, which is always a chunk's end (a CRLF
 * is one chunk end: libcsv ends the record at its CR and skips the LF). A chunk that ends
 * inside a quoted field ends without a record end, and the record stays open into the
 * next chunk. A blank line (only CR/LF) fed while no record is open begins nothing
 * (libcsv skips it too).
 */
#include "util/csv_rows.h"

#include <csv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct parse {
    struct csv_rows *out;
    struct csv_rows_record cur; /* the record being read */
    size_t cur_cap;
    size_t records_cap;
    unsigned chunk_line;
    unsigned record_line; /* where cur begins */
    bool record_ended;    /* a record ended during the current chunk */
    bool failed;
    struct csv_rows_error *err;
};

static void set_error(struct parse *p, unsigned line, const char *message)
{
    if (p->failed)
        return;
    p->failed = true;
    p->err->line = line;
    snprintf(p->err->message, sizeof(p->err->message), "%s", message);
}

static void free_record(struct csv_rows_record *r)
{
    for (size_t i = 0; i < r->n_fields; i++) {
        explicit_bzero(r->fields[i], r->lens[i]);
        free(r->fields[i]);
    }
    free(r->fields);
    free(r->lens);
    memset(r, 0, sizeof(*r));
}

static void on_field(void *s, size_t len, void *data)
{
    struct parse *p = data;
    if (p->failed)
        return;
    if (len > 0 && memchr(s, '\0', len) != NULL) {
        set_error(p, p->chunk_line, "a NUL byte in a field: not a text file");
        return;
    }
    if (p->cur.n_fields == CSV_ROWS_MAX_FIELDS) {
        set_error(p, p->record_line, "more than 256 fields in one record");
        return;
    }
    if (p->cur.n_fields == p->cur_cap) {
        size_t cap = p->cur_cap ? p->cur_cap * 2 : 16;
        char **fields = realloc(p->cur.fields, cap * sizeof(*fields));
        if (fields)
            p->cur.fields = fields;
        size_t *lens = fields ? realloc(p->cur.lens, cap * sizeof(*lens)) : NULL;
        if (lens)
            p->cur.lens = lens;
        if (fields == NULL || lens == NULL) {
            set_error(p, p->record_line, "out of memory");
            return;
        }
        p->cur_cap = cap;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        set_error(p, p->record_line, "out of memory");
        return;
    }
    if (len > 0)
        memcpy(copy, s, len);
    copy[len] = '\0';
    p->cur.fields[p->cur.n_fields] = copy;
    p->cur.lens[p->cur.n_fields] = len;
    p->cur.n_fields++;
}

static void on_record_end(int c, void *data)
{
    (void)c;
    struct parse *p = data;
    p->record_ended = true;
    if (p->failed)
        return;
    if (p->out->n_records == CSV_ROWS_MAX_RECORDS) {
        set_error(p, p->record_line, "more than 100000 records");
        return;
    }
    if (p->out->n_records == p->records_cap) {
        size_t cap = p->records_cap ? p->records_cap * 2 : 64;
        struct csv_rows_record *records = realloc(p->out->records, cap * sizeof(*records));
        if (records == NULL) {
            set_error(p, p->record_line, "out of memory");
            return;
        }
        p->out->records = records;
        p->records_cap = cap;
    }
    p->cur.line = p->record_line;
    p->out->records[p->out->n_records++] = p->cur;
    memset(&p->cur, 0, sizeof(p->cur));
    p->cur_cap = 0;
}

/* Nothing is a space: fields are kept as they are. */
static int no_space(unsigned char c)
{
    (void)c;
    return 0;
}

/* The length of the physical line at data[0..len): through its LF, CRLF or lone CR. */
static size_t line_length(const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n')
            return i + 1;
        if (data[i] == '\r')
            return i + 1 < len && data[i + 1] == '\n' ? i + 2 : i + 1;
    }
    return len;
}

static bool blank(const char *line, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (line[i] != '\r' && line[i] != '\n')
            return false;
    return true;
}

int csv_rows_parse(const char *data, size_t len, struct csv_rows *out, struct csv_rows_error *err)
{
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    struct parse p = {.out = out, .err = err};
    struct csv_parser parser;
    if (csv_init(&parser, CSV_STRICT | CSV_STRICT_FINI) != 0) {
        set_error(&p, 1, "out of memory");
        return -1;
    }
    csv_set_space_func(&parser, no_space);
    size_t at = 0;
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
        out->had_bom = true;
        at = 3;
    }
    bool open = false;
    for (unsigned line = 1; at < len && !p.failed; line++) {
        size_t n = line_length(data + at, len - at);
        p.chunk_line = line;
        if (!open && !blank(data + at, n)) {
            p.record_line = line;
            open = true;
        }
        p.record_ended = false;
        if (csv_parse(&parser, data + at, n, on_field, on_record_end, &p) != n && !p.failed) {
            int e = csv_error(&parser);
            set_error(&p, line,
                      e == CSV_EPARSE ? "bad quoting: a quote inside an unquoted field, or "
                                        "text after a closing quote (a field with quotes must "
                                        "be quoted whole, its quotes doubled)"
                                      : csv_strerror(e));
        }
        if (p.record_ended)
            open = false;
        at += n;
    }
    if (!p.failed && csv_fini(&parser, on_field, on_record_end, &p) != 0)
        set_error(&p, p.record_line, "a quoted field that begins here is never closed");
    csv_free(&parser);
    free_record(&p.cur);
    if (p.failed) {
        csv_rows_free(out);
        return -1;
    }
    return 0;
}

void csv_rows_free(struct csv_rows *rows)
{
    for (size_t i = 0; i < rows->n_records; i++)
        free_record(&rows->records[i]);
    free(rows->records);
    memset(rows, 0, sizeof(*rows));
}

bool csv_rows_needs_quotes(const char *field)
{
    return strpbrk(field, ",\"\r\n") != NULL;
}

int csv_rows_write_record(FILE *out, const char *const *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *f = fields[i] ? fields[i] : "";
        if (i > 0 && fputc(',', out) == EOF)
            return -1;
        /* csv_fwrite quotes the whole field and doubles its quotes */
        if (csv_rows_needs_quotes(f) ? csv_fwrite(out, f, strlen(f)) != 0 : fputs(f, out) == EOF)
            return -1;
    }
    return fputc('\n', out) == EOF ? -1 : 0;
}
