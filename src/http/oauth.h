/*
 * oauth.h — the OAuth 2.0 surface: the client-credentials token endpoint (RFC 6749 §4.4),
 * introspection (RFC 7662), revocation (RFC 7009), server metadata (RFC 8414) and the JWKS.
 */
#ifndef KG_OAUTH_H
#define KG_OAUTH_H

#include "call.h"

void oauth_token(struct call *c);      /* POST /oauth/v2/token */
void oauth_introspect(struct call *c); /* POST /oauth/v2/introspect */
void oauth_revoke(struct call *c);     /* POST /oauth/v2/revoke */
void oauth_metadata(struct call *c);   /* GET /.well-known/oauth-authorization-server */
void oauth_jwks(struct call *c);       /* GET /.well-known/jwks.json */

#endif
