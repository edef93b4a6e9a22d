/*
 * test_csv_rows.c - util/csv_rows.c over libcsv: RFC 4180 quoting kept exactly, the line
 * each record begins on (with quoted line breaks, CRLF, lone CR, blank lines and a BOM),
 * strict errors naming their line, the bounds on fields and records, written records read
 * back unchanged, and every prefix of a tricky file parsed without a crash or a leak (run
 * under ASan, that is the fuzz-safety check of the bounds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/csv_rows.h"

static void test_quoting_and_lines(void **state)
{
    (void)state;
    static const char text[] = "\xef\xbb\xbfname,comment\r\n"
                               "a,\"x, y\"\r\n"
                               "\r\n"
                               "\"b \"\"q\"\"\",\"two\nlines\"\n"
                               " c ,\n"
                               "d,e\r"
                               "f,";
    struct csv_rows rows;
    struct csv_rows_error err;
    assert_int_equal(csv_rows_parse(text, sizeof(text) - 1, &rows, &err), 0);
    assert_true(rows.had_bom);
    assert_int_equal(rows.n_records, 6);
    static const struct {
        unsigned line;
        const char *a, *b;
    } want[] = {
        {1, "name", "comment"}, {2, "a", "x, y"}, {4, "b \"q\"", "two\nlines"},
        {6, " c ", ""},         {7, "d", "e"},    {8, "f", ""},
    };
    for (size_t i = 0; i < rows.n_records; i++) {
        const struct csv_rows_record *r = &rows.records[i];
        assert_int_equal(r->line, want[i].line);
        assert_int_equal(r->n_fields, 2);
        assert_string_equal(r->fields[0], want[i].a);
        assert_string_equal(r->fields[1], want[i].b);
        assert_int_equal(r->lens[1], strlen(want[i].b));
    }
    csv_rows_free(&rows);
    assert_int_equal(rows.n_records, 0);

    /* an empty file and one of blank lines have no records */
    assert_int_equal(csv_rows_parse("", 0, &rows, &err), 0);
    assert_int_equal(rows.n_records, 0);
    assert_int_equal(csv_rows_parse("\n\r\n\n", 4, &rows, &err), 0);
    assert_int_equal(rows.n_records, 0);
    csv_rows_free(&rows);
}

static void expect_error(const char *text, unsigned line, const char *part)
{
    struct csv_rows rows;
    struct csv_rows_error err;
    assert_int_equal(csv_rows_parse(text, strlen(text), &rows, &err), -1);
    if (err.line != line || strstr(err.message, part) == NULL)
        fail_msg("\"%s\": line %u \"%s\", expected line %u \"%s\"", text, err.line, err.message,
                 line, part);
    assert_int_equal(rows.n_records, 0);
    assert_null(rows.records);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("a,b\nc,d\"e\n", 2, "bad quoting");
    expect_error("a,b\n\"c\"d,e\n", 2, "bad quoting");
    expect_error("a,b\nc,d\n\"never\nclosed,\n", 3, "never closed");
    /* a NUL byte: not a text file */
    struct csv_rows rows;
    struct csv_rows_error err;
    assert_int_equal(csv_rows_parse("a,b\nc,\0d\n", 9, &rows, &err), -1);
    assert_int_equal(err.line, 2);
    assert_non_null(strstr(err.message, "NUL"));
}

static void test_bounds(void **state)
{
    (void)state;
    struct csv_rows rows;
    struct csv_rows_error err;
    /* CSV_ROWS_MAX_FIELDS fields are fine, one more is refused */
    size_t n = CSV_ROWS_MAX_FIELDS * 2 + 8;
    char *text = malloc(n);
    size_t at = 0;
    at += (size_t)snprintf(text + at, n - at, "h\n");
    for (int i = 0; i < CSV_ROWS_MAX_FIELDS; i++)
        text[at++] = i ? ',' : 'x';
    text[at++] = '\n';
    assert_int_equal(csv_rows_parse(text, at, &rows, &err), 0);
    assert_int_equal(rows.records[1].n_fields, CSV_ROWS_MAX_FIELDS);
    csv_rows_free(&rows);
    text[at - 1] = ',';
    text[at++] = '\n';
    assert_int_equal(csv_rows_parse(text, at, &rows, &err), -1);
    assert_int_equal(err.line, 2);
    free(text);
    /* CSV_ROWS_MAX_RECORDS records, then one more */
    n = (CSV_ROWS_MAX_RECORDS + 1) * 2;
    text = malloc(n);
    for (size_t i = 0; i < n; i += 2) {
        text[i] = 'r';
        text[i + 1] = '\n';
    }
    assert_int_equal(csv_rows_parse(text, n - 2, &rows, &err), 0);
    assert_int_equal(rows.n_records, CSV_ROWS_MAX_RECORDS);
    csv_rows_free(&rows);
    assert_int_equal(csv_rows_parse(text, n, &rows, &err), -1);
    assert_int_equal(err.line, CSV_ROWS_MAX_RECORDS + 1);
    free(text);
}

static void test_write_read_back(void **state)
{
    (void)state;
    const char *fields[] = {"plain", "a,b", "say \"hi\"", "two\r\nlines", "", " sp "};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(csv_rows_write_record(f, fields, 6), 0);
    assert_int_equal(csv_rows_write_record(f, fields, 6), 0);
    fclose(f);
    assert_memory_equal(buf, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\r\nlines\",, sp \n", 44);
    struct csv_rows rows;
    struct csv_rows_error err;
    assert_int_equal(csv_rows_parse(buf, len, &rows, &err), 0);
    assert_int_equal(rows.n_records, 2);
    assert_int_equal(rows.records[1].line, 3);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(rows.records[1].fields[i], fields[i]);
    csv_rows_free(&rows);
    free(buf);
    assert_false(csv_rows_needs_quotes("x y"));
    assert_true(csv_rows_needs_quotes("x\ny"));
}

/* Every prefix of a file with every construct in it, and every one-byte change of it to a
 * quote, a comma or a line break: parsed or refused, never a crash (ASan checks reads). */
static void test_prefixes_and_mutations(void **state)
{
    (void)state;
    static const char text[] = "\xef\xbb\xbfn,\"a\"\"b\",\"c\r\nd\"\r\n\r\ne,f\rg,\"\"\n";
    size_t n = sizeof(text) - 1;
    char copy[sizeof(text)];
    struct csv_rows rows;
    struct csv_rows_error err;
    for (size_t len = 0; len <= n; len++) {
        /* a heap copy of exactly len bytes: a read past it is an ASan error */
        char *exact = malloc(len ? len : 1);
        memcpy(exact, text, len);
        if (csv_rows_parse(exact, len, &rows, &err) == 0)
            csv_rows_free(&rows);
        else
            assert_true(err.line >= 1 && err.message[0] != '\0');
        free(exact);
    }
    static const char subst[] = "\",\n\r\0x";
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < sizeof(subst) - 1; k++) {
            memcpy(copy, text, n);
            copy[i] = subst[k];
            if (csv_rows_parse(copy, n, &rows, &err) == 0)
                csv_rows_free(&rows);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quoting_and_lines),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_write_read_back),
        cmocka_unit_test(test_prefixes_and_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
