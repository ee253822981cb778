/*
 * view.c — in-memory tokens (open-addressing hash table over a record array) and roles (a
 * role graph, rolegraph.h, rebuilt whole from the store whenever roles change and swapped in).
 *
 * Layout: loading the role graph, token table (insert, lookup), sync, public calls.
 * Locking: `lock` (rwlock) guards the token table and the role graph pointer; readers copy
 * out and never do I/O under it.
 * `sync_lock` serialises view_sync() and view_flush_touches() against themselves.
 */
#include "view.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cidr.h"
#include "ids.h"
#include "log.h"
#include "meter.h"
#include "rolegraph.h"
#include "util.h"

/* ---- loading the role graph --------------------------------------------------------------- */

/* Reads every role and privilege from the store into a new role graph.  Caller owns *out. */
static kg_err roles_load(struct store *st, struct rolegraph **out)
{
    kg_err rc;
    struct kg_role *all = NULL, *page = NULL;
    struct kg_privilege *privs = NULL;
    size_t nall = 0, n = 0, nprivs = 0;

    int64_t after = 0;
    for (;;) {
        if ((rc = store_role_list(st, after, 1000, &page, &n)) != KG_OK) goto out;
        if (n) {
            struct kg_role *grown = realloc(all, (nall + n) * sizeof *all);
            if (!grown) {
                rc = KG_ENOMEM;
                goto out;
            }
            all = grown;
            memcpy(all + nall, page, n * sizeof *page);
            nall += n;
            after = page[n - 1].seq;
        }
        free(page);
        page = NULL;
        if (n < 1000) break;
    }
    if ((rc = store_privilege_list(st, NULL, &privs, &nprivs)) != KG_OK) goto out;
    rc = rolegraph_new(all, nall, privs, nprivs, out);
out:
    free(all);
    free(page);
    free(privs);
    return rc;
}

/* ---- token table --------------------------------------------------------------------- */

/*
 * Ten million tokens must fit in little more than a gigabyte, so a token's record holds what
 * nearly every token has, packed (96 bytes), and the rest lives elsewhere, only for the tokens
 * that have it:
 *   - its client id packed: "kgc_" and 16 base62 characters (ids.h) as two numbers of 8
 *     characters each (below 62^8 < 2^48), 6 bytes each;
 *   - its role as an index into the view's role ids (a deployment has few roles);
 *   - its status, its secrets' count and statuses, and which of its times the store has yet to
 *     learn, as bits of one word (`flags`);
 *   - its first secret inline (most tokens have one); the others, its own rate limit and its
 *     allowed ranges in a side record (`ext`, an index into v->exts);
 *   - its meter, made at its first use, in v->meters (chunks of pointers, made as needed).
 * A token's index never changes (tokens are never removed): the side tables and the usage
 * queue name tokens by it.
 */
#define VID_LEN 12

/* One secret of a token; its status is a bit of the token's flags. */
struct vsec {
    int64_t seq;
    int64_t expires_on;
    _Atomic int64_t last_used; /* the latest use known here */
    unsigned char hash[KG_HASH_LEN];
};

/* flags: VT_REVOKED; secret i revoked; the secrets' count; last_access, and secret i's
 * last_used, newer than the store knows (view_flush_touches() writes them). */
#define VT_REVOKED 1u
#define VT_SEC_REVOKED(i) (1u << (1 + (i)))
#define VT_NSEC_SHIFT 11
#define VT_NSEC_MASK (0xfu << VT_NSEC_SHIFT)
#define VT_TOUCHED (1u << 15)
#define VT_SEC_USED(i) (1u << (16 + (i)))
#define VT_UNFLUSHED (VT_TOUCHED | (((1u << KG_SECRETS_MAX) - 1) << 16))
_Static_assert(KG_SECRETS_MAX <= 10 && KG_SECRETS_MAX < 16, "the flags' bits hold the secrets");

struct vtok {
    unsigned char id[VID_LEN]; /* the client id, packed (id_pack) */
    uint32_t role;             /* index into v->rids */
    _Atomic uint32_t flags;    /* VT_*: changed under the write lock, or atomically */
    uint32_t ext;              /* 1 + index into v->exts; 0 = none */
    int64_t expires_on;
    _Atomic int64_t last_access; /* the latest access known here */
    struct vsec sec1;            /* the first secret (when nsec > 0) */
};
_Static_assert(sizeof(struct vtok) == 96, "a token's record stays small: see above");

/* A token's allowed ranges. */
struct vcidrs {
    size_t n;
    struct cidr r[KG_CIDRS_MAX];
};

/* What few tokens have: usage controls (their own rate limit, 0 = none: the default's; their
 * allowed ranges, NULL = any address) and secrets beyond the first. */
struct vext {
    uint32_t rate_requests, rate_period_s;
    struct vcidrs *cidrs;
    struct vsec *more; /* nsec - 1 of them, or NULL */
};

/* A meter slot: a token's meter or NULL; MCHUNK of them a chunk. */
typedef struct meter *_Atomic vmeter;
#define MCHUNK 4096

struct vjti {
    char jti[KG_JTI_LEN + 1]; /* "" = empty slot */
    int64_t exp;              /* seconds */
};

/* A hash slot: the token's index + 1 (0 = empty) and the high half of its id's hash, so that a
 * probe only reads the token record (a cache miss in a large table) when the hashes agree. */
struct vslot {
    _Alignas(8) uint32_t tag; /* a slot is taken whole, by one compare-and-swap (slots_fill) */
    uint32_t idx;
};

struct view {
    struct store *st;
    struct vjti *jtis; /* open addressing; power-of-two size, at most half full */
    size_t njtis, jti_slots;
    pthread_rwlock_t lock;
    pthread_mutex_t sync_lock;
    struct rolegraph *roles;
    struct vtok *toks;
    size_t ntoks, captoks;
    struct vext *exts; /* side records (vtok.ext) */
    size_t nexts, capexts;
    vmeter *_Atomic *meters; /* captoks / MCHUNK chunks, each made at its first meter */
    /* the tokens with a VT_UNFLUSHED bit, a bit each (captoks bits): what a flush looks at */
    _Atomic uint64_t *unflushed;
    kg_role_id *rids; /* the role ids tokens hold (vtok.role), each once */
    uint32_t *rslots; /* their hash table: index + 1, 0 = empty; at most half full */
    size_t nrids, caprids, nrslots;
    /* usage controls: the default rate limit; the tokens whose meter counted since the last
     * usage flush (indexes into toks), under dirty_lock; this process's id among the nodes */
    int64_t default_requests, default_period_s;
    size_t nlimited; /* tokens with a rate limit of their own */
    int quiet;       /* count no usage (view_set_counting) */
    pthread_mutex_t dirty_lock;
    uint32_t *dirty;
    size_t ndirty, capdirty;
    struct kg_usage *unsent; /* counts a failed flush kept for the next (at most UNSENT_MAX) */
    size_t nunsent;
    char node[24];
    struct vslot *slots;
    size_t nslots;            /* power of two, at least 4/3 of ntoks */
    size_t nrevoked;          /* tokens of status KG_TOKEN_REVOKED (of ntoks) */
    _Atomic int64_t data_ver; /* the store's data version the view holds (read by any thread) */
    int64_t roles_ver;
};

/* MurmurHash3's fmix64: every bit of x moves every bit of the result. */
static uint64_t fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

/* FNV-1a, then a final avalanche (fmix64): FNV's low bits, the ones a slot index uses, barely
 * depend on the last characters, and ids that differ only there clustered into long probe
 * runs. */
static uint64_t id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return fmix64(h);
}

/* A base62 character's value + 1 (0: not one), filled once (b62_init). */
static unsigned char b62_val[256];
static pthread_once_t b62_once = PTHREAD_ONCE_INIT;

static void b62_init(void)
{
    static const char digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (int i = 0; i < 62; i++)
        b62_val[(unsigned char)digits[i]] = (unsigned char)(i + 1);
}

static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* Packs a client id into out; 0 when s is not one (no such id is ever made: unknown). */
static int id_pack(const char *s, unsigned char out[VID_LEN])
{
    if (strncmp(s, "kgc_", 4) != 0) return 0;
    for (int half = 0; half < 2; half++) {
        uint64_t n = 0;
        for (int i = 0; i < 8; i++) {
            unsigned d = b62_val[(unsigned char)s[4 + half * 8 + i]];
            if (!d) return 0; /* the end of s, too */
            n = n * 62 + d - 1;
        }
        for (int i = 0; i < 6; i++)
            out[half * 6 + i] = (unsigned char)(n >> (8 * i));
    }
    return s[KG_CLIENT_ID_LEN] == '\0';
}

static void id_unpack(const unsigned char in[VID_LEN], char out[KG_CLIENT_ID_LEN + 1])
{
    memcpy(out, "kgc_", 4);
    for (int half = 0; half < 2; half++) {
        uint64_t n = 0;
        for (int i = 5; i >= 0; i--)
            n = n << 8 | in[half * 6 + i];
        for (int i = 7; i >= 0; i--) {
            out[4 + half * 8 + i] = b62[n % 62];
            n /= 62;
        }
    }
    out[KG_CLIENT_ID_LEN] = '\0';
}

static uint64_t vid_hash(const unsigned char id[VID_LEN])
{
    uint64_t hi = 0, lo = 0;
    for (int i = 5; i >= 0; i--) {
        hi = hi << 8 | id[i];
        lo = lo << 8 | id[6 + i];
    }
    return fmix64(hi * 0x9e3779b97f4a7c15ull + lo);
}

static size_t tok_nsec(const struct vtok *x)
{
    return (atomic_load_explicit(&x->flags, memory_order_relaxed) & VT_NSEC_MASK) >> VT_NSEC_SHIFT;
}

static struct vext *ext_of(const struct view *v, const struct vtok *x)
{
    return x->ext ? &v->exts[x->ext - 1] : NULL;
}

