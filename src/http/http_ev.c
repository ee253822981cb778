/*
 * http_ev.c — the HTTP/1.x adapter: an epoll event loop of its own and nodejs's http-parser
 * (libhttp-parser, 2.9.4 on Debian 12) for the request framing.
 *
 * Threads: N workers (one per core by default), each with its own epoll set, share one
 * listening socket (EPOLLEXCLUSIVE: one worker is woken per new connection).  A connection
 * stays with the worker that accepted it; the handler runs on that worker, so nothing on the
 * request path is shared between threads but the request counter of the worker itself.
 * Shared state is touched only when a connection opens or closes: the connection count (an
 * atomic) and the per-address counts (a hash table under a mutex).
 *
 * Framing (RFC 9112): http-parser refuses Content-Length together with Transfer-Encoding,
 * a second Content-Length, and a Transfer-Encoding whose last coding is not chunked; this
 * file also refuses any Transfer-Encoding but a single plain "chunked" (501), an HTTP
 * version other than 1.x (505), HTTP/1.1 without Host, and headers past KG_HEADERS_MAX
 * (431).  Every such answer is JSON (the OAuth form under /oauth/) with the headers every
 * answer carries, and the connection is closed after it: nothing after a refused request
 * is read as another request.
 *
 * Deadlines, checked by each worker every TICK_MS over its own connections:
 * - the request headers must be complete header_timeout seconds after the request's first
 *   byte (for the first request of a connection: after accept), however the bytes trickle;
 *   past it the connection is closed without an answer (the client is not reading one);
 * - a body must keep to min_body_rate bytes a second, measured from the end of the headers
 *   after BODY_GRACE_MS; below it the connection is closed;
 * - idle_timeout seconds of silence between requests, or of a response not being read.
 *
 * Layout: limits, state; per-address counts; listen-address parsing; request accessors;
 * replies and error answers; the parser callbacks and dispatch; reading, writing, closing;
 * the worker loop; server start/stop.
 */
#include "http.h"
#include "http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <http_parser.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Built-in limits (struct http_config; 0 there picks these).  See the README's "Connection
 * limits": a connection flood from one address takes at most a quarter of the slots, and a
 * slow client holds one only until its deadline. */
#ifndef KG_MAX_CONNS
#define KG_MAX_CONNS 4096u
#endif
#define KG_HEADER_TIMEOUT 10u
#define KG_IDLE_TIMEOUT 30u
#define KG_MIN_BODY_RATE 1024u /* bytes a second */
#define KG_BACKLOG 1024u       /* connections the kernel holds while every slot is taken */

#define BODY_GRACE_MS 2000      /* a body's first bytes may take this long */
#define TICK_MS 250             /* how often a worker checks its deadlines */
#define LINGER_MS 2000          /* after a closing answer: read and drop what still comes */
#define LINGER_BYTES (1u << 20) /* ... at most this much, then close */
#define IN_FIRST 4096u          /* a connection's first input buffer */
#define IN_MAX (KG_HEADERS_MAX + 16384u) /* headers plus one read of what follows */
#define OUT_HIGH (256u * 1024)           /* answers queued unread: stop reading requests */
#define MAX_HEADERS 128                  /* header fields in one request; more: 431 */
#define MAX_QUERY 32                     /* query parameters; more are refused as "repeated" */
#define MAX_COOKIES 32
#define ACCEPT_BATCH 4 /* accepts per wake-up, so the other workers get some */
#define CONN_CACHE 64  /* freed connections a worker keeps for reuse */

enum cstate {
    C_WAIT,   /* between requests: no byte of the next one yet (idle deadline) */
    C_HEAD,   /* the request line and headers are coming (header deadline) */
    C_BODY,   /* the body is coming (minimum rate) */
    C_LINGER, /* the last answer is sent and our side shut: dropping input until EOF */
};

struct hdr {
    uint32_t name, name_len, val, val_len; /* offsets into conn.in */
};

struct worker;

struct conn {
    struct conn *prev, *next; /* the worker's list of open connections */
    struct worker *w;
    int fd;
    enum cstate state;
    int64_t deadline; /* CLOCK_MONOTONIC ms */
    unsigned events;  /* what epoll watches: EPOLLIN, EPOLLOUT */
    int counted_ip;   /* counted in the per-address table */
    unsigned char addr_key[17];
    char peer[64];

    /* input; the current request starts at in[0] */
    char *in;
    size_t in_len, in_cap, in_parsed;
    size_t keep_end; /* end of the header bytes that must stay (offsets point into them) */
    http_parser p;

    /* the current request */
    uint32_t url, url_len;
    int have_url, headers_done, msg_done, in_value;
    unsigned nh;
    struct hdr h[MAX_HEADERS];
    int bad_status; /* refused by a callback: the status to answer */
    const char *bad_msg;
    int too_big, keep_alive, is_head, http10;
    int64_t body_t0;
    char *body;
    size_t body_len, body_cap;
    unsigned nq;
    const char *qk[MAX_QUERY], *qv[MAX_QUERY];
    int cookies_parsed;
    unsigned nc;
    const char *ck[MAX_COOKIES], *cv[MAX_COOKIES];
    char *cookie_buf;
    size_t cookie_cap;

    /* output */
    char *out;
    size_t out_len, out_off, out_cap;
    int close_after; /* shut down once `out` is written */
    int peer_eof;    /* the client shut its sending side: watch for writing only */
    size_t linger_bytes;
};

struct iptab;

