/*
 * stub_http.h — src/http.h without libmicrohttpd, for the fuzz drivers: a request is plain
 * arrays of headers, cookies and query parameters that the driver fills, and http_reply()
 * records what was answered instead of sending it.
 *
 * Values are taken as the adapter hands them to keygate (already split and decoded); the
 * real adapter's own parsing (libmicrohttpd's header and cookie parsing, http_mhd.c's
 * percent-decoding) is not what these drivers exercise.
 */
#ifndef KG_STUB_HTTP_H
#define KG_STUB_HTTP_H

#include <stddef.h>

#include "http.h"

#define STUB_PAIRS_MAX 16 /* of each kind; more are dropped */

struct stub_pair {
    const char *name, *value; /* borrowed from the driver's buffer */
};

struct stub_req {
    struct stub_pair headers[STUB_PAIRS_MAX], cookies[STUB_PAIRS_MAX], query[STUB_PAIRS_MAX];
    size_t nheaders, ncookies, nquery;
    unsigned replies; /* http_reply() calls */
    int status;       /* of the first reply; 0 = none yet */
    size_t body_len;  /* of the first reply */
};

/* Zeroes *s and *req and ties them together (req->impl = s); method "GET", path "/". */
void stub_req_init(struct stub_req *s, struct http_req *req);

/* Adds a header; a "Cookie" header is also split at ';' into cookies ("name=value", spaces
 * around a pair trimmed).  value is modified in place by the split.  0, or -1 when full. */
int stub_add_header(struct stub_req *s, const char *name, char *value);
/* Splits a query string "a=1&b=2" (in place) into parameters; no decoding. */
void stub_set_query(struct stub_req *s, char *query);

/*
 * Parses a whole request written as text, in place:
 *
 *     METHOD SP PATH[?QUERY] [SP TOOBIG] LF
 *     Name: value LF              (zero or more headers)
 *     LF
 *     body                        (the rest, may hold any byte)
 *
 * A CR before each LF is dropped.  Fills req (method, path, body, body_too_big) and s.
 * text[len] must be writable (it gets a NUL).  0, or -1 when the text has no request line
 * or a header line without ':'.
 */
int stub_req_parse(struct stub_req *s, struct http_req *req, char *text, size_t len);

#endif
