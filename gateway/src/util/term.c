/*
 * util/term.c - escaping untrusted text for a terminal (util/term.h).
 *
 * One scanner decodes UTF-8 strictly and hands each piece to a sink: either a buffer with
 * its room, or a FILE. The scanner decides what is escaped; the sink only stores.
 */
#include "util/term.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct sink {
    FILE *f;     /* NULL: into buf */
    char *buf;   /* NUL-terminated at every step */
    size_t size; /* of buf */
    size_t used; /* of buf, without the NUL */
    bool full;   /* a piece did not fit: nothing more goes in */
};

static void emit(struct sink *k, const char *piece, size_t len)
{
    if (k->f) {
        fwrite(piece, 1, len, k->f);
        return;
    }
    if (k->full || k->used + len >= k->size) {
        k->full = true; /* no half escape: stop at the last whole piece */
        return;
    }
    memcpy(k->buf + k->used, piece, len);
    k->used += len;
    k->buf[k->used] = '\0';
}

/* Printable ASCII may be cut anywhere: as much of it as fits goes in. */
static void emit_text(struct sink *k, const char *text, size_t len)
{
    if (k->f == NULL && !k->full && k->used + len >= k->size) {
        size_t room = k->size - 1 - k->used;
        emit(k, text, room);
        k->full = true;
        return;
    }
    emit(k, text, len);
}

/* Length of the well-formed UTF-8 sequence at s (at most avail bytes) and its code point,
 * or 0 when the byte at s does not start one. */
static size_t utf8_sequence(const unsigned char *s, size_t avail, uint32_t *cp)
{
    unsigned char b = s[0];
    size_t n;
    uint32_t c, min;
    if (b >= 0xc2 && b <= 0xdf) {
        n = 2, c = b & 0x1fu, min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
        n = 3, c = b & 0x0fu, min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4, c = b & 0x07u, min = 0x10000;
    } else {
        return 0;
    }
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3fu);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

/* The code points above ASCII that act on a terminal or hide what text says. */
static bool is_format_control(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x200b && cp <= 0x200f) ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2069) || cp == 0xfeff;
}

static void scan(struct sink *k, const char *text, size_t len, bool json)
{
    const unsigned char *s = (const unsigned char *)text;
    char esc[16];
    size_t i = 0;
    while (i < len) {
        size_t run = i; /* printable ASCII goes out in runs */
        while (run < len && s[run] >= 0x20 && s[run] < 0x7f)
            run++;
        if (run > i) {
            emit_text(k, text + i, run - i);
            i = run;
            continue;
        }
        if (json && (s[i] == '\n' || s[i] == '\t')) {
            /* cJSON's indentation; inside a string cJSON has escaped them already */
            emit(k, text + i, 1);
            i++;
            continue;
        }
        uint32_t cp = 0;
        size_t n = s[i] >= 0x80 ? utf8_sequence(s + i, len - i, &cp) : 0;
        if (n > 0 && !is_format_control(cp)) {
            emit(k, text + i, n);
        } else if (n > 0) {
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned)cp);
            emit(k, esc, strlen(esc));
        } else if (json && s[i] >= 0x80) {
            emit(k, "\\ufffd", 6); /* not UTF-8: JSON has no escape for a bare byte */
            n = 1;
        } else {
            snprintf(esc, sizeof(esc), json ? "\\u%04x" : "\\x%02x", (unsigned)s[i]);
            emit(k, esc, strlen(esc));
            n = 1;
        }
        i += n;
    }
}

char *term_escape(const char *s, size_t len, char *out, size_t out_size)
{
    struct sink k = {.buf = out, .size = out_size};
    out[0] = '\0';
    scan(&k, s, len, false);
    return out;
}

void term_write(FILE *f, const char *s, size_t len)
{
    struct sink k = {.f = f};
    scan(&k, s, len, false);
}

void term_puts(FILE *f, const char *s)
{
    term_write(f, s, strlen(s));
}

void term_write_json(FILE *f, const char *json, size_t len)
{
    struct sink k = {.f = f};
    scan(&k, json, len, true);
}
