/* Unit tests of view.c: role closure and privilege verdicts, token sync across handles,
 * last-access write-behind, rate limits shared between processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "view.h"

#define ADMIN "r-0000000001"
#define PUBLIC "r-0000000002"

struct fx {
    char dir[64], path[96];
    struct store *st;
    struct view *v;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/kg-view-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/kg.db", f->dir);
    if (store_open(f->path, &f->st) != KG_OK || view_new(f->st, &f->v) != KG_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    view_free(f->v);
    store_free(f->st);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

static void role(struct fx *f, const char *id, const char *name, const char *granted)
{
    struct kg_role r;
    memset(&r, 0, sizeof r);
    strcpy(r.role_id, id);
    strcpy(r.role_name, name);
    if (granted) {
        strcpy(r.granted[0], granted);
        r.ngranted = 1;
    }
    assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
}

static void priv(struct fx *f, const char *role_id, int kind, const char *name)
{
    struct kg_privilege p;
    memset(&p, 0, sizeof p);
    strcpy(p.role_id, role_id);
    p.kind = kind;
    strcpy(p.name, name);
    assert_int_equal(store_privilege_grant(f->st, &p, 1, NULL), KG_OK);
}

static int allows(struct fx *f, const char *holder, const char *p)
{
    kg_role_id h;
    strcpy(h, holder);
    return view_allows(f->v, &h, 1, p);
}

static int holds(struct fx *f, const char *holder, const char *target)
{
    kg_role_id h;
    strcpy(h, holder);
    return view_holds(f->v, &h, 1, target);
}

static void test_privileges(void **state)
{
    struct fx *f = *state;
    role(f, "r-0000000010", "base", NULL);
    role(f, "r-0000000011", "mid", "r-0000000010");
    role(f, "r-0000000012", "top", "r-0000000011");
    priv(f, "r-0000000010", KG_ALLOW, "orders.read");
    priv(f, PUBLIC, KG_ALLOW, "status.read");
    priv(f, "r-0000000011", KG_ALLOW, "ManageSecurity");
    assert_int_equal(view_sync(f->v), KG_OK);

    assert_true(allows(f, "r-0000000012", "orders.read"));     /* two grants down */
    assert_true(allows(f, "r-0000000012", "status.read"));     /* public, implicitly */
    assert_true(allows(f, "r-0000000012", "CreateRole"));      /* implied by ManageSecurity */
    assert_false(allows(f, "r-0000000010", "ManageSecurity")); /* grants flow one way */
    assert_false(allows(f, "r-0000000012", "orders.write"));
    assert_true(allows(f, ADMIN, "anything.at.all"));

    priv(f, "r-0000000010", KG_DENY, "CreateRole"); /* a deny anywhere in the set wins */
    assert_int_equal(view_sync(f->v), KG_OK);
    assert_false(allows(f, "r-0000000012", "CreateRole"));
    assert_true(allows(f, "r-0000000012", "ManageSecurity"));

    assert_true(holds(f, "r-0000000012", "r-0000000010"));
    assert_true(holds(f, "r-0000000012", PUBLIC));
    assert_false(holds(f, "r-0000000010", "r-0000000012"));
    assert_false(holds(f, "r-0000000012", ADMIN));
    assert_true(holds(f, ADMIN, "r-0000000012")); /* accountadmin holds every role */

    char name[KG_ROLE_NAME_MAX + 1];
    assert_int_equal(view_role_name(f->v, "r-0000000011", name), KG_OK);
    assert_string_equal(name, "mid");
    assert_int_equal(view_role_name(f->v, "r-0000000099", name), KG_NOTFOUND);
}

/* Every combination of Allow and Deny of ManageSecurity, CreateRole and CreateUser across an
 * active role set, checked against the rule written out here on its own: a privilege is held
 * when some role allows it and none denies it, and ManageSecurity, when held, implies
 * CreateRole and CreateUser unless those are denied.  Each of the six grants (privilege x
 * kind) lives on a role of its own, R_k; a grant is absent, on a holder of its own (a user's
 * second role), or reached through a role C_s granted the R_k of the subset s; public holds
 * none, an Allow or a Deny of each privilege.  27 x 3^6 sets, 3 verdicts each. */
static const char *const combo_privs[3] = {"ManageSecurity", "CreateRole", "CreateUser"};

static void combo_role_id(char *out, int kind, int n) /* kind 1: R_n, kind 2: C_n */
{
    snprintf(out, sizeof(kg_role_id), "r-%u%09u", (unsigned)kind % 10u, (unsigned)n % 1000000000u);
}

static void public_set(struct fx *f, int state) /* state: base-3 digit per privilege */
{
    for (int p = 0; p < 3; p++, state /= 3) {
        struct kg_privilege g;
        memset(&g, 0, sizeof g);
        strcpy(g.role_id, PUBLIC);
        strcpy(g.name, combo_privs[p]);
        for (int kind = KG_ALLOW; kind <= KG_DENY; kind++) {
            g.kind = kind;
            assert_int_equal(store_privilege_revoke(f->st, &g, 0, NULL, NULL), KG_OK);
        }
        if (state % 3) {
            g.kind = state % 3 == 1 ? KG_ALLOW : KG_DENY;
            assert_int_equal(store_privilege_grant(f->st, &g, 1, NULL), KG_OK);
        }
    }
}

