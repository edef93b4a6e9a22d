/*
 * eui_host.h - "EUI@host" lists: the forwarders an operator pins to an address in the
 * configuration (semtech_udp.forwarders = aa555a0000000001@192.168.1.20, ...).
 *
 * An entry is a gateway EUI (16 hex digits) and a numeric IPv4 or IPv6 host, no port: a
 * Semtech packet forwarder sends PUSH_DATA and PULL_DATA from two sockets with two
 * ephemeral ports, so only the host names it. Hosts are kept in inet_ntop's canonical
 * text, so that they compare equal to a datagram's formatted source.
 *
 * Threads: any; no state.
 */
#ifndef SENSORBRO_EUI_HOST_H
#define SENSORBRO_EUI_HOST_H

#include <stddef.h>

#define EUI_HOST_EUI_SIZE  17 /* 16 hex digits, lower case, and the terminator */
#define EUI_HOST_HOST_SIZE 46 /* INET6_ADDRSTRLEN */

struct eui_host {
    char eui[EUI_HOST_EUI_SIZE];
    char host[EUI_HOST_HOST_SIZE];
};

/* Parses a comma-separated list (blanks around entries allowed; "" is an empty list) into
 * at most max entries. Returns the number of entries, or -1 with the reason in why (the
 * entry at fault quoted): not EUI@host, not 16 hex digits, not a numeric address, an EUI
 * given twice, more than max entries. */
int eui_host_parse_list(const char *text, struct eui_host *out, size_t max, char *why,
                        size_t why_size);

/* Canonical text of a numeric IPv4 or IPv6 host (an IPv4-mapped IPv6 address as IPv4).
 * Returns 0, or -1 when text is not one. */
int eui_host_canonical(const char *text, char out[EUI_HOST_HOST_SIZE]);

#endif
