/*
 * oauth.c — the OAuth 2.0 endpoints: token (client credentials), introspection, revocation,
 * server metadata and the JWKS.
 *
 * Clients authenticate with HTTP Basic (client_secret_basic) or with client_id and
 * client_secret in the form (client_secret_post), never both.  The check reads only the
 * in-memory view; the secret is compared as a keyed hash in constant time, and an unknown
 * client costs the same hash as a known one.
 *
 * Layout: form and client authentication, token, introspection, revocation, discovery.
 */
#include "oauth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "audit.h"
#include "form.h"
#include "ids.h"
#include "metrics.h"
#include "proxy.h"
#include "reply.h"
#include "util.h"

#define SECRET_MAX 256 /* longest secret read; real ones are KG_SECRET_LEN */
/* Failed client authentications (a wrong secret or an unknown client ID) a client ID, or a
 * source address, is allowed in 15 minutes before each further one is slowed (throttle.h).
 * More than a person's THROTTLE_FREE: a machine client with a stale secret retries a few
 * times before anybody notices, and many clients may share one address (a NAT). */
#define CLIENT_AUTH_FREE_ID 10
#define CLIENT_AUTH_FREE_ADDR 30

/* ---- form and client authentication -------------------------------------------------- */

/* Parses the urlencoded body into *f (cleaned up by the caller in every case). */
static int form_or_reply(struct call *c, struct form *f)
{
    const char *ct = http_header(c->req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
        (ct[33] && ct[33] != ';' && ct[33] != ' ')) {
        call_error(c, KG_INVALID, "send Content-Type: application/x-www-form-urlencoded");
        return -1;
    }
    kg_err rc = form_parse(c->req->body, c->req->body_len, f);
    if (rc != KG_OK) {
        call_error(c, KG_INVALID,
                   rc == KG_CONFLICT ? "a parameter is repeated" : "the form body is malformed");
        return -1;
    }
    return 0;
}

/* Which of t's secrets hash h is: its index, or -1.  Constant time in the secrets' values:
 * every one is compared whole, whichever matches. */
static int secret_index(const struct view_token *t, const unsigned char h[KG_HASH_LEN])
{
    int which = -1;
    for (size_t i = 0; i < t->nsecrets; i++) {
        int equal = sodium_memcmp(h, t->secrets[i].hash, KG_HASH_LEN) == 0;
        which = equal ? (int)i : which;
    }
    return which;
}

/* Authenticates the calling client (an active, unexpired API token, with one of its live
 * secrets) into id[], *vt and *secret (the secret's seq). */
