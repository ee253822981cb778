/*
 * gate.c — the /gate check and the policy it reads, swapped whole on reload under a rwlock
 * (a check holds the read side only while matching: no I/O, no allocation).
 */
#include "gate.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "log.h"
#include "policy.h"
#include "reply.h"
#include "util.h"

struct gate {
    pthread_rwlock_t lock;
    struct policy *policy; /* NULL = deny everything */
    char *path;            /* NULL without a policy file */
};

kg_err gate_new(const char *path, struct gate **out)
{
    struct gate *g = calloc(1, sizeof *g);
    if (!g) return KG_ENOMEM;
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
        if (n >= 16 || !(isalnum((unsigned char)m[n]) || strchr("!#$%&'*+-.^_`|~", m[n])))
            return 0;
    return n > 0;
}

void gate_check(struct call *c)
{
    struct app *a = c->app;
    struct gate *g = a->gate;
    const char *method = http_header(c->req, "X-Original-Method");
    const char *uri = http_header(c->req, "X-Original-URI");
    if (!method || !uri) {
        method = http_header(c->req, "X-Forwarded-Method");
        uri = http_header(c->req, "X-Forwarded-Uri");
    }
    if (!method_ok(method) || !uri || uri[0] != '/') {
        reply_error(c->req, KG_INVALID, "send the original request as X-Original-Method and "
                                        "X-Original-URI (or X-Forwarded-Method and X-Forwarded-Uri): "
                                        "a method token and a path");
        return;
    }
    const char *tok = access_bearer(http_header(c->req, "Authorization"));
    struct access acc;
    int64_t now = kg_now_ms();
    if (!tok || access_check(a, tok, strnlen(tok, KG_JWT_MAX + 1), now, &acc) != KG_OK) {
        reply_unauthenticated(c->req, "the access token is missing, invalid, expired or revoked", 1);
        return;
    }
    view_token_touch(a->view, acc.claims.sub, now);

    char priv[KG_PRIV_MAX + 1] = "";
    pthread_rwlock_rdlock(&g->lock);
    const char *p = g->policy ? policy_match(g->policy, method, uri) : NULL;
    if (p) kg_strcpy(priv, sizeof priv, p);
    pthread_rwlock_unlock(&g->lock);
    if (!priv[0] || !view_allows(a->view, (const kg_role_id *)&acc.role_id, 1, priv)) {
        reply_error(c->req, KG_FORBIDDEN, priv[0] ? "the token's role lacks the route's privilege"
                                                  : "no policy rule allows this route");
        return;
    }
    char role[KG_ROLE_NAME_MAX + 1] = "";
    view_role_name(a->view, acc.role_id, role);
    const char *headers[] = {"X-Keygate-Client-Id", acc.claims.sub, "X-Keygate-Role", role,
                             "Cache-Control", "no-store", NULL};
    http_reply(c->req, 204, NULL, "", 0, headers);
}