static struct vsec *vsec_at(const struct view *v, struct vtok *x, size_t i)
{
    return i ? &ext_of(v, x)->more[i - 1] : &x->sec1;
}

/* The index of x's secret seq, or -1. */
static int vsec_find(const struct view *v, struct vtok *x, int64_t seq)
{
    size_t n = tok_nsec(x);
    for (size_t i = 0; i < n; i++)
        if (vsec_at(v, x, i)->seq == seq) return (int)i;
    return -1;
}

/* Slot holding the packed id (hashed h), or the empty slot where it would go. */
static size_t slot_find(const struct view *v, const unsigned char id[VID_LEN], uint64_t h)
{
    uint32_t tag = (uint32_t)(h >> 32);
    size_t mask = v->nslots - 1, i = (size_t)h & mask;
    while (v->slots[i].idx &&
           (v->slots[i].tag != tag || memcmp(v->toks[v->slots[i].idx - 1].id, id, VID_LEN) != 0))
        i = (i + 1) & mask;
    return i;
}

/* The two large arrays, the records and the slots, each live in a mapping of its own, with
 * huge pages (2 MiB) asked for: at ten million tokens they are a gigabyte, and filling them
 * 4 KiB at a time was a fifth of the start-up in page faults.  (The advice on a part of a
 * malloc block split its mapping, and realloc then copied it: hence mappings of their own,
 * grown by mremap, which moves pages and keeps the advice.)  The advice is only that: where
 * the kernel has no huge pages, nothing changes. */
static void *big_advise(void *p, size_t len)
{
    if (p == MAP_FAILED) return NULL;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}

/* len zeroed bytes (NULL when there is no memory); freed by big_free(p, len). */
static void *big_alloc(size_t len)
{
    return big_advise(mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                      len);
}

/* p's len bytes, grown to len2 (the new ones zeroed); NULL when there is no memory, p unchanged. */
static void *big_grow(void *p, size_t len, size_t len2)
{
    return p ? big_advise(mremap(p, len, len2, MREMAP_MAYMOVE), len2) : big_alloc(len2);
}

static void big_free(void *p, size_t len)
{
    if (p) munmap(p, len);
}

/* Makes room for one more token record (and its bits in the side tables).  Caller holds the
 * write lock. */
static kg_err grow_toks(struct view *v)
{
    if (v->ntoks >= UINT32_MAX - 1) return KG_ENOMEM;
    if (v->ntoks < v->captoks) return KG_OK;
    size_t cap = v->captoks ? v->captoks * 2 : MCHUNK;
    _Atomic uint64_t *u = realloc(v->unflushed, cap / 64 * sizeof *u);
    if (!u) return KG_ENOMEM;
    memset(u + v->captoks / 64, 0, (cap - v->captoks) / 64 * sizeof *u);
    v->unflushed = u;
    vmeter *_Atomic *m = realloc(v->meters, cap / MCHUNK * sizeof *m);
    if (!m) return KG_ENOMEM;
    memset(m + v->captoks / MCHUNK, 0, (cap - v->captoks) / MCHUNK * sizeof *m);
    v->meters = m;
    /* last, so that captoks is its length: mremap keeps the pages where they are (no copy, no
     * peak) */
    struct vtok *t = big_grow(v->toks, v->captoks * sizeof *t, cap * sizeof *t);
    if (!t) return KG_ENOMEM;
    v->toks = t;
    v->captoks = cap;
    return KG_OK;
}

/* Tokens [from, to) of v, put into the slot table s (mask + 1 slots): each at the first empty
 * slot from its home.  The home slots are fetched AHEAD tokens in advance, so that the cache
 * misses overlap.  Another thread may fill the same table at once: a slot is taken by a
 * compare-and-swap, and none is ever emptied, so a probe that passed a slot finds it taken for
 * good. */
struct slots_part {
    const struct view *v;
    struct vslot *s;
    size_t mask, from, to;
};

static void slots_fill(const struct slots_part *p)
{
    enum { AHEAD = 16 };
    uint64_t hs[AHEAD];
    size_t n = p->to - p->from;
    for (size_t i = 0; i < n + AHEAD; i++) {
        if (i >= AHEAD) {
            size_t k = i - AHEAD;
            uint64_t h = hs[k % AHEAD];
            struct vslot mine = {(uint32_t)(h >> 32), (uint32_t)(p->from + k + 1)}, seen;
            for (size_t j = (size_t)h & p->mask;; j = (j + 1) & p->mask) {
                __atomic_load(&p->s[j], &seen, __ATOMIC_RELAXED);
                if (seen.idx) continue;
                if (__atomic_compare_exchange(&p->s[j], &seen, &mine, 0, __ATOMIC_RELAXED,
                                              __ATOMIC_RELAXED))
                    break;
            }
        }
        if (i < n) {
            uint64_t h = vid_hash(p->v->toks[p->from + i].id);
            hs[i % AHEAD] = h;
            __builtin_prefetch(&p->s[(size_t)h & p->mask], 1);
        }
    }
}

static void *slots_fill_main(void *arg)
{
    slots_fill(arg);
    return NULL;
}

/* From this many tokens (a few milliseconds' work), a rebuild of the slots takes a second
 * thread: at ten million, the first load's took 0.7 s on one core, while the other waited. */
#define SLOTS_TWO_THREADS (1u << 16)

/* Rebuilds the slot table with room for `want` tokens at most 3/4 full (a probe's run stays
 * short: the tags are compared in one cache line, and a record read only on a tag's match). */
static kg_err index_toks(struct view *v, size_t want)
{
    size_t n = v->nslots ? v->nslots : 2048;
    while (want * 4 > n * 3)
        n *= 2;
    if (n == v->nslots) return KG_OK;
    struct vslot *s = big_alloc(n * sizeof *s);
    if (!s) return KG_ENOMEM;
    big_free(v->slots, v->nslots * sizeof *s);
    v->slots = s;
    v->nslots = n;
    /* the ids are all different: none is looked for among those put before it */
    struct slots_part part[2] = {{v, s, n - 1, 0, v->ntoks}, {v, s, n - 1, v->ntoks, v->ntoks}};
    pthread_t th;
    int two = 0;
    if (v->ntoks >= SLOTS_TWO_THREADS) {
        part[0].to = part[1].from = v->ntoks / 2;
        two = pthread_create(&th, NULL, slots_fill_main, &part[1]) == 0;
        if (!two) part[0].to = v->ntoks;
    }
    slots_fill(&part[0]);
    if (two) pthread_join(th, NULL);
    return KG_OK;
}

/* The index in v->rids of role_id, added when new.  Caller holds the write lock. */
static kg_err role_intern(struct view *v, const char *role_id, uint32_t *out)
{
    if (v->nrids && strcmp(v->rids[*out < v->nrids ? *out : 0], role_id) == 0) return KG_OK;
    uint64_t h = id_hash(role_id);
    size_t mask = v->nrslots - 1, i = (size_t)h & mask;
    for (; v->nrslots && v->rslots[i]; i = (i + 1) & mask)
        if (strcmp(v->rids[v->rslots[i] - 1], role_id) == 0) {
            *out = v->rslots[i] - 1;
            return KG_OK;
        }
    if (v->nrids == v->caprids) {
        size_t cap = v->caprids ? v->caprids * 2 : 16;
        kg_role_id *r = realloc(v->rids, cap * sizeof *r);
        uint32_t *s = calloc(cap * 2, sizeof *s);
        if (r) v->rids = r;
        if (!r || !s) {
            free(s);
            return KG_ENOMEM;
        }
        free(v->rslots);
        v->rslots = s;
        v->nrslots = cap * 2;
        v->caprids = cap;
        mask = v->nrslots - 1;
        for (size_t k = 0; k < v->nrids; k++) {
            size_t j = (size_t)id_hash(v->rids[k]) & mask;
            while (s[j])
                j = (j + 1) & mask;
            s[j] = (uint32_t)k + 1;
        }
        for (i = (size_t)h & mask; s[i]; i = (i + 1) & mask)
            ;
    }
    snprintf(v->rids[v->nrids], sizeof v->rids[v->nrids], "%s", role_id);
    v->rslots[i] = (uint32_t)++v->nrids;
    *out = (uint32_t)v->nrids - 1;
    return KG_OK;
}

/* x's side record, made when it has none.  Caller holds the write lock. */
static kg_err ext_make(struct view *v, struct vtok *x, struct vext **out)
{
    if (!x->ext) {
        if (v->nexts == UINT32_MAX - 1) return KG_ENOMEM;
        if (v->nexts == v->capexts) {
            size_t cap = v->capexts ? v->capexts * 2 : 64;
            struct vext *e = realloc(v->exts, cap * sizeof *e);
            if (!e) return KG_ENOMEM;
            v->exts = e;
            v->capexts = cap;
        }
        memset(&v->exts[v->nexts], 0, sizeof *v->exts);
        x->ext = (uint32_t)++v->nexts;
    }
    *out = ext_of(v, x);
    return KG_OK;
}

/* Marks bits (VT_UNFLUSHED's) of token i for the next flush. */
static void mark_unflushed(struct view *v, size_t i, uint32_t bits)
{
    atomic_fetch_or(&v->toks[i].flags, bits);
    _Atomic uint64_t *w = &v->unflushed[i / 64];
    uint64_t b = 1ull << (i % 64);
    if (!(atomic_load_explicit(w, memory_order_relaxed) & b)) atomic_fetch_or(w, b);
}

static void tok_init(struct vtok *x, const unsigned char id[VID_LEN], const struct kg_token *t)
{
    memset(x, 0, sizeof *x);
    memcpy(x->id, id, VID_LEN);
    atomic_store(&x->last_access, t->last_access_on);
}

/* Replaces x's secrets with t's, keeping the uses this process knows of (and whether the store
 * has them yet).  Caller holds the write lock. */