static int client_or_reply(struct call *c, const struct form *f, char id[KG_CLIENT_ID_LEN + 1],
                           struct view_token *vt, int64_t *secret_seq)
{
    struct app *a = c->app;
    char given[KG_CLIENT_ID_LEN + 2] = "", secret[SECRET_MAX + 1] = "";
    int status = -1;
    const char *basic = http_header(c->req, "Authorization");
    const char *pid = form_get(f, "client_id"), *psecret = form_get(f, "client_secret");
    if (basic && (pid || psecret)) {
        call_error(c, KG_INVALID, "use one client authentication method, not two");
        return -1;
    }
    if (basic) {
        if (form_basic(basic, given, sizeof given, secret, sizeof secret) != KG_OK) {
            call_error(c, KG_UNAUTHENTICATED,
                       "the Authorization header is not valid Basic credentials");
            goto out;
        }
    } else if (pid && psecret) {
        if (kg_strcpy(given, sizeof given, pid) != KG_OK) given[0] = '\0';
        if (kg_strcpy(secret, sizeof secret, psecret) != KG_OK) secret[0] = '\0';
    } else {
        call_error(c, KG_UNAUTHENTICATED, "client authentication is required");
        return -1;
    }
    int64_t now = kg_now_ms();
    int valid_id = ids_client_id_valid(given);
    /* Failures slow down their source address and the client ID they named; a client that
     * has authenticated from this address before is let through with the right secret, so
     * that hammering its ID (from here or elsewhere) does not lock it out.  "a:" counts client
     * authentications only: failed pane sign-ins have keys of their own (pane.c). */
    char where[PROXY_ADDR_MAX]; /* the client's address, an IPv6 one by its /64 */
    proxy_addr_group(c->req->peer, where);
    char akey[8 + sizeof where], ckey[8 + KG_CLIENT_ID_LEN],
        kkey[16 + KG_CLIENT_ID_LEN + sizeof where];
    snprintf(akey, sizeof akey, "a:%s", where);
    snprintf(ckey, sizeof ckey, "c:%s", valid_id ? given : "");
    snprintf(kkey, sizeof kkey, "k:%s@%s", valid_id ? given : "", where);
    int64_t wait = throttle_wait(a->throttle, akey, now);
    if (valid_id) {
        int64_t w = throttle_wait(a->throttle, ckey, now);
        if (w > wait) wait = w;
    }
    int known = valid_id && view_token_get(a->view, given, vt) == KG_OK;
    if (valid_id && !known && wait == 0) {
        /* Perhaps made a moment ago by another node or the CLI: the view follows the store
         * every 200 ms, so ask the store once and catch up now rather than fail the client
         * (and count it as a failure).  Unknown IDs are throttled (and a throttled caller
         * never gets here), so these reads are bounded; none while the store is down (each
         * would wait for it). */
        struct kg_token t;
        if (!atomic_load(&a->store_down) && store_token_get(a->st, given, &t) == KG_OK &&
            view_sync(a->view) == KG_OK)
            known = view_token_get(a->view, given, vt) == KG_OK;
    }
    if (wait > 0 && !(known && throttle_known(a->throttle, kkey, now))) {
        call_throttled(c, wait, "client authentications");
        goto out;
    }
    /* An unknown client costs the same hash and a comparison. */
    static const struct view_token nobody = {.nsecrets = 1};
    unsigned char h[KG_HASH_LEN];
    keys_hash_secret(a->keys, secret, strlen(secret), h);
    int which = secret_index(known ? vt : &nobody, h);
    if (!known) which = -1;
    if (known && which < 0 && wait == 0 && !atomic_load(&a->store_down) &&
        view_sync(a->view) == KG_OK) {
        /* Perhaps a secret added a moment ago by another node or the CLI: as for an unknown
         * ID above, catch up with the store now (one read of its version when nothing
         * changed) rather than count the new secret's first uses as guesses. */
        known = view_token_get(a->view, given, vt) == KG_OK;
        which = known ? secret_index(vt, h) : -1;
    }
    sodium_memzero(h, sizeof h);
    const struct view_secret *used = which >= 0 ? &vt->secrets[which] : NULL;
    int stale = used && !view_secret_live(vt, used->seq, now);
    if (!used || stale || vt->status != KG_TOKEN_ACTIVE ||
        (vt->expires_on && vt->expires_on <= now)) {
        if (wait > 0) {
            call_throttled(c, wait, "client authentications");
            goto out;
        }
        /* A guess, or a secret retired (expired or revoked): each counts as a failure.  A
         * revoked or expired token with its secret is not one. */
        if (!used || stale) {
            throttle_fail(a->throttle, akey, CLIENT_AUTH_FREE_ADDR, now);
            if (valid_id) throttle_fail(a->throttle, ckey, CLIENT_AUTH_FREE_ID, now);
        }
        if (used) /* the right secret, retired, or of a token revoked or expired */
            view_token_count(a->view, given, KG_USE_REFUSED_EXPIRED);
        if (stale) { /* answered as a wrong secret; the audit log says why */
            char detail[64], sid[KG_SECRET_ID_LEN + 1];
            ids_secret_id(used->seq, sid);
            snprintf(detail, sizeof detail, "secret %s %s", sid,
                     used->status != KG_SECRET_ACTIVE ? "is revoked" : "has expired");
            audit_record(a, given, c->req->peer, "oauth.token", given, KG_UNAUTHENTICATED, detail);
        }
        call_error(c, KG_UNAUTHENTICATED,
                   "the client is unknown, revoked or expired, or the secret is wrong");
        goto out;
    }
    /* The right secret from outside the token's allowed ranges: answered as a wrong one (not
     * counted as a guess); the audit log says why, at most once a minute a token. */
    struct view_rate rl;
    if (view_token_admit(a->view, given, c->req->peer, VIEW_EXCHANGE, now, &rl) ==
        VIEW_REFUSED_ADDRESS) {
        if (rl.note) {
            char detail[160];
            snprintf(detail, sizeof detail, "address %s is not in the token's allowed ranges",
                     c->req->peer);
            audit_record(a, given, c->req->peer, "oauth.token", given, KG_FORBIDDEN, detail);
        }
        call_error(c, KG_UNAUTHENTICATED,
                   "the client is unknown, revoked or expired, or the secret is wrong");
        goto out;
    }
    throttle_succeed(a->throttle, kkey, now);
    memcpy(id, given, KG_CLIENT_ID_LEN + 1);
    memcpy(c->actor.id, given, KG_CLIENT_ID_LEN + 1); /* for the request's log line */
    *secret_seq = used->seq;
    if (view_token_touch(a->view, id, used->seq, KG_USE_EXCHANGE, now)) {
        /* Exchanges are not audited one by one (thousands a second); a secret's first use is,
         * so that the log shows when a caller moved to a new secret. */
        char detail[48], sid[KG_SECRET_ID_LEN + 1];
        ids_secret_id(used->seq, sid);
        snprintf(detail, sizeof detail, "secret %s used for the first time", sid);
        audit_record(a, id, c->req->peer, "oauth.token", id, KG_OK, detail);
    }
    status = 0;
out:
    sodium_memzero(secret, sizeof secret);
    return status;
}

