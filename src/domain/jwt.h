/*
 * jwt.h — access tokens: JWTs (RFC 9068 profile) signed with the signing key's algorithm
 * ("EdDSA", "ES256" or "RS256").
 *
 * The header carries "typ":"at+jwt" and the signing key's "kid"; the claims are below.  A
 * token verifies only under the algorithm of the key its kid names.
 * Signing and verifying go through keys.c; this module only encodes, decodes and checks.
 */
#ifndef KG_JWT_H
#define KG_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ids.h"
#include "keys.h"
#include "model.h"

#define KG_JWT_MAX 4096 /* longest access token accepted */
#define KG_ISSUER_MAX 255

struct jwt_claims {
    char iss[KG_ISSUER_MAX + 1];
    char aud[KG_ISSUER_MAX + 1];
    char sub[KG_CLIENT_ID_LEN + 1]; /* = client_id */
    char role[KG_ROLE_NAME_MAX + 1];
    char jti[KG_JTI_LEN + 1];
    int64_t iat, exp; /* seconds since the epoch */
    /* the secret the client authenticated with: the claim secret_id ("s-…"; 0 = none, an
     * access token issued before keygate 0.17) */
    int64_t secret;
};

/* Encodes and signs c.  Caller owns *out (free()). */
kg_err jwt_issue(struct keys *k, const struct jwt_claims *c, char **out);

/*
 * Checks token's form, signature, issuer, audience and times against now (seconds).  A
 * header with "crit" is refused: keygate understands no extension (RFC 7515 §4.1.11).
 * KG_OK fills *out; KG_UNAUTHENTICATED for any malformed, forged, foreign or expired token
 * (no detail is given, to leak nothing).  A token refused only for having expired leaves its
 * sub in out->sub (whose refusal it is, for the usage counts); any other failure leaves
 * out->sub "" and the rest of *out unspecified.
 */
kg_err jwt_verify(struct keys *k, const char *token, size_t len, const char *iss, const char *aud,
                  int64_t now, struct jwt_claims *out);

#endif
