/*
 * keyfile.h - the key file: LoRaWAN keys and addresses as "name = hex" lines.
 *
 *   # an ABP device
 *   devaddr = 26011BDA
 *   nwkskey = 2B7E151628AED2A6ABF7158809CF4F3C
 *   appskey = ...
 *
 * One "name = value" a line; blanks around both are ignored, and so are empty lines and
 * lines starting with '#'. The caller says which names it takes and how many bytes each
 * value holds; a name given twice keeps its last value. sensorbroctl device add
 * (--keys-file) and tools/modem-sim (--keys) read the same files through this reader.
 *
 * Keys come from a file so that they are not on a command line, where ps shows them. The
 * reader never prints, and what it reports (a line number, an errno) never holds a value;
 * its line buffer is wiped before it returns. A file that group or others may read is
 * read all the same, and reported, so that the caller can warn.
 *
 * Threads: any; no state beyond the call.
 */
#ifndef SENSORBRO_KEYFILE_H
#define SENSORBRO_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest line read, without its newline; a longer one is an error at its line. */
#define KEYFILE_LINE_MAX 254

struct keyfile_field {
    const char *name;
    size_t len;   /* the value is exactly 2 * len hex digits, into out; 0: any value, ignored */
    uint8_t *out; /* len bytes */
    bool *seen;   /* set when a line gives this name; may be NULL */
};

struct keyfile_result {
    int error;               /* errno when the file could not be opened or read; else 0 */
    unsigned line;           /* the first line that is not one of the fields; else 0 */
    bool readable_by_others; /* the file's mode lets group or others read it */
};

/* Reads the file at path (NULL: standard input) into the fields. Returns 0, or -1 with
 * res->error or res->line saying why; fields read before a bad line keep their values. */
int keyfile_read(const char *path, const struct keyfile_field *fields, size_t n_fields,
                 struct keyfile_result *res);

#endif
