/*
 * hex.c - hex digits to and from bytes (hex.h).
 */
#include "hex.h"

static const char hex_digits[16] = "0123456789ABCDEF";

/* The value of one hex digit, or -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

size_t hex_encode(const uint8_t *data, size_t len, char *out, size_t out_capacity)
{
    if (len > out_capacity / 2)
        return 0;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_digits[data[i] >> 4];
        out[2 * i + 1] = hex_digits[data[i] & 0x0Fu];
    }
    return 2 * len;
}

bool hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_capacity, size_t *out_len)
{
    if (hex_len % 2 != 0 || hex_len / 2 > out_capacity)
        return false;
    /* One pass: a bad digit ends the decode with out holding the bytes before it, which
     * no caller uses (a failed +RECV line is dropped whole). */
    for (size_t i = 0; i < hex_len / 2; i++) {
        int high = hex_value(hex[2 * i]), low = hex_value(hex[2 * i + 1]);
        if (high < 0 || low < 0)
            return false;
        out[i] = (uint8_t)(high << 4 | low);
    }
    *out_len = hex_len / 2;
    return true;
}
