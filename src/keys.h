/*
 * keys.h — the one module that holds secret key bytes.
 *
 * Two keys live in files in the data directory (mode 0600, created on first use):
 *   hash.key     32 bytes: key of the BLAKE2b hash under which client secrets are stored;
 *   signing.key  32 bytes: Ed25519 seed of the access-token signing key.
 * Callers get hashes, signatures and verdicts, never key bytes.  Key memory is wiped on free.
 */
#ifndef KG_KEYS_H
#define KG_KEYS_H

#include <stddef.h>

#include "err.h"
#include "model.h"

#define KG_SIG_LEN 64
#define KG_KID_MAX 16

struct keys;

/* Loads the keys in `dir`, creating missing ones (safe against two processes creating them
 * at once).  Caller owns *out; free with keys_free(). */
kg_err keys_open(const char *dir, struct keys **out);
void keys_free(struct keys *k); /* NULL is a no-op */

/* out = keyed BLAKE2b-256(secret). */
void keys_hash_secret(const struct keys *k, const char *secret, size_t len,
                      unsigned char out[KG_HASH_LEN]);
/* Constant-time: 1 when BLAKE2b(secret) equals `stored`. */
int keys_secret_matches(const struct keys *k, const char *secret, size_t len,
                        const unsigned char stored[KG_HASH_LEN]);

/* Ed25519 over msg; the key id (borrowed, valid while k lives) names the public key. */
void keys_sign(const struct keys *k, const void *msg, size_t len, unsigned char sig[KG_SIG_LEN]);
const char *keys_kid(const struct keys *k);
/* The current signing key's public half (not secret; published in the JWKS). */
void keys_public(const struct keys *k, unsigned char pk[32]);
/* 1 when sig is kid's valid signature of msg. */
int keys_verify(const struct keys *k, const char *kid, const void *msg, size_t len,
                const unsigned char sig[KG_SIG_LEN]);

#endif
