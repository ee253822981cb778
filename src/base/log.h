/*
 * log.h — one logging macro, syslog levels, level checked before any formatting.
 *
 * Never pass a secret, a password or an access token to these macros.  Request handlers
 * log with the request id (KG_LOG_REQ) so that a line can be tied to its request.
 */
#ifndef KG_LOG_H
#define KG_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

extern int kg_log_level; /* LOG_ERR .. LOG_DEBUG; default LOG_INFO */
extern int kg_log_json;  /* 0: text lines; 1: one JSON object a line (--log-format json) */

void kg_log_write(int level, unsigned long req_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* What the one line of an answered request says (kg_log_request).  Every string is the
 * caller's; the untrusted ones (path, original request, error) are cleaned here with
 * kg_log_clean, so that no secret or access token in them reaches the log. */
struct kg_log_req {
    unsigned long req;       /* the request id */
    const char *method;      /* the request's method */
    const char *path;        /* its path, without the query */
    int status;              /* the status answered */
    uint64_t ns;             /* how long it took, in nanoseconds */
    size_t bytes;            /* bytes of the answer's body */
    const char *client;      /* the client's address */
    const char *actor;       /* who was authenticated ("kgc_…", "u-…"); NULL or "" = nobody */
    const char *orig_method; /* /gate: the method and URI it was asked about; NULL = none */
    const char *orig_uri;    /* (written without its query: that may carry anything) */
    const char *error;       /* what an error answer said, or NULL */
};

/* Writes a request's line at `level` (check kg_log_level first; KG_LOG_REQUEST does).  Text:
 *   TIME LEVEL req=N METHOD PATH STATUS 0.412ms 93B client=ADDR actor=ID|-
 *       [orig="METHOD URI"] [error="…"]
 * JSON: {"time","level","req","method","path","status","ms","bytes","client","actor"
 *        [,"orig_method","orig_uri"][,"error"]} with actor null for nobody. */
void kg_log_request(int level, const struct kg_log_req *r);

/* Copies untrusted text (a request path, say) into out[size] fit for a log line: control
 * and non-ASCII bytes become '?', anything shaped like a client secret ("kgs_…") or a JWT
 * ("eyJ…") becomes "[redacted]", and the copy is cut to fit. */
void kg_log_clean(const char *in, char *out, size_t size);

/* Parses "error", "warning", "notice", "info" or "debug"; returns -1 when unknown. */
int kg_log_parse_level(const char *s);

/* Parses "text" (0) or "json" (1); returns -1 when unknown. */
int kg_log_parse_format(const char *s);

#define KG_LOG(level, ...)                                                                         \
    do {                                                                                           \
        if ((level) <= kg_log_level) kg_log_write((level), 0, __VA_ARGS__);                        \
    } while (0)
#define KG_LOG_REQUEST(level, r)                                                                   \
    do {                                                                                           \
        if ((level) <= kg_log_level) kg_log_request((level), (r));                                 \
    } while (0)
#define KG_LOG_REQ(level, req_id, ...)                                                             \
    do {                                                                                           \
        if ((level) <= kg_log_level) kg_log_write((level), (req_id), __VA_ARGS__);                 \
    } while (0)

#endif
