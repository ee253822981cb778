/*
 * rolegraph.c — the role graph (contracts in rolegraph.h): a table of roles sorted by id, each
 * with its closure (indices of the roles it holds, sorted) and its effective privileges (by
 * name, deny winning) precomputed, so that a check is two binary searches per held role.
 *
 * Layout: the table, building, queries.
 */
#include "rolegraph.h"

#include <stdlib.h>
#include <string.h>

#include "privilege.h"

/* ---- the table ---------------------------------------------------------------------------- */

struct eff_priv {
    const char *name; /* borrowed from the graph's privilege rows */
    int deny;
    int grant; /* some Allow of it carries a grant option */
};

struct grole {
    kg_role_id id;
    char name[KG_ROLE_NAME_MAX + 1];
    size_t *closure; /* indices of the role and all roles granted to it, plus public, sorted */
    size_t nclosure;
    struct eff_priv *eff; /* privileges of the closure, by name; deny wins */
    size_t neff;
    int admin;  /* accountadmin is in the closure */
    int grants; /* some privilege of the closure is held with grant option and not denied */
};

struct rolegraph {
    struct grole *roles; /* sorted by id */
    size_t n;
    struct kg_privilege *privs; /* a copy; owns the privilege names */
    size_t nprivs;
    long pub; /* index of `public`, -1 if absent */
};

void rolegraph_free(struct rolegraph *g)
{
    if (!g) return;
    for (size_t i = 0; i < g->n; i++) {
        free(g->roles[i].closure);
        free(g->roles[i].eff);
    }
    free(g->roles);
    free(g->privs);
    free(g);
}

size_t rolegraph_count(const struct rolegraph *g)
{
    return g->n;
}

static int role_cmp(const void *a, const void *b)
{
    return strcmp(((const struct grole *)a)->id, ((const struct grole *)b)->id);
}

static long role_index(const struct rolegraph *g, const char *id)
{
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(id, g->roles[mid].id);
        if (c == 0) return (long)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
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

/* ---- building ----------------------------------------------------------------------------- */

/* Builds the closure and effective privileges of role i (grants in `adj`; owner[p]: the index
 * of the role holding privilege p, or -1). */
static kg_err role_derive(struct rolegraph *g, size_t i, size_t **adj, const size_t *nadj,
                          const long *owner, unsigned char *seen, size_t *stack)
{
    struct grole *r = &g->roles[i];
    size_t top = 0, n = 0;
    memset(seen, 0, g->n);
    stack[top++] = i;
    if (g->pub >= 0) stack[top++] = (size_t)g->pub;
    if (!(r->closure = malloc(g->n * sizeof *r->closure))) return KG_ENOMEM;
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
    for (size_t p = 0; p < g->nprivs; p++)
        if (owner[p] >= 0 && seen[owner[p]]) ne++;
    if (ne && !(r->eff = malloc(ne * sizeof *r->eff))) return KG_ENOMEM;
    ne = 0;
    for (size_t p = 0; p < g->nprivs; p++)
        if (owner[p] >= 0 && seen[owner[p]])
            r->eff[ne++] =
                (struct eff_priv){g->privs[p].name, g->privs[p].kind == KG_DENY,
                                  g->privs[p].kind == KG_ALLOW && g->privs[p].grant_option};
    if (ne) qsort(r->eff, ne, sizeof *r->eff, eff_cmp);
    size_t w = 0; /* merge duplicates: deny wins; a grant option of any Allow counts */
    for (size_t k = 0; k < ne; k++) {
        if (w && strcmp(r->eff[w - 1].name, r->eff[k].name) == 0) {
            r->eff[w - 1].deny |= r->eff[k].deny;
            r->eff[w - 1].grant |= r->eff[k].grant;
        } else {
            r->eff[w++] = r->eff[k];
        }
    }
    r->neff = w;
    for (size_t k = 0; k < w; k++)
        r->grants |= r->eff[k].grant && !r->eff[k].deny;
    for (size_t k = 0; k < n; k++)
        if (strcmp(g->roles[r->closure[k]].name, KG_ROLE_ACCOUNTADMIN) == 0) r->admin = 1;
    return KG_OK;
}

kg_err rolegraph_new(const struct kg_role *roles, size_t nroles, const struct kg_privilege *privs,
                     size_t nprivs, struct rolegraph **out)
{
    kg_err rc = KG_ENOMEM;
    size_t **adj = NULL, *nadj = NULL, *stack = NULL;
    long *owner = NULL;
    unsigned char *seen = NULL;
    struct rolegraph *g = calloc(1, sizeof *g);
    if (!g) return KG_ENOMEM;
    g->pub = -1;

    if (nprivs) {
        if (!(g->privs = malloc(nprivs * sizeof *g->privs))) goto out;
        memcpy(g->privs, privs, nprivs * sizeof *privs);
        g->nprivs = nprivs;
    }
    if (nroles && !(g->roles = calloc(nroles, sizeof *g->roles))) goto out;
    g->n = nroles;
    for (size_t i = 0; i < nroles; i++) {
        memcpy(g->roles[i].id, roles[i].role_id, sizeof g->roles[i].id);
        memcpy(g->roles[i].name, roles[i].role_name, sizeof g->roles[i].name);
    }
    if (g->n) qsort(g->roles, g->n, sizeof *g->roles, role_cmp);

    if (!(adj = calloc(nroles + 1, sizeof *adj)) || !(nadj = calloc(nroles + 1, sizeof *nadj)) ||
        !(seen = calloc(nroles + 1, 1)) || !(owner = malloc((nprivs + 1) * sizeof *owner)) ||
        !(stack = malloc((nroles * (KG_GRANTS_MAX + 1) + 2) * sizeof *stack)))
        goto out;
    for (size_t i = 0; i < nroles; i++) {
        long x = role_index(g, roles[i].role_id);
        size_t ng = roles[i].ngranted < KG_GRANTS_MAX ? roles[i].ngranted : KG_GRANTS_MAX;
        if (adj[x]) continue; /* a repeated id: the first one counts */
        if (!(adj[x] = malloc((ng + 1) * sizeof **adj))) goto out;
        for (size_t k = 0; k < ng; k++) {
            long to = role_index(g, roles[i].granted[k]);
            if (to >= 0) adj[x][nadj[x]++] = (size_t)to;
        }
    }
    for (size_t p = 0; p < nprivs; p++)
        owner[p] = role_index(g, privs[p].role_id);
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->roles[i].name, KG_ROLE_PUBLIC) == 0) g->pub = (long)i;
    for (size_t i = 0; i < g->n; i++)
        if ((rc = role_derive(g, i, adj, nadj, owner, seen, stack)) != KG_OK) goto out;
    *out = g;
    g = NULL;
    rc = KG_OK;