struct http_server {
    http_handler handler;
    void *ctx;
    size_t body_max;
    unsigned header_timeout, idle_timeout, min_body_rate; /* seconds; bytes a second */
    unsigned max_conns, per_ip, threads;
    int hsts;
    int (*peer_trusted)(const struct sockaddr *sa, void *ctx);
    void *peer_trusted_ctx;
    int lfd, stopfd;
    atomic_uint nconns;
    atomic_int stop;
    struct iptab *ips; /* NULL: no per-address limit */
    struct worker *workers;
};

struct worker {
    struct http_server *s;
    pthread_t thread;
    int started;
    int ep;
    unsigned idx;
    int listening;
    struct conn head; /* list sentinel */
    struct conn *cache;
    unsigned ncache;
    unsigned long seq;
    int64_t now, next_tick;
    time_t date_sec;
    char date[40]; /* "Sun, 06 Nov 1994 08:49:37 GMT" */
};

static http_parser_settings parser_settings; /* the callbacks; set by http_server_start */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- per-address counts ------------------------------------------------------------------ */

struct ipent {
    struct ipent *next;
    unsigned char key[17];
    unsigned count;
};

struct iptab {
    pthread_mutex_t mu;
    struct ipent **bucket;
    unsigned mask;
    uint64_t seed;
    struct ipent *pool, *free; /* one entry per connection at most */
};

static struct iptab *iptab_new(unsigned max_conns)
{
    struct iptab *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    unsigned n = 64;
    while (n < max_conns && n < (1u << 30))
        n <<= 1;
    t->bucket = calloc(n, sizeof *t->bucket);
    t->pool = calloc(max_conns, sizeof *t->pool);
    if (!t->bucket || !t->pool) {
        free(t->bucket);
        free(t->pool);
        free(t);
        return NULL;
    }
    t->mask = n - 1;
    for (unsigned i = 0; i < max_conns; i++) {
        t->pool[i].next = t->free;
        t->free = &t->pool[i];
    }
    if (getrandom(&t->seed, sizeof t->seed, 0) != (ssize_t)sizeof t->seed)
        t->seed = (uint64_t)mono_ms() * 0x9E3779B97F4A7C15ull;
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

static void iptab_free(struct iptab *t)
{
    if (!t) return;
    pthread_mutex_destroy(&t->mu);
    free(t->bucket);
    free(t->pool);
    free(t);
}

static unsigned iphash(const struct iptab *t, const unsigned char *k)
{
    uint64_t h = t->seed ^ 0xcbf29ce484222325ull;
    for (int i = 0; i < 17; i++)
        h = (h ^ k[i]) * 0x100000001b3ull;
    return (unsigned)(h ^ (h >> 29)) & t->mask;
}

/* Counts one more connection from `key`; 0 when that would pass `limit`. */
static int iptab_take(struct iptab *t, const unsigned char *key, unsigned limit)
{
    int ok = 0;
    pthread_mutex_lock(&t->mu);
    struct ipent **b = &t->bucket[iphash(t, key)], *e = *b;
    while (e && memcmp(e->key, key, 17) != 0)
        e = e->next;
    if (e) {
        if (e->count < limit) e->count++, ok = 1;
    } else if (t->free) {
        e = t->free;
        t->free = e->next;
        memcpy(e->key, key, 17);
        e->count = 1;
        e->next = *b;
        *b = e;
        ok = 1;
    }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

static void iptab_release(struct iptab *t, const unsigned char *key)
{
    pthread_mutex_lock(&t->mu);
    struct ipent **pp = &t->bucket[iphash(t, key)];
    while (*pp && memcmp((*pp)->key, key, 17) != 0)
        pp = &(*pp)->next;
    struct ipent *e = *pp;
    if (e && --e->count == 0) {
        *pp = e->next;
        e->next = t->free;
        t->free = e;
    }
    pthread_mutex_unlock(&t->mu);
}

/* ---- listen address ------------------------------------------------------------------------ */

/* ---- request accessors --------------------------------------------------------------------- */

const char *http_header(const struct http_req *req, const char *name)
{
    return http_header_nth(req, name, 0);
}

const char *http_header_nth(const struct http_req *req, const char *name, size_t n)
{
    const struct conn *c = req->impl;
    size_t len = strlen(name); /* names of another length are not compared */
    for (unsigned i = 0; i < c->nh; i++)
        if (c->h[i].name_len == len && strcasecmp(c->in + c->h[i].name, name) == 0 && n-- == 0)
            return c->in + c->h[i].val;
    return NULL;
}

/* Splits the Cookie header(s) into name, value pairs in cookie_buf ("a=1; b=\"2\""). */
static void parse_cookies(struct conn *c)
{
    c->cookies_parsed = 1;
    size_t need = 1;
    for (unsigned i = 0; i < c->nh; i++)
        if (strcasecmp(c->in + c->h[i].name, "Cookie") == 0) need += c->h[i].val_len + 1;
    if (need == 1) return;
    if (need > c->cookie_cap) {
        char *b = realloc(c->cookie_buf, need);
        if (!b) return;
        c->cookie_buf = b;
        c->cookie_cap = need;
    }
    char *w = c->cookie_buf;
    for (unsigned i = 0; i < c->nh; i++) {
        if (strcasecmp(c->in + c->h[i].name, "Cookie") != 0) continue;
        memcpy(w, c->in + c->h[i].val, c->h[i].val_len);
        w += c->h[i].val_len;
        *w++ = ';';
    }
    *w = '\0';
    char *save = NULL;
    for (char *tok = strtok_r(c->cookie_buf, ";", &save); tok && c->nc < MAX_COOKIES;
         tok = strtok_r(NULL, ";", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok) continue;
        *eq = '\0';
        char *v = eq + 1, *end = v + strlen(v);
        while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        if (end - v >= 2 && v[0] == '"' && end[-1] == '"') {
            v++;
            end[-1] = '\0';
        }
        c->ck[c->nc] = tok;
        c->cv[c->nc++] = v;
    }
}

const char *http_cookie(const struct http_req *req, const char *name)
{
    struct conn *c = req->impl;
    if (!c->cookies_parsed) parse_cookies(c);
    for (unsigned i = 0; i < c->nc; i++)
        if (strcmp(c->ck[i], name) == 0) return c->cv[i];
    return NULL;
}

const char *http_query(const struct http_req *req, const char *name)
{
    const struct conn *c = req->impl;
    for (unsigned i = 0; i < c->nq; i++)
        if (strcmp(c->qk[i], name) == 0) return c->qv[i];
    return NULL;
}

/* ---- replies ------------------------------------------------------------------------------- */

static const char *reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Status";
    }
}

