/*
 * route.c — the route table (the whole HTTP surface on one screen), path matching, and
 * dispatch: what every route needs (authentication, its privilege, its body limit, its error
 * form) is a column of the table, enforced here once before the handler runs.  The request
 * core the handlers use is call.c; this is the only file that includes the handlers' headers.
 * Once a request is answered it is counted for /metrics (under its route's index in the
 * table) and logged, in one line (log.h: kg_log_request).
 *
 * Layout: table, matching, dispatch, counting and the request's line, /metrics.
 */
#include "route.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "call.h"
#include "gate.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "openapi.h"
#include "pane.h"
#include "proxy.h"
#include "reply.h"
#include "util.h"
#include "webhook.h"

/* AUTH_API: a bearer access token, or a pane session (with the CSRF token on writes).
 * AUTH_SESSION: a pane session only. */
enum auth { AUTH_NONE, AUTH_API, AUTH_SESSION };

/* QUERY_ANY: a repeated query parameter is let through (the gate reads no query, and a proxy
 * may pass its client's on, as Caddy's forward_auth does); every other route refuses one.
 * QUIET: the request's line is at debug, not info: routes that machines call all the time
 * (the gate, whose requests the proxy in front logs already and where a refusal storm would
 * flood the log; health checks; scrapes), counted in /metrics instead.  A 400 there (a proxy
 * sending the wrong headers, or a client spoofing them) is a warning, a 5xx an error.
 * OR_GRANT_OPTION: a caller without the route's privilege is let through when it holds some
 * privilege with grant option (privilege:grant: the handler's service call decides which). */
enum route_flag { QUERY_ANY = 1, QUIET = 2, OR_GRANT_OPTION = 4 };

typedef void (*route_fn)(struct call *c);

static void metrics_page(struct call *c);

struct route {
    const char *method;  /* "*" = any */
    const char *pattern; /* "{}" is one path parameter, optionally followed by ":verb" */
    route_fn fn;
    enum auth auth;
    const char *privilege; /* needed by the caller's active role set (AUTH_API); NULL = none */
    size_t body_max;       /* bytes of body accepted; a longer one is answered 413 */
    enum call_form form;   /* how errors are answered, here and in the handler (call_error) */
    unsigned flags;        /* enum route_flag */
};

