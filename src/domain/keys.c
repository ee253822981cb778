/*
 * keys.c — secret keys: loading/creating key files, keyed hashing, signing with rotation.
 *
 * Files in the key directory (mode 0600):
 *   hash.key                 32 bytes, the client-secret hash key (never rotates);
 *   signing.key              the first signing key (made with the directory);
 *   key-<ms>-<kid>.key       a signing key made by a rotation at <ms>;
 *   retired-<ms>-<kid>.key   a key that stopped signing at <ms> (written by keygate before
 *                            0.3; still read, never written).
 * A signing key file holds either a 32-byte Ed25519 seed or a PKCS#8 PEM private key (EC
 * P-256 for ES256, RSA of 2048 bits or more for RS256).
 *
 * Which key signs: a server publishes every key it loads, and a key made at <ms> signs from
 * max(<ms>, when this process first saw it) + publish_ms (the JWKS cache lifetime +
 * KEYS_SPREAD_MS): every server loads a new file within KEYS_SPREAD_MS, so by then no JWKS
 * served before the key existed is still cached anywhere.  The newest key that may sign
 * does; an older one stays published until the newest has signed for keep_s (the
 * access-token lifetime).  A server notices new files by a fingerprint of the directory's
 * key files (name, inode, size, mtime), so a file copied in place is seen once complete.
 * Ed25519 uses libsodium; ES256 and RS256 use OpenSSL 3's libcrypto, which libsodium lacks.
 *
 * Layout: algorithms, files, one key, the key set, open/refresh/rotate, hashing, signing.
 */
#include "keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define SIGNING_MAX KEYS_MAX
#define NAMES_MAX 64  /* key files considered in one directory: the newest */
#define FILE_MAX 8192 /* longest key file (RSA 4096 PEM is ~3.3 kB) */
/* a key stopped signing this long ago has no token left: the longest --jwks-max-age and
 * token lifetime (a day each) and then some */
#define FORGET_MS (3 * 86400000LL)
#define FIRST_KEEP_MS (86400000LL + 60000) /* a day (the longest token lifetime) till a refresh */
#define RSA_BITS 2048

/* ---- algorithms ---------------------------------------------------------------------- */

static const char *const alg_names[KEYS_ALG_COUNT] = {"EdDSA", "ES256", "RS256"};

const char *keys_alg_name(enum keys_alg alg)
{
    return (unsigned)alg < KEYS_ALG_COUNT ? alg_names[alg] : "?";
}

int keys_alg_parse(const char *name)
{
    for (int i = 0; name && i < KEYS_ALG_COUNT; i++)
        if (strcmp(name, alg_names[i]) == 0) return i;
    return -1;
}

/* ---- files --------------------------------------------------------------------------- */

/* Reads dir/name (at most cap bytes) into buf; *len is set. */
static kg_err read_file(const char *dir, const char *name, unsigned char *buf, size_t cap,
                        size_t *len)
{
    char path[4200];
    struct stat sb = {0};
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return KG_TOOBIG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? KG_NOTFOUND : KG_IO;
    ssize_t got = -1;
    if (fstat(fd, &sb) == 0 && sb.st_size > 0 && (size_t)sb.st_size <= cap)
        got = read(fd, buf, (size_t)sb.st_size);
    close(fd);
    if (got != (ssize_t)sb.st_size || got <= 0) {
        KG_LOG(LOG_ERR, "key file %s: empty, unreadable or longer than %zu bytes", path, cap);
        return KG_IO;
    }
    if (sb.st_mode & 077) KG_LOG(LOG_WARNING, "key file %s is readable by others", path);
    *len = (size_t)got;
    return KG_OK;
}

/* Links n bytes into place as dir/name through a temporary file, so that a reader never
 * sees half a key; KG_CONFLICT when dir/name exists already. */
