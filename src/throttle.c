/*
 * throttle.c — failure counters keyed by a short string (an email or an address).
 */
#include "throttle.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 300
#define QUIET_MS (15 * 60 * 1000)

struct entry {
    char key[KEY_MAX + 1]; /* "" = free */
    int fails;
    int64_t last_fail, until;
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

static struct entry *find(struct throttle *t, const char *key, int64_t now_ms)
{
    for (size_t i = 0; i < THROTTLE_KEYS; i++) {
        struct entry *x = &t->e[i];
        if (x->key[0] && now_ms - x->last_fail > QUIET_MS && now_ms >= x->until) x->key[0] = '\0';
        if (x->key[0] && strncmp(x->key, key, KEY_MAX) == 0) return x;
    }
    return NULL;
}

int64_t throttle_wait(struct throttle *t, const char *key, int64_t now_ms)
{
    int64_t wait = 0;
    pthread_mutex_lock(&t->lock);
    struct entry *x = find(t, key, now_ms);
    if (x && x->until > now_ms) wait = (x->until - now_ms + 999) / 1000;
    pthread_mutex_unlock(&t->lock);
    return wait;
}

void throttle_fail(struct throttle *t, const char *key, int64_t now_ms)
{
    pthread_mutex_lock(&t->lock);
    struct entry *x = find(t, key, now_ms);
    if (!x) { /* a free entry, else the stalest */
        x = &t->e[0];
        for (size_t i = 0; i < THROTTLE_KEYS; i++) {
            if (!t->e[i].key[0]) {
                x = &t->e[i];
                break;
            }
            if (t->e[i].last_fail < x->last_fail) x = &t->e[i];
        }
        memset(x, 0, sizeof *x);
        strncpy(x->key, key, KEY_MAX);
    }
    x->fails++;
    x->last_fail = now_ms;
    if (x->fails >= THROTTLE_FREE) {
        int shift = x->fails - THROTTLE_FREE;
        int64_t wait_s = shift >= 9 ? THROTTLE_MAX_WAIT_S : (int64_t)1 << shift;
        if (wait_s > THROTTLE_MAX_WAIT_S) wait_s = THROTTLE_MAX_WAIT_S;
        x->until = now_ms + wait_s * 1000;
    }
    pthread_mutex_unlock(&t->lock);
}

void throttle_forget(struct throttle *t, const char *key)
{
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < THROTTLE_KEYS; i++)
        if (t->e[i].key[0] && strncmp(t->e[i].key, key, KEY_MAX) == 0) t->e[i].key[0] = '\0';
    pthread_mutex_unlock(&t->lock);
}
