/*
 * privilege.c — the privilege vocabulary (contracts in privilege.h).
 *
 * Layout: the account privileges, names, implication, grant kinds and revoke actions, the
 * rules.
 */
#include "privilege.h"

#include <string.h>

const char *const privilege_account[PRIVILEGE_ACCOUNT_COUNT] = {
    PRIV_MANAGE_SECURITY, PRIV_CREATE_ROLE, PRIV_CREATE_USER, PRIV_VIEW_AUDIT_LOG, PRIV_INTROSPECT,
};

/* ---- names ------------------------------------------------------------------------------ */

static int account_n(const char *s, size_t n)
{
    for (size_t i = 0; i < PRIVILEGE_ACCOUNT_COUNT; i++)
        if (strlen(privilege_account[i]) == n && memcmp(s, privilege_account[i], n) == 0) return 1;
    return 0;
}

int privilege_is_account(const char *s)
{
    return account_n(s, strnlen(s, KG_PRIV_MAX + 1));
}

int privilege_valid_n(const char *s, size_t n)
{
    if (n == 0 || n > KG_PRIV_MAX || memchr(s, '\0', n)) return 0;
    if (account_n(s, n)) return 1;
    if (!(s[0] >= 'a' && s[0] <= 'z')) return 0;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || strchr("_.:-", s[i])))
            return 0;
    return 1;
}

int privilege_valid(const char *s)
{
    return privilege_valid_n(s, strnlen(s, KG_PRIV_MAX + 1));
}

/* ---- implication ------------------------------------------------------------------------ */

const char *privilege_implied_by(const char *privilege)
{
    if (strcmp(privilege, PRIV_CREATE_ROLE) == 0 || strcmp(privilege, PRIV_CREATE_USER) == 0)
        return PRIV_MANAGE_SECURITY;
    return NULL;
}

/* ---- grant kinds ------------------------------------------------------------------------ */

kg_err privilege_kind_parse(const char *s, int *kind)
{
    if (strcmp(s, PRIV_GRANT_ALLOW) == 0)
        *kind = KG_ALLOW;
    else if (strcmp(s, PRIV_GRANT_DENY) == 0)
        *kind = KG_DENY;
    else
        return KG_INVALID;
    return KG_OK;
}

const char *privilege_kind_name(int kind)
{
    return kind == KG_DENY ? PRIV_GRANT_DENY : PRIV_GRANT_ALLOW;
}

int privilege_revoke_action_parse(const char *s, int *option_only)
{
    if (strcmp(s, PRIV_REVOKE_GRANT_OPTION) == 0)
        *option_only = 1;
    else if (strcmp(s, PRIV_REVOKE_ROLE_GRANT) == 0)
        *option_only = 0;
    else
        return 0;
    return 1;
}

/* ---- the rules -------------------------------------------------------------------------- */

int privilege_held(const char *privilege, privilege_verdict_fn *verdict, const void *set)
{
    unsigned v = verdict(set, privilege);
    if (v & PRIVILEGE_DENIED) return 0;
    if (v & PRIVILEGE_ALLOWED) return 1;
    const char *by = privilege_implied_by(privilege);
    return by && (verdict(set, by) & (PRIVILEGE_ALLOWED | PRIVILEGE_DENIED)) == PRIVILEGE_ALLOWED;
}

int privilege_grantable(const char *privilege, privilege_verdict_fn *verdict, const void *set)
{
    unsigned v = verdict(set, privilege);
    return !(v & PRIVILEGE_DENIED) && (v & PRIVILEGE_ALLOWED) && (v & PRIVILEGE_GRANTABLE);
}