static void test_privilege_combinations(void **state)
{
    struct fx *f = *state;
    char id[sizeof(kg_role_id)], name[32];
    assert_int_equal(KG_ALLOW + 1, KG_DENY);
    for (int k = 0; k < 6; k++) { /* grant k: privilege k / 2, Allow when k is even */
        combo_role_id(id, 1, k);
        snprintf(name, sizeof name, "grant_%d", k);
        role(f, id, name, NULL);
        priv(f, id, k % 2 ? KG_DENY : KG_ALLOW, combo_privs[k / 2]);
    }
    for (int s = 0; s < 64; s++) {
        struct kg_role r;
        memset(&r, 0, sizeof r);
        combo_role_id(r.role_id, 2, s);
        snprintf(r.role_name, sizeof r.role_name, "set_%d", s);
        for (int k = 0; k < 6; k++)
            if (s >> k & 1) combo_role_id(r.granted[r.ngranted++], 1, k);
        assert_int_equal(store_role_insert(f->st, &r, NULL), KG_OK);
    }

    long checked = 0;
    for (int pub = 0; pub < 27; pub++) {
        public_set(f, pub);
        assert_int_equal(view_sync(f->v), KG_OK);
        for (int a = 0; a < 729; a++) { /* base-3 digit per grant: absent, holder, via C_s */
            kg_role_id holders[7];
            size_t n = 0;
            int via = 0, allow[3] = {0}, deny[3] = {0};
            for (int k = 0, x = a; k < 6; k++, x /= 3) {
                if (x % 3 == 0) continue;
                if (x % 3 == 1)
                    combo_role_id(holders[n++], 1, k);
                else
                    via |= 1 << k;
                if (k % 2)
                    deny[k / 2] = 1;
                else
                    allow[k / 2] = 1;
            }
            if (via || n == 0) combo_role_id(holders[n++], 2, via);
            for (int p = 0, x = pub; p < 3; p++, x /= 3) {
                if (x % 3 == 1) allow[p] = 1;
                if (x % 3 == 2) deny[p] = 1;
            }
            int ms = allow[0] && !deny[0];
            int want[3] = {ms, !deny[1] && (allow[1] || ms), !deny[2] && (allow[2] || ms)};
            for (int p = 0; p < 3; p++) {
                int got = view_allows(f->v, (const kg_role_id *)holders, n, combo_privs[p]);
                if (got != want[p])
                    fail_msg("%s: got %d, want %d (public state %d, assignment %d)", combo_privs[p],
                             got, want[p], pub, a);
                checked++;
            }
            assert_false(view_allows(f->v, (const kg_role_id *)holders, n, "ViewAuditLog"));
        }
    }
    assert_int_equal(checked, 27 * 729 * 3);

    /* accountadmin in the set still holds all three, whatever is denied */
    kg_role_id both[2];
    strcpy(both[0], ADMIN);
    combo_role_id(both[1], 2, 63);
    for (int p = 0; p < 3; p++)
        assert_true(view_allows(f->v, (const kg_role_id *)both, 2, combo_privs[p]));
}

static void test_tokens_follow_another_process(void **state)
{
    struct fx *f = *state;
    struct store *cli = NULL;
    struct kg_token t;
    struct view_token vt;
    int changed;
    assert_int_equal(store_open(f->path, &cli), KG_OK);
    memset(&t, 0, sizeof t);
    strcpy(t.client_id, "kgc_AAAAAAAAAAAAAAAA");
    strcpy(t.role_id, PUBLIC);
    strcpy(t.created_by, "cli");
    t.created_on = 1000;
    t.nsecrets = 1;
    memset(t.secrets[0].hash, 7, sizeof t.secrets[0].hash);
    assert_int_equal(store_token_insert(cli, &t, NULL), KG_OK);

    assert_int_equal(view_token_get(f->v, t.client_id, &vt), KG_NOTFOUND);
    assert_int_equal(view_sync(f->v), KG_OK);
    assert_int_equal(view_token_get(f->v, t.client_id, &vt), KG_OK);
    assert_int_equal(vt.status, KG_TOKEN_ACTIVE);
    assert_int_equal(vt.nsecrets, 1);
    assert_memory_equal(vt.secrets[0].hash, t.secrets[0].hash, KG_HASH_LEN);

    assert_int_equal(store_token_revoke(cli, t.client_id, 2000, &changed, NULL), KG_OK);
    assert_int_equal(view_sync(f->v), KG_OK);
    assert_int_equal(view_token_get(f->v, t.client_id, &vt), KG_OK);
    assert_int_equal(vt.status, KG_TOKEN_REVOKED);

    /* last access: kept in memory, written behind, coalesced to once a second */
    view_token_touch(f->v, t.client_id, 0, VIEW_NO_COUNT, 5000);
    view_token_touch(f->v, t.client_id, 0, VIEW_NO_COUNT, 5500);
    assert_int_equal(view_token_last_access(f->v, t.client_id), 5000);
    view_token_touch(f->v, t.client_id, 0, VIEW_NO_COUNT, 6000);
    assert_int_equal(view_token_last_access(f->v, t.client_id), 6000);
    assert_int_equal(store_token_get(cli, t.client_id, &t), KG_OK);
    assert_int_equal(t.last_access_on, 0);
    assert_int_equal(view_flush_touches(f->v), KG_OK);
    assert_int_equal(store_token_get(cli, t.client_id, &t), KG_OK);
    assert_int_equal(t.last_access_on, 6000);
    store_free(cli);
}

/* A token's secrets reach the view with their state, follow its changes (an added secret, a
 * rotation, a deletion), and each keeps its own last use, written behind. */
