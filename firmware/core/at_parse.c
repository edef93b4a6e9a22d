/*
 * at_parse.c - the modem's response grammar (at_parse.h), as a table of line prefixes and
 * what may follow each.
 *
 * A cursor walks the line; the matching entry consumes exactly its grammar and the line must
 * end where the grammar ends. Numbers are range-checked as they are read, with overflow
 * checks. A table rather than one matcher per kind: the calls with their string literals
 * cost more flash on a Cortex-M0+ than the 8-byte entries do.
 */
#include "at_parse.h"

#include <string.h>

#include "hex.h"

struct cursor {
    char *p;
    char *end;
};

/* Consumes text when the cursor starts with it. */
static bool take(struct cursor *c, const char *text)
{
    char *p = c->p;
    for (; *text != '\0'; text++, p++) {
        if (p == c->end || *p != *text)
            return false;
    }
    c->p = p;
    return true;
}

static bool at_end(const struct cursor *c)
{
    return c->p == c->end;
}

/* Consumes a decimal number within [min, max]. Built in 32 bits with an overflow check,
 * so no input can overflow it (nor pull 64-bit arithmetic into a Cortex-M0+ build); the
 * check divides only constants, so no digit costs a division call either. */
static bool take_uint(struct cursor *c, uint32_t min, uint32_t max, uint32_t *out)
{
    uint32_t value = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        uint32_t digit = (uint32_t)(*c->p++ - '0');
        if (value > UINT32_MAX / 10u || value * 10u > UINT32_MAX - digit)
            return false;
        value = value * 10u + digit;
    }
    if (c->p == start || value < min || value > max)
        return false;
    *out = value;
    return true;
}

/* Consumes an optionally negative number within [min, max], a small range. */
static bool take_int(struct cursor *c, int32_t min, int32_t max, int32_t *out)
{
    bool negative = take(c, "-");
    uint32_t magnitude;
    if (!take_uint(c, 0, 1000, &magnitude))
        return false;
    int32_t value = negative ? -(int32_t)magnitude : (int32_t)magnitude;
    if (value < min || value > max)
        return false;
    *out = value;
    return true;
}

static bool is_printable(const char *p, const char *end)
{
    for (; p < end; p++) {
        if (*p < 0x20 || *p > 0x7e)
            return false;
    }
    return true;
}

static enum at_line_kind parse_recv(struct cursor *c, struct at_line *out)
{
    uint32_t port;
    int32_t rssi, snr;
    if (!take_uint(c, 1, 223, &port) || !take(c, ",") || !take_int(c, -200, 0, &rssi) ||
        !take(c, ",") || !take_int(c, -40, 40, &snr) || !take(c, ":"))
        return AT_LINE_GARBAGE;
    size_t hex_len = (size_t)(c->end - c->p);
    size_t len = 0;
    /* Decode in place: the bytes land at the start of the hex digits. */
    if (!hex_decode(c->p, hex_len, (uint8_t *)c->p, AT_RECV_MAX_BYTES, &len))
        return AT_LINE_GARBAGE;
    out->u.recv.port = (uint8_t)port;
    out->u.recv.rssi_dbm = (int16_t)rssi;
    out->u.recv.snr_db = (int8_t)snr;
    out->u.recv.payload = (const uint8_t *)c->p;
    out->u.recv.len = len;
    return AT_LINE_RECV;
}

/* What may follow a line's prefix. */
enum rest {
    REST_NONE,   /* nothing: the line ends there */
    REST_NUMBER, /* a decimal number in [min, max], then the end */
    REST_ANY,    /* anything (printable) */
    REST_RECV,   /* the rest of a +RECV (parse_recv) */
};

/* The grammar as a table, tried in order: the first prefix that matches decides the line,
 * so a known prefix with a wrong rest is garbage and never falls through to a looser entry
 * ("ERROR:" before "ERROR", "+JOIN:" after its two values, "+" after every "+" line). */
static const struct {
    const char *prefix;
    uint8_t kind; /* enum at_line_kind */
    uint8_t rest; /* enum rest */
    uint8_t min;
    /* REST_NUMBER: the largest value, 0 for "any 32-bit value" (+DUTY). REST_NONE: the
     * line's value (ERROR's code, JOIN's joined). One byte keeps an entry at 8 bytes. */
    uint8_t max;
} grammar[] = {
    {"OK", AT_LINE_OK, REST_NONE, 0, 0},
    {"ERROR:", AT_LINE_ERROR, REST_NUMBER, 1, 255},
    /* A bare ERROR (code 0) is what most modems say; ours adds a code. */
    {"ERROR", AT_LINE_ERROR, REST_NONE, 0, 0},
    {"+DR:", AT_LINE_DR, REST_NUMBER, 0, 15},
    {"+DUTY:", AT_LINE_DUTY, REST_NUMBER, 0, 0},
    {"+ACK", AT_LINE_ACK, REST_NONE, 0, 0},
    {"+JOIN:OK", AT_LINE_JOIN, REST_NONE, 0, 1},
    {"+JOIN:FAIL", AT_LINE_JOIN, REST_NONE, 0, 0},
    {"+JOIN:", AT_LINE_GARBAGE, REST_ANY, 0, 0},
    {"+RECV=", AT_LINE_RECV, REST_RECV, 0, 0},
    /* Other information (+VER:..., +EVT:...) and echoed commands: nothing for the node. */
    {"+", AT_LINE_INFO, REST_ANY, 0, 0},
    {"AT", AT_LINE_INFO, REST_ANY, 0, 0},
};

static enum at_line_kind classify(struct cursor *c, struct at_line *out)
{
    if (at_end(c))
        return AT_LINE_EMPTY;
    if (!is_printable(c->p, c->end))
        return AT_LINE_GARBAGE;
    for (size_t i = 0; i < sizeof(grammar) / sizeof(grammar[0]); i++) {
        if (!take(c, grammar[i].prefix))
            continue;
        enum at_line_kind kind = grammar[i].kind;
        uint32_t value = grammar[i].max;
        switch (grammar[i].rest) {
        case REST_RECV:
            return parse_recv(c, out);
        case REST_ANY:
            return kind;
        case REST_NUMBER:
            if (!take_uint(c, grammar[i].min, value != 0 ? value : UINT32_MAX, &value))
                return AT_LINE_GARBAGE;
            break;
        }
        if (!at_end(c))
            return AT_LINE_GARBAGE;
        if (kind == AT_LINE_DUTY)
            out->u.wait_ms = value;
        else if (kind == AT_LINE_ERROR)
            out->u.error_code = (uint8_t)value; /* 0 for the bare ERROR (max 0) */
        else if (kind == AT_LINE_DR)
            out->u.dr = (uint8_t)value;
        else if (kind == AT_LINE_JOIN)
            out->u.joined = value != 0;
        return kind;
    }
    return AT_LINE_GARBAGE;
}

void at_parse_line(char *line, size_t len, struct at_line *out)
{
    struct cursor c = {.p = line, .end = line + len};
    memset(out, 0, sizeof(*out));
    out->kind = classify(&c, out);
}
