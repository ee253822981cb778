/*
 * util.c — clock, strict parsing, bounded copies, UTF-8 and RFC 3339 helpers.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t kg_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

kg_err kg_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (!s || !*s || strlen(s) > 20) return KG_INVALID;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p) && !(p == s && *p == '-')) return KG_INVALID;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end || v < min || v > max) return KG_INVALID;
    *out = v;
    return KG_OK;
}

kg_err kg_parse_duration(const char *s, int64_t max_s, int64_t *seconds)
{
    static const struct {
        char unit;
        int64_t s;
    } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
    char num[16];
    int64_t n;
    size_t len = s ? strlen(s) : 0;
    if (len == 1 && s[0] == '0') {
        *seconds = 0;
        return KG_OK;
    }
    if (len < 2 || len > sizeof num) return KG_INVALID;
    memcpy(num, s, len - 1);
    num[len - 1] = '\0';
    if (num[0] == '-' || kg_parse_int64(num, 0, max_s, &n) != KG_OK) return KG_INVALID;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (s[len - 1] == units[i].unit) {
            if (n > max_s / units[i].s) return KG_INVALID;
            *seconds = n * units[i].s;
            return KG_OK;
        }
    return KG_INVALID;
}

kg_err kg_strcpy(char *dst, size_t size, const char *src)
{
    size_t len = strlen(src);
    if (len >= size) {
        if (size) dst[0] = '\0';
        return KG_TOOBIG;
    }
    memcpy(dst, src, len + 1);
    return KG_OK;
}

int kg_utf8_text(const char *s, size_t len, size_t *chars)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t n = 0;
    while (p < end) {
        unsigned c = *p;
        size_t k;
        unsigned cp;
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t') || c == 0x7f) return 0;
            p++;
            n++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= k) return 0;
        for (size_t i = 1; i <= k; i++) {
            if ((p[i] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        static const unsigned min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        p += k + 1;
        n++;
    }
    if (chars) *chars = n;
    return 1;
}

static char *digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + n;
}

char *kg_put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < sizeof tmp);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Without gmtime_r and snprintf (a list page formats 300 times): the civil date from a day
 * count (H. Hinnant's days_to_civil), for the years 0000 to 9999; gmtime_r outside them. */
void kg_time_format(int64_t ms, char *buf, size_t size)
{
    int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    unsigned sod = (unsigned)(secs - days * 86400), msec = (unsigned)(ms - secs * 1000);
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    if (y < 0 || y > 9999 || size < 25) {
        time_t t = (time_t)secs;
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, msec);
        return;
    }
    char *p = digits(buf, (unsigned)y, 4);
    *p++ = '-';
    p = digits(p, m, 2);
    *p++ = '-';
    p = digits(p, d, 2);
    *p++ = 'T';
    p = digits(p, sod / 3600, 2);
    *p++ = ':';
    p = digits(p, sod / 60 % 60, 2);
    *p++ = ':';
    p = digits(p, sod % 60, 2);
    *p++ = '.';
    p = digits(p, msec, 3);
    *p++ = 'Z';
    *p = '\0';
}

kg_err kg_time_parse(const char *s, int64_t *ms)
{
    int y, mo, d, h, mi, sec, used = 0;
    if (strlen(s) > 32) return KG_INVALID;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
        used != 19)
        return KG_INVALID;
    for (int i = 0; i < 19; i++)
        if (i != 4 && i != 7 && i != 10 && i != 13 && i != 16 && !isdigit((unsigned char)s[i]))
            return KG_INVALID;
    const char *p = s + 19;
    int frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3) frac = frac * 10 + (*p - '0');
        if (digits == 0 || digits > 9) return KG_INVALID;
        for (int i = digits; i < 3; i++)
            frac *= 10;
    }
    if (strcmp(p, "Z") != 0) return KG_INVALID;
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 59)
        return KG_INVALID;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_mday != d) return KG_INVALID; /* 31 February and friends */
    *ms = (int64_t)t * 1000 + frac;
    return KG_OK;
}

int kg_grow(char **buf, size_t *cap, size_t len, size_t more, size_t first)
{
    if (len + more + 1 <= *cap) return 0;
    if (more > SIZE_MAX / 4 - len) return -1;
    size_t c = *cap ? *cap : first;
    while (c < len + more + 1)
        c *= 2;
    char *p = realloc(*buf, c);
    if (!p) return -1;
    *buf = p;
    *cap = c;
    return 0;
}

/* ---- XXH64 ----------------------------------------------------------------------------- */

#define XXH_P1 11400714785074694791ull
#define XXH_P2 14029467366897019727ull
#define XXH_P3 1609587929392839161ull
#define XXH_P4 9650029242287828579ull
#define XXH_P5 2870177450012600261ull

static uint64_t xxh_rotl(uint64_t x, int r)
{
    return x << r | x >> (64 - r);
}

static uint64_t xxh_read64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v); /* little-endian machines: the specification's byte order */
    return v;
}

static uint64_t xxh_round(uint64_t acc, uint64_t in)
{
    return xxh_rotl(acc + in * XXH_P2, 31) * XXH_P1;
}

static uint64_t xxh_merge(uint64_t h, uint64_t v)
{
    return (h ^ xxh_round(0, v)) * XXH_P1 + XXH_P4;
}

uint64_t kg_xxh64(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data, *end = p + n;
    uint64_t h;
    if (n >= 32) {
        uint64_t v1 = seed + XXH_P1 + XXH_P2, v2 = seed + XXH_P2, v3 = seed, v4 = seed - XXH_P1;
        do {
            v1 = xxh_round(v1, xxh_read64(p));
            v2 = xxh_round(v2, xxh_read64(p + 8));
            v3 = xxh_round(v3, xxh_read64(p + 16));
            v4 = xxh_round(v4, xxh_read64(p + 24));
            p += 32;
        } while (end - p >= 32);
        h = xxh_rotl(v1, 1) + xxh_rotl(v2, 7) + xxh_rotl(v3, 12) + xxh_rotl(v4, 18);
        h = xxh_merge(xxh_merge(xxh_merge(xxh_merge(h, v1), v2), v3), v4);
    } else {
        h = seed + XXH_P5;
    }
    h += n;
    for (; end - p >= 8; p += 8)
        h = xxh_rotl(h ^ xxh_round(0, xxh_read64(p)), 27) * XXH_P1 + XXH_P4;
    if (end - p >= 4) {
        uint32_t w;
        memcpy(&w, p, sizeof w);
        h = xxh_rotl(h ^ (uint64_t)w * XXH_P1, 23) * XXH_P2 + XXH_P3;
        p += 4;
    }
    for (; p < end; p++)
        h = xxh_rotl(h ^ *p * XXH_P5, 11) * XXH_P1;
    h ^= h >> 33;
    h *= XXH_P2;
    h ^= h >> 29;
    h *= XXH_P3;
    return h ^ (h >> 32);
}
