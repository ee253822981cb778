/*
 * session.c — the session table: KG_SESSIONS_MAX slots in buckets of BUCKET_SLOTS, a session
 * kept in the bucket a keyed hash of its id picks (a random key per process, so the bucket an
 * id falls in, and the time a lookup takes, tell nothing about the ids held); ids compared in
 * constant time within the bucket.  One mutex.
 */
#include "session.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define BUCKET_SLOTS 8
#define BUCKETS (KG_SESSIONS_MAX / BUCKET_SLOTS)

struct slot {
    char id[KG_SESSION_ID_LEN + 1]; /* "" = free */
    struct session_info info;
    int64_t last_used;
};

struct sessions {
    pthread_mutex_t lock;
    int64_t idle_ms;
    unsigned char key[crypto_shorthash_KEYBYTES];
    struct slot slots[BUCKETS * BUCKET_SLOTS];
};

/* The first slot of id's bucket. */
static struct slot *bucket(struct sessions *s, const char *id)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v;
    crypto_shorthash(h, (const unsigned char *)id, KG_SESSION_ID_LEN, s->key);
    memcpy(&v, h, sizeof v);
    return &s->slots[(v % BUCKETS) * BUCKET_SLOTS];
}

static void random_id(char out[KG_SESSION_ID_LEN + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(out, KG_SESSION_ID_LEN + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

kg_err sessions_new(int64_t idle_s, struct sessions **out)
{
    struct sessions *s = calloc(1, sizeof *s);
    if (!s) return KG_ENOMEM;
    pthread_mutex_init(&s->lock, NULL);
    s->idle_ms = idle_s * 1000;
    randombytes_buf(s->key, sizeof s->key);
    *out = s;
    return KG_OK;
}

void sessions_free(struct sessions *s)
{
    if (!s) return;
    pthread_mutex_destroy(&s->lock);
    sodium_memzero(s, sizeof *s);
    free(s);
}

int64_t sessions_idle_seconds(const struct sessions *s)
{
    return s->idle_ms / 1000;
}

static void clear(struct slot *x)
{
    sodium_memzero(x, sizeof *x);
}

static void stamp_of(const char *password_hash, unsigned char out[KG_SESSION_STAMP_LEN])
{
    crypto_generichash(out, KG_SESSION_STAMP_LEN, (const unsigned char *)password_hash,
                       strlen(password_hash), NULL, 0);
}

int session_password_current(const struct session_info *info, const char *password_hash)
{
    unsigned char now[KG_SESSION_STAMP_LEN];
    stamp_of(password_hash, now);
    return sodium_memcmp(now, info->stamp, sizeof now) == 0;
}

kg_err sessions_create(struct sessions *s, const char *user_id, const char *password_hash,
                       int64_t now_ms, char id[KG_SESSION_ID_LEN + 1], struct session_info *info)
{
    char fresh[KG_SESSION_ID_LEN + 1];
    if (strlen(user_id) > KG_USER_ID_LEN) return KG_INVALID;
    random_id(fresh);
    pthread_mutex_lock(&s->lock);
    struct slot *b = bucket(s, fresh), *free_slot = NULL, *oldest = &b[0];
    for (size_t i = 0; i < BUCKET_SLOTS; i++) {
        struct slot *x = &b[i];
        if (x->id[0] && now_ms - x->last_used > s->idle_ms) clear(x);
        if (!x->id[0]) {
            if (!free_slot) free_slot = x;
        } else if (x->last_used < oldest->last_used) {
            oldest = x;
        }
    }
    struct slot *x = free_slot ? free_slot : oldest;
    clear(x);
    memcpy(x->id, fresh, sizeof x->id);
    random_id(x->info.csrf);
    memcpy(x->info.user_id, user_id, strlen(user_id) + 1);
    stamp_of(password_hash, x->info.stamp);
    x->last_used = now_ms;
    memcpy(id, x->id, sizeof x->id);
    *info = x->info;
    pthread_mutex_unlock(&s->lock);
    sodium_memzero(fresh, sizeof fresh);
    return KG_OK;
}

/* The slot holding id, or NULL; caller holds the lock.  Every slot of the bucket is compared,
 * in constant time. */
static struct slot *find(struct sessions *s, const char *id)
{
    struct slot *hit = NULL;
    if (strnlen(id, KG_SESSION_ID_LEN + 1) != KG_SESSION_ID_LEN) return NULL;
    struct slot *b = bucket(s, id);
    for (size_t i = 0; i < BUCKET_SLOTS; i++)
        if (b[i].id[0] && sodium_memcmp(b[i].id, id, KG_SESSION_ID_LEN) == 0) hit = &b[i];
    return hit;
}

kg_err sessions_get(struct sessions *s, const char *id, int64_t now_ms, struct session_info *out)
{
    kg_err rc = KG_UNAUTHENTICATED;
    pthread_mutex_lock(&s->lock);
    struct slot *x = find(s, id);
    if (x && now_ms - x->last_used > s->idle_ms) {
        clear(x);
    } else if (x) {
        x->last_used = now_ms;
        *out = x->info;
        rc = KG_OK;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void sessions_end(struct sessions *s, const char *id)
{
    pthread_mutex_lock(&s->lock);
    struct slot *x = find(s, id);
    if (x) clear(x);
    pthread_mutex_unlock(&s->lock);
}

void sessions_end_user(struct sessions *s, const char *user_id)
{
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < BUCKETS * BUCKET_SLOTS; i++)
        if (s->slots[i].id[0] && strcmp(s->slots[i].info.user_id, user_id) == 0)
            clear(&s->slots[i]);
    pthread_mutex_unlock(&s->lock);
}
