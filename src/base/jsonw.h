/*
 * jsonw.h — a JSON text writer for the few hot responses (a page of 100 tokens) where building
 * a jansson tree and dumping it was most of the cost.  Appends to a growing buffer; the first
 * allocation failure sets `oom` and later calls do nothing, so callers check once at the end.
 */
#ifndef KG_JSONW_H
#define KG_JSONW_H

#include <stddef.h>
#include <stdint.h>

struct jsonw {
    char *text; /* NUL-terminated; caller owns after jsonw_init (free with jsonw_cleanup) */
    size_t len, cap;
    int oom;
};

void jsonw_init(struct jsonw *w);
/* Wipes the text (it may hold a secret) and frees it. */
void jsonw_cleanup(struct jsonw *w);
/* Appends s as it is (JSON punctuation, keys known to need no escaping). */
void jsonw_raw(struct jsonw *w, const char *s);
/* Appends n bytes of JSON text as they are (a piece of text written by this writer before). */
void jsonw_bytes(struct jsonw *w, const char *s, size_t n);
/* Makes room for n more bytes at once (a text of known size, written in pieces, then grows
 * once instead of doubling its way there, each time copying what it has). */
void jsonw_reserve(struct jsonw *w, size_t n);
/* Appends s as a JSON string: quoted, with '"', '\\' and control characters escaped; other
 * bytes (valid UTF-8, as every stored string is) are copied. */
void jsonw_str(struct jsonw *w, const char *s);
/* Appends a time in RFC 3339 as a JSON string, or null for 0. */
void jsonw_time(struct jsonw *w, int64_t ms);

#endif
