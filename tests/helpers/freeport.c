/*
 * freeport.c - prints a port on 127.0.0.1 that is free for both TCP and UDP, for test
 * scripts that start servers (mosquitto on TCP, sensorbro's CoAP on UDP) side by side.
 *
 * The kernel picks an ephemeral TCP port; the UDP bind then proves the same number is free
 * there too. A port can still be taken between this check and the server's bind; the tests
 * then fail at start-up with a clear bind error rather than talking to a stranger.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static int bind_loopback(int type, unsigned short port, unsigned short *bound)
{
    int fd = socket(AF_INET, type, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(addr.sin_port);
    return fd;
}

int main(void)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned short port = 0, same = 0;
        int tcp = bind_loopback(SOCK_STREAM, 0, &port);
        if (tcp < 0)
            continue;
        int udp = bind_loopback(SOCK_DGRAM, port, &same);
        close(tcp);
        if (udp < 0)
            continue;
        close(udp);
        printf("%u\n", port);
        return 0;
    }
    fprintf(stderr, "freeport: no port free for both TCP and UDP after 100 tries\n");
    return 1;
}
