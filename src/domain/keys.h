/*
 * keys.h — the one module that holds secret key bytes.
 *
 * Keys live in files in the key directory (mode 0600, created on first use; see keys.c for
 * the layout): the BLAKE2b key under which client secrets are stored, and the access-token
 * signing keys (Ed25519, ECDSA P-256 or RSA).  Every signing key is published from the moment
 * a server loads it; a new key starts signing only once it has been published for as long as
 * a published key set may be cached, and an old one stays published until the tokens it
 * signed have expired.  Callers get hashes, signatures, public keys and verdicts, never
 * secret key bytes.  Key memory is wiped on free.  Thread safe.
 */
#ifndef KG_KEYS_H
#define KG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "model.h"

#define KG_SIG_MAX 512 /* longest signature: RSA 4096 */
#define KG_KID_MAX 16
#define KEYS_MAX 16 /* signing keys held (and published) at once; the newest win */
/* How much later than another a server may load a new key file: its refresh (200 ms) and
 * slow storage.  A new key signs once published for the JWKS cache lifetime plus this. */
#define KEYS_SPREAD_MS 5000

/* The JWS algorithms of signing keys (RFC 7518, RFC 8037). */
enum keys_alg { KEYS_EDDSA, KEYS_ES256, KEYS_RS256 };
#define KEYS_ALG_COUNT 3

struct keys;

/* A public key as a JWK's members (RFC 7517), base64url where binary. */
struct keys_pub {
    char kid[KG_KID_MAX + 1];
    char alg[8];        /* "EdDSA", "ES256", "RS256" */
    char kty[4];        /* "OKP", "EC", "RSA" */
    char crv[8];        /* "Ed25519", "P-256"; "" for RSA */
    char x[48], y[48];  /* OKP: x; EC: x and y */
    char n[704], e[16]; /* RSA, up to 4096 bits */
};

struct keys_opts {
    /* the algorithm the newest signing key must have: a key directory with none gets one of
     * it, one whose newest key has another gets a new key (a rotation); -1 = keep whatever
     * the directory holds (a new directory gets EdDSA) */
    int alg;
    /* how long a new key is published before it signs: the JWKS's cache lifetime plus
     * KEYS_SPREAD_MS (every server of a deployment must use the same value) */
    int64_t publish_ms;
};

/* "EdDSA", "ES256", "RS256"; parse returns -1 for anything else. */
const char *keys_alg_name(enum keys_alg alg);
int keys_alg_parse(const char *name);

/* Loads the keys in `dir`, creating missing ones (safe against two processes creating them
 * at once); o NULL = {-1, KEYS_SPREAD_MS}.  Caller owns *out; free with keys_free(). */
kg_err keys_open(const char *dir, const struct keys_opts *o, struct keys **out);
void keys_free(struct keys *k); /* NULL is a no-op */
/* Notices a rotation made by another process and forgets keys that stopped signing more
 * than keep_s ago (the longest access-token lifetime); logs when another key starts
 * signing.  Cheap when nothing changed (a directory listing).  Call it from one thread. */
kg_err keys_refresh(struct keys *k, int64_t keep_s);
/* Makes a new signing key in dir (alg -1 = the newest key's algorithm), published at once
 * by running servers, signing once published for their JWKS cache lifetime; removes key
 * files no token can need any more.  Fills kid_out. */
kg_err keys_rotate(const char *dir, int alg, char kid_out[KG_KID_MAX + 1]);

/* out = keyed BLAKE2b-256(secret): what a token's secret is stored and compared as (the
 * comparison is the caller's, in constant time: sodium_memcmp). */
void keys_hash_secret(const struct keys *k, const char *secret, size_t len,
                      unsigned char out[KG_HASH_LEN]);

/* The key that signs now: its id and algorithm; sign with it through keys_sign. */
void keys_signer(struct keys *k, char kid[KG_KID_MAX + 1], enum keys_alg *alg);
/* Signs msg with the key `kid` (KG_NOTFOUND once it is forgotten); *sig_len is set.  ES256
 * signatures are JOSE's R || S, 64 bytes. */
kg_err keys_sign(struct keys *k, const char *kid, const void *msg, size_t len,
                 unsigned char sig[KG_SIG_MAX], size_t *sig_len);
/* 1 when sig is kid's valid signature of msg and kid is a key of algorithm alg. */
int keys_verify(struct keys *k, const char *kid, enum keys_alg alg, const void *msg, size_t len,
                const unsigned char *sig, size_t sig_len);
/* Changes whenever the set of verifying keys changes (never 0): what was verified under
 * an older generation must be verified again. */
uint64_t keys_generation(struct keys *k);
/* The public keys to publish (the signing one first): at most max into out; returns the
 * count. */
size_t keys_published(struct keys *k, struct keys_pub *out, size_t max);

#endif
