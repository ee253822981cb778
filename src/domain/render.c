/*
 * render.c — records to JSON (field names follow the Galaxy API's camelCase).
 */
#include "render.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ids.h"
#include "privilege.h"
#include "util.h"

json_t *render_time(int64_t ms)
{
    if (!ms) return json_null();
    char buf[40];
    kg_time_format(ms, buf, sizeof buf);
    return json_string(buf);
}

/* render_token_json; with hole, the lastAccessOn value is left out and *hole receives the
 * offset in w where it goes. */
static void token_json(struct jsonw *w, const struct kg_token *t, int64_t last_access,
                       const char *secret, size_t *hole)
{
    if (last_access < t->last_access_on) last_access = t->last_access_on;
    jsonw_raw(w, "{\"clientId\":");
    jsonw_str(w, t->client_id);
    jsonw_raw(w, ",\"description\":");
    jsonw_str(w, t->description);
    jsonw_raw(w, ",\"roleId\":");
    jsonw_str(w, t->role_id);
    jsonw_raw(w, ",\"roleName\":");
    jsonw_str(w, t->role_name);
    jsonw_raw(w,
              t->status == KG_TOKEN_ACTIVE ? ",\"status\":\"Active\"" : ",\"status\":\"Revoked\"");
    jsonw_raw(w, ",\"createdOn\":");
    jsonw_time(w, t->created_on);
    jsonw_raw(w, ",\"createdBy\":");
    jsonw_str(w, t->created_by);
    jsonw_raw(w, ",\"lastAccessOn\":");
    if (hole)
        *hole = w->len;
    else
        jsonw_time(w, last_access);
    jsonw_raw(w, ",\"revokedOn\":");
    jsonw_time(w, t->revoked_on);
    jsonw_raw(w, ",\"expiresOn\":");
    jsonw_time(w, t->expires_on);
    /* Its secrets: how many are live, and when the last of them stops (null while one never
     * does; with none live, when the last one stopped, or null when none expired). */
    int64_t now = kg_now_ms(), until = 0, last = 0;
    size_t live = 0, forever = 0;
    for (size_t i = 0; i < t->nsecrets; i++) {
        int64_t e = t->secrets[i].expires_on;
        if (e > last) last = e;
        if (!kg_secret_live(&t->secrets[i], now)) continue;
        live++;
        forever += e == 0;
        if (e > until) until = e;
    }
    char count[24];
    snprintf(count, sizeof count, ",\"secretCount\":%zu", live);
    jsonw_raw(w, count);
    jsonw_raw(w, ",\"secretsExpireOn\":");
    jsonw_time(w, !live ? last : forever ? 0 : until);
    /* Its usage controls: its own rate limit (null: the deployment's default, if any), and the
     * ranges it may be used from ([]: anywhere). */
    if (t->rate_requests) {
        char rate[80];
        snprintf(rate, sizeof rate, ",\"rateLimit\":{\"requests\":%lld,\"periodSeconds\":%lld}",
                 (long long)t->rate_requests, (long long)t->rate_period_s);
        jsonw_raw(w, rate);
    } else {
        jsonw_raw(w, ",\"rateLimit\":null");
    }
    jsonw_raw(w, ",\"allowedCidrs\":[");
    for (const char *p = t->cidrs; *p;) {
        char one[KG_CIDRS_TEXT_MAX + 1];
        size_t len = strcspn(p, ",");
        memcpy(one, p, len);
        one[len] = '\0';
        if (p != t->cidrs) jsonw_raw(w, ",");
        jsonw_str(w, one);
        p += len + (p[len] == ',');
    }
    jsonw_raw(w, "]");
    if (secret) {
        jsonw_raw(w, ",\"clientSecret\":");
        jsonw_str(w, secret);
    }
    jsonw_raw(w, "}");
}

void render_token_json(struct jsonw *w, const struct kg_token *t, int64_t last_access,
                       const char *secret)
{
    token_json(w, t, last_access, secret, NULL);
}

void render_token_json_hole(struct jsonw *w, const struct kg_token *t, size_t *hole)
{
    token_json(w, t, 0, NULL, hole);
}

int64_t render_token_until(const struct kg_token *t, int64_t now)
{
    int64_t until = INT64_MAX;
    for (size_t i = 0; i < t->nsecrets; i++)
        if (kg_secret_live(&t->secrets[i], now) && t->secrets[i].expires_on &&
            t->secrets[i].expires_on < until)
            until = t->secrets[i].expires_on;
    return until;
}

json_t *render_token(const struct kg_token *t, int64_t last_access, const char *secret)
{
    struct jsonw w;
    jsonw_init(&w);
    render_token_json(&w, t, last_access, secret);
    json_t *o = w.oom ? NULL : json_loadb(w.text, w.len, 0, NULL);
    jsonw_cleanup(&w);
    return o;
}

