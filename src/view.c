/*
 * view.c — in-memory tokens (open-addressing hash table over a record array) and roles
 * (a table rebuilt whole whenever roles change, with each role's closure and effective
 * privileges precomputed, so that a check is two binary searches).
 *
 * Layout: role table (build, queries), token table (insert, lookup), sync, public calls.
 * Locking: `lock` (rwlock) guards both tables; readers copy out and never do I/O under it.
 * `sync_lock` serialises view_sync() and view_flush_touches() against themselves.
 */
#include "view.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"
#include "util.h"

/* ---- role table ---------------------------------------------------------------------- */

struct eff_priv {
    const char *name; /* borrowed from the table's privilege rows */
    int deny;
};

struct vrole {
    kg_role_id id;
    char name[KG_ROLE_NAME_MAX + 1];
    size_t *closure; /* indices of the role and all roles granted to it, plus public, sorted */
    size_t nclosure;
    struct eff_priv *eff; /* privileges of the closure, by name; deny wins */
    size_t neff;
    int admin; /* accountadmin is in the closure */
};

struct roletab {
    struct vrole *roles; /* sorted by id */
    size_t n;
    struct kg_privilege *privs; /* owns the privilege names */
    size_t nprivs;
    long pub; /* index of `public`, -1 if absent */
};

static void roletab_free(struct roletab *t)
{
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->roles[i].closure);
        free(t->roles[i].eff);
    }
    free(t->roles);
    free(t->privs);
    free(t);
}

static int role_cmp(const void *a, const void *b)
{
    return strcmp(((const struct vrole *)a)->id, ((const struct vrole *)b)->id);
}

static long role_index(const struct roletab *t, const char *id)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(id, t->roles[mid].id);
        if (c == 0) return (long)mid;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return -1;
}