static kg_err write_file(const char *dir, const char *name, const unsigned char *buf, size_t n)
{
    char tmp[4200], path[4200];
    if (snprintf(tmp, sizeof tmp, "%s/.%s.%ld", dir, name, (long)getpid()) >= (int)sizeof tmp ||
        snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return KG_TOOBIG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return KG_IO;
    int ok = write(fd, buf, n) == (ssize_t)n && fsync(fd) == 0;
    close(fd);
    int linked = ok && link(tmp, path) == 0, err = errno;
    unlink(tmp);
    if (linked) { /* the new name survives a crash */
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        return KG_OK;
    }
    if (ok && err == EEXIST) return KG_CONFLICT;
    KG_LOG(LOG_ERR, "key file %s: %s", path, strerror(err));
    return KG_IO;
}

/* ---- one key ------------------------------------------------------------------------- */

struct signing {
    enum keys_alg alg;
    unsigned char sk[crypto_sign_SECRETKEYBYTES]; /* EdDSA */
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    EVP_PKEY *pkey;      /* ES256, RS256 */
    struct keys_pub pub; /* what the JWKS shows */
    int64_t made_ms;     /* key-<ms>: when it was made; 0 for signing.key */
    int64_t retired_ms;  /* retired-<ms>: when it stopped signing; else 0 */
    int64_t seen_ms;     /* when this process first loaded it; 0 = at start */
};

static void signing_clear(struct signing *s)
{
    EVP_PKEY_free(s->pkey);
    sodium_memzero(s, sizeof *s);
}

static void b64(char *dst, size_t size, const unsigned char *src, size_t len)
{
    sodium_bin2base64(dst, size, src, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* kid = base64url of 8 bytes of BLAKE2b over the public key's bytes. */
static void set_kid(struct signing *s, const unsigned char *pub, size_t len)
{
    unsigned char id[8];
    crypto_generichash(id, sizeof id, pub, len, NULL, 0);
    b64(s->pub.kid, sizeof s->pub.kid, id, sizeof id);
}

/* A BIGNUM parameter of pkey as base64url, left-padded with zeros to pad bytes (0 = none). */
static int bn_b64(EVP_PKEY *pkey, const char *param, size_t pad, char *dst, size_t size)
{
    BIGNUM *bn = NULL;
    unsigned char buf[512];
    int n = -1;
    if (EVP_PKEY_get_bn_param(pkey, param, &bn) == 1 && (size_t)BN_num_bytes(bn) <= sizeof buf)
        n = pad ? BN_bn2binpad(bn, buf, (int)pad) : BN_bn2bin(bn, buf);
    BN_free(bn);
    if (n <= 0 ||
        sodium_base64_ENCODED_LEN((size_t)n, sodium_base64_VARIANT_URLSAFE_NO_PADDING) > size)
        return 0;
    b64(dst, size, buf, (size_t)n);
    return 1;
}

/* An encrypted key file is refused, never a prompt on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

/* Fills s from a PKCS#8 PEM key: an EC P-256 key (ES256) or an RSA key of 2048 bits or more
 * (RS256).  0 for anything else. */
static int from_pem(struct signing *s, const unsigned char *buf, size_t len)
{
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    char group[16] = "";
    int ok = 0;
    if (!pkey) goto out;
    if (EVP_PKEY_is_a(pkey, "EC") &&
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       NULL) &&
        strcmp(group, "prime256v1") == 0) {
        s->alg = KEYS_ES256;
        strcpy(s->pub.kty, "EC");
        strcpy(s->pub.crv, "P-256");
        ok = bn_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32, s->pub.x, sizeof s->pub.x) &&
             bn_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32, s->pub.y, sizeof s->pub.y);
    } else if (EVP_PKEY_is_a(pkey, "RSA") && EVP_PKEY_get_bits(pkey) >= RSA_BITS &&
               EVP_PKEY_get_size(pkey) <= KG_SIG_MAX) {
        s->alg = KEYS_RS256;
        strcpy(s->pub.kty, "RSA");
        ok = bn_b64(pkey, OSSL_PKEY_PARAM_RSA_N, 0, s->pub.n, sizeof s->pub.n) &&
             bn_b64(pkey, OSSL_PKEY_PARAM_RSA_E, 0, s->pub.e, sizeof s->pub.e);
    }
    unsigned char *der = NULL;
    int der_len = ok ? i2d_PUBKEY(pkey, &der) : -1;
    if (der_len > 0) set_kid(s, der, (size_t)der_len);
    ok = ok && der_len > 0;
    OPENSSL_free(der);
out:
    if (ok)
        s->pkey = pkey;
    else
        EVP_PKEY_free(pkey);
    ERR_clear_error();
    return ok;
}

