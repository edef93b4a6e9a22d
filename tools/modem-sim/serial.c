/*
 * serial.c - pty and socket serial lines (serial.h).
 */

#include "serial.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

static bool open_pty(struct serial *s, const char *link)
{
    s->fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s->fd < 0 || grantpt(s->fd) != 0 || unlockpt(s->fd) != 0) {
        fprintf(stderr, "modem-sim: cannot create a pty: %s\n", strerror(errno));
        return false;
    }
    const char *name = ptsname(s->fd);
    s->pty_slave = name != NULL ? open(name, O_RDWR | O_NOCTTY | O_CLOEXEC) : -1;
    struct termios tio;
    if (s->pty_slave < 0 || tcgetattr(s->pty_slave, &tio) != 0) {
        fprintf(stderr, "modem-sim: cannot open the pty: %s\n", strerror(errno));
        return false;
    }
    cfmakeraw(&tio); /* a serial line: bytes as they are, no echo */
    tcsetattr(s->pty_slave, TCSANOW, &tio);
    unlink(link);
    if (symlink(name, link) != 0) {
        fprintf(stderr, "modem-sim: symlink %s: %s\n", link, strerror(errno));
        return false;
    }
    snprintf(s->path, sizeof(s->path), "%s", link);
    fprintf(stderr, "modem-sim: serial line on %s (%s)\n", link, name);
    return true;
}

static bool listen_unix(struct serial *s, const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "modem-sim: socket path too long: %s\n", path);
        return false;
    }
    strcpy(addr.sun_path, path);
    unlink(path);
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        listen(s->listen_fd, 1) != 0) {
        fprintf(stderr, "modem-sim: listen on %s: %s\n", path, strerror(errno));
        return false;
    }
    snprintf(s->path, sizeof(s->path), "%s", path);
    fprintf(stderr, "modem-sim: serial line on unix:%s\n", path);
    return true;
}

static bool listen_tcp(struct serial *s, const char *host_port)
{
    char host[128];
    const char *colon = strrchr(host_port, ':');
    if (colon == NULL || (size_t)(colon - host_port) >= sizeof(host)) {
        fprintf(stderr, "modem-sim: expected tcp:HOST:PORT, got tcp:%s\n", host_port);
        return false;
    }
    memcpy(host, host_port, (size_t)(colon - host_port));
    host[colon - host_port] = '\0';
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || ai == NULL) {
        fprintf(stderr, "modem-sim: cannot resolve %s\n", host_port);
        return false;
    }
    s->listen_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    bool ok = s->listen_fd >= 0 &&
              setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
              bind(s->listen_fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(s->listen_fd, 1) == 0;
    freeaddrinfo(ai);
    if (!ok) {
        fprintf(stderr, "modem-sim: listen on %s: %s\n", host_port, strerror(errno));
        return false;
    }
    fprintf(stderr, "modem-sim: serial line on tcp:%s\n", host_port);
    return true;
}

bool serial_open(struct serial *s, const char *spec)
{
    memset(s, 0, sizeof(*s));
    s->listen_fd = s->fd = s->pty_slave = -1;
    if (strncmp(spec, "pty:", 4) == 0) {
        s->kind = SERIAL_PTY;
        return open_pty(s, spec + 4);
    }
    if (strncmp(spec, "unix:", 5) == 0) {
        s->kind = SERIAL_UNIX;
        return listen_unix(s, spec + 5);
    }
    if (strncmp(spec, "tcp:", 4) == 0) {
        s->kind = SERIAL_TCP;
        return listen_tcp(s, spec + 4);
    }
    fprintf(stderr, "modem-sim: --serial wants pty:LINK, unix:PATH or tcp:HOST:PORT\n");
    return false;
}

void serial_close(struct serial *s)
{
    if (s->fd >= 0)
        close(s->fd);
    if (s->pty_slave >= 0)
        close(s->pty_slave);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    if (s->kind != SERIAL_TCP && s->path[0] != '\0')
        unlink(s->path);
    s->fd = s->pty_slave = s->listen_fd = -1;
}

int serial_poll_fd(const struct serial *s)
{
    return s->fd >= 0 ? s->fd : s->listen_fd;
}

static void drop_client(struct serial *s, const char *why)
{
    if (s->kind == SERIAL_PTY)
        return;
    close(s->fd);
    s->fd = -1;
    s->line_len = 0;
    s->overflow = false;
    fprintf(stderr, "modem-sim: serial client gone (%s)\n", why);
}

void serial_readable(struct serial *s, serial_line_fn on_line, void *ctx)
{
    if (s->fd < 0) {
        s->fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (s->fd >= 0)
            fprintf(stderr, "modem-sim: serial client connected\n");
        return;
    }
    char buf[512];
    ssize_t n = read(s->fd, buf, sizeof(buf));
    if (n <= 0) {
        if (n == 0)
            drop_client(s, "end of stream");
        else if (errno != EAGAIN && errno != EINTR)
            drop_client(s, strerror(errno));
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char c = buf[i];
        if (c == '\n') {
            if (s->line_len > 0 && s->line[s->line_len - 1] == '\r')
                s->line_len--;
            s->line[s->line_len] = '\0';
            on_line(ctx, s->overflow ? "" : s->line, s->overflow);
            s->line_len = 0;
            s->overflow = false;
        } else if (s->line_len + 1 < sizeof(s->line)) {
            s->line[s->line_len++] = c;
        } else {
            s->overflow = true;
        }
    }
}

void serial_write_line(struct serial *s, const char *line)
{
    if (s->fd < 0)
        return;
    char buf[SERIAL_LINE_MAX + 2];
    int n = snprintf(buf, sizeof(buf), "%s\r\n", line);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return;
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(s->fd, p, (size_t)n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the client is gone; the read side notices */
        p += w;
        n -= (int)w;
    }
}