static void test_token_secrets(void **state)
{
    struct fx *f = *state;
    struct kg_token t, got;
    struct view_token vt;
    memset(&t, 0, sizeof t);
    strcpy(t.client_id, "kgc_BBBBBBBBBBBBBBBB");
    strcpy(t.role_id, PUBLIC);
    t.created_on = 1000;
    t.nsecrets = 1;
    memset(t.secrets[0].hash, 1, KG_HASH_LEN);
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    struct kg_secret s = t.secrets[0];
    memset(s.hash, 2, KG_HASH_LEN);
    assert_int_equal(store_secret_add(f->st, t.client_id, &s, 2000, 0, NULL), KG_OK);
    assert_int_equal(view_sync(f->v), KG_OK);
    assert_int_equal(view_token_get(f->v, t.client_id, &vt), KG_OK);
    assert_int_equal(vt.nsecrets, 2);
    assert_int_equal(vt.secrets[1].hash[0], 2);
    assert_true(view_secret_live(&vt, vt.secrets[0].seq, 3000));
    assert_false(view_secret_live(&vt, vt.secrets[1].seq + 1, 3000)); /* no such secret */

    /* each secret's use is its own; the token's last access is the latest */
    assert_int_equal(view_token_touch(f->v, t.client_id, vt.secrets[0].seq, VIEW_NO_COUNT, 5000),
                     1); /* first */
    assert_int_equal(view_token_touch(f->v, t.client_id, vt.secrets[0].seq, VIEW_NO_COUNT, 5000),
                     0);
    assert_int_equal(view_token_touch(f->v, t.client_id, vt.secrets[1].seq, VIEW_NO_COUNT, 7000),
                     1);
    assert_int_equal(view_secret_last_used(f->v, t.client_id, vt.secrets[0].seq), 5000);
    assert_int_equal(view_secret_last_used(f->v, t.client_id, vt.secrets[1].seq), 7000);
    assert_int_equal(view_token_last_access(f->v, t.client_id), 7000);
    assert_int_equal(view_flush_touches(f->v), KG_OK);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_int_equal(got.secrets[0].last_used_on, 5000);
    assert_int_equal(got.secrets[1].last_used_on, 7000);
    assert_int_equal(got.last_access_on, 7000);

    /* within a second of that flush the token's last access does not move, but a use of the
     * other secret is its own and is written */
    assert_int_equal(view_token_touch(f->v, t.client_id, vt.secrets[0].seq, VIEW_NO_COUNT, 7500),
                     0);
    assert_int_equal(view_token_last_access(f->v, t.client_id), 7000);
    assert_int_equal(view_flush_touches(f->v), KG_OK);
    assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
    assert_int_equal(got.secrets[0].last_used_on, 7500);

    /* a rotation at 8000 with no grace: the first two expire; the use known here stays */
    memset(s.hash, 3, KG_HASH_LEN);
    assert_int_equal(store_secret_add(f->st, t.client_id, &s, 8000, 8000, NULL), KG_OK);
    assert_int_equal(view_sync(f->v), KG_OK);
    assert_int_equal(view_token_get(f->v, t.client_id, &vt), KG_OK);
    assert_int_equal(vt.nsecrets, 3);
    assert_false(view_secret_live(&vt, vt.secrets[0].seq, 8000));
    assert_true(view_secret_live(&vt, vt.secrets[2].seq, 8000));
    assert_int_equal(view_secret_last_used(f->v, t.client_id, vt.secrets[1].seq), 7000);

    /* a deletion reaches the view */
    int64_t gone = vt.secrets[0].seq;
    assert_int_equal(store_secret_delete(f->st, t.client_id, gone, 9000, NULL), KG_OK);
    assert_int_equal(view_sync(f->v), KG_OK);
    assert_int_equal(view_token_get(f->v, t.client_id, &vt), KG_OK);
    assert_int_equal(vt.nsecrets, 2);
    assert_false(view_secret_live(&vt, gone, 9000));
    assert_int_equal(view_secret_last_used(f->v, t.client_id, gone), 0);
}

static void test_many_tokens(void **state)
{
    struct fx *f = *state;
    struct kg_token t;
    struct view_token vt;
    memset(&t, 0, sizeof t);
    strcpy(t.role_id, PUBLIC);
    strcpy(t.created_by, "test");
    t.nsecrets = 1;                  /* a token has a secret: its hash is all zero here */
    for (int i = 0; i < 3000; i++) { /* forces the table to grow twice */
        snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", i);
        t.created_on = i + 1;
        assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    }
    assert_int_equal(view_sync(f->v), KG_OK);
    for (int i = 0; i < 3000; i++) {
        snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", i);
        assert_int_equal(view_token_get(f->v, t.client_id, &vt), KG_OK);
    }
    assert_int_equal(view_token_get(f->v, "kgc_9999999999999999", &vt), KG_NOTFOUND);
}

/* A view opened on a store that already holds many tokens (the first load appends them all,
 * then indexes them once): every one is found with its own state, and later changes (a
 * revocation, new tokens) still reach it. */
