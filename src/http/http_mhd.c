/*
 * http_mhd.c — libmicrohttpd adapter: epoll with a thread pool, bounded bodies, one handler,
 * connection limits and timeouts against slow-loris and connection floods.
 *
 * Layout: the limits and libmicrohttpd's log, listen-address parsing, per-connection state
 * and the access callback, replies, server start/stop.
 */
#include "http.h"
#include "http_int.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

struct http_server {
    struct MHD_Daemon *d;
    http_handler handler;
    void *ctx;
    size_t body_max;
    unsigned header_timeout, idle_timeout; /* seconds */
};

/* Strict-Transport-Security on every answer (http_config.hsts of the server started last:
 * http_reply has no way to its daemon's settings).  min_body_rate and peer_trusted are not
 * supported by this adapter. */
static atomic_int hsts;

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

/* Built-in resource limits (struct http_config; 0 there picks these).  They keep a slow-loris
 * or a connection flood from one address from shutting everyone else out:
 * - KG_MAX_CONNS: libmicrohttpd's epoll loop holds a silent or trickling connection for a
 *   socket and a little memory (its pool is touched only as far as bytes arrive), so a few
 *   thousand cost little.  Once that many are open, new ones wait in the listen backlog
 *   (KG_BACKLOG) until some close, rather than being refused.  Cut at start-up to what
 *   the open-file limit leaves room for: an accept() failing with EMFILE would be worse.
 * - per address, a quarter of that: one client (one loopback or one remote address) can hold
 *   at most a quarter of the slots, so three quarters stay for everyone else.  Far above
 *   the 64 connections `make bench` opens from 127.0.0.1; a reverse proxy in front, whose
 *   connections all come from one address, needs max_conns_per_ip = max_conns.  Over it,
 *   libmicrohttpd accepts and closes at once.
 * - KG_HEADER_TIMEOUT: a client that has connected but not yet sent its request headers is
 *   dropped after 10 s of silence (any byte restarts the clock: libmicrohttpd 0.9.75 has
 *   only inactivity timeouts), instead of holding its slot for the full idle timeout.  Real
 *   clients send the request line and headers in one write.
 * - KG_IDLE_TIMEOUT: 30 s of silence once the headers are in: a body stalled between
 *   writes, a response the client stops reading, an idle keep-alive connection (a proxy
 *   that keeps upstream connections open reuses them well within 30 s). */
#ifndef KG_MAX_CONNS
#define KG_MAX_CONNS 4096u
#endif
#ifndef KG_HEADER_TIMEOUT
#define KG_HEADER_TIMEOUT 10u
#endif
#ifndef KG_IDLE_TIMEOUT
#define KG_IDLE_TIMEOUT 30u
#endif
#define KG_BACKLOG 1024u /* connections the kernel holds while every slot is taken */

static atomic_ulong next_id;

/* libmicrohttpd's own messages go to keygate's log (time-stamped, cleaned like any untrusted
 * text), rate-limited (http_int.h): a flood would otherwise write one line per refused
 * connection. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    static struct http_log_limit limit;
    if (LOG_WARNING > kg_log_level ||
        !http_log_limit_take(&limit, LOG_WARNING, "libmicrohttpd messages"))
        return;
    char msg[400], clean[400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t len = strlen(msg);
    while (len && (msg[len - 1] == '\n' || msg[len - 1] == '\r'))
        msg[--len] = '\0';
    kg_log_clean(msg, clean, sizeof clean);
    KG_LOG(LOG_WARNING, "http: %s", clean);
}

const char *http_header(const struct http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->impl, MHD_HEADER_KIND, name);
}

struct nth {
    const char *name, *found;
    size_t n;
};

static enum MHD_Result find_nth(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    struct nth *q = cls;
    if (strcasecmp(key, q->name) != 0) return MHD_YES;
    if (q->n-- > 0) return MHD_YES;
    q->found = value ? value : "";
    return MHD_NO;
}

const char *http_header_nth(const struct http_req *req, const char *name, size_t n)
{
    struct nth q = {.name = name, .found = NULL, .n = n};
    MHD_get_connection_values(req->impl, MHD_HEADER_KIND, find_nth, &q);
    return q.found;
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
    req->status = status;
    req->reply_bytes = len;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return;
    if (content_type) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
        /* On every response: the pane's pages are only ever same-origin and never framed. */
#define ADD_HEADER(name, value) MHD_add_response_header(r, name, value);
    HTTP_OWN_HEADERS(ADD_HEADER)
#undef ADD_HEADER
    if (atomic_load(&hsts)) MHD_add_response_header(r, HTTP_HSTS_NAME, HTTP_HSTS_VALUE);
    const char *merged[HTTP_MERGED_MAX];
    headers = http_headers_merge(req, headers, merged);
    for (size_t i = 0; headers && headers[i] && headers[i + 1]; i += 2)
        MHD_add_response_header(r, headers[i], headers[i + 1]);
    if (MHD_queue_response(req->impl, (unsigned)status, r) != MHD_YES)
        KG_LOG_REQ(LOG_WARNING, req->id, "could not queue response %d", status);
    MHD_destroy_response(r);
}