/* Fills s from a key file's bytes; 0 when they are no key keygate signs with. */
static int parse_key(struct signing *s, const unsigned char *buf, size_t len)
{
    memset(s, 0, sizeof *s);
    if (len == crypto_sign_SEEDBYTES) {
        s->alg = KEYS_EDDSA;
        crypto_sign_seed_keypair(s->pk, s->sk, buf);
        strcpy(s->pub.kty, "OKP");
        strcpy(s->pub.crv, "Ed25519");
        b64(s->pub.x, sizeof s->pub.x, s->pk, sizeof s->pk);
        set_kid(s, s->pk, sizeof s->pk);
    } else if (!from_pem(s, buf, len)) {
        return 0;
    }
    strcpy(s->pub.alg, keys_alg_name(s->alg));
    return 1;
}

/* A new key of alg as file bytes into buf; *len is set. */
static kg_err generate(enum keys_alg alg, unsigned char *buf, size_t cap, size_t *len)
{
    if (alg == KEYS_EDDSA) {
        randombytes_buf(buf, crypto_sign_SEEDBYTES);
        *len = crypto_sign_SEEDBYTES;
        return KG_OK;
    }
    EVP_PKEY *pkey = alg == KEYS_ES256 ? EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")
                                       : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)RSA_BITS);
    BIO *bio = BIO_new(BIO_s_secmem());
    kg_err rc = KG_INTERNAL;
    char *data = NULL;
    long n = 0;
    if (pkey && bio && PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) == 1 &&
        (n = BIO_get_mem_data(bio, &data)) > 0 && (size_t)n <= cap) {
        memcpy(buf, data, (size_t)n);
        *len = (size_t)n;
        rc = KG_OK;
    }
    BIO_free(bio); /* a secure-memory BIO wipes what it held */
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return rc;
}

/* ---- the key set --------------------------------------------------------------------- */

struct keys {
    unsigned char hash_key[crypto_generichash_KEYBYTES];
    pthread_rwlock_t lock;           /* guards set[] and nset */
    struct signing set[SIGNING_MAX]; /* newest first */
    size_t nset;
    int64_t publish_ms; /* how long a new key is published before it signs */
    char dir[4096];
    uint64_t seen; /* the key files' fingerprint as last loaded, to notice a rotation */
    _Atomic uint64_t generation;      /* counts the key sets loaded; starts at 1 */
    char signing_kid[KG_KID_MAX + 1]; /* the signer last logged (keys_refresh's thread) */
};

/* A key file's name: signing.key (made 0), key-<ms>-<kid>.key, retired-<ms>-<kid>.key. */
struct name {
    char file[64];
    char kid[KG_KID_MAX + 1]; /* "" for signing.key */
    int64_t made_ms, retired_ms;
};

static int parse_name(const char *file, struct name *n)
{
    long long ms;
    int used = 0;
    memset(n, 0, sizeof *n);
    if (kg_strcpy(n->file, sizeof n->file, file) != KG_OK) return 0;
    if (strcmp(file, "signing.key") == 0) return 1;
    if (sscanf(file, "key-%lld-%16[A-Za-z0-9_-].key%n", &ms, n->kid, &used) == 2 && !file[used] &&
        ms > 0) {
        n->made_ms = ms;
        return 1;
    }
    used = 0;
    if (sscanf(file, "retired-%lld-%16[A-Za-z0-9_-].key%n", &ms, n->kid, &used) == 2 &&
        !file[used] && ms > 0) {
        n->made_ms = -1; /* older than signing.key */
        n->retired_ms = ms;
        return 1;
    }
    return 0;
}

static int newer_first(const void *a, const void *b)
{
    const struct name *x = a, *y = b;
    if (x->made_ms != y->made_ms) return x->made_ms > y->made_ms ? -1 : 1;
    return x->retired_ms > y->retired_ms ? -1 : x->retired_ms < y->retired_ms;
}

