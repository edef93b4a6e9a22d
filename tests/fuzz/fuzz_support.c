/*
 * fuzz_support.c - the shared helpers of the fuzz targets (fuzz_support.h).
 */
#include "fuzz_support.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void fuzz_check_failed(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: invariant broken: %s: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static char temp_dir[256];

static void remove_temp_dir(void)
{
    if (temp_dir[0] == '\0')
        return;
    /* The targets keep a handful of files at most, all at the top of the directory. */
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", temp_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", temp_dir);
}

const char *fuzz_temp_dir(void)
{
    if (temp_dir[0] != '\0')
        return temp_dir;
    struct stat st;
    const char *base = getenv("TMPDIR");
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        base = "/dev/shm";
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    snprintf(temp_dir, sizeof(temp_dir), "%s/sensorbro-fuzz.XXXXXX", base);
    if (mkdtemp(temp_dir) == NULL) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_temp_dir);
    return temp_dir;
}

const char *fuzz_write_temp_file(const char *name, const uint8_t *data, size_t size)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", fuzz_temp_dir(), name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || (size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: writing a temporary file");
        abort();
    }
    return path;
}

bool fuzz_is_printable_text(const char *s, size_t size)
{
    size_t len = strnlen(s, size);
    if (len == 0 || len == size)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    }
    return true;
}

bool fuzz_is_lower_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

bool fuzz_is_json(const char *json, size_t len)
{
    const char *end = NULL;
    cJSON *tree = cJSON_ParseWithLengthOpts(json, len, &end, false);
    bool ok = tree != NULL && end == json + len;
    cJSON_Delete(tree);
    return ok;
}

void fuzz_reader_init(struct fuzz_reader *r, const uint8_t *data, size_t size)
{
    r->data = data;
    r->size = size;
    r->pos = 0;
    r->exhausted = false;
}

uint8_t fuzz_u8(struct fuzz_reader *r)
{
    if (r->pos >= r->size) {
        r->exhausted = true;
        return 0;
    }
    return r->data[r->pos++];
}

uint16_t fuzz_u16(struct fuzz_reader *r)
{
    uint16_t lo = fuzz_u8(r);
    return (uint16_t)(lo | (uint16_t)fuzz_u8(r) << 8);
}

uint32_t fuzz_u32(struct fuzz_reader *r)
{
    uint32_t lo = fuzz_u16(r);
    return lo | (uint32_t)fuzz_u16(r) << 16;
}

size_t fuzz_bytes(struct fuzz_reader *r, uint8_t *out, size_t n)
{
    size_t left = r->size - r->pos;
    if (n > left) {
        n = left;
        r->exhausted = true;
    }
    memcpy(out, r->data + r->pos, n);
    r->pos += n;
    return n;
}
