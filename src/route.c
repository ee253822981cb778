/*
 * route.c — the route table (the whole HTTP surface on one screen), path matching, bearer
 * authentication, privilege checks, and the request-parsing helpers handlers share.
 *
 * Layout: table, matching, authentication, route_request(), helpers.
 */
#include "route.h"

#include <sodium.h>
#include <strings.h>
#include <string.h>

#include "access.h"
#include "api.h"
#include "audit.h"
#include "gate.h"
#include "oauth.h"
#include "pane.h"
#include "ids.h"
#include "log.h"
#include "proxy.h"
#include "reply.h"
#include "util.h"

/* AUTH_API: a bearer access token, or a pane session (with the CSRF token on writes).
 * AUTH_SESSION: a pane session only. */
enum auth { AUTH_NONE, AUTH_API, AUTH_SESSION };

struct route {
    const char *method; /* "*" = any */
    const char *pattern; /* "{}" is one path parameter, optionally followed by ":verb" */
    route_fn fn;
    enum auth auth;
    const char *privilege; /* needed by the caller's active role set; NULL = none */
};

#define V1 "/public/api/v1"
static const struct route routes[] = {
    {"GET", "/healthz", api_health, AUTH_NONE, NULL},
    {"POST", "/oauth/v2/token", oauth_token, AUTH_NONE, NULL},
    {"POST", "/oauth/v2/introspect", oauth_introspect, AUTH_NONE, NULL}, /* client auth inside */
    {"POST", "/oauth/v2/revoke", oauth_revoke, AUTH_NONE, NULL},
    {"GET", "/.well-known/oauth-authorization-server", oauth_metadata, AUTH_NONE, NULL},
    /* the same document: many client libraries discover only here (OpenID Connect's name) */
    {"GET", "/.well-known/openid-configuration", oauth_metadata, AUTH_NONE, NULL},
    {"GET", "/.well-known/jwks.json", oauth_jwks, AUTH_NONE, NULL},
    {"*", "/gate", gate_check, AUTH_NONE, NULL}, /* any method; the bearer check is inside */

    {"GET", "/", pane_root, AUTH_NONE, NULL},
    {"GET", "/login", pane_login_page, AUTH_NONE, NULL},
    {"POST", "/login", pane_login, AUTH_NONE, NULL},
    {"POST", "/logout", pane_logout, AUTH_SESSION, NULL},
    {"GET", "/pane/session", pane_session, AUTH_SESSION, NULL},
    {"GET", "/api-auth-token", pane_app_page, AUTH_NONE, NULL},
    {"GET", "/roles", pane_app_page, AUTH_NONE, NULL},
    {"GET", "/users", pane_app_page, AUTH_NONE, NULL},
    {"GET", "/audit-log", pane_app_page, AUTH_NONE, NULL},
    {"GET", "/assets/{}", pane_asset, AUTH_NONE, NULL},
    {"GET", "/assets/{}/{}", pane_asset, AUTH_NONE, NULL}, /* the pane's modules: lib/, pages/ */

    {"GET", V1 "/apiToken", api_token_list, AUTH_API, "ManageSecurity"},
    {"POST", V1 "/apiToken", api_token_create, AUTH_API, "ManageSecurity"},
    {"GET", V1 "/apiToken/{}", api_token_get, AUTH_API, "ManageSecurity"},
    {"POST", V1 "/apiToken/{}:revoke", api_token_revoke, AUTH_API, "ManageSecurity"},

    {"GET", V1 "/role", api_role_list, AUTH_API, "ManageSecurity"},
    {"POST", V1 "/role", api_role_create, AUTH_API, "CreateRole"},
    {"GET", V1 "/role/{}", api_role_get, AUTH_API, "ManageSecurity"},
    {"PATCH", V1 "/role/{}", api_role_update, AUTH_API, "ManageSecurity"},
    {"DELETE", V1 "/role/{}", api_role_delete, AUTH_API, "ManageSecurity"},
    {"GET", V1 "/role/{}/privilege", api_privilege_list, AUTH_API, "ManageSecurity"},
    {"POST", V1 "/role/{}/privilege:grant", api_privilege_grant, AUTH_API, "ManageSecurity"},
    {"POST", V1 "/role/{}/privilege:revoke", api_privilege_revoke, AUTH_API, "ManageSecurity"},

    {"GET", V1 "/auditLog", api_audit_list, AUTH_API, "ViewAuditLog"},

    {"GET", V1 "/user", api_user_list, AUTH_API, "ManageSecurity"},
    {"POST", V1 "/user", api_user_create, AUTH_API, "CreateUser"},
    {"GET", V1 "/user/{}", api_user_get, AUTH_API, "ManageSecurity"},
    {"PATCH", V1 "/user/{}", api_user_update, AUTH_API, "ManageSecurity"},
    {"DELETE", V1 "/user/{}", api_user_delete, AUTH_API, "ManageSecurity"},
};

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

