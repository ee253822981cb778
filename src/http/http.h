/*
 * http.h — the HTTP server adapter: the only module that knows the HTTP library (http_ev.c:
 * its own epoll loop and http-parser, the default; http_mhd.c: libmicrohttpd, `make HTTP=mhd`).
 *
 * The adapter reads a whole request (headers, then the body up to a limit) and hands it to
 * one handler, which must answer it with exactly one http_reply().  Bodies longer than the
 * limit are not read: the handler sees body_too_big and answers 413.  Requests whose
 * headers pass KG_HEADERS_MAX are answered 431 here.  A query parameter given twice is
 * flagged (query_repeated), never silently resolved to one of its values.  A "%00" in the path or
 * the query is left encoded, never decoded to a NUL that would cut the value short.  Connections
 * are limited in number, in all and per client address, and cut at deadlines: the headers within
 * header_timeout of the request's first byte, the body at min_body_rate or faster, and
 * idle_timeout of silence between requests (struct http_config).  Requests the adapter
 * refuses itself (framing per RFC 9112, header size, version) get a JSON answer with the
 * same security headers as every other, and the connection is closed after it.
 */
#ifndef KG_HTTP_H
#define KG_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include "err.h"

#define KG_HEADERS_MAX (32 * 1024) /* request line and headers; beyond: 431 */

#define HTTP_ALSO_MAX 3 /* pairs in http_req.also */

struct http_req {
    unsigned long id;   /* request id for logs */
    const char *method; /* borrowed, valid during the handler */
    const char *path;   /* URL path without the query, percent-decoded */
    const char *body;   /* NUL-terminated copy; body_len excludes the NUL */
    size_t body_len;
    int body_too_big;
    int query_repeated; /* a query parameter name appears twice: the handler answers 400 */
    char peer[64];      /* client address, numeric */
    int replied;
    int status;         /* what http_reply() answered (0 before), for the log and /metrics */
    size_t reply_bytes; /* and the length of its body */
    void *impl;         /* the adapter's connection */
    /* headers a handler adds to whatever answer the request gets, as it learns them (a rate
     * limit's): name, value pairs, NULL-terminated; borrowed until the reply */
    const char *also[HTTP_ALSO_MAX * 2 + 1];
};

typedef void (*http_handler)(struct http_req *req, void *ctx);

/* The resource limits: 0 in any of them picks the built-in default (see http_ev.c). */
struct http_config {
    const char *listen;        /* "127.0.0.1:8080", "[::1]:8080" */
    unsigned threads;          /* 0 = one per core */
    size_t body_max;           /* bytes */
    unsigned max_conns;        /* open connections in all; default 4096, cut to what the
                                  open-file limit (ulimit -n) leaves room for */
    unsigned max_conns_per_ip; /* from one client address; default a quarter of max_conns;
                                  behind a reverse proxy (one address) set it to max_conns */
    unsigned header_timeout;   /* seconds from a request's first byte (the first request:
                                  from accept) to the end of its headers; default 10 */
    unsigned idle_timeout;     /* seconds silent between requests (keep-alive), or not reading
                                  an answer; default 30 */
    unsigned min_body_rate;    /* bytes a second a request body must keep to, after a grace of
                                  2 s; default 1024 (libmicrohttpd adapter: not enforced) */
    int hsts;                  /* 1: the issuer is https://, every answer carries
                                  Strict-Transport-Security */
    /* When set and it returns 1 for a connection's peer (a trusted reverse proxy, which
     * carries many clients), that peer is exempt from max_conns_per_ip.  Called at accept,
     * from the adapter's threads.  (libmicrohttpd adapter: not supported.) */
    int (*peer_trusted)(const struct sockaddr *sa, void *ctx);
    void *peer_trusted_ctx;
};

/* Value of request header `name` (case-insensitive); borrowed; NULL when absent. */
const char *http_header(const struct http_req *req, const char *name);
/* Value of the n-th (from 0, in the order received) request header `name`; borrowed; NULL
 * past the last.  A header sent on several lines can so be seen whole, or refused. */
const char *http_header_nth(const struct http_req *req, const char *name, size_t n);
/* Value of cookie `name`; borrowed; NULL when absent. */
const char *http_cookie(const struct http_req *req, const char *name);
/* Value of query parameter `name` (decoded); borrowed; NULL when absent. */
const char *http_query(const struct http_req *req, const char *name);

/*
 * Sends the response: status, Content-Type, body (copied), and `headers`, a NULL-terminated
 * list of name, value pairs (may be NULL).  Only the first call per request has effect.
 */
void http_reply(struct http_req *req, int status, const char *content_type, const char *body,
                size_t len, const char *const *headers);

struct http_server;

/* Starts serving in background threads.  Caller owns *out; stop with http_server_free(). */
kg_err http_server_start(const struct http_config *cfg, http_handler h, void *ctx,
                         struct http_server **out);
void http_server_free(struct http_server *s); /* stops serving; NULL is a no-op */

/* Splits "host:port" / "[v6]:port" into host (without brackets) and port. */
kg_err http_parse_listen(const char *listen, char *host, size_t host_size, unsigned *port);

#endif
