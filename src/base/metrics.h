/*
 * metrics.h — what keygate counts for GET /metrics, and the Prometheus text it is written as
 * (exposition format 0.0.4).  Every metric keygate exports is declared here, once: its name,
 * its labels and their values are in metrics.c's table, so the whole /metrics surface is on
 * one screen, and each layer counts through the calls below (the store its latency, the HTTP
 * layer requests, token exchanges, gate decisions and throttling).
 *
 * Cost: a count is one relaxed atomic add to a counter of the calling thread's own shard (no
 * lock, no shared cache line between threads); an observation is a search of a 15-bound
 * array and three such adds.  Nothing is allocated until metrics_render().  Counts hold no
 * client ID, token or address: only route patterns and fixed words are label values.
 *
 * Thread safety: every function may be called from any thread at any time.
 */
#ifndef KG_METRICS_H
#define KG_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Route indexes (the router's table rows, and one past them for a path matching none) are
 * below this. */
#define METRICS_ROUTES_MAX 64

/* The request's method as a label: every other method is "other" (bounded cardinality). */
enum metrics_method {
    METRICS_GET,
    METRICS_HEAD,
    METRICS_POST,
    METRICS_PUT,
    METRICS_PATCH,
    METRICS_DELETE,
    METRICS_OPTIONS,
    METRICS_OTHER,
    METRICS_METHODS
};

/* How a client-credentials exchange at the token endpoint ended (label "result"). */
enum metrics_exchange {
    METRICS_ISSUED,                 /* 200: an access token */
    METRICS_INVALID_REQUEST,        /* 400: a malformed form, a missing grant_type, … */
    METRICS_UNSUPPORTED_GRANT_TYPE, /* 400: a grant type other than client_credentials */
    METRICS_INVALID_CLIENT,         /* 401: unknown, revoked or expired client, wrong secret */
    METRICS_THROTTLED_CLIENT,       /* 429: too many failed client authentications */
    METRICS_EXCHANGE_ERROR,         /* 5xx: could not sign, out of memory */
    METRICS_EXCHANGES
};

/* How a /gate check ended (labels "decision" and "reason"). */
enum metrics_gate {
    METRICS_GATE_ALLOW,          /* 204: the token's role holds the rule's privilege */
    METRICS_GATE_DENY_PRIVILEGE, /* 403: it does not */
    METRICS_GATE_DENY_POLICY,    /* 403: no rule matches the route (or it is unsafe) */
    METRICS_GATE_INVALID_TOKEN,  /* 401: a malformed, expired, revoked or unknown token */
    METRICS_GATE_MISSING_TOKEN,  /* 401: no bearer token */
    METRICS_GATE_BAD_REQUEST,    /* 400: the original method and URI headers are wrong */
    METRICS_GATE_DENY_ADDRESS,   /* 403: from outside the token's allowed ranges */
    METRICS_GATE_RATE_LIMITED,   /* 429: past the token's rate limit */
    METRICS_GATES
};

/* What a throttled (429) request was throttled for (label "what"). */
enum metrics_throttle {
    METRICS_THROTTLE_CLIENT_AUTH, /* failed client authentications: the /oauth endpoints */
    METRICS_THROTTLE_SIGN_IN,     /* failed pane sign-ins */
    METRICS_THROTTLES
};

/* The kinds of store operations timed (label "kind"). */
enum metrics_store {
    METRICS_STORE_READ,  /* get, list, count */
    METRICS_STORE_WRITE, /* insert, update, delete, revoke, grant, touch, audit append */
    METRICS_STORE_POLL,  /* the view following the store: version, changes */
    METRICS_STORES
};

/* Nanoseconds of CLOCK_MONOTONIC (a vDSO call, no system call). */
uint64_t metrics_now_ns(void);

/* One answered request: route index (< METRICS_ROUTES_MAX), method, HTTP status, and the
 * nanoseconds it took. */
void metrics_request(size_t route, enum metrics_method method, int status, uint64_t ns);
/* The label of method name m ("GET" → METRICS_GET; unknown → METRICS_OTHER). */
enum metrics_method metrics_method_of(const char *m);
void metrics_exchange(enum metrics_exchange result);
void metrics_gate(enum metrics_gate decision);
void metrics_throttled(enum metrics_throttle what);
void metrics_store(enum metrics_store kind, uint64_t ns);

struct metrics_webhook;

/* What metrics_render() writes besides the counts, read by its caller at scrape time. */
struct metrics_scrape {
    /* route label values: routes[i] is index i's route pattern, NULL for an index counted
     * under another one's label (never counted); index nroutes is written as "unmatched" */
    const char *const *routes;
    size_t nroutes;
    int64_t tokens_active, tokens_revoked; /* API tokens by status; -1: not known */
    const char *signing_alg;               /* build_info's signing_alg; NULL: left out */
    /* the configured webhooks' counts in this process (webhook.h), nwebhooks of them */
    const struct metrics_webhook *webhooks;
    size_t nwebhooks;
};

/* One webhook's counts: its id (a label value: "wh_" and hex digits), events delivered,
 * attempts failed and to be retried, events given up; pending: events waiting in the store
 * at its last poll (-1: not known, left out). */
struct metrics_webhook {
    const char *id;
    uint64_t delivered, retried, failed;
    int64_t pending;
};

/* Writes every metric as Prometheus text (version 0.0.4) into *out (NUL-terminated, *len
 * bytes): HELP and TYPE lines, counters, histograms, the gauges in s, keygate_build_info and
 * the process_* metrics of /proc/self.  Caller owns *out (free()).  KG_ENOMEM on failure. */
kg_err metrics_render(const struct metrics_scrape *s, char **out, size_t *len);

/* The Content-Type of metrics_render()'s text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