static void test_first_load_then_changes(void **state)
{
    struct fx *f = *state;
    struct kg_token t;
    struct view_token vt;
    struct view *v2 = NULL;
    enum { N = 5000 };
    memset(&t, 0, sizeof t);
    strcpy(t.role_id, PUBLIC);
    strcpy(t.created_by, "test");
    t.nsecrets = 1; /* a token has a secret: its hash is all zero here */
    for (int i = 0; i < N; i++) {
        snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", i);
        t.created_on = i + 1;
        t.expires_on = i % 2 ? 0 : 1000000 + i; /* a per-token value to check */
        assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    }
    assert_int_equal(view_new(f->st, &v2), KG_OK);
    for (int i = 0; i < N; i++) {
        snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", i);
        assert_int_equal(view_token_get(v2, t.client_id, &vt), KG_OK);
        assert_int_equal(vt.status, KG_TOKEN_ACTIVE);
        assert_int_equal(vt.expires_on, i % 2 ? 0 : 1000000 + i);
    }
    assert_int_equal(view_token_get(v2, "kgc_9999999999999999", &vt), KG_NOTFOUND);

    int changed = 0;
    assert_int_equal(store_token_revoke(f->st, "kgc_0000000000000007", 5, &changed, NULL), KG_OK);
    snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", N);
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    assert_int_equal(view_sync(v2), KG_OK);
    assert_int_equal(view_token_get(v2, "kgc_0000000000000007", &vt), KG_OK);
    assert_int_equal(vt.status, KG_TOKEN_REVOKED);
    assert_int_equal(view_token_get(v2, t.client_id, &vt), KG_OK);
    assert_int_equal(view_token_get(v2, "kgc_0000000000000008", &vt), KG_OK);
    assert_int_equal(vt.status, KG_TOKEN_ACTIVE);
    view_free(v2);
}

/* The store's first load as it reads it, delivered backwards: the tokens newest first, then
 * the secrets newest first (its contract sets no order within each stream). */
static const struct store_ops *real_ops;
struct load_rows {
    struct kg_token *toks;
    size_t ntoks;
    struct load_secret {
        char client_id[KG_CLIENT_ID_LEN + 1];
        struct kg_secret s;
    } * secs;
    size_t nsecs;
};

static kg_err grab_token(void *arg, const struct kg_token *t)
{
    struct load_rows *r = arg;
    struct kg_token *more = realloc(r->toks, (r->ntoks + 1) * sizeof *more);
    if (!more) return KG_ENOMEM;
    r->toks = more;
    r->toks[r->ntoks++] = *t;
    return KG_OK;
}

static kg_err grab_secret(void *arg, const char *client_id, const struct kg_secret *s)
{
    struct load_rows *r = arg;
    struct load_secret *more = realloc(r->secs, (r->nsecs + 1) * sizeof *more);
    if (!more) return KG_ENOMEM;
    r->secs = more;
    snprintf(r->secs[r->nsecs].client_id, sizeof r->secs[0].client_id, "%s", client_id);
    r->secs[r->nsecs++].s = *s;
    return KG_OK;
}

static kg_err load_backwards(struct store *st, store_token_fn token_fn, store_secret_fn secret_fn,
                             void *arg)
{
    struct load_rows r = {0};
    kg_err rc = real_ops->token_load(st, grab_token, grab_secret, &r);
    for (size_t i = r.ntoks; rc == KG_OK && i-- > 0;)
        rc = token_fn(arg, &r.toks[i]);
    for (size_t i = r.nsecs; rc == KG_OK && i-- > 0;)
        rc = secret_fn(arg, r.secs[i].client_id, &r.secs[i].s);
    free(r.toks);
    free(r.secs);
    return rc;
}

/* A first load whatever the order of the rows within each of its streams (the store may read
 * each table in parts, two at a time): a token whose secrets come out of order gets them in seq
 * order, each with its own status, as the store has them; and every token is there once.
 * Loaded as the store reads it, then backwards. */
static void test_first_load_secrets_in_order(void **state)
{
    struct fx *f = *state;
    struct kg_token t, got;
    struct kg_secret sec;
    struct view_token vt;
    struct view *v2 = NULL;
    enum { N = 600 };
    memset(&t, 0, sizeof t);
    strcpy(t.role_id, PUBLIC);
    strcpy(t.created_by, "test");
    t.nsecrets = 1;
    for (int i = 0; i < N; i++) {
        snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", i);
        t.created_on = i + 1;
        memset(t.secrets[0].hash, i % 251, sizeof t.secrets[0].hash);
        assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    }
    /* every third token gets three secrets more, made after every first one (the upper half of
     * the secrets); the second of them revoked */
    for (int i = 0; i < N; i += 3) {
        snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", i);
        for (int k = 1; k <= 3; k++) {
            memset(&sec, 0, sizeof sec);
            memset(sec.hash, (i * 4 + k) % 256, sizeof sec.hash);
            memcpy(sec.prefix, "kgs_0000", sizeof "kgs_0000");
            sec.prefix[7] = (char)('0' + k);
            sec.created_on = 5000 + i;
            assert_int_equal(store_secret_add(f->st, t.client_id, &sec, 5000 + i, 0, NULL), KG_OK);
        }
        assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
        assert_int_equal(got.nsecrets, 4);
        int changed = 0;
        assert_int_equal(
            store_secret_revoke(f->st, t.client_id, got.secrets[2].seq, 6000, &changed, NULL),
            KG_OK);
        assert_int_equal(changed, 1);
    }
    struct store_ops backwards = *f->st->ops;
    backwards.token_load = load_backwards;
    real_ops = f->st->ops;
    for (int pass = 0; pass < 2; pass++) {
        if (pass) f->st->ops = &backwards;
        assert_int_equal(view_new(f->st, &v2), KG_OK);
        f->st->ops = real_ops;
        size_t active = 0, revoked = 0;
        view_token_counts(v2, &active, &revoked);
        assert_int_equal(active, N);
        assert_int_equal(revoked, 0);
        for (int i = 0; i < N; i++) {
            snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", i);
            assert_int_equal(store_token_get(f->st, t.client_id, &got), KG_OK);
            assert_int_equal(view_token_get(v2, t.client_id, &vt), KG_OK);
            assert_int_equal(vt.nsecrets, i % 3 ? 1 : 4);
            assert_int_equal(vt.nsecrets, got.nsecrets);
            for (size_t k = 0; k < vt.nsecrets; k++) {
                assert_int_equal(vt.secrets[k].seq, got.secrets[k].seq);
                if (k) assert_true(vt.secrets[k].seq > vt.secrets[k - 1].seq);
                assert_memory_equal(vt.secrets[k].hash, got.secrets[k].hash, KG_HASH_LEN);
                assert_int_equal(vt.secrets[k].status, got.secrets[k].status);
                assert_int_equal(vt.secrets[k].status,
                                 k == 2 ? KG_SECRET_REVOKED : KG_SECRET_ACTIVE);
            }
        }
        view_free(v2);
        v2 = NULL;
    }
}