/* Every route reads up to 64 KiB today; a route that should read less says so here. */
#define BODY (64 * 1024)
#define API CALL_FORM_API
#define OAUTH CALL_FORM_OAUTH
#define V1 "/public/api/v1"
/* clang-format off: one route a line, the whole surface on one screen */
static const struct route routes[] = {
    /* method, pattern, handler, auth, privilege, body limit, error form, flags */
    {"GET", "/healthz", api_health, AUTH_NONE, NULL, BODY, API, QUIET},
    {"POST", "/oauth/v2/token", oauth_token, AUTH_NONE, NULL, BODY, OAUTH, 0},
    {"POST", "/oauth/v2/introspect", oauth_introspect, AUTH_NONE, NULL, BODY, OAUTH,
     0}, /* client auth inside */
    {"POST", "/oauth/v2/revoke", oauth_revoke, AUTH_NONE, NULL, BODY, OAUTH, 0},
    {"GET", "/.well-known/oauth-authorization-server", oauth_metadata, AUTH_NONE, NULL, BODY, API,
     0},
    /* the same document: many client libraries discover only here (OpenID Connect's name) */
    {"GET", "/.well-known/openid-configuration", oauth_metadata, AUTH_NONE, NULL, BODY, API, 0},
    {"GET", "/.well-known/jwks.json", oauth_jwks, AUTH_NONE, NULL, BODY, API, 0},
    {"*", "/gate", gate_check, AUTH_NONE, NULL, BODY, API,
     QUERY_ANY | QUIET}, /* the bearer check is inside */
    /* Prometheus text; counts only (no IDs, no secrets), so unauthenticated like most exporters */
    {"GET", "/metrics", metrics_page, AUTH_NONE, NULL, BODY, API, QUIET},

    {"GET", "/", pane_root, AUTH_NONE, NULL, BODY, API, 0},
    {"GET", "/login", pane_login_page, AUTH_NONE, NULL, BODY, API, 0},
    {"POST", "/login", pane_login, AUTH_NONE, NULL, BODY, API, 0},
    {"POST", "/logout", pane_logout, AUTH_SESSION, NULL, BODY, API, 0},
    {"GET", "/pane/session", pane_session, AUTH_SESSION, NULL, BODY, API, 0},
    {"GET", "/api-auth-token", pane_app_page, AUTH_NONE, NULL, BODY, API, 0},
    {"GET", "/api-auth-token/{}", pane_app_page, AUTH_NONE, NULL, BODY, API, 0}, /* one token */
    {"GET", "/overview", pane_app_page, AUTH_NONE, NULL, BODY, API, 0},
    {"GET", "/roles", pane_app_page, AUTH_NONE, NULL, BODY, API, 0},
    {"GET", "/users", pane_app_page, AUTH_NONE, NULL, BODY, API, 0},
    {"GET", "/audit-log", pane_app_page, AUTH_NONE, NULL, BODY, API, 0},
    {"GET", "/webhooks", pane_app_page, AUTH_NONE, NULL, BODY, API, 0},
    {"GET", "/assets/{}", pane_asset, AUTH_NONE, NULL, BODY, API, 0},
    {"GET", "/assets/{}/{}", pane_asset, AUTH_NONE, NULL, BODY, API,
     0}, /* the pane's modules: lib/, pages/ */

    /* the API's contract (doc/openapi.json), public like the metadata of the OAuth server */
    {"GET", V1 "/openapi.json", openapi_document, AUTH_NONE, NULL, BODY, API, 0},
    {"GET", V1 "/apiToken", api_token_list, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
    {"POST", V1 "/apiToken", api_token_create, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
    {"GET", V1 "/apiToken/{}", api_token_get, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
    {"PATCH", V1 "/apiToken/{}", api_token_update, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
    {"POST", V1 "/apiToken/{}:revoke", api_token_revoke, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API,
     0},
    /* a secret scanner's report: unauthenticated, as GitHub's secret scanning calls it */
    {"POST", V1 "/apiToken:reportLeaked", api_report_leaked, AUTH_NONE, NULL, BODY, API, 0},
    {"POST", V1 "/apiToken/{}:rotate", api_token_rotate, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API,
     0},
    {"GET", V1 "/apiToken/{}/usage", api_token_usage, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
    {"GET", V1 "/usage", api_usage, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
    {"GET", V1 "/apiToken/{}/secret", api_secret_list, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API,
     0},
    {"POST", V1 "/apiToken/{}/secret", api_secret_add, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API,
     0},
    {"DELETE", V1 "/apiToken/{}/secret/{}", api_secret_delete, AUTH_API, PRIV_MANAGE_SECURITY, BODY,
     API, 0},

    {"GET", V1 "/role", api_role_list, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
    {"POST", V1 "/role", api_role_create, AUTH_API, PRIV_CREATE_ROLE, BODY, API, 0},
    {"GET", V1 "/role/{}", api_role_get, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
    {"PATCH", V1 "/role/{}", api_role_update, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
    {"DELETE", V1 "/role/{}", api_role_delete, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
    {"GET", V1 "/role/{}/rolegrant", api_role_grant_list, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API,
     0},
    {"GET", V1 "/role/{}/privilege", api_privilege_list, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API,
     0},
    {"POST", V1 "/role/{}/privilege:grant", api_privilege_grant, AUTH_API, PRIV_MANAGE_SECURITY,
     BODY, API, OR_GRANT_OPTION},
    {"POST", V1 "/role/{}/privilege:revoke", api_privilege_revoke, AUTH_API, PRIV_MANAGE_SECURITY,
     BODY, API, 0},

    {"GET", V1 "/account", api_account_get, AUTH_API, NULL, BODY, API, 0},
    {"GET", V1 "/auditLog", api_audit_list, AUTH_API, PRIV_VIEW_AUDIT_LOG, BODY, API, 0},
    {"GET", V1 "/webhook", api_webhook_list, AUTH_API, PRIV_VIEW_AUDIT_LOG, BODY, API, 0},

    {"GET", V1 "/user", api_user_list, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
    {"POST", V1 "/user", api_user_create, AUTH_API, PRIV_CREATE_USER, BODY, API, 0},
    {"GET", V1 "/user/{}", api_user_get, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
    {"PATCH", V1 "/user/{}", api_user_update, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
    {"DELETE", V1 "/user/{}", api_user_delete, AUTH_API, PRIV_MANAGE_SECURITY, BODY, API, 0},
};
/* clang-format on */

/* Requests are counted under their route's row; one more index counts paths that match none. */
#define UNMATCHED KG_ARRAY_LEN(routes)
_Static_assert(KG_ARRAY_LEN(routes) < METRICS_ROUTES_MAX, "raise METRICS_ROUTES_MAX");

size_t route_body_max(void)
{
    size_t max = 0;
    for (size_t i = 0; i < KG_ARRAY_LEN(routes); i++)
        if (routes[i].body_max > max) max = routes[i].body_max;
    return max;
}

/* ---- matching ------------------------------------------------------------------------ */

/* 1 when path matches pattern; path parameters are copied into c->params. */
static int match(const char *pattern, const char *path, struct call *c)
{
    size_t np = 0;
    while (*pattern && *path) {
        if (pattern[0] == '{' && pattern[1] == '}') {
            pattern += 2;
            const char *suffix_end = strchr(pattern, '/');
            size_t sl = suffix_end ? (size_t)(suffix_end - pattern) : strlen(pattern);
            const char *seg_end = strchr(path, '/');
            size_t seg = seg_end ? (size_t)(seg_end - path) : strlen(path);
            if (seg <= sl || memcmp(path + seg - sl, pattern, sl) != 0) return 0;
            size_t vl = seg - sl;
            if (vl > KG_PARAM_MAX || np >= 2 || memchr(path, ':', vl)) return 0;
            memcpy(c->params[np], path, vl);
            c->params[np++][vl] = '\0';
            pattern += sl;
            path += seg;
            continue;
        }
        if (*pattern != *path) return 0;
        pattern++, path++;
    }
    return *pattern == '\0' && *path == '\0';
}

/* ---- dispatch ------------------------------------------------------------------------ */

/* Behind a trusted proxy the client is the address its forwarding header names: req->peer
 * becomes that, for throttling, the audit log and the log lines.  Returns -1 for more header
 * lines than PROXY_LINES_MAX: the right-most ones are the ones that count, so none is read
 * and the request is refused. */
#define PROXY_LINES_MAX 16
static int client_address(const struct proxy *p, struct http_req *req)
{
    if (!proxy_trusts(p, req->peer)) return 0;
    const char *name = proxy_header_name(p), *v[PROXY_LINES_MAX];
    size_t n = 0;
    while (n < PROXY_LINES_MAX && (v[n] = http_header_nth(req, name, n)) != NULL)
        n++;
    if (n == PROXY_LINES_MAX && http_header_nth(req, name, n)) return -1;
    char client[PROXY_ADDR_MAX];
    proxy_client(p, req->peer, v, n, client);
    kg_strcpy(req->peer, sizeof req->peer, client);
    return 0;
}

/* The caller's active roles lack the route's privilege: 403 with an ErrorInfo naming it
 * (reason MISSING_PRIVILEGE, metadata {"privilege": …}), and a refused change is an audit
 * event. */
static void refuse_privilege(struct call *c, const char *privilege)
{
    struct http_req *req = c->req;
    char msg[160];
    snprintf(msg, sizeof msg, "the caller's role lacks the %s privilege", privilege);
    if (strcmp(req->method, "GET") != 0) {
        char what[200], path[160];
        kg_log_clean(req->path, path, sizeof path);
        snprintf(what, sizeof what, "%s %s needs %s", req->method, path, privilege);
        audit_actor(c->app, &c->actor, "request", c->params[0], KG_FORBIDDEN, what);
    }
    const char *const metadata[] = {"privilege", privilege, NULL};
    reply_reason_error(req, KG_FORBIDDEN, msg, "MISSING_PRIVILEGE", metadata);
}

/* Runs r's checks and handler for c; r NULL: no route of this method, known the first route
 * of this path (any method) or NULL. */
static void dispatch(struct call *c, const struct route *r, const struct route *known)
{
    struct http_req *req = c->req;
    if (c->app->proxy && client_address(c->app->proxy, req) != 0) {
        call_error(c, KG_INVALID, "too many forwarding header lines");
        return;
    }
    if (!r) {
        if (known && c->form == CALL_FORM_OAUTH)
            reply_oauth_error(req, KG_BADMETHOD, "invalid_request", "use POST");
        else
            reply_error(req, known ? KG_BADMETHOD : KG_NOTFOUND,
                        known ? "method not allowed on this resource" : "no such resource");
        return;
    }
    if (req->body_too_big || req->body_len > r->body_max) {
        call_error(c, KG_TOOBIG, "the request body is too large");
        return;
    }
    if (req->query_repeated && !(r->flags & QUERY_ANY)) {
        call_error(c, KG_INVALID, "a query parameter is repeated (or there are too many)");
        return;
    }
    if (r->auth == AUTH_SESSION && session_or_reply(c) != 0) return;
    if (r->auth == AUTH_API) {
        if (bearer_or_reply(c) != 0) return;
        if (r->privilege &&
            !view_allows(c->app->view, c->actor.roles, c->actor.nroles, r->privilege) &&
            !((r->flags & OR_GRANT_OPTION) &&
              view_grants_any(c->app->view, c->actor.roles, c->actor.nroles))) {
            refuse_privilege(c, r->privilege);
            return;
        }
    }
    r->fn(c);
}

/* ---- counting and the request's line ------------------------------------------------- */

/* The request's one log line: at info, or for a QUIET route at debug; a 5xx at error. */
static void log_request(const struct call *c, const struct route *known, uint64_t ns)
{
    const struct http_req *req = c->req;
    int status = req->replied ? req->status : 500; /* the adapter answers 500 for none */
    int level = LOG_INFO;
    if (status >= 500)
        level = LOG_ERR;
    else if (known && (known->flags & QUIET))
        level = status == 400 ? LOG_WARNING : LOG_DEBUG;
    if (level > kg_log_level) return;
    struct kg_log_req line = {.req = req->id,
                              .method = req->method,
                              .path = req->path,
                              .status = status,
                              .ns = ns,
                              .bytes = req->reply_bytes,
                              .client = req->peer,
                              .actor = c->actor.id,
                              .orig_method = c->orig_method,
                              .orig_uri = c->orig_uri,
                              .error = reply_note(req)};
    kg_log_request(level, &line);
}

void route_request(struct http_req *req, void *ctx)
{
    uint64_t start = metrics_now_ns();
    struct call c;
    memset(&c, 0, sizeof c);
    c.app = ctx;
    c.req = req;
    /* r: the route of this path and method; known: the first of this path (any method), whose
     * index counts the path's requests whatever their method. */
    const struct route *r = NULL, *known = NULL;
    for (size_t i = 0; i < KG_ARRAY_LEN(routes) && !r; i++) {
        if (!match(routes[i].pattern, req->path, &c)) continue;
        if (!known) known = &routes[i];
        if (strcmp(routes[i].method, req->method) == 0 || strcmp(routes[i].method, "*") == 0)
            r = &routes[i];
    }
    c.form = known ? known->form : CALL_FORM_API;
    dispatch(&c, r, known);
    uint64_t ns = metrics_now_ns() - start;
    metrics_request(known ? (size_t)(known - routes) : UNMATCHED, metrics_method_of(req->method),
                    req->replied ? req->status : 500, ns);
    log_request(&c, known, ns);
    req->also[0] = NULL; /* its values are c's, gone with this frame (an answer the adapter
                          * gives after a handler that sent none must not read them) */
}

/* ---- /metrics ------------------------------------------------------------------------ */

/* GET /metrics: the counts (metrics.h), the view's tokens by status, the signing algorithm. */
static void metrics_page(struct call *c)
{
    struct app *a = c->app;
    /* a route's label is its pattern, under the index of the first row with that pattern */
    const char *names[KG_ARRAY_LEN(routes)];
    for (size_t i = 0; i < KG_ARRAY_LEN(routes); i++) {
        names[i] = routes[i].pattern;
        for (size_t j = 0; j < i && names[i]; j++)
            if (strcmp(routes[j].pattern, routes[i].pattern) == 0) names[i] = NULL;
    }
    struct metrics_scrape s = {.routes = names,
                               .nroutes = KG_ARRAY_LEN(routes),
                               .tokens_active = -1,
                               .tokens_revoked = -1};
    if (a->view) {
        size_t active, revoked;
        view_token_counts(a->view, &active, &revoked);
        s.tokens_active = (int64_t)active;
        s.tokens_revoked = (int64_t)revoked;
    }
    char kid[KG_KID_MAX + 1];
    enum keys_alg alg;
    if (a->keys) {
        keys_signer(a->keys, kid, &alg);
        s.signing_alg = keys_alg_name(alg);
    }
    struct metrics_webhook hooks[WEBHOOKS_MAX];
    for (size_t i = 0; i < webhooks_count(a->webhooks) && i < WEBHOOKS_MAX; i++) {
        struct webhook_counts w;
        webhooks_counts(a->webhooks, i, &w);
        hooks[i] = (struct metrics_webhook){w.id, w.delivered, w.retried, w.failed, w.pending};
        s.nwebhooks = i + 1;
    }
    s.webhooks = hooks;
    char *text = NULL;
    size_t len = 0;
    if (metrics_render(&s, &text, &len) != KG_OK) {
        reply_error(c->req, KG_ENOMEM, "out of memory");
        return;
    }
    http_reply(c->req, 200, METRICS_CONTENT_TYPE, text, len,
               (const char *const[]){"Cache-Control", "no-store", NULL});
    free(text);
}