void render_usage_counts(json_t *o, const int64_t n[KG_USE_KINDS])
{
    static const char *const names[KG_USE_KINDS] = {
        [KG_USE_EXCHANGE] = "exchanges",
        [KG_USE_GATE_ALLOWED] = "gateAllowed",
        [KG_USE_API_CALL] = "apiCalls",
        [KG_USE_REFUSED_PRIVILEGE] = "refusedPrivilege",
        [KG_USE_REFUSED_RATE] = "refusedRateLimit",
        [KG_USE_REFUSED_ADDRESS] = "refusedAddress",
        [KG_USE_REFUSED_EXPIRED] = "refusedExpired",
    };
    int64_t all = 0, refused = 0;
    for (size_t k = 0; k < KG_USE_KINDS; k++) {
        all += n[k];
        refused += k >= KG_USE_FIRST_REFUSED ? n[k] : 0;
    }
    json_object_set_new(o, "requests", json_integer(all));
    json_object_set_new(o, "refused", json_integer(refused));
    for (size_t k = 0; k < KG_USE_KINDS; k++)
        json_object_set_new(o, names[k], json_integer(n[k]));
}

const char *render_secret_status(const struct kg_secret *s, int64_t now)
{
    return s->status == KG_SECRET_REVOKED ? "Revoked"
           : kg_secret_live(s, now)       ? "Active"
                                          : "Expired";
}

json_t *render_secret(const char *client_id, const struct kg_secret *s, int64_t last_used,
                      int64_t now, const char *secret)
{
    char id[KG_SECRET_ID_LEN + 1];
    ids_secret_id(s->seq, id);
    if (last_used < s->last_used_on) last_used = s->last_used_on;
    json_t *o =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "clientId", client_id,
                  "secretId", id, "secretPrefix", s->prefix, "description", s->description,
                  "status", render_secret_status(s, now), "createdOn", render_time(s->created_on),
                  "lastUsedOn", render_time(last_used), "expiresOn", render_time(s->expires_on),
                  "revokedOn", render_time(s->revoked_on));
    if (o && secret) json_object_set_new(o, "clientSecret", json_string(secret));
    return o;
}

json_t *render_sync(int64_t sync)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)sync);
    return json_string(buf);
}

json_t *render_role_grant(const struct kg_role_grant *g)
{
    int user = g->principal[0] == 'u';
    return json_pack("{s:s, s:s, s:{s:s, s:s}, s:b}", "roleId", g->role_id, "roleName",
                     g->role_name, "principal", "type", user ? "User" : "Role", "id", g->principal,
                     "adminOption", 0);
}

/* The grants as RoleGrant objects: only the direct ones, or all. */
static json_t *grant_list(const struct kg_role_grant *g, size_t n, int direct_only)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (direct_only && !g[i].direct) continue;
        if (json_array_append_new(a, render_role_grant(&g[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *render_role(const struct kg_role *r, const struct kg_role_grant *g, size_t ng)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "roleId", r->role_id,
                     "roleName", r->role_name, "roleDescription", r->description, "owningRoleId",
                     r->owning_role_id[0] ? r->owning_role_id : KG_ROLE_ACCOUNTADMIN_ID,
                     "directlyGrantedRoles", grant_list(g, ng, 1), "allRoles", grant_list(g, ng, 0),
                     "createdOn", render_time(r->created_on), "modifiedOn",
                     render_time(r->modified_on), "syncToken", render_sync(r->sync));
}

json_t *render_privilege(const struct kg_privilege *p, const char *account_id)
{
    return json_pack("{s:s, s:s, s:s, s:b, s:s}", "grantKind", privilege_kind_name(p->kind),
                     "entityKind", PRIV_ENTITY_ACCOUNT, "entityId", account_id, "grantOption",
                     p->grant_option != 0, "privilege", p->name);
}

json_t *render_user(const struct kg_user *u, const struct kg_role_grant *g, size_t ng)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:b, s:o, s:o, s:o}", "userId", u->user_id, "email",
                     u->email, "defaultRoleId", u->nroles ? u->roles[0] : KG_ROLE_PUBLIC_ID,
                     "createdOn", render_time(u->created_on), "scimManaged", 0,
                     "directlyGrantedRoles", grant_list(g, ng, 1), "allRoles", grant_list(g, ng, 0),
                     "syncToken", render_sync(u->sync));
}

json_t *render_audit(const struct kg_audit *e)
{
    return json_pack("{s:o, s:s, s:s, s:s, s:s, s:s, s:s}", "time", render_time(e->at), "actor",
                     e->actor, "action", e->action, "target", e->target, "sourceAddress",
                     e->address, "outcome", e->outcome, "detail", e->detail);
}
