/*
 * call.c — the request core (call.h): errors in the route's form, session and bearer
 * authentication, and the request-parsing helpers handlers share.
 *
 * Layout: errors, authentication, helpers.
 */
#include "call.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "audit.h"
#include "ids.h"
#include "metrics.h"
#include "reply.h"
#include "util.h"

/* ---- errors -------------------------------------------------------------------------- */

void call_error(struct call *c, kg_err rc, const char *msg)
{
    if (c->form == CALL_FORM_OAUTH)
        reply_oauth_error(c->req, rc, NULL, msg);
    else
        reply_error(c->req, rc, msg);
}

void call_throttled(struct call *c, int64_t wait_s, const char *what)
{
    /* the OAuth endpoints throttle client authentications; the pane, sign-ins */
    metrics_throttled(c->form == CALL_FORM_OAUTH ? METRICS_THROTTLE_CLIENT_AUTH
                                                 : METRICS_THROTTLE_SIGN_IN);
    reply_throttled(c->req, c->form == CALL_FORM_OAUTH, wait_s, what);
}

/* ---- authentication ------------------------------------------------------------------ */

int session_or_reply(struct call *c)
{
    struct app *a = c->app;
    struct session_info si;
    struct kg_user u;
    const char *id = http_cookie(c->req, KG_SESSION_COOKIE);
    if (!id || !a->sessions || sessions_get(a->sessions, id, kg_now_ms(), &si) != KG_OK) {
        reply_reason_error(c->req, KG_UNAUTHENTICATED,
                           id ? "your session has expired; sign in again" : "sign in first",
                           id ? "SESSION_EXPIRED" : "CREDENTIALS_MISSING", NULL);
        return -1;
    }
    if (store_user_get(a->st, si.user_id, &u) != KG_OK ||
        !session_password_current(&si, u.password_hash)) {
        sessions_end(a->sessions, id);
        reply_reason_error(c->req, KG_UNAUTHENTICATED, "your session has ended; sign in again",
                           "SESSION_ENDED", NULL);
        return -1;
    }
    /* Writes must prove they come from the pane: the CSRF token is in the page, not a cookie. */
    int write = strcmp(c->req->method, "GET") != 0 && strcmp(c->req->method, "HEAD") != 0;
    const char *csrf = http_header(c->req, "X-CSRF-Token");
    if (write && (!csrf || strlen(csrf) != KG_SESSION_ID_LEN ||
                  sodium_memcmp(csrf, si.csrf, KG_SESSION_ID_LEN) != 0)) {
        reply_reason_error(c->req, KG_FORBIDDEN, "missing or wrong CSRF token; reload the page",
                           "CSRF_TOKEN_INVALID", NULL);
        return -1;
    }
    memcpy(c->actor.id, u.user_id, sizeof u.user_id);
    kg_strcpy(c->actor.addr, sizeof c->actor.addr, c->req->peer);
    memcpy(c->actor.roles, u.roles, u.nroles * sizeof *u.roles);
    c->actor.nroles = u.nroles;
    memcpy(c->csrf, si.csrf, sizeof si.csrf);
    return 0;
}

int bearer_or_reply(struct call *c)
{
    struct app *a = c->app;
    const char *h = http_header(c->req, "Authorization");
    if (!h && http_cookie(c->req, KG_SESSION_COOKIE)) return session_or_reply(c);
    const char *tok = access_bearer(h);
    if (!tok) {
        reply_reason_error(c->req, KG_UNAUTHENTICATED,
                           "send an access token: Authorization: Bearer <token>",
                           "CREDENTIALS_MISSING", NULL);
        return -1;
    }
    struct access acc;
    int64_t now = kg_now_ms();
    if (access_check(a, tok, strnlen(tok, KG_JWT_MAX + 1), now, &acc) != KG_OK) {
        if (acc.claims.sub[0]) view_token_count(a->view, acc.claims.sub, KG_USE_REFUSED_EXPIRED);
        reply_reason_error(c->req, KG_UNAUTHENTICATED,
                           "the access token is invalid, expired or revoked",
                           "ACCESS_TOKEN_INVALID", NULL);
        return -1;
    }
    if (admit_or_reply(c, acc.claims.sub, VIEW_API)) return -1;
    view_token_touch(a->view, acc.claims.sub, 0, KG_USE_API_CALL, now);
    memcpy(c->actor.id, acc.claims.sub, sizeof acc.claims.sub);
    kg_strcpy(c->actor.addr, sizeof c->actor.addr, c->req->peer);
    memcpy(c->actor.roles[0], acc.role_id, sizeof acc.role_id);
    c->actor.nroles = 1;
    return 0;
}

