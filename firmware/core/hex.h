/*
 * hex.h - bounded hex encoding and decoding, for the payloads of the AT command set.
 */
#ifndef SB_HEX_H
#define SB_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes 2 * len upper-case hex digits (no terminating NUL) to out. Returns the number of
 * characters written, or 0 when out_capacity is too small (nothing is written then). */
size_t hex_encode(const uint8_t *data, size_t len, char *out, size_t out_capacity);

/* Decodes hex_len hex digits (either case) into out. Fails, with *out_len unchanged, on an
 * odd length, a non-hex character or more than out_capacity bytes; out then holds nothing
 * to use (the bytes before a bad digit may have been written). out may be the same memory
 * as hex (decoding in place): byte i is written only after digits 2i and 2i+1 were read. */
bool hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_capacity,
                size_t *out_len);

#endif