/* A first load of N_MADE_UP tokens made up (no database), more than view.c's slots fill with
 * one thread: each token and its secret with values of its own. */
enum { N_MADE_UP = 70000 };

static kg_err load_made_up(struct store *st, store_token_fn token_fn, store_secret_fn secret_fn,
                           void *arg)
{
    struct kg_token *t = calloc(1, sizeof *t);
    struct kg_secret s;
    kg_err rc = t ? KG_OK : KG_ENOMEM;
    (void)st;
    for (int i = 0; rc == KG_OK && i < N_MADE_UP; i++) {
        snprintf(t->client_id, sizeof t->client_id, "kgc_%016d", i);
        strcpy(t->role_id, PUBLIC);
        t->status = KG_TOKEN_ACTIVE;
        t->expires_on = 1000000 + i;
        rc = token_fn(arg, t);
    }
    for (int i = 0; rc == KG_OK && i < N_MADE_UP; i++) {
        snprintf(t->client_id, sizeof t->client_id, "kgc_%016d", i);
        memset(&s, 0, sizeof s);
        s.seq = i + 1;
        memset(s.hash, i % 251, sizeof s.hash);
        s.status = KG_SECRET_ACTIVE;
        rc = secret_fn(arg, t->client_id, &s);
    }
    free(t);
    return rc;
}

/* A first load of more tokens than one thread indexes: every one is found, with its own
 * values, and an id not loaded is not. */
static void test_first_load_many_indexed(void **state)
{
    struct fx *f = *state;
    struct store_ops made_up = *f->st->ops;
    const struct store_ops *real = f->st->ops;
    struct view *v2 = NULL;
    struct view_token vt;
    char id[KG_CLIENT_ID_LEN + 1];
    size_t active = 0, revoked = 0;

    made_up.token_load = load_made_up;
    f->st->ops = &made_up;
    assert_int_equal(view_new(f->st, &v2), KG_OK);
    f->st->ops = real;
    view_token_counts(v2, &active, &revoked);
    assert_int_equal(active, N_MADE_UP);
    for (int i = 0; i < N_MADE_UP; i++) {
        snprintf(id, sizeof id, "kgc_%016d", i);
        assert_int_equal(view_token_get(v2, id, &vt), KG_OK);
        assert_int_equal(vt.expires_on, 1000000 + i);
        assert_int_equal(vt.nsecrets, 1);
        assert_int_equal(vt.secrets[0].seq, i + 1);
        assert_int_equal(vt.secrets[0].hash[0], i % 251);
    }
    snprintf(id, sizeof id, "kgc_%016d", N_MADE_UP);
    assert_int_equal(view_token_get(v2, id, &vt), KG_NOTFOUND);
    view_free(v2);
}

/* A rate limit is shared by the processes sharing a store: what one admitted is charged to the
 * other's bucket at its next usage flush, whether or not they count usage. */
static void shared_limit(struct fx *f, int counting)
{
    struct store *st2 = NULL;
    struct view *v2 = NULL;
    struct kg_token t;
    struct view_rate rl;
    const int64_t now = 1700000000000;
    memset(&t, 0, sizeof t);
    strcpy(t.client_id, "kgc_RRRRRRRRRRRRRRRR");
    strcpy(t.role_id, PUBLIC);
    strcpy(t.created_by, "cli");
    t.created_on = 1000;
    t.rate_requests = 4;
    t.rate_period_s = 3600;
    t.nsecrets = 1;
    memset(t.secrets[0].hash, 9, sizeof t.secrets[0].hash);
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    assert_int_equal(store_open(f->path, &st2), KG_OK);
    assert_int_equal(view_new(st2, &v2), KG_OK);
    assert_int_equal(view_sync(f->v), KG_OK);
    view_set_counting(f->v, counting);
    view_set_counting(v2, counting);

    for (int i = 0; i < 3; i++) {
        assert_int_equal(view_token_admit(f->v, t.client_id, "127.0.0.1", VIEW_GATE, now + i, &rl),
                         VIEW_ADMITTED);
        assert_int_equal(rl.verdict.remaining, 3 - i);
        if (counting) view_token_count(f->v, t.client_id, KG_USE_GATE_ALLOWED);
    }
    assert_int_equal(view_flush_usage(f->v, now + 10), KG_OK);
    assert_int_equal(view_flush_usage(v2, now + 20), KG_OK);
    /* the other process has room for the fourth only */
    assert_int_equal(view_token_admit(v2, t.client_id, "127.0.0.1", VIEW_GATE, now + 30, &rl),
                     VIEW_ADMITTED);
    assert_int_equal(rl.verdict.remaining, 0);
    assert_int_equal(view_token_admit(v2, t.client_id, "127.0.0.1", VIEW_GATE, now + 31, &rl),
                     VIEW_REFUSED_RATE);
    if (counting) view_token_count(v2, t.client_id, KG_USE_GATE_ALLOWED);
    assert_int_equal(view_flush_usage(v2, now + 40), KG_OK);
    assert_int_equal(view_flush_usage(f->v, now + 50), KG_OK);
    assert_int_equal(view_token_admit(f->v, t.client_id, "127.0.0.1", VIEW_GATE, now + 60, &rl),
                     VIEW_REFUSED_RATE);
    view_free(v2);
    store_free(st2);
}

