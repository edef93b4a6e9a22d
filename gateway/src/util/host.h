/*
 * util/host.h - whether a broker's host, as the configuration names it, is this machine's
 * loopback.
 *
 * The answer decides the TLS default of a broker connection ([mqtt] and [lns_mqtt]): over
 * loopback, traffic never leaves the box, so plain TCP is the default; anything else gets
 * TLS, and a password over plain TCP to it needs allow_insecure. The decision is made on
 * the text alone, never by resolving the name: a DNS answer is not something to trust
 * with a password, and the configuration is checked before the network is up. So a name
 * is loopback only when it is one by definition ("localhost" and names under
 * ".localhost", RFC 6761 section 6.3; Debian's "ip6-localhost" and "ip6-loopback"), and an
 * address only when it lies in 127.0.0.0/8, is ::1, or is an IPv4-mapped 127.x address. A
 * host name that happens to resolve to 127.0.1.1 counts as remote: TLS, which is the safe
 * side to err on.
 *
 * Threads: any; no state.
 */
#ifndef SENSORBRO_UTIL_HOST_H
#define SENSORBRO_UTIL_HOST_H

#include <stdbool.h>

/* True when host (a name or a numeric address, case-insensitive, an optional trailing dot
 * on a name) is loopback by the rules above. NULL and "" are not. */
bool host_is_loopback(const char *host);

#endif
