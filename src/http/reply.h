/*
 * reply.h — every response keygate sends, and the one place where a kg_err becomes an answer:
 * a JSON error body or an OAuth error (RFC 6749 §5.2), with the status and names of err.c's
 * table.
 *
 * The REST API's error body is {"code","message","status","details"}: code the HTTP status,
 * message a sentence for people, status the name of err.c's table, and details a list of
 * Google's error details (google.rpc, as Galaxy's API sends them), each with its "@type":
 *   400       BadRequest   {"fieldViolations":[{"field","description"}]}: every bad field (a
 *                          JSON member or a query parameter; "" for the request as a whole)
 *   401, 403  ErrorInfo    {"reason","metadata":{…}}: e.g. MISSING_PRIVILEGE, {"privilege":…}
 *   404, 409  ResourceInfo {"resourceName","description"}: what was not found, or is taken
 *   429       RetryInfo    {"retryDelay":"30s"}
 * and an empty list for any other status.  reply_error() fills the detail from what it has (the
 * message, the request's path); the other reply_*_error() name the field, reason or resource.
 */
#ifndef KG_REPLY_H
#define KG_REPLY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "http.h"
#include "jsonw.h"

/* One bad field of a request, for a 400's BadRequest detail.  Both borrowed. */
struct reply_violation {
    const char *field;       /* a JSON member ("roleName") or query parameter; "" = the request */
    const char *description; /* a sentence saying what is wrong with it */
};

/* Sends body (stolen: the reference is released) as JSON with Cache-Control: no-store. */
void reply_json(struct http_req *req, int status, json_t *body);
/* Sends body (stolen) as JSON that caches may keep for max_age_s seconds. */
void reply_json_public(struct http_req *req, json_t *body, int64_t max_age_s);
/* The same for JSON written as text (a 500 when w ran out of memory); w stays the caller's. */
void reply_json_text(struct http_req *req, int status, const struct jsonw *w);
/* Sends the error body for rc; msg is a person-readable sentence.  Its detail says what the
 * call knows: a 400's BadRequest names the field "" (msg as its description), a 404/409's
 * ResourceInfo the request's path, a 401/403's ErrorInfo the reason UNAUTHENTICATED or
 * PERMISSION_DENIED. */
void reply_error(struct http_req *req, kg_err rc, const char *msg);
/* A 400 INVALID_ARGUMENT for one bad field: description is both the message and the
 * violation's description, so it should name the field ("roleName is required"). */
void reply_field_error(struct http_req *req, const char *field, const char *description);
/* A 400 (rc KG_INVALID or KG_PRECONDITION) naming every one of the n violations. */
void reply_bad_request(struct http_req *req, kg_err rc, const char *msg,
                       const struct reply_violation *v, size_t n);
/* An error (404 NOT_FOUND, 409 ALREADY_EXISTS, …) about the resource `name` ("role
 * name=ops", "/public/api/v1/role/r-0000000042"). */
void reply_resource_error(struct http_req *req, kg_err rc, const char *name, const char *msg);
/* A 401 or 403 with an ErrorInfo: reason (UPPER_SNAKE_CASE, e.g. "MISSING_PRIVILEGE") and
 * metadata, NULL or NULL-terminated key, value pairs ({"privilege", "ManageSecurity", NULL}). */
void reply_reason_error(struct http_req *req, kg_err rc, const char *msg, const char *reason,
                        const char *const *metadata);
/* Sends 401 UNAUTHENTICATED (reason ACCESS_TOKEN_INVALID) with a Bearer challenge; with_error
 * adds error="invalid_token" (reply_error and reply_reason_error add it only when the request
 * carried credentials, per RFC 6750 §3.1). */
void reply_unauthenticated(struct http_req *req, const char *msg, int with_error);
/* Sends {"error","error_description"}; `error` NULL picks the RFC 6749 code for rc. */
void reply_oauth_error(struct http_req *req, kg_err rc, const char *error, const char *desc);
/* 429 with Retry-After: wait_s, for too many failed `what` ("sign-ins"); oauth picks the
 * OAuth error form (the /oauth endpoints) over the API's (with a RetryInfo detail). */
/* 429 past a rate limit, with a RetryInfo of wait_s seconds (the Retry-After header is the
 * caller's, with the RateLimit headers: http_req.also). */
void reply_rate_limited(struct http_req *req, const char *msg, int64_t wait_s);
void reply_throttled(struct http_req *req, int oauth, int64_t wait_s, const char *what);

/* What the error answer sent for req said (its message; an OAuth error's code and
 * description; a 5xx's kg_err name too), for the request's log line; NULL when req got no
 * error answer from here.  Borrowed: valid until the thread's next error answer. */
const char *reply_note(const struct http_req *req);

#endif
