/*
 * util/host.c - loopback by name or address (util/host.h).
 */
#include "util/host.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* Room for the longest host the configuration takes (struct config_broker.host). */
#define HOST_TEXT_MAX 256

static bool name_is_loopback(const char *name, size_t len)
{
    static const char *const names[] = {"localhost", "ip6-localhost", "ip6-loopback", NULL};
    for (size_t i = 0; names[i]; i++)
        if (len == strlen(names[i]) && strncasecmp(name, names[i], len) == 0)
            return true;
    /* RFC 6761 6.3: every name under .localhost is loopback */
    static const char suffix[] = ".localhost";
    size_t n = sizeof(suffix) - 1;
    return len > n && strncasecmp(name + len - n, suffix, n) == 0;
}

bool host_is_loopback(const char *host)
{
    if (host == NULL || host[0] == '\0')
        return false;
    size_t len = strlen(host);
    if (len >= HOST_TEXT_MAX)
        return false;
    char text[HOST_TEXT_MAX];
    memcpy(text, host, len + 1);
    /* "[::1]" as in a URI */
    if (text[0] == '[' && len > 2 && text[len - 1] == ']') {
        memmove(text, text + 1, len - 2);
        len -= 2;
        text[len] = '\0';
    }
    struct in_addr v4;
    if (inet_pton(AF_INET, text, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    struct in6_addr v6;
    if (inet_pton(AF_INET6, text, &v6) == 1) {
        if (IN6_IS_ADDR_LOOPBACK(&v6))
            return true;
        return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
    }
    if (len > 1 && text[len - 1] == '.') /* the root's dot: "localhost." */
        len--;
    return name_is_loopback(text, len);
}