static void test_shared_limit_counting(void **state)
{
    shared_limit(*state, 1);
}

static void test_shared_limit_not_counting(void **state)
{
    shared_limit(*state, 0);
}

/* A token with usage controls, seen by two views of one store (two nodes): allowed ranges hold
 * for IPv4 and IPv6 (an IPv4-mapped peer as IPv4); the rate limit is one bucket shared through
 * the store; counts are flushed as hourly rows, each node's added to the other's. */
static void test_usage_controls(void **state)
{
    struct fx *f = *state;
    struct view *v2 = NULL;
    struct view_rate rl;
    struct kg_token t;
    struct kg_usage *rows = NULL;
    size_t n = 0;
    const int64_t now = 1800000000000LL, hour = now - now % 3600000;
    memset(&t, 0, sizeof t);
    strcpy(t.client_id, "kgc_CCCCCCCCCCCCCCCC");
    strcpy(t.role_id, PUBLIC);
    t.created_on = 1000;
    t.nsecrets = 1;
    t.rate_requests = 10;
    t.rate_period_s = 3600;
    strcpy(t.cidrs, "10.0.0.0/8,2001:db8::/32");
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    assert_int_equal(view_sync(f->v), KG_OK);
    assert_int_equal(view_new(f->st, &v2), KG_OK);

    assert_int_equal(view_token_admit(f->v, t.client_id, "10.1.2.3", VIEW_EXCHANGE, now, &rl),
                     VIEW_ADMITTED);
    assert_int_equal(rl.requests, 0); /* rate not asked */
    assert_int_equal(
        view_token_admit(f->v, t.client_id, "::ffff:10.9.9.9", VIEW_EXCHANGE, now, &rl),
        VIEW_ADMITTED);
    assert_int_equal(view_token_admit(f->v, t.client_id, "2001:db8:5::1", VIEW_EXCHANGE, now, &rl),
                     VIEW_ADMITTED);
    assert_int_equal(view_token_admit(f->v, t.client_id, "11.0.0.1", VIEW_EXCHANGE, now, &rl),
                     VIEW_REFUSED_ADDRESS);
    assert_int_equal(rl.note, 1); /* the first refusal in a minute is worth an entry */
    assert_int_equal(view_token_admit(f->v, t.client_id, "2001:db9::1", VIEW_EXCHANGE, now, &rl),
                     VIEW_REFUSED_ADDRESS);
    assert_int_equal(rl.note, 0);
    assert_int_equal(view_token_admit(f->v, t.client_id, NULL, VIEW_EXCHANGE, now, &rl),
                     VIEW_REFUSED_ADDRESS);

    /* 6 pass on the first node, then its admissions reach the second through the store */
    for (int i = 0; i < 6; i++)
        assert_int_equal(view_token_admit(f->v, t.client_id, "10.0.0.1", VIEW_GATE, now, &rl),
                         VIEW_ADMITTED);
    assert_int_equal(rl.requests, 10);
    assert_int_equal(rl.verdict.remaining, 4);
    view_token_touch(f->v, t.client_id, 0, KG_USE_GATE_ALLOWED, now);
    assert_int_equal(view_flush_usage(f->v, now), KG_OK);
    assert_int_equal(view_flush_usage(v2, now), KG_OK); /* learns the 6 */
    int passed = 0;
    for (int i = 0; i < 10; i++)
        passed +=
            view_token_admit(v2, t.client_id, "10.0.0.1", VIEW_GATE, now, &rl) == VIEW_ADMITTED;
    assert_int_equal(passed, 4);
    assert_int_equal(rl.verdict.retry_after, 360); /* one request's share of the hour */
    view_token_touch(v2, t.client_id, 0, KG_USE_GATE_ALLOWED, now);
    assert_int_equal(view_flush_usage(v2, now), KG_OK);

    assert_int_equal(store_usage_read(f->st, t.client_id, 0, INT64_MAX, &rows, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].hour, hour);
    assert_int_equal(rows[0].n[KG_USE_REFUSED_ADDRESS], 3);
    assert_int_equal(rows[0].n[KG_USE_GATE_ALLOWED], 2); /* one from each node, added */
    assert_int_equal(rows[0].n[KG_USE_REFUSED_RATE], 6);
    free(rows);

    view_set_counting(v2, 0); /* counting off: nothing more is counted, limits still hold */
    view_token_touch(v2, t.client_id, 0, KG_USE_API_CALL, now);
    assert_int_equal(view_token_admit(v2, t.client_id, "10.0.0.1", VIEW_GATE, now, &rl),
                     VIEW_REFUSED_RATE);
    assert_int_equal(view_flush_usage(v2, now), KG_OK);
    assert_int_equal(store_usage_read(f->st, t.client_id, 0, INT64_MAX, &rows, &n), KG_OK);
    assert_int_equal(rows[0].n[KG_USE_API_CALL], 0);
    assert_int_equal(rows[0].n[KG_USE_REFUSED_RATE], 6);
    free(rows);

    /* the deployment's default applies to a token without a limit of its own */
    strcpy(t.client_id, "kgc_DDDDDDDDDDDDDDDD");
    t.rate_requests = t.rate_period_s = 0;
    t.cidrs[0] = '\0';
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    assert_int_equal(view_sync(f->v), KG_OK);
    assert_int_equal(view_token_admit(f->v, t.client_id, "192.0.2.1", VIEW_GATE, now, &rl),
                     VIEW_ADMITTED);
    assert_int_equal(rl.requests, 0);
    view_set_default_rate(f->v, 1, 60);
    assert_int_equal(view_token_admit(f->v, t.client_id, "192.0.2.1", VIEW_GATE, now, &rl),
                     VIEW_ADMITTED);
    assert_int_equal(rl.requests, 1);
    assert_int_equal(view_token_admit(f->v, t.client_id, "192.0.2.1", VIEW_GATE, now, &rl),
                     VIEW_REFUSED_RATE);
    view_free(v2);
}

