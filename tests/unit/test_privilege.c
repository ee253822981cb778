/* Unit tests of privilege.c: the account privilege names, name validity, implication, grant
 * kinds, the Allow/Deny rule, the grant option and revoke actions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "privilege.h"

static void test_account_names(void **state)
{
    (void)state;
    static const char *const want[] = {"ManageSecurity", "CreateRole", "CreateUser", "ViewAuditLog",
                                       "Introspect"};
    assert_int_equal(PRIVILEGE_ACCOUNT_COUNT, 5);
    for (size_t i = 0; i < PRIVILEGE_ACCOUNT_COUNT; i++) {
        assert_string_equal(privilege_account[i], want[i]);
        assert_true(privilege_is_account(want[i]));
        assert_true(privilege_valid(want[i]));
    }
    assert_string_equal(PRIV_MANAGE_SECURITY, "ManageSecurity");
    assert_string_equal(PRIV_CREATE_ROLE, "CreateRole");
    assert_string_equal(PRIV_CREATE_USER, "CreateUser");
    assert_string_equal(PRIV_VIEW_AUDIT_LOG, "ViewAuditLog");
    assert_string_equal(PRIV_INTROSPECT, "Introspect");
    static const char *const not_account[] = {"",
                                              "managesecurity",
                                              "ManageSecurityX",
                                              "ManageSecur",
                                              "Introspect ",
                                              " Introspect",
                                              "orders.read",
                                              "Deny"};
    for (size_t i = 0; i < sizeof not_account / sizeof *not_account; i++)
        assert_false(privilege_is_account(not_account[i]));
    /* the sentence shown when a name is refused, word for word as before */
    assert_string_equal(PRIVILEGE_NAME_RULE,
                        "an account privilege (ManageSecurity, CreateRole, CreateUser, "
                        "ViewAuditLog, Introspect) or a name matching [a-z][a-z0-9_.:-]{0,63}");
}

static void test_valid_names(void **state)
{
    (void)state;
    char longest[KG_PRIV_MAX + 2];
    memset(longest, 'x', KG_PRIV_MAX);
    longest[KG_PRIV_MAX] = '\0';
    static const char *const good[] = {
        "a", "z", "orders.read", "orders:read", "a-b_c.d:e", "x9", "a0123456789", "a..", "a::--__"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!privilege_valid(good[i])) fail_msg("refused \"%s\"", good[i]);
    assert_true(privilege_valid(longest));
    longest[KG_PRIV_MAX] = 'x'; /* 65 bytes */
    longest[KG_PRIV_MAX + 1] = '\0';
    assert_false(privilege_valid(longest));

    static const char *const bad[] = {
        "",           "A",          "Orders",    "1abc", "_x",
        ".x",         ":x",         "-x",        "a b",  "a/b",
        "a*",         "a\t",        "a\xc3\xa9", "aB",   "manageSecurity",
        "CREATEROLE", "Createrole", "Allow",     "a%2F", "a;b"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (privilege_valid(bad[i])) fail_msg("accepted \"%s\"", bad[i]);
}

static void test_valid_bytes(void **state)
{
    (void)state;
    const char with_nul[] = "ManageSecurity\0junk";
    assert_false(privilege_valid_n(with_nul, sizeof with_nul - 1)); /* cut short by a NUL */
    assert_true(privilege_valid_n(with_nul, 14));                   /* exactly the name */
    assert_false(privilege_valid_n(with_nul, 13));                  /* "ManageSecurit" */
    assert_false(privilege_valid_n("a\0", 2));
    assert_true(privilege_valid_n("ab", 1));
    assert_false(privilege_valid_n("ab", 0));
    assert_true(privilege_valid_n("Introspect and more", 10));

    char buf[KG_PRIV_MAX + 8];
    memset(buf, 'q', sizeof buf);
    assert_true(privilege_valid_n(buf, KG_PRIV_MAX));
    assert_false(privilege_valid_n(buf, KG_PRIV_MAX + 1));

    /* the two forms agree on NUL-terminated strings */
    srand(15);
    static const char alphabet[] = "abcxyzMSCR019_.:-/ *\x80";
    for (int k = 0; k < 20000; k++) {
        char s[KG_PRIV_MAX + 4];
        size_t n = (size_t)rand() % (sizeof s);
        for (size_t i = 0; i < n; i++)
            s[i] = alphabet[(size_t)rand() % (sizeof alphabet - 1)];
        s[n] = '\0';
        if (privilege_valid(s) != privilege_valid_n(s, n)) fail_msg("disagree on \"%s\"", s);
    }
}

static void test_implication(void **state)
{
    (void)state;
    assert_string_equal(privilege_implied_by(PRIV_CREATE_ROLE), PRIV_MANAGE_SECURITY);
    assert_string_equal(privilege_implied_by(PRIV_CREATE_USER), PRIV_MANAGE_SECURITY);
    assert_null(privilege_implied_by(PRIV_MANAGE_SECURITY));
    assert_null(privilege_implied_by(PRIV_VIEW_AUDIT_LOG));
    assert_null(privilege_implied_by(PRIV_INTROSPECT));
    assert_null(privilege_implied_by("createrole"));
    assert_null(privilege_implied_by("orders.read"));
    assert_null(privilege_implied_by(""));
}

static void test_grant_kinds(void **state)
{
    (void)state;
    int kind = -1;
    assert_int_equal(privilege_kind_parse("Allow", &kind), KG_OK);
    assert_int_equal(kind, KG_ALLOW);
    assert_int_equal(privilege_kind_parse("Deny", &kind), KG_OK);
    assert_int_equal(kind, KG_DENY);
    static const char *const bad[] = {"", "allow", "deny", "DENY", "Allow ", "Denied", "Grant"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        kind = 7;
        assert_int_equal(privilege_kind_parse(bad[i], &kind), KG_INVALID);
        assert_int_equal(kind, 7); /* untouched */
    }
    assert_string_equal(privilege_kind_name(KG_ALLOW), "Allow");
    assert_string_equal(privilege_kind_name(KG_DENY), "Deny");
    for (int k = KG_ALLOW; k <= KG_DENY; k++) {
        assert_int_equal(privilege_kind_parse(privilege_kind_name(k), &kind), KG_OK);
        assert_int_equal(kind, k);
    }
}

/* A fake role set: a verdict per privilege name, and a log of what was asked. */
struct asked {
    int n;
    const char *last;
};

struct fake {
    const char *names[2];
    unsigned verdicts[2];
    size_t n;
    struct asked *asked;
};

static unsigned fake_verdict(const void *arg, const char *privilege)
{
    const struct fake *f = arg;
    f->asked->n++;
    f->asked->last = privilege;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->names[i], privilege) == 0) return f->verdicts[i];
    return 0;
}