/* ---- token --------------------------------------------------------------------------- */

/* How an exchange ended, from the status it was answered with. */
static enum metrics_exchange exchange_result(int status)
{
    switch (status) {
    case 200:
        return METRICS_ISSUED;
    case 401:
        return METRICS_INVALID_CLIENT;
    case 429:
        return METRICS_THROTTLED_CLIENT;
    default:
        return status >= 500 ? METRICS_EXCHANGE_ERROR : METRICS_INVALID_REQUEST;
    }
}

void oauth_token(struct call *c)
{
    struct app *a = c->app;
    struct form f;
    struct view_token vt;
    char id[KG_CLIENT_ID_LEN + 1];
    int64_t secret = 0;
    char *jwt = NULL;
    kg_err rc;
    int unsupported = 0; /* the one refusal its status does not tell apart */
    struct jsonw w;
    jsonw_init(&w);
    memset(&f, 0, sizeof f);
    if (form_or_reply(c, &f)) goto out;
    const char *grant = form_get(&f, "grant_type");
    if (!grant) {
        call_error(c, KG_INVALID, "grant_type is required");
        goto out;
    }
    if (strcmp(grant, "client_credentials") != 0) {
        reply_oauth_error(c->req, KG_INVALID, "unsupported_grant_type",
                          "only grant_type=client_credentials is supported");
        unsupported = 1;
        goto out;
    }
    if (client_or_reply(c, &f, id, &vt, &secret)) goto out;

    struct jwt_claims cl;
    int64_t now = kg_now_ms();
    memset(&cl, 0, sizeof cl);
    memcpy(cl.iss, a->cfg.issuer, sizeof cl.iss);
    memcpy(cl.aud, a->cfg.audience, sizeof cl.aud);
    memcpy(cl.sub, id, sizeof cl.sub);
    view_role_name(a->view, vt.role_id, cl.role);
    ids_jti(cl.jti);
    cl.iat = now / 1000;
    cl.exp = cl.iat + a->cfg.access_token_ttl;
    cl.secret = secret;
    if ((rc = jwt_issue(a->keys, &cl, &jwt)) != KG_OK) {
        call_error(c, rc, "could not issue an access token");
        goto out;
    }
    /* No "scope": keygate grants none (a token's reach is its role), and an empty one makes
     * some client libraries refuse the answer as not what they asked for (RFC 6749 §5.1
     * lets it be left out). */
    char sid[KG_SECRET_ID_LEN + 1], ttl[48];
    ids_secret_id(secret, sid);
    snprintf(ttl, sizeof ttl, ",\"token_type\":\"Bearer\",\"expires_in\":%lld",
             (long long)a->cfg.access_token_ttl);
    jsonw_raw(&w, "{\"access_token\":");
    jsonw_str(&w, jwt);
    jsonw_raw(&w, ttl);
    jsonw_raw(&w, ",\"secret_id\":");
    jsonw_str(&w, sid);
    jsonw_raw(&w, "}");
    reply_json_text(c->req, 200, &w);
out:
    jsonw_cleanup(&w); /* it held the access token */
    metrics_exchange(unsupported ? METRICS_UNSUPPORTED_GRANT_TYPE
                                 : exchange_result(c->req->status));
    if (jwt) {
        sodium_memzero(jwt, strlen(jwt));
        free(jwt);
    }
    form_cleanup(&f);
}

