/*
 * jsonw.c — appending JSON text: buffer growth, then string escaping.
 */
#include "jsonw.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

void jsonw_init(struct jsonw *w)
{
    memset(w, 0, sizeof *w);
}

void jsonw_cleanup(struct jsonw *w)
{
    if (w->text) explicit_bzero(w->text, w->len + 1); /* all it ever wrote */
    free(w->text);
    memset(w, 0, sizeof *w);
}

static void put(struct jsonw *w, const char *s, size_t n)
{
    if (w->oom) return;
    if (kg_grow(&w->text, &w->cap, w->len, n, 4096) != 0) {
        w->oom = 1;
        return;
    }
    memcpy(w->text + w->len, s, n);
    w->len += n;
    w->text[w->len] = '\0';
}

void jsonw_raw(struct jsonw *w, const char *s)
{
    put(w, s, strlen(s));
}

void jsonw_bytes(struct jsonw *w, const char *s, size_t n)
{
    put(w, s, n);
}

void jsonw_reserve(struct jsonw *w, size_t n)
{
    if (!w->oom && kg_grow(&w->text, &w->cap, w->len, n, n + 1) != 0) w->oom = 1;
}

void jsonw_str(struct jsonw *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    put(w, "\"", 1);
    const char *run = s; /* bytes not yet written that need no escape */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(w, run, (size_t)(s - run));
        char esc[7] = {'\\', 0};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        put(w, esc, n);
        run = s + 1;
    }
    put(w, run, (size_t)(s - run));
    put(w, "\"", 1);
}

void jsonw_time(struct jsonw *w, int64_t ms)
{
    if (!ms) {
        put(w, "null", 4);
        return;
    }
    char buf[40];
    kg_time_format(ms, buf, sizeof buf);
    jsonw_str(w, buf);
}
