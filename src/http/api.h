/*
 * api.h — handlers of the REST API under /public/api/v1/ (api.c).  Each is reached only
 * through the route table in route.c, which has already authenticated the caller and checked
 * the route's privilege and body limit.
 */
#ifndef KG_API_H
#define KG_API_H

#include "call.h"

void api_health(struct call *c);

void api_token_list(struct call *c);
void api_token_create(struct call *c);
void api_token_get(struct call *c);
void api_token_update(struct call *c);
/* GET …/apiToken/{clientId}/usage and GET …/usage: usage counts (issue 19). */
void api_token_usage(struct call *c);
void api_usage(struct call *c);
void api_token_revoke(struct call *c);
/* A token's secrets: list, add, delete, and a rotation (a new secret; the older ones expire
 * after a grace period: SECRET_GRACE_DEFAULT_S unless the body says, at most
 * SECRET_GRACE_MAX_S). */
#define SECRET_GRACE_DEFAULT_S 86400
#define SECRET_GRACE_MAX_S 2592000
void api_secret_list(struct call *c);
void api_secret_add(struct call *c);
void api_secret_delete(struct call *c);
void api_token_rotate(struct call *c);
/* Secrets reported leaked (unauthenticated; see api.c). */
void api_report_leaked(struct call *c);

void api_role_list(struct call *c);
void api_role_create(struct call *c);
void api_role_get(struct call *c);
void api_role_update(struct call *c);
void api_role_delete(struct call *c);
/* GET /role/{roleId}/rolegrant?type=Direct|All (default Direct): the role's RoleGrants. */
void api_role_grant_list(struct call *c);
/* GET …/privilege?listAllPrivileges=&pageSize=&pageToken=: Galaxy's Privilege items.
 * POST …/privilege:grant and :revoke: Galaxy's GrantPrivilege and RevokePrivilege (service.h). */
void api_privilege_list(struct call *c);
void api_privilege_grant(struct call *c);
void api_privilege_revoke(struct call *c);

/* GET /account: {"accountId"}, to any authenticated caller. */
void api_account_get(struct call *c);

void api_user_list(struct call *c);
/* GET /auditLog?actor=&since=&until=&pageSize=&pageToken=: newest first. */
void api_audit_list(struct call *c);
/* GET /webhook: each configured webhook's delivery state and newest failures (webhook.h). */
void api_webhook_list(struct call *c);
void api_user_create(struct call *c);
void api_user_get(struct call *c);
void api_user_update(struct call *c);
void api_user_delete(struct call *c);

#endif
