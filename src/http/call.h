/*
 * call.h — the request core every handler uses: one call (the app, the request, the
 * authenticated caller, the path parameters, the route's error form), the authentication of
 * pane sessions and bearer access tokens, and the `..._or_reply` helpers that keep handlers
 * linear (each sends the 4xx itself and returns non-zero).
 *
 * The router (route.c) fills a call from its table and hands it to the handler; handlers
 * include this header, never the router's.
 */
#ifndef KG_CALL_H
#define KG_CALL_H

#include <jansson.h>

#include "app.h"
#include "http.h"

#define KG_PARAM_MAX 255  /* bytes of one path parameter */
#define KG_FIELD_SHOWN 40 /* bytes of a client's member name shown in an error */

#define KG_SESSION_COOKIE "kg_session"

/* How a route answers errors: the REST API's {"code","message","status"}, or the OAuth form
 * {"error","error_description"} (RFC 6749 §5.2). */
enum call_form { CALL_FORM_API = 0, CALL_FORM_OAUTH };

struct call {
    struct app *app;
    struct http_req *req;
    enum call_form form;              /* the route's error form (its table row) */
    struct actor actor;               /* the authenticated caller (bearer or session routes) */
    char csrf[KG_SESSION_ID_LEN + 1]; /* the session's CSRF token (session callers) */
    char params[2][KG_PARAM_MAX + 1];
    /* /gate: the request it is asked about (borrowed from the request's headers), for the
     * request's log line; NULL until read */
    const char *orig_method, *orig_uri;
    /* the RateLimit headers' values (admit_or_reply), kept until the reply */
    char rate_policy[64], rate_state[64], retry_after[24];
};

/* Sends the error for rc in the route's form (reply_error or reply_oauth_error with the
 * RFC 6749 code for rc); msg is a person-readable sentence. */
void call_error(struct call *c, kg_err rc, const char *msg);
/* 429 with Retry-After for too many failed `what` ("sign-ins"), in the route's form. */
void call_throttled(struct call *c, int64_t wait_s, const char *what);

/* Authenticates the pane session cookie into c->actor (the user and its roles); on writes
 * also checks the X-CSRF-Token header. */
int session_or_reply(struct call *c);
/* Authenticates "Authorization: Bearer <access token>", or else (no Authorization header, a
 * session cookie) a pane session, into c->actor. */
int bearer_or_reply(struct call *c);

/* The usage controls of a request made with an access token of API token client_id on surface
 * s (VIEW_GATE or VIEW_API): from outside the token's allowed ranges, 403 (audited at most once
 * a minute a token and surface, as action "gate" or "api" refused); past its rate limit, 429 with
 * Retry-After; under a rate limit, every answer carries RateLimit-Policy and RateLimit
 * (draft-ietf-httpapi-ratelimit-headers).  Refusals are counted in the token's usage. */
int admit_or_reply(struct call *c, const char *client_id, enum view_surface s);

/* Errors about a request's fields are 400s naming each bad field (reply.h: a BadRequest
 * detail with fieldViolations); a member name is shown at most KG_FIELD_SHOWN bytes long. */

/* Parses the body as a JSON object (Content-Type application/json, no duplicate keys) and
 * refuses members outside `allowed` (NULL-terminated), naming every one.  Caller owns *out. */
int json_body_or_reply(struct call *c, const char *const *allowed, json_t **out);
/* Parses the body as a JSON array, as json_body_or_reply() an object.  Caller owns *out. */
int json_array_body_or_reply(struct call *c, json_t **out);

/* The JSON type of a body member (json_fields_or_reply). */
enum json_kind {
    JSON_KIND_STRING,
    JSON_KIND_BOOL,
    JSON_KIND_INT,
    JSON_KIND_ARRAY,
    JSON_KIND_OBJECT,
    JSON_KIND_ANY, /* accepted and not checked: read-only fields a client sends back */
};
struct json_field {
    const char *name; /* NULL ends a spec */
    enum json_kind kind;
    int required;
};
/* Parses the body as json_body_or_reply does and checks it against spec in one go: every
 * unknown member, every member of the wrong JSON type (null included) and every missing
 * required one is named in one 400.  Caller owns *out. */
int json_fields_or_reply(struct call *c, const struct json_field *spec, json_t **out);
/* Reads string member `key`: absent → *out = NULL (or 400 when required); not a string →
 * 400 naming key.  *out is borrowed from obj. */
int json_string_or_reply(struct call *c, json_t *obj, const char *key, int required,
                         const char **out);
/* Reads [{"roleId":…}, …] at `key` into ids (RoleGrants as a Role or User shows them are taken:
 * roleName and principal are ignored, adminOption must be false); *present = 0 when absent.
 * A 400 names the bad item ("directlyGrantedRoles[2].roleId"). */
int json_role_refs_or_reply(struct call *c, json_t *obj, const char *key,
                            kg_role_id ids[KG_GRANTS_MAX], size_t *n, int *present);
/* Reads ?pageSize= and ?pageToken=: *size in 1..KG_PAGE_MAX (0 or absent: KG_PAGE_DEFAULT),
 * *cursor 0 when absent; a 400 names the parameter. */
int page_or_reply(struct call *c, size_t *size, int64_t *cursor);
/* Answers a refusal from service.h (rc, why).  A KG_INVALID whose sentence begins with a member
 * of the request's body ("roleName must be …") names that member as the bad field; any other is
 * reply_error()'s. */
void call_service_error(struct call *c, kg_err rc, const char *why, json_t *body);
/* The list envelope {"nextPageToken","result"}; cursor 0 = last page.  result stolen. */
void reply_page(struct call *c, json_t *result, int64_t cursor);
/* The opaque nextPageToken for cursor ("" for 0). */
void call_page_token(int64_t cursor, char tok[24]);

#endif
