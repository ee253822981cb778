/*
 * service.h — keygate's operations, shared by the REST API and the CLI.
 *
 * Each call validates its input, applies the no-escalation rules (an actor may only hand out
 * roles in its own active role set, and may only change or delete roles and users whose
 * roles are all in that set; the CLI operator holds every role), writes through the store,
 * and refreshes the view.  On failure it returns the kg_err and points *why at a
 * constant sentence fit to show a person (never containing a secret).
 */
#ifndef KG_SERVICE_H
#define KG_SERVICE_H

#include <jansson.h>

#include "app.h"

/* A token's usage controls as a request gives them (strings borrowed).  set_rate: rate_requests
 * in rate_period_s seconds (both 0: none of its own, the deployment's default applies);
 * set_cidrs: the ranges it may be used from (addresses or CIDR ranges, IPv4 or IPv6; none:
 * any address), kept canonical ("10.1.2.3/8" is 10.0.0.0/8) and each once.  Unset parts keep
 * what the token has (nothing, for a new token). */
struct service_limits {
    int set_rate;
    int64_t rate_requests, rate_period_s;
    int set_cidrs;
    const char *const *cidrs;
    size_t ncidrs;
};

/* Creates an Active token for role_id with the usage controls lim (NULL: none).  Fills *out
 * and secret (shown once; the caller must wipe it).  expires_on 0 = never. */
kg_err service_token_create(struct app *a, const struct actor *who, const char *description,
                            const char *role_id, int64_t expires_on,
                            const struct service_limits *lim, struct kg_token *out,
                            char secret[KG_SECRET_LEN + 1], const char **why);
/* Changes an Active token's description (NULL: kept) and usage controls (lim's parts that are
 * set), audited as apiToken.update; fills *out with the token as it now is.  KG_PRECONDITION
 * for a revoked token.  The change reaches every node's view as a revoke does. */
kg_err service_token_update(struct app *a, const struct actor *who, const char *client_id,
                            const char *description, const struct service_limits *lim,
                            struct kg_token *out, const char **why);
/* Revokes (idempotently) and fills *out with the token as it now is.  Every change below, and
 * the two above, is recorded in the audit log with its outcome (audit.h). */
kg_err service_token_revoke(struct app *a, const struct actor *who, const char *client_id,
                            struct kg_token *out, const char **why);

/* A token's secrets (the same rules as the token's own changes).
 * add: a new secret for the token (description at most KG_SECRET_DESC_MAX bytes; expires_on
 *   0 = never); grace_ms >= 0 makes it a rotation: every older live secret then expires
 *   grace_ms from now at the latest (0: at once).  Fills *out with the token as it now is,
 *   *made with the new secret and secret[] with its text (shown once; the caller wipes it).
 *   KG_PRECONDITION for a revoked token or one with KG_SECRETS_LIVE_MAX live secrets.
 * delete: KG_NOTFOUND for a secretId the token has not; KG_PRECONDITION for its last (live)
 *   secret.  Access tokens issued with a deleted secret stop working at once. */
kg_err service_secret_add(struct app *a, const struct actor *who, const char *client_id,
                          const char *description, int64_t expires_on, int64_t grace_ms,
                          struct kg_token *out, struct kg_secret *made,
                          char secret[KG_SECRET_LEN + 1], const char **why);
kg_err service_secret_delete(struct app *a, const struct actor *who, const char *client_id,
                             const char *secret_id, const char **why);
/* A secret somebody found exposed (a secret scanner, a user), reported from `address`: when it
 * is a real secret of a token, that secret alone is revoked (audited with the address and
 * `where` it was found, which may be NULL, and is recorded only when it is short text) and
 * *revoked = 1; anything else — a look-alike
 * (wrong checksum), an unknown secret, one revoked already — changes nothing.  Store
 * errors only. */
kg_err service_report_leaked(struct app *a, const char *address, const char *secret,
                             const char *where, int *revoked);

/* A token's usage counts over [since, until) (ms): the sums into sum[]; and, when unit > 0 (an
 * hour or a day, in ms), per bucket of unit from since's bucket on into buckets[nb] (NULL: not
 * wanted).  Counts are kept by the hour: a range or bucket that begins inside an hour takes
 * that hour whole.  Store errors. */
#define USAGE_HOUR_MS 3600000LL
#define USAGE_DAY_MS (24 * USAGE_HOUR_MS)
/* A usage question's range made whole: *since moves back to the start of its bucket (its UTC
 * hour when unit is 0, a sum of the range), and *nb is the number of buckets of unit from there
 * to the one holding until - 1 (0 when unit is 0).  KG_INVALID when that is more than an answer
 * holds: 31 days by the hour, 400 by the day. */
kg_err service_usage_range(int64_t *since, int64_t until, int64_t unit, size_t *nb);
kg_err service_usage(struct app *a, const char *client_id, int64_t since, int64_t until,
                     int64_t unit, int64_t sum[KG_USE_KINDS], int64_t (*buckets)[KG_USE_KINDS],
                     size_t nb);

/* Roles.  granted: role ids to grant to the role (each must be held by `who`).
 * create: the new role is owned by who's creating role (service_creating_role);
 *   grant_to_creator also grants it to that role (unless it is a built-in role, which cannot
 *   change), so that a creator can hand out what it made.
 * update: name/description NULL keep theirs; set_granted 0 keeps the granted list.  sync: the
 *   version the caller read (its syncToken): KG_ABORTED when the role changed since; 0 = none
 *   given: the change applies to the role as it is then (a concurrent change is read again
 *   and kept, never overwritten with an older read). */
