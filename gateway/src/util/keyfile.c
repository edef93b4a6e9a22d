/*
 * keyfile.c - the key-file reader (keyfile.h).
 *
 * Lines are read into one fixed buffer on the stack, never the heap, so that a key is in
 * exactly one place to wipe when the reader is done (OPENSSL_cleanse: a memset the compiler
 * may not remove).
 */
#include "util/keyfile.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "util/hex.h"

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
        *--end = '\0';
    return s;
}

/* Stores one "name = value" line (both trimmed) into its field. false: no such field, or
 * a value that is not its length in hex. */
static bool take_line(char *text, const struct keyfile_field *fields, size_t n_fields)
{
    char *eq = strchr(text, '=');
    if (eq == NULL)
        return false;
    *eq = '\0';
    const char *name = trim(text), *value = trim(eq + 1);
    for (size_t i = 0; i < n_fields; i++) {
        const struct keyfile_field *f = &fields[i];
        if (strcmp(name, f->name) != 0)
            continue;
        if (f->len > 0 && !hex_decode_exact(value, f->out, f->len))
            return false;
        if (f->seen)
            *f->seen = true;
        return true;
    }
    return false;
}

int keyfile_read(const char *path, const struct keyfile_field *fields, size_t n_fields,
                 struct keyfile_result *res)
{
    memset(res, 0, sizeof(*res));
    FILE *f = path ? fopen(path, "r") : stdin;
    if (f == NULL) {
        res->error = errno;
        return -1;
    }
    struct stat st;
    if (path && fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0)
        res->readable_by_others = true;
    /* room for the longest line, its newline and the NUL */
    char line[KEYFILE_LINE_MAX + 2];
    unsigned lineno = 0;
    while (res->line == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        size_t len = strlen(line);
        bool whole = (len > 0 && line[len - 1] == '\n') || feof(f);
        char *text = trim(line);
        if (!whole)
            res->line = lineno; /* too long: a cut line must not read as a shorter one */
        else if (text[0] != '#' && text[0] != '\0' && !take_line(text, fields, n_fields))
            res->line = lineno;
    }
    if (res->line == 0 && ferror(f))
        res->error = errno ? errno : EIO;
    OPENSSL_cleanse(line, sizeof(line));
    if (path)
        fclose(f);
    return res->line != 0 || res->error != 0 ? -1 : 0;
}
