/*
 * render.h — the JSON shape of keygate's records, shared by the REST API and `--json` CLI
 * output.  Every function returns a new reference (caller owns) or NULL on ENOMEM.
 */
#ifndef KG_RENDER_H
#define KG_RENDER_H

#include <jansson.h>

#include "jsonw.h"
#include "model.h"
#include "view.h"

/* last_access: the freshest last access known (0 = use t's).  secret: NULL except at
 * creation, where it becomes "clientSecret". */
json_t *render_token(const struct kg_token *t, int64_t last_access, const char *secret);
/* The same object, appended to w as text (the token list's fast path; render_token parses
 * this, so the shape is written down once). */
void render_token_json(struct jsonw *w, const struct kg_token *t, int64_t last_access,
                       const char *secret);
/* The same without a secret and without lastAccessOn's value: *hole receives the offset in w
 * where it goes (tcache.h keeps such texts). */
void render_token_json_hole(struct jsonw *w, const struct kg_token *t, size_t *hole);
/* The first moment after now (ms) at which t's rendering changes by itself (a live secret
 * expires: secretCount and secretsExpireOn change); INT64_MAX when none. */
int64_t render_token_until(const struct kg_token *t, int64_t now);
/* Galaxy's Role: g (ng of them) are the role's grants as service_grants() gives them — its
 * directlyGrantedRoles are the direct ones, allRoles all of them. */
json_t *render_role(const struct kg_role *r, const struct kg_role_grant *g, size_t ng);
/* Galaxy's RoleGrant: {roleId, roleName, principal: {type: "Role"|"User", id}, adminOption}
 * (keygate has no admin option on role grants: always false). */
json_t *render_role_grant(const struct kg_role_grant *g);
/* Galaxy's Privilege: {grantKind, entityKind "Account", entityId account_id, grantOption,
 * privilege}. */
json_t *render_privilege(const struct kg_privilege *p, const char *account_id);
/* Galaxy's User, grants as render_role's.  defaultRoleId: the first directly granted role
 * (public when none); scimManaged: false (keygate has no SCIM). */
json_t *render_user(const struct kg_user *u, const struct kg_role_grant *g, size_t ng);
/* A record's syncToken: an opaque string naming its version (kg_role.sync, kg_user.sync). */
json_t *render_sync(int64_t sync);
/* An audit-log entry (GET /auditLog's result items and `keygate audit list --json`). */
json_t *render_audit(const struct kg_audit *e);
/* A time in RFC 3339, or JSON null for 0. */
json_t *render_time(int64_t ms);
/* Sets a token's usage counts n (enum kg_use's order) on object o: "requests" (all of them),
 * "refused" (the refused ones), then each by name ("exchanges", "gateAllowed", "apiCalls",
 * "refusedPrivilege", "refusedRateLimit", "refusedAddress", "refusedExpired"). */
void render_usage_counts(json_t *o, const int64_t n[KG_USE_KINDS]);
/* A token's secret: {clientId, secretId, secretPrefix, description, status (Active, Expired at
 * now, or Revoked), createdOn, lastUsedOn, expiresOn, revokedOn}, and clientSecret when
 * `secret` (its text, shown once) is given.  last_used: the latest use known, if later than the
 * stored one. */
/* A secret's status at now: "Active", "Expired" or "Revoked". */
const char *render_secret_status(const struct kg_secret *s, int64_t now);
json_t *render_secret(const char *client_id, const struct kg_secret *s, int64_t last_used,
                      int64_t now, const char *secret);

#endif
