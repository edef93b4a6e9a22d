/*
 * hex.c - hex digits to bytes (hex.h).
 */
#include "util/hex.h"

#include <string.h>

/* The value of one hex digit, or -1. */
static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool hex_decode_exact(const char *text, uint8_t *out, size_t len)
{
    /* everything is checked before anything is written */
    if (strlen(text) != 2 * len)
        return false;
    for (size_t i = 0; i < 2 * len; i++)
        if (digit_value(text[i]) < 0)
            return false;
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(digit_value(text[2 * i]) << 4 | digit_value(text[2 * i + 1]));
    return true;
}