static int size_cmp(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

static int eff_cmp(const void *a, const void *b)
{
    return strcmp(((const struct eff_priv *)a)->name, ((const struct eff_priv *)b)->name);
}

/* Builds the closure and effective privileges of role i (graph in `adj`). */
static kg_err role_derive(struct roletab *t, size_t i, size_t **adj, size_t *nadj, long pub,
                          unsigned char *seen, size_t *stack)
{
    struct vrole *r = &t->roles[i];
    size_t top = 0, n = 0;
    memset(seen, 0, t->n);
    stack[top++] = i;
    if (pub >= 0) stack[top++] = (size_t)pub;
    if (!(r->closure = malloc(t->n * sizeof *r->closure))) return KG_ENOMEM;
    while (top) {
        size_t x = stack[--top];
        if (seen[x]) continue;
        seen[x] = 1;
        r->closure[n++] = x;
        for (size_t k = 0; k < nadj[x]; k++)
            if (!seen[adj[x][k]]) stack[top++] = adj[x][k];
    }
    qsort(r->closure, n, sizeof *r->closure, size_cmp);
    r->nclosure = n;

    size_t ne = 0;
    for (size_t p = 0; p < t->nprivs; p++) {
        long owner = role_index(t, t->privs[p].role_id);
        if (owner >= 0 && seen[owner]) ne++;
    }
    if (ne && !(r->eff = malloc(ne * sizeof *r->eff))) return KG_ENOMEM;
    ne = 0;
    for (size_t p = 0; p < t->nprivs; p++) {
        long owner = role_index(t, t->privs[p].role_id);
        if (owner >= 0 && seen[owner])
            r->eff[ne++] = (struct eff_priv){t->privs[p].name, t->privs[p].kind == KG_DENY};
    }
    if (ne) qsort(r->eff, ne, sizeof *r->eff, eff_cmp);
    size_t w = 0; /* merge duplicates: deny wins */
    for (size_t k = 0; k < ne; k++) {
        if (w && strcmp(r->eff[w - 1].name, r->eff[k].name) == 0) r->eff[w - 1].deny |= r->eff[k].deny;
        else r->eff[w++] = r->eff[k];
    }
    r->neff = w;
    for (size_t k = 0; k < n; k++)
        if (strcmp(t->roles[r->closure[k]].name, KG_ROLE_ACCOUNTADMIN) == 0) r->admin = 1;
    return KG_OK;
}

/* Reads every role and privilege from the store into a new table.  Caller owns *out. */
static kg_err roletab_load(struct store *st, struct roletab **out)
{
    kg_err rc = KG_ENOMEM;
    struct kg_role *all = NULL, *page = NULL;
    size_t nall = 0, n = 0;
    size_t **adj = NULL, *nadj = NULL, *stack = NULL;
    unsigned char *seen = NULL;
    struct roletab *t = calloc(1, sizeof *t);
    if (!t) return KG_ENOMEM;

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
    if ((rc = store_privilege_list(st, NULL, &t->privs, &t->nprivs)) != KG_OK) goto out;

    rc = KG_ENOMEM;
    if (nall && !(t->roles = calloc(nall, sizeof *t->roles))) goto out;
    t->n = nall;
    for (size_t i = 0; i < nall; i++) {
        memcpy(t->roles[i].id, all[i].role_id, sizeof t->roles[i].id);
        memcpy(t->roles[i].name, all[i].role_name, sizeof t->roles[i].name);
    }
    if (t->n) qsort(t->roles, t->n, sizeof *t->roles, role_cmp);

    if (!(adj = calloc(nall + 1, sizeof *adj)) || !(nadj = calloc(nall + 1, sizeof *nadj)) ||
        !(seen = calloc(nall + 1, 1)) ||
        !(stack = malloc((nall * (KG_GRANTS_MAX + 1) + 2) * sizeof *stack)))
        goto out;
    for (size_t i = 0; i < nall; i++) {
        long x = role_index(t, all[i].role_id);
        if (!(adj[x] = malloc((all[i].ngranted + 1) * sizeof **adj))) goto out;
        for (size_t k = 0; k < all[i].ngranted; k++) {
            long g = role_index(t, all[i].granted[k]);
            if (g >= 0) adj[x][nadj[x]++] = (size_t)g;
        }
    }
    long pub = -1;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->roles[i].name, KG_ROLE_PUBLIC) == 0) pub = (long)i;
    t->pub = pub;
    for (size_t i = 0; i < t->n; i++)
        if ((rc = role_derive(t, i, adj, nadj, pub, seen, stack)) != KG_OK) goto out;
    *out = t;
    t = NULL;
    rc = KG_OK;
out:
    if (adj)
        for (size_t i = 0; i < nall; i++) free(adj[i]);
    free(adj);
    free(nadj);
    free(seen);
    free(stack);
    free(all);
    free(page);
    roletab_free(t);
    return rc;
}

/* Effective verdict of one role for a privilege: 1 allow, -1 deny, 0 silent.  A closure
 * holding accountadmin allows everything: no Deny (on public, say) can lock admins out. */
static int role_verdict(const struct vrole *r, const char *priv)
{
    if (r->admin) return 1;
    struct eff_priv key = {priv, 0};
    const struct eff_priv *e = r->eff ? bsearch(&key, r->eff, r->neff, sizeof *r->eff, eff_cmp) : NULL;
    return e ? (e->deny ? -1 : 1) : 0;
}

/* ---- token table --------------------------------------------------------------------- */

struct vtok {
    char client_id[KG_CLIENT_ID_LEN + 1];
    kg_role_id role_id;
    unsigned char secret_hash[KG_HASH_LEN];
    int status;
    int64_t expires_on;
    _Atomic int64_t last_access;
    _Atomic int64_t flushed;
};

struct vjti {
    char jti[KG_JTI_LEN + 1]; /* "" = empty slot */
    int64_t exp;              /* seconds */
};

/* A hash slot: the token's index + 1 (0 = empty) and the high half of its id's hash, so that a
 * probe only reads the token record (a cache miss in a large table) when the hashes agree. */
