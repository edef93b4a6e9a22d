/*
 * hex.h - hex digits to bytes, for keys, EUIs and payloads typed by a person.
 *
 * Threads: any; no state.
 */
#ifndef SENSORBRO_HEX_H
#define SENSORBRO_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes text, which must be exactly 2 * len hex digits (either case, nothing else), into
 * the len bytes of out. Returns false, leaving out unchanged, when it is not. */
bool hex_decode_exact(const char *text, uint8_t *out, size_t len);

#endif
