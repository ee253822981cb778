/*
 * privilege.h — the privilege vocabulary: the account privileges keygate checks itself, the
 * names a role may be granted, what implies what, and how Allow and Deny combine.
 *
 * A privilege is a name granted to a role as an Allow or a Deny (a grant kind).  The account
 * privileges below guard keygate's own API; any other valid name is the deployment's own, for
 * the gate's route policy.  An active role set holds a privilege when some role in it allows
 * the privilege and none denies it; ManageSecurity implies CreateRole and CreateUser, but only
 * when ManageSecurity itself is held, and a Deny of the implied privilege still wins.  Which
 * roles make up a set, and accountadmin's "everything", are the role graph's (rolegraph.h).
 *
 * Grant option (Galaxy's grantOption).  An Allow may carry a grant option: a set holding the
 * privilege with it may grant the privilege on (service.h says to whom).  A Deny carries none.
 * The option is on the name granted only: ManageSecurity with grant option is no grant option
 * on CreateRole.  A set that holds every privilege (accountadmin) holds each with it.
 *
 * keygate's privileges are account-level: in Galaxy's words every one is on the entity of
 * kind Account whose id is this deployment's account ID (store_account_id).
 *
 * The names are macros so that a static table (the route table) can use them.
 * Pure functions: no state, no allocation; safe from any thread.
 */
#ifndef KG_PRIVILEGE_H
#define KG_PRIVILEGE_H

#include <stddef.h>

#include "err.h"
#include "model.h"

/* The account privileges. */
#define PRIV_MANAGE_SECURITY "ManageSecurity" /* tokens, roles, privileges, users */
#define PRIV_CREATE_ROLE "CreateRole"         /* implied by ManageSecurity */
#define PRIV_CREATE_USER "CreateUser"         /* implied by ManageSecurity */
#define PRIV_VIEW_AUDIT_LOG "ViewAuditLog"
#define PRIV_INTROSPECT "Introspect" /* a client may call the introspection endpoint */
#define PRIVILEGE_ACCOUNT_COUNT 5

/* The grant kinds' names on the wire (enum kg_grant_kind in model.h). */
#define PRIV_GRANT_ALLOW "Allow"
#define PRIV_GRANT_DENY "Deny"

/* Galaxy's entityKind of an account privilege, the only kind keygate has. */
#define PRIV_ENTITY_ACCOUNT "Account"

/* Galaxy's revokeAction values: drop only the grant option, or the privilege. */
#define PRIV_REVOKE_GRANT_OPTION "RevokeGrantOption"
#define PRIV_REVOKE_ROLE_GRANT "RemoveRoleGrant"

/* The naming rule in a sentence fit to show a person (KG_PRIV_MAX is 64 bytes). */
#define PRIVILEGE_NAME_RULE                                                                        \
    "an account privilege (" PRIV_MANAGE_SECURITY ", " PRIV_CREATE_ROLE ", " PRIV_CREATE_USER      \
    ", " PRIV_VIEW_AUDIT_LOG ", " PRIV_INTROSPECT ") or a name matching [a-z][a-z0-9_.:-]{0,63}"

/* The account privileges, in the order above. */
extern const char *const privilege_account[PRIVILEGE_ACCOUNT_COUNT];

/* 1 when s (NUL-terminated) is one of the account privileges. */
int privilege_is_account(const char *s);

/* 1 when s[0..n) is a name that may be granted: an account privilege, or a custom name
 * [a-z][a-z0-9_.:-]* of at most KG_PRIV_MAX bytes.  A NUL inside the n bytes is refused
 * ("ManageSecurity\0junk" is not ManageSecurity). */
int privilege_valid_n(const char *s, size_t n);
/* The same for a NUL-terminated s. */
int privilege_valid(const char *s);

/* The privilege that implies `privilege` (ManageSecurity for CreateRole and CreateUser), or
 * NULL when none does.  Implication is one step: what implies an implier does not count. */
const char *privilege_implied_by(const char *privilege);

/* Sets *kind (enum kg_grant_kind) from its wire name, "Allow" or "Deny" (case-sensitive).
 * KG_INVALID for anything else, *kind untouched. */
kg_err privilege_kind_parse(const char *s, int *kind);
/* The wire name of kind: "Deny" for KG_DENY, "Allow" otherwise. */
const char *privilege_kind_name(int kind);

/* What a set of roles says of one privilege: some role allows it, some role denies it, both or
 * neither; and PRIVILEGE_GRANTABLE when some role's Allow of it carries a grant option.  A set
 * that holds every privilege (accountadmin) says PRIVILEGE_ALLOWED | PRIVILEGE_GRANTABLE. */
#define PRIVILEGE_ALLOWED 1u
#define PRIVILEGE_DENIED 2u
#define PRIVILEGE_GRANTABLE 4u
typedef unsigned privilege_verdict_fn(const void *set, const char *privilege);

/* The privilege rule, written once: 1 when the set holds `privilege`.  verdict(set, name) is
 * asked about `privilege` and, only when the set is silent on it, about the privilege that
 * implies it.  Held: allowed and not denied; or not denied, and the implier allowed and not
 * denied (a Deny of ManageSecurity takes away what it implies too). */
int privilege_held(const char *privilege, privilege_verdict_fn *verdict, const void *set);

/* 1 when the set holds `privilege` with grant option: some role allows it with one and no
 * role denies it (no implication: the option is on the name granted). */
int privilege_grantable(const char *privilege, privilege_verdict_fn *verdict, const void *set);

/* 1 when s is revokeAction RevokeGrantOption (*option_only = 1) or RemoveRoleGrant (0);
 * 0 for anything else, *option_only untouched. */
int privilege_revoke_action_parse(const char *s, int *option_only);

#endif
