/*
 * frame.c - helpers for frame records.
 */
#include "frame.h"

#include <ctype.h>

int frame_parse_device_id(const char *text, size_t text_len, char out[FRAME_DEVICE_ID_SIZE])
{
    if (text_len != FRAME_DEVICE_ID_LEN)
        return -1;
    /* Checked whole before out is written: a refused id must not leave half of itself,
     * unterminated, where the caller keeps the device (found by tests/fuzz/fuzz_chirpstack). */
    for (size_t i = 0; i < FRAME_DEVICE_ID_LEN; i++)
        if (!isxdigit((unsigned char)text[i]))
            return -1;
    for (size_t i = 0; i < FRAME_DEVICE_ID_LEN; i++)
        out[i] = (char)tolower((unsigned char)text[i]);
    out[FRAME_DEVICE_ID_LEN] = '\0';
    return 0;
}

int64_t frame_anchor_ms(const struct frame_record *rec)
{
    return rec->heard_ms != 0 ? rec->heard_ms : rec->received_ms;
}

bool frame_radio_better(int16_t rssi_a_dbm, float snr_a_db, int16_t rssi_b_dbm, float snr_b_db)
{
    return rssi_a_dbm != rssi_b_dbm ? rssi_a_dbm > rssi_b_dbm : snr_a_db > snr_b_db;
}
