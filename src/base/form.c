/*
 * form.c — urlencoded form and HTTP Basic parsing, bounded and strict.
 */
#include "form.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static kg_err decode(const char *s, size_t len, char *out, size_t size)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
                return KG_INVALID;
            ch = hi * 16 + lo;
            i += 2;
        }
        if (ch == 0) return KG_INVALID;
        if (w + 1 >= size) return KG_TOOBIG;
        out[w++] = (char)ch;
    }
    if (w >= size) return KG_TOOBIG;
    out[w] = '\0';
    return KG_OK;
}

kg_err form_decode(const char *s, size_t len, char *out, size_t size)
{
    kg_err rc = decode(s, len, out, size);
    if (rc != KG_OK && size) out[0] = '\0'; /* never a half-decoded or unterminated value */
    return rc;
}

kg_err form_parse(const char *body, size_t len, struct form *f)
{
    memset(f, 0, sizeof *f);
    f->cap = len + 2 * KG_FORM_PAIRS_MAX + 1;
    if (!(f->buf = malloc(f->cap))) return KG_ENOMEM;
    char *w = f->buf;
    const char *p = body, *end = body + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) { /* empty pieces ("a=1&&b=2") are skipped */
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            const char *name_end = eq ? eq : stop;
            const char *val = eq ? eq + 1 : stop;
            if (f->n == KG_FORM_PAIRS_MAX) return KG_INVALID;
            size_t nl = (size_t)(name_end - p), vl = (size_t)(stop - val);
            if (form_decode(p, nl, w, nl + 1) != KG_OK) return KG_INVALID;
            f->names[f->n] = w;
            w += strlen(w) + 1;
            if (form_decode(val, vl, w, vl + 1) != KG_OK) return KG_INVALID;
            f->values[f->n] = w;
            w += strlen(w) + 1;
            for (size_t i = 0; i < f->n; i++)
                if (strcmp(f->names[i], f->names[f->n]) == 0) return KG_CONFLICT;
            f->n++;
        }
        p = amp ? amp + 1 : end;
    }
    return KG_OK;
}

void form_cleanup(struct form *f)
{
    if (f->buf) {
        sodium_memzero(f->buf, f->cap); /* values may hold a secret */
        free(f->buf);
    }
    memset(f, 0, sizeof *f);
}

const char *form_get(const struct form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0) return f->values[i];
    return NULL;
}

kg_err form_basic(const char *header, char *id, size_t id_size, char *secret, size_t secret_size)
{
    char raw[512];
    size_t n = 0;
    kg_err rc = KG_INVALID;
    if (strncasecmp(header, "Basic ", 6) != 0) return KG_INVALID;
    const char *b = header + 6;
    while (*b == ' ')
        b++;
    size_t bl = strlen(b);
    while (bl && b[bl - 1] == ' ')
        bl--;
    if (bl == 0) return KG_INVALID;
    if (bl > 4 * (sizeof raw - 1) / 3) return KG_TOOBIG;
    if (sodium_base642bin((unsigned char *)raw, sizeof raw - 1, b, bl, NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return KG_INVALID;
    raw[n] = '\0';
    char *colon = memchr(raw, ':', n);
    if (colon && !memchr(raw, '\0', n)) {
        rc = form_decode(raw, (size_t)(colon - raw), id, id_size);
        if (rc == KG_OK)
            rc = form_decode(colon + 1, n - (size_t)(colon + 1 - raw), secret, secret_size);
    }
    sodium_memzero(raw, sizeof raw);
    return rc;
}
