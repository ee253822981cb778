/*
 * policy.c — the gate's route policy (format and contracts in policy.h).
 *
 * Every distinct literal segment and method of a policy is interned at parse time: a small
 * open-addressing dictionary maps its bytes to an id.  A rule is then a method id and an
 * array of segment ids, and matching hashes each URI segment once (one dictionary probe),
 * after which trying a rule is integer compares only: no allocation, no writes to shared
 * state, no per-rule string compares.
 *
 * Ids: 0 is "not in the dictionary" (and, in a rule, ANY or `*`), 1 is the empty segment,
 * 2 and up are dictionary entries.
 *
 * Layout: character classes, error messages, the dictionary, parsing, loading, matching.
 */
#include "policy.h"
#include "privilege.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define METHOD_MAX 16 /* bytes of a method token */

#define ID_NONE 0  /* not in the dictionary; in a rule: ANY or `*` */
#define ID_EMPTY 1 /* the empty segment */

struct rule {
    uint32_t method_id; /* ID_NONE: ANY */
    uint32_t priv_off;  /* into pool, NUL-terminated */
    uint32_t seg_first; /* into seg_ids */
    uint8_t nseg;       /* segments before a final `**`, or all of them */
    uint8_t rest;       /* 1: the pattern ends in `**` */
};

struct entry {
    uint32_t hash, off; /* off: into pool */
    uint32_t len;
    uint32_t id; /* ID_NONE: a free slot */
};

struct policy {
    size_t nrules, nsegs;
    struct rule *rules;
    uint32_t *seg_ids; /* per pattern segment: ID_NONE for `*`, else the literal's id */
    struct entry *dict;
    size_t dict_cap; /* 0 or a power of two, at most half full */
    uint32_t ndict;  /* entries in dict */
    size_t max_len;  /* longest entry, so a longer URI segment is not even hashed */
    size_t max_nseg; /* most segments any rule compares */
    char *pool;
};

/* ---- limits and character classes ------------------------------------------------------ */

static int is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 pchar without '%' (checked separately): unreserved, sub-delims, ':' and '@'. */
static int is_pchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-._~!$&'()*+,;=:@", c) != NULL);
}

/* 1 when s[0..3) is one of the percent-encodings a URI may not carry: an encoded '/', '.',
 * '\\', ';' (a path parameter: "..%3B" is ".." to Tomcat), or a control byte (%00-%1F, %7F).
 * The caller guarantees three readable bytes. */
static int bad_escape(const char *s)
{
    if (s[0] != '%') return 0;
    char a = s[1], b = (char)(s[2] | 0x20); /* b in lower case when a letter */
    return (a == '2' && (b == 'f' || b == 'e')) || (a == '5' && b == 'c') ||
           (a == '3' && b == 'b') || a == '0' || a == '1' || (a == '7' && b == 'f');
}

#define URI_DECODE_MAX 4096 /* a URI holding '%' is decoded this far, no further */
#define URI_DECODE_LEVELS 4 /* "%25" nested deeper than this is refused */

