/*
 * frame.c - helpers for frame records.
 */
#include "frame.h"

#include <ctype.h>

int frame_parse_device_id(const char *text, size_t text_len, char out[FRAME_DEVICE_ID_SIZE])
{
    if (text_len != FRAME_DEVICE_ID_LEN)
        return -1;
    for (size_t i = 0; i < FRAME_DEVICE_ID_LEN; i++) {
        unsigned char c = (unsigned char)text[i];
        if (!isxdigit(c))
            return -1;
        out[i] = (char)tolower(c);
    }
    out[FRAME_DEVICE_ID_LEN] = '\0';
    return 0;
}

int64_t frame_anchor_ms(const struct frame_record *rec)
{
    return rec->heard_ms != 0 ? rec->heard_ms : rec->received_ms;
}
