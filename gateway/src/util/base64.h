/*
 * util/base64.h - base64 (RFC 4648 section 4, the standard alphabet) for every codec of the
 * gateway and its tools: GWMP's "data" (lorawan/gwmp.c), ChirpStack's "data"
 * (ingest/chirpstack.c) and sensorbroctl's decode input. OpenSSL (EVP_EncodeBlock,
 * EVP_DecodeBlock) does the arithmetic; this module decides what is base64.
 *
 * One strict grammar, with two explicit relaxations for the callers that need them:
 *   - characters: A-Z a-z 0-9 + / only; '=' only as the last one or two characters, and
 *     only as many as the last group needs (a whole group of padding, "A===" or "====",
 *     is refused). EVP_DecodeBlock alone would take '=' anywhere as a zero, skip leading
 *     blanks and trailing junk: every such input is refused here.
 *   - padding: required (length a multiple of 4), unless BASE64_PAD_OPTIONAL: then it may
 *     be left out, but when given it must be complete. Semtech's packet forwarder and
 *     others write GWMP data without it (Semtech's own b64_to_bin accepts both);
 *     ChirpStack (protobuf JSON) always pads, and the LNS feed has always required it.
 *   - whitespace: refused, unless BASE64_SKIP_WHITESPACE (an operator's pasted input,
 *     sensorbroctl decode): then space, tab, CR and LF are ignored wherever they are.
 * Bits left over in the last character are not checked (RFC 4648 3.5 leaves that to the
 * decoder; OpenSSL, Go and Python accept them too). An empty text decodes to 0 bytes.
 *
 * Pure functions, no allocation; thread-safe.
 */
#ifndef SENSORBRO_UTIL_BASE64_H
#define SENSORBRO_UTIL_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters (without the NUL) that n bytes encode to, padding included. */
#define BASE64_ENCODED_LEN(n) ((((size_t)(n)) + 2) / 3 * 4)

enum base64_flags {
    BASE64_STRICT = 0,
    BASE64_PAD_OPTIONAL = 1u << 0,
    BASE64_SKIP_WHITESPACE = 1u << 1,
};

enum base64_fault {
    BASE64_FAULT_NONE,
    BASE64_FAULT_LENGTH,    /* not a whole number of groups (or, padded, not of 4) */
    BASE64_FAULT_CHARACTER, /* a character outside the alphabet, or '=' out of place */
    BASE64_FAULT_SPACE,     /* well formed, but more bytes than out_size */
};

/* What was wrong with a text that did not decode, for the caller's message. */
struct base64_error {
    enum base64_fault fault;
    size_t at;          /* FAULT_CHARACTER: offset in the text of the character outside
                           the alphabet, or of the first '=' of padding out of place */
    size_t decoded_len; /* FAULT_SPACE: the bytes the text holds */
};

/* Decodes text[0..len) (no NUL needed) into out. Returns the number of bytes written
 * (0..out_size), or -1 with *err (may be NULL) saying why; out is then unspecified. The
 * padded grammar without BASE64_SKIP_WHITESPACE judges the length before the characters. */
long base64_decode(const char *text, size_t len, unsigned flags, uint8_t *out, size_t out_size,
                   struct base64_error *err);

/* Writes data as padded base64 and a NUL into out. Returns the length written (without
 * the NUL), or -1 when out_size < BASE64_ENCODED_LEN(len) + 1 (out untouched). */
long base64_encode(const uint8_t *data, size_t len, char *out, size_t out_size);

#endif
