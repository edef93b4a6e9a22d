/*
 * crc32.h - CRC-32 (IEEE 802.3, the one of zlib and Ethernet) for the NVM records.
 */
#ifndef SB_CRC32_H
#define SB_CRC32_H

#include <stddef.h>
#include <stdint.h>

#define CRC32_INIT 0u

/* Continues a CRC over len more bytes: crc32_update(CRC32_INIT, "123456789", 9) is
 * 0xCBF43926, and crc32_update(crc32_update(CRC32_INIT, a, n), b, m) is the CRC of a
 * followed by b. */
uint32_t crc32_update(uint32_t crc, const void *data, size_t len);

#endif
