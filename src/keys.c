/*
 * keys.c — secret keys: loading/creating key files, keyed hashing, Ed25519 signing with
 * rotation.
 *
 * Files in the key directory (mode 0600):
 *   hash.key                      32 bytes, the client-secret hash key (never rotates);
 *   signing.key                   32-byte Ed25519 seed of the current signing key;
 *   retired-<ms>-<kid>.key        a former signing key, retired at <ms> (by keys_rotate);
 *                                 it verifies and is published until tokens it signed
 *                                 have expired, then keys_refresh() forgets it.
 * Layout: file helpers, the key set, open/refresh/rotate, hashing, signing.
 */
#include "keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define SIGNING_MAX 16 /* the current key and retired ones still in use */

struct signing {
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    char kid[KG_KID_MAX + 1];
    int64_t retired_ms; /* 0 = current */
};

struct keys {
    unsigned char hash_key[crypto_generichash_KEYBYTES];
    pthread_rwlock_t lock; /* guards set[] and nset */
    struct signing set[SIGNING_MAX]; /* set[0] is current */
    size_t nset;
    char dir[4096];
    struct stat seen; /* signing.key as last loaded, to notice a rotation */
    _Atomic uint64_t generation; /* counts the key sets loaded; starts at 1 */
};

/* ---- files --------------------------------------------------------------------------- */

/* Reads exactly n bytes of dir/name into buf. */
static kg_err read_exact(const char *dir, const char *name, unsigned char *buf, size_t n,
                         struct stat *sb)
{
    char path[4200];
    struct stat local;
    if (!sb) sb = &local;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return KG_TOOBIG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? KG_NOTFOUND : KG_IO;
    ssize_t got = (fstat(fd, sb) == 0 && (size_t)sb->st_size == n) ? read(fd, buf, n) : -1;
    close(fd);
    if (got != (ssize_t)n) {
        KG_LOG(LOG_ERR, "key file %s: not %zu bytes", path, n);
        return KG_IO;
    }
    if (sb->st_mode & 077) KG_LOG(LOG_WARNING, "key file %s is readable by others", path);
    return KG_OK;
}

/* Writes n random bytes (returned in buf) to a temporary file in dir; its name goes to tmp. */
static kg_err write_random(const char *dir, const char *name, unsigned char *buf, size_t n,
                           char *tmp, size_t tmp_size)
{
    if (snprintf(tmp, tmp_size, "%s/.%s.%ld", dir, name, (long)getpid()) >= (int)tmp_size)
        return KG_TOOBIG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return KG_IO;
    randombytes_buf(buf, n);
    int ok = write(fd, buf, n) == (ssize_t)n && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(tmp);
        return KG_IO;
    }
    return KG_OK;
}

/* Reads dir/name, creating it with random bytes if absent.  A new file is written under a
 * temporary name and linked into place, so a reader never sees a half-written key and two
 * creators agree on one. */
static kg_err load_or_create(const char *dir, const char *name, unsigned char *buf, size_t n,
                             struct stat *sb)
{
    char path[4200], tmp[4200];
    kg_err rc = KG_IO;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return KG_TOOBIG;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = read_exact(dir, name, buf, n, sb);
        if (rc != KG_NOTFOUND) return rc;
        if ((rc = write_random(dir, name, buf, n, tmp, sizeof tmp)) != KG_OK) break;
        int linked = link(tmp, path) == 0, err = errno;
        unlink(tmp);
        if (linked) return read_exact(dir, name, buf, n, sb);
        rc = KG_IO;
        if (err != EEXIST) break;
        /* somebody else created it first: read theirs */
    }
    KG_LOG(LOG_ERR, "key file %s: %s", path, strerror(errno));
    sodium_memzero(buf, n);
    return rc;
}

/* ---- the key set --------------------------------------------------------------------- */

