/*
 * freeport.c - prints a port on 127.0.0.1 that is free for both TCP and UDP, for test
 * scripts that start servers (mosquitto on TCP, sensorbro's CoAP on UDP) side by side.
 * `sb-freeport --udp-free PORT` instead exits 0 when UDP PORT can be bound on all
 * addresses (as sensorbro's CoAP endpoint does), 1 when it is taken.
 *
 * The kernel picks an ephemeral TCP port; the UDP bind then proves the same number is free
 * there too. A port can still be taken between this check and the server's bind; the tests
 * then fail at start-up with a clear bind error rather than talking to a stranger.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int bind_port(int type, uint32_t address, unsigned short port, unsigned short *bound)
{
    int fd = socket(AF_INET, type, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(address);
    socklen_t len = sizeof(addr);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        close(fd);
        return -1;
    }
    *bound = ntohs(addr.sin_port);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--udp-free") == 0) {
        char *end;
        unsigned long port = strtoul(argv[2], &end, 10);
        unsigned short bound;
        if (*end != '\0' || port == 0 || port > 65535) {
            fprintf(stderr, "freeport: --udp-free expects a port number\n");
            return 2;
        }
        int fd = bind_port(SOCK_DGRAM, INADDR_ANY, (unsigned short)port, &bound);
        if (fd < 0)
            return 1;
        close(fd);
        return 0;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: sb-freeport [--udp-free PORT]\n");
        return 2;
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned short port = 0, same = 0;
        int tcp = bind_port(SOCK_STREAM, INADDR_LOOPBACK, 0, &port);
        if (tcp < 0)
            continue;
        int udp = bind_port(SOCK_DGRAM, INADDR_LOOPBACK, port, &same);
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