/* The newest (at most max) signing-key files in dir, newest first; returns the count. */
static size_t list_names(const char *dir, struct name *names, size_t max)
{
    size_t n = 0;
    struct name one;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!parse_name(e->d_name, &one)) continue;
        if (n < max) {
            names[n++] = one;
            continue;
        }
        size_t oldest = 0; /* full: the new one replaces the oldest, if it is newer */
        for (size_t i = 1; i < n; i++)
            if (newer_first(&names[i], &names[oldest]) > 0) oldest = i;
        if (newer_first(&one, &names[oldest]) < 0) names[oldest] = one;
    }
    if (d) closedir(d);
    qsort(names, n, sizeof *names, newer_first);
    return n;
}

/* A fingerprint of dir's key files (name, inode, size, mtime), whatever their order: it
 * changes when a file appears, goes, or is still being written; 0 when dir is unreadable. */
static uint64_t fingerprint(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct name one;
    uint64_t sum = 1;
    if (!d) return 0;
    while ((e = readdir(d))) {
        struct stat sb;
        if (!parse_name(e->d_name, &one) || fstatat(dirfd(d), e->d_name, &sb, 0) != 0) continue;
        struct {
            char name[64];
            uint64_t ino, size, sec, nsec;
        } f = {.ino = sb.st_ino,
               .size = (uint64_t)sb.st_size,
               .sec = (uint64_t)sb.st_mtim.tv_sec,
               .nsec = (uint64_t)sb.st_mtim.tv_nsec};
        memcpy(f.name, one.file, sizeof f.name);
        uint64_t h;
        crypto_generichash((unsigned char *)&h, sizeof h, (const unsigned char *)&f, sizeof f, NULL,
                           0);
        sum += h;
    }
    closedir(d);
    return sum ? sum : 1;
}

/* From when s may sign on this server (INT64_MAX: never). */
static int64_t signs_from(const struct signing *s, int64_t publish_ms)
{
    if (s->retired_ms) return INT64_MAX;
    if (s->made_ms == 0) return 0;
    return (s->made_ms > s->seen_ms ? s->made_ms : s->seen_ms) + publish_ms;
}

/* When s stopped signing (0: it has not): when a newer key could first sign. set is newest
 * first. */
static int64_t stopped_at(const struct signing *set, size_t i, int64_t publish_ms, int64_t now)
{
    if (set[i].retired_ms) return set[i].retired_ms;
    int64_t at = 0;
    for (size_t j = 0; j < i; j++) {
        int64_t from = signs_from(&set[j], publish_ms);
        if (from <= now && (at == 0 || from < at)) at = from;
    }
    return at;
}

/* The index of the signing key: the newest that may sign now, else the one that may soonest. */
static size_t signer(const struct signing *set, size_t n, int64_t publish_ms, int64_t now)
{
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t from = signs_from(&set[i], publish_ms);
        if (from <= now) return i;
        if (from < signs_from(&set[best], publish_ms)) best = i;
    }
    return best;
}

/* Loads up to SIGNING_MAX signing keys of dir into set (newest first; *n of them), dropping
 * those that stopped signing more than keep_ms ago.  `prev` (np keys) is the set loaded
 * before: a key in it keeps its seen_ms; a key not in it is seen now (seen_now) or at start. */
static kg_err load_once(struct keys *k, int64_t keep_ms, const struct signing *prev, size_t np,
                        int seen_now, struct signing *set, size_t *n)
{
    struct name names[NAMES_MAX];
    unsigned char buf[FILE_MAX];
    size_t nn = list_names(k->dir, names, NAMES_MAX), len;
    int64_t now = kg_now_ms();
    *n = 0;
    for (size_t i = 0; i < nn && *n < SIGNING_MAX; i++) {
        struct signing *s = &set[*n];
        if (read_file(k->dir, names[i].file, buf, sizeof buf, &len) != KG_OK) continue;
        if (!parse_key(s, buf, len)) {
            KG_LOG(LOG_ERR, "key file %s/%s: not an Ed25519 seed, EC P-256 or RSA >= %d key",
                   k->dir, names[i].file, RSA_BITS);
            continue;
        }
        int dup = names[i].kid[0] && strcmp(names[i].kid, s->pub.kid) != 0;
        for (size_t j = 0; j < *n && !dup; j++)
            dup = strcmp(set[j].pub.kid, s->pub.kid) == 0;
        if (dup) { /* a name that lies about its key, or the same key twice */
            signing_clear(s);
            continue;
        }
        s->made_ms = names[i].made_ms < 0 ? 0 : names[i].made_ms;
        s->retired_ms = names[i].retired_ms;
        s->seen_ms = seen_now ? now : 0;
        for (size_t j = 0; j < np; j++)
            if (strcmp(prev[j].pub.kid, s->pub.kid) == 0) s->seen_ms = prev[j].seen_ms;
        (*n)++;
    }
    sodium_memzero(buf, sizeof buf);
    /* forget keys that stopped signing before any live token was signed */
    int64_t at[SIGNING_MAX];
    for (size_t i = 0; i < *n; i++)
        at[i] = stopped_at(set, i, k->publish_ms, now);
    size_t kept = 0;
    for (size_t i = 0; i < *n; i++) {
        if (at[i] && now - at[i] > keep_ms) {
            signing_clear(&set[i]);
        } else if (kept++ != i) {
            set[kept - 1] = set[i];
            memset(&set[i], 0, sizeof set[i]);
        }
    }
    *n = kept;
    return kept ? KG_OK : KG_NOTFOUND;
}

