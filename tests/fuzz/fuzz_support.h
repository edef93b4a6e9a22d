/*
 * fuzz_support.h - what every libFuzzer target of tests/fuzz shares: the invariant check,
 * a private temporary directory, and a few checks of text and JSON.
 *
 * A target checks the invariants of the module it drives, not only what the sanitizers
 * see. A broken invariant is a crash like any other: FUZZ_CHECK prints where and why and
 * aborts, so libFuzzer keeps the input as a crash file (tests/fuzz/README.md says how it
 * becomes a regression test).
 *
 * Threads: the targets are single-threaded; none of this is thread-safe.
 */
#ifndef SENSORBRO_FUZZ_SUPPORT_H
#define SENSORBRO_FUZZ_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry points, as the targets define them. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

void fuzz_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
void fuzz_check_failed(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5), noreturn));

/* Checks an invariant; on failure prints it and the message (printf format) and aborts. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__);                             \
    } while (0)

/* A directory of this process's own (under /dev/shm when it exists: SQLite's fsyncs cost
 * nothing there, so the registry target runs at the speed of its code), removed at exit.
 * Created on first use. */
const char *fuzz_temp_dir(void);
/* Writes data to <fuzz_temp_dir()>/<name> and returns that path (static storage). */
const char *fuzz_write_temp_file(const char *name, const uint8_t *data, size_t size);

/* Whether s (NUL-terminated within size bytes) is non-empty printable ASCII: what an
 * error message or a reason must be before it reaches a log line or a diagnostic. */
bool fuzz_is_printable_text(const char *s, size_t size);
/* Whether s[0..len) is exactly len lower-case hex digits. */
bool fuzz_is_lower_hex(const char *s, size_t len);

/* Whether json[0..len) is one JSON value (cJSON) with nothing after it. */
bool fuzz_is_json(const char *json, size_t len);

/* A little-endian reader over the fuzz input, for targets whose input is a script of
 * operations: reads past the end give zeros and set exhausted. */
struct fuzz_reader {
    const uint8_t *data;
    size_t size;
    size_t pos;
    bool exhausted;
};

void fuzz_reader_init(struct fuzz_reader *r, const uint8_t *data, size_t size);
uint8_t fuzz_u8(struct fuzz_reader *r);
uint16_t fuzz_u16(struct fuzz_reader *r);
uint32_t fuzz_u32(struct fuzz_reader *r);
/* Copies up to n bytes (fewer at the end of the input); returns how many. */
size_t fuzz_bytes(struct fuzz_reader *r, uint8_t *out, size_t n);

#endif
