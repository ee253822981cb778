/*
 * util.h — small helpers every module uses: clock, strict number parsing, bounded copies,
 * UTF-8 checks and RFC 3339 times.
 */
#ifndef KG_UTIL_H
#define KG_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define KG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Wall-clock milliseconds since the Unix epoch. */
int64_t kg_now_ms(void);

/* Parses all of `s` as a decimal integer in [min, max]; no sign games, no trailing bytes.
 * KG_INVALID otherwise. */
kg_err kg_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);
/* Parses a duration: a whole number and a unit, s, m, h or d ("90s", "12h", "7d"), or "0";
 * *seconds in [0, max_s].  KG_INVALID otherwise. */
kg_err kg_parse_duration(const char *s, int64_t max_s, int64_t *seconds);

/* Copies src into dst[size]; returns KG_TOOBIG (dst left empty) when it does not fit. */
kg_err kg_strcpy(char *dst, size_t size, const char *src);

/* 1 when s[0..len) is valid UTF-8 with no NUL and no C0 control but \t; *chars = code
 * points.  (Controls are refused so that descriptions cannot forge log or table lines.) */
int kg_utf8_text(const char *s, size_t len, size_t *chars);

/* Formats ms as "2026-12-01T09:53:20.123Z" into buf (>= 25 bytes). */
void kg_time_format(int64_t ms, char *buf, size_t size);
/* Writes v in decimal at p (at most 20 bytes, no NUL); returns the end.  snprintf's cost
 * without its parsing, for numbers written on every request. */
char *kg_put_u64(char *p, uint64_t v);

/* Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z" (UTC only); KG_INVALID otherwise. */
kg_err kg_time_parse(const char *s, int64_t *ms);

/* Makes room in a growing heap text *buf of capacity *cap, len bytes used, for `more` bytes
 * and a NUL: the capacity doubles from `first`.  0, or -1 when memory runs out (the text is
 * then as it was).  The one growth rule of jsonw, the metrics text and the CLI's tables. */
int kg_grow(char **buf, size_t *cap, size_t len, size_t more, size_t first);

/* XXH64 of p's n bytes (Yann Collet's xxHash, 64-bit, as its specification gives it): a fast
 * checksum against damage, never against an adversary. */
uint64_t kg_xxh64(const void *p, size_t n, uint64_t seed);

#endif