kg_err service_role_create(struct app *a, const struct actor *who, const char *name,
                           const char *description, const kg_role_id *granted, size_t ngranted,
                           int grant_to_creator, struct kg_role *out, const char **why);
kg_err service_role_update(struct app *a, const struct actor *who, const char *role_id,
                           const char *name, const char *description, const kg_role_id *granted,
                           size_t ngranted, int set_granted, int64_t sync, struct kg_role *out,
                           const char **why);
/* The role who creates with, which owns what it creates: a token's role, a user's first
 * directly granted role; accountadmin for the CLI operator (and an actor holding none). */
const char *service_creating_role(const struct actor *who);
/* The roles a principal (role or user id) holds: the `direct` ones (n), then every role granted
 * to those, breadth first, each role once with the grantee that holds it on the shortest path
 * (the principal for a direct one).  Names are read from the store ("" for a role gone).
 * Caller owns *out (free()). */
kg_err service_grants(struct app *a, const char *principal, const kg_role_id *direct, size_t n,
                      struct kg_role_grant **out, size_t *nout);
/* Galaxy's Role and User objects (render.h) with their grants from service_grants(), as the
 * REST API and the CLI's --json show them; NULL when the grants cannot be read.  Caller owns. */
json_t *service_role_object(struct app *a, const struct kg_role *r);
json_t *service_user_object(struct app *a, const struct kg_user *u);
kg_err service_role_delete(struct app *a, const struct actor *who, const char *role_id,
                           const char **why);

/* A privilege change as the REST API or the CLI asks for it: Galaxy's GrantPrivilege and
 * RevokePrivilege fields (strings borrowed; NULL where not given), with keygate's defaults for
 * what its older body {grantKind, privilege} leaves out. */
struct service_privilege {
    const char *privilege;     /* the name (privilege_valid()) */
    const char *grant_kind;    /* "Allow"|"Deny"; a grant needs one; a revoke: NULL = either */
    int grant_option;          /* grant: with grant option (an Allow only) */
    const char *entity_kind;   /* NULL = "Account", the only kind keygate has */
    const char *entity_id;     /* NULL = this deployment's account ID; no other is accepted */
    const char *revoke_action; /* revoke: "RemoveRoleGrant" (NULL) or "RevokeGrantOption" */
};
/* Grants sp to role_id (KG_PRECONDITION for accountadmin).  Who may: the CLI operator; a
 * holder of ManageSecurity, to a role in its own active role set (any privilege, either kind,
 * with or without grant option); and a holder of sp->privilege with grant option, an Allow of
 * it to any role, unless that role holds a Deny of it.  Else KG_FORBIDDEN. */
kg_err service_privilege_grant(struct app *a, const struct actor *who, const char *role_id,
                               const struct service_privilege *sp, const char **why);
/* Revokes sp from role_id: the privilege of that name whatever its kind (or only of
 * sp->grant_kind), or with RevokeGrantOption only its grant option.  *changed = 0 when there
 * was nothing to take.  Needs ManageSecurity (the route's) and the role in who's active set,
 * as any change of a role: keygate does not record who granted what, so a grant option is
 * no right to take back. */
kg_err service_privilege_revoke(struct app *a, const struct actor *who, const char *role_id,
                                const struct service_privilege *sp, int *changed, const char **why);
/* The privileges of role_id, by name; all: also those of every role in its active role set
 * (the roles granted to it transitively, and public; for accountadmin every role), identical
 * ones once.  Caller owns *out (free()).  Store errors. */
kg_err service_privilege_list(struct app *a, const char *role_id, int all,
                              struct kg_privilege **out, size_t *n);

/* Users.  password NULL: one is generated and copied to generated[] (else generated[0]=0). */
kg_err service_user_create(struct app *a, const struct actor *who, const char *email,
                           const char *password, const kg_role_id *roles, size_t nroles,
                           struct kg_user *out, char generated[33], const char **why);
/* update: sync as service_role_update's. */
kg_err service_user_update(struct app *a, const struct actor *who, const char *user_id,
                           const char *email, const char *password, const kg_role_id *roles,
                           size_t nroles, int set_roles, int64_t sync, struct kg_user *out,
                           const char **why);
/* Sets the password of the user with `email` (password NULL: one is generated and copied to
 * generated[], else generated[0] = 0; the caller must wipe it) and ends the user's pane
 * sessions in this process (a->sessions; none in the CLI).  Audited as user.resetPassword.
 * KG_NOTFOUND when no user has that email. */
kg_err service_user_reset_password(struct app *a, const struct actor *who, const char *email,
                                   const char *password, struct kg_user *out, char generated[33],
                                   const char **why);
kg_err service_user_delete(struct app *a, const struct actor *who, const char *user_id,
                           const char **why);

/* Checks used by the API layer too (a privilege name's: privilege_valid(), privilege.h). */
int service_role_name_valid(const char *s);
int service_email_valid(const char *s);

/* Makes the admin@localhost user (accountadmin) with `password` (borrowed) when there is no
 * user yet; *created = 1 in that case. */
kg_err service_bootstrap(struct app *a, const char *password, int *created);

#endif