static kg_err secs_update(struct view *v, struct vtok *x, const struct kg_token *t)
{
    int64_t used[KG_SECRETS_MAX];
    size_t n = t->nsecrets < KG_SECRETS_MAX ? t->nsecrets : KG_SECRETS_MAX;
    uint32_t f = atomic_load(&x->flags), nf = f & (VT_REVOKED | VT_TOUCHED);
    struct vsec *more = NULL;
    struct vext *e = NULL;
    kg_err rc;

    if (n == 0 && tok_nsec(x) == 0) return KG_OK; /* a first load's token: secrets follow */
    if (n > 1 && ((rc = ext_make(v, x, &e)) != KG_OK || !(more = calloc(n - 1, sizeof *more))))
        return KG_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int old = vsec_find(v, x, t->secrets[i].seq);
        used[i] = t->secrets[i].last_used_on;
        if (old < 0) continue;
        int64_t u = atomic_load(&vsec_at(v, x, (size_t)old)->last_used);
        if (u > used[i]) used[i] = u;
        if (f & VT_SEC_USED(old)) nf |= VT_SEC_USED(i);
    }
    if ((e = ext_of(v, x))) {
        free(e->more);
        e->more = more;
    }
    for (size_t i = 0; i < n; i++) {
        struct vsec *d = vsec_at(v, x, i);
        d->seq = t->secrets[i].seq;
        memcpy(d->hash, t->secrets[i].hash, sizeof d->hash);
        d->expires_on = t->secrets[i].expires_on;
        atomic_store(&d->last_used, used[i]);
        if (t->secrets[i].status == KG_SECRET_REVOKED) nf |= VT_SEC_REVOKED(i);
    }
    atomic_store(&x->flags, nf | (uint32_t)n << VT_NSEC_SHIFT);
    return KG_OK;
}

/* Replaces x's allowed ranges with t's (store.c checked their form). */
static kg_err cidrs_update(struct view *v, struct vtok *x, const struct kg_token *t)
{
    struct vcidrs *c = NULL;
    struct vext *e = ext_of(v, x);
    kg_err rc;
    if (!e && !t->cidrs[0]) return KG_OK;
    if (t->cidrs[0]) {
        if ((rc = ext_make(v, x, &e)) != KG_OK) return rc;
        if (!(c = calloc(1, sizeof *c))) return KG_ENOMEM;
        for (const char *s = t->cidrs; *s && c->n < KG_CIDRS_MAX;) {
            size_t len = strcspn(s, ",");
            if (cidr_parse(s, len, &c->r[c->n])) c->n++;
            s += len + (s[len] == ',');
        }
    }
    free(e->cidrs);
    e->cidrs = c;
    return KG_OK;
}

static struct meter *meter_peek(const struct view *v, size_t i);

/* Caller holds the write lock (or owns v alone). */
static kg_err tok_update(struct view *v, struct vtok *x, const struct kg_token *t)
{
    kg_err rc = secs_update(v, x, t);
    if (rc == KG_OK) rc = cidrs_update(v, x, t);
    if (rc == KG_OK) rc = role_intern(v, t->role_id, &x->role);
    struct vext *e = ext_of(v, x);
    if (rc == KG_OK && !e && t->rate_requests) rc = ext_make(v, x, &e);
    if (rc != KG_OK) return rc;
    if (e) {
        v->nlimited -= e->rate_requests > 0;
        struct meter *m = meter_peek(v, (size_t)(x - v->toks));
        if (m && (e->rate_requests != (uint32_t)t->rate_requests ||
                  e->rate_period_s != (uint32_t)t->rate_period_s))
            meter_limit_changed(m, t->rate_requests ? t->rate_period_s : 0, kg_now_ms());
        e->rate_requests = (uint32_t)t->rate_requests; /* within the model's bounds (store.c) */
        v->nlimited += e->rate_requests > 0;
        e->rate_period_s = (uint32_t)t->rate_period_s;
    }
    uint32_t f = atomic_load(&x->flags);
    v->nrevoked -= (f & VT_REVOKED) != 0; /* a new record is zeroed: active */
    f = (f & ~VT_REVOKED) | (t->status == KG_TOKEN_REVOKED ? VT_REVOKED : 0);
    atomic_store(&x->flags, f);
    v->nrevoked += (f & VT_REVOKED) != 0;
    x->expires_on = t->expires_on;
    if (t->last_access_on > atomic_load(&x->last_access))
        atomic_store(&x->last_access, t->last_access_on);
    return KG_OK;
}

/* Inserts or refreshes one token; caller holds the write lock. */
static kg_err tok_apply(struct view *v, const struct kg_token *t)
{
    kg_err rc;
    unsigned char id[VID_LEN];
    if (!id_pack(t->client_id, id)) {
        KG_LOG(LOG_WARNING, "token %.*s skipped: not a client id keygate makes", KG_CLIENT_ID_LEN,
               t->client_id);
        return KG_OK;
    }
    if ((rc = index_toks(v, v->ntoks + 1)) != KG_OK) return rc;
    uint64_t h = vid_hash(id);
    size_t s = slot_find(v, id, h);
    struct vtok *x;
    if (v->slots[s].idx) {
        x = &v->toks[v->slots[s].idx - 1];
    } else {
        if ((rc = grow_toks(v)) != KG_OK) return rc;
        x = &v->toks[v->ntoks];
        tok_init(x, id, t);
        v->slots[s] = (struct vslot){(uint32_t)(h >> 32), (uint32_t)++v->ntoks};
    }
    return tok_update(v, x, t);
}

static struct vtok *tok_get(struct view *v, const char *client_id)
{
    unsigned char id[VID_LEN];
    if (!v->nslots || !id_pack(client_id, id)) return NULL;
    size_t s = slot_find(v, id, vid_hash(id));
    return v->slots[s].idx ? &v->toks[v->slots[s].idx - 1] : NULL;
}

/* ---- sync ---------------------------------------------------------------------------- */

static size_t jti_slot(const struct vjti *t, size_t nslots, const char *jti)
{
    size_t mask = nslots - 1, i = (size_t)id_hash(jti) & mask;
    while (t[i].jti[0] && strcmp(t[i].jti, jti) != 0)
        i = (i + 1) & mask;
    return i;
}

/* store_jti_fn: records one revoked access token under the write lock; expired records are
 * dropped whenever the table grows. */
