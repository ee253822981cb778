/*
 * keys.c — secret keys: loading/creating key files, keyed hashing, Ed25519 sign/verify.
 */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

struct keys {
    unsigned char hash_key[crypto_generichash_KEYBYTES];
    unsigned char sign_sk[crypto_sign_SECRETKEYBYTES];
    unsigned char sign_pk[crypto_sign_PUBLICKEYBYTES];
    char kid[KG_KID_MAX + 1];
};

/* Reads exactly n bytes of `path` into buf, creating the file with random bytes if absent.
 * A new file is written under a temporary name and linked into place, so a reader never
 * sees a half-written key and two creators agree on one. */
static kg_err load_or_create(const char *dir, const char *name, unsigned char *buf, size_t n)
{
    char path[4096], tmp[4096];
    kg_err rc = KG_IO;
    int fd = -1;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return KG_TOOBIG;
    for (int attempt = 0; attempt < 2; attempt++) {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            struct stat sb;
            ssize_t got = (fstat(fd, &sb) == 0 && (size_t)sb.st_size == n) ? read(fd, buf, n) : -1;
            close(fd);
            if (got != (ssize_t)n) {
                KG_LOG(LOG_ERR, "key file %s: not %zu bytes", path, n);
                return KG_IO;
            }
            if (sb.st_mode & 077) KG_LOG(LOG_WARNING, "key file %s is readable by others", path);
            return KG_OK;
        }
        if (errno != ENOENT) break;
        if (snprintf(tmp, sizeof tmp, "%s/.%s.%ld", dir, name, (long)getpid()) >= (int)sizeof tmp)
            return KG_TOOBIG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) break;
        randombytes_buf(buf, n);
        int ok = write(fd, buf, n) == (ssize_t)n && fsync(fd) == 0;
        close(fd);
        if (ok && link(tmp, path) == 0) {
            unlink(tmp);
            return KG_OK;
        }
        unlink(tmp);
        if (!ok || errno != EEXIST) break;
        /* somebody else created it first: read theirs */
    }
    KG_LOG(LOG_ERR, "key file %s: %s", path, strerror(errno));
    sodium_memzero(buf, n);
    return rc;
}

kg_err keys_open(const char *dir, struct keys **out)
{
    kg_err rc;
    unsigned char seed[crypto_sign_SEEDBYTES];
    struct keys *k = sodium_malloc(sizeof *k);
    if (!k) return KG_ENOMEM;
    if ((rc = load_or_create(dir, "hash.key", k->hash_key, sizeof k->hash_key)) != KG_OK)
        goto out;
    if ((rc = load_or_create(dir, "signing.key", seed, sizeof seed)) != KG_OK) goto out;
    crypto_sign_seed_keypair(k->sign_pk, k->sign_sk, seed);
    unsigned char id[8];
    crypto_generichash(id, sizeof id, k->sign_pk, sizeof k->sign_pk, NULL, 0);
    sodium_bin2base64(k->kid, sizeof k->kid, id, sizeof id, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    *out = k;
    k = NULL;
out:
    sodium_memzero(seed, sizeof seed);
    keys_free(k);
    return rc;
}

void keys_free(struct keys *k)
{
    if (k) sodium_free(k); /* sodium_free wipes the memory */
}

void keys_hash_secret(const struct keys *k, const char *secret, size_t len,
                      unsigned char out[KG_HASH_LEN])
{
    crypto_generichash(out, KG_HASH_LEN, (const unsigned char *)secret, len, k->hash_key,
                       sizeof k->hash_key);
}

int keys_secret_matches(const struct keys *k, const char *secret, size_t len,
                        const unsigned char stored[KG_HASH_LEN])
{
    unsigned char h[KG_HASH_LEN];
    keys_hash_secret(k, secret, len, h);
    int eq = sodium_memcmp(h, stored, KG_HASH_LEN) == 0;
    sodium_memzero(h, sizeof h);
    return eq;
}

void keys_sign(const struct keys *k, const void *msg, size_t len, unsigned char sig[KG_SIG_LEN])
{
    crypto_sign_detached(sig, NULL, msg, len, k->sign_sk);
}

void keys_public(const struct keys *k, unsigned char pk[32])
{
    memcpy(pk, k->sign_pk, crypto_sign_PUBLICKEYBYTES);
}

const char *keys_kid(const struct keys *k)
{
    return k->kid;
}

int keys_verify(const struct keys *k, const char *kid, const void *msg, size_t len,
                const unsigned char sig[KG_SIG_LEN])
{
    if (strcmp(kid, k->kid) != 0) return 0;
    return crypto_sign_verify_detached(sig, msg, len, k->sign_pk) == 0;
}
