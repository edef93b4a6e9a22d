/*
 * util/rfc3339.c - RFC 3339 date-times (util/rfc3339.h). The grammar is checked by hand,
 * digit by digit (sscanf and strptime accept blanks and signs inside fields); the calendar
 * arithmetic is the C library's (timegm, gmtime_r).
 */
#include "util/rfc3339.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define US_PER_S 1000000

/* The n digits at s as a number, or -1 when one of them is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in_month(int year, int month)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

int rfc3339_parse_us(const char *s, size_t len, int64_t *unix_us)
{
    /* "YYYY-MM-DDTHH:MM:SS" and at least "Z" */
    if (len < 20 || len > RFC3339_MAX_LEN || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':')
        return -1;
    int year = digits(s, 4), month = digits(s + 5, 2), day = digits(s + 8, 2);
    int hour = digits(s + 11, 2), minute = digits(s + 14, 2), second = digits(s + 17, 2);
    if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 ||
        minute > 59 || second < 0 || second > 60 || day > days_in_month(year, month))
        return -1;
    size_t at = 19;
    int64_t fraction_us = 0;
    if (s[at] == '.') {
        size_t first = ++at;
        int64_t scale = US_PER_S / 10;
        for (; at < len && s[at] >= '0' && s[at] <= '9'; at++, scale /= 10)
            fraction_us += (s[at] - '0') * scale; /* scale reaches 0 after six digits */
        if (at == first)
            return -1;
    }
    int64_t offset_s = 0;
    if (at < len && (s[at] == 'Z' || s[at] == 'z')) {
        at++;
    } else if (at < len && (s[at] == '+' || s[at] == '-')) {
        int oh = len - at >= 6 ? digits(s + at + 1, 2) : -1;
        int om = len - at >= 6 && s[at + 3] == ':' ? digits(s + at + 4, 2) : -1;
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        offset_s = (int64_t)(oh * 3600 + om * 60) * (s[at] == '+' ? 1 : -1);
        at += 6;
    } else {
        return -1;
    }
    if (at != len)
        return -1;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = month - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = minute,
                    .tm_sec = second};
    errno = 0;
    time_t t = timegm(&tm);
    if (t == (time_t)-1 && errno != 0)
        return -1; /* not representable: a 32-bit time_t past 2038 */
    *unix_us = ((int64_t)t - offset_s) * US_PER_S + fraction_us;
    return 0;
}

int rfc3339_parse_ms(const char *text, size_t len, int64_t *unix_ms)
{
    int64_t us;
    if (rfc3339_parse_us(text, len, &us) != 0)
        return -1;
    /* floor, so that a time before 1970 keeps its millisecond */
    *unix_ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
    return 0;
}

int rfc3339_format(int64_t unix_us, unsigned fraction_digits, char out[RFC3339_SIZE])
{
    /* years 0000..9999 lie within +-2^48 s: nothing below overflows */
    const int64_t limit_s = INT64_C(253402300800); /* 10000-01-01T00:00:00Z */
    const int64_t first_s = INT64_C(-62167219200); /* 0000-01-01T00:00:00Z */
    if (fraction_digits != 0 && fraction_digits != 3 && fraction_digits != 6)
        return -1;
    int64_t secs = unix_us / US_PER_S, us = unix_us % US_PER_S;
    if (us < 0) {
        us += US_PER_S;
        secs -= 1;
    }
    if (secs < first_s || secs >= limit_s || (int64_t)(time_t)secs != secs)
        return -1;
    time_t t = (time_t)secs;
    struct tm utc;
    if (gmtime_r(&t, &utc) == NULL)
        return -1;
    /* The range check above keeps this within RFC3339_SIZE; the wider buffer keeps the
     * compiler's truncation analysis, which cannot see the check, quiet. */
    char text[96];
    int n = snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d", utc.tm_year + 1900,
                     utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    if (fraction_digits == 3)
        n += snprintf(text + n, sizeof(text) - (size_t)n, ".%03d", (int)(us / 1000));
    else if (fraction_digits == 6)
        n += snprintf(text + n, sizeof(text) - (size_t)n, ".%06d", (int)us);
    snprintf(text + n, sizeof(text) - (size_t)n, "Z");
    size_t text_len = strlen(text);
    if (text_len >= RFC3339_SIZE)
        return -1;
    memcpy(out, text, text_len + 1);
    return 0;
}
