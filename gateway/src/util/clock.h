/*
 * clock.h - the two clocks the gateway uses: wall time for what is recorded and published
 * (reception times, sample times), monotonic time for every timeout and backoff.
 */
#ifndef SENSORBRO_CLOCK_H
#define SENSORBRO_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Unix time in milliseconds (CLOCK_REALTIME). */
int64_t clock_wall_ms(void);
/* Milliseconds since an arbitrary start (CLOCK_MONOTONIC); never goes backwards. */
int64_t clock_mono_ms(void);

/* Writes unix_ms as RFC 3339 UTC: "2026-11-23T09:17:03Z", or with milliseconds
 * "2026-11-23T09:17:03.123Z" when with_ms is set. out must hold 32 bytes. Returns 0, or -1
 * for a time outside years 0000-9999. */
#define CLOCK_RFC3339_SIZE 32
int clock_format_rfc3339(int64_t unix_ms, int with_ms, char out[CLOCK_RFC3339_SIZE]);

#endif