/* ---- authentication ------------------------------------------------------------------ */

int session_or_reply(struct call *c)
{
    struct app *a = c->app;
    struct session_info si;
    struct kg_user u;
    const char *id = http_cookie(c->req, KG_SESSION_COOKIE);
    if (!id || !a->sessions || sessions_get(a->sessions, id, kg_now_ms(), &si) != KG_OK) {
        reply_error(c->req, KG_UNAUTHENTICATED, id ? "your session has expired; sign in again"
                                                   : "sign in first");
        return -1;
    }
    if (store_user_get(a->st, si.user_id, &u) != KG_OK) {
        sessions_end(a->sessions, id);
        reply_error(c->req, KG_UNAUTHENTICATED, "your session has ended; sign in again");
        return -1;
    }
    /* Writes must prove they come from the pane: the CSRF token is in the page, not a cookie. */
    int write = strcmp(c->req->method, "GET") != 0 && strcmp(c->req->method, "HEAD") != 0;
    const char *csrf = http_header(c->req, "X-CSRF-Token");
    if (write && (!csrf || strlen(csrf) != KG_SESSION_ID_LEN ||
                  sodium_memcmp(csrf, si.csrf, KG_SESSION_ID_LEN) != 0)) {
        reply_error(c->req, KG_FORBIDDEN, "missing or wrong CSRF token; reload the page");
        return -1;
    }
    memcpy(c->actor.id, u.user_id, sizeof u.user_id);
    kg_strcpy(c->actor.addr, sizeof c->actor.addr, c->req->peer);
    memcpy(c->actor.roles, u.roles, u.nroles * sizeof *u.roles);
    c->actor.nroles = u.nroles;
    memcpy(c->csrf, si.csrf, sizeof si.csrf);
    return 0;
}

/* Authenticates "Authorization: Bearer <access token>", or else a pane session, into
 * c->actor. */
static int bearer_or_reply(struct call *c)
{
    struct app *a = c->app;
    const char *h = http_header(c->req, "Authorization");
    if (!h && http_cookie(c->req, KG_SESSION_COOKIE)) return session_or_reply(c);
    const char *tok = access_bearer(h);
    if (!tok) {
        reply_error(c->req, KG_UNAUTHENTICATED, "send an access token: Authorization: Bearer <token>");
        return -1;
    }
    struct access acc;
    int64_t now = kg_now_ms();
    if (access_check(a, tok, strnlen(tok, KG_JWT_MAX + 1), now, &acc) != KG_OK) {
        reply_error(c->req, KG_UNAUTHENTICATED, "the access token is invalid, expired or revoked");
        return -1;
    }
    view_token_touch(a->view, acc.claims.sub, now);
    memcpy(c->actor.id, acc.claims.sub, sizeof acc.claims.sub);
    kg_strcpy(c->actor.addr, sizeof c->actor.addr, c->req->peer);
    memcpy(c->actor.roles[0], acc.role_id, sizeof acc.role_id);
    c->actor.nroles = 1;
    return 0;
}

/* ---- dispatch ------------------------------------------------------------------------ */