/* keygate's own headers (http_int.h), as one piece of text. */
#define HEADER_LINE(name, value) name ": " value "\r\n"
static const char security_headers[] = HTTP_OWN_HEADERS(HEADER_LINE);
static const char hsts_header[] = HEADER_LINE(HTTP_HSTS_NAME, HTTP_HSTS_VALUE);

static int out_reserve(struct conn *c, size_t more)
{
    if (c->out_len + more <= c->out_cap) return 0;
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + more)
        cap *= 2;
    char *b = realloc(c->out, cap);
    if (!b) return -1;
    c->out = b;
    c->out_cap = cap;
    return 0;
}

static char *put(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}
#define PUTS(p, lit) put((p), (lit), sizeof(lit) - 1)

static char *put_uint(char *p, size_t v)
{
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10));
    while (n)
        *p++ = tmp[--n];
    return p;
}

static void date_refresh(struct worker *w)
{
    time_t t = time(NULL);
    if (t == w->date_sec) return;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(w->date, sizeof w->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    w->date_sec = t;
}

static int safe_header(const char *s)
{
    return strpbrk(s, "\r\n") == NULL;
}

/* Appends a whole response to c->out. */
static void queue_response(struct conn *c, int status, const char *content_type, const char *body,
                           size_t len, const char *const *headers)
{
    struct worker *w = c->w;
    size_t extra = 0;
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        extra += strlen(headers[i]) + strlen(headers[i + 1]) + 4;
    size_t ct_len = content_type ? strlen(content_type) : 0;
    int no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    if (out_reserve(c, 512 + sizeof security_headers + ct_len + extra + len) != 0) {
        KG_LOG(LOG_ERR, "http: out of memory for a %zu-byte response", len);
        c->close_after = 1;
        return;
    }
    date_refresh(w);
    char *p = c->out + c->out_len;
    p = PUTS(p, "HTTP/1.1 ");
    p = put_uint(p, (size_t)status);
    *p++ = ' ';
    const char *r = reason(status);
    p = put(p, r, strlen(r));
    p = PUTS(p, "\r\nDate: ");
    p = put(p, w->date, strlen(w->date));
    p = PUTS(p, "\r\n");
    if (content_type && safe_header(content_type)) {
        p = PUTS(p, "Content-Type: ");
        p = put(p, content_type, ct_len);
        p = PUTS(p, "\r\n");
    }
    if (!no_body) {
        p = PUTS(p, "Content-Length: ");
        p = put_uint(p, len);
        p = PUTS(p, "\r\n");
    }
    p = put(p, security_headers, sizeof security_headers - 1);
    if (c->w->s->hsts) p = put(p, hsts_header, sizeof hsts_header - 1);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2) {
        if (!safe_header(headers[i]) || !safe_header(headers[i + 1])) continue;
        p = put(p, headers[i], strlen(headers[i]));
        p = PUTS(p, ": ");
        p = put(p, headers[i + 1], strlen(headers[i + 1]));
        p = PUTS(p, "\r\n");
    }
    if (c->close_after)
        p = PUTS(p, "Connection: close\r\n");
    else if (c->http10)
        p = PUTS(p, "Connection: keep-alive\r\n");
    p = PUTS(p, "\r\n");
    if (!no_body && !c->is_head) p = put(p, body, len);
    c->out_len = (size_t)(p - c->out);
}

void http_reply(struct http_req *req, int status, const char *content_type, const char *body,
                size_t len, const char *const *headers)
{
    if (req->replied) return;
    req->replied = 1;
    req->status = status;
    req->reply_bytes = len;
    const char *merged[HTTP_MERGED_MAX];
    queue_response(req->impl, status, content_type, body, len,
                   http_headers_merge(req, headers, merged));
}

/* Log lines about refused requests, rate-limited (http_int.h). */
static void log_refused(const struct conn *c, int status, const char *msg)
{
    static struct http_log_limit limit;
    if (LOG_INFO > kg_log_level || !http_log_limit_take(&limit, LOG_INFO, "refused requests"))
        return;
    KG_LOG(LOG_INFO, "http: %d from %s: %s", status, c->peer, msg);
}

/* Answers a request refused before it reaches the handler (JSON, the OAuth form under
 * /oauth/) and closes the connection after it. */
