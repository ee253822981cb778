/*
 * api.c — REST handlers under /public/api/v1/: API tokens, roles and privileges, the account,
 * users.
 *
 * Each handler parses with the call.h helpers, calls service.c for changes or the store for
 * reads, and renders with render.c.  Layout: shared lookups, tokens, roles and privileges, the
 * account, users, the audit log.
 */
#include "api.h"

#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "proxy.h"
#include "render.h"
#include "reply.h"
#include "service.h"
#include "tcache.h"
#include "util.h"
#include "webhook.h"

void api_health(struct call *c)
{
    /* Still 200 when the store is down: tokens keep being verified from memory. */
    if (atomic_load(&c->app->store_down))
        reply_json(c->req, 200,
                   json_pack("{s:s, s:s}", "status", "degraded", "database", "unreachable"));
    else
        reply_json(c->req, 200, json_pack("{s:s}", "status", "ok"));
}

static void reply_no_content(struct call *c)
{
    http_reply(c->req, 204, NULL, "", 0, (const char *const[]){"Cache-Control", "no-store", NULL});
}

/* Resolves a {roleId} parameter: "r-…" or "name=<roleName>". */
static int role_or_reply(struct call *c, const char *param, struct kg_role *out)
{
    kg_err rc = KG_NOTFOUND;
    if (strncmp(param, "name=", 5) == 0 && service_role_name_valid(param + 5))
        rc = store_role_get_by_name(c->app->st, param + 5, out);
    else if (ids_role_id_valid(param))
        rc = store_role_get(c->app->st, param, out);
    if (rc == KG_OK) return 0;
    reply_error(c->req, rc, rc == KG_NOTFOUND ? "no such role" : "could not read the role");
    return -1;
}

/* Resolves a {userId} parameter: "u-…" or "email=<email>". */
static int user_or_reply(struct call *c, const char *param, struct kg_user *out)
{
    kg_err rc = KG_NOTFOUND;
    if (strncmp(param, "email=", 6) == 0 && service_email_valid(param + 6))
        rc = store_user_get_by_email(c->app->st, param + 6, out);
    else if (ids_user_id_valid(param))
        rc = store_user_get(c->app->st, param, out);
    if (rc == KG_OK) return 0;
    reply_error(c->req, rc, rc == KG_NOTFOUND ? "no such user" : "could not read the user");
    return -1;
}

/* Reads the optional "syncToken" of a PATCH body into *sync (0 when absent). */
static int sync_or_reply(struct call *c, json_t *body, int64_t *sync)
{
    const char *tok;
    *sync = 0;
    if (json_string_or_reply(c, body, "syncToken", 0, &tok)) return -1;
    if (tok && kg_parse_int64(tok, 1, INT64_MAX, sync) != KG_OK) {
        reply_field_error(c->req, "syncToken", "syncToken is not one this server gave");
        return -1;
    }
    return 0;
}

/* ---- tokens -------------------------------------------------------------------------- */

#define EXPIRING_WITHIN_MAX_S (3650 * 86400LL) /* ?expiringWithin=, ten years at most */

/* Appends t's JSON to w with a hole for lastAccessOn, described in *h (tcache.h). */
static void render_with_hole(struct jsonw *w, const struct kg_token *t, struct tcache_hole *h)
{
    render_token_json_hole(w, t, &h->at);
    h->stored = t->last_access_on;
    memcpy(h->client_id, t->client_id, sizeof h->client_id);
    h->place = 0; /* found by its id (tcache_put places a kept entry's) */
}

void api_token_list(struct call *c)
{
    size_t size, n = 0;
    int64_t cursor;
    struct kg_token *ts = NULL;
    struct tcache_hole *holes = NULL;
    struct tcache_stamp stamp;
    struct app *a = c->app;
    const char *within = http_query(c->req, "expiringWithin");
    int64_t within_s = 0, now = kg_now_ms(), until = INT64_MAX;
    char key[TCACHE_KEY_MAX + 1] = "";
    struct jsonw w, out;
    jsonw_init(&w);
    jsonw_init(&out);
    if (page_or_reply(c, &size, &cursor)) goto out;
    if (within && kg_parse_duration(within, EXPIRING_WITHIN_MAX_S, &within_s) != KG_OK) {
        reply_field_error(c->req, "expiringWithin",
                          "expiringWithin must be a duration like 7d, 12h or 30m, at most 3650d");
        goto out;
    }
    /* A page without expiringWithin (which depends on the time) is kept as text (tcache.h). */
    if (a->tcache && !within) {
        snprintf(key, sizeof key, "p:%lld:%zu", (long long)cursor, size);
        tcache_stamp(a->tcache, a->view, &stamp);
        if (tcache_get(a->tcache, key, &stamp, now, a->view, &out)) goto reply;
    }
    kg_err rc = within ? store_token_list_expiring(a->st, now, now + within_s * 1000, cursor,
                                                   size + 1, &ts, &n)
                       : store_token_list(a->st, cursor, size + 1, &ts, &n);
    if (rc != KG_OK) {
        reply_error(c->req, rc, "could not list tokens");
        goto out;
    }
    int64_t next = n > size ? ts[size - 1].seq : 0;
    if (n > size) n = size;
    if (n && !(holes = malloc(n * sizeof *holes))) {
        reply_error(c->req, KG_ENOMEM, "out of memory");
        goto out;
    }
    /* Written as text: a jansson tree of 100 tokens, then its dump, was most of this call. */
    char tok[24];
    call_page_token(next, tok);
    jsonw_raw(&w, "{\"nextPageToken\":");
    jsonw_str(&w, tok);
    jsonw_raw(&w, ",\"result\":[");
    for (size_t i = 0; i < n; i++) {
        int64_t u = render_token_until(&ts[i], now);
        if (u < until) until = u;
        if (i) jsonw_raw(&w, ",");
        render_with_hole(&w, &ts[i], &holes[i]);
    }
    jsonw_raw(&w, "]}");
    if (w.oom) {
        reply_error(c->req, KG_ENOMEM, "out of memory");
        goto out;
    }
    if (key[0]) tcache_put(a->tcache, key, &stamp, until, w.text, w.len, holes, n, a->view);
    tcache_fill(w.text, w.len, holes, n, a->view, &out);
reply:
    reply_json_text(c->req, 200, &out);
out:
    jsonw_cleanup(&w);
    jsonw_cleanup(&out);
    free(holes);
    free(ts);
}