/* An error found before any handler ran: the OAuth form under /oauth/, the API's elsewhere. */
static void reply_early(struct http_req *req, kg_err rc, const char *msg)
{
    if (strncmp(req->path, "/oauth/", 7) == 0) reply_oauth_error(req, rc, NULL, msg);
    else reply_error(req, rc, msg);
}

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
    while (n < PROXY_LINES_MAX && (v[n] = http_header_nth(req, name, n)) != NULL) n++;
    if (n == PROXY_LINES_MAX && http_header_nth(req, name, n)) return -1;
    char client[PROXY_ADDR_MAX];
    proxy_client(p, req->peer, v, n, client);
    kg_strcpy(req->peer, sizeof req->peer, client);
    return 0;
}

void route_request(struct http_req *req, void *ctx)
{
    struct call c;
    memset(&c, 0, sizeof c);
    c.app = ctx;
    c.req = req;
    if (c.app->proxy && client_address(c.app->proxy, req) != 0) {
        reply_early(req, KG_INVALID, "too many forwarding header lines");
        return;
    }
    const struct route *r = NULL;
    int path_known = 0;
    for (size_t i = 0; i < KG_ARRAY_LEN(routes) && !r; i++) {
        if (!match(routes[i].pattern, req->path, &c)) continue;
        path_known = 1;
        if (strcmp(routes[i].method, req->method) == 0 || strcmp(routes[i].method, "*") == 0)
            r = &routes[i];
    }
    if (!r) {
        if (path_known && strncmp(req->path, "/oauth/", 7) == 0)
            reply_oauth_error(req, KG_BADMETHOD, "invalid_request", "use POST");
        else
            reply_error(req, path_known ? KG_BADMETHOD : KG_NOTFOUND,
                        path_known ? "method not allowed on this resource" : "no such resource");
        return;
    }
    if (req->body_too_big) {
        reply_early(req, KG_TOOBIG, "the request body is too large");
        return;
    }
    /* The gate reads no query, and a proxy may pass its client's on (Caddy's forward_auth
     * does): only the other routes refuse a repeated parameter. */
    if (req->query_repeated && r->fn != gate_check) {
        reply_early(req, KG_INVALID, "a query parameter is repeated (or there are too many)");
        return;
    }
    if (r->auth == AUTH_SESSION && session_or_reply(&c) != 0) return;
    if (r->auth == AUTH_API) {
        if (bearer_or_reply(&c) != 0) return;
        if (r->privilege && !view_allows(c.app->view, c.actor.roles, c.actor.nroles, r->privilege)) {
            char msg[160];
            snprintf(msg, sizeof msg, "the caller's role lacks the %s privilege", r->privilege);
            if (strcmp(req->method, "GET") != 0) { /* a refused change is an audit event */
                char what[200], path[160];
                kg_log_clean(req->path, path, sizeof path);
                snprintf(what, sizeof what, "%s %s needs %s", req->method, path, r->privilege);
                audit_actor(c.app, &c.actor, "request", c.params[0], KG_FORBIDDEN, what);
            }
            reply_error(req, KG_FORBIDDEN, msg);
            return;
        }
    }
    r->fn(&c);
    if (LOG_DEBUG <= kg_log_level) {
        char path[160];
        kg_log_clean(req->path, path, sizeof path);
        KG_LOG_REQ(LOG_DEBUG, req->id, "%s %s by %s", req->method, path, c.actor.id[0] ? c.actor.id : "-");
    }
}

/* ---- helpers ------------------------------------------------------------------------- */

