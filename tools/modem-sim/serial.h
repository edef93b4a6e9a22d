/*
 * serial.h - the modem's serial line: a pseudo-terminal (for the host port, as a USB
 * serial adapter would appear), or a unix or TCP socket (for QEMU's -chardev socket).
 * Sockets take one client at a time; a new one replaces the old.
 *
 *   pty:LINK        creates a pty and a symlink LINK to its device
 *   unix:PATH       listens on a unix stream socket at PATH
 *   tcp:HOST:PORT   listens on HOST:PORT
 */
#ifndef MODEM_SIM_SERIAL_H
#define MODEM_SIM_SERIAL_H

#include <stdbool.h>
#include <stddef.h>

#define SERIAL_LINE_MAX 1024

enum serial_kind { SERIAL_PTY, SERIAL_UNIX, SERIAL_TCP };

struct serial {
    enum serial_kind kind;
    int listen_fd; /* sockets */
    int fd;        /* the line: the pty master, or the connected client (-1: none) */
    int pty_slave; /* kept open so the master never reads EOF between clients */
    char path[256];
    char line[SERIAL_LINE_MAX];
    size_t line_len;
    bool overflow;
};

typedef void (*serial_line_fn)(void *ctx, const char *line, bool overflowed);

/* Opens spec. Returns false with a message on stderr. */
bool serial_open(struct serial *s, const char *spec);
void serial_close(struct serial *s);

/* The descriptor to poll for input. */
int serial_poll_fd(const struct serial *s);

/* Accepts a client or reads what arrived, calling on_line for each complete line (line end
 * stripped). An over-long line is passed as "" with overflowed set. */
void serial_readable(struct serial *s, serial_line_fn on_line, void *ctx);

/* Writes line and "\r\n"; dropped when no client is connected. */
void serial_write_line(struct serial *s, const char *line);

#endif
