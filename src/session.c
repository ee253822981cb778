/*
 * session.c — the session table: a fixed array under one mutex; ids compared in constant time.
 */
#include "session.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct slot {
    char id[KG_SESSION_ID_LEN + 1]; /* "" = free */
    struct session_info info;
    int64_t last_used;
};

struct sessions {
    pthread_mutex_t lock;
    int64_t idle_ms;
    struct slot slots[KG_SESSIONS_MAX];
};

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
    *out = s;
    return KG_OK;
}

void sessions_free(struct sessions *s)
{
    if (!s) return;
    pthread_mutex_destroy(&s->lock);
    sodium_memzero(s->slots, sizeof s->slots);
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

kg_err sessions_create(struct sessions *s, const char *user_id, int64_t now_ms,
                       char id[KG_SESSION_ID_LEN + 1], struct session_info *info)
{
    if (strlen(user_id) > KG_USER_ID_LEN) return KG_INVALID;
    pthread_mutex_lock(&s->lock);
    struct slot *free_slot = NULL, *oldest = &s->slots[0];
    for (size_t i = 0; i < KG_SESSIONS_MAX; i++) {
        struct slot *x = &s->slots[i];
        if (x->id[0] && now_ms - x->last_used > s->idle_ms) clear(x);
        if (!x->id[0]) {
            if (!free_slot) free_slot = x;
        } else if (x->last_used < oldest->last_used) {
            oldest = x;
        }
    }
    struct slot *x = free_slot ? free_slot : oldest;
    clear(x);
    random_id(x->id);
    random_id(x->info.csrf);
    memcpy(x->info.user_id, user_id, strlen(user_id) + 1);
    x->last_used = now_ms;
    memcpy(id, x->id, sizeof x->id);
    *info = x->info;
    pthread_mutex_unlock(&s->lock);
    return KG_OK;
}

/* The slot holding id, or NULL; caller holds the lock.  Every slot is compared, in constant
 * time, so the time taken tells nothing about the ids. */
static struct slot *find(struct sessions *s, const char *id)
{
    struct slot *hit = NULL;
    if (strlen(id) != KG_SESSION_ID_LEN) return NULL;
    for (size_t i = 0; i < KG_SESSIONS_MAX; i++)
        if (s->slots[i].id[0] && sodium_memcmp(s->slots[i].id, id, KG_SESSION_ID_LEN) == 0)
            hit = &s->slots[i];
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
    for (size_t i = 0; i < KG_SESSIONS_MAX; i++)
        if (s->slots[i].id[0] && strcmp(s->slots[i].info.user_id, user_id) == 0) clear(&s->slots[i]);
    pthread_mutex_unlock(&s->lock);
}