static void derive(struct signing *s, const unsigned char seed[crypto_sign_SEEDBYTES])
{
    unsigned char id[8];
    crypto_sign_seed_keypair(s->pk, s->sk, seed);
    crypto_generichash(id, sizeof id, s->pk, sizeof s->pk, NULL, 0);
    sodium_bin2base64(s->kid, sizeof s->kid, id, sizeof id, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Loads the current key and the retired ones younger than keep_ms into set[] (n of them). */
static kg_err load_set(const char *dir, int64_t keep_ms, struct signing *set, size_t *n,
                       struct stat *sb)
{
    unsigned char seed[crypto_sign_SEEDBYTES];
    kg_err rc = load_or_create(dir, "signing.key", seed, sizeof seed, sb);
    if (rc != KG_OK) return rc;
    derive(&set[0], seed);
    set[0].retired_ms = 0;
    *n = 1;
    DIR *d = opendir(dir);
    struct dirent *e;
    int64_t now = kg_now_ms();
    while (d && (e = readdir(d)) && *n < SIGNING_MAX) {
        long long ms;
        char kid[KG_KID_MAX + 1];
        int used = 0;
        if (sscanf(e->d_name, "retired-%lld-%16[A-Za-z0-9_-].key%n", &ms, kid, &used) != 2 ||
            e->d_name[used] != '\0' || now - ms > keep_ms)
            continue;
        if (read_exact(dir, e->d_name, seed, sizeof seed, NULL) != KG_OK) continue;
        derive(&set[*n], seed);
        set[*n].retired_ms = ms;
        if (strcmp(set[*n].kid, kid) != 0 || strcmp(set[*n].kid, set[0].kid) == 0) continue;
        (*n)++;
    }
    if (d) closedir(d);
    sodium_memzero(seed, sizeof seed);
    return KG_OK;
}

kg_err keys_open(const char *dir, struct keys **out)
{
    kg_err rc;
    struct keys *k = sodium_malloc(sizeof *k);
    if (!k) return KG_ENOMEM;
    memset(k, 0, sizeof *k);
    k->generation = 1;
    pthread_rwlock_init(&k->lock, NULL);
    if ((rc = kg_strcpy(k->dir, sizeof k->dir, dir)) != KG_OK) goto fail;
    if ((rc = load_or_create(dir, "hash.key", k->hash_key, sizeof k->hash_key, NULL)) != KG_OK)
        goto fail;
    /* retired keys: up to a day (the longest access-token lifetime) until the first refresh */
    if ((rc = load_set(dir, 86400 * 1000LL + 60000, k->set, &k->nset, &k->seen)) != KG_OK) goto fail;
    *out = k;
    return KG_OK;
fail:
    keys_free(k);
    return rc;
}

void keys_free(struct keys *k)
{
    if (!k) return;
    pthread_rwlock_destroy(&k->lock);
    sodium_free(k); /* sodium_free wipes the memory */
}

kg_err keys_refresh(struct keys *k, int64_t keep_s)
{
    struct stat sb;
    char path[4200];
    snprintf(path, sizeof path, "%s/signing.key", k->dir);
    int64_t keep_ms = (keep_s + 60) * 1000, now = kg_now_ms();
    int changed = stat(path, &sb) == 0 &&
                  (sb.st_ino != k->seen.st_ino || sb.st_mtim.tv_sec != k->seen.st_mtim.tv_sec ||
                   sb.st_mtim.tv_nsec != k->seen.st_mtim.tv_nsec);
    int stale = 0;
    pthread_rwlock_rdlock(&k->lock);
    for (size_t i = 1; i < k->nset; i++) stale |= now - k->set[i].retired_ms > keep_ms;
    pthread_rwlock_unlock(&k->lock);
    if (!changed && !stale) return KG_OK;

    struct signing *fresh = sodium_malloc(sizeof(struct signing) * SIGNING_MAX);
    size_t n = 0;
    if (!fresh) return KG_ENOMEM;
    kg_err rc = load_set(k->dir, keep_ms, fresh, &n, &sb);
    if (rc == KG_OK) {
        pthread_rwlock_wrlock(&k->lock);
        memcpy(k->set, fresh, n * sizeof *fresh);
        k->nset = n;
        k->seen = sb;
        k->generation++;
        pthread_rwlock_unlock(&k->lock);
        KG_LOG(LOG_NOTICE, "signing keys: current %s, %zu retired still published", fresh[0].kid, n - 1);
    }
    sodium_free(fresh);
    return rc;
}

kg_err keys_rotate(const char *dir, char kid_out[KG_KID_MAX + 1])
{
    unsigned char seed[crypto_sign_SEEDBYTES];
    struct signing old, cur;
    char tmp[4200], path[4200], retired[4200];
    kg_err rc = load_or_create(dir, "signing.key", seed, sizeof seed, NULL);
    if (rc != KG_OK) return rc;
    derive(&old, seed);
    snprintf(path, sizeof path, "%s/signing.key", dir);
    snprintf(retired, sizeof retired, "%s/retired-%lld-%s.key", dir, (long long)kg_now_ms(), old.kid);
    if ((rc = write_random(dir, "signing.key", seed, sizeof seed, tmp, sizeof tmp)) != KG_OK) goto out;
    /* the old key stays verifiable throughout: it is retired before it stops being current */
    if (link(path, retired) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        rc = KG_IO;
        goto out;
    }
    derive(&cur, seed);
    memcpy(kid_out, cur.kid, KG_KID_MAX + 1);
    /* forget retired keys past any token's lifetime (a day) */
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        long long ms;
        if (sscanf(e->d_name, "retired-%lld-", &ms) == 1 && kg_now_ms() - ms > 2 * 86400 * 1000LL) {
            char p[4200];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    }
    if (d) closedir(d);
out:
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(&old, sizeof old);
    sodium_memzero(&cur, sizeof cur);
    return rc;
}

/* ---- hashing ------------------------------------------------------------------------- */

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

/* ---- signing ------------------------------------------------------------------------- */

void keys_current_kid(struct keys *k, char kid[KG_KID_MAX + 1])
{
    pthread_rwlock_rdlock(&k->lock);
    memcpy(kid, k->set[0].kid, KG_KID_MAX + 1);
    pthread_rwlock_unlock(&k->lock);
}

kg_err keys_sign(struct keys *k, const char *kid, const void *msg, size_t len,
                 unsigned char sig[KG_SIG_LEN])
{
    kg_err rc = KG_NOTFOUND;
    pthread_rwlock_rdlock(&k->lock);
    for (size_t i = 0; i < k->nset; i++) {
        if (strcmp(k->set[i].kid, kid) != 0) continue;
        crypto_sign_detached(sig, NULL, msg, len, k->set[i].sk);
        rc = KG_OK;
        break;
    }
    pthread_rwlock_unlock(&k->lock);
    return rc;
}

uint64_t keys_generation(struct keys *k)
{
    return k->generation;
}

int keys_verify(struct keys *k, const char *kid, const void *msg, size_t len,
                const unsigned char sig[KG_SIG_LEN])
{
    int ok = 0;
    pthread_rwlock_rdlock(&k->lock);
    for (size_t i = 0; i < k->nset; i++) {
        if (strcmp(k->set[i].kid, kid) != 0) continue;
        ok = crypto_sign_verify_detached(sig, msg, len, k->set[i].pk) == 0;
        break;
    }
    pthread_rwlock_unlock(&k->lock);
    return ok;
}

size_t keys_published(struct keys *k, struct keys_pub *out, size_t max)
{
    size_t n = 0;
    pthread_rwlock_rdlock(&k->lock);
    for (size_t i = 0; i < k->nset && n < max; i++, n++) {
        memcpy(out[n].pk, k->set[i].pk, sizeof out[n].pk);
        memcpy(out[n].kid, k->set[i].kid, sizeof out[n].kid);
    }
    pthread_rwlock_unlock(&k->lock);
    return n;
}
