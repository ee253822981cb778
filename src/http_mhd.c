/*
 * http_mhd.c — libmicrohttpd adapter: epoll with a thread pool, bounded bodies, one handler.
 *
 * Layout: listen-address parsing, per-connection state and the access callback, replies,
 * server start/stop.
 */
#include "http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct http_server {
    struct MHD_Daemon *d;
    http_handler handler;
    void *ctx;
    size_t body_max;
};

struct conn_state {
    char *body;
    size_t len, cap;
    int too_big;
    int answered; /* the handler already ran (an early 413) */
};

/* Each connection's libmicrohttpd memory pool: the request line and headers must fit in it
 * (with room past KG_HEADERS_MAX, so that over-long headers get keygate's JSON 431; far
 * longer ones get libmicrohttpd's own).  No bigger than that: libmicrohttpd zeroes the whole
 * pool after every request, which at 256 KiB cost a /gate call about a sixth of its
 * throughput (0.67x nginx against 0.80x at 128 KiB and 0.88x at 32 KiB, same run). */
#ifndef KG_CONN_MEMORY
#define KG_CONN_MEMORY (128 * 1024)
#endif

static atomic_ulong next_id;

kg_err http_parse_listen(const char *listen, char *host, size_t host_size, unsigned *port)
{
    const char *colon, *h = listen;
    size_t hl;
    if (listen[0] == '[') {
        const char *close = strchr(listen, ']');
        if (!close || close[1] != ':') return KG_INVALID;
        h = listen + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(listen, ':');
        if (!colon) return KG_INVALID;
        hl = (size_t)(colon - listen);
    }
    int64_t p;
    if (hl == 0 || hl >= host_size || kg_parse_int64(colon + 1, 0, 65535, &p) != KG_OK)
        return KG_INVALID;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (unsigned)p;
    return KG_OK;
}

const char *http_header(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->impl, MHD_HEADER_KIND, name);
}

const char *http_cookie(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->impl, MHD_COOKIE_KIND, name);
}

const char *http_query(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->impl, MHD_GET_ARGUMENT_KIND, name);
}

void http_reply(struct http_req *req, int status, const char *content_type, const char *body,
                size_t len, const char *const *headers)
{
    if (req->replied) return;
    req->replied = 1;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return;
    if (content_type) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    /* On every response: the pane's pages are only ever same-origin and never framed. */
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                            "base-uri 'none'; form-action 'self'");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(r, headers[i], headers[i + 1]);
    if (MHD_queue_response(req->impl, (unsigned)status, r) != MHD_YES)
        KG_LOG_REQ(LOG_WARNING, req->id, "could not queue response %d", status);
    MHD_destroy_response(r);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes the path and query values in place, as libmicrohttpd would, except that
 * "%00" stays as it is: a decoded NUL would silently cut a path or value short (so that
 * "/apiToken/X%00junk" would read as "/apiToken/X"); left encoded, it matches no route and
 * fails every strict parser. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    char *r = s, *w = s;
    while (*r) {
        int hi, lo;
        if (r[0] == '%' && (hi = hexval(r[1])) >= 0 && (lo = hexval(r[2])) >= 0 && (hi | lo)) {
            *w++ = (char)(hi * 16 + lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* Adds up the request's header bytes (MHD_KeyValueIterator). */
static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

static void dispatch(struct http_server *s, struct MHD_Connection *conn, const char *url,
                     const char *method, struct conn_state *cs)
{
    struct http_req req = {.id = atomic_fetch_add(&next_id, 1) + 1,
                           .method = method,
                           .path = url,
                           .body = cs->body ? cs->body : "",
                           .body_len = cs->len,
                           .body_too_big = cs->too_big,
                           .impl = conn};
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, req.peer,
                      sizeof req.peer);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                      req.peer, sizeof req.peer);
    }
    s->handler(&req, s->ctx);
    if (!req.replied) {
        static const char msg[] = "{\"code\":500,\"message\":\"no response\",\"status\":\"INTERNAL\"}";
        char path[160];
        kg_log_clean(url, path, sizeof path);
        KG_LOG_REQ(LOG_ERR, req.id, "%s %s: handler sent no response", method, path);
        http_reply(&req, 500, "application/json", msg, sizeof msg - 1, NULL);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    struct http_server *s = cls;
    struct conn_state *cs = *con_cls;
    if (!cs) {
        if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
        *con_cls = cs;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        int64_t n;
        size_t header_bytes = strlen(url);
        MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &header_bytes);
        if (header_bytes > KG_HEADERS_MAX) {
            static const char msg[] = "{\"code\":431,\"message\":\"the request headers are too "
                                      "large\",\"status\":\"INVALID_ARGUMENT\"}";
            struct http_req req = {.method = method, .path = url, .impl = conn};
            cs->answered = 1;
            http_reply(&req, 431, "application/json", msg, sizeof msg - 1, NULL);
            return MHD_YES;
        }
        if (cl && kg_parse_int64(cl, 0, INT64_MAX, &n) == KG_OK && (uint64_t)n > s->body_max) {
            cs->too_big = 1; /* answer now; the body is never read */
            cs->answered = 1;
            dispatch(s, conn, url, method, cs);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (cs->too_big || cs->len + n > s->body_max) {
            cs->too_big = 1;
            return MHD_YES; /* discard the rest */
        }
        if (cs->len + n + 1 > cs->cap) {
            size_t cap = cs->cap ? cs->cap : 1024;
            while (cap < cs->len + n + 1) cap *= 2;
            char *b = realloc(cs->body, cap);
            if (!b) return MHD_NO;
            cs->body = b;
            cs->cap = cap;
        }
        memcpy(cs->body + cs->len, upload_data, n);
        cs->len += n;
        cs->body[cs->len] = '\0';
        return MHD_YES;
    }
    if (!cs->answered) {
        cs->answered = 1;
        dispatch(s, conn, url, method, cs);
    }
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    struct conn_state *cs = *con_cls;
    if (cs) {
        if (cs->body) explicit_bzero(cs->body, cs->cap); /* a body may hold a client secret */
        free(cs->body);
        free(cs);
        *con_cls = NULL;
    }
}

kg_err http_server_start(const struct http_config *cfg, http_handler h, void *ctx,
                         struct http_server **out)
{
    char host[64];
    unsigned port;
    if (http_parse_listen(cfg->listen, host, sizeof host, &port) != KG_OK) return KG_INVALID;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ERROR_LOG;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        return KG_INVALID;
    }
    struct http_server *s = calloc(1, sizeof *s);
    if (!s) return KG_ENOMEM;
    s->handler = h;
    s->ctx = ctx;
    s->body_max = cfg->body_max;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cfg->threads ? cfg->threads : (unsigned)(cores > 0 ? cores : 1);
    s->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_THREAD_POOL_SIZE, threads,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)KG_CONN_MEMORY,
                            MHD_OPTION_CONNECTION_LIMIT, 4096u,
                            MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                            MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!s->d) {
        free(s);
        return KG_IO;
    }
    *out = s;
    return KG_OK;
}

void http_server_free(struct http_server *s)
{
    if (!s) return;
    MHD_stop_daemon(s->d);
    free(s);
}