int admit_or_reply(struct call *c, const char *client_id, enum view_surface s)
{
    struct app *a = c->app;
    struct view_rate rl;
    struct http_req *req = c->req;
    const char *action = s == VIEW_GATE ? "gate" : "api"; /* the audit log's */
    enum view_admit ad = view_token_admit(a->view, client_id, req->peer, s, kg_now_ms(), &rl);
    if (ad == VIEW_REFUSED_ADDRESS) {
        if (rl.note) {
            char detail[160];
            snprintf(detail, sizeof detail, "address %s is not in the token's allowed ranges",
                     req->peer);
            audit_record(a, client_id, req->peer, action, client_id, KG_FORBIDDEN, detail);
        }
        reply_reason_error(req, KG_FORBIDDEN, "this token may not be used from this address",
                           "ADDRESS_NOT_ALLOWED", NULL);
        return -1;
    }
    if (!rl.requests) return 0;
    size_t n = 0;
    /* "token";q=REQUESTS;w=PERIOD and "token";r=REMAINING;t=SECONDS (each number at most 20
     * digits: both fit their buffers), written without snprintf: on every limited request */
    char *p = c->rate_policy;
    memcpy(p, "\"token\";q=", 10);
    p = kg_put_u64(p + 10, (uint64_t)rl.requests);
    memcpy(p, ";w=", 3);
    *kg_put_u64(p + 3, (uint64_t)rl.period_s) = '\0';
    p = c->rate_state;
    memcpy(p, "\"token\";r=", 10);
    p = kg_put_u64(p + 10, (uint64_t)rl.verdict.remaining);
    memcpy(p, ";t=", 3);
    *kg_put_u64(p + 3, (uint64_t)rl.verdict.reset_s) = '\0';
    req->also[n++] = "RateLimit-Policy";
    req->also[n++] = c->rate_policy;
    req->also[n++] = "RateLimit";
    req->also[n++] = c->rate_state;
    if (ad == VIEW_REFUSED_RATE) {
        char msg[160];
        snprintf(c->retry_after, sizeof c->retry_after, "%lld", (long long)rl.verdict.retry_after);
        req->also[n++] = "Retry-After";
        req->also[n++] = c->retry_after;
        snprintf(msg, sizeof msg,
                 "the token's rate limit of %lld requests in %lld seconds is used up; try again "
                 "in %lld seconds",
                 (long long)rl.requests, (long long)rl.period_s, (long long)rl.verdict.retry_after);
        req->also[n] = NULL;
        reply_rate_limited(req, msg, rl.verdict.retry_after);
        return -1;
    }
    req->also[n] = NULL;
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------- */

/* The bad fields of one request, gathered to be named in one 400 (reply_bad_request). */
#define VIOLATIONS_MAX 16
struct violations {
    struct reply_violation v[VIOLATIONS_MAX];
    char field[VIOLATIONS_MAX][KG_FIELD_SHOWN + 24];
    char desc[VIOLATIONS_MAX][2 * KG_FIELD_SHOWN + 48];
    size_t n, more; /* more: those past VIOLATIONS_MAX, counted only */
};

/* A member name as it may be shown: at most KG_FIELD_SHOWN bytes, controls and non-ASCII as
 * '?' (a name is the client's, and goes into the message and the log line). */
static void shown_name(const char *name, char out[KG_FIELD_SHOWN + 1])
{
    size_t n = strnlen(name, KG_FIELD_SHOWN);
    memcpy(out, name, n);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f) out[i] = '?';
}

/* Adds the violation of `field` (the client's name, shown_name'd here), described as `before`
 * + the shown name + `after`. */
static void violation_add(struct violations *vs, const char *field, const char *before,
                          const char *after)
{
    if (vs->n == VIOLATIONS_MAX) {
        vs->more++;
        return;
    }
    char name[KG_FIELD_SHOWN + 1];
    shown_name(field, name);
    kg_strcpy(vs->field[vs->n], sizeof vs->field[vs->n], name);
    snprintf(vs->desc[vs->n], sizeof vs->desc[vs->n], "%s%s%s", before, name, after);
    vs->v[vs->n] = (struct reply_violation){vs->field[vs->n], vs->desc[vs->n]};
    vs->n++;
}