/* A store that refuses usage counts (its table gone for a while) loses none: each flush keeps
 * what it could not write, one row a token and hour, and a later flush writes the sums. */
static void test_usage_kept_while_refused(void **state)
{
    struct fx *f = *state;
    struct kg_token t;
    struct kg_usage *rows = NULL;
    size_t n = 0;
    char cmd[256];
    const int64_t now = 1800000000000LL;
    memset(&t, 0, sizeof t);
    strcpy(t.client_id, "kgc_EEEEEEEEEEEEEEEE");
    strcpy(t.role_id, PUBLIC);
    t.created_on = 1000;
    t.nsecrets = 1;
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    assert_int_equal(view_sync(f->v), KG_OK);
    snprintf(cmd, sizeof cmd, "sqlite3 %s 'ALTER TABLE token_usage RENAME TO away'", f->path);
    assert_int_equal(system(cmd), 0);
    for (int i = 0; i < 3; i++) { /* three flushes refused */
        view_token_touch(f->v, t.client_id, 0, KG_USE_GATE_ALLOWED, now);
        view_token_touch(f->v, t.client_id, 0, KG_USE_API_CALL, now);
        assert_int_not_equal(view_flush_usage(f->v, now), KG_OK);
    }
    snprintf(cmd, sizeof cmd, "sqlite3 %s 'ALTER TABLE away RENAME TO token_usage'", f->path);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(view_flush_usage(f->v, now), KG_OK);
    assert_int_equal(store_usage_read(f->st, t.client_id, 0, INT64_MAX, &rows, &n), KG_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].n[KG_USE_GATE_ALLOWED], 3);
    assert_int_equal(rows[0].n[KG_USE_API_CALL], 3);
    free(rows);
}

/* What a user of the two views would see of token id: the same answer from each. */
static void same_token(struct view *a, struct view *b, const char *id)
{
    struct view_token x, y;
    struct view_rate ra, rb;
    const int64_t now = 1800000000000LL;
    kg_err ea = view_token_get(a, id, &x), eb = view_token_get(b, id, &y);
    assert_int_equal(ea, eb);
    if (ea != KG_OK) return;
    assert_string_equal(x.role_id, y.role_id);
    assert_int_equal(x.status, y.status);
    assert_int_equal(x.expires_on, y.expires_on);
    assert_int_equal(x.nsecrets, y.nsecrets);
    for (size_t i = 0; i < x.nsecrets; i++) {
        assert_int_equal(x.secrets[i].seq, y.secrets[i].seq);
        assert_memory_equal(x.secrets[i].hash, y.secrets[i].hash, KG_HASH_LEN);
        assert_int_equal(x.secrets[i].status, y.secrets[i].status);
        assert_int_equal(x.secrets[i].expires_on, y.secrets[i].expires_on);
    }
    /* its allowed ranges, then its rate limit */
    assert_int_equal(view_token_admit(a, id, "10.1.2.3", VIEW_EXCHANGE, now, &ra),
                     view_token_admit(b, id, "10.1.2.3", VIEW_EXCHANGE, now, &rb));
    assert_int_equal(view_token_admit(a, id, "192.0.2.1", VIEW_EXCHANGE, now, &ra),
                     view_token_admit(b, id, "192.0.2.1", VIEW_EXCHANGE, now, &rb));
    assert_int_equal(view_token_admit(a, id, "10.1.2.3", VIEW_GATE, now, &ra),
                     view_token_admit(b, id, "10.1.2.3", VIEW_GATE, now, &rb));
    assert_int_equal(ra.requests, rb.requests);
    assert_int_equal(ra.period_s, rb.period_s);
}

static void same_tokens(struct view *a, struct view *b, int n)
{
    char id[KG_CLIENT_ID_LEN + 1];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "kgc_%016d", i);
        same_token(a, b, id);
    }
    size_t act[2], rev[2];
    view_token_counts(a, &act[0], &rev[0]);
    view_token_counts(b, &act[1], &rev[1]);
    assert_int_equal(act[0], act[1]);
    assert_int_equal(rev[0], rev[1]);
}

/* A view saved at a stop and read back at the next start answers as a full load does,
 * with what the database got in between; a file saved from other data (another mark in the
 * store), cut short, or missing gives a full load instead. */
