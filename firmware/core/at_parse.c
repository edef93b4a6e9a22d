/*
 * at_parse.c - the modem's response grammar (at_parse.h), one strict matcher per line kind.
 *
 * A cursor walks the line; each matcher consumes exactly its grammar and the line must end
 * where the grammar ends. Numbers are range-checked as they are read, with overflow checks.
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
 * so no input can overflow it (nor pull 64-bit arithmetic into a Cortex-M0+ build). */
static bool take_uint(struct cursor *c, uint32_t min, uint32_t max, uint32_t *out)
{
    uint32_t value = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        uint32_t digit = (uint32_t)(*c->p++ - '0');
        if (value > (UINT32_MAX - digit) / 10u)
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

/* The lines that are a prefix and one number. */
static const struct {
    const char *prefix;
    uint32_t min, max;
    enum at_line_kind kind;
} number_lines[] = {
    {"ERROR:", 1, 255, AT_LINE_ERROR},
    {"+DR:", 0, 15, AT_LINE_DR},
    {"+DUTY:", 0, UINT32_MAX, AT_LINE_DUTY},
};

static enum at_line_kind classify(struct cursor *c, struct at_line *out)
{
    if (at_end(c))
        return AT_LINE_EMPTY;
    if (!is_printable(c->p, c->end))
        return AT_LINE_GARBAGE;
    if (take(c, "OK"))
        return at_end(c) ? AT_LINE_OK : AT_LINE_GARBAGE;
    for (size_t i = 0; i < sizeof(number_lines) / sizeof(number_lines[0]); i++) {
        uint32_t v;
        if (!take(c, number_lines[i].prefix))
            continue;
        if (!take_uint(c, number_lines[i].min, number_lines[i].max, &v) || !at_end(c))
            return AT_LINE_GARBAGE;
        if (number_lines[i].kind == AT_LINE_ERROR)
            out->u.error_code = (uint8_t)v;
        else if (number_lines[i].kind == AT_LINE_DR)
            out->u.dr = (uint8_t)v;
        else
            out->u.wait_ms = v;
        return number_lines[i].kind;
    }
    /* A bare ERROR (code 0) is what most modems say; ours adds a code. */
    if (take(c, "ERROR"))
        return at_end(c) ? AT_LINE_ERROR : AT_LINE_GARBAGE;
    if (take(c, "+ACK"))
        return at_end(c) ? AT_LINE_ACK : AT_LINE_GARBAGE;
    if (take(c, "+JOIN:")) {
        if (take(c, "OK") && at_end(c)) {
            out->u.joined = true;
            return AT_LINE_JOIN;
        }
        if (take(c, "FAIL") && at_end(c)) {
            out->u.joined = false;
            return AT_LINE_JOIN;
        }
        return AT_LINE_GARBAGE;
    }
    if (take(c, "+RECV="))
        return parse_recv(c, out);
    /* Other information (+VER:..., +EVT:...) and echoed commands: nothing for the node. */
    if (*c->p == '+' || take(c, "AT"))
        return AT_LINE_INFO;
    return AT_LINE_GARBAGE;
}

void at_parse_line(char *line, size_t len, struct at_line *out)
{
    struct cursor c = {.p = line, .end = line + len};
    memset(out, 0, sizeof(*out));
    out->kind = classify(&c, out);
}
