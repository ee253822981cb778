/*
 * vcache.h — access tokens whose signature and claims were already checked, so that the hot
 * path (gate, introspection, bearer API calls) verifies each token's Ed25519 signature once
 * rather than on every request.
 *
 * A slot is found by a keyed 128-bit SipHash of the whole token (a random key per process, so
 * no token can be made to collide with another) and remembers the claims and the key-set
 * generation it was verified under: a hit is only taken when the generation is still current
 * and the token has not expired.  It never answers for the token's *state*: the caller still
 * checks the API token (active, not expired) and the jti against the view on every request,
 * so a revocation takes effect exactly as before.  Fixed memory (VCACHE_SLOTS, direct-mapped;
 * a newer token takes an older one's slot).  Thread safe.
 */
#ifndef KG_VCACHE_H
#define KG_VCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "jwt.h"

#define VCACHE_SLOTS 16384

struct vcache;

kg_err vcache_new(struct vcache **out);
void vcache_free(struct vcache *v); /* NULL is a no-op */
/* 1 and *out filled (iss and aud left empty: they were checked against the configuration)
 * when token was stored under `generation` and expires after now_s; 0 otherwise. */
int vcache_get(struct vcache *v, const char *token, size_t len, uint64_t generation, int64_t now_s,
               struct jwt_claims *out);
/* Remembers a token jwt_verify() accepted. */
void vcache_put(struct vcache *v, const char *token, size_t len, uint64_t generation,
                const struct jwt_claims *c);

#endif