/* load_once until the key files did not change while they were read (a rotation beside us). */
static kg_err load_set(struct keys *k, int64_t keep_ms, const struct signing *prev, size_t np,
                       int seen_now, struct signing *set, size_t *n, uint64_t *seen)
{
    kg_err rc = KG_IO;
    for (int attempt = 0; attempt < 5; attempt++) {
        uint64_t before = fingerprint(k->dir);
        if (!before) return KG_IO;
        rc = load_once(k, keep_ms, prev, np, seen_now, set, n);
        if (fingerprint(k->dir) == before) {
            *seen = before;
            return rc;
        }
        for (size_t i = 0; i < *n; i++)
            signing_clear(&set[i]);
        *n = 0;
    }
    return rc == KG_OK ? KG_UNAVAILABLE : rc; /* the directory kept changing */
}

static void set_clear(struct signing *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        signing_clear(&set[i]);
}

/* ---- open, refresh, rotate ----------------------------------------------------------- */

/* Holds an exclusive lock on dir/.rotate.lock: one rotation at a time; -1 on failure. */
static int lock_dir(const char *dir)
{
    char path[4200];
    if (snprintf(path, sizeof path, "%s/.rotate.lock", dir) >= (int)sizeof path) return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void unlock_dir(int fd)
{
    if (fd >= 0) close(fd); /* closing releases the lock */
}

/* The algorithm of dir's newest signing key; -1 when it has none. */
static int newest_alg(const char *dir)
{
    struct name names[NAMES_MAX];
    unsigned char buf[FILE_MAX];
    size_t nn = list_names(dir, names, NAMES_MAX), len;
    int alg = -1;
    for (size_t i = 0; i < nn && alg < 0; i++) {
        struct signing s;
        if (names[i].retired_ms || read_file(dir, names[i].file, buf, sizeof buf, &len) != KG_OK)
            continue;
        if (parse_key(&s, buf, len)) alg = (int)s.alg;
        signing_clear(&s);
    }
    sodium_memzero(buf, sizeof buf);
    return alg;
}

/* 1 when dir/name holds a key keygate can sign with. */
static int usable(const char *dir, const char *name)
{
    unsigned char buf[FILE_MAX];
    size_t len;
    struct signing s;
    int ok = read_file(dir, name, buf, sizeof buf, &len) == KG_OK && parse_key(&s, buf, len);
    if (ok) signing_clear(&s);
    sodium_memzero(buf, sizeof buf);
    return ok;
}

/* Removes the key files no token can need: those that stopped signing FORGET_MS ago. */
static void forget_old(const char *dir, int64_t now)
{
    struct name names[NAMES_MAX];
    size_t nn = list_names(dir, names, NAMES_MAX);
    int64_t superseded = 0; /* the newest usable key made FORGET_MS ago supersedes older ones */
    for (size_t i = 0; i < nn; i++) {
        int old = names[i].retired_ms ? now - names[i].retired_ms > FORGET_MS : superseded != 0;
        if (!names[i].retired_ms && names[i].made_ms > 0 && now - names[i].made_ms > FORGET_MS &&
            !superseded && usable(dir, names[i].file))
            superseded = names[i].made_ms;
        if (!old) continue;
        char p[4200];
        if (snprintf(p, sizeof p, "%s/%s", dir, names[i].file) < (int)sizeof p) unlink(p);
    }
}

enum rotate_when { ALWAYS, IF_OTHER_ALG, IF_NONE };

/* Makes a new signing key of alg in dir (under the rotation lock): signing.key when dir has
 * none, else key-<now>-<kid>.key; `when` may spare it: when the newest key has alg
 * (IF_OTHER_ALG), or when there is any key (IF_NONE). */
static kg_err rotate_locked(const char *dir, enum keys_alg alg, enum rotate_when when,
                            char kid_out[KG_KID_MAX + 1], int *made)
{
    unsigned char buf[FILE_MAX];
    size_t len = 0;
    struct signing s;
    char name[64];
    int have = newest_alg(dir);
    *made = 0;
    if ((when == IF_OTHER_ALG && have == (int)alg) || (when == IF_NONE && have >= 0)) return KG_OK;
    kg_err rc = generate(alg, buf, sizeof buf, &len);
    if (rc == KG_OK && !parse_key(&s, buf, len)) rc = KG_INTERNAL;
    if (rc != KG_OK) goto out;
    int64_t now = kg_now_ms();
    if (have < 0)
        snprintf(name, sizeof name, "signing.key");
    else
        snprintf(name, sizeof name, "key-%lld-%s.key", (long long)now, s.pub.kid);
    if ((rc = write_file(dir, name, buf, len)) == KG_OK) {
        memcpy(kid_out, s.pub.kid, KG_KID_MAX + 1);
        *made = 1;
        forget_old(dir, now);
    }
    signing_clear(&s);
out:
    sodium_memzero(buf, sizeof buf);
    return rc;
}

kg_err keys_rotate(const char *dir, int alg, char kid_out[KG_KID_MAX + 1])
{
    int fd = lock_dir(dir), made;
    if (fd < 0) return KG_IO;
    if (alg < 0) alg = newest_alg(dir);
    kg_err rc =
        rotate_locked(dir, alg < 0 ? KEYS_EDDSA : (enum keys_alg)alg, ALWAYS, kid_out, &made);
    unlock_dir(fd);
    return rc;
}

kg_err keys_open(const char *dir, const struct keys_opts *o, struct keys **out)
{
    kg_err rc;
    int want = o ? o->alg : -1, made = 0;
    char kid[KG_KID_MAX + 1];
    struct keys *k = sodium_malloc(sizeof *k);
    if (!k) return KG_ENOMEM;
    memset(k, 0, sizeof *k);
    k->generation = 1;
    k->publish_ms = o ? o->publish_ms : KEYS_SPREAD_MS;
    /* the default (reader-preferring) lock: a writer-preferring one cost issuance about a fifth
     * of its throughput under load (make bench); a refresh waiting behind signatures delays
     * only the keys thread, never the revocation sync */
    pthread_rwlock_init(&k->lock, NULL);
    if ((rc = kg_strcpy(k->dir, sizeof k->dir, dir)) != KG_OK) goto fail;
    size_t len = 0;
    rc = read_file(dir, "hash.key", k->hash_key, sizeof k->hash_key, &len);
    if (rc == KG_NOTFOUND) {
        randombytes_buf(k->hash_key, sizeof k->hash_key);
        rc = write_file(dir, "hash.key", k->hash_key, sizeof k->hash_key);
        if (rc == KG_CONFLICT)
            rc = read_file(dir, "hash.key", k->hash_key, sizeof k->hash_key, &len);
        else
            len = sizeof k->hash_key;
    }
    if (rc == KG_OK && len != sizeof k->hash_key) rc = KG_IO;
    if (rc != KG_OK) goto fail;
    /* the first signing key, or a new one when the newest has another algorithm than asked */
    if (want >= 0 || newest_alg(dir) < 0) {
        int fd = lock_dir(dir);
        if (fd < 0) {
            rc = KG_IO;
            goto fail;
        }
        rc = rotate_locked(dir, want < 0 ? KEYS_EDDSA : (enum keys_alg)want,
                           want < 0 ? IF_NONE : IF_OTHER_ALG, kid, &made);
        unlock_dir(fd);
        if (rc != KG_OK) goto fail;
    }
    if ((rc = load_set(k, FIRST_KEEP_MS, NULL, 0, 0, k->set, &k->nset, &k->seen)) != KG_OK)
        goto fail;
    if (made && k->nset > 1)
        KG_LOG(LOG_NOTICE,
               "signing keys: made a new %s key %s; it is published now and signs once cached "
               "key sets have expired",
               keys_alg_name(want < 0 ? KEYS_EDDSA : (enum keys_alg)want), kid);
    *out = k;
    return KG_OK;
fail:
    keys_free(k);
    return rc;
}

void keys_free(struct keys *k)
{
    if (!k) return;
    set_clear(k->set, k->nset);
    pthread_rwlock_destroy(&k->lock);
    sodium_free(k); /* sodium_free wipes the memory */
}

/* Logs when another key starts signing (and when none has been published long enough). */
static void log_signer(struct keys *k, int64_t now)
{
    pthread_rwlock_rdlock(&k->lock);
    size_t cur = signer(k->set, k->nset, k->publish_ms, now);
    struct keys_pub pub = k->set[cur].pub;
    int early = signs_from(&k->set[cur], k->publish_ms) > now;
    pthread_rwlock_unlock(&k->lock);
    if (strcmp(pub.kid, k->signing_kid) == 0) return;
    memcpy(k->signing_kid, pub.kid, sizeof k->signing_kid);
    if (early)
        KG_LOG(LOG_WARNING,
               "signing keys: no key has been published long enough to sign; %s (%s) signs "
               "anyway, and verifiers holding an older JWKS will not know it",
               pub.kid, pub.alg);
    else
        KG_LOG(LOG_NOTICE, "signing keys: %s (%s) signs", pub.kid, pub.alg);
}

kg_err keys_refresh(struct keys *k, int64_t keep_s)
{
    int64_t keep_ms = (keep_s + 60) * 1000, now = kg_now_ms();
    uint64_t seen = fingerprint(k->dir);
    int changed = seen && seen != k->seen, stale = 0;
    /* only this thread writes the set, so reading it here without the lock is safe */
    for (size_t i = 0; i < k->nset; i++) {
        int64_t at = stopped_at(k->set, i, k->publish_ms, now);
        stale |= at && now - at > keep_ms;
    }
    kg_err rc = KG_OK;
    if (changed || stale) {
        struct signing *fresh = sodium_malloc(sizeof(struct signing) * SIGNING_MAX);
        struct signing *old = sodium_malloc(sizeof(struct signing) * SIGNING_MAX);
        size_t n = 0;
        rc = fresh && old ? load_set(k, keep_ms, k->set, k->nset, 1, fresh, &n, &seen) : KG_ENOMEM;
        if (rc == KG_OK) {
            pthread_rwlock_wrlock(&k->lock);
            size_t nold = k->nset;
            memcpy(old, k->set, nold * sizeof *old);
            memcpy(k->set, fresh, n * sizeof *fresh);
            if (nold > n) sodium_memzero(&k->set[n], (nold - n) * sizeof *old);
            k->nset = n;
            k->seen = seen;
            k->generation++;
            pthread_rwlock_unlock(&k->lock);
            set_clear(old, nold); /* no reader holds them: the write lock waited for all */
            KG_LOG(LOG_NOTICE, "signing keys: %zu published", n);
        }
        sodium_free(fresh); /* its EVP_PKEYs now belong to k->set */
        sodium_free(old);
    }
    log_signer(k, now);
    return rc;
}

/* ---- hashing ------------------------------------------------------------------------- */

void keys_hash_secret(const struct keys *k, const char *secret, size_t len,
                      unsigned char out[KG_HASH_LEN])
{
    crypto_generichash(out, KG_HASH_LEN, (const unsigned char *)secret, len, k->hash_key,
                       sizeof k->hash_key);
}

/* ---- signing ------------------------------------------------------------------------- */

void keys_signer(struct keys *k, char kid[KG_KID_MAX + 1], enum keys_alg *alg)
{
    pthread_rwlock_rdlock(&k->lock);
    const struct signing *s = &k->set[signer(k->set, k->nset, k->publish_ms, kg_now_ms())];
    memcpy(kid, s->pub.kid, KG_KID_MAX + 1);
    *alg = s->alg;
    pthread_rwlock_unlock(&k->lock);
}

/* ES256 or RS256 over msg with SHA-256; ES256 turned from DER into R || S. */
static int ossl_sign(const struct signing *s, const void *msg, size_t len, unsigned char *sig,
                     size_t *sig_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char der[KG_SIG_MAX + 16];
    size_t n = sizeof der;
    int ok = ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, s->pkey) == 1 &&
             EVP_DigestSign(ctx, der, &n, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    if (ok && s->alg == KEYS_RS256) {
        memcpy(sig, der, n);
        *sig_len = n;
    } else if (ok) {
        const unsigned char *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
        ok = es && BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) == 32 &&
             BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) == 32;
        ECDSA_SIG_free(es);
        *sig_len = 64;
    }
    ERR_clear_error();
    return ok;
}