/* Reads the optional "expiresOn" of a body into *ms (0 when absent). */
static int expires_or_reply(struct call *c, json_t *body, int64_t *ms)
{
    const char *v = json_string_value(json_object_get(body, "expiresOn"));
    *ms = 0;
    if (v && kg_time_parse(v, ms) != KG_OK) {
        reply_field_error(c->req, "expiresOn",
                          "expiresOn must be a UTC time like 2027-01-31T00:00:00Z");
        return -1;
    }
    return 0;
}

/* Reads a body's optional "rateLimit" ({requests, periodSeconds}, or null: none of its own)
 * and "allowedCidrs" (an array of strings) into *lim; cidrs[] receives the strings (borrowed
 * from body).  The values themselves are service_token_*'s to check. */
static int limits_or_reply(struct call *c, json_t *body, struct service_limits *lim,
                           const char *cidrs[KG_CIDRS_MAX])
{
    json_t *rate = json_object_get(body, "rateLimit"),
           *ranges = json_object_get(body, "allowedCidrs");
    memset(lim, 0, sizeof *lim);
    if (rate && !json_is_null(rate)) {
        json_t *req = json_object_get(rate, "requests"),
               *per = json_object_get(rate, "periodSeconds");
        if (!json_is_object(rate) || json_object_size(rate) != 2 || !json_is_integer(req) ||
            !json_is_integer(per)) {
            reply_field_error(c->req, "rateLimit",
                              "rateLimit must be {\"requests\": N, \"periodSeconds\": S} or null");
            return -1;
        }
        lim->rate_requests = json_integer_value(req) > 0 ? json_integer_value(req) : -1;
        lim->rate_period_s = json_integer_value(per) > 0 ? json_integer_value(per) : -1;
    }
    lim->set_rate = rate != NULL;
    if (ranges) {
        size_t i;
        json_t *item;
        if (!json_is_array(ranges) || json_array_size(ranges) > KG_CIDRS_MAX) {
            reply_field_error(c->req, "allowedCidrs",
                              "allowedCidrs must be an array of at most 16 CIDR ranges");
            return -1;
        }
        json_array_foreach (ranges, i, item) {
            if (!(cidrs[i] = json_string_value(item))) {
                reply_field_error(c->req, "allowedCidrs",
                                  "allowedCidrs must be an array of at most 16 CIDR ranges");
                return -1;
            }
        }
        lim->set_cidrs = 1;
        lim->cidrs = cidrs;
        lim->ncidrs = json_array_size(ranges);
    }
    return 0;
}

void api_token_create(struct call *c)
{
    static const struct json_field fields[] = {
        {"description", JSON_KIND_STRING, 0}, {"roleId", JSON_KIND_STRING, 1},
        {"expiresOn", JSON_KIND_STRING, 0},   {"rateLimit", JSON_KIND_ANY, 0},
        {"allowedCidrs", JSON_KIND_ANY, 0},   {NULL, 0, 0},
    };
    json_t *body = NULL;
    const char *desc, *role, *why = "", *cidrs[KG_CIDRS_MAX];
    struct kg_token t;
    struct service_limits lim;
    char secret[KG_SECRET_LEN + 1];
    int64_t exp = 0;
    if (json_fields_or_reply(c, fields, &body) || expires_or_reply(c, body, &exp) ||
        limits_or_reply(c, body, &lim, cidrs))
        goto out;
    desc = json_string_value(json_object_get(body, "description"));
    role = json_string_value(json_object_get(body, "roleId"));
    kg_err rc = service_token_create(c->app, &c->actor, desc ? desc : "", role, exp, &lim, &t,
                                     secret, &why);
    if (rc != KG_OK) {
        call_service_error(c, rc, why, body);
        goto out;
    }
    reply_json(c->req, 201, render_token(&t, 0, secret));
    sodium_memzero(secret, sizeof secret);
out:
    json_decref(body);
}

/* Reads the token of the path's {clientId} into *t; 0, or -1 after a 404 (or a store error). */
static int token_or_reply(struct call *c, struct kg_token *t)
{
    kg_err rc = ids_client_id_valid(c->params[0]) ? store_token_get(c->app->st, c->params[0], t)
                                                  : KG_NOTFOUND;
    if (rc == KG_OK) return 0;
    reply_error(c->req, rc,
                rc == KG_NOTFOUND ? "no token has that clientId" : "could not read the token");
    return -1;
}

void api_token_get(struct call *c)
{
    struct app *a = c->app;
    struct kg_token t;
    struct tcache_stamp stamp;
    struct tcache_hole hole;
    char key[TCACHE_KEY_MAX + 1] = "";
    struct jsonw w, out;
    jsonw_init(&w);
    jsonw_init(&out);
    int64_t now = kg_now_ms();
    if (a->tcache && ids_client_id_valid(c->params[0])) { /* kept as text: tcache.h */
        if (snprintf(key, sizeof key, "t:%s", c->params[0]) >= (int)sizeof key) key[0] = '\0';
        tcache_stamp(a->tcache, a->view, &stamp);
        if (key[0] && tcache_get(a->tcache, key, &stamp, now, a->view, &out)) goto reply;
    }
    if (token_or_reply(c, &t)) goto out;
    int64_t until = render_token_until(&t, now);
    render_with_hole(&w, &t, &hole);
    if (w.oom) {
        reply_error(c->req, KG_ENOMEM, "out of memory");
        goto out;
    }
    if (key[0]) tcache_put(a->tcache, key, &stamp, until, w.text, w.len, &hole, 1, a->view);
    tcache_fill(w.text, w.len, &hole, 1, a->view, &out);
reply:
    reply_json_text(c->req, 200, &out);
out:
    jsonw_cleanup(&w);
    jsonw_cleanup(&out);
}

