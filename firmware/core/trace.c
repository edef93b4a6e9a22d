/*
 * trace.c - number and hex formatting for the debug log (trace.h), on small stack buffers.
 */
#include "trace.h"

#if SB_TRACE

#include <string.h>

#include "board.h"
#include "hex.h"

void trace_str(const char *text)
{
    board_log_write(text, strlen(text));
}

void trace_u32(uint32_t value)
{
    char digits[10]; /* 4294967295 */
    size_t n = 0;
    do {
        digits[sizeof(digits) - 1 - n++] = (char)('0' + value % 10u);
        value /= 10u;
    } while (value != 0);
    board_log_write(&digits[sizeof(digits) - n], n);
}

void trace_i32(int32_t value)
{
    if (value < 0) {
        board_log_write("-", 1);
        /* Negate in unsigned arithmetic: -INT32_MIN does not fit an int32_t. */
        trace_u32(0u - (uint32_t)value);
    } else {
        trace_u32((uint32_t)value);
    }
}

void trace_hex(const uint8_t *data, size_t len)
{
    char chunk[32];
    while (len > 0) {
        size_t n = len < sizeof(chunk) / 2 ? len : sizeof(chunk) / 2;
        size_t chars = hex_encode(data, n, chunk, sizeof(chunk));
        board_log_write(chunk, chars);
        data += n;
        len -= n;
    }
}

void trace_end(void)
{
    board_log_write("\n", 1);
}

#endif