static void test_saved_view(void **state)
{
    struct fx *f = *state;
    enum { N = 3000 };
    char saved[128], id[KG_CLIENT_ID_LEN + 1];
    const char *why = "";
    struct view *v2 = NULL, *ref = NULL;
    struct kg_token t;
    struct kg_secret sec;
    int changed = 0;
    snprintf(saved, sizeof saved, "%s/kg.db.view", f->dir);
    role(f, "r-0000000010", "reader", NULL);
    memset(&t, 0, sizeof t);
    memset(&sec, 0, sizeof sec);
    strcpy(t.created_by, "test");
    t.nsecrets = 1;
    for (int i = 0; i < N; i++) {
        snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", i);
        strcpy(t.role_id, i % 3 ? PUBLIC : "r-0000000010");
        t.created_on = i + 1;
        t.expires_on = i % 5 ? 0 : 2000000000000LL + i;
        memcpy(t.secrets[0].hash, &i, sizeof i);
        strcpy(t.cidrs, i % 7 ? "" : "10.0.0.0/8");
        t.rate_requests = i % 11 ? 0 : 100 + i;
        t.rate_period_s = i % 11 ? 0 : 60;
        assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
        for (int k = 0; k < (i % 4 ? 0 : i % 8 ? 1 : 2); k++) {
            memcpy(sec.hash, &i, sizeof i); /* each hash its own */
            sec.hash[KG_HASH_LEN - 1] = (unsigned char)(0xa0 + k);
            sec.expires_on = k ? 0 : 3000000000000LL;
            assert_int_equal(store_secret_add(f->st, t.client_id, &sec, 5000 + i, 0, NULL), KG_OK);
        }
        if (i % 13 == 0)
            assert_int_equal(store_token_revoke(f->st, t.client_id, 6000, &changed, NULL), KG_OK);
    }
    assert_int_equal(view_new(f->st, &v2), KG_OK);
    assert_int_equal(view_save(v2, saved), KG_OK);
    view_free(v2);
    assert_int_equal(access(saved, F_OK), 0);

    /* written while no server ran: a revoke, a secret, a token, a revoked access token */
    assert_int_equal(store_token_revoke(f->st, "kgc_0000000000000001", 7000, &changed, NULL),
                     KG_OK);
    sec.hash[KG_HASH_LEN - 1] = 0xee;
    assert_int_equal(store_secret_add(f->st, "kgc_0000000000000002", &sec, 7000, 0, NULL), KG_OK);
    snprintf(t.client_id, sizeof t.client_id, "kgc_%016d", N);
    const int n = N;
    memcpy(t.secrets[0].hash, &n, sizeof n);
    assert_int_equal(store_token_insert(f->st, &t, NULL), KG_OK);
    assert_int_equal(
        store_jti_revoke(f->st, "0123456789abcdefghijkl", "kgc_0000000000000000", 4000000000LL, 1),
        KG_OK);

    assert_int_equal(view_new_saved(f->st, saved, &v2, &why), KG_OK);
    assert_null(why);
    assert_int_not_equal(access(saved, F_OK), 0); /* read once */
    assert_int_equal(view_new(f->st, &ref), KG_OK);
    same_tokens(v2, ref, N + 1);
    assert_true(view_jti_revoked(v2, "0123456789abcdefghijkl"));
    assert_int_equal(view_token_get(v2, "kgc_0000000000000001", &(struct view_token){0}), KG_OK);

    /* the store holds another mark (a backup from before the save, say): a full load */
    assert_int_equal(view_save(v2, saved), KG_OK);
    assert_int_equal(store_view_mark_set(f->st, "0123456789abcdef"), KG_OK);
    assert_int_equal(store_token_revoke(f->st, "kgc_0000000000000004", 8000, &changed, NULL),
                     KG_OK);
    view_free(v2);
    assert_int_equal(view_new_saved(f->st, saved, &v2, &why), KG_OK);
    assert_non_null(why);
    assert_non_null(strstr(why, "saved from other data"));
    assert_int_equal(view_sync(ref), KG_OK);
    same_tokens(v2, ref, N + 1);

    /* cut short by a byte: a full load */
    assert_int_equal(view_save(v2, saved), KG_OK);
    FILE *fp = fopen(saved, "r+");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long size = ftell(fp);
    fclose(fp);
    assert_int_equal(truncate(saved, size - 1), 0);
    view_free(v2);
    assert_int_equal(view_new_saved(f->st, saved, &v2, &why), KG_OK);
    assert_non_null(why);
    assert_non_null(strstr(why, "cut short"));
    same_tokens(v2, ref, N + 1);

    /* one byte changed in the records (a revoked token's flag could be one): a full load */
    assert_int_equal(view_save(v2, saved), KG_OK);
    fp = fopen(saved, "r+");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, size / 2, SEEK_SET), 0);
    int byte = fgetc(fp);
    assert_int_equal(fseek(fp, size / 2, SEEK_SET), 0);
    assert_int_not_equal(fputc(byte ^ 1, fp), EOF);
    fclose(fp);
    view_free(v2);
    assert_int_equal(view_new_saved(f->st, saved, &v2, &why), KG_OK);
    assert_non_null(why);
    assert_non_null(strstr(why, "damaged"));
    same_tokens(v2, ref, N + 1);

    /* not a saved view at all: a full load */
    fp = fopen(saved, "w");
    assert_non_null(fp);
    assert_true(fputs("not a saved view\n", fp) >= 0);
    fclose(fp);
    view_free(v2);
    assert_int_equal(view_new_saved(f->st, saved, &v2, &why), KG_OK);
    assert_non_null(why);
    assert_non_null(strstr(why, "not one this keygate writes"));
    same_tokens(v2, ref, N + 1);

    /* none at all: a full load, with nothing to say */
    view_free(v2);
    assert_int_equal(view_new_saved(f->st, saved, &v2, &why), KG_OK);
    assert_string_equal(why, "");
    same_tokens(v2, ref, N + 1);
    snprintf(id, sizeof id, "kgc_%016d", N + 1);
    assert_int_equal(view_token_get(v2, id, &(struct view_token){0}), KG_NOTFOUND);
    view_free(v2);
    view_free(ref);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_privileges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_privilege_combinations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_follow_another_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_load_then_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_load_secrets_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_load_many_indexed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_saved_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_limit_counting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shared_limit_not_counting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_controls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_kept_while_refused, setup, teardown),
    };
    return cmocka_run_group_tests_name("view", tests, NULL, NULL);
}
