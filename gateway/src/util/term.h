/*
 * util/term.h - untrusted text made safe to print on a terminal.
 *
 * sensorbroctl prints strings that came from outside: payloads and topics from the broker
 * (watch), device names and labels from the registry (which an import may have filled),
 * quarantine reasons, sources and devices from the journal. A terminal obeys what such a
 * string carries: ESC sequences can move the cursor, rewrite earlier lines (hide a line of
 * `sensorbroctl quarantine`), set the window title or, on some terminals, answer back
 * into the shell's input; a carriage return or backspace overprints; a bidirectional
 * override (U+202E) shows text in another order than it is. So every such string goes
 * through here, and what would act on the terminal is shown as an escape instead:
 *   - C0 controls (0x00-0x1f, tab and newline included: a field must not break the
 *     line or the columns) and DEL (0x7f): \xHH;
 *   - C1 controls (U+0080-U+009F, whose U+009B is an 8-bit CSI), the invisible and
 *     direction-changing formats U+200B-U+200F, U+202A-U+202E, U+2060-U+2069 and U+FEFF:
 *     \uXXXX;
 *   - a byte that is not part of well-formed UTF-8 (RFC 3629: no overlong forms, no
 *     surrogates, nothing past U+10FFFF): \xHH.
 * Everything else, printable ASCII and well-formed UTF-8 (device names in Danish) included,
 * passes unchanged. A backslash is not doubled: the output is for a person to read, and a
 * literal "\x1b" in the input shows as what it is, harmless text.
 *
 * The JSON variant is for JSON that cJSON printed (which escapes C0 controls, quotes and
 * backslashes itself but passes DEL, C1 and invalid UTF-8 through): the same characters
 * become \u00XX / \uXXXX (newline and tab pass: cJSON indents with them, and escapes
 * them inside strings), and a byte that is not UTF-8 becomes \ufffd, so the result is
 * still valid JSON with the same meaning for every well-formed string.
 *
 * Threads: any; no state. Nothing here allocates.
 */
#ifndef SENSORBRO_UTIL_TERM_H
#define SENSORBRO_UTIL_TERM_H

#include <stddef.h>
#include <stdio.h>

/* The most bytes an escape takes per input byte ("\xHH" for one byte; "\u202e" for three):
 * an output of TERM_ESCAPED_SIZE(len) never truncates. */
#define TERM_ESCAPED_SIZE(len) (4 * (len) + 1)

/* Writes s (len bytes; NUL bytes are escaped like any control) escaped into out, always
 * NUL-terminated (out_size > 0), never cutting an escape in two. Returns out. */
char *term_escape(const char *s, size_t len, char *out, size_t out_size);

/* Writes s (len bytes) escaped to f. */
void term_write(FILE *f, const char *s, size_t len);

/* term_write for a NUL-terminated string. */
void term_puts(FILE *f, const char *s);

/* Writes JSON text (as cJSON prints it) to f with the JSON escapes described above. */
void term_write_json(FILE *f, const char *json, size_t len);

#endif
