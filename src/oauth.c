/*
 * oauth.c — POST /oauth/v2/token: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4).
 *
 * The client authenticates with HTTP Basic (client_secret_basic) or with client_id and
 * client_secret in the form (client_secret_post), never both.  The check reads only the
 * in-memory view; the secret is compared as a keyed hash in constant time, and an unknown
 * client costs the same hash as a known one.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "form.h"
#include "ids.h"
#include "reply.h"
#include "util.h"

#define SECRET_MAX 256 /* longest secret read; real ones are KG_SECRET_LEN */

void oauth_token(struct call *c)
{
    struct app *a = c->app;
    struct form f;
    char id[KG_CLIENT_ID_LEN + 2] = "", secret[SECRET_MAX + 1] = "";
    char *jwt = NULL;
    kg_err rc;
    memset(&f, 0, sizeof f);

    const char *ct = http_header(c->req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
        (ct[33] && ct[33] != ';' && ct[33] != ' ')) {
        reply_oauth_error(c->req, KG_INVALID, NULL,
                          "send Content-Type: application/x-www-form-urlencoded");
        goto out;
    }
    if ((rc = form_parse(c->req->body, c->req->body_len, &f)) != KG_OK) {
        reply_oauth_error(c->req, KG_INVALID, NULL,
                          rc == KG_CONFLICT ? "a parameter is repeated" : "the form body is malformed");
        goto out;
    }
    const char *grant = form_get(&f, "grant_type");
    if (!grant) {
        reply_oauth_error(c->req, KG_INVALID, NULL, "grant_type is required");
        goto out;
    }
    if (strcmp(grant, "client_credentials") != 0) {
        reply_oauth_error(c->req, KG_INVALID, "unsupported_grant_type",
                          "only grant_type=client_credentials is supported");
        goto out;
    }

    const char *basic = http_header(c->req, "Authorization");
    const char *pid = form_get(&f, "client_id"), *psecret = form_get(&f, "client_secret");
    if (basic && (pid || psecret)) {
        reply_oauth_error(c->req, KG_INVALID, NULL, "use one client authentication method, not two");
        goto out;
    }
    if (basic) {
        rc = form_basic(basic, id, sizeof id, secret, sizeof secret);
        if (rc != KG_OK) {
            reply_oauth_error(c->req, KG_UNAUTHENTICATED, NULL, "the Authorization header is not valid Basic credentials");
            goto out;
        }
    } else if (pid && psecret) {
        if (kg_strcpy(id, sizeof id, pid) != KG_OK) id[0] = '\0';
        if (kg_strcpy(secret, sizeof secret, psecret) != KG_OK) secret[0] = '\0';
    } else {
        reply_oauth_error(c->req, KG_UNAUTHENTICATED, NULL, "client authentication is required");
        goto out;
    }

    struct view_token vt;
    static const unsigned char dummy[KG_HASH_LEN];
    int64_t now = kg_now_ms();
    int known = ids_client_id_valid(id) && view_token_get(a->view, id, &vt) == KG_OK;
    int match = keys_secret_matches(a->keys, secret, strlen(secret), known ? vt.secret_hash : dummy);
    if (!known || !match || vt.status != KG_TOKEN_ACTIVE || (vt.expires_on && vt.expires_on <= now)) {
        reply_oauth_error(c->req, KG_UNAUTHENTICATED, NULL,
                          "the client is unknown, revoked or expired, or the secret is wrong");
        goto out;
    }

    struct jwt_claims cl;
    memset(&cl, 0, sizeof cl);
    memcpy(cl.iss, a->cfg.issuer, sizeof cl.iss);
    memcpy(cl.aud, a->cfg.audience, sizeof cl.aud);
    memcpy(cl.sub, id, sizeof cl.sub);
    view_role_name(a->view, vt.role_id, cl.role);
    ids_jti(cl.jti);
    cl.iat = now / 1000;
    cl.exp = cl.iat + a->cfg.access_token_ttl;
    if ((rc = jwt_issue(a->keys, &cl, &jwt)) != KG_OK) {
        reply_oauth_error(c->req, rc, NULL, "could not issue an access token");
        goto out;
    }
    view_token_touch(a->view, id, now);
    reply_json(c->req, 200,
               json_pack("{s:s, s:s, s:I, s:s}", "access_token", jwt, "token_type", "Bearer",
                         "expires_in", (json_int_t)a->cfg.access_token_ttl, "scope", ""));
out:
    if (jwt) {
        sodium_memzero(jwt, strlen(jwt));
        free(jwt);
    }
    sodium_memzero(secret, sizeof secret);
    form_cleanup(&f);
}