static void refuse(struct conn *c, int status, const char *msg)
{
    char body[320];
    int oauth = c->have_url && c->url_len >= 7 && memcmp(c->in + c->url, "/oauth/", 7) == 0;
    size_t n = http_error_body(body, sizeof body, status, msg, oauth);
    static const char *const no_store[] = {"Cache-Control", "no-store", "Pragma", "no-cache", NULL};
    log_refused(c, status, msg);
    c->close_after = 1;
    c->is_head = 0;
    queue_response(c, status, "application/json", body, n, no_store);
}

/* ---- parsing and dispatch ------------------------------------------------------------------ */

static struct conn *conn_of(http_parser *p)
{
    return p->data;
}

static int fail_cb(struct conn *c, int status, const char *msg)
{
    c->bad_status = status;
    c->bad_msg = msg;
    return -1;
}

static int on_message_begin(http_parser *p)
{
    struct conn *c = conn_of(p);
    c->have_url = c->headers_done = c->msg_done = c->in_value = 0;
    c->nh = c->nq = c->nc = 0;
    c->cookies_parsed = 0;
    c->too_big = 0;
    c->body_len = 0;
    c->keep_end = 0;
    c->bad_status = 0;
    c->keep_alive = c->is_head = c->http10 = 0;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    uint32_t off = (uint32_t)(at - c->in);
    if (!c->have_url) {
        c->url = off;
        c->url_len = (uint32_t)len;
        c->have_url = 1;
    } else if (off == c->url + c->url_len) {
        c->url_len += (uint32_t)len;
    } else {
        return fail_cb(c, 400, "the request line is malformed");
    }
    return 0;
}

