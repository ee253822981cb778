/*
 * tcache.c — answers kept as text with lastAccessOn holes (tcache.h).
 *
 * Layout: entries (one allocation each: the record, its holes, its text; reference-counted,
 * so that a reader copies an entry out after the slot's lock is let go while a writer replaces
 * it), then the cache's calls.
 */
#include "tcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    atomic_uint refs; /* the slot's reference, and one per reader copying it out */
    uint64_t hash;
    char key[TCACHE_KEY_MAX + 1];
    struct tcache_stamp stamp;
    int64_t until;
    size_t size; /* of the allocation: what it counts against the budget */
    size_t len, nholes;
    struct tcache_hole *holes;
    char *text;
};

struct slot {
    pthread_mutex_t lock;
    struct entry *e; /* NULL = empty */
};

struct tcache {
    _Atomic uint64_t epoch;
    atomic_size_t used; /* bytes of the entries in slots */
    size_t budget;
    struct slot slots[TCACHE_SLOTS];
};

static uint64_t key_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h ^ (h >> 29);
}

static void entry_release(struct entry *e)
{
    if (e && atomic_fetch_sub(&e->refs, 1) == 1) free(e);
}

/* ---- the cache ------------------------------------------------------------------------------ */

kg_err tcache_new(size_t budget, struct tcache **out)
{
    struct tcache *c = calloc(1, sizeof *c);
    if (!c) return KG_ENOMEM;
    for (size_t i = 0; i < TCACHE_SLOTS; i++)
        pthread_mutex_init(&c->slots[i].lock, NULL);
    c->budget = budget;
    *out = c;
    return KG_OK;
}

void tcache_free(struct tcache *c)
{
    if (!c) return;
    for (size_t i = 0; i < TCACHE_SLOTS; i++) {
        entry_release(c->slots[i].e);
        pthread_mutex_destroy(&c->slots[i].lock);
    }
    free(c);
}

void tcache_stamp(struct tcache *c, struct view *v, struct tcache_stamp *out)
{
    out->epoch = atomic_load(&c->epoch);
    out->data_ver = view_data_version(v);
}

void tcache_forget(struct tcache *c)
{
    if (c) atomic_fetch_add(&c->epoch, 1);
}

int tcache_get(struct tcache *c, const char *key, const struct tcache_stamp *s, int64_t now,
               struct view *v, struct jsonw *w)
{
    uint64_t h = key_hash(key);
    struct slot *sl = &c->slots[h % TCACHE_SLOTS];
    pthread_mutex_lock(&sl->lock);
    struct entry *e = sl->e;
    if (e && (e->hash != h || strcmp(e->key, key) || e->stamp.epoch != s->epoch ||
              e->stamp.data_ver != s->data_ver || now >= e->until))
        e = NULL;
    if (e) atomic_fetch_add(&e->refs, 1);
    pthread_mutex_unlock(&sl->lock);
    if (!e) return 0;
    tcache_fill(e->text, e->len, e->holes, e->nholes, v, w);
    entry_release(e);
    return 1;
}

void tcache_fill(const char *text, size_t len, const struct tcache_hole *holes, size_t n,
                 struct view *v, struct jsonw *w)
{
    /* The view's last accesses of a page's tokens, read under one lock (FILL_BATCH at a time). */
    enum { FILL_BATCH = 128 };
    const char *ids[FILL_BATCH];
    uint32_t places[FILL_BATCH];
    int64_t seen[FILL_BATCH];
    size_t from = 0;
    jsonw_reserve(w, len + n * 26); /* each hole: null, or a time in quotes (26 bytes) */
    for (size_t i = 0; i < n; i++) {
        size_t k = i % FILL_BATCH;
        if (!k) {
            size_t m = n - i < FILL_BATCH ? n - i : FILL_BATCH;
            for (size_t j = 0; j < m; j++) {
                ids[j] = holes[i + j].client_id;
                places[j] = holes[i + j].place;
            }
            view_token_last_accesses(v, ids, places, m, seen);
        }
        jsonw_bytes(w, text + from, holes[i].at - from);
        jsonw_time(w, seen[k] > holes[i].stored ? seen[k] : holes[i].stored);
        from = holes[i].at;
    }
    jsonw_bytes(w, text + from, len - from);
}

void tcache_put(struct tcache *c, const char *key, const struct tcache_stamp *s, int64_t until,
                const char *text, size_t len, const struct tcache_hole *holes, size_t n,
                struct view *v)
{
    size_t klen = strlen(key), size = sizeof(struct entry) + n * sizeof *holes + len + 1;
    if (klen > TCACHE_KEY_MAX || size > c->budget) return;
    struct entry *e = malloc(size);
    if (!e) return;
    atomic_init(&e->refs, 1);
    e->hash = key_hash(key);
    memcpy(e->key, key, klen + 1);
    e->stamp = *s;
    e->until = until;
    e->size = size;
    e->len = len;
    e->nholes = n;
    e->holes = (struct tcache_hole *)(e + 1);
    e->text = (char *)(e->holes + n);
    if (n) memcpy(e->holes, holes, n * sizeof *holes);
    /* each hole's token placed once here, so that each answer from the entry reads the view's
     * records straight (at 100,000 tokens, looking up a page's hundred ids was a fifth of the
     * list page's time) */
    enum { PLACE_BATCH = 128 };
    const char *ids[PLACE_BATCH];
    uint32_t places[PLACE_BATCH];
    for (size_t i = 0; i < n; i += PLACE_BATCH) {
        size_t m = n - i < PLACE_BATCH ? n - i : PLACE_BATCH;
        for (size_t j = 0; j < m; j++)
            ids[j] = e->holes[i + j].client_id;
        view_token_places(v, ids, m, places);
        for (size_t j = 0; j < m; j++)
            e->holes[i + j].place = places[j];
    }
    memcpy(e->text, text, len);
    e->text[len] = '\0';

    struct slot *sl = &c->slots[e->hash % TCACHE_SLOTS];
    pthread_mutex_lock(&sl->lock);
    struct entry *old = sl->e;
    if (old) atomic_fetch_sub(&c->used, old->size);
    sl->e = NULL;
    if (atomic_load(&c->used) + size <= c->budget) {
        atomic_fetch_add(&c->used, size);
        sl->e = e;
        e = NULL;
    }
    pthread_mutex_unlock(&sl->lock);
    entry_release(old);
    free(e); /* not kept: over the budget */
}
