/*
 * access.h — is this access token good right now?  The one check behind the REST API's
 * bearer authentication, introspection and the gate: signature and claims (jwt.c), then the
 * API token's current state in the view (active, not expired) and the access token's own
 * revocation by jti.  Touches no disk.
 */
#ifndef KG_ACCESS_H
#define KG_ACCESS_H

#include "app.h"

struct access {
    struct jwt_claims claims;
    kg_role_id role_id; /* the API token's role now (not the one in the JWT) */
};

/* KG_OK fills *out; KG_UNAUTHENTICATED for any token that is not good at now_ms.  A refused
 * token that was genuine (signed by this deployment for one of its API tokens: expired, or
 * its API token, secret or itself revoked or expired) leaves that API token's client ID in
 * out->claims.sub, for the usage counts; any other leaves it "". */
kg_err access_check(struct app *a, const char *token, size_t len, int64_t now_ms,
                    struct access *out);

/* The token after "Bearer " in an Authorization header value, or NULL. */
const char *access_bearer(const char *authorization);

#endif