struct vslot {
    uint32_t tag;
    uint32_t idx;
};

struct view {
    struct store *st;
    struct vjti *jtis; /* open addressing; power-of-two size, at most half full */
    size_t njtis, jti_slots;
    pthread_rwlock_t lock;
    pthread_mutex_t sync_lock;
    struct roletab *roles;
    struct vtok *toks;
    size_t ntoks, captoks;
    struct vslot *slots;
    size_t nslots;   /* power of two, at least twice ntoks */
    int64_t data_ver, roles_ver;
};

/* FNV-1a, then a final avalanche (MurmurHash3's fmix64): FNV's low bits, the ones a slot
 * index uses, barely depend on the last characters, and ids that differ only there (as the
 * bench's bulk-loaded ones do) clustered into long probe runs. */
static uint64_t id_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

/* Slot holding client_id, or the empty slot where it would go. */
static size_t slot_find(const struct view *v, const char *client_id)
{
    uint64_t h = id_hash(client_id);
    uint32_t tag = (uint32_t)(h >> 32);
    size_t mask = v->nslots - 1, i = (size_t)h & mask;
    while (v->slots[i].idx && (v->slots[i].tag != tag ||
                               strcmp(v->toks[v->slots[i].idx - 1].client_id, client_id) != 0))
        i = (i + 1) & mask;
    return i;
}

static void slot_set(struct view *v, size_t s, const char *client_id, size_t index)
{
    v->slots[s] = (struct vslot){(uint32_t)(id_hash(client_id) >> 32), (uint32_t)(index + 1)};
}

static kg_err grow_toks(struct view *v)
{
    if (v->ntoks >= UINT32_MAX - 1) return KG_ENOMEM;
    if (v->ntoks == v->captoks) {
        size_t cap = v->captoks ? v->captoks * 2 : 1024;
        struct vtok *t = realloc(v->toks, cap * sizeof *t);
        if (!t) return KG_ENOMEM;
        v->toks = t;
        v->captoks = cap;
    }
    return KG_OK;
}

/* Rebuilds the slot table with room for `want` tokens at most half full. */
static kg_err index_toks(struct view *v, size_t want)
{
    size_t n = v->nslots ? v->nslots : 2048;
    while (want * 2 > n) n *= 2;
    if (n == v->nslots) return KG_OK;
    struct vslot *s = calloc(n, sizeof *s);
    if (!s) return KG_ENOMEM;
    free(v->slots);
    v->slots = s;
    v->nslots = n;
    for (size_t i = 0; i < v->ntoks; i++)
        slot_set(v, slot_find(v, v->toks[i].client_id), v->toks[i].client_id, i);
    return KG_OK;
}

static void tok_init(struct vtok *x, const struct kg_token *t)
{
    memset(x, 0, sizeof *x);
    memcpy(x->client_id, t->client_id, sizeof x->client_id);
    atomic_store(&x->last_access, t->last_access_on);
    atomic_store(&x->flushed, t->last_access_on);
}

static void tok_update(struct vtok *x, const struct kg_token *t)
{
    memcpy(x->role_id, t->role_id, sizeof x->role_id);
    memcpy(x->secret_hash, t->secret_hash, sizeof x->secret_hash);
    x->status = t->status;
    x->expires_on = t->expires_on;
    if (t->last_access_on > atomic_load(&x->last_access)) atomic_store(&x->last_access, t->last_access_on);
}

/* Inserts or refreshes one token; caller holds the write lock. */
static kg_err tok_apply(struct view *v, const struct kg_token *t)
{
    kg_err rc;
    if ((rc = index_toks(v, v->ntoks + 1)) != KG_OK) return rc;
    size_t s = slot_find(v, t->client_id);
    struct vtok *x;
    if (v->slots[s].idx) {
        x = &v->toks[v->slots[s].idx - 1];
    } else {
        if ((rc = grow_toks(v)) != KG_OK) return rc;
        x = &v->toks[v->ntoks];
        tok_init(x, t);
        slot_set(v, s, t->client_id, v->ntoks++);
    }
    tok_update(x, t);
    return KG_OK;
}

