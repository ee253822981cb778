/*
 * throttle.c — failure counters and success marks keyed by a keyed hash of a short string, in
 * two fixed tables of buckets of BUCKET slots.  A key may live in either of two buckets (one
 * from each half of its 128-bit hash; a newcomer takes the emptier one), so a call probes at
 * most THROTTLE_WINDOW = 2 * BUCKET slots, and the table fills evenly: in the unit test a
 * table filled with locked keys refuses its first newcomer at about three quarters full.
 *
 * Layout: hashing and the two lookups, then the public calls.
 */
#include "throttle.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define QUIET_MS ((int64_t)THROTTLE_QUIET_S * 1000)
#define KNOWN_MS ((int64_t)THROTTLE_KNOWN_S * 1000)

_Static_assert((THROTTLE_KEYS & (THROTTLE_KEYS - 1)) == 0, "THROTTLE_KEYS is a power of two");
_Static_assert((THROTTLE_MARKS & (THROTTLE_MARKS - 1)) == 0, "THROTTLE_MARKS is a power of two");
#define BUCKET (THROTTLE_WINDOW / 2)
_Static_assert(BUCKET * 2 == THROTTLE_WINDOW && (BUCKET & (BUCKET - 1)) == 0,
               "two buckets a window");
_Static_assert(THROTTLE_WINDOW <= THROTTLE_MARKS && THROTTLE_WINDOW <= THROTTLE_KEYS,
               "window fits");
_Static_assert(crypto_shorthash_siphashx24_BYTES == 16, "a 128-bit key hash");

struct id {
    uint64_t a, b; /* {0, 0} = a free slot */
};

struct counter {
    struct id id;
    int64_t last_fail, until; /* ms */
    int32_t fails;
    int32_t
        held; /* reached its limit since it was last quiet: never replaced by one that has not */
};

struct mark {
    struct id id;
    int64_t ok_at; /* ms */
};

struct throttle {
    pthread_mutex_t lock;
    unsigned char key[crypto_shorthash_siphashx24_KEYBYTES];
    struct counter c[THROTTLE_KEYS];
    struct mark m[THROTTLE_MARKS];
};

