/* Unit tests of rolegraph.c: active role sets, closures over grants (cycles included),
 * public, accountadmin, and privilege verdicts, on graphs built in memory (no store). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "privilege.h"
#include "rolegraph.h"

#define ADMIN "r-0000000001"
#define PUBLIC "r-0000000002"

struct rows {
    struct kg_role roles[16];
    size_t nroles;
    struct kg_privilege privs[32];
    size_t nprivs;
};

/* Adds a role granted the roles in `granted` (space-separated ids, or NULL). */
static void role(struct rows *w, const char *id, const char *name, const char *granted)
{
    struct kg_role *r = &w->roles[w->nroles++];
    memset(r, 0, sizeof *r);
    strcpy(r->role_id, id);
    strcpy(r->role_name, name);
    for (const char *p = granted; p && *p;) {
        size_t n = strcspn(p, " ");
        memcpy(r->granted[r->ngranted], p, n);
        r->granted[r->ngranted++][n] = '\0';
        p += n + (p[n] == ' ');
    }
}

static void priv(struct rows *w, const char *role_id, int kind, const char *name)
{
    struct kg_privilege *p = &w->privs[w->nprivs++];
    memset(p, 0, sizeof *p);
    strcpy(p->role_id, role_id);
    p->kind = kind;
    strcpy(p->name, name);
}

/* The rows wiped after building: the graph must keep copies of what it needs. */
static struct rolegraph *build(struct rows *w)
{
    struct rolegraph *g = NULL;
    assert_int_equal(rolegraph_new(w->roles, w->nroles, w->privs, w->nprivs, &g), KG_OK);
    assert_non_null(g);
    memset(w, 0xa5, sizeof *w);
    return g;
}

static int allows(const struct rolegraph *g, const char *holder, const char *p)
{
    kg_role_id h;
    strcpy(h, holder);
    return rolegraph_allows(g, (const kg_role_id *)&h, 1, p);
}

static int holds(const struct rolegraph *g, const char *holder, const char *target)
{
    kg_role_id h;
    strcpy(h, holder);
    return rolegraph_holds(g, (const kg_role_id *)&h, 1, target);
}

/* Active set as "id id id" (role id order). */
struct listing {
    char text[512];
};

static void list_role(void *arg, const char *role_id, const char *role_name)
{
    struct listing *l = arg;
    (void)role_name;
    if (l->text[0]) strcat(l->text, " ");
    strcat(l->text, role_id);
}

static const char *active(const struct rolegraph *g, const kg_role_id *holders, size_t n,
                          struct listing *l)
{
    l->text[0] = '\0';
    assert_int_equal(rolegraph_active(g, holders, n, list_role, l), KG_OK);
    return l->text;
}

static void base_rows(struct rows *w)
{
    memset(w, 0, sizeof *w);
    role(w, ADMIN, KG_ROLE_ACCOUNTADMIN, NULL);
    role(w, PUBLIC, KG_ROLE_PUBLIC, NULL);
    role(w, "r-0000000012", "top", "r-0000000011");
    role(w, "r-0000000010", "base", NULL);
    role(w, "r-0000000011", "mid", "r-0000000010 r-0000000099"); /* 99: no such role */
}

static void test_empty(void **state)
{
    (void)state;
    struct rolegraph *g = NULL;
    struct listing l;
    assert_int_equal(rolegraph_new(NULL, 0, NULL, 0, &g), KG_OK);
    assert_int_equal(rolegraph_count(g), 0);
    assert_null(rolegraph_role_name(g, ADMIN));
    assert_false(allows(g, ADMIN, PRIV_MANAGE_SECURITY));
    assert_false(holds(g, ADMIN, ADMIN));
    assert_string_equal(active(g, NULL, 0, &l), "");
    rolegraph_free(g);
    rolegraph_free(NULL);
}