static kg_err apply_jti(void *arg, const char *jti, int64_t exp)
{
    struct view *v = arg;
    kg_err rc = KG_OK;
    if (strlen(jti) > KG_JTI_LEN) return KG_OK; /* not one of ours: it cannot be presented */
    pthread_rwlock_wrlock(&v->lock);
    if ((v->njtis + 1) * 2 > v->jti_slots) {
        int64_t now = kg_now_ms() / 1000;
        size_t n = v->jti_slots ? v->jti_slots : 256, live = 0;
        for (size_t i = 0; i < v->jti_slots; i++)
            live += v->jtis[i].jti[0] && v->jtis[i].exp > now;
        while ((live + 1) * 2 > n)
            n *= 2;
        struct vjti *t = calloc(n, sizeof *t);
        if (!t) {
            rc = KG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < v->jti_slots; i++)
            if (v->jtis[i].jti[0] && v->jtis[i].exp > now)
                t[jti_slot(t, n, v->jtis[i].jti)] = v->jtis[i];
        free(v->jtis);
        v->jtis = t;
        v->jti_slots = n;
        v->njtis = live;
    }
    size_t i = jti_slot(v->jtis, v->jti_slots, jti);
    if (!v->jtis[i].jti[0]) {
        memcpy(v->jtis[i].jti, jti, strlen(jti) + 1);
        v->njtis++;
    }
    v->jtis[i].exp = exp;
out:
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

int view_jti_revoked(struct view *v, const char *jti)
{
    int hit = 0;
    pthread_rwlock_rdlock(&v->lock);
    if (v->jti_slots) hit = v->jtis[jti_slot(v->jtis, v->jti_slots, jti)].jti[0] != '\0';
    pthread_rwlock_unlock(&v->lock);
    return hit;
}

/* The first load, with the write lock held throughout.  Every token comes before any secret
 * (store_token_load); the tokens are appended without hashing (the load names each token
 * once), and the slots are built once, for all of them, at the first secret.  Each secret is
 * found by its token's id: most often a token after that of the previous secret of the same
 * reader (a token's first secret is made with it, and the store may read each table in parts,
 * two at once: two hints), else by its slot. */
struct load {
    struct view *v;
    size_t at[2]; /* the tokens of the previous secrets, the last-found one in at[0] */
    int indexed;  /* the slots are built */
};

/* store_token_fn: appends one token (its secrets follow). */
static kg_err load_token(void *arg, const struct kg_token *t)
{
    struct view *v = ((struct load *)arg)->v;
    unsigned char id[VID_LEN];
    if (!id_pack(t->client_id, id)) {
        KG_LOG(LOG_WARNING, "token %.*s skipped: not a client id keygate makes", KG_CLIENT_ID_LEN,
               t->client_id);
        return KG_OK;
    }
    kg_err rc = grow_toks(v);
    if (rc != KG_OK) return rc;
    tok_init(&v->toks[v->ntoks], id, t);
    return tok_update(v, &v->toks[v->ntoks++], t);
}

/* The token of a secret: at a hint or just after it, else by its slot; NULL when not there. */
static struct vtok *load_find(struct load *l, const unsigned char id[VID_LEN],
                              const char *client_id)
{
    struct view *v = l->v;
    for (int h = 0; h < 2; h++)
        for (size_t i = l->at[h]; i < l->at[h] + 2 && i < v->ntoks; i++)
            if (memcmp(v->toks[i].id, id, VID_LEN) == 0) {
                if (h) l->at[1] = l->at[0];
                l->at[0] = i;
                return &v->toks[i];
            }
    struct vtok *x = tok_get(v, client_id);
    if (x) {
        l->at[1] = l->at[0];
        l->at[0] = (size_t)(x - v->toks);
    }
    return x;
}

/* store_secret_fn: adds one secret to its token, in its place by seq (the oldest first; past
 * KG_SECRETS_MAX, the newest are left out). */
static kg_err load_secret(void *arg, const char *client_id, const struct kg_secret *s)
{
    struct load *l = arg;
    struct view *v = l->v;
    unsigned char id[VID_LEN];
    struct vtok *x;
    struct vext *e;
    if (!l->indexed) {
        kg_err rc = index_toks(v, v->ntoks);
        if (rc != KG_OK) return rc;
        l->indexed = 1;
    }
    if (!id_pack(client_id, id)) return KG_OK;            /* its token was skipped */
    if (!(x = load_find(l, id, client_id))) return KG_OK; /* made after the tokens were read */
    uint32_t f = atomic_load(&x->flags);
    size_t n = tok_nsec(x), k = n;
    while (k > 0 && vsec_at(v, x, k - 1)->seq > s->seq)
        k--;
    if (k == KG_SECRETS_MAX) return KG_OK;
    if (n < KG_SECRETS_MAX) {
        if (n > 0) {
            kg_err rc = ext_make(v, x, &e);
            struct vsec *more = rc == KG_OK ? realloc(e->more, n * sizeof *more) : NULL;
            if (!more) return KG_ENOMEM;
            e->more = more;
            memset(&more[n - 1], 0, sizeof *more);
        }
        n++;
    }
    /* the newer ones (k on) move up a place, their revoked bits with them */
    uint32_t revoked = 0;
    for (size_t i = n - 1; i > k; i--) {
        struct vsec *d = vsec_at(v, x, i), *from = vsec_at(v, x, i - 1);
        d->seq = from->seq;
        memcpy(d->hash, from->hash, sizeof d->hash);
        d->expires_on = from->expires_on;
        atomic_store(&d->last_used, atomic_load(&from->last_used));
        if (f & VT_SEC_REVOKED(i - 1)) revoked |= VT_SEC_REVOKED(i);
    }
    for (size_t i = k; i < n; i++)
        f &= ~VT_SEC_REVOKED(i);
    struct vsec *d = vsec_at(v, x, k);
    d->seq = s->seq;
    memcpy(d->hash, s->hash, sizeof d->hash);
    d->expires_on = s->expires_on;
    atomic_store(&d->last_used, s->last_used_on);
    f = (f & ~VT_NSEC_MASK) | revoked | (uint32_t)n << VT_NSEC_SHIFT;
    if (s->status == KG_SECRET_REVOKED) f |= VT_SEC_REVOKED(k);
    atomic_store(&x->flags, f);
    return KG_OK;
}

/* The whole token table, into an empty view. */
static kg_err load_all(struct view *v)
{
    struct load l = {v, {0, 0}, 0};
    pthread_rwlock_wrlock(&v->lock);
    kg_err rc = store_token_load(v->st, load_token, load_secret, &l);
    if (rc == KG_OK) rc = index_toks(v, v->ntoks); /* when there was no secret */
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

/* store_token_fn: applies one changed token under the write lock. */
static kg_err apply_change(void *arg, const struct kg_token *t)
{
    struct view *v = arg;
    pthread_rwlock_wrlock(&v->lock);
    kg_err rc = tok_apply(v, t);
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

kg_err view_sync(struct view *v)
{
    kg_err rc;
    int64_t dv, rv;
    struct rolegraph *fresh = NULL;
    pthread_mutex_lock(&v->sync_lock);
    if ((rc = store_version(v->st, &dv, &rv)) != KG_OK || dv == v->data_ver) goto out;
    if (rv != v->roles_ver && (rc = roles_load(v->st, &fresh)) != KG_OK) goto out;
    rc = v->data_ver == 0 && v->ntoks == 0
             ? load_all(v)
             : store_token_changes(v->st, v->data_ver, apply_change, v);
    if (rc != KG_OK) goto out;
    if ((rc = store_jti_changes(v->st, v->data_ver, kg_now_ms() / 1000, apply_jti, v)) != KG_OK)
        goto out;

    pthread_rwlock_wrlock(&v->lock);
    if (fresh) {
        struct rolegraph *old = v->roles;
        v->roles = fresh;
        fresh = old; /* freed below, outside the lock */
    }
    pthread_rwlock_unlock(&v->lock);
    if (rc == KG_OK) {
        v->data_ver = dv;
        v->roles_ver = rv;
    }
out:
    pthread_mutex_unlock(&v->sync_lock);
    rolegraph_free(fresh);
    if (rc != KG_OK) KG_LOG(LOG_WARNING, "view sync failed: %s", kg_err_name(rc));
    return rc;
}

/* An empty view of st, that has read nothing yet. */
static kg_err view_alloc(struct store *st, struct view **out)
{
    struct view *v = calloc(1, sizeof *v);
    if (!v) return KG_ENOMEM;
    pthread_once(&b62_once, b62_init);
    v->st = st;
    v->data_ver = v->roles_ver = -1;
    pthread_rwlock_init(&v->lock, NULL);
    pthread_mutex_init(&v->sync_lock, NULL);
    pthread_mutex_init(&v->dirty_lock, NULL);
    ids_base62(v->node, 16);
    kg_err rc = rolegraph_new(NULL, 0, NULL, 0, &v->roles);
    if (rc != KG_OK) {
        view_free(v);
        return rc;
    }
    *out = v;
    return KG_OK;
}

kg_err view_new(struct store *st, struct view **out)
{
    struct view *v;
    kg_err rc = view_alloc(st, &v);
    if (rc != KG_OK) return rc;
    /* first sync: since -1 would miss nothing, but ask for everything explicitly */
    v->data_ver = 0;
    v->roles_ver = -1;
    if ((rc = view_sync(v)) != KG_OK) {
        view_free(v);
        return rc;
    }
    *out = v;
    return KG_OK;
}

void view_free(struct view *v)
{
    if (!v) return;
    rolegraph_free(v->roles);
    for (size_t i = 0; i < v->nexts; i++) {
        free(v->exts[i].more);
        free(v->exts[i].cidrs);
    }
    for (size_t c = 0; c < v->captoks / MCHUNK; c++) {
        vmeter *chunk = atomic_load(&v->meters[c]);
        for (size_t i = 0; chunk && i < MCHUNK; i++)
            free(atomic_load(&chunk[i]));
        free(chunk);
    }
    big_free(v->toks, v->captoks * sizeof *v->toks);
    free(v->exts);
    free(v->meters);
    free(v->unflushed);
    free(v->rids);
    free(v->rslots);
    free(v->dirty);
    free(v->unsent);
    pthread_mutex_destroy(&v->dirty_lock);
    big_free(v->slots, v->nslots * sizeof *v->slots);
    free(v->jtis);
    pthread_rwlock_destroy(&v->lock);
    pthread_mutex_destroy(&v->sync_lock);
    free(v);
}

/* ---- the saved view ------------------------------------------------------------------------ */

/*
 * At a clean stop the server saves the token table to a file (view_save), and its next start
 * reads it back (view_new_saved) rather than the whole database, then only what changed since:
 * at ten million tokens, a gigabyte read as it lies rather than twenty million rows decoded.
 *
 * The file is trusted only with the data it was saved from.  A random mark goes into the file
 * and into the store (store_view_mark_set); the file is read when the store holds the same mark
 * at a data version not older than the file's.  Every later write to that database raises its
 * data version, and the changes since the file's version bring it in, as for a running view.
 * A database restored from a backup made before the save, or another database, holds another
 * mark (or none), and gets a full load.  The file is summed as it is written (save_head.sum),
 * and the sum checked as it is read, before any record is believed: a damaged file gets a full
 * load too.
 * It is removed once read, so that only the start right after the stop that wrote it reads it:
 * after a crash, the start loads in full.
 *
 * Layout (this build's; the header checks it): the header, the role ids, the records, the side
 * records' heads, their secrets beyond the first, their ranges, then the magic again.  A change
 * of the records' meaning (their flags' bits, say) that keeps their sizes changes save_magic.
 */
static const char save_magic[16] = "keygate view 1\n";

#define SAVE_SUM_LEN 32

struct save_head {
    char magic[16];
    uint32_t layout[8]; /* save_layout() */
    char mark[STORE_MARK_LEN + 8];
    int64_t data_ver;
    uint64_t ntoks, nrids, nexts, nmore, ncidrs;
    /* BLAKE2b over the header (this field zero), the role ids, the sums of the records' two
     * halves (records_sum()), and the rest but the closing magic: of each piece its XXH64 and
     * length (sum_add()) */
    unsigned char sum[SAVE_SUM_LEN];
};

struct save_ext {
    uint32_t rate_requests, rate_period_s;
    uint32_t nmore; /* its token's secrets beyond the first */
    uint32_t cidrs; /* 1: it has allowed ranges */
};

static void save_layout(uint32_t out[8])
{
    const uint32_t l[8] = {sizeof(struct vtok), sizeof(struct vsec), sizeof(struct vcidrs),
                           sizeof(kg_role_id),  sizeof(struct vext), KG_SECRETS_MAX,
                           VT_NSEC_SHIFT,       0x01020304u /* byte order */};
    memcpy(out, l, sizeof l);
}

static int put(int fd, const void *p, size_t n)
{
    for (const char *c = p; n;) {
        ssize_t w = write(fd, c, n < (1u << 30) ? n : (1u << 30));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int get(int fd, void *p, size_t n, off_t at)
{
    for (char *c = p; n;) {
        ssize_t r = pread(fd, c, n < (1u << 30) ? n : (1u << 30), at);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
        at += r;
    }
    return 0;
}

/* Adds n bytes of p to a file's sum: their XXH64 and their length (BLAKE2b itself sums
 * 0.3 to 0.6 GB a second here, XXH64 fifteen: a gigabyte of records is read in under one). */
static void sum_add(crypto_generichash_state *s, const void *p, size_t n)
{
    if (!n) return;
    const uint64_t d[2] = {kg_xxh64(p, n, 0), n};
    crypto_generichash_update(s, (const unsigned char *)d, sizeof d);
}

/* Writes n bytes of p and adds them to the file's sum. */
static int put_sum(int fd, crypto_generichash_state *s, const void *p, size_t n)
{
    sum_add(s, p, n);
    return put(fd, p, n);
}

/* The sum of one half of the records (read from fd at `at` first, in chunks, when fd >= 0). */
struct sum_part {
    int fd;
    unsigned char *p;
    size_t n;
    off_t at;
    int bad;
    unsigned char sum[SAVE_SUM_LEN];
};

static void *sum_part_main(void *arg)
{
    enum { CHUNK = 8u << 20 }; /* read, then summed while in the cache */
    struct sum_part *g = arg;
    crypto_generichash_state s;
    crypto_generichash_init(&s, NULL, 0, sizeof g->sum);
    for (size_t off = 0; off < g->n && !g->bad; off += CHUNK) {
        size_t k = g->n - off < CHUNK ? g->n - off : CHUNK;
        if (g->fd >= 0) g->bad = get(g->fd, g->p + off, k, g->at + (off_t)off);
        sum_add(&s, g->p + off, k);
    }
    crypto_generichash_final(&s, g->sum, sizeof g->sum);
    return NULL;
}

/* The sums of the records' two halves (the first n / 2, the rest), each on a thread of its own
 * from SLOTS_TWO_THREADS on; read from fd at `at` first when fd >= 0 (zeroing fresh memory and
 * copying a gigabyte into it is a core's work).  Nonzero when a read failed. */
static int records_sum(int fd, struct vtok *t, size_t n, off_t at,
                       unsigned char out[2][SAVE_SUM_LEN])
{
    size_t half = n / 2;
    struct sum_part part[2] = {{fd, (unsigned char *)t, half * sizeof *t, at, 0, {0}},
                               {fd,
                                (unsigned char *)(t + half),
                                (n - half) * sizeof *t,
                                at + (off_t)(half * sizeof *t),
                                0,
                                {0}}};
    pthread_t th;
    int two = n >= SLOTS_TWO_THREADS && pthread_create(&th, NULL, sum_part_main, &part[1]) == 0;
    sum_part_main(&part[0]);
    if (two)
        pthread_join(th, NULL);
    else
        sum_part_main(&part[1]);
    memcpy(out[0], part[0].sum, SAVE_SUM_LEN);
    memcpy(out[1], part[1].sum, SAVE_SUM_LEN);
    return part[0].bad || part[1].bad;
}

/* The secrets beyond the first that x's side record holds. */
static uint32_t tok_nmore(const struct vtok *x)
{
    size_t n = tok_nsec(x);
    return n > 1 ? (uint32_t)(n - 1) : 0;
}

kg_err view_save(struct view *v, const char *path)
{
    char tmp[4096], mark[STORE_MARK_LEN + 1];
    unsigned char r[STORE_MARK_LEN / 2], halves[2][SAVE_SUM_LEN];
    randombytes_buf(r, sizeof r);
    sodium_bin2hex(mark, sizeof mark, r, sizeof r);
    /* a new file of its own (two servers of one database may stop at once), never followed */
    if (snprintf(tmp, sizeof tmp, "%s.%s.tmp", path, mark) >= (int)sizeof tmp) return KG_INVALID;
    kg_err rc = KG_ENOMEM;
    int fd = -1;
    pthread_mutex_lock(&v->sync_lock); /* the records stay those of data_ver */
    pthread_rwlock_rdlock(&v->lock);
    struct save_head h = {
        .data_ver = v->data_ver, .ntoks = v->ntoks, .nrids = v->nrids, .nexts = v->nexts};
    memcpy(h.magic, save_magic, sizeof h.magic);
    save_layout(h.layout);
    memcpy(h.mark, mark, sizeof mark);
    struct save_ext *heads = calloc(v->nexts + 1, sizeof *heads);
    if (!heads) goto out;
    for (size_t i = 0; i < v->ntoks; i++)
        if (v->toks[i].ext) heads[v->toks[i].ext - 1].nmore = tok_nmore(&v->toks[i]);
    for (size_t i = 0; i < v->nexts; i++) {
        heads[i].rate_requests = v->exts[i].rate_requests;
        heads[i].rate_period_s = v->exts[i].rate_period_s;
        heads[i].cidrs = v->exts[i].cidrs != NULL;
        h.nmore += heads[i].nmore;
        h.ncidrs += heads[i].cidrs;
    }
    rc = KG_IO;
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) goto out;
    /* the header is summed with its sum zero, and written again with it at the end */
    crypto_generichash_state s;
    crypto_generichash_init(&s, NULL, 0, SAVE_SUM_LEN);
    int bad = put_sum(fd, &s, &h, sizeof h);
    for (size_t i = 0; i < v->nrids && !bad; i++) {
        kg_role_id id = {0}; /* the bytes past the id's end are zero, not the heap's */
        memcpy(id, v->rids[i], strlen(v->rids[i]));
        bad = put_sum(fd, &s, id, sizeof id);
    }
    bad = bad || records_sum(-1, v->toks, v->ntoks, 0, halves);
    sum_add(&s, halves, sizeof halves);
    bad = bad || put(fd, v->toks, v->ntoks * sizeof *v->toks) ||
          put_sum(fd, &s, heads, v->nexts * sizeof *heads);
    for (size_t i = 0; i < v->nexts && !bad; i++)
        bad = put_sum(fd, &s, v->exts[i].more, heads[i].nmore * sizeof *v->exts[i].more);
    for (size_t i = 0; i < v->nexts && !bad; i++)
        bad = heads[i].cidrs && put_sum(fd, &s, v->exts[i].cidrs, sizeof *v->exts[i].cidrs);
    crypto_generichash_final(&s, h.sum, sizeof h.sum);
    if (bad || put(fd, save_magic, sizeof save_magic) ||
        pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || fsync(fd) != 0)
        goto out;
    /* the store's mark last but one: a file whose mark the store does not hold is never read */
    if ((rc = store_view_mark_set(v->st, mark)) != KG_OK) goto out;
    rc = rename(tmp, path) == 0 ? KG_OK : KG_IO;
out:
    pthread_rwlock_unlock(&v->lock);
    pthread_mutex_unlock(&v->sync_lock);
    free(heads);
    if (fd >= 0) close(fd);
    if (rc != KG_OK && fd >= 0) unlink(tmp);
    return rc;
}

static const char why_store[] = "the database could not be read";

/* Fills the empty view v from the saved file fd; *why says why not: the file is not for this
 * store's data (KG_PRECONDITION), or not well-formed (KG_IO), or the store failed (why_store). */
static kg_err saved_read(struct view *v, int fd, const char **why)
{
    struct save_head h;
    struct stat sb;
    uint32_t layout[8];
    char mark[STORE_MARK_LEN + 1];
    unsigned char sum[SAVE_SUM_LEN], halves[2][SAVE_SUM_LEN];
    int64_t dv, rv;
    kg_err rc;
    save_layout(layout);
    *why = "it is not one this keygate writes";
    if (fstat(fd, &sb) != 0 || get(fd, &h, sizeof h, 0) ||
        memcmp(h.magic, save_magic, sizeof h.magic) != 0 ||
        memcmp(h.layout, layout, sizeof layout) != 0 || !memchr(h.mark, '\0', sizeof h.mark))
        return KG_IO;
    if ((rc = store_view_mark(v->st, mark, &dv)) != KG_OK) {
        *why = why_store;
        return rc;
    }
    *why = "it was saved from other data (the database was replaced or restored since)";
    if (!h.mark[0] || strcmp(h.mark, mark) != 0 || h.data_ver > dv) return KG_PRECONDITION;
    *why = "it is cut short or damaged";
    if (h.ntoks >= UINT32_MAX - 1 || h.nrids > UINT32_MAX || h.nexts > h.ntoks ||
        h.nmore > h.nexts * (KG_SECRETS_MAX - 1) || h.ncidrs > h.nexts)
        return KG_IO;
    off_t at = sizeof h;
    uint64_t size = sizeof h + h.nrids * sizeof(kg_role_id) + h.ntoks * sizeof(struct vtok) +
                    h.nexts * sizeof(struct save_ext) + h.nmore * sizeof(struct vsec) +
                    h.ncidrs * sizeof(struct vcidrs) + sizeof save_magic;
    char end[sizeof save_magic];
    if ((uint64_t)sb.st_size != size || get(fd, end, sizeof end, sb.st_size - (off_t)sizeof end) ||
        memcmp(end, save_magic, sizeof end) != 0)
        return KG_IO;
    /* everything is summed as it is read, and the sum checked before a record is believed */
    crypto_generichash_state s;
    crypto_generichash_init(&s, NULL, 0, SAVE_SUM_LEN);
    memcpy(sum, h.sum, sizeof sum);
    memset(h.sum, 0, sizeof h.sum);
    sum_add(&s, &h, sizeof h);

    /* the role ids, in their order (the records name them by index) */
    for (uint64_t i = 0; i < h.nrids; i++, at += sizeof(kg_role_id)) {
        kg_role_id id;
        uint32_t k = 0;
        if (get(fd, id, sizeof id, at) || !memchr(id, '\0', sizeof id)) return KG_IO;
        sum_add(&s, id, sizeof id);
        if ((rc = role_intern(v, id, &k)) != KG_OK) return rc;
        if (k != i) return KG_IO; /* named twice */
    }
    /* the records, with their side tables' room */
    size_t cap = MCHUNK;
    while (cap < h.ntoks)
        cap *= 2;
    if (!(v->unflushed = calloc(cap / 64, sizeof *v->unflushed)) ||
        !(v->meters = calloc(cap / MCHUNK, sizeof *v->meters)) ||
        !(v->toks = big_alloc(cap * sizeof *v->toks)))
        return KG_ENOMEM;
    v->captoks = cap;
    if (records_sum(fd, v->toks, h.ntoks, at, halves)) return KG_IO;
    sum_add(&s, halves, sizeof halves);
    at += (off_t)(h.ntoks * sizeof *v->toks);
    /* the side records */
    struct save_ext *heads = NULL;
    struct vsec *more = NULL;
    unsigned char *owned = NULL; /* each side record has one token */
    rc = KG_ENOMEM;
    if (h.nexts && !(v->exts = calloc(h.nexts, sizeof *v->exts))) goto out;
    v->capexts = h.nexts;
    if (!(heads = calloc(h.nexts + 1, sizeof *heads)) ||
        !(more = malloc((h.nmore + 1) * sizeof *more)) || !(owned = calloc(h.nexts + 1, 1)))
        goto out;
    rc = KG_IO;
    if (get(fd, heads, h.nexts * sizeof *heads, at) ||
        get(fd, more, h.nmore * sizeof *more, at + (off_t)(h.nexts * sizeof *heads)))
        goto out;
    sum_add(&s, heads, h.nexts * sizeof *heads);
    at += (off_t)(h.nexts * sizeof *heads + h.nmore * sizeof *more);
    uint64_t taken = 0, ncidrs = 0;
    for (uint64_t i = 0; i < h.nexts; i++) { /* each side record's secrets, as saved */
        if (heads[i].nmore > KG_SECRETS_MAX - 1 || taken + heads[i].nmore > h.nmore) goto out;
        sum_add(&s, &more[taken], heads[i].nmore * sizeof *more);
        taken += heads[i].nmore;
    }
    if (taken != h.nmore) goto out;
    taken = 0;
    for (uint64_t i = 0; i < h.nexts; i++) {
        struct vext *e = &v->exts[i];
        e->rate_requests = heads[i].rate_requests;
        e->rate_period_s = heads[i].rate_period_s;
        v->nexts++; /* from here view_free() frees what it holds */
        v->nlimited += e->rate_requests > 0;
        rc = KG_ENOMEM;
        if (heads[i].nmore && !(e->more = malloc(heads[i].nmore * sizeof *e->more))) goto out;
        if (heads[i].cidrs && !(e->cidrs = malloc(sizeof *e->cidrs))) goto out;
        rc = KG_IO;
        if (heads[i].nmore) memcpy(e->more, &more[taken], heads[i].nmore * sizeof *e->more);
        taken += heads[i].nmore;
        if (heads[i].cidrs) {
            if (get(fd, e->cidrs, sizeof *e->cidrs, at) || e->cidrs->n > KG_CIDRS_MAX) goto out;
            sum_add(&s, e->cidrs, sizeof *e->cidrs);
            at += sizeof *e->cidrs;
            ncidrs++;
        }
    }
    unsigned char got[SAVE_SUM_LEN];
    crypto_generichash_final(&s, got, sizeof got);
    if (ncidrs != h.ncidrs || sodium_memcmp(got, sum, sizeof sum) != 0) goto out;
    /* every record names a role, a side record of its own and secrets that are there; its
     * times not yet in the store (none after a clean stop) are dropped with the meters */
    for (uint64_t i = 0; i < h.ntoks; i++) {
        struct vtok *x = &v->toks[i];
        uint32_t f = atomic_load_explicit(&x->flags, memory_order_relaxed);
        if (x->role >= h.nrids || x->ext > h.nexts || tok_nsec(x) > KG_SECRETS_MAX ||
            tok_nmore(x) != (x->ext ? heads[x->ext - 1].nmore : 0) || (x->ext && owned[x->ext]++))
            goto out;
        atomic_store_explicit(&x->flags, f & ~VT_UNFLUSHED, memory_order_relaxed);
        v->nrevoked += (f & VT_REVOKED) != 0;
    }
    v->ntoks = h.ntoks;
    /* the slots, the roles and the revoked jtis, then what changed since the save */
    if ((rc = index_toks(v, v->ntoks)) != KG_OK) goto out;
    struct rolegraph *roles = NULL;
    *why = why_store;
    if ((rc = store_version(v->st, &dv, &rv)) != KG_OK || (rc = roles_load(v->st, &roles)) != KG_OK)
        goto out;
    rolegraph_free(v->roles);
    v->roles = roles;
    v->roles_ver = rv;
    if ((rc = store_jti_changes(v->st, 0, kg_now_ms() / 1000, apply_jti, v)) != KG_OK) goto out;
    v->data_ver = h.data_ver;
    rc = view_sync(v);
out:
    if (rc == KG_ENOMEM) *why = "there was not the memory to read it";
    free(heads);
    free(more);
    free(owned);
    return rc;
}

/* Removes what saves cut short left beside path (path.<mark>.tmp). */
static void saved_leftovers(const char *path)
{
    char dir[4096] = ".";
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    if (slash && snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path) >= (int)sizeof dir)
        return;
    if (slash == path) strcpy(dir, "/");
    DIR *d = opendir(dir);
    if (!d) return;
    size_t blen = strlen(base);
    for (struct dirent *e; (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n == blen + 1 + STORE_MARK_LEN + 4 && strncmp(e->d_name, base, blen) == 0 &&
            e->d_name[blen] == '.' && strcmp(e->d_name + n - 4, ".tmp") == 0)
            (void)unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

kg_err view_new_saved(struct store *st, const char *path, struct view **out, const char **why)
{
    *why = ""; /* there is none */
    saved_leftovers(path);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        struct view *v = NULL;
        kg_err rc = view_alloc(st, &v);
        if (rc == KG_OK)
            rc = saved_read(v, fd, why);
        else
            *why = "there was not the memory to read it";
        close(fd);
        /* read once, unless the store could not say whether it may be (it still may) */
        if ((rc == KG_OK || *why != why_store) && unlink(path) != 0)
            KG_LOG(LOG_WARNING, "cannot remove the saved view %s", path);
        if (rc == KG_OK) {
            *why = NULL;
            *out = v;
            return KG_OK;
        }
        view_free(v);
    }
    return view_new(st, out);
}

/* ---- tokens -------------------------------------------------------------------------- */

static struct meter *meter_of(struct view *v, struct vtok *x);
static void count(struct view *v, struct vtok *x, struct meter *m, enum kg_use k);

kg_err view_token_get(struct view *v, const char *client_id, struct view_token *out)
{
    kg_err rc = KG_NOTFOUND;
    pthread_rwlock_rdlock(&v->lock);
    struct vtok *x = tok_get(v, client_id);
    if (x) {
        uint32_t f = atomic_load_explicit(&x->flags, memory_order_relaxed);
        memcpy(out->role_id, v->rids[x->role], sizeof out->role_id);
        out->status = f & VT_REVOKED ? KG_TOKEN_REVOKED : KG_TOKEN_ACTIVE;
        out->expires_on = x->expires_on;
        out->nsecrets = tok_nsec(x);
        for (size_t i = 0; i < out->nsecrets; i++) {
            const struct vsec *sc = vsec_at(v, x, i);
            struct view_secret *d = &out->secrets[i];
            d->seq = sc->seq;
            memcpy(d->hash, sc->hash, sizeof d->hash);
            d->status = f & VT_SEC_REVOKED(i) ? KG_SECRET_REVOKED : KG_SECRET_ACTIVE;
            d->expires_on = sc->expires_on;
        }
        rc = KG_OK;
    }
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

int view_secret_live(const struct view_token *t, int64_t seq, int64_t now)
{
    for (size_t i = 0; i < t->nsecrets; i++)
        if (t->secrets[i].seq == seq)
            return t->secrets[i].status == KG_SECRET_ACTIVE &&
                   (!t->secrets[i].expires_on || t->secrets[i].expires_on > now);
    return 0;
}

int view_token_touch(struct view *v, const char *client_id, int64_t secret, enum kg_use k,
                     int64_t now)
{
    int first = 0;
    pthread_rwlock_rdlock(&v->lock);
    struct vtok *x = tok_get(v, client_id);
    size_t at = x ? (size_t)(x - v->toks) : 0;
    if (x && k != VIEW_NO_COUNT) count(v, x, meter_of(v, x), k);
    if (x && now - atomic_load_explicit(&x->last_access, memory_order_relaxed) >= 1000) {
        atomic_store_explicit(&x->last_access, now, memory_order_relaxed);
        mark_unflushed(v, at, VT_TOUCHED);
    }
    int i = x && secret ? vsec_find(v, x, secret) : -1;
    struct vsec *sc = i >= 0 ? vsec_at(v, x, (size_t)i) : NULL;
    int64_t never = 0;
    if (sc && atomic_compare_exchange_strong(&sc->last_used, &never, now)) {
        first = 1; /* one caller wins the first use */
        mark_unflushed(v, at, VT_SEC_USED(i));
    } else if (sc && now - atomic_load_explicit(&sc->last_used, memory_order_relaxed) >= 1000) {
        atomic_store_explicit(&sc->last_used, now, memory_order_relaxed);
        mark_unflushed(v, at, VT_SEC_USED(i));
    }
    pthread_rwlock_unlock(&v->lock);
    return first;
}

void view_token_counts(struct view *v, size_t *active, size_t *revoked)
{
    pthread_rwlock_rdlock(&v->lock);
    *revoked = v->nrevoked;
    *active = v->ntoks - v->nrevoked;
    pthread_rwlock_unlock(&v->lock);
}

int64_t view_data_version(struct view *v)
{
    return atomic_load(&v->data_ver);
}

int64_t view_token_last_access(struct view *v, const char *client_id)
{
    int64_t at = 0;
    view_token_last_accesses(v, &client_id, NULL, 1, &at);
    return at;
}

void view_token_last_accesses(struct view *v, const char *const *ids, const uint32_t *places,
                              size_t n, int64_t *at)
{
    pthread_rwlock_rdlock(&v->lock);
    for (size_t i = 0; i < n; i++) {
        uint32_t p = places ? places[i] : 0;
        struct vtok *x = p && p <= v->ntoks ? &v->toks[p - 1] : tok_get(v, ids[i]);
        at[i] = x ? atomic_load(&x->last_access) : 0;
    }
    pthread_rwlock_unlock(&v->lock);
}

void view_token_places(struct view *v, const char *const *ids, size_t n, uint32_t *places)
{
    pthread_rwlock_rdlock(&v->lock);
    for (size_t i = 0; i < n; i++) {
        struct vtok *x = tok_get(v, ids[i]);
        places[i] = x ? (uint32_t)(x - v->toks) + 1 : 0;
    }
    pthread_rwlock_unlock(&v->lock);
}

/* Appends {client_id, secret, at} to *batch (grown as needed). */
static kg_err touch_add(struct kg_touch **batch, size_t *n, size_t *cap, const char *client_id,
                        int64_t secret, int64_t at)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        struct kg_touch *b = realloc(*batch, c * sizeof *b);
        if (!b) return KG_ENOMEM;
        *batch = b;
        *cap = c;
    }
    struct kg_touch *e = &(*batch)[(*n)++];
    memcpy(e->client_id, client_id, sizeof e->client_id);
    e->secret = secret;
    e->at = at;
    return KG_OK;
}

int64_t view_secret_last_used(struct view *v, const char *client_id, int64_t seq)
{
    int64_t at = 0;
    pthread_rwlock_rdlock(&v->lock);
    struct vtok *x = tok_get(v, client_id);
    int i = x ? vsec_find(v, x, seq) : -1;
    if (i >= 0) at = atomic_load(&vsec_at(v, x, (size_t)i)->last_used);
    pthread_rwlock_unlock(&v->lock);
    return at;
}

/* Adds token i's unflushed times to the batch, clearing their bits (a use after this sets them
 * again).  Caller holds the read lock. */
static kg_err touches_of(struct view *v, size_t i, struct kg_touch **batch, size_t *n, size_t *cap)
{
    struct vtok *x = &v->toks[i];
    uint32_t f = atomic_fetch_and(&x->flags, ~VT_UNFLUSHED);
    char client_id[KG_CLIENT_ID_LEN + 1];
    kg_err rc = KG_OK;
    id_unpack(x->id, client_id);
    if (f & VT_TOUCHED) rc = touch_add(batch, n, cap, client_id, 0, atomic_load(&x->last_access));
    /* a secret's use may be newer than what was flushed even when the token's last access
     * is not (within the same second): each has its bit */
    size_t nsec = tok_nsec(x);
    for (size_t k = 0; k < nsec && rc == KG_OK; k++) {
        struct vsec *sc = vsec_at(v, x, k);
        if (f & VT_SEC_USED(k))
            rc = touch_add(batch, n, cap, client_id, sc->seq, atomic_load(&sc->last_used));
    }
    if (rc != KG_OK) mark_unflushed(v, i, f & VT_UNFLUSHED); /* for the next flush */
    return rc;
}

kg_err view_flush_touches(struct view *v)
{
    kg_err rc = KG_OK;
    struct kg_touch *batch = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&v->sync_lock);
    pthread_rwlock_rdlock(&v->lock);
    for (size_t w = 0; w < (v->ntoks + 63) / 64; w++) {
        uint64_t bits = atomic_load_explicit(&v->unflushed[w], memory_order_relaxed);
        if (bits) bits = atomic_exchange(&v->unflushed[w], 0);
        for (; bits; bits &= bits - 1) {
            size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
            if (rc == KG_OK)
                rc = touches_of(v, i, &batch, &n, &cap);
            else
                atomic_fetch_or(&v->unflushed[w], bits & -bits); /* for the next flush */
        }
    }
    pthread_rwlock_unlock(&v->lock);
    if (rc == KG_OK && n) rc = store_token_touch(v->st, batch, n);
    if (rc != KG_OK && n) { /* written by the next flush */
        pthread_rwlock_rdlock(&v->lock);
        for (size_t i = 0; i < n; i++) {
            struct vtok *x = tok_get(v, batch[i].client_id);
            int k = x && batch[i].secret ? vsec_find(v, x, batch[i].secret) : -1;
            if (x && (k >= 0 || !batch[i].secret))
                mark_unflushed(v, (size_t)(x - v->toks), k >= 0 ? VT_SEC_USED(k) : VT_TOUCHED);
        }
        pthread_rwlock_unlock(&v->lock);
    }
    pthread_mutex_unlock(&v->sync_lock);
    free(batch);
    if (rc != KG_OK) KG_LOG(LOG_WARNING, "last-access flush failed: %s", kg_err_name(rc));
    return rc;
}

/* ---- usage controls ------------------------------------------------------------------ */

#define UNSENT_MAX 100000 /* counts kept while the store refuses them; beyond, dropped */

void view_set_default_rate(struct view *v, int64_t requests, int64_t period_s)
{
    pthread_rwlock_wrlock(&v->lock);
    v->default_requests = requests > 0 && period_s > 0 ? requests : 0;
    v->default_period_s = requests > 0 && period_s > 0 ? period_s : 0;
    pthread_rwlock_unlock(&v->lock);
}

void view_set_counting(struct view *v, int on)
{
    pthread_rwlock_wrlock(&v->lock);
    v->quiet = !on;
    pthread_rwlock_unlock(&v->lock);
}

/* x's rate limit: its own, else the default (requests 0: none).  Caller holds the lock. */
static void rate_of(const struct view *v, const struct vtok *x, int64_t *requests,
                    int64_t *period_s)
{
    const struct vext *e = ext_of(v, x);
    int own = e && e->rate_requests;
    *requests = own ? e->rate_requests : v->default_requests;
    *period_s = own ? e->rate_period_s : v->default_period_s;
}

/* Token i's meter, or NULL when it has none yet.  Caller holds the lock. */
static struct meter *meter_peek(const struct view *v, size_t i)
{
    vmeter *chunk = atomic_load_explicit(&v->meters[i / MCHUNK], memory_order_acquire);
    return chunk ? atomic_load_explicit(&chunk[i % MCHUNK], memory_order_acquire) : NULL;
}

/* x's meter, made on first use (and its chunk of slots with the chunk's first; racing makers:
 * one wins, the others free theirs).  NULL when out of memory: the request is then neither
 * limited nor counted.  Caller holds the lock. */
static struct meter *meter_of(struct view *v, struct vtok *x)
{
    size_t i = (size_t)(x - v->toks);
    vmeter *chunk = atomic_load_explicit(&v->meters[i / MCHUNK], memory_order_acquire);
    vmeter *no_chunk = NULL;
    if (!chunk) {
        if (!(chunk = calloc(MCHUNK, sizeof *chunk))) return NULL;
        if (!atomic_compare_exchange_strong(&v->meters[i / MCHUNK], &no_chunk, chunk)) {
            free(chunk);
            chunk = no_chunk;
        }
    }
    struct meter *m = atomic_load_explicit(&chunk[i % MCHUNK], memory_order_acquire), *none = NULL;
    if (m) return m;
    if (!(m = calloc(1, sizeof *m))) return NULL;
    if (atomic_compare_exchange_strong(&chunk[i % MCHUNK], &none, m)) return m;
    free(m);
    return none;
}

/* Queues x for the flusher (its meter m was just made dirty).  Caller holds the read lock. */
static void queue(struct view *v, struct vtok *x, struct meter *m)
{
    pthread_mutex_lock(&v->dirty_lock);
    if (v->ndirty == v->capdirty) {
        size_t cap = v->capdirty ? v->capdirty * 2 : 256;
        uint32_t *d = realloc(v->dirty, cap * sizeof *d);
        if (!d) { /* counted, unqueued: flushed with the token's next use */
            atomic_store(&m->dirty, 0);
            pthread_mutex_unlock(&v->dirty_lock);
            return;
        }
        v->dirty = d;
        v->capdirty = cap;
    }
    v->dirty[v->ndirty++] = (uint32_t)(x - v->toks);
    pthread_mutex_unlock(&v->dirty_lock);
}

/* Counts a use of kind k on x; queues x for the flusher when its meter was clean.  Caller
 * holds the read lock. */
static void count(struct view *v, struct vtok *x, struct meter *m, enum kg_use k)
{
    if (!v->quiet && m && meter_count(m, k)) queue(v, x, m);
}

enum view_admit view_token_admit(struct view *v, const char *client_id, const char *addr,
                                 enum view_surface s, int64_t now, struct view_rate *out)
{
    enum view_admit r = VIEW_ADMITTED;
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&v->lock);
    struct vtok *x = tok_get(v, client_id);
    if (!x) goto out;
    const struct vext *e = ext_of(v, x);
    if (e && e->cidrs) {
        struct cidr_addr a;
        int in = 0;
        if (addr && cidr_addr_parse(addr, strlen(addr), &a))
            for (size_t i = 0; i < e->cidrs->n && !in; i++)
                in = cidr_contains(&e->cidrs->r[i], &a);
        if (!in) {
            struct meter *m = meter_of(v, x);
            count(v, x, m, KG_USE_REFUSED_ADDRESS);
            out->note = m && meter_once(m, (unsigned)s, now, VIEW_NOTE_EVERY_MS);
            r = VIEW_REFUSED_ADDRESS;
            goto out;
        }
    }
    if (s == VIEW_EXCHANGE) goto out;
    rate_of(v, x, &out->requests, &out->period_s);
    struct meter *m = out->requests ? meter_of(v, x) : NULL;
    if (!m) {
        out->requests = 0;
        goto out;
    }
    if (!meter_take(m, out->requests, out->period_s, now, &out->verdict)) {
        count(v, x, m, KG_USE_REFUSED_RATE);
        r = VIEW_REFUSED_RATE;
    } else if (v->quiet && meter_mark(m)) { /* uncounted, the admission is still shared */
        queue(v, x, m);
    }
out:
    pthread_rwlock_unlock(&v->lock);
    return r;
}

void view_token_count(struct view *v, const char *client_id, enum kg_use k)
{
    pthread_rwlock_rdlock(&v->lock);
    struct vtok *x = v->quiet ? NULL : tok_get(v, client_id);
    if (x) count(v, x, meter_of(v, x), k);
    pthread_rwlock_unlock(&v->lock);
}

static int usage_order(const void *a, const void *b)
{
    const struct kg_usage *x = a, *y = b;
    int c = strcmp(x->client_id, y->client_id);
    return c ? c : (x->hour > y->hour) - (x->hour < y->hour);
}

/* Sorts rows[n] and adds up those of one token and hour into one; returns how many remain. */
static size_t usage_coalesce(struct kg_usage *rows, size_t n)
{
    size_t out = 0;
    if (n < 2) return n;
    qsort(rows, n, sizeof *rows, usage_order);
    for (size_t i = 1; i < n; i++) {
        if (usage_order(&rows[out], &rows[i]) == 0) {
            for (size_t k = 0; k < KG_USE_KINDS; k++)
                rows[out].n[k] += rows[i].n[k];
        } else {
            rows[++out] = rows[i];
        }
    }
    return out + 1;
}

/* Appends one token's counts in `hour` to *rows (grown as needed). */
static kg_err usage_add_row(struct kg_usage **rows, size_t *n, size_t *cap, const char *client_id,
                            int64_t hour, const int64_t c[KG_USE_KINDS])
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct kg_usage *g = realloc(*rows, nc * sizeof *g);
        if (!g) return KG_ENOMEM;
        *rows = g;
        *cap = nc;
    }
    struct kg_usage *u = &(*rows)[(*n)++];
    memcpy(u->client_id, client_id, sizeof u->client_id);
    u->hour = hour;
    memcpy(u->n, c, sizeof u->n);
    return KG_OK;
}

