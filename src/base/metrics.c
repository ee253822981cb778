/*
 * metrics.c — the counts behind GET /metrics and their Prometheus text.
 *
 * Counts live in shards, one a thread (threads beyond METRICS_SHARDS share), each its own
 * cache lines: a thread adds with relaxed atomics to its own shard, and a scrape sums the
 * shards.  Durations are kept in nanoseconds (integers: no floating-point atomics), their
 * buckets one count each (made cumulative when written).
 *
 * Layout: the table of names and label values, counting, writing the text.
 */
#include "metrics.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "version.h"

/* ---- the table: names, help and label values ------------------------------------------- */

#define PREFIX "keygate_"

static const char *const method_names[METRICS_METHODS] = {
    [METRICS_GET] = "GET",         [METRICS_HEAD] = "HEAD",   [METRICS_POST] = "POST",
    [METRICS_PUT] = "PUT",         [METRICS_PATCH] = "PATCH", [METRICS_DELETE] = "DELETE",
    [METRICS_OPTIONS] = "OPTIONS", [METRICS_OTHER] = "other"};

#define CLASSES 5 /* 1xx … 5xx */
static const char *const class_names[CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

static const char *const exchange_labels[METRICS_EXCHANGES] = {
    [METRICS_ISSUED] = "result=\"issued\"",
    [METRICS_INVALID_REQUEST] = "result=\"invalid_request\"",
    [METRICS_UNSUPPORTED_GRANT_TYPE] = "result=\"unsupported_grant_type\"",
    [METRICS_INVALID_CLIENT] = "result=\"invalid_client\"",
    [METRICS_THROTTLED_CLIENT] = "result=\"throttled\"",
    [METRICS_EXCHANGE_ERROR] = "result=\"error\""};

static const char *const gate_labels[METRICS_GATES] = {
    [METRICS_GATE_ALLOW] = "decision=\"allow\",reason=\"privilege\"",
    [METRICS_GATE_DENY_PRIVILEGE] = "decision=\"deny\",reason=\"privilege\"",
    [METRICS_GATE_DENY_POLICY] = "decision=\"deny\",reason=\"policy\"",
    [METRICS_GATE_INVALID_TOKEN] = "decision=\"invalid\",reason=\"bad_token\"",
    [METRICS_GATE_MISSING_TOKEN] = "decision=\"invalid\",reason=\"no_token\"",
    [METRICS_GATE_BAD_REQUEST] = "decision=\"bad_request\",reason=\"headers\"",
    [METRICS_GATE_DENY_ADDRESS] = "decision=\"deny\",reason=\"address\"",
    [METRICS_GATE_RATE_LIMITED] = "decision=\"rate_limited\",reason=\"rate_limit\""};

static const char *const throttle_labels[METRICS_THROTTLES] = {
    [METRICS_THROTTLE_CLIENT_AUTH] = "what=\"client_authentication\"",
    [METRICS_THROTTLE_SIGN_IN] = "what=\"sign_in\""};

static const char *const store_labels[METRICS_STORES] = {[METRICS_STORE_READ] = "kind=\"read\"",
                                                         [METRICS_STORE_WRITE] = "kind=\"write\"",
                                                         [METRICS_STORE_POLL] = "kind=\"poll\""};

/* Histogram upper bounds, from 100 µs to 5 s: a gate check takes tens of µs, an EdDSA token
 * some hundreds, a SQLite write a few ms, an RS256 signature or a PostgreSQL round trip more. */
#define BOUNDS 15
static const uint64_t bounds_ns[BOUNDS] = {
    100000,   250000,    500000,    1000000,   2500000,    5000000,    10000000,  25000000,
    50000000, 100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000};
static const char *const bound_names[BOUNDS] = {"0.0001", "0.00025", "0.0005", "0.001", "0.0025",
                                                "0.005",  "0.01",    "0.025",  "0.05",  "0.1",
                                                "0.25",   "0.5",     "1",      "2.5",   "5"};

/* ---- counting -------------------------------------------------------------------------- */

typedef _Atomic uint64_t cell;

/* One duration series: a count per bucket (the last one past every bound) and the sum. */
struct hist {
    cell buckets[BOUNDS + 1];
    cell sum_ns;
};

struct shard {
    cell requests[METRICS_ROUTES_MAX][METRICS_METHODS][CLASSES];
    struct hist request_time[METRICS_ROUTES_MAX];
    cell exchanges[METRICS_EXCHANGES];
    cell gate[METRICS_GATES];
    cell throttled[METRICS_THROTTLES];
    struct hist store_time[METRICS_STORES];
    _Alignas(64) char end; /* the next shard starts on a cache line of its own */
};

#define METRICS_SHARDS 16
static struct shard shards[METRICS_SHARDS];
static atomic_uint next_shard;
static _Thread_local struct shard *mine;

static struct shard *shard(void)
{
    if (!mine)
        mine = &shards[atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) %
                       METRICS_SHARDS];
    return mine;
}