static int hex_value(unsigned char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* 1 when an upstream that decodes uri[0..len) once or several times could meet what the raw
 * form may not hold: "%252F" is "%2F" after one decoding (and "/" after two), so every
 * decoding is checked again for the refused escapes, and the bytes of the first are checked
 * as UTF-8 (no overlong forms such as %C0%AF for '/', no surrogates, no control bytes).  The
 * caller has checked that every '%' in uri[0..len) starts a valid escape. */
static int hidden_escape(const char *uri, size_t len)
{
    char buf[2][URI_DECODE_MAX];
    const char *cur = uri;
    int has_pct = 0, high = 0;
    for (size_t i = 0; i < len; i++) {
        has_pct |= uri[i] == '%';
        high |= (unsigned char)uri[i] >= 0x80;
    }
    if (!has_pct) return high && !kg_utf8_text(uri, len, NULL);
    if (len > URI_DECODE_MAX) return 1;
    for (int level = 0; level <= URI_DECODE_LEVELS; level++) {
        char *out = buf[level & 1];
        size_t w = 0;
        int decoded = 0;
        for (size_t i = 0; i < len;) {
            const unsigned char *p = (const unsigned char *)cur + i;
            if (p[0] == '%' && i + 2 < len && is_hex(p[1]) && is_hex(p[2])) {
                out[w++] = (char)(hex_value(p[1]) * 16 + hex_value(p[2]));
                i += 3;
                decoded = 1;
            } else {
                out[w++] = cur[i++];
            }
        }
        if (!decoded) return 0;
        if (level == URI_DECODE_LEVELS) return 1;  /* still escapes after that many */
        if (!kg_utf8_text(out, w, NULL)) return 1; /* "%25C0%25AF" is C0 AF at level 1 */
        for (size_t k = 0; k + 2 < w; k++)
            if (out[k] == '%' && is_hex((unsigned char)out[k + 1]) &&
                is_hex((unsigned char)out[k + 2]) && bad_escape(out + k))
                return 1;
        cur = out;
        len = w;
    }
    return 1;
}

/* 1 when seg[0..len) is "." or "..", alone or followed by ";params" (Tomcat and others treat
 * "..;x" as ".."). */
static int dot_segment(const char *seg, size_t len)
{
    size_t n = 0;
    while (n < len && seg[n] != ';')
        n++;
    return (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.');
}

/* ---- error messages --------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t size, const char *fmt,
                                                          ...)
{
    if (!err || size == 0) return;
    va_list ap;
    va_start(ap, fmt);
    /* Truncation is acceptable: the message is for a human and stays NUL-terminated. */
    (void)vsnprintf(err, size, fmt, ap);
    va_end(ap);
}

/* A printable, bounded copy of a token for an error message: bytes outside '!'..'~' become
 * '?', and a long token is cut with "...". */
static void quote(char *dst, size_t size, const char *s, size_t n)
{
    const size_t keep = size - 4; /* room for "..." and the NUL */
    size_t i = 0;
    for (; i < n && i < keep; i++)
        dst[i] = (s[i] >= '!' && s[i] <= '~') ? s[i] : '?';
    if (i < n) {
        memcpy(dst + i, "...", 3);
        i += 3;
    }
    dst[i] = '\0';
}

/* ---- the dictionary ---------------------------------------------------------------------- */

static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* The id of s[0..n), or ID_NONE. */
static uint32_t dict_find(const struct policy *p, const char *s, size_t n)
{
    if (n == 0) return ID_EMPTY;
    if (n > p->max_len) return ID_NONE; /* also covers an empty dictionary */
    uint32_t h = hash_bytes(s, n);
    size_t mask = p->dict_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const struct entry *e = &p->dict[i];
        if (e->id == ID_NONE) return ID_NONE;
        if (e->hash == h && e->len == n && memcmp(p->pool + e->off, s, n) == 0) return e->id;
    }
}

struct builder {
    struct policy *p;
    size_t rules_cap, segs_cap;
    size_t pool_len, pool_cap;
};

/* arr, or arr grown to hold need elements; NULL when out of memory (arr still owned). */
static void *grow(void *arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return arr;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *a = realloc(arr, n * elem);
    if (a) *cap = n;
    return a;
}

static uint32_t pool_put(struct builder *b, const char *s, size_t n, int nul)
{
    assert(b->pool_len + n + (nul ? 1 : 0) <= b->pool_cap);
    uint32_t off = (uint32_t)b->pool_len;
    memcpy(b->p->pool + b->pool_len, s, n);
    b->pool_len += n;
    if (nul) b->p->pool[b->pool_len++] = '\0';
    return off;
}

/* The id of s[0..n), added to the dictionary when new. */
static kg_err dict_add(struct builder *b, const char *s, size_t n, uint32_t *id)
{
    struct policy *p = b->p;
    *id = dict_find(p, s, n);
    if (*id != ID_NONE) return KG_OK;
    if (2 * ((size_t)p->ndict + 1) > p->dict_cap) {
        size_t cap = p->dict_cap ? p->dict_cap * 2 : 64;
        struct entry *d = calloc(cap, sizeof *d);
        if (!d) return KG_ENOMEM;
        for (size_t k = 0; k < p->dict_cap; k++) {
            if (p->dict[k].id == ID_NONE) continue;
            size_t i = p->dict[k].hash & (cap - 1);
            while (d[i].id != ID_NONE)
                i = (i + 1) & (cap - 1);
            d[i] = p->dict[k];
        }
        free(p->dict);
        p->dict = d;
        p->dict_cap = cap;
    }
    uint32_t h = hash_bytes(s, n);
    size_t i = h & (p->dict_cap - 1);
    while (p->dict[i].id != ID_NONE)
        i = (i + 1) & (p->dict_cap - 1);
    p->dict[i] = (struct entry){h, pool_put(b, s, n, 0), (uint32_t)n, p->ndict + 2};
    p->ndict++;
    if (n > p->max_len) p->max_len = n;
    *id = p->dict[i].id;
    return KG_OK;
}