static int version_ok(const http_parser *p)
{
    return p->http_major == 1;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    if (c->headers_done) return 0; /* a chunked body's trailer: ignored */
    if (!version_ok(p)) return fail_cb(c, 505, "the HTTP version is not supported");
    uint32_t off = (uint32_t)(at - c->in);
    if (c->nh && !c->in_value && off == c->h[c->nh - 1].name + c->h[c->nh - 1].name_len) {
        c->h[c->nh - 1].name_len += (uint32_t)len; /* the same name, split across reads */
        return 0;
    }
    if (c->nh == MAX_HEADERS) return fail_cb(c, 431, "the request has too many header fields");
    c->h[c->nh++] = (struct hdr){off, (uint32_t)len, 0, 0};
    c->in_value = 0;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    if (c->headers_done) return 0;
    if (!c->nh) return fail_cb(c, 400, "the request headers are malformed");
    struct hdr *h = &c->h[c->nh - 1];
    uint32_t off = (uint32_t)(at - c->in);
    if (!c->in_value) {
        h->val = off;
        h->val_len = (uint32_t)len;
        c->in_value = 1;
    } else if (off == h->val + h->val_len) {
        h->val_len += (uint32_t)len;
    } else { /* obs-fold (RFC 9112 §5.2): refused */
        return fail_cb(c, 400, "folded header lines are not accepted");
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = conn_of(p);
    struct http_server *s = c->w->s;
    if (!version_ok(p)) return fail_cb(c, 505, "the HTTP version is not supported");
    if (!c->have_url) return fail_cb(c, 400, "the request line is malformed");
    /* NUL-terminate the URL and each name and value in place: the byte after each (a space,
     * ':', CR or LF) is already parsed.  An empty value points at its name's NUL. */
    size_t end = c->url + c->url_len;
    c->in[c->url + c->url_len] = '\0';
    int te = 0, te_chunked = 0, host = 0;
    for (unsigned i = 0; i < c->nh; i++) {
        struct hdr *h = &c->h[i];
        c->in[h->name + h->name_len] = '\0';
        if (h->val_len == 0) h->val = h->name + h->name_len;
        while (h->val_len &&
               (c->in[h->val + h->val_len - 1] == ' ' || c->in[h->val + h->val_len - 1] == '\t'))
            h->val_len--;
        c->in[h->val + h->val_len] = '\0';
        size_t e = (size_t)h->val + h->val_len + 1;
        if (e > end) end = e;
        const char *name = c->in + h->name;
        if (strcasecmp(name, "Transfer-Encoding") == 0) {
            te++;
            te_chunked = strcasecmp(c->in + h->val, "chunked") == 0;
        } else if (strcasecmp(name, "Host") == 0) {
            host++;
        }
    }
    c->keep_end = end;
    c->headers_done = 1;
    if (end > KG_HEADERS_MAX) return fail_cb(c, 431, "the request headers are too large");
    if (te > 1 || (te == 1 && !te_chunked))
        return fail_cb(c, 501, "only a plain chunked Transfer-Encoding is supported");
    if (te && p->http_minor == 0) /* RFC 9112 §6.1: badly framed, whatever it says */
        return fail_cb(c, 400, "an HTTP/1.0 request cannot carry Transfer-Encoding");
    if (p->http_minor >= 1 && host != 1)
        return fail_cb(c, 400, "an HTTP/1.1 request needs exactly one Host header");
    c->http10 = p->http_minor == 0;
    c->keep_alive = http_should_keep_alive(p) && !p->upgrade;
    c->is_head = p->method == HTTP_HEAD;
    int chunked = (p->flags & F_CHUNKED) != 0;
    int has_body = chunked || (p->content_length > 0 && p->content_length != ULLONG_MAX);
    if (!has_body) return 0;
    if (!chunked && p->content_length > s->body_max) {
        c->too_big = 1; /* answered now; the body is never read */
        http_parser_pause(p, 1);
        return 0;
    }
    const char *expect = NULL;
    for (unsigned i = 0; i < c->nh; i++)
        if (strcasecmp(c->in + c->h[i].name, "Expect") == 0) expect = c->in + c->h[i].val;
    if (expect && !c->http10 && strcasecmp(expect, "100-continue") == 0 &&
        out_reserve(c, 32) == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        memcpy(c->out + c->out_len, cont, sizeof cont - 1);
        c->out_len += sizeof cont - 1;
    }
    c->state = C_BODY;
    c->body_t0 = c->w->now;
    c->deadline = c->w->now + BODY_GRACE_MS;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    size_t max = c->w->s->body_max;
    if (c->too_big) return 0;
    if (c->body_len + len > max) {
        c->too_big = 1; /* a chunked body past the limit: answered now, the rest dropped */
        http_parser_pause(p, 1);
        return 0;
    }
    if (c->body_len + len + 1 > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 1024;
        while (cap < c->body_len + len + 1)
            cap *= 2;
        char *b = realloc(c->body, cap);
        if (!b) return fail_cb(c, 413, "the request body is too large");
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    c->body[c->body_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = conn_of(p);
    c->msg_done = 1;
    http_parser_pause(p, 1);
    return 0;
}

/* Splits the query (after '?') into decoded names and values; flags a repeated name. */
static int parse_query(struct conn *c, char *q)
{
    int repeated = 0;
    char *save = NULL;
    for (char *pair = strtok_r(q, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (eq) *eq = '\0';
        http_unescape(pair, 1);
        if (eq) http_unescape(eq + 1, 1);
        for (unsigned i = 0; i < c->nq; i++)
            if (strcmp(c->qk[i], pair) == 0) repeated = 1;
        if (c->nq == MAX_QUERY) { /* more names than any route reads: refuse as well */
            repeated = 1;
            break;
        }
        c->qk[c->nq] = pair;
        c->qv[c->nq++] = eq ? eq + 1 : NULL;
    }
    return repeated;
}

static void dispatch(struct conn *c)
{
    struct worker *w = c->w;
    struct http_server *s = w->s;
    char *url = c->in + c->url;
    char *q = strpbrk(url, "?#");
    int repeated = 0;
    if (q) {
        char *frag = *q == '?' ? strchr(q + 1, '#') : q;
        if (frag) *frag = '\0';
        if (*q == '?') {
            *q = '\0';
            repeated = parse_query(c, q + 1);
        }
        *q = '\0';
    }
    http_unescape(url, 0);
    if (c->too_big || !c->keep_alive) c->close_after = 1;
    struct http_req req = {.id = ++w->seq * s->threads + w->idx, /* unique, no shared counter */
                           .method = http_method_str((enum http_method)c->p.method),
                           .path = url,
                           .body = c->body && !c->too_big ? c->body : "",
                           .body_len = c->too_big ? 0 : c->body_len,
                           .body_too_big = c->too_big,
                           .query_repeated = repeated,
                           .impl = c};
    memcpy(req.peer, c->peer, sizeof req.peer);
    s->handler(&req, s->ctx);
    if (!req.replied) {
        char path[160], body[96];
        size_t n = http_error_body(body, sizeof body, 500, "no response", 0);
        kg_log_clean(url, path, sizeof path);
        KG_LOG_REQ(LOG_ERR, req.id, "%s %s: handler sent no response", req.method, path);
        http_reply(&req, 500, "application/json", body, n, NULL);
    }
    if (c->body_len) explicit_bzero(c->body, c->body_len); /* a body may hold a client secret */
    c->body_len = 0;
}

/* ---- connections: reading, writing, closing ------------------------------------------------ */

static void conn_close(struct conn *c)
{
    struct worker *w = c->w;
    struct http_server *s = w->s;
    close(c->fd); /* also takes it out of the epoll set */
    c->prev->next = c->next;
    c->next->prev = c->prev;
    if (c->counted_ip) iptab_release(s->ips, c->addr_key);
    atomic_fetch_sub(&s->nconns, 1);
    /* headers and bodies may hold credentials: every byte ever read is wiped */
    if (c->in_cap) explicit_bzero(c->in, c->in_cap);
    if (c->body_cap) explicit_bzero(c->body, c->body_cap);
    if (c->cookie_cap) explicit_bzero(c->cookie_buf, c->cookie_cap);
    if (w->ncache < CONN_CACHE && c->in_cap == IN_FIRST && c->out_cap <= 8192 &&
        c->body_cap <= 8192) {
        c->next = w->cache;
        w->cache = c;
        w->ncache++;
        return;
    }
    free(c->in);
    free(c->out);
    free(c->body);
    free(c->cookie_buf);
    free(c);
}

static void set_events(struct conn *c, unsigned ev)
{
    if (c->events == ev) return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    if (epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &e) == 0) c->events = ev;
}

/* Starts the wait for the next request (keep-alive), or for a pipelined one already read. */
static void next_request(struct conn *c)
{
    struct worker *w = c->w;
    size_t rest = c->in_len - c->in_parsed;
    if (rest) memmove(c->in, c->in + c->in_parsed, rest);
    c->in_len = rest;
    c->in_parsed = 0;
    c->keep_end = 0;
    c->headers_done = c->msg_done = 0;
    c->state = rest ? C_HEAD : C_WAIT;
    c->deadline = w->now + 1000 * (int64_t)(rest ? w->s->header_timeout : w->s->idle_timeout);
}

/* Writes what is queued.  Returns -1 when the connection was closed. */
static int conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            if (c->state == C_WAIT) c->deadline = c->w->now + 1000 * (int64_t)c->w->s->idle_timeout;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* after the client's EOF, EPOLLIN would fire on every wait: a busy loop */
            set_events(c, c->peer_eof ? EPOLLOUT : EPOLLIN | EPOLLOUT);
            return 0;
        }
        conn_close(c);
        return -1;
    }
    c->out_off = c->out_len = 0;
    if (c->close_after && c->state != C_LINGER) {
        /* Shut our side and drop what the client still sends until it closes: closing at
         * once with unread input would reset the connection and could lose the answer. */
        shutdown(c->fd, SHUT_WR);
        c->state = C_LINGER;
        c->linger_bytes = 0;
        c->deadline = c->w->now + LINGER_MS;
    }
    set_events(c, EPOLLIN);
    return 0;
}

