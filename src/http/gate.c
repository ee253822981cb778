/*
 * gate.c — the /gate check and the policy it reads, swapped whole on reload under a rwlock
 * (a check holds the read side only while matching: no I/O, no allocation).  Every check is
 * counted by its decision (metrics.h); its log line, with the original method and URI, is
 * the router's (at debug: the proxy in front logs these requests already).
 */
#include "gate.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "reply.h"
#include "util.h"

struct gate {
    pthread_rwlock_t lock;
    struct policy *policy; /* NULL = deny everything */
    char *path;            /* NULL without a policy file */
    enum gate_headers headers;
};

kg_err gate_headers_parse(const char *s, enum gate_headers *out)
{
    static const struct {
        const char *name;
        enum gate_headers form;
    } names[] = {{"auto", GATE_HEADERS_AUTO},           {"original", GATE_HEADERS_ORIGINAL},
                 {"nginx", GATE_HEADERS_ORIGINAL},      {"envoy", GATE_HEADERS_ORIGINAL},
                 {"forwarded", GATE_HEADERS_FORWARDED}, {"traefik", GATE_HEADERS_FORWARDED},
                 {"caddy", GATE_HEADERS_FORWARDED}};
    for (size_t i = 0; s && i < KG_ARRAY_LEN(names); i++)
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].form;
            return KG_OK;
        }
    return KG_INVALID;
}

kg_err gate_new(const char *path, enum gate_headers headers, struct gate **out)
{
    struct gate *g = calloc(1, sizeof *g);
    if (!g) return KG_ENOMEM;
    g->headers = headers;
    pthread_rwlock_init(&g->lock, NULL);
    if (path && !(g->path = strdup(path))) {
        gate_free(g);
        return KG_ENOMEM;
    }
    kg_err rc = path ? gate_reload(g) : KG_OK;
    if (rc != KG_OK) {
        gate_free(g);
        return rc;
    }
    *out = g;
    return KG_OK;
}

void gate_free(struct gate *g)
{
    if (!g) return;
    policy_free(g->policy);
    pthread_rwlock_destroy(&g->lock);
    free(g->path);
    free(g);
}

kg_err gate_reload(struct gate *g)
{
    struct policy *fresh = NULL;
    char err[256] = "";
    if (!g->path) return KG_OK;
    kg_err rc = policy_load(g->path, &fresh, err, sizeof err);
    if (rc != KG_OK) {
        KG_LOG(LOG_ERR, "policy %s refused, the policy in force stays: %s", g->path, err);
        return rc;
    }
    pthread_rwlock_wrlock(&g->lock);
    struct policy *old = g->policy;
    g->policy = fresh;
    pthread_rwlock_unlock(&g->lock);
    policy_free(old);
    KG_LOG(LOG_NOTICE, "policy %s loaded: %zu rules", g->path, policy_rule_count(fresh));
    return KG_OK;
}

/* 1 for an HTTP method token (RFC 9110 tchar, 1 to 16 of them). */
static int method_ok(const char *m)
{
    size_t n = 0;
    if (!m) return 0;
    for (; m[n]; n++)
        if (n >= 16 || !(isalnum((unsigned char)m[n]) || strchr("!#$%&'*+-.^_`|~", m[n]))) return 0;
    return n > 0;
}

/* The four headers, in form order: 0-1 the original form, 2-3 the forwarded one. */
static const char *const form_headers[4] = {"X-Original-Method", "X-Original-URI",
                                            "X-Forwarded-Method", "X-Forwarded-Uri"};

/* Reads the original method and URI into *method and *uri, as g's setting allows.  Returns
 * NULL, or what is wrong with the request (then *method and *uri are unset). */
