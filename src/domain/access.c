/*
 * access.c — the access-token check shared by every surface that accepts one.
 */
#include "access.h"

#include <string.h>
#include <strings.h>

#include "vcache.h"

kg_err access_check(struct app *a, const char *token, size_t len, int64_t now_ms,
                    struct access *out)
{
    struct view_token vt;
    uint64_t gen = keys_generation(a->keys);
    if (a->vcache && vcache_get(a->vcache, token, len, gen, now_ms / 1000, &out->claims)) {
        memcpy(out->claims.iss, a->cfg.issuer, sizeof out->claims.iss);
        memcpy(out->claims.aud, a->cfg.audience, sizeof out->claims.aud);
    } else if (jwt_verify(a->keys, token, len, a->cfg.issuer, a->cfg.audience, now_ms / 1000,
                          &out->claims) == KG_OK) {
        if (a->vcache) vcache_put(a->vcache, token, len, gen, &out->claims);
    } else {
        return KG_UNAUTHENTICATED; /* out->claims.sub: an expired token's client, or "" */
    }
    if (view_token_get(a->view, out->claims.sub, &vt) != KG_OK) {
        out->claims.sub[0] = '\0'; /* not a token of this deployment (any more) */
        return KG_UNAUTHENTICATED;
    }
    if (vt.status != KG_TOKEN_ACTIVE || (vt.expires_on && vt.expires_on <= now_ms) ||
        view_jti_revoked(a->view, out->claims.jti))
        return KG_UNAUTHENTICATED;
    if (out->claims.secret && !view_secret_live(&vt, out->claims.secret, now_ms))
        return KG_UNAUTHENTICATED; /* its secret was deleted, revoked or has expired */
    memcpy(out->role_id, vt.role_id, sizeof out->role_id);
    return KG_OK;
}

const char *access_bearer(const char *authorization)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0) return NULL;
    const char *t = authorization + 7;
    while (*t == ' ')
        t++;
    return *t ? t : NULL;
}