/* Charges the other processes' admissions (store_rate_sync's windows) to the tokens' buckets.
 * Caller holds the read lock. */
static void charge_others(struct view *v, const struct kg_rate_window *w, size_t n, int64_t now)
{
    for (size_t i = 0; i < n; i++) {
        struct vtok *x = tok_get(v, w[i].client_id);
        int64_t requests, period_s;
        if (!x) continue;
        rate_of(v, x, &requests, &period_s);
        struct meter *m = requests ? meter_of(v, x) : NULL;
        if (!m || w[i].period != period_s * 1000 || w[i].start < m->seen_start) continue;
        int64_t fresh = w[i].start == m->seen_start ? w[i].count - m->seen_count : w[i].count;
        m->seen_start = w[i].start;
        m->seen_count = w[i].count;
        meter_charge(m, fresh, requests, period_s, now);
    }
}

kg_err view_flush_usage(struct view *v, int64_t now)
{
    kg_err rc = KG_OK;
    struct kg_usage *rows = NULL;
    struct kg_rate_window *mine = NULL, *others = NULL;
    size_t n = 0, cap = 0, nmine = 0, nothers = 0;
    uint32_t *idx = NULL;
    size_t nidx = 0;
    int64_t hour = now - now % 3600000;
    int limits;

    pthread_mutex_lock(&v->sync_lock);
    pthread_mutex_lock(&v->dirty_lock);
    idx = v->dirty; /* taken whole: new counts queue afresh */
    nidx = v->ndirty;
    v->dirty = NULL;
    v->ndirty = v->capdirty = 0;
    pthread_mutex_unlock(&v->dirty_lock);

    rows = v->unsent; /* what a failed flush kept comes first */
    n = cap = v->nunsent;
    v->unsent = NULL;
    v->nunsent = 0;
    if (nidx && !(mine = calloc(nidx, sizeof *mine))) rc = KG_ENOMEM;
    pthread_rwlock_rdlock(&v->lock);
    limits = v->default_requests > 0;
    size_t done = 0; /* of idx: the tokens looked at */
    for (; done < nidx && rc == KG_OK; done++) {
        struct vtok *x = &v->toks[idx[done]];
        struct meter *m = meter_peek(v, idx[done]);
        int64_t c[KG_USE_KINDS] = {0}, requests, period_s, start;
        char client_id[KG_CLIENT_ID_LEN + 1];
        if (!m) continue;
        id_unpack(x->id, client_id);
        if (meter_take_counts(m, c)) rc = usage_add_row(&rows, &n, &cap, client_id, hour, c);
        rate_of(v, x, &requests, &period_s);
        limits |= requests > 0;
        int64_t count = requests ? meter_admitted_since(m, period_s * 1000, now, &start) : 0;
        if (count > 0) {
            struct kg_rate_window *w = &mine[nmine++];
            memcpy(w->client_id, client_id, sizeof w->client_id);
            w->start = start;
            w->period = period_s * 1000;
            w->count = count;
        }
    }
    /* Out of memory part way: the tokens not looked at are marked clean, so that their next
     * use queues them again (their counts are running totals: nothing is lost). */
    for (size_t i = done; i < nidx; i++) {
        struct meter *m = meter_peek(v, idx[i]);
        if (m) atomic_store(&m->dirty, 0);
    }
    limits |= v->nlimited > 0;
    pthread_rwlock_unlock(&v->lock);

    if (rc == KG_OK && n) rc = store_usage_add(v->st, rows, n);
    if (rc != KG_OK && n) { /* kept for the next flush, one row a token and hour, within bounds */
        n = usage_coalesce(rows, n);
        if (n > UNSENT_MAX) {
            KG_LOG(LOG_WARNING,
                   "usage counts of %zu tokens and hours dropped: the store refused them",
                   n - UNSENT_MAX);
            n = UNSENT_MAX;
        }
        v->unsent = rows;
        v->nunsent = n;
        rows = NULL;
    }
    /* Limits are shared only where there are any: a deployment without them writes nothing. */
    if (limits) {
        kg_err rrc = store_rate_sync(v->st, v->node, mine, nmine, now, &others, &nothers);
        if (rrc == KG_OK) {
            pthread_rwlock_rdlock(&v->lock);
            charge_others(v, others, nothers, now);
            pthread_rwlock_unlock(&v->lock);
        }
        if (rc == KG_OK) rc = rrc;
    }
    pthread_mutex_unlock(&v->sync_lock);
    free(rows);
    free(mine);
    free(others);
    free(idx);
    if (rc != KG_OK) KG_LOG(LOG_WARNING, "usage flush failed: %s", kg_err_name(rc));
    return rc;
}