static struct vtok *tok_get(struct view *v, const char *client_id)
{
    if (!v->nslots) return NULL;
    size_t s = slot_find(v, client_id);
    return v->slots[s].idx ? &v->toks[v->slots[s].idx - 1] : NULL;
}

/* ---- sync ---------------------------------------------------------------------------- */

static size_t jti_slot(const struct vjti *t, size_t nslots, const char *jti)
{
    size_t mask = nslots - 1, i = (size_t)id_hash(jti) & mask;
    while (t[i].jti[0] && strcmp(t[i].jti, jti) != 0) i = (i + 1) & mask;
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
        for (size_t i = 0; i < v->jti_slots; i++) live += v->jtis[i].jti[0] && v->jtis[i].exp > now;
        while ((live + 1) * 2 > n) n *= 2;
        struct vjti *t = calloc(n, sizeof *t);
        if (!t) {
            rc = KG_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < v->jti_slots; i++)
            if (v->jtis[i].jti[0] && v->jtis[i].exp > now) t[jti_slot(t, n, v->jtis[i].jti)] = v->jtis[i];
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

/* store_token_fn for the first load, with the write lock held throughout: appends without
 * hashing (a full feed names each token once); the slots are built once at the end, sized for
 * all of them, rather than rebuilt at every doubling (that rehashing was half of the start-up
 * time at a million tokens). */
static kg_err append_token(void *arg, const struct kg_token *t)
{
    struct view *v = arg;
    kg_err rc = grow_toks(v);
    if (rc != KG_OK) return rc;
    tok_init(&v->toks[v->ntoks], t);
    tok_update(&v->toks[v->ntoks++], t);
    return KG_OK;
}

/* The whole token table, into an empty view. */
static kg_err load_all(struct view *v)
{
    pthread_rwlock_wrlock(&v->lock);
    kg_err rc = store_token_changes(v->st, 0, append_token, v);
    if (rc == KG_OK) rc = index_toks(v, v->ntoks);
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
    struct roletab *fresh = NULL;
    pthread_mutex_lock(&v->sync_lock);
    if ((rc = store_version(v->st, &dv, &rv)) != KG_OK || dv == v->data_ver) goto out;
    if (rv != v->roles_ver && (rc = roletab_load(v->st, &fresh)) != KG_OK) goto out;
    rc = v->data_ver == 0 && v->ntoks == 0 ? load_all(v)
                                            : store_token_changes(v->st, v->data_ver, apply_change, v);
    if (rc != KG_OK) goto out;
    if ((rc = store_jti_changes(v->st, v->data_ver, kg_now_ms() / 1000, apply_jti, v)) != KG_OK)
        goto out;

    pthread_rwlock_wrlock(&v->lock);
    if (fresh) {
        struct roletab *old = v->roles;
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
    roletab_free(fresh);
    if (rc != KG_OK) KG_LOG(LOG_WARNING, "view sync failed: %s", kg_err_name(rc));
    return rc;
}

kg_err view_new(struct store *st, struct view **out)
{
    struct view *v = calloc(1, sizeof *v);
    if (!v) return KG_ENOMEM;
    v->st = st;
    v->data_ver = v->roles_ver = -1;
    pthread_rwlock_init(&v->lock, NULL);
    pthread_mutex_init(&v->sync_lock, NULL);
    kg_err rc = KG_ENOMEM;
    if (!(v->roles = calloc(1, sizeof *v->roles))) goto fail;
    v->roles->pub = -1;
    /* first sync: since -1 would miss nothing, but ask for everything explicitly */
    v->data_ver = 0;
    v->roles_ver = -1;
    if ((rc = view_sync(v)) != KG_OK) goto fail;
    *out = v;
    return KG_OK;
fail:
    view_free(v);
    return rc;
}

void view_free(struct view *v)
{
    if (!v) return;
    roletab_free(v->roles);
    free(v->toks);
    free(v->slots);
    free(v->jtis);
    pthread_rwlock_destroy(&v->lock);
    pthread_mutex_destroy(&v->sync_lock);
    free(v);
}

/* ---- tokens -------------------------------------------------------------------------- */

kg_err view_token_get(struct view *v, const char *client_id, struct view_token *out)
{
    kg_err rc = KG_NOTFOUND;
    pthread_rwlock_rdlock(&v->lock);
    struct vtok *x = tok_get(v, client_id);
    if (x) {
        memcpy(out->role_id, x->role_id, sizeof out->role_id);
        memcpy(out->secret_hash, x->secret_hash, sizeof out->secret_hash);
        out->status = x->status;
        out->expires_on = x->expires_on;
        rc = KG_OK;
    }
    pthread_rwlock_unlock(&v->lock);
    return rc;
}

void view_token_touch(struct view *v, const char *client_id, int64_t now)
{
    pthread_rwlock_rdlock(&v->lock);
    struct vtok *x = tok_get(v, client_id);
    if (x && now - atomic_load_explicit(&x->last_access, memory_order_relaxed) >= 1000)
        atomic_store_explicit(&x->last_access, now, memory_order_relaxed);
    pthread_rwlock_unlock(&v->lock);
}

int64_t view_token_last_access(struct view *v, const char *client_id)
{
    int64_t at = 0;
    pthread_rwlock_rdlock(&v->lock);
    struct vtok *x = tok_get(v, client_id);
    if (x) at = atomic_load(&x->last_access);
    pthread_rwlock_unlock(&v->lock);
    return at;
}

kg_err view_flush_touches(struct view *v)
{
    kg_err rc = KG_OK;
    struct kg_touch *batch = NULL;
    size_t n = 0, cap = 0;
    pthread_mutex_lock(&v->sync_lock);
    pthread_rwlock_rdlock(&v->lock);
    for (size_t i = 0; i < v->ntoks; i++) {
        struct vtok *x = &v->toks[i];
        int64_t at = atomic_load(&x->last_access);
        if (at <= atomic_load(&x->flushed)) continue;
        if (n == cap) {
            size_t c = cap ? cap * 2 : 64;
            struct kg_touch *b = realloc(batch, c * sizeof *b);
            if (!b) {
                rc = KG_ENOMEM;
                break;
            }
            batch = b;
            cap = c;
        }
        memcpy(batch[n].client_id, x->client_id, sizeof batch[n].client_id);
        batch[n++].at = at;
    }
    pthread_rwlock_unlock(&v->lock);
    if (rc == KG_OK && n) rc = store_token_touch(v->st, batch, n);
    if (rc == KG_OK && n) {
        pthread_rwlock_rdlock(&v->lock);
        for (size_t i = 0; i < n; i++) {
            struct vtok *x = tok_get(v, batch[i].client_id);
            if (x) atomic_store(&x->flushed, batch[i].at);
        }
        pthread_rwlock_unlock(&v->lock);
    }
    pthread_mutex_unlock(&v->sync_lock);
    free(batch);
    if (rc != KG_OK) KG_LOG(LOG_WARNING, "last-access flush failed: %s", kg_err_name(rc));
    return rc;
}

/* ---- roles --------------------------------------------------------------------------- */

/* Verdict of the active role set of `holders` (then public) for one privilege: sets
 * *allow / *deny when some role in the set allows / denies it.  Returns 1 when the set holds
 * accountadmin (which allows everything).  Caller holds v->lock. */
static int set_verdict(const struct roletab *t, const kg_role_id *holders, size_t n,
                       const char *privilege, int *allow, int *deny)
{
    *allow = *deny = 0;
    for (size_t i = 0; i <= n; i++) { /* the holders, then public */
        long x = i < n ? role_index(t, holders[i]) : t->pub;
        if (x < 0) continue;
        const struct vrole *r = &t->roles[x];
        if (r->admin) return 1;
        int verdict = role_verdict(r, privilege);
        if (verdict < 0) *deny = 1;
        if (verdict > 0) *allow = 1;
    }
    return 0;
}

/* The privilege rule, written once: a privilege is held when some role in the set allows
 * it and none denies it.  ManageSecurity implies CreateRole and CreateUser, but only when
 * ManageSecurity itself is held, judged over the whole set: a Deny of ManageSecurity anywhere
 * takes away what it implies too (an Allow of CreateRole itself, not denied, still counts). */
int view_allows(struct view *v, const kg_role_id *holders, size_t n, const char *privilege)
{
    int allow, deny, held;
    int implied = strcmp(privilege, "CreateRole") == 0 || strcmp(privilege, "CreateUser") == 0;
    pthread_rwlock_rdlock(&v->lock);
    if (set_verdict(v->roles, holders, n, privilege, &allow, &deny)) {
        held = 1;
    } else {
        held = allow && !deny;
        if (implied && !deny && !held) {
            int ms_allow, ms_deny;
            set_verdict(v->roles, holders, n, "ManageSecurity", &ms_allow, &ms_deny);
            held = ms_allow && !ms_deny;
        }
    }
    pthread_rwlock_unlock(&v->lock);
    return held;
}

int view_holds(struct view *v, const kg_role_id *holders, size_t n, const char *role_id)
{
    int held = 0;
    pthread_rwlock_rdlock(&v->lock);
    long target = role_index(v->roles, role_id);
    for (size_t i = 0; i <= n && target >= 0 && !held; i++) { /* the holders, then public */
        long x = i < n ? role_index(v->roles, holders[i]) : v->roles->pub;
        if (x < 0) continue;
        const struct vrole *r = &v->roles->roles[x];
        size_t t = (size_t)target;
        /* accountadmin holds every role as it holds every privilege */
        held = r->admin || bsearch(&t, r->closure, r->nclosure, sizeof t, size_cmp) != NULL;
    }
    pthread_rwlock_unlock(&v->lock);
    return held;
}

kg_err view_role_name(struct view *v, const char *role_id, char out[KG_ROLE_NAME_MAX + 1])
{
    kg_err rc = KG_NOTFOUND;
    pthread_rwlock_rdlock(&v->lock);
    long x = role_index(v->roles, role_id);
    if (x >= 0) {
        memcpy(out, v->roles->roles[x].name, KG_ROLE_NAME_MAX + 1);
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

kg_err view_active_roles(struct view *v, const kg_role_id *holders, size_t n,
                         struct view_role_ref **out, size_t *nout)
{
    kg_err rc = KG_OK;
    pthread_rwlock_rdlock(&v->lock);
    const struct roletab *t = v->roles;
    unsigned char *in = calloc(t->n + 1, 1);
    struct view_role_ref *refs = calloc(t->n + 1, sizeof *refs);
    size_t k = 0;
    if (!in || !refs) {
        rc = KG_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i <= n; i++) { /* the holders, then public */
        long x = i < n ? role_index(t, holders[i]) : t->pub;
        if (x < 0) continue;
        const struct vrole *r = &t->roles[x];
        if (r->admin) memset(in, 1, t->n);
        for (size_t c = 0; c < r->nclosure; c++) in[r->closure[c]] = 1;
    }
    for (size_t i = 0; i < t->n; i++) {
        if (!in[i]) continue;
        memcpy(refs[k].role_id, t->roles[i].id, sizeof refs[k].role_id);
        memcpy(refs[k].role_name, t->roles[i].name, sizeof refs[k].role_name);
        k++;
    }
out:
    pthread_rwlock_unlock(&v->lock);
    free(in);
    if (rc != KG_OK) {
        free(refs);
        return rc;
    }
    if (k) qsort(refs, k, sizeof *refs, ref_cmp);
    *out = refs;
    *nout = k;
    return KG_OK;
}
