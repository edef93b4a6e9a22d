/*
 * broker_uri.h - the Paho server URI for one of a broker's addresses.
 *
 * Paho connects to the first address a host name resolves to and never tries another, so a
 * broker listening on IPv4 only cannot be reached when "localhost" resolves to ::1 first,
 * as it does on a standard Debian. The MQTT session (output/mqtt_session.c) resolves
 * through this function instead and tries the addresses in turn. Over TLS the URI keeps the name,
 * because Paho checks the broker's certificate against it; Paho then resolves the name itself.
 *
 * Threads: any (getaddrinfo may block on DNS). No state.
 */
#ifndef SENSORBRO_BROKER_URI_H
#define SENSORBRO_BROKER_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BROKER_URI_SIZE 300

/* Writes the URI of address number index (modulo their count) of host into out and sets
 * *count to the number of addresses (1 over TLS, or when the name does not resolve: the
 * URI then holds the name and Paho reports the failure). */
void broker_uri(const char *host, uint32_t port, bool tls, uint32_t index,
                char out[BROKER_URI_SIZE], uint32_t *count);

#endif
