/* Unit tests of view.c: role closure and privilege verdicts, token sync across handles,
 * last-access write-behind. */
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

    assert_true(allows(f, "r-0000000012", "orders.read"));   /* two grants down */
    assert_true(allows(f, "r-0000000012", "status.read"));   /* public, implicitly */
    assert_true(allows(f, "r-0000000012", "CreateRole"));    /* implied by ManageSecurity */
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
    memset(t.secret_hash, 7, sizeof t.secret_hash);
    assert_int_equal(store_token_insert(cli, &t, NULL), KG_OK);

    assert_int_equal(view_token_get(f->v, t.client_id, &vt), KG_NOTFOUND);
    assert_int_equal(view_sync(f->v), KG_OK);
    assert_int_equal(view_token_get(f->v, t.client_id, &vt), KG_OK);
    assert_int_equal(vt.status, KG_TOKEN_ACTIVE);
    assert_memory_equal(vt.secret_hash, t.secret_hash, KG_HASH_LEN);

    assert_int_equal(store_token_revoke(cli, t.client_id, 2000, &changed, NULL), KG_OK);
    assert_int_equal(view_sync(f->v), KG_OK);
    assert_int_equal(view_token_get(f->v, t.client_id, &vt), KG_OK);
    assert_int_equal(vt.status, KG_TOKEN_REVOKED);

    /* last access: kept in memory, written behind, coalesced to once a second */
    view_token_touch(f->v, t.client_id, 5000);
    view_token_touch(f->v, t.client_id, 5500);
    assert_int_equal(view_token_last_access(f->v, t.client_id), 5000);
    view_token_touch(f->v, t.client_id, 6000);
    assert_int_equal(view_token_last_access(f->v, t.client_id), 6000);
    assert_int_equal(store_token_get(cli, t.client_id, &t), KG_OK);
    assert_int_equal(t.last_access_on, 0);
    assert_int_equal(view_flush_touches(f->v), KG_OK);
    assert_int_equal(store_token_get(cli, t.client_id, &t), KG_OK);
    assert_int_equal(t.last_access_on, 6000);
    store_free(cli);
}

static void test_many_tokens(void **state)
{
    struct fx *f = *state;
    struct kg_token t;
    struct view_token vt;
    memset(&t, 0, sizeof t);
    strcpy(t.role_id, PUBLIC);
    strcpy(t.created_by, "test");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_privileges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_follow_another_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_load_then_changes, setup, teardown),
    };
    return cmocka_run_group_tests_name("view", tests, NULL, NULL);
}
