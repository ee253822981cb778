/*
 * app.h — what a running keygate shares with every request: storage, the in-memory view,
 * the keys and the configuration; and who is acting.
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
struct vcache;

struct app_config {
    char issuer[KG_ISSUER_MAX + 1];   /* "iss" of access tokens */
    char audience[KG_ISSUER_MAX + 1]; /* "aud" of access tokens */
    int64_t access_token_ttl;         /* seconds */
    int64_t jwks_max_age;             /* seconds the JWKS may be cached (Cache-Control) */
    int secure_cookies;               /* the issuer is https: cookies get Secure */
};

struct app {
    struct store *st;  /* borrowed */
    struct view *view; /* borrowed; NULL in the CLI, which reads the store directly */
    struct keys *keys; /* borrowed */
    struct sessions *sessions; /* borrowed; NULL in the CLI */
    struct throttle *throttle; /* borrowed; NULL in the CLI */
    struct gate *gate;         /* borrowed; NULL in the CLI */
    struct vcache *vcache;     /* borrowed; NULL = verify every access token in full */
    struct proxy *proxy;       /* borrowed; the trusted reverse proxies; NULL = none */
    struct app_config cfg;
    _Atomic int store_down;    /* the last sync with the store failed: serving from memory */
};

/* Who asks for a change: a user, a token, or the operator at the CLI (holds every role). */
struct actor {
    char id[KG_ACTOR_MAX + 1]; /* "u-…", "kgc_…" or "cli" */
    char addr[KG_ADDR_MAX + 1]; /* the request's source address; "" at the CLI */
    kg_role_id roles[KG_GRANTS_MAX];
    size_t nroles;
    int operator;
};

#endif
