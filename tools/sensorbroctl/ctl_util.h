/*
 * ctl_util.h - what several sensorbroctl commands share: opening the registry with the
 * tool's messages, and reading a small file (a PEM, a password, a CSV) or stdin whole.
 * Single-threaded, like the rest of sensorbroctl.
 */
#ifndef SENSORBROCTL_CTL_UTIL_H
#define SENSORBROCTL_CTL_UTIL_H

#include <stdbool.h>
#include <stddef.h>

#include "lorawan/registry.h"

/* Opens the registry of the journal at path; read_only needs an existing journal. On
 * failure prints "sensorbroctl <who>: ..." and returns -1. */
int ctl_open_registry(const char *who, const char *journal, bool read_only, struct registry **r);

/* Reads the file at path ("-": stdin) whole into a new buffer (NUL-terminated, *len without
 * the NUL). More than max bytes is an error. *others_can_read: the file's mode lets group
 * or others read it (false for stdin). On failure prints "sensorbroctl <who>: <what>: ..."
 * and returns -1. Free the buffer with ctl_free_secret. */
int ctl_read_file(const char *who, const char *what, const char *path, size_t max, char **buf,
                  size_t *len, bool *others_can_read);
/* Zeroes and frees a buffer of ctl_read_file (it may hold a secret); NULL is fine. */
void ctl_free_secret(char *buf, size_t len);

#endif
