/*
 * http_int.h — what both HTTP adapters (http_ev.c, http_mhd.c) share, written once in
 * http_util.c: nothing above the adapter includes this.
 */
#ifndef KG_HTTP_INT_H
#define KG_HTTP_INT_H

#include <stdatomic.h>
#include <stddef.h>

/* The Content-Security-Policy of every answer: the pane's pages are only ever same-origin and
 * never framed. */
#define HTTP_CSP                                                                                   \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* keygate's own headers, on every answer of either adapter: X(name, value) for each.  With
 * http_config.hsts, HTTP_HSTS_NAME too. */
#define HTTP_OWN_HEADERS(X)                                                                        \
    X("X-Content-Type-Options", "nosniff")                                                         \
    X("Content-Security-Policy", HTTP_CSP)                                                         \
    X("X-Frame-Options", "DENY")                                                                   \
    X("Referrer-Policy", "no-referrer")
#define HTTP_HSTS_NAME "Strict-Transport-Security"
#define HTTP_HSTS_VALUE "max-age=31536000"

/* The JSON body of an answer the adapter gives itself (a refused request, a handler that sent
 * none): {"code","message","status","details":[]} (no detail: nothing was routed) with the REST
 * API's status name for `status` (err.c's table: UNIMPLEMENTED for 501, INTERNAL for another 5xx,
 * else INVALID_ARGUMENT), or with `oauth` the OAuth form
 * {"error":"invalid_request","error_description"}.  msg must need no JSON escaping.  Returns the
 * length written to buf, 0 when it does not fit. */
size_t http_error_body(char *buf, size_t size, int status, const char *msg, int oauth);

/* At most HTTP_LOG_PER_SEC lines a second of one kind (a flood would write one a request or a
 * connection); what is held back is counted and reported with the next line in a later
 * second.  Zero-initialised; shared by every thread. */
#define HTTP_LOG_PER_SEC 5u
struct http_log_limit {
    atomic_llong window; /* CLOCK_MONOTONIC second being counted */
    atomic_uint in_window, held_back;
};
/* 1 when one more line may be logged now; first logs, at `level`, how many lines `what`
 * (e.g. "refused requests") an earlier second held back. */
int http_log_limit_take(struct http_log_limit *l, int level, const char *what);

/* The value of hex digit c, or -1. */
int http_hexval(char c);
/* `headers` (NULL-terminated pairs; may be NULL) followed by req->also's, into out (room for
 * HTTP_MERGED_MAX entries, NULL-terminated); returns out.  Pairs beyond it are dropped. */
#define HTTP_MERGED_MAX 33
const char *const *http_headers_merge(const struct http_req *req, const char *const *headers,
                                      const char *out[HTTP_MERGED_MAX]);
/* Percent-decodes s in place (and '+' to a space when `plus`), except that "%00" stays as it
 * is: a decoded NUL would silently cut a path or value short (so that "/apiToken/X%00junk"
 * would read as "/apiToken/X"); left encoded, it matches no route and fails every strict
 * parser.  Returns the new length. */
size_t http_unescape(char *s, int plus);

/* At most `want` connections, or fewer when the open-file limit leaves room for fewer (logged,
 * as a warning when `explicit_value`, the operator's own --max-conns): the rest of keygate
 * keeps descriptors for stdio, the database and its journal, key files, PostgreSQL
 * connections, the listener, and two per thread. */
unsigned http_fit_conn_limit(unsigned want, unsigned threads, int explicit_value);

#endif