int json_body_or_reply(struct call *c, const char *const *allowed, json_t **out)
{
    const char *ct = http_header(c->req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
        reply_error(c->req, KG_INVALID, "send a JSON body with Content-Type: application/json");
        return -1;
    }
    json_error_t err;
    json_t *o = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        reply_error(c->req, KG_INVALID, "the body is not a JSON object");
        return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) {
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++) ok = strcmp(key, allowed[i]) == 0;
        if (!ok) {
            char msg[160];
            char shown[41];
            size_t n = strnlen(key, sizeof shown - 1);
            memcpy(shown, key, n);
            shown[n] = '\0';
            for (size_t i = 0; i < n; i++)
                if ((unsigned char)shown[i] < 0x20 || (unsigned char)shown[i] >= 0x7f) shown[i] = '?';
            snprintf(msg, sizeof msg, "unknown field \"%s\"", shown);
            json_decref(o);
            reply_error(c->req, KG_INVALID, msg);
            return -1;
        }
    }
    *out = o;
    return 0;
}

int json_string_or_reply(struct call *c, json_t *obj, const char *key, int required,
                         const char **out)
{
    json_t *v = json_object_get(obj, key);
    char msg[128];
    *out = NULL;
    if (!v && !required) return 0;
    if (v && json_is_string(v)) {
        *out = json_string_value(v);
        return 0;
    }
    snprintf(msg, sizeof msg, v ? "%s must be a string" : "%s is required", key);
    reply_error(c->req, KG_INVALID, msg);
    return -1;
}

int json_role_refs_or_reply(struct call *c, json_t *obj, const char *key,
                            kg_role_id ids[KG_GRANTS_MAX], size_t *n, int *present)
{
    json_t *arr = json_object_get(obj, key), *item;
    size_t i;
    *n = 0;
    *present = arr != NULL;
    if (!arr) return 0;
    if (!json_is_array(arr) || json_array_size(arr) > KG_GRANTS_MAX) goto bad;
    json_array_foreach(arr, i, item) {
        const char *id = json_string_value(json_object_get(item, "roleId"));
        if (!json_is_object(item) || !id || !ids_role_id_valid(id)) goto bad;
        memcpy(ids[i], id, sizeof ids[i]);
        *n = i + 1;
    }
    return 0;
bad:
    reply_error(c->req, KG_INVALID, "directlyGrantedRoles must be a list of at most 32 "
                                    "{\"roleId\":\"r-0123456789\"}");
    return -1;
}

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

int page_or_reply(struct call *c, size_t *size, int64_t *cursor)
{
    const char *ps = http_query(c->req, "pageSize"), *pt = http_query(c->req, "pageToken");
    int64_t v = KG_PAGE_DEFAULT;
    *cursor = 0;
    if (ps && kg_parse_int64(ps, 1, KG_PAGE_MAX, &v) != KG_OK) {
        reply_error(c->req, KG_INVALID, "pageSize must be a whole number from 1 to 1000");
        return -1;
    }
    *size = (size_t)v;
    if (pt && *pt) {
        unsigned char raw[9];
        size_t n = 0;
        if (strlen(pt) > 16 ||
            sodium_base642bin(raw, sizeof raw, pt, strlen(pt), NULL, &n, NULL, B64) != 0 ||
            n != 9 || raw[0] != 'k') {
            reply_error(c->req, KG_INVALID, "pageToken is not one this server gave");
            return -1;
        }
        uint64_t s = 0;
        for (int i = 1; i < 9; i++) s = (s << 8) | raw[i];
        if (s == 0 || s > INT64_MAX) {
            reply_error(c->req, KG_INVALID, "pageToken is not one this server gave");
            return -1;
        }
        *cursor = (int64_t)s;
    }
    return 0;
}

void route_page_token(int64_t cursor, char tok[24])
{
    tok[0] = '\0';
    if (cursor > 0) {
        unsigned char raw[9] = {'k'};
        for (int i = 8; i >= 1; i--, cursor >>= 8) raw[i] = (unsigned char)(cursor & 0xff);
        sodium_bin2base64(tok, 24, raw, sizeof raw, B64);
    }
}

void reply_page(struct call *c, json_t *result, int64_t cursor)
{
    char tok[24];
    route_page_token(cursor, tok);
    if (!result) {
        reply_error(c->req, KG_ENOMEM, "out of memory");
        return;
    }
    reply_json(c->req, 200, json_pack("{s:s, s:o}", "nextPageToken", tok, "result", result));
}