/* Parses what has been read and answers every complete request.  Returns -1 once the
 * connection is closing (an answer that closes it is queued). */
static int conn_process(struct conn *c)
{
    while (c->in_parsed < c->in_len && !c->close_after) {
        if (c->out_len - c->out_off > OUT_HIGH) return 0; /* the client is not reading */
        size_t avail = c->in_len - c->in_parsed;
        size_t n = http_parser_execute(&c->p, &parser_settings, c->in + c->in_parsed, avail);
        c->in_parsed += n;
        enum http_errno e = HTTP_PARSER_ERRNO(&c->p);
        if (e == HPE_PAUSED) {
            http_parser_pause(&c->p, 0);
            if (c->msg_done || c->too_big) {
                dispatch(c);
                if (c->close_after) return -1;
                next_request(c);
            }
            continue;
        }
        if (e != HPE_OK) {
            int status = 400;
            const char *msg = "the request is malformed";
            if (c->bad_status)
                status = c->bad_status, msg = c->bad_msg;
            else if (e == HPE_UNEXPECTED_CONTENT_LENGTH)
                msg = "the message length is ambiguous (Content-Length with Transfer-Encoding, or "
                      "twice)";
            else if (e == HPE_INVALID_CONTENT_LENGTH)
                msg = "the Content-Length is malformed";
            else if (e == HPE_INVALID_TRANSFER_ENCODING)
                status = 501, msg = "only a plain chunked Transfer-Encoding is supported";
            else if (e == HPE_INVALID_CHUNK_SIZE)
                msg = "the chunked body is malformed";
            else if (e == HPE_INVALID_VERSION)
                status = 505, msg = "the HTTP version is not supported";
            else if (e == HPE_HEADER_OVERFLOW)
                status = 431, msg = "the request headers are too large";
            else if (e == HPE_INVALID_METHOD || e == HPE_INVALID_URL)
                msg = "the request line is malformed";
            refuse(c, status, msg);
            return -1;
        }
        if (c->p.upgrade) { /* CONNECT, or an Upgrade the parser stopped at: not served */
            if (c->msg_done) {
                c->keep_alive = 0;
                dispatch(c);
            } else {
                refuse(c, 400, "the request is malformed");
            }
            return -1;
        }
    }
    if (c->close_after) return -1;
    if (c->state == C_HEAD && !c->headers_done && c->in_len > KG_HEADERS_MAX) {
        refuse(c, 431, "the request headers are too large");
        return -1;
    }
    if (c->state == C_BODY && c->in_parsed == c->in_len) /* drop the body bytes parsed */
        c->in_len = c->in_parsed = c->keep_end;
    return 0;
}

/* Writes what is queued; then, while the writes keep up, answers the requests held back
 * while answers piled up (the client sent them already: no read event will come for them). */
static void conn_drive(struct conn *c)
{
    for (;;) {
        if ((c->out_len > c->out_off || c->close_after) && conn_flush(c) != 0) return;
        if (c->out_len != 0 || c->state == C_LINGER || c->close_after || c->in_parsed >= c->in_len)
            return;
        size_t parsed = c->in_parsed;
        conn_process(c);
        if (c->in_parsed == parsed && c->out_len == 0) return; /* waits for more input */
    }
}

static void conn_readable(struct conn *c)
{
    struct worker *w = c->w;
    if (c->state == C_LINGER) {
        char drop[4096];
        ssize_t n = read(c->fd, drop, sizeof drop);
        if (n > 0 && (c->linger_bytes += (size_t)n) < LINGER_BYTES) return;
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        conn_close(c);
        return;
    }
    if (c->peer_eof || c->out_len - c->out_off > OUT_HIGH) { /* answers pile up: EPOLLOUT */
        set_events(c, EPOLLOUT);
        return;
    }
    if (c->in_len == c->in_cap) {
        size_t cap = c->in_cap * 2 < IN_MAX ? c->in_cap * 2 : IN_MAX;
        char *b = cap > c->in_cap ? realloc(c->in, cap) : NULL;
        if (!b) { /* cannot happen within the header limit, checked below */
            conn_close(c);
            return;
        }
        c->in = b;
        c->in_cap = cap;
    }
    ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        /* EOF or an error: answers already queued still go out (the client may have shut
         * only its sending side); a request cut short gets none. */
        if (n == 0 && c->out_len > c->out_off && c->state == C_WAIT) {
            c->close_after = 1;
            c->peer_eof = 1;
            conn_flush(c);
            return;
        }
        conn_close(c);
        return;
    }
    if (c->state == C_WAIT) {
        c->state = C_HEAD;
        c->deadline = w->now + 1000 * (int64_t)w->s->header_timeout;
    }
    c->in_len += (size_t)n;
    conn_process(c);
    /* The rate counts body bytes as decoded: chunk sizes and extensions buy no time. */
    if (c->state == C_BODY && w->s->min_body_rate)
        c->deadline =
            c->body_t0 + BODY_GRACE_MS + (int64_t)(c->body_len * 1000 / w->s->min_body_rate);
    conn_drive(c);
}

