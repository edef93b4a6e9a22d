/*
 * eui_host.c - "EUI@host" lists (eui_host.h).
 */
#include "util/eui_host.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

int eui_host_canonical(const char *text, char out[EUI_HOST_HOST_SIZE])
{
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, text, &v4) == 1)
        return inet_ntop(AF_INET, &v4, out, EUI_HOST_HOST_SIZE) ? 0 : -1;
    if (inet_pton(AF_INET6, text, &v6) != 1)
        return -1;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
        memcpy(&v4, &v6.s6_addr[12], sizeof(v4));
        return inet_ntop(AF_INET, &v4, out, EUI_HOST_HOST_SIZE) ? 0 : -1;
    }
    return inet_ntop(AF_INET6, &v6, out, EUI_HOST_HOST_SIZE) ? 0 : -1;
}

/* One entry, [start, end) of the list, blanks trimmed. */
static int parse_entry(const char *start, const char *end, struct eui_host *e, char *why,
                       size_t why_size)
{
    while (start < end && isspace((unsigned char)*start))
        start++;
    while (end > start && isspace((unsigned char)end[-1]))
        end--;
    int len = (int)(end - start);
    const char *at = memchr(start, '@', (size_t)(end - start));
    if (at == NULL) {
        snprintf(why, why_size,
                 "expected EUI@host (e.g. aa555a0000000001@192.168.1.20), got \"%.*s\"",
                 len > 80 ? 80 : len, start);
        return -1;
    }
    size_t eui_len = (size_t)(at - start), host_len = (size_t)(end - at - 1);
    if (eui_len != 16 || strspn(start, "0123456789abcdefABCDEF") < 16) {
        snprintf(why, why_size, "expected a gateway EUI of 16 hex digits before '@', got \"%.*s\"",
                 len > 80 ? 80 : len, start);
        return -1;
    }
    for (size_t i = 0; i < 16; i++)
        e->eui[i] = (char)tolower((unsigned char)start[i]);
    e->eui[16] = '\0';
    char host[EUI_HOST_HOST_SIZE * 2];
    if (host_len == 0 || host_len >= sizeof(host)) {
        snprintf(why, why_size, "expected a numeric IPv4 or IPv6 address after '@', got \"%.*s\"",
                 len > 80 ? 80 : len, start);
        return -1;
    }
    memcpy(host, at + 1, host_len);
    host[host_len] = '\0';
    if (eui_host_canonical(host, e->host) != 0) {
        snprintf(why, why_size,
                 "expected a numeric IPv4 or IPv6 address (no port, no name) after '@', got "
                 "\"%.*s\"",
                 len > 80 ? 80 : len, start);
        return -1;
    }
    return 0;
}

int eui_host_parse_list(const char *text, struct eui_host *out, size_t max, char *why,
                        size_t why_size)
{
    size_t n = 0;
    const char *p = text;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        if (n == max) {
            snprintf(why, why_size, "more than %zu forwarders", max);
            return -1;
        }
        if (parse_entry(p, end, &out[n], why, why_size) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(out[i].eui, out[n].eui) == 0) {
                snprintf(why, why_size, "forwarder %s given twice", out[n].eui);
                return -1;
            }
        }
        n++;
        if (comma == NULL)
            return (int)n;
        p = comma + 1;
    }
}