/* ---- introspection (RFC 7662) -------------------------------------------------------- */

void oauth_introspect(struct call *c)
{
    struct app *a = c->app;
    struct form f;
    struct view_token vt;
    struct access acc;
    char id[KG_CLIENT_ID_LEN + 1];
    int64_t secret;
    struct jsonw w;
    jsonw_init(&w);
    memset(&f, 0, sizeof f);
    if (form_or_reply(c, &f) || client_or_reply(c, &f, id, &vt, &secret)) goto out;
    if (!view_allows(a->view, (const kg_role_id *)&vt.role_id, 1, PRIV_INTROSPECT)) {
        reply_oauth_error(c->req, KG_FORBIDDEN, NULL,
                          "the client's role lacks the Introspect privilege");
        goto out;
    }
    const char *token = form_get(&f, "token");
    if (!token) {
        call_error(c, KG_INVALID, "token is required");
        goto out;
    }
    if (access_check(a, token, strnlen(token, KG_JWT_MAX + 1), kg_now_ms(), &acc) != KG_OK) {
        reply_json(c->req, 200, json_pack("{s:b}", "active", 0));
        goto out;
    }
    char role[KG_ROLE_NAME_MAX + 1] = "";
    view_role_name(a->view, acc.role_id, role); /* the role now, which is what is enforced */
    const struct jwt_claims *cl = &acc.claims;
    char times[64];
    snprintf(times, sizeof times, ",\"exp\":%lld,\"iat\":%lld", (long long)cl->exp,
             (long long)cl->iat);
    jsonw_raw(&w, "{\"active\":true,\"client_id\":");
    jsonw_str(&w, cl->sub);
    jsonw_raw(&w, ",\"sub\":");
    jsonw_str(&w, cl->sub);
    jsonw_raw(&w, ",\"role\":");
    jsonw_str(&w, role);
    jsonw_raw(&w, times);
    jsonw_raw(&w, ",\"jti\":");
    jsonw_str(&w, cl->jti);
    jsonw_raw(&w, ",\"iss\":");
    jsonw_str(&w, cl->iss);
    jsonw_raw(&w, ",\"aud\":");
    jsonw_str(&w, cl->aud);
    jsonw_raw(&w, ",\"token_type\":\"Bearer\"}");
    reply_json_text(c->req, 200, &w);
out:
    jsonw_cleanup(&w);
    form_cleanup(&f);
}

/* ---- revocation (RFC 7009) ----------------------------------------------------------- */

void oauth_revoke(struct call *c)
{
    struct app *a = c->app;
    struct form f;
    struct view_token vt;
    struct jwt_claims cl;
    char id[KG_CLIENT_ID_LEN + 1];
    int64_t secret;
    memset(&f, 0, sizeof f);
    if (form_or_reply(c, &f) || client_or_reply(c, &f, id, &vt, &secret)) goto out;
    const char *token = form_get(&f, "token");
    const char *hint = form_get(&f, "token_type_hint");
    if (!token) {
        call_error(c, KG_INVALID, "token is required");
        goto out;
    }
    if (hint && strcmp(hint, "access_token") != 0) {
        reply_oauth_error(c->req, KG_INVALID, "unsupported_token_type",
                          "only access tokens can be revoked here");
        goto out;
    }
    /* §2.2: an invalid or expired token needs nothing done, and is not an error. */
    int64_t now_s = kg_now_ms() / 1000;
    if (jwt_verify(a->keys, token, strnlen(token, KG_JWT_MAX + 1), a->cfg.issuer, a->cfg.audience,
                   now_s, &cl) != KG_OK) {
        http_reply(c->req, 200, NULL, "", 0,
                   (const char *const[]){"Cache-Control", "no-store", NULL});
        goto out;
    }
    if (strcmp(cl.sub, id) != 0) {
        call_error(c, KG_FORBIDDEN, "the token was issued to another client");
        goto out;
    }
    kg_err rc = store_jti_revoke(a->st, cl.jti, cl.sub, cl.exp, now_s);
    if (rc != KG_OK) {
        call_error(c, rc, "could not record the revocation");
        goto out;
    }
    view_sync(a->view);
    http_reply(c->req, 200, NULL, "", 0, (const char *const[]){"Cache-Control", "no-store", NULL});
out:
    form_cleanup(&f);
}