/* Every verdict of a privilege and of ManageSecurity, against the rule written out here on
 * its own: held when allowed and not denied, or, for CreateRole and CreateUser only, when not
 * denied and ManageSecurity is allowed and not denied. */
static void test_rule(void **state)
{
    (void)state;
    static const char *const privs[] = {PRIV_CREATE_ROLE, PRIV_CREATE_USER, PRIV_VIEW_AUDIT_LOG,
                                        PRIV_INTROSPECT, "orders.read"};
    for (size_t p = 0; p < sizeof privs / sizeof *privs; p++) {
        int implied = p < 2;
        for (unsigned self = 0; self < 4; self++) {
            for (unsigned ms = 0; ms < 4; ms++) {
                struct asked a = {0, NULL};
                struct fake f = {{privs[p], PRIV_MANAGE_SECURITY}, {self, ms}, 2, &a};
                int allow = self & PRIVILEGE_ALLOWED, deny = (self & PRIVILEGE_DENIED) != 0;
                int ms_held = ms == PRIVILEGE_ALLOWED;
                int want = !deny && (allow || (implied && ms_held));
                int got = privilege_held(privs[p], fake_verdict, &f);
                if (got != want)
                    fail_msg("%s: self %u, ManageSecurity %u: got %d, want %d", privs[p], self, ms,
                             got, want);
                /* the implier is asked about only when the set is silent on the privilege */
                assert_int_equal(a.n, implied && self == 0 ? 2 : 1);
                if (a.n == 2) assert_string_equal(a.last, PRIV_MANAGE_SECURITY);
            }
        }
    }
    /* ManageSecurity itself: implied by nothing */
    for (unsigned self = 0; self < 4; self++) {
        struct asked a = {0, NULL};
        struct fake f = {{PRIV_MANAGE_SECURITY}, {self}, 1, &a};
        assert_int_equal(privilege_held(PRIV_MANAGE_SECURITY, fake_verdict, &f),
                         self == PRIVILEGE_ALLOWED);
        assert_int_equal(a.n, 1);
    }
    /* implication is one step: CreateRole does not imply anything further */
    struct asked a = {0, NULL};
    struct fake f = {{PRIV_CREATE_ROLE}, {PRIVILEGE_ALLOWED}, 1, &a};
    assert_false(privilege_held(PRIV_CREATE_USER, fake_verdict, &f));
}

/* The grant option: held with it when allowed with it and not denied; no implication. */
static void test_grantable(void **state)
{
    (void)state;
    for (unsigned v = 0; v < 8; v++) {
        struct asked a = {0, NULL};
        struct fake f = {{"orders.read"}, {v}, 1, &a};
        int want = !(v & PRIVILEGE_DENIED) && (v & PRIVILEGE_ALLOWED) && (v & PRIVILEGE_GRANTABLE);
        if (privilege_grantable("orders.read", fake_verdict, &f) != want)
            fail_msg("verdict %u: want %d", v, want);
        assert_int_equal(a.n, 1);
    }
    /* ManageSecurity with grant option: CreateRole is held, but not with grant option */
    struct asked a = {0, NULL};
    struct fake f = {{PRIV_MANAGE_SECURITY}, {PRIVILEGE_ALLOWED | PRIVILEGE_GRANTABLE}, 1, &a};
    assert_true(privilege_held(PRIV_CREATE_ROLE, fake_verdict, &f));
    assert_false(privilege_grantable(PRIV_CREATE_ROLE, fake_verdict, &f));
    assert_true(privilege_grantable(PRIV_MANAGE_SECURITY, fake_verdict, &f));
}

static void test_revoke_actions(void **state)
{
    (void)state;
    int only = 7;
    assert_true(privilege_revoke_action_parse("RevokeGrantOption", &only));
    assert_int_equal(only, 1);
    assert_true(privilege_revoke_action_parse("RemoveRoleGrant", &only));
    assert_int_equal(only, 0);
    static const char *const bad[] = {"", "revokegrantoption", "RemoveRoleGrant ", "Remove"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        only = 7;
        assert_false(privilege_revoke_action_parse(bad[i], &only));
        assert_int_equal(only, 7);
    }
    assert_string_equal(PRIV_ENTITY_ACCOUNT, "Account");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_account_names), cmocka_unit_test(test_valid_names),
        cmocka_unit_test(test_valid_bytes),   cmocka_unit_test(test_implication),
        cmocka_unit_test(test_grant_kinds),   cmocka_unit_test(test_rule),
        cmocka_unit_test(test_grantable),     cmocka_unit_test(test_revoke_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
