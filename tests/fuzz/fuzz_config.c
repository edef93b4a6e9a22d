/*
 * fuzz_config.c - any bytes as the daemon's configuration (gateway/src/config.c): an INI file
 * read by config_load_file from a temporary file, then command-line options through
 * config_apply_option, then config_finish, as main.c does at start-up.
 *
 * Input: the file's bytes up to the first NUL; after it, NUL-separated "--set" assignments
 * (section.key=value), at most MAX_OPTIONS of them.
 *
 * Invariants beyond the sanitizers:
 * - an error names where (values are quoted in it as they were written): "<file>:<line>: " with a
 * line of the file (1 to its number of lines) for the file, "command line: " or "--set" for an
 * option;
 * - a configuration that loaded and finished prints (config_print, as --print-config) as an
 *   INI file that config_load_file and config_finish take, and that prints the same again:
 *   --print-config shows what will run;
 * - config_finish either succeeds or says why.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "fuzz_support.h"

#define MAX_OPTIONS 8

static size_t count_lines(const uint8_t *text, size_t len)
{
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    return lines;
}

/* "<path>:<line>: ..." with 1 <= line <= max_line. */
static void check_file_error(const char *err, const char *path, size_t max_line)
{
    FUZZ_CHECK(strnlen(err, CONFIG_ERROR_SIZE) < CONFIG_ERROR_SIZE, "not terminated");
    size_t n = strlen(path);
    FUZZ_CHECK(strncmp(err, path, n) == 0 && err[n] == ':', "does not name the file: %s", err);
    char *end = NULL;
    long line = strtol(err + n + 1, &end, 10);
    FUZZ_CHECK(end != err + n + 1 && end[0] == ':' && end[1] == ' ', "no line: %s", err);
    FUZZ_CHECK(line >= 1 && (size_t)line <= max_line, "line %ld of %zu: %s", line, max_line, err);
}

static char *print_config(const struct config *cfg, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    FUZZ_CHECK(f != NULL, "open_memstream");
    config_print(cfg, f);
    fclose(f);
    return text;
}

/* What --print-config shows loads again, and shows the same. */
static void check_print_round_trip(const struct config *cfg)
{
    size_t len = 0, len_again = 0;
    char *text = print_config(cfg, &len);
    const char *path = fuzz_write_temp_file("printed.ini", (const uint8_t *)text, len);
    static struct config again;
    char err[CONFIG_ERROR_SIZE] = "";
    config_set_defaults(&again);
    FUZZ_CHECK(config_load_file(&again, path, err) == 0 && config_finish(&again, err) == 0,
               "printed configuration refused: %s\n%s", err, text);
    char *text_again = print_config(&again, &len_again);
    FUZZ_CHECK(len == len_again && memcmp(text, text_again, len) == 0,
               "printed differently after loading:\n%s\n---\n%s", text, text_again);
    free(text);
    free(text_again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config cfg;
    const uint8_t *nul = memchr(data, '\0', size);
    size_t file_len = nul ? (size_t)(nul - data) : size;
    const char *path = fuzz_write_temp_file("sensorbro.ini", data, file_len);
    char err[CONFIG_ERROR_SIZE] = "";

    config_set_defaults(&cfg);
    if (config_load_file(&cfg, path, err) != 0) {
        check_file_error(err, path, count_lines(data, file_len));
        return 0;
    }

    /* the options: copies, NUL-terminated (the input's last one may lack its NUL) */
    size_t at = nul ? file_len + 1 : size;
    for (int i = 0; i < MAX_OPTIONS && at < size; i++) {
        const uint8_t *end = memchr(data + at, '\0', size - at);
        size_t n = end ? (size_t)(end - (data + at)) : size - at;
        char *option = malloc(n + 1);
        memcpy(option, data + at, n);
        option[n] = '\0';
        at += n + 1;
        err[0] = '\0';
        int rc = config_apply_option(&cfg, option, err);
        free(option);
        if (rc != 0) {
            FUZZ_CHECK(
                strnlen(err, sizeof(err)) < sizeof(err) &&
                    (strncmp(err, "command line: ", 14) == 0 || strncmp(err, "--set", 5) == 0),
                "an option's error does not name the command line: %s", err);
            return 0;
        }
    }
    err[0] = '\0';
    if (config_finish(&cfg, err) != 0) {
        FUZZ_CHECK(err[0] != '\0' && strnlen(err, sizeof(err)) < sizeof(err),
                   "finish refused without a reason");
        return 0;
    }
    check_print_round_trip(&cfg);
    return 0;
}
