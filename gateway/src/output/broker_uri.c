/*
 * broker_uri.c - resolves a broker's name into per-address Paho URIs (broker_uri.h).
 */
#include "output/broker_uri.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>

void broker_uri(const char *host, uint32_t port, bool tls, uint32_t index,
                char out[BROKER_URI_SIZE], uint32_t *count)
{
    snprintf(out, BROKER_URI_SIZE, "%s://%s:%" PRIu32, tls ? "ssl" : "tcp", host, port);
    *count = 1;
    if (tls)
        return;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
        return;
    uint32_t n = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next)
        n++;
    struct addrinfo *chosen = res;
    for (uint32_t i = 0; i < index % n; i++)
        chosen = chosen->ai_next;
    char ip[INET6_ADDRSTRLEN];
    const void *addr = chosen->ai_family == AF_INET6
                           ? (const void *)&((struct sockaddr_in6 *)chosen->ai_addr)->sin6_addr
                           : (const void *)&((struct sockaddr_in *)chosen->ai_addr)->sin_addr;
    if (inet_ntop(chosen->ai_family, addr, ip, sizeof(ip)) != NULL) {
        if (chosen->ai_family == AF_INET6)
            snprintf(out, BROKER_URI_SIZE, "tcp://[%s]:%" PRIu32, ip, port);
        else
            snprintf(out, BROKER_URI_SIZE, "tcp://%s:%" PRIu32, ip, port);
        *count = n;
    }
    freeaddrinfo(res);
}