/* ---- parsing ---------------------------------------------------------------------------- */

/* Checks pattern[0..n) and appends its segments; on a bad pattern writes the message. */
static kg_err add_pattern(struct builder *b, struct rule *r, const char *pat, size_t n,
                          unsigned long line, char *err, size_t err_size)
{
    char q[48];
    quote(q, sizeof q, pat, n);
    if (pat[0] != '/') {
        set_err(err, err_size, "line %lu: path pattern must start with '/': '%s'", line, q);
        return KG_INVALID;
    }
    if (hidden_escape(pat, n)) { /* no URI could match it: policy_match refuses them all */
        set_err(err, err_size,
                "line %lu: pattern never matches: once decoded it holds a refused escape or "
                "bytes that are not UTF-8: '%s'",
                line, q);
        return KG_INVALID;
    }
    r->seg_first = (uint32_t)b->p->nsegs;
    r->nseg = 0;
    r->rest = 0;
    size_t count = 0;
    for (size_t start = 1; start <= n;) {
        size_t end = start;
        while (end < n && pat[end] != '/')
            end++;
        const char *s = pat + start;
        size_t sl = end - start;
        if (++count > POLICY_SEGMENTS_MAX) {
            set_err(err, err_size, "line %lu: pattern has more than %d segments", line,
                    POLICY_SEGMENTS_MAX);
            return KG_TOOBIG;
        }
        if (r->rest) {
            set_err(err, err_size, "line %lu: '**' must be the last segment: '%s'", line, q);
            return KG_INVALID;
        }
        if (sl == 0 && end < n) {
            set_err(err, err_size, "line %lu: empty segment ('//') in pattern '%s'", line, q);
            return KG_INVALID;
        }
        if (dot_segment(s, sl)) {
            set_err(err, err_size, "line %lu: '.' or '..' segment in pattern '%s'", line, q);
            return KG_INVALID;
        }
        if (sl == 2 && s[0] == '*' && s[1] == '*') {
            r->rest = 1;
        } else {
            for (size_t i = 0; i < sl; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '*' && sl != 1) {
                    set_err(err, err_size,
                            "line %lu: '*' must be a whole segment ('*' or '**'): '%s'", line, q);
                    return KG_INVALID;
                }
                if (c == '%') {
                    if (i + 2 >= sl || !is_hex((unsigned char)s[i + 1]) ||
                        !is_hex((unsigned char)s[i + 2])) {
                        set_err(err, err_size, "line %lu: bad '%%' escape in pattern '%s'", line,
                                q);
                        return KG_INVALID;
                    }
                    if (bad_escape(s + i)) {
                        set_err(
                            err, err_size,
                            "line %lu: %%2F, %%2E, %%5C, %%3B and control bytes never match: '%s'",
                            line, q);
                        return KG_INVALID;
                    }
                    continue;
                }
                if (!is_pchar(c)) {
                    set_err(err, err_size, "line %lu: character not allowed in pattern '%s'", line,
                            q);
                    return KG_INVALID;
                }
            }
            uint32_t *ids = grow(b->p->seg_ids, &b->segs_cap, b->p->nsegs + 1, sizeof *ids);
            if (!ids) return KG_ENOMEM;
            b->p->seg_ids = ids;
            uint32_t id = ID_NONE; /* `*` */
            if (!(sl == 1 && s[0] == '*')) {
                kg_err rc = dict_add(b, s, sl, &id);
                if (rc != KG_OK) return rc;
            }
            b->p->seg_ids[b->p->nsegs++] = id;
            r->nseg++;
        }
        start = end + 1;
    }
    return KG_OK;
}