kg_err throttle_new(struct throttle **out)
{
    struct throttle *t = calloc(1, sizeof *t);
    if (!t) return KG_ENOMEM;
    randombytes_buf(t->key, sizeof t->key);
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

size_t throttle_size(const struct throttle *t)
{
    return sizeof *t;
}

/* ---- hashing and lookups ------------------------------------------------------------- */

static struct id key_id(const struct throttle *t, const char *key)
{
    unsigned char h[crypto_shorthash_siphashx24_BYTES];
    struct id id;
    crypto_shorthash_siphashx24(h, (const unsigned char *)key, strlen(key), t->key);
    memcpy(&id.a, h, 8);
    memcpy(&id.b, h + 8, 8);
    if (!id.a && !id.b) id.b = 1; /* never the free mark */
    return id;
}

/* The k-th slot (k < THROTTLE_WINDOW) id may take in a table of n slots: BUCKET of them in
 * the bucket picked by id.a, then BUCKET in the one picked by id.b. */
static size_t slot(struct id id, uint64_t k, size_t n)
{
    uint64_t h = k < BUCKET ? id.a : id.b;
    return (size_t)((h & (n - 1) & ~(uint64_t)(BUCKET - 1)) + k % BUCKET);
}

static int id_used(struct id x)
{
    return x.a || x.b;
}
static int id_eq(struct id x, struct id y)
{
    return x.a == y.a && x.b == y.b;
}

/* The counter of id, or NULL.  now_ms >= 0 first frees the window's counters that have been
 * quiet for QUIET_MS.  With `create`, an absent id takes a free slot (in the emptier of its
 * two buckets), else the place of the counter that is not held with the fewest failures (the
 * stalest of those); if every slot is held, NULL, and *release_ms (if given) is when the first of
 * them stops being held.  Caller holds the lock. */
static struct counter *counter_find(struct throttle *t, struct id id, int64_t now_ms, int create,
                                    int64_t *release_ms)
{
    struct counter *spare[2] = {NULL, NULL}, *victim = NULL;
    int nfree[2] = {0, 0};
    int64_t release = INT64_MAX;
    for (uint64_t k = 0; k < THROTTLE_WINDOW; k++) {
        struct counter *x = &t->c[slot(id, k, THROTTLE_KEYS)];
        if (id_used(x->id) && now_ms >= 0 && now_ms - x->last_fail > QUIET_MS && now_ms >= x->until)
            memset(x, 0, sizeof *x);
        if (!id_used(x->id)) {
            if (!spare[k / BUCKET]) spare[k / BUCKET] = x;
            nfree[k / BUCKET]++;
            continue;
        }
        if (id_eq(x->id, id)) return x;
        if (x->held) {
            if (x->last_fail + QUIET_MS < release) release = x->last_fail + QUIET_MS;
            continue;
        }
        if (!victim || x->fails < victim->fails ||
            (x->fails == victim->fails && x->last_fail < victim->last_fail))
            victim = x;
    }
    struct counter *room = nfree[1] > nfree[0] ? spare[1] : spare[0];
    if (release_ms) *release_ms = room || victim ? -1 : release;
    if (!create || (!room && !victim)) return NULL;
    struct counter *x = room ? room : victim;
    memset(x, 0, sizeof *x);
    x->id = id;
    return x;
}

/* The mark of id, or NULL; with `create`, an absent id takes a free or expired slot, else the
 * place of the stalest mark.  Caller holds the lock. */
static struct mark *mark_find(struct throttle *t, struct id id, int64_t now_ms, int create)
{
    struct mark *spare = NULL, *stalest = NULL;
    for (uint64_t k = 0; k < THROTTLE_WINDOW; k++) {
        struct mark *x = &t->m[slot(id, k, THROTTLE_MARKS)];
        if (id_used(x->id) && now_ms - x->ok_at > KNOWN_MS) memset(x, 0, sizeof *x);
        if (!id_used(x->id)) {
            if (!spare) spare = x;
            continue;
        }
        if (id_eq(x->id, id)) return x;
        if (!stalest || x->ok_at < stalest->ok_at) stalest = x;
    }
    if (!create) return NULL;
    struct mark *x = spare ? spare : stalest;
    memset(x, 0, sizeof *x);
    x->id = id;
    return x;
}

/* ---- calls --------------------------------------------------------------------------- */

int64_t throttle_wait(struct throttle *t, const char *key, int64_t now_ms)
{
    struct id id = key_id(t, key);
    int64_t wait = 0, release = -1;
    pthread_mutex_lock(&t->lock);
    struct counter *x = counter_find(t, id, now_ms, 0, &release);
    if (x && x->until > now_ms) {
        wait = (x->until - now_ms + 999) / 1000;
    } else if (!x && release >= 0) { /* no room for this key: it fails closed */
        wait = (release - now_ms + 999) / 1000;
        if (wait < 1) wait = 1;
        if (wait > THROTTLE_MAX_WAIT_S) wait = THROTTLE_MAX_WAIT_S;
    }
    pthread_mutex_unlock(&t->lock);
    return wait;
}

int throttle_failures(struct throttle *t, const char *key, int64_t now_ms)
{
    struct id id = key_id(t, key);
    pthread_mutex_lock(&t->lock);
    struct counter *x = counter_find(t, id, now_ms, 0, NULL);
    int n = x ? x->fails : 0;
    pthread_mutex_unlock(&t->lock);
    return n;
}

void throttle_fail(struct throttle *t, const char *key, int allowed, int64_t now_ms)
{
    struct id id = key_id(t, key);
    pthread_mutex_lock(&t->lock);
    struct counter *x = counter_find(t, id, now_ms, 1, NULL);
    if (x) { /* else no room: throttle_wait() already reports the key as waiting */
        if (x->fails < INT32_MAX) x->fails++;
        x->last_fail = now_ms;
        if (x->fails >= allowed) {
            int shift = x->fails - allowed;
            int64_t wait_s = shift >= 9 ? THROTTLE_MAX_WAIT_S : (int64_t)1 << shift;
            if (wait_s > THROTTLE_MAX_WAIT_S) wait_s = THROTTLE_MAX_WAIT_S;
            x->until = now_ms + wait_s * 1000;
            x->held = 1;
        }
    }
    pthread_mutex_unlock(&t->lock);
}

void throttle_forget(struct throttle *t, const char *key)
{
    struct id id = key_id(t, key);
    pthread_mutex_lock(&t->lock);
    struct counter *x = counter_find(t, id, -1, 0, NULL);
    if (x) memset(x, 0, sizeof *x);
    pthread_mutex_unlock(&t->lock);
}

void throttle_succeed(struct throttle *t, const char *key, int64_t now_ms)
{
    struct id id = key_id(t, key);
    pthread_mutex_lock(&t->lock);
    mark_find(t, id, now_ms, 1)->ok_at = now_ms;
    pthread_mutex_unlock(&t->lock);
}

int throttle_known(struct throttle *t, const char *key, int64_t now_ms)
{
    struct id id = key_id(t, key);
    pthread_mutex_lock(&t->lock);
    struct mark *x = mark_find(t, id, now_ms, 0);
    int known = x && now_ms - x->ok_at <= KNOWN_MS;
    pthread_mutex_unlock(&t->lock);
    return known;
}