void api_token_update(struct call *c)
{
    static const struct json_field fields[] = {
        {"description", JSON_KIND_STRING, 0},
        {"rateLimit", JSON_KIND_ANY, 0},
        {"allowedCidrs", JSON_KIND_ANY, 0},
        {NULL, 0, 0},
    };
    json_t *body = NULL;
    const char *why = "", *cidrs[KG_CIDRS_MAX];
    struct kg_token t;
    struct service_limits lim;
    if (json_fields_or_reply(c, fields, &body) || limits_or_reply(c, body, &lim, cidrs)) goto out;
    kg_err rc = service_token_update(c->app, &c->actor, c->params[0],
                                     json_string_value(json_object_get(body, "description")), &lim,
                                     &t, &why);
    if (rc != KG_OK) {
        call_service_error(c, rc, why, body);
        goto out;
    }
    reply_json(c->req, 200,
               render_token(&t, view_token_last_access(c->app->view, t.client_id), NULL));
out:
    json_decref(body);
}

void api_token_revoke(struct call *c)
{
    struct kg_token t;
    const char *why = "";
    kg_err rc = service_token_revoke(c->app, &c->actor, c->params[0], &t, &why);
    if (rc != KG_OK) {
        reply_error(c->req, rc, why);
        return;
    }
    reply_json(c->req, 200,
               render_token(&t, view_token_last_access(c->app->view, t.client_id), NULL));
}

/* ---- usage --------------------------------------------------------------------------- */

/* Reads the query parameter `name` as an RFC 3339 time into *ms (left as is when absent). */
static int time_param_or_reply(struct call *c, const char *name, int64_t *ms)
{
    const char *v = http_query(c->req, name);
    if (!v || !*v) return 0;
    if (kg_time_parse(v, ms) != KG_OK) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s must be a UTC time like 2027-01-31T00:00:00Z", name);
        reply_field_error(c->req, name, msg);
        return -1;
    }
    return 0;
}

#define HOUR_MS USAGE_HOUR_MS
#define DAY_MS USAGE_DAY_MS
#define USAGE_IDS_MAX 100 /* ?clientIds= */

/* A usage question's range and buckets: [since, until), in buckets of `unit` ms (0: none,
 * one sum) from `first` (since's bucket) to the bucket holding until - 1, `nb` of them. */
struct usage_range {
    int64_t since, until, unit, first;
    size_t nb;
};

/* Reads ?since= ?until= (default: the 7 days up to now) and ?granularity= (hour, day, or none
 * when `none_ok`; default `dflt`).  A 400 names the parameter. */
static int usage_range_or_reply(struct call *c, int none_ok, const char *dflt,
                                struct usage_range *r)
{
    const char *g = http_query(c->req, "granularity");
    memset(r, 0, sizeof *r);
    r->until = kg_now_ms();
    if (time_param_or_reply(c, "until", &r->until)) return -1;
    r->since = r->until - 7 * DAY_MS;
    if (time_param_or_reply(c, "since", &r->since)) return -1;
    if (r->since >= r->until) {
        reply_field_error(c->req, "since", "since must be before until");
        return -1;
    }
    if (!g) g = dflt;
    if (strcmp(g, "hour") == 0)
        r->unit = HOUR_MS;
    else if (strcmp(g, "day") == 0)
        r->unit = DAY_MS;
    else if (!(none_ok && strcmp(g, "none") == 0)) {
        reply_field_error(c->req, "granularity",
                          none_ok ? "granularity must be none, hour or day"
                                  : "granularity must be hour or day");
        return -1;
    }
    /* Counts are kept by the hour: the range starts at its first hour (or day) whole, and the
     * answer's since says so, so that every sum of one answer covers the same hours. */
    if (service_usage_range(&r->since, r->until, r->unit, &r->nb) != KG_OK) {
        reply_field_error(c->req, "since",
                          r->unit == HOUR_MS ? "an hourly answer spans at most 31 days: ask by day"
                                             : "a daily answer spans at most 400 days");
        return -1;
    }
    r->first = r->since;
    return 0;
}

/* One token's counts in r (service_usage): the sums, and per bucket (NULL: not wanted). */
static kg_err usage_of(struct call *c, const char *client_id, const struct usage_range *r,
                       int64_t sum[KG_USE_KINDS], int64_t (*buckets)[KG_USE_KINDS])
{
    return service_usage(c->app, client_id, r->since, r->until, buckets ? r->unit : 0, sum, buckets,
                         buckets ? r->nb : 0);
}

static json_t *usage_counts(const int64_t n[KG_USE_KINDS])
{
    json_t *o = json_object();
    if (o) render_usage_counts(o, n);
    return o;
}

/* {since, until, granularity} of an answer, to which the rest is added. */
static json_t *usage_head(const struct usage_range *r)
{
    return json_pack("{s:o, s:o, s:s}", "since", render_time(r->since), "until",
                     render_time(r->until), "granularity",
                     r->unit == HOUR_MS  ? "hour"
                     : r->unit == DAY_MS ? "day"
                                         : "none");
}