static const char *original_request(const struct gate *g, const struct http_req *req,
                                    const char **method, const char **uri)
{
    const char *v[4];
    int original = 0, forwarded = 0;
    for (size_t i = 0; i < 4; i++) {
        v[i] = http_header(req, form_headers[i]);
        if (v[i] && http_header_nth(req, form_headers[i], 1))
            return "a gate header is sent more than once";
        if (v[i]) *(i < 2 ? &original : &forwarded) = 1;
    }
    if (original && forwarded)
        return "both X-Original-* and X-Forwarded-Method/Uri are present: one is not the proxy's";
    if (g->headers == GATE_HEADERS_ORIGINAL && forwarded)
        return "X-Forwarded-Method/Uri are refused: the gate reads X-Original-* (--gate-headers)";
    if (g->headers == GATE_HEADERS_FORWARDED && original)
        return "X-Original-* are refused: the gate reads X-Forwarded-Method/Uri (--gate-headers)";
    size_t k = forwarded ? 2 : 0;
    *method = v[k];
    *uri = v[k + 1];
    return NULL;
}

void gate_check(struct call *c)
{
    struct app *a = c->app;
    struct gate *g = a->gate;
    const char *method = NULL, *uri = NULL;
    const char *wrong = original_request(g, c->req, &method, &uri);
    if (wrong) {
        metrics_gate(METRICS_GATE_BAD_REQUEST);
        reply_error(c->req, KG_INVALID, wrong);
        return;
    }
    c->orig_method = method;
    c->orig_uri = uri;
    if (!method_ok(method) || !uri || uri[0] != '/') {
        static const char *const need[] = {
            [GATE_HEADERS_AUTO] = "send the original request as X-Original-Method and "
                                  "X-Original-URI (or X-Forwarded-Method and X-Forwarded-Uri): "
                                  "a method token and a path",
            [GATE_HEADERS_ORIGINAL] = "send the original request as X-Original-Method and "
                                      "X-Original-URI: a method token and a path",
            [GATE_HEADERS_FORWARDED] = "send the original request as X-Forwarded-Method and "
                                       "X-Forwarded-Uri: a method token and a path"};
        metrics_gate(METRICS_GATE_BAD_REQUEST);
        reply_error(c->req, KG_INVALID, need[g->headers]);
        return;
    }
    const char *tok = access_bearer(http_header(c->req, "Authorization"));
    struct access acc;
    int64_t now = kg_now_ms();
    if (!tok || access_check(a, tok, strnlen(tok, KG_JWT_MAX + 1), now, &acc) != KG_OK) {
        if (tok && acc.claims.sub[0])
            view_token_count(a->view, acc.claims.sub, KG_USE_REFUSED_EXPIRED);
        metrics_gate(tok ? METRICS_GATE_INVALID_TOKEN : METRICS_GATE_MISSING_TOKEN);
        reply_unauthenticated(c->req, "the access token is missing, invalid, expired or revoked",
                              1);
        return;
    }
    memcpy(c->actor.id, acc.claims.sub, sizeof acc.claims.sub);
    if (admit_or_reply(c, acc.claims.sub, VIEW_GATE)) {
        metrics_gate(c->req->status == 429 ? METRICS_GATE_RATE_LIMITED : METRICS_GATE_DENY_ADDRESS);
        return;
    }

    char priv[KG_PRIV_MAX + 1] = "";
    pthread_rwlock_rdlock(&g->lock);
    const char *p = g->policy ? policy_match(g->policy, method, uri) : NULL;
    if (p) kg_strcpy(priv, sizeof priv, p);
    pthread_rwlock_unlock(&g->lock);
    if (!priv[0] || !view_allows(a->view, (const kg_role_id *)&acc.role_id, 1, priv)) {
        view_token_touch(a->view, acc.claims.sub, 0, KG_USE_REFUSED_PRIVILEGE, now);
        metrics_gate(priv[0] ? METRICS_GATE_DENY_PRIVILEGE : METRICS_GATE_DENY_POLICY);
        reply_error(c->req, KG_FORBIDDEN,
                    priv[0] ? "the token's role lacks the route's privilege"
                            : "no policy rule allows this route");
        return;
    }
    char role[KG_ROLE_NAME_MAX + 1] = "";
    view_role_name(a->view, acc.role_id, role);
    const char *headers[] = {"X-Keygate-Client-Id",
                             acc.claims.sub,
                             "X-Keygate-Role",
                             role,
                             "Cache-Control",
                             "no-store",
                             NULL};
    view_token_touch(a->view, acc.claims.sub, 0, KG_USE_GATE_ALLOWED, now);
    metrics_gate(METRICS_GATE_ALLOW);
    http_reply(c->req, 204, NULL, "", 0, headers);
}