/* Sends the 400 naming every violation (vs->n > 0): the message is the first one's, and says
 * how many more there are. */
static void reply_violations(struct call *c, const struct violations *vs)
{
    char msg[sizeof vs->desc[0] + 48];
    size_t others = vs->n - 1 + vs->more;
    if (others)
        snprintf(msg, sizeof msg, "%s (and %zu more: see details)", vs->desc[0], others);
    else
        kg_strcpy(msg, sizeof msg, vs->desc[0]);
    reply_bad_request(c->req, KG_INVALID, msg, vs->v, vs->n);
}

/* Parses the body as a JSON object: Content-Type application/json, no duplicate keys. */
/* Parses the body as JSON of type `type` (JSON_OBJECT or JSON_ARRAY), Content-Type
 * application/json, no duplicate keys; a 400 otherwise. */
static int parse_json_or_reply(struct call *c, json_type type, json_t **out)
{
    const char *ct = http_header(c->req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
        reply_error(c->req, KG_INVALID, "send a JSON body with Content-Type: application/json");
        return -1;
    }
    json_error_t err;
    json_t *o = json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, &err);
    if (!o || json_typeof(o) != type) {
        json_decref(o);
        reply_error(c->req, KG_INVALID,
                    type == JSON_ARRAY ? "the body is not a JSON array"
                                       : "the body is not a JSON object");
        return -1;
    }
    *out = o;
    return 0;
}

static int parse_body_or_reply(struct call *c, json_t **out)
{
    return parse_json_or_reply(c, JSON_OBJECT, out);
}

int json_array_body_or_reply(struct call *c, json_t **out)
{
    return parse_json_or_reply(c, JSON_ARRAY, out);
}

int json_body_or_reply(struct call *c, const char *const *allowed, json_t **out)
{
    json_t *o, *val;
    const char *key;
    struct violations vs = {.n = 0};
    if (parse_body_or_reply(c, &o)) return -1;
    json_object_foreach (o, key, val) {
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok) violation_add(&vs, key, "unknown field \"", "\"");
    }
    if (vs.n) {
        json_decref(o);
        reply_violations(c, &vs);
        return -1;
    }
    *out = o;
    return 0;
}

