/*
 * app.h — what a running keygate shares with every request: storage, the in-memory view,
 * the keys and the configuration; and who is acting.  app_open() opens it the one way the
 * server, the CLI and the fuzz drivers all use (app.c).
 */
#ifndef KG_APP_H
#define KG_APP_H

#include <stddef.h>
#include <stdint.h>

#include "jwt.h"
#include "keys.h"
#include "model.h"
#include "session.h"
#include "store.h"
#include "throttle.h"
#include "view.h"

struct gate;
struct proxy;
struct tcache;
struct vcache;
struct webhooks;

struct app_config {
    char issuer[KG_ISSUER_MAX + 1];   /* "iss" of access tokens */
    char audience[KG_ISSUER_MAX + 1]; /* "aud" of access tokens */
    int64_t access_token_ttl;         /* seconds */
    int64_t jwks_max_age;             /* seconds the JWKS may be cached (Cache-Control) */
    int64_t max_secret_lifetime;      /* seconds a new secret may live at most; 0 = no limit */
    int secure_cookies;               /* the issuer is https: cookies get Secure */
};

/* Every part is owned by the app from app_open() to app_close(); a request borrows them. */
struct app {
    struct store *st;  /* NULL without a store (app_opts.db) */
    struct view *view; /* NULL in the CLI, which reads the store directly */
    struct keys *keys;
    struct sessions *sessions; /* NULL in the CLI */
    struct throttle *throttle; /* NULL in the CLI */
    struct gate *gate;         /* NULL in the CLI */
    struct vcache *vcache;     /* NULL = verify every access token in full */
    struct tcache *tcache;     /* the API's token answers as text; NULL = none (the CLI) */
    struct proxy *proxy;       /* the trusted reverse proxies; NULL = none */
    struct webhooks *webhooks; /* serve's (server.c owns them); NULL = none */
    struct app_config cfg;
    _Atomic int store_down; /* the last sync with the store failed: serving from memory */
    const char *saved_view; /* app_opts.saved_view (borrowed: outlives the app) */
};

/* Who asks for a change: a user, a token, or the operator at the CLI (holds every role). */
struct actor {
    char id[KG_ACTOR_MAX + 1];  /* "u-…", "kgc_…" or "cli" */
    char addr[KG_ADDR_MAX + 1]; /* the request's source address; "" at the CLI */
    kg_role_id roles[KG_GRANTS_MAX];
    size_t nroles;
    int operator;
};

/* What app_open() opens. */
struct app_opts {
    const char *db;                    /* the store's URI; NULL = no store (and no view) */
    const char *db_shown;              /* the same as errors may show it (password masked) */
    const char *keys_dir;              /* where hash.key and the signing keys live; NULL = none */
    const struct keys_opts *keys_opts; /* keys_open()'s options; NULL = its defaults (the CLI) */
    /* 1: what answering requests needs too: the in-memory view (with a store), pane sessions,
     * the throttle, the verified-token cache, the gate and the trusted proxies; 0: the CLI */
    int serve;
    int64_t session_idle;         /* seconds a pane session lives unused (serve) */
    const char *policy;           /* the gate's route policy file; NULL = deny every route */
    const char *gate_headers;     /* --gate-headers; NULL = auto */
    const char *trusted_proxy;    /* --trusted-proxy CIDR[,CIDR…]; NULL = none */
    const char *forwarded_header; /* --forwarded-header; NULL = X-Forwarded-For */
    /* serve: the file the view starts from when it was saved from the store's data, and is
     * saved to by app_close() (view_save); NULL = none (a full load at every start) */
    const char *saved_view;
    struct app_config cfg;
};

/* Opens the parts o asks for into *a (zeroed first; o->cfg copied), in the order start-up has
 * always used: sessions, throttle and cache, trusted proxies, gate, store, keys, view.  On
 * failure everything opened is closed again, *a is zeroed, and err holds a sentence saying
 * which part failed and why ("cannot open the database …: IO"). */
kg_err app_open(const struct app_opts *o, struct app *a, char *err, size_t err_size);
/* Writes the view's pending last-access times, then closes every part; *a is zeroed.  Stop
 * whatever uses the app (HTTP server, background threads) first.  A zeroed app is a no-op. */
void app_close(struct app *a);

#endif