/* Percent-decodes the path and query values in place, as libmicrohttpd would (but "%00"
 * stays: http_unescape). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    return http_unescape(s, 0);
}

/* Adds up the request's header bytes (MHD_KeyValueIterator). */
static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* Notes a query parameter name seen twice (MHD_KeyValueIterator over the arguments, which
 * come in order; a repeat is compared with every earlier name, for at most QUERY_NAMES). */
#define QUERY_NAMES 32
struct query_names {
    const char *seen[QUERY_NAMES];
    size_t n;
    int repeated;
};

static enum MHD_Result note_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind, (void)value;
    struct query_names *q = cls;
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->seen[i], key) == 0) {
            q->repeated = 1;
            return MHD_NO;
        }
    if (q->n == QUERY_NAMES) { /* more names than any route reads: refuse as well */
        q->repeated = 1;
        return MHD_NO;
    }
    q->seen[q->n++] = key;
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
    struct query_names q = {.n = 0};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, note_query, &q);
    req.query_repeated = q.repeated;
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
        char path[160], body[96];
        size_t n = http_error_body(body, sizeof body, 500, "no response", 0);
        kg_log_clean(url, path, sizeof path);
        KG_LOG_REQ(LOG_ERR, req.id, "%s %s: handler sent no response", method, path);
        http_reply(&req, 500, "application/json", body, n, NULL);
    }
}

/* A new connection gets the header timeout (MHD_OPTION_NOTIFY_CONNECTION).  On every turn of
 * its loop libmicrohttpd visits each connection whose timeout is not the daemon's own, so
 * the daemon's timeout is the idle one, which busy and kept-alive connections have, and the
 * exception is the state an attack holds (no headers yet): that keeps the hot path off the
 * walk.  Measured: 4,000 connections trickling a header byte a second cost the server 15%
 * of a core this way, against 7% with no separate header timeout. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)socket_context;
    const struct http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED && s->header_timeout != s->idle_timeout)
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, s->header_timeout);
}

/* The request's headers are in: from now on the connection has the idle timeout. */
static void headers_complete(const struct http_server *s, struct MHD_Connection *conn)
{
    if (s->header_timeout == s->idle_timeout) return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_TIMEOUT);
    if (!ci || ci->connection_timeout != s->idle_timeout)
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, s->idle_timeout);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct http_server *s = cls;
    struct conn_state *cs = *con_cls;
    if (!cs) {
        headers_complete(s, conn);
        if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
        *con_cls = cs;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        int64_t n;
        size_t header_bytes = strlen(url);
        MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &header_bytes);
        if (header_bytes > KG_HEADERS_MAX) {
            char body[128];
            size_t len =
                http_error_body(body, sizeof body, 431, "the request headers are too large", 0);
            struct http_req req = {.method = method, .path = url, .impl = conn};
            cs->answered = 1;
            http_reply(&req, 431, "application/json", body, len, NULL);
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
            while (cap < cs->len + n + 1)
                cap *= 2;
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
    atomic_store(&hsts, cfg->hsts);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned threads = cfg->threads ? cfg->threads : (unsigned)(cores > 0 ? cores : 1);
    unsigned max_conns = http_fit_conn_limit(cfg->max_conns ? cfg->max_conns : KG_MAX_CONNS,
                                             threads, cfg->max_conns != 0);
    if (max_conns < threads) max_conns = threads; /* every thread gets a share of the limit */
    unsigned per_ip = cfg->max_conns_per_ip ? cfg->max_conns_per_ip : max_conns / 4;
    if (per_ip == 0) per_ip = 1;
    s->header_timeout = cfg->header_timeout ? cfg->header_timeout : KG_HEADER_TIMEOUT;
    s->idle_timeout = cfg->idle_timeout ? cfg->idle_timeout : KG_IDLE_TIMEOUT;
    /* A per-address limit of max_conns or more is no limit (0: no bookkeeping). */
    s->d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
        NULL, /* first: see its doc */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)KG_CONN_MEMORY, MHD_OPTION_CONNECTION_LIMIT,
        max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip < max_conns ? per_ip : 0u,
        MHD_OPTION_CONNECTION_TIMEOUT, s->idle_timeout, MHD_OPTION_LISTEN_BACKLOG_SIZE, KG_BACKLOG,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
    if (!s->d) {
        free(s);
        return KG_IO;
    }
    KG_LOG(LOG_INFO,
           "http: %u threads, at most %u connections (%u from one address), "
           "header timeout %u s, idle timeout %u s",
           threads, max_conns, per_ip < max_conns ? per_ip : max_conns, s->header_timeout,
           s->idle_timeout);
    *out = s;
    return KG_OK;
}

void http_server_free(struct http_server *s)
{
    if (!s) return;
    MHD_stop_daemon(s->d);
    free(s);
}