/* ---- discovery (RFC 8414) and keys --------------------------------------------------- */

void oauth_metadata(struct call *c)
{
    const char *iss = c->app->cfg.issuer;
    char token[KG_ISSUER_MAX + 64], introspect[KG_ISSUER_MAX + 64], revoke[KG_ISSUER_MAX + 64],
        jwks[KG_ISSUER_MAX + 64];
    snprintf(token, sizeof token, "%s/oauth/v2/token", iss);
    snprintf(introspect, sizeof introspect, "%s/oauth/v2/introspect", iss);
    snprintf(revoke, sizeof revoke, "%s/oauth/v2/revoke", iss);
    snprintf(jwks, sizeof jwks, "%s/.well-known/jwks.json", iss);
    json_t *auth = json_pack("[s, s]", "client_secret_basic", "client_secret_post");
    /* the algorithms access tokens may carry now: those of the published keys */
    struct keys_pub pub[KEYS_MAX];
    size_t n = keys_published(c->app->keys, pub, KG_ARRAY_LEN(pub));
    json_t *algs = json_array();
    for (size_t i = 0; algs && i < n; i++) {
        size_t j = 0;
        while (j < i && strcmp(pub[j].alg, pub[i].alg) != 0)
            j++;
        if (j == i) json_array_append_new(algs, json_string(pub[i].alg));
    }
    reply_json(c->req, 200,
               json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s], s:[], s:o, s:O, s:O, s:o, s:[]}",
                         "issuer", iss, "token_endpoint", token, "introspection_endpoint",
                         introspect, "revocation_endpoint", revoke, "jwks_uri", jwks,
                         "grant_types_supported", "client_credentials", "response_types_supported",
                         "token_endpoint_auth_methods_supported", auth,
                         "introspection_endpoint_auth_methods_supported", auth,
                         "revocation_endpoint_auth_methods_supported", auth,
                         "access_token_signing_alg_values_supported", algs, "scopes_supported"));
}

void oauth_jwks(struct call *c)
{
    struct keys_pub pub[KEYS_MAX];
    size_t n = keys_published(c->app->keys, pub, KG_ARRAY_LEN(pub));
    json_t *keys = json_array();
    for (size_t i = 0; keys && i < n; i++) {
        const struct keys_pub *p = &pub[i];
        json_t *jwk = json_pack("{s:s}", "kty", p->kty);
        if (p->crv[0]) json_object_set_new(jwk, "crv", json_string(p->crv));
        if (p->x[0]) json_object_set_new(jwk, "x", json_string(p->x));
        if (p->y[0]) json_object_set_new(jwk, "y", json_string(p->y));
        if (p->n[0]) json_object_set_new(jwk, "n", json_string(p->n));
        if (p->e[0]) json_object_set_new(jwk, "e", json_string(p->e));
        json_object_set_new(jwk, "kid", json_string(p->kid));
        json_object_set_new(jwk, "alg", json_string(p->alg));
        json_object_set_new(jwk, "use", json_string("sig"));
        json_array_append_new(keys, jwk);
    }
    /* cacheable: a new key is published this long before it signs (keys.c) */
    reply_json_public(c->req, json_pack("{s:o}", "keys", keys), c->app->cfg.jwks_max_age);
}