/* Parses one line (without its terminator).  Appends a rule unless it is blank/comment. */
static kg_err parse_line(struct builder *b, const char *s, size_t n, unsigned long line, char *err,
                         size_t err_size)
{
    const char *hash = memchr(s, '#', n);
    if (hash) n = (size_t)(hash - s);

    const char *tok[4];
    size_t tlen[4], ntok = 0;
    for (size_t i = 0; i < n && ntok < 4;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i == n) break;
        size_t st = i;
        while (i < n && s[i] != ' ' && s[i] != '\t')
            i++;
        tok[ntok] = s + st;
        tlen[ntok++] = i - st;
    }
    if (ntok == 0) return KG_OK;

    char q[48];
    static const char *const missing[] = {NULL, "path pattern", "privilege"};
    if (ntok < 3) {
        set_err(err, err_size, "line %lu: missing %s (want METHOD PATH-PATTERN PRIVILEGE)", line,
                missing[ntok]);
        return KG_INVALID;
    }
    if (ntok > 3) {
        quote(q, sizeof q, tok[3], tlen[3]);
        set_err(err, err_size, "line %lu: unexpected '%s' after the privilege", line, q);
        return KG_INVALID;
    }

    int method_ok = tlen[0] >= 1 && tlen[0] <= METHOD_MAX;
    for (size_t i = 0; method_ok && i < tlen[0]; i++)
        method_ok = is_upper((unsigned char)tok[0][i]);
    if (!method_ok) {
        quote(q, sizeof q, tok[0], tlen[0]);
        set_err(err, err_size, "line %lu: bad method '%s' (want [A-Z]{1,16} or ANY)", line, q);
        return KG_INVALID;
    }
    if (b->p->nrules >= POLICY_RULES_MAX) {
        set_err(err, err_size, "line %lu: more than %d rules", line, POLICY_RULES_MAX);
        return KG_TOOBIG;
    }
    struct rule r;
    memset(&r, 0, sizeof r);
    kg_err rc = add_pattern(b, &r, tok[1], tlen[1], line, err, err_size);
    if (rc != KG_OK) return rc; /* segments already appended die with the whole policy */
    if (!privilege_valid_n(tok[2], tlen[2])) {
        quote(q, sizeof q, tok[2], tlen[2]);
        set_err(err, err_size, "line %lu: unknown privilege '%s'", line, q);
        return KG_INVALID;
    }
    struct rule *rules = grow(b->p->rules, &b->rules_cap, b->p->nrules + 1, sizeof *b->p->rules);
    if (!rules) return KG_ENOMEM;
    b->p->rules = rules;
    int any = tlen[0] == 3 && memcmp(tok[0], "ANY", 3) == 0;
    r.method_id = ID_NONE;
    if (!any) {
        rc = dict_add(b, tok[0], tlen[0], &r.method_id);
        if (rc != KG_OK) return rc;
    }
    if (r.nseg > b->p->max_nseg) b->p->max_nseg = r.nseg;
    r.priv_off = pool_put(b, tok[2], tlen[2], 1);
    b->p->rules[b->p->nrules++] = r;
    return KG_OK;
}

kg_err policy_parse(const char *text, size_t len, struct policy **out, char *err, size_t err_size)
{
    kg_err rc = KG_OK;
    struct builder b = {0};
    *out = NULL;
    if (err && err_size > 0) err[0] = '\0';
    if (len > POLICY_FILE_MAX) {
        unsigned long line = 1;
        for (size_t i = 0; i < POLICY_FILE_MAX; i++)
            line += text[i] == '\n';
        set_err(err, err_size, "line %lu: policy is larger than %d bytes", line, POLICY_FILE_MAX);
        return KG_TOOBIG;
    }
    b.p = calloc(1, sizeof *b.p);
    /* The pool holds, per rule line, at most its method, its pattern less the '/'s and its
     * privilege plus a NUL — fewer bytes than the line, whose two separators are not kept
     * (interning only saves more) — so len + 1 bytes always suffice.  pool_put asserts it. */
    b.pool_cap = len + 1;
    if (b.p) b.p->pool = malloc(b.pool_cap);
    if (!b.p || !b.p->pool) {
        rc = KG_ENOMEM;
        goto out;
    }

    unsigned long line = 0;
    for (size_t pos = 0; pos < len;) {
        line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t n = end - pos;
        if (n > 0 && text[pos + n - 1] == '\r') n--;
        if (n > POLICY_LINE_MAX) {
            set_err(err, err_size, "line %lu: longer than %d bytes", line, POLICY_LINE_MAX);
            rc = KG_TOOBIG;
            goto out;
        }
        rc = parse_line(&b, text + pos, n, line, err, err_size);
        if (rc != KG_OK) goto out;
        pos = end + 1;
    }
    if (b.pool_len > 0) {
        char *shrunk = realloc(b.p->pool, b.pool_len);
        if (shrunk) b.p->pool = shrunk; /* else keep the larger block */
    }
    *out = b.p; /* the caller owns it now */
    b.p = NULL;

out:
    if (rc == KG_ENOMEM) set_err(err, err_size, "%s", "out of memory");
    policy_free(b.p);
    return rc;
}