static void conn_writable(struct conn *c)
{
    conn_drive(c);
}

/* ---- the worker loop ----------------------------------------------------------------------- */

static void listener_watch(struct worker *w, int on)
{
    struct epoll_event e = {.events = EPOLLIN | EPOLLEXCLUSIVE, .data.ptr = &w->s->lfd};
    if (on && epoll_ctl(w->ep, EPOLL_CTL_ADD, w->s->lfd, &e) == 0) w->listening = 1;
    if (!on && epoll_ctl(w->ep, EPOLL_CTL_DEL, w->s->lfd, NULL) == 0) w->listening = 0;
}

static struct conn *conn_get(struct worker *w)
{
    struct conn *c = w->cache;
    if (c) {
        w->cache = c->next;
        w->ncache--;
        char *in = c->in, *out = c->out, *body = c->body, *cb = c->cookie_buf;
        size_t out_cap = c->out_cap, body_cap = c->body_cap, cookie_cap = c->cookie_cap;
        memset(c, 0, sizeof *c);
        c->in = in, c->in_cap = IN_FIRST;
        c->out = out, c->out_cap = out_cap;
        c->body = body, c->body_cap = body_cap;
        c->cookie_buf = cb, c->cookie_cap = cookie_cap;
        return c;
    }
    c = calloc(1, sizeof *c);
    if (!c) return NULL;
    if (!(c->in = malloc(IN_FIRST))) {
        free(c);
        return NULL;
    }
    c->in_cap = IN_FIRST;
    return c;
}

static void addr_key(const struct sockaddr_storage *ss, unsigned char key[17], char *peer,
                     size_t peer_size)
{
    memset(key, 0, 17);
    peer[0] = '\0';
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)(const void *)ss;
        key[0] = 4;
        memcpy(key + 1, &a->sin_addr, 4);
        inet_ntop(AF_INET, &a->sin_addr, peer, (socklen_t)peer_size);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)(const void *)ss;
        key[0] = 6;
        memcpy(key + 1, &a->sin6_addr, 16);
        inet_ntop(AF_INET6, &a->sin6_addr, peer, (socklen_t)peer_size);
    }
}

static void accept_some(struct worker *w)
{
    struct http_server *s = w->s;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        /* Take a slot first: at the limit, new connections wait in the listen backlog. */
        if (atomic_fetch_add(&s->nconns, 1) >= s->max_conns) {
            atomic_fetch_sub(&s->nconns, 1);
            listener_watch(w, 0);
            return;
        }
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            atomic_fetch_sub(&s->nconns, 1);
            if (errno == EMFILE || errno == ENFILE) listener_watch(w, 0); /* retried each tick */
            return;
        }
        unsigned char key[17];
        char peer[64];
        addr_key(&ss, key, peer, sizeof peer);
        int counted = 0;
        if (s->ips) {
            int trusted = s->peer_trusted &&
                          s->peer_trusted((const struct sockaddr *)&ss, s->peer_trusted_ctx) == 1;
            if (!trusted) {
                if (!iptab_take(s->ips, key, s->per_ip)) { /* over the per-address limit */
                    close(fd);
                    atomic_fetch_sub(&s->nconns, 1);
                    continue;
                }
                counted = 1;
            }
        }
        struct conn *c = conn_get(w);
        struct epoll_event e = {.events = EPOLLIN};
        if (c) e.data.ptr = c;
        if (!c || epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &e) != 0) {
            if (c) {
                free(c->in), free(c->out), free(c->body), free(c->cookie_buf);
                free(c);
            }
            close(fd);
            if (counted) iptab_release(s->ips, key);
            atomic_fetch_sub(&s->nconns, 1);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->w = w;
        c->fd = fd;
        c->events = EPOLLIN;
        c->counted_ip = counted;
        memcpy(c->addr_key, key, 17);
        memcpy(c->peer, peer, sizeof c->peer);
        c->state = C_HEAD; /* the first request's header deadline runs from accept */
        c->deadline = w->now + 1000 * (int64_t)s->header_timeout;
        http_parser_init(&c->p, HTTP_REQUEST);
        c->p.data = c;
        c->next = w->head.next;
        c->prev = &w->head;
        w->head.next->prev = c;
        w->head.next = c;
    }
}

static void sweep(struct worker *w)
{
    for (struct conn *c = w->head.next, *next; c != &w->head; c = next) {
        next = c->next;
        if (w->now >= c->deadline) conn_close(c); /* no answer: see the file comment */
    }
    if (!w->listening && atomic_load(&w->s->nconns) < w->s->max_conns) listener_watch(w, 1);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct http_server *s = w->s;
    struct epoll_event ev[64];
    w->now = mono_ms();
    w->next_tick = w->now + TICK_MS;
    while (!atomic_load(&s->stop)) {
        int timeout = (int)(w->next_tick - w->now);
        int n = epoll_wait(w->ep, ev, 64, timeout < 0 ? 0 : timeout);
        w->now = mono_ms();
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (p == &s->lfd) {
                accept_some(w);
            } else if (p == &s->stopfd) {
                break;
            } else {
                struct conn *c = p;
                if (ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP) && c->out_len > c->out_off)
                    conn_writable(c);
                else if (ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                    conn_readable(c);
                else if (ev[i].events & EPOLLOUT)
                    conn_writable(c);
            }
        }
        if (w->now >= w->next_tick) {
            sweep(w);
            w->next_tick = w->now + TICK_MS;
        } else if (!w->listening && atomic_load(&s->nconns) < s->max_conns) {
            listener_watch(w, 1);
        }
    }
    while (w->head.next != &w->head)
        conn_close(w->head.next);
    return NULL;
}

