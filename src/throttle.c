/*
 * throttle.c — failure counters and success marks keyed by a short string, in an
 * open-addressing table: a key lives within WINDOW slots of its hash, so a call probes at
 * most WINDOW entries.
 */
#include "throttle.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 300
#define QUIET_MS (15 * 60 * 1000)
#define WINDOW 16

struct entry {
    uint64_t h;
    char key[KEY_MAX + 1]; /* "" = free */
    int fails;
    int64_t last_fail, until, ok_at;
};

struct throttle {
    pthread_mutex_t lock;
    struct entry e[THROTTLE_KEYS];
};

kg_err throttle_new(struct throttle **out)
{
    struct throttle *t = calloc(1, sizeof *t);
    if (!t) return KG_ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    *out = t;
    return KG_OK;
}

void throttle_free(struct throttle *t)
{
    if (!t) return;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static uint64_t key_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; s[i] && i < KEY_MAX; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

/* An entry that holds nothing worth keeping any more. */
static int idle(const struct entry *x, int64_t now_ms)
{
    return now_ms - x->last_fail > QUIET_MS && now_ms >= x->until &&
           now_ms - x->ok_at > (int64_t)THROTTLE_KNOWN_S * 1000;
}

static int64_t freshness(const struct entry *x)
{
    return x->last_fail > x->ok_at ? x->last_fail : x->ok_at;
}

/* key's entry, or NULL; with `create`, a new one in a free or idle slot of its window, else
 * in place of the window's stalest.  Caller holds the lock. */
static struct entry *find(struct throttle *t, const char *key, int64_t now_ms, int create)
{
    uint64_t h = key_hash(key);
    struct entry *spare = NULL, *stalest = NULL;
    for (size_t k = 0; k < WINDOW; k++) {
        struct entry *x = &t->e[(h + k) % THROTTLE_KEYS];
        if (x->key[0] && idle(x, now_ms)) x->key[0] = '\0';
        if (!x->key[0]) {
            if (!spare) spare = x;
            continue;
        }
        if (x->h == h && strncmp(x->key, key, KEY_MAX) == 0) return x;
        if (!stalest || freshness(x) < freshness(stalest)) stalest = x;
    }
    if (!create) return NULL;
    struct entry *x = spare ? spare : stalest;
    memset(x, 0, sizeof *x);
    x->h = h;
    strncpy(x->key, key, KEY_MAX);
    return x;
}

int64_t throttle_wait(struct throttle *t, const char *key, int64_t now_ms)
{
    int64_t wait = 0;
    pthread_mutex_lock(&t->lock);
    struct entry *x = find(t, key, now_ms, 0);
    if (x && x->until > now_ms) wait = (x->until - now_ms + 999) / 1000;
    pthread_mutex_unlock(&t->lock);
    return wait;
}

void throttle_fail(struct throttle *t, const char *key, int allowed, int64_t now_ms)
{
    pthread_mutex_lock(&t->lock);
    struct entry *x = find(t, key, now_ms, 1);
    x->fails++;
    x->last_fail = now_ms;
    if (x->fails >= allowed) {
        int shift = x->fails - allowed;
        int64_t wait_s = shift >= 9 ? THROTTLE_MAX_WAIT_S : (int64_t)1 << shift;
        if (wait_s > THROTTLE_MAX_WAIT_S) wait_s = THROTTLE_MAX_WAIT_S;
        x->until = now_ms + wait_s * 1000;
    }
    pthread_mutex_unlock(&t->lock);
}

void throttle_forget(struct throttle *t, const char *key)
{
    pthread_mutex_lock(&t->lock);
    struct entry *x = find(t, key, INT64_MIN / 2, 0); /* a time that expires nothing */
    if (x) {
        x->fails = 0;
        x->last_fail = x->until = 0;
        if (!x->ok_at) x->key[0] = '\0';
    }
    pthread_mutex_unlock(&t->lock);
}

void throttle_succeed(struct throttle *t, const char *key, int64_t now_ms)
{
    pthread_mutex_lock(&t->lock);
    find(t, key, now_ms, 1)->ok_at = now_ms;
    pthread_mutex_unlock(&t->lock);
}

int throttle_known(struct throttle *t, const char *key, int64_t now_ms)
{
    pthread_mutex_lock(&t->lock);
    struct entry *x = find(t, key, now_ms, 0);
    int known = x && x->ok_at && now_ms - x->ok_at <= (int64_t)THROTTLE_KNOWN_S * 1000;
    pthread_mutex_unlock(&t->lock);
    return known;
}
