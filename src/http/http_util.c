/*
 * http_util.c — the parts of the HTTP layer that do not depend on the adapter: the listen
 * address, hex digits, the connection limit that fits the open-file limit, the body of the
 * answers the adapter gives itself.
 */
#include "http.h"
#include "http_int.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "log.h"
#include "util.h"

const char *const *http_headers_merge(const struct http_req *req, const char *const *headers,
                                      const char *out[HTTP_MERGED_MAX])
{
    size_t n = 0;
    if (!req->also[0]) return headers;
    for (size_t i = 0; headers && headers[i] && headers[i + 1] && n + 3 <= HTTP_MERGED_MAX; i += 2)
        out[n++] = headers[i], out[n++] = headers[i + 1];
    for (size_t i = 0; req->also[i] && req->also[i + 1] && n + 3 <= HTTP_MERGED_MAX; i += 2)
        out[n++] = req->also[i], out[n++] = req->also[i + 1];
    out[n] = NULL;
    return out;
}

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

int http_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t http_unescape(char *s, int plus)
{
    char *r = s, *w = s;
    while (*r) {
        int hi, lo;
        if (r[0] == '%' && (hi = http_hexval(r[1])) >= 0 && (lo = http_hexval(r[2])) >= 0 &&
            (hi | lo)) {
            *w++ = (char)(hi * 16 + lo);
            r += 3;
        } else if (plus && *r == '+') {
            *w++ = ' ';
            r++;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

unsigned http_fit_conn_limit(unsigned want, unsigned threads, int explicit_value)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return want;
    rlim_t reserve = 128 + 2 * (rlim_t)threads;
    rlim_t room = rl.rlim_cur > reserve ? rl.rlim_cur - reserve : 0;
    if (room < threads) room = threads; /* every thread needs one */
    if ((rlim_t)want <= room) return want;
    KG_LOG(explicit_value ? LOG_WARNING : LOG_NOTICE,
           "http: the open-file limit (%llu) leaves room for %llu connections, not %u; "
           "raise it (ulimit -n, systemd LimitNOFILE=) to allow more",
           (unsigned long long)rl.rlim_cur, (unsigned long long)room, want);
    return (unsigned)room;
}

int http_log_limit_take(struct http_log_limit *l, int level, const char *what)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec, w = atomic_load(&l->window);
    if (w != now && atomic_compare_exchange_strong(&l->window, &w, now)) {
        atomic_store(&l->in_window, 0);
        unsigned n = atomic_exchange(&l->held_back, 0);
        if (n) KG_LOG(level, "http: %u more %s not logged", n, what);
    }
    if (atomic_fetch_add(&l->in_window, 1) >= HTTP_LOG_PER_SEC) {
        atomic_fetch_add(&l->held_back, 1);
        return 0;
    }
    return 1;
}

size_t http_error_body(char *buf, size_t size, int status, const char *msg, int oauth)
{
    kg_err rc = status == 501 ? KG_UNIMPLEMENTED : status >= 500 ? KG_INTERNAL : KG_INVALID;
    int n = oauth ? snprintf(buf, size, "{\"error\":\"%s\",\"error_description\":\"%s\"}",
                             kg_err_oauth(KG_INVALID), msg)
                  : snprintf(buf, size,
                             "{\"code\":%d,\"message\":\"%s\",\"status\":\"%s\",\"details\":[]}",
                             status, msg, kg_err_status(rc));
    return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}