/* The series of buckets b[r->nb]: whole counts (full) or {start, requests, refused}. */
static json_t *usage_series(const struct usage_range *r, int64_t (*b)[KG_USE_KINDS], int full)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < r->nb; i++) {
        json_t *o = json_pack("{s:o}", "start", render_time(r->first + (int64_t)i * r->unit));
        if (o) render_usage_counts(o, b[i]);
        if (o && !full) {
            json_t *slim =
                json_pack("{s:O, s:O, s:O}", "start", json_object_get(o, "start"), "requests",
                          json_object_get(o, "requests"), "refused", json_object_get(o, "refused"));
            json_decref(o);
            o = slim;
        }
        if (json_array_append_new(arr, o)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

void api_token_usage(struct call *c)
{
    struct kg_token t;
    struct usage_range r;
    int64_t sum[KG_USE_KINDS], (*b)[KG_USE_KINDS] = NULL;
    if (token_or_reply(c, &t) || usage_range_or_reply(c, 0, "hour", &r)) return;
    if (!(b = calloc(r.nb, sizeof *b))) {
        reply_error(c->req, KG_ENOMEM, "out of memory");
        return;
    }
    kg_err rc = usage_of(c, t.client_id, &r, sum, b);
    if (rc != KG_OK) {
        reply_error(c->req, rc, "could not read the usage counts");
        goto out;
    }
    json_t *o = usage_head(&r);
    if (o) {
        json_object_set_new(o, "clientId", json_string(t.client_id));
        json_object_set_new(o, "totals", usage_counts(sum));
        json_object_set_new(o, "result", usage_series(&r, b, 1));
    }
    reply_json(c->req, 200, o);
out:
    free(b);
}

/* Reads ?clientIds=a,b,… into ids (at most USAGE_IDS_MAX, each a client ID); *n = 0 when
 * absent.  A 400 names the parameter. */
static int client_ids_or_reply(struct call *c, char (*ids)[KG_CLIENT_ID_LEN + 1], size_t *n)
{
    const char *v = http_query(c->req, "clientIds");
    *n = 0;
    for (const char *p = v; p && *p;) {
        size_t len = strcspn(p, ",");
        if (*n == USAGE_IDS_MAX || len > KG_CLIENT_ID_LEN) goto bad;
        memcpy(ids[*n], p, len);
        ids[*n][len] = '\0';
        if (!ids_client_id_valid(ids[(*n)++])) goto bad;
        p += len + (p[len] == ',');
    }
    return 0;
bad:
    reply_field_error(c->req, "clientIds",
                      "clientIds must be at most 100 client IDs, comma-separated");
    return -1;
}

void api_usage(struct call *c)
{
    struct usage_range r;
    struct kg_usage *top = NULL, total;
    char(*ids)[KG_CLIENT_ID_LEN + 1] = NULL;
    int64_t(*b)[KG_USE_KINDS] = NULL, limit = 10;
    size_t n = 0;
    json_t *o = NULL, *arr = NULL;
    const char *order = http_query(c->req, "orderBy"), *lim = http_query(c->req, "limit");
    kg_err rc = KG_ENOMEM;
    if (usage_range_or_reply(c, 1, "none", &r)) return;
    if (order && strcmp(order, "requests") != 0 && strcmp(order, "refused") != 0) {
        reply_field_error(c->req, "orderBy", "orderBy must be requests or refused");
        return;
    }
    if (lim && kg_parse_int64(lim, 1, USAGE_IDS_MAX, &limit) != KG_OK) {
        reply_field_error(c->req, "limit", "limit must be from 1 to 100");
        return;
    }
    int by_refused = order && strcmp(order, "refused") == 0;
    if (!(ids = calloc(USAGE_IDS_MAX, sizeof *ids)) || (r.nb && !(b = calloc(r.nb, sizeof *b))))
        goto fail;
    if (client_ids_or_reply(c, ids, &n)) goto out;
    if (!n) { /* the busiest tokens */
        if ((rc = store_usage_top(c->app->st, r.since, r.until, by_refused, (size_t)limit, &top,
                                  &n)) != KG_OK)
            goto fail;
        for (size_t i = 0; i < n; i++)
            memcpy(ids[i], top[i].client_id, sizeof ids[i]);
    }
    if ((rc = store_usage_total(c->app->st, r.since, r.until, &total)) != KG_OK) goto fail;
    rc = KG_ENOMEM;
    if (!(o = usage_head(&r)) || !(arr = json_array())) goto fail;
    json_object_set_new(o, "orderBy", json_string(by_refused ? "refused" : "requests"));
    json_object_set_new(o, "totals", usage_counts(total.n));
    for (size_t i = 0; i < n; i++) {
        struct kg_token t;
        int64_t sum[KG_USE_KINDS];
        if ((rc = usage_of(c, ids[i], &r, sum, b)) != KG_OK) goto fail;
        rc = store_token_get(c->app->st, ids[i], &t);
        if (rc == KG_NOTFOUND) { /* an ID asked for that names no token */
            reply_field_error(c->req, "clientIds", "no token has one of those client IDs");
            goto out;
        }
        if (rc != KG_OK) goto fail;
        json_t *e = json_pack(
            "{s:s, s:s, s:s, s:s}", "clientId", t.client_id, "description", t.description, "status",
            t.status == KG_TOKEN_ACTIVE ? "Active" : "Revoked", "roleName", t.role_name);
        if (e) render_usage_counts(e, sum);
        if (e && r.unit) json_object_set_new(e, "series", usage_series(&r, b, 0));
        rc = KG_ENOMEM;
        if (json_array_append_new(arr, e)) goto fail;
    }
    json_object_set_new(o, "result", arr);
    arr = NULL;
    reply_json(c->req, 200, o);
    o = NULL;
    goto out;
fail:
    reply_error(c->req, rc, "could not read the usage counts");
out:
    json_decref(o);
    json_decref(arr);
    free(top);
    free(ids);
    free(b);
}

/* ---- a token's secrets ------------------------------------------------------------ */

void api_secret_list(struct call *c)
{
    struct kg_token t;
    if (token_or_reply(c, &t)) return;
    int64_t now = kg_now_ms();
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < t.nsecrets; i++) {
        int64_t used = view_secret_last_used(c->app->view, t.client_id, t.secrets[i].seq);
        if (json_array_append_new(arr,
                                  render_secret(t.client_id, &t.secrets[i], used, now, NULL))) {
            json_decref(arr);
            arr = NULL;
        }
    }
    reply_page(c, arr, 0);
}

/* POST …/secret {description?, expiresOn?} and POST …:rotate {gracePeriodSeconds?,
 * description?, expiresOn?}: the new secret, its text shown once. */
static void secret_add(struct call *c, int rotate)
{
    static const struct json_field add_fields[] = {
        {"description", JSON_KIND_STRING, 0},
        {"expiresOn", JSON_KIND_STRING, 0},
        {NULL, 0, 0},
    };
    static const struct json_field rotate_fields[] = {
        {"description", JSON_KIND_STRING, 0},
        {"expiresOn", JSON_KIND_STRING, 0},
        {"gracePeriodSeconds", JSON_KIND_INT, 0},
        {NULL, 0, 0},
    };
    json_t *body = NULL;
    struct kg_token t;
    struct kg_secret made;
    char secret[KG_SECRET_LEN + 1];
    const char *why = "";
    int64_t exp = 0, grace_ms = -1;
    if (json_fields_or_reply(c, rotate ? rotate_fields : add_fields, &body) ||
        expires_or_reply(c, body, &exp))
        goto out;
    if (rotate) {
        json_t *g = json_object_get(body, "gracePeriodSeconds");
        json_int_t s = g ? json_integer_value(g) : SECRET_GRACE_DEFAULT_S;
        if (s < 0 || s > SECRET_GRACE_MAX_S) {
            reply_field_error(c->req, "gracePeriodSeconds",
                              "gracePeriodSeconds must be from 0 to 2592000 (30 days)");
            goto out;
        }
        grace_ms = (int64_t)s * 1000;
    }
    const char *desc = json_string_value(json_object_get(body, "description"));
    kg_err rc = service_secret_add(c->app, &c->actor, c->params[0], desc, exp, grace_ms, &t, &made,
                                   secret, &why);
    if (rc != KG_OK) {
        call_service_error(c, rc, why, body);
        goto out;
    }
    reply_json(c->req, 201, render_secret(t.client_id, &made, 0, kg_now_ms(), secret));
    sodium_memzero(secret, sizeof secret);
out:
    json_decref(body);
}

void api_secret_add(struct call *c)
{
    secret_add(c, 0);
}

void api_token_rotate(struct call *c)
{
    secret_add(c, 1);
}

void api_secret_delete(struct call *c)
{
    const char *why = "";
    kg_err rc = service_secret_delete(c->app, &c->actor, c->params[0], c->params[1], &why);
    if (rc != KG_OK) {
        reply_error(c->req, rc, why);
        return;
    }
    reply_no_content(c);
}

/* ---- leaked secrets ---------------------------------------------------------------- */

/*
 * POST /apiToken:reportLeaked, in the shape of GitHub's secret-scanning partner program: a
 * JSON array of {"token": secret, "type", "url", "source"} (at most LEAK_REPORT_MAX; members
 * other than token are optional strings, url is recorded).  Unauthenticated, like GitHub's
 * calls (checking their signature is the job of the proxy in front); throttled by address.
 * Each real secret is revoked, that secret alone; the answer is the same whichever were real.
 */
#define LEAK_REPORT_MAX 100
#define LEAK_REPORTS_FREE 100 /* reports from one address in 15 minutes before slowing */

void api_report_leaked(struct call *c)
{
    struct app *a = c->app;
    json_t *body = NULL, *item;
    size_t i;
    char where[PROXY_ADDR_MAX], key[8 + PROXY_ADDR_MAX];
    int64_t now = kg_now_ms(), wait;
    proxy_addr_group(c->req->peer, where);
    snprintf(key, sizeof key, "l:%s", where);
    if ((wait = throttle_wait(a->throttle, key, now)) > 0) {
        call_throttled(c, wait, "leak reports");
        return;
    }
    throttle_fail(a->throttle, key, LEAK_REPORTS_FREE, now); /* every report counts */
    if (json_array_body_or_reply(c, &body)) return;
    if (json_array_size(body) == 0 || json_array_size(body) > LEAK_REPORT_MAX) {
        reply_error(c->req, KG_INVALID, "send 1 to 100 reports");
        goto out;
    }
    json_array_foreach (body, i, item) {
        const char *tok = json_string_value(json_object_get(item, "token"));
        if (!json_is_object(item) || !tok || strlen(tok) > 256) {
            char field[32];
            snprintf(field, sizeof field, "[%zu].token", i);
            reply_field_error(c->req, field, "each report is an object with a string token");
            goto out;
        }
    }
    json_array_foreach (body, i, item) {
        int revoked = 0; /* never told: the answer must not say which secrets were real */
        const char *url = json_string_value(json_object_get(item, "url"));
        kg_err rc = service_report_leaked(
            a, c->req->peer, json_string_value(json_object_get(item, "token")), url, &revoked);
        if (rc != KG_OK) {
            reply_error(c->req, rc, "could not record the report: send it again");
            goto out;
        }
    }
    reply_json(c->req, 202, json_pack("{s:I}", "received", (json_int_t)json_array_size(body)));
out:
    json_decref(body);
}

/* ---- roles --------------------------------------------------------------------------- */

void api_role_list(struct call *c)
{
    size_t size, n = 0;
    int64_t cursor;
    struct kg_role *rs = NULL;
    if (page_or_reply(c, &size, &cursor)) return;
    kg_err rc = store_role_list(c->app->st, cursor, size + 1, &rs, &n);
    if (rc != KG_OK) {
        reply_error(c->req, rc, "could not list roles");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n && i < size; i++)
        if (json_array_append_new(arr, service_role_object(c->app, &rs[i]))) {
            json_decref(arr);
            arr = NULL;
        }
    reply_page(c, arr, n > size ? rs[size - 1].seq : 0);
    free(rs);
}

/* Galaxy's NewRole {roleName, roleDescription, grantToCreatingRole (required)}; keygate also
 * takes directlyGrantedRoles, and grantToCreatorRole, the earlier name of
 * grantToCreatingRole (both given: they must agree). */
void api_role_create(struct call *c)
{
    static const char *const fields[] = {"roleName",
                                         "roleDescription",
                                         "grantToCreatingRole",
                                         "directlyGrantedRoles",
                                         "grantToCreatorRole",
                                         NULL};
    json_t *body = NULL;
    const char *name, *desc, *why = "";
    kg_role_id granted[KG_GRANTS_MAX];
    size_t ng = 0;
    int present;
    struct kg_role r;
    if (json_body_or_reply(c, fields, &body)) return;
    json_t *to_creating = json_object_get(body, "grantToCreatingRole");
    json_t *alias = json_object_get(body, "grantToCreatorRole");
    if (to_creating && !json_is_boolean(to_creating)) {
        reply_field_error(c->req, "grantToCreatingRole",
                          "grantToCreatingRole must be true or false");
        goto out;
    }
    if (alias && (!json_is_boolean(alias) ||
                  (to_creating && json_is_true(alias) != json_is_true(to_creating)))) {
        reply_field_error(
            c->req, "grantToCreatorRole",
            "grantToCreatorRole (the earlier name of grantToCreatingRole) must be true "
            "or false, and the same as grantToCreatingRole");
        goto out;
    }
    if (!to_creating) to_creating = alias;
    if (!to_creating) {
        reply_field_error(c->req, "grantToCreatingRole",
                          "grantToCreatingRole is required (true or false)");
        goto out;
    }
    if (json_string_or_reply(c, body, "roleName", 1, &name) ||
        json_string_or_reply(c, body, "roleDescription", 0, &desc) ||
        json_role_refs_or_reply(c, body, "directlyGrantedRoles", granted, &ng, &present))
        goto out;
    kg_err rc = service_role_create(c->app, &c->actor, name, desc ? desc : "", granted, ng,
                                    json_is_true(to_creating), &r, &why);
    if (rc != KG_OK)
        call_service_error(c, rc, why, body);
    else
        reply_json(c->req, 200,
                   service_role_object(c->app, &r)); /* Galaxy answers a create with 200 */
out:
    json_decref(body);
}

void api_role_get(struct call *c)
{
    struct kg_role r;
    if (role_or_reply(c, c->params[0], &r)) return;
    reply_json(c->req, 200, service_role_object(c->app, &r));
}

/* The body is a Role: roleName, roleDescription, directlyGrantedRoles (the whole new list) and
 * the syncToken read change it; the read-only fields a get-modify-patch client sends back are
 * accepted and ignored. */
void api_role_update(struct call *c)
{
    static const char *const fields[] = {"roleName",  "roleDescription", "directlyGrantedRoles",
                                         "syncToken", "roleId",          "owningRoleId",
                                         "allRoles",  "createdOn",       "modifiedOn",
                                         NULL};
    json_t *body = NULL;
    const char *name, *desc, *why = "";
    kg_role_id granted[KG_GRANTS_MAX];
    size_t ng = 0;
    int present;
    int64_t sync;
    struct kg_role r;
    if (role_or_reply(c, c->params[0], &r) || json_body_or_reply(c, fields, &body)) return;
    if (json_string_or_reply(c, body, "roleName", 0, &name) ||
        json_string_or_reply(c, body, "roleDescription", 0, &desc) ||
        json_role_refs_or_reply(c, body, "directlyGrantedRoles", granted, &ng, &present) ||
        sync_or_reply(c, body, &sync))
        goto out;
    kg_err rc = service_role_update(c->app, &c->actor, r.role_id, name, desc, granted, ng, present,
                                    sync, &r, &why);
    if (rc != KG_OK)
        call_service_error(c, rc, why, body);
    else
        reply_json(c->req, 200, service_role_object(c->app, &r));
out:
    json_decref(body);
}

/* GET /role/{roleId}/rolegrant?type=Direct|All: the role's grants, a page at a time (an
 * offset cursor: they are few). */
void api_role_grant_list(struct call *c)
{
    struct kg_role r;
    struct kg_role_grant *g = NULL;
    size_t size, n = 0;
    int64_t cursor;
    const char *type = http_query(c->req, "type");
    if (role_or_reply(c, c->params[0], &r) || page_or_reply(c, &size, &cursor)) return;
    int all = type && strcmp(type, "All") == 0;
    if (type && *type && !all && strcmp(type, "Direct") != 0) {
        reply_field_error(c->req, "type", "type must be Direct or All");
        return;
    }
    kg_err rc =
        service_grants(c->app, r.role_id, (const kg_role_id *)r.granted, r.ngranted, &g, &n);
    if (rc != KG_OK) {
        reply_error(c->req, rc, "could not read the role's grants");
        return;
    }
    size_t total = 0, from = cursor > 0 ? (size_t)cursor - 1 : 0, i;
    while (total < n && (all || g[total].direct)) /* the direct grants come first */
        total++;
    json_t *arr = json_array();
    for (i = from; arr && i < total && i < from + size; i++)
        if (json_array_append_new(arr, render_role_grant(&g[i]))) {
            json_decref(arr);
            arr = NULL;
        }
    reply_page(c, arr, i < total ? (int64_t)i + 1 : 0);
    free(g);
}

void api_role_delete(struct call *c)
{
    struct kg_role r;
    const char *why = "";
    if (role_or_reply(c, c->params[0], &r)) return;
    kg_err rc = service_role_delete(c->app, &c->actor, r.role_id, &why);
    if (rc != KG_OK)
        reply_error(c->req, rc, why);
    else
        reply_no_content(c);
}

/* Reads ?listAllPrivileges= into *all: absent, "" or "false" 0, "true" 1. */
static int list_all_or_reply(struct call *c, int *all)
{
    const char *v = http_query(c->req, "listAllPrivileges");
    *all = v && strcmp(v, "true") == 0;
    if (!v || !*v || *all || strcmp(v, "false") == 0) return 0;
    reply_field_error(c->req, "listAllPrivileges", "listAllPrivileges must be true or false");
    return -1;
}

void api_privilege_list(struct call *c)
{
    struct kg_role r;
    struct kg_privilege *ps = NULL;
    char account[KG_ACCOUNT_ID_LEN + 1];
    size_t size, n = 0;
    int64_t cursor; /* an offset + 1 into the role's privileges, which are few */
    int all;
    if (role_or_reply(c, c->params[0], &r) || page_or_reply(c, &size, &cursor) ||
        list_all_or_reply(c, &all))
        return;
    kg_err rc = store_account_id(c->app->st, account);
    if (rc == KG_OK) rc = service_privilege_list(c->app, r.role_id, all, &ps, &n);
    if (rc != KG_OK) {
        reply_error(c->req, rc, "could not list privileges");
        return;
    }
    size_t from = cursor > 0 ? (size_t)cursor - 1 : 0, i;
    json_t *arr = json_array();
    for (i = from; arr && i < n && i < from + size; i++)
        if (json_array_append_new(arr, render_privilege(&ps[i], account))) {
            json_decref(arr);
            arr = NULL;
        }
    reply_page(c, arr, i < n ? (int64_t)i + 1 : 0);
    free(ps);
}

/* Galaxy's schemaName, tableName and columnName name a catalog object; keygate's privileges
 * are account-level, so each must be absent or null. */
static int account_level_or_reply(struct call *c, json_t *body)
{
    static const char *const keys[] = {"schemaName", "tableName", "columnName"};
    for (size_t i = 0; i < KG_ARRAY_LEN(keys); i++) {
        json_t *v = json_object_get(body, keys[i]);
        if (v && !json_is_null(v)) {
            char msg[128];
            snprintf(msg, sizeof msg,
                     "%s must be null: keygate's privileges are account-level (entityKind "
                     "Account)",
                     keys[i]);
            reply_field_error(c->req, keys[i], msg);
            return -1;
        }
    }
    return 0;
}

/* Galaxy's GrantPrivilege {grantKind, entityKind, entityId, grantOption, privilege, schemaName,
 * tableName, columnName}; keygate's older {grantKind, privilege} is still taken, with entityKind
 * and entityId this account's and grantOption false (service.h). */
void api_privilege_grant(struct call *c)
{
    static const char *const fields[] = {"grantKind",   "entityKind", "entityId",
                                         "grantOption", "privilege",  "schemaName",
                                         "tableName",   "columnName", NULL};
    json_t *body = NULL;
    const char *why = "";
    struct service_privilege sp = {0};
    struct kg_role r;
    if (role_or_reply(c, c->params[0], &r) || json_body_or_reply(c, fields, &body)) return;
    json_t *option = json_object_get(body, "grantOption");
    if (option && !json_is_boolean(option)) {
        reply_field_error(c->req, "grantOption", "grantOption must be true or false");
        goto out;
    }
    sp.grant_option = json_is_true(option);
    if (json_string_or_reply(c, body, "grantKind", 1, &sp.grant_kind) ||
        json_string_or_reply(c, body, "privilege", 1, &sp.privilege) ||
        json_string_or_reply(c, body, "entityKind", 0, &sp.entity_kind) ||
        json_string_or_reply(c, body, "entityId", 0, &sp.entity_id) ||
        account_level_or_reply(c, body))
        goto out;
    kg_err rc = service_privilege_grant(c->app, &c->actor, r.role_id, &sp, &why);
    if (rc != KG_OK)
        call_service_error(c, rc, why, body);
    else
        reply_no_content(c);
out:
    json_decref(body);
}

/* Galaxy's RevokePrivilege {entityKind, entityId, privilege, revokeAction, schemaName,
 * tableName, columnName}; keygate's older {grantKind, privilege} is still taken (grantKind then
 * picks the kind; revokeAction defaults to RemoveRoleGrant). */
void api_privilege_revoke(struct call *c)
{
    static const char *const fields[] = {"grantKind", "entityKind",   "entityId",
                                         "privilege", "revokeAction", "schemaName",
                                         "tableName", "columnName",   NULL};
    json_t *body = NULL;
    const char *why = "";
    struct service_privilege sp = {0};
    struct kg_role r;
    int changed = 0;
    if (role_or_reply(c, c->params[0], &r) || json_body_or_reply(c, fields, &body)) return;
    if (json_string_or_reply(c, body, "grantKind", 0, &sp.grant_kind) ||
        json_string_or_reply(c, body, "privilege", 1, &sp.privilege) ||
        json_string_or_reply(c, body, "entityKind", 0, &sp.entity_kind) ||
        json_string_or_reply(c, body, "entityId", 0, &sp.entity_id) ||
        json_string_or_reply(c, body, "revokeAction", 0, &sp.revoke_action) ||
        account_level_or_reply(c, body))
        goto out;
    kg_err rc = service_privilege_revoke(c->app, &c->actor, r.role_id, &sp, &changed, &why);
    if (rc != KG_OK)
        call_service_error(c, rc, why, body);
    else
        reply_no_content(c);
out:
    json_decref(body);
}

/* ---- the account ------------------------------------------------------------------------ */

void api_account_get(struct call *c)
{
    char account[KG_ACCOUNT_ID_LEN + 1];
    kg_err rc = store_account_id(c->app->st, account);
    if (rc != KG_OK) {
        reply_error(c->req, rc, "could not read the account ID");
        return;
    }
    reply_json(c->req, 200, json_pack("{s:s}", "accountId", account));
}

/* ---- users --------------------------------------------------------------------------- */

void api_user_list(struct call *c)
{
    size_t size, n = 0;
    int64_t cursor;
    struct kg_user *us = NULL;
    if (page_or_reply(c, &size, &cursor)) return;
    kg_err rc = store_user_list(c->app->st, cursor, size + 1, &us, &n);
    if (rc != KG_OK) {
        reply_error(c->req, rc, "could not list users");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n && i < size; i++)
        if (json_array_append_new(arr, service_user_object(c->app, &us[i]))) {
            json_decref(arr);
            arr = NULL;
        }
    reply_page(c, arr, n > size ? us[size - 1].seq : 0);
    sodium_memzero(us, n * sizeof *us);
    free(us);
}

void api_user_create(struct call *c)
{
    static const char *const fields[] = {"email", "password", "directlyGrantedRoles", NULL};
    json_t *body = NULL;
    const char *email, *password, *why = "";
    kg_role_id roles[KG_GRANTS_MAX];
    size_t nr = 0;
    int present;
    struct kg_user u;
    char generated[33];
    if (json_body_or_reply(c, fields, &body)) return;
    if (json_string_or_reply(c, body, "email", 1, &email) ||
        json_string_or_reply(c, body, "password", 0, &password) ||
        json_role_refs_or_reply(c, body, "directlyGrantedRoles", roles, &nr, &present))
        goto out;
    kg_err rc =
        service_user_create(c->app, &c->actor, email, password, roles, nr, &u, generated, &why);
    if (rc != KG_OK) {
        call_service_error(c, rc, why, body);
        goto out;
    }
    json_t *o = service_user_object(c->app, &u);
    if (o && generated[0]) json_object_set_new(o, "password", json_string(generated));
    reply_json(c->req, 201, o);
    sodium_memzero(generated, sizeof generated);
out:
    json_decref(body);
}

void api_user_get(struct call *c)
{
    struct kg_user u;
    if (user_or_reply(c, c->params[0], &u)) return;
    reply_json(c->req, 200, service_user_object(c->app, &u));
}

/* The body is a User: email, password (keygate's), directlyGrantedRoles and the syncToken read
 * change it; the read-only fields sent back are accepted and ignored, as for roles. */
void api_user_update(struct call *c)
{
    static const char *const fields[] = {
        "email",         "password",  "directlyGrantedRoles", "syncToken", "userId",
        "defaultRoleId", "createdOn", "scimManaged",          "allRoles",  NULL};
    json_t *body = NULL;
    const char *email, *password, *why = "";
    kg_role_id roles[KG_GRANTS_MAX];
    size_t nr = 0;
    int present;
    int64_t sync;
    struct kg_user u;
    if (user_or_reply(c, c->params[0], &u) || json_body_or_reply(c, fields, &body)) return;
    if (json_string_or_reply(c, body, "email", 0, &email) ||
        json_string_or_reply(c, body, "password", 0, &password) ||
        json_role_refs_or_reply(c, body, "directlyGrantedRoles", roles, &nr, &present) ||
        sync_or_reply(c, body, &sync))
        goto out;
    kg_err rc = service_user_update(c->app, &c->actor, u.user_id, email, password, roles, nr,
                                    present, sync, &u, &why);
    if (rc != KG_OK)
        call_service_error(c, rc, why, body);
    else
        reply_json(c->req, 200, service_user_object(c->app, &u));
out:
    json_decref(body);
}

void api_user_delete(struct call *c)
{
    struct kg_user u;
    const char *why = "";
    if (user_or_reply(c, c->params[0], &u)) return;
    kg_err rc = service_user_delete(c->app, &c->actor, u.user_id, &why);
    if (rc != KG_OK)
        reply_error(c->req, rc, why);
    else
        reply_no_content(c);
}

/* ---- audit log ------------------------------------------------------------------------ */

void api_audit_list(struct call *c)
{
    size_t size, n = 0;
    int64_t cursor;
    struct kg_audit *es = NULL;
    struct kg_audit_filter f;
    memset(&f, 0, sizeof f);
    if (page_or_reply(c, &size, &cursor)) return;
    const char *actor = http_query(c->req, "actor");
    if (actor && kg_strcpy(f.actor, sizeof f.actor, actor) != KG_OK) {
        reply_field_error(c->req, "actor", "actor is at most 64 characters");
        return;
    }
    if (time_param_or_reply(c, "since", &f.since) || time_param_or_reply(c, "until", &f.until))
        return;
    kg_err rc = store_audit_list(c->app->st, &f, cursor, size + 1, &es, &n);
    if (rc != KG_OK) {
        reply_error(c->req, rc, "could not read the audit log");
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n && i < size; i++) {
        if (json_array_append_new(arr, render_audit(&es[i]))) {
            json_decref(arr);
            arr = NULL;
        }
    }
    reply_page(c, arr, n > size ? es[size - 1].seq : 0);
    free(es);
}

void api_webhook_list(struct call *c)
{
    kg_err rc = KG_OK;
    json_t *body = webhooks_render(c->app->webhooks, c->app->st, &rc);
    if (rc != KG_OK) {
        reply_error(c->req, rc, "could not read the webhooks' state");
    } else if (!body) {
        reply_error(c->req, KG_ENOMEM, "out of memory");
    } else {
        reply_json(c->req, 200, body);
    }
}