static void add(cell *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void observe(struct hist *h, uint64_t ns)
{
    size_t b = 0;
    while (b < BOUNDS && ns > bounds_ns[b])
        b++;
    add(&h->buckets[b], 1);
    add(&h->sum_ns, ns);
}

uint64_t metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum metrics_method metrics_method_of(const char *m)
{
    enum metrics_method guess = METRICS_OTHER; /* by the first letter: one compare a request */
    switch (m ? m[0] : 0) {
    case 'G':
        guess = METRICS_GET;
        break;
    case 'H':
        guess = METRICS_HEAD;
        break;
    case 'P':
        guess = m[1] == 'O' ? METRICS_POST : m[1] == 'U' ? METRICS_PUT : METRICS_PATCH;
        break;
    case 'D':
        guess = METRICS_DELETE;
        break;
    case 'O':
        guess = METRICS_OPTIONS;
        break;
    }
    return guess != METRICS_OTHER && strcmp(m, method_names[guess]) == 0 ? guess : METRICS_OTHER;
}

void metrics_request(size_t route, enum metrics_method method, int status, uint64_t ns)
{
    struct shard *s = shard();
    size_t cls = status >= 100 && status < 600 ? (size_t)(status / 100 - 1) : CLASSES - 1;
    if (route >= METRICS_ROUTES_MAX) route = METRICS_ROUTES_MAX - 1;
    if ((unsigned)method >= METRICS_METHODS) method = METRICS_OTHER;
    add(&s->requests[route][method][cls], 1);
    observe(&s->request_time[route], ns);
}

void metrics_exchange(enum metrics_exchange result)
{
    if ((unsigned)result < METRICS_EXCHANGES) add(&shard()->exchanges[result], 1);
}

void metrics_gate(enum metrics_gate decision)
{
    if ((unsigned)decision < METRICS_GATES) add(&shard()->gate[decision], 1);
}

void metrics_throttled(enum metrics_throttle what)
{
    if ((unsigned)what < METRICS_THROTTLES) add(&shard()->throttled[what], 1);
}

void metrics_store(enum metrics_store kind, uint64_t ns)
{
    if ((unsigned)kind < METRICS_STORES) observe(&shard()->store_time[kind], ns);
}

/* The sum over all shards of the cell that is c in shards[0]. */
static uint64_t total(const cell *c)
{
    uintptr_t off = (uintptr_t)c - (uintptr_t)&shards[0];
    uint64_t n = 0;
    for (size_t i = 0; i < METRICS_SHARDS; i++)
        n += atomic_load_explicit((cell *)((uintptr_t)&shards[i] + off), memory_order_relaxed);
    return n;
}

/* ---- writing the text ------------------------------------------------------------------ */

/* A growing text; the first failed allocation sets oom and later writes do nothing. */
struct text {
    char *s;
    size_t len, cap;
    int oom;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
    for (int tries = 0; !t->oom && tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if (t->s && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        if (kg_grow(&t->s, &t->cap, t->len, (size_t)n, 16384) != 0) t->oom = 1;
    }
}

/* Appends v as a label value: '\\', '"' and newlines escaped. */
static void put_value(struct text *t, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            put(t, "\\%c", *v);
        else if (*v == '\n')
            put(t, "\\n");
        else
            put(t, "%c", *v);
    }
}

static void put_family(struct text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The observations of h (in shards[0]) over all shards. */
static uint64_t hist_count(const struct hist *h)
{
    uint64_t n = 0;
    for (size_t b = 0; b <= BOUNDS; b++)
        n += total(&h->buckets[b]);
    return n;
}

/* One histogram series: name's _bucket, _sum and _count lines; labels ("" or `k="v"`)
 * come before le.  h is the series in shards[0]. */
static void put_hist(struct text *t, const char *name, const char *labels, const struct hist *h)
{
    uint64_t cum = 0;
    const char *sep = labels[0] ? "," : "";
    for (size_t b = 0; b <= BOUNDS; b++) {
        cum += total(&h->buckets[b]);
        put(t, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep,
            b < BOUNDS ? bound_names[b] : "+Inf", (unsigned long long)cum);
    }
    uint64_t sum = total(&h->sum_ns);
    put(t, "%s_sum%s%s%s %llu.%09llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
        (unsigned long long)(sum / 1000000000u), (unsigned long long)(sum % 1000000000u));
    put(t, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels, labels[0] ? "}" : "",
        (unsigned long long)cum);
}

/* The label value of route index i, or NULL when nothing is counted under it. */
static const char *route_name(const struct metrics_scrape *s, size_t i)
{
    if (i == s->nroutes) return "unmatched";
    return i < s->nroutes ? s->routes[i] : NULL;
}

static void put_requests(struct text *t, const struct metrics_scrape *s)
{
    const char *name = PREFIX "http_requests_total";
    put_family(t, name, "counter",
               "HTTP requests answered, by route pattern, method and status class.");
    for (size_t r = 0; r < METRICS_ROUTES_MAX; r++) {
        const char *route = route_name(s, r);
        for (size_t m = 0; route && m < METRICS_METHODS; m++)
            for (size_t k = 0; k < CLASSES; k++) {
                uint64_t n = total(&shards[0].requests[r][m][k]);
                if (!n) continue; /* a series appears once it has happened */
                put(t, "%s{route=\"", name);
                put_value(t, route);
                put(t, "\",method=\"%s\",status=\"%s\"} %llu\n", method_names[m], class_names[k],
                    (unsigned long long)n);
            }
    }
    name = PREFIX "http_request_duration_seconds";
    put_family(t, name, "histogram",
               "Time from a request's dispatch to its answer being queued, by route pattern.");
    for (size_t r = 0; r < METRICS_ROUTES_MAX; r++) {
        const char *route = route_name(s, r);
        const struct hist *h = &shards[0].request_time[r];
        if (!route || !hist_count(h)) continue;
        struct text l = {0};
        put(&l, "route=\"");
        put_value(&l, route);
        put(&l, "\"");
        if (l.oom) {
            t->oom = 1;
            free(l.s);
            return;
        }
        put_hist(t, name, l.s, h);
        free(l.s);
    }
}

/* A counter family whose series are all written, at zero too (so that rate() sees them):
 * cells[i] (in shards[0]) labelled labels[i]. */
static void put_counters(struct text *t, const char *name, const char *help,
                         const char *const *labels, size_t n, const cell *cells)
{
    put_family(t, name, "counter", help);
    for (size_t i = 0; i < n; i++)
        put(t, "%s{%s} %llu\n", name, labels[i], (unsigned long long)total(&cells[i]));
}

/* The process_* metrics every Prometheus client library exports, from /proc/self. */
static void put_process(struct text *t)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* after the command name, which may hold anything */
    unsigned long long utime = 0, stime = 0, start = 0;
    long long rss = 0;
    long ticks = sysconf(_SC_CLK_TCK);
    int have_stat = p && ticks > 0 &&
                    sscanf(p + 2,
                           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                           "%*d %*d %llu %*u %lld",
                           &utime, &stime, &start, &rss) == 4;
    unsigned long long btime = 0;
    if ((f = fopen("/proc/stat", "r"))) {
        while (fgets(buf, sizeof buf, f))
            if (sscanf(buf, "btime %llu", &btime) == 1) break;
        fclose(f);
    }
    if (have_stat) {
        put_family(t, "process_cpu_seconds_total", "counter",
                   "Total user and system CPU time spent in seconds.");
        put(t, "process_cpu_seconds_total %.2f\n", (double)(utime + stime) / (double)ticks);
        put_family(t, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        put(t, "process_resident_memory_bytes %lld\n", rss * (long long)sysconf(_SC_PAGESIZE));
        if (btime) {
            put_family(t, "process_start_time_seconds", "gauge",
                       "Start time of the process since unix epoch in seconds.");
            put(t, "process_start_time_seconds %.2f\n",
                (double)btime + (double)start / (double)ticks);
        }
    }
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        long fds = -3; /* less ".", ".." and the listing's own descriptor */
        while (readdir(d))
            fds++;
        closedir(d);
        put_family(t, "process_open_fds", "gauge", "Number of open file descriptors.");
        put(t, "process_open_fds %ld\n", fds > 0 ? fds : 0);
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        put_family(t, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        put(t, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
}

/* The webhooks' deliveries (this process's) and pending events (the store's). */
static void put_webhooks(struct text *t, const struct metrics_scrape *s)
{
    static const char *const outcomes[] = {"delivered", "retried", "failed"};
    if (!s->nwebhooks) return;
    put_family(t, PREFIX "webhook_deliveries_total", "counter",
               "Webhook delivery attempts made by this node, by outcome: delivered (2xx), "
               "retried (to be tried again), failed (the event given up).");
    for (size_t i = 0; i < s->nwebhooks; i++) {
        const struct metrics_webhook *w = &s->webhooks[i];
        const uint64_t v[] = {w->delivered, w->retried, w->failed};
        for (size_t k = 0; k < 3; k++) {
            put(t, PREFIX "webhook_deliveries_total{webhook=\"");
            put_value(t, w->id);
            put(t, "\",outcome=\"%s\"} %llu\n", outcomes[k], (unsigned long long)v[k]);
        }
    }
    put_family(t, PREFIX "webhook_pending_events", "gauge",
               "Audit events not yet delivered or given up, by webhook (at its last poll).");
    for (size_t i = 0; i < s->nwebhooks; i++) {
        if (s->webhooks[i].pending < 0) continue;
        put(t, PREFIX "webhook_pending_events{webhook=\"");
        put_value(t, s->webhooks[i].id);
        put(t, "\"} %lld\n", (long long)s->webhooks[i].pending);
    }
}

kg_err metrics_render(const struct metrics_scrape *s, char **out, size_t *len)
{
    struct text t = {0};
    put_requests(&t, s);
    put_counters(&t, PREFIX "token_exchanges_total",
                 "Client-credentials exchanges at the token endpoint, by result: issued, or the "
                 "class of refusal.",
                 exchange_labels, METRICS_EXCHANGES, shards[0].exchanges);
    put_counters(&t, PREFIX "gate_decisions_total",
                 "Checks answered by /gate: allow (204), deny (403: the role lacks the rule's "
                 "privilege, no rule allows the route, or the client address is outside the "
                 "token's allowed ranges), rate_limited (429), invalid (401), bad_request (400).",
                 gate_labels, METRICS_GATES, shards[0].gate);
    put_counters(&t, PREFIX "throttled_requests_total",
                 "Requests refused with 429 after too many failures, by what failed.",
                 throttle_labels, METRICS_THROTTLES, shards[0].throttled);
    const char *name = PREFIX "store_operation_duration_seconds";
    put_family(&t, name, "histogram", "Time of calls to the database, by kind of operation.");
    for (size_t k = 0; k < METRICS_STORES; k++)
        put_hist(&t, name, store_labels[k], &shards[0].store_time[k]);
    if (s->tokens_active >= 0 && s->tokens_revoked >= 0) {
        put_family(&t, PREFIX "api_tokens", "gauge", "API tokens known to this node, by status.");
        put(&t, PREFIX "api_tokens{status=\"active\"} %lld\n", (long long)s->tokens_active);
        put(&t, PREFIX "api_tokens{status=\"revoked\"} %lld\n", (long long)s->tokens_revoked);
    }
    put_webhooks(&t, s);
    put_family(&t, PREFIX "build_info", "gauge", "Always 1; the labels say which keygate this is.");
    put(&t, PREFIX "build_info{version=\"%s\"", KG_VERSION);
    if (s->signing_alg) {
        put(&t, ",signing_alg=\"");
        put_value(&t, s->signing_alg);
        put(&t, "\"");
    }
    put(&t, "} 1\n");
    put_process(&t);
    if (t.oom) {
        free(t.s);
        return KG_ENOMEM;
    }
    *out = t.s;
    *len = t.len;
    return KG_OK;
}