out:
    if (adj)
        for (size_t i = 0; i < nroles; i++)
            free(adj[i]);
    free(adj);
    free(nadj);
    free(seen);
    free(owner);
    free(stack);
    rolegraph_free(g);
    return rc;
}

/* ---- queries ------------------------------------------------------------------------------ */

const char *rolegraph_role_name(const struct rolegraph *g, const char *role_id)
{
    long x = role_index(g, role_id);
    return x >= 0 ? g->roles[x].name : NULL;
}

/* An active role set, for privilege_held(). */
struct set {
    const struct rolegraph *g;
    const kg_role_id *holders;
    size_t n;
};

/* privilege_verdict_fn: what the holders' roles (then public) say of one privilege.  A set
 * holding accountadmin allows everything, with grant option: no Deny (on public, say) can lock
 * admins out. */
static unsigned set_verdict(const void *arg, const char *privilege)
{
    const struct set *s = arg;
    unsigned v = 0;
    for (size_t i = 0; i <= s->n; i++) { /* the holders, then public */
        long x = i < s->n ? role_index(s->g, s->holders[i]) : s->g->pub;
        if (x < 0) continue;
        const struct grole *r = &s->g->roles[x];
        if (r->admin) return PRIVILEGE_ALLOWED | PRIVILEGE_GRANTABLE;
        struct eff_priv key = {privilege, 0, 0};
        const struct eff_priv *e =
            r->eff ? bsearch(&key, r->eff, r->neff, sizeof *r->eff, eff_cmp) : NULL;
        if (e) v |= e->deny ? PRIVILEGE_DENIED : PRIVILEGE_ALLOWED;
        if (e && e->grant) v |= PRIVILEGE_GRANTABLE;
    }
    return v;
}

int rolegraph_allows(const struct rolegraph *g, const kg_role_id *holders, size_t n,
                     const char *privilege)
{
    struct set s = {g, holders, n};
    return privilege_held(privilege, set_verdict, &s);
}

int rolegraph_grantable(const struct rolegraph *g, const kg_role_id *holders, size_t n,
                        const char *privilege)
{
    struct set s = {g, holders, n};
    return privilege_grantable(privilege, set_verdict, &s);
}

int rolegraph_grants_any(const struct rolegraph *g, const kg_role_id *holders, size_t n)
{
    for (size_t i = 0; i <= n; i++) { /* the holders, then public */
        long x = i < n ? role_index(g, holders[i]) : g->pub;
        if (x >= 0 && (g->roles[x].admin || g->roles[x].grants)) return 1;
    }
    return 0;
}

int rolegraph_holds(const struct rolegraph *g, const kg_role_id *holders, size_t n,
                    const char *role_id)
{
    int held = 0;
    long target = role_index(g, role_id);
    for (size_t i = 0; i <= n && target >= 0 && !held; i++) { /* the holders, then public */
        long x = i < n ? role_index(g, holders[i]) : g->pub;
        if (x < 0) continue;
        const struct grole *r = &g->roles[x];
        size_t t = (size_t)target;
        /* accountadmin holds every role as it holds every privilege */
        held = r->admin || bsearch(&t, r->closure, r->nclosure, sizeof t, size_cmp) != NULL;
    }
    return held;
}

kg_err rolegraph_active(const struct rolegraph *g, const kg_role_id *holders, size_t n,
                        rolegraph_role_fn *each, void *arg)
{
    unsigned char *in = calloc(g->n + 1, 1);
    if (!in) return KG_ENOMEM;
    for (size_t i = 0; i <= n; i++) { /* the holders, then public */
        long x = i < n ? role_index(g, holders[i]) : g->pub;
        if (x < 0) continue;
        const struct grole *r = &g->roles[x];
        if (r->admin) memset(in, 1, g->n);
        for (size_t c = 0; c < r->nclosure; c++)
            in[r->closure[c]] = 1;
    }
    for (size_t i = 0; i < g->n; i++)
        if (in[i]) each(arg, g->roles[i].id, g->roles[i].name);
    free(in);
    return KG_OK;
}
