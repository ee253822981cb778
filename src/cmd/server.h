/*
 * server.h — `keygate serve`: wires store, keys, view and HTTP together and runs until
 * SIGINT/SIGTERM.
 */
#ifndef KG_SERVER_H
#define KG_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct server_opts {
    const char *listen;           /* "127.0.0.1:8080" */
    const char *db;               /* store URI */
    const char *db_shown;         /* the same with any password masked, for the log */
    const char *db_why;           /* how it was chosen ("--db", "default: $XDG_DATA_HOME/…") */
    int db_new;                   /* the SQLite file did not exist: say it was created */
    const char *keys_dir;         /* where hash.key and signing.key live */
    const char *issuer;           /* NULL = "http://" + listen */
    const char *audience;         /* NULL = issuer */
    const char *policy;           /* the gate's route policy file; NULL = deny every route */
    const char *gate_headers;     /* --gate-headers; NULL = auto */
    const char *trusted_proxy;    /* --trusted-proxy CIDR[,CIDR…]; NULL = none */
    const char *forwarded_header; /* --forwarded-header; NULL = X-Forwarded-For */
    int64_t access_token_ttl;
    const char *signing_alg;     /* --signing-alg EdDSA|ES256|RS256; NULL = keep the keys' own */
    int64_t jwks_max_age;        /* seconds the JWKS may be cached; new keys wait this long */
    int64_t max_secret_lifetime; /* seconds; 0 = no limit */
    int64_t session_idle;        /* seconds a pane session lives unused */
    unsigned threads;            /* 0 = one per core */
    /* connection limits and timeouts (struct http_config); 0 = the built-in default */
    unsigned max_conns, max_conns_per_ip, header_timeout, idle_timeout;
    /* the first user's password, when there is no user yet (8 to KG_PASSWORD_MAX bytes),
     * and where it came from ("--admin-password-file"); NULL = generate one */
    const char *admin_password;
    const char *admin_password_source;
    unsigned min_body_rate; /* bytes a second; 0 = the built-in default */
    /* usage controls: the default rate limit (0: none); how long usage counts are kept
     * (seconds) and how often they are written (ms) */
    int64_t default_rate_requests, default_rate_period_s;
    int64_t usage_retention_s, usage_flush_ms;
    int usage_off; /* --no-usage-counts */
    /* webhooks: nwebhooks specs "URL secret-file=PATH …" (webhook.h), from webhooks_source
     * ("--webhook"); and their delivery options (0 = webhook.h's defaults) */
    const char *const *webhooks;
    size_t nwebhooks;
    const char *webhooks_source;
    int64_t webhook_timeout_ms, webhook_attempts, webhook_backoff_ms;
};

/*
 * Returns the process exit status.  On the first start (no user yet) it makes
 * admin@localhost only once the HTTP server listens, so a busy port creates nothing.  A
 * generated password never reaches the log: it is shown on stdout when that is a terminal,
 * else written to `<keys_dir>/admin-password` (new file, mode 0600) and only the path logged.
 */
int server_run(const struct server_opts *o);

#endif
