/*
 * webhook_send.h — one HTTP POST of a webhook delivery: the only file in keygate that includes
 * the HTTP client library's header (libcurl), as the store backends keep theirs.
 *
 * A POST has bounded time (connect and total timeouts), follows no redirect, speaks only
 * http:// and https:// (certificates checked), reads at most WEBHOOK_SEND_BODY_MAX bytes of
 * the answer and throws them away, and names keygate and its version as its User-Agent.
 *
 * Thread safety: webhook_send_global_init() once before any thread sends; then any thread may
 * send at any time.
 */
#ifndef KG_WEBHOOK_SEND_H
#define KG_WEBHOOK_SEND_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define WEBHOOK_SEND_BODY_MAX 4096 /* bytes of an answer read, at most */

/* Sets up the client library for the process; KG_INTERNAL when it cannot. */
kg_err webhook_send_global_init(void);

struct webhook_post {
    const char *url;  /* borrowed; http:// or https:// */
    const char *body; /* borrowed; len bytes */
    size_t len;
    const char *const *headers; /* borrowed; "Name: value" lines, NULL-terminated */
    int64_t timeout_ms;         /* the whole exchange, at most */
    const atomic_int *stop;     /* borrowed; when it becomes non-zero the POST is given up */
};

/*
 * POSTs p.  Returns KG_OK when an answer came: *status is its HTTP status (any, 2xx or not);
 * otherwise (no answer: refused, timed out, TLS failure, stopped) *status = 0 and err (err_size
 * bytes, NUL-terminated) holds a short reason without the URL.  KG_INVALID for a URL the
 * library refuses, KG_IO for every failure to get an answer.
 */
kg_err webhook_send(const struct webhook_post *p, long *status, char *err, size_t err_size);

/*
 * Checks url (http:// or https://, a host) and writes the form that may be shown — scheme,
 * host, port and path, without user, password, query or fragment — to shown (size bytes).
 * KG_INVALID for any other URL, KG_TOOBIG when the shown form does not fit.
 */
kg_err webhook_send_url_check(const char *url, char *shown, size_t size);

#endif