static void test_closure_and_privileges(void **state)
{
    (void)state;
    struct rows w;
    struct listing l;
    base_rows(&w);
    priv(&w, "r-0000000010", KG_ALLOW, "orders.read");
    priv(&w, PUBLIC, KG_ALLOW, "status.read");
    priv(&w, "r-0000000011", KG_ALLOW, PRIV_MANAGE_SECURITY);
    priv(&w, "r-0000000099", KG_ALLOW, "ghost.read"); /* a privilege of no role */
    struct rolegraph *g = build(&w);

    assert_int_equal(rolegraph_count(g), 5);
    assert_string_equal(rolegraph_role_name(g, "r-0000000011"), "mid");
    assert_null(rolegraph_role_name(g, "r-0000000099"));

    assert_true(allows(g, "r-0000000012", "orders.read"));    /* two grants down */
    assert_true(allows(g, "r-0000000012", "status.read"));    /* public, implicitly */
    assert_true(allows(g, "r-0000000012", PRIV_CREATE_ROLE)); /* implied by ManageSecurity */
    assert_true(allows(g, "r-0000000012", PRIV_CREATE_USER));
    assert_false(allows(g, "r-0000000012", PRIV_VIEW_AUDIT_LOG));
    assert_false(allows(g, "r-0000000010", PRIV_MANAGE_SECURITY)); /* grants flow one way */
    assert_false(allows(g, "r-0000000012", "ghost.read"));
    assert_true(allows(g, "r-0000000077", "status.read")); /* unknown holder: public still */
    assert_true(allows(g, ADMIN, "anything.at.all"));

    assert_true(holds(g, "r-0000000012", "r-0000000010"));
    assert_true(holds(g, "r-0000000012", PUBLIC));
    assert_true(holds(g, "r-0000000010", "r-0000000010"));
    assert_false(holds(g, "r-0000000010", "r-0000000012"));
    assert_false(holds(g, "r-0000000012", ADMIN));
    assert_false(holds(g, "r-0000000012", "r-0000000099"));
    assert_true(holds(g, ADMIN, "r-0000000012")); /* accountadmin holds every role */

    kg_role_id h[2] = {"r-0000000011", "r-0000000077"};
    assert_string_equal(active(g, (const kg_role_id *)h, 2, &l),
                        PUBLIC " r-0000000010 r-0000000011");
    assert_string_equal(active(g, NULL, 0, &l), PUBLIC);
    strcpy(h[1], ADMIN);
    assert_string_equal(active(g, (const kg_role_id *)h, 2, &l),
                        ADMIN " " PUBLIC " r-0000000010 r-0000000011 r-0000000012");
    rolegraph_free(g);
}

static void test_deny(void **state)
{
    (void)state;
    struct rows w;
    base_rows(&w);
    priv(&w, "r-0000000011", KG_ALLOW, PRIV_MANAGE_SECURITY);
    priv(&w, "r-0000000010", KG_DENY, PRIV_CREATE_ROLE); /* a deny anywhere in the set wins */
    priv(&w, "r-0000000012", KG_ALLOW, "x.write");
    priv(&w, "r-0000000012", KG_DENY, "x.write"); /* both on one role: deny */
    priv(&w, PUBLIC, KG_DENY, PRIV_VIEW_AUDIT_LOG);
    priv(&w, "r-0000000012", KG_ALLOW, PRIV_VIEW_AUDIT_LOG); /* public's deny still wins */
    role(&w, "r-0000000013", "security", NULL);
    priv(&w, "r-0000000013", KG_ALLOW, PRIV_MANAGE_SECURITY);
    struct rolegraph *g = build(&w);

    assert_false(allows(g, "r-0000000012", PRIV_CREATE_ROLE));
    assert_true(allows(g, "r-0000000012", PRIV_CREATE_USER));
    assert_true(allows(g, "r-0000000012", PRIV_MANAGE_SECURITY));
    assert_false(allows(g, "r-0000000012", "x.write"));
    assert_false(allows(g, "r-0000000012", PRIV_VIEW_AUDIT_LOG));
    assert_true(allows(g, ADMIN, PRIV_VIEW_AUDIT_LOG)); /* no Deny locks accountadmin out */

    /* across holders: a second holder's deny takes away the first one's allow */
    kg_role_id h[2] = {"r-0000000013", "r-0000000010"};
    assert_true(rolegraph_allows(g, (const kg_role_id *)h, 1, PRIV_CREATE_ROLE));
    assert_false(rolegraph_allows(g, (const kg_role_id *)h, 2, PRIV_CREATE_ROLE));
    strcpy(h[1], ADMIN); /* and accountadmin in the set overrides every deny */
    assert_true(rolegraph_allows(g, (const kg_role_id *)h, 2, PRIV_VIEW_AUDIT_LOG));
    rolegraph_free(g);
}