/* ---- start and stop ------------------------------------------------------------------------ */

static int listen_on(const char *host, unsigned port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        len = sizeof *v6;
    } else {
        errno = EINVAL;
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, (int)KG_BACKLOG) != 0) {
        int e = errno; /* the caller tells EADDRINUSE from the rest */
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

kg_err http_server_start(const struct http_config *cfg, http_handler h, void *ctx,
                         struct http_server **out)
{
    char host[64];
    unsigned port;
    kg_err rc = KG_IO;
    int saved_errno;
    if (http_parse_listen(cfg->listen, host, sizeof host, &port) != KG_OK) return KG_INVALID;
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) return KG_ENOMEM;
    s->lfd = s->stopfd = -1;
    s->handler = h;
    s->ctx = ctx;
    s->body_max = cfg->body_max;
    s->hsts = cfg->hsts;
    s->peer_trusted = cfg->peer_trusted;
    s->peer_trusted_ctx = cfg->peer_trusted_ctx;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    s->threads = cfg->threads ? cfg->threads : (unsigned)(cores > 0 ? cores : 1);
    s->max_conns = http_fit_conn_limit(cfg->max_conns ? cfg->max_conns : KG_MAX_CONNS, s->threads,
                                       cfg->max_conns != 0);
    if (s->max_conns < s->threads) s->max_conns = s->threads;
    s->per_ip = cfg->max_conns_per_ip ? cfg->max_conns_per_ip : s->max_conns / 4;
    if (s->per_ip == 0) s->per_ip = 1;
    if (s->per_ip > s->max_conns) s->per_ip = s->max_conns;
    s->header_timeout = cfg->header_timeout ? cfg->header_timeout : KG_HEADER_TIMEOUT;
    s->idle_timeout = cfg->idle_timeout ? cfg->idle_timeout : KG_IDLE_TIMEOUT;
    s->min_body_rate = cfg->min_body_rate ? cfg->min_body_rate : KG_MIN_BODY_RATE;

    parser_settings.on_message_begin = on_message_begin;
    parser_settings.on_url = on_url;
    parser_settings.on_header_field = on_header_field;
    parser_settings.on_header_value = on_header_value;
    parser_settings.on_headers_complete = on_headers_complete;
    parser_settings.on_body = on_body;
    parser_settings.on_message_complete = on_message_complete;

    /* A per-address limit of max_conns or more is no limit (no bookkeeping). */
    if (s->per_ip < s->max_conns && !(s->ips = iptab_new(s->max_conns))) {
        rc = KG_ENOMEM;
        goto fail;
    }
    if ((s->lfd = listen_on(host, port)) < 0) goto fail;
    if ((s->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) goto fail;
    if (!(s->workers = calloc(s->threads, sizeof *s->workers))) {
        rc = KG_ENOMEM;
        goto fail;
    }
    for (unsigned i = 0; i < s->threads; i++)
        s->workers[i].ep = -1;
    for (unsigned i = 0; i < s->threads; i++) {
        struct worker *w = &s->workers[i];
        w->s = s;
        w->idx = i;
        w->head.next = w->head.prev = &w->head;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &s->stopfd};
        if (w->ep < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, s->stopfd, &e) != 0) goto fail;
        listener_watch(w, 1);
        if (!w->listening) goto fail;
    }
    for (unsigned i = 0; i < s->threads; i++) {
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i]) != 0)
            goto fail;
        s->workers[i].started = 1;
    }
    KG_LOG(LOG_INFO,
           "http: %u threads, at most %u connections (%u from one address), "
           "header timeout %u s, idle timeout %u s, minimum body rate %u B/s",
           s->threads, s->max_conns, s->per_ip, s->header_timeout, s->idle_timeout,
           s->min_body_rate);
    *out = s;
    return KG_OK;
fail:
    saved_errno = errno; /* KG_IO: errno says why (EADDRINUSE: the address is taken) */
    http_server_free(s);
    errno = saved_errno;
    return rc;
}

void http_server_free(struct http_server *s)
{
    if (!s) return;
    atomic_store(&s->stop, 1);
    if (s->stopfd >= 0) {
        uint64_t one = 1;
        if (write(s->stopfd, &one, sizeof one) < 0)
            KG_LOG(LOG_WARNING, "http: cannot wake the workers");
    }
    for (unsigned i = 0; s->workers && i < s->threads; i++) {
        struct worker *w = &s->workers[i];
        if (w->started) pthread_join(w->thread, NULL);
        if (w->ep >= 0) close(w->ep);
        while (w->cache) {
            struct conn *c = w->cache;
            w->cache = c->next;
            free(c->in), free(c->out), free(c->body), free(c->cookie_buf);
            free(c);
        }
    }
    if (s->lfd >= 0) close(s->lfd);
    if (s->stopfd >= 0) close(s->stopfd);
    free(s->workers);
    iptab_free(s->ips);
    free(s);
}
