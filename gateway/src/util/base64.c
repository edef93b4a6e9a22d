/*
 * util/base64.c - the one base64 grammar (util/base64.h): checked here, character by
 * character, then handed to OpenSSL in whole 4-character groups, which EVP_DecodeBlock
 * decodes exactly once it is given nothing but the alphabet.
 */
#include "util/base64.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/evp.h>

/* Groups handed to EVP_DecodeBlock at once: keeps its int length far from overflow. */
#define CHUNK_CHARS 4096

static bool in_alphabet(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static long fail(struct base64_error *err, enum base64_fault fault, size_t at, size_t decoded)
{
    if (err != NULL)
        *err = (struct base64_error){.fault = fault, .at = at, .decoded_len = decoded};
    return -1;
}

/* Decodes 2 or 3 characters, the end of a text without its padding, into 1 or 2 bytes. */
static void decode_tail(const char *chars, size_t n, uint8_t *out)
{
    unsigned char group[4] = {'=', '=', '=', '='}, bytes[3];
    memcpy(group, chars, n);
    EVP_DecodeBlock(bytes, group, 4);
    memcpy(out, bytes, n - 1);
}

/* Decodes n (a multiple of 4) alphabet characters into n / 4 * 3 bytes. */
static void decode_groups(const char *chars, size_t n, uint8_t *out)
{
    for (size_t done = 0; done < n; done += CHUNK_CHARS) {
        size_t step = n - done < CHUNK_CHARS ? n - done : CHUNK_CHARS;
        EVP_DecodeBlock(out + done / 4 * 3, (const unsigned char *)chars + done, (int)step);
    }
}

long base64_decode(const char *text, size_t len, unsigned flags, uint8_t *out, size_t out_size,
                   struct base64_error *err)
{
    bool skip_blanks = (flags & BASE64_SKIP_WHITESPACE) != 0;
    bool padded = (flags & BASE64_PAD_OPTIONAL) == 0;
    if (padded && !skip_blanks && len % 4 != 0)
        return fail(err, BASE64_FAULT_LENGTH, 0, 0); /* known before any character is read */
    /* The significant characters: n of them, the last `pad` of which are '='. */
    size_t n = 0, pad = 0, first_pad_at = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (skip_blanks && is_blank(c))
            continue;
        if (c == '=') {
            if (pad++ == 0)
                first_pad_at = i;
        } else if (!in_alphabet(c)) {
            return fail(err, BASE64_FAULT_CHARACTER, i, 0);
        } else if (pad > 0) {
            return fail(err, BASE64_FAULT_CHARACTER, first_pad_at, 0); /* '=' inside */
        }
        n++;
    }
    if (padded && n % 4 != 0)
        return fail(err, BASE64_FAULT_LENGTH, 0, 0);
    if (pad > 2)
        return fail(err, BASE64_FAULT_CHARACTER, first_pad_at, 0);
    size_t data = n - pad, rest = data % 4;
    if (rest == 1)
        return fail(err, BASE64_FAULT_LENGTH, 0, 0);
    if (pad > 0 && pad != 4 - rest) {
        /* padding must be complete: too little leaves a group short, too much is out of
         * place (a padded grammar never gets here: its length fixes the padding) */
        if (rest == 0 || pad > 4 - rest)
            return fail(err, BASE64_FAULT_CHARACTER, first_pad_at, 0);
        return fail(err, BASE64_FAULT_LENGTH, 0, 0);
    }
    size_t decoded = data / 4 * 3 + (rest > 0 ? rest - 1 : 0);
    if (decoded > out_size)
        return fail(err, BASE64_FAULT_SPACE, 0, decoded);

    if (!skip_blanks) {
        /* the significant characters are text[0..data): decoded in place */
        decode_groups(text, data - rest, out);
        if (rest > 0)
            decode_tail(text + data - rest, rest, out + (data - rest) / 4 * 3);
    } else {
        char group[4];
        size_t filled = 0, written = 0;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)text[i];
            if (is_blank(c) || c == '=')
                continue;
            group[filled++] = (char)c;
            if (filled == 4) {
                decode_groups(group, 4, out + written);
                written += 3;
                filled = 0;
            }
        }
        if (filled > 0)
            decode_tail(group, filled, out + written);
    }
    if (err != NULL)
        *err = (struct base64_error){.fault = BASE64_FAULT_NONE};
    return (long)decoded;
}

long base64_encode(const uint8_t *data, size_t len, char *out, size_t out_size)
{
    if (len > (size_t)INT_MAX / 4 * 3 || out_size < BASE64_ENCODED_LEN(len) + 1)
        return -1;
    if (len == 0) {
        out[0] = '\0'; /* data may be NULL then */
        return 0;
    }
    return EVP_EncodeBlock((unsigned char *)out, data, (int)len);
}
