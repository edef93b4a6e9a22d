/*
 * util/rfc3339.h - RFC 3339 date-times, read and written: the times in ChirpStack events
 * (ingest/chirpstack.c), GWMP rxpk "time" (lorawan/gwmp.c), sensorbroctl decode --received,
 * and every time the gateway publishes (clock_format_rfc3339, render.c).
 *
 * Read: RFC 3339 section 5.6 `date-time`, exactly: "YYYY-MM-DDTHH:MM:SS", an optional
 * fraction ('.' and at least one digit; digits past the microsecond are dropped, not
 * rounded), then "Z" or an offset "+HH:MM" / "-HH:MM". 'T' and 'Z' may be lower case (5.6,
 * NOTE). Every field is exactly its digits (no signs, no blanks); the day must exist in its
 * month (leap years counted), the hour be 00-23, the minute 00-59, the second 00-60 (a
 * leap second reads as the next minute's first second), offsets 00:00-23:59. Texts longer
 * than RFC3339_MAX_LEN are refused: the longest a network server writes (nanoseconds and an
 * offset) is 35.
 *
 * Pure functions; thread-safe.
 */
#ifndef SENSORBRO_UTIL_RFC3339_H
#define SENSORBRO_UTIL_RFC3339_H

#include <stddef.h>
#include <stdint.h>

#define RFC3339_MAX_LEN 40
/* Room for what rfc3339_format writes, NUL included: "YYYY-MM-DDTHH:MM:SS.ffffffZ". */
#define RFC3339_SIZE 32

/* Reads text[0..len) (no NUL needed) into unix microseconds. Returns 0, or -1 when it is
 * not an RFC 3339 date-time (then *unix_us is untouched). Years 0000-9999. */
int rfc3339_parse_us(const char *text, size_t len, int64_t *unix_us);
/* The same in unix milliseconds (the fraction cut after its third digit). */
int rfc3339_parse_ms(const char *text, size_t len, int64_t *unix_ms);

/* Writes unix_us as UTC with fraction_digits (0, 3 or 6) digits of the second:
 * "2026-11-23T09:17:03Z", "...03.123Z", "...03.123456Z". Returns 0, or -1 for a time
 * outside years 0000-9999 or another digit count. */
int rfc3339_format(int64_t unix_us, unsigned fraction_digits, char out[RFC3339_SIZE]);

#endif