static int ossl_verify(const struct signing *s, const void *msg, size_t len,
                       const unsigned char *sig, size_t sig_len)
{
    unsigned char der_buf[128], *der = der_buf;
    const unsigned char *use = sig;
    size_t use_len = sig_len;
    int ok = 0;
    if (s->alg == KEYS_ES256) { /* R || S into DER */
        if (sig_len != 64) return 0;
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, 32, NULL), *sv = BN_bin2bn(sig + 32, 32, NULL);
        int n = -1;
        if (es && r && sv && ECDSA_SIG_set0(es, r, sv) == 1) {
            r = sv = NULL; /* es owns them now */
            if (i2d_ECDSA_SIG(es, NULL) <= (int)sizeof der_buf) n = i2d_ECDSA_SIG(es, &der);
        }
        BN_free(r);
        BN_free(sv);
        ECDSA_SIG_free(es);
        if (n <= 0) goto out;
        use = der_buf;
        use_len = (size_t)n;
    } else if (sig_len != (size_t)EVP_PKEY_get_size(s->pkey)) {
        return 0;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ok = ctx && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, s->pkey) == 1 &&
         EVP_DigestVerify(ctx, use, use_len, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
out:
    ERR_clear_error();
    return ok;
}

kg_err keys_sign(struct keys *k, const char *kid, const void *msg, size_t len,
                 unsigned char sig[KG_SIG_MAX], size_t *sig_len)
{
    kg_err rc = KG_NOTFOUND;
    pthread_rwlock_rdlock(&k->lock);
    for (size_t i = 0; i < k->nset; i++) {
        const struct signing *s = &k->set[i];
        if (strcmp(s->pub.kid, kid) != 0) continue;
        if (s->alg == KEYS_EDDSA) {
            crypto_sign_detached(sig, NULL, msg, len, s->sk);
            *sig_len = crypto_sign_BYTES;
            rc = KG_OK;
        } else {
            rc = ossl_sign(s, msg, len, sig, sig_len) ? KG_OK : KG_INTERNAL;
        }
        break;
    }
    pthread_rwlock_unlock(&k->lock);
    return rc;
}

