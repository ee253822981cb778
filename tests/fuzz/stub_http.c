/*
 * stub_http.c — the in-memory http.h of the fuzz drivers (see stub_http.h).
 *
 * Layout: filling a request, parsing one written as text, the http.h functions.
 */
#include "stub_http.h"

#include <string.h>
#include <strings.h>

/* ---- filling a request ---------------------------------------------------------------- */

void stub_req_init(struct stub_req *s, struct http_req *req)
{
    memset(s, 0, sizeof *s);
    memset(req, 0, sizeof *req);
    req->method = "GET";
    req->path = "/";
    req->body = "";
    memcpy(req->peer, "127.0.0.1", sizeof "127.0.0.1");
    req->impl = s;
}

static char *trim(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        p[--n] = '\0';
    return p;
}

/* Splits "a=1; b=2" in place into cookies. */
static void split_cookies(struct stub_req *s, char *v)
{
    while (v && *v && s->ncookies < STUB_PAIRS_MAX) {
        char *semi = strchr(v, ';');
        if (semi) *semi = '\0';
        char *pair = trim(v), *eq = strchr(pair, '=');
        if (eq && eq > pair) {
            *eq = '\0';
            s->cookies[s->ncookies].name = pair;
            s->cookies[s->ncookies++].value = eq + 1;
        }
        v = semi ? semi + 1 : NULL;
    }
}

int stub_add_header(struct stub_req *s, const char *name, char *value)
{
    if (s->nheaders == STUB_PAIRS_MAX) return -1;
    s->headers[s->nheaders].name = name;
    s->headers[s->nheaders++].value = value;
    /* The split, in place, cuts the header's own value short: no keygate code reads it. */
    if (strcasecmp(name, "Cookie") == 0) split_cookies(s, value);
    return 0;
}

void stub_set_query(struct stub_req *s, char *q)
{
    while (q && s->nquery < STUB_PAIRS_MAX) {
        char *amp = strchr(q, '&');
        if (amp) *amp = '\0';
        if (*q) {
            char *eq = strchr(q, '=');
            if (eq) *eq = '\0';
            s->query[s->nquery].name = q;
            s->query[s->nquery++].value = eq ? eq + 1 : "";
        }
        q = amp ? amp + 1 : NULL;
    }
}

/* ---- a request written as text --------------------------------------------------------- */

/* The line starting at *p (cut at its LF, CR dropped); *p moves past it.  NULL at the end. */
static char *next_line(char **p, char *end)
{
    if (*p >= end) return NULL;
    char *line = *p, *lf = memchr(line, '\n', (size_t)(end - line));
    char *stop = lf ? lf : end;
    *p = lf ? lf + 1 : end;
    *stop = '\0';
    if (stop > line && stop[-1] == '\r') stop[-1] = '\0';
    return line;
}

int stub_req_parse(struct stub_req *s, struct http_req *req, char *text, size_t len)
{
    char *p = text, *end = text + len;
    text[len] = '\0';
    char *line = next_line(&p, end);
    if (!line) return -1;
    char *sp = strchr(line, ' ');
    if (!sp || sp == line) return -1;
    *sp = '\0';
    req->method = line;
    char *path = sp + 1, *flag = strchr(path, ' ');
    if (flag) {
        *flag++ = '\0';
        req->body_too_big = strcmp(flag, "TOOBIG") == 0;
    }
    char *q = strchr(path, '?');
    if (q) {
        *q = '\0';
        stub_set_query(s, q + 1);
    }
    req->path = path;
    while ((line = next_line(&p, end)) != NULL && *line) {
        char *colon = strchr(line, ':');
        if (!colon || colon == line) return -1;
        *colon = '\0';
        stub_add_header(s, line, trim(colon + 1));
    }
    /* The body: the rest of the bytes, as the adapter would copy them (NUL-terminated). */
    req->body = p < end ? p : "";
    req->body_len = p < end ? (size_t)(end - p) : 0;
    return 0;
}

/* ---- http.h --------------------------------------------------------------------------- */

static const char *lookup(const struct stub_pair *pairs, size_t n, const char *name, int nocase)
{
    for (size_t i = 0; i < n; i++)
        if ((nocase ? strcasecmp(pairs[i].name, name) : strcmp(pairs[i].name, name)) == 0)
            return pairs[i].value;
    return NULL;
}

const char *http_header(const struct http_req *req, const char *name)
{
    const struct stub_req *s = req->impl;
    return lookup(s->headers, s->nheaders, name, 1);
}

const char *http_header_nth(const struct http_req *req, const char *name, size_t n)
{
    const struct stub_req *s = req->impl;
    for (size_t i = 0; i < s->nheaders; i++)
        if (strcasecmp(s->headers[i].name, name) == 0 && n-- == 0) return s->headers[i].value;
    return NULL;
}

const char *http_cookie(const struct http_req *req, const char *name)
{
    const struct stub_req *s = req->impl;
    return lookup(s->cookies, s->ncookies, name, 0);
}

const char *http_query(const struct http_req *req, const char *name)
{
    const struct stub_req *s = req->impl;
    return lookup(s->query, s->nquery, name, 0);
}

void http_reply(struct http_req *req, int status, const char *content_type, const char *body,
                size_t len, const char *const *headers)
{
    struct stub_req *s = req->impl;
    (void)content_type;
    s->replies++;
    if (req->replied) return;
    req->replied = 1;
    s->status = status;
    s->body_len = len;
    /* Read what the real adapter would copy, so that ASan sees a bad pointer or length. */
    volatile unsigned char sink = 0;
    for (size_t i = 0; i < len; i++)
        sink ^= (unsigned char)body[i];
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        sink ^= (unsigned char)(strlen(headers[i]) + strlen(headers[i + 1]));
    (void)sink;
}

/* The drivers never listen. */
kg_err http_server_start(const struct http_config *cfg, http_handler h, void *ctx,
                         struct http_server **out)
{
    (void)cfg, (void)h, (void)ctx;
    *out = NULL;
    return KG_INTERNAL;
}

void http_server_free(struct http_server *s)
{
    (void)s;
}