int json_fields_or_reply(struct call *c, const struct json_field *spec, json_t **out)
{
    static const char *const wants[] = {
        [JSON_KIND_STRING] = " must be a string",    [JSON_KIND_BOOL] = " must be true or false",
        [JSON_KIND_INT] = " must be a whole number", [JSON_KIND_ARRAY] = " must be a list",
        [JSON_KIND_OBJECT] = " must be an object",
    };
    json_t *o, *val;
    const char *key;
    struct violations vs = {.n = 0};
    if (parse_body_or_reply(c, &o)) return -1;
    json_object_foreach (o, key, val) {
        const struct json_field *f = spec;
        while (f->name && strcmp(f->name, key) != 0)
            f++;
        if (!f->name) {
            violation_add(&vs, key, "unknown field \"", "\"");
            continue;
        }
        int ok = f->kind == JSON_KIND_ANY || (f->kind == JSON_KIND_STRING && json_is_string(val)) ||
                 (f->kind == JSON_KIND_BOOL && json_is_boolean(val)) ||
                 (f->kind == JSON_KIND_INT && json_is_integer(val)) ||
                 (f->kind == JSON_KIND_ARRAY && json_is_array(val)) ||
                 (f->kind == JSON_KIND_OBJECT && json_is_object(val));
        if (!ok) violation_add(&vs, key, "", wants[f->kind]);
    }
    for (const struct json_field *f = spec; f->name; f++)
        if (f->required && !json_object_get(o, f->name))
            violation_add(&vs, f->name, "", " is required");
    if (vs.n) {
        json_decref(o);
        reply_violations(c, &vs);
        return -1;
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
    reply_field_error(c->req, key, msg);
    return -1;
}

int json_role_refs_or_reply(struct call *c, json_t *obj, const char *key,
                            kg_role_id ids[KG_GRANTS_MAX], size_t *n, int *present)
{
    json_t *arr = json_object_get(obj, key), *item;
    char field[96];
    size_t i;
    *n = 0;
    *present = arr != NULL;
    if (!arr) return 0;
    kg_strcpy(field, sizeof field, key);
    if (!json_is_array(arr) || json_array_size(arr) > KG_GRANTS_MAX) goto bad;
    json_array_foreach (arr, i, item) {
        const char *id = json_string_value(json_object_get(item, "roleId"));
        json_t *admin = json_object_get(item, "adminOption");
        if (!json_is_object(item) || !id || !ids_role_id_valid(id)) {
            /* the item, as Google's field paths name one: directlyGrantedRoles[2].roleId */
            snprintf(field, sizeof field, json_is_object(item) ? "%s[%zu].roleId" : "%s[%zu]", key,
                     i);
            goto bad;
        }
        if (admin && !json_is_false(admin)) { /* roleName and principal: read-only, ignored */
            snprintf(field, sizeof field, "%s[%zu].adminOption", key, i);
            reply_field_error(c->req, field,
                              "adminOption must be false: keygate has no admin option on role "
                              "grants");
            return -1;
        }
        memcpy(ids[i], id, sizeof ids[i]);
        *n = i + 1;
    }
    return 0;
bad:;
    char msg[160];
    snprintf(msg, sizeof msg, "%s must be a list of at most %d {\"roleId\":\"r-0123456789\"}", key,
             KG_GRANTS_MAX);
    const struct reply_violation v = {field, msg};
    reply_bad_request(c->req, KG_INVALID, msg, &v, 1);
    return -1;
}

void call_service_error(struct call *c, kg_err rc, const char *why, json_t *body)
{
    char field[KG_FIELD_SHOWN + 1];
    size_t n = 0, top; /* the sentence's first word, a member or a member's member (a.b) */
    while (why && n < KG_FIELD_SHOWN &&
           ((why[n] >= 'a' && why[n] <= 'z') || (why[n] >= 'A' && why[n] <= 'Z') ||
            (n && why[n] == '.')))
        n++;
    for (top = 0; top < n && why[top] != '.'; top++) /* the member of the body itself */
        ;
    if (rc == KG_INVALID && n && why[n - 1] != '.' && (why[n] == ' ' || why[n] == ':') &&
        json_is_object(body)) {
        memcpy(field, why, top);
        field[top] = '\0';
        if (json_object_get(body, field)) {
            memcpy(field, why, n);
            field[n] = '\0';
            reply_field_error(c->req, field, why);
            return;
        }
    }
    reply_error(c->req, rc, why);
}

#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

int page_or_reply(struct call *c, size_t *size, int64_t *cursor)
{
    const char *ps = http_query(c->req, "pageSize"), *pt = http_query(c->req, "pageToken");
    int64_t v = 0;
    *cursor = 0;
    if (ps && kg_parse_int64(ps, 0, KG_PAGE_MAX, &v) != KG_OK) {
        reply_field_error(c->req, "pageSize",
                          "pageSize must be a whole number from 0 (the default, 100) to 100");
        return -1;
    }
    *size = v ? (size_t)v : KG_PAGE_DEFAULT;
    if (pt && *pt) {
        unsigned char raw[9];
        size_t n = 0;
        if (strlen(pt) > 16 ||
            sodium_base642bin(raw, sizeof raw, pt, strlen(pt), NULL, &n, NULL, B64) != 0 ||
            n != 9 || raw[0] != 'k') {
            reply_field_error(c->req, "pageToken", "pageToken is not one this server gave");
            return -1;
        }
        uint64_t s = 0;
        for (int i = 1; i < 9; i++)
            s = (s << 8) | raw[i];
        if (s == 0 || s > INT64_MAX) {
            reply_field_error(c->req, "pageToken", "pageToken is not one this server gave");
            return -1;
        }
        *cursor = (int64_t)s;
    }
    return 0;
}

void call_page_token(int64_t cursor, char tok[24])
{
    tok[0] = '\0';
    if (cursor > 0) {
        unsigned char raw[9] = {'k'};
        for (int i = 8; i >= 1; i--, cursor >>= 8)
            raw[i] = (unsigned char)(cursor & 0xff);
        sodium_bin2base64(tok, 24, raw, sizeof raw, B64);
    }
}

void reply_page(struct call *c, json_t *result, int64_t cursor)
{
    char tok[24];
    call_page_token(cursor, tok);
    if (!result) {
        reply_error(c->req, KG_ENOMEM, "out of memory");
        return;
    }
    reply_json(c->req, 200, json_pack("{s:s, s:o}", "nextPageToken", tok, "result", result));
}
