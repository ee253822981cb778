/*
 * keys.h — the one module that holds secret key bytes.
 *
 * Keys live in files in the data directory (mode 0600, created on first use; see keys.c for
 * the layout): the BLAKE2b key under which client secrets are stored, and the Ed25519 access-
 * token signing keys — a current one, and retired ones that still verify (and are published)
 * until the tokens they signed have expired.  Callers get hashes, signatures, public keys
 * and verdicts, never secret key bytes.  Key memory is wiped on free.  Thread safe.
 */
#ifndef KG_KEYS_H
#define KG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"

#define KG_SIG_LEN 64
#define KG_KID_MAX 16

struct keys;

struct keys_pub {
    unsigned char pk[32];
    char kid[KG_KID_MAX + 1];
};

/* Loads the keys in `dir`, creating missing ones (safe against two processes creating them
 * at once).  Caller owns *out; free with keys_free(). */
kg_err keys_open(const char *dir, struct keys **out);
void keys_free(struct keys *k); /* NULL is a no-op */
/* Notices a rotation made by another process and forgets retired keys older than keep_s
 * (the longest access-token lifetime).  Cheap when nothing changed (one stat). */
kg_err keys_refresh(struct keys *k, int64_t keep_s);
/* Makes a new current signing key in dir and retires the old one; fills kid_out. */
kg_err keys_rotate(const char *dir, char kid_out[KG_KID_MAX + 1]);

/* out = keyed BLAKE2b-256(secret). */
void keys_hash_secret(const struct keys *k, const char *secret, size_t len,
                      unsigned char out[KG_HASH_LEN]);
/* Constant-time: 1 when BLAKE2b(secret) equals `stored`. */
int keys_secret_matches(const struct keys *k, const char *secret, size_t len,
                        const unsigned char stored[KG_HASH_LEN]);

/* The current signing key's id; sign with it through keys_sign. */
void keys_current_kid(struct keys *k, char kid[KG_KID_MAX + 1]);
/* Ed25519 over msg with the key `kid` (KG_NOTFOUND once it is forgotten). */
kg_err keys_sign(struct keys *k, const char *kid, const void *msg, size_t len,
                 unsigned char sig[KG_SIG_LEN]);
/* 1 when sig is kid's valid signature of msg (current or retired key). */
int keys_verify(struct keys *k, const char *kid, const void *msg, size_t len,
                const unsigned char sig[KG_SIG_LEN]);
/* Changes whenever the set of verifying keys changes (never 0): what was verified under
 * an older generation must be verified again. */
uint64_t keys_generation(struct keys *k);
/* The public keys to publish (current first): at most max into out; returns the count. */
size_t keys_published(struct keys *k, struct keys_pub *out, size_t max);

#endif