static int grantable(const struct rolegraph *g, const char *holder, const char *p)
{
    kg_role_id h;
    strcpy(h, holder);
    return rolegraph_grantable(g, (const kg_role_id *)&h, 1, p);
}

static int grants_any(const struct rolegraph *g, const char *holder)
{
    kg_role_id h;
    strcpy(h, holder);
    return rolegraph_grants_any(g, (const kg_role_id *)&h, 1);
}

/* Grant options: inherited through grants like the privilege, taken away by a Deny anywhere
 * in the set; accountadmin holds every privilege with grant option. */
static void test_grant_option(void **state)
{
    (void)state;
    struct rows w;
    base_rows(&w);
    priv(&w, "r-0000000011", KG_ALLOW, "x.read");
    w.privs[w.nprivs - 1].grant_option = 1;
    priv(&w, "r-0000000010", KG_ALLOW, "x.read"); /* without: the option of mid still counts */
    priv(&w, "r-0000000010", KG_ALLOW, "y.read");
    w.privs[w.nprivs - 1].grant_option = 1;
    priv(&w, "r-0000000012", KG_DENY, "y.read"); /* top denies it: no grant option for top */
    role(&w, "r-0000000013", "lone", NULL);
    priv(&w, "r-0000000013", KG_ALLOW, "z.read");
    struct rolegraph *g = build(&w);

    assert_true(grantable(g, "r-0000000012", "x.read")); /* top holds mid */
    assert_true(grantable(g, "r-0000000011", "x.read"));
    assert_false(grantable(g, "r-0000000010", "x.read")); /* base: allowed, no option */
    assert_true(allows(g, "r-0000000010", "x.read"));
    assert_true(grantable(g, "r-0000000010", "y.read"));
    assert_false(grantable(g, "r-0000000012", "y.read"));
    assert_false(grantable(g, "r-0000000013", "z.read"));
    assert_true(grantable(g, ADMIN, "anything.at_all"));

    assert_true(grants_any(g, "r-0000000012")); /* x.read */
    assert_true(grants_any(g, "r-0000000010")); /* y.read */
    assert_false(grants_any(g, "r-0000000013"));
    assert_true(grants_any(g, ADMIN));
    rolegraph_free(g);
}

static void test_cycle(void **state)
{
    (void)state;
    struct rows w;
    struct listing l;
    memset(&w, 0, sizeof w);
    role(&w, PUBLIC, KG_ROLE_PUBLIC, "r-0000000020"); /* public granted a role: all hold it */
    role(&w, "r-0000000020", "a", "r-0000000021");
    role(&w, "r-0000000021", "b", "r-0000000022 r-0000000020");
    role(&w, "r-0000000022", "c", "r-0000000020 r-0000000022"); /* and itself */
    role(&w, "r-0000000023", "d", NULL);
    priv(&w, "r-0000000022", KG_ALLOW, "c.read");
    struct rolegraph *g = build(&w);

    kg_role_id h[1] = {"r-0000000023"};
    assert_string_equal(active(g, (const kg_role_id *)h, 1, &l),
                        PUBLIC " r-0000000020 r-0000000021 r-0000000022 r-0000000023");
    assert_true(allows(g, "r-0000000023", "c.read"));
    assert_true(holds(g, "r-0000000022", "r-0000000021"));
    assert_false(holds(g, "r-0000000020", "r-0000000023"));
    assert_false(allows(g, "r-0000000023", PRIV_MANAGE_SECURITY)); /* no accountadmin here */
    rolegraph_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty), cmocka_unit_test(test_closure_and_privileges),
        cmocka_unit_test(test_deny),  cmocka_unit_test(test_grant_option),
        cmocka_unit_test(test_cycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