uint64_t keys_generation(struct keys *k)
{
    return k->generation;
}

int keys_verify(struct keys *k, const char *kid, enum keys_alg alg, const void *msg, size_t len,
                const unsigned char *sig, size_t sig_len)
{
    int ok = 0;
    pthread_rwlock_rdlock(&k->lock);
    for (size_t i = 0; i < k->nset; i++) {
        const struct signing *s = &k->set[i];
        if (strcmp(s->pub.kid, kid) != 0) continue;
        if (s->alg != alg) break; /* the key decides the algorithm, never the token */
        if (alg == KEYS_EDDSA)
            ok = sig_len == crypto_sign_BYTES &&
                 crypto_sign_verify_detached(sig, msg, len, s->pk) == 0;
        else
            ok = ossl_verify(s, msg, len, sig, sig_len);
        break;
    }
    pthread_rwlock_unlock(&k->lock);
    return ok;
}

size_t keys_published(struct keys *k, struct keys_pub *out, size_t max)
{
    size_t n = 0;
    pthread_rwlock_rdlock(&k->lock);
    size_t cur = signer(k->set, k->nset, k->publish_ms, kg_now_ms());
    if (max && k->nset) out[n++] = k->set[cur].pub;
    for (size_t i = 0; i < k->nset && n < max; i++)
        if (i != cur) out[n++] = k->set[i].pub;
    pthread_rwlock_unlock(&k->lock);
    return n;
}
