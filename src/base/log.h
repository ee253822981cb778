/*
 * log.h — one logging macro, syslog levels, level checked before any formatting.
 *
 * Never pass a secret, a password or an access token to these macros.  Request handlers
 * log with the request id (KG_LOG_REQ) so that a line can be tied to its request.
 */
#ifndef KG_LOG_H
#define KG_LOG_H

#include <stddef.h>
#include <syslog.h>

extern int kg_log_level; /* LOG_ERR .. LOG_DEBUG; default LOG_INFO */
extern int kg_log_json;  /* 0: text lines; 1: one JSON object a line (--log-format json) */

void kg_log_write(int level, unsigned long req_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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
#define KG_LOG_REQ(level, req_id, ...)                                                             \
    do {                                                                                           \
        if ((level) <= kg_log_level) kg_log_write((level), (req_id), __VA_ARGS__);                 \
    } while (0)

#endif
