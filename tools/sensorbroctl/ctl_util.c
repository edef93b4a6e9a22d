/*
 * ctl_util.c - shared helpers of sensorbroctl's commands (ctl_util.h).
 */
#include "ctl_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

int ctl_open_registry(const char *who, const char *journal, bool read_only, struct registry **r)
{
    char err[512];
    if (read_only) {
        /* access(), not fopen(): opening and closing the database file in a process
         * that holds a connection to it would drop that connection's locks (store/schema.c) */
        if (access(journal, R_OK) != 0) {
            fprintf(stderr,
                    "sensorbroctl %s: no journal at %s (add a device, start sensorbro, or "
                    "give -j/-c)\n",
                    who, journal);
            return -1;
        }
    }
    if (registry_open(r, journal, read_only, 5000, err, sizeof(err)) != 0) {
        fprintf(stderr, "sensorbroctl %s: %s\n", who, err);
        return -1;
    }
    return 0;
}

int ctl_read_file(const char *who, const char *what, const char *path, size_t max, char **buf,
                  size_t *len, bool *others_can_read)
{
    *buf = NULL;
    *len = 0;
    *others_can_read = false;
    bool is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "sensorbroctl %s: %s %s: %s\n", who, what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (!is_stdin && fstat(fd, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            fprintf(stderr, "sensorbroctl %s: %s %s: not a regular file\n", who, what, path);
            close(fd);
            return -1;
        }
        *others_can_read = (st.st_mode & 044) != 0;
    }
    size_t cap = 4096, n = 0;
    char *data = malloc(cap + 1);
    int result = -1;
    if (data == NULL)
        fprintf(stderr, "sensorbroctl %s: %s: out of memory\n", who, what);
    while (data) {
        if (n == cap) {
            if (cap > max) {
                fprintf(stderr, "sensorbroctl %s: %s %s: more than %zu bytes\n", who, what,
                        is_stdin ? "stdin" : path, max);
                break;
            }
            char *bigger = malloc(cap * 2 + 1);
            if (bigger == NULL) {
                fprintf(stderr, "sensorbroctl %s: %s: out of memory\n", who, what);
                break;
            }
            memcpy(bigger, data, n);
            OPENSSL_cleanse(data, n);
            free(data);
            data = bigger;
            cap *= 2;
        }
        ssize_t got = read(fd, data + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            fprintf(stderr, "sensorbroctl %s: %s %s: %s\n", who, what, is_stdin ? "stdin" : path,
                    strerror(errno));
            break;
        }
        if (got == 0) {
            if (n > max) {
                fprintf(stderr, "sensorbroctl %s: %s %s: more than %zu bytes\n", who, what,
                        is_stdin ? "stdin" : path, max);
                break;
            }
            data[n] = '\0';
            *buf = data;
            *len = n;
            data = NULL;
            result = 0;
            break;
        }
        n += (size_t)got;
    }
    if (data) {
        OPENSSL_cleanse(data, n);
        free(data);
    }
    if (!is_stdin)
        close(fd);
    return result;
}

void ctl_free_secret(char *buf, size_t len)
{
    if (buf) {
        OPENSSL_cleanse(buf, len);
        free(buf);
    }
}
