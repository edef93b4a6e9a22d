/*
 * clock.c - wall and monotonic clocks; RFC 3339 formatting is util/rfc3339.c's.
 */
#include "util/clock.h"

#include <time.h>

#include "util/rfc3339.h"

int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int clock_format_rfc3339(int64_t unix_ms, int with_ms, char out[CLOCK_RFC3339_SIZE])
{
    _Static_assert(CLOCK_RFC3339_SIZE >= RFC3339_SIZE, "room for rfc3339_format");
    if (unix_ms > INT64_MAX / 1000 || unix_ms < INT64_MIN / 1000)
        return -1;
    return rfc3339_format(unix_ms * 1000, with_ms ? 3 : 0, out);
}
