/*
 * crc32.c - bitwise CRC-32 without a table: NVM records are written a few times a day and
 * read at boot, so 1 KiB of flash for a table would buy nothing.
 */
#include "crc32.h"

#define CRC32_POLY_REFLECTED 0xEDB88320u

uint32_t crc32_update(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (len-- > 0) {
        crc ^= *p++;
        for (int bit = 0; bit < 8; bit++)
            crc = (crc >> 1) ^ (CRC32_POLY_REFLECTED & (0u - (crc & 1u)));
    }
    return ~crc;
}