/* ---- loading ---------------------------------------------------------------------------- */

kg_err policy_load(const char *path, struct policy **out, char *err, size_t err_size)
{
    kg_err rc = KG_OK;
    FILE *f = NULL;
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;

    f = fopen(path, "rb");
    if (!f) {
        set_err(err, err_size, "cannot read %s: %s", path, strerror(errno));
        rc = KG_IO;
        goto out;
    }
    /* One byte over the limit is enough for policy_parse() to report it with a line. */
    buf = malloc(POLICY_FILE_MAX + 1);
    if (!buf) {
        set_err(err, err_size, "%s", "out of memory");
        rc = KG_ENOMEM;
        goto out;
    }
    while (len < POLICY_FILE_MAX + 1) {
        size_t got = fread(buf + len, 1, POLICY_FILE_MAX + 1 - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        set_err(err, err_size, "cannot read %s: %s", path, strerror(errno));
        rc = KG_IO;
        goto out;
    }
    rc = policy_parse(buf, len, out, err, err_size);

out:
    free(buf);
    if (f) fclose(f);
    return rc;
}

void policy_free(struct policy *p)
{
    if (!p) return;
    free(p->rules);
    free(p->seg_ids);
    free(p->dict);
    free(p->pool);
    free(p);
}

size_t policy_rule_count(const struct policy *p)
{
    return p ? p->nrules : 0;
}

/* ---- matching --------------------------------------------------------------------------- */

/* Checks the path of uri and writes the dictionary ids of its first `want` segments into
 * ids[] (want <= POLICY_SEGMENTS_MAX).  Returns the total number of segments ("/" is one
 * empty segment), or 0 when the URI is refused. */
static size_t split_uri(const struct policy *p, const char *uri, uint32_t *ids, size_t want)
{
    size_t end = strcspn(uri, "?#");
    if (end == 0 || uri[0] != '/') return 0;
    size_t n = 0, start = 1;
    for (size_t i = 1;; i++) {
        if (i == end || uri[i] == '/') {
            size_t sl = i - start;
            if (sl == 0 && i != end) return 0; /* "//" before the last segment */
            if (dot_segment(uri + start, sl)) return 0;
            if (n < want) ids[n] = dict_find(p, uri + start, sl);
            n++;
            if (i == end) break;
            start = i + 1;
            continue;
        }
        unsigned char c = (unsigned char)uri[i];
        if (c == '\\' || c < 0x20 || c == 0x7f) return 0;
        if (c == '%' && (i + 2 >= end || !is_hex((unsigned char)uri[i + 1]) ||
                         !is_hex((unsigned char)uri[i + 2]) || bad_escape(uri + i)))
            return 0; /* "%zz", "%2", "%u002F": upstreams read these each their own way */
    }
    if (hidden_escape(uri, end)) return 0;
    return n;
}

const char *policy_match(const struct policy *p, const char *method, const char *uri)
{
    if (!p || !method || !uri || !method[0]) return NULL;
    uint32_t ids[POLICY_SEGMENTS_MAX];
    size_t n = split_uri(p, uri, ids, p->max_nseg);
    if (n == 0) return NULL;
    size_t mlen = strnlen(method, METHOD_MAX + 1);
    uint32_t mid = mlen > METHOD_MAX ? ID_NONE : dict_find(p, method, mlen);

    for (size_t k = 0; k < p->nrules; k++) {
        const struct rule *r = &p->rules[k];
        if (r->method_id != ID_NONE && r->method_id != mid) continue;
        /* A rule compares at most max_nseg <= POLICY_SEGMENTS_MAX segments: with more in the
         * URI only a `**` rule can match, and it reads no further than ids[nseg - 1]. */
        if (r->rest ? n < r->nseg : n != r->nseg) continue;
        /* no segments (a lone catch-all): seg_ids may never have been allocated */
        const uint32_t *want = r->nseg ? &p->seg_ids[r->seg_first] : NULL;
        size_t i = 0;
        for (; i < r->nseg; i++) {
            if (want[i] == ID_NONE ? ids[i] == ID_EMPTY : want[i] != ids[i]) break;
        }
        if (i == r->nseg) return p->pool + r->priv_off;
    }
    return NULL;
}