/* ---- roles --------------------------------------------------------------------------- */

int view_allows(struct view *v, const kg_role_id *holders, size_t n, const char *privilege)
{
    pthread_rwlock_rdlock(&v->lock);
    int held = rolegraph_allows(v->roles, holders, n, privilege);
    pthread_rwlock_unlock(&v->lock);
    return held;
}

int view_grantable(struct view *v, const kg_role_id *holders, size_t n, const char *privilege)
{
    pthread_rwlock_rdlock(&v->lock);
    int held = rolegraph_grantable(v->roles, holders, n, privilege);
    pthread_rwlock_unlock(&v->lock);
    return held;
}

int view_grants_any(struct view *v, const kg_role_id *holders, size_t n)
{
    pthread_rwlock_rdlock(&v->lock);
    int any = rolegraph_grants_any(v->roles, holders, n);
    pthread_rwlock_unlock(&v->lock);
    return any;
}

int view_holds(struct view *v, const kg_role_id *holders, size_t n, const char *role_id)
{
    pthread_rwlock_rdlock(&v->lock);
    int held = rolegraph_holds(v->roles, holders, n, role_id);
    pthread_rwlock_unlock(&v->lock);
    return held;
}

kg_err view_role_name(struct view *v, const char *role_id, char out[KG_ROLE_NAME_MAX + 1])
{
    kg_err rc = KG_NOTFOUND;
    pthread_rwlock_rdlock(&v->lock);
    const char *name = rolegraph_role_name(v->roles, role_id);
    if (name) {
        memcpy(out, name, KG_ROLE_NAME_MAX + 1);
        rc = KG_OK;
    }
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

static int ref_cmp(const void *a, const void *b)
{
    return strcmp(((const struct view_role_ref *)a)->role_name,
                  ((const struct view_role_ref *)b)->role_name);
}

struct collect {
    struct view_role_ref *refs;
    size_t n;
};

/* rolegraph_role_fn: appends one role of the set (refs has room for every role). */
static void collect_role(void *arg, const char *role_id, const char *role_name)
{
    struct collect *c = arg;
    struct view_role_ref *r = &c->refs[c->n++];
    memcpy(r->role_id, role_id, sizeof r->role_id);
    memcpy(r->role_name, role_name, sizeof r->role_name);
}

kg_err view_active_roles(struct view *v, const kg_role_id *holders, size_t n,
                         struct view_role_ref **out, size_t *nout)
{
    kg_err rc = KG_ENOMEM;
    struct collect c = {NULL, 0};
    pthread_rwlock_rdlock(&v->lock);
    if ((c.refs = calloc(rolegraph_count(v->roles) + 1, sizeof *c.refs)))
        rc = rolegraph_active(v->roles, holders, n, collect_role, &c);
    pthread_rwlock_unlock(&v->lock);
    if (rc != KG_OK) {
        free(c.refs);
        return rc;
    }
    if (c.n) qsort(c.refs, c.n, sizeof *c.refs, ref_cmp);
    *out = c.refs;
    *nout = c.n;
    return KG_OK;
}
